"""Sarvam WebSocket messages, sans I/O: server frames parsed into typed events, client frames
built as strings (see ``docs/services.md``).

Parsers never raise on bad input: anything malformed or unknown becomes :class:`Skipped` with
the reason, which the services log. Nothing here touches a socket, a clock or asyncio.
"""

from __future__ import annotations

import base64
import binascii
import json
from dataclasses import dataclass

from vani.frames import JSONValue

__all__ = [
    "AudioChunk",
    "Final",
    "ServerError",
    "Skipped",
    "SpeechSignal",
    "Transcript",
    "is_retryable",
    "parse_stt_message",
    "parse_tts_message",
    "strip_riff",
]

_RETRYABLE_WORDS = ("rate_limit", "rate limit", "timeout", "temporary_unavailable", "try again")
_RETRYABLE_CODES = frozenset({408, 429, 500, 502, 503, 504})


@dataclass(frozen=True, slots=True)
class Transcript:
    """A final transcript (``{"type":"data"}``). ``text`` is stripped; ``data`` is the raw
    payload, kept for ``TranscriptionFrame.result``."""

    text: str
    language: str | None
    data: dict[str, JSONValue]


@dataclass(frozen=True, slots=True)
class SpeechSignal:
    """``START_SPEECH`` or ``END_SPEECH`` (``{"type":"events"}``)."""

    signal: str


@dataclass(frozen=True, slots=True)
class AudioChunk:
    """Decoded audio bytes of a TTS ``audio`` message (may hold half a sample)."""

    pcm: bytes
    request_id: str | None


@dataclass(frozen=True, slots=True)
class Final:
    """The TTS completion event: the last audio of a flush has been sent."""


@dataclass(frozen=True, slots=True)
class ServerError:
    """An ``error`` message: its text and code (string, int or absent)."""

    message: str
    code: str | int | None

    def describe(self, service: str) -> str:
        code = f" {self.code}" if self.code is not None else ""
        return f"sarvam {service} error{code}: {self.message}"


@dataclass(frozen=True, slots=True)
class Skipped:
    """A message that was malformed or of no interest, and why."""

    reason: str


STTEvent = Transcript | SpeechSignal | ServerError | Skipped
TTSEvent = AudioChunk | Final | ServerError | Skipped


def _object(raw: str | bytes) -> dict[str, JSONValue] | Skipped:
    if isinstance(raw, bytes):
        return Skipped(f"a binary message of {len(raw)} bytes")
    try:
        message = json.loads(raw)
    except ValueError:
        return Skipped(f"a message that is not json: {raw[:80]!r}")
    if not isinstance(message, dict):
        return Skipped("a json message that is not an object")
    return message


def _error(data: JSONValue) -> ServerError:
    # Tolerant of the shapes seen in the wild: {"error","code"}, {"message","code"}, a string.
    if isinstance(data, dict):
        message = data.get("error") or data.get("message") or "unknown error"
        code = data.get("code")
        return ServerError(str(message), code if isinstance(code, str | int) else None)
    if isinstance(data, str):
        return ServerError(data, None)
    return ServerError("unknown error", None)


def parse_stt_message(raw: str | bytes) -> STTEvent:
    """Parse one frame from the STT socket."""
    message = _object(raw)
    if isinstance(message, Skipped):
        return message
    kind = message.get("type")
    data = message.get("data")
    if kind == "error" or (kind is None and "error" in message):
        return _error(data if data is not None else message.get("error"))
    if not isinstance(data, dict):
        return Skipped(f"a {kind!r} message without a data object")
    if kind == "data":
        transcript = data.get("transcript")
        if not isinstance(transcript, str):
            return Skipped("a data message without a transcript string")
        language = data.get("language_code")
        return Transcript(
            transcript.strip(), language if isinstance(language, str) and language else None, data
        )
    if kind == "events":
        signal = data.get("signal_type")
        if not isinstance(signal, str):
            return Skipped("an events message without a signal_type")
        return SpeechSignal(signal)
    return Skipped(f"a message of unknown type {kind!r}")


def parse_tts_message(raw: str | bytes) -> TTSEvent:
    """Parse one frame from the TTS socket (audio is base64-decoded here)."""
    message = _object(raw)
    if isinstance(message, Skipped):
        return message
    kind = message.get("type")
    data = message.get("data")
    if kind == "error":
        return _error(data)
    if not isinstance(data, dict):
        return Skipped(f"a {kind!r} message without a data object")
    if kind == "audio":
        encoded = data.get("audio")
        if not isinstance(encoded, str):
            return Skipped("an audio message without audio")
        try:
            pcm = base64.b64decode(encoded, validate=True)
        except (binascii.Error, ValueError):
            return Skipped("an audio message with invalid base64")
        request_id = data.get("request_id")
        return AudioChunk(pcm, request_id if isinstance(request_id, str) else None)
    if kind == "event":
        if data.get("event_type") == "final":
            return Final()
        return Skipped(f"an event of type {data.get('event_type')!r}")
    return Skipped(f"a message of unknown type {kind!r}")


def is_retryable(error: ServerError) -> bool:
    """Whether trying again can help: rate limits, timeouts, temporary outages (LiveKit's rule,
    plus the HTTP codes that mean the same)."""
    lowered = error.message.lower()
    return any(w in lowered for w in _RETRYABLE_WORDS) or (
        isinstance(error.code, int) and error.code in _RETRYABLE_CODES
    )


def strip_riff(pcm: bytes) -> bytes:
    """Drop a WAV header if ``pcm`` starts with one (Sarvam's REST API adds one)."""
    if pcm[:4] != b"RIFF" or pcm[8:12] != b"WAVE":
        return pcm
    data_at = pcm.find(b"data", 12)
    return pcm[data_at + 8 :] if data_at >= 0 else pcm[44:]
