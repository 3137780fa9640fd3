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
__device__ __forceinline__ float round_half_even(float v) { return rintf(v); }
__device__ __forceinline__ void flag_error(int32_t* flag, int32_t code) { atomicExch(flag, code); }
}  // namespace mixcut
#else
#include "host_shim.h"
#define MIX_HD inline
#define MIX_UNROLL _Pragma("GCC unroll 16")
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
    int32_t* error;           // set to 1 when a class index is outside [0, C)
    int64_t sample_stride;    // elements between consecutive samples
    int64_t vecs_per_sample;  // sample elements / vector width
    int32_t n;                // batch size
    int32_t pair_begin;       // first pair of this launch
    int32_t pair_count;       // pairs in this launch
    int32_t num_classes;
    int32_t channels, height, width;  // CutMix geometry: [C, H, W] (rank 3: H = 1)
    int32_t channels_last;            // 1: samples stored [H, W, C]
    int32_t in_place;                 // 1: dst == src, write only what changes
    int32_t write_targets;            // 1: this launch also writes the targets
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
template <>
struct Elem<uint8_t> {
    static MIX_HD float load(uint8_t v) { return (float)v; }
    static MIX_HD uint8_t store(float f) {  // round half to even (np.rint, torch.round), then saturate
        const float r = round_half_even(f);
        return (uint8_t)(r < 0.f ? 0.f : (r > 255.f ? 255.f : r));
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

// V consecutive elements, loaded and stored as one 16-byte access when V·sizeof(T) == 16.
template <typename T, int V>
struct alignas(V * sizeof(T) == 16 ? 16 : alignof(T)) Vec {
    T v[V];
};

// Coordinates of an element inside its sample: channel, row, column.
struct Coord {
    uint32_t c, y, x;
};

MIX_HD Coord coord_of(uint32_t pos, const MixArgs& a) {
    Coord p;
    if (a.channels_last) {
        p.c = pos % a.channels;
        const uint32_t hw = pos / a.channels;
        p.x = hw % a.width;
        p.y = hw / a.width;
    } else {
        p.x = pos % a.width;
        const uint32_t rows = pos / a.width;
        p.y = rows % a.height;
        p.c = rows / a.height;
    }
    return p;
}

// The coordinates of the next element in memory order.
MIX_HD void advance(Coord& p, const MixArgs& a) {
    if (a.channels_last) {
        if (++p.c == (uint32_t)a.channels) {
            p.c = 0;
            if (++p.x == (uint32_t)a.width) p.x = 0, ++p.y;
        }
    } else if (++p.x == (uint32_t)a.width) {
        p.x = 0;
        if (++p.y == (uint32_t)a.height) p.y = 0, ++p.c;
    }
}

// Bit l set when lane l of the V elements starting at `pos` lies inside `s`'s CutMix box.
template <int V>
MIX_HD uint32_t box_lanes(const MixSample& s, uint32_t pos, const MixArgs& a) {
    if (s.op != OP_CUTMIX) return 0;
    Coord p = coord_of(pos, a);
    uint32_t mask = 0;
MIX_UNROLL
    for (int l = 0; l < V; ++l) {
        const bool inside = (int32_t)p.y >= s.y0 && (int32_t)p.y < s.y1 && (int32_t)p.x >= s.x0 && (int32_t)p.x < s.x1;
        mask |= (uint32_t)inside << l;
        advance(p, a);
    }
    return mask;
}

// One sample's output lanes from its own and its partner's input lanes (`box`: from box_lanes).
template <typename T, int V>
MIX_HD Vec<T, V> mix_lanes(const MixSample& s, const Vec<T, V>& own, const Vec<T, V>& other, uint32_t box) {
    Vec<T, V> out;
    if (s.op == OP_MIXUP) {
MIX_UNROLL
        for (int l = 0; l < V; ++l)
            out.v[l] = Elem<T>::store(blend(Elem<T>::load(own.v[l]), Elem<T>::load(other.v[l]), s.w_self, s.w_other));
    } else {
MIX_UNROLL
        for (int l = 0; l < V; ++l) out.v[l] = (box >> l) & 1u ? other.v[l] : own.v[l];
    }
    return out;
}

// The image work of one thread: pair k of this launch, vector v of the sample. In place, a sample is
// written only where its operation changes it, and nothing is read where neither sample changes.
template <typename T, int V>
MIX_HD void mix_pair_vector(const MixArgs& a, int64_t k, int64_t v) {
    const MixSample& si = a.first[k];
    const MixSample& sj = a.second[k];
    const int64_t i = a.pair_begin + k, j = a.n - 1 - i;
    const uint32_t pos = (uint32_t)(v * V);
    const uint32_t box_i = box_lanes<V>(si, pos, a), box_j = box_lanes<V>(sj, pos, a);
    const bool write_i = !a.in_place || si.op == OP_MIXUP || box_i != 0;
    const bool write_j = i != j && (!a.in_place || sj.op == OP_MIXUP || box_j != 0);
    if (!write_i && !write_j) return;
    const Vec<T, V>* src = reinterpret_cast<const Vec<T, V>*>(static_cast<const T*>(a.src) + pos);
    Vec<T, V>* dst = reinterpret_cast<Vec<T, V>*>(static_cast<T*>(a.dst) + pos);
    const int64_t vi = i * (a.sample_stride / V), vj = j * (a.sample_stride / V);  // 64-bit offsets
    const Vec<T, V> xi = src[vi];
    const Vec<T, V> xj = src[vj];
    if (write_i) dst[vi] = mix_lanes<T, V>(si, xi, xj, box_i);
    if (write_j) dst[vj] = mix_lanes<T, V>(sj, xj, xi, box_j);
}

// Target value of class c for a sample whose label row is described by (index, soft row).
MIX_HD float label_value(const MixArgs& a, int64_t sample, int32_t c) {
    if (a.soft) return a.soft[sample * a.num_classes + c];
    const int64_t label = a.labels[sample];
    if (label < 0 || label >= a.num_classes) {
        if (c == 0) flag_error(a.error, 1);
        return 0.f;
    }
    return label == c ? a.on : a.off;
}

MIX_HD float target_value(const MixSample& s, float own, float other) {
    return s.op == OP_KEEP ? own : blend(own, other, s.w_self, s.w_other);
}

// The target work of one thread: pair k of this launch, class c.
MIX_HD void mix_pair_targets(const MixArgs& a, int64_t k, int32_t c) {
    const int64_t i = a.pair_begin + k, j = a.n - 1 - i;
    const float yi = label_value(a, i, c), yj = label_value(a, j, c);
    a.targets[i * a.num_classes + c] = target_value(a.first[k], yi, yj);
    if (j != i) a.targets[j * a.num_classes + c] = target_value(a.second[k], yj, yi);
}

}  // namespace mixcut
