"""health.wait_ready and smoke as pure policies: fake fetch, clock, sleep and container watch."""

from __future__ import annotations

import json
from typing import Any

import pytest

from ling_compose.errors import HealthError
from ling_compose.runtime.base import ContainerState
from ling_compose.runtime.health import wait_ready
from ling_compose.runtime.http import EventStream, Response
from ling_compose.runtime.smoke import smoke

URL = "http://127.0.0.1:8000"
MODELS = Response(200, json.dumps({"data": [{"id": "ling"}]}))
REFUSED = Response(None, error="ConnectionError", refused=True)
LOADING = Response(
    503, '{"error":{"code":503,"message":"Loading model","type":"unavailable_error"}}'
)


class Clock:
    def __init__(self) -> None:
        self.t = 0.0

    def __call__(self) -> float:
        return self.t

    def sleep(self, s: float) -> None:
        self.t += s


class Watch:
    def __init__(self, states: list[ContainerState], exits: tuple[list[int], bool] = ([], False)):
        self.states = states
        self._exits = exits

    def state(self) -> ContainerState | None:
        return self.states.pop(0) if len(self.states) > 1 else self.states[0]

    def exits(self) -> tuple[list[int], bool]:
        return self._exits

    def log_tail(self, lines: int) -> str:
        return 'access: "GET /health HTTP/1.1" 503 -\nERROR CUDA out of memory\n'


def running(restarts: int = 0, health: str | None = "starting") -> ContainerState:
    return ContainerState(
        "id", "p-server-1", "server", "running", restart_count=restarts, health=health
    )


def script(*health: Response) -> Any:
    seq = list(health)

    def fetch(url: str) -> Response:
        if url.endswith("/v1/models"):
            return MODELS
        return seq.pop(0) if len(seq) > 1 else seq[0]

    return fetch


@pytest.mark.parametrize(
    ("answers", "phases"),
    [
        (
            [REFUSED, REFUSED, Response(200)],
            ["loading (connection refused)", "ready: model 'ling' listed"],
        ),
        (
            [REFUSED, Response(503), Response(200)],
            ["loading (connection refused)", "warming up (503)", "ready: model 'ling' listed"],
        ),
        (
            [LOADING, LOADING, Response(200, '{"status":"ok"}')],
            ["loading (503 Loading model)", "ready: model 'ling' listed"],
        ),
    ],
    ids=["vllm", "sglang", "llamacpp"],
)
def test_phases_per_backend(answers: list[Response], phases: list[str]) -> None:
    clock = Clock()
    report = wait_ready(
        URL,
        "ling",
        fetch=script(*answers),
        watch=Watch([running()]),
        clock=clock,
        sleep=clock.sleep,
        poll_s=1,
    )
    assert [p for p, _ in report.phases] == phases
    assert report.elapsed_s == 2.0


def test_waits_for_model_listing() -> None:
    clock = Clock()
    calls: list[str] = []

    def fetch(url: str) -> Response:
        calls.append(url)
        if url.endswith("/v1/models"):
            return MODELS if clock.t >= 2 else Response(200, '{"data": []}')
        return Response(200)

    report = wait_ready(URL, "ling", fetch=fetch, clock=clock, sleep=clock.sleep, poll_s=1)
    assert report.phases[0][0].startswith("health OK, waiting for /v1/models")
    assert report.elapsed_s == 2.0


def test_exit_fails_fast_with_code_oom_and_logs() -> None:
    clock = Clock()
    dead = ContainerState("id", "p-server-1", "server", "exited", exit_code=137, oom_killed=True)
    with pytest.raises(HealthError) as info:
        wait_ready(
            URL,
            "ling",
            fetch=script(REFUSED),
            watch=Watch([running(), dead]),
            clock=clock,
            sleep=clock.sleep,
            poll_s=1,
        )
    msg = str(info.value)
    assert "exited (exit code 137)" in msg and "OOM-killed: yes" in msg
    assert "CUDA out of memory" in msg and "GET /health" not in msg
    assert clock.t == 1.0
    assert "out of memory" in (info.value.hint or "")


def test_restart_is_a_failure_and_reports_the_event_exit_code() -> None:
    clock = Clock()
    with pytest.raises(HealthError, match=r"restarted \(restart #1, last exit code 3\)"):
        wait_ready(
            URL,
            "ling",
            fetch=script(REFUSED),
            watch=Watch([running(0), running(1)], ([3], False)),
            clock=clock,
            sleep=clock.sleep,
            poll_s=1,
        )


def test_timeout_names_url_status_elapsed() -> None:
    clock = Clock()
    with pytest.raises(HealthError) as info:
        wait_ready(
            URL,
            "ling",
            fetch=script(LOADING),
            watch=Watch([running()]),
            timeout_s=5,
            clock=clock,
            sleep=clock.sleep,
            poll_s=1,
        )
    msg = str(info.value)
    assert f"{URL}/health" in msg and "HTTP 503" in msg and "not ready after 5s" in msg
    assert "CUDA out of memory" in msg


def test_serving_but_unhealthy_is_reported() -> None:
    clock = Clock()
    with pytest.raises(HealthError, match="healthcheck reports the container unhealthy"):
        wait_ready(
            URL,
            "ling",
            fetch=script(Response(200)),
            watch=Watch([running(health="unhealthy")]),
            clock=clock,
            sleep=clock.sleep,
        )


# -- smoke ----------------------------------------------------------------------------------------
def _completion(message: dict[str, Any], finish: str) -> Response:
    return Response(200, json.dumps({"choices": [{"message": message, "finish_reason": finish}]}))


CALL = {
    "id": "c1",
    "type": "function",
    "function": {"name": "get_weather", "arguments": '{"city": "Paris"}'},
}


def _stream(events: list[dict[str, Any]], done: bool = True) -> EventStream:
    return EventStream(Response(200), [{"choices": [e]} for e in events], done)


GOOD_STREAM = _stream(
    [
        {
            "delta": {
                "tool_calls": [
                    {"index": 0, "id": "c1", "function": {"name": "get_weather", "arguments": ""}}
                ]
            }
        },
        {"delta": {"tool_calls": [{"index": 0, "function": {"arguments": '{"city":'}}]}},
        {"delta": {"tool_calls": [{"index": 0, "function": {"arguments": ' "Paris"}'}}]}},
        {"delta": {}, "finish_reason": "tool_calls"},
    ]
)


def _posts(tool_answer: Response) -> Any:
    def post(url: str, payload: dict[str, Any]) -> Response:
        if "tools" not in payload:
            return _completion({"content": "Hello"}, "stop")
        if payload["messages"][-1]["role"] == "tool":
            return _completion({"content": "18 degrees"}, "stop")
        return tool_answer

    return post


def test_smoke_passes() -> None:
    report = smoke(
        URL,
        "ling",
        post_json=_posts(_completion({"tool_calls": [CALL]}, "tool_calls")),
        post_sse=lambda u, p: GOOD_STREAM,
    )
    assert len(report.checks) == 4


def test_tool_call_as_text_names_the_parser() -> None:
    text = _completion(
        {"content": '<tool_call>\n{"name": "get_weather", "arguments": {}}\n</tool_call>'}, "stop"
    )
    with pytest.raises(HealthError) as info:
        smoke(
            URL, "ling", engine="sglang", post_json=_posts(text), post_sse=lambda u, p: GOOD_STREAM
        )
    assert "plain text" in str(info.value) and "--tool-call-parser qwen" in (info.value.hint or "")


def test_bad_arguments_and_finish_reason() -> None:
    bad = dict(CALL, function={"name": "get_weather", "arguments": "{city: Paris"})
    with pytest.raises(HealthError, match="not a JSON object"):
        smoke(
            URL,
            "ling",
            post_json=_posts(_completion({"tool_calls": [bad]}, "tool_calls")),
            post_sse=lambda u, p: GOOD_STREAM,
        )
    with pytest.raises(HealthError, match="finish_reason is 'stop'"):
        smoke(
            URL,
            "ling",
            post_json=_posts(_completion({"tool_calls": [CALL]}, "stop")),
            post_sse=lambda u, p: GOOD_STREAM,
        )


def test_streamed_text_call_and_missing_done() -> None:
    good = _posts(_completion({"tool_calls": [CALL]}, "tool_calls"))
    text = _stream(
        [
            {"delta": {"content": "<tool_call>{}</tool_call>"}},
            {"delta": {}, "finish_reason": "stop"},
        ]
    )
    with pytest.raises(HealthError, match="streamed tool call came back as plain text"):
        smoke(URL, "ling", engine="llamacpp", post_json=good, post_sse=lambda u, p: text)
    cut = EventStream(Response(200), GOOD_STREAM.events, False)
    with pytest.raises(HealthError, match="without `data: \\[DONE\\]`"):
        smoke(URL, "ling", post_json=good, post_sse=lambda u, p: cut)


def test_vllm_400_without_auto_tool_choice() -> None:
    err = Response(
        400,
        '{"message": "\\"auto\\" tool choice requires --enable-auto-tool-choice and --tool-call-parser to be set"}',
    )
    with pytest.raises(HealthError) as info:
        smoke(URL, "ling", engine="vllm", post_json=_posts(err), post_sse=lambda u, p: GOOD_STREAM)
    assert "--enable-auto-tool-choice" in (info.value.hint or "")


PROXY_PAGE = Response(200, "<html><body>Welcome to nginx!</body></html>")


@pytest.mark.parametrize(
    "stage",
    ["chat completion", "tool call", "tool result round trip"],
)
@pytest.mark.parametrize("body", [PROXY_PAGE, Response(200, "[1, 2]"), Response(200, '"ok"')])
def test_a_200_answer_that_is_not_a_json_object_is_a_health_error(
    stage: str, body: Response
) -> None:
    def post(url: str, payload: dict[str, Any]) -> Response:
        at = (
            "chat completion"
            if "tools" not in payload
            else "tool result round trip"
            if payload["messages"][-1]["role"] == "tool"
            else "tool call"
        )
        if at == stage:
            return body
        return _posts(_completion({"tool_calls": [CALL]}, "tool_calls"))(url, payload)

    with pytest.raises(HealthError) as info:
        smoke(URL, "ling", post_json=post, post_sse=lambda u, p: GOOD_STREAM)
    assert str(info.value).startswith(f"smoke test failed: {stage}: HTTP 200 but not a JSON object")
    assert body.body[:40] in str(info.value)
