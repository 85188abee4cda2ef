"""E2E fixtures: a reachable Docker engine (skip locally, fail in CI), stand-in images, projects."""

from __future__ import annotations

import os
import socket
import subprocess
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import docker
import docker.errors
import pytest

from ling_compose.models.compose import (
    ComposeProject,
    GpuReservation,
    Healthcheck,
    NamedVolume,
    PortMapping,
    Service,
    VolumeMount,
)
from ling_compose.runtime import down
from ling_compose.runtime.base import SilentProgress
from ling_compose.runtime.docker_sdk import DockerRuntime
from tests.e2e.realengine import build as real_build
from tests.e2e.realengine import tinymodel
from tests.e2e.standins import build

REPO = Path(__file__).resolve().parents[2]
ENGINE_SCRIPT = REPO / ".ci" / "docker-engine.sh"
# LING_NOGPU_SOCKET: a separate hook-less engine per checkout when several run tests at once.
NOGPU_SOCKET = os.environ.get("LING_NOGPU_SOCKET", "/tmp/ling-nogpu.sock")
MODEL = "ling-2.6-flash"
CONTAINER_PORTS = {"vllm": 8000, "sglang": 30000, "llamacpp": 8080}


def _unavailable(reason: str) -> None:
    # Locally an engine is optional; in CI (CI=true) its absence is a failure, never a skip.
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(f"CI=true but {reason}", pytrace=False)
    pytest.skip(reason)


@pytest.fixture(scope="session")
def client() -> Iterator[docker.DockerClient]:
    try:
        c = docker.from_env()
        c.ping()
    except (docker.errors.DockerException, OSError) as err:
        _unavailable(f"no Docker engine reachable ({err}); start one: sudo .ci/docker-engine.sh")
    yield c
    c.close()


@pytest.fixture(scope="session")
def images(client: docker.DockerClient) -> dict[str, str]:
    try:
        return build.build_all(client)
    except build.BuildUnavailable as err:
        _unavailable(f"cannot build the stand-in images: {err}")
        raise


@pytest.fixture(scope="session")
def real_llamacpp_image(client: docker.DockerClient) -> str:
    """The real llama-server b11434 image: cached, else built from source (minutes, once)."""
    try:
        return real_build.ensure_image(client)
    except build.BuildUnavailable as err:
        _unavailable(f"cannot build the real llama-server image: {err}")
        raise


@pytest.fixture(scope="session")
def tiny_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny random-weight GGUF the real llama-server serves (tinymodel.py says how)."""
    return tinymodel.write(tmp_path_factory.mktemp("tiny-model") / "tiny.gguf")


@pytest.fixture(scope="session")
def runtime(client: docker.DockerClient) -> DockerRuntime:
    return DockerRuntime(client=client)


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


@pytest.fixture(scope="session")
def nogpu_client(
    client: docker.DockerClient, images: dict[str, str]
) -> Iterator[docker.DockerClient]:
    """A second engine started WITHOUT the no-op NVIDIA hook, as on a host with no toolkit."""
    url = f"unix://{NOGPU_SOCKET}"
    started = False
    try:
        docker.DockerClient(base_url=url).ping()
    except (docker.errors.DockerException, OSError):
        if os.geteuid() != 0:
            _unavailable("the second (hook-less) engine needs root to start")
        out = subprocess.run(
            [str(ENGINE_SCRIPT), "--no-gpu-hook", "--socket", NOGPU_SOCKET],
            capture_output=True,
            text=True,
            timeout=180,
        )
        started = True
        try:
            docker.DockerClient(base_url=url).ping()
        except (docker.errors.DockerException, OSError):
            _unavailable(f"could not start the hook-less engine: {out.stdout}{out.stderr}")
    second = docker.DockerClient(base_url=url)
    build.copy_image(client, second, images["vllm"])
    yield second
    second.close()
    if started:
        subprocess.run(
            [str(ENGINE_SCRIPT), "--stop", "--socket", NOGPU_SOCKET],
            capture_output=True,
            timeout=60,
        )
