"""`recommend`: rank layouts for the detected GPUs, with reasons; also resolves `render auto`."""

from __future__ import annotations

import argparse
import sys

from ling_compose.cli.table import print_json, print_table
from ling_compose.errors import HardwareError, cli_command
from ling_compose.hardware.detect import DetectedHardware, detect_hardware
from ling_compose.planning.recommend import Candidate, recommend

AUTO = "auto"


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = sub.add_parser("recommend", help="rank profiles for the GPUs detected on this host")
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--all", action="store_true", help="also list layouts that do not fit")
    parser.set_defaults(func=run)


def ranked_for_this_host() -> tuple[DetectedHardware, list[Candidate]]:
    detected = detect_hardware()
    groups = [(g.gpu, g.count) for g in detected.groups if g.gpu is not None]
    if not groups:
        raise HardwareError(
            "no detected GPU could be described well enough to plan for",
            hint=f"run `{cli_command()} detect` to see what was read",
        )
    return detected, recommend(groups, detected.host_ram_gib)


def best_for_this_host() -> Candidate:
    """The top candidate that fits, for `render auto`; says why on stderr."""
    detected, ranked = ranked_for_this_host()
    fitting = [c for c in ranked if c.fits]
    if not fitting:
        reasons = "; ".join(f"{c.label}: {c.rejected_because[0]}" for c in ranked[:3])
        raise HardwareError(
            f"no layout of Ling-2.6-flash fits this host ({detected.count} GPU(s)): {reasons}",
            hint=f"`{cli_command()} recommend --all` lists every layout with its reasons",
        )
    best = fitting[0]
    print(
        f"auto: chose `{best.label}` ({best.stack.checkpoint.precision}, {best.stack.backend.engine}, "
        f"{best.stack.hardware.count} x {best.stack.hardware.gpu.name}) of {len(fitting)} layouts that fit",
        file=sys.stderr,
    )
    return best


def _row(rank: int, c: Candidate) -> dict[str, object]:
    return {
        "rank": rank if c.fits else "-",
        "render": f"render {c.label}",
        "precision": c.stack.checkpoint.precision,
        "engine": c.stack.backend.engine,
        "gpus": f"{c.stack.hardware.count} x {c.stack.hardware.gpu.key}",
        "ceiling": f"{c.plan.throughput.aggregate_tok_s:.0f} tok/s @ {c.plan.concurrency}",
        "verdict": "fits" if c.fits else "rejected: " + "; ".join(c.rejected_because),
    }


def run(args: argparse.Namespace) -> int:
    detected, ranked = ranked_for_this_host()
    shown = ranked if args.all else [c for c in ranked if c.fits] or ranked
    rows = [_row(i + 1, c) for i, c in enumerate(shown)]
    if args.json:
        print_json({"hardware": detected.summary(), "candidates": rows})
    else:
        print_table(rows, ["rank", "render", "precision", "engine", "gpus", "ceiling", "verdict"])
        print(
            "ranked by precision, then fewer GPUs, then the aggregate decode ceiling",
            file=sys.stderr,
        )
    return 0
