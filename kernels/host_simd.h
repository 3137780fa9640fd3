// SIMD forms of mix.cuh's Lanes, Blend and Select for the host's 64-byte vectors, one per x86-64 level
// host.cpp is compiled for: AVX-512 (F, BW, VL), AVX2 with F16C, and baseline SSE2. They only move, widen
// and narrow data: the arithmetic is mix.cuh's own (blend, byte_value) and host_shim.h's (bf16_bits,
// quiet_nan), applied to whole registers, so every lane gives exactly what Elem gives one element. Without
// F16C (baseline x86-64) half keeps mix.cuh's lane-by-lane form, as does every type on other targets.
// Included by host.cpp after mix.cuh; never by nvcc.
#pragma once

#if defined(__x86_64__) && defined(__SSE2__)
#if defined(__AVX512F__) && defined(__AVX512BW__) && defined(__AVX512VL__) && defined(__F16C__)
#define MIX_SIMD_AVX512 1
#elif defined(__AVX2__) && defined(__F16C__)
#define MIX_SIMD_AVX2 1
#else
#define MIX_SIMD_SSE2 1
#endif
#endif

#if defined(MIX_SIMD_AVX512) || defined(MIX_SIMD_AVX2) || defined(MIX_SIMD_SSE2)
#include <immintrin.h>

namespace mixcut {

// Each level: an integer register `simd_i` (64, 32 or 16 bytes; REGS of them hold a vector), the float
// register `simd_f` its lanes widen to (a quarter of its bytes, or half of its 16-bit lanes) and `simd_u`,
// the same as uint32 lanes. Then: lane masks from bits, 16-bit and 8-bit lanes to float lanes and back
// (narrowed lanes hold integers in [0, 65535] and [0, 255], so every truncation and pack is exact), and
// with F16C the half conversions.
#if defined(MIX_SIMD_AVX512)
#if defined(__GNUC__) && !defined(__clang__)
// GCC 12's AVX-512 conversion intrinsics pass an "undefined" register through and then warn about it.
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#pragma GCC diagnostic ignored "-Wuninitialized"
#endif
typedef __m512i simd_i;
typedef __m512 simd_f;
typedef uint32_t simd_u __attribute__((vector_size(64)));
inline simd_i load_i(const void* p) { return _mm512_loadu_si512(p); }
inline void store_i(void* p, simd_i v) { _mm512_storeu_si512(p, v); }
inline simd_i select1(uint64_t bits, simd_i own, simd_i other) { return _mm512_mask_blend_epi8(bits, own, other); }
inline simd_i select2(uint64_t bits, simd_i own, simd_i other) { return _mm512_mask_blend_epi16((__mmask32)bits, own, other); }
inline simd_i select4(uint64_t bits, simd_i own, simd_i other) { return _mm512_mask_blend_epi32((__mmask16)bits, own, other); }
inline __m256i half_of(simd_i r, int h) { return h ? _mm512_extracti64x4_epi64(r, 1) : _mm512_castsi512_si256(r); }
inline simd_i from_halves(__m256i lo, __m256i hi) { return _mm512_inserti64x4(_mm512_castsi256_si512(lo), hi, 1); }
inline simd_u widen16(simd_i r, int h) { return (simd_u)_mm512_cvtepu16_epi32(half_of(r, h)); }
inline simd_i narrow32(simd_u lo, simd_u hi) { return from_halves(_mm512_cvtepi32_epi16((__m512i)lo), _mm512_cvtepi32_epi16((__m512i)hi)); }
inline simd_f widen8(simd_i r, int q) {
    const __m128i x = q == 0 ? _mm512_extracti32x4_epi32(r, 0) : q == 1 ? _mm512_extracti32x4_epi32(r, 1)
                    : q == 2 ? _mm512_extracti32x4_epi32(r, 2) : _mm512_extracti32x4_epi32(r, 3);
    return _mm512_cvtepi32_ps(_mm512_cvtepu8_epi32(x));
}
inline simd_i narrow8(const simd_f f[4]) {
    __m128i q[4];
    for (int k = 0; k < 4; ++k) q[k] = _mm512_cvtepi32_epi8(_mm512_cvttps_epi32(f[k]));
    return from_halves(_mm256_set_m128i(q[1], q[0]), _mm256_set_m128i(q[3], q[2]));
}
#define MIX_SIMD_HALF 1
inline simd_f half_widen(simd_i r, int h) { return _mm512_cvtph_ps(half_of(r, h)); }
inline simd_i half_narrow(simd_f lo, simd_f hi) {
    return from_halves(_mm512_cvtps_ph(lo, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC),
                       _mm512_cvtps_ph(hi, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC));
}
#elif defined(MIX_SIMD_AVX2)
typedef __m256i simd_i;
typedef __m256 simd_f;
typedef uint32_t simd_u __attribute__((vector_size(32)));
inline simd_i load_i(const void* p) { return _mm256_loadu_si256((const __m256i*)p); }
inline void store_i(void* p, simd_i v) { _mm256_storeu_si256((__m256i*)p, v); }
inline simd_i select_mask(simd_i own, simd_i other, simd_i spread, simd_i bit, int lane_bytes) {
    const simd_i m = lane_bytes == 1 ? _mm256_cmpeq_epi8(_mm256_and_si256(spread, bit), bit)
                   : lane_bytes == 2 ? _mm256_cmpeq_epi16(_mm256_and_si256(spread, bit), bit)
                                     : _mm256_cmpeq_epi32(_mm256_and_si256(spread, bit), bit);
    return _mm256_blendv_epi8(own, other, m);
}
inline simd_i select1(uint64_t bits, simd_i own, simd_i other) {  // bit l of 32 to byte l
    const simd_i spread = _mm256_shuffle_epi8(_mm256_set1_epi32((int32_t)bits),
                                              _mm256_setr_epi64x(0, 0x0101010101010101ll, 0x0202020202020202ll, 0x0303030303030303ll));
    return select_mask(own, other, spread, _mm256_set1_epi64x((int64_t)0x8040201008040201ull), 1);
}
inline simd_i select2(uint64_t bits, simd_i own, simd_i other) {
    const simd_i bit = _mm256_setr_epi16(1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024, 2048, 4096, 8192, 16384, -32768);
    return select_mask(own, other, _mm256_set1_epi16((int16_t)bits), bit, 2);
}
inline simd_i select4(uint64_t bits, simd_i own, simd_i other) {
    return select_mask(own, other, _mm256_set1_epi32((int32_t)bits), _mm256_setr_epi32(1, 2, 4, 8, 16, 32, 64, 128), 4);
}
inline __m128i half_of(simd_i r, int h) { return h ? _mm256_extracti128_si256(r, 1) : _mm256_castsi256_si128(r); }
inline simd_i from_halves(__m128i lo, __m128i hi) { return _mm256_set_m128i(hi, lo); }
inline simd_u widen16(simd_i r, int h) { return (simd_u)_mm256_cvtepu16_epi32(half_of(r, h)); }
inline simd_i narrow32(simd_u lo, simd_u hi) {  // packs work within 128-bit halves: put them back in order
    return _mm256_permute4x64_epi64(_mm256_packus_epi32((simd_i)lo, (simd_i)hi), 0xd8);
}
inline simd_f widen8(simd_i r, int q) {
    const __m128i x = half_of(r, q / 2);
    return _mm256_cvtepi32_ps(_mm256_cvtepu8_epi32(q % 2 ? _mm_srli_si128(x, 8) : x));
}
inline simd_i narrow8(const simd_f f[4]) {  // bytes come out of the packs in 4-byte groups 0 1 2 3 0 1 2 3
    const simd_i p = _mm256_packus_epi16(_mm256_packus_epi32(_mm256_cvttps_epi32(f[0]), _mm256_cvttps_epi32(f[1])),
                                         _mm256_packus_epi32(_mm256_cvttps_epi32(f[2]), _mm256_cvttps_epi32(f[3])));
    return _mm256_permutevar8x32_epi32(p, _mm256_setr_epi32(0, 4, 1, 5, 2, 6, 3, 7));
}
#define MIX_SIMD_HALF 1
inline simd_f half_widen(simd_i r, int h) { return _mm256_cvtph_ps(half_of(r, h)); }
inline simd_i half_narrow(simd_f lo, simd_f hi) {
    return from_halves(_mm256_cvtps_ph(lo, _MM_FROUND_TO_NEAREST_INT), _mm256_cvtps_ph(hi, _MM_FROUND_TO_NEAREST_INT));
}
#else
typedef __m128i simd_i;
typedef __m128 simd_f;
typedef uint32_t simd_u __attribute__((vector_size(16)));
inline simd_i load_i(const void* p) { return _mm_loadu_si128((const __m128i*)p); }
inline void store_i(void* p, simd_i v) { _mm_storeu_si128((__m128i*)p, v); }
inline simd_i select_mask(simd_i own, simd_i other, simd_i m) { return _mm_or_si128(_mm_and_si128(m, other), _mm_andnot_si128(m, own)); }
inline simd_i select1(uint64_t bits, simd_i own, simd_i other) {  // bit l of 16 to byte l
    const uint64_t spread = 0x0101010101010101ull;
    const simd_i bytes = _mm_set_epi64x((int64_t)(((bits >> 8) & 0xff) * spread), (int64_t)((bits & 0xff) * spread));
    const simd_i bit = _mm_set1_epi64x((int64_t)0x8040201008040201ull);
    return select_mask(own, other, _mm_cmpeq_epi8(_mm_and_si128(bytes, bit), bit));
}
inline simd_i select2(uint64_t bits, simd_i own, simd_i other) {
    const simd_i bit = _mm_setr_epi16(1, 2, 4, 8, 16, 32, 64, 128);
    return select_mask(own, other, _mm_cmpeq_epi16(_mm_and_si128(_mm_set1_epi16((int16_t)bits), bit), bit));
}
inline simd_i select4(uint64_t bits, simd_i own, simd_i other) {
    const simd_i bit = _mm_setr_epi32(1, 2, 4, 8);
    return select_mask(own, other, _mm_cmpeq_epi32(_mm_and_si128(_mm_set1_epi32((int32_t)bits), bit), bit));
}
inline simd_u widen16(simd_i r, int h) { return (simd_u)(h ? _mm_unpackhi_epi16(r, _mm_setzero_si128()) : _mm_unpacklo_epi16(r, _mm_setzero_si128())); }
inline simd_i narrow32(simd_u lo, simd_u hi) {  // SSE2 packs signed: shift [0, 65535] to [-32768, 32767] and back
    const simd_i bias = _mm_set1_epi32(0x8000);
    const simd_i packed = _mm_packs_epi32(_mm_sub_epi32((simd_i)lo, bias), _mm_sub_epi32((simd_i)hi, bias));
    return _mm_xor_si128(packed, _mm_set1_epi16(-32768));
}
inline simd_f widen8(simd_i r, int q) {
    const simd_i zero = _mm_setzero_si128();
    const simd_i words = q < 2 ? _mm_unpacklo_epi8(r, zero) : _mm_unpackhi_epi8(r, zero);
    return _mm_cvtepi32_ps(q % 2 ? _mm_unpackhi_epi16(words, zero) : _mm_unpacklo_epi16(words, zero));
}
inline simd_i narrow8(const simd_f f[4]) {
    return _mm_packus_epi16(_mm_packs_epi32(_mm_cvttps_epi32(f[0]), _mm_cvttps_epi32(f[1])),
                            _mm_packs_epi32(_mm_cvttps_epi32(f[2]), _mm_cvttps_epi32(f[3])));
}
#endif

enum { REGS = 64 / sizeof(simd_i) };

// A 64-byte vector in REGS registers.
template <typename T>
struct SimdLanes {
    simd_i r[REGS];
    static SimdLanes read(const void* from) {
        SimdLanes l;
        for (int k = 0; k < REGS; ++k) l.r[k] = load_i((const char*)from + k * sizeof(simd_i));
        return l;
    }
    void write(void* to) const {
        for (int k = 0; k < REGS; ++k) store_i((char*)to + k * sizeof(simd_i), r[k]);
    }
};

// Mixup of one register: Elem<T>'s load, mix.cuh's blend, Elem<T>'s store, lane-wise.
template <typename T>
struct SimdBlend;
template <>
struct SimdBlend<float> {
    static simd_i run(simd_i own, simd_i other, float wo, float wt) { return (simd_i)blend((simd_f)own, (simd_f)other, wo, wt); }
};
template <>
struct SimdBlend<bf16_t> {  // a bf16 is the top half of its f32; bf16_bits rounds as bf16_from_f32
    static simd_f load(simd_i r, int h) { return (simd_f)(widen16(r, h) << 16); }
    static simd_i run(simd_i own, simd_i other, float wo, float wt) {
        return narrow32(bf16_bits((simd_u)blend(load(own, 0), load(other, 0), wo, wt)),
                        bf16_bits((simd_u)blend(load(own, 1), load(other, 1), wo, wt)));
    }
};
template <>
struct SimdBlend<uint8_t> {  // byte_value saturates and rounds as Elem<uint8_t>::store
    static simd_i run(simd_i own, simd_i other, float wo, float wt) {
        simd_f f[4];
        for (int q = 0; q < 4; ++q) f[q] = byte_value(blend(widen8(own, q), widen8(other, q), wo, wt));
        return narrow8(f);
    }
};
#if defined(MIX_SIMD_HALF)
// F16C: exact widening; narrowing rounds to nearest even as half_from_f32 does (overflow to infinity, half
// subnormals, signed zeros), and blend's quiet NaN 0x7fc00000 becomes 0x7e00 in both.
template <>
struct SimdBlend<half_t> {
    static simd_i run(simd_i own, simd_i other, float wo, float wt) {
        return half_narrow(blend(half_widen(own, 0), half_widen(other, 0), wo, wt), blend(half_widen(own, 1), half_widen(other, 1), wo, wt));
    }
};
#endif

// Select with one mask bit per lane of the vector.
template <int bytes>
simd_i select_lanes(uint64_t bits, simd_i own, simd_i other) {
    return bytes == 1 ? select1(bits, own, other) : bytes == 2 ? select2(bits, own, other) : select4(bits, own, other);
}

// mix.cuh's Lanes, Blend and Select for the 64-byte vector of T (V = 64 / sizeof(T)).
#define MIX_SIMD_VECTOR(T)                                                                                       \
    template <>                                                                                                  \
    struct Lanes<T, 64 / sizeof(T)> : SimdLanes<T> {                                                             \
        static Lanes read(const Vec<T, 64 / sizeof(T)>& from) { return Lanes{SimdLanes::read(&from)}; }          \
        void write(Vec<T, 64 / sizeof(T)>& to) const { SimdLanes::write(&to); }                                  \
    };                                                                                                           \
    template <>                                                                                                  \
    struct Blend<T, 64 / sizeof(T)> {                                                                            \
        static void run(Lanes<T, 64 / sizeof(T)>& out, const Lanes<T, 64 / sizeof(T)>& own,                     \
                        const Lanes<T, 64 / sizeof(T)>& other, float wo, float wt) {                             \
            for (int k = 0; k < REGS; ++k) out.r[k] = SimdBlend<T>::run(own.r[k], other.r[k], wo, wt);          \
        }                                                                                                        \
    };                                                                                                           \
    template <>                                                                                                  \
    struct Select<T, 64 / sizeof(T)> {                                                                           \
        static void run(Lanes<T, 64 / sizeof(T)>& out, const Lanes<T, 64 / sizeof(T)>& own,                     \
                        const Lanes<T, 64 / sizeof(T)>& other, uint64_t box) {                                   \
            const int lanes = sizeof(simd_i) / sizeof(T);                                                        \
            for (int k = 0; k < REGS; ++k)                                                                       \
                out.r[k] = select_lanes<sizeof(T)>(box >> (k * lanes), own.r[k], other.r[k]);                    \
        }                                                                                                        \
    };

MIX_SIMD_VECTOR(float)
MIX_SIMD_VECTOR(bf16_t)
MIX_SIMD_VECTOR(uint8_t)
#if defined(MIX_SIMD_HALF)
MIX_SIMD_VECTOR(half_t)
#endif
#undef MIX_SIMD_VECTOR

}  // namespace mixcut
#endif
