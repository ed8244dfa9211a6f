"""Streaming resampler cost per 20 ms chunk, bytes in and bytes out, for every supported pair.

One group per rate pair: vani's ``StreamResampler.resample`` against raw ``soxr.ResampleStream``
(HQ, int16) fed the same bytes (``np.frombuffer`` in, ``.tobytes()`` out, which is what a bytes
pipeline has to do around it). Inputs are seeded noise at -20 dBFS. Each round times 50
consecutive calls, so quote the median (it is per call). Run with
``pytest benchmarks/bench_resample.py --benchmark-only`` (add ``-k "48000-8000"`` for one pair);
``--benchmark-disable`` runs each once as a plain test. Pipecat's resampler is measured by
``benchmarks/pipecat_resample.py``, which runs under either interpreter.

The ``linear`` groups (the pairs a Pipecat bot meets) time the linear-phase family that
``vani.contrib.pipecat.SOXRStreamAudioResampler`` runs to match soxr's default, against soxr at
that default (VHQ), which is what Pipecat's own resampler runs.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable

import numpy as np
import pytest
import soxr
from pytest_benchmark.fixture import BenchmarkFixture

from vani.audio.resample import SUPPORTED_RATES, StreamResampler

PAIRS = [pytest.param(p, id=f"{p[0]}-{p[1]}") for p in itertools.permutations(SUPPORTED_RATES, 2)]


def chunk_20ms(rate: int) -> bytes:
    rng = np.random.default_rng(rate)
    return (rng.standard_normal(rate // 50) * 3277).astype("<i2").tobytes()


def warmed(fn: Callable[[], bytes]) -> Callable[[], bytes]:
    for _ in range(50):  # past the filter's start-up, into steady state
        fn()
    return fn


def timed(benchmark: BenchmarkFixture, fn: Callable[[], bytes]) -> bytes:
    # Each round times 50 consecutive chunks: soxr works in blocks (most calls only buffer, a few
    # do a block's work), so only a run of calls shows its real cost per chunk, and rounds of 50
    # keep a preempted call on this shared machine from skewing the median.
    out: bytes = benchmark.pedantic(fn, iterations=50, rounds=100, warmup_rounds=2)
    return out


def check(out: bytes, rates: tuple[int, int]) -> None:
    expected = rates[1] // 50
    assert abs(len(out) // 2 - expected) <= 1


@pytest.mark.parametrize("rates", PAIRS)
def test_vani_stream_resampler(benchmark: BenchmarkFixture, rates: tuple[int, int]) -> None:
    benchmark.group = f"resample 20 ms {rates[0]}->{rates[1]}"
    pcm = chunk_20ms(rates[0])
    resample = StreamResampler(*rates).resample
    check(timed(benchmark, warmed(lambda: resample(pcm))), rates)


@pytest.mark.parametrize("rates", PAIRS)
def test_soxr_resample_stream_hq(benchmark: BenchmarkFixture, rates: tuple[int, int]) -> None:
    benchmark.group = f"resample 20 ms {rates[0]}->{rates[1]}"
    pcm = chunk_20ms(rates[0])
    stream = soxr.ResampleStream(rates[0], rates[1], 1, dtype="int16", quality="HQ")

    def run() -> bytes:
        out: bytes = stream.resample_chunk(np.frombuffer(pcm, dtype=np.int16)).tobytes()
        return out

    # soxr works in blocks: one call may return more or less than 20 ms, never an odd length
    assert len(timed(benchmark, warmed(run))) % 2 == 0


LINEAR_PAIRS = [
    pytest.param(p, id=f"{p[0]}-{p[1]}")
    for p in [(16000, 8000), (8000, 16000), (24000, 16000), (48000, 16000)]
]


@pytest.mark.parametrize("rates", LINEAR_PAIRS)
def test_vani_stream_resampler_linear(benchmark: BenchmarkFixture, rates: tuple[int, int]) -> None:
    benchmark.group = f"resample 20 ms linear {rates[0]}->{rates[1]}"
    pcm = chunk_20ms(rates[0])
    try:
        resample = StreamResampler(*rates, phase="linear").resample
    except TypeError:  # benchmarks/regress.py against a base without the linear family
        pytest.skip("this vani has no linear-phase resampler")
    check(timed(benchmark, warmed(lambda: resample(pcm))), rates)


@pytest.mark.parametrize("rates", LINEAR_PAIRS)
def test_soxr_resample_stream_vhq(benchmark: BenchmarkFixture, rates: tuple[int, int]) -> None:
    benchmark.group = f"resample 20 ms linear {rates[0]}->{rates[1]}"
    pcm = chunk_20ms(rates[0])
    stream = soxr.ResampleStream(rates[0], rates[1], 1, dtype="int16", quality="VHQ")

    def run() -> bytes:
        out: bytes = stream.resample_chunk(np.frombuffer(pcm, dtype=np.int16)).tobytes()
        return out

    assert len(timed(benchmark, warmed(run))) % 2 == 0
