"""The docker SDK seam: the only module importing `docker`; engine errors become typed
DockerErrors here, in one place (`_engine`, which calls `translate`)."""

from __future__ import annotations

import io
import os
import re
import socket
import tarfile
import time
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from typing import Any

import docker
import docker.errors
import docker.types
from docker.models.containers import Container

from ling_compose.errors import (
    BuildFailed,
    Conflict,
    DockerError,
    DockerUnreachable,
    GpuRuntimeMissing,
    ImageUnavailable,
    NotFound,
    PortTaken,
    UlimitRefused,
)
from ling_compose.models.server import LC_PROJECT
from ling_compose.runtime.base import ContainerState, Progress
from ling_compose.runtime.spec import (
    COMPOSE_HASH,
    COMPOSE_PROJECT,
    COMPOSE_SERVICE,
    ContainerFile,
    ContainerSpec,
)

NVIDIA_TOOLKIT_HINT = (
    "install the NVIDIA Container Toolkit on the host and register it with Docker: "
    "`apt-get install -y nvidia-container-toolkit && nvidia-ctk runtime configure --runtime=docker "
    "&& systemctl restart docker` (repository setup: https://docs.nvidia.com/datacenter/"
    "cloud-native/container-toolkit/latest/install-guide.html); check with "
    "`docker run --rm --gpus all ubuntu nvidia-smi`"
)
DAEMON_HINT = (
    "is the Docker daemon running (`docker info`)? Check DOCKER_HOST, that /var/run/docker.sock "
    "exists, and that your user may use it (root or the `docker` group)"
)
_PORT_PATTERNS = (
    re.compile(
        r"Bind for (?P<ip>[0-9a-fA-F.:\[\]]*?):(?P<port>\d+) failed: port is already allocated"
    ),
    re.compile(
        r"listen tcp[46]? (?P<ip>[0-9a-fA-F.:\[\]]*?):(?P<port>\d+): bind: address already in use"
    ),
)
_RLIMIT_PATTERN = re.compile(r"error setting rlimit type (\d+)")
_RLIMITS = {3: "stack", 7: "nofile", 8: "memlock"}  # Linux RLIMIT_* numbers
_NS = 1_000_000_000
DEFAULT_UNIX_SOCKET = "unix:///var/run/docker.sock"  # docker-py's, without DOCKER_HOST


def translate(err: BaseException, doing: str) -> DockerError:
    """The one place that turns docker-py and transport exceptions into DockerError
    subclasses, by the engine's message and status, each with a remedy."""
    text = _explain(err)
    if "could not select device driver" in text:
        return GpuRuntimeMissing(
            f"{doing}: the Docker engine has no NVIDIA GPU runtime ({text.strip()})",
            hint=NVIDIA_TOOLKIT_HINT,
            reason=text,
        )
    for pattern in _PORT_PATTERNS:
        match = pattern.search(text)
        if match:
            port = match.group("port")
            ip = match.group("ip") or "0.0.0.0"
            return PortTaken(
                f"{doing}: host port {port} (on {ip}) is already in use",
                hint=f"pick a free host port with `--port N` (e.g. `up PROFILE --port {int(port) + 1}`),"
                f" or stop what listens there (`ss -ltnp 'sport = :{port}'`, `docker ps`)",
                reason=text,
                port=int(port),
            )
    rlimit = _RLIMIT_PATTERN.search(text)
    if rlimit:
        limit = _RLIMITS.get(int(rlimit.group(1)), f"rlimit {rlimit.group(1)}")
        return UlimitRefused(
            f"{doing}: the engine may not raise the {limit} ulimit the service asks for",
            hint=f"the Docker daemon's own hard limit is lower (see `cat /proc/$(pidof dockerd)/"
            f"limits`): raise it (systemd: LimitMEMLOCK=infinity / LimitSTACK=infinity for "
            f"docker.service, then restart Docker), or lower `ulimits: {limit}` in the service",
            reason=text,
        )
    if isinstance(err, docker.errors.ImageNotFound):
        return ImageUnavailable(
            f"{doing}: image not found ({text})",
            hint="check the image name and tag, or build/load it locally first",
            reason=text,
        )
    if isinstance(err, docker.errors.BuildError):
        tail = "\n".join(
            str(chunk.get("stream") or chunk.get("error") or "").rstrip()
            for chunk in list(err.build_log)[-10:]
            if isinstance(chunk, dict)
        )
        return BuildFailed(
            f"{doing}: image build failed: {err.msg}\n{tail}".rstrip(),
            hint="fix the build context or Dockerfile; the build log is above",
            reason=str(err.msg),
        )
    if isinstance(err, docker.errors.APIError):
        kind = {404: NotFound, 409: Conflict}.get(err.status_code or 0, DockerError)
        return kind(
            f"{doing}: Docker refused: {text}",
            hint="see the engine's message above; `docker info` shows its state",
            reason=text,
        )
    # requests' ConnectionError derives from OSError; docker-py raises DockerException when it
    # cannot even negotiate the API version.
    if isinstance(err, OSError | docker.errors.DockerException):
        return DockerUnreachable(
            f"{doing}: cannot reach the Docker daemon ({text})", hint=DAEMON_HINT, reason=text
        )
    return DockerError(f"{doing}: {text}", reason=text)


@contextmanager
def _engine(doing: str) -> Iterator[None]:
    """Every call into docker-py runs inside this: what it raises leaves as a typed DockerError
    (translate), so callers match error types, never messages."""
    try:
        yield
    except DockerError:
        raise
    except (docker.errors.DockerException, OSError) as err:
        raise translate(err, doing) from err


def _reach_unix_socket(url: str | None, doing: str) -> None:
    """Connect to a unix-socket engine once ourselves, closing the socket whatever happens.

    docker-py's UnixHTTPConnection.connect (docker/transport/unixconn.py, 7.x) leaks its socket
    when the connect fails (a ResourceWarning, an error under -W error), so an unreachable
    engine is reported from here before docker-py tries."""
    url = url or DEFAULT_UNIX_SOCKET
    scheme, sep, path = url.partition("://")
    if not sep or scheme not in ("unix", "http+unix"):
        return
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as probe, _engine(doing):
        probe.settimeout(10)
        probe.connect(path)


def _explain(err: BaseException) -> str:
    if isinstance(err, docker.errors.APIError) and err.explanation:
        return str(err.explanation)
    return str(err)


def _state(c: Container) -> ContainerState:
    attrs: dict[str, Any] = c.attrs
    state: dict[str, Any] = attrs.get("State") or {}
    health: dict[str, Any] = state.get("Health") or {}
    log = health.get("Log") or []
    labels: dict[str, str] = (attrs.get("Config") or {}).get("Labels") or {}
    return ContainerState(
        id=str(c.id),
        name=str(c.name),
        service=labels.get(COMPOSE_SERVICE, ""),
        status=str(state.get("Status", "unknown")),
        exit_code=state.get("ExitCode"),
        oom_killed=bool(state.get("OOMKilled")),
        restart_count=int(attrs.get("RestartCount") or 0),
        health=health.get("Status"),
        health_log=str(log[-1].get("Output", "")).strip() if log else "",
        config_hash=labels.get(COMPOSE_HASH),
        image=str((attrs.get("Config") or {}).get("Image", "")),
        labels=labels,
        error=str(state.get("Error") or ""),
    )


def _tar_of(files: tuple[ContainerFile, ...]) -> bytes:
    """A tar archive of the files at their absolute paths, owned by root, to extract at /."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as archive:
        for file in files:
            info = tarfile.TarInfo(file.path.lstrip("/"))
            info.size, info.mode, info.mtime = len(file.content), file.mode, int(time.time())
            archive.addfile(info, io.BytesIO(file.content))
    return buffer.getvalue()


def _fmt_bytes(n: float) -> str:
    for unit in ("B", "KB", "MB", "GB"):
        if n < 1000:
            return f"{n:.1f} {unit}"
        n /= 1000
    return f"{n:.1f} TB"


PULL_HINT = (
    "check the image name and tag, network access to its registry, and `docker login` for "
    "private registries; or build/load the image locally"
)


class DockerRuntime:
    """Runtime over the docker SDK. `base_url` (e.g. unix:///tmp/other.sock) picks an engine;
    by default DOCKER_HOST or the local socket. Close it (or use it in a `with` block): a client
    made here is closed on every path, a failed connection included."""

    def __init__(self, base_url: str | None = None, client: docker.DockerClient | None = None):
        doing = "connecting to the Docker daemon"
        self._owns_client = client is None  # close() closes only a client made here
        if client is not None:
            self.client = client
        else:
            _reach_unix_socket(base_url or os.environ.get("DOCKER_HOST"), doing)
            with _engine(doing):
                self.client = (
                    docker.DockerClient(base_url=base_url) if base_url else docker.from_env()
                )
        try:
            with _engine(doing):
                self.client.ping()
        except BaseException:
            self.close()
            raise

    def close(self) -> None:
        """Close the client's connections (one made here; a client passed in is the caller's)."""
        if self._owns_client:
            self.client.close()

    def __enter__(self) -> DockerRuntime:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- networks and volumes ------------------------------------------------------------------
    def ensure_network(self, name: str, labels: dict[str, str]) -> bool:
        doing = f"creating network {name}"
        with _engine(doing):
            if self.client.networks.list(names=[name]):
                return False
        with suppress(Conflict), _engine(doing):  # 409: created concurrently, fine
            self.client.networks.create(name, driver="bridge", labels=labels, check_duplicate=True)
            return True
        return False

    def ensure_volume(self, name: str, labels: dict[str, str]) -> bool:
        doing = f"creating volume {name}"
        with suppress(NotFound), _engine(doing):
            self.client.volumes.get(name)
            return False
        with _engine(doing):
            self.client.volumes.create(name=name, driver="local", labels=labels)
        return True

    def networks(self, project: str) -> list[str]:
        return self._of_project("networks", self.client.networks, project)

    def remove_network(self, name: str) -> None:
        with suppress(NotFound), _engine(f"removing network {name}"):
            for net in self.client.networks.list(names=[name]):
                if net.name == name:
                    net.remove()

    def volumes(self, project: str) -> list[str]:
        return self._of_project("volumes", self.client.volumes, project)

    @staticmethod
    def _of_project(what: str, collection: Any, project: str) -> list[str]:
        """Names of the networks or volumes labelled as the project's, sorted."""
        with _engine(f"listing {what}"):
            found = collection.list(filters={"label": f"{COMPOSE_PROJECT}={project}"})
        return sorted(str(item.name) for item in found)

    def remove_volume(self, name: str) -> None:
        with suppress(NotFound), _engine(f"removing volume {name}"):
            self.client.volumes.get(name).remove()

    # -- images --------------------------------------------------------------------------------
    def has_image(self, image: str) -> bool:
        with suppress(ImageUnavailable), _engine(f"looking up image {image}"):
            self.client.images.get(image)
            return True
        return False

    def ensure_image(self, spec: ContainerSpec, progress: Progress) -> None:
        if self.has_image(spec.image):
            return
        if spec.config.build is not None:
            self._build(spec, progress)
        else:
            self._pull(spec.image, progress)

    def _build(self, spec: ContainerSpec, progress: Progress) -> None:
        build = spec.config.build
        assert build is not None
        doing = f"building image {spec.image} for service {spec.service}"
        progress.line(f"{doing} from {build.context}")
        tail: list[str] = []
        try:
            with _engine(doing):
                stream = self.client.api.build(
                    path=build.context,
                    dockerfile=build.dockerfile,
                    tag=spec.image,
                    buildargs=build.args or None,
                    target=build.target,
                    rm=True,
                    decode=True,
                )
                for chunk in stream:
                    if "error" in chunk:
                        raise BuildFailed(
                            f"{doing}: {str(chunk['error']).strip()}\n" + "\n".join(tail[-10:]),
                            hint="fix the build context or Dockerfile; the last build lines are "
                            "above",
                        )
                    line = str(chunk.get("stream", "")).strip()
                    if line:
                        tail.append(line)
                        progress.update(f"build {spec.service}: {line[:100]}")
        except BuildFailed:
            raise
        except DockerError as err:
            if "://" not in build.context:
                raise
            # A git context is fetched by the engine itself: no network there, no build.
            raise BuildFailed(
                err.message,
                hint=f"the engine must reach {build.context.split('#')[0]} to build; or "
                "build the image where it can and pass it with --image",
                reason=err.reason,
            ) from err
        progress.line(f"built {spec.image}")

    def _pull(self, image: str, progress: Progress) -> None:
        doing = f"pulling image {image}"
        progress.line(doing)
        layers: dict[str, tuple[int, int]] = {}
        start = time.monotonic()
        try:
            with _engine(doing):
                for event in self.client.api.pull(image, stream=True, decode=True):
                    if "error" in event:
                        error = str(event["error"]).strip()
                        raise ImageUnavailable(f"{doing}: {error}", hint=PULL_HINT, reason=error)
                    self._pull_progress(image, event, layers, start, progress)
        except (ImageUnavailable, DockerUnreachable):
            raise
        except DockerError as err:  # the engine refused the pull (unknown tag, no login, ...)
            raise ImageUnavailable(
                f"{doing}: {err.reason}", hint=PULL_HINT, reason=err.reason
            ) from err
        if not self.has_image(image):
            raise ImageUnavailable(
                f"{doing}: the pull ended without the image",
                hint="check the tag exists for this platform",
            )
        progress.line(f"pulled {image} in {time.monotonic() - start:.0f}s")

    @staticmethod
    def _pull_progress(
        image: str,
        event: dict[str, Any],
        layers: dict[str, tuple[int, int]],
        start: float,
        progress: Progress,
    ) -> None:
        layer = event.get("id")
        detail = event.get("progressDetail") or {}
        if layer and detail.get("total"):
            layers[str(layer)] = (int(detail.get("current", 0)), int(detail["total"]))
        if (
            layer
            and event.get("status") in ("Download complete", "Pull complete")
            and (str(layer) in layers)
        ):
            total = layers[str(layer)][1]
            layers[str(layer)] = (total, total)
        done = sum(c for c, _ in layers.values())
        total = sum(t for _, t in layers.values())
        progress.update(
            f"pulling {image}: {_fmt_bytes(done)} of {_fmt_bytes(total)} "
            f"({len(layers)} layers, {time.monotonic() - start:.0f}s)"
        )

    # -- containers ----------------------------------------------------------------------------
    def containers(self, project: str | None = None) -> list[ContainerState]:
        label = f"{COMPOSE_PROJECT}={project}" if project else LC_PROJECT
        with _engine("listing containers"):
            found = self.client.containers.list(all=True, filters={"label": label})
            return sorted((_state(c) for c in found), key=lambda s: s.name)

    def inspect(self, container_id: str) -> ContainerState | None:
        with suppress(NotFound), _engine(f"inspecting container {container_id[:12]}"):
            return _state(self.client.containers.get(container_id))
        return None

    def create(self, spec: ContainerSpec) -> ContainerState:
        config = spec.config
        device_requests = []
        if spec.gpu_count is not None or spec.gpu_device_ids is not None:
            device_requests.append(
                docker.types.DeviceRequest(
                    driver="nvidia",
                    count=(spec.gpu_count or 0) if spec.gpu_device_ids is None else 0,
                    device_ids=spec.gpu_device_ids or [],
                    capabilities=[["gpu"]],
                )
            )
        mounts = [
            docker.types.Mount(target=m.target, source=m.source, type=m.kind, read_only=m.read_only)
            for m in config.volumes
        ]
        healthcheck = None
        if config.healthcheck is not None:
            hc = config.healthcheck
            healthcheck = {
                "test": hc.test,
                "interval": hc.interval_s * _NS,
                "timeout": hc.timeout_s * _NS,
                "retries": hc.retries,
                "start_period": hc.start_period_s * _NS,
            }
        restart: dict[str, Any] = {"Name": "" if config.restart == "no" else config.restart}
        if config.restart == "on-failure":
            restart["MaximumRetryCount"] = 0
        kwargs: dict[str, Any] = {
            "name": spec.name,
            "command": config.command or None,
            "entrypoint": config.entrypoint,
            "environment": config.environment,
            "labels": spec.labels,
            "ports": {f"{p.container_port}/tcp": (p.host_ip, p.host_port) for p in config.ports},
            "mounts": mounts,
            "device_requests": device_requests,
            "healthcheck": healthcheck,
            "restart_policy": restart,
            "ulimits": [
                docker.types.Ulimit(name=n, soft=s, hard=h) for n, (s, h) in spec.ulimits.items()
            ],
            "network": spec.network,
            "detach": True,
        }
        if config.ipc:
            kwargs["ipc_mode"] = config.ipc
        if config.shm_size:
            kwargs["shm_size"] = config.shm_size
        with _engine(f"creating container {spec.name}"):
            kwargs["networking_config"] = {
                spec.network: self.client.api.create_endpoint_config(aliases=[spec.service])
            }
            container = self.client.containers.create(spec.image, **kwargs)
        if spec.files:
            # As Compose v2 does for configs and secrets outside Swarm: copied into the created
            # container before it starts (the engine makes missing parent folders). A container
            # without them must not stay: the next `up` would start it as it is.
            try:
                with _engine(f"copying configs and secrets into {spec.name}"):
                    container.put_archive("/", _tar_of(spec.files))
            except DockerError:
                with suppress(docker.errors.APIError):
                    container.remove(force=True)
                raise
        return _state(container)

    def start(self, container_id: str) -> None:
        with _engine("starting container"):
            self.client.containers.get(container_id).start()

    def remove(self, container_id: str, timeout_s: int = 10) -> None:
        # Gone already, or "removal already in progress" (409) from a concurrent down: the
        # goal is reached anyway.
        with suppress(NotFound, Conflict), _engine(f"removing container {container_id[:12]}"):
            container = self.client.containers.get(container_id)
            if container.status in ("running", "restarting", "paused"):
                container.stop(timeout=timeout_s)
            container.remove(v=False, force=True)

    def exits(self, container_id: str, since_epoch: float) -> tuple[list[int], bool]:
        codes: list[int] = []
        oom = False
        with _engine("reading container events"):
            # A fractional "until" just past now, so the engine answers at once (a whole second
            # ahead would block the fail-fast path up to that second); docker-py's types only
            # admit whole seconds, the API takes the fraction.
            until: dict[str, Any] = {"until": f"{time.time() + 0.05:.3f}"}
            events = self.client.events(
                since=int(since_epoch) - 1,
                **until,
                decode=True,
                filters={"container": container_id, "event": ["die", "oom"]},
            )
            for event in events:
                if event.get("status") == "oom" or event.get("Action") == "oom":
                    oom = True
                attrs = (event.get("Actor") or {}).get("Attributes") or {}
                if (event.get("Action") or event.get("status")) == "die" and "exitCode" in attrs:
                    codes.append(int(attrs["exitCode"]))
        return codes, oom

    def logs(self, container_id: str, tail: int = 50) -> str:
        with suppress(NotFound), _engine("reading logs"):
            raw = self.client.containers.get(container_id).logs(stdout=True, stderr=True, tail=tail)
            return bytes(raw).decode("utf-8", errors="replace")
        return ""

    def follow_logs(self, container_id: str, tail: int = 50) -> Iterator[str]:
        with suppress(NotFound), _engine("following logs"):
            stream = self.client.containers.get(container_id).logs(
                stdout=True, stderr=True, tail=tail, stream=True, follow=True
            )
            buf = b""
            for chunk in stream:
                buf += bytes(chunk)
                while b"\n" in buf:
                    line, buf = buf.split(b"\n", 1)
                    yield line.decode("utf-8", errors="replace")
            if buf:
                yield buf.decode("utf-8", errors="replace")
