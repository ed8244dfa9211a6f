"""Every frame that flows through a vani pipeline.

A frame is one of three kinds, and the kind decides how it travels (see ``docs/concepts.md``):

* **System** frames (:class:`SystemFrame`) are processed at once: they never wait behind a
  queued or in-flight frame and an interruption never drops them.
* **Control** frames (:class:`ControlFrame`) and **Data** frames (:class:`DataFrame`) travel in
  order on the ordered lane. An interruption drops the ones still queued and cancels the one in
  flight, unless the frame is uninterruptible (``interruptible`` is False: ``EndFrame``,
  ``StopFrame``, function-call results, and the user's microphone audio).

:class:`InputAudioRawFrame` is ordered data that is never interruptible: an interruption neither
drops nor cancels the user's speech, and since system frames never queue, it never delays one
either. Pipecat makes input audio a system frame instead; code that tests
``isinstance(frame, SystemFrame)`` for microphone audio must test ``InputAudioRawFrame``.

Code that dispatches on the kind matches on :attr:`Frame.kind` (a :class:`FrameKind`) and ends
with ``assert_never``, so mypy flags a kind that is not handled. Users may define their own frames
by subclassing one of the three kind classes.

This module imports nothing else from vani.
"""

from __future__ import annotations

import enum
import itertools
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, ClassVar, TypeAlias

if TYPE_CHECKING:
    # Only for annotations: at run time frames import nothing else from vani.
    from vani.processors.aggregators.llm_context import LLMContext

JSONValue: TypeAlias = "bool | int | float | str | list[JSONValue] | dict[str, JSONValue] | None"
JSONObject: TypeAlias = "dict[str, JSONValue]"

_next_id = itertools.count(1).__next__


class FrameKind(enum.Enum):
    """How a frame travels: see the module docstring."""

    SYSTEM = "system"
    CONTROL = "control"
    DATA = "data"


class FrameDirection(enum.IntEnum):
    """Downstream flows towards the output transport; upstream back towards the input."""

    DOWNSTREAM = 1
    UPSTREAM = 2


@dataclass(slots=True, eq=False)
class Frame:
    """Base of every frame. ``id`` increases monotonically across the process."""

    kind: ClassVar[FrameKind]
    interruptible: ClassVar[bool] = True

    id: int = field(init=False, default_factory=_next_id)

    @property
    def name(self) -> str:
        return f"{type(self).__name__}#{self.id}"


@dataclass(slots=True, eq=False)
class SystemFrame(Frame):
    """Processed at once, ahead of everything queued; never dropped by an interruption."""

    kind: ClassVar[FrameKind] = FrameKind.SYSTEM
    interruptible: ClassVar[bool] = False


@dataclass(slots=True, eq=False)
class ControlFrame(Frame):
    """Ordered with data; dropped by an interruption unless uninterruptible."""

    kind: ClassVar[FrameKind] = FrameKind.CONTROL


@dataclass(slots=True, eq=False)
class DataFrame(Frame):
    """Ordered payload; dropped by an interruption unless uninterruptible."""

    kind: ClassVar[FrameKind] = FrameKind.DATA


# ---------------------------------------------------------------------------------------------
# Metrics payloads (plain data carried by MetricsFrame)


@dataclass(slots=True)
class MetricsData:
    """One measurement, attributed to the processor that made it."""

    processor: str
    model: str | None = None


@dataclass(slots=True)
class TTFBMetricsData(MetricsData):
    """Time to first byte (first token, first audio), in seconds."""

    value: float = 0.0


@dataclass(slots=True)
class ProcessingMetricsData(MetricsData):
    """Time spent processing, in seconds."""

    value: float = 0.0


@dataclass(slots=True)
class LLMUsageMetricsData(MetricsData):
    """Token usage of one LLM response."""

    prompt_tokens: int = 0
    completion_tokens: int = 0
    total_tokens: int = 0
    cached_tokens: int | None = None


@dataclass(slots=True)
class LLMTruncationMetricsData(MetricsData):
    """An LLM reply was cut off: ``finish_reason`` is ``"length"`` or ``"content_filter"``."""

    finish_reason: str = ""


@dataclass(slots=True)
class TTSUsageMetricsData(MetricsData):
    """Characters sent for synthesis."""

    characters: int = 0


@dataclass(slots=True)
class FunctionCallFromLLM:
    """One tool call as the LLM asked for it. ``arguments`` is the raw JSON string."""

    function_name: str
    tool_call_id: str
    arguments: str


# ---------------------------------------------------------------------------------------------
# System frames


@dataclass(slots=True, eq=False)
class StartFrame(SystemFrame):
    """First frame of every pipeline run: carries the audio rates and feature switches."""

    audio_in_sample_rate: int = 16000
    audio_out_sample_rate: int = 24000
    allow_interruptions: bool = True
    enable_metrics: bool = False
    enable_usage_metrics: bool = False


@dataclass(slots=True, eq=False)
class CancelFrame(SystemFrame):
    """Stop at once: processors cancel their work and the task finishes without draining."""

    reason: str | None = None


@dataclass(slots=True, eq=False)
class ErrorFrame(SystemFrame):
    """An error, pushed upstream. A ``fatal`` error cancels the pipeline task."""

    error: str = ""
    fatal: bool = False
    exception: BaseException | None = None
    processor: str | None = None


@dataclass(slots=True, eq=False)
class FatalErrorFrame(ErrorFrame):
    """An error that ends the pipeline task."""

    fatal: bool = True


@dataclass(slots=True, eq=False)
class HeartbeatFrame(SystemFrame):
    """Sent by the task to check the pipeline is alive; ``timestamp`` in monotonic ns."""

    timestamp: int = 0


@dataclass(slots=True, eq=False)
class InterruptionFrame(SystemFrame):
    """The user barged in: every processor drops queued interruptible frames and cancels
    in-flight interruptible work (``docs/concepts.md``, "The interruption contract")."""


@dataclass(slots=True, eq=False)
class EndTaskFrame(SystemFrame):
    """Pushed upstream by a processor to ask the task to end gracefully (queue an EndFrame)."""

    reason: str | None = None


@dataclass(slots=True, eq=False)
class CancelTaskFrame(SystemFrame):
    """Pushed upstream by a processor to ask the task to cancel."""

    reason: str | None = None


@dataclass(slots=True, eq=False)
class InterruptionTaskFrame(SystemFrame):
    """Pushed upstream by a processor to ask the task to interrupt the whole pipeline."""


@dataclass(slots=True, eq=False)
class UserStartedSpeakingFrame(SystemFrame):
    """The user's turn began (after VAD and any turn logic)."""

    emulated: bool = False


@dataclass(slots=True, eq=False)
class UserStoppedSpeakingFrame(SystemFrame):
    """The user's turn ended."""

    emulated: bool = False


@dataclass(slots=True, eq=False)
class VADUserStartedSpeakingFrame(SystemFrame):
    """The VAD heard speech start. ``timestamp`` is seconds of stream audio at the edge."""

    start_secs: float = 0.0
    timestamp: float = 0.0


@dataclass(slots=True, eq=False)
class VADUserStoppedSpeakingFrame(SystemFrame):
    """The VAD heard speech stop. ``timestamp`` is seconds of stream audio at the edge."""

    stop_secs: float = 0.0
    timestamp: float = 0.0


@dataclass(slots=True, eq=False)
class BotStartedSpeakingFrame(SystemFrame):
    """The output transport sent the first chunk of the bot's audio."""


@dataclass(slots=True, eq=False)
class BotStoppedSpeakingFrame(SystemFrame):
    """The bot's audio really finished playing (or was cut by an interruption)."""


@dataclass(slots=True, eq=False)
class BotSpeakingFrame(SystemFrame):
    """Sent periodically while the bot's audio plays."""


@dataclass(slots=True, eq=False)
class MetricsFrame(SystemFrame):
    """Measurements (time to first byte, processing time, usage)."""

    data: list[MetricsData] = field(default_factory=list)


@dataclass(slots=True, eq=False)
class FunctionCallsStartedFrame(SystemFrame):
    """The LLM asked for these tool calls; they are about to run."""

    function_calls: Sequence[FunctionCallFromLLM] = ()


@dataclass(slots=True, eq=False)
class FunctionCallCancelFrame(SystemFrame):
    """A running tool call was cancelled by an interruption; its result is discarded."""

    function_name: str = ""
    tool_call_id: str = ""


@dataclass(slots=True, eq=False)
class InputTransportMessageFrame(SystemFrame):
    """A message that arrived from the client (not audio)."""

    message: JSONValue = None


@dataclass(slots=True, eq=False)
class OutputTransportMessageUrgentFrame(SystemFrame):
    """A message for the client that overtakes queued output."""

    message: JSONValue = None


@dataclass(slots=True, eq=False)
class InputDTMFFrame(SystemFrame):
    """A keypad press from the caller (phone DTMF, or RTVI ``dtmf``): one of ``0-9 * # A-D``."""

    button: str = ""


@dataclass(slots=True, eq=False)
class FlowTransitionFrame(SystemFrame):
    """A Dhara flow moved from one node to another."""

    from_node: str | None = None
    to_node: str = ""


# ---------------------------------------------------------------------------------------------
# Control frames


@dataclass(slots=True, eq=False)
class EndFrame(ControlFrame):
    """End gracefully once everything queued before it has been processed."""

    interruptible: ClassVar[bool] = False

    reason: str | None = None


@dataclass(slots=True, eq=False)
class StopFrame(ControlFrame):
    """Stop the task once queued frames are processed, keeping processors alive."""

    interruptible: ClassVar[bool] = False


@dataclass(slots=True, eq=False)
class LLMFullResponseStartFrame(ControlFrame):
    """An LLM response begins."""


@dataclass(slots=True, eq=False)
class LLMFullResponseEndFrame(ControlFrame):
    """An LLM response ended (text and tool calls all streamed).

    ``finish_reason`` is the server's word for why it ended: ``"stop"``, ``"tool_calls"``,
    ``"length"`` (cut off by the token limit) or ``"content_filter"`` (cut off by a filter);
    ``None`` when the server gave none, or when the response failed or was interrupted.
    """

    finish_reason: str | None = None

    @property
    def truncated(self) -> bool:
        """True when the reply was cut off (``length`` or ``content_filter``)."""
        return self.finish_reason in ("length", "content_filter")


@dataclass(slots=True, eq=False)
class TTSStartedFrame(ControlFrame):
    """Synthesis of an utterance began."""

    context_id: str | None = None


@dataclass(slots=True, eq=False)
class TTSStoppedFrame(ControlFrame):
    """Synthesis of an utterance finished."""

    context_id: str | None = None


@dataclass(slots=True, eq=False)
class FunctionCallInProgressFrame(ControlFrame):
    """A tool call is running. Uninterruptible so observers always see its outcome."""

    interruptible: ClassVar[bool] = False

    function_name: str = ""
    tool_call_id: str = ""
    arguments: str = ""
    cancel_on_interruption: bool = True


# ---------------------------------------------------------------------------------------------
# Data frames


def _audio_repr(frame: InputAudioRawFrame | OutputAudioRawFrame) -> str:
    return (
        f"{frame.name}(bytes={len(frame.audio)}, sample_rate={frame.sample_rate},"
        f" num_channels={frame.num_channels})"
    )


@dataclass(slots=True, eq=False, repr=False)
class InputAudioRawFrame(DataFrame):
    """The user's audio: 16-bit little-endian PCM, interleaved when ``num_channels`` > 1.

    Ordered among itself, never dropped or cancelled by an interruption.
    """

    interruptible: ClassVar[bool] = False

    audio: bytes = b""
    sample_rate: int = 16000
    num_channels: int = 1

    @property
    def num_frames(self) -> int:
        """Samples per channel."""
        return len(self.audio) // (2 * self.num_channels)

    def __repr__(self) -> str:
        return _audio_repr(self)


@dataclass(slots=True, eq=False, repr=False)
class OutputAudioRawFrame(DataFrame):
    """Audio for the user: 16-bit little-endian PCM, interleaved when ``num_channels`` > 1."""

    audio: bytes = b""
    sample_rate: int = 24000
    num_channels: int = 1

    @property
    def num_frames(self) -> int:
        """Samples per channel."""
        return len(self.audio) // (2 * self.num_channels)

    def __repr__(self) -> str:
        return _audio_repr(self)


@dataclass(slots=True, eq=False, repr=False)
class TTSAudioRawFrame(OutputAudioRawFrame):
    """Audio produced by a TTS service."""

    context_id: str | None = None


@dataclass(slots=True, eq=False)
class TextFrame(DataFrame):
    """A piece of text. ``skip_tts``: not to be spoken (TTS services pass it on untouched)."""

    text: str = ""
    skip_tts: bool = field(default=False, kw_only=True)


@dataclass(slots=True, eq=False)
class LLMTextFrame(TextFrame):
    """A token (or a few) streamed by an LLM."""


@dataclass(slots=True, eq=False)
class TTSTextFrame(TextFrame):
    """Text that is being spoken, aligned with the audio that speaks it."""

    context_id: str | None = None


@dataclass(slots=True, eq=False)
class TranscriptionFrame(TextFrame):
    """A final transcript of the user's speech. ``timestamp`` is ISO 8601."""

    user_id: str = ""
    timestamp: str = ""
    language: str | None = None
    result: JSONValue = None


@dataclass(slots=True, eq=False)
class InterimTranscriptionFrame(TextFrame):
    """A partial transcript that may still change."""

    user_id: str = ""
    timestamp: str = ""
    language: str | None = None
    result: JSONValue = None


@dataclass(slots=True, eq=False)
class TTSSpeakFrame(DataFrame):
    """Speak this text as is (bypasses the LLM). ``uninterruptible``: the user's speech does
    not cut it (an ``InterruptionGate`` holds the barge-in; the user's words are kept)."""

    text: str = ""
    uninterruptible: bool = False


@dataclass(slots=True, eq=False)
class LLMContextFrame(DataFrame):
    """Run the LLM on this context."""

    context: LLMContext


@dataclass(slots=True, eq=False)
class LLMMessagesAppendFrame(DataFrame):
    """Append messages to the context; run the LLM after when ``run_llm``."""

    messages: list[JSONObject] = field(default_factory=list)
    run_llm: bool | None = None


@dataclass(slots=True, eq=False)
class LLMMessagesUpdateFrame(DataFrame):
    """Replace the context's messages; run the LLM after when ``run_llm``."""

    messages: list[JSONObject] = field(default_factory=list)
    run_llm: bool | None = None


@dataclass(slots=True, eq=False)
class LLMRunFrame(DataFrame):
    """Run the LLM on the current context."""


@dataclass(slots=True, eq=False)
class LLMSetToolsFrame(DataFrame):
    """Replace the tools offered to the LLM (OpenAI-format dicts or vani schemas)."""

    tools: Sequence[object] = ()


@dataclass(slots=True, eq=False)
class LLMSetToolChoiceFrame(DataFrame):
    """Set ``tool_choice``: ``"none"``, ``"auto"``, ``"required"`` or a function selector."""

    tool_choice: JSONValue = "auto"


@dataclass(slots=True, eq=False)
class FunctionCallResultFrame(DataFrame):
    """The result of a tool call. Uninterruptible: a finished call's result is never lost."""

    interruptible: ClassVar[bool] = False

    function_name: str = ""
    tool_call_id: str = ""
    arguments: str = ""
    result: JSONValue = None
    run_llm: bool | None = None


@dataclass(slots=True, eq=False)
class FunctionCallDataFrame(DataFrame):
    """Data a tool produced for the UI or logs; never part of any LLM request."""

    interruptible: ClassVar[bool] = False

    function_name: str = ""
    tool_call_id: str = ""
    data: JSONValue = None


@dataclass(slots=True, eq=False)
class OutputTransportMessageFrame(DataFrame):
    """A message for the client, in order with the output."""

    message: JSONValue = None


@dataclass(slots=True, eq=False)
class LLMConfigureOutputFrame(DataFrame):
    """Configure what follows the LLM: ``skip_tts`` answers in text only (nothing is spoken)
    until a frame with ``skip_tts=False``. Sent around a ``send-text`` with
    ``audio_response: false`` (see docs/protocol.md)."""

    skip_tts: bool = False
