"""PCM conversion, G.711 and chunking cost per 20 ms of audio.

Groups (one per operation), each with vani's compiled function beside the usual alternative in
the same run: numpy for int16 <-> float32, :mod:`audioop` for G.711 where the interpreter still
has it (Python < 3.13; it is what Pipecat and most telephony code call). Conversions use 20 ms at
16 kHz (the VAD's rate, 320 samples), G.711 uses 20 ms at 8 kHz (a telephony frame, 160
samples). Inputs are seeded noise at about -20 dBFS.

Run: ``pytest benchmarks/bench_audio.py --benchmark-only`` (``--benchmark-columns=median``
for the figure quoted per 20 ms); ``--benchmark-disable`` runs each once as a plain test.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable
from types import ModuleType

import numpy as np
import pytest
from pytest_benchmark.fixture import BenchmarkFixture

from vani.audio import pcm
from vani.audio.chunker import PCMChunker
from vani.audio.ring import SPSCRing


def noise(num_samples: int, seed: int) -> bytes:
    rng = np.random.default_rng(seed)
    return (rng.standard_normal(num_samples) * 3277).clip(-32768, 32767).astype("<i2").tobytes()


def _audioop() -> ModuleType | None:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        try:
            import audioop
        except ImportError:
            return None
    return audioop


AUDIOOP = _audioop()
needs_audioop = pytest.mark.skipif(AUDIOOP is None, reason="audioop was removed in Python 3.13")

PCM_16K = noise(320, seed=16)  # 20 ms at 16 kHz
FLOAT_16K = pcm.int16_to_float32(PCM_16K)
PCM_8K = noise(160, seed=8)  # 20 ms at 8 kHz
ULAW_8K = pcm.lin2ulaw(PCM_8K, 2)
ALAW_8K = pcm.lin2alaw(PCM_8K, 2)


def run(benchmark: BenchmarkFixture, group: str, fn: Callable[[], object]) -> object:
    benchmark.group = group
    return benchmark(fn)


# int16 -> float32 -------------------------------------------------------------------------------
TO_FLOAT = "int16->float32, 20 ms @ 16 kHz"


def test_vani_int16_to_float32_bytes(benchmark: BenchmarkFixture) -> None:
    out = run(benchmark, TO_FLOAT, lambda: pcm.int16_to_float32(PCM_16K))
    assert out == FLOAT_16K


def test_vani_int16_to_float32_into_batch_row(benchmark: BenchmarkFixture) -> None:
    batch = np.zeros((64, 64 + 512), np.float32)
    row = batch[5, 64 : 64 + 320]
    assert run(benchmark, TO_FLOAT, lambda: pcm.int16_to_float32_into(PCM_16K, row)) == 320
    assert row.tobytes() == FLOAT_16K


def test_numpy_astype_divide(benchmark: BenchmarkFixture) -> None:
    def convert() -> np.ndarray:
        return np.frombuffer(PCM_16K, dtype=np.int16).astype(np.float32) / 32768.0

    out = run(benchmark, TO_FLOAT, convert)
    assert isinstance(out, np.ndarray) and out.tobytes() == FLOAT_16K


def test_numpy_multiply_into_batch_row(benchmark: BenchmarkFixture) -> None:
    row = np.zeros((64, 64 + 512), np.float32)[5, 64 : 64 + 320]
    scale = np.float32(1 / 32768)

    def convert() -> np.ndarray:
        return np.multiply(np.frombuffer(PCM_16K, dtype=np.int16), scale, out=row)

    run(benchmark, TO_FLOAT, convert)
    assert row.tobytes() == FLOAT_16K


# float32 -> int16 -------------------------------------------------------------------------------
TO_INT = "float32->int16, 20 ms @ 16 kHz"


def test_vani_float32_to_int16(benchmark: BenchmarkFixture) -> None:
    assert run(benchmark, TO_INT, lambda: pcm.float32_to_int16(FLOAT_16K)) == PCM_16K


def test_numpy_rint_clip_astype(benchmark: BenchmarkFixture) -> None:
    def convert() -> bytes:
        x = np.frombuffer(FLOAT_16K, dtype=np.float32) * np.float32(32768)
        return np.clip(np.rint(x), -32768, 32767).astype(np.int16).tobytes()

    assert run(benchmark, TO_INT, convert) == PCM_16K


# G.711 -----------------------------------------------------------------------------------------
ULAW_ENC = "mu-law encode, 20 ms @ 8 kHz"
ULAW_DEC = "mu-law decode, 20 ms @ 8 kHz"
ALAW_ENC = "A-law encode, 20 ms @ 8 kHz"
ALAW_DEC = "A-law decode, 20 ms @ 8 kHz"


def test_vani_ulaw_encode(benchmark: BenchmarkFixture) -> None:
    assert run(benchmark, ULAW_ENC, lambda: pcm.ulaw_encode(PCM_8K)) == ULAW_8K


def test_vani_ulaw_decode(benchmark: BenchmarkFixture) -> None:
    assert run(benchmark, ULAW_DEC, lambda: pcm.ulaw_decode(ULAW_8K)) == pcm.ulaw2lin(ULAW_8K, 2)


def test_vani_alaw_encode(benchmark: BenchmarkFixture) -> None:
    assert run(benchmark, ALAW_ENC, lambda: pcm.alaw_encode(PCM_8K)) == ALAW_8K


def test_vani_alaw_decode(benchmark: BenchmarkFixture) -> None:
    assert run(benchmark, ALAW_DEC, lambda: pcm.alaw_decode(ALAW_8K)) == pcm.alaw2lin(ALAW_8K, 2)


@needs_audioop
def test_audioop_lin2ulaw(benchmark: BenchmarkFixture) -> None:
    assert AUDIOOP is not None
    assert run(benchmark, ULAW_ENC, lambda: AUDIOOP.lin2ulaw(PCM_8K, 2)) == ULAW_8K


@needs_audioop
def test_audioop_ulaw2lin(benchmark: BenchmarkFixture) -> None:
    assert AUDIOOP is not None
    out = run(benchmark, ULAW_DEC, lambda: AUDIOOP.ulaw2lin(ULAW_8K, 2))
    assert out == pcm.ulaw_decode(ULAW_8K)


@needs_audioop
def test_audioop_lin2alaw(benchmark: BenchmarkFixture) -> None:
    assert AUDIOOP is not None
    assert run(benchmark, ALAW_ENC, lambda: AUDIOOP.lin2alaw(PCM_8K, 2)) == ALAW_8K


@needs_audioop
def test_audioop_alaw2lin(benchmark: BenchmarkFixture) -> None:
    assert AUDIOOP is not None
    out = run(benchmark, ALAW_DEC, lambda: AUDIOOP.alaw2lin(ALAW_8K, 2))
    assert out == pcm.alaw_decode(ALAW_8K)


# Mixing and gain --------------------------------------------------------------------------------
MIX = "mix two streams, 20 ms @ 16 kHz"
GAIN = "gain, 20 ms @ 16 kHz"
OTHER_16K = noise(320, seed=17)


def test_vani_mix(benchmark: BenchmarkFixture) -> None:
    out = run(benchmark, MIX, lambda: pcm.mix(PCM_16K, OTHER_16K))
    assert isinstance(out, bytes) and len(out) == 640


def test_numpy_add_clip(benchmark: BenchmarkFixture) -> None:
    def mix() -> bytes:
        a = np.frombuffer(PCM_16K, np.int16).astype(np.int32)
        b = np.frombuffer(OTHER_16K, np.int16).astype(np.int32)
        return np.clip(a + b, -32768, 32767).astype(np.int16).tobytes()

    assert run(benchmark, MIX, mix) == pcm.mix(PCM_16K, OTHER_16K)


def test_vani_apply_gain(benchmark: BenchmarkFixture) -> None:
    out = run(benchmark, GAIN, lambda: pcm.apply_gain(PCM_16K, 0.5))
    assert isinstance(out, bytes) and len(out) == 640


def test_numpy_multiply_rint_clip(benchmark: BenchmarkFixture) -> None:
    def gain() -> bytes:
        x = np.frombuffer(PCM_16K, np.int16) * 0.5
        return np.clip(np.rint(x), -32768, 32767).astype(np.int16).tobytes()

    assert run(benchmark, GAIN, gain) == pcm.apply_gain(PCM_16K, 0.5)


# Chunker ---------------------------------------------------------------------------------------
CHUNK = "chunker, per 20 ms @ 16 kHz"


def test_chunker_whole_frames_as_bytes(benchmark: BenchmarkFixture) -> None:
    chunker = PCMChunker(16000, 20)
    frames = run(benchmark, CHUNK, lambda: chunker.feed(PCM_16K))
    assert frames == [PCM_16K]


def test_chunker_whole_frames_from_a_bytearray(benchmark: BenchmarkFixture) -> None:
    chunker = PCMChunker(16000, 20)
    frame = bytearray(PCM_16K)
    assert run(benchmark, CHUNK, lambda: chunker.feed(frame)) == [PCM_16K]


def test_chunker_ragged_reads(benchmark: BenchmarkFixture) -> None:
    # 2 x 320 bytes, then 640 bytes as 213 + 427: the carry path, two frames per round.
    chunker = PCMChunker(16000, 20)
    pieces = [PCM_16K[:320], PCM_16K[320:], PCM_16K[:213], PCM_16K[213:]]

    def feed_40_ms() -> list[bytes]:
        return [f for piece in pieces for f in chunker.feed(piece)]

    assert run(benchmark, CHUNK + " (2 frames per round)", feed_40_ms) == [PCM_16K, PCM_16K]


# Ring ------------------------------------------------------------------------------------------
RING = "SPSC ring write + read, 20 ms @ 16 kHz"


def test_ring_write_then_read(benchmark: BenchmarkFixture) -> None:
    ring = SPSCRing(4096)

    def cycle() -> bytes:
        ring.write(PCM_16K)
        return ring.read(640)

    assert run(benchmark, RING, cycle) == PCM_16K


def test_ring_write_then_read_into(benchmark: BenchmarkFixture) -> None:
    ring = SPSCRing(4096)
    buf = bytearray(640)

    def cycle() -> int:
        ring.write(PCM_16K)
        return ring.read_into(buf)

    assert run(benchmark, RING, cycle) == 640
    assert buf == PCM_16K
