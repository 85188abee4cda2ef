"""Fit check and capacity plan for a resolved Stack (pure: no I/O).

`make_plan` computes the per-GPU memory breakdown, how the cache budget is shared by running
sequences (a KV pool in tokens, plus linear-attention state per running sequence), the largest
context and the sequences that fit at full context, and bandwidth ceilings; `check_fits`
raises FitError with the arithmetic and the nearest layouts that work. Memory figures are GiB;
bandwidth and bytes read per token are decimal GB, as datasheets give bandwidth.
"""

from __future__ import annotations

import math
from collections.abc import Callable

from packaging.version import InvalidVersion, Version
from pydantic import BaseModel, ConfigDict

from ling_compose import physics
from ling_compose.errors import FitError, cli_command
from ling_compose.models.backend import LlamaCppOptions, SGLangOptions, VLLMOptions
from ling_compose.models.hardware import GB, GIB, GPU
from ling_compose.models.stack import MAX_CONTEXT_NATIVE, MAX_CONTEXT_YARN, Stack

# vLLM: group_norm_size = 4 in layers/mamba/linear/bailing_linear_attn.py → TP in {1, 2, 4}.
VLLM_TENSOR_PARALLEL = (1, 2, 4)
# vLLM's Lightning-attention Triton kernel asks ~128.5 KB of shared memory per block.
VLLM_LIGHTNING_SHARED_KB = 128.5
VLLM_MIN_VERSION = Version("0.20.2")  # earlier releases corrupt RoPE on the MLA layers
SGLANG_MIN_VERSION = Version("0.5.10.post1")  # the first release that runs this model
# Estimates, not measurements: activations + CUDA graphs + NCCL buffers per GPU.
ACTIVATION_RESERVE_GIB = {"vllm": 3.0, "sglang": 3.0, "llamacpp": 1.5}
SGLANG_ASSUMED_MEM_FRACTION = 0.85  # SGLang picks about 0.8-0.9 when unset
LLAMACPP_GPU_FRACTION = 0.90  # headroom for the CUDA context and fragmentation
HOST_RAM_MARGIN_GIB = 8.0  # OS, container runtime and the server's own buffers

# Bytes per value of the linear-attention state each engine keeps per running sequence:
# - vLLM 0.33.0: the model dtype (bf16) while --mamba-cache-dtype is "auto"
#   (model_executor/models/bailing_moe_linear.py get_mamba_state_dtype_from_config →
#   mamba_utils.py linear_attention_state_dtype → utils/torch_utils.py get_kv_cache_torch_dtype).
# - SGLang 0.5.23: float32 unless the config or SGLANG_MAMBA_SSM_DTYPE says otherwise
#   (srt/configs/mamba_utils.py, "ssm_dtype = torch.float32  # Step 1: Default value").
# - llama.cpp: f32 recurrent state (src/llama-memory-recurrent.cpp type_s).
STATE_BYTES_PER_VALUE = {"vllm": 2, "sglang": 4, "llamacpp": 4}
STATE_DTYPE = {"vllm": "bf16", "sglang": "fp32", "llamacpp": "f32"}
# SGLang 0.5.23 splits what is left after the weights between a linear-state pool and the KV
# pool: state gets ratio / (1 + ratio) with --mamba-full-memory-ratio 0.9
# (srt/arg_groups/fields/schedule.py fallback=0.9; srt/mem_cache/kv_cache_configurator.py).
SGLANG_STATE_TO_KV_RATIO = 0.9
# ... and a running request holds 3 state slots, plus 2 tracking slots of the extra_buffer
# radix-cache strategy it picks for BailingMoeV2_5 with overlap scheduling and the default
# triton linear-attention backend (kv_cache_configurator.py _calculate_mamba_ratio,
# MAMBA_CACHE_SIZE_MAX_RUNNING_REQUESTS_RATIO = 3; mem_cache/allocation_sizing.py
# get_mamba_tracking_slots; arg_groups/overrides.py _mamba_radix_cache_resolution).
SGLANG_STATE_SLOTS_PER_REQUEST = 3 + 2


class Model(BaseModel):
    model_config = ConfigDict(frozen=True)


class GpuBudget(Model):
    """Memory of one GPU, GiB (kv_bytes_per_token in bytes)."""

    total: float
    total_note: str
    usable: float
    usable_note: str
    weights: float
    reserve: float
    cache_budget: float
    kv_bytes_per_token: float
    kv_per_seq_at_context: float
    state_per_seq: float
    state_note: str
    per_seq_at_context: float
    kv_pool: float
    state_pool: float
    pool_note: str
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
    """Decode ceilings: at the datasheet bandwidth (physical) and at the achievable one."""

    active_gb_per_token: float
    at_concurrency: int
    bound_by: str
    datasheet_gbs: float
    achievable_gbs: float
    achievable_note: str
    single_stream_tok_s: float
    aggregate_tok_s: float
    single_stream_tok_s_achievable: float
    aggregate_tok_s_achievable: float


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
    sequences_at_full_context: int
    kv_pool_tokens: int
    running_cap: int | None
    throughput: Throughput
    problems: list[str]
    warnings: list[str]

    @property
    def fits(self) -> bool:
        return not self.problems


def version_below(version: str, minimum: Version) -> bool:
    """PEP 440 order: 0.20.2rc1 < 0.20.2 and 0.5.10 < 0.5.10.post1. Unparseable: not below."""
    try:
        return Version(version) < minimum
    except InvalidVersion:
        return False


def parallelism(stack: Stack) -> tuple[int, int]:
    """(tensor parallel, pipeline parallel) for the stack, derived from the GPU count."""
    pp = stack.backend.pipeline_parallel
    tp = stack.backend.tensor_parallel or max(1, stack.hardware.count // pp)
    return tp, pp


def _kv_bytes_per_token(stack: Stack) -> float:
    fp8 = stack.backend.engine != "llamacpp" and stack.backend.kv_cache_dtype != "auto"
    return physics.kv_bytes_per_token(fp8)


def _kv_gib(stack: Stack, tokens: int) -> float:
    return _kv_bytes_per_token(stack) * tokens / GIB


def _state_gib(stack: Stack, tp: int) -> float:
    """Linear-attention state of one running sequence on one GPU (split across TP by heads)."""
    per_value = STATE_BYTES_PER_VALUE[stack.backend.engine]
    return physics.LINEAR_STATE_VALUES_PER_SEQ * per_value / tp / GIB


def _total(gpu: GPU) -> tuple[float, str]:
    if gpu.cuda_total_measured:
        return gpu.cuda_total_gib, "CUDA total, measured"
    return gpu.cuda_total_gib, (
        f"CUDA total estimated: driver's {gpu.memory_gib:.1f} GiB less the H200's measured reserve"
    )


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
        if backend.version and version_below(backend.version, VLLM_MIN_VERSION):
            problems.append(
                f"vLLM {backend.version} predates {VLLM_MIN_VERSION}, which fixed RoPE on the MLA layers"
            )
    if isinstance(backend, SGLangOptions):
        if ckpt.format == "gguf":
            problems.append(
                "SGLang cannot serve this GGUF file; use the fp8, int4 or bf16 checkpoint"
            )
        if backend.version and version_below(backend.version, SGLANG_MIN_VERSION):
            problems.append(
                f"SGLang {backend.version} predates {SGLANG_MIN_VERSION}, the first to run this model"
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


class _Capacity(Model):
    """How an engine shares the cache budget: what the plan reports beside the budget."""

    kv_pool: float
    state_pool: float
    pool_note: str
    kv_pool_tokens: int
    sequences_at_full_context: int
    max_context_at_1: int
    running_cap: int | None


def _shared_pool(
    budget: float, kv_seq: float, state_seq: float, per_token: float, ctx: int
) -> _Capacity:
    """vLLM v1: one block pool; each running request takes KV blocks for its tokens and state
    blocks from the same pool. vLLM reports its capacity as requests at max_model_len x that
    length (v1/core/kv_cache_utils.py get_kv_cache_capacity)."""
    per_seq = kv_seq + state_seq
    fits = budget / per_seq if budget > 0 else 0.0
    return _Capacity(
        kv_pool=max(0.0, budget),
        state_pool=0.0,
        pool_note="one pool shared by KV and state (vLLM)",
        kv_pool_tokens=int(fits * ctx),
        sequences_at_full_context=int(fits),
        max_context_at_1=max(0, int((budget - state_seq) * GIB / per_token)),
        running_cap=None,
    )


def _split_pool(
    budget: float, kv_seq: float, state_seq: float, per_token: float, ctx: int
) -> _Capacity:
    """SGLang: a state pool of ratio/(1+ratio) of the budget, the rest a KV pool in tokens
    (its max_total_num_tokens); state slots also cap the running requests."""
    state_pool = max(0.0, budget) * SGLANG_STATE_TO_KV_RATIO / (1 + SGLANG_STATE_TO_KV_RATIO)
    kv_pool = max(0.0, budget) - state_pool
    tokens = int(kv_pool * GIB / per_token)
    cap = int(state_pool / state_seq) // SGLANG_STATE_SLOTS_PER_REQUEST
    return _Capacity(
        kv_pool=kv_pool,
        state_pool=state_pool,
        pool_note=(
            f"SGLang splits it: {SGLANG_STATE_TO_KV_RATIO:g}/{1 + SGLANG_STATE_TO_KV_RATIO:g} to "
            f"linear state ({SGLANG_STATE_SLOTS_PER_REQUEST} slots per running request), the rest "
            "to the KV pool"
        ),
        kv_pool_tokens=tokens,
        sequences_at_full_context=min(tokens // ctx, cap),
        max_context_at_1=tokens,
        running_cap=cap,
    )


def _gpu_resident(stack: Stack, tp: int, pp: int) -> tuple[GpuBudget, _Capacity]:
    """vLLM / SGLang: all weights on the GPUs."""
    gpu, ckpt, backend, serving = stack.hardware.gpu, stack.checkpoint, stack.backend, stack.serving
    total, total_note = _total(gpu)
    if isinstance(backend, VLLMOptions):
        # vLLM requests ceil(CUDA total x utilization) (vllm/v1/worker/utils.py request_memory).
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
    per_token = _kv_bytes_per_token(stack)
    kv_seq = _kv_gib(stack, serving.context_length)
    state_seq = _state_gib(stack, tp)
    pool = _shared_pool if isinstance(backend, VLLMOptions) else _split_pool
    capacity = pool(budget, kv_seq, state_seq, per_token, serving.context_length)
    return (
        GpuBudget(
            total=total,
            total_note=total_note,
            usable=usable,
            usable_note=note,
            weights=weights,
            reserve=reserve,
            cache_budget=budget,
            kv_bytes_per_token=per_token,
            kv_per_seq_at_context=kv_seq,
            state_per_seq=state_seq,
            state_note=f"{STATE_DTYPE[backend.engine]}, {backend.engine}'s default",
            per_seq_at_context=kv_seq + state_seq,
            kv_pool=capacity.kv_pool,
            state_pool=capacity.state_pool,
            pool_note=capacity.pool_note,
            cache_needed=serving.concurrency * (kv_seq + state_seq),
        ),
        capacity,
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
        + serving.concurrency * (_kv_gib(stack, serving.context_length) + _state_gib(stack, 1))
    )
    room = _total(gpu)[0] * LLAMACPP_GPU_FRACTION - fixed
    per_layer = physics.expert_gib_per_moe_layer(ckpt)
    on_gpu = max(0, min(physics.MOE_LAYERS, math.floor(room / per_layer)))
    return physics.MOE_LAYERS - on_gpu


def _offloaded(stack: Stack) -> tuple[GpuBudget, HostBudget, _Capacity]:
    """llama.cpp: --ctx-size is split across --parallel slots (n_ctx_seq = n_ctx / n_seq_max
    unless --kv-unified, src/llama-context.cpp at b11434), so every slot owns a full context
    and its recurrent state from the start."""
    gpu, ckpt, serving, hw = stack.hardware.gpu, stack.checkpoint, stack.serving, stack.hardware
    cpu_layers = llamacpp_layers_on_cpu(stack)
    per_layer = physics.expert_gib_per_moe_layer(ckpt)
    total, total_note = _total(gpu)
    usable = total * LLAMACPP_GPU_FRACTION
    weights = physics.other_weights_gib(ckpt) + (physics.MOE_LAYERS - cpu_layers) * per_layer
    reserve = ACTIVATION_RESERVE_GIB["llamacpp"]
    budget = usable - weights - reserve
    per_token = _kv_bytes_per_token(stack)
    kv_seq = _kv_gib(stack, serving.context_length)
    state_seq = _state_gib(stack, 1)
    slots = serving.concurrency
    host_total = hw.host_ram_gib
    experts_ram = cpu_layers * per_layer
    host = HostBudget(
        total=host_total,
        experts_in_ram=experts_ram,
        margin=HOST_RAM_MARGIN_GIB,
        needed=experts_ram + HOST_RAM_MARGIN_GIB,
        moe_layers_on_cpu=cpu_layers,
        n_cpu_moe=cpu_layers + 1 if cpu_layers else 0,
    )
    needed = slots * (kv_seq + state_seq)
    capacity = _Capacity(
        kv_pool=slots * kv_seq,
        state_pool=slots * state_seq,
        pool_note=f"{slots} slot(s), each with its own context and state (llama.cpp)",
        kv_pool_tokens=slots * serving.context_length,
        sequences_at_full_context=slots
        if needed <= budget
        else int(budget // (kv_seq + state_seq)),
        max_context_at_1=max(0, int((budget - state_seq) * GIB / per_token)),
        running_cap=slots,
    )
    gpu_budget = GpuBudget(
        total=total,
        total_note=total_note,
        usable=usable,
        usable_note=f"{LLAMACPP_GPU_FRACTION:.2f} x {total:.1f} (planning headroom)",
        weights=weights,
        reserve=reserve,
        cache_budget=budget,
        kv_bytes_per_token=per_token,
        kv_per_seq_at_context=kv_seq,
        state_per_seq=state_seq,
        state_note=f"{STATE_DTYPE['llamacpp']}, llama.cpp's recurrent state",
        per_seq_at_context=kv_seq + state_seq,
        kv_pool=capacity.kv_pool,
        state_pool=capacity.state_pool,
        pool_note=capacity.pool_note,
        cache_needed=needed,
    )
    return gpu_budget, host, capacity


def _throughput(stack: Stack, tp: int, host: HostBudget | None) -> Throughput:
    """Memory-bandwidth ceilings: decode reads the active weights once per step."""
    gpu, ckpt, serving = stack.hardware.gpu, stack.checkpoint, stack.serving
    active = physics.active_gb_per_token(ckpt)
    other_gb = physics.other_weights_gib(ckpt) * GIB / GB
    layer_gb = physics.expert_gib_per_moe_layer(ckpt) * GIB / GB
    cpu_layers = host.moe_layers_on_cpu if host else 0
    gpu_layers = physics.MOE_LAYERS - cpu_layers
    host_bw = stack.hardware.host_ram_bandwidth_gbs

    def step_seconds(batch: int, per_gpu_gbs: float) -> float:
        touched = physics.expert_fraction_touched(batch)
        return (other_gb + gpu_layers * layer_gb * touched) / (per_gpu_gbs * tp) + (
            cpu_layers * layer_gb * touched / host_bw
        )

    conc = serving.concurrency
    bound = "host RAM bandwidth (offloaded experts)" if cpu_layers else "GPU memory bandwidth"
    if gpu.measured_read_gbs is not None:
        note = f"measured: {gpu.measured_source}"
    else:
        note = (
            f"not measured: datasheet x {gpu.achievable_read_gbs / gpu.memory_bandwidth_gbs:.3f}, "
            "the fraction a streaming read reached on a real H200"
        )
    sheet, real = gpu.memory_bandwidth_gbs, gpu.achievable_read_gbs
    return Throughput(
        active_gb_per_token=active,
        at_concurrency=conc,
        bound_by=bound,
        datasheet_gbs=sheet,
        achievable_gbs=real,
        achievable_note=note,
        single_stream_tok_s=1.0 / step_seconds(1, sheet),
        aggregate_tok_s=conc / step_seconds(conc, sheet),
        single_stream_tok_s_achievable=1.0 / step_seconds(1, real),
        aggregate_tok_s_achievable=conc / step_seconds(conc, real),
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
        gpu_budget, host, capacity = _offloaded(stack)
        if host.needed > host.total:
            problems.append(
                f"{host.moe_layers_on_cpu} MoE layers of experts ({host.experts_in_ram:.1f} GiB) must stay in "
                f"host RAM, plus {host.margin:.0f} GiB margin = {host.needed:.1f} GiB, but the host has "
                f"{host.total:.1f} GiB"
            )
    else:
        gpu_budget, capacity = _gpu_resident(stack, tp, pp)
    g = gpu_budget
    if g.cache_budget <= 0:
        problems.append(
            f"weights {g.weights:.1f} GiB per GPU"
            + (f" + {g.reserve:.1f} GiB activation reserve" if g.reserve else "")
            + " exceed the "
            f"usable {g.usable:.1f} GiB of one {stack.hardware.gpu.name} ({g.usable_note})"
        )
    elif isinstance(stack.backend, LlamaCppOptions):
        if g.cache_needed > g.cache_budget:
            problems.append(
                f"{serving.concurrency} slot(s) x context {serving.context_length} need "
                f"{g.cache_needed:.2f} GiB of KV and state per GPU ({g.per_seq_at_context:.3f} GiB "
                f"each; llama.cpp gives every slot its own context), but only "
                f"{g.cache_budget:.2f} GiB is left after the weights"
            )
    elif capacity.sequences_at_full_context < 1:
        where = "KV pool" if g.state_pool else "cache"
        problems.append(
            f"one sequence at context {serving.context_length} needs {g.kv_per_seq_at_context:.2f} GiB "
            f"of KV + {g.state_per_seq:.3f} GiB of state per GPU, but the {where} has only "
            f"{g.kv_pool:.2f} GiB after the weights (the engine refuses to start)"
        )
    elif serving.concurrency > capacity.sequences_at_full_context:
        warnings.append(
            f"{serving.concurrency} running sequences at context {serving.context_length} need "
            f"{g.cache_needed:.1f} GiB of KV and state per GPU; the {g.cache_budget:.1f} GiB left holds "
            f"{capacity.sequences_at_full_context} at full context, so when all are long the engine "
            "queues or preempts the rest"
        )
    if (
        isinstance(stack.backend, SGLangOptions)
        and 0 < (capacity.running_cap or 0) < serving.concurrency
    ):
        warnings.append(
            f"SGLang's linear-state pool holds {capacity.running_cap} running requests; it caps "
            f"--max-running-requests {serving.concurrency} there"
        )
    if isinstance(stack.backend, SGLangOptions) and stack.hardware.gpu.is_consumer_class:
        warnings.append(
            "SGLang's Lightning-attention kernels are unverified on GPUs with < 128 KB shared memory per block"
        )
    if not stack.hardware.gpu.memory_verified:
        warnings.append(
            f"the catalogue's memory figure for {stack.hardware.gpu.name} is unverified "
            f"({stack.hardware.gpu.memory_source})"
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
        max_context_at_1=min(MAX_CONTEXT_YARN, capacity.max_context_at_1),
        sequences_at_full_context=capacity.sequences_at_full_context,
        kv_pool_tokens=capacity.kv_pool_tokens,
        running_cap=capacity.running_cap,
        throughput=_throughput(stack, tp, host),
        problems=problems,
        warnings=warnings,
    )


# What each engine logs about its cache at start-up, as the plan predicts it: (key, label, unit).
# runtime/engine_report.py reads the engines' lines into the same keys and compares.
ENGINE_FIGURES: dict[str, tuple[tuple[str, str, str], ...]] = {
    "vllm": (
        ("kv_cache_tokens", "KV cache", "tokens"),
        ("max_concurrency", "sequences at full context", "x"),
        ("kv_cache_gib", "KV cache memory per GPU", "GiB"),
    ),
    "sglang": (
        ("kv_cache_tokens", "KV pool (max_total_num_tokens)", "tokens"),
        ("max_running_requests", "running requests", ""),
        ("kv_cache_gib", "KV pool per GPU", "GiB"),
        ("state_gib", "linear-state pool per GPU", "GiB"),
    ),
    "llamacpp": (
        ("context_per_slot", "context per slot", "tokens"),
        ("kv_cache_gib", "KV buffer on the GPU", "GiB"),
        ("state_gib", "recurrent-state buffer", "GiB"),
        ("gpu_weights_gib", "weights on the GPU", "GiB"),
        ("host_weights_gib", "weights in host RAM", "GiB"),
    ),
}


def engine_figures(plan: Plan) -> dict[str, float]:
    """The plan's prediction of each figure in ENGINE_FIGURES[plan.engine]."""
    g = plan.gpu
    if plan.engine == "vllm":
        return {
            "kv_cache_tokens": plan.kv_pool_tokens,
            "max_concurrency": round(g.cache_budget / g.per_seq_at_context, 2),
            "kv_cache_gib": round(g.cache_budget, 2),
        }
    if plan.engine == "sglang":
        # SGLang caps --max-running-requests by its state slots and by half its tokens
        # (kv_cache_configurator.py resolve_max_num_reqs).
        cap = min(plan.concurrency, plan.running_cap or plan.concurrency, plan.kv_pool_tokens // 2)
        return {
            "kv_cache_tokens": plan.kv_pool_tokens,
            "max_running_requests": cap,
            "kv_cache_gib": round(g.kv_pool, 2),
            "state_gib": round(g.state_pool, 2),
        }
    return {
        "context_per_slot": plan.context_length,
        "kv_cache_gib": round(g.kv_pool, 3),
        "state_gib": round(g.state_pool, 3),
        "gpu_weights_gib": round(g.weights, 2),
        "host_weights_gib": round(plan.host.experts_in_ram if plan.host else 0.0, 2),
    }


def memory_summary(plan: Plan) -> str:
    """One line for headers and READMEs: the budget and how many full-length sequences it holds."""
    g = plan.gpu
    return (
        f"{g.weights:.1f} GiB weights + {g.reserve:.1f} GiB reserve of {g.usable:.1f} GiB usable; "
        f"{g.cache_budget:.1f} GiB left for KV cache and state holds {plan.sequences_at_full_context} "
        f"sequences at full context {plan.context_length} ({g.per_seq_at_context:.3f} GiB each; "
        f"{plan.kv_pool_tokens:,} tokens in the KV pool); its {plan.concurrency} running sequences "
        f"(the engine's cap) at full context need {g.cache_needed:.1f} GiB."
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
