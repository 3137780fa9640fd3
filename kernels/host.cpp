// Host entry points of the fused passes (the mix; the normalising pass): the same per-thread logic as the CUDA kernels (mix.cuh), run by
// CPU threads over ranges of the same virtual grid. The Rust side splits the grid between threads and
// picks the instruction-set level: build.rs compiles this file once per level, with MIX_ISA naming it
// (baseline, v3, avx512) and the level's -march flags.
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#ifndef MIX_ISA
#define MIX_ISA baseline
#endif
#define MIX_PASTE2(a, b) a##b
#define MIX_PASTE(a, b) MIX_PASTE2(a, b)
// Each level's copy of the inline functions and templates lives in its own namespace (mixcut_v3, ...):
// the linker merges same-named inline code across objects, and must never hand the baseline entry points
// an AVX-512 copy.
#define mixcut MIX_PASTE(mixcut_, MIX_ISA)

#include "mix.cuh"
#include "host_simd.h"

namespace mixcut {

// The first element of vector v at coordinates for mix_vector_at, without coord_of's divisions where the
// vector begins inside row y (which begins at element `row`).
inline Coord vector_coord(int64_t v, int V, int32_t c, int32_t y, int64_t row, const Geometry& g) {
    const int64_t d = v * V - row;
    if (d < 0) return coord_of((uint32_t)(v * V), g);
    if (g.channels_last) return Coord{(uint32_t)(d % g.channels), (uint32_t)y, (uint32_t)(d / g.channels)};
    return Coord{(uint32_t)c, (uint32_t)y, (uint32_t)d};
}

// In place, a pair whose samples are each kept or CutMix'ed changes only inside the boxes: visit the
// vectors that hold the boxes' rows, each once, in storage order. In a row y (of channel c; channels-last
// rows hold every channel), a box is one run of elements, [element_offset(c, y, x0), element_offset(c, y,
// x1)), so a vector inside the row takes the partner's lanes where it meets its sample's run (run_lanes);
// a vector that reaches into another row gets mix_vector_at's box test. Cost scales with the box area.
template <typename T, int V>
void run_boxes(const PairWork<T, V>& w, int64_t vec_lo, int64_t vec_hi) {
    const Geometry& g = w.g;
    // Per sample: its box rows and its run's place in a row (all rows alike: element_offset is affine).
    const MixSample* s[2] = {&w.si, &w.sj};
    int32_t y0[2], y1[2];
    int64_t rb[2], re[2];
    bool has[2];
    int32_t y_lo = g.height, y_hi = 0;
    for (int k = 0; k < 2; ++k) {
        has[k] = s[k]->op == OP_CUTMIX && s[k]->x0 < s[k]->x1 && s[k]->y0 < s[k]->y1;
        y0[k] = has[k] ? s[k]->y0 : 0, y1[k] = has[k] ? s[k]->y1 : 0;
        rb[k] = element_offset(0, 0, s[k]->x0, g), re[k] = element_offset(0, 0, s[k]->x1, g);
        if (has[k]) y_lo = y0[k] < y_lo ? y0[k] : y_lo, y_hi = y1[k] > y_hi ? y1[k] : y_hi;
    }
    // Both samples' boxes alike (batch mode), or one sample's alone, and wide enough to hold a few vectors:
    // a row's vectors wholly inside its run take the partner's lanes everywhere for the samples that have
    // it, in a loop with nothing to test.
    const bool alike = !has[0] || !has[1] || (y0[0] == y0[1] && y1[0] == y1[1] && rb[0] == rb[1] && re[0] == re[1]);
    const bool stretches = alike && (has[0] ? re[0] - rb[0] : re[1] - rb[1]) >= 2 * V;
    const uint64_t all = V >= 64 ? ~0ull : (1ull << V) - 1ull;
    const uint64_t all_i = has[0] ? all : 0, all_j = has[1] ? all : 0;
    const int64_t row_len = element_offset(0, 1, 0, g);  // elements from one row to the next
    const int32_t planes = g.channels_last ? 1 : g.channels;
    int64_t next = vec_lo;  // first vector not yet visited
    for (int32_t c = 0; c < planes; ++c) {
        int64_t row = element_offset(c, y_lo, 0, g);
        for (int32_t y = y_lo; y < y_hi; ++y, row += row_len) {
            int64_t b[2], e[2];  // each sample's run in this row (empty: none)
            for (int k = 0; k < 2; ++k) {
                const bool in = y >= y0[k] && y < y1[k];
                b[k] = in ? row + rb[k] : 0, e[k] = in ? row + re[k] : 0;
            }
            const int64_t lo = b[0] == e[0] ? b[1] : b[1] == e[1] || b[0] < b[1] ? b[0] : b[1];
            const int64_t hi = e[0] > e[1] ? e[0] : e[1];
            const int64_t first = lo / V > next ? lo / V : next, last = (hi + V - 1) / V < vec_hi ? (hi + V - 1) / V : vec_hi;
            const int64_t inner_lo = stretches ? (lo + V - 1) / V : last, inner_hi = stretches ? hi / V : last;
            for (int64_t v = first; v < last; ++v) {
                if (v >= inner_lo && v < inner_hi) {
                    const int64_t stop = inner_hi < last ? inner_hi : last;
                    for (; v < stop; ++v) mix_vector_masked<T, V>(w, v, all_i, all_j);
                    if (v == last) break;
                }
                const int64_t vs = v * V;
                if (vs >= row && vs + V <= row + row_len)
                    mix_vector_masked<T, V>(w, v, run_lanes<V>(vs, b[0], e[0]), run_lanes<V>(vs, b[1], e[1]));
                else
                    mix_vector_at<T, V>(w, v, vector_coord(v, V, c, y, row, g));
            }
            next = last > next ? last : next;
        }
    }
}

// A pair's target rows, with what write() tests per class fixed for the whole row: AVX2 code would
// otherwise turn those tests into masked loads and stores, slower than the rest of the pass.
template <bool SOFT, bool PAIR>
void target_rows(const PairTargets& t, int32_t classes) {
    for (int32_t c = 0; c < classes; ++c) t.write_as<SOFT, PAIR>(c);
}

// Pair k's target rows.
inline void write_targets(const MixArgs& a, int64_t k) {
    const PairTargets t = pair_targets(a, k, true);
    if (t.soft)
        t.tj ? target_rows<true, true>(t, a.num_classes) : target_rows<true, false>(t, a.num_classes);
    else
        t.tj ? target_rows<false, true>(t, a.num_classes) : target_rows<false, false>(t, a.num_classes);
}

// Mask vectors [lo, hi) of pair k's class mask (segmentation): in place, only the boxes' rows.
template <int V>
void run_mask(const MixArgs& a, int64_t k, int64_t lo, int64_t hi) {
    const PairWork<uint8_t, V> w = mask_work<V>(a, k);
    if (w.in_place)
        run_boxes<uint8_t, V>(w, lo, hi);
    else
        for (int64_t v = lo; v < hi; ++v) mix_vector<uint8_t, V>(w, v);
}

// Runs grid rows [pair_lo, pair_hi): for each pair, its vectors in [vec_lo, vec_hi), the same share of
// its class mask's vectors (segmentation), then (with the last slice) its targets.
template <typename T, int V>
void run_pairs(const MixArgs& a, int64_t pair_lo, int64_t pair_hi, int64_t vec_lo, int64_t vec_hi) {
    for (int64_t k = pair_lo; k < pair_hi; ++k) {
        const PairWork<T, V> w = pair_work<T, V>(a, k);
        if (w.in_place && w.si.op != OP_MIXUP && w.sj.op != OP_MIXUP)
            run_boxes<T, V>(w, vec_lo, vec_hi);
        else if (w.si.op != OP_CUTMIX && w.sj.op != OP_CUTMIX)  // no box anywhere: no lane masks to compute
            for (int64_t v = vec_lo; v < vec_hi; ++v) mix_vector_masked<T, V>(w, v, 0, 0);
        else
            for (int64_t v = vec_lo; v < vec_hi; ++v) mix_vector<T, V>(w, v);
        if (a.mask_bytes) {
            const int64_t lo = vec_lo * a.mask_vecs / a.vecs_per_sample, hi = vec_hi * a.mask_vecs / a.vecs_per_sample;
            a.mask_vector == 16 ? run_mask<16>(a, k, lo, hi) : run_mask<1>(a, k, lo, hi);
        }
        if (vec_hi == a.vecs_per_sample) write_targets(a, k);
    }
}

// The normalising pass over grid rows [pair_lo, pair_hi): every vector of each pair (it writes a new
// tensor: nothing to skip), then its targets.
template <typename To, int V>
void run_norm_pairs(const MixArgs& a, int64_t pair_lo, int64_t pair_hi, int64_t vec_lo, int64_t vec_hi) {
    for (int64_t k = pair_lo; k < pair_hi; ++k) {
        const NormWork<To> w = norm_work<To>(a, k);
        for (int64_t v = vec_lo; v < vec_hi; ++v) normalize_vector<To, V>(a, w, v);
        if (vec_hi == a.vecs_per_sample) write_targets(a, k);
    }
}

}  // namespace mixcut

// A thread's share: pairs [pair_lo, pair_hi) × vectors [vec_lo, vec_hi) (targets with the last slice),
// with vectors of `vector_bytes` (64, 16, or 0 for single elements). Named mixcut_host_<level>_<dtype>.
#define MIX_HOST(NAME, T)                                                                                  \
    extern "C" void MIX_PASTE(MIX_PASTE(mixcut_host_, MIX_ISA), _##NAME)(                                  \
        const mixcut::MixArgs* a, int32_t vector_bytes, int64_t pair_lo, int64_t pair_hi, int64_t vec_lo, \
        int64_t vec_hi) {                                                                                  \
        if (vector_bytes == 64)                                                                            \
            mixcut::run_pairs<T, 64 / sizeof(T)>(*a, pair_lo, pair_hi, vec_lo, vec_hi);                    \
        else if (vector_bytes == 16)                                                                       \
            mixcut::run_pairs<T, 16 / sizeof(T)>(*a, pair_lo, pair_hi, vec_lo, vec_hi);                    \
        else                                                                                               \
            mixcut::run_pairs<T, 1>(*a, pair_lo, pair_hi, vec_lo, vec_hi);                                 \
    }

MIX_HOST(f32, float)
MIX_HOST(f16, mixcut::half_t)
MIX_HOST(bf16, mixcut::bf16_t)
MIX_HOST(u8, uint8_t)

// The normalising pass into each float type, vectors of `vector_bytes` input bytes (one per lane).
// Named mixcut_host_<level>_norm_<dtype>.
#define MIX_HOST_NORM(NAME, T)                                                                             \
    extern "C" void MIX_PASTE(MIX_PASTE(mixcut_host_, MIX_ISA), _norm_##NAME)(                             \
        const mixcut::MixArgs* a, int32_t vector_bytes, int64_t pair_lo, int64_t pair_hi, int64_t vec_lo, \
        int64_t vec_hi) {                                                                                  \
        if (vector_bytes == 64)                                                                            \
            mixcut::run_norm_pairs<T, 64>(*a, pair_lo, pair_hi, vec_lo, vec_hi);                           \
        else if (vector_bytes == 16)                                                                       \
            mixcut::run_norm_pairs<T, 16>(*a, pair_lo, pair_hi, vec_lo, vec_hi);                           \
        else                                                                                               \
            mixcut::run_norm_pairs<T, 1>(*a, pair_lo, pair_hi, vec_lo, vec_hi);                            \
    }

MIX_HOST_NORM(f32, float)
MIX_HOST_NORM(f16, mixcut::half_t)
MIX_HOST_NORM(bf16, mixcut::bf16_t)

// Layout checks for the Rust mirror of MixArgs (one copy per level, all equal).
extern "C" uint64_t MIX_PASTE(mixcut_args_size_, MIX_ISA)(void) { return sizeof(mixcut::MixArgs); }
extern "C" uint64_t MIX_PASTE(mixcut_args_first_offset_, MIX_ISA)(void) { return offsetof(mixcut::MixArgs, first); }
extern "C" uint64_t MIX_PASTE(mixcut_args_on_offset_, MIX_ISA)(void) { return offsetof(mixcut::MixArgs, on); }
extern "C" uint64_t MIX_PASTE(mixcut_args_scale_offset_, MIX_ISA)(void) { return offsetof(mixcut::MixArgs, scale); }
