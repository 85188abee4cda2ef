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
HIDDEN_SIZE = 4096
MOE_INTERMEDIATE = 1024
VOCAB_SIZE = 157_184  # Bailing V2/V2.5 tokenizer (third-party readings of config.json)

# Routed-expert parameters R and the rest N: N + R = total, N + R * 8/256 = active.
ROUTED_EXPERT_PARAMS = (TOTAL_PARAMS - ACTIVE_PARAMS) / (1 - EXPERTS_PER_TOKEN / NUM_EXPERTS)

# MLA latent cache: (kv_lora_rank + rope dim) values per token per MLA layer, BF16.
MLA_VALUES_PER_TOKEN = KV_LORA_RANK + ROPE_HEAD_DIM  # 576
KV_BYTES_PER_TOKEN_BF16 = MLA_VALUES_PER_TOKEN * 2 * MLA_LAYERS  # 4,608
# Lightning linear-attention state: one head_dim x head_dim matrix per head per linear layer,
# whatever the context: 14,680,064 values per sequence (56 MiB in fp32, 28 MiB in bf16; the
# dtype is the engine's choice, plan.STATE_BYTES_PER_VALUE).
LINEAR_STATE_VALUES_PER_SEQ = LINEAR_LAYERS * ATTENTION_HEADS * HEAD_DIM * HEAD_DIM


# The MTP layer (layer 32, num_nextn_predict_layers = 1): enorm, hnorm, eh_proj (2 x hidden ->
# hidden), one MLA attention layer and a full MoE block (256 routed experts + the shared one);
# embeddings and LM head are the target's (vLLM 0.33.0 model_executor/models/bailing_moe_mtp.py,
# v1/spec_decode/llm_base_proposer.py; SGLang 0.5.23 models/bailing_moe_nextn.py). About 3.31 B
# parameters, which matches the FP8 repository's 3.10 GiB MTP file.
MTP_LAYERS = 1
MTP_ROUTED_PARAMS = NUM_EXPERTS * 3 * HIDDEN_SIZE * MOE_INTERMEDIATE  # 3.22 B
MTP_PARAMS = 3.31e9
# What one draft step reads of it: everything but the routed experts, plus 8 experts.
MTP_ACTIVE_PARAMS = MTP_PARAMS - MTP_ROUTED_PARAMS * (1 - EXPERTS_PER_TOKEN / NUM_EXPERTS)
LM_HEAD_PARAMS = VOCAB_SIZE * HIDDEN_SIZE  # read again by every draft step (shared head)


def kv_bytes_per_token(fp8_cache: bool, mtp: bool = False) -> float:
    """KV bytes per token per sequence: the MLA latent of the 4 MLA layers, and of the MTP
    layer's own MLA attention when speculative decoding runs it (+25 %)."""
    layers = MLA_LAYERS + (MTP_LAYERS if mtp else 0)
    per_token = MLA_VALUES_PER_TOKEN * 2 * layers
    return per_token / 2 if fp8_cache else float(per_token)


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
