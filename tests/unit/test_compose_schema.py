"""Every rendered compose file is valid against the official Compose Specification schema
(compose-go's, draft 2020-12, vendored in tests/fixtures/compose-spec/) and Docker Compose v2
itself accepts it (`docker compose config -q`), with the project name ling_compose uses."""

from __future__ import annotations

import json
import shutil
from functools import cache
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml

from ling_compose import catalog
from ling_compose.compose import compile_stack, render_yaml
from ling_compose.compose.stack_dir import write_stack_dir
from ling_compose.load import Overrides, load_stack
from tests.external import compose

SCHEMA = Path(__file__).resolve().parents[1] / "fixtures" / "compose-spec" / "compose-spec.json"


@cache
def validator() -> jsonschema.Draft202012Validator:
    schema = json.loads(SCHEMA.read_text(encoding="utf-8"))
    assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    jsonschema.Draft202012Validator.check_schema(schema)
    return jsonschema.Draft202012Validator(schema)


def schema_errors(data: Any) -> list[str]:
    return [
        f"{'.'.join(map(str, e.absolute_path))}: {e.message}" for e in validator().iter_errors(data)
    ]


def rendered() -> list[tuple[str, str]]:
    cases = [
        (name, render_yaml(compile_stack(load_stack(name)).project))
        for name in catalog.builtin_profiles()
    ]
    variant = load_stack(
        "h100-fp8", Overrides(bind="0.0.0.0", api_key_env="LING_KEY", context_length=262144)
    )
    cases.append(("h100-fp8+overrides", render_yaml(compile_stack(variant).project)))
    # --with-monitoring, once per engine (llama.cpp with its key: Prometheus reads it as a secret)
    for name, overrides in (
        ("h200-fp8", Overrides(monitoring=True)),
        ("h200-bf16", Overrides(monitoring=True)),
        ("4090-int4", Overrides(monitoring=True, api_key_env="LING_KEY")),
    ):
        stack = load_stack(name, overrides)
        cases.append((f"{name}+monitoring", render_yaml(compile_stack(stack).project)))
    return cases


CASES = rendered()


@pytest.mark.parametrize(("name", "text"), CASES, ids=[c[0] for c in CASES])
def test_valid_against_the_official_compose_spec_schema(name: str, text: str) -> None:
    assert schema_errors(yaml.safe_load(text)) == []


def test_the_schema_check_can_fail() -> None:
    """The validator really applies the schema: keys and values Compose refuses are caught."""
    data = yaml.safe_load(CASES[0][1])
    data["services"]["server"]["deploy"]["resources"]["reservations"]["devices"][0]["count"] = None
    data["services"]["server"]["healthcheck"]["interval"] = 30  # Compose wants a duration string
    data["services"]["server"]["pull_policy"] = "sometimes"
    errors = schema_errors(data)
    assert len(errors) == 3, errors


@pytest.mark.parametrize(("name", "text"), CASES, ids=[c[0] for c in CASES])
def test_docker_compose_v2_config_accepts_it(name: str, text: str, tmp_path: Path) -> None:
    path = tmp_path / "docker-compose.yml"
    path.write_text(text)
    env = {"LING_KEY": "x", "GRAFANA_ADMIN_PASSWORD": "pw"}
    result = compose(["-f", str(path), "config", "-q"], env=env)
    assert result.returncode == 0, result.stderr


@pytest.mark.parametrize("profile", ["h100-fp8", "4090-int4"])
def test_any_folder_gives_the_project_name_ling_compose_uses(profile: str, tmp_path: Path) -> None:
    """One stack, one project: Compose v2 names it after `name:`, not after the folder, also
    with the .env made from .env.example (which must not set another COMPOSE_PROJECT_NAME)."""
    compiled = compile_stack(load_stack(profile))
    folder = tmp_path / "some-other-folder"
    write_stack_dir(compiled, folder)
    shutil.copy(folder / ".env.example", folder / ".env")
    result = compose(["config", "--format", "json"], cwd=folder)
    assert result.returncode == 0, result.stderr
    model = json.loads(result.stdout)
    assert model["name"] == compiled.project.name == f"ling-{profile}"
    assert model["volumes"]["model-cache"]["name"] == f"ling-{profile}_model-cache"
    assert model["networks"]["default"]["name"] == f"ling-{profile}_default"


def test_a_monitored_stack_folder_asks_for_the_grafana_password(tmp_path: Path) -> None:
    """The folder's .env.example names every variable Compose needs: with monitoring, Grafana's
    password, which `docker compose` refuses to go without (there is no default)."""
    write_stack_dir(compile_stack(load_stack("h200-fp8")), tmp_path / "plain")
    assert "GRAFANA_ADMIN_PASSWORD" not in (tmp_path / "plain" / ".env.example").read_text()
    folder = tmp_path / "monitored"
    write_stack_dir(compile_stack(load_stack("h200-fp8", Overrides(monitoring=True))), folder)
    example = (folder / ".env.example").read_text()
    assert "\nGRAFANA_ADMIN_PASSWORD=\n" in example
    shutil.copy(folder / ".env.example", folder / ".env")
    refused = compose(["config", "-q"], cwd=folder)
    assert refused.returncode != 0 and "set GRAFANA_ADMIN_PASSWORD" in refused.stderr
    filled = example.replace("\nGRAFANA_ADMIN_PASSWORD=\n", "\nGRAFANA_ADMIN_PASSWORD=pw\n")
    (folder / ".env").write_text(filled)
    accepted = compose(["config", "--format", "json"], cwd=folder)
    assert accepted.returncode == 0, accepted.stderr
    model = json.loads(accepted.stdout)
    assert sorted(model["services"]) == ["grafana", "prometheus", "server"]
