"""Headers and stack READMEs name the command that really reproduces the file."""

from __future__ import annotations

import shlex
from pathlib import Path

import pytest

import ling_compose as lc
from ling_compose import reproduce
from ling_compose.cli import build_parser, main
from ling_compose.cli.stack_args import overrides_from_args

EXAMPLE_PROFILES = Path(__file__).resolve().parents[2] / "docs" / "examples" / "my-profiles.yml"

EVERY_OVERRIDE = lc.Overrides(
    engine="sglang",
    gpus=4,
    gpu="h100-sxm-80gb",
    host_ram_gib=251.5,
    checkpoint="ling-2.6-flash-bf16",
    tensor_parallel=4,
    pipeline_parallel=1,
    image="lmsysorg/sglang:v0.5.23-cu129",
    context_length=65536,
    concurrency=8,
    port=9000,
    bind="0.0.0.0",
    served_model_name="ling",
    api_key_env="LING_API_KEY",
    tool_calling=False,
    mtp=False,
    speculative_tokens=2,
    monitoring=True,
    extra_args=["--enable-metrics", "--chunked-prefill-size", "4096"],
)


def _command_in_header(text: str) -> list[str]:
    first = text.splitlines()[0]
    command = first.split("`")[1]
    assert command.startswith(f"{reproduce.PROGRAM} render ")
    return shlex.split(command.removeprefix(f"{reproduce.PROGRAM} "))


def test_override_flags_parse_back_to_the_same_overrides() -> None:
    args = reproduce.override_args(EVERY_OVERRIDE.model_dump())
    assert args is not None
    parsed = build_parser().parse_args(["render", "4xh100-bf16", *args])
    assert overrides_from_args(parsed) == EVERY_OVERRIDE


def test_mtp_on_and_off_are_said_as_their_own_flags() -> None:
    for mtp, flag in ((True, "--mtp"), (False, "--no-mtp")):
        args = reproduce.override_args(lc.Overrides(mtp=mtp).model_dump())
        assert args == (flag,)
        parsed = build_parser().parse_args(["render", "h200-fp8", *args])
        assert overrides_from_args(parsed) == lc.Overrides(mtp=mtp)


def test_an_override_the_cli_cannot_say_gives_no_command() -> None:
    assert reproduce.override_args(lc.Overrides(tool_calling=True).model_dump()) is None
    assert reproduce.override_args(lc.Overrides(monitoring=False).model_dump()) is None


def test_header_command_reproduces_a_file_rendered_with_overrides_and_a_profiles_file(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    first = tmp_path / "first.yml"
    argv = ["render", "my-b200", "--profiles-file", str(EXAMPLE_PROFILES), "--port", "8001"]
    argv += ["--context-length", "32768", "--extra-arg=--enforce-eager", "-o", str(first)]
    assert main(argv) == 0
    text = first.read_text()
    assert "--profiles-file" in text.splitlines()[0]
    assert main(_command_in_header(text)) == 0
    assert capsys.readouterr().out == text


def test_builtin_header_command_reproduces_the_stack(capsys: pytest.CaptureFixture[str]) -> None:
    text = lc.render("h100-fp8", lc.Overrides(gpus=4, concurrency=16))
    assert _command_in_header(text) == ["render", "h100-fp8", "--gpus", "4", "--concurrency", "16"]
    assert main(_command_in_header(text)) == 0
    assert capsys.readouterr().out == text


def test_a_stack_built_in_python_names_no_profile_command() -> None:
    spec = lc.ProfileSpec(
        description="FP8 on one B200",
        hardware=lc.HardwareSpec(gpu="b200", count=1),
        checkpoint="ling-2.6-flash-fp8",
        backend=lc.VLLMOptions(),
    )
    header = lc.render_yaml(lc.compile_stack(lc.resolve("b200-fp8", spec)).project)
    first_lines = "\n".join(header.splitlines()[:2])
    assert "render b200-fp8" not in first_lines
    assert "built in Python" in first_lines and "no CLI command reproduces it" in first_lines


def test_stack_dir_readme_says_the_render_command_not_make_stacks(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    argv = ["render", "h200-fp8", "--context-length", "65536", "--stack-dir", "mystack"]
    assert main(argv) == 0
    readme = (tmp_path / "mystack" / "README.md").read_text()
    assert "make stacks" not in readme
    command = f"{reproduce.PROGRAM} render h200-fp8 --context-length 65536 --stack-dir mystack"
    assert f"`{command}`" in " ".join(readme.split())
    before = {p.name: p.read_text() for p in (tmp_path / "mystack").iterdir()}
    assert main(shlex.split(command.removeprefix(f"{reproduce.PROGRAM} "))) == 0
    assert {p.name: p.read_text() for p in (tmp_path / "mystack").iterdir()} == before
    capsys.readouterr()
