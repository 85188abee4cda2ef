"""Check what the hosting guide claims for a profile's row against the same physics (pure)."""

from __future__ import annotations

from typing import Any, NamedTuple

from ling_compose.models.stack import Stack
from ling_compose.planning.alternatives import with_gpus
from ling_compose.planning.fit import engine_of, make_plan


class GuideVerdict(NamedTuple):
    layout: str
    layout_fits: bool
    problems: list[str]
    claimed_tok_s: tuple[float, float] | None
    ceiling_tok_s: float | None
    speed_possible: bool | None

    def as_json(self) -> dict[str, Any]:
        return self._asdict()


def guide_stack(stack: Stack) -> Stack | None:
    """The stack as the guide lays it out, or None when the profile records no claim."""
    claim = stack.guide_claim
    if claim is None:
        return None
    guided = stack
    if stack.hardware.nodes > 1:  # the guide's layouts are single hosts
        hardware = stack.hardware.model_copy(update={"nodes": 1})
        guided = guided.model_copy(update={"hardware": hardware})
    if claim.gpus is not None and claim.gpus != stack.hardware.count:
        guided = with_gpus(guided, claim.gpus)
    if claim.host_ram_gib is not None:
        hardware = guided.hardware.model_copy(update={"host_ram_gib": claim.host_ram_gib})
        guided = guided.model_copy(update={"hardware": hardware})
    on_gpu = engine_of(guided).all_layers_on_gpu(guided.backend) if claim.all_on_gpu else None
    if on_gpu is not None:
        guided = guided.model_copy(update={"backend": on_gpu})
    return guided


def check_guide(stack: Stack) -> GuideVerdict | None:
    guided = guide_stack(stack)
    if guided is None or stack.guide_claim is None:
        return None
    claim = stack.guide_claim
    guided_plan = make_plan(guided)
    hw = guided.hardware
    layout = f"{hw.count} x {hw.gpu.name}, host RAM {hw.host_ram_gib:g} GiB" + (
        ", every layer on the GPU" if claim.all_on_gpu else ""
    )
    # The speed claim is judged on the layout that can actually run it.
    runnable = guided_plan if guided_plan.fits else make_plan(stack)
    ceiling = runnable.throughput.single_stream_tok_s if claim.tok_s else None
    possible = None if claim.tok_s is None or ceiling is None else claim.tok_s[0] <= ceiling
    return GuideVerdict(
        layout=layout,
        layout_fits=guided_plan.fits,
        problems=guided_plan.problems,
        claimed_tok_s=claim.tok_s,
        ceiling_tok_s=ceiling,
        speed_possible=possible,
    )


def guide_lines(verdict: GuideVerdict) -> list[str]:
    lines = [
        f"hosting guide's layout: {verdict.layout}: "
        + ("fits" if verdict.layout_fits else "IMPOSSIBLE")
    ]
    lines += [f"  - {p}" for p in verdict.problems]
    if verdict.claimed_tok_s and verdict.ceiling_tok_s is not None:
        low, high = verdict.claimed_tok_s
        claim = f"{low:g}" if low == high else f"{low:g}-{high:g}"
        where = "the guide's layout" if verdict.layout_fits else "this profile's layout"
        lines.append(
            f"hosting guide's speed: {claim} tok/s single stream; the bandwidth ceiling of {where} is "
            f"{verdict.ceiling_tok_s:.0f} tok/s: "
            + ("possible" if verdict.speed_possible else "IMPOSSIBLE (above the physical ceiling)")
        )
    return lines
