"""Fit rules: what must be refused, with the arithmetic and the nearest layout that works."""

import pytest

from ling_compose import catalog
from ling_compose.compose import compile_stack
from ling_compose.errors import FitError
from ling_compose.loader import Overrides, load_stack
from ling_compose.plan import make_plan


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
    assert "194.0 GiB" in err.message
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
