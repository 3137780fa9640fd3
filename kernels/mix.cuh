// The per-thread logic of the fused Mixup / CutMix / soft-target pass, written once for two compilers:
// nvcc builds it into the CUDA kernels (mix.cu), the host C++ compiler into the fused CPU executor
// (host.cpp). Everything here is a host-and-device function of one "thread" of a virtual grid.
//
// Work split: a thread owns one pair (i, j = N-1-i) at one vector position. It loads x_i and x_j there
// once, computes both outputs by each sample's own operation and writes them, so in place is safe in
// every mode (nobody else reads or writes those bytes) and every byte is read and written at most once.
// A second range of the same grid writes the soft targets, one (pair, class) per thread.
#pragma once

#include <stdint.h>

#if defined(__CUDACC__)
#include <cuda_bf16.h>
#include <cuda_fp16.h>
#define MIX_HD __device__ __forceinline__
#define MIX_UNROLL _Pragma("unroll")
namespace mixcut {
typedef __half half_t;
typedef __nv_bfloat16 bf16_t;
__device__ __forceinline__ float to_f32(half_t h) { return __half2float(h); }
__device__ __forceinline__ half_t half_from_f32(float f) { return __float2half_rn(f); }
__device__ __forceinline__ float to_f32(bf16_t b) { return __bfloat162float(b); }
__device__ __forceinline__ bf16_t bf16_from_f32(float f) { return __float2bfloat16_rn(f); }
__device__ __forceinline__ float round_byte(float v) { return rintf(v); }
// The flag lives in mapped host memory: a plain volatile store reaches it (every writer of a launch stores
// the same value, the launching mixer's token).
__device__ __forceinline__ void flag_error(int32_t* flag, int32_t code) { *(volatile int32_t*)flag = code; }
}  // namespace mixcut
#else
#include "host_shim.h"
#define MIX_HD inline __attribute__((always_inline))
#define MIX_UNROLL
#endif

namespace mixcut {

// ---- Parameters: mirrored by src/exec/kernel_args.rs (#[repr(C)]); sizes are checked by a test. ----

enum : int32_t { OP_KEEP = 0, OP_MIXUP = 1, OP_CUTMIX = 2 };

// One sample's operation. Weights are λ and 1-λ as f32 (the reference executor uses the same numbers).
struct MixSample {
    int32_t op;
    float w_self, w_other;
    int32_t y0, y1, x0, x1;  // CutMix box, half-open, in the last two image dims
    int32_t pad;
};

// Pairs per launch: the per-sample parameters travel inside the kernel arguments (no device buffer,
// no copy), which CUDA >= 12.1 allows up to 32764 bytes. Larger batches take several launches.
#define MIX_MAX_PAIRS 480
// Channels the normalising pass takes (its per-channel constants travel in the arguments too).
#define MIX_MAX_CHANNELS 16

struct MixArgs {
    const void* src;          // images in: [N, ...], dense per sample
    void* dst;                // images out (== src in place)
    const int64_t* labels;    // class indices [N], or null
    const float* soft;        // soft targets [N, C] float32 contiguous, or null
    float* targets;           // out: [N, C] float32 contiguous
    int32_t* error;           // receives error_token when a class index is outside [0, C)
    int64_t sample_stride;    // elements between consecutive samples
    int64_t vecs_per_sample;  // sample elements / vector width
    int32_t n;                // batch size
    int32_t pair_begin;       // first pair of this launch
    int32_t pair_count;       // pairs in this launch
    int32_t num_classes;
    int32_t channels, height, width;  // CutMix geometry: [C, H, W] (rank 3: H = 1)
    int32_t channels_last;            // 1: samples stored [H, W, C]
    int32_t in_place;                 // 1: dst == src, write only what changes
    int32_t error_token;              // stored into *error on an out-of-range class index (the mixer's own)
    float on, off;                    // one-hot values with label smoothing
    float threshold;                  // with binarize: targets become (value > threshold) ? 1 : 0
    int32_t binarize;
    // The normalising pass (uint8 in, float out): output memory order and per-channel affine map.
    int32_t dst_channels_last;         // 1: outputs stored [H, W, C] per sample
    int32_t pad;
    float scale[MIX_MAX_CHANNELS];     // 1 / (255 · std_c), rounded once to f32
    float shift[MIX_MAX_CHANNELS];     // −mean_c / std_c, rounded once to f32
    MixSample first[MIX_MAX_PAIRS];   // sample i = pair_begin + k
    MixSample second[MIX_MAX_PAIRS];  // sample j = n - 1 - i
};

// ---- Element types: load as float, store with round-to-nearest-even. ----

template <typename T>
struct Elem;
template <>
struct Elem<float> {
    static MIX_HD float load(float v) { return v; }
    static MIX_HD float store(float f) { return f; }
};
template <>
struct Elem<uint8_t> {
    static MIX_HD float load(uint8_t v) { return (float)v; }
    static MIX_HD uint8_t store(float f) {  // saturate, then round half to even (np.rint, torch.round)
        const float c = f < 0.f ? 0.f : (f > 255.f ? 255.f : f);
        return (uint8_t)(int32_t)round_byte(c);
    }
};
template <>
struct Elem<half_t> {
    static MIX_HD float load(half_t v) { return to_f32(v); }
    static MIX_HD half_t store(float f) { return half_from_f32(f); }
};
template <>
struct Elem<bf16_t> {
    static MIX_HD float load(bf16_t v) { return to_f32(v); }
    static MIX_HD bf16_t store(float f) { return bf16_from_f32(f); }
};

// `a·wa + b·wb` rounded after each operation, never fused into an FMA: the reference executor's tch ops
// round the same way, so the two agree bit for bit.
MIX_HD float blend(float a, float b, float wa, float wb) {
#if defined(__CUDA_ARCH__)
    return __fadd_rn(__fmul_rn(a, wa), __fmul_rn(b, wb));
#else
    return a * wa + b * wb;  // host.cpp is built with -ffp-contract=off
#endif
}

// V consecutive elements: one 16-byte access on the GPU (V·sizeof(T) == 16); the host build also uses
// 64-byte groups, which its compiler turns into unrolled SIMD loops.
template <typename T, int V>
struct alignas(V * sizeof(T) >= 16 ? 16 : alignof(T)) Vec {
    T v[V];
};

// What the CutMix box test needs of the sample layout.
struct Geometry {
    int32_t channels, height, width, channels_last;
};

// Coordinates of an element inside its sample: channel, row, column.
struct Coord {
    uint32_t c, y, x;
};

MIX_HD Coord coord_of(uint32_t pos, const Geometry& g) {
    Coord p;
    if (g.channels_last) {
        p.c = pos % g.channels;
        const uint32_t hw = pos / g.channels;
        p.x = hw % g.width;
        p.y = hw / g.width;
    } else {
        p.x = pos % g.width;
        const uint32_t rows = pos / g.width;
        p.y = rows % g.height;
        p.c = rows / g.height;
    }
    return p;
}

// Lanes [from, to) as a bit mask.
MIX_HD uint64_t lane_bits(int32_t from, int32_t to) {
    return (to >= 64 ? ~0ull : (1ull << to) - 1ull) & ~((1ull << from) - 1ull);
}

// Bit l set when lane l (V <= 64) of the V elements starting at coordinates `p` lies inside `s`'s CutMix
// box. Walks the lanes in runs that share a row (NCHW) or a pixel (channels-last): a few steps, not V.
template <int V>
MIX_HD uint64_t box_lanes(const MixSample& s, Coord p, const Geometry& g) {
    if (s.op != OP_CUTMIX) return 0;
    uint64_t mask = 0;
    int32_t x = (int32_t)p.x, y = (int32_t)p.y, c = (int32_t)p.c;
    for (int32_t l = 0; l < V;) {
        const bool row_inside = y >= s.y0 && y < s.y1;
        if (g.channels_last) {  // lanes [l, l + run) are the channels of pixel (y, x)
            const int32_t run = V - l < g.channels - c ? V - l : g.channels - c;
            if (row_inside && x >= s.x0 && x < s.x1) mask |= lane_bits(l, l + run);
            l += run;
            c = 0;
            if (++x == g.width) x = 0, ++y;
        } else {  // lanes [l, l + run) are columns x, x + 1, ... of row y
            const int32_t run = V - l < g.width - x ? V - l : g.width - x;
            if (row_inside) {
                const int32_t lo = s.x0 - x > 0 ? s.x0 - x : 0, hi = s.x1 - x < run ? s.x1 - x : run;
                if (lo < hi) mask |= lane_bits(l + lo, l + hi);
            }
            l += run;
            x = 0;
            if (++y == g.height) y = 0;
        }
    }
    return mask;
}

// One sample's output lanes from its own and its partner's input lanes (`box`: from box_lanes).
template <typename T, int V>
MIX_HD Vec<T, V> mix_lanes(const MixSample& s, const Vec<T, V>& own, const Vec<T, V>& other, uint64_t box) {
    Vec<T, V> out;
    if (s.op == OP_MIXUP) {
        MIX_UNROLL
        for (int l = 0; l < V; ++l)
            out.v[l] = Elem<T>::store(blend(Elem<T>::load(own.v[l]), Elem<T>::load(other.v[l]), s.w_self, s.w_other));
    } else {
        const uint64_t all = V >= 64 ? ~0ull : (1ull << V) - 1ull;
        if (box == 0) return own;  // outside the box (or kept)
        if (box == all) return other;  // wholly inside the box
        MIX_UNROLL
        for (int l = 0; l < V; ++l) out.v[l] = (box >> l) & 1ull ? other.v[l] : own.v[l];
    }
    return out;
}

// Everything a thread needs about its pair, read once from the argument block into locals (so the
// per-vector code below keeps it in registers instead of re-reading memory the stores may alias).
template <typename T, int V>
struct PairWork {
    MixSample si, sj;
    const Vec<T, V>* src_i;
    const Vec<T, V>* src_j;
    Vec<T, V>* dst_i;
    Vec<T, V>* dst_j;
    Geometry g;
    bool self_paired, in_place;
};

template <typename T, int V>
MIX_HD PairWork<T, V> pair_work(const MixArgs& a, int64_t k) {
    PairWork<T, V> w;
    w.si = a.first[k];
    w.sj = a.second[k];
    const int64_t i = a.pair_begin + k, j = a.n - 1 - i;
    const int64_t oi = i * a.sample_stride, oj = j * a.sample_stride;  // 64-bit element offsets
    w.src_i = reinterpret_cast<const Vec<T, V>*>(static_cast<const T*>(a.src) + oi);
    w.src_j = reinterpret_cast<const Vec<T, V>*>(static_cast<const T*>(a.src) + oj);
    w.dst_i = reinterpret_cast<Vec<T, V>*>(static_cast<T*>(a.dst) + oi);
    w.dst_j = reinterpret_cast<Vec<T, V>*>(static_cast<T*>(a.dst) + oj);
    w.g = Geometry{a.channels, a.height, a.width, a.channels_last};
    w.self_paired = i == j;
    w.in_place = a.in_place != 0;
    return w;
}

// The image work of one thread: vector v of its pair. In place, a sample is written only where its
// operation changes it, and nothing is read where neither sample changes.
template <typename T, int V>
MIX_HD void mix_vector(const PairWork<T, V>& w, int64_t v) {
    uint64_t box_i = 0, box_j = 0;
    if (w.si.op == OP_CUTMIX || w.sj.op == OP_CUTMIX) {
        const Coord p = coord_of((uint32_t)(v * V), w.g);
        box_i = box_lanes<V>(w.si, p, w.g);
        box_j = box_lanes<V>(w.sj, p, w.g);
    }
    const bool write_i = !w.in_place || w.si.op == OP_MIXUP || box_i != 0;
    const bool write_j = !w.self_paired && (!w.in_place || w.sj.op == OP_MIXUP || box_j != 0);
    if (!write_i && !write_j) return;
    const Vec<T, V> xi = w.src_i[v];
    const Vec<T, V> xj = w.src_j[v];
    if (write_i) w.dst_i[v] = mix_lanes<T, V>(w.si, xi, xj, box_i);
    if (write_j) w.dst_j[v] = mix_lanes<T, V>(w.sj, xj, xi, box_j);
}

// Target value of class c for a sample whose label row is described by (index, soft row).
MIX_HD float label_value(const MixArgs& a, int64_t sample, int32_t c) {
    if (a.soft) return a.soft[sample * a.num_classes + c];
    const int64_t label = a.labels[sample];
    if (label < 0 || label >= a.num_classes) {
        if (c == 0) flag_error(a.error, a.error_token);
        return 0.f;
    }
    return label == c ? a.on : a.off;
}

// Target of a sample from its own and its partner's label value: λ-mixed, then thresholded to {0, 1} when
// binarize is set (timm's BCE target threshold; NaN compares false, as torch's gt).
MIX_HD float target_value(const MixArgs& a, const MixSample& s, float own, float other) {
    const float v = s.op == OP_KEEP ? own : blend(own, other, s.w_self, s.w_other);
    return a.binarize ? (v > a.threshold ? 1.f : 0.f) : v;
}

// The target work of one thread: pair k of this launch, class c.
MIX_HD void mix_pair_targets(const MixArgs& a, int64_t k, int32_t c) {
    const int64_t i = a.pair_begin + k, j = a.n - 1 - i;
    const float yi = label_value(a, i, c), yj = label_value(a, j, c);
    a.targets[i * a.num_classes + c] = target_value(a, a.first[k], yi, yj);
    if (j != i) a.targets[j * a.num_classes + c] = target_value(a, a.second[k], yj, yi);
}

// ---- The normalising pass: uint8 in, float out (f32, f16, bf16), [N, C, H, W] in either memory order on
// either side. The pair's two samples are mixed in f32 exactly as above (no rounding to uint8), then
// mapped per channel to fl(fl(m · scale_c) + shift_c) and rounded to the output type. Never in place. ----

// `m · scale + shift` rounded after each operation (no FMA), as the reference's tch ops.
MIX_HD float normalize(float m, float scale, float shift) {
#if defined(__CUDA_ARCH__)
    return __fadd_rn(__fmul_rn(m, scale), shift);
#else
    return m * scale + shift;
#endif
}

// A sample's value in f32 at one element from its own and its partner's, `in_box` for CutMix.
MIX_HD float mixed_value(const MixSample& s, float own, float other, bool in_box) {
    if (s.op == OP_MIXUP) return blend(own, other, s.w_self, s.w_other);
    return s.op == OP_CUTMIX && in_box ? other : own;
}

// Element offset of coordinates `p` in a sample stored in `g`'s memory order.
MIX_HD uint32_t offset_of(Coord p, const Geometry& g) {
    return g.channels_last ? (p.y * g.width + p.x) * g.channels + p.c : (p.c * g.height + p.y) * g.width + p.x;
}

// Coordinates of the next element in `g`'s memory order.
MIX_HD void step(Coord& p, const Geometry& g) {
    if (g.channels_last) {
        if (++p.c < (uint32_t)g.channels) return;
        p.c = 0;
        if (++p.x < (uint32_t)g.width) return;
        p.x = 0, ++p.y;
    } else {
        if (++p.x < (uint32_t)g.width) return;
        p.x = 0;
        if (++p.y < (uint32_t)g.height) return;
        p.y = 0, ++p.c;
    }
}

MIX_HD bool in_box(const MixSample& s, Coord p) {
    return (int32_t)p.y >= s.y0 && (int32_t)p.y < s.y1 && (int32_t)p.x >= s.x0 && (int32_t)p.x < s.x1;
}

template <typename To>
struct NormWork {
    MixSample si, sj;
    const uint8_t* src_i;
    const uint8_t* src_j;
    To* dst_i;
    To* dst_j;
    Geometry in, out;
    bool self_paired;
};

template <typename To>
MIX_HD NormWork<To> norm_work(const MixArgs& a, int64_t k) {
    NormWork<To> w;
    w.si = a.first[k];
    w.sj = a.second[k];
    const int64_t i = a.pair_begin + k, j = a.n - 1 - i;
    const int64_t per_sample = (int64_t)a.channels * a.height * a.width;
    w.src_i = static_cast<const uint8_t*>(a.src) + i * a.sample_stride;
    w.src_j = static_cast<const uint8_t*>(a.src) + j * a.sample_stride;
    w.dst_i = static_cast<To*>(a.dst) + i * per_sample;
    w.dst_j = static_cast<To*>(a.dst) + j * per_sample;
    w.in = Geometry{a.channels, a.height, a.width, a.channels_last};
    w.out = Geometry{a.channels, a.height, a.width, a.dst_channels_last};
    w.self_paired = i == j;
    return w;
}

// Lane l of both samples' outputs, with its channel's constants.
template <typename To, int V>
MIX_HD void norm_lane(const NormWork<To>& w, const Vec<uint8_t, V>& xi, const Vec<uint8_t, V>& xj, uint64_t box_i,
                      uint64_t box_j, int l, float scale, float shift, Vec<To, V>& oi, Vec<To, V>& oj) {
    const float fi = Elem<uint8_t>::load(xi.v[l]), fj = Elem<uint8_t>::load(xj.v[l]);
    oi.v[l] = Elem<To>::store(normalize(mixed_value(w.si, fi, fj, (box_i >> l) & 1ull), scale, shift));
    oj.v[l] = Elem<To>::store(normalize(mixed_value(w.sj, fj, fi, (box_j >> l) & 1ull), scale, shift));
}

// Output elements [v·V, v·V + V) of the pair. V > 1 only when input and output share a memory order
// (then lanes are consecutive on both sides and the input is read as one vector); V == 1 gathers each
// input element at the output element's coordinates (a layout change, e.g. a decoder's NHWC to NCHW).
template <typename To, int V>
MIX_HD void normalize_vector(const MixArgs& a, const NormWork<To>& w, int64_t v) {
    const uint32_t q = (uint32_t)(v * V);
    Coord p = coord_of(q, w.out);
    Vec<To, V> oi, oj;
    if (V == 1) {
        const uint32_t at = offset_of(p, w.in);
        const float xi = Elem<uint8_t>::load(w.src_i[at]), xj = Elem<uint8_t>::load(w.src_j[at]);
        oi.v[0] = Elem<To>::store(normalize(mixed_value(w.si, xi, xj, in_box(w.si, p)), a.scale[p.c], a.shift[p.c]));
        oj.v[0] = Elem<To>::store(normalize(mixed_value(w.sj, xj, xi, in_box(w.sj, p)), a.scale[p.c], a.shift[p.c]));
    } else {
        const Vec<uint8_t, V> xi = reinterpret_cast<const Vec<uint8_t, V>*>(w.src_i)[v];
        const Vec<uint8_t, V> xj = reinterpret_cast<const Vec<uint8_t, V>*>(w.src_j)[v];
        const uint64_t box_i = box_lanes<V>(w.si, p, w.in), box_j = box_lanes<V>(w.sj, p, w.in);
        // The lanes' channel constants first (one channel for all lanes, or walked lane by lane), so the
        // arithmetic below is the same for every lane and vectorises.
        float scale[V], shift[V];
        const uint32_t plane = (uint32_t)w.out.height * w.out.width;
        const bool one_channel = !w.out.channels_last && q % plane + V <= plane;
        MIX_UNROLL
        for (int l = 0; l < V; ++l) {
            scale[l] = a.scale[p.c];
            shift[l] = a.shift[p.c];
            if (!one_channel) step(p, w.out);
        }
        MIX_UNROLL
        for (int l = 0; l < V; ++l) norm_lane<To, V>(w, xi, xj, box_i, box_j, l, scale[l], shift[l], oi, oj);
    }
    reinterpret_cast<Vec<To, V>*>(w.dst_i)[v] = oi;
    if (!w.self_paired) reinterpret_cast<Vec<To, V>*>(w.dst_j)[v] = oj;
}

// ---- The passes a grid can run: what a thread of the image range does for pair k at vector v. ----

// The mix itself: T in, T out, in place or not.
template <typename T, int V>
struct MixPass {
    typedef PairWork<T, V> Work;
    static MIX_HD Work work(const MixArgs& a, int64_t k) { return pair_work<T, V>(a, k); }
    static MIX_HD void vector(const MixArgs&, const Work& w, int64_t v) { mix_vector<T, V>(w, v); }
};

// The normalising pass: uint8 in, To out.
template <typename To, int V>
struct NormPass {
    typedef NormWork<To> Work;
    static MIX_HD Work work(const MixArgs& a, int64_t k) { return norm_work<To>(a, k); }
    static MIX_HD void vector(const MixArgs& a, const Work& w, int64_t v) { normalize_vector<To, V>(a, w, v); }
};

}  // namespace mixcut
