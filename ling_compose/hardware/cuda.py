"""CUDA facts by version: minimum driver per CUDA release, shared memory per compute capability."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from packaging.version import Version

# Minimum Linux x86_64 driver for each CUDA toolkit release (GA of each minor version).
# Source: NVIDIA CUDA Toolkit Release Notes, table "CUDA Toolkit and Corresponding Driver
# Versions" (https://docs.nvidia.com/cuda/cuda-toolkit-release-notes/index.html). The rows
# for 13.1 (590.44.01), 13.0 (580.65.06), 12.9 (575.51.03) match the drivers bundled in the
# GA runfile installers (cuda_13.1.0_590.44.01_linux.run, cuda_13.0.0_580.65.06_linux.run,
# cuda_12.9.0_575.51.03_linux.run); re-check the table before adding a row.
# Why GA rows: an image built on CUDA X.Y declares NVIDIA_REQUIRE_CUDA=cuda>=X.Y, and
# nvidia-container-cli refuses it ("unsatisfied condition: cuda>=12.8") on an older driver.
CUDA_MIN_DRIVER: dict[str, str] = {
    "13.1": "590.44.01",
    "13.0": "580.65.06",
    "12.9": "575.51.03",
    "12.8": "570.26",
    "12.6": "560.28.03",
    "12.5": "555.42.02",
    "12.4": "550.54.14",
    "12.3": "545.23.06",
    "12.2": "535.54.03",
    "12.1": "530.30.02",
    "12.0": "525.60.13",
    "11.8": "520.61.05",
}

CUDA_DRIVER_TABLE_SOURCE = (
    "NVIDIA CUDA Toolkit Release Notes, 'CUDA Toolkit and Corresponding Driver Versions'"
)

# Opt-in maximum shared memory per thread block (KB) by compute capability.
# Source: CUDA C++ Programming Guide, "Technical Specifications per Compute Capability"
# (row "Maximum amount of shared memory per thread block"). Used only for GPUs missing
# from the catalogue; the catalogue's own figure wins for known GPUs.
SHARED_MEMORY_PER_BLOCK_KB: dict[str, int] = {
    "5.0": 48,
    "5.2": 48,
    "5.3": 48,
    "6.0": 48,
    "6.1": 48,
    "6.2": 48,
    "7.0": 96,
    "7.2": 96,
    "7.5": 64,
    "8.0": 163,
    "8.6": 99,
    "8.7": 163,
    "8.9": 99,
    "9.0": 227,
    "10.0": 227,
    "10.3": 227,
    "11.0": 227,
    "12.0": 99,
    "12.1": 99,
}


def version(text: str) -> Version:
    """A driver, CUDA or capability version ('580.65.06', '12.9', '9.0') in PEP 440 order;
    raises ValueError on anything else."""
    from packaging.version import InvalidVersion, Version  # imported when a version is compared

    try:
        return Version(text.strip())
    except InvalidVersion as err:
        raise ValueError(f"not a version: {text!r}") from err


def cuda_from_nvml(value: int) -> str:
    """NVML's nvmlSystemGetCudaDriverVersion encodes 13.0 as 13000 (1000*major + 10*minor)."""
    return f"{value // 1000}.{(value % 1000) // 10}"


def min_driver_for_cuda(cuda: str) -> str | None:
    """The minimum driver for CUDA `cuda` ('12.9'); None when the table has no such row."""
    return CUDA_MIN_DRIVER.get(_major_minor(cuda))


def max_cuda_for_driver(driver: str) -> str | None:
    """The newest CUDA release this driver runs, from the table; None if older than every row.

    Only a fallback: NVML reports the driver's CUDA version directly, and that figure wins.
    """
    have = version(driver)
    runnable = [cuda for cuda, needed in CUDA_MIN_DRIVER.items() if have >= version(needed)]
    return max(runnable, key=version) if runnable else None


def cuda_at_least(have: str, need: str) -> bool:
    return version(_major_minor(have)) >= version(_major_minor(need))


def shared_memory_per_block_kb(compute_capability: str) -> int | None:
    """Table lookup; an unlisted minor falls back to the closest lower one of the same major."""
    if compute_capability in SHARED_MEMORY_PER_BLOCK_KB:
        return SHARED_MEMORY_PER_BLOCK_KB[compute_capability]
    wanted = version(compute_capability)
    same_major = [
        (version(cc), kb)
        for cc, kb in SHARED_MEMORY_PER_BLOCK_KB.items()
        if version(cc).major == wanted.major and version(cc) <= wanted
    ]
    return max(same_major)[1] if same_major else None


def _major_minor(cuda: str) -> str:
    parsed = version(cuda)
    return f"{parsed.major}.{parsed.minor}"
