/* Inner loops of the polyphase resampler (csrc/resample.pyx).
 *
 * Every output sample is sum(c[j] * x[j] for j < n) over n = taps floats (a multiple of 8),
 * rounded half to even and saturated to int16. The summation order is fixed per output and
 * never depends on memory alignment or on which kernel computed it:
 *   lane l (0..7) accumulates the products j = l, l + 8, l + 16, ... in order;
 *   s[l] = lane[l] + lane[l + 4] for l < 4;   y = (s[0] + s[1]) + (s[2] + s[3]).
 * So the 4-output kernel and the 1-output kernel give identical bits, and an output is the same
 * however the input stream was chunked. On x86-64 the kernels use SSE2 (part of the baseline, no
 * -march flag needed): four outputs are reduced together with one transpose and converted with
 * one saturating pack. Elsewhere a portable scalar version follows the same order.
 */
#ifndef VANI_RESAMPLE_KERNEL_H
#define VANI_RESAMPLE_KERNEL_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

static inline float vani_rs_load_s16le(const unsigned char *p) {
    return (float)(int16_t)(uint16_t)(p[0] | ((unsigned)p[1] << 8));
}

static inline void vani_rs_store_s16le(unsigned char *p, int16_t v) {
    uint16_t u = (uint16_t)v;
    p[0] = (unsigned char)(u & 0xFF);
    p[1] = (unsigned char)(u >> 8);
}

#if defined(__SSE2__) && defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
#include <emmintrin.h>

/* Saturate to [-32768, 32767] and round half to even (cvtps2dq in the default MXCSR mode). */
static inline __m128i vani_rs_round4(__m128 y) {
    y = _mm_min_ps(_mm_max_ps(y, _mm_set1_ps(-32768.0f)), _mm_set1_ps(32767.0f));
    return _mm_cvtps_epi32(y);
}

static inline void vani_rs_dot1(const float *c, const float *x, ptrdiff_t n, unsigned char *dst) {
    __m128 a0 = _mm_setzero_ps(), a1 = a0, s;
    ptrdiff_t j;
    for (j = 0; j < n; j += 8) {
        a0 = _mm_add_ps(a0, _mm_mul_ps(_mm_loadu_ps(c + j), _mm_loadu_ps(x + j)));
        a1 = _mm_add_ps(a1, _mm_mul_ps(_mm_loadu_ps(c + j + 4), _mm_loadu_ps(x + j + 4)));
    }
    s = _mm_add_ps(a0, a1);
    /* (s0 + s1) + (s2 + s3), lane by lane exactly as the transposed 4-output reduction */
    __m128 t01 = _mm_add_ss(s, _mm_shuffle_ps(s, s, _MM_SHUFFLE(1, 1, 1, 1)));
    __m128 t23 = _mm_add_ss(_mm_shuffle_ps(s, s, _MM_SHUFFLE(2, 2, 2, 2)),
                            _mm_shuffle_ps(s, s, _MM_SHUFFLE(3, 3, 3, 3)));
    int32_t v = _mm_cvtsi128_si32(vani_rs_round4(_mm_add_ss(t01, t23)));
    vani_rs_store_s16le(dst, (int16_t)v);
}

/* One pass of the 4-output loop; U1..U3 / W1..W3 give the x vectors of outputs 1..3 (for taps
 * j..j+3 and j+4..j+7), reusing u0 / w0 etc. where outputs share an input position. */
#define VANI_RS_DOT4_LOOP(U1, U2, U3, W1, W2, W3)                                  \
    for (j = 0; j < n; j += 8) {                                                  \
        __m128 u0 = _mm_loadu_ps(x0 + j), u1 = (U1), u2 = (U2), u3 = (U3);        \
        a0 = _mm_add_ps(a0, _mm_mul_ps(_mm_loadu_ps(c0 + j), u0));                \
        b0 = _mm_add_ps(b0, _mm_mul_ps(_mm_loadu_ps(c1 + j), u1));                \
        e0 = _mm_add_ps(e0, _mm_mul_ps(_mm_loadu_ps(c2 + j), u2));                \
        f0 = _mm_add_ps(f0, _mm_mul_ps(_mm_loadu_ps(c3 + j), u3));                \
        __m128 w0 = _mm_loadu_ps(x0 + j + 4), w1 = (W1), w2 = (W2), w3 = (W3);    \
        a1 = _mm_add_ps(a1, _mm_mul_ps(_mm_loadu_ps(c0 + j + 4), w0));            \
        b1 = _mm_add_ps(b1, _mm_mul_ps(_mm_loadu_ps(c1 + j + 4), w1));            \
        e1 = _mm_add_ps(e1, _mm_mul_ps(_mm_loadu_ps(c2 + j + 4), w2));            \
        f1 = _mm_add_ps(f1, _mm_mul_ps(_mm_loadu_ps(c3 + j + 4), w3));            \
    }
#define VANI_RS_X(p, k) _mm_loadu_ps((p) + j + (k))

/* Four outputs: (c0, x0) ... (c3, x3), written as 8 bytes at dst. */
static inline void vani_rs_dot4(const float *c0, const float *x0, const float *c1,
                                const float *x1, const float *c2, const float *x2,
                                const float *c3, const float *x3, ptrdiff_t n,
                                unsigned char *dst) {
    __m128 a0 = _mm_setzero_ps(), a1 = a0, b0 = a0, b1 = a0, e0 = a0, e1 = a0, f0 = a0, f1 = a0;
    ptrdiff_t j;
    /* Outputs that share an input position (upsampling: only the phase differs) share the
     * loads of x; an integer downsampler's outputs all share c. The products and their order
     * per output are the same in every branch. Input positions never decrease, so equal
     * neighbours describe every way four outputs can share. */
    if (c0 == c1 && c0 == c2 && c0 == c3) {
        for (j = 0; j < n; j += 8) {
            __m128 v = _mm_loadu_ps(c0 + j), w = _mm_loadu_ps(c0 + j + 4);
            a0 = _mm_add_ps(a0, _mm_mul_ps(v, _mm_loadu_ps(x0 + j)));
            b0 = _mm_add_ps(b0, _mm_mul_ps(v, _mm_loadu_ps(x1 + j)));
            e0 = _mm_add_ps(e0, _mm_mul_ps(v, _mm_loadu_ps(x2 + j)));
            f0 = _mm_add_ps(f0, _mm_mul_ps(v, _mm_loadu_ps(x3 + j)));
            a1 = _mm_add_ps(a1, _mm_mul_ps(w, _mm_loadu_ps(x0 + j + 4)));
            b1 = _mm_add_ps(b1, _mm_mul_ps(w, _mm_loadu_ps(x1 + j + 4)));
            e1 = _mm_add_ps(e1, _mm_mul_ps(w, _mm_loadu_ps(x2 + j + 4)));
            f1 = _mm_add_ps(f1, _mm_mul_ps(w, _mm_loadu_ps(x3 + j + 4)));
        }
    } else if (x0 == x3) { /* one position */
        VANI_RS_DOT4_LOOP(u0, u0, u0, w0, w0, w0)
    } else if (x0 == x2) { /* three, then one */
        VANI_RS_DOT4_LOOP(u0, u0, VANI_RS_X(x3, 0), w0, w0, VANI_RS_X(x3, 4))
    } else if (x1 == x3) { /* one, then three */
        VANI_RS_DOT4_LOOP(VANI_RS_X(x1, 0), u1, u1, VANI_RS_X(x1, 4), w1, w1)
    } else if (x0 == x1 && x2 == x3) { /* two and two */
        VANI_RS_DOT4_LOOP(u0, VANI_RS_X(x2, 0), u2, w0, VANI_RS_X(x2, 4), w2)
    } else {
        VANI_RS_DOT4_LOOP(VANI_RS_X(x1, 0), VANI_RS_X(x2, 0), VANI_RS_X(x3, 0),
                          VANI_RS_X(x1, 4), VANI_RS_X(x2, 4), VANI_RS_X(x3, 4))
    }
    __m128 s0 = _mm_add_ps(a0, a1), s1 = _mm_add_ps(b0, b1);
    __m128 s2 = _mm_add_ps(e0, e1), s3 = _mm_add_ps(f0, f1);
    _MM_TRANSPOSE4_PS(s0, s1, s2, s3); /* s0 = lane 0 of each output, ... */
    __m128i q = vani_rs_round4(_mm_add_ps(_mm_add_ps(s0, s1), _mm_add_ps(s2, s3)));
    _mm_storel_epi64((__m128i *)dst, _mm_packs_epi32(q, q)); /* little-endian int16 x 4 */
}

#else /* portable: the same order in scalar code */
#include <math.h>

static inline void vani_rs_dot1(const float *c, const float *x, ptrdiff_t n, unsigned char *dst) {
    float a[8] = {0.0f, 0.0f, 0.0f, 0.0f, 0.0f, 0.0f, 0.0f, 0.0f};
    ptrdiff_t j;
    int l;
    for (j = 0; j < n; j += 8)
        for (l = 0; l < 8; l++) a[l] += c[j + l] * x[j + l];
    float y = ((a[0] + a[4]) + (a[1] + a[5])) + ((a[2] + a[6]) + (a[3] + a[7]));
    if (y >= 32767.0f) y = 32767.0f;
    if (y <= -32768.0f) y = -32768.0f;
    vani_rs_store_s16le(dst, (int16_t)lrintf(y)); /* half to even in the default mode */
}

static inline void vani_rs_dot4(const float *c0, const float *x0, const float *c1,
                                const float *x1, const float *c2, const float *x2,
                                const float *c3, const float *x3, ptrdiff_t n,
                                unsigned char *dst) {
    vani_rs_dot1(c0, x0, n, dst);
    vani_rs_dot1(c1, x1, n, dst + 2);
    vani_rs_dot1(c2, x2, n, dst + 4);
    vani_rs_dot1(c3, x3, n, dst + 6);
}
#endif


/* ---- AVX twins of the SSE2 kernels, chosen at run time (no build flag) -------------------------
 * One 256-bit accumulator per output holds exactly the eight lanes that the SSE2 code keeps in
 * two 128-bit ones, and its two halves are added first, so the arithmetic, and every output bit,
 * is the same on either path; AVX only halves the number of loads and arithmetic instructions.
 * No FMA: a fused multiply-add would round differently. */
#if defined(__SSE2__) && defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__)) && \
    defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
#define VANI_RS_HAVE_AVX 1
#include <immintrin.h>

#define VANI_RS_AVX __attribute__((target("avx")))

VANI_RS_AVX static inline __m128 vani_rs_fold_avx(__m256 acc) {
    return _mm_add_ps(_mm256_castps256_ps128(acc), _mm256_extractf128_ps(acc, 1));
}

VANI_RS_AVX static inline void vani_rs_dot1_avx(const float *c, const float *x, ptrdiff_t n,
                                                unsigned char *dst) {
    __m256 a = _mm256_setzero_ps();
    ptrdiff_t j;
    for (j = 0; j < n; j += 8)
        a = _mm256_add_ps(a, _mm256_mul_ps(_mm256_loadu_ps(c + j), _mm256_loadu_ps(x + j)));
    __m128 s = vani_rs_fold_avx(a);
    __m128 t01 = _mm_add_ss(s, _mm_shuffle_ps(s, s, _MM_SHUFFLE(1, 1, 1, 1)));
    __m128 t23 = _mm_add_ss(_mm_shuffle_ps(s, s, _MM_SHUFFLE(2, 2, 2, 2)),
                            _mm_shuffle_ps(s, s, _MM_SHUFFLE(3, 3, 3, 3)));
    __m128 y = _mm_add_ss(t01, t23);
    y = _mm_min_ps(_mm_max_ps(y, _mm_set1_ps(-32768.0f)), _mm_set1_ps(32767.0f));
    vani_rs_store_s16le(dst, (int16_t)_mm_cvtsi128_si32(_mm_cvtps_epi32(y)));
}

#define VANI_RS_DOT4_LOOP_AVX(U1, U2, U3)                                          \
    for (j = 0; j < n; j += 8) {                                                  \
        __m256 u0 = _mm256_loadu_ps(x0 + j), u1 = (U1), u2 = (U2), u3 = (U3);     \
        a = _mm256_add_ps(a, _mm256_mul_ps(_mm256_loadu_ps(c0 + j), u0));          \
        b = _mm256_add_ps(b, _mm256_mul_ps(_mm256_loadu_ps(c1 + j), u1));          \
        e = _mm256_add_ps(e, _mm256_mul_ps(_mm256_loadu_ps(c2 + j), u2));          \
        f = _mm256_add_ps(f, _mm256_mul_ps(_mm256_loadu_ps(c3 + j), u3));          \
    }
#define VANI_RS_Y(p) _mm256_loadu_ps((p) + j)

VANI_RS_AVX static inline void vani_rs_dot4_avx(const float *c0, const float *x0,
                                                const float *c1, const float *x1,
                                                const float *c2, const float *x2,
                                                const float *c3, const float *x3, ptrdiff_t n,
                                                unsigned char *dst) {
    __m256 a = _mm256_setzero_ps(), b = a, e = a, f = a;
    ptrdiff_t j;
    if (c0 == c1 && c0 == c2 && c0 == c3) {
        for (j = 0; j < n; j += 8) {
            __m256 v = _mm256_loadu_ps(c0 + j);
            a = _mm256_add_ps(a, _mm256_mul_ps(v, _mm256_loadu_ps(x0 + j)));
            b = _mm256_add_ps(b, _mm256_mul_ps(v, _mm256_loadu_ps(x1 + j)));
            e = _mm256_add_ps(e, _mm256_mul_ps(v, _mm256_loadu_ps(x2 + j)));
            f = _mm256_add_ps(f, _mm256_mul_ps(v, _mm256_loadu_ps(x3 + j)));
        }
    } else if (x0 == x3) {
        VANI_RS_DOT4_LOOP_AVX(u0, u0, u0)
    } else if (x0 == x2) {
        VANI_RS_DOT4_LOOP_AVX(u0, u0, VANI_RS_Y(x3))
    } else if (x1 == x3) {
        VANI_RS_DOT4_LOOP_AVX(VANI_RS_Y(x1), u1, u1)
    } else if (x0 == x1 && x2 == x3) {
        VANI_RS_DOT4_LOOP_AVX(u0, VANI_RS_Y(x2), u2)
    } else {
        VANI_RS_DOT4_LOOP_AVX(VANI_RS_Y(x1), VANI_RS_Y(x2), VANI_RS_Y(x3))
    }
    __m128 s0 = vani_rs_fold_avx(a), s1 = vani_rs_fold_avx(b);
    __m128 s2 = vani_rs_fold_avx(e), s3 = vani_rs_fold_avx(f);
    _MM_TRANSPOSE4_PS(s0, s1, s2, s3);
    __m128 y = _mm_add_ps(_mm_add_ps(s0, s1), _mm_add_ps(s2, s3));
    y = _mm_min_ps(_mm_max_ps(y, _mm_set1_ps(-32768.0f)), _mm_set1_ps(32767.0f));
    __m128i q = _mm_cvtps_epi32(y);
    _mm_storel_epi64((__m128i *)dst, _mm_packs_epi32(q, q));
}
#endif

/* ---- the output loop --------------------------------------------------------------------------
 * Emits, in order, every output k < k_end whose newest input i is <= last, four at a time while
 * four are ready. hist[i - base] holds x[i - taps + 1], the oldest input of the output. */
typedef struct {
    const float *coef; /* (up, taps), phases oldest tap first */
    const float *hist;
    ptrdiff_t taps;
    int64_t k; /* next output */
    int64_t i; /* its newest input */
    int p;     /* its phase */
    int up, dq, dr;
} vani_rs_pos;

typedef ptrdiff_t (*vani_rs_emit_fn)(vani_rs_pos *, int64_t, int64_t, int64_t, unsigned char *);

#define VANI_RS_STEP(p, i)  \
    do {                    \
        (p) += dr;          \
        (i) += dq;          \
        if ((p) >= up) {    \
            (p) -= up;      \
            (i) += 1;       \
        }                   \
    } while (0)

#define VANI_RS_EMIT_BODY(DOT4, DOT1)                                                       \
    ptrdiff_t taps = s->taps, w = 0;                                                        \
    int64_t k = s->k, i = s->i, i1, i2, i3;                                                 \
    int p = s->p, p1, p2, p3, up = s->up, dq = s->dq, dr = s->dr;                           \
    const float *coef = s->coef, *hist = s->hist;                                           \
    while (k + 3 < k_end) {                                                                 \
        p1 = p; i1 = i; VANI_RS_STEP(p1, i1);                                               \
        p2 = p1; i2 = i1; VANI_RS_STEP(p2, i2);                                             \
        p3 = p2; i3 = i2; VANI_RS_STEP(p3, i3);                                             \
        if (i3 > last) break;                                                               \
        DOT4(coef + p * taps, hist + (i - base), coef + p1 * taps, hist + (i1 - base),      \
             coef + p2 * taps, hist + (i2 - base), coef + p3 * taps, hist + (i3 - base),    \
             taps, dst + 2 * w);                                                            \
        w += 4; k += 4; p = p3; i = i3; VANI_RS_STEP(p, i);                                 \
    }                                                                                       \
    while (k < k_end && i <= last) {                                                        \
        DOT1(coef + p * taps, hist + (i - base), taps, dst + 2 * w);                        \
        w += 1; k += 1; VANI_RS_STEP(p, i);                                                 \
    }                                                                                       \
    s->k = k; s->i = i; s->p = p;                                                           \
    return w;

static ptrdiff_t vani_rs_emit_base(vani_rs_pos *s, int64_t base, int64_t last, int64_t k_end,
                                   unsigned char *dst) {
    VANI_RS_EMIT_BODY(vani_rs_dot4, vani_rs_dot1)
}

#ifdef VANI_RS_HAVE_AVX
VANI_RS_AVX static ptrdiff_t vani_rs_emit_avx(vani_rs_pos *s, int64_t base, int64_t last,
                                              int64_t k_end, unsigned char *dst) {
    VANI_RS_EMIT_BODY(vani_rs_dot4_avx, vani_rs_dot1_avx)
}
#endif

/* The fastest loop this CPU runs (AVX only if the CPU and the OS support it), and its name. */
static vani_rs_emit_fn vani_rs_emit_for(const char *name) {
#ifdef VANI_RS_HAVE_AVX
    if (strcmp(name, "avx") == 0) return vani_rs_emit_avx;
#endif
    if (strcmp(name, "base") == 0) return vani_rs_emit_base;
    return NULL;
}

static const char *vani_rs_best_kernel(void) {
#ifdef VANI_RS_HAVE_AVX
    __builtin_cpu_init();
    if (__builtin_cpu_supports("avx")) return "avx";
#endif
    return "base";
}

#endif /* VANI_RESAMPLE_KERNEL_H */
