"""Engine options: the `backend:` of a profile. One model per engine, each defined in its engine
module (engines/*.py) on the base below; a profile's `engine:` picks the registered one.

The union of option models is not written down here: it is whatever engines/registry.py holds,
so registering an engine (a built-in or a test's) makes its options valid in profiles, in
overrides and in `ling-compose schema` without any change to this module.
"""

import functools
import re
from typing import TYPE_CHECKING, Annotated, Any, Union

from pydantic import (
    AfterValidator,
    Field,
    GetJsonSchemaHandler,
    SerializeAsAny,
    ValidationError,
    ValidatorFunctionWrapHandler,
    WrapValidator,
)
from pydantic.json_schema import JsonSchemaValue
from pydantic_core import CoreSchema

if TYPE_CHECKING:
    from pydantic import TypeAdapter

from ling_compose.engines import registry
from ling_compose.models.base import StrictModel

# Docker's image reference grammar, from github.com/distribution/reference regexp.go (commit
# 00a09fa) and reference.go (NameTotalLengthMax = 255): the engine and Compose refuse anything
# else with "invalid reference format". Go's \w is ASCII, hence the explicit classes.
_PATH_COMPONENT = r"[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*"
_DOMAIN_COMPONENT = r"(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])"
_DOMAIN = rf"(?:{_DOMAIN_COMPONENT}(?:\.{_DOMAIN_COMPONENT})*|\[[a-fA-F0-9:]+\])(?::[0-9]+)?"
_NAME = rf"(?:{_DOMAIN}/)?{_PATH_COMPONENT}(?:/{_PATH_COMPONENT})*"
_IMAGE_REFERENCE = (  # compiled by `re` on the first image checked
    rf"(?P<name>{_NAME})(?::[A-Za-z0-9_][A-Za-z0-9_.-]{{0,127}})?"
    r"(?:@[A-Za-z][A-Za-z0-9]*(?:[-_+.][A-Za-z][A-Za-z0-9]*)*:[0-9a-fA-F]{32,})?"
)
IMAGE_NAME_MAX = 255


def check_image_reference(value: str) -> str:
    """`value` if Docker accepts it as an image reference, else ValueError saying why."""
    match = re.fullmatch(_IMAGE_REFERENCE, value)
    if match is None:
        raise ValueError(
            "not a Docker image reference: [REGISTRY[:PORT]/]NAME[:TAG][@DIGEST], NAME in "
            "lower case (letters, digits, '.', '_', '-' between them, '/' between parts), "
            "no spaces"
        )
    if len(match.group("name")) > IMAGE_NAME_MAX:
        raise ValueError(f"image name longer than {IMAGE_NAME_MAX} characters")
    return value


def check_engine_name(value: str) -> str:
    """`value` if an engine of that name is registered (for overrides; profiles dispatch)."""
    if value not in registry.names():
        raise ValueError(f"unknown engine {value!r}; known: {', '.join(registry.names())}")
    return value


ImageReference = Annotated[str, AfterValidator(check_image_reference)]
EngineName = Annotated[str, AfterValidator(check_engine_name)]
ParallelSize = Annotated[int, Field(ge=1, le=8)]  # shared by profile files and overrides
# A path as the user typed it (checked for a readable GGUF file by the loader): one line, and no
# longer than Linux's PATH_MAX.
LocalPath = Annotated[str, Field(min_length=1, max_length=4096, pattern=r"^[^\x00-\x1f]+$")]


class EngineOptions(StrictModel):
    """What every engine's options have; each engine's model adds its own and narrows `engine`
    to its name (a Literal with that default)."""

    version: str | None = Field(
        default=None, description="Engine version; default: the version ling_compose pins"
    )
    image: ImageReference | None = Field(
        default=None, description="Image override; default: the pinned image"
    )
    tensor_parallel: ParallelSize | None = Field(
        default=None, description="Default: GPU count ÷ pipeline_parallel"
    )
    pipeline_parallel: ParallelSize = 1
    engine: str  # after the shared fields: a profile's dump lists them first


@functools.cache
def _union(classes: tuple[type[EngineOptions], ...]) -> "TypeAdapter[Any]":
    """The options models of the registered engines as one union discriminated by `engine`
    (cached per set of engines: registering one builds a new adapter). Needed only for the
    schema and for an error's message, hence the import here."""
    from pydantic import TypeAdapter

    union: Any = Union[classes]  # noqa: UP007 (a runtime tuple of classes: the subscript form)
    return TypeAdapter(Annotated[union, Field(discriminator="engine")])


def _registered() -> "TypeAdapter[Any]":
    return _union(registry.options_models())


def _dispatch(value: Any, handler: ValidatorFunctionWrapHandler) -> Any:
    """An options object of a registered engine as it is; a mapping validated by the model of
    the engine it names (so only that model is built); anything else, and any mapping that
    model refuses, by the union, so that errors read exactly as a discriminated union's."""
    if isinstance(value, EngineOptions):  # built in Python: valid if its engine is registered
        known = registry.find(value.engine)
        if known is not None and type(value) is known.options:
            return value
    engine = registry.find(value.get("engine")) if isinstance(value, dict) else None
    if engine is not None:
        try:
            return engine.options.model_validate(value)
        except ValidationError:
            pass  # the union says the same, with the engine's name in each location
    return _registered().validate_python(value)


class _RegisteredSchema:
    """JSON schema of the field: the union of the registered engines' options."""

    def __get_pydantic_json_schema__(
        self, schema: CoreSchema, handler: GetJsonSchemaHandler
    ) -> JsonSchemaValue:
        return handler(_registered().core_schema)


# The `backend:` field type: any registered engine's options, serialised with its own fields.
BackendOptions = Annotated[
    EngineOptions, WrapValidator(_dispatch), SerializeAsAny(), _RegisteredSchema()
]
