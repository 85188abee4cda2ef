"""Orchestration of up/down over a fake Runtime: convergence, resume after Ctrl-C, volumes kept."""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from pathlib import Path

import pytest

import ling_compose.cli
from ling_compose.models.compose import ComposeProject, NamedVolume, Service
from ling_compose.runtime import down, up
from ling_compose.runtime.base import ContainerState, Progress, SilentProgress
from ling_compose.runtime.spec import COMPOSE_HASH, COMPOSE_PROJECT, COMPOSE_SERVICE, ContainerSpec

Q = SilentProgress()


class FakeRuntime:
    def __init__(self) -> None:
        self.ids = (f"c{i}" for i in itertools.count())
        self.box: dict[str, ContainerState] = {}
        self.nets: set[str] = set()
        self.vols: dict[str, str] = {}  # name -> project
        self.calls: list[str] = []
        self.fail_start_once: BaseException | None = None
        self.closed = 0

    def ensure_network(self, name: str, labels: dict[str, str]) -> bool:
        new = name not in self.nets
        self.nets.add(name)
        return new

    def ensure_volume(self, name: str, labels: dict[str, str]) -> bool:
        new = name not in self.vols
        self.vols[name] = labels[COMPOSE_PROJECT]
        return new

    def ensure_image(self, spec: ContainerSpec, progress: Progress) -> None:
        self.calls.append(f"image {spec.image}")

    def containers(self, project: str | None = None) -> list[ContainerState]:
        # As the real one: None means every ling_compose project's containers.
        return [
            c for c in self.box.values() if project is None or c.labels[COMPOSE_PROJECT] == project
        ]

    def create(self, spec: ContainerSpec) -> ContainerState:
        cid = next(self.ids)
        self.calls.append(f"create {cid}")
        state = ContainerState(
            cid,
            spec.name,
            spec.service,
            "created",
            config_hash=spec.labels[COMPOSE_HASH],
            labels=spec.labels,
        )
        self.box[cid] = state
        return state

    def start(self, container_id: str) -> None:
        if self.fail_start_once is not None:
            err, self.fail_start_once = self.fail_start_once, None
            raise err
        self.calls.append(f"start {container_id}")
        old = self.box[container_id]
        self.box[container_id] = ContainerState(**{**old.__dict__, "status": "running"})

    def remove(self, container_id: str, timeout_s: int = 10) -> None:
        self.calls.append(f"remove {container_id}")
        self.box.pop(container_id, None)

    def inspect(self, container_id: str) -> ContainerState | None:
        return self.box.get(container_id)

    def exits(self, container_id: str, since_epoch: float) -> tuple[list[int], bool]:
        return [], False

    def logs(self, container_id: str, tail: int = 50) -> str:
        return "log line\n"

    def follow_logs(self, container_id: str, tail: int = 50) -> Iterator[str]:
        yield "log line"

    def networks(self, project: str) -> list[str]:
        return sorted(n for n in self.nets if n.startswith(project + "_"))

    def remove_network(self, name: str) -> None:
        self.nets.discard(name)

    def volumes(self, project: str) -> list[str]:
        return sorted(v for v, p in self.vols.items() if p == project)

    def remove_volume(self, name: str) -> None:
        self.vols.pop(name)

    def close(self) -> None:
        self.closed += 1


def _project(env: str = "1") -> ComposeProject:
    # No ports: up does not wait (the wait policy has its own tests).
    return ComposeProject(
        name="ling-t",
        services={"server": Service(image="img:1", environment={"X": env})},
        volumes={"model-cache": NamedVolume()},
    )


def test_converges_and_recreates_only_on_change() -> None:
    rt = FakeRuntime()
    first = up(_project(), runtime=rt, progress=Q, environ={})
    assert first.actions == {"server": "created"}
    again = up(_project(), runtime=rt, progress=Q, environ={})
    assert again.actions == {"server": "unchanged"}
    assert again.container_ids == first.container_ids
    changed = up(_project("2"), runtime=rt, progress=Q, environ={})
    assert changed.actions == {"server": "recreated"}
    assert f"remove {first.container_ids['server']}" in rt.calls


def test_interrupted_between_create_and_start_resumes() -> None:
    rt = FakeRuntime()
    rt.fail_start_once = KeyboardInterrupt()
    with pytest.raises(KeyboardInterrupt):
        up(_project(), runtime=rt, progress=Q, environ={})
    (left,) = rt.box.values()
    assert left.status == "created"
    resumed = up(_project(), runtime=rt, progress=Q, environ={})
    assert resumed.actions == {"server": "started"}
    assert resumed.container_ids["server"] == left.id


def test_orphan_service_is_removed() -> None:
    rt = FakeRuntime()
    up(_project(), runtime=rt, progress=Q, environ={})
    (old,) = rt.box.values()
    rt.box[old.id] = ContainerState(
        **{**old.__dict__, "service": "gone", "labels": {**old.labels, COMPOSE_SERVICE: "gone"}}
    )
    result = up(_project(), runtime=rt, progress=Q, environ={})
    assert result.actions == {"server": "created"} and old.id not in rt.box


def test_down_keeps_volumes_unless_asked() -> None:
    rt = FakeRuntime()
    up(_project(), runtime=rt, progress=Q, environ={})
    kept = down("ling-t", runtime=rt, progress=Q)
    assert kept.volumes_kept == ["ling-t_model-cache"] and rt.box == {} and rt.nets == set()
    removed = down("ling-t", volumes=True, runtime=rt, progress=Q)
    assert removed.volumes_removed == ["ling-t_model-cache"] and rt.vols == {}


# -- CLI, no engine ---------------------------------------------------------------------------------
@pytest.fixture
def main(monkeypatch: pytest.MonkeyPatch):  # type: ignore[no-untyped-def]
    return ling_compose.cli.main


def test_cli_unreachable_engine_is_exit_3(
    main, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:  # type: ignore[no-untyped-def]
    code = main(["status", "--docker-host", f"unix://{tmp_path}/missing.sock"])
    err = capsys.readouterr().err
    assert code == 3
    assert "cannot reach the Docker daemon" in err and "Hint: is the Docker daemon running" in err


def test_cli_up_needs_profile_or_file(
    main, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:  # type: ignore[no-untyped-def]
    assert main(["up"]) == 2
    assert "up needs a PROFILE or -f FILE" in capsys.readouterr().err
    foreign = tmp_path / "docker-compose.yml"
    foreign.write_text("services:\n  web:\n    image: nginx\n")
    assert main(["up", "-f", str(foreign)]) == 1
    assert "not a file ling_compose rendered" in capsys.readouterr().err


def test_cli_down_by_profile_name_after_a_failed_up_removes_the_network(
    main, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:  # type: ignore[no-untyped-def]
    from ling_compose.errors import DockerError
    from ling_compose.runtime import api

    rt = FakeRuntime()

    def pull_fails(spec: ContainerSpec, progress: Progress) -> None:
        raise DockerError(f"pulling image {spec.image}: no such host")

    monkeypatch.setattr(rt, "ensure_image", pull_fails)
    with pytest.raises(DockerError):
        up(_project(), runtime=rt, progress=Q, environ={})
    assert rt.box == {} and rt.nets == {"ling-t_default"}  # what the failed up left behind
    monkeypatch.setattr(api, "default_runtime", lambda docker_host=None: rt)
    assert main(["down", "t"]) == 0
    err = capsys.readouterr().err
    assert rt.nets == set()
    assert "network ling-t_default: removed" in err
    assert "volume ling-t_model-cache: kept" in err
    assert "nothing to remove" not in err


def test_cli_hint_for_several_projects_names_a_command_that_runs(
    main, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:  # type: ignore[no-untyped-def]
    import shlex

    from ling_compose.errors import cli_command
    from ling_compose.runtime import api

    rt = FakeRuntime()
    for name in ("ling-a", "ling-b"):
        up(_project().model_copy(update={"name": name}), runtime=rt, progress=Q, environ={})
    monkeypatch.setattr(api, "default_runtime", lambda docker_host=None: rt)
    monkeypatch.setattr(api.http, "get", lambda *a, **k: None)  # no endpoint to probe anyway
    assert main(["logs"]) == 2
    hint = capsys.readouterr().err.split("Hint: ", 1)[1]
    assert "-p" not in hint
    suggested = hint.split("`")[1].removeprefix(cli_command() + " ")
    assert main(shlex.split(suggested)) == 0  # `status ling-a` really runs
    assert "ling-a" in capsys.readouterr().out
    assert main(["logs", "ling-a"]) == 0


@pytest.mark.parametrize(
    "argv",
    [
        ["status"],
        ["status", "nothing-here"],
        ["down", "nothing-here"],
        ["logs", "nothing-here"],  # exits 2: no containers
        ["logs"],  # exits 2: no project at all
        ["up", "h200-fp8", "--no-wait"],
    ],
)
def test_cli_closes_the_runtime_it_opened_on_every_path(
    main, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], argv: list[str]
) -> None:  # type: ignore[no-untyped-def]
    from ling_compose.runtime import api

    rt = FakeRuntime()
    monkeypatch.setattr(api, "default_runtime", lambda docker_host=None: rt)
    main(argv)
    assert rt.closed == 1


def test_library_calls_close_the_default_runtime_they_made(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from ling_compose.errors import UsageError
    from ling_compose.runtime import api

    made: list[FakeRuntime] = []

    def fresh(docker_host: str | None = None) -> FakeRuntime:
        made.append(FakeRuntime())
        return made[-1]

    monkeypatch.setattr(api, "default_runtime", fresh)
    up(_project(), progress=Q, environ={})
    api.status("ling-t")
    api.projects()
    with pytest.raises(UsageError):
        list(api.logs("nothing-here"))
    down("ling-t", progress=Q)
    given = FakeRuntime()
    down("ling-t", runtime=given, progress=Q)
    assert [rt.closed for rt in made] == [1, 1, 1, 1, 1]
    assert given.closed == 0  # a runtime passed in stays the caller's


def test_unreachable_engine_leaves_no_socket_open(tmp_path: Path) -> None:
    import subprocess
    import sys

    code = (
        "import gc, sys\n"
        "from ling_compose.cli import main\n"
        f"rc = main(['status', '--docker-host', 'unix://{tmp_path}/missing.sock'])\n"
        "gc.collect()\n"
        "sys.exit(rc)\n"
    )
    run = subprocess.run(
        [sys.executable, "-X", "dev", "-W", "error::ResourceWarning", "-c", code],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert run.returncode == 3, run.stderr
    assert "cannot reach the Docker daemon" in run.stderr
    assert "ResourceWarning" not in run.stderr and "unclosed" not in run.stderr
