"""Tool-call and reasoning parser names per (model output format, backend, version).

Profiles name the model's format; this table turns it into the name the pinned engine
registers, because the engines disagree (vLLM `hermes` vs SGLang `qwen`) and rename between
releases. A unit test checks every entry against that version's generated catalogue.
"""

from __future__ import annotations

from ling_compose.errors import FlagError

# (tool-call format, backend, version) -> --tool-call-parser value; None: the backend needs no
# parser flag (llama.cpp parses tool calls from the chat template, which needs --jinja).
TOOL_CALL_PARSERS: dict[tuple[str, str, str], str | None] = {
    # JSON inside <tool_call>...</tool_call>, as Qwen2.5 and Ling-2.6-flash emit it.
    # vLLM 0.33.0: `hermes` (its registry also maps `qwen3_json` to the same parser class).
    ("hermes_json", "vllm", "0.33.0"): "hermes",
    # SGLang 0.5.23: `qwen` is canonical; `qwen25` is a deprecated alias that it rewrites
    # with a warning, and `auto` would pick `ling3` (GLM-style XML) for model_type
    # bailing_hybrid, which is the wrong format for this model.
    ("hermes_json", "sglang", "0.5.23"): "qwen",
    ("hermes_json", "llamacpp", "b11434"): None,
}

# (reasoning format, backend, version) -> --reasoning-parser value. Ling-2.6-flash has
# thinking off by default and no reasoning parser is emitted for it; entries exist for
# profiles that opt in to a format an engine version names.
REASONING_PARSERS: dict[tuple[str, str, str], str | None] = {
    ("deepseek_r1", "vllm", "0.33.0"): "deepseek_r1",
    ("deepseek_r1", "sglang", "0.5.23"): "deepseek-r1",
    ("deepseek_r1", "llamacpp", "b11434"): None,
}

# Flags a backend needs instead of a parser name, per tool-call format.
LLAMACPP_TOOL_FLAGS: tuple[str, ...] = ("--jinja",)


def tool_call_parser(tool_format: str, backend: str, version: str) -> str | None:
    """The --tool-call-parser value, or None where the backend takes no parser flag."""
    return _lookup(TOOL_CALL_PARSERS, "tool-call", tool_format, backend, version)


def reasoning_parser(reasoning_format: str, backend: str, version: str) -> str | None:
    """The --reasoning-parser value, or None where the backend takes no parser flag."""
    return _lookup(REASONING_PARSERS, "reasoning", reasoning_format, backend, version)


def _lookup(
    table: dict[tuple[str, str, str], str | None],
    kind: str,
    fmt: str,
    backend: str,
    version: str,
) -> str | None:
    key = (fmt, backend, version)
    if key in table:
        return table[key]
    known = sorted({v for f, b, v in table if (f, b) == (fmt, backend)})
    formats = sorted({f for f, b, _ in table if b == backend})
    if known:
        hint = f"{kind} parsers for {fmt} on {backend} are known for versions: {', '.join(known)}"
    else:
        hint = f"{kind} formats known for {backend}: {', '.join(formats) or 'none'}"
    raise FlagError(
        f"no {kind} parser known for format {fmt!r} on {backend} {version}",
        hint=hint + " (add an entry to ling_compose/flags/parsers.py after checking the registry)",
    )
