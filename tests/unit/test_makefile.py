"""The Makefile's CLI targets, run by the real GNU make: clean YAML, atomic OUT=FILE, exit codes."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

import ling_compose as lc

REPO = Path(__file__).resolve().parents[2]
MAKE_ENV = ("MAKEFLAGS", "MFLAGS", "MAKELEVEL", "MAKEOVERRIDES")  # what a parent make exports

pytestmark = pytest.mark.skipif(shutil.which("make") is None, reason="GNU make is not installed")


def _make(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    """`make -C REPO ARGS` from another folder, as a user renders into their own project: from
    a shell, not inside `make test` (whose MAKEFLAGS would already carry --no-print-directory)."""
    env = {k: v for k, v in os.environ.items() if k not in MAKE_ENV}
    return subprocess.run(
        ["make", "-C", str(REPO), *args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


def _make_version() -> tuple[int, ...]:
    first = subprocess.run(["make", "--version"], capture_output=True, text=True).stdout
    found = re.search(r"GNU Make (\d+)\.(\d+)(?:\.(\d+))?", first)
    assert found, first
    return tuple(int(part or 0) for part in found.groups())


def _rendered(profile: str) -> str:
    return lc.render_yaml(lc.compile_stack(lc.load_stack(profile)).project)


def test_render_under_make_C_never_puts_directory_lines_into_the_yaml(tmp_path: Path) -> None:
    result = _make("render", "PROFILE=h200-fp8", cwd=tmp_path)
    assert "Entering directory" not in result.stdout or "services:" not in result.stdout
    if _make_version() >= (4, 4, 1):
        # MAKEFLAGS += --no-print-directory silences -C's own message from make 4.4.1 on.
        assert result.returncode == 0, result.stderr
        assert result.stdout == _rendered("h200-fp8")
    else:
        # Older make printed the line before reading the Makefile: render refuses stdout.
        assert result.returncode == 2
        assert "services:" not in result.stdout
        assert "Hint: let render write the file atomically" in result.stderr
        assert "OUT=docker-compose.yml" in result.stderr


def test_render_out_writes_exactly_what_the_cli_renders(tmp_path: Path) -> None:
    target = tmp_path / "docker-compose.yml"
    result = _make("render", "PROFILE=h200-fp8", f"OUT={target}", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert target.read_text() == _rendered("h200-fp8")
    assert "services:" not in result.stdout


def test_failed_render_keeps_the_file_and_shows_the_cli_exit_code(tmp_path: Path) -> None:
    target = tmp_path / "docker-compose.yml"
    target.write_text("keep me\n")
    result = _make("render", "PROFILE=h100-fp8", "ARGS=--gpus 1", f"OUT={target}", cwd=tmp_path)
    assert result.returncode == 2  # make's own code for any failed recipe
    assert "ling_compose exited with code 1" in result.stderr
    assert "error: h100-fp8 cannot start" in result.stderr
    assert target.read_text() == "keep me\n"
