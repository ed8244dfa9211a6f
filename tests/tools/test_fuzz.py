"""Injection fuzzing: hostile names, operators, values and malformed argument JSON.

Each example is one tool call as an LLM would send it (raw JSON text through the same ``invoke``
path the LLM service uses). Asserted for every example: the call ends in a result or a short
error (never an exception), and no row outside the caller's tenant comes back. Asserted over the
whole run: only the tool's own statement shapes reached the server (pg_stat_statements, as the
tool's role), every quoted identifier in them is an introspected name, and no table changed
(checksums of every table before and after).

Run twice: with the tool's own tenant filter, and with row-level security alone (the tool adds
no filter; the database's policies read the transaction setting). ``VANI_FUZZ_EXAMPLES`` sets
the number of examples of the first (10,000 by default; the long run uses 1,000,000, in batches
of 10,000); the second gets half as many.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
from collections.abc import Iterator
from dataclasses import dataclass

import psycopg
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.tools.conftest import Database
from vani.errors import FunctionArgumentsError
from vani.frames import FunctionCallFromLLM, JSONValue
from vani.processors.aggregators import LLMContext
from vani.services.llm import ScriptedLLMService
from vani.services.llm.functions import RegisteredFunction, invoke
from vani.tools.postgres import MiniLMEmbedder, PostgresTool, PostgresToolSession, TenantScope
from vani.tools.postgres.request import AGGREGATES, OPS

EXAMPLES = int(os.environ.get("VANI_FUZZ_EXAMPLES", "10000"))
# Long runs go in batches (each a fresh hypothesis run) so memory stays flat; with
# VANI_FUZZ_PROGRESS set, the count done so far is written there after each batch.
BATCH = 10_000

# Customer 1's rows: what a scoped session may ever see of the private tables.
MINE = {
    "bookings": {1, 2},
    "orders": {1, 2},
    "customers": {1},
    "order_items": {(1, 3), (1, 12), (2, 5), (2, 7)},
}
TABLES = ["menu_items", "bookings", "orders", "order_items", "customers", "slow_menu"]
COLUMNS = sorted(
    {
        "id", "name", "category", "size", "price", "vegetarian", "spicy", "description",
        "embedding", "customer_id", "booked_for", "party_size", "status", "notes", "placed_at",
        "total", "order_id", "menu_item_id", "quantity", "phone", "email", "joined_on",
        "password_hash", "slept",
    }
)  # fmt: skip
FKS = [
    "bookings_customer_id_fkey",
    "orders_customer_id_fkey",
    "order_items_order_id_fkey",
    "order_items_menu_item_id_fkey",
    "order_items_customer_id_fkey",
]
HOSTILE = [
    "'; DROP TABLE restaurant.customers; --",
    '" OR 1=1 --',
    'menu_items"; DELETE FROM restaurant.bookings; --',
    "1; UPDATE restaurant.menu_items SET price = 0",
    "$$; COMMIT; DROP SCHEMA restaurant CASCADE; $$",
    "/* */ UNION SELECT password_hash FROM restaurant.customers --",
    "\\'; SELECT pg_sleep(10); --",
    "customer_id = 2 OR true",
    "nul\x00byte",
    "émoji 🍕 ‮ right-to-left",
    "%",
    "_",
    "\\",
    "pg_catalog.pg_authid",
    "restaurant.customers",
    "customers.password_hash",
    "<<1 MB>>",  # expanded to 1 MB of text by the test body (see expand)
    "'" * 5000,
]


# The 1 MB string travels through hypothesis as a short marker, and the test body expands it
# in the argument text it sends, so the tool gets exactly the text it would have got. Hypothesis
# keeps every value drawn (per span, in each example and in its cache of recent ones) and puts
# the repr of a recursive strategy, elements included, in an event whenever a draw exceeds
# max_leaves: a real 1 MB element made those copies most of the run's time and gigabytes of
# memory. The other strings are drawn by index for the same reason (a short repr).
BIG = "<<1 MB>>"
BIG_TEXT = "x" * 1_000_000  # no character JSON escapes: the marker's encoding is itself


def expand(text: str) -> str:
    return text.replace(BIG, BIG_TEXT)


def _hostile(index: int) -> str:
    return HOSTILE[index]


HOSTILE_STRINGS = st.sampled_from(range(len(HOSTILE))).map(_hostile)


def hostile_text() -> st.SearchStrategy[str]:
    return st.one_of(HOSTILE_STRINGS, st.text(max_size=40))


def name(real: list[str]) -> st.SearchStrategy[str]:
    qualified = st.builds(
        lambda t, c: f"{t}.{c}", st.sampled_from(TABLES), st.sampled_from(COLUMNS)
    )
    return st.one_of(st.sampled_from(real), st.sampled_from(real), qualified, hostile_text())


SCALARS = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=True, allow_infinity=True),
    hostile_text(),
    st.sampled_from(["pizza", "large", "confirmed", "2026-12-24", "1", "2", "t", "16.00"]),
)
VALUES = st.recursive(
    SCALARS,
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=6), inner, max_size=3)
    ),
    max_leaves=6,
)


def filters() -> st.SearchStrategy[JSONValue]:
    item = st.fixed_dictionaries(
        {"column": name(COLUMNS), "op": st.one_of(st.sampled_from(OPS), hostile_text())},
        optional={"value": VALUES, "extra": VALUES},
    )
    return st.one_of(st.lists(item, max_size=4), VALUES)  # type: ignore[arg-type]


def order_by() -> st.SearchStrategy[JSONValue]:
    entry = st.one_of(
        name(COLUMNS),
        st.fixed_dictionaries(
            {"column": name(COLUMNS)},
            optional={"direction": st.one_of(st.sampled_from(["asc", "desc"]), hostile_text())},
        ),
    )
    return st.one_of(st.lists(entry, max_size=3), VALUES)  # type: ignore[arg-type]


def aggregates() -> st.SearchStrategy[JSONValue]:
    entry = st.fixed_dictionaries(
        {"function": st.one_of(st.sampled_from(AGGREGATES), hostile_text())},
        optional={"column": name(["*", *COLUMNS])},
    )
    return st.one_of(st.lists(entry, max_size=3), VALUES)  # type: ignore[arg-type]


QUERY = st.fixed_dictionaries(
    {"table": name(TABLES)},
    optional={
        "columns": st.lists(name(COLUMNS), max_size=4),
        "filters": filters(),
        "order_by": order_by(),
        "limit": st.one_of(st.integers(-5, 10**9), VALUES),
        "aggregate": aggregates(),
        "group_by": st.lists(name(COLUMNS), max_size=2),
        "join": st.lists(st.one_of(st.sampled_from(FKS), hostile_text()), max_size=3),
        "sql": hostile_text(),
    },
)
SEARCH = st.fixed_dictionaries(
    {"table": name(["menu_items", *TABLES]), "text": st.sampled_from(["big pizza", "; DROP", "x"])},
    optional={
        "top_k": VALUES,
        "filters": filters(),
        "columns": st.lists(name(COLUMNS), max_size=3),
    },
)
REFINE = st.fixed_dictionaries(
    {"result_set": st.one_of(st.sampled_from(["rs1", "rs2", "rs3"]), hostile_text())},
    optional={"filters": filters(), "order_by": order_by(), "limit": VALUES},
)


Raw = tuple[str, int | None]  # argument text (BIG not yet expanded), where to cut it


def raw_json(args: st.SearchStrategy[dict[str, JSONValue]]) -> st.SearchStrategy[Raw]:
    """LLM-shaped argument text: mostly valid JSON, sometimes cut, padded or not an object
    (cut after BIG is expanded, as the text would have been)."""
    text = args.map(lambda a: json.dumps(a, ensure_ascii=False))
    whole = st.tuples(text, st.none())
    return st.one_of(
        whole,
        whole,
        whole,
        st.tuples(text, st.integers(0, 200)),
        st.tuples(st.tuples(text, hostile_text()).map(lambda t: t[0] + t[1]), st.none()),
        st.tuples(st.text(max_size=50), st.none()),
        st.tuples(VALUES.map(json.dumps), st.none()),
    )


CALLS = st.one_of(
    st.tuples(st.just("db_query"), raw_json(QUERY)),
    st.tuples(st.just("db_query"), raw_json(QUERY)),
    st.tuples(st.just("db_refine"), raw_json(REFINE)),
    st.tuples(st.just("db_search"), raw_json(SEARCH)),
    st.tuples(
        st.just("db_schema"), raw_json(st.fixed_dictionaries({}, optional={"table": name(TABLES)}))
    ),
)


@dataclass
class Harness:
    loop: asyncio.AbstractEventLoop
    tool: PostgresTool
    session: PostgresToolSession
    llm: ScriptedLLMService
    context: LLMContext
    mode: str = "filter"
    calls: int = 0


def checksums(database: Database) -> dict[str, str]:
    with psycopg.connect(database.admin_url) as conn:
        tables = conn.execute(
            "SELECT format('%I.%I', schemaname, tablename) FROM pg_tables"
            " WHERE schemaname NOT IN ('pg_catalog', 'information_schema')"
        ).fetchall()
        return {
            str(t): str(
                conn.execute(
                    f"SELECT md5(coalesce(string_agg(x::text, '|' ORDER BY x::text), ''))"
                    f" FROM {t} x"  # the catalog's own names, quoted by format('%I')
                ).fetchone()[0]  # type: ignore[index]
            )
            for (t,) in tables
        }


def statements(database: Database) -> list[str]:
    with psycopg.connect(database.admin_url) as conn:
        found = conn.execute(
            "SELECT s.query FROM pg_stat_statements s"
            " JOIN pg_roles r ON r.oid = s.userid JOIN pg_database d ON d.oid = s.dbid"
            " WHERE r.rolname = %s AND d.datname = %s",
            [database.role, database.name],
        ).fetchall()
        return [str(q) for (q,) in found]


def reset_statements(database: Database) -> None:
    with psycopg.connect(database.admin_url, autocommit=True) as conn:
        conn.execute(
            "SELECT pg_stat_statements_reset((SELECT oid FROM pg_roles WHERE rolname = %s),"
            " (SELECT oid FROM pg_database WHERE datname = %s))",
            [database.role, database.name],
        )


@pytest.fixture(params=["filter", "rls"])
def harness(
    request: pytest.FixtureRequest, database: Database, embedder: MiniLMEmbedder, rls_schema: str
) -> Iterator[Harness]:
    """The tool scoped to customer 1: by its own filter on the plain schema, or by row-level
    security alone (no filter from the tool) on the schema with policies."""
    mode = request.param
    loop = asyncio.new_event_loop()
    tool = PostgresTool(
        database.tool_url,
        schemas=["restaurant" if mode == "filter" else rls_schema],
        masks=["password_hash"],
        embedder=embedder,
        statement_timeout_secs=0.25,  # the slow view may be fuzzed: keep each call short
        max_pool_size=2,
    )
    loop.run_until_complete(tool.open())
    scope = TenantScope({"customer_id": 1}, columns={"customers.id": "customer_id"}, enforce=mode)
    session = tool.session(scope)
    llm = ScriptedLLMService()
    session.register(llm)
    yield Harness(loop, tool, session, llm, LLMContext(), mode)
    loop.run_until_complete(tool.close())
    loop.close()


def check_tenant(data: JSONValue) -> None:
    if not isinstance(data, dict) or not isinstance(data.get("rows"), list):
        return
    table = data.get("table")
    if data.get("kind") == "aggregate":
        # A count over a private table never counts more rows than the caller owns (joins
        # along one-to-many keys may repeat them, so only the no-join case is bounded).
        counts = [r.get("count") for r in data["rows"] if isinstance(r, dict)]  # type: ignore[union-attr]
        bounded = table in MINE and not data.get("joins")
        if bounded and counts and all(isinstance(c, int) for c in counts):
            assert sum(counts) <= len(MINE[str(table)]), data  # type: ignore[arg-type]
        return
    for row in data["rows"]:  # type: ignore[union-attr]
        assert isinstance(row, dict)
        if table in ("bookings", "orders", "customers"):
            assert row["id"] in MINE[str(table)], row
        if table == "order_items":
            assert (row["order_id"], row["menu_item_id"]) in MINE["order_items"], row
        for key, value in row.items():
            prefix, _, column = key.rpartition(".")
            if column == "customer_id" and value is not None:
                assert value == 1, row
            if (
                prefix in ("bookings", "orders", "customers")
                and column == "id"
                and value is not None
            ):
                assert value in MINE[prefix], row


def known_identifiers(tool: PostgresTool) -> set[str]:
    schema = tool.schema
    known = {"pg_catalog", "text", "_distance", "count", "similarity"}
    for table in schema.tables.values():
        known.update({table.schema, table.name})
        for column in table.all_columns.values():
            known.update({column.name, f"{table.name}.{column.name}"})
            known.update({column.type_schema, column.type_ident})
            for fn in AGGREGATES:
                known.update({f"{fn}_{column.name}", f"{fn}_{table.name}_{column.name}"})
    return known


ALLOWED = (
    re.compile(r"^BEGIN READ ONLY$"),
    re.compile(r"^(COMMIT|ROLLBACK)$"),
    # pg_stat_statements shows every constant as $n, the literal true included
    re.compile(r"^SELECT set_config\(\$\d+, \$\d+, \$\d+\)(, set_config\(\$\d+, \$\d+, \$\d+\))*$"),
    re.compile(
        r'^SELECT (?:"|(?:count|sum|avg|min|max)\()[^;]* FROM "restaurant(_rls)?"\."[a-z_]+"'
        r' AS "[a-z_]+"[^;]* LIMIT \$\d+$'
    ),
)
QUOTED = re.compile(r'"((?:[^"]|"")*)"')


def check_statements(harness: Harness, database: Database, before: dict[str, str]) -> None:
    assert checksums(database) == before
    known = known_identifiers(harness.tool)
    seen = statements(database)
    assert any(s.startswith('SELECT "') for s in seen)  # the fuzzer did reach the database
    for statement in seen:
        assert any(p.match(statement) for p in ALLOWED), statement
        for ident in QUOTED.findall(statement):
            assert ident.replace('""', '"') in known, (ident, statement)


@pytest.mark.slow
def test_no_injection_reaches_the_server(harness: Harness, database: Database) -> None:
    # The tool's own filter gets the full count; row-level security alone half as many.
    examples = EXAMPLES if harness.mode == "filter" else EXAMPLES // 2
    before = checksums(database)
    reset_statements(database)

    @settings(
        max_examples=min(examples, BATCH),
        deadline=None,
        database=None,
        suppress_health_check=list(HealthCheck),
    )
    @given(call=CALLS)
    def one(call: tuple[str, Raw]) -> None:
        function, (text, cut) = call
        arguments = expand(text)[:cut]
        harness.calls += 1
        registered = RegisteredFunction(function, getattr(harness.session, function))
        outcome = harness.loop.run_until_complete(
            invoke(
                FunctionCallFromLLM(function, f"call_{harness.calls}", arguments),
                registered,
                harness.llm,
                harness.context,
                ["db_schema", "db_query", "db_search", "db_refine"],
            )
        )
        # Only malformed JSON is an error of the framework; everything else is the tool's
        # own short answer.
        assert outcome.error is None or isinstance(outcome.error, FunctionArgumentsError), (
            outcome.error
        )
        # Never SQL, never a stack trace, never long (values are echoed cut to 60 characters).
        # (A marker the LLM itself sent may come back inside the echo of its own value.)
        for marker in ("Traceback", "set_config", ' FROM "', "CAST(", "pg_catalog"):
            assert marker in arguments or marker not in outcome.content, outcome.content[:200]
        if outcome.content.startswith(('{"error"', "error:")):
            assert len(outcome.content) < 1000, outcome.content[:200]
        check_tenant(outcome.data)

    progress = os.environ.get("VANI_FUZZ_PROGRESS")
    # Checked after every batch, so a long run fails as soon as something gets through.
    done = 0
    while done < examples:
        one()
        done += min(examples, BATCH)
        check_statements(harness, database, before)
        if progress:
            with open(progress, "a") as f:
                f.write(
                    f"{harness.mode}: {done} examples, {harness.calls} calls, all statements"
                    f" allowed ({len(statements(database))} distinct), no table changed\n"
                )

    check_statements(harness, database, before)
