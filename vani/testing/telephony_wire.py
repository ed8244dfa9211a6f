"""The provider's side of each telephony media stream, sans-I/O: what Twilio, Telnyx, Plivo and
Exotel send, and how they read what the bot sends. Used by :class:`~vani.testing.TelephonySimulator`
and by tests that feed serializers. See ``docs/telephony.md``.
"""

from __future__ import annotations

import base64
import json
from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from typing import ClassVar, Literal

from vani.audio.pcm import alaw_decode, alaw_encode, ulaw_decode, ulaw_encode
from vani.frames import JSONObject, JSONValue

__all__ = ["WIRES", "Outbound", "ProviderWire", "SimCall", "wire_for"]


@dataclass(slots=True)
class SimCall:
    """The ids and values one simulated call carries."""

    call_id: str = "CA0000000000000000000000000000test"
    stream_id: str = "MZ0000000000000000000000000000test"
    account_id: str = "AC0000000000000000000000000000test"
    from_number: str = "+15550001111"
    to_number: str = "+15550002222"
    custom_parameters: dict[str, str] = field(default_factory=dict)


@dataclass(slots=True)
class Outbound:
    """One message the bot sent, as the provider reads it."""

    kind: Literal["media", "clear", "mark", "unknown"]
    audio: bytes = b""  # s16le PCM at the wire rate, for media
    name: str = ""  # for marks
    raw: JSONValue = None


def _as_json(params: dict[str, str]) -> dict[str, JSONValue]:
    return dict(params.items())


def _dumps(message: JSONObject) -> str:
    return json.dumps(message, separators=(",", ":"))


class ProviderWire(ABC):
    """One provider's messages. ``encoding``/``sample_rate``: the stream's audio format."""

    provider: ClassVar[str]
    has_marks: ClassVar[bool] = True
    echo_marks_on_clear: ClassVar[bool] = True
    encoding: str = "mulaw"
    sample_rate: int = 8000

    def encode(self, pcm: bytes) -> bytes:
        if self.encoding == "mulaw":
            return ulaw_encode(pcm)
        if self.encoding == "alaw":
            return alaw_encode(pcm)
        return pcm

    def decode(self, payload: bytes) -> bytes:
        if self.encoding == "mulaw":
            return ulaw_decode(payload)
        if self.encoding == "alaw":
            return alaw_decode(payload)
        return payload

    def connected(self) -> str | None:
        return _dumps({"event": "connected", "protocol": "Call", "version": "1.0.0"})

    @abstractmethod
    def start(self, call: SimCall, seq: int) -> str: ...

    @abstractmethod
    def media(self, call: SimCall, pcm: bytes, seq: int, chunk: int, ts_ms: int) -> str: ...

    @abstractmethod
    def dtmf(self, call: SimCall, digit: str, seq: int) -> str: ...

    @abstractmethod
    def stop(self, call: SimCall, seq: int) -> str: ...

    def mark(self, call: SimCall, name: str, seq: int) -> str | None:
        return None

    def cleared(self, call: SimCall, seq: int) -> str | None:
        return None

    @abstractmethod
    def parse(self, text: str) -> Outbound:
        """The bot's message as the provider reads it."""


def _payload(message: JSONObject) -> bytes:
    media = message.get("media")
    if isinstance(media, dict) and isinstance(media.get("payload"), str):
        return base64.b64decode(str(media["payload"]))
    return b""


def _load(text: str) -> JSONObject:
    value = json.loads(text)
    return value if isinstance(value, dict) else {}


class TwilioWire(ProviderWire):
    provider = "twilio"

    def start(self, call: SimCall, seq: int) -> str:
        custom: dict[str, JSONValue] = {
            "From": call.from_number,
            "To": call.to_number,
            **call.custom_parameters,
        }
        return _dumps(
            {
                "event": "start",
                "sequenceNumber": str(seq),
                "start": {
                    "accountSid": call.account_id,
                    "streamSid": call.stream_id,
                    "callSid": call.call_id,
                    "tracks": ["inbound"],
                    "mediaFormat": {"encoding": "audio/x-mulaw", "sampleRate": 8000, "channels": 1},
                    "customParameters": custom,
                },
                "streamSid": call.stream_id,
            }
        )

    def media(self, call: SimCall, pcm: bytes, seq: int, chunk: int, ts_ms: int) -> str:
        payload = base64.b64encode(self.encode(pcm)).decode()
        return _dumps(
            {
                "event": "media",
                "sequenceNumber": str(seq),
                "media": {
                    "track": "inbound",
                    "chunk": str(chunk),
                    "timestamp": str(ts_ms),
                    "payload": payload,
                },
                "streamSid": call.stream_id,
            }
        )

    def dtmf(self, call: SimCall, digit: str, seq: int) -> str:
        return _dumps(
            {
                "event": "dtmf",
                "streamSid": call.stream_id,
                "sequenceNumber": str(seq),
                "dtmf": {"track": "inbound_track", "digit": digit},
            }
        )

    def stop(self, call: SimCall, seq: int) -> str:
        return _dumps(
            {
                "event": "stop",
                "sequenceNumber": str(seq),
                "streamSid": call.stream_id,
                "stop": {"accountSid": call.account_id, "callSid": call.call_id},
            }
        )

    def mark(self, call: SimCall, name: str, seq: int) -> str | None:
        return _dumps(
            {
                "event": "mark",
                "sequenceNumber": str(seq),
                "streamSid": call.stream_id,
                "mark": {"name": name},
            }
        )

    def parse(self, text: str) -> Outbound:
        m = _load(text)
        event = m.get("event")
        if event == "media" and m.get("streamSid"):
            return Outbound("media", audio=self.decode(_payload(m)), raw=m)
        if event == "clear" and m.get("streamSid"):
            return Outbound("clear", raw=m)
        mark = m.get("mark")
        if event == "mark" and isinstance(mark, dict) and m.get("streamSid"):
            return Outbound("mark", name=str(mark.get("name", "")), raw=m)
        return Outbound("unknown", raw=m)


class TelnyxWire(ProviderWire):
    provider = "telnyx"

    def connected(self) -> str | None:
        return _dumps({"event": "connected", "version": "1.0.0"})

    def start(self, call: SimCall, seq: int) -> str:
        return _dumps(
            {
                "event": "start",
                "sequence_number": str(seq),
                "start": {
                    "user_id": call.account_id,
                    "call_control_id": call.call_id,
                    "from": call.from_number,
                    "to": call.to_number,
                    "custom_parameters": _as_json(call.custom_parameters),
                    "media_format": {"encoding": "PCMU", "sample_rate": 8000, "channels": 1},
                },
                "stream_id": call.stream_id,
            }
        )

    def media(self, call: SimCall, pcm: bytes, seq: int, chunk: int, ts_ms: int) -> str:
        payload = base64.b64encode(self.encode(pcm)).decode()
        return _dumps(
            {
                "event": "media",
                "sequence_number": str(seq),
                "media": {
                    "track": "inbound",
                    "chunk": str(chunk),
                    "timestamp": str(ts_ms),
                    "payload": payload,
                },
                "stream_id": call.stream_id,
            }
        )

    def dtmf(self, call: SimCall, digit: str, seq: int) -> str:
        return _dumps(
            {
                "event": "dtmf",
                "sequence_number": str(seq),
                "dtmf": {"digit": digit},
                "stream_id": call.stream_id,
            }
        )

    def stop(self, call: SimCall, seq: int) -> str:
        return _dumps(
            {
                "event": "stop",
                "sequence_number": str(seq),
                "stop": {"user_id": call.account_id, "call_control_id": call.call_id},
                "stream_id": call.stream_id,
            }
        )

    def mark(self, call: SimCall, name: str, seq: int) -> str | None:
        return _dumps(
            {
                "event": "mark",
                "sequence_number": str(seq),
                "stream_id": call.stream_id,
                "mark": {"name": name},
            }
        )

    def parse(self, text: str) -> Outbound:
        m = _load(text)
        event = m.get("event")
        if event == "media":
            return Outbound("media", audio=self.decode(_payload(m)), raw=m)
        if event == "clear":
            return Outbound("clear", raw=m)
        mark = m.get("mark")
        if event == "mark" and isinstance(mark, dict):
            return Outbound("mark", name=str(mark.get("name", "")), raw=m)
        return Outbound("unknown", raw=m)


class PlivoWire(ProviderWire):
    provider = "plivo"
    echo_marks_on_clear = False

    def connected(self) -> str | None:
        return None  # Plivo opens with start

    def start(self, call: SimCall, seq: int) -> str:
        headers = {"From": call.from_number, "To": call.to_number, **call.custom_parameters}
        return _dumps(
            {
                "event": "start",
                "sequenceNumber": seq,
                "start": {
                    "callId": call.call_id,
                    "streamId": call.stream_id,
                    "accountId": call.account_id,
                    "tracks": ["inbound"],
                    "mediaFormat": {"encoding": "audio/x-mulaw", "sampleRate": 8000},
                },
                "extra_headers": ",".join(f"{k}={v}" for k, v in headers.items()),
            }
        )

    def media(self, call: SimCall, pcm: bytes, seq: int, chunk: int, ts_ms: int) -> str:
        payload = base64.b64encode(self.encode(pcm)).decode()
        return _dumps(
            {
                "event": "media",
                "sequenceNumber": seq,
                "streamId": call.stream_id,
                "media": {
                    "track": "inbound",
                    "timestamp": str(ts_ms),
                    "chunk": chunk,
                    "payload": payload,
                },
            }
        )

    def dtmf(self, call: SimCall, digit: str, seq: int) -> str:
        return _dumps(
            {
                "event": "dtmf",
                "sequenceNumber": seq,
                "streamId": call.stream_id,
                "dtmf": {"track": "inbound", "digit": digit},
            }
        )

    def stop(self, call: SimCall, seq: int) -> str:
        return _dumps({"event": "stop", "sequenceNumber": seq, "streamId": call.stream_id})

    def mark(self, call: SimCall, name: str, seq: int) -> str | None:
        return _dumps(
            {
                "event": "playedStream",
                "sequenceNumber": seq,
                "streamId": call.stream_id,
                "name": name,
            }
        )

    def cleared(self, call: SimCall, seq: int) -> str | None:
        return _dumps({"event": "clearedAudio", "sequenceNumber": seq, "streamId": call.stream_id})

    def parse(self, text: str) -> Outbound:
        m = _load(text)
        event = m.get("event")
        if event == "playAudio" and m.get("streamId"):
            media = m.get("media")
            ok = isinstance(media, dict) and media.get("contentType") == "audio/x-mulaw"
            return Outbound("media" if ok else "unknown", audio=self.decode(_payload(m)), raw=m)
        if event == "clearAudio" and m.get("streamId"):
            return Outbound("clear", raw=m)
        if event == "checkpoint" and m.get("streamId"):
            return Outbound("mark", name=str(m.get("name", "")), raw=m)
        return Outbound("unknown", raw=m)


class ExotelWire(ProviderWire):
    provider = "exotel"
    has_marks = False
    encoding = "l16"

    def connected(self) -> str | None:
        return _dumps({"event": "connected"})

    def start(self, call: SimCall, seq: int) -> str:
        return _dumps(
            {
                "event": "start",
                "sequence_number": seq,
                "stream_sid": call.stream_id,
                "start": {
                    "stream_sid": call.stream_id,
                    "call_sid": call.call_id,
                    "account_sid": call.account_id,
                    "from": call.from_number,
                    "to": call.to_number,
                    "custom_parameters": _as_json(call.custom_parameters),
                    "media_format": {
                        "encoding": "base64",
                        "sample_rate": "8000",
                        "bit_rate": "128kbps",
                    },
                },
            }
        )

    def media(self, call: SimCall, pcm: bytes, seq: int, chunk: int, ts_ms: int) -> str:
        payload = base64.b64encode(self.encode(pcm)).decode()
        return _dumps(
            {
                "event": "media",
                "sequence_number": seq,
                "stream_sid": call.stream_id,
                "media": {"chunk": chunk, "timestamp": str(ts_ms), "payload": payload},
            }
        )

    def dtmf(self, call: SimCall, digit: str, seq: int) -> str:
        return _dumps(
            {
                "event": "dtmf",
                "sequence_number": seq,
                "stream_sid": call.stream_id,
                "dtmf": {"duration": "120", "digit": digit},
            }
        )

    def stop(self, call: SimCall, seq: int) -> str:
        return _dumps(
            {
                "event": "stop",
                "sequence_number": seq,
                "stream_sid": call.stream_id,
                "stop": {
                    "call_sid": call.call_id,
                    "account_sid": call.account_id,
                    "reason": "callended",
                },
            }
        )

    def parse(self, text: str) -> Outbound:
        m = _load(text)
        event = m.get("event")
        if event == "media" and m.get("stream_sid"):
            payload = _payload(m)
            # Exotel's rule: at least 3.2 KB (100 ms) and a multiple of 320 bytes.
            ok = len(payload) >= 3200 and len(payload) % 320 == 0
            return Outbound("media" if ok else "unknown", audio=self.decode(payload), raw=m)
        if event == "clear" and m.get("stream_sid"):
            return Outbound("clear", raw=m)
        return Outbound("unknown", raw=m)


WIRES: dict[str, type[ProviderWire]] = {
    "twilio": TwilioWire,
    "telnyx": TelnyxWire,
    "plivo": PlivoWire,
    "exotel": ExotelWire,
}


def wire_for(provider: str) -> ProviderWire:
    """The provider side of ``provider``'s media stream."""
    return WIRES[provider]()
