"""A stack folder: docker-compose.yml plus .env.example and a README rendered with Jinja2."""

from __future__ import annotations

from pathlib import Path

import jinja2

from ling_compose.compose.compile import Compiled
from ling_compose.compose.render import render_yaml
from ling_compose.monitoring.services import GRAFANA_PASSWORD_ENV
from ling_compose.planning.fit import mtp_summary
from ling_compose.reproduce import render_command
from ling_compose.write import write_folder


def jinja_environment(loader: jinja2.BaseLoader) -> jinja2.Environment:
    """Templates for auxiliary text (never YAML): a missing value fails (StrictUndefined)."""
    return jinja2.Environment(
        loader=loader,
        undefined=jinja2.StrictUndefined,
        keep_trailing_newline=True,
        trim_blocks=True,
        lstrip_blocks=True,
        autoescape=False,  # Markdown and dotenv, not HTML
    )


_ENV = jinja_environment(jinja2.PackageLoader("ling_compose.compose", "templates"))


def stack_files(compiled: Compiled, regenerate: str | None) -> dict[str, str]:
    """File name → text, for one compiled stack; `regenerate`: the command that remakes them
    (None: the stack was built in Python, and no command does)."""
    service = compiled.service
    context = {
        "regenerate": regenerate,
        "stack": compiled.stack,
        "project": compiled.project.name,
        "plan": compiled.plan,
        "service": service,
        "endpoint": compiled.endpoint,
        "api_key_env": compiled.stack.serving.api_key_env,
        "mtp": mtp_summary(compiled.plan),
        "monitoring": compiled.stack.serving.monitoring,
        "grafana_password_env": GRAFANA_PASSWORD_ENV,
    }
    return {
        "docker-compose.yml": render_yaml(compiled.project),
        ".env.example": _ENV.get_template("env.example.j2").render(**context),
        "README.md": _ENV.get_template("stack-readme.md.j2").render(**context),
    }


def write_stack_dir(compiled: Compiled, directory: Path) -> list[Path]:
    origin = compiled.stack.origin
    regenerate = render_command(origin, "--stack-dir", str(directory)) if origin else None
    files = stack_files(compiled, regenerate)  # rendered first: a template error creates nothing
    return write_folder(directory, files)
