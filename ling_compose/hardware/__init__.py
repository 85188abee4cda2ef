"""The host's GPUs and readiness: detect (NVML / nvidia-smi -> catalogue) and doctor's checks."""

from __future__ import annotations

from ling_compose.hardware.detect import (
    DetectedGPU,
    DetectedHardware,
    DetectProbes,
    GPUGroup,
    detect_hardware,
)
from ling_compose.hardware.preflight import (
    Finding,
    PreflightRequirements,
    Probes,
    real_probes,
    run_checks,
)

__all__ = [
    "DetectProbes",
    "DetectedGPU",
    "DetectedHardware",
    "Finding",
    "GPUGroup",
    "PreflightRequirements",
    "Probes",
    "detect_hardware",
    "real_probes",
    "run_checks",
]
