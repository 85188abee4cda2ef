"""ComposeProject -> docker-compose.yml text: header comments, then the data dumped by PyYAML
(serialised, never templated)."""

from __future__ import annotations

import yaml

from ling_compose.models.compose import ComposeProject
from ling_compose.safe_text import lines


def render_yaml(project: ComposeProject) -> str:
    """Deterministic compose text: header comments, then the data via yaml.safe_dump."""
    # Header lines carry user text (description, guide note, fork URL): split at its line
    # breaks and escaped, each comment stays one comment and the file stays YAML.
    header = "".join(
        f"# {line}\n".replace("# \n", "#\n") for entry in project.header for line in lines(entry)
    )
    body = yaml.safe_dump(
        project.to_compose(), sort_keys=False, default_flow_style=False, width=4096
    )
    return header + body
