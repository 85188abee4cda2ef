"""Tool-call and reasoning parser names per (model output format, engine, version).

Profiles name the model's format; each engine's table (`tool_call_parsers`,
`reasoning_parsers` in engines/<engine>.py) turns it into the name that engine version
registers, because the engines disagree (vLLM `hermes` vs SGLang `qwen`) and rename between
releases. A unit test checks every entry against that version's generated catalogue.
"""

from __future__ import annotations

from collections.abc import Mapping

from ling_compose.engines import registry
from ling_compose.errors import FlagError

# The model emits JSON inside <tool_call>...</tool_call>, as Qwen2.5 does (Hermes style).
TOOL_CALL_FORMAT = "hermes_json"

# (format, version) -> parser name; None: the engine needs no parser flag for that format.
ParserTable = Mapping[tuple[str, str], str | None]


def tool_call_parser(tool_format: str, engine: str, version: str) -> str | None:
    """The --tool-call-parser value, or None where the engine takes no parser flag."""
    table = registry.get(engine).tool_call_parsers
    return _lookup(table, "tool-call", tool_format, engine, version)


def reasoning_parser(reasoning_format: str, engine: str, version: str) -> str | None:
    """The --reasoning-parser value, or None where the engine takes no parser flag."""
    table = registry.get(engine).reasoning_parsers
    return _lookup(table, "reasoning", reasoning_format, engine, version)


def _lookup(table: ParserTable, kind: str, fmt: str, engine: str, version: str) -> str | None:
    if (fmt, version) in table:
        return table[fmt, version]
    known = sorted({v for f, v in table if f == fmt})
    formats = sorted({f for f, _ in table})
    if known:
        hint = f"{kind} parsers for {fmt} on {engine} are known for versions: {', '.join(known)}"
    else:
        hint = f"{kind} formats known for {engine}: {', '.join(formats) or 'none'}"
    raise FlagError(
        f"no {kind} parser known for format {fmt!r} on {engine} {version}",
        hint=hint + f" (add an entry to the {engine} engine's table after checking its registry)",
    )
