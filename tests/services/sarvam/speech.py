"""The spoken fixture, cut into 20 ms frames, with VAD edges placed like a local VAD would."""

from __future__ import annotations

import math
import wave
from pathlib import Path

from vani.frames import (
    Frame,
    InputAudioRawFrame,
    VADUserStartedSpeakingFrame,
    VADUserStoppedSpeakingFrame,
)

FIXTURE = Path(__file__).parents[2] / "fixtures" / "sarvam" / "two_utterances_16k.wav"
FRAME_BYTES = 640  # 20 ms at 16 kHz
SCRIPT = ["I would like to book a table.", "For two people, at eight tonight."]


def fixture_pcm() -> bytes:
    with wave.open(str(FIXTURE)) as w:
        assert w.getframerate() == 16000
        return w.readframes(w.getnframes())


def _rms(frame: bytes) -> float:
    view = memoryview(frame).cast("h")
    return math.sqrt(sum(s * s for s in view) / max(1, len(view)))


def frames_with_vad(
    pcm: bytes, *, start_frames: int = 10, stop_frames: int = 40, threshold: float = 400.0
) -> tuple[list[Frame], list[tuple[int, int]]]:
    """Audio frames with VAD start/stop frames inserted after the frame that decided them
    (start after ``start_frames`` speech frames, stop after ``stop_frames`` silent ones).
    Returns the frames and, per turn, the audio-frame indexes (start, stop) of the edges."""
    frames: list[Frame] = []
    edges: list[tuple[int, int]] = []
    speaking = False
    run = 0
    start_index = 0
    count = len(pcm) // FRAME_BYTES
    for i in range(count):
        chunk = pcm[i * FRAME_BYTES : (i + 1) * FRAME_BYTES]
        frames.append(InputAudioRawFrame(audio=chunk, sample_rate=16000))
        loud = _rms(chunk) >= threshold
        run = run + 1 if loud != speaking else 0
        if not speaking and run >= start_frames:
            speaking, run, start_index = True, 0, i
            frames.append(VADUserStartedSpeakingFrame(start_secs=0.2, timestamp=i * 0.02))
        elif speaking and run >= stop_frames:
            speaking, run = False, 0
            edges.append((start_index, i))
            frames.append(VADUserStoppedSpeakingFrame(stop_secs=0.8, timestamp=i * 0.02))
    return frames, edges
