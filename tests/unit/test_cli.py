"""The CLI in-process: exact streams and exit codes."""

import json
import os
import stat

import pytest
import yaml

from ling_compose.cli import COMMANDS, build_parser, main


def _commands(parser: object) -> list[str]:
    return list(parser._subparsers._group_actions[0].choices)  # type: ignore[attr-defined]


def test_the_command_table_names_what_each_module_registers():
    assert _commands(build_parser()) == list(COMMANDS)  # and in --help's order
    for command, module in COMMANDS.items():
        alone = _commands(build_parser(command))
        assert command in alone
        assert all(COMMANDS[other] == module for other in alone)


def test_an_unknown_command_is_refused_with_every_command_listed(capsys):
    assert main(["rendr", "h100-fp8"]) == 2
    err = capsys.readouterr().err
    assert "invalid choice: 'rendr'" in err and all(f"'{c}'" in err for c in COMMANDS)


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


def _no_cli_on_path(monkeypatch, tmp_path):
    """A fresh clone: nothing of ling_compose on PATH, run as `.venv/bin/python -m ling_compose`."""
    python = tmp_path / ".venv" / "bin" / "python"
    python.parent.mkdir(parents=True)
    python.write_text("")
    empty = tmp_path / "empty-bin"
    empty.mkdir()
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("PATH", str(empty))
    monkeypatch.setattr("sys.executable", str(python))
    monkeypatch.setattr("sys.argv", [str(tmp_path / "ling_compose" / "__main__.py")])


def test_hints_name_the_command_that_runs_here_not_ling_compose(monkeypatch, tmp_path, capsys):
    _no_cli_on_path(monkeypatch, tmp_path)
    assert main(["render", "h100-fp9"]) == 1
    err = capsys.readouterr().err
    assert "`.venv/bin/python -m ling_compose list` shows them all" in err
    assert "ling-compose" not in err
    assert main(["rendr"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: .venv/bin/python -m ling_compose: argument COMMAND")
    assert "run `.venv/bin/python -m ling_compose --help` for usage" in err


def test_hints_say_ling_compose_when_that_is_what_ran_from_path(monkeypatch, tmp_path):
    from ling_compose.errors import cli_command

    script = tmp_path / "bin" / "ling-compose"
    script.parent.mkdir()
    script.write_text("")
    script.chmod(0o755)
    monkeypatch.setattr("sys.argv", [str(script)])
    monkeypatch.setenv("PATH", str(script.parent))
    assert cli_command() == "ling-compose"
    monkeypatch.setenv("PATH", str(tmp_path))  # run by its path, not found on PATH
    monkeypatch.chdir(tmp_path)
    assert cli_command() == "bin/ling-compose"


def test_hints_say_python_when_the_running_python_is_the_one_on_path(monkeypatch, tmp_path):
    from ling_compose.errors import cli_command

    python = tmp_path / "bin" / "python"
    python.parent.mkdir()
    python.write_text("")
    python.chmod(0o755)
    monkeypatch.setattr("sys.executable", str(python))
    monkeypatch.setattr("sys.argv", ["-m"])
    monkeypatch.setenv("PATH", str(python.parent))
    assert cli_command() == "python -m ling_compose"


@pytest.fixture
def umask_022():
    old = os.umask(0o022)
    yield
    os.umask(old)


def test_render_o_gives_a_new_file_the_umask_mode(tmp_path, umask_022):
    target = tmp_path / "docker-compose.yml"
    assert main(["render", "h200-fp8", "-o", str(target)]) == 0
    assert stat.S_IMODE(target.stat().st_mode) == 0o644
    os.umask(0o027)
    again = tmp_path / "second.yml"
    assert main(["render", "h200-fp8", "-o", str(again)]) == 0
    assert stat.S_IMODE(again.stat().st_mode) == 0o640


def test_render_o_keeps_the_mode_of_an_existing_file(tmp_path, umask_022):
    target = tmp_path / "docker-compose.yml"
    target.write_text("old\n")
    target.chmod(0o664)
    assert main(["render", "h200-fp8", "-o", str(target)]) == 0
    assert stat.S_IMODE(target.stat().st_mode) == 0o664
    assert target.read_text().startswith("# Generated by ling_compose")


def test_stack_dir_files_get_the_umask_mode(tmp_path, umask_022):
    assert main(["render", "h200-fp8", "--stack-dir", str(tmp_path / "s")]) == 0
    modes = {p.name: stat.S_IMODE(p.stat().st_mode) for p in (tmp_path / "s").iterdir()}
    assert modes == {"docker-compose.yml": 0o644, ".env.example": 0o644, "README.md": 0o644}


def test_backend_ollama_says_why_it_cannot_serve_this_model(capsys):
    assert main(["render", "h200-fp8", "--backend", "ollama"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: --backend ollama: Ollama cannot load Ling-2.6-flash")
    assert "upstream llama.cpp" in err and "ggml-org/llama.cpp issue 22641" in err
    assert "invalid choice" not in err
    hint = err.split("Hint: ", 1)[1]
    assert "--backend llamacpp" in hint and "recommend" in hint
    assert main(["render", "h200-fp8", "--backend", "tgi"]) == 2  # others: argparse's own message
    assert "invalid choice: 'tgi'" in capsys.readouterr().err
