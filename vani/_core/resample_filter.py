"""Filter design for the polyphase resampler (``vani._core.resample``); numpy, construction only.

The prototype is a Kaiser-windowed sinc low-pass at ``L × in_rate`` (the rate after inserting
``L - 1`` zeros between input samples), turned into its minimum-phase twin, and cut into ``L``
phases of ``taps`` coefficients each. Why these choices:

- The band edges follow the quality contract: flat (±0.05 dB) up to 0.85 × the lower Nyquist,
  ≥ 80 dB down from the lower Nyquist up. When downsampling, the stopband therefore starts at the
  output Nyquist, so nothing aliases into the band; when upsampling, it starts at the input
  Nyquist, so every image is removed. The design reaches 85 dB, a margin over the contract.
- Minimum phase, because a linear-phase filter this sharp delays the signal by half its length:
  3.8 ms when 8 kHz is involved, against a budget of 2 ms. The minimum-phase twin has the same
  magnitude response and a group delay of 0.25 ms at low frequencies, rising to about 1.5 ms at
  the passband edge (3.4 kHz for 8 kHz audio). The phase distortion that buys this sits at the
  top of the band, where speech carries little energy.
- ``taps`` is a multiple of 8, so the compiled dot product needs no tail loop.

``phase="linear"`` designs a second family, for streams that must match soxr's default
(``VHQ``, linear phase; what Pipecat's ``SOXRStreamAudioResampler`` runs) sample for sample:
a symmetric Kaiser-windowed sinc with soxr's band edges (flat to 0.9115 × the lower Nyquist,
−6 dB at 0.956, stopband from 1.0) spanning 192 samples at the lower rate with β = 10 (≥ 100 dB
down from the lower Nyquist up). soxr reaches its 168 dB with about twice that span; on speech
the difference between the two outputs is 70–90 dB below the signal (tests/contrib, docs/
embedding.md). The price is delay and work: 12 ms of delay at 8 kHz, and 2–3× the taps of the
minimum-phase family.

Tables are cached per rate pair: every stream of the process shares one read-only table (the
largest, 22050 → 32000 Hz with 640 phases, is 180 KiB and takes ~60 ms to design once).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import cache

import numpy as np
import numpy.typing as npt

__all__ = ["PHASES", "SUPPORTED_RATES", "PolyphaseFilter", "design_filter"]

SUPPORTED_RATES: tuple[int, ...] = (8000, 16000, 22050, 24000, 32000, 44100, 48000)

# Passband edge and stopband edge as fractions of the lower Nyquist frequency (the contract).
PASSBAND_EDGE = 0.85
STOPBAND_EDGE = 1.0
# Kaiser parameters, found by search (measured after the minimum-phase step, in float64):
# transition-width × length product, window beta and cut-off (fraction of the lower Nyquist).
# Over every pair they give >= 85 dB of stopband attenuation and <= 0.05 dB of passband ripple
# (peak to peak); a shorter design (4.8) measured 79.8 dB on some pairs once cut to whole taps.
_WIDTH_LENGTH = 5.0
_BETA = 8.5
_CUTOFF = 0.915
# FFT oversampling for the cepstral minimum-phase step: 16x keeps the cepstrum's time aliasing
# below the 80 dB floor (8x already costs up to 1 dB of attenuation on the long prototypes).
_CEPSTRUM_OVERSAMPLING = 16
_TAP_MULTIPLE = 8
# The linear-phase family (see above): soxr's VHQ band edges as fractions of the lower Nyquist
# (passband end 1 - 0.05 / 0.565 for its 28-bit precision; stopband start 1.0), cut-off midway,
# span in samples at the lower rate and window beta, found by search against soxr's output.
_LINEAR_PASSBAND_END = 0.9115
_LINEAR_CUTOFF = (_LINEAR_PASSBAND_END + STOPBAND_EDGE) / 2
_LINEAR_SPAN = 192
_LINEAR_BETA = 10.0
PHASES: tuple[str, ...] = ("minimum", "linear")


@dataclass(frozen=True, slots=True)
class PolyphaseFilter:
    """A designed resampling filter for one rate pair.

    ``phases[p, j]`` multiplies input sample ``x[i - taps + 1 + j]`` for output phase ``p``
    (coefficients stored oldest first, so a dot product walks memory forwards).
    Output sample ``k`` sits at prototype index ``n = k × down + delay``: phase ``n % up`` and
    newest input ``n // up``. ``delay`` (in prototype samples, i.e. at ``up × in_rate``) is the
    filter's group delay at 0 Hz, removed so that output time lines up with input time.
    """

    in_rate: int
    out_rate: int
    up: int
    down: int
    taps: int
    delay: int
    phases: npt.NDArray[np.float32]  # shape (up, taps), C-contiguous, read-only
    prototype: npt.NDArray[np.float64]  # shape (up * taps,), causal, gain `up` at 0 Hz


def _minimum_phase(h: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
    """The minimum-phase filter with the same magnitude response (homomorphic method)."""
    n = len(h)
    nfft = 1 << math.ceil(math.log2(n * _CEPSTRUM_OVERSAMPLING))
    magnitude = np.maximum(np.abs(np.fft.rfft(h, nfft)), 1e-9)
    cepstrum = np.fft.irfft(np.log(magnitude), nfft)
    # Fold the anti-causal half of the cepstrum onto the causal half.
    cepstrum[1 : nfft // 2] *= 2.0
    cepstrum[nfft // 2 + 1 :] = 0.0
    out: npt.NDArray[np.float64] = np.fft.irfft(np.exp(np.fft.rfft(cepstrum)), nfft)[:n]
    return out


@cache
def design_filter(in_rate: int, out_rate: int, phase: str = "minimum") -> PolyphaseFilter:
    """Design (once per process, pair and phase) the polyphase filter from ``in_rate`` to
    ``out_rate``: ``phase`` is ``"minimum"`` (vani's own, ≤ 2 ms delay) or ``"linear"`` (soxr's
    response, see the module's docstring).

    Rates must be positive integers and differ; the caller validates that they are supported.
    """
    if phase not in PHASES:
        raise ValueError(f"expected phase 'minimum' or 'linear', got {phase!r}")
    g = math.gcd(in_rate, out_rate)
    up, down = out_rate // g, in_rate // g
    lower_nyquist = min(in_rate, out_rate) / 2.0
    proto_rate = float(up * in_rate)
    if phase == "linear":
        span = _LINEAR_SPAN * in_rate / (2.0 * lower_nyquist)  # in input samples
        taps = math.ceil(span / _TAP_MULTIPLE) * _TAP_MULTIPLE
        n = up * taps
        # Symmetric over n - 1 samples (odd, so the centre is a whole prototype sample), then
        # one zero: the delay removed is exactly the centre.
        t = np.arange(n - 1, dtype=np.float64) - (n - 2) / 2.0
        fc = _LINEAR_CUTOFF * lower_nyquist / proto_rate
        h = np.append(2.0 * fc * np.sinc(2.0 * fc * t) * np.kaiser(n - 1, _LINEAR_BETA), 0.0)
        h *= up / h.sum()
        delay = (n - 2) // 2
    else:
        span_secs = _WIDTH_LENGTH / ((STOPBAND_EDGE - PASSBAND_EDGE) * lower_nyquist)
        taps = math.ceil(span_secs * in_rate / _TAP_MULTIPLE) * _TAP_MULTIPLE
        n = up * taps
        t = np.arange(n, dtype=np.float64) - (n - 1) / 2.0
        fc = _CUTOFF * lower_nyquist / proto_rate  # cycles per prototype sample
        h = 2.0 * fc * np.sinc(2.0 * fc * t) * np.kaiser(n, _BETA)
        h = _minimum_phase(h)
        h *= up / h.sum()
        delay = round(float(np.dot(np.arange(n), h) / h.sum()))
    # phases[p, taps - 1 - j] = h[p + j * up]: reverse each phase so it runs oldest input first.
    phases = np.ascontiguousarray(h.reshape(taps, up).T[:, ::-1], dtype=np.float32)
    phases.setflags(write=False)
    h.setflags(write=False)
    return PolyphaseFilter(in_rate, out_rate, up, down, taps, delay, phases, h)
