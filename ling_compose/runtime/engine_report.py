"""What an engine says it reserved at start-up, read from its log, beside the plan (pure).

Each engine logs its real cache size once it has profiled the GPU. Its engine module reads
those lines (Engine.parse_report, with the formats cited there); `compare` puts them beside the
plan's figures (Engine.planned_figures, carried in the compose file's x-ling-compose metadata
and the container's labels) and flags any that disagree by more than TOLERANCE.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from ling_compose.engines import registry

TOLERANCE = 0.05  # beyond 5 % the plan's estimates (reserve, pools) need a look
METADATA_PREFIX = "planned_"  # x-ling-compose keys that carry Engine.planned_figures
# Enough lines to reach back to start-up after a while of serving (access logs follow it).
START_UP_LOG_LINES = 20000


def parse(engine: str, log: str) -> dict[str, float]:
    """The figures an engine's start-up lines state (keys of its report_figures); missing
    lines leave keys out, an engine ling_compose does not know states none."""
    known = registry.find(engine)
    return known.parse_report(log) if known is not None else {}


@dataclass(frozen=True)
class Figure:
    """One figure: what the plan said, what the engine reported, and whether they agree."""

    key: str
    label: str
    unit: str
    planned: float | None
    reported: float | None

    @property
    def difference(self) -> float | None:
        """(reported - planned) / planned; None when either is missing or the plan said 0."""
        if self.planned is None or self.reported is None or self.planned == 0:
            return None
        return (self.reported - self.planned) / self.planned

    @property
    def disagrees(self) -> bool:
        diff = self.difference
        return diff is not None and abs(diff) > TOLERANCE

    def to_json(self) -> dict[str, object]:
        return {
            "figure": self.key,
            "label": self.label,
            "unit": self.unit,
            "planned": self.planned,
            "reported": self.reported,
            "difference": None if self.difference is None else round(self.difference, 4),
            "disagrees": self.disagrees,
        }


def planned_from_metadata(metadata: Mapping[str, str]) -> dict[str, float]:
    """Engine.planned_figures as the compose file (or a container's labels) carries it."""
    out: dict[str, float] = {}
    for key, value in metadata.items():
        if key.startswith(METADATA_PREFIX):
            try:
                out[key[len(METADATA_PREFIX) :]] = float(value)
            except ValueError:
                continue  # a hand-edited file: that figure is not compared
    return out


def compare(
    engine: str, planned: Mapping[str, float], reported: Mapping[str, float]
) -> list[Figure]:
    """The engine's figures beside the plan's, in the order its report_figures lists them."""
    known = registry.find(engine)
    return [
        Figure(f.key, f.label, f.unit, planned.get(f.key), reported.get(f.key))
        for f in (known.report_figures if known is not None else ())
        if f.key in planned or f.key in reported
    ]


def _value(value: float | None, unit: str) -> str:
    if value is None:
        return "-"
    if unit == "GiB":
        return f"{value:.2f} GiB"
    if unit == "x":
        return f"{value:.2f}"
    return f"{value:,.0f}" + (f" {unit}" if unit else "")


def report_lines(figures: list[Figure]) -> list[str]:
    """Human-readable lines: reported, planned and the difference, flagged beyond TOLERANCE."""
    lines = []
    for f in figures:
        diff = f.difference
        where = "" if diff is None else f" ({diff:+.1%})"
        mark = "  <- differs by more than 5 %" if f.disagrees else ""
        lines.append(
            f"  {f.label:<28} engine {_value(f.reported, f.unit):>18}  plan {_value(f.planned, f.unit):>18}{where}{mark}"
        )
    return lines
