"""Bring-up of a ComposeProject on a container engine: up, down, status, logs, wait_ready, smoke.

Importing this package does not load the docker SDK; the first call that needs an engine does.
"""

from __future__ import annotations

from ling_compose.runtime.api import (
    DownResult,
    ServiceStatus,
    UpResult,
    down,
    logs,
    projects,
    smoke,
    status,
    up,
    wait_ready,
)
from ling_compose.runtime.base import ContainerState, Progress, Runtime, StderrProgress
from ling_compose.runtime.health import ReadyReport
from ling_compose.runtime.smoke import SmokeReport

__all__ = [
    "ContainerState",
    "DownResult",
    "Progress",
    "ReadyReport",
    "Runtime",
    "ServiceStatus",
    "SmokeReport",
    "StderrProgress",
    "UpResult",
    "down",
    "logs",
    "projects",
    "smoke",
    "status",
    "up",
    "wait_ready",
]
