"""Faults in the services behind a live call: each fake drops mid-stream, answers 5xx/429,
stalls past its timeout or sends garbage. The client gets an RTVI ``error``; where the service
can be retried the call goes on (the next turn is answered and spoken), where it cannot
(a refused key) the call ends cleanly; nothing is left behind in the server.

Calls run over a real WebSocket against an in-process server (so the fakes' switches can be
flipped mid-call); the no-leak fixture checks that no task outlives each test.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass

import pytest

from tests.server.client import CallClient, segment, speech_16k
from tests.server.helpers import running_server, start_call
from tests.server_ops.live import say, wait_until
from vani.pipeline import Pipeline, PipelineParams
from vani.processors.aggregators import LLMContext, LLMContextAggregatorPair
from vani.server import RunningServer, Session
from vani.testing.fake_openai import (
    Disconnect,
    FakeOpenAIServer,
    Pause,
    Raw,
    StreamResponse,
    Text,
    error_response,
    text_response,
)
from vani.testing.fake_sarvam_stt import FakeSarvamSTTServer, STTFailure
from vani.testing.fake_sarvam_tts import FakeSarvamTTSServer, TTSError


@dataclass
class Rig:
    openai: FakeOpenAIServer
    stt: FakeSarvamSTTServer
    tts: FakeSarvamTTSServer
    running: RunningServer


def _bot(rig: Rig, *, listen: bool) -> Callable[[Session], Awaitable[None]]:
    from vani.audio.vad_processor import VADProcessor
    from vani.services.openai import OpenAILLMService
    from vani.services.sarvam import SarvamSTTService, SarvamTTSService

    async def bot(session: Session) -> None:
        llm = OpenAILLMService(
            api_key="sk-test", base_url=rig.openai.base_url, max_retries=0, timeout_secs=1.0
        )
        tts = SarvamTTSService(api_key="test-key", base_url=rig.tts.base_url)
        steps = [session.input(), llm, tts, session.output()]
        if listen:
            stt = SarvamSTTService(api_key="test-key", base_url=rig.stt.base_url)
            talk = LLMContextAggregatorPair(LLMContext([{"role": "system", "content": "Hi."}]))
            steps = [
                session.input(),
                VADProcessor(),
                stt,
                talk.user(),
                llm,
                tts,
                session.output(),
                talk.assistant(),
            ]
        params = PipelineParams(audio_in_sample_rate=16000, audio_out_sample_rate=24000)
        await session.run(session.task(Pipeline(steps), params=params))

    return bot


@pytest.fixture
async def rig(request: pytest.FixtureRequest) -> AsyncIterator[Rig]:
    listen = bool(getattr(request, "param", False))

    def answer(request: object) -> StreamResponse:
        return text_response("All", " good", " here.")

    async with (
        FakeOpenAIServer(responder=answer) as openai_fake,  # type: ignore[arg-type]
        FakeSarvamSTTServer(transcripts=["Hello there.", "Still there?"]) as stt,
        FakeSarvamTTSServer() as tts,
    ):
        holder: list[Rig] = []

        async def bot(session: Session) -> None:
            await _bot(holder[0], listen=listen)(session)

        async with running_server(bot) as running:
            holder.append(Rig(openai_fake, stt, tts, running))
            yield holder[0]
            await wait_until(lambda: running.server.admission.active == 0, 10)
            assert running.server.admission.active == 0
            assert running.server.ops.sessions == {}


async def _open(rig: Rig) -> CallClient:
    started = await start_call(rig.running)
    client = await CallClient.open(f"{started['wsUrl']}?token={started['token']}")
    await client.client_ready()
    await client.wait_for("bot-ready")
    return client


def _errors(client: CallClient) -> list[dict[str, object]]:
    return [m["data"] for m in client.of_type("error")]


def _spoken(client: CallClient) -> str:
    return " ".join(str(m["data"]["text"]) for m in client.of_type("bot-output"))


RETRYABLE_LLM = {
    "llm-500": [error_response(500)],
    "llm-429": [error_response(429, headers={"retry-after": "0"})],
    "llm-drop-mid-stream": [StreamResponse([Text("All"), Text(" go"), Disconnect()])],
    "llm-garbage": [StreamResponse([Text("All"), Raw(b"data: {not json\n\n"), Disconnect()])],
    "llm-stall": [StreamResponse([Pause(3.0), Text("late")])],
}


@pytest.mark.parametrize("fault", sorted(RETRYABLE_LLM))
async def test_a_failing_llm_turn_reaches_the_client_and_the_call_goes_on(
    rig: Rig, fault: str
) -> None:
    client = await _open(rig)
    rig.openai.enqueue(*RETRYABLE_LLM[fault])
    await client.send_rtvi("send-text", {"content": "first"})
    error = await client.wait_for("error", timeout=15)
    assert error["data"]["fatal"] is False
    # The next turn is answered and spoken as if nothing happened.
    await say(client, "second")
    assert await wait_until(lambda: "good" in _spoken(client) and "here" in _spoken(client), 15)
    assert client.pcm
    await client.close()


async def test_a_refused_key_ends_the_call_cleanly(rig: Rig) -> None:
    client = await _open(rig)
    rig.openai.enqueue(error_response(401))
    await client.send_rtvi("send-text", {"content": "first"})
    error = await client.wait_for("error", timeout=15)
    assert error["data"]["fatal"] is True
    assert await wait_until(lambda: client._reader is not None and client._reader.done(), 10)
    assert client.close_code in (1000, 1001, 1011)  # a close frame, not a dropped socket (1006)
    assert await wait_until(lambda: rig.running.server.admission.active == 0, 10)


@pytest.mark.parametrize("fault", ["tts-errors-past-retries", "tts-drop-mid-audio"])
async def test_a_failing_tts_turn_reaches_the_client_and_the_call_goes_on(
    rig: Rig, fault: str
) -> None:
    client = await _open(rig)
    if fault == "tts-errors-past-retries":
        for _ in range(4):
            rig.tts.fail_next_flush(TTSError("internal error", code=500))
    else:
        rig.tts.disconnect_during_next_synthesis("abort", after_chunks=1)
    await client.send_rtvi("send-text", {"content": "first"})
    await client.wait_for("error", timeout=15)
    await say(client, "second")
    assert await wait_until(lambda: "here" in _spoken(client), 15), client.types()
    await client.close()


async def test_a_tts_error_it_can_retry_is_spoken_anyway(rig: Rig) -> None:
    client = await _open(rig)
    rig.tts.fail_next_flush(TTSError("internal error", code=500))
    await say(client, "first")
    # Retried on a fresh socket: the user hears the whole answer, so there is nothing to report.
    assert await wait_until(lambda: "here" in _spoken(client), 15), client.types()
    assert _errors(client) == []
    await client.close()


@pytest.mark.parametrize("rig", [True], indirect=True)
async def test_stt_dropping_mid_turn_is_reported_and_the_turn_still_answered(rig: Rig) -> None:
    pytest.importorskip("vani.audio.vad_processor")
    client = await _open(rig)
    rig.stt.fail_next_utterance(STTFailure(kind="abort"))
    pcm, segments = speech_16k()
    first = segments[0]
    await client.stream(segment(pcm, 0.0, first["end_secs"] + 0.2))
    talking = asyncio.create_task(client.silence(8.0))
    try:
        await client.wait_for("bot-started-speaking", timeout=15)
    finally:
        talking.cancel()
    finals = [m["data"]["text"] for m in client.of_type("user-input") if m["data"].get("final")]
    # The transcript was not lost: the STT reconnected and sent the turn's audio again.
    assert finals == ["Hello there."]
    assert rig.stt.connections and len(rig.stt.connections) >= 2
    assert json.dumps(_errors(client)) is not None
    await client.close()
