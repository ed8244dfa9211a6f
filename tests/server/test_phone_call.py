"""A whole phone call per provider: examples/phone_bot.py on the vani server (real uvicorn), the
Sarvam and OpenAI fakes behind it, the fake provider REST API, and the provider simulator as the
caller, speaking real telephone recordings (tests/fixtures/telephone). Greeting, transcribed
speech, a tool call, a barge-in (clear first, no stale audio), DTMF, and the bot's hang-up
through the REST API."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from vani.server import RunningServer, ServerConfig, VaniServer, load_bot
from vani.server.telephony import TelephonySettings
from vani.testing import FakeTelephonyAPI, TelephonySimulator
from vani.testing.fake_openai import FakeOpenAIServer, StreamResponse, text_response, tool_call
from vani.testing.fake_sarvam_stt import FakeSarvamSTTServer
from vani.testing.fake_sarvam_tts import FakeSarvamTTSServer
from vani.testing.telephony_wire import SimCall

ROOT = Path(__file__).parents[2]
EXAMPLE = ROOT / "examples" / "phone_bot.py"
SPEECH = ROOT / "tests" / "fixtures" / "telephone"
TRANSCRIPTS = json.loads((SPEECH / "transcripts.json").read_text())
SECRET = "phone-test-secret-" + "x" * 20
PROVIDERS = ["twilio", "telnyx", "plivo", "exotel"]


@dataclass
class Rig:
    running: RunningServer
    api: FakeTelephonyAPI
    openai: FakeOpenAIServer
    stt: FakeSarvamSTTServer


@pytest.fixture
async def rig(monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[Rig]:
    transcripts = [TRANSCRIPTS["tt-weasels.wav"], TRANSCRIPTS["hello-world.wav"]]
    async with (
        FakeOpenAIServer() as openai_fake,
        FakeSarvamSTTServer(transcripts=transcripts) as stt,
        FakeSarvamTTSServer() as tts,
        FakeTelephonyAPI() as api,
    ):
        monkeypatch.setenv("OPENAI_API_KEY", "sk-test")
        monkeypatch.setenv("OPENAI_BASE_URL", openai_fake.base_url)
        monkeypatch.setenv("SARVAM_API_KEY", "test-key")
        monkeypatch.setenv("SARVAM_STT_URL", stt.base_url)
        monkeypatch.setenv("SARVAM_TTS_URL", tts.base_url)
        openai_fake.enqueue(StreamResponse(tool_call("call_1", "opening_hours", "{}")))
        openai_fake.enqueue(
            text_response(
                "Sorry to hear that. We are open from 11 am to 11 pm today,",
                " and our phones are working again. Would you like to order a pizza now?",
            )
        )
        openai_fake.enqueue(text_response("Hello again."))
        openai_fake.enqueue(StreamResponse(tool_call("call_2", "end_call", "{}")))
        openai_fake.enqueue(text_response("Goodbye."))
        settings = TelephonySettings(credentials=api.credentials())
        config = ServerConfig(port=0, secret=SECRET)
        server = VaniServer(load_bot(EXAMPLE), config, telephony=settings)
        async with RunningServer(server) as running:
            yield Rig(running, api, openai_fake, stt)


async def wait_until(predicate: object, timeout: float) -> None:
    assert callable(predicate)
    async with asyncio.timeout(timeout):
        while not predicate():
            await asyncio.sleep(0.02)


@pytest.mark.parametrize("provider", PROVIDERS)
async def test_a_whole_phone_call(rig: Rig, provider: str) -> None:
    api, openai = rig.api, rig.openai
    call = SimCall(call_id=f"{provider}-CA42", from_number="+919800000001")
    sim = TelephonySimulator(
        provider,
        rig.running.url,
        call=call,
        twilio_auth_token=api.twilio_auth_token,
        plivo_auth_token=api.plivo_auth_token,
        telnyx_signing_key=api.telnyx_signing_key,
        webhook_path=f"/telephony/{provider}?customer=42",
        reorder_every=7 if provider == "telnyx" else 0,  # Telnyx may deliver media out of order
    )
    api.on_hang_up(sim.provider_ended)
    await sim.dial_in()
    assert "/telephony/" in sim.answer.stream_url  # type: ignore[union-attr]
    await sim.connect()

    # The greeting plays before the caller says anything.
    await sim.wait_for_audio(1.0, timeout=15)
    await sim.silence(0.5)
    greeting_secs = sim.received_audio_secs

    # The caller speaks (a real telephone recording); the bot looks up the hours and answers.
    await sim.play(SPEECH / "tt-weasels.wav")
    speaking = sim.start_playing(bytes(16000 * 30))  # the line stays open, silent
    try:
        await wait_until(lambda: len(openai.requests) >= 2, 20)
    except TimeoutError:
        kinds = [e.kind for e in sim.events][-30:]
        raise AssertionError(f"no answer: stt {rig.stt.utterances}, line {kinds}") from None
    await sim.wait_for_audio(greeting_secs + 1.0, timeout=20)
    speaking.cancel()

    # Barge in while the answer plays.
    await sim.play(SPEECH / "hello-world.wav")
    await sim.wait_for_event("clear", timeout=10)
    (clear,) = sim.of("clear")[-1:]
    speaking = sim.start_playing(bytes(16000 * 30))
    await wait_until(lambda: len(openai.requests) >= 3, 20)
    # After the clear no audio of the interrupted answer came.
    assert sim.audio_after(clear.t, 0.4) == 0

    # Keys: "12#" reaches the LLM as text; it calls end_call and the bot hangs up.
    await sim.wait_for_audio(sim.received_audio_secs + 0.5, timeout=20)
    await sim.send_dtmf("12#", gap_secs=0.1)
    await wait_until(lambda: len(openai.requests) >= 4, 20)
    await asyncio.wait_for(sim.closed.wait(), 20)
    speaking.cancel()
    await sim.close()
    await wait_until(lambda: rig.running.server.admission.active == 0, 5)

    # What reached the services and the LLM.
    assert rig.stt.transcripts_sent[:2] == [
        TRANSCRIPTS["tt-weasels.wav"],
        TRANSCRIPTS["hello-world.wav"],
    ]
    first, second, third, fourth = openai.requests[:4]
    assert "+919800000001" in json.dumps(first.messages[0])  # the caller's number, from the call
    assert "customer=42" in json.dumps(first.messages[0])  # the webhook URL's custom parameter
    users = [m["content"] for m in first.messages if m["role"] == "user"]
    assert users == [TRANSCRIPTS["tt-weasels.wav"]]
    assert json.loads(str(second.messages[-1]["content"])) == {"today": "11 am to 11 pm"}
    assistant = [m for m in third.messages if m["role"] == "assistant" and m.get("content")]
    assert "order a pizza now" not in json.dumps(assistant)  # cut at what was heard
    assert fourth.messages[-1] == {"role": "user", "content": "DTMF: 12"}

    # The hang-up went through the provider's API (Exotel has none: the socket closed).
    hangups = api.of("hang_up", provider)
    if provider == "exotel":
        assert hangups == []
    else:
        assert [h.call_id for h in hangups] == [call.call_id]
        assert hangups[0].authorized
    assert sim.of("unknown") == []


async def test_a_forged_twilio_webhook_is_refused(rig: Rig) -> None:
    url = rig.running.url + "/telephony/twilio"
    form = {"CallSid": "CA1", "From": "+1", "To": "+2"}
    async with httpx.AsyncClient() as client:
        r = await client.post(url, data=form, headers={"X-Twilio-Signature": "Zm9yZ2Vk"})
        assert r.status_code == 403
        r = await client.post(url, data=form)
        assert r.status_code == 403
    assert rig.running.server.refusals.get("webhook-signature") == 2


async def test_a_wrong_or_reused_socket_token_is_refused(rig: Rig) -> None:
    from websockets.asyncio.client import connect
    from websockets.exceptions import ConnectionClosed

    base = rig.running.url.replace("http://", "ws://")
    for path in ("/telephony/twilio/not-a-token", "/telephony/twilio"):
        async with connect(base + path) as ws:
            with pytest.raises(ConnectionClosed):
                await asyncio.wait_for(ws.recv(), 5)
            assert ws.close_code == 4003
    # A real token works once, then is refused.
    sim = TelephonySimulator("plivo", rig.running.url, plivo_auth_token="plivo-token")
    stream_url = await sim.dial_in()
    async with connect(stream_url) as ws:
        await ws.close()
    async with connect(stream_url) as ws:
        with pytest.raises(ConnectionClosed):
            await asyncio.wait_for(ws.recv(), 5)
        assert ws.close_code == 4003
    await wait_until(lambda: rig.running.server.admission.active == 0, 5)


async def test_a_token_for_one_provider_is_refused_on_another(rig: Rig) -> None:
    from websockets.asyncio.client import connect
    from websockets.exceptions import ConnectionClosed

    sim = TelephonySimulator("plivo", rig.running.url, plivo_auth_token="plivo-token")
    stream_url = await sim.dial_in()
    async with connect(stream_url.replace("/plivo/", "/twilio/")) as ws:
        with pytest.raises(ConnectionClosed):
            await asyncio.wait_for(ws.recv(), 5)
        assert ws.close_code == 1008


async def test_the_phone_routes_work_when_the_app_runs_under_another_asgi_server(
    rig: Rig,
) -> None:
    """``VaniServer.app`` under plain uvicorn (no bridge): webhook, stream, greeting, hang-up."""
    from ws_support import uvicorn_server

    server = VaniServer(
        load_bot(EXAMPLE),
        ServerConfig(port=0, secret=SECRET),
        telephony=TelephonySettings(credentials=rig.api.credentials()),
    )
    async with uvicorn_server(server.app) as port:
        sim = TelephonySimulator(
            "twilio",
            f"http://127.0.0.1:{port}",
            call=SimCall(call_id="CA-asgi"),
            twilio_auth_token=rig.api.twilio_auth_token,
        )
        async with sim:
            await sim.wait_for_audio(1.0, timeout=15)  # the greeting
            assert sim.of("unknown") == []
            await sim.hang_up()
        await wait_until(lambda: server.admission.active == 0, 5)


@pytest.mark.parametrize("provider", ["twilio", "plivo", "telnyx"])
async def test_an_outbound_call_dials_through_the_api_and_reaches_the_bot(
    rig: Rig, provider: str
) -> None:
    """``dial_out`` asks the (fake) provider to call; the provider then fetches the answer URL
    it was given (Twilio/Plivo: the webhook, with the custom parameters) or streams straight to
    it (Telnyx), and the bot greets the callee."""
    from vani.server import dial_out

    server = rig.running.server
    settings = TelephonySettings(credentials=rig.api.credentials())
    result = await dial_out(
        server,
        settings,
        provider,
        to="+15550009999",
        from_="+15550001111",
        public_url=rig.running.url,
        custom_parameters={"campaign": "renewals"},
    )
    (request,) = rig.api.of("dial", provider)
    assert request.call_id == result.call_id and request.authorized
    body = request.body
    answer_url = str(body.get("Url") or body.get("answer_url") or body.get("stream_url"))
    call = SimCall(call_id=result.call_id, from_number="+15550001111", to_number="+15550009999")
    sim = TelephonySimulator(
        provider,
        rig.running.url,
        call=call,
        twilio_auth_token="twilio-token",
        plivo_auth_token="plivo-token",
    )
    if provider == "telnyx":
        assert answer_url.startswith("ws://") and "/telephony/telnyx/" in answer_url
        await sim.connect(answer_url)
    else:
        assert answer_url == f"{rig.running.url}/telephony/{provider}?campaign=renewals"
        sim.webhook_path = answer_url.removeprefix(rig.running.url)
        await sim.dial_in()
        await sim.connect()
    await sim.wait_for_audio(1.0, timeout=15)  # the bot's greeting reached the callee
    await sim.play(SPEECH / "hello-world.wav")  # the callee answers; the LLM sees the call
    line = sim.start_playing(bytes(16000 * 30))
    await wait_until(lambda: len(rig.openai.requests) >= 1, 20)
    line.cancel()
    await sim.hang_up()
    await wait_until(lambda: server.admission.active == 0, 5)
    system = json.dumps(rig.openai.requests[0].messages[0])
    assert "campaign=renewals" in system and "+15550001111" in system
