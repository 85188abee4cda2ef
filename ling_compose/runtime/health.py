"""Readiness wait as a pure policy: injected fetch/clock/sleep and container watch; no I/O of its own."""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Protocol

from ling_compose.errors import HealthError, cli_command
from ling_compose.runtime.base import ContainerState, Progress, SilentProgress
from ling_compose.runtime.http import Response

DEFAULT_TIMEOUT_S = 7200.0  # a first start may download 60-200 GB of weights before loading
DEFAULT_POLL_S = 0.5
LOG_TAIL_LINES = 20
LOG_FETCH_LINES = 400  # fetched, then access-log lines of our own polls are dropped
_POLL_LINE = re.compile(r"GET /(health|v1/models)\b")

Fetch = Callable[[str], Response]


class ContainerWatch(Protocol):
    """The container being waited for, as the policy sees it."""

    def state(self) -> ContainerState | None: ...

    def exits(self) -> tuple[list[int], bool]:
        """Exit codes of the container's deaths since the wait began, and whether one was OOM."""
        ...

    def log_tail(self, lines: int) -> str: ...


@dataclass
class ReadyReport:
    url: str
    model: str | None
    elapsed_s: float
    phases: list[tuple[str, float]] = field(default_factory=list)  # (phase, seconds at entry)


def _model_ids(resp: Response) -> list[str]:
    try:
        data = resp.json()
        return [str(m.get("id")) for m in data.get("data", []) if isinstance(m, dict)]
    except (ValueError, AttributeError):
        return []


def _indent(text: str) -> str:
    # Our own polling fills access logs; those lines would hide the ones that explain a failure.
    lines = [ln for ln in text.rstrip().splitlines() if not _POLL_LINE.search(ln)]
    lines = lines[-LOG_TAIL_LINES:]
    return "\n".join("    " + line for line in lines) if lines else "    (no log output)"


def _phase_of(resp: Response) -> str:
    if resp.status is None:
        return "loading (connection refused)" if resp.refused else "waiting (no answer)"
    if resp.status == 503 and "loading model" in resp.body.lower():
        return "loading (503 Loading model)"
    if resp.status == 503:
        return "warming up (503)"
    return f"not ready (HTTP {resp.status})"


def _died(state: ContainerState, watch: ContainerWatch, elapsed: float, url: str) -> HealthError:
    # A stopped container still shows its exit code; a restarted one had it reset, so ask the
    # engine's event log.
    codes, oom = watch.exits() if state.status not in ("exited", "dead") else ([], False)
    code = codes[-1] if codes else state.exit_code
    oom = oom or state.oom_killed
    if state.status in ("exited", "dead"):
        what = f"exited (exit code {code})"
    else:
        what = f"restarted (restart #{state.restart_count}, last exit code {code})"
    detail = f"; OOM-killed: {'yes' if oom else 'no'}"
    if state.error:
        detail += f"; engine error: {state.error}"
    hint = (
        "the container ran out of memory: lower the context length or concurrency, or use more "
        "GPUs/host RAM"
        if oom
        else f"read the log lines above (`{cli_command()} logs`); fix the cause and run `up` again"
    )
    return HealthError(
        f"container {state.name} {what} {elapsed:.1f}s into the wait for {url}{detail}\n"
        f"  last log lines:\n{_indent(watch.log_tail(LOG_FETCH_LINES))}",
        hint=hint,
    )


def wait_ready(
    url: str,
    model: str | None = None,
    *,
    timeout_s: float = DEFAULT_TIMEOUT_S,
    health_path: str = "/health",
    fetch: Fetch,
    watch: ContainerWatch | None = None,
    progress: Progress | None = None,
    clock: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], None] = time.sleep,
    poll_s: float = DEFAULT_POLL_S,
) -> ReadyReport:
    """Wait until `url` serves: container running (not unhealthy), `health_path` 200, then
    `/v1/models` lists `model`. Fails within one poll when the container exits or restarts."""
    progress = progress or SilentProgress()
    base = url.rstrip("/")
    health_url = base + health_path
    start = clock()
    report = ReadyReport(url=base, model=model, elapsed_s=0.0)
    first_restarts: int | None = None
    last = "no answer yet"
    phase = ""

    def enter(new: str, elapsed: float) -> None:
        nonlocal phase
        if new != phase:
            phase = new
            report.phases.append((new, elapsed))
            progress.line(f"[{elapsed:6.1f}s] {new}: {health_url if 'model' not in new else base}")

    while True:
        elapsed = clock() - start
        running = True
        state: ContainerState | None = None
        if watch is not None:
            state = watch.state()
            if state is None:
                raise HealthError(
                    f"the container disappeared while waiting for {url}",
                    hint="was it removed by `down` or `docker rm`? run `up` again",
                )
            if first_restarts is None:
                first_restarts = state.restart_count
            if state.status in ("exited", "dead", "restarting") or (
                state.restart_count > first_restarts
            ):
                raise _died(state, watch, elapsed, url)
            running = state.status == "running"
            if not running:
                enter(f"starting container ({state.status})", elapsed)
        if running:
            resp = fetch(health_url)
            last = f"{health_url} → {resp.describe()}"
            if resp.status == 200:
                listed: list[str] = []
                if model is not None:
                    models = fetch(base + "/v1/models")
                    listed = _model_ids(models) if models.status == 200 else []
                    last = f"{base}/v1/models → {models.describe()}"
                if model is None or model in listed:
                    if state is not None and state.health == "unhealthy":
                        raise HealthError(
                            f"{url} serves, but Docker's healthcheck reports the container "
                            f"unhealthy: {state.health_log or 'no output'}",
                            hint="the healthcheck command is broken (wrong port or no curl in "
                            "the image?): fix `healthcheck:` and run `up` again",
                        )
                    enter("ready" if model is None else f"ready: model {model!r} listed", elapsed)
                    report.elapsed_s = elapsed
                    return report
                enter(f"health OK, waiting for /v1/models to list model {model!r}", elapsed)
            else:
                enter(_phase_of(resp), elapsed)
        progress.update(f"[{elapsed:6.0f}s] {phase} (timeout {timeout_s:.0f}s)")
        if elapsed >= timeout_s:
            tail = watch.log_tail(LOG_FETCH_LINES) if watch is not None else ""
            raise HealthError(
                f"{url} not ready after {elapsed:.0f}s (timeout {timeout_s:.0f}s); "
                f"phase: {phase}; last answer: {last}"
                + (f"\n  last log lines:\n{_indent(tail)}" if watch is not None else ""),
                hint="a first start downloads the weights: raise --timeout, or check the logs "
                f"(`{cli_command()} logs -f`) for a stuck download or load",
            )
        sleep(poll_s)
