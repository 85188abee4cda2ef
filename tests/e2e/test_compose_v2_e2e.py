"""A rendered stack under the real Docker Compose v2 and the real engine, with stand-in images:
`docker compose` and ling_compose manage one project, and `up --wait` sees readiness in time."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path

import docker
import pytest

from ling_compose.cli import main
from ling_compose.describe import HEALTH_INTERVAL_S
from ling_compose.runtime import down
from ling_compose.runtime.base import SilentProgress
from ling_compose.runtime.docker_sdk import DockerRuntime
from tests.e2e.conftest import RenderedStack, render_runnable_stack, standin_stamp
from tests.external import compose

pytestmark = pytest.mark.e2e

BASE_PROFILE = "h200-fp8"  # one GPU, vLLM: starts on this machine with the stand-in image
LOAD_S = 8  # longer than a probe interval, so probes fail while the "model" loads
WAIT_SLACK_S = 10  # issue 8: `up --wait` returns within 10 s of the backend being ready


@pytest.fixture
def stack_dir(
    tmp_path: Path, images: dict[str, str], runtime: DockerRuntime
) -> Iterator[RenderedStack]:
    stack = render_runnable_stack(
        tmp_path, BASE_PROFILE, images["vllm"], env={"STANDIN_LOAD_SECONDS": str(LOAD_S)}
    )
    yield stack
    compose(["down", "--volumes", "--timeout", "1"], cwd=stack.folder)
    down(stack.name, volumes=True, timeout_s=1, runtime=runtime, progress=SilentProgress())


def test_docker_compose_and_ling_compose_manage_one_project(
    stack_dir: RenderedStack,
    runtime: DockerRuntime,
    client: docker.DockerClient,
    capsys: pytest.CaptureFixture[str],
) -> None:
    folder, name, port = stack_dir.folder, stack_dir.name, stack_dir.port
    volume = f"{name}_model-cache"

    # 1. The user's way: `docker compose up -d --wait` in the stack folder.
    started = compose(["up", "-d", "--wait"], cwd=folder, timeout=180)
    assert started.returncode == 0, started.stderr
    (container,) = runtime.containers(name)
    assert container.name == f"{name}-server-1"
    assert client.volumes.get(volume).attrs["Labels"]["com.docker.compose.project"] == name

    # 2. `ling_compose status` lists it, serving, with its endpoint.
    capsys.readouterr()
    assert main(["status", "--json"]) == 0
    rows = [r for r in json.loads(capsys.readouterr().out) if r["project"] == name]
    assert [(r["state"], r["serving"], r["endpoint"]) for r in rows] == [
        ("running", True, f"http://127.0.0.1:{port}")
    ]

    # 3. `ling_compose down` removes the containers and keeps the weights volume.
    assert main(["down", name]) == 0
    assert runtime.containers(name) == []
    created = client.volumes.get(volume).attrs["CreatedAt"]

    # 4. `ling_compose up -f` brings the same project back on that same volume.
    capsys.readouterr()
    assert main(["up", "-f", str(folder / "docker-compose.yml"), "--timeout", "60"]) == 0
    err = capsys.readouterr().err
    assert f"volume {volume}: created" not in err
    assert client.volumes.get(volume).attrs["CreatedAt"] == created
    (container,) = runtime.containers(name)
    mounts = client.containers.get(container.id).attrs["Mounts"]
    assert [(m["Type"], m["Name"]) for m in mounts] == [("volume", volume)]

    # 5. `docker compose down` stops what ling_compose started (and keeps the volume too).
    stopped = compose(["down"], cwd=folder)
    assert stopped.returncode == 0, stopped.stderr
    assert runtime.containers(name) == []
    assert runtime.networks(name) == []
    assert client.volumes.get(volume).name == volume


def test_up_wait_returns_soon_after_ready_and_loading_is_not_unhealthy(
    stack_dir: RenderedStack, client: docker.DockerClient
) -> None:
    started = compose(["up", "-d", "--wait"], cwd=stack_dir.folder, timeout=180)
    returned = time.time()
    assert started.returncode == 0, started.stderr
    container = f"{stack_dir.name}-server-1"
    late = returned - standin_stamp(client, container)
    assert 0 <= late <= WAIT_SLACK_S, f"`up --wait` returned {late:.1f}s after ready"

    # Probes failed while the model loaded (LOAD_S > interval), yet the container went straight
    # from starting to healthy: start_period keeps a loading server from counting as unhealthy.
    health = client.containers.get(container).attrs["State"]["Health"]
    assert health["Status"] == "healthy"
    assert LOAD_S > HEALTH_INTERVAL_S
    assert any(entry["ExitCode"] != 0 for entry in health["Log"]), health["Log"]
    assert health["FailingStreak"] == 0


@pytest.mark.parametrize("profile", ["3090-int4", "4090-int4"])
def test_docker_compose_never_pulls_the_fork_image(profile: str, tmp_path: Path) -> None:
    """`pull_policy: build`: Compose skips the pull instead of asking a registry for the image
    name (before, it asked Docker Hub for `ling-compose/llama-server-fork`)."""
    folder = tmp_path / profile
    assert main(["render", profile, "--stack-dir", str(folder)]) == 0
    pulled = compose(["pull"], cwd=folder, timeout=120)
    assert pulled.returncode == 0, pulled.stderr
    said = pulled.stdout + pulled.stderr
    assert "Skipped" in said
    assert "docker.io" not in said and "Pulling" not in said, said
