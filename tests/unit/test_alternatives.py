"""'Nearest layouts that fit': every suggestion, typed as shown, gives a layout that fits."""

from __future__ import annotations

import argparse

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ling_compose import catalog
from ling_compose.cli.stack_args import add_stack_arguments, overrides_from_args
from ling_compose.errors import ConfigError, FitError, UsageError
from ling_compose.load import load_stack
from ling_compose.planning.alternatives import nearest
from ling_compose.planning.fit import check_fits, make_plan

HINT_PREFIX = "nearest layouts that fit: "


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(exit_on_error=False)
    add_stack_arguments(parser)
    return parser


def load_from_argv(argv: list[str]):  # type: ignore[no-untyped-def]
    """What `render ARGV...` would plan: the CLI's own parser, then the loader."""
    args = _parser().parse_args(argv)
    return load_stack(args.profile, overrides_from_args(args))


def suggestions(argv: list[str]) -> list[str]:
    with pytest.raises(FitError) as info:
        check_fits(load_from_argv(argv), nearest)
    hint = info.value.hint or ""
    return hint[len(HINT_PREFIX) :].split("; ") if hint.startswith(HINT_PREFIX) else []


def argv_for(original: list[str], suggestion: str) -> list[str]:
    """A delta applies on top of the arguments given; `profile NAME ...` starts afresh."""
    words = suggestion.split()
    return words[1:] if words[0] == "profile" else [*original, *words]


def test_a_given_tensor_parallel_is_corrected_not_buried_under_more_gpus():
    # Before: `--tensor-parallel 1` on h100-fp8 suggested `--gpus 4`, which (TP 1 kept) did not fit.
    shown = suggestions(["h100-fp8", "--tensor-parallel", "1"])
    assert shown[0] == "--tensor-parallel 2"
    for s in shown:
        assert make_plan(load_from_argv(argv_for(["h100-fp8", "--tensor-parallel", "1"], s))).fits


def test_more_gpus_with_a_given_tensor_parallel_names_it():
    shown = suggestions(["h200-bf16", "--gpus", "1", "--tensor-parallel", "1"])
    assert "--gpus 2 --tensor-parallel 2" in shown


def test_a_context_no_layout_reaches_suggests_only_a_shorter_context():
    # Before: it also suggested h200-fp8 as built in and a100-fp8, at their own 131072.
    assert suggestions(["h200-fp8", "--context-length", "300000"]) == ["--context-length 262144"]


def test_profile_suggestions_keep_the_requested_context():
    shown = suggestions(["h100-fp8", "--gpus", "1", "--context-length", "65536"])
    assert "profile h200-fp8 --context-length 65536" in shown
    assert all(not s.startswith("profile") or "--context-length 65536" in s for s in shown)


def test_gpu_type_h100_suggests_the_h100_not_the_h200():
    with pytest.raises(UsageError) as info:  # a bad flag value: exit 2 (docs/troubleshooting.md)
        load_from_argv(["h200-fp8", "--gpu-type", "h100"])
    assert (info.value.hint or "").startswith("did you mean 'h100-sxm-80gb'?")


@pytest.mark.parametrize(("word", "key"), [("A100", "a100-sxm-80gb"), ("rtx4090", "rtx-4090")])
def test_gpu_names_and_aliases_are_matched(word: str, key: str):
    assert catalog.gpu_keys_named(word) == [key]


CHOICES = {
    "--gpus": ["1", "2", "3", "4", "8"],
    "--tensor-parallel": ["1", "2", "3", "4", "8"],
    "--pipeline-parallel": ["1", "2"],
    "--context-length": ["8192", "65536", "131072", "200000", "262144", "300000", "1000000"],
    "--concurrency": ["1", "4", "32", "128", "1000"],
    "--gpu-type": list(catalog.gpus()),
    "--backend": ["vllm", "sglang", "llamacpp"],
    "--checkpoint": list(catalog.checkpoints()),
    "--host-ram-gib": ["16", "48", "64", "256"],
}


@st.composite
def commands(draw: st.DrawFn) -> list[str]:
    argv = [draw(st.sampled_from(list(catalog.builtin_profiles())))]
    for flag in draw(st.lists(st.sampled_from(list(CHOICES)), max_size=4, unique=True)):
        argv += [flag, draw(st.sampled_from(CHOICES[flag]))]
    return argv


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(commands())
def test_every_suggestion_for_any_refusal_fits_when_typed(argv: list[str]):
    try:
        stack = load_from_argv(argv)
    except ConfigError:
        return  # refused before planning (an unknown combination), nothing to suggest
    try:
        check_fits(stack, nearest)
    except FitError as err:
        hint = err.hint or ""
        if not hint.startswith(HINT_PREFIX):
            return
        for shown in hint[len(HINT_PREFIX) :].split("; "):
            planned = make_plan(load_from_argv(argv_for(argv, shown)))
            assert planned.fits, (argv, shown, planned.problems)
