"""Plain records of one call: turns, service calls, tool calls, errors (see docs/observability.md).

Times are seconds since the session started, on the aggregator's clock. Everything here is data:
no I/O, no clocks. :meth:`TurnRecord.to_json` and friends give the JSON the session report uses.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal, TypeAlias

from vani.frames import JSONObject, JSONValue

__all__ = [
    "STAGES",
    "ErrorRecord",
    "ServiceCall",
    "ServiceRole",
    "Stage",
    "ToolCallRecord",
    "TurnRecord",
    "Usage",
]

ServiceRole: TypeAlias = Literal["stt", "llm", "tts", "transport", "other"]

Stage: TypeAlias = Literal[
    "vad_stop_to_stt_final",
    "stt_ttfb",
    "llm_ttfb",
    "tts_ttfb",
    "voice_to_voice",
    "vad_stop_to_bot_audio",
    "interruption",
]

#: Every per-turn latency the aggregator measures, in the order reports list them.
STAGES: tuple[Stage, ...] = (
    "vad_stop_to_stt_final",
    "stt_ttfb",
    "llm_ttfb",
    "tts_ttfb",
    "voice_to_voice",
    "vad_stop_to_bot_audio",
    "interruption",
)


def _r(value: float | None, digits: int = 4) -> float | None:
    return None if value is None else round(value, digits)


@dataclass(slots=True)
class Usage:
    """What a turn (or a whole call) consumed."""

    prompt_tokens: int = 0
    completion_tokens: int = 0
    cached_tokens: int = 0
    tts_characters: int = 0
    stt_seconds: float = 0.0

    def add(self, other: Usage) -> None:
        self.prompt_tokens += other.prompt_tokens
        self.completion_tokens += other.completion_tokens
        self.cached_tokens += other.cached_tokens
        self.tts_characters += other.tts_characters
        self.stt_seconds += other.stt_seconds

    @property
    def total_tokens(self) -> int:
        return self.prompt_tokens + self.completion_tokens

    def to_json(self) -> JSONObject:
        return {
            "prompt_tokens": self.prompt_tokens,
            "completion_tokens": self.completion_tokens,
            "total_tokens": self.total_tokens,
            "cached_tokens": self.cached_tokens,
            "tts_characters": self.tts_characters,
            "stt_seconds": round(self.stt_seconds, 3),
        }


@dataclass(slots=True)
class ServiceCall:
    """One request to a service: an STT turn, an LLM response, a TTS utterance."""

    role: ServiceRole
    processor: str
    started: float
    ended: float | None = None
    model: str | None = None
    ttfb: float | None = None
    prompt_tokens: int = 0
    completion_tokens: int = 0
    characters: int = 0
    audio_seconds: float = 0.0
    text: str = ""
    error: str | None = None
    cancelled: bool = False

    def to_json(self) -> JSONObject:
        out: JSONObject = {
            "service": self.role,
            "processor": self.processor,
            "model": self.model,
            "started": _r(self.started),
            "ended": _r(self.ended),
            "ttfb": _r(self.ttfb),
        }
        if self.role == "llm":
            out["prompt_tokens"] = self.prompt_tokens
            out["completion_tokens"] = self.completion_tokens
        if self.role == "tts":
            out["characters"] = self.characters
        if self.role == "stt":
            out["audio_seconds"] = round(self.audio_seconds, 3)
        if self.text:
            out["text"] = self.text
        if self.error is not None:
            out["error"] = self.error
        if self.cancelled:
            out["cancelled"] = True
        return out


@dataclass(slots=True)
class ToolCallRecord:
    """One tool call the LLM asked for, and how it ended."""

    function_name: str
    tool_call_id: str
    arguments: str
    started: float
    ended: float | None = None
    result: JSONValue = None
    cancelled: bool = False
    turn: int = 0

    def to_json(self) -> JSONObject:
        return {
            "function_name": self.function_name,
            "tool_call_id": self.tool_call_id,
            "arguments": self.arguments,
            "started": _r(self.started),
            "ended": _r(self.ended),
            "result": self.result,
            "cancelled": self.cancelled,
            "turn": self.turn,
        }


@dataclass(slots=True)
class ErrorRecord:
    """An ``ErrorFrame`` seen in the call, attributed to a service."""

    time: float
    service: str
    processor: str
    error: str
    fatal: bool
    turn: int = 0

    def to_json(self) -> JSONObject:
        return {
            "time": _r(self.time),
            "service": self.service,
            "processor": self.processor,
            "error": self.error,
            "fatal": self.fatal,
            "turn": self.turn,
        }


@dataclass(slots=True)
class TurnRecord:
    """One exchange: the user speaks (absent for a greeting), the bot answers.

    ``latencies`` holds the stages of :data:`STAGES` that could be measured in this turn.
    ``vad_stopped`` is when the VAD said the user stopped; ``speech_ended`` is that minus the
    VAD's stop delay, i.e. when the user's voice actually ended.
    """

    index: int
    started: float
    ended: float | None = None
    user_started: float | None = None
    vad_stopped: float | None = None
    speech_ended: float | None = None
    transcript: str = ""
    transcript_at: float | None = None
    bot_started: float | None = None
    bot_stopped: float | None = None
    bot_text: str = ""
    interrupted: bool = False
    interrupted_at: float | None = None
    latencies: dict[Stage, float] = field(default_factory=dict)
    usage: Usage = field(default_factory=Usage)
    calls: list[ServiceCall] = field(default_factory=list)
    tool_calls: list[ToolCallRecord] = field(default_factory=list)
    errors: list[ErrorRecord] = field(default_factory=list)

    @property
    def has_reply(self) -> bool:
        """The bot began answering (an LLM response, TTS or audio) in this turn."""
        return self.bot_started is not None or any(c.role in ("llm", "tts") for c in self.calls)

    def to_json(self) -> JSONObject:
        return {
            "index": self.index,
            "started": _r(self.started),
            "ended": _r(self.ended),
            "user": {
                "started": _r(self.user_started),
                "vad_stopped": _r(self.vad_stopped),
                "speech_ended": _r(self.speech_ended),
                "transcript": self.transcript,
                "transcript_at": _r(self.transcript_at),
            },
            "bot": {
                "started": _r(self.bot_started),
                "stopped": _r(self.bot_stopped),
                "text": self.bot_text,
                "interrupted": self.interrupted,
            },
            "latencies_ms": {k: round(v * 1000, 1) for k, v in self.latencies.items()},
            "usage": self.usage.to_json(),
            "services": [c.to_json() for c in self.calls],
            "tool_calls": [t.to_json() for t in self.tool_calls],
            "errors": [e.to_json() for e in self.errors],
        }
