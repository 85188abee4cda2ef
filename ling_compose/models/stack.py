"""Stack models: what a user writes (ProfileSpec) and what it resolves to (Stack)."""

from typing import Annotated

from pydantic import AfterValidator, Field

from ling_compose.models.base import StrictModel
from ling_compose.models.checkpoint import Checkpoint
from ling_compose.models.hardware import (
    GpuCount,
    Hardware,
    HostRamBandwidthGBs,
    HostRamGiB,
    NodeCount,
)
from ling_compose.models.options import BackendOptions

MAX_CONTEXT_NATIVE = 131_072  # config.json max_position_embeddings
MAX_CONTEXT_YARN = 262_144  # only with a YaRN factor-2 rope_scaling override

# Value rules shared by profile files and overrides (models/overrides.py): one definition each.
PROFILE_NAME_PATTERN = r"^[a-z0-9][a-z0-9_-]{0,62}$"
PROFILE_NAME_RULE = (
    "lower-case letters, digits, '-' and '_', starting with a letter or digit, at most 63 "
    "characters (the name becomes the Compose project's, and its containers' and volumes')"
)
ProfileName = Annotated[str, Field(pattern=PROFILE_NAME_PATTERN)]
# Above this the planner's refusal would only restate a typo (the model reaches 262144).
ContextLength = Annotated[int, Field(ge=1024, le=64 * MAX_CONTEXT_YARN)]
Concurrency = Annotated[int, Field(ge=1, le=1024)]
Port = Annotated[int, Field(ge=1, le=65535)]
ServedModelName = Annotated[str, Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9._:-]{0,127}$")]
EnvVarName = Annotated[str, Field(pattern=r"^[A-Z_][A-Z0-9_]{0,127}$")]
# Draft tokens per decode step with MTP. The model has one MTP layer, which the engines run again
# for every further draft token; at the assumed 0.8 acceptance the 8th adds 0.8**8 = 0.17 tokens
# per step (planning/speculative.py), so more only costs memory.
SpeculativeTokens = Annotated[int, Field(ge=1, le=8)]


def check_bind_address(value: str) -> str:
    """An IP address, as Docker's port publishing needs (compose-go validation.go
    checkIPAddress: "invalid ip address"); `localhost` is a name, not an address."""
    import ipaddress  # at validation, not at import: most commands never publish elsewhere

    try:
        ipaddress.ip_address(value)
    except ValueError:
        raise ValueError("not an IP address (e.g. 127.0.0.1, 0.0.0.0 or ::1)") from None
    return value


BindAddress = Annotated[str, AfterValidator(check_bind_address)]


def check_encodable(value: str) -> str:
    """Every output is UTF-8: a lone surrogate (from undecodable command-line bytes) is not."""
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        raise ValueError("contains bytes that are not UTF-8 text") from None
    return value


ServerArgument = Annotated[str, AfterValidator(check_encodable)]


class ServingOptions(StrictModel):
    context_length: ContextLength = Field(
        default=MAX_CONTEXT_NATIVE, description="Max tokens per sequence (prompt + output)"
    )
    concurrency: Concurrency = Field(default=32, description="Max sequences running at once")
    served_model_name: ServedModelName = "ling-2.6-flash"
    port: Port | None = Field(default=None, description="Host port; default: backend's")
    bind: BindAddress = Field(
        default="127.0.0.1", description="Host address the port is published on"
    )
    api_key_env: EnvVarName | None = Field(
        default=None,
        description="Name of the environment variable holding the API key (never the key itself)",
    )
    tool_calling: bool = True
    mtp: bool | None = Field(
        default=None,
        description="MTP speculative decoding; default: on where the checkpoint ships the MTP "
        "layer and the engine version runs it (`show` says why it is on or off)",
    )
    speculative_tokens: SpeculativeTokens | None = Field(
        default=None, description="Draft tokens per step with MTP; default: the engine's"
    )
    monitoring: bool = Field(
        default=False,
        description="Add Prometheus scraping the server and Grafana with its dashboard "
        "(docker-compose output; docs/performance.md#metrics)",
    )
    # A tuple, like every sequence in these models: the built-in catalogue is shared and cached.
    extra_args: tuple[ServerArgument, ...] = Field(
        default=(), description="Appended to the server command"
    )


class HardwareSpec(StrictModel):
    gpu: str = Field(
        description="GPU catalogue key, e.g. h100-sxm-80gb (see `ling-compose list --gpus`)"
    )
    count: GpuCount
    nodes: NodeCount = Field(
        default=1,
        description="Nodes the GPUs span, count / nodes on each (Kubernetes with "
        "LeaderWorkerSet: tensor parallel inside a node, pipeline parallel across nodes)",
    )
    host_ram_gib: HostRamGiB = Field(
        default=256,
        description="Host RAM, GiB (a '256 GB' server has 256 GiB of DRAM: modules are binary)",
    )
    host_ram_bandwidth_gbs: HostRamBandwidthGBs = Field(
        default=80, description="GB/s; matters for offload"
    )


class GuideClaim(StrictModel):
    """What the hosting guide (shared/seed) claims for this row, so `plan` can check it."""

    gpus: int | None = Field(default=None, ge=1, le=8, description="GPU count the guide uses")
    host_ram_gib: float | None = Field(
        default=None, gt=0, description="Host RAM the guide asks for"
    )
    all_on_gpu: bool = Field(
        default=False, description="The guide loads every layer on the GPU (--n-gpu-layers 99)"
    )
    tok_s: tuple[float, float] | None = Field(
        default=None, description="Decode speed range the guide claims"
    )


class ProfileSpec(StrictModel):
    """A named, documented serving stack as written in a profiles file."""

    description: str
    hardware: HardwareSpec
    checkpoint: str = Field(description="Checkpoint catalogue key, e.g. ling-2.6-flash-fp8")
    # The title pydantic gives plain fields; the registry-built union schema needs it said.
    backend: BackendOptions = Field(title="Backend")
    serving: ServingOptions = Field(default_factory=ServingOptions)
    guide_note: str | None = Field(
        default=None, description="Why this differs from the hosting guide, if it does"
    )
    guide_claim: GuideClaim | None = None


class ProfilesFile(StrictModel):
    """A user profiles file: `profiles: {name: ProfileSpec}`."""

    profiles: dict[ProfileName, ProfileSpec]


class Origin(StrictModel):
    """How the CLI reproduces a stack: `render PROFILE *ARGS` (ling_compose/reproduce.py)."""

    profile: str = Field(description="Profile name as typed (`auto` picks one for this host)")
    args: tuple[str, ...] = Field(
        default=(), description="--profiles-file and the overrides, as the CLI spells them"
    )


class Stack(StrictModel):
    """A resolved stack: every reference replaced by its typed object."""

    name: ProfileName
    description: str
    hardware: Hardware
    checkpoint: Checkpoint
    backend: BackendOptions = Field(title="Backend")
    serving: ServingOptions
    guide_note: str | None = None
    guide_claim: GuideClaim | None = None
    origin: Origin | None = Field(
        default=None,
        description="The command that reproduces this stack; None when it was built in Python",
    )
