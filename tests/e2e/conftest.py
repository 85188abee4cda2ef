"""E2E fixtures: a reachable Docker engine (skip locally, fail in CI), stand-in images, projects."""

from __future__ import annotations

import contextlib
import io
import os
import re
import shutil
import socket
import subprocess
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import docker
import docker.errors
import docker.types
import pytest
import yaml

from ling_compose import catalog
from ling_compose.cli import main
from ling_compose.models.compose import (
    ComposeProject,
    GpuReservation,
    Healthcheck,
    NamedVolume,
    PortMapping,
    Service,
    VolumeMount,
)
from ling_compose.runtime import down, up
from ling_compose.runtime.base import SilentProgress
from ling_compose.runtime.docker_sdk import DockerRuntime
from tests.e2e.realengine import build as real_build
from tests.e2e.realengine import tinymodel
from tests.e2e.standins import build
from tests.external import unavailable

REPO = Path(__file__).resolve().parents[2]
ENGINE_SCRIPT = REPO / ".ci" / "docker-engine.sh"
# LING_NOGPU_SOCKET: a separate hook-less engine per checkout when several run tests at once.
NOGPU_SOCKET = os.environ.get("LING_NOGPU_SOCKET", "/tmp/ling-nogpu.sock")
MODEL = "ling-2.6-flash"
CONTAINER_PORTS = {"vllm": 8000, "sglang": 30000, "llamacpp": 8080}


@pytest.fixture(scope="session")
def client() -> Iterator[docker.DockerClient]:
    try:
        c = docker.from_env()
        c.ping()
    except (docker.errors.DockerException, OSError) as err:
        unavailable(f"no Docker engine reachable ({err}); start one: sudo .ci/docker-engine.sh")
    yield c
    c.close()


@pytest.fixture(scope="session")
def images(client: docker.DockerClient) -> dict[str, str]:
    try:
        return build.build_all(client)
    except build.BuildUnavailable as err:
        unavailable(f"cannot build the stand-in images: {err}")
        raise


@pytest.fixture(scope="session")
def real_llamacpp_image(client: docker.DockerClient) -> str:
    """The real llama-server b11434 image: cached, else built from source (minutes, once)."""
    try:
        return real_build.ensure_image(client)
    except build.BuildUnavailable as err:
        unavailable(f"cannot build the real llama-server image: {err}")
        raise


@pytest.fixture(scope="session")
def tiny_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny random-weight GGUF the real llama-server serves (tinymodel.py says how)."""
    return tinymodel.write(tmp_path_factory.mktemp("tiny-model") / "tiny.gguf")


@pytest.fixture(scope="session")
def runtime(client: docker.DockerClient) -> DockerRuntime:
    return DockerRuntime(client=client)


def _memlock_cap() -> int | None:
    """The Docker daemon's hard memlock limit when it is capped (as in this sandbox: 8 MiB)."""
    for pid_dir in Path("/proc").iterdir():
        try:
            if (pid_dir / "comm").read_text().strip() != "dockerd":
                continue
            for line in (pid_dir / "limits").read_text().splitlines():
                if line.startswith("Max locked memory"):
                    hard = line.split()[4]
                    return None if hard == "unlimited" else int(hard)
        except OSError:
            continue
    return None


def runnable_here(
    compose_file: Path, image: str, env: dict[str, str] | None = None
) -> dict[str, Any]:
    """Make a rendered file start on this machine, changing as little as possible: the stand-in
    image for the real one, stand-in settings (env), and a memlock ulimit this sandbox's dockerd
    may grant (rendered multi-GPU files ask for -1). Returns the file's data as written."""
    data: dict[str, Any] = yaml.safe_load(compose_file.read_text())
    service = data["services"]["server"]
    service["image"] = image
    service.setdefault("environment", {}).update(env or {})
    cap = _memlock_cap()
    if cap is not None and service.get("ulimits", {}).get("memlock") == -1:
        service["ulimits"]["memlock"] = cap
    compose_file.write_text(yaml.safe_dump(data, sort_keys=False))
    return data


@dataclass(frozen=True)
class RenderedStack:
    folder: Path
    name: str  # the Compose project
    port: int


def render_runnable_stack(
    tmp: Path, base_profile: str, image: str, env: dict[str, str] | None = None
) -> RenderedStack:
    """A built-in profile under a unique name (the engine is shared with other checkouts),
    rendered by `render --stack-dir` into a folder whose name has nothing to do with the
    project, with .env made from .env.example, then made runnable here (runnable_here)."""
    profile = f"e2e-{uuid.uuid4().hex[:8]}"
    profiles = tmp / f"{profile}-profiles.yml"
    spec = catalog.builtin_profiles()[base_profile].model_dump(mode="json", exclude_none=True)
    profiles.write_text(yaml.safe_dump({"profiles": {profile: spec}}))
    port = free_port()
    folder = tmp / f"unrelated-folder-{uuid.uuid4().hex[:4]}"
    args = ["render", profile, "--profiles-file", str(profiles), "--port", str(port)]
    with contextlib.redirect_stderr(io.StringIO()) as said:  # "wrote ..." lines
        if main([*args, "--stack-dir", str(folder)]) != 0:
            raise RuntimeError(f"render {base_profile} as {profile} failed: {said.getvalue()}")
    shutil.copy(folder / ".env.example", folder / ".env")
    runnable_here(folder / "docker-compose.yml", image, env)
    return RenderedStack(folder=folder, name=f"ling-{profile}", port=port)


def render_real_llamacpp_stack(
    out: Path, image: str, model: Path, served: str, *extra: str
) -> RenderedStack:
    """`render 4090-int4` for the real llama-server image and a local GGUF (the overrides that
    exist for this), written to `out`, with `extra` render arguments. The one change to what
    render wrote: a project name of our own, as several test runs share this engine
    (`ling-4090-int4` belongs to the rendered-profile tests)."""
    port = free_port()
    args = ["render", "4090-int4", "--image", image, "--model-file", str(model)]
    args += ["--served-model-name", served, "--port", str(port), "-o", str(out), *extra]
    with contextlib.redirect_stderr(io.StringIO()) as said:  # "wrote ..." lines
        if main(args) != 0:
            raise RuntimeError(f"render {' '.join(args[1:])} failed: {said.getvalue()}")
    text = out.read_text()
    rendered_name = yaml.safe_load(text)["name"]
    name = f"lc-e2e-real-{uuid.uuid4().hex[:8]}"
    # Everywhere the rendered project name stands: `name:` and the project label.
    out.write_text(text.replace(rendered_name, name))
    assert yaml.safe_load(out.read_text())["name"] == name
    return RenderedStack(folder=out.parent, name=name, port=port)


def standin_stamp(
    client: docker.DockerClient, container: str, key: str = "STANDIN_READY_AT"
) -> float:
    """A moment the stand-in logged: STANDIN_READY_AT (/health turned 200), STANDIN_EXIT_AT."""
    logs = client.containers.get(container).logs().decode()
    match = re.search(rf"{key} (\d+\.\d+)", logs)
    if not match:
        raise RuntimeError(f"no {key} in the logs of {container}: {logs[-2000:]}")
    return float(match.group(1))


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


ProjectFactory = Callable[..., ComposeProject]


def make_project(
    backend: str,
    image: str,
    *,
    name: str,
    port: int,
    env: dict[str, str] | None = None,
    extra_args: list[str] | None = None,
    tool_args: list[str] | None = None,
    restart: str = "unless-stopped",
    gpus: GpuReservation | None = None,
) -> ComposeProject:
    """A project shaped like what `render` writes for each engine (entrypoint, flags, health)."""
    cport = CONTAINER_PORTS[backend]
    entrypoint: list[str] | None = None
    if backend == "vllm":
        tools = (
            tool_args
            if tool_args is not None
            else ["--enable-auto-tool-choice", "--tool-call-parser", "hermes"]
        )
        command = ["inclusionAI/Ling-2.6-flash-FP8", "--served-model-name", MODEL]
        command += ["--host", "0.0.0.0", "--port", str(cport), "--trust-remote-code", *tools]
    elif backend == "sglang":
        entrypoint = ["python3", "-m", "sglang.launch_server"]
        tools = tool_args if tool_args is not None else ["--tool-call-parser", "qwen"]
        command = ["--model-path", "inclusionAI/Ling-2.6-flash", "--served-model-name", MODEL]
        command += ["--host", "0.0.0.0", "--port", str(cport), "--tp-size", "1", *tools]
    else:
        tools = tool_args if tool_args is not None else ["--jinja"]
        command = ["-hf", "example/Ling-2.6-flash-GGUF:Q4_K_M", "--alias", MODEL]
        command += ["--port", str(cport), "-ngl", "99", "-c", "32768", *tools]
    command += extra_args or []
    environment = {"STANDIN_LOAD_SECONDS": "1", "STANDIN_WARMUP_SECONDS": "1"}
    environment["HF_TOKEN"] = "${HF_TOKEN:-}"
    environment.update(env or {})
    service = Service(
        image=image,
        entrypoint=entrypoint,
        command=command,
        environment=environment,
        ports=[PortMapping(host_ip="127.0.0.1", host_port=port, container_port=cport)],
        volumes=[VolumeMount(source="model-cache", target="/root/.cache")],
        shm_size="256mb",
        # memlock stays under this sandbox's 8 MiB hard cap (rendered multi-GPU files ask for -1).
        ulimits={"memlock": 4194304, "stack": 67108864},
        gpus=gpus or GpuReservation(count=1),
        healthcheck=Healthcheck(
            test=["CMD", "curl", "-fsS", f"http://localhost:{cport}/health"],
            interval_s=2,
            timeout_s=2,
            retries=3,
            start_period_s=60,
        ),
        restart=restart,  # type: ignore[arg-type]
        labels={"io.ling-compose.engine": backend},
    )
    return ComposeProject(
        name=name,
        services={"server": service},
        volumes={"model-cache": NamedVolume(labels={"io.ling-compose.role": "weights-cache"})},
        metadata={
            "engine": backend,
            "served_model_name": MODEL,
            "health_path": "/health",
            "service": "server",
        },
    )


def serve_standin(project: ComposeProject, runtime: DockerRuntime) -> str:
    """Bring a stand-in project up until it serves (no smoke test); return its endpoint."""
    result = up(
        project,
        runtime=runtime,
        progress=SilentProgress(),
        environ={},
        smoke_test=False,
        timeout_s=60,
        poll_s=0.2,
    )
    assert result.endpoint is not None
    return result.endpoint


@pytest.fixture
def project_name(runtime: DockerRuntime) -> Iterator[str]:
    """A unique project name; whatever the test leaves behind is removed, volumes included."""
    name = f"lc-e2e-{uuid.uuid4().hex[:8]}"
    yield name
    down(name, volumes=True, timeout_s=1, runtime=runtime, progress=SilentProgress())


@pytest.fixture
def project(images: dict[str, str], project_name: str) -> ProjectFactory:
    def factory(backend: str = "vllm", **kwargs: object) -> ComposeProject:
        port = kwargs.pop("port", None) or free_port()
        return make_project(
            backend,
            images[backend],
            name=project_name,
            port=int(port),  # type: ignore[call-overload]
            **kwargs,  # type: ignore[arg-type]
        )

    return factory


def _path_with_decoy_hook(folder: Path) -> str:
    """PATH with FOLDER first, holding a no-op hook and a link to dockerd (as /usr/bin does)."""
    hook = folder / "nvidia-container-runtime-hook"
    hook.write_text("#!/bin/sh\ncat >/dev/null\nexit 0\n")
    hook.chmod(0o755)
    dockerd = shutil.which("dockerd")
    if dockerd:
        (folder / "dockerd").symlink_to(dockerd)
    return f"{folder}{os.pathsep}{os.environ.get('PATH', '')}"


def _answers(url: str) -> bool:
    # Connect once by hand first: docker-py leaks its socket when the connect fails.
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as raw:
        try:
            raw.connect(url.removeprefix("unix://"))
        except OSError:
            return False
    try:
        probe = docker.DockerClient(base_url=url)  # asks the server's API version: may raise
    except (docker.errors.DockerException, OSError):
        return False
    try:
        return bool(probe.ping())
    except (docker.errors.DockerException, OSError):
        return False
    finally:
        probe.close()


def _accepts_gpu_requests(engine: docker.DockerClient, image: str) -> bool:
    """Whether ENGINE starts a container that asks for a GPU (it then has an NVIDIA driver)."""
    gpu = docker.types.DeviceRequest(count=1, capabilities=[["gpu"]])
    box = engine.containers.create(image, entrypoint=["true"], device_requests=[gpu])
    try:
        box.start()
    except docker.errors.APIError as err:
        if "could not select device driver" in str(err):
            return False
        raise
    finally:
        box.remove(force=True)
    return True


@pytest.fixture(scope="session")
def nogpu_client(
    client: docker.DockerClient,
    images: dict[str, str],
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[docker.DockerClient]:
    """A second engine started WITHOUT any NVIDIA hook, as on a host with no toolkit.

    It is started with a decoy hook first on PATH, beside `dockerd`, as the NVIDIA toolkit puts
    its hook in /usr/bin on a real GPU host: the engine script must hide it whatever PATH holds.
    """
    url = f"unix://{NOGPU_SOCKET}"
    started = False
    if not _answers(url):
        if os.geteuid() != 0:
            unavailable("the second (hook-less) engine needs root to start")
        out = subprocess.run(
            [str(ENGINE_SCRIPT), "--no-gpu-hook", "--socket", NOGPU_SOCKET],
            capture_output=True,
            text=True,
            timeout=180,
            env={**os.environ, "PATH": _path_with_decoy_hook(tmp_path_factory.mktemp("decoy"))},
        )
        started = True
        if not _answers(url):
            unavailable(f"could not start the hook-less engine: {out.stdout}{out.stderr}")
    second = docker.DockerClient(base_url=url)
    try:
        build.copy_image(client, second, images["vllm"])
        if _accepts_gpu_requests(second, images["vllm"]):
            unavailable(
                f"the engine on {url} accepts GPU requests: an nvidia-container-runtime-hook "
                "was on its PATH when it started"
                + (
                    ""
                    if started
                    else f"; stop it (.ci/docker-engine.sh --stop --socket {NOGPU_SOCKET}) "
                    "and the test starts one without the hook"
                )
            )
        yield second
    finally:
        second.close()
        if started:
            subprocess.run(
                [str(ENGINE_SCRIPT), "--stop", "--socket", NOGPU_SOCKET],
                capture_output=True,
                timeout=60,
            )
