"""Backend options: one typed model per serving engine, discriminated by `engine`."""

from __future__ import annotations

import re
from typing import Annotated, Literal

from pydantic import AfterValidator, Field

from ling_compose.models.base import StrictModel

# Docker's image reference grammar, from github.com/distribution/reference regexp.go (commit
# 00a09fa) and reference.go (NameTotalLengthMax = 255): the engine and Compose refuse anything
# else with "invalid reference format". Go's \w is ASCII, hence the explicit classes.
_PATH_COMPONENT = r"[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*"
_DOMAIN_COMPONENT = r"(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])"
_DOMAIN = rf"(?:{_DOMAIN_COMPONENT}(?:\.{_DOMAIN_COMPONENT})*|\[[a-fA-F0-9:]+\])(?::[0-9]+)?"
_NAME = rf"(?:{_DOMAIN}/)?{_PATH_COMPONENT}(?:/{_PATH_COMPONENT})*"
_IMAGE_REFERENCE = re.compile(
    rf"(?P<name>{_NAME})(?::[A-Za-z0-9_][A-Za-z0-9_.-]{{0,127}})?"
    r"(?:@[A-Za-z][A-Za-z0-9]*(?:[-_+.][A-Za-z][A-Za-z0-9]*)*:[0-9a-fA-F]{32,})?"
)
IMAGE_NAME_MAX = 255


def check_image_reference(value: str) -> str:
    """`value` if Docker accepts it as an image reference, else ValueError saying why."""
    match = _IMAGE_REFERENCE.fullmatch(value)
    if match is None:
        raise ValueError(
            "not a Docker image reference: [REGISTRY[:PORT]/]NAME[:TAG][@DIGEST], NAME in "
            "lower case (letters, digits, '.', '_', '-' between them, '/' between parts), "
            "no spaces"
        )
    if len(match.group("name")) > IMAGE_NAME_MAX:
        raise ValueError(f"image name longer than {IMAGE_NAME_MAX} characters")
    return value


ImageReference = Annotated[str, AfterValidator(check_image_reference)]
ParallelSize = Annotated[int, Field(ge=1, le=8)]  # shared by profile files and overrides
# A path as the user typed it (checked for a readable GGUF file by the loader): one line, and no
# longer than Linux's PATH_MAX.
LocalPath = Annotated[str, Field(min_length=1, max_length=4096, pattern=r"^[^\x00-\x1f]+$")]


class _BackendBase(StrictModel):
    version: str | None = Field(
        default=None, description="Engine version; default: the version ling_compose pins"
    )
    image: ImageReference | None = Field(
        default=None, description="Image override; default: the pinned image"
    )
    tensor_parallel: ParallelSize | None = Field(
        default=None, description="Default: GPU count ÷ pipeline_parallel"
    )
    pipeline_parallel: ParallelSize = 1


class VLLMOptions(_BackendBase):
    engine: Literal["vllm"] = "vllm"
    gpu_memory_utilization: float = Field(
        default=0.92,
        gt=0.1,
        le=0.98,
        description="Fraction of each GPU for weights + activations + KV (vLLM's default 0.92)",
    )
    kv_cache_dtype: Literal["auto", "fp8"] = "auto"
    enforce_eager: bool = False


class SGLangOptions(_BackendBase):
    engine: Literal["sglang"] = "sglang"
    mem_fraction_static: float | None = Field(
        default=None,
        gt=0.1,
        le=0.95,
        description="Weights + KV pool fraction; unset lets SGLang choose (about 0.8-0.9)",
    )
    kv_cache_dtype: Literal["auto", "fp8_e4m3"] = "auto"


class LlamaCppOptions(_BackendBase):
    engine: Literal["llamacpp"] = "llamacpp"
    fork_git_url: str | None = Field(
        default=None,
        description="Git URL of the llama.cpp fork to build (upstream cannot load "
        "bailing_hybrid); default: github.com/ljubomirj/llama.cpp",
    )
    fork_ref: str | None = Field(
        default=None,
        description="Commit (full 40-character hash), tag or branch to build; default: the "
        "commit ling_compose pins",
    )
    cuda_version: str | None = Field(
        default=None,
        description="CUDA_VERSION build arg: an nvidia/cuda -devel-ubuntu24.04 tag whose nvcc "
        "accepts gcc 14 (12.8 or newer); default: the pinned 12.9.1 (host driver >= 575)",
    )
    cuda_arch: str | None = Field(
        default=None, description="e.g. 89 for RTX 4090; default: from the GPU"
    )
    n_cpu_moe: int | None = Field(
        default=None,
        ge=0,
        le=31,
        description="MoE layers whose routed experts stay in host RAM; default: planned to fit",
    )
    flash_attn: Literal["on", "off", "auto"] = "auto"
    model_file: LocalPath | None = Field(
        default=None,
        description="A local GGUF file to serve instead of downloading the checkpoint (mounted "
        "read-only; a relative path is taken from the current directory). The stack then serves "
        "that file, not Ling-2.6-flash; with it, an upstream llama.cpp image is allowed",
    )


BackendOptions = Annotated[
    VLLMOptions | SGLangOptions | LlamaCppOptions, Field(discriminator="engine")
]
Engine = Literal["vllm", "sglang", "llamacpp"]
