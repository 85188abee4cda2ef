"""detect: GPUs (NVML, else nvidia-smi) and host RAM, mapped onto the GPU catalogue."""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from pydantic import Field

from ling_compose.catalog import gpus as catalogue_gpus
from ling_compose.errors import HardwareError
from ling_compose.hardware.cuda import (
    max_cuda_for_driver,
    shared_memory_per_block_kb,
)
from ling_compose.hardware.matching import match_gpu
from ling_compose.hardware.nvidia_smi import NvidiaSmiOutput, parse_nvidia_smi, read_nvidia_smi
from ling_compose.hardware.nvml import parse_nvml, read_nvml
from ling_compose.hardware.raw import ProbeUnavailable, RawGPU, RawProbe
from ling_compose.models.base import LenientModel
from ling_compose.models.hardware import GIB, GPU, MIB

BandwidthSource = Literal["catalogue", "estimated", "unknown"]
CudaSource = Literal["nvml", "nvidia-smi", "driver table"]


class DetectedGPU(LenientModel):
    """One GPU as measured, with its catalogue entry when one matches."""

    index: int
    name: str
    uuid: str | None = None
    memory_total_bytes: int
    compute_capability: str | None = None
    catalogue_key: str | None = Field(default=None, description="None: not in the catalogue")
    gpu: GPU | None = Field(
        default=None,
        description="Catalogue entry, or a model built from measurements; None when a figure "
        "the planner needs (bandwidth, capability) could not be measured",
    )
    memory_bandwidth_gbs: float | None = None
    bandwidth_source: BandwidthSource = "unknown"
    bandwidth_estimate_gbs: float | None = Field(
        default=None,
        description="NVML bus width x max memory clock, also for catalogue GPUs (a cross-check)",
    )
    max_shared_memory_per_block_kb: int | None = None
    notes: list[str] = Field(default=[])

    @property
    def memory_gib(self) -> float:
        return self.memory_total_bytes / GIB

    @property
    def group_key(self) -> str:
        return self.catalogue_key or (self.gpu.key if self.gpu else _unknown_key(self.name))


class GPUGroup(LenientModel):
    """GPUs of one type on this host (a mixed host has several groups)."""

    key: str
    name: str
    count: int
    indices: list[int]
    known: bool = Field(description="True when the key is a catalogue entry")
    gpu: GPU | None = None


class DetectedHardware(LenientModel):
    """What `detect` found on this host."""

    source: Literal["nvml", "nvidia-smi"]
    driver_version: str
    cuda_driver_version: str | None = Field(
        default=None, description="Newest CUDA the driver supports ('13.0')"
    )
    cuda_driver_version_source: CudaSource | None = None
    gpus: list[DetectedGPU]
    host_ram_bytes: int | None = None
    notes: list[str] = Field(default=[])

    @property
    def count(self) -> int:
        return len(self.gpus)

    @property
    def host_ram_gib(self) -> float | None:
        return None if self.host_ram_bytes is None else self.host_ram_bytes / GIB

    @property
    def groups(self) -> list[GPUGroup]:
        by_key: dict[str, list[DetectedGPU]] = {}
        for gpu in sorted(self.gpus, key=lambda g: g.index):
            by_key.setdefault(gpu.group_key, []).append(gpu)
        return [
            GPUGroup(
                key=key,
                name=members[0].name,
                count=len(members),
                indices=[m.index for m in members],
                known=members[0].catalogue_key is not None,
                gpu=members[0].gpu,
            )
            for key, members in by_key.items()
        ]

    @property
    def is_mixed(self) -> bool:
        return len(self.groups) > 1

    def summary(self) -> dict[str, Any]:
        """The JSON document `detect --json` prints: the model plus the derived figures."""
        data = self.model_dump(mode="json")
        data["count"] = self.count
        data["host_ram_gib"] = None if self.host_ram_gib is None else round(self.host_ram_gib, 1)
        data["mixed"] = self.is_mixed
        data["groups"] = [g.model_dump(mode="json") for g in self.groups]
        return data


def read_meminfo() -> str | None:
    try:
        return Path("/proc/meminfo").read_text(encoding="utf-8")
    except OSError:
        return None  # not Linux: host RAM stays unknown rather than failing detect


def parse_meminfo(text: str | None) -> int | None:
    """MemTotal in bytes (/proc/meminfo's 'kB' are KiB)."""
    if not text:
        return None
    found = re.search(r"^MemTotal:\s+(\d+)\s*kB", text, re.MULTILINE)
    return int(found.group(1)) * 1024 if found else None


@dataclass(frozen=True)
class DetectProbes:
    """The side effects detect needs; tests pass recorded outputs instead."""

    nvml: Callable[[], dict[str, Any]] = read_nvml
    nvidia_smi: Callable[[], NvidiaSmiOutput] = read_nvidia_smi
    meminfo: Callable[[], str | None] = read_meminfo
    extra_notes: list[str] = field(default_factory=list)


def _unknown_key(name: str) -> str:
    slug = re.sub(r"[^a-z0-9]+", "-", name.lower().removeprefix("nvidia ")).strip("-")
    return f"unknown-{slug or 'gpu'}"


def estimate_bandwidth_gbs(raw: RawGPU) -> float | None:
    """Peak bandwidth = bus width x max memory clock x 2 (double data rate) / 8.

    NVML reports GDDR6X and HBM clocks so that this gives the datasheet figure (RTX 4090:
    384 bit x 10501 MHz -> 1008 GB/s; H100 SXM: 5120 bit x 2619 MHz -> 3352 GB/s).
    """
    if raw.memory_bus_width_bits is None or raw.max_memory_clock_mhz is None:
        return None
    return raw.memory_bus_width_bits * raw.max_memory_clock_mhz * 1e6 * 2 / 8 / 1e9


def _detected_gpu(raw: RawGPU, catalogue: Mapping[str, GPU]) -> DetectedGPU:
    found = match_gpu(raw, catalogue)
    notes: list[str] = []
    estimate = estimate_bandwidth_gbs(raw)
    if found.gpu is not None:
        gpu = found.gpu
        if raw.compute_capability and raw.compute_capability != gpu.compute_capability:
            notes.append(
                f"measured compute capability {raw.compute_capability} differs from the "
                f"catalogue's {gpu.compute_capability}"
            )
        return DetectedGPU(
            index=raw.index,
            name=raw.name,
            uuid=raw.uuid,
            memory_total_bytes=raw.memory_total_bytes,
            compute_capability=raw.compute_capability or gpu.compute_capability,
            catalogue_key=gpu.key,
            gpu=gpu,
            memory_bandwidth_gbs=gpu.memory_bandwidth_gbs,
            bandwidth_source="catalogue",
            bandwidth_estimate_gbs=round(estimate, 1) if estimate is not None else None,
            max_shared_memory_per_block_kb=gpu.max_shared_memory_per_block_kb,
            notes=notes,
        )
    # Not in the catalogue: keep what was measured and say what is derived or missing.
    notes.append(found.note or "not in the GPU catalogue")
    smem = shared_memory_per_block_kb(raw.compute_capability) if raw.compute_capability else None
    if smem is not None:
        notes.append(
            f"shared memory per block {smem} KB derived from compute capability "
            f"{raw.compute_capability} (CUDA Programming Guide table)"
        )
    if estimate is not None:
        notes.append(
            f"bandwidth {estimate:.0f} GB/s estimated from NVML bus width x max memory clock"
        )
    else:
        notes.append("memory bandwidth unknown: throughput ceilings cannot be computed")
    gpu_model: GPU | None = None
    if estimate is not None and raw.compute_capability and smem is not None:
        gpu_model = GPU(
            key=_unknown_key(raw.name),
            name=raw.name,
            # What the driver reported: the same convention as the catalogue.
            memory_mib=raw.memory_total_bytes // MIB,
            memory_source=f"measured by detect ({raw.name}, {raw.memory_total_bytes} bytes)",
            memory_verified=True,
            compute_capability=raw.compute_capability,
            memory_bandwidth_gbs=round(estimate, 1),
            max_shared_memory_per_block_kb=smem,
        )
    return DetectedGPU(
        index=raw.index,
        name=raw.name,
        uuid=raw.uuid,
        memory_total_bytes=raw.memory_total_bytes,
        compute_capability=raw.compute_capability,
        gpu=gpu_model,
        memory_bandwidth_gbs=round(estimate, 1) if estimate is not None else None,
        bandwidth_source="estimated" if estimate is not None else "unknown",
        bandwidth_estimate_gbs=round(estimate, 1) if estimate is not None else None,
        max_shared_memory_per_block_kb=smem,
        notes=notes,
    )


def build_detected(
    raw: RawProbe,
    meminfo: str | None,
    catalogue: Mapping[str, GPU] | None = None,
    notes: list[str] | None = None,
) -> DetectedHardware:
    """Pure: a probe reading + /proc/meminfo text -> DetectedHardware; 0 GPUs -> HardwareError."""
    if not raw.gpus:
        raise HardwareError(
            f"no NVIDIA GPU detected: {raw.source} found driver {raw.driver_version} but 0 GPUs",
            hint="check `nvidia-smi -L`; in a container, start it with GPUs (`--gpus all`)",
        )
    catalogue = catalogue_gpus() if catalogue is None else catalogue
    cuda = raw.cuda_driver_version
    cuda_source: CudaSource | None = None
    if cuda is not None:
        cuda_source = "nvml" if raw.source == "nvml" else "nvidia-smi"
    else:
        try:
            cuda = max_cuda_for_driver(raw.driver_version)
        except ValueError:
            cuda = None
        cuda_source = "driver table" if cuda is not None else None
    return DetectedHardware(
        source=raw.source,
        driver_version=raw.driver_version,
        cuda_driver_version=cuda,
        cuda_driver_version_source=cuda_source,
        gpus=[_detected_gpu(g, catalogue) for g in sorted(raw.gpus, key=lambda g: g.index)],
        host_ram_bytes=parse_meminfo(meminfo),
        notes=list(notes or []),
    )


def detect_hardware(
    probes: DetectProbes | None = None, catalogue: Mapping[str, GPU] | None = None
) -> DetectedHardware:
    """NVML first, nvidia-smi as fallback; HardwareError (exit 5) when neither finds a GPU."""
    probes = probes or DetectProbes()
    reasons: list[str] = []
    raw: RawProbe | None = None
    try:
        raw = parse_nvml(probes.nvml())
    except ProbeUnavailable as err:
        reasons.append(f"NVML: {err}")
    if raw is None or not raw.gpus:
        try:
            fallback = parse_nvidia_smi(probes.nvidia_smi())
            raw = fallback if fallback.gpus or raw is None else raw
        except ProbeUnavailable as err:
            reasons.append(f"nvidia-smi: {err}")
    if raw is None:
        raise HardwareError(
            "no NVIDIA GPU detected (" + "; ".join(reasons) + ")",
            hint="install the NVIDIA driver so that `nvidia-smi` works (and `pip install "
            "'ling-compose[nvml]'` for NVML); without a GPU, pick a profile explicitly "
            "(`plan PROFILE`, `render PROFILE`)",
        )
    notes = list(probes.extra_notes)
    if raw.source == "nvidia-smi" and reasons:
        notes.append(f"read with nvidia-smi because {reasons[0]}")
    return build_detected(raw, probes.meminfo(), catalogue, notes)
