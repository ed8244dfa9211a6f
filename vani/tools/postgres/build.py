"""From a :class:`Plan` to one SELECT statement and its parameters (pure, no I/O).

Every identifier is an introspected name quoted with ``psycopg.sql.Identifier``; every value is a
``%s`` placeholder bound at execution and cast on the server to the column's type (the type named
by its quoted schema and name, never by catalog text). The tenant scope is added here, to the
base table's WHERE clause and to every joined table's ON clause, so no part of the request can
remove or widen it. See ``docs/database.md``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Literal

from psycopg import sql

from vani.errors import ConfigurationError
from vani.frames import JSONValue
from vani.tools.postgres.request import ColumnRef, Filter, Plan
from vani.tools.postgres.schema import Column, DatabaseSchema, Table

__all__ = ["DISTANCE_OPERATORS", "TenantScope", "build_select"]

Scalar = str | int | float | bool

DISTANCE_OPERATORS = {"cosine": "<=>", "l2": "<->", "inner_product": "<#>"}

_COMPARE = {"=": "=", "!=": "<>", "<": "<", ">": ">", "<=": "<=", ">=": ">="}


@dataclass(frozen=True, slots=True)
class TenantScope:
    """A per-session restriction the LLM can neither see past nor remove.

    ``values`` maps a column name to the caller's value, e.g. ``{"customer_id": 42}``: every
    query on a table that has that column (exposed or masked) only sees rows with that value.
    ``columns`` names the column where it is spelt differently in a table:
    ``{"customers.id": "customer_id"}``.

    ``enforce``: ``"filter"`` (the tool adds ``column = value`` to every query), ``"rls"`` (the
    tool sets ``<setting_prefix><key>`` for the transaction with ``set_config(..., true)`` and
    the database's row-level security policies do the filtering), or ``"both"``.
    """

    values: Mapping[str, Scalar]
    columns: Mapping[str, str] = field(default_factory=dict)
    enforce: Literal["filter", "rls", "both"] = "filter"
    setting_prefix: str = "vani.tenant."

    def __post_init__(self) -> None:
        if self.enforce not in ("filter", "rls", "both"):
            raise ConfigurationError(
                f"expected enforce 'filter', 'rls' or 'both', got {self.enforce!r}"
            )
        for key, value in self.values.items():
            if isinstance(value, bool) or not isinstance(value, str | int | float):
                raise ConfigurationError(
                    f"expected a string or number as the tenant value of {key!r}, got {value!r}"
                )
        unknown = sorted(set(self.columns.values()) - set(self.values))
        if unknown:
            raise ConfigurationError(f"tenant columns name unknown keys {unknown}")

    def conditions(self, table: Table) -> list[tuple[Column, Scalar]]:
        """The (column, value) pairs that scope ``table`` (empty: the table is shared)."""
        if self.enforce == "rls":
            return []
        found: list[tuple[Column, Scalar]] = []
        for name, column in table.all_columns.items():
            key = self.columns.get(f"{table.name}.{name}", name)
            if key in self.values and (
                name in self.values or f"{table.name}.{name}" in self.columns
            ):
                found.append((column, self.values[key]))
        return found

    def settings(self) -> dict[str, str]:
        """The transaction settings for row-level security (empty in ``filter`` mode)."""
        if self.enforce == "filter":
            return {}
        return {f"{self.setting_prefix}{k}": str(v) for k, v in self.values.items()}

    def check(self, schema: DatabaseSchema) -> None:
        """A filter-mode scope must match some table: a typo would otherwise scope nothing."""
        if self.enforce == "rls":
            return
        if not any(self.conditions(t) for t in schema.tables.values()):
            raise ConfigurationError(
                f"the tenant scope {sorted(self.values)} matches no column of the exposed tables"
            )


def _ident(ref: ColumnRef) -> sql.Composable:
    return sql.SQL("{}.{}").format(sql.Identifier(ref.alias), sql.Identifier(ref.column.name))


def _cast(column: Column) -> sql.Composable:
    return sql.SQL("CAST({} AS {})").format(sql.Placeholder(), column.type_sql)


def _text(expr: sql.Composable) -> sql.Composable:
    return sql.SQL('CAST({} AS "pg_catalog"."text")').format(expr)


def _filter(f: Filter, params: list[object]) -> sql.Composable:
    col = _ident(f.ref)
    column = f.ref.column
    if f.op == "is_null":
        return sql.SQL("{} IS NULL").format(col)
    if f.op == "is_not_null":
        return sql.SQL("{} IS NOT NULL").format(col)
    if f.op in _COMPARE:
        params.append(f.values[0])
        return sql.SQL("{} " + _COMPARE[f.op] + " {}").format(col, _cast(column))
    if f.op in ("in", "not_in"):
        params.append(list(f.values))
        array = sql.SQL("CAST({} AS {}[])").format(sql.Placeholder(), column.type_sql)
        template = "{} = ANY({})" if f.op == "in" else "NOT ({} = ANY({}))"
        return sql.SQL(template).format(col, array)
    if f.op == "between":
        params.extend(f.values)
        return sql.SQL("{} BETWEEN {} AND {}").format(col, _cast(column), _cast(column))
    # like / ilike: on the column's text form, so dates and numbers match patterns too.
    params.append(f.values[0])
    keyword = "LIKE" if f.op == "like" else "ILIKE"
    return sql.SQL("{} " + keyword + " {}").format(_text(col), sql.Placeholder())


def _scope(
    alias: str, table: Table, tenant: TenantScope | None, params: list[object]
) -> list[sql.Composable]:
    if tenant is None:
        return []
    parts: list[sql.Composable] = []
    for column, value in tenant.conditions(table):
        params.append(str(value))
        parts.append(
            sql.SQL("{}.{} = {}").format(
                sql.Identifier(alias), sql.Identifier(column.name), _cast(column)
            )
        )
    return parts


def build_select(
    plan: Plan, tenant: TenantScope | None, distance: str = "cosine"
) -> tuple[sql.Composed, list[object]]:
    """The statement and its parameters, in placeholder order."""
    params: list[object] = []
    base = plan.table
    select: list[sql.Composable] = []
    select_params: list[object] = []
    vector_expr: sql.Composable | None = None
    if plan.kind == "aggregate":
        for g in plan.group_by:
            select.append(sql.SQL("{} AS {}").format(_ident(g), sql.Identifier(g.label)))
        for a in plan.aggregates:
            arg = sql.SQL("*") if a.ref is None else _ident(a.ref)
            select.append(
                sql.SQL("{}({}) AS {}").format(sql.SQL(a.function), arg, sql.Identifier(a.alias))
            )
    else:
        for c in plan.columns:
            select.append(sql.SQL("{} AS {}").format(_ident(c), sql.Identifier(c.label)))
        if plan.kind == "search" and plan.vector is not None:
            vector_expr = sql.SQL("{}.{} {} CAST({} AS {})").format(
                sql.Identifier(base.name),
                sql.Identifier(plan.vector.name),
                sql.SQL(DISTANCE_OPERATORS[distance]),
                sql.Placeholder(),
                plan.vector.type_sql,
            )
            select.append(sql.SQL("{} AS {}").format(vector_expr, sql.Identifier("_distance")))
            select_params.append(plan.embedding)
    params.extend(select_params)

    from_parts: list[sql.Composable] = [
        sql.SQL("FROM {} AS {}").format(base.ident, sql.Identifier(base.name))
    ]
    for join in plan.joins:
        on: list[sql.Composable] = [
            sql.SQL("{} = {}").format(_ident(a), _ident(b)) for a, b in join.on
        ]
        on.extend(_scope(join.table.name, join.table, tenant, params))
        from_parts.append(
            sql.SQL("LEFT JOIN {} AS {} ON {}").format(
                join.table.ident, sql.Identifier(join.table.name), sql.SQL(" AND ").join(on)
            )
        )

    where: list[sql.Composable] = _scope(base.name, base, tenant, params)
    where.extend(_filter(f, params) for f in plan.filters)
    if plan.keys is not None:
        where.append(_keys(plan, params))

    parts: list[sql.Composable] = [sql.SQL("SELECT "), sql.SQL(", ").join(select), sql.SQL(" ")]
    parts.append(sql.SQL(" ").join(from_parts))
    if where:
        parts.extend([sql.SQL(" WHERE "), sql.SQL(" AND ").join(where)])
    if plan.kind == "aggregate" and plan.group_by:
        parts.extend([sql.SQL(" GROUP BY "), sql.SQL(", ").join(_ident(g) for g in plan.group_by)])

    order: list[sql.Composable] = []
    for o in plan.order_by:
        direction = sql.SQL(" DESC NULLS LAST" if o.descending else " ASC NULLS LAST")
        target = (
            _ident(o.ref)
            if o.ref is not None and plan.kind != "aggregate"
            else sql.Identifier(o.name)
        )
        order.append(sql.Composed([target, direction]))
    if plan.kind == "search" and vector_expr is not None and not order:
        # By the output column: the index still serves it, and the vector is sent once.
        order.append(sql.Identifier("_distance"))
    if plan.keys is not None and plan.keep_key_order and not order:
        order.append(_key_position(plan, params))
    if not order and plan.kind == "rows" and base.primary_key:
        order.extend(
            sql.SQL("{}.{}").format(sql.Identifier(base.name), sql.Identifier(k))
            for k in base.primary_key
        )
    if order:
        parts.extend([sql.SQL(" ORDER BY "), sql.SQL(", ").join(order)])
    # One row more than asked: tells whether the result was cut.
    parts.append(sql.SQL(" LIMIT {}").format(sql.Placeholder()))
    params.append(plan.limit + 1)
    return sql.Composed(parts), params


def _key_columns(plan: Plan) -> sql.Composable:
    base = plan.table
    cols = [
        sql.SQL("{}.{}").format(sql.Identifier(base.name), sql.Identifier(k))
        for k in base.primary_key
    ]
    return sql.SQL("({})").format(sql.SQL(", ").join(cols))


def _key_tuple(plan: Plan, key: tuple[JSONValue, ...], params: list[object]) -> sql.Composable:
    values: list[sql.Composable] = []
    for name, value in zip(plan.table.primary_key, key, strict=True):
        params.append(None if value is None else str(value))
        values.append(_cast(plan.table.all_columns[name]))
    return sql.SQL("({})").format(sql.SQL(", ").join(values))


def _keys(plan: Plan, params: list[object]) -> sql.Composable:
    keys = plan.keys or []
    if not keys:
        return sql.SQL("false")
    tuples = [_key_tuple(plan, k, params) for k in keys]
    return sql.SQL("{} IN ({})").format(_key_columns(plan), sql.SQL(", ").join(tuples))


def _key_position(plan: Plan, params: list[object]) -> sql.Composable:
    """ORDER BY the position of each row's key in the previous result."""
    cases: list[sql.Composable] = []
    for i, key in enumerate(plan.keys or []):
        cases.append(
            sql.SQL("WHEN {} = {} THEN {}").format(
                _key_columns(plan), _key_tuple(plan, key, params), sql.Literal(i)
            )
        )
    return sql.SQL("CASE {} END").format(sql.SQL(" ").join(cases))
