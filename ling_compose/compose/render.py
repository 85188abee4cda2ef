"""ComposeProject -> docker-compose.yml text: header comments, then the data dumped by PyYAML
(serialised, never templated)."""

from __future__ import annotations

import re
from typing import Any

import yaml

from ling_compose.models.compose import ComposeProject
from ling_compose.safe_text import comment_block

DUMP_OPTIONS: dict[str, Any] = {"sort_keys": False, "default_flow_style": False, "width": 4096}
# libyaml's emitter (PyYAML's C extension, when built with it) is several times faster than
# PyYAML's own and writes the same text for a mapping of plain keys whose scalars cannot reach
# the line width: it folds an escaped, double-quoted scalar longer than the width at other
# columns. A character escapes to at most 10 ("\U0010FFFF"), so a value under 400 characters
# stays on its line with any key before it. tests/unit/test_compose_schema.py holds the two
# to the same text.
SHORT_SCALAR = 400


def _represent_str(dumper: yaml.representer.SafeRepresenter, text: str) -> yaml.ScalarNode:
    """A multi-line string (a config's inline file) as a literal block, line by line as the
    file reads, instead of one quoted line of escaped newlines."""
    style = "|" if "\n" in text else None  # PyYAML falls back to quotes where | cannot hold it
    return dumper.represent_scalar("tag:yaml.org,2002:str", text, style=style)


class ComposeDumper(yaml.SafeDumper):
    pass


ComposeDumper.add_representer(str, _represent_str)
FAST_DUMPER: type[Any] | None = None  # yaml.CSafeDumper is no SafeDumper subclass
if hasattr(yaml, "CSafeDumper"):

    class _FastComposeDumper(yaml.CSafeDumper):
        pass

    _FastComposeDumper.add_representer(str, _represent_str)
    FAST_DUMPER = _FastComposeDumper
_PLAIN_KEY = re.compile(r"[A-Za-z0-9_.-]{1,64}")


def _libyaml_writes_the_same(data: Any) -> bool:
    if isinstance(data, dict):
        return all(
            isinstance(k, str) and _PLAIN_KEY.fullmatch(k) and _libyaml_writes_the_same(v)
            for k, v in data.items()
        )
    if isinstance(data, list):
        return all(_libyaml_writes_the_same(v) for v in data)
    return not isinstance(data, str) or (len(data) < SHORT_SCALAR and "\n" not in data)


def dump(data: dict[str, Any]) -> str:
    """The data as YAML with DUMP_OPTIONS, through libyaml where it writes the same."""
    dumper: type[Any] = ComposeDumper
    if FAST_DUMPER is not None and _libyaml_writes_the_same(data):
        dumper = FAST_DUMPER
    text: str = yaml.dump(data, Dumper=dumper, **DUMP_OPTIONS)
    return text


def render_yaml(project: ComposeProject) -> str:
    """Deterministic compose text: header comments, then the data as YAML."""
    # Header lines carry user text (description, guide note, fork URL).
    return comment_block(project.header) + dump(project.to_compose())
