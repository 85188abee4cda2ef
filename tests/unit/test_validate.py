"""`validate`: profiles and any compose file, against the pinned engines' flag catalogues."""

import pytest

from ling_compose.cli import main
from ling_compose.compose import compile_stack
from ling_compose.errors import ConfigError
from ling_compose.loader import Overrides, load_stack
from ling_compose.validate import validate_compose

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
    assert not report.ok and "llama3_json" in (report.error or "")
    assert "qwen" in (report.hint or "")


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
    assert err.startswith("error: 1 service(s) would be rejected")


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
