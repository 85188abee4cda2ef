"""bench against stand-in containers that answer at a configured pace: the figures must match it."""

from __future__ import annotations

import json
import time
import uuid
from pathlib import Path

import pytest
import yaml

from ling_compose import catalog
from ling_compose.cli import main
from ling_compose.compose import compile_stack
from ling_compose.load import Overrides, load_stack
from ling_compose.runtime import up
from ling_compose.runtime.base import SilentProgress
from ling_compose.runtime.bench import BenchConfig, bench
from ling_compose.runtime.docker_sdk import DockerRuntime
from tests.e2e.conftest import (
    MODEL,
    ProjectFactory,
    free_port,
    make_project,
    render_runnable_stack,
    serve_standin,
)

pytestmark = pytest.mark.e2e
QUIET = SilentProgress()
# Large enough that scheduler jitter on a loaded 2-core machine stays well inside 10 %.
TTFT_S, TOKEN_S = 0.5, 0.05
PACE = {"STANDIN_TTFT_SECONDS": str(TTFT_S), "STANDIN_TOKEN_SECONDS": str(TOKEN_S)}


def _serve(project: ProjectFactory, runtime: DockerRuntime, **kwargs: object) -> str:
    return serve_standin(project("vllm", **kwargs), runtime)


def _within(measured: float | None, configured: float, share: float = 0.10) -> bool:
    return measured is not None and abs(measured - configured) <= share * configured


def test_measured_ttft_and_itl_match_the_configured_pace(
    project: ProjectFactory, runtime: DockerRuntime
) -> None:
    url = _serve(project, runtime, env=PACE)
    output, requests = 12, 8
    config = BenchConfig(
        url=url,
        model=None,  # found on /v1/models
        levels=(1, 8),
        requests=requests,
        input_tokens=200,
        output_tokens=output,
    )
    report = bench(config)
    levels = report.levels
    assert [lv.concurrency for lv in levels] == [1, 8]
    assert report.config.model == MODEL
    for level in levels:
        assert (level.ok, level.failed) == (requests, 0), level.errors
        assert level.ttft_s and level.itl_s and level.tpot_s
        figures = {
            "TTFT p50": (level.ttft_s.p50, TTFT_S),
            "ITL p50": (level.itl_s.p50, TOKEN_S),
            "ITL mean": (level.itl_s.mean, TOKEN_S),
            "TPOT p50": (level.tpot_s.p50, TOKEN_S),
        }
        off = {k: v for k, v in figures.items() if not _within(*v)}
        assert not off, f"c={level.concurrency}: measured vs configured: {off}"
        # Token counts are the server's: every answer has exactly max_tokens (ignore_eos).
        assert level.usage_counted == level.ok
        assert level.output_tokens == output * level.ok
        # The stand-in counts one token per word: the prompt is as long as asked (+ "Request N:").
        assert level.prompt_tokens is not None and level.prompt_tokens.mean == 200 + 2
    assert report.single is not None
    assert _within(report.single.decode_tok_s, 1 / TOKEN_S)
    assert (
        report.notes[0] == "output tokens: the server's usage.completion_tokens for every request"
    )


def test_several_tokens_per_chunk_tpot_from_usage_not_chunk_gaps(
    project: ProjectFactory, runtime: DockerRuntime
) -> None:
    # As with MTP: 3 tokens per chunk. The chunk gaps triple, the time per token does not.
    url = _serve(project, runtime, env={**PACE, "STANDIN_TOKENS_PER_CHUNK": "3"})
    report = bench(
        BenchConfig(
            url=url, model=MODEL, levels=(1,), requests=2, input_tokens=50, output_tokens=19
        )
    )
    level = report.levels[0]
    assert level.itl_s and level.tpot_s
    assert _within(level.itl_s.p50, 3 * TOKEN_S)
    assert _within(level.tpot_s.p50, TOKEN_S)
    assert level.output_tokens == 19 * 2


def test_bounded_in_time_and_per_request(
    project: ProjectFactory, runtime: DockerRuntime, capsys: pytest.CaptureFixture[str]
) -> None:
    url = _serve(project, runtime, env=PACE)
    # --max-seconds: the run stops, requests in flight are cut off (not counted as failures).
    config = BenchConfig(
        url=url, model=MODEL, levels=(1, 8), requests=10, output_tokens=10, max_seconds=3.0
    )
    started = time.monotonic()
    report = bench(config)
    assert time.monotonic() - started < 3.0 + 1.0  # + the /v1/models probe and start-up
    assert report.stopped == "--max-seconds 3 reached"
    level = report.levels[0]
    assert level.failed == 0 and level.cut_off == 1 and level.ok >= 1
    assert [lv.concurrency for lv in report.levels] == [1]
    # --timeout: a request slower than it fails; when the warm-up does, bench stops with exit 4.
    argv = ["bench", "--url", url, "--timeout", str(TTFT_S / 2), "--requests", "1"]
    assert main(argv) == 4
    err = capsys.readouterr().err
    assert f"error: bench: the warm-up request to {url} failed: no answer within --timeout" in err
    assert "Hint: the server is slow or stuck: raise --timeout" in err


def test_tools_workload_counts_structured_calls_and_text_ones(
    project: ProjectFactory, runtime: DockerRuntime
) -> None:
    url = _serve(project, runtime)  # the parser that matches the model's format
    config = BenchConfig(
        url=url, model=MODEL, levels=(4,), requests=8, input_tokens=100, workload="tools"
    )
    tools = bench(config).levels[0].tools
    assert tools is not None
    assert (tools.streamed_structured, tools.streamed_total) == (4, 4)
    assert (tools.plain_structured, tools.plain_total) == (4, 4)


def test_tools_workload_sees_calls_left_as_text(
    project_name: str, images: dict[str, str], runtime: DockerRuntime
) -> None:
    wrong = ["--enable-auto-tool-choice", "--tool-call-parser", "llama3_json"]
    proj = make_project(
        "vllm", images["vllm"], name=project_name, port=free_port(), tool_args=wrong
    )
    result = up(proj, runtime=runtime, progress=QUIET, environ={}, smoke_test=False, timeout_s=60)
    assert result.endpoint is not None
    config = BenchConfig(
        url=result.endpoint, model=MODEL, levels=(2,), requests=4, workload="tools"
    )
    tools = bench(config).levels[0].tools
    assert tools is not None
    assert (tools.streamed_structured, tools.plain_structured) == (0, 0)
    assert tools.outcomes == {"text_call": 4}


def test_cli_bench_profile_finds_the_running_stack_and_its_ceiling(
    images: dict[str, str], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    stack = render_runnable_stack(tmp_path, "h200-fp8", images["vllm"], env=PACE)
    compose_file = stack.folder / "docker-compose.yml"
    profile = stack.name.removeprefix("ling-")
    profiles = str(tmp_path / f"{profile}-profiles.yml")
    try:
        assert main(["up", "-f", str(compose_file), "--no-smoke", "--timeout", "60"]) == 0
        capsys.readouterr()
        # No --port: the endpoint comes from the running container's labels, not the profile.
        argv = ["bench", profile, "--profiles-file", profiles, "--concurrency", "1"]
        argv += ["--requests", "2", "--input-tokens", "64", "--output-tokens", "8", "--json"]
        assert main(argv) == 0
        out, err = capsys.readouterr()
        data = json.loads(out)
        assert data["config"]["url"] == f"http://127.0.0.1:{stack.port}"
        assert data["config"]["model"] == MODEL
        level = data["levels"][0]
        assert level["requests"] == {"sent": 2, "ok": 2, "failed": 0, "cut_off": 0}
        ceilings = data["single_stream"]["ceilings"]
        t = compile_stack(load_stack(profile, Overrides(), Path(profiles))).plan.throughput
        decoded = data["single_stream"]["decode_tokens_per_s"]
        for which, tok_s in (
            ("datasheet", t.single_stream_tok_s),
            ("achievable", t.single_stream_tok_s_achievable),
        ):
            assert ceilings[which]["tokens_per_s"] == round(tok_s, 2)
            # --json rounds the fraction to 4 places and the decode speed to 2: the fraction may
            # differ from the ratio of the printed figures by half a unit of each last place.
            slack = 0.5e-4 + 0.005 / tok_s
            assert ceilings[which]["fraction"] == pytest.approx(decoded / tok_s, abs=slack)
        assert ceilings["achievable"]["source"] == t.achievable_note
        assert "bench: concurrency 1: 2 ok, 0 failed" in err

        # The table: one column per level and the ceiling lines.
        assert main(argv[:-1]) == 0
        table = capsys.readouterr().out
        assert f"against plan {profile} (bound by GPU memory bandwidth):" in table
        assert "% of the datasheet ceiling" in table and "% of the achievable ceiling" in table
    finally:
        main(["down", "-f", str(compose_file), "--volumes", "-t", "1"])


def test_cli_bench_profile_not_running_is_exit_4(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], runtime: DockerRuntime
) -> None:
    profile = f"e2e-{uuid.uuid4().hex[:8]}"
    spec = catalog.builtin_profiles()["h200-fp8"].model_dump(mode="json", exclude_none=True)
    profiles = tmp_path / "profiles.yml"
    profiles.write_text(yaml.safe_dump({"profiles": {profile: spec}}))
    assert main(["bench", profile, "--profiles-file", str(profiles)]) == 4
    err = capsys.readouterr().err
    assert err.startswith(f"error: bench: no running container of ling-{profile}")
    assert f"up {profile}`" in err
