"""`doctor`: pre-flight checks (Docker, NVIDIA runtime, driver vs image CUDA, GPUs, disk, RAM)."""

from __future__ import annotations

import argparse

from ling_compose.cli.stack_args import add_stack_arguments, compiled_from_args
from ling_compose.cli.table import print_json
from ling_compose.compose import Compiled
from ling_compose.engines import registry
from ling_compose.errors import ConfigError
from ling_compose.hardware.preflight import (
    Finding,
    PreflightRequirements,
    has_failures,
    real_probes,
    run_checks,
)

_MARK = {"ok": "ok", "warn": "WARN", "fail": "FAIL"}


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = sub.add_parser(
        "doctor",
        help="pre-flight checks for running a profile on this host",
        description="Check Docker, the NVIDIA container runtime, the driver against the image's "
        "CUDA, the GPUs, free disk where Docker keeps its data and host RAM, against what the "
        "profile needs. Exit 0 when no check fails, 1 otherwise.",
    )
    add_stack_arguments(parser)
    parser.add_argument("--json", action="store_true", help="print JSON for scripts")
    parser.set_defaults(func=run)


def format_findings(findings: list[Finding]) -> str:
    width = max(len(f.check) for f in findings)
    lines = []
    for f in findings:
        lines.append(f"[{_MARK[f.status]:<4}] {f.check:<{width}}  {f.message}")
        if f.fix:
            lines.append(f"       {'':<{width}}  fix: {f.fix}")
    return "\n".join(lines)


def run(args: argparse.Namespace) -> int:
    findings = run_checks(requirements_from_stack(compiled_from_args(args)), real_probes())
    if args.json:
        print_json([f.model_dump(mode="json") for f in findings])
    else:
        print(format_findings(findings))
    if has_failures(findings):
        failed = [f.check for f in findings if f.status == "fail"]
        raise ConfigError(
            f"doctor: {len(failed)} check(s) failed: {', '.join(failed)}",
            hint="apply the fixes printed above, then run doctor again",
        )
    return 0


def requirements_from_stack(compiled: Compiled) -> PreflightRequirements:
    """What a compiled stack needs from the host.

    Disk = the checkpoint's size on disk; host RAM = the plan's host budget when experts are
    offloaded; CUDA = what the engine says its image is built on (its tag's variant, or the
    CUDA_VERSION build arg of a built one), else 13.0.
    """
    stack, plan = compiled.stack, compiled.plan
    engine = registry.get(compiled.description.engine)
    server = compiled.description.primary
    return PreflightRequirements(
        gpu_key=stack.hardware.gpu.key,
        gpu_count=stack.hardware.count,
        min_host_ram_gib=round(plan.host.needed, 1) if plan.host else 0.0,
        disk_gib_needed=round(stack.checkpoint.size_on_disk_gib, 1),
        min_driver_cuda=engine.required_cuda(server.image, server.build) or "13.0",
        image=server.image,
        image_variants=tuple(engine.image_variants(server.image)),
    )
