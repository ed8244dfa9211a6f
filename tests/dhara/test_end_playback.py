"""An end node with a real output transport: the call ends after the goodbye has been played,
not when it was generated (post_actions_after="auto" sees the transport)."""

from __future__ import annotations

import asyncio
from pathlib import Path

from vani.dhara import Action, Flow, FlowManager, Node
from vani.frames import (
    Frame,
    FrameDirection,
    LLMFullResponseEndFrame,
    LLMTextFrame,
    TTSAudioRawFrame,
    TTSStartedFrame,
    TTSStoppedFrame,
)
from vani.pipeline import Pipeline, PipelineRunner, PipelineTask
from vani.processors import FrameProcessor
from vani.processors.aggregators import LLMContext, LLMContextAggregatorPair
from vani.services.llm import ScriptedLLMService
from vani.transports.file import FileTransport

SPEECH = sorted((Path(__file__).resolve().parents[1] / "fixtures" / "speech").glob("*.wav"))


class ToneTTS(FrameProcessor):
    """Half a second of audio per response (a stand-in TTS)."""

    async def process_frame(self, frame: Frame, direction: FrameDirection) -> None:
        await super().process_frame(frame, direction)
        if direction is FrameDirection.DOWNSTREAM and isinstance(frame, LLMTextFrame):
            return  # swallowed: spoken as one block at the response end
        if direction is FrameDirection.DOWNSTREAM and isinstance(frame, LLMFullResponseEndFrame):
            await self.push_frame(TTSStartedFrame(context_id="t"))
            rate = 24000
            for _ in range(25):
                await self.push_frame(
                    TTSAudioRawFrame(
                        audio=b"\x10\x00" * (rate // 50), sample_rate=rate, num_channels=1
                    )
                )
            await self.push_frame(TTSStoppedFrame(context_id="t"))
        await self.push_frame(frame, direction)


async def test_the_end_node_hangs_up_after_the_goodbye_was_played() -> None:
    transport = FileTransport(SPEECH[0], end_on_eof=False)
    marked: list[tuple[float, bool]] = []

    async def mark(action: Action, fm: FlowManager) -> None:
        marked.append((transport.clock.now(), transport.bot_speaking))

    flow = Flow(
        initial_node="end",
        nodes=[
            Node(
                name="end",
                task_messages=[{"role": "system", "content": "Say goodbye."}],
                post_actions=[Action.function(mark), Action.end_conversation()],
            )
        ],
    )
    llm = ScriptedLLMService(["Goodbye, and thank you."])
    aggregators = LLMContextAggregatorPair(LLMContext())
    task = PipelineTask(
        Pipeline([aggregators.user(), llm, ToneTTS(), transport.output(), aggregators.assistant()]),
        idle_timeout_secs=None,
    )
    manager = FlowManager(task=task, llm=llm, context_aggregator=aggregators, flow=flow)
    ended_at: list[float] = []

    @task.event_handler("on_pipeline_started")
    async def started(_task: PipelineTask, _frame: Frame) -> None:
        await manager.initialize()

    @task.event_handler("on_pipeline_finished")
    async def finished(_task: PipelineTask, _frame: Frame) -> None:
        ended_at.append(transport.clock.now())

    await asyncio.wait_for(PipelineRunner(handle_sigint=False).run(task), 20)
    # The whole half second of goodbye went out before the call ended.
    chunks = transport.recording.bot_chunks
    assert chunks
    played = sum(end - start for start, end in chunks)
    assert abs(played - 0.5) < 0.03
    assert ended_at and ended_at[0] >= chunks[-1][1] - 0.001
    # The post-actions ran once the bot had stopped speaking, at the end of the audio.
    ((when, speaking),) = marked
    assert not speaking
    assert when >= chunks[-1][1] - 0.001
