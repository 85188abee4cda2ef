"""Raw probe readings (NVML / nvidia-smi, before catalogue matching) as lenient models."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from ling_compose.models.base import LenientModel

MIB = 1024**2


class ProbeUnavailable(Exception):
    """A probe could not run here (no library, no binary, no driver). Carries the reason."""


class RawGPU(LenientModel):
    """One GPU as a probe read it."""

    index: int = Field(ge=0)
    name: str
    uuid: str | None = None
    memory_total_bytes: int = Field(gt=0)
    compute_capability: str | None = Field(
        default=None, pattern=r"^\d+\.\d+$", description="'9.0'; None when the probe cannot read it"
    )
    memory_bus_width_bits: int | None = Field(default=None, gt=0)
    max_memory_clock_mhz: int | None = Field(default=None, gt=0)


class RawProbe(LenientModel):
    """Everything one probe read: host-wide driver facts plus its GPUs."""

    source: Literal["nvml", "nvidia-smi"]
    driver_version: str
    cuda_driver_version: str | None = Field(
        default=None, description="Newest CUDA the driver supports, '13.0'; None if not read"
    )
    nvml_version: str | None = None
    gpus: list[RawGPU] = Field(default=[])
