"""`validate`: lint a profile's or a compose file's server commands against the pinned flags."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from ling_compose.commands.stack_args import add_stack_arguments, compiled_from_args
from ling_compose.errors import FlagError, UsageError, cli_command
from ling_compose.loader import read_yaml_file
from ling_compose.validate import validate_compose


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = sub.add_parser(
        "validate",
        help="check every server argument against the real parser of the pinned engine",
        description="Validate PROFILE (as render would compile it) or -f FILE, any compose file "
        "(engine and version from x-ling-compose, else from the image tag).",
    )
    add_stack_arguments(parser)
    parser.add_argument("-f", "--file", type=Path, metavar="FILE", help="a compose file to check")
    parser.set_defaults(func=run)
    # PROFILE is optional here: -f FILE is the other way in.
    for action in parser._actions:
        if action.dest == "profile":
            action.nargs = "?"


def run(args: argparse.Namespace) -> int:
    if args.file is None:
        if args.profile is None:
            raise UsageError("validate needs PROFILE or -f FILE", hint="e.g. `validate h100-fp8`")
        compiled = compiled_from_args(args)  # compile lints; errors raise FlagError
        data = compiled.project.to_compose()
    else:
        if args.profile is not None:
            raise UsageError("give PROFILE or -f FILE, not both", hint="one names what to check")
        data = read_yaml_file(args.file)
        if not isinstance(data, dict):
            raise UsageError(
                f"{args.file}: not a compose file", hint="it needs a `services:` mapping"
            )
    failed = []
    for report in validate_compose(data):
        where = f"{report.service}: {report.engine or '?'} {report.version or ''}".rstrip()
        for warning in report.warnings:
            print(f"warning: {where}: {warning}", file=sys.stderr)
        if report.ok:
            if report.engine:
                print(f"ok    {where}: {len(report.args)} arguments accepted")
        else:
            failed.append(report)
            print(f"FAIL  {where}: {report.error}")
            if report.hint:
                print(f"      Hint: {report.hint}")
    if failed:
        raise FlagError(
            f"{len(failed)} service(s) would be rejected by their engine",
            hint=f"fix the arguments above; `{cli_command()} render` emits accepted ones",
        )
    return 0
