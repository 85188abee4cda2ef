"""Ranking layouts for a host's GPUs, `recommend` and `render auto` (detection injected)."""

import pytest
import yaml

from ling_compose import catalog
from ling_compose.cli import main
from ling_compose.hardware.detect import DetectedGPU, DetectedHardware
from ling_compose.load import load_stack
from ling_compose.models.hardware import GPU
from ling_compose.planning.fit import make_plan
from ling_compose.planning.recommend import recommend

GPUS = catalog.gpus()


def test_one_h200_gets_fp8_and_bf16_is_rejected_for_memory():
    ranked = recommend([(GPUS["h200"], 1)], host_ram_gib=256)
    assert ranked[0].label == "h200-fp8" and ranked[0].fits
    bf16 = next(c for c in ranked if c.stack.checkpoint.precision == "bf16")
    assert not bf16.fits and "200.2 GiB" in bf16.rejected_because[0]  # with the MTP layer


def test_four_h100_prefer_bf16():
    ranked = recommend([(GPUS["h100-sxm-80gb"], 4)], host_ram_gib=512)
    assert ranked[0].stack.checkpoint.precision == "bf16" and ranked[0].fits
    assert ranked[0].stack.hardware.count == 4


def test_one_4090_gets_the_offloaded_gguf_profile_and_reasons_for_the_rest():
    ranked = recommend([(GPUS["rtx-4090"], 1)], host_ram_gib=64)
    assert [c.label for c in ranked if c.fits] == ["4090-int4"]
    vllm = [c for c in ranked if c.stack.backend.engine == "vllm"]
    assert vllm and all(any("shared memory" in r for r in c.rejected_because) for c in vllm)


def test_small_host_ram_rejects_everything_on_a_4090():
    assert not any(c.fits for c in recommend([(GPUS["rtx-4090"], 1)], host_ram_gib=32))


def test_a_measured_unknown_gpu_is_planned_from_its_figures():
    odd = GPU(
        key="unknown-gpu-192gb",
        name="Future GPU",
        memory_mib=192 * 1024,
        memory_source="measured by detect",
        memory_verified=True,
        compute_capability="10.0",
        memory_bandwidth_gbs=6000,
        max_shared_memory_per_block_kb=227,
    )
    ranked = recommend([(odd, 1)], host_ram_gib=256)
    assert ranked[0].fits and ranked[0].stack.hardware.gpu == odd


def fake_host(gpu_key: str, count: int, ram_gib: float = 256) -> DetectedHardware:
    gpu = GPUS[gpu_key]
    return DetectedHardware(
        source="nvidia-smi",
        driver_version="580.65.06",
        gpus=[
            DetectedGPU(
                index=i,
                name=gpu.name,
                memory_total_bytes=gpu.memory_mib * 1024**2,
                compute_capability=gpu.compute_capability,
                catalogue_key=gpu_key,
                gpu=gpu,
            )
            for i in range(count)
        ],
        host_ram_bytes=int(ram_gib * 1024**3),
    )


@pytest.fixture
def host(monkeypatch):
    def use(gpu_key: str, count: int, ram_gib: float = 256) -> None:
        monkeypatch.setattr(
            "ling_compose.cli.recommend.detect_hardware",
            lambda: fake_host(gpu_key, count, ram_gib),
        )

    return use


def test_render_auto_picks_the_best_fit_and_says_why(host, capsys):
    host("h100-sxm-80gb", 2)
    assert main(["render", "auto"]) == 0
    out, err = capsys.readouterr()
    command = yaml.safe_load(out)["services"]["server"]["command"]
    assert command[0] == "inclusionAI/Ling-2.6-flash-fp8"
    assert "auto: chose `h100-fp8`" in err


def test_render_auto_keeps_user_overrides(host, capsys):
    host("h200", 1)
    assert main(["render", "auto", "--context-length", "65536"]) == 0
    command = yaml.safe_load(capsys.readouterr().out)["services"]["server"]["command"]
    assert command[command.index("--max-model-len") + 1] == "65536"


def test_render_auto_on_a_host_where_nothing_fits_exits_5(host, capsys):
    host("rtx-4090", 1, ram_gib=16)
    assert main(["render", "auto"]) == 5
    err = capsys.readouterr().err
    assert "no layout of Ling-2.6-flash fits this host" in err and "Hint:" in err


def test_recommend_lists_rejections_with_all(host, capsys):
    host("rtx-4090", 1, ram_gib=64)
    assert main(["recommend", "--all"]) == 0
    out = capsys.readouterr().out
    assert "render 4090-int4" in out and "rejected: vLLM's Lightning-attention kernel" in out


def test_recommend_on_the_recorded_h200_prints_what_the_device_printed(monkeypatch, capsys):
    """tests/fixtures/gpus/h200-1x-real: detection inputs and the output captured on the H200."""
    import json
    from pathlib import Path

    from ling_compose.hardware.detect import DetectProbes, detect_hardware

    folder = Path(__file__).resolve().parent.parent / "fixtures" / "gpus" / "h200-1x-real"
    probes = DetectProbes(
        nvml=lambda: json.loads((folder / "probe-nvml.json").read_text()),
        meminfo=lambda: (folder / "meminfo.txt").read_text(),
    )
    monkeypatch.setattr(
        "ling_compose.cli.recommend.detect_hardware", lambda: detect_hardware(probes)
    )
    assert main(["recommend"]) == 0
    recorded = (folder / "recommend-plan.txt").read_text().split("\n[exit 0]")[0]

    # The ranking, commands and verdicts are as the device printed them. The CEILING column
    # changed with issue 9: the profiles' concurrency is now chosen from the sequences that fit
    # at full context (h200-fp8: 40, not 64), so each aggregate ceiling is recomputed here.
    def without_ceiling(lines: list[str]) -> list[list[str]]:
        rows = [line.split("  ") for line in lines]
        return [
            [cell.strip() for cell in row if cell.strip() and "tok/s" not in cell] for row in rows
        ]

    out = capsys.readouterr().out.splitlines()
    assert without_ceiling(out) == without_ceiling(recorded.splitlines()[1:-1])
    plan = make_plan(load_stack("h200-fp8"))
    assert f"{plan.throughput.aggregate_tok_s:.0f} tok/s @ {plan.concurrency}" in out[1]
