"""Bench figures (pure): one request's timings from its streamed chunks, percentiles, per-level
summaries and the single-stream decode speed against the plan's two bandwidth ceilings.

Definitions (docs/performance.md explains how to read them):
- TTFT: request sent → first chunk that carries output (text, reasoning or a tool-call delta);
  the role-only opening chunk some engines send does not count.
- ITL (inter-token latency): the gaps between consecutive output chunks. With speculative
  decoding (MTP) one chunk can carry several tokens, so ITL is per chunk, not per token.
- TPOT (time per output token): (last output chunk - first output chunk) / (output tokens - 1)
  per request, with the token count from the server's `usage` where it sends one.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from ling_compose.models.plan import Plan
from ling_compose.runtime.chat_stream import StreamedMessage

ToolOutcome = Literal["structured", "bad_arguments", "text_call", "text", "empty"]


@dataclass
class RequestResult:
    """What one request did; times in seconds from the moment it was sent."""

    ok: bool
    streamed: bool = True
    error: str = ""
    e2e_s: float = 0.0
    ttft_s: float | None = None
    last_output_s: float | None = None
    itl_s: list[float] = field(default_factory=list)
    output_chunks: int = 0
    usage_completion_tokens: int | None = None
    usage_prompt_tokens: int | None = None
    tool_outcome: ToolOutcome | None = None  # tools workload only
    cut_off: bool = False  # stopped by --max-seconds: neither a failure nor a measurement

    @property
    def output_tokens(self) -> int:
        """The server's count where it gave one, else one token per output chunk."""
        if self.usage_completion_tokens is not None:
            return self.usage_completion_tokens
        return self.output_chunks

    @property
    def tpot_s(self) -> float | None:
        tokens = self.output_tokens
        # It needs two output chunks: with one, the time between them is 0 whatever the token
        # count, and servers count tokens that send no chunk (llama-server b11434 answers
        # "Hello" then its end-of-generation token: 1 chunk, 2 completion tokens).
        if self.ttft_s is None or self.last_output_s is None or min(tokens, self.output_chunks) < 2:
            return None
        return (self.last_output_s - self.ttft_s) / (tokens - 1)


def classify_tool_calls(calls: Sequence[Mapping[str, Any]], content: str) -> ToolOutcome:
    """How an answer to a request with tools came back: structured `tool_calls` whose arguments
    all parse as JSON objects, structured ones with broken arguments, a tool call written as
    text (the server's tool-call parser did not run or did not match), a plain text answer, or
    none at all (the model ended its turn at once)."""
    if calls:
        for call in calls:
            fn = call.get("function") or {}
            try:
                args = json.loads(fn.get("arguments") or "")
            except (TypeError, ValueError):
                return "bad_arguments"
            if not isinstance(args, dict):
                return "bad_arguments"
        return "structured"
    # The model writes its calls as Hermes-style <tool_call> JSON (shared/facts/backends.md).
    if "<tool_call>" in content or ('"name"' in content and '"arguments"' in content):
        return "text_call"
    return "text" if content.strip() else "empty"


class StreamTally:
    """Builds a RequestResult from the events of one streamed chat completion as they arrive.

    `feed` takes the moment each `data:` event arrived (seconds since the request was sent)."""

    def __init__(self, *, tools: bool = False) -> None:
        self.result = RequestResult(ok=False)
        self._tools = tools
        self._last: float | None = None
        self._message = StreamedMessage()

    def feed(self, at_s: float, event: Mapping[str, Any]) -> None:
        usage = event.get("usage")
        if isinstance(usage, dict):
            # vLLM with continuous usage stats repeats it on every chunk: the last one counts.
            if isinstance(usage.get("completion_tokens"), int):
                self.result.usage_completion_tokens = usage["completion_tokens"]
            if isinstance(usage.get("prompt_tokens"), int):
                self.result.usage_prompt_tokens = usage["prompt_tokens"]
        if not self._message.feed(event):
            return
        r = self.result
        r.output_chunks += 1
        if r.ttft_s is None:
            r.ttft_s = at_s
        elif self._last is not None:
            r.itl_s.append(at_s - self._last)
        self._last = at_s
        r.last_output_s = at_s

    def finish(self, at_s: float, done: bool) -> RequestResult:
        """The result once the stream ended at `at_s`; `done`: it ended with `data: [DONE]`.

        A stream that ends its choice (a finish_reason) without output is an empty answer, not
        a failure: the model ended its turn at once, as a real model may (the same answer not
        streamed is a 200 with empty content)."""
        r = self.result
        r.e2e_s = at_s
        if self._tools:
            r.tool_outcome = classify_tool_calls(self._message.tool_calls, self._message.content)
        if not done:
            r.error = "the stream ended without data: [DONE]"
        elif r.output_chunks == 0 and self._message.finish_reason is None:
            r.error = "the stream carried no output"
        else:
            r.ok = True
        return r


def percentile(values: Sequence[float], p: float) -> float:
    """The p-th percentile (0-100), interpolating linearly between the two nearest ranks: NumPy's
    default method, and statistics.quantiles(method="inclusive")."""
    if not values:
        raise ValueError("percentile of no values")
    ordered = sorted(values)
    rank = (len(ordered) - 1) * p / 100.0
    low = math.floor(rank)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (rank - low)


@dataclass(frozen=True)
class Spread:
    """p50/p90/p99 and mean of one figure over a level's requests (or chunk gaps)."""

    p50: float
    p90: float
    p99: float
    mean: float
    n: int

    @classmethod
    def of(cls, values: Sequence[float]) -> Spread | None:
        if not values:
            return None
        return cls(
            p50=percentile(values, 50),
            p90=percentile(values, 90),
            p99=percentile(values, 99),
            mean=sum(values) / len(values),
            n=len(values),
        )

    def to_json(self, scale: float = 1.0) -> dict[str, float | int]:
        return {
            "p50": round(self.p50 * scale, 3),
            "p90": round(self.p90 * scale, 3),
            "p99": round(self.p99 * scale, 3),
            "mean": round(self.mean * scale, 3),
            "n": self.n,
        }


@dataclass(frozen=True)
class ToolTally:
    """Of the requests with tools, how many came back as structured calls with JSON arguments."""

    streamed_structured: int
    streamed_total: int
    plain_structured: int
    plain_total: int
    outcomes: dict[str, int]  # every outcome seen, counted

    def to_json(self) -> dict[str, Any]:
        return {
            "streamed": {"structured": self.streamed_structured, "of": self.streamed_total},
            "not_streamed": {"structured": self.plain_structured, "of": self.plain_total},
            "outcomes": dict(self.outcomes),
        }


@dataclass(frozen=True)
class LevelSummary:
    concurrency: int
    sent: int
    ok: int
    failed: int
    cut_off: int
    errors: dict[str, int]  # error text → how many requests had it
    wall_s: float
    ttft_s: Spread | None
    itl_s: Spread | None
    tpot_s: Spread | None
    e2e_s: Spread | None
    output_tokens: int
    output_tok_s: float
    requests_per_s: float
    prompt_tokens: Spread | None  # as the server counted them (usage.prompt_tokens)
    usage_counted: int  # successful requests whose output tokens came from the server's usage
    tools: ToolTally | None

    def to_json(self) -> dict[str, Any]:
        def ms(s: Spread | None) -> dict[str, float | int] | None:
            return s.to_json(1000.0) if s else None

        return {
            "concurrency": self.concurrency,
            "requests": {
                "sent": self.sent,
                "ok": self.ok,
                "failed": self.failed,
                "cut_off": self.cut_off,
            },
            "errors": dict(self.errors),
            "wall_s": round(self.wall_s, 3),
            "ttft_ms": ms(self.ttft_s),
            "itl_ms": ms(self.itl_s),
            "tpot_ms": ms(self.tpot_s),
            "e2e_s": self.e2e_s.to_json() if self.e2e_s else None,
            "output_tokens": self.output_tokens,
            "output_tokens_per_s": round(self.output_tok_s, 2),
            "requests_per_s": round(self.requests_per_s, 3),
            "prompt_tokens": self.prompt_tokens.to_json() if self.prompt_tokens else None,
            "output_tokens_from_usage": self.usage_counted,
            "tools": self.tools.to_json() if self.tools else None,
        }


def summarise(concurrency: int, results: Sequence[RequestResult], wall_s: float) -> LevelSummary:
    """One concurrency level's figures. Throughputs divide by the level's wall time (first
    request sent → last one finished); cut-off requests count in neither."""
    done = [r for r in results if not r.cut_off]
    ok = [r for r in done if r.ok]
    errors: dict[str, int] = {}
    for r in done:
        if not r.ok:
            errors[r.error] = errors.get(r.error, 0) + 1
    tokens = sum(r.output_tokens for r in ok)
    tools = None
    if any(r.tool_outcome is not None for r in done):
        outcomes: dict[str, int] = {}
        for r in ok:
            if r.tool_outcome is not None:
                outcomes[r.tool_outcome] = outcomes.get(r.tool_outcome, 0) + 1
        tools = ToolTally(
            streamed_structured=sum(1 for r in ok if r.streamed and r.tool_outcome == "structured"),
            streamed_total=sum(1 for r in done if r.streamed),
            plain_structured=sum(
                1 for r in ok if not r.streamed and r.tool_outcome == "structured"
            ),
            plain_total=sum(1 for r in done if not r.streamed),
            outcomes=outcomes,
        )
    return LevelSummary(
        concurrency=concurrency,
        sent=len(results),
        ok=len(ok),
        failed=len(done) - len(ok),
        cut_off=len(results) - len(done),
        errors=errors,
        wall_s=wall_s,
        ttft_s=Spread.of([r.ttft_s for r in ok if r.streamed and r.ttft_s is not None]),
        itl_s=Spread.of([gap for r in ok for gap in r.itl_s]),
        tpot_s=Spread.of([t for r in ok if (t := r.tpot_s) is not None]),
        e2e_s=Spread.of([r.e2e_s for r in ok]),
        output_tokens=tokens,
        output_tok_s=tokens / wall_s if wall_s > 0 else 0.0,
        requests_per_s=len(ok) / wall_s if wall_s > 0 else 0.0,
        prompt_tokens=Spread.of(
            [float(r.usage_prompt_tokens) for r in ok if r.usage_prompt_tokens is not None]
        ),
        usage_counted=sum(1 for r in ok if r.usage_completion_tokens is not None),
        tools=tools,
    )


@dataclass(frozen=True)
class Ceiling:
    """The plan's single-stream decode ceilings: what the memory bandwidth allows at batch 1,
    at the GPU's datasheet bandwidth (physics: no server decodes faster) and at the bandwidth a
    streaming read really reaches (measured on that GPU, or the datasheet x the fraction
    measured on a real H200; `achievable_source` says which)."""

    profile: str
    bound_by: str
    datasheet_tok_s: float
    datasheet_gbs: float  # per GPU
    achievable_tok_s: float
    achievable_gbs: float  # per GPU
    achievable_source: str
    # With MTP on, a stream may pass both ceilings (several tokens per weight read): the plan's
    # expected single-stream range at achievable bandwidth, from an ASSUMED acceptance rate.
    mtp_tokens: int = 0
    mtp_expected_tok_s: tuple[float, float] | None = None
    mtp_assumed_acceptance: float | None = None

    def fractions(self, decode_tok_s: float) -> tuple[float, float]:
        """What share of (the datasheet ceiling, the achievable ceiling) a decode speed is."""
        return decode_tok_s / self.datasheet_tok_s, decode_tok_s / self.achievable_tok_s


def ceiling_of(plan: Plan) -> Ceiling:
    """The one place that reads the plan's throughput fields."""
    t = plan.throughput
    gain = plan.mtp_gain if plan.mtp.on else None
    return Ceiling(
        profile=plan.stack,
        bound_by=t.bound_by,
        datasheet_tok_s=t.single_stream_tok_s,
        datasheet_gbs=t.datasheet_gbs,
        achievable_tok_s=t.single_stream_tok_s_achievable,
        achievable_gbs=t.achievable_gbs,
        achievable_source=t.achievable_note,
        mtp_tokens=plan.mtp.tokens if gain is not None else 0,
        mtp_expected_tok_s=gain.single_stream_tok_s_achievable if gain is not None else None,
        mtp_assumed_acceptance=gain.acceptance[1] if gain is not None else None,
    )


@dataclass(frozen=True)
class SingleStream:
    """Decode speed of one stream (1 / median TPOT at concurrency 1) against both ceilings."""

    decode_tok_s: float
    ceiling: Ceiling | None

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"decode_tokens_per_s": round(self.decode_tok_s, 2)}
        c = self.ceiling
        if c is not None:
            of_datasheet, of_achievable = c.fractions(self.decode_tok_s)
            out["ceilings"] = {
                "profile": c.profile,
                "bound_by": c.bound_by,
                "datasheet": {
                    "tokens_per_s": round(c.datasheet_tok_s, 2),
                    "bandwidth_gbs_per_gpu": round(c.datasheet_gbs, 1),
                    "fraction": round(of_datasheet, 4),
                },
                "achievable": {
                    "tokens_per_s": round(c.achievable_tok_s, 2),
                    "bandwidth_gbs_per_gpu": round(c.achievable_gbs, 1),
                    "fraction": round(of_achievable, 4),
                    "source": c.achievable_source,
                },
            }
            if c.mtp_expected_tok_s is not None:
                low, high = c.mtp_expected_tok_s
                out["ceilings"]["mtp"] = {
                    "draft_tokens": c.mtp_tokens,
                    "assumed_acceptance": c.mtp_assumed_acceptance,
                    "expected_tokens_per_s": [round(low, 2), round(high, 2)],
                }
        return out


def single_stream(levels: Sequence[LevelSummary], ceiling: Ceiling | None) -> SingleStream | None:
    """From the concurrency-1 level, when there is one with a TPOT figure."""
    for level in levels:
        if level.concurrency == 1 and level.tpot_s is not None and level.tpot_s.p50 > 0:
            return SingleStream(decode_tok_s=1.0 / level.tpot_s.p50, ceiling=ceiling)
    return None
