"""render_yaml writes exactly what PyYAML's own emitter writes (the reference: its safe
representer, multi-line strings as literal blocks), whichever emitter it uses: libyaml's for the
built-in profiles, PyYAML's where libyaml would fold a long escaped value at other columns; and
what it writes reads back as the data."""

from __future__ import annotations

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ling_compose import catalog
from ling_compose.compose import compile_stack, render_yaml
from ling_compose.compose.render import FAST_DUMPER, ComposeDumper, _libyaml_writes_the_same
from ling_compose.load import Overrides, load_stack
from ling_compose.safe_text import lines


def reference(project: object) -> str:
    """Comments, then the data through PyYAML's pure-Python emitter."""
    header = "".join(
        f"# {line}\n".replace("# \n", "#\n")
        for entry in project.header  # type: ignore[attr-defined]
        for line in lines(entry)
    )
    body = yaml.dump(
        project.to_compose(),  # type: ignore[attr-defined]
        Dumper=ComposeDumper,
        sort_keys=False,
        default_flow_style=False,
        width=4096,
    )
    return header + body


@pytest.mark.parametrize("name", list(catalog.builtin_profiles()))
def test_every_profile_renders_as_safe_dump_writes_it(name: str) -> None:
    project = compile_stack(load_stack(name)).project
    assert render_yaml(project) == reference(project)
    if FAST_DUMPER is not None:  # the fast emitter is the one used for them
        assert _libyaml_writes_the_same(project.to_compose())


def test_a_long_escaped_argument_is_written_by_pyyaml() -> None:
    # libyaml folds this value's 12,000 escaped characters where PyYAML does not.
    project = compile_stack(
        load_stack("h200-fp8", Overrides(extra_args=["--chat-template=" + "é" * 3000]))
    ).project
    data = project.to_compose()
    assert not _libyaml_writes_the_same(data)
    if FAST_DUMPER is not None:
        fast = yaml.dump(data, Dumper=FAST_DUMPER, sort_keys=False, width=4096)
        assert fast != yaml.safe_dump(data, sort_keys=False, width=4096)
    assert render_yaml(project) == reference(project)


ARGUMENTS = st.lists(
    st.text(alphabet=st.characters(blacklist_categories=("Cs",)), min_size=1, max_size=1500),
    max_size=3,
)


@settings(max_examples=60, deadline=None, suppress_health_check=list(HealthCheck))
@given(extra=ARGUMENTS)
def test_any_extra_argument_renders_as_safe_dump_writes_it(extra: list[str]) -> None:
    # As values of a flag that takes any text (the lint is not what this tests).
    args = [a for value in extra for a in ("--alias", value)]
    project = compile_stack(load_stack("4090-int4")).project
    service = project.services["server"]
    changed = project.model_copy(
        update={
            "services": {"server": service.model_copy(update={"command": service.command + args})}
        }
    )
    text = render_yaml(changed)
    assert text == reference(changed)
    assert yaml.safe_load(text) == changed.to_compose()
