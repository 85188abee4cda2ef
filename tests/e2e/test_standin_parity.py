"""The llama.cpp stand-in answers to the real thing: the same probes against the real
llama-server b11434 and the stand-in, started the same way; any observable difference fails.

Observed: /health over time from container start (status and body of each phase), the 503
that every endpoint gives while loading, /health and /v1/models once ready (the latter by
shape: keys and nesting, not values), error bodies of bad requests (status, error type and
code, and the message where it is a fixed text of the server's), the shape of a chat
completion and of a required tool call, and the refusal of tools without --jinja. Model output
(the text, the arguments) is not compared: the stand-in imitates Ling, the real engine serves
a tiny random model.
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from ling_compose.models.compose import ComposeProject, VolumeMount
from ling_compose.runtime import down, http, up
from ling_compose.runtime.base import SilentProgress
from ling_compose.runtime.docker_sdk import DockerRuntime
from ling_compose.runtime.smoke import WEATHER_TOOL
from tests.e2e.conftest import free_port, make_project

pytestmark = pytest.mark.e2e
QUIET = SilentProgress()
SERVED = "lc-tiny"
MODEL_IN_CONTAINER = "/models/tiny.gguf"


def _shape(value: Any, path: str = "") -> set[str]:
    """Every key path of a JSON value (`data[].meta.n_ctx`); scalars and null alike."""
    if isinstance(value, dict):
        paths = {path or "."}
        for key, item in value.items():
            paths |= _shape(item, f"{path}.{key}")
        return paths
    if isinstance(value, list):
        paths = {f"{path}[]"}
        for item in value[:1]:
            paths |= _shape(item, f"{path}[]")
        return paths
    return {path}


def _error(resp: http.Response, exact: bool) -> dict[str, Any]:
    """What an error answer shows a client: status, type, code, and the fixed message."""
    try:
        body = resp.json()
    except ValueError:
        return {"status": resp.status, "not JSON": resp.describe()}
    err = body.get("error") or {}
    seen = {"status": resp.status, "shape": sorted(_shape(body)), "type": err.get("type")}
    seen["code"] = err.get("code")
    if exact:
        seen["message"] = err.get("message")
    return seen


def _json(resp: http.Response) -> Any:
    try:
        return resp.json()
    except ValueError:
        return {"not JSON": resp.describe()}


def _readiness(url: str, timeout_s: float = 90.0) -> dict[str, Any]:
    """Poll /health from container start until 200: the distinct (status, body) phases, and
    what /v1/models and a chat completion answer during the loading phase."""
    phases: list[tuple[int | None, Any]] = []
    during: dict[str, Any] = {}
    start = time.monotonic()
    while time.monotonic() - start < timeout_s:
        resp = http.get(url + "/health", timeout_s=2)
        state = (resp.status, json.loads(resp.body) if resp.body else None)
        if resp.status is None:
            state = (None, "refused" if resp.refused else "no answer")
        if not phases or phases[-1] != state:
            phases.append(state)
        if resp.status == 503 and not during:
            models = http.get(url + "/v1/models", timeout_s=2)
            chat = http.post_json(url + "/v1/chat/completions", {"messages": []}, timeout_s=2)
            during = {
                "/v1/models": (models.status, models.json()),
                "/v1/chat/completions": (chat.status, chat.json()),
            }
        if resp.status == 200:
            break
        time.sleep(0.05)
    # The process needs a moment before it listens at all; that part is Docker's, not the engine's.
    while phases and phases[0][0] is None:
        phases.pop(0)
    return {"phases": phases, "while loading": during}


def _chat(url: str, payload: dict[str, Any]) -> http.Response:
    return http.post_json(url + "/v1/chat/completions", payload, timeout_s=120)


def probe(url: str) -> dict[str, Any]:
    """The probe sequence, from container start; one dict of observations per engine."""
    seen: dict[str, Any] = {"readiness": _readiness(url)}
    health = http.get(url + "/health")
    seen["/health"] = (health.status, health.json())
    models = http.get(url + "/v1/models")
    seen["/v1/models"] = (models.status, sorted(_shape(models.json())))
    seen["/v1/models ids"] = [m.get("id") for m in models.json().get("data", [])]
    seen["GET /nope"] = _error(http.get(url + "/nope"), exact=True)
    seen["POST without messages"] = _error(_chat(url, {}), exact=True)
    seen["POST messages not a list"] = _error(_chat(url, {"messages": "hi"}), exact=True)
    raw = _raw_post(url + "/v1/chat/completions", b"{not json")
    seen["POST malformed JSON"] = _error(raw, exact=False)  # the JSON library's own wording
    chat = _chat(url, {"messages": [{"role": "user", "content": "Say hello."}], "max_tokens": 16})
    seen["chat completion"] = (chat.status, sorted(_shape(_json(chat))))
    required = _chat(
        url,
        {
            "messages": [{"role": "user", "content": "Weather in Paris?"}],
            "tools": [WEATHER_TOOL],
            "tool_choice": "required",
            "max_tokens": 128,
            # Greedy: the tiny model's weights are biased so that its argmax closes the call;
            # llama-server's default sampling (temperature 0.8) can wander off it.
            "temperature": 0,
        },
    )
    seen["tool call (required)"] = (required.status, sorted(_shape(_json(required))))
    return seen


def _raw_post(url: str, body: bytes) -> http.Response:
    import requests

    r = requests.post(url, data=body, headers={"Content-Type": "application/json"}, timeout=10)
    return http.Response(status=r.status_code, body=r.text)


def _project(image: str, tiny_model: Path, *, jinja: bool, standin: bool) -> ComposeProject:
    """The same service for both engines: same flags, same mounted model file."""
    base = make_project(
        "llamacpp", image, name=f"lc-e2e-parity-{uuid.uuid4().hex[:8]}", port=free_port()
    )
    svc = base.services["server"]
    command = ["--model", MODEL_IN_CONTAINER, "--alias", SERVED, "--port", "8080"]
    command += ["--ctx-size", "4096", "--jinja" if jinja else "--no-jinja"]
    env = dict(svc.environment)
    if standin:
        env["STANDIN_LOAD_SECONDS"] = "1.5"  # about what the real server takes for this model
    svc = svc.model_copy(
        update={
            "command": command,
            "environment": env,
            "volumes": [
                *svc.volumes,
                VolumeMount(source=str(tiny_model), target=MODEL_IN_CONTAINER, read_only=True),
            ],
        }
    )
    metadata = {**base.metadata, "served_model_name": SERVED}
    return base.model_copy(update={"services": {"server": svc}, "metadata": metadata})


@pytest.fixture
def started(runtime: DockerRuntime) -> Iterator[list[ComposeProject]]:
    projects: list[ComposeProject] = []
    yield projects
    for proj in projects:
        down(proj, volumes=True, timeout_s=1, runtime=runtime, progress=QUIET)


def _run(proj: ComposeProject, runtime: DockerRuntime, started: list[ComposeProject]) -> str:
    started.append(proj)
    up(proj, runtime=runtime, progress=QUIET, environ={}, wait=False, smoke_test=False)
    port = proj.services["server"].ports[0].host_port
    return f"http://127.0.0.1:{port}"


def _differences(real: dict[str, Any], standin: dict[str, Any]) -> list[str]:
    out = []
    for key in real:
        a, b = real[key], standin.get(key)
        if a == b:
            continue
        if isinstance(a, tuple) and isinstance(a[1], list) and isinstance(b, tuple):
            only_real = sorted(set(a[1]) - set(b[1]))
            only_standin = sorted(set(b[1]) - set(a[1]))
            out.append(f"{key}: only real {only_real}; only stand-in {only_standin}")
        else:
            out.append(f"{key}:\n    real     {a}\n    stand-in {b}")
    return out


@pytest.fixture
def engines(images: dict[str, str], real_llamacpp_image: str) -> dict[str, str]:
    """The two images under comparison, the real one first."""
    return {"real": real_llamacpp_image, "stand-in": images["llamacpp"]}


def _start(
    engine: str,
    engines: dict[str, str],
    tiny_model: Path,
    runtime: DockerRuntime,
    started: list[ComposeProject],
    *,
    jinja: bool,
) -> str:
    proj = _project(engines[engine], tiny_model, jinja=jinja, standin=engine == "stand-in")
    return _run(proj, runtime, started)


def test_standin_and_real_llama_server_answer_the_same_probes(
    engines: dict[str, str], tiny_model: Path, runtime: DockerRuntime, started: list[ComposeProject]
) -> None:
    real, fake = (
        probe(_start(engine, engines, tiny_model, runtime, started, jinja=True))
        for engine in engines
    )
    # The facts the docs state, seen on the real engine (so the comparison compares something).
    loading = {"error": {"code": 503, "message": "Loading model", "type": "unavailable_error"}}
    assert real["readiness"]["phases"] == [(503, loading), (200, {"status": "ok"})]
    assert real["/v1/models ids"] == [SERVED]
    differences = _differences(real, fake)
    assert not differences, "the stand-in differs from llama-server b11434:\n" + "\n".join(
        differences
    )


def test_tools_without_jinja_are_refused_alike(
    engines: dict[str, str], tiny_model: Path, runtime: DockerRuntime, started: list[ComposeProject]
) -> None:
    answers = []
    for engine in engines:
        url = _start(engine, engines, tiny_model, runtime, started, jinja=False)
        _readiness(url)
        payload = {"messages": [{"role": "user", "content": "Weather?"}], "tools": [WEATHER_TOOL]}
        answers.append(_error(_chat(url, payload), exact=True))
    assert answers[0]["status"] == 500
    assert answers[0]["message"] == "tools param requires --jinja flag"
    assert answers[1] == answers[0]
