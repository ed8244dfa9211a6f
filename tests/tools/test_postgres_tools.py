"""Every tool against the real server: ops, aggregates, joins, search, refine, errors."""

from __future__ import annotations

import json

import pytest

from tests.tools.conftest import Database
from vani.errors import ConfigurationError
from vani.frames import JSONValue
from vani.services.llm.functions import ToolResult
from vani.tools.postgres import DatabaseToolError, MiniLMEmbedder, PostgresTool


def rows(result: ToolResult) -> list[dict[str, JSONValue]]:
    assert isinstance(result.data, dict)
    found = result.data["rows"]
    assert isinstance(found, list)
    return [r for r in found if isinstance(r, dict)]


async def q(tool: PostgresTool, **args: JSONValue) -> list[dict[str, JSONValue]]:
    return rows(await tool.session().query(args))


def ids(found: list[dict[str, JSONValue]]) -> list[JSONValue]:
    return [r["id"] for r in found]


@pytest.mark.parametrize(
    ("column", "op", "value", "expected"),
    [
        ("price", "=", 16, [3]),
        ("price", "!=", 2.5, [i for i in range(1, 16) if i != 13]),
        ("price", "<", 3.5, [13, 14]),
        ("price", ">", "16", [5]),
        ("price", "<=", 3.5, [13, 14, 15]),
        ("price", ">=", 16, [3, 5]),
        ("category", "in", ["salad", "drink"], [8, 9, 13, 14, 15]),
        ("category", "not_in", ["pizza", "pasta", "drink", "dessert"], [8, 9]),
        ("name", "like", "%pizza", [1, 2, 3, 4, 5]),
        ("name", "ilike", "MARGHERITA%", [1, 2, 3]),
        ("size", "is_null", None, list(range(6, 16))),
        ("size", "is_not_null", None, [1, 2, 3, 4, 5]),
        ("price", "between", [9, 11], [7, 8, 9]),
        ("spicy", "=", True, [7]),
        ("vegetarian", "=", "false", [4, 5, 6, 8]),
        ("id", "in", [3, "5"], [3, 5]),
    ],
)
async def test_every_filter_op_selects_the_right_rows(
    tool: PostgresTool, column: str, op: str, value: JSONValue, expected: list[int]
) -> None:
    found = await q(
        tool, table="menu_items", filters=[{"column": column, "op": op, "value": value}]
    )
    assert ids(found) == expected


async def test_dates_and_enums_compare_as_their_types(tool: PostgresTool) -> None:
    found = await q(
        tool,
        table="bookings",
        filters=[
            {"column": "booked_for", "op": ">=", "value": "2026-12-24"},
            {"column": "status", "op": "in", "value": ["confirmed", "cancelled"]},
        ],
    )
    assert ids(found) == [1, 3, 5]
    found = await q(tool, table="bookings", filters=[{"column": "booked_for", "op": "like",
                                                      "value": "2026-12-24%"}])  # fmt: skip
    assert ids(found) == [1, 3]


async def test_columns_order_and_limit(tool: PostgresTool) -> None:
    result = await tool.session().query(
        {
            "table": "menu_items",
            "columns": ["name", "price"],
            "order_by": [{"column": "price", "direction": "desc"}, "name"],
            "limit": 3,
        }
    )
    assert rows(result) == [
        {"id": 5, "name": "Pepperoni pizza", "price": 18},
        {"id": 3, "name": "Margherita pizza", "price": 16},
        {"id": 4, "name": "Pepperoni pizza", "price": 14},
    ]
    assert isinstance(result.summary, dict)
    assert result.summary["truncated"] is True  # more rows matched than the limit
    assert result.summary["result_set"] == "rs1"


async def test_aggregates_with_and_without_group_by(tool: PostgresTool) -> None:
    [total] = await q(
        tool,
        table="menu_items",
        aggregate=[
            {"function": "count"},
            {"function": "sum", "column": "price"},
            {"function": "min", "column": "price"},
            {"function": "max", "column": "name"},
            {"function": "avg", "column": "price"},
        ],
    )
    assert total == {
        "count": 15,
        "sum_price": 139.5,
        "min_price": 2.5,
        "max_name": "Tiramisu",
        "avg_price": 9.3,
    }
    grouped = await q(
        tool,
        table="menu_items",
        aggregate=[{"function": "avg", "column": "price"}],
        group_by=["category"],
        order_by=[{"column": "avg_price", "direction": "desc"}],
        limit=2,
    )
    assert grouped == [
        {"category": "pizza", "avg_price": 13.6},
        {"category": "pasta", "avg_price": 12.25},
    ]
    # group_by alone counts
    assert await q(tool, table="bookings", group_by=["status"], order_by=["status"]) == [
        {"status": "pending", "count": 1},
        {"status": "confirmed", "count": 2},
        {"status": "cancelled", "count": 1},
        {"status": "seated", "count": 1},
    ]


async def test_joins_follow_declared_foreign_keys_both_ways(tool: PostgresTool) -> None:
    found = await q(
        tool,
        table="order_items",
        join=["order_items_menu_item_id_fkey", "order_items_order_id_fkey"],
        columns=["menu_items.name", "orders.status", "quantity"],
        filters=[{"column": "orders.status", "op": "=", "value": "on_the_way"}],
    )
    assert [(r["menu_items.name"], r["orders.status"]) for r in found] == [
        ("Pepperoni pizza", "on_the_way"),
        ("Penne arrabbiata", "on_the_way"),
    ]
    # From the referenced side: customers joined to their bookings, aggregated.
    per_customer = await q(
        tool,
        table="customers",
        join=["bookings_customer_id_fkey"],
        aggregate=[{"function": "sum", "column": "bookings.party_size"}],
        group_by=["name"],
        order_by=["name"],
    )
    assert per_customer == [
        {"name": "Asha Rao", "sum_bookings_party_size": 6},
        {"name": "Ben Ortiz", "sum_bookings_party_size": 9},
        {"name": "Chen Li", "sum_bookings_party_size": 8},
    ]


@pytest.mark.parametrize(
    ("text", "check"),
    [
        ("what does a big pizza cost", lambda r: r["size"] == "large" and r["category"] == "pizza"),
        ("how much is a large pizza", lambda r: r["size"] == "large"),
        ("a fizzy drink", lambda r: r["name"] == "Cola"),
        ("something hot and spicy", lambda r: r["name"] == "Penne arrabbiata"),
        ("warm chocolate dessert", lambda r: r["name"] == "Chocolate lava cake"),
        ("a cup of tea", lambda r: r["name"] == "Masala chai"),
    ],
)
async def test_search_finds_the_row_a_paraphrase_means(
    tool: PostgresTool, text: str, check: object
) -> None:
    result = await tool.session().search({"table": "menu_items", "text": text, "top_k": 3})
    found = rows(result)
    assert len(found) == 3
    assert callable(check) and check(found[0]), found[0]
    assert "embedding" not in found[0]
    sims = [r["similarity"] for r in found]
    assert sims == sorted(sims, reverse=True)  # type: ignore[type-var]


async def test_search_with_filters_and_refine(tool: PostgresTool) -> None:
    db = tool.session()
    first = await db.search(
        {
            "table": "menu_items",
            "text": "a big pizza",
            "top_k": 4,
            "filters": [{"column": "vegetarian", "op": "=", "value": True}],
        }
    )
    assert all(r["vegetarian"] is True for r in rows(first))
    assert rows(first)[0]["id"] == 3
    refined = await db.refine(
        {"result_set": "rs1", "filters": [{"column": "price", "op": "<", "value": 13}]}
    )
    # Narrowed, and still in the order of similarity.
    cheap = [r["id"] for r in rows(first) if float(r["price"]) < 13]  # type: ignore[arg-type]
    assert ids(rows(refined)) == cheap
    assert len(cheap) >= 2
    again = await db.refine({"result_set": "rs2", "order_by": ["price"], "limit": 1})
    assert ids(rows(again)) == [1]


async def test_refine_narrows_a_query_and_composite_keys_work(tool: PostgresTool) -> None:
    db = tool.session()
    await db.query({"table": "order_items"})
    refined = await db.refine(
        {"result_set": "rs1", "filters": [{"column": "menu_item_id", "op": "=", "value": 5}]}
    )
    assert [(r["order_id"], r["menu_item_id"]) for r in rows(refined)] == [(2, 5), (3, 5)]
    await db.query({"table": "menu_items", "aggregate": [{"function": "count"}]})
    with pytest.raises(DatabaseToolError, match="cannot be refined"):
        await db.refine({"result_set": "rs3"})
    with pytest.raises(DatabaseToolError, match="unknown result_set 'rs9'"):
        await db.refine({"result_set": "rs9"})


async def test_the_llm_reads_a_short_summary_and_the_ui_gets_every_row(
    database: Database, embedder: MiniLMEmbedder
) -> None:
    async with PostgresTool(
        database.tool_url, schemas=["restaurant"], summary_rows=2, max_field_chars=20
    ) as tool:
        result = await tool.session().query({"table": "menu_items"})
    assert isinstance(result.summary, dict) and isinstance(result.data, dict)
    assert result.summary["row_count"] == 15
    shown = result.summary["rows"]
    assert isinstance(shown, list) and len(shown) == 2
    assert shown[0]["description"] == "Small 8 inch pizza …"  # type: ignore[index]
    assert "showing 2 of 15" in str(result.summary["note"])
    assert len(rows(result)) == 15
    assert rows(result)[0]["description"] == "Small 8 inch pizza with tomato, mozzarella and basil"
    assert len(json.dumps(result.summary)) < 700


async def test_the_row_cap_holds_whatever_the_limit_asked(database: Database) -> None:
    async with PostgresTool(database.tool_url, schemas=["restaurant"], max_rows=4) as tool:
        result = await tool.session().query({"table": "menu_items", "limit": 1000})
    assert len(rows(result)) == 4
    assert isinstance(result.data, dict) and result.data["truncated"] is True


async def test_masked_columns_do_not_exist_for_the_llm(tool: PostgresTool) -> None:
    db = tool.session()
    assert "password_hash" not in db.describe()
    assert "password_hash" not in json.dumps([t.to_openai() for t in tool.tools])
    assert all("password_hash" not in r for r in rows(await db.query({"table": "customers"})))
    for args in (
        {"table": "customers", "columns": ["password_hash"]},
        {"table": "customers", "filters": [{"column": "password_hash", "op": "is_null"}]},
        {"table": "customers", "order_by": ["password_hash"]},
        {"table": "customers", "aggregate": [{"function": "max", "column": "password_hash"}]},
        {"table": "bookings", "join": ["bookings_customer_id_fkey"],
         "columns": ["customers.password_hash"]},
    ):  # fmt: skip
        with pytest.raises(DatabaseToolError, match="unknown column 'password_hash'"):
            await db.query(args)


async def test_an_allow_list_exposes_only_what_it_names(database: Database) -> None:
    async with PostgresTool(
        database.tool_url,
        schemas=["restaurant"],
        tables={"menu_items": ["id", "name", "price"], "bookings": ["id", "party_size"]},
    ) as tool:
        assert sorted(tool.schema.tables) == ["bookings", "menu_items"]
        assert list(tool.schema.tables["menu_items"].columns) == ["id", "name", "price"]
        assert tool.schema.foreign_keys == {}
        assert [t.name for t in tool.tools] == ["db_schema", "db_query", "db_refine"]
        with pytest.raises(DatabaseToolError, match="unknown table 'customers'"):
            await tool.session().query({"table": "customers"})
    with pytest.raises(ConfigurationError, match=r"allow-listed tables \['menu'\] do not exist"):
        await PostgresTool.connect(database.tool_url, schemas=["restaurant"], tables=["menu"])


async def test_tool_schemas_carry_enums_from_types_and_check_constraints(
    tool: PostgresTool,
) -> None:
    query = next(t for t in tool.tools if t.name == "db_query").to_openai()
    text = json.dumps(query)
    assert '"enum": ["pending", "confirmed", "cancelled", "seated"]' in text  # enum type
    assert '"enum": ["pizza", "pasta", "salad", "dessert", "drink"]' in text  # CHECK ... IN
    assert '"enum": ["placed", "cooking", "on_the_way", "delivered"]' in text
    params = query["function"]["parameters"]  # type: ignore[index]
    assert params["properties"]["table"]["enum"] == [  # type: ignore[index]
        "bookings", "customers", "menu_items", "order_items", "orders", "slow_menu"
    ]  # fmt: skip
    assert "orders_customer_id_fkey" in params["properties"]["join"]["items"]["enum"]  # type: ignore[index]
    search = next(t for t in tool.tools if t.name == "db_search").to_openai()
    assert search["function"]["parameters"]["properties"]["table"]["enum"] == ["menu_items"]  # type: ignore[index]
    described = tool.session().describe({"table": "menu_items"})
    assert "size text [small|medium|large] -- pizzas only" in described
    assert described.startswith("menu_items: Dishes and drinks on the menu")


@pytest.mark.parametrize(
    ("args", "message"),
    [
        ({"table": "customers", "filters": [{"column": "emial", "op": "=", "value": "x"}]},
         "unknown column 'emial' in table 'customers'; did you mean 'email'?"),
        ({"table": "menu_itmes"}, "unknown table 'menu_itmes'; did you mean 'menu_items'?"),
        ({"table": "menu_items", "filters": [{"column": "price", "op": "~", "value": 1}]},
         "unknown op '~'"),
        ({"table": "menu_items", "filters": [{"column": "price", "op": "=", "value": "cheap"}]},
         "expected a number for column 'price' (numeric(6,2)), got 'cheap'"),
        ({"table": "menu_items", "filters": [{"column": "category", "op": "=", "value": "pizz"}]},
         "invalid value 'pizz' for column 'category'; did you mean 'pizza'?"),
        ({"table": "menu_items", "filters": [{"column": "price", "op": "between", "value": 3}]},
         "op 'between' needs a list of two values"),
        ({"table": "menu_items", "filters": [{"column": "price", "op": "=", "value": None}]},
         "use op is_null"),
        ({"table": "menu_items", "join": ["bookings_customer_id_fkey"]},
         "neither of which is in the query"),
        ({"table": "menu_items", "aggregate": [{"function": "avg", "column": "name"}]},
         "it is not a number"),
        ({"table": "menu_items", "columns": ["embedding"]}, "search it with db_search"),
        ({"table": "menu_items", "sql": "SELECT 1"}, "unknown arguments ['sql']"),
        ({"table": "bookings", "filters": [{"column": "booked_for", "op": ">",
                                            "value": "next friday"}]},
         'invalid value: invalid input syntax for type timestamp: "next friday"'),
    ],
)  # fmt: skip
async def test_mistakes_become_short_useful_errors(
    tool: PostgresTool, args: dict[str, JSONValue], message: str
) -> None:
    result = await tool.session()._safely(tool.session().query, args)
    assert isinstance(result.summary, dict)
    error = str(result.summary["error"])
    assert message in error
    assert "SELECT" not in error.replace("SELECT 1", "") and "Traceback" not in error


async def test_an_embedder_of_the_wrong_size_is_refused_at_open(database: Database) -> None:
    async def small(text: str) -> list[float]:
        return [0.0] * 8

    with pytest.raises(ConfigurationError, match=r"vector\(384\) but the embedder makes 8"):
        await PostgresTool.connect(
            database.tool_url, schemas=["restaurant"], embedder=small, embedding_dimensions=8
        )


async def test_a_user_embedding_function_is_used_for_search(database: Database) -> None:
    calls: list[str] = []
    real = MiniLMEmbedder()

    def embed(text: str) -> list[float]:  # a sync function runs in a thread
        calls.append(text)
        return real.embed_sync([text])[0]

    async with PostgresTool(
        database.tool_url, schemas=["restaurant"], embedder=embed, embedding_dimensions=384
    ) as tool:
        result = await tool.session().search({"table": "menu_items", "text": "fizzy drink"})
    assert calls == ["fizzy drink"]
    assert rows(result)[0]["name"] == "Cola"


async def test_by_default_every_user_schema_but_no_extension_object_is_read(
    database: Database, rls_schema: str
) -> None:
    # restaurant and restaurant_rls hold the same table names: a clear refusal, not a guess.
    with pytest.raises(ConfigurationError, match="exist in more than one exposed schema"):
        await PostgresTool.connect(database.tool_url)
    async with PostgresTool(database.admin_url, schemas=["public", "restaurant"]) as tool:
        # pg_stat_statements' views live in public but belong to the extension.
        assert "pg_stat_statements" not in tool.schema.tables
        assert "menu_items" in tool.schema.tables


async def test_the_generated_schemas_are_valid_json_schema_and_accept_real_requests(
    tool: PostgresTool,
) -> None:
    import jsonschema

    schemas = {t.name: t.parameters for t in tool.tools}
    for parameters in schemas.values():
        jsonschema.Draft202012Validator.check_schema(parameters)
    jsonschema.validate(
        {
            "table": "bookings",
            "filters": [
                {"column": "status", "op": "in", "value": ["pending", "confirmed"]},
                {"column": "party_size", "op": ">=", "value": 4},
            ],
            "join": ["bookings_customer_id_fkey"],
            "order_by": [{"column": "booked_for", "direction": "desc"}],
            "limit": 10,
        },
        schemas["db_query"],
    )
    with pytest.raises(jsonschema.ValidationError):  # a value outside the CHECK constraint
        jsonschema.validate(
            {"table": "bookings", "filters": [{"column": "status", "op": "=", "value": "lost"}]},
            {**schemas["db_query"], "properties": {
                "filters": {"type": "array", "items": schemas["db_query"]["properties"]
                            ["filters"]["items"]["anyOf"][0]}}},  # type: ignore[index]
        )  # fmt: skip
