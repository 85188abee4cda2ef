"""An engine is one module: a toy engine registered here (its own options model, command, plan
constants and flag catalogue; nothing else of ling_compose changed) is valid in profiles and
overrides, plans, compiles, validates, is described by `schema` and offered by `--help`."""

from __future__ import annotations

import contextlib
import io
import json
from collections.abc import Iterator
from pathlib import Path
from types import MappingProxyType
from typing import TYPE_CHECKING, Literal

import pytest
import yaml
from pydantic import Field, ValidationError

from ling_compose.cli import build_parser, main
from ling_compose.compose import compile_stack
from ling_compose.engines import registry
from ling_compose.engines.base import ApiKeyPlace, Engine, EngineCommand, ReportFigure, api_key_ref
from ling_compose.errors import FlagError
from ling_compose.flags import lint
from ling_compose.flags.catalog import FlagCatalog, FlagOption
from ling_compose.flags.validate import validate_file
from ling_compose.load import Overrides, load_stack, resolve
from ling_compose.models.options import EngineOptions
from ling_compose.models.server import Value
from ling_compose.models.stack import ProfileSpec
from ling_compose.planning.fit import make_plan

if TYPE_CHECKING:
    from ling_compose.models.plan import Plan
    from ling_compose.models.stack import Stack


class ToyOptions(EngineOptions):
    engine: Literal["toy"] = "toy"
    gpu_fraction: float = Field(default=0.5, gt=0.1, le=0.9)


def _option(name: str, *, value: bool = True, kind: str | None = "str") -> FlagOption:
    return FlagOption(names=(name,), takes_value=value, type=kind if value else None)


TOY_CATALOG = FlagCatalog(
    backend="toy",
    version="1.0",
    image="example/toy-server:1.0",
    source="this test",
    generated_by="by hand",
    generated_on="2026-12-01",
    positional=("model",),
    options=(
        _option("--port", kind="int"),
        _option("--context", kind="int"),
        _option("--sequences", kind="int"),
        _option("--tool-parser"),
        _option("--key"),
        _option("--fast", value=False),
    ),
)


class Toy(Engine):
    name = "toy"
    display_name = "Toy"
    options = ToyOptions
    pinned_version = "1.0"
    port = 9000
    health_path = "/ready"
    image_repositories = ("example/toy-server",)
    image_template = "example/toy-server:{version}"
    api_key_place = ApiKeyPlace(flag="--key")
    activation_reserve_gib = 2.0
    state_bytes_per_value = 2
    state_note = "bf16, toy's"
    cache_pool = "shared"
    parser_rules = lint.ARGPARSE._replace(abbreviations=False)
    tool_call_parsers = MappingProxyType({("hermes_json", "1.0"): "hermes"})
    report_figures = (ReportFigure("kv_cache_gib", "KV cache", "GiB"),)
    tool_call_hint = "the toy parses tool calls with --tool-parser hermes"
    tool_call_flags = "--tool-parser hermes"

    def command(self, stack: Stack, plan: Plan) -> EngineCommand:
        serving = stack.serving
        args: list[Value] = [stack.checkpoint.hf_repo, "--port", str(self.port)]
        args += ["--context", str(serving.context_length)]
        args += ["--sequences", str(serving.concurrency), "--tool-parser", "hermes"]
        if serving.api_key_env:
            args += ["--key", api_key_ref(serving.api_key_env)]
        return self.finish(stack, self.version_of(stack.backend), args)

    def usable_memory(self, options: EngineOptions, total_gib: float) -> tuple[float, str]:
        assert isinstance(options, ToyOptions)
        return total_gib * options.gpu_fraction, f"{options.gpu_fraction:.2f} x {total_gib:.1f}"

    def planned_figures(self, plan: Plan) -> dict[str, float]:
        return {"kv_cache_gib": round(plan.gpu.cache_budget, 2)}

    def flag_catalog(self, version: str) -> FlagCatalog:
        if version != TOY_CATALOG.version:
            raise FlagError(f"no flag catalogue for toy {version}")
        return TOY_CATALOG


TOY_PROFILE = {
    "description": "The toy engine on one H200",
    "hardware": {"gpu": "h200", "count": 1},
    "checkpoint": "ling-2.6-flash-fp8",
    "backend": {"engine": "toy", "gpu_fraction": 0.8},
    "serving": {"context_length": 32768, "concurrency": 4, "api_key_env": "TOY_KEY"},
}


@pytest.fixture
def toy() -> Iterator[Toy]:
    with registry.registered(Toy()) as engine:
        yield engine


def _run(argv: list[str]) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = main(argv)
    return code, out.getvalue(), err.getvalue()


def test_a_toy_profile_validates_plans_and_compiles(toy: Toy) -> None:
    stack = resolve("toy-h200", ProfileSpec.model_validate(TOY_PROFILE))
    assert isinstance(stack.backend, ToyOptions) and stack.backend.gpu_fraction == 0.8
    plan = make_plan(stack)
    assert plan.fits, plan.problems
    assert plan.engine == "toy"
    assert plan.gpu.usable == pytest.approx(0.8 * plan.gpu.total)  # the toy's own share
    assert plan.gpu.reserve == 2.0 and plan.gpu.state_note == "bf16, toy's"
    compiled = compile_stack(stack)
    service = compiled.service
    assert service.image == "example/toy-server:1.0"
    assert service.command[:2] == ["inclusionAI/Ling-2.6-flash-fp8", "--port"]
    assert service.command[-2:] == ["--key", "${TOY_KEY:?set TOY_KEY to the API key}"]
    assert service.ports[0].to_compose() == "127.0.0.1:9000:9000"
    assert service.healthcheck is not None
    assert service.healthcheck.test[-1] == "http://localhost:9000/ready"
    planned = compiled.project.metadata["planned_kv_cache_gib"]
    assert float(planned) == round(plan.gpu.cache_budget, 2)


def test_the_toy_catalogue_lints_extra_arguments(toy: Toy) -> None:
    spec = ProfileSpec.model_validate(TOY_PROFILE)
    good = spec.model_copy(
        update={"serving": spec.serving.model_copy(update={"extra_args": ("--fast",)})}
    )
    assert compile_stack(resolve("toy-h200", good)).service.command[-1] == "--fast"
    bad = spec.model_copy(
        update={"serving": spec.serving.model_copy(update={"extra_args": ("--slow",)})}
    )
    with pytest.raises(FlagError, match=r"toy 1\.0: unknown option --slow"):
        compile_stack(resolve("toy-h200", bad))


def test_validate_recognises_a_rendered_toy_file_and_toy_images(toy: Toy) -> None:
    data = compile_stack(resolve("toy-h200", ProfileSpec.model_validate(TOY_PROFILE))).project
    report = validate_file(data.to_compose())
    assert report.ok and [s.engine for s in report.services] == ["toy"]
    hand_written = {
        "services": {"s": {"image": "example/toy-server:1.0", "command": ["m", "--speed", "2"]}}
    }
    (service,) = validate_file(hand_written).services
    assert (service.engine, service.version) == ("toy", "1.0")
    assert "unknown option --speed" in service.errors[0].message


def test_the_cli_offers_renders_and_overrides_with_the_toy(toy: Toy, tmp_path: Path) -> None:
    parser = build_parser()
    subcommands = parser._subparsers._group_actions[0].choices  # type: ignore[union-attr]
    assert "toy" in subcommands["render"].format_help()  # --backend {vllm,sglang,llamacpp,toy}
    assert "toy" in subcommands["smoke"].format_help()  # --engine
    profiles = tmp_path / "profiles.yml"
    profiles.write_text(yaml.safe_dump({"profiles": {"toy-h200": TOY_PROFILE}}))
    code, out, err = _run(["render", "toy-h200", "--profiles-file", str(profiles)])
    assert code == 0, err
    assert yaml.safe_load(out)["services"]["server"]["image"] == "example/toy-server:1.0"
    # Half of one H200 (the toy's default share) does not hold the FP8 weights; the refusal
    # comes from the planner with the toy's own figures, and two GPUs fit.
    code, out, err = _run(["render", "h200-fp8", "--backend", "toy"])
    assert code == 1 and "(0.50 x 139.8)" in err and "--gpus 2" in err
    code, out, err = _run(["render", "h200-fp8", "--backend", "toy", "--gpus", "2"])
    assert code == 0, err
    assert yaml.safe_load(out)["x-ling-compose"]["engine"] == "toy"
    assert load_stack("h200-fp8", Overrides(engine="toy")).backend.engine == "toy"


def test_schema_describes_the_toy_beside_the_built_in_engines(toy: Toy) -> None:
    code, out, _ = _run(["schema"])
    assert code == 0
    schema = json.loads(out)
    backend = schema["$defs"]["ProfileSpec"]["properties"]["backend"]
    assert set(backend["discriminator"]["mapping"]) == {"vllm", "sglang", "llamacpp", "toy"}
    assert schema["$defs"]["ToyOptions"]["properties"]["gpu_fraction"]["maximum"] == 0.9


def test_without_registration_the_toy_is_unknown() -> None:
    assert "toy" not in registry.names()
    with pytest.raises(ValidationError, match="does not match any of the expected tags"):
        ProfileSpec.model_validate(TOY_PROFILE)
    code, _, err = _run(["render", "h200-fp8", "--backend", "toy"])
    assert code == 2 and "invalid choice: 'toy'" in err
