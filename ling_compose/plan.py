"""Fit check and capacity plan for a resolved Stack (pure: no I/O).

`make_plan` computes the per-GPU memory breakdown, the largest context and concurrency that
fit and bandwidth ceilings; `check_fits` raises FitError with the arithmetic and the nearest
layouts that work. Figures are GiB unless named otherwise.
"""

from __future__ import annotations

import math
from collections.abc import Callable

from pydantic import BaseModel, ConfigDict

from ling_compose import physics
from ling_compose.errors import FitError, cli_command
from ling_compose.models.backend import LlamaCppOptions, SGLangOptions, VLLMOptions
from ling_compose.models.hardware import GB, GIB
from ling_compose.models.stack import MAX_CONTEXT_NATIVE, MAX_CONTEXT_YARN, Stack

# vLLM: group_norm_size = 4 in layers/mamba/linear/bailing_linear_attn.py → TP in {1, 2, 4}.
VLLM_TENSOR_PARALLEL = (1, 2, 4)
# vLLM's Lightning-attention Triton kernel asks ~128.5 KB of shared memory per block.
VLLM_LIGHTNING_SHARED_KB = 128.5
VLLM_MIN_VERSION = (0, 20, 2)  # earlier releases corrupt RoPE on the MLA layers
SGLANG_MIN_VERSION = (0, 5, 10)
# Estimates, not measurements: activations + CUDA graphs + NCCL buffers per GPU.
ACTIVATION_RESERVE_GIB = {"vllm": 3.0, "sglang": 3.0, "llamacpp": 1.5}
SGLANG_ASSUMED_MEM_FRACTION = 0.85  # SGLang picks about 0.8-0.9 when unset
LLAMACPP_GPU_FRACTION = 0.90  # headroom for the CUDA context and fragmentation
HOST_RAM_MARGIN_GIB = 8.0  # OS, container runtime and the server's own buffers


class Model(BaseModel):
    model_config = ConfigDict(frozen=True)


class GpuBudget(Model):
    """Memory of one GPU, GiB."""

    total: float
    usable: float
    usable_note: str
    weights: float
    reserve: float
    cache_budget: float
    kv_per_seq_at_context: float
    state_per_seq: float
    cache_needed: float


class HostBudget(Model):
    """Host RAM when routed experts are offloaded, GiB."""

    total: float
    experts_in_ram: float
    margin: float
    needed: float
    moe_layers_on_cpu: int
    n_cpu_moe: int


class Throughput(Model):
    active_gb_per_token: float
    single_stream_tok_s: float
    at_concurrency: int
    aggregate_tok_s: float
    bound_by: str


class Plan(Model):
    stack: str
    engine: str
    tensor_parallel: int
    pipeline_parallel: int
    gpus: int
    context_length: int
    concurrency: int
    yarn: bool
    gpu: GpuBudget
    host: HostBudget | None
    max_context_at_1: int
    max_concurrency_at_context: int
    throughput: Throughput
    problems: list[str]
    warnings: list[str]

    @property
    def fits(self) -> bool:
        return not self.problems


def _version_tuple(version: str) -> tuple[int, ...]:
    parts = []
    for piece in version.lstrip("v").split("."):
        digits = "".join(ch for ch in piece if ch.isdigit())
        parts.append(int(digits) if digits else 0)
    return tuple(parts)


def parallelism(stack: Stack) -> tuple[int, int]:
    """(tensor parallel, pipeline parallel) for the stack, derived from the GPU count."""
    pp = stack.backend.pipeline_parallel
    tp = stack.backend.tensor_parallel or max(1, stack.hardware.count // pp)
    return tp, pp


def _kv_gib(stack: Stack, tokens: int) -> float:
    fp8 = stack.backend.engine != "llamacpp" and stack.backend.kv_cache_dtype != "auto"
    return physics.kv_bytes_per_token(fp8) * tokens / GIB


def _max_context(stack: Stack, budget: float, state_seq: float) -> int:
    """Longest context one sequence can have: its state plus KV must fit the cache budget."""
    return max(0, min(MAX_CONTEXT_YARN, int((budget - state_seq) / _kv_gib(stack, 1))))


def _engine_problems(stack: Stack, tp: int, pp: int) -> list[str]:
    """Constraints of the engine and the model, independent of memory."""
    gpu, ckpt, backend = stack.hardware.gpu, stack.checkpoint, stack.backend
    problems: list[str] = []
    if tp * pp != stack.hardware.count:
        problems.append(
            f"tensor parallel {tp} x pipeline parallel {pp} = {tp * pp} GPUs, but the stack "
            f"reserves {stack.hardware.count}"
        )
    if physics.ATTENTION_HEADS % tp:
        problems.append(f"tensor parallel {tp} does not divide the model's 32 attention heads")
    if isinstance(backend, VLLMOptions):
        if tp not in VLLM_TENSOR_PARALLEL:
            problems.append(
                f"vLLM runs this model only at tensor parallel 1, 2 or 4 (group_norm_size 4 in "
                f"bailing_linear_attn.py), not {tp}; for 8 GPUs use tensor parallel 4 x pipeline 2"
            )
        if ckpt.format == "gguf":
            problems.append("vLLM cannot load GGUF files; use the fp8, int4 or bf16 checkpoint")
        if gpu.max_shared_memory_per_block_kb < VLLM_LIGHTNING_SHARED_KB:
            problems.append(
                f"vLLM's Lightning-attention kernel needs ~{VLLM_LIGHTNING_SHARED_KB} KB of shared "
                f"memory per block; {gpu.name} has {gpu.max_shared_memory_per_block_kb} KB"
            )
        if backend.version and _version_tuple(backend.version) < VLLM_MIN_VERSION:
            problems.append(
                f"vLLM {backend.version} predates 0.20.2, which fixed RoPE on the MLA layers"
            )
    if isinstance(backend, SGLangOptions):
        if ckpt.format == "gguf":
            problems.append(
                "SGLang cannot serve this GGUF file; use the fp8, int4 or bf16 checkpoint"
            )
        if backend.version and _version_tuple(backend.version) < SGLANG_MIN_VERSION:
            problems.append(
                f"SGLang {backend.version} predates 0.5.10.post1, the first to run this model"
            )
    if isinstance(backend, LlamaCppOptions):
        if ckpt.format != "gguf":
            problems.append("llama.cpp loads only GGUF files; use the gguf checkpoint")
        if stack.hardware.count != 1:
            problems.append("multi-GPU llama.cpp layouts are not modelled; use 1 GPU")
    if ckpt.precision == "fp8" and gpu.capability < (8, 0):
        problems.append(
            f"FP8 needs compute capability >= 8.0 (Marlin); {gpu.name} has {gpu.compute_capability}"
        )
    return problems


def _gpu_resident(stack: Stack, tp: int, pp: int) -> tuple[GpuBudget, int, int]:
    """vLLM / SGLang: all weights on the GPUs. Returns budget, max context, max concurrency."""
    gpu, ckpt, backend, serving = stack.hardware.gpu, stack.checkpoint, stack.backend, stack.serving
    total = gpu.memory_gib
    if isinstance(backend, VLLMOptions):
        usable = total * backend.gpu_memory_utilization
        note = f"{backend.gpu_memory_utilization:.2f} x {total:.1f} (--gpu-memory-utilization)"
        reserve = ACTIVATION_RESERVE_GIB["vllm"]
    else:
        assert isinstance(backend, SGLangOptions)
        fraction = backend.mem_fraction_static or SGLANG_ASSUMED_MEM_FRACTION
        usable = total * fraction
        source = (
            "--mem-fraction-static" if backend.mem_fraction_static else "SGLang's typical choice"
        )
        note = f"{fraction:.2f} x {total:.1f} ({source}; activations live outside it)"
        reserve = 0.0
    weights = ckpt.weights_gib / (tp * pp)
    budget = usable - weights - reserve
    # The MLA latent is replicated on every tensor-parallel rank; linear state splits by heads.
    kv_seq = _kv_gib(stack, serving.context_length)
    state_seq = physics.LINEAR_STATE_BYTES_PER_SEQ / tp / GIB
    needed = kv_seq + serving.concurrency * state_seq
    max_ctx = _max_context(stack, budget, state_seq)
    max_conc = max(0, int((budget - kv_seq) / state_seq)) if budget > kv_seq else 0
    return (
        GpuBudget(
            total=total,
            usable=usable,
            usable_note=note,
            weights=weights,
            reserve=reserve,
            cache_budget=budget,
            kv_per_seq_at_context=kv_seq,
            state_per_seq=state_seq,
            cache_needed=needed,
        ),
        max_ctx,
        max_conc,
    )


def llamacpp_layers_on_cpu(stack: Stack) -> int:
    """MoE layers whose experts must stay in host RAM for the rest to fit on the GPU."""
    backend = stack.backend
    assert isinstance(backend, LlamaCppOptions)
    if backend.n_cpu_moe is not None:
        return max(0, backend.n_cpu_moe - 1)  # --n-cpu-moe counts layers; layer 0 has no experts
    gpu, ckpt, serving = stack.hardware.gpu, stack.checkpoint, stack.serving
    fixed = (
        physics.other_weights_gib(ckpt)
        + ACTIVATION_RESERVE_GIB["llamacpp"]
        + _kv_gib(stack, serving.context_length) * serving.concurrency
        + serving.concurrency * physics.LINEAR_STATE_BYTES_PER_SEQ / GIB
    )
    room = gpu.memory_gib * LLAMACPP_GPU_FRACTION - fixed
    per_layer = physics.expert_gib_per_moe_layer(ckpt)
    on_gpu = max(0, min(physics.MOE_LAYERS, math.floor(room / per_layer)))
    return physics.MOE_LAYERS - on_gpu


def _offloaded(stack: Stack) -> tuple[GpuBudget, HostBudget, int, int]:
    gpu, ckpt, serving, hw = stack.hardware.gpu, stack.checkpoint, stack.serving, stack.hardware
    cpu_layers = llamacpp_layers_on_cpu(stack)
    per_layer = physics.expert_gib_per_moe_layer(ckpt)
    total = gpu.memory_gib
    usable = total * LLAMACPP_GPU_FRACTION
    weights = physics.other_weights_gib(ckpt) + (physics.MOE_LAYERS - cpu_layers) * per_layer
    reserve = ACTIVATION_RESERVE_GIB["llamacpp"]
    budget = usable - weights - reserve
    kv_seq = _kv_gib(stack, serving.context_length)
    state_seq = physics.LINEAR_STATE_BYTES_PER_SEQ / GIB
    needed = serving.concurrency * (kv_seq + state_seq)  # llama.cpp gives each slot its context
    host_total = hw.host_ram_gb * GB / GIB
    experts_ram = cpu_layers * per_layer
    host = HostBudget(
        total=host_total,
        experts_in_ram=experts_ram,
        margin=HOST_RAM_MARGIN_GIB,
        needed=experts_ram + HOST_RAM_MARGIN_GIB,
        moe_layers_on_cpu=cpu_layers,
        n_cpu_moe=cpu_layers + 1 if cpu_layers else 0,
    )
    max_ctx = _max_context(stack, budget, state_seq)
    max_conc = max(0, int(budget / (kv_seq + state_seq)))
    gpu_budget = GpuBudget(
        total=total,
        usable=usable,
        usable_note=f"{LLAMACPP_GPU_FRACTION:.2f} x {total:.1f} (planning headroom)",
        weights=weights,
        reserve=reserve,
        cache_budget=budget,
        kv_per_seq_at_context=kv_seq,
        state_per_seq=state_seq,
        cache_needed=needed,
    )
    return gpu_budget, host, max_ctx, max_conc


def _throughput(stack: Stack, tp: int, host: HostBudget | None) -> Throughput:
    """Memory-bandwidth ceilings: decode reads the active weights once per step."""
    gpu, ckpt, serving = stack.hardware.gpu, stack.checkpoint, stack.serving
    active = physics.active_gb_per_token(ckpt)
    other_gb = physics.other_weights_gib(ckpt) * GIB / GB
    layer_gb = physics.expert_gib_per_moe_layer(ckpt) * GIB / GB
    cpu_layers = host.moe_layers_on_cpu if host else 0
    gpu_layers = physics.MOE_LAYERS - cpu_layers
    gpu_bw = gpu.memory_bandwidth_gbs * tp
    host_bw = stack.hardware.host_ram_bandwidth_gbs

    def step_seconds(batch: int) -> float:
        touched = physics.expert_fraction_touched(batch)
        return (other_gb + gpu_layers * layer_gb * touched) / gpu_bw + (
            cpu_layers * layer_gb * touched / host_bw
        )

    conc = serving.concurrency
    bound = "host RAM bandwidth (offloaded experts)" if cpu_layers else "GPU memory bandwidth"
    return Throughput(
        active_gb_per_token=active,
        single_stream_tok_s=1.0 / step_seconds(1),
        at_concurrency=conc,
        aggregate_tok_s=conc / step_seconds(conc),
        bound_by=bound,
    )


def make_plan(stack: Stack) -> Plan:
    """The full plan. Problems are listed, not raised: `check_fits` raises."""
    tp, pp = parallelism(stack)
    problems = _engine_problems(stack, tp, pp)
    warnings: list[str] = []
    serving = stack.serving
    if serving.context_length > MAX_CONTEXT_YARN:
        problems.append(
            f"context {serving.context_length} exceeds 262144, the most this model reaches "
            "(131072 native, x2 with YaRN)"
        )
    yarn = serving.context_length > MAX_CONTEXT_NATIVE
    if yarn:
        warnings.append(
            "context above 131072 enables YaRN rope scaling (factor 2); short prompts may lose a little quality"
        )
    host: HostBudget | None = None
    if isinstance(stack.backend, LlamaCppOptions):
        gpu_budget, host, max_ctx, max_conc = _offloaded(stack)
        if host.needed > host.total:
            problems.append(
                f"{host.moe_layers_on_cpu} MoE layers of experts ({host.experts_in_ram:.1f} GiB) must stay in "
                f"host RAM, plus {host.margin:.0f} GiB margin = {host.needed:.1f} GiB, but the host has "
                f"{host.total:.1f} GiB ({stack.hardware.host_ram_gb:g} GB)"
            )
    else:
        gpu_budget, max_ctx, max_conc = _gpu_resident(stack, tp, pp)
    if gpu_budget.cache_budget <= 0:
        problems.append(
            f"weights {gpu_budget.weights:.1f} GiB per GPU"
            + (f" + {gpu_budget.reserve:.1f} GiB activation reserve" if gpu_budget.reserve else "")
            + " exceed the "
            f"usable {gpu_budget.usable:.1f} GiB of one {stack.hardware.gpu.name} ({gpu_budget.usable_note})"
        )
    elif gpu_budget.cache_needed > gpu_budget.cache_budget:
        problems.append(
            f"context {serving.context_length} x concurrency {serving.concurrency} needs "
            f"{gpu_budget.cache_needed:.2f} GiB of cache and state per GPU, but only "
            f"{gpu_budget.cache_budget:.2f} GiB is left after the weights"
        )
    if isinstance(stack.backend, SGLangOptions) and stack.hardware.gpu.is_consumer_class:
        warnings.append(
            "SGLang's Lightning-attention kernels are unverified on GPUs with < 128 KB shared memory per block"
        )
    return Plan(
        stack=stack.name,
        engine=stack.backend.engine,
        tensor_parallel=tp,
        pipeline_parallel=pp,
        gpus=stack.hardware.count,
        context_length=serving.context_length,
        concurrency=serving.concurrency,
        yarn=yarn,
        gpu=gpu_budget,
        host=host,
        max_context_at_1=max_ctx,
        max_concurrency_at_context=max_conc,
        throughput=_throughput(stack, tp, host),
        problems=problems,
        warnings=warnings,
    )


# A suggestion is a human-readable change plus the stack it produces.
Suggestion = tuple[str, Stack]


def check_fits(
    stack: Stack, alternatives: Callable[[Stack], list[Suggestion]] | None = None
) -> Plan:
    """Return the plan, or raise FitError with the arithmetic and the nearest layouts that work."""
    plan = make_plan(stack)
    if plan.fits:
        return plan
    lines = [f"{stack.name} cannot start on {stack.hardware.count} x {stack.hardware.gpu.name}:"]
    lines += [f"  - {p}" for p in plan.problems]
    hint = None
    if alternatives is not None:
        working = [label for label, alt in alternatives(stack) if make_plan(alt).fits]
        if working:
            hint = "nearest layouts that fit: " + "; ".join(working[:3])
    raise FitError(
        "\n".join(lines), hint=hint or f"see `{cli_command()} list` for layouts that fit"
    )
