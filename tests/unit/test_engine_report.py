"""Reading the engines' start-up cache lines and comparing them with the plan (no Docker)."""

from __future__ import annotations

import pytest
import yaml

from ling_compose.compose import compile_stack, render_yaml
from ling_compose.engines import registry
from ling_compose.load import Overrides, load_stack
from ling_compose.models.server import LC_ENGINE
from ling_compose.planning.fit import make_plan
from ling_compose.runtime import api
from ling_compose.runtime.base import ContainerState
from ling_compose.runtime.engine_report import (
    TOLERANCE,
    compare,
    parse,
    planned_from_metadata,
    report_lines,
)
from tests.e2e.standins.standin import load_catalog, parse_args, start_up_report

# Lines as the engines print them at the pinned versions: the message formats of
# vllm/v1/core/kv_cache_utils.py:1148 and v1/worker/gpu_worker.py:773 behind vLLM's logger prefix
# (vllm/logger.py _FORMAT), two tensor-parallel workers each reporting its own memory.
VLLM_LOG = """\
(APIServer pid=1) INFO 12-01 22:40:02 [utils.py:326] non-default args: {'model_tag': 'x'}
(Worker_TP0 pid=245) INFO 12-01 22:41:09 [gpu_worker.py:773] Available KV cache memory: 20.54 GiB
(Worker_TP1 pid=246) INFO 12-01 22:41:09 [gpu_worker.py:773] Available KV cache memory: 20.5 GiB
(EngineCore pid=200) INFO 12-01 22:41:10 [kv_cache_utils.py:1148] GPU KV cache size: 4,672,157 tokens, Maximum concurrency for 131,072 tokens per request: 35.65x
(APIServer pid=1) INFO 12-01 22:43:00 [api_server.py:1500] Starting vLLM API server 0 on http://0.0.0.0:8000
"""
# srt/mem_cache/memory_pool.py:2097 and :1005, srt/managers/scheduler.py:1269, behind
# "[%(asctime)s TP0] " (srt/utils/common.py configure_logger).
SGLANG_LOG = """\
[2026-12-01 22:40:11 TP0] Load weight end. elapsed=120.00 s, type=BailingMoeV2_5ForCausalLM, avail mem=42.10 GB, mem usage=97.01 GB.
[2026-12-01 22:40:12 TP0] KV Cache is allocated. dtype: torch.bfloat16, #tokens: 2677316, KV size: 11.49 GB
[2026-12-01 22:40:12 TP0] Mamba Cache is allocated. max_mamba_cache_size: 378, conv_state size: 0.00GB, ssm_state size: 10.34GB 
[2026-12-01 22:40:13 TP0] Memory pool end. avail mem=18.20 GB
[2026-12-01 22:40:20 TP0] max_total_num_tokens=2677316, chunked_prefill_size=8192, max_prefill_tokens=16384, max_running_requests=16, context_len=131072, available_gpu_mem=17.90 GB
"""  # noqa: W291 (SGLang's Mamba line ends with a space)
# b11434: src/llama-model.cpp:1926/1932, src/llama-context.cpp:312, src/llama-kv-cache.cpp:291,
# src/llama-memory-recurrent.cpp:124 (printf formats; %10s / %12s right-align buffer names).
LLAMA_LOG = """\
load_tensors: offloading 32 repeating layers to GPU
load_tensors: offloaded 33/33 layers to GPU
load_tensors:        CUDA0 model buffer size = 18135.04 MiB
load_tensors:   CPU_Mapped model buffer size = 36239.36 MiB
llama_context: n_ctx_seq             = 32768
llama_kv_cache:      CUDA0 KV buffer size =   144.00 MiB
llama_memory_recurrent:      CUDA0 RS buffer size =    56.00 MiB
"""


def test_vllm_lines_are_read():
    got = parse("vllm", VLLM_LOG)
    assert got == {"kv_cache_tokens": 4_672_157, "max_concurrency": 35.65, "kv_cache_gib": 20.5}


def test_sglang_lines_are_read():
    got = parse("sglang", SGLANG_LOG)
    assert got == {
        "kv_cache_tokens": 2_677_316,
        "max_running_requests": 16,
        "kv_cache_gib": 11.49,
        "state_gib": 10.34,
    }


def test_llamacpp_lines_are_read():
    got = parse("llamacpp", LLAMA_LOG)
    assert got["context_per_slot"] == 32768
    assert got["kv_cache_gib"] == pytest.approx(144 / 1024)
    assert got["state_gib"] == pytest.approx(56 / 1024)
    assert got["gpu_weights_gib"] == pytest.approx(18135.04 / 1024)
    assert got["host_weights_gib"] == pytest.approx(36239.36 / 1024)
    assert (got["offloaded_layers"], got["total_layers"]) == (33, 33)


def test_a_log_without_the_lines_reports_nothing():
    assert parse("vllm", "INFO Loading model weights ...\n") == {}


@pytest.mark.parametrize("profile", ["h100-fp8", "h200-bf16", "4090-int4"])
def test_plan_predicts_every_figure_the_parser_reads(profile):
    plan = make_plan(load_stack(profile))
    engine = registry.get(plan.engine)
    assert set(engine.planned_figures(plan)) == {f.key for f in engine.report_figures}


@pytest.mark.parametrize("profile", ["h100-fp8", "h200-bf16", "4090-int4"])
def test_stand_in_lines_in_engine_format_read_back_as_the_plan(profile):
    compiled = compile_stack(load_stack(profile))
    planned = planned_from_metadata(compiled.project.metadata)
    engine = compiled.plan.engine
    # The stand-in reads the rendered command with its copy of the engine's flag catalogue.
    args = parse_args(engine, compiled.project.services["server"].command, load_catalog(engine))
    lines = "\n".join(start_up_report(compiled.plan.engine, args, planned))
    figures = compare(compiled.plan.engine, planned, parse(compiled.plan.engine, lines))
    assert figures and all(f.reported is not None for f in figures)
    assert not [f for f in figures if f.disagrees], report_lines(figures)


def test_the_rendered_file_carries_the_plan_figures():
    compiled = compile_stack(load_stack("h200-fp8"))
    meta = yaml.safe_load(render_yaml(compiled.project))["x-ling-compose"]
    planned = planned_from_metadata(meta)
    assert planned["kv_cache_tokens"] == compiled.plan.kv_pool_tokens
    assert planned["kv_cache_gib"] == pytest.approx(compiled.plan.gpu.cache_budget, abs=0.005)


def test_difference_beyond_tolerance_is_flagged():
    planned = {"kv_cache_tokens": 1000.0, "max_concurrency": 10.0, "kv_cache_gib": 20.0}
    reported = {"kv_cache_tokens": 1000 * (1 + TOLERANCE / 2), "max_concurrency": 8.0}
    figures = {f.key: f for f in compare("vllm", planned, reported)}
    assert not figures["kv_cache_tokens"].disagrees
    assert figures["max_concurrency"].disagrees
    assert figures["max_concurrency"].difference == pytest.approx(-0.2)
    assert figures["kv_cache_gib"].reported is None and not figures["kv_cache_gib"].disagrees
    lines = report_lines(list(figures.values()))
    assert any("-20.0%" in line and "differs by more than 5 %" in line for line in lines)


class LogRuntime:
    """Just enough of a Runtime for status(): one running container and its log."""

    def __init__(self, labels: dict[str, str], log: str) -> None:
        self.state = ContainerState("c1", "p-server-1", "server", "running", labels=labels)
        self.log = log

    def containers(self, project: str | None = None) -> list[ContainerState]:
        return [self.state]

    def logs(self, container_id: str, tail: int = 50) -> str:
        assert tail >= 10000  # start-up lines come before the access log
        return self.log

    def close(self) -> None:
        pass


def test_status_compares_the_log_with_the_planned_labels():
    compiled = compile_stack(load_stack("h100-fp8"))
    spec = api.resolve_spec(compiled.project, environ={})
    labels = {**spec.containers[0].labels, LC_ENGINE: "vllm"}
    rows = api.status("ling-h100-fp8", probe=False, runtime=LogRuntime(labels, VLLM_LOG))  # type: ignore[arg-type]
    (row,) = rows
    by_key = {f.key: f for f in row.engine_report}
    assert by_key["kv_cache_tokens"].reported == 4_672_157
    assert by_key["kv_cache_tokens"].planned == compiled.plan.kv_pool_tokens
    assert row.to_json()["engine_report"][0]["figure"] == "kv_cache_tokens"


def test_up_on_a_file_not_planned_by_ling_compose_has_no_report():
    assert api.engine_report(LogRuntime({}, VLLM_LOG), "c1", "vllm", {}) is None  # type: ignore[arg-type]


def test_more_slots_on_llamacpp_change_the_planned_kv_buffer():
    llamacpp = registry.get("llamacpp")
    one = llamacpp.planned_figures(make_plan(load_stack("4090-int4")))
    two = llamacpp.planned_figures(make_plan(load_stack("4090-int4", Overrides(concurrency=2))))
    assert two["kv_cache_gib"] == pytest.approx(2 * one["kv_cache_gib"], abs=0.002)


def test_cli_status_prints_the_report_and_warns_where_the_engine_differs(monkeypatch, capsys):
    import ling_compose.cli

    compiled = compile_stack(load_stack("h100-fp8"))
    labels = {**api.resolve_spec(compiled.project, environ={}).containers[0].labels}
    planned = planned_from_metadata(compiled.project.metadata)
    # The engine found 20 % less room than planned (a bigger activation peak, say).
    low = {**planned, "kv_cache_tokens": planned["kv_cache_tokens"] * 0.8}
    log = "\n".join(start_up_report("vllm", {"--max-model-len": "131072"}, low))
    monkeypatch.setattr(api, "default_runtime", lambda docker_host=None: LogRuntime(labels, log))
    assert ling_compose.cli.main(["status", "ling-h100-fp8"]) == 0
    err = capsys.readouterr().err
    assert "engine start-up report beside the plan" in err
    assert "KV cache" in err and "-20.0%" in err
    assert (
        "warning: ling-h100-fp8 server: the engine reserved differently than planned (KV cache)"
        in err
    )
