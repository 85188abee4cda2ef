"""Overrides: changes to a profile from the CLI or the API, and the one table of their CLI flags.

The table is shared by the CLI, which builds its arguments from it (cli/stack_args.py), and
by the headers' reproducing command (reproduce.py), so a flag is spelled in one place. It lives here,
beside the fields it maps, because reproduce.py is imported by load.py and cannot import cli/.
"""

from argparse import BooleanOptionalAction
from typing import Any, get_args

from pydantic import Field

from ling_compose.models.base import StrictModel
from ling_compose.models.hardware import GpuCount, HostRamGiB, NodeCount
from ling_compose.models.kubernetes import AccessMode, ObjectName, Replicas, ServiceType
from ling_compose.models.options import EngineName, ImageReference, LocalPath, ParallelSize
from ling_compose.models.stack import (
    BindAddress,
    Concurrency,
    ContextLength,
    EnvVarName,
    Port,
    ServedModelName,
    ServerArgument,
    SpeculativeTokens,
)


class Overrides(StrictModel):
    """Changes to a profile, from the CLI or the API. None means 'keep the profile's value'.

    Each field has the type and bounds of the profile field it replaces, so a bad value fails
    here, naming the override (the CLI maps the field to its flag)."""

    engine: EngineName | None = None
    gpus: GpuCount | None = None
    gpu: str | None = None
    host_ram_gib: HostRamGiB | None = None
    checkpoint: str | None = None
    tensor_parallel: ParallelSize | None = None
    pipeline_parallel: ParallelSize | None = None
    image: ImageReference | None = None
    context_length: ContextLength | None = None
    concurrency: Concurrency | None = None
    port: Port | None = None
    bind: BindAddress | None = None
    served_model_name: ServedModelName | None = None
    api_key_env: EnvVarName | None = None
    tool_calling: bool | None = None
    mtp: bool | None = None
    speculative_tokens: SpeculativeTokens | None = None
    monitoring: bool | None = None
    model_file: LocalPath | None = None
    extra_args: list[ServerArgument] = Field(default=[])
    # Multi-node layouts (Kubernetes): `gpus` becomes nodes x gpus_per_node, tensor parallel
    # the GPUs of one node and pipeline parallel the nodes (load.apply_overrides).
    nodes: NodeCount | None = None
    gpus_per_node: GpuCount | None = None
    # The Kubernetes target's own options (models/kubernetes.py; `render --target kubernetes`,
    # and `plan --replicas` for the fleet's ceilings).
    replicas: Replicas | None = None
    storage_class: ObjectName | None = None
    access_mode: AccessMode | None = None
    service_type: ServiceType | None = None
    hf_token_secret: ObjectName | None = None
    api_key_secret: ObjectName | None = None


# Every override flag: the Overrides field it sets and how argparse reads it. Bounds live in the
# field's type above, so a new override gets range checks, the rule in --help, errors that name
# its flag (exit 2) and its place in the reproducing command by adding one row here and one field
# there. What needs the engine registry (--backend's choices, `--backend ollama`) is added by the
# CLI when it builds the parser.
OVERRIDE_FLAGS: dict[str, tuple[str, dict[str, Any]]] = {
    "--backend": ("engine", {}),
    "--gpus": ("gpus", {"type": int, "metavar": "N", "help": "number of GPUs to use"}),
    "--gpu-type": ("gpu", {"metavar": "KEY", "help": "GPU catalogue key, e.g. h200"}),
    "--host-ram-gib": ("host_ram_gib", {"type": float, "metavar": "GIB", "help": "host RAM, GiB"}),
    "--checkpoint": ("checkpoint", {"metavar": "KEY", "help": "checkpoint catalogue key"}),
    "--tensor-parallel": ("tensor_parallel", {"type": int, "metavar": "N"}),
    "--pipeline-parallel": ("pipeline_parallel", {"type": int, "metavar": "N"}),
    "--image": ("image", {"metavar": "IMAGE", "help": "image override (e.g. a CUDA-12 variant)"}),
    "--context-length": ("context_length", {"type": int, "metavar": "TOKENS"}),
    "--concurrency": (
        "concurrency",
        {"type": int, "metavar": "N", "help": "max sequences running at once"},
    ),
    "--port": ("port", {"type": int, "metavar": "PORT", "help": "host port"}),
    "--bind": (
        "bind",
        {"metavar": "ADDR", "help": "host IP address (non-loopback needs --api-key-env)"},
    ),
    "--served-model-name": ("served_model_name", {"metavar": "NAME"}),
    "--api-key-env": (
        "api_key_env",
        {"metavar": "VAR", "help": "environment variable holding the API key"},
    ),
    "--no-tool-calling": (
        "tool_calling",
        {"action": "store_const", "const": False, "default": None},
    ),
    # One row, two flags: argparse adds --no-mtp; reproduce.py spells False that way.
    "--mtp": (
        "mtp",
        {
            "action": BooleanOptionalAction,
            "default": None,
            "help": "MTP speculative decoding on or off (default: on where the checkpoint and "
            "the engine support it)",
        },
    ),
    "--speculative-tokens": (
        "speculative_tokens",
        {"type": int, "metavar": "N", "help": "draft tokens per decode step with MTP"},
    ),
    "--with-monitoring": (
        "monitoring",
        {
            "action": "store_const",
            "const": True,
            "default": None,
            "help": "add Prometheus (scraping the server) and Grafana (its dashboard) on loopback; "
            "needs GRAFANA_ADMIN_PASSWORD at up",
        },
    ),
    "--model-file": (
        "model_file",
        {
            "metavar": "PATH",
            "help": "llama.cpp only: serve this local GGUF file (mounted read-only) instead of "
            "downloading the checkpoint; the stack then serves that file, not Ling-2.6-flash, and "
            "may use an upstream llama.cpp --image",
        },
    ),
    "--extra-arg": (
        "extra_args",
        {
            "action": "append",
            "default": [],
            "metavar": "ARG",
            "help": "argument appended to the server command (repeatable; checked against its "
            "flags); write --extra-arg=--flag for values that start with a dash",
        },
    ),
    "--nodes": (
        "nodes",
        {
            "type": int,
            "metavar": "N",
            "help": "spread one replica over N nodes (Kubernetes, LeaderWorkerSet): pipeline "
            "parallel N across nodes, tensor parallel inside each",
        },
    ),
    "--gpus-per-node": (
        "gpus_per_node",
        {
            "type": int,
            "metavar": "N",
            "help": "GPUs of each node with --nodes (default: --gpus / N)",
        },
    ),
    "--replicas": (
        "replicas",
        {"type": int, "metavar": "N", "help": "Kubernetes: serving replicas behind one Service"},
    ),
    "--storage-class": (
        "storage_class",
        {"metavar": "NAME", "help": "Kubernetes: StorageClass of the weights cache"},
    ),
    "--access-mode": (
        "access_mode",
        {
            "choices": list(get_args(AccessMode)),
            "help": "Kubernetes: access mode of the weights cache (ReadWriteMany for --replicas > 1)",
        },
    ),
    "--service-type": (
        "service_type",
        {
            "choices": list(get_args(ServiceType)),
            "help": "Kubernetes: the Service's type (NodePort/LoadBalancer need --api-key-env)",
        },
    ),
    "--hf-token-secret": (
        "hf_token_secret",
        {"metavar": "NAME", "help": "Kubernetes: Secret holding HF_TOKEN (default hf-token)"},
    ),
    "--api-key-secret": (
        "api_key_secret",
        {
            "metavar": "NAME",
            "help": "Kubernetes: Secret holding the API key (default ling-api-key)",
        },
    ),
}
# Overrides only the Kubernetes target reads: other targets refuse them (the CLI says so).
KUBERNETES_FIELDS = (
    "nodes",
    "gpus_per_node",
    "replicas",
    "storage_class",
    "access_mode",
    "service_type",
    "hf_token_secret",
    "api_key_secret",
)
FLAG_OF_FIELD = {field: flag for flag, (field, _) in OVERRIDE_FLAGS.items()}
