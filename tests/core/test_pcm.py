"""Contract of the PCM core, run on the compiled module and its pure-Python reference.

G.711 is checked for every one of the 65,536 inputs against tables derived here from the
decision values of ITU-T G.711 (Tables 1a and 2a), not from vani's code, and, where Python
still ships it (before 3.13), against :mod:`audioop` itself.
"""

from __future__ import annotations

import bisect
import math
import warnings
from types import ModuleType

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from vani._core import pcm as compiled
from vani._core.reference import pcm as reference
from vani.errors import AudioFormatError, ConfigurationError

IMPLEMENTATIONS = {"compiled": compiled, "reference": reference}
ALL_INT16 = np.arange(-32768, 32768, dtype=np.int16)


def s16(values: list[int] | np.ndarray) -> bytes:
    return np.asarray(values, dtype=np.int16).tobytes()


def f32(values: list[float] | np.ndarray) -> bytes:
    return np.asarray(values, dtype=np.float32).tobytes()


def samples(data: bytes) -> list[int]:
    return np.frombuffer(data, dtype=np.int16).tolist()


# ---------------------------------------------------------------------------------------------
# G.711 tables from the standard's decision values.


def _mu_law_upper_edges() -> list[int]:
    """Upper decision values of the 128 μ-law magnitude intervals (14-bit scale, max 8159).

    G.711 Table 2a: the first interval is [0, 1), then 15 steps of 2 up to 31; each further
    segment is 16 steps, doubling: 4 up to 95, 8 up to 223, ..., 256 up to 8159.
    """
    edges = [1 + 2 * j for j in range(16)]  # 1, 3, ..., 31
    for seg in range(1, 8):
        step = 2 ** (seg + 1)
        edges += [edges[-1] + step * (j + 1) for j in range(16)]
    assert edges[-1] == 8159 and len(edges) == 128
    return edges


def _a_law_upper_edges() -> list[int]:
    """Upper decision values of the 128 A-law magnitude intervals (13-bit scale, max 4096).

    G.711 Table 1a: 32 steps of 2 up to 64, then 16 steps per segment, doubling: 4 up to 128,
    ..., 128 up to 4096.
    """
    edges = [2 * (j + 1) for j in range(32)]
    for seg in range(2, 8):
        step = 2**seg
        edges += [edges[-1] + step * (j + 1) for j in range(16)]
    assert edges[-1] == 4096 and len(edges) == 128
    return edges


def _interval(edges: list[int], magnitude: int) -> int:
    return min(bisect.bisect_right(edges, magnitude), 127)  # overload: the last interval


def _middle(edges: list[int], k: int) -> int:
    lower = 0 if k == 0 else edges[k - 1]
    # The first μ-law interval [0, 1) reconstructs as 0; every other one at its middle.
    return 0 if (k == 0 and edges[0] == 1) else (lower + edges[k]) // 2


def g711_mu_law_tables() -> tuple[bytes, list[int]]:
    """(code for each int16 from -32768 up, int16 value for each code 0..255)."""
    edges = _mu_law_upper_edges()
    encode = bytearray()
    for x in range(-32768, 32768):
        v = x >> 2  # the 14 bits G.711 μ-law is defined on (low bits truncated, as audioop)
        sign = 0x80 if v < 0 else 0x00
        encode.append((sign | _interval(edges, abs(v))) ^ 0xFF)  # all bits inverted on the line
    decode = []
    for code in range(256):
        u = code ^ 0xFF
        value = 4 * _middle(edges, u & 0x7F)
        decode.append(-value if u & 0x80 else value)
    return bytes(encode), decode


def g711_a_law_tables() -> tuple[bytes, list[int]]:
    edges = _a_law_upper_edges()
    encode = bytearray()
    for x in range(-32768, 32768):
        v = x >> 3  # the 13 bits G.711 A-law is defined on
        # Negative values: one's complement magnitude (-1 is the smallest negative step).
        sign, magnitude = (0x80, v) if v >= 0 else (0x00, -v - 1)
        encode.append((sign | _interval(edges, magnitude)) ^ 0x55)  # even bits inverted
    decode = []
    for code in range(256):
        a = code ^ 0x55
        value = 8 * _middle(edges, a & 0x7F)
        decode.append(value if a & 0x80 else -value)
    return bytes(encode), decode


MU_ENCODE, MU_DECODE = g711_mu_law_tables()
A_ENCODE, A_DECODE = g711_a_law_tables()


def _audioop() -> ModuleType | None:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        try:
            import audioop  # removed in Python 3.13
        except ImportError:
            return None
    return audioop


def test_derived_tables_match_known_g711_points() -> None:
    # Spot values from G.711's tables (-1 is -1/4 in 14 bits: the first negative step).
    assert MU_ENCODE[0 + 32768] == 0xFF and MU_ENCODE[-1 + 32768] == 0x7E
    assert MU_ENCODE[32767 + 32768] == 0x80 and MU_ENCODE[0] == 0x00
    assert MU_DECODE[0x00] == -32124 and MU_DECODE[0x80] == 32124 and MU_DECODE[0xFF] == 0
    assert A_ENCODE[0 + 32768] == 0xD5 and A_ENCODE[-1 + 32768] == 0x55
    assert A_DECODE[0xD5] == 8 and A_DECODE[0x55] == -8
    assert A_DECODE[0xAA] == 32256 and A_DECODE[0x2A] == -32256


@pytest.mark.skipif(_audioop() is None, reason="audioop was removed in Python 3.13")
def test_derived_tables_equal_audioop() -> None:
    audioop = _audioop()
    assert audioop is not None
    every = ALL_INT16.tobytes()
    codes = bytes(range(256))
    assert audioop.lin2ulaw(every, 2) == MU_ENCODE
    assert audioop.lin2alaw(every, 2) == A_ENCODE
    assert audioop.ulaw2lin(codes, 2) == s16(MU_DECODE)
    assert audioop.alaw2lin(codes, 2) == s16(A_DECODE)


# ---------------------------------------------------------------------------------------------
# The contract, on both implementations.


@pytest.fixture(params=sorted(IMPLEMENTATIONS))
def impl(request: pytest.FixtureRequest) -> ModuleType:
    return IMPLEMENTATIONS[request.param]


class TestPCMContract:
    def test_mu_law_encodes_every_int16_as_g711(self, impl: ModuleType) -> None:
        assert impl.ulaw_encode(ALL_INT16.tobytes()) == MU_ENCODE

    def test_a_law_encodes_every_int16_as_g711(self, impl: ModuleType) -> None:
        assert impl.alaw_encode(ALL_INT16.tobytes()) == A_ENCODE

    def test_mu_law_decodes_every_code_as_g711(self, impl: ModuleType) -> None:
        assert impl.ulaw_decode(bytes(range(256))) == s16(MU_DECODE)

    def test_a_law_decodes_every_code_as_g711(self, impl: ModuleType) -> None:
        assert impl.alaw_decode(bytearray(range(256))) == s16(A_DECODE)

    def test_g711_decoding_then_encoding_gives_the_same_codes(self, impl: ModuleType) -> None:
        codes = bytes(range(256))
        mu = impl.ulaw_encode(impl.ulaw_decode(codes))
        # 0x7F (negative zero) decodes to 0, which encodes as positive zero 0xFF.
        assert mu == codes[:0x7F] + b"\xff" + codes[0x80:]
        assert impl.alaw_encode(impl.alaw_decode(codes)) == codes

    def test_int16_to_float32_divides_by_32768(self, impl: ModuleType) -> None:
        expected = (ALL_INT16.astype(np.float32) / np.float32(32768)).tobytes()
        assert impl.int16_to_float32(ALL_INT16.tobytes()) == expected

    def test_float32_to_int16_inverts_int16_to_float32_exactly(self, impl: ModuleType) -> None:
        every = ALL_INT16.tobytes()
        assert impl.float32_to_int16(impl.int16_to_float32(every)) == every

    def test_float32_to_int16_rounds_half_to_even_and_clips(self, impl: ModuleType) -> None:
        lsb = 1 / 32768
        values = [0.5 * lsb, 1.5 * lsb, 2.5 * lsb, -0.5 * lsb, -1.5 * lsb, 0.49 * lsb]
        values += [1.0, 0.99999, 1e30, -1.0, -1.00001, -1e30, math.inf, -math.inf, math.nan]
        expected = [0, 2, 2, 0, -2, 0, 32767, 32767, 32767, -32768, -32768, -32768]
        expected += [32767, -32768, 0]
        # 9 values is more than one 8-wide vector step: the scalar tail is exercised too.
        assert samples(impl.float32_to_int16(f32(values))) == expected

    def test_int16_to_float32_into_writes_a_row_of_a_batch(self, impl: ModuleType) -> None:
        batch = np.full((3, 64 + 512), 7.0, dtype=np.float32)
        pcm = s16(np.arange(-256, 256) * 64)
        assert impl.int16_to_float32_into(pcm, batch[1, 64:]) == 512
        np.testing.assert_array_equal(batch[1, 64:], np.arange(-256, 256) * 64 / 32768)
        assert (batch[0] == 7).all() and (batch[2] == 7).all() and (batch[1, :64] == 7).all()

    def test_int16_to_float32_into_refuses_a_small_or_wrong_buffer(self, impl: ModuleType) -> None:
        pcm = s16([1, 2, 3])
        with pytest.raises(AudioFormatError, match="expected room for 3 float32 samples"):
            impl.int16_to_float32_into(pcm, np.zeros(2, dtype=np.float32))
        with pytest.raises(TypeError, match="float32"):
            impl.int16_to_float32_into(pcm, np.zeros(3, dtype=np.float64))
        with pytest.raises((TypeError, BufferError)):
            impl.int16_to_float32_into(pcm, bytes(12))
        # A column of a batch is strided: refused rather than written with gaps.
        with pytest.raises((ValueError, BufferError)):
            impl.int16_to_float32_into(pcm, np.zeros((3, 4), dtype=np.float32)[:, 1])

    @pytest.mark.parametrize(
        "name", ["int16_to_float32", "ulaw_encode", "alaw_encode", "rms", "mono_to_stereo"]
    )
    def test_odd_byte_counts_are_refused_with_the_length(self, impl: ModuleType, name: str) -> None:
        with pytest.raises(AudioFormatError, match="got 639 bytes"):
            getattr(impl, name)(bytes(639))

    def test_float32_input_must_be_whole_samples(self, impl: ModuleType) -> None:
        with pytest.raises(AudioFormatError, match="multiple of 4 bytes"):
            impl.float32_to_int16(bytes(6))

    def test_stereo_input_must_be_whole_frames(self, impl: ModuleType) -> None:
        with pytest.raises(AudioFormatError, match="stereo int16 frames"):
            impl.stereo_to_mono(bytes(6))

    def test_gain_rounds_half_to_even_and_saturates(self, impl: ModuleType) -> None:
        pcm = s16([1, 3, 5, -3, 20000, -20000, 0])
        assert samples(impl.apply_gain(pcm, 0.5)) == [0, 2, 2, -2, 10000, -10000, 0]
        assert samples(impl.apply_gain(pcm, 2.0)) == [2, 6, 10, -6, 32767, -32768, 0]
        assert samples(impl.apply_gain(pcm, -1.0)) == [-1, -3, -5, 3, -20000, 20000, 0]

    def test_gain_must_be_finite(self, impl: ModuleType) -> None:
        with pytest.raises(ConfigurationError, match="finite gain"):
            impl.apply_gain(s16([1]), math.nan)

    def test_mix_saturates_and_keeps_the_longer_tail(self, impl: ModuleType) -> None:
        a = s16([30000, -30000, 5, 7, 9])
        b = s16([10000, -10000, -5])
        assert samples(impl.mix(a, b)) == [32767, -32768, 0, 7, 9]
        assert samples(impl.mix(b, a)) == [32767, -32768, 0, 7, 9]
        assert impl.mix(b"", b"") == b""

    def test_rms_and_dbfs_of_known_signals(self, impl: ModuleType) -> None:
        square = s16([16384, -16384] * 80)
        assert impl.rms(square) == 16384.0
        assert impl.dbfs(square) == pytest.approx(20 * math.log10(0.5))
        assert impl.rms(s16([3, 4])) == pytest.approx(math.sqrt(12.5))
        assert impl.rms(b"") == 0.0
        assert impl.dbfs(bytes(320)) == -math.inf
        sine = s16(np.round(32767 * np.sin(np.arange(1600) * 2 * np.pi / 16)))
        assert impl.dbfs(sine) == pytest.approx(-3.01, abs=0.01)

    def test_mono_and_stereo_conversions(self, impl: ModuleType) -> None:
        mono = s16([1, -2, 32767])
        assert samples(impl.mono_to_stereo(mono)) == [1, 1, -2, -2, 32767, 32767]
        assert impl.stereo_to_mono(impl.mono_to_stereo(mono)) == mono
        stereo = s16([3, 4, -3, -4, 32767, 32767, -32768, -32768, 1, -2])
        assert samples(impl.stereo_to_mono(stereo)) == [3, -4, 32767, -32768, -1]

    def test_any_bytes_like_input_is_accepted(self, impl: ModuleType) -> None:
        pcm = s16([1, -1, 1000])
        expected = impl.ulaw_encode(pcm)
        for form in (bytearray(pcm), memoryview(pcm), np.frombuffer(pcm, dtype=np.int16)):
            assert impl.ulaw_encode(form) == expected

    def test_str_is_refused(self, impl: ModuleType) -> None:
        with pytest.raises(TypeError):
            impl.int16_to_float32("abcd")

    def test_large_inputs_equal_the_same_audio_in_small_pieces(self, impl: ModuleType) -> None:
        # 40 KB takes the path that releases the GIL; 640-byte pieces the one that keeps it.
        values = np.random.default_rng(9).integers(-32768, 32768, 20_000)
        big = s16(values)
        pieces = [big[i : i + 640] for i in range(0, len(big), 640)]
        ops = {
            "int16_to_float32": impl.int16_to_float32,
            "float32_to_int16": lambda b: impl.float32_to_int16(impl.int16_to_float32(b)),
            "apply_gain": lambda b: impl.apply_gain(b, 1.7),
            "mix": lambda b: impl.mix(b, impl.apply_gain(b, 0.6)),
            "mono_to_stereo": impl.mono_to_stereo,
            "stereo_to_mono": impl.stereo_to_mono,
            "ulaw": lambda b: impl.ulaw_decode(impl.ulaw_encode(b)),
            "alaw": lambda b: impl.alaw_decode(impl.alaw_encode(b)),
        }
        for name, op in ops.items():
            assert op(big) == b"".join(op(p) for p in pieces), name
        assert impl.rms(big) == pytest.approx(np.sqrt(np.mean(values.astype(np.float64) ** 2)))

    @pytest.mark.parametrize("name", ["lin2ulaw", "ulaw2lin", "lin2alaw", "alaw2lin"])
    def test_audioop_names_take_width_2_only(self, impl: ModuleType, name: str) -> None:
        codec = {"lin2ulaw": "ulaw_encode", "ulaw2lin": "ulaw_decode"}
        codec |= {"lin2alaw": "alaw_encode", "alaw2lin": "alaw_decode"}
        data = s16([0, 1, -1, 32767, -32768, 12345])
        assert getattr(impl, name)(data, 2) == getattr(impl, codec[name])(data)
        for width in (1, 3, 4, True):
            with pytest.raises(AudioFormatError, match=f"expected width 2 .*got {width}"):
                getattr(impl, name)(data, width)

    def test_empty_input_gives_empty_output(self, impl: ModuleType) -> None:
        for name in ("int16_to_float32", "float32_to_int16", "ulaw_encode", "ulaw_decode"):
            assert getattr(impl, name)(b"") == b""


# ---------------------------------------------------------------------------------------------
# Properties against numpy, on both implementations.

int16_lists = st.lists(st.integers(-32768, 32767), max_size=300)


@settings(max_examples=60, deadline=None)
@given(values=int16_lists)
def test_int16_float32_round_trip_is_lossless(values: list[int]) -> None:
    pcm = s16(values)
    for impl in IMPLEMENTATIONS.values():
        as_float = impl.int16_to_float32(pcm)
        assert np.array_equal(np.frombuffer(as_float, np.float32), np.asarray(values) / 32768)
        assert impl.float32_to_int16(as_float) == pcm


@settings(max_examples=80, deadline=None)
@given(values=st.lists(st.floats(width=32, allow_nan=True, allow_infinity=True), max_size=70))
def test_float32_to_int16_equals_numpy_rint_and_clip(values: list[float]) -> None:
    x = np.asarray(values, dtype=np.float32)
    with np.errstate(invalid="ignore", over="ignore"):
        expected = np.clip(
            np.rint(np.nan_to_num(x.astype(np.float64) * 32768, nan=0.0)), -32768, 32767
        )
    for impl in IMPLEMENTATIONS.values():
        assert samples(impl.float32_to_int16(x.tobytes())) == expected.astype(np.int16).tolist()


@settings(max_examples=60, deadline=None)
@given(a=int16_lists, b=int16_lists)
def test_mix_equals_a_clipped_sum(a: list[int], b: list[int]) -> None:
    n = max(len(a), len(b))
    wide = np.zeros(n, np.int32)
    wide[: len(a)] += np.asarray(a, np.int32)
    wide[: len(b)] += np.asarray(b, np.int32)
    expected = np.clip(wide, -32768, 32767).tolist()
    for impl in IMPLEMENTATIONS.values():
        assert samples(impl.mix(s16(a), s16(b))) == expected


@settings(max_examples=60, deadline=None)
@given(values=int16_lists, gain=st.floats(-40.0, 40.0, allow_nan=False))
def test_gain_equals_numpy_rint_and_clip(values: list[int], gain: float) -> None:
    expected = np.clip(np.rint(np.asarray(values, np.float64) * gain), -32768, 32767)
    for impl in IMPLEMENTATIONS.values():
        assert samples(impl.apply_gain(s16(values), gain)) == expected.astype(np.int16).tolist()
