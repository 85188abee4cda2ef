"""SGLang: image lmsysorg/sglang (no entrypoint: we set `python3 -m sglang.launch_server`),
port 30000, default host 127.0.0.1 so `--host 0.0.0.0` is mandatory in a container.

Source: shared/facts/backends.md, read off SGLang 0.5.23; flags checked against the catalogue.
"""

from __future__ import annotations

import re
from types import MappingProxyType
from typing import TYPE_CHECKING, Literal

from pydantic import Field

from ling_compose.engines import base
from ling_compose.flags import lint
from ling_compose.flags.parsers import TOOL_CALL_FORMAT, tool_call_parser
from ling_compose.models.hardware import GIB
from ling_compose.models.options import EngineOptions
from ling_compose.models.plan import CacheDemand, Capacity
from ling_compose.models.server import NodeArgs, Rendezvous, Value
from ling_compose.monitoring import dashboard as dash
from ling_compose.monitoring.metrics import EngineMetrics, Metric

if TYPE_CHECKING:
    from ling_compose.models.plan import Plan
    from ling_compose.models.stack import Stack

PINNED_VERSION = "0.5.23"
PORT = 30000
ENTRYPOINT = ("python3", "-m", "sglang.launch_server")
# torch.distributed's rendezvous port on the leader (--dist-init-addr HOST:PORT); 20000 as in
# SGLang's and LWS's multi-node examples. It must differ from the HTTP port.
DIST_INIT_PORT = 20000
MIN_VERSION = "0.5.10.post1"  # the first release that runs this model
ASSUMED_MEM_FRACTION = 0.85  # SGLang picks about 0.8-0.9 when unset
# SGLang 0.5.23 splits what is left after the weights between a linear-state pool and the KV
# pool: state gets ratio / (1 + ratio) with --mamba-full-memory-ratio 0.9
# (srt/arg_groups/fields/schedule.py fallback=0.9; srt/mem_cache/kv_cache_configurator.py).
STATE_TO_KV_RATIO = 0.9
# ... and a running request holds 3 state slots, plus 2 tracking slots of the extra_buffer
# radix-cache strategy it picks for BailingMoeV2_5 with overlap scheduling and the default
# triton linear-attention backend (kv_cache_configurator.py _calculate_mamba_ratio,
# MAMBA_CACHE_SIZE_MAX_RUNNING_REQUESTS_RATIO = 3; mem_cache/allocation_sizing.py
# get_mamba_tracking_slots; arg_groups/overrides.py _mamba_radix_cache_resolution).
STATE_SLOTS_PER_REQUEST = 3 + 2
# MTP is SGLang's NEXTN (an alias of EAGLE, arg_groups/speculative_hook.py); for
# BailingMoeV2_5ForCausalLM the draft model defaults to the target and, when the step/top-k/
# draft-token numbers are all left out, SGLang picks (3, 1, 4), the vendor's recipe; giving only
# some of them fails an assertion, so ling_compose always gives all three. Read at 0.5.23, which
# needs no mamba flag for it (--mamba-radix-cache-strategy auto resolves to extra_buffer).
MTP_VERIFIED_VERSION = "0.5.23"
MTP_ALGORITHM = "NEXTN"
MTP_DEFAULT_STEPS = 3


class SGLangOptions(EngineOptions):
    engine: Literal["sglang"] = "sglang"
    mem_fraction_static: float | None = Field(
        default=None,
        gt=0.1,
        le=0.95,
        description="Weights + KV pool fraction; unset lets SGLang choose (about 0.8-0.9)",
    )
    kv_cache_dtype: Literal["auto", "fp8_e4m3"] = "auto"


_HUMAN_INT = lint.human_int("Ki|Mi|Gi|Ti|k|M|G|T", {"Ki": 1, "Mi": 1, "Gi": 1, "Ti": 1})

# What SGLang logs about its cache at start-up (format "[%(asctime)s TPn] %(message)s",
# srt/utils/common.py configure_logger), at 0.5.23:
#   srt/managers/scheduler.py:1269     "max_total_num_tokens=%d, chunked_prefill_size=%d,
#       max_prefill_tokens=%d, max_running_requests=%d, context_len=%d, available_gpu_mem=%.2f GB"
#   srt/mem_cache/memory_pool.py:2097  "KV Cache is allocated. dtype: %s, #tokens: %d, KV size: %.2f GB"
#   srt/mem_cache/memory_pool.py:1005  "Mamba Cache is allocated. max_mamba_cache_size: %d,
#       conv_state size: %.2fGB, ssm_state size: %.2fGB"  (SGLang's GB is 2**30 bytes there)
_SCHEDULER = r"max_total_num_tokens=(\d+), .*?max_running_requests=(\d+), context_len=(\d+)"
_KV = r"KV Cache is allocated\. dtype: \S+, #tokens: (\d+), KV size: " + base.LOG_NUMBER + " GB"
_STATE = (
    r"Mamba Cache is allocated\. max_mamba_cache_size: (\d+), .*?ssm_state size: "
    + base.LOG_NUMBER
    + "GB"
)


# -- what /metrics writes at this version, and the Grafana panels that read it ------------

# SGLang 0.5.23. Scheduler metrics carry model_name, engine_type, tp_rank, pp_rank, moe_ep_rank
# (observability/metrics_collector.py L1382-1388; dp_rank and priority only when those are on);
# tokenizer metrics model_name and engine_type (L1807-1812), some of them also is_streaming.
_SG_SCHED = ("model_name", "engine_type", "tp_rank", "pp_rank", "moe_ep_rank")
_SG_TOK = ("model_name", "engine_type")
_SG_STREAM = (*_SG_TOK, "is_streaming")
_SG = "sglang/srt/observability/metrics_collector.py"
METRICS = EngineMetrics(
    engine="sglang",
    version="0.5.23",
    path="/metrics",
    enabled_by="--enable-metrics",
    disabled_by=(),
    needs_api_key=False,
    endpoint_source=(
        "sglang/srt/entrypoints/http_server.py L314-315 adds /metrics only with --enable-metrics; "
        "srt/utils/auth.py L101-105 lets /metrics through whatever --api-key says"
    ),
    metrics=(
        Metric("sglang:num_running_reqs", "gauge", "requests_running", _SG_SCHED, f"{_SG}:365"),
        Metric("sglang:num_queue_reqs", "gauge", "requests_waiting", _SG_SCHED, f"{_SG}:371"),
        Metric("sglang:gen_throughput", "gauge", "generation_throughput", _SG_SCHED, f"{_SG}:383"),
        # The fullest of the KV pool and (for this hybrid model) the linear-attention state
        # pool: managers/scheduler_components/pool_stats_observer.py L95-102, L155.
        Metric("sglang:token_usage", "gauge", "kv_cache_usage", _SG_SCHED, f"{_SG}:405"),
        Metric("sglang:full_token_usage", "gauge", "none", _SG_SCHED, f"{_SG}:411"),
        Metric("sglang:mamba_usage", "gauge", "none", _SG_SCHED, f"{_SG}:423"),
        # Only with speculative decoding (NEXTN/MTP) on.
        Metric("sglang:spec_accept_length", "gauge", "none", _SG_SCHED, f"{_SG}:512"),
        Metric("sglang:spec_accept_rate", "gauge", "none", _SG_SCHED, f"{_SG}:518"),
        Metric("sglang:prompt_tokens_total", "counter", "prompt_tokens", _SG_STREAM, f"{_SG}:1856"),
        Metric(
            "sglang:generation_tokens_total",
            "counter",
            "generation_tokens",
            _SG_STREAM,
            f"{_SG}:1861",
        ),
        Metric(
            "sglang:num_requests_total", "counter", "requests_finished", _SG_STREAM, f"{_SG}:1941"
        ),
        Metric(
            "sglang:time_to_first_token_seconds",
            "histogram",
            "ttft_seconds",
            _SG_STREAM,
            f"{_SG}:2041",
        ),
        Metric(
            "sglang:inter_token_latency_seconds", "histogram", "itl_seconds", _SG_TOK, f"{_SG}:2051"
        ),
        Metric(
            "sglang:request_time_per_output_token_seconds",
            "histogram",
            "tpot_seconds",
            _SG_STREAM,
            f"{_SG}:2058",
        ),
        Metric(
            "sglang:e2e_request_latency_seconds",
            "histogram",
            "e2e_seconds",
            _SG_STREAM,
            f"{_SG}:2068",
        ),
    ),
)
DASHBOARD = (
    dash.Panel(
        dash.TTFT,
        "s",
        "Request arrival to its first token.",
        dash.quantiles("sglang:time_to_first_token_seconds", "TTFT"),
    ),
    dash.Panel(
        dash.ITL,
        "s",
        "Gaps between output chunks, and per request the time per output token (TPOT).",
        (
            *dash.quantiles("sglang:inter_token_latency_seconds", "ITL"),
            dash.quantiles("sglang:request_time_per_output_token_seconds", "TPOT")[0],
        ),
    ),
    dash.Panel(
        dash.TOKENS,
        "short",
        "Generated and prompt tokens per second, all requests together.",
        (
            dash.per_second("sglang:generation_tokens_total", "generated"),
            dash.per_second("sglang:prompt_tokens_total", "prompt"),
        ),
    ),
    dash.Panel(
        dash.REQUESTS,
        "short",
        "Requests running, and requests in the waiting queue.",
        (
            dash.Query("sum(sglang:num_running_reqs)", "running"),
            dash.Query("sum(sglang:num_queue_reqs)", "waiting"),
        ),
    ),
    dash.Panel(
        dash.KV,
        "percentunit",
        "The fuller of the KV pool and the linear-attention state pool (what limits admission), and each pool alone.",
        (
            dash.Query("max(sglang:token_usage)", "limiting pool"),
            dash.Query("max(sglang:full_token_usage)", "KV (full attention)"),
            dash.Query("max(sglang:mamba_usage)", "linear-attention state"),
        ),
    ),
    dash.Panel(
        dash.SPEC,
        "percentunit",
        "Accepted / proposed draft tokens per batch; no data without speculative decoding.",
        (dash.Query("avg(sglang:spec_accept_rate)", "acceptance rate"),),
    ),
)


class SGLang(base.Engine):
    name = "sglang"
    display_name = "SGLang"
    options = SGLangOptions
    pinned_version = PINNED_VERSION
    port = PORT
    image_repositories = ("lmsysorg/sglang",)
    metrics = (METRICS,)
    dashboard = DASHBOARD
    image_template = "lmsysorg/sglang:v{version}"
    entrypoint = ENTRYPOINT
    api_key_place = base.ApiKeyPlace(
        flag="--api-key"
    )  # SGLang reads no environment variable for it

    # --mem-fraction-static covers weights and the KV pool: activations live outside it.
    activation_reserve_gib = 0.0
    # float32 unless the config or SGLANG_MAMBA_SSM_DTYPE says otherwise
    # (srt/configs/mamba_utils.py, "ssm_dtype = torch.float32  # Step 1: Default value").
    state_bytes_per_value = 4
    state_note = "fp32, sglang's default"
    cache_pool = "split"
    spans_nodes = True
    min_version = MIN_VERSION
    min_version_why = "the first to run this model"
    # 200 only while the tokenizer manager is up and not exiting (srt/entrypoints/http_server.py
    # GET /ready, 0.5.23); /health runs a one-token generation once the server is up.
    readiness_path = "/ready"

    mtp_min_version = MTP_VERIFIED_VERSION
    mtp_default_tokens = MTP_DEFAULT_STEPS
    mtp_without_weights = (
        "what SGLang does then is unverified (its NextN loader has no completeness check)"
    )

    # A plain ArgumentParser (srt/server_args.py prepare_server_args).
    parser_rules = lint.ARGPARSE._replace(
        value_checks={
            **lint.ARGPARSE.value_checks,
            "human_readable_int": _HUMAN_INT,
            "parse_cuda_graph_config_arg": lint.json_object,
        },
    )
    # `qwen` is canonical in 0.5.23; `qwen25` is a deprecated alias that it rewrites with a
    # warning, and `auto` would pick `ling3` (GLM-style XML) for model_type bailing_hybrid,
    # which is the wrong format for this model.
    tool_call_parsers = MappingProxyType({(TOOL_CALL_FORMAT, "0.5.23"): "qwen"})
    reasoning_parsers = MappingProxyType({("deepseek_r1", "0.5.23"): "deepseek-r1"})

    report_figures = (
        base.ReportFigure("kv_cache_tokens", "KV pool (max_total_num_tokens)", "tokens"),
        base.ReportFigure("max_running_requests", "running requests", ""),
        base.ReportFigure("kv_cache_gib", "KV pool per GPU", "GiB"),
        base.ReportFigure("state_gib", "linear-state pool per GPU", "GiB"),
    )
    tool_call_hint = (
        "SGLang parses tool calls only with `--tool-call-parser qwen` (or `hermes`) for "
        "this model's <tool_call> JSON"
    )
    tool_call_flags = "--tool-call-parser qwen"
    image_cuda_variants = (("-cu130", "13.0"), ("-cu129", "12.9"))

    def command(self, stack: Stack, plan: Plan) -> base.EngineCommand:
        backend = stack.backend
        assert isinstance(backend, SGLangOptions)
        version, serving = self.version_of(backend), stack.serving
        args: list[Value] = ["--model-path", stack.checkpoint.hf_repo, *self.serving_args(stack)]
        # Full names: --tp works only as an abbreviation.
        args += ["--trust-remote-code", "--tp-size", str(plan.tensor_parallel)]
        if plan.pipeline_parallel > 1:
            args += ["--pp-size", str(plan.pipeline_parallel)]
        args += [
            "--context-length",
            str(serving.context_length),
            "--max-running-requests",
            str(serving.concurrency),
            "--enable-metrics",  # else there is no /metrics
        ]
        if backend.mem_fraction_static is not None:
            args += ["--mem-fraction-static", f"{backend.mem_fraction_static:g}"]
        if backend.kv_cache_dtype != "auto":
            args += ["--kv-cache-dtype", backend.kv_cache_dtype]
        if plan.mtp.on:
            args += self.mtp_args(plan.mtp.tokens)
        if plan.yarn:
            args += ["--json-model-override-args", base.yarn_override_json()]
        if serving.tool_calling:
            parser = tool_call_parser(TOOL_CALL_FORMAT, self.name, version)
            assert parser is not None
            args += ["--tool-call-parser", parser]  # SGLang has no separate auto-tool-choice flag
        if serving.api_key_env:
            args += ["--api-key", base.api_key_ref(serving.api_key_env)]
        return self.finish(stack, version, args)

    def mtp_args(self, tokens: int) -> list[Value]:
        # k steps of the one MTP layer, a chain (top-k 1), so k + 1 tokens to verify.
        return [
            "--speculative-algorithm",
            MTP_ALGORITHM,
            "--speculative-num-steps",
            str(tokens),
            "--speculative-eagle-topk",
            "1",
            "--speculative-num-draft-tokens",
            str(tokens + 1),
        ]

    def mtp_state_factor(self, tokens: int) -> float:
        # With speculative decoding every state slot also reserves draft-token states: the
        # configurator solves slots = budget / (state x (1 + D / slots per request)), D the
        # draft tokens (mem_cache/kv_cache_configurator.py "Joint solve: main_state +
        # intermediate = mamba_budget"; memory_pool.py intermediate_ssm_state_cache).
        draft_tokens = tokens + 1
        return 1.0 + draft_tokens / STATE_SLOTS_PER_REQUEST

    def node_args(self, plan: Plan, rendezvous: Rendezvous) -> NodeArgs:
        """--nnodes/--node-rank/--dist-init-addr (srt/server_args.py, 0.5.23). With --pp-size =
        nodes each node holds one pipeline stage and all its TP ranks (srt/entrypoints/engine.py
        _calculate_rank_ranges). Ranks >= 1 run no tokenizer but start a small server with
        /health on --host:--port once their schedulers are ready (engine.py, then
        utils/common.py launch_dummy_health_check_server), so --host 0.0.0.0 lets a probe in."""
        common: tuple[Value, ...] = (
            "--nnodes",
            str(plan.nodes),
            "--dist-init-addr",
            f"{rendezvous.leader_address}:{DIST_INIT_PORT}",
        )
        return NodeArgs(
            leader=(*common, "--node-rank", "0"),
            worker=(*common, "--node-rank", rendezvous.rank),
            worker_health=True,
        )

    # -- planning ----------------------------------------------------------------------------
    def usable_memory(self, options: EngineOptions, total_gib: float) -> tuple[float, str]:
        assert isinstance(options, SGLangOptions)
        fraction = options.mem_fraction_static or ASSUMED_MEM_FRACTION
        source = (
            "--mem-fraction-static" if options.mem_fraction_static else "SGLang's typical choice"
        )
        note = f"{fraction:.2f} x {total_gib:.1f} ({source}; activations live outside it)"
        return total_gib * fraction, note

    def capacity(self, demand: CacheDemand) -> Capacity:
        """A state pool of ratio/(1+ratio) of the budget, the rest a KV pool in tokens (its
        max_total_num_tokens); state slots also cap the running requests."""
        budget = max(0.0, demand.budget)
        state_pool = budget * STATE_TO_KV_RATIO / (1 + STATE_TO_KV_RATIO)
        kv_pool = budget - state_pool
        tokens = int(kv_pool * GIB / demand.per_token)
        cap = int(state_pool / demand.state_seq) // STATE_SLOTS_PER_REQUEST
        return Capacity(
            kv_pool=kv_pool,
            state_pool=state_pool,
            pool_note=(
                f"SGLang splits it: {STATE_TO_KV_RATIO:g}/{1 + STATE_TO_KV_RATIO:g} to "
                f"linear state ({STATE_SLOTS_PER_REQUEST} slots per running request), the rest "
                "to the KV pool"
            ),
            kv_pool_tokens=tokens,
            sequences_at_full_context=min(tokens // demand.context, cap),
            max_context_at_1=tokens,
            running_cap=cap,
        )

    def fp8_kv_cache(self, options: EngineOptions) -> bool:
        assert isinstance(options, SGLangOptions)
        return options.kv_cache_dtype != "auto"

    def problems(self, stack: Stack, tensor_parallel: int, pipeline_parallel: int) -> list[str]:
        problems: list[str] = []
        if stack.checkpoint.format == "gguf":
            problems.append(
                "SGLang cannot serve this GGUF file; use the fp8, int4 or bf16 checkpoint"
            )
        return problems

    def warnings(self, stack: Stack, capacity: Capacity) -> list[str]:
        concurrency = stack.serving.concurrency
        out = []
        if 0 < (capacity.running_cap or 0) < concurrency:
            out.append(
                f"SGLang's linear-state pool holds {capacity.running_cap} running requests; it "
                f"caps --max-running-requests {concurrency} there"
            )
        if stack.hardware.gpu.is_consumer_class:
            out.append(
                "SGLang's Lightning-attention kernels are unverified on GPUs with < 128 KB shared memory per block"
            )
        return out

    def planned_figures(self, plan: Plan) -> dict[str, float]:
        # SGLang caps --max-running-requests by its state slots and by half its tokens
        # (kv_cache_configurator.py resolve_max_num_reqs).
        g = plan.gpu
        cap = min(plan.concurrency, plan.running_cap or plan.concurrency, plan.kv_pool_tokens // 2)
        return {
            "kv_cache_tokens": plan.kv_pool_tokens,
            "max_running_requests": cap,
            "kv_cache_gib": round(g.kv_pool, 2),
            "state_gib": round(g.state_pool, 2),
        }

    def parse_report(self, log: str) -> dict[str, float]:
        out: dict[str, float] = {}
        if m := re.search(_SCHEDULER, log):
            out["kv_cache_tokens"], out["max_running_requests"] = (
                base.log_number(m[1]),
                base.log_number(m[2]),
            )
        if m := re.search(_KV, log):
            out.setdefault("kv_cache_tokens", base.log_number(m[1]))
            out["kv_cache_gib"] = base.log_number(m[2])
        if m := re.search(_STATE, log):
            out["state_gib"] = base.log_number(m[2])
        return out

    def server_argv(self, entrypoint: list[str], command: list[str]) -> tuple[list[str], list[str]]:
        args = entrypoint + command
        if tuple(args[: len(ENTRYPOINT)]) == ENTRYPOINT:
            return args[len(ENTRYPOINT) :], []
        if not entrypoint:
            return args, [
                "the SGLang image has no entrypoint: set `python3 -m sglang.launch_server`"
            ]
        return args, []


ENGINE = SGLang()
