"""TelephonyTransport against the provider simulator over real sockets: marks decide what was
heard and when the bot stops, clear goes first, the caller's hang-up ends the call, the bot's
end hangs up through the (fake) REST API."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator

import numpy as np
import pytest
from phone_support import RATE, PhoneServer, PhoneSession, phone_server, tone, until

from vani.frames import BotStoppedSpeakingFrame, TTSAudioRawFrame, TTSTextFrame
from vani.testing import FakeTelephonyAPI, TelephonySimulator
from vani.testing.telephony_wire import SimCall
from vani.transports.telephony import TelephonyParams

MARK_PROVIDERS = ["twilio", "telnyx", "plivo"]


def call_for(provider: str) -> SimCall:
    return SimCall(call_id=f"{provider}-call-1", custom_parameters={"lang": "en"})


@pytest.mark.parametrize("provider", [*MARK_PROVIDERS, "exotel"])
async def test_greeting_plays_and_the_bot_stops_when_the_last_mark_comes_back(
    provider: str,
) -> None:
    async with FakeTelephonyAPI() as api:
        server = PhoneServer(TelephonyParams(credentials=api.credentials()))
        async with phone_server(server) as url:
            sim = TelephonySimulator(provider, call=call_for(provider))
            await sim.connect(f"{url}/{provider}")
            session = await server.next()
            assert session.transport.call.call_id == f"{provider}-call-1"
            assert session.transport.call.custom_parameters == {"lang": "en"}
            await sim.wait_for_audio(0.4)
            await until(lambda: session.tail.speaking() == ["started", "stopped"])
            assert sim.of("unknown") == []  # every message was the provider's own format
            assert abs(sim.received_audio_secs - 0.4) < 0.25
            if provider == "exotel":
                assert sim.of("mark") == []
            else:
                echoes = sim.of("mark_echo")
                assert echoes, "a mark follows the sentence"
                # Bot-stopped-speaking only after the provider said the audio played.
                (stopped_at,) = session.tail.times(BotStoppedSpeakingFrame)
                assert stopped_at >= sim.started_at + echoes[-1].t
                assert session.tail.texts() == ["sentence 1"]
            await sim.hang_up()
            async with asyncio.timeout(1.0):
                await session.done.wait()
        assert api.of("hang_up") == []  # the caller hung up: nothing to end


@pytest.mark.parametrize("provider", MARK_PROVIDERS)
async def test_barge_in_clears_first_and_the_context_holds_only_echoed_sentences(
    provider: str,
) -> None:
    server = PhoneServer(TelephonyParams(hang_up_on_end=False), greet=False)
    async with phone_server(server) as url:
        sim = TelephonySimulator(provider, call=call_for(provider))
        await sim.connect(f"{url}/{provider}")
        session = await server.next()
        await sim.send_dtmf("1", gap_secs=0)  # three sentences of 0.4 s
        # Barge in once the first sentence has played and the second is under way.
        await sim.wait_for(lambda: len(sim.of("mark_echo")) >= 1, 5)
        await asyncio.sleep(0.15)
        await sim.send_dtmf("*", gap_secs=0)
        await sim.wait_for_event("clear", timeout=5)
        await asyncio.sleep(0.6)
        (clear,) = sim.of("clear")
        heard = [e.name for e in sim.of("mark_echo") if e.t < clear.t]
        assert len(heard) == 1
        # No stale audio after the clear.
        assert sim.audio_after(clear.t, 0.6) == 0
        # What left the output (for the assistant context) is exactly the echoed sentences.
        assert session.tail.texts() == ["sentence 1"]
        assert session.tail.speaking()[-1] == "stopped"
        await sim.hang_up()
        async with asyncio.timeout(1.0):
            await session.done.wait()


async def test_marks_echoed_on_clear_do_not_count_as_heard() -> None:
    # A long send-ahead: the first sentence's mark is sent 0.3 s before its audio has played.
    params = TelephonyParams(hang_up_on_end=False, audio_out_send_ahead_secs=0.3)
    server = PhoneServer(params, greet=False)
    async with phone_server(server) as url:
        sim = TelephonySimulator("twilio")
        await sim.connect(f"{url}/twilio")
        session = await server.next()
        await sim.send_dtmf("1", gap_secs=0)
        await sim.wait_for_event("mark")
        assert sim.of("mark_echo") == []
        await sim.send_dtmf("*", gap_secs=0)
        await sim.wait_for_event("clear")
        await asyncio.sleep(0.3)
        (clear,) = sim.of("clear")
        assert any(e.t >= clear.t for e in sim.of("mark_echo")), "twilio echoes pending marks"
        assert session.tail.texts() == []
        await sim.hang_up()
        await asyncio.wait_for(session.done.wait(), 1.0)


@pytest.mark.parametrize("provider", MARK_PROVIDERS)
async def test_the_bot_ends_the_call_through_the_rest_api(provider: str) -> None:
    async with FakeTelephonyAPI() as api:
        server = PhoneServer(TelephonyParams(credentials=api.credentials()))
        async with phone_server(server) as url:
            sim = TelephonySimulator(provider, call=call_for(provider))
            api.on_hang_up(sim.provider_ended)
            await sim.connect(f"{url}/{provider}")
            session = await server.next()
            await sim.wait_for_audio(0.3)
            await sim.send_dtmf("9", gap_secs=0)
            async with asyncio.timeout(5):
                await session.done.wait()
            await asyncio.wait_for(sim.closed.wait(), 2)
        (req,) = api.of("hang_up", provider)
        assert req.call_id == f"{provider}-call-1" and req.authorized
        assert session.transport.hung_up_via_api is True
        assert session.bot.keys == ["9"]


async def test_caller_hangs_up_mid_reply_and_the_session_ends_within_a_second() -> None:
    async with FakeTelephonyAPI() as api:
        server = PhoneServer(TelephonyParams(credentials=api.credentials()))
        async with phone_server(server) as url:
            sim = TelephonySimulator("twilio")
            await sim.connect(f"{url}/twilio")
            session = await server.next()
            await sim.send_dtmf("1", gap_secs=0)
            await sim.wait_for_audio(0.3)
            loop = asyncio.get_running_loop()
            hung_up_at = loop.time()
            await sim.hang_up()
            async with asyncio.timeout(1.0):
                await session.done.wait()
            assert session.ended_at - hung_up_at < 1.0
        assert session.transport.caller_hung_up
        assert api.of("hang_up") == []


async def test_a_provider_that_never_echoes_marks_falls_back_to_the_clock(
    caplog: pytest.LogCaptureFixture,
) -> None:
    params = TelephonyParams(hang_up_on_end=False, mark_timeout_secs=0.3)
    server = PhoneServer(params)
    async with phone_server(server) as url:
        sim = TelephonySimulator("twilio", echo_marks=False)
        with caplog.at_level(logging.WARNING):
            await sim.connect(f"{url}/twilio")
            session = await server.next()
            await until(lambda: session.tail.speaking() == ["started", "stopped"])
        assert "echoed no mark" in caplog.text
        assert session.tail.texts() == ["sentence 1"]
        await sim.hang_up()
        await asyncio.wait_for(session.done.wait(), 1.0)


async def test_caller_audio_and_dtmf_reach_the_pipeline_with_the_provider_detected() -> None:
    server = PhoneServer(TelephonyParams(hang_up_on_end=False), greet=False)
    async with phone_server(server) as url:
        sim = TelephonySimulator("plivo")
        await sim.connect(url)  # no provider in the path: detected from the start message
        session = await server.next()
        assert session.transport.serializer.provider == "plivo"
        await sim.silence(0.2)
        await sim.send_dtmf("42", gap_secs=0.02)
        await until(lambda: session.bot.keys == ["4", "2"])
        assert session.bot.audio_in >= 0.15 * 16000 * 2  # resampled to the pipeline's 16 kHz
        await sim.hang_up()
        await asyncio.wait_for(session.done.wait(), 1.0)
        assert not any(isinstance(f, TTSTextFrame) for _, f in session.tail.frames)


async def test_a_transport_given_a_fresh_serializer_connects_once_the_start_arrives() -> None:
    server = PhoneServer(TelephonyParams(hang_up_on_end=False), pre_read=False)
    async with phone_server(server) as url:
        sim = TelephonySimulator("twilio", send_connected=True)
        await sim.connect(f"{url}/twilio")
        session = await server.next()
        await sim.wait_for_audio(0.38)  # the greeting went out once the stream id was known
        assert session.transport.call.stream_id == sim.call.stream_id
        assert sim.of("unknown") == []
        await sim.hang_up()
        await asyncio.wait_for(session.done.wait(), 1.0)


async def test_no_start_message_ends_the_call() -> None:
    from websockets.asyncio.client import connect

    params = TelephonyParams(hang_up_on_end=False, start_timeout_secs=0.3)
    server = PhoneServer(params, pre_read=False)
    async with phone_server(server) as url, connect(f"{url}/twilio") as ws:
        await ws.send('{"event": "connected"}')
        session = await server.next()
        await asyncio.wait_for(session.done.wait(), 3.0)
        assert session.tail.speaking() == []


@contextlib.asynccontextmanager
async def exotel_call() -> AsyncIterator[tuple[TelephonySimulator, PhoneSession]]:
    """A connected Exotel call with no greeting; the caller hangs up at the end."""
    server = PhoneServer(TelephonyParams(hang_up_on_end=False), greet=False)
    async with phone_server(server) as url:
        sim = TelephonySimulator("exotel")
        await sim.connect(f"{url}/exotel")
        session = await server.next()
        yield sim, session
        await sim.hang_up()
        await asyncio.wait_for(session.done.wait(), 1.0)


async def test_exotel_gets_the_end_of_each_reply_before_the_bot_stops_speaking() -> None:
    # Exotel's payloads are at least 3.2 KB (200 ms at 8 kHz): 0.5 s is two of them and 0.1 s,
    # and that 0.1 s must go out padded with the reply, not wait in the serializer for the
    # next reply's audio.
    async with exotel_call() as (sim, session):
        session.bot.sentence_secs, session.bot.count = 0.5, 1
        await sim.send_dtmf("1", gap_secs=0)
        await until(lambda: session.tail.speaking() == ["started", "stopped"])
        assert sim.received_audio_secs >= 0.5
        assert sim.of("unknown") == []  # every payload followed Exotel's size rule
        (stopped_at,) = session.tail.times(BotStoppedSpeakingFrame)
        assert all(sim.started_at + e.t <= stopped_at for e in sim.of("media"))


async def test_exotel_audio_that_trickles_in_is_not_split_by_silence() -> None:
    # The TTS's first 20 ms come alone, the rest 60 ms later: sending the 20 ms padded to
    # Exotel's 200 ms minimum would put 180 ms of silence into the word.
    async with exotel_call() as (sim, session):
        pcm, step = tone(0.5), round(0.02 * RATE) * 2
        await session.bot.push_frame(TTSAudioRawFrame(audio=pcm[:step], sample_rate=RATE))
        await asyncio.sleep(0.06)
        for i in range(step, len(pcm), step):
            frame = TTSAudioRawFrame(audio=pcm[i : i + step], sample_rate=RATE)
            await session.bot.push_frame(frame)
        await session.bot.push_frame(TTSTextFrame(text="sentence"))
        await sim.wait_for_audio(0.5, timeout=5)
        await until(lambda: session.tail.texts() == ["sentence"])
        heard = np.frombuffer(sim.heard_audio(), dtype="<i2")
        voiced = np.flatnonzero(heard)
        speech = heard[voiced[0] : voiced[-1] + 1]
        # A 440 Hz tone at 8 kHz never has five zero samples in a row; a padded gap would.
        zero_runs = np.diff(np.flatnonzero(np.diff(np.r_[1, speech != 0, 1]) != 0))[::2]
        assert (voiced[-1] - voiced[0]) / 8000 >= 0.45
        assert zero_runs.max(initial=0) < 5
