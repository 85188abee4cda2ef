"""ling_compose: typed Ling-2.6-flash serving stacks compiled into Docker Compose files.

    import ling_compose as lc
    stack = lc.load_stack("h100-fp8", lc.Overrides(context_length=65536))
    compiled = lc.compile_stack(stack)          # raises FitError if it cannot start
    print(lc.render_yaml(compiled.project))
    print(lc.render_kubernetes("h100-fp8", lc.Overrides(replicas=1)))   # kubectl apply -f -

The runtime functions (up, down, status, wait_ready, smoke) and detect are imported on first
use, so rendering never loads the docker SDK or requests.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from ling_compose.compose import Compiled, compile_stack, render_yaml
from ling_compose.errors import (
    EXIT_CODES,
    ConfigError,
    DockerError,
    FitError,
    FlagError,
    HardwareError,
    HealthError,
    LingComposeError,
    UsageError,
)
from ling_compose.load import Overrides, all_profiles, apply_overrides, load_stack, resolve
from ling_compose.models.checkpoint import Checkpoint
from ling_compose.models.compose import ComposeProject
from ling_compose.models.hardware import GPU, Hardware
from ling_compose.models.plan import Plan
from ling_compose.models.stack import HardwareSpec, ProfileSpec, ServingOptions, Stack
from ling_compose.planning.fit import check_fits, make_plan
from ling_compose.version import __version__


def render(profile: str, overrides: Overrides | None = None) -> str:
    """Compose YAML for a profile: the library form of `ling-compose render`."""
    return render_yaml(compile_stack(load_stack(profile, overrides)).project)


def render_kubernetes(profile: str, overrides: Overrides | None = None) -> str:
    """Kubernetes manifests for a profile: `ling-compose render PROFILE --target kubernetes`.
    The Kubernetes options (replicas, storage class, ...) are overrides too."""
    from ling_compose.kubernetes import kubernetes_stack, render_manifests
    from ling_compose.models.kubernetes import KubernetesOptions

    stack = load_stack(profile, overrides)
    return render_manifests(kubernetes_stack(stack, KubernetesOptions.of(overrides)))


if TYPE_CHECKING:
    from ling_compose.engines.llamacpp import LlamaCppOptions as LlamaCppOptions
    from ling_compose.engines.sglang import SGLangOptions as SGLangOptions
    from ling_compose.engines.vllm import VLLMOptions as VLLMOptions
    from ling_compose.kubernetes import Rendered as Rendered
    from ling_compose.kubernetes import kubernetes_stack as kubernetes_stack
    from ling_compose.kubernetes import render_manifests as render_manifests
    from ling_compose.models.kubernetes import KubernetesOptions as KubernetesOptions

# name → module that defines it; loaded on first attribute access (PEP 562): the runtime and
# detection need the docker SDK, requests and probes; each engine's options live in its module.
_LAZY: dict[str, str] = {
    **{n: "ling_compose.runtime" for n in ("up", "down", "status", "logs", "wait_ready", "smoke")},
    "detect_hardware": "ling_compose.hardware.detect",
    "VLLMOptions": "ling_compose.engines.vllm",
    "SGLangOptions": "ling_compose.engines.sglang",
    "LlamaCppOptions": "ling_compose.engines.llamacpp",
    # The Kubernetes target: `kubernetes_stack(stack, options)` is its compile_stack.
    **{n: "ling_compose.kubernetes" for n in ("Rendered", "kubernetes_stack", "render_manifests")},
    "KubernetesOptions": "ling_compose.models.kubernetes",
}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'ling_compose' has no attribute {name!r}")


__all__ = [
    "EXIT_CODES",
    "GPU",
    "Checkpoint",
    "Compiled",
    "ComposeProject",
    "ConfigError",
    "DockerError",
    "FitError",
    "FlagError",
    "Hardware",
    "HardwareError",
    "HardwareSpec",
    "HealthError",
    "LingComposeError",
    "Overrides",
    "Plan",
    "ProfileSpec",
    "ServingOptions",
    "Stack",
    "UsageError",
    "__version__",
    "all_profiles",
    "apply_overrides",
    "check_fits",
    "compile_stack",
    "load_stack",
    "make_plan",
    "render",
    "render_kubernetes",
    "render_yaml",
    "resolve",
    *_LAZY,
]
