"""The PROFILE argument and the override flags shared by render, show, plan, up and doctor."""

from __future__ import annotations

import argparse
from pathlib import Path

from ling_compose import catalog
from ling_compose.backends import CANNOT_SERVE
from ling_compose.compose import Compiled, compile_stack
from ling_compose.errors import ConfigError, UsageError, cli_command
from ling_compose.loader import Overrides, load_stack
from ling_compose.models.compose import ComposeProject
from ling_compose.models.stack import Origin, Stack


def _engine(value: str) -> str:
    """--backend: engines known not to serve this model say why (exit 2), not 'invalid choice'."""
    if value.lower() in CANNOT_SERVE:
        why, instead = CANNOT_SERVE[value.lower()]
        ranks = f"`{cli_command()} recommend` ranks the layouts for your GPUs"
        raise UsageError(f"--backend {value}: {why}", hint=f"{instead}; {ranks}")
    return value


def add_stack_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "profile", metavar="PROFILE", help="built-in or user profile name (see `list`)"
    )
    parser.add_argument(
        "--profiles-file", type=Path, metavar="FILE", help="YAML file with more profiles"
    )
    group = parser.add_argument_group("overrides (checked like the profile itself)")
    group.add_argument(
        "--backend", dest="engine", type=_engine, choices=["vllm", "sglang", "llamacpp"]
    )
    group.add_argument("--gpus", type=int, metavar="N", help="number of GPUs to use")
    group.add_argument("--gpu-type", dest="gpu", metavar="KEY", help="GPU catalogue key, e.g. h200")
    group.add_argument("--host-ram-gib", type=float, metavar="GIB", help="host RAM, GiB")
    group.add_argument("--checkpoint", metavar="KEY", help="checkpoint catalogue key")
    group.add_argument("--tensor-parallel", type=int, metavar="N")
    group.add_argument("--pipeline-parallel", type=int, metavar="N")
    group.add_argument("--image", metavar="IMAGE", help="image override (e.g. a CUDA-12 variant)")
    group.add_argument("--context-length", type=int, metavar="TOKENS")
    group.add_argument("--concurrency", type=int, metavar="N", help="max sequences running at once")
    group.add_argument("--port", type=int, metavar="PORT", help="host port")
    group.add_argument(
        "--bind", metavar="ADDR", help="host address (non-loopback needs --api-key-env)"
    )
    group.add_argument("--served-model-name", metavar="NAME")
    group.add_argument(
        "--api-key-env", metavar="VAR", help="environment variable holding the API key"
    )
    group.add_argument(
        "--no-tool-calling", dest="tool_calling", action="store_const", const=False, default=None
    )
    group.add_argument(
        "--model-file",
        metavar="PATH",
        help="llama.cpp only: serve this local GGUF file (mounted read-only) instead of "
        "downloading the checkpoint; the stack then serves that file, not Ling-2.6-flash, and "
        "may use an upstream llama.cpp --image",
    )
    group.add_argument(
        "--extra-arg",
        dest="extra_args",
        action="append",
        default=[],
        metavar="ARG",
        help="argument appended to the server command (repeatable; checked against its flags); "
        "write --extra-arg=--flag for values that start with a dash",
    )


def make_profile_optional(parser: argparse.ArgumentParser) -> None:
    """PROFILE may be left out (`up -f FILE`, `bench --url URL`); it is then None."""
    for action in parser._actions:
        if action.dest == "profile":
            action.nargs = "?"
            action.default = None


def overrides_from_args(args: argparse.Namespace) -> Overrides:
    fields = set(Overrides.model_fields)
    return Overrides.model_validate({k: v for k, v in vars(args).items() if k in fields})


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
    return load_stack(args.profile, overrides, args.profiles_file)


def compiled_from_args(args: argparse.Namespace) -> Compiled:
    return compile_stack(stack_from_args(args))


def project_from_args(args: argparse.Namespace) -> ComposeProject:
    return compiled_from_args(args).project
