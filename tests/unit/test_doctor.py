"""doctor: each probe outcome gives the right finding and fix; the command's output and exit code."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from ling_compose.engines import registry
from ling_compose.errors import HardwareError
from ling_compose.hardware.detect import DetectedHardware, DetectProbes, detect_hardware
from ling_compose.hardware.nvidia_smi import NvidiaSmiOutput
from ling_compose.hardware.preflight import (
    DockerInfo,
    Finding,
    PreflightRequirements,
    Probes,
    has_failures,
    parse_docker_info,
    run_checks,
    suggest_image_variant,
)
from ling_compose.hardware.raw import ProbeUnavailable
from ling_compose.models.hardware import GB, GIB

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "gpus"
HEALTHY_DOCKER = DockerInfo(
    reachable=True,
    server_version="28.3.3",
    root_dir="/var/lib/docker",
    runtimes=["io.containerd.runc.v2", "nvidia", "runc"],
    default_runtime="runc",
)


def hardware(host: str) -> DetectedHardware:
    folder = FIXTURES / host
    nvml = folder / "probe-nvml.json"
    smi = folder / "nvidia-smi-query.csv"

    def no_nvml() -> Any:
        raise ProbeUnavailable("not recorded")

    def smi_probe() -> NvidiaSmiOutput:
        return NvidiaSmiOutput(smi.read_text(), (folder / "nvidia-smi.txt").read_text())

    return detect_hardware(
        DetectProbes(
            nvml=(lambda: json.loads(nvml.read_text())) if nvml.exists() else no_nvml,
            nvidia_smi=smi_probe,
            meminfo=lambda: (folder / "meminfo.txt").read_text(),
        )
    )


def probes(
    host: str | None = "h100-4x",
    *,
    docker: DockerInfo = HEALTHY_DOCKER,
    on_path: tuple[str, ...] = (),
    free_gib: float | None = 1000,
    ram_gib: float | None = 512,
    existing: tuple[str, ...] = (),
) -> Probes:
    def detect() -> DetectedHardware:
        if host is None:
            raise HardwareError(
                "no NVIDIA GPU detected (NVML: no bindings; nvidia-smi: not on PATH)",
                hint="install the NVIDIA driver",
            )
        return hardware(host)

    return Probes(
        docker_info=lambda: docker,
        which=lambda name: f"/usr/bin/{name}" if name in on_path else None,
        disk_free_bytes=lambda path: None if free_gib is None else int(free_gib * GIB),
        hardware=detect,
        path_exists=lambda path: path in existing,
        host_ram_bytes=lambda: None if ram_gib is None else int(ram_gib * GIB),
    )


def by_check(findings: list[Finding]) -> dict[str, Finding]:
    return {f.check: f for f in findings}


def image_cuda(image: str) -> str | None:
    """The CUDA the engine whose image it is says the image is built on."""
    repository = image.partition(":")[0]
    engine = registry.for_repository(repository)
    return engine.image_cuda(image) if engine is not None else None


def with_image(image: str) -> PreflightRequirements:
    """Requirements naming `image` and its variants, as doctor builds them from the engine."""
    engine = registry.for_repository(image.partition(":")[0])
    variants = tuple(engine.image_variants(image)) if engine is not None else ()
    return PreflightRequirements(image=image, image_variants=variants)


H100_STACK = with_image("vllm/vllm-openai:v0.33.0").model_copy(
    update={"gpu_key": "h100-sxm-80gb", "gpu_count": 4, "disk_gib_needed": 120}
)


def test_all_ok_on_a_ready_host() -> None:
    findings = run_checks(H100_STACK, probes())
    assert [f.check for f in findings] == [
        "docker",
        "nvidia-runtime",
        "driver",
        "gpus",
        "disk",
        "host-ram",
    ]
    assert {f.status for f in findings} == {"ok"}
    assert not has_failures(findings)
    assert all(f.fix is None for f in findings)


def test_docker_not_installed() -> None:
    found = by_check(run_checks(H100_STACK, probes(docker=DockerInfo(cli_found=False))))
    assert found["docker"].status == "fail"
    assert "not installed" in found["docker"].message
    assert found["docker"].fix is not None and "install Docker Engine" in found["docker"].fix


def test_daemon_down() -> None:
    down = parse_docker_info(
        1, "", "Cannot connect to the Docker daemon at unix:///var/run/docker.sock."
    )
    found = by_check(run_checks(H100_STACK, probes(docker=down, existing=("/var/lib/docker",))))
    assert found["docker"].status == "fail"
    assert "Cannot connect to the Docker daemon" in found["docker"].message
    assert found["docker"].fix is not None and "systemctl start docker" in found["docker"].fix
    # Without the daemon the disk check falls back to Docker's default data root.
    assert "/var/lib/docker (default Docker data root)" in found["disk"].message


def test_docker_info_with_server_errors_counts_as_down() -> None:
    stdout = json.dumps({"ServerErrors": ["permission denied while trying to connect"]})
    info = parse_docker_info(0, stdout, "")
    assert not info.reachable and info.error == "permission denied while trying to connect"


def test_docker_info_parsed() -> None:
    stdout = json.dumps(
        {
            "ServerVersion": "28.3.3",
            "DockerRootDir": "/data/docker",
            "Runtimes": {"runc": {}, "nvidia": {"path": "nvidia-container-runtime"}},
            "DefaultRuntime": "runc",
        }
    )
    info = parse_docker_info(0, stdout, "")
    assert info.reachable and info.root_dir == "/data/docker"
    assert info.runtimes == ["nvidia", "runc"]


def test_no_nvidia_runtime() -> None:
    docker = HEALTHY_DOCKER.model_copy(update={"runtimes": ["runc"]})
    found = by_check(run_checks(H100_STACK, probes(docker=docker)))
    assert found["nvidia-runtime"].status == "fail"
    assert "could not select device driver" in found["nvidia-runtime"].message
    assert found["nvidia-runtime"].fix is not None
    assert "nvidia-ctk runtime configure" in found["nvidia-runtime"].fix


def test_toolkit_hook_on_path_is_enough() -> None:
    docker = HEALTHY_DOCKER.model_copy(update={"runtimes": ["runc"]})
    found = by_check(
        run_checks(H100_STACK, probes(docker=docker, on_path=("nvidia-container-runtime-hook",)))
    )
    assert found["nvidia-runtime"].status == "ok"


def test_toolkit_found_but_daemon_unreachable_is_a_warning() -> None:
    found = by_check(
        run_checks(
            H100_STACK,
            probes(docker=DockerInfo(error="down"), on_path=("nvidia-container-toolkit",)),
        )
    )
    assert found["nvidia-runtime"].status == "warn"


def test_old_driver_suggests_the_cu129_variant() -> None:
    stack = H100_STACK.model_copy(update={"gpu_key": "rtx-3090", "gpu_count": 2})
    found = by_check(run_checks(stack, probes("rtx3090-2x")))
    driver = found["driver"]
    assert driver.status == "fail"
    assert "driver 575.57.08 supports CUDA 12.9" in driver.message
    assert "CUDA 13.0 (driver >= 580.65.06)" in driver.message
    assert driver.fix == (
        "upgrade the NVIDIA driver to 580.65.06 or newer, or use the image variant built for "
        "an older CUDA: vllm/vllm-openai:v0.33.0-cu129"
    )


def test_driver_too_old_for_every_variant() -> None:
    stack = H100_STACK.model_copy(update={"gpu_key": "rtx-4090", "gpu_count": 1})
    driver = by_check(run_checks(stack, probes("rtx4090-1x")))["driver"]
    assert driver.status == "fail"
    assert driver.fix == "upgrade the NVIDIA driver to 580.65.06 or newer"


def test_image_variants() -> None:
    assert suggest_image_variant(with_image("vllm/vllm-openai:v0.33.0"), "12.9") == (
        "vllm/vllm-openai:v0.33.0-cu129"
    )
    assert suggest_image_variant(with_image("vllm/vllm-openai:v0.33.0-cu129"), "13.0") == (
        "vllm/vllm-openai:v0.33.0"
    )
    assert suggest_image_variant(with_image("vllm/vllm-openai:v0.33.0"), "12.8") is None
    assert suggest_image_variant(with_image("lmsysorg/sglang:v0.5.23-cu130"), "12.9") == (
        "lmsysorg/sglang:v0.5.23-cu129"
    )
    llamacpp = with_image("ghcr.io/ggml-org/llama.cpp:server-cuda13")
    assert suggest_image_variant(llamacpp, "12.4") is None


def test_low_disk() -> None:
    disk = by_check(run_checks(H100_STACK, probes(free_gib=50)))["disk"]
    assert disk.status == "fail"
    assert disk.message == (
        "50.0 GiB free at /var/lib/docker (Docker data root); the checkpoint needs 120.0 GiB"
    )
    assert disk.fix is not None and "data-root" in disk.fix


def test_unreadable_disk_is_a_warning() -> None:
    disk = by_check(run_checks(H100_STACK, probes(free_gib=None)))["disk"]
    assert disk.status == "warn"


def test_low_host_ram_for_offloaded_experts() -> None:
    stack = H100_STACK.model_copy(update={"min_host_ram_gib": 256})
    ram = by_check(run_checks(stack, probes(ram_gib=128)))["host-ram"]
    assert ram.status == "fail"
    assert ram.message == "host RAM 128.0 GiB < 256.0 GiB needed for offloaded experts"
    assert by_check(run_checks(stack, probes(ram_gib=None)))["host-ram"].status == "warn"


def test_wrong_gpu_count() -> None:
    stack = H100_STACK.model_copy(update={"gpu_count": 8})
    gpus = by_check(run_checks(stack, probes("h100-4x")))["gpus"]
    assert gpus.status == "fail"
    assert gpus.message == "found 4x h100-sxm-80gb: 4 usable, the stack needs 8x h100-sxm-80gb"


def test_wrong_gpu_type() -> None:
    gpus = by_check(run_checks(H100_STACK, probes("h20-8x")))["gpus"]
    assert gpus.status == "fail"
    assert gpus.message == "found 8x h20; the stack needs 4x h100-sxm-80gb"
    assert gpus.fix is not None and "recommend" in gpus.fix


def test_mixed_host_counts_only_the_wanted_type() -> None:
    stack = H100_STACK.model_copy(update={"gpu_key": "rtx-4090", "gpu_count": 2})
    gpus = by_check(run_checks(stack, probes("mixed-4090-3090-smi")))["gpus"]
    assert gpus.status == "fail"
    assert "1x rtx-4090, 1x rtx-3090: 1 usable" in gpus.message


def test_more_gpus_than_needed_is_fine() -> None:
    stack = H100_STACK.model_copy(update={"gpu_key": "h20", "gpu_count": 4})
    assert by_check(run_checks(stack, probes("h20-8x")))["gpus"].status == "ok"


def test_no_gpu() -> None:
    found = by_check(run_checks(H100_STACK, probes(None)))
    assert found["gpus"].status == "fail"
    assert found["gpus"].message.startswith("no NVIDIA GPU detected")
    assert found["driver"].status == "fail"
    assert found["driver"].fix == "install the NVIDIA driver 580.65.06 or newer"
    assert found["host-ram"].status == "ok"  # RAM is read without a GPU


def test_requirements_are_strict() -> None:
    with pytest.raises(ValueError):
        PreflightRequirements(min_driver_cuda="thirteen")
    with pytest.raises(ValueError):
        PreflightRequirements.model_validate({"gpu_count": 1, "gpu_kind": "h200"})


# --- the command, in-process -------------------------------------------------------------


@pytest.fixture
def cli() -> Any:
    """The CLI entry point, in-process."""
    from ling_compose.cli import main

    return main


def _fake(monkeypatch: pytest.MonkeyPatch, fake: Probes) -> None:
    from ling_compose.cli import doctor

    monkeypatch.setattr(doctor, "real_probes", lambda: fake)


def test_cli_doctor_profile_ok_exits_0(
    cli: Any, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    _fake(monkeypatch, probes("h100-4x"))
    assert cli(["doctor", "4xh100-bf16"]) == 0
    out, err = capsys.readouterr()
    assert err == ""
    assert out.splitlines()[0] == (
        "[ok  ] docker          Docker 28.3.3 reachable (data root /var/lib/docker)"
    )
    assert "[ok  ] gpus            found 4x h100-sxm-80gb; the stack needs 4x h100-sxm-80gb" in out


def test_cli_doctor_failures_exit_1_with_fixes(
    cli: Any, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    _fake(monkeypatch, probes("rtx3090-2x", docker=DockerInfo(cli_found=False)))
    assert cli(["doctor", "h100-fp8"]) == 1
    out, err = capsys.readouterr()
    assert "[FAIL] docker          Docker is not installed (no `docker` on PATH)" in out
    assert "fix: upgrade the NVIDIA driver to 580.65.06 or newer, or use the image variant" in out
    assert "[FAIL] gpus" in out
    assert err == (
        "error: doctor: 4 check(s) failed: docker, nvidia-runtime, driver, gpus\n"
        "Hint: apply the fixes printed above, then run doctor again\n"
    )


def test_cli_doctor_takes_overrides_and_prints_json(
    cli: Any, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    _fake(monkeypatch, probes("h100-4x"))
    assert cli(["doctor", "h100-fp8", "--gpus", "4", "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert [d["status"] for d in data] == ["ok"] * 6
    assert set(data[0]) == {"check", "status", "message", "fix"}
    gpus = next(d for d in data if d["check"] == "gpus")
    assert "needs 4x h100-sxm-80gb" in gpus["message"]


def test_cli_doctor_refuses_a_layout_that_cannot_fit(
    cli: Any, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    _fake(monkeypatch, probes("h100-4x"))
    assert cli(["doctor", "h100-fp8", "--gpus", "1"]) == 1
    assert "cannot start" in capsys.readouterr().err


def test_findings_recorded_on_the_h200() -> None:
    """Replays the device run (no Docker there, 64 GiB disk, 135 GB RAM) and compares.

    The recording printed disk and RAM in decimal GB; since issue 9 (one unit per kind of
    figure) they print in GiB, so those two lines are compared converted, the rest verbatim."""
    from ling_compose.cli.doctor import format_findings

    fake = probes(
        "h200-1x-real",
        docker=DockerInfo(cli_found=False, error="the docker CLI is not on PATH"),
        free_gib=69.4 * GB / GIB,
        ram_gib=135.1 * GB / GIB,
    )
    recorded_run = PreflightRequirements(
        gpu_key="h200",
        gpu_count=1,
        min_host_ram_gib=16,
        disk_gib_needed=20,
        min_driver_cuda="13.0",
        image="vllm/vllm-openai:v0.33.0",
    )
    recorded = (FIXTURES / "h200-1x-real" / "doctor.txt").read_text().split("\n\n")[0]
    findings_lines = recorded.splitlines()[1:-3]  # drop the command, the error, hint and exit
    converted = {
        "[ok  ] disk            69 GB free at / (Docker data root unknown; checked /); need 20 GB": (
            "[ok  ] disk            64.6 GiB free at / (Docker data root unknown; checked /); "
            "need 20.0 GiB"
        ),
        "[ok  ] host-ram        host RAM 135 GB >= 16 GB needed": (
            "[ok  ] host-ram        host RAM 125.8 GiB >= 16.0 GiB needed"
        ),
    }
    assert set(converted) <= set(findings_lines)  # the recording still says what it said
    expected = [converted.get(line, line) for line in findings_lines]
    assert format_findings(run_checks(recorded_run, fake)).splitlines() == expected


def test_image_cuda_from_tag() -> None:
    assert image_cuda("vllm/vllm-openai:v0.33.0") == "13.0"
    assert image_cuda("vllm/vllm-openai:v0.33.0-cu129") == "12.9"
    assert image_cuda("lmsysorg/sglang:v0.5.23-cu129") == "12.9"
    assert image_cuda("lmsysorg/sglang:v0.5.23") is None
    assert image_cuda("ghcr.io/ggml-org/llama.cpp:server-cuda") is None


@pytest.mark.parametrize(
    ("profile", "image", "cuda"),
    [("h100-fp8", "vllm/vllm-openai:v0.33.0", "13.0"), ("3090-int4", None, "12.9")],
)
def test_requirements_from_a_compiled_profile(
    profile: str, image: str | None, cuda: str | None
) -> None:
    from ling_compose.cli.doctor import requirements_from_stack
    from ling_compose.compose import compile_stack
    from ling_compose.load import load_stack

    compiled = compile_stack(load_stack(profile))
    stack, plan = compiled.stack, compiled.plan
    req = requirements_from_stack(compiled)
    assert (req.gpu_key, req.gpu_count) == (stack.hardware.gpu.key, stack.hardware.count)
    assert req.image == compiled.service.image
    if image is not None:
        assert req.image == image
        assert req.image_variants[1] == ("vllm/vllm-openai:v0.33.0-cu129", "12.9")
    else:  # built from the fork: the CUDA of its build arg
        assert compiled.service.build is not None
        assert compiled.service.build.args["CUDA_VERSION"] == "12.9.1"
    assert req.disk_gib_needed == pytest.approx(stack.checkpoint.size_on_disk_gib, abs=0.1)
    assert req.min_driver_cuda == cuda
    if plan.host is not None:
        assert req.min_host_ram_gib == pytest.approx(plan.host.needed, abs=0.1)
    else:
        assert req.min_host_ram_gib == 0
