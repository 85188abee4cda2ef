"""The CLI in-process: exact streams and exit codes."""

import json

import pytest
import yaml

from ling_compose.cli import main


def test_render_prints_yaml_to_stdout_only(capsys):
    assert main(["render", "h100-fp8"]) == 0
    out, err = capsys.readouterr()
    assert yaml.safe_load(out)["services"]["server"]["image"] == "vllm/vllm-openai:v0.33.0"
    assert "Traceback" not in err


def test_render_to_file_with_overrides(tmp_path, capsys):
    target = tmp_path / "stack.yml"
    assert (
        main(
            ["render", "h100-fp8", "-o", str(target), "--context-length", "65536", "--port", "8001"]
        )
        == 0
    )
    data = yaml.safe_load(target.read_text())
    command = data["services"]["server"]["command"]
    assert command[command.index("--max-model-len") + 1] == "65536"
    assert data["services"]["server"]["ports"] == ["127.0.0.1:8001:8000"]
    assert capsys.readouterr().out == ""


def test_refused_layout_exits_1_and_writes_nothing(tmp_path, capsys):
    target = tmp_path / "stack.yml"
    assert main(["render", "h100-fp8", "--gpus", "1", "-o", str(target)]) == 1
    out, err = capsys.readouterr()
    assert out == ""
    assert err.startswith("error: h100-fp8 cannot start")
    assert "Hint: nearest layouts that fit: --gpus 2" in err
    assert not target.exists()
    assert list(tmp_path.iterdir()) == []  # no temporary file left either


def test_missing_model_file_is_a_config_error_not_a_traceback(tmp_path, capsys):
    target = tmp_path / "stack.yml"
    missing = tmp_path / "nope.gguf"
    code = main(["render", "4090-int4", "--model-file", str(missing), "-o", str(target)])
    out, err = capsys.readouterr()
    assert code == 1 and out == "" and not target.exists()
    assert err.startswith(f"error: 4090-int4: backend.model_file: cannot read {missing}")
    assert "Hint: check the path" in err and "Traceback" not in err


def test_failed_render_keeps_an_existing_file_intact(tmp_path):
    target = tmp_path / "stack.yml"
    target.write_text("keep me\n")
    assert main(["render", "h100-fp8", "--gpus", "1", "-o", str(target)]) == 1
    assert target.read_text() == "keep me\n"


def test_unknown_profile_suggests_the_nearest(capsys):
    assert main(["render", "h100-fp9"]) == 1
    err = capsys.readouterr().err
    assert "unknown profile 'h100-fp9'" in err and "did you mean 'h100-fp8'" in err


def test_usage_errors_exit_2(capsys):
    assert main(["render", "h100-fp8", "--context-length", "lots"]) == 2
    assert "invalid int value" in capsys.readouterr().err
    assert main([]) == 2


def test_list_shows_every_profile_and_whether_it_fits(capsys):
    assert main(["list", "--json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert {r["profile"] for r in rows} >= {
        "3090-int4",
        "4090-int4",
        "a100-fp8",
        "h100-fp8",
        "4xh100-bf16",
        "h200-fp8",
        "h200-bf16",
        "4xh20-bf16",
        "h100-int4",
    }
    assert all(r["fits"] for r in rows)


def test_list_marks_a_user_profile_that_cannot_fit(tmp_path, capsys):
    user = tmp_path / "p.yml"
    user.write_text(
        "profiles:\n  tiny-fp8:\n    description: FP8 on one H100\n"
        "    hardware: {gpu: h100-sxm-80gb, count: 1}\n"
        "    checkpoint: ling-2.6-flash-fp8\n    backend: {engine: vllm}\n"
    )
    assert main(["list", "--profiles-file", str(user)]) == 0
    line = next(ln for ln in capsys.readouterr().out.splitlines() if ln.startswith("tiny-fp8"))
    assert "NO: weights 98.4 GiB" in line


def test_show_explains_derived_values(capsys):
    assert main(["show", "h100-fp8", "--gpus", "4"]) == 0
    out = capsys.readouterr().out
    row = next(ln for ln in out.splitlines() if ln.startswith("tensor parallel"))
    assert " 4 " in row and "derived: 4 GPUs" in row
    gpus = next(ln for ln in out.splitlines() if ln.startswith("gpus"))
    assert "override" in gpus


def test_plan_json_and_exit_code_for_a_layout_that_does_not_fit(capsys):
    assert main(["plan", "h100-fp8", "--gpus", "1", "--json"]) == 1
    data = json.loads(capsys.readouterr().out)
    assert data["fits"] is False and data["gpu"]["weights"] == pytest.approx(98.37, abs=0.01)


def test_schema_is_json_schema_of_profiles_files(capsys):
    assert main(["schema"]) == 0
    schema = json.loads(capsys.readouterr().out)
    assert schema["title"] == "ProfilesFile"
    assert "ProfileSpec" in schema["$defs"]


def test_invalid_profiles_file_names_file_and_field(tmp_path, capsys):
    user = tmp_path / "bad.yml"
    user.write_text(
        "profiles:\n  x:\n    description: d\n    hardware: {gpu: h200, count: 1}\n"
        "    checkpoint: ling-2.6-flash-fp8\n    backend: {engine: vllm, tensor_paralel: 2}\n"
    )
    assert main(["render", "x", "--profiles-file", str(user)]) == 1
    err = capsys.readouterr().err
    assert f"{user}: profiles.x.backend.vllm.tensor_paralel: Extra inputs are not permitted" in err
    assert "Hint:" in err
