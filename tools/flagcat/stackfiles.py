"""Read engine commands out of docker-compose files and Kubernetes manifests (the built-in
stacks, the multi-node layouts, or any others)."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import yaml

from ling_compose.describe import with_samples
from ling_compose.kubernetes import kubernetes_stack, render_manifests
from ling_compose.kubernetes.manifests import LWS_RENDEZVOUS, pod_templates
from ling_compose.load import load_stack
from ling_compose.models.kubernetes import KubernetesOptions
from ling_compose.models.overrides import Overrides
from tools.flagcat.envs import REPO, WORK

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


# Multi-node layouts (LeaderWorkerSet) of each engine that spans nodes, leader and workers.
MULTI_NODE = {
    "vllm-2x2": ("h100-fp8", Overrides(nodes=2, gpus_per_node=2)),
    "vllm-2x1-api-key": (
        "h200-fp8",
        Overrides(nodes=2, gpus_per_node=1, api_key_env="LING_API_KEY"),
    ),
    "sglang-2x4": ("4xh20-bf16", Overrides(nodes=2, gpus_per_node=4)),
    "sglang-2x1-api-key": (
        "h200-bf16",
        Overrides(nodes=2, gpus_per_node=1, api_key_env="LING_API_KEY"),
    ),
}
# A secret's $(VAR) as the pod sees it: some text (its value is never known here).
SECRET_SAMPLE = "sample-secret-value"


def sampled(args: list[str]) -> list[str]:
    """A pod's arguments as its container gets them: the kubelet expands $(VAR) from the
    environment, LWS's variables at sample values, secrets at a sample text."""
    expanded = with_samples(args, LWS_RENDEZVOUS.samples)
    return [re.sub(r"\$\([A-Za-z_][A-Za-z0-9_]*\)", SECRET_SAMPLE, str(a)) for a in expanded]


def _where(path: Path) -> str:
    try:
        return str(path.relative_to(REPO))
    except ValueError:
        return str(path)


def kubernetes_commands(path: Path, docs: list[object]) -> list[EngineCommand]:
    """Each pod template's container arguments in a manifest file, as the pod runs them."""
    found: list[EngineCommand] = []
    for doc in docs:
        if not isinstance(doc, dict):
            continue
        for template in pod_templates(doc):
            labels = template.get("metadata", {}).get("labels", {})
            backend = labels.get("app.kubernetes.io/name")
            version = labels.get("app.kubernetes.io/version")
            if not backend or not version:
                continue
            for c in template["spec"]["containers"]:
                where = f"{_where(path)}:{doc['kind']}/{c['name']}"
                args = sampled([str(a) for a in c.get("args", [])])
                found.append(EngineCommand(where, str(backend), str(version), args))
    return found


def commands(paths: list[Path]) -> list[EngineCommand]:
    """Every engine service's argument list (what follows the entrypoint) in these files:
    compose services, or the containers of Kubernetes pod templates."""
    found: list[EngineCommand] = []
    for path in paths:
        docs = list(yaml.safe_load_all(path.read_text(encoding="utf-8")))
        if len(docs) != 1 or not isinstance(docs[0], dict) or "services" not in docs[0]:
            found += kubernetes_commands(path, docs)
            continue
        doc = docs[0]
        for name, svc in (doc.get("services") or {}).items():
            backend = _backend_of(str(svc.get("image", "")), _labels(svc.get("labels")))
            command = svc.get("command")
            if backend is None or command is None:
                continue
            if isinstance(command, str):
                raise SystemExit(f"{path}:{name}: string-form command; ling_compose emits lists")
            found.append(
                EngineCommand(
                    f"{_where(path)}:{name}", backend[0], backend[1], [str(a) for a in command]
                )
            )
    return found


def multi_node_files() -> list[Path]:
    """MULTI_NODE rendered into .work/flagcat/kubernetes/ (no built-in profile spans nodes)."""
    folder = WORK / "kubernetes"
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for label, (profile, overrides) in MULTI_NODE.items():
        rendered = kubernetes_stack(load_stack(profile, overrides), KubernetesOptions.of(overrides))
        path = folder / f"{label}.yaml"
        path.write_text(render_manifests(rendered), encoding="utf-8")
        paths.append(path)
    return paths


def builtin_stack_files() -> list[Path]:
    """The built-in stacks' compose files and Kubernetes manifests, and the multi-node sets."""
    stacks = REPO / "stacks"
    compose = sorted(stacks.glob("*/docker-compose.yml"))
    return compose + sorted(stacks.glob("*/kubernetes/ling.yaml")) + multi_node_files()
