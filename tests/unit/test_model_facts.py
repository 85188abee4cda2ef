"""Planner constants checked against the published figures in shared/facts/ling-2.6-flash.md."""

import pytest

from ling_compose import catalog
from ling_compose.models.hardware import GIB
from ling_compose.planning import model_facts


def test_kv_cache_per_token_is_4608_bytes_in_bf16_and_half_in_fp8():
    assert model_facts.KV_BYTES_PER_TOKEN_BF16 == 4608
    assert model_facts.kv_bytes_per_token(fp8_cache=True) == 2304


@pytest.mark.parametrize(("tokens", "gib"), [(32_768, 0.14), (131_072, 0.56), (262_144, 1.13)])
def test_kv_cache_per_sequence_matches_published_figures(tokens, gib):
    assert model_facts.kv_bytes_per_token(False) * tokens / GIB == pytest.approx(gib, abs=0.01)


def test_linear_attention_state_is_56_mib_in_fp32_and_28_mib_in_bf16_per_sequence():
    assert model_facts.LINEAR_STATE_VALUES_PER_SEQ == 28 * 32 * 128 * 128
    assert model_facts.LINEAR_STATE_VALUES_PER_SEQ * 4 == 56 * 1024**2
    assert model_facts.LINEAR_STATE_VALUES_PER_SEQ * 2 == 28 * 1024**2


def test_hybrid_layout_has_four_mla_layers():
    mla = [i for i in range(model_facts.NUM_LAYERS) if (i + 1) % 8 == 0]
    assert mla == [7, 15, 23, 31]
    assert len(mla) == model_facts.MLA_LAYERS


def test_routed_and_other_params_reproduce_total_and_active():
    routed = model_facts.ROUTED_EXPERT_PARAMS
    other = model_facts.TOTAL_PARAMS - routed
    active = other + routed * model_facts.EXPERTS_PER_TOKEN / model_facts.NUM_EXPERTS
    assert active == pytest.approx(7.4e9, rel=1e-9)
    assert routed == pytest.approx(99.7e9, rel=0.01)


@pytest.mark.parametrize(
    ("key", "weights_gib", "disk_gib"),
    [
        ("ling-2.6-flash-fp8", 98.37, 98.37 + 3.10),
        ("ling-2.6-flash-int4", 60.38, 60.38),
        ("ling-2.6-flash-bf16", 194.0, 200.23),
    ],
)
def test_checkpoint_sizes_match_the_model_pages(key, weights_gib, disk_gib):
    ckpt = catalog.checkpoints()[key]
    assert ckpt.weights_gib == pytest.approx(weights_gib, abs=0.01)
    assert ckpt.size_on_disk_gib == pytest.approx(disk_gib, abs=0.01)


def test_int4_split_reproduces_its_file_size():
    # int4 experts at 4.5 bits + everything else BF16 should land near the 64.9 GB file.
    ckpt = catalog.checkpoints()["ling-2.6-flash-int4"]
    other_params = model_facts.TOTAL_PARAMS - model_facts.ROUTED_EXPERT_PARAMS
    assert model_facts.other_weights_gib(ckpt) * GIB / 2 == pytest.approx(other_params, rel=0.15)


def test_expert_offload_reads_about_two_gb_per_token_from_host_ram():
    ckpt = catalog.checkpoints()["ling-2.6-flash-gguf-iq4nl"]
    routed_per_token_gb = model_facts.routed_expert_gib(ckpt) * GIB / 1e9 * 8 / 256
    assert 1.5 < routed_per_token_gb < 2.0  # facts §4: ~1.9 GB
