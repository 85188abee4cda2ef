"""GPU and hardware models: what the physics needs to know about a machine."""

from typing import Annotated

from pydantic import Field

from ling_compose.models.base import StrictModel

GIB = 1024**3
GB = 1000**3
MIB = 1024**2

# Measured on a real H200 (tests/fixtures/gpus/h200-1x-real/capture.json, tools/gpu_capture.py):
# NVML total 150,754,820,096 B, CUDA total (cudaMemGetInfo) 150,109,880,320 B. The driver keeps
# the difference (nvidia-smi -q: "Reserved 616 MiB") before any process can allocate. For GPUs
# whose CUDA total was not measured, the planner assumes the same reserve: an estimate.
DRIVER_RESERVED_BYTES_MEASURED = 150_754_820_096 - 150_109_880_320
# The same capture's streaming read (torch.sum over a 32 GiB bf16 tensor, median of 10) reached
# 4,202 GB/s of the datasheet's 4,800: the fraction assumed for GPUs whose bandwidth nobody
# measured here.
ACHIEVABLE_READ_FRACTION_MEASURED = 4202 / 4800

# Value rules shared by profile files and overrides (models/overrides.py): one definition each.
GpuCount = Annotated[int, Field(ge=1, le=8)]  # one host; 8 is the most the layouts plan for
# Nodes one replica spans (Kubernetes with LeaderWorkerSet: pipeline stages on separate nodes).
NodeCount = Annotated[int, Field(ge=1, le=8)]
# A GFD product label value: a Kubernetes label value (at most 63 characters, alphanumeric at
# both ends, '-', '_' and '.' inside).
GfdProduct = Annotated[str, Field(pattern=r"^[A-Za-z0-9]([A-Za-z0-9_.-]{0,61}[A-Za-z0-9])?$")]
# Far above any single host, low enough that the physics stays in ordinary float range.
HostRamGiB = Annotated[float, Field(gt=0, le=65_536)]
HostRamBandwidthGBs = Annotated[float, Field(gt=0, le=10_000)]


class GPU(StrictModel):
    """One GPU model: memory as its driver reports it, bandwidth from the datasheet and, where
    measured, from a real streaming kernel. catalog/gpus.yaml names the source of each figure."""

    key: str = Field(
        pattern=r"^[a-z0-9][a-z0-9-]*$", description="Catalogue key, e.g. h100-sxm-80gb"
    )
    name: str = Field(description="Marketing name, e.g. 'NVIDIA H100 80GB HBM3'")
    memory_mib: int = Field(
        gt=0, description="Total memory as nvidia-smi reports it (memory.total, MiB)"
    )
    memory_source: str = Field(description="Where memory_mib was read")
    memory_verified: bool = Field(
        description="False: memory_mib is not from a driver's output anyone checked"
    )
    cuda_total_bytes: int | None = Field(
        default=None,
        gt=0,
        description="Total as CUDA reports it (cudaMemGetInfo), when measured: what vLLM's "
        "--gpu-memory-utilization is a fraction of",
    )
    compute_capability: str = Field(pattern=r"^\d+\.\d+$", description="CUDA compute capability")
    memory_bandwidth_gbs: float = Field(gt=0, description="Datasheet memory bandwidth, GB/s")
    measured_read_gbs: float | None = Field(
        default=None, gt=0, description="Streaming read bandwidth measured on a real card, GB/s"
    )
    measured_source: str | None = Field(
        default=None, description="Where measured_read_gbs was read"
    )
    max_shared_memory_per_block_kb: int = Field(
        gt=0, description="Opt-in max shared memory per block"
    )
    match: tuple[str, ...] = Field(
        default=(),
        description="Lower-case substrings of NVML/nvidia-smi names that identify this GPU",
    )
    gfd_products: tuple[GfdProduct, ...] = Field(
        default=(),
        description="Values of the node label nvidia.com/gpu.product (NVIDIA GPU feature "
        "discovery) for this GPU: what Kubernetes manifests schedule on",
    )

    @property
    def memory_gib(self) -> float:
        """Total memory as the driver reports it (NVML / nvidia-smi), GiB."""
        return self.memory_mib * MIB / GIB

    @property
    def cuda_total_measured(self) -> bool:
        return self.cuda_total_bytes is not None

    @property
    def cuda_total_gib(self) -> float:
        """What a CUDA process sees as the total: measured, else the driver's total less the
        reserve measured on the H200 (an estimate)."""
        if self.cuda_total_bytes is not None:
            return self.cuda_total_bytes / GIB
        return (self.memory_mib * MIB - DRIVER_RESERVED_BYTES_MEASURED) / GIB

    @property
    def achievable_read_gbs(self) -> float:
        """Streaming read bandwidth: measured, else the datasheet x the H200's measured fraction."""
        if self.measured_read_gbs is not None:
            return self.measured_read_gbs
        return self.memory_bandwidth_gbs * ACHIEVABLE_READ_FRACTION_MEASURED

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
    """GPUs of one type, how many the stack uses (in all, over `nodes` nodes), and host RAM
    (of each node)."""

    gpu: GPU
    count: GpuCount
    nodes: NodeCount = Field(
        default=1, description="Nodes the GPUs are spread over (Kubernetes multi-node)"
    )
    host_ram_gib: HostRamGiB = Field(
        description="Host RAM in GiB (matters when experts are offloaded)"
    )
    host_ram_bandwidth_gbs: HostRamBandwidthGBs = Field(
        default=80, description="Host memory bandwidth, GB/s (dual-channel DDR5 ≈ 80)"
    )

    @property
    def gpus_per_node(self) -> int:
        """GPUs on each node (the planner refuses a count that `nodes` does not divide)."""
        return max(1, self.count // self.nodes)
