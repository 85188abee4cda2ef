"""The Grafana dashboard of a served stack and the provisioning files that load it (pure).

One dashboard per engine, its panels written in its engine module (Engine.dashboard): TTFT,
inter-token latency, tokens/s, running and waiting requests, KV-cache use, and speculative
decoding's acceptance where the engine reports it. Every PromQL expression names only metrics
its engine module lists for it (a unit test parses them out). `$__rate_interval` is Grafana's
rate window: at least four scrape intervals of the data source (its `timeInterval`, set below
to Prometheus's scrape interval).

Formats (Grafana docs, "Provision Grafana" and "Dashboard JSON model"): a data source file
(`apiVersion: 1`, `datasources:`), a dashboard provider file (`providers:` of `type: file`
reading a folder), and the classic dashboard JSON model. `schemaVersion` 39 is a version of
that model Grafana 11 and 12 write; Grafana migrates older dashboards forward on load
(grafana/grafana apps/dashboard/pkg/migration/schemaversion/migrations.go: every version from
MIN_VERSION 9 up). Grafana itself was not run here (it is not in Debian bookworm).
"""

from __future__ import annotations

from typing import Any, NamedTuple

from ling_compose.monitoring.metrics import EngineMetrics

DATASOURCE_UID = "ling-compose-prometheus"
SCHEMA_VERSION = 39
RATE = "$__rate_interval"


class Query(NamedTuple):
    expr: str
    legend: str


class Panel(NamedTuple):
    title: str
    unit: str  # a Grafana unit id: s, percentunit, short, ...
    description: str
    queries: tuple[Query, ...] = ()  # none: a text panel saying why (the engine reports nothing)


def quantiles(histogram: str, label: str) -> tuple[Query, ...]:
    rate = f"sum by (le) (rate({histogram}_bucket[{RATE}]))"
    return tuple(
        Query(f"histogram_quantile({q}, {rate})", f"{label} p{round(q * 100)}")
        for q in (0.5, 0.9, 0.99)
    )


def per_second(counter: str, legend: str) -> Query:
    return Query(f"sum(rate({counter}[{RATE}]))", legend)


def ratio(numerator: str, denominator: str, legend: str) -> Query:
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


def panels(engine: str) -> tuple[Panel, ...]:
    """ENGINE's dashboard, as its engine module writes it (Engine.dashboard)."""
    from ling_compose.engines import registry  # the registry loads engines; they import this

    return registry.get(engine).dashboard


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
        "description": f"{metrics.engine} {metrics.version}: metric names read at that version's source (ling_compose.engines.{metrics.engine})",
        "tags": ["ling-compose", metrics.engine],
        "editable": False,
        "refresh": "10s",
        "schemaVersion": SCHEMA_VERSION,
        "time": {"from": "now-1h", "to": "now"},
        "timezone": "browser",
        "panels": [_panel_json(p, i) for i, p in enumerate(panels(metrics.engine))],
    }


def expressions(engine: str) -> list[str]:
    """Every PromQL expression of ENGINE's dashboard."""
    return [q.expr for p in panels(engine) for q in p.queries]


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
