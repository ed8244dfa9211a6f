"""A whole voice call in which the bot answers from the database: examples/restaurant_db_bot.py's
pipeline with the caller's audio from a WAV, Silero VAD, the Sarvam STT and TTS fakes, the
scripted brain calling the real tools on the real server."""

from __future__ import annotations

import importlib.util
from pathlib import Path
from types import ModuleType, SimpleNamespace

import numpy as np
import pytest

from tests.tools.conftest import Database
from vani.demo import demo_call_path
from vani.frames import Frame, FrameDirection, FunctionCallDataFrame
from vani.pipeline import PipelineParams, PipelineRunner, PipelineTask
from vani.pipeline.observers import BaseObserver, FramePushed
from vani.processors import FrameProcessor
from vani.services.llm import ScriptedLLMService
from vani.services.sarvam import SarvamSTTService, SarvamTTSService
from vani.testing.fake_sarvam_stt import FakeSarvamSTTServer
from vani.testing.fake_sarvam_tts import FakeSarvamTTSServer
from vani.tools.postgres import MiniLMEmbedder, PostgresTool, example
from vani.tools.postgres.example import restaurant_script
from vani.transports.file import FileTransport
from vani.transports.wav import WavAudio, read_wav

EXAMPLE = Path(__file__).parents[2] / "examples" / "restaurant_db_bot.py"


def load_example() -> ModuleType:
    spec = importlib.util.spec_from_file_location("restaurant_db_bot", EXAMPLE)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


class DataFrames(BaseObserver):
    """Collects the rows the tools sent downstream for the UI."""

    def __init__(self) -> None:
        super().__init__()
        self.frames: list[FunctionCallDataFrame] = []

    async def on_push_frame(self, data: FramePushed) -> None:
        frame: Frame = data.frame
        downstream = data.direction is FrameDirection.DOWNSTREAM
        if isinstance(frame, FunctionCallDataFrame) and downstream and frame not in self.frames:
            self.frames.append(frame)


class FakeSession:
    """What ``restaurant_bot`` uses of the server's session, over a file transport."""

    def __init__(self, transport: FileTransport, customer_id: int, observer: BaseObserver) -> None:
        self.call = SimpleNamespace(custom_parameters={"customer_id": customer_id})
        self.transport = transport
        self.observer = observer

    def input(self) -> FrameProcessor:
        return self.transport.input()

    def output(self) -> FrameProcessor:
        return self.transport.output()

    def task(
        self, pipeline: FrameProcessor, *, params: PipelineParams | None = None
    ) -> PipelineTask:
        return PipelineTask(
            pipeline, params=params, observers=[self.observer], idle_timeout_secs=None
        )

    async def run(self, task: FrameProcessor | PipelineTask) -> None:
        assert isinstance(task, PipelineTask)
        await PipelineRunner(handle_sigint=False).run(task)


@pytest.mark.parametrize("entry", ["example file", "package bot"])
@pytest.mark.parametrize(
    ("customer_id", "question", "answer"),
    [
        (1, "What does a big pizza cost?", ["The large Pepperoni pizza is 18 dollars."]),
        (
            2,
            "When is my booking?",
            ["You have 2 bookings.", "on 2026-11-30 at 13:00 for 3 people, and it is seated."],
        ),
    ],
)
async def test_the_bot_answers_a_caller_from_the_database(
    tmp_path: Path,
    database: Database,
    embedder: MiniLMEmbedder,
    customer_id: int,
    question: str,
    answer: list[str],
    entry: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    bot = load_example()
    demo = read_wav(demo_call_path())  # the first caller turn of the demo call (4.5 s)
    caller = WavAudio(demo.pcm[: 16000 * 2 * 9 // 2], demo.sample_rate, demo.num_channels)
    async with (
        PostgresTool(database.tool_url, schemas=["restaurant"], embedder=embedder) as tool,
        FakeSarvamSTTServer(transcripts=[question]) as stt_fake,
        FakeSarvamTTSServer() as tts_fake,
    ):
        transport = FileTransport(caller, tmp_path / "call.wav")
        llm = ScriptedLLMService(rule=restaurant_script)
        stt = SarvamSTTService(api_key="test-key", base_url=stt_fake.base_url)
        tts = SarvamTTSService(api_key="test-key", base_url=tts_fake.base_url)
        rows = DataFrames()
        if entry == "example file":
            pipeline = bot.build_pipeline(
                transport.input(), transport.output(), tool, customer_id, stt, llm, tts
            )
            task = PipelineTask(
                pipeline, params=bot.PARAMS, observers=[rows], idle_timeout_secs=None
            )
            await PipelineRunner(handle_sigint=False).run(task)
        else:  # what a server hook serves: bot(session) with the process's shared tool
            monkeypatch.setattr(example, "_tool", tool)
            monkeypatch.setattr(example, "engines", lambda: (stt, llm, tts))
            await example.restaurant_bot(FakeSession(transport, customer_id, rows))

    texts = [m.get("data") for c in tts_fake.connections for m in c.messages_of_type("text")]
    spoken = " ".join(str(d.get("text")) if isinstance(d, dict) else str(d) for d in texts)
    for sentence in answer:
        assert sentence in spoken, spoken
    # The rows went downstream for a UI, beside the summary the LLM read.
    assert len(rows.frames) == 1
    data = rows.frames[0].data
    assert isinstance(data, dict) and data["rows"]
    if customer_id == 2:  # only this caller's bookings, whatever the brain asked
        assert {r["customer_id"] for r in data["rows"]} == {2}  # type: ignore[index,union-attr]
    # The caller heard it: bot audio on the right channel, after the question.
    wav = read_wav(tmp_path / "call.wav")
    stereo = np.frombuffer(wav.pcm, dtype="<i2").reshape(-1, 2)
    loud = np.flatnonzero(np.abs(stereo[:, 1].astype(np.int32)) > 1000)
    assert len(loud) > wav.sample_rate // 2
    assert loud[0] / wav.sample_rate > 3.4
