"""Lint any compose file: what Compose would refuse, and every server argument its engine's
parser would refuse, against the pinned engines' flag catalogues.

Works on files ling_compose rendered (engine and version from `x-ling-compose`) and on
hand-written ones, such as the hosting guide's (engine and version from the image tag).
Pure: takes the parsed compose data, of any shape, and reports every problem found.
"""

from __future__ import annotations

import shlex
from dataclasses import dataclass, field
from typing import Any

from ling_compose.engines import registry
from ling_compose.engines.base import split_image
from ling_compose.errors import FlagError
from ling_compose.flags.compose_lint import ComposeProblem, check_compose
from ling_compose.flags.lint import check_args


@dataclass(frozen=True)
class Problem:
    message: str
    hint: str | None = None


@dataclass
class ServiceReport:
    service: str
    engine: str | None
    version: str | None
    args: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    errors: list[Problem] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.errors

    def to_json(self) -> dict[str, Any]:
        return {
            "service": self.service,
            "engine": self.engine,
            "version": self.version,
            "ok": self.ok,
            "arguments": list(self.args),
            "errors": [{"message": e.message, "hint": e.hint} for e in self.errors],
            "warnings": list(self.warnings),
        }


@dataclass
class FileReport:
    """Everything wrong with one compose file: Compose's objections, then each service's."""

    compose: list[ComposeProblem]
    services: list[ServiceReport]

    @property
    def ok(self) -> bool:
        return not self.compose and all(s.ok for s in self.services)

    @property
    def error_count(self) -> int:
        return len(self.compose) + sum(len(s.errors) for s in self.services)

    def to_json(self) -> dict[str, Any]:
        return {
            "ok": self.ok,
            "compose": [{"path": p.path, "message": p.message} for p in self.compose],
            "services": [s.to_json() for s in self.services],
        }


def _as_list(value: Any) -> list[str]:
    """A command or entrypoint as argv; ValueError for a string with unbalanced quotes."""
    if value is None:
        return []
    if isinstance(value, str):
        return shlex.split(value)  # `command: >` folded strings, as in the guide
    if isinstance(value, list):
        return [str(v) for v in value]
    raise ValueError(f"expected a list or a string, not {type(value).__name__}")


def _engine_and_version(
    image: str, meta: dict[str, Any]
) -> tuple[str | None, str | None, list[str]]:
    """(engine, version, notes). Metadata ling_compose wrote wins over the image tag."""
    if meta.get("engine") in registry.names():
        return str(meta["engine"]), str(meta.get("engine_version")), []
    repo, tag = split_image(image)
    engine = registry.for_repository(repo)
    if engine is None:
        return None, None, []
    version = engine.version_from_tag(tag)
    if version is None:
        pinned = engine.pinned_version
        return (
            engine.name,
            pinned,
            [
                f"image tag '{tag or 'latest'}' is not a version; checked against the pinned {engine.name} {pinned}"
            ],
        )
    return engine.name, version, []


def _service_report(name: str, service: dict[str, Any], meta: dict[str, Any]) -> ServiceReport:
    image = str(service.get("image", ""))
    engine, version, notes = _engine_and_version(image, meta)
    report = ServiceReport(service=name, engine=engine, version=version, warnings=notes)
    if engine is None or version is None:
        report.warnings.append(f"image '{image}' is not a known serving engine; not checked")
        return report
    try:
        entrypoint = _as_list(service.get("entrypoint"))
        command = _as_list(service.get("command"))
    except ValueError as err:  # check_compose reports the shape as Compose's error
        report.warnings.append(f"arguments not checked: the command cannot be read ({err})")
        return report
    args, shape = registry.get(engine).server_argv(entrypoint, command)
    report.warnings += shape
    try:
        result = check_args(engine, version, args)
    except FlagError as err:  # no catalogue for that version
        report.errors.append(Problem(err.message, err.hint))
        return report
    report.args = result.args
    report.warnings += result.warnings
    report.errors += [Problem(e.message, e.hint) for e in result.errors]
    return report


def validate_compose(data: Any) -> list[ServiceReport]:
    """One report per service that is a mapping; other shapes are check_compose's to report."""
    if not isinstance(data, dict):
        return []
    meta = data.get("x-ling-compose")
    meta = meta if isinstance(meta, dict) else {}
    services = data.get("services")
    if not isinstance(services, dict):
        return []
    # ling_compose's metadata describes its server service (x-ling-compose.service), not the
    # others beside it (monitoring's prometheus and grafana): those are judged by their image.
    server = meta.get("service")
    return [
        _service_report(str(name), service, meta if server in (None, name) else {})
        for name, service in services.items()
        if isinstance(service, dict)
    ]


def validate_file(data: Any) -> FileReport:
    """Compose's objections to `data` and every service's argument problems."""
    return FileReport(compose=check_compose(data), services=validate_compose(data))
