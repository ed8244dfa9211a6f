"""RAVI message models: every RTVI 2.2 message, both directions, as plain data.

Sans-I/O (no sockets, clocks or logging). Inbound, :func:`parse_envelope` checks the envelope
(``label``, ``type``, ``id``, ``data``) and :func:`parse_client_message` turns it into one of the
typed client messages below, raising :class:`RAVIMessageError` naming what is wrong. Outbound,
each server message is a :class:`ServerMessage` built by one of the functions at the end of this
module and turned into its JSON object by :meth:`ServerMessage.to_json`. The message catalogue,
field by field, is in ``docs/protocol.md``.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from typing import TypeAlias

from vani.errors import ProtocolError
from vani.frames import JSONObject, JSONValue
from vani.serializers._common import SUPPORTED_SAMPLE_RATES

__all__ = [
    "DTMF_KEYS",
    "MESSAGE_LABEL",
    "ClientEnvelope",
    "ClientMessage",
    "ClientReady",
    "DTMFInput",
    "DisconnectBot",
    "FunctionCallResult",
    "NotRAVIMessage",
    "RAVIMessageError",
    "RawAudio",
    "SendFile",
    "SendText",
    "ServerMessage",
    "ServerMessageType",
    "UnsupportedMessage",
    "parse_client_message",
    "parse_envelope",
]

MESSAGE_LABEL = "rtvi-ai"
DTMF_KEYS = frozenset("0123456789*#ABCD")


class RAVIMessageError(ProtocolError, ValueError):
    """A client message that breaks RTVI: bad envelope or bad data for its type."""


class NotRAVIMessage(ProtocolError):
    """A transport message with another label (or none): not for RAVI; ignore it."""


@dataclass(slots=True, frozen=True)
class ClientEnvelope:
    """A checked envelope: ``type`` and ``id`` are non-empty strings; ``data`` an object or
    ``None``."""

    type: str
    id: str
    data: JSONObject | None


def parse_envelope(message: JSONValue) -> ClientEnvelope:
    """Check the RTVI envelope of one inbound transport message (``docs/protocol.md`` F.1).

    Raises :class:`NotRAVIMessage` for a message with another label, and
    :class:`RAVIMessageError` for an RTVI message that is malformed.
    """
    if not isinstance(message, dict):
        raise NotRAVIMessage(f"expected a JSON object, got {type(message).__name__}")
    label = message.get("label")
    if label != MESSAGE_LABEL:
        raise NotRAVIMessage(f"label is {label!r}, not {MESSAGE_LABEL!r}")
    kind = message.get("type")
    if not isinstance(kind, str) or not kind:
        raise RAVIMessageError(f"'type' must be a non-empty string, got {kind!r}")
    msg_id = message.get("id")
    if not isinstance(msg_id, str) or not msg_id:
        raise RAVIMessageError(f"'id' must be a non-empty string, got {msg_id!r}")
    data = message.get("data")
    if data is not None and not isinstance(data, dict):
        raise RAVIMessageError(f"'data' must be an object or null, got {type(data).__name__}")
    return ClientEnvelope(kind, msg_id, data)


# ---------------------------------------------------------------------------------------------
# Client → server


@dataclass(slots=True, frozen=True)
class ClientReady:
    """``client-ready``: the handshake. ``version`` as sent (checked by ``versions``)."""

    id: str
    version: str | None
    about: JSONObject = field(default_factory=dict)


@dataclass(slots=True, frozen=True)
class DisconnectBot:
    """``disconnect-bot``: end the session gracefully."""

    id: str


@dataclass(slots=True, frozen=True)
class ClientMessage:
    """``client-message``: an application message; answered with the same ``id``.

    Pipecat's spelling: ``msg_id``, ``type`` (the app type ``t``) and ``data`` (``d``).
    """

    msg_id: str
    type: str
    data: JSONValue = None


@dataclass(slots=True, frozen=True)
class SendText:
    """``send-text``: typed user input. Defaults as Pipecat's: run at once, with audio."""

    id: str
    content: str
    run_immediately: bool = True
    audio_response: bool = True


@dataclass(slots=True, frozen=True)
class DTMFInput:
    """``dtmf``: keys pressed, in order (2.1+ ``buttons``; 2.0's single ``button``)."""

    id: str
    buttons: tuple[str, ...]


@dataclass(slots=True, frozen=True)
class FunctionCallResult:
    """``llm-function-call-result``: the result of a tool the client ran."""

    id: str
    function_name: str
    tool_call_id: str
    arguments: JSONValue
    result: JSONValue


@dataclass(slots=True, frozen=True)
class RawAudio:
    """``raw-audio`` / ``raw-audio-batch``: base64 s16le PCM chunks inside JSON."""

    id: str
    chunks: tuple[bytes, ...]
    sample_rate: int
    num_channels: int


@dataclass(slots=True, frozen=True)
class SendFile:
    """``send-file``: a file or image for the LLM. vani refuses it (``docs/protocol.md``)."""

    id: str
    content: str
    file: JSONObject


@dataclass(slots=True, frozen=True)
class UnsupportedMessage:
    """Any other type, including the removed ``append-to-context``."""

    id: str
    type: str


ClientMessageModel: TypeAlias = (
    ClientReady
    | DisconnectBot
    | ClientMessage
    | SendText
    | DTMFInput
    | FunctionCallResult
    | RawAudio
    | SendFile
    | UnsupportedMessage
)


def _str(data: JSONObject, key: str, where: str) -> str:
    value = data.get(key)
    if not isinstance(value, str):
        raise RAVIMessageError(f"{where}: '{key}' must be a string, got {value!r}")
    return value


def _bool(data: JSONObject, key: str, default: bool, where: str) -> bool:
    value = data.get(key, default)
    if value is None:
        return default
    if not isinstance(value, bool):
        raise RAVIMessageError(f"{where}: '{key}' must be true or false, got {value!r}")
    return value


def _int(data: JSONObject, key: str, where: str) -> int:
    value = data.get(key)
    if not isinstance(value, int) or isinstance(value, bool):
        raise RAVIMessageError(f"{where}: '{key}' must be an integer, got {value!r}")
    return value


def _dtmf(env: ClientEnvelope, data: JSONObject) -> DTMFInput:
    raw = data.get("buttons")
    if raw is None and "button" in data:
        raw = [data["button"]]  # 2.0's form
    if not isinstance(raw, list) or not raw:
        raise RAVIMessageError(f"dtmf: 'buttons' must be a non-empty list, got {raw!r}")
    for key in raw:
        if not isinstance(key, str) or key not in DTMF_KEYS:
            raise RAVIMessageError(f"dtmf: each button must be one of 0-9 * # A-D, got {key!r}")
    return DTMFInput(env.id, tuple(str(k) for k in raw))


def _raw_audio(env: ClientEnvelope, data: JSONObject) -> RawAudio:
    import base64
    import binascii

    where = env.type
    if env.type == "raw-audio-batch":
        items = data.get("base64AudioBatch")
        if not isinstance(items, list):
            raise RAVIMessageError(f"{where}: 'base64AudioBatch' must be a list, got {items!r}")
    else:
        items = [data.get("base64Audio")]
    chunks: list[bytes] = []
    for item in items:
        if not isinstance(item, str):
            raise RAVIMessageError(f"{where}: audio must be base64 text, got {item!r}")
        try:
            chunks.append(base64.b64decode(item, validate=True))
        except (binascii.Error, ValueError):
            raise RAVIMessageError(f"{where}: audio is not valid base64") from None
    rate = _int(data, "sampleRate", where)
    channels = _int(data, "numChannels", where)
    if rate not in SUPPORTED_SAMPLE_RATES:
        rates = ", ".join(map(str, SUPPORTED_SAMPLE_RATES))
        raise RAVIMessageError(f"{where}: 'sampleRate' must be one of {rates} Hz, got {rate}")
    if channels not in (1, 2):
        raise RAVIMessageError(f"{where}: 'numChannels' must be 1 or 2, got {channels}")
    for chunk in chunks:
        if len(chunk) % (2 * channels):
            raise RAVIMessageError(
                f"{where}: s16le audio with {channels} channel(s) must be a multiple of"
                f" {2 * channels} bytes, got {len(chunk)}"
            )
    return RawAudio(env.id, tuple(chunks), rate, channels)


def parse_client_message(env: ClientEnvelope) -> ClientMessageModel:
    """The typed model for one checked envelope; :class:`RAVIMessageError` when its data is
    wrong for its type. Unknown types give :class:`UnsupportedMessage` (not an error here)."""
    data: JSONObject = env.data or {}
    kind = env.type
    if kind == "client-ready":
        version = data.get("version")
        about = data.get("about")
        return ClientReady(
            env.id,
            version if isinstance(version, str) else None,
            about if isinstance(about, dict) else {},
        )
    if kind == "disconnect-bot":
        return DisconnectBot(env.id)
    if kind == "client-message":
        return ClientMessage(env.id, _str(data, "t", kind), data.get("d"))
    if kind == "send-text":
        content = _str(data, "content", kind)
        options = data.get("options") or {}
        if not isinstance(options, dict):
            raise RAVIMessageError(f"send-text: 'options' must be an object, got {options!r}")
        return SendText(
            env.id,
            content,
            _bool(options, "run_immediately", True, kind),
            _bool(options, "audio_response", True, kind),
        )
    if kind == "dtmf":
        return _dtmf(env, data)
    if kind == "llm-function-call-result":
        name = _str(data, "function_name", kind)
        call_id = _str(data, "tool_call_id", kind)
        if "result" not in data:
            raise RAVIMessageError(f"{kind}: 'result' is missing")
        return FunctionCallResult(env.id, name, call_id, data.get("arguments"), data["result"])
    if kind in ("raw-audio", "raw-audio-batch"):
        return _raw_audio(env, data)
    if kind == "send-file":
        file = data.get("file")
        if not isinstance(file, dict):
            raise RAVIMessageError(f"send-file: 'file' must be an object, got {file!r}")
        note = data.get("content")
        return SendFile(env.id, note if isinstance(note, str) else "", file)
    return UnsupportedMessage(env.id, kind)


# ---------------------------------------------------------------------------------------------
# Server → client


class ServerMessageType(enum.StrEnum):
    """Every message type vani sends (``docs/protocol.md`` F.4)."""

    BOT_READY = "bot-ready"
    ERROR = "error"
    ERROR_RESPONSE = "error-response"
    SERVER_RESPONSE = "server-response"
    SERVER_MESSAGE = "server-message"
    USER_STARTED_SPEAKING = "user-started-speaking"
    USER_STOPPED_SPEAKING = "user-stopped-speaking"
    VAD_USER_STARTED_SPEAKING = "vad-user-started-speaking"
    VAD_USER_STOPPED_SPEAKING = "vad-user-stopped-speaking"
    BOT_STARTED_SPEAKING = "bot-started-speaking"
    BOT_STOPPED_SPEAKING = "bot-stopped-speaking"
    BOT_INTERRUPTED = "bot-interrupted"
    USER_INPUT = "user-input"
    USER_TRANSCRIPTION = "user-transcription"
    USER_LLM_TEXT = "user-llm-text"
    STT_RAW_TEXT = "stt-raw-text"
    BOT_LLM_STARTED = "bot-llm-started"
    BOT_LLM_STOPPED = "bot-llm-stopped"
    BOT_LLM_TEXT = "bot-llm-text"
    LLM_RAW_TEXT = "llm-raw-text"
    BOT_TTS_STARTED = "bot-tts-started"
    BOT_TTS_STOPPED = "bot-tts-stopped"
    BOT_TTS_TEXT = "bot-tts-text"
    TTS_RAW_TEXT = "tts-raw-text"
    BOT_OUTPUT = "bot-output"
    METRICS = "metrics"
    LLM_FUNCTION_CALL_STARTED = "llm-function-call-started"
    LLM_FUNCTION_CALL_IN_PROGRESS = "llm-function-call-in-progress"
    LLM_FUNCTION_CALL_STOPPED = "llm-function-call-stopped"
    USER_AUDIO_LEVEL = "user-audio-level"
    BOT_AUDIO_LEVEL = "bot-audio-level"


@dataclass(slots=True, frozen=True)
class ServerMessage:
    """One server → client message. ``id`` only on answers (bot-ready, server-response,
    error-response); ``data`` omitted from the JSON when ``None``."""

    type: ServerMessageType
    data: JSONObject | None = None
    id: str | None = None

    def to_json(self) -> JSONObject:
        out: JSONObject = {"label": MESSAGE_LABEL, "type": self.type.value}
        if self.id is not None:
            out["id"] = self.id
        if self.data is not None:
            out["data"] = self.data
        return out


_T = ServerMessageType


def event(kind: ServerMessageType) -> ServerMessage:
    """A data-less event (speaking states, bot-interrupted, LLM/TTS started and stopped)."""
    return ServerMessage(kind)


def bot_ready(
    msg_id: str, version: str, about: JSONObject, capabilities: JSONObject
) -> ServerMessage:
    return ServerMessage(
        _T.BOT_READY,
        {"version": version, "about": about, "capabilities": capabilities},
        msg_id,
    )


def error(message: str, *, fatal: bool = False) -> ServerMessage:
    return ServerMessage(_T.ERROR, {"error": message, "fatal": fatal})


def error_response(msg_id: str, message: str) -> ServerMessage:
    return ServerMessage(_T.ERROR_RESPONSE, {"error": message}, msg_id)


def server_response(msg_id: str, t: str, d: JSONValue) -> ServerMessage:
    return ServerMessage(_T.SERVER_RESPONSE, {"t": t, "d": d}, msg_id)


def server_message(data: JSONValue) -> ServerMessage:
    # server-message carries any value as data; wrap non-objects so to_json stays typed.
    return ServerMessage(_T.SERVER_MESSAGE, data if isinstance(data, dict) else {"d": data})


def text(kind: ServerMessageType, value: str) -> ServerMessage:
    """``bot-llm-text``, ``llm-raw-text``, ``bot-tts-text``, ``tts-raw-text``,
    ``user-llm-text``."""
    return ServerMessage(kind, {"text": value})


def user_input(
    value: str,
    *,
    input_type: str,
    timestamp: str,
    final: bool,
    user_id: str | None = None,
    msg_id: str | None = None,
) -> ServerMessage:
    data: JSONObject = {
        "text": value,
        "input_type": input_type,
        "timestamp": timestamp,
        "final": final,
    }
    if user_id:
        data["user_id"] = user_id
    if msg_id:
        data["msg_id"] = msg_id
    return ServerMessage(_T.USER_INPUT, data)


def user_transcription(value: str, *, user_id: str, timestamp: str, final: bool) -> ServerMessage:
    data: JSONObject = {"text": value, "user_id": user_id, "timestamp": timestamp, "final": final}
    return ServerMessage(_T.USER_TRANSCRIPTION, data)


def stt_raw_text(value: str, *, user_id: str, timestamp: str, final: bool) -> ServerMessage:
    data: JSONObject = {"text": value, "user_id": user_id, "timestamp": timestamp, "final": final}
    return ServerMessage(_T.STT_RAW_TEXT, data)


def bot_output(value: str, *, segment_id: int, legacy: bool, spoken: bool = True) -> ServerMessage:
    """Text the bot has started speaking, or (``spoken=False``) a reply in text only.
    ``legacy`` gives the 1.x form (``spoken`` and ``aggregated_by``)."""
    data: JSONObject = {"text": value, "output_type": "sentence", "spoken": spoken}
    if legacy:
        data["aggregated_by"] = "sentence"
    elif spoken:
        data.update(
            {
                "segment_id": segment_id,
                "will_be_spoken": True,
                "spoken_status": "completed",
                "spoken_progress": {"accumulated_text": value, "remaining_text": ""},
            }
        )
    else:
        data.update({"segment_id": segment_id, "will_be_spoken": False, "spoken_status": "new"})
    return ServerMessage(_T.BOT_OUTPUT, data)


def metrics(data: JSONObject) -> ServerMessage:
    return ServerMessage(_T.METRICS, data)


def function_call(kind: ServerMessageType, data: JSONObject) -> ServerMessage:
    return ServerMessage(kind, data)


def audio_level(kind: ServerMessageType, value: float) -> ServerMessage:
    return ServerMessage(kind, {"value": value})
