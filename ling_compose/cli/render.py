"""`render PROFILE`: compose YAML to stdout, to a file (-o, atomic) or as a stack folder."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from ling_compose.cli.stack_args import add_stack_arguments, compiled_from_args
from ling_compose.compose import render_yaml
from ling_compose.write import write_atomic


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = sub.add_parser("render", help="compile a profile into docker-compose.yml")
    add_stack_arguments(parser)
    out = parser.add_mutually_exclusive_group()
    out.add_argument("-o", "--output", type=Path, metavar="FILE", help="write here (atomically)")
    out.add_argument(
        "--stack-dir",
        type=Path,
        metavar="DIR",
        help="write DIR/docker-compose.yml, DIR/.env.example and DIR/README.md",
    )
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    compiled = compiled_from_args(args)  # raises before anything is written
    for warning in compiled.warnings:
        print(f"warning: {warning}", file=sys.stderr)
    if args.stack_dir is not None:
        from ling_compose.compose.stack_dir import write_stack_dir  # jinja2 only for a folder

        for path in write_stack_dir(compiled, args.stack_dir):
            print(f"wrote {path}", file=sys.stderr)
    elif args.output is not None:
        write_atomic(args.output, render_yaml(compiled.project))
        print(f"wrote {args.output} ({compiled.endpoint})", file=sys.stderr)
    else:
        sys.stdout.write(render_yaml(compiled.project))
    return 0
