"""Any sequence of client messages, good and bad, is answered exactly once each, in order, and
the session still ends cleanly (hypothesis)."""

from __future__ import annotations

import asyncio
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.ravi.rig import Session
from vani.frames import JSONValue
from vani.ravi import ClientMessage, RAVIProcessor

# (name, message data or raw message, what the client must get back: answer types in order)
KINDS: dict[str, tuple[str, JSONValue, list[str]]] = {
    "ready": ("client-ready", {"version": "2.2.0", "about": {}}, ["bot-ready"]),
    "ready-v1": ("client-ready", {"version": "1.1.0", "about": {}}, ["bot-ready"]),
    "ready-bad": ("client-ready", {"version": "9.9"}, ["error-response", "bot-ready"]),
    "ask": ("client-message", {"t": "ok", "d": 1}, ["server-response"]),
    "ask-raises": ("client-message", {"t": "raise"}, ["error-response"]),
    "ask-silent": ("client-message", {"t": "silent"}, []),
    "dtmf": ("dtmf", {"buttons": ["1", "2"]}, []),
    "dtmf-bad": ("dtmf", {"buttons": ["x"]}, ["error-response"]),
    "text": (
        "send-text",
        {"content": "hi", "options": {"run_immediately": False}},
        ["user-input"],
    ),
    "unknown": ("append-to-context", {}, ["error-response"]),
    "no-id": ("", {"label": "rtvi-ai", "type": "dtmf"}, ["error"]),
    "foreign": ("", {"label": "other", "type": "x", "id": "f"}, []),
}
ANSWERS = {"bot-ready", "server-response", "error-response", "user-input", "error"}


async def run(sequence: list[str], disconnect: bool) -> None:
    ravi = RAVIProcessor()

    @ravi.event_handler("on_client_message")
    async def on_message(processor: RAVIProcessor, message: ClientMessage) -> JSONValue:
        if message.type == "raise":
            raise ValueError("refused")
        if message.type == "silent":
            return None
        await asyncio.sleep(0)
        return message.data

    expected: list[tuple[str, str | None]] = []
    async with Session(ravi, observer=False) as s:
        for i, name in enumerate(sequence):
            type_, data, answers = KINDS[name]
            msg_id = f"id{i}"
            if type_:
                await s.send(type_, data, id_=msg_id)
            else:
                await s.send_raw(data)
                msg_id = ""
            for answer in answers:
                expected.append((answer, None if answer == "error" else msg_id))
        if disconnect:
            await s.send("disconnect-bot")
            await s.wait_finished()
    got: list[tuple[str, Any]] = []
    for message in s.client.messages:
        if message["type"] not in ANSWERS:
            continue
        if message["type"] == "user-input":
            got.append(("user-input", message["data"]["msg_id"]))
        else:
            got.append((message["type"], message.get("id")))
    assert got == expected


@settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(st.lists(st.sampled_from(sorted(KINDS)), max_size=10), st.booleans())
def test_any_sequence_is_answered_in_order_and_the_session_ends(
    sequence: list[str], disconnect: bool
) -> None:
    asyncio.run(run(sequence, disconnect))
