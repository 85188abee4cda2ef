"""Candidate layouts near a stack that does not fit: more GPUs, a shorter context, fewer
concurrent sequences, or a built-in profile of the same precision (pure)."""

from __future__ import annotations

from ling_compose import catalog
from ling_compose.models.backend import LlamaCppOptions, VLLMOptions
from ling_compose.models.stack import Stack
from ling_compose.plan import Suggestion, make_plan

GPU_COUNTS = (1, 2, 4, 8)


def with_gpus(stack: Stack, count: int) -> Stack:
    """The stack on `count` GPUs of its type, parallelism re-derived."""
    backend = stack.backend
    tp, pp = count, 1
    if isinstance(backend, VLLMOptions) and count == 8:
        tp, pp = 4, 2  # vLLM caps tensor parallel at 4 for this model
    return stack.model_copy(
        update={
            "hardware": stack.hardware.model_copy(update={"count": count}),
            "backend": backend.model_copy(update={"tensor_parallel": tp, "pipeline_parallel": pp}),
        }
    )


def _power_of_two_at_most(n: int) -> int:
    return 1 << (n.bit_length() - 1) if n >= 1 else 0


def nearest(stack: Stack) -> list[Suggestion]:
    """Suggestions in order of how little they change; check_fits keeps those that fit."""
    from ling_compose.loader import resolve  # loader imports plan; keep this module import-light

    out: list[Suggestion] = []
    if not isinstance(stack.backend, LlamaCppOptions):
        for count in GPU_COUNTS:
            candidate = with_gpus(stack, count)
            if count > stack.hardware.count and make_plan(candidate).fits:
                out.append((f"--gpus {count}", candidate))
                break  # the smallest count that fits is the nearest
    plan = make_plan(stack)
    context = _power_of_two_at_most(plan.max_context_at_1)
    if 1024 <= context < stack.serving.context_length:
        serving = stack.serving.model_copy(update={"context_length": context})
        out.append((f"--context-length {context}", stack.model_copy(update={"serving": serving})))
    if 1 <= plan.max_concurrency_at_context < stack.serving.concurrency:
        serving = stack.serving.model_copy(update={"concurrency": plan.max_concurrency_at_context})
        out.append(
            (
                f"--concurrency {plan.max_concurrency_at_context}",
                stack.model_copy(update={"serving": serving}),
            )
        )
    # Built-in profiles of the same precision, smallest first, then those on the same GPU.
    profiles = [(name, resolve(name, spec)) for name, spec in catalog.builtin_profiles().items()]
    same_gpu = [p for p in profiles if p[1].hardware.gpu.key == stack.hardware.gpu.key]
    same_precision = sorted(
        (p for p in profiles if p[1].checkpoint.precision == stack.checkpoint.precision),
        key=lambda p: (p[1].hardware.count * p[1].hardware.gpu.memory_gb, p[0]),
    )
    seen: set[str] = set()
    for name, candidate in same_precision + same_gpu:
        if name in seen or candidate == stack:
            continue
        seen.add(name)
        label = f"profile {name}" + (" as built in" if name == stack.name else "")
        out.append((label, candidate))
    return out
