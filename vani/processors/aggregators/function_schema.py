"""Tool schemas: what the LLM is told about a function it may call.

A :class:`FunctionSchema` is built by hand, from a JSON-schema dict (OpenAI's tool format or
just the ``parameters`` object), or from a typed Python function and its docstring::

    async def get_weather(params: FunctionCallParams, city: str, unit: Literal["c", "f"] = "c"):
        \"\"\"Current weather in a city.

        Args:
            city: the city name, e.g. Pune.
            unit: temperature unit.
        \"\"\"

    FunctionSchema.from_function(get_weather).to_openai()
    # {"type": "function", "function": {"name": "get_weather", "description": "Current weather
    #  in a city.", "parameters": {"type": "object", "properties": {"city": {"type": "string",
    #  "description": "the city name, e.g. Pune."}, "unit": {...enum...}}, "required": ["city"]}}}

Schemas are immutable and hold plain JSON, so they are safe to share between sessions.
"""

from __future__ import annotations

import enum
import inspect
import re
import types
import typing
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field

from vani.errors import ConfigurationError
from vani.frames import JSONObject, JSONValue

__all__ = ["FunctionSchema", "ToolsSchema", "normalize_tools"]

_NAME_RE = re.compile(r"^[a-zA-Z0-9_-]{1,64}$")


@dataclass(frozen=True, slots=True)
class FunctionSchema:
    """One function the LLM may call: its name, description and JSON-schema parameters.

    ``properties`` maps each parameter name to its JSON schema; ``required`` lists the names
    that must be given. ``strict`` is passed on as OpenAI's structured-outputs switch when set.
    """

    name: str
    description: str = ""
    properties: Mapping[str, JSONValue] = field(default_factory=dict)
    required: Sequence[str] = ()
    strict: bool | None = None

    def __post_init__(self) -> None:
        if not _NAME_RE.match(self.name):
            raise ConfigurationError(
                f"expected a function name of 1-64 letters, digits, '_' or '-', got {self.name!r}"
            )
        missing = [r for r in self.required if r not in self.properties]
        if missing:
            raise ConfigurationError(
                f"required parameters {missing} of {self.name!r} are not among its properties"
            )

    @property
    def parameters(self) -> JSONObject:
        """The ``parameters`` JSON schema object."""
        return {
            "type": "object",
            "properties": dict(self.properties),
            "required": list(self.required),
        }

    def to_openai(self) -> JSONObject:
        """The OpenAI Chat Completions tool: ``{"type": "function", "function": {...}}``."""
        function: JSONObject = {
            "name": self.name,
            "description": self.description,
            "parameters": self.parameters,
        }
        if self.strict is not None:
            function["strict"] = self.strict
        return {"type": "function", "function": function}

    @classmethod
    def from_json_schema(
        cls, schema: Mapping[str, JSONValue], *, name: str | None = None, description: str = ""
    ) -> FunctionSchema:
        """Build from an OpenAI tool dict, its ``function`` dict, or a ``parameters`` schema.

        With a bare ``parameters`` schema (``{"type": "object", "properties": ...}``), ``name``
        must be given.
        """
        function: Mapping[str, JSONValue] = schema
        inner = schema.get("function")
        if schema.get("type") == "function" and isinstance(inner, dict):
            function = inner
        if "parameters" in function or "name" in function:
            fn_name = function.get("name", name)
            params: JSONValue = function.get("parameters") or {}
            desc = function.get("description", description)
            strict = function.get("strict")
        else:
            fn_name, params, desc, strict = name, dict(schema), description, None
        if not isinstance(fn_name, str):
            raise ConfigurationError(f"expected a function name in the schema, got {fn_name!r}")
        if not isinstance(params, dict):
            raise ConfigurationError(
                f"expected a parameters object for {fn_name!r}, got {params!r}"
            )
        properties = params.get("properties") or {}
        required = params.get("required") or []
        if not isinstance(properties, dict) or not isinstance(required, list):
            raise ConfigurationError(
                f"expected 'properties' to be an object and 'required' a list in {fn_name!r}"
            )
        return cls(
            name=fn_name,
            description=desc if isinstance(desc, str) else "",
            properties=properties,
            required=[str(r) for r in required],
            strict=strict if isinstance(strict, bool) else None,
        )

    @classmethod
    def from_function(cls, fn: Callable[..., object], *, name: str | None = None) -> FunctionSchema:
        """Build from a typed function: parameters from its annotations, text from its docstring.

        A first parameter named ``params`` or annotated ``FunctionCallParams`` is skipped (it is
        the call's context, not an LLM argument). Parameters without a default are required.
        Supported annotations: str, int, float, bool, None-able, Literal, Enum, list[...],
        dict[str, ...]. The docstring's first paragraph is the description; a Google-style
        ``Args:`` section describes the parameters.
        """
        try:
            hints = typing.get_type_hints(fn)
        except Exception:  # unresolvable forward references: fall back to raw annotations
            hints = {}
        description, arg_docs = _parse_docstring(inspect.getdoc(fn) or "")
        properties: dict[str, JSONValue] = {}
        required: list[str] = []
        for i, param in enumerate(inspect.signature(fn).parameters.values()):
            annotation = hints.get(param.name, param.annotation)
            if i == 0 and _is_call_params(param.name, annotation):
                continue
            if param.kind in (param.VAR_POSITIONAL, param.VAR_KEYWORD):
                continue
            prop = _type_schema(annotation, f"{fn.__name__}.{param.name}")
            if param.name in arg_docs:
                prop["description"] = arg_docs[param.name]
            properties[param.name] = prop
            if param.default is inspect.Parameter.empty:
                required.append(param.name)
        return cls(
            name=name or fn.__name__,
            description=description,
            properties=properties,
            required=required,
        )


@dataclass(frozen=True, slots=True)
class ToolsSchema:
    """A list of tools, as Pipecat spells it: ``ToolsSchema(standard_tools=[...])``."""

    standard_tools: Sequence[FunctionSchema] = ()


def normalize_tools(tools: object) -> list[FunctionSchema]:
    """Turn what users pass as tools into schemas.

    Accepts None, a :class:`ToolsSchema`, or a sequence of :class:`FunctionSchema`, OpenAI
    tool dicts and typed functions (see :meth:`FunctionSchema.from_function`).
    """
    if tools is None:
        return []
    if isinstance(tools, ToolsSchema):
        return list(tools.standard_tools)
    if isinstance(tools, Mapping | str) or not isinstance(tools, Sequence):
        raise ConfigurationError(
            f"expected a list of tools (schemas, OpenAI dicts or functions), got {tools!r}"
        )
    result: list[FunctionSchema] = []
    for tool in tools:
        if isinstance(tool, FunctionSchema):
            result.append(tool)
        elif isinstance(tool, Mapping):
            result.append(FunctionSchema.from_json_schema(tool))
        elif callable(tool):
            result.append(FunctionSchema.from_function(tool))
        else:
            raise ConfigurationError(
                f"expected a FunctionSchema, an OpenAI tool dict or a function, got {tool!r}"
            )
    names = [t.name for t in result]
    duplicates = sorted({n for n in names if names.count(n) > 1})
    if duplicates:
        raise ConfigurationError(f"expected unique tool names, got duplicates {duplicates}")
    return result


def _is_call_params(name: str, annotation: object) -> bool:
    if name == "params":
        return True
    text = annotation if isinstance(annotation, str) else getattr(annotation, "__name__", "")
    return isinstance(text, str) and text.endswith("FunctionCallParams")


_SIMPLE: dict[object, str] = {str: "string", int: "integer", float: "number", bool: "boolean"}


def _type_schema(annotation: object, where: str) -> dict[str, JSONValue]:
    """The JSON schema of one annotation (``where`` names it in errors)."""
    if annotation is inspect.Parameter.empty or annotation is typing.Any:
        return {}
    if annotation in _SIMPLE:
        return {"type": _SIMPLE[annotation]}
    origin = typing.get_origin(annotation)
    args = typing.get_args(annotation)
    if origin in (typing.Union, types.UnionType):
        options = [a for a in args if a is not type(None)]
        if len(options) == 1:
            return _type_schema(options[0], where)
        return {"anyOf": [_type_schema(a, where) for a in options]}
    if origin is typing.Literal:
        values: list[JSONValue] = [a for a in args if isinstance(a, str | int | float | bool)]
        schema: dict[str, JSONValue] = {"enum": values}
        if all(isinstance(v, str) for v in values):
            schema["type"] = "string"
        return schema
    if isinstance(annotation, type) and issubclass(annotation, enum.Enum):
        return {"type": "string", "enum": [str(m.value) for m in annotation]}
    if annotation is list or origin in (list, Sequence, tuple):
        item = _type_schema(args[0], where) if args else {}
        return {"type": "array", "items": item}
    if annotation is dict or origin in (dict, Mapping):
        return {"type": "object"}
    raise ConfigurationError(
        f"cannot describe the annotation {annotation!r} of {where} as JSON schema;"
        " expected str, int, float, bool, Literal, Enum, list or dict"
    )


_ARG_LINE = re.compile(r"^\s*(\*{0,2}\w+)\s*(\([^)]*\))?\s*:\s*(.*)$")


def _parse_docstring(doc: str) -> tuple[str, dict[str, str]]:
    """The description (first paragraph) and per-argument text of a Google-style docstring."""
    paragraphs = doc.strip().split("\n\n")
    description = " ".join(paragraphs[0].split()) if paragraphs and paragraphs[0] else ""
    if description.lower().startswith(("args:", "arguments:", "parameters:")):
        description = ""
    args: dict[str, str] = {}
    current: str | None = None
    in_args = False
    for line in doc.splitlines():
        stripped = line.strip()
        if stripped.lower() in ("args:", "arguments:", "parameters:"):
            in_args, current = True, None
            continue
        if not in_args:
            continue
        if stripped.endswith(":") and not line.startswith((" ", "\t")):
            break  # the next section (Returns:, Raises:...)
        match = _ARG_LINE.match(line)
        if match and line[: len(line) - len(line.lstrip())].count(" ") <= 4:
            current = match.group(1).lstrip("*")
            args[current] = match.group(3).strip()
        elif current and stripped:
            args[current] = f"{args[current]} {stripped}"
    return description, args
