"""Command line: parses arguments, calls one library function per command, maps errors to exit codes.

The only package that prints or exits. One module per command group (each exposes
`register(subparsers)`, which adds its subparsers and sets `func`: args -> exit code), plus the
arguments they share (stack_args, flag_types) and tables (table). Data goes to stdout,
everything else to stderr.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence
from typing import Any

from ling_compose.errors import EXIT_CODES, LingComposeError, UsageError, cli_command
from ling_compose.safe_text import lines
from ling_compose.version import __version__

# Each command and the module of this package that registers it, in the order of `--help`.
# Running a command imports its module alone, so `render` starts without what `up`, `bench` or
# `detect` need (the docker SDK, HTTP clients, probes); --help and a mistyped command import all.
COMMANDS: dict[str, str] = {
    "render": "render",
    "list": "profiles",
    "schema": "profiles",
    "show": "show",
    "plan": "show",
    "validate": "validate",
    "recommend": "recommend",
    "detect": "detect",
    "doctor": "doctor",
    "up": "runtime",
    "down": "runtime",
    "status": "runtime",
    "logs": "runtime",
    "smoke": "runtime",
    "bench": "bench",
}


class _Parser(argparse.ArgumentParser):
    """argparse that raises UsageError instead of exiting, so main() owns every exit code."""

    def error(self, message: str) -> None:  # type: ignore[override]
        raise UsageError(f"{self.prog}: {message}", hint=f"run `{self.prog} --help` for usage")

    def _get_values(self, action: argparse.Action, arg_strings: list[str]) -> Any:
        # Python 3.11's argparse drops a "--" that is the value itself (`--url=--`) and then
        # hands a one-value option an empty list; read it as the literal text "--", as later
        # Pythons do, so the option's type and checks see a string.
        if action.option_strings and action.nargs is None and arg_strings == ["--"]:
            value = self._get_value(action, "--")
            self._check_value(action, value)
            return value
        return super()._get_values(action, arg_strings)


def build_parser(command: str | None = None) -> argparse.ArgumentParser:
    """The parser of every command, or of `command` alone when it names one."""
    epilog = "exit codes:\n" + "\n".join(
        f"  {code:>3}  {text}" for code, text in EXIT_CODES.items()
    )
    parser = _Parser(
        prog=cli_command(),
        description="Compile typed Ling-2.6-flash serving stacks into Docker Compose files.",
        epilog=epilog,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"ling-compose {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    sub.required = True
    modules = [COMMANDS[command]] if command in COMMANDS else dict.fromkeys(COMMANDS.values())
    for module in modules:
        importlib.import_module(f"{__name__}.{module}").register(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    parser = build_parser(argv[0] if argv else None)
    try:
        args = parser.parse_args(argv)
        code: int = args.func(args)
        return code
    except LingComposeError as err:
        # Messages quote user input: its control characters are shown, not obeyed.
        print("error: " + "\n".join(lines(err.message)), file=sys.stderr)
        if err.hint:
            print("Hint: " + " ".join(lines(err.hint)), file=sys.stderr)
        return err.exit_code
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        # `render ... | head` closed stdout early: not an error worth a traceback.
        return 0
