// Three ways to paste the u8 rows of a ResizeMix box (nearest neighbour, 32.32 fixed-point columns) over
// 256x3 planes of 112x112 with the box at (16, 16): lane by lane as kernels/host_resize.h does without
// SSSE3 (mode 0), byte shuffles of 16-byte loads in groups found once a box (mode 1; the last lanes of a
// row lane by lane here), and AVX2 gathers of 8 dwords (mode 2). One thread; best of 30 passes; `same`
// compares with mode 0.
// Build: g++ -O3 -march=x86-64-v3 -o row_paste row_paste.cc; run: ./row_paste WIDTH (79, 56, 30 in the log)
#include <immintrin.h>
#include <stdint.h>
#include <string.h>
#include <stdio.h>
#include <chrono>
#include <vector>
#include <stdlib.h>
static inline uint64_t column_step(int32_t size, int32_t span) {
    return (((uint64_t)(uint32_t)size << 32) + (uint32_t)span - 1) / (uint32_t)span;
}
__attribute__((noinline)) void row_scalar(const uint8_t* from, uint8_t* out, int64_t n, uint64_t step) {
    uint64_t at = 0; int64_t k = 0;
    for (; k + 4 <= n; k += 4, at += 4 * step) {
        out[k] = from[at >> 32]; out[k+1] = from[(at+step) >> 32]; out[k+2] = from[(at+2*step) >> 32]; out[k+3] = from[(at+3*step)>>32];
    }
    for (; k < n; ++k, at += step) out[k] = from[at >> 32];
}
struct Group { int32_t src; int32_t count; __m128i shuf; };
// groups of output lanes whose source lanes fit in 16 bytes starting at src
int build_groups(Group* gs, int64_t n, uint64_t step, int W) {
    int ng = 0; int64_t k = 0;
    while (k < n) {
        int32_t base = (int32_t)((k * step) >> 32);
        if (base + 16 > W) break;
        alignas(16) uint8_t m[16]; int c = 0;
        while (c < 16 && k + c < n) { int32_t s = (int32_t)(((k + c) * step) >> 32); if (s - base >= 16) break; m[c] = s - base; ++c; }
        for (int r = c; r < 16; ++r) m[r] = 0x80;
        gs[ng].src = base; gs[ng].count = c; gs[ng].shuf = _mm_load_si128((const __m128i*)m); ++ng; k += c;
    }
    return ng;
}
__attribute__((noinline)) void row_groups(const uint8_t* from, uint8_t* out, int64_t n, uint64_t step, const Group* gs, int ng) {
    int64_t o = 0; int g = 0;
    for (; g < ng && o + 16 <= n; ++g) {
        __m128i v = _mm_loadu_si128((const __m128i*)(from + gs[g].src));
        _mm_storeu_si128((__m128i*)(out + o), _mm_shuffle_epi8(v, gs[g].shuf));
        o += gs[g].count;
    }
    uint64_t at = o * step;
    for (; o < n; ++o, at += step) out[o] = from[at >> 32];
}
__attribute__((noinline)) void row_gather(const uint8_t* from, uint8_t* out, int64_t n, uint64_t step, int W) {
    int64_t k = 0; uint64_t at = 0;
    const __m256i pick = _mm256_setr_epi8(0,4,8,12,-1,-1,-1,-1,-1,-1,-1,-1,-1,-1,-1,-1, 0,4,8,12,-1,-1,-1,-1,-1,-1,-1,-1,-1,-1,-1,-1);
    for (; k + 8 <= n && (int64_t)(((k + 7) * step) >> 32) + 4 <= W; k += 8) {
        __m256i idx = _mm256_setr_epi32((int)((k*step)>>32),(int)(((k+1)*step)>>32),(int)(((k+2)*step)>>32),(int)(((k+3)*step)>>32),(int)(((k+4)*step)>>32),(int)(((k+5)*step)>>32),(int)(((k+6)*step)>>32),(int)(((k+7)*step)>>32));
        __m256i v = _mm256_i32gather_epi32((const int*)from, idx, 1);
        v = _mm256_shuffle_epi8(v, pick);
        uint64_t lo = (uint32_t)_mm256_extract_epi32(v, 0), hi = (uint32_t)_mm256_extract_epi32(v, 4);
        uint64_t q = lo | hi << 32; memcpy(out + k, &q, 8);
    }
    at = k * step;
    for (; k < n; ++k, at += step) out[k] = from[at >> 32];
}
int main(int argc, char** argv) {
    int W = 112, H = 112, P = 256 * 3; int bw = argc > 1 ? atoi(argv[1]) : 79;
    std::vector<uint8_t> src((size_t)P * W * H + 64), dst((size_t)P * W * H + 64), ref((size_t)P*W*H+64);
    for (size_t i = 0; i < src.size(); ++i) src[i] = rand();
    uint64_t step = column_step(W, bw), ystep = column_step(H, bw);
    Group gs[4096];
    for (int mode = 0; mode < 3; ++mode) {
        double best = 1e9;
        for (int rep = 0; rep < 30; ++rep) {
            auto t0 = std::chrono::steady_clock::now();
            for (int p = 0; p < P; ++p) {
                int ng = build_groups(gs, bw, step, W);
                for (int y = 0; y < bw; ++y) {
                    const uint8_t* from = &src[(size_t)p * W * H + ((y * ystep) >> 32) * W];
                    uint8_t* out = &dst[(size_t)p * W * H + (y + 16) * W + 16];
                    if (mode == 0) row_scalar(from, out, bw, step);
                    else if (mode == 1) row_groups(from, out, bw, step, gs, ng);
                    else row_gather(from, out, bw, step, W);
                }
            }
            double ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
            if (ms < best) best = ms;
        }
        if (mode == 0) ref = dst; else printf("  same=%d\n", ref == dst);
        printf("bw=%d mode=%d best %.3f ms\n", bw, mode, best);
    }
}
