"""A small restaurant database and the voice bot that answers from it.

``python -m vani.tools.postgres.example [DATABASE_URL]`` (or :func:`install_example`) creates
schema ``restaurant``: ``customers`` (with a ``password_hash`` the tool masks), ``menu_items``
(with a 384-dimension embedding per dish and an HNSW index), ``bookings`` and ``orders`` /
``order_items`` per customer, with comments the LLM reads as descriptions. Re-running replaces
it.

:func:`restaurant_bot` is the bot (``vani run examples/restaurant_db_bot.py``; a server hook can
serve it directly when ``DATABASE_URL`` is set): Silero VAD → STT → the LLM with the four
database tools, scoped to the caller's ``customer_id`` → TTS. See ``docs/database.md``.
"""

from __future__ import annotations

import asyncio
import json
import os
import sys
from collections.abc import Mapping, Sequence
from typing import Protocol

from vani.errors import ConfigurationError
from vani.frames import JSONObject, JSONValue
from vani.pipeline import Pipeline, PipelineParams, PipelineTask
from vani.processors import FrameProcessor
from vani.processors.aggregators.llm_context import LLMContext
from vani.services.llm.base import LLMService
from vani.services.llm.scripted import ScriptedToolCall, ScriptedTurn
from vani.tools.postgres.embed import Embedder, MiniLMEmbedder
from vani.tools.postgres.tool import PostgresTool

__all__ = [
    "MENU",
    "PARAMS",
    "SCHEMA",
    "SYSTEM_PROMPT",
    "build_pipeline",
    "database",
    "engines",
    "install_example",
    "menu_text",
    "restaurant_bot",
    "restaurant_script",
]

SCHEMA = "restaurant"

_DDL = """
DROP SCHEMA IF EXISTS {s} CASCADE;
CREATE SCHEMA {s};
CREATE TYPE {s}.booking_status AS ENUM ('pending', 'confirmed', 'cancelled', 'seated');
CREATE TABLE {s}.customers (
  id integer PRIMARY KEY,
  name text NOT NULL,
  phone text NOT NULL UNIQUE,
  email text,
  password_hash text NOT NULL,
  joined_on date NOT NULL
);
COMMENT ON TABLE {s}.customers IS 'People who book tables or order food';
CREATE TABLE {s}.menu_items (
  id integer PRIMARY KEY,
  name text NOT NULL,
  category text NOT NULL CHECK (category IN ('pizza', 'pasta', 'salad', 'dessert', 'drink')),
  size text CHECK (size IN ('small', 'medium', 'large')),
  price numeric(6, 2) NOT NULL,
  vegetarian boolean NOT NULL,
  spicy boolean NOT NULL DEFAULT false,
  description text NOT NULL,
  embedding vector(384)
);
COMMENT ON TABLE {s}.menu_items IS 'Dishes and drinks on the menu, with prices in dollars';
COMMENT ON COLUMN {s}.menu_items.size IS 'pizzas only: small 8 inch, medium 11 inch, large 14 inch';
CREATE INDEX menu_items_embedding_idx ON {s}.menu_items
  USING hnsw (embedding vector_cosine_ops);
CREATE TABLE {s}.bookings (
  id integer PRIMARY KEY,
  customer_id integer NOT NULL REFERENCES {s}.customers (id),
  booked_for timestamp NOT NULL,
  party_size integer NOT NULL CHECK (party_size BETWEEN 1 AND 20),
  status {s}.booking_status NOT NULL DEFAULT 'pending',
  notes text
);
COMMENT ON TABLE {s}.bookings IS 'Table reservations';
COMMENT ON COLUMN {s}.bookings.booked_for IS 'local date and time of the reservation';
CREATE TABLE {s}.orders (
  id integer PRIMARY KEY,
  customer_id integer NOT NULL REFERENCES {s}.customers (id),
  placed_at timestamp NOT NULL,
  status text NOT NULL CHECK (status IN ('placed', 'cooking', 'on_the_way', 'delivered')),
  total numeric(8, 2) NOT NULL
);
COMMENT ON TABLE {s}.orders IS 'Delivery orders';
CREATE TABLE {s}.order_items (
  order_id integer NOT NULL REFERENCES {s}.orders (id),
  menu_item_id integer NOT NULL REFERENCES {s}.menu_items (id),
  quantity integer NOT NULL,
  customer_id integer NOT NULL REFERENCES {s}.customers (id),
  PRIMARY KEY (order_id, menu_item_id)
);
COMMENT ON TABLE {s}.order_items IS 'What each order contains';
"""

# (id, name, category, size, price, vegetarian, spicy, description)
MENU: list[tuple[int, str, str, str | None, str, bool, bool, str]] = [
    (1, "Margherita pizza", "pizza", "small", "8.00", True, False,
     "Small 8 inch pizza with tomato, mozzarella and basil"),
    (2, "Margherita pizza", "pizza", "medium", "12.00", True, False,
     "Medium 11 inch pizza with tomato, mozzarella and basil"),
    (3, "Margherita pizza", "pizza", "large", "16.00", True, False,
     "Large 14 inch pizza with tomato, mozzarella and basil, big enough to share"),
    (4, "Pepperoni pizza", "pizza", "medium", "14.00", False, False,
     "Medium 11 inch pizza with spicy pork pepperoni and mozzarella"),
    (5, "Pepperoni pizza", "pizza", "large", "18.00", False, False,
     "Large 14 inch pizza with pepperoni and mozzarella, big enough to share"),
    (6, "Spaghetti carbonara", "pasta", None, "13.50", False, False,
     "Spaghetti with egg, pecorino and crispy pork cheek"),
    (7, "Penne arrabbiata", "pasta", None, "11.00", True, True,
     "Penne in a hot chilli and garlic tomato sauce"),
    (8, "Caesar salad", "salad", None, "9.50", False, False,
     "Romaine lettuce, chicken, parmesan and croutons"),
    (9, "Greek salad", "salad", None, "9.00", True, False,
     "Tomato, cucumber, olives and feta cheese"),
    (10, "Tiramisu", "dessert", None, "7.00", True, False,
     "Coffee-soaked sponge with mascarpone cream, a sweet Italian dessert"),
    (11, "Chocolate lava cake", "dessert", None, "7.50", True, False,
     "Warm chocolate cake with a molten centre"),
    (12, "Mango sorbet", "dessert", None, "5.00", True, False,
     "Dairy-free frozen mango dessert"),
    (13, "Cola", "drink", None, "2.50", True, False, "Fizzy soft drink, chilled can"),
    (14, "Lemonade", "drink", None, "3.00", True, False, "Fresh homemade lemonade"),
    (15, "Masala chai", "drink", None, "3.50", True, False, "Hot spiced Indian milk tea"),
]  # fmt: skip

_CUSTOMERS = [
    (1, "Asha Rao", "+911111111111", "asha@example.com", "x1", "2024-01-05"),
    (2, "Ben Ortiz", "+912222222222", "ben@example.com", "x2", "2024-03-17"),
    (3, "Chen Li", "+913333333333", None, "x3", "2025-02-01"),
]

_BOOKINGS = [
    (1, 1, "2026-12-24 19:30", 4, "confirmed", "window table"),
    (2, 1, "2027-01-10 20:00", 2, "pending", None),
    (3, 2, "2026-12-24 19:30", 6, "confirmed", "birthday"),
    (4, 2, "2026-11-30 13:00", 3, "seated", None),
    (5, 3, "2026-12-31 21:00", 8, "cancelled", "new year"),
]

_ORDERS = [
    (1, 1, "2026-12-01 19:05", "delivered", "21.00"),
    (2, 1, "2026-12-04 20:15", "on_the_way", "29.50"),
    (3, 2, "2026-12-03 18:40", "delivered", "18.00"),
]

_ORDER_ITEMS = [(1, 3, 1, 1), (1, 12, 1, 1), (2, 5, 1, 1), (2, 7, 1, 1), (3, 5, 1, 2)]


def menu_text(item: tuple[int, str, str, str | None, str, bool, bool, str]) -> str:
    """What a dish's embedding is made from."""
    _id, name, category, size, _price, vegetarian, spicy, description = item
    words = [f"{size} {name}" if size else name, description, category]
    if vegetarian:
        words.append("vegetarian")
    if spicy:
        words.append("spicy")
    return ". ".join(words)


async def install_example(
    conninfo: str, *, schema: str = SCHEMA, embedder: Embedder | None = None
) -> None:
    """Create (or re-create) the example schema with its rows and menu embeddings."""
    import psycopg
    from psycopg import sql

    embedder = embedder or MiniLMEmbedder()
    vectors = await embedder.embed([menu_text(m) for m in MENU])
    ident = sql.Identifier(schema).as_string(None)
    async with await psycopg.AsyncConnection.connect(conninfo, autocommit=True) as conn:
        await conn.execute("CREATE EXTENSION IF NOT EXISTS vector")
        async with conn.transaction():
            await conn.execute(_DDL.format(s=ident).encode())
            cur = conn.cursor()
            await _insert(cur, schema, "customers", 6, _CUSTOMERS)
            menu_rows = [
                (*m[:7], m[7], "[" + ",".join(repr(x) for x in v) + "]")
                for m, v in zip(MENU, vectors, strict=True)
            ]
            await _insert(cur, schema, "menu_items", 9, menu_rows)
            await _insert(cur, schema, "bookings", 6, _BOOKINGS)
            await _insert(cur, schema, "orders", 5, _ORDERS)
            await _insert(cur, schema, "order_items", 4, _ORDER_ITEMS)


async def _insert(
    cur: object, schema: str, table: str, width: int, rows: Sequence[Sequence[object]]
) -> None:
    from psycopg import AsyncCursor, sql

    assert isinstance(cur, AsyncCursor)
    statement = sql.SQL("INSERT INTO {}.{} VALUES ({})").format(
        sql.Identifier(schema),
        sql.Identifier(table),
        sql.SQL(", ").join(sql.Placeholder() * width),
    )
    await cur.executemany(statement, [list(r) for r in rows])


def main(argv: Sequence[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    url = args[0] if args else os.environ.get("DATABASE_URL")
    if not url:
        print("usage: python -m vani.tools.postgres.example DATABASE_URL", file=sys.stderr)
        return 2
    asyncio.run(install_example(url))
    print(f"installed schema {SCHEMA!r}")
    return 0


if __name__ == "__main__":
    sys.exit(main())


# -- the example bot's offline brain ----------------------------------------------------------

_MENU_WORDS = ("cost", "price", "how much", "menu", "pizza", "drink", "dessert", "pasta", "salad")
_BOOKING_WORDS = ("book", "reservation", "table for")


def _money(value: object) -> str:
    amount = float(str(value))
    dollars, cents = int(amount), round((amount - int(amount)) * 100)
    return f"{dollars} dollars" + (f" {cents}" if cents else "")


def _answer(function: str, result: dict[str, object]) -> str:
    if "error" in result:
        return "Sorry, I could not look that up just now."
    found = result.get("rows")
    rows = [r for r in found if isinstance(r, dict)] if isinstance(found, list) else []
    if not rows:
        return "I could not find anything for that, sorry."
    first = rows[0]
    if function == "db_search":
        size = f"{first.get('size')} " if first.get("size") else ""
        return f"The {size}{first.get('name')} is {_money(first.get('price'))}."
    when = str(first.get("booked_for", "")).replace("T", " at ")[:19]
    count = result.get("row_count")
    plural = "booking" if count == 1 else "bookings"
    return (
        f"You have {count} {plural}. The next one is on {when} for"
        f" {first.get('party_size')} people, and it is {first.get('status')}."
    )


def restaurant_script(context: LLMContext) -> ScriptedTurn | str | None:
    """The example bot's scripted brain (no LLM needed): menu questions go to ``db_search``,
    booking questions to ``db_query`` on the caller's (tenant-scoped) bookings, and the answer
    is read from the tool's summary. Deterministic; used when no LLM key is set."""
    messages = context.messages
    last = messages[-1] if messages else {}
    if last.get("role") == "tool":
        call_id = last.get("tool_call_id")
        function = "db_query"
        for m in messages:
            for call in m.get("tool_calls") or []:  # type: ignore[union-attr]
                if isinstance(call, dict) and call.get("id") == call_id:
                    fn = call.get("function")
                    function = str(fn.get("name")) if isinstance(fn, dict) else function
        try:
            result = json.loads(str(last.get("content") or "{}"))
        except ValueError:
            result = {"error": "unreadable"}
        return _answer(function, result if isinstance(result, dict) else {"error": "?"})
    said = str(last.get("content") or "") if last.get("role") == "user" else ""
    lowered = said.lower()
    if any(w in lowered for w in _BOOKING_WORDS):
        query: JSONObject = {
            "table": "bookings",
            "filters": [{"column": "status", "op": "!=", "value": "cancelled"}],
            "order_by": [{"column": "booked_for", "direction": "asc"}],
        }
        return ScriptedTurn(tool_calls=[ScriptedToolCall("db_query", query)])
    if any(w in lowered for w in _MENU_WORDS):
        search: JSONObject = {"table": "menu_items", "text": said, "top_k": 3}
        return ScriptedTurn(tool_calls=[ScriptedToolCall("db_search", search)])
    return "Welcome to Vani Pizza! Ask me about the menu or your bookings."


SYSTEM_PROMPT = (
    "You answer the phone for Vani Pizza, a restaurant. Keep every answer to one or two short"
    " spoken sentences, no lists or markdown. Use the database tools for anything about the"
    " menu, prices, the caller's bookings and orders: db_search for dishes described in the"
    " caller's words, db_query for exact lookups and totals. Never guess a price."
)


# -- the bot -----------------------------------------------------------------------------------

PARAMS = PipelineParams(audio_in_sample_rate=16000, audio_out_sample_rate=24000)
_tool: PostgresTool | None = None


async def database(url: str | None = None) -> PostgresTool:
    """The process's tool over the example schema (one pool and one introspection, shared by
    every call); ``url`` defaults to ``$DATABASE_URL``."""
    global _tool
    if _tool is None:
        conninfo = url or os.environ.get("DATABASE_URL")
        if not conninfo:
            raise ConfigurationError("the restaurant bot needs DATABASE_URL")
        try:
            _tool = await PostgresTool.connect(
                conninfo,
                schemas=[SCHEMA],
                masks=["password_hash", "phone", "email"],
                embedder=MiniLMEmbedder(),
            )
        except ConfigurationError as exc:
            raise ConfigurationError(
                f"{exc}; load the example schema once with:"
                " python -m vani.tools.postgres.example $DATABASE_URL"
            ) from None
    return _tool


def engines() -> tuple[FrameProcessor, LLMService, FrameProcessor]:
    """(STT, LLM, TTS): Sarvam with ``SARVAM_API_KEY`` (``SARVAM_STT_URL``/``SARVAM_TTS_URL``
    point it elsewhere) else Whisper + Piper on this machine; OpenAI with ``OPENAI_API_KEY``
    (and ``OPENAI_BASE_URL``) else :func:`restaurant_script`."""
    stt: FrameProcessor
    tts: FrameProcessor
    if os.environ.get("SARVAM_API_KEY"):
        from vani.services.sarvam import SarvamSTTService, SarvamTTSService
        from vani.services.sarvam._common import DEFAULT_BASE_URL

        stt = SarvamSTTService(base_url=os.environ.get("SARVAM_STT_URL", DEFAULT_BASE_URL))
        tts = SarvamTTSService(base_url=os.environ.get("SARVAM_TTS_URL", DEFAULT_BASE_URL))
    else:
        from vani.services.local import PiperTTSService, WhisperSTTService

        stt, tts = WhisperSTTService(), PiperTTSService()
    if os.environ.get("OPENAI_API_KEY"):
        from vani.services.openai import OpenAILLMService

        return stt, OpenAILLMService(), tts
    from vani.services.llm import ScriptedLLMService

    return stt, ScriptedLLMService(rule=restaurant_script), tts


def build_pipeline(
    transport_in: FrameProcessor,
    transport_out: FrameProcessor,
    tool: PostgresTool,
    customer_id: int,
    stt: FrameProcessor,
    llm: LLMService,
    tts: FrameProcessor,
) -> Pipeline:
    """The call's pipeline; every query of its tools sees only ``customer_id``'s rows."""
    from vani.audio.vad_processor import VADProcessor
    from vani.processors.aggregators import LLMContextAggregatorPair

    db = tool.session({"customer_id": customer_id})
    db.register(llm)
    context = LLMContext([{"role": "system", "content": SYSTEM_PROMPT}], db.tools)
    talk = LLMContextAggregatorPair(context)
    return Pipeline(
        [transport_in, VADProcessor(), stt, talk.user(), llm, tts, transport_out, talk.assistant()]
    )


class CallFacts(Protocol):
    @property
    def custom_parameters(self) -> Mapping[str, JSONValue]: ...


class BotSession(Protocol):
    """What the bot uses of ``vani.server.Session`` (which this layer may not import)."""

    @property
    def call(self) -> CallFacts: ...

    def input(self) -> FrameProcessor: ...

    def output(self) -> FrameProcessor: ...

    def task(
        self, pipeline: FrameProcessor, *, params: PipelineParams | None = None
    ) -> PipelineTask: ...

    async def run(self, pipeline_or_task: FrameProcessor | PipelineTask) -> None: ...


async def restaurant_bot(session: BotSession) -> None:
    """``bot(session)`` for the server: the caller is the ``customer_id`` the client posted to
    ``/start`` (a real bot takes it from its own authentication)."""
    tool = await database()
    customer_id = int(str(session.call.custom_parameters.get("customer_id", 1)))
    stt, llm, tts = engines()
    pipeline = build_pipeline(session.input(), session.output(), tool, customer_id, stt, llm, tts)
    await session.run(session.task(pipeline, params=PARAMS))
