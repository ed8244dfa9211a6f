"""Contract of the streaming resampler core, run on the compiled module and its numpy reference.

Signal quality (ripple, attenuation, delay) is measured in ``tests/audio/test_resample.py``.
"""

from __future__ import annotations

import itertools
import math
import tracemalloc

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from vani._core import resample as compiled
from vani._core.reference import resample as reference
from vani._core.resample_filter import SUPPORTED_RATES, design_filter
from vani.errors import ConfigurationError

PAIRS = list(itertools.permutations(SUPPORTED_RATES, 2))
IMPLEMENTATIONS = {"compiled": compiled.Resampler, "reference": reference.Resampler}


@pytest.fixture(params=sorted(IMPLEMENTATIONS))
def make(request: pytest.FixtureRequest) -> type[compiled.Resampler]:
    return IMPLEMENTATIONS[request.param]  # type: ignore[return-value]


def noise(num_samples: int, seed: int, scale: float = 8000.0) -> bytes:
    rng = np.random.default_rng(seed)
    return (rng.standard_normal(num_samples) * scale).clip(-32768, 32767).astype("<i2").tobytes()


def one_shot(make: type[compiled.Resampler], rates: tuple[int, int], pcm: bytes) -> bytes:
    r = make(*rates)
    return r.feed(pcm) + r.flush()


def chunked(
    make: type[compiled.Resampler], rates: tuple[int, int], pcm: bytes, sizes: list[int]
) -> bytes:
    r = make(*rates)
    out, pos, i = [], 0, 0
    while pos < len(pcm):
        size = sizes[i % len(sizes)]
        out.append(r.feed(pcm[pos : pos + size]))
        pos += size
        i += 1
    out.append(r.flush())
    return b"".join(out)


@pytest.mark.parametrize("rates", PAIRS, ids=lambda p: f"{p}")
def test_prime_and_odd_chunks_give_the_same_bytes_as_one_call(
    make: type[compiled.Resampler], rates: tuple[int, int]
) -> None:
    pcm = noise(rates[0] // 5 + 3, seed=rates[0] + rates[1])  # 200 ms and a bit
    expected = one_shot(make, rates, pcm)
    for sizes in ([1], [3, 7, 13], [101, 2, 997], [641]):
        assert chunked(make, rates, pcm, sizes) == expected, sizes


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    rates=st.sampled_from(PAIRS),
    num_bytes=st.integers(0, 3001),
    cuts=st.lists(st.integers(0, 3001), max_size=12),
    seed=st.integers(0, 2**16),
)
def test_streaming_equals_one_shot_for_any_split(
    rates: tuple[int, int], num_bytes: int, cuts: list[int], seed: int
) -> None:
    pcm = noise(num_bytes // 2 + 1, seed)[:num_bytes]
    points = sorted({c for c in cuts if c <= num_bytes} | {0, num_bytes})
    for make in IMPLEMENTATIONS.values():
        r = make(*rates)
        pieces = [r.feed(pcm[a:b]) for a, b in itertools.pairwise(points)]
        assert b"".join(pieces) + r.flush() == one_shot(make, rates, pcm)


@pytest.mark.parametrize("phase", ["minimum", "linear"])
@pytest.mark.parametrize("rates", PAIRS, ids=lambda p: f"{p}")
def test_compiled_matches_the_reference_within_one_lsb(rates: tuple[int, int], phase: str) -> None:
    t = np.arange(rates[0] // 4) / rates[0]
    tone = 20000 * np.sin(2 * np.pi * 997 * t)
    pcm = noise(len(t), seed=7, scale=3000)
    pcm = (np.frombuffer(pcm, "<i2") + tone).clip(-32768, 32767).astype("<i2").tobytes()
    runs = []
    for make in (compiled.Resampler, reference.Resampler):
        r = make(*rates, phase)
        runs.append(np.frombuffer(r.feed(pcm) + r.flush(), "<i2").astype(np.int32))
    ours, ref = runs
    assert len(ours) == len(ref)
    assert np.abs(ours - ref).max() <= 1
    # float32 accumulation moves a value across a rounding boundary now and then (<1%)
    assert np.count_nonzero(ours != ref) <= max(3, len(ref) // 100)


@pytest.mark.skipif(compiled.KERNEL != "avx", reason="this CPU has no AVX")
@pytest.mark.parametrize("rates", PAIRS, ids=lambda p: f"{p}")
def test_avx_and_baseline_loops_give_identical_bytes(rates: tuple[int, int]) -> None:
    pcm = noise(rates[0] // 10 + 1, seed=11, scale=12000)
    fast = one_shot(compiled.Resampler, rates, pcm)
    try:
        compiled._use_kernel("base")
        assert one_shot(compiled.Resampler, rates, pcm) == fast
    finally:
        compiled._use_kernel("avx")


@pytest.mark.compiled_only
def test_an_unknown_loop_is_refused() -> None:
    with pytest.raises(ValueError, match="expected kernel"):
        compiled._use_kernel("sse9")


@pytest.mark.parametrize("rates", PAIRS, ids=lambda p: f"{p}")
def test_a_stream_yields_its_duration_at_the_output_rate(
    make: type[compiled.Resampler], rates: tuple[int, int]
) -> None:
    for num_samples in (0, 1, 2, 3, 5, 159, 160, 441, 882, 1000, 4801):
        out = one_shot(make, rates, noise(num_samples, seed=num_samples))
        exact = num_samples * rates[1] / rates[0]
        assert len(out) // 2 == math.ceil(exact), num_samples
        assert abs(len(out) // 2 - round(exact)) <= 1


def test_feed_returns_only_what_the_input_determines_and_flush_the_rest(
    make: type[compiled.Resampler],
) -> None:
    r = make(8000, 48000)
    spec = design_filter(8000, 48000)
    first = r.feed(noise(160, seed=1))
    # Output k waits for input sample (k * down + delay) // up: a few samples stay behind.
    withheld = math.ceil(160 * 6) - len(first) // 2
    assert 0 < withheld <= spec.delay // spec.down + 1
    assert len(r.flush()) // 2 == withheld


def test_an_odd_byte_is_carried_into_the_next_call(make: type[compiled.Resampler]) -> None:
    pcm = noise(400, seed=3)
    whole = one_shot(make, (16000, 24000), pcm)
    r = make(16000, 24000)
    parts = [r.feed(pcm[:1]), r.feed(pcm[1:2]), r.feed(pcm[2:301]), r.feed(pcm[301:])]
    assert b"".join(parts) + r.flush() == whole


def test_a_dangling_half_sample_is_dropped_at_flush(make: type[compiled.Resampler]) -> None:
    pcm = noise(400, seed=4)
    r = make(16000, 24000)
    assert r.feed(pcm + b"\x7f") + r.flush() == one_shot(make, (16000, 24000), pcm)


def test_flush_starts_a_new_stream(make: type[compiled.Resampler]) -> None:
    pcm = noise(777, seed=5)
    r = make(44100, 16000)
    first = r.feed(pcm) + r.flush()
    assert r.feed(pcm) + r.flush() == first


def test_reset_forgets_history_and_carried_byte(make: type[compiled.Resampler]) -> None:
    pcm = noise(500, seed=6)
    r = make(48000, 22050)
    r.feed(noise(333, seed=9) + b"\x01")
    r.reset()
    assert r.feed(pcm) + r.flush() == one_shot(make, (48000, 22050), pcm)


def test_any_bytes_like_input_is_accepted(make: type[compiled.Resampler]) -> None:
    pcm = noise(320, seed=8)
    expected = one_shot(make, (16000, 8000), pcm)
    for view in (bytearray(pcm), memoryview(pcm), memoryview(np.frombuffer(pcm, "<i2"))):
        r = make(16000, 8000)
        assert r.feed(view) + r.flush() == expected


def test_silence_stays_silent_and_full_scale_saturates(make: type[compiled.Resampler]) -> None:
    r = make(8000, 16000)
    assert set(r.feed(bytes(320)) + r.flush()) == {0}
    square = np.tile(np.repeat(np.array([32767, -32768], dtype="<i2"), 4), 200).tobytes()
    out = np.frombuffer(one_shot(make, (8000, 16000), square), "<i2")
    # Gibbs overshoot clips, never wraps
    assert out.max() == 32767
    assert out.min() == -32768


def test_empty_input_produces_nothing(make: type[compiled.Resampler]) -> None:
    r = make(22050, 48000)
    assert r.feed(b"") == b""
    assert r.flush() == b""


@pytest.mark.parametrize(("in_rate", "out_rate"), [(11025, 16000), (16000, 96000), (0, 8000)])
def test_unsupported_rates_are_refused(
    make: type[compiled.Resampler], in_rate: int, out_rate: int
) -> None:
    with pytest.raises(ConfigurationError, match="expected sample rates among 8000"):
        make(in_rate, out_rate)


def test_equal_rates_are_refused_by_the_core(make: type[compiled.Resampler]) -> None:
    with pytest.raises(ConfigurationError, match="expected two different sample rates"):
        make(16000, 16000)


def test_non_buffer_input_is_a_type_error() -> None:
    with pytest.raises(TypeError):
        compiled.Resampler(16000, 8000).feed("abcd")  # type: ignore[arg-type]


@pytest.mark.parametrize("rates", PAIRS, ids=lambda p: f"{p}")
def test_every_filter_fits_the_delay_budget_and_is_shared(rates: tuple[int, int]) -> None:
    spec = design_filter(*rates)
    assert spec.phases.shape == (spec.up, spec.taps)
    assert spec.taps % 8 == 0
    assert spec.delay / (spec.up * rates[0]) < 0.5e-3  # 0 Hz group delay that is removed
    assert design_filter(*rates) is spec
    assert compiled.Resampler(*rates).taps == spec.taps


@pytest.mark.compiled_only
def test_feed_allocates_nothing_but_its_result() -> None:
    r = compiled.Resampler(48000, 16000)
    pcm = noise(960, seed=12)
    r.feed(pcm)
    tracemalloc.start()
    try:
        base, _ = tracemalloc.get_traced_memory()
        tracemalloc.reset_peak()
        out = r.feed(pcm)
        current, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    # numpy would report its buffers to tracemalloc too; only the bytes object may appear
    assert len(out) == 640
    assert peak - base <= len(out) + 64
    assert current - base <= len(out) + 64
