"""End nodes end the call by themselves in pipelines WITH an output transport, whatever the
reply turned into: text only (no TTS, e.g. a chat bot over a WebSocket), a TTS that makes no
audio for an empty reply, a TTS whose response end overtakes its audio, and a barge-in on the
goodbye. ``post_actions_after`` is left at its default ("auto") everywhere here."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from websockets.asyncio.client import connect
from websockets.asyncio.server import ServerConnection, serve
from websockets.exceptions import ConnectionClosed
from ws_support import PCMJSONSerializer

from vani.dhara import Action, Flow, FlowFunction, FlowManager, Node
from vani.frames import (
    EndFrame,
    Frame,
    FrameDirection,
    InterruptionFrame,
    LLMFullResponseEndFrame,
    LLMTextFrame,
    OutputTransportMessageFrame,
    TranscriptionFrame,
    TTSAudioRawFrame,
    TTSStartedFrame,
    TTSStoppedFrame,
    UserStartedSpeakingFrame,
    UserStoppedSpeakingFrame,
)
from vani.pipeline import Pipeline, PipelineRunner, PipelineTask
from vani.processors import FrameProcessor
from vani.processors.aggregators import LLMContext, LLMContextAggregatorPair
from vani.services.llm import ScriptedLLMService, ScriptedToolCall, ScriptedTurn
from vani.transports.base import BaseOutputTransport
from vani.transports.file import FileTransport
from vani.transports.websocket import WebSocketParams, WebsocketsConnection, WebSocketTransport

SPEECH = sorted((Path(__file__).resolve().parents[1] / "fixtures" / "speech").glob("*.wav"))
RATE = 24000


def two_node_flow(marks: list[str]) -> Flow:
    async def mark(action: Action, fm: FlowManager) -> None:
        marks.append(f"post-actions of {fm.current_node}")

    return Flow(
        initial_node="ask",
        nodes=[
            Node(
                name="ask",
                task_messages=[{"role": "system", "content": "Ask if they are done."}],
                functions=[FlowFunction(name="finish", transition_to="end")],
            ),
            Node(
                name="end",
                task_messages=[{"role": "system", "content": "Say goodbye."}],
                post_actions=[Action.function(mark), Action.end_conversation()],
            ),
        ],
    )


def end_only_flow(marks: list[str], reply_marker: str = "end") -> Flow:
    async def mark(action: Action, fm: FlowManager) -> None:
        marks.append("post-actions")

    return Flow(
        initial_node=reply_marker,
        nodes=[
            Node(
                name=reply_marker,
                task_messages=[{"role": "system", "content": "Say goodbye."}],
                post_actions=[Action.function(mark), Action.end_conversation()],
            )
        ],
    )


USER_TURN = [
    UserStartedSpeakingFrame(),
    TranscriptionFrame(text="I am done, thanks.", user_id="u", timestamp=""),
    UserStoppedSpeakingFrame(),
]


class Tail(FrameProcessor):
    """After the output transport: what left it, in order."""

    def __init__(self, log: list[str]) -> None:
        super().__init__(name="tail")
        self.log = log

    async def process_frame(self, frame: Frame, direction: FrameDirection) -> None:
        await super().process_frame(frame, direction)
        if direction is FrameDirection.DOWNSTREAM:
            if isinstance(frame, LLMTextFrame):
                self.log.append(f"text {frame.text.strip()}")
            elif isinstance(frame, EndFrame):
                self.log.append("end")
        await self.push_frame(frame, direction)


async def run_to_end(task: PipelineTask, manager: FlowManager, user_turn: bool) -> None:
    """Start the flow, optionally play one user turn, and wait for the call to END BY ITSELF
    (nothing here ever sends an EndFrame)."""

    @task.event_handler("on_pipeline_started")
    async def started(_task: PipelineTask, _frame: Frame) -> None:
        await manager.initialize()
        if user_turn:
            # After the first reply: the turn arrives once the ask node has answered.
            async def later() -> None:
                while len(manager.llm.context.messages) < 2:  # role + prompt, then the reply
                    await asyncio.sleep(0.01)
                await asyncio.sleep(0.05)
                await task.queue_frames(list(USER_TURN))

            asyncio.get_running_loop().create_task(later())

    await asyncio.wait_for(PipelineRunner(handle_sigint=False).run(task), 20)


async def test_a_text_bot_with_an_output_transport_and_no_tts_ends_by_itself() -> None:
    marks: list[str] = []
    log: list[str] = marks
    transport = FileTransport(SPEECH[0], end_on_eof=False)
    llm = ScriptedLLMService(
        ["Are you done?", ScriptedTurn(tool_calls=[ScriptedToolCall("finish")]), "Bye now."]
    )
    aggregators = LLMContextAggregatorPair(LLMContext())
    task = PipelineTask(
        Pipeline([aggregators.user(), llm, transport.output(), Tail(log), aggregators.assistant()]),
        idle_timeout_secs=None,
    )
    manager = FlowManager(
        task=task, llm=llm, context_aggregator=aggregators, flow=two_node_flow(marks)
    )
    assert isinstance(transport.output(), BaseOutputTransport)
    await run_to_end(task, manager, user_turn=True)
    assert manager.current_node == "end"
    # The goodbye went out through the transport, then the post-actions ran, then the call ended.
    assert log.index("text now.") < log.index("post-actions of end") < log.index("end")
    assert transport.recording.bot_chunks == []  # no audio at all


class EchoText(FrameProcessor):
    """A text bot's last step before the transport: each token becomes an (ordered) message."""

    async def process_frame(self, frame: Frame, direction: FrameDirection) -> None:
        await super().process_frame(frame, direction)
        if direction is FrameDirection.DOWNSTREAM and isinstance(frame, LLMTextFrame):
            await self.push_frame(OutputTransportMessageFrame(message={"text": frame.text}))
            return
        await self.push_frame(frame, direction)


async def test_a_text_bot_over_a_real_websocket_hangs_up_after_its_goodbye() -> None:
    marks: list[str] = []
    done = asyncio.Event()

    async def bot(ws: ServerConnection) -> None:
        transport = WebSocketTransport(
            WebsocketsConnection(ws),
            PCMJSONSerializer(),
            WebSocketParams(audio_out_sample_rate=RATE),
        )
        llm = ScriptedLLMService(
            ["Are you done?", ScriptedTurn(tool_calls=[ScriptedToolCall("finish")]), "Bye now."]
        )
        aggregators = LLMContextAggregatorPair(LLMContext())
        task = PipelineTask(
            Pipeline(
                [
                    transport.input(),
                    aggregators.user(),
                    llm,
                    EchoText(),
                    transport.output(),
                    aggregators.assistant(),
                ]
            ),
            idle_timeout_secs=None,
        )
        manager = FlowManager(
            task=task, llm=llm, context_aggregator=aggregators, flow=two_node_flow(marks)
        )
        try:
            await run_to_end(task, manager, user_turn=True)
        finally:
            done.set()

    async with serve(bot, "127.0.0.1", 0) as server:
        port = next(iter(server.sockets)).getsockname()[1]
        received: list[str] = []
        async with connect(f"ws://127.0.0.1:{port}/ws") as ws:
            try:
                while True:
                    data = await asyncio.wait_for(ws.recv(), 20)
                    assert isinstance(data, str)
                    received.append(json.loads(data)["message"]["text"])
            except ConnectionClosed:
                pass
            assert ws.close_code == 1000  # the bot closed the call, cleanly
        await asyncio.wait_for(done.wait(), 10)
    assert "".join(received) == "Are you done?Bye now."
    assert marks == ["post-actions of end"]


class SilentOnEmptyTTS(FrameProcessor):
    """A TTS that opens an utterance for every response (TTSStartedFrame ... TTSStoppedFrame)
    but has no audio to make when the reply is empty; 0.3 s of audio per word otherwise. It holds
    the response end behind its audio, as vani's TTS services do."""

    def __init__(self) -> None:
        super().__init__(name="tts")
        self.words = 0

    async def process_frame(self, frame: Frame, direction: FrameDirection) -> None:
        await super().process_frame(frame, direction)
        if direction is FrameDirection.DOWNSTREAM and isinstance(frame, LLMTextFrame):
            self.words += 1
            return
        if direction is FrameDirection.DOWNSTREAM and isinstance(frame, LLMFullResponseEndFrame):
            await self.push_frame(TTSStartedFrame(context_id="u"))
            for _ in range(15 * self.words):
                await self.push_frame(TTSAudioRawFrame(b"\x10\x00" * (RATE // 50), RATE, 1))
            await self.push_frame(TTSStoppedFrame(context_id="u"))
            self.words = 0
        await self.push_frame(frame, direction)


async def test_an_empty_reply_through_a_tts_that_makes_no_audio_still_ends_the_call() -> None:
    marks: list[str] = []
    transport = FileTransport(SPEECH[0], end_on_eof=False)
    llm = ScriptedLLMService([""])  # the end node's reply is empty
    aggregators = LLMContextAggregatorPair(LLMContext())
    task = PipelineTask(
        Pipeline(
            [
                aggregators.user(),
                llm,
                SilentOnEmptyTTS(),
                transport.output(),
                aggregators.assistant(),
            ]
        ),
        idle_timeout_secs=None,
    )
    manager = FlowManager(
        task=task, llm=llm, context_aggregator=aggregators, flow=end_only_flow(marks)
    )
    await run_to_end(task, manager, user_turn=False)
    assert marks == ["post-actions"]
    assert transport.recording.bot_chunks == []


class OvertakingTTS(FrameProcessor):
    """A TTS whose response end overtakes its audio (Pipecat's websocket TTS services let the
    LLMFullResponseEndFrame through at once and push the audio as it arrives)."""

    def __init__(self) -> None:
        super().__init__(name="tts")
        self.words = 0

    async def process_frame(self, frame: Frame, direction: FrameDirection) -> None:
        await super().process_frame(frame, direction)
        if direction is FrameDirection.DOWNSTREAM and isinstance(frame, LLMTextFrame):
            if self.words == 0:
                await self.push_frame(TTSStartedFrame(context_id="o"))
            self.words += 1
            return
        if direction is FrameDirection.DOWNSTREAM and isinstance(frame, LLMFullResponseEndFrame):
            await self.push_frame(frame, direction)  # first: the audio follows later
            words, self.words = self.words, 0
            self.create_task(self._audio_later(words), name="tts-audio")
            return
        await self.push_frame(frame, direction)

    async def _audio_later(self, words: int) -> None:
        await asyncio.sleep(0.05)
        for _ in range(15 * words):
            await self.push_frame(TTSAudioRawFrame(b"\x10\x00" * (RATE // 50), RATE, 1))
        await self.push_frame(TTSStoppedFrame(context_id="o"))


async def test_the_call_ends_after_audio_that_came_after_the_response_end() -> None:
    marks: list[str] = []
    transport = FileTransport(SPEECH[0], end_on_eof=False)
    when: list[tuple[float, bool]] = []

    async def mark(action: Action, fm: FlowManager) -> None:
        when.append((transport.clock.now(), transport.bot_speaking))

    flow = end_only_flow(marks)
    flow.nodes[0].post_actions.insert(0, Action.function(mark))
    llm = ScriptedLLMService(["Goodbye and thanks."])
    aggregators = LLMContextAggregatorPair(LLMContext())
    task = PipelineTask(
        Pipeline(
            [aggregators.user(), llm, OvertakingTTS(), transport.output(), aggregators.assistant()]
        ),
        idle_timeout_secs=None,
    )
    manager = FlowManager(task=task, llm=llm, context_aggregator=aggregators, flow=flow)
    await run_to_end(task, manager, user_turn=False)
    chunks = transport.recording.bot_chunks
    played = sum(end - start for start, end in chunks)
    assert abs(played - 0.9) < 0.03  # three words, 0.3 s each: all of it played
    ((at, speaking),) = when
    assert not speaking and at >= chunks[-1][1] - 0.001


async def test_a_barge_in_on_the_goodbye_still_ends_the_call() -> None:
    marks: list[str] = []
    transport = FileTransport(SPEECH[0], end_on_eof=False, realtime=True)
    llm = ScriptedLLMService(["Goodbye and thanks for calling us today."])
    aggregators = LLMContextAggregatorPair(LLMContext())
    output = transport.output()
    task = PipelineTask(
        Pipeline([aggregators.user(), llm, SilentOnEmptyTTS(), output, aggregators.assistant()]),
        idle_timeout_secs=None,
    )
    manager = FlowManager(
        task=task, llm=llm, context_aggregator=aggregators, flow=end_only_flow(marks)
    )

    async def barge_in() -> None:
        while not output.bot_speaking:
            await asyncio.sleep(0.005)
        await asyncio.sleep(0.1)
        await task.queue_frame(InterruptionFrame())

    @task.event_handler("on_pipeline_started")
    async def started(_task: PipelineTask, _frame: Frame) -> None:
        asyncio.get_running_loop().create_task(barge_in())

    await run_to_end(task, manager, user_turn=False)
    assert marks == ["post-actions"]
    played = sum(end - start for start, end in transport.recording.bot_chunks)
    assert 0 < played < 7 * 0.3 - 0.5  # cut short: not the whole goodbye


class BargeIn(FrameProcessor):
    """Right after the LLM: at the ``at``-th frame of the bot's reply going down, the user barges
    in (an InterruptionFrame enters at the top of the pipeline, racing what is in flight)."""

    def __init__(self, task_box: list[PipelineTask], at: int) -> None:
        super().__init__(name="barge-in")
        self.task_box = task_box
        self.at = at
        self.seen = 0

    async def process_frame(self, frame: Frame, direction: FrameDirection) -> None:
        await super().process_frame(frame, direction)
        if direction is FrameDirection.DOWNSTREAM and isinstance(
            frame, LLMTextFrame | LLMFullResponseEndFrame
        ):
            self.seen += 1
            if self.seen == self.at:
                await self.task_box[0].queue_frame(InterruptionFrame())
        await self.push_frame(frame, direction)


TTS_KINDS = {
    "none": lambda: None,
    "silent-on-empty": SilentOnEmptyTTS,
    "overtaking": OvertakingTTS,
}


@settings(
    max_examples=24,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    tts=st.sampled_from(sorted(TTS_KINDS)),
    at=st.integers(min_value=1, max_value=6),
    empty=st.booleans(),
)
async def test_no_barge_in_schedule_keeps_an_end_node_from_ending_the_call(
    tts: str, at: int, empty: bool
) -> None:
    """Wherever the barge-in lands in the goodbye (or after it), the call still ends by itself:
    at once if the goodbye had been generated, or after the user's next turn if the barge-in
    cut it short. The post-actions run exactly once."""
    marks: list[str] = []
    transport = FileTransport(SPEECH[0], end_on_eof=False)
    goodbye = "" if empty else "Goodbye and thanks for calling."
    llm = ScriptedLLMService([goodbye, "Goodbye again."])
    aggregators = LLMContextAggregatorPair(LLMContext())
    box: list[PipelineTask] = []
    tts_stage = TTS_KINDS[tts]()
    middle: list[FrameProcessor] = [BargeIn(box, at)] + ([tts_stage] if tts_stage else [])
    task = PipelineTask(
        Pipeline([aggregators.user(), llm, *middle, transport.output(), aggregators.assistant()]),
        idle_timeout_secs=None,
    )
    box.append(task)
    manager = FlowManager(
        task=task, llm=llm, context_aggregator=aggregators, flow=end_only_flow(marks)
    )

    @task.event_handler("on_pipeline_started")
    async def started(_task: PipelineTask, _frame: Frame) -> None:
        await manager.initialize()

    run = asyncio.get_running_loop().create_task(PipelineRunner(handle_sigint=False).run(task))
    done, _ = await asyncio.wait({run}, timeout=0.5)
    if not done:
        # The barge-in cut the goodbye before it was generated: the user speaks, the end node
        # answers again, and that answer ends the call.
        await task.queue_frames(list(USER_TURN))
    try:
        await asyncio.wait_for(asyncio.shield(run), 15)
    finally:
        if not run.done():
            await task.cancel()
    assert marks == ["post-actions"]
