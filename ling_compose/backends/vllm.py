"""vLLM: image vllm/vllm-openai (ENTRYPOINT `vllm serve`, model positional), port 8000.

Source: shared/facts/backends.md, read off vLLM 0.33.0; flags checked against the generated
catalogue in ling_compose/flags/catalogs/.
"""

from __future__ import annotations

from ling_compose.backends.base import TOOL_CALL_FORMAT, ServerSpec, api_key_ref, yarn_override_json
from ling_compose.flags.parsers import tool_call_parser
from ling_compose.models.backend import VLLMOptions
from ling_compose.models.stack import Stack
from ling_compose.plan import Plan

PINNED_VERSION = "0.33.0"
PORT = 8000


def image_for(version: str) -> str:
    return f"vllm/vllm-openai:v{version}"  # tags carry a leading v


def server_spec(stack: Stack, plan: Plan) -> ServerSpec:
    backend = stack.backend
    assert isinstance(backend, VLLMOptions)
    version = backend.version or PINNED_VERSION
    serving = stack.serving
    args = [
        stack.checkpoint.hf_repo,
        "--served-model-name",
        serving.served_model_name,
        "--host",
        "0.0.0.0",
        "--port",
        str(PORT),
        "--trust-remote-code",  # bailing_hybrid ships custom config code
        "--tensor-parallel-size",
        str(plan.tensor_parallel),
    ]
    if plan.pipeline_parallel > 1:
        args += ["--pipeline-parallel-size", str(plan.pipeline_parallel)]
    args += [
        "--max-model-len",
        str(serving.context_length),
        "--gpu-memory-utilization",
        f"{backend.gpu_memory_utilization:g}",
        "--max-num-seqs",
        str(serving.concurrency),
    ]
    if backend.kv_cache_dtype != "auto":
        args += ["--kv-cache-dtype", backend.kv_cache_dtype]
    if backend.enforce_eager:
        args.append("--enforce-eager")
    if plan.yarn:
        args += ["--hf-overrides", yarn_override_json()]
    if serving.tool_calling:
        # Without both flags tool calls come back as plain text in `content`.
        parser = tool_call_parser(TOOL_CALL_FORMAT, "vllm", version)
        assert parser is not None
        args += ["--enable-auto-tool-choice", "--tool-call-parser", parser]
    env: dict[str, str] = {}
    if serving.api_key_env:
        env["VLLM_API_KEY"] = api_key_ref(serving.api_key_env)  # /health stays open
    notes = []
    if stack.hardware.gpu.capability < (8, 9) and stack.checkpoint.precision == "fp8":
        notes.append(
            "FP8 on compute capability < 8.9 runs as weight-only Marlin FP8 (slower than native)."
        )
    return ServerSpec(
        engine="vllm",
        version=version,
        image=backend.image or image_for(version),
        entrypoint=None,
        args=args + list(serving.extra_args),
        container_port=PORT,
        health_path="/health",
        environment=env,
        notes=notes,
    )
