"""Rendered profiles brought up through the CLI (`render` → `up -f` with only `image:` swapped)."""

from __future__ import annotations

import json
from pathlib import Path

import docker
import pytest
import yaml

import ling_compose.cli
from ling_compose.commands import COMMAND_MODULES
from ling_compose.commands import runtime as runtime_cmds
from ling_compose.runtime import down
from ling_compose.runtime.base import SilentProgress
from ling_compose.runtime.docker_sdk import DockerRuntime
from tests.e2e.conftest import free_port

pytestmark = pytest.mark.e2e

# One profile per engine: a multi-GPU vLLM, a multi-GPU SGLang, the llama.cpp fork (build:).
PROFILES = {"h100-fp8": "vllm", "h200-bf16": "sglang", "4090-int4": "llamacpp"}


def _memlock_cap() -> int | None:
    """The Docker daemon's hard memlock limit when it is capped (as in this sandbox: 8 MiB)."""
    for pid_dir in Path("/proc").iterdir():
        try:
            if (pid_dir / "comm").read_text().strip() != "dockerd":
                continue
            for line in (pid_dir / "limits").read_text().splitlines():
                if line.startswith("Max locked memory"):
                    hard = line.split()[4]
                    return None if hard == "unlimited" else int(hard)
        except OSError:
            continue
    return None


@pytest.fixture
def cli(monkeypatch: pytest.MonkeyPatch) -> object:
    if runtime_cmds not in COMMAND_MODULES:  # until the lead registers it in commands/__init__
        monkeypatch.setattr(ling_compose.cli, "COMMAND_MODULES", [*COMMAND_MODULES, runtime_cmds])
    return ling_compose.cli.main


@pytest.mark.parametrize("profile", list(PROFILES))
def test_rendered_profile_up_status_logs_smoke_down(
    profile: str,
    cli: object,
    images: dict[str, str],
    runtime: DockerRuntime,
    client: docker.DockerClient,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    main = cli  # type: ignore[assignment]
    port = free_port()
    out = tmp_path / "docker-compose.yml"
    assert main(["render", profile, "--port", str(port), "-o", str(out)]) == 0  # type: ignore[operator]
    data = yaml.safe_load(out.read_text())
    name = data["x-ling-compose"]["project"]
    service = data["services"]["server"]
    service["image"] = images[PROFILES[profile]]  # the only change to what render wrote...
    cap = _memlock_cap()
    if cap is not None and service.get("ulimits", {}).get("memlock") == -1:
        # ...except where this sandbox's dockerd may not grant an unlimited memlock.
        service["ulimits"]["memlock"] = cap
    out.write_text(yaml.safe_dump(data, sort_keys=False))
    capsys.readouterr()
    try:
        code = main(["up", "-f", str(out), "--timeout", "60"])  # type: ignore[operator]
        captured = capsys.readouterr()
        assert code == 0, captured.err
        assert captured.out.strip() == f"http://127.0.0.1:{port}"
        assert "smoke: ok   streamed tool call" in captured.err

        assert main(["status", name, "--json"]) == 0  # type: ignore[operator]
        rows = json.loads(capsys.readouterr().out)
        assert [(r["state"], r["serving"], r["model"]) for r in rows] == [
            ("running", True, "ling-2.6-flash")
        ]
        inspect = client.containers.get(rows[0]["container"]).attrs
        count = data["services"]["server"]["deploy"]["resources"]["reservations"]["devices"][0]
        assert inspect["HostConfig"]["DeviceRequests"][0]["Count"] == count["count"]

        assert main(["logs", name, "--tail", "50"]) == 0  # type: ignore[operator]
        assert "stand-in" in capsys.readouterr().out

        assert (
            main(["smoke", "--url", f"http://127.0.0.1:{port}", "--model", "ling-2.6-flash"]) == 0
        )  # type: ignore[operator]
        assert capsys.readouterr().out.startswith("smoke test passed: 5 checks")

        assert main(["up", "-f", str(out), "--no-smoke"]) == 0  # type: ignore[operator]
        assert "container " + name + "-server-1: unchanged" in capsys.readouterr().err

        assert main(["down", "-f", str(out), "--volumes"]) == 0  # type: ignore[operator]
        err = capsys.readouterr().err
        assert "removing volumes" in err and "cached weights" in err
        assert runtime.containers(name) == [] and runtime.volumes(name) == []
    finally:
        down(name, volumes=True, timeout_s=1, runtime=runtime, progress=SilentProgress())
