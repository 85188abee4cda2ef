"""Rendered profiles brought up through the CLI (`render` → `up -f` with only `image:` swapped)."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import docker
import pytest
import yaml

import ling_compose.cli
from ling_compose.runtime import down
from ling_compose.runtime.base import SilentProgress
from ling_compose.runtime.docker_sdk import DockerRuntime
from ling_compose.runtime.engine_report import planned_from_metadata
from tests.e2e.conftest import free_port, runnable_here

pytestmark = pytest.mark.e2e

# One profile per engine: a multi-GPU vLLM, a multi-GPU SGLang, the llama.cpp fork (build:).
PROFILES = {"h100-fp8": "vllm", "h200-bf16": "sglang", "4090-int4": "llamacpp"}


def render_for_standin(
    main: Any,
    profile: str,
    image: str,
    port: int,
    tmp_path: Path,
    report: Callable[[dict[str, float]], dict[str, float]] = lambda figures: figures,
) -> tuple[Path, dict[str, Any], dict[str, float]]:
    """`render PROFILE -o FILE`, made runnable here (conftest.runnable_here), with the stand-in
    told which start-up cache figures to log (`report` of the plan's). Returns the file, its data
    and the plan's figures."""
    out = tmp_path / "docker-compose.yml"
    assert main(["render", profile, "--port", str(port), "-o", str(out)]) == 0
    rendered = yaml.safe_load(out.read_text())
    planned = planned_from_metadata(rendered["x-ling-compose"])
    data = runnable_here(out, image, {"STANDIN_REPORT": json.dumps(report(planned))})
    return out, data, planned


@pytest.fixture
def cli(monkeypatch: pytest.MonkeyPatch) -> object:
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
    # The plan's own figures as the stand-in's start-up report: `up` and `status` must match them.
    out, data, planned = render_for_standin(
        main, profile, images[PROFILES[profile]], port, tmp_path
    )
    name = data["name"]
    capsys.readouterr()
    try:
        code = main(["up", "-f", str(out), "--timeout", "60"])  # type: ignore[operator]
        captured = capsys.readouterr()
        assert code == 0, captured.err
        assert captured.out.strip() == f"http://127.0.0.1:{port}"
        assert "smoke: ok   streamed tool call" in captured.err
        assert f"{name}: engine start-up report beside the plan:" in captured.err
        assert "reserved differently than planned" not in captured.err

        assert main(["status", name, "--json"]) == 0  # type: ignore[operator]
        rows = json.loads(capsys.readouterr().out)
        assert [(r["state"], r["serving"], r["model"]) for r in rows] == [
            ("running", True, "ling-2.6-flash")
        ]
        report = rows[0]["engine_report"]
        assert {f["figure"] for f in report} == set(planned)
        assert all(f["reported"] is not None and not f["disagrees"] for f in report)
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


def test_engine_reserving_less_than_planned_is_warned_after_up(
    cli: object,
    images: dict[str, str],
    runtime: DockerRuntime,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """The stand-in logs 20 % fewer KV tokens than the plan: `up` shows the difference and warns."""
    main = cli  # type: ignore[assignment]
    out, data, planned = render_for_standin(
        main,
        "h200-fp8",
        images["vllm"],
        free_port(),
        tmp_path,
        lambda figures: {**figures, "kv_cache_tokens": int(figures["kv_cache_tokens"] * 0.8)},
    )
    name = data["name"]
    found = int(planned["kv_cache_tokens"] * 0.8)
    capsys.readouterr()
    try:
        assert main(["up", "-f", str(out), "--timeout", "60", "--no-smoke"]) == 0  # type: ignore[operator]
        err = capsys.readouterr().err
        assert f"{found:,} tokens" in err and "(-20.0%)" in err
        assert f"warning: {name}: the engine reserved differently than planned (KV cache)" in err
        assert main(["status", name, "--json"]) == 0  # type: ignore[operator]
        (row,) = json.loads(capsys.readouterr().out)
        by_figure = {f["figure"]: f for f in row["engine_report"]}
        assert by_figure["kv_cache_tokens"]["disagrees"] is True
        assert by_figure["max_concurrency"]["disagrees"] is False
    finally:
        down(name, volumes=True, timeout_s=1, runtime=runtime, progress=SilentProgress())
