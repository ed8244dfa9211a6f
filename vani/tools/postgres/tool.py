"""The Postgres tool: one :class:`PostgresTool` per process, one session per call.

::

    tool = await PostgresTool.connect(os.environ["DATABASE_URL"], schemas=["restaurant"],
                                      masks=["password_hash"], embedder=MiniLMEmbedder())
    db = tool.session(tenant={"customer_id": caller_id})   # per call
    db.register(llm)              # db_schema, db_query, db_search (with an embedder), db_refine
    context = LLMContext(messages, tools=db.tools)

Each call runs in its own ``READ ONLY`` transaction on a pooled connection, with
``statement_timeout``, ``lock_timeout`` and (optionally) a restricted role set for that
transaction only; at most ``max_rows`` rows come back. ``db_query``, ``db_search`` and
``db_refine`` are data handlers: the LLM gets a short summary and a ``result_set`` id, the rows go
downstream in a ``FunctionCallDataFrame``. A cancelled call (barge-in) cancels its query on the
server (psycopg sends the cancel request and waits for it) and the connection goes back to the
pool idle. See ``docs/database.md``.
"""

from __future__ import annotations

import datetime
import decimal
import logging
import uuid
from collections import OrderedDict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from vani.errors import ConfigurationError
from vani.frames import JSONObject, JSONValue
from vani.processors.aggregators.function_schema import FunctionSchema
from vani.services.llm.functions import FunctionCallParams, ToolResult
from vani.tools.postgres.build import Scalar, TenantScope, build_select
from vani.tools.postgres.embed import Embedder, EmbeddingFunction, as_embedder
from vani.tools.postgres.errors import DatabaseToolError
from vani.tools.postgres.request import (
    Limits,
    Plan,
    _keys,
    _show,
    parse_query,
    parse_refine,
    parse_search,
    table_of,
)
from vani.tools.postgres.schema import DatabaseSchema, Exposure, introspect
from vani.tools.postgres.schemas import tool_schemas

if TYPE_CHECKING:
    from psycopg import AsyncConnection
    from psycopg.sql import Composed
    from psycopg_pool import AsyncConnectionPool

    from vani.services.llm.base import LLMService

__all__ = ["PostgresTool", "PostgresToolSession", "QueryResult"]

logger = logging.getLogger(__name__)

_MAX_RESULT_SETS = 32


@dataclass(frozen=True, slots=True)
class QueryResult:
    """Rows of one call: ``columns`` in order, ``rows`` as JSON-able lists, and whether more
    rows existed past the limit (``truncated``)."""

    columns: list[str]
    rows: list[list[JSONValue]]
    truncated: bool


@dataclass(slots=True)
class _Stored:
    plan: Plan
    keys: list[tuple[JSONValue, ...]] | None  # None: not refinable (aggregates, no key)


def to_json(value: object) -> JSONValue:
    """A database value as JSON: numbers, text, ISO dates; bytes and the rest as text."""
    if value is None or isinstance(value, bool | int | str):
        return value
    if isinstance(value, float):
        return value if value == value and abs(value) != float("inf") else str(value)
    if isinstance(value, decimal.Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    if isinstance(value, datetime.date | datetime.time):
        return value.isoformat()
    if isinstance(value, datetime.timedelta):
        return str(value)
    if isinstance(value, uuid.UUID):
        return str(value)
    if isinstance(value, bytes | bytearray | memoryview):
        return f"<{len(bytes(value))} bytes>"
    if isinstance(value, list | tuple):
        return [to_json(v) for v in value]
    if isinstance(value, dict):
        return {str(k): to_json(v) for k, v in value.items()}
    return str(value)


def _error_summary(exc: DatabaseToolError) -> ToolResult:
    message = str(exc)
    return ToolResult(summary={"error": message}, data={"error": message})


class PostgresTool:
    """The database, as the LLM may see it: a connection pool and the introspected schema.

    ``conninfo``: a libpq URL or DSN (or pass your own open ``pool``). ``schemas``, ``tables``,
    ``masks``: what is exposed (see :class:`Exposure`). ``embedder``: an :class:`Embedder` or a
    function text → vector (with ``embedding_dimensions``) for ``db_search``.
    ``statement_timeout_secs``, ``lock_timeout_secs``, ``max_rows``: per call limits.
    ``role``: a role every call's transaction switches to (``SET LOCAL ROLE``), to restrict
    the tool further than the login. ``summary_rows`` and ``max_field_chars`` shape what the
    LLM reads. Share one instance between calls; it is safe for concurrent use.
    """

    def __init__(
        self,
        conninfo: str | None = None,
        *,
        pool: AsyncConnectionPool[AsyncConnection[tuple[object, ...]]] | None = None,
        schemas: Sequence[str] | None = None,
        tables: Sequence[str] | Mapping[str, Sequence[str]] | None = None,
        masks: Sequence[str] = (),
        embedder: Embedder | EmbeddingFunction | None = None,
        embedding_dimensions: int | None = None,
        statement_timeout_secs: float = 2.0,
        lock_timeout_secs: float = 0.5,
        max_rows: int = 100,
        role: str | None = None,
        summary_rows: int = 5,
        max_field_chars: int = 80,
        min_pool_size: int = 1,
        max_pool_size: int = 10,
        application_name: str = "vani-db-tool",
    ) -> None:
        if (conninfo is None) == (pool is None):
            raise ConfigurationError("expected exactly one of conninfo or pool")
        if statement_timeout_secs <= 0 or lock_timeout_secs <= 0:
            raise ConfigurationError(
                f"expected positive timeouts, got statement_timeout_secs={statement_timeout_secs}"
                f" and lock_timeout_secs={lock_timeout_secs}"
            )
        if max_rows < 1 or summary_rows < 0 or max_field_chars < 8:
            raise ConfigurationError(
                f"expected max_rows >= 1, summary_rows >= 0 and max_field_chars >= 8, got"
                f" {max_rows}, {summary_rows}, {max_field_chars}"
            )
        self.exposure = Exposure(
            schemas=tuple(schemas) if schemas is not None else None,
            tables=tables,
            masks=tuple(masks),
        )
        self.limits = Limits(max_rows=max_rows)
        self.embedder = as_embedder(embedder, embedding_dimensions) if embedder else None
        self.statement_timeout_secs = statement_timeout_secs
        self.lock_timeout_secs = lock_timeout_secs
        self.role = role
        self.summary_rows = summary_rows
        self.max_field_chars = max_field_chars
        self._conninfo = conninfo
        self._own_pool = pool is None
        self._pool = pool
        self._pool_sizes = (min_pool_size, max_pool_size)
        self._application_name = application_name
        self._schema: DatabaseSchema | None = None
        self._tools: list[FunctionSchema] = []

    @classmethod
    async def connect(cls, conninfo: str, **options: object) -> PostgresTool:
        """Build, open the pool and introspect (see the class for the options)."""
        tool = cls(conninfo, **options)  # type: ignore[arg-type]
        await tool.open()
        return tool

    async def __aenter__(self) -> PostgresTool:
        await self.open()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    @property
    def pool(self) -> AsyncConnectionPool[AsyncConnection[tuple[object, ...]]]:
        if self._pool is None:
            raise ConfigurationError("the tool is not open: await tool.open() first")
        return self._pool

    @property
    def schema(self) -> DatabaseSchema:
        """The exposed schema (after :meth:`open`)."""
        if self._schema is None:
            raise ConfigurationError("the tool is not open: await tool.open() first")
        return self._schema

    @property
    def tools(self) -> list[FunctionSchema]:
        """The tool schemas for the LLM context (after :meth:`open`)."""
        self.schema  # noqa: B018 -- raises when not open
        return list(self._tools)

    async def open(self) -> None:
        """Open the pool (when the tool owns it) and read the schema. Idempotent."""
        if self._schema is not None:
            return
        if self._pool is None:
            try:
                from psycopg_pool import AsyncConnectionPool
            except ImportError as exc:  # pragma: no cover - depends on the install
                raise ConfigurationError(
                    "the Postgres tool needs psycopg and psycopg_pool: pip install 'vani[db]'"
                ) from exc
            self._pool = AsyncConnectionPool(
                self._conninfo or "",
                min_size=self._pool_sizes[0],
                max_size=self._pool_sizes[1],
                kwargs={"application_name": self._application_name},
                configure=_configure,
                open=False,
            )
            await self._pool.open(wait=True, timeout=10.0)
        try:
            async with self.pool.connection() as conn, conn.transaction():
                schema = await introspect(conn, self.exposure)
        except BaseException:
            await self.close()
            raise
        if not schema.tables:
            await self.close()
            where = self.exposure.schemas or "any schema"
            raise ConfigurationError(f"no table is exposed from {where}")
        if self.embedder is not None:
            for table in schema.tables.values():
                for column in table.vector_columns:
                    if column.vector_dimensions != self.embedder.dimensions:
                        await self.close()
                        raise ConfigurationError(
                            f"column {table.name}.{column.name} holds vector"
                            f"({column.vector_dimensions}) but the embedder makes"
                            f" {self.embedder.dimensions} dimensions"
                        )
        try:  # the per-call settings (a role that does not exist, say) fail here, not mid-call
            from psycopg import sql

            await self.execute(sql.Composed([sql.SQL("SELECT 1")]), [], {}, 1)
        except DatabaseToolError as exc:
            await self.close()
            raise ConfigurationError(
                f"the tool's transaction settings do not work (role={self.role!r}): {exc}"
            ) from None
        self._schema = schema
        tools = tool_schemas(schema, self.limits.max_rows)
        if self.embedder is None:
            tools = [t for t in tools if t.name != "db_search"]
        self._tools = tools

    async def close(self) -> None:
        """Close the pool if the tool opened it."""
        if self._own_pool and self._pool is not None:
            await self._pool.close()
            self._pool = None
        self._schema = None

    def session(
        self, tenant: TenantScope | Mapping[str, Scalar] | None = None
    ) -> PostgresToolSession:
        """The tools of one call, scoped to ``tenant`` (a :class:`TenantScope`, or the values
        of one: ``{"customer_id": 42}``)."""
        scope = tenant if isinstance(tenant, TenantScope) or tenant is None else TenantScope(tenant)
        if scope is not None:
            scope.check(self.schema)
        return PostgresToolSession(self, scope)

    async def execute(
        self, statement: Composed, params: Sequence[object], settings: Mapping[str, str], limit: int
    ) -> QueryResult:
        """Run one SELECT in a read-only transaction with the tool's limits.

        Raises :class:`DatabaseToolError` with a message for the LLM when the database refuses.
        """
        from psycopg import errors as pg_errors

        values = {
            "statement_timeout": str(max(1, round(self.statement_timeout_secs * 1000))),
            "lock_timeout": str(max(1, round(self.lock_timeout_secs * 1000))),
            **settings,
        }
        if self.role is not None:
            values["role"] = self.role
        config = "SELECT " + ", ".join("set_config(%s, %s, true)" for _ in values)
        config_params = [x for pair in values.items() for x in pair]
        try:
            async with self.pool.connection() as conn, conn.transaction():
                cur = conn.cursor()
                await cur.execute(config, config_params)
                await cur.execute(statement, list(params))
                rows = await cur.fetchmany(limit + 1)
                names = [d.name for d in cur.description or []]
        except pg_errors.QueryCanceled:
            raise DatabaseToolError(
                f"the query took longer than {self.statement_timeout_secs:g} s and was stopped;"
                " narrow it with filters or a smaller limit"
            ) from None
        except pg_errors.LockNotAvailable:
            raise DatabaseToolError(
                "the rows are locked by another transaction; try again in a moment"
            ) from None
        except pg_errors.InsufficientPrivilege as exc:
            logger.warning("database tool: permission denied: %s", exc.diag.message_primary)
            raise DatabaseToolError("permission denied: this data may not be read") from None
        except pg_errors.DataError as exc:
            raise DatabaseToolError(f"invalid value: {exc.diag.message_primary}") from None
        except pg_errors.Error as exc:
            state = exc.sqlstate or "unknown"
            logger.warning("database tool: query failed (%s): %s", state, exc)
            if state.startswith("08") or isinstance(exc, pg_errors.OperationalError):
                raise DatabaseToolError(
                    "the database is unavailable right now; try again later"
                ) from None
            raise DatabaseToolError(f"the database could not answer (error {state})") from None
        except Exception as exc:  # pool timeouts and closed pools
            logger.warning("database tool: %s: %s", type(exc).__name__, exc)
            raise DatabaseToolError(
                "the database is unavailable right now; try again later"
            ) from None
        truncated = len(rows) > limit
        return QueryResult(names, [[to_json(v) for v in r] for r in rows[:limit]], truncated)


async def _configure(conn: AsyncConnection[tuple[object, ...]]) -> None:
    # Every transaction of the tool's connections starts with BEGIN READ ONLY.
    await conn.set_read_only(True)


class PostgresToolSession:
    """The database tools of one call (see the module docstring): its tenant scope and the
    result sets ``db_refine`` can narrow. Not shared between calls."""

    def __init__(self, tool: PostgresTool, tenant: TenantScope | None) -> None:
        self.tool = tool
        self.tenant = tenant
        self._results: OrderedDict[str, _Stored] = OrderedDict()
        self._next = 1

    @property
    def tools(self) -> list[FunctionSchema]:
        """The schemas to put in the LLM context."""
        return self.tool.tools

    def register(self, llm: LLMService, *, cancel_on_interruption: bool = True) -> None:
        """Register the handlers on ``llm`` under the tools' names."""
        handlers = {
            "db_schema": self.db_schema,
            "db_query": self.db_query,
            "db_search": self.db_search,
            "db_refine": self.db_refine,
        }
        for tool in self.tools:
            llm.register_function(
                tool.name, handlers[tool.name], cancel_on_interruption=cancel_on_interruption
            )

    # -- handlers (FunctionCallParams -> result) -------------------------------------------------

    async def db_schema(self, params: FunctionCallParams) -> str:
        return self.describe(params.arguments)

    async def db_query(self, params: FunctionCallParams) -> ToolResult:
        return await self._safely(self.query, params.arguments)

    async def db_search(self, params: FunctionCallParams) -> ToolResult:
        return await self._safely(self.search, params.arguments)

    async def db_refine(self, params: FunctionCallParams) -> ToolResult:
        return await self._safely(self.refine, params.arguments)

    async def _safely(self, method: object, args: Mapping[str, JSONValue]) -> ToolResult:
        try:
            return await method(args)  # type: ignore[operator,no-any-return]
        except DatabaseToolError as exc:
            return _error_summary(exc)

    # -- the same, callable directly ---------------------------------------------------------------

    def describe(self, args: Mapping[str, JSONValue] | None = None) -> str:
        """``db_schema``: the exposed schema as compact text (one table with ``table``)."""
        schema = self.tool.schema
        name = (args or {}).get("table")
        if name is not None:
            try:
                table = table_of(schema, name)
            except DatabaseToolError as exc:
                return f"error: {exc}"
            return schema.describe([table.name])
        return schema.describe()

    async def query(self, args: Mapping[str, JSONValue]) -> ToolResult:
        """``db_query``; raises :class:`DatabaseToolError`."""
        plan = parse_query(self.tool.schema, _arguments(args), self.tool.limits)
        return await self._run("db_query", plan)

    async def search(self, args: Mapping[str, JSONValue]) -> ToolResult:
        """``db_search``; raises :class:`DatabaseToolError`."""
        embedder = self.tool.embedder
        if embedder is None:
            raise DatabaseToolError("semantic search is not configured (no embedder)")
        plan, text = parse_search(self.tool.schema, _arguments(args), self.tool.limits)
        (vector,) = await embedder.embed([text])
        plan.embedding = "[" + ",".join(repr(float(x)) for x in vector) + "]"
        return await self._run("db_search", plan)

    async def refine(self, args: Mapping[str, JSONValue]) -> ToolResult:
        """``db_refine``; raises :class:`DatabaseToolError`."""
        args = _arguments(args)
        unknown = sorted(set(args) - {"result_set", "filters", "order_by", "limit"})
        if unknown:
            raise DatabaseToolError(
                f"unknown arguments {_keys(unknown)} for db_refine; expected some of result_set,"
                " filters, order_by, limit"
            )
        name = args.get("result_set")
        stored = self._results.get(name) if isinstance(name, str) else None
        if stored is None:
            known = ", ".join(list(self._results)[-8:]) or "none yet"
            raise DatabaseToolError(
                f"unknown result_set {_show(name)}; expected one of this call's: {known}"
            )
        if stored.keys is None:
            raise DatabaseToolError(
                f"result set {name} cannot be refined (aggregates, or a table without a"
                " primary key); run db_query with more filters instead"
            )
        plan = parse_refine(stored.plan, args, self.tool.limits)
        plan.keys = stored.keys
        plan.keep_key_order = True
        return await self._run("db_refine", plan)

    # -- running ---------------------------------------------------------------------------------

    async def _run(self, tool: str, plan: Plan) -> ToolResult:
        distance = plan.vector.vector_distance if plan.vector is not None else None
        statement, params = build_select(plan, self.tenant, distance or "cosine")
        settings = self.tenant.settings() if self.tenant is not None else {}
        if plan.kind == "search":
            # pgvector >= 0.8: keep scanning the index until enough rows pass the filters.
            settings = {**settings, "hnsw.iterative_scan": "relaxed_order"}
        result = await self.tool.execute(statement, params, settings, plan.limit)
        return self._report(tool, plan, result)

    def _report(self, tool: str, plan: Plan, result: QueryResult) -> ToolResult:
        name = f"rs{self._next}"
        self._next += 1
        keys: list[tuple[JSONValue, ...]] | None = None
        pk = plan.table.primary_key
        positions = [result.columns.index(k) if k in result.columns else -1 for k in pk]
        if plan.kind != "aggregate" and pk and all(p >= 0 for p in positions):
            keys = [tuple(row[p] for p in positions) for row in result.rows]
        self._results[name] = _Stored(plan, keys)
        while len(self._results) > _MAX_RESULT_SETS:
            self._results.popitem(last=False)

        columns = list(result.columns)
        rows = result.rows
        if plan.kind == "search" and "_distance" in columns:
            i = columns.index("_distance")
            columns[i] = "similarity"
            distance = (plan.vector.vector_distance if plan.vector else None) or "cosine"
            rows = [[*r[:i], _similarity(r[i], distance), *r[i + 1 :]] for r in rows]
        records: list[JSONValue] = [dict(zip(columns, r, strict=True)) for r in rows]
        shown: list[JSONValue] = [
            {k: _clip(v, self.tool.max_field_chars) for k, v in zip(columns, r, strict=True)}
            for r in rows[: self.tool.summary_rows]
        ]
        summary: JSONObject = {
            "result_set": name,
            "row_count": len(rows),
            "rows": shown,
        }
        if result.truncated:
            summary["truncated"] = True
            summary["note"] = (
                f"more than {len(rows)} rows match; add filters or use aggregate for totals"
            )
        elif len(rows) > len(shown):
            summary["note"] = f"showing {len(shown)} of {len(rows)} rows; db_refine narrows them"
        data: JSONObject = {
            "tool": tool,
            "kind": plan.kind,
            "result_set": name,
            "table": plan.table.name,
            "joins": [j.fk.name for j in plan.joins],
            "columns": list(columns),
            "rows": records,
            "row_count": len(rows),
            "truncated": result.truncated,
        }
        return ToolResult(summary=summary, data=data)


def _arguments(args: Mapping[str, JSONValue]) -> dict[str, JSONValue]:
    if not isinstance(args, Mapping):
        raise DatabaseToolError(f"expected the arguments as an object, got {type(args).__name__}")
    return dict(args)


def _similarity(value: JSONValue, distance: str) -> JSONValue:
    if not isinstance(value, int | float):
        return value
    if distance == "cosine":
        return round(1.0 - float(value), 4)
    if distance == "inner_product":
        return round(-float(value), 4)
    return round(float(value), 4)  # l2: the distance itself (smaller is closer)


def _clip(value: JSONValue, limit: int) -> JSONValue:
    if isinstance(value, str) and len(value) > limit:
        return value[: limit - 1] + "…"
    if isinstance(value, list | dict):
        text = str(value)
        return text if len(text) <= limit else text[: limit - 1] + "…"
    return value
