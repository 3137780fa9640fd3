// ResizeMix on the host: after the pair's vector pass has taken its ResizeMix samples as kept
// (resizes_kept), each box is written row by row from the partner's whole image resized by nearest
// neighbour (resized_row, resized_column in mix.cuh). The device takes a vector's resized lanes run by run
// instead (paste_resized), each run dividing out its start: on the host's 64-lane vectors those divisions
// cost as much as moving the lanes. In place a pair stays with one thread, which holds at most one of its
// boxes aside until the partner that box reads is done (held_sample). Included by host.cpp after
// host_simd.h; never by nvcc.
#pragma once

namespace mixcut {

// The partner's columns that a ResizeMix box's columns show, ⌊q·W / w⌋ for q = 0, 1, ... (w = x1 − x0: see
// resized_column), as the integer part of q·⌈2^32·W / w⌉, stepped in 32.32 fixed point. Exact while
// q·w <= 2^32, which q < w <= 2^16 gives: rounding the step up adds less than q / 2^32 <= 1 / w, and q·W / w
// lies at least 1 / w below the next integer. A column then costs an add and a shift. Rows step the same
// way (resized_row, with H and h = y1 − y0).
constexpr int32_t MAX_STEPPED_SPAN = 1 << 16;

// The step for a box `span` columns (rows) long on an image `size` columns (rows) long, or 0 for a box too
// long to step (each of its columns or rows divided out).
inline uint64_t resize_step(int32_t size, int32_t span) {
    if (span > MAX_STEPPED_SPAN) return 0;
    return (((uint64_t)(uint32_t)size << 32) + (uint32_t)span - 1) / (uint32_t)span;  // size < 2^31: no overflow
}

// Lanes [0, n) of `out`, row lanes from column x, channel c on (channels-last: `inner` lanes a column;
// NCHW: 1) of a ResizeMix box row, from the partner's row `from`, its columns stepped by `step`
// (resize_step).
template <typename T>
void paste_resized_row(const MixSample& s, const Geometry& g, uint64_t step, const T* from, T* out, int64_t n,
                       int32_t x, int32_t c, int32_t inner) {
    if (step == 0) {  // too wide to step: each column divided out
        for (int64_t k = 0; k < n; ++k) {
            out[k] = from[(int64_t)resized_column(s, x, g) * inner + c];
            if (++c == inner) c = 0, ++x;
        }
        return;
    }
    uint64_t at = (uint64_t)(uint32_t)(x - s.x0) * step;
    if (inner == 1) {
        int64_t k = 0;
        for (; k + 4 <= n; k += 4, at += 4 * step) {  // four columns' loads at once, none waiting on another
            out[k] = from[at >> 32];
            out[k + 1] = from[(at + step) >> 32];
            out[k + 2] = from[(at + 2 * step) >> 32];
            out[k + 3] = from[(at + 3 * step) >> 32];
        }
        for (; k < n; ++k, at += step) out[k] = from[at >> 32];
        return;
    }
    for (int64_t k = 0; k < n; at += step, c = 0) {
        const T* pixel = from + (int64_t)(at >> 32) * inner;
        for (; c < inner && k < n; ++c, ++k) out[k] = pixel[c];
    }
}

// Whole box rows pasted by other means than lane by lane: none for this type or level (paste returns the
// lanes it wrote).
template <typename T>
struct RowPicks {
    int64_t paste(const MixSample&, const Geometry&, uint64_t, const T*, T*, int64_t, int32_t) { return 0; }
};

#if defined(MIX_SIMD_PICK16)
// A u8 box row's lanes in groups whose source lanes lie within 16 bytes of the partner's row: a group costs
// one 16-byte load and one byte shuffle (pick16), where lane by lane a lane costs a load and a store. The
// box's rows (and NCHW planes) all read the same columns, so a thread finds the groups once a box, at the
// first whole row of its share, and uses them for every whole row after it.
struct PickGroup {
    pick16 which;   // the group's lane k is byte which[k] of the 16 loaded; bytes past `lanes` are not kept
    int64_t from;   // the load's first lane in the partner's row
    int32_t lanes;  // 1 to 16
};

// At most this many groups a box (16 KB on the stack). 512 groups cover about 1,000 lanes of a row at
// ResizeMix's smallest default fraction (0.1: a step of 10 columns) and over 6,000 near its largest (0.8),
// far more than the rows of ImageNet-sized images hold; lanes past them go lane by lane.
constexpr int32_t MAX_PICK_GROUPS = 512;

template <>
struct RowPicks<uint8_t> {
    int32_t count = -1;  // the groups found; -1: not looked for yet
    PickGroup groups[MAX_PICK_GROUPS];

    // The groups of a row of `width` columns of `inner` lanes, stepped by `step` (not 0), from a partner
    // row of `row_lanes` >= 16 lanes. A load starts at the group's first source lane, or 16 lanes before
    // the row's end where it would pass it; source lanes never decrease along a row (W >= w: step >= 1).
    void find(uint64_t step, int32_t width, int32_t inner, int64_t row_lanes) {
        alignas(16) uint8_t which[16] = {};
        int32_t lanes = 0;  // in the open group
        int64_t base = 0;
        count = 0;
        uint64_t at = 0;
        for (int32_t q = 0; q < width; ++q, at += step) {
            const int64_t pixel = (int64_t)(at >> 32) * inner;
            for (int32_t c = 0; c < inner; ++c) {
                const int64_t lane = pixel + c;
                if (lanes == 16 || (lanes > 0 && lane - base >= 16)) {
                    groups[count++] = PickGroup{load_pick(which), base, lanes};
                    lanes = 0;
                    if (count == MAX_PICK_GROUPS) return;
                }
                if (lanes == 0) base = lane < row_lanes - 16 ? lane : row_lanes - 16;
                which[lanes++] = (uint8_t)(lane - base);
            }
        }
        if (lanes > 0) groups[count++] = PickGroup{load_pick(which), base, lanes};
    }

    // Pastes the first lanes of the whole box row `out` (n lanes) from the partner's row `from`, those the
    // groups cover, and returns how many. A group stores 16 bytes, its own lanes first; the next group's
    // store writes over the rest. The groups within 16 lanes of the row's end store into `last` instead,
    // copied out once, so nothing past the row is written. Where the groups stop short of the row's end,
    // the last store may leave bytes past the returned count, which the caller must write.
    int64_t paste(const MixSample& s, const Geometry& g, uint64_t step, const uint8_t* from, uint8_t* out,
                  int64_t n, int32_t inner) {
        const int64_t row_lanes = (int64_t)g.width * inner;
        if (step == 0 || row_lanes < 16) return 0;
        if (count < 0) find(step, s.x1 - s.x0, inner, row_lanes);
        int64_t o = 0;
        int32_t k = 0;
        for (; k < count && o + 16 <= n; ++k) {
            pick_bytes(from + groups[k].from, groups[k].which, out + o);
            o += groups[k].lanes;
        }
        if (k < count) {  // fewer than 16 lanes left to cover: each store fits in `last`
            alignas(16) uint8_t last[32];
            int64_t t = 0;
            for (; k < count; ++k) {
                pick_bytes(from + groups[k].from, groups[k].which, last + t);
                t += groups[k].lanes;
            }
            memcpy(out + o, last, t);
            o += t;
        }
        return o;
    }
};
#endif

// How many box rows ahead paste_resized_rows asks for the partner's rows, when a row is at least
// PREFETCH_ROW_BYTES long. Box rows read source rows that skip rows of the partner, each across all its
// cache lines in a short run, which hardware prefetchers may not follow: each row would then wait on
// memory. A row of two or three lines gains less than its requests cost.
constexpr int32_t PREFETCH_ROWS = 8;
constexpr int64_t PREFETCH_ROW_BYTES = 256;

// One request for reading, not waited on, every 64 bytes of the `bytes` bytes from `p` (an unaligned run's
// last cache line may go unrequested).
inline void prefetch_bytes(const void* p, int64_t bytes) {
    const char* c = static_cast<const char*>(p);
    for (int64_t k = 0; k < bytes; k += 64) __builtin_prefetch(c + k, 0, 3);
}

// One ResizeMix box of sample `s`, its elements in [lo, hi) (this thread's share), from the partner's
// whole image: row by row, its source rows stepped as its columns (resize_step) and long ones asked for
// PREFETCH_ROWS box rows ahead. Whole rows go through RowPicks first; the lanes it leaves, and rows the
// share cuts, go lane by lane (paste_resized_row). `row_out(c, y, first)` gives where the box row of plane
// c, row y goes (`first`: its first element's offset in the sample).
template <typename T, typename RowOut>
void paste_resized_rows(const MixSample& s, const Geometry& g, const T* partner, int64_t lo, int64_t hi,
                        RowOut row_out) {
    const int32_t inner = g.channels_last ? g.channels : 1, planes = g.channels_last ? 1 : g.channels;
    const uint64_t step = resize_step(g.width, s.x1 - s.x0), row_step = resize_step(g.height, s.y1 - s.y0);
    const int64_t lanes = (int64_t)(s.x1 - s.x0) * inner;
    const int64_t row_bytes = (int64_t)g.width * inner * sizeof(T);
    const auto source_row = [&](int32_t c, int32_t y) {
        const int32_t r = row_step ? (int32_t)((uint64_t)(uint32_t)(y - s.y0) * row_step >> 32) : resized_row(s, y, g);
        return partner + element_offset(c, r, 0, g);
    };
    RowPicks<T> picks;
    for (int32_t c = 0; c < planes; ++c) {
        bool asked = false;  // rows y to y + PREFETCH_ROWS of this plane already requested
        for (int32_t y = s.y0; y < s.y1; ++y) {
            const int64_t row = element_offset(c, y, 0, g), first = row + (int64_t)s.x0 * inner;
            const int64_t b = first > lo ? first : lo, e = first + lanes < hi ? first + lanes : hi;
            if (b >= e) continue;
            if (row_bytes >= PREFETCH_ROW_BYTES)
                for (int32_t r = asked ? y + PREFETCH_ROWS : y; r <= y + PREFETCH_ROWS && r < s.y1; ++r)
                    prefetch_bytes(source_row(c, r), row_bytes);
            asked = true;
            const T* from = source_row(c, y);
            T* const out = row_out(c, y, first) + (b - first);
            const int64_t done = b == first && e == first + lanes ? picks.paste(s, g, step, from, out, lanes, inner) : 0;
            if (b + done == e) continue;
            const int64_t lane = b + done - row;  // lanes from the row's start: column·inner + channel
            paste_resized_row<T>(s, g, step, from, out + done, e - b - done, (int32_t)(lane / inner),
                                 (int32_t)(lane % inner), inner);
        }
    }
}

// Sample `s`'s ResizeMix box written into its image `dst`, elements in [lo, hi) only.
template <typename T>
void paste_resized_box(const MixSample& s, const Geometry& g, const T* partner, T* dst, int64_t lo, int64_t hi) {
    paste_resized_rows<T>(s, g, partner, lo, hi, [dst](int32_t, int32_t, int64_t first) { return dst + first; });
}

// A box's elements held apart from the image, its rows one after another (plane by plane), each
// (x1 − x0)·inner lanes long.
template <typename T>
struct HeldBox {
    const MixSample& s;
    const Geometry& g;
    T* rows;

    int64_t lanes() const { return (int64_t)(s.x1 - s.x0) * (g.channels_last ? g.channels : 1); }
    T* row(int32_t c, int32_t y) const { return rows + ((int64_t)c * (s.y1 - s.y0) + (y - s.y0)) * lanes(); }

    // The whole box pasted from `partner` into the held rows.
    void paste_from(const T* partner) {
        paste_resized_rows<T>(s, g, partner, 0, INT64_MAX, [this](int32_t c, int32_t y, int64_t) { return row(c, y); });
    }

    // The held rows copied into the box of `dst`.
    void store_into(T* dst) const {
        const int32_t inner = g.channels_last ? g.channels : 1, planes = g.channels_last ? 1 : g.channels;
        for (int32_t c = 0; c < planes; ++c)
            for (int32_t y = s.y0; y < s.y1; ++y)
                memcpy(dst + element_offset(c, y, 0, g) + (int64_t)s.x0 * inner, row(c, y), lanes() * sizeof(T));
    }
};

// Whether a ResizeMix sample has a box to write.
inline bool resizes_a_box(const MixSample& s) { return resizes_partner(s.op) && s.x0 < s.x1 && s.y0 < s.y1; }

// The pair's ResizeMix boxes but sample `skip`'s (0: i, 1: j, -1: none), read from the partner in `src`;
// writes only elements in [lo, hi), this thread's share. In place `src` is the image being written: each
// box then reads a partner that has not changed yet (see held_sample, which picks `skip`).
template <typename T, int V>
void run_resizes(const PairWork<T, V>& w, int64_t lo, int64_t hi, int skip) {
    for (int k = 0; k < (w.self_paired ? 1 : 2); ++k) {
        const MixSample& s = k == 0 ? w.si : w.sj;
        if (k == skip || !resizes_a_box(s)) continue;
        const T* partner = reinterpret_cast<const T*>(k == 0 ? w.src_j : w.src_i);
        paste_resized_box<T>(s, w.g, partner, reinterpret_cast<T*>(k == 0 ? w.dst_i : w.dst_j), lo, hi);
    }
}

// In place, a ResizeMix sample reads its partner's whole image as it was before the call, while the
// partner may change: by its own box, or by the vector pass (CutMix, Mixup, FMix). The sample whose
// partner changes before its box could be written is pasted first into held rows (HeldBox, before the
// vector pass) and stored last: at most one sample of a pair, as the other then reads a partner that
// changes only at that last store. Returns 0 (i), 1 (j) or -1 (none: each box can go straight in).
template <typename T, int V>
int held_sample(const PairWork<T, V>& w) {
    if (w.self_paired) return resizes_a_box(w.si) ? 0 : -1;  // its box is also its source
    const bool ri = resizes_a_box(w.si), rj = resizes_a_box(w.sj);
    // A partner whose op is not Keep is taken to change: one with an empty box (CutMix, or ResizeMix
    // that resizes_a_box skips) does not, and holding for it costs a copy but changes no result.
    if (ri && (rj || w.sj.op != Op::Keep)) return 0;  // j changes before i's box is written
    if (rj && w.si.op != Op::Keep) return 1;          // i changes by its own op
    return -1;
}

// The pair as the host's vector pass takes it: a ResizeMix sample kept (its own pixels out of place,
// nothing in place), its box written afterwards by run_resizes (in place, or held first: held_sample).
template <typename T, int V>
PairWork<T, V> resizes_kept(PairWork<T, V> w) {
    if (resizes_partner(w.si.op)) w.si.op = Op::Keep;
    if (resizes_partner(w.sj.op)) w.sj.op = Op::Keep;
    return w;
}

}  // namespace mixcut
