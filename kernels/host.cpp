// Host entry points of the fused passes (the mix; the normalising pass): the same per-thread logic as the CUDA kernels (mix.cuh), run by
// CPU threads over ranges of the same virtual grid. The Rust side splits the grid between threads and
// picks the instruction-set level: build.rs compiles this file once per level, with MIX_ISA naming it
// (baseline, v3, avx512) and the level's -march flags.
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <type_traits>

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
#include "host_resize.h"

namespace mixcut {

// S bytes as one value: a fixed-size memcpy of it compiles to one load or store (or a few, past the
// level's widest register).
template <int S>
struct Chunk {
    uint8_t b[S];
};

// Bytes [0, n) of `a` and `b` exchanged for S <= n <= 2S: the first and the last S bytes, all read before
// any is written, so the two may overlap.
template <int S>
inline void swap_ends(uint8_t* a, uint8_t* b, int64_t n) {
    Chunk<S> ha, hb, ta, tb;
    memcpy(&ha, a, S), memcpy(&hb, b, S), memcpy(&ta, a + n - S, S), memcpy(&tb, b + n - S, S);
    memcpy(a, &hb, S), memcpy(b, &ha, S), memcpy(a + n - S, &tb, S), memcpy(b + n - S, &ta, S);
}

// Bytes [0, n) of `a` and `b` exchanged, a register of R bytes at a time, the last step ending at n (it
// reads its bytes before any other step writes, so it may overlap the step before it); shorter runs take
// swap_ends of the largest power of two that fits.
inline void swap_bytes(uint8_t* a, uint8_t* b, int64_t n) {
#if defined(__AVX512F__)
    constexpr int R = 64;
#elif defined(__AVX__)
    constexpr int R = 32;
#else
    constexpr int R = 16;
#endif
    if (n >= R) {
        Chunk<R> ta, tb;
        memcpy(&ta, a + n - R, R), memcpy(&tb, b + n - R, R);
        for (int64_t k = 0; k < n - R; k += R) {
            Chunk<R> x, y;
            memcpy(&x, a + k, R), memcpy(&y, b + k, R), memcpy(a + k, &y, R), memcpy(b + k, &x, R);
        }
        memcpy(a + n - R, &tb, R), memcpy(b + n - R, &ta, R);
    } else if (R > 32 && n >= 32) {
        swap_ends<32>(a, b, n);
    } else if (R > 16 && n >= 16) {
        swap_ends<16>(a, b, n);
    } else if (n >= 8) {
        swap_ends<8>(a, b, n);
    } else if (n >= 4) {
        swap_ends<4>(a, b, n);
    } else if (n >= 2) {
        swap_ends<2>(a, b, n);
    } else if (n == 1) {
        const uint8_t t = *a;
        *a = *b, *b = t;
    }
}

// In place, a pair whose samples each copy box rows (kept or CutMix'ed: copies_box_rows) changes only inside the boxes, so only the
// boxes' rows are visited, as runs of elements: in row y (of channel c; a channels-last row holds every
// channel), sample k's box is [element_offset(c, y, x0), element_offset(c, y, x1)). Sample i takes j's
// elements in i's run and j takes i's in j's run, both as they were before the call: where the runs meet
// the samples swap, elsewhere one copies the other's elements, which nothing writes. CutMix moves elements
// unchanged (mix_lanes' Select), so moving their bytes is the same operation; the cost is the boxes'
// bytes. Elements outside [lo, hi) belong to another thread's share.
template <typename T, int V>
void run_boxes(const PairWork<T, V>& w, int64_t lo, int64_t hi) {
    if (w.self_paired) return;  // a sample pasted into itself does not change
    const Geometry& g = w.g;
    const MixSample* s[2] = {&w.si, &w.sj};
    int32_t y0[2], y1[2];
    int64_t rb[2], re[2];
    int32_t y_lo = g.height, y_hi = 0;
    for (int k = 0; k < 2; ++k) {
        const bool has = has_box(s[k]->op) && s[k]->x0 < s[k]->x1 && s[k]->y0 < s[k]->y1;
        y0[k] = has ? s[k]->y0 : 0, y1[k] = has ? s[k]->y1 : 0;
        rb[k] = element_offset(0, 0, s[k]->x0, g), re[k] = element_offset(0, 0, s[k]->x1, g);
        if (has) y_lo = y0[k] < y_lo ? y0[k] : y_lo, y_hi = y1[k] > y_hi ? y1[k] : y_hi;
    }
    uint8_t* const bytes[2] = {reinterpret_cast<uint8_t*>(w.dst_i), reinterpret_cast<uint8_t*>(w.dst_j)};
    const auto copy = [&](int to, int64_t b, int64_t e) {  // sample `to` takes its partner's [b, e)
        if (b < e) memcpy(bytes[to] + b * sizeof(T), bytes[1 - to] + b * sizeof(T), (e - b) * sizeof(T));
    };
    const int64_t row_len = element_offset(0, 1, 0, g);  // elements from one row to the next
    const int32_t planes = g.channels_last ? 1 : g.channels;
    // Batch mode: one box for both samples, all of it in this share. Each row's run is a swap.
    if (y0[0] < y1[0] && y0[0] == y0[1] && y1[0] == y1[1] && rb[0] == rb[1] && re[0] == re[1] &&
        element_offset(0, y0[0], 0, g) + rb[0] >= lo && element_offset(planes - 1, y1[0] - 1, 0, g) + re[0] <= hi) {
        const int64_t run = (re[0] - rb[0]) * sizeof(T), step = row_len * sizeof(T);
        for (int32_t c = 0; c < planes; ++c) {
            const int64_t first = (element_offset(c, y0[0], 0, g) + rb[0]) * sizeof(T);
            uint8_t *a = bytes[0] + first, *b = bytes[1] + first;
            for (int32_t y = y0[0]; y < y1[0]; ++y, a += step, b += step) swap_bytes(a, b, run);
        }
        return;
    }
    for (int32_t c = 0; c < planes; ++c) {
        int64_t row = element_offset(c, y_lo, 0, g);
        for (int32_t y = y_lo; y < y_hi && row < hi; ++y, row += row_len) {
            int64_t b[2], e[2];  // each sample's run in this row, within the share (b >= e: none)
            for (int k = 0; k < 2; ++k) {
                const bool in = y >= y0[k] && y < y1[k];
                b[k] = in ? (row + rb[k] > lo ? row + rb[k] : lo) : 0;
                e[k] = in ? (row + re[k] < hi ? row + re[k] : hi) : 0;
            }
            const int64_t mb = b[0] > b[1] ? b[0] : b[1], me = e[0] < e[1] ? e[0] : e[1];
            if (mb < me) {  // the runs meet in [mb, me)
                swap_bytes(bytes[0] + mb * sizeof(T), bytes[1] + mb * sizeof(T), (me - mb) * sizeof(T));
                for (int k = 0; k < 2; ++k) copy(k, b[k], e[k] < mb ? e[k] : mb), copy(k, b[k] > me ? b[k] : me, e[k]);
            } else {
                copy(0, b[0], e[0]), copy(1, b[1], e[1]);
            }
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
        run_boxes<uint8_t, V>(w, lo * V, hi * V);
    else
        for (int64_t v = lo; v < hi; ++v) mix_vector<uint8_t, V>(w, v);
}

// The lanes [from, to) of a sample that follow its whole vectors (MixArgs::tail, `from` a multiple of
// 16 bytes' lanes), whatever `step(W, first)` does with the W-lane vector that starts at lane `first`: in
// 16-byte vectors (W = 16 / sizeof(T)), then one lane at a time (W = 1).
template <typename T, typename Step>
void run_tail(int64_t from, int64_t to, Step step) {
    constexpr int W = 16 / sizeof(T);
    for (; from + W <= to; from += W) step(std::integral_constant<int, W>(), from);
    for (; from < to; ++from) step(std::integral_constant<int, 1>(), from);
}

// Runs grid rows [pair_lo, pair_hi): for each pair, its vectors in [vec_lo, vec_hi) (with the last slice,
// its tail), the same share of its ResizeMix boxes' rows, of its class mask's vectors (segmentation), then
// (with the last slice) its targets. `held` has room for a sample's elements: in place, a ResizeMix box
// waits there while its partner changes (held_sample), and is stored after the other boxes; such pairs
// come whole (the Rust side never splits an in-place ResizeMix pair between threads).
template <typename T, int V>
void run_pairs(const MixArgs& a, T* held, int64_t pair_lo, int64_t pair_hi, int64_t vec_lo, int64_t vec_hi) {
    const bool last = vec_hi == a.vecs_per_sample;
    const int64_t whole = vec_hi * V, end = last ? whole + a.tail : whole;  // the share's elements end at `end`
    for (int64_t k = pair_lo; k < pair_hi; ++k) {
        const PairWork<T, V> pair = pair_work<T, V>(a, k);
        const PairWork<T, V> w = resizes_kept(pair);  // ResizeMix's boxes come after (or are held first)
        const bool resizes = resizes_partner(pair.si.op) || resizes_partner(pair.sj.op);
        const int hold = resizes && pair.in_place ? held_sample(pair) : -1;
        HeldBox<T> box{hold == 1 ? pair.sj : pair.si, pair.g, held};
        if (hold >= 0) box.paste_from(reinterpret_cast<const T*>(hold == 0 ? pair.src_j : pair.src_i));
        if (w.in_place && copies_box_rows(w.si.op) && copies_box_rows(w.sj.op)) {
            run_boxes<T, V>(w, vec_lo * V, end);
        } else {
            if (!pastes(w.si.op) && !pastes(w.sj.op))  // nothing pasted: no lane masks to compute
                for (int64_t v = vec_lo; v < vec_hi; ++v) mix_vector_masked<T, V>(w, v, 0, 0);
            else
                for (int64_t v = vec_lo; v < vec_hi; ++v) mix_vector<T, V, true>(w, v);
            run_tail<T>(whole, end, [&](auto lanes, int64_t first) {
                constexpr int W = decltype(lanes)::value;
                mix_vector<T, W, true>(resizes_kept(pair_work<T, W>(a, k)), first / W);
            });
        }
        if (resizes) run_resizes<T, V>(pair, vec_lo * V, end, hold);
        if (hold >= 0) box.store_into(reinterpret_cast<T*>(hold == 0 ? pair.dst_i : pair.dst_j));
        if (a.mask_bytes) {
            const int64_t lo = vec_lo * a.mask_vecs / a.vecs_per_sample, hi = vec_hi * a.mask_vecs / a.vecs_per_sample;
            a.mask_vector == 16 ? run_mask<16>(a, k, lo, hi) : run_mask<1>(a, k, lo, hi);
        }
        if (last) write_targets(a, k);
    }
}

// A pair's normalising vectors [vec_lo, vec_hi) into the output orders DST, then its tail up to element
// `end` (none unless this is the last slice).
template <typename To, int V, int DST>
void norm_vectors(const NormWork<To>& w, int64_t vec_lo, int64_t vec_hi, int64_t end) {
    for (int64_t v = vec_lo; v < vec_hi; ++v) normalize_vector<To, V, DST, true>(w, v);
    run_tail<uint8_t>(vec_hi * V, end, [&](auto lanes, int64_t first) {
        constexpr int W = decltype(lanes)::value;
        normalize_vector<To, W, DST, true>(w, first / W);
    });
}

// The normalising pass over grid rows [pair_lo, pair_hi): every vector of each pair (it writes a new
// tensor: nothing to skip), with the last slice its tail, then its targets. A tail lane of pixel vectors
// is a pixel: its C output elements (one a plane into NCHW, consecutive into channels-last).
template <typename To, int V>
void run_norm_pairs(const MixArgs& a, int64_t pair_lo, int64_t pair_hi, int64_t vec_lo, int64_t vec_hi) {
    const bool last = vec_hi == a.vecs_per_sample;
    const int64_t whole = vec_hi * V, end = last ? whole + a.tail : whole;
    const int64_t plane = (int64_t)a.height * a.width;
    for (int64_t k = pair_lo; k < pair_hi; ++k) {
        const NormWork<To> w = norm_work<To>(a, k);
        switch (a.form) {
            case Form::Pixels:  // as the CUDA kernels: pixel vectors (vec_lo, vec_hi count them)
                for (int64_t g = vec_lo; g < vec_hi; ++g) normalize_pixels<To, V, MIX_PIXEL_CHANNELS, true>(w, g);
                for (int64_t g = whole; g < end; ++g)
                    for (int c = 0; c < MIX_PIXEL_CHANNELS; ++c) normalize_vector<To, 1, DST_ANY, true>(w, c * plane + g);
                break;
            case Form::PixelsChannelsLast:  // as the CUDA kernels; a tail pixel's C outputs, one at a time
                for (int64_t g = vec_lo; g < vec_hi; ++g) normalize_planes<To, V, MIX_PIXEL_CHANNELS, true>(w, g);
                for (int64_t q = whole * MIX_PIXEL_CHANNELS; q < end * MIX_PIXEL_CHANNELS; ++q)
                    normalize_vector<To, 1, DST_CHANNELS_LAST, true>(w, q);
                break;
            case Form::VectorsChannelsLast:
                norm_vectors<To, V, DST_CHANNELS_LAST>(w, vec_lo, vec_hi, end);
                break;
            case Form::VectorsFromPlanes:  // the host's own: lanes gathered from the planes, any channel count
                norm_vectors<To, V, DST_FROM_PLANES>(w, vec_lo, vec_hi, end);
                break;
            case Form::Vectors:
            case Form::Elements:
                norm_vectors<To, V, DST_ANY>(w, vec_lo, vec_hi, end);
                break;
        }
        if (last) write_targets(a, k);
    }
}

}  // namespace mixcut

// A thread's share: pairs [pair_lo, pair_hi) × vectors [vec_lo, vec_hi) (the tail and targets with the
// last slice), with vectors of `vector_bytes` (64, 16, or 0 for single elements); `held`: room for one
// sample, aligned for T (null unless the launch is in place with ResizeMix). Named
// mixcut_host_<level>_<dtype>.
#define MIX_HOST(NAME, T)                                                                                  \
    extern "C" void MIX_PASTE(MIX_PASTE(mixcut_host_, MIX_ISA), _##NAME)(                                  \
        const mixcut::MixArgs* a, void* held, int32_t vector_bytes, int64_t pair_lo, int64_t pair_hi,      \
        int64_t vec_lo, int64_t vec_hi) {                                                                  \
        T* const h = static_cast<T*>(held);                                                                \
        if (vector_bytes == 64)                                                                            \
            mixcut::run_pairs<T, 64 / sizeof(T)>(*a, h, pair_lo, pair_hi, vec_lo, vec_hi);                 \
        else if (vector_bytes == 16)                                                                       \
            mixcut::run_pairs<T, 16 / sizeof(T)>(*a, h, pair_lo, pair_hi, vec_lo, vec_hi);                 \
        else                                                                                               \
            mixcut::run_pairs<T, 1>(*a, h, pair_lo, pair_hi, vec_lo, vec_hi);                              \
    }

MIX_HOST(f32, float)
MIX_HOST(f16, mixcut::half_t)
MIX_HOST(bf16, mixcut::bf16_t)
MIX_HOST(u8, uint8_t)

// The normalising pass into each float type, vectors of `vector_bytes` input bytes (one per lane), or
// with MixArgs' `form` a pixel form (Form::Pixels, Form::PixelsChannelsLast), of `vector_bytes` pixels (3
// input bytes each). It is never in place: the second argument (the mix's `held`) goes unused.
// Named mixcut_host_<level>_norm_<dtype>.
#define MIX_HOST_NORM(NAME, T)                                                                             \
    extern "C" void MIX_PASTE(MIX_PASTE(mixcut_host_, MIX_ISA), _norm_##NAME)(                             \
        const mixcut::MixArgs* a, void*, int32_t vector_bytes, int64_t pair_lo, int64_t pair_hi,           \
        int64_t vec_lo, int64_t vec_hi) {                                                                  \
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
extern "C" uint64_t MIX_PASTE(mixcut_pixel_channels_, MIX_ISA)(void) { return MIX_PIXEL_CHANNELS; }
extern "C" uint64_t MIX_PASTE(mixcut_pixel_lanes_, MIX_ISA)(void) { return MIX_PIXEL_LANES; }

// The operations for the Rust twin's test: their count, and each one's predicates as bits (blends,
// has_box, has_mask, resizes_partner, changes_region_only, mixes_labels).
extern "C" int32_t MIX_PASTE(mixcut_op_count_, MIX_ISA)(void) { return MIX_OP_COUNT; }
extern "C" uint32_t MIX_PASTE(mixcut_op_predicates_, MIX_ISA)(int32_t code) {
    const mixcut::Op op = static_cast<mixcut::Op>(code);
    return (uint32_t)mixcut::blends(op) | (uint32_t)mixcut::has_box(op) << 1 | (uint32_t)mixcut::has_mask(op) << 2 |
           (uint32_t)mixcut::resizes_partner(op) << 3 | (uint32_t)mixcut::changes_region_only(op) << 4 |
           (uint32_t)mixcut::mixes_labels(op) << 5;
}
