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
#if defined(__SSE2__)
#include <emmintrin.h>  // baseline x86-64: mask_lanes reads 16 mask bytes at once
#endif
#endif

namespace mixcut {

// ---- Parameters: mirrored by src/exec/kernel_args.rs (#[repr(C)]); sizes are checked by a test. ----

// A sample's operation: the twin of `Op` in src/job/params.rs (values and predicates checked against it by
// a test). Code asks the predicates below, never "not Mixup, so a box"; each is a switch with no default,
// and host.cpp is built with -Werror=switch, so a new operation does not compile until every predicate
// says what it does. (Past the switch is unreachable, which keeps the compiled comparisons as tight as a
// plain `op == Op::Mixup`.)
enum class Op : int32_t { Keep = 0, Mixup = 1, CutMix = 2, ResizeMix = 3, FMix = 4 };
#define MIX_OP_COUNT 5

// Whether the sample's pixels become a weighted sum of its own and its partner's.
MIX_HD constexpr bool blends(Op op) {
    switch (op) {
        case Op::Keep:
        case Op::CutMix:
        case Op::ResizeMix:
        case Op::FMix: return false;
        case Op::Mixup: return true;
    }
    __builtin_unreachable();  // a valid Op is one of the cases
}

// Whether the sample takes pasted pixels inside a rectangle, its box (and only there).
MIX_HD constexpr bool has_box(Op op) {
    switch (op) {
        case Op::Keep:
        case Op::Mixup:
        case Op::FMix: return false;
        case Op::CutMix:
        case Op::ResizeMix: return true;
    }
    __builtin_unreachable();  // a valid Op is one of the cases
}

// Whether the sample takes its partner's pixels where its paste mask (MixArgs::paste_mask) is set.
MIX_HD constexpr bool has_mask(Op op) {
    switch (op) {
        case Op::Keep:
        case Op::Mixup:
        case Op::CutMix:
        case Op::ResizeMix: return false;
        case Op::FMix: return true;
    }
    __builtin_unreachable();  // a valid Op is one of the cases
}

// Whether what is pasted is the partner's whole image resized to the box (nearest: box row y0 + r reads
// row ⌊r·H / (y1 − y0)⌋, columns likewise), rather than the partner's pixels at the same place.
MIX_HD constexpr bool resizes_partner(Op op) {
    switch (op) {
        case Op::Keep:
        case Op::Mixup:
        case Op::CutMix:
        case Op::FMix: return false;
        case Op::ResizeMix: return true;
    }
    __builtin_unreachable();  // a valid Op is one of the cases
}

// Whether, in place, nothing outside the sample's pasted region (box or mask) changes (no region: nothing
// changes).
MIX_HD constexpr bool changes_region_only(Op op) {
    switch (op) {
        case Op::Keep:
        case Op::CutMix:
        case Op::ResizeMix:
        case Op::FMix: return true;
        case Op::Mixup: return false;
    }
    __builtin_unreachable();  // a valid Op is one of the cases
}

// Whether the sample's target mixes its partner's label in.
MIX_HD constexpr bool mixes_labels(Op op) {
    switch (op) {
        case Op::Keep: return false;
        case Op::Mixup:
        case Op::CutMix:
        case Op::ResizeMix:
        case Op::FMix: return true;
    }
    __builtin_unreachable();  // a valid Op is one of the cases
}

// Whether the sample takes pasted values anywhere (a box or a mask).
MIX_HD constexpr bool pastes(Op op) { return has_box(op) || has_mask(op); }

// Whether, in place, the sample's change is its partner's rows of the box at the same place: host.cpp then
// swaps or copies whole row runs (run_boxes).
MIX_HD constexpr bool copies_box_rows(Op op) {
    return changes_region_only(op) && !has_mask(op) && !resizes_partner(op);
}

// Division by a divisor fixed for a launch as a multiply and a shift: floor(n / d) == (n · mul) >> shift
// for every 0 <= n < 2^31 (Granlund and Montgomery's round-up method; the pair is built by
// src/exec/kernel_args.rs). The coordinates of an element need two divisions, which on the GPU are
// about twenty instructions each (a reciprocal and two conversions among them).
struct FastDiv {
    uint32_t mul, shift;
};

// One sample's operation. Weights are λ and 1-λ as f32 (the reference executor uses the same numbers).
struct MixSample {
    Op op;
    float w_self, w_other;
    int32_t y0, y1, x0, x1;  // CutMix box, half-open, in the last two image dims
    int32_t pad;
};

// Pairs per launch: the per-sample parameters travel inside the kernel arguments (no device buffer,
// no copy), which CUDA >= 12.1 allows past 4 KB. The driver copies the whole block at every launch, so it
// holds a batch of 256 samples (9 KB), not the 32764 bytes CUDA allows; larger batches take more launches.
#define MIX_MAX_PAIRS 128
// Channels the normalising pass takes (its per-channel constants travel in the arguments too), and the
// length of their periodic tables: entry k holds channel k mod C's constant, so the channels-last lanes
// [c, c + V) of a vector (V <= 64) whose first lane is channel c read one contiguous stretch.
#define MIX_MAX_CHANNELS 16
#define MIX_NORM_TABLE (MIX_MAX_CHANNELS + 64)
// The channels the normalising pass's pixel vectors are built for (normalize_pixels): a decoder's RGB;
// and the pixels of one such vector in the CUDA kernels (the host takes 64 or 16).
#define MIX_PIXEL_CHANNELS 3
#define MIX_PIXEL_LANES 4

// How a launch's threads cover a sample: the twin of `Form` in src/exec/kernel_args.rs, which chooses it
// once for both executors (the CUDA launcher picks its kernel by it; host.cpp switches on it).
enum class Form : int32_t {
    Elements = 0,             // one element a thread
    Vectors = 1,              // vectors of consecutive elements, in the input's memory order
    VectorsChannelsLast = 2,  // the normalising pass's vectors into channels-last output
    Pixels = 3,               // the normalising pass's pixel vectors into planes (normalize_pixels)
    PixelsChannelsLast = 4,   // the normalising pass's pixel vectors from planes (normalize_planes)
    VectorsFromPlanes = 5,    // the normalising pass's vectors into channels-last output gathered from planes (host)
};

struct MixArgs {
    const void* src;          // images in: [N, ...], dense per sample
    void* dst;                // images out (== src in place)
    const int64_t* labels;    // class indices [N], or null
    const float* soft;        // soft targets [N, C] float32 contiguous, or null
    float* targets;           // out: [N, C] float32 contiguous
    int32_t* error;           // receives error_token when a class index is outside [0, C)
    // Class masks pasted in the same pass as the images (CutMix only; segmentation), as their bytes:
    // [N, H, W · mask_bytes] per sample, contiguous; mask_bytes 0: none.
    const uint8_t* mask_src;
    uint8_t* mask_dst;        // == mask_src in place
    // FMix's paste masks, [N, H, W] bytes (1: the partner's pixel), or null when no sample has a mask.
    const uint8_t* paste_mask;
    int64_t mask_vecs;        // mask vectors per sample (of mask_vector bytes)
    int32_t mask_bytes;       // bytes of one mask element (8: int64, 1: uint8)
    int32_t mask_vector;      // 16 (16-byte vectors) or 1
    int32_t mask_blocks;      // CUDA: x-blocks per pair for the mask, between the images' and the targets'
    // Lanes of a sample past its last whole vector (elements; pixels for the pixel forms), which the host
    // takes in 16-byte vectors and single elements. Always 0 for CUDA: its forms need whole vectors.
    int32_t tail;
    int64_t sample_stride;    // elements between consecutive samples
    int64_t vecs_per_sample;  // whole vectors a sample: elements / vector width (pixel vectors: H·W / width)
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
    Form form;                         // how threads cover a sample (chosen by the Rust side, once)
    // The normalising pass's divisors (coord_of<true>): channels, height, width.
    FastDiv by_channels, by_height, by_width;
    float scale[MIX_NORM_TABLE];       // 1 / (255 · std_c), rounded once to f32, at every k with k mod C == c
    float shift[MIX_NORM_TABLE];       // −mean_c / std_c, rounded once to f32, likewise
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

// V consecutive elements: one 16-byte access on the GPU (V·sizeof(T) == 16; the normalising pass also
// reads its uint8 input in 4- or 8-byte vectors, aligned to their size); the host build also uses 64-byte
// groups, which its SIMD forms below (host_simd.h) process a register at a time.
template <typename T, int V>
struct VecAlign {
#if defined(__CUDACC__)
    // 16 bytes at most; the vector's own size where that is a power of two.
    static constexpr size_t bytes = V * sizeof(T);
    static constexpr size_t value = bytes >= 16 ? 16 : (bytes & (bytes - 1)) == 0 ? bytes : alignof(T);
#else
    // The element's own: the host reads and writes vectors at any element (a sample that is not whole
    // vectors starts anywhere), which x86's unaligned loads and stores do at the aligned ones' cost.
    static constexpr size_t value = alignof(T);
#endif
};
template <typename T, int V>
struct alignas(VecAlign<T, V>::value) Vec {
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

// What the CutMix box test needs of the sample layout; for coord_of<true>, the divisions by its sizes.
struct Geometry {
    int32_t channels, height, width, channels_last;
    FastDiv by_channels, by_height, by_width;  // the launch's (image_geometry), or unset (masks)
};

// A launch's image samples, stored channels-last or not.
MIX_HD Geometry image_geometry(const MixArgs& a, int32_t channels_last) {
    return Geometry{a.channels, a.height, a.width, channels_last, a.by_channels, a.by_height, a.by_width};
}

// n / d: by the FastDiv `f` (FAST), or by the hardware's division.
template <bool FAST>
MIX_HD uint32_t quotient(uint32_t n, int32_t d, FastDiv f) {
    return FAST ? (uint32_t)(((uint64_t)n * f.mul) >> f.shift) : n / (uint32_t)d;
}

// Coordinates of an element inside its sample: channel, row, column.
struct Coord {
    uint32_t c, y, x;
};

// FAST: by the geometry's FastDivs, which the normalising pass uses (it needs the coordinates of every
// vector); the mix, which needs them only for CutMix, divides: the FastDivs' registers would cost its
// kernels occupancy (docs/performance.md).
template <bool FAST>
MIX_HD Coord coord_of(uint32_t pos, const Geometry& g) {
    Coord p;
    if (g.channels_last) {
        const uint32_t hw = quotient<FAST>(pos, g.channels, g.by_channels);
        p.c = pos - hw * (uint32_t)g.channels;
        p.y = quotient<FAST>(hw, g.width, g.by_width);
        p.x = hw - p.y * (uint32_t)g.width;
    } else {
        const uint32_t rows = quotient<FAST>(pos, g.width, g.by_width);
        p.x = pos - rows * (uint32_t)g.width;
        p.c = quotient<FAST>(rows, g.height, g.by_height);
        p.y = rows - p.c * (uint32_t)g.height;
    }
    return p;
}

// Where element (c, y, x) of a sample lies: the inverse of coord_of. Channels-last, (0, y, x) begins the
// pixel's run of channels, so [element_offset(0, y, x0), element_offset(0, y, x1)) covers columns x0..x1
// of row y in every channel; in NCHW the same range with channel c covers them in that channel.
MIX_HD int64_t element_offset(int32_t c, int32_t y, int32_t x, const Geometry& g) {
    return g.channels_last ? ((int64_t)y * g.width + x) * g.channels + c : ((int64_t)c * g.height + y) * g.width + x;
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

// Lanes [from, to) as a bit mask.
MIX_HD uint64_t lane_bits(int32_t from, int32_t to) {
    return (to >= 64 ? ~0ull : (1ull << to) - 1ull) & ~((1ull << from) - 1ull);
}

// Lanes [first, end) of a vector that lie in one row of a box: lane `first` at row y and column x,
// channel c of its pixel (channels-last; 0 for NCHW), in channel `plane` (NCHW; 0 for channels-last).
struct BoxRun {
    int32_t first, end;
    int32_t y, x, c, plane;
};

// Calls f(BoxRun) for each run of the V lanes starting at coordinates `p` that lies inside `s`'s box,
// walking the lanes in runs that share a row: a row holds `inner` lanes per column (channels-last: the
// pixel's channels; NCHW: 1), so a few steps, not V. The one walk of box_lanes and paste_resized, the hot
// CutMix and ResizeMix paths, so that the two agree on which lanes a box holds. Without PLACES, a run's
// x and c are left 0: they cost a division a run, which box_lanes, needing only the lanes, would pay.
template <int V, bool PLACES, typename F>
MIX_HD void for_box_runs(const MixSample& s, Coord p, const Geometry& g, F&& f) {
    const int32_t inner = g.channels_last ? g.channels : 1;
    int32_t x = (int32_t)p.x, y = (int32_t)p.y, c = g.channels_last ? (int32_t)p.c : 0;
    int32_t plane = g.channels_last ? 0 : (int32_t)p.c;
    for (int32_t l = 0; l < V;) {  // lanes [l, l + run) are columns x, x + 1, ... of row y from channel c on
        const int32_t left = (g.width - x) * inner - c;
        const int32_t run = V - l < left ? V - l : left;
        if (y >= s.y0 && y < s.y1) {
            const int32_t from = (s.x0 - x) * inner - c, to = (s.x1 - x) * inner - c;
            const int32_t lo = from > 0 ? from : 0, hi = to < run ? to : run;
            if (lo < hi) {
                const int32_t at = c + lo;  // lane l + lo's place in row y, counted in lanes from column x
                f(BoxRun{l + lo, l + hi, y, PLACES ? x + at / inner : 0, PLACES ? at % inner : 0, plane});
            }
        }
        l += run;
        x = 0;
        c = 0;
        if (++y == g.height) y = 0, ++plane;  // NCHW: the next channel's first row
    }
}

// Bit l set when lane l (V <= 64) of the V elements starting at coordinates `p` lies inside `s`'s CutMix
// box.
template <int V>
MIX_HD uint64_t box_lanes(const MixSample& s, Coord p, const Geometry& g) {
    if (!has_box(s.op)) return 0;
    uint64_t mask = 0;
    for_box_runs<V, false>(s, p, g, [&](const BoxRun& r) { mask |= lane_bits(r.first, r.end); });
    return mask;
}

// Bit l set when lane l (V <= 64) of the V elements starting at `p` lies where the sample's paste mask (its
// H·W bytes) is set; every channel of a pixel shares its byte.
template <int V>
MIX_HD uint64_t mask_lanes(Coord p, const Geometry& g, const uint8_t* mask) {
    uint64_t bits = 0;
#if defined(__CUDA_ARCH__)
    // A lane at a time: a thread's vector has at most 16 lanes, and the host's run walk below takes the
    // `_ext` kernels more registers (a spill on sm_75's u8 kernel).
    MIX_UNROLL
    for (int l = 0; l < V; ++l) {
        if (mask[(int64_t)p.y * g.width + p.x]) bits |= 1ull << l;
        step(p, g);
    }
#else
    // In runs along a row, as in for_box_runs, each pixel's byte read once and without a branch on it (in
    // NCHW 16 bytes at a time): a u8 vector has 64 lanes here, and a branch per lane on the mask's bytes
    // costs more than the pass's own work. A vector lies within one sample, so the walk wraps from the
    // last row to the first only in NCHW (the next channel's plane).
    const int32_t inner = g.channels_last ? g.channels : 1;
    int32_t x = (int32_t)p.x, y = (int32_t)p.y, c = g.channels_last ? (int32_t)p.c : 0;
    for (int32_t l = 0; l < V;) {  // lanes [l, end) are columns x, x + 1, ... of row y from channel c on
        const uint8_t* row = mask + (int64_t)y * g.width;
        const int32_t left = (g.width - x) * inner - c;
        const int32_t end = V - l < left ? V : l + left;
        if (inner == 1) {
#if !defined(__CUDACC__) && defined(__SSE2__)
            for (; end - l >= 16; l += 16, x += 16) {
                const __m128i bytes = _mm_loadu_si128(reinterpret_cast<const __m128i*>(row + x));
                const uint32_t zero = (uint32_t)_mm_movemask_epi8(_mm_cmpeq_epi8(bytes, _mm_setzero_si128()));
                bits |= (uint64_t)(~zero & 0xffffu) << l;
            }
#endif
            for (; l < end; ++l, ++x) bits |= (uint64_t)(row[x] != 0) << l;
        } else {
            for (; l < end; ++x, c = 0) {  // the lanes of pixel x: its channels from c on
                const int32_t next = end - l < inner - c ? end : l + inner - c;
                bits |= (0ull - (uint64_t)(row[x] != 0)) & lane_bits(l, next);
                l = next;
            }
        }
        x = 0, c = 0;
        if (++y == g.height) y = 0;
    }
#endif
    return bits;
}

// EXT: the code takes the extended operations, those that paste by a mask or resize their partner
// (FMix, ResizeMix). The CUDA kernels are built with and without them (the `_ext` kernels), so that
// CutMix and Mixup keep the registers of their own code; the Rust launcher picks `_ext` for a plan that
// holds them. The host build always takes them.

// Bit l set when lane l of the V elements starting at `p` takes a pasted value: inside the sample's box,
// or (EXT) where its paste mask is set (`mask`: the sample's, null when the launch has none).
template <int V, bool EXT>
MIX_HD uint64_t paste_lanes(const MixSample& s, Coord p, const Geometry& g, const uint8_t* mask) {
    if (has_box(s.op)) return box_lanes<V>(s, p, g);
    if (EXT && has_mask(s.op)) return mask_lanes<V>(p, g, mask);
    return 0;
}

// Whether the element at `p` takes a pasted value (paste_lanes for one element).
template <bool EXT>
MIX_HD bool pasted_at(const MixSample& s, Coord p, const Geometry& g, const uint8_t* mask) {
    if (has_box(s.op)) return (int32_t)p.y >= s.y0 && (int32_t)p.y < s.y1 && (int32_t)p.x >= s.x0 && (int32_t)p.x < s.x1;
    if (EXT && has_mask(s.op)) return mask[(int64_t)p.y * g.width + p.x] != 0;
    return false;
}

// ⌊q·size / span⌋ for 0 <= q < span <= size, the resized place of the box's q-th row or column. Divided in
// 32 bits when the product fits (every side under 65536 does), which costs a fraction of a 64-bit division
// (on the GPU that is a routine of tens of instructions); the same numbers either way.
MIX_HD int32_t scaled_quotient(int32_t q, int32_t size, int32_t span) {
    const uint64_t n = (uint64_t)q * (uint32_t)size;
    return (int32_t)(n >> 32 == 0 ? (uint32_t)n / (uint32_t)span : n / (uint32_t)span);
}

// The partner's row and column that a ResizeMix box shows at row y and column x: the partner's whole
// image resized to the box by nearest neighbour, row y0 + r reading row ⌊r·H / (y1 − y0)⌋ and column
// x0 + q column ⌊q·W / (x1 − x0)⌋ (exact integer arithmetic, as the reference executor).
MIX_HD int32_t resized_row(const MixSample& s, int32_t y, const Geometry& g) {
    return scaled_quotient(y - s.y0, g.height, s.y1 - s.y0);
}
MIX_HD int32_t resized_column(const MixSample& s, int32_t x, const Geometry& g) {
    return scaled_quotient(x - s.x0, g.width, s.x1 - s.x0);
}

// Where, in `g`'s layout, the partner's element that a ResizeMix box shows at (c, y, x) lies.
MIX_HD int64_t resized_offset(const MixSample& s, Coord p, const Geometry& g) {
    return element_offset((int32_t)p.c, resized_row(s, (int32_t)p.y, g), resized_column(s, (int32_t)p.x, g), g);
}

// The resized columns along a row of a ResizeMix box: ⌊q·W / (x1 − x0)⌋ for q = k, k + 1, ... from one
// division, then a step of W / (x1 − x0) with its remainder a column, so a column costs no division (a
// division costs tens of cycles on the host and tens of instructions on the GPU, an element's copy a
// few). The same numbers as resized_column, exactly.
struct ColumnWalk {
    int32_t src_x, rem;           // the column's source column and ((x − x0)·W) mod (x1 − x0)
    int32_t width, step, step_rem;  // x1 − x0, W / width and W mod width
};

// The walk from column x of `s`'s box.
MIX_HD ColumnWalk column_walk(const MixSample& s, int32_t x, const Geometry& g) {
    const int32_t width = s.x1 - s.x0, src_x = resized_column(s, x, g);
    // (x − x0)·W − src_x·width, which is below width: exact in 32-bit unsigned arithmetic, which wraps.
    const uint32_t rem = (uint32_t)(x - s.x0) * (uint32_t)g.width - (uint32_t)src_x * (uint32_t)width;
    return ColumnWalk{src_x, (int32_t)rem, width, g.width / width, g.width % width};
}

// The walk's next column: ⌊(n + W) / width⌋ from n's quotient and remainder.
MIX_HD void next_column(ColumnWalk& k) {
    k.src_x += k.step;
    k.rem += k.step_rem;
    if (k.rem >= k.width) k.rem -= k.width, ++k.src_x;
}

// One sample's output lanes from its own and its partner's input lanes (`box`: from paste_lanes).
template <typename T, int V>
MIX_HD Lanes<T, V> mix_lanes(const MixSample& s, const Lanes<T, V>& own, const Lanes<T, V>& other, uint64_t box) {
    Lanes<T, V> out;
    if (blends(s.op)) {
        Blend<T, V>::run(out, own, other, s.w_self, s.w_other);
    } else {  // the pasted lanes, if the operation pastes (paste_lanes: 0 otherwise)
        const uint64_t all = V >= 64 ? ~0ull : (1ull << V) - 1ull;
        if (box == 0) return own;  // outside the box (or no box)
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
    const uint8_t* paste_i;  // the samples' paste masks (FMix), or null
    const uint8_t* paste_j;
    Geometry g;
    bool self_paired, in_place;
};

// Sample `sample`'s paste mask, or null when the launch has none.
MIX_HD const uint8_t* paste_mask_of(const MixArgs& a, int64_t sample) {
    return a.paste_mask ? a.paste_mask + sample * a.height * a.width : nullptr;
}

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
    w.paste_i = paste_mask_of(a, i);
    w.paste_j = paste_mask_of(a, j);
    w.g = image_geometry(a, a.channels_last);
    w.self_paired = i == j;
    w.in_place = a.in_place != 0;
    return w;
}

// Pair k's class masks as a byte image: one channel, rows of W · mask_bytes bytes, each box's columns
// scaled by mask_bytes so an element's bytes move together. The samples' ops are the images' (CutMix or
// kept: src/mixer/segmentation.rs sends class masks of plans with other operations to a launch of their
// own, as channels-last images whose channels are an element's bytes).
template <int V>
MIX_HD PairWork<uint8_t, V> mask_work(const MixArgs& a, int64_t k) {
    PairWork<uint8_t, V> w;
    w.si = a.first[k];
    w.sj = a.second[k];
    w.si.x0 *= a.mask_bytes, w.si.x1 *= a.mask_bytes, w.sj.x0 *= a.mask_bytes, w.sj.x1 *= a.mask_bytes;
    const int64_t i = a.pair_begin + k, j = a.n - 1 - i;
    const int64_t per_sample = (int64_t)a.height * a.width * a.mask_bytes;
    w.src_i = reinterpret_cast<const Vec<uint8_t, V>*>(a.mask_src + i * per_sample);
    w.src_j = reinterpret_cast<const Vec<uint8_t, V>*>(a.mask_src + j * per_sample);
    w.dst_i = reinterpret_cast<Vec<uint8_t, V>*>(a.mask_dst + i * per_sample);
    w.dst_j = reinterpret_cast<Vec<uint8_t, V>*>(a.mask_dst + j * per_sample);
    w.paste_i = w.paste_j = nullptr;
    w.g = Geometry{1, a.height, a.width * a.mask_bytes, 0, FastDiv{}, FastDiv{}, FastDiv{}};
    w.self_paired = i == j;
    w.in_place = a.in_place != 0;
    return w;
}

// Vector v of a pair with the pasted lanes of each sample given (`box_i`, `box_j`: bit l set where lane l
// takes its partner's value; 0 for Mixup and kept samples). In place, a sample is written only where its
// operation changes it, and nothing is read where neither sample changes.
template <typename T, int V>
MIX_HD void mix_vector_masked(const PairWork<T, V>& w, int64_t v, uint64_t box_i, uint64_t box_j) {
    const bool write_i = !w.in_place || !changes_region_only(w.si.op) || box_i != 0;
    const bool write_j = !w.self_paired && (!w.in_place || !changes_region_only(w.sj.op) || box_j != 0);
    if (!write_i && !write_j) return;
    const Lanes<T, V> xi = Lanes<T, V>::read(w.src_i[v]);
    const Lanes<T, V> xj = Lanes<T, V>::read(w.src_j[v]);
    if (blends(w.si.op) && blends(w.sj.op) && write_j) {  // both blends from the same inputs
        Lanes<T, V> oi, oj;
        Blend<T, V>::run_pair(oi, oj, xi, xj, w.si.w_self, w.si.w_other, w.sj.w_self, w.sj.w_other);
        oi.write(w.dst_i[v]);
        oj.write(w.dst_j[v]);
        return;
    }
    if (write_i) mix_lanes<T, V>(w.si, xi, xj, box_i).write(w.dst_i[v]);
    if (write_j) mix_lanes<T, V>(w.sj, xj, xi, box_j).write(w.dst_j[v]);
}

// Writes into `dst` (vector v's V elements, the first at coordinates `p`) the lanes that ResizeMix sample
// `s` takes from `partner`'s whole image resized into its box: the box's runs as box_lanes finds them
// (for_box_runs); in a run, the box's columns (their channels one after the other, channels-last), each
// source column from the column walk.
template <typename T, int V>
MIX_HD void paste_resized(const MixSample& s, Coord p, const Geometry& g, const T* partner, T* dst) {
    if (V == 1) {  // one lane, inside the box (paste_lanes): its place alone, with no walk to start
        dst[0] = partner[resized_offset(s, p, g)];
        return;
    }
    const int32_t inner = g.channels_last ? g.channels : 1;
    for_box_runs<V, true>(s, p, g, [&](const BoxRun& r) {
        // Lane r.first's source row and column; then channel by channel, column by column.
        const int32_t src_y = resized_row(s, r.y, g);
        ColumnWalk column = column_walk(s, r.x, g);
        int32_t channel = r.c;
#if defined(__CUDA_ARCH__)
#pragma unroll 1
#endif
        for (int32_t k = r.first; k < r.end; ++k) {
            dst[k] = partner[element_offset(g.channels_last ? channel : r.plane, src_y, column.src_x, g)];
            if (++channel == inner) channel = 0, next_column(column);
        }
    });
}

// Whether a ResizeMix box of the pair touches lanes `box_i` / `box_j`.
MIX_HD bool resize_touches(const MixSample& si, const MixSample& sj, uint64_t box_i, uint64_t box_j) {
    return (box_i != 0 && resizes_partner(si.op)) || (box_j != 0 && resizes_partner(sj.op));
}

// The image work of one thread: vector v of its pair (its coordinates are computed only when a sample of
// the pair pastes). With EXT, a sample whose ResizeMix box touches the vector takes the vector path for
// its other lanes; its resized lanes, which read the partner at other places than their own, are written
// after it (paste_resized). A vector's coordinates are computed again for that rather than held through
// the vector path, which would raise the CUDA kernels' register counts; a single element keeps them.
template <typename T, int V, bool EXT = false>
MIX_HD void mix_vector(const PairWork<T, V>& w, int64_t v) {
    uint64_t box_i = 0, box_j = 0;
    bool resize_i = false, resize_j = false;
    Coord p = {0, 0, 0};
    if (EXT ? pastes(w.si.op) || pastes(w.sj.op) : has_box(w.si.op) || has_box(w.sj.op)) {
        p = coord_of<false>((uint32_t)(v * V), w.g);
        box_i = paste_lanes<V, EXT>(w.si, p, w.g, w.paste_i);
        box_j = paste_lanes<V, EXT>(w.sj, p, w.g, w.paste_j);
        resize_i = EXT && box_i != 0 && resizes_partner(w.si.op);
        resize_j = EXT && box_j != 0 && !w.self_paired && resizes_partner(w.sj.op);
    }
    mix_vector_masked<T, V>(w, v, resize_i ? 0 : box_i, resize_j ? 0 : box_j);
    if (!EXT || !(resize_i || resize_j)) return;
    if (V > 1) p = coord_of<false>((uint32_t)(v * V), w.g);
    if (resize_i)
        paste_resized<T, V>(w.si, p, w.g, reinterpret_cast<const T*>(w.src_j), reinterpret_cast<T*>(w.dst_i) + v * V);
    if (resize_j)
        paste_resized<T, V>(w.sj, p, w.g, reinterpret_cast<const T*>(w.src_i), reinterpret_cast<T*>(w.dst_j) + v * V);
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
    if (a.num_classes == 0) return r;  // no targets (segmentation masks): no labels to read
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

// Target of a sample from its own and its partner's label value: λ-mixed, then thresholded to {0, 1} when
// `binarize` (timm's BCE target threshold; NaN compares false, as torch's gt).
MIX_HD float target_value(const MixSample& s, float own, float other, bool binarize, float threshold) {
    const float v = mixes_labels(s.op) ? blend(own, other, s.w_self, s.w_other) : own;
    return binarize ? (v > threshold ? 1.f : 0.f) : v;
}

// The target rows of pair k of a launch, read once; `write(c)` is the work of one (pair, class) thread.
// `flag`: this thread reports an out-of-range class index (one per pair does).
struct PairTargets {
    MixSample si, sj;
    LabelRow ri, rj;
    float* ti;
    float* tj;  // null for a self-paired sample
    bool soft;
    bool binarize;
    float threshold;
    // write(c) for rows known to be soft targets (SOFT) or not and a partner known to exist (PAIR) or not.
    template <bool SOFT, bool PAIR>
    MIX_HD void write_as(int32_t c) const {
        const float yi = label_value<SOFT>(ri, c), yj = label_value<SOFT>(rj, c);
        ti[c] = target_value(si, yi, yj, binarize, threshold);
        if (PAIR) tj[c] = target_value(sj, yj, yi, binarize, threshold);
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
    t.binarize = a.binarize != 0;
    t.threshold = a.threshold;
    return t;
}

// ---- The normalising pass: uint8 in, float out (f32, f16, bf16), [N, C, H, W] in either memory order on
// either side. The pair's two samples are mixed in f32 exactly as above (no rounding to uint8), then
// mapped per channel to fl(fl(m · scale_c) + shift_c) and rounded to the output type. Never in place. ----

// An input byte of the normalising pass as f32 (exact either way). On the GPU it is converted from its
// 32-bit widening, which sm_90's build compiles to I2FP instead of the I2F.U16 / I2F.U8 of a conversion
// straight from the byte. The mix's uint8 path keeps Elem<uint8_t>::load (its kernels are unchanged).
MIX_HD float input_byte(uint8_t b) {
#if defined(__CUDA_ARCH__)
    return __uint2float_rn((uint32_t)b);
#else
    return (float)b;
#endif
}

// `m · scale + shift` rounded after each operation (no FMA), as the reference's tch ops.
MIX_HD float normalize(float m, float scale, float shift) {
#if defined(__CUDA_ARCH__)
    return __fadd_rn(__fmul_rn(m, scale), shift);
#else
    return m * scale + shift;
#endif
}

// A sample's value in f32 at one element from its own and what it may take (`other`: its partner's, or
// what ResizeMix pastes there), `pasted` where it takes a pasted value.
MIX_HD float mixed_value(const MixSample& s, float own, float other, bool pasted) {
    if (blends(s.op)) return blend(own, other, s.w_self, s.w_other);
    return pasted ? other : own;
}

template <typename To>
struct NormWork {
    MixSample si, sj;
    const uint8_t* src_i;
    const uint8_t* src_j;
    To* dst_i;
    To* dst_j;
    const uint8_t* paste_i;  // the samples' paste masks (FMix), or null
    const uint8_t* paste_j;
    Geometry in, out;
    bool self_paired;
    // The per-channel constants as rows: row c holds the constants of channels c, c + 1, ... (mod C), the
    // lanes of a channels-last vector whose first lane is channel c; its first entry is channel c's.
    // The host reads MixArgs' periodic tables, whose row c begins at entry c (`row` 1), and so do the
    // CUDA pixel-vector kernels (all of a thread's lanes share a channel); the other CUDA vector kernels
    // a copy in shared memory, one aligned row of V entries per channel (`row` V), read as 16-byte
    // vectors: channels-last lanes read them at lane-dependent places, which the argument block's constant
    // cache serves one address at a time.
    const float* scale;
    const float* shift;
    int32_t row;
    MIX_HD const float* scale_row(uint32_t c) const { return scale + c * row; }
    MIX_HD const float* shift_row(uint32_t c) const { return shift + c * row; }
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
    w.paste_i = paste_mask_of(a, i);
    w.paste_j = paste_mask_of(a, j);
    w.in = image_geometry(a, a.channels_last);
    w.out = image_geometry(a, a.dst_channels_last);
    w.self_paired = i == j;
    w.scale = a.scale;
    w.shift = a.shift;
    w.row = 1;
    return w;
}

// The first V entries of a row of constants. In the CUDA kernels rows are 16-byte aligned (see NormWork).
template <int V>
MIX_HD void load_row(const float* row, float (&out)[V]) {
#if defined(__CUDA_ARCH__)
    constexpr int quads = V % 4 == 0 ? V / 4 : 0;  // 16-byte loads
#else
    constexpr int quads = 0;
#endif
    MIX_UNROLL
    for (int q = 0; q < quads; ++q) {
        const Vec<float, 4> f = reinterpret_cast<const Vec<float, 4>*>(row)[q];
        MIX_UNROLL
        for (int l = 0; l < 4; ++l) out[4 * q + l] = f.v[l];
    }
    MIX_UNROLL
    for (int l = 4 * quads; l < V; ++l) out[l] = row[l];
}

// Sample s's V lanes in f32: blended with the partner's (an operation that blends), or its own or the
// partner's by the box bits (box_lanes: none set without a box). One loop per case, so each vectorises.
template <int V>
MIX_HD void mixed_lanes(const MixSample& s, const float (&own)[V], const float (&other)[V], uint64_t box, float (&out)[V]) {
    if (blends(s.op)) {
        MIX_UNROLL
        for (int l = 0; l < V; ++l) out[l] = blend(own[l], other[l], s.w_self, s.w_other);
    } else {
#if !defined(__CUDA_ARCH__)
        // The host's vectors (64 lanes) mostly lie wholly outside or inside the box; copying them whole
        // vectorises, the lane-by-lane bit test below does not.
        const uint64_t all = V >= 64 ? ~0ull : (1ull << V) - 1ull;
        if (box == 0 || box == all) {
            const float(&from)[V] = box == 0 ? own : other;
            for (int l = 0; l < V; ++l) out[l] = from[l];
            return;
        }
#endif
        MIX_UNROLL
        for (int l = 0; l < V; ++l) out[l] = (box >> l) & 1ull ? other[l] : own[l];
    }
}

// The lanes normalised with their channels' constants and rounded into To.
template <typename To, int V>
MIX_HD void normalized_lanes(const float (&m)[V], const float (&scale)[V], const float (&shift)[V], Vec<To, V>& out) {
    MIX_UNROLL
    for (int l = 0; l < V; ++l) out.v[l] = Elem<To>::store(normalize(m[l], scale[l], shift[l]));
}

// The output memory orders a normalising pass is built for: any (read from the arguments), or only
// channels-last, whose vectors then come from channels-last input (the CUDA kernels vectorise into
// channels-last output only from the same order), or (the host's Form::VectorsFromPlanes) channels-last
// gathered from NCHW input of any channel count. Knowing it, the compiler drops the other layouts' code,
// and their registers.
enum : int { DST_ANY = 0, DST_CHANNELS_LAST = 1, DST_FROM_PLANES = 2 };

// Output element q of the pair, at coordinates `p` of `out`: the input bytes gathered at those
// coordinates, (EXT) ResizeMix's at the resized place inside its box (`pi`, `pj`: whether each sample
// takes a pasted value there).
template <typename To, bool EXT>
MIX_HD void normalize_element(const NormWork<To>& w, Coord p, int64_t q, bool pi, bool pj) {
    const int64_t at = element_offset((int32_t)p.c, (int32_t)p.y, (int32_t)p.x, w.in);
    const float xi = input_byte(w.src_i[at]), xj = input_byte(w.src_j[at]);
    const float scale = *w.scale_row(p.c), shift = *w.shift_row(p.c);
    const float from_j = EXT && pi && resizes_partner(w.si.op) ? input_byte(w.src_j[resized_offset(w.si, p, w.in)]) : xj;
    const float from_i = EXT && pj && resizes_partner(w.sj.op) ? input_byte(w.src_i[resized_offset(w.sj, p, w.in)]) : xi;
    w.dst_i[q] = Elem<To>::store(normalize(mixed_value(w.si, xi, from_j, pi), scale, shift));
    if (!w.self_paired) w.dst_j[q] = Elem<To>::store(normalize(mixed_value(w.sj, xj, from_i, pj), scale, shift));
}

// normalize_element for `count` consecutive output elements from q, walked in `out`'s order (vectors that
// a ResizeMix box touches: the resize reads its partner at other places; `box_i`, `box_j`: the samples'
// pasted lanes, paste_lanes). Reached on the host only: the CUDA kernels take the extended operations'
// normalising pass one element a thread (kernel_args.rs, Widths::cuda); normalize_pixels' call alike.
template <typename To>
MIX_HD void normalize_elements(const NormWork<To>& w, const Geometry& out, Coord p, int64_t q, int count, uint64_t box_i,
                               uint64_t box_j) {  // (EXT only)
#if defined(__CUDA_ARCH__)
#pragma unroll 1
#endif
    for (int l = 0; l < count; ++l) {
        normalize_element<To, true>(w, p, q + l, (box_i >> l) & 1ull, (box_j >> l) & 1ull);
        step(p, out);
    }
}

// The input bytes of V lanes `stride` bytes apart from input offset `at`: a constant stride, which
// unrolls into fixed offsets. Channels-last input into NCHW output where the V pixels stay in one plane
// (one row of whole vectors on the GPU; gather_from_pixels on the host).
template <typename To, int V>
MIX_HD void gather_strided(const NormWork<To>& w, int64_t at, int64_t stride, float (&fi)[V], float (&fj)[V]) {
    MIX_UNROLL
    for (int l = 0; l < V; ++l) fi[l] = input_byte(w.src_i[at + l * stride]), fj[l] = input_byte(w.src_j[at + l * stride]);
}

// The input bytes of V consecutive channels-last output elements from NCHW input, the first at `p`: lane
// l is channel (p.c + l) mod C of pixel p + (p.c + l) / C, read from that channel's plane (the pixel's
// offset in the plane, plus the channel's plane). One pointer step a lane, with no division: the host's
// vectors for channel counts that normalize_planes is not built for.
template <typename To, int V>
MIX_HD void gather_from_planes(const NormWork<To>& w, Coord p, float (&fi)[V], float (&fj)[V]) {
    const int64_t plane = (int64_t)w.in.height * w.in.width;
    const int64_t back = (int64_t)(w.in.channels - 1) * plane - 1;  // last channel's plane to the next pixel's first
    int64_t at = element_offset((int32_t)p.c, (int32_t)p.y, (int32_t)p.x, w.in);
    uint32_t c = p.c;
    MIX_UNROLL
    for (int l = 0; l < V; ++l) {
        fi[l] = input_byte(w.src_i[at]), fj[l] = input_byte(w.src_j[at]);
        const bool wraps = ++c == (uint32_t)w.in.channels;
        c = wraps ? 0 : c;
        at += wraps ? -back : plane;
    }
}

// The input bytes of V consecutive NCHW output elements from channels-last input, the first at `p`: lane
// l is pixel p + l of channel p.c, every C-th input byte, until the plane ends, where the next lane is the
// next channel's first pixel (a vector may cross several planes when they are small). The host's vectors
// into NCHW output where normalize_pixels does not go (other channel counts, planes under its vectors), at
// any width (the CUDA kernels read rows of whole vectors only, in normalize_vector).
template <typename To, int V>
MIX_HD void gather_from_pixels(const NormWork<To>& w, Coord p, float (&fi)[V], float (&fj)[V]) {
    const int64_t plane = (int64_t)w.in.height * w.in.width, channels = w.in.channels;
    int64_t at = element_offset((int32_t)p.c, (int32_t)p.y, (int32_t)p.x, w.in);
    int64_t left = plane - ((int64_t)p.y * w.in.width + p.x);  // pixels of this plane from p on
    if (left >= V) return gather_strided<To, V>(w, at, channels, fi, fj);  // within one plane
    const int64_t back = (plane - 1) * channels - 1;  // a plane's last pixel to the next channel's first
    MIX_UNROLL
    for (int l = 0; l < V; ++l) {
        fi[l] = input_byte(w.src_i[at]), fj[l] = input_byte(w.src_j[at]);
        const bool wraps = --left == 0;
        left = wraps ? plane : left;
        at += wraps ? -back : channels;
    }
}

// Output elements [v·V, v·V + V) of the pair. V > 1 when input and output share a memory order (lanes are
// consecutive on both sides and the input is read as one vector), or for channels-last input and NCHW
// output where normalize_pixels cannot go (other channel counts; on the GPU, input off the vectors'
// alignment): lane l reads every C-th input byte, on the GPU in rows that hold whole vectors, on the host
// at any width (lanes cross rows and planes), or (DST_FROM_PLANES, the host) NCHW input into
// channels-last output where normalize_planes cannot go (other channel counts, planes under a vector:
// lane l reads its channel's plane); V == 1 gathers each input element at the output element's
// coordinates (any other layout change, and the host's tails).
template <typename To, int V, int DST, bool EXT = false>
MIX_HD void normalize_vector(const NormWork<To>& w, int64_t v) {
    Geometry out = w.out;
    if (DST == DST_CHANNELS_LAST || DST == DST_FROM_PLANES) out.channels_last = 1;
    const uint32_t q = (uint32_t)(v * V);
    Coord p = coord_of<true>(q, out);
    if (V == 1) {
        const bool pi = pasted_at<EXT>(w.si, p, out, w.paste_i), pj = pasted_at<EXT>(w.sj, p, out, w.paste_j);
        return normalize_element<To, EXT>(w, p, q, pi, pj);
    }
    const uint64_t box_i = paste_lanes<V, EXT>(w.si, p, out, w.paste_i), box_j = paste_lanes<V, EXT>(w.sj, p, out, w.paste_j);
    if (EXT && resize_touches(w.si, w.sj, box_i, box_j)) return normalize_elements<To>(w, out, p, q, V, box_i, box_j);
    Vec<To, V> oi, oj;
    float fi[V], fj[V], mi[V], mj[V];
    if (DST == DST_FROM_PLANES) {  // NCHW in, channels-last out: lanes walk the channels, then the next pixel
        gather_from_planes<To, V>(w, p, fi, fj);
    } else if (DST == DST_CHANNELS_LAST || w.in.channels_last == out.channels_last) {  // V consecutive elements
        const Vec<uint8_t, V> xi = reinterpret_cast<const Vec<uint8_t, V>*>(w.src_i)[v];
        const Vec<uint8_t, V> xj = reinterpret_cast<const Vec<uint8_t, V>*>(w.src_j)[v];
        MIX_UNROLL
        for (int l = 0; l < V; ++l) fi[l] = input_byte(xi.v[l]), fj[l] = input_byte(xj.v[l]);
    } else {  // channels-last in, NCHW out: every C-th byte
#if defined(__CUDA_ARCH__)
        // V columns of one row: the CUDA widths take this layout change only in rows of whole vectors.
        gather_strided<To, V>(w, element_offset((int32_t)p.c, (int32_t)p.y, (int32_t)p.x, w.in), w.in.channels, fi, fj);
#else
        gather_from_pixels<To, V>(w, p, fi, fj);  // the host's widths: at any width, across rows and planes
#endif
    }
    mixed_lanes<V>(w.si, fi, fj, box_i, mi);
    mixed_lanes<V>(w.sj, fj, fi, box_j, mj);
    // The lanes' channel constants: channels-last, the row of the first lane's channel; NCHW, one
    // channel for all lanes unless the vector crosses a plane (then walked).
    float scale[V], shift[V];
    if (out.channels_last) {
        load_row<V>(w.scale_row(p.c), scale);
        load_row<V>(w.shift_row(p.c), shift);
    } else if (p.y * (uint32_t)out.width + p.x + V <= (uint32_t)out.height * out.width) {
        const float s = *w.scale_row(p.c), t = *w.shift_row(p.c);
        MIX_UNROLL
        for (int l = 0; l < V; ++l) scale[l] = s, shift[l] = t;
    } else {
        MIX_UNROLL
        for (int l = 0; l < V; ++l) {
            scale[l] = *w.scale_row(p.c), shift[l] = *w.shift_row(p.c);
            step(p, out);
        }
    }
    normalized_lanes<To, V>(mi, scale, shift, oi);
    normalized_lanes<To, V>(mj, scale, shift, oj);
    reinterpret_cast<Vec<To, V>*>(w.dst_i)[v] = oi;
    if (!w.self_paired) reinterpret_cast<Vec<To, V>*>(w.dst_j)[v] = oj;
}

// Pixels [g·V, g·V + V) of the pair in each of the C channels: channels-last input, NCHW output (a
// decoder's NHWC to NCHW; the CUDA launches' planes hold whole vectors, the host's may end in a tail). The
// thread reads the pixels' V·C consecutive bytes as C vectors of V bytes, then writes one vector into each
// channel's plane: with C known at compile time every lane's byte is a register, where normalize_vector's
// gather for that layout change reads each of them on its own (V single-byte loads a sample and output
// vector).
template <typename To, int V, int C, bool EXT = false>
MIX_HD void normalize_pixels(const NormWork<To>& w, int64_t g) {
    Vec<uint8_t, V> xi[C], xj[C];
    MIX_UNROLL
    for (int q = 0; q < C; ++q) {
        xi[q] = reinterpret_cast<const Vec<uint8_t, V>*>(w.src_i)[g * C + q];
        xj[q] = reinterpret_cast<const Vec<uint8_t, V>*>(w.src_j)[g * C + q];
    }
    // The lanes' box bits are the same in every plane: those of channel 0's.
    const Coord p = coord_of<true>((uint32_t)(g * V), w.out);
    const uint64_t box_i = paste_lanes<V, EXT>(w.si, p, w.out, w.paste_i), box_j = paste_lanes<V, EXT>(w.sj, p, w.out, w.paste_j);
    const int64_t plane = (int64_t)w.out.height * w.out.width;  // elements a plane (whole vectors on the GPU)
    if (EXT && resize_touches(w.si, w.sj, box_i, box_j)) {  // element by element, plane by plane
        for (int c = 0; c < C; ++c) normalize_elements<To>(w, w.out, Coord{(uint32_t)c, p.y, p.x}, c * plane + g * V, V, box_i, box_j);
        return;
    }
    MIX_UNROLL
    for (int c = 0; c < C; ++c) {
        float fi[V], fj[V], mi[V], mj[V], scale[V], shift[V];
        MIX_UNROLL
        for (int l = 0; l < V; ++l) {
            const int b = l * C + c;  // pixel l's channel c among the V·C bytes
            fi[l] = input_byte(xi[b / V].v[b % V]), fj[l] = input_byte(xj[b / V].v[b % V]);
            scale[l] = *w.scale_row(c), shift[l] = *w.shift_row(c);
        }
        mixed_lanes<V>(w.si, fi, fj, box_i, mi);
        mixed_lanes<V>(w.sj, fj, fi, box_j, mj);
        Vec<To, V> oi, oj;
        normalized_lanes<To, V>(mi, scale, shift, oi);
        normalized_lanes<To, V>(mj, scale, shift, oj);
        *reinterpret_cast<Vec<To, V>*>(w.dst_i + c * plane + g * V) = oi;
        if (!w.self_paired) *reinterpret_cast<Vec<To, V>*>(w.dst_j + c * plane + g * V) = oj;
    }
}

// Pixels [g·V, g·V + V) of the pair in each of the C channels: NCHW input, channels-last output (tch's CHW
// images into a channels-last model), normalize_pixels the other way round. The thread reads V bytes of
// each channel's plane, mixes and normalises them plane by plane (a plane's lanes share the pixels' box
// bits and one channel's constants), then writes its pixels' V·C consecutive outputs as C vectors of V:
// with C known at compile time every output lane's value is a register, where gather_from_planes (the
// host's, for any channel count) reads each input byte on its own, and the CUDA kernels' other channel
// counts go one element a thread.
template <typename To, int V, int C, bool EXT = false>
MIX_HD void normalize_planes(const NormWork<To>& w, int64_t g) {
    const Coord p = coord_of<true>((uint32_t)(g * V), w.in);  // channel 0's: the pixels' rows and columns
    const uint64_t box_i = paste_lanes<V, EXT>(w.si, p, w.in, w.paste_i), box_j = paste_lanes<V, EXT>(w.sj, p, w.in, w.paste_j);
    const int64_t plane = (int64_t)w.in.height * w.in.width;  // elements a plane (whole vectors on the GPU)
    if (EXT && resize_touches(w.si, w.sj, box_i, box_j)) {  // pixel by pixel, each pixel's channels in turn
        Coord at = p;
        for (int l = 0; l < V; ++l, step(at, w.in))
            for (int c = 0; c < C; ++c)
                normalize_element<To, true>(w, Coord{(uint32_t)c, at.y, at.x}, (g * V + l) * C + c, (box_i >> l) & 1ull,
                                            (box_j >> l) & 1ull);
        return;
    }
    float ni[C][V], nj[C][V];  // [channel][pixel], normalised
    MIX_UNROLL
    for (int c = 0; c < C; ++c) {
        const Vec<uint8_t, V> xi = *reinterpret_cast<const Vec<uint8_t, V>*>(w.src_i + c * plane + g * V);
        const Vec<uint8_t, V> xj = *reinterpret_cast<const Vec<uint8_t, V>*>(w.src_j + c * plane + g * V);
        float fi[V], fj[V];
        MIX_UNROLL
        for (int l = 0; l < V; ++l) fi[l] = input_byte(xi.v[l]), fj[l] = input_byte(xj.v[l]);
        mixed_lanes<V>(w.si, fi, fj, box_i, ni[c]);
        mixed_lanes<V>(w.sj, fj, fi, box_j, nj[c]);
        const float scale = *w.scale_row(c), shift = *w.shift_row(c);
        MIX_UNROLL
        for (int l = 0; l < V; ++l) ni[c][l] = normalize(ni[c][l], scale, shift), nj[c][l] = normalize(nj[c][l], scale, shift);
    }
    MIX_UNROLL
    for (int q = 0; q < C; ++q) {
        Vec<To, V> oi, oj;
        MIX_UNROLL
        for (int l = 0; l < V; ++l) {
            const int b = q * V + l;  // output lane b of the pixels': pixel b / C, channel b % C
            oi.v[l] = Elem<To>::store(ni[b % C][b / C]), oj.v[l] = Elem<To>::store(nj[b % C][b / C]);
        }
        reinterpret_cast<Vec<To, V>*>(w.dst_i)[g * C + q] = oi;
        if (!w.self_paired) reinterpret_cast<Vec<To, V>*>(w.dst_j)[g * C + q] = oj;
    }
}

// ---- The passes a grid can run: what a thread of the image range does for pair k at vector v. ----

// The mix itself: T in, T out, in place or not; EXT: with the extended operations.
template <typename T, int V, bool EXT = false>
struct MixPass {
    typedef PairWork<T, V> Work;
    static MIX_HD Work work(const MixArgs& a, int64_t k) { return pair_work<T, V>(a, k); }
    static MIX_HD void vector(const MixArgs&, const Work& w, int64_t v) { mix_vector<T, V, EXT>(w, v); }
};

// The normalising pass: uint8 in, To out, into the output memory orders DST; EXT: with the extended
// operations.
template <typename To, int V, int DST, bool EXT = false>
struct NormPass {
    typedef NormWork<To> Work;
    static MIX_HD Work work(const MixArgs& a, int64_t k) { return norm_work<To>(a, k); }
    static MIX_HD void vector(const MixArgs&, const Work& w, int64_t v) { normalize_vector<To, V, DST, EXT>(w, v); }
};

// The normalising pass by pixel vectors (normalize_pixels): C channels in, NCHW out.
template <typename To, int V, int C>
struct NormPixelsPass {
    typedef NormWork<To> Work;
    static MIX_HD Work work(const MixArgs& a, int64_t k) { return norm_work<To>(a, k); }
    static MIX_HD void vector(const MixArgs&, const Work& w, int64_t g) { normalize_pixels<To, V, C>(w, g); }
};

// The normalising pass by pixel vectors from planes (normalize_planes): C channels NCHW in, channels-last out.
template <typename To, int V, int C>
struct NormPlanesPass {
    typedef NormWork<To> Work;
    static MIX_HD Work work(const MixArgs& a, int64_t k) { return norm_work<To>(a, k); }
    static MIX_HD void vector(const MixArgs&, const Work& w, int64_t g) { normalize_planes<To, V, C>(w, g); }
};

}  // namespace mixcut
