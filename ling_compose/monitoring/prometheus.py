"""The Prometheus configuration that scrapes a stack's server, built as data (pure).

Keys as Prometheus documents them (configuration/configuration.md) and as both the Prometheus 3
image and Debian bookworm's 2.42 accept (the e2e tests run the latter with this output). The
API key never enters the file: with a key, Prometheus reads it from `credentials_file`.
"""

from __future__ import annotations

from typing import Any

import yaml

from ling_compose.monitoring.metrics import EngineMetrics

DEFAULT_SCRAPE_INTERVAL_S = 5
# Prometheus refuses a scrape_timeout above scrape_interval; its default timeout is 10 s.
MAX_SCRAPE_TIMEOUT_S = 10


def scrape_job(
    metrics: EngineMetrics,
    target: str,
    *,
    job: str,
    interval_s: int = DEFAULT_SCRAPE_INTERVAL_S,
    api_key_file: str | None = None,
) -> dict[str, Any]:
    """One scrape job for the server at TARGET (host:port). API_KEY_FILE: a file holding the
    server's API key, sent as a Bearer token; only engines whose endpoint needs it get one."""
    job_config: dict[str, Any] = {
        "job_name": job,
        "scrape_interval": f"{interval_s}s",
        "scrape_timeout": f"{min(interval_s, MAX_SCRAPE_TIMEOUT_S)}s",
        "metrics_path": metrics.path,
        "static_configs": [{"targets": [target]}],
    }
    if api_key_file is not None and metrics.needs_api_key:
        job_config["authorization"] = {"type": "Bearer", "credentials_file": api_key_file}
    return job_config


def prometheus_config(*jobs: dict[str, Any]) -> dict[str, Any]:
    """A whole prometheus.yml with these scrape jobs (scrape_job); no rules, no alerts."""
    return {"scrape_configs": list(jobs)}


def dump(config: dict[str, Any]) -> str:
    return yaml.safe_dump(config, sort_keys=False, default_flow_style=False)
