"""Property tests: generated bad input at every entry point that reads user input, run in-process
through `ling_compose.cli.main`. For each case: no traceback (no exception escapes main), a
documented exit code, on failure an `error:` + `Hint:` and nothing on stdout and no file written
or changed, on success output that parses, no environment secret in any output, and bounded time
and memory (tracemalloc peak).

Cases per run (hypothesis max_examples, fixed): profile files 300, override flags 350, compose
files for `validate -f` 250, for `up -f` (fake runtime) 150, environment and env files for
`up -f` 100, `smoke` values 50: 1,200 generated inputs, about 1-2 minutes on 2 cores.
Override flags come from the one flag table (models/overrides.py, `--host-ram-gib` included), so
a new override is generated as soon as it exists; engine options from every committed flag
catalogue (the llama.cpp fork's too); profiles from the built-in ones and docs/examples.
"""

from __future__ import annotations

import contextlib
import copy
import io
import json
import os
import string
import tempfile
import time
import tracemalloc
from argparse import BooleanOptionalAction
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

import ling_compose.cli
from ling_compose import catalog
from ling_compose.compose import compile_stack, render_yaml
from ling_compose.engines.registry import CANNOT_SERVE
from ling_compose.errors import EXIT_CODES
from ling_compose.flags.catalog import available_versions, load_catalog
from ling_compose.load import load_stack, read_profiles_file
from ling_compose.models.overrides import OVERRIDE_FLAGS
from ling_compose.runtime import api
from tests.unit.test_runtime_up import FakeRuntime

MAX_SECONDS = 5.0  # per case, on a shared 2-core machine; a hang or a bomb takes far longer
MAX_PEAK_BYTES = 64 * 1024 * 1024  # per case, Python allocations (an alias bomb: ~1 GB)
SECRET = "sk-lingsecret-4f1d2c"  # planted in the environment; must never be printed or written
PROFILES = list(catalog.builtin_profiles())
HELP = -1  # run()'s code when a generated token asked argparse for --help: not a case


def cases(n: int) -> Any:
    return settings(
        max_examples=n,
        deadline=None,  # time is bounded per case below, with the reason in the failure
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    )


# -- running one case -------------------------------------------------------------------------


def _snapshot(folder: Path) -> dict[str, bytes]:
    return {
        str(p.relative_to(folder)): p.read_bytes() if p.is_file() else b"<dir>"
        for p in sorted(folder.rglob("*"))
    }


@contextlib.contextmanager
def _env(values: dict[str, str]) -> Iterator[None]:
    saved = dict(os.environ)
    os.environ.update(values)
    try:
        yield
    finally:
        os.environ.clear()
        os.environ.update(saved)


def run(
    argv: list[str],
    outdir: Path,
    *,
    codes: frozenset[int] = frozenset({0, 1, 2}),
    report_on_failure: bool = False,
) -> tuple[int, str, str]:
    """main(argv) under the invariants; returns (code, stdout, stderr)."""
    before = _snapshot(outdir)
    out, err = io.StringIO(), io.StringIO()
    tracemalloc.start()
    start = time.monotonic()
    try:
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            try:
                code = ling_compose.cli.main(argv)
            except SystemExit as exit_:  # --help reached through a generated value
                assert exit_.code == 0 and out.getvalue().startswith("usage:"), argv
                return HELP, "", ""
    finally:
        elapsed = time.monotonic() - start
        peak = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
    stdout, stderr = out.getvalue(), err.getvalue()
    assert elapsed < MAX_SECONDS, f"{argv!r} took {elapsed:.1f} s"
    assert peak < MAX_PEAK_BYTES, f"{argv!r} allocated {peak / 2**20:.0f} MiB"
    assert code in EXIT_CODES and code in codes, (code, stderr)
    event(f"{argv[0]} exit {code}")
    assert "Traceback" not in stderr
    after = _snapshot(outdir)
    written = [v.decode("utf-8", "replace") for k, v in after.items() if before.get(k) != v]
    for text in (stdout, stderr, *written):
        assert SECRET not in text
    if code != 0:
        assert after == before, "a failed command wrote or changed a file"
        if not (report_on_failure and stdout):  # plan/validate: a report of what is wrong
            assert stdout == "", stdout
            assert stderr.startswith("error: ") or "\nerror: " in stderr, stderr
            assert "\nHint: " in stderr, stderr
    return code, stdout, stderr


def write(path: Path, text: str) -> None:
    """Write generated text as is: a lone surrogate becomes bytes that are not UTF-8."""
    path.write_bytes(text.encode("utf-8", "surrogatepass"))


def parses(stdout: str, as_json: bool) -> None:
    if stdout and as_json:
        json.loads(stdout)
    elif stdout:
        yaml.safe_load(stdout)


# -- values -----------------------------------------------------------------------------------

SURROGATES = st.sampled_from(["\ud800", "\udfff", "a\udcffb"])
CONTROL = st.text(st.sampled_from("\x00\x07\x08\x0b\x0c\x1b\x7f\x85\u2028\u2029\ufeff\n\r\t"))
TEXT = st.one_of(
    st.text(max_size=20),
    st.text(string.printable, max_size=20),
    CONTROL,
    SURROGATES,
    st.integers(300, 5000).map(lambda n: "x" * n),
    st.sampled_from(["", " ", "-", "--", "-h", "=", "${HF_TOKEN}", "$$", "'", '"', "#", ": x"]),
)
NUMBERS = st.one_of(
    st.integers(-(10**6), 10**7),
    st.integers(min_value=10**18, max_value=10**40),
    st.floats(),  # includes nan and +-inf
    st.sampled_from([0, -1, 1, 7, 8, 9, 1023, 1024, 65535, 65536, 2**31, 1e309, -0.0]),
)
SCALARS = st.one_of(st.none(), st.booleans(), NUMBERS, TEXT)
VALUES = st.recursive(
    SCALARS,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(TEXT, inner, max_size=4),
    max_leaves=12,
)
# YAML that the structured generator cannot produce: tags, aliases, bombs, deep nesting.
RAW_YAML = st.one_of(
    st.sampled_from(
        [
            '!!int "x"',
            '!!float "abc"',
            "!!timestamp nope",
            "!!binary '@@'",
            "!!python/object/apply:os.system [true]",
            "!!set {a, b}",
            "!reset []",
            "*undefined",
            "&a [*a]",
            "{? [a, b]: c}",
            "2024-01-01",
            ".nan",
            "-.inf",
            "0o777",
            "no",
            "[" * 70 + "]" * 70,
            '"\\ud800"',
            '"\\0\\e\\x85"',
            "|\n  multi\n  line",
        ]
    ),
    st.integers(2, 12).flatmap(
        lambda width: st.integers(2, 8).map(
            lambda depth: (
                "{"
                + ", ".join(
                    f"l{d}: &l{d} [{', '.join([f'*l{d - 1}' if d else 'x'] * width)}]"
                    for d in range(depth)
                )
                + f", top: *l{depth - 1}"
                + "}"
            )
        )
    ),
)

GARBAGE = st.one_of(st.text(max_size=200), VALUES.map(yaml.safe_dump), RAW_YAML)  # any file


def override_values(flag: str) -> st.SearchStrategy[list[str]]:
    """argv for one override flag: its own kind of value, and anything else."""
    field, options = OVERRIDE_FLAGS[flag]
    if options.get("action") == "store_const":
        return st.just([flag])
    if options.get("action") is BooleanOptionalAction:  # --mtp and the --no-mtp it adds
        return st.sampled_from([[flag], ["--no-" + flag[2:]]])
    values = st.one_of(NUMBERS.map(str), TEXT)
    if "choices" in options:
        values = st.one_of(st.sampled_from(options["choices"]), values)
    if field == "engine":  # engines that cannot serve the model (`--backend ollama`) say why
        values = st.one_of(st.sampled_from(sorted(CANNOT_SERVE)).flatmap(random_case), values)
    if field == "gpu":
        values = st.one_of(st.sampled_from(list(catalog.gpus())), values)
    if field == "checkpoint":
        values = st.one_of(st.sampled_from(list(catalog.checkpoints())), values)
    if field == "extra_args":
        values = st.one_of(option_spellings(), values)
    return values.map(lambda v: [f"{flag}={v}"] if v.startswith("-") or not v else [flag, v])


# Every committed flag catalogue, the llama.cpp fork's (24 GB stacks) included.
ENGINE_CATALOGUES = [
    (backend, version)
    for backend in ("vllm", "sglang", "llamacpp")
    for version in available_versions(backend)
]


def random_case(word: str) -> st.SearchStrategy[str]:
    return st.sampled_from([word, word.upper(), word.capitalize()])


@st.composite
def option_spellings(draw: Any) -> str:
    """An engine option as a user might write it: exact, aliased, _ for -, a prefix, --no-."""
    backend, version = draw(st.sampled_from(ENGINE_CATALOGUES))
    name = draw(st.sampled_from(sorted(load_catalog(backend, version).index)))
    form = draw(st.sampled_from(["exact", "underscore", "prefix", "no", "equals"]))
    if form == "underscore":
        name = name[:2] + name[2:].replace("-", "_")
    elif form == "prefix" and len(name) > 4:
        name = name[: draw(st.integers(3, len(name) - 1))]
    elif form == "no" and name.startswith("--"):
        name = "--no-" + name[2:]
    elif form == "equals":
        name += "=" + draw(st.sampled_from(["1", "x", "", "4k", "{}", "auto"]))
    return name


# -- profile files ----------------------------------------------------------------------------

PROFILE_NAMES = st.one_of(
    st.just("p"),
    st.sampled_from(["x/y", "UPPER", "has space", "-lead", "a" * 64, "ümlaut", "p\n", ""]),
    TEXT,
)


def field_value(good: list[Any]) -> st.SearchStrategy[Any]:
    return st.one_of(st.sampled_from(good), VALUES)


PROFILE_SPEC = st.fixed_dictionaries(
    {},
    optional={
        "description": st.one_of(TEXT, VALUES),
        "guide_note": st.one_of(TEXT, CONTROL),
        "hardware": st.fixed_dictionaries(
            {},
            optional={
                "gpu": field_value(list(catalog.gpus())),
                "count": field_value([1, 2, 4, 8]),
                "host_ram_gib": field_value([96, 1e-300, 1e300, float("inf")]),
                "host_ram_bandwidth_gbs": field_value([80, 0.0001]),
            },
        ),
        "checkpoint": field_value(list(catalog.checkpoints())),
        "backend": st.fixed_dictionaries(
            {"engine": st.sampled_from(["vllm", "sglang", "llamacpp", "ollama", ""])},
            optional={
                "tensor_parallel": field_value([1, 2, 4]),
                "pipeline_parallel": field_value([1, 2]),
                "image": field_value(["vllm/vllm-openai:v0.33.0", "ghcr.io/ggml-org/llama.cpp:x"]),
                "version": field_value(["0.33.0", "0.5.23", "0.20.2rc1"]),
                "fork_git_url": TEXT,
                "fork_ref": TEXT,
                "gpu_memory_utilization": field_value([0.5, 0.98]),
                "n_cpu_moe": field_value([0, 31, 32]),
            },
        ),
        "serving": st.fixed_dictionaries(
            {},
            optional={
                "context_length": field_value([1024, 131072, 262144, 300000]),
                "concurrency": field_value([1, 64, 1024]),
                "port": field_value([1, 8000, 65535]),
                "bind": field_value(["127.0.0.1", "0.0.0.0", "::1", "localhost"]),
                "api_key_env": field_value(["LING_KEY", "lower"]),
                "served_model_name": TEXT,
                "extra_args": st.lists(st.one_of(option_spellings(), TEXT), max_size=4),
                "tool_calling": VALUES,
            },
        ),
        "unknown_field": VALUES,
    },
)


# Free text a valid profile may hold: it reaches headers, tables, READMEs and JSON.
FREE_TEXT = st.one_of(TEXT, CONTROL, st.text(max_size=60)).filter(
    lambda t: t[:1] < "\ud800" or not t
)


# Valid profiles to start from: the built-in ones and the README's example profiles file.
EXAMPLE_PROFILES = Path(__file__).resolve().parents[2] / "docs" / "examples" / "my-profiles.yml"
SOURCE_PROFILES = [
    spec.model_dump(mode="json", exclude_none=True)
    for spec in [
        *catalog.builtin_profiles().values(),
        *read_profiles_file(EXAMPLE_PROFILES).values(),
    ]
]


@st.composite
def mutated_builtin(draw: Any) -> dict[str, Any]:
    """A built-in or example profile, with free text replaced and perhaps one field set to
    anything."""
    data = copy.deepcopy(draw(st.sampled_from(SOURCE_PROFILES)))  # changed below
    data["description"] = draw(FREE_TEXT)
    if draw(st.booleans()):
        data["guide_note"] = draw(FREE_TEXT)
    if data["backend"]["engine"] == "llamacpp" and draw(st.booleans()):
        data["backend"][draw(st.sampled_from(["fork_ref", "fork_git_url"]))] = draw(FREE_TEXT)
    if draw(st.booleans()):
        data["serving"]["extra_args"] = draw(st.lists(option_spellings(), max_size=3))
    if draw(st.booleans()):
        section = draw(st.sampled_from(["hardware", "backend", "serving"]))
        data[section][draw(st.sampled_from(sorted(data[section])))] = draw(VALUES)
    return data


@st.composite
def profile_file_text(draw: Any) -> str:
    kind = draw(st.sampled_from(["mutated", "mutated", "structured", "raw", "garbage"]))
    if kind == "garbage":
        return draw(GARBAGE)
    if kind == "mutated":
        return yaml.safe_dump(
            {"profiles": {"p": draw(mutated_builtin())}}, allow_unicode=draw(st.booleans())
        )
    profiles = draw(st.dictionaries(PROFILE_NAMES, PROFILE_SPEC, min_size=1, max_size=3))
    text = yaml.safe_dump({"profiles": profiles}, allow_unicode=draw(st.booleans()))
    if kind == "raw":  # a raw YAML fragment in place of one value
        lines = text.splitlines()
        at = draw(st.integers(0, len(lines) - 1))
        key = lines[at].split(":", 1)[0]
        if ":" in lines[at]:
            lines[at] = f"{key}: {draw(RAW_YAML)}"
        text = "\n".join(lines) + "\n"
    return text


@cases(300)
@given(
    text=profile_file_text(),
    command=st.sampled_from(
        ["render", "render -o", "render --stack-dir", "show", "plan", "list", "validate"]
    ),
    name=st.one_of(st.just("p"), PROFILE_NAMES),
)
def test_profile_files(text, command, name):
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        out = folder / "out"
        out.mkdir()
        path = folder / "profiles.yml"
        write(path, text)
        words = command.split()
        argv = [words[0]] + ([] if words[0] == "list" else [name])
        argv += ["--profiles-file", str(path)]
        as_json = words[0] != "render"
        if as_json:
            argv.append("--json")
        if words[1:] == ["-o"]:
            argv += ["-o", str(out / "stack.yml")]
        elif words[1:] == ["--stack-dir"]:
            argv += ["--stack-dir", str(out / "dir")]
        code, stdout, _ = run(argv, out, report_on_failure=words[0] in ("plan", "validate"))
        if code == HELP:
            return
        parses(stdout, as_json)
        if code == 0 and words[1:] == ["-o"]:
            yaml.safe_load((out / "stack.yml").read_text())
        if code == 0 and words[1:] == ["--stack-dir"]:
            yaml.safe_load((out / "dir" / "docker-compose.yml").read_text())


# -- every override flag ----------------------------------------------------------------------


@cases(350)
@given(
    flags=st.lists(st.sampled_from(sorted(OVERRIDE_FLAGS)).flatmap(override_values), max_size=4),
    profile=st.sampled_from(PROFILES),
    command=st.sampled_from(["render", "render -o", "show", "plan", "validate"]),
)
def test_override_flags(flags, profile, command):
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp)
        words = command.split()
        argv = [words[0], profile, *(token for pair in flags for token in pair)]
        as_json = words[0] != "render"
        if as_json:
            argv.append("--json")
        if words[1:] == ["-o"]:
            argv += ["-o", str(out / "stack.yml")]
        code, stdout, _ = run(argv, out, report_on_failure=words[0] in ("plan", "validate"))
        if stdout:
            parses(stdout, as_json)
        if code == 0 and words[1:] == ["-o"]:
            yaml.safe_load((out / "stack.yml").read_text())


# -- compose files: validate -f and up -f -----------------------------------------------------

IMAGES = st.one_of(
    st.sampled_from(
        [
            "vllm/vllm-openai:v0.33.0",
            "vllm/vllm-openai:latest",
            "lmsysorg/sglang:v0.5.23",
            "lmsysorg/sglang:v9.9.9",
            "ghcr.io/ggml-org/llama.cpp:server-cuda",
            "postgres:16",
        ]
    ),
    TEXT,
)
COMMANDS = st.one_of(
    st.lists(st.one_of(option_spellings(), TEXT, NUMBERS.map(str)), max_size=8),
    st.lists(st.one_of(option_spellings(), TEXT), max_size=8).map(" ".join),
    VALUES,
)
SERVICE = st.one_of(
    st.fixed_dictionaries(
        {"image": IMAGES},
        optional={
            "command": COMMANDS,
            "entrypoint": st.one_of(st.just(["python3", "-m", "sglang.launch_server"]), COMMANDS),
            "ports": st.lists(st.one_of(TEXT, NUMBERS, VALUES), max_size=3),
            "healthcheck": VALUES,
            "environment": VALUES,
            "deploy": VALUES,
            "volumes": VALUES,
            "restart": st.one_of(st.sampled_from(["no", "always"]), TEXT),
        },
    ),
    VALUES,
)


@st.composite
def compose_text(draw: Any) -> str:
    kind = draw(st.sampled_from(["built-in", "structured", "structured", "raw", "garbage"]))
    if kind == "garbage":
        return draw(GARBAGE)
    if kind == "built-in":
        data = yaml.safe_load(
            render_yaml(compile_stack(load_stack(draw(st.sampled_from(PROFILES)))).project)
        )
        service = data["services"]["server"]
        key = draw(st.sampled_from(sorted(service)))
        service[key] = draw(st.one_of(VALUES, COMMANDS))  # one value of a real file replaced
        if draw(st.booleans()):
            data["x-ling-compose"] = draw(st.one_of(VALUES, st.just(data["x-ling-compose"])))
    else:
        data = {
            "services": draw(st.dictionaries(TEXT, SERVICE, max_size=3)),
            **draw(
                st.fixed_dictionaries({}, optional={"x-ling-compose": VALUES, "volumes": VALUES})
            ),
        }
    text = yaml.safe_dump(data, allow_unicode=draw(st.booleans()))
    if kind == "raw":
        text += f"x-extra: {draw(RAW_YAML)}\n"
    return text


@cases(250)
@given(text=compose_text(), as_json=st.booleans())
def test_compose_files_for_validate(text, as_json):
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        path = folder / "docker-compose.yml"
        write(path, text)
        argv = ["validate", "-f", str(path)] + (["--json"] if as_json else [])
        code, stdout, _ = run(argv, folder, report_on_failure=True)
        if as_json and stdout:
            assert json.loads(stdout)["ok"] is (code == 0)


@pytest.fixture(scope="module")
def fake_runtime() -> Iterator[list[FakeRuntime]]:
    """`up` against a fake runtime: each call gets a fresh one, kept for inspection."""
    made: list[FakeRuntime] = []

    def default_runtime(docker_host: str | None = None) -> FakeRuntime:
        made.append(FakeRuntime())
        return made[-1]

    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(api, "default_runtime", default_runtime)
        yield made


def up_file(path: Path, folder: Path, made: list[FakeRuntime], extra: list[str]) -> None:
    made.clear()
    argv = ["up", "-f", str(path), "--no-wait", "--no-smoke", "--json", *extra]
    code, stdout, _ = run(argv, folder)
    touched = any(rt.calls or rt.nets or rt.vols or rt.box for rt in made)
    if code == 0:
        assert json.loads(stdout)["project"]
    else:
        assert not touched, "a bad file reached the container engine"


@cases(150)
@given(text=compose_text())
def test_compose_files_for_up(fake_runtime, text):
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        path = folder / "docker-compose.yml"
        write(path, text)
        up_file(path, folder, fake_runtime, [])


# -- what up reads from the environment and env files -----------------------------------------


def settable(value: str) -> bool:
    """What a process environment can hold: no NUL, encodable to bytes."""
    try:
        value.encode("utf-8", "surrogateescape")
    except UnicodeEncodeError:
        return False
    return "\0" not in value


ENV_NAMES = st.sampled_from(["HF_TOKEN", "LING_KEY", "VLLM_API_KEY", "PATH_X", "A"])
ENV_FILE = st.lists(
    st.one_of(
        st.tuples(ENV_NAMES, st.just(SECRET)).map(lambda kv: f"{kv[0]}={kv[1]}"),
        st.tuples(TEXT, TEXT).map(lambda kv: f"{kv[0]}={kv[1]}"),
        TEXT,
        st.sampled_from(["export X=1", "# c", "X='unclosed", "=v", "1X=2", "X"]),
    ),
    max_size=6,
).map("\n".join)


@cases(100)
@given(
    environ=st.dictionaries(
        ENV_NAMES, st.one_of(st.just(SECRET), TEXT.filter(settable)), max_size=4
    ),
    env_file=st.one_of(st.none(), ENV_FILE),
    default_env=st.one_of(st.none(), ENV_FILE),
    profile=st.sampled_from(PROFILES),
    api_key=st.booleans(),
)
def test_environment_and_env_files_for_up(
    fake_runtime, environ, env_file, default_env, profile, api_key
):
    overrides = ["--bind", "0.0.0.0", "--api-key-env", "LING_KEY"] if api_key else []
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        path = folder / "docker-compose.yml"
        with contextlib.redirect_stderr(io.StringIO()):
            assert ling_compose.cli.main(["render", profile, "-o", str(path), *overrides]) == 0
        extra = []
        if env_file is not None:
            write(folder / "given.env", env_file)
            extra = ["--env-file", str(folder / "given.env")]
        if default_env is not None:
            write(folder / ".env", default_env)
        with _env({**environ, "LING_SECRET_CANARY": SECRET}):
            up_file(path, folder, fake_runtime, extra)


@cases(50)
@given(
    url=st.one_of(  # never a host that resolves elsewhere: port 9 on loopback refuses at once
        TEXT.filter(lambda u: "://" not in u),
        TEXT.map(lambda path: "http://127.0.0.1:9/" + path),
        st.sampled_from(["http://[::1", "ftp://x", "http://a:b", "http://", "--"]),
    ),
    timeout=st.one_of(NUMBERS.map(str), TEXT),
    key_env=st.one_of(st.none(), st.just("LING_KEY"), TEXT),
)
def test_smoke_values(fake_runtime, url, timeout, key_env):
    argv = ["smoke", f"--url={url}", "--model", "m", f"--timeout={timeout}"]
    if key_env is not None:
        argv.append(f"--api-key-env={key_env}")
    with tempfile.TemporaryDirectory() as tmp, _env({"LING_KEY": SECRET}):
        run(argv, Path(tmp), codes=frozenset({2, 4}))  # port 9: refused at once
