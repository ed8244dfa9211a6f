/* PCM kernels of vani._core.pcm: plain C loops over raw sample pointers, free of Python objects
 * so they run with or without the GIL. Kept in C rather than Cython so that `restrict` and
 * branch-free selects let the compiler vectorize them (SSE2 baseline on x86-64).
 *
 * Samples are native-endian (little-endian on every platform vani supports). Source and
 * destination never overlap. */
#ifndef VANI_PCM_KERNELS_H
#define VANI_PCM_KERNELS_H

#include <math.h>
#include <stddef.h>
#include <stdint.h>
#if defined(__SSE2__)
#include <emmintrin.h>
#endif

static inline void vani_s16_to_f32(const int16_t *restrict src, float *restrict dst, size_t n)
{
    /* Scaling by a power of two is exact: equals numpy's astype(float32) / 32768. */
    for (size_t i = 0; i < n; i++)
        dst[i] = (float)src[i] * (1.0f / 32768.0f);
}

static inline int16_t vani_f32_to_s16_one(float x)
{
    float v = x * 32768.0f;      /* exact: a power of two */
    v = (v == v) ? v : 0.0f;     /* NaN would convert to INT_MIN; silence is safer */
    v = v < 32767.0f ? v : 32767.0f;
    v = v > -32768.0f ? v : -32768.0f;
    /* Adding 1.5 * 2^23 rounds to an integer, half to even (the default rounding mode), and the
     * subtraction is exact; because v * 32768 is exact, an FMA cannot change the result. */
    return (int16_t)(int32_t)((v + 12582912.0f) - 12582912.0f);
}

static inline void vani_f32_to_s16(const float *restrict src, int16_t *restrict dst, size_t n)
{
    size_t i = 0;
#if defined(__SSE2__)
    /* GCC will not vectorize the clamping selects above (they may raise FP flags), so on x86 the
     * same steps are spelt out: NaN -> 0, clamp, convert rounding half to even, pack. */
    const __m128 scale = _mm_set1_ps(32768.0f);
    const __m128 hi = _mm_set1_ps(32767.0f);
    const __m128 lo = _mm_set1_ps(-32768.0f);
    for (; i + 8 <= n; i += 8) {
        __m128 a = _mm_mul_ps(_mm_loadu_ps(src + i), scale);
        __m128 b = _mm_mul_ps(_mm_loadu_ps(src + i + 4), scale);
        a = _mm_and_ps(a, _mm_cmpord_ps(a, a));
        b = _mm_and_ps(b, _mm_cmpord_ps(b, b));
        a = _mm_max_ps(_mm_min_ps(a, hi), lo);
        b = _mm_max_ps(_mm_min_ps(b, hi), lo);
        __m128i packed = _mm_packs_epi32(_mm_cvtps_epi32(a), _mm_cvtps_epi32(b));
        _mm_storeu_si128((__m128i *)(dst + i), packed);
    }
#endif
    for (; i < n; i++)
        dst[i] = vani_f32_to_s16_one(src[i]);
}

static inline void vani_s16_gain(const int16_t *restrict src, int16_t *restrict dst, size_t n,
                                 double gain)
{
    for (size_t i = 0; i < n; i++) {
        /* rint() rounds the product only after it is rounded to double: no FMA can fuse them. */
        double v = rint((double)src[i] * gain);
        v = v < 32767.0 ? v : 32767.0;
        v = v > -32768.0 ? v : -32768.0;
        dst[i] = (int16_t)v;
    }
}

static inline void vani_s16_mix(const int16_t *restrict a, const int16_t *restrict b,
                                int16_t *restrict dst, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        int32_t v = (int32_t)a[i] + (int32_t)b[i];
        v = v < 32767 ? v : 32767;
        v = v > -32768 ? v : -32768;
        dst[i] = (int16_t)v;
    }
}

static inline int64_t vani_s16_sum_squares(const int16_t *restrict src, size_t n)
{
    /* Exact in 64 bits for up to 2^33 samples (each square is at most 2^30). */
    int64_t acc = 0;
    for (size_t i = 0; i < n; i++)
        acc += (int32_t)src[i] * (int32_t)src[i];
    return acc;
}

static inline void vani_s16_mono_to_stereo(const int16_t *restrict src, int16_t *restrict dst,
                                           size_t n)
{
    for (size_t i = 0; i < n; i++) {
        dst[2 * i] = src[i];
        dst[2 * i + 1] = src[i];
    }
}

static inline void vani_s16_stereo_to_mono(const int16_t *restrict src, int16_t *restrict dst,
                                           size_t n)
{
    /* The mean of left and right, rounded towards minus infinity (an arithmetic shift). */
    for (size_t i = 0; i < n; i++)
        dst[i] = (int16_t)(((int32_t)src[2 * i] + (int32_t)src[2 * i + 1]) >> 1);
}

/* G.711 encoding through a table indexed by the top (16 - shift) bits of the sample, taken as
 * unsigned: the same index as the arithmetic shift masked to that width. */
static inline void vani_g711_encode(const int16_t *restrict src, uint8_t *restrict dst, size_t n,
                                    const uint8_t *restrict table, unsigned shift)
{
    for (size_t i = 0; i < n; i++)
        dst[i] = table[(uint16_t)src[i] >> shift];
}

static inline void vani_g711_decode(const uint8_t *restrict src, int16_t *restrict dst, size_t n,
                                    const int16_t *restrict table)
{
    for (size_t i = 0; i < n; i++)
        dst[i] = table[src[i]];
}

#endif
