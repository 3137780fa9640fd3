// CUDA entry points of the fused pass: one template, instantiated per dtype, in a 16-byte-vector and a
// scalar variant. Launch grid: y = pair of this launch, x = blocks over the sample's vectors, plus one
// last x-block per pair that writes the pair's soft targets.
#include "mix.cuh"

namespace mixcut {

template <typename T, int V>
__device__ __forceinline__ void run(const MixArgs& a) {
    const int64_t k = blockIdx.y;
    const int64_t image_blocks = gridDim.x - 1;
    if (blockIdx.x < image_blocks) {
        const PairWork<T, V> w = pair_work<T, V>(a, k);
        const int64_t stride = image_blocks * blockDim.x;
        for (int64_t v = blockIdx.x * (int64_t)blockDim.x + threadIdx.x; v < a.vecs_per_sample; v += stride)
            mix_vector<T, V>(w, v);
    } else {
        const PairTargets t = pair_targets(a, k, threadIdx.x == 0);
        for (int32_t c = threadIdx.x; c < a.num_classes; c += blockDim.x) t.write(c);
    }
}

}  // namespace mixcut

// `__grid_constant__`: the 30 KB argument block is read in place, never copied per thread.
#define MIX_KERNELS(NAME, T)                                                                          \
    extern "C" __global__ void __launch_bounds__(256) mix_##NAME(const __grid_constant__ mixcut::MixArgs a) { \
        mixcut::run<T, 16 / sizeof(T)>(a);                                                           \
    }                                                                                                 \
    extern "C" __global__ void __launch_bounds__(256) mix_##NAME##_scalar(const __grid_constant__ mixcut::MixArgs a) { \
        mixcut::run<T, 1>(a);                                                                         \
    }

MIX_KERNELS(f32, float)
MIX_KERNELS(f16, mixcut::half_t)
MIX_KERNELS(bf16, mixcut::bf16_t)
MIX_KERNELS(u8, uint8_t)
