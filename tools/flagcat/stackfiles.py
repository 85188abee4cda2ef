"""Read engine commands out of docker-compose files (the built-in stacks or any others)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import yaml

from tools.flagcat.envs import REPO

LABEL = "io.ling-compose"


@dataclass(frozen=True)
class EngineCommand:
    where: str  # file:service
    backend: str
    version: str
    args: list[str]


def _backend_of(image: str, labels: dict[str, str]) -> tuple[str, str] | None:
    engine = labels.get(f"{LABEL}.engine")
    version = labels.get(f"{LABEL}.engine-version")
    if engine and version:
        return engine, version
    repo, _, tag = image.partition(":")
    if repo.endswith("vllm-openai"):
        return "vllm", tag.lstrip("v").split("-")[0]
    if repo.endswith("sglang"):
        return "sglang", tag.lstrip("v").split("-")[0]
    if "llama.cpp" in repo:
        parts = [p for p in tag.split("-") if p.startswith("b") and p[1:].isdigit()]
        return ("llamacpp", parts[0]) if parts else None
    return None


def _labels(raw: object) -> dict[str, str]:
    if isinstance(raw, dict):
        return {str(k): str(v) for k, v in raw.items()}
    if isinstance(raw, list):
        return dict(str(x).split("=", 1) for x in raw if "=" in str(x))
    return {}


def commands(paths: list[Path]) -> list[EngineCommand]:
    """Every engine service's argument list (what follows the entrypoint) in these files."""
    found: list[EngineCommand] = []
    for path in paths:
        doc = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
        for name, svc in (doc.get("services") or {}).items():
            backend = _backend_of(str(svc.get("image", "")), _labels(svc.get("labels")))
            command = svc.get("command")
            if backend is None or command is None:
                continue
            if isinstance(command, str):
                raise SystemExit(f"{path}:{name}: string-form command; ling_compose emits lists")
            try:
                where = str(path.relative_to(REPO))
            except ValueError:
                where = str(path)
            found.append(
                EngineCommand(f"{where}:{name}", backend[0], backend[1], [str(a) for a in command])
            )
    return found


def builtin_stack_files() -> list[Path]:
    return sorted((REPO / "stacks").glob("*/docker-compose.yml"))
