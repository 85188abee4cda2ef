"""Property tests: malformed profile files and overrides always give a clear error and an exit
code, never a traceback, and never a partial output file."""

import string

import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ling_compose.cli import main

scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-(10**6), 10**7),
    st.floats(allow_nan=False, allow_infinity=False),
    st.text(string.printable, max_size=20),
)
values = st.recursive(
    scalars,
    lambda c: st.lists(c, max_size=3) | st.dictionaries(st.text(max_size=8), c, max_size=3),
    max_leaves=8,
)
profile_fields = st.fixed_dictionaries(
    {},
    optional={
        "description": values,
        "hardware": st.fixed_dictionaries(
            {},
            optional={
                "gpu": st.sampled_from(["h200", "rtx-4090", "x"]) | values,
                "count": values,
                "host_ram_gib": values,
            },
        ),
        "checkpoint": st.sampled_from(["ling-2.6-flash-fp8", "ling-2.6-flash-gguf-iq4nl", "nope"])
        | values,
        "backend": st.fixed_dictionaries(
            {},
            optional={
                "engine": st.sampled_from(["vllm", "sglang", "llamacpp", "x"]),
                "tensor_parallel": values,
                "image": values,
            },
        ),
        "serving": st.fixed_dictionaries(
            {},
            optional={
                "context_length": values,
                "port": values,
                "bind": values,
                "extra_args": values,
            },
        ),
        "extra": values,
    },
)


def assert_clean_failure(code: int, err: str, out_file) -> None:
    assert code in (0, 1, 2)
    assert "Traceback" not in err
    if code != 0:
        assert err.startswith("error: ") and "\nHint: " in err
        assert not out_file.exists()
    else:
        yaml.safe_load(out_file.read_text())


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    doc=st.one_of(
        values, st.fixed_dictionaries({"profiles": st.dictionaries(st.just("p"), profile_fields)})
    )
)
def test_malformed_profiles_files(doc, tmp_path_factory, capsys):
    tmp = tmp_path_factory.mktemp("bad")
    profiles, out_file = tmp / "profiles.yml", tmp / "out.yml"
    profiles.write_text(yaml.safe_dump(doc))
    code = main(["render", "p", "--profiles-file", str(profiles), "-o", str(out_file)])
    assert_clean_failure(code, capsys.readouterr().err, out_file)


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    flags=st.lists(
        st.tuples(
            st.sampled_from(
                [
                    "--gpus",
                    "--context-length",
                    "--port",
                    "--bind",
                    "--concurrency",
                    "--backend",
                    "--gpu-type",
                    "--tensor-parallel",
                    "--served-model-name",
                    "--api-key-env",
                    "--extra-arg",
                    "--host-ram-gib",
                    "--image",
                ]
            ),
            st.one_of(
                st.integers(-5, 300_000).map(str),
                st.text(string.ascii_letters + string.digits + ".-_:", max_size=12),
            ),
        ),
        max_size=3,
    ),
    profile=st.sampled_from(["h100-fp8", "4090-int4", "h200-bf16"]),
)
def test_malformed_overrides(flags, profile, tmp_path_factory, capsys):
    out_file = tmp_path_factory.mktemp("ov") / "out.yml"
    argv = ["render", profile, "-o", str(out_file)] + [x for pair in flags for x in pair]
    code = main(argv)
    assert_clean_failure(code, capsys.readouterr().err, out_file)
