// Host entry points of the fused pass: the same per-thread logic as the CUDA kernels (mix.cuh), run by
// CPU threads over ranges of the same virtual grid. The Rust side splits the grid between threads.
#include <stddef.h>

#include "mix.cuh"

namespace mixcut {

// Runs grid rows [pair_lo, pair_hi): for each pair, every vector position, then its targets.
template <typename T, int V>
void run_pairs(const MixArgs& a, int64_t pair_lo, int64_t pair_hi, int64_t vec_lo, int64_t vec_hi) {
    for (int64_t k = pair_lo; k < pair_hi; ++k) {
        const PairWork<T, V> w = pair_work<T, V>(a, k);
        for (int64_t v = vec_lo; v < vec_hi; ++v) mix_vector<T, V>(w, v);
        if (vec_hi == a.vecs_per_sample)
            for (int32_t c = 0; c < a.num_classes; ++c) mix_pair_targets(a, k, c);
    }
}

}  // namespace mixcut

// A thread's share: pairs [pair_lo, pair_hi) × vectors [vec_lo, vec_hi) (targets with the last slice),
// with vectors of `vector_bytes` (64, 16, or 0 for single elements).
#define MIX_HOST(NAME, T)                                                                               \
    extern "C" void mixcut_host_##NAME(const mixcut::MixArgs* a, int32_t vector_bytes, int64_t pair_lo,\
                                       int64_t pair_hi, int64_t vec_lo, int64_t vec_hi) {              \
        if (vector_bytes == 64)                                                                         \
            mixcut::run_pairs<T, 64 / sizeof(T)>(*a, pair_lo, pair_hi, vec_lo, vec_hi);                 \
        else if (vector_bytes == 16)                                                                    \
            mixcut::run_pairs<T, 16 / sizeof(T)>(*a, pair_lo, pair_hi, vec_lo, vec_hi);                 \
        else                                                                                            \
            mixcut::run_pairs<T, 1>(*a, pair_lo, pair_hi, vec_lo, vec_hi);                              \
    }

MIX_HOST(f32, float)
MIX_HOST(f16, mixcut::half_t)
MIX_HOST(bf16, mixcut::bf16_t)
MIX_HOST(u8, uint8_t)

// Layout checks for the Rust mirror of MixArgs.
extern "C" uint64_t mixcut_args_size(void) { return sizeof(mixcut::MixArgs); }
extern "C" uint64_t mixcut_args_first_offset(void) { return offsetof(mixcut::MixArgs, first); }
extern "C" uint64_t mixcut_args_on_offset(void) { return offsetof(mixcut::MixArgs, on); }
