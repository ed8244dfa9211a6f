"""``ProtobufFrameSerializer``: Pipecat's ``frames.proto`` framing, byte for byte.

Every WebSocket message is binary: one proto3 ``pipecat.Frame`` whose ``frame`` oneof holds a
text, audio, transcription, message (RTVI JSON as text) or interruption frame. The schema is
built here from a ``FileDescriptorProto`` at import time, into a private descriptor pool, so no
``protoc`` runs at build time and no generated module is committed. Field numbers and the
mapping to frames are listed in ``docs/protocol.md``.

Sans-I/O: no sockets, clocks or logging. Bad input raises
:class:`~vani.errors.SerializationError`; the transport logs it and drops that message.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Protocol, cast

from google.protobuf import descriptor_pb2, descriptor_pool, message_factory
from google.protobuf.message import DecodeError, Message

from vani.errors import SerializationError
from vani.frames import (
    Frame,
    InputAudioRawFrame,
    InputTransportMessageFrame,
    InterruptionFrame,
    OutputAudioRawFrame,
    OutputTransportMessageFrame,
    OutputTransportMessageUrgentFrame,
    TextFrame,
    TranscriptionFrame,
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

__all__ = ["ProtobufFrameSerializer"]

_F = descriptor_pb2.FieldDescriptorProto
_U64, _U32, _STR, _BYTES, _MSG = (
    _F.TYPE_UINT64,
    _F.TYPE_UINT32,
    _F.TYPE_STRING,
    _F.TYPE_BYTES,
    _F.TYPE_MESSAGE,
)

# (message, [(field, number, type)]): the schema of Pipecat's frames.proto, package "pipecat".
_SCHEMA: tuple[tuple[str, tuple[tuple[str, int, int], ...]], ...] = (
    ("TextFrame", (("id", 1, _U64), ("name", 2, _STR), ("text", 3, _STR))),
    (
        "AudioRawFrame",
        (
            ("id", 1, _U64),
            ("name", 2, _STR),
            ("audio", 3, _BYTES),
            ("sample_rate", 4, _U32),
            ("num_channels", 5, _U32),
            ("pts", 6, _U64),  # proto3 `optional`: see _build_file()
        ),
    ),
    (
        "TranscriptionFrame",
        (
            ("id", 1, _U64),
            ("name", 2, _STR),
            ("text", 3, _STR),
            ("user_id", 4, _STR),
            ("timestamp", 5, _STR),
        ),
    ),
    ("MessageFrame", (("data", 1, _STR),)),
    ("InterruptionFrame", (("id", 1, _U64), ("name", 2, _STR))),
)
_ONEOF: tuple[tuple[str, int, str], ...] = (
    ("text", 1, "TextFrame"),
    ("audio", 2, "AudioRawFrame"),
    ("transcription", 3, "TranscriptionFrame"),
    ("message", 4, "MessageFrame"),
    ("interruption", 5, "InterruptionFrame"),
)


def _build_file() -> descriptor_pb2.FileDescriptorProto:
    fd = descriptor_pb2.FileDescriptorProto(name="frames.proto", package="pipecat", syntax="proto3")
    for msg_name, fields in _SCHEMA:
        msg = fd.message_type.add(name=msg_name)
        for field_name, number, kind in fields:
            f = msg.field.add(name=field_name, number=number, type=kind, label=_F.LABEL_OPTIONAL)
            if field_name == "pts":
                # proto3 `optional` is a synthetic one-field oneof named after the field.
                msg.oneof_decl.add(name="_pts")
                f.oneof_index = 0
                f.proto3_optional = True
    frame = fd.message_type.add(name="Frame")
    frame.oneof_decl.add(name="frame")
    for field_name, number, type_name in _ONEOF:
        frame.field.add(
            name=field_name,
            number=number,
            type=_MSG,
            type_name=f".pipecat.{type_name}",
            label=_F.LABEL_OPTIONAL,
            oneof_index=0,
        )
    return fd


_POOL = descriptor_pool.DescriptorPool()
_POOL.Add(_build_file())
_FrameMessage: type[Message] = message_factory.GetMessageClass(
    _POOL.FindMessageTypeByName("pipecat.Frame")
)


if TYPE_CHECKING:

    class _Audio(Protocol):
        id: int
        name: str
        audio: bytes
        sample_rate: int
        num_channels: int

    class _Text(Protocol):
        id: int
        name: str
        text: str

    class _Transcription(_Text, Protocol):
        user_id: str
        timestamp: str

    class _Message(Protocol):
        data: str


class ProtobufFrameSerializer(FrameSerializer):
    """Frames to and from Pipecat's protobuf ``Frame`` messages (``docs/protocol.md``).

    Inbound: ``audio`` → :class:`~vani.frames.InputAudioRawFrame` at the rate and channel count
    the frame carries; ``message`` → :class:`~vani.frames.InputTransportMessageFrame` holding the
    parsed RTVI object; ``text`` → :class:`~vani.frames.TextFrame`; ``transcription`` →
    :class:`~vani.frames.TranscriptionFrame`; ``interruption`` →
    :class:`~vani.frames.InterruptionFrame`. Empty audio gives no frame.

    Outbound: :class:`~vani.frames.OutputAudioRawFrame` (and subclasses) → ``audio``;
    ``OutputTransportMessage(Urgent)Frame`` → ``message`` with the JSON text;
    :class:`~vani.frames.InterruptionFrame` → ``interruption``; a plain ``TextFrame`` or
    ``TranscriptionFrame`` (exact types, as Pipecat does) → ``text``/``transcription``.
    Anything else gives ``None`` (not carried).

    ``max_message_bytes`` (default 1 MiB) bounds one inbound message. Not thread-safe.
    """

    def __init__(self, *, max_message_bytes: int = DEFAULT_MAX_MESSAGE_BYTES) -> None:
        self._max_bytes = check_max_message_bytes(max_message_bytes)

    # -- outbound -----------------------------------------------------------------------------

    def serialize(self, frame: Frame) -> bytes | None:
        proto = _FrameMessage()
        if isinstance(frame, OutputAudioRawFrame):
            check_pcm(frame.audio, frame.num_channels)
            audio = cast("_Audio", getattr(proto, "audio"))  # noqa: B009 - generated class
            audio.id = frame.id
            audio.name = frame.name
            audio.audio = frame.audio
            audio.sample_rate = frame.sample_rate
            audio.num_channels = frame.num_channels
        elif isinstance(frame, OutputTransportMessageFrame | OutputTransportMessageUrgentFrame):
            message = cast("_Message", getattr(proto, "message"))  # noqa: B009
            message.data = dump_json(frame.message)
        elif type(frame) is InterruptionFrame:
            interruption = cast("_Text", getattr(proto, "interruption"))  # noqa: B009
            interruption.id = frame.id
            interruption.name = frame.name
        elif type(frame) is TextFrame:
            text = cast("_Text", getattr(proto, "text"))  # noqa: B009
            text.id, text.name, text.text = frame.id, frame.name, frame.text
        elif type(frame) is TranscriptionFrame:
            tr = cast("_Transcription", getattr(proto, "transcription"))  # noqa: B009
            tr.id, tr.name, tr.text = frame.id, frame.name, frame.text
            tr.user_id, tr.timestamp = frame.user_id, frame.timestamp
        else:
            return None
        return proto.SerializeToString()

    # -- inbound ------------------------------------------------------------------------------

    def deserialize(self, data: bytes | str) -> list[Frame]:
        if isinstance(data, str):
            raise SerializationError("protobuf framing expects binary messages, got a text message")
        check_size(data, self._max_bytes)
        proto = _FrameMessage()
        try:
            proto.ParseFromString(data)
        except (DecodeError, ValueError, RuntimeError) as exc:
            raise SerializationError(f"message is not a valid pipecat.Frame: {exc}") from None
        which = proto.WhichOneof("frame")
        if which is None:
            unknown = "an unknown frame kind" if data else "no frame kind"
            raise SerializationError(
                f"pipecat.Frame carries {unknown}; expected one of"
                " text, audio, transcription, message, interruption"
            )
        inner = getattr(proto, which)
        if which == "audio":
            return self._audio(cast("_Audio", inner))
        if which == "message":
            text = cast("_Message", inner).data
            return [InputTransportMessageFrame(message=parse_json_object(text))]
        if which == "text":
            return [TextFrame(text=cast("_Text", inner).text)]
        if which == "transcription":
            tr = cast("_Transcription", inner)
            return [TranscriptionFrame(text=tr.text, user_id=tr.user_id, timestamp=tr.timestamp)]
        return [InterruptionFrame()]

    def _audio(self, audio: _Audio) -> list[Frame]:
        rate = check_rate(audio.sample_rate)
        channels = check_channels(audio.num_channels)
        check_pcm(audio.audio, channels)
        if not audio.audio:
            return []
        return [InputAudioRawFrame(audio=audio.audio, sample_rate=rate, num_channels=channels)]


def _self_check() -> None:
    # The oneof and field numbers are the wire contract; fail at import, not on a call.
    desc = _FrameMessage.DESCRIPTOR
    assert [(f.name, f.number) for f in desc.fields] == [(n, k) for n, k, _ in _ONEOF]


_self_check()
