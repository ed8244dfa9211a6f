"""``UserIdleProcessor``: do something when the user has been silent too long.

Place it after the LLM and before the TTS (it sees the user's turns going down, the bot's
speech coming back up from the output transport, the tool calls going down, and what it says
goes to the TTS)::

    Pipeline([..., aggregators.user(), llm, UserIdleProcessor(timeout=8.0), tts,
              transport.output(), aggregators.assistant()])

The clock runs only while nobody speaks and no tool runs: it starts when the user's turn ends
or the bot's speech ends, stops when either starts again or a tool call begins, and restarts
from zero each time. When it reaches ``timeout`` the handler runs with the number of times it
ran in this silence (1, 2, ...); any speech from the user starts the count over. The handler
returns whether to keep watching. The default handler asks "Are you still there?" (a
``TTSSpeakFrame``) the first time and ends the call (``EndTaskFrame`` upstream) the second time.

The clock is the wall clock or the caller's audio passing by (``InputAudioRawFrame``), whichever
reaches ``timeout`` first: a file run on a virtual clock streams its silence faster than real
time, and a live client streams it at real time, so both time out as the caller would hear it.
Guide: docs/turn-taking.md.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

from vani.errors import ConfigurationError
from vani.frames import (
    BotStartedSpeakingFrame,
    BotStoppedSpeakingFrame,
    CancelFrame,
    EndFrame,
    EndTaskFrame,
    Frame,
    FrameDirection,
    FunctionCallInProgressFrame,
    FunctionCallResultFrame,
    InputAudioRawFrame,
    StartFrame,
    TTSSpeakFrame,
    UserStartedSpeakingFrame,
    UserStoppedSpeakingFrame,
)
from vani.processors import FrameProcessor

__all__ = ["UserIdleProcessor", "ask_then_hang_up"]

IdleHandler = Callable[["UserIdleProcessor", int], Awaitable[bool]]


def ask_then_hang_up(
    question: str = "Are you still there?", goodbye: str | None = None
) -> IdleHandler:
    """The default handler: ``question`` after the first timeout, then (after ``goodbye``, if
    given) end the call after the second."""

    async def handler(processor: UserIdleProcessor, retry: int) -> bool:
        if retry == 1:
            await processor.push_frame(TTSSpeakFrame(text=question))
            return True
        if goodbye:
            await processor.push_frame(TTSSpeakFrame(text=goodbye))
        await processor.push_frame(EndTaskFrame(reason="user idle"), FrameDirection.UPSTREAM)
        return False

    return handler


class UserIdleProcessor(FrameProcessor):
    """Runs ``callback(processor, retry)`` after ``timeout`` seconds of silence (module docs).
    ``start_on_pipeline_start``: also count from the start of the call (before anyone spoke)."""

    def __init__(
        self,
        *,
        timeout: float = 8.0,
        callback: IdleHandler | None = None,
        start_on_pipeline_start: bool = False,
        **kwargs: object,
    ) -> None:
        super().__init__(**kwargs)  # type: ignore[arg-type]
        if timeout <= 0:
            raise ConfigurationError(f"expected timeout > 0, got {timeout}")
        self.timeout = timeout
        self._callback = callback or ask_then_hang_up()
        self._start_on_start = start_on_pipeline_start
        self._retries = 0
        self._watching = True
        self._user_speaking = False
        self._bot_speaking = False
        self._tools = 0
        self._timer: asyncio.Task[object] | None = None
        self._heard_secs = 0.0  # the caller's audio since the clock started

    @property
    def retries(self) -> int:
        """How many times the handler ran in the current silence."""
        return self._retries

    async def process_frame(self, frame: Frame, direction: FrameDirection) -> None:
        await super().process_frame(frame, direction)
        await self.push_frame(frame, direction)
        if isinstance(frame, InputAudioRawFrame):
            if self._timer is not None and frame.sample_rate:
                self._heard_secs += len(frame.audio) / 2 / frame.sample_rate / frame.num_channels
                # (a sum of 20 ms frames falls short of a round timeout by rounding)
                if self._heard_secs + 1e-9 >= self.timeout:
                    self._disarm()
                    await self._fire()
        elif isinstance(frame, StartFrame):
            if self._start_on_start:
                self._arm()
        elif isinstance(frame, EndFrame | CancelFrame):
            self._disarm()
        elif isinstance(frame, UserStartedSpeakingFrame):
            self._user_speaking = True
            self._retries = 0
            self._watching = True
            self._disarm()
        elif isinstance(frame, UserStoppedSpeakingFrame):
            self._user_speaking = False
            self._arm()
        elif isinstance(frame, BotStartedSpeakingFrame):
            self._bot_speaking = True
            self._disarm()
        elif isinstance(frame, BotStoppedSpeakingFrame):
            self._bot_speaking = False
            self._arm()
        elif isinstance(frame, FunctionCallInProgressFrame):
            self._tools += 1
            self._disarm()
        elif isinstance(frame, FunctionCallResultFrame):
            self._tools = max(0, self._tools - 1)
            self._arm()

    def _arm(self) -> None:
        self._disarm()
        if self._watching and not (self._user_speaking or self._bot_speaking or self._tools):
            self._heard_secs = 0.0
            self._timer = self.create_task(self._wait(), "user-idle")

    def _disarm(self) -> None:
        if self._timer is not None and self._timer is not asyncio.current_task():
            self._timer.cancel()
        self._timer = None

    async def _wait(self) -> None:
        await asyncio.sleep(self.timeout)
        self._timer = None
        await self._fire()

    async def _fire(self) -> None:
        self._retries += 1
        keep = await self._callback(self, self._retries)
        self._watching = bool(keep)
        # The bot's answer (if it spoke) re-arms the clock when it stops; if it said nothing,
        # count again from now.
        if self._watching and self._timer is None and not self._bot_speaking:
            self._arm()
