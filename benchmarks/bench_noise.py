"""Noise suppression CPU per 20 ms frame of one call: the high-pass alone, RNNoise with the
resampling to 48 kHz and back, at 8 and 16 kHz.

    PYTHONPATH=. pytest benchmarks/bench_noise.py --benchmark-only --benchmark-group-by=group
    PYTHONPATH=. pytest benchmarks/bench_noise.py --benchmark-disable   # quick: each runs once
"""

from __future__ import annotations

import numpy as np
import pytest

from vani.audio.noise import HighPassFilter, RNNoiseFilter


def _chunk(rate: int) -> bytes:
    rng = np.random.default_rng(3)
    return (rng.standard_normal(rate // 50) * 2000).astype(np.int16).tobytes()


@pytest.mark.benchmark(group="noise-per-20ms")
@pytest.mark.parametrize("rate", [8000, 16000])
def test_rnnoise_with_high_pass(benchmark: pytest.FixtureRequest, rate: int) -> None:
    f = RNNoiseFilter()
    f.setup(rate)
    chunk = _chunk(rate)
    out = benchmark(f.process, chunk)  # type: ignore[operator]
    assert len(out) == len(chunk)
    f.close()


@pytest.mark.benchmark(group="noise-per-20ms")
@pytest.mark.parametrize("rate", [8000, 16000])
def test_high_pass_only(benchmark: pytest.FixtureRequest, rate: int) -> None:
    hp = HighPassFilter(rate)
    samples = np.frombuffer(_chunk(rate), dtype=np.int16)
    out = benchmark(hp.process, samples)  # type: ignore[operator]
    assert len(out) == len(samples)
