"""Fit rules: what must be refused, with the arithmetic and the nearest layout that works."""

import pytest

from ling_compose import catalog
from ling_compose.compose import compile_stack
from ling_compose.errors import FitError
from ling_compose.load import Overrides, load_stack
from ling_compose.models.hardware import GIB
from ling_compose.planning import model_facts
from ling_compose.planning.fit import make_plan


@pytest.mark.parametrize("name", list(catalog.builtin_profiles()))
def test_every_builtin_profile_fits(name):
    plan = make_plan(load_stack(name))
    assert plan.fits, plan.problems


def refusal(name: str, **overrides) -> FitError:
    with pytest.raises(FitError) as info:
        compile_stack(load_stack(name, Overrides(**overrides)))
    return info.value


def test_fp8_on_one_h100_is_refused_with_arithmetic_and_alternatives():
    err = refusal("h100-fp8", gpus=1)
    assert "98.4 GiB" in err.message and "H100" in err.message
    assert err.hint is not None
    assert "--gpus 2" in err.hint and "h200-fp8" in err.hint
    assert err.exit_code == 1


def test_bf16_on_one_h200_is_refused():
    err = refusal("h200-bf16", gpus=1)
    assert "200.2 GiB" in err.message  # 194.0 GiB + the 6.16 GiB MTP layer (on for BF16)
    assert "--gpus 2" in (err.hint or "")


def test_fp8_on_one_a100_is_refused():
    assert "98.4 GiB" in refusal("a100-fp8", gpus=1).message


def test_vllm_tensor_parallel_must_be_1_2_or_4():
    err = refusal("h200-fp8", gpus=3, tensor_parallel=3)
    assert "1, 2 or 4" in err.message


def test_vllm_on_a_consumer_gpu_is_refused_for_shared_memory():
    err = refusal("h100-int4", gpu="rtx-pro-6000")
    assert "128.5 KB" in err.message and "99 KB" in err.message


def test_gguf_on_vllm_is_refused():
    assert "GGUF" in refusal("4090-int4", engine="vllm").message


def test_guide_host_ram_for_int4_is_refused():
    err = refusal("4090-int4", host_ram_gib=32)
    assert "host RAM" in err.message


def test_context_beyond_yarn_limit_is_refused():
    err = refusal("h200-fp8", context_length=300_000)
    assert "262144" in err.message
    assert "--context-length 262144" in (err.hint or "")


def test_too_many_llamacpp_slots_suggest_the_slots_that_fit():
    # llama.cpp splits --ctx-size across --parallel slots: each slot holds a full context.
    err = refusal("4090-int4", concurrency=200)
    assert "200 slot(s) x context 32768" in err.message
    hint = err.hint or ""
    slots = int(hint.split("--concurrency ")[1].split(";")[0])
    assert make_plan(load_stack("4090-int4", Overrides(concurrency=slots))).fits
    assert not make_plan(load_stack("4090-int4", Overrides(concurrency=slots + 1))).fits


def test_more_vllm_sequences_than_the_pool_holds_start_with_a_warning():
    # vLLM shares one pool: it starts as long as one full-length sequence fits, and queues or
    # preempts the rest (v1/core/kv_cache_planning.py checks one max_model_len request).
    plan = make_plan(load_stack("h100-int4", Overrides(concurrency=1000)))
    assert plan.fits
    assert any("queues or preempts" in w for w in plan.warnings)


def test_offloaded_decode_ceiling_is_below_the_guides_80_tok_s():
    # facts §4: ~80 GB/s host RAM bounds decode near 40-60 tok/s; the guide claims 80-120.
    plan = make_plan(load_stack("4090-int4"))
    assert plan.throughput.bound_by.startswith("host RAM")
    assert plan.throughput.single_stream_tok_s < 80


def test_single_stream_ceiling_is_bandwidth_over_bytes_per_token():
    plan = make_plan(load_stack("h200-fp8"))
    expected = 4800 / plan.throughput.active_gb_per_token
    assert plan.throughput.single_stream_tok_s == pytest.approx(expected, rel=0.01)


def test_tensor_parallel_splits_weights_evenly():
    plan = make_plan(load_stack("h100-fp8"))
    assert plan.gpu.weights == pytest.approx(98.37 / 2, abs=0.01)


def test_plan_lists_problems_without_raising():
    plan = make_plan(load_stack("h100-fp8", Overrides(gpus=1)))
    assert not plan.fits and plan.problems


# -- issue 9 item 1: running sequences share a KV pool; each holds its own state ---------------


def test_the_issues_arithmetic_for_one_full_length_sequence():
    from ling_compose.engines.base import shared_pool
    from ling_compose.models.plan import CacheDemand

    kv = model_facts.kv_bytes_per_token(fp8_cache=False) * 131_072 / GIB
    assert kv == 0.5625  # 4 MLA layers x 576 x 2 B x 131072
    fp32_state = model_facts.LINEAR_STATE_VALUES_PER_SEQ * 4 / GIB
    assert fp32_state == pytest.approx(0.055, abs=0.001)
    # The issue's figures: 19.44 GiB of cache budget holds about 31 full-length sequences, and
    # 64 of them need ~39.5 GiB (the old planner said 345 fit and 64 need 2.31 GiB).
    pool = shared_pool(CacheDemand(19.44, kv, fp32_state, 4608, 131_072, 64), note="")
    assert pool.sequences_at_full_context == 31
    assert 64 * (kv + fp32_state) == pytest.approx(39.5, abs=0.05)


def test_h200_fp8_sequences_at_full_context_from_the_measured_total():
    # Independent of the planner's code path: CUDA total of the capture x 0.92 - weights -
    # reserve, divided by KV + vLLM's bf16 state per sequence.
    import json
    from pathlib import Path

    capture = json.loads(
        (Path(__file__).parents[1] / "fixtures/gpus/h200-1x-real/capture.json").read_text()
    )
    budget = capture["cuda"]["mem_get_info_total_bytes"] * 0.92 / GIB - 98.37 - 3.0
    per_seq = 0.5625 + 28 * 1024**2 / GIB
    plan = make_plan(load_stack("h200-fp8"))
    assert plan.gpu.cache_budget == pytest.approx(budget, abs=1e-9)
    assert plan.sequences_at_full_context == int(budget / per_seq) == 46
    # vLLM's own "GPU KV cache size" is max concurrency x max_model_len (kv_cache_utils.py).
    assert plan.kv_pool_tokens == int(budget / per_seq * 131_072)


def test_sglang_splits_its_budget_between_state_and_kv_pools():
    plan = make_plan(load_stack("h200-bf16", Overrides(mtp=False)))
    g = plan.gpu
    assert g.state_pool == pytest.approx(g.cache_budget * 0.9 / 1.9)
    assert g.kv_pool == pytest.approx(g.cache_budget / 1.9)
    assert plan.kv_pool_tokens == int(g.kv_pool * GIB / 4608)
    assert plan.sequences_at_full_context == plan.kv_pool_tokens // 131_072
    # SGLang keeps the state in fp32, split across the two tensor-parallel ranks by heads.
    assert g.state_per_seq == pytest.approx(56 * 1024**2 / 2 / GIB)


@pytest.mark.parametrize("name", list(catalog.builtin_profiles()))
def test_builtin_running_caps_are_chosen_from_the_sequences_that_fit(name):
    compiled = compile_stack(load_stack(name))
    plan = compiled.plan
    assert 1 <= plan.concurrency <= plan.sequences_at_full_context
    assert not [w for w in plan.warnings if "queues or preempts" in w]
    command = compiled.project.services["server"].command
    flag = {"vllm": "--max-num-seqs", "sglang": "--max-running-requests", "llamacpp": "--parallel"}
    assert command[command.index(flag[plan.engine]) + 1] == str(plan.concurrency)


def test_llamacpp_ctx_size_gives_every_slot_its_full_context():
    # b11434 src/llama-context.cpp: n_ctx_seq = n_ctx / n_seq_max unless --kv-unified.
    compiled = compile_stack(load_stack("4090-int4", Overrides(concurrency=2)))
    command = compiled.project.services["server"].command
    ctx, slots = (
        int(command[command.index("--ctx-size") + 1]),
        int(command[command.index("--parallel") + 1]),
    )
    assert ctx // slots == compiled.plan.context_length
    assert compiled.plan.kv_pool_tokens == ctx


def test_header_show_and_plan_report_the_same_corrected_figures(capsys):
    from ling_compose.cli import main

    plan = make_plan(load_stack("h200-fp8"))
    assert main(["render", "h200-fp8"]) == 0
    header = " ".join(
        line[2:] for line in capsys.readouterr().out.splitlines() if line.startswith("# ")
    )
    assert f"holds {plan.sequences_at_full_context} sequences at full context 131072" in header
    assert f"{plan.kv_pool_tokens:,} tokens in the KV pool" in header
    assert main(["show", "h200-fp8"]) == 0
    assert f"{plan.sequences_at_full_context} fit at full context 131072" in capsys.readouterr().out
    assert main(["plan", "h200-fp8"]) == 0
    out = capsys.readouterr().out
    assert f"sequences at full context 131072: {plan.sequences_at_full_context}" in out
    assert f"tokens in the KV pool: {plan.kv_pool_tokens:,}" in out
    assert "most sequences at context" not in out


# -- issue 9 item 5: versions compare in PEP 440 order -----------------------------------------


@pytest.mark.parametrize(
    ("version", "minimum", "below"),
    [
        ("0.20.2rc1", "0.20.2", True),
        ("0.20.2", "0.20.2", False),
        ("0.20.10", "0.20.2", False),
        ("0.5.10", "0.5.10.post1", True),
        ("0.5.10.post1", "0.5.10.post1", False),
        ("v0.5.11", "0.5.10.post1", False),
    ],
)
def test_versions_compare_in_pep440_order(version, minimum, below):

    from ling_compose.engines.base import version_below

    assert version_below(version, minimum) is below


def test_release_candidate_and_pre_post_release_are_refused(tmp_path):
    from ling_compose.load import load_stack as load

    profiles = tmp_path / "p.yml"
    profiles.write_text(
        "profiles:\n"
        "  rc: {description: x, hardware: {gpu: h200, count: 1}, checkpoint: ling-2.6-flash-fp8,"
        " backend: {engine: vllm, version: '0.20.2rc1'}}\n"
        "  pre: {description: x, hardware: {gpu: h200, count: 2}, checkpoint: ling-2.6-flash-bf16,"
        " backend: {engine: sglang, version: '0.5.10'}}\n"
    )
    assert (
        "vLLM 0.20.2rc1 predates 0.20.2"
        in make_plan(load("rc", profiles_file=profiles)).problems[0]
    )
    assert (
        "SGLang 0.5.10 predates 0.5.10.post1"
        in make_plan(load("pre", profiles_file=profiles)).problems[0]
    )


def test_driver_versions_compare_numerically():
    from ling_compose.hardware.cuda import cuda_at_least, max_cuda_for_driver

    assert max_cuda_for_driver("580.65.06") == "13.0"
    assert max_cuda_for_driver("580.65.5") == "12.9"  # 65.5 < 65.06 (= 65.6)
    assert cuda_at_least("12.10", "12.9")  # tuple order, not string order


def test_readme_states_host_ram_in_the_unit_and_figure_plan_prints():
    # Issue 9 item 16: README said "~47 GB", plan 43.4 GiB, doctor 47 GB.
    import re
    from pathlib import Path

    readme = (Path(__file__).parents[2] / "README.md").read_text()
    (stated,) = re.findall(r"host RAM \(([0-9.]+) GiB of it", readme)
    for name in ("3090-int4", "4090-int4"):
        host = make_plan(load_stack(name)).host
        assert host is not None and f"{host.needed:.1f}" == stated
