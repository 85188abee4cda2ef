"""One exception tree for ling_compose: every error carries an exit code and a hint.

The CLI maps these to exit codes in one place (cli.main); library users catch
LingComposeError or a subclass.
"""

from __future__ import annotations

import os
import shlex
import shutil
import sys


class LingComposeError(Exception):
    """Base class. `exit_code` is what the CLI returns; `hint` is the one-line remedy."""

    exit_code: int = 1

    def __init__(self, message: str, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint

    def __str__(self) -> str:
        return self.message


class ConfigError(LingComposeError):
    """A profile, stack file or override is invalid (exit 1)."""

    exit_code = 1


class FitError(ConfigError):
    """The layout cannot start: weights or state do not fit, or the backend cannot run it (exit 1)."""


class FlagError(ConfigError):
    """An argument the pinned backend version would reject (exit 1)."""


class UsageError(LingComposeError):
    """Bad command-line usage (exit 2)."""

    exit_code = 2


class DockerError(LingComposeError):
    """The Docker engine is unreachable or refused an operation (exit 3). runtime/docker_sdk.py
    raises the subclasses below, chosen by the engine's status and message; `reason` is the
    engine's own text."""

    exit_code = 3

    def __init__(self, message: str, hint: str | None = None, reason: str = "") -> None:
        super().__init__(message, hint)
        self.reason = reason


class DockerUnreachable(DockerError):
    """No answer from the daemon: not running, wrong DOCKER_HOST, no permission on the socket."""


class GpuRuntimeMissing(DockerError):
    """The engine has no NVIDIA runtime: GPU requests cannot be honoured."""


class PortTaken(DockerError):
    """A host port the stack publishes is in use."""

    def __init__(self, message: str, hint: str, reason: str, port: int) -> None:
        super().__init__(message, hint, reason)
        self.port = port


class UlimitRefused(DockerError):
    """The daemon may not raise a ulimit the service asks for (its own limit is lower)."""


class ImageUnavailable(DockerError):
    """The image is not present and could not be pulled."""


class BuildFailed(DockerError):
    """Building the image failed."""


class NotFound(DockerError):
    """The container, network, volume or image does not exist (HTTP 404)."""


class Conflict(DockerError):
    """The engine's state conflicts: it exists already, or its removal is under way (HTTP 409)."""


class HealthError(LingComposeError):
    """The stack started but never served, or failed its smoke test (exit 4)."""

    exit_code = 4


class HardwareError(LingComposeError):
    """No GPU could be detected or read (exit 5)."""

    exit_code = 5


EXIT_CODES: dict[int, str] = {
    0: "success",
    1: "invalid configuration, or a layout that cannot fit (nothing was written)",
    2: "command-line usage error",
    3: "Docker engine unreachable or an operation it refused",
    4: "the stack did not become ready, its smoke test failed, or bench found it not serving",
    5: "no GPU detected",
    130: "interrupted (Ctrl-C)",
}


def cli_command() -> str:
    """The command that runs this CLI from the user's shell, for hints that name a command.

    `ling-compose` is only on PATH inside an activated venv; from a fresh clone the working
    form is `.venv/bin/python -m ling_compose`. So name what was run, as the user can type it.
    """
    script = sys.argv[0] if sys.argv else ""
    if os.path.basename(script) == "ling-compose":
        return (
            "ling-compose" if _same_file(shutil.which("ling-compose"), script) else _typed(script)
        )
    for name in ("python", "python3"):
        if _same_file(shutil.which(name), sys.executable):
            return f"{name} -m ling_compose"
    return f"{_typed(sys.executable)} -m ling_compose"


def _same_file(found: str | None, path: str) -> bool:
    # abspath, not realpath: a venv's python is a symlink to the system one, yet not the same.
    return found is not None and os.path.abspath(found) == os.path.abspath(path)


def _typed(path: str) -> str:
    """PATH relative to the working directory when under it (shorter), else absolute."""
    absolute = os.path.abspath(path)
    relative = os.path.relpath(absolute)
    if relative.startswith(".."):
        return shlex.quote(absolute)
    return shlex.quote(relative if os.sep in relative else f".{os.sep}{relative}")
