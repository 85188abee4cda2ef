"""Metrics end to end with a real Prometheus server (Debian's package, .ci/prometheus.sh).

Prometheus runs with the configuration ling_compose.monitoring generates and scrapes, per
engine, a stand-in exposing that engine's metric names, then the real llama-server b11434;
PromQL through Prometheus's HTTP API returns what those servers served, and every expression
of the engine's dashboard evaluates. The prometheus and grafana services run under Docker
Compose v2 too, with Debian's Prometheus binary in a local image shaped like prom/prometheus
(no registry here) and a holder of Grafana's files in place of Grafana (not in Debian).
"""

from __future__ import annotations

import contextlib
import json
import shutil
import subprocess
import tempfile
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import docker
import docker.errors
import pytest
import requests
import yaml

from ling_compose.cli import main
from ling_compose.compose import render_yaml
from ling_compose.engines.llamacpp import FORK_VERSION
from ling_compose.errors import ConfigError
from ling_compose.models.compose import ComposeProject
from ling_compose.monitoring import dashboard as dash
from ling_compose.monitoring import prometheus as prom
from ling_compose.monitoring import services
from ling_compose.monitoring.metrics import EngineMetrics, Measure, metrics_for
from ling_compose.runtime import down, up
from ling_compose.runtime.base import SilentProgress
from ling_compose.runtime.docker_sdk import DockerRuntime
from tests.e2e.conftest import MODEL, ProjectFactory, free_port, make_project, serve_standin
from tests.e2e.standins import build
from tests.external import compose, prometheus_binary

pytestmark = pytest.mark.e2e
QUIET = SilentProgress()
KEY = "e2e-metrics-key-" + uuid.uuid4().hex[:8]
SCRAPE_S = 1
# Grafana's $__rate_interval, as it would be for a 1 s scrape interval (4 x the interval and more).
RATE_WINDOW = "30s"
TOKEN_S = 0.1  # the stand-ins' pace: a 20-token answer takes 2 s, long enough to be seen running


# -- a real Prometheus ----------------------------------------------------------------------


@contextlib.contextmanager
def running_prometheus(config: dict[str, Any], folder: Path) -> Iterator[str]:
    """Debian's prometheus with CONFIG, on a loopback port; yields its URL."""
    binary = prometheus_binary()
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "prometheus.yml").write_text(prom.dump(config))
    port = free_port()
    log = (folder / "prometheus.log").open("w")
    proc = subprocess.Popen(
        [
            binary,
            f"--config.file={folder / 'prometheus.yml'}",
            f"--web.listen-address=127.0.0.1:{port}",
            f"--storage.tsdb.path={folder / 'data'}",
        ],
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        wait_until(lambda: _ready(url), 30, f"prometheus at {url} ready", folder / "prometheus.log")
        yield url
    finally:
        proc.terminate()
        proc.wait(timeout=30)
        log.close()


def _ready(url: str) -> bool:
    try:
        return requests.get(f"{url}/-/ready", timeout=2).status_code == 200
    except requests.RequestException:
        return False


def wait_until(
    check: Callable[[], Any], timeout_s: float, what: str, log: Path | None = None
) -> Any:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        result = check()
        if result:
            return result
        time.sleep(0.25)
    tail = log.read_text()[-3000:] if log is not None and log.exists() else ""
    raise AssertionError(f"not within {timeout_s} s: {what}\n{tail}")


def query(url: str, expr: str) -> list[dict[str, Any]]:
    """An instant PromQL query through Prometheus's HTTP API (/api/v1/query)."""
    answer = requests.get(f"{url}/api/v1/query", params={"query": expr}, timeout=10).json()
    assert answer["status"] == "success", (expr, answer)
    result: list[dict[str, Any]] = answer["data"]["result"]
    return result


def value(url: str, expr: str) -> float | None:
    result = query(url, expr)
    return float(result[0]["value"][1]) if result else None


def target_up(url: str) -> dict[str, Any] | None:
    targets = requests.get(f"{url}/api/v1/targets", timeout=10).json()["data"]["activeTargets"]
    up_ = [t for t in targets if t["health"] == "up"]
    return up_[0] if up_ else None


def named(metrics: EngineMetrics, measure: Measure) -> str:
    (metric,) = metrics.measuring(measure)
    return metric.name


# -- requests to the served model --------------------------------------------------------------


def chat(url: str, tokens: int, *, stream: bool, key: str | None = None) -> None:
    body = {
        "model": MODEL,
        "messages": [{"role": "user", "content": "count slowly please"}],
        "max_tokens": tokens,
        "ignore_eos": True,
        "stream": stream,
    }
    headers = {"Authorization": f"Bearer {key}"} if key else {}
    answer = requests.post(f"{url}/v1/chat/completions", json=body, headers=headers, timeout=60)
    assert answer.status_code == 200, answer.text
    answer.content  # noqa: B018  (read the whole stream)


def dashboard_evaluates(url: str, engine: str) -> None:
    """Every expression of the engine's dashboard, as Grafana would send it, returns series."""
    for expr in dash.expressions(engine):
        sent = expr.replace(dash.RATE, RATE_WINDOW)
        assert query(url, sent), f"no series for the dashboard's {sent}"


# -- stand-ins, one per engine version ----------------------------------------------------------

CASES = {
    "vllm": ("vllm", "0.33.0", [], {}),
    "sglang": ("sglang", "0.5.23", ["--enable-metrics"], {}),
    "llamacpp": ("llamacpp", "b11434", ["--metrics"], {"LLAMA_API_KEY": KEY}),
    "llamacpp-fork": (
        "llamacpp",
        FORK_VERSION,
        ["--metrics"],
        {"LLAMA_API_KEY": KEY, "STANDIN_METRICS_VERSION": FORK_VERSION},
    ),
}


def _serve(
    project: ProjectFactory,
    runtime: DockerRuntime,
    backend: str,
    extra_args: list[str],
    env: dict[str, str],
) -> str:
    env = {"STANDIN_TOKEN_SECONDS": str(TOKEN_S), **env}
    return serve_standin(project(backend, extra_args=extra_args, env=env), runtime)


@pytest.mark.parametrize("case", list(CASES))
def test_prometheus_scrapes_the_engines_names_and_promql_returns_what_was_served(
    case: str, project: ProjectFactory, runtime: DockerRuntime, tmp_path: Path
) -> None:
    backend, version, extra_args, env = CASES[case]
    metrics = metrics_for(backend, version)
    url = _serve(project, runtime, backend, extra_args, env)
    key_file = None
    if metrics.needs_api_key:
        # llama-server's /metrics wants the key (tools/server/server-http.cpp L251-257).
        assert requests.get(f"{url}/metrics", timeout=5).status_code == 401
        key_file = tmp_path / "api-key"
        key_file.write_text(KEY)
    target = url.removeprefix("http://")
    config = prom.prometheus_config(
        prom.scrape_job(
            metrics,
            target,
            job="server",
            interval_s=SCRAPE_S,
            api_key_file=str(key_file) if key_file else None,
        )
    )
    with running_prometheus(config, tmp_path / "prometheus") as prom_url:
        found = wait_until(lambda: target_up(prom_url), 20, f"{target} scraped")
        assert found["labels"]["job"] == "server" and found["lastError"] == ""

        running = f"sum({named(metrics, 'requests_running')})"
        slow = threading.Thread(target=chat, args=(url, 20), kwargs={"stream": True})
        slow.start()
        # The gauge follows the request: 1 while it streams (2 s), 0 once it is done.
        wait_until(lambda: value(prom_url, running) == 1, 10, f"{running} == 1")
        slow.join()
        chat(url, 5, stream=False)
        chat(url, 5, stream=True)
        wait_until(lambda: value(prom_url, running) == 0, 10, f"{running} == 0")
        tokens = f"sum({named(metrics, 'generation_tokens')})"
        wait_until(lambda: value(prom_url, tokens) == 30, 10, f"{tokens} == 30")
        # 3 words of prompt per request, as the stand-in counts them.
        assert value(prom_url, f"sum({named(metrics, 'prompt_tokens')})") == 9
        for histogram in (m for m in metrics.metrics if m.kind == "histogram"):
            # One observation per request; ITL one per gap between chunks (a token each here).
            expected = 19 + 4 + 4 if histogram.measures == "itl_seconds" else 3
            assert value(prom_url, f"sum({histogram.name}_count)") == expected, histogram.name
        dashboard_evaluates(prom_url, backend)


@pytest.mark.parametrize(
    ("backend", "status", "text"),
    [
        ("sglang", 404, "Not Found"),  # no /metrics route without --enable-metrics
        ("llamacpp", 501, "Start it with `--metrics`"),  # server-context.cpp L5025-5026
    ],
)
def test_without_its_flag_the_metrics_endpoint_answers_as_the_engine_does(
    backend: str, status: int, text: str, project: ProjectFactory, runtime: DockerRuntime
) -> None:
    url = _serve(project, runtime, backend, [], {})
    answer = requests.get(f"{url}/metrics", timeout=5)
    assert answer.status_code == status and text in answer.text


# -- the services under Docker Compose v2 --------------------------------------------------------

# prom/prometheus's layout (prometheus Dockerfile at b5c61f3): the binary as ENTRYPOINT, user
# nobody owning /prometheus (the data volume). Debian's binary stands in for the image's.
PROMETHEUS_DOCKERFILE = f"""FROM {build.BASE_IMAGE}
COPY prometheus /bin/prometheus
RUN mkdir -p /prometheus && chown -R nobody:nogroup /prometheus
USER nobody
WORKDIR /prometheus
ENTRYPOINT ["/bin/prometheus"]
"""


@pytest.fixture(scope="session")
def prometheus_image(client: docker.DockerClient, images: dict[str, str]) -> str:
    binary = prometheus_binary()
    tag = f"ling-compose-standin/prometheus:{build.IMAGE_TAG}"
    with tempfile.TemporaryDirectory(prefix="ling-prom-ctx-") as ctx:
        shutil.copy(binary, Path(ctx) / "prometheus")
        (Path(ctx) / "Dockerfile").write_text(PROMETHEUS_DOCKERFILE)
        client.images.build(
            path=ctx, tag=tag, rm=True, labels={"io.ling-compose.standin": "prometheus"}
        )
    return tag


def test_monitoring_services_run_under_compose_and_scrape_the_server_with_its_key(
    images: dict[str, str],
    prometheus_image: str,
    project_name: str,
    client: docker.DockerClient,
    tmp_path: Path,
) -> None:
    port, prom_port, grafana_port = free_port(), free_port(), free_port()
    server = make_project(
        "llamacpp",
        images["llamacpp"],
        name=project_name,
        port=port,
        env={"LLAMA_API_KEY": "${LING_E2E_KEY:?set LING_E2E_KEY}", "STANDIN_TOKEN_SECONDS": "0"},
        extra_args=["--metrics"],
    )
    mon = services.monitoring_services(
        "llamacpp",
        "b11434",
        server_service="server",
        container_port=8080,
        api_key_env="LING_E2E_KEY",
        prometheus_port=prom_port,
        grafana_port=grafana_port,
        scrape_interval_s=SCRAPE_S,
    )
    full = mon.add_to(server)
    grafana = full.services["grafana"]
    runnable = full.model_copy(
        update={
            "services": {
                **full.services,
                "prometheus": full.services["prometheus"].model_copy(
                    update={"image": prometheus_image}
                ),
                # Holds the files Grafana would read: Grafana is not packaged for Debian.
                "grafana": grafana.model_copy(
                    update={"image": build.BASE_IMAGE, "entrypoint": ["sleep", "infinity"]}
                ),
            }
        }
    )
    compose_file = tmp_path / "docker-compose.yml"
    compose_file.write_text(render_yaml(runnable))
    base = ["-f", str(compose_file)]

    refused = compose(
        [*base, "config", "-q"], env={"LING_E2E_KEY": KEY, "GRAFANA_ADMIN_PASSWORD": ""}
    )
    assert refused.returncode != 0
    assert "set GRAFANA_ADMIN_PASSWORD to a password for Grafana's admin user" in refused.stderr

    env = {"LING_E2E_KEY": KEY, "GRAFANA_ADMIN_PASSWORD": "pw-" + uuid.uuid4().hex[:6]}
    try:
        started = compose([*base, "up", "-d"], env=env, timeout=180)
        assert started.returncode == 0, started.stderr
        prom_url = f"http://127.0.0.1:{prom_port}"
        wait_until(lambda: _ready(prom_url), 30, "prometheus in compose ready")
        found = wait_until(lambda: target_up(prom_url), 30, "server:8080 scraped with the key")
        assert found["scrapeUrl"] == "http://server:8080/metrics"
        chat(f"http://127.0.0.1:{port}", 7, stream=True)
        wait_until(
            lambda: value(prom_url, "llamacpp:tokens_predicted_total") == 7,
            15,
            "tokens predicted == 7",
        )

        def in_container(service: str, *cmd: str) -> str:
            out = compose([*base, "exec", "-T", service, *cmd], env=env, timeout=60)
            assert out.returncode == 0, out.stderr
            return out.stdout

        # The files arrive as generated, Grafana's `$__rate_interval` unharmed by interpolation.
        board = json.loads(
            in_container("grafana", "cat", f"{services.DASHBOARD_FOLDER}/llamacpp.json")
        )
        assert board == json.loads(mon.configs["grafana-dashboard"].content)
        assert "[$__rate_interval]" in json.dumps(board)
        provider = in_container(
            "grafana", "cat", "/etc/grafana/provisioning/dashboards/ling-compose.yaml"
        )
        assert (
            yaml.safe_load(provider)["providers"][0]["options"]["path"] == services.DASHBOARD_FOLDER
        )
        grafana_env = in_container("grafana", "env")
        assert f"GF_SECURITY_ADMIN_PASSWORD={env['GRAFANA_ADMIN_PASSWORD']}" in grafana_env
        assert "GF_AUTH_ANONYMOUS_ENABLED=false" in grafana_env
        assert in_container("prometheus", "cat", services.API_KEY_FILE) == KEY
    finally:
        compose([*base, "down", "-v", "-t", "1"], env=env, timeout=120)
    # The key never was in the file.
    assert KEY not in compose_file.read_text()


# -- the real llama-server --------------------------------------------------------------------


def test_the_real_llama_server_writes_every_name_listed_and_prometheus_reads_them(
    real_llamacpp_image: str,
    tiny_model: Path,
    runtime: DockerRuntime,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    port = free_port()
    out = tmp_path / "docker-compose.yml"
    args = ["render", "4090-int4", "--image", real_llamacpp_image, "--model-file", str(tiny_model)]
    args += ["--served-model-name", MODEL, "--port", str(port), "--api-key-env", "LING_E2E_KEY"]
    assert main([*args, "-o", str(out)]) == 0, capsys.readouterr().err
    text = out.read_text()
    # A project name of our own wherever the rendered one stands (`name:`, the project label):
    # other test runs share this engine.
    name = f"lc-e2e-metrics-{uuid.uuid4().hex[:8]}"
    data = yaml.safe_load(text.replace(yaml.safe_load(text)["name"], name))
    assert "--metrics" in data["services"]["server"]["command"]  # what render emits for llama.cpp
    project = ComposeProject.from_compose(data)
    try:
        up(
            project,
            runtime=runtime,
            progress=QUIET,
            environ={"LING_E2E_KEY": KEY},
            smoke_test=False,
            timeout_s=180,
            poll_s=0.5,
        )
        url = f"http://127.0.0.1:{port}"
        assert requests.get(f"{url}/metrics", timeout=10).status_code == 401
        answer = requests.get(
            f"{url}/metrics", headers={"Authorization": f"Bearer {KEY}"}, timeout=10
        )
        assert answer.status_code == 200
        assert answer.headers["Content-Type"] == "text/plain; version=0.0.4"
        written = {
            line.split("{")[0].split(" ")[0]
            for line in answer.text.splitlines()
            if line and not line.startswith("#")
        }
        types = dict(
            line.split(" ")[2:4] for line in answer.text.splitlines() if line.startswith("# TYPE ")
        )
        metrics = metrics_for("llamacpp", "b11434")
        assert metrics.series <= written, f"listed but not written: {metrics.series - written}"
        assert {m.name: m.kind for m in metrics.metrics} == {n: types[n] for n in metrics.series}

        key_file = tmp_path / "api-key"
        key_file.write_text(KEY)
        config = prom.prometheus_config(
            prom.scrape_job(
                metrics,
                f"127.0.0.1:{port}",
                job="server",
                interval_s=SCRAPE_S,
                api_key_file=str(key_file),
            )
        )
        with running_prometheus(config, tmp_path / "prometheus") as prom_url:
            wait_until(lambda: target_up(prom_url), 20, "the real server scraped")
            chat(url, 8, stream=False, key=KEY)
            wait_until(
                lambda: (value(prom_url, "llamacpp:tokens_predicted_total") or 0) >= 8,
                20,
                "tokens predicted >= 8",
            )
            dashboard_evaluates(prom_url, "llamacpp")
    finally:
        down(name, volumes=True, timeout_s=2, runtime=runtime, progress=QUIET)


def test_render_with_monitoring_and_our_own_up_scrape_the_real_server_with_its_key(
    real_llamacpp_image: str,
    tiny_model: Path,
    prometheus_image: str,
    runtime: DockerRuntime,
    client: docker.DockerClient,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """`render --with-monitoring` then ling_compose's `up` (not Compose): the configs and the
    key's secret are copied into the containers before they start, and Prometheus scrapes the
    real llama-server over the project network with the key."""
    port, prom_port, grafana_port = free_port(), free_port(), free_port()
    out = tmp_path / "docker-compose.yml"
    args = ["render", "4090-int4", "--image", real_llamacpp_image, "--model-file", str(tiny_model)]
    args += ["--served-model-name", MODEL, "--port", str(port), "--api-key-env", "LING_E2E_KEY"]
    assert main([*args, "--with-monitoring", "-o", str(out)]) == 0, capsys.readouterr().err
    text = out.read_text()
    name = f"lc-e2e-monitored-{uuid.uuid4().hex[:8]}"
    data = yaml.safe_load(text.replace(yaml.safe_load(text)["name"], name))
    # Other runs share this engine: own host ports; Debian's Prometheus in prom/prometheus's
    # layout; Grafana's files in a container that only holds them (no Grafana image here).
    for service, host_port in (("prometheus", prom_port), ("grafana", grafana_port)):
        (published,) = data["services"][service]["ports"]
        data["services"][service]["ports"] = [f"127.0.0.1:{host_port}:{published.split(':')[-1]}"]
    data["services"]["prometheus"]["image"] = prometheus_image
    data["services"]["grafana"].update(image=build.BASE_IMAGE, entrypoint=["sleep", "infinity"])
    project = ComposeProject.from_compose(data)
    password = "pw-" + uuid.uuid4().hex[:6]
    environ = {"LING_E2E_KEY": KEY, "GRAFANA_ADMIN_PASSWORD": password}
    try:
        with pytest.raises(ConfigError, match="GRAFANA_ADMIN_PASSWORD"):
            up(project, runtime=runtime, progress=QUIET, environ={"LING_E2E_KEY": KEY})
        result = up(
            project,
            runtime=runtime,
            progress=QUIET,
            environ=environ,
            smoke_test=False,
            timeout_s=180,
            poll_s=0.5,
        )
        assert result.actions == {s: "created" for s in ("server", "prometheus", "grafana")}
        prom_url = f"http://127.0.0.1:{prom_port}"
        wait_until(lambda: _ready(prom_url), 30, "prometheus ready")
        found = wait_until(lambda: target_up(prom_url), 30, "server:8080 scraped with the key")
        assert found["scrapeUrl"] == "http://server:8080/metrics"
        chat(f"http://127.0.0.1:{port}", 8, stream=False, key=KEY)
        wait_until(
            lambda: (value(prom_url, "llamacpp:tokens_predicted_total") or 0) >= 8,
            20,
            "tokens predicted >= 8",
        )
        dashboard_evaluates(prom_url, "llamacpp")

        def in_container(service: str, *cmd: str) -> str:
            container = client.containers.get(result.container_ids[service])
            code, output = container.exec_run(list(cmd))
            assert code == 0, output
            return str(output.decode())

        assert in_container("prometheus", "cat", services.API_KEY_FILE) == KEY
        assert (
            in_container("prometheus", "stat", "-c", "%a", services.API_KEY_FILE).strip() == "444"
        )
        board = json.loads(
            in_container("grafana", "cat", f"{services.DASHBOARD_FOLDER}/llamacpp.json")
        )
        assert board == json.loads(project.configs["grafana-dashboard"].content)
        assert "[$__rate_interval]" in json.dumps(board)
        # Converged: a second `up` keeps all three.
        again = up(project, runtime=runtime, progress=QUIET, environ=environ, wait=False)
        assert set(again.actions.values()) == {"unchanged"}
    finally:
        down(name, volumes=True, timeout_s=2, runtime=runtime, progress=QUIET)
    assert KEY not in text and password not in text
