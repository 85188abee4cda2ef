"""Compose-style `${VAR}` interpolation against the environment and `.env` files (load.py reads
those), resolved at run time only (pure)."""

from __future__ import annotations

import re
from collections.abc import Mapping
from pathlib import Path

from ling_compose.errors import ConfigError
from ling_compose.load import parse_env_file

# $$ (a literal $), $VAR, ${VAR}, ${VAR:-default}, ${VAR-default}, ${VAR:?error}, ${VAR?error}
_PATTERN = re.compile(
    r"\$(?:(?P<escaped>\$)|(?P<named>[A-Za-z_][A-Za-z0-9_]*)"
    r"|\{(?P<braced>[A-Za-z_][A-Za-z0-9_]*)(?:(?P<op>:?[-?])(?P<arg>[^}]*))?\})"
)


def interpolate(value: str, env: Mapping[str, str], where: str = "") -> str:
    """Resolve one string the way Compose does. Unset `${VAR}` becomes empty, like Compose;
    `${VAR:?msg}` raises ConfigError naming the variable (never its value)."""

    def replace(match: re.Match[str]) -> str:
        if match.group("escaped"):
            return "$"
        name = match.group("named") or match.group("braced")
        op = match.group("op")
        arg = match.group("arg") or ""
        value_ = env.get(name)
        if op in (":-", "-"):
            unset = value_ is None or (op == ":-" and value_ == "")
            return arg if unset else str(value_)
        if op in (":?", "?"):
            if value_ is None or (op == ":?" and value_ == ""):
                place = f" (in {where})" if where else ""
                raise ConfigError(
                    f"required variable {name} is not set{place}: {arg or 'no message'}",
                    hint=f"export {name}=... or put it in the env file (--env-file)",
                )
            return str(value_)
        return "" if value_ is None else str(value_)

    return _PATTERN.sub(replace, value)


def variables(value: str) -> list[str]:
    """Names a string refers to (for `status` and error messages, never values)."""
    return [
        m.group("named") or m.group("braced")
        for m in _PATTERN.finditer(value)
        if not m.group("escaped")
    ]


def run_environment(
    environ: Mapping[str, str], env_file: Path | None, default_env_file: Path | None
) -> dict[str, str]:
    """The variables interpolation sees: the env file, overridden by the process environment
    (Compose's precedence). An explicit env file must exist; the default `.env` may not."""
    merged: dict[str, str] = {}
    if env_file is not None:
        merged.update(parse_env_file(env_file))
    elif default_env_file is not None and default_env_file.is_file():
        merged.update(parse_env_file(default_env_file))
    merged.update(environ)
    return merged
