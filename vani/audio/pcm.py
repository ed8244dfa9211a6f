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

from vani._core import pcm as _pcm

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

# The compiled functions validate their own input (lengths, widths, buffer types), so they are
# exported as they are: no Python frame sits between the caller and the loop. Their docstrings
# state units and errors.
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
# audioop's signatures: ``lin2ulaw(fragment, width)`` etc. ``width`` must be 2 (16-bit); any
# other width raises AudioFormatError, as does a fragment of odd length.
lin2ulaw = _pcm.lin2ulaw
ulaw2lin = _pcm.ulaw2lin
lin2alaw = _pcm.lin2alaw
alaw2lin = _pcm.alaw2lin
