# cython: language_level=3
"""PCM conversions and G.711 codecs over native-endian int16 audio.

Every function takes any bytes-like object (bytes, bytearray, memoryview, a C-contiguous numpy
array) and returns new ``bytes``; ``int16_to_float32_into`` writes into a caller's float32
buffer instead (a row of a preallocated batch). Functions are pure and thread-safe: the only
state is the G.711 tables, built once at import and read-only afterwards.

Inputs are read through the buffer protocol rather than typed memoryviews: acquiring a typed
memoryview costs ~0.4 µs per call, more than converting 20 ms of audio. The loops themselves
are C (``pcm_kernels.h``). Calls on at least ``_NOGIL_MIN_BYTES`` (16 KiB) release the GIL around
the loop; below that, releasing and re-taking it costs more than the loop it would free.
"""

from cpython.buffer cimport (
    PyBUF_C_CONTIGUOUS,
    PyBUF_FORMAT,
    PyBUF_SIMPLE,
    PyBUF_WRITABLE,
    PyBuffer_Release,
    PyObject_GetBuffer,
)
from cpython.bytes cimport PyBytes_AS_STRING, PyBytes_FromStringAndSize
from libc.math cimport isfinite, log10, sqrt
from libc.stdint cimport int16_t, int64_t, uint8_t
from libc.string cimport memcpy

from vani.errors import AudioFormatError, ConfigurationError

cdef enum:
    _NOGIL_MIN_BYTES = 16384

cdef uint8_t _ULAW_ENC[16384]   # indexed by the top 14 bits of a sample
cdef uint8_t _ALAW_ENC[8192]    # indexed by the top 13 bits of a sample
cdef int16_t _ULAW_DEC[256]
cdef int16_t _ALAW_DEC[256]


# ---------------------------------------------------------------------------------------------
# G.711 tables. G.711 is defined on 14-bit (μ-law) and 13-bit (A-law) samples; a 16-bit sample
# is reduced by an arithmetic shift (the low bits truncated towards minus infinity), as
# audioop did, so the tables are indexed by the sample's top bits.

cdef int _bit_length(int v) noexcept nogil:
    cdef int n = 0
    while v:
        v >>= 1
        n += 1
    return n


cdef uint8_t _ulaw_encode14(int v) noexcept nogil:
    # μ-law biases the magnitude by 33 so that every segment starts at a power of two:
    # segment s holds biased magnitudes [2**(s+5), 2**(s+6)) in 16 steps of 2**(s+1).
    # The code is sign, segment and step, all bits inverted.
    cdef int mag, mask, seg
    if v < 0:
        mag = -v
        mask = 0x7F
    else:
        mag = v
        mask = 0xFF
    if mag > 8159:       # the largest magnitude μ-law represents
        mag = 8159
    mag += 33
    seg = _bit_length(mag) - 6
    if seg > 7:          # only 8159 + 33 == 8192: the top code of segment 7
        return <uint8_t>(0x7F ^ mask)
    return <uint8_t>(((seg << 4) | ((mag >> (seg + 1)) & 0xF)) ^ mask)


cdef int16_t _ulaw_decode(uint8_t code) noexcept nogil:
    # The middle of the code's step, scaled from 14 to 16 bits.
    cdef int u = (~code) & 0xFF
    cdef int seg = (u >> 4) & 7
    cdef int t = (((u & 0xF) << 3) + 132) << seg
    if u & 0x80:
        return <int16_t>(132 - t)
    return <int16_t>(t - 132)


cdef uint8_t _alaw_encode13(int v) noexcept nogil:
    # A-law: segments 0 and 1 both step by 2; segment s >= 1 holds [2**(s+4), 2**(s+5)) in
    # steps of 2**s. Negative values use the one's complement magnitude; even bits are inverted.
    cdef int mag, mask, seg, mant
    if v >= 0:
        mag = v
        mask = 0xD5
    else:
        mag = -v - 1
        mask = 0x55
    if mag < 32:
        seg = 0
        mant = (mag >> 1) & 0xF
    else:
        seg = _bit_length(mag) - 5
        mant = (mag >> seg) & 0xF
    return <uint8_t>(((seg << 4) | mant) ^ mask)


cdef int16_t _alaw_decode(uint8_t code) noexcept nogil:
    cdef int a = code ^ 0x55
    cdef int seg = (a >> 4) & 7
    cdef int t = (a & 0xF) << 4
    if seg == 0:
        t += 8
    else:
        t = (t + 0x108) << (seg - 1)
    if a & 0x80:
        return <int16_t>t
    return <int16_t>(-t)


cdef void _build_tables() noexcept nogil:
    cdef int i
    for i in range(16384):
        _ULAW_ENC[i] = _ulaw_encode14(i - 16384 if i >= 8192 else i)
    for i in range(8192):
        _ALAW_ENC[i] = _alaw_encode13(i - 8192 if i >= 4096 else i)
    for i in range(256):
        _ULAW_DEC[i] = _ulaw_decode(<uint8_t>i)
        _ALAW_DEC[i] = _alaw_decode(<uint8_t>i)


_build_tables()


# ---------------------------------------------------------------------------------------------
# Buffer handling.

cdef int _get_samples(object obj, Py_buffer* view, int frame_bytes, str what) except -1:
    """Acquire a read buffer whose length is a multiple of ``frame_bytes``."""
    PyObject_GetBuffer(obj, view, PyBUF_SIMPLE)
    if view.len % frame_bytes:
        n = view.len
        PyBuffer_Release(view)
        raise AudioFormatError(
            f"expected whole {what} (a multiple of {frame_bytes} bytes), got {n} bytes"
        )
    return 0


cdef inline bytes _new_bytes(Py_ssize_t n):
    return PyBytes_FromStringAndSize(NULL, n)


cdef bint _is_float32(Py_buffer* d):
    if d.itemsize != 4 or d.format == NULL:
        return False
    if d.format[0] == b'f':
        return d.format[1] == 0
    return d.format[0] in b'<=@' and d.format[1] == b'f' and d.format[2] == 0


# The element-wise conversions share one path: acquire the input, allocate the output, run the
# kernel (without the GIL for large inputs), release. The switch keeps every kernel inlined.
cdef enum _Kernel:
    _S16_TO_F32
    _F32_TO_S16
    _GAIN
    _MONO_TO_STEREO
    _STEREO_TO_MONO
    _ULAW_ENCODE
    _ALAW_ENCODE
    _ULAW_DECODE
    _ALAW_DECODE


cdef void _run_kernel(_Kernel k, const void* src, void* dst, size_t n, double gain) noexcept nogil:
    if k == _S16_TO_F32:
        vani_s16_to_f32(<const int16_t*>src, <float*>dst, n)
    elif k == _F32_TO_S16:
        vani_f32_to_s16(<const float*>src, <int16_t*>dst, n)
    elif k == _GAIN:
        vani_s16_gain(<const int16_t*>src, <int16_t*>dst, n, gain)
    elif k == _MONO_TO_STEREO:
        vani_s16_mono_to_stereo(<const int16_t*>src, <int16_t*>dst, n)
    elif k == _STEREO_TO_MONO:
        vani_s16_stereo_to_mono(<const int16_t*>src, <int16_t*>dst, n)
    elif k == _ULAW_ENCODE:
        # Constant shifts in each branch let the compiler fold the table index.
        vani_g711_encode(<const int16_t*>src, <uint8_t*>dst, n, _ULAW_ENC, 2)
    elif k == _ALAW_ENCODE:
        vani_g711_encode(<const int16_t*>src, <uint8_t*>dst, n, _ALAW_ENC, 3)
    elif k == _ULAW_DECODE:
        vani_g711_decode(<const uint8_t*>src, <int16_t*>dst, n, _ULAW_DEC)
    else:
        vani_g711_decode(<const uint8_t*>src, <int16_t*>dst, n, _ALAW_DEC)


cdef bytes _convert(
    object src, int in_frame, str what, Py_ssize_t out_frame, _Kernel k, double gain=1.0
):
    """Run kernel ``k`` over whole ``in_frame``-byte frames of ``src``; ``out_frame`` bytes out
    per frame. Raises ``AudioFormatError`` when ``src`` is not whole frames."""
    cdef Py_buffer v
    _get_samples(src, &v, in_frame, what)
    cdef size_t n = v.len // in_frame
    cdef bytes out
    cdef char* o
    try:
        out = _new_bytes(n * out_frame)
        o = PyBytes_AS_STRING(out)
        if v.len >= _NOGIL_MIN_BYTES:
            with nogil:
                _run_kernel(k, v.buf, o, n, gain)
        else:
            _run_kernel(k, v.buf, o, n, gain)
    finally:
        PyBuffer_Release(&v)
    return out


# ---------------------------------------------------------------------------------------------
# Float conversion.

def int16_to_float32(src):
    """Convert int16 PCM to float32 samples in [-1, 1) (``sample / 32768``).

    Returns ``2 * len(src)`` bytes of native float32. Raises ``AudioFormatError`` on an odd
    byte count.
    """
    return _convert(src, 2, "int16 samples", 4, _S16_TO_F32)


def int16_to_float32_into(src, dst):
    """Convert int16 PCM into the start of ``dst``, a writable C-contiguous float32 buffer.

    ``dst`` is typically a row, or a slice of a row, of a preallocated numpy float32 array
    (``batch[i, 64:]``); it must hold at least ``len(src) // 2`` samples and must not overlap
    ``src``. Returns the number of samples written. Raises ``AudioFormatError`` on an odd byte
    count or a ``dst`` too small, ``TypeError`` when ``dst`` is not float32.
    """
    cdef Py_buffer v
    cdef Py_buffer d
    _get_samples(src, &v, 2, "int16 samples")
    cdef size_t n = v.len // 2
    try:
        PyObject_GetBuffer(dst, &d, PyBUF_WRITABLE | PyBUF_FORMAT | PyBUF_C_CONTIGUOUS)
    except BaseException:
        PyBuffer_Release(&v)
        raise
    try:
        if not _is_float32(&d):
            fmt = (<bytes>d.format).decode() if d.format != NULL else "B"
            raise TypeError(f"expected a float32 buffer for dst, got format {fmt!r}")
        if <size_t>d.len < n * 4:
            raise AudioFormatError(
                f"expected room for {n} float32 samples in dst, got {d.len // 4}"
            )
        if v.len >= _NOGIL_MIN_BYTES:
            with nogil:
                vani_s16_to_f32(<const int16_t*>v.buf, <float*>d.buf, n)
        else:
            vani_s16_to_f32(<const int16_t*>v.buf, <float*>d.buf, n)
    finally:
        PyBuffer_Release(&d)
        PyBuffer_Release(&v)
    return n


def float32_to_int16(src):
    """Convert float32 samples to int16 PCM: ``round(x * 32768)`` clipped to [-32768, 32767].

    Rounds half to even; NaN becomes 0 and infinities clip. Returns ``len(src) // 2`` bytes.
    Raises ``AudioFormatError`` when the byte count is not a multiple of 4.
    """
    return _convert(src, 4, "float32 samples", 2, _F32_TO_S16)


# ---------------------------------------------------------------------------------------------
# Level, gain, mixing, channels.

def apply_gain(src, double gain):
    """Multiply int16 PCM by ``gain`` (linear, not dB), rounding half to even and saturating.

    Raises ``ConfigurationError`` for a non-finite gain, ``AudioFormatError`` on an odd byte
    count.
    """
    if not isfinite(gain):
        raise ConfigurationError(f"expected a finite gain, got {gain!r}")
    return _convert(src, 2, "int16 samples", 2, _GAIN, gain)


cdef void _mix_into(const Py_buffer* va, const Py_buffer* vb, char* o) noexcept nogil:
    cdef size_t na = va.len // 2
    cdef size_t nb = vb.len // 2
    cdef size_t common = na if na < nb else nb
    vani_s16_mix(<const int16_t*>va.buf, <const int16_t*>vb.buf, <int16_t*>o, common)
    # Past the shorter input, the longer one is copied unchanged.
    if na > common:
        memcpy(o + common * 2, <const char*>va.buf + common * 2, (na - common) * 2)
    elif nb > common:
        memcpy(o + common * 2, <const char*>vb.buf + common * 2, (nb - common) * 2)


def mix(a, b):
    """Add two int16 streams sample by sample, saturating at the int16 limits.

    The result is as long as the longer input; the shorter one counts as silence past its end.
    Raises ``AudioFormatError`` when either has an odd byte count.
    """
    cdef Py_buffer va
    cdef Py_buffer vb
    _get_samples(a, &va, 2, "int16 samples")
    try:
        _get_samples(b, &vb, 2, "int16 samples")
    except BaseException:
        PyBuffer_Release(&va)
        raise
    cdef bytes out
    cdef char* o
    try:
        out = _new_bytes(va.len if va.len > vb.len else vb.len)
        o = PyBytes_AS_STRING(out)
        if va.len + vb.len >= _NOGIL_MIN_BYTES:
            with nogil:
                _mix_into(&va, &vb, o)
        else:
            _mix_into(&va, &vb, o)
    finally:
        PyBuffer_Release(&vb)
        PyBuffer_Release(&va)
    return out


def rms(src):
    """Root mean square of int16 PCM, in sample units (0 to 32768); 0.0 for empty input."""
    cdef Py_buffer v
    _get_samples(src, &v, 2, "int16 samples")
    cdef size_t n = v.len // 2
    cdef int64_t acc
    try:
        if v.len >= _NOGIL_MIN_BYTES:
            with nogil:
                acc = vani_s16_sum_squares(<const int16_t*>v.buf, n)
        else:
            acc = vani_s16_sum_squares(<const int16_t*>v.buf, n)
    finally:
        PyBuffer_Release(&v)
    if n == 0:
        return 0.0
    return sqrt(<double>acc / <double>n)


def dbfs(src):
    """Level of int16 PCM in dB relative to full scale: ``20 * log10(rms / 32768)``.

    A full-scale square wave reads 0 dBFS, a full-scale sine about -3 dBFS. Silence and empty
    input read ``-inf``.
    """
    cdef double r = rms(src)
    if r == 0.0:
        return float("-inf")
    return 20.0 * log10(r / 32768.0)


def mono_to_stereo(src):
    """Duplicate each int16 sample into a left/right pair (interleaved stereo)."""
    return _convert(src, 2, "int16 samples", 4, _MONO_TO_STEREO)


def stereo_to_mono(src):
    """Average interleaved stereo int16 into mono: ``(left + right) >> 1`` (rounding down).

    Raises ``AudioFormatError`` unless the byte count is a multiple of 4 (whole frames).
    """
    return _convert(src, 4, "stereo int16 frames", 2, _STEREO_TO_MONO)


# ---------------------------------------------------------------------------------------------
# G.711.

def ulaw_encode(src):
    """Encode int16 PCM to G.711 μ-law, one byte per sample (``audioop.lin2ulaw(src, 2)``).

    Raises ``AudioFormatError`` on an odd byte count.
    """
    return _convert(src, 2, "int16 samples", 1, _ULAW_ENCODE)


def alaw_encode(src):
    """Encode int16 PCM to G.711 A-law, one byte per sample (``audioop.lin2alaw(src, 2)``).

    Raises ``AudioFormatError`` on an odd byte count.
    """
    return _convert(src, 2, "int16 samples", 1, _ALAW_ENCODE)


def ulaw_decode(src):
    """Decode G.711 μ-law bytes to int16 PCM (``audioop.ulaw2lin(src, 2)``)."""
    return _convert(src, 1, "G.711 bytes", 2, _ULAW_DECODE)


def alaw_decode(src):
    """Decode G.711 A-law bytes to int16 PCM (``audioop.alaw2lin(src, 2)``)."""
    return _convert(src, 1, "G.711 bytes", 2, _ALAW_DECODE)


# ---------------------------------------------------------------------------------------------
# audioop's names and signatures (audioop left the standard library in Python 3.13).

cdef int _check_width(object width) except -1:
    # audioop accepted widths 1 to 4; only 16-bit PCM flows through vani.
    if isinstance(width, bool) or width != 2:
        raise AudioFormatError(
            f"expected width 2 (16-bit samples), got {width!r}; only 16-bit PCM is supported"
        )
    return 0


def lin2ulaw(fragment, width):
    """``audioop.lin2ulaw``: 16-bit PCM to G.711 μ-law; ``width`` must be 2."""
    _check_width(width)
    return ulaw_encode(fragment)


def ulaw2lin(fragment, width):
    """``audioop.ulaw2lin``: G.711 μ-law to 16-bit PCM; ``width`` must be 2."""
    _check_width(width)
    return ulaw_decode(fragment)


def lin2alaw(fragment, width):
    """``audioop.lin2alaw``: 16-bit PCM to G.711 A-law; ``width`` must be 2."""
    _check_width(width)
    return alaw_encode(fragment)


def alaw2lin(fragment, width):
    """``audioop.alaw2lin``: G.711 A-law to 16-bit PCM; ``width`` must be 2."""
    _check_width(width)
    return alaw_decode(fragment)
