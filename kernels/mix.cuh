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
    int32_t pad;
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
// A blended u8 value before its conversion: saturated to [0, 255], then rounded half to even (np.rint,
// torch.round), so the conversion to an integer is exact. F is float, or a host SIMD vector of floats.
template <typename F>
MIX_HD F byte_value(F f) {
    F c = f > 0.f ? f : 0.f;  // (NaN cannot occur: u8 inputs and finite weights)
    c = c < 255.f ? c : 255.f;
    return round_byte(c);
}
template <>
struct Elem<uint8_t> {
    static MIX_HD float load(uint8_t v) { return (float)v; }
    static MIX_HD uint8_t store(float f) { return (uint8_t)(int32_t)byte_value(f); }
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
// round the same way, so the two agree bit for bit. F is float, or a host SIMD vector of floats (lane-wise
// the same operations).
template <typename F>
MIX_HD F blend_rn(F a, F b, float wa, float wb) {
#if defined(__CUDA_ARCH__)
    return __fadd_rn(__fmul_rn(a, wa), __fmul_rn(b, wb));
#else
    return a * wa + b * wb;  // host.cpp is built with -ffp-contract=off
#endif
}

// blend_rn as stored. On the host, which NaN the sum of two NaNs returns depends on the operand order the
// compiler picked, which differs between the instruction-set builds: every NaN result becomes the one
// quiet NaN, so all builds give the same bits.
template <typename F>
MIX_HD F blend(F a, F b, float wa, float wb) {
#if defined(__CUDA_ARCH__)
    return blend_rn(a, b, wa, wb);
#else
    return quiet_nan(blend_rn(a, b, wa, wb));
#endif
}

// V consecutive elements: one 16-byte access on the GPU (V·sizeof(T) == 16); the host build also uses
// 64-byte groups, which its SIMD forms below (host_simd.h) process a register at a time.
template <typename T, int V>
struct alignas(V * sizeof(T) >= 16 ? 16 : alignof(T)) Vec {
    T v[V];
};

// One vector's lanes between reading and writing them: here the vector itself (on the GPU one 16-byte
// register); host_simd.h holds the host's 64-byte vectors in SIMD registers instead.
template <typename T, int V>
struct Lanes {
    Vec<T, V> x;
    static MIX_HD Lanes read(const Vec<T, V>& from) {
        Lanes l;
        l.x = from;
        return l;
    }
    MIX_HD void write(Vec<T, V>& to) const { to = x; }
};

// Mixup of V lanes: `out` = Elem<T>::store(blend(own, other)) lane by lane, converting through float. This
// form goes lane by lane (the GPU, the host's baseline build); host_simd.h specialises it per host
// instruction set (AVX2 + F16C, AVX-512), a register of lanes at a time with the same results.
template <typename T, int V>
struct Blend {
    static MIX_HD void run(Lanes<T, V>& out, const Lanes<T, V>& own, const Lanes<T, V>& other, float w_own, float w_other) {
        MIX_UNROLL
        for (int l = 0; l < V; ++l)
            out.x.v[l] = Elem<T>::store(blend(Elem<T>::load(own.x.v[l]), Elem<T>::load(other.x.v[l]), w_own, w_other));
    }
    // Both samples of a pair: `out_a` from (a, b) with weights (wa, wb), `out_b` from (b, a) with (va, vb).
    static MIX_HD void run_pair(Lanes<T, V>& out_a, Lanes<T, V>& out_b, const Lanes<T, V>& a, const Lanes<T, V>& b, float wa,
                                float wb, float va, float vb) {
        run(out_a, a, b, wa, wb);
        run(out_b, b, a, va, vb);
    }
};

// `out` lane l = `other` lane l where bit l of `box` is set, else `own` lane l (host_simd.h: mask blends).
template <typename T, int V>
struct Select {
    static MIX_HD void run(Lanes<T, V>& out, const Lanes<T, V>& own, const Lanes<T, V>& other, uint64_t box) {
        MIX_UNROLL
        for (int l = 0; l < V; ++l) out.x.v[l] = (box >> l) & 1ull ? other.x.v[l] : own.x.v[l];
    }
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

// Where element (c, y, x) of a sample lies: the inverse of coord_of. Channels-last, (0, y, x) begins the
// pixel's run of channels, so [element_offset(0, y, x0), element_offset(0, y, x1)) covers columns x0..x1
// of row y in every channel; in NCHW the same range with channel c covers them in that channel.
MIX_HD int64_t element_offset(int32_t c, int32_t y, int32_t x, const Geometry& g) {
    return g.channels_last ? ((int64_t)y * g.width + x) * g.channels + c : ((int64_t)c * g.height + y) * g.width + x;
}

// Lanes [from, to) as a bit mask.
MIX_HD uint64_t lane_bits(int32_t from, int32_t to) {
    return (to >= 64 ? ~0ull : (1ull << to) - 1ull) & ~((1ull << from) - 1ull);
}

// The lanes of V elements from `start` that fall in the run [b, e) (element positions; b may lie before
// `start` or e beyond its lanes).
template <int V>
MIX_HD uint64_t run_lanes(int64_t start, int64_t b, int64_t e) {
    const int64_t lo = b - start > 0 ? b - start : 0, hi = e - start < V ? e - start : V;
    return lo < hi ? lane_bits((int32_t)lo, (int32_t)hi) : 0;
}

// Bit l set when lane l (V <= 64) of the V elements starting at coordinates `p` lies inside `s`'s CutMix
// box. Walks the lanes in runs that share a row: a row holds `inner` lanes per column (channels-last: the
// pixel's channels; NCHW: 1), so a few steps, not V.
template <int V>
MIX_HD uint64_t box_lanes(const MixSample& s, Coord p, const Geometry& g) {
    if (s.op != OP_CUTMIX) return 0;
    uint64_t mask = 0;
    const int32_t inner = g.channels_last ? g.channels : 1;
    int32_t x = (int32_t)p.x, y = (int32_t)p.y, c = g.channels_last ? (int32_t)p.c : 0;
    for (int32_t l = 0; l < V;) {  // lanes [l, l + run) are columns x, x + 1, ... of row y from channel c on
        const int32_t left = (g.width - x) * inner - c;
        const int32_t run = V - l < left ? V - l : left;
        if (y >= s.y0 && y < s.y1) {
            const int32_t from = (s.x0 - x) * inner - c, to = (s.x1 - x) * inner - c;
            const int32_t lo = from > 0 ? from : 0, hi = to < run ? to : run;
            if (lo < hi) mask |= lane_bits(l + lo, l + hi);
        }
        l += run;
        x = 0;
        c = 0;
        if (++y == g.height) y = 0;  // NCHW: the next channel's first row
    }
    return mask;
}

// One sample's output lanes from its own and its partner's input lanes (`box`: from box_lanes).
template <typename T, int V>
MIX_HD Lanes<T, V> mix_lanes(const MixSample& s, const Lanes<T, V>& own, const Lanes<T, V>& other, uint64_t box) {
    Lanes<T, V> out;
    if (s.op == OP_MIXUP) {
        Blend<T, V>::run(out, own, other, s.w_self, s.w_other);
    } else {
        const uint64_t all = V >= 64 ? ~0ull : (1ull << V) - 1ull;
        if (box == 0) return own;  // outside the box (or kept)
        if (box == all) return other;  // wholly inside the box
        Select<T, V>::run(out, own, other, box);
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

// Vector v of a pair with the CutMix lanes of each sample given (`box_i`, `box_j`: bit l set where lane l
// takes the partner's value; 0 for Mixup and kept samples). In place, a sample is written only where its
// operation changes it, and nothing is read where neither sample changes.
template <typename T, int V>
MIX_HD void mix_vector_masked(const PairWork<T, V>& w, int64_t v, uint64_t box_i, uint64_t box_j) {
    const bool write_i = !w.in_place || w.si.op == OP_MIXUP || box_i != 0;
    const bool write_j = !w.self_paired && (!w.in_place || w.sj.op == OP_MIXUP || box_j != 0);
    if (!write_i && !write_j) return;
    const Lanes<T, V> xi = Lanes<T, V>::read(w.src_i[v]);
    const Lanes<T, V> xj = Lanes<T, V>::read(w.src_j[v]);
    if (w.si.op == OP_MIXUP && w.sj.op == OP_MIXUP && write_j) {  // both blends from the same inputs
        Lanes<T, V> oi, oj;
        Blend<T, V>::run_pair(oi, oj, xi, xj, w.si.w_self, w.si.w_other, w.sj.w_self, w.sj.w_other);
        oi.write(w.dst_i[v]);
        oj.write(w.dst_j[v]);
        return;
    }
    if (write_i) mix_lanes<T, V>(w.si, xi, xj, box_i).write(w.dst_i[v]);
    if (write_j) mix_lanes<T, V>(w.sj, xj, xi, box_j).write(w.dst_j[v]);
}

// The image work of one thread: vector v of its pair, whose first element sits at coordinates `p` (read
// only when a sample of the pair is CutMix).
template <typename T, int V>
MIX_HD void mix_vector_at(const PairWork<T, V>& w, int64_t v, Coord p) {
    uint64_t box_i = 0, box_j = 0;
    if (w.si.op == OP_CUTMIX || w.sj.op == OP_CUTMIX) {
        box_i = box_lanes<V>(w.si, p, w.g);
        box_j = box_lanes<V>(w.sj, p, w.g);
    }
    mix_vector_masked<T, V>(w, v, box_i, box_j);
}

// mix_vector_at with the coordinates computed from the vector's index.
template <typename T, int V>
MIX_HD void mix_vector(const PairWork<T, V>& w, int64_t v) {
    Coord p = {0, 0, 0};
    if (w.si.op == OP_CUTMIX || w.sj.op == OP_CUTMIX) p = coord_of((uint32_t)(v * V), w.g);
    mix_vector_at<T, V>(w, v, p);
}

// A sample's label row: its soft targets, or its class index with the one-hot values (both 0 for an index
// outside [0, C), which `flag` reports).
struct LabelRow {
    const float* soft;
    int32_t label;
    float on, off;
};

MIX_HD LabelRow label_row(const MixArgs& a, int64_t sample, bool flag) {
    LabelRow r = {nullptr, -1, 0.f, 0.f};
    if (a.soft) {
        r.soft = a.soft + sample * a.num_classes;
        return r;
    }
    const int64_t label = a.labels[sample];
    if (label < 0 || label >= a.num_classes) {
        if (flag) flag_error(a.error, a.error_token);
        return r;
    }
    r.label = (int32_t)label;
    r.on = a.on;
    r.off = a.off;
    return r;
}

// Target value of class c in a label row (SOFT: whether the rows are soft targets).
template <bool SOFT>
MIX_HD float label_value(const LabelRow& r, int32_t c) {
    return SOFT ? r.soft[c] : (r.label == c ? r.on : r.off);
}

MIX_HD float target_value(const MixSample& s, float own, float other) {
    return s.op == OP_KEEP ? own : blend(own, other, s.w_self, s.w_other);
}

// The target rows of pair k of a launch, read once; `write(c)` is the work of one (pair, class) thread.
// `flag`: this thread reports an out-of-range class index (one per pair does).
struct PairTargets {
    MixSample si, sj;
    LabelRow ri, rj;
    float* ti;
    float* tj;  // null for a self-paired sample
    bool soft;
    // write(c) for rows known to be soft targets (SOFT) or not and a partner known to exist (PAIR) or not.
    template <bool SOFT, bool PAIR>
    MIX_HD void write_as(int32_t c) const {
        const float yi = label_value<SOFT>(ri, c), yj = label_value<SOFT>(rj, c);
        ti[c] = target_value(si, yi, yj);
        if (PAIR) tj[c] = target_value(sj, yj, yi);
    }
    MIX_HD void write(int32_t c) const {
        if (soft)
            tj ? write_as<true, true>(c) : write_as<true, false>(c);
        else
            tj ? write_as<false, true>(c) : write_as<false, false>(c);
    }
};

MIX_HD PairTargets pair_targets(const MixArgs& a, int64_t k, bool flag) {
    const int64_t i = a.pair_begin + k, j = a.n - 1 - i;
    PairTargets t;
    t.si = a.first[k];
    t.sj = a.second[k];
    t.ri = label_row(a, i, flag);
    t.rj = label_row(a, j, flag);
    t.ti = a.targets + i * a.num_classes;
    t.tj = j != i ? a.targets + j * a.num_classes : nullptr;
    t.soft = a.soft != nullptr;
    return t;
}

}  // namespace mixcut
