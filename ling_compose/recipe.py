"""The command that reproduces a stack: `python -m ling_compose render PROFILE [flags]` (pure).

Headers and stack READMEs print it, so it must name what really made the file: the profiles file
and every override, spelled as the CLI spells them (commands/stack_args.py; a test holds the two
together by parsing what this module writes).
"""

from __future__ import annotations

import shlex
from collections.abc import Mapping
from pathlib import Path

from ling_compose.models.stack import Origin

PROGRAM = "python -m ling_compose"

# Overrides field → its CLI flag. tool_calling and extra_args are spelled below.
OVERRIDE_FLAGS: dict[str, str] = {
    "engine": "--backend",
    "gpus": "--gpus",
    "gpu": "--gpu-type",
    "host_ram_gib": "--host-ram-gib",
    "checkpoint": "--checkpoint",
    "tensor_parallel": "--tensor-parallel",
    "pipeline_parallel": "--pipeline-parallel",
    "image": "--image",
    "context_length": "--context-length",
    "concurrency": "--concurrency",
    "port": "--port",
    "bind": "--bind",
    "served_model_name": "--served-model-name",
    "api_key_env": "--api-key-env",
    "model_file": "--model-file",
}


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
        if field == "tool_calling":
            if value is not False:
                return None
            args.append("--no-tool-calling")
        elif field == "extra_args":
            assert isinstance(value, list | tuple)
            args += [f"--extra-arg={arg}" for arg in value]  # `=`: values may start with a dash
        else:
            args += [OVERRIDE_FLAGS[field], _value(value)]
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
