"""llama.cpp server built from the fork that runs bailing_hybrid (upstream cannot load it).

The image is built by Compose from the fork's git context with upstream's
.devops/cuda.Dockerfile (target `server`: ENTRYPOINT /app/llama-server, port 8080).
Flags are linted against upstream's catalogue at the pinned tag, the closest checkable source:
the fork's own option table is not verified here.
"""

from __future__ import annotations

from pathlib import PurePosixPath

from ling_compose.backends.base import ServerSpec, api_key_ref
from ling_compose.errors import ConfigError
from ling_compose.models.backend import LlamaCppOptions
from ling_compose.models.compose import Build, VolumeMount
from ling_compose.models.stack import MAX_CONTEXT_NATIVE, Stack
from ling_compose.plan import Plan

PINNED_VERSION = (
    "b11434"  # upstream tag whose option catalogue the fork's flags are checked against
)
PORT = 8080
MODEL_DIR = "/models"  # where a local --model-file is mounted in the container
UPSTREAM_IMAGES = ("ghcr.io/ggml-org/llama.cpp", "ghcr.io/ggerganov/llama.cpp")


def _cuda_arch(stack: Stack, backend: LlamaCppOptions) -> str:
    if backend.cuda_arch:
        return backend.cuda_arch
    major, minor = stack.hardware.gpu.capability
    return f"{major}{minor}"  # one architecture: a much shorter build than all of them


def server_spec(stack: Stack, plan: Plan) -> ServerSpec:
    backend = stack.backend
    assert isinstance(backend, LlamaCppOptions)
    serving, ckpt = stack.serving, stack.checkpoint
    upstream = bool(backend.image and backend.image.startswith(UPSTREAM_IMAGES))
    if upstream and backend.model_file is None:
        raise ConfigError(
            f"{backend.image} cannot load Ling-2.6-flash: upstream llama.cpp has no bailing_hybrid "
            "support (ggml-org/llama.cpp issue 22641)",
            hint="leave --image unset to build the fork, pass an image you built from it, or "
            "serve a local GGUF that upstream loads with --model-file",
        )
    assert ckpt.gguf_file is not None
    slots = serving.concurrency
    mounts: list[VolumeMount] = []
    if backend.model_file is not None:
        target = MODEL_DIR + "/" + PurePosixPath(backend.model_file).name
        mounts.append(VolumeMount(source=backend.model_file, target=target, read_only=True))
        model_args = ["--model", target]
    else:
        model_args = ["--hf-repo", ckpt.hf_repo, "--hf-file", ckpt.gguf_file]
    args = [
        *model_args,
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
    build = None
    image = backend.image
    if image is None:
        image = f"ling-compose/llama-server-fork:{backend.fork_ref.lower()}"
        build = Build(
            context=f"{backend.fork_git_url}#{backend.fork_ref}",
            dockerfile=".devops/cuda.Dockerfile",
            target="server",
            args={
                "CUDA_VERSION": backend.cuda_version,
                "CUDA_DOCKER_ARCH": _cuda_arch(stack, backend),
            },
        )
    if build is not None:
        notes = [
            "Built from the llama.cpp fork "
            + f"{backend.fork_git_url}@{backend.fork_ref}: the stock",
            "ghcr.io/ggml-org/llama.cpp:server-cuda image cannot load this architecture. The fork is",
            "shown working on Apple Metal; its CUDA path is unverified upstream.",
        ]
    else:
        notes = [f"Image {image} (--image): ling_compose neither builds nor checks it."]
    if backend.model_file is not None:
        notes += [
            f"Model: the local file {backend.model_file}, mounted read-only at {mounts[0].target}.",
            "This stack serves THAT FILE, not Ling-2.6-flash: the layout and memory lines above are",
            "Ling-2.6-flash's plan and say nothing about it."
            + (" Upstream llama.cpp cannot load Ling-2.6-flash." if upstream else ""),
        ]
    return ServerSpec(
        engine="llamacpp",
        version=backend.version or PINNED_VERSION,
        image=image,
        entrypoint=None,
        args=args + list(serving.extra_args),
        container_port=PORT,
        health_path="/health",
        environment=env,
        build=build,
        notes=notes,
        mounts=mounts,
    )
