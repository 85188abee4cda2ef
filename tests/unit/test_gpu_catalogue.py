"""GPU memory and bandwidth as the driver and a real card report them, checked against the
capture recorded on a real H200 (tests/fixtures/gpus/h200-1x-real/capture.json, written by
tools/gpu_capture.py)."""

import json
from pathlib import Path

import pytest

from ling_compose import catalog
from ling_compose.load import load_stack
from ling_compose.models.hardware import (
    ACHIEVABLE_READ_FRACTION_MEASURED,
    DRIVER_RESERVED_BYTES_MEASURED,
    GIB,
    MIB,
)
from ling_compose.planning.fit import make_plan

CAPTURE = json.loads(
    (Path(__file__).parents[1] / "fixtures/gpus/h200-1x-real/capture.json").read_text()
)
GPUS = catalog.gpus()


def test_the_capture_is_the_h200_the_issue_describes() -> None:
    # Issue 9: nvidia-smi 143,771 MiB; NVML 150,754,820,096 B; CUDA total 139.80 GiB, free 139.29.
    assert CAPTURE["nvidia_smi"][0]["memory.total"] == "143771"
    assert CAPTURE["nvml"]["memory_total_bytes"] == 150_754_820_096
    assert CAPTURE["cuda"]["mem_get_info_total_bytes"] / GIB == pytest.approx(139.80, abs=0.005)
    assert CAPTURE["cuda"]["mem_get_info_free_bytes"] / GIB == pytest.approx(139.29, abs=0.005)


def test_h200_catalogue_entry_is_what_the_driver_and_cuda_reported() -> None:
    h200 = GPUS["h200"]
    assert h200.memory_mib == int(CAPTURE["nvidia_smi"][0]["memory.total"])
    assert h200.memory_mib == CAPTURE["nvml"]["memory_total_bytes"] // MIB
    assert h200.cuda_total_bytes == CAPTURE["cuda"]["mem_get_info_total_bytes"]
    assert h200.memory_verified and "capture.json" in h200.memory_source


def test_planner_total_for_the_h200_is_the_cuda_total_of_the_capture() -> None:
    # vLLM requests ceil(total x --gpu-memory-utilization) of what CUDA reports as total
    # (vllm/v1/worker/utils.py request_memory, v0.33.0): 0.92 x 139.80 GiB, not 0.92 x 131.3.
    plan = make_plan(load_stack("h200-fp8"))
    cuda_total = CAPTURE["cuda"]["mem_get_info_total_bytes"] / GIB
    assert plan.gpu.total == pytest.approx(cuda_total, abs=1e-9)
    assert plan.gpu.usable == pytest.approx(0.92 * cuda_total, abs=1e-9)
    assert plan.gpu.total_note == "CUDA total, measured"


def test_estimates_for_unmeasured_gpus_use_the_reserve_measured_on_the_h200() -> None:
    nvml, cuda = CAPTURE["nvml"]["memory_total_bytes"], CAPTURE["cuda"]["mem_get_info_total_bytes"]
    assert nvml - cuda == DRIVER_RESERVED_BYTES_MEASURED  # nvidia-smi -q: "Reserved 616 MiB"
    h100 = GPUS["h100-sxm-80gb"]
    assert h100.cuda_total_bytes is None
    assert h100.cuda_total_gib == pytest.approx((81559 * MIB - (nvml - cuda)) / GIB)
    plan = make_plan(load_stack("h100-fp8"))
    assert "estimated" in plan.gpu.total_note


def test_every_memory_figure_names_its_source_and_unverified_ones_warn() -> None:
    for gpu in GPUS.values():
        assert gpu.memory_source
        assert gpu.memory_verified == (not gpu.memory_source.startswith("unverified"))
    plan = make_plan(load_stack("4xh20-bf16"))  # the H20's MiB figure is not verified
    assert any("unverified" in w and "H20" in w for w in plan.warnings)


def test_h200_bandwidth_ceilings_datasheet_and_measured() -> None:
    bw = CAPTURE["bandwidth"]
    read = bw["tensor_bytes"] / sorted(bw["read_seconds"])[len(bw["read_seconds"]) // 2] / 1e9
    h200 = GPUS["h200"]
    assert h200.memory_bandwidth_gbs == 4800  # datasheet: the physical ceiling
    assert h200.measured_read_gbs == pytest.approx(read, abs=1)
    t = make_plan(load_stack("h200-fp8")).throughput
    assert (t.datasheet_gbs, t.achievable_gbs) == (4800, h200.measured_read_gbs)
    assert t.achievable_note.startswith("measured: ") and "capture.json" in t.achievable_note
    # Decode is bandwidth-bound: the ceiling scales with the bandwidth it assumes.
    ratio = t.single_stream_tok_s_achievable / t.single_stream_tok_s
    assert ratio == pytest.approx(h200.measured_read_gbs / 4800, rel=1e-9)


def test_unmeasured_gpus_use_the_measured_fraction_and_say_so() -> None:
    assert (
        pytest.approx(GPUS["h200"].measured_read_gbs / GPUS["h200"].memory_bandwidth_gbs)
        == ACHIEVABLE_READ_FRACTION_MEASURED
    )
    t = make_plan(load_stack("h100-fp8")).throughput
    assert t.achievable_gbs == pytest.approx(3350 * ACHIEVABLE_READ_FRACTION_MEASURED)
    assert t.achievable_note.startswith("not measured: datasheet x 0.875")


def test_catalogue_memory_matches_the_recorded_h200_probe() -> None:
    # detect maps the real H200's NVML reading onto the catalogue entry with that figure.
    from ling_compose.hardware.matching import match_gpu
    from ling_compose.hardware.raw import RawGPU

    raw = RawGPU(
        index=0, name="NVIDIA H200", memory_total_bytes=CAPTURE["nvml"]["memory_total_bytes"]
    )
    found = match_gpu(raw, GPUS)
    assert found.gpu is not None and found.gpu.key == "h200"
