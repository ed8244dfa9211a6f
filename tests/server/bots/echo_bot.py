"""The smallest live bot: the caller's audio comes back to them (RAVI answers client-ready).

Used by the server tests and the cold-start benchmark: no models, no services."""

from vani.frames import Frame, FrameDirection, InputAudioRawFrame, OutputAudioRawFrame
from vani.pipeline import Pipeline
from vani.processors import FrameProcessor
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
    await session.run(Pipeline([session.input(), Echo(), session.output()]))
