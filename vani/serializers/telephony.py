"""What the four telephony serializers share: call facts, frames, codecs, chunking, reordering.

Every provider (Twilio, Telnyx, Plivo, Exotel) streams a call over one WebSocket as JSON text
messages with base64 audio: ``connected``, ``start`` (the call's ids), ``media``, ``dtmf``,
``mark``/``playedStream`` (a label echoed once the audio before it has played), ``stop``. This
module holds the provider-neutral part; each provider module only names its fields. See
``docs/telephony.md``.

Sans-I/O: no sockets, clocks or logging. :meth:`TelephonyFrameSerializer.deserialize` turns one
received message into frames (the transport consumes the telephony frames defined here and pushes
the rest into the pipeline); :meth:`~TelephonyFrameSerializer.serialize` and the explicit
:meth:`~TelephonyFrameSerializer.mark`, :meth:`~TelephonyFrameSerializer.clear` and
:meth:`~TelephonyFrameSerializer.flush_audio` return the text to send. RTVI messages are never
written into a telephony socket (a provider rejects unknown events).
"""

from __future__ import annotations

import base64
import binascii
import json
from abc import abstractmethod
from dataclasses import dataclass, field
from typing import ClassVar, Literal

from vani.audio.pcm import alaw_decode, alaw_encode, ulaw_decode, ulaw_encode
from vani.audio.resample import StreamResampler
from vani.errors import ConfigurationError, SerializationError
from vani.frames import (
    Frame,
    InputAudioRawFrame,
    InputDTMFFrame,
    InterruptionFrame,
    JSONObject,
    JSONValue,
    OutputAudioRawFrame,
    StartFrame,
    SystemFrame,
)
from vani.serializers.base import FrameSerializer

__all__ = [
    "DTMF_DIGITS",
    "MAX_MESSAGE_BYTES",
    "AudioClearedFrame",
    "CallEndedFrame",
    "CallInfo",
    "CallStartedFrame",
    "Encoding",
    "PlaybackMarkFrame",
    "ProviderErrorFrame",
    "TelephonyFrameSerializer",
]

Encoding = Literal["mulaw", "alaw", "l16"]
"""G.711 μ-law, G.711 A-law, or 16-bit linear PCM (little-endian)."""

DTMF_DIGITS = frozenset("0123456789*#ABCD")
MAX_MESSAGE_BYTES = 1 << 20
"""Largest text message accepted (1 MiB); a provider's 20 ms media message is ~300 bytes."""

_SILENCE_BYTE: dict[str, int] = {"mulaw": 0xFF, "alaw": 0xD5, "l16": 0x00}
_BYTES_PER_SAMPLE: dict[str, int] = {"mulaw": 1, "alaw": 1, "l16": 2}
_ENCODINGS = ("mulaw", "alaw", "l16")


@dataclass(slots=True)
class CallInfo:
    """The facts of one call, as the provider's ``start`` message (and webhook) gave them.

    ``call_id`` is what the provider's REST API hangs up (Twilio CallSid, Telnyx
    call_control_id, Plivo CallUUID, Exotel CallSid). ``custom_parameters`` holds the values
    passed through the stream (Twilio ``<Parameter>``, Plivo ``extra_headers``, Exotel
    ``custom_parameters``, Telnyx ``custom_parameters``/``client_state``).
    """

    provider: str
    call_id: str = ""
    stream_id: str = ""
    account_id: str = ""
    from_number: str = ""
    to_number: str = ""
    encoding: Encoding = "mulaw"
    sample_rate: int = 8000
    custom_parameters: dict[str, str] = field(default_factory=dict)

    def as_dict(self) -> dict[str, JSONValue]:
        """A JSON-ready copy (for logs, session reports and the bot's call facts)."""
        return {
            "provider": self.provider,
            "call_id": self.call_id,
            "stream_id": self.stream_id,
            "account_id": self.account_id,
            "from": self.from_number,
            "to": self.to_number,
            "encoding": self.encoding,
            "sample_rate": self.sample_rate,
            "custom_parameters": dict(self.custom_parameters),
        }


# -- frames the serializers emit for the transport (not for the pipeline) ----------------------


@dataclass(slots=True, eq=False)
class CallStartedFrame(SystemFrame):
    """The provider's ``start`` arrived: the call's facts are known (once per call)."""

    call: CallInfo = field(default_factory=lambda: CallInfo(provider=""))


@dataclass(slots=True, eq=False)
class PlaybackMarkFrame(SystemFrame):
    """The provider echoed mark ``name``: the audio sent before it has played (or was cleared)."""

    name: str = ""


@dataclass(slots=True, eq=False)
class AudioClearedFrame(SystemFrame):
    """The provider confirmed a clear (Plivo ``clearedAudio``)."""


@dataclass(slots=True, eq=False)
class CallEndedFrame(SystemFrame):
    """The provider's ``stop``: the caller hung up or the stream ended (once per call)."""

    reason: str = ""


@dataclass(slots=True, eq=False)
class ProviderErrorFrame(SystemFrame):
    """The provider reported an error on the stream (Telnyx ``error``)."""

    code: str = ""
    detail: str = ""


# -- helpers ----------------------------------------------------------------------------------


def _obj(value: JSONValue, what: str) -> JSONObject:
    if not isinstance(value, dict):
        raise SerializationError(f"expected {what} to be a json object, got {type(value).__name__}")
    return value


def _sub(message: JSONObject, key: str) -> JSONObject:
    """``message[key]`` as an object; missing gives an empty one."""
    value = message.get(key)
    if value is None:
        return {}
    return _obj(value, f"{key!r}")


def _text(value: JSONValue) -> str:
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return str(value)
    return json.dumps(value, separators=(",", ":"))


def _int(value: JSONValue) -> int | None:
    """An integer from a number or a numeric string; None when absent or not numeric."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, str):
        try:
            return int(value)
        except ValueError:
            return None
    return None


def _params(value: JSONValue) -> dict[str, str]:
    """Custom parameters from an object, a JSON string, or ``k=v,k=v`` / ``k=v;k=v`` text."""
    if isinstance(value, dict):
        return {str(k): _text(v) for k, v in value.items()}
    if isinstance(value, str) and value:
        try:
            parsed: JSONValue = json.loads(value)
        except ValueError:
            parsed = None
        if isinstance(parsed, dict):
            return {str(k): _text(v) for k, v in parsed.items()}
        out: dict[str, str] = {}
        for part in value.replace(";", ",").split(","):
            key, sep, val = part.partition("=")
            if sep and key.strip():
                out[key.strip()] = val.strip()
        return out
    return {}


def parse_encoding(value: JSONValue, default: Encoding) -> Encoding:
    """A provider's encoding name (``audio/x-mulaw``, ``PCMU``, ``audio/x-l16``...) as ours."""
    if not isinstance(value, str) or not value:
        return default
    v = value.lower()
    if "mulaw" in v or "pcmu" in v or "ulaw" in v:
        return "mulaw"
    if "alaw" in v or "pcma" in v:
        return "alaw"
    if "l16" in v or "pcm" in v or "linear" in v or "raw" in v:
        return "l16"
    return default


def decode_json(data: bytes | str) -> JSONObject:
    """One text message as a JSON object with an ``event``; SerializationError otherwise."""
    if len(data) > MAX_MESSAGE_BYTES:
        raise SerializationError(
            f"message of {len(data)} bytes exceeds the limit of {MAX_MESSAGE_BYTES}"
        )
    if isinstance(data, bytes):
        try:
            data = data.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise SerializationError(f"expected a utf-8 json text message: {exc}") from exc
    try:
        value: JSONValue = json.loads(data)
    except ValueError as exc:
        raise SerializationError(f"expected a json text message: {exc}") from exc
    message = _obj(value, "the message")
    if not isinstance(message.get("event"), str):
        raise SerializationError(f"expected a string 'event' field, got {message.get('event')!r}")
    return message


class _Reorder:
    """Puts media back in sequence order (Telnyx may deliver it out of order).

    Holds at most ``window`` messages waiting for a gap to fill; past that the gap is given up
    (the missing audio is lost, never waited for). Late or repeated numbers are dropped.
    """

    __slots__ = ("_held", "_next", "window")

    def __init__(self, window: int = 5) -> None:
        self.window = window
        self._next: int | None = None
        self._held: dict[int, bytes] = {}

    def push(self, seq: int | None, payload: bytes) -> list[bytes]:
        if seq is None:
            return [payload]
        if self._next is None:
            self._next = seq
        if seq < self._next or seq in self._held:
            return []  # late or duplicate
        self._held[seq] = payload
        out: list[bytes] = []
        while True:
            while self._next in self._held:
                out.append(self._held.pop(self._next))
                self._next += 1
            if len(self._held) <= self.window:
                return out
            self._next = min(self._held)  # give up on the gap

    def reset(self) -> None:
        self._next = None
        self._held.clear()


class TelephonyFrameSerializer(FrameSerializer):
    """Base of the provider serializers; one instance per call, used from one event loop.

    ``encoding``/``sample_rate`` are the wire format expected before the ``start`` message says
    otherwise (providers that announce their format in ``start`` override them there).
    ``call`` holds the call facts known so far. Input audio is decoded (compiled G.711) and
    resampled (compiled resampler) to the pipeline's input rate given to :meth:`setup`; output
    audio at any rate is resampled to the wire rate, encoded and cut to the provider's chunking
    rule (:attr:`unit_bytes`, :attr:`min_bytes`): whole units go out, the remainder waits for the
    next frame or :meth:`flush_audio` (padded with silence).
    """

    provider: ClassVar[str] = ""
    supports_marks: ClassVar[bool] = True
    """Whether the provider echoes playback marks; without them playback follows the clock."""
    needs_stream_id: ClassVar[bool] = True
    """Whether outbound messages must carry the stream id (nothing is sent before ``start``)."""
    reorder_media: ClassVar[bool] = False
    unit_ms: ClassVar[int] = 20
    min_ms: ClassVar[int] = 20

    def __init__(
        self,
        *,
        encoding: Encoding = "mulaw",
        sample_rate: int = 8000,
        stream_id: str = "",
        call_id: str = "",
    ) -> None:
        if encoding not in _ENCODINGS:
            raise ConfigurationError(f"encoding must be one of {_ENCODINGS}, got {encoding!r}")
        if sample_rate not in (8000, 16000, 24000):
            raise ConfigurationError(
                f"sample_rate must be 8000, 16000 or 24000 Hz, got {sample_rate}"
            )
        self.call = CallInfo(
            provider=self.provider,
            call_id=call_id,
            stream_id=stream_id,
            encoding=encoding,
            sample_rate=sample_rate,
        )
        self.started = False
        self.ended = False
        self.connected = False
        self._in_rate: int | None = None
        self._in_resampler: StreamResampler | None = None
        self._out_resamplers: dict[int, StreamResampler] = {}
        self._pending = bytearray()
        self._reorder = _Reorder()
        self._template: tuple[str, str] = ("", "")
        self._template_key: tuple[str, str, int] | None = None

    # -- format facts ---------------------------------------------------------------------

    @property
    def encoding(self) -> Encoding:
        return self.call.encoding

    @property
    def sample_rate(self) -> int:
        """The wire sample rate in Hz."""
        return self.call.sample_rate

    @property
    def bytes_per_second(self) -> int:
        return self.sample_rate * _BYTES_PER_SAMPLE[self.encoding]

    @property
    def unit_bytes(self) -> int:
        """Outbound payloads are a multiple of this many encoded bytes."""
        return self.bytes_per_second * self.unit_ms // 1000

    @property
    def min_bytes(self) -> int:
        """No outbound payload is shorter than this (encoded bytes)."""
        return max(self.unit_bytes, self.bytes_per_second * self.min_ms // 1000)

    @property
    def min_chunk_secs(self) -> float:
        """The shortest audio one outbound message may carry, in seconds."""
        return self.min_bytes / self.bytes_per_second

    async def setup(self, frame: StartFrame) -> None:
        self._in_rate = frame.audio_in_sample_rate

    # -- codecs ---------------------------------------------------------------------------

    def decode_audio(self, payload: bytes) -> bytes:
        """Wire bytes to s16le PCM at the wire rate."""
        if self.encoding == "mulaw":
            return ulaw_decode(payload)
        if self.encoding == "alaw":
            return alaw_decode(payload)
        if len(payload) % 2:
            raise SerializationError(f"expected an even number of l16 bytes, got {len(payload)}")
        return payload

    def encode_audio(self, pcm: bytes) -> bytes:
        """s16le PCM at the wire rate to wire bytes."""
        if self.encoding == "mulaw":
            return ulaw_encode(pcm)
        if self.encoding == "alaw":
            return alaw_encode(pcm)
        return pcm

    # -- inbound --------------------------------------------------------------------------

    def deserialize(self, data: bytes | str) -> list[Frame]:
        message = decode_json(data)
        event = message["event"]
        assert isinstance(event, str)
        if event == "connected":
            self.connected = True
            return []
        if event == "start":
            return self._on_start(message)
        if event == "media":
            return self._on_media(message)
        if event == "dtmf":
            digit = _text(self._dtmf_digit(message)).strip().upper()
            if len(digit) != 1 or digit not in DTMF_DIGITS:
                raise SerializationError(f"expected a dtmf digit 0-9, *, # or A-D, got {digit!r}")
            return [InputDTMFFrame(button=digit)]
        if event == "stop":
            if self.ended:
                return []
            self.ended = True
            return [CallEndedFrame(reason=self._stop_reason(message))]
        return self._on_other(event, message)

    def _on_start(self, message: JSONObject) -> list[Frame]:
        if self.started:
            return []  # a repeated start changes nothing
        self.started = True
        self._parse_start(message, self.call)
        self._in_resampler = None  # the rate may have changed
        return [CallStartedFrame(call=self.call)]

    def _on_media(self, message: JSONObject) -> list[Frame]:
        media = _sub(message, "media")
        track = media.get("track")
        if isinstance(track, str) and track and not track.startswith("inbound"):
            return []  # outbound echo (both-tracks streams)
        b64 = media.get("payload")
        if not isinstance(b64, str):
            raise SerializationError(f"expected a base64 'media.payload' string, got {b64!r}")
        try:
            payload = base64.b64decode(b64, validate=True)
        except (binascii.Error, ValueError) as exc:
            raise SerializationError(f"expected base64 media payload: {exc}") from exc
        if not payload:
            return []
        chunks = [payload]
        if self.reorder_media:
            seq = _int(media.get("chunk"))
            if seq is None:
                seq = _int(message.get("sequence_number"))
            chunks = self._reorder.push(seq, payload)
        frames: list[Frame] = []
        for chunk in chunks:
            pcm = self.decode_audio(chunk)
            rate = self.sample_rate
            if self._in_rate is not None and self._in_rate != rate:
                resampler = self._in_resampler
                if resampler is None:
                    resampler = self._in_resampler = StreamResampler(rate, self._in_rate)
                pcm = resampler.resample(pcm)
                rate = self._in_rate
            if pcm:
                frames.append(InputAudioRawFrame(audio=pcm, sample_rate=rate, num_channels=1))
        return frames

    def _on_other(self, event: str, message: JSONObject) -> list[Frame]:
        """Provider-specific events (marks, errors); unknown ones are ignored."""
        return []

    # -- outbound -------------------------------------------------------------------------

    def serialize(self, frame: Frame) -> str | None:
        """Media for audio (whole units only), the clear message for an interruption.

        Everything else, RTVI messages included, is not carried: ``None``.
        """
        if isinstance(frame, OutputAudioRawFrame):
            return self._audio_message(frame)
        if isinstance(frame, InterruptionFrame):
            return self.clear()
        return None

    def _audio_message(self, frame: OutputAudioRawFrame) -> str | None:
        pcm = frame.audio
        if frame.num_channels != 1:
            raise SerializationError(f"expected mono output audio, got {frame.num_channels}")
        if frame.sample_rate != self.sample_rate:
            resampler = self._out_resamplers.get(frame.sample_rate)
            if resampler is None:
                try:
                    resampler = StreamResampler(frame.sample_rate, self.sample_rate)
                except ConfigurationError as exc:
                    raise SerializationError(f"cannot send output audio: {exc}") from exc
                self._out_resamplers[frame.sample_rate] = resampler
            pcm = resampler.resample(pcm)
        if len(pcm) % 2:
            raise SerializationError(f"expected whole int16 samples, got {len(pcm)} bytes")
        encoded = self.encode_audio(pcm)
        size = len(encoded)
        if not self._pending and size >= self.min_bytes and size % self.unit_bytes == 0:
            # The usual case: the transport hands over whole chunks.
            if self.needs_stream_id and not self.call.stream_id:
                return None
            return self._media_text(encoded)
        self._pending += encoded
        if len(self._pending) < self.min_bytes:
            return None
        size = len(self._pending) - len(self._pending) % self.unit_bytes
        return self._take(size)

    def _take(self, size: int) -> str | None:
        if self.needs_stream_id and not self.call.stream_id:
            self._pending.clear()  # nowhere to send it before the provider's start
            return None
        payload = bytes(self._pending[:size])
        del self._pending[:size]
        return self._media_text(payload)

    def _media_text(self, payload: bytes) -> str:
        """The media message for ``payload``: the provider's JSON around the base64, built once
        per stream and reused (only the payload changes from message to message)."""
        key = (self.call.stream_id, self.encoding, self.sample_rate)
        if self._template_key != key:
            marker = "\x00payload"
            text = self._media_message(marker)
            escaped = json.dumps(marker)[1:-1]
            head, _, tail = text.partition(escaped)
            self._template = (head, tail)
            self._template_key = key
        head, tail = self._template
        return head + base64.b64encode(payload).decode("ascii") + tail

    def flush_audio(self) -> str | None:
        """The audio still waiting for a whole unit, padded with silence; None if nothing."""
        if not self._pending:
            return None
        size = max(self.min_bytes, -(-len(self._pending) // self.unit_bytes) * self.unit_bytes)
        self._pending += bytes([_SILENCE_BYTE[self.encoding]]) * (size - len(self._pending))
        return self._take(size)

    @property
    def pending_audio_secs(self) -> float:
        """Encoded audio held back for the chunking rule, in seconds."""
        return len(self._pending) / self.bytes_per_second

    def clear(self) -> str | None:
        """The provider's clear message; drops held audio and resampler state."""
        self._pending.clear()
        for resampler in self._out_resamplers.values():
            resampler.reset()
        if self.needs_stream_id and not self.call.stream_id:
            return None
        return self._clear_message()

    def mark(self, name: str) -> str | None:
        """The provider's mark message for ``name``; None where marks are not supported."""
        if not self.supports_marks or (self.needs_stream_id and not self.call.stream_id):
            return None
        return self._mark_message(name)

    # -- what providers define -------------------------------------------------------------

    @abstractmethod
    def _parse_start(self, message: JSONObject, call: CallInfo) -> None:
        """Fill ``call`` from the ``start`` message."""

    @abstractmethod
    def _media_message(self, payload_b64: str) -> str: ...

    @abstractmethod
    def _clear_message(self) -> str: ...

    def _mark_message(self, name: str) -> str:
        raise NotImplementedError

    def _dtmf_digit(self, message: JSONObject) -> JSONValue:
        return _sub(message, "dtmf").get("digit")

    def _stop_reason(self, message: JSONObject) -> str:
        return _text(_sub(message, "stop").get("reason")) or "stop"


def dumps(message: JSONObject) -> str:
    """Compact JSON, as providers send it."""
    return json.dumps(message, separators=(",", ":"))


# Re-exported for provider modules.
sub = _sub
text = _text
params = _params
