"""What Docker Compose v2 refuses in a compose file, found without Docker (pure).

Compose v2.40.3 loads files with compose-go v2.9.1 (loader/loader.go): YAML 1.2, then
`${VAR}` interpolation, the Compose Specification schema, decoding into typed values, and
project checks. Here: the same schema (`flags/compose-spec.json`, byte-identical to the one
embedded in the docker-compose v2.40.3 binary; compose-go tag v2.9.1, commit 75fb1ab), and the
decoding and project checks a serving stack meets: ports, durations, sizes, command strings,
image or build, declared volumes, depends_on, GPU device requests. A value that still holds a
`$` is not judged: Compose checks it after interpolation, with that day's variables.
tests/unit/test_compose_lint.py compares the verdicts with the real `docker compose config`.
"""

from __future__ import annotations

import functools
import ipaddress
import json
import re
import shlex
from dataclasses import dataclass
from importlib import resources
from typing import Any

from ling_compose.models.compose import GO_DURATION


@dataclass(frozen=True)
class ComposeProblem:
    path: str  # where in the file, e.g. services.server.ports[0]; "" for the file itself
    message: str

    def __str__(self) -> str:
        return f"{self.path}: {self.message}" if self.path else self.message


def _interpolated(value: Any) -> bool:
    return isinstance(value, str) and "$" in value


def _where(parts: Any) -> str:
    out = ""
    for part in parts:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


@functools.cache
def _schema_validator() -> Any:
    import jsonschema  # only `validate` needs it; render stays light

    text = resources.files("ling_compose.flags").joinpath("compose-spec.json").read_text("utf-8")
    return jsonschema.Draft7Validator(json.loads(text))


def _non_string_keys(value: Any, path: list[Any], out: list[ComposeProblem]) -> None:
    # compose-go convertToStringKeysRecursive: "non-string key in services: 1"
    if isinstance(value, dict):
        for key, item in value.items():
            if not isinstance(key, str):
                out.append(ComposeProblem(_where(path), f"non-string key {key!r}"))
            else:
                _non_string_keys(item, [*path, key], out)
    elif isinstance(value, list):
        for i, item in enumerate(value):
            _non_string_keys(item, [*path, i], out)


def _schema_problems(data: dict[str, Any]) -> list[ComposeProblem]:
    problems = []
    for error in _schema_validator().iter_errors(data):
        if not _interpolated(error.instance):
            problems.append(ComposeProblem(_where(error.absolute_path), _schema_message(error)))
    return sorted(problems, key=lambda p: (p.path, p.message))


def _schema_message(error: Any) -> str:
    """jsonschema's message, in Compose's words where those are clearer, and short."""
    schema, instance = error.schema, error.instance
    if error.validator == "additionalProperties" and isinstance(instance, dict):
        known = schema.get("properties", {})
        patterns = schema.get("patternProperties", {})
        extra = [
            k for k in instance if k not in known and not any(re.search(p, k) for p in patterns)
        ]
        return "additional properties " + ", ".join(map(repr, extra)) + " not allowed"
    if error.context and all(e.validator == "type" for e in error.context):
        kinds = [str(e.validator_value) for e in error.context]
        return f"{_short(instance)} is not of type {' or '.join(kinds)}"
    if error.context:  # oneOf/anyOf: the alternative that came closest
        import jsonschema

        return _short_message(jsonschema.exceptions.best_match(error.context).message)
    return _short_message(error.message)


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def _short_message(text: str) -> str:
    return text if len(text) <= 200 else text[:197] + "..."


# docker/go-units RAMInBytes (compose-go types.UnitBytes): "8gb", "512m", "1.5 GiB".
_SIZE = re.compile(r"\d+(?:\.\d+)*\s?(?:[kKmMgGtTpP][iI]?)?[bB]?")
_DURATIONS = ("interval", "timeout", "start_period", "start_interval")


def _port_range(text: str) -> bool:
    # go-connections nat.ParsePortRange: "8000" or "8000-8010", each 0..65535
    match = re.fullmatch(r"(\d+)(?:-(\d+))?", text)
    if not match:
        return False
    low, high = int(match.group(1)), int(match.group(2) or match.group(1))
    return low <= high <= 65535


def _port_problem(spec: Any) -> str | None:
    """go-connections nat.ParsePortSpec, as compose-go's ParsePortConfig calls it."""
    if isinstance(spec, int):
        return None if 0 <= spec <= 65535 else f"invalid containerPort: {spec}"
    if isinstance(spec, dict):
        host_ip = spec.get("host_ip")
        if isinstance(host_ip, str) and not _interpolated(host_ip) and not _is_ip(host_ip):
            return f"invalid ip address: {host_ip}"  # validation.go checkIPAddress
        return None
    if not isinstance(spec, str) or _interpolated(spec):
        return None
    rest, _, proto = spec.partition("/")
    if proto and proto.lower() not in ("tcp", "udp", "sctp"):
        return f"invalid proto: {proto}"
    parts = rest.split(":")
    container = parts[-1]
    host = parts[-2] if len(parts) > 1 else ""
    ip = ":".join(parts[:-2])
    if ip.startswith("[") and ip.endswith("]"):
        ip = ip[1:-1]
    if ip and not _is_ip(ip):
        return f"invalid IP address: {ip}"
    if not _port_range(container):
        return f"invalid containerPort: {container}"
    if host and not _port_range(host):
        return f"invalid hostPort: {host}"
    return None


def _is_ip(text: str) -> bool:
    try:
        ipaddress.ip_address(text)
    except ValueError:
        return False
    return True


def _named_volume(spec: Any) -> str | None:
    """The named volume a service mount uses, if it uses one."""
    if isinstance(spec, dict):
        source = spec.get("source")
        return (
            source if spec.get("type", "volume") == "volume" and isinstance(source, str) else None
        )
    if not isinstance(spec, str) or ":" not in spec:
        return None
    source = spec.split(":", 1)[0]
    return None if source.startswith((".", "/", "~")) or not source else source


def _service_problems(name: str, svc: dict[str, Any], data: dict[str, Any]) -> list[ComposeProblem]:
    where = f"services.{name}"
    out: list[ComposeProblem] = []
    if "image" not in svc and "build" not in svc:
        out.append(ComposeProblem(where, "has neither an image nor a build context"))
    for key in ("command", "entrypoint"):
        value = svc.get(key)
        if isinstance(value, str) and not _interpolated(value):
            try:
                shlex.split(value)
            except ValueError as err:  # compose-go: "invalid command line string"
                out.append(ComposeProblem(f"{where}.{key}", f"invalid command line string ({err})"))
    ports = svc.get("ports")
    for i, port in enumerate(ports if isinstance(ports, list) else []):
        problem = _port_problem(port)
        if problem:
            out.append(ComposeProblem(f"{where}.ports[{i}]", problem))
    health = svc.get("healthcheck")
    durations = [("stop_grace_period", svc.get("stop_grace_period"))]
    if isinstance(health, dict):
        durations += [(f"healthcheck.{k}", health.get(k)) for k in _DURATIONS]
    for key, value in durations:
        if (
            isinstance(value, str)
            and not _interpolated(value)
            and not re.fullmatch(GO_DURATION, value)
        ):
            out.append(ComposeProblem(f"{where}.{key}", f"invalid duration {value!r}"))
    for key in ("shm_size", "mem_limit", "mem_reservation", "memswap_limit"):
        value = svc.get(key)
        if isinstance(value, str) and not _interpolated(value) and not _SIZE.fullmatch(value):
            out.append(ComposeProblem(f"{where}.{key}", f"invalid size {value!r}"))
    top_volumes = data.get("volumes")
    declared = top_volumes if isinstance(top_volumes, dict) else {}
    mounts = svc.get("volumes")
    for i, mount in enumerate(mounts if isinstance(mounts, list) else []):
        volume = _named_volume(mount)
        if volume and not _interpolated(volume) and volume not in declared:
            out.append(
                ComposeProblem(f"{where}.volumes[{i}]", f"refers to undefined volume {volume}")
            )
    services = data["services"]
    needs = svc.get("depends_on")
    for other in needs if isinstance(needs, list | dict) else []:
        if isinstance(other, str) and other not in services:
            out.append(ComposeProblem(f"{where}.depends_on", f"undefined service {other!r}"))
    deploy = svc.get("deploy")
    resources_ = deploy.get("resources") if isinstance(deploy, dict) else None
    reservations = resources_.get("reservations") if isinstance(resources_, dict) else None
    devices = reservations.get("devices") if isinstance(reservations, dict) else None
    for i, device in enumerate(devices if isinstance(devices, list) else []):
        if isinstance(device, dict) and "count" in device and "device_ids" in device:
            out.append(
                ComposeProblem(
                    f"{where}.deploy.resources.reservations.devices[{i}]",
                    '"count" and "device_ids" attributes are exclusive',
                )
            )
    return out


def check_compose(data: Any) -> list[ComposeProblem]:
    """Every reason Compose v2 would refuse `data` (a parsed compose file), file-level first."""
    if not isinstance(data, dict):
        return [ComposeProblem("", "top-level object must be a mapping")]
    if not data:
        return [ComposeProblem("", "empty compose file")]
    keys: list[ComposeProblem] = []
    _non_string_keys(data, [], keys)
    if keys:
        return keys  # Compose stops there: the schema sees only string keys
    problems = _schema_problems(data)
    services = data.get("services")
    if isinstance(services, dict):
        for name, svc in services.items():
            if isinstance(svc, dict):
                problems += _service_problems(name, svc, data)
    return problems
