"""Base classes: strict models for what users write, lenient ones for what tools return."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict


class StrictModel(BaseModel):
    """Frozen, unknown keys rejected, numbers finite: every field a user writes is checked
    (`.inf` would reach the planner and print as `Infinity`, which is not JSON)."""

    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)
