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

# Engines users ask for that cannot serve Ling-2.6-flash: (why, what to use instead).
# Ollama (the hosting guide's option A) loads models through upstream llama.cpp, pinned in its
# LLAMA_CPP_VERSION (b10488 at ollama/ollama fb30760, 2026-08-21; its own engine under x/models
# has no Bailing model either). Upstream llama.cpp has bailingmoe/bailingmoe2 (Ling 1.x/2.0) and
# bailingmoe3 (Ling 3.0, ggml-org/llama.cpp PR 26608), but no BailingMoeV2_5ForCausalLM: the
# request for it, ggml-org/llama.cpp issue 22641, was closed as stale.
CANNOT_SERVE: dict[str, tuple[str, str]] = {
    "ollama": (
        "Ollama cannot load Ling-2.6-flash: it runs models through upstream llama.cpp, which has "
        "no support for this model's architecture (BailingMoeV2_5ForCausalLM, model_type "
        "bailing_hybrid; ggml-org/llama.cpp issue 22641 was closed without it)",
        "use --backend llamacpp (ling_compose builds llama-server from the fork that runs this "
        "model, as in profiles 3090-int4 and 4090-int4), or --backend vllm / sglang on GPUs with "
        "room for the weights",
    ),
}


def server_spec(stack: Stack, plan: Plan) -> ServerSpec:
    return COMPILERS[stack.backend.engine](stack, plan)
