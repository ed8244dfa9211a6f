"""The handoff announcement reaches the client as an RTVI ``server-message`` on the wire."""

from __future__ import annotations

import json

from vani.dhara.agents import Handoff, handoff_message
from vani.frames import InputTransportMessageFrame, OutputTransportMessageUrgentFrame
from vani.ravi.messages import ServerMessageType
from vani.serializers.protobuf import ProtobufFrameSerializer
from vani.serializers.raw_pcm import RawPCMSerializer


def test_the_handoff_message_is_a_server_message_in_both_framings() -> None:
    message = handoff_message(Handoff("triage", "billing", "the caller asked about a bill"))
    assert message["label"] == "rtvi-ai"
    assert message["type"] == ServerMessageType("server-message")
    frame = OutputTransportMessageUrgentFrame(message=message)

    wire = ProtobufFrameSerializer().serialize(frame)
    assert isinstance(wire, bytes)
    (back,) = ProtobufFrameSerializer().deserialize(wire)
    assert isinstance(back, InputTransportMessageFrame) and back.message == message

    text = RawPCMSerializer().serialize(frame)
    assert isinstance(text, str)
    assert json.loads(text)["data"] == {
        "type": "agent-handoff",
        "from": "triage",
        "to": "billing",
        "reason": "the caller asked about a bill",
    }
