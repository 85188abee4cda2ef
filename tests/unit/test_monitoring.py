"""Monitoring building blocks: metric names, the dashboard's PromQL, Prometheus config, services."""

from __future__ import annotations

import json
import re

import pytest
import yaml

from ling_compose.compose import compile_stack, render_yaml
from ling_compose.engines import llamacpp, registry, sglang, vllm
from ling_compose.errors import ConfigError
from ling_compose.flags.compose_lint import check_compose
from ling_compose.flags.validate import validate_file
from ling_compose.load import Overrides, load_stack
from ling_compose.models.compose import ComposeProject, Config, PortMapping, Service
from ling_compose.monitoring import dashboard, prometheus
from ling_compose.monitoring.metrics import EngineMetrics, catalogue, metrics_for
from ling_compose.monitoring.services import (
    GRAFANA_PASSWORD_ENV,
    Monitoring,
    monitoring_services,
)

# PromQL words that are not metric names: operators and the modifiers before a label list.
_KEYWORDS = {"and", "or", "unless", "bool", "offset", "by", "without", "on", "ignoring"}
_LABEL_LISTS = re.compile(r"\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)")


def metric_names(expr: str) -> set[str]:
    """The metric names a PromQL expression selects: identifiers that are neither functions
    (followed by '('), keywords, label names (inside {...} or a by/without list), durations
    (inside [...]) nor numbers."""
    text = re.sub(r'"(?:[^"\\]|\\.)*"', '""', expr)  # string literals (label values)
    text = re.sub(r"\{[^}]*\}", "", text)  # label matchers
    text = re.sub(r"\[[^\]]*\]", "", text)  # range and subquery durations
    text = _LABEL_LISTS.sub("", text)  # `sum by (le) (x)` -> `sum (x)`: sum stays a function
    text = re.sub(r"(?<![A-Za-z0-9_:])\d+(?:\.\d+)?(?:ms|[smhdwy])*", "", text)  # 0.99, 5m
    names = set()
    for match in re.finditer(r"[A-Za-z_:][A-Za-z0-9_:]*", text):
        after = text[match.end() :].lstrip()
        word = match.group()
        if after.startswith("(") or word.lower() in _KEYWORDS:
            continue
        names.add(word)
    return names


def test_the_name_parser_finds_every_selected_metric_and_nothing_else() -> None:
    expr = (
        'histogram_quantile(0.99, sum by (le, model_name) (rate(a:x_bucket{job="s",le!="1"}'
        "[$__rate_interval]))) / on (job) group_left (instance) sum without (engine) "
        '(b_total offset 5m) > bool 2 and c:gauge{name="d:not_a_metric"}'
    )
    assert metric_names(expr) == {"a:x_bucket", "b_total", "c:gauge"}
    assert metric_names("llamacpp:requests_processing") == {"llamacpp:requests_processing"}


@pytest.mark.parametrize("key", list(catalogue()), ids=lambda k: f"{k[0]}-{k[1]}")
def test_dashboard_queries_name_only_metrics_of_that_engine_version(key: tuple[str, str]) -> None:
    metrics = catalogue()[key]
    exprs = dashboard.expressions(metrics.engine)
    assert exprs
    for expr in exprs:
        unknown = metric_names(expr) - metrics.series
        assert metric_names(expr) and not unknown, f"{expr}: not in metrics.py: {unknown}"


def test_every_engine_has_the_panels_the_dashboard_promises() -> None:
    wanted = [dashboard.TTFT, dashboard.ITL, dashboard.TOKENS, dashboard.REQUESTS, dashboard.KV]
    for engine in registry.engines():
        titles = [p.title for p in engine.dashboard]
        assert titles[: len(wanted)] == wanted, engine.name
    # llama-server reports no KV-cache use: a text panel says so, no query pretends otherwise.
    (kv,) = [p for p in llamacpp.DASHBOARD if p.title == dashboard.KV]
    assert kv.queries == () and "no KV-cache metric" in kv.description
    board = dashboard.dashboard(metrics_for("llamacpp", "b11434"), "t")
    assert [p["type"] for p in board["panels"]].count("text") == 1


def test_metric_facts_are_tied_to_the_pinned_engine_versions() -> None:
    """A version bump must come with a new reading of the metric names at its source."""
    assert set(catalogue()) == {
        ("vllm", vllm.PINNED_VERSION),
        ("sglang", sglang.PINNED_VERSION),
        ("llamacpp", llamacpp.PINNED_VERSION),
        ("llamacpp", llamacpp.FORK_VERSION),
    }


def test_an_engine_version_whose_names_were_not_read_is_refused() -> None:
    with pytest.raises(ConfigError) as err:
        metrics_for("vllm", "0.34.0")
    assert "vllm 0.34.0" in err.value.message
    assert err.value.hint is not None and "vllm 0.33.0" in err.value.hint


def test_endpoint_facts_per_engine() -> None:
    assert metrics_for("vllm", "0.33.0").enabled_by is None
    assert metrics_for("sglang", "0.5.23").enabled_by == "--enable-metrics"
    lc = metrics_for("llamacpp", "b11434")
    assert lc.enabled_by == "--metrics" and lc.needs_api_key
    assert not metrics_for("vllm", "0.33.0").needs_api_key
    assert not metrics_for("sglang", "0.5.23").needs_api_key
    # The fork's handler writes a subset of b11434's names, with the same types.
    fork, upstream = (
        metrics_for("llamacpp", llamacpp.FORK_VERSION),
        metrics_for("llamacpp", "b11434"),
    )
    kinds = {m.name: m.kind for m in upstream.metrics}
    assert fork.metrics and all(kinds[m.name] == m.kind for m in fork.metrics)


@pytest.mark.parametrize("metrics", list(catalogue().values()), ids=lambda m: m.version)
def test_metrics_are_well_formed(metrics: EngineMetrics) -> None:
    names = [m.name for m in metrics.metrics]
    assert len(names) == len(set(names))
    for m in metrics.metrics:
        assert re.fullmatch(rf"{metrics.engine}:[a-z0-9_]+", m.name), m.name
        assert re.search(r"\.(py|cpp)", m.source), m.source
        if m.kind == "counter" and metrics.engine != "llamacpp":
            assert m.name.endswith("_total"), m.name  # prometheus_client adds it on exposition


def test_prometheus_config_sends_the_key_file_only_where_the_endpoint_needs_it() -> None:
    for engine, version in (("vllm", "0.33.0"), ("sglang", "0.5.23")):
        job = prometheus.scrape_job(
            metrics_for(engine, version), "server:8000", job="server", api_key_file="/k"
        )
        assert "authorization" not in job  # their /metrics stays open with --api-key
    config = prometheus.prometheus_config(
        prometheus.scrape_job(
            metrics_for("llamacpp", "b11434"), "server:8080", job="server", api_key_file="/k"
        )
    )
    (job,) = config["scrape_configs"]
    assert job["authorization"] == {"type": "Bearer", "credentials_file": "/k"}
    assert job["static_configs"] == [{"targets": ["server:8080"]}]
    assert job["metrics_path"] == "/metrics"
    assert yaml.safe_load(prometheus.dump(config)) == config


def test_scrape_timeout_never_exceeds_the_interval() -> None:
    lc = metrics_for("llamacpp", "b11434")
    for interval in (1, 5, 10, 30):
        job = prometheus.scrape_job(lc, "x:1", job="j", interval_s=interval)
        assert job["scrape_interval"] == f"{interval}s"
        assert int(job["scrape_timeout"].rstrip("s")) == min(interval, 10)


def _monitoring(engine: str = "llamacpp", version: str = "b11434", **kwargs: object) -> Monitoring:
    args: dict[str, object] = {
        "server_service": "server",
        "container_port": 8080,
        "api_key_env": "LING_KEY",
    }
    args.update(kwargs)
    return monitoring_services(engine, version, **args)  # type: ignore[arg-type]


def _server_project(port: int = 8080) -> ComposeProject:
    server = Service(
        image="example/server:1",
        ports=[PortMapping(host_port=port, container_port=8080)],
        environment={"LLAMA_API_KEY": "${LING_KEY:?set LING_KEY to the API key}"},
    )
    return ComposeProject(name="ling-x", services={"server": server})


def test_monitoring_services_pin_images_publish_on_loopback_and_keep_data_in_volumes() -> None:
    mon = _monitoring()
    assert set(mon.services) == {"prometheus", "grafana"}
    for name, service in mon.services.items():
        repo, _, tag = service.image.rpartition(":")
        assert repo and re.fullmatch(r"v?\d+\.\d+\.\d+", tag), service.image
        assert [p.host_ip for p in service.ports] == ["127.0.0.1"], name
        for mount in service.volumes:
            assert mount.source in mon.volumes, name  # a named volume, not a host path
    assert {p.host_port for s in mon.services.values() for p in s.ports} == {9090, 3000}


def test_grafana_password_comes_from_the_environment_and_anonymous_access_is_off() -> None:
    env = _monitoring().services["grafana"].environment
    assert env["GF_SECURITY_ADMIN_PASSWORD"].startswith("${" + GRAFANA_PASSWORD_ENV + ":?")
    assert env["GF_AUTH_ANONYMOUS_ENABLED"] == "false"


@pytest.mark.parametrize("bind", ["0.0.0.0", "192.168.1.20", "::"])
def test_a_non_loopback_bind_is_refused(bind: str) -> None:
    with pytest.raises(ConfigError) as err:
        _monitoring(bind=bind)
    assert f"Prometheus and Grafana on {bind} exposes them to the network" in err.value.message
    assert err.value.hint is not None and "127.0.0.1" in err.value.hint


def test_a_bind_that_is_no_address_is_refused() -> None:
    with pytest.raises(ConfigError, match="not an IP address"):
        _monitoring(bind="localhost")


def test_the_api_key_reaches_prometheus_as_a_secret_from_the_servers_variable() -> None:
    mon = _monitoring()
    text = render_yaml(mon.add_to(_server_project()))
    data = yaml.safe_load(text)
    assert data["secrets"] == {"server-api-key": {"environment": "LING_KEY"}}
    assert data["services"]["prometheus"]["secrets"][0]["source"] == "server-api-key"
    scrape = yaml.safe_load(data["configs"]["prometheus-config"]["content"])
    auth = scrape["scrape_configs"][0]["authorization"]
    assert auth["credentials_file"] == data["services"]["prometheus"]["secrets"][0]["target"]
    # vLLM's /metrics is open with a key: no secret at all there.
    assert _monitoring("vllm", "0.33.0", container_port=8000).secrets == {}
    assert _monitoring(api_key_env=None).secrets == {}


def test_the_file_passes_the_compose_schema_and_round_trips() -> None:
    project = _monitoring().add_to(_server_project())
    text = render_yaml(project)
    data = yaml.safe_load(text)
    assert check_compose(data) == []
    # Compose interpolates config content: Grafana's $__rate_interval is written as $$.
    assert "[$$__rate_interval]" in data["configs"]["grafana-dashboard"]["content"]
    back = ComposeProject.from_compose(data)
    assert back.model_dump(exclude={"header"}) == project.model_dump(exclude={"header"})
    board = json.loads(back.configs["grafana-dashboard"].content)
    assert board == dashboard.dashboard(metrics_for("llamacpp", "b11434"), board["title"])
    assert "[$__rate_interval]" in json.dumps(board)


def test_adding_to_a_project_refuses_names_and_host_ports_it_already_uses() -> None:
    mon = _monitoring()
    with pytest.raises(ConfigError, match="host port 9090 would be published twice"):
        mon.add_to(_server_project(port=9090))
    taken = _server_project().model_copy(
        update={
            "services": {
                "server": _server_project().services["server"],
                "grafana": Service(image="x:1"),
            }
        }
    )
    with pytest.raises(ConfigError, match="already has a service named grafana"):
        mon.add_to(taken)


def test_header_says_what_is_scraped_and_where_grafana_is() -> None:
    header = "\n".join(_monitoring(grafana_port=3300).header)
    assert "scrapes server:8080/metrics every 5s" in header
    assert "with the API key from LING_KEY" in header
    assert "http://127.0.0.1:3300" in header and GRAFANA_PASSWORD_ENV in header
    assert "UNVERIFIED" in header


@pytest.mark.parametrize(
    "content",
    ["a: 1\nb: [$x]\n", "  indented first\nline", "trailing space \nx\n", "x\n\n\n", "one line"],
)
def test_config_content_reads_back_exactly_and_multi_line_text_is_a_literal_block(
    content: str,
) -> None:
    project = ComposeProject(
        name="x", services={"s": Service(image="i:1")}, configs={"c": Config(content=content)}
    )
    text = render_yaml(project)
    assert ComposeProject.from_compose(yaml.safe_load(text)).configs["c"].content == content
    if content == "a: 1\nb: [$x]\n":
        assert "content: |\n      a: 1\n      b: [$$x]\n" in text


def _with_monitoring(profile: str, extra_args: list[str] | None = None) -> ComposeProject:
    """A built-in profile compiled as `render PROFILE --with-monitoring` compiles it."""
    overrides = Overrides(monitoring=True, extra_args=extra_args or [])
    return compile_stack(load_stack(profile, overrides)).project


@pytest.mark.parametrize("profile", ["h100-fp8", "h200-bf16", "4090-int4"])
def test_a_compiled_stack_with_monitoring_validates_and_only_the_server_is_linted(
    profile: str,
) -> None:
    data = yaml.safe_load(render_yaml(_with_monitoring(profile)))
    report = validate_file(data)
    assert report.ok, [e for s in report.services for e in s.errors]
    engines = {s.service: s.engine for s in report.services}
    assert engines == {
        "server": data["x-ling-compose"]["engine"],
        "prometheus": None,
        "grafana": None,
    }


def test_a_server_command_that_would_leave_the_dashboard_empty_is_refused() -> None:
    with pytest.raises(ConfigError, match="records no metrics with --disable-log-stats"):
        _with_monitoring("h100-fp8", ["--disable-log-stats"])
    lc = metrics_for("llamacpp", "b11434")
    with pytest.raises(ConfigError, match="has no /metrics without --metrics") as err:
        monitoring_services(
            "llamacpp",
            lc.version,
            server_service="server",
            container_port=8080,
            api_key_env=None,
            server_command=["--model", "/m.gguf", "--jinja"],
        )
    assert err.value.hint == "add --metrics to its command"
