"""Tenant scoping: the tool's own filter, Postgres row-level security, and both."""

from __future__ import annotations

import pytest

from tests.tools.conftest import Database
from vani.errors import ConfigurationError
from vani.frames import JSONValue
from vani.services.llm.functions import ToolResult
from vani.tools.postgres import PostgresTool, TenantScope
from vani.tools.postgres.build import build_select
from vani.tools.postgres.request import Limits, parse_query


def rows(result: ToolResult) -> list[dict[str, JSONValue]]:
    assert isinstance(result.data, dict) and isinstance(result.data["rows"], list)
    return [r for r in result.data["rows"] if isinstance(r, dict)]


async def test_a_caller_sees_only_their_rows_whatever_they_ask(tool: PostgresTool) -> None:
    db = tool.session({"customer_id": 1})
    assert [r["id"] for r in rows(await db.query({"table": "bookings"}))] == [1, 2]
    for filters in (
        [{"column": "customer_id", "op": "=", "value": 2}],
        [{"column": "customer_id", "op": "in", "value": [1, 2, 3]}],
        [{"column": "customer_id", "op": "!=", "value": 1}],
        [{"column": "customer_id", "op": "is_not_null"}],
    ):
        found = rows(await db.query({"table": "bookings", "filters": filters}))
        assert all(r["customer_id"] == 1 for r in found), filters
    [count] = rows(await db.query({"table": "bookings", "aggregate": [{"function": "count"}]}))
    assert count == {"count": 2}
    # Joined tables are scoped too: a shared menu joined to order lines shows only the
    # caller's lines.
    lines = rows(
        await db.query(
            {
                "table": "menu_items",
                "join": ["order_items_menu_item_id_fkey"],
                "columns": ["name", "order_items.order_id"],
                "filters": [{"column": "order_items.order_id", "op": "is_not_null"}],
            }
        )
    )
    assert sorted(r["order_items.order_id"] for r in lines) == [1, 1, 2, 2]  # type: ignore[type-var]
    # The menu itself is shared.
    assert len(rows(await db.query({"table": "menu_items"}))) == 15


async def test_refine_cannot_escape_the_scope(tool: PostgresTool) -> None:
    mine = tool.session({"customer_id": 2})
    theirs = tool.session({"customer_id": 1})
    await theirs.query({"table": "bookings"})  # rs1 in the other session
    await mine.query({"table": "orders"})
    refined = await mine.refine({"result_set": "rs1"})
    assert [r["customer_id"] for r in rows(refined)] == [2]


async def test_a_differently_named_column_and_a_masked_one_still_scope(
    database: Database,
) -> None:
    async with PostgresTool(
        database.tool_url, schemas=["restaurant"], masks=["customer_id"]
    ) as tool:
        scope = TenantScope({"customer_id": 3}, columns={"customers.id": "customer_id"})
        db = tool.session(scope)
        assert [r["id"] for r in rows(await db.query({"table": "customers"}))] == [3]
        # customer_id is masked (invisible, unfilterable) but still scopes every query.
        assert [r["id"] for r in rows(await db.query({"table": "bookings"}))] == [5]
        assert "customer_id" not in db.describe()


async def test_a_scope_that_matches_no_column_is_a_configuration_error(tool: PostgresTool) -> None:
    with pytest.raises(ConfigurationError, match="matches no column"):
        tool.session({"custmer_id": 1})


async def test_row_level_security_alone_scopes_through_the_session_setting(
    database: Database, rls_schema: str
) -> None:
    async with PostgresTool(database.tool_url, schemas=[rls_schema]) as tool:
        scope = TenantScope({"customer_id": 2}, enforce="rls")
        # The tool adds no filter of its own in this mode: the database does all of it.
        plan = parse_query(tool.schema, {"table": "bookings"}, Limits())
        statement, _ = build_select(plan, scope)
        assert 'customer_id" =' not in statement.as_string(None)
        db = tool.session(scope)
        assert [r["id"] for r in rows(await db.query({"table": "bookings"}))] == [3, 4]
        wide = [{"column": "customer_id", "op": "in", "value": [1, 2, 3]}]
        found = rows(await db.query({"table": "bookings", "filters": wide}))
        assert {r["customer_id"] for r in found} == {2}
        # With no tenant at all, the policy lets nothing through.
        assert rows(await tool.session().query({"table": "bookings"})) == []


async def test_both_ways_at_once(database: Database, rls_schema: str) -> None:
    async with PostgresTool(database.tool_url, schemas=[rls_schema]) as tool:
        db = tool.session(TenantScope({"customer_id": 1}, enforce="both"))
        found = rows(await db.query({"table": "orders", "join": ["orders_customer_id_fkey"]}))
        assert [(r["id"], r["customers.name"]) for r in found] == [(1, "Asha Rao"), (2, "Asha Rao")]
