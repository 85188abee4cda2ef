"""lint_args against the committed catalogues: what the real parsers accept, reject, rewrite."""

from __future__ import annotations

import pytest

from ling_compose.errors import FlagError
from ling_compose.flags.lint import lint_args

GOOD_VLLM = [
    "inclusionAI/Ling-2.6-flash-fp8", "--tensor-parallel-size", "2", "--enable-auto-tool-choice",
    "--tool-call-parser", "hermes", "--trust-remote-code",
]  # fmt: skip
GOOD_SGLANG = [
    "--model-path", "inclusionAI/Ling-2.6-flash-fp8", "--host", "0.0.0.0", "--port", "30000",
    "--tp-size", "4", "--tool-call-parser", "qwen", "--trust-remote-code", "--enable-metrics",
    "--mem-fraction-static", "0.85", "--context-length", "262144",
    "--json-model-override-args", '{"rope_scaling": {"rope_type": "yarn", "factor": 2.0}}',
]  # fmt: skip
GOOD_LLAMACPP = [
    "-m", "/models/ling.gguf", "--host", "0.0.0.0", "--port", "8080", "-ngl", "all",
    "-fa", "on", "--jinja", "-c", "0", "-np", "4", "--n-cpu-moe", "12", "-ot", "exps=CPU",
    "--fit", "off", "--metrics", "-a", "ling-2.6-flash",
]  # fmt: skip


@pytest.mark.parametrize(
    ("backend", "version", "args"),
    [("vllm", "0.33.0", GOOD_VLLM), ("sglang", "0.5.23", GOOD_SGLANG),
     ("llamacpp", "b11434", GOOD_LLAMACPP)],
)  # fmt: skip
def test_known_good_commands_pass_unchanged(backend: str, version: str, args: list[str]) -> None:
    result = lint_args(backend, version, args)
    assert result.args == args
    assert result.warnings == []


def test_vllm_rejects_qwen25_listing_valid_parsers() -> None:
    with pytest.raises(FlagError) as err:
        lint_args(
            "vllm", "0.33.0", ["m", "--enable-auto-tool-choice", "--tool-call-parser", "qwen25"]
        )
    assert "qwen25" in err.value.message and "--tool-call-parser" in err.value.message
    assert (
        err.value.hint is not None
        and "hermes" in err.value.hint
        and "llama3_json" in err.value.hint
    )


def test_sglang_rejects_vllm_style_parser_name() -> None:
    with pytest.raises(FlagError) as err:
        lint_args("sglang", "0.5.23", ["--model-path", "m", "--tool-call-parser", "llama3_json"])
    assert err.value.hint is not None and "llama3," in err.value.hint


def test_sglang_canonicalises_deprecated_parser_alias_with_warning() -> None:
    result = lint_args("sglang", "0.5.23", ["--model-path", "m", "--tool-call-parser", "qwen25"])
    assert result.args == ["--model-path", "m", "--tool-call-parser", "qwen"]
    assert len(result.warnings) == 1 and "qwen25" in result.warnings[0]


def test_sglang_equals_form_is_canonicalised_too() -> None:
    result = lint_args("sglang", "0.5.23", ["--tool-call-parser=qwen25"])
    assert result.args == ["--tool-call-parser=qwen"]


def test_llamacpp_bare_fa_needs_a_value() -> None:
    with pytest.raises(FlagError, match="-fa needs a value") as err:
        lint_args("llamacpp", "b11434", ["-m", "x.gguf", "-fa"])
    assert err.value.hint is not None and "on" in err.value.hint
    # llama.cpp would swallow the next option as the value: also an error.
    with pytest.raises(FlagError, match="-fa needs a value"):
        lint_args("llamacpp", "b11434", ["-fa", "--jinja"])


def test_llamacpp_invalid_enumerated_value() -> None:
    with pytest.raises(FlagError, match="invalid value 'yes' for --flash-attn"):
        lint_args("llamacpp", "b11434", ["--flash-attn", "yes"])


def test_llamacpp_removed_flags() -> None:
    with pytest.raises(FlagError, match="unknown option --mlock"):
        lint_args("llamacpp", "b11434", ["--mlock"])
    with pytest.raises(FlagError, match="--draft has been removed") as err:
        lint_args("llamacpp", "b11434", ["--draft", "4"])
    assert err.value.hint is not None and "--spec-draft-n-max" in err.value.hint


def test_llamacpp_takes_no_equals_form() -> None:
    with pytest.raises(FlagError, match="unknown option --port=8080"):
        lint_args("llamacpp", "b11434", ["--port=8080"])


def test_typo_suggests_nearest_option() -> None:
    with pytest.raises(FlagError) as err:
        lint_args("vllm", "0.33.0", ["m", "--tensor-paralel-size", "2"])
    assert "unknown option --tensor-paralel-size" in err.value.message
    assert err.value.hint is not None and err.value.hint.startswith(
        "did you mean --tensor-parallel-size"
    )


def test_missing_value_before_next_option() -> None:
    with pytest.raises(FlagError, match="--max-model-len needs a value"):
        lint_args("vllm", "0.33.0", ["m", "--max-model-len", "--enforce-eager"])


def test_vllm_value_forms() -> None:
    args = ["m", "--max-model-len", "auto", "--no-enable-prefix-caching", "--disable-log-stats",
            "--hf-overrides", '{"rope_scaling": {"factor": 2.0}}', "--compilation-config.mode", "3",
            "--gpu-memory-utilization=0.9"]  # fmt: skip
    result = lint_args("vllm", "0.33.0", args)
    assert result.args == args and result.warnings == []


def test_vllm_underscores_and_shorthand_are_canonicalised() -> None:
    result = lint_args("vllm", "0.33.0", ["m", "--max_num_seqs", "8", "-O3"])
    assert result.args == ["m", "--max-num-seqs", "8", "--optimization-level", "3"]
    assert len(result.warnings) == 2


def test_abbreviation_warns_and_emits_full_name() -> None:
    result = lint_args("sglang", "0.5.23", ["--model-path", "m", "--tp", "2"])
    assert result.args == ["--model-path", "m", "--tp-size", "2"]
    assert "abbreviation" in result.warnings[0]


def test_ambiguous_abbreviation_is_an_error() -> None:
    with pytest.raises(FlagError, match="ambiguous option --enable"):
        lint_args("sglang", "0.5.23", ["--enable"])


def test_type_checked_numbers() -> None:
    with pytest.raises(FlagError, match="expects an int"):
        lint_args("vllm", "0.33.0", ["m", "--tensor-parallel-size", "two"])
    with pytest.raises(FlagError, match="expects an int"):
        lint_args("llamacpp", "b11434", ["-ngl", "most"])
    assert lint_args("llamacpp", "b11434", ["-ngl", "auto"]).warnings == []


def test_flag_given_a_value_and_stray_positionals() -> None:
    with pytest.raises(FlagError, match="takes no value"):
        lint_args("vllm", "0.33.0", ["m", "--trust-remote-code=true"])
    with pytest.raises(FlagError, match="unexpected positional argument 'true'"):
        lint_args("sglang", "0.5.23", ["--trust-remote-code", "true"])
    with pytest.raises(FlagError, match="unexpected positional"):
        lint_args("vllm", "0.33.0", ["m", "other-model"])


def test_deprecated_option_warns() -> None:
    result = lint_args("vllm", "0.33.0", ["--model", "m"])
    assert result.args == ["--model", "m"]
    assert "positional" in result.warnings[0]
    renamed = lint_args("sglang", "0.5.23", ["--grpc-mode"])
    assert renamed.args == ["--smg-grpc-mode"] and "deprecated" in renamed.warnings[0]


def test_repeated_option_warns() -> None:
    result = lint_args("vllm", "0.33.0", ["m", "--port", "8000", "--port", "8001"])
    assert "more than once" in result.warnings[0]


def test_unknown_version() -> None:
    with pytest.raises(FlagError, match=r"no flag catalogue for sglang 0\.5\.99"):
        lint_args("sglang", "0.5.99", [])
