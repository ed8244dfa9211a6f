"""A whole simulated call for observability and reliability tests: a caller WAV built from the
speech fixture (talking, pausing, barging in), the real Silero VAD, the Sarvam STT/TTS fakes and
the OpenAI fake (with tool calls), on the FileTransport's virtual clock.

``build_caller(cycles)`` makes the caller; ``run_call(...)`` runs one call and returns the task's
aggregator. The fakes may run in this process (``Fakes.start()``) or be given as URLs (a child
process, so their recordings do not count in this process's memory).
"""

from __future__ import annotations

import json
import re
import wave
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from vani.frames import Frame, FrameDirection, LLMContextFrame
from vani.pipeline import Pipeline, PipelineParams, PipelineRunner, PipelineTask
from vani.processors import FrameProcessor
from vani.processors.aggregators import LLMContext, LLMContextAggregatorPair
from vani.services.llm.functions import FunctionCallParams
from vani.transports.file import FileTransport
from vani.transports.wav import WavAudio

SPEECH = Path(__file__).parents[1] / "fixtures" / "speech" / "speech_16k.wav"
RATE = 16000

LOOKUP_TOOL = {
    "type": "function",
    "function": {
        "name": "lookup_table",
        "description": "Find a free table.",
        "parameters": {
            "type": "object",
            "properties": {"guests": {"type": "integer"}},
            "required": ["guests"],
        },
    },
}


def _utterances() -> list[tuple[str, bytes]]:
    meta = json.loads(SPEECH.with_suffix(".json").read_text())
    with wave.open(str(SPEECH)) as w:
        pcm = w.readframes(w.getnframes())
    out = []
    for seg in meta["segments"]:
        a = max(0, int((seg["start_secs"] - 0.05) * RATE)) * 2
        b = int((seg["end_secs"] + 0.05) * RATE) * 2
        out.append((seg["text"], pcm[a:b]))
    return out


@dataclass(slots=True)
class Caller:
    wav: WavAudio
    transcripts: list[str]
    barge_ins: int
    seconds: float


def build_caller(cycles: int, *, barge_every: int = 3) -> Caller:
    """``cycles`` user turns; every ``barge_every``-th one starts while the bot still speaks."""
    utterances = _utterances()
    parts: list[bytes] = [bytes(RATE * 2 // 2)]  # 0.5 s before the first word
    transcripts: list[str] = []
    barge_ins = 0
    for i in range(cycles):
        text, pcm = utterances[i % len(utterances)]
        parts.append(pcm)
        transcripts.append(text)
        # The bot starts ~0.8 s (VAD stop) after the speech and speaks a few seconds: a short
        # gap makes the next utterance a barge-in, a long one lets the bot finish.
        barge = barge_every > 0 and (i + 1) % barge_every == 0 and i + 1 < cycles
        barge_ins += barge
        gap = 2.0 if barge else 7.0
        parts.append(bytes(int(RATE * gap) * 2))
    pcm = b"".join(parts)
    return Caller(
        WavAudio(pcm=pcm, sample_rate=RATE, num_channels=1),
        transcripts,
        barge_ins,
        len(pcm) / 2 / RATE,
    )


def responder_factory() -> Callable[[object], object]:
    """The OpenAI fake's answers: every 4th user turn calls ``lookup_table`` first."""
    from vani.testing.fake_openai import RecordedRequest, StreamResponse, text_response, tool_call

    counter = {"n": 0}

    def respond(request: RecordedRequest) -> StreamResponse:
        messages = request.messages
        if messages and messages[-1].get("role") == "tool":
            return text_response(*re.findall(r"\s*\S+", "Table twelve is free. See you then."))
        counter["n"] += 1
        if counter["n"] % 4 == 0:
            return StreamResponse(
                tool_call(f"call_{counter['n']}", "lookup_table", json.dumps({"guests": 2}))
            )
        reply = "Sure, I can help with that. Anything else for your booking tonight?"
        return text_response(*re.findall(r"\s*\S+", reply))

    return respond  # type: ignore[return-value]


class ContextWindow(FrameProcessor):
    """Keeps the LLM context to its system message and the last ``keep`` messages, as a
    long-running production bot does (so the context itself does not grow for an hour)."""

    def __init__(self, keep: int = 12) -> None:
        super().__init__(name="context-window")
        self.keep = keep

    async def process_frame(self, frame: Frame, direction: FrameDirection) -> None:
        await super().process_frame(frame, direction)
        if isinstance(frame, LLMContextFrame):
            msgs = frame.context.messages
            if len(msgs) > 2 * self.keep:
                tail = msgs[-self.keep :]
                while tail and tail[0].get("role") == "tool":
                    tail = tail[1:]
                frame.context.set_messages([msgs[0], *tail])
        await self.push_frame(frame, direction)


async def lookup_table(params: FunctionCallParams) -> dict[str, object]:
    return {"table": 12, "guests": params.arguments.get("guests", 2)}


@dataclass(slots=True)
class Endpoints:
    openai: str
    stt: str
    tts: str


def build_task(
    caller: Caller, endpoints: Endpoints, *, observers: bool = True, output: Path | None = None
) -> tuple[PipelineTask, FileTransport, LLMContext]:
    from vani.audio.vad_processor import VADProcessor
    from vani.services.openai import OpenAILLMService
    from vani.services.sarvam import SarvamSTTService, SarvamTTSService

    transport = FileTransport(caller.wav, output, hangup_after_secs=1.0)
    stt = SarvamSTTService(api_key="test-key", base_url=endpoints.stt, language="en-IN")
    llm = OpenAILLMService(api_key="sk-test", base_url=endpoints.openai, model="gpt-4o-mini")
    llm.register_function("lookup_table", lookup_table)
    tts = SarvamTTSService(api_key="test-key", base_url=endpoints.tts)
    context = LLMContext(
        messages=[{"role": "system", "content": "You book tables."}], tools=[LOOKUP_TOOL]
    )
    pair = LLMContextAggregatorPair(context)
    pipeline = Pipeline(
        [
            transport.input(),
            VADProcessor(),
            stt,
            pair.user(),
            ContextWindow(),
            llm,
            tts,
            transport.output(),
            pair.assistant(),
        ]
    )
    task = PipelineTask(
        pipeline,
        params=PipelineParams(
            audio_in_sample_rate=RATE,
            audio_out_sample_rate=24000,
            enable_metrics=observers,
            enable_usage_metrics=observers,
        ),
        idle_timeout_secs=None,
    )
    return task, transport, context


async def run_task(task: PipelineTask) -> None:
    await PipelineRunner(handle_sigint=False).run(task)


def silence_ratio(pcm: bytes) -> float:
    samples = np.frombuffer(pcm, dtype="<i2")
    return float(np.mean(np.abs(samples) < 50)) if len(samples) else 1.0
