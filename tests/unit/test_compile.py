"""Compilation rules per backend, checked on the compose data (not on text)."""

import json
import re

import pytest
import requests
import yaml

from ling_compose.compose import compile_stack, render_yaml
from ling_compose.errors import ConfigError
from ling_compose.load import Overrides, load_stack
from ling_compose.models.compose import ComposeProject


def service(name: str, **overrides):
    compiled = compile_stack(load_stack(name, Overrides(**overrides)))
    return compiled, compiled.project.services["server"]


def flag(command: list[str], name: str) -> str:
    return command[command.index(name) + 1]


def test_vllm_model_is_positional_and_serve_is_not_prepended():
    _, svc = service("h100-fp8")
    assert svc.image == "vllm/vllm-openai:v0.33.0"
    assert svc.entrypoint is None
    assert svc.command[0] == "inclusionAI/Ling-2.6-flash-fp8"
    assert "serve" not in svc.command and "--model" not in svc.command


def test_vllm_tool_calling_needs_both_flags_with_hermes():
    _, svc = service("h100-fp8")
    assert "--enable-auto-tool-choice" in svc.command
    assert flag(svc.command, "--tool-call-parser") == "hermes"
    assert "--trust-remote-code" in svc.command


def test_tool_calling_can_be_switched_off():
    _, svc = service("h100-fp8", tool_calling=False)
    assert (
        "--tool-call-parser" not in svc.command and "--enable-auto-tool-choice" not in svc.command
    )


def test_vllm_tensor_parallel_follows_gpu_count():
    _, svc = service("h100-fp8", gpus=4)
    assert flag(svc.command, "--tensor-parallel-size") == "4"
    assert svc.gpus is not None and svc.gpus.count == 4


def test_eight_gpus_on_vllm_become_tp4_x_pp2():
    _, svc = service("h100-fp8", gpus=8, tensor_parallel=4, pipeline_parallel=2)
    assert flag(svc.command, "--tensor-parallel-size") == "4"
    assert flag(svc.command, "--pipeline-parallel-size") == "2"


def test_sglang_has_explicit_entrypoint_and_binds_all_interfaces():
    _, svc = service("4xh100-bf16")
    assert svc.image == "lmsysorg/sglang:v0.5.23"
    assert svc.entrypoint == ["python3", "-m", "sglang.launch_server"]
    assert flag(svc.command, "--host") == "0.0.0.0"
    assert flag(svc.command, "--tp-size") == "4"
    assert flag(svc.command, "--tool-call-parser") == "qwen"  # canonical in 0.5.23, not qwen25
    assert "--mem-fraction-static" not in svc.command  # never copy vLLM's 0.92


def test_llamacpp_builds_the_fork_and_checks_health_on_8080():
    _, svc = service("4090-int4")
    assert svc.build is not None
    assert re.fullmatch(
        r"https://github\.com/ljubomirj/llama\.cpp\.git#[0-9a-f]{40}", svc.build.context
    )
    assert svc.build.target == "server"
    assert svc.build.args["CUDA_DOCKER_ARCH"] == "89"
    assert svc.healthcheck is not None
    assert svc.healthcheck.test[-1] == "http://localhost:8080/health"
    assert "--jinja" in svc.command
    assert int(flag(svc.command, "--n-cpu-moe")) > 0


def test_llamacpp_refuses_the_stock_upstream_image():
    with pytest.raises(ConfigError, match="bailing_hybrid") as info:
        service("4090-int4", image="ghcr.io/ggml-org/llama.cpp:server-cuda")
    assert "--model-file" in (info.value.hint or "")


def _gguf(tmp_path, name="tiny.gguf"):
    path = tmp_path / name
    path.write_bytes(b"GGUF" + bytes(60))  # the magic is all the loader reads
    return path


def test_llamacpp_serves_a_local_model_file_in_an_upstream_image(tmp_path, monkeypatch):
    _gguf(tmp_path)
    monkeypatch.chdir(tmp_path)  # a relative path is taken from where ling_compose runs...
    compiled, svc = service(
        "4090-int4", image="ghcr.io/ggml-org/llama.cpp:server-cuda", model_file="tiny.gguf"
    )
    assert svc.build is None and svc.image == "ghcr.io/ggml-org/llama.cpp:server-cuda"
    assert flag(svc.command, "--model") == "/models/tiny.gguf"
    assert "--hf-repo" not in svc.command and "--hf-file" not in svc.command
    # ...and written absolute, mounted read-only beside the cache volume.
    mounts = [v.to_compose() for v in svc.volumes]
    assert mounts == ["model-cache:/root/.cache", f"{tmp_path / 'tiny.gguf'}:/models/tiny.gguf:ro"]
    header = "\n".join(compiled.project.header)
    assert f"the local file {tmp_path / 'tiny.gguf'}" in header
    assert "serves THAT FILE, not Ling-2.6-flash" in header
    assert "Built from the llama.cpp fork" not in header  # nothing is built


def test_model_file_with_the_fork_build_keeps_the_build(tmp_path):
    model = _gguf(tmp_path)
    _, svc = service("4090-int4", model_file=str(model))
    assert svc.build is not None
    assert flag(svc.command, "--model") == "/models/tiny.gguf"


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (None, "cannot read"),
        (b"PK\x03\x04 not a model", "is not a GGUF file"),
        ("dir", "is a directory"),
    ],
)
def test_model_file_must_be_a_readable_gguf(tmp_path, content, message):
    path = tmp_path / "m.gguf"
    if content == "dir":
        path.mkdir()
    elif content is not None:
        path.write_bytes(content)
    with pytest.raises(ConfigError, match=message) as info:
        service("4090-int4", model_file=str(path))
    assert str(path) in str(info.value) and info.value.hint


def test_model_file_needs_llamacpp(tmp_path):
    model = _gguf(tmp_path)
    with pytest.raises(ConfigError, match=r"only llama\.cpp loads") as info:
        service("h100-fp8", model_file=str(model))
    assert "--backend llamacpp" in (info.value.hint or "")


def test_multi_gpu_gets_host_ipc_and_ulimits_single_gpu_gets_shm():
    _, multi = service("h100-fp8")
    assert multi.ipc == "host" and multi.ulimits["memlock"] == -1
    _, single = service("h200-fp8")
    assert single.ipc is None and single.shm_size == "8gb"


def test_context_above_native_adds_yarn_override():
    _, vllm = service("h200-fp8", context_length=262_144)
    overrides = json.loads(flag(vllm.command, "--hf-overrides"))
    assert overrides["rope_scaling"]["factor"] == 2.0
    _, sgl = service("h200-bf16", context_length=262_144)
    assert (
        json.loads(flag(sgl.command, "--json-model-override-args"))["rope_scaling"]["rope_type"]
        == "yarn"
    )
    _, native = service("h200-fp8", context_length=131_072)
    assert "--hf-overrides" not in native.command


def test_port_defaults_to_loopback_and_can_be_overridden():
    _, svc = service("h100-fp8", port=8001)
    assert svc.ports[0].to_compose() == "127.0.0.1:8001:8000"


@pytest.mark.parametrize(
    ("bind", "url"),
    [
        ("127.0.0.1", "http://127.0.0.1:8000"),
        ("0.0.0.0", "http://127.0.0.1:8000"),
        ("::1", "http://[::1]:8000"),
        ("::", "http://[::1]:8000"),
        ("fd00::5", "http://[fd00::5]:8000"),
    ],
)
def test_the_endpoint_is_a_url_a_client_on_the_host_can_open(bind, url):
    compiled, svc = service("h100-fp8", bind=bind, api_key_env="LING_KEY")
    assert compiled.endpoint == url == svc.labels["io.ling-compose.endpoint"]
    # What status, up and smoke send: requests refuses `http://::1:8000` (InvalidURL).
    assert requests.Request("GET", url + "/health").prepare().url == url + "/health"


def test_non_loopback_bind_without_api_key_is_refused():
    with pytest.raises(ConfigError, match="API key"):
        service("h100-fp8", bind="0.0.0.0")


def test_api_key_and_token_are_interpolated_never_written(monkeypatch):
    monkeypatch.setenv("LING_KEY", "sk-secret-value")
    monkeypatch.setenv("HF_TOKEN", "hf_secret_value")
    for name in ("h100-fp8", "h200-bf16", "4090-int4"):
        compiled, _ = service(name, bind="0.0.0.0", api_key_env="LING_KEY")
        text = render_yaml(compiled.project)
        assert "sk-secret-value" not in text and "hf_secret_value" not in text
        assert "${LING_KEY:?" in text and "${HF_TOKEN:-}" in text


def test_weights_cache_is_a_named_volume():
    compiled, svc = service("h100-fp8")
    assert svc.volumes[0].source in compiled.project.volumes


def test_healthcheck_start_period_covers_the_download():
    _, fp8 = service("h200-fp8")
    _, bf16 = service("h200-bf16")
    assert fp8.healthcheck and bf16.healthcheck
    assert bf16.healthcheck.start_period_s > fp8.healthcheck.start_period_s >= 1800


def test_rendering_is_deterministic_and_yaml_round_trips():
    compiled, _ = service("h100-fp8")
    text = render_yaml(compiled.project)
    assert text == render_yaml(compile_stack(load_stack("h100-fp8")).project)
    data = yaml.safe_load(text)
    assert data == compiled.project.to_compose()
    # The top-level name fixes the Compose project, whatever folder the file is in.
    assert data["name"] == compiled.project.name == "ling-h100-fp8"
    # `up -f` reads back exactly what render wrote (comments aside).
    assert ComposeProject.from_compose(data) == compiled.project.model_copy(update={"header": []})
    assert text.startswith("# Generated by ling_compose")


@pytest.mark.parametrize(
    ("profile", "image", "warned"),
    [
        ("h200-fp8", "vllm/vllm-openai:v0.30.0", True),
        ("h200-fp8", "vllm/vllm-openai:v0.33.0-cu129", False),  # a CUDA variant of the release
        ("h200-bf16", "lmsysorg/sglang:v0.5.22-cu129", True),
        ("h200-bf16", "lmsysorg/sglang:v0.5.23-cu129", False),
        ("h200-fp8", "registry.example/vllm:v0.30.0", False),  # not an image ling_compose knows
    ],
)
def test_an_image_of_another_release_is_warned_about(
    profile: str, image: str, warned: bool
) -> None:
    compiled = compile_stack(load_stack(profile, Overrides(image=image)))
    about = [w for w in compiled.warnings if w.startswith(f"the image {image} is ")]
    assert bool(about) == warned, compiled.warnings
    if warned:
        assert "checked against" in about[0] and compiled.project.services["server"].image == image
