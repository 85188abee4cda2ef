"""Maps a measured GPU onto the catalogue: longest name match whose memory size agrees."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass

from ling_compose.hardware.raw import RawGPU
from ling_compose.models.hardware import GIB, GPU

# The catalogue stores what the driver reports (nvidia-smi MiB), so a reading of the same part
# lands within a fraction of a percent; the band allows for unverified entries and driver
# versions. A reading outside it is a different part (a 40 GB A100, a MIG slice, a vGPU) even
# when the name matches.
MEMORY_TOLERANCE = 0.08


@dataclass(frozen=True)
class Match:
    """The outcome for one GPU: the catalogue entry (or None) and why."""

    gpu: GPU | None
    matched_on: str | None
    note: str | None


def _occurs_as_token(needle: str, haystack: str) -> bool:
    # Token boundaries keep "h20" out of "h200" and "h200" out of "gh200"/"b200" out of "gb200":
    # those are other parts with other memory and bandwidth.
    return re.search(rf"(?<![a-z0-9]){re.escape(needle)}(?![a-z0-9])", haystack) is not None


def memory_consistent(measured_bytes: int, catalogue_gib: float) -> bool:
    measured_gib = measured_bytes / GIB
    return abs(measured_gib - catalogue_gib) <= MEMORY_TOLERANCE * catalogue_gib


def match_gpu(raw: RawGPU, catalogue: Mapping[str, GPU]) -> Match:
    """Most specific match wins: the longest `match` string found in the name, memory agreeing."""
    name = raw.name.lower()
    candidates = sorted(
        (
            (len(needle), needle, gpu)
            for gpu in catalogue.values()
            for needle in gpu.match
            if _occurs_as_token(needle, name)
        ),
        key=lambda item: item[0],
        reverse=True,
    )
    rejected: list[str] = []
    for _, needle, gpu in candidates:
        if memory_consistent(raw.memory_total_bytes, gpu.memory_gib):
            return Match(gpu=gpu, matched_on=needle, note=None)
        measured = raw.memory_total_bytes / GIB
        rejected.append(
            f"name matches catalogue '{gpu.key}' ({needle!r}) but {measured:.1f} GiB does not "
            f"agree with its {gpu.memory_gib:.1f} GiB (MIG slice, vGPU or another model?)"
        )
    note = "; ".join(rejected) if rejected else "not in the GPU catalogue"
    return Match(gpu=None, matched_on=None, note=note)
