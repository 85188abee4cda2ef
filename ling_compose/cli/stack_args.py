"""The PROFILE argument and the override flags shared by render, show, plan, up and doctor."""

from __future__ import annotations

import argparse
import functools
from collections.abc import Callable
from pathlib import Path
from types import UnionType
from typing import Annotated, Any, Union, get_args, get_origin

from pydantic import ValidationError
from pydantic.fields import FieldInfo

from ling_compose import catalog
from ling_compose.cli.flag_types import range_words
from ling_compose.compose import Compiled, compile_stack
from ling_compose.engines import registry
from ling_compose.errors import ConfigError, UsageError, cli_command
from ling_compose.load import load_stack, unknown_gpu_hint, unknown_key_hint
from ling_compose.models.compose import ComposeProject
from ling_compose.models.overrides import (
    FLAG_OF_FIELD,
    KUBERNETES_FIELDS,
    OVERRIDE_FLAGS,
    Overrides,
)
from ling_compose.models.stack import Origin, Stack


def _engine(value: str) -> str:
    """--backend: engines known not to serve this model say why (exit 2), not 'invalid choice'."""
    if value.lower() in registry.CANNOT_SERVE:
        why, instead = registry.CANNOT_SERVE[value.lower()]
        ranks = f"`{cli_command()} recommend` ranks the layouts for your GPUs"
        raise UsageError(f"--backend {value}: {why}", hint=f"{instead}; {ranks}")
    return value


# Checks argparse runs on an override's text before its own (`choices`), by Overrides field:
# they need engine knowledge, which the flag table (models/overrides.py) cannot import.
VALUE_CHECKS: dict[str, Callable[[str], str]] = {"engine": _engine}


def _constraints(annotation: Any) -> dict[str, Any]:
    """The value type (int, float, str) and bounds (ge, gt, le, pattern) of an override's type,
    read off its annotation: `GpuCount | None` is `Annotated[int, Field(ge=1, le=8)] | None`."""
    if get_origin(annotation) is Annotated:
        base, *metadata = get_args(annotation)
        found = _constraints(base)
        for item in metadata:
            for part in item.metadata if isinstance(item, FieldInfo) else [item]:
                found.update(
                    {k: getattr(part, k) for k in ("ge", "gt", "le", "pattern") if hasattr(part, k)}
                )
        return {k: v for k, v in found.items() if v is not None}
    if get_origin(annotation) in (Union, UnionType):
        found = {}
        for arg in get_args(annotation):
            if arg is not type(None):
                found.update(_constraints(arg))
        return found
    return {"type": annotation} if annotation in (int, float, str) else {}


@functools.cache
def value_rule(field: str) -> str | None:
    """The accepted values of an override in words, from its type's bounds (for --help and hints)."""
    info = Overrides.model_fields.get(field)
    found = _constraints(info.annotation) if info is not None else {}
    if "pattern" in found:
        return f"text matching {found['pattern']}"
    if found.get("type") not in (int, float):
        return None
    return range_words(
        found["type"] is int,
        found.get("ge", found.get("gt")),
        found.get("le"),
        above_low="ge" not in found and "gt" in found,
    )


def _problem(error: Any) -> str:
    """One pydantic error as words: the validator's own message for a ValueError it raised."""
    if error["type"] == "value_error":
        return str(error["ctx"]["error"])
    msg = str(error["msg"])
    return msg[0].lower() + msg[1:]


def add_stack_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "profile", metavar="PROFILE", help="built-in or user profile name (see `list`)"
    )
    parser.add_argument(
        "--profiles-file", type=Path, metavar="FILE", help="YAML file with more profiles"
    )
    group = parser.add_argument_group("overrides (checked like the profile itself)")
    for flag, (field, settings) in OVERRIDE_FLAGS.items():
        options = dict(settings)
        if field in VALUE_CHECKS:
            options["type"] = VALUE_CHECKS[field]
        if field == "engine":
            options["choices"] = registry.names()
        rule = value_rule(field)
        if rule:
            options["help"] = (options["help"] + "; " if "help" in options else "") + rule
        group.add_argument(flag, dest=field, **options)


def make_profile_optional(parser: argparse.ArgumentParser) -> None:
    """PROFILE may be left out (`up -f FILE`, `bench --url URL`); it is then None."""
    for action in parser._actions:
        if action.dest == "profile":
            action.nargs = "?"
            action.default = None


def overrides_from_args(args: argparse.Namespace) -> Overrides:
    """The overrides given on the command line; a bad value is a usage error naming its flag.
    None and [] are what argparse leaves for a flag not given."""
    given = {k: v for k, v in vars(args).items() if k in FLAG_OF_FIELD and v not in (None, [])}
    if not given:
        return Overrides.model_construct()  # no override: nothing to validate (or build)
    try:
        overrides = Overrides.model_validate(given)
    except ValidationError as err:
        lines, hints = [], []
        for e in err.errors():
            field = str(e["loc"][0]) if e["loc"] else ""
            flag = FLAG_OF_FIELD.get(field, field)
            value = e["input"]
            got = f" (got {repr(value)[:40]})" if isinstance(value, str | int | float) else ""
            lines.append(f"{flag}: {_problem(e)}{got}")
            rule = value_rule(field)
            usage = f"see `{cli_command()} {args.command} --help`"
            hints.append(f"{flag} takes {rule}" if rule else usage)
        raise UsageError("\n".join(lines), hint="; ".join(dict.fromkeys(hints))) from err
    if overrides.gpu is not None and overrides.gpu not in catalog.gpus():
        raise UsageError(
            f"{FLAG_OF_FIELD['gpu']}: unknown GPU {overrides.gpu!r}",
            hint=unknown_gpu_hint(overrides.gpu),
        )
    ckpts = list(catalog.checkpoints())
    if overrides.checkpoint is not None and overrides.checkpoint not in ckpts:
        raise UsageError(
            f"{FLAG_OF_FIELD['checkpoint']}: unknown checkpoint {overrides.checkpoint!r}",
            hint=unknown_key_hint(overrides.checkpoint, ckpts),
        )
    return overrides


def stack_from_args(args: argparse.Namespace) -> Stack:
    overrides = overrides_from_args(args)
    if args.profile == "auto":
        # Detection is I/O and needs NVML or nvidia-smi: imported only for `auto`.
        from ling_compose.cli.recommend import best_for_this_host

        best = best_for_this_host()
        if best.stack.hardware.gpu.key not in catalog.gpus():
            if overrides != Overrides():
                raise ConfigError(
                    "overrides with `auto` need a GPU from the catalogue; this one was measured",
                    hint=f"render the chosen profile explicitly: `render {best.label} ...`",
                )
            return best.stack.model_copy(update={"origin": Origin(profile="auto")})
        hw, plan = best.stack.hardware, best.plan
        derived = Overrides(
            gpu=hw.gpu.key,
            gpus=hw.count,
            host_ram_gib=hw.host_ram_gib,
            tensor_parallel=plan.tensor_parallel,
            pipeline_parallel=plan.pipeline_parallel,
        )
        merged = derived.model_copy(update=overrides.model_dump(exclude_defaults=True))
        return load_stack(best.render_args[0], merged, args.profiles_file)
    return load_stack(
        args.profile, overrides if overrides.model_fields_set else None, args.profiles_file
    )


def refuse_kubernetes_flags(args: argparse.Namespace, allowed: tuple[str, ...] = ()) -> None:
    """Flags only the Kubernetes target reads, given to a command that runs Compose: a usage
    error naming the first, rather than a flag silently ignored."""
    given = [
        f for f in KUBERNETES_FIELDS if f not in allowed and getattr(args, f, None) is not None
    ]
    if given:
        flag = FLAG_OF_FIELD[given[0]]
        raise UsageError(
            f"{flag} is an option of the Kubernetes target, which `{args.command}` does not use",
            hint=f"`{cli_command()} render PROFILE --target kubernetes {flag} ...`",
        )


def compiled_from_args(args: argparse.Namespace) -> Compiled:
    """The Compose project of the arguments (render's default target, up, show, ...)."""
    refuse_kubernetes_flags(args)
    return compile_stack(stack_from_args(args))


def project_from_args(args: argparse.Namespace) -> ComposeProject:
    return compiled_from_args(args).project
