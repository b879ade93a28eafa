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

// Columns [c, c + NV * width of FW + tail) of the mean of rows ids[lo, hi) of E into o, with
// tail < width of FW: one pass over the rows, every column's sum held in a register (NV wide
// vectors, then 8, 4 and single columns for the tail), the rows added one after another
// from 0, then times inv.  One pass brings each row's cache lines in together.
template <int NV>
inline void mean_block(const float* E, std::size_t dim, const std::int64_t* ids,
                       std::size_t lo, std::size_t hi, float inv, std::size_t c,
                       std::size_t tail, float* o) {
    using simd::F4;
    using simd::F8;
    using simd::FW;
    constexpr std::size_t kW = sizeof(FW) / sizeof(float);
    const bool has8 = kW > 8 && (tail & 8) != 0, has4 = (tail & 4) != 0;
    const std::size_t n1 = tail & 3;
    FW a[NV > 0 ? NV : 1] = {};
    F8 a8 = {};
    F4 a4 = {};
    float a1[3] = {};
    for (std::size_t j = lo; j < hi; ++j) {
        const float* r = E + std::size_t(ids[j]) * dim + c;
#pragma GCC unroll 8
        for (int k = 0; k < NV; ++k) {
            FW x;
            std::memcpy(&x, r + k * kW, sizeof x);
            a[k] += x;
        }
        r += NV * kW;
        if (has8) {
            F8 x;
            std::memcpy(&x, r, sizeof x);
            a8 += x;
            r += 8;
        }
        if (has4) {
            F4 x;
            std::memcpy(&x, r, sizeof x);
            a4 += x;
            r += 4;
        }
        for (std::size_t q = 0; q < n1; ++q) a1[q] += r[q];
    }
    float* __restrict w = o + c;
#pragma GCC unroll 8
    for (int k = 0; k < NV; ++k) {
        const FW y = a[k] * inv;
        std::memcpy(w + k * kW, &y, sizeof y);
    }
    w += NV * kW;
    if (has8) {
        const F8 y = a8 * inv;
        std::memcpy(w, &y, sizeof y);
        w += 8;
    }
    if (has4) {
        const F4 y = a4 * inv;
        std::memcpy(w, &y, sizeof y);
        w += 4;
    }
    for (std::size_t q = 0; q < n1; ++q) w[q] = a1[q] * inv;
}

// The mean of rows ids[j] of E (row after row from 0, then times 1 / count) for each text
// [off[i], off[i + 1]), in blocks of up to 8 wide vectors of columns: a row of up to 128
// columns (64 without AVX-512) is read in one pass.  (Blocks of 32 columns, each a pass over
// the text's rows, took 1.75-1.90 ms for the 17,756 SICK texts of dim 100 on AVX-512; one
// pass takes 1.47-1.55 ms.)
void bag_mean(const float* E, std::size_t dim, const std::int64_t* ids, const std::int64_t* off,
              std::size_t m, float* h) {
    constexpr std::size_t kW = sizeof(simd::FW) / sizeof(float), kBlock = 8 * kW;
    for (std::size_t i = 0; i < m; ++i) {
        float* o = h + i * dim;
        const std::size_t lo = std::size_t(off[i]), hi = std::size_t(off[i + 1]);
        const float inv = hi > lo ? 1.0f / float(hi - lo) : 1.0f;
        std::size_t c = 0;
        for (; dim - c > kBlock; c += kBlock) mean_block<8>(E, dim, ids, lo, hi, inv, c, 0, o);
        const std::size_t left = dim - c, tail = left % kW;
        switch (left / kW) {
            case 0: mean_block<0>(E, dim, ids, lo, hi, inv, c, tail, o); break;
            case 1: mean_block<1>(E, dim, ids, lo, hi, inv, c, tail, o); break;
            case 2: mean_block<2>(E, dim, ids, lo, hi, inv, c, tail, o); break;
            case 3: mean_block<3>(E, dim, ids, lo, hi, inv, c, tail, o); break;
            case 4: mean_block<4>(E, dim, ids, lo, hi, inv, c, tail, o); break;
            case 5: mean_block<5>(E, dim, ids, lo, hi, inv, c, tail, o); break;
            case 6: mean_block<6>(E, dim, ids, lo, hi, inv, c, tail, o); break;
            case 7: mean_block<7>(E, dim, ids, lo, hi, inv, c, tail, o); break;
            default: mean_block<8>(E, dim, ids, lo, hi, inv, c, tail, o); break;
        }
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
