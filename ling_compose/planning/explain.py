"""Why each value of a resolved stack was chosen, and the plan as readable lines (pure)."""

from __future__ import annotations

from ling_compose.compose import Compiled
from ling_compose.engines import registry
from ling_compose.load import Overrides
from ling_compose.models.plan import Fleet, Plan
from ling_compose.models.stack import MAX_CONTEXT_NATIVE
from ling_compose.planning import model_facts
from ling_compose.planning.fit import engine_of

Row = tuple[str, str, str]  # setting, value, why


def _source(override: object, default_note: str) -> str:
    return "override" if override not in (None, []) else default_note


def explain(compiled: Compiled, overrides: Overrides | None = None) -> list[Row]:
    ov = overrides or Overrides()
    stack, plan = compiled.stack, compiled.plan
    service = compiled.service
    hw, ckpt, backend, serving = stack.hardware, stack.checkpoint, stack.backend, stack.serving
    gpu = hw.gpu
    command = service.command
    tool_parser = (
        command[command.index("--tool-call-parser") + 1] if "--tool-call-parser" in command else "-"
    )
    port = service.ports[0]
    return [
        ("profile", stack.name, stack.description),
        (
            "gpus",
            f"{hw.count} x {gpu.name}",
            _source(ov.gpus or ov.gpu, "profile")
            + f"; {gpu.memory_gib:.1f} GiB ({gpu.memory_mib} MiB per the driver), "
            f"cc {gpu.compute_capability}, {gpu.memory_bandwidth_gbs:g} GB/s datasheet "
            f"({gpu.achievable_read_gbs:.0f} achievable), {gpu.max_shared_memory_per_block_kb} KB shared/block",
        ),
        (
            "checkpoint",
            ckpt.hf_repo,
            _source(ov.checkpoint, "profile")
            + f"; {ckpt.precision}, {ckpt.weights_gib:.1f} GiB loaded ({ckpt.source})",
        ),
        (
            "engine",
            f"{backend.engine} {compiled.project.metadata['engine_version']}",
            _source(ov.engine, "profile")
            + ("" if backend.version else "; version pinned by ling_compose"),
        ),
        (
            "image",
            service.image,
            _source(ov.image or backend.image, "pinned image for that version")
            + ("; built from the fork's git context" if service.build else ""),
        ),
        (
            "tensor parallel",
            str(plan.tensor_parallel),
            _source(
                ov.tensor_parallel or backend.tensor_parallel,
                f"derived: {hw.count} GPUs / pipeline {plan.pipeline_parallel}",
            ),
        ),
        (
            "context length",
            str(plan.context_length),
            _source(ov.context_length, "profile")
            + (
                f"; above {MAX_CONTEXT_NATIVE} so YaRN rope scaling is added"
                if plan.yarn
                else f"; native limit {MAX_CONTEXT_NATIVE}"
            )
            + f"; fits up to {plan.max_context_at_1} at 1 sequence",
        ),
        (
            "concurrency",
            str(plan.concurrency),
            _source(ov.concurrency, "profile")
            + f"; {plan.sequences_at_full_context} fit at full context {plan.context_length} "
            f"({plan.kv_pool_tokens:,} tokens in the KV pool)",
        ),
        (
            "speculative decoding",
            f"MTP, {plan.mtp.tokens} draft token(s) per step" if plan.mtp.on else "off",
            _source(
                ov.mtp if ov.mtp is not None else ov.speculative_tokens,
                "profile"
                if (serving.mtp, serving.speculative_tokens) != (None, None)
                else "default",
            )
            + f"; {plan.mtp.why}",
        ),
        (
            "tool-call parser",
            tool_parser,
            "resolved for the model's hermes-style JSON format and this engine version"
            if serving.tool_calling
            else "tool calling disabled",
        ),
        (
            "port",
            port.to_compose(),
            _source(ov.port or serving.port, f"{backend.engine} default {engine_of(stack).port}")
            + "; loopback unless an API key is set",
        ),
        (
            "api key",
            f"${{{serving.api_key_env}}}" if serving.api_key_env else "none",
            "read from the environment at start; never written to the file",
        ),
        (
            "shared memory",
            "ipc: host + memlock/stack ulimits" if service.ipc else f"shm_size {service.shm_size}",
            "multi-GPU NCCL needs host IPC" if service.ipc else "single GPU",
        ),
        (
            "healthcheck",
            " ".join(service.healthcheck.test[1:]) if service.healthcheck else "-",
            f"start period {service.healthcheck.start_period_s // 60} min for download + load"
            if service.healthcheck
            else "",
        ),
    ]


def plan_lines(plan: Plan) -> list[str]:
    g = plan.gpu
    kv_layers = model_facts.MLA_LAYERS + (model_facts.MTP_LAYERS if plan.mtp.on else 0)
    kv_value_bytes = g.kv_bytes_per_token / (kv_layers * model_facts.MLA_VALUES_PER_TOKEN)
    engine = registry.get(plan.engine)
    state_value_bytes = engine.state_bytes_per_value
    mtp = plan.mtp
    mla = (
        f"{model_facts.MLA_LAYERS + model_facts.MTP_LAYERS} MLA layers (4 + the MTP layer's)"
        if mtp.on
        else f"{model_facts.MLA_LAYERS} MLA layers"
    )
    state_factor = (
        f" x {engine.mtp_state_factor(mtp.tokens):g} for {mtp.tokens} draft token(s)"
        if mtp.on
        else ""
    )
    lines = [
        f"layout: {plan.gpus} GPU(s), {plan.engine}, tensor parallel {plan.tensor_parallel} x pipeline {plan.pipeline_parallel}"
        + (
            f", over {plan.nodes} nodes of {plan.gpus // plan.nodes} GPUs (a pipeline stage per node)"
            if plan.nodes > 1
            else ""
        ),
        f"per GPU: {g.total:.2f} GiB total ({g.total_note}), {g.usable:.1f} GiB usable = {g.usable_note}",
        f"  weights shard              {g.weights:8.2f} GiB  (checkpoint weights / (TP x PP); offloaded experts excluded"
        + (f"; MTP layer / TP {g.mtp_weights:.2f} GiB included)" if mtp.on else ")"),
        f"  activation reserve         {g.reserve:8.2f} GiB  (estimate: activations, CUDA graphs, NCCL)",
        f"  left for KV cache + state  {g.cache_budget:8.2f} GiB  ({g.pool_note})",
        f"  KV per sequence            {g.kv_per_seq_at_context:8.3f} GiB  ({mla} x 576 values x {kv_value_bytes:g} B x {plan.context_length} tokens)",
        f"  linear state per sequence  {g.state_per_seq:8.3f} GiB  (28 layers x 32 heads x 128 x 128 x {state_value_bytes} B, {g.state_note}; / TP{state_factor})",
    ]
    split = engine.cache_pool == "split"
    if g.state_pool and split:
        lines += [
            f"  KV pool                    {g.kv_pool:8.2f} GiB",
            f"  linear-state pool          {g.state_pool:8.2f} GiB  (caps running requests at {plan.running_cap})",
        ]
    lines.append(
        f"  {plan.concurrency} sequences at full context {g.cache_needed:7.2f} GiB  ({plan.concurrency} x {g.per_seq_at_context:.3f})"
    )
    if plan.host:
        h = plan.host
        lines += [
            f"host RAM: {h.total:.1f} GiB; {h.experts_in_ram:.1f} GiB experts ({h.moe_layers_on_cpu} MoE layers, "
            f"--n-cpu-moe {h.n_cpu_moe}) + {h.margin:.0f} GiB margin = {h.needed:.1f} GiB needed",
        ]
    t = plan.throughput
    lines += [
        f"tokens in the KV pool: {plan.kv_pool_tokens:,}",
        f"sequences at full context {plan.context_length}: {plan.sequences_at_full_context}",
        f"largest context at 1 sequence: {plan.max_context_at_1}",
        f"running sequences allowed: {plan.concurrency}"
        + (
            f" ({engine.display_name}'s state pool caps them at {plan.running_cap})"
            if split and plan.running_cap is not None
            else ""
        ),
        f"decode ceiling at datasheet bandwidth ({t.datasheet_gbs:.0f} GB/s per GPU): "
        f"{t.single_stream_tok_s:.0f} tok/s single stream, {t.aggregate_tok_s:.0f} tok/s aggregate at "
        f"{t.at_concurrency} sequences",
        f"decode ceiling at achievable bandwidth ({t.achievable_gbs:.0f} GB/s per GPU; {t.achievable_note}): "
        f"{t.single_stream_tok_s_achievable:.0f} tok/s single stream, {t.aggregate_tok_s_achievable:.0f} tok/s "
        f"aggregate",
        f"  ({t.active_gb_per_token:.2f} GB read per token; bound by {t.bound_by}; real throughput is lower)",
        *_mtp_lines(plan),
        "verdict: " + ("fits" if plan.fits else "DOES NOT FIT"),
    ]
    lines += [f"  problem: {p}" for p in plan.problems]
    lines += [f"  warning: {w}" for w in plan.warnings]
    return lines


def _mtp_lines(plan: Plan) -> list[str]:
    """MTP on or off and why; with it on, the assumption and the range it gives."""
    lines = [f"speculative decoding (MTP): {plan.mtp.why}"]
    gain = plan.mtp_gain
    if gain is None:
        return lines
    low, central, high = gain.acceptance
    e_low, e_central, e_high = gain.tokens_per_step
    one, many = gain.single_stream_speedup, gain.aggregate_speedup
    one_tok, many_tok = gain.single_stream_tok_s_achievable, gain.aggregate_tok_s_achievable
    t = plan.throughput
    return [
        *lines,
        f"  ASSUMPTION: {central:g} of drafts accepted ({low:g}-{high:g}; not measured for this "
        f"model, see docs/performance.md#mtp) -> {e_central:.2f} tokens per verify step "
        f"({e_low:.2f}-{e_high:.2f})",
        f"  each draft step reads {gain.draft_gb:.2f} GB (the MTP layer's active weights and the LM head)",
        f"  expected single stream {one[0]:.1f}x-{one[1]:.1f}x: {one_tok[0]:.0f}-{one_tok[1]:.0f} tok/s "
        f"against the ceiling {t.single_stream_tok_s_achievable:.0f} without MTP (achievable bandwidth)",
        f"  expected aggregate at {t.at_concurrency} sequences {many[0]:.1f}x-{many[1]:.1f}x: "
        f"{many_tok[0]:.0f}-{many_tok[1]:.0f} tok/s against {t.aggregate_tok_s_achievable:.0f}",
        "  (above the one-read-per-token ceiling: a step keeps several tokens per read of the "
        "weights; the low end reads every drafted token's experts, the high end a verify step "
        "that costs a plain one)",
    ]


def fleet_lines(fleet: Fleet) -> list[str]:
    """`plan --replicas N`: what N copies of the layout add up to behind one Service."""
    return [
        f"fleet: {fleet.replicas} replicas x {fleet.gpus_per_replica} GPU(s) = {fleet.gpus} GPUs"
        + (f" on {fleet.nodes} nodes" if fleet.nodes != fleet.replicas else ""),
        f"  running sequences: {fleet.running_sequences} ({fleet.replicas} x the engine's cap)",
        f"  tokens in the KV pools: {fleet.kv_pool_tokens:,}",
        f"  decode ceiling, aggregate: {fleet.aggregate_tok_s:.0f} tok/s at datasheet bandwidth, "
        f"{fleet.aggregate_tok_s_achievable:.0f} tok/s at achievable bandwidth (each request "
        "runs on one replica: single-stream speed does not grow)",
    ]
