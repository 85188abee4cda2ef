"""The 24 GB stacks build what they say: a pinned fork commit, build args the fork's Dockerfile
declares, an nvidia/cuda base that exists and whose nvcc takes the Dockerfile's gcc, no pull,
and flags checked against the fork's own option table (facts: tests/fixtures/llamacpp-fork/)."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest

from ling_compose.compose import compile_stack, render_yaml
from ling_compose.engines import llamacpp
from ling_compose.flags.catalog import load_catalog
from ling_compose.hardware.cuda import min_driver_for_cuda
from ling_compose.load import Overrides, load_stack
from ling_compose.models.compose import Build

FACTS: dict[str, Any] = json.loads(
    (
        Path(__file__).resolve().parents[1] / "fixtures" / "llamacpp-fork" / "build-facts.json"
    ).read_text(encoding="utf-8")
)
PROFILES = ["3090-int4", "4090-int4"]


def build_problems(build: Build) -> list[str]:
    """What would keep this build from working with the fork's Dockerfile, per the facts."""
    dockerfile = FACTS["dockerfile"]
    declared: dict[str, str] = dockerfile["args"]
    problems = [f"no ARG {name} in the Dockerfile" for name in build.args if name not in declared]
    if build.target not in dockerfile["stages"]:
        problems.append(f"no stage {build.target!r} in the Dockerfile")
    values = {**declared, **build.args}
    for base in ("BASE_CUDA_DEV_CONTAINER", "BASE_CUDA_RUN_CONTAINER"):
        image = re.sub(r"\$\{(\w+)\}", lambda m: values[m.group(1)], values[base])
        tag = image.removeprefix("nvidia/cuda:")
        if tag not in FACTS["nvidia_cuda_tags"]["ubuntu24.04"]:
            problems.append(f"{image} is not an nvidia/cuda tag")
    gcc = int(dockerfile["cuda_host_compiler"].rsplit("-", 1)[1])
    cuda = ".".join(values["CUDA_VERSION"].split(".")[:2])
    nvcc = FACTS["nvcc_newest_gcc"].get(cuda)
    if nvcc is None:
        problems.append(f"no nvcc fact for CUDA {cuda}")
    elif nvcc["newest_gcc"] < gcc:
        problems.append(f"nvcc {cuda} rejects gcc {gcc} (newest it takes: {nvcc['newest_gcc']})")
    return problems


@pytest.mark.parametrize("profile", PROFILES)
def test_build_args_exist_and_the_base_image_exists_and_compiles(profile: str) -> None:
    build = compile_stack(load_stack(profile)).project.services["server"].build
    assert build is not None
    assert build.dockerfile == FACTS["dockerfile"]["path"]
    assert build_problems(build) == []


def test_the_check_rejects_what_the_stacks_passed_before() -> None:
    """CUDA 12.4.0 (the earlier default) has no Ubuntu 24.04 image and its nvcc rejects gcc 14;
    an ARG the Dockerfile lacks would be ignored by the build."""
    before = Build(
        context="x",
        target="server",
        args={"CUDA_VERSION": "12.4.0", "CUDA_DOCKER_ARCH": "89", "GCC_VERSION": "12"},
    )
    problems = build_problems(before)
    assert "no ARG GCC_VERSION in the Dockerfile" in problems
    assert "nvidia/cuda:12.4.0-devel-ubuntu24.04 is not an nvidia/cuda tag" in problems
    assert "nvcc 12.4 rejects gcc 14 (newest it takes: 13)" in problems


@pytest.mark.parametrize("profile", PROFILES)
def test_a_pinned_commit_built_locally_and_never_pulled(profile: str) -> None:
    compiled = compile_stack(load_stack(profile))
    service = compiled.project.services["server"]
    assert service.build is not None
    url, _, ref = service.build.context.partition("#")
    assert url == "https://github.com/ljubomirj/llama.cpp.git"
    assert re.fullmatch(r"[0-9a-f]{40}", ref), "Docker needs the full hash of a commit"
    assert service.pull_policy == "build"
    # `localhost/` is no registry namespace anyone could register to serve a look-alike image.
    assert service.image.split("/")[0] == "localhost"
    text = render_yaml(compiled.project)
    assert ref in text.split("name:")[0], "the header names the commit"
    cuda = service.build.args["CUDA_VERSION"]
    driver = min_driver_for_cuda(cuda)
    assert driver is not None and f"NVIDIA driver >= {driver}" in " ".join(compiled.project.header)


@pytest.mark.parametrize("profile", PROFILES)
def test_version_label_and_flags_are_the_forks(profile: str) -> None:
    compiled = compile_stack(load_stack(profile))
    service = compiled.project.services["server"]
    version = compiled.project.metadata["engine_version"]
    assert service.labels["io.ling-compose.engine-version"] == version
    assert service.build is not None
    ref = service.build.context.partition("#")[2]
    # The fork's upstream base (not upstream's newest b11434) and the commit that is built.
    assert version == f"b9049-lj-{ref[:7]}"
    catalog = load_catalog("llamacpp", version)
    assert "github.com/ljubomirj/llama.cpp" in catalog.source and ref in catalog.source
    used = [arg for arg in service.command if arg.startswith("-")]
    assert used and all(catalog.option(arg) is not None for arg in used), used
    # The fork's own option: MTP drafting, which upstream b11434 does not name.
    spec_type = catalog.option("--spec-type")
    assert spec_type is not None and spec_type.choices and "mtp" in spec_type.choices


def test_a_self_built_image_keeps_the_forks_flag_catalogue() -> None:
    stack = load_stack("4090-int4", Overrides(image="registry.example/me/llama-fork:1"))
    compiled = compile_stack(stack)
    service = compiled.project.services["server"]
    assert service.build is None and service.pull_policy is None
    assert compiled.project.metadata["engine_version"] == llamacpp.FORK_VERSION
