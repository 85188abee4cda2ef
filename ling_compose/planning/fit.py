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

from ling_compose.engines import registry
from ling_compose.engines.base import Engine
from ling_compose.errors import FitError, cli_command
from ling_compose.models.hardware import GB, GIB, GPU
from ling_compose.models.plan import (
    CacheDemand,
    Capacity,
    GpuBudget,
    HostBudget,
    MtpChoice,
    MtpGain,
    Plan,
    Throughput,
)
from ling_compose.models.stack import MAX_CONTEXT_NATIVE, MAX_CONTEXT_YARN, Stack
from ling_compose.planning import model_facts, speculative

HOST_RAM_MARGIN_GIB = 8.0  # OS, container runtime and the server's own buffers


def engine_of(stack: Stack) -> Engine:
    return registry.get(stack.backend.engine)


def parallelism(stack: Stack) -> tuple[int, int]:
    """(tensor parallel, pipeline parallel) for the stack, derived from the GPU count."""
    pp = stack.backend.pipeline_parallel
    tp = stack.backend.tensor_parallel or max(1, stack.hardware.count // pp)
    return tp, pp


def _kv_bytes_per_token(stack: Stack, mtp: bool = False) -> float:
    return model_facts.kv_bytes_per_token(engine_of(stack).fp8_kv_cache(stack.backend), mtp)


def _kv_gib(stack: Stack, tokens: int, mtp: bool = False) -> float:
    return _kv_bytes_per_token(stack, mtp) * tokens / GIB


def _state_gib(stack: Stack, tp: int) -> float:
    """Linear-attention state of one running sequence on one GPU (split across TP by heads)."""
    per_value = engine_of(stack).state_bytes_per_value
    return model_facts.LINEAR_STATE_VALUES_PER_SEQ * per_value / tp / GIB


def _total(gpu: GPU) -> tuple[float, str]:
    if gpu.cuda_total_measured:
        return gpu.cuda_total_gib, "CUDA total, measured"
    return gpu.cuda_total_gib, (
        f"CUDA total estimated: driver's {gpu.memory_gib:.1f} GiB less the H200's measured reserve"
    )


def _engine_problems(stack: Stack, tp: int, pp: int) -> list[str]:
    """Constraints of the engine and the model, independent of memory."""
    gpu, ckpt = stack.hardware.gpu, stack.checkpoint
    problems: list[str] = []
    if tp * pp != stack.hardware.count:
        problems.append(
            f"tensor parallel {tp} x pipeline parallel {pp} = {tp * pp} GPUs, but the stack "
            f"reserves {stack.hardware.count}"
        )
    if model_facts.ATTENTION_HEADS % tp:
        problems.append(f"tensor parallel {tp} does not divide the model's 32 attention heads")
    problems += _node_problems(stack, tp, pp)
    engine = engine_of(stack)
    problems += engine.problems(stack, tp, pp)
    problems += engine.version_problems(stack.backend)
    if ckpt.precision == "fp8" and gpu.capability < (8, 0):
        problems.append(
            f"FP8 needs compute capability >= 8.0 (Marlin); {gpu.name} has {gpu.compute_capability}"
        )
    return problems


def _node_problems(stack: Stack, tp: int, pp: int) -> list[str]:
    """A server over several nodes keeps each tensor-parallel group inside one node (its
    all-reduce runs every layer) and puts whole pipeline stages on each node."""
    hw, engine = stack.hardware, engine_of(stack)
    if hw.nodes == 1:
        return []
    problems: list[str] = []
    if not engine.spans_nodes:
        problems.append(f"{engine.display_name} cannot spread one server over {hw.nodes} nodes")
    if hw.count % hw.nodes:
        problems.append(f"{hw.count} GPUs do not split evenly over {hw.nodes} nodes")
    elif pp % hw.nodes:
        problems.append(
            f"pipeline parallel {pp} does not split over {hw.nodes} nodes: each node must hold "
            f"whole pipeline stages, tensor parallel {tp} inside it ({hw.gpus_per_node} GPUs "
            "per node)"
        )
    return problems


def layers_on_cpu(stack: Stack) -> int:
    """MoE layers whose experts must stay in host RAM for the rest to fit on the GPU (engines
    that offload experts): as the options pin them, else the fewest that fit."""
    engine = engine_of(stack)
    pinned = engine.cpu_moe_layers(stack.backend)
    if pinned is not None:
        return pinned
    gpu, ckpt, serving = stack.hardware.gpu, stack.checkpoint, stack.serving
    fixed = (
        model_facts.other_weights_gib(ckpt)
        + engine.activation_reserve_gib
        + serving.concurrency * (_kv_gib(stack, serving.context_length) + _state_gib(stack, 1))
    )
    room = engine.usable_memory(stack.backend, _total(gpu)[0])[0] - fixed
    per_layer = model_facts.expert_gib_per_moe_layer(ckpt)
    on_gpu = max(0, min(model_facts.MOE_LAYERS, math.floor(room / per_layer)))
    return model_facts.MOE_LAYERS - on_gpu


def _host_budget(stack: Stack, cpu_layers: int) -> HostBudget:
    experts_ram = cpu_layers * model_facts.expert_gib_per_moe_layer(stack.checkpoint)
    return HostBudget(
        total=stack.hardware.host_ram_gib,
        experts_in_ram=experts_ram,
        margin=HOST_RAM_MARGIN_GIB,
        needed=experts_ram + HOST_RAM_MARGIN_GIB,
        moe_layers_on_cpu=cpu_layers,
        n_cpu_moe=cpu_layers + 1 if cpu_layers else 0,
    )


def _gpu_budget(
    stack: Stack, tp: int, pp: int, mtp: MtpChoice
) -> tuple[GpuBudget, HostBudget | None, Capacity]:
    """One GPU's memory: the engine's share of it, the weights it holds (all of them, split by
    TP x PP; or, where the engine offloads experts, all but those kept in host RAM), the
    engine's activation reserve, and how the rest holds running sequences. With MTP on: its
    layer's weights (split by TP: its experts and MLA heads shard like the target's), its MLA
    layer's KV and the state the engine keeps for the draft positions."""
    engine, gpu, ckpt, serving = (
        engine_of(stack),
        stack.hardware.gpu,
        stack.checkpoint,
        stack.serving,
    )
    total, total_note = _total(gpu)
    usable, usable_note = engine.usable_memory(stack.backend, total)
    host: HostBudget | None = None
    if engine.offloads_experts:
        cpu_layers = layers_on_cpu(stack)
        host = _host_budget(stack, cpu_layers)
        per_layer = model_facts.expert_gib_per_moe_layer(ckpt)
        weights = (
            model_facts.other_weights_gib(ckpt) + (model_facts.MOE_LAYERS - cpu_layers) * per_layer
        )
    else:
        weights = ckpt.weights_gib / (tp * pp)
    mtp_weights = ckpt.mtp_gib / tp if mtp.on else 0.0
    weights += mtp_weights
    reserve = engine.activation_reserve_gib
    budget = usable - weights - reserve
    # The MLA latent is replicated on every tensor-parallel rank; linear state splits by heads
    # (offloading layouts are planned on one GPU).
    per_token = _kv_bytes_per_token(stack, mtp.on)
    kv_seq = _kv_gib(stack, serving.context_length, mtp.on)
    state_seq = _state_gib(stack, 1 if engine.offloads_experts else tp)
    if mtp.on:
        state_seq *= engine.mtp_state_factor(mtp.tokens)
    capacity = engine.capacity(
        CacheDemand(
            budget, kv_seq, state_seq, per_token, serving.context_length, serving.concurrency
        )
    )
    gpu_budget = GpuBudget(
        total=total,
        total_note=total_note,
        usable=usable,
        usable_note=usable_note,
        weights=weights,
        mtp_weights=mtp_weights,
        reserve=reserve,
        cache_budget=budget,
        kv_bytes_per_token=per_token,
        kv_per_seq_at_context=kv_seq,
        state_per_seq=state_seq,
        state_note=engine.state_note,
        per_seq_at_context=kv_seq + state_seq,
        kv_pool=capacity.kv_pool,
        state_pool=capacity.state_pool,
        pool_note=capacity.pool_note,
        cache_needed=serving.concurrency * (kv_seq + state_seq),
    )
    return gpu_budget, host, capacity


def _throughput(
    stack: Stack, tp: int, host: HostBudget | None, mtp: MtpChoice
) -> tuple[Throughput, MtpGain | None]:
    """Memory-bandwidth ceilings: decode reads the active weights once per step; with MTP on,
    the range it is expected to reach (planning/speculative.py, an assumption)."""
    gpu, ckpt, serving = stack.hardware.gpu, stack.checkpoint, stack.serving
    active = model_facts.active_gb_per_token(ckpt)
    other_gb = model_facts.other_weights_gib(ckpt) * GIB / GB
    layer_gb = model_facts.expert_gib_per_moe_layer(ckpt) * GIB / GB
    cpu_layers = host.moe_layers_on_cpu if host else 0
    gpu_layers = model_facts.MOE_LAYERS - cpu_layers
    host_bw = stack.hardware.host_ram_bandwidth_gbs

    def step_seconds(batch: int, per_gpu_gbs: float) -> float:
        touched = model_facts.expert_fraction_touched(batch)
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
    throughput = Throughput(
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
    if not mtp.on:
        return throughput, None
    plain = (throughput.single_stream_tok_s_achievable, throughput.aggregate_tok_s_achievable)
    gain = speculative.gain(
        stack, mtp.tokens, lambda batch: step_seconds(batch, real), real * tp, plain
    )
    return throughput, gain


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
    engine = engine_of(stack)
    mtp = speculative.decide(stack)
    if mtp.refused:
        problems.append(mtp.refused)
    if mtp.warning:
        warnings.append(mtp.warning)
    if mtp.on and pp > 1:
        # vLLM 0.33.0 builds the draft at pipeline parallel 1 (config/speculative.py) and loads
        # its own vocabulary embedding when PP > 1 (v1/spec_decode/llm_base_proposer.py).
        warnings.append(
            f"MTP at pipeline parallel {pp} is planned as its layer split by tensor parallel on "
            "every GPU; the draft may also load its own copy of the vocabulary embedding "
            f"(~{model_facts.LM_HEAD_PARAMS * 2 / GIB:.1f} GiB in BF16, not planned): unverified"
        )
    gpu_budget, host, capacity = _gpu_budget(stack, tp, pp, mtp)
    if host is not None and host.needed > host.total:
        problems.append(
            f"{host.moe_layers_on_cpu} MoE layers of experts ({host.experts_in_ram:.1f} GiB) must stay in "
            f"host RAM, plus {host.margin:.0f} GiB margin = {host.needed:.1f} GiB, but the host has "
            f"{host.total:.1f} GiB"
        )
    g = gpu_budget
    if g.cache_budget <= 0:
        problems.append(
            f"weights {g.weights:.1f} GiB per GPU"
            + (f" + {g.reserve:.1f} GiB activation reserve" if g.reserve else "")
            + " exceed the "
            f"usable {g.usable:.1f} GiB of one {stack.hardware.gpu.name} ({g.usable_note})"
        )
    elif engine.cache_pool == "slots":
        if g.cache_needed > g.cache_budget:
            problems.append(
                f"{serving.concurrency} slot(s) x context {serving.context_length} need "
                f"{g.cache_needed:.2f} GiB of KV and state per GPU ({g.per_seq_at_context:.3f} GiB "
                f"each; {engine.display_name} gives every slot its own context), but only "
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
    warnings += engine.warnings(stack, capacity)
    throughput, mtp_gain = _throughput(stack, tp, host, mtp)
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
        throughput=throughput,
        mtp=mtp,
        mtp_gain=mtp_gain,
        problems=problems,
        warnings=warnings,
        nodes=stack.hardware.nodes,
    )


def memory_summary(plan: Plan) -> str:
    """One line for headers and READMEs: the budget and how many full-length sequences it holds."""
    g = plan.gpu
    mtp = f" (MTP layer {g.mtp_weights:.1f} GiB included)" if g.mtp_weights else ""
    return (
        f"{g.weights:.1f} GiB weights{mtp} + {g.reserve:.1f} GiB reserve of {g.usable:.1f} GiB usable; "
        f"{g.cache_budget:.1f} GiB left for KV cache and state holds {plan.sequences_at_full_context} "
        f"sequences at full context {plan.context_length} ({g.per_seq_at_context:.3f} GiB each; "
        f"{plan.kv_pool_tokens:,} tokens in the KV pool); its {plan.concurrency} running sequences "
        f"(the engine's cap) at full context need {g.cache_needed:.1f} GiB."
    )


def mtp_summary(plan: Plan) -> str:
    """One line for headers, show and READMEs: MTP on or off and why, and with it on, the
    expected decode speed-up (an assumption) beside the ceiling without it."""
    gain = plan.mtp_gain
    if gain is None:
        return plan.mtp.why + "."
    low, high = gain.single_stream_speedup
    one_low, one_high = gain.single_stream_tok_s_achievable
    plain = plan.throughput.single_stream_tok_s_achievable
    return (
        f"{plan.mtp.why}. Expected single-stream decode {low:.1f}x-{high:.1f}x, "
        f"{one_low:.0f}-{one_high:.0f} tok/s against {plain:.0f} without MTP at achievable "
        f"bandwidth, ASSUMING {gain.acceptance[1]:g} of drafts accepted "
        f"(docs/performance.md#mtp)."
    )


# A suggestion is a human-readable change plus the stack it produces.
Suggestion = tuple[str, Stack]


def check_fits(
    stack: Stack, alternatives: Callable[[Stack], list[Suggestion]] | None = None
) -> Plan:
    """Return the plan, or raise FitError with the arithmetic and the nearest layouts that work.
    A refused MTP request is raised alone, with its own hint: other layouts would not help."""
    plan = make_plan(stack)
    if plan.fits:
        return plan
    if plan.mtp.refused:
        raise FitError(plan.mtp.refused, hint=plan.mtp.hint)
    where = f" over {stack.hardware.nodes} nodes" if stack.hardware.nodes > 1 else ""
    lines = [
        f"{stack.name} cannot start on {stack.hardware.count} x {stack.hardware.gpu.name}{where}:"
    ]
    lines += [f"  - {p}" for p in plan.problems]
    hint = None
    if alternatives is not None:
        working = [label for label, alt in alternatives(stack) if make_plan(alt).fits]
        if working:
            hint = "nearest layouts that fit: " + "; ".join(working[:3])
    raise FitError(
        "\n".join(lines), hint=hint or f"see `{cli_command()} list` for layouts that fit"
    )
