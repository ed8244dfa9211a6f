"""Contract of PCMChunker, run on the compiled class and its pure-Python reference."""

from __future__ import annotations

import itertools

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from vani._core import chunker as compiled
from vani._core.reference import chunker as reference
from vani.errors import ConfigurationError

IMPLEMENTATIONS = {"compiled": compiled.PCMChunker, "reference": reference.PCMChunker}


@pytest.fixture(params=sorted(IMPLEMENTATIONS))
def make(request: pytest.FixtureRequest) -> type[compiled.PCMChunker]:
    return IMPLEMENTATIONS[request.param]  # type: ignore[return-value]


def stream(num_bytes: int) -> bytes:
    # Every byte differs from its neighbours, so a dropped, doubled or shifted byte shows.
    return bytes((i * 7 + i // 251) & 0xFF for i in range(num_bytes))


class TestPCMChunkerContract:
    @pytest.mark.parametrize(
        ("sample_rate", "frame_ms", "num_channels", "frame_bytes"),
        [(16000, 20, 1, 640), (8000, 10, 1, 160), (48000, 20, 2, 3840), (22050, 20, 1, 882)],
    )
    def test_frame_size_is_rate_times_duration_times_channels(
        self,
        make: type[compiled.PCMChunker],
        sample_rate: int,
        frame_ms: int,
        num_channels: int,
        frame_bytes: int,
    ) -> None:
        chunker = make(sample_rate, frame_ms, num_channels)
        assert chunker.frame_bytes == frame_bytes
        assert (chunker.sample_rate, chunker.frame_ms, chunker.num_channels) == (
            sample_rate,
            frame_ms,
            num_channels,
        )

    def test_default_frame_is_20_ms_mono(self, make: type[compiled.PCMChunker]) -> None:
        assert make(16000).frame_bytes == 640

    @pytest.mark.parametrize(
        ("args", "message"),
        [
            ((0,), "positive sample_rate"),
            ((16000, 15), "multiple of 10, got 15"),
            ((16000, 0), "multiple of 10, got 0"),
            ((16000, 20, 0), "positive num_channels"),
            ((22050, 10), "whole samples at 22050 Hz, got 10 ms"),
        ],
    )
    def test_bad_settings_are_refused(
        self, make: type[compiled.PCMChunker], args: tuple[int, ...], message: str
    ) -> None:
        with pytest.raises(ConfigurationError, match=message):
            make(*args)

    def test_remainders_carry_across_calls(self, make: type[compiled.PCMChunker]) -> None:
        chunker = make(8000, 10)  # 160-byte frames
        data = stream(500)
        assert chunker.feed(data[:100]) == []
        assert chunker.pending_bytes == 100
        assert chunker.feed(data[100:330]) == [data[:160], data[160:320]]
        assert chunker.pending_bytes == 10
        assert chunker.feed(data[330:500]) == [data[320:480]]
        assert chunker.flush(pad=False) == data[480:500]

    def test_half_a_sample_is_kept_and_completed(self, make: type[compiled.PCMChunker]) -> None:
        chunker = make(8000, 10)
        data = stream(321)
        frames = []
        for i in range(0, 321, 3):  # 3-byte pieces: every other one ends inside a sample
            frames += chunker.feed(data[i : i + 3])
        assert frames == [data[:160], data[160:320]]
        assert chunker.flush(pad=False) == data[320:]  # the lone low byte of a sample

    def test_flush_pads_the_tail_with_silence(self, make: type[compiled.PCMChunker]) -> None:
        chunker = make(8000, 10)
        chunker.feed(b"\x01\x02\x03")
        assert chunker.flush() == b"\x01\x02\x03" + bytes(157)
        assert chunker.pending_bytes == 0
        assert chunker.flush() == b""
        assert chunker.flush(pad=False) == b""

    def test_flush_starts_a_new_stream(self, make: type[compiled.PCMChunker]) -> None:
        chunker = make(8000, 10)
        data = stream(170)
        chunker.feed(b"\xff" * 15)
        chunker.flush()
        assert chunker.feed(data) == [data[:160]]

    def test_reset_drops_the_tail(self, make: type[compiled.PCMChunker]) -> None:
        chunker = make(8000, 10)
        data = stream(160)
        chunker.feed(b"\xff" * 99)
        chunker.reset()
        assert chunker.pending_bytes == 0
        assert chunker.feed(data) == [data]

    def test_frames_are_bytes_for_any_bytes_like_input(
        self, make: type[compiled.PCMChunker]
    ) -> None:
        data = stream(480)
        for form in (data, bytearray(data), memoryview(data)):
            frames = make(8000, 10).feed(form)
            assert frames == [data[:160], data[160:320], data[320:]]
            assert all(type(f) is bytes for f in frames)

    def test_a_mutated_input_buffer_does_not_change_frames(
        self, make: type[compiled.PCMChunker]
    ) -> None:
        chunker = make(8000, 10)
        buf = bytearray(stream(200))
        frames = chunker.feed(buf)
        buf[:] = bytes(200)
        assert frames == [stream(160)]
        assert chunker.flush(pad=False) == stream(200)[160:]

    def test_stereo_frames_hold_whole_sample_pairs(self, make: type[compiled.PCMChunker]) -> None:
        chunker = make(8000, 10, 2)
        data = stream(1000)
        frames = chunker.feed(data[:7]) + chunker.feed(data[7:])
        assert [len(f) for f in frames] == [320, 320, 320]
        assert b"".join(frames) == data[:960]


def test_whole_frame_input_is_returned_without_copying() -> None:
    chunker = compiled.PCMChunker(16000)
    frame = stream(640)
    assert chunker.feed(frame)[0] is frame


@settings(max_examples=150, deadline=None)
@given(
    num_bytes=st.integers(0, 2000),
    cuts=st.lists(st.integers(0, 2000), max_size=20),
    frame_ms=st.sampled_from([10, 20, 30]),
    num_channels=st.sampled_from([1, 2]),
)
def test_streaming_equals_one_shot_for_any_split(
    num_bytes: int, cuts: list[int], frame_ms: int, num_channels: int
) -> None:
    data = stream(num_bytes)
    points = sorted({c for c in cuts if c <= num_bytes} | {0, num_bytes})
    results = []
    for make in IMPLEMENTATIONS.values():
        whole = make(8000, frame_ms, num_channels)
        expected = [*whole.feed(data), whole.flush(pad=False)]
        split = make(8000, frame_ms, num_channels)
        frames: list[bytes] = []
        for a, b in itertools.pairwise(points):
            frames += split.feed(data[a:b])
        assert [*frames, split.flush(pad=False)] == expected
        assert b"".join(expected) == data
        assert all(len(f) == split.frame_bytes for f in expected[:-1])
        results.append(expected)
    assert results[0] == results[1]
