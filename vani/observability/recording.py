"""The call's stereo recording for the session report (docs/observability.md).

:class:`CallRecorder` is an observer and a session listener: it takes the caller's audio as the
input transport pushes it (left channel) and the bot's audio as it is pushed into the output
transport (right channel), on one timeline — the caller's audio is the clock: a bot chunk starts
where the caller's track is when it is pushed, or right after the previous bot chunk. On an
interruption the bot track is cut where the caller's track is (what was not played is dropped).
Both tracks stream to temporary files beside the report (a long call costs no memory); when the
call ends they are interleaved into ``<session_id>.wav`` (16-bit stereo) and the path goes into
the report (``"recording"``).
"""

from __future__ import annotations

import contextlib
import os
import re
import wave
from pathlib import Path
from typing import BinaryIO

from vani.audio.resample import StreamResampler
from vani.frames import (
    Frame,
    FrameDirection,
    InputAudioRawFrame,
    InterruptionFrame,
    OutputAudioRawFrame,
)
from vani.observability.aggregator import MetricsAggregator, SessionListener
from vani.pipeline.observers import BaseObserver, FramePushed
from vani.transports.base import BaseInputTransport, BaseOutputTransport

__all__ = ["CallRecorder"]

_SAFE = re.compile(r"[^A-Za-z0-9._-]")
_BLOCK = 1 << 16


class CallRecorder(BaseObserver, SessionListener):
    """Records one call into ``directory`` (see the module docstring) at ``sample_rate``."""

    def __init__(self, directory: str | os.PathLike[str], *, sample_rate: int = 16000) -> None:
        self.directory = Path(directory)
        self.sample_rate = sample_rate
        self.path: Path | None = None
        self._user: BinaryIO | None = None
        self._bot: BinaryIO | None = None
        self._user_bytes = 0
        self._bot_bytes = 0
        self._in: StreamResampler | None = None
        self._out: dict[int, StreamResampler] = {}
        self._seen: set[int] = set()
        self._name = "session"

    def _open(self) -> None:
        if self._user is None:
            self.directory.mkdir(parents=True, exist_ok=True)
            self._user = open(self.directory / f"{self._name}.user.part", "w+b")  # noqa: SIM115
            self._bot = open(self.directory / f"{self._name}.bot.part", "w+b")  # noqa: SIM115

    def on_session_start(self, session: MetricsAggregator) -> None:
        self._name = _SAFE.sub("_", session.session_id) or "session"

    def _to_rate(self, pcm: bytes, rate: int, resampler: StreamResampler | None) -> bytes:
        if rate == self.sample_rate or resampler is None:
            return pcm
        return resampler.resample(pcm)

    def wants(self, frame_type: type[Frame]) -> bool:
        return issubclass(frame_type, InputAudioRawFrame | OutputAudioRawFrame | InterruptionFrame)

    async def on_push_frame(self, data: FramePushed) -> None:
        frame = data.frame
        if isinstance(frame, InputAudioRawFrame):
            if not isinstance(data.source, BaseInputTransport) or frame.num_channels != 1:
                return
            self._open()
            if frame.sample_rate != self.sample_rate and (
                self._in is None or self._in.in_rate != frame.sample_rate
            ):
                self._in = StreamResampler(frame.sample_rate, self.sample_rate)
            pcm = self._to_rate(frame.audio, frame.sample_rate, self._in)
            assert self._user is not None
            self._user.write(pcm)
            self._user_bytes += len(pcm)
        elif isinstance(frame, OutputAudioRawFrame):
            if not isinstance(data.destination, BaseOutputTransport) or frame.id in self._seen:
                return
            self._seen.add(frame.id)
            if len(self._seen) > 1024:
                self._seen.clear()
            if frame.num_channels != 1:
                return
            self._open()
            resampler = self._out.get(frame.sample_rate)
            if resampler is None and frame.sample_rate != self.sample_rate:
                resampler = self._out[frame.sample_rate] = StreamResampler(
                    frame.sample_rate, self.sample_rate
                )
            pcm = self._to_rate(frame.audio, frame.sample_rate, resampler)
            bot = self._bot
            assert bot is not None
            if self._bot_bytes < self._user_bytes:
                bot.write(bytes(self._user_bytes - self._bot_bytes))
                self._bot_bytes = self._user_bytes
            bot.write(pcm)
            self._bot_bytes += len(pcm)
        elif (
            isinstance(frame, InterruptionFrame)
            and data.direction is FrameDirection.DOWNSTREAM
            and isinstance(data.destination, BaseOutputTransport)
            and self._bot is not None
            and self._bot_bytes > self._user_bytes
        ):
            # What was queued past "now" was never played: cut it.
            self._bot.truncate(self._user_bytes)
            self._bot.seek(self._user_bytes)
            self._bot_bytes = self._user_bytes
            for resampler in self._out.values():
                resampler.flush()

    def on_session_end(self, session: MetricsAggregator) -> None:
        if self._user is None or self._bot is None:
            return
        user, bot = self._user, self._bot
        self._user = self._bot = None
        path = self.directory / f"{self._name}.wav"
        try:
            import numpy as np

            user.seek(0)
            bot.seek(0)
            total = max(self._user_bytes, self._bot_bytes) // 2
            with wave.open(str(path), "wb") as out:
                out.setnchannels(2)
                out.setsampwidth(2)
                out.setframerate(self.sample_rate)
                done = 0
                while done < total:
                    n = min(_BLOCK, total - done)
                    left = np.frombuffer(user.read(n * 2), dtype="<i2")
                    right = np.frombuffer(bot.read(n * 2), dtype="<i2")
                    block = np.zeros((n, 2), dtype="<i2")
                    block[: len(left), 0] = left
                    block[: len(right), 1] = right
                    out.writeframes(block.tobytes())
                    done += n
        finally:
            for part in (user, bot):
                name = part.name
                part.close()
                with contextlib.suppress(OSError):
                    os.unlink(name)
        self.path = path
        session.recording_path = str(path)
