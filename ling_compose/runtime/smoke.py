"""Smoke test of a served endpoint: a chat completion and tool-call round trips, plain and streamed."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from ling_compose.errors import HealthError, cli_command
from ling_compose.runtime import http
from ling_compose.runtime.base import Progress, SilentProgress
from ling_compose.runtime.http import EventStream, Response

WEATHER_TOOL: dict[str, Any] = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "Current weather for a city",
        "parameters": {
            "type": "object",
            "properties": {"city": {"type": "string", "description": "City name"}},
            "required": ["city"],
        },
    },
}
TOOL_PROMPT = "What is the weather in Paris right now? Use the get_weather tool."

# What to check per engine when tool calls come back as text (facts: shared/facts/backends.md).
TOOL_TEXT_CAUSES = {
    "vllm": "vLLM parses tool calls only with `--enable-auto-tool-choice --tool-call-parser "
    "hermes` (the model writes Hermes-style <tool_call> JSON); a different parser leaves them "
    "as text",
    "sglang": "SGLang parses tool calls only with `--tool-call-parser qwen` (or `hermes`) for "
    "this model's <tool_call> JSON",
    "llamacpp": "llama.cpp parses tool calls only with `--jinja` (on by default; `--no-jinja` "
    "turns it off) and a chat template that declares tools (`--chat-template-file`)",
}
GENERIC_CAUSE = (
    "the server's tool-call parser is missing or does not match the model's format "
    "(vLLM: --enable-auto-tool-choice --tool-call-parser hermes; SGLang: --tool-call-parser qwen; "
    "llama.cpp: --jinja), or the chat template lacks tool support"
)

PostJson = Callable[[str, dict[str, Any]], Response]
PostSse = Callable[[str, dict[str, Any]], EventStream]


@dataclass
class SmokeReport:
    url: str
    model: str
    checks: list[str] = field(default_factory=list)  # one line per passed check

    def to_json(self) -> dict[str, Any]:
        return {"url": self.url, "model": self.model, "passed": self.checks}


def _cause(engine: str | None) -> str:
    return TOOL_TEXT_CAUSES.get(engine or "", GENERIC_CAUSE)


def _fail(what: str, detail: str, hint: str) -> HealthError:
    return HealthError(f"smoke test failed: {what}: {detail}", hint=hint)


def _http_fail(what: str, resp: Response, engine: str | None) -> HealthError:
    body = resp.body.lower()
    if resp.status in (401, 403):
        return _fail(
            what,
            resp.describe(),
            "the endpoint wants an API key: pass --api-key-env VAR "
            "(or set it in the environment the stack reads)",
        )
    if resp.status == 404 and "model" in body:
        return _fail(
            what,
            resp.describe(),
            "the model name differs from the served one: check --model against /v1/models",
        )
    if "tool-call-parser" in body or "tool choice" in body or "tool_choice" in body:
        return _fail(what, resp.describe(), _cause(engine))
    return _fail(what, resp.describe(), f"read the server log (`{cli_command()} logs`)")


def _json_object(what: str, resp: Response) -> dict[str, Any]:
    """The 200 answer's body as a JSON object; anything else (an HTML page from a proxy, a
    truncated body) is a HealthError that shows what came back, never a traceback."""
    try:
        data = resp.json()
    except ValueError:
        data = None
    if not isinstance(data, dict):
        raise _fail(
            what,
            f"HTTP 200 but not a JSON object: {resp.body[:200]!r}",
            "is this an OpenAI-compatible endpoint (not a proxy or web page in front of it)?",
        )
    return data


def _first_choice(data: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    """(choice, message) of a chat completion; empty dicts where the shape is not a completion."""
    choices = data.get("choices")
    choice = choices[0] if isinstance(choices, list) and choices else {}
    choice = choice if isinstance(choice, dict) else {}
    message = choice.get("message")
    return choice, message if isinstance(message, dict) else {}


def _looks_like_text_call(content: str | None) -> bool:
    text = content or ""
    return "<tool_call>" in text or ('"name"' in text and '"arguments"' in text)


def _check_args(what: str, name: str, arguments: Any) -> dict[str, Any]:
    try:
        parsed = json.loads(arguments) if isinstance(arguments, str) else None
    except ValueError:
        parsed = None
    if not isinstance(parsed, dict):
        raise _fail(
            what,
            f"arguments of {name} are not a JSON object: {str(arguments)[:200]!r}",
            "the tool-call parser produced malformed arguments; check the parser name",
        )
    return parsed


def _tool_message_check(what: str, data: dict[str, Any], engine: str | None) -> dict[str, Any]:
    choice, message = _first_choice(data)
    calls = message.get("tool_calls") or []
    finish = choice.get("finish_reason")
    if not calls:
        content = message.get("content")
        if _looks_like_text_call(content):
            raise _fail(
                what,
                f"the tool call came back as plain text in `content`: {str(content)[:200]!r}",
                f"likely cause: {_cause(engine)}",
            )
        raise _fail(
            what,
            f"no tool_calls (finish_reason {finish!r}, content {str(content)[:120]!r})",
            f"the model did not call the tool; {_cause(engine)}",
        )
    if finish != "tool_calls":
        raise _fail(
            what,
            f"finish_reason is {finish!r}, expected 'tool_calls'",
            "clients stop reading tool calls without it; check the parser version",
        )
    call = calls[0]
    fn = call.get("function") or {}
    _check_args(what, str(fn.get("name")), fn.get("arguments"))
    return dict(call)


def _collect_stream(
    what: str, stream: EventStream, engine: str | None
) -> tuple[str, dict[str, Any]]:
    """Join streamed deltas into (content, first tool call) and check the finish reason."""
    content = ""
    calls: dict[int, dict[str, Any]] = {}
    finish = None
    for event in stream.events:
        for choice in event.get("choices") or []:
            delta = choice.get("delta") or {}
            content += delta.get("content") or ""
            for part in delta.get("tool_calls") or []:
                slot = calls.setdefault(
                    int(part.get("index", 0)), {"id": "", "name": "", "arguments": ""}
                )
                slot["id"] = part.get("id") or slot["id"]
                fn = part.get("function") or {}
                slot["name"] += fn.get("name") or ""
                slot["arguments"] += fn.get("arguments") or ""
            finish = choice.get("finish_reason") or finish
    if not stream.done:
        raise _fail(
            what,
            "the stream ended without `data: [DONE]`",
            f"the server dropped the stream; read its log (`{cli_command()} logs`)",
        )
    if not calls:
        if _looks_like_text_call(content):
            raise _fail(
                what,
                f"the streamed tool call came back as plain text: {content[:200]!r}",
                f"likely cause: {_cause(engine)}",
            )
        raise _fail(what, f"no tool_calls in the stream (finish_reason {finish!r})", _cause(engine))
    if finish != "tool_calls":
        raise _fail(
            what,
            f"streamed finish_reason is {finish!r}, expected 'tool_calls'",
            "check the tool-call parser",
        )
    first = calls[min(calls)]
    _check_args(what, first["name"], first["arguments"])
    return content, first


def smoke(
    url: str,
    model: str,
    *,
    api_key: str | None = None,
    engine: str | None = None,
    timeout_s: float = 300.0,
    progress: Progress | None = None,
    post_json: PostJson | None = None,
    post_sse: PostSse | None = None,
) -> SmokeReport:
    """Chat completion, then a tool call and its round trip (tool result → answer), then the
    same tool call streamed. Raises HealthError (exit 4) naming the likely cause."""
    progress = progress or SilentProgress()
    endpoint = url.rstrip("/") + "/v1/chat/completions"
    pj: PostJson = post_json or (
        lambda u, p: http.post_json(u, p, timeout_s=timeout_s, api_key=api_key)
    )
    ps: PostSse = post_sse or (
        lambda u, p: http.post_sse(u, p, timeout_s=timeout_s, api_key=api_key)
    )
    report = SmokeReport(url=url, model=model)

    def passed(text: str) -> None:
        report.checks.append(text)
        progress.line(f"smoke: ok   {text}")

    base: dict[str, Any] = {"model": model, "max_tokens": 256, "temperature": 0}

    what = "chat completion"
    resp = pj(endpoint, {**base, "messages": [{"role": "user", "content": "Say hello."}]})
    if resp.status != 200:
        raise _http_fail(what, resp, engine)
    choice, message = _first_choice(_json_object(what, resp))
    if not message:
        raise _fail(
            what,
            f"not an OpenAI chat completion: {resp.body[:200]!r}",
            "is this an OpenAI-compatible endpoint?",
        )
    text = str(message.get("content") or "")
    if not text.strip():
        raise _fail(what, "empty answer", f"read the server log (`{cli_command()} logs`)")
    passed(f"{what}: {len(text)} characters, finish_reason {choice.get('finish_reason')!r}")

    what = "tool call"
    messages: list[dict[str, Any]] = [{"role": "user", "content": TOOL_PROMPT}]
    tools = {"tools": [WEATHER_TOOL], "tool_choice": "auto"}
    resp = pj(endpoint, {**base, "messages": messages, **tools})
    if resp.status != 200:
        raise _http_fail(what, resp, engine)
    call = _tool_message_check(what, _json_object(what, resp), engine)
    passed(
        f"{what}: {call['function']['name']}({call['function']['arguments']}), "
        "finish_reason 'tool_calls'"
    )

    what = "tool result round trip"
    follow = [
        *messages,
        {"role": "assistant", "content": None, "tool_calls": [call]},
        {
            "role": "tool",
            "tool_call_id": call.get("id", "call_0"),
            "content": json.dumps({"city": "Paris", "temperature_c": 18, "sky": "cloudy"}),
        },
    ]
    resp = pj(endpoint, {**base, "messages": follow, **tools})
    if resp.status != 200:
        raise _http_fail(what, resp, engine)
    answer = str(_first_choice(_json_object(what, resp))[1].get("content") or "")
    if not answer.strip():
        raise _fail(what, "no answer after the tool result", "check the chat template's tool role")
    passed(f"{what}: {len(answer)} characters")

    what = "streamed tool call"
    stream = ps(endpoint, {**base, "messages": messages, **tools, "stream": True})
    if stream.response.status != 200 or stream.response.error:
        raise _http_fail(what, stream.response, engine)
    _, first = _collect_stream(what, stream, engine)
    passed(
        f"{what}: {first['name']}({first['arguments']}) over "
        f"{len(stream.events)} events, finish_reason 'tool_calls'"
    )
    return report
