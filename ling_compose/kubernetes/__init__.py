"""The Kubernetes target: a stack's server description as Deployment/LeaderWorkerSet, Service
and PersistentVolumeClaim objects (manifests.py), rendered as multi-document YAML (render.py),
or as a folder with a kustomization.yaml and a README (stack_dir.py)."""

from ling_compose.kubernetes.manifests import Rendered, kubernetes_stack, manifests
from ling_compose.kubernetes.render import render_manifests

__all__ = ["Rendered", "kubernetes_stack", "manifests", "render_manifests"]
