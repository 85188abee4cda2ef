"""`list` (profiles, or GPUs with --gpus) and `schema` (JSON schema of profile files)."""

from __future__ import annotations

import argparse
from pathlib import Path

from ling_compose import catalog
from ling_compose.cli.table import print_json, print_table
from ling_compose.errors import LingComposeError
from ling_compose.load import all_profiles, resolve
from ling_compose.models.stack import ProfilesFile
from ling_compose.planning.fit import make_plan


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = sub.add_parser(
        "list", help="profiles (or GPUs) with their layout and whether they fit"
    )
    parser.add_argument("--profiles-file", type=Path, metavar="FILE")
    parser.add_argument("--gpus", action="store_true", help="list the GPU catalogue instead")
    parser.add_argument("--json", action="store_true", help="machine-readable output")
    parser.set_defaults(func=run_list)
    schema = sub.add_parser("schema", help="JSON schema of a profiles file, for editors")
    schema.set_defaults(func=run_schema)


def profile_rows(profiles_file: Path | None = None) -> list[dict[str, object]]:
    rows: list[dict[str, object]] = []
    for name, spec in all_profiles(profiles_file).items():
        try:
            stack = resolve(name, spec)
        except LingComposeError as err:
            rows.append({"profile": name, "fits": False, "problem": err.message})
            continue
        plan = make_plan(stack)
        rows.append(
            {
                "profile": name,
                "gpus": f"{stack.hardware.count} x {stack.hardware.gpu.key}",
                "backend": stack.backend.engine,
                "precision": stack.checkpoint.precision,
                "context": stack.serving.context_length,
                "fits": plan.fits,
                "problem": "; ".join(plan.problems),
                "description": stack.description,
            }
        )
    return rows


def run_list(args: argparse.Namespace) -> int:
    if args.gpus:
        gpus = [g.model_dump(exclude={"match"}) for g in catalog.gpus().values()]
        if args.json:
            print_json(gpus)
        else:
            print_table(
                gpus,
                [
                    "key",
                    "name",
                    "memory_mib",
                    "compute_capability",
                    "memory_bandwidth_gbs",
                    "max_shared_memory_per_block_kb",
                ],
            )
        return 0
    rows = profile_rows(args.profiles_file)
    if args.json:
        print_json(rows)
    else:
        print_table(
            [{**r, "fits": "yes" if r["fits"] else "NO: " + str(r["problem"])} for r in rows],
            ["profile", "gpus", "backend", "precision", "context", "fits"],
        )
    return 0


def run_schema(args: argparse.Namespace) -> int:
    print_json(ProfilesFile.model_json_schema())
    return 0
