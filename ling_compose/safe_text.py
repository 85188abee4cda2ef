"""User strings made safe inside a line of output: a comment, a table cell, an error message.

Whatever a profile or an argument holds (a newline, an escape sequence, a lone surrogate), the
text printed or written stays one line per line and valid UTF-8, so YAML comments stay
comments and terminals show the characters instead of obeying them.
"""

from __future__ import annotations

from collections.abc import Iterable


def one_line(text: str) -> str:
    """`text` with every character that is not printable (line breaks included) written as a
    Python escape, e.g. a newline as `\\n`."""
    if text.isprintable():
        return text
    return "".join(
        c if c.isprintable() else c.encode("unicode_escape").decode("ascii") for c in text
    )


def lines(text: str) -> list[str]:
    """`text` split at its line breaks, each line made printable with one_line."""
    return [one_line(line) for line in text.splitlines()] or [""]


def comment_block(entries: Iterable[str]) -> str:
    """Header entries as `# ` comment lines of a YAML file: each entry split at its line breaks
    and escaped, so user text (a description, a guide note) stays comments and the file YAML;
    an empty line is a bare `#`."""
    return "".join(
        f"# {line}\n".replace("# \n", "#\n") for entry in entries for line in lines(entry)
    )
