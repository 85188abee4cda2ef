"""Base classes: strict models for what users write, lenient ones for what tools return.

Both build their validators on first use (defer_build): a command pays only for the models it
uses, not for every model the package defines (`render` starts in about the time any program
takes to import pydantic and write one document: bench/bench_render.py). For the same reason the
modules that define models do not use `from __future__ import annotations`: pydantic would have
to evaluate every string annotation when it creates the class. Empty collections are written
as defaults (`Field(default=[])`), not `default_factory=list`: pydantic copies a mutable default
for each instance, and inspecting the builtin `list` as a factory (to see whether it takes the
validated data) parses its text signature, which costs every process a few milliseconds.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict


class StrictModel(BaseModel):
    """Frozen, unknown keys rejected, numbers finite: every field a user writes is checked
    (`.inf` would reach the planner and print as `Infinity`, which is not JSON)."""

    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False, defer_build=True)


class LenientModel(BaseModel):
    """What tools return: unknown keys ignored, so a newer driver's extra fields do no harm."""

    model_config = ConfigDict(extra="ignore", frozen=True, defer_build=True)
