"""Typed Compose project: what `render` serialises and what `up` brings up.

The file targets the Compose Specification as Docker Compose v2 reads it (the `docker compose`
users run): a top-level `name:` fixes the project name, so `docker compose` and ling_compose's
own `up`/`status`/`down` manage the same project whatever folder the file is in. Debian's
docker-compose 1.29 predates `name:` and refuses these files (docs/runtime.md).

Serialisation lives in the models, once: a field is its Compose key (by name or alias), a type
knows its Compose form (a duration, a port or volume string), and ComposeModel leaves out what
is unset. `to_compose` is the dump, `from_compose` the validation of a file read back.
"""

import re
from typing import Annotated, Any, ClassVar, Literal, Self

from pydantic import (
    AliasChoices,
    BeforeValidator,
    ConfigDict,
    Field,
    PlainSerializer,
    SerializationInfo,
    SerializerFunctionWrapHandler,
    ValidationInfo,
    field_serializer,
    field_validator,
    model_serializer,
    model_validator,
)

from ling_compose.models.base import StrictModel
from ling_compose.models.server import client_url

# Go's time.ParseDuration, which Compose uses: "90s", "1h30m", "1.5s", "0"; ns us µs ms s m h.
# (Patterns as text: `re` compiles them on first use, not at import.)
GO_DURATION = r"[-+]?(?:0|(?:(?:\d+\.?\d*|\.\d+)(?:ns|us|µs|μs|ms|s|m|h))+)"
_DURATION_PART = r"(\d+\.?\d*|\.\d+)(ns|us|µs|μs|ms|s|m|h)"
_UNIT_SECONDS = {
    "ns": 1e-9,
    "us": 1e-6,
    "µs": 1e-6,
    "μs": 1e-6,
    "ms": 1e-3,
    "s": 1,
    "m": 60,
    "h": 3600,
}


def duration_seconds(value: Any) -> Any:
    """A Compose duration ("90s", "1h30m", "500ms") as whole seconds; numbers are seconds."""
    if isinstance(value, bool) or not isinstance(value, str):
        return value
    text = value.strip()
    if not re.fullmatch(GO_DURATION, text):
        raise ValueError(f"invalid duration {value!r}")
    total = sum(float(n) * _UNIT_SECONDS[unit] for n, unit in re.findall(_DURATION_PART, text))
    return int(-total if text.startswith("-") else total)


# Whole seconds, written as Compose writes durations ("90s").
Seconds = Annotated[
    int,
    BeforeValidator(duration_seconds),
    PlainSerializer(lambda seconds: f"{seconds}s", return_type=str),
]


def required_variable(name: str, what: str) -> str:
    """`${NAME:?set NAME to WHAT}`: Compose interpolates NAME, and stops with that message where
    it is unset or empty (so a required secret is never started without)."""
    return "${" + name + ":?set " + name + " to " + what + "}"


def _text(value: Any) -> Any:
    """A scalar of a file read back (YAML gives `retries: 5` an int, `FOO: 1` too) as text."""
    return str(value) if isinstance(value, int | float | bool) else value


# A string in the file, whatever scalar YAML made of it.
Text = Annotated[str, BeforeValidator(_text)]


def _within(data: Any, *keys: str) -> Any:
    """data[k1][k2]..., or None where a level is missing or not a mapping."""
    for key in keys:
        data = data.get(key) if isinstance(data, dict) else None
    return data


# from_compose's marker: a file read back may hold keys ling_compose does not write; they are
# left out, as `up -f` never applied them.
_READ_BACK = {"read_back": True}


class ComposeModel(StrictModel):
    """A piece of a compose file. Dumped, None and empty collections are left out (except for
    the fields in `keep_empty`, where empty means something: `entrypoint: []` resets it)."""

    model_config = ConfigDict(validate_by_name=True, validate_by_alias=True)
    keep_empty: ClassVar[frozenset[str]] = frozenset()

    @model_validator(mode="before")
    @classmethod
    def _known_keys_when_read_back(cls, data: Any, info: ValidationInfo) -> Any:
        if info.context is not _READ_BACK or not isinstance(data, dict):
            return data
        known = set()
        for name, field in cls.model_fields.items():
            known |= {name, field.alias, field.serialization_alias}
            choices = field.validation_alias
            if isinstance(choices, AliasChoices):
                known |= {c for c in choices.choices if isinstance(c, str)}
        return {k: v for k, v in data.items() if k in known}

    @model_serializer(mode="wrap")
    def _compose_form(self, handler: SerializerFunctionWrapHandler, info: SerializationInfo) -> Any:
        data = handler(self)
        if not isinstance(data, dict):
            return data
        fields = type(self).model_fields
        keep = {fields[n].serialization_alias or n for n in self.keep_empty} | set(self.keep_empty)
        return {
            k: v
            for k, v in data.items()
            if v is not None and (k in keep or not (isinstance(v, list | dict) and not v))
        }

    def to_compose(self) -> Any:
        """This piece as the compose file writes it."""
        return self.model_dump(mode="json", by_alias=True)

    @classmethod
    def from_compose(cls, data: Any) -> Self:
        """Read back what to_compose wrote (a file ling_compose rendered)."""
        return cls.model_validate(data, context=_READ_BACK)


class Healthcheck(ComposeModel):
    test: list[Text] = Field(description='Exec form, e.g. ["CMD", "curl", "-fsS", URL]')
    interval_s: Seconds = Field(default=15, alias="interval")
    timeout_s: Seconds = Field(default=5, alias="timeout")
    retries: int = 5
    start_period_s: Seconds = Field(
        default=0,
        alias="start_period",
        description="Grace time for loading (and first download of) weights",
    )

    @field_validator("test", mode="before")
    @classmethod
    def _shell_form(cls, value: Any) -> Any:
        # Compose: a string test is run by the container's shell.
        return ["CMD-SHELL", value] if isinstance(value, str) else value


class PortMapping(ComposeModel):
    """A published port, written `HOST_IP:HOST_PORT:CONTAINER_PORT`."""

    host_ip: str = "127.0.0.1"
    host_port: int = Field(ge=1, le=65535)
    container_port: int = Field(ge=1, le=65535)

    @property
    def client_url(self) -> str:
        return client_url(self.host_ip, self.host_port)

    @model_validator(mode="before")
    @classmethod
    def _from_string(cls, data: Any) -> Any:
        if not isinstance(data, str | int):
            return data
        parts = str(data).rsplit(":", 2)
        if len(parts) < 2:
            raise ValueError(f"port {str(data)!r} publishes no host port")
        host_ip = parts[0] if len(parts) == 3 else "0.0.0.0"
        return {
            "host_ip": host_ip,
            "host_port": parts[-2],
            "container_port": parts[-1].split("/")[0],
        }

    @model_serializer(mode="plain")
    def _compose_form(self) -> str:  # type: ignore[override]
        return f"{self.host_ip}:{self.host_port}:{self.container_port}"


def is_host_path(source: str) -> bool:
    """A mount source that names a host path, not a named volume (Compose's rule)."""
    return source.startswith(("/", "./", "../", "~")) or source in (".", "..")


class VolumeMount(ComposeModel):
    """A mount, written `SOURCE:TARGET[:ro]`."""

    source: str = Field(description="Named volume (declared in the project) or host path")
    target: str
    read_only: bool = False

    @property
    def kind(self) -> Literal["bind", "volume"]:
        return "bind" if is_host_path(self.source) else "volume"

    @model_validator(mode="before")
    @classmethod
    def _from_string(cls, data: Any) -> Any:
        if not isinstance(data, str):
            return data
        parts = data.split(":")
        if len(parts) < 2:
            # An anonymous volume (a container path alone): render never writes one.
            raise ValueError(f"volume {data!r} names no source:target")
        return {"source": parts[0], "target": parts[1], "read_only": parts[2:3] == ["ro"]}

    @model_serializer(mode="plain")
    def _compose_form(self) -> str:  # type: ignore[override]
        return f"{self.source}:{self.target}" + (":ro" if self.read_only else "")


class GpuReservation(ComposeModel):
    """deploy.resources.reservations.devices entry for NVIDIA GPUs: a count ("all" for every
    GPU) or explicit device ids. With neither, Compose and Docker reserve all GPUs."""

    count: Annotated[int, Field(ge=1)] | Literal["all"] | None = None
    device_ids: list[Text] | None = None

    @model_validator(mode="before")
    @classmethod
    def _from_device(cls, data: Any) -> Any:
        """A Compose device entry: ids win over a count, which may be a number, a numeric
        string or "all" in any case; driver and capabilities are always NVIDIA's GPU ones."""
        if not isinstance(data, dict):
            return data
        ids, count = data.get("device_ids"), data.get("count")
        if ids is not None or count is None:
            return {"device_ids": ids}
        text = str(count).strip()
        return {"count": "all" if text.lower() == "all" else text}

    @model_serializer(mode="plain")
    def _compose_form(self) -> dict[str, Any]:  # type: ignore[override]
        entry: dict[str, Any] = {"driver": "nvidia"}
        if self.device_ids is not None:
            entry["device_ids"] = list(self.device_ids)
        elif self.count is not None:
            entry["count"] = self.count
        entry["capabilities"] = ["gpu"]
        return entry


class Build(ComposeModel):
    """Compose `build:` from a git context (e.g. a llama.cpp fork) or a local folder."""

    context: str
    dockerfile: str | None = None
    target: str | None = None
    args: dict[str, Text] = Field(default={})

    @model_validator(mode="before")
    @classmethod
    def _from_context(cls, data: Any) -> Any:
        return {"context": data} if isinstance(data, str) else data


PullPolicy = Literal["always", "never", "missing", "build", "if_not_present"]


class FileGrant(ComposeModel):
    """A service's entry under `configs:` or `secrets:`: a top-level config or secret, written
    into the container at `target` (Compose v2 copies it in before the container starts)."""

    source: str = Field(pattern=r"^[a-zA-Z0-9._-]+$")
    target: str = Field(pattern=r"^/", description="Absolute path in the container")
    mode: Text | None = Field(
        default=None,
        pattern=r"^0[0-7]{3}$",
        description="Octal, as a string: YAML 1.2 would read a bare 0444 as decimal 444",
    )


class Config(ComposeModel):
    """A top-level config with its content inline (Docker Compose 2.23.1 and later), so a single
    compose file carries the files its services read."""

    content: str = Field(description="The file's text as the container sees it")

    # Compose interpolates `${VAR}` in the whole file, `content:` included: `$$` is a `$`.
    @field_serializer("content")
    def _escape_dollars(self, content: str) -> str:
        return content.replace("$", "$$")

    @field_validator("content", mode="before")
    @classmethod
    def _unescape_dollars(cls, value: Any, info: ValidationInfo) -> Any:
        read_back = info.context is _READ_BACK and isinstance(value, str)
        return value.replace("$$", "$") if read_back else value


class Secret(ComposeModel):
    """A top-level secret whose value Compose takes from an environment variable at `up`
    (the shell's, or .env's): the value never lands in the file."""

    environment: str = Field(pattern=r"^[A-Za-z_][A-Za-z0-9_]*$")


class Service(ComposeModel):
    keep_empty = frozenset({"entrypoint"})

    image: str
    build: Build | None = None
    pull_policy: PullPolicy | None = Field(
        default=None,
        description="`build`: Compose builds the image and never pulls `image` from a registry",
    )
    entrypoint: list[Text] | None = None
    command: list[Text] = Field(default=[])
    environment: dict[str, Text] = Field(
        default={},
        description="Values are literals or ${VAR} interpolations; never secret values",
    )
    ports: list[PortMapping] = Field(default=[])
    volumes: list[VolumeMount] = Field(default=[])
    ipc: Literal["host", "private", "shareable"] | None = None
    shm_size: Text | None = None
    ulimits: dict[str, int | dict[str, int]] = Field(default={})
    gpus: GpuReservation | None = Field(
        default=None,
        validation_alias=AliasChoices("gpus", "deploy"),
        serialization_alias="deploy",
        description="Written as deploy.resources.reservations.devices[0]",
    )
    healthcheck: Healthcheck | None = None
    restart: Literal["no", "always", "on-failure", "unless-stopped"] = "unless-stopped"
    labels: dict[str, Text] = Field(default={})
    configs: list[FileGrant] = Field(default=[])
    secrets: list[FileGrant] = Field(default=[])

    @property
    def endpoint(self) -> str | None:
        """URL a client on this host uses: that of the first published port."""
        return self.ports[0].client_url if self.ports else None

    @field_validator("command", "ports", "volumes", "configs", "secrets", mode="before")
    @classmethod
    def _null_is_no_items(cls, value: Any) -> Any:
        return [] if value is None else value  # `command:` with nothing after it

    @field_validator("environment", "ulimits", "labels", mode="before")
    @classmethod
    def _null_is_no_keys(cls, value: Any) -> Any:
        return {} if value is None else value

    @field_validator("gpus", mode="before")
    @classmethod
    def _from_deploy(cls, value: Any) -> Any:
        """`deploy:` as Compose writes it: the first device reservation, if any."""
        if not isinstance(value, dict) or value.keys() & {"count", "device_ids", "driver"}:
            return value
        devices = _within(value, "resources", "reservations", "devices")
        return devices[0] if isinstance(devices, list) and devices else None

    @field_serializer("gpus", mode="wrap")
    def _as_deploy(
        self, value: GpuReservation | None, handler: SerializerFunctionWrapHandler
    ) -> Any:
        if value is None:
            return None
        return {"resources": {"reservations": {"devices": [handler(value)]}}}


class NamedVolume(ComposeModel):
    labels: dict[str, Text] = Field(default={})

    @model_validator(mode="before")
    @classmethod
    def _null_is_empty(cls, data: Any) -> Any:
        return {} if data is None else data


class ComposeProject(ComposeModel):
    """A whole compose file. `name` is the Compose project name, rendered as the top-level
    `name:` (what `docker compose` uses unless `-p` or COMPOSE_PROJECT_NAME says otherwise)."""

    keep_empty = frozenset({"services"})

    name: str = Field(pattern=r"^[a-z0-9][a-z0-9_-]*$")
    header: list[str] = Field(default=[], exclude=True, description="Comment lines atop the file")
    metadata: dict[str, Text] = Field(
        default={},
        alias="x-ling-compose",
        description="Rendered under x-ling-compose (profile, versions, ...)",
    )
    services: dict[str, Service]
    volumes: dict[str, NamedVolume] = Field(default={})
    configs: dict[str, Config] = Field(default={})
    secrets: dict[str, Secret] = Field(default={})

    @model_validator(mode="before")
    @classmethod
    def _project_name(cls, data: Any) -> Any:
        """The project is the top-level `name:`; files from before it was rendered carry it
        as x-ling-compose.project."""
        if not isinstance(data, dict):
            return data
        key = "metadata" if "metadata" in data else "x-ling-compose"
        meta = data.get(key)
        legacy = None
        if isinstance(meta, dict):
            meta = dict(meta)
            legacy = meta.pop("project", None)
        name = data.get("name") or legacy
        if not name:
            raise ValueError("no top-level name: not a file ling_compose rendered")
        return {**data, "name": name, key: {} if meta is None else meta}
