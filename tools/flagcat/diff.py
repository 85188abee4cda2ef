"""Flag-level difference between two catalogues: options added/removed/changed, choices moved."""

from __future__ import annotations

from typing import Any


def _spellings(doc: dict[str, Any]) -> dict[str, dict[str, Any]]:
    table: dict[str, dict[str, Any]] = {}
    for opt in doc["options"]:
        for name in [*opt["names"], *opt.get("negative_names", [])]:
            table[name] = opt
    return table


def diff(old: dict[str, Any] | None, new: dict[str, Any]) -> list[str]:
    """Human-readable lines, one per change; empty when nothing changed."""
    if old is None:
        return [f"+ new catalogue: {len(new['options'])} options (nothing to compare with)"]
    a, b = _spellings(old), _spellings(new)
    lines: list[str] = []
    lines += [f"- removed option {n}" for n in sorted(set(a) - set(b))]
    lines += [f"+ added option {n}" for n in sorted(set(b) - set(a))]
    done: set[int] = set()
    for name in sorted(set(a) & set(b)):
        oa, ob = a[name], b[name]
        if id(ob) in done:
            continue
        done.add(id(ob))
        for field in ("takes_value", "type", "nargs", "deprecated", "canonical", "removed"):
            if oa.get(field) != ob.get(field):
                lines.append(f"~ {name}: {field} {oa.get(field)!r} -> {ob.get(field)!r}")
        ca, cb = oa.get("choices"), ob.get("choices")
        if ca != cb:
            if ca is None or cb is None:
                lines.append(f"~ {name}: choices {'added' if ca is None else 'dropped'}")
            else:
                gone = [c for c in ca if c not in cb]
                new_ = [c for c in cb if c not in ca]
                if gone or new_:
                    lines.append(
                        f"~ {name}: choices"
                        + (f" -{','.join(gone)}" if gone else "")
                        + (f" +{','.join(new_)}" if new_ else "")
                    )
    dva, dvb = old.get("deprecated_values", {}), new.get("deprecated_values", {})
    if dva != dvb:
        lines.append(f"~ deprecated values {dva} -> {dvb}")
    if old.get("image") != new.get("image"):
        lines.append(f"~ image {old.get('image')} -> {new.get('image')}")
    return lines
