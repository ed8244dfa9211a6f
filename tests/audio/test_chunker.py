"""PCMChunker as a transport uses it: network reads of any size in, 20 ms frames out."""

from __future__ import annotations

import random

from vani.audio.chunker import PCMChunker


def test_network_reads_of_any_size_become_whole_20_ms_frames() -> None:
    rng = random.Random(7)
    audio = rng.randbytes(16000 * 2 * 3 + 123)  # 3 s at 16 kHz and a ragged end
    chunker = PCMChunker(sample_rate=16000, frame_ms=20)
    frames, pos = [], 0
    while pos < len(audio):
        size = rng.choice([1, 3, 511, 640, 1024, 4096])
        frames += chunker.feed(audio[pos : pos + size])
        pos += size
    tail = chunker.flush()
    assert len(frames) == 150 and all(len(f) == 640 for f in frames)
    assert b"".join(frames) == audio[: 150 * 640]
    assert tail == audio[150 * 640 :] + bytes(640 - 123)


def test_telephony_10_ms_frames_at_8_khz() -> None:
    chunker = PCMChunker(8000, frame_ms=10)
    assert chunker.frame_bytes == 160
    assert len(chunker.feed(bytes(1000))) == 6 and chunker.pending_bytes == 40
