"""``RAVIObserver``: tells the client what the pipeline is doing, as RTVI server messages.

Attach it to the task (``PipelineTask(..., observers=[RAVIObserver(ravi)])``). It watches every
push and sends, through the :class:`~vani.ravi.processor.RAVIProcessor` (urgent transport
messages, so they never wait behind queued audio): speaking states and ``bot-interrupted``,
transcripts (``user-input``; ``user-transcription`` for 1.x clients), the LLM's start/stop and
tokens, TTS start/stop and the text as it is spoken, ``bot-output``, metrics, errors and the
function-call events at each function's report level. The message list and the order they come
in are in ``docs/protocol.md``.

A frame is reported once, on its first push downstream (errors: upstream), however many
processors it passes. Spoken text is reported when the output transport releases it, which it
does only after the audio that speaks it was sent, and never before the bot started speaking.
"""

from __future__ import annotations

import enum
import json
import logging
from collections import deque
from collections.abc import Mapping
from dataclasses import dataclass, field

from vani.audio.pcm import rms
from vani.frames import (
    BotSpeakingFrame,
    BotStartedSpeakingFrame,
    BotStoppedSpeakingFrame,
    ErrorFrame,
    Frame,
    FrameDirection,
    FunctionCallCancelFrame,
    FunctionCallDataFrame,
    FunctionCallInProgressFrame,
    FunctionCallResultFrame,
    FunctionCallsStartedFrame,
    InputAudioRawFrame,
    InterimTranscriptionFrame,
    InterruptionFrame,
    JSONObject,
    JSONValue,
    LLMContextFrame,
    LLMFullResponseEndFrame,
    LLMFullResponseStartFrame,
    LLMTextFrame,
    LLMUsageMetricsData,
    MetricsFrame,
    OutputAudioRawFrame,
    OutputTransportMessageUrgentFrame,
    ProcessingMetricsData,
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
from vani.pipeline.observers import BaseObserver, FramePushed
from vani.processors.frame_processor import FrameProcessor
from vani.ravi import messages as m
from vani.ravi.frames import RTVIServerMessageFrame
from vani.ravi.processor import RAVIProcessor

__all__ = [
    "FunctionCallReportLevel",
    "RAVIObserver",
    "RAVIObserverParams",
    "RTVIFunctionCallReportLevel",
    "RTVIObserver",
    "RTVIObserverParams",
]

logger = logging.getLogger(__name__)

_T = m.ServerMessageType
_DOWN = FrameDirection.DOWNSTREAM
_RAW_TEXT_VERSION = (2, 2, 0)
_IGNORED = (OutputTransportMessageUrgentFrame, BotSpeakingFrame)
# Frame ids remembered to report each frame once; far more than are ever in flight at once.
_SEEN_LIMIT = 4096
# Spoken text held until the bot speaks, at most (a pipeline that never plays audio must not
# grow this without bound).
_HELD_LIMIT = 256


class FunctionCallReportLevel(enum.StrEnum):
    """How much of a tool call the client is told (per function; ``docs/protocol.md``).

    ``disabled``: nothing; ``none``: only ``tool_call_id``; ``name``: plus the function name;
    ``arguments``: plus the arguments; ``full``: plus the result and a data handler's payload.
    """

    DISABLED = "disabled"
    NONE = "none"
    NAME = "name"
    ARGUMENTS = "arguments"
    FULL = "full"


RTVIFunctionCallReportLevel = FunctionCallReportLevel
_ORDER = list(FunctionCallReportLevel)


@dataclass(slots=True)
class RAVIObserverParams:
    """Which messages the observer sends. Pipecat's names and defaults, except that
    ``llm_raw_text_enabled``/``tts_raw_text_enabled`` default to True (sent to 2.2+ clients
    only) and ``user_transcription_enabled=None`` sends ``user-transcription`` to 1.x clients
    only. ``function_call_report_level`` maps function names (``"*"`` for the rest) to a level.
    """

    bot_output_enabled: bool = True
    bot_llm_enabled: bool = True
    bot_tts_enabled: bool = True
    bot_speaking_enabled: bool = True
    user_llm_enabled: bool = True
    user_speaking_enabled: bool = True
    user_input_enabled: bool = True
    user_transcription_enabled: bool | None = None
    metrics_enabled: bool = True
    errors_enabled: bool = True
    stt_raw_text_enabled: bool = False
    llm_raw_text_enabled: bool = True
    tts_raw_text_enabled: bool = True
    function_call_report_level: Mapping[str, FunctionCallReportLevel | str] = field(
        default_factory=lambda: {"*": FunctionCallReportLevel.NONE}
    )
    user_audio_level_enabled: bool = False
    bot_audio_level_enabled: bool = False
    audio_level_period_secs: float = 0.15
    vad_user_speaking_enabled: bool = False
    ignored_sources: list[FrameProcessor] = field(default_factory=list)


RTVIObserverParams = RAVIObserverParams


def _is_output_transport(source: FrameProcessor) -> bool:
    # By name rather than import: transports sit above this layer and import it.
    return any(
        cls.__name__ == "BaseOutputTransport" and cls.__module__.startswith("vani.transports")
        for cls in type(source).__mro__
    )


class RAVIObserver(BaseObserver):
    """Sends the pipeline's events to the client through ``ravi`` (module docstring).

    Not thread-safe: runs in the pipeline task's observer task.
    """

    def __init__(self, ravi: RAVIProcessor, *, params: RAVIObserverParams | None = None) -> None:
        self._ravi = ravi
        self._params = params or RAVIObserverParams()
        self._levels: dict[str, FunctionCallReportLevel] = {
            name: FunctionCallReportLevel(level)
            for name, level in self._params.function_call_report_level.items()
        }
        self._ignored: set[FrameProcessor] = set(self._params.ignored_sources)
        self._seen: set[int] = set()
        self._seen_order: deque[int] = deque()
        self._bot_speaking = False
        self._held: list[TTSTextFrame] = []
        self._call_data: dict[str, JSONValue] = {}
        self._text_only: list[str] = []  # LLM text of a reply that is not spoken (skip_tts)
        self._level_period_ns = int(self._params.audio_level_period_secs * 1e9)
        self._last_level_ns = {True: -self._level_period_ns, False: -self._level_period_ns}

    # -- helpers ------------------------------------------------------------------------------

    def add_ignored_source(self, source: FrameProcessor) -> None:
        """Report nothing that ``source`` pushes (Pipecat's spelling)."""
        self._ignored.add(source)

    def remove_ignored_source(self, source: FrameProcessor) -> None:
        self._ignored.discard(source)

    def function_call_report_level(self, function_name: str) -> FunctionCallReportLevel:
        return self._levels.get(function_name, self._levels.get("*", FunctionCallReportLevel.NONE))

    def _first(self, frame: Frame) -> bool:
        if frame.id in self._seen:
            return False
        self._seen.add(frame.id)
        self._seen_order.append(frame.id)
        if len(self._seen_order) > _SEEN_LIMIT:
            self._seen.discard(self._seen_order.popleft())
        return True

    async def _send(self, message: m.ServerMessage) -> None:
        await self._ravi.send_message(message)

    @property
    def _legacy(self) -> bool:
        return self._ravi.legacy_client

    @property
    def _raw_text(self) -> bool:
        return self._ravi.client_at_least(_RAW_TEXT_VERSION)

    # -- dispatch -----------------------------------------------------------------------------

    def wants(self, frame_type: type[Frame]) -> bool:
        # Audio is the bulk of all pushes: wanted only while its level is reported.
        if issubclass(frame_type, InputAudioRawFrame):
            return self._params.user_audio_level_enabled
        if issubclass(frame_type, OutputAudioRawFrame):
            return self._params.bot_audio_level_enabled
        return not issubclass(frame_type, _IGNORED)

    async def on_push_frame(self, data: FramePushed) -> None:
        frame = data.frame
        if isinstance(frame, InputAudioRawFrame | OutputAudioRawFrame):
            # The bulk of all pushes: only looked at when audio levels are reported.
            if data.direction is _DOWN:
                await self._audio_level(data, isinstance(frame, InputAudioRawFrame))
            return
        if isinstance(frame, _IGNORED):
            return  # our own messages on their way out, and the playback heartbeat
        if self._ignored and data.source in self._ignored:
            self._first(frame)  # and not when a processor after it passes the frame on
            return
        if isinstance(frame, ErrorFrame):
            if self._params.errors_enabled and self._first(frame):
                await self._send(m.error(frame.error, fatal=frame.fatal))
            return
        if data.direction is not _DOWN:
            return
        if isinstance(frame, TTSTextFrame):
            if _is_output_transport(data.source):
                await self._spoken(frame)
            return
        if not self._first(frame):
            return
        p = self._params
        if isinstance(frame, BotStartedSpeakingFrame | BotStoppedSpeakingFrame):
            await self._bot_speaking_changed(isinstance(frame, BotStartedSpeakingFrame))
        elif isinstance(frame, InterruptionFrame):
            self._held.clear()
            self._text_only.clear()
            if p.bot_speaking_enabled:
                await self._send(m.event(_T.BOT_INTERRUPTED))
        elif isinstance(frame, UserStartedSpeakingFrame):
            if p.user_speaking_enabled:
                await self._send(m.event(_T.USER_STARTED_SPEAKING))
        elif isinstance(frame, UserStoppedSpeakingFrame):
            if p.user_speaking_enabled:
                await self._send(m.event(_T.USER_STOPPED_SPEAKING))
        elif isinstance(frame, VADUserStartedSpeakingFrame | VADUserStoppedSpeakingFrame):
            if p.vad_user_speaking_enabled:
                started = isinstance(frame, VADUserStartedSpeakingFrame)
                kind = _T.VAD_USER_STARTED_SPEAKING if started else _T.VAD_USER_STOPPED_SPEAKING
                await self._send(m.event(kind))
        elif isinstance(frame, TranscriptionFrame | InterimTranscriptionFrame):
            await self._transcript(frame)
        elif isinstance(frame, LLMContextFrame):
            if p.user_llm_enabled:
                await self._user_llm_text(frame)
        elif isinstance(frame, LLMFullResponseStartFrame):
            if p.bot_llm_enabled:
                await self._send(m.event(_T.BOT_LLM_STARTED))
        elif isinstance(frame, LLMFullResponseEndFrame):
            if p.bot_llm_enabled:
                await self._send(m.event(_T.BOT_LLM_STOPPED))
            await self._flush_text_only(frame)
        elif isinstance(frame, LLMTextFrame):
            if frame.skip_tts:
                self._text_only.append(frame.text)
            if p.llm_raw_text_enabled and self._raw_text:
                await self._send(m.text(_T.LLM_RAW_TEXT, frame.text))
            if p.bot_llm_enabled:
                await self._send(m.text(_T.BOT_LLM_TEXT, frame.text))
        elif isinstance(frame, TTSStartedFrame):
            if p.bot_tts_enabled:
                await self._send(m.event(_T.BOT_TTS_STARTED))
        elif isinstance(frame, TTSStoppedFrame):
            if p.bot_tts_enabled:
                await self._send(m.event(_T.BOT_TTS_STOPPED))
        elif isinstance(frame, MetricsFrame):
            if p.metrics_enabled:
                await self._metrics(frame)
        elif isinstance(
            frame,
            FunctionCallsStartedFrame
            | FunctionCallInProgressFrame
            | FunctionCallCancelFrame
            | FunctionCallResultFrame
            | FunctionCallDataFrame,
        ):
            await self._function_call(frame)
        elif isinstance(frame, RTVIServerMessageFrame):
            await self._send(m.server_message(frame.data))

    # -- speaking and spoken text -------------------------------------------------------------

    async def _bot_speaking_changed(self, speaking: bool) -> None:
        self._bot_speaking = speaking
        if self._params.bot_speaking_enabled:
            kind = _T.BOT_STARTED_SPEAKING if speaking else _T.BOT_STOPPED_SPEAKING
            await self._send(m.event(kind))
        if speaking:
            held, self._held = self._held, []
            for frame in held:
                await self._send_spoken(frame)

    async def _spoken(self, frame: TTSTextFrame) -> None:
        if not self._first(frame):
            return
        if self._bot_speaking:
            await self._send_spoken(frame)
        elif len(self._held) < _HELD_LIMIT:
            self._held.append(frame)

    async def _audio_level(self, data: FramePushed, user: bool) -> None:
        frame = data.frame
        assert isinstance(frame, InputAudioRawFrame | OutputAudioRawFrame)
        p = self._params
        if not (p.user_audio_level_enabled if user else p.bot_audio_level_enabled):
            return
        if not isinstance(frame, InputAudioRawFrame | TTSAudioRawFrame) or not frame.audio:
            return  # bot level from the TTS's audio, as it is produced
        if data.timestamp - self._last_level_ns[user] < self._level_period_ns:
            return
        if not self._first(frame):
            return
        self._last_level_ns[user] = data.timestamp
        value = round(min(1.0, rms(frame.audio) / 32768.0), 4)
        kind = _T.USER_AUDIO_LEVEL if user else _T.BOT_AUDIO_LEVEL
        await self._send(m.audio_level(kind, value))

    async def _send_spoken(self, frame: TTSTextFrame) -> None:
        p = self._params
        if p.bot_output_enabled:
            await self._send(m.bot_output(frame.text, segment_id=frame.id, legacy=self._legacy))
        if p.tts_raw_text_enabled and self._raw_text:
            await self._send(m.text(_T.TTS_RAW_TEXT, frame.text))
        if p.bot_tts_enabled:
            await self._send(m.text(_T.BOT_TTS_TEXT, frame.text))

    async def _flush_text_only(self, frame: Frame) -> None:
        # A reply in text only (send-text with audio_response false) has no playback to wait
        # for: it goes out whole when the LLM finishes it.
        text = "".join(self._text_only).strip()
        self._text_only.clear()
        if text and self._params.bot_output_enabled:
            await self._send(
                m.bot_output(text, segment_id=frame.id, legacy=self._legacy, spoken=False)
            )

    # -- user text ----------------------------------------------------------------------------

    async def _transcript(self, frame: TranscriptionFrame | InterimTranscriptionFrame) -> None:
        p = self._params
        final = isinstance(frame, TranscriptionFrame)
        if p.user_input_enabled:
            await self._send(
                m.user_input(
                    frame.text,
                    input_type="transcription",
                    timestamp=frame.timestamp,
                    final=final,
                    user_id=frame.user_id,
                )
            )
        if p.stt_raw_text_enabled and self._raw_text:
            await self._send(
                m.stt_raw_text(
                    frame.text, user_id=frame.user_id, timestamp=frame.timestamp, final=final
                )
            )
        legacy_form = p.user_transcription_enabled
        if legacy_form or (legacy_form is None and self._legacy):
            await self._send(
                m.user_transcription(
                    frame.text, user_id=frame.user_id, timestamp=frame.timestamp, final=final
                )
            )

    async def _user_llm_text(self, frame: LLMContextFrame) -> None:
        # The live list, only read here: a deep copy of the whole history every turn cost
        # time that grows with the call.
        messages = frame.context.messages
        if not messages or messages[-1].get("role") != "user":
            return
        content = messages[-1].get("content")
        if isinstance(content, str):
            text = content
        elif isinstance(content, list):
            text = " ".join(
                str(part["text"]) for part in content if isinstance(part, dict) and "text" in part
            )
        else:
            return
        await self._send(m.text(_T.USER_LLM_TEXT, text))

    # -- metrics ------------------------------------------------------------------------------

    async def _metrics(self, frame: MetricsFrame) -> None:
        groups: dict[str, list[JSONValue]] = {}
        for item in frame.data:
            entry: JSONObject = {"processor": item.processor}
            if item.model is not None:
                entry["model"] = item.model
            if isinstance(item, TTFBMetricsData):
                key = "ttfb"
                entry["value"] = item.value
            elif isinstance(item, ProcessingMetricsData):
                key = "processing"
                entry["value"] = item.value
            elif isinstance(item, LLMUsageMetricsData):
                key = "tokens"
                entry.update(
                    prompt_tokens=item.prompt_tokens,
                    completion_tokens=item.completion_tokens,
                    total_tokens=item.total_tokens,
                )
                if item.cached_tokens is not None:
                    entry["cache_read_input_tokens"] = item.cached_tokens
            elif isinstance(item, TTSUsageMetricsData):
                key = "characters"
                entry["value"] = item.characters
            else:
                continue
            groups.setdefault(key, []).append(entry)
        if groups:
            await self._send(m.metrics(dict(groups)))

    # -- function calls -----------------------------------------------------------------------

    async def _function_call(
        self,
        frame: FunctionCallsStartedFrame
        | FunctionCallInProgressFrame
        | FunctionCallCancelFrame
        | FunctionCallResultFrame
        | FunctionCallDataFrame,
    ) -> None:
        if isinstance(frame, FunctionCallsStartedFrame):
            for call in frame.function_calls:
                await self._report(
                    _T.LLM_FUNCTION_CALL_STARTED, call.function_name, call.tool_call_id
                )
        elif isinstance(frame, FunctionCallInProgressFrame):
            await self._report(
                _T.LLM_FUNCTION_CALL_IN_PROGRESS,
                frame.function_name,
                frame.tool_call_id,
                arguments=frame.arguments,
            )
        elif isinstance(frame, FunctionCallDataFrame):
            # Held for the stopped event, and sent only at level "full".
            self._call_data[frame.tool_call_id] = frame.data
        elif isinstance(frame, FunctionCallCancelFrame):
            self._call_data.pop(frame.tool_call_id, None)
            await self._report(
                _T.LLM_FUNCTION_CALL_STOPPED,
                frame.function_name,
                frame.tool_call_id,
                cancelled=True,
            )
        else:
            await self._report(
                _T.LLM_FUNCTION_CALL_STOPPED,
                frame.function_name,
                frame.tool_call_id,
                result=frame.result,
                data=self._call_data.pop(frame.tool_call_id, None),
            )

    async def _report(
        self,
        kind: m.ServerMessageType,
        function_name: str,
        tool_call_id: str,
        *,
        arguments: str | None = None,
        result: JSONValue = None,
        data: JSONValue = None,
        cancelled: bool = False,
    ) -> None:
        level = _ORDER.index(self.function_call_report_level(function_name))
        if level == _ORDER.index(FunctionCallReportLevel.DISABLED):
            return
        body: JSONObject = {"tool_call_id": tool_call_id}
        if level >= _ORDER.index(FunctionCallReportLevel.NAME):
            body["function_name"] = function_name
        if (
            arguments is not None
            and kind is _T.LLM_FUNCTION_CALL_IN_PROGRESS
            and level >= _ORDER.index(FunctionCallReportLevel.ARGUMENTS)
        ):
            body["arguments"] = _parse_arguments(arguments)
        if kind is _T.LLM_FUNCTION_CALL_STOPPED:
            body["cancelled"] = cancelled
            if level == _ORDER.index(FunctionCallReportLevel.FULL) and not cancelled:
                if result is not None:
                    body["result"] = result
                if data is not None:
                    body["data"] = data
        await self._send(m.function_call(kind, body))


def _parse_arguments(arguments: str) -> JSONValue:
    try:
        value: JSONValue = json.loads(arguments) if arguments else {}
    except ValueError:
        return arguments
    return value


class RTVIObserver(RAVIObserver):
    """Pipecat's name for :class:`RAVIObserver`, so migrating is a change of imports."""
