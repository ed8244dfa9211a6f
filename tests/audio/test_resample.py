"""StreamResampler: the quality contract measured on sines and sweeps for every rate pair.

Signals are integer-Hz tones analysed over exactly one second of steady state (0.5 s to 1.5 s),
so every tone sits on an FFT bin and no window function blurs the measurement. soxr (HQ) runs
through the same harness as the reference implementation. ``python tests/audio/test_resample.py``
prints the measured table.
"""

from __future__ import annotations

import itertools
import math
import wave
from pathlib import Path
from typing import Literal

import numpy as np
import numpy.typing as npt
import pytest
import soxr

from vani.audio.resample import SUPPORTED_RATES, StreamResampler
from vani.errors import ConfigurationError

PAIRS = list(itertools.permutations(SUPPORTED_RATES, 2))
Signal = npt.NDArray[np.float64]

RIPPLE_DB = 0.1
ATTENUATION_DB = 80.0
DELAY_SECS = 2e-3


def vani_stream(
    rates: tuple[int, int],
    x: npt.NDArray[np.int16],
    phase: Literal["minimum", "linear"] = "minimum",
) -> Signal:
    """Resample in 20 ms chunks, as a pipeline would, then flush."""
    r = StreamResampler(*rates, phase=phase)
    step = rates[0] // 50
    pcm = x.astype("<i2").tobytes()
    out = [r.resample(pcm[i : i + 2 * step]) for i in range(0, len(pcm), 2 * step)]
    out.append(r.flush())
    return np.frombuffer(b"".join(out), "<i2").astype(np.float64)


def soxr_stream(rates: tuple[int, int], x: npt.NDArray[np.int16]) -> Signal:
    s = soxr.ResampleStream(rates[0], rates[1], 1, dtype="int16", quality="HQ")
    step = rates[0] // 50
    out = [s.resample_chunk(x[i : i + step]) for i in range(0, len(x), step)]
    out.append(s.resample_chunk(x[:0], last=True))
    return np.concatenate(out).astype(np.float64)


def tones(rate: int, freqs: list[int], amp: float, secs: float = 2.0) -> npt.NDArray[np.int16]:
    t = np.arange(int(rate * secs)) / rate
    phases = np.random.default_rng(sum(freqs)).uniform(0, 2 * np.pi, len(freqs))
    x = sum(amp * np.sin(2 * np.pi * f * t + p) for f, p in zip(freqs, phases, strict=True))
    return np.rint(x).astype(np.int16)


def steady(y: Signal | npt.NDArray[np.int16], rate: int) -> npt.NDArray[np.complex128]:
    """Spectrum of the second from 0.5 s to 1.5 s; bin index = frequency in Hz.

    Scaled by 2 / rate, so a tone's bin holds its complex amplitude at any sample rate.
    """
    return np.fft.rfft(np.asarray(y, dtype=np.float64)[rate // 2 : rate // 2 + rate]) * 2 / rate


def passband_tones(rates: tuple[int, int]) -> list[int]:
    edge = int(0.85 * min(rates) / 2)
    return sorted({int(f) for f in np.linspace(20, edge, 41)})


def gains_db(rates: tuple[int, int], stream: str = "vani") -> Signal:
    """Gain at each passband tone, from a 41-tone signal."""
    freqs = passband_tones(rates)
    x = tones(rates[0], freqs, amp=600)
    y = (vani_stream if stream == "vani" else soxr_stream)(rates, x)
    h = steady(y, rates[1])[freqs] / steady(x, rates[0])[freqs]
    return 20 * np.log10(np.abs(h))


def attenuation_db(rates: tuple[int, int], freq: int, stream: str = "vani") -> float:
    """How far below the input tone everything at or above the lower Nyquist lands.

    Downsampling: a tone above the output Nyquist must vanish (anything left is an alias).
    Upsampling: a tone below the input Nyquist leaves images above it, which must vanish.
    """
    amp = 16000.0
    y = (vani_stream if stream == "vani" else soxr_stream)(rates, tones(rates[0], [freq], amp))
    residue = band_power(y, rates[1], min(rates) // 2)
    return float(10 * np.log10((amp**2 / 2) / residue)) if residue > 0 else math.inf


def band_power(y: Signal, rate: int, lo_hz: int) -> float:
    """Mean power of the steady second of ``y`` in the bins from ``lo_hz`` up (Parseval)."""
    bins = np.abs(np.fft.rfft(y[rate // 2 : rate // 2 + rate])) ** 2
    weights = np.full(len(bins), 2.0)
    weights[0] = weights[-1] = 1.0  # DC and Nyquist have no mirror image
    return float(np.sum((bins * weights)[lo_hz:]) / rate**2)


def stop_tones(rates: tuple[int, int]) -> list[int]:
    lo, hi = (rates[1] // 2, rates[0] // 2 - 1) if rates[1] < rates[0] else (50, rates[0] // 2 - 1)
    return sorted({int(f) for f in np.linspace(lo, hi, 9)} | {hi, hi - 7})


def latency_secs(rates: tuple[int, int]) -> float:
    """Longest wait of an input sample for its output, from counts in a 20 ms streaming run."""
    r = StreamResampler(*rates)
    step, fed, produced, worst = rates[0] // 50, 0, 0, 0
    for _ in range(20):
        produced += len(r.resample(bytes(2 * step))) // 2
        fed += step
        worst = max(worst, math.ceil(fed * rates[1] / rates[0]) - produced)
    return worst / rates[1]


def group_delays_secs(rates: tuple[int, int]) -> tuple[list[int], Signal]:
    """Group delay of the output relative to the input, from tone pairs 1 Hz apart."""
    edge = int(0.85 * min(rates) / 2)
    base = sorted({int(f) for f in np.linspace(100, edge - 1, 12)})
    freqs = sorted(set(base) | {f + 1 for f in base})
    x = tones(rates[0], freqs, amp=1200)
    h = steady(vani_stream(rates, x), rates[1])[freqs] / steady(x, rates[0])[freqs]
    by_freq = dict(zip(freqs, h, strict=True))
    tau = [-np.angle(by_freq[f + 1] / by_freq[f]) / (2 * np.pi) for f in base]
    return base, np.array(tau)


@pytest.mark.parametrize("rates", PAIRS, ids=str)
def test_passband_is_flat_within_a_tenth_of_a_db(rates: tuple[int, int]) -> None:
    g = gains_db(rates)
    assert g.max() - g.min() <= RIPPLE_DB
    assert np.abs(g).max() <= RIPPLE_DB / 2


@pytest.mark.parametrize("rates", PAIRS, ids=str)
def test_passband_gain_matches_soxr(rates: tuple[int, int]) -> None:
    assert np.abs(gains_db(rates) - gains_db(rates, "soxr")).max() <= RIPPLE_DB


@pytest.mark.parametrize("rates", PAIRS, ids=str)
def test_nothing_above_the_lower_nyquist_survives(rates: tuple[int, int]) -> None:
    worst = min(attenuation_db(rates, f) for f in stop_tones(rates))
    assert worst >= ATTENUATION_DB


@pytest.mark.parametrize("rates", PAIRS, ids=str)
def test_a_sweep_shows_a_flat_passband_and_a_silent_stopband(rates: tuple[int, int]) -> None:
    fin, fout = rates
    nyq = min(rates) / 2
    secs = 2.0
    t = np.arange(int(fin * secs)) / fin
    taper = np.minimum(1.0, np.minimum(t, secs - t) / 0.05)

    def chirp(f0: float, f1: float) -> npt.NDArray[np.int16]:
        # Logarithmic, tapered at both ends, then 100 ms of silence so that the filter's ringing
        # at the band edge (it outlasts the group delay) is inside the output too.
        k = math.log(f1 / f0) / secs
        x = np.rint(12000 * taper * np.sin(2 * np.pi * f0 * np.expm1(k * t) / k))
        return np.concatenate([x, np.zeros(fin // 10)]).astype(np.int16)

    x = chirp(20.0, 0.9 * nyq)
    y = vani_stream(rates, x)
    assert len(y) == math.ceil(len(x) * fout / fin)
    dur = len(x) / fin  # FFT bins are 1 / dur Hz apart
    bins = np.arange(math.ceil(40 * dur), int(0.85 * nyq * dur))
    h = np.abs(np.fft.rfft(y)[bins] / np.fft.rfft(x.astype(np.float64))[bins]) * fin / fout
    assert 20 * np.log10(h.max() / h.min()) <= RIPPLE_DB
    if fout < fin:  # sweep the band that would alias
        x = chirp(fout / 2, 0.99 * fin / 2)
        y = vani_stream(rates, x)
        power_in = np.mean(x.astype(np.float64) ** 2)
        assert 10 * np.log10(power_in / np.mean(y**2)) >= ATTENUATION_DB


@pytest.mark.parametrize("rates", PAIRS, ids=str)
def test_delay_stays_under_two_ms_across_the_passband(rates: tuple[int, int]) -> None:
    _, tau = group_delays_secs(rates)
    wait = latency_secs(rates)
    assert wait + tau.max() <= DELAY_SECS
    # the removed 0 Hz delay lines low frequencies up with the input
    assert abs(tau[0]) <= 0.05e-3
    assert wait == pytest.approx(StreamResampler(*rates).latency_secs, abs=1.0 / rates[1])


def test_equal_rates_pass_audio_through_untouched() -> None:
    r = StreamResampler(16000, 16000)
    assert r.resample(b"\x01\x02\x03") == b"\x01\x02\x03"
    assert r.flush() == b""
    assert r.latency_secs == 0.0


@pytest.mark.parametrize(
    ("in_rate", "out_rate", "message"),
    [
        (11025, 16000, "unsupported in_rate 11025; expected one of 8000, 16000"),
        (16000, 96000, "unsupported out_rate 96000"),
        (16000.0, 8000, "unsupported in_rate 16000.0"),
        (True, 8000, "unsupported in_rate True"),
    ],
)
def test_unsupported_rates_raise_a_configuration_error_naming_soxr(
    in_rate: int, out_rate: int, message: str
) -> None:
    with pytest.raises(ConfigurationError, match=message) as caught:
        StreamResampler(in_rate, out_rate)
    assert "soxr" in str(caught.value)
    assert isinstance(caught.value, ValueError)


def test_a_stream_in_20ms_frames_equals_one_call_and_restarts_after_flush() -> None:
    x = tones(24000, [440, 3000], amp=8000, secs=0.5)
    r = StreamResampler(24000, 16000)
    whole = r.resample(x.tobytes()) + r.flush()
    assert np.array_equal(vani_stream((24000, 16000), x), np.frombuffer(whole, "<i2"))
    assert r.resample(x.tobytes()) + r.flush() == whole


SPEECH = Path(__file__).resolve().parents[1] / "fixtures" / "speech" / "speech_16k.wav"


def speech_at(rate: int) -> npt.NDArray[np.int16]:
    with wave.open(str(SPEECH), "rb") as w:
        x = np.frombuffer(w.readframes(w.getnframes()), "<i2")
    if rate == 16000:
        return x
    return np.asarray(soxr.resample(x, 16000, rate, quality="VHQ"), dtype=np.int16)


def linear_vs_soxr_db(rates: tuple[int, int]) -> float:
    """Energy of (vani linear-phase - soxr VHQ) over soxr's, on real speech, sample for sample.

    soxr runs in float64 here, so that its int16 dither does not set the floor."""
    x = speech_at(rates[0])
    ours = vani_stream(rates, x, "linear")
    theirs = soxr.resample(x.astype(np.float64), rates[0], rates[1], quality="VHQ")
    n = min(len(ours), len(theirs))
    assert abs(len(ours) - len(theirs)) <= 2
    d = ours[:n] - theirs[:n]
    return float(10 * np.log10((d**2).sum() / (theirs[:n] ** 2).sum()))


@pytest.mark.parametrize("rates", PAIRS, ids=str)
def test_linear_phase_matches_soxrs_default_on_speech(rates: tuple[int, int]) -> None:
    assert linear_vs_soxr_db(rates) < -60


@pytest.mark.parametrize("rates", [(16000, 8000), (8000, 16000), (44100, 16000), (8000, 22050)])
def test_linear_phase_keeps_the_stopband_silent(rates: tuple[int, int]) -> None:
    for freq in stop_tones(rates):
        amp = 16000.0
        y = vani_stream(rates, tones(rates[0], [freq], amp), "linear")
        residue = band_power(y, rates[1], min(rates) // 2)
        assert 10 * np.log10((amp**2 / 2) / max(residue, 1e-30)) >= ATTENUATION_DB, freq


def test_linear_phase_streams_like_one_call_and_rejects_unknown_phases() -> None:
    x = tones(24000, [440, 3000], amp=8000, secs=0.5)
    r = StreamResampler(24000, 16000, phase="linear")
    whole = r.resample(x.tobytes()) + r.flush()
    assert np.array_equal(vani_stream((24000, 16000), x, "linear"), np.frombuffer(whole, "<i2"))
    assert r.latency_secs == pytest.approx(96 / 16000, abs=1e-4)  # half of 192 taps at 16 kHz
    with pytest.raises(ConfigurationError, match="expected phase 'minimum' or 'linear'"):
        StreamResampler(24000, 16000, phase="mixed")  # type: ignore[arg-type]


if __name__ == "__main__":  # the measured table quoted in the notes
    print("pair               ripple dB  atten dB (soxr)   wait ms  max delay ms")
    for rates in PAIRS:
        g = gains_db(rates)
        att = min(attenuation_db(rates, f) for f in stop_tones(rates))
        att_soxr = min(attenuation_db(rates, f, "soxr") for f in stop_tones(rates))
        wait = latency_secs(rates)
        _, tau = group_delays_secs(rates)
        print(
            f"{rates[0]:>5} -> {rates[1]:>5}    {g.max() - g.min():8.3f}"
            f"  {att:7.1f} ({att_soxr:5.1f})  {wait * 1e3:7.3f}  {(wait + tau.max()) * 1e3:8.3f}"
        )
