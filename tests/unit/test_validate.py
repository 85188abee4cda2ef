"""`validate`: profiles and any compose file, against the pinned engines' flag catalogues."""

import json

import pytest

from ling_compose.cli import main
from ling_compose.compose import compile_stack
from ling_compose.errors import ConfigError
from ling_compose.flags.lint import check_args
from ling_compose.flags.validate import validate_compose
from ling_compose.load import Overrides, load_stack

GUIDE_VLLM = {  # the hosting guide's option B, as written there
    "services": {
        "vllm": {
            "image": "vllm/vllm-openai:latest",
            "command": "--model inclusionAI/Ling-2.6-flash-FP8 --tensor-parallel-size 1 "
            "--max-model-len 65536 --enable-auto-tool-choice --tool-call-parser hermes "
            "--trust-remote-code",
        }
    }
}


def test_the_guides_vllm_file_passes_with_warnings_for_latest_and_model():
    (report,) = validate_compose(GUIDE_VLLM)
    assert report.ok and report.engine == "vllm" and report.version == "0.33.0"
    assert any("'latest' is not a version" in w for w in report.warnings)
    assert any("--model is deprecated" in w for w in report.warnings)


def test_a_vllm_style_parser_name_on_sglang_is_rejected_with_the_valid_ones():
    data = {
        "services": {
            "s": {
                "image": "lmsysorg/sglang:v0.5.23",
                "command": [
                    "python3",
                    "-m",
                    "sglang.launch_server",
                    "--model-path",
                    "m",
                    "--tool-call-parser",
                    "llama3_json",
                ],
            }
        }
    }
    (report,) = validate_compose(data)
    (error,) = report.errors
    assert "llama3_json" in error.message and "qwen" in (error.hint or "")


def test_deprecated_sglang_alias_is_canonicalised_with_a_warning():
    data = {
        "services": {
            "s": {
                "image": "lmsysorg/sglang:v0.5.23",
                "entrypoint": ["python3", "-m", "sglang.launch_server"],
                "command": ["--model-path", "m", "--tool-call-parser", "qwen25"],
            }
        }
    }
    (report,) = validate_compose(data)
    assert report.ok and report.args[-1] == "qwen" and report.warnings


def test_unknown_images_are_reported_not_checked():
    (report,) = validate_compose({"services": {"db": {"image": "postgres:16"}}})
    assert (
        report.ok and report.engine is None and "not a known serving engine" in report.warnings[0]
    )


def test_cli_validate_profile_and_file(tmp_path, capsys):
    assert main(["validate", "h100-fp8"]) == 0
    assert capsys.readouterr().out.startswith("ok    server: vllm 0.33.0:")
    bad = tmp_path / "c.yml"
    bad.write_text(
        "services:\n  s:\n    image: vllm/vllm-openai:v0.33.0\n    command: [m, --tensor-paralel-size, '2']\n"
    )
    assert main(["validate", "-f", str(bad)]) == 1
    out, err = capsys.readouterr()
    assert "FAIL  s: vllm 0.33.0: vllm 0.33.0: unknown option --tensor-paralel-size" in out
    assert "did you mean --tensor-parallel-size" in out
    assert err.startswith("error: 1 problem(s): Compose or the engine would refuse this file")


def test_cli_validate_needs_exactly_one_target(capsys):
    assert main(["validate"]) == 2
    assert main(["validate", "h100-fp8", "-f", "x.yml"]) == 2


def test_extra_args_may_not_repeat_an_option_ling_compose_sets():
    with pytest.raises(ConfigError, match="--tool-call-parser"):
        compile_stack(
            load_stack("h100-fp8", Overrides(extra_args=["--tool-call-parser", "pythonic"]))
        )
    compiled = compile_stack(load_stack("h100-fp8", Overrides(extra_args=["--enforce-eager"])))
    assert compiled.project.services["server"].command[-1] == "--enforce-eager"


# -- issue 9 item 13: value types and choices, misleading abbreviations, Compose, all, --json --


def vllm_file(tmp_path, command, extra=""):
    path = tmp_path / "c.yml"
    path.write_text(
        f"services:\n  s:\n    image: vllm/vllm-openai:v0.33.0\n    command: {command}\n{extra}"
    )
    return path


def test_an_abbreviation_argparse_reads_as_another_option_is_an_error(tmp_path, capsys):
    # argparse takes --tool-parser as the unique prefix of --tool-parser-plugin (a plugin file),
    # leaving --enable-auto-tool-choice without a parser.
    path = vllm_file(tmp_path, "[m, --enable-auto-tool-choice, --tool-parser, hermes]")
    assert main(["validate", "-f", str(path)]) == 1
    out = capsys.readouterr().out
    assert "--tool-parser is read as --tool-parser-plugin" in out
    assert "not as --tool-call-parser" in out


def test_values_are_checked_with_the_engines_own_types(tmp_path, capsys):
    path = vllm_file(
        tmp_path,
        "[m, --max-model-len, abc, --gpu-memory-utilization, most, --hf-overrides, '{x: }']",
    )
    assert main(["validate", "-f", str(path)]) == 1
    out = capsys.readouterr().out
    assert "--max-model-len expects an integer, optionally with a size suffix" in out
    assert "--gpu-memory-utilization expects a number, got 'most'" in out
    assert "--hf-overrides expects JSON" in out
    # ... and what the engine accepts passes: vLLM's 32k, 1K, auto; SGLang's 1Ki.
    ok = vllm_file(tmp_path, "[m, --max-model-len, 32k, --max-num-batched-tokens, 1K]")
    assert main(["validate", "-f", str(ok)]) == 0
    capsys.readouterr()
    assert check_args("sglang", "0.5.23", ["--context-length", "1Ki"]).errors == []
    assert check_args("sglang", "0.5.23", ["--context-length", "1K"]).errors  # SGLang: Ki only


def test_llama_cpp_integers_are_read_like_std_stoi():
    result = check_args("llamacpp", "b11434", ["--ctx-size", "4096abc"])
    assert result.errors == [] and "reads it as 4096" in result.warnings[0]
    assert check_args("llamacpp", "b11434", ["--ctx-size", "99999999999"]).errors


def test_every_problem_is_reported_not_only_the_first(tmp_path, capsys):
    path = vllm_file(
        tmp_path,
        "[m, --tensor-paralel-size, '2', --max-model-len, abc, --tool-call-parser, nope, stray]",
        extra="    ports: ['localhost:8000:8000']\n    restart: sometimes-maybe\n",
    )
    assert main(["validate", "-f", str(path), "--json"]) == 1
    out, err = capsys.readouterr()
    report = json.loads(out)
    (service,) = report["services"]
    messages = [e["message"] for e in service["errors"]]
    assert len(messages) == 4
    assert "unknown option --tensor-paralel-size" in messages[0]
    assert "--max-model-len expects" in messages[1]
    assert "invalid value 'nope' for --tool-call-parser" in messages[2]
    assert "unexpected positional argument 'stray'" in messages[3]
    assert report["compose"] == [
        {"path": "services.s.ports[0]", "message": "invalid IP address: localhost"}
    ]
    assert report["ok"] is False and err.startswith("error: 5 problem(s)")


def test_validate_json_of_a_clean_profile(capsys):
    assert main(["validate", "h200-fp8", "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["ok"] is True and report["compose"] == []
    assert report["services"][0]["arguments"][0] == "inclusionAI/Ling-2.6-flash-fp8"


def test_compose_files_are_read_as_yaml_1_2_like_compose(tmp_path, capsys):
    # `restart: no` is the string "no" for Compose v2 (go-yaml v3), a bool for YAML 1.1.
    path = vllm_file(tmp_path, "[m]", extra="    restart: no\n    tty: yes\n")
    assert main(["validate", "-f", str(path)]) == 0


def test_extra_args_may_not_repeat_an_option_under_another_spelling():
    for extra in (
        ["--max_model_len=4096"],  # _ for -
        ["-tp", "2"],  # short alias
        ["--max-model-le", "4096"],  # unique prefix
        ["--no-trust-remote-code"],  # negation
    ):
        with pytest.raises(ConfigError, match="repeat options ling_compose already sets"):
            compile_stack(load_stack("h200-fp8", Overrides(extra_args=extra)))
    for extra in (["-c", "4096"], ["-hfr", "x/y"], ["--ctx_size", "4096"], ["--no-jinja"]):
        with pytest.raises(ConfigError, match="repeat options ling_compose already sets"):
            compile_stack(load_stack("4090-int4", Overrides(extra_args=extra)))
    with pytest.raises(ConfigError, match=r"--tp-size \(as --tp\)"):
        compile_stack(load_stack("h200-bf16", Overrides(extra_args=["--tp", "2"])))
