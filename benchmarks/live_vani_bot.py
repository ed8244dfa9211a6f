"""vani's side of ``live_calls.py``: the bot ``vani run`` serves, the same pipeline as Pipecat's
in ``live_pipecat_bot.py``, pointed at the fakes of ``live_fakes.py``.

    VANI_BENCH_STT_URL=ws://… VANI_BENCH_TTS_URL=ws://… VANI_BENCH_OPENAI_URL=http://…/v1 \
        SARVAM_API_KEY=test-key OPENAI_API_KEY=sk-test vani run benchmarks/live_vani_bot.py

Per call: WebSocketTransport with the protobuf serializer (chosen by the server from the
client's framing) → RAVI (RTVI 2.2: ``client-ready`` answered with ``bot-ready``, events out
through the observer) → Silero VAD → Sarvam STT → user context aggregator → OpenAI LLM →
Sarvam TTS → transport output → assistant context aggregator. 16 kHz in, 24 kHz out, as on
Pipecat's side.
"""

from __future__ import annotations

import asyncio
import json
import os
import time

from vani.audio.vad_processor import VADProcessor
from vani.frames import (
    BotStartedSpeakingFrame,
    FrameDirection,
    LLMContextFrame,
    LLMFullResponseEndFrame,
    LLMFullResponseStartFrame,
    LLMTextFrame,
    TranscriptionFrame,
    TTSAudioRawFrame,
    TTSStartedFrame,
    UserStoppedSpeakingFrame,
    VADUserStoppedSpeakingFrame,
)
from vani.pipeline import Pipeline, PipelineParams
from vani.pipeline.observers import BaseObserver, FramePushed
from vani.processors.aggregators import LLMContext, LLMContextAggregatorPair
from vani.server import Session
from vani.services.openai import OpenAILLMService
from vani.services.sarvam import SarvamSTTService, SarvamTTSService

SYSTEM = "You are a restaurant's booking assistant. Answer in one short sentence."
STT_URL = os.environ["VANI_BENCH_STT_URL"]
TTS_URL = os.environ["VANI_BENCH_TTS_URL"]
OPENAI_URL = os.environ["VANI_BENCH_OPENAI_URL"]
# Off unless set: the bound on audio queued behind the VAD when the server is past capacity
# (``VADProcessor(max_backlog_secs=...)``; Pipecat has no counterpart).
MAX_BACKLOG_SECS = float(os.environ.get("VANI_BENCH_VAD_MAX_BACKLOG_SECS", "0")) or None
# "0": the STT keeps the input audio (``audio_passthrough=False``; the VAD is before it).
AUDIO_PASSTHROUGH = os.environ.get("VANI_BENCH_AUDIO_PASSTHROUGH", "1") != "0"
# ``live_breakdown.py`` sets this: each call appends its steps (``[time.monotonic(), event]``
# JSON lines, the fakes' and the load generator's clock) to this file when it ends.
TRACE_PATH = os.environ.get("VANI_BENCH_SERVER_TRACE")

_TRACED = (
    VADUserStoppedSpeakingFrame,
    UserStoppedSpeakingFrame,
    TranscriptionFrame,
    LLMContextFrame,
    LLMFullResponseStartFrame,
    LLMTextFrame,
    LLMFullResponseEndFrame,
    TTSStartedFrame,
    TTSAudioRawFrame,
    BotStartedSpeakingFrame,
)


class _Tracer(BaseObserver):
    """Notes when each step's frame was pushed (the push's own time, not the delivery's), the
    socket writes and receives, and how late the event loop ran a 1 ms timer."""

    def __init__(self) -> None:
        # (monotonic time, event, the loop thread's CPU time when noted)
        self.events: list[tuple[float, str, float]] = []
        self._seen: set[str] = set()

    def note(self, event: str, t: float | None = None) -> None:
        self.events.append((time.monotonic() if t is None else t, event, time.thread_time()))

    async def on_push_frame(self, data: FramePushed) -> None:
        frame = data.frame
        if data.direction is not FrameDirection.DOWNSTREAM or not isinstance(frame, _TRACED):
            return
        name = type(frame).__name__
        if isinstance(frame, LLMTextFrame | TTSAudioRawFrame):
            # Only the first of a response: reset by the frame that opens the next one.
            if name in self._seen:
                return
            self._seen.add(name)
        elif isinstance(frame, LLMFullResponseStartFrame):
            self._seen.discard("LLMTextFrame")
        elif isinstance(frame, TTSStartedFrame):
            self._seen.discard("TTSAudioRawFrame")
        self.note(f"server: {type(data.source).__name__} pushed {name}", data.timestamp / 1e9)
        self.events[-1] = (*self.events[-1][:2], -1.0)  # delivered later: no CPU reading

    def wrap_output(self, output: object) -> None:
        write_audio = output.write_audio  # type: ignore[attr-defined]

        async def traced_write_audio(chunk: bytes, *, at: float) -> None:
            self.note("server: output transport paces out a chunk")
            await write_audio(chunk, at=at)

        output.write_audio = traced_write_audio  # type: ignore[attr-defined]

    def wrap_connection(self, connection: object) -> None:
        send, recv = connection.send, connection.recv  # type: ignore[attr-defined]

        async def traced_send(message: bytes | str) -> None:
            # Audio messages carry >= 10 ms of 24 kHz PCM; RTVI messages are far smaller.
            kind = "audio" if len(message) >= 480 else "message"
            self.note(f"server: socket write of {kind} starts")
            await send(message)
            self.note(f"server: socket write of {kind} done")

        async def traced_recv() -> bytes | str:
            data: bytes | str = await recv()
            self.note("server: socket message received")
            return data

        send_nowait = connection.send_nowait  # type: ignore[attr-defined]

        def traced_send_nowait(message: bytes | str) -> bool:
            # Audio that found the writer idle, written from the output's own task.
            kind = "audio" if len(message) >= 480 else "message"
            self.note(f"server: socket write of {kind} starts")
            sent: bool = send_nowait(message)
            if sent:
                self.note(f"server: socket write of {kind} done")
            else:
                self.events.pop()  # not written here: the writer's send notes it
            return sent

        connection.send = traced_send  # type: ignore[attr-defined]
        connection.send_nowait = traced_send_nowait  # type: ignore[attr-defined]
        connection.recv = traced_recv  # type: ignore[attr-defined]

    async def loop_lag(self) -> None:
        """Every ~1 ms: a tick with the loop thread's CPU time (so any span's CPU cost can be
        read off, whatever else ran on the machine), and how late the timer ran."""
        while True:
            before = time.monotonic()
            await asyncio.sleep(0.001)
            late = time.monotonic() - before - 0.001
            self.note("server: tick")
            if late > 0.002:
                self.note(f"server: event loop blocked {late * 1000:.1f} ms", before)

    def write(self, path: str) -> None:
        with open(path, "a") as out:
            for moment, event, cpu in self.events:
                out.write(json.dumps([moment, event, cpu]) + "\n")


async def bot(session: Session) -> None:
    stt = SarvamSTTService(base_url=STT_URL, audio_passthrough=AUDIO_PASSTHROUGH)
    llm = OpenAILLMService(base_url=OPENAI_URL)
    tts = SarvamTTSService(base_url=TTS_URL)
    context = LLMContextAggregatorPair(LLMContext([{"role": "system", "content": SYSTEM}]))
    pipeline = Pipeline(
        [
            session.input(),
            VADProcessor(max_backlog_secs=MAX_BACKLOG_SECS),
            stt,
            context.user(),
            llm,
            tts,
            session.output(),
            context.assistant(),
        ]
    )
    params = PipelineParams(audio_in_sample_rate=16000, audio_out_sample_rate=24000)
    if TRACE_PATH is None:
        await session.run(session.task(pipeline, params=params))
        return
    tracer = _Tracer()
    tracer.wrap_connection(session.transport.connection)
    tracer.wrap_output(session.output())
    lag = asyncio.get_running_loop().create_task(tracer.loop_lag())
    try:
        await session.run(session.task(pipeline, params=params, observers=[tracer]))
    finally:
        lag.cancel()
        tracer.write(TRACE_PATH)
