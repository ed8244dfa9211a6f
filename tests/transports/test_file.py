"""FileTransport: timing on one timeline, rates and channels, barge-in, broken files."""

from __future__ import annotations

import itertools
import time
from pathlib import Path

import numpy as np
import pytest

from vani.errors import AudioFormatError
from vani.frames import (
    BotSpeakingFrame,
    BotStartedSpeakingFrame,
    BotStoppedSpeakingFrame,
    Frame,
    FrameDirection,
    InputAudioRawFrame,
    TTSAudioRawFrame,
    TTSTextFrame,
)
from vani.pipeline import Pipeline, PipelineParams, PipelineRunner, PipelineTask
from vani.processors import FrameProcessor
from vani.transports.file import FileTransport
from vani.transports.wav import encode_wav, parse_wav, read_wav, write_wav

OUT_RATE = 24000


def tone(freq: float, secs: float, rate: int, amplitude: float = 0.5) -> np.ndarray:
    t = np.arange(round(secs * rate)) / rate
    return (np.sin(2 * np.pi * freq * t) * amplitude * 32767).astype("<i2")


def caller_wav(path: Path, rate: int, channels: int, bursts: list[float], secs: float) -> Path:
    """Silence with a 200 ms 440 Hz burst at each time in ``bursts``."""
    track = np.zeros(round(secs * rate), dtype="<i2")
    for at in bursts:
        burst = tone(440, 0.2, rate)
        i = round(at * rate)
        track[i : i + len(burst)] = burst
    pcm = np.repeat(track, channels).tobytes()
    return write_wav(path, pcm, sample_rate=rate, num_channels=channels)


def onsets(track: np.ndarray, rate: int, threshold: int = 3000) -> list[float]:
    """Start times (s) of loud runs separated by at least 100 ms of quiet."""
    loud = np.flatnonzero(np.abs(track.astype(np.int32)) > threshold)
    if not len(loud):
        return []
    starts = [loud[0]]
    starts += [b for a, b in itertools.pairwise(loud) if b - a > rate // 10]
    return [s / rate for s in starts]


class BurstBot(FrameProcessor):
    """Answers each caller burst: the first with ``reply_secs`` of 880 Hz (then a text frame),
    later ones by interrupting the bot. Records when frames leave the transport."""

    def __init__(self, reply_secs: float, reply_rate: int = 22050) -> None:
        super().__init__(name="BurstBot")
        self.reply_secs = reply_secs
        self.reply_rate = reply_rate
        self.bursts = 0
        self._loud = False

    async def process_frame(self, frame: Frame, direction: FrameDirection) -> None:
        await super().process_frame(frame, direction)
        await self.push_frame(frame, direction)
        if not isinstance(frame, InputAudioRawFrame):
            return
        loud = np.abs(np.frombuffer(frame.audio, dtype="<i2")).max(initial=0) > 3000
        if loud and not self._loud:
            self.bursts += 1
            if self.bursts == 1:
                audio = tone(880, self.reply_secs, self.reply_rate).tobytes()
                half = len(audio) // 4 * 2
                await self.push_frame(
                    TTSAudioRawFrame(audio=audio[:half], sample_rate=self.reply_rate)
                )
                await self.push_frame(TTSTextFrame(text="first half."))
                await self.push_frame(
                    TTSAudioRawFrame(audio=audio[half:], sample_rate=self.reply_rate)
                )
                await self.push_frame(TTSTextFrame(text="second half."))
            else:
                await self.broadcast_interruption()
        self._loud = loud


class Tap(FrameProcessor):
    """After the output: records (clock time, frame) of what leaves the transport."""

    def __init__(self, transport: FileTransport) -> None:
        super().__init__(name="Tap")
        self.transport = transport
        self.seen: list[tuple[float, Frame]] = []

    async def process_frame(self, frame: Frame, direction: FrameDirection) -> None:
        await super().process_frame(frame, direction)
        if direction is FrameDirection.DOWNSTREAM:
            self.seen.append((self.transport.clock.now(), frame))
        await self.push_frame(frame, direction)


async def run_call(transport: FileTransport, bot: BurstBot, in_rate: int = 16000) -> Tap:
    tap = Tap(transport)
    task = PipelineTask(
        Pipeline([transport.input(), bot, transport.output(), tap]),
        params=PipelineParams(audio_in_sample_rate=in_rate, audio_out_sample_rate=OUT_RATE),
        idle_timeout_secs=None,
    )
    await PipelineRunner(handle_sigint=False).run(task)
    return tap


def stereo(path: Path) -> tuple[np.ndarray, np.ndarray, int]:
    wav = read_wav(path)
    assert wav.num_channels == 2
    samples = np.frombuffer(wav.pcm, dtype="<i2").reshape(-1, 2)
    return samples[:, 0], samples[:, 1], wav.sample_rate


@pytest.mark.parametrize("rate", [8000, 16000, 44100, 48000])
@pytest.mark.parametrize("channels", [1, 2])
async def test_caller_and_bot_line_up_on_one_timeline(
    tmp_path: Path, rate: int, channels: int
) -> None:
    wav_in = caller_wav(tmp_path / "in.wav", rate, channels, bursts=[1.0], secs=2.0)
    transport = FileTransport(wav_in, tmp_path / "call.wav")
    await run_call(transport, BurstBot(reply_secs=0.5))

    left, right, out_rate = stereo(tmp_path / "call.wav")
    assert out_rate == OUT_RATE
    assert onsets(left, out_rate) == pytest.approx([1.0], abs=0.003)
    # The bot answers in the same 20 ms frame: its audio starts when the burst was heard.
    assert onsets(right, out_rate) == pytest.approx([1.0], abs=0.021)
    loud = np.flatnonzero(np.abs(right.astype(np.int32)) > 3000)
    assert (loud[-1] - loud[0]) / out_rate == pytest.approx(0.5, abs=0.002)
    assert len(left) / out_rate >= 2.0


async def test_output_emits_speaking_frames_and_releases_text_after_its_audio(
    tmp_path: Path,
) -> None:
    wav_in = caller_wav(tmp_path / "in.wav", 16000, 1, bursts=[0.5], secs=1.0)
    transport = FileTransport(wav_in, tmp_path / "call.wav")
    tap = await run_call(transport, BurstBot(reply_secs=2.0))

    def times(kind: type[Frame]) -> list[float]:
        return [t for t, f in tap.seen if isinstance(f, kind)]

    started, stopped = times(BotStartedSpeakingFrame), times(BotStoppedSpeakingFrame)
    assert started == pytest.approx([0.5], abs=0.021)
    # Stopped once playback really ended (2 s of audio; no TTS response was left open).
    assert stopped == pytest.approx([started[0] + 2.0], abs=0.001)
    speaking = times(BotSpeakingFrame)
    assert 8 <= len(speaking) <= 11  # every 200 ms of 2 s
    texts = [(t, f.text) for t, f in tap.seen if isinstance(f, TTSTextFrame)]
    assert [text for _, text in texts] == ["first half.", "second half."]
    assert texts[0][0] == pytest.approx(started[0] + 1.0, abs=0.001)
    assert texts[1][0] == pytest.approx(started[0] + 2.0, abs=0.001)
    assert transport.output().chunks_sent == pytest.approx(50, abs=1)  # 2 s in 40 ms chunks


async def test_barge_in_cuts_the_bot_within_one_chunk_and_drops_unheard_text(
    tmp_path: Path,
) -> None:
    wav_in = caller_wav(tmp_path / "in.wav", 16000, 1, bursts=[0.5, 1.5], secs=2.5)
    transport = FileTransport(wav_in, tmp_path / "call.wav")
    tap = await run_call(transport, BurstBot(reply_secs=1.6))

    _, right, out_rate = stereo(tmp_path / "call.wav")
    loud = np.flatnonzero(np.abs(right.astype(np.int32)) > 3000)
    bot_end = loud[-1] / out_rate
    interrupted = [e.time for e in transport.recording.events if e.kind == "interruption"]
    assert interrupted == pytest.approx([1.5], abs=0.021)
    assert interrupted[0] - 0.01 <= bot_end <= interrupted[0] + 0.04
    assert transport.recording.bot_chunks[-1][0] <= interrupted[0]
    texts = [f.text for _, f in tap.seen if isinstance(f, TTSTextFrame)]
    assert texts == ["first half."]  # played fully (0.5–1.3 s) before the barge-in at 1.5 s
    stopped = [t for t, f in tap.seen if isinstance(f, BotStoppedSpeakingFrame)]
    assert stopped == pytest.approx([interrupted[0]], abs=0.001)


async def test_realtime_mode_paces_on_the_wall_clock(tmp_path: Path) -> None:
    wav_in = caller_wav(tmp_path / "in.wav", 16000, 1, bursts=[0.1], secs=0.3)
    transport = FileTransport(wav_in, tmp_path / "call.wav", realtime=True, hangup_after_secs=0.1)
    began = time.perf_counter()
    await run_call(transport, BurstBot(reply_secs=0.2))
    elapsed = time.perf_counter() - began
    assert elapsed >= 0.3
    _, right, out_rate = stereo(tmp_path / "call.wav")
    assert onsets(right, out_rate) == pytest.approx([0.1], abs=0.15)  # a loaded loop may lag


def test_a_non_wav_file_gets_a_clear_error(tmp_path: Path) -> None:
    path = tmp_path / "notes.wav"
    path.write_text("these are not samples")
    with pytest.raises(AudioFormatError, match=r"is not a WAV file: expected a 'RIFF\.\.\.\.WAVE'"):
        FileTransport(path)


def test_a_missing_file_gets_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(AudioFormatError, match="cannot read WAV file"):
        FileTransport(tmp_path / "nope.wav")


def test_broken_wav_files_get_clear_errors() -> None:
    good = encode_wav(b"\x00\x01" * 100, sample_rate=16000, num_channels=1)
    with pytest.raises(AudioFormatError, match="expected a 'data' chunk"):
        parse_wav(good[:36])
    with pytest.raises(AudioFormatError, match="expected a 'fmt ' chunk"):
        parse_wav(good[:12])
    alaw = bytearray(good)
    alaw[20:22] = (6).to_bytes(2, "little")
    with pytest.raises(AudioFormatError, match=r"encoding 0x0006: expected PCM \(0x0001\)"):
        parse_wav(bytes(alaw))
    # A file cut in the middle of its data keeps the whole samples that arrived.
    assert parse_wav(good[:-3]).num_frames == 98


def test_wav_encodings_decode_to_int16() -> None:
    samples = np.array([0, 16384, -16384, 32767], dtype="<i2")
    as_float = (samples / 32768).astype("<f4").tobytes()
    header = bytearray(encode_wav(as_float, sample_rate=8000, num_channels=1))
    header[20:22] = (3).to_bytes(2, "little")  # IEEE float
    header[34:36] = (32).to_bytes(2, "little")
    header[32:34] = (4).to_bytes(2, "little")
    decoded = np.frombuffer(parse_wav(bytes(header)).pcm, dtype="<i2")
    assert np.abs(decoded.astype(int) - samples.astype(int)).max() <= 1
