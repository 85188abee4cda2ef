"""Rank layouts for the GPUs a host has: built-in profiles as they are, and the same stacks
moved onto the host's GPU type at the smallest GPU count that fits (pure).

Ranking among layouts that fit: higher precision first (bf16 > fp8 > int4 > gguf), then fewer
GPUs, then the higher aggregate decode ceiling. Rejected layouts keep their reasons.
"""

from __future__ import annotations

from dataclasses import dataclass

from ling_compose import catalog
from ling_compose.load import resolve
from ling_compose.models.hardware import GPU, Hardware
from ling_compose.models.plan import Plan
from ling_compose.models.stack import Stack
from ling_compose.planning.alternatives import GPU_COUNTS, with_gpus
from ling_compose.planning.fit import engine_of, make_plan

PRECISION_RANK = {"bf16": 3, "fp8": 2, "int4": 1, "gguf": 0}


@dataclass(frozen=True)
class Candidate:
    label: str  # what to type: a profile name, or a profile plus overrides
    render_args: list[str]
    stack: Stack
    plan: Plan
    rejected_because: list[str]

    @property
    def fits(self) -> bool:
        return not self.rejected_because


def on_host(stack: Stack, gpu: GPU, count: int, host_ram_gib: float | None) -> Stack:
    """The stack moved onto `count` GPUs of type `gpu`, with the host's RAM."""
    hardware = Hardware(
        gpu=gpu,
        count=count,
        host_ram_gib=host_ram_gib if host_ram_gib is not None else stack.hardware.host_ram_gib,
        host_ram_bandwidth_gbs=stack.hardware.host_ram_bandwidth_gbs,
    )
    return with_gpus(stack.model_copy(update={"hardware": hardware}), count)


def _candidate(name: str, stack: Stack, same_layout: bool, plan: Plan | None = None) -> Candidate:
    hw = stack.hardware
    args = [name] if same_layout else [name, "--gpu-type", hw.gpu.key, "--gpus", str(hw.count)]
    plan = plan or make_plan(stack)
    return Candidate(
        label=" ".join(args),
        render_args=args,
        stack=stack,
        plan=plan,
        rejected_because=list(plan.problems),
    )


def candidates_for(gpu: GPU, available: int, host_ram_gib: float | None) -> list[Candidate]:
    """Every built-in profile considered for `available` GPUs of type `gpu`."""
    out: list[Candidate] = []
    seen: set[tuple[str, str, int]] = set()
    bases = [(name, resolve(name, spec)) for name, spec in catalog.builtin_profiles().items()]
    # Profiles written for this GPU come first, so a derived twin never hides them.
    for name, base in bases:
        if base.hardware.gpu.key == gpu.key and base.hardware.count <= available:
            out.append(
                _candidate(name, on_host(base, gpu, base.hardware.count, host_ram_gib), True)
            )
            seen.add((base.checkpoint.key, base.backend.engine, base.hardware.count))
    for name, base in bases:
        if base.hardware.gpu.key == gpu.key and base.hardware.count <= available:
            continue
        most = engine_of(base).max_gpus
        counts = [n for n in GPU_COUNTS if most is None or n <= most]
        tried = [on_host(base, gpu, n, host_ram_gib) for n in counts if n <= available]
        if not tried:
            continue
        plans = [make_plan(s) for s in tried]
        # The smallest count that fits; if none does, the largest, to show why.
        chosen = next((i for i, p in enumerate(plans) if p.fits), len(tried) - 1)
        stack = tried[chosen]
        key = (base.checkpoint.key, base.backend.engine, stack.hardware.count)
        if key not in seen:
            seen.add(key)
            out.append(_candidate(name, stack, same_layout=False, plan=plans[chosen]))
    return out


def rank(candidates: list[Candidate]) -> list[Candidate]:
    def score(c: Candidate) -> tuple[int, int, int, float]:
        return (
            int(c.fits),
            PRECISION_RANK[c.stack.checkpoint.precision],
            -c.stack.hardware.count,
            c.plan.throughput.aggregate_tok_s,
        )

    return sorted(candidates, key=score, reverse=True)


def recommend(groups: list[tuple[GPU, int]], host_ram_gib: float | None) -> list[Candidate]:
    """Ranked candidates over every GPU type of the host (a mixed host is planned per type)."""
    found: list[Candidate] = []
    for gpu, count in groups:
        found += candidates_for(gpu, count, host_ram_gib)
    return rank(found)
