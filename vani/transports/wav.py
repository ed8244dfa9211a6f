"""Reading and writing WAV files for the file transport (sans-I/O parsing of RIFF bytes).

:func:`parse_wav` accepts the encodings people actually have lying around: integer PCM of 8, 16,
24 or 32 bits and 32/64-bit IEEE float, plain or ``WAVE_FORMAT_EXTENSIBLE``, any channel count and
rate. Everything comes out as 16-bit little-endian PCM, interleaved. Anything else raises
:class:`~vani.errors.AudioFormatError` naming what was found and what was expected.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from vani.errors import AudioFormatError

__all__ = ["WavAudio", "encode_wav", "parse_wav", "read_wav", "write_wav"]

_FORMAT_PCM = 0x0001
_FORMAT_FLOAT = 0x0003
_FORMAT_EXTENSIBLE = 0xFFFE


@dataclass(slots=True, frozen=True)
class WavAudio:
    """Decoded audio: ``pcm`` is 16-bit little-endian, interleaved when ``num_channels`` > 1."""

    pcm: bytes
    sample_rate: int
    num_channels: int

    @property
    def num_frames(self) -> int:
        """Samples per channel."""
        return len(self.pcm) // (2 * self.num_channels)

    @property
    def duration_secs(self) -> float:
        return self.num_frames / self.sample_rate


def _to_int16(data: bytes, fmt: int, bits: int) -> np.ndarray:
    if fmt == _FORMAT_FLOAT:
        if bits not in (32, 64):
            raise AudioFormatError(f"expected 32 or 64-bit float samples, got {bits}-bit float")
        floats: np.ndarray = np.frombuffer(data, dtype="<f4" if bits == 32 else "<f8")
        scaled: np.ndarray = (np.clip(floats, -1.0, 1.0) * 32767.0).round()
        return scaled.astype("<i2")
    if bits == 16:
        pcm16: np.ndarray = np.frombuffer(data, dtype="<i2")
        return pcm16
    if bits == 8:  # unsigned, centred on 128
        return ((np.frombuffer(data, dtype=np.uint8).astype(np.int16) - 128) << 8).astype("<i2")
    if bits == 24:
        raw = np.frombuffer(data, dtype=np.uint8).reshape(-1, 3)
        # Take the top two bytes of each little-endian 24-bit sample.
        return (raw[:, 1].astype(np.uint16) | (raw[:, 2].astype(np.uint16) << 8)).view("<i2")
    if bits == 32:
        return (np.frombuffer(data, dtype="<i4") >> 16).astype("<i2")
    raise AudioFormatError(f"expected 8, 16, 24 or 32-bit PCM samples, got {bits}-bit")


def parse_wav(data: bytes, *, name: str = "<bytes>") -> WavAudio:
    """Decode a whole WAV file held in memory. ``name`` only appears in error messages."""
    if len(data) < 12 or data[:4] != b"RIFF" or data[8:12] != b"WAVE":
        head = data[:12]
        raise AudioFormatError(
            f"{name} is not a WAV file: expected a 'RIFF....WAVE' header, got {head!r}"
        )
    pos = 12
    fmt_chunk: bytes | None = None
    pcm_data: bytes | None = None
    while pos + 8 <= len(data):
        chunk_id = data[pos : pos + 4]
        (size,) = struct.unpack_from("<I", data, pos + 4)
        body = data[pos + 8 : pos + 8 + size]
        if chunk_id == b"fmt ":
            fmt_chunk = body
        elif chunk_id == b"data":
            # A streaming writer may leave the size at 0 or 0xFFFFFFFF, and a truncated file
            # holds less than declared: either way, take the samples that are there.
            pcm_data = data[pos + 8 :] if size in (0, 0xFFFFFFFF) else body
        pos += 8 + size + (size & 1)  # chunks are word-aligned
    if fmt_chunk is None or len(fmt_chunk) < 16:
        raise AudioFormatError(f"{name} is a broken WAV file: expected a 'fmt ' chunk, found none")
    if pcm_data is None:
        raise AudioFormatError(f"{name} is a broken WAV file: expected a 'data' chunk, found none")
    fmt, channels, rate, _byte_rate, block_align, bits = struct.unpack_from("<HHIIHH", fmt_chunk)
    if fmt == _FORMAT_EXTENSIBLE and len(fmt_chunk) >= 26:
        (fmt,) = struct.unpack_from("<H", fmt_chunk, 24)  # first two bytes of the subformat GUID
    if fmt not in (_FORMAT_PCM, _FORMAT_FLOAT):
        raise AudioFormatError(
            f"{name} uses WAV encoding 0x{fmt:04x}: expected PCM (0x0001) or float (0x0003)"
        )
    if channels < 1:
        raise AudioFormatError(f"{name} declares {channels} channels: expected at least 1")
    if not 1000 <= rate <= 384000:
        raise AudioFormatError(f"{name} declares a sample rate of {rate} Hz: expected 1–384 kHz")
    width = bits // 8
    if bits % 8 or block_align != width * channels:
        raise AudioFormatError(
            f"{name} is a broken WAV file: block align {block_align} does not match"
            f" {channels} channel(s) of {bits} bits"
        )
    whole = len(pcm_data) - len(pcm_data) % block_align
    samples = _to_int16(pcm_data[:whole], fmt, bits)
    return WavAudio(pcm=samples.astype("<i2").tobytes(), sample_rate=rate, num_channels=channels)


def read_wav(path: str | Path) -> WavAudio:
    """Read and decode a WAV file (see :func:`parse_wav`)."""
    path = Path(path)
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise AudioFormatError(f"cannot read WAV file {path}: {exc.strerror or exc}") from exc
    return parse_wav(data, name=str(path))


def encode_wav(pcm: bytes, *, sample_rate: int, num_channels: int) -> bytes:
    """A 16-bit PCM WAV file holding ``pcm`` (interleaved little-endian int16)."""
    block_align = 2 * num_channels
    header = struct.pack(
        "<4sI4s4sIHHIIHH4sI",
        b"RIFF",
        36 + len(pcm),
        b"WAVE",
        b"fmt ",
        16,
        _FORMAT_PCM,
        num_channels,
        sample_rate,
        sample_rate * block_align,
        block_align,
        16,
        b"data",
        len(pcm),
    )
    return header + pcm


def write_wav(path: str | Path, pcm: bytes, *, sample_rate: int, num_channels: int) -> Path:
    """Write ``pcm`` as a 16-bit WAV file; returns the path written."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(encode_wav(pcm, sample_rate=sample_rate, num_channels=num_channels))
    return path
