"""The smart-turn model's input: Whisper-style log-mel features of 8 s of 16 kHz audio.

The model takes ``input_features`` [N, 80, 800]: 80 mel bands (Slaney scale and area
normalisation, 0–8 kHz) of the power spectrum of 400-sample periodic-Hann frames every 160
samples, over a window of exactly 8 s. Shorter audio is zero-padded at the *front*, so the
speech ends where the window ends; the window is normalised to zero mean and unit variance
before the spectrum, the spectrum is floored at 1e-10, put on a log10 scale, clamped to 8 decades
under its peak and mapped by ``(x + 4) / 4``. See docs/turn-taking.md.

Most turns are shorter than 8 s, and every frame inside the padding sees the same constant
signal, so its spectrum is computed once and copied: a 2 s turn costs a quarter of the FFTs.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

__all__ = [
    "N_FRAMES",
    "N_MELS",
    "N_SAMPLES",
    "SAMPLE_RATE",
    "log_mel_features",
    "mel_filterbank",
]

SAMPLE_RATE = 16000
N_FFT = 400
HOP = 160
N_MELS = 80
N_SAMPLES = 8 * SAMPLE_RATE
N_FRAMES = N_SAMPLES // HOP  # 800 (the spectrogram has 801 frames; the last is dropped)
_BINS = N_FFT // 2 + 1
_PAD = N_FFT // 2


def _mel(hz: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
    # Slaney: linear (200/3 Hz per mel) below 1 kHz, logarithmic above (27 mels per factor 6.4).
    lin = hz * 3.0 / 200.0
    log = 15.0 + np.log(np.maximum(hz, 1e-12) / 1000.0) * (27.0 / np.log(6.4))
    return np.where(hz < 1000.0, lin, log)


def _hz(mel: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
    lin = mel * 200.0 / 3.0
    log = 1000.0 * np.exp((mel - 15.0) * (np.log(6.4) / 27.0))
    return np.where(mel < 15.0, lin, log)


def mel_filterbank() -> npt.NDArray[np.float64]:
    """Triangular mel filters [80, 201], each scaled to unit area (2 / its width in Hz)."""
    edges = _hz(np.linspace(0.0, float(_mel(np.array([SAMPLE_RATE / 2.0]))[0]), N_MELS + 2))
    freqs = np.linspace(0.0, SAMPLE_RATE / 2, _BINS)
    lower, centre, upper = edges[:-2, None], edges[1:-1, None], edges[2:, None]
    rising = (freqs[None, :] - lower) / (centre - lower)
    falling = (upper - freqs[None, :]) / (upper - centre)
    bank = np.clip(np.minimum(rising, falling), 0.0, None)
    return np.asarray(bank * (2.0 / (upper - lower)), dtype=np.float64)


_FILTERS = mel_filterbank()
# Each filter is non-zero over a few neighbouring bins: (first bin, weights [k, 1]) per band.
# Summing those few rows with numpy's elementwise loops costs a tenth of the dense product, and
# keeps the product off BLAS, whose worker threads spin-wait after each call and burn more CPU
# than the features themselves (measured: benchmarks/turn_cpu.py).
_BANDS = [
    (int(nz[0]), np.ascontiguousarray(row[nz[0] : nz[-1] + 1, None]))
    for row in _FILTERS
    for nz in [np.flatnonzero(row)]
]
# Periodic Hann window of 400 samples (the window of a 401-point symmetric one minus its end).
_WINDOW = 0.5 - 0.5 * np.cos(2.0 * np.pi * np.arange(N_FFT) / N_FFT)


def log_mel_features(
    audio: npt.NDArray[np.float32], out: npt.NDArray[np.float32] | None = None
) -> npt.NDArray[np.float32]:
    """Features [80, 800] of the last 8 s of ``audio`` (float32 at 16 kHz, -1..1), written
    into ``out`` when given. Audio shorter than 8 s is zero-padded in front."""
    if audio.ndim != 1:
        raise ValueError(f"expected 1-d audio, got shape {audio.shape}")
    tail = np.asarray(audio[-N_SAMPLES:], dtype=np.float32)
    n = tail.size
    front = N_SAMPLES - n
    # Normalise the padded window as the reference extractor does, in float32 (numpy's pairwise
    # sums): the model is quantised, and differences of 1e-6 in its input move its answer by 1%.
    window = np.zeros(N_SAMPLES, dtype=np.float32)
    window[front:] = tail
    mean = window.mean()
    std = np.sqrt(window.var() + np.float32(1e-7))
    signal = np.empty(N_SAMPLES + 2 * _PAD, dtype=np.float64)
    body = signal[_PAD : _PAD + N_SAMPLES]
    body[:] = (window - mean) / std
    # Reflect padding at both ends (the sample at the edge is not repeated).
    signal[:_PAD] = body[_PAD:0:-1]
    signal[_PAD + N_SAMPLES :] = body[-2 : -_PAD - 2 : -1]
    # Frame i covers body[i*HOP - PAD : i*HOP + PAD]; frames that end inside the padding see only
    # the constant, so they share one spectrum.
    first_live = 0 if front <= _PAD else min((front - _PAD) // HOP + 1, N_FRAMES)
    frames = np.lib.stride_tricks.sliding_window_view(signal, N_FFT)[::HOP][:N_FRAMES]
    power = np.empty((_BINS, N_FRAMES), dtype=np.float64)
    if first_live < N_FRAMES:
        spec = np.fft.rfft(frames[first_live:] * _WINDOW, axis=-1)
        power[:, first_live:] = (spec.real**2 + spec.imag**2).T
    if first_live > 0:
        spec0 = np.fft.rfft(frames[0] * _WINDOW)
        power[:, :first_live] = (spec0.real**2 + spec0.imag**2)[:, None]
    mel = np.empty((N_MELS, N_FRAMES), dtype=np.float64)
    for band, (lo, weights) in enumerate(_BANDS):
        np.sum(power[lo : lo + len(weights)] * weights, axis=0, out=mel[band])
    log_spec = np.log10(np.maximum(mel, 1e-10))
    np.maximum(log_spec, log_spec.max() - 8.0, out=log_spec)
    if out is None:
        out = np.empty((N_MELS, N_FRAMES), dtype=np.float32)
    np.multiply(log_spec + 4.0, 0.25, out=out, casting="same_kind")
    return out
