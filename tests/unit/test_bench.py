"""bench: its statistics, stream tallies, requests and CLI edges (no server; the e2e tests have one)."""

from __future__ import annotations

import json
import socket
import statistics

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ling_compose.cli import main
from ling_compose.compose import compile_stack
from ling_compose.load import Overrides, load_stack
from ling_compose.runtime.bench import BenchConfig, BenchReport, payload, synthetic_prompt
from ling_compose.runtime.bench_stats import (
    RequestResult,
    StreamTally,
    ceiling_of,
    classify_tool_calls,
    percentile,
    single_stream,
    summarise,
)

# -- percentiles ----------------------------------------------------------------------------


@given(
    st.lists(st.floats(min_value=-1e6, max_value=1e6), min_size=2, max_size=60),
    st.integers(min_value=1, max_value=99),
)
def test_percentile_agrees_with_the_standard_library(values, p):
    expected = statistics.quantiles(values, n=100, method="inclusive")[p - 1]
    assert percentile(values, p) == pytest.approx(expected, rel=1e-9, abs=1e-6)


def test_percentile_ends_and_a_single_value():
    assert percentile([3.0, 1.0, 2.0], 0) == 1.0
    assert percentile([3.0, 1.0, 2.0], 100) == 3.0
    assert percentile([7.0], 99) == 7.0
    with pytest.raises(ValueError):
        percentile([], 50)


# -- one streamed request -------------------------------------------------------------------


def _chunk(**delta):
    return {"choices": [{"index": 0, "delta": delta, "finish_reason": None}]}


def test_tally_times_output_chunks_and_counts_tokens_from_usage():
    tally = StreamTally()
    tally.feed(0.10, _chunk(role="assistant", content=""))  # role only: not the first token
    tally.feed(0.30, _chunk(content="Hello"))
    tally.feed(0.35, _chunk(content=" there, my"))  # speculative decoding: 2 tokens in 1 chunk
    tally.feed(0.45, _chunk(content=" friend"))
    tally.feed(0.46, {"choices": [{"index": 0, "delta": {}, "finish_reason": "length"}]})
    tally.feed(0.47, {"choices": [], "usage": {"prompt_tokens": 12, "completion_tokens": 5}})
    r = tally.finish(0.48, done=True)
    assert r.ok and r.error == ""
    assert r.ttft_s == 0.30
    assert r.itl_s == pytest.approx([0.05, 0.10])  # per chunk
    assert r.output_chunks == 3
    assert r.output_tokens == 5  # the server's count, not the chunks
    assert r.tpot_s == pytest.approx((0.45 - 0.30) / 4)
    assert r.usage_prompt_tokens == 12
    assert r.e2e_s == 0.48


def test_tally_without_usage_counts_chunks():
    tally = StreamTally()
    for i, t in enumerate((0.2, 0.3, 0.4)):
        tally.feed(t, _chunk(content=f"w{i}"))
    r = tally.finish(0.5, done=True)
    assert r.usage_completion_tokens is None
    assert r.output_tokens == 3
    assert r.tpot_s == pytest.approx(0.1)


def test_tally_counts_reasoning_as_output():
    tally = StreamTally()
    tally.feed(0.2, _chunk(reasoning_content="Let me think"))
    assert tally.finish(0.3, done=True).ttft_s == 0.2


def test_tally_failures_name_what_went_wrong():
    cut = StreamTally()
    cut.feed(0.2, _chunk(content="a"))
    assert cut.finish(0.3, done=False).error == "the stream ended without data: [DONE]"
    empty = StreamTally()
    empty.feed(0.1, _chunk(role="assistant", content=""))
    result = empty.finish(0.2, done=True)
    assert not result.ok and result.error == "the stream carried no output"


def _finish(reason):
    return {"choices": [{"index": 0, "delta": {}, "finish_reason": reason}]}


def test_an_answer_that_ends_at_once_is_empty_not_failed():
    # What llama-server b11434 streams when the tiny test model's first token ends its turn.
    tally = StreamTally(tools=True)
    tally.feed(0.1, _chunk(role="assistant", content=None))
    tally.feed(0.2, _finish("stop"))
    tally.feed(0.2, {"choices": [], "usage": {"prompt_tokens": 30, "completion_tokens": 1}})
    r = tally.finish(0.3, done=True)
    assert r.ok and r.error == ""
    assert r.ttft_s is None and r.tpot_s is None and r.output_tokens == 1
    assert r.tool_outcome == "empty"
    # Not streamed, the same answer is a message with empty content: the same outcome.
    assert classify_tool_calls([], "") == "empty"


def test_one_output_chunk_gives_no_time_per_token():
    # "Hello" then the end-of-generation token: 2 completion tokens, 1 chunk, nothing to time.
    tally = StreamTally()
    tally.feed(0.2, _chunk(content="Hello"))
    tally.feed(0.2, _finish("stop"))
    tally.feed(0.2, {"choices": [], "usage": {"prompt_tokens": 30, "completion_tokens": 2}})
    r = tally.finish(0.3, done=True)
    assert r.ok and r.ttft_s == 0.2 and r.output_tokens == 2
    assert r.tpot_s is None  # not (0.2 - 0.2) / (2 - 1) = 0
    assert summarise(1, [r], wall_s=0.3).tpot_s is None


def test_tally_joins_streamed_tool_calls():
    tally = StreamTally(tools=True)
    head = {"index": 0, "id": "c1", "function": {"name": "get_weather", "arguments": ""}}
    tally.feed(0.2, _chunk(tool_calls=[head]))
    tally.feed(0.3, _chunk(tool_calls=[{"index": 0, "function": {"arguments": '{"city": '}}]))
    tally.feed(0.4, _chunk(tool_calls=[{"index": 0, "function": {"arguments": '"Paris"}'}}]))
    assert tally.finish(0.5, done=True).tool_outcome == "structured"


@pytest.mark.parametrize(
    ("calls", "content", "outcome"),
    [
        ([{"function": {"name": "f", "arguments": '{"city": "Paris"}'}}], "", "structured"),
        ([{"function": {"name": "f", "arguments": '{"city": '}}], "", "bad_arguments"),
        ([{"function": {"name": "f", "arguments": '["Paris"]'}}], "", "bad_arguments"),
        ([], '<tool_call>\n{"name": "f", "arguments": {}}\n</tool_call>', "text_call"),
        ([], "It is sunny in Paris.", "text"),
    ],
)
def test_tool_outcomes(calls, content, outcome):
    assert classify_tool_calls(calls, content) == outcome


# -- a level --------------------------------------------------------------------------------


def _ok(ttft, last, tokens, e2e, streamed=True, **kw):
    return RequestResult(
        ok=True,
        streamed=streamed,
        ttft_s=ttft,
        last_output_s=last,
        output_chunks=tokens,
        usage_completion_tokens=tokens,
        e2e_s=e2e,
        **kw,
    )


def test_summarise_a_level():
    results = [
        _ok(0.3, 1.3, 11, 1.4, itl_s=[0.1] * 10, usage_prompt_tokens=100),
        _ok(0.5, 2.5, 11, 2.6, itl_s=[0.2] * 10, usage_prompt_tokens=110),
        RequestResult(ok=False, error="HTTP 500 boom"),
        RequestResult(ok=False, error="HTTP 500 boom"),
        RequestResult(ok=False, cut_off=True, error="--max-seconds"),
    ]
    level = summarise(8, results, wall_s=4.0)
    assert (level.sent, level.ok, level.failed, level.cut_off) == (5, 2, 2, 1)
    assert level.errors == {"HTTP 500 boom": 2}
    assert level.ttft_s is not None and level.ttft_s.p50 == pytest.approx(0.4)
    assert level.itl_s is not None and level.itl_s.n == 20
    assert (level.itl_s.p50, level.itl_s.p90) == pytest.approx((0.15, 0.2))
    assert level.tpot_s is not None and level.tpot_s.p50 == pytest.approx(0.15)
    assert level.output_tokens == 22
    assert level.output_tok_s == pytest.approx(22 / 4.0)
    assert level.requests_per_s == pytest.approx(2 / 4.0)
    assert level.prompt_tokens is not None and level.prompt_tokens.mean == 105
    assert level.usage_counted == 2 and level.tools is None
    assert json.loads(json.dumps(level.to_json()))["ttft_ms"]["p50"] == pytest.approx(400.0)


def test_summarise_counts_tool_calls_streamed_and_not():
    results = [
        _ok(0.3, 0.5, 3, 0.6, tool_outcome="structured"),
        _ok(0.3, 0.5, 3, 0.6, tool_outcome="text_call"),
        _ok(None, None, 3, 0.6, streamed=False, tool_outcome="structured"),
        RequestResult(ok=False, streamed=False, error="HTTP 400 no"),
    ]
    tools = summarise(4, results, wall_s=1.0).tools
    assert tools is not None
    assert (tools.streamed_structured, tools.streamed_total) == (1, 2)
    assert (tools.plain_structured, tools.plain_total) == (1, 2)
    assert tools.outcomes == {"structured": 2, "text_call": 1}


def _at_41_percent_of_the_datasheet_ceiling(profile):
    """A level at concurrency 1 decoding at 41 % of `profile`'s datasheet ceiling."""
    plan = compile_stack(load_stack(profile, Overrides())).plan
    tpot = 1.0 / (0.41 * plan.throughput.single_stream_tok_s)
    return plan, summarise(1, [_ok(0.2, 0.2 + 10 * tpot, 11, 1.0)], wall_s=1.0)


@pytest.mark.parametrize(
    ("profile", "source"),
    [
        # H200: its streaming-read bandwidth was measured on a real one (a fixture capture).
        ("h200-fp8", "measured: tests/fixtures/gpus/h200-1x-real/capture.json"),
        # H100: not measured, so the datasheet x the fraction measured on the H200.
        ("h100-fp8", "not measured: datasheet x 0.875"),
    ],
)
def test_single_stream_against_both_of_the_plans_ceilings(profile, source):
    plan, level = _at_41_percent_of_the_datasheet_ceiling(profile)
    t = plan.throughput
    ceiling = ceiling_of(plan)
    assert (ceiling.datasheet_tok_s, ceiling.achievable_tok_s) == (
        t.single_stream_tok_s,
        t.single_stream_tok_s_achievable,
    )
    assert ceiling.achievable_tok_s < ceiling.datasheet_tok_s
    assert ceiling.achievable_source.startswith(source)
    single = single_stream([level], ceiling)
    assert single is not None
    of_datasheet, of_achievable = ceiling.fractions(single.decode_tok_s)
    assert of_datasheet == pytest.approx(0.41)
    # The same speed is a larger share of the lower, achievable ceiling.
    assert of_achievable == pytest.approx(
        0.41 * t.single_stream_tok_s / t.single_stream_tok_s_achievable
    )
    shown = single.to_json()["ceilings"]
    assert shown["profile"] == profile and shown["bound_by"] == t.bound_by
    assert shown["datasheet"] == {
        "tokens_per_s": round(t.single_stream_tok_s, 2),
        "bandwidth_gbs_per_gpu": round(t.datasheet_gbs, 1),
        "fraction": round(of_datasheet, 4),
    }
    assert shown["achievable"] == {
        "tokens_per_s": round(t.single_stream_tok_s_achievable, 2),
        "bandwidth_gbs_per_gpu": round(t.achievable_gbs, 1),
        "fraction": round(of_achievable, 4),
        "source": t.achievable_note,
    }
    assert single_stream([summarise(8, [_ok(0.2, 1.2, 11, 1.3)], 1.0)], ceiling) is None


def test_single_stream_without_a_plan_has_no_ceilings():
    _, level = _at_41_percent_of_the_datasheet_ceiling("h200-fp8")
    single = single_stream([level], None)
    assert single is not None and set(single.to_json()) == {"decode_tokens_per_s"}


def test_report_table_shows_both_ceiling_fractions():
    from ling_compose.cli.bench import format_report

    plan, level = _at_41_percent_of_the_datasheet_ceiling("h200-fp8")
    t = plan.throughput
    report = BenchReport(
        config=BenchConfig(url="http://x", model="m", levels=(1,)),
        levels=[level],
        single=single_stream([level], ceiling_of(plan)),
    )
    lines = format_report(report).splitlines()
    at = next(i for i, line in enumerate(lines) if line.startswith("single-stream decode"))
    assert lines[at].endswith(f"against plan h200-fp8 (bound by {t.bound_by}):")
    assert lines[at + 1] == (
        f"  41 % of the datasheet ceiling: {t.single_stream_tok_s:.1f} tokens/s "
        f"at {t.datasheet_gbs:.0f} GB/s per GPU"
    )
    share = 41 * t.single_stream_tok_s / t.single_stream_tok_s_achievable
    assert lines[at + 2] == (
        f"  {share:.0f} % of the achievable ceiling: "
        f"{t.single_stream_tok_s_achievable:.1f} tokens/s at {t.achievable_gbs:.0f} GB/s per GPU "
        f"({t.achievable_note})"
    )


def test_with_mtp_on_the_report_gives_the_plans_expected_range_beside_the_ceilings():
    """A stream with MTP may pass the one-read ceilings: bench says what the plan expects."""
    from ling_compose.cli.bench import format_report

    for profile, mtp_on in (("h200-bf16", True), ("h200-fp8", False)):
        plan, level = _at_41_percent_of_the_datasheet_ceiling(profile)
        assert plan.mtp.on is mtp_on
        single = single_stream([level], ceiling_of(plan))
        assert single is not None
        report = BenchReport(
            config=BenchConfig(url="http://x", model="m", levels=(1,)),
            levels=[level],
            single=single,
        )
        mtp_lines = [line for line in format_report(report).splitlines() if "MTP is on" in line]
        ceilings = single.to_json()["ceilings"]
        if not mtp_on:
            assert mtp_lines == [] and "mtp" not in ceilings
            continue
        assert plan.mtp_gain is not None
        low, high = plan.mtp_gain.single_stream_tok_s_achievable
        assert low > plan.throughput.single_stream_tok_s_achievable  # above the no-MTP ceiling
        assert ceilings["mtp"] == {
            "draft_tokens": plan.mtp.tokens,
            "assumed_acceptance": plan.mtp_gain.acceptance[1],
            "expected_tokens_per_s": [round(low, 2), round(high, 2)],
        }
        (line,) = mtp_lines
        assert f"the plan expects {low:.0f}-{high:.0f} tokens/s" in line and "ASSUMED" in line


@pytest.mark.parametrize(
    ("fraction", "shown"), [(0.41, "41 %"), (1.3, "130 %"), (0.004, "0.4 %"), (0.0, "0 %")]
)
def test_ceiling_percentages_never_round_a_real_speed_to_zero(fraction, shown):
    from ling_compose.cli.bench import _percent

    assert _percent(fraction) == shown


# -- requests -------------------------------------------------------------------------------


def test_prompts_are_deterministic_sized_and_distinct_from_the_start():
    a, b = synthetic_prompt(0, 1024), synthetic_prompt(1, 1024)
    assert a == synthetic_prompt(0, 1024)
    assert len(a.split()) == 1024 + 2  # "Request 0:" then the words
    assert a.split()[2:6] != b.split()[2:6]
    assert synthetic_prompt(0, 50, seed=1) != synthetic_prompt(0, 50, seed=0)


def test_text_payload_streams_with_usage_and_fixed_length():
    body, stream = payload(BenchConfig(url="u", model="m", output_tokens=64), 3)
    assert stream
    assert body["max_tokens"] == 64 and body["ignore_eos"] is True
    assert body["stream_options"] == {"include_usage": True}
    assert "tools" not in body


def test_tools_payload_alternates_streaming_and_lets_the_model_stop():
    config = BenchConfig(url="u", model="m", workload="tools")
    (even, streamed), (odd, plain) = payload(config, 0), payload(config, 1)
    assert streamed and not plain
    assert "stream" not in odd and even["stream_options"] == {"include_usage": True}
    assert even["tools"][0]["function"]["name"] == "get_weather"
    assert "ignore_eos" not in even  # it would run on past the call


# -- the command line -----------------------------------------------------------------------


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_endpoint_not_serving_is_exit_4_with_a_hint(capsys):
    url = f"http://127.0.0.1:{_closed_port()}"
    assert main(["bench", "--url", url, "--model", "m", "--requests", "1"]) == 4
    out, err = capsys.readouterr()
    assert out == ""
    assert err.startswith(f"error: bench: {url} is not serving: {url}/v1/models → connection")
    assert "\nHint: is the stack up and ready?" in err
    assert "Traceback" not in err


@pytest.mark.parametrize(
    ("args", "said"),
    [
        ([], "bench needs a PROFILE (its running stack) or --url URL"),
        (["--url", "127.0.0.1:8000"], "'127.0.0.1:8000' is not an http(s) URL"),
        (
            ["--url", "http://x", "--concurrency", "0"],
            "argument --concurrency: expected a whole number from 1 to 1024, got '0'",
        ),
        (["--url", "http://x", "--concurrency", "1,x"], "a whole number from 1 to 1024, got 'x'"),
        (
            ["--url", "http://x", "--max-seconds", "nan"],
            "argument --max-seconds: expected a number above 0 up to 604800, got 'nan'",
        ),
        (
            ["--url", "http://x", "--requests", "-3"],
            "argument --requests: expected a whole number from 1 to 100000, got '-3'",
        ),
        (["--url", "http://x", "--gpus", "2"], "stack overrides need a profile"),
        (["h200-fp8", "--profile", "h100-fp8"], "give PROFILE or --profile, not both"),
        (["--url", "http://x", "--api-key-env", "LC_UNSET_KEY"], "LC_UNSET_KEY is not set"),
    ],
)
def test_usage_errors_exit_2(args, said, capsys, monkeypatch):
    monkeypatch.delenv("LC_UNSET_KEY", raising=False)
    assert main(["bench", *args]) == 2
    err = capsys.readouterr().err
    assert said in err and "Hint: " in err and "Traceback" not in err
