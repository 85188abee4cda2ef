"""CLI commands, one module each. Each module exposes `register(subparsers)`, which adds its
subparser(s) and sets `func` (args -> exit code). Order here is the order in `--help`."""

from __future__ import annotations

from types import ModuleType

from ling_compose.commands import (
    bench,
    catalog_cmds,
    detect,
    doctor,
    recommend,
    render,
    runtime,
    show,
    validate,
)

COMMAND_MODULES: list[ModuleType] = [
    render,
    catalog_cmds,
    show,
    validate,
    recommend,
    detect,
    doctor,
    runtime,
    bench,
]
