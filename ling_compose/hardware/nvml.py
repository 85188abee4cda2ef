"""NVML probe: reads the GPUs through nvidia-ml-py (optional extra `nvml`), imported lazily."""

from __future__ import annotations

import contextlib
import importlib
from collections.abc import Callable
from types import ModuleType
from typing import Any

from ling_compose.hardware.cuda import cuda_from_nvml
from ling_compose.hardware.raw import ProbeUnavailable, RawProbe


def _load_pynvml() -> ModuleType:
    # Lazy and through importlib: the package is an optional extra, has no type stubs, and
    # its absence must turn into the nvidia-smi fallback, not an ImportError at CLI start.
    try:
        return importlib.import_module("pynvml")
    except ImportError as err:
        raise ProbeUnavailable(
            "the NVML bindings are not installed (pip install 'ling-compose[nvml]')"
        ) from err


def _text(value: Any) -> str:
    # nvidia-ml-py < 11.515 returned bytes for strings.
    return value.decode() if isinstance(value, bytes) else str(value)


def read_nvml() -> dict[str, Any]:
    """Read the driver and every GPU; returns a JSON-able dict (what fixtures record)."""
    nvml = _load_pynvml()
    try:
        nvml.nvmlInit()
    except Exception as err:  # NVMLError_LibraryNotFound, _DriverNotLoaded, ...
        raise ProbeUnavailable(f"NVML could not start: {err}") from err
    try:

        def optional(call: Callable[..., Any], *args: Any) -> Any:
            # Consumer parts and virtual GPUs answer NotSupported for some queries.
            try:
                return call(*args)
            except Exception:
                return None

        cuda = optional(nvml.nvmlSystemGetCudaDriverVersion)
        gpus: list[dict[str, Any]] = []
        for index in range(nvml.nvmlDeviceGetCount()):
            handle = nvml.nvmlDeviceGetHandleByIndex(index)
            capability = optional(nvml.nvmlDeviceGetCudaComputeCapability, handle)
            uuid = optional(nvml.nvmlDeviceGetUUID, handle)
            gpus.append(
                {
                    "index": index,
                    "name": _text(nvml.nvmlDeviceGetName(handle)),
                    "uuid": _text(uuid) if uuid is not None else None,
                    "memory_total_bytes": int(nvml.nvmlDeviceGetMemoryInfo(handle).total),
                    "compute_capability": (
                        f"{capability[0]}.{capability[1]}" if capability is not None else None
                    ),
                    "memory_bus_width_bits": optional(nvml.nvmlDeviceGetMemoryBusWidth, handle),
                    "max_memory_clock_mhz": optional(
                        nvml.nvmlDeviceGetMaxClockInfo, handle, nvml.NVML_CLOCK_MEM
                    ),
                }
            )
        return {
            "source": "nvml",
            "driver_version": _text(nvml.nvmlSystemGetDriverVersion()),
            "cuda_driver_version_raw": cuda,
            "nvml_version": _text(optional(nvml.nvmlSystemGetNVMLVersion)),
            "gpus": gpus,
        }
    except ProbeUnavailable:
        raise
    except Exception as err:
        raise ProbeUnavailable(f"NVML query failed: {err}") from err
    finally:
        with contextlib.suppress(Exception):
            nvml.nvmlShutdown()


def parse_nvml(data: dict[str, Any]) -> RawProbe:
    """The dict from read_nvml (or a recorded one) as a RawProbe."""
    raw_cuda = data.get("cuda_driver_version_raw")
    fields = dict(data)
    fields["source"] = "nvml"
    if isinstance(raw_cuda, int) and raw_cuda > 0:
        fields["cuda_driver_version"] = cuda_from_nvml(raw_cuda)
    return RawProbe.model_validate(fields)
