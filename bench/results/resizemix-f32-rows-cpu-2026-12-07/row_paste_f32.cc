// Three ways to paste the f32 rows of a ResizeMix box (nearest neighbour, 32.32 fixed-point columns) over
// 256x3 planes of 112x112 with a square box of WIDTH columns at (16, 16): lane by lane as
// kernels/host_resize.h does (mode 0), AVX2 permutes (vpermps) of 8-float loads in groups whose source
// lanes lie within those 8 floats, found once a box (mode 1; the last lanes of a row lane by lane here),
// and AVX2 gathers of 8 floats (mode 2); as a yardstick, mode 3 copies each box row's WIDTH floats from the
// start of its source row with memcpy, as CutMix would (its `same` is 0: it is not a resize). One thread;
// best of 30 passes; `same` compares with mode 0.
// Build: g++ -O3 -march=x86-64-v3 -o row_paste_f32 row_paste_f32.cc; run: ./row_paste_f32 WIDTH
#include <immintrin.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <chrono>
#include <vector>

static inline uint64_t column_step(int32_t size, int32_t span) {
    return (((uint64_t)(uint32_t)size << 32) + (uint32_t)span - 1) / (uint32_t)span;
}
__attribute__((noinline)) void row_scalar(const float* from, float* out, int64_t n, uint64_t step) {
    uint64_t at = 0;
    int64_t k = 0;
    for (; k + 4 <= n; k += 4, at += 4 * step) {
        out[k] = from[at >> 32];
        out[k + 1] = from[(at + step) >> 32];
        out[k + 2] = from[(at + 2 * step) >> 32];
        out[k + 3] = from[(at + 3 * step) >> 32];
    }
    for (; k < n; ++k, at += step) out[k] = from[at >> 32];
}
struct Group {
    __m256i perm;
    int32_t src, count;
};
// Groups of output lanes whose source lanes fit in the 8 floats from `src`.
int build_groups(Group* gs, int64_t n, uint64_t step, int W) {
    int ng = 0;
    int64_t k = 0;
    while (k < n) {
        int32_t base = (int32_t)((k * step) >> 32);
        if (base + 8 > W) break;
        alignas(32) int32_t m[8] = {};
        int c = 0;
        while (c < 8 && k + c < n) {
            int32_t s = (int32_t)(((k + c) * step) >> 32);
            if (s - base >= 8) break;
            m[c] = s - base;
            ++c;
        }
        gs[ng].src = base, gs[ng].count = c, gs[ng].perm = _mm256_load_si256((const __m256i*)m);
        ++ng, k += c;
    }
    return ng;
}
__attribute__((noinline)) void row_groups(const float* from, float* out, int64_t n, uint64_t step, const Group* gs,
                                          int ng) {
    int64_t o = 0;
    int g = 0;
    for (; g < ng && o + 8 <= n; ++g) {
        __m256 v = _mm256_loadu_ps(from + gs[g].src);
        _mm256_storeu_ps(out + o, _mm256_permutevar8x32_ps(v, gs[g].perm));
        o += gs[g].count;
    }
    uint64_t at = o * step;
    for (; o < n; ++o, at += step) out[o] = from[at >> 32];
}
__attribute__((noinline)) void row_gather(const float* from, float* out, int64_t n, uint64_t step) {
    int64_t k = 0;
    for (; k + 8 <= n; k += 8) {
        alignas(32) int32_t idx[8];
        for (int l = 0; l < 8; ++l) idx[l] = (int32_t)(((k + l) * step) >> 32);
        _mm256_storeu_ps(out + k, _mm256_i32gather_ps(from, _mm256_load_si256((const __m256i*)idx), 4));
    }
    uint64_t at = k * step;
    for (; k < n; ++k, at += step) out[k] = from[at >> 32];
}
int main(int argc, char** argv) {
    const int N = 256 * 3, H = 112, W = 112, bw = argc > 1 ? atoi(argv[1]) : 79, y0 = 16, x0 = 16;
    std::vector<float> src((size_t)N * H * W), ref((size_t)N * H * W, 0.0f), dst((size_t)N * H * W, 0.0f);
    for (size_t i = 0; i < src.size(); ++i) src[i] = (float)(i * 2654435761u % 1000003);
    const uint64_t step = column_step(W, bw);
    std::vector<Group> gs(bw);
    const int ng = build_groups(gs.data(), bw, step, W);
    for (int mode = 0; mode < 4; ++mode) {
        double best = 1e9;
        std::vector<float>& out = mode == 0 ? ref : dst;
        for (int rep = 0; rep < 30; ++rep) {
            auto t0 = std::chrono::steady_clock::now();
            for (int p = 0; p < N; ++p) {
                const float* plane = src.data() + (size_t)((p + 1) % N) * H * W;  // the partner's plane
                float* o = out.data() + (size_t)p * H * W;
                for (int y = y0; y < y0 + bw; ++y) {
                    const float* from = plane + (size_t)((int64_t)(y - y0) * H / bw) * W;
                    float* row = o + (size_t)y * W + x0;
                    if (mode == 0) row_scalar(from, row, bw, step);
                    else if (mode == 1) row_groups(from, row, bw, step, gs.data(), ng);
                    else if (mode == 2) row_gather(from, row, bw, step);
                    else memcpy(row, from, bw * sizeof(float));
                }
            }
            double ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
            best = ms < best ? ms : best;
        }
        printf("bw=%d mode=%d best %.3f ms\n", bw, mode, best);
        if (mode > 0) printf("  same=%d\n", memcmp(ref.data(), dst.data(), ref.size() * 4) == 0);
    }
}
