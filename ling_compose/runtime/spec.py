"""ComposeProject → engine-neutral container specs with Compose labels and config hashes (pure)."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from ling_compose.engines import registry
from ling_compose.errors import ConfigError
from ling_compose.models.compose import (
    ComposeProject,
    Config,
    FileGrant,
    Secret,
    Service,
    is_host_path,
)
from ling_compose.models.server import (
    LABEL_PREFIX,
    LC_ENDPOINT,
    LC_ENGINE,
    LC_HEALTH_PATH,
    LC_MODEL,
    LC_PROJECT,
)
from ling_compose.runtime.interpolate import interpolate

# Standard Compose labels: `docker compose ps/down` (v2) and docker-compose 1.29 find
# containers, networks and volumes of a project by these.
COMPOSE_PROJECT = "com.docker.compose.project"
COMPOSE_SERVICE = "com.docker.compose.service"
COMPOSE_ONEOFF = "com.docker.compose.oneoff"
COMPOSE_NUMBER = "com.docker.compose.container-number"
COMPOSE_HASH = "com.docker.compose.config-hash"
COMPOSE_WORKDIR = "com.docker.compose.project.working_dir"
COMPOSE_CONFIG_FILES = "com.docker.compose.project.config_files"
COMPOSE_NETWORK = "com.docker.compose.network"
COMPOSE_VOLUME = "com.docker.compose.volume"

DEFAULT_NETWORK = "default"


# Compose's default for a config or secret file without `mode:` (the Compose Specification,
# configs.md and secrets.md: "world-readable permissions (mode 0444)").
DEFAULT_FILE_MODE = 0o444


@dataclass(frozen=True)
class ContainerFile:
    """A file written into a container before it starts: a config's content or a secret's
    value (never printed: repr leaves it out)."""

    path: str
    content: bytes = field(repr=False)
    mode: int = DEFAULT_FILE_MODE


@dataclass(frozen=True)
class ContainerSpec:
    """One container to create: its service as the compose model describes it, interpolated and
    with every mount source resolved (an absolute host path or the engine's volume name), plus
    the names and labels Compose would give it. What the runtime receives."""

    project: str
    service: str
    name: str
    network: str
    config: Service
    labels: dict[str, str] = field(default_factory=dict)
    files: tuple[ContainerFile, ...] = ()  # configs and secrets, copied in as Compose v2 does

    @property
    def image(self) -> str:
        return self.config.image

    @property
    def config_hash(self) -> str:
        return self.labels[COMPOSE_HASH]

    @property
    def ulimits(self) -> dict[str, tuple[int, int]]:
        """(soft, hard) per limit; Compose's single number sets both."""
        out: dict[str, tuple[int, int]] = {}
        for name, value in self.config.ulimits.items():
            if isinstance(value, int):
                out[name] = (value, value)
            else:
                soft = value.get("soft", value.get("hard", 0))
                out[name] = (soft, value.get("hard", value.get("soft", 0)))
        return out

    @property
    def gpu_count(self) -> int | None:
        """The DeviceRequest count: -1 asks Docker for every GPU ("all", or neither count nor
        ids, as Compose does); None when no GPUs are requested or device ids name them."""
        gpus = self.config.gpus
        if gpus is None or gpus.device_ids is not None:
            return None
        return -1 if gpus.count in ("all", None) else int(gpus.count)

    @property
    def gpu_device_ids(self) -> list[str] | None:
        gpus = self.config.gpus
        return list(gpus.device_ids) if gpus and gpus.device_ids else None


@dataclass(frozen=True)
class ProjectSpec:
    name: str
    network: str
    network_labels: dict[str, str]
    volumes: dict[str, dict[str, str]]  # engine volume name → labels
    containers: list[ContainerSpec]
    endpoint: str | None
    served_model_name: str | None
    health_path: str
    engine: str | None
    api_key: str | None  # resolved at run time for the health/smoke requests; never stored


def container_name(project: str, service: str, number: int = 1) -> str:
    return f"{project}-{service}-{number}"  # Compose v2's naming


def network_name(project: str) -> str:
    return f"{project}_{DEFAULT_NETWORK}"


def volume_name(project: str, volume: str) -> str:
    return f"{project}_{volume}"


def _hash(payload: object) -> str:
    return hashlib.sha256(json.dumps(payload, sort_keys=True).encode()).hexdigest()


def _files(
    project: ComposeProject, service: Service, env: Mapping[str, str], where: str
) -> tuple[ContainerFile, ...]:
    """The service's configs (their inline content) and secrets (the value of the variable
    each names), as files at their targets."""
    files = []
    declared: tuple[tuple[str, list[FileGrant], Mapping[str, Config | Secret]], ...] = (
        ("config", service.configs, project.configs),
        ("secret", service.secrets, project.secrets),
    )
    for kind, grants, entries in declared:
        for grant in grants:
            entry = entries.get(grant.source)
            if entry is None:
                raise ConfigError(
                    f"{where}.{kind}s: {grant.source!r} is not a declared {kind}",
                    hint=f"declare it under the top-level `{kind}s:`",
                )
            if isinstance(entry, Config):
                content = entry.content
            else:
                content = env.get(entry.environment, "")
                if not content:
                    raise ConfigError(
                        f"{where}.secrets: secret {grant.source!r} takes its value from "
                        f"{entry.environment}, which is not set",
                        hint=f"set {entry.environment} in the environment or in .env beside "
                        "the file",
                    )
            files.append(ContainerFile(grant.target, content.encode(), _mode(grant.mode)))
    return tuple(files)


def _mode(text: str | None) -> int:
    return DEFAULT_FILE_MODE if text is None else int(text, 8)


def project_spec(
    project: ComposeProject,
    env: Mapping[str, str],
    working_dir: Path,
    config_files: list[Path] | None = None,
) -> ProjectSpec:
    """Resolve interpolations and name everything the way Compose would."""
    name = project.name
    containers: list[ContainerSpec] = []
    meta = project.metadata
    primary = meta.get("service") or next(iter(project.services))
    if primary not in project.services:
        raise ConfigError(
            f"x-ling-compose.service names {primary!r}, which is not a service",
            hint="render the file again with ling_compose",
        )
    endpoint = project.services[primary].endpoint
    served = meta.get("served_model_name") or project.services[primary].labels.get(LC_MODEL)
    health_path = meta.get("health_path", "/health")
    engine = meta.get("engine") or project.services[primary].labels.get(LC_ENGINE)
    known = registry.find(engine)
    api_key: str | None = None
    for service_name, service in project.services.items():
        where = f"services.{service_name}"

        def interp(value: str, field_: str, _where: str = where) -> str:
            return interpolate(value, env, f"{_where}.{field_}")

        environment = {k: interp(v, f"environment.{k}") for k, v in service.environment.items()}
        mounts = []
        for vol in service.volumes:
            if is_host_path(vol.source):
                source = str((working_dir / Path(vol.source).expanduser()).resolve())
            elif vol.source in project.volumes:
                source = volume_name(name, vol.source)
            else:
                raise ConfigError(
                    f"{where}.volumes: {vol.source!r} is not a declared volume",
                    hint="declare it under the top-level `volumes:`",
                )
            mounts.append(vol.model_copy(update={"source": source}))
        build = None
        if service.build is not None:
            ctx = service.build.context
            if "://" not in ctx and not ctx.startswith(("git@", "github.com/")):
                ctx = str((working_dir / ctx).resolve())
            args = {k: interp(v, "build.args") for k, v in service.build.args.items()}
            build = service.build.model_copy(update={"context": ctx, "args": args})
        resolved = service.model_copy(
            update={
                "image": interp(service.image, "image"),
                "build": build,
                "entrypoint": [interp(a, "entrypoint") for a in service.entrypoint]
                if service.entrypoint is not None
                else None,
                "command": [interp(a, "command") for a in service.command],
                "environment": environment,
                "volumes": mounts,
            }
        )
        files = _files(project, service, env, where)
        # The hash covers the resolved configuration, files included, so a changed secret, config
        # or image recreates the container (as Compose does); only its digest is stored, never
        # the values.
        config_hash = _hash(
            {
                "name": container_name(name, service_name),
                "network": network_name(name),
                "service": resolved.to_compose(),
                "files": [[f.path, f.mode, hashlib.sha256(f.content).hexdigest()] for f in files],
            }
        )
        svc_endpoint = service.endpoint
        labels = {
            **service.labels,
            COMPOSE_PROJECT: name,
            COMPOSE_SERVICE: service_name,
            COMPOSE_ONEOFF: "False",
            COMPOSE_NUMBER: "1",
            COMPOSE_HASH: config_hash,
            COMPOSE_WORKDIR: str(working_dir),
            LC_PROJECT: name,
        }
        if config_files:
            labels[COMPOSE_CONFIG_FILES] = ",".join(str(p) for p in config_files)
        if service_name == primary:
            if svc_endpoint:
                labels[LC_ENDPOINT] = svc_endpoint
            if served:
                labels[LC_MODEL] = served
            labels[LC_HEALTH_PATH] = health_path
            # The plan's start-up figures, so that `status` can compare without the file.
            labels.update(
                {f"{LABEL_PREFIX}.{k}": v for k, v in meta.items() if k.startswith("planned_")}
            )
            # Where the engine reads it (a flag or a variable), resolved: for the health and
            # smoke requests only.
            api_key = known.api_key_in(resolved.command, environment) if known else None
        containers.append(
            ContainerSpec(
                project=name,
                service=service_name,
                name=container_name(name, service_name),
                network=network_name(name),
                config=resolved,
                labels=labels,
                files=files,
            )
        )
    volumes = {
        volume_name(name, vol): {
            **spec_vol.labels,
            COMPOSE_PROJECT: name,
            COMPOSE_VOLUME: vol,
            LC_PROJECT: name,
        }
        for vol, spec_vol in project.volumes.items()
    }
    return ProjectSpec(
        name=name,
        network=network_name(name),
        network_labels={COMPOSE_PROJECT: name, COMPOSE_NETWORK: DEFAULT_NETWORK, LC_PROJECT: name},
        volumes=volumes,
        containers=containers,
        endpoint=endpoint,
        served_model_name=served,
        health_path=health_path,
        engine=engine,
        api_key=api_key,
    )
