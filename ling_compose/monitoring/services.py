"""The prometheus and grafana services that `render --with-monitoring` adds to a stack (pure).

Everything they read travels in the compose file itself, as top-level `configs:` with inline
`content:` (Docker Compose 2.23.1 and later: docs.docker.com/reference/compose-file/configs;
compose-spec/compose-go PR 484; the Compose Specification schema vendored in
flags/compose-spec.json has it), so `render -o FILE` stays one file. A server API key reaches
Prometheus as a Compose secret taken from the same environment variable the server reads: no
value is ever written. Both services publish on loopback only, keep their data in named
volumes, and Grafana's admin password comes from the environment (never its default `admin`),
with anonymous access off.

Images: tags from release announcements quoted by third parties (no registry can be reached
from where this was written): UNVERIFIED at a registry; `docker manifest inspect IMAGE`
confirms one. `prom/prometheus:v3.13.2` is on Prometheus's 3.13 long-term-support line
(3.13.0, 2026-07-01, "Long Term Support"; 3.13.2 named in a 3.13.2 -> 3.14.0 update,
fabio-garavini/hassio-addons PR 872). `grafana/grafana:12.4.3` is the last 12.x in third-party
compose files before 13.0.0 (AndreiGavriliu/homelab PR 6251, "12.4.2 -> 13.0.0"); 12.x keeps the
classic dashboard JSON this module writes. Image layout (prometheus Dockerfile at b5c61f3:
ENTRYPOINT /bin/prometheus, data in /prometheus, port 9090; grafana Dockerfile at 78515af: data
in /var/lib/grafana, provisioning in /etc/grafana/provisioning, port 3000) is read at older
commits of those repositories and assumed unchanged.
"""

from __future__ import annotations

import ipaddress
import json
import textwrap
from collections.abc import Sequence
from dataclasses import dataclass, field

from ling_compose.errors import ConfigError
from ling_compose.models.compose import (
    ComposeProject,
    Config,
    FileGrant,
    NamedVolume,
    PortMapping,
    Secret,
    Service,
    VolumeMount,
    required_variable,
)
from ling_compose.models.server import LC_ROLE
from ling_compose.models.stack import check_bind_address
from ling_compose.monitoring import dashboard as dash
from ling_compose.monitoring import prometheus as prom
from ling_compose.monitoring.metrics import EngineMetrics, metrics_for

PROMETHEUS_IMAGE = "prom/prometheus:v3.13.2"
GRAFANA_IMAGE = "grafana/grafana:12.4.3"
PROMETHEUS_SERVICE = "prometheus"
GRAFANA_SERVICE = "grafana"
PROMETHEUS_PORT = 9090  # in the container, and published on the host by default
GRAFANA_PORT = 3000
GRAFANA_PASSWORD_ENV = "GRAFANA_ADMIN_PASSWORD"
GRAFANA_ADMIN_USER = "admin"  # Grafana's default admin_user (conf/defaults.ini [security])

PROMETHEUS_CONFIG_FILE = "/etc/ling-compose/prometheus.yml"
PROMETHEUS_DATA = "/prometheus"
API_KEY_SECRET = "server-api-key"
API_KEY_FILE = f"/run/secrets/{API_KEY_SECRET}"
GRAFANA_DATA = "/var/lib/grafana"
GRAFANA_PROVISIONING = "/etc/grafana/provisioning"
DASHBOARD_FOLDER = "/etc/ling-compose/dashboards"


@dataclass(frozen=True)
class Monitoring:
    """What monitoring adds to a project: services, their volumes, configs, secret, header."""

    services: dict[str, Service]
    volumes: dict[str, NamedVolume]
    configs: dict[str, Config]
    secrets: dict[str, Secret] = field(default_factory=dict)
    header: list[str] = field(default_factory=list)

    def add_to(self, project: ComposeProject) -> ComposeProject:
        """PROJECT with monitoring in it; a name or host port it already uses is refused."""
        for kind, ours, theirs in (
            ("service", self.services, project.services),
            ("volume", self.volumes, project.volumes),
            ("config", self.configs, project.configs),
            ("secret", self.secrets, project.secrets),
        ):
            taken = sorted(set(ours) & set(theirs))
            if taken:
                raise ConfigError(
                    f"monitoring: the project already has a {kind} named {', '.join(taken)}",
                    hint="rename that one in your stack, or render without monitoring",
                )
        published = [
            p.host_port
            for s in (*project.services.values(), *self.services.values())
            for p in s.ports
        ]
        twice = sorted({port for port in published if published.count(port) > 1})
        if twice:
            raise ConfigError(
                f"monitoring: host port {', '.join(map(str, twice))} would be published twice",
                hint="give Prometheus and Grafana other host ports (or the server another --port)",
            )
        return project.model_copy(
            update={
                "header": [*project.header, *self.header],
                "services": {**project.services, **self.services},
                "volumes": {**project.volumes, **self.volumes},
                "configs": {**project.configs, **self.configs},
                "secrets": {**project.secrets, **self.secrets},
            }
        )


def _check_loopback(bind: str) -> None:
    """Prometheus and Grafana stay on loopback: Prometheus has no login at all (its API and
    targets are open to whoever reaches it), Grafana's would travel over plain HTTP."""
    try:
        check_bind_address(bind)
    except ValueError as err:
        raise ConfigError(f"monitoring: bind {bind!r}: {err}") from None
    if not ipaddress.ip_address(bind).is_loopback:
        raise ConfigError(
            f"monitoring: publishing Prometheus and Grafana on {bind} exposes them to the network "
            "(Prometheus has no login; Grafana's would go over plain HTTP)",
            hint="bind them to 127.0.0.1 and reach them from elsewhere through an SSH tunnel "
            "(ssh -L PORT:127.0.0.1:PORT HOST)",
        )


def _check_server_command(metrics: EngineMetrics, command: Sequence[str]) -> None:
    where = f"monitoring: the {metrics.engine} {metrics.version} server"
    if metrics.enabled_by is not None and metrics.enabled_by not in command:
        raise ConfigError(
            f"{where} has no {metrics.path} without {metrics.enabled_by}",
            hint=f"add {metrics.enabled_by} to its command",
        )
    emptying = [flag for flag in metrics.disabled_by if flag in command]
    if emptying:
        raise ConfigError(
            f"{where} records no metrics with {', '.join(emptying)}: the dashboard would stay empty",
            hint=f"remove {', '.join(emptying)} (e.g. from --extra-arg), or render without monitoring",
        )


def monitoring_services(
    engine: str,
    version: str,
    *,
    server_service: str,
    container_port: int,
    api_key_env: str | None,
    bind: str = "127.0.0.1",
    prometheus_port: int = PROMETHEUS_PORT,
    grafana_port: int = GRAFANA_PORT,
    scrape_interval_s: int = prom.DEFAULT_SCRAPE_INTERVAL_S,
    title: str | None = None,
    server_command: Sequence[str] | None = None,
) -> Monitoring:
    """Prometheus scraping SERVER_SERVICE:CONTAINER_PORT on the project network, and Grafana
    with its data source and the engine's dashboard provisioned. API_KEY_ENV: the variable that
    holds the server's API key, when the server has one. SERVER_COMMAND, when given, is checked
    for the flag that turns the endpoint on and for flags that empty it."""
    metrics = metrics_for(engine, version)  # refuses versions whose names were not read
    if server_command is not None:
        _check_server_command(metrics, server_command)
    _check_loopback(bind)
    needs_key = api_key_env is not None and metrics.needs_api_key
    scrape = prom.scrape_job(
        metrics,
        f"{server_service}:{container_port}",
        job=server_service,
        interval_s=scrape_interval_s,
        api_key_file=API_KEY_FILE if needs_key else None,
    )
    board = dash.dashboard(metrics, title or f"ling_compose: {engine} {version}")
    configs = {
        "prometheus-config": Config(content=prom.dump(prom.prometheus_config(scrape))),
        "grafana-datasource": Config(
            content=prom.dump(
                dash.datasource_provisioning(
                    f"http://{PROMETHEUS_SERVICE}:{PROMETHEUS_PORT}", scrape_interval_s
                )
            )
        ),
        "grafana-dashboards": Config(content=prom.dump(dash.dashboard_provider(DASHBOARD_FOLDER))),
        "grafana-dashboard": Config(content=json.dumps(board, indent=2) + "\n"),
    }
    secrets: dict[str, Secret] = {}
    prometheus_secrets: list[FileGrant] = []
    if needs_key:
        assert api_key_env is not None
        secrets[API_KEY_SECRET] = Secret(environment=api_key_env)
        # 0444: the image's user (nobody at the Dockerfile read) is not verified for 3.x, and
        # the container runs Prometheus alone; the default 0400 root-owned file it could not read.
        prometheus_secrets.append(
            FileGrant(source=API_KEY_SECRET, target=API_KEY_FILE, mode="0444")
        )
    prometheus = Service(
        image=PROMETHEUS_IMAGE,
        # The image's CMD names its own config and data paths: a command replaces all of it.
        command=[
            f"--config.file={PROMETHEUS_CONFIG_FILE}",
            f"--storage.tsdb.path={PROMETHEUS_DATA}",
        ],
        ports=[
            PortMapping(host_ip=bind, host_port=prometheus_port, container_port=PROMETHEUS_PORT)
        ],
        volumes=[VolumeMount(source="prometheus-data", target=PROMETHEUS_DATA)],
        configs=[FileGrant(source="prometheus-config", target=PROMETHEUS_CONFIG_FILE)],
        secrets=prometheus_secrets,
        labels={LC_ROLE: "metrics"},
    )
    grafana = Service(
        image=GRAFANA_IMAGE,
        environment={
            "GF_SECURITY_ADMIN_USER": GRAFANA_ADMIN_USER,
            "GF_SECURITY_ADMIN_PASSWORD": required_variable(
                GRAFANA_PASSWORD_ENV, "a password for Grafana's admin user"
            ),
            "GF_AUTH_ANONYMOUS_ENABLED": "false",
        },
        ports=[PortMapping(host_ip=bind, host_port=grafana_port, container_port=GRAFANA_PORT)],
        volumes=[VolumeMount(source="grafana-data", target=GRAFANA_DATA)],
        configs=[
            FileGrant(
                source="grafana-datasource",
                target=f"{GRAFANA_PROVISIONING}/datasources/ling-compose.yaml",
            ),
            FileGrant(
                source="grafana-dashboards",
                target=f"{GRAFANA_PROVISIONING}/dashboards/ling-compose.yaml",
            ),
            FileGrant(source="grafana-dashboard", target=f"{DASHBOARD_FOLDER}/{engine}.json"),
        ],
        labels={LC_ROLE: "dashboards"},
    )
    enabled = (
        f"the server's {metrics.enabled_by} flag turns it on" if metrics.enabled_by else "always on"
    )
    paragraphs = [
        f"Monitoring: {PROMETHEUS_SERVICE} ({PROMETHEUS_IMAGE}) scrapes {server_service}:"
        f"{container_port}{metrics.path} every {scrape_interval_s}s ({enabled})"
        + (f", with the API key from {api_key_env}" if needs_key else "")
        + f"; its UI at {prometheus.endpoint}.",
        f"Grafana ({GRAFANA_IMAGE}) at {grafana.endpoint}: user {GRAFANA_ADMIN_USER}, "
        f"password from {GRAFANA_PASSWORD_ENV} (read on its first start only).",
        "Both image tags are UNVERIFIED at a registry (docker manifest inspect IMAGE checks one).",
    ]
    header = [line for text in paragraphs for line in textwrap.wrap(text, width=96)]
    return Monitoring(
        services={PROMETHEUS_SERVICE: prometheus, GRAFANA_SERVICE: grafana},
        volumes={
            "prometheus-data": NamedVolume(labels={LC_ROLE: "metrics-data"}),
            "grafana-data": NamedVolume(labels={LC_ROLE: "dashboards-data"}),
        },
        configs=configs,
        secrets=secrets,
        header=header,
    )
