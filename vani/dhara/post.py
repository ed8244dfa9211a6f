"""When a node's post-actions run: the watch kept from entering the node until its first
response is over for the caller.

``post_actions_after`` picks the moment:

* ``"response_end"``: the LLM service has pushed the response's ``LLMFullResponseEndFrame``;
* ``"bot_stopped_speaking"``: the first ``BotStoppedSpeakingFrame`` after the bot started
  speaking that response;
* ``"auto"`` (the default): once the response has been **delivered** and nothing of it is still
  being spoken. Delivered means the response's ``LLMFullResponseEndFrame`` has left the output
  transport (it leaves only after the audio queued before it has played out) — or, in a pipeline
  without an output, has been pushed by the LLM service. Still being spoken means the bot is
  speaking (a ``BotStartedSpeakingFrame`` without its stop) or a TTS has started an utterance
  (``TTSStartedFrame``) whose ``TTSStoppedFrame`` has not yet left the output. So a voice bot
  waits for the goodbye to be played, a text bot over a socket ends when the last word went
  out, and a TTS that makes no audio for an empty reply holds nothing up. An interruption
  after the response was generated counts as its delivery (what was left of it was dropped).

This module is sans-I/O: :meth:`PostActionWatch.observe` is fed the frames the flow manager's
observer sees and answers whether the actions are due.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal, TypeAlias

from vani.frames import (
    BotStartedSpeakingFrame,
    BotStoppedSpeakingFrame,
    FrameDirection,
    InterruptionFrame,
    LLMFullResponseEndFrame,
    LLMFullResponseStartFrame,
    TTSStartedFrame,
    TTSStoppedFrame,
)

if TYPE_CHECKING:
    from vani.dhara.model import Node
    from vani.pipeline.observers import FramePushed

__all__ = ["WATCHED_FRAMES", "PostActionWatch", "PostActionsAfter"]

PostActionsAfter: TypeAlias = Literal["auto", "bot_stopped_speaking", "response_end"]

#: The frames :meth:`PostActionWatch.observe` needs to see.
WATCHED_FRAMES = (
    LLMFullResponseStartFrame,
    LLMFullResponseEndFrame,
    BotStartedSpeakingFrame,
    BotStoppedSpeakingFrame,
    TTSStartedFrame,
    TTSStoppedFrame,
    InterruptionFrame,
)


@dataclass(slots=True)
class PostActionWatch:
    """The post-actions of ``node`` (entered at ``epoch``, at monotonic ``entered_ns``)."""

    node: Node
    epoch: int
    entered_ns: int
    started: bool = False  # the node's first response has started
    responded: bool = False  # ... and the LLM service has ended it
    end_id: int | None = None  # the id of that response's LLMFullResponseEndFrame
    delivered: bool = False  # ... and it has reached the caller (or was cut)
    speaking: bool = False
    spoke: bool = False
    tts_open: bool = False

    def observe(
        self,
        data: FramePushed,
        *,
        llm: object,
        mode: PostActionsAfter,
        is_output: Callable[[object], bool],
        has_output: bool,
    ) -> bool:
        """Take in one push; True when the post-actions are due now (answered once)."""
        frame = data.frame
        if isinstance(frame, LLMFullResponseStartFrame):
            if data.source is llm and not self.responded:
                self.started = True
            return False
        if not self.started:
            return False
        if isinstance(frame, LLMFullResponseEndFrame):
            if data.source is llm and not self.responded:
                self.responded = True
                self.end_id = frame.id
                if mode == "response_end":
                    return True
                if not has_output:
                    self.delivered = True
            elif (
                self.responded
                and frame.id == self.end_id
                and data.direction is FrameDirection.DOWNSTREAM
                and is_output(data.source)
            ):
                self.delivered = True
        elif isinstance(frame, BotStartedSpeakingFrame):
            self.speaking = self.spoke = True
        elif isinstance(frame, BotStoppedSpeakingFrame):
            was_speaking, self.speaking = self.speaking, False
            if mode == "bot_stopped_speaking":
                return self.responded and was_speaking
            if self.responded and self.spoke:
                self.delivered = True  # the speech that followed the response is over
        elif isinstance(frame, TTSStartedFrame):
            self.tts_open = True
        elif isinstance(frame, TTSStoppedFrame):
            # The utterance is over for the caller once its end has left the output (behind
            # its audio), not when the TTS pushed it.
            if not has_output or (
                data.direction is FrameDirection.DOWNSTREAM and is_output(data.source)
            ):
                self.tts_open = False
        elif isinstance(frame, InterruptionFrame):
            self.tts_open = False
            if self.responded:
                self.delivered = True
        if mode != "auto":
            return False
        return self.responded and self.delivered and not self.speaking and not self.tts_open
