"""FunctionSchema: from JSON schema, from typed functions, to OpenAI's tool format."""

from __future__ import annotations

import enum
from typing import Literal

import pytest

from vani.errors import ConfigurationError
from vani.processors.aggregators import FunctionSchema, ToolsSchema
from vani.processors.aggregators.function_schema import normalize_tools

WEATHER = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "Weather in a city.",
        "parameters": {
            "type": "object",
            "properties": {"city": {"type": "string"}},
            "required": ["city"],
        },
        "strict": True,
    },
}


class Unit(enum.Enum):
    C = "c"
    F = "f"


async def get_weather(
    params: object,
    city: str,
    days: int = 1,
    unit: Unit = Unit.C,
    mode: Literal["brief", "full"] = "brief",
    tags: list[str] | None = None,
    extra: dict[str, float] | None = None,
    precise: bool = False,
    ratio: float = 0.5,
) -> str:
    """Weather for a city,
    over some days.

    Args:
        params: the call (not an LLM argument).
        city: the city name,
            e.g. Pune.
        days: how many days.

    Returns:
        a forecast.
    """
    return ""


def test_openai_tool_dict_round_trips() -> None:
    schema = FunctionSchema.from_json_schema(WEATHER)
    assert schema.name == "get_weather" and schema.required == ["city"] and schema.strict
    assert schema.to_openai() == WEATHER


def test_function_dict_and_bare_parameters_are_accepted() -> None:
    inner = WEATHER["function"]
    assert FunctionSchema.from_json_schema(inner).name == "get_weather"  # type: ignore[arg-type]
    bare = FunctionSchema.from_json_schema(
        inner["parameters"],  # type: ignore[index]
        name="w",
        description="d",
    )
    assert (bare.name, bare.description, bare.required) == ("w", "d", ["city"])


def test_typed_function_and_docstring_describe_the_parameters() -> None:
    schema = FunctionSchema.from_function(get_weather)
    assert schema.name == "get_weather"
    assert schema.description == "Weather for a city, over some days."
    assert list(schema.properties) == [
        "city",
        "days",
        "unit",
        "mode",
        "tags",
        "extra",
        "precise",
        "ratio",
    ]
    assert schema.required == ["city"]
    p = schema.properties
    assert p["city"] == {"type": "string", "description": "the city name, e.g. Pune."}
    assert p["days"] == {"type": "integer", "description": "how many days."}
    assert p["unit"] == {"type": "string", "enum": ["c", "f"]}
    assert p["mode"] == {"enum": ["brief", "full"], "type": "string"}
    assert p["tags"] == {"type": "array", "items": {"type": "string"}}
    assert p["extra"] == {"type": "object"}
    assert p["precise"] == {"type": "boolean"} and p["ratio"] == {"type": "number"}


def test_unsupported_annotations_and_bad_names_are_configuration_errors() -> None:
    def bad(x: complex) -> None:
        """Nope."""

    with pytest.raises(ConfigurationError, match="cannot describe the annotation"):
        FunctionSchema.from_function(bad)
    with pytest.raises(ConfigurationError, match="function name"):
        FunctionSchema(name="has space")
    with pytest.raises(ConfigurationError, match="not among its properties"):
        FunctionSchema(name="f", required=["missing"])


def test_normalize_accepts_mixed_kinds_and_rejects_duplicates() -> None:
    own = FunctionSchema(name="own", description="mine")
    tools = normalize_tools([own, WEATHER])
    assert tools == [own, FunctionSchema.from_json_schema(WEATHER)]
    assert normalize_tools([get_weather]) == [FunctionSchema.from_function(get_weather)]
    with pytest.raises(ConfigurationError, match="duplicates"):
        normalize_tools([WEATHER, get_weather])
    assert normalize_tools(ToolsSchema(standard_tools=[own])) == [own]
    assert normalize_tools(None) == []
    with pytest.raises(ConfigurationError, match="duplicates"):
        normalize_tools([WEATHER, WEATHER])
    with pytest.raises(ConfigurationError, match="expected a list of tools"):
        normalize_tools(WEATHER)
