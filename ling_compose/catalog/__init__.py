"""Built-in data (GPUs, checkpoints, profiles) as YAML files, validated by the models on load."""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from functools import cache
from importlib import resources
from types import MappingProxyType
from typing import Any

import yaml

from ling_compose.models.checkpoint import Checkpoint
from ling_compose.models.hardware import GPU
from ling_compose.models.stack import PROFILE_NAME_PATTERN, ProfileSpec

# libyaml's loader when PyYAML was built with it: ~10x faster, and render must stay interactive.
SafeLoader: type[yaml.SafeLoader] = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def load_yaml(text: str) -> Any:
    """yaml.safe_load, through libyaml when available."""
    return yaml.load(text, Loader=SafeLoader)


def read_builtin(filename: str) -> Any:
    """Parse one YAML file shipped in this package."""
    return load_yaml(resources.files(__package__).joinpath(filename).read_text(encoding="utf-8"))


# The accessors are cached for the process, so what they return is read-only: frozen models with
# tuples for sequences, in mappings that refuse item assignment (a caller cannot change a GPU or
# a profile for every later caller).


@cache
def gpus() -> Mapping[str, GPU]:
    """The GPU catalogue, by key."""
    items = (GPU.model_validate(item) for item in read_builtin("gpus.yaml")["gpus"])
    return MappingProxyType({g.key: g for g in items})


@cache
def checkpoints() -> Mapping[str, Checkpoint]:
    """The checkpoint catalogue, by key."""
    items = read_builtin("checkpoints.yaml")["checkpoints"]
    return MappingProxyType({c.key: c for c in (Checkpoint.model_validate(i) for i in items)})


class _Profiles(Mapping[str, ProfileSpec]):
    """Profiles by name, in file order, each validated when first asked for: `render PROFILE`
    validates one profile (and builds the options model of one engine), not all of them.
    tests/unit/test_plan.py plans every one."""

    def __init__(self, raw: Mapping[str, Any]) -> None:
        for name in raw:  # a profile's name is checked at once, as a ProfilesFile checks it
            if not re.fullmatch(PROFILE_NAME_PATTERN, name):
                raise ValueError(f"profiles.yaml: {name!r} is not a valid profile name")
        self._raw = dict(raw)
        self._specs: dict[str, ProfileSpec] = {}

    def __getitem__(self, name: str) -> ProfileSpec:
        if name not in self._specs:
            self._specs[name] = ProfileSpec.model_validate(self._raw[name])
        return self._specs[name]

    def __iter__(self) -> Iterator[str]:
        return iter(self._raw)

    def __len__(self) -> int:
        return len(self._raw)


@cache
def builtin_profiles() -> Mapping[str, ProfileSpec]:
    """The built-in profiles, by name, in file order."""
    return _Profiles(read_builtin("profiles.yaml")["profiles"])


def _squeezed(text: str) -> str:
    return re.sub(r"[\s_-]+", "", text.lower())


def gpu_keys_named(word: str) -> list[str]:
    """Catalogue keys a user probably means by `word` ('h100', 'A100', 'rtx4090'): the word inside
    a key, a name or a `match` string, ignoring case, spaces and dashes."""
    wanted = _squeezed(word)
    if not wanted:
        return []
    return [
        g.key
        for g in gpus().values()
        if any(wanted in _squeezed(name) for name in (g.key, g.name, *g.match))
    ]
