// CUDA entry points of the fused passes: one template per pass, instantiated per dtype, in a 16-byte-vector
// and a scalar variant. Launch grid: y = pair of this launch, x = blocks over the sample's vectors, then
// blocks over its class mask's vectors (segmentation; none otherwise), then one last x-block per pair that
// writes the pair's soft targets.
#include "mix.cuh"

namespace mixcut {

// The mask vectors of pair k given to block `b` of `blocks` (V bytes a vector).
template <int V>
__device__ __forceinline__ void run_mask_as(const MixArgs& a, int64_t k, int64_t b, int64_t blocks) {
    const PairWork<uint8_t, V> w = mask_work<V>(a, k);
    for (int64_t v = b * blockDim.x + threadIdx.x; v < a.mask_vecs; v += blocks * blockDim.x) mix_vector<uint8_t, V>(w, v);
}

// The same for either vector width. Inlined: an out-of-line call makes ptxas give every kernel the call's
// register count (tests/kernel_registers.rs holds the kernels to a budget).
__device__ __forceinline__ void run_mask(const MixArgs& a, int64_t k, int64_t b, int64_t blocks) {
    if (a.mask_vector == 16)
        run_mask_as<16>(a, k, b, blocks);
    else
        run_mask_as<1>(a, k, b, blocks);
}

// What a pass's threads read at lane-dependent places, copied by the block into shared memory first (the
// argument block's constant cache serves one address at a time): nothing for the mix and the pixel
// vectors (a thread's lanes share a channel); the normalising pass's constants as one row of V entries
// per channel (NormWork), 16-byte aligned for the vector kernels. Every thread of the block calls it (it
// synchronises the block).
template <typename Pass>
struct Stage {
    static __device__ __forceinline__ void run(const MixArgs&, typename Pass::Work&) {}
};

template <typename To, int V, int DST, bool EXT>
struct Stage<NormPass<To, V, DST, EXT>> {
    static __device__ __forceinline__ void run(const MixArgs& a, NormWork<To>& w) {
        __shared__ __align__(16) float rows[2 * MIX_MAX_CHANNELS * V];
        const int n = a.channels * V;  // entries of one table's rows
        for (int t = threadIdx.x; t < 2 * n; t += blockDim.x) {
            const int r = t < n ? t : t - n;  // row r / V, lane r % V: channel (r / V + r % V) mod C
            rows[t] = (t < n ? a.scale : a.shift)[r / V + r % V];
        }
        __syncthreads();
        w.scale = rows, w.shift = rows + n, w.row = V;
    }
};

// MASKS: the kernel also pastes class masks (segmentation), in blocks of its own. Only the kernels that
// take masks hold that code: its registers would otherwise cost every mix the threads an SM can hold.
template <bool MASKS, typename Pass>
__device__ __forceinline__ void run(const MixArgs& a) {
    const int64_t k = blockIdx.y;
    const int64_t image_blocks = gridDim.x - 1 - a.mask_blocks;
    if (blockIdx.x < image_blocks) {  // the same branch for the whole block
        typename Pass::Work w = Pass::work(a, k);
        Stage<Pass>::run(a, w);
        const int64_t stride = image_blocks * blockDim.x;
        for (int64_t v = blockIdx.x * (int64_t)blockDim.x + threadIdx.x; v < a.vecs_per_sample; v += stride)
            Pass::vector(a, w, v);
    } else if (MASKS && blockIdx.x < image_blocks + a.mask_blocks) {
        run_mask(a, k, blockIdx.x - image_blocks, a.mask_blocks);
    } else {
        const PairTargets t = pair_targets(a, k, threadIdx.x == 0);
        for (int32_t c = threadIdx.x; c < a.num_classes; c += blockDim.x) t.write(c);
    }
}

}  // namespace mixcut

// `__grid_constant__`: the 9 KB argument block is read in place, never copied per thread.
#define MIX_ENTRY(NAME, MASKS, ...)                                                                         \
    extern "C" __global__ void __launch_bounds__(256) NAME(const __grid_constant__ mixcut::MixArgs a) {     \
        mixcut::run<MASKS, __VA_ARGS__>(a);                                                                 \
    }

// mix_<dtype>: the mix, T in and out, 16-byte vectors; mix_<dtype>_scalar: one element per thread; each
// also as mix_<dtype>[_scalar]_masks, which pastes class masks in the same launch, and as
// mix_<dtype>[_scalar]_ext, which takes the extended operations (ResizeMix, FMix: mix.cuh's EXT).
#define MIX_KERNELS(NAME, T)                                                      \
    MIX_ENTRY(mix_##NAME, false, mixcut::MixPass<T, 16 / sizeof(T)>)             \
    MIX_ENTRY(mix_##NAME##_scalar, false, mixcut::MixPass<T, 1>)                 \
    MIX_ENTRY(mix_##NAME##_masks, true, mixcut::MixPass<T, 16 / sizeof(T)>)      \
    MIX_ENTRY(mix_##NAME##_scalar_masks, true, mixcut::MixPass<T, 1>)            \
    MIX_ENTRY(mix_##NAME##_ext, false, mixcut::MixPass<T, 16 / sizeof(T), true>) \
    MIX_ENTRY(mix_##NAME##_scalar_ext, false, mixcut::MixPass<T, 1, true>)

// mixnorm_<dtype>: uint8 in, normalised <dtype> out; one 16-byte output vector per thread (4 or 8 input
// bytes), so each warp store writes whole lines; or one element (_scalar). mixnorm_<dtype>_cl: the vector
// kernel for channels-last output, where knowing the layout drops the other layouts' code and registers.
// mixnorm_<dtype>_pixels: a decoder's 3-channel NHWC into NCHW by pixel vectors (normalize_pixels),
// MIX_PIXEL_LANES pixels a thread, one vector of them into each plane; more pixels a thread would exceed
// the register budget (tests/kernel_registers.rs). docs/performance.md has the measurements.
// mixnorm_<dtype>_pixels_cl: the other way, 3-channel NCHW into channels-last (normalize_planes), as many
// pixels a thread.
// mixnorm_<dtype>_scalar_ext: one element per thread with the extended operations (kernel_args.rs's
// Widths::cuda gives a normalising launch that holds them no vector widths: the elements form).
#define NORM_KERNELS(NAME, T)                                                                          \
    MIX_ENTRY(mixnorm_##NAME, false, mixcut::NormPass<T, 16 / sizeof(T), mixcut::DST_ANY>)            \
    MIX_ENTRY(mixnorm_##NAME##_cl, false, mixcut::NormPass<T, 16 / sizeof(T), mixcut::DST_CHANNELS_LAST>) \
    MIX_ENTRY(mixnorm_##NAME##_pixels, false, mixcut::NormPixelsPass<T, MIX_PIXEL_LANES, MIX_PIXEL_CHANNELS>) \
    MIX_ENTRY(mixnorm_##NAME##_pixels_cl, false, mixcut::NormPlanesPass<T, MIX_PIXEL_LANES, MIX_PIXEL_CHANNELS>) \
    MIX_ENTRY(mixnorm_##NAME##_scalar, false, mixcut::NormPass<T, 1, mixcut::DST_ANY>)                      \
    MIX_ENTRY(mixnorm_##NAME##_scalar_ext, false, mixcut::NormPass<T, 1, mixcut::DST_ANY, true>)

MIX_KERNELS(f32, float)
MIX_KERNELS(f16, mixcut::half_t)
MIX_KERNELS(bf16, mixcut::bf16_t)
MIX_KERNELS(u8, uint8_t)
NORM_KERNELS(f32, float)
NORM_KERNELS(f16, mixcut::half_t)
NORM_KERNELS(bf16, mixcut::bf16_t)
