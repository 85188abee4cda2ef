"""Model constants of Ling-2.6-flash and the memory arithmetic built on them (pure).

Every constant names its source; derived ones show the derivation.
"""

from __future__ import annotations

from ling_compose.models.checkpoint import Checkpoint
from ling_compose.models.hardware import GB, GIB

# config.json of inclusionAI/Ling-2.6-flash; vLLM model_executor/models/bailing_moe_linear.py
TOTAL_PARAMS = 104e9
ACTIVE_PARAMS = 7.4e9
NUM_LAYERS = 32
MOE_LAYERS = 31  # layer 0 is dense (intermediate 9216)
ATTENTION_HEADS = 32
HEAD_DIM = 128
MLA_LAYERS = 4  # layer i is MLA iff (i + 1) % 8 == 0
LINEAR_LAYERS = NUM_LAYERS - MLA_LAYERS
KV_LORA_RANK = 512
ROPE_HEAD_DIM = 64
NUM_EXPERTS = 256
EXPERTS_PER_TOKEN = 8

# Routed-expert parameters R and the rest N: N + R = total, N + R * 8/256 = active.
ROUTED_EXPERT_PARAMS = (TOTAL_PARAMS - ACTIVE_PARAMS) / (1 - EXPERTS_PER_TOKEN / NUM_EXPERTS)

# MLA latent cache: (kv_lora_rank + rope dim) values per token per MLA layer, BF16.
MLA_VALUES_PER_TOKEN = KV_LORA_RANK + ROPE_HEAD_DIM  # 576
KV_BYTES_PER_TOKEN_BF16 = MLA_VALUES_PER_TOKEN * 2 * MLA_LAYERS  # 4,608
# Lightning linear-attention state: one head_dim x head_dim matrix per head per linear layer,
# whatever the context: 14,680,064 values per sequence (56 MiB in fp32, 28 MiB in bf16; the
# dtype is the engine's choice, plan.STATE_BYTES_PER_VALUE).
LINEAR_STATE_VALUES_PER_SEQ = LINEAR_LAYERS * ATTENTION_HEADS * HEAD_DIM * HEAD_DIM


def kv_bytes_per_token(fp8_cache: bool) -> float:
    return KV_BYTES_PER_TOKEN_BF16 / 2 if fp8_cache else float(KV_BYTES_PER_TOKEN_BF16)


def routed_expert_gib(ckpt: Checkpoint) -> float:
    """Bytes of all routed experts in this checkpoint, GiB."""
    return min(ROUTED_EXPERT_PARAMS * ckpt.routed_expert_bytes_per_param / GIB, ckpt.weights_gib)


def other_weights_gib(ckpt: Checkpoint) -> float:
    """Attention, shared expert, dense layer, embeddings: read for every token."""
    return ckpt.weights_gib - routed_expert_gib(ckpt)


def expert_gib_per_moe_layer(ckpt: Checkpoint) -> float:
    return routed_expert_gib(ckpt) / MOE_LAYERS


def active_gb_per_token(ckpt: Checkpoint) -> float:
    """Weights read to decode one token of one sequence (decimal GB)."""
    routed = routed_expert_gib(ckpt) * EXPERTS_PER_TOKEN / NUM_EXPERTS
    return (other_weights_gib(ckpt) + routed) * GIB / GB


def expert_fraction_touched(batch: int) -> float:
    """Expected share of a layer's experts a batch of `batch` tokens touches (uniform routing)."""
    return 1.0 - (1.0 - EXPERTS_PER_TOKEN / NUM_EXPERTS) ** batch
