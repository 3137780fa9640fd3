// Checks run_resizes's fixed-point columns (kernels/host.cpp): the integer part of q·⌈2^32·W / w⌉ against
// ⌊q·W / w⌋. Built with `g++ -O2 fixed_point_check.cc`; its output is fixed_point_check.log.
// 1. every box width w <= 2^16 and every column q < w, for eleven image widths W (exhaustive there);
// 2. the first wrong column past 2^16 for the widest image (W = 2^31 - 1);
// 3. the widths past 2^16 at which the 70,000- and 70,001-step tests' boxes go wrong (long_segment_resizes).
#include <cstdint>
#include <cstdio>
#include <initializer_list>

static uint64_t step_of(uint32_t W, uint32_t w) { return (((uint64_t)W << 32) + w - 1) / w; }

// The first q < w at which the fixed point differs from the division, or w if none.
static uint32_t first_wrong(uint32_t W, uint32_t w) {
    const uint64_t step = step_of(W, w);
    uint64_t at = 0;
    for (uint32_t q = 0; q < w; ++q, at += step)
        if ((at >> 32) != (uint64_t)q * W / w) return q;
    return w;
}

int main() {
    long checked = 0, wrong = 0;
    for (uint32_t W : {1u, 2u, 112u, 132u, 224u, 65535u, 65536u, 65537u, 70000u, 1000003u, 2147483647u})
        for (uint32_t w = 1; w <= 65536 && w <= W; ++w) {
            wrong += first_wrong(W, w) != w;
            checked += w;
        }
    printf("1. widths up to 2^16: %ld columns checked, %ld boxes with a wrong column\n", checked, wrong);
    for (uint32_t w = 65537; w <= 200000; ++w)
        if (uint32_t q = first_wrong(2147483647u, w); q != w) {
            printf("2. W = 2^31 - 1: first wrong past 2^16 at w = %u, column %u\n", w, q);
            break;
        }
    for (uint32_t W : {70000u, 70001u})
        for (uint32_t w = 65537; w <= W; ++w)
            if (uint32_t q = first_wrong(W, w); q != w) {
                printf("3. W = %u: first wrong past 2^16 at w = %u, column %u\n", W, w, q);
                break;
            }
}
