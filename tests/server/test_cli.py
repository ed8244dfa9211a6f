"""``vani run`` / ``vani serve``: loading the bot, clear errors, the printed URL, SIGTERM, and the
demo bot behind the command line with the Sarvam and OpenAI fakes."""

from __future__ import annotations

import asyncio
import json
import re
import signal
from pathlib import Path

import pytest

from tests.server.client import CallClient, segment, speech_16k
from tests.server.fakes import Fakes
from tests.server.helpers import SECRET, start_call_at, vani_process
from vani.cli import main
from vani.server import BotLoadError, ServerConfig, load_bot
from vani.testing.fake_openai import FakeOpenAIServer, text_response
from vani.testing.fake_sarvam_stt import FakeSarvamSTTServer
from vani.testing.fake_sarvam_tts import FakeSarvamTTSServer

ECHO_BOT = Path(__file__).parent / "bots" / "echo_bot.py"


@pytest.mark.parametrize(
    ("source", "problem"),
    [
        ("x = 1\n", "defines no bot()"),
        ("def bot(session):\n    pass\n", "must be `async def bot(session)`"),
        ("async def bot():\n    pass\n", "must take one argument"),
        ("import no_such_module_here\n", "ModuleNotFoundError"),
    ],
)
def test_a_bad_bot_file_is_a_clear_error(tmp_path: Path, source: str, problem: str) -> None:
    path = tmp_path / "bot.py"
    path.write_text(source)
    with pytest.raises(BotLoadError, match=re.escape(problem)):
        load_bot(path)


def test_a_bot_file_imports_its_neighbours(tmp_path: Path) -> None:
    (tmp_path / "prompts.py").write_text("GREETING = 'namaste'\n")
    (tmp_path / "bot.py").write_text(
        "from prompts import GREETING\n\nasync def bot(session):\n    return GREETING\n"
    )
    assert load_bot(tmp_path / "bot.py").__name__ == "bot"


def test_the_command_says_what_is_wrong(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["run", "no-such-bot.py"]) == 1
    assert "no bot file at no-such-bot.py" in capsys.readouterr().err
    assert main(["run", str(ECHO_BOT), "--workers", "2"]) == 1
    assert "--workers 2: worker processes are not available" in capsys.readouterr().err
    assert main(["run", str(ECHO_BOT), "--max-calls", "0"]) == 1
    assert "max_calls must be at least 1, got 0" in capsys.readouterr().err


def test_listening_beyond_this_machine_without_a_secret_or_origins_warns(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("VANI_SECRET", raising=False)
    assert ServerConfig(host="127.0.0.1").exposure_warnings() == []
    warnings = ServerConfig(host="0.0.0.0").exposure_warnings()
    assert any("no --secret" in w for w in warnings)
    assert any("no --allowed-origins" in w for w in warnings)
    safe = ServerConfig(host="0.0.0.0", secret=SECRET, allowed_origins=["https://app.example"])
    assert safe.exposure_warnings() == []


async def test_sigterm_ends_the_running_calls_and_the_process() -> None:
    async with vani_process("run", str(ECHO_BOT), "--port", "0", "--secret", SECRET) as server:
        started = await start_call_at(server.url)
        client = await CallClient.open(f"{started['wsUrl']}?token={started['token']}")
        await client.client_ready()
        await client.wait_for("bot-ready")
        server.proc.send_signal(signal.SIGTERM)
        await asyncio.wait_for(client._reader, 10)  # type: ignore[arg-type]
        code = await asyncio.wait_for(server.proc.wait(), 10)
    assert client.close_code == 1001
    assert code == 0


async def test_vani_serve_runs_the_demo_bot_on_the_services_it_is_given() -> None:
    async with (
        FakeOpenAIServer() as llm,
        FakeSarvamSTTServer(transcripts=["Are you open today?"]) as stt,
        FakeSarvamTTSServer() as tts,
    ):
        llm.enqueue(text_response("Welcome to Vani Pizza! We are open until 11 pm."))
        fakes = Fakes(llm, stt, tts)
        client = await serve_one_turn(fakes)
    finals = [m["data"]["text"] for m in client.of_type("user-input") if m["data"]["final"]]
    assert finals == ["Are you open today?"]
    assert client.pcm
    # The demo's prompt and its place_order tool went to the LLM at --llm-base-url.
    request = llm.requests[0]
    assert "Vani Pizza" in json.dumps(request.messages[0])
    assert "place_order" in json.dumps(request.body)


async def serve_one_turn(fakes: Fakes) -> CallClient:
    async with vani_process(
        "serve",
        "--port",
        "0",
        "--secret",
        SECRET,
        "--llm-base-url",
        fakes.openai.base_url,
        "--sarvam-stt-url",
        fakes.stt.base_url,
        "--sarvam-tts-url",
        fakes.tts.base_url,
        env={"SARVAM_API_KEY": "test-key", "OPENAI_API_KEY": ""},
    ) as server:
        started = await start_call_at(server.url)
        client = await CallClient.open(f"{started['wsUrl']}?token={started['token']}")
        mic = client.microphone()
        await client.client_ready()
        await client.wait_for("bot-ready")
        pcm, segments = speech_16k()
        await mic.say(segment(pcm, 0.0, segments[0]["end_secs"]))
        await client.wait_for("bot-stopped-speaking", timeout=30)
        await mic.stop()
        await client.close()
    return client
