"""FileTransport: a caller WAV in, the whole call as a stereo WAV out.

The input plays the caller's WAV into the pipeline the way a live caller would: 20 ms frames, each
pushed when the transport's clock reaches its time, in real time (``realtime=True``) or on a
:class:`~vani.transports.clock.VirtualClock` that skips idle waits so a call runs as fast as its
processing allows. Once the WAV has been played the caller keeps "listening" (silence) until the
bot has answered and been quiet for ``hangup_after_secs``; then the input asks the task to end.

The output writes ``output_path``: a 16-bit stereo WAV at the output rate on one timeline — the
caller left, exactly when each frame was pushed; the bot right, exactly when each chunk was sent,
and cut off where the client was told to stop playback — so listening to it is listening to the
call as it happened, barge-ins included.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from vani.audio.resample import StreamResampler
from vani.errors import AudioFormatError, ConfigurationError
from vani.frames import (
    CancelFrame,
    EndFrame,
    EndTaskFrame,
    Frame,
    FrameDirection,
    InputAudioRawFrame,
    InterruptionFrame,
    StartFrame,
    UserStoppedSpeakingFrame,
    VADUserStoppedSpeakingFrame,
)
from vani.transports.base import (
    BaseInputTransport,
    BaseOutputTransport,
    Transport,
    TransportParams,
)
from vani.transports.clock import Clock, VirtualClock, WallClock
from vani.transports.wav import WavAudio, read_wav, write_wav

__all__ = ["CallEvent", "CallRecording", "FileTransport"]

logger = logging.getLogger(__name__)

FRAME_SECS = 0.02


@dataclass(slots=True)
class CallEvent:
    """Something the transport saw, at ``time`` seconds on its clock."""

    time: float
    kind: str  # "bot_started", "bot_stopped", "interruption", "playback_cleared", "user_stopped"


@dataclass
class CallRecording:
    """Both sides of a call on one timeline, int16 mono each, at ``sample_rate``.

    ``caller[i]`` and ``bot[i]`` are the same instant. ``bot_chunks`` lists the (start, end)
    clock times of every chunk sent; ``events`` what the transport saw, in order.
    """

    sample_rate: int
    caller: bytearray = field(default_factory=bytearray)
    bot: bytearray = field(default_factory=bytearray)
    bot_chunks: list[tuple[float, float]] = field(default_factory=list)
    events: list[CallEvent] = field(default_factory=list)

    def _put(self, track: bytearray, at: float, pcm: bytes) -> None:
        start = round(at * self.sample_rate) * 2
        if len(track) < start:
            track.extend(bytes(start - len(track)))
        track[start : start + len(pcm)] = pcm

    def truncate_bot(self, at: float) -> None:
        """Drop bot audio from clock time ``at`` on (the client stopped playback)."""
        cut = round(at * self.sample_rate) * 2
        if len(self.bot) > cut:
            del self.bot[cut:]

    def stereo(self) -> bytes:
        """Interleaved stereo int16: caller left, bot right."""
        frames = max(len(self.caller), len(self.bot)) // 2
        out = np.zeros((frames, 2), dtype="<i2")
        caller = np.frombuffer(bytes(self.caller), dtype="<i2")
        bot = np.frombuffer(bytes(self.bot), dtype="<i2")
        out[: len(caller), 0] = caller
        out[: len(bot), 1] = bot
        return out.tobytes()

    def write(self, path: str | Path) -> Path:
        return write_wav(path, self.stereo(), sample_rate=self.sample_rate, num_channels=2)


class _FileInput(BaseInputTransport):
    def __init__(self, transport: FileTransport, *, name: str | None = None) -> None:
        super().__init__(transport.params, transport.clock, name=name)
        self._transport = transport
        self._record_resampler: StreamResampler | None = None

    async def start(self, frame: StartFrame) -> None:
        await super().start(frame)
        self._transport._on_start(frame)
        record_rate = self._transport.recording.sample_rate
        self._record_resampler = StreamResampler(self.pipeline_sample_rate, record_rate)
        self.create_task(self._play_caller(), name=f"{self}-caller")

    async def _play_caller(self) -> None:
        t = self._transport
        # The caller dials once the whole pipeline has started (models loaded): the StartFrame
        # has reached the output, which starts the clock. Without an output, start it here.
        if t._output is not None:
            await t._output_started.wait()
        self.clock.start()
        wav = t.caller
        frame_samples = round(wav.sample_rate * FRAME_SECS)
        frame_bytes = frame_samples * 2 * wav.num_channels
        pcm = wav.pcm
        k = 0
        for k, offset in enumerate(range(0, len(pcm), frame_bytes)):
            await self._feed(k, pcm[offset : offset + frame_bytes], wav)
        t.caller_finished_at = (k + 1) * FRAME_SECS
        if not t.end_on_eof:
            return
        # Keep listening with silence until the bot has answered and been quiet for a while.
        silence = bytes(frame_bytes)
        k += 1
        while not t._should_hang_up(k * FRAME_SECS):
            await self._feed(k, silence, wav)
            k += 1
        logger.info("%s: caller hangs up at %.2f s", self, k * FRAME_SECS)
        await self.push_frame(EndTaskFrame(reason="caller hung up"), FrameDirection.UPSTREAM)

    async def _feed(self, k: int, chunk: bytes, wav: WavAudio) -> None:
        at = k * FRAME_SECS
        await self.clock.sleep_until(at)
        mono = self.convert_audio(chunk, sample_rate=wav.sample_rate, num_channels=wav.num_channels)
        if self._record_resampler is not None:
            self._transport.recording._put(
                self._transport.recording.caller, at, self._record_resampler.resample(mono)
            )
        if mono and self._params.audio_in_enabled:
            await self.push_frame(self._audio_frame(mono))

    def _audio_frame(self, mono: bytes) -> Frame:
        return InputAudioRawFrame(audio=mono, sample_rate=self.pipeline_sample_rate, num_channels=1)


class _FileOutput(BaseOutputTransport):
    def __init__(self, transport: FileTransport, *, name: str | None = None) -> None:
        super().__init__(transport.params, transport.clock, name=name)
        self._transport = transport

    async def start(self, frame: StartFrame) -> None:
        self._transport._on_start(frame)
        await super().start(frame)
        self._transport._output_started.set()

    async def process_frame(self, frame: Frame, direction: FrameDirection) -> None:
        if direction is FrameDirection.DOWNSTREAM:
            t = self._transport
            if isinstance(frame, InterruptionFrame):
                t._event("interruption")
            elif isinstance(frame, VADUserStoppedSpeakingFrame | UserStoppedSpeakingFrame):
                t.last_user_stop = self.clock.now()
                t._event("user_stopped")
        await super().process_frame(frame, direction)

    async def write_audio(self, chunk: bytes, *, at: float) -> None:
        rec = self._transport.recording
        mono = chunk
        if self._channels > 1:
            mono = np.frombuffer(chunk, dtype="<i2")[:: self._channels].tobytes()
        if self.sample_rate != rec.sample_rate:
            raise ConfigurationError(  # _on_start makes them equal; guards future edits
                f"expected output at {rec.sample_rate} Hz, got {self.sample_rate} Hz"
            )
        rec._put(rec.bot, at, mono)
        duration = len(mono) / 2 / rec.sample_rate
        rec.bot_chunks.append((at, at + duration))
        self._transport.last_bot_audio = at + duration

    async def clear_playback(self, *, at: float) -> None:
        rec = self._transport.recording
        rec.truncate_bot(at)
        if rec.bot_chunks and rec.bot_chunks[-1][1] > at:
            start, _ = rec.bot_chunks[-1]
            rec.bot_chunks[-1] = (start, max(start, at))
        self._transport.last_bot_audio = min(self._transport.last_bot_audio, at)
        self._transport._event("playback_cleared")

    async def _set_speaking(self, speaking: bool) -> None:
        if speaking != self.bot_speaking:
            self._transport._event("bot_started" if speaking else "bot_stopped")
            self._transport.bot_speaking = speaking
        await super()._set_speaking(speaking)

    async def stop(self, frame: EndFrame) -> None:
        self._transport._finish()
        await super().stop(frame)

    async def cancel(self, frame: CancelFrame) -> None:
        self._transport._finish()
        await super().cancel(frame)


class FileTransport(Transport):
    """Plays ``input_path`` (a WAV: 8–48 kHz, mono or stereo) as the caller and records the call
    to ``output_path`` (stereo: caller left, bot right).

    ``realtime``: pace on the wall clock instead of a virtual one. ``charge_processing_time``
    (virtual clock only): let processing take virtual time, so latencies are realistic.
    ``hangup_after_secs``: after the WAV ends, how long the bot must have been silent (having
    answered the last user turn) before the caller hangs up; ``max_linger_secs`` caps the wait.
    A bad or missing WAV raises :class:`~vani.errors.AudioFormatError` here, not mid-call.
    """

    def __init__(
        self,
        input_path: str | Path | WavAudio,
        output_path: str | Path | None = None,
        *,
        params: TransportParams | None = None,
        realtime: bool = False,
        charge_processing_time: bool = False,
        end_on_eof: bool = True,
        hangup_after_secs: float = 1.0,
        max_linger_secs: float = 30.0,
    ) -> None:
        clock: Clock = (
            WallClock() if realtime else VirtualClock(charge_processing_time=charge_processing_time)
        )
        super().__init__(params, clock)
        self.caller = input_path if isinstance(input_path, WavAudio) else read_wav(input_path)
        expected = self.params.audio_in_sample_rate
        if expected is not None and expected != self.caller.sample_rate:
            raise AudioFormatError(
                f"expected a caller WAV at {expected} Hz, got {self.caller.sample_rate} Hz"
            )
        if self.caller.num_channels not in (1, 2):
            raise AudioFormatError(
                f"expected a mono or stereo caller WAV, got {self.caller.num_channels} channels"
            )
        self.output_path = Path(output_path) if output_path is not None else None
        self.end_on_eof = end_on_eof
        self.hangup_after_secs = hangup_after_secs
        self.max_linger_secs = max_linger_secs
        self.recording = CallRecording(sample_rate=self.params.audio_out_sample_rate or 24000)
        self.caller_finished_at: float | None = None
        self.last_user_stop: float | None = None
        self.last_bot_audio = 0.0
        self.bot_speaking = False
        self.written: Path | None = None
        self._input: _FileInput | None = None
        self._output: _FileOutput | None = None
        self._recording_started = False
        self._output_started = asyncio.Event()
        self._finished = False

    def input(self) -> BaseInputTransport:
        if self._input is None:
            self._input = _FileInput(self, name="FileTransport.input")
        return self._input

    def output(self) -> BaseOutputTransport:
        if self._output is None:
            self._output = _FileOutput(self, name="FileTransport.output")
        return self._output

    def _on_start(self, frame: StartFrame) -> None:
        if self._recording_started:
            return
        self._recording_started = True
        rate = self.params.audio_out_sample_rate or frame.audio_out_sample_rate
        self.recording = CallRecording(sample_rate=rate)

    def _event(self, kind: str) -> None:
        self.recording.events.append(CallEvent(self.clock.now(), kind))

    def _should_hang_up(self, now: float) -> bool:
        finished = self.caller_finished_at or 0.0
        if now - finished >= self.max_linger_secs:
            return True
        if self.bot_speaking:
            return False
        last_user = self.last_user_stop
        if last_user is not None and self.last_bot_audio <= last_user:
            return False  # the bot has not answered the last turn yet
        quiet_since = max(finished, self.last_bot_audio)
        return now - quiet_since >= self.hangup_after_secs

    def _finish(self) -> None:
        if self._finished:
            return
        self._finished = True
        if self.output_path is not None:
            self.written = self.recording.write(self.output_path)
            logger.info("call recorded to %s", self.written)
