"""Smoke test of a served endpoint: a chat completion and tool-call round trips, plain and streamed.

Two kinds of tool-call check. Mechanics: with `tool_choice: "required"` every engine must answer
with structured `tool_calls` whose arguments are a JSON object, plain and streamed (llama-server
constrains the output with a grammar and parses it with its chat-template parser; vLLM and SGLang
constrain it with a JSON schema and parse it without the tool parser). Model behaviour: with
`tool_choice: "auto"` the model decides; a text answer is a warning, not a failure, unless the
text is itself a tool call (then the server's parser is missing or wrong: a failure).
Sources: llama.cpp b11434 common/chat-auto-parser-generator.cpp (grammar for REQUIRED);
vLLM docs/source/features/tool_calling.md "Required Function Calling" (guided decoding);
SGLang srt/function_call/json_array_parser.py (used for "required", bypassing model parsers).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from ling_compose.engines import registry
from ling_compose.errors import HealthError, cli_command
from ling_compose.runtime import http
from ling_compose.runtime.base import Progress, SilentProgress
from ling_compose.runtime.chat_stream import StreamedMessage
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

# Error texts that point at the server's tool-call settings rather than at the request.
TOOL_SETTING_ERRORS = ("tool-call-parser", "tool choice", "tool_choice", "--jinja")

PostJson = Callable[[str, dict[str, Any]], Response]
PostSse = Callable[[str, dict[str, Any]], EventStream]


@dataclass
class SmokeReport:
    url: str
    model: str
    checks: list[str] = field(default_factory=list)  # one line per passed check
    warnings: list[str] = field(default_factory=list)  # model behaviour worth knowing, not failures

    def to_json(self) -> dict[str, Any]:
        return {
            "url": self.url,
            "model": self.model,
            "passed": self.checks,
            "warnings": self.warnings,
        }


def _cause(engine: str | None) -> str:
    """What to check when tool calls come back as text: the engine's own hint when known."""
    known = registry.find(engine)
    if known is not None:
        return known.tool_call_hint
    flags = "; ".join(f"{e.display_name}: {e.tool_call_flags}" for e in registry.engines())
    return (
        "the server's tool-call parser is missing or does not match the model's format "
        f"({flags}), or the chat template lacks tool support"
    )


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
    if any(text in body for text in TOOL_SETTING_ERRORS):
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


class TextAnswer(Exception):
    """With tool_choice auto the model answered in plain text (no call, none hidden in the text)."""

    def __init__(self, content: str) -> None:
        super().__init__(content)
        self.content = content


def _tool_message_check(what: str, data: dict[str, Any], engine: str | None) -> dict[str, Any]:
    """The first structured tool call of a completion; TextAnswer when there is none."""
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
        raise TextAnswer(str(content or ""))
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
    """Join streamed deltas into (content, first tool call) and check the finish reason;
    TextAnswer when the stream carried text and no call."""
    message = StreamedMessage()
    for event in stream.events:
        message.feed(event)
    if not stream.done:
        raise _fail(
            what,
            "the stream ended without `data: [DONE]`",
            f"the server dropped the stream; read its log (`{cli_command()} logs`)",
        )
    content, calls = message.content, message.tool_calls
    if not calls:
        if _looks_like_text_call(content):
            raise _fail(
                what,
                f"the streamed tool call came back as plain text: {content[:200]!r}",
                f"likely cause: {_cause(engine)}",
            )
        raise TextAnswer(content)
    if message.finish_reason != "tool_calls":
        raise _fail(
            what,
            f"streamed finish_reason is {message.finish_reason!r}, expected 'tool_calls'",
            "check the tool-call parser",
        )
    first = calls[0]
    _check_args(what, first["function"]["name"], first["function"]["arguments"])
    return content, first


def _no_call(what: str, answer: TextAnswer, engine: str | None) -> HealthError:
    """tool_choice "required" and still no call: the server's constraint or parser failed."""
    return _fail(
        what,
        f"no tool_calls although tool_choice is 'required' (answer {answer.content[:120]!r})",
        f"the server did not enforce the call; {_cause(engine)}",
    )


def _describe(call: dict[str, Any]) -> str:
    fn = call.get("function") or call
    return f"{fn.get('name')}({fn.get('arguments')})"


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
    """Chat completion; tool-call mechanics with tool_choice "required", plain and streamed;
    the model's own choice with "auto" (text is a warning); the round trip (tool result →
    answer). Raises HealthError (exit 4) naming the likely cause."""
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

    def warn(text: str) -> None:
        report.warnings.append(text)
        progress.line(f"smoke: warn {text}")

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

    messages: list[dict[str, Any]] = [{"role": "user", "content": TOOL_PROMPT}]
    required = {"tools": [WEATHER_TOOL], "tool_choice": "required"}
    auto = {"tools": [WEATHER_TOOL], "tool_choice": "auto"}

    what = "tool call (required)"
    resp = pj(endpoint, {**base, "messages": messages, **required})
    if resp.status != 200:
        raise _http_fail(what, resp, engine)
    try:
        call = _tool_message_check(what, _json_object(what, resp), engine)
    except TextAnswer as answer:
        raise _no_call(what, answer, engine) from None
    passed(f"{what}: {_describe(call)}, finish_reason 'tool_calls'")

    what = "streamed tool call (required)"
    stream = ps(endpoint, {**base, "messages": messages, **required, "stream": True})
    if stream.response.status != 200 or stream.response.error:
        raise _http_fail(what, stream.response, engine)
    try:
        _, first = _collect_stream(what, stream, engine)
    except TextAnswer as answer:
        raise _no_call(what, answer, engine) from None
    passed(
        f"{what}: {_describe(first)} over {len(stream.events)} events, finish_reason 'tool_calls'"
    )

    what = "tool call (auto)"
    resp = pj(endpoint, {**base, "messages": messages, **auto})
    if resp.status != 200:
        raise _http_fail(what, resp, engine)
    try:
        call = _tool_message_check(what, _json_object(what, resp), engine)
        passed(f"{what}: {_describe(call)}, finish_reason 'tool_calls'")
    except TextAnswer as answer:
        # The model chose not to call (a tiny or random model does); the server's part was
        # checked above. `call` stays the required round's call for the round trip.
        warn(
            f"{what}: the model answered in text instead of calling {WEATHER_TOOL['function']['name']} "
            f"({answer.content[:80]!r}): model behaviour; the required rounds checked the mechanics"
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
    resp = pj(endpoint, {**base, "messages": follow, **auto})
    if resp.status != 200:
        raise _http_fail(what, resp, engine)
    answer_text = str(_first_choice(_json_object(what, resp))[1].get("content") or "")
    if not answer_text.strip():
        raise _fail(what, "no answer after the tool result", "check the chat template's tool role")
    passed(f"{what}: {len(answer_text)} characters")
    return report
