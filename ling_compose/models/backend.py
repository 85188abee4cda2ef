"""Backend options: one typed model per serving engine, discriminated by `engine`."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field

from ling_compose.models.base import StrictModel


class _BackendBase(StrictModel):
    version: str | None = Field(
        default=None, description="Engine version; default: the version ling_compose pins"
    )
    image: str | None = Field(default=None, description="Image override; default: the pinned image")
    tensor_parallel: int | None = Field(
        default=None, ge=1, le=8, description="Default: GPU count ÷ pipeline_parallel"
    )
    pipeline_parallel: int = Field(default=1, ge=1, le=8)


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
    model_file: str | None = Field(
        default=None,
        description="A local GGUF file to serve instead of downloading the checkpoint (mounted "
        "read-only; a relative path is taken from the current directory). The stack then serves "
        "that file, not Ling-2.6-flash; with it, an upstream llama.cpp image is allowed",
    )


BackendOptions = Annotated[
    VLLMOptions | SGLangOptions | LlamaCppOptions, Field(discriminator="engine")
]
Engine = Literal["vllm", "sglang", "llamacpp"]
