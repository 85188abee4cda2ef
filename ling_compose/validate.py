"""Lint the server commands of any compose file against the pinned engines' flag catalogues.

Works on files ling_compose rendered (engine and version from `x-ling-compose`) and on
hand-written ones, such as the hosting guide's (engine and version from the image tag).
Pure: takes the parsed compose data.
"""

from __future__ import annotations

import shlex
from dataclasses import dataclass, field
from typing import Any

from ling_compose.backends import PINNED_VERSIONS
from ling_compose.errors import FlagError
from ling_compose.flags.lint import lint_args

# Image repositories → engine. The llama.cpp ones run upstream, whose options we catalogue.
IMAGE_ENGINES = {
    "vllm/vllm-openai": "vllm",
    "lmsysorg/sglang": "sglang",
    "ghcr.io/ggml-org/llama.cpp": "llamacpp",
    "ghcr.io/ggerganov/llama.cpp": "llamacpp",
}
SGLANG_LAUNCH = ["python3", "-m", "sglang.launch_server"]


@dataclass
class ServiceReport:
    service: str
    engine: str | None
    version: str | None
    args: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    error: str | None = None
    hint: str | None = None

    @property
    def ok(self) -> bool:
        return self.error is None


def _as_list(value: Any) -> list[str]:
    if value is None:
        return []
    if isinstance(value, str):
        return shlex.split(value)  # `command: >` folded strings, as in the guide
    return [str(v) for v in value]


def _engine_and_version(
    image: str, meta: dict[str, Any]
) -> tuple[str | None, str | None, list[str]]:
    """(engine, version, notes). Metadata ling_compose wrote wins over the image tag."""
    if meta.get("engine") in PINNED_VERSIONS:
        return str(meta["engine"]), str(meta.get("engine_version")), []
    repo, _, tag = image.rpartition(":") if ":" in image.split("/")[-1] else (image, "", "")
    engine = IMAGE_ENGINES.get(repo)
    if engine is None:
        return None, None, []
    pinned = PINNED_VERSIONS[engine]
    version = tag.lstrip("v").split("-")[0] if engine != "llamacpp" else pinned
    if not version or not version[0].isdigit():
        return (
            engine,
            pinned,
            [
                f"image tag '{tag or 'latest'}' is not a version; checked against the pinned {engine} {pinned}"
            ],
        )
    return engine, version, []


def validate_compose(data: dict[str, Any]) -> list[ServiceReport]:
    meta = data.get("x-ling-compose") or {}
    reports: list[ServiceReport] = []
    for name, service in (data.get("services") or {}).items():
        image = str(service.get("image", ""))
        engine, version, notes = _engine_and_version(image, meta)
        report = ServiceReport(service=str(name), engine=engine, version=version, warnings=notes)
        reports.append(report)
        if engine is None or version is None:
            report.warnings.append(f"image '{image}' is not a known serving engine; not checked")
            continue
        args = _as_list(service.get("entrypoint")) + _as_list(service.get("command"))
        if engine == "sglang" and args[:3] == SGLANG_LAUNCH:
            args = args[3:]
        elif engine == "vllm" and args[:1] == ["serve"]:
            report.warnings.append(
                "`serve` is already the image's entrypoint: `vllm serve serve ...` fails"
            )
            args = args[1:]
        elif engine == "sglang" and not service.get("entrypoint"):
            report.warnings.append(
                "the SGLang image has no entrypoint: set `python3 -m sglang.launch_server`"
            )
        try:
            result = lint_args(engine, version, args)
        except FlagError as err:
            report.error, report.hint = err.message, err.hint
            continue
        report.args = result.args
        report.warnings += result.warnings
    return reports
