// Host stand-ins for what CUDA headers give device code: 16-bit float types with the same
// round-to-nearest-even conversions (bit-exact with CUDA's __float2half_rn / __float2bfloat16_rn and
// with libtorch's c10::Half / c10::BFloat16), so kernels/mix.cuh compiles unchanged for the CPU.
#pragma once

#include <stdint.h>
#include <string.h>

namespace mixcut {

struct half_t {
    uint16_t bits;
};
struct bf16_t {
    uint16_t bits;
};

inline uint32_t f32_bits(float f) {
    uint32_t x;
    memcpy(&x, &f, 4);
    return x;
}
inline float bits_f32(uint32_t x) {
    float f;
    memcpy(&f, &x, 4);
    return f;
}

inline float to_f32(half_t h) {
    const uint32_t sign = (uint32_t)(h.bits & 0x8000u) << 16;
    const uint32_t exp = (h.bits >> 10) & 0x1fu, mant = h.bits & 0x3ffu;
    if (exp == 0x1f) return bits_f32(sign | 0x7f800000u | (mant << 13));
    if (exp == 0) return bits_f32(sign | f32_bits((float)mant * 5.9604644775390625e-8f));  // mant · 2^-24
    return bits_f32(sign | ((exp + 112u) << 23) | (mant << 13));
}

inline half_t half_from_f32(float f) {
    const uint32_t x = f32_bits(f);
    const uint16_t sign = (uint16_t)((x >> 16) & 0x8000u);
    uint32_t ax = x & 0x7fffffffu;
    if (ax >= 0x7f800000u) return half_t{(uint16_t)(sign | (ax > 0x7f800000u ? 0x7e00u : 0x7c00u))};
    if (ax >= 0x477ff000u) return half_t{(uint16_t)(sign | 0x7c00u)};  // rounds to infinity
    if (ax < 0x38800000u) {
        // Below half's smallest normal: adding 0.5 puts the value on half's subnormal grid (2^-24), and the
        // float addition rounds to nearest even.
        const float shifted = bits_f32(ax) + 0.5f;
        return half_t{(uint16_t)(sign | (f32_bits(shifted) - 0x3f000000u))};
    }
    ax += 0xc8000fffu + ((ax >> 13) & 1u);  // rebias the exponent (-112), round to nearest even at bit 13
    return half_t{(uint16_t)(sign | (ax >> 13))};
}

inline float to_f32(bf16_t b) { return bits_f32((uint32_t)b.bits << 16); }

// The bf16 bits (low 16 bits of the result) of the f32 with bits `x`, rounded to nearest even: right for
// every value but a NaN other than quiet_nan's 0x7fc00000 (which gives 0x7fc0). U is uint32_t, or a host
// SIMD vector of them (host_simd.h): lane-wise the same.
template <typename U>
inline U bf16_round(U x) {
    return (x + 0x7fffu + ((x >> 16) & 1u)) >> 16;  // branch-free, so it vectorises
}

// bf16_round for every f32, any NaN becoming the canonical 0x7fc0.
template <typename U>
inline U bf16_bits(U x) {
    return (x & 0x7fffffffu) > 0x7f800000u ? 0x7fc0u : bf16_round(x);
}

inline bf16_t bf16_from_f32(float f) { return bf16_t{(uint16_t)bf16_bits(f32_bits(f))}; }

// Round half to even for 0 <= v <= 255, in the default rounding mode. Baseline x86-64 has no SIMD
// rounding instruction (SSE4.1), so rintf would be a call per element: adding and subtracting 2^23 rounds
// the same way (exact for |v| < 2^23) and vectorises.
// F is float, or a host SIMD vector of floats.
template <typename F>
inline F round_byte(F v) {
    return (v + 8388608.0f) - 8388608.0f;
}

// `v`, with a NaN replaced by the quiet NaN 0x7fc00000 (which every conversion here keeps a NaN: 0x7e00 as
// half, 0x7fc0 as bf16). F is float, or a host SIMD vector of floats.
template <typename F>
inline F quiet_nan(F v) {
    return v == v ? v : __builtin_nanf("");
}

inline void flag_error(int32_t* flag, int32_t code) { __atomic_store_n(flag, code, __ATOMIC_RELAXED); }

}  // namespace mixcut
