"""Candidate layouts near a stack that does not fit: the parallelism its GPUs allow, more GPUs,
a shorter context, fewer llama.cpp slots, or a built-in profile with the same context (pure).

Every label is the command-line change that produces exactly the candidate stack (on top of
the arguments already given, or after `profile NAME`), so a suggestion shown is a suggestion
that works: check_fits re-plans each candidate and keeps only those that fit.
"""

from __future__ import annotations

import json

from ling_compose import catalog
from ling_compose.models.stack import MAX_CONTEXT_YARN, Stack
from ling_compose.planning.fit import Suggestion, engine_of, make_plan, parallelism

GPU_COUNTS = (1, 2, 4, 8)
MAX_GPUS = 8  # one server's, over any number of nodes (load.MAX_GPUS)
SHORTEST_CONTEXT = 1024


def layout_for(stack: Stack, count: int) -> tuple[int, int]:
    """(tensor, pipeline) parallelism for `count` GPUs: all tensor parallel, except where the
    engine caps tensor parallel for this model (vLLM on 8 GPUs: 4 x 2)."""
    sizes = engine_of(stack).tensor_parallel_sizes
    if sizes is not None and count not in sizes:
        tp = max(t for t in sizes if count % t == 0)
        return tp, count // tp
    return count, 1


def with_gpus(stack: Stack, count: int) -> Stack:
    """The stack on `count` GPUs of its type, parallelism re-derived."""
    tp, pp = layout_for(stack, count)
    return stack.model_copy(
        update={
            "hardware": stack.hardware.model_copy(update={"count": count}),
            "backend": stack.backend.model_copy(
                update={"tensor_parallel": tp, "pipeline_parallel": pp}
            ),
        }
    )


def _parallel_args(stack: Stack, count: int, tp: int, pp: int) -> list[str]:
    """The flags that make the loader produce (count, tp, pp) from this stack's arguments.

    `--gpus N` alone re-derives tensor parallel as N / pipeline parallel, unless tensor parallel
    was given: then it stays, so the label must name it."""
    args = [f"--gpus {count}"] if count != stack.hardware.count else []
    if pp != stack.backend.pipeline_parallel:
        args.append(f"--pipeline-parallel {pp}")
    given = stack.backend.tensor_parallel
    if (given is not None or count // pp != tp) and given != tp:
        args.append(f"--tensor-parallel {tp}")
    return args


def with_nodes(stack: Stack, nodes: int, per_node: int) -> Stack:
    """The stack over `nodes` nodes of `per_node` GPUs: tensor parallel inside each node,
    pipeline parallel across them (what --nodes / --gpus-per-node make)."""
    return stack.model_copy(
        update={
            "hardware": stack.hardware.model_copy(
                update={"count": nodes * per_node, "nodes": nodes}
            ),
            "backend": stack.backend.model_copy(
                update={"tensor_parallel": per_node, "pipeline_parallel": nodes}
            ),
        }
    )


def _node_candidates(stack: Stack) -> list[Suggestion]:
    """For a stack over several nodes: the fewest GPUs per node, then the fewest nodes, that
    fit (more GPUs per node first: tensor parallel inside a node is the cheaper split)."""
    hw = stack.hardware
    if hw.nodes == 1:
        return []
    for nodes in range(hw.nodes, MAX_GPUS + 1):
        for per_node in GPU_COUNTS:
            if nodes * per_node > MAX_GPUS or (nodes, per_node) == (hw.nodes, hw.gpus_per_node):
                continue
            candidate = with_nodes(stack, nodes, per_node)
            if per_node >= hw.gpus_per_node and _fits(candidate):
                return [(f"--nodes {nodes} --gpus-per-node {per_node}", candidate)]
    return []


def _with_serving(stack: Stack, **changes: int) -> Stack:
    return stack.model_copy(update={"serving": stack.serving.model_copy(update=changes)})


def _fits(stack: Stack) -> bool:
    return make_plan(stack).fits


def _parallelism_candidates(stack: Stack) -> list[Suggestion]:
    if stack.hardware.nodes > 1:
        return []  # its GPUs and parallelism follow --nodes / --gpus-per-node (_node_candidates)
    out: list[Suggestion] = []
    count, tp_now = stack.hardware.count, stack.backend.tensor_parallel
    tp, pp = layout_for(stack, count)
    if tp_now is not None and (tp_now, stack.backend.pipeline_parallel) != (tp, pp):
        candidate = with_gpus(stack, count)
        out.append((" ".join(_parallel_args(stack, count, tp, pp)), candidate))
    for more in GPU_COUNTS:
        if more <= count:
            continue
        candidate = with_gpus(stack, more)
        if _fits(candidate):
            tp, pp = layout_for(stack, more)
            out.append((" ".join(_parallel_args(stack, more, tp, pp)), candidate))
            break  # the smallest count that fits is the nearest
    return out


def _context_candidate(stack: Stack) -> list[Suggestion]:
    """The longest power-of-two context (up to the model's limit) that fits as the stack is."""
    context = MAX_CONTEXT_YARN
    while context >= SHORTEST_CONTEXT:
        if context < stack.serving.context_length:
            candidate = _with_serving(stack, context_length=context)
            if _fits(candidate):
                return [(f"--context-length {context}", candidate)]
        context //= 2
    return []


def _concurrency_candidate(stack: Stack) -> list[Suggestion]:
    """Slots that each own a full context (llama.cpp): the most slots that fit."""
    if engine_of(stack).cache_pool != "slots":
        return []  # shared and split pools (vLLM, SGLang): concurrency alone never stops them
    for slots in range(stack.serving.concurrency - 1, 0, -1):
        candidate = _with_serving(stack, concurrency=slots)
        if _fits(candidate):
            return [(f"--concurrency {slots}", candidate)]
    return []


def _profile_candidates(stack: Stack) -> list[Suggestion]:
    """Built-in profiles with this stack's context: what the user asked for, on hardware that
    holds it (each profile keeps its own running-sequence cap, chosen for its hardware). Same
    precision first (least memory first), then the same GPU."""
    from ling_compose.load import resolve  # loader imports plan; keep this module import-light

    profiles = [(name, resolve(name, spec)) for name, spec in catalog.builtin_profiles().items()]
    same_precision = sorted(
        (p for p in profiles if p[1].checkpoint.precision == stack.checkpoint.precision),
        key=lambda p: (p[1].hardware.count * p[1].hardware.gpu.memory_gib, p[0]),
    )
    same_gpu = [p for p in profiles if p[1].hardware.gpu.key == stack.hardware.gpu.key]
    out: list[Suggestion] = []
    context = stack.serving.context_length
    for name, base in dict(same_precision + same_gpu).items():
        if base.serving.context_length == context:
            out.append((f"profile {name}", base))
        else:
            label = f"profile {name} --context-length {context}"
            out.append((label, _with_serving(base, context_length=context)))
    return out


def _identity(stack: Stack) -> str:
    """What the plan depends on, with parallelism resolved: two stacks alike here are one layout."""
    dump = stack.model_dump(
        mode="json", exclude={"name", "description", "guide_note", "guide_claim"}
    )
    dump["backend"].update(
        zip(("tensor_parallel", "pipeline_parallel"), parallelism(stack), strict=False)
    )
    return json.dumps(dump, sort_keys=True)


def nearest(stack: Stack) -> list[Suggestion]:
    """Suggestions in order of how little they change; check_fits keeps those that fit."""
    out = _node_candidates(stack) + _parallelism_candidates(stack) + _context_candidate(stack)
    out += _concurrency_candidate(stack) + _profile_candidates(stack)
    seen = {_identity(stack)}
    unique: list[Suggestion] = []
    for label, candidate in out:
        if _identity(candidate) not in seen:
            seen.add(_identity(candidate))
            unique.append((label, candidate))
    return unique
