"""The only place that reads user files: profiles files (-> Stack: catalogue references
resolved, overrides applied), compose files (validate, up -f), env files, a local model file;
each within the limits below, every failure an error that names the file, the field and a fix."""

from __future__ import annotations

import functools
import re
from pathlib import Path
from typing import Any, ClassVar

import yaml
from pydantic import ValidationError

from ling_compose import catalog, reproduce
from ling_compose.engines import registry
from ling_compose.errors import ConfigError, UsageError, cli_command
from ling_compose.models.compose import ComposeProject
from ling_compose.models.hardware import Hardware
from ling_compose.models.options import EngineOptions

# Overrides moved beside its flag table (models/overrides.py); this is where callers find it.
from ling_compose.models.overrides import Overrides as Overrides
from ling_compose.models.stack import (
    PROFILE_NAME_PATTERN,
    PROFILE_NAME_RULE,
    Origin,
    ProfilesFile,
    ProfileSpec,
    Stack,
)


def is_loopback(address: str) -> bool:
    import ipaddress  # imported where used: most commands never need it

    return ipaddress.ip_address(address).is_loopback  # the model checked it is an address


def did_you_mean(word: str, choices: list[str]) -> str:
    import difflib  # only for a name that is not known

    close = difflib.get_close_matches(word, choices, n=1, cutoff=0.5)
    return f"did you mean '{close[0]}'? " if close else ""


def unknown_key_hint(key: str, known: list[str], named: list[str] | None = None) -> str:
    """Hint for a catalogue key that does not exist (GPU, checkpoint): the keys the word names
    (`named`, from catalog.gpu_keys_named), else the closest spelling, then every known key."""
    guess = (
        f"did you mean {' or '.join(repr(k) for k in named)}? "
        if named
        else did_you_mean(key, known)
    )
    return guess + "known: " + ", ".join(known)


def unknown_gpu_hint(key: str) -> str:
    # 'h100' means h100-sxm-80gb, not h200 (the closest spelling)
    return unknown_key_hint(key, list(catalog.gpus()), catalog.gpu_keys_named(key))


def _validation_message(err: ValidationError, where: str) -> str:
    lines = []
    for e in err.errors():
        loc = ".".join(str(p) for p in e["loc"] if not str(p).startswith("function-"))
        lines.append(f"{where}: {loc}: {e['msg']}" if loc else f"{where}: {e['msg']}")
    return "\n".join(lines)


# What a user file may hold (docs/troubleshooting.md): far above any real profiles or compose
# file, low enough that a hostile one ("billion laughs") is refused in milliseconds.
MAX_FILE_BYTES = 1024 * 1024
MAX_NESTING = 64  # mappings and sequences inside each other, aliases expanded
MAX_ALIASES = 1000
MAX_NODES = 20_000  # values, aliases expanded (a built-in stack file has under 100)


def read_user_text(path: Path, what: str = "file") -> str:
    """A user's text file, at most MAX_FILE_BYTES of UTF-8; anything else is a ConfigError."""
    try:
        with path.open("rb") as handle:
            data = handle.read(MAX_FILE_BYTES + 1)
    except OSError as err:
        raise ConfigError(
            f"{path}: cannot read {what}: {err.strerror or err}", hint="check the path"
        ) from err
    if len(data) > MAX_FILE_BYTES:
        raise ConfigError(
            f"{path}: {what} larger than {MAX_FILE_BYTES // 1024} KiB",
            hint="profiles and compose files are a few KiB; is this the right file?",
        )
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as err:
        raise ConfigError(
            f"{path}: {what} is not UTF-8 text (byte {err.start})", hint="save it as UTF-8"
        ) from err


def parse_env_file(path: Path) -> dict[str, str]:
    """KEY=VALUE lines; `#` comments, `export ` prefixes and matching quotes are accepted."""
    text = read_user_text(path, "env file")
    out: dict[str, str] = {}
    for number, raw in enumerate(text.splitlines(), start=1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        if line.startswith("export "):
            line = line[len("export ") :].lstrip()
        key, sep, value = line.partition("=")
        key = key.strip()
        if not sep or not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", key):
            raise ConfigError(
                f"{path}:{number}: expected KEY=VALUE",
                hint="one variable per line, e.g. HF_TOKEN=hf_...",
            )
        value = value.strip()
        if len(value) >= 2 and value[0] == value[-1] and value[0] in "\"'":
            value = value[1:-1]
        elif " #" in value:
            value = value.split(" #", 1)[0].rstrip()
        out[key] = value
    return out


def _too_big(path: Path, what: str) -> ConfigError:
    return ConfigError(
        f"{path}: {what}",
        hint=f"user files are limited to {MAX_NESTING} levels of nesting, {MAX_ALIASES} aliases "
        f"and {MAX_NODES} values with aliases expanded (docs/troubleshooting.md)",
    )


def _check_expansion(text: str, path: Path, loader_class: type[yaml.SafeLoader]) -> None:
    """Refuse YAML that expands beyond the limits, from the event stream (nothing is built).

    Aliases are counted at the size and depth of what they stand for, so anchors that repeat
    anchors ("billion laughs") are caught before the document is constructed."""
    loader = loader_class(text)
    try:
        # One entry per open mapping/sequence: [anchor, nodes when it opened, deepest child].
        open_: list[list[Any]] = []
        size: dict[str, int] = {}
        depth: dict[str, int] = {}
        nodes = aliases = 0
        while loader.check_event():
            event = loader.get_event()  # type: ignore[no-untyped-call]
            level, extra = len(open_), 0
            if isinstance(event, yaml.CollectionStartEvent):
                nodes += 1
                open_.append([event.anchor, nodes, 0])
                extra = 1
            elif isinstance(event, yaml.CollectionEndEvent):
                anchor, start, inner = open_.pop()
                if open_:
                    open_[-1][2] = max(open_[-1][2], inner + 1)
                if anchor:
                    size[anchor], depth[anchor] = nodes - start + 1, inner + 1
            elif isinstance(event, yaml.ScalarEvent):
                nodes += 1
                if event.anchor:
                    size[event.anchor], depth[event.anchor] = 1, 0
            elif isinstance(event, yaml.AliasEvent):
                aliases += 1
                if aliases > MAX_ALIASES:
                    raise _too_big(path, f"more than {MAX_ALIASES} aliases")
                if event.anchor in (entry[0] for entry in open_):
                    raise ConfigError(
                        f"{path}: alias *{event.anchor} is inside the value it refers to",
                        hint="an alias may refer only to a value that ends before it",
                    )
                anchor = event.anchor or ""
                nodes += size.get(anchor, 1)  # an undefined one fails when composed, below
                extra = depth.get(anchor, 0)
                if open_:
                    open_[-1][2] = max(open_[-1][2], extra)
            if level + extra > MAX_NESTING:
                raise _too_big(path, f"nested deeper than {MAX_NESTING} levels")
            if nodes > MAX_NODES:
                raise _too_big(path, f"expands to more than {MAX_NODES} values")
    finally:
        loader.dispose()


def read_yaml_file(
    path: Path, what: str = "YAML file", loader_class: type[yaml.SafeLoader] = catalog.SafeLoader
) -> Any:
    """Parse a user's YAML file within the limits above; every failure is a ConfigError that
    names the file (syntax, an oversized expansion, a tag whose value does not convert)."""
    text = read_user_text(path, what)
    try:
        _check_expansion(text, path, loader_class)
        return yaml.load(text, Loader=loader_class)
    except yaml.YAMLError as err:
        raise ConfigError(
            f"{path}: not valid YAML: {err}", hint="check indentation and quoting"
        ) from err
    except (ValueError, TypeError, AttributeError, OverflowError) as err:
        # SafeConstructor raises these for tagged values it cannot convert (`!!int "x"`,
        # `!!float abc`, a malformed `!!timestamp`); only YAML syntax errors are YAMLError.
        raise ConfigError(
            f"{path}: a tagged value cannot be converted: {err}",
            hint="remove the YAML tag (e.g. !!int) or fix its value",
        ) from err


class ComposeLoader(catalog.SafeLoader):  # type: ignore[misc, valid-type]
    """Compose files as Compose v2 reads them. Compose v2.40.3 parses with compose-go v2.9.1,
    which uses go.yaml.in/yaml/v3: YAML 1.2 plain scalars (resolve.go), so `no`, `on` and
    `2024-01-01` stay strings, where PyYAML's YAML 1.1 would make them a bool and a date
    (and report `restart: no` as invalid). Compose's `!reset` and `!override` tags are kept."""

    yaml_implicit_resolvers: ClassVar[dict[Any, Any]] = {}  # none inherited: only those below


def _go_int(loader: yaml.SafeLoader, node: yaml.ScalarNode) -> int | float:
    """strconv.ParseInt(s, 0, 64) after removing `_`, as go-yaml v3 does: 0x, 0o, 0b and a
    leading 0 (octal) are prefixes; what is not an integer there falls back to a float."""
    text = str(loader.construct_scalar(node)).replace("_", "")
    sign, digits = (-1, text[1:]) if text.startswith("-") else (1, text.lstrip("+"))
    if digits[:2].lower() in ("0x", "0o", "0b"):
        return sign * int(digits, 0)
    if len(digits) > 1 and digits.startswith("0"):
        try:
            return sign * int(digits, 8)
        except ValueError:
            return sign * float(digits)
    return sign * int(digits)


_GO_YAML_SCALARS = [
    ("bool", r"^(?:true|True|TRUE|false|False|FALSE)$", "tTfF"),
    ("null", r"^(?:~|null|Null|NULL|)$", ["~", "n", "N", ""]),
    ("int", r"^[-+]?(?:0[xX][0-9a-fA-F_]+|0[oO][0-7_]+|0[bB][01_]+|[0-9][0-9_]*)$", "-+0123456789"),
    (
        "float",
        r"^(?:[-+]?(?:\.[0-9]+|[0-9]+(?:\.[0-9]*)?)(?:[eE][-+]?[0-9]+)?"
        r"|[-+]?\.(?:inf|Inf|INF)|\.(?:nan|NaN|NAN))$",
        "-+.0123456789",
    ),
    ("merge", r"^<<$", "<"),
]
# In one file, `!override X` is X and `!reset X` leaves the attribute unset.
_RESET = object()


@functools.cache
def _compose_loader() -> type[yaml.SafeLoader]:
    """ComposeLoader with go-yaml's scalars and Compose's tags (set up when a compose file is
    first read: their patterns cost the commands that read none)."""
    for kind, pattern, first in _GO_YAML_SCALARS:
        ComposeLoader.add_implicit_resolver(
            f"tag:yaml.org,2002:{kind}", re.compile(pattern), list(first)
        )
    ComposeLoader.add_constructor("tag:yaml.org,2002:int", _go_int)
    ComposeLoader.add_constructor("!override", lambda loader, node: _construct_plain(loader, node))
    ComposeLoader.add_constructor("!reset", lambda loader, node: _RESET)
    return ComposeLoader


def _without_reset(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _without_reset(v) for k, v in value.items() if v is not _RESET}
    if isinstance(value, list):
        return [_without_reset(v) for v in value if v is not _RESET]
    return value


def _construct_plain(loader: yaml.SafeLoader, node: yaml.Node) -> Any:
    if isinstance(node, yaml.MappingNode):
        return loader.construct_mapping(node, deep=True)
    if isinstance(node, yaml.SequenceNode):
        return loader.construct_sequence(node, deep=True)
    return loader.construct_scalar(node)  # type: ignore[arg-type]


def read_compose_file(path: Path) -> Any:
    """A user's compose file, within the limits of read_yaml_file, read as Compose reads it."""
    return _without_reset(read_yaml_file(path, "compose file", _compose_loader()))


def load_compose_project(path: Path) -> ComposeProject:
    """A compose file ling_compose rendered, read back into the typed project; what Compose
    itself would refuse fails here, before the engine is contacted."""
    from ling_compose.flags.compose_lint import check_compose  # its schema: only when asked

    data = read_compose_file(path)
    problems = check_compose(data)
    if problems:
        raise ConfigError(
            f"{path}: Compose would refuse it: "
            + "; ".join(map(str, problems[:3]))
            + (f" (and {len(problems) - 3} more)" if len(problems) > 3 else ""),
            hint=f"`{cli_command()} validate -f {path}` lists every problem",
        )
    try:
        return ComposeProject.from_compose(data)
    except ValidationError as err:
        first = err.errors()[0]
        where = ".".join(str(p) for p in first["loc"] if not str(p).startswith("function-"))
        problem = str(first["msg"]).removeprefix("Value error, ")
        raise ConfigError(
            f"{path}: not a file ling_compose rendered ({where + ': ' if where else ''}{problem})",
            hint=f"`up -f` reads files written by `{cli_command()} render`; for others use "
            "`docker compose up`",
        ) from err


def read_profiles_file(path: Path) -> dict[str, ProfileSpec]:
    """Profiles from a user file (`profiles: {name: {...}}`), validated field by field."""
    data = read_yaml_file(path, "profiles file")
    if isinstance(data, dict) and isinstance(data.get("profiles"), dict):
        for name in data["profiles"]:
            if not (isinstance(name, str) and re.fullmatch(PROFILE_NAME_PATTERN, name)):
                raise ConfigError(
                    f"{path}: profiles: {str(name)!r} is not a valid profile name: "
                    f"use {PROFILE_NAME_RULE}",
                    hint="rename the profile in the file",
                )
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


# The most GPUs the planner lays out for one server, over any number of nodes (GpuCount).
MAX_GPUS = 8


def _node_layout(spec: ProfileSpec, ov: Overrides) -> tuple[int, int]:
    """(nodes, GPUs per node) of --nodes / --gpus-per-node over the profile's (or --gpus') GPUs."""
    nodes = ov.nodes if ov.nodes is not None else spec.hardware.nodes
    total = ov.gpus if ov.gpus is not None else spec.hardware.count
    if ov.gpus_per_node is None:
        if total % nodes:
            raise UsageError(
                f"--nodes {nodes}: {total} GPUs do not split evenly over {nodes} nodes",
                hint="add --gpus-per-node N: the stack then has nodes x N GPUs",
            )
        return nodes, total // nodes
    per_node = ov.gpus_per_node
    if ov.gpus is not None and ov.gpus != nodes * per_node:
        raise UsageError(
            f"--gpus {ov.gpus} disagrees with --nodes {nodes} x --gpus-per-node {per_node}",
            hint="leave out --gpus: it is nodes x GPUs per node",
        )
    if nodes * per_node > MAX_GPUS:
        raise UsageError(
            f"--nodes {nodes} x --gpus-per-node {per_node} = {nodes * per_node} GPUs; one "
            f"server is planned on at most {MAX_GPUS}",
            hint="fewer nodes or GPUs per node; --replicas adds whole copies of the layout",
        )
    return nodes, per_node


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
        loaders = [e for e in registry.engines() if LOCAL_MODEL_FIELD in e.options.model_fields]
        if engine not in [e.name for e in loaders]:
            raise ConfigError(
                f"override: --model-file serves a local GGUF file, which only "
                f"{' and '.join(e.display_name for e in loaders)} loads; this stack uses {engine}",
                hint=f"add --backend {loaders[0].name} (e.g. with a GGUF checkpoint profile such "
                "as 4090-int4)",
            )
        backend[LOCAL_MODEL_FIELD] = ov.model_file
    hardware = _given(count=ov.gpus, gpu=ov.gpu, host_ram_gib=ov.host_ram_gib)
    if ov.gpus is not None and ov.tensor_parallel is None:
        data["backend"]["tensor_parallel"] = None  # re-derive from the new GPU count
    if ov.nodes is not None or ov.gpus_per_node is not None:
        nodes, per_node = _node_layout(spec, ov)
        hardware.update(count=nodes * per_node, nodes=nodes)
        if nodes > 1:  # tensor parallel inside a node, pipeline parallel across the nodes
            backend.setdefault("tensor_parallel", per_node)
            backend.setdefault("pipeline_parallel", nodes)
    serving = _given(
        context_length=ov.context_length,
        concurrency=ov.concurrency,
        port=ov.port,
        bind=ov.bind,
        served_model_name=ov.served_model_name,
        api_key_env=ov.api_key_env,
        tool_calling=ov.tool_calling,
        mtp=ov.mtp,
        speculative_tokens=ov.speculative_tokens,
        monitoring=ov.monitoring,
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


# The options field of engines that serve a local model file (llama.cpp), and what it holds.
LOCAL_MODEL_FIELD = "model_file"
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


def _local_model_file(backend: EngineOptions) -> str | None:
    """The local model file the options name (engines whose options have the field)."""
    value = getattr(backend, LOCAL_MODEL_FIELD, None)
    return value if isinstance(value, str) else None


def resolve(name: str, spec: ProfileSpec, origin: Origin | None = None) -> Stack:
    """Replace catalogue keys by their objects and check cross-field rules.

    `origin` is the CLI command that reproduces the stack (load_stack knows it); None, the
    default, says it was built in Python, and headers say so.
    """
    gpus, ckpts = catalog.gpus(), catalog.checkpoints()
    if spec.hardware.gpu not in gpus:
        raise ConfigError(
            f"{name}: hardware.gpu: unknown GPU '{spec.hardware.gpu}'",
            hint=unknown_gpu_hint(spec.hardware.gpu),
        )
    if spec.checkpoint not in ckpts:
        raise ConfigError(
            f"{name}: checkpoint: unknown checkpoint '{spec.checkpoint}'",
            hint=unknown_key_hint(spec.checkpoint, list(ckpts)),
        )
    serving = spec.serving
    if not is_loopback(serving.bind) and serving.api_key_env is None:
        raise ConfigError(
            f"{name}: serving.bind: publishing on {serving.bind} without an API key exposes the "
            "endpoint to the network",
            hint="add --api-key-env NAME (an environment variable holding the key), or bind 127.0.0.1",
        )
    backend = spec.backend
    model_file = _local_model_file(backend)
    if model_file is not None:
        # A path given relative to where ling_compose runs; the compose file gets it absolute.
        where = f"{name}: backend.{LOCAL_MODEL_FIELD}"
        backend = backend.model_copy(
            update={LOCAL_MODEL_FIELD: check_model_file(model_file, where)}
        )
    hw = spec.hardware
    return Stack(
        name=name,
        description=spec.description,
        hardware=Hardware(
            gpu=gpus[hw.gpu],
            count=hw.count,
            nodes=hw.nodes,
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
    """One profile, a user file's before a built-in of the same name; only it is validated."""
    user = read_profiles_file(profiles_file) if profiles_file is not None else {}
    builtin = catalog.builtin_profiles()
    if name in user:
        return user[name]
    if name in builtin:
        return builtin[name]
    known = [*builtin, *(other for other in user if other not in builtin)]
    raise ConfigError(
        f"unknown profile '{name}'",
        hint=did_you_mean(name, known) + f"`{cli_command()} list` shows them all",
    )


def load_stack(
    name: str, overrides: Overrides | None = None, profiles_file: Path | None = None
) -> Stack:
    """A built-in or user profile, with overrides applied, resolved and checked."""
    spec = profile_spec(name, profiles_file)
    if overrides is not None:
        spec = apply_overrides(spec, overrides)
    changes = overrides.model_dump() if overrides is not None else {}
    return resolve(name, spec, reproduce.origin(name, changes, profiles_file))
