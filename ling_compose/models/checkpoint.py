"""Checkpoint model: where the weights live and how big they are."""

from typing import Literal

from pydantic import Field

from ling_compose.models.base import StrictModel

Precision = Literal["bf16", "fp8", "int4", "gguf"]


class Checkpoint(StrictModel):
    """One published set of weights. Sizes are measured file sizes (catalog/checkpoints.yaml
    names the source), not parameter-count estimates."""

    key: str = Field(pattern=r"^[a-z0-9][a-z0-9.-]*$")
    hf_repo: str = Field(pattern=r"^[A-Za-z0-9_.-]+/[A-Za-z0-9_.-]+$")
    precision: Precision
    format: Literal["safetensors", "compressed-tensors", "gguf"]
    size_on_disk_gib: float = Field(gt=0, description="Everything downloaded, MTP file included")
    weights_gib: float = Field(gt=0, description="What a server loads (MTP head excluded)")
    routed_expert_bytes_per_param: float = Field(
        gt=0, description="Bytes per routed-expert parameter, scales included"
    )
    gguf_file: str | None = Field(default=None, description="File inside the repo (GGUF only)")
    has_mtp: bool = Field(
        default=False, description="The repository ships the MTP (multi-token prediction) layer"
    )
    mtp_gib: float = Field(
        default=0.0, ge=0, description="The MTP layer as a server loads it for speculative decoding"
    )
    mtp_note: str | None = Field(
        default=None,
        description="With has_mtp: why MTP stays off unless asked for (an unverified fact); "
        "without: what the repository lacks",
    )
    license: str
    source: str = Field(description="Where the sizes were read")
