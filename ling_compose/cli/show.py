"""`show PROFILE`: the resolved stack and why each value was chosen; `plan PROFILE`: the physics."""

from __future__ import annotations

import argparse

from ling_compose.cli.stack_args import (
    add_stack_arguments,
    overrides_from_args,
    refuse_kubernetes_flags,
    stack_from_args,
)
from ling_compose.cli.table import print_json, print_table
from ling_compose.compose import compile_stack
from ling_compose.models.plan import fleet
from ling_compose.planning.explain import explain, fleet_lines, plan_lines
from ling_compose.planning.fit import make_plan
from ling_compose.planning.guide_check import check_guide, guide_lines


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    show = sub.add_parser("show", help="the resolved stack and why each value was chosen")
    add_stack_arguments(show)
    show.add_argument("--json", action="store_true")
    show.set_defaults(func=run_show)
    plan = sub.add_parser(
        "plan", help="memory breakdown, largest context/concurrency, throughput ceiling"
    )
    add_stack_arguments(plan)
    plan.add_argument("--json", action="store_true")
    plan.set_defaults(func=run_plan)


def run_show(args: argparse.Namespace) -> int:
    refuse_kubernetes_flags(args)
    compiled = compile_stack(stack_from_args(args))
    rows = explain(compiled, overrides_from_args(args))
    if args.json:
        print_json(
            {
                "stack": compiled.stack.model_dump(mode="json"),
                "why": {k: {"value": v, "why": w} for k, v, w in rows},
            }
        )
    else:
        print_table(
            [{"setting": k, "value": v, "why": w} for k, v, w in rows], ["setting", "value", "why"]
        )
    return 0


def run_plan(args: argparse.Namespace) -> int:
    """Unlike render, plan reports a layout that does not fit (exit 1) instead of refusing it.
    --nodes plans one server over nodes, --replicas adds the fleet's sums."""
    refuse_kubernetes_flags(args, allowed=("nodes", "gpus_per_node", "replicas"))
    stack = stack_from_args(args)
    plan = make_plan(stack)
    guide = check_guide(stack)
    fleet_of = fleet(plan, args.replicas) if args.replicas is not None else None
    if args.json:
        data = {**plan.as_json(), "fits": plan.fits}
        data["guide"] = guide.as_json() if guide else None
        if fleet_of is not None:
            data["fleet"] = fleet_of._asdict()
        print_json(data)
    else:
        lines = plan_lines(plan) + (guide_lines(guide) if guide else [])
        print("\n".join(lines + (fleet_lines(fleet_of) if fleet_of is not None else [])))
    return 0 if plan.fits else 1
