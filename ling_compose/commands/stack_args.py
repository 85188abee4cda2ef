"""The PROFILE argument and the override flags shared by render, show, plan, up and doctor."""

from __future__ import annotations

import argparse
import functools
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from ling_compose import catalog
from ling_compose.commands.flag_types import show_number
from ling_compose.compose import Compiled, compile_stack
from ling_compose.errors import ConfigError, UsageError
from ling_compose.loader import Overrides, load_stack, unknown_key_hint
from ling_compose.models.compose import ComposeProject
from ling_compose.models.stack import Stack

# Every override flag: the Overrides field it sets and how argparse reads it. Bounds live in the
# field's type (loader.Overrides), so a new override gets range checks, the rule in --help and
# errors that name its flag (exit 2) by adding one row here and one field there.
OVERRIDE_FLAGS: dict[str, tuple[str, dict[str, Any]]] = {
    "--backend": ("engine", {"choices": ["vllm", "sglang", "llamacpp"]}),
    "--gpus": ("gpus", {"type": int, "metavar": "N", "help": "number of GPUs to use"}),
    "--gpu-type": ("gpu", {"metavar": "KEY", "help": "GPU catalogue key, e.g. h200"}),
    "--host-ram-gb": ("host_ram_gb", {"type": float, "metavar": "GB"}),
    "--checkpoint": ("checkpoint", {"metavar": "KEY", "help": "checkpoint catalogue key"}),
    "--tensor-parallel": ("tensor_parallel", {"type": int, "metavar": "N"}),
    "--pipeline-parallel": ("pipeline_parallel", {"type": int, "metavar": "N"}),
    "--image": ("image", {"metavar": "IMAGE", "help": "image override (e.g. a CUDA-12 variant)"}),
    "--context-length": ("context_length", {"type": int, "metavar": "TOKENS"}),
    "--concurrency": (
        "concurrency",
        {"type": int, "metavar": "N", "help": "max sequences running at once"},
    ),
    "--port": ("port", {"type": int, "metavar": "PORT", "help": "host port"}),
    "--bind": (
        "bind",
        {"metavar": "ADDR", "help": "host IP address (non-loopback needs --api-key-env)"},
    ),
    "--served-model-name": ("served_model_name", {"metavar": "NAME"}),
    "--api-key-env": (
        "api_key_env",
        {"metavar": "VAR", "help": "environment variable holding the API key"},
    ),
    "--no-tool-calling": (
        "tool_calling",
        {"action": "store_const", "const": False, "default": None},
    ),
    "--extra-arg": (
        "extra_args",
        {
            "action": "append",
            "default": [],
            "metavar": "ARG",
            "help": "argument appended to the server command (repeatable; checked against its "
            "flags); write --extra-arg=--flag for values that start with a dash",
        },
    ),
}
FLAG_OF_FIELD = {field: flag for flag, (field, _) in OVERRIDE_FLAGS.items()}


@functools.cache
def _field_schemas() -> dict[str, dict[str, Any]]:
    props: dict[str, dict[str, Any]] = Overrides.model_json_schema()["properties"]
    return {name: next(iter(p.get("anyOf", [p])), p) for name, p in props.items()}


def value_rule(field: str) -> str | None:
    """The accepted values of an override in words, from its type's bounds (for --help and hints)."""
    schema = _field_schemas().get(field, {})
    if "pattern" in schema:
        return f"text matching {schema['pattern']}"
    kind = {"integer": "a whole number", "number": "a number"}.get(schema.get("type", ""))
    if kind is None:
        return None
    if "minimum" in schema:
        low, to = f"from {show_number(schema['minimum'])}", "to"
    elif "exclusiveMinimum" in schema:
        low, to = f"above {show_number(schema['exclusiveMinimum'])}", "up to"
    else:
        low, to = "", "up to"
    high = f"{to} {show_number(schema['maximum'])}" if "maximum" in schema else ""
    return " ".join(part for part in (kind, low, high) if part)


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
        rule = value_rule(field)
        if rule:
            options["help"] = (options["help"] + "; " if "help" in options else "") + rule
        group.add_argument(flag, dest=field, **options)


def overrides_from_args(args: argparse.Namespace) -> Overrides:
    """The overrides given on the command line; a bad value is a usage error naming its flag."""
    given = {k: v for k, v in vars(args).items() if k in FLAG_OF_FIELD}
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
            hints.append(f"{flag} takes {rule}" if rule else f"see `{args.command} --help`")
        raise UsageError("\n".join(lines), hint="; ".join(dict.fromkeys(hints))) from err
    for field, table, kind in (
        ("gpu", catalog.gpus(), "GPU"),
        ("checkpoint", catalog.checkpoints(), "checkpoint"),
    ):
        key = getattr(overrides, field)
        if key is not None and key not in table:
            raise UsageError(
                f"{FLAG_OF_FIELD[field]}: unknown {kind} {key!r}",
                hint=unknown_key_hint(key, list(table)),
            )
    return overrides


def stack_from_args(args: argparse.Namespace) -> Stack:
    overrides = overrides_from_args(args)
    if args.profile == "auto":
        # Detection is I/O and needs NVML or nvidia-smi: imported only for `auto`.
        from ling_compose.commands.recommend import best_for_this_host

        best = best_for_this_host()
        if best.stack.hardware.gpu.key not in catalog.gpus():
            if overrides != Overrides():
                raise ConfigError(
                    "overrides with `auto` need a GPU from the catalogue; this one was measured",
                    hint=f"render the chosen profile explicitly: `render {best.label} ...`",
                )
            return best.stack
        hw, plan = best.stack.hardware, best.plan
        derived = Overrides(
            gpu=hw.gpu.key,
            gpus=hw.count,
            host_ram_gb=hw.host_ram_gb,
            tensor_parallel=plan.tensor_parallel,
            pipeline_parallel=plan.pipeline_parallel,
        )
        merged = derived.model_copy(update=overrides.model_dump(exclude_defaults=True))
        return load_stack(best.render_args[0], merged, args.profiles_file)
    return load_stack(args.profile, overrides, args.profiles_file)


def compiled_from_args(args: argparse.Namespace) -> Compiled:
    return compile_stack(stack_from_args(args))


def project_from_args(args: argparse.Namespace) -> ComposeProject:
    return compiled_from_args(args).project
