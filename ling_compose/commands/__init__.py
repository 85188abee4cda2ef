"""CLI commands, one module each. Each module exposes `register(subparsers)`, which adds its
subparser and sets `func` (args -> exit code). Order here is the order in `--help`."""

from __future__ import annotations

import argparse
from types import ModuleType
from typing import Protocol


class CommandModule(Protocol):
    def register(self, sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None: ...


COMMAND_MODULES: list[ModuleType] = []
