"""The client side of Pipecat's WebSocket framing, for the load generator of ``live_calls.py``.

Every WebSocket message is one protobuf ``pipecat.Frame`` (docs/protocol.md in the repository
describes the wire); RTVI messages travel inside its ``message`` field as JSON text. The schema
is built here at run time with the ``protobuf`` package (no generated code, no protoc), with
the field numbers of Pipecat 1.14's ``frames.proto``.
"""

from __future__ import annotations

import json
from typing import Any

from google.protobuf import descriptor_pb2, descriptor_pool, message_factory

_T = descriptor_pb2.FieldDescriptorProto
_FIELDS: dict[str, list[tuple[str, int, int, str | None]]] = {
    # message: (field, number, type, message type of a oneof member)
    "TextFrame": [("id", 1, _T.TYPE_UINT64, None), ("name", 2, _T.TYPE_STRING, None),
                  ("text", 3, _T.TYPE_STRING, None)],
    "AudioRawFrame": [("id", 1, _T.TYPE_UINT64, None), ("name", 2, _T.TYPE_STRING, None),
                      ("audio", 3, _T.TYPE_BYTES, None), ("sample_rate", 4, _T.TYPE_UINT32, None),
                      ("num_channels", 5, _T.TYPE_UINT32, None), ("pts", 6, _T.TYPE_UINT64, None)],
    "TranscriptionFrame": [("id", 1, _T.TYPE_UINT64, None), ("name", 2, _T.TYPE_STRING, None),
                           ("text", 3, _T.TYPE_STRING, None), ("user_id", 4, _T.TYPE_STRING, None),
                           ("timestamp", 5, _T.TYPE_STRING, None)],
    "MessageFrame": [("data", 1, _T.TYPE_STRING, None)],
    "InterruptionFrame": [("id", 1, _T.TYPE_UINT64, None), ("name", 2, _T.TYPE_STRING, None)],
    "Frame": [("text", 1, _T.TYPE_MESSAGE, "TextFrame"),
              ("audio", 2, _T.TYPE_MESSAGE, "AudioRawFrame"),
              ("transcription", 3, _T.TYPE_MESSAGE, "TranscriptionFrame"),
              ("message", 4, _T.TYPE_MESSAGE, "MessageFrame"),
              ("interruption", 5, _T.TYPE_MESSAGE, "InterruptionFrame")],
}  # fmt: skip


def _build() -> Any:
    file = descriptor_pb2.FileDescriptorProto(
        name="vani_bench_frames.proto", package="pipecat", syntax="proto3"
    )
    for name, fields in _FIELDS.items():
        message = file.message_type.add(name=name)
        if name == "Frame":
            message.oneof_decl.add(name="frame")
        for field, number, kind, type_name in fields:
            f = message.field.add(name=field, number=number, type=kind, label=_T.LABEL_OPTIONAL)
            if type_name is not None:
                f.type_name = f".pipecat.{type_name}"
                f.oneof_index = 0
            if name == "AudioRawFrame" and field == "pts":
                # proto3 `optional`: a synthetic oneof of its own.
                f.proto3_optional = True
                f.oneof_index = len(message.oneof_decl)
                message.oneof_decl.add(name="_pts")
    pool = descriptor_pool.DescriptorPool()
    pool.Add(file)
    return message_factory.GetMessageClass(pool.FindMessageTypeByName("pipecat.Frame"))


Frame = _build()


def audio_message(pcm: bytes, sample_rate: int, num_channels: int = 1) -> bytes:
    frame = Frame()
    frame.audio.audio = pcm
    frame.audio.sample_rate = sample_rate
    frame.audio.num_channels = num_channels
    data: bytes = frame.SerializeToString()
    return data


def rtvi_message(kind: str, data: object = None, msg_id: str = "1") -> bytes:
    frame = Frame()
    frame.message.data = json.dumps({"label": "rtvi-ai", "type": kind, "id": msg_id, "data": data})
    out: bytes = frame.SerializeToString()
    return out


def client_ready() -> bytes:
    about = {"library": "vani-live-calls-bench", "library_version": "1.0.0", "platform": "python"}
    return rtvi_message("client-ready", {"version": "2.2.0", "about": about}, "ready-1")


def parse(data: bytes | str) -> tuple[str, Any]:
    """("audio", (pcm, rate, channels)), ("message", dict), or (oneof name, None)."""
    if isinstance(data, str):
        return "text", json.loads(data)
    frame = Frame.FromString(data)
    which = frame.WhichOneof("frame")
    if which == "audio":
        a = frame.audio
        return "audio", (a.audio, a.sample_rate, a.num_channels or 1)
    if which == "message":
        return "message", json.loads(frame.message.data)
    return str(which), None
