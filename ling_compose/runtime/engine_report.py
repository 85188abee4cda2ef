"""What an engine says it reserved at start-up, read from its log, beside the plan (pure).

Each engine logs its real cache size once it has profiled the GPU. `parse` reads those lines;
`compare` puts them beside the plan's figures (plan.engine_figures, carried in the compose
file's x-ling-compose metadata and the container's labels) and flags any that disagree by more
than TOLERANCE. The formats are the engines' own at the pinned versions:

vLLM 0.33.0 (logger format "(%(process name)s pid=N) LEVEL MM-DD HH:MM:SS [file:line] msg",
vllm/logger.py _FORMAT):
  vllm/v1/core/kv_cache_utils.py:1148
      "%s KV cache size: %s tokens, Maximum concurrency for %s tokens per request: %.2fx"
  vllm/v1/worker/gpu_worker.py:773   "Available KV cache memory: %s GiB"
SGLang 0.5.23 (format "[%(asctime)s TPn] %(message)s", srt/utils/common.py configure_logger):
  srt/managers/scheduler.py:1269     "max_total_num_tokens=%d, chunked_prefill_size=%d,
      max_prefill_tokens=%d, max_running_requests=%d, context_len=%d, available_gpu_mem=%.2f GB"
  srt/mem_cache/memory_pool.py:2097  "KV Cache is allocated. dtype: %s, #tokens: %d, KV size: %.2f GB"
  srt/mem_cache/memory_pool.py:1005  "Mamba Cache is allocated. max_mamba_cache_size: %d,
      conv_state size: %.2fGB, ssm_state size: %.2fGB"  (SGLang's GB is 2**30 bytes there)
llama.cpp b11434:
  src/llama-context.cpp:312          "llama_context: n_ctx_seq             = %u"
  src/llama-kv-cache.cpp:291         "llama_kv_cache: %10s KV buffer size = %8.2f MiB"
  src/llama-memory-recurrent.cpp:124 "llama_memory_recurrent: %10s RS buffer size = %8.2f MiB"
  src/llama-model.cpp:1926           "load_tensors: offloaded %d/%d layers to GPU"
  src/llama-model.cpp:1932           "load_tensors: %12s model buffer size = %8.2f MiB"
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass

from ling_compose.plan import ENGINE_FIGURES

TOLERANCE = 0.05  # beyond 5 % the plan's estimates (reserve, pools) need a look
METADATA_PREFIX = "planned_"  # x-ling-compose keys that carry plan.engine_figures
# Enough lines to reach back to start-up after a while of serving (access logs follow it).
START_UP_LOG_LINES = 20000
MIB_PER_GIB = 1024.0

_NUMBER = r"([0-9][0-9,]*(?:\.[0-9]+)?)"
_VLLM_CAPACITY = re.compile(
    r"KV cache size: "
    + _NUMBER
    + r" tokens, Maximum concurrency for "
    + _NUMBER
    + r" tokens per request: "
    + _NUMBER
    + "x"
)
_VLLM_MEMORY = re.compile(r"Available KV cache memory: " + _NUMBER + " GiB")
_SGLANG_SCHEDULER = re.compile(
    r"max_total_num_tokens=(\d+), .*?max_running_requests=(\d+), context_len=(\d+)"
)
_SGLANG_KV = re.compile(
    r"KV Cache is allocated\. dtype: \S+, #tokens: (\d+), KV size: " + _NUMBER + " GB"
)
_SGLANG_STATE = re.compile(
    r"Mamba Cache is allocated\. max_mamba_cache_size: (\d+), .*?ssm_state size: " + _NUMBER + "GB"
)
_LLAMA_CTX_SEQ = re.compile(r"llama_context: n_ctx_seq\s+= (\d+)")
_LLAMA_BUFFER = re.compile(
    r"(llama_kv_cache|llama_memory_recurrent): +(\S+) (KV|RS) buffer size = +" + _NUMBER + " MiB"
)
_LLAMA_MODEL = re.compile(r"load_tensors: +(\S+) model buffer size = +" + _NUMBER + " MiB")
_LLAMA_OFFLOADED = re.compile(r"load_tensors: offloaded (\d+)/(\d+) layers to GPU")


def _num(text: str) -> float:
    return float(text.replace(",", ""))


def _is_host_buffer(name: str) -> bool:
    return name.upper().startswith("CPU")  # CPU, CPU_Mapped, CPU_REPACK; GPUs are CUDA0, ...


def parse(engine: str, log: str) -> dict[str, float]:
    """The figures an engine's start-up lines state (keys as in plan.ENGINE_FIGURES), plus
    `offloaded_layers` / `total_layers` for llama.cpp. Missing lines leave keys out."""
    out: dict[str, float] = {}
    if engine == "vllm":
        if m := _VLLM_CAPACITY.search(log):
            out["kv_cache_tokens"], out["max_concurrency"] = _num(m[1]), _num(m[3])
        # Every tensor-parallel worker logs its own; the smallest one bounds the pool.
        memories = [_num(m[1]) for m in _VLLM_MEMORY.finditer(log)]
        if memories:
            out["kv_cache_gib"] = min(memories)
    elif engine == "sglang":
        if m := _SGLANG_SCHEDULER.search(log):
            out["kv_cache_tokens"], out["max_running_requests"] = _num(m[1]), _num(m[2])
        if m := _SGLANG_KV.search(log):
            out.setdefault("kv_cache_tokens", _num(m[1]))
            out["kv_cache_gib"] = _num(m[2])
        if m := _SGLANG_STATE.search(log):
            out["state_gib"] = _num(m[2])
    elif engine == "llamacpp":
        if m := _LLAMA_CTX_SEQ.search(log):
            out["context_per_slot"] = _num(m[1])
        buffers = {"KV": 0.0, "RS": 0.0}
        seen = set()
        for m in _LLAMA_BUFFER.finditer(log):
            if not _is_host_buffer(m[2]):
                buffers[m[3]] += _num(m[4])
                seen.add(m[3])
        if "KV" in seen:
            out["kv_cache_gib"] = buffers["KV"] / MIB_PER_GIB
        if "RS" in seen:
            out["state_gib"] = buffers["RS"] / MIB_PER_GIB
        models = [(m[1], _num(m[2])) for m in _LLAMA_MODEL.finditer(log)]
        if models:
            out["gpu_weights_gib"] = (
                sum(v for n, v in models if not _is_host_buffer(n)) / MIB_PER_GIB
            )
            out["host_weights_gib"] = sum(v for n, v in models if _is_host_buffer(n)) / MIB_PER_GIB
        if m := _LLAMA_OFFLOADED.search(log):
            out["offloaded_layers"], out["total_layers"] = _num(m[1]), _num(m[2])
    return out


@dataclass(frozen=True)
class Figure:
    """One figure: what the plan said, what the engine reported, and whether they agree."""

    key: str
    label: str
    unit: str
    planned: float | None
    reported: float | None

    @property
    def difference(self) -> float | None:
        """(reported - planned) / planned; None when either is missing or the plan said 0."""
        if self.planned is None or self.reported is None or self.planned == 0:
            return None
        return (self.reported - self.planned) / self.planned

    @property
    def disagrees(self) -> bool:
        diff = self.difference
        return diff is not None and abs(diff) > TOLERANCE

    def to_json(self) -> dict[str, object]:
        return {
            "figure": self.key,
            "label": self.label,
            "unit": self.unit,
            "planned": self.planned,
            "reported": self.reported,
            "difference": None if self.difference is None else round(self.difference, 4),
            "disagrees": self.disagrees,
        }


def planned_from_metadata(metadata: Mapping[str, str]) -> dict[str, float]:
    """plan.engine_figures as the compose file (or a container's labels) carries it."""
    out: dict[str, float] = {}
    for key, value in metadata.items():
        if key.startswith(METADATA_PREFIX):
            try:
                out[key[len(METADATA_PREFIX) :]] = float(value)
            except ValueError:
                continue  # a hand-edited file: that figure is not compared
    return out


def compare(
    engine: str, planned: Mapping[str, float], reported: Mapping[str, float]
) -> list[Figure]:
    """The engine's figures beside the plan's, in the order plan.ENGINE_FIGURES lists them."""
    return [
        Figure(key, label, unit, planned.get(key), reported.get(key))
        for key, label, unit in ENGINE_FIGURES.get(engine, ())
        if key in planned or key in reported
    ]


def _value(value: float | None, unit: str) -> str:
    if value is None:
        return "-"
    if unit == "GiB":
        return f"{value:.2f} GiB"
    if unit == "x":
        return f"{value:.2f}"
    return f"{value:,.0f}" + (f" {unit}" if unit else "")


def report_lines(figures: list[Figure]) -> list[str]:
    """Human-readable lines: reported, planned and the difference, flagged beyond TOLERANCE."""
    lines = []
    for f in figures:
        diff = f.difference
        where = "" if diff is None else f" ({diff:+.1%})"
        mark = "  <- differs by more than 5 %" if f.disagrees else ""
        lines.append(
            f"  {f.label:<28} engine {_value(f.reported, f.unit):>18}  plan {_value(f.planned, f.unit):>18}{where}{mark}"
        )
    return lines
