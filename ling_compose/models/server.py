"""The server description: what a stack runs, engine-neutral and output-neutral (pure types).

describe.py builds it from a Stack and its Plan, with the engine's command; compose/ renders it
as a Compose project. A second renderer (Kubernetes) maps the same object onto its own kinds
without re-deriving anything: every figure and name is decided here. Secrets are references to
the variable that holds them where the stack is started, never values.

Immutable records (NamedTuple rather than dataclasses, whose generated methods cost each CLI
start about a millisecond a class). A deployment has one server (the HTTP server), or for a
multi-node layout two: the leader and the workers' template (ranks that may serve no HTTP,
hence no port and maybe no health).
"""

from collections.abc import Mapping
from types import MappingProxyType
from typing import Literal, NamedTuple

# Labels ling_compose puts on what it runs (containers, volumes), so that `status` finds a stack
# and probes it whoever started it (`docker compose up` too), and `up` can compare the engine's
# start-up report with the plan.
LABEL_PREFIX = "io.ling-compose"
LC_PROFILE = f"{LABEL_PREFIX}.profile"
LC_ENGINE = f"{LABEL_PREFIX}.engine"
LC_ENGINE_VERSION = f"{LABEL_PREFIX}.engine-version"
LC_MODEL = f"{LABEL_PREFIX}.served-model-name"
LC_PROJECT = f"{LABEL_PREFIX}.project"
LC_ENDPOINT = f"{LABEL_PREFIX}.endpoint"
LC_HEALTH_PATH = f"{LABEL_PREFIX}.health-path"
LC_ROLE = f"{LABEL_PREFIX}.role"


class SecretRef(NamedTuple):
    """A secret the server reads, named by the environment variable that holds it."""

    variable: str
    purpose: str = ""  # e.g. "the API key": what a renderer says when it is missing
    required: bool = True  # False: the server starts without it (an empty value)


RestartPolicy = Literal["no", "always", "on-failure", "unless-stopped"]


def deployment_name(profile: str) -> str:
    """What a profile's stack is deployed as: the Compose project, the Kubernetes app."""
    return f"ling-{profile}"


def client_url(host_ip: str, port: int) -> str:
    """URL a client on the publishing host uses for a port published on `host_ip`: a wildcard
    bind is reached through loopback (IPv6's `::` through ::1), an IPv6 address in brackets
    (RFC 3986 3.2.2: `http://::1:8000` is no URL)."""
    if host_ip in ("0.0.0.0", ""):
        host = "127.0.0.1"
    elif ":" in host_ip:
        host = "[::1]" if host_ip == "::" else f"[{host_ip}]"
    else:
        host = host_ip
    return f"http://{host}:{port}"


# One element of a command line, or one environment value: text, or a secret reference.
Value = str | SecretRef


class ImageBuild(NamedTuple):
    """Build the image instead of pulling it: from a git URL (a llama.cpp fork) or a folder."""

    context: str
    dockerfile: str | None = None
    target: str | None = None
    args: Mapping[str, str] = MappingProxyType({})


class Port(NamedTuple):
    """The port the server listens on in its container, and where it is published."""

    container: int
    host: int
    host_ip: str

    @property
    def client_url(self) -> str:
        return client_url(self.host_ip, self.host)


class Rendezvous(NamedTuple):
    """Where the ranks of one multi-node server meet, as the deployment's environment states
    it: placeholders its runtime fills in (Kubernetes expands `$(VAR)` in arguments itself),
    and sample values the flag lint checks the arguments with."""

    leader_address: str  # the rank-0 pod's address
    rank: str  # this pod's rank: 0 on the leader, 1.. on the workers
    samples: Mapping[str, str] = MappingProxyType({})  # placeholder -> a value it may take


class NodeArgs(NamedTuple):
    """What an engine adds to its command when one server spans nodes (engines/*.py)."""

    leader: tuple[Value, ...]  # rank 0: serves HTTP
    worker: tuple[Value, ...]  # ranks 1..nodes-1
    worker_health: bool  # the workers answer GET <health path> on the engine's port


class Health(NamedTuple):
    """Readiness: the server is ready when GET `path` on `port` answers 200 (and it then lists
    the served model under /v1/models); before that it refuses connections or answers 503,
    as its engine does while it loads. The probe runs every `interval_s`, may take
    `timeout_s`; failures count after `start_period_s` (download and load) and `failures` in a
    row mark the server unhealthy."""

    path: str
    port: int
    interval_s: int
    timeout_s: int
    failures: int
    start_period_s: int
    # GET here answers 200 only while the model is served (traffic may come): the engine's
    # readiness path, where it has one besides `path` (SGLang's /ready); else `path`.
    ready_path: str | None = None


class Mount(NamedTuple):
    """A file or folder of the host, mounted into the server (a local model file)."""

    source: str  # absolute host path
    target: str
    read_only: bool = True


class CacheVolume(NamedTuple):
    """Persistent storage the server writes (downloaded weights, compile caches)."""

    name: str
    target: str
    labels: Mapping[str, str] = MappingProxyType({})
    size_gib: float = 0.0  # what it must hold (a claim's request): the weights and caches


class HostMemory(NamedTuple):
    """Host RAM of one server, GiB: what it needs (weights kept in host RAM, the margin for the
    process and runtime) and the most it may use (the host's RAM the stack was planned for)."""

    needed_gib: float
    limit_gib: float


class SharedMemory(NamedTuple):
    """What NCCL between tensor-parallel ranks needs: the host's IPC namespace and no locked-
    memory limit, or (one GPU) a /dev/shm of `size`."""

    host_ipc: bool
    size: str | None
    ulimits: Mapping[str, int] = MappingProxyType({})
    # Where the host's IPC namespace is not shared (a Kubernetes pod): /dev/shm of this size.
    isolated_size_gib: float = 8.0


class Server(NamedTuple):
    """One server process (one container)."""

    role: str  # "server": the one that serves HTTP
    image: str
    build: ImageBuild | None
    entrypoint: tuple[str, ...] | None  # None: the image's own
    args: tuple[Value, ...]  # what the engine's parser sees (linted against its catalogue)
    env: Mapping[str, Value]
    port: Port | None
    health: Health | None
    gpus: int
    shared_memory: SharedMemory
    cache: CacheVolume | None
    mounts: tuple[Mount, ...]
    restart: RestartPolicy
    labels: Mapping[str, str]
    memory: HostMemory | None = None


class ServerDescription(NamedTuple):
    """Everything a renderer needs to run one stack."""

    name: str  # deployment_name(profile)
    profile: str
    engine: str
    engine_version: str
    served_model_name: str
    generator: str  # "ling_compose <version>"
    notes: tuple[str, ...]  # what a rendered file says atop itself, one line each
    planned: Mapping[str, float]  # the engine's start-up figures as the plan predicts them
    servers: tuple[Server, ...]
    nodes: int = 1  # servers[1] (the workers) runs on nodes - 1 further nodes
    gpu_products: tuple[str, ...] = ()  # node label values of the GPU (catalogue gfd_products)
    api_key: bool = False  # clients must send the API key (a network-exposed endpoint is safe)

    @property
    def primary(self) -> Server:
        """The server that serves HTTP."""
        return self.servers[0]
