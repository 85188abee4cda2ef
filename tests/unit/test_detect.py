"""detect over recorded NVML / nvidia-smi outputs (tests/fixtures/gpus), and the CLI command."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from ling_compose.catalog import gpus as catalogue
from ling_compose.errors import HardwareError
from ling_compose.hardware.cuda import (
    cuda_from_nvml,
    max_cuda_for_driver,
    min_driver_for_cuda,
    shared_memory_per_block_kb,
)
from ling_compose.hardware.detect import DetectProbes, detect_hardware, parse_meminfo
from ling_compose.hardware.matching import match_gpu
from ling_compose.hardware.nvidia_smi import NvidiaSmiOutput, parse_nvidia_smi
from ling_compose.hardware.raw import MIB, ProbeUnavailable, RawGPU

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "gpus"


def _unavailable(reason: str) -> Any:
    def probe() -> Any:
        raise ProbeUnavailable(reason)

    return probe


def probes_for(host: str, *, nvml: bool = True) -> DetectProbes:
    """Probes replaying one fixture folder; NVML only where the folder recorded it."""
    folder = FIXTURES / host
    nvml_file = folder / "probe-nvml.json"
    smi_file = folder / "nvidia-smi-query.csv"
    banner = folder / "nvidia-smi.txt"
    return DetectProbes(
        nvml=(
            (lambda: json.loads(nvml_file.read_text()))
            if nvml and nvml_file.exists()
            else _unavailable("the NVML bindings are not installed")
        ),
        nvidia_smi=(
            (
                lambda: NvidiaSmiOutput(
                    smi_file.read_text(), banner.read_text() if banner.exists() else None
                )
            )
            if smi_file.exists()
            else _unavailable("nvidia-smi is not on PATH")
        ),
        meminfo=lambda: (folder / "meminfo.txt").read_text(),
    )


# host, expected groups, CUDA the driver supports, host RAM (GiB, 1 decimal)
EXPECTED = [
    ("h200-1x-real", [("h200", 1)], "13.0", 125.9),
    ("rtx4090-1x", [("rtx-4090", 1)], "12.4", 62.7),
    ("rtx3090-2x", [("rtx-3090", 2)], "12.9", 125.7),
    ("h100-4x", [("h100-sxm-80gb", 4)], "13.0", 2015.7),
    ("h20-8x", [("h20", 8)], "12.8", 2015.7),
    ("mixed-4090-3090-smi", [("rtx-4090", 1), ("rtx-3090", 1)], "12.8", 94.2),
    ("unknown-a10g-1x", [("unknown-a10g", 1)], "12.2", 30.9),
    ("unknown-l4-1x-smi", [("unknown-l4", 1)], "12.4", 15.4),
]


@pytest.mark.parametrize(("host", "groups", "cuda", "ram_gib"), EXPECTED)
def test_every_fixture_maps_onto_the_catalogue(
    host: str, groups: list[tuple[str, int]], cuda: str, ram_gib: float
) -> None:
    hw = detect_hardware(probes_for(host))
    assert [(g.key, g.count) for g in hw.groups] == groups
    assert hw.count == sum(n for _, n in groups)
    assert hw.is_mixed == (len(groups) > 1)
    assert hw.cuda_driver_version == cuda
    assert hw.host_ram_gib is not None and round(hw.host_ram_gib, 1) == ram_gib
    for group in hw.groups:
        assert group.known == (not group.key.startswith("unknown-"))


def test_real_h200_reading() -> None:
    hw = detect_hardware(probes_for("h200-1x-real"))
    (gpu,) = hw.gpus
    assert hw.source == "nvml"
    assert hw.driver_version == "580.159.04"
    assert hw.cuda_driver_version_source == "nvml"
    assert gpu.name == "NVIDIA H200"
    assert gpu.memory_total_bytes == 143771 * MIB
    assert gpu.catalogue_key == "h200"
    assert gpu.memory_bandwidth_gbs == 4800 and gpu.bandwidth_source == "catalogue"
    # NVML's own figures (6016-bit bus x 3201 MHz) agree with the datasheet within 1%.
    assert gpu.bandwidth_estimate_gbs == pytest.approx(4814.3, abs=0.1)
    # PyTorch on the same machine read shared_memory_per_block_optin = 232448 B = 227 KB.
    assert gpu.max_shared_memory_per_block_kb == 227


def test_real_h200_nvidia_smi_fallback_agrees_with_nvml() -> None:
    via_nvml = detect_hardware(probes_for("h200-1x-real"))
    via_smi = detect_hardware(probes_for("h200-1x-real", nvml=False))
    assert via_smi.source == "nvidia-smi"
    assert via_smi.cuda_driver_version == "13.0"
    assert via_smi.cuda_driver_version_source == "nvidia-smi"
    assert [(g.key, g.count) for g in via_smi.groups] == [("h200", 1)]
    assert via_smi.gpus[0].memory_total_bytes == via_nvml.gpus[0].memory_total_bytes
    assert via_smi.gpus[0].uuid == via_nvml.gpus[0].uuid
    assert via_smi.gpus[0].bandwidth_estimate_gbs is None  # nvidia-smi has no bus width
    assert any("read with nvidia-smi because NVML" in n for n in via_smi.notes)


def test_h20_is_not_taken_for_h200_and_back() -> None:
    h20 = detect_hardware(probes_for("h20-8x"))
    assert {g.catalogue_key for g in h20.gpus} == {"h20"}
    h200 = detect_hardware(probes_for("h200-1x-real"))
    assert h200.gpus[0].catalogue_key == "h200"


@pytest.mark.parametrize(
    ("name", "gib", "expected"),
    [
        ("NVIDIA H200", 140.4, "h200"),
        ("NVIDIA H200 NVL", 140.4, "h200"),
        ("NVIDIA H20", 95.6, "h20"),
        ("NVIDIA GH200 480GB", 95.0, None),  # another part: token boundaries keep it out
        ("NVIDIA GB200", 184.0, None),
        ("NVIDIA A100-SXM4-80GB", 80.0, "a100-sxm-80gb"),
        ("NVIDIA A100-SXM4-40GB", 40.0, None),
        ("NVIDIA H100 80GB HBM3", 40.0, None),  # name matches, memory says MIG/vGPU
        ("NVIDIA RTX PRO 6000 Blackwell Workstation Edition", 95.6, "rtx-pro-6000"),
        ("NVIDIA B200", 179.1, "b200"),
    ],
)
def test_matching_prefers_the_most_specific_consistent_entry(
    name: str, gib: float, expected: str | None
) -> None:
    raw = RawGPU(index=0, name=name, memory_total_bytes=int(gib * 1024**3))
    found = match_gpu(raw, catalogue())
    assert (found.gpu.key if found.gpu else None) == expected


def test_memory_mismatch_is_explained() -> None:
    raw = RawGPU(index=0, name="NVIDIA H100 80GB HBM3", memory_total_bytes=40 * 1024**3)
    found = match_gpu(raw, catalogue())
    assert found.gpu is None
    assert found.note is not None and "'h100-sxm-80gb'" in found.note and "40.0 GiB" in found.note


def test_unknown_gpu_from_nvml_gets_a_measured_model() -> None:
    hw = detect_hardware(probes_for("unknown-a10g-1x"))
    (gpu,) = hw.gpus
    assert gpu.catalogue_key is None
    assert gpu.bandwidth_source == "estimated"
    assert gpu.memory_bandwidth_gbs == pytest.approx(600.1, abs=0.1)
    assert gpu.max_shared_memory_per_block_kb == 99  # derived from capability 8.6
    assert gpu.gpu is not None
    assert gpu.gpu.key == "unknown-a10g"
    assert gpu.gpu.compute_capability == "8.6"
    assert gpu.gpu.memory_gib == pytest.approx(22.5, abs=0.05)
    assert gpu.gpu.memory_mib == gpu.memory_total_bytes // MIB  # what the driver reported
    assert any("not in the GPU catalogue" in n for n in gpu.notes)
    assert any("estimated from NVML" in n for n in gpu.notes)


def test_unknown_gpu_from_nvidia_smi_says_bandwidth_is_unknown() -> None:
    hw = detect_hardware(probes_for("unknown-l4-1x-smi"))
    (gpu,) = hw.gpus
    assert gpu.gpu is None
    assert gpu.memory_bandwidth_gbs is None and gpu.bandwidth_source == "unknown"
    assert gpu.max_shared_memory_per_block_kb == 99
    assert any("bandwidth unknown" in n for n in gpu.notes)


def test_mixed_host_keeps_indices_per_group() -> None:
    hw = detect_hardware(probes_for("mixed-4090-3090-smi"))
    assert [(g.key, g.indices) for g in hw.groups] == [("rtx-4090", [0]), ("rtx-3090", [1])]
    assert hw.summary()["mixed"] is True


def test_no_gpu_anywhere_is_a_hardware_error() -> None:
    probes = DetectProbes(
        nvml=_unavailable("NVML could not start: NVML Shared Library Not Found"),
        nvidia_smi=_unavailable("nvidia-smi is not on PATH"),
        meminfo=lambda: None,
    )
    with pytest.raises(HardwareError) as caught:
        detect_hardware(probes)
    assert caught.value.exit_code == 5
    assert "NVML Shared Library Not Found" in caught.value.message
    assert "nvidia-smi is not on PATH" in caught.value.message
    assert caught.value.hint is not None and "nvidia-smi" in caught.value.hint


def test_zero_devices_is_a_hardware_error() -> None:
    empty = {"source": "nvml", "driver_version": "580.95.05", "gpus": []}
    probes = DetectProbes(
        nvml=lambda: empty, nvidia_smi=lambda: NvidiaSmiOutput(""), meminfo=lambda: None
    )
    with pytest.raises(HardwareError, match="0 GPUs"):
        detect_hardware(probes)


def test_old_nvidia_smi_without_compute_cap_column() -> None:
    raw = parse_nvidia_smi(
        NvidiaSmiOutput("0, NVIDIA GeForce RTX 3090, 24576, 470.256.02, [N/A]\n")
    )
    assert raw.gpus[0].compute_capability is None and raw.gpus[0].uuid is None
    assert raw.cuda_driver_version is None


def test_cuda_version_from_driver_table_when_nothing_reports_it() -> None:
    probes = DetectProbes(
        nvml=_unavailable("no bindings"),
        nvidia_smi=lambda: NvidiaSmiOutput(
            "0, NVIDIA GeForce RTX 4090, 24564, 8.9, 575.57.08, GPU-x\n", banner=None
        ),
        meminfo=lambda: None,
    )
    hw = detect_hardware(probes)
    assert (hw.cuda_driver_version, hw.cuda_driver_version_source) == ("12.9", "driver table")
    assert hw.host_ram_gib is None


def test_cuda_tables() -> None:
    assert cuda_from_nvml(13000) == "13.0" and cuda_from_nvml(12090) == "12.9"
    assert min_driver_for_cuda("13.0") == "580.65.06"
    assert min_driver_for_cuda("12.9.1") == "575.51.03"
    assert max_cuda_for_driver("580.159.04") == "13.0"
    assert max_cuda_for_driver("570.124.06") == "12.8"
    assert max_cuda_for_driver("400.1") is None
    assert shared_memory_per_block_kb("9.0") == 227
    assert shared_memory_per_block_kb("8.0") == 163
    assert shared_memory_per_block_kb("12.1") == 99
    assert shared_memory_per_block_kb("8.8") == 163  # unlisted minor: nearest lower (8.7)
    assert shared_memory_per_block_kb("4.0") is None


def test_meminfo_parsing() -> None:
    assert parse_meminfo("MemTotal:       131981020 kB\nMemFree: 1 kB\n") == 131981020 * 1024
    assert parse_meminfo("garbage") is None
    assert parse_meminfo(None) is None


# --- the command, in-process -------------------------------------------------------------


@pytest.fixture
def cli() -> Any:
    """The CLI entry point, in-process."""
    from ling_compose.cli import main

    return main


def _use_fixture(monkeypatch: pytest.MonkeyPatch, host: str, **kwargs: bool) -> None:
    from ling_compose.cli import detect

    probes = probes_for(host, **kwargs)
    monkeypatch.setattr(detect, "detect_hardware", lambda: detect_hardware(probes))


def test_cli_detect_table_for_the_real_h200(
    cli: Any, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    _use_fixture(monkeypatch, "h200-1x-real")
    assert cli(["detect"]) == 0
    out, err = capsys.readouterr()
    assert err == ""
    recorded = (FIXTURES / "h200-1x-real" / "detect.txt").read_text().splitlines()
    # The fixture is what the device printed, between the command line and the exit line; host
    # RAM was printed in decimal GB then, in GiB since issue 9 (one unit for memory).
    converted = {"Host RAM: 135.1 GB": "Host RAM: 125.9 GiB"}  # 135,148,564,480 bytes
    assert set(converted) <= set(recorded)
    assert out.splitlines() == [converted.get(line, line) for line in recorded[1:-1]]


def test_cli_detect_json(
    cli: Any, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    _use_fixture(monkeypatch, "mixed-4090-3090-smi")
    assert cli(["detect", "--json"]) == 0
    out, err = capsys.readouterr()
    data = json.loads(out)
    assert err == ""
    assert data["count"] == 2 and data["mixed"] is True
    assert [g["key"] for g in data["groups"]] == ["rtx-4090", "rtx-3090"]
    assert data["source"] == "nvidia-smi"


def test_cli_detect_json_matches_the_device_run(
    cli: Any, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    _use_fixture(monkeypatch, "h200-1x-real")
    assert cli(["detect", "--json"]) == 0
    recorded = json.loads((FIXTURES / "h200-1x-real" / "detect.json").read_text())
    now = json.loads(capsys.readouterr().out)
    # Changed since the recording (issue 9): host RAM in GiB, and the catalogue entry stores the
    # driver's MiB instead of the datasheet's GB. Everything measured is as recorded.
    assert recorded.pop("host_ram_gb") == 135.1 and now.pop("host_ram_gib") == 125.9
    for data in (recorded, now):
        for item in data["gpus"] + data["groups"]:
            item.pop("gpu")
    assert now == recorded
    assert catalogue()["h200"].memory_mib == recorded["gpus"][0]["memory_total_bytes"] // MIB


def test_cli_detect_unknown_gpu_table_says_so(
    cli: Any, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    _use_fixture(monkeypatch, "unknown-a10g-1x")
    assert cli(["detect"]) == 0
    out = capsys.readouterr().out
    assert "(unknown: unknown-a10g)" in out
    assert "600 GB/s (est.)" in out
    assert "note: GPU 0: not in the GPU catalogue" in out


def test_cli_detect_without_gpu_exits_5(
    cli: Any, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from ling_compose.cli import detect

    probes = DetectProbes(
        nvml=_unavailable("NVML could not start: NVML Shared Library Not Found"),
        nvidia_smi=_unavailable("nvidia-smi is not on PATH"),
        meminfo=lambda: None,
    )
    monkeypatch.setattr(detect, "detect_hardware", lambda: detect_hardware(probes))
    assert cli(["detect"]) == 5
    out, err = capsys.readouterr()
    assert out == ""
    assert err.startswith(
        "error: no NVIDIA GPU detected (NVML: NVML could not start: NVML Shared Library Not "
        "Found; nvidia-smi: nvidia-smi is not on PATH)\nHint: install the NVIDIA driver"
    )
