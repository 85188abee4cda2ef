"""up / down / status / logs / wait_ready / smoke: orchestration over a Runtime (docker by default)."""

from __future__ import annotations

import functools
import os
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, ParamSpec, TypeVar

from ling_compose.errors import UsageError, cli_command
from ling_compose.models.compose import ComposeProject
from ling_compose.models.server import (
    LABEL_PREFIX,
    LC_ENDPOINT,
    LC_ENGINE,
    LC_HEALTH_PATH,
    LC_MODEL,
    LC_PROJECT,
    deployment_name,
)
from ling_compose.runtime import engine_report as report_mod
from ling_compose.runtime import health, http
from ling_compose.runtime import smoke as smoke_mod
from ling_compose.runtime.base import ContainerState, Progress, Runtime, StderrProgress
from ling_compose.runtime.interpolate import run_environment
from ling_compose.runtime.spec import (
    COMPOSE_PROJECT,
    ProjectSpec,
    project_spec,
)

Action = Literal["created", "recreated", "started", "unchanged"]
P = ParamSpec("P")
R = TypeVar("R")


@dataclass
class UpResult:
    project: str
    endpoint: str | None
    model: str | None
    actions: dict[str, Action]
    container_ids: dict[str, str]
    ready: health.ReadyReport | None = None
    smoke: smoke_mod.SmokeReport | None = None
    engine_report: list[report_mod.Figure] | None = None  # start-up figures beside the plan's

    def to_json(self) -> dict[str, Any]:
        return {
            "project": self.project,
            "endpoint": self.endpoint,
            "model": self.model,
            "actions": dict(self.actions),
            "containers": dict(self.container_ids),
            "ready_after_s": round(self.ready.elapsed_s, 2) if self.ready else None,
            "smoke": self.smoke.to_json() if self.smoke else None,
            "engine_report": None
            if self.engine_report is None
            else [f.to_json() for f in self.engine_report],
        }


@dataclass
class DownResult:
    project: str
    containers: list[str] = field(default_factory=list)
    networks: list[str] = field(default_factory=list)
    volumes_removed: list[str] = field(default_factory=list)
    volumes_kept: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class ServiceStatus:
    project: str
    service: str
    container: str
    state: str
    health: str | None
    restarts: int
    exit_code: int | None
    image: str
    endpoint: str | None
    model: str | None
    serving: bool | None  # /health answered 200 (None: not probed or no endpoint)
    engine_report: tuple[report_mod.Figure, ...] = ()  # start-up figures beside the plan's

    def to_json(self) -> dict[str, Any]:
        return {**self.__dict__, "engine_report": [f.to_json() for f in self.engine_report]}


def default_runtime(docker_host: str | None = None) -> Runtime:
    # Imported here so that rendering and unit tests never load the docker SDK.
    from ling_compose.runtime.docker_sdk import DockerRuntime

    return DockerRuntime(base_url=docker_host)


def _default_runtime_closed(fn: Callable[P, R]) -> Callable[P, R]:
    """Called without `runtime=`, `fn` gets the default one, closed again when `fn` returns or
    raises; a runtime the caller passes stays the caller's to close."""

    @functools.wraps(fn)
    def call(*args: P.args, **kwargs: P.kwargs) -> R:
        if kwargs.get("runtime") is not None:
            return fn(*args, **kwargs)
        own = default_runtime()
        kwargs["runtime"] = own
        try:
            return fn(*args, **kwargs)
        finally:
            own.close()

    return call


class _Watch:
    """health.ContainerWatch over a Runtime, for one container since `since_epoch`."""

    def __init__(self, runtime: Runtime, container_id: str, since_epoch: float) -> None:
        self.runtime = runtime
        self.container_id = container_id
        self.since = since_epoch

    def state(self) -> ContainerState | None:
        return self.runtime.inspect(self.container_id)

    def exits(self) -> tuple[list[int], bool]:
        return self.runtime.exits(self.container_id, self.since)

    def log_tail(self, lines: int) -> str:
        return self.runtime.logs(self.container_id, tail=lines)


def engine_report(
    runtime: Runtime, container_id: str, engine: str | None, planned: dict[str, float]
) -> list[report_mod.Figure] | None:
    """What the engine logged at start-up beside the plan's figures; None when ling_compose did
    not plan this container (no planned figures) or the engine is unknown."""
    if engine is None or not planned:
        return None
    log = runtime.logs(container_id, tail=report_mod.START_UP_LOG_LINES)
    return report_mod.compare(engine, planned, report_mod.parse(engine, log))


def resolve_spec(
    project: ComposeProject,
    *,
    env_file: Path | None = None,
    working_dir: Path | None = None,
    config_files: list[Path] | None = None,
    environ: Mapping[str, str] | None = None,
) -> ProjectSpec:
    """The project with interpolations resolved against the environment and env file (pure)."""
    workdir = (working_dir or Path.cwd()).resolve()
    env = run_environment(os.environ if environ is None else environ, env_file, workdir / ".env")
    return project_spec(project, env, workdir, config_files)


@_default_runtime_closed
def up(
    project: ComposeProject,
    *,
    timeout_s: float = health.DEFAULT_TIMEOUT_S,
    smoke_test: bool = True,
    wait: bool = True,
    env_file: Path | None = None,
    working_dir: Path | None = None,
    config_files: list[Path] | None = None,
    environ: Mapping[str, str] | None = None,
    runtime: Runtime | None = None,
    progress: Progress | None = None,
    poll_s: float = health.DEFAULT_POLL_S,
) -> UpResult:
    """Bring the project up and converge: unchanged containers are kept, changed ones recreated.
    Then (wait=True) wait until the endpoint serves the model, and (smoke_test=True) smoke-test it.

    Every step is idempotent, so after Ctrl-C or a failure `up` resumes and `down` cleans up."""
    progress = progress or StderrProgress()
    spec = resolve_spec(
        project,
        env_file=env_file,
        working_dir=working_dir,
        config_files=config_files,
        environ=environ,
    )
    rt = _given(runtime)
    result = UpResult(
        project=spec.name,
        endpoint=spec.endpoint,
        model=spec.served_model_name,
        actions={},
        container_ids={},
    )
    try:
        if rt.ensure_network(spec.network, spec.network_labels):
            progress.line(f"network {spec.network}: created")
        for vol, labels in spec.volumes.items():
            if rt.ensure_volume(vol, labels):
                progress.line(f"volume {vol}: created")
        existing = {c.service: c for c in rt.containers(spec.name)}
        wanted = {c.service for c in spec.containers}
        for orphan in [c for s, c in existing.items() if s not in wanted]:
            progress.line(
                f"container {orphan.name}: removed (its service is no longer in the project)"
            )
            rt.remove(orphan.id)
        started_at = time.time()
        for cspec in spec.containers:
            rt.ensure_image(cspec, progress)
            current = existing.get(cspec.service)
            action: Action
            if current is not None and current.config_hash == cspec.config_hash:
                if current.status in ("running", "restarting"):
                    action, cid = "unchanged", current.id
                else:
                    action, cid = "started", current.id
                    rt.start(cid)
            else:
                if current is not None:
                    rt.remove(current.id)
                action = "created" if current is None else "recreated"
                cid = rt.create(cspec).id
                rt.start(cid)
            result.actions[cspec.service] = action
            result.container_ids[cspec.service] = cid
            progress.line(f"container {cspec.name}: {action}")
        if not wait or spec.endpoint is None:
            return result
        primary = next(c for c in spec.containers if LC_ENDPOINT in c.labels)
        api_key = spec.api_key
        watch = _Watch(rt, result.container_ids[primary.service], started_at)
        result.ready = health.wait_ready(
            spec.endpoint,
            spec.served_model_name,
            timeout_s=timeout_s,
            health_path=spec.health_path,
            fetch=lambda url: http.get(url, timeout_s=5.0, api_key=api_key),
            watch=watch,
            progress=progress,
            poll_s=poll_s,
        )
        if smoke_test and spec.served_model_name:
            result.smoke = smoke_mod.smoke(
                spec.endpoint,
                spec.served_model_name,
                api_key=api_key,
                engine=spec.engine,
                progress=progress,
            )
        result.engine_report = engine_report(
            rt,
            result.container_ids[primary.service],
            spec.engine,
            report_mod.planned_from_metadata(project.metadata),
        )
        return result
    except KeyboardInterrupt:
        progress.line(f"interrupted: run `up` again to resume, or `down {spec.name}` to remove it")
        raise


def _given(runtime: Runtime | None) -> Runtime:
    assert runtime is not None, "_default_runtime_closed passes one"
    return runtime


def _project_name(project: ComposeProject | str) -> str:
    return project.name if isinstance(project, ComposeProject) else project


def projects(runtime: Runtime | None = None) -> list[str]:
    """Names of the ling_compose projects that have containers on this engine."""
    if runtime is None:
        return _default_runtime_closed(projects)(runtime=None)
    return sorted({c.labels.get(COMPOSE_PROJECT, "") for c in runtime.containers(None)} - {""})


def resolve_project_name(name: str | None, runtime: Runtime) -> str:
    """The project a command acts on: the one named, else the only one running."""
    found = projects(runtime)
    if name is not None:
        # A profile name works too (its project is deployment_name(profile)). An `up` that
        # failed before creating a container leaves only its network and volume: count those.
        def exists(project: str) -> bool:
            return project in found or bool(runtime.networks(project) or runtime.volumes(project))

        profile_project = deployment_name(name)
        if name not in found and exists(profile_project) and not exists(name):
            return profile_project
        return name
    if len(found) == 1:
        return found[0]
    if not found:
        raise UsageError(
            "no ling_compose project has containers on this Docker engine",
            hint=f"start one with `{cli_command()} up PROFILE`",
        )
    raise UsageError(
        f"several ling_compose projects exist: {', '.join(found)}",
        # PROJECT is a positional argument of status, logs and down alike (there is no -p).
        hint=f"name one: `{cli_command()} status {found[0]}`; logs and down take it the same way",
    )


@_default_runtime_closed
def down(
    project: ComposeProject | str,
    *,
    volumes: bool = False,
    timeout_s: int = 10,
    runtime: Runtime | None = None,
    progress: Progress | None = None,
) -> DownResult:
    """Stop and remove the project's containers and network. Named volumes (the weights cache)
    are kept unless volumes=True."""
    progress = progress or StderrProgress()
    name = _project_name(project)
    rt = _given(runtime)
    result = DownResult(project=name)
    for c in rt.containers(name):
        rt.remove(c.id, timeout_s=timeout_s)
        result.containers.append(c.name)
        progress.line(f"container {c.name}: removed")
    for net in rt.networks(name):
        rt.remove_network(net)
        result.networks.append(net)
        progress.line(f"network {net}: removed")
    for vol in rt.volumes(name):
        if volumes:
            rt.remove_volume(vol)
            result.volumes_removed.append(vol)
            progress.line(f"volume {vol}: removed")
        else:
            result.volumes_kept.append(vol)
            progress.line(f"volume {vol}: kept (weights cache; `down --volumes` removes it)")
    return result


@_default_runtime_closed
def status(
    project: str | None = None,
    *,
    probe: bool = True,
    runtime: Runtime | None = None,
) -> list[ServiceStatus]:
    """What runs: one row per container of the project (all ling_compose projects when None)."""
    rt = _given(runtime)
    out: list[ServiceStatus] = []
    for c in rt.containers(project):
        if project is None and LC_PROJECT not in c.labels:
            continue
        endpoint = c.labels.get(LC_ENDPOINT)
        serving: bool | None = None
        figures: list[report_mod.Figure] | None = None
        if probe and endpoint and c.status == "running":
            path = c.labels.get(LC_HEALTH_PATH, "/health")
            serving = http.get(endpoint + path, timeout_s=2.0).status == 200
        if c.status == "running":
            planned = report_mod.planned_from_metadata(
                {k.removeprefix(f"{LABEL_PREFIX}."): v for k, v in c.labels.items()}
            )
            figures = engine_report(rt, c.id, c.labels.get(LC_ENGINE), planned)
        out.append(
            ServiceStatus(
                project=c.labels.get(COMPOSE_PROJECT, ""),
                service=c.service,
                container=c.name,
                state=c.status,
                health=c.health,
                restarts=c.restart_count,
                exit_code=c.exit_code if c.status in ("exited", "dead") else None,
                image=c.image,
                endpoint=endpoint,
                model=c.labels.get(LC_MODEL),
                serving=serving,
                engine_report=tuple(figures or ()),
            )
        )
    return out


def logs(
    project: str,
    *,
    service: str | None = None,
    tail: int = 100,
    follow: bool = False,
    runtime: Runtime | None = None,
) -> Iterator[str]:
    """Log lines of the project's containers (one service when named); `follow` streams."""
    if runtime is None:
        own = default_runtime()
        try:
            yield from logs(project, service=service, tail=tail, follow=follow, runtime=own)
        finally:
            own.close()
        return
    rt = runtime
    containers = [c for c in rt.containers(project) if service is None or c.service == service]
    if not containers:
        raise UsageError(
            f"no containers for project {project!r}" + (f" service {service!r}" if service else ""),
            hint=f"`{cli_command()} status` lists what runs",
        )
    prefix = len(containers) > 1
    for c in containers:
        lines = (
            rt.follow_logs(c.id, tail=tail)
            if follow
            else iter(rt.logs(c.id, tail=tail).splitlines())
        )
        for line in lines:
            yield f"{c.service} | {line}" if prefix else line


def wait_ready(
    url: str,
    model: str | None = None,
    *,
    timeout_s: float = health.DEFAULT_TIMEOUT_S,
    health_path: str = "/health",
    api_key: str | None = None,
    container: str | None = None,
    runtime: Runtime | None = None,
    progress: Progress | None = None,
    poll_s: float = health.DEFAULT_POLL_S,
) -> health.ReadyReport:
    """Wait until `url` serves `model` (see health.wait_ready); with `container` (name or id)
    it also fails fast when that container exits or restarts."""
    watch = None
    own = runtime is None and container is not None
    if container is not None:
        rt = runtime or default_runtime()
        watch = _Watch(rt, container, time.time())
    try:
        return health.wait_ready(
            url,
            model,
            timeout_s=timeout_s,
            health_path=health_path,
            fetch=lambda u: http.get(u, timeout_s=5.0, api_key=api_key),
            watch=watch,
            progress=progress or StderrProgress(),
            poll_s=poll_s,
        )
    finally:
        if own and watch is not None:
            watch.runtime.close()


def smoke(
    url: str,
    model: str,
    *,
    api_key: str | None = None,
    engine: str | None = None,
    timeout_s: float = 300.0,
    progress: Progress | None = None,
) -> smoke_mod.SmokeReport:
    """Chat completion and tool-call checks against any OpenAI-compatible endpoint."""
    return smoke_mod.smoke(
        url,
        model,
        api_key=api_key,
        engine=engine,
        timeout_s=timeout_s,
        progress=progress or StderrProgress(),
    )
