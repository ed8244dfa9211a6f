"""`vani run examples/phone_bot.py` as its own process: Twilio's webhook and media stream, the
credentials and the API base URL from the environment, the bot's hang-up reaching the fake REST
API, and the caller hanging up mid-reply ending the session within a second with nothing left
behind (/health's open sockets and task count back to where they were)."""

from __future__ import annotations

import asyncio
import os
import socket
import subprocess
import sys
import tempfile
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest

from vani.testing import FakeTelephonyAPI, TelephonySimulator
from vani.testing.fake_openai import FakeOpenAIServer, StreamResponse, text_response, tool_call
from vani.testing.fake_sarvam_stt import FakeSarvamSTTServer
from vani.testing.fake_sarvam_tts import FakeSarvamTTSServer
from vani.testing.telephony_wire import SimCall

ROOT = Path(__file__).parents[2]
SPEECH = ROOT / "tests" / "fixtures" / "telephone"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


async def health(url: str) -> dict[str, object]:
    async with httpx.AsyncClient() as client:
        r = await client.get(url + "/health")
    data: dict[str, object] = r.json()
    return data


async def wait_until(predicate: object, timeout: float) -> None:
    assert callable(predicate)
    async with asyncio.timeout(timeout):
        while not await predicate():
            await asyncio.sleep(0.05)


class VaniRun:
    def __init__(self, env: dict[str, str]) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        cmd = [sys.executable, "-m", "vani.cli", "run", str(ROOT / "examples" / "phone_bot.py")]
        # The log goes to a file: an unread pipe would block the server once it filled.
        self.log = tempfile.TemporaryFile()  # noqa: SIM115 - closed in stop()
        self.proc = subprocess.Popen(
            [*cmd, "--port", str(self.port), "--workers", "1"],
            env={**os.environ, **env},
            stdout=subprocess.DEVNULL,
            stderr=self.log,
        )

    def log_tail(self) -> str:
        self.log.seek(0)
        return self.log.read().decode(errors="replace")[-2000:]

    async def ready(self) -> None:
        async def up() -> bool:
            if self.proc.poll() is not None:
                raise AssertionError(f"vani run exited: {self.log_tail()}")
            try:
                return (await health(self.url)).get("status") == "ok"
            except httpx.HTTPError:
                return False

        await wait_until(up, 30)

    def stop(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(5)
        self.log.close()


@pytest.fixture
async def served() -> AsyncIterator[tuple[VaniRun, FakeTelephonyAPI, FakeOpenAIServer]]:
    async with (
        FakeOpenAIServer() as openai_fake,
        FakeSarvamSTTServer(transcripts=["Weasels have eaten our phone system"]) as stt,
        FakeSarvamTTSServer() as tts,
        FakeTelephonyAPI() as api,
    ):
        env = {
            "OPENAI_API_KEY": "sk-test",
            "OPENAI_BASE_URL": openai_fake.base_url,
            "SARVAM_API_KEY": "test-key",
            "SARVAM_STT_URL": stt.base_url,
            "SARVAM_TTS_URL": tts.base_url,
            "TWILIO_ACCOUNT_SID": api.twilio_account_sid,
            "TWILIO_AUTH_TOKEN": api.twilio_auth_token,
            "VANI_TWILIO_API_URL": api.base_url,
            "VANI_SECRET": "vani-run-phone-test-" + "s" * 16,
        }
        server = VaniRun(env)
        try:
            await server.ready()
            yield server, api, openai_fake
        finally:
            server.stop()


async def test_vani_run_answers_a_twilio_call_and_hangs_up_through_the_api(
    served: tuple[VaniRun, FakeTelephonyAPI, FakeOpenAIServer],
) -> None:
    server, api, openai_fake = served
    openai_fake.enqueue(StreamResponse(tool_call("call_1", "end_call", "{}")))
    openai_fake.enqueue(text_response("Goodbye."))
    call = SimCall(call_id="CA-vani-run-1")
    sim = TelephonySimulator(
        "twilio", server.url, call=call, twilio_auth_token=api.twilio_auth_token
    )
    api.on_hang_up(sim.provider_ended)
    async with sim:
        await sim.wait_for_audio(1.0, timeout=20)  # the greeting
        await sim.play(SPEECH / "tt-weasels.wav")
        line = sim.start_playing(bytes(16000 * 30))
        await asyncio.wait_for(sim.closed.wait(), 20)  # end_call: hung up through the api
        line.cancel()
    (hang_up,) = api.of("hang_up", "twilio")
    assert hang_up.call_id == "CA-vani-run-1" and hang_up.authorized


async def test_caller_hangs_up_mid_reply_and_nothing_is_left(
    served: tuple[VaniRun, FakeTelephonyAPI, FakeOpenAIServer],
) -> None:
    server, api, openai_fake = served
    before = await health(server.url)
    for i in range(3):
        sim = TelephonySimulator(
            "twilio",
            server.url,
            call=SimCall(call_id=f"CA-leak-{i}"),
            twilio_auth_token=api.twilio_auth_token,
        )
        await sim.dial_in()
        await sim.connect()
        await sim.wait_for_audio(0.3, timeout=20)  # mid-greeting
        await sim.hang_up()
        loop = asyncio.get_running_loop()
        hung_up_at = loop.time()

        async def ended() -> bool:
            return (await health(server.url))["active_calls"] == 0

        await wait_until(ended, 5)
        assert loop.time() - hung_up_at < 1.0
    after = await health(server.url)
    assert after["open_sockets"] == before["open_sockets"] == 0
    assert after["tasks"] == before["tasks"], (before, after)
    assert api.of("hang_up") == []
