"""Hypothesis over barge-in schedules on a real socket: whatever the sentence lengths, the
provider and the moment of the barge-in, the text released after the output (what the context
keeps) is exactly the sentences whose marks the provider echoed before the clear, the clear is
the last thing the bot sent for that answer, and the bot's speaking state alternates cleanly."""

from __future__ import annotations

import asyncio

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from phone_support import PhoneServer, phone_server, until

from vani.testing import TelephonySimulator
from vani.transports.telephony import TelephonyParams

SUPPRESS = [HealthCheck.function_scoped_fixture, HealthCheck.too_slow]


@settings(max_examples=8, deadline=None, suppress_health_check=SUPPRESS)
@given(
    provider=st.sampled_from(["twilio", "telnyx", "plivo"]),
    sentences=st.integers(1, 3),
    sentence_secs=st.sampled_from([0.1, 0.2, 0.3]),
    barge_in_after=st.one_of(st.none(), st.floats(0.0, 0.8)),
    send_ahead=st.sampled_from([0.02, 0.06, 0.2]),
)
async def test_any_barge_in_keeps_exactly_the_echoed_sentences(
    provider: str,
    sentences: int,
    sentence_secs: float,
    barge_in_after: float | None,
    send_ahead: float,
) -> None:
    params = TelephonyParams(hang_up_on_end=False, audio_out_send_ahead_secs=send_ahead)
    server = PhoneServer(params, greet=False)
    async with phone_server(server) as url:
        sim = TelephonySimulator(provider)
        await sim.connect(f"{url}/{provider}")
        session = await server.next()
        session.bot.count, session.bot.sentence_secs = sentences, sentence_secs
        await sim.send_dtmf("1", gap_secs=0)
        await sim.wait_for_event("media")
        if barge_in_after is not None:
            await asyncio.sleep(barge_in_after)
            await sim.send_dtmf("*", gap_secs=0)
        total = sentences * sentence_secs
        await until(lambda: session.tail.speaking()[-1:] == ["stopped"], 5 + total)
        await asyncio.sleep(0.3)
        clears = sim.of("clear")
        cut = clears[0].t if clears else float("inf")
        echoed_before = [e.name for e in sim.of("mark_echo") if e.t < cut]
        assert session.tail.texts() == [f"sentence {i + 1}" for i in range(len(echoed_before))]
        if clears:
            assert sim.audio_after(cut, 0.3) == 0
            assert [e for e in sim.events if e.kind in ("media", "mark") and e.t > cut] == []
        else:
            assert len(echoed_before) == sentences
        speaking = session.tail.speaking()
        assert speaking == ["started", "stopped"] * (len(speaking) // 2), speaking
        await sim.hang_up()
        await asyncio.wait_for(session.done.wait(), 1.0)
