"""What every backend compiler produces: the engine-specific half of a compose service."""

from __future__ import annotations

import json
from dataclasses import dataclass, field

from ling_compose.models.compose import Build, VolumeMount
from ling_compose.models.stack import MAX_CONTEXT_NATIVE

TOOL_CALL_FORMAT = "hermes_json"  # the model emits JSON inside <tool_call>...</tool_call>

# rope_scaling that stretches the native 131072 positions to 262144 (model card, SGLang example).
YARN_ROPE_SCALING = {
    "rope_type": "yarn",
    "factor": 2.0,
    "rope_theta": 6000000,
    "partial_rotary_factor": 0.5,
    "original_max_position_embeddings": MAX_CONTEXT_NATIVE,
}


def yarn_override_json() -> str:
    return json.dumps({"rope_scaling": YARN_ROPE_SCALING}, separators=(",", ":"))


@dataclass(frozen=True)
class ServerSpec:
    """The engine-specific parts of the service; compose.py adds the shared ones."""

    engine: str
    version: str
    image: str
    entrypoint: list[str] | None
    args: list[str]  # what the engine's parser sees (linted against its catalogue)
    container_port: int
    health_path: str
    environment: dict[str, str] = field(default_factory=dict)  # engine-specific; HF_TOKEN is shared
    build: Build | None = None
    notes: list[str] = field(default_factory=list)  # header lines specific to this engine
    mounts: list[VolumeMount] = field(default_factory=list)  # besides the shared cache volume


def api_key_ref(env_name: str) -> str:
    """A Compose interpolation that fails fast when the variable is unset: never the value."""
    return "${" + env_name + ":?set " + env_name + " to the API key}"
