"""Dump what NVML reports about this host's GPUs as JSON (raw record, independent of ling_compose).

Run: python3 tools/nvml_dump.py > nvml-dump.json   (needs nvidia-ml-py)
"""

from __future__ import annotations

import json
import sys
from typing import Any

import pynvml as nvml  # type: ignore[import-untyped,import-not-found,unused-ignore]


def _call(fn: Any, *args: Any) -> Any:
    try:
        value = fn(*args)
    except Exception as err:  # record NotSupported and friends instead of stopping
        return f"<error: {err}>"
    if isinstance(value, bytes):
        return value.decode()
    return value


def main() -> int:
    nvml.nvmlInit()
    try:
        host: dict[str, Any] = {
            "driver_version": _call(nvml.nvmlSystemGetDriverVersion),
            "cuda_driver_version": _call(nvml.nvmlSystemGetCudaDriverVersion),
            "cuda_driver_version_v2": _call(nvml.nvmlSystemGetCudaDriverVersion_v2),
            "nvml_version": _call(nvml.nvmlSystemGetNVMLVersion),
            "device_count": _call(nvml.nvmlDeviceGetCount),
            "devices": [],
        }
        for i in range(nvml.nvmlDeviceGetCount()):
            h = nvml.nvmlDeviceGetHandleByIndex(i)
            mem = _call(nvml.nvmlDeviceGetMemoryInfo, h)
            pci = _call(nvml.nvmlDeviceGetPciInfo, h)
            host["devices"].append(
                {
                    "index": i,
                    "name": _call(nvml.nvmlDeviceGetName, h),
                    "uuid": _call(nvml.nvmlDeviceGetUUID, h),
                    "serial": "<omitted>",
                    "memory_total": getattr(mem, "total", mem),
                    "memory_used": getattr(mem, "used", None),
                    "cuda_compute_capability": _call(nvml.nvmlDeviceGetCudaComputeCapability, h),
                    "memory_bus_width": _call(nvml.nvmlDeviceGetMemoryBusWidth, h),
                    "max_clock_mem_mhz": _call(
                        nvml.nvmlDeviceGetMaxClockInfo, h, nvml.NVML_CLOCK_MEM
                    ),
                    "max_clock_sm_mhz": _call(
                        nvml.nvmlDeviceGetMaxClockInfo, h, nvml.NVML_CLOCK_SM
                    ),
                    "num_gpu_cores": _call(nvml.nvmlDeviceGetNumGpuCores, h),
                    "architecture": _call(nvml.nvmlDeviceGetArchitecture, h),
                    "brand": _call(nvml.nvmlDeviceGetBrand, h),
                    "mig_mode": _call(nvml.nvmlDeviceGetMigMode, h),
                    "power_limit_mw": _call(nvml.nvmlDeviceGetEnforcedPowerLimit, h),
                    "pci_bus_id": str(getattr(pci, "busId", "")),
                    "pci_device_id": hex(getattr(pci, "pciDeviceId", 0)),
                    "vbios": _call(nvml.nvmlDeviceGetVbiosVersion, h),
                }
            )
    finally:
        nvml.nvmlShutdown()
    json.dump(host, sys.stdout, indent=2, default=str)
    print()
    return 0


if __name__ == "__main__":
    sys.exit(main())
