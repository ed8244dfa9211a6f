"""examples/voice_bot.py, unchanged, against the fake OpenAI and Sarvam servers."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path
from types import ModuleType

import numpy as np
import pytest

from vani.demo import demo_call_path
from vani.pipeline import PipelineRunner
from vani.testing.fake_openai import FakeOpenAIServer, StreamResponse, text_response, tool_call
from vani.testing.fake_sarvam_stt import FakeSarvamSTTServer
from vani.testing.fake_sarvam_tts import FakeSarvamTTSServer
from vani.transports.file import FileTransport
from vani.transports.wav import WavAudio, read_wav

EXAMPLE = Path(__file__).parents[2] / "examples" / "voice_bot.py"


def load_example() -> ModuleType:
    spec = importlib.util.spec_from_file_location("voice_bot", EXAMPLE)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_example_stays_short() -> None:
    assert len(EXAMPLE.read_text().splitlines()) <= 42


async def test_the_example_bot_answers_a_caller_with_a_tool_call(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test")
    monkeypatch.setenv("SARVAM_API_KEY", "test-key")
    # One caller turn: the first 4.5 s of the demo call ("Hi, I would like to order a pizza...").
    demo = read_wav(demo_call_path())
    caller = WavAudio(demo.pcm[: 16000 * 2 * 9 // 2], demo.sample_rate, demo.num_channels)
    bot = load_example()
    async with (
        FakeOpenAIServer() as openai_fake,
        FakeSarvamSTTServer(transcripts=["Are you open today?"]) as stt_fake,
        FakeSarvamTTSServer() as tts_fake,
    ):
        openai_fake.enqueue(StreamResponse(tool_call("call_1", "opening_hours", "{}")))
        openai_fake.enqueue(text_response("We are open", " from 11 am to 11 pm."))
        transport = FileTransport(caller, tmp_path / "call.wav")
        task = bot.build_bot(transport, openai_fake.base_url, stt_fake.base_url, tts_fake.base_url)
        await PipelineRunner(handle_sigint=False).run(task)

    # The transcript reached the LLM, the tool ran, its result went back, the reply was spoken.
    first, second = openai_fake.requests
    assert first.messages[-1] == {"role": "user", "content": "Are you open today?"}
    tool_message = second.messages[-1]
    assert tool_message["role"] == "tool"
    assert json.loads(str(tool_message["content"])) == {"today": "11 am to 11 pm"}
    spoken = [m["data"] for c in tts_fake.connections for m in c.messages_of_type("text")]
    assert "open from 11 am" in json.dumps(spoken)

    # The bot's answer is on the right channel of the call, after the caller's turn.
    wav = read_wav(tmp_path / "call.wav")
    stereo = np.frombuffer(wav.pcm, dtype="<i2").reshape(-1, 2)
    bot_loud = np.flatnonzero(np.abs(stereo[:, 1].astype(np.int32)) > 1000)
    assert len(bot_loud) > wav.sample_rate // 2
    assert bot_loud[0] / wav.sample_rate > 3.4  # the caller's turn ends at 3.44 s
