/* Inner loops of the polyphase resampler (csrc/resample.pyx).
 *
 * The dot product's summation order depends only on the length, never on where the operands sit
 * in memory, so an output sample is bit-identical however the input stream was chunked. With GCC
 * or clang the generic vector extension maps to SSE2 on x86-64 and NEON on arm64 (no intrinsics,
 * no -march flags); other compilers get the same order in scalar code.
 */
#ifndef VANI_RESAMPLE_KERNEL_H
#define VANI_RESAMPLE_KERNEL_H

#include <math.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#if defined(__GNUC__) || defined(__clang__)
typedef float vani_v4f __attribute__((vector_size(16)));

static inline vani_v4f vani_load4(const float *p) {
    vani_v4f v;
    memcpy(&v, p, sizeof v); /* an unaligned load (movups / ld1) */
    return v;
}

/* sum(c[j] * x[j] for j < n), n a positive multiple of 8. */
static inline float vani_rs_dot(const float *c, const float *x, ptrdiff_t n) {
    vani_v4f a0 = {0.0f, 0.0f, 0.0f, 0.0f}, a1 = a0, a2 = a0, a3 = a0;
    ptrdiff_t j = 0;
    for (; j + 16 <= n; j += 16) {
        a0 += vani_load4(c + j) * vani_load4(x + j);
        a1 += vani_load4(c + j + 4) * vani_load4(x + j + 4);
        a2 += vani_load4(c + j + 8) * vani_load4(x + j + 8);
        a3 += vani_load4(c + j + 12) * vani_load4(x + j + 12);
    }
    if (j < n) {
        a0 += vani_load4(c + j) * vani_load4(x + j);
        a1 += vani_load4(c + j + 4) * vani_load4(x + j + 4);
    }
    a0 = (a0 + a1) + (a2 + a3);
    return (a0[0] + a0[1]) + (a0[2] + a0[3]);
}
#else
static inline float vani_rs_dot(const float *c, const float *x, ptrdiff_t n) {
    float a[16] = {0};
    ptrdiff_t j = 0, l;
    for (; j + 16 <= n; j += 16)
        for (l = 0; l < 16; l++) a[l] += c[j + l] * x[j + l];
    if (j < n)
        for (l = 0; l < 8; l++) a[l] += c[j + l] * x[j + l];
    for (l = 0; l < 4; l++) a[l] = (a[l] + a[l + 4]) + (a[l + 8] + a[l + 12]);
    return (a[0] + a[1]) + (a[2] + a[3]);
}
#endif

/* Round to nearest (ties to even, the default FP mode) and saturate to int16. */
static inline int16_t vani_rs_to_int16(float y) {
    if (y >= 32767.0f) return 32767;
    if (y <= -32768.0f) return -32768;
    return (int16_t)lrintf(y);
}

/* Little-endian int16 at any byte address. */
static inline float vani_rs_load_s16le(const unsigned char *p) {
    return (float)(int16_t)(uint16_t)(p[0] | ((unsigned)p[1] << 8));
}

static inline void vani_rs_store_s16le(unsigned char *p, int16_t v) {
    uint16_t u = (uint16_t)v;
    p[0] = (unsigned char)(u & 0xFF);
    p[1] = (unsigned char)(u >> 8);
}

#endif /* VANI_RESAMPLE_KERNEL_H */
