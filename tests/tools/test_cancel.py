"""Timeouts and cancellation: slow queries stop on the server, connections go back clean."""

from __future__ import annotations

import asyncio

import psycopg
import pytest

from tests.llm_helpers import Session
from tests.tools.conftest import Database
from vani.frames import (
    FunctionCallCancelFrame,
    FunctionCallDataFrame,
    FunctionCallInProgressFrame,
    FunctionCallResultFrame,
    InterruptionFrame,
    LLMContextFrame,
)
from vani.processors.aggregators import LLMContext
from vani.services.llm import ScriptedLLMService
from vani.services.llm.scripted import ScriptedToolCall, ScriptedTurn
from vani.tools.postgres import DatabaseToolError, PostgresTool

# The slow view sleeps 0.5 s per row (15 rows): 7.5 s for all of it.
SLOW = {"table": "slow_menu"}


async def active_queries(database: Database) -> list[str]:
    """Statements the tool's role is running right now (seen by the superuser)."""
    async with await psycopg.AsyncConnection.connect(database.admin_url, autocommit=True) as conn:
        cur = await conn.execute(
            "SELECT query FROM pg_stat_activity WHERE usename = %s AND state = 'active'",
            [database.role],
        )
        return [str(r[0]) for r in await cur.fetchall()]


async def wait_for_queries(database: Database, predicate: object, timeout: float = 5.0) -> None:
    async with asyncio.timeout(timeout):
        while not callable(predicate) or not predicate(await active_queries(database)):
            await asyncio.sleep(0.02)


async def assert_pool_healthy(tool: PostgresTool) -> None:
    """Every connection is back and idle, and as many calls as the pool holds all work."""
    async with asyncio.timeout(2.0):  # a cancelled call may still be rolling back
        while True:
            stats = tool.pool.get_stats()
            if stats.get("pool_available", 0) == stats.get("pool_size", 0):
                break
            await asyncio.sleep(0.01)
    db = tool.session()
    results = await asyncio.gather(
        *(db.query({"table": "menu_items", "limit": 1}) for _ in range(tool.pool.max_size + 2))
    )
    assert all(isinstance(r.data, dict) and r.data["row_count"] == 1 for r in results)


async def test_a_slow_query_stops_at_the_statement_timeout(database: Database) -> None:
    async with PostgresTool(
        database.tool_url, schemas=["restaurant"], statement_timeout_secs=0.3, max_pool_size=3
    ) as tool:
        with pytest.raises(DatabaseToolError, match=r"took longer than 0.3 s and was stopped"):
            await tool.session().query(SLOW)
        assert await active_queries(database) == []
        await assert_pool_healthy(tool)
        # Many at once: every one stops, none holds a connection afterwards.
        results = await asyncio.gather(
            *(tool.session()._safely(tool.session().query, SLOW) for _ in range(6))
        )
        assert all("took longer" in str(r.summary) for r in results)
        await assert_pool_healthy(tool)


async def test_a_cancelled_call_cancels_its_query_on_the_server(database: Database) -> None:
    async with PostgresTool(
        database.tool_url, schemas=["restaurant"], statement_timeout_secs=30, max_pool_size=2
    ) as tool:
        call = asyncio.create_task(tool.session().query(SLOW))
        await wait_for_queries(database, lambda q: any("slow_menu" in s for s in q))
        call.cancel()
        with pytest.raises(asyncio.CancelledError):
            await call
        # Gone from the server at once, not after 7.5 s or the 30 s timeout.
        await wait_for_queries(database, lambda q: q == [], timeout=2.0)
        await assert_pool_healthy(tool)


async def test_a_barge_in_cancels_the_running_query_server_side(database: Database) -> None:
    async with PostgresTool(
        database.tool_url, schemas=["restaurant"], statement_timeout_secs=30, max_pool_size=2
    ) as tool:
        llm = ScriptedLLMService([ScriptedTurn(tool_calls=[ScriptedToolCall("db_query", SLOW)])])
        tool.session().register(llm)
        context = LLMContext([{"role": "user", "content": "read me the whole menu"}], tool.tools)
        async with Session([llm]) as s:
            await s.send(LLMContextFrame(context=context))
            await s.down.wait_for(FunctionCallInProgressFrame)
            await wait_for_queries(database, lambda q: any("slow_menu" in x for x in q))
            await s.send(InterruptionFrame())
            await s.down.wait_for(FunctionCallCancelFrame)
            await wait_for_queries(database, lambda q: q == [], timeout=2.0)
        assert not s.down.of((FunctionCallResultFrame, FunctionCallDataFrame))
        assert "cancelled" in str(context.messages[-1]["content"])
        await assert_pool_healthy(tool)
