"""One regression test per reproducer of issue 10 (and issue 9 item 10): bad input ends in
`error:` + `Hint:` with a documented exit code, never a traceback, a hang or a broken file."""

from __future__ import annotations

import json
import os
import stat
import time

import pytest
import yaml

from ling_compose.cli import main
from ling_compose.load import MAX_NESTING, MAX_NODES

PROFILE = (
    "profiles:\n  {name}:\n    description: {description}\n"
    "    hardware: {{gpu: h200, count: {count}}}\n"
    "    checkpoint: ling-2.6-flash-fp8\n    backend: {{engine: vllm}}\n"
)


def profiles_file(tmp_path, name="p", description="d", count="1"):
    path = tmp_path / "profiles.yml"
    path.write_text(PROFILE.format(name=name, description=description, count=count))
    return path


def failed(capsys, code, expected_code=1):
    """stderr of a clean failure: nothing on stdout, `error:` then `Hint:`."""
    out, err = capsys.readouterr()
    assert code == expected_code, err
    assert out == ""
    assert err.startswith("error: ") and "\nHint: " in err and "Traceback" not in err
    return err


# -- 1. validate -f on compose files of an unexpected shape ---------------------------------------


@pytest.mark.parametrize(
    ("text", "ok"),
    [
        ("services: {s: null}\n", False),
        ("services: {s: str}\n", False),
        ("services: 5\n", False),
        # x- keys may hold anything; ling_compose then infers the engine from the image.
        ("x-ling-compose: [1]\nservices: {s: {image: vllm/vllm-openai:v0.33.0}}\n", True),
        ("services: {s: {image: vllm/vllm-openai:v0.33.0, command: 5}}\n", False),
        ('services: {s: {image: vllm/vllm-openai:v0.33.0, command: "m --x \\"a"}}\n', False),
    ],
)
def test_validate_file_of_odd_shape_is_a_finding_not_a_traceback(tmp_path, capsys, text, ok):
    path = tmp_path / "c.yml"
    path.write_text(text)
    code = main(["validate", "-f", str(path), "--json"])
    out, err = capsys.readouterr()
    assert "Traceback" not in err
    assert json.loads(out)["ok"] is ok  # the report: what Compose or the engine refuses
    if not ok:
        assert code == 1 and err.startswith("error: ") and "\nHint: " in err
    else:
        assert code == 0


# -- 2. YAML alias bombs ----------------------------------------------------------------------------

BOMB = "".join(
    f"{k}: &{k} [{', '.join(['*' + p] * 9)}]\n" for p, k in zip("abcdefg", "bcdefgh", strict=True)
)


@pytest.mark.parametrize("where", ["compose", "profiles"])
def test_alias_bombs_are_refused_fast(tmp_path, capsys, where):
    path = tmp_path / "bomb.yml"
    if where == "compose":
        path.write_text("a: &a [x, x, x, x, x, x, x, x, x]\n" + BOMB + "services: {s: *h}\n")
        argv = ["validate", "-f", str(path)]
    else:
        path.write_text(
            "a: &a [x, x, x, x, x, x, x, x, x]\n"
            + BOMB
            + PROFILE.format(name="p", description="d", count=1).replace(
                "{engine: vllm}", "{engine: *h}"
            )
        )
        argv = ["render", "p", "--profiles-file", str(path)]
    start = time.monotonic()
    err = failed(capsys, main(argv))
    assert time.monotonic() - start < 2
    assert f"expands to more than {MAX_NODES} values" in err


def test_nesting_and_self_reference_are_refused(tmp_path, capsys):
    deep = tmp_path / "deep.yml"
    deep.write_text("a: " + "[" * (MAX_NESTING + 1) + "]" * (MAX_NESTING + 1) + "\n")
    assert f"nested deeper than {MAX_NESTING} levels" in failed(
        capsys, main(["validate", "-f", str(deep)])
    )
    # Depth through an alias counts too: 40 levels inside an anchor, used 40 levels down.
    nested = tmp_path / "nested.yml"
    inner = "[" * 40 + "]" * 40
    nested.write_text(f"a: &a {inner}\nb: {'[' * 40}*a{']' * 40}\n")
    assert "nested deeper" in failed(capsys, main(["validate", "-f", str(nested)]))
    loop = tmp_path / "loop.yml"
    loop.write_text("a: &a [*a]\n")
    assert "inside the value it refers to" in failed(capsys, main(["validate", "-f", str(loop)]))


def test_oversized_and_binary_files_are_refused(tmp_path, capsys):
    big = tmp_path / "big.yml"
    big.write_bytes(b"#" * (1024 * 1024 + 1))
    assert "larger than 1024 KiB" in failed(capsys, main(["validate", "-f", str(big)]))
    binary = tmp_path / "bin.yml"
    binary.write_bytes(b"\xff\xfe\x00")
    assert "not UTF-8" in failed(capsys, main(["list", "--profiles-file", str(binary)]))


# -- 3. profile names outside the pattern -----------------------------------------------------------


@pytest.mark.parametrize("name", ["x/y", "UPPER", "'has space'", "'a\\nb'", "a" * 64])
@pytest.mark.parametrize("command", ["render", "show", "plan", "list"])
def test_profile_names_are_checked_where_the_file_is_read(tmp_path, capsys, name, command):
    path = profiles_file(tmp_path, name=name)
    argv = [command, "p"] if command != "list" else [command]
    err = failed(capsys, main([*argv, "--profiles-file", str(path)]))
    assert "is not a valid profile name: use lower-case letters, digits, '-' and '_'" in err


# -- 5. overrides: every number bounded at the edge, with the flag's name (exit 2) ---------------


@pytest.mark.parametrize(
    ("argv", "says"),
    [
        (["--pipeline-parallel=--"], "argument --pipeline-parallel: invalid int value: '--'"),
        (["--tensor-parallel", "0"], "--tensor-parallel: input should be greater than"),
        (["--context-length", "1" + "0" * 400], "--context-length: input should be less than"),
        (["--context-length", "10"], "--context-length: input should be greater than"),
        (["--gpus", "0"], "--gpus: input should be greater than or equal to 1"),
        (["--gpus", "lots"], "argument --gpus: invalid int value"),
        (["--port", "99999"], "--port: input should be less than or equal to 65535"),
        (["--concurrency", "0"], "--concurrency: input should be greater"),
        (["--host-ram-gib", "1e309"], "--host-ram-gib: input should be a finite number"),
        (["--host-ram-gib", "nan"], "--host-ram-gib: input should be a finite number"),
        (["--host-ram-gib", "-3"], "--host-ram-gib: input should be greater than 0"),
        (["--gpu-type", "h10"], "--gpu-type: unknown GPU 'h10'"),
        (["--checkpoint", "fp8"], "--checkpoint: unknown checkpoint 'fp8'"),
        (["--bind", "localhost"], "--bind: not an IP address"),
        (["--served-model-name", "a/b"], "--served-model-name: string should match pattern"),
        (["--api-key-env", "lower"], "--api-key-env: string should match pattern"),
    ],
)
def test_bad_override_values_are_usage_errors_naming_the_flag(capsys, argv, says):
    err = failed(capsys, main(["render", "h200-fp8", *argv]), expected_code=2)
    assert says in err
    assert "override:" not in err and "hardware." not in err  # no internal paths


def test_the_rule_is_in_the_hint_and_in_help(capsys):
    failed(capsys, main(["render", "h200-fp8", "--gpus", "9"]), expected_code=2)
    with pytest.raises(SystemExit):
        main(["render", "--help"])
    assert "--gpus N              number of GPUs to use; a whole number from 1 to 8" in (
        capsys.readouterr().out
    )


def test_show_json_never_prints_infinity(capsys):
    assert main(["show", "h200-fp8", "--host-ram-gib", "1e308", "--json"]) == 2
    assert capsys.readouterr().out == ""
    assert main(["show", "h200-fp8", "--host-ram-gib", "1000", "--json"]) == 0
    json.loads(capsys.readouterr().out)


def test_infinite_numbers_in_profile_files_are_refused(tmp_path, capsys):
    path = tmp_path / "p.yml"
    path.write_text(
        PROFILE.format(name="p", description="d", count=1).replace(
            "count: 1}", "count: 1, host_ram_gib: .inf}"
        )
    )
    err = failed(capsys, main(["show", "p", "--profiles-file", str(path), "--json"]))
    assert "hardware.host_ram_gib: Input should be a finite number" in err


# -- 6. YAML tags -----------------------------------------------------------------------------------


@pytest.mark.parametrize("value", ['!!int "x"', '!!float "abc"', "!!timestamp x", '!!int "1e999"'])
def test_tags_that_do_not_convert_are_config_errors(tmp_path, capsys, value):
    path = profiles_file(tmp_path, count=value)
    err = failed(capsys, main(["render", "p", "--profiles-file", str(path)]))
    assert "a tagged value cannot be converted" in err


def test_python_tags_are_refused_as_yaml_errors(tmp_path, capsys):
    path = profiles_file(tmp_path, description="!!python/object/apply:os.system [true]")
    assert "not valid YAML" in failed(capsys, main(["render", "p", "--profiles-file", str(path)]))


# -- 9. --image values Docker would refuse ----------------------------------------------------------


@pytest.mark.parametrize(
    "image", ["", " ", "a\nb", "vllm/vllm-openai:v0.33.0 ", "UPPER:tag", "a:", "x" * 256, "a@sha1"]
)
def test_images_docker_would_refuse_are_usage_errors(capsys, image):
    err = failed(capsys, main(["render", "h200-fp8", f"--image={image}"]), expected_code=2)
    assert err.startswith("error: --image: ")


@pytest.mark.parametrize(
    "image",
    ["vllm/vllm-openai:v0.33.0-cu129", "localhost:5000/team/vllm:dev", "x@sha256:" + "a" * 64],
)
def test_images_docker_accepts_render(capsys, image):
    assert main(["render", "h200-fp8", "--image", image]) == 0
    assert yaml.safe_load(capsys.readouterr().out)["services"]["server"]["image"] == image


def test_an_image_in_a_profile_file_is_checked_too(tmp_path, capsys):
    path = tmp_path / "p.yml"
    path.write_text(
        PROFILE.format(name="p", description="d", count=1).replace(
            "{engine: vllm}", "{engine: vllm, image: 'has space'}"
        )
    )
    err = failed(capsys, main(["render", "p", "--profiles-file", str(path)]))
    assert "backend.vllm.image: Value error, not a Docker image reference" in err


# -- 4. strings copied into the `#` header (and tables, and messages) -----------------------------

NASTY = [
    "two\\nlines",
    "cr\\rhere",
    "nel\\x85",
    "ls\\u2028ps\\u2029",
    "nul\\0",
    "esc\\e[31m",
    "bom\\ufeff",
]


def nasty_profiles(tmp_path, text):
    path = tmp_path / "p.yml"
    path.write_text(
        "profiles:\n"
        f'  p:\n    description: "{text}"\n    guide_note: "{text}"\n'
        "    hardware: {gpu: h200, count: 1}\n    checkpoint: ling-2.6-flash-fp8\n"
        "    backend: {engine: vllm}\n"
        f'  g:\n    description: "{text}"\n    hardware: {{gpu: rtx-4090, count: 1, host_ram_gib: 96}}\n'
        "    checkpoint: ling-2.6-flash-gguf-iq4nl\n"
        f'    backend: {{engine: llamacpp, fork_ref: "r{text}"}}\n'
        "    serving: {context_length: 32768, concurrency: 1}\n"
    )
    return path


@pytest.mark.parametrize("text", NASTY)
@pytest.mark.parametrize("profile", ["p", "g"])
def test_header_strings_never_break_the_yaml(tmp_path, capsys, text, profile):
    path = nasty_profiles(tmp_path, text)
    description = yaml.safe_load(path.read_text())["profiles"][profile]["description"]
    assert main(["render", profile, "--profiles-file", str(path)]) == 0
    out = capsys.readouterr().out
    document = yaml.safe_load(out)
    assert document["services"]["server"]["image"]
    body = [ln for ln in out.split("\n") if not ln.startswith("#")]
    # Every header line is still a comment: the first other line is the document's first key.
    assert body[0] == f"name: {document['name']}" == f"name: ling-{profile}"
    target = tmp_path / "out.yml"
    assert main(["render", profile, "--profiles-file", str(path), "-o", str(target)]) == 0
    assert yaml.safe_load(target.read_text()) == yaml.safe_load(out)
    folder = tmp_path / "stack"
    assert main(["render", profile, "--profiles-file", str(path), "--stack-dir", str(folder)]) == 0
    yaml.safe_load((folder / "docker-compose.yml").read_text())
    capsys.readouterr()
    assert main(["list", "--profiles-file", str(path)]) == 0
    rows = capsys.readouterr().out.splitlines()
    assert len(rows) == len(rows[0:1]) + 9 + 2  # header + built-ins + the two: one line each
    assert main(["show", profile, "--profiles-file", str(path), "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["stack"]["description"] == description


def test_messages_show_control_characters_instead_of_sending_them(capsys):
    assert main(["render", "x\x1b[2J"]) == 1
    err = capsys.readouterr().err
    assert "\x1b" not in err and "x\\x1b[2J" in err


# -- 7. long output names -------------------------------------------------------------------------


def test_long_output_names_render_or_fail_cleanly(tmp_path, capsys):
    legal = tmp_path / ("a" * 250)
    assert main(["render", "h100-fp8", "-o", str(legal)]) == 0
    yaml.safe_load(legal.read_text())
    capsys.readouterr()
    too_long = tmp_path / ("b" * 256)
    err = failed(capsys, main(["render", "h100-fp8", "-o", str(too_long)]))
    assert "File name too long" in err
    folder = tmp_path / ("c" * 300)
    assert "File name too long" in failed(
        capsys, main(["render", "h100-fp8", "--stack-dir", str(folder)])
    )
    assert sorted(p.name for p in tmp_path.iterdir()) == [legal.name]  # no temporary files left


def test_output_over_a_special_file_or_folder_is_refused(tmp_path, capsys):
    # A FIFO stands in for a device: before the fix, `-o /dev/null` renamed a regular file over
    # the device node (never test that on the real /dev/null).
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    assert "not a regular file" in failed(capsys, main(["render", "h100-fp8", "-o", str(fifo)]))
    assert stat.S_ISFIFO(fifo.stat().st_mode)
    folder = tmp_path / "folder"
    folder.mkdir()
    assert "not a regular file" in failed(capsys, main(["render", "h100-fp8", "-o", str(folder)]))
    assert sorted(p.name for p in tmp_path.iterdir()) == ["fifo", "folder"]


# -- environment variable names the CLI reads -----------------------------------------------------


@pytest.mark.parametrize("name", ["\udcff", "", "A=B", "A\0B"])
def test_smoke_api_key_env_no_environment_can_hold_is_a_usage_error(capsys, name):
    # Before: `smoke --api-key-env` with undecodable bytes (here '\udcff', as Python reads the
    # argument b'\xff') raised UnicodeEncodeError from os.environ: a traceback.
    argv = ["smoke", "--url", "http://127.0.0.1:9/", "--model", "m", f"--api-key-env={name}"]
    err = failed(capsys, main(argv), expected_code=2)
    assert "argument --api-key-env: " in err and "is not an environment variable name" in err


# -- found by the property tests after the monitoring merge ------------------------------------


def test_up_f_with_a_volume_that_names_no_target_is_a_config_error(tmp_path, capsys):
    """`volumes: [--additional-config]` (a hypothesis case) raised IndexError in up -f."""
    rendered = tmp_path / "docker-compose.yml"
    assert main(["render", "h100-int4", "-o", str(rendered)]) == 0
    data = yaml.safe_load(rendered.read_text())
    data["services"]["server"]["volumes"] = ["--additional-config"]
    rendered.write_text(yaml.safe_dump(data))
    capsys.readouterr()
    err = failed(capsys, main(["up", "-f", str(rendered), "--no-wait", "--no-smoke"]))
    assert "names no source:target" in err or "Compose would refuse it" in err
