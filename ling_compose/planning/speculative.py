"""MTP speculative decoding: whether a stack runs it, how many draft tokens, and what it is
expected to gain (pure).

Ling-2.6-flash has one multi-token-prediction layer. With it on, each decode step drafts `k`
tokens with that layer (run k times) and the target model verifies them in one pass, which
keeps the accepted ones plus one of its own. The decision needs two facts from two places: the
checkpoint ships the layer (catalog/checkpoints.yaml `has_mtp`, `mtp_note`) and the engine
version runs it (the engine module's `mtp_*`). The gain needs a third that no source read for
this model gives: how often a draft is accepted. It is an ASSUMPTION, said as one wherever it is
printed (docs/performance.md "MTP" cites where the range comes from).
"""

from __future__ import annotations

from collections.abc import Callable

from ling_compose import catalog
from ling_compose.engines import registry
from ling_compose.models.hardware import GB, GIB
from ling_compose.models.overrides import FLAG_OF_FIELD
from ling_compose.models.plan import MtpChoice, MtpGain
from ling_compose.models.stack import Stack
from ling_compose.planning import model_facts

# ASSUMED per-draft acceptance of the first MTP token: low, central, high. DeepSeek-V3's report
# (arXiv 2412.19437 section 5.4.3) gives 85-90 % for its one MTP module; MTP heads of other
# models reach 78-85 % at greedy decoding (waybarrios/vllm-mlx PR 245); sampling and quantised
# weights accept less. Later draft tokens reuse the same layer and are assumed to be accepted
# geometrically less often (vLLM warns of "lower acceptance rate" for k > 1).
ACCEPTANCE = (0.6, 0.8, 0.9)
# The LM head is read again by every draft step, in BF16: the INT4 checkpoint quantises routed
# experts only (shared/facts/ling-2.6-flash.md §1); for the FP8 one this is an assumption.
LM_HEAD_BYTES_PER_PARAM = 2


def tokens_per_step(acceptance: float, tokens: int) -> float:
    """Expected tokens a verify step keeps: 1 + a + a^2 + ... + a^k (Leviathan et al. 2023,
    with each later draft accepted only after the earlier ones)."""
    return sum(acceptance**i for i in range(tokens + 1))


def _with_mtp_weights() -> str:
    """The checkpoints that ship the MTP layer, those with an unverified fact marked."""
    keys = [
        c.key + (" (with --mtp: unverified)" if c.mtp_note else "")
        for c in catalog.checkpoints().values()
        if c.has_mtp
    ]
    return " or ".join(keys)


def decide(stack: Stack) -> MtpChoice:
    """On by default where the checkpoint ships the MTP layer (and no unverified fact stands in
    the way) and the engine version runs it; a request (`--mtp`, serving.mtp: true or a number
    of draft tokens) where it cannot run is refused with the reason."""
    engine = registry.get(stack.backend.engine)
    ckpt, serving = stack.checkpoint, stack.serving
    asked, tokens = serving.mtp, serving.speculative_tokens
    mtp_flag, tokens_flag = FLAG_OF_FIELD["mtp"], FLAG_OF_FIELD["speculative_tokens"]
    no_mtp_flag = "--no-" + mtp_flag.removeprefix("--")  # argparse's BooleanOptionalAction
    blocker = engine.mtp_unsupported(stack.backend)
    hint = f"drop {mtp_flag} and {tokens_flag} (serving.mtp, serving.speculative_tokens)"
    if blocker is None and not ckpt.has_mtp:
        blocker = f"{ckpt.hf_repo} ships no MTP weights" + (
            f": {ckpt.mtp_note}" if ckpt.mtp_note else ""
        )
        if engine.mtp_without_weights:
            blocker += f"; {engine.mtp_without_weights}"
        hint += f", or use a checkpoint with them: --checkpoint {_with_mtp_weights()}"
    if blocker is not None:
        wanted = asked is True or (asked is None and tokens is not None)
        refused = f"MTP speculative decoding cannot run here: {blocker}" if wanted else None
        return MtpChoice(False, 0, f"off: {blocker}", refused, hint if wanted else None)
    if asked is False:
        return MtpChoice(False, 0, f"off: turned off ({no_mtp_flag} or serving.mtp: false)")
    if asked is None and ckpt.mtp_note:
        why = f"off unless asked for ({mtp_flag}): {ckpt.mtp_note}"
        if tokens is None:
            return MtpChoice(False, 0, why)
        return MtpChoice(
            False,
            0,
            why,
            refused=f"{tokens_flag} {tokens} needs MTP, which is {why}",
            hint=f"add {mtp_flag} to run it anyway, or drop {tokens_flag}",
        )
    k = tokens or engine.mtp_default_tokens
    version = engine.version_of(stack.backend)
    if asked:
        why = f"on: asked for, {k} draft token(s) per step"
    else:
        why = (
            f"on: {ckpt.hf_repo} ships the MTP layer and {engine.display_name} {version} runs it; "
            f"{k} draft token(s) per step ({no_mtp_flag} turns it off)"
        )
    warning = (
        f"MTP is on although {ckpt.mtp_note}; if the server stops at start-up with that "
        f"message, render with {no_mtp_flag}"
        if ckpt.mtp_note
        else None
    )
    return MtpChoice(True, k, why, warning=warning)


def draft_gb(stack: Stack, batch_fraction: float) -> float:
    """Decimal GB one draft step reads: the MTP layer's weights that run (its routed experts by
    the share the batch touches) and the shared LM head."""
    ckpt = stack.checkpoint
    per_param = ckpt.mtp_gib * GIB / model_facts.MTP_PARAMS
    routed = model_facts.MTP_ROUTED_PARAMS
    layer = (model_facts.MTP_PARAMS - routed + routed * batch_fraction) * per_param
    return (layer + model_facts.LM_HEAD_PARAMS * LM_HEAD_BYTES_PER_PARAM) / GB


def gain(
    stack: Stack,
    tokens: int,
    step_seconds: Callable[[int], float],
    read_gbs: float,
    plain_tok_s: tuple[float, float],
) -> MtpGain:
    """The speed-up range at the central acceptance, for one sequence and for the stack's
    running sequences, and the achievable ceilings `plain_tok_s` (single, aggregate) times it.

    A plain step of `batch` tokens takes `step_seconds(batch)`; a step with MTP adds k draft
    steps (read at `read_gbs`, all GPUs of the layout together) and verifies
    k + 1 tokens per sequence. Those tokens route independently, so the verify step may read
    the experts of (k + 1) x batch tokens (low end); routing of neighbouring tokens is
    correlated and small batches are partly latency-bound, so it may cost little more than a
    plain step (high end). Either way a step keeps `tokens_per_step` tokens, not one: with MTP
    the one-read-per-token ceiling can be exceeded.
    """
    central = tokens_per_step(ACCEPTANCE[1], tokens)

    def speedups(batch: int) -> tuple[float, float]:
        plain = step_seconds(batch)
        drafts = tokens * draft_gb(stack, model_facts.expert_fraction_touched(batch)) / read_gbs
        wide = step_seconds(batch * (tokens + 1)) + drafts
        narrow = plain + drafts
        return central * plain / wide, central * plain / narrow

    single = speedups(1)
    low, high = speedups(stack.serving.concurrency)
    # No more than at one sequence: a larger batch is bounded by compute as well, and measured
    # gains shrink with the batch (SGLang's DeepSeek-V3 doc: 1.8x at batch 1, 1.5x at 32).
    aggregate = (min(low, single[1]), min(high, single[1]))
    one, many = plain_tok_s
    return MtpGain(
        acceptance=ACCEPTANCE,
        tokens_per_step=(
            tokens_per_step(ACCEPTANCE[0], tokens),
            central,
            tokens_per_step(ACCEPTANCE[2], tokens),
        ),
        draft_gb=draft_gb(stack, model_facts.expert_fraction_touched(1)),
        single_stream_speedup=single,
        aggregate_speedup=aggregate,
        single_stream_tok_s_achievable=(one * single[0], one * single[1]),
        aggregate_tok_s_achievable=(many * aggregate[0], many * aggregate[1]),
    )
