"""Kubernetes objects -> one multi-document YAML text that `kubectl apply -f` takes: header
comments, then each object dumped by PyYAML (serialised, never templated)."""

from __future__ import annotations

from ling_compose.compose.render import dump
from ling_compose.kubernetes.manifests import Rendered
from ling_compose.safe_text import comment_block


def render_manifests(rendered: Rendered) -> str:
    """Deterministic text: the header as comments, then the objects, `---` between them."""
    return comment_block(rendered.header) + "---\n".join(dump(o) for o in rendered.objects)
