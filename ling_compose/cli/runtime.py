"""`up`, `down`, `status`, `logs`, `smoke`: thin CLI over ling_compose.runtime (progress on stderr)."""

from __future__ import annotations

import argparse
import sys
from contextlib import closing
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ling_compose.cli.flag_types import (
    SECONDS,
    add_docker_host,
    api_key_from,
    env_var_name,
    http_url,
    whole_number_in,
)
from ling_compose.cli.stack_args import (
    add_stack_arguments,
    compiled_from_args,
    make_profile_optional,
)
from ling_compose.cli.table import format_table, print_json
from ling_compose.engines import registry
from ling_compose.errors import UsageError, cli_command
from ling_compose.load import load_compose_project
from ling_compose.runtime import api
from ling_compose.runtime.base import Runtime
from ling_compose.runtime.engine_report import Figure, report_lines
from ling_compose.runtime.health import DEFAULT_TIMEOUT_S

if TYPE_CHECKING:  # not subscriptable at run time
    Sub = argparse._SubParsersAction[argparse.ArgumentParser]


def register(sub: Sub) -> None:
    _register_up(sub)
    _register_down(sub)
    _register_status(sub)
    _register_logs(sub)
    _register_smoke(sub)


def _project_args(parser: argparse.ArgumentParser, short_file: bool = True) -> None:
    parser.add_argument(
        "project",
        nargs="?",
        metavar="PROJECT",
        help="project (or profile) name; default: the only one running",
    )
    names = ["-f", "--file"] if short_file else ["--file"]
    parser.add_argument(
        *names,
        type=Path,
        metavar="FILE",
        help="a docker-compose.yml ling_compose rendered (names the project)",
    )
    add_docker_host(parser)


# -- up -----------------------------------------------------------------------------------------
def _register_up(sub: Sub) -> None:
    parser = sub.add_parser(
        "up",
        help="bring a stack up, wait until it serves, smoke-test it",
        description="Render PROFILE (or read -f FILE) and bring it up through the Docker engine: "
        "network, volumes, containers with GPU requests; then wait until the endpoint serves the "
        "model and run the smoke test. Converges: a second `up` changes nothing. The endpoint "
        "URL goes to stdout, progress to stderr.",
    )
    add_stack_arguments(parser)
    make_profile_optional(parser)  # `up -f FILE` needs none
    parser.add_argument(
        "-f",
        "--file",
        type=Path,
        metavar="FILE",
        help="bring up this docker-compose.yml (one ling_compose rendered)",
    )
    parser.add_argument(
        "--timeout",
        type=SECONDS,
        default=DEFAULT_TIMEOUT_S,
        metavar="SECONDS",
        help=f"give up waiting for readiness after this long "
        f"(default {DEFAULT_TIMEOUT_S:.0f}: a first start downloads the weights)",
    )
    parser.add_argument(
        "--no-smoke",
        dest="smoke",
        action="store_false",
        help="skip the smoke test (chat completion + tool calls)",
    )
    parser.add_argument(
        "--no-wait",
        dest="wait",
        action="store_false",
        help="return once the containers are started",
    )
    parser.add_argument(
        "--env-file",
        type=Path,
        metavar="FILE",
        help="variables for ${VAR} in the file (default: .env beside it); "
        "the process environment wins",
    )
    parser.add_argument("--json", action="store_true", help="print the result as JSON")
    add_docker_host(parser)
    parser.set_defaults(func=run_up)


def run_up(args: argparse.Namespace) -> int:
    working_dir: Path | None = None
    config_files: list[Path] | None = None
    if args.file is not None:
        if args.profile is not None:
            raise UsageError(
                "give PROFILE or -f FILE, not both", hint="`up PROFILE` or `up -f FILE`"
            )
        project = load_compose_project(args.file)
        working_dir = args.file.resolve().parent
        config_files = [args.file.resolve()]
    elif args.profile is not None:
        compiled = compiled_from_args(args)
        for warning in compiled.warnings:
            print(f"warning: {warning}", file=sys.stderr)
        project = compiled.project
    else:
        raise UsageError(
            "up needs a PROFILE or -f FILE", hint=f"`{cli_command()} list` shows profiles"
        )
    with closing(api.default_runtime(args.docker_host)) as runtime:
        result = api.up(
            project,
            timeout_s=args.timeout,
            smoke_test=args.smoke,
            wait=args.wait,
            env_file=args.env_file,
            working_dir=working_dir,
            config_files=config_files,
            runtime=runtime,
        )
    if args.json:
        print_json(result.to_json())
    else:
        print(result.endpoint or "")
        state = (
            "started"
            if not args.wait
            else "ready"
            + (", smoke test passed" if result.smoke else "")
            + (
                f" with {len(result.smoke.warnings)} warning(s)"
                if result.smoke and result.smoke.warnings
                else ""
            )
        )
        print(
            f"{result.project}: {state}; model {result.model!r} at {result.endpoint}",
            file=sys.stderr,
        )
        if result.engine_report is not None:
            _print_engine_report(result.project, result.engine_report)
    return 0


def _print_engine_report(where: str, figures: list[Figure]) -> None:
    """The engine's start-up figures beside the plan's, on stderr; a warning where they differ."""
    if not figures or all(f.reported is None for f in figures):
        print(
            f"{where}: the engine's start-up report (cache size) was not found in its log",
            file=sys.stderr,
        )
        return
    print(f"{where}: engine start-up report beside the plan:", file=sys.stderr)
    for line in report_lines(figures):
        print(line, file=sys.stderr)
    off = [f.label for f in figures if f.disagrees]
    if off:
        print(
            f"warning: {where}: the engine reserved differently than planned ({', '.join(off)}); "
            "the plan's reserve and pool estimates are off for this host (docs/fit-check.md)",
            file=sys.stderr,
        )


# -- down ---------------------------------------------------------------------------------------
def _register_down(sub: Sub) -> None:
    parser = sub.add_parser("down", help="stop and remove a stack (keeps the weights volume)")
    _project_args(parser)
    parser.add_argument(
        "-v",
        "--volumes",
        action="store_true",
        help="also remove named volumes: the weights cache (re-downloaded next time)",
    )
    parser.add_argument(
        "-t",
        "--timeout",
        type=whole_number_in(0, 3600),
        default=10,
        metavar="SECONDS",
        help="grace period before SIGKILL (default 10)",
    )
    parser.set_defaults(func=run_down)


def _target(args: argparse.Namespace, runtime: Runtime) -> str:
    if getattr(args, "file", None) is not None:
        if args.project is not None:
            raise UsageError("give PROJECT or -f FILE, not both", hint="one names the project")
        return load_compose_project(args.file).name
    return api.resolve_project_name(args.project, runtime)


def run_down(args: argparse.Namespace) -> int:
    with closing(api.default_runtime(args.docker_host)) as runtime:
        name = _target(args, runtime)
        if args.volumes:
            doomed = runtime.volumes(name)
            if doomed:
                print(
                    f"removing volumes {', '.join(doomed)}: the cached weights go with them, "
                    "and the next `up` downloads them again",
                    file=sys.stderr,
                )
        result = api.down(name, volumes=args.volumes, timeout_s=args.timeout, runtime=runtime)
    if not (result.containers or result.networks or result.volumes_removed):
        print(f"{name}: nothing to remove", file=sys.stderr)
    return 0


# -- status -------------------------------------------------------------------------------------
def _register_status(sub: Sub) -> None:
    parser = sub.add_parser("status", help="what runs: state, health, endpoint, served model")
    _project_args(parser)
    parser.add_argument("--json", action="store_true", help="machine-readable output")
    parser.set_defaults(func=run_status)


def run_status(args: argparse.Namespace) -> int:
    with closing(api.default_runtime(args.docker_host)) as runtime:
        name = None
        if args.project is not None or args.file is not None:
            name = _target(args, runtime)
        rows = api.status(name, runtime=runtime)
    if args.json:
        print_json([r.to_json() for r in rows])
        return 0
    if not rows:
        print("no ling_compose containers" + (f" for {name}" if name else ""), file=sys.stderr)
        return 0
    table: list[dict[str, Any]] = []
    for r in rows:
        health = r.health or "-"
        if r.exit_code is not None:
            health = f"exit {r.exit_code}"
        table.append(
            {
                "project": r.project,
                "service": r.service,
                "state": r.state,
                "health": health,
                "serving": {True: "yes", False: "no", None: "-"}[r.serving],
                "endpoint": r.endpoint or "-",
                "model": r.model or "-",
                "restarts": r.restarts,
            }
        )
    print(
        format_table(
            table,
            ["project", "service", "state", "health", "serving", "endpoint", "model", "restarts"],
        )
    )
    for r in rows:
        if r.engine_report:
            _print_engine_report(f"{r.project} {r.service}", list(r.engine_report))
    return 0


# -- logs ---------------------------------------------------------------------------------------
def _register_logs(sub: Sub) -> None:
    parser = sub.add_parser("logs", help="container logs (-f follows)")
    _project_args(parser, short_file=False)  # -f means --follow here, as in `docker compose logs`
    parser.add_argument(
        "-f", "--follow", dest="follow", action="store_true", help="keep streaming (Ctrl-C stops)"
    )
    parser.add_argument(
        "--tail",
        type=whole_number_in(0, 1_000_000),
        default=100,
        metavar="N",
        help="last N lines (default 100)",
    )
    parser.add_argument("--service", metavar="NAME", help="only this service")
    parser.set_defaults(func=run_logs)


def run_logs(args: argparse.Namespace) -> int:
    with closing(api.default_runtime(args.docker_host)) as runtime:
        name = _target(args, runtime)
        for line in api.logs(
            name, service=args.service, tail=args.tail, follow=args.follow, runtime=runtime
        ):
            sys.stdout.write(line + "\n")
            if args.follow:
                sys.stdout.flush()
    return 0


# -- smoke --------------------------------------------------------------------------------------
def _register_smoke(sub: Sub) -> None:
    parser = sub.add_parser(
        "smoke", help="smoke-test any OpenAI-compatible endpoint (chat + tools)"
    )
    parser.add_argument(
        "--url", type=http_url, required=True, help="base URL, e.g. http://127.0.0.1:8000"
    )
    parser.add_argument("--model", required=True, help="served model name")
    parser.add_argument(
        "--api-key-env",
        type=env_var_name,
        metavar="VAR",
        help="environment variable with the API key",
    )
    parser.add_argument(
        "--engine",
        choices=registry.names(),
        help="tailor the diagnosis to this engine",
    )
    parser.add_argument(
        "--timeout",
        type=SECONDS,
        default=300.0,
        metavar="SECONDS",
        help="per request (default 300)",
    )
    parser.add_argument("--json", action="store_true", help="print the passed checks as JSON")
    parser.set_defaults(func=run_smoke)


def run_smoke(args: argparse.Namespace) -> int:
    api_key = api_key_from(args.api_key_env)
    report = api.smoke(
        args.url, args.model, api_key=api_key, engine=args.engine, timeout_s=args.timeout
    )
    if args.json:
        print_json(report.to_json())
    else:
        # Warnings (model behaviour, e.g. text instead of a call with "auto") were printed on
        # stderr as they came; the summary counts them so a script sees them on stdout too.
        warned = len(report.warnings)
        note = f" ({warned} warning{'s' if warned != 1 else ''})" if warned else ""
        print(f"smoke test passed: {len(report.checks)} checks against {args.url}{note}")
    return 0
