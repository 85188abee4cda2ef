"""Base classes: strict models for what users write, lenient ones for what tools return."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict


class StrictModel(BaseModel):
    """Frozen, unknown keys rejected: every field a user writes is checked."""

    model_config = ConfigDict(extra="forbid", frozen=True)
