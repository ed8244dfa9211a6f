"""A first pipeline: microphone-like frames through two processors, printed at the end.

Run: python examples/echo_pipeline.py
"""

import asyncio

from vani.frames import EndFrame, Frame, InputAudioRawFrame, TextFrame
from vani.pipeline import Pipeline, PipelineRunner, PipelineTask
from vani.processors import FrameDirection, FrameProcessor


class Shout(FrameProcessor):
    """Upper-cases text; passes everything else on untouched."""

    async def process_frame(self, frame: Frame, direction: FrameDirection) -> None:
        await super().process_frame(frame, direction)
        if isinstance(frame, TextFrame):
            frame = TextFrame(text=frame.text.upper())
        await self.push_frame(frame, direction)


class Printer(FrameProcessor):
    async def process_frame(self, frame: Frame, direction: FrameDirection) -> None:
        await super().process_frame(frame, direction)
        print(f"{direction.name.lower():10} {frame!r}")
        await self.push_frame(frame, direction)


async def main() -> None:
    task = PipelineTask(Pipeline([Shout(), Printer()]))
    await task.queue_frames(
        [
            InputAudioRawFrame(audio=b"\0" * 640, sample_rate=16000, num_channels=1),
            TextFrame(text="namaste, vani"),
            EndFrame(),
        ]
    )
    await PipelineRunner().run(task)


if __name__ == "__main__":
    asyncio.run(main())
