"""Pure runtime pieces: interpolation, env files, container specs and labels, error translation."""

from __future__ import annotations

from pathlib import Path

import docker.errors
import pytest

from ling_compose import errors
from ling_compose.errors import ConfigError
from ling_compose.load import parse_env_file
from ling_compose.models.compose import (
    ComposeProject,
    Config,
    FileGrant,
    GpuReservation,
    NamedVolume,
    PortMapping,
    Secret,
    Service,
    VolumeMount,
)
from ling_compose.runtime.docker_sdk import translate
from ling_compose.runtime.interpolate import interpolate, run_environment
from ling_compose.runtime.spec import COMPOSE_HASH, project_spec


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("${A}", "1"),
        ("$A-x", "1-x"),
        ("${MISSING}", ""),
        ("${MISSING:-d}", "d"),
        ("${EMPTY:-d}", "d"),
        ("${EMPTY-d}", ""),
        ("$${A}", "${A}"),
        ("--api-key=${A:?set A}", "--api-key=1"),
    ],
)
def test_interpolate(text: str, expected: str) -> None:
    assert interpolate(text, {"A": "1", "EMPTY": ""}) == expected


def test_required_variable_names_it_not_its_value() -> None:
    with pytest.raises(ConfigError) as info:
        interpolate("${KEY:?set KEY to the API key}", {}, "services.server.command")
    assert "KEY" in str(info.value) and "services.server.command" in str(info.value)


def test_env_file_and_precedence(tmp_path: Path) -> None:
    env = tmp_path / ".env"
    env.write_text("# c\nexport HF_TOKEN='hf_x'\nA=1 # note\nB=\"two words\"\n")
    assert parse_env_file(env) == {"HF_TOKEN": "hf_x", "A": "1", "B": "two words"}
    merged = run_environment({"A": "from-process"}, None, env)
    assert merged["A"] == "from-process" and merged["HF_TOKEN"] == "hf_x"
    with pytest.raises(ConfigError):
        run_environment({}, tmp_path / "absent.env", None)
    (tmp_path / "bad.env").write_text("not a pair\n")
    with pytest.raises(ConfigError, match=r"bad\.env:1"):
        parse_env_file(tmp_path / "bad.env")


def _project(**service: object) -> ComposeProject:
    base: dict[str, object] = {
        "image": "img:1",
        "command": ["m", "--api-key", "${KEY:-k}"],
        "environment": {"HF_TOKEN": "${HF_TOKEN:-}"},
        "ports": [PortMapping(host_port=8001, container_port=8000)],
        "volumes": [
            VolumeMount(source="model-cache", target="/root/.cache"),
            VolumeMount(source="./models", target="/models", read_only=True),
        ],
        "gpus": GpuReservation(device_ids=["0", "2"]),
    }
    base.update(service)
    return ComposeProject(
        name="ling-x",
        services={"server": Service(**base)},  # type: ignore[arg-type]
        volumes={"model-cache": NamedVolume()},
        metadata={"served_model_name": "ling", "service": "server", "engine": "vllm"},
    )


def test_spec_names_labels_and_hash(tmp_path: Path) -> None:
    spec = project_spec(_project(), {"HF_TOKEN": "secret"}, tmp_path)
    (c,) = spec.containers
    assert c.name == "ling-x-server-1" and spec.network == "ling-x_default"
    assert list(spec.volumes) == ["ling-x_model-cache"]
    assert spec.volumes["ling-x_model-cache"]["com.docker.compose.volume"] == "model-cache"
    assert c.labels["com.docker.compose.project"] == "ling-x"
    assert c.labels["com.docker.compose.oneoff"] == "False"
    assert c.labels["io.ling-compose.endpoint"] == "http://127.0.0.1:8001"
    assert c.config.environment == {"HF_TOKEN": "secret"}
    assert "secret" not in str(c.labels)  # only a digest of the resolved config is stored
    assert c.gpu_device_ids == ["0", "2"] and c.gpu_count is None
    assert [m.kind for m in c.config.volumes] == ["volume", "bind"]
    assert c.config.volumes[1].source == str(tmp_path / "models")
    assert spec.api_key == "k"
    same = project_spec(_project(), {"HF_TOKEN": "secret"}, tmp_path).containers[0]
    other = project_spec(_project(), {"HF_TOKEN": "other"}, tmp_path).containers[0]
    assert same.labels[COMPOSE_HASH] == c.labels[COMPOSE_HASH] != other.labels[COMPOSE_HASH]


def _with_files(content: str = "scrape: 5s\n") -> ComposeProject:
    return _project(
        configs=[FileGrant(source="conf", target="/etc/app/app.yml")],
        secrets=[FileGrant(source="key", target="/run/secrets/key", mode="0440")],
    ).model_copy(
        update={
            "configs": {"conf": Config(content=content)},
            "secrets": {"key": Secret(environment="LING_KEY")},
        }
    )


def test_configs_and_secrets_become_files_with_their_modes_and_the_secret_stays_out_of_sight(
    tmp_path: Path,
) -> None:
    spec = project_spec(_with_files(), {"LING_KEY": "s3cret-value"}, tmp_path)
    (c,) = spec.containers
    assert [(f.path, f.content, oct(f.mode)) for f in c.files] == [
        ("/etc/app/app.yml", b"scrape: 5s\n", "0o444"),  # Compose's default mode
        ("/run/secrets/key", b"s3cret-value", "0o440"),
    ]
    assert "s3cret-value" not in repr(c) and "s3cret-value" not in str(c.labels)
    # A changed config or secret recreates the container, as a changed image would.
    other_config = project_spec(_with_files("scrape: 9s\n"), {"LING_KEY": "s3cret-value"}, tmp_path)
    other_secret = project_spec(_with_files(), {"LING_KEY": "another"}, tmp_path)
    hashes = {s.containers[0].config_hash for s in (spec, other_config, other_secret)}
    assert len(hashes) == 3


def test_a_secret_whose_variable_is_unset_names_the_variable(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="takes its value from LING_KEY, which is not set") as err:
        project_spec(_with_files(), {}, tmp_path)
    assert err.value.hint is not None and "LING_KEY" in err.value.hint


def test_a_grant_of_an_undeclared_config_is_a_config_error(tmp_path: Path) -> None:
    project = _project(configs=[FileGrant(source="nope", target="/x")])
    with pytest.raises(ConfigError, match="'nope' is not a declared config"):
        project_spec(project, {}, tmp_path)


def test_undeclared_volume_is_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="not a declared volume"):
        project_spec(_project(volumes=[VolumeMount(source="nope", target="/x")]), {}, tmp_path)


def test_from_compose_round_trips() -> None:
    proj = _project()
    assert ComposeProject.from_compose(proj.to_compose()) == proj


def _api_error(message: str) -> docker.errors.APIError:
    return docker.errors.APIError("500 Server Error", explanation=message)


@pytest.mark.parametrize(
    ("written", "count", "device_request_count"),
    [("all", "all", -1), ("ALL", "all", -1), (2, 2, 2), ("2", 2, 2), (None, None, -1)],
)
def test_gpu_count_as_written_survives_up_f_and_re_rendering(
    written: object, count: object, device_request_count: int, tmp_path: Path
) -> None:
    """`count: all` (hand-edited or another tool's file) keeps its GPU request: read back by
    `up -f` it asks Docker for every GPU, and rendered again it is still `all`, never null."""
    data = _project().to_compose()
    device: dict[str, object] = {"driver": "nvidia", "capabilities": ["gpu"]}
    if written is not None:
        device["count"] = written
    data["services"]["server"]["deploy"]["resources"]["reservations"]["devices"] = [device]
    proj = ComposeProject.from_compose(data)
    assert proj.services["server"].gpus == GpuReservation(count=count)  # type: ignore[arg-type]
    again = proj.to_compose()["services"]["server"]["deploy"]["resources"]["reservations"]
    assert again["devices"][0].get("count") == count
    assert None not in again["devices"][0].values()
    (c,) = project_spec(proj, {}, tmp_path).containers
    assert (c.gpu_count, c.gpu_device_ids) == (device_request_count, None)


def test_translate_gpu_port_rlimit_daemon() -> None:
    gpu = translate(
        _api_error('could not select device driver "" with capabilities: [[gpu]]'), "starting"
    )
    assert gpu.exit_code == 3 and "nvidia-container-toolkit" in (gpu.hint or "")
    port = translate(
        _api_error(
            "driver failed programming external connectivity on endpoint x: "
            "Bind for 127.0.0.1:8000 failed: port is already allocated"
        ),
        "starting",
    )
    assert "host port 8000" in str(port) and "--port 8001" in (port.hint or "")
    port2 = translate(
        _api_error(
            "Error starting userland proxy: listen tcp4 127.0.0.1:9000: bind: address already in use"
        ),
        "starting",
    )
    assert "host port 9000" in str(port2)
    rl = translate(_api_error("error setting rlimit type 8: operation not permitted"), "starting")
    assert "memlock" in str(rl)
    daemon = translate(ConnectionRefusedError("refused"), "listing")
    assert "cannot reach the Docker daemon" in str(daemon) and "docker info" in (daemon.hint or "")
    missing = translate(docker.errors.ImageNotFound("no such image"), "creating")
    assert "image not found" in str(missing)
    # Typed by message and status, so callers match a class, never a string.
    assert isinstance(gpu, errors.GpuRuntimeMissing)
    assert isinstance(port, errors.PortTaken) and (port.port, port2.port) == (8000, 9000)  # type: ignore[attr-defined]
    assert isinstance(rl, errors.UlimitRefused)
    assert isinstance(daemon, errors.DockerUnreachable) and daemon.reason == "refused"
    assert isinstance(missing, errors.ImageUnavailable)
    gone = docker.errors.NotFound("404 Client Error", response=_Status(404), explanation="no such")
    assert isinstance(translate(gone, "inspecting"), errors.NotFound)
    busy = docker.errors.APIError("409", response=_Status(409), explanation="removal in progress")
    assert isinstance(translate(busy, "removing"), errors.Conflict)
    other = docker.errors.APIError("500", response=_Status(500), explanation="disk full")
    refused = translate(other, "creating")
    assert type(refused) is errors.DockerError and refused.reason == "disk full"


class _Status:
    """The part of a requests.Response docker-py's APIError reads: the status code."""

    def __init__(self, status_code: int) -> None:
        self.status_code = status_code
        self.reason = ""


class _Client:
    """A docker client whose daemon does not answer, counting close()."""

    closed = 0

    def ping(self) -> bool:
        raise docker.errors.DockerException("Error while fetching server API version")

    def close(self) -> None:
        _Client.closed += 1


def test_a_failed_connection_closes_the_client_it_made(monkeypatch: pytest.MonkeyPatch) -> None:
    from ling_compose.runtime.docker_sdk import DockerRuntime

    monkeypatch.setattr(docker, "from_env", _Client)
    monkeypatch.setenv("DOCKER_HOST", "tcp://127.0.0.1:9")  # no unix-socket probe
    with pytest.raises(errors.DockerUnreachable):
        DockerRuntime()
    assert _Client.closed == 1


def test_git_context_build_without_network_names_the_remedy(tmp_path: Path) -> None:
    from types import SimpleNamespace

    from ling_compose.errors import DockerError
    from ling_compose.models.compose import Build
    from ling_compose.runtime.base import SilentProgress
    from ling_compose.runtime.docker_sdk import DockerRuntime

    def build(**_: object) -> None:
        raise docker.errors.APIError("error fetching: Could not resolve host: github.com")

    client = SimpleNamespace(ping=lambda: True, api=SimpleNamespace(build=build))
    runtime = DockerRuntime(client=client)  # type: ignore[arg-type]
    project = _project(
        build=Build(context="https://example.invalid/fork.git#branch", target="server")
    )
    (spec,) = project_spec(project, {}, tmp_path).containers
    with pytest.raises(DockerError) as info:
        runtime._build(spec, SilentProgress())
    assert "Could not resolve host" in info.value.message
    assert info.value.hint is not None and "https://example.invalid/fork.git" in info.value.hint
    assert "--image" in info.value.hint
