// SIMD forms of mix.cuh's Lanes, Blend and Select for the host's 64-byte vectors, one per x86-64 level
// host.cpp is compiled for: AVX-512 (F, BW, VL), AVX2 with F16C, and baseline SSE2. They only move, widen
// and narrow data: the arithmetic is mix.cuh's own (blend, blend_rn, byte_value) and host_shim.h's (bf16_round,
// quiet_nan), applied to whole registers, so every lane gives exactly what Elem gives one element. Without
// F16C (baseline x86-64) half keeps mix.cuh's lane-by-lane form, as does every type on other targets.
// Where SSSE3 is there (v3, AVX-512), also pick16: 16 bytes picked out of 16 (ResizeMix's u8 rows).
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

// The operations every level has, named once (P: the intrinsics' prefix, S: the integer register suffix).
#define MIX_SIMD_OPS(P, S)                                                                             \
    inline simd_i zero_i() { return P##_setzero_##S(); }                                              \
    inline simd_i unpacklo8(simd_i a, simd_i b) { return P##_unpacklo_epi8(a, b); }                   \
    inline simd_i unpackhi8(simd_i a, simd_i b) { return P##_unpackhi_epi8(a, b); }                   \
    inline simd_i unpacklo16(simd_i a, simd_i b) { return P##_unpacklo_epi16(a, b); }                 \
    inline simd_i unpackhi16(simd_i a, simd_i b) { return P##_unpackhi_epi16(a, b); }                 \
    inline simd_i packs32(simd_i a, simd_i b) { return P##_packs_epi32(a, b); }                       \
    inline simd_i packus16(simd_i a, simd_i b) { return P##_packus_epi16(a, b); }                     \
    inline simd_f cvt_i2f(simd_i a) { return P##_cvtepi32_ps(a); }                                     \
    inline simd_i cvtt_f2i(simd_f a) { return P##_cvttps_epi32(a); }

// Each level: an integer register `simd_i` (64, 32 or 16 bytes; REGS of them hold a vector), the float
// register `simd_f` its lanes widen to (a quarter of its bytes, or half of its 16-bit lanes) and `simd_u`,
// the same as uint32 lanes. Then: lane masks from bits, the unpacks and packs below build on (narrowed
// lanes hold integers in [0, 65535] and [0, 255], so every truncation and pack is exact), and with F16C
// the half conversions.
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
MIX_SIMD_OPS(_mm512, si512)
inline simd_i packus32(simd_i a, simd_i b) { return _mm512_packus_epi32(a, b); }
inline __m256i half_of(simd_i r, int h) { return h ? _mm512_extracti64x4_epi64(r, 1) : _mm512_castsi512_si256(r); }
inline simd_i from_halves(__m256i lo, __m256i hi) { return _mm512_inserti64x4(_mm512_castsi256_si512(lo), hi, 1); }
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
MIX_SIMD_OPS(_mm256, si256)
inline simd_i packus32(simd_i a, simd_i b) { return _mm256_packus_epi32(a, b); }
inline __m128i half_of(simd_i r, int h) { return h ? _mm256_extracti128_si256(r, 1) : _mm256_castsi256_si128(r); }
inline simd_i from_halves(__m128i lo, __m128i hi) { return _mm256_set_m128i(hi, lo); }
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
MIX_SIMD_OPS(_mm, si128)
inline simd_i packus32(simd_i a, simd_i b) {  // SSE2 packs signed: shift [0, 65535] to [-32768, 32767] and back
    const simd_i bias = _mm_set1_epi32(0x8000);
    return _mm_xor_si128(_mm_packs_epi32(_mm_sub_epi32(a, bias), _mm_sub_epi32(b, bias)), _mm_set1_epi16(-32768));
}
#endif

// 8-bit and 16-bit lanes to 32-bit lanes and back, by unpacking with zero and packing: both work within
// 128-bit blocks, so the 32-bit lanes come in an order of their own, which the packs undo exactly. Blending
// is lane-wise: the order does not matter in between.
// Lanes of quarter q of a register's bytes, as floats.
inline simd_f widen8(simd_i r, int q) {
    const simd_i words = q < 2 ? unpacklo8(r, zero_i()) : unpackhi8(r, zero_i());
    return cvt_i2f(q % 2 ? unpackhi16(words, zero_i()) : unpacklo16(words, zero_i()));
}
// The inverse of widen8 for floats holding integers in [0, 255].
inline simd_i narrow8(const simd_f f[4]) {
    return packus16(packs32(cvtt_f2i(f[0]), cvtt_f2i(f[1])), packs32(cvtt_f2i(f[2]), cvtt_f2i(f[3])));
}
// Half h of a register's 16-bit lanes, each in the top half of a 32-bit lane (a bf16's f32 bits).
inline simd_u widen16_top(simd_i r, int h) { return (simd_u)(h ? unpackhi16(zero_i(), r) : unpacklo16(zero_i(), r)); }
// The two halves' 32-bit lanes holding values in [0, 65535] back as 16-bit lanes, in widen16_top's order.
inline simd_i narrow32(simd_u lo, simd_u hi) { return packus32((simd_i)lo, (simd_i)hi); }

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

// Mixup of one register: Elem<T>'s load (`widen`, to N float registers), mix.cuh's blend, Elem<T>'s store
// (`narrow`), lane-wise. run_pair widens the two inputs once for both samples' outputs.
template <typename T, typename Self>
struct SimdBlendOps {
    static simd_i run(simd_i own, simd_i other, float wo, float wt) {
        simd_f a[Self::N], b[Self::N], m[Self::N];
        Self::widen(own, a);
        Self::widen(other, b);
        for (int q = 0; q < Self::N; ++q) m[q] = Self::mix(a[q], b[q], wo, wt);
        return Self::narrow(m);
    }
    static void run_pair(simd_i& out_a, simd_i& out_b, simd_i a, simd_i b, float wa, float wb, float va, float vb) {
        simd_f fa[Self::N], fb[Self::N], ma[Self::N], mb[Self::N];
        Self::widen(a, fa);
        Self::widen(b, fb);
        for (int q = 0; q < Self::N; ++q) ma[q] = Self::mix(fa[q], fb[q], wa, wb), mb[q] = Self::mix(fb[q], fa[q], va, vb);
        out_a = Self::narrow(ma);
        out_b = Self::narrow(mb);
    }
};
template <typename T>
struct SimdBlend;
template <>
struct SimdBlend<float> : SimdBlendOps<float, SimdBlend<float>> {
    enum { N = 1 };
    static void widen(simd_i r, simd_f* f) { f[0] = (simd_f)r; }
    static simd_f mix(simd_f a, simd_f b, float wa, float wb) { return blend(a, b, wa, wb); }
    static simd_i narrow(const simd_f* f) { return (simd_i)f[0]; }
};
template <>
struct SimdBlend<bf16_t> : SimdBlendOps<bf16_t, SimdBlend<bf16_t>> {  // a bf16 is the top half of its f32
    enum { N = 2 };
    static void widen(simd_i r, simd_f* f) { f[0] = (simd_f)widen16_top(r, 0), f[1] = (simd_f)widen16_top(r, 1); }
    // blend gives no NaN but quiet_nan's, so bf16_round rounds as bf16_from_f32.
    static simd_f mix(simd_f a, simd_f b, float wa, float wb) { return (simd_f)bf16_round((simd_u)blend(a, b, wa, wb)); }
    static simd_i narrow(const simd_f* f) { return narrow32((simd_u)f[0], (simd_u)f[1]); }
};
template <>
struct SimdBlend<uint8_t> : SimdBlendOps<uint8_t, SimdBlend<uint8_t>> {
    enum { N = 4 };
    static void widen(simd_i r, simd_f* f) {
        for (int q = 0; q < 4; ++q) f[q] = widen8(r, q);
    }
    // byte_value saturates and rounds as Elem<uint8_t>::store (and would turn any NaN into 0: blend's
    // quiet_nan has nothing to do here).
    static simd_f mix(simd_f a, simd_f b, float wa, float wb) { return byte_value(blend_rn(a, b, wa, wb)); }
    static simd_i narrow(const simd_f* f) { return narrow8(f); }
};
#if defined(MIX_SIMD_HALF)
// F16C: exact widening; narrowing rounds to nearest even as half_from_f32 does (overflow to infinity, half
// subnormals, signed zeros), and blend's quiet NaN 0x7fc00000 becomes 0x7e00 in both.
template <>
struct SimdBlend<half_t> : SimdBlendOps<half_t, SimdBlend<half_t>> {
    enum { N = 2 };
    static void widen(simd_i r, simd_f* f) { f[0] = half_widen(r, 0), f[1] = half_widen(r, 1); }
    static simd_f mix(simd_f a, simd_f b, float wa, float wb) { return blend(a, b, wa, wb); }
    static simd_i narrow(const simd_f* f) { return half_narrow(f[0], f[1]); }
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
        typedef Lanes<T, 64 / sizeof(T)> L;                                                                      \
        static void run(L& out, const L& own, const L& other, float wo, float wt) {                              \
            for (int k = 0; k < REGS; ++k) out.r[k] = SimdBlend<T>::run(own.r[k], other.r[k], wo, wt);          \
        }                                                                                                        \
        static void run_pair(L& out_a, L& out_b, const L& a, const L& b, float wa, float wb, float va, float vb) { \
            for (int k = 0; k < REGS; ++k) SimdBlend<T>::run_pair(out_a.r[k], out_b.r[k], a.r[k], b.r[k], wa, wb, va, vb); \
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
#undef MIX_SIMD_OPS

// 16 bytes picked out of 16 by a byte shuffle (SSSE3's pshufb, which the v3 and AVX-512 levels have and
// baseline x86-64 lacks): ResizeMix's u8 box rows (host_resize.h).
#if defined(__SSSE3__)
#define MIX_SIMD_PICK16 1
typedef __m128i pick16;
inline pick16 load_pick(const uint8_t* p) { return _mm_loadu_si128((const __m128i*)p); }
inline void pick_bytes(const uint8_t* from, pick16 which, uint8_t* to) {
    _mm_storeu_si128((__m128i*)to, _mm_shuffle_epi8(_mm_loadu_si128((const __m128i*)from), which));
}
#endif

}  // namespace mixcut
#endif
