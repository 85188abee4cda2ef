"""One compiler per serving engine; each knows its image, entrypoint, flags and health path."""

from __future__ import annotations

from collections.abc import Callable

from ling_compose.backends import llamacpp, sglang, vllm
from ling_compose.backends.base import ServerSpec
from ling_compose.models.stack import Stack
from ling_compose.plan import Plan

COMPILERS: dict[str, Callable[[Stack, Plan], ServerSpec]] = {
    "vllm": vllm.server_spec,
    "sglang": sglang.server_spec,
    "llamacpp": llamacpp.server_spec,
}
PINNED_VERSIONS = {
    "vllm": vllm.PINNED_VERSION,
    "sglang": sglang.PINNED_VERSION,
    "llamacpp": llamacpp.PINNED_VERSION,
}
DEFAULT_PORTS = {"vllm": vllm.PORT, "sglang": sglang.PORT, "llamacpp": llamacpp.PORT}


def server_spec(stack: Stack, plan: Plan) -> ServerSpec:
    return COMPILERS[stack.backend.engine](stack, plan)
