"""The Engine interface: everything ling_compose knows about one serving engine, and the helpers
its implementations share.

An engine module (engines/vllm.py, ...) defines its options model, a subclass of Engine and a
module-level ENGINE = TheEngine(); engines/registry.py maps names to them. Planning, compile,
validate, the runtime and the CLI read engine facts only through this interface, so a new engine
is one module (plus its flag catalogue): tests/unit/test_engine_registry.py registers a toy one.
"""

from __future__ import annotations

import json
from abc import ABC, abstractmethod
from collections.abc import Mapping, Sequence
from types import MappingProxyType
from typing import TYPE_CHECKING, ClassVar, NamedTuple

from ling_compose.flags.catalog import FlagCatalog, load_catalog
from ling_compose.flags.lint import ParserRules
from ling_compose.flags.parsers import ParserTable
from ling_compose.models.hardware import GIB
from ling_compose.models.options import EngineOptions
from ling_compose.models.plan import CacheDemand, CachePool, Capacity
from ling_compose.models.server import ImageBuild, Mount, NodeArgs, Rendezvous, SecretRef, Value
from ling_compose.models.stack import MAX_CONTEXT_NATIVE

if TYPE_CHECKING:
    from ling_compose.models.plan import Plan
    from ling_compose.models.stack import Stack
    from ling_compose.monitoring.dashboard import Panel
    from ling_compose.monitoring.metrics import EngineMetrics

# rope_scaling that stretches the native 131072 positions to 262144 (model card, SGLang example).
YARN_ROPE_SCALING = {
    "rope_type": "yarn",
    "factor": 2.0,
    "rope_theta": 6000000,
    "partial_rotary_factor": 0.5,
    "original_max_position_embeddings": MAX_CONTEXT_NATIVE,
}


def yarn_override_json() -> str:
    return json.dumps({"rope_scaling": YARN_ROPE_SCALING}, separators=(",", ":"))


def api_key_ref(variable: str) -> SecretRef:
    """The API key, by the variable the user named (serving.api_key_env): required, the
    server must not start open by accident."""
    return SecretRef(variable, purpose="the API key")


# A number as engines print it in their logs: 4,843,688 or 27.25. Log patterns stay text in the
# engine modules: `re` compiles (and caches) them when a log is first read, not at import.
LOG_NUMBER = r"([0-9][0-9,]*(?:\.[0-9]+)?)"


def log_number(text: str) -> float:
    return float(text.replace(",", ""))


def split_image(image: str) -> tuple[str, str]:
    """(repository, tag) of an image reference; the tag is '' when it has none (a registry's
    host:port is no tag: only the last path component can carry one)."""
    if ":" not in image.split("/")[-1]:
        return image, ""
    repository, _, tag = image.rpartition(":")
    return repository, tag


def version_below(version: str, minimum: str) -> bool:
    """PEP 440 order: 0.20.2rc1 < 0.20.2 and 0.5.10 < 0.5.10.post1. Unparseable: not below."""
    if version == minimum:  # the pinned version is the verified one: nothing to parse
        return False
    from packaging.version import InvalidVersion, Version  # only a version that differs

    try:
        return Version(version) < Version(minimum)
    except InvalidVersion:
        return False


class ApiKeyPlace(NamedTuple):
    """Where the engine reads its API key: a command-line flag, an environment variable, or
    either (the flag wins, as at run time the first one found is the key)."""

    flag: str | None = None
    env: str | None = None


class ReportFigure(NamedTuple):
    """One figure the engine logs about its cache at start-up: key, label, unit."""

    key: str
    label: str
    unit: str


class EngineCommand(NamedTuple):
    """The engine-specific part of a server: what the engine's `command` decides."""

    version: str
    image: str
    args: tuple[Value, ...]  # engine's own arguments, then the profile's extra ones
    env: Mapping[str, Value] = MappingProxyType({})  # HF_TOKEN is shared, not here
    build: ImageBuild | None = None
    notes: tuple[str, ...] = ()  # header lines specific to this engine
    mounts: tuple[Mount, ...] = ()  # besides the shared cache volume


def shared_pool(demand: CacheDemand, note: str) -> Capacity:
    """One block pool: each running request takes KV blocks for its tokens and state blocks
    from the same pool; the capacity is requests at the full context x that context."""
    budget, state_seq = demand.budget, demand.state_seq
    fits = budget / (demand.kv_seq + state_seq) if budget > 0 else 0.0
    return Capacity(
        kv_pool=max(0.0, budget),
        state_pool=0.0,
        pool_note=note,
        kv_pool_tokens=int(fits * demand.context),
        sequences_at_full_context=int(fits),
        max_context_at_1=max(0, int((budget - state_seq) * GIB / demand.per_token)),
        running_cap=None,
    )


class Engine(ABC):
    """One serving engine. A subclass sets the class attributes and implements the abstract
    methods; the others have the behaviour most engines share."""

    # -- identity, image and server ------------------------------------------------------------
    name: ClassVar[str]  # the `engine:` of profiles and --backend: "vllm"
    display_name: ClassVar[str]  # in messages: "vLLM"
    options: ClassVar[type[EngineOptions]]  # the `backend:` model of a profile
    pinned_version: ClassVar[str]
    port: ClassVar[int]  # where the server listens inside its container (and the host default)
    health_path: ClassVar[str] = "/health"
    # GET answers 200 only once the model is served, where that differs from health_path.
    readiness_path: ClassVar[str | None] = None
    image_repositories: ClassVar[tuple[str, ...]] = ()  # images `validate` recognises as it
    entrypoint: ClassVar[tuple[str, ...] | None] = None  # set where the image has none
    image_template: ClassVar[str] = ""  # the pinned image of a version: "repo:v{version}"
    served_name_flag: ClassVar[str] = "--served-model-name"
    api_key_place: ClassVar[ApiKeyPlace]

    # -- planning: what the planner (planning/fit.py) needs of the engine ----------------------
    activation_reserve_gib: ClassVar[float]  # an estimate: activations, CUDA graphs, NCCL
    state_bytes_per_value: ClassVar[int]  # linear-attention state per value
    state_note: ClassVar[str]  # its dtype, said in the plan
    cache_pool: ClassVar[CachePool]
    offloads_experts: ClassVar[bool] = False  # routed experts may stay in host RAM
    tensor_parallel_sizes: ClassVar[tuple[int, ...] | None] = None  # None: any
    max_gpus: ClassVar[int | None] = None  # None: as many as a host has
    spans_nodes: ClassVar[bool] = False  # one server over several nodes (node_args)
    min_version: ClassVar[str | None] = None  # the first release that runs this model well
    min_version_why: ClassVar[str] = ""  # what is wrong before it: "which fixed ..."

    # -- speculative decoding with the model's MTP layer (planning/speculative.py) -------------
    mtp_min_version: ClassVar[str | None] = None  # first version it is verified at; None: none
    mtp_off_reason: ClassVar[str] = "has no MTP speculative decoding for this model"
    mtp_default_tokens: ClassVar[int] = 1  # draft tokens per step unless the profile says
    mtp_without_weights: ClassVar[str] = ""  # what the engine does when the checkpoint lacks them

    # -- flags -------------------------------------------------------------------------------
    parser_rules: ClassVar[ParserRules]
    tool_call_parsers: ClassVar[ParserTable]  # (format, version) -> --tool-call-parser
    reasoning_parsers: ClassVar[ParserTable] = MappingProxyType({})

    # -- runtime -----------------------------------------------------------------------------
    report_figures: ClassVar[tuple[ReportFigure, ...]] = ()  # its start-up cache report
    tool_call_hint: ClassVar[str]  # why tool calls come back as text (smoke's diagnosis)
    tool_call_flags: ClassVar[str]  # the flags tool calls need, in short
    image_cuda_variants: ClassVar[
        tuple[tuple[str, str], ...]
    ] = ()  # (tag suffix, CUDA), newest first

    # -- monitoring --------------------------------------------------------------------------
    metrics: ClassVar[tuple[EngineMetrics, ...]] = ()  # versions whose /metrics names were read
    dashboard: ClassVar[tuple[Panel, ...]] = ()  # its Grafana panels, in its own metric names

    @abstractmethod
    def command(self, stack: Stack, plan: Plan) -> EngineCommand:
        """Image, arguments and environment for this stack (pure)."""

    # -- what `command` implementations share ----------------------------------------------
    def version_of(self, options: EngineOptions) -> str:
        return options.version or self.pinned_version

    def serving_args(self, stack: Stack) -> list[Value]:
        """The name clients ask for, and listening on every interface of the container at the
        engine's port (some engines default to loopback)."""
        name = stack.serving.served_model_name
        return [self.served_name_flag, name, "--host", "0.0.0.0", "--port", str(self.port)]

    def finish(
        self,
        stack: Stack,
        version: str,
        args: list[Value],
        *,
        env: Mapping[str, Value] | None = None,
        image: str | None = None,
        build: ImageBuild | None = None,
        notes: Sequence[str] = (),
        mounts: tuple[Mount, ...] = (),
    ) -> EngineCommand:
        """The command: `image`, else the profile's, else the pinned one of `version`; the
        profile's extra arguments after the engine's own."""
        return EngineCommand(
            version=version,
            image=image or stack.backend.image or self.image_template.format(version=version),
            args=(*args, *stack.serving.extra_args),
            env=env or {},
            build=build,
            notes=tuple(notes),
            mounts=mounts,
        )

    def mtp_unsupported(self, options: EngineOptions) -> str | None:
        """Why this engine version cannot run MTP speculative decoding; None: it can."""
        if self.mtp_min_version is None:
            return f"{self.display_name} {self.mtp_off_reason}"
        version = self.version_of(options)
        if version_below(version, self.mtp_min_version):
            return (
                f"MTP for this model is verified at {self.display_name} {self.mtp_min_version}, "
                f"not at {version}"
            )
        return None

    def mtp_args(self, tokens: int) -> list[Value]:
        """The arguments that turn MTP on with `tokens` draft tokens per step."""
        return []

    def mtp_state_factor(self, tokens: int) -> float:
        """How much linear-attention state one running sequence takes with MTP, relative to
        without (the engine keeps state for the draft positions)."""
        return 1.0

    def node_args(self, plan: Plan, rendezvous: Rendezvous) -> NodeArgs:
        """The arguments that spread one server over plan.nodes nodes, pipeline stages on
        separate nodes (engines with spans_nodes)."""
        raise NotImplementedError(f"{self.display_name} does not span nodes")

    @abstractmethod
    def usable_memory(self, options: EngineOptions, total_gib: float) -> tuple[float, str]:
        """The GiB of one GPU the engine takes for weights, reserve and cache, and how."""

    def capacity(self, demand: CacheDemand) -> Capacity:
        """How the engine shares the cache budget of one GPU between running sequences."""
        return shared_pool(demand, "one shared pool")

    def problems(self, stack: Stack, tensor_parallel: int, pipeline_parallel: int) -> list[str]:
        """Why the engine cannot run this layout, whatever the memory (empty: it can)."""
        return []

    def version_problems(self, options: EngineOptions) -> list[str]:
        """Why the version the options pin is too old for this model (empty: it is not)."""
        version = options.version
        if version and self.min_version and version_below(version, self.min_version):
            return [
                f"{self.display_name} {version} predates {self.min_version}, {self.min_version_why}"
            ]
        return []

    def warnings(self, stack: Stack, capacity: Capacity) -> list[str]:
        return []

    def fp8_kv_cache(self, options: EngineOptions) -> bool:
        return False

    def cpu_moe_layers(self, options: EngineOptions) -> int | None:
        """MoE layers whose experts the options pin to host RAM (offloading engines)."""
        return None

    def all_layers_on_gpu(self, options: EngineOptions) -> EngineOptions | None:
        """The options with every layer on the GPU, where the engine offloads (guide check)."""
        return None

    def planned_figures(self, plan: Plan) -> dict[str, float]:
        """The plan's prediction of each of report_figures."""
        return {}

    def parse_report(self, log: str) -> dict[str, float]:
        """The report_figures the engine's start-up log states (missing lines: keys left out)."""
        return {}

    # -- flags -------------------------------------------------------------------------------
    def flag_catalog(self, version: str) -> FlagCatalog:
        """The options this engine version's parser accepts (committed under flags/catalogs/)."""
        return load_catalog(self.name, version)

    def server_argv(self, entrypoint: list[str], command: list[str]) -> tuple[list[str], list[str]]:
        """What the engine's parser sees of a compose service's entrypoint and command, and
        warnings about their shape (`validate` of any compose file)."""
        return entrypoint + command, []

    def version_from_tag(self, tag: str) -> str | None:
        """The engine version an image tag of image_repositories names; None: not a version."""
        version = tag.lstrip("v").split("-")[0]
        return version if version and version[0].isdigit() else None

    # -- runtime -----------------------------------------------------------------------------
    def api_key_in(self, command: Sequence[str], env: Mapping[str, str]) -> str | None:
        """The API key a resolved command and environment give the server, if any."""
        place = self.api_key_place
        if place.flag is not None:
            for i, arg in enumerate(command):
                if arg == place.flag and i + 1 < len(command):
                    return command[i + 1]
                if arg.startswith(place.flag + "="):
                    return arg.split("=", 1)[1]
        if place.env is not None and env.get(place.env):
            return env[place.env]
        return None

    def own_tag(self, image: str) -> str | None:
        """The tag of an image of this engine's own repositories; None for any other image or
        an untagged one."""
        repository, tag = split_image(image)
        return tag if repository in self.image_repositories and tag else None

    def image_cuda(self, image: str) -> str | None:
        """The CUDA an image of this engine is built on, from its tag suffix; None: unknown."""
        tag = self.own_tag(image)
        if tag is None or not self.image_cuda_variants:
            return None
        suffixed = [c for suffix, c in self.image_cuda_variants if suffix and tag.endswith(suffix)]
        if suffixed:
            return suffixed[0]
        bare = [cuda for suffix, cuda in self.image_cuda_variants if not suffix]
        return bare[0] if bare else None

    def image_variants(self, image: str) -> list[tuple[str, str]]:
        """(image, CUDA) of every published variant of `image`, newest CUDA first."""
        tag = self.own_tag(image)
        if tag is None:
            return []
        repository = split_image(image)[0]
        base = tag
        for suffix, _ in self.image_cuda_variants:
            if suffix and base.endswith(suffix):
                base = base.removesuffix(suffix)
        return [(f"{repository}:{base}{suffix}", cuda) for suffix, cuda in self.image_cuda_variants]

    def required_cuda(self, image: str, build: ImageBuild | None) -> str | None:
        """The CUDA the server's image needs from the host driver; None: unknown."""
        return self.image_cuda(image)
