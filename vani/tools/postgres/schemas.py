"""The four tools as the LLM sees them, generated from the introspected schema.

Table names and foreign keys are JSON-schema enums; a column with an enum type or an enum-like
CHECK constraint gets its own filter variant whose ``value`` is an enum. See
``docs/database.md``.
"""

from __future__ import annotations

from collections.abc import Iterable

from vani.frames import JSONObject, JSONValue
from vani.processors.aggregators.function_schema import FunctionSchema
from vani.tools.postgres.request import AGGREGATES, OPS
from vani.tools.postgres.schema import DatabaseSchema

__all__ = ["tool_schemas"]

_MAX_ENUM_VARIANTS = 20
_ENUM_OPS = ["=", "!=", "in", "not_in", "is_null", "is_not_null"]


def _strs(values: Iterable[str]) -> list[JSONValue]:
    return list(values)


def _filters(schema: DatabaseSchema, tables: list[str]) -> JSONObject:
    generic: JSONObject = {
        "type": "object",
        "properties": {
            "column": {
                "type": "string",
                "description": "a column of the table, or table.column for a joined table",
            },
            "op": {"type": "string", "enum": _strs(OPS)},
            "value": {
                "description": "a string, number or boolean; a list for in/not_in; [low, high]"
                " for between; nothing for is_null/is_not_null; % and _ are wildcards in"
                " like/ilike (ilike ignores case)",
            },
        },
        "required": ["column", "op"],
    }
    # Columns with the same allowed values share one variant.
    by_values: dict[tuple[str, ...], list[str]] = {}
    for name in tables:
        for column in schema.tables[name].columns.values():
            if column.enum_values:
                names = by_values.setdefault(column.enum_values, [])
                for label in (column.name, f"{name}.{column.name}"):
                    if label not in names:
                        names.append(label)
    variants: list[JSONValue] = []
    for values, names in list(by_values.items())[:_MAX_ENUM_VARIANTS]:
        enum: JSONObject = {"type": "string", "enum": _strs(values)}
        variants.append(
            {
                "type": "object",
                "properties": {
                    "column": {"type": "string", "enum": _strs(names)},
                    "op": {"type": "string", "enum": _strs(_ENUM_OPS)},
                    "value": {"anyOf": [enum, {"type": "array", "items": enum}]},
                },
                "required": ["column", "op"],
            }
        )
    items: JSONObject = {"anyOf": [*variants, generic]} if variants else generic
    return {
        "type": "array",
        "description": "conditions that must all hold",
        "items": items,
    }


def _order_by() -> JSONObject:
    return {
        "type": "array",
        "items": {
            "type": "object",
            "properties": {
                "column": {"type": "string"},
                "direction": {"type": "string", "enum": _strs(["asc", "desc"])},
            },
            "required": ["column"],
        },
    }


def _table_list(schema: DatabaseSchema, names: list[str]) -> str:
    parts = []
    for name in names:
        description = schema.tables[name].description
        parts.append(f"{name} ({description})" if description else name)
    return "; ".join(parts)


def tool_schemas(schema: DatabaseSchema, max_rows: int) -> list[FunctionSchema]:
    """``db_schema``, ``db_query``, ``db_search`` (when a table has an embedding) and
    ``db_refine``."""
    tables = sorted(schema.tables)
    searchable = [t for t in tables if schema.tables[t].vector_columns]
    table_enum: JSONObject = {"type": "string", "enum": _strs(tables)}
    limit: JSONObject = {"type": "integer", "minimum": 1, "maximum": max_rows}
    result = [
        FunctionSchema(
            name="db_schema",
            description="The database's tables, columns (with types and allowed values) and"
            " the foreign keys that db_query can join along. Call it before querying a table"
            " you do not know.",
            properties={"table": {**table_enum, "description": "only this table"}},
        )
    ]
    query_props: dict[str, JSONValue] = {
        "table": table_enum,
        "columns": {
            "type": "array",
            "items": {"type": "string"},
            "description": "columns to return (default: all); table.column for joined tables",
        },
        "filters": _filters(schema, tables),
        "join": {
            "type": "array",
            "items": {"type": "string", "enum": _strs(sorted(schema.foreign_keys))},
            "description": "foreign keys to join along (see db_schema)",
        },
        "aggregate": {
            "type": "array",
            "items": {
                "type": "object",
                "properties": {
                    "function": {"type": "string", "enum": _strs(AGGREGATES)},
                    "column": {"type": "string", "description": "omit for count of rows"},
                },
                "required": ["function"],
            },
            "description": "compute these instead of returning rows",
        },
        "group_by": {
            "type": "array",
            "items": {"type": "string"},
            "description": "with aggregate: one result row per distinct value of these",
        },
        "order_by": _order_by(),
        "limit": {**limit, "description": f"at most {max_rows}"},
    }
    if not schema.foreign_keys:
        del query_props["join"]
    result.append(
        FunctionSchema(
            name="db_query",
            description="Read rows from the database, or counts/sums/averages/minimums/maximums"
            f" of them, without SQL. Tables: {_table_list(schema, tables)}. You get a row count,"
            " the first rows and a result_set id for db_refine.",
            properties=query_props,
            required=["table"],
        )
    )
    if searchable:
        result.append(
            FunctionSchema(
                name="db_search",
                description="Find the rows whose meaning is closest to a text (semantic"
                " search, e.g. a dish the caller describes in their own words). Searchable"
                f" tables: {_table_list(schema, searchable)}.",
                properties={
                    "table": {"type": "string", "enum": _strs(searchable)},
                    "text": {"type": "string", "description": "what to look for, in words"},
                    "top_k": {**limit, "description": "how many rows (default 5)"},
                    "filters": _filters(schema, searchable),
                    "columns": {"type": "array", "items": {"type": "string"}},
                },
                required=["table", "text"],
            )
        )
    result.append(
        FunctionSchema(
            name="db_refine",
            description="Narrow a previous result (its result_set id) with more filters, a new"
            " order or a smaller limit.",
            properties={
                "result_set": {"type": "string", "description": "e.g. rs1"},
                "filters": _filters(schema, tables),
                "order_by": _order_by(),
                "limit": limit,
            },
            required=["result_set"],
        )
    )
    return result
