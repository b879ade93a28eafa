// The sentence encoder's element loops, included by its ISA unit (encoder_isa.cpp; unnamed
// namespace: every ISA keeps its own copy).  Every sum runs in a fixed order (dot16's 16
// lanes, or row after row), so the bits depend neither on the ISA nor on how the rows are
// cut between threads.
#pragma once

#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstring>

#include "../simd/vec_math.hpp"
#include "encoder.hpp"

namespace msopt::enc::rules {
namespace {

using simd::axpy;
using simd::dot16;

// Columns [c, c + width of V) of the mean of rows ids[lo, hi) of E into o: the rows added
// one after another from 0, then times inv.  V: F8, F4 or float.
template <class V>
inline void mean_cols(const float* E, std::size_t dim, const std::int64_t* ids, std::size_t lo,
                      std::size_t hi, float inv, std::size_t c, float* o) {
    V a{};
    for (std::size_t j = lo; j < hi; ++j) {
        V x;
        std::memcpy(&x, E + std::size_t(ids[j]) * dim + c, sizeof x);
        a += x;
    }
    a *= inv;
    std::memcpy(o + c, &a, sizeof a);
}

// The mean of rows ids[j] of E (row after row from 0, then times 1 / count) for each text
// [off[i], off[i + 1]): 32 columns at a time held in registers over the text's rows, so a
// row costs its loads and adds and the sums are stored once.
void bag_mean(const float* E, std::size_t dim, const std::int64_t* ids, const std::int64_t* off,
              std::size_t m, float* h) {
    using simd::F4;
    using simd::F8;
    for (std::size_t i = 0; i < m; ++i) {
        float* __restrict o = h + i * dim;
        const std::size_t lo = std::size_t(off[i]), hi = std::size_t(off[i + 1]);
        const float inv = hi > lo ? 1.0f / float(hi - lo) : 1.0f;
        std::size_t c = 0;
        for (; c + 32 <= dim; c += 32) {
            F8 a[4] = {};
            for (std::size_t j = lo; j < hi; ++j) {
                const float* r = E + std::size_t(ids[j]) * dim + c;
#pragma GCC unroll 4
                for (int k = 0; k < 4; ++k) {
                    F8 x;
                    std::memcpy(&x, r + 8 * k, sizeof x);
                    a[k] += x;
                }
            }
#pragma GCC unroll 4
            for (int k = 0; k < 4; ++k) {
                const F8 y = a[k] * inv;
                std::memcpy(o + c + 8 * k, &y, sizeof y);
            }
        }
        for (; c + 8 <= dim; c += 8) mean_cols<F8>(E, dim, ids, lo, hi, inv, c, o);
        for (; c + 4 <= dim; c += 4) mean_cols<F4>(E, dim, ids, lo, hi, inv, c, o);
        for (; c < dim; ++c) mean_cols<float>(E, dim, ids, lo, hi, inv, c, o);
    }
}

void normalize(const float* P, std::size_t m, std::size_t out, float* U, float* nrm) {
    for (std::size_t i = 0; i < m; ++i) {
        const float* p = P + i * out;
        const float n = std::sqrt(dot16(p, p, out));
        nrm[i] = n;
        float* u = U + i * out;
        if (n > 0.0f) {
            const float inv = 1.0f / n;
            for (std::size_t c = 0; c < out; ++c) u[c] = p[c] * inv;
        } else if (n == 0.0f) {
            std::memset(u, 0, out * sizeof(float));
        } else {  // NaN stays NaN: a diverged row must not pass for an empty text
            for (std::size_t c = 0; c < out; ++c) u[c] = n;
        }
    }
}

void normalize_back(const float* U, const float* nrm, std::size_t m, std::size_t out,
                    float* dU) {
    for (std::size_t i = 0; i < m; ++i) {
        const float* u = U + i * out;
        float* __restrict d = dU + i * out;
        if (!(nrm[i] > 0.0f)) {
            std::memset(d, 0, out * sizeof(float));
            continue;
        }
        const float ud = dot16(u, d, out), inv = 1.0f / nrm[i];
        for (std::size_t c = 0; c < out; ++c) d[c] = (d[c] - u[c] * ud) * inv;
    }
}

void colsum(const float* dP, std::size_t m, std::size_t out, std::size_t c0, std::size_t c1,
            float* db) {
    for (std::size_t c = c0; c < c1; ++c) db[c] = 0.0f;
    for (std::size_t i = 0; i < m; ++i) {
        const float* r = dP + i * out;
        for (std::size_t c = c0; c < c1; ++c) db[c] += r[c];
    }
}

void row_dots(const float* A, const float* B, std::size_t m, std::size_t d, float* c) {
    for (std::size_t i = 0; i < m; ++i) c[i] = dot16(A + i * d, B + i * d, d);
}

}  // namespace
}  // namespace msopt::enc::rules
