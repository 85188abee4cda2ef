"""`plan` checks the hosting guide's claims (shared/seed) with the same physics."""

import json

from ling_compose.cli import main
from ling_compose.load import load_stack
from ling_compose.planning.guide_check import check_guide


def verdict(name: str):
    v = check_guide(load_stack(name))
    assert v is not None
    return v


def test_int4_on_one_24gb_card_is_impossible_and_so_is_its_speed():
    v = verdict("4090-int4")
    assert not v.layout_fits and "53.1 GiB" in v.problems[0]
    assert v.claimed_tok_s == (80, 120) and v.ceiling_tok_s is not None
    assert v.ceiling_tok_s < 80 and v.speed_possible is False


def test_fp8_on_one_h100_and_bf16_on_one_h200_are_impossible():
    assert not verdict("h100-fp8").layout_fits
    assert not verdict("a100-fp8").layout_fits
    assert "200.2 GiB" in verdict("h200-bf16").problems[0]  # 194.0 + 6.16 GiB of MTP layer


def test_the_vendor_layout_fits_and_its_speed_is_below_the_ceiling():
    v = verdict("4xh100-bf16")
    assert v.layout_fits and v.speed_possible is True


def test_profiles_without_a_guide_row_have_no_verdict():
    assert check_guide(load_stack("h200-fp8")) is None


def test_plan_prints_the_guide_arithmetic(capsys):
    assert main(["plan", "4090-int4"]) == 0
    out = capsys.readouterr().out
    assert "hosting guide's layout: 1 x NVIDIA GeForce RTX 4090" in out and "IMPOSSIBLE" in out
    assert main(["plan", "h100-fp8", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["guide"]["layout_fits"] is False
