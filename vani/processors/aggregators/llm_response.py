"""Context aggregators: the user side turns transcripts into user messages and runs the LLM;
the assistant side makes sure the context keeps only what the user actually heard.

Typical placement::

    context = LLMContext(messages=[{"role": "system", "content": "..."}], tools=[...])
    aggregators = LLMContextAggregatorPair(context)
    Pipeline([transport.input(), stt, aggregators.user(), llm, tts, transport.output(),
              aggregators.assistant()])

Conventions this relies on (the output side of a pipeline):

* the LLM service writes every reply and its tool calls into the shared context itself, as
  soon as it has streamed them, and marks each reply with its ``LLMFullResponseStartFrame``;
* TTS services consume ``LLMTextFrame`` s and push ``TTSTextFrame`` s (a word or phrase each),
  and pass ``LLMFullResponseStartFrame``/``EndFrame`` on in order;
* the output transport forwards each ``TTSTextFrame`` (and the response start/end frames)
  downstream only once the audio before it has been sent to the user.

So the assistant aggregator, placed after the output transport, sees the text in the order and
at the time it is played. When an ``InterruptionFrame`` arrives, every reply that has not been
played to its end is cut down to what was heard (nothing, for a reply never played). Without a
TTS (a text pipeline) the ``LLMTextFrame`` s count as heard.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterator
from typing import Literal

from vani.frames import (
    Frame,
    FrameDirection,
    InterimTranscriptionFrame,
    InterruptionFrame,
    LLMContextFrame,
    LLMFullResponseEndFrame,
    LLMFullResponseStartFrame,
    LLMMessagesAppendFrame,
    LLMMessagesUpdateFrame,
    LLMRunFrame,
    LLMSetToolChoiceFrame,
    LLMSetToolsFrame,
    LLMTextFrame,
    TranscriptionFrame,
    TTSTextFrame,
    UserStartedSpeakingFrame,
    UserStoppedSpeakingFrame,
    VADUserStartedSpeakingFrame,
    VADUserStoppedSpeakingFrame,
)
from vani.processors import FrameProcessor
from vani.processors.aggregators.llm_context import LLMContext

__all__ = [
    "LLMAssistantContextAggregator",
    "LLMContextAggregatorPair",
    "LLMUserContextAggregator",
]

logger = logging.getLogger(__name__)

_NO_SPACE_BEFORE = tuple(",.!?;:)]}'\"…।")


def join_text(parts: list[str]) -> str:
    """Join text pieces: as they are when they carry their own spacing, else with one space."""
    out = ""
    for part in parts:
        if not part:
            continue
        if (
            out
            and not out[-1].isspace()
            and not part[0].isspace()
            and not part.startswith(_NO_SPACE_BEFORE)
        ):
            out += " "
        out += part
    return out.strip()


class LLMUserContextAggregator(FrameProcessor):
    """Turns the user's final transcripts into a user message and runs the LLM.

    Transcripts (``TranscriptionFrame``) gathered while the user speaks are added as one user
    message when ``UserStoppedSpeakingFrame`` arrives; a transcript arriving after the user
    stopped (STT services often finish late) is added ``aggregation_timeout_secs`` later (at
    once by default). Then an ``LLMContextFrame`` goes downstream. Transcripts are consumed.

    Barge-in is normally raised upstream, where speech is detected (``VADProcessor``, an STT
    service with server VAD), so this aggregator does not interrupt by default. With
    ``interrupt_on_user_speech=True`` (for pipelines where nothing upstream does) and
    interruptions allowed, a ``UserStartedSpeakingFrame`` broadcasts an ``InterruptionFrame``.
    ``LLMMessagesAppendFrame``, ``LLMMessagesUpdateFrame``, ``LLMSetToolsFrame``,
    ``LLMSetToolChoiceFrame`` and ``LLMRunFrame`` change the shared context here and are
    consumed; the ones that run the LLM push an ``LLMContextFrame``.

    An end-of-turn model ends the turn 0.2 s after the last words, usually before an STT that
    transcribes each stretch of speech (``VADUserStoppedSpeakingFrame`` to transcript) has
    delivered the last stretch's text. So the turn waits until every stretch
    (``VADUserStartedSpeakingFrame`` to ``VADUserStoppedSpeakingFrame``) that got no transcript
    while it lasted has got one, at most ``transcript_timeout_secs`` (2 s) after the turn ended,
    and then goes out whole (docs/turn-taking.md). An STT that transcribes as the user speaks
    adds no wait.
    """

    def __init__(
        self,
        context: LLMContext,
        *,
        interrupt_on_user_speech: bool = False,
        aggregation_timeout_secs: float = 0.0,
        transcript_timeout_secs: float = 2.0,
        **kwargs: object,
    ) -> None:
        super().__init__(**kwargs)  # type: ignore[arg-type]
        self._context = context
        self._interrupt_on_speech = interrupt_on_user_speech
        self._timeout = aggregation_timeout_secs
        self._speaking = False
        self._parts: list[str] = []
        self._timer: asyncio.Task[object] | None = None
        self._transcript_timeout = transcript_timeout_secs
        # Stretches of speech (VAD stops) whose transcripts are still to come, and whether the
        # stretch under way already got one (a streaming STT that transcribes as the user
        # speaks: nothing to wait for at its stop).
        self._awaiting_transcript = 0
        self._stretch_open = False
        self._stretch_transcribed = False

    @property
    def context(self) -> LLMContext:
        return self._context

    async def process_frame(self, frame: Frame, direction: FrameDirection) -> None:
        await super().process_frame(frame, direction)
        context = self._context
        if isinstance(frame, TranscriptionFrame):
            if self._awaiting_transcript:
                self._awaiting_transcript -= 1
            elif self._stretch_open:
                self._stretch_transcribed = True
            if frame.text.strip():
                self._parts.append(frame.text.strip())
                if not self._speaking and not self._awaiting_transcript:
                    self._cancel_timer()
                    await self._push_soon()
        elif isinstance(frame, InterimTranscriptionFrame):
            pass
        elif isinstance(frame, VADUserStartedSpeakingFrame):
            self._stretch_open = True
            self._stretch_transcribed = False
            await self.push_frame(frame, direction)
        elif isinstance(frame, VADUserStoppedSpeakingFrame):
            if self._stretch_open and not self._stretch_transcribed:
                self._awaiting_transcript += 1
            self._stretch_open = False
            await self.push_frame(frame, direction)
        elif isinstance(frame, UserStartedSpeakingFrame):
            self._speaking = True
            self._cancel_timer()
            if self._interrupt_on_speech and self.interruptions_allowed:
                await self.broadcast_interruption()
            await self.push_frame(frame, direction)
        elif isinstance(frame, UserStoppedSpeakingFrame):
            self._speaking = False
            await self.push_frame(frame, direction)
            if self._awaiting_transcript and self._transcript_timeout > 0:
                self._cancel_timer()
                self._timer = self.create_task(self._push_after_transcript(), "transcript-wait")
            elif self._parts:
                await self._push_aggregation()
        elif isinstance(frame, LLMMessagesAppendFrame):
            context.add_messages(frame.messages)
            if frame.run_llm:
                await self._push_context()
        elif isinstance(frame, LLMMessagesUpdateFrame):
            context.set_messages(frame.messages)
            if frame.run_llm:
                await self._push_context()
        elif isinstance(frame, LLMSetToolsFrame):
            context.set_tools(frame.tools)
        elif isinstance(frame, LLMSetToolChoiceFrame):
            context.set_tool_choice(frame.tool_choice)
        elif isinstance(frame, LLMRunFrame):
            await self._push_context()
        else:
            await self.push_frame(frame, direction)

    async def _push_soon(self) -> None:
        if self._timeout <= 0:
            await self._push_aggregation()
        elif self._timer is None:
            self._timer = self.create_task(self._push_later(), "aggregation-timeout")

    async def _push_later(self) -> None:
        await asyncio.sleep(self._timeout)
        self._timer = None
        if not self._speaking and self._parts:
            await self._push_aggregation()

    async def _push_after_transcript(self) -> None:
        # The last stretch's transcript normally ends this wait first (it pushes the turn).
        await asyncio.sleep(self._transcript_timeout)
        self._timer = None
        self._awaiting_transcript = 0
        if not self._speaking and self._parts:
            await self._push_aggregation()

    def _cancel_timer(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None

    async def _push_aggregation(self) -> None:
        self._cancel_timer()
        text = join_text(self._parts)
        self._parts.clear()
        if text:
            self._context.add_message({"role": "user", "content": text})
            await self._push_context()

    async def _push_context(self) -> None:
        await self.push_frame(LLMContextFrame(context=self._context))


class LLMAssistantContextAggregator(FrameProcessor):
    """Keeps the assistant's part of the context true to what was played (module docstring).

    ``text_source``: ``"auto"`` counts ``TTSTextFrame`` s once any has been seen and
    ``LLMTextFrame`` s before that; ``"tts"`` or ``"llm"`` force one kind. Every frame is passed
    on unchanged.
    """

    def __init__(
        self,
        context: LLMContext,
        *,
        text_source: Literal["auto", "tts", "llm"] = "auto",
        **kwargs: object,
    ) -> None:
        super().__init__(**kwargs)  # type: ignore[arg-type]
        self._context = context
        context.track_responses = True
        self._source = text_source
        self._tts_seen = text_source == "tts"
        self._current: int | None = None
        self._llm_text: list[str] = []
        self._tts_text: list[str] = []
        self._text_only = False  # the current reply is not spoken (LLMTextFrame.skip_tts)

    @property
    def context(self) -> LLMContext:
        return self._context

    def heard_text(self) -> str:
        """What the user has heard of the reply being played."""
        if self._tts_seen and self._source != "llm" and not self._text_only:
            return join_text(self._tts_text)
        return "".join(self._llm_text).strip()

    async def process_frame(self, frame: Frame, direction: FrameDirection) -> None:
        await super().process_frame(frame, direction)
        if isinstance(frame, LLMFullResponseStartFrame):
            self._current = frame.id
            self._llm_text.clear()
            self._tts_text.clear()
            self._text_only = False
        elif isinstance(frame, TTSTextFrame):
            self._tts_seen = True
            self._tts_text.append(frame.text)
        elif isinstance(frame, LLMTextFrame):
            self._llm_text.append(frame.text)
            self._text_only = self._text_only or frame.skip_tts
        elif isinstance(frame, LLMFullResponseEndFrame):
            if self._current is not None:
                self._context.response_played(self._current)
            self._current = None
        elif isinstance(frame, InterruptionFrame):
            heard = self.heard_text()
            for key in self._context.open_responses():
                self._context.cut_response(key, heard if key == self._current else "")
            self._current = None
            self._llm_text.clear()
            self._tts_text.clear()
        await self.push_frame(frame, direction)


class LLMContextAggregatorPair:
    """The user and assistant aggregators of one shared context.

    ``user_kwargs`` and ``assistant_kwargs`` go to the two constructors.
    """

    def __init__(
        self,
        context: LLMContext,
        *,
        user_kwargs: dict[str, object] | None = None,
        assistant_kwargs: dict[str, object] | None = None,
    ) -> None:
        self._context = context
        self._user = LLMUserContextAggregator(context, **(user_kwargs or {}))  # type: ignore[arg-type]
        self._assistant = LLMAssistantContextAggregator(context, **(assistant_kwargs or {}))  # type: ignore[arg-type]

    @property
    def context(self) -> LLMContext:
        return self._context

    def user(self) -> LLMUserContextAggregator:
        return self._user

    def assistant(self) -> LLMAssistantContextAggregator:
        return self._assistant

    def __iter__(self) -> Iterator[LLMUserContextAggregator | LLMAssistantContextAggregator]:
        """``user, assistant = LLMContextAggregatorPair(context)``, as Pipecat allows."""
        return iter((self._user, self._assistant))
