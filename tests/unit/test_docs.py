"""The README and docs say commands that run, and describe machines by what they are."""

from __future__ import annotations

import re
import shlex
from pathlib import Path

import pytest

from ling_compose.cli import build_parser
from ling_compose.errors import UsageError

ROOT = Path(__file__).resolve().parents[2]
DOCS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
FIXTURE_READMES = sorted((ROOT / "tests" / "fixtures").rglob("README.md"))


def _commands() -> list[tuple[str, str]]:
    """(file, command) for every `python -m ling_compose ...` line in a code block."""
    found = []
    for doc in DOCS:
        in_block = False
        for line in doc.read_text(encoding="utf-8").splitlines():
            if line.startswith("```"):
                in_block = not in_block
                continue
            text = line.removeprefix("$ ").strip()
            if in_block and re.match(r"python3? -m ling_compose ", text):
                found.append((doc.name, text.split("  #")[0].strip()))
    return found


@pytest.mark.parametrize(("doc", "command"), _commands())
def test_every_documented_command_parses(doc: str, command: str) -> None:
    if "[" in command:  # a synopsis line: [optional] parts
        pytest.skip("synopsis, not a command")
    if "--disk-gb" in command:  # docs/hardware.md's first H200 run, recorded before doctor PROFILE
        pytest.skip("a recorded run of an earlier interface, said so beside it")
    argv = shlex.split(command)[3:]
    for operator in ("|", ">"):  # the shell's, after the command
        argv = argv[: argv.index(operator)] if operator in argv else argv
    try:
        build_parser().parse_args(argv)
    except UsageError as err:
        pytest.fail(f"{doc}: `{command}`: {err}")


def test_readme_use_block_activates_the_venv_first() -> None:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    use = readme.split("## Use", 1)[1]
    block = use.split("```", 2)[1]
    assert block.strip().splitlines()[0].startswith("source .venv/bin/activate")


@pytest.mark.parametrize("path", DOCS + FIXTURE_READMES, ids=lambda p: str(p.relative_to(ROOT)))
def test_machines_are_described_by_what_they_are(path: Path) -> None:
    text = path.read_text(encoding="utf-8")
    for tool_word in ("nvidia-h200", "workplace", "`run` call", "device machine"):
        assert tool_word not in text, f"{path.name} names a machine by a tool: {tool_word!r}"


def test_the_h200_capture_names_gpu_driver_and_cuda() -> None:
    for path in (ROOT / "docs" / "hardware.md", ROOT / "tests" / "fixtures" / "gpus" / "README.md"):
        text = " ".join(path.read_text(encoding="utf-8").split())
        assert "one NVIDIA H200" in text and "driver 580.159.04, CUDA 13.0" in text
