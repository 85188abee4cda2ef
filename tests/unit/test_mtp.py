"""Issue 14 part 1: MTP speculative decoding on where the checkpoint and the engine support it,
off with the reason elsewhere, and the planner's memory, caps and speed-up range."""

from __future__ import annotations

import json

import pytest

from ling_compose import catalog
from ling_compose.cli import main
from ling_compose.compose import compile_stack
from ling_compose.engines import registry
from ling_compose.errors import ConfigError
from ling_compose.flags.lint import check_args
from ling_compose.load import Overrides, load_stack
from ling_compose.models.hardware import GB, GIB
from ling_compose.planning import model_facts, speculative
from ling_compose.planning.fit import make_plan


def _command(name: str, **overrides: object) -> list[str]:
    stack = load_stack(name, Overrides(**overrides) if overrides else None)  # type: ignore[arg-type]
    return list(compile_stack(stack).project.services["server"].command)


def _value(command: list[str], flag: str) -> str:
    return command[command.index(flag) + 1]


# -- on where the checkpoint ships the layer and the engine runs it; off with the reason ------


@pytest.mark.parametrize("name", ["h200-bf16", "4xh100-bf16", "4xh20-bf16"])
def test_bf16_sglang_profiles_run_nextn_with_all_three_numbers(name):
    command = _command(name)
    assert _value(command, "--speculative-algorithm") == "NEXTN"
    steps = int(_value(command, "--speculative-num-steps"))
    # SGLang asserts all-or-none of these three; a chain (top-k 1) verifies steps + 1 tokens.
    assert _value(command, "--speculative-eagle-topk") == "1"
    assert int(_value(command, "--speculative-num-draft-tokens")) == steps + 1
    assert steps == 3  # the vendor recipe's (3, 1, 4), which SGLang also picks by itself
    # Draft path defaults to the target; 0.5.23 has no --mamba-scheduler-strategy.
    assert "--speculative-draft-model-path" not in command
    assert "--mamba-scheduler-strategy" not in command


def test_fp8_stays_off_because_its_index_is_unverified_and_says_so():
    plan = make_plan(load_stack("h200-fp8"))
    assert not plan.mtp.on and plan.mtp_gain is None
    assert "model.safetensors.index.json" in plan.mtp.why and "unverified" in plan.mtp.why
    assert "--speculative-config" not in _command("h200-fp8")


def test_fp8_with_mtp_emits_the_vllm_json_and_warns():
    command = _command("h200-fp8", mtp=True, speculative_tokens=2)
    config = json.loads(_value(command, "--speculative-config"))
    # "mtp", not the deprecated bailing_hybrid_mtp; the token count must be explicit.
    assert config == {"method": "mtp", "num_speculative_tokens": 2}
    plan = make_plan(load_stack("h200-fp8", Overrides(mtp=True)))
    assert plan.mtp.on and plan.mtp.tokens == 1
    assert any("unverified" in w and "--no-mtp" in w for w in plan.warnings)


def test_no_mtp_turns_a_default_on_off():
    command = _command("h200-bf16", mtp=False)
    assert "--speculative-algorithm" not in command
    assert make_plan(load_stack("h200-bf16", Overrides(mtp=False))).mtp.why.startswith("off")


def test_gguf_stays_off_for_the_forks_measured_slowdown():
    plan = make_plan(load_stack("4090-int4"))
    assert not plan.mtp.on and "slower" in plan.mtp.why
    assert "--spec-type" not in _command("4090-int4")


@pytest.mark.parametrize("name", list(catalog.builtin_profiles()))
def test_show_plan_and_header_say_whether_mtp_is_on_and_why(name, capsys):
    why = make_plan(load_stack(name)).mtp.why
    assert main(["render", name]) == 0
    lines = capsys.readouterr().out.splitlines()
    header = " ".join(line[2:] for line in lines if line.startswith("# "))
    assert "Speculative decoding (MTP): " + why.split(";")[0] in header
    assert main(["show", name]) == 0
    assert why.split(";")[0] in capsys.readouterr().out
    assert main(["plan", name]) == 0
    assert "speculative decoding (MTP): " + why in capsys.readouterr().out


# -- refusals -------------------------------------------------------------------------------


def test_int4_with_mtp_is_refused_with_vllms_error_and_a_way_out(capsys):
    assert main(["render", "h100-int4", "--mtp"]) == 1
    err = capsys.readouterr().err
    assert "error: MTP speculative decoding cannot run here" in err
    assert "Ling-2.6-flash-int4 ships no MTP weights" in err
    assert "layer 32 weights are missing from checkpoint" in err
    hint = next(line for line in err.splitlines() if line.startswith("Hint: "))
    assert "drop --mtp" in hint and "--checkpoint ling-2.6-flash-bf16" in hint
    with pytest.raises(ConfigError, match="cannot run here"):
        compile_stack(load_stack("h100-int4", Overrides(speculative_tokens=2)))


@pytest.mark.parametrize("value", ["0", "9", "two"])
def test_speculative_tokens_out_of_bounds_exit_2(value, capsys):
    assert main(["render", "h200-bf16", "--speculative-tokens", value]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and "--speculative-tokens" in err.splitlines()[0]


def test_speculative_tokens_without_mtp_on_fp8_asks_for_mtp(capsys):
    assert main(["render", "h200-fp8", "--speculative-tokens", "2"]) == 1
    err = capsys.readouterr().err
    assert "needs MTP" in err and "Hint: add --mtp" in err


def test_llamacpp_with_mtp_is_refused(capsys):
    assert main(["render", "4090-int4", "--mtp"]) == 1
    assert "llama.cpp runs no MTP here" in capsys.readouterr().err


def test_an_engine_version_below_the_verified_one_refuses_mtp():
    stack = load_stack("h200-bf16")
    older = stack.model_copy(
        update={"backend": stack.backend.model_copy(update={"version": "0.5.10.post1"})}
    )
    assert not speculative.decide(older).on and "verified at SGLang 0.5.23" in (
        speculative.decide(older).why
    )


def test_extra_args_cannot_override_the_speculative_flags():
    with pytest.raises(ConfigError, match="--speculative-num-steps"):
        compile_stack(load_stack("h200-bf16", Overrides(extra_args=["--speculative-num-steps=5"])))


# -- the planner: weights, KV, draft state, caps --------------------------------------------


def test_mtp_adds_its_layer_its_kv_layer_and_vllms_draft_state():
    off = make_plan(load_stack("h200-fp8"))
    on = make_plan(load_stack("h200-fp8", Overrides(mtp=True, speculative_tokens=2)))
    assert on.gpu.weights - off.gpu.weights == pytest.approx(3.10)  # the FP8 MTP file, TP 1
    assert on.gpu.kv_bytes_per_token == 5 * 576 * 2 == off.gpu.kv_bytes_per_token * 1.25
    # vLLM keeps 1 + k linear-state blocks per sequence (MambaSpec, num_speculative_blocks = k).
    assert on.gpu.state_per_seq == pytest.approx(3 * off.gpu.state_per_seq)
    per_seq = 131_072 * 5760 / GIB + 3 * off.gpu.state_per_seq
    assert on.sequences_at_full_context == int(on.gpu.cache_budget / per_seq)


def test_sglang_reserves_draft_states_in_every_state_slot():
    off = make_plan(load_stack("h200-bf16", Overrides(mtp=False)))
    on = make_plan(load_stack("h200-bf16"))
    assert on.gpu.mtp_weights == pytest.approx(6.16 / 2)
    # kv_cache_configurator.py: slots = state budget / (state x (1 + D / 5)), D = 4 draft
    # tokens, and 5 slots per running request: (5 + 4) states per running request.
    state = off.gpu.state_per_seq
    assert on.running_cap == int(on.gpu.state_pool / (state * (1 + 4 / 5))) // 5
    assert on.running_cap < off.running_cap


@pytest.mark.parametrize("name", ["h200-bf16", "4xh100-bf16", "4xh20-bf16"])
def test_caps_of_the_mtp_profiles_are_rederived_with_it(name):
    plan = make_plan(load_stack(name))
    assert plan.mtp.on
    # profiles.yaml's rule: sequences at full context, rounded down to a multiple of 8.
    assert plan.concurrency == plan.sequences_at_full_context // 8 * 8
    assert not [w for w in plan.warnings if "queues or preempts" in w]


# -- the speed-up: an assumption turned into a range beside the ceilings ---------------------


def test_tokens_per_step_is_the_geometric_sum():
    assert speculative.tokens_per_step(0.8, 1) == pytest.approx(1.8)
    assert speculative.tokens_per_step(0.8, 3) == pytest.approx(1 + 0.8 + 0.64 + 0.512)


def test_single_stream_range_matches_the_arithmetic_by_hand():
    plan = make_plan(load_stack("h200-fp8", Overrides(mtp=True)))
    gain = plan.mtp_gain
    assert gain is not None and gain.acceptance == (0.6, 0.8, 0.9)
    ckpt = load_stack("h200-fp8").checkpoint
    # Independent of fit.py: one sequence reads the non-expert weights and 8 of 256 experts;
    # verifying 2 tokens reads the experts 2 tokens touch; a draft step reads the MTP layer's
    # ~0.19 B active parameters and the 0.64 B-parameter BF16 LM head.
    other = model_facts.other_weights_gib(ckpt) * GIB / GB
    experts = model_facts.routed_expert_gib(ckpt) * GIB / GB
    plain = other + experts * (8 / 256)
    wide = other + experts * (1 - (1 - 8 / 256) ** 2)
    active_mtp = 3.31e9 - 256 * 3 * 4096 * 1024 * (248 / 256)  # all but 248 idle experts
    draft = (active_mtp * 3.10 * GIB / 3.31e9 + 157_184 * 4096 * 2) / GB
    low, high = 1.8 * plain / (wide + draft), 1.8 * plain / (plain + draft)
    assert gain.single_stream_speedup == pytest.approx((low, high), rel=0.01)
    # The research note's figures for k = 1 at 0.8: about 1.2x to 1.6x.
    assert 1.15 < low < 1.3 and 1.5 < high < 1.7
    ceiling = plan.throughput.single_stream_tok_s_achievable
    assert gain.single_stream_tok_s_achievable == pytest.approx((ceiling * low, ceiling * high))
    # Above the one-read-per-token ceiling: several tokens per read of the weights.
    assert gain.single_stream_tok_s_achievable[0] > ceiling


def test_plan_labels_the_acceptance_as_an_assumption(capsys):
    assert main(["plan", "h200-bf16"]) == 0
    out = capsys.readouterr().out
    assert "ASSUMPTION: 0.8 of drafts accepted (0.6-0.9; not measured" in out
    assert "above the one-read-per-token ceiling" in out


def test_every_engine_says_whether_it_runs_mtp():
    for engine in registry.engines():
        assert (engine.mtp_min_version is None) == (engine.name == "llamacpp")


@pytest.mark.parametrize("engine_name", ["vllm", "sglang"])
@pytest.mark.parametrize("tokens", [1, 3, 8])
def test_the_pinned_parsers_catalogues_accept_the_emitted_flags(engine_name, tokens):
    engine = registry.get(engine_name)
    args = [str(a) for a in engine.mtp_args(tokens)]
    result = check_args(engine_name, engine.pinned_version, args)
    assert not result.errors and not result.warnings
    # The same check refuses what the parser would: vLLM's value is JSON, SGLang's an int.
    bad = [args[0], "{method: mtp}"] if engine_name == "vllm" else [args[2], "three"]
    assert check_args(engine_name, engine.pinned_version, bad).errors


def test_mtp_with_pipeline_parallel_warns_of_what_is_not_planned():
    plan = make_plan(load_stack("4xh100-bf16", Overrides(tensor_parallel=2, pipeline_parallel=2)))
    assert plan.mtp.on
    assert any("pipeline parallel 2" in w and "unverified" in w for w in plan.warnings)
    assert not [w for w in make_plan(load_stack("4xh100-bf16")).warnings if "pipeline" in w]
