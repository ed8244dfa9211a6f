"""Contract tests for the VAD windower and state machine, run on the compiled core and on its
pure-Python reference alike, plus a differential test between the two."""

from __future__ import annotations

import itertools
import types

import numpy as np
import numpy.typing as npt
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import vani._core.reference.vad as reference
import vani._core.vad as compiled

IMPLS = [pytest.param(compiled, id="compiled"), pytest.param(reference, id="reference")]
Q, S1, SP, S0 = compiled.QUIET, compiled.STARTING, compiled.SPEAKING, compiled.STOPPING


def _pcm(num_samples: int, seed: int = 0) -> npt.NDArray[np.int16]:
    return np.random.default_rng(seed).integers(-32768, 32768, num_samples, dtype=np.int16)


def _expected_rows(x: npt.NDArray[np.int16], window: int) -> npt.NDArray[np.float32]:
    context = window // 8
    padded = np.concatenate([np.zeros(context, np.int16), x])
    rows = [padded[k * window : k * window + window + context] for k in range(len(x) // window)]
    return (np.array(rows, dtype=np.float32) / 32768).reshape(-1, window + context)


def _drain(windower: object, batch: npt.NDArray[np.float32], rows: list[npt.NDArray[np.float32]]):
    for _ in range(windower.pending):  # type: ignore[attr-defined]
        windower.take(batch, 0)  # type: ignore[attr-defined]
        rows.append(batch[0].copy())


# --------------------------------------------------------------------------------------------
# Windower


@pytest.mark.parametrize("impl", IMPLS)
@pytest.mark.parametrize(("rate", "window", "context"), [(16000, 512, 64), (8000, 256, 32)])
def test_windower_sizes_follow_the_sample_rate(
    impl: types.ModuleType, rate: int, window: int, context: int
) -> None:
    w = impl.VADWindower(rate)
    assert (w.window_size, w.context_size, w.row_size) == (window, context, window + context)


@pytest.mark.parametrize("impl", IMPLS)
def test_windower_rejects_a_rate_silero_does_not_take(impl: types.ModuleType) -> None:
    with pytest.raises(ValueError, match="expected a sample rate of 8000 or 16000 Hz, got 44100"):
        impl.VADWindower(44100)


@pytest.mark.parametrize("impl", IMPLS)
@pytest.mark.parametrize("rate", [16000, 8000])
def test_windower_writes_context_then_window_scaled_to_unit_range(
    impl: types.ModuleType, rate: int
) -> None:
    w = impl.VADWindower(rate)
    x = _pcm(w.window_size * 3 + 100)
    assert w.feed(x.tobytes()) == 3
    batch = np.full((4, w.row_size), 9.0, dtype=np.float32)
    for row in (2, 0, 3):
        w.take(batch, row)
    expected = _expected_rows(x, w.window_size)
    np.testing.assert_array_equal(batch[[2, 0, 3]], expected)
    assert (batch[1] == 9.0).all(), "a row that was not asked for is untouched"
    assert w.pending == 0
    assert w.buffered_samples == 100
    assert w.windows_taken == 3


@pytest.mark.parametrize("impl", IMPLS)
def test_windower_take_without_a_ready_window_raises(impl: types.ModuleType) -> None:
    w = impl.VADWindower(16000)
    w.feed(bytes(1000))
    with pytest.raises(ValueError, match="no complete window is ready"):
        w.take(np.zeros((1, 576), np.float32), 0)


@pytest.mark.parametrize("impl", IMPLS)
def test_windower_rejects_a_batch_of_the_wrong_width_or_a_row_outside_it(
    impl: types.ModuleType,
) -> None:
    w = impl.VADWindower(16000)
    w.feed(bytes(1024))
    with pytest.raises(ValueError, match="expected batch rows of 576 samples, got 512"):
        w.take(np.zeros((1, 512), np.float32), 0)
    with pytest.raises(IndexError, match="row 1 outside a batch of 1 rows"):
        w.take(np.zeros((1, 576), np.float32), 1)


@pytest.mark.parametrize("impl", IMPLS)
def test_windower_volume_is_rms_dbfs_on_a_zero_to_one_scale(impl: types.ModuleType) -> None:
    w = impl.VADWindower(16000)
    t = np.arange(1024)
    amplitude = 32768 * 10 ** (-20 / 20) * np.sqrt(2)  # a sine at -20 dBFS RMS
    sine = np.round(amplitude * np.sin(2 * np.pi * 1000 * t / 16000)).astype(np.int16)
    w.feed(np.zeros(512, np.int16).tobytes() + sine[:512].tobytes())
    batch = np.zeros((1, 576), np.float32)
    assert w.take(batch, 0) == 0.0
    assert w.take(batch, 0) == pytest.approx((-20 + 110) / 100, abs=1e-3)


@pytest.mark.parametrize("impl", IMPLS)
def test_windower_flush_pads_the_tail_with_zeros_and_drops_a_lone_byte(
    impl: types.ModuleType,
) -> None:
    w = impl.VADWindower(8000)
    x = _pcm(300)
    w.feed(x.tobytes() + b"\x7f")
    assert w.flush() == 2
    batch = np.zeros((2, 288), np.float32)
    w.take(batch, 0)
    w.take(batch, 1)
    expected = _expected_rows(np.concatenate([x, np.zeros(212, np.int16)]), 256)
    np.testing.assert_array_equal(batch, expected)
    assert w.flush() == 0


@pytest.mark.parametrize("impl", IMPLS)
def test_windower_reset_forgets_samples_and_context(impl: types.ModuleType) -> None:
    w = impl.VADWindower(16000)
    w.feed(_pcm(700).tobytes() + b"\x01")
    w.reset()
    x = _pcm(512, seed=1)
    w.feed(x.tobytes())
    batch = np.zeros((1, 576), np.float32)
    w.take(batch, 0)
    np.testing.assert_array_equal(batch, _expected_rows(x, 512))


@pytest.mark.parametrize("impl", IMPLS)
@settings(max_examples=60, deadline=None)
@given(
    num_samples=st.integers(0, 3000),
    cuts=st.lists(st.integers(0, 6001), max_size=12),
    rate=st.sampled_from([16000, 8000]),
)
def test_windower_streaming_equals_one_shot_for_any_split(
    impl: types.ModuleType, num_samples: int, cuts: list[int], rate: int
) -> None:
    data = _pcm(num_samples, seed=num_samples).tobytes()
    bounds = sorted({0, len(data), *(c for c in cuts if c <= len(data))})
    one_shot, streamed = impl.VADWindower(rate), impl.VADWindower(rate)
    batch = np.zeros((1, one_shot.row_size), np.float32)
    expected: list[npt.NDArray[np.float32]] = []
    one_shot.feed(data)
    _drain(one_shot, batch, expected)
    got: list[npt.NDArray[np.float32]] = []
    for a, b in itertools.pairwise(bounds):
        streamed.feed(data[a:b])  # odd cuts split samples in half
        _drain(streamed, batch, got)
    assert len(got) == len(expected) == num_samples // one_shot.window_size
    for g, e in zip(got, expected, strict=True):
        np.testing.assert_array_equal(g, e)
    assert streamed.buffered_samples == one_shot.buffered_samples


@settings(max_examples=40, deadline=None)
@given(data=st.binary(min_size=0, max_size=4000), rate=st.sampled_from([16000, 8000]))
def test_compiled_windower_matches_the_reference(data: bytes, rate: int) -> None:
    c, r = compiled.VADWindower(rate), reference.VADWindower(rate)
    assert c.feed(data) == r.feed(data)
    bc = np.zeros((1, c.row_size), np.float32)
    br = np.zeros((1, c.row_size), np.float32)
    for _ in range(c.pending):
        assert c.take(bc, 0) == pytest.approx(r.take(br, 0), abs=1e-5)
        np.testing.assert_array_equal(bc, br)


# --------------------------------------------------------------------------------------------
# State machine


def _machine(impl: types.ModuleType, **overrides: float) -> object:
    # 16 kHz: 32 ms windows; start after 3 windows (0.096 s), stop after 5 (0.16 s).
    params = {"confidence": 0.5, "start_secs": 0.096, "stop_secs": 0.16, "min_volume": 0.3}
    params.update(overrides)
    return impl.VADStateMachine(16000, **params)


def _run(machine: object, probs: list[float], volume: float = 0.8) -> list[tuple[int, ...]]:
    p = np.array(probs, np.float32)
    v = np.full(len(probs), volume, np.float32)
    return [e.astuple() for e in machine.feed(p, v)]  # type: ignore[attr-defined]


@pytest.mark.parametrize("impl", IMPLS)
def test_start_then_stop_inside_one_buffer_returns_every_transition(
    impl: types.ModuleType,
) -> None:
    m = _machine(impl)
    events = _run(m, [0, 0.9, 0.9, 0.9, 0.9, 0, 0, 0, 0, 0, 0])
    assert events == [
        (Q, S1, 512, 1024),
        (S1, SP, 512, 2048),  # decided after the third speech window, edge at its first
        (SP, S0, 2560, 3072),
        (S0, Q, 2560, 5120),  # fifth silent window
    ]
    assert m.state == Q  # type: ignore[attr-defined]


@pytest.mark.parametrize("impl", IMPLS)
def test_event_timestamps_are_seconds_of_stream_audio(impl: types.ModuleType) -> None:
    m = _machine(impl)
    started = m.feed(np.array([0, 0, 0.9, 0.9, 0.9], np.float32), np.full(5, 0.8, np.float32))  # type: ignore[attr-defined]
    assert started[-1].started
    assert not started[-1].stopped
    assert started[-1].timestamp == pytest.approx(2 * 0.032)
    assert started[-1].decided_secs == pytest.approx(5 * 0.032)


@pytest.mark.parametrize("impl", IMPLS)
def test_a_start_shorter_than_start_secs_falls_back_to_quiet(impl: types.ModuleType) -> None:
    events = _run(_machine(impl), [0.9, 0.9, 0.1, 0.1])
    assert events == [(Q, S1, 0, 512), (S1, Q, 1024, 1536)]


@pytest.mark.parametrize("impl", IMPLS)
def test_speech_resuming_before_stop_secs_keeps_the_turn(impl: types.ModuleType) -> None:
    events = _run(_machine(impl), [0.9] * 3 + [0.1] * 4 + [0.9] * 2)
    assert [e[:2] for e in events] == [(Q, S1), (S1, SP), (SP, S0), (S0, SP)]
    assert events[-1][2] == 7 * 512


@pytest.mark.parametrize("impl", IMPLS)
def test_zero_start_and_stop_secs_move_through_two_states_in_one_window(
    impl: types.ModuleType,
) -> None:
    events = _run(_machine(impl, start_secs=0, stop_secs=0), [0.9, 0.1])
    assert events == [(Q, S1, 0, 512), (S1, SP, 0, 512), (SP, S0, 512, 1024), (S0, Q, 512, 1024)]


@pytest.mark.parametrize("impl", IMPLS)
def test_confident_but_quiet_audio_never_starts(impl: types.ModuleType) -> None:
    m = _machine(impl, min_volume=0.6)
    assert _run(m, [1.0] * 20, volume=0.5) == []


@pytest.mark.parametrize("impl", IMPLS)
def test_volume_rises_at_once_and_falls_slowly(impl: types.ModuleType) -> None:
    m = _machine(impl, min_volume=0.6)
    # Loud speech then quiet windows still counted as speech while the smoothed volume decays:
    # 0.8 → 0.68 → 0.584 (< 0.6) so the second quiet window is the first non-speech one.
    events = _run(m, [1.0] * 3, volume=0.8) + _run(m, [1.0] * 3, volume=0.2)
    assert [e[:3] for e in events][-1] == (SP, S0, 4 * 512)
    assert m.smoothed_volume == pytest.approx(0.2 + 0.6 * 0.8**3, abs=1e-6)  # type: ignore[attr-defined]


@pytest.mark.parametrize("impl", IMPLS)
def test_flush_closes_an_open_turn(impl: types.ModuleType) -> None:
    m = _machine(impl)
    _run(m, [0.9] * 4)
    events = [e.astuple() for e in m.flush()]  # type: ignore[attr-defined]
    assert events == [(SP, S0, 2048, 2048), (S0, Q, 2048, 2048)]
    assert m.flush() == []  # type: ignore[attr-defined]
    m2 = _machine(impl)
    _run(m2, [0.9])
    assert [e.astuple() for e in m2.flush()] == [(S1, Q, 512, 512)]  # type: ignore[attr-defined]


@pytest.mark.parametrize("impl", IMPLS)
def test_reset_returns_to_quiet_at_sample_zero(impl: types.ModuleType) -> None:
    m = _machine(impl)
    _run(m, [0.9] * 10)
    m.reset()  # type: ignore[attr-defined]
    assert m.state == Q
    assert m.windows == 0
    assert _run(m, [0.9])[0] == (Q, S1, 0, 512)


@pytest.mark.parametrize("impl", IMPLS)
@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"confidence": 1.5}, "expected confidence in [0, 1], got 1.5"),
        ({"min_volume": -0.1}, "expected min_volume in [0, 1], got -0.1"),
        ({"stop_secs": -1}, "expected start_secs and stop_secs >= 0"),
    ],
)
def test_state_machine_rejects_bad_parameters(
    impl: types.ModuleType, kwargs: dict[str, float], message: str
) -> None:
    with pytest.raises(ValueError, match=message.replace("[", r"\[").replace("]", r"\]")):
        _machine(impl, **kwargs)


@pytest.mark.parametrize("impl", IMPLS)
def test_state_machine_rejects_mismatched_volumes(impl: types.ModuleType) -> None:
    with pytest.raises(ValueError, match="expected one volume per probability, got 1 for 2"):
        _machine(impl).feed(np.zeros(2, np.float32), np.zeros(1, np.float32))  # type: ignore[attr-defined]


_windows = st.lists(st.tuples(st.floats(0, 1, width=32), st.floats(0, 1, width=32)), max_size=120)


@pytest.mark.parametrize("impl", IMPLS)
@settings(max_examples=80, deadline=None)
@given(windows=_windows, cuts=st.lists(st.integers(0, 120), max_size=8))
def test_state_machine_transitions_chain_and_do_not_depend_on_buffering(
    impl: types.ModuleType, windows: list[tuple[float, float]], cuts: list[int]
) -> None:
    probs = np.array([w[0] for w in windows], np.float32)
    vols = np.array([w[1] for w in windows], np.float32)
    whole = _machine(impl).feed(probs, vols)  # type: ignore[attr-defined]
    split = _machine(impl)
    pieces = []
    bounds = sorted({0, len(windows), *(c for c in cuts if c <= len(windows))})
    for a, b in itertools.pairwise(bounds):
        pieces += split.feed(probs[a:b], vols[a:b])  # type: ignore[attr-defined]
    assert [e.astuple() for e in pieces] == [e.astuple() for e in whole]
    state = Q
    for e in whole:
        assert e.previous == state, "each transition starts where the last one ended"
        assert e.edge_sample <= e.decided_sample
        state = e.state
    flags = [e.started for e in whole if e.started or e.stopped]
    assert flags == [i % 2 == 0 for i in range(len(flags))], "starts and stops alternate"


@settings(max_examples=80, deadline=None)
@given(windows=_windows, rate=st.sampled_from([16000, 8000]))
def test_compiled_state_machine_matches_the_reference(
    windows: list[tuple[float, float]], rate: int
) -> None:
    params = {"confidence": 0.6, "start_secs": 0.1, "stop_secs": 0.2, "min_volume": 0.5}
    c = compiled.VADStateMachine(rate, **params)
    r = reference.VADStateMachine(rate, **params)
    for p, v in windows:
        assert [e.astuple() for e in c.push(p, v)] == [e.astuple() for e in r.push(p, v)]
        assert c.smoothed_volume == pytest.approx(r.smoothed_volume, abs=1e-6)
    assert [e.astuple() for e in c.flush()] == [e.astuple() for e in r.flush()]
