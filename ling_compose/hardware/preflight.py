"""doctor's pre-flight checks: pure run_checks over injected probes, plus the real probes."""

from __future__ import annotations

import json
import shutil
import subprocess
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from pydantic import Field

from ling_compose.errors import HardwareError
from ling_compose.hardware.cuda import (
    CUDA_DRIVER_TABLE_SOURCE,
    cuda_at_least,
    min_driver_for_cuda,
)
from ling_compose.hardware.detect import (
    DetectedHardware,
    detect_hardware,
    parse_meminfo,
    read_meminfo,
)
from ling_compose.models.base import LenientModel, StrictModel
from ling_compose.models.hardware import GIB

Status = Literal["ok", "warn", "fail"]

# Either one makes `--gpus` / compose `driver: nvidia` work: dockerd execs the hook directly,
# or the runtime is registered in daemon.json by `nvidia-ctk runtime configure`.
NVIDIA_TOOLKIT_BINARIES = ("nvidia-container-runtime-hook", "nvidia-container-toolkit")
TOOLKIT_FIX = (
    "install the NVIDIA Container Toolkit, then `sudo nvidia-ctk runtime configure "
    "--runtime=docker && sudo systemctl restart docker`"
)
# Docker keeps images and named volumes (the HF cache volume) under its data root.
DEFAULT_DOCKER_ROOT = "/var/lib/docker"


class PreflightRequirements(StrictModel):
    """What a stack needs from this host; the lead builds it from a compiled stack."""

    gpu_key: str | None = Field(default=None, description="Catalogue key; None: any GPU type")
    gpu_count: int = Field(default=1, ge=0)
    min_host_ram_gib: float = Field(
        default=0, ge=0, description="Host RAM (GiB) for offloaded experts"
    )
    disk_gib_needed: float = Field(
        default=0, ge=0, description="Free disk (GiB) for the checkpoint"
    )
    min_driver_cuda: str = Field(default="13.0", pattern=r"^\d+\.\d+$")
    image: str = Field(default="", description="The pinned image, for the variant advice")
    image_variants: tuple[tuple[str, str], ...] = Field(
        default=(),
        description="Published variants of the image and the CUDA each is built on, newest "
        "CUDA first (the engine's Engine.image_variants)",
    )


class Finding(LenientModel):
    """One check's verdict, with the remedy when it is not ok."""

    check: str
    status: Status
    message: str
    fix: str | None = None


class DockerInfo(LenientModel):
    """What `docker info` said, or why it could not be asked."""

    cli_found: bool = True
    reachable: bool = False
    error: str | None = None
    server_version: str | None = None
    root_dir: str | None = None
    runtimes: list[str] = Field(default=[])
    default_runtime: str | None = None


@dataclass(frozen=True)
class Probes:
    """Side effects behind the checks; tests pass fakes."""

    docker_info: Callable[[], DockerInfo]
    which: Callable[[str], str | None]
    disk_free_bytes: Callable[[str], int | None]
    hardware: Callable[[], DetectedHardware]
    path_exists: Callable[[str], bool]
    # Separate from `hardware`: RAM matters (offloaded experts) even where no GPU is found.
    host_ram_bytes: Callable[[], int | None]


# --- real probes -------------------------------------------------------------------------


def read_docker_info() -> DockerInfo:
    # The docker CLI rather than the SDK: runtime/docker_sdk.py (the SDK seam) is another
    # module's job, and `docker info` answers the same questions without a connection object.
    binary = shutil.which("docker")
    if binary is None:
        return DockerInfo(cli_found=False, error="the docker CLI is not on PATH")
    try:
        done = subprocess.run(
            [binary, "info", "--format", "{{json .}}"],
            capture_output=True,
            text=True,
            timeout=20,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired) as err:
        return DockerInfo(error=f"`docker info` failed: {err}")
    return parse_docker_info(done.returncode, done.stdout, done.stderr)


def parse_docker_info(returncode: int, stdout: str, stderr: str) -> DockerInfo:
    """`docker info --format '{{json .}}'` output -> DockerInfo (pure, for tests)."""
    try:
        data: dict[str, Any] = json.loads(stdout) if stdout.strip() else {}
    except json.JSONDecodeError:
        data = {}
    # With the daemon down, the CLI still prints client info and lists ServerErrors.
    server_errors = [str(e) for e in data.get("ServerErrors") or []]
    if returncode != 0 or server_errors or not data.get("ServerVersion"):
        message = "; ".join(server_errors) or stderr.strip() or "no answer from the daemon"
        return DockerInfo(error=message)
    runtimes = data.get("Runtimes") or {}
    return DockerInfo(
        reachable=True,
        server_version=str(data.get("ServerVersion")),
        root_dir=data.get("DockerRootDir"),
        runtimes=sorted(runtimes) if isinstance(runtimes, dict) else [],
        default_runtime=data.get("DefaultRuntime"),
    )


def disk_free_bytes(path: str) -> int | None:
    try:
        return shutil.disk_usage(path).free
    except OSError:
        return None


def real_probes() -> Probes:
    return Probes(
        docker_info=read_docker_info,
        which=shutil.which,
        disk_free_bytes=disk_free_bytes,
        hardware=detect_hardware,
        path_exists=lambda p: Path(p).exists(),
        host_ram_bytes=lambda: parse_meminfo(read_meminfo()),
    )


# --- checks (pure over the probes) -------------------------------------------------------


def _check_docker(info: DockerInfo) -> Finding:
    if not info.cli_found:
        return Finding(
            check="docker",
            status="fail",
            message="Docker is not installed (no `docker` on PATH)",
            fix="install Docker Engine with the compose plugin "
            "(https://docs.docker.com/engine/install/)",
        )
    if not info.reachable:
        return Finding(
            check="docker",
            status="fail",
            message=f"the Docker daemon is not reachable: {info.error}",
            fix="start it (`sudo systemctl start docker`), or add your user to the `docker` "
            "group and log in again; check DOCKER_HOST",
        )
    return Finding(
        check="docker",
        status="ok",
        message=f"Docker {info.server_version} reachable (data root {info.root_dir})",
    )


def _check_nvidia_runtime(info: DockerInfo, which: Callable[[str], str | None]) -> Finding:
    if info.reachable and "nvidia" in info.runtimes:
        return Finding(
            check="nvidia-runtime",
            status="ok",
            message="the `nvidia` runtime is registered with Docker",
        )
    found = [path for path in (which(b) for b in NVIDIA_TOOLKIT_BINARIES) if path]
    if found and info.reachable:
        return Finding(
            check="nvidia-runtime",
            status="ok",
            message=f"NVIDIA Container Toolkit hook found ({found[0]}); `--gpus` will use it",
        )
    if found:
        return Finding(
            check="nvidia-runtime",
            status="warn",
            message=f"NVIDIA Container Toolkit found ({found[0]}), but Docker could not be "
            "asked whether it is registered",
            fix="fix the Docker finding above, then run doctor again",
        )
    return Finding(
        check="nvidia-runtime",
        status="fail",
        message="no NVIDIA container runtime: GPUs cannot reach containers "
        "('could not select device driver \"nvidia\"')",
        fix=TOOLKIT_FIX,
    )


def suggest_image_variant(req: PreflightRequirements, host_cuda: str) -> str | None:
    """The newest variant of the image built on a CUDA the host driver supports, or None."""
    for image, cuda in req.image_variants:
        if cuda_at_least(host_cuda, cuda):
            return None if image == req.image else image
    return None


def _check_driver(hardware: DetectedHardware | None, req: PreflightRequirements) -> Finding:
    need = req.min_driver_cuda
    min_driver = min_driver_for_cuda(need)
    need_text = f"CUDA {need}" + (f" (driver >= {min_driver})" if min_driver else "")
    if hardware is None:
        return Finding(
            check="driver",
            status="fail",
            message=f"no NVIDIA driver found; the image needs {need_text}",
            fix="install the NVIDIA driver" + (f" {min_driver} or newer" if min_driver else ""),
        )
    have = hardware.cuda_driver_version
    if have is None:
        return Finding(
            check="driver",
            status="warn",
            message=f"driver {hardware.driver_version}: its CUDA version could not be read; "
            f"the image needs {need_text}",
            fix=f"compare with {CUDA_DRIVER_TABLE_SOURCE}",
        )
    if cuda_at_least(have, need):
        return Finding(
            check="driver",
            status="ok",
            message=f"driver {hardware.driver_version} supports CUDA {have} "
            f"(source: {hardware.cuda_driver_version_source}); the image needs {need}",
        )
    variant = suggest_image_variant(req, have)
    fix = f"upgrade the NVIDIA driver to {min_driver or 'a release for CUDA ' + need} or newer"
    if variant:
        fix += f", or use the image variant built for an older CUDA: {variant}"
    return Finding(
        check="driver",
        status="fail",
        message=f"driver {hardware.driver_version} supports CUDA {have}, older than the "
        f"{need_text} of {req.image or 'the image'}: the container would not start "
        "('unsatisfied condition: cuda>=...')",
        fix=fix,
    )


def _check_disk(info: DockerInfo, probes: Probes, req: PreflightRequirements) -> Finding:
    if info.root_dir:
        where, why = info.root_dir, "Docker data root"
    elif probes.path_exists(DEFAULT_DOCKER_ROOT):
        where, why = DEFAULT_DOCKER_ROOT, "default Docker data root"
    else:
        where, why = "/", "Docker data root unknown; checked /"
    free = probes.disk_free_bytes(where)
    if free is None:
        return Finding(
            check="disk",
            status="warn",
            message=f"free space at {where} ({why}) could not be read; "
            f"need {req.disk_gib_needed:.1f} GiB",
            fix="check with `df -h` before the first start",
        )
    free_gib = free / GIB
    if free_gib < req.disk_gib_needed:
        return Finding(
            check="disk",
            status="fail",
            message=f"{free_gib:.1f} GiB free at {where} ({why}); the checkpoint needs "
            f"{req.disk_gib_needed:.1f} GiB",
            fix="free space there, move Docker's data-root (daemon.json) to a larger disk, or "
            "bind-mount an existing Hugging Face cache",
        )
    return Finding(
        check="disk",
        status="ok",
        message=f"{free_gib:.1f} GiB free at {where} ({why}); need {req.disk_gib_needed:.1f} GiB",
    )


def _check_ram(ram_bytes: int | None, req: PreflightRequirements) -> Finding:
    have = None if ram_bytes is None else ram_bytes / GIB
    if req.min_host_ram_gib <= 0:
        shown = f"{have:.1f} GiB" if have is not None else "unknown"
        return Finding(check="host-ram", status="ok", message=f"host RAM {shown}; none required")
    if have is None:
        return Finding(
            check="host-ram",
            status="warn",
            message=f"host RAM could not be read; need {req.min_host_ram_gib:.1f} GiB "
            "for offloaded experts",
            fix="check with `free -g`",
        )
    if have < req.min_host_ram_gib:
        return Finding(
            check="host-ram",
            status="fail",
            message=f"host RAM {have:.1f} GiB < {req.min_host_ram_gib:.1f} GiB needed "
            "for offloaded experts",
            fix="offload fewer experts (more GPUs or a smaller checkpoint), "
            "or use a host with more RAM",
        )
    return Finding(
        check="host-ram",
        status="ok",
        message=f"host RAM {have:.1f} GiB >= {req.min_host_ram_gib:.1f} GiB needed",
    )


def _check_gpus(
    hardware: DetectedHardware | None, error: HardwareError | None, req: PreflightRequirements
) -> Finding:
    want = f"{req.gpu_count}x {req.gpu_key or 'any GPU'}"
    if hardware is None:
        return Finding(
            check="gpus",
            status="fail",
            message=f"{error.message if error else 'no GPU detected'}; the stack needs {want}",
            fix=(error.hint if error and error.hint else None),
        )
    found = ", ".join(f"{g.count}x {g.key}" for g in hardware.groups)
    if req.gpu_key is None:
        usable = hardware.count
    else:
        usable = sum(g.count for g in hardware.groups if g.key == req.gpu_key)
    if usable == 0 and req.gpu_count > 0:
        return Finding(
            check="gpus",
            status="fail",
            message=f"found {found}; the stack needs {want}",
            fix="pick a profile for these GPUs (`recommend`), or run on a host with the right GPUs",
        )
    if usable < req.gpu_count:
        return Finding(
            check="gpus",
            status="fail",
            message=f"found {found}: {usable} usable, the stack needs {want}",
            fix="pick a profile for fewer GPUs (`recommend`), or add GPUs",
        )
    return Finding(check="gpus", status="ok", message=f"found {found}; the stack needs {want}")


def run_checks(requirements: PreflightRequirements, probes: Probes) -> list[Finding]:
    """Every check, in the order a user fixes them: Docker, GPU runtime, driver, GPUs, disk, RAM."""
    info = probes.docker_info()
    hardware: DetectedHardware | None
    error: HardwareError | None = None
    try:
        hardware = probes.hardware()
    except HardwareError as err:
        hardware, error = None, err
    return [
        _check_docker(info),
        _check_nvidia_runtime(info, probes.which),
        _check_driver(hardware, requirements),
        _check_gpus(hardware, error, requirements),
        _check_disk(info, probes, requirements),
        _check_ram(probes.host_ram_bytes(), requirements),
    ]


def has_failures(findings: list[Finding]) -> bool:
    return any(f.status == "fail" for f in findings)
