"""Input side of every transport: validation, mix-down and resampling to the pipeline rate."""

from __future__ import annotations

import numpy as np
import pytest

from vani.errors import AudioFormatError, ConfigurationError
from vani.frames import StartFrame
from vani.transports.base import BaseInputTransport, TransportParams
from vani.transports.clock import WallClock


async def started_input(params: TransportParams | None = None) -> BaseInputTransport:
    transport = BaseInputTransport(params or TransportParams(), WallClock())
    await transport.start(StartFrame(audio_in_sample_rate=16000))
    return transport


async def test_stereo_48k_becomes_mono_at_the_pipeline_rate() -> None:
    transport = await started_input()
    t = np.arange(960) / 48000
    left = (np.sin(2 * np.pi * 440 * t) * 8000).astype("<i2")
    stereo = np.stack([left, left], axis=1).tobytes()  # 20 ms
    out = b"".join(
        transport.convert_audio(stereo, sample_rate=48000, num_channels=2) for _ in range(10)
    )
    assert abs(len(out) // 2 - 3200) <= 16  # 200 ms at 16 kHz, less the filter's delay
    assert np.abs(np.frombuffer(out, dtype="<i2")).max() > 6000


async def test_bad_input_audio_gets_clear_errors() -> None:
    transport = await started_input()
    with pytest.raises(AudioFormatError, match="expected a multiple of 4 bytes"):
        transport.convert_audio(bytes(6), sample_rate=16000, num_channels=2)
    with pytest.raises(AudioFormatError, match="expected 1 or 2 input channels, got 3"):
        transport.convert_audio(bytes(12), sample_rate=16000, num_channels=3)
    with pytest.raises(AudioFormatError, match="between 8000 and 48000 Hz, got 96000 Hz"):
        transport.convert_audio(bytes(4), sample_rate=96000, num_channels=1)
    with pytest.raises(AudioFormatError, match="cannot take input audio"):
        transport.convert_audio(bytes(4), sample_rate=11025, num_channels=1)


async def test_a_declared_input_rate_is_enforced() -> None:
    transport = await started_input(TransportParams(audio_in_sample_rate=8000))
    with pytest.raises(AudioFormatError, match="expected input audio at 8000 Hz, got 16000 Hz"):
        transport.convert_audio(bytes(320), sample_rate=16000, num_channels=1)


def test_bad_transport_params_are_refused() -> None:
    with pytest.raises(ConfigurationError, match="audio_out_10ms_chunks must be at least 1"):
        TransportParams(audio_out_10ms_chunks=0)
    with pytest.raises(ConfigurationError, match="audio_in_channels must be 1 or 2, got 6"):
        TransportParams(audio_in_channels=6)
