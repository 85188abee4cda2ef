"""Write a tiny random-weight GGUF that upstream llama.cpp loads, with a real tokenizer and tools.

Architecture `llama` (2 layers, hidden 64): random layer weights (seeded), so the engine runs
a real forward pass; tokenizer KV pairs copied from the pinned source's
`models/ggml-vocab-qwen2.gguf`; chat template `models/templates/Qwen-Qwen2.5-7B-Instruct.jinja`,
whose `<tool_call>` JSON format llama-server b11434 turns into structured tool_calls
(common/chat.cpp: no specialised template matches it, so the differential autoparser
handles it; tests/test-chat.cpp checks this template among the "<tool_call> JSON" ones).

Why the weights are biased: a purely random model repeats its last token, and with
`tool_choice: "required"` llama-server's grammar allows free text before `<tool_call>`
(chat-auto-parser-generator.cpp: `optional(content(until("<tool_call>"))) + tool calls`), so such
a model runs to max_tokens without calling. Here the embeddings and the output matrix make
the next-token ranking a function of the current token only (a bigram table; the random layers
add a perturbation far below the gaps between ranks), chosen so that greedy decoding

- answers "Hello" and stops (`<|im_end|>`) after the generation prompt `<|im_start|>assistant\\n`;
- under the `required` grammar, where `<|im_end|>` is masked, goes on with `<`, `tool`, `_call`,
  `>\n` (the autoparser's call marker is `<tool_call>\n`: with a bare `>` the grammar kept the
  text as content), then prefers the JSON tokens that close what is open (`"`, `}`), so the
  call is `{"name": "get_weather", "arguments": {"city": ""}}` inside the markers, and it stops
  after the closing one. Whitespace-only tokens rank last, so optional whitespace never loops.

The file is about 45 MB and takes about 3 s to write (15 s the first time on a machine, while
the vocab's KV pairs are read and cached); the same seed gives the same bytes (on one numpy:
Generator streams are stable within a release).
"""

from __future__ import annotations

import functools
import hashlib
import json
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import gguf
import numpy as np

from tests.e2e.realengine import build

VOCAB_FILE = "models/ggml-vocab-qwen2.gguf"
TEMPLATE_FILE = "models/templates/Qwen-Qwen2.5-7B-Instruct.jinja"

N_EMBD = 64
N_LAYER = 2
N_HEAD = 4
N_HEAD_KV = 2
N_FF = 128
N_CTX_TRAIN = 32768  # as large as the rendered 4090-int4 stack's --ctx-size
STATE_MAGNITUDE = (
    10.0  # residual-stream size of a token's state vector, far above the layers' output
)
LAYER_STD = 0.02
TOP = 20.0  # logit of the first preference; each next one is 1 lower
BANNED = -30.0  # whitespace-only, padding and other control tokens: never picked when avoidable

# Ranked next tokens per current token (vocabulary strings in GPT-2 byte-level form: Ċ is "\n").
# Tokens not listed fall back to JSON_CLOSING, then to seeded noise in [-1, 1].
JSON_CLOSING = ("<|im_end|>", '"', "}", "{", "</", "tool", "_call", ">", ":", ",", "]", "[")
BIGRAMS: dict[str, Sequence[str]] = {
    "Ċ": ("Hello",),  # the generation prompt ends with "assistant\n"
    "Hello": ("<|im_end|>", "<"),  # stop; where stopping is masked, open a tool call
    "<": ("tool",),
    "tool": ("_call",),
    "_call": (">Ċ", ">"),
    ">Ċ": ("<|im_end|>", "{"),  # stop after </tool_call>; after <tool_call> the JSON begins
    ">": ("<|im_end|>", "{"),
}
SEED = 0


Field = tuple[str, Any, int, int | None]  # key, value, GGUF value type, array element type


class _Vocab:
    """The tokenizer KV pairs of the source tree's vocab file."""

    def __init__(self, fields: list[Field]) -> None:
        self.fields = fields
        values = {key: value for key, value, _, _ in fields}
        self.tokens: list[str] = list(values["tokenizer.ggml.tokens"])
        self.types: list[int] = list(values["tokenizer.ggml.token_type"])
        self.ids = {t: i for i, t in enumerate(self.tokens)}

    def id(self, token: str) -> int:
        return self.ids[token]

    def banned(self) -> np.ndarray:
        normal = int(gguf.TokenType.NORMAL)
        mask = np.array([t != normal for t in self.types])
        ws = np.array([bool(t) and set(t) <= {"Ġ", "Ċ", "ĉ"} for t in self.tokens])
        mask |= ws
        mask[self.id("<|im_end|>")] = False
        return mask


def _read_fields(data: bytes) -> list[Field]:
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "vocab.gguf"
        path.write_bytes(data)
        reader = gguf.GGUFReader(path)
        fields: list[Field] = []
        for key, field in reader.fields.items():
            if key.startswith("tokenizer.") and key != "tokenizer.chat_template":
                vtype = int(field.types[0])
                sub = int(field.types[1]) if vtype == gguf.GGUFValueType.ARRAY else None
                fields.append((key, field.contents(), vtype, sub))
        return fields


@functools.cache
def _vocab() -> _Vocab:
    """Read once per machine: gguf-py's reader takes 10-15 s over 151,936 tokens and as many
    merges, so the KV pairs are kept as JSON beside the source archive, keyed by its sha256."""
    cached = build.cache_root() / f"vocab-qwen2-{build.SDIST_SHA256[:16]}.json"
    if cached.is_file():
        return _Vocab([tuple(f) for f in json.loads(cached.read_text(encoding="utf-8"))])  # type: ignore[misc]
    fields = _read_fields(build.source_file(VOCAB_FILE))
    staged = cached.with_suffix(".tmp")
    staged.write_text(json.dumps(fields), encoding="utf-8")
    staged.rename(cached)
    return _Vocab(fields)


@functools.cache
def _template() -> str:
    return build.source_file(TEMPLATE_FILE).decode("utf-8")


def _scores(vocab: _Vocab, rng: np.random.Generator) -> np.ndarray:
    """(n_vocab, n_states) logits: column 0 is the default state, then one per BIGRAMS key."""
    n_vocab = len(vocab.tokens)
    noise = rng.uniform(-1.0, 1.0, n_vocab).astype(np.float32)
    noise[vocab.banned()] = BANNED
    columns = []
    for prefs in [(), *BIGRAMS.values()]:
        col = noise.copy()
        ranked = list(dict.fromkeys([*prefs, *JSON_CLOSING]))
        for rank, token in enumerate(ranked):
            col[vocab.id(token)] = TOP - rank
        columns.append(col)
    return np.stack(columns, axis=1)


def write(path: Path, seed: int = SEED) -> Path:
    """Write the model to `path` (atomically) and return it."""
    vocab, template = _vocab(), _template()
    rng = np.random.default_rng(seed)
    scores = _scores(vocab, rng)
    n_vocab, n_states = scores.shape

    embd = np.zeros((n_vocab, N_EMBD), dtype=np.float32)
    embd[:, 0] = STATE_MAGNITUDE  # every token starts in the default state...
    for state, token in enumerate(BIGRAMS, start=1):
        embd[vocab.id(token)] = 0.0
        embd[vocab.id(token), state] = STATE_MAGNITUDE  # ...except the BIGRAMS keys
    # After the final RMS norm a state vector is sqrt(N_EMBD) long in its own axis, so
    # this output matrix turns it into exactly that state's column of scores.
    output = np.zeros((n_vocab, N_EMBD), dtype=np.float32)
    output[:, :n_states] = scores / np.sqrt(N_EMBD)

    head_dim = N_EMBD // N_HEAD
    writer = gguf.GGUFWriter(path.with_suffix(".tmp"), arch="llama")
    writer.add_name("ling-compose tiny test model (random weights)")
    writer.add_context_length(N_CTX_TRAIN)
    writer.add_embedding_length(N_EMBD)
    writer.add_block_count(N_LAYER)
    writer.add_feed_forward_length(N_FF)
    writer.add_head_count(N_HEAD)
    writer.add_head_count_kv(N_HEAD_KV)
    writer.add_rope_dimension_count(head_dim)
    writer.add_layer_norm_rms_eps(1e-6)
    writer.add_file_type(gguf.LlamaFileType.MOSTLY_F16)
    for key, value, vtype, sub in vocab.fields:  # the real tokenizer, as the source has it
        element = gguf.GGUFValueType(sub) if sub is not None else None
        writer.add_key_value(key, value, gguf.GGUFValueType(vtype), sub_type=element)
    writer.add_add_bos_token(False)
    writer.add_chat_template(template)

    def rand(*shape: int) -> np.ndarray:
        return (rng.standard_normal(shape) * LAYER_STD).astype(np.float32)

    writer.add_tensor("token_embd.weight", embd.astype(np.float16))
    writer.add_tensor("output_norm.weight", np.ones(N_EMBD, dtype=np.float32))
    writer.add_tensor("output.weight", output.astype(np.float16))
    kv = N_HEAD_KV * head_dim
    for i in range(N_LAYER):
        blk = f"blk.{i}"
        writer.add_tensor(f"{blk}.attn_norm.weight", np.ones(N_EMBD, dtype=np.float32))
        writer.add_tensor(f"{blk}.attn_q.weight", rand(N_EMBD, N_EMBD))
        writer.add_tensor(f"{blk}.attn_k.weight", rand(kv, N_EMBD))
        writer.add_tensor(f"{blk}.attn_v.weight", rand(kv, N_EMBD))
        writer.add_tensor(f"{blk}.attn_output.weight", rand(N_EMBD, N_EMBD))
        writer.add_tensor(f"{blk}.ffn_norm.weight", np.ones(N_EMBD, dtype=np.float32))
        writer.add_tensor(f"{blk}.ffn_gate.weight", rand(N_FF, N_EMBD))
        writer.add_tensor(f"{blk}.ffn_up.weight", rand(N_FF, N_EMBD))
        writer.add_tensor(f"{blk}.ffn_down.weight", rand(N_EMBD, N_FF))
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
    path.with_suffix(".tmp").rename(path)
    return path


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


if __name__ == "__main__":
    import sys

    out = write(Path(sys.argv[1] if len(sys.argv) > 1 else "tiny.gguf"))
    print(f"{out} {out.stat().st_size} bytes sha256 {sha256(out)}")
