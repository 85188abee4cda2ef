"""Typed Compose project: what `render` serialises and what `up` brings up.

Only keys understood by both Compose v2 and docker-compose 1.29 are modelled
(no top-level `name:`; project metadata lives under `x-ling-compose`).
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field

from ling_compose.models.base import StrictModel

LABEL_PREFIX = "io.ling-compose"


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


class PortMapping(StrictModel):
    host_ip: str = "127.0.0.1"
    host_port: int = Field(ge=1, le=65535)
    container_port: int = Field(ge=1, le=65535)

    def to_compose(self) -> str:
        return f"{self.host_ip}:{self.host_port}:{self.container_port}"


class VolumeMount(StrictModel):
    source: str = Field(description="Named volume (declared in the project) or host path")
    target: str
    read_only: bool = False

    def to_compose(self) -> str:
        return f"{self.source}:{self.target}" + (":ro" if self.read_only else "")


class GpuReservation(StrictModel):
    """deploy.resources.reservations.devices entry for NVIDIA GPUs."""

    count: int | None = Field(default=None, ge=1)
    device_ids: list[str] | None = None

    def to_compose(self) -> dict[str, Any]:
        entry: dict[str, Any] = {"driver": "nvidia"}
        if self.device_ids is not None:
            entry["device_ids"] = list(self.device_ids)
        else:
            entry["count"] = self.count
        entry["capabilities"] = ["gpu"]
        return entry


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


class Service(StrictModel):
    image: str
    build: Build | None = None
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

    def to_compose(self) -> dict[str, Any]:
        out: dict[str, Any] = {"image": self.image}
        if self.build is not None:
            out["build"] = self.build.to_compose()
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
        return out


class NamedVolume(StrictModel):
    labels: dict[str, str] = Field(default_factory=dict)

    def to_compose(self) -> dict[str, Any]:
        return {"labels": dict(self.labels)} if self.labels else {}


class ComposeProject(StrictModel):
    """A whole compose file. `name` is the Compose project name (`-p`), not a file key."""

    name: str = Field(pattern=r"^[a-z0-9][a-z0-9_-]*$")
    header: list[str] = Field(default_factory=list, description="Comment lines atop the file")
    services: dict[str, Service]
    volumes: dict[str, NamedVolume] = Field(default_factory=dict)
    metadata: dict[str, str] = Field(
        default_factory=dict, description="Rendered under x-ling-compose (profile, versions, ...)"
    )

    def to_compose(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        if self.metadata:
            out["x-ling-compose"] = {"project": self.name, **self.metadata}
        out["services"] = {name: svc.to_compose() for name, svc in self.services.items()}
        if self.volumes:
            out["volumes"] = {name: vol.to_compose() for name, vol in self.volumes.items()}
        return out
