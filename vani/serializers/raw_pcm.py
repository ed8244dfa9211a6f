"""``RawPCMSerializer``: the simple framing for clients of our own.

Binary WebSocket messages are raw s16le PCM; text messages are RTVI JSON objects. Nothing in a
binary message says its rate or channel count, so both are *negotiated*, never hard-wired:

1. the server builds the serializer from the connection URL's query
   (``?sample_rate=16000&num_channels=1``, see :meth:`RawPCMSerializer.from_query`);
2. the client may then restate them in its ``client-ready`` message, as vani extensions of
   ``about``: ``{"about": {"audio_in_sample_rate": 48000, "audio_in_channels": 2, ...}}``.
   The serializer notices that message as it passes (the message itself still goes on to the
   RAVI processor) and uses the new values for every binary message after it.

Audio that arrives before either is known uses the constructor's values (16 kHz mono by
default). Outbound audio is sent as is; with ``audio_out_sample_rate`` set, a frame at another
rate is refused rather than played at the wrong speed. See ``docs/protocol.md``.

Sans-I/O: no sockets, clocks or logging. Bad input raises
:class:`~vani.errors.SerializationError`; the transport logs it and drops that message.
"""

from __future__ import annotations

from collections.abc import Mapping

from vani.errors import ConfigurationError, SerializationError
from vani.frames import (
    Frame,
    InputAudioRawFrame,
    InputTransportMessageFrame,
    JSONObject,
    OutputAudioRawFrame,
    OutputTransportMessageFrame,
    OutputTransportMessageUrgentFrame,
)
from vani.serializers._common import (
    DEFAULT_MAX_MESSAGE_BYTES,
    check_channels,
    check_max_message_bytes,
    check_pcm,
    check_rate,
    check_size,
    dump_json,
    parse_json_object,
)
from vani.serializers.base import FrameSerializer

__all__ = ["RawPCMSerializer"]


def _config(value: int, name: str) -> int:
    try:
        if name.endswith("channels"):
            return check_channels(value)
        return check_rate(value, name.replace("_", " "))
    except SerializationError as exc:
        raise ConfigurationError(str(exc)) from None


class RawPCMSerializer(FrameSerializer):
    """Binary = s16le PCM, text = RTVI JSON, rates negotiated (module docstring).

    ``sample_rate``/``num_channels``: the caller's audio until the client restates them.
    ``audio_out_sample_rate``: when set, outbound audio must be at this rate.
    ``max_message_bytes`` (default 1 MiB) bounds one inbound message. Not thread-safe.
    """

    def __init__(
        self,
        *,
        sample_rate: int = 16000,
        num_channels: int = 1,
        audio_out_sample_rate: int | None = None,
        max_message_bytes: int = DEFAULT_MAX_MESSAGE_BYTES,
    ) -> None:
        self._rate = _config(sample_rate, "sample_rate")
        self._channels = _config(num_channels, "num_channels")
        self._out_rate = (
            None
            if audio_out_sample_rate is None
            else _config(audio_out_sample_rate, "audio_out_sample_rate")
        )
        self._max_bytes = check_max_message_bytes(max_message_bytes)

    @classmethod
    def from_query(cls, query: Mapping[str, str], **kwargs: int) -> RawPCMSerializer:
        """Build from a URL query: ``sample_rate`` (or ``rate``) and ``num_channels`` (or
        ``channels``), as decimal integers; absent keys keep the defaults. A bad value raises
        :class:`~vani.errors.ConfigurationError` naming it (refuse the connection)."""
        args: dict[str, int] = dict(kwargs)
        for key, aliases in (("sample_rate", ("rate",)), ("num_channels", ("channels",))):
            for name in (key, *aliases):
                raw = query.get(name)
                if raw is None:
                    continue
                if not raw.isdigit() or len(raw) > 6:
                    raise ConfigurationError(f"{name} must be a positive integer, got {raw!r}")
                args[key] = int(raw)
                break
        return cls(**args)

    @property
    def sample_rate(self) -> int:
        """The rate (Hz) binary messages are read at now."""
        return self._rate

    @property
    def num_channels(self) -> int:
        """The channel count binary messages are read with now."""
        return self._channels

    # -- outbound -----------------------------------------------------------------------------

    def serialize(self, frame: Frame) -> bytes | str | None:
        if isinstance(frame, OutputAudioRawFrame):
            if self._out_rate is not None and frame.sample_rate != self._out_rate:
                raise SerializationError(
                    f"output audio must be at {self._out_rate} Hz, got {frame.sample_rate}"
                )
            check_pcm(frame.audio, frame.num_channels)
            return frame.audio
        if isinstance(frame, OutputTransportMessageFrame | OutputTransportMessageUrgentFrame):
            return dump_json(frame.message)
        return None

    # -- inbound ------------------------------------------------------------------------------

    def deserialize(self, data: bytes | str) -> list[Frame]:
        check_size(data, self._max_bytes)
        if isinstance(data, str):
            message = parse_json_object(data)
            self._notice(message)
            return [InputTransportMessageFrame(message=message)]
        check_pcm(data, self._channels)
        if not data:
            return []
        return [InputAudioRawFrame(audio=data, sample_rate=self._rate, num_channels=self._channels)]

    def _notice(self, message: JSONObject) -> None:
        # Only the negotiation is read here; the RAVI processor validates the message itself.
        if message.get("type") != "client-ready":
            return
        data = message.get("data")
        about = data.get("about") if isinstance(data, dict) else None
        if not isinstance(about, dict):
            return
        rate = about.get("audio_in_sample_rate")
        channels = about.get("audio_in_channels")
        # Check both before changing either, so a bad pair leaves the old one in force.
        new_rate, new_channels = self._rate, self._channels
        if rate is not None:
            if not isinstance(rate, int) or isinstance(rate, bool):
                raise SerializationError(
                    f"about.audio_in_sample_rate must be an integer, got {rate!r}"
                )
            new_rate = check_rate(rate, "about.audio_in_sample_rate")
        if channels is not None:
            if not isinstance(channels, int) or isinstance(channels, bool):
                raise SerializationError(
                    f"about.audio_in_channels must be an integer, got {channels!r}"
                )
            new_channels = check_channels(channels)
        self._rate, self._channels = new_rate, new_channels
