"""Plain-text tables and JSON for the CLI (no colour: output is often piped)."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any

from ling_compose.safe_text import one_line


def print_json(data: Any) -> None:
    """Strict JSON on stdout: a NaN or infinity is a bug to surface, never `Infinity`."""
    print(json.dumps(data, indent=2, allow_nan=False))


def format_table(rows: Sequence[Mapping[str, object]], columns: Sequence[str]) -> str:
    cells = [[one_line(str(row.get(c, ""))) for c in columns] for row in rows]
    widths = [max([len(c)] + [len(r[i]) for r in cells]) for i, c in enumerate(columns)]
    lines = ["  ".join(c.upper().ljust(w) for c, w in zip(columns, widths, strict=True)).rstrip()]
    lines += ["  ".join(v.ljust(w) for v, w in zip(r, widths, strict=True)).rstrip() for r in cells]
    return "\n".join(lines)


def print_table(rows: Sequence[Mapping[str, object]], columns: Sequence[str]) -> None:
    print(format_table(rows, columns))
