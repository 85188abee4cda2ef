"""Opt-in: feed every stack's engine command to the REAL parser of its pinned version.

vLLM: the `vllm serve` subcommand parser + validate_parsed_serve_args + the tool/reasoning
parser registries. SGLang: ServerArgs.add_cli_args, parse_args, ServerArgs.from_cli_args + the
tool-parser registry. llama.cpp: the llama-server binary built from the release's source (CPU
build) run with the command plus `--help`: it parses every argument, runs each option's
handler, then prints usage and exits 0 instead of loading a model; without a built binary it
falls back to the arg.cpp catalogue (said so in the output).
"""

from __future__ import annotations

import json
import subprocess
import tempfile
from pathlib import Path

from ling_compose.errors import FlagError
from ling_compose.flags.lint import lint_args
from tools.flagcat import envs
from tools.flagcat.stackfiles import EngineCommand, builtin_stack_files, commands

HERE = Path(__file__).resolve().parent


def _argparse_engine(
    backend: str, version: str, cmds: list[EngineCommand]
) -> list[tuple[str, bool, str]]:
    venv = envs.engine_venv(backend, version)
    with tempfile.TemporaryDirectory() as tmp:
        src, out = Path(tmp) / "in.json", Path(tmp) / "out.json"
        src.write_text(
            json.dumps([{"where": c.where, "args": c.args} for c in cmds]), encoding="utf-8"
        )
        proc = subprocess.run(
            [str(venv / "bin" / "python"), str(HERE / "_verify_argparse.py"), backend, str(src), str(out)],
            capture_output=True, text=True,
        )  # fmt: skip
        if proc.returncode != 0:
            raise SystemExit(f"{backend} {version} verifier crashed:\n{proc.stderr[-3000:]}")
        results = json.loads(out.read_text(encoding="utf-8"))
    how = f"real parser, {backend} {version}"
    return [(r["where"], bool(r["ok"]), f"{r['detail']} [{how}]") for r in results]


def _llamacpp(version: str, cmds: list[EngineCommand], build: bool) -> list[tuple[str, bool, str]]:
    # A fork's commit is in no release package: its catalogue (from its arg.cpp) is the check.
    release = envs.is_llamacpp_release(version)
    binary = envs.llama_server_binary(version, build=build) if release else None
    why = "no llama-server built" if release else "a fork: no release package to build from"
    rows: list[tuple[str, bool, str]] = []
    for c in cmds:
        if binary is None:
            try:
                lint_args("llamacpp", version, c.args)
                rows.append((c.where, True, f"accepted [arg.cpp catalogue only: {why}]"))
            except FlagError as err:
                rows.append((c.where, False, f"{err.message} [arg.cpp catalogue only]"))
            continue
        proc = subprocess.run(
            [str(binary), *c.args, "--help"], capture_output=True, text=True, timeout=120
        )
        errors = [ln for ln in (proc.stderr + proc.stdout).splitlines() if "error" in ln.lower()]
        ok = proc.returncode == 0
        detail = "parsed" if ok else (errors[0] if errors else f"exit {proc.returncode}")
        rows.append((c.where, ok, f"{detail} [llama-server {version} CPU build, argv + --help]"))
    return rows


def verify(files: list[Path], build_llama: bool = False) -> tuple[list[str], int]:
    """(report lines, rejected count) for every engine service in `files`."""
    cmds = commands(files)
    groups: dict[tuple[str, str], list[EngineCommand]] = {}
    for c in cmds:
        groups.setdefault((c.backend, c.version), []).append(c)
    rows: list[tuple[str, bool, str]] = []
    for (backend, version), group in sorted(groups.items()):
        if backend == "llamacpp":
            rows += _llamacpp(version, group, build_llama)
        else:
            rows += _argparse_engine(backend, version, group)
    lines = [f"{'accepted' if ok else 'REJECTED'}  {where}: {detail}" for where, ok, detail in rows]
    if not lines:
        lines = [
            "no engine services found in: " + ", ".join(map(str, files))
            if files
            else "no compose files"
        ]
    return lines, sum(1 for _, ok, _ in rows if not ok)


def default_files() -> list[Path]:
    return builtin_stack_files()
