// paste_resized_box (kernels/host_resize.h, the v3 level: whole u8 rows by byte shuffles) against the
// per-element definition of ResizeMix's resized place (row y0 + r shows row r*H / (y1 - y0), column x0 + q
// column q*W / (x1 - x0)), on 200,000 random cases: 1 to 4 channels, NCHW or channels-last, 1 to 9 rows,
// 1 to 40 columns (a quarter of the cases up to 300, 1 in 100 up to 12,000), a random box, the whole sample or a random share of
// it. Each image is its own allocation of exactly its size, built with AddressSanitizer and UBSan, so a
// load or store one byte past it stops the run.
// Build, from the repository root: g++ -O1 -g -std=c++17 -march=x86-64-v3 -fsanitize=address,undefined
//   -Ikernels -DMIX_ISA=v3 -o row_picks_fuzz bench/results/resizemix-picks-cpu-2026-12-07/row_picks_fuzz.cc
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <stdio.h>
#include <stdlib.h>
#include <vector>
#include <type_traits>
#define MIX_ISA v3
#define MIX_PASTE2(a, b) a##b
#define MIX_PASTE(a, b) MIX_PASTE2(a, b)
#define mixcut MIX_PASTE(mixcut_, MIX_ISA)
#include "mix.cuh"
#include "host_simd.h"
#include "host_resize.h"
using namespace mixcut;
static uint64_t rs = 88172645463325252ull;
static uint64_t rnd() { rs ^= rs << 13; rs ^= rs >> 7; rs ^= rs << 17; return rs; }
static int64_t off(int c, int y, int x, int C, int H, int W, bool cl) { return cl ? ((int64_t)y * W + x) * C + c : ((int64_t)c * H + y) * W + x; }
int main() {
    long cases = 0;
#ifndef MIX_SIMD_PICK16
    printf("no picks!\n"); return 1;
#endif
    for (int it = 0; it < 200000; ++it) {
        const int wide = rnd() % 100;  // 1 in 100 up to 12,000 columns: more groups than a box keeps
        int C = 1 + rnd() % 4, H = 1 + rnd() % 9, W = 1 + rnd() % (wide == 0 ? 12000 : wide < 25 ? 300 : 40);
        bool cl = rnd() % 2;
        int bw = 1 + rnd() % W, bh = 1 + rnd() % H, x0 = rnd() % (W - bw + 1), y0 = rnd() % (H - bh + 1);
        int64_t n = (int64_t)C * H * W;
        std::vector<uint8_t> src(n), want(n), got(n);  // exact sizes: ASan sees any byte past
        for (auto& v : src) v = rnd();
        for (int64_t i = 0; i < n; ++i) want[i] = got[i] = (uint8_t)(i * 7 + 3);
        Geometry g{}; g.channels = C; g.height = H; g.width = W; g.channels_last = cl;
        MixSample s{}; s.op = Op::ResizeMix; s.x0 = x0; s.x1 = x0 + bw; s.y0 = y0; s.y1 = y0 + bh;
        // share [lo, hi): whole or random
        int64_t lo = 0, hi = n;
        if (rnd() % 3 == 0) { lo = rnd() % (n + 1); hi = lo + rnd() % (n - lo + 1); }
        for (int c = 0; c < C; ++c) for (int y = s.y0; y < s.y1; ++y) for (int x = s.x0; x < s.x1; ++x) {
            int64_t o = off(c, y, x, C, H, W, cl);
            if (o < lo || o >= hi) continue;
            int sy = (int)((int64_t)(y - s.y0) * H / bh), sx = (int)((int64_t)(x - s.x0) * W / bw);
            want[o] = src[off(c, sy, sx, C, H, W, cl)];
        }
        paste_resized_box<uint8_t>(s, g, src.data(), got.data(), lo, hi);
        if (want != got) { printf("MISMATCH it=%d C=%d H=%d W=%d cl=%d box x[%d,%d) y[%d,%d) share [%ld,%ld)\n", it, C, H, W, cl, s.x0, s.x1, s.y0, s.y1, (long)lo, (long)hi); return 1; }
        ++cases;
    }
    printf("ok %ld cases\n", cases);
}
