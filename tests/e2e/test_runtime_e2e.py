"""The real up/down/wait/smoke code against a real Docker engine and the stand-in backend images."""

from __future__ import annotations

import shutil
import socket
import subprocess
import time
from pathlib import Path

import docker
import pytest
import yaml

from ling_compose.errors import DockerError, HealthError
from ling_compose.runtime import down, status, up
from ling_compose.runtime.base import SilentProgress
from ling_compose.runtime.docker_sdk import DockerRuntime
from tests.e2e.conftest import MODEL, ProjectFactory, free_port

pytestmark = pytest.mark.e2e
QUIET = SilentProgress()


def _up(project: object, runtime: DockerRuntime, **kwargs: object):  # type: ignore[no-untyped-def]
    kwargs.setdefault("timeout_s", 60)
    kwargs.setdefault("poll_s", 0.2)
    return up(project, runtime=runtime, progress=QUIET, environ={}, **kwargs)  # type: ignore[arg-type]


@pytest.mark.parametrize("backend", ["vllm", "sglang", "llamacpp"])
def test_up_ready_smoke_down(
    backend: str, project: ProjectFactory, runtime: DockerRuntime, client: docker.DockerClient
) -> None:
    proj = project(backend)
    result = _up(proj, runtime)
    assert result.actions == {"server": "created"}
    assert result.ready is not None and result.ready.model == MODEL
    assert result.smoke is not None and len(result.smoke.checks) == 4
    phases = [p for p, _ in result.ready.phases]
    if backend == "llamacpp":
        assert any("503 Loading model" in p for p in phases), phases
    rows = status(proj.name, runtime=runtime)
    assert [(r.service, r.state, r.serving, r.model) for r in rows] == [
        ("server", "running", True, MODEL)
    ]
    gone = down(proj, runtime=runtime, progress=QUIET)
    assert gone.containers == [f"{proj.name}-server-1"]
    assert (
        client.containers.list(all=True, filters={"label": f"io.ling-compose.project={proj.name}"})
        == []
    )


def test_converges_keeps_volume_and_reaches_gpu_runtime(
    project: ProjectFactory, runtime: DockerRuntime, client: docker.DockerClient, tmp_path: Path
) -> None:
    proj = project("vllm")
    first = _up(proj, runtime, smoke_test=False)
    cid = first.container_ids["server"]

    # The GPU request reaches the engine (the no-op NVIDIA hook lets it start without a GPU).
    host_config = client.containers.get(cid).attrs["HostConfig"]
    assert host_config["DeviceRequests"] == [
        {"Driver": "nvidia", "Count": 1, "DeviceIDs": [], "Capabilities": [["gpu"]], "Options": {}}
    ]
    assert host_config["ShmSize"] == 256 * 1024 * 1024
    assert {u["Name"] for u in host_config["Ulimits"]} == {"memlock", "stack"}

    # Same config: nothing recreated.
    again = _up(proj, runtime, smoke_test=False)
    assert again.actions == {"server": "unchanged"}
    assert again.container_ids["server"] == cid

    # docker-compose 1.29 (an independent implementation) recognises the project by its labels;
    # it predates the top-level `name:`, so it gets the project name from -p instead.
    if shutil.which("docker-compose"):
        compose_file = tmp_path / "docker-compose.yml"
        legacy = {k: v for k, v in proj.to_compose().items() if k != "name"}
        compose_file.write_text(yaml.safe_dump(legacy, sort_keys=False))
        ps = subprocess.run(
            ["docker-compose", "-f", str(compose_file), "-p", proj.name, "ps", "-q"],
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert ps.returncode == 0, ps.stderr
        assert ps.stdout.split() == [cid]

    # A changed service is recreated.
    changed = proj.model_copy(
        update={
            "services": {
                "server": proj.services["server"].model_copy(
                    update={"environment": {**proj.services["server"].environment, "EXTRA": "1"}}
                )
            }
        }
    )
    third = _up(changed, runtime, smoke_test=False)
    assert third.actions == {"server": "recreated"}
    assert third.container_ids["server"] != cid

    # down keeps the weights volume; down --volumes removes it.
    volume = f"{proj.name}_model-cache"
    kept = down(proj, runtime=runtime, progress=QUIET)
    assert kept.volumes_kept == [volume]
    assert client.volumes.get(volume).name == volume
    removed = down(proj, volumes=True, runtime=runtime, progress=QUIET)
    assert removed.volumes_removed == [volume]
    assert runtime.volumes(proj.name) == []


@pytest.mark.parametrize("restart", ["unless-stopped", "no"])
def test_crash_during_load_is_reported_in_seconds(
    restart: str, project: ProjectFactory, runtime: DockerRuntime
) -> None:
    proj = project(
        "vllm", env={"STANDIN_LOAD_SECONDS": "120", "STANDIN_CRASH_AFTER": "1"}, restart=restart
    )
    start = time.monotonic()
    with pytest.raises(HealthError) as info:
        _up(proj, runtime, timeout_s=120)
    took = time.monotonic() - start
    message = str(info.value)
    assert took < 15, f"crash reported after {took:.1f}s"
    assert "exit code 1" in message
    assert "CUDA out of memory" in message  # the log tail
    assert "OOM-killed: no" in message
    if restart == "no":
        assert "exited (exit code 1)" in message
    else:
        assert "restarted" in message


def test_bad_flag_fails_fast_like_the_real_parser(
    project: ProjectFactory, runtime: DockerRuntime
) -> None:
    proj = project("sglang", extra_args=["--tool-call-parser", "llama3_json"], tool_args=[])
    with pytest.raises(HealthError) as info:
        _up(proj, runtime, timeout_s=60)
    assert "exit code 2" in str(info.value)
    assert "invalid choice: 'llama3_json'" in str(info.value)


def test_health_timeout_names_url_status_and_logs(
    project: ProjectFactory, runtime: DockerRuntime
) -> None:
    proj = project("llamacpp", env={"STANDIN_NEVER_READY": "1"})
    start = time.monotonic()
    with pytest.raises(HealthError) as info:
        _up(proj, runtime, timeout_s=3)
    took = time.monotonic() - start
    message = str(info.value)
    port = proj.services["server"].ports[0].host_port
    assert 3 <= took < 15
    assert f"http://127.0.0.1:{port}/health" in message
    assert "HTTP 503" in message and "Loading model" in message
    assert "not ready after" in message and "timeout 3s" in message
    assert "main: loading model" in message  # log tail
    assert info.value.hint and "--timeout" in info.value.hint


def test_port_already_in_use(project: ProjectFactory, runtime: DockerRuntime) -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen(1)
        port = holder.getsockname()[1]
        proj = project("vllm", port=port)
        with pytest.raises(DockerError) as info:
            _up(proj, runtime)
    assert f"host port {port}" in str(info.value)
    assert info.value.hint and "--port" in info.value.hint
    assert info.value.exit_code == 3


def test_tool_calls_as_text_are_diagnosed(project: ProjectFactory, runtime: DockerRuntime) -> None:
    # A real parser name that does not match the model's <tool_call> JSON format.
    proj = project(
        "vllm", tool_args=["--enable-auto-tool-choice", "--tool-call-parser", "llama3_json"]
    )
    with pytest.raises(HealthError) as info:
        _up(proj, runtime)
    assert "tool call came back as plain text" in str(info.value)
    assert info.value.hint and "--tool-call-parser hermes" in info.value.hint


def test_vllm_without_tool_flags_is_diagnosed(
    project: ProjectFactory, runtime: DockerRuntime
) -> None:
    proj = project("vllm", tool_args=[])
    with pytest.raises(HealthError) as info:
        _up(proj, runtime)
    assert "HTTP 400" in str(info.value)
    assert info.value.hint and "--enable-auto-tool-choice" in info.value.hint


def test_no_gpu_runtime(nogpu_client: docker.DockerClient, images: dict[str, str]) -> None:
    from tests.e2e.conftest import make_project

    second = DockerRuntime(client=nogpu_client)
    name = f"lc-e2e-nogpu-{free_port()}"
    proj = make_project("vllm", images["vllm"], name=name, port=free_port())
    try:
        with pytest.raises(DockerError) as info:
            _up(proj, second)
        assert "could not select device driver" in str(info.value)
        assert info.value.hint and "nvidia-container-toolkit" in info.value.hint
    finally:
        down(name, volumes=True, timeout_s=1, runtime=second, progress=QUIET)
