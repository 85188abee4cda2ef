"""nvidia-smi fallback probe: runs the CSV query and parses it (and the banner's CUDA version)."""

from __future__ import annotations

import csv
import io
import re
import shutil
import subprocess
from dataclasses import dataclass

from ling_compose.hardware.raw import MIB, ProbeUnavailable, RawGPU, RawProbe

# Field names checked against `nvidia-smi --help-query-gpu` of driver 580 (docs/hardware.md).
QUERY_FIELDS = ("index", "name", "memory.total", "compute_cap", "driver_version", "uuid")
# compute_cap arrived in later drivers (R510 era); older ones reject the whole query.
QUERY_FIELDS_OLD = ("index", "name", "memory.total", "driver_version", "uuid")

_CUDA_IN_BANNER = re.compile(r"CUDA Version:\s*(\d+\.\d+)")
_MISSING = {"", "[n/a]", "n/a", "[not supported]", "[unknown error]"}


@dataclass(frozen=True)
class NvidiaSmiOutput:
    """What the probe captured: the CSV query output and, best effort, the plain banner."""

    query_csv: str
    banner: str | None = None


def _run(binary: str, args: list[str]) -> str:
    try:
        done = subprocess.run(
            [binary, *args], capture_output=True, text=True, timeout=30, check=False
        )
    except (OSError, subprocess.TimeoutExpired) as err:
        raise ProbeUnavailable(f"nvidia-smi could not run: {err}") from err
    if done.returncode != 0:
        message = (done.stdout + done.stderr).strip().splitlines()
        raise ProbeUnavailable(
            f"nvidia-smi failed (exit {done.returncode}): {message[0] if message else ''}"
        )
    return done.stdout


def read_nvidia_smi() -> NvidiaSmiOutput:
    """Run nvidia-smi here. Raises ProbeUnavailable when it is missing or fails."""
    binary = shutil.which("nvidia-smi")
    if binary is None:
        raise ProbeUnavailable("nvidia-smi is not on PATH")
    try:
        query = _run(
            binary, [f"--query-gpu={','.join(QUERY_FIELDS)}", "--format=csv,noheader,nounits"]
        )
    except ProbeUnavailable as err:
        if "not a valid field" not in str(err):
            raise
        query = _run(
            binary, [f"--query-gpu={','.join(QUERY_FIELDS_OLD)}", "--format=csv,noheader,nounits"]
        )
    try:
        banner: str | None = _run(binary, [])
    except ProbeUnavailable:
        banner = None  # only the CUDA version comes from it; the driver table covers that
    return NvidiaSmiOutput(query_csv=query, banner=banner)


def parse_nvidia_smi(output: NvidiaSmiOutput) -> RawProbe:
    """Parse the CSV (with or without compute_cap) and the banner's 'CUDA Version: X.Y'."""
    rows = [
        [cell.strip() for cell in row]
        for row in csv.reader(io.StringIO(output.query_csv), skipinitialspace=True)
        if row and any(cell.strip() for cell in row)
    ]
    gpus: list[RawGPU] = []
    drivers: set[str] = set()
    for row in rows:
        if len(row) == len(QUERY_FIELDS):
            index, name, memory, capability, driver, uuid = row
        elif len(row) == len(QUERY_FIELDS_OLD):
            index, name, memory, driver, uuid = row
            capability = ""
        else:
            raise ProbeUnavailable(f"unexpected nvidia-smi row: {', '.join(row)}")
        drivers.add(driver)
        try:
            memory_mib = int(float(memory))
        except ValueError as err:
            raise ProbeUnavailable(f"nvidia-smi gave no memory size for GPU {index}") from err
        gpus.append(
            RawGPU(
                index=int(index),
                name=name,
                uuid=None if uuid.lower() in _MISSING else uuid,
                memory_total_bytes=memory_mib * MIB,
                compute_capability=None if capability.lower() in _MISSING else capability,
            )
        )
    cuda = None
    if output.banner:
        found = _CUDA_IN_BANNER.search(output.banner)
        cuda = found.group(1) if found else None
    return RawProbe(
        source="nvidia-smi",
        driver_version=sorted(drivers)[0] if drivers else "unknown",
        cuda_driver_version=cuda,
        gpus=gpus,
    )
