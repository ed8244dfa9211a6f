"""From the LLM's arguments to a validated :class:`Plan` (pure: no I/O, no SQL text).

Every name the LLM sends is looked up in the introspected :class:`DatabaseSchema`; anything else
is refused with a :class:`DatabaseToolError` that says what was expected. Values are checked for
shape (a scalar, a list of scalars, a pair) and size, and kept as text: the SQL builder binds each
one as a parameter and casts it to the column's type on the server. See ``docs/database.md``.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Literal

from vani.frames import JSONValue
from vani.tools.postgres.errors import DatabaseToolError, did_you_mean
from vani.tools.postgres.schema import (
    BOOLEAN,
    NUMERIC,
    Column,
    DatabaseSchema,
    ForeignKey,
    Table,
)

__all__ = [
    "AGGREGATES",
    "OPS",
    "Aggregate",
    "ColumnRef",
    "Filter",
    "Join",
    "Limits",
    "OrderBy",
    "Plan",
    "parse_filters",
    "parse_query",
]

OPS = (
    "=",
    "!=",
    "<",
    ">",
    "<=",
    ">=",
    "in",
    "not_in",
    "like",
    "ilike",
    "is_null",
    "is_not_null",
    "between",
)
AGGREGATES = ("count", "sum", "avg", "min", "max")
_OP_ALIASES = {
    "==": "=",
    "<>": "!=",
    "eq": "=",
    "ne": "!=",
    "not in": "not_in",
    "is null": "is_null",
}


@dataclass(frozen=True, slots=True)
class Limits:
    """Bounds on what one request may ask for (beyond them: a clear refusal)."""

    max_rows: int = 100
    max_value_chars: int = 1000
    max_list_items: int = 100
    max_filters: int = 20
    max_columns: int = 50
    max_joins: int = 4
    max_aggregates: int = 8
    max_order_by: int = 5
    max_text_chars: int = 2000


@dataclass(frozen=True, slots=True)
class ColumnRef:
    """A column of a table in the query (``alias`` is the table's name there)."""

    alias: str
    column: Column
    qualified: bool = False

    @property
    def label(self) -> str:
        return f"{self.alias}.{self.column.name}" if self.qualified else self.column.name


@dataclass(frozen=True, slots=True)
class Filter:
    ref: ColumnRef
    op: str
    values: tuple[str, ...] = ()  # one for comparisons, two for between, n for in/not_in


@dataclass(frozen=True, slots=True)
class Join:
    fk: ForeignKey
    table: Table
    # The columns pairs (left alias.col = right alias.col) of the ON clause.
    on: tuple[tuple[ColumnRef, ColumnRef], ...]


@dataclass(frozen=True, slots=True)
class Aggregate:
    function: str
    ref: ColumnRef | None  # None: count(*)
    alias: str


@dataclass(frozen=True, slots=True)
class OrderBy:
    ref: ColumnRef | None  # None: an aggregate's alias
    name: str
    descending: bool = False


@dataclass(slots=True)
class Plan:
    """A request the SQL builder can run: every name resolved, every value text."""

    table: Table
    joins: list[Join] = field(default_factory=list)
    columns: list[ColumnRef] = field(default_factory=list)
    filters: list[Filter] = field(default_factory=list)
    aggregates: list[Aggregate] = field(default_factory=list)
    group_by: list[ColumnRef] = field(default_factory=list)
    order_by: list[OrderBy] = field(default_factory=list)
    limit: int = 100
    kind: Literal["rows", "aggregate", "search"] = "rows"
    # db_search: the vector column, the query embedding as pgvector text, how many rows.
    vector: Column | None = None
    embedding: str = ""
    # db_refine: restrict to these primary-key tuples (and keep their order when asked).
    keys: list[tuple[JSONValue, ...]] | None = None
    keep_key_order: bool = False


# -- helpers ----------------------------------------------------------------------------------


def _str(value: JSONValue, what: str) -> str:
    if not isinstance(value, str) or not value:
        raise DatabaseToolError(f"expected {what} as a non-empty string, got {_show(value)}")
    return value


def _keys(keys: list[str]) -> str:
    return "[" + ", ".join(_show(k) for k in keys[:5]) + (", ..." if len(keys) > 5 else "") + "]"


def _show(value: JSONValue) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def _list(value: JSONValue, what: str, limit: int) -> list[JSONValue]:
    if value is None:
        return []
    if isinstance(value, str | dict):
        value = [value]
    if not isinstance(value, list):
        raise DatabaseToolError(f"expected {what} as a list, got {_show(value)}")
    if len(value) > limit:
        raise DatabaseToolError(f"too many {what}: {len(value)}; at most {limit}")
    return value


def table_of(schema: DatabaseSchema, name: JSONValue) -> Table:
    text = _str(name, "'table'")
    table = schema.tables.get(text)
    if table is None:
        raise DatabaseToolError(f"unknown table {_show(text)}{did_you_mean(text, schema.tables)}")
    return table


class _Scope:
    """The tables of one query (base + joins) for resolving column names."""

    def __init__(self, base: Table) -> None:
        self.base = base
        self.tables: dict[str, Table] = {base.name: base}

    def resolve(self, name: JSONValue, *, allow_vector: bool = False) -> ColumnRef:
        text = _str(name, "a column name")
        if "." in text:
            alias, _, col = text.partition(".")
            table = self.tables.get(alias)
            if table is None:
                hint = (
                    "; join it first (join: [foreign key name])" if alias not in self.tables else ""
                )
                raise DatabaseToolError(
                    f"table {_show(alias)} is not part of this query{hint}"
                    f"{did_you_mean(alias, self.tables)}"
                )
            ref = self._column(table, col, qualified=alias != self.base.name)
        else:
            if text in self.base.columns:
                ref = self._column(self.base, text, qualified=False)
            else:
                owners = [t for t in self.tables.values() if text in t.columns]
                if not owners:
                    names = [c for t in self.tables.values() for c in t.columns]
                    raise DatabaseToolError(
                        f"unknown column {_show(text)} in table {self.base.name!r}"
                        f"{did_you_mean(text, names)}"
                    )
                if len(owners) > 1:
                    raise DatabaseToolError(
                        f"column {_show(text)} is ambiguous; write it as one of"
                        f" {', '.join(f'{t.name}.{text}' for t in owners)}"
                    )
                ref = self._column(owners[0], text, qualified=True)
        if ref.column.is_vector and not allow_vector:
            raise DatabaseToolError(
                f"column {ref.label!r} is an embedding; search it with db_search instead"
            )
        return ref

    @staticmethod
    def _column(table: Table, name: str, *, qualified: bool) -> ColumnRef:
        column = table.columns.get(name)
        if column is None:
            raise DatabaseToolError(
                f"unknown column {_show(name)} in table {table.name!r}"
                f"{did_you_mean(name, table.columns)}"
            )
        return ColumnRef(table.name, column, qualified)


def _scalar_text(value: JSONValue, column: Column, limits: Limits) -> str:
    """One value as the text the server casts to the column's type."""
    if isinstance(value, dict | list):
        raise DatabaseToolError(
            f"expected a single value for column {column.name!r}, got {_show(value)}"
        )
    if value is None:
        raise DatabaseToolError(
            f"null is not a value for column {column.name!r}; use op is_null or is_not_null"
        )
    if isinstance(value, bool):
        if column.category == NUMERIC:
            raise DatabaseToolError(
                f"expected a number for column {column.name!r} ({column.type_name}), got {value}"
            )
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if not math.isfinite(value):
            raise DatabaseToolError(f"expected a finite number for {column.name!r}, got {value}")
        return repr(value)
    if len(value) > limits.max_value_chars:
        raise DatabaseToolError(
            f"value for column {column.name!r} is too long ({len(value)} characters);"
            f" at most {limits.max_value_chars}"
        )
    if "\x00" in value:
        raise DatabaseToolError(f"value for column {column.name!r} contains a NUL character")
    if column.category == NUMERIC:
        try:
            float(value)
        except ValueError:
            raise DatabaseToolError(
                f"expected a number for column {column.name!r} ({column.type_name}),"
                f" got {_show(value)}"
            ) from None
    elif column.category == BOOLEAN and value.strip().lower() not in (
        "true",
        "false",
        "t",
        "f",
        "yes",
        "no",
        "y",
        "n",
        "on",
        "off",
        "1",
        "0",
    ):
        raise DatabaseToolError(
            f"expected true or false for column {column.name!r}, got {_show(value)}"
        )
    if column.enum_values and value not in column.enum_values:
        raise DatabaseToolError(
            f"invalid value {_show(value)} for column {column.name!r}"
            f"{did_you_mean(value, column.enum_values)}"
        )
    return value


def _filter(scope: _Scope, item: JSONValue, limits: Limits) -> Filter:
    if not isinstance(item, dict):
        raise DatabaseToolError(
            f"expected each filter as an object {{column, op, value}}, got {_show(item)}"
        )
    unknown = sorted(set(item) - {"column", "op", "value"})
    if unknown:
        raise DatabaseToolError(f"unknown filter keys {unknown}; a filter has column, op and value")
    ref = scope.resolve(item.get("column"))
    raw_op = item.get("op", "=")
    op = _OP_ALIASES.get(raw_op, raw_op) if isinstance(raw_op, str) else raw_op
    if not isinstance(op, str) or op not in OPS:
        text = raw_op if isinstance(raw_op, str) else _show(raw_op)
        raise DatabaseToolError(f"unknown op {_show(text)}{did_you_mean(text, OPS)}")
    value = item.get("value")
    column = ref.column
    if op in ("is_null", "is_not_null"):
        return Filter(ref, op)
    if op in ("in", "not_in"):
        values = value if isinstance(value, list) else [value]
        if not values:
            raise DatabaseToolError(f"op {op!r} needs a non-empty list of values")
        if len(values) > limits.max_list_items:
            raise DatabaseToolError(
                f"too many values for op {op!r}: {len(values)}; at most {limits.max_list_items}"
            )
        return Filter(ref, op, tuple(_scalar_text(v, column, limits) for v in values))
    if op == "between":
        if not isinstance(value, list) or len(value) != 2:
            raise DatabaseToolError(
                f"op 'between' needs a list of two values [low, high], got {_show(value)}"
            )
        return Filter(ref, op, tuple(_scalar_text(v, column, limits) for v in value))
    if op in ("like", "ilike"):
        if isinstance(value, dict | list) or value is None:
            raise DatabaseToolError(f"op {op!r} needs a text pattern, got {_show(value)}")
        text = str(value) if not isinstance(value, bool) else ("true" if value else "false")
        if len(text) > limits.max_value_chars:
            raise DatabaseToolError(
                f"pattern for column {column.name!r} is too long ({len(text)} characters);"
                f" at most {limits.max_value_chars}"
            )
        if "\x00" in text:
            raise DatabaseToolError(f"pattern for column {column.name!r} contains a NUL character")
        return Filter(ref, op, (text,))
    return Filter(ref, op, (_scalar_text(value, column, limits),))


def parse_filters(scope: _Scope, raw: JSONValue, limits: Limits) -> list[Filter]:
    return [_filter(scope, item, limits) for item in _list(raw, "filters", limits.max_filters)]


def _joins(schema: DatabaseSchema, scope: _Scope, raw: JSONValue, limits: Limits) -> list[Join]:
    joins: list[Join] = []
    for item in _list(raw, "joins", limits.max_joins):
        name = item.get("foreign_key") if isinstance(item, dict) else item
        text = _str(name, "a join (a foreign key name)")
        fk = schema.foreign_keys.get(text)
        if fk is None:
            offered = [f.name for t in scope.tables for f in schema.fks_of(t)]
            raise DatabaseToolError(
                f"unknown foreign key {_show(text)}"
                f"{did_you_mean(text, offered or schema.foreign_keys)}"
            )
        if fk.table in scope.tables and fk.ref_table not in scope.tables:
            new, near, far = schema.tables[fk.ref_table], fk.columns, fk.ref_columns
            near_alias = fk.table
        elif fk.ref_table in scope.tables and fk.table not in scope.tables:
            new, near, far = schema.tables[fk.table], fk.ref_columns, fk.columns
            near_alias = fk.ref_table
        elif fk.table in scope.tables and fk.ref_table in scope.tables:
            raise DatabaseToolError(f"both tables of {_show(text)} are already in the query")
        else:
            raise DatabaseToolError(
                f"foreign key {_show(text)} links {fk.table} and {fk.ref_table}, neither of which"
                f" is in the query (tables so far: {', '.join(scope.tables)})"
            )
        near_table = scope.tables[near_alias]
        on = tuple(
            (
                ColumnRef(near_alias, near_table.columns[a], True),
                ColumnRef(new.name, new.columns[b], True),
            )
            for a, b in zip(near, far, strict=True)
        )
        scope.tables[new.name] = new
        joins.append(Join(fk, new, on))
    return joins


def _limit(raw: JSONValue, default: int, limits: Limits, what: str = "limit") -> int:
    if raw is None:
        return min(default, limits.max_rows)
    if isinstance(raw, str) and raw.strip().isdigit():
        raw = int(raw.strip())
    if isinstance(raw, bool) or not isinstance(raw, int) or raw < 1:
        raise DatabaseToolError(f"expected {what} as a whole number >= 1, got {_show(raw)}")
    return min(raw, limits.max_rows)


def _order(
    scope: _Scope, raw: JSONValue, limits: Limits, names: Mapping[str, ColumnRef | None]
) -> list[OrderBy]:
    orders: list[OrderBy] = []
    for item in _list(raw, "order_by entries", limits.max_order_by):
        descending = False
        if isinstance(item, dict):
            unknown = sorted(set(item) - {"column", "direction"})
            if unknown:
                raise DatabaseToolError(
                    f"unknown order_by keys {_keys(unknown)}; an entry has column and direction"
                )
            name = item.get("column")
            direction = item.get("direction", "asc")
            if direction not in ("asc", "desc"):
                raise DatabaseToolError(
                    f"expected direction 'asc' or 'desc', got {_show(direction)}"
                )
            descending = direction == "desc"
        elif isinstance(item, str):
            words = item.split()
            if len(words) == 2 and words[1].lower() in ("asc", "desc"):
                name, descending = words[0], words[1].lower() == "desc"
            else:
                name = item
        else:
            raise DatabaseToolError(f"expected order_by entries as objects, got {_show(item)}")
        if names:  # aggregate queries order by their output columns
            text = _str(name, "an order_by column")
            if text not in names:
                raise DatabaseToolError(
                    f"cannot order an aggregate by {_show(text)}{did_you_mean(text, names)}"
                )
            orders.append(OrderBy(names[text], text, descending))
        else:
            ref = scope.resolve(name)
            orders.append(OrderBy(ref, ref.label, descending))
    return orders


def _aggregates(scope: _Scope, raw: JSONValue, limits: Limits) -> list[Aggregate]:
    result: list[Aggregate] = []
    for item in _list(raw, "aggregates", limits.max_aggregates):
        if not isinstance(item, dict):
            raise DatabaseToolError(
                f"expected each aggregate as an object {{function, column}}, got {_show(item)}"
            )
        unknown = sorted(set(item) - {"function", "column"})
        if unknown:
            raise DatabaseToolError(
                f"unknown aggregate keys {_keys(unknown)}; an aggregate has function and column"
            )
        fn = item.get("function")
        if not isinstance(fn, str) or fn.lower() not in AGGREGATES:
            text = fn if isinstance(fn, str) else _show(fn)
            raise DatabaseToolError(
                f"unknown aggregate function {_show(text)}{did_you_mean(text, AGGREGATES)}"
            )
        fn = fn.lower()
        col = item.get("column")
        if col in (None, "*", ""):
            if fn != "count":
                raise DatabaseToolError(f"aggregate {fn!r} needs a column")
            result.append(Aggregate(fn, None, "count"))
            continue
        ref = scope.resolve(col)
        if fn in ("sum", "avg") and ref.column.category != NUMERIC:
            raise DatabaseToolError(
                f"cannot {fn} column {ref.label!r} ({ref.column.type_name}); it is not a number"
            )
        alias = f"{fn}_{ref.label.replace('.', '_')}"
        result.append(Aggregate(fn, ref, alias))
    aliases = [a.alias for a in result]
    if len(set(aliases)) != len(aliases):
        raise DatabaseToolError("the same aggregate is asked for twice")
    return result


def _check_keys(args: Mapping[str, JSONValue], allowed: Sequence[str], tool: str) -> None:
    unknown = sorted(set(args) - set(allowed))
    if unknown:
        raise DatabaseToolError(
            f"unknown arguments {_keys(unknown)} for {tool}; expected some of {', '.join(allowed)}"
        )


QUERY_KEYS = ("table", "columns", "filters", "order_by", "limit", "aggregate", "group_by", "join")


def parse_query(schema: DatabaseSchema, args: Mapping[str, JSONValue], limits: Limits) -> Plan:
    """Validate ``db_query`` arguments into a :class:`Plan`."""
    _check_keys(args, QUERY_KEYS, "db_query")
    table = table_of(schema, args.get("table"))
    scope = _Scope(table)
    plan = Plan(table=table)
    plan.joins = _joins(schema, scope, args.get("join"), limits)
    plan.filters = parse_filters(scope, args.get("filters"), limits)
    plan.aggregates = _aggregates(scope, args.get("aggregate"), limits)
    plan.group_by = [
        scope.resolve(c)
        for c in _list(args.get("group_by"), "group_by columns", limits.max_columns)
    ]
    columns = [scope.resolve(c) for c in _list(args.get("columns"), "columns", limits.max_columns)]
    if plan.group_by and not plan.aggregates:
        plan.aggregates = [Aggregate("count", None, "count")]
    if plan.aggregates:
        plan.kind = "aggregate"
        grouped = {g.label for g in plan.group_by}
        extra = [c.label for c in columns if c.label not in grouped]
        if extra:
            raise DatabaseToolError(
                f"columns {extra} are neither grouped nor aggregated; put them in group_by"
            )
        names: dict[str, ColumnRef | None] = {g.label: g for g in plan.group_by}
        names.update({a.alias: None for a in plan.aggregates})
        plan.order_by = _order(scope, args.get("order_by"), limits, names)
    else:
        plan.columns = columns or [
            ColumnRef(t.name, c, t is not table)
            for t in scope.tables.values()
            for c in t.plain_columns
        ]
        plan.columns = _with_key(table, plan.columns)
        plan.order_by = _order(scope, args.get("order_by"), limits, {})
    plan.limit = _limit(args.get("limit"), limits.max_rows, limits)
    return plan


def _with_key(table: Table, columns: list[ColumnRef]) -> list[ColumnRef]:
    """Row results always carry the base table's primary key (db_refine narrows by it)."""
    have = {c.column.name for c in columns if c.alias == table.name}
    missing = [ColumnRef(table.name, table.columns[k]) for k in table.primary_key if k not in have]
    return [*missing, *columns]


SEARCH_KEYS = ("table", "text", "top_k", "filters", "columns", "column")


def parse_search(
    schema: DatabaseSchema, args: Mapping[str, JSONValue], limits: Limits
) -> tuple[Plan, str]:
    """Validate ``db_search`` arguments; returns the plan (without its embedding) and the text."""
    _check_keys(args, SEARCH_KEYS, "db_search")
    table = table_of(schema, args.get("table"))
    vectors = table.vector_columns
    if not vectors:
        searchable = sorted(t.name for t in schema.tables.values() if t.vector_columns)
        raise DatabaseToolError(
            f"table {table.name!r} has no embedding column to search; searchable tables:"
            f" {', '.join(searchable) or 'none'}"
        )
    raw_col = args.get("column")
    if raw_col is None:
        vector = vectors[0]
    else:
        text = _str(raw_col, "'column'")
        found = [c for c in vectors if c.name == text]
        if not found:
            raise DatabaseToolError(
                f"unknown embedding column {_show(text)}"
                f"{did_you_mean(text, [c.name for c in vectors])}"
            )
        vector = found[0]
    query = args.get("text")
    if not isinstance(query, str) or not query.strip():
        raise DatabaseToolError(f"expected 'text' to search for, got {_show(query)}")
    if len(query) > limits.max_text_chars:
        raise DatabaseToolError(
            f"search text too long ({len(query)} characters); at most {limits.max_text_chars}"
        )
    if "\x00" in query:
        raise DatabaseToolError("search text contains a NUL character")
    scope = _Scope(table)
    columns = [scope.resolve(c) for c in _list(args.get("columns"), "columns", limits.max_columns)]
    plan = Plan(
        table=table,
        columns=_with_key(
            table, columns or [ColumnRef(table.name, c) for c in table.plain_columns]
        ),
        filters=parse_filters(scope, args.get("filters"), limits),
        limit=_limit(args.get("top_k"), 5, limits, "top_k"),
        kind="search",
        vector=vector,
    )
    return plan, query


def parse_refine(previous: Plan, args: Mapping[str, JSONValue], limits: Limits) -> Plan:
    """A plan that narrows ``previous`` (a row result) with more filters, an order, a limit."""
    scope = _Scope(previous.table)
    for join in previous.joins:
        scope.tables[join.table.name] = join.table
    plan = Plan(
        table=previous.table,
        joins=list(previous.joins),
        columns=list(previous.columns),
        filters=[*previous.filters, *parse_filters(scope, args.get("filters"), limits)],
        kind="rows",
    )
    plan.order_by = _order(scope, args.get("order_by"), limits, {})
    plan.limit = _limit(args.get("limit"), limits.max_rows, limits)
    return plan
