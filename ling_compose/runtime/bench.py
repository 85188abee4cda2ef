"""`bench`: load an OpenAI-compatible endpoint at several concurrency levels and measure it.

The only module importing `httpx`: a small asyncio client, because no well-kept load generator
fits without heavy dependencies (guidellm needs torch, genai-perf pandas and more, llmperf ray and
Python < 3.11) and one event loop times 32+ concurrent streams per chunk without 32 threads.
Figures are computed in bench_stats (pure).
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
import random
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

from ling_compose.errors import HealthError, cli_command
from ling_compose.runtime import http
from ling_compose.runtime.base import Progress, SilentProgress
from ling_compose.runtime.bench_stats import (
    Ceiling,
    LevelSummary,
    RequestResult,
    SingleStream,
    StreamTally,
    classify_tool_calls,
    single_stream,
    summarise,
)
from ling_compose.runtime.smoke import WEATHER_TOOL

if TYPE_CHECKING:
    import httpx

# `httpx` is imported inside the calls below: the CLI registers every command at start, and
# `render` must not import an HTTP library (tests/unit/test_public_api.py checks it).

Workload = Literal["text", "tools"]

# Each word, with its leading space, is one token in the Qwen2, Qwen3.5, Llama-3 and DeepSeek-LLM
# BPE vocabularies (checked against models/ggml-vocab-{qwen2,qwen35,llama-bpe,deepseek-llm}.gguf
# of llama.cpp b11434). Ling-2.6-flash's own tokenizer could not be checked here: the server's
# usage.prompt_tokens is the real count, and bench reports it.
_WORD_LIST = (
    "time year people way day man thing woman life child world school state family student "
    "group country problem hand part place case week company system program question work "
    "government number night point home water room mother area money story fact month lot "
    "right study book eye job word business issue side kind head house service friend father "
    "power hour game line end member law car city name team minute idea kid body back parent "
    "face others level office door health person art war history party result change morning "
    "reason research girl guy moment air teacher force education foot boy age policy music "
    "market sense nation plan college interest death experience effect class control care "
    "field development role effort rate heart drug show leader light voice wife police mind "
    "price report decision son view relationship town road arm difference value building "
    "action model season society tax director position player record paper space ground form "
    "event official matter center couple site project activity star table need court oil "
    "situation cost industry figure street image phone data picture practice piece land "
    "product doctor wall patient worker news test movie north love support technology step "
    "baby computer type attention film tree source organization hair window evidence "
    "population truth song"
)
WORDS = tuple(_WORD_LIST.split())
CITIES = ("Paris", "Tokyo", "Lima", "Oslo", "Cairo", "Perth", "Quito", "Hanoi")


def synthetic_prompt(index: int, words: int, seed: int = 0) -> str:
    """About `words` tokens of deterministic text, different for every request from its first
    words on, so that an engine's prefix cache cannot serve one request from another."""
    rng = random.Random(seed * 1_000_003 + index)
    return f"Request {index}: " + " ".join(rng.choice(WORDS) for _ in range(words))


@dataclass(frozen=True)
class BenchConfig:
    url: str
    model: str | None  # None: the only model the endpoint lists
    levels: tuple[int, ...] = (1, 8, 32)
    requests: int = 64  # per level
    input_tokens: int = 1024
    output_tokens: int = 256
    workload: Workload = "text"
    timeout_s: float = 300.0  # one request
    max_seconds: float = 1800.0  # the whole run
    warmup: int = 1
    ignore_eos: bool = True
    seed: int = 0

    def to_json(self) -> dict[str, Any]:
        return {
            "url": self.url,
            "model": self.model,
            "concurrency": list(self.levels),
            "requests_per_level": self.requests,
            "input_tokens_estimated": self.input_tokens,
            "output_tokens": self.output_tokens,
            "workload": self.workload,
            "ignore_eos": self.ignore_eos,
            "timeout_s": self.timeout_s,
            "max_seconds": self.max_seconds,
            "warmup": self.warmup,
        }


def payload(config: BenchConfig, index: int) -> tuple[dict[str, Any], bool]:
    """The request body for request `index`, and whether it streams."""
    prompt = synthetic_prompt(index, config.input_tokens, config.seed)
    body: dict[str, Any] = {"model": config.model, "max_tokens": config.output_tokens}
    if config.workload == "tools":
        # Half the requests stream, half do not: the tool-call parser has a path for each.
        stream = index % 2 == 0
        city = CITIES[index % len(CITIES)]
        question = f"\n\nWhat is the weather in {city} right now? Use the get_weather tool."
        body |= {
            "messages": [{"role": "user", "content": prompt + question}],
            "tools": [WEATHER_TOOL],
            "tool_choice": "auto",
        }
    else:
        stream = True
        body["messages"] = [{"role": "user", "content": prompt}]
        if config.ignore_eos:
            # vLLM, SGLang and llama-server accept it (vllm chat_completion/protocol.py,
            # sglang entrypoints/openai/protocol.py, llama.cpp tools/server/server-schema.cpp):
            # every answer is then exactly max_tokens long.
            body["ignore_eos"] = True
    if stream:
        # All three engines then end the stream with a usage chunk ("choices": []).
        body |= {"stream": True, "stream_options": {"include_usage": True}}
    return body, stream


@dataclass
class BenchReport:
    config: BenchConfig
    levels: list[LevelSummary] = field(default_factory=list)
    single: SingleStream | None = None
    stopped: str | None = None  # why the run ended before every level was done
    notes: list[str] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        return {
            "config": self.config.to_json(),
            "levels": [level.to_json() for level in self.levels],
            "single_stream": self.single.to_json() if self.single else None,
            "stopped": self.stopped,
            "notes": list(self.notes),
        }


Clock = Callable[[], float]


async def _streamed(
    client: httpx.AsyncClient, url: str, body: dict[str, Any], tools: bool, clock: Clock
) -> RequestResult:
    import httpx

    tally = StreamTally(tools=tools)
    sent = clock()
    async with client.stream("POST", url, json=body) as resp:
        if resp.status_code != 200:
            text = (await resp.aread()).decode("utf-8", errors="replace")
            return _http_failure(resp.status_code, text)
        done = False
        try:
            async for line in resp.aiter_lines():
                now = clock() - sent
                if not line.startswith("data:"):
                    continue
                data = line[len("data:") :].strip()
                if data == "[DONE]":
                    done = True
                    break
                try:
                    event = json.loads(data)
                except ValueError:
                    return RequestResult(ok=False, error="an SSE event was not JSON")
                if isinstance(event, dict):
                    tally.feed(now, event)
        except httpx.HTTPError as err:
            return RequestResult(ok=False, error=f"stream broke: {type(err).__name__}")
        return tally.finish(clock() - sent, done)


async def _plain(
    client: httpx.AsyncClient, url: str, body: dict[str, Any], tools: bool, clock: Clock
) -> RequestResult:
    sent = clock()
    resp = await client.post(url, json=body)
    took = clock() - sent
    if resp.status_code != 200:
        return _http_failure(resp.status_code, resp.text)
    try:
        data = resp.json()
        choice = data["choices"][0]
        message = choice.get("message") or {}
    except (ValueError, KeyError, IndexError, TypeError, AttributeError):
        return RequestResult(ok=False, streamed=False, error="not an OpenAI chat completion")
    usage = data.get("usage") if isinstance(data, dict) else None
    usage = usage if isinstance(usage, dict) else {}
    completion = usage.get("completion_tokens")
    prompt = usage.get("prompt_tokens")
    return RequestResult(
        ok=True,
        streamed=False,
        e2e_s=took,
        usage_completion_tokens=completion if isinstance(completion, int) else None,
        usage_prompt_tokens=prompt if isinstance(prompt, int) else None,
        tool_outcome=classify_tool_calls(
            message.get("tool_calls") or [], str(message.get("content") or "")
        )
        if tools
        else None,
    )


def _http_failure(status: int, body: str) -> RequestResult:
    return RequestResult(ok=False, error=f"HTTP {status} {' '.join(body.split())[:120]}".strip())


async def _one(
    client: httpx.AsyncClient,
    config: BenchConfig,
    index: int,
    deadline: float,
    clock: Clock,
) -> RequestResult:
    """One request, within its own timeout and the run's deadline."""
    import httpx

    body, stream = payload(config, index)
    url = config.url.rstrip("/") + "/v1/chat/completions"
    tools = config.workload == "tools"
    budget = min(config.timeout_s, deadline - clock())
    try:
        async with asyncio.timeout(budget):
            if stream:
                return await _streamed(client, url, body, tools, clock)
            return await _plain(client, url, body, tools, clock)
    except TimeoutError:
        if budget < config.timeout_s:
            return RequestResult(ok=False, streamed=stream, cut_off=True, error="--max-seconds")
        return RequestResult(
            ok=False, streamed=stream, error=f"no answer within --timeout {config.timeout_s:g}s"
        )
    except httpx.HTTPError as err:
        return RequestResult(ok=False, streamed=stream, error=_transport_error(err))


def _transport_error(err: httpx.HTTPError) -> str:
    import httpx

    if isinstance(err, httpx.ConnectError):
        return "connection refused or reset"
    return f"{type(err).__name__}: {err}"[:160]


async def _level(
    client: httpx.AsyncClient,
    config: BenchConfig,
    concurrency: int,
    first_index: int,
    deadline: float,
    progress: Progress,
    clock: Clock,
) -> tuple[list[RequestResult], float]:
    """`config.requests` requests, at most `concurrency` in flight; (results, wall seconds)."""
    results: list[RequestResult] = []
    next_index = 0
    start = clock()

    async def worker() -> None:
        nonlocal next_index
        while next_index < config.requests and clock() < deadline:
            index = first_index + next_index
            next_index += 1
            results.append(await _one(client, config, index, deadline, clock))

    async def ticker() -> None:
        while True:
            failed = sum(1 for r in results if not r.ok and not r.cut_off)
            progress.update(
                f"bench: concurrency {concurrency}: {len(results)}/{config.requests} done, "
                f"{failed} failed, {clock() - start:.0f}s"
            )
            await asyncio.sleep(0.5)

    tick = asyncio.create_task(ticker())
    try:
        await asyncio.gather(*(worker() for _ in range(concurrency)))
    finally:
        tick.cancel()
    return results, clock() - start


async def _run(
    config: BenchConfig, api_key: str | None, progress: Progress, clock: Clock
) -> tuple[list[LevelSummary], str | None]:
    import httpx

    headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
    # httpx's own timeouts stay generous: each request is bounded by asyncio.timeout above.
    limits = httpx.Limits(max_connections=max(config.levels), max_keepalive_connections=None)
    timeout = httpx.Timeout(config.timeout_s + 10.0)
    deadline = clock() + config.max_seconds
    levels: list[LevelSummary] = []
    async with httpx.AsyncClient(headers=headers, limits=limits, timeout=timeout) as client:
        index = 0
        for _ in range(config.warmup):
            warm = await _one(client, config, index, deadline, clock)
            index += 1
            if not warm.ok and not warm.cut_off:
                raise HealthError(
                    f"bench: the warm-up request to {config.url} failed: {warm.error}",
                    hint=_hint_for(warm.error),
                )
        for concurrency in config.levels:
            if clock() >= deadline:
                return levels, f"--max-seconds {config.max_seconds:g} reached"
            results, wall = await _level(
                client, config, concurrency, index, deadline, progress, clock
            )
            index += config.requests
            summary = summarise(concurrency, results, wall)
            levels.append(summary)
            progress.line(
                f"bench: concurrency {concurrency}: {summary.ok} ok, {summary.failed} failed"
                + (f", {summary.cut_off} cut off" if summary.cut_off else "")
                + f" in {wall:.1f}s"
            )
            if summary.cut_off or len(results) < config.requests:
                return levels, f"--max-seconds {config.max_seconds:g} reached"
    return levels, None


def _hint_for(error: str) -> str:
    if error.startswith(("HTTP 401", "HTTP 403")):
        return "the endpoint wants an API key: pass --api-key-env VAR"
    if error.startswith("HTTP 404"):
        return "check --model against the ids /v1/models lists"
    if "timeout" in error:
        return "the server is slow or stuck: raise --timeout, or read its log"
    return f"read the server log (`{cli_command()} logs`)"


def served_models(url: str, api_key: str | None) -> list[str]:
    """The model ids the endpoint lists; HealthError (exit 4) when it does not serve."""
    models_url = url.rstrip("/") + "/v1/models"
    resp = http.get(models_url, timeout_s=10.0, api_key=api_key)
    if resp.status != 200:
        if resp.status in (401, 403):
            hint = "the endpoint wants an API key: pass --api-key-env VAR"
        elif resp.status is None or resp.status == 503:
            hint = (
                f"is the stack up and ready? `{cli_command()} status` shows it, "
                f"`{cli_command()} up PROFILE` starts it; or check --url"
            )
        else:
            hint = "is --url an OpenAI-compatible endpoint (vLLM, SGLang, llama-server)?"
        raise HealthError(f"bench: {url} is not serving: {models_url} → {resp.describe()}", hint)
    try:
        data = resp.json()
        return [str(m["id"]) for m in data["data"] if isinstance(m, dict) and "id" in m]
    except (ValueError, KeyError, TypeError) as err:
        raise HealthError(
            f"bench: {models_url} did not answer with a model list: {resp.body[:160]!r}",
            hint="is --url an OpenAI-compatible endpoint (vLLM, SGLang, llama-server)?",
        ) from err


def bench(
    config: BenchConfig,
    *,
    api_key: str | None = None,
    ceiling: Ceiling | None = None,
    progress: Progress | None = None,
    clock: Clock = time.perf_counter,
) -> BenchReport:
    """Run every level of `config` against its endpoint and summarise each.

    HealthError (exit 4) when the endpoint does not serve the model, the warm-up request fails,
    or every measured request failed."""
    progress = progress or SilentProgress()
    listed = served_models(config.url, api_key)
    if config.model is None and len(listed) == 1:
        config = dataclasses.replace(config, model=listed[0])
    if config.model not in listed:
        said = ", ".join(map(repr, listed)) or "none"
        raise HealthError(
            f"bench: {config.url} does not serve model {config.model!r} (it lists {said})"
            if config.model is not None
            else f"bench: {config.url} lists several models ({said}): which one?",
            hint="pass --model with one of the listed ids",
        )
    levels, stopped = asyncio.run(_run(config, api_key, progress, clock))
    report = BenchReport(config=config, levels=levels, stopped=stopped)
    measured = [level for level in levels if level.ok or level.failed]
    if measured and not any(level.ok for level in measured):
        first = next(iter(measured[0].errors), "unknown error")
        raise HealthError(f"bench: every request failed, e.g. {first}", hint=_hint_for(first))
    report.single = single_stream(levels, ceiling)
    report.notes = _notes(report)
    return report


def _notes(report: BenchReport) -> list[str]:
    notes: list[str] = []
    ok = sum(level.ok for level in report.levels)
    counted = sum(level.usage_counted for level in report.levels)
    if ok and counted == ok:
        notes.append("output tokens: the server's usage.completion_tokens for every request")
    elif ok:
        notes.append(
            f"output tokens: the server sent no usage for {ok - counted} of {ok} requests; "
            "those were counted as one token per streamed chunk, which undercounts when a "
            "chunk carries several tokens (speculative decoding)"
        )
    notes.append(
        f"input: about {report.config.input_tokens} tokens per prompt, estimated as one token "
        "per word of a fixed list; 'prompt tokens' is the server's count (chat template included)"
    )
    if report.single is not None and report.single.ceiling is None:
        notes.append("no bandwidth ceilings: name the plan with --profile PROFILE")
    elif report.single is None and report.config.workload == "text":
        notes.append("no single-stream decode figure: it needs concurrency 1 among the levels")
    return notes
