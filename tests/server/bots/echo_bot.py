"""The smallest live bot: the caller's audio comes back to them (RAVI answers client-ready), and
a ``whoami`` client-message is answered with the call's facts.

Used by the server tests and the cold-start benchmark: no models, no services."""

from vani.frames import Frame, FrameDirection, InputAudioRawFrame, JSONValue, OutputAudioRawFrame
from vani.pipeline import Pipeline
from vani.processors import FrameProcessor
from vani.ravi import ClientMessage
from vani.server import Session


class Echo(FrameProcessor):
    async def process_frame(self, frame: Frame, direction: FrameDirection) -> None:
        await super().process_frame(frame, direction)
        if isinstance(frame, InputAudioRawFrame):
            frame = OutputAudioRawFrame(
                audio=frame.audio, sample_rate=frame.sample_rate, num_channels=frame.num_channels
            )
        await self.push_frame(frame, direction)


async def bot(session: Session) -> None:
    @session.ravi.event_handler("on_client_message")
    async def on_client_message(processor: object, message: ClientMessage) -> JSONValue:
        if message.type == "whoami":
            return {"call_id": session.call.call_id, "params": dict(session.call.custom_parameters)}
        raise ValueError(f"unknown message type {message.type!r}")

    await session.run(Pipeline([session.input(), Echo(), session.output()]))
