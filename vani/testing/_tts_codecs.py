"""Encoders for the fake Sarvam TTS: every ``output_audio_codec`` the service offers.

The real service streams compressed codecs as fragments of one stream (an MP3 elementary stream,
ADTS AAC, Ogg Opus, FLAC), G.711 as 8-bit samples and ``linear16`` as raw PCM; the fake does the
same, so a client decodes by the configured codec exactly as it would against Sarvam. The
compressed codecs are encoded with PyAV (FFmpeg: libmp3lame, aac, libopus, flac), imported only
when one of them is asked for.
"""

from __future__ import annotations

import io
import struct
from dataclasses import dataclass

from vani.audio.pcm import alaw_encode, ulaw_encode

__all__ = ["TTS_BITRATES", "TTS_OUTPUT_CODECS", "content_type", "encode"]

TTS_OUTPUT_CODECS = frozenset({"linear16", "mulaw", "alaw", "opus", "flac", "aac", "wav", "mp3"})
TTS_BITRATES = frozenset({"32k", "64k", "96k", "128k", "192k"})

# The service documents audio/mp3 for MP3; the others are undocumented, so they name the codec.
_CONTENT_TYPES = {
    "linear16": "audio/pcm",
    "mulaw": "audio/basic",
    "alaw": "audio/alaw",
    "opus": "audio/opus",
    "flac": "audio/flac",
    "aac": "audio/aac",
    "wav": "audio/wav",
    "mp3": "audio/mp3",
}


@dataclass(frozen=True, slots=True)
class _FFmpegCodec:
    encoder: str
    container: str
    rates: frozenset[int] | None  # rates the encoder takes; None: any


_FFMPEG = {
    "mp3": _FFmpegCodec("libmp3lame", "mp3", None),
    "aac": _FFmpegCodec("aac", "adts", None),
    # Opus runs only at 8/12/16/24/48 kHz: other rates are resampled to the next one up.
    "opus": _FFmpegCodec("libopus", "ogg", frozenset({8000, 12000, 16000, 24000, 48000})),
    "flac": _FFmpegCodec("flac", "flac", None),
}


def content_type(codec: str) -> str:
    """The ``content_type`` of the fake's audio messages for ``codec``."""
    return _CONTENT_TYPES[codec]


def wav_header(data_bytes: int, rate: int) -> bytes:
    """A 44-byte RIFF header for mono 16-bit PCM of ``data_bytes`` bytes."""
    return (
        b"RIFF"
        + struct.pack("<I", 36 + data_bytes)
        + b"WAVEfmt "
        + struct.pack("<IHHIIHH", 16, 1, 1, rate, rate * 2, 2, 16)
        + b"data"
        + struct.pack("<I", data_bytes)
    )


def encode(pcm: bytes, rate: int, codec: str, bitrate: str = "128k") -> bytes:
    """``pcm`` (mono s16le at ``rate`` Hz) as one stream of ``codec``.

    Raises ``ValueError`` for a codec or bitrate the service does not offer.
    """
    if codec not in TTS_OUTPUT_CODECS:
        raise ValueError(f"unknown output_audio_codec {codec!r}")
    if bitrate not in TTS_BITRATES:
        raise ValueError(f"unknown output_audio_bitrate {bitrate!r}")
    if codec == "linear16":
        return pcm
    if codec == "wav":
        return wav_header(len(pcm), rate) + pcm
    if codec == "mulaw":
        return ulaw_encode(pcm)
    if codec == "alaw":
        return alaw_encode(pcm)
    return _ffmpeg(pcm, rate, _FFMPEG[codec], int(bitrate[:-1]) * 1000)


def _ffmpeg(pcm: bytes, rate: int, codec: _FFmpegCodec, bit_rate: int) -> bytes:
    import av  # lazily: only compressed codecs need FFmpeg
    import numpy as np

    out_rate = rate
    if codec.rates is not None and rate not in codec.rates:
        out_rate = min(r for r in codec.rates if r >= rate)
    buffer = io.BytesIO()
    with av.open(buffer, mode="w", format=codec.container) as container:
        stream = container.add_stream(codec.encoder, rate=out_rate, layout="mono")
        assert isinstance(stream, av.AudioStream)
        if codec.encoder != "flac":
            stream.bit_rate = bit_rate
        resampler = av.AudioResampler(
            format=stream.format.name,
            layout="mono",
            rate=out_rate,
            frame_size=stream.codec_context.frame_size or None,
        )
        frame = av.AudioFrame.from_ndarray(
            np.frombuffer(pcm, dtype="<i2").reshape(1, -1), format="s16", layout="mono"
        )
        frame.sample_rate = rate
        for chunk in [*resampler.resample(frame), *resampler.resample(None)]:
            container.mux(stream.encode(chunk))
        container.mux(stream.encode(None))
    return buffer.getvalue()
