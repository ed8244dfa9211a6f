"""The transport interface: where audio enters and leaves a pipeline.

A :class:`Transport` gives the pipeline two processors, :meth:`Transport.input` (first) and
:meth:`Transport.output` (last, or followed by the assistant context aggregator), so the pipeline
never cares whether audio comes from a WebSocket, a phone line or a file. Every transport shares
the two halves below and only says how bytes reach the peer.

**Input** (:class:`BaseInputTransport`): the concrete transport hands each piece of caller audio
to :meth:`~BaseInputTransport.push_audio` with its rate and channel count. It is validated (a clear
:class:`~vani.errors.AudioFormatError` names the bad value), mixed down to mono and resampled by the
compiled core to the pipeline's ``audio_in_sample_rate``, then pushed as
:class:`~vani.frames.InputAudioRawFrame`.

**Output** (:class:`BaseOutputTransport`): every ordered frame that reaches the output joins one
playback queue, so it leaves the transport only after the audio queued before it has been sent.
Audio is resampled to the output rate and sent in chunks of ``audio_out_10ms_chunks`` × 10 ms
(always whole 10 ms units: a tail shorter than 10 ms is padded with silence only when nothing
follows it in time), paced against the transport's :class:`~vani.transports.clock.Clock`. The
pacing follows the client's playback timeline: each chunk plays when the one before it ends (or
now, after a stall: the timeline restarts instead of bursting to catch up), and a chunk is sent
``audio_out_send_ahead_secs`` before it plays. The schedule counts bytes, not frames, so frames
that a resampler turns into nothing never speed it up. It emits
:class:`~vani.frames.BotStartedSpeakingFrame` when the first chunk is actually sent,
:class:`~vani.frames.BotSpeakingFrame` every ``bot_speaking_interval_secs`` of playback and
:class:`~vani.frames.BotStoppedSpeakingFrame` once the last chunk has finished playing and no more
audio followed within ``bot_stop_secs`` (all three both ways). On
:class:`~vani.frames.InterruptionFrame` the queued audio and interruptible frames are dropped at
once and :meth:`~BaseOutputTransport.clear_playback` tells the client to stop playing what it holds.

**What the user heard.** TTS services push each :class:`~vani.frames.TTSTextFrame` right *after*
the audio that speaks it (Pipecat's convention). Because the text waits in the playback queue
behind that audio, it leaves the output only once its audio has been sent; a barge-in drops it
with the audio. An assistant context aggregator placed after ``transport.output()`` therefore
collects exactly the sentences the user heard.
"""

from __future__ import annotations

import asyncio
import logging
from abc import ABC, abstractmethod
from collections import deque
from dataclasses import dataclass

import numpy as np

from vani.audio.pcm import mono_to_stereo, stereo_to_mono
from vani.audio.resample import StreamResampler
from vani.errors import AudioFormatError, ConfigurationError
from vani.frames import (
    BotSpeakingFrame,
    BotStartedSpeakingFrame,
    BotStoppedSpeakingFrame,
    CancelFrame,
    EndFrame,
    Frame,
    FrameDirection,
    InputAudioRawFrame,
    InterruptionFrame,
    JSONValue,
    LLMFullResponseEndFrame,
    LLMFullResponseStartFrame,
    OutputAudioRawFrame,
    OutputTransportMessageFrame,
    OutputTransportMessageUrgentFrame,
    StartFrame,
    SystemFrame,
    TTSStartedFrame,
    TTSStoppedFrame,
)
from vani.processors import FrameProcessor
from vani.transports.clock import Clock, ClockHandle, WallClock

__all__ = [
    "MAX_SAMPLE_RATE",
    "BaseInputTransport",
    "BaseOutputTransport",
    "Transport",
    "TransportParams",
]

logger = logging.getLogger(__name__)

MAX_SAMPLE_RATE = 48000


@dataclass(slots=True)
class TransportParams:
    """Audio settings of a transport.

    ``audio_in_sample_rate``/``audio_out_sample_rate``: the peer's rates in Hz; ``None`` uses the
    pipeline's (``PipelineParams``). ``audio_out_10ms_chunks``: output chunk length in units of
    10 ms. ``bot_stop_secs``: how long the output waits for more audio after the last chunk before
    saying the bot stopped, so a TTS that is slower than real time between sentences does not make
    the bot flap between speaking and silent. ``audio_out_send_ahead_secs``: how far ahead of
    playback the output sends audio (the client's jitter margin; 0 sends each chunk when the
    previous one has finished playing, right for files; network transports use 40–80 ms).
    """

    audio_in_enabled: bool = True
    audio_in_sample_rate: int | None = None
    audio_in_channels: int = 1
    audio_out_enabled: bool = True
    audio_out_sample_rate: int | None = None
    audio_out_channels: int = 1
    audio_out_10ms_chunks: int = 4
    bot_speaking_interval_secs: float = 0.2
    bot_stop_secs: float = 0.35
    audio_out_send_ahead_secs: float = 0.0

    def __post_init__(self) -> None:
        if self.audio_out_10ms_chunks < 1:
            raise ConfigurationError(
                f"audio_out_10ms_chunks must be at least 1, got {self.audio_out_10ms_chunks}"
            )
        if not 0.0 <= self.audio_out_send_ahead_secs <= 1.0:
            raise ConfigurationError(
                "audio_out_send_ahead_secs must be between 0 and 1 s,"
                f" got {self.audio_out_send_ahead_secs}"
            )
        for name in ("audio_in_channels", "audio_out_channels"):
            value = getattr(self, name)
            if value not in (1, 2):
                raise ConfigurationError(f"{name} must be 1 or 2, got {value}")
        for name in ("audio_in_sample_rate", "audio_out_sample_rate"):
            rate = getattr(self, name)
            if rate is not None and not 8000 <= rate <= MAX_SAMPLE_RATE:
                raise ConfigurationError(
                    f"{name} must be between 8000 and {MAX_SAMPLE_RATE} Hz, got {rate}"
                )


def _downmix(pcm: bytes, num_channels: int) -> bytes:
    """Interleaved int16 channels into mono (stereo in the compiled core)."""
    if num_channels == 2:
        return stereo_to_mono(pcm)
    samples = np.frombuffer(pcm, dtype="<i2").reshape(-1, num_channels)
    mono: bytes = samples.mean(axis=1).round().astype("<i2").tobytes()
    return mono


def _upmix(pcm: bytes, num_channels: int) -> bytes:
    if num_channels == 2:
        return mono_to_stereo(pcm)
    out: bytes = np.repeat(np.frombuffer(pcm, dtype="<i2"), num_channels).tobytes()
    return out


class BaseInputTransport(FrameProcessor):
    """Validates, mixes down and resamples caller audio, then pushes it into the pipeline.

    Concrete transports call :meth:`push_audio` from their reader task.
    """

    def __init__(self, params: TransportParams, clock: Clock, *, name: str | None = None) -> None:
        super().__init__(name=name)
        self._params = params
        self._clock = clock
        self._pipeline_rate = 16000
        self._resampler: StreamResampler | None = None

    @property
    def clock(self) -> Clock:
        return self._clock

    @property
    def pipeline_sample_rate(self) -> int:
        """The rate input audio is pushed at (the pipeline's ``audio_in_sample_rate``)."""
        return self._pipeline_rate

    async def start(self, frame: StartFrame) -> None:
        await super().start(frame)
        self._pipeline_rate = frame.audio_in_sample_rate

    async def process_frame(self, frame: Frame, direction: FrameDirection) -> None:
        await super().process_frame(frame, direction)
        await self.push_frame(frame, direction)

    def convert_audio(self, audio: bytes, *, sample_rate: int, num_channels: int) -> bytes:
        """Validate ``audio`` (int16 interleaved) and return it mono at the pipeline rate.

        Raises :class:`~vani.errors.AudioFormatError` for a bad rate, channel count or length.
        """
        expected_rate = self._params.audio_in_sample_rate
        if expected_rate is not None and sample_rate != expected_rate:
            raise AudioFormatError(
                f"expected input audio at {expected_rate} Hz, got {sample_rate} Hz"
            )
        if not 8000 <= sample_rate <= MAX_SAMPLE_RATE:
            raise AudioFormatError(
                f"expected an input sample rate between 8000 and {MAX_SAMPLE_RATE} Hz,"
                f" got {sample_rate} Hz"
            )
        if num_channels not in (1, 2):
            raise AudioFormatError(f"expected 1 or 2 input channels, got {num_channels}")
        block = 2 * num_channels
        if len(audio) % block:
            raise AudioFormatError(
                f"expected a multiple of {block} bytes of {num_channels}-channel int16 audio,"
                f" got {len(audio)}"
            )
        if num_channels > 1:
            audio = _downmix(audio, num_channels)
        if sample_rate != self._pipeline_rate:
            resampler = self._resampler
            if resampler is None or resampler.in_rate != sample_rate:
                try:
                    resampler = StreamResampler(sample_rate, self._pipeline_rate)
                except ConfigurationError as exc:
                    raise AudioFormatError(f"cannot take input audio: {exc}") from exc
                self._resampler = resampler
            audio = resampler.resample(audio)
        return audio

    async def push_audio(self, audio: bytes, *, sample_rate: int, num_channels: int) -> None:
        """Push caller audio (int16 interleaved at ``sample_rate``) as an input frame."""
        if not self._params.audio_in_enabled:
            return
        pcm = self.convert_audio(audio, sample_rate=sample_rate, num_channels=num_channels)
        if pcm:
            await self.push_frame(
                InputAudioRawFrame(audio=pcm, sample_rate=self._pipeline_rate, num_channels=1)
            )


class _PlaybackMarker:
    """A queued ordered frame, released once the audio queued before it has been sent."""

    __slots__ = ("done", "frame")

    def __init__(self, frame: Frame, done: asyncio.Future[None] | None = None) -> None:
        self.frame = frame
        self.done = done


class BaseOutputTransport(FrameProcessor):
    """Paces the bot's audio out to the peer and tracks whether the bot is speaking.

    Subclasses implement :meth:`write_audio` (send one chunk), :meth:`clear_playback` (tell the
    client to drop what it buffered) and may override :meth:`send_message`. All three are called on
    the event loop from the playback task; they must not block.
    """

    def __init__(self, params: TransportParams, clock: Clock, *, name: str | None = None) -> None:
        super().__init__(name=name)
        self._params = params
        self._clock = clock
        self._out_rate = params.audio_out_sample_rate or 24000
        self._channels = params.audio_out_channels
        self._chunk_bytes = 0
        self._unit_bytes = 0  # chunks are whole units (10 ms unless the peer's format says more)
        self._min_bytes = 0  # and never shorter than this (one unit unless the peer says more)
        self._short_since: float | None = None  # when a too-short stretch began to wait
        self._send_ahead = params.audio_out_send_ahead_secs
        self._pq: deque[bytes | _PlaybackMarker] = deque()
        # Frames that wait for the audio before them to finish playing, with the clock time
        # they may leave. They wait here, beside the queue, so the audio queued after them keeps
        # flowing at the send-ahead: holding it behind them would empty the client's buffer at
        # every sentence and leave a gap.
        self._held: deque[tuple[float, _PlaybackMarker]] = deque()
        self._wake: asyncio.Future[None] | None = None
        self._resamplers: dict[int, StreamResampler] = {}
        self._playback: asyncio.Task[object] | None = None
        self._speaking = False
        self._next_send = 0.0  # clock time the next chunk is due
        self._playing_until = 0.0  # clock time the last sent chunk ends
        self._last_speaking_frame = 0.0
        self._response_open = False  # between TTSStarted/LLMFullResponseStart and their ends
        self.chunks_sent = 0

    # -- what subclasses implement --------------------------------------------------------

    @abstractmethod
    async def write_audio(self, chunk: bytes, *, at: float) -> None:
        """Send one chunk (int16, ``audio_out_channels`` interleaved at :attr:`sample_rate`);
        ``at`` is the clock time its playback starts."""

    @abstractmethod
    async def clear_playback(self, *, at: float) -> None:
        """Tell the client to stop playing now (clock time ``at``) and drop what it buffered."""

    async def send_message(self, message: JSONValue) -> None:
        """Send a non-audio message to the client. The default drops it."""
        logger.debug("%s: no message channel; dropped %r", self, message)

    def _chunk_rules(self) -> tuple[int, int]:
        """Bytes of output PCM every chunk is a whole number of, and the fewest bytes a chunk
        may hold (the stretch's end is padded with silence up to it). 10 ms and 10 ms here; a
        peer with a coarser format (a phone provider's minimum payload) says more."""
        unit = self._out_rate // 100 * 2 * self._channels
        return unit, unit

    # -- public state --------------------------------------------------------------------

    @property
    def clock(self) -> Clock:
        return self._clock

    @property
    def sample_rate(self) -> int:
        """Output sample rate in Hz (known after the StartFrame)."""
        return self._out_rate

    @property
    def chunk_secs(self) -> float:
        return self._params.audio_out_10ms_chunks / 100

    @property
    def bot_speaking(self) -> bool:
        return self._speaking

    # -- frame handling ------------------------------------------------------------------

    async def start(self, frame: StartFrame) -> None:
        await super().start(frame)
        self._out_rate = self._params.audio_out_sample_rate or frame.audio_out_sample_rate
        samples = self._out_rate * self._params.audio_out_10ms_chunks // 100
        self._chunk_bytes = samples * 2 * self._channels
        self._unit_bytes, self._min_bytes = self._chunk_rules()
        self._clock.start()
        if self._playback is None:
            self._playback = self.create_task(self._playback_loop(), name=f"{self}-playback")

    async def stop(self, frame: EndFrame) -> None:
        await self._stop_playback()
        await super().stop(frame)

    async def cancel(self, frame: CancelFrame) -> None:
        await self._stop_playback()
        await super().cancel(frame)

    async def _stop_playback(self) -> None:
        task, self._playback = self._playback, None
        if task is not None:
            await self.cancel_task(task)
        await self._clock.stop()

    async def process_frame(self, frame: Frame, direction: FrameDirection) -> None:
        if isinstance(frame, EndFrame) and direction is FrameDirection.DOWNSTREAM:
            # Play out everything queued before the EndFrame, then let the base stop us.
            if self._playback is not None and not self._playback.done():
                done: asyncio.Future[None] = asyncio.get_running_loop().create_future()
                self._enqueue(_PlaybackMarker(frame, done))
                await done
            await super().process_frame(frame, direction)
            await self.push_frame(frame, direction)
            return
        await super().process_frame(frame, direction)
        if direction is FrameDirection.UPSTREAM:
            await self.push_frame(frame, direction)
        elif isinstance(frame, InterruptionFrame):
            await self._drop_playback()
            await self.push_frame(frame, direction)
        elif isinstance(frame, OutputTransportMessageUrgentFrame):
            await self.send_message(frame.message)
        elif isinstance(frame, SystemFrame):
            await self.push_frame(frame, direction)
        elif isinstance(frame, OutputAudioRawFrame):
            if self._params.audio_out_enabled:
                audio = self._convert(frame)
                if audio:  # a resampler's first frames may come out empty
                    self._enqueue(audio)
        else:
            self._enqueue(_PlaybackMarker(frame))

    def _convert(self, frame: OutputAudioRawFrame) -> bytes:
        audio = frame.audio
        if frame.num_channels > 1:
            audio = _downmix(audio, frame.num_channels)
        if frame.sample_rate != self._out_rate:
            resampler = self._resamplers.get(frame.sample_rate)
            if resampler is None:
                resampler = StreamResampler(frame.sample_rate, self._out_rate)
                self._resamplers[frame.sample_rate] = resampler
            audio = resampler.resample(audio)
        if self._channels > 1:
            audio = _upmix(audio, self._channels)
        return audio

    def _enqueue(self, item: bytes | _PlaybackMarker) -> None:
        self._pq.append(item)
        self._poke()

    def _poke(self) -> None:
        if self._wake is not None and not self._wake.done():
            self._wake.set_result(None)

    async def _drop_playback(self) -> None:
        kept: deque[bytes | _PlaybackMarker] = deque()
        for item in self._pq:
            if isinstance(item, _PlaybackMarker) and not item.frame.interruptible:
                kept.append(item)
        self._pq = kept
        self._held.clear()  # every held frame is interruptible: the user never heard its audio
        for resampler in self._resamplers.values():
            resampler.flush()  # drop the filter state of the cut utterance
        now = self._clock.now()
        if self._playing_until > now or self._speaking:
            await self.clear_playback(at=now)
        self._playing_until = min(self._playing_until, now)
        self._next_send = now
        self._short_since = None
        self._response_open = False
        if self._speaking:
            await self._set_speaking(False)
        self._poke()

    # -- playback --------------------------------------------------------------------------

    async def _wait(self, deadline: float | None) -> None:
        """Wait for new queued items, or until ``deadline`` (or a held frame's time) comes."""
        if self._held:
            due = self._held[0][0]
            deadline = due if deadline is None else min(deadline, due)
        loop = asyncio.get_running_loop()
        self._wake = loop.create_future()
        handle: ClockHandle | None = None
        if deadline is not None:
            wake = self._wake

            def on_time() -> None:
                if not wake.done():
                    wake.set_result(None)

            handle = self._clock.call_at(deadline, on_time)
        try:
            await self._wake
        finally:
            self._wake = None
            if handle is not None:
                handle.cancel()

    def _queued_audio(self) -> tuple[int, bool]:
        """Bytes of audio at the head of the queue (up to one chunk), and whether a marker or
        the end of that audio is known to follow (a frame after it)."""
        size = 0
        for item in self._pq:
            if isinstance(item, _PlaybackMarker):
                return size, True
            size += len(item)
            if size >= self._chunk_bytes:
                return size, False
        return size, False

    def _take_chunk(self, size: int) -> bytes:
        """``size`` bytes of the audio at the head of the queue (stops at a marker), padded with
        silence to a whole number of units and at least the minimum chunk."""
        parts: list[bytes] = []
        got = 0
        while self._pq and got < size:
            head = self._pq[0]
            if isinstance(head, _PlaybackMarker):
                break
            need = size - got
            if len(head) <= need:
                parts.append(head)
                got += len(head)
                self._pq.popleft()
            else:
                parts.append(head[:need])
                self._pq[0] = head[need:]
                got = size
        if not got:
            return b""
        rest = got % self._unit_bytes if self._unit_bytes else 0
        pad = self._unit_bytes - rest if rest else 0
        pad += max(0, self._min_bytes - got - pad)
        if pad:
            parts.append(bytes(pad))
        return b"".join(parts)

    async def _playback_loop(self) -> None:
        bytes_per_sec = self._out_rate * 2 * self._channels
        while True:
            now = self._clock.now()
            if self._held and self._held[0][0] <= now:
                _, marker = self._held.popleft()
                self._track_response(marker.frame)
                await self._release(marker)
                continue
            if not self._pq:
                if self._speaking:
                    # Mid-response (TTS started, not yet stopped) more audio may be on its way:
                    # wait a little before declaring the bot silent.
                    grace = self._params.bot_stop_secs if self._response_open else 0.0
                    deadline = self._playing_until + grace
                    if now >= deadline:
                        await self._set_speaking(False)
                        continue
                    await self._wait(deadline)
                else:
                    await self._wait(None)
                continue
            head = self._pq[0]
            if isinstance(head, _PlaybackMarker):
                if head.frame.interruptible:
                    due = self._marker_due(head.frame)
                    if now < due or self._held:
                        # A frame queued after audio leaves once that audio has finished
                        # playing: the user has heard it then, and a barge-in before drops it
                        # with the audio. Frames leave in their order.
                        if self._held:
                            due = max(due, self._held[-1][0])
                        self._pq.popleft()
                        self._held.append((due, head))
                        continue
                elif self._held:
                    await self._wait(self._held[0][0])  # the held frames go first, in order
                    continue
                self._pq.popleft()
                self._track_response(head.frame)
                await self._release(head)
                continue
            if self._speaking and now < self._next_send:
                await self._wait(self._next_send)
                continue
            avail, closed = self._queued_audio()
            if avail >= self._chunk_bytes:
                size = self._chunk_bytes
            elif closed:
                size = avail  # the end of this stretch of audio: padded to a whole chunk
            elif avail >= self._min_bytes:
                size = avail - avail % self._unit_bytes  # whole units now, the rest later
            elif self._min_bytes > self._unit_bytes:
                # Under the peer's minimum (Exotel's 3.2 KB payloads): padding it now would put
                # silence inside the speech, so the TTS gets up to one minimum's time to add
                # more; only a stretch that stays short is padded.
                if self._short_since is None:
                    self._short_since = now
                due = self._short_since + self._min_bytes / bytes_per_sec
                if now < due:
                    await self._wait(due)
                    continue
                size = avail
            elif now < self._playing_until:
                # Under a unit while audio still plays: give the TTS until then to add more.
                await self._wait(self._playing_until)
                continue
            else:
                size = avail
            chunk = self._take_chunk(size)
            if not chunk:
                continue
            self._short_since = None
            start = max(self._clock.now(), self._playing_until)
            # The chunk goes to the writer before the speaking state is pushed: the first
            # audio of a reply is on its way before the observers deliver the turn's burst of
            # client messages (BotStartedSpeakingFrame is delivered at once, with all before it).
            await self.write_audio(chunk, at=start)
            if not self._speaking:
                await self._set_speaking(True)
            self.chunks_sent += 1
            duration = len(chunk) / bytes_per_sec
            self._playing_until = start + duration
            self._next_send = self._playing_until - self._send_ahead
            if start - self._last_speaking_frame >= self._params.bot_speaking_interval_secs:
                self._last_speaking_frame = start
                await self._push_both(BotSpeakingFrame)

    def _marker_due(self, frame: Frame) -> float:
        """Clock time an interruptible frame queued after audio may be released: when that audio
        has played out by the pacing clock. A subclass that learns playback from the peer (phone
        providers' marks) returns 0 and holds the frame itself until the peer confirms."""
        return self._playing_until

    def _track_response(self, frame: Frame) -> None:
        if isinstance(frame, TTSStartedFrame | LLMFullResponseStartFrame):
            self._response_open = True
        elif isinstance(frame, TTSStoppedFrame | LLMFullResponseEndFrame):
            self._response_open = False

    async def _release(self, marker: _PlaybackMarker) -> None:
        frame = marker.frame
        if marker.done is not None:
            # EndFrame: the call really ends when the last chunk has finished playing.
            await self._clock.sleep_until(self._playing_until)
            if self._speaking:
                await self._set_speaking(False)
            if not marker.done.done():
                marker.done.set_result(None)
            return
        if isinstance(frame, OutputTransportMessageFrame):
            await self.send_message(frame.message)
            return
        await self.push_frame(frame)

    async def _set_speaking(self, speaking: bool) -> None:
        if speaking == self._speaking:
            return
        self._speaking = speaking
        if speaking:
            self._last_speaking_frame = self._clock.now()
            await self._push_both(BotStartedSpeakingFrame)
        else:
            await self._push_both(BotStoppedSpeakingFrame)

    async def _push_both(
        self,
        cls: type[BotStartedSpeakingFrame | BotStoppedSpeakingFrame | BotSpeakingFrame],
    ) -> None:
        await self.push_frame(cls(), FrameDirection.DOWNSTREAM)
        await self.push_frame(cls(), FrameDirection.UPSTREAM)


class Transport(ABC):
    """A source and sink of a call's audio: ``input()`` goes first in the pipeline, ``output()``
    last (before the assistant context aggregator). Both share :attr:`clock`."""

    def __init__(self, params: TransportParams | None = None, clock: Clock | None = None) -> None:
        self.params = params or TransportParams()
        self.clock = clock or WallClock()

    @abstractmethod
    def input(self) -> BaseInputTransport:
        """The processor that pushes the caller's audio into the pipeline."""

    @abstractmethod
    def output(self) -> BaseOutputTransport:
        """The processor that plays the bot's audio to the caller."""
