// The bounded heap of the top-k search (topk.hpp): a binary heap per query whose root is
// its worst entry.  Included by topk.cpp and, per ISA, by topk_isa.cpp: everything stays in
// an unnamed namespace (core/dispatch.hpp says why).
#pragma once

#include <cstddef>
#include <cstdint>

namespace msopt::search {
namespace {

// a is worse than b: a lower score, or an equal one with a higher id.  (No NaN enters a
// heap: the fill maps it to -inf, and the scan's `>` refuses it.)
template <class T>
inline bool worse(T as, std::int64_t ai, T bs, std::int64_t bi) {
    return as < bs || (as == bs && ai > bi);
}

// Adds (s, id) to a heap of `size` < k entries.
template <class T>
inline void heap_push(T* hs, std::int64_t* hi, std::size_t size, T s, std::int64_t id) {
    std::size_t c = size;
    while (c > 0) {
        const std::size_t p = (c - 1) / 2;
        if (!worse(s, id, hs[p], hi[p])) break;
        hs[c] = hs[p], hi[c] = hi[p];
        c = p;
    }
    hs[c] = s, hi[c] = id;
}

// Replaces the root (the worst entry) of a full heap of k entries by (s, id).
template <class T>
inline void heap_replace_root(T* hs, std::int64_t* hi, std::size_t k, T s, std::int64_t id) {
    std::size_t p = 0;
    for (;;) {
        std::size_t c = 2 * p + 1;
        if (c >= k) break;
        if (c + 1 < k && worse(hs[c + 1], hi[c + 1], hs[c], hi[c])) ++c;
        if (!worse(hs[c], hi[c], s, id)) break;
        hs[p] = hs[c], hi[p] = hi[c];
        p = c;
    }
    hs[p] = s, hi[p] = id;
}

// Offers s[0..n) (ids id0, id0 + 1, ...; every id already in the heap is lower, so a tie
// with the root loses and only a strictly higher score enters).  Most scores fall below
// the root once the heap has warmed up: a branch-free test of a chunk of W scores against
// it (vectorized) skips them, and the few chunks holding a better one go one by one.
template <class T>
void scan(const T* __restrict s, std::size_t n, std::int64_t id0, T* __restrict hs,
          std::int64_t* __restrict hi, std::size_t k) {
    constexpr std::size_t W = 64 / sizeof(T) * 2;  // two vectors of 512 bits
    T thr = hs[0];
    std::size_t i = 0;
    for (; i + W <= n; i += W) {
        int any = 0;
        for (std::size_t j = 0; j < W; ++j) any |= s[i + j] > thr;
        if (!any) continue;
        for (std::size_t j = 0; j < W; ++j)
            if (s[i + j] > thr) {
                heap_replace_root(hs, hi, k, s[i + j], id0 + std::int64_t(i + j));
                thr = hs[0];
            }
    }
    for (; i < n; ++i)
        if (s[i] > thr) {
            heap_replace_root(hs, hi, k, s[i], id0 + std::int64_t(i));
            thr = hs[0];
        }
}

}  // namespace
}  // namespace msopt::search
