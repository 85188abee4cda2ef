"""GPU and hardware models: what the physics needs to know about a machine."""

from __future__ import annotations

from typing import Annotated

from pydantic import Field

from ling_compose.models.base import StrictModel

GIB = 1024**3
GB = 1000**3

# Value rules shared by profile files and overrides (loader.Overrides): one definition each.
GpuCount = Annotated[int, Field(ge=1, le=8)]  # one host; 8 is the most the layouts plan for
# Far above any single host, low enough that the physics stays in ordinary float range.
HostRamGB = Annotated[float, Field(gt=0, le=65_536)]
HostRamBandwidthGBs = Annotated[float, Field(gt=0, le=10_000)]


class GPU(StrictModel):
    """One GPU model. Figures from vendor datasheets (catalog/gpus.yaml names the source)."""

    key: str = Field(
        pattern=r"^[a-z0-9][a-z0-9-]*$", description="Catalogue key, e.g. h100-sxm-80gb"
    )
    name: str = Field(description="Marketing name, e.g. 'NVIDIA H100 80GB HBM3'")
    memory_gb: float = Field(gt=0, description="Memory in decimal GB as sold (80 GB = 80e9 bytes)")
    compute_capability: str = Field(pattern=r"^\d+\.\d+$", description="CUDA compute capability")
    memory_bandwidth_gbs: float = Field(gt=0, description="Peak memory bandwidth, GB/s")
    max_shared_memory_per_block_kb: int = Field(
        gt=0, description="Opt-in max shared memory per block"
    )
    match: list[str] = Field(
        default_factory=list,
        description="Lower-case substrings of NVML/nvidia-smi names that identify this GPU",
    )

    @property
    def memory_gib(self) -> float:
        return self.memory_gb * GB / GIB

    @property
    def capability(self) -> tuple[int, int]:
        major, minor = self.compute_capability.split(".")
        return int(major), int(minor)

    @property
    def is_consumer_class(self) -> bool:
        """sm_86/89/120 parts: 99-100 KB shared memory per block, too little for vLLM's
        Lightning-attention kernel (needs ~128.5 KB)."""
        return self.max_shared_memory_per_block_kb < 128


class Hardware(StrictModel):
    """GPUs of one type, how many the stack uses, and host RAM."""

    gpu: GPU
    count: GpuCount
    host_ram_gb: HostRamGB = Field(
        description="Host RAM in GB (matters when experts are offloaded)"
    )
    host_ram_bandwidth_gbs: HostRamBandwidthGBs = Field(
        default=80, description="Host memory bandwidth, GB/s (dual-channel DDR5 ≈ 80)"
    )
