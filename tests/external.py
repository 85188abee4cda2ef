"""Tools the tests run for real (Docker Compose v2, the engine): skip locally, fail in CI."""

from __future__ import annotations

import functools
import os
import shutil
import subprocess
from pathlib import Path
from typing import NoReturn

import pytest

COMPOSE_VERSION = "2.40.3"  # what .ci/compose-v2.sh installs
IN_CI = os.environ.get("CI", "").lower() == "true"


def unavailable(reason: str) -> NoReturn:
    """Locally a missing tool skips the test; in CI (CI=true) it fails it, never a skip."""
    if IN_CI:
        pytest.fail(f"CI=true but {reason}", pytrace=False)
    pytest.skip(reason)


@functools.cache
def _compose_version() -> str | None:
    if shutil.which("docker") is None:
        return None
    try:
        out = subprocess.run(
            ["docker", "compose", "version", "--short"], capture_output=True, text=True, timeout=30
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    return out.stdout.strip() if out.returncode == 0 else None


def compose_available() -> bool:
    """Whether Docker Compose v2 answers `docker compose version` (for scripts that only report)."""
    version = _compose_version()
    return version is not None and version.lstrip("v").startswith("2.")


def compose_v2() -> list[str]:
    """The `docker compose` command (Compose v2 as users run it), or skip/fail saying why."""
    if not compose_available():
        unavailable(
            f"Docker Compose v2 not installed (`docker compose version`: "
            f"{_compose_version() or 'none'}); "
            "install it as root with .ci/compose-v2.sh"
        )
    return ["docker", "compose"]


def compose(
    args: list[str],
    *,
    cwd: Path | None = None,
    env: dict[str, str] | None = None,
    timeout: float = 120,
) -> subprocess.CompletedProcess[str]:
    """Run `docker compose ARGS` (Compose v2); the caller checks the exit code."""
    return subprocess.run(
        [*compose_v2(), *args],
        cwd=cwd,
        env={**os.environ, **(env or {})},
        capture_output=True,
        text=True,
        timeout=timeout,
    )


# Where .ci/prometheus.sh unpacks Debian's prometheus package (LING_PROMETHEUS_DIR there too).
PROMETHEUS_DIR = Path(os.environ.get("LING_PROMETHEUS_DIR", "/var/cache/ling-compose/prometheus"))


def prometheus_binary() -> str:
    """A real Prometheus server binary (PATH first, then .ci/prometheus.sh's), or skip/fail."""
    found = shutil.which("prometheus")
    unpacked = PROMETHEUS_DIR / "usr" / "bin" / "prometheus"
    if found is None and os.access(unpacked, os.X_OK):
        found = str(unpacked)
    if found is None:
        unavailable(
            "no prometheus binary (PATH, or "
            f"{unpacked}); unpack Debian's package as root with .ci/prometheus.sh"
        )
    return found
