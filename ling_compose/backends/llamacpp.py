"""llama.cpp server built from the fork that runs bailing_hybrid (upstream cannot load it).

The image is built by Compose from the fork's git context at a pinned commit with the fork's
.devops/cuda.Dockerfile (upstream's of its base, b9049; target `server`: ENTRYPOINT
/app/llama-server, port 8080). Flags are linted against the catalogue generated from the fork's
own common/arg.cpp at that commit (flags/catalogs/llamacpp-b9049-lj-70bfa23.json).
"""

from __future__ import annotations

import re
import textwrap

from ling_compose.backends.base import ServerSpec, api_key_ref
from ling_compose.errors import ConfigError
from ling_compose.hardware.cuda import min_driver_for_cuda
from ling_compose.models.backend import LlamaCppOptions
from ling_compose.models.compose import Build
from ling_compose.models.stack import MAX_CONTEXT_NATIVE, Stack
from ling_compose.plan import Plan

PINNED_VERSION = "b11434"  # upstream release whose catalogue checks upstream llama.cpp images
PORT = 8080
UPSTREAM_IMAGES = ("ghcr.io/ggml-org/llama.cpp", "ghcr.io/ggerganov/llama.cpp")

# The fork. Its branch LJ-Ling-2.6-flash-r2 moves; a commit builds the same code every time.
# 70bfa23 is the newest commit of that branch in the sources checked (its README.md, which
# names the base "2496f9c14, tag b9049" and supersedes the older LJ-Ling-2.6-flash branch);
# common/arg.cpp there is as of bb8a3a2 (b9049's options plus `--spec-type mtp`).
FORK_GIT_URL = "https://github.com/ljubomirj/llama.cpp.git"
FORK_COMMIT = "70bfa23da9cb90e88656c3f32fb5e2ecd9a541e8"
FORK_BRANCH = "LJ-Ling-2.6-flash-r2"
FORK_BASE = "b9049"
FORK_VERSION = f"{FORK_BASE}-lj-{FORK_COMMIT[:7]}"  # also names its flag catalogue
# A local name under `localhost/`: no registry namespace that someone else could register
# (Docker Hub's `ling-compose/...`) can stand in for it; pull_policy: build never pulls it.
FORK_IMAGE = "localhost/ling-compose/llama-server-fork"

# Build args of the fork's .devops/cuda.Dockerfile (ARGs UBUNTU_VERSION=24.04,
# CUDA_VERSION=12.8.1, CUDA_DOCKER_ARCH=default; base nvidia/cuda:${CUDA_VERSION}-devel-
# ubuntu${UBUNTU_VERSION}, gcc-14 as CUDA host compiler). CUDA 12.9.1: its -devel- and -runtime-
# ubuntu24.04 tags are in NVIDIA's supported-tags list (doc/supported-tags.md of
# gitlab.com/nvidia/container-images/cuda) and its nvcc accepts gcc 14 (crt/host_config.h of
# nvidia-cuda-nvcc-cu12 12.9.86: error only for __GNUC__ > 14). tests/fixtures/llamacpp-fork/
# holds those facts with their sources; a test checks these args against them.
UBUNTU_VERSION = "24.04"
CUDA_VERSION = "12.9.1"
DOCKERFILE = ".devops/cuda.Dockerfile"
TARGET = "server"


def _cuda_arch(stack: Stack, backend: LlamaCppOptions) -> str:
    if backend.cuda_arch:
        return backend.cuda_arch
    major, minor = stack.hardware.gpu.capability
    return f"{major}{minor}"  # one architecture: a much shorter build than all of them


def _image_tag(ref: str | None) -> str:
    if ref is None or ref == FORK_COMMIT:
        return FORK_VERSION
    return "ref-" + re.sub(r"[^A-Za-z0-9_.-]", "-", ref)[:100]


def _fork_build(stack: Stack, backend: LlamaCppOptions) -> tuple[Build, list[str]]:
    """The Compose build of the fork at its pinned commit, and the header lines that say so."""
    url = backend.fork_git_url or FORK_GIT_URL
    ref = backend.fork_ref or FORK_COMMIT
    cuda = backend.cuda_version or CUDA_VERSION
    build = Build(
        context=f"{url}#{ref}",  # a commit must be the full 40-character hash (Docker docs)
        dockerfile=DOCKERFILE,
        target=TARGET,
        args={
            "UBUNTU_VERSION": UBUNTU_VERSION,
            "CUDA_VERSION": cuda,
            "CUDA_DOCKER_ARCH": _cuda_arch(stack, backend),
        },
    )
    which = (
        f"commit {FORK_COMMIT} (head of branch {FORK_BRANCH}, based on upstream {FORK_BASE}; "
        "a branch moves, a commit builds the same code every time)"
        if ref == FORK_COMMIT
        else f"ref {ref} (flags checked against {FORK_VERSION}'s options)"
    )
    driver = min_driver_for_cuda(cuda)
    text = (
        f"Built from the llama.cpp fork {url.removesuffix('.git')} at {which}: the stock "
        "ghcr.io/ggml-org/llama.cpp:server-cuda image cannot load this architecture. "
        f"The image is built here ({DOCKERFILE}, target {TARGET}, CUDA {cuda} on Ubuntu "
        f"{UBUNTU_VERSION}), never pulled; CUDA {cuda} needs NVIDIA driver "
        + (f">= {driver} on the host." if driver else "for that CUDA on the host.")
    )
    return build, textwrap.wrap(text, width=96, break_on_hyphens=False)


def server_spec(stack: Stack, plan: Plan) -> ServerSpec:
    backend = stack.backend
    assert isinstance(backend, LlamaCppOptions)
    serving, ckpt = stack.serving, stack.checkpoint
    if backend.image and backend.image.startswith(UPSTREAM_IMAGES):
        raise ConfigError(
            f"{backend.image} cannot load Ling-2.6-flash: upstream llama.cpp has no bailing_hybrid "
            "support (ggml-org/llama.cpp issue 22641)",
            hint="leave --image unset to build the fork, or pass an image you built from it",
        )
    assert ckpt.gguf_file is not None
    slots = serving.concurrency
    args = [
        "--hf-repo",
        ckpt.hf_repo,
        "--hf-file",
        ckpt.gguf_file,
        "--alias",
        serving.served_model_name,
        "--host",
        "0.0.0.0",
        "--port",
        str(PORT),
        "--ctx-size",
        str(serving.context_length * slots),  # shared by all slots
        "--parallel",
        str(slots),
        "--n-gpu-layers",
        "999",
    ]
    if plan.host is not None and plan.host.n_cpu_moe:
        args += [
            "--n-cpu-moe",
            str(plan.host.n_cpu_moe),
        ]  # routed experts of the first N layers in RAM
    args += ["--flash-attn", backend.flash_attn, "--jinja", "--metrics"]  # --jinja: tool calls
    if plan.yarn:
        args += [
            "--rope-scaling",
            "yarn",
            "--rope-scale",
            "2",
            "--yarn-orig-ctx",
            str(MAX_CONTEXT_NATIVE),
        ]
    env = {"LLAMA_CACHE": "/root/.cache/llama.cpp"}
    if serving.api_key_env:
        env["LLAMA_API_KEY"] = api_key_ref(serving.api_key_env)
    build: Build | None = None
    notes: list[str] = []
    image = backend.image
    if image is None:
        build, notes = _fork_build(stack, backend)
        image = f"{FORK_IMAGE}:{_image_tag(backend.fork_ref)}"
    notes.append("The fork is shown working on Apple Metal; its CUDA path is unverified upstream.")
    return ServerSpec(
        engine="llamacpp",
        version=backend.version or FORK_VERSION,
        image=image,
        entrypoint=None,
        args=args + list(serving.extra_args),
        container_port=PORT,
        health_path="/health",
        environment=env,
        build=build,
        notes=notes,
    )
