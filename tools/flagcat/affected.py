"""Which built-in stacks a catalogue change affects: lint their commands against a version."""

from __future__ import annotations

from pathlib import Path

from ling_compose.errors import FlagError
from ling_compose.flags.lint import lint_args
from tools.flagcat.stackfiles import builtin_stack_files, commands


def affected(backend: str, version: str, files: list[Path] | None = None) -> tuple[list[str], int]:
    """(report lines, number of stacks that would break) for `backend` stacks run on `version`."""
    lines: list[str] = []
    broken = 0
    for cmd in commands(files or builtin_stack_files()):
        if cmd.backend != backend:
            continue
        try:
            result = lint_args(backend, version, cmd.args)
        except FlagError as err:
            broken += 1
            lines.append(
                f"BREAKS   {cmd.where} (pinned {cmd.version}): {err.message}"
                + (f" [{err.hint}]" if err.hint else "")
            )
            continue
        if result.args != cmd.args or result.warnings:
            lines.append(
                f"CHANGES  {cmd.where} (pinned {cmd.version}): " + "; ".join(result.warnings)
            )
        else:
            lines.append(f"ok       {cmd.where} (pinned {cmd.version})")
    if not lines:
        lines.append(f"no built-in {backend} stacks found")
    return lines, broken
