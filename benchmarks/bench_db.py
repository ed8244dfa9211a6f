"""Database tool latency per call (pytest-benchmark), beside the bare psycopg query.

    DATABASE_URL=... pytest benchmarks/bench_db.py --benchmark-only      # full: 10,000 rows
    DATABASE_URL=... pytest benchmarks/bench_db.py --benchmark-disable   # quick (CI): 2,000 rows
    DATABASE_URL=... python benchmarks/bench_db.py --rows 10000 --calls 500   # p50/p99 as JSON

A table of ``rows`` items (a category with a CHECK enum, a price, a random 384-dimension
embedding under an HNSW cosine index) in a database of its own. Per call, for each operation:

* ``tool``: ``PostgresToolSession.query`` / ``search`` from arguments to the ``ToolResult`` (the
  LLM's summary and the UI's rows): validation, SQL composition, a pooled connection, the
  read-only transaction with its settings, the query, JSON conversion;
* ``bare``: the same SQL text and parameters on one psycopg connection in autocommit, rows
  fetched — the floor;
* ``bare+txn``: ``bare`` inside the tool's transaction (BEGIN READ ONLY, set_config, COMMIT), so
  the tool's share splits into the database round trips its safety costs and its Python work.

Search runs twice: with the MiniLM embedder on a new text each call (no cache hits) and with a
precomputed vector (a user embedding function that returns at once). Figures: ``extra_info``
holds p50/p99 in ms of every variant.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import statistics
import time
import uuid
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass

import pytest

psycopg = pytest.importorskip("psycopg") if __name__ != "__main__" else __import__("psycopg")

from psycopg import sql  # noqa: E402

from vani.tools.postgres import FunctionEmbedder, MiniLMEmbedder, PostgresTool  # noqa: E402
from vani.tools.postgres.build import build_select  # noqa: E402
from vani.tools.postgres.request import parse_query  # noqa: E402

CATEGORIES = ["pizza", "pasta", "salad", "dessert", "drink", "starter", "side", "special"]
QUERY = {
    "table": "items",
    "columns": ["name", "category", "price"],
    "filters": [
        {"column": "category", "op": "=", "value": "pasta"},
        {"column": "price", "op": "between", "value": [10, 20]},
    ],
    "order_by": [{"column": "price", "direction": "desc"}],
    "limit": 20,
}
AGGREGATE = {
    "table": "items",
    "aggregate": [{"function": "count"}, {"function": "avg", "column": "price"}],
    "group_by": ["category"],
}


@dataclass
class Bench:
    url: str
    name: str
    rows: int


def create(url: str, rows: int) -> Bench:
    name = f"vani_bench_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    params = psycopg.conninfo.conninfo_to_dict(url)
    params["dbname"] = name
    db_url = psycopg.conninfo.make_conninfo(**params)  # type: ignore[arg-type]
    with psycopg.connect(db_url, autocommit=True) as conn:
        conn.execute("CREATE EXTENSION IF NOT EXISTS vector")
        enum = ", ".join(f"'{c}'" for c in CATEGORIES)
        conn.execute(
            "CREATE TABLE items (id integer PRIMARY KEY, name text NOT NULL,"
            f" category text NOT NULL CHECK (category IN ({enum})), price numeric(8,2) NOT NULL,"
            " embedding vector(384) NOT NULL)"
        )
        conn.execute(
            "INSERT INTO items SELECT i, 'item ' || i, (%s::text[])[1 + i %% 8],"
            " round((random() * 50)::numeric, 2),"
            " (SELECT array_agg(random() - 0.5) FROM generate_series(1, 384) WHERE i > 0)::vector"
            " FROM generate_series(1, %s) i",
            [CATEGORIES, rows],
        )
        conn.execute("CREATE INDEX ON items USING hnsw (embedding vector_cosine_ops)")
        conn.execute("CREATE INDEX ON items (category, price)")
        conn.execute("ANALYZE items")
    return Bench(db_url, name, rows)


def drop(url: str, bench: Bench) -> None:
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(sql.SQL("DROP DATABASE {} WITH (FORCE)").format(sql.Identifier(bench.name)))


def percentiles(samples: list[float]) -> dict[str, float]:
    ordered = sorted(samples)
    p99 = ordered[min(len(ordered) - 1, round(0.99 * (len(ordered) - 1)))]
    return {"p50_ms": statistics.median(ordered) * 1000, "p99_ms": p99 * 1000}


async def timed(fn: Callable[[int], Awaitable[object]], calls: int) -> list[float]:
    for i in range(min(20, calls)):  # warm-up: pool, plans, the model
        await fn(i)
    out = []
    for i in range(calls):
        start = time.perf_counter()
        await fn(i)
        out.append(time.perf_counter() - start)
    return out


async def measure(bench: Bench, calls: int) -> dict[str, dict[str, float]]:
    """Every variant, ``calls`` sequential calls each; p50/p99 in ms."""
    minilm = MiniLMEmbedder(cache_size=0)
    vector = (await minilm.embed(["a big pizza"]))[0]

    async def fixed(_text: str) -> list[float]:
        return vector

    results: dict[str, dict[str, float]] = {}
    async with (
        PostgresTool(bench.url, schemas=["public"], embedder=minilm, max_pool_size=2) as tool,
        PostgresTool(
            bench.url, schemas=["public"], embedder=FunctionEmbedder(fixed, 384), max_pool_size=2
        ) as tool_fixed,
        await psycopg.AsyncConnection.connect(bench.url, autocommit=True) as bare,
        await psycopg.AsyncConnection.connect(bench.url) as txn,
    ):
        db, db_fixed = tool.session(), tool_fixed.session()
        await txn.set_read_only(True)
        literal = "[" + ",".join(repr(x) for x in vector) + "]"

        def statement(args: dict[str, object]) -> tuple[str, list[object]]:
            plan = parse_query(tool.schema, args, tool.limits)  # type: ignore[arg-type]
            composed, params = build_select(plan, None)
            return composed.as_string(bare), params

        search_sql = (
            "SELECT id, name, category, price, embedding <=> %s::vector AS d FROM items"
            " ORDER BY embedding <=> %s::vector LIMIT 6"
        )
        variants: dict[str, tuple[str, list[object]]] = {
            "query": statement(QUERY),
            "aggregate": statement(AGGREGATE),
            "search": (search_sql, [literal, literal]),
        }

        async def run_bare(text: str, params: list[object]) -> None:
            cur = await bare.execute(text, params)  # type: ignore[arg-type]
            await cur.fetchall()

        async def run_txn(text: str, params: list[object]) -> None:
            async with txn.transaction():
                cur = txn.cursor()
                await cur.execute(
                    "SELECT set_config(%s, %s, true), set_config(%s, %s, true)",
                    ["statement_timeout", "2000", "lock_timeout", "500"],
                )
                await cur.execute(text, params)  # type: ignore[arg-type]
                await cur.fetchall()

        for name, (text, params) in variants.items():
            results[f"{name}/bare"] = percentiles(
                await timed(lambda _i, t=text, p=params: run_bare(t, p), calls)
            )
            results[f"{name}/bare+txn"] = percentiles(
                await timed(lambda _i, t=text, p=params: run_txn(t, p), calls)
            )
        results["query/tool"] = percentiles(await timed(lambda _i: db.query(QUERY), calls))
        results["aggregate/tool"] = percentiles(await timed(lambda _i: db.query(AGGREGATE), calls))
        search = {"table": "items", "text": "a big pizza", "top_k": 5}
        results["search/tool, precomputed vector"] = percentiles(
            await timed(lambda _i: db_fixed.search(search), calls)
        )
        results["search/tool + MiniLM embedder"] = percentiles(
            await timed(
                lambda i: db.search({**search, "text": f"a big pizza number {i} please"}), calls
            )
        )
        results["embedder alone"] = percentiles(
            await timed(lambda i: minilm.embed([f"a big pizza number {i} please"]), calls)
        )
    return results


# -- pytest-benchmark ----------------------------------------------------------------------------


@pytest.fixture(scope="module")
def bench(request: pytest.FixtureRequest) -> Iterator[Bench]:
    url = os.environ.get("DATABASE_URL")
    if not url:
        pytest.skip("DATABASE_URL is not set (tools/ci/setup-20-postgres.sh starts a server)")
    quick = bool(request.config.getoption("benchmark_disable", False))
    b = create(url, 2000 if quick else 10_000)
    yield b
    drop(url, b)


@pytest.mark.parametrize("operation", ["query", "aggregate", "search"])
def test_db_tool_latency(benchmark: object, bench: Bench, operation: str) -> None:
    """The timed rounds are single tool calls (the MiniLM embedder included for search);
    ``extra_info`` has p50/p99 of every variant beside them."""
    loop = asyncio.new_event_loop()
    disabled = bool(getattr(benchmark, "disabled", False))
    try:
        results = loop.run_until_complete(measure(bench, 5 if disabled else 200))
        tool = PostgresTool(bench.url, schemas=["public"], embedder=MiniLMEmbedder(cache_size=0))
        loop.run_until_complete(tool.open())
        db = tool.session()
        counter = iter(range(10**9))
        calls: dict[str, Callable[[], Awaitable[object]]] = {
            "query": lambda: db.query(QUERY),
            "aggregate": lambda: db.query(AGGREGATE),
            "search": lambda: db.search(
                {"table": "items", "text": f"a big pizza number {next(counter)}", "top_k": 5}
            ),
        }
        call = calls[operation]
        picked = {k: v for k, v in results.items() if k.startswith(operation) or "embed" in k}
        assert picked and all(v["p50_ms"] > 0 for v in picked.values())
        benchmark.extra_info.update({"rows": bench.rows, **picked})  # type: ignore[attr-defined]
        benchmark.group = f"db-{operation}"  # type: ignore[attr-defined]
        benchmark.pedantic(  # type: ignore[attr-defined]
            lambda: loop.run_until_complete(call()), rounds=100, iterations=1, warmup_rounds=10
        )
        loop.run_until_complete(tool.close())
    finally:
        loop.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rows", type=int, default=10_000)
    parser.add_argument("--calls", type=int, default=500)
    args = parser.parse_args()
    url = os.environ["DATABASE_URL"]
    random.seed(0)
    b = create(url, args.rows)
    try:
        results = asyncio.run(measure(b, args.calls))
    finally:
        drop(url, b)
    print(json.dumps({"rows": args.rows, "calls": args.calls, "ms": results}, indent=1))


if __name__ == "__main__":
    main()
