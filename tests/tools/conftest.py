"""A real Postgres with pgvector for the database tool's tests (tools/ci/setup-20-postgres.sh).

Each test session gets its own database (the example restaurant schema, a slow view for
timeouts) and a login role that may only read it: the tool connects as that role, the checks
connect as the superuser in DATABASE_URL. Without DATABASE_URL every test here is skipped,
saying why; CI always sets it.
"""

from __future__ import annotations

import asyncio
import os
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass

import pytest

psycopg = pytest.importorskip("psycopg", reason="vani[db] is not installed")

from psycopg import conninfo as pg_conninfo  # noqa: E402
from psycopg import sql  # noqa: E402

from vani.tools.postgres import MiniLMEmbedder, PostgresTool  # noqa: E402
from vani.tools.postgres.example import install_example  # noqa: E402


@dataclass(frozen=True)
class Database:
    admin_url: str  # superuser, on the test database
    tool_url: str  # the restricted login the tool uses
    role: str
    name: str


def _with(url: str, **changes: str) -> str:
    params = pg_conninfo.conninfo_to_dict(url)
    params.update(changes)
    return pg_conninfo.make_conninfo(**params)  # type: ignore[arg-type]


@pytest.fixture(scope="session")
def embedder() -> MiniLMEmbedder:
    return MiniLMEmbedder()


@pytest.fixture(scope="session")
def database(embedder: MiniLMEmbedder) -> Iterator[Database]:
    url = os.environ.get("DATABASE_URL")
    if not url:
        pytest.skip("DATABASE_URL is not set (tools/ci/setup-20-postgres.sh starts a server)")
    suffix = uuid.uuid4().hex[:8]
    name, role = f"vani_tools_{suffix}", f"vani_tool_{suffix}"
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
        conn.execute(sql.SQL("CREATE ROLE {} LOGIN").format(sql.Identifier(role)))
    admin = _with(url, dbname=name)
    asyncio.run(install_example(admin, embedder=embedder))
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute("CREATE EXTENSION IF NOT EXISTS pg_stat_statements")
        r = sql.Identifier(role)
        conn.execute(sql.SQL("GRANT USAGE ON SCHEMA restaurant TO {}").format(r))
        conn.execute(sql.SQL("GRANT SELECT ON ALL TABLES IN SCHEMA restaurant TO {}").format(r))
        conn.execute(
            "CREATE VIEW restaurant.slow_menu AS SELECT m.id, m.name, s.slept"
            " FROM restaurant.menu_items m,"
            " LATERAL (SELECT pg_sleep(0.5)::text AS slept) s"
        )
        conn.execute(sql.SQL("GRANT SELECT ON restaurant.slow_menu TO {}").format(r))
    yield Database(admin, _with(url, dbname=name, user=role), role, name)
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(sql.SQL("DROP DATABASE {} WITH (FORCE)").format(sql.Identifier(name)))
        conn.execute(sql.SQL("DROP ROLE {}").format(sql.Identifier(role)))


@pytest.fixture
async def tool(database: Database, embedder: MiniLMEmbedder) -> AsyncIterator[PostgresTool]:
    async with PostgresTool(
        database.tool_url,
        schemas=["restaurant"],
        masks=["password_hash"],
        embedder=embedder,
        max_pool_size=4,
    ) as t:
        yield t


@pytest.fixture(scope="session")
def rls_schema(database: Database, embedder: MiniLMEmbedder) -> str:
    """A copy of the example with row-level security on every private table, keyed by the
    transaction setting vani.tenant.customer_id."""
    asyncio.run(install_example(database.admin_url, schema="restaurant_rls", embedder=embedder))
    role = sql.Identifier(database.role)
    with psycopg.connect(database.admin_url, autocommit=True) as conn:
        conn.execute(sql.SQL("GRANT USAGE ON SCHEMA restaurant_rls TO {}").format(role))
        conn.execute(
            sql.SQL("GRANT SELECT ON ALL TABLES IN SCHEMA restaurant_rls TO {}").format(role)
        )
        # nullif: once a pooled connection has set the key, an unset one reads '' (not NULL).
        for table, column in (
            ("bookings", "customer_id"),
            ("orders", "customer_id"),
            ("order_items", "customer_id"),
            ("customers", "id"),
        ):
            conn.execute(f"ALTER TABLE restaurant_rls.{table} ENABLE ROW LEVEL SECURITY")
            conn.execute(
                f"CREATE POLICY tenant ON restaurant_rls.{table} USING ({column} ="
                " nullif(current_setting('vani.tenant.customer_id', true), '')::integer)"
            )
    return "restaurant_rls"
