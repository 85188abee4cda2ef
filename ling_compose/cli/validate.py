"""`validate`: lint a profile's or a compose file's server commands against the pinned flags."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from ling_compose.cli.stack_args import add_stack_arguments, compiled_from_args
from ling_compose.cli.table import print_json
from ling_compose.errors import FlagError, UsageError, cli_command
from ling_compose.flags.validate import FileReport, validate_file
from ling_compose.load import read_compose_file
from ling_compose.safe_text import one_line


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = sub.add_parser(
        "validate",
        help="check a compose file as Compose reads it, and every server argument against "
        "the pinned engine's parser",
        description="Validate PROFILE (as render would compile it) or -f FILE, any compose file: "
        "what Compose v2 would refuse (its schema, ports, durations, references), and every "
        "server argument the engine would refuse or misread (engine and version from "
        "x-ling-compose, else from the image tag). Reports every problem; exit 1 if any.",
    )
    add_stack_arguments(parser)
    parser.add_argument("-f", "--file", type=Path, metavar="FILE", help="a compose file to check")
    parser.add_argument("--json", action="store_true", help="print the report as JSON")
    parser.set_defaults(func=run)
    # PROFILE is optional here: -f FILE is the other way in.
    for action in parser._actions:
        if action.dest == "profile":
            action.nargs = "?"


def run(args: argparse.Namespace) -> int:
    """Exit 0 when nothing would be refused (warnings allowed), 1 when something would: the
    report is on stdout either way, the summary on stderr."""
    if args.file is None:
        if args.profile is None:
            raise UsageError("validate needs PROFILE or -f FILE", hint="e.g. `validate h100-fp8`")
        compiled = compiled_from_args(args)  # compile lints; errors raise FlagError
        data: Any = compiled.project.to_compose()
    else:
        if args.profile is not None:
            raise UsageError("give PROFILE or -f FILE, not both", hint="one names what to check")
        data = read_compose_file(args.file)
    report = validate_file(data)
    if args.json:
        print_json(report.to_json())
    else:
        _print_report(report)
    if not report.ok:
        raise FlagError(
            f"{report.error_count} problem(s): Compose or the engine would refuse this file",
            hint=f"fix each FAIL line above; `{cli_command()} render` writes files that pass",
        )
    return 0


def _print_report(report: FileReport) -> None:
    for problem in report.compose:
        print(f"FAIL  compose: {one_line(str(problem))}")
    for service in report.services:
        where = one_line(
            f"{service.service}: {service.engine or '?'} {service.version or ''}".rstrip()
        )
        for warning in service.warnings:
            print(f"warning: {where}: {one_line(warning)}", file=sys.stderr)
        if service.ok and service.engine:
            print(f"ok    {where}: {len(service.args)} arguments accepted")
        for error in service.errors:
            print(f"FAIL  {where}: {one_line(error.message)}")
            if error.hint:
                print(f"      Hint: {one_line(error.hint)}")
