"""The parser-name table: every entry is a valid choice of that engine version's catalogue."""

from __future__ import annotations

import pytest

from ling_compose.engines import registry
from ling_compose.errors import FlagError
from ling_compose.flags.catalog import load_catalog
from ling_compose.flags.lint import lint_args
from ling_compose.flags.parsers import reasoning_parser, tool_call_parser


@pytest.mark.parametrize(
    ("table", "option"),
    [("tool_call_parsers", "--tool-call-parser"), ("reasoning_parsers", "--reasoning-parser")],
)
def test_every_entry_is_a_valid_choice(table: str, option: str) -> None:
    entries = [
        (engine.name, version, name)
        for engine in registry.engines()
        for (_fmt, version), name in getattr(engine, table).items()
    ]
    assert {backend for backend, _, _ in entries} == set(registry.BUILT_IN)
    for backend, version, name in entries:
        cat = load_catalog(backend, version)
        opt = cat.option(option)
        if name is None:
            continue
        assert opt is not None and opt.choices is not None, (backend, version)
        assert name in opt.choices, (backend, version, name)
        # Not a deprecated alias either: lint must pass it through unchanged.
        assert (
            lint_args(
                backend, version, [option, name] if backend != "vllm" else ["m", option, name]
            ).warnings
            == []
        )


def test_llamacpp_needs_no_parser_flag_but_jinja_exists() -> None:
    assert tool_call_parser("hermes_json", "llamacpp", "b11434") is None
    assert load_catalog("llamacpp", "b11434").option("--jinja") is not None
    assert load_catalog("llamacpp", "b11434").option("--tool-call-parser") is None


def test_known_entries() -> None:
    assert tool_call_parser("hermes_json", "vllm", "0.33.0") == "hermes"
    assert tool_call_parser("hermes_json", "sglang", "0.5.23") == "qwen"
    assert reasoning_parser("deepseek_r1", "sglang", "0.5.23") == "deepseek-r1"


def test_missing_entry_names_known_versions() -> None:
    with pytest.raises(FlagError) as err:
        tool_call_parser("hermes_json", "vllm", "0.40.0")
    assert err.value.hint is not None and "0.33.0" in err.value.hint
    with pytest.raises(FlagError, match="no tool-call parser"):
        tool_call_parser("xml_glm", "sglang", "0.5.23")
