"""What the database enforces beside the tool: read-only transactions, the lock timeout, a
restricted role."""

from __future__ import annotations

import asyncio
import uuid

import psycopg
import pytest
from psycopg import sql

from tests.tools.conftest import Database
from vani.errors import ConfigurationError
from vani.tools.postgres import DatabaseToolError, PostgresTool


async def test_every_call_runs_in_a_read_only_transaction(database: Database) -> None:
    # Even a superuser connection cannot write through the tool's transaction.
    async with PostgresTool(database.admin_url, schemas=["restaurant"]) as tool:
        statement = sql.SQL("UPDATE restaurant.menu_items SET price = 0 RETURNING id")
        with pytest.raises(DatabaseToolError, match=r"could not answer \(error 25006\)"):
            await tool.execute(statement, [], {}, 10)
        statement = sql.SQL("SELECT set_config('default_transaction_read_only', 'off', false)")
        await tool.execute(statement, [], {}, 10)  # a later call starts READ ONLY all the same
        with pytest.raises(DatabaseToolError, match="25006"):
            await tool.execute(sql.SQL("DELETE FROM restaurant.bookings"), [], {}, 10)
    with psycopg.connect(database.admin_url) as conn:
        cur = conn.execute("SELECT count(*), min(price) FROM restaurant.menu_items")
        assert cur.fetchone() == (15, 2.5)


async def test_a_locked_table_answers_after_the_lock_timeout(database: Database) -> None:
    async with (
        PostgresTool(database.tool_url, schemas=["restaurant"], lock_timeout_secs=0.2) as tool,
        await psycopg.AsyncConnection.connect(database.admin_url) as locker,
    ):
        await locker.execute("LOCK TABLE restaurant.orders IN ACCESS EXCLUSIVE MODE")
        with pytest.raises(DatabaseToolError, match="locked by another transaction"):
            await asyncio.wait_for(tool.session().query({"table": "orders"}), 5)
        await locker.rollback()
        result = await tool.session().query({"table": "orders"})
        assert isinstance(result.data, dict) and result.data["row_count"] == 3


async def test_a_restricted_role_limits_the_tool_further(database: Database) -> None:
    reader = f"vani_reader_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(database.admin_url, autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE ROLE {} NOLOGIN").format(sql.Identifier(reader)))
        conn.execute(
            sql.SQL("GRANT USAGE ON SCHEMA restaurant TO {}").format(sql.Identifier(reader))
        )
        conn.execute(
            sql.SQL("GRANT SELECT ON restaurant.menu_items TO {}").format(sql.Identifier(reader))
        )
        conn.execute(
            sql.SQL("GRANT {} TO {}").format(sql.Identifier(reader), sql.Identifier(database.role))
        )
    try:
        async with PostgresTool(database.tool_url, schemas=["restaurant"], role=reader) as tool:
            db = tool.session()
            menu = await db.query({"table": "menu_items", "limit": 2})
            assert isinstance(menu.data, dict) and menu.data["row_count"] == 2
            with pytest.raises(DatabaseToolError, match="permission denied: this data may not"):
                await db.query({"table": "bookings"})
    finally:
        with psycopg.connect(database.admin_url, autocommit=True) as conn:
            conn.execute(sql.SQL("DROP OWNED BY {}").format(sql.Identifier(reader)))
            conn.execute(sql.SQL("DROP ROLE {}").format(sql.Identifier(reader)))


async def test_a_role_that_does_not_work_is_refused_at_open(database: Database) -> None:
    with pytest.raises(ConfigurationError, match="role='nobody_here'"):
        await PostgresTool.connect(database.tool_url, schemas=["restaurant"], role="nobody_here")
