"""The flags that are not stack overrides (those come from models/overrides.py): value types
with bounds (argparse names the flag, and cli.main turns a refusal into exit 2), and the flags
several commands share."""

from __future__ import annotations

import argparse
import math
import os
import urllib.parse
from collections.abc import Callable

from ling_compose.errors import UsageError


def show_number(value: float) -> str:
    """1000000, not 1e+06; 0.5 as 0.5."""
    return str(int(value)) if float(value).is_integer() else f"{value:g}"


def range_words(
    whole: bool, low: float | None = None, high: float | None = None, *, above_low: bool = False
) -> str:
    """A range in words, as --help and errors say it: "a whole number from 1 to 8", "a number
    above 0 up to 604800", "a number up to 0.98"."""
    words = ["a whole number" if whole else "a number"]
    if low is not None:
        words.append(f"{'above' if above_low else 'from'} {show_number(low)}")
    if high is not None:
        words.append(
            f"{'to' if low is not None and not above_low else 'up to'} {show_number(high)}"
        )
    return " ".join(words)


def number_in(
    low: float, high: float, *, whole: bool = False, above_low: bool = False
) -> Callable[[str], float]:
    """A finite number from `low` (or above it) to `high` (a whole one when `whole`)."""
    what = range_words(whole, low, high, above_low=above_low)

    def parse(text: str) -> float:
        try:
            value = int(text) if whole else float(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected {what}, got {text!r}") from None
        in_range = low < value <= high if above_low else low <= value <= high
        if not (math.isfinite(value) and in_range):
            raise argparse.ArgumentTypeError(f"expected {what}, got {text!r}")
        return value

    parse.__name__ = "number"
    return parse


def whole_number_in(low: int, high: int) -> Callable[[str], int]:
    """A whole number from `low` to `high`."""
    check = number_in(low, high, whole=True)

    def parse(text: str) -> int:
        return int(check(text))

    parse.__name__ = "number"
    return parse


def seconds_up_to(high: float) -> Callable[[str], float]:
    """A duration in seconds, above 0 (requests refuses a zero timeout) and up to `high`."""
    return number_in(0, high, above_low=True)


# A week: the longest a readiness wait or a request may reasonably take (weights download).
WEEK_S = 7 * 24 * 3600
SECONDS = seconds_up_to(WEEK_S)


def http_url(text: str) -> str:
    """An http(s) URL with a host, a port that is a number if there is one, and nothing that
    would print as something else."""
    try:
        parts = urllib.parse.urlsplit(text)
        parts.port  # noqa: B018 (raises ValueError for a port that is not a number)
    except ValueError as err:
        raise argparse.ArgumentTypeError(f"{text!r}: {err}") from None
    if parts.scheme not in ("http", "https") or not parts.hostname or not text.isprintable():
        raise argparse.ArgumentTypeError(
            f"{text!r} is not an http(s) URL such as http://127.0.0.1:8000"
        )
    return text


def env_var_name(text: str) -> str:
    """A name the process environment can hold: not empty, no `=` or NUL, encodable (a name
    from undecodable command-line bytes is not; os.environ would raise on it)."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        raise argparse.ArgumentTypeError(
            f"{text!r} is not an environment variable name (bytes that are not UTF-8)"
        ) from None
    if not text or "=" in text or "\0" in text:
        raise argparse.ArgumentTypeError(f"{text!r} is not an environment variable name")
    return text


def add_docker_host(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--docker-host",
        metavar="URL",
        default=None,
        help="Docker engine to use (default: DOCKER_HOST or the local socket)",
    )


def api_key_from(variable: str | None) -> str | None:
    """The API key in the environment variable `--api-key-env` names (None: none named)."""
    if not variable:
        return None
    key = os.environ.get(variable)
    if not key:
        raise UsageError(f"{variable} is not set", hint=f"export {variable}=...")
    return key
