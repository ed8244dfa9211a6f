"""What the database tool knows about the database: introspected once, then read-only.

:func:`introspect` reads the allowed schemas' tables and views, their columns and types, primary
and foreign keys, pgvector columns (dimension and the distance their index uses), enum types and
enum-like CHECK constraints, and comments (which become the descriptions the LLM sees). The
exposure rules (:class:`Exposure`) are applied here, so nothing hidden ever reaches a tool
schema, a query or a result. See ``docs/database.md``.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Literal

from psycopg import sql

from vani.errors import ConfigurationError

if TYPE_CHECKING:
    from psycopg import AsyncConnection

__all__ = ["Column", "DatabaseSchema", "Exposure", "ForeignKey", "Table", "introspect"]

Distance = Literal["cosine", "l2", "inner_product"]

# pg_type.typcategory -> how the tool treats values of that type.
NUMERIC, STRING, BOOLEAN, DATETIME, ENUM, OTHER = "N", "S", "B", "D", "E", "?"


@dataclass(frozen=True, slots=True)
class Column:
    """One exposed column. ``type_name`` is Postgres' own spelling (``numeric(6,2)``);
    ``type_schema``/``type_ident`` name the type for casts (both quoted when used)."""

    name: str
    type_name: str
    type_schema: str
    type_ident: str
    category: str
    nullable: bool
    description: str = ""
    enum_values: tuple[str, ...] = ()
    vector_dimensions: int | None = None
    vector_distance: Distance | None = None

    @property
    def is_vector(self) -> bool:
        return self.vector_dimensions is not None

    @property
    def type_sql(self) -> sql.Composable:
        """The type as a quoted, schema-qualified identifier (never catalog text)."""
        return sql.SQL("{}.{}").format(
            sql.Identifier(self.type_schema), sql.Identifier(self.type_ident)
        )


@dataclass(frozen=True, slots=True)
class ForeignKey:
    """A declared foreign key: ``table.columns`` references ``ref_table.ref_columns``."""

    name: str
    table: str
    columns: tuple[str, ...]
    ref_table: str
    ref_columns: tuple[str, ...]

    def describe(self) -> str:
        left = ", ".join(f"{self.table}.{c}" for c in self.columns)
        right = ", ".join(f"{self.ref_table}.{c}" for c in self.ref_columns)
        return f"{self.name}: {left} -> {right}"


@dataclass(frozen=True, slots=True)
class Table:
    """An exposed table or view. ``name`` is what the LLM uses; ``schema`` qualifies it."""

    name: str
    schema: str
    kind: Literal["table", "view"]
    columns: Mapping[str, Column]
    primary_key: tuple[str, ...] = ()
    description: str = ""
    # Every column, masked ones included: only tenant scoping reads it (a masked tenant column
    # still scopes every query).
    all_columns: Mapping[str, Column] = field(default_factory=dict)

    @property
    def ident(self) -> sql.Composable:
        return sql.SQL("{}.{}").format(sql.Identifier(self.schema), sql.Identifier(self.name))

    @property
    def vector_columns(self) -> list[Column]:
        return [c for c in self.columns.values() if c.is_vector]

    @property
    def plain_columns(self) -> list[Column]:
        """The columns that can be selected and filtered (every non-vector one)."""
        return [c for c in self.columns.values() if not c.is_vector]


@dataclass(frozen=True, slots=True)
class Exposure:
    """What the LLM may see.

    ``schemas``: the schemas read (default None: every schema but the system ones).
    ``tables``: an allow-list, either table names or a mapping of table name to the allowed
    column names (None: every table of the schemas). ``masks``: columns never exposed, as
    ``column`` (in every table) or ``table.column``, e.g. ``("password_hash",
    "customers.email")``. Masked columns can be neither selected, filtered, ordered, grouped
    nor aggregated; they do not exist for the LLM.
    """

    schemas: Sequence[str] | None = None
    tables: Sequence[str] | Mapping[str, Sequence[str]] | None = None
    masks: Sequence[str] = ()

    def table_allowed(self, name: str) -> bool:
        return self.tables is None or name in self.tables

    def column_allowed(self, table: str, column: str) -> bool:
        if column in self.masks or f"{table}.{column}" in self.masks:
            return False
        if isinstance(self.tables, Mapping):
            return column in self.tables.get(table, ())
        return True


@dataclass(frozen=True, slots=True)
class DatabaseSchema:
    """The exposed tables (by name) and the foreign keys between exposed columns."""

    tables: Mapping[str, Table]
    foreign_keys: Mapping[str, ForeignKey] = field(default_factory=dict)

    def fks_of(self, table: str) -> list[ForeignKey]:
        return [fk for fk in self.foreign_keys.values() if table in (fk.table, fk.ref_table)]

    def describe(self, only: Iterable[str] | None = None) -> str:
        """Compact text for the LLM: one line per table, then its foreign keys."""
        lines: list[str] = []
        names = list(only) if only is not None else sorted(self.tables)
        for name in names:
            t = self.tables[name]
            cols: list[str] = []
            for c in t.columns.values():
                text = f"{c.name} {c.type_name}"
                if c.name in t.primary_key:
                    text += " pk"
                if c.enum_values:
                    text += " [" + "|".join(c.enum_values) + "]"
                if c.is_vector:
                    text += " (searchable with db_search)"
                if c.description:
                    text += f" -- {c.description}"
                cols.append(text)
            head = f"{name}" + (" (view)" if t.kind == "view" else "")
            if t.description:
                head += f": {t.description}"
            lines.append(head)
            lines.extend(f"  {c}" for c in cols)
            for fk in self.fks_of(name):
                if fk.table == name:
                    lines.append(f"  join {fk.describe()}")
        return "\n".join(lines)


_TABLES = r"""
SELECT c.oid, n.nspname, c.relname, c.relkind, coalesce(obj_description(c.oid, 'pg_class'), '')
FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE (n.nspname = ANY(%(schemas)s::text[]) OR (%(schemas)s::text[] IS NULL
         AND n.nspname NOT IN ('pg_catalog', 'information_schema')
         AND n.nspname NOT LIKE 'pg\_%%'))
  AND c.relkind IN ('r', 'p', 'v', 'm', 'f')
  AND NOT c.relispartition
  -- objects an extension created (pgvector's, pg_stat_statements' views) are not data
  AND NOT EXISTS (SELECT 1 FROM pg_depend d WHERE d.classid = 'pg_class'::regclass
                  AND d.objid = c.oid AND d.deptype = 'e')
ORDER BY n.nspname, c.relname
"""

_COLUMNS = """
SELECT a.attrelid, a.attname, format_type(a.atttypid, a.atttypmod), tn.nspname, t.typname,
       t.typcategory, NOT a.attnotnull, coalesce(col_description(a.attrelid, a.attnum), ''),
       t.typtype, a.atttypmod, a.atttypid,
       coalesce((SELECT array_agg(e.enumlabel ORDER BY e.enumsortorder) FROM pg_enum e
                 WHERE e.enumtypid = a.atttypid), '{}')
FROM pg_attribute a
JOIN pg_type t ON t.oid = a.atttypid
JOIN pg_namespace tn ON tn.oid = t.typnamespace
WHERE a.attrelid = ANY(%s) AND a.attnum > 0 AND NOT a.attisdropped
ORDER BY a.attrelid, a.attnum
"""

_CONSTRAINTS = """
SELECT con.conrelid, con.conname, con.contype, pg_get_constraintdef(con.oid),
       (SELECT array_agg(a.attname ORDER BY k.i) FROM unnest(con.conkey) WITH ORDINALITY k(n, i)
        JOIN pg_attribute a ON a.attrelid = con.conrelid AND a.attnum = k.n),
       con.confrelid,
       (SELECT array_agg(a.attname ORDER BY k.i) FROM unnest(con.confkey) WITH ORDINALITY k(n, i)
        JOIN pg_attribute a ON a.attrelid = con.confrelid AND a.attnum = k.n)
FROM pg_constraint con
WHERE con.conrelid = ANY(%s) AND con.contype IN ('p', 'f', 'c')
ORDER BY con.conrelid, con.conname
"""

# Operator classes of pgvector indexes, per indexed column.
_VECTOR_INDEXES = """
SELECT i.indrelid, a.attname, am.amname, opc.opcname
FROM pg_index i
JOIN pg_class ic ON ic.oid = i.indexrelid
JOIN pg_am am ON am.oid = ic.relam
JOIN LATERAL unnest(i.indkey, i.indclass) WITH ORDINALITY k(attnum, opclass, n) ON true
JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = k.attnum
JOIN pg_opclass opc ON opc.oid = k.opclass
WHERE i.indrelid = ANY(%s) AND am.amname IN ('hnsw', 'ivfflat')
"""

_OPCLASS_DISTANCE: dict[str, Distance] = {
    "vector_cosine_ops": "cosine",
    "vector_l2_ops": "l2",
    "vector_ip_ops": "inner_product",
}

# CHECK ((col = ANY (ARRAY['a'::text, 'b'::text]))), CHECK (col IN (...)) as Postgres prints
# them, with optional casts: the column and its quoted values.
_CHECK_ANY = re.compile(
    r"^CHECK \(+\(?\"?(?P<col>[A-Za-z_][A-Za-z0-9_]*)\"?\)?(?:::[a-z ]+)?"
    r" = ANY \(+ARRAY\[(?P<vals>.*)\](?:\)::[a-z ]+\[\])?\)+$"
)
_CHECK_EQ = re.compile(
    r"\(\"?(?P<col>[A-Za-z_][A-Za-z0-9_]*)\"?\)?(?:::[a-z ]+)?"
    r" = '(?P<val>(?:[^']|'')*)'(?:::[a-z ]+)?"
)
_QUOTED = re.compile(r"'((?:[^']|'')*)'(?:::[a-z ]+)?")


def check_enum(definition: str) -> tuple[str, tuple[str, ...]] | None:
    """The column and values of an enum-like CHECK constraint, or None for any other check."""
    match = _CHECK_ANY.match(definition)
    if match:
        values = tuple(v.replace("''", "'") for v in _QUOTED.findall(match.group("vals")))
        return (match.group("col"), values) if values else None
    if definition.startswith("CHECK ") and " OR " in definition and " AND " not in definition:
        parts = [_CHECK_EQ.search(p) for p in definition.split(" OR ")]
        if all(parts):
            cols = {p.group("col") for p in parts if p}
            if len(cols) == 1:
                return cols.pop(), tuple(p.group("val").replace("''", "'") for p in parts if p)
    return None


async def introspect(
    conn: AsyncConnection[tuple[object, ...]], exposure: Exposure
) -> DatabaseSchema:
    """Read the catalog through ``conn`` and apply ``exposure``.

    Raises ``ConfigurationError`` when an allow-listed table or column does not exist (a typo
    in the configuration must not silently hide data from the LLM, or expose the wrong thing).
    """
    cur = conn.cursor()
    schemas = list(exposure.schemas) if exposure.schemas is not None else None
    await cur.execute(_TABLES, {"schemas": schemas})
    rels = [r for r in await cur.fetchall() if exposure.table_allowed(str(r[2]))]
    names = [str(r[2]) for r in rels]
    duplicates = sorted({n for n in names if names.count(n) > 1})
    if duplicates:
        raise ConfigurationError(
            f"tables {duplicates} exist in more than one exposed schema; choose the schemas"
            " (schemas=[...]) so that every table name is unique"
        )
    if exposure.tables is not None:
        missing = sorted(set(exposure.tables) - set(names))
        if missing:
            raise ConfigurationError(
                f"allow-listed tables {missing} do not exist in the exposed schemas;"
                f" expected some of {sorted(names)}"
            )
    oids = [int(str(r[0])) for r in rels]
    await cur.execute(_COLUMNS, (oids,))
    columns: dict[int, list[tuple[object, ...]]] = {}
    for row in await cur.fetchall():
        columns.setdefault(int(str(row[0])), []).append(row)
    await cur.execute(_CONSTRAINTS, (oids,))
    constraints = await cur.fetchall()
    distances: dict[tuple[int, str], Distance] = {}
    await cur.execute(_VECTOR_INDEXES, (oids,))
    for relid, attname, _am, opcname in await cur.fetchall():
        distance = _OPCLASS_DISTANCE.get(str(opcname))
        if distance is not None:
            distances[(int(str(relid)), str(attname))] = distance

    checks: dict[tuple[int, str], tuple[str, ...]] = {}
    pks: dict[int, tuple[str, ...]] = {}
    fk_rows: list[tuple[object, ...]] = []
    for row in constraints:
        relid, _name, contype, definition, cols = int(str(row[0])), row[1], row[2], row[3], row[4]
        if contype == "c":
            found = check_enum(str(definition))
            if found:
                checks[(relid, found[0])] = found[1]
        elif contype == "p" and isinstance(cols, list):
            pks[relid] = tuple(str(c) for c in cols)
        elif contype == "f":
            fk_rows.append(row)

    tables: dict[str, Table] = {}
    by_oid: dict[int, str] = {}
    for oid, nspname, relname, relkind, comment in rels:
        table_name = str(relname)
        table_cols: dict[str, Column] = {}
        all_cols: dict[str, Column] = {}
        for row in columns.get(int(str(oid)), []):
            col_name = str(row[1])
            type_name, typname = str(row[2]), str(row[4])
            enum_values = tuple(str(v) for v in row[11]) if isinstance(row[11], list) else ()
            enum_values = enum_values or checks.get((int(str(oid)), col_name), ())
            category = str(row[5])
            dims: int | None = None
            if typname == "vector":
                typmod = int(str(row[9]))
                dims = typmod if typmod > 0 else None
            column = Column(
                name=col_name,
                type_name=type_name,
                type_schema=str(row[3]),
                type_ident=typname,
                category=ENUM if enum_values and category == "E" else category,
                nullable=bool(row[6]),
                description=str(row[7]),
                enum_values=enum_values,
                vector_dimensions=dims,
                vector_distance=distances.get((int(str(oid)), col_name), "cosine")
                if dims
                else None,
            )
            all_cols[col_name] = column
            # A vector of no fixed dimension cannot be searched: not exposed.
            if exposure.column_allowed(table_name, col_name) and (dims or typname != "vector"):
                table_cols[col_name] = column
        if isinstance(exposure.tables, Mapping):
            unknown = sorted(set(exposure.tables.get(table_name, ())) - set(table_cols))
            if unknown:
                raise ConfigurationError(
                    f"allow-listed columns {unknown} of table {table_name!r} do not exist or"
                    " are masked"
                )
        if not table_cols:
            continue
        pk = pks.get(int(str(oid)), ())
        tables[table_name] = Table(
            name=table_name,
            schema=str(nspname),
            kind="view" if relkind in ("v", "m") else "table",
            columns=table_cols,
            primary_key=pk if all(c in table_cols for c in pk) else (),
            description=str(comment),
            all_columns=all_cols,
        )
        by_oid[int(str(oid))] = table_name

    fks: dict[str, ForeignKey] = {}
    for row in fk_rows:
        left, right = by_oid.get(int(str(row[0]))), by_oid.get(int(str(row[5])))
        cols, ref_cols = row[4], row[6]
        if left is None or right is None or not isinstance(cols, list):
            continue
        if not isinstance(ref_cols, list):
            continue
        fk = ForeignKey(
            name=str(row[1]),
            table=left,
            columns=tuple(str(c) for c in cols),
            ref_table=right,
            ref_columns=tuple(str(c) for c in ref_cols),
        )
        # A join along masked columns would reveal them: such keys are not offered.
        if all(c in tables[left].columns for c in fk.columns) and all(
            c in tables[right].columns for c in fk.ref_columns
        ):
            fks[fk.name] = fk
    return DatabaseSchema(tables=tables, foreign_keys=fks)
