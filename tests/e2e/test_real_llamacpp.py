"""The real llama-server (llama.cpp b11434, built from source) serving a tiny model, through
ling_compose's own code path and through Docker Compose v2.

The stack is rendered like any other (`render 4090-int4` with `--image` and `--model-file`, the
overrides that exist for this), so what starts is what ling_compose writes. Nothing here is a
stand-in: readiness, /v1/models, tool-call parsing and streaming are the engine's own.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import docker
import pytest

import ling_compose.cli
from ling_compose.runtime import down, http
from ling_compose.runtime.base import SilentProgress
from ling_compose.runtime.docker_sdk import DockerRuntime
from tests.e2e.conftest import render_real_llamacpp_stack
from tests.e2e.realengine import tinymodel

pytestmark = pytest.mark.e2e
SERVED = "lc-tiny"


@pytest.fixture
def cli(monkeypatch: pytest.MonkeyPatch) -> object:
    return ling_compose.cli.main


@pytest.fixture
def rendered(
    real_llamacpp_image: str, tiny_model: Path, runtime: DockerRuntime, tmp_path: Path
) -> Iterator[tuple[Path, str, int]]:
    """`render 4090-int4` for the real image and the tiny model: (file, project name, port)."""
    out = tmp_path / "docker-compose.yml"
    stack = render_real_llamacpp_stack(out, real_llamacpp_image, tiny_model, SERVED)
    name, port = stack.name, stack.port
    yield out, name, port
    down(name, volumes=True, timeout_s=2, runtime=runtime, progress=SilentProgress())


def test_tiny_model_is_deterministic(tmp_path: Path) -> None:
    a = tinymodel.write(tmp_path / "a.gguf")
    b = tinymodel.write(tmp_path / "b.gguf")
    c = tinymodel.write(tmp_path / "c.gguf", seed=1)
    assert tinymodel.sha256(a) == tinymodel.sha256(b) != tinymodel.sha256(c)
    assert 10e6 < a.stat().st_size < 100e6


def test_render_up_smoke_down_against_the_real_server(
    cli: object,
    rendered: tuple[Path, str, int],
    runtime: DockerRuntime,
    client: docker.DockerClient,
    capsys: pytest.CaptureFixture[str],
) -> None:
    main = cli  # type: ignore[assignment]
    out, name, port = rendered
    header = out.read_text().split("x-ling-compose:")[0]
    assert "serves THAT FILE, not Ling-2.6-flash" in header

    assert main(["up", "-f", str(out), "--timeout", "180"]) == 0  # type: ignore[operator]
    captured = capsys.readouterr()
    assert captured.out.strip() == f"http://127.0.0.1:{port}"
    # wait_ready prints one "[  1.2s] <phase>: <url>" line per phase change.
    phases = [m.group(1) for m in re.finditer(r"^\[\s*[\d.]+s\] (.+?): http", captured.err, re.M)]
    phases = [p for p in phases if not p.startswith("starting container")]
    # The engine's own readiness: 503 "Loading model" while it loads (the port is open at once),
    # then 200; never SGLang's warm-up 503.
    assert phases[0] in ("loading (503 Loading model)", "loading (connection refused)"), phases
    assert "loading (503 Loading model)" in phases, phases
    assert phases[-1] == f"ready: model '{SERVED}' listed", phases
    assert not any(p.startswith("warming up") for p in phases), phases

    models = http.get(f"http://127.0.0.1:{port}/v1/models")
    assert models.status == 200
    assert [m["id"] for m in models.json()["data"]] == [SERVED]

    # The mechanics pass with the real parser; with "auto" the tiny model answers in text.
    assert "smoke: ok   tool call (required): get_weather(" in captured.err
    assert "smoke: ok   streamed tool call (required): get_weather(" in captured.err
    assert "smoke: warn tool call (auto): the model answered in text" in captured.err
    assert "smoke: ok   tool result round trip" in captured.err

    url = f"http://127.0.0.1:{port}"
    assert main(["smoke", "--url", url, "--model", SERVED, "--json"]) == 0  # type: ignore[operator]
    report = json.loads(capsys.readouterr().out)
    assert len(report["passed"]) == 4 and len(report["warnings"]) == 1
    assert json.loads(report["passed"][1].split("get_weather(", 1)[1].rsplit(")", 1)[0]) == {
        "city": ""
    }

    logs = client.containers.get(f"{name}-server-1").logs().decode(errors="replace")
    assert "llama_server: model loaded" in logs  # the real engine's log, not a stand-in's

    assert main(["down", "-f", str(out)]) == 0  # type: ignore[operator]
    assert runtime.containers(name) == []
    assert runtime.volumes(name) == [f"{name}_model-cache"]  # the cache volume is kept


@pytest.mark.skipif(
    shutil.which("docker") is None
    or subprocess.run(["docker", "compose", "version"], capture_output=True).returncode != 0,
    reason="Docker Compose v2 (`docker compose`) is not installed",
)
def test_docker_compose_up_wait_serves_the_rendered_file(
    cli: object,
    rendered: tuple[Path, str, int],
    runtime: DockerRuntime,
    capsys: pytest.CaptureFixture[str],
) -> None:
    main = cli  # type: ignore[assignment]
    out, name, port = rendered
    compose = ["docker", "compose", "-p", name, "-f", str(out)]
    # --wait returns once Docker's healthcheck (curl /health in the container) reports healthy.
    up = subprocess.run(
        [*compose, "up", "-d", "--wait"], capture_output=True, text=True, timeout=300
    )
    assert up.returncode == 0, up.stderr
    health = http.get(f"http://127.0.0.1:{port}/health")
    assert (health.status, health.json()) == (200, {"status": "ok"})
    url = f"http://127.0.0.1:{port}"
    assert main(["smoke", "--url", url, "--model", SERVED]) == 0  # type: ignore[operator]
    assert capsys.readouterr().out.startswith("smoke test passed: 4 checks")
    gone = subprocess.run([*compose, "down"], capture_output=True, text=True, timeout=120)
    assert gone.returncode == 0, gone.stderr
    assert runtime.containers(name) == []
    assert runtime.volumes(name) == [f"{name}_model-cache"]
