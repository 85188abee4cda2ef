"""A Kubernetes stack folder: the manifests, a kustomization.yaml (`kubectl apply -k DIR`) and a
README, each built as data or plain text (no template: the README is a few lines)."""

from __future__ import annotations

from pathlib import Path

from ling_compose.compose.render import dump
from ling_compose.kubernetes.manifests import (
    LWS_VERSION,
    RENDER_ARGS,
    Rendered,
    object_name,
    secret_commands,
)
from ling_compose.kubernetes.render import render_manifests
from ling_compose.reproduce import render_command
from ling_compose.write import write_folder

MANIFESTS = "ling.yaml"
KUSTOMIZATION = "kustomization.yaml"
# kustomize's own kind (kubectl.docs.kubernetes.io, kustomization reference).
KUSTOMIZE_API_VERSION = "kustomize.config.k8s.io/v1beta1"


def kustomization() -> str:
    return dump(
        {"apiVersion": KUSTOMIZE_API_VERSION, "kind": "Kustomization", "resources": [MANIFESTS]}
    )


def readme(rendered: Rendered, regenerate: str | None) -> str:
    d, options, plan = rendered.description, rendered.options, rendered.plan
    name = object_name(d)
    port = d.primary.port.host if d.primary.port is not None else 0
    kinds = ", ".join(dict.fromkeys(rendered.kinds))
    hf_token, *api_key = secret_commands(d, options)
    out = [
        f"# {rendered.stack.name} on Kubernetes",
        "",
        rendered.stack.description,
        "",
        f"`{MANIFESTS}` holds {kinds}; `{KUSTOMIZATION}` lists it for `kubectl apply -k`.",
        "Regenerate with " + (f"`{regenerate}`." if regenerate else "the code that built it."),
        "",
        "## Layout",
        "",
        f"- {options.replicas} replica(s) of {plan.gpus} x {rendered.stack.hardware.gpu.name} "
        f"(tensor parallel {plan.tensor_parallel} x pipeline {plan.pipeline_parallel})"
        + (
            f", each over {plan.nodes} nodes (LeaderWorkerSet {LWS_VERSION})"
            if plan.nodes > 1
            else ""
        ),
        f"- {d.engine} {d.engine_version}, serving `{d.served_model_name}` on the Service "
        f"`{name}`, port {port} ({options.service_type})",
        "",
        "## Secrets (create them first; the manifests only reference them)",
        "",
        "```sh",
        f"{hf_token}   # optional",
        *api_key,
        "```",
        "",
        "## Apply, watch, reach, delete",
        "",
        "```sh",
        "kubectl apply -k .",
        f"kubectl get pods -l app.kubernetes.io/instance={name} -w   # Ready once the model is served",
        f"kubectl port-forward service/{name} {port}:{port}",
        f"curl http://127.0.0.1:{port}/v1/models",
        "kubectl delete -k .   # deletes the weights cache's claim too (and, with most storage classes, the weights)",
        "```",
        "",
        "docs/kubernetes.md in the ling_compose repository explains the objects, probes and storage.",
        "",
    ]
    return "\n".join(out)


def stack_files(rendered: Rendered, regenerate: str | None) -> dict[str, str]:
    return {
        MANIFESTS: render_manifests(rendered),
        KUSTOMIZATION: kustomization(),
        "README.md": readme(rendered, regenerate),
    }


def write_stack_dir(rendered: Rendered, directory: Path) -> list[Path]:
    origin = rendered.stack.origin
    regenerate = (
        render_command(origin, *RENDER_ARGS, "--stack-dir", str(directory)) if origin else None
    )
    files = stack_files(rendered, regenerate)
    return write_folder(directory, files)
