"""Load stacks: the only place that reads user files. Resolves catalogue references, applies
overrides, and turns validation failures into errors that name the file, the field and a fix."""

from __future__ import annotations

import difflib
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from ling_compose import catalog, recipe
from ling_compose.errors import ConfigError, cli_command
from ling_compose.models.backend import Engine, LlamaCppOptions
from ling_compose.models.hardware import Hardware
from ling_compose.models.stack import Origin, ProfilesFile, ProfileSpec, Stack

LOOPBACK = ("127.0.0.1", "::1", "localhost")


class Overrides(BaseModel):
    """Changes to a profile, from the CLI or the API. None means 'keep the profile's value'."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    engine: Engine | None = None
    gpus: int | None = None
    gpu: str | None = None
    host_ram_gib: float | None = None
    checkpoint: str | None = None
    tensor_parallel: int | None = None
    pipeline_parallel: int | None = None
    image: str | None = None
    context_length: int | None = None
    concurrency: int | None = None
    port: int | None = None
    bind: str | None = None
    served_model_name: str | None = None
    api_key_env: str | None = None
    tool_calling: bool | None = None
    model_file: str | None = None
    extra_args: list[str] = Field(default_factory=list)


def did_you_mean(word: str, choices: list[str]) -> str:
    close = difflib.get_close_matches(word, choices, n=1, cutoff=0.5)
    return f"did you mean '{close[0]}'? " if close else ""


def _validation_message(err: ValidationError, where: str) -> str:
    lines = []
    for e in err.errors():
        loc = ".".join(str(p) for p in e["loc"] if not str(p).startswith("function-"))
        lines.append(f"{where}: {loc}: {e['msg']}")
    return "\n".join(lines)


def read_yaml_file(path: Path) -> Any:
    """Parse a user's YAML file; unreadable or malformed files become ConfigError."""
    try:
        return catalog.load_yaml(path.read_text(encoding="utf-8"))
    except OSError as err:
        raise ConfigError(f"{path}: cannot read: {err.strerror}", hint="check the path") from err
    except (yaml.YAMLError, UnicodeDecodeError) as err:
        raise ConfigError(
            f"{path}: not valid YAML: {err}", hint="check indentation and quoting"
        ) from err


def read_profiles_file(path: Path) -> dict[str, ProfileSpec]:
    """Profiles from a user file (`profiles: {name: {...}}`), validated field by field."""
    data = read_yaml_file(path)
    try:
        return ProfilesFile.model_validate(data).profiles
    except ValidationError as err:
        raise ConfigError(
            _validation_message(err, str(path)),
            hint=f"`{cli_command()} schema` prints the JSON schema of this file",
        ) from err


def all_profiles(profiles_file: Path | None = None) -> dict[str, ProfileSpec]:
    """Built-in profiles, plus (and overridden by) those of a user file."""
    profiles = dict(catalog.builtin_profiles())
    if profiles_file is not None:
        profiles.update(read_profiles_file(profiles_file))
    return profiles


def _merge(base: dict[str, Any], changes: dict[str, Any]) -> dict[str, Any]:
    out = dict(base)
    for key, value in changes.items():
        out[key] = (
            _merge(out[key], value)
            if isinstance(value, dict) and isinstance(out.get(key), dict)
            else value
        )
    return out


def _given(**values: Any) -> dict[str, Any]:
    """The keyword arguments that were given (not None)."""
    return {k: v for k, v in values.items() if v is not None}


def apply_overrides(spec: ProfileSpec, ov: Overrides) -> ProfileSpec:
    """A new spec with the overrides applied; re-validated as a whole, so every rule still holds."""
    data = spec.model_dump(mode="python")
    if ov.engine is not None and ov.engine != spec.backend.engine:
        data["backend"] = {"engine": ov.engine}  # options of one engine mean nothing to another
        data["serving"]["port"] = None
    backend = _given(
        tensor_parallel=ov.tensor_parallel, pipeline_parallel=ov.pipeline_parallel, image=ov.image
    )
    if ov.model_file is not None:
        engine = ov.engine or spec.backend.engine
        if engine != "llamacpp":
            raise ConfigError(
                f"override: --model-file serves a local GGUF file, which only llama.cpp loads; "
                f"this stack uses {engine}",
                hint="add --backend llamacpp (e.g. with a GGUF checkpoint profile such as 4090-int4)",
            )
        backend["model_file"] = ov.model_file
    hardware = _given(count=ov.gpus, gpu=ov.gpu, host_ram_gib=ov.host_ram_gib)
    if ov.gpus is not None and ov.tensor_parallel is None:
        data["backend"]["tensor_parallel"] = None  # re-derive from the new GPU count
    serving = _given(
        context_length=ov.context_length,
        concurrency=ov.concurrency,
        port=ov.port,
        bind=ov.bind,
        served_model_name=ov.served_model_name,
        api_key_env=ov.api_key_env,
        tool_calling=ov.tool_calling,
    )
    if ov.extra_args:
        serving["extra_args"] = [*spec.serving.extra_args, *ov.extra_args]
    changes: dict[str, Any] = {"backend": backend, "hardware": hardware, "serving": serving}
    if ov.checkpoint is not None:
        changes["checkpoint"] = ov.checkpoint
    try:
        return ProfileSpec.model_validate(_merge(data, changes))
    except ValidationError as err:
        raise ConfigError(
            _validation_message(err, "override"), hint=f"see `{cli_command()} render --help`"
        ) from err


GGUF_MAGIC = b"GGUF"  # the first four bytes of every GGUF file (gguf-py constants.GGUF_MAGIC)


def check_model_file(path_text: str, where: str) -> str:
    """The absolute path of a local GGUF model file; ConfigError when it is not one."""
    path = Path(path_text).expanduser().resolve()
    try:
        with path.open("rb") as fh:
            magic = fh.read(4)
    except IsADirectoryError:
        raise ConfigError(
            f"{where}: {path} is a directory", hint="pass the .gguf file itself"
        ) from None
    except OSError as err:
        raise ConfigError(
            f"{where}: cannot read {path}: {err.strerror}", hint="check the path"
        ) from err
    if magic != GGUF_MAGIC:
        raise ConfigError(
            f"{where}: {path} is not a GGUF file (it does not start with {GGUF_MAGIC!r})",
            hint="llama.cpp loads GGUF files only; convert the model with llama.cpp's "
            "convert_hf_to_gguf.py",
        )
    return str(path)


def resolve(name: str, spec: ProfileSpec, origin: Origin | None = None) -> Stack:
    """Replace catalogue keys by their objects and check cross-field rules.

    `origin` is the CLI command that reproduces the stack (load_stack knows it); None, the
    default, says it was built in Python, and headers say so.
    """
    gpus, ckpts = catalog.gpus(), catalog.checkpoints()
    if spec.hardware.gpu not in gpus:
        named = catalog.gpu_keys_named(spec.hardware.gpu)  # 'h100' means h100-sxm-80gb, not h200
        guess = (
            f"did you mean {' or '.join(repr(k) for k in named)}? "
            if named
            else did_you_mean(spec.hardware.gpu, list(gpus))
        )
        raise ConfigError(
            f"{name}: hardware.gpu: unknown GPU '{spec.hardware.gpu}'",
            hint=guess + "known: " + ", ".join(gpus),
        )
    if spec.checkpoint not in ckpts:
        raise ConfigError(
            f"{name}: checkpoint: unknown checkpoint '{spec.checkpoint}'",
            hint=did_you_mean(spec.checkpoint, list(ckpts)) + "known: " + ", ".join(ckpts),
        )
    serving = spec.serving
    if serving.bind not in LOOPBACK and serving.api_key_env is None:
        raise ConfigError(
            f"{name}: serving.bind: publishing on {serving.bind} without an API key exposes the "
            "endpoint to the network",
            hint="add --api-key-env NAME (an environment variable holding the key), or bind 127.0.0.1",
        )
    backend = spec.backend
    if isinstance(backend, LlamaCppOptions) and backend.model_file is not None:
        # A path given relative to where ling_compose runs; the compose file gets it absolute.
        backend = backend.model_copy(
            update={
                "model_file": check_model_file(backend.model_file, f"{name}: backend.model_file")
            }
        )
    hw = spec.hardware
    return Stack(
        name=name,
        description=spec.description,
        hardware=Hardware(
            gpu=gpus[hw.gpu],
            count=hw.count,
            host_ram_gib=hw.host_ram_gib,
            host_ram_bandwidth_gbs=hw.host_ram_bandwidth_gbs,
        ),
        checkpoint=ckpts[spec.checkpoint],
        backend=backend,
        serving=serving,
        guide_note=spec.guide_note,
        guide_claim=spec.guide_claim,
        origin=origin,
    )


def profile_spec(name: str, profiles_file: Path | None = None) -> ProfileSpec:
    profiles = all_profiles(profiles_file)
    if name not in profiles:
        raise ConfigError(
            f"unknown profile '{name}'",
            hint=did_you_mean(name, list(profiles)) + f"`{cli_command()} list` shows them all",
        )
    return profiles[name]


def load_stack(
    name: str, overrides: Overrides | None = None, profiles_file: Path | None = None
) -> Stack:
    """A built-in or user profile, with overrides applied, resolved and checked."""
    spec = profile_spec(name, profiles_file)
    if overrides is not None:
        spec = apply_overrides(spec, overrides)
    changes = overrides.model_dump() if overrides is not None else {}
    return resolve(name, spec, recipe.origin(name, changes, profiles_file))
