"""The engine registry: engine names to Engine objects (engines/base.py), the one table the CLI's
choices, the profile options, planning, validate, runtime and doctor all read.

Built-in engines are modules of this package (BUILT_IN), each imported when it is first asked
for; more can be registered (a test registers a toy one). Import-light on purpose: models/options.py
imports this module to resolve `engine:`, so it imports no engine and no model at load time.
"""

from __future__ import annotations

import importlib
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from ling_compose.engines.base import Engine
    from ling_compose.models.options import EngineOptions

# Modules of ling_compose.engines, each with a module-level ENGINE; their order is the order of
# the CLI's choices and of the schema's variants.
BUILT_IN = ("vllm", "sglang", "llamacpp")

# Engines users ask for that cannot serve Ling-2.6-flash: (why, what to use instead).
# Ollama (the hosting guide's option A) loads models through upstream llama.cpp, pinned in its
# LLAMA_CPP_VERSION (b10488 at ollama/ollama fb30760, 2026-08-21; its own engine under x/models
# has no Bailing model either). Upstream llama.cpp has bailingmoe/bailingmoe2 (Ling 1.x/2.0) and
# bailingmoe3 (Ling 3.0, ggml-org/llama.cpp PR 26608), but no BailingMoeV2_5ForCausalLM: the
# request for it, ggml-org/llama.cpp issue 22641, was closed as stale.
CANNOT_SERVE: dict[str, tuple[str, str]] = {
    "ollama": (
        "Ollama cannot load Ling-2.6-flash: it runs models through upstream llama.cpp, which has "
        "no support for this model's architecture (BailingMoeV2_5ForCausalLM, model_type "
        "bailing_hybrid; ggml-org/llama.cpp issue 22641 was closed without it)",
        "use --backend llamacpp (ling_compose builds llama-server from the fork that runs this "
        "model, as in profiles 3090-int4 and 4090-int4), or --backend vllm / sglang on GPUs with "
        "room for the weights",
    ),
}


# Registered engines by name; a built-in's entry is None until its module is first needed, so
# that `render` of a vLLM profile imports the vLLM module alone.
_engines: dict[str, Engine | None] = dict.fromkeys(BUILT_IN)


def _loaded(name: str) -> Engine:
    engine = _engines[name]
    if engine is None:
        engine = importlib.import_module(f"{__package__}.{name}").ENGINE
        assert engine.name == name, f"engines/{name}.py defines {engine.name!r}"
        _engines[name] = engine
    return engine


def register(engine: Engine) -> None:
    """Add an engine; its name must be new (built-ins cannot be replaced by accident)."""
    if engine.name in _engines:
        raise ValueError(f"an engine named {engine.name!r} is already registered")
    _engines[engine.name] = engine


def unregister(name: str) -> None:
    if name in BUILT_IN:
        raise ValueError(f"{name!r} is a built-in engine")
    _engines.pop(name, None)


@contextmanager
def registered(engine: Engine) -> Iterator[Engine]:
    """The engine registered for the duration of a `with` block (tests)."""
    register(engine)
    try:
        yield engine
    finally:
        unregister(engine.name)


def get(name: str) -> Engine:
    """The engine of that name; KeyError when none is registered (names are validated at the
    edge: profiles by their options model, overrides and the CLI by names())."""
    if name not in _engines:
        raise KeyError(name)
    return _loaded(name)


def find(name: object) -> Engine | None:
    """The engine of that name, or None (a file ling_compose did not render may name any)."""
    return _loaded(name) if isinstance(name, str) and name in _engines else None


def names() -> tuple[str, ...]:
    """Every registered engine's name (importing none of them)."""
    return tuple(_engines)


def engines() -> tuple[Engine, ...]:
    return tuple(_loaded(name) for name in _engines)


def options_models() -> tuple[type[EngineOptions], ...]:
    return tuple(engine.options for engine in engines())


def for_repository(repository: str) -> Engine | None:
    """The engine whose published images live in `repository` (an image name without its tag)."""
    return next((e for e in engines() if repository in e.image_repositories), None)
