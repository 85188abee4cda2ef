"""The Runtime seam: what orchestration needs from a container engine, as a Protocol and plain data."""

from __future__ import annotations

import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Protocol

from ling_compose.runtime.spec import ContainerSpec


@dataclass(frozen=True)
class ContainerState:
    """What the engine says about one container (lenient: any field may be unknown)."""

    id: str
    name: str
    service: str
    status: str  # created | running | restarting | exited | dead | paused | removing
    exit_code: int | None = None
    oom_killed: bool = False
    restart_count: int = 0
    health: str | None = None  # starting | healthy | unhealthy | None (no healthcheck)
    health_log: str = ""  # output of the last healthcheck run
    config_hash: str | None = None
    image: str = ""
    labels: dict[str, str] = field(default_factory=dict)
    error: str = ""  # the engine's State.Error (e.g. a start failure)


class Progress(Protocol):
    """Where progress goes (stderr in the CLI). `update` may overwrite the previous line."""

    def line(self, text: str) -> None: ...

    def update(self, text: str) -> None: ...


class StderrProgress:
    """Progress on stderr: lines are rewritten in place on a terminal, printed plainly otherwise,
    and at most every `plain_every_s` seconds for `update` when not a terminal (CI logs)."""

    def __init__(self, plain_every_s: float = 10.0) -> None:
        self._tty = sys.stderr.isatty()
        self._open = False
        self._last_plain = time.monotonic()  # phase lines come first; heartbeats after
        self._every = plain_every_s

    def line(self, text: str) -> None:
        if self._open:
            sys.stderr.write("\n")
            self._open = False
        sys.stderr.write(text + "\n")
        sys.stderr.flush()

    def update(self, text: str) -> None:
        if self._tty:
            sys.stderr.write("\r\033[K" + text)
            sys.stderr.flush()
            self._open = True
            return
        now = time.monotonic()
        if now - self._last_plain >= self._every:
            self._last_plain = now
            self.line(text)


class SilentProgress:
    def line(self, text: str) -> None:
        pass

    def update(self, text: str) -> None:
        pass


class Runtime(Protocol):
    """A container engine. docker_sdk.DockerRuntime is the real one; unit tests use a fake.

    Every method raises ling_compose.errors.DockerError (with a hint) on engine failures."""

    def ensure_network(self, name: str, labels: dict[str, str]) -> bool:
        """Create the network unless it exists; True when created."""
        ...

    def ensure_volume(self, name: str, labels: dict[str, str]) -> bool: ...

    def ensure_image(self, spec: ContainerSpec, progress: Progress) -> None:
        """Build (services with build:) or pull the image when it is not present."""
        ...

    def containers(self, project: str | None = None) -> list[ContainerState]:
        """Containers of a project (all ling_compose projects when None), running or not."""
        ...

    def create(self, spec: ContainerSpec) -> ContainerState: ...

    def start(self, container_id: str) -> None: ...

    def remove(self, container_id: str, timeout_s: int = 10) -> None:
        """Stop (SIGTERM, then SIGKILL after timeout_s) and remove."""
        ...

    def inspect(self, container_id: str) -> ContainerState | None:
        """None when the container no longer exists."""
        ...

    def exits(self, container_id: str, since_epoch: float) -> tuple[list[int], bool]:
        """Exit codes of the container's deaths since `since_epoch`, and whether it was OOM-killed
        (the engine resets State.ExitCode when a restart policy starts it again)."""
        ...

    def logs(self, container_id: str, tail: int = 50) -> str: ...

    def follow_logs(self, container_id: str, tail: int = 50) -> Iterator[str]: ...

    def networks(self, project: str) -> list[str]: ...

    def remove_network(self, name: str) -> None: ...

    def volumes(self, project: str) -> list[str]: ...

    def remove_volume(self, name: str) -> None: ...

    def close(self) -> None:
        """Release the connection to the engine (the runtime is not used afterwards)."""
        ...
