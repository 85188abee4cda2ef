"""SGLang: image lmsysorg/sglang (no entrypoint: we set `python3 -m sglang.launch_server`),
port 30000, default host 127.0.0.1 so `--host 0.0.0.0` is mandatory in a container.

Source: shared/facts/backends.md, read off SGLang 0.5.23; flags checked against the catalogue.
"""

from __future__ import annotations

from ling_compose.backends.base import TOOL_CALL_FORMAT, ServerSpec, api_key_ref, yarn_override_json
from ling_compose.flags.parsers import tool_call_parser
from ling_compose.models.backend import SGLangOptions
from ling_compose.models.stack import Stack
from ling_compose.plan import Plan

PINNED_VERSION = "0.5.23"
PORT = 30000
ENTRYPOINT = ["python3", "-m", "sglang.launch_server"]


def image_for(version: str) -> str:
    return f"lmsysorg/sglang:v{version}"


def server_spec(stack: Stack, plan: Plan) -> ServerSpec:
    backend = stack.backend
    assert isinstance(backend, SGLangOptions)
    version = backend.version or PINNED_VERSION
    serving = stack.serving
    args = [
        "--model-path",
        stack.checkpoint.hf_repo,
        "--served-model-name",
        serving.served_model_name,
        "--host",
        "0.0.0.0",
        "--port",
        str(PORT),
        "--trust-remote-code",
        "--tp-size",
        str(plan.tensor_parallel),  # full names: --tp works only as an abbreviation
    ]
    if plan.pipeline_parallel > 1:
        args += ["--pp-size", str(plan.pipeline_parallel)]
    args += [
        "--context-length",
        str(serving.context_length),
        "--max-running-requests",
        str(serving.concurrency),
        "--enable-metrics",  # else there is no /metrics
    ]
    if backend.mem_fraction_static is not None:
        args += ["--mem-fraction-static", f"{backend.mem_fraction_static:g}"]
    if backend.kv_cache_dtype != "auto":
        args += ["--kv-cache-dtype", backend.kv_cache_dtype]
    if plan.yarn:
        args += ["--json-model-override-args", yarn_override_json()]
    if serving.tool_calling:
        parser = tool_call_parser(TOOL_CALL_FORMAT, "sglang", version)
        assert parser is not None
        args += ["--tool-call-parser", parser]  # SGLang has no separate auto-tool-choice flag
    if serving.api_key_env:
        args += ["--api-key", api_key_ref(serving.api_key_env)]  # SGLang reads no env var for it
    return ServerSpec(
        engine="sglang",
        version=version,
        image=backend.image or image_for(version),
        entrypoint=list(ENTRYPOINT),
        args=args + list(serving.extra_args),
        container_port=PORT,
        health_path="/health",
    )
