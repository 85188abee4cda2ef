"""vLLM: image vllm/vllm-openai (ENTRYPOINT `vllm serve`, model positional), port 8000.

Source: shared/facts/backends.md, read off vLLM 0.33.0; flags checked against the generated
catalogue in ling_compose/flags/catalogs/.
"""

from __future__ import annotations

import json
import re
from types import MappingProxyType
from typing import TYPE_CHECKING, Literal

from pydantic import Field

from ling_compose.engines import base
from ling_compose.flags import lint
from ling_compose.flags.parsers import TOOL_CALL_FORMAT, tool_call_parser
from ling_compose.models.options import EngineOptions
from ling_compose.models.plan import CacheDemand, Capacity
from ling_compose.models.server import NodeArgs, Rendezvous, Value
from ling_compose.monitoring import dashboard as dash
from ling_compose.monitoring.metrics import EngineMetrics, Metric

if TYPE_CHECKING:
    from ling_compose.models.plan import Plan
    from ling_compose.models.stack import Stack

PINNED_VERSION = "0.33.0"
PORT = 8000
API_KEY_ENV = "VLLM_API_KEY"
# group_norm_size = 4 in model_executor/layers/mamba/linear/bailing_linear_attn.py: TP in {1, 2, 4}.
TENSOR_PARALLEL = (1, 2, 4)
# The Lightning-attention Triton kernel asks ~128.5 KB of shared memory per block.
LIGHTNING_SHARED_KB = 128.5
MIN_VERSION = "0.20.2"  # earlier releases corrupt RoPE on the MLA layers
# MTP for this model came with vllm PR 44880 (model_executor/models/bailing_moe_mtp.py); read at
# 0.33.0: config/speculative.py maps every model-specific MTP method (bailing_hybrid_mtp) to
# "mtp" with a deprecation warning, takes the draft from the target for method mtp, and needs
# num_speculative_tokens ("must be provided with speculative model ..."); --speculative-config
# is JSON (engine/arg_utils.py).
MTP_VERIFIED_VERSION = "0.33.0"
MTP_METHOD = "mtp"
# torch.distributed's rendezvous on the leader with the mp backend (vllm/config/parallel.py
# master_port default, 0.33.0), said explicitly because the workers must agree on it.
MASTER_PORT = 29501


class VLLMOptions(EngineOptions):
    engine: Literal["vllm"] = "vllm"
    gpu_memory_utilization: float = Field(
        default=0.92,
        gt=0.1,
        le=0.98,
        description="Fraction of each GPU for weights + activations + KV (vLLM's default 0.92)",
    )
    kv_cache_dtype: Literal["auto", "fp8"] = "auto"
    enforce_eager: bool = False


_HUMAN_INT = lint.human_int("[kKmMgGtT]", {"K": 1, "M": 1, "G": 1, "T": 1})

# What vLLM logs about its cache at start-up (logger format "(%(process name)s pid=N) LEVEL
# MM-DD HH:MM:SS [file:line] msg", vllm/logger.py _FORMAT), at 0.33.0:
#   vllm/v1/core/kv_cache_utils.py:1148
#       "%s KV cache size: %s tokens, Maximum concurrency for %s tokens per request: %.2fx"
#   vllm/v1/worker/gpu_worker.py:773   "Available KV cache memory: %s GiB"
_CAPACITY = (
    r"KV cache size: "
    + base.LOG_NUMBER
    + r" tokens, Maximum concurrency for "
    + base.LOG_NUMBER
    + r" tokens per request: "
    + base.LOG_NUMBER
    + "x"
)
_MEMORY = r"Available KV cache memory: " + base.LOG_NUMBER + " GiB"


# -- what /metrics writes at this version, and the Grafana panels that read it ------------

# vLLM 0.33.0: every metric carries model_name (the served name) and engine (the engine index):
# v1/metrics/loggers.py L499. Only recorded with stats logging on (v1/engine/async_llm.py L159,
# log_stats = not --disable-log-stats), so a monitored stack must not pass that flag.
_VLLM = ("model_name", "engine")
_VLLM_LOGGERS = "vllm/v1/metrics/loggers.py"
_VLLM_SPEC = "vllm/v1/spec_decode/metrics.py"
METRICS = EngineMetrics(
    engine="vllm",
    version="0.33.0",
    path="/metrics",
    enabled_by=None,
    disabled_by=("--disable-log-stats",),
    needs_api_key=False,
    endpoint_source=(
        "vllm/entrypoints/serve/instrumentator/metrics.py L55-80 mounts /metrics on every "
        "server; entrypoints/serve/middleware/authenticate.py L11 guards only /v1, /v2, "
        "/inference and /cohere with --api-key"
    ),
    metrics=(
        Metric(
            "vllm:num_requests_running", "gauge", "requests_running", _VLLM, f"{_VLLM_LOGGERS}:528"
        ),
        Metric(
            "vllm:num_requests_waiting", "gauge", "requests_waiting", _VLLM, f"{_VLLM_LOGGERS}:538"
        ),
        # "KV-cache usage. 1 means 100 percent usage."
        Metric(
            "vllm:kv_cache_usage_perc", "gauge", "kv_cache_usage", _VLLM, f"{_VLLM_LOGGERS}:620"
        ),
        Metric("vllm:num_preemptions_total", "counter", "none", _VLLM, f"{_VLLM_LOGGERS}:739"),
        Metric(
            "vllm:prompt_tokens_total", "counter", "prompt_tokens", _VLLM, f"{_VLLM_LOGGERS}:748"
        ),
        Metric(
            "vllm:generation_tokens_total",
            "counter",
            "generation_tokens",
            _VLLM,
            f"{_VLLM_LOGGERS}:799",
        ),
        Metric(
            "vllm:request_success_total",
            "counter",
            "requests_finished",
            (*_VLLM, "finished_reason"),
            f"{_VLLM_LOGGERS}:809",
        ),
        Metric(
            "vllm:time_to_first_token_seconds",
            "histogram",
            "ttft_seconds",
            _VLLM,
            f"{_VLLM_LOGGERS}:931",
        ),
        Metric(
            "vllm:inter_token_latency_seconds",
            "histogram",
            "itl_seconds",
            _VLLM,
            f"{_VLLM_LOGGERS}:941",
        ),
        Metric(
            "vllm:request_time_per_output_token_seconds",
            "histogram",
            "tpot_seconds",
            _VLLM,
            f"{_VLLM_LOGGERS}:951",
        ),
        Metric(
            "vllm:e2e_request_latency_seconds",
            "histogram",
            "e2e_seconds",
            _VLLM,
            f"{_VLLM_LOGGERS}:961",
        ),
        Metric(
            "vllm:request_queue_time_seconds",
            "histogram",
            "queue_seconds",
            _VLLM,
            f"{_VLLM_LOGGERS}:971",
        ),
        # Only with speculative decoding (MTP) configured.
        Metric("vllm:spec_decode_num_drafts_total", "counter", "none", _VLLM, f"{_VLLM_SPEC}:229"),
        Metric(
            "vllm:spec_decode_num_draft_tokens_total", "counter", "none", _VLLM, f"{_VLLM_SPEC}:230"
        ),
        Metric(
            "vllm:spec_decode_num_accepted_tokens_total",
            "counter",
            "none",
            _VLLM,
            f"{_VLLM_SPEC}:231",
        ),
    ),
)
DASHBOARD = (
    dash.Panel(
        dash.TTFT,
        "s",
        "Request arrival to its first token.",
        dash.quantiles("vllm:time_to_first_token_seconds", "TTFT"),
    ),
    dash.Panel(
        dash.ITL,
        "s",
        "Gaps between output chunks, and per request the time per output token (TPOT).",
        (
            *dash.quantiles("vllm:inter_token_latency_seconds", "ITL"),
            dash.quantiles("vllm:request_time_per_output_token_seconds", "TPOT")[0],
        ),
    ),
    dash.Panel(
        dash.TOKENS,
        "short",
        "Generated and prompt tokens per second, all requests together.",
        (
            dash.per_second("vllm:generation_tokens_total", "generated"),
            dash.per_second("vllm:prompt_tokens_total", "prompt"),
        ),
    ),
    dash.Panel(
        dash.REQUESTS,
        "short",
        "Requests in the running batch, and requests queued for a place in it.",
        (
            dash.Query("sum(vllm:num_requests_running)", "running"),
            dash.Query("sum(vllm:num_requests_waiting)", "waiting"),
        ),
    ),
    dash.Panel(
        dash.KV,
        "percentunit",
        "Share of the KV-cache blocks in use.",
        (dash.Query("max(vllm:kv_cache_usage_perc)", "KV cache"),),
    ),
    dash.Panel(
        dash.SPEC,
        "percentunit",
        "Accepted draft tokens / proposed draft tokens; no data without speculative decoding.",
        (
            dash.ratio(
                "vllm:spec_decode_num_accepted_tokens_total",
                "vllm:spec_decode_num_draft_tokens_total",
                "acceptance rate",
            ),
        ),
    ),
)


class VLLM(base.Engine):
    name = "vllm"
    display_name = "vLLM"
    options = VLLMOptions
    pinned_version = PINNED_VERSION
    port = PORT
    image_repositories = ("vllm/vllm-openai",)
    metrics = (METRICS,)
    dashboard = DASHBOARD
    image_template = "vllm/vllm-openai:v{version}"  # tags carry a leading v
    # ling_compose sets the variable; /health and /metrics stay open.
    api_key_place = base.ApiKeyPlace(flag="--api-key", env=API_KEY_ENV)

    activation_reserve_gib = 3.0
    # The model dtype (bf16) while --mamba-cache-dtype is "auto" (model_executor/models/
    # bailing_moe_linear.py get_mamba_state_dtype_from_config -> mamba_utils.py
    # linear_attention_state_dtype -> utils/torch_utils.py get_kv_cache_torch_dtype).
    state_bytes_per_value = 2
    state_note = "bf16, vllm's default"
    cache_pool = "shared"
    tensor_parallel_sizes = TENSOR_PARALLEL
    spans_nodes = True
    min_version = MIN_VERSION
    min_version_why = "which fixed RoPE on the MLA layers"

    mtp_min_version = MTP_VERIFIED_VERSION
    # One MTP layer, run again for every further draft token ("may result in lower acceptance
    # rate", config/speculative.py): one draft token unless the profile asks for more.
    mtp_default_tokens = 1
    mtp_without_weights = (
        'vLLM then stops at start-up: "Bailing MTP speculative decoding layer 32 weights are '
        'missing from checkpoint" (model_executor/models/bailing_moe_mtp.py)'
    )

    # FlexibleArgumentParser: `_` read as `-` in option names, `--json-opt.key value`, -O3.
    parser_rules = lint.ARGPARSE._replace(
        underscores=True,
        dotted_json=True,
        value_checks={
            **lint.ARGPARSE.value_checks,
            "json|str": lint.json_or_text,
            "optional[int]": lint.optional(lint.INTEGER),
            "optional[float]": lint.optional(lint.NUMBER),
            "optional[json]": lint.optional(lint.JSON),
            "human_readable_int": _HUMAN_INT,
            "optional[human_readable_int]": lint.optional(_HUMAN_INT),
            # human_readable_int_or_auto: -1 or auto in any case, after strip().
            "human_readable_int_or_auto": lambda value: (
                None
                if value.strip() == "-1" or value.strip().lower() == "auto"
                else _HUMAN_INT(value)
            ),
        },
    )
    # `hermes` is the registered name in 0.33.0 (vllm/tool_parsers/__init__.py; its registry also
    # maps `qwen3_json` to the same parser class).
    tool_call_parsers = MappingProxyType({(TOOL_CALL_FORMAT, "0.33.0"): "hermes"})
    reasoning_parsers = MappingProxyType({("deepseek_r1", "0.33.0"): "deepseek_r1"})

    report_figures = (
        base.ReportFigure("kv_cache_tokens", "KV cache", "tokens"),
        base.ReportFigure("max_concurrency", "sequences at full context", "x"),
        base.ReportFigure("kv_cache_gib", "KV cache memory per GPU", "GiB"),
    )
    tool_call_hint = (
        "vLLM parses tool calls only with `--enable-auto-tool-choice --tool-call-parser "
        "hermes` (the model writes Hermes-style <tool_call> JSON); a different parser leaves them "
        "as text"
    )
    tool_call_flags = "--enable-auto-tool-choice --tool-call-parser hermes"
    # The bare tag of vLLM >= 0.20 is CUDA 13.0 and `-cu129` is 12.9 (vllm-project/vllm#42738;
    # the v0.21.0-cu129 manifest, NVIDIA/Model-Optimizer#2042).
    image_cuda_variants = (("", "13.0"), ("-cu129", "12.9"))

    def command(self, stack: Stack, plan: Plan) -> base.EngineCommand:
        backend = stack.backend
        assert isinstance(backend, VLLMOptions)
        version, serving = self.version_of(backend), stack.serving
        args: list[Value] = [stack.checkpoint.hf_repo, *self.serving_args(stack)]
        # bailing_hybrid ships custom config code
        args += ["--trust-remote-code", "--tensor-parallel-size", str(plan.tensor_parallel)]
        if plan.pipeline_parallel > 1:
            args += ["--pipeline-parallel-size", str(plan.pipeline_parallel)]
        args += [
            "--max-model-len",
            str(serving.context_length),
            "--gpu-memory-utilization",
            f"{backend.gpu_memory_utilization:g}",
            "--max-num-seqs",
            str(serving.concurrency),
        ]
        if backend.kv_cache_dtype != "auto":
            args += ["--kv-cache-dtype", backend.kv_cache_dtype]
        if backend.enforce_eager:
            args.append("--enforce-eager")
        if plan.mtp.on:
            args += self.mtp_args(plan.mtp.tokens)
        if plan.yarn:
            args += ["--hf-overrides", base.yarn_override_json()]
        if serving.tool_calling:
            # Without both flags tool calls come back as plain text in `content`.
            parser = tool_call_parser(TOOL_CALL_FORMAT, self.name, version)
            assert parser is not None
            args += ["--enable-auto-tool-choice", "--tool-call-parser", parser]
        env: dict[str, Value] = {}
        if serving.api_key_env:
            env[API_KEY_ENV] = base.api_key_ref(serving.api_key_env)
        notes = []
        if stack.hardware.gpu.capability < (8, 9) and stack.checkpoint.precision == "fp8":
            notes.append(
                "FP8 on compute capability < 8.9 runs as weight-only Marlin FP8 (slower than native)."
            )
        return self.finish(stack, version, args, env=env, notes=notes)

    def mtp_args(self, tokens: int) -> list[Value]:
        config = {"method": MTP_METHOD, "num_speculative_tokens": tokens}
        return ["--speculative-config", json.dumps(config, separators=(",", ":"))]

    def mtp_state_factor(self, tokens: int) -> float:
        # Linear attention is a MambaBase layer: its cache spec keeps num_speculative_blocks =
        # num_speculative_tokens extra state blocks per sequence (model_executor/layers/mamba/
        # abstract.py get_kv_cache_spec; v1/kv_cache_interface.py MambaSpec.max_memory_usage_bytes
        # = page size x (1 + num_speculative_blocks), mamba_cache_mode "none").
        return 1.0 + tokens

    def node_args(self, plan: Plan, rendezvous: Rendezvous) -> NodeArgs:
        """Multi-node with the mp executor (vllm/engine/arg_utils.py --nnodes/--node-rank/
        --master-addr/--master-port, 0.33.0): the ranks are ExternalDP x DP x PP x PCP x TP
        with TP innermost (distributed/parallel_state.py), so with pipeline parallel = nodes
        each node holds one whole tensor-parallel group. Ranks >= 1 run --headless: the
        multiproc executor without any HTTP server (entrypoints/cli/serve.py run_headless)."""
        common: tuple[Value, ...] = (
            "--nnodes",
            str(plan.nodes),
            "--master-addr",
            rendezvous.leader_address,
            "--master-port",
            str(MASTER_PORT),
        )
        return NodeArgs(
            leader=(*common, "--node-rank", "0"),
            worker=(*common, "--node-rank", rendezvous.rank, "--headless"),
            worker_health=False,
        )

    # -- planning ----------------------------------------------------------------------------
    def usable_memory(self, options: EngineOptions, total_gib: float) -> tuple[float, str]:
        assert isinstance(options, VLLMOptions)
        # vLLM requests ceil(CUDA total x utilization) (vllm/v1/worker/utils.py request_memory).
        fraction = options.gpu_memory_utilization
        return total_gib * fraction, f"{fraction:.2f} x {total_gib:.1f} (--gpu-memory-utilization)"

    def capacity(self, demand: CacheDemand) -> Capacity:
        """vLLM v1: one block pool for KV and state; vLLM reports its capacity as requests at
        max_model_len x that length (v1/core/kv_cache_utils.py get_kv_cache_capacity)."""
        return base.shared_pool(demand, "one pool shared by KV and state (vLLM)")

    def fp8_kv_cache(self, options: EngineOptions) -> bool:
        assert isinstance(options, VLLMOptions)
        return options.kv_cache_dtype != "auto"

    def problems(self, stack: Stack, tensor_parallel: int, pipeline_parallel: int) -> list[str]:
        gpu, ckpt = stack.hardware.gpu, stack.checkpoint
        problems: list[str] = []
        if tensor_parallel not in TENSOR_PARALLEL:
            problems.append(
                f"vLLM runs this model only at tensor parallel 1, 2 or 4 (group_norm_size 4 in "
                f"bailing_linear_attn.py), not {tensor_parallel}; for 8 GPUs use tensor "
                "parallel 4 x pipeline 2"
            )
        if ckpt.format == "gguf":
            problems.append("vLLM cannot load GGUF files; use the fp8, int4 or bf16 checkpoint")
        if gpu.max_shared_memory_per_block_kb < LIGHTNING_SHARED_KB:
            problems.append(
                f"vLLM's Lightning-attention kernel needs ~{LIGHTNING_SHARED_KB} KB of shared "
                f"memory per block; {gpu.name} has {gpu.max_shared_memory_per_block_kb} KB"
            )
        return problems

    def planned_figures(self, plan: Plan) -> dict[str, float]:
        g = plan.gpu
        return {
            "kv_cache_tokens": plan.kv_pool_tokens,
            "max_concurrency": round(g.cache_budget / g.per_seq_at_context, 2),
            "kv_cache_gib": round(g.cache_budget, 2),
        }

    def parse_report(self, log: str) -> dict[str, float]:
        out: dict[str, float] = {}
        if m := re.search(_CAPACITY, log):
            out["kv_cache_tokens"], out["max_concurrency"] = (
                base.log_number(m[1]),
                base.log_number(m[3]),
            )
        # Every tensor-parallel worker logs its own; the smallest one bounds the pool.
        memories = [base.log_number(m[1]) for m in re.finditer(_MEMORY, log)]
        if memories:
            out["kv_cache_gib"] = min(memories)
        return out

    def server_argv(self, entrypoint: list[str], command: list[str]) -> tuple[list[str], list[str]]:
        args = entrypoint + command
        if args[:1] == ["serve"]:
            warning = "`serve` is already the image's entrypoint: `vllm serve serve ...` fails"
            return args[1:], [warning]
        return args, []


ENGINE = VLLM()
