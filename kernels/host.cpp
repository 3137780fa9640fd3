// Host entry points of the fused passes: the same per-thread logic as the CUDA kernels (mix.cuh), run by
// CPU threads over ranges of the same virtual grid. The Rust side splits the grid between threads.
#include <stddef.h>

#include "mix.cuh"

namespace mixcut {

// Runs grid rows [pair_lo, pair_hi): for each pair, vectors [vec_lo, vec_hi), then its targets with the
// last slice of vectors.
template <typename Pass>
void run_pairs(const MixArgs& a, int64_t pair_lo, int64_t pair_hi, int64_t vec_lo, int64_t vec_hi) {
    for (int64_t k = pair_lo; k < pair_hi; ++k) {
        const typename Pass::Work w = Pass::work(a, k);
        for (int64_t v = vec_lo; v < vec_hi; ++v) Pass::vector(a, w, v);
        if (vec_hi == a.vecs_per_sample)
            for (int32_t c = 0; c < a.num_classes; ++c) mix_pair_targets(a, k, c);
    }
}

}  // namespace mixcut

// A thread's share: pairs [pair_lo, pair_hi) × vectors [vec_lo, vec_hi) (targets with the last slice),
// with vectors of `vector_bytes` (64, 16, or 0 for single elements) of the input.
#define MIX_HOST_ENTRY(NAME, PASS)                                                                       \
    extern "C" void NAME(const mixcut::MixArgs* a, int32_t vector_bytes, int64_t pair_lo, int64_t pair_hi, \
                         int64_t vec_lo, int64_t vec_hi) {                                                \
        if (vector_bytes == 64)                                                                           \
            mixcut::run_pairs<PASS(64)>(*a, pair_lo, pair_hi, vec_lo, vec_hi);                            \
        else if (vector_bytes == 16)                                                                      \
            mixcut::run_pairs<PASS(16)>(*a, pair_lo, pair_hi, vec_lo, vec_hi);                            \
        else                                                                                              \
            mixcut::run_pairs<PASS(0)>(*a, pair_lo, pair_hi, vec_lo, vec_hi);                             \
    }

// Lanes of a vector of `bytes` input bytes (1 for single elements).
#define MIX_LANES(T, bytes) ((bytes) == 0 ? 1 : (bytes) / (int)sizeof(T))
#define MIX_PASS_F32(bytes) mixcut::MixPass<float, MIX_LANES(float, bytes)>
#define MIX_PASS_F16(bytes) mixcut::MixPass<mixcut::half_t, MIX_LANES(mixcut::half_t, bytes)>
#define MIX_PASS_BF16(bytes) mixcut::MixPass<mixcut::bf16_t, MIX_LANES(mixcut::bf16_t, bytes)>
#define MIX_PASS_U8(bytes) mixcut::MixPass<uint8_t, MIX_LANES(uint8_t, bytes)>
#define NORM_PASS_F32(bytes) mixcut::NormPass<float, MIX_LANES(uint8_t, bytes)>
#define NORM_PASS_F16(bytes) mixcut::NormPass<mixcut::half_t, MIX_LANES(uint8_t, bytes)>
#define NORM_PASS_BF16(bytes) mixcut::NormPass<mixcut::bf16_t, MIX_LANES(uint8_t, bytes)>

MIX_HOST_ENTRY(mixcut_host_f32, MIX_PASS_F32)
MIX_HOST_ENTRY(mixcut_host_f16, MIX_PASS_F16)
MIX_HOST_ENTRY(mixcut_host_bf16, MIX_PASS_BF16)
MIX_HOST_ENTRY(mixcut_host_u8, MIX_PASS_U8)
MIX_HOST_ENTRY(mixcut_host_norm_f32, NORM_PASS_F32)
MIX_HOST_ENTRY(mixcut_host_norm_f16, NORM_PASS_F16)
MIX_HOST_ENTRY(mixcut_host_norm_bf16, NORM_PASS_BF16)

// Layout checks for the Rust mirror of MixArgs.
extern "C" uint64_t mixcut_args_size(void) { return sizeof(mixcut::MixArgs); }
extern "C" uint64_t mixcut_args_first_offset(void) { return offsetof(mixcut::MixArgs, first); }
extern "C" uint64_t mixcut_args_on_offset(void) { return offsetof(mixcut::MixArgs, on); }
extern "C" uint64_t mixcut_args_scale_offset(void) { return offsetof(mixcut::MixArgs, scale); }
