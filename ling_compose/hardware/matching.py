"""Maps a measured GPU onto the catalogue: longest name match whose memory size agrees."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass

from ling_compose.hardware.raw import RawGPU
from ling_compose.models.hardware import GIB, GPU

# Vendors sell "80 GB" parts that NVML reports as 79.6 GiB (H100) and "141 GB" as 140.4 GiB
# (H200): the catalogue's figure tracks GiB closely. A reading outside this band is a
# different part (a 40 GB A100, a MIG slice, a vGPU) even when the name matches.
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


def memory_consistent(measured_bytes: int, catalogue_gb: float) -> bool:
    measured_gib = measured_bytes / GIB
    return abs(measured_gib - catalogue_gb) <= MEMORY_TOLERANCE * catalogue_gb


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
        if memory_consistent(raw.memory_total_bytes, gpu.memory_gb):
            return Match(gpu=gpu, matched_on=needle, note=None)
        measured = raw.memory_total_bytes / GIB
        rejected.append(
            f"name matches catalogue '{gpu.key}' ({needle!r}) but {measured:.1f} GiB does not "
            f"agree with its {gpu.memory_gb:g} GB (MIG slice, vGPU or another model?)"
        )
    note = "; ".join(rejected) if rejected else "not in the GPU catalogue"
    return Match(gpu=None, matched_on=None, note=note)
