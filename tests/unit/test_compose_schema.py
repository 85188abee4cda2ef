"""Every generated compose file is valid against the Compose file JSON schema shipped with
Debian's docker-compose (an independent implementation); `docker-compose config -q` accepts it."""

import json
import os
import shutil
import subprocess
from pathlib import Path

import jsonschema
import pytest
import yaml

from ling_compose import catalog
from ling_compose.compose import compile_stack, render_yaml
from ling_compose.loader import Overrides, load_stack

SCHEMA = Path("/usr/lib/python3/dist-packages/compose/config/compose_spec.json")
IN_CI = os.environ.get("CI") == "true"


def _require(available: bool, what: str) -> None:
    if not available:
        if IN_CI:
            pytest.fail(f"{what} is missing in CI: .ci/docker-engine.sh installs it")
        pytest.skip(f"{what} not installed (apt-get install docker-compose)")


def rendered() -> list[tuple[str, str]]:
    cases = [
        (name, render_yaml(compile_stack(load_stack(name)).project))
        for name in catalog.builtin_profiles()
    ]
    variant = load_stack(
        "h100-fp8", Overrides(bind="0.0.0.0", api_key_env="LING_KEY", context_length=262144)
    )
    cases.append(("h100-fp8+overrides", render_yaml(compile_stack(variant).project)))
    return cases


@pytest.mark.parametrize(("name", "text"), rendered())
def test_valid_against_compose_spec_schema(name, text):
    _require(SCHEMA.exists(), str(SCHEMA))
    jsonschema.validate(yaml.safe_load(text), json.loads(SCHEMA.read_text()))


@pytest.mark.parametrize(("name", "text"), rendered())
def test_docker_compose_config_accepts_it(name, text, tmp_path):
    _require(shutil.which("docker-compose") is not None, "docker-compose")
    path = tmp_path / "docker-compose.yml"
    path.write_text(text)
    env = {**os.environ, "LING_KEY": "x"}
    result = subprocess.run(
        ["docker-compose", "-f", str(path), "config", "-q"], capture_output=True, text=True, env=env
    )
    assert result.returncode == 0, result.stderr
