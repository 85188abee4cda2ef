"""Generate one engine version's flag catalogue from its real code and diff it with the last one."""

from __future__ import annotations

import datetime as dt
import json
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tools.flagcat import envs, llamacpp

CATALOG_DIR = envs.REPO / "ling_compose" / "flags" / "catalogs"
HERE = Path(__file__).resolve().parent

IMAGES = {
    "vllm": "vllm/vllm-openai:v{version}",
    "sglang": "lmsysorg/sglang:v{version}",
    "llamacpp": "ghcr.io/ggml-org/llama.cpp:server-cuda-{version}",
}

SOURCES = {
    "vllm": (
        "PyPI wheel {wheel}: `vllm serve` parser (vllm/entrypoints/cli/serve.py -> "
        "vllm/entrypoints/common/cli_args.py make_arg_parser), tool parsers from "
        "vllm/tool_parsers/__init__.py, reasoning parsers from vllm/reasoning/__init__.py, "
        "quantization methods from vllm/model_executor/layers/quantization/__init__.py"
    ),
    "sglang": (
        "PyPI wheel {wheel}: ServerArgs.add_cli_args (sglang/srt/server_args.py); deprecated "
        "tool-call parser aliases from handle_deprecated_args in "
        "sglang/srt/arg_groups/serving_hook.py"
    ),
    "llamacpp": (
        "PyPI sdist {wheel} (llama.cpp at release tag {version}): common/arg.cpp, "
        "common_params_parser_init() options reaching LLAMA_EXAMPLE_SERVER"
    ),
}


def catalog_path(backend: str, version: str) -> Path:
    return CATALOG_DIR / f"{backend}-{version}.json"


def previous_catalog(backend: str, version: str) -> dict[str, Any] | None:
    """The committed catalogue to diff against: same version if present, else the newest other."""
    same = catalog_path(backend, version)
    if same.exists():
        return dict(json.loads(same.read_text(encoding="utf-8")))
    others = sorted(CATALOG_DIR.glob(f"{backend}-*.json"), key=lambda p: p.stat().st_mtime)
    return dict(json.loads(others[-1].read_text(encoding="utf-8"))) if others else None


def _wheel_name(venv: Path, package: str, version: str) -> str:
    """Reconstruct the installed wheel's file name from its dist-info WHEEL tags."""
    for info in (venv / "lib").glob(f"python*/site-packages/{package}-{version}.dist-info/WHEEL"):
        tags = [
            ln.split(":", 1)[1].strip()
            for ln in info.read_text().splitlines()
            if ln.startswith("Tag:")
        ]
        if tags:
            return f"{package}-{version}-{tags[0]}.whl"
    return f"{package}=={version}"


@dataclass(frozen=True)
class ForkSource:
    """A llama.cpp fork's own common/arg.cpp, for versions no release package carries: the
    file (fetched at the pinned commit), where it came from, and the image built from it."""

    arg_cpp: Path
    source: str  # e.g. "github.com/OWNER/llama.cpp at COMMIT: common/arg.cpp"
    image: str


def introspect(
    backend: str, version: str, venv: Path | None = None, fork: ForkSource | None = None
) -> tuple[dict[str, Any], str]:
    """(catalogue body, source description) read from the engine's real code."""
    if fork is not None:
        if backend != "llamacpp":
            raise SystemExit("--arg-cpp is for llama.cpp forks only")
        body = llamacpp.extract(fork.arg_cpp.read_text(encoding="utf-8"))
        return (
            body,
            f"{fork.source}, common_params_parser_init() options reaching LLAMA_EXAMPLE_SERVER",
        )
    if backend == "llamacpp":
        tree, sdist = envs.llamacpp_tree(version)
        body = llamacpp.extract((tree / "common" / "arg.cpp").read_text(encoding="utf-8"))
        _cross_check_llama_help(version, body)
        return body, SOURCES[backend].format(wheel=sdist, version=version)
    venv = venv or envs.engine_venv(backend, version)
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "body.json"
        # The engine logs to stdout/stderr while importing; keep it out of our output.
        proc = subprocess.run(
            [
                str(venv / "bin" / "python"),
                str(HERE / "_introspect_argparse.py"),
                backend,
                str(out),
            ],
            capture_output=True,
            text=True,
        )
        if proc.returncode != 0:
            sys.stderr.write(proc.stdout[-4000:] + proc.stderr[-4000:])
            raise SystemExit(f"introspecting {backend} {version} failed (exit {proc.returncode})")
        body = dict(json.loads(out.read_text(encoding="utf-8")))
    if body.pop("allow_abbrev", True) is not True:
        # ling_compose.flags.lint assumes argparse abbreviations for both argparse engines.
        raise SystemExit(f"{backend} {version}: parser no longer allows abbreviations; update lint")
    return body, SOURCES[backend].format(wheel=_wheel_name(venv, backend, version), version=version)


def _cross_check_llama_help(version: str, body: dict[str, Any]) -> None:
    """If llama-server was built (verify --build-llama), its --help must list the same options."""
    binary = envs.llama_server_binary(version)
    if binary is None:
        print("note: no llama-server built; skipped the --help cross-check", file=sys.stderr)
        return
    proc = subprocess.run([str(binary), "--help"], capture_output=True, text=True, timeout=60)
    listed = llamacpp.help_spellings(proc.stdout + proc.stderr)
    ours = {n for o in body["options"] for n in (*o["names"], *o["negative_names"])}
    if listed != ours:
        raise SystemExit(
            "arg.cpp extraction disagrees with llama-server --help: "
            f"missing {sorted(listed - ours)}, extra {sorted(ours - listed)}"
        )
    print(f"cross-check: llama-server --help lists the same {len(ours)} spellings", file=sys.stderr)


def build(
    backend: str,
    version: str,
    venv: Path | None = None,
    today: str | None = None,
    fork: ForkSource | None = None,
) -> dict[str, Any]:
    body, source = introspect(backend, version, venv, fork)
    options = sorted(body["options"], key=lambda o: o["names"][0].lstrip("-"))
    return {
        "backend": backend,
        "version": version,
        "image": fork.image if fork else IMAGES[backend].format(version=version),
        "source": source,
        "generated_by": f"python -m tools.flagcat generate {backend} {version}"
        + (f" --arg-cpp FILE --source '{fork.source}' --image {fork.image}" if fork else ""),
        "generated_on": today or dt.date.today().isoformat(),
        "positional": body["positional"],
        "options": options,
        "deprecated_values": body.get("deprecated_values", {}),
    }


def write(doc: dict[str, Any]) -> Path:
    path = catalog_path(doc["backend"], doc["version"])
    path.parent.mkdir(parents=True, exist_ok=True)
    # One option per line: reviewable diffs without a megabyte of indentation.
    head = {k: v for k, v in doc.items() if k not in ("options", "deprecated_values")}
    lines = ["{"]
    for key, value in head.items():
        lines.append(f"  {json.dumps(key)}: {json.dumps(value, ensure_ascii=False)},")
    lines.append('  "options": [')
    opts = [json.dumps(o, ensure_ascii=False) for o in doc["options"]]
    lines.append(",\n".join("    " + o for o in opts))
    lines.append("  ],")
    lines.append(f'  "deprecated_values": {json.dumps(doc["deprecated_values"], sort_keys=True)}')
    lines.append("}")
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path
