"""The Grafana dashboard of a served stack and the provisioning files that load it (pure).

One dashboard per engine: TTFT, inter-token latency, tokens/s, running and waiting requests,
KV-cache use, and speculative decoding's acceptance where the engine reports it. Every PromQL
expression names only metrics of monitoring/metrics.py for that engine (a unit test parses
them out). `$__rate_interval` is Grafana's rate window: at least four scrape intervals of the
data source (its `timeInterval`, set below to Prometheus's scrape interval).

Formats (Grafana docs, "Provision Grafana" and "Dashboard JSON model"): a data source file
(`apiVersion: 1`, `datasources:`), a dashboard provider file (`providers:` of `type: file`
reading a folder), and the classic dashboard JSON model. `schemaVersion` 39 is a version of
that model Grafana 11 and 12 write; Grafana migrates older dashboards forward on load
(grafana/grafana apps/dashboard/pkg/migration/schemaversion/migrations.go: every version from
MIN_VERSION 9 up). Grafana itself was not run here (it is not in Debian bookworm).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ling_compose.monitoring.metrics import EngineMetrics

DATASOURCE_UID = "ling-compose-prometheus"
SCHEMA_VERSION = 39
RATE = "$__rate_interval"


@dataclass(frozen=True)
class Query:
    expr: str
    legend: str


@dataclass(frozen=True)
class Panel:
    title: str
    unit: str  # a Grafana unit id: s, percentunit, short, ...
    description: str
    queries: tuple[Query, ...] = ()  # none: a text panel saying why (the engine reports nothing)


def _quantiles(histogram: str, label: str) -> tuple[Query, ...]:
    rate = f"sum by (le) (rate({histogram}_bucket[{RATE}]))"
    return tuple(
        Query(f"histogram_quantile({q}, {rate})", f"{label} p{round(q * 100)}")
        for q in (0.5, 0.9, 0.99)
    )


def _per_second(counter: str, legend: str) -> Query:
    return Query(f"sum(rate({counter}[{RATE}]))", legend)


def _ratio(numerator: str, denominator: str, legend: str) -> Query:
    return Query(
        f"sum(rate({numerator}[{RATE}])) / sum(rate({denominator}[{RATE}]))",
        legend,
    )


TTFT = "Time to first token"
ITL = "Inter-token latency"
TOKENS = "Tokens per second"
REQUESTS = "Requests running and waiting"
KV = "KV-cache use"
SPEC = "Speculative decoding (MTP) acceptance"

VLLM_PANELS = (
    Panel(
        TTFT,
        "s",
        "Request arrival to its first token.",
        _quantiles("vllm:time_to_first_token_seconds", "TTFT"),
    ),
    Panel(
        ITL,
        "s",
        "Gaps between output chunks, and per request the time per output token (TPOT).",
        (
            *_quantiles("vllm:inter_token_latency_seconds", "ITL"),
            _quantiles("vllm:request_time_per_output_token_seconds", "TPOT")[0],
        ),
    ),
    Panel(
        TOKENS,
        "short",
        "Generated and prompt tokens per second, all requests together.",
        (
            _per_second("vllm:generation_tokens_total", "generated"),
            _per_second("vllm:prompt_tokens_total", "prompt"),
        ),
    ),
    Panel(
        REQUESTS,
        "short",
        "Requests in the running batch, and requests queued for a place in it.",
        (
            Query("sum(vllm:num_requests_running)", "running"),
            Query("sum(vllm:num_requests_waiting)", "waiting"),
        ),
    ),
    Panel(
        KV,
        "percentunit",
        "Share of the KV-cache blocks in use.",
        (Query("max(vllm:kv_cache_usage_perc)", "KV cache"),),
    ),
    Panel(
        SPEC,
        "percentunit",
        "Accepted draft tokens / proposed draft tokens; no data without speculative decoding.",
        (
            _ratio(
                "vllm:spec_decode_num_accepted_tokens_total",
                "vllm:spec_decode_num_draft_tokens_total",
                "acceptance rate",
            ),
        ),
    ),
)

SGLANG_PANELS = (
    Panel(
        TTFT,
        "s",
        "Request arrival to its first token.",
        _quantiles("sglang:time_to_first_token_seconds", "TTFT"),
    ),
    Panel(
        ITL,
        "s",
        "Gaps between output chunks, and per request the time per output token (TPOT).",
        (
            *_quantiles("sglang:inter_token_latency_seconds", "ITL"),
            _quantiles("sglang:request_time_per_output_token_seconds", "TPOT")[0],
        ),
    ),
    Panel(
        TOKENS,
        "short",
        "Generated and prompt tokens per second, all requests together.",
        (
            _per_second("sglang:generation_tokens_total", "generated"),
            _per_second("sglang:prompt_tokens_total", "prompt"),
        ),
    ),
    Panel(
        REQUESTS,
        "short",
        "Requests running, and requests in the waiting queue.",
        (
            Query("sum(sglang:num_running_reqs)", "running"),
            Query("sum(sglang:num_queue_reqs)", "waiting"),
        ),
    ),
    Panel(
        KV,
        "percentunit",
        "The fuller of the KV pool and the linear-attention state pool (what limits admission), and each pool alone.",
        (
            Query("max(sglang:token_usage)", "limiting pool"),
            Query("max(sglang:full_token_usage)", "KV (full attention)"),
            Query("max(sglang:mamba_usage)", "linear-attention state"),
        ),
    ),
    Panel(
        SPEC,
        "percentunit",
        "Accepted / proposed draft tokens per batch; no data without speculative decoding.",
        (Query("avg(sglang:spec_accept_rate)", "acceptance rate"),),
    ),
)

# llama-server has no histograms: means from its time and token counters stand in for
# TTFT and ITL (what its own server-task.cpp counters allow), and it reports no KV-cache use.
LLAMACPP_PANELS = (
    Panel(
        TTFT,
        "s",
        "llama-server reports no time to first token: this is its mean prompt-processing time per prompt token (TTFT = prompt tokens x this, plus queueing).",
        (
            _ratio(
                "llamacpp:prompt_seconds_total", "llamacpp:prompt_tokens_total", "prefill s/token"
            ),
        ),
    ),
    Panel(
        ITL,
        "s",
        "llama-server reports no inter-token histogram: this is its mean generation time per generated token, per slot.",
        (
            _ratio(
                "llamacpp:tokens_predicted_seconds_total",
                "llamacpp:tokens_predicted_total",
                "s/token",
            ),
        ),
    ),
    Panel(
        TOKENS,
        "short",
        "Generated and prompt tokens per second, all slots together.",
        (
            _per_second("llamacpp:tokens_predicted_total", "generated"),
            _per_second("llamacpp:prompt_tokens_total", "prompt"),
        ),
    ),
    Panel(
        REQUESTS,
        "short",
        "Slots busy with a request, and requests deferred until a slot frees.",
        (
            Query("llamacpp:requests_processing", "running"),
            Query("llamacpp:requests_deferred", "waiting"),
        ),
    ),
    Panel(KV, "percentunit", "llama-server (b11434 and the fork) exports no KV-cache metric."),
)

PANELS: dict[str, tuple[Panel, ...]] = {
    "vllm": VLLM_PANELS,
    "sglang": SGLANG_PANELS,
    "llamacpp": LLAMACPP_PANELS,
}


def datasource_ref() -> dict[str, str]:
    return {"type": "prometheus", "uid": DATASOURCE_UID}


def _panel_json(panel: Panel, index: int) -> dict[str, Any]:
    grid = {"h": 8, "w": 12, "x": 12 * (index % 2), "y": 8 * (index // 2)}
    if not panel.queries:
        return {
            "id": index + 1,
            "type": "text",
            "title": panel.title,
            "gridPos": grid,
            "options": {"mode": "markdown", "content": panel.description},
        }
    return {
        "id": index + 1,
        "type": "timeseries",
        "title": panel.title,
        "description": panel.description,
        "gridPos": grid,
        "datasource": datasource_ref(),
        "fieldConfig": {"defaults": {"unit": panel.unit}, "overrides": []},
        "targets": [
            {
                "refId": chr(ord("A") + i),
                "datasource": datasource_ref(),
                "expr": query.expr,
                "legendFormat": query.legend,
            }
            for i, query in enumerate(panel.queries)
        ],
    }


def dashboard(metrics: EngineMetrics, title: str) -> dict[str, Any]:
    """The dashboard JSON for a server of METRICS' engine."""
    return {
        "uid": f"ling-compose-{metrics.engine}",
        "title": title,
        "description": f"{metrics.engine} {metrics.version}: metric names read at that version's source (ling_compose.monitoring.metrics)",
        "tags": ["ling-compose", metrics.engine],
        "editable": False,
        "refresh": "10s",
        "schemaVersion": SCHEMA_VERSION,
        "time": {"from": "now-1h", "to": "now"},
        "timezone": "browser",
        "panels": [_panel_json(p, i) for i, p in enumerate(PANELS[metrics.engine])],
    }


def expressions(engine: str) -> list[str]:
    """Every PromQL expression of ENGINE's dashboard."""
    return [q.expr for p in PANELS[engine] for q in p.queries]


def datasource_provisioning(prometheus_url: str, scrape_interval_s: int) -> dict[str, Any]:
    return {
        "apiVersion": 1,
        "datasources": [
            {
                "name": "Prometheus",
                "uid": DATASOURCE_UID,
                "type": "prometheus",
                "access": "proxy",
                "url": prometheus_url,
                "isDefault": True,
                "editable": False,
                # The data source's "Scrape interval": $__rate_interval is derived from it.
                "jsonData": {"timeInterval": f"{scrape_interval_s}s"},
            }
        ],
    }


def dashboard_provider(folder: str) -> dict[str, Any]:
    """Grafana loads every dashboard JSON file in FOLDER (in the container)."""
    return {
        "apiVersion": 1,
        "providers": [
            {
                "name": "ling-compose",
                "orgId": 1,
                "folder": "",
                "type": "file",
                "disableDeletion": True,
                "allowUiUpdates": False,
                "options": {"path": folder},
            }
        ],
    }
