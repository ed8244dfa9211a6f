# The PCM kernels (csrc/pcm_kernels.h), declared here so that other core modules can
# `from vani._core.pcm cimport vani_s16_to_f32` and compile the same loop into themselves:
# only C declarations, so no import between extension modules happens at run time.

from libc.stdint cimport int16_t, int64_t, uint8_t


cdef extern from "pcm_kernels.h" nogil:
    void vani_s16_to_f32(const int16_t* src, float* dst, size_t n)
    void vani_f32_to_s16(const float* src, int16_t* dst, size_t n)
    void vani_s16_gain(const int16_t* src, int16_t* dst, size_t n, double gain)
    void vani_s16_mix(const int16_t* a, const int16_t* b, int16_t* dst, size_t n)
    int64_t vani_s16_sum_squares(const int16_t* src, size_t n)
    void vani_s16_mono_to_stereo(const int16_t* src, int16_t* dst, size_t n)
    void vani_s16_stereo_to_mono(const int16_t* src, int16_t* dst, size_t n)
    void vani_g711_encode(
        const int16_t* src, uint8_t* dst, size_t n, const uint8_t* table, unsigned shift
    )
    void vani_g711_decode(const uint8_t* src, int16_t* dst, size_t n, const int16_t* table)
