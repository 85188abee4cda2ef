"""Typed Compose project: what `render` serialises and what `up` brings up.

The file targets the Compose Specification as Docker Compose v2 reads it (the `docker compose`
users run): a top-level `name:` fixes the project name, so `docker compose` and ling_compose's
own `up`/`status`/`down` manage the same project whatever folder the file is in. Debian's
docker-compose 1.29 predates `name:` and refuses these files (docs/runtime.md).
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import Field

from ling_compose.models.base import StrictModel

LABEL_PREFIX = "io.ling-compose"
# Labels by which `status` finds a stack and probes it, whoever started it: rendered into the
# service (so `docker compose up` sets them) and set again by ling_compose's own `up`.
LC_PROJECT = f"{LABEL_PREFIX}.project"
LC_ENDPOINT = f"{LABEL_PREFIX}.endpoint"
LC_MODEL = f"{LABEL_PREFIX}.served-model-name"
LC_HEALTH_PATH = f"{LABEL_PREFIX}.health-path"
LC_ENGINE = f"{LABEL_PREFIX}.engine"


def _seconds(value: Any) -> int:
    """Compose durations as rendered ("90s", "2m", "1h30m") back to whole seconds."""
    text = str(value)
    units = {"h": 3600, "m": 60, "s": 1}
    total, number = 0.0, ""
    for ch in text:
        if ch.isdigit() or ch == ".":
            number += ch
        elif ch in units and number:
            total += float(number) * units[ch]
            number = ""
    return int(total + (float(number) if number else 0))


class Healthcheck(StrictModel):
    test: list[str] = Field(description='Exec form, e.g. ["CMD", "curl", "-fsS", URL]')
    interval_s: int = 15
    timeout_s: int = 5
    retries: int = 5
    start_period_s: int = Field(
        description="Grace time for loading (and first download of) weights"
    )

    def to_compose(self) -> dict[str, Any]:
        return {
            "test": list(self.test),
            "interval": f"{self.interval_s}s",
            "timeout": f"{self.timeout_s}s",
            "retries": self.retries,
            "start_period": f"{self.start_period_s}s",
        }

    @classmethod
    def from_compose(cls, data: dict[str, Any]) -> Healthcheck:
        return cls(
            test=[str(t) for t in data["test"]],
            interval_s=_seconds(data.get("interval", "15s")),
            timeout_s=_seconds(data.get("timeout", "5s")),
            retries=int(data.get("retries", 5)),
            start_period_s=_seconds(data.get("start_period", "0s")),
        )


class PortMapping(StrictModel):
    host_ip: str = "127.0.0.1"
    host_port: int = Field(ge=1, le=65535)
    container_port: int = Field(ge=1, le=65535)

    @property
    def client_url(self) -> str:
        """URL a client on this host uses; a wildcard bind is reached through loopback."""
        host = "127.0.0.1" if self.host_ip in ("0.0.0.0", "127.0.0.1", "") else self.host_ip
        return f"http://{host}:{self.host_port}"

    def to_compose(self) -> str:
        return f"{self.host_ip}:{self.host_port}:{self.container_port}"

    @classmethod
    def from_compose(cls, text: str) -> PortMapping:
        parts = str(text).rsplit(":", 2)
        if len(parts) < 2:
            raise ValueError(f"port {text!r} publishes no host port")
        host_ip = parts[0] if len(parts) == 3 else "0.0.0.0"
        host_port, container = parts[-2], parts[-1]
        return cls(
            host_ip=host_ip, host_port=int(host_port), container_port=int(container.split("/")[0])
        )


class VolumeMount(StrictModel):
    source: str = Field(description="Named volume (declared in the project) or host path")
    target: str
    read_only: bool = False

    def to_compose(self) -> str:
        return f"{self.source}:{self.target}" + (":ro" if self.read_only else "")

    @classmethod
    def from_compose(cls, text: str) -> VolumeMount:
        parts = str(text).split(":")
        if len(parts) < 2:
            # An anonymous volume (a container path alone): render never writes one.
            raise ValueError(f"volume {text!r} names no source:target")
        read_only = len(parts) == 3 and parts[2] == "ro"
        return cls(source=parts[0], target=parts[1], read_only=read_only)


class GpuReservation(StrictModel):
    """deploy.resources.reservations.devices entry for NVIDIA GPUs: a count ("all" for every
    GPU) or explicit device ids. With neither, Compose and Docker reserve all GPUs."""

    count: Annotated[int, Field(ge=1)] | Literal["all"] | None = None
    device_ids: list[str] | None = None

    def to_compose(self) -> dict[str, Any]:
        entry: dict[str, Any] = {"driver": "nvidia"}
        if self.device_ids is not None:
            entry["device_ids"] = list(self.device_ids)
        elif self.count is not None:
            entry["count"] = self.count
        entry["capabilities"] = ["gpu"]
        return entry

    @classmethod
    def from_compose(cls, data: dict[str, Any]) -> GpuReservation:
        ids = data.get("device_ids")
        count = data.get("count")
        if ids is not None or count is None:
            return cls(device_ids=[str(i) for i in ids] if ids is not None else None)
        # Compose accepts the count as a number, a numeric string, or "all" (any case).
        text = str(count).strip()
        return cls(count="all" if text.lower() == "all" else int(text))


class Build(StrictModel):
    """Compose `build:` from a git context (e.g. a llama.cpp fork) or a local folder."""

    context: str
    dockerfile: str | None = None
    target: str | None = None
    args: dict[str, str] = Field(default_factory=dict)

    def to_compose(self) -> dict[str, Any]:
        out: dict[str, Any] = {"context": self.context}
        if self.dockerfile:
            out["dockerfile"] = self.dockerfile
        if self.target:
            out["target"] = self.target
        if self.args:
            out["args"] = dict(self.args)
        return out

    @classmethod
    def from_compose(cls, data: dict[str, Any] | str) -> Build:
        if isinstance(data, str):
            return cls(context=data)
        return cls(
            context=str(data["context"]),
            dockerfile=data.get("dockerfile"),
            target=data.get("target"),
            args={str(k): str(v) for k, v in (data.get("args") or {}).items()},
        )


PullPolicy = Literal["always", "never", "missing", "build", "if_not_present"]


class FileGrant(StrictModel):
    """A service's entry under `configs:` or `secrets:`: a top-level config or secret, written
    into the container at `target` (Compose v2 copies it in before the container starts)."""

    source: str = Field(pattern=r"^[a-zA-Z0-9._-]+$")
    target: str = Field(pattern=r"^/", description="Absolute path in the container")
    mode: str | None = Field(
        default=None,
        pattern=r"^0[0-7]{3}$",
        description="Octal, as a string: YAML 1.2 would read a bare 0444 as decimal 444",
    )

    def to_compose(self) -> dict[str, str]:
        out = {"source": self.source, "target": self.target}
        if self.mode is not None:
            out["mode"] = self.mode
        return out

    @classmethod
    def from_compose(cls, data: dict[str, Any]) -> FileGrant:
        mode = data.get("mode")
        return cls(
            source=str(data["source"]),
            target=str(data["target"]),
            mode=None if mode is None else str(mode),
        )


class Config(StrictModel):
    """A top-level config with its content inline (Docker Compose 2.23.1 and later), so a single
    compose file carries the files its services read."""

    content: str = Field(description="The file's text as the container sees it")

    def to_compose(self) -> dict[str, str]:
        # Compose interpolates `${VAR}` in the whole file, `content:` included: `$$` is a `$`.
        return {"content": self.content.replace("$", "$$")}

    @classmethod
    def from_compose(cls, data: dict[str, Any]) -> Config:
        return cls(content=str(data["content"]).replace("$$", "$"))


class Secret(StrictModel):
    """A top-level secret whose value Compose takes from an environment variable at `up`
    (the shell's, or .env's): the value never lands in the file."""

    environment: str = Field(pattern=r"^[A-Za-z_][A-Za-z0-9_]*$")

    def to_compose(self) -> dict[str, str]:
        return {"environment": self.environment}

    @classmethod
    def from_compose(cls, data: dict[str, Any]) -> Secret:
        return cls(environment=str(data["environment"]))


class Service(StrictModel):
    image: str
    build: Build | None = None
    pull_policy: PullPolicy | None = Field(
        default=None,
        description="`build`: Compose builds the image and never pulls `image` from a registry",
    )
    entrypoint: list[str] | None = None
    command: list[str] = Field(default_factory=list)
    environment: dict[str, str] = Field(
        default_factory=dict,
        description="Values are literals or ${VAR} interpolations; never secret values",
    )
    ports: list[PortMapping] = Field(default_factory=list)
    volumes: list[VolumeMount] = Field(default_factory=list)
    ipc: Literal["host", "private", "shareable"] | None = None
    shm_size: str | None = None
    ulimits: dict[str, int | dict[str, int]] = Field(default_factory=dict)
    gpus: GpuReservation | None = None
    healthcheck: Healthcheck | None = None
    restart: Literal["no", "always", "on-failure", "unless-stopped"] = "unless-stopped"
    labels: dict[str, str] = Field(default_factory=dict)
    configs: list[FileGrant] = Field(default_factory=list)
    secrets: list[FileGrant] = Field(default_factory=list)

    @property
    def endpoint(self) -> str | None:
        """URL a client on this host uses: that of the first published port."""
        return self.ports[0].client_url if self.ports else None

    def to_compose(self) -> dict[str, Any]:
        out: dict[str, Any] = {"image": self.image}
        if self.build is not None:
            out["build"] = self.build.to_compose()
        if self.pull_policy is not None:
            out["pull_policy"] = self.pull_policy
        if self.entrypoint is not None:
            out["entrypoint"] = list(self.entrypoint)
        if self.command:
            out["command"] = list(self.command)
        if self.environment:
            out["environment"] = dict(self.environment)
        if self.ports:
            out["ports"] = [p.to_compose() for p in self.ports]
        if self.volumes:
            out["volumes"] = [v.to_compose() for v in self.volumes]
        if self.ipc is not None:
            out["ipc"] = self.ipc
        if self.shm_size is not None:
            out["shm_size"] = self.shm_size
        if self.ulimits:
            out["ulimits"] = {
                k: (dict(v) if isinstance(v, dict) else v) for k, v in self.ulimits.items()
            }
        if self.gpus is not None:
            out["deploy"] = {"resources": {"reservations": {"devices": [self.gpus.to_compose()]}}}
        if self.healthcheck is not None:
            out["healthcheck"] = self.healthcheck.to_compose()
        out["restart"] = self.restart
        if self.labels:
            out["labels"] = dict(self.labels)
        if self.configs:
            out["configs"] = [c.to_compose() for c in self.configs]
        if self.secrets:
            out["secrets"] = [s.to_compose() for s in self.secrets]
        return out

    @classmethod
    def from_compose(cls, data: dict[str, Any]) -> Service:
        """Read back what to_compose wrote (a file ling_compose rendered)."""
        devices = (
            ((data.get("deploy") or {}).get("resources") or {}).get("reservations") or {}
        ).get("devices") or []
        return cls(
            image=str(data["image"]),
            build=Build.from_compose(data["build"]) if "build" in data else None,
            pull_policy=data.get("pull_policy"),
            entrypoint=[str(a) for a in data["entrypoint"]] if "entrypoint" in data else None,
            command=[str(a) for a in data.get("command") or []],
            environment={str(k): str(v) for k, v in (data.get("environment") or {}).items()},
            ports=[PortMapping.from_compose(p) for p in data.get("ports") or []],
            volumes=[VolumeMount.from_compose(v) for v in data.get("volumes") or []],
            ipc=data.get("ipc"),
            shm_size=data.get("shm_size"),
            ulimits=dict(data.get("ulimits") or {}),
            gpus=GpuReservation.from_compose(devices[0]) if devices else None,
            healthcheck=Healthcheck.from_compose(data["healthcheck"])
            if "healthcheck" in data
            else None,
            restart=data.get("restart", "unless-stopped"),
            labels={str(k): str(v) for k, v in (data.get("labels") or {}).items()},
            configs=[FileGrant.from_compose(c) for c in data.get("configs") or []],
            secrets=[FileGrant.from_compose(s) for s in data.get("secrets") or []],
        )


class NamedVolume(StrictModel):
    labels: dict[str, str] = Field(default_factory=dict)

    def to_compose(self) -> dict[str, Any]:
        return {"labels": dict(self.labels)} if self.labels else {}

    @classmethod
    def from_compose(cls, data: dict[str, Any] | None) -> NamedVolume:
        return cls(labels={str(k): str(v) for k, v in ((data or {}).get("labels") or {}).items()})


class ComposeProject(StrictModel):
    """A whole compose file. `name` is the Compose project name, rendered as the top-level
    `name:` (what `docker compose` uses unless `-p` or COMPOSE_PROJECT_NAME says otherwise)."""

    name: str = Field(pattern=r"^[a-z0-9][a-z0-9_-]*$")
    header: list[str] = Field(default_factory=list, description="Comment lines atop the file")
    services: dict[str, Service]
    volumes: dict[str, NamedVolume] = Field(default_factory=dict)
    configs: dict[str, Config] = Field(default_factory=dict)
    secrets: dict[str, Secret] = Field(default_factory=dict)
    metadata: dict[str, str] = Field(
        default_factory=dict, description="Rendered under x-ling-compose (profile, versions, ...)"
    )

    def to_compose(self) -> dict[str, Any]:
        out: dict[str, Any] = {"name": self.name}
        if self.metadata:
            out["x-ling-compose"] = dict(self.metadata)
        out["services"] = {name: svc.to_compose() for name, svc in self.services.items()}
        if self.volumes:
            out["volumes"] = {name: vol.to_compose() for name, vol in self.volumes.items()}
        if self.configs:
            out["configs"] = {name: c.to_compose() for name, c in self.configs.items()}
        if self.secrets:
            out["secrets"] = {name: s.to_compose() for name, s in self.secrets.items()}
        return out

    @classmethod
    def from_compose(cls, data: dict[str, Any]) -> ComposeProject:
        """Read back a file ling_compose rendered: the project is the top-level `name:`
        (files from before it was rendered carry it as x-ling-compose.project)."""
        meta = dict(data.get("x-ling-compose") or {})
        legacy = meta.pop("project", None)
        name = data.get("name") or legacy
        if not name:
            raise ValueError("no top-level name: not a file ling_compose rendered")
        return cls(
            name=str(name),
            services={
                str(k): Service.from_compose(v) for k, v in (data.get("services") or {}).items()
            },
            volumes={
                str(k): NamedVolume.from_compose(v) for k, v in (data.get("volumes") or {}).items()
            },
            configs={
                str(k): Config.from_compose(v) for k, v in (data.get("configs") or {}).items()
            },
            secrets={
                str(k): Secret.from_compose(v) for k, v in (data.get("secrets") or {}).items()
            },
            metadata={str(k): str(v) for k, v in meta.items()},
        )
