"""`bench`: measure a served endpoint (a running stack, or any --url) against the plan's ceiling."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable
from contextlib import closing
from pathlib import Path
from typing import TYPE_CHECKING

from ling_compose.cli.flag_types import (
    SECONDS,
    add_docker_host,
    api_key_from,
    http_url,
    seconds_up_to,
    whole_number_in,
)
from ling_compose.cli.stack_args import (
    add_stack_arguments,
    compiled_from_args,
    make_profile_optional,
    overrides_from_args,
)
from ling_compose.cli.table import format_table
from ling_compose.errors import HealthError, UsageError, cli_command
from ling_compose.load import Overrides
from ling_compose.models.plan import Plan
from ling_compose.runtime.base import StderrProgress
from ling_compose.runtime.bench_stats import Spread, ceiling_of

if TYPE_CHECKING:  # not subscriptable at run time
    from ling_compose.runtime.bench import BenchReport

    Sub = argparse._SubParsersAction[argparse.ArgumentParser]


MAX_CONCURRENCY = 1024


def _levels(text: str) -> tuple[int, ...]:
    """`1,8,32`: the concurrency levels, in the order given, each once."""
    one = whole_number_in(1, MAX_CONCURRENCY)
    levels: list[int] = []
    for piece in text.split(","):
        level = one(piece.strip())
        if level not in levels:
            levels.append(level)
    return tuple(levels)


def register(sub: Sub) -> None:
    parser = sub.add_parser(
        "bench",
        help="measure a served endpoint: TTFT, inter-token latency, tokens/s vs the ceiling",
        description="Stream chat completions at each concurrency level and report time to first "
        "token, inter-token latency and time per output token (p50/p90/p99), end-to-end "
        "latency, output tokens/s and requests/s; and the single-stream decode speed as a "
        "fraction of the plan's bandwidth ceilings (datasheet and achievable bandwidth). `bench PROFILE` measures the running stack "
        "of that profile (with the same overrides as `up`); `bench --url URL` any endpoint "
        "(`--profile PROFILE` names the plan for the ceiling). Data to stdout, progress to "
        "stderr. See docs/performance.md.",
        # bench's --concurrency (the levels) replaces the stack override of the same name.
        conflict_handler="resolve",
    )
    add_stack_arguments(parser)
    make_profile_optional(parser)  # `bench --url URL` needs none
    parser.add_argument(
        "--url", type=http_url, help="base URL of any endpoint, e.g. http://127.0.0.1:8000"
    )
    parser.add_argument(
        "--model", help="served model name (default: the only one /v1/models lists)"
    )
    parser.add_argument(
        "--profile",
        dest="plan_profile",
        metavar="PROFILE",
        help="with --url: the profile whose plan gives the bandwidth ceilings",
    )
    parser.add_argument(
        "--concurrency",
        dest="levels",
        type=_levels,
        default=(1, 8, 32),
        metavar="N[,N...]",
        help="requests in flight at once, one level after the other (default 1,8,32)",
    )
    parser.add_argument(
        "--requests",
        type=whole_number_in(1, 100_000),
        default=64,
        metavar="N",
        help="requests per concurrency level (default 64)",
    )
    parser.add_argument(
        "--input-tokens",
        type=whole_number_in(1, 262_144),
        default=1024,
        metavar="N",
        help="prompt length, estimated (default 1024)",
    )
    parser.add_argument(
        "--output-tokens",
        type=whole_number_in(1, 262_144),
        default=256,
        metavar="N",
        help="max_tokens of each answer (default 256)",
    )
    parser.add_argument(
        "--workload",
        choices=["text", "tools"],
        default="text",
        help="text: plain streamed answers of --output-tokens; tools: requests with a tool, "
        "half streamed, counting structured tool_calls with JSON arguments",
    )
    parser.add_argument(
        "--no-ignore-eos",
        dest="ignore_eos",
        action="store_false",
        help="let the model stop early (default: ignore_eos, so every answer has --output-tokens)",
    )
    parser.add_argument(
        "--warmup",
        type=whole_number_in(0, 100),
        default=1,
        metavar="N",
        help="unmeasured requests first (default 1; a failing one stops the run)",
    )
    parser.add_argument(
        "--timeout",
        type=seconds_up_to(86_400),
        default=300.0,
        metavar="SECONDS",
        help="one request gives up after this long (default 300)",
    )
    parser.add_argument(
        "--max-seconds",
        type=SECONDS,
        default=1800.0,
        metavar="SECONDS",
        help="the whole run stops after this long; requests still running are cut off "
        "(default 1800)",
    )
    parser.add_argument(
        "--env-file",
        type=Path,
        metavar="FILE",
        help="with PROFILE: variables for ${VAR} (the API key), as for `up`",
    )
    add_docker_host(parser)
    parser.add_argument("--json", action="store_true", help="print the figures as JSON")
    parser.set_defaults(func=run_bench)


def _running_target(args: argparse.Namespace) -> tuple[str, str | None, str | None, Plan]:
    """(endpoint, model, API key, plan) of PROFILE's running stack, found as `up` and `status`
    find them: the compiled project names it and resolves the key; the engine's labels give the
    endpoint and model of what really runs."""
    from ling_compose.runtime import api

    compiled = compiled_from_args(args)
    spec = api.resolve_spec(compiled.project, env_file=args.env_file)
    with closing(api.default_runtime(args.docker_host)) as runtime:
        rows = api.status(spec.name, probe=False, runtime=runtime)
    running = [r for r in rows if r.state == "running" and r.endpoint]
    if not running:
        raise HealthError(
            f"bench: no running container of {spec.name} (profile {args.profile})",
            hint=f"start it with `{cli_command()} up {args.profile}`, or measure any endpoint "
            "with --url",
        )
    row = running[0]
    return row.endpoint or "", row.model or spec.served_model_name, spec.api_key, compiled.plan


def run_bench(args: argparse.Namespace) -> int:
    from ling_compose.runtime import bench as bench_mod

    if args.profile is not None and args.plan_profile is not None:
        raise UsageError(
            "give PROFILE or --profile, not both",
            hint="`bench PROFILE` (its running stack) or `bench --url URL --profile PROFILE`",
        )
    profile = args.profile or args.plan_profile
    if args.url is None and profile is None:
        raise UsageError(
            "bench needs a PROFILE (its running stack) or --url URL",
            hint=f"`{cli_command()} bench h100-fp8` or `{cli_command()} bench --url "
            "http://127.0.0.1:8000`",
        )
    # --api-key-env is a stack override too, and with --url it names the key's variable.
    overrides = overrides_from_args(args).model_copy(update={"api_key_env": None})
    if profile is None and overrides != Overrides():
        raise UsageError(
            "stack overrides need a profile", hint="name the plan with --profile PROFILE"
        )
    args.profile = profile
    plan: Plan | None = None
    if args.url is None:
        url, model, api_key, plan = _running_target(args)
        model = args.model or model
    else:
        url, model = args.url, args.model
        api_key = api_key_from(args.api_key_env)
        if profile is not None:
            plan = compiled_from_args(args).plan
    config = bench_mod.BenchConfig(
        url=url,
        model=model,
        levels=args.levels,
        requests=args.requests,
        input_tokens=args.input_tokens,
        output_tokens=args.output_tokens,
        workload=args.workload,
        timeout_s=args.timeout,
        max_seconds=args.max_seconds,
        warmup=args.warmup,
        ignore_eos=args.ignore_eos,
    )
    ceiling = ceiling_of(plan) if plan is not None else None
    report = bench_mod.bench(config, api_key=api_key, ceiling=ceiling, progress=StderrProgress())
    if args.json:
        print(json.dumps(report.to_json(), indent=2))
    else:
        print(format_report(report))
    if report.stopped:
        print(f"warning: bench stopped early: {report.stopped}", file=sys.stderr)
    return 0


def _spread(s: Spread | None, scale: float, digits: int) -> str:
    if s is None:
        return "-"
    return " / ".join(f"{v * scale:.{digits}f}" for v in (s.p50, s.p90, s.p99))


def format_report(report: BenchReport) -> str:
    """The figures as a table, one column per concurrency level, then the ceiling and notes."""
    c = report.config
    head = (
        f"bench {c.url} model {c.model!r}, workload {c.workload}: {c.requests} requests per "
        f"level, ~{c.input_tokens} input tokens, {c.output_tokens} output tokens"
        + (" (ignore_eos)" if c.ignore_eos and c.workload == "text" else "")
    )
    columns = ["figure"] + [f"c={level.concurrency}" for level in report.levels]
    rows: list[dict[str, object]] = []

    def row(label: str, cell: Callable[[int], str]) -> None:
        cells: dict[str, object] = {columns[i + 1]: cell(i) for i in range(len(columns) - 1)}
        rows.append({"figure": label, **cells})

    levels = report.levels
    row(
        "requests ok / failed",
        lambda i: (
            f"{levels[i].ok} / {levels[i].failed}"
            + (f" (+{levels[i].cut_off} cut off)" if levels[i].cut_off else "")
        ),
    )
    row("TTFT ms p50/p90/p99", lambda i: _spread(levels[i].ttft_s, 1000, 0))
    row("ITL ms p50/p90/p99", lambda i: _spread(levels[i].itl_s, 1000, 1))
    row("TPOT ms p50/p90/p99", lambda i: _spread(levels[i].tpot_s, 1000, 1))
    row("E2E s p50/p90/p99", lambda i: _spread(levels[i].e2e_s, 1, 2))
    row("output tokens/s", lambda i: f"{levels[i].output_tok_s:.1f}")
    row("requests/s", lambda i: f"{levels[i].requests_per_s:.2f}")
    row(
        "prompt tokens (server)",
        lambda i: f"{p.mean:.0f}" if (p := levels[i].prompt_tokens) else "not given",
    )
    if any(level.tools for level in levels):

        def tool_cell(i: int, streamed: bool) -> str:
            t = levels[i].tools
            if t is None:
                return "-"
            if streamed:
                return f"{t.streamed_structured} / {t.streamed_total}"
            return f"{t.plain_structured} / {t.plain_total}"

        row("tool_calls ok, streamed", lambda i: tool_cell(i, True))
        row("tool_calls ok, not streamed", lambda i: tool_cell(i, False))
    lines = [head, format_table(rows, columns)]
    for level in levels:
        for error, count in list(level.errors.items())[:3]:
            lines.append(f"c={level.concurrency}: {count} failed: {error}")
        if level.tools and set(level.tools.outcomes) - {"structured"}:
            seen = ", ".join(f"{k} {v}" for k, v in sorted(level.tools.outcomes.items()))
            lines.append(f"c={level.concurrency}: tool answers: {seen}")
    single = report.single
    if single is not None:
        lines.append(
            f"single-stream decode {single.decode_tok_s:.1f} tokens/s (1 / TPOT p50 at c=1)"
        )
        ceil = single.ceiling
        if ceil is not None:
            of_datasheet, of_achievable = ceil.fractions(single.decode_tok_s)
            lines[-1] += f", against plan {ceil.profile} (bound by {ceil.bound_by}):"
            lines.append(
                f"  {_percent(of_datasheet)} of the datasheet ceiling: "
                f"{ceil.datasheet_tok_s:.1f} tokens/s at {ceil.datasheet_gbs:.0f} GB/s per GPU"
            )
            lines.append(
                f"  {_percent(of_achievable)} of the achievable ceiling: "
                f"{ceil.achievable_tok_s:.1f} tokens/s at {ceil.achievable_gbs:.0f} GB/s per GPU "
                f"({ceil.achievable_source})"
            )
            if ceil.mtp_expected_tok_s is not None:
                low, high = ceil.mtp_expected_tok_s
                lines.append(
                    f"  MTP is on ({ceil.mtp_tokens} draft tokens per step): the plan expects "
                    f"{low:.0f}-{high:.0f} tokens/s at achievable bandwidth, from an ASSUMED "
                    f"acceptance of {ceil.mtp_assumed_acceptance:g} (docs/performance.md#mtp): "
                    "a speed above the ceilings is possible with it"
                )
    lines += [f"note: {n}" for n in report.notes]
    return "\n".join(lines)


def _percent(fraction: float) -> str:
    """41 %, and 0.4 % rather than a misleading 0 %."""
    share = fraction * 100
    return f"{share:.0f} %" if share >= 1 or share == 0 else f"{share:.1g} %"
