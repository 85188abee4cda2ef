"""Compile a Stack into a ComposeProject (pure): the server description (describe.py), mapped
onto Compose. Every decision is the description's; here it takes Compose's form: a service per
server, `${VAR}` interpolations for secrets, a curl healthcheck, x-ling-compose metadata.
"""

from __future__ import annotations

from typing import NamedTuple

from ling_compose.describe import describe
from ling_compose.models.compose import (
    Build,
    ComposeProject,
    GpuReservation,
    Healthcheck,
    NamedVolume,
    PortMapping,
    Service,
    VolumeMount,
    required_variable,
)
from ling_compose.models.plan import Plan
from ling_compose.models.server import Server, ServerDescription, Value
from ling_compose.models.stack import Stack

SECRETS_NOTE = (
    "Secrets: HF_TOKEN and any API key come from the environment (.env), never this file."
)


class Compiled(NamedTuple):
    """What compile produces: the project, the description and plan it rests on, and
    warnings for stderr."""

    stack: Stack
    plan: Plan
    description: ServerDescription
    project: ComposeProject
    warnings: list[str]

    @property
    def service(self) -> Service:
        """The service of the server that serves HTTP."""
        return self.project.services[self.description.primary.role]

    @property
    def endpoint(self) -> str:
        endpoint = self.service.endpoint
        assert endpoint is not None  # compile always publishes the server's port
        return endpoint


def compose_value(value: Value) -> str:
    """A Compose interpolation for a secret (required ones fail fast when unset: never the
    value), text as it is."""
    if isinstance(value, str):
        return value
    if value.required:
        return required_variable(value.variable, value.purpose)
    return "${" + value.variable + ":-}"


def _figure_text(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else str(value)


def service(server: Server) -> Service:
    build = server.build
    health = server.health
    memory = server.shared_memory
    return Service(
        image=server.image,
        build=Build(
            context=build.context,
            dockerfile=build.dockerfile,
            target=build.target,
            args=dict(build.args),
        )
        if build is not None
        else None,
        # A built image is never pulled: nobody else's registry namespace can stand in for it.
        pull_policy="build" if build is not None else None,
        entrypoint=list(server.entrypoint) if server.entrypoint is not None else None,
        command=[compose_value(a) for a in server.args],
        environment={k: compose_value(v) for k, v in server.env.items()},
        ports=[
            PortMapping(
                host_ip=server.port.host_ip,
                host_port=server.port.host,
                container_port=server.port.container,
            )
        ]
        if server.port is not None
        else [],
        volumes=(
            [VolumeMount(source=server.cache.name, target=server.cache.target)]
            if server.cache is not None
            else []
        )
        + [
            VolumeMount(source=m.source, target=m.target, read_only=m.read_only)
            for m in server.mounts
        ],
        ipc="host" if memory.host_ipc else None,
        shm_size=memory.size,
        ulimits=dict(memory.ulimits),
        gpus=GpuReservation(count=server.gpus),
        healthcheck=Healthcheck(
            test=["CMD", "curl", "-fsS", f"http://localhost:{health.port}{health.path}"],
            interval_s=health.interval_s,
            timeout_s=health.timeout_s,
            retries=health.failures,
            start_period_s=health.start_period_s,
        )
        if health is not None
        else None,
        restart=server.restart,
        labels=dict(server.labels),
    )


def project(description: ServerDescription) -> ComposeProject:
    """The Compose project of a server description (pure)."""
    primary = description.primary
    volumes = {
        s.cache.name: NamedVolume(labels=dict(s.cache.labels))
        for s in description.servers
        if s.cache is not None
    }
    return ComposeProject(
        name=description.name,
        header=[*description.notes, SECRETS_NOTE],
        services={s.role: service(s) for s in description.servers},
        volumes=volumes,
        metadata={
            "profile": description.profile,
            "engine": description.engine,
            "engine_version": description.engine_version,
            "served_model_name": description.served_model_name,
            "health_path": primary.health.path if primary.health is not None else "",
            "service": primary.role,
            "generator": description.generator,
            # What the engine should report at start-up; `up` and `status` compare.
            **{f"planned_{k}": _figure_text(v) for k, v in description.planned.items()},
        },
    )


def with_monitoring(
    compose: ComposeProject, description: ServerDescription, api_key_env: str | None
) -> ComposeProject:
    """The project with Prometheus scraping the primary server over the project's network and
    Grafana showing the engine's dashboard (monitoring/services.py); the server's API key, if
    any, reaches Prometheus from the same variable API_KEY_ENV, as a Compose secret."""
    # Imported when asked for: a plain render builds no Prometheus or Grafana service.
    from ling_compose.monitoring.services import monitoring_services

    server = description.primary
    assert server.port is not None  # the primary server always publishes its port
    return monitoring_services(
        description.engine,
        description.engine_version,
        server_service=server.role,
        container_port=server.port.container,
        api_key_env=api_key_env,
        server_command=compose.services[server.role].command,
    ).add_to(compose)


def compile_stack(stack: Stack) -> Compiled:
    """Fit check, server description, Compose project (with monitoring when asked for)."""
    described = describe(stack)
    compose = project(described.description)
    if stack.serving.monitoring:
        compose = with_monitoring(compose, described.description, stack.serving.api_key_env)
    return Compiled(
        stack=stack,
        plan=described.plan,
        description=described.description,
        project=compose,
        warnings=described.warnings,
    )
