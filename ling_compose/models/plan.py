"""Plan results: what the planner (planning/fit.py) computes for a stack (pure data).

Immutable records (NamedTuple): nobody writes them, the planner builds them, and `plan --json`
prints them as they are (`as_json`). Not dataclasses, whose generated methods cost every start
of the CLI about a millisecond a class (bench/bench_render.py).
"""

from typing import Any, Literal, NamedTuple

# How an engine shares the memory left for its cache between running sequences:
# shared: one pool of KV and state blocks (vLLM); split: a linear-state pool and a KV pool in
# tokens (SGLang); slots: a fixed number of slots, each with its own context and state (llama.cpp).
CachePool = Literal["shared", "split", "slots"]


class GpuBudget(NamedTuple):
    """Memory of one GPU, GiB (kv_bytes_per_token in bytes)."""

    total: float
    total_note: str
    usable: float
    usable_note: str
    weights: float
    mtp_weights: float  # the MTP layer's share of `weights` (0 when MTP is off)
    reserve: float
    cache_budget: float
    kv_bytes_per_token: float
    kv_per_seq_at_context: float
    state_per_seq: float
    state_note: str
    per_seq_at_context: float
    kv_pool: float
    state_pool: float
    pool_note: str
    cache_needed: float


class HostBudget(NamedTuple):
    """Host RAM when routed experts are offloaded, GiB."""

    total: float
    experts_in_ram: float
    margin: float
    needed: float
    moe_layers_on_cpu: int
    n_cpu_moe: int


class Throughput(NamedTuple):
    """Decode ceilings: at the datasheet bandwidth (physical) and at the achievable one."""

    active_gb_per_token: float
    at_concurrency: int
    bound_by: str
    datasheet_gbs: float
    achievable_gbs: float
    achievable_note: str
    single_stream_tok_s: float
    aggregate_tok_s: float
    single_stream_tok_s_achievable: float
    aggregate_tok_s_achievable: float


class MtpChoice(NamedTuple):
    """Whether a stack runs MTP speculative decoding (planning/speculative.py decides), and why."""

    on: bool
    tokens: int  # draft tokens per decode step; 0 when off
    why: str  # "on: ..." or "off: ...", as show, plan and the header say it
    refused: str | None = None  # asked for where it cannot run: the stack is refused
    hint: str | None = None  # the way out of a refusal
    warning: str | None = None  # on despite an unverified fact


class MtpGain(NamedTuple):
    """What MTP is expected to change in decode speed: an ASSUMED acceptance rate turned into a
    range, beside the ceilings without MTP (Throughput). Speed-ups are at the central
    acceptance; the range is the cost of the verify step, from every drafted token's experts
    read (low) to a verify step that costs a plain one (high)."""

    acceptance: tuple[float, float, float]  # per-draft acceptance assumed: low, central, high
    tokens_per_step: tuple[float, float, float]  # expected tokens per verify step at each
    draft_gb: float  # read per draft step at one sequence (MTP layer's active weights + LM head)
    single_stream_speedup: tuple[float, float]
    aggregate_speedup: tuple[float, float]
    single_stream_tok_s_achievable: tuple[float, float]
    aggregate_tok_s_achievable: tuple[float, float]


class CacheDemand(NamedTuple):
    """What an engine's cache must hold on one GPU (GiB, per_token in bytes): the budget left
    after weights and reserve, one sequence's KV at the full context and its state."""

    budget: float
    kv_seq: float
    state_seq: float
    per_token: float
    context: int
    concurrency: int


class Capacity(NamedTuple):
    """How an engine shares the cache budget (its Engine.capacity): what the plan reports
    beside the budget."""

    kv_pool: float
    state_pool: float
    pool_note: str
    kv_pool_tokens: int
    sequences_at_full_context: int
    max_context_at_1: int
    running_cap: int | None


class Plan(NamedTuple):
    stack: str
    engine: str
    tensor_parallel: int
    pipeline_parallel: int
    gpus: int
    context_length: int
    concurrency: int
    yarn: bool
    gpu: GpuBudget  # MTP's weights, KV and draft state included when it is on
    host: HostBudget | None
    max_context_at_1: int
    sequences_at_full_context: int
    kv_pool_tokens: int
    running_cap: int | None
    throughput: Throughput
    mtp: MtpChoice
    mtp_gain: MtpGain | None  # None when MTP is off
    problems: list[str]
    warnings: list[str]
    nodes: int = 1  # nodes one server spans (pipeline stages on separate nodes)

    @property
    def fits(self) -> bool:
        return not self.problems

    def as_json(self) -> dict[str, Any]:
        """Every field, nested ones as mappings (what `plan --json` prints)."""
        return as_json(self)


class Fleet(NamedTuple):
    """Replicas of one layout behind one Service: the sums of their ceilings."""

    replicas: int
    gpus_per_replica: int
    gpus: int
    nodes: int
    running_sequences: int
    kv_pool_tokens: int
    aggregate_tok_s: float
    aggregate_tok_s_achievable: float


def fleet(plan: Plan, replicas: int) -> Fleet:
    """Each replica is a whole copy of the layout; a load balancer spreads requests over them."""
    t = plan.throughput
    return Fleet(
        replicas=replicas,
        gpus_per_replica=plan.gpus,
        gpus=replicas * plan.gpus,
        nodes=replicas * plan.nodes,
        running_sequences=replicas * plan.concurrency,
        kv_pool_tokens=replicas * plan.kv_pool_tokens,
        aggregate_tok_s=replicas * t.aggregate_tok_s,
        aggregate_tok_s_achievable=replicas * t.aggregate_tok_s_achievable,
    )


def as_json(record: NamedTuple) -> dict[str, Any]:
    """A record's fields by name, records within it as mappings too, in field order."""
    return {
        name: as_json(value) if hasattr(value, "_asdict") else value
        for name, value in record._asdict().items()
    }
