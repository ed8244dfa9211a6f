"""PCM helpers for int16 audio, and audioop-compatible G.711 codecs.

Audio in vani is raw PCM: signed 16-bit samples in native byte order (little-endian on every
platform vani runs on), channels interleaved. Every function here takes any bytes-like object
(``bytes``, ``bytearray``, ``memoryview``, a C-contiguous numpy array) and returns new
``bytes``, except :func:`int16_to_float32_into`, which writes into a buffer you own. Input of
the wrong length raises :class:`~vani.errors.AudioFormatError` (a ``ValueError``) naming the
length it got; a non-buffer raises ``TypeError``.

The work happens in the compiled core (``vani._core.pcm``); loops over large inputs release
the GIL. Every function is pure and thread-safe.

Python 3.13 removed :mod:`audioop`; :func:`lin2ulaw`, :func:`ulaw2lin`, :func:`lin2alaw` and
:func:`alaw2lin` keep its signatures and give bit-identical results for 16-bit samples
(``width=2``), which is what telephony media streams (8 kHz G.711) need.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from vani._core import pcm as _pcm
from vani.errors import AudioFormatError

if TYPE_CHECKING:
    from typing_extensions import Buffer

__all__ = [
    "alaw2lin",
    "alaw_decode",
    "alaw_encode",
    "apply_gain",
    "dbfs",
    "float32_to_int16",
    "int16_to_float32",
    "int16_to_float32_into",
    "lin2alaw",
    "lin2ulaw",
    "mix",
    "mono_to_stereo",
    "rms",
    "stereo_to_mono",
    "ulaw2lin",
    "ulaw_decode",
    "ulaw_encode",
]

# The compiled functions validate their own input, so they are exported as they are: no Python
# frame sits between the caller and the loop. Their docstrings state units and errors.
int16_to_float32 = _pcm.int16_to_float32
int16_to_float32_into = _pcm.int16_to_float32_into
float32_to_int16 = _pcm.float32_to_int16
apply_gain = _pcm.apply_gain
mix = _pcm.mix
rms = _pcm.rms
dbfs = _pcm.dbfs
mono_to_stereo = _pcm.mono_to_stereo
stereo_to_mono = _pcm.stereo_to_mono
ulaw_encode = _pcm.ulaw_encode
ulaw_decode = _pcm.ulaw_decode
alaw_encode = _pcm.alaw_encode
alaw_decode = _pcm.alaw_decode


def _check_width(width: object) -> None:
    # audioop accepted widths 1 to 4; only 16-bit PCM flows through vani.
    if width != 2 or isinstance(width, bool):
        raise AudioFormatError(
            f"expected width 2 (16-bit samples), got {width!r}; only 16-bit PCM is supported"
        )


def lin2ulaw(fragment: Buffer, width: int) -> bytes:
    """Encode 16-bit PCM to G.711 μ-law, one byte per sample, as ``audioop.lin2ulaw``.

    ``width`` must be 2. Raises ``AudioFormatError`` for another width or an odd byte count.
    """
    _check_width(width)
    return _pcm.ulaw_encode(fragment)


def ulaw2lin(fragment: Buffer, width: int) -> bytes:
    """Decode G.711 μ-law bytes to 16-bit PCM, as ``audioop.ulaw2lin``; ``width`` must be 2."""
    _check_width(width)
    return _pcm.ulaw_decode(fragment)


def lin2alaw(fragment: Buffer, width: int) -> bytes:
    """Encode 16-bit PCM to G.711 A-law, one byte per sample, as ``audioop.lin2alaw``.

    ``width`` must be 2. Raises ``AudioFormatError`` for another width or an odd byte count.
    """
    _check_width(width)
    return _pcm.alaw_encode(fragment)


def alaw2lin(fragment: Buffer, width: int) -> bytes:
    """Decode G.711 A-law bytes to 16-bit PCM, as ``audioop.alaw2lin``; ``width`` must be 2."""
    _check_width(width)
    return _pcm.alaw_decode(fragment)
