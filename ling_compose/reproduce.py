"""The command that reproduces a stack: `python -m ling_compose render PROFILE [flags]` (pure).

Headers and stack READMEs print it, so it must name what really made the file: the profiles file
and every override, spelled by the flag table the CLI's arguments are built from
(models/overrides.py; a test parses what this module writes back into the same overrides).
"""

from __future__ import annotations

import shlex
from argparse import BooleanOptionalAction
from collections.abc import Mapping
from pathlib import Path

from ling_compose.models.overrides import FLAG_OF_FIELD, OVERRIDE_FLAGS
from ling_compose.models.stack import Origin

PROGRAM = "python -m ling_compose"


def _value(value: object) -> str:
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def override_args(changes: Mapping[str, object]) -> tuple[str, ...] | None:
    """CLI flags for the overrides that were given (None values are 'keep the profile's').

    None when the CLI cannot say them (`tool_calling=True`: there is only --no-tool-calling).
    """
    args: list[str] = []
    for field, value in changes.items():
        if value is None or value == []:
            continue
        flag = FLAG_OF_FIELD[field]
        read_as = OVERRIDE_FLAGS[flag][1]
        if read_as.get("action") == "store_const":  # a switch says its one value only
            if value != read_as["const"]:
                return None
            args.append(flag)
        elif read_as.get("action") is BooleanOptionalAction:
            # --mtp, and --no-mtp, which argparse adds for it
            args.append(flag if value else "--no-" + flag.removeprefix("--"))
        elif field == "extra_args":
            assert isinstance(value, list | tuple)
            # `=`: values may start with a dash
            args += [f"{flag}={arg}" for arg in value]
        else:
            args += [flag, _value(value)]
    return tuple(args)


def origin(
    profile: str, changes: Mapping[str, object], profiles_file: Path | None
) -> Origin | None:
    """The Origin of `load_stack(profile, overrides, profiles_file)`; None if the CLI can't."""
    flags = override_args(changes)
    if flags is None:
        return None
    file_args = ("--profiles-file", str(profiles_file)) if profiles_file is not None else ()
    return Origin(profile=profile, args=(*file_args, *flags))


def render_command(found: Origin, *extra: str) -> str:
    """`python -m ling_compose render PROFILE ARGS EXTRA`, quoted for a POSIX shell."""
    return f"{PROGRAM} render {shlex.join([found.profile, *found.args, *extra])}"
