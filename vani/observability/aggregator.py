"""MetricsAggregator: an observer that keeps the numbers of one call (docs/observability.md).

It watches the frames every processor pushes (it never sits in the pipeline) and builds one
:class:`~vani.observability.records.TurnRecord` per exchange: when the user started and stopped
speaking, the final transcript, each service request (STT, LLM, TTS) with its time to first byte,
tokens, characters and audio seconds from the services' ``MetricsFrame`` s, tool calls, errors,
and when the bot's audio started and stopped. From these it derives the per-turn latencies of
:data:`~vani.observability.records.STAGES`:

* ``vad_stop_to_stt_final``: the VAD said the user stopped → the final transcript;
* ``stt_ttfb``, ``llm_ttfb``, ``tts_ttfb``: the first time-to-first-byte each service reported
  in the turn (Whisper's is its processing time, Piper's its first sentence's synthesis);
* ``voice_to_voice``: the user's voice ended (the VAD stop minus its ``stop_secs``) → the first
  bot audio chunk was played (``BotStartedSpeakingFrame``);
* ``vad_stop_to_bot_audio``: the same, from the VAD's stop;
* ``interruption``: the user started speaking over the bot → the bot went silent.

Services report TTFB and usage only with ``PipelineParams(enable_metrics=True,
enable_usage_metrics=True)``; the frame-timed stages need nothing. Each finished turn and the end
of the call go to the attached :class:`SessionListener` s (session report, Prometheus,
OpenTelemetry), so everything downstream costs a handful of calls per turn, not per frame.
"""

from __future__ import annotations

import inspect
import itertools
import time
from collections import deque
from collections.abc import Awaitable, Callable, Sequence
from typing import TYPE_CHECKING

from vani.frames import (
    BotStartedSpeakingFrame,
    BotStoppedSpeakingFrame,
    CancelFrame,
    EndFrame,
    ErrorFrame,
    Frame,
    FrameDirection,
    FunctionCallCancelFrame,
    FunctionCallInProgressFrame,
    FunctionCallResultFrame,
    InterruptionFrame,
    JSONValue,
    LLMContextFrame,
    LLMFullResponseEndFrame,
    LLMFullResponseStartFrame,
    LLMTextFrame,
    LLMUsageMetricsData,
    MetricsFrame,
    ProcessingMetricsData,
    StartFrame,
    STTUsageMetricsData,
    TranscriptionFrame,
    TTFBMetricsData,
    TTSAudioRawFrame,
    TTSStartedFrame,
    TTSStoppedFrame,
    TTSTextFrame,
    TTSUsageMetricsData,
    UserStartedSpeakingFrame,
    UserStoppedSpeakingFrame,
    VADUserStartedSpeakingFrame,
    VADUserStoppedSpeakingFrame,
)
from vani.observability.records import (
    ErrorRecord,
    ServiceCall,
    ServiceRole,
    Stage,
    ToolCallRecord,
    TurnRecord,
    Usage,
)
from vani.pipeline.observers import BaseObserver, FramePushed
from vani.processors.frame_processor import FrameProcessor
from vani.transports.base import BaseInputTransport, BaseOutputTransport

if TYPE_CHECKING:
    from vani.processors.aggregators.llm_context import LLMContext

__all__ = ["MetricsAggregator", "SessionListener", "service_role"]

_session_ids = itertools.count(1)

# Tool results are kept for the report, cut to this many characters.
_MAX_RESULT_CHARS = 2000
# Frame ids remembered to count each frame once although it is pushed at every hop.
_SEEN_IDS = 512


class SessionListener:
    """Gets a call's events from a :class:`MetricsAggregator`. Override what you need; each
    hook may be a plain method or a coroutine."""

    def on_session_start(self, session: MetricsAggregator) -> Awaitable[None] | None:
        """The aggregator was attached to a running call."""
        return None

    def on_turn_end(self, session: MetricsAggregator, turn: TurnRecord) -> Awaitable[None] | None:
        """``turn`` is complete (the next one began, or the call ended)."""
        return None

    def on_session_end(self, session: MetricsAggregator) -> Awaitable[None] | None:
        """The call ended; every turn has been reported."""
        return None


def service_role(processor: FrameProcessor) -> ServiceRole:
    """What a processor is, for attributing metrics and errors.

    A ``metrics_role`` attribute wins; then the base classes vani knows; then the class name
    (Pipecat's naming: ``...STTService``, ``...LLMService``, ``...TTSService``).
    """
    role = getattr(processor, "metrics_role", None)
    if role in ("stt", "llm", "tts", "transport", "other"):
        return role  # type: ignore[no-any-return]
    from vani.services.llm.base import LLMService

    if isinstance(processor, LLMService):
        return "llm"
    if isinstance(processor, BaseInputTransport | BaseOutputTransport):
        return "transport"
    name = type(processor).__name__.lower()
    if "stt" in name or "whisper" in name or "transcri" in name:
        return "stt"
    if "tts" in name or "piper" in name:
        return "tts"
    if "llm" in name:
        return "llm"
    return "other"


def _short(value: JSONValue) -> JSONValue:
    if isinstance(value, str) and len(value) > _MAX_RESULT_CHARS:
        return value[:_MAX_RESULT_CHARS] + "…"
    if isinstance(value, dict | list):
        import json

        text = json.dumps(value)
        if len(text) > _MAX_RESULT_CHARS:
            return text[:_MAX_RESULT_CHARS] + "…"
    return value


class MetricsAggregator(BaseObserver):
    """Keeps one call's numbers (see the module docstring). Attach with
    ``PipelineTask(..., observers=[aggregator])`` or through :func:`vani.observability.observe`,
    which also ends it when the task finishes; otherwise call :meth:`finish` yourself.

    ``clock``: a function returning seconds (a transport's ``clock.now``); by default the time
    each frame was pushed. ``max_turns``: finished turns kept in :attr:`turns` (older ones still
    count in :attr:`totals` and the listeners saw them).
    """

    def __init__(
        self,
        *,
        session_id: str | None = None,
        listeners: Sequence[SessionListener] = (),
        clock: Callable[[], float] | None = None,
        max_turns: int = 1000,
    ) -> None:
        self.session_id = session_id or f"session-{next(_session_ids)}"
        self.listeners: list[SessionListener] = list(listeners)
        self.max_turns = max_turns
        self._clock = clock
        self.started_wall = time.time()
        self._t0_ns = time.monotonic_ns()
        self._t0_clock = clock() if clock is not None else 0.0
        self.ended: float | None = None
        self.end_reason: str | None = None
        self.turns: deque[TurnRecord] = deque(maxlen=max(1, max_turns))
        self.turns_dropped = 0
        self.current: TurnRecord | None = None
        self.totals = Usage()
        self.turn_count = 0
        self.interruptions = 0
        self.errors: list[ErrorRecord] = []
        self.errors_by_service: dict[str, int] = {}
        self.tool_calls: list[ToolCallRecord] = []
        self.context: LLMContext | None = None
        self.recording_path: str | None = None
        self._roles: dict[int, ServiceRole] = {}
        self._role_by_name: dict[str, ServiceRole] = {}
        self._seen: set[int] = set()
        self._seen_order: deque[int] = deque()
        self._open_calls: dict[tuple[ServiceRole, str], ServiceCall] = {}
        self._open_tools: dict[str, ToolCallRecord] = {}
        self._user_speaking = False
        self._bot_speaking = False
        self._barge_in_at: float | None = None
        self._started = False
        self._finished = False

    # -- time ------------------------------------------------------------------------------

    def now(self) -> float:
        """Seconds since the session started, on the aggregator's clock."""
        if self._clock is not None:
            return self._clock() - self._t0_clock
        return (time.monotonic_ns() - self._t0_ns) / 1e9

    def epoch_ns(self, t: float) -> int:
        """Session time ``t`` as nanoseconds since the Unix epoch (for traces)."""
        return int((self.started_wall + t) * 1e9)

    def _time(self, data: FramePushed) -> float:
        if self._clock is not None:
            return self._clock() - self._t0_clock
        return (data.timestamp - self._t0_ns) / 1e9

    # -- listeners -------------------------------------------------------------------------

    async def _notify(self, hook: str, *args: object) -> None:
        for listener in tuple(self.listeners):
            try:
                result = getattr(listener, hook)(self, *args)
                if inspect.isawaitable(result):
                    await result
            except Exception:
                import logging

                logging.getLogger(__name__).exception("session listener %r failed", listener)

    async def start(self) -> None:
        """Tell the listeners the session began (idempotent)."""
        if not self._started:
            self._started = True
            await self._notify("on_session_start")

    async def finish(self, reason: str | None = None) -> None:
        """Close the open turn and tell the listeners the call ended (idempotent)."""
        if self._finished:
            return
        await self.start()
        self._finished = True
        self.ended = self.now()
        if reason is not None or self.end_reason is None:
            self.end_reason = reason or self.end_reason
        for call in self._open_calls.values():
            call.ended = self.ended
            call.cancelled = True
        self._open_calls.clear()
        await self._close_turn(self.ended)
        await self._notify("on_session_end")

    # -- the observer ----------------------------------------------------------------------

    def _first_time(self, frame: Frame) -> bool:
        fid = frame.id
        if fid in self._seen:
            return False
        self._seen.add(fid)
        order = self._seen_order
        order.append(fid)
        if len(order) > _SEEN_IDS:
            self._seen.discard(order.popleft())
        return True

    def _role(self, processor: FrameProcessor) -> ServiceRole:
        role = self._roles.get(processor.id)
        if role is None:
            role = self._roles[processor.id] = service_role(processor)
            self._role_by_name[processor.name] = role
        return role

    def _learn(self, processor: FrameProcessor, role: ServiceRole) -> None:
        self._roles[processor.id] = role
        self._role_by_name[processor.name] = role

    def wants(self, frame_type: type[Frame]) -> bool:
        return frame_type in _HANDLERS or issubclass(frame_type, ErrorFrame)

    async def on_push_frame(self, data: FramePushed) -> None:
        frame = data.frame
        handler = _HANDLERS.get(type(frame))
        if handler is None:
            if isinstance(frame, ErrorFrame):
                handler = MetricsAggregator._on_error
            else:
                return
        if not self._first_time(frame):
            # Text the user heard leaves the output transport: that push is the one to count.
            if isinstance(frame, TTSTextFrame) and isinstance(data.source, BaseOutputTransport):
                self._heard(frame.text)
            return
        if not self._started:
            await self.start()
        await handler(self, data, self._time(data))

    # -- turns -----------------------------------------------------------------------------

    def _turn(self, t: float) -> TurnRecord:
        if self.current is None:
            self.current = TurnRecord(index=self.turn_count, started=t)
            self.turn_count += 1
        return self.current

    async def _close_turn(self, t: float) -> None:
        turn, self.current = self.current, None
        if turn is None:
            return
        turn.ended = t
        for tool in turn.tool_calls:
            if tool.ended is None:
                tool.ended = t
        self.totals.add(turn.usage)
        if len(self.turns) == self.turns.maxlen:
            self.turns_dropped += 1
        self.turns.append(turn)
        await self._notify("on_turn_end", turn)

    def _latency(self, turn: TurnRecord, stage: Stage, value: float) -> None:
        if stage not in turn.latencies and value >= 0:
            turn.latencies[stage] = value

    # -- handlers, one per frame type ------------------------------------------------------

    async def _on_start(self, data: FramePushed, t: float) -> None:
        self._role(data.source)

    async def _on_user_started(self, data: FramePushed, t: float) -> None:
        if self._user_speaking:
            return
        self._user_speaking = True
        if self._bot_speaking and self._barge_in_at is None:
            self._barge_in_at = t
        turn = self.current
        if turn is None or turn.has_reply or turn.user_started is None:
            if turn is not None and (turn.has_reply or turn.user_started is not None):
                await self._close_turn(t)
            turn = self._turn(t)
        if turn.user_started is None:
            turn.user_started = t

    async def _on_user_stopped(self, data: FramePushed, t: float) -> None:
        frame = data.frame
        self._user_speaking = False
        turn = self._turn(t)
        if isinstance(frame, VADUserStoppedSpeakingFrame):
            turn.vad_stopped = t
            turn.speech_ended = t - frame.stop_secs
        elif turn.vad_stopped is None:
            turn.speech_ended = t

    async def _on_transcript(self, data: FramePushed, t: float) -> None:
        frame = data.frame
        assert isinstance(frame, TranscriptionFrame)
        self._learn(data.source, "stt")
        turn = self._turn(t)
        if frame.text:
            turn.transcript = f"{turn.transcript} {frame.text}".strip()
        turn.transcript_at = t
        if turn.vad_stopped is not None:
            self._latency(turn, "vad_stop_to_stt_final", t - turn.vad_stopped)
        call = ServiceCall(
            "stt",
            data.source.name,
            started=turn.user_started if turn.user_started is not None else t,
            ended=t,
            text=frame.text,
        )
        pending = self._open_calls.pop(("stt", data.source.name), None)
        if pending is not None:
            call.ttfb, call.audio_seconds, call.model = (
                pending.ttfb,
                pending.audio_seconds,
                pending.model,
            )
        turn.calls.append(call)

    def _call(self, role: ServiceRole, processor: str, t: float) -> ServiceCall:
        key = (role, processor)
        call = self._open_calls.get(key)
        if call is None:
            call = self._open_calls[key] = ServiceCall(role, processor, started=t)
        return call

    def _end_call(self, role: ServiceRole, processor: str, t: float) -> None:
        call = self._open_calls.pop((role, processor), None)
        if call is not None:
            call.ended = t
            self._turn(t).calls.append(call)

    async def _on_llm_start(self, data: FramePushed, t: float) -> None:
        if self._role(data.source) != "llm":
            return
        self._end_call("llm", data.source.name, t)
        self._call("llm", data.source.name, t)

    async def _on_llm_text(self, data: FramePushed, t: float) -> None:
        if self._role(data.source) != "llm":
            return
        frame = data.frame
        assert isinstance(frame, LLMTextFrame)
        call = self._call("llm", data.source.name, t)
        call.text += frame.text

    async def _on_llm_end(self, data: FramePushed, t: float) -> None:
        if self._role(data.source) == "llm":
            self._end_call("llm", data.source.name, t)

    async def _on_tts_started(self, data: FramePushed, t: float) -> None:
        self._learn(data.source, "tts")
        self._call("tts", data.source.name, t)

    async def _on_tts_stopped(self, data: FramePushed, t: float) -> None:
        if self._role(data.source) == "tts":
            self._end_call("tts", data.source.name, t)

    async def _on_tts_audio(self, data: FramePushed, t: float) -> None:
        if self._role(data.source) != "tts":
            return
        call = self._call("tts", data.source.name, t)
        if call.ttfb is None:
            # Fallback when the service reports no TTFB of its own.
            call.ttfb = t - call.started

    def _heard(self, text: str) -> None:
        turn = self.current
        if turn is not None and text:
            turn.bot_text = f"{turn.bot_text} {text}".strip() if turn.bot_text else text

    async def _on_tts_text(self, data: FramePushed, t: float) -> None:
        frame = data.frame
        assert isinstance(frame, TTSTextFrame)
        if isinstance(data.source, BaseOutputTransport):
            self._heard(frame.text)

    async def _on_metrics(self, data: FramePushed, t: float) -> None:
        frame = data.frame
        assert isinstance(frame, MetricsFrame)
        role = self._role(data.source)
        if role not in ("stt", "llm", "tts"):
            return
        turn = self._turn(t)
        for item in frame.data:
            call = self._call(role, data.source.name, t)
            if item.model and call.model is None:
                call.model = item.model
            if isinstance(item, TTFBMetricsData):
                if call.ttfb is None or role == "stt":
                    call.ttfb = item.value
                stage: Stage = "stt_ttfb" if role == "stt" else f"{role}_ttfb"  # type: ignore[assignment]
                self._latency(turn, stage, item.value)
            elif isinstance(item, LLMUsageMetricsData):
                call.prompt_tokens += item.prompt_tokens
                call.completion_tokens += item.completion_tokens
                turn.usage.prompt_tokens += item.prompt_tokens
                turn.usage.completion_tokens += item.completion_tokens
                turn.usage.cached_tokens += item.cached_tokens or 0
            elif isinstance(item, TTSUsageMetricsData):
                call.characters += item.characters
                turn.usage.tts_characters += item.characters
            elif isinstance(item, STTUsageMetricsData):
                call.audio_seconds += item.audio_seconds
                turn.usage.stt_seconds += item.audio_seconds
            elif isinstance(item, ProcessingMetricsData):
                pass  # the TTFB carries it for the services vani ships

    async def _on_bot_started(self, data: FramePushed, t: float) -> None:
        if data.direction is not FrameDirection.DOWNSTREAM:
            return
        self._bot_speaking = True
        turn = self._turn(t)
        if turn.bot_started is None:
            turn.bot_started = t
            if turn.speech_ended is not None:
                self._latency(turn, "voice_to_voice", t - turn.speech_ended)
            if turn.vad_stopped is not None:
                self._latency(turn, "vad_stop_to_bot_audio", t - turn.vad_stopped)

    async def _on_bot_stopped(self, data: FramePushed, t: float) -> None:
        if data.direction is not FrameDirection.DOWNSTREAM:
            return
        self._bot_speaking = False
        barge, self._barge_in_at = self._barge_in_at, None
        # The reply that was cut belongs to the turn before the barge-in's.
        target = self.current
        if barge is not None and self.turns and target is not None and not target.has_reply:
            target = self.turns[-1]
        if target is not None:
            target.bot_stopped = t
            if barge is not None:
                target.interrupted = True
                target.interrupted_at = barge
                self._latency(target, "interruption", t - barge)
                self.interruptions += 1

    async def _on_interruption(self, data: FramePushed, t: float) -> None:
        if self._bot_speaking and self._barge_in_at is None:
            self._barge_in_at = t

    async def _on_tool_started(self, data: FramePushed, t: float) -> None:
        frame = data.frame
        assert isinstance(frame, FunctionCallInProgressFrame)
        turn = self._turn(t)
        record = ToolCallRecord(
            frame.function_name, frame.tool_call_id, frame.arguments, started=t, turn=turn.index
        )
        self._open_tools[frame.tool_call_id] = record
        turn.tool_calls.append(record)
        self.tool_calls.append(record)
        if len(self.tool_calls) > self.max_turns * 4:
            del self.tool_calls[0]

    async def _on_tool_result(self, data: FramePushed, t: float) -> None:
        frame = data.frame
        assert isinstance(frame, FunctionCallResultFrame | FunctionCallCancelFrame)
        record = self._open_tools.pop(frame.tool_call_id, None)
        if record is None:
            return
        record.ended = t
        if isinstance(frame, FunctionCallCancelFrame):
            record.cancelled = True
        else:
            record.result = _short(frame.result)

    async def _on_error(self, data: FramePushed, t: float) -> None:
        frame = data.frame
        assert isinstance(frame, ErrorFrame)
        processor = frame.processor or data.source.name
        role: str = self._role(data.source)
        if frame.processor and frame.processor != data.source.name:
            # Forwarded upstream by another processor: attribute it to the one that made it.
            role = self._role_by_name.get(processor, "other")
        service = role if role in ("stt", "llm", "tts", "transport") else processor
        turn = self._turn(t)
        record = ErrorRecord(t, service, processor, frame.error, frame.fatal, turn.index)
        turn.errors.append(record)
        self.errors.append(record)
        if len(self.errors) > self.max_turns * 4:
            del self.errors[0]
        self.errors_by_service[service] = self.errors_by_service.get(service, 0) + 1

    async def _on_context(self, data: FramePushed, t: float) -> None:
        frame = data.frame
        assert isinstance(frame, LLMContextFrame)
        self.context = frame.context

    async def _on_end(self, data: FramePushed, t: float) -> None:
        frame = data.frame
        assert isinstance(frame, EndFrame | CancelFrame)
        if frame.reason:
            self.end_reason = frame.reason
        elif self.end_reason is None:
            self.end_reason = "cancelled" if isinstance(frame, CancelFrame) else "ended"


_Handler = Callable[[MetricsAggregator, FramePushed, float], Awaitable[None]]

_HANDLERS: dict[type[Frame], _Handler] = {
    StartFrame: MetricsAggregator._on_start,
    VADUserStartedSpeakingFrame: MetricsAggregator._on_user_started,
    UserStartedSpeakingFrame: MetricsAggregator._on_user_started,
    VADUserStoppedSpeakingFrame: MetricsAggregator._on_user_stopped,
    UserStoppedSpeakingFrame: MetricsAggregator._on_user_stopped,
    TranscriptionFrame: MetricsAggregator._on_transcript,
    LLMFullResponseStartFrame: MetricsAggregator._on_llm_start,
    LLMTextFrame: MetricsAggregator._on_llm_text,
    LLMFullResponseEndFrame: MetricsAggregator._on_llm_end,
    TTSStartedFrame: MetricsAggregator._on_tts_started,
    TTSStoppedFrame: MetricsAggregator._on_tts_stopped,
    TTSAudioRawFrame: MetricsAggregator._on_tts_audio,
    TTSTextFrame: MetricsAggregator._on_tts_text,
    MetricsFrame: MetricsAggregator._on_metrics,
    BotStartedSpeakingFrame: MetricsAggregator._on_bot_started,
    BotStoppedSpeakingFrame: MetricsAggregator._on_bot_stopped,
    InterruptionFrame: MetricsAggregator._on_interruption,
    FunctionCallInProgressFrame: MetricsAggregator._on_tool_started,
    FunctionCallResultFrame: MetricsAggregator._on_tool_result,
    FunctionCallCancelFrame: MetricsAggregator._on_tool_result,
    LLMContextFrame: MetricsAggregator._on_context,
    EndFrame: MetricsAggregator._on_end,
    CancelFrame: MetricsAggregator._on_end,
}
