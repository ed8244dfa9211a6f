"""A running flow for Dhara tests: user aggregator → LLM → Speaker → assistant aggregator.

``Speaker`` stands in for the TTS and the output transport: it records every frame that reaches
it and, like an output transport, pushes ``BotStartedSpeakingFrame`` / ``BotStoppedSpeakingFrame``
upstream around each reply with text and around each ``TTSSpeakFrame`` (an interruption stops it).
"""

from __future__ import annotations

import asyncio
import importlib.util
import sys
from collections.abc import Mapping
from pathlib import Path
from types import ModuleType, TracebackType

from vani.dhara import FlowManager
from vani.dhara.load import FlowSource
from vani.frames import (
    BotStartedSpeakingFrame,
    BotStoppedSpeakingFrame,
    EndFrame,
    Frame,
    FrameDirection,
    InterruptionFrame,
    LLMFullResponseEndFrame,
    LLMTextFrame,
    StartFrame,
    TranscriptionFrame,
    TTSSpeakFrame,
    UserStartedSpeakingFrame,
    UserStoppedSpeakingFrame,
)
from vani.pipeline import Pipeline, PipelineRunner, PipelineTask
from vani.processors import FrameProcessor
from vani.processors.aggregators import LLMContext, LLMContextAggregatorPair
from vani.services.llm import LLMService


class Speaker(FrameProcessor):
    """Records frames going downstream; brackets speech with BotStarted/Stopped frames."""

    def __init__(self) -> None:
        super().__init__(name="speaker")
        self.log: list[Frame] = []
        self.speaking = False
        #: A text pipeline: no BotStarted/StoppedSpeakingFrame at all.
        self.silent = False

    async def _start(self) -> None:
        if not self.speaking and not self.silent:
            self.speaking = True
            await self.push_frame(BotStartedSpeakingFrame(), FrameDirection.UPSTREAM)

    async def _stop(self) -> None:
        if self.speaking:
            self.speaking = False
            await self.push_frame(BotStoppedSpeakingFrame(), FrameDirection.UPSTREAM)

    async def process_frame(self, frame: Frame, direction: FrameDirection) -> None:
        await super().process_frame(frame, direction)
        if direction is FrameDirection.DOWNSTREAM and not isinstance(frame, StartFrame):
            self.log.append(frame)
            if isinstance(frame, LLMTextFrame):
                await self._start()
            elif isinstance(frame, LLMFullResponseEndFrame | InterruptionFrame):
                await self._stop()
            elif isinstance(frame, TTSSpeakFrame):
                await self._start()
                await self._stop()
        await self.push_frame(frame, direction)

    @property
    def reports_bot_speech(self) -> bool:
        """Like an output transport, the FlowManager waits for this speaker's stop."""
        return not self.silent

    def of(self, kind: type[Frame] | tuple[type[Frame], ...]) -> list[Frame]:
        return [f for f in self.log if isinstance(f, kind)]


class FlowRig:
    """``async with FlowRig(llm=..., flow=..., handlers=...) as rig``: a started pipeline with a
    FlowManager (not yet initialized); ``await rig.settle()`` waits until nothing moves."""

    def __init__(
        self,
        *,
        llm: LLMService,
        flow: FlowSource | None,
        handlers: Mapping[str, object] | None = None,
        context: LLMContext | None = None,
        **manager_kwargs: object,
    ) -> None:
        self.llm = llm
        self.context = context if context is not None else LLMContext()
        self.aggregators = LLMContextAggregatorPair(self.context)
        self.speaker = Speaker()
        self.task = PipelineTask(
            Pipeline([self.aggregators.user(), llm, self.speaker, self.aggregators.assistant()]),
            idle_timeout_secs=None,
        )
        self.manager = FlowManager(
            task=self.task,
            llm=llm,
            context_aggregator=self.aggregators,
            flow=flow,
            handlers=handlers,  # type: ignore[arg-type]
            **manager_kwargs,  # type: ignore[arg-type]
        )
        self.transitions: list[tuple[str | None, str]] = []
        self._run: asyncio.Task[None] | None = None

        @self.manager.event_handler("on_transition")
        async def on_transition(_fm: FlowManager, from_node: str | None, to_node: str) -> None:
            self.transitions.append((from_node, to_node))

    async def __aenter__(self) -> FlowRig:
        started = asyncio.Event()

        @self.task.event_handler("on_pipeline_started")
        async def on_started(_task: PipelineTask, _frame: Frame) -> None:
            started.set()

        self._run = asyncio.create_task(PipelineRunner(handle_sigint=False).run(self.task))
        async with asyncio.timeout(5):
            await started.wait()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        assert self._run is not None
        if not self._run.done():
            if exc is None:
                await self.task.queue_frame(EndFrame())
            else:
                await self.task.cancel()
        try:
            async with asyncio.timeout(5):
                await asyncio.shield(self._run)
        except TimeoutError:
            await self.task.cancel()
            await asyncio.wait({self._run})
            raise

    @property
    def finished(self) -> bool:
        return self._run is not None and self._run.done()

    async def user_says(self, text: str) -> None:
        await self.task.queue_frames(
            [
                UserStartedSpeakingFrame(),
                TranscriptionFrame(text=text, user_id="u", timestamp=""),
                UserStoppedSpeakingFrame(),
            ]
        )

    async def user_starts_speaking(self) -> None:
        """A barge-in, as the VAD reports one: the user speaks and the pipeline is interrupted."""
        await self.task.queue_frame(UserStartedSpeakingFrame())
        await self.task.queue_frame(InterruptionFrame())

    def _fingerprint(self) -> tuple[object, ...]:
        return (
            len(self.speaker.log),
            len(self.transitions),
            len(self.context.messages),
            len(self.llm.function_calls_in_progress),
            self.task.pending_frames(),
        )

    async def settle(self, quiet_secs: float = 0.06, timeout_secs: float = 10.0) -> None:
        """Wait until the pipeline, the LLM and the flow have been still for ``quiet_secs``."""
        loop = asyncio.get_running_loop()
        async with asyncio.timeout(timeout_secs):
            last = self._fingerprint()
            since = loop.time()
            while loop.time() - since < quiet_secs:
                await asyncio.sleep(0.01)
                if self.finished:
                    return
                now = self._fingerprint()
                if now != last:
                    last, since = now, loop.time()


EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


def load_example(name: str = "restaurant_flow") -> ModuleType:
    """Import ``examples/<name>.py`` (examples are scripts, not a package)."""
    module_name = f"vani_example_{name.replace('/', '_')}"
    if module_name in sys.modules:
        return sys.modules[module_name]
    spec = importlib.util.spec_from_file_location(module_name, EXAMPLES / f"{name}.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[module_name] = module
    spec.loader.exec_module(module)
    return module
