"""The public PCM module: audioop-compatible G.711 and the helpers a pipeline uses."""

from __future__ import annotations

import warnings
from types import ModuleType

import numpy as np
import pytest

from vani.audio import pcm
from vani.errors import AudioFormatError, VaniError


def _audioop() -> ModuleType | None:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        try:
            import audioop  # removed in Python 3.13
        except ImportError:
            return None
    return audioop


def speech_like(num_samples: int, seed: int) -> bytes:
    rng = np.random.default_rng(seed)
    t = np.arange(num_samples) / 8000
    wave = 9000 * np.sin(2 * np.pi * 220 * t) * (1 + np.sin(2 * np.pi * 3 * t))
    return np.clip(wave + rng.normal(0, 300, num_samples), -32768, 32767).astype("<i2").tobytes()


@pytest.mark.parametrize(
    ("encode", "decode"), [(pcm.lin2ulaw, pcm.ulaw2lin), (pcm.lin2alaw, pcm.alaw2lin)]
)
def test_g711_round_trip_keeps_speech_within_its_quantisation_step(
    encode: object, decode: object
) -> None:
    assert callable(encode) and callable(decode)
    original = np.frombuffer(speech_like(8000, seed=1), np.int16).astype(np.int32)
    coded = encode(original.astype(np.int16).tobytes(), 2)
    assert len(coded) == len(original)
    restored = np.frombuffer(decode(coded, 2), np.int16).astype(np.int32)
    # At 16 bits G.711's largest step is 1024 for both laws, and the error relative to the
    # signal stays near 1/32 (half a step of 1/16): the promise of a logarithmic law.
    error = np.abs(restored - original)
    assert error.max() <= 1024
    assert (error <= np.maximum(np.abs(original) / 16, 16)).all()


@pytest.mark.skipif(_audioop() is None, reason="audioop was removed in Python 3.13")
def test_audioop_names_give_audioops_bytes_on_speech() -> None:
    audioop = _audioop()
    assert audioop is not None
    fragment = speech_like(4000, seed=2)
    assert pcm.lin2ulaw(fragment, 2) == audioop.lin2ulaw(fragment, 2)
    assert pcm.lin2alaw(fragment, 2) == audioop.lin2alaw(fragment, 2)
    mu, a = audioop.lin2ulaw(fragment, 2), audioop.lin2alaw(fragment, 2)
    assert pcm.ulaw2lin(mu, 2) == audioop.ulaw2lin(mu, 2)
    assert pcm.alaw2lin(a, 2) == audioop.alaw2lin(a, 2)


@pytest.mark.parametrize("name", ["lin2ulaw", "ulaw2lin", "lin2alaw", "alaw2lin"])
@pytest.mark.parametrize("width", [1, 3, 4, 0, True])
def test_widths_other_than_16_bit_are_refused_clearly(name: str, width: int) -> None:
    with pytest.raises(
        AudioFormatError, match=f"expected width 2 \\(16-bit samples\\), got {width}"
    ):
        getattr(pcm, name)(bytes(8), width)


def test_odd_fragment_is_an_audio_format_error_and_a_value_error() -> None:
    with pytest.raises(AudioFormatError, match="got 3 bytes") as info:
        pcm.lin2ulaw(b"abc", 2)
    assert isinstance(info.value, ValueError) and isinstance(info.value, VaniError)


def test_telephony_frame_converts_to_a_vad_batch_row_and_back() -> None:
    # 20 ms of 8 kHz μ-law from a phone call, decoded into the row of a batch buffer.
    call = pcm.lin2ulaw(speech_like(160, seed=3), 2)
    batch = np.zeros((4, 32 + 256), np.float32)
    written = pcm.int16_to_float32_into(pcm.ulaw2lin(call, 2), batch[2, 32:])
    assert written == 160
    assert pcm.float32_to_int16(batch[2, 32 : 32 + 160]) == pcm.ulaw2lin(call, 2)
    assert not batch[2, 32 + 160 :].any() and not batch[[0, 1, 3]].any()


def test_levels_and_gain_work_together() -> None:
    speech = speech_like(1600, seed=4)
    quieter = pcm.apply_gain(speech, 0.1)
    assert pcm.dbfs(quieter) == pytest.approx(pcm.dbfs(speech) - 20, abs=0.05)
    assert pcm.rms(pcm.mix(speech, pcm.apply_gain(speech, -1.0))) == 0.0


def test_stereo_device_audio_becomes_mono() -> None:
    mono = speech_like(800, seed=5)
    assert pcm.stereo_to_mono(pcm.mono_to_stereo(mono)) == mono
