"""Built-in data is immutable: no caller can change the cached catalogue for the whole process."""

from __future__ import annotations

from collections.abc import Mapping
from importlib import resources
from typing import Any

import pytest
from pydantic import BaseModel

import ling_compose as lc
from ling_compose import catalog


def _mutable_parts(value: Any, where: str) -> list[str]:
    """Paths of every list, dict or set reachable from VALUE through model fields."""
    if isinstance(value, BaseModel):
        return [
            path
            for name in type(value).model_fields
            for path in _mutable_parts(getattr(value, name), f"{where}.{name}")
        ]
    if isinstance(value, list | dict | set):
        return [f"{where} ({type(value).__name__})"]
    if isinstance(value, Mapping):
        return [p for k, v in value.items() for p in _mutable_parts(v, f"{where}[{k!r}]")]
    if isinstance(value, tuple):
        return [p for i, v in enumerate(value) for p in _mutable_parts(v, f"{where}[{i}]")]
    return []


@pytest.mark.parametrize(
    ("name", "accessor"),
    [
        ("gpus", catalog.gpus),
        ("checkpoints", catalog.checkpoints),
        ("builtin_profiles", catalog.builtin_profiles),
    ],
)
def test_catalogue_accessors_are_read_only_all_the_way_down(name: str, accessor: Any) -> None:
    data = accessor()
    assert _mutable_parts(data, name) == []
    with pytest.raises(TypeError):
        data["new"] = next(iter(data.values()))
    with pytest.raises(AttributeError):
        data.pop(next(iter(data)))  # type: ignore[attr-defined]
    assert len(accessor()) == len(data)


def test_a_loaded_stack_cannot_change_the_cached_catalogue() -> None:
    stack = lc.load_stack("h200-fp8")
    assert _mutable_parts(stack, "stack") == []
    with pytest.raises(AttributeError):
        stack.serving.extra_args.append("--enforce-eager")  # type: ignore[attr-defined]
    with pytest.raises(AttributeError):
        stack.hardware.gpu.match.append("h100")  # type: ignore[attr-defined]
    assert lc.load_stack("h200-fp8") == stack


def test_rendered_output_is_unchanged_by_tuples() -> None:
    overrides = lc.Overrides(extra_args=["--enforce-eager"])
    text = lc.render("h200-fp8", overrides)
    assert "- --enforce-eager\n" in text
    assert lc.load_stack("h200-fp8", overrides).serving.extra_args == ("--enforce-eager",)


def test_package_is_marked_typed() -> None:
    assert resources.files("ling_compose").joinpath("py.typed").is_file()
