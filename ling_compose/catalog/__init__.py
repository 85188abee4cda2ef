"""Built-in data (GPUs, checkpoints, profiles) as YAML files, validated by the models on load."""

from __future__ import annotations

from functools import cache
from importlib import resources
from typing import Any

import yaml

from ling_compose.models.hardware import GPU


def read_builtin(filename: str) -> Any:
    """Parse one YAML file shipped in this package."""
    text = resources.files(__package__).joinpath(filename).read_text(encoding="utf-8")
    return yaml.safe_load(text)


@cache
def gpus() -> dict[str, GPU]:
    """The GPU catalogue, by key."""
    return {g.key: g for g in (GPU.model_validate(item) for item in read_builtin("gpus.yaml")["gpus"])}
