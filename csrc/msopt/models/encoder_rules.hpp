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

void bag_mean(const float* E, std::size_t dim, const std::int64_t* ids, const std::int64_t* off,
              std::size_t m, float* h) {
    for (std::size_t i = 0; i < m; ++i) {
        float* __restrict o = h + i * dim;
        std::memset(o, 0, dim * sizeof(float));
        const std::size_t lo = std::size_t(off[i]), hi = std::size_t(off[i + 1]);
        for (std::size_t j = lo; j < hi; ++j) axpy(1.0f, E + std::size_t(ids[j]) * dim, o, dim);
        if (hi > lo) simd::scale(1.0f / float(hi - lo), o, dim);
    }
}

void project(const float* h, std::size_t m, std::size_t dim, const float* W, const float* b,
             std::size_t out, float* P) {
    for (std::size_t i = 0; i < m; ++i) {
        float* __restrict p = P + i * out;
        if (b) std::memcpy(p, b, out * sizeof(float));
        else std::memset(p, 0, out * sizeof(float));
        const float* hi = h + i * dim;
        for (std::size_t k = 0; k < dim; ++k) axpy(hi[k], W + k * out, p, out);
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
        } else {
            std::memset(u, 0, out * sizeof(float));
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

void project_back(const float* dP, std::size_t m, std::size_t out, const float* W,
                  std::size_t dim, float* dh) {
    for (std::size_t i = 0; i < m; ++i)
        for (std::size_t k = 0; k < dim; ++k) dh[i * dim + k] = dot16(dP + i * out, W + k * out, out);
}

void weight_grad(const float* h, const float* dP, std::size_t m, std::size_t dim,
                 std::size_t out, std::size_t k0, std::size_t k1, float* dW) {
    for (std::size_t k = k0; k < k1; ++k) {
        float* __restrict w = dW + k * out;
        std::memset(w, 0, out * sizeof(float));
        for (std::size_t i = 0; i < m; ++i) axpy(h[i * dim + k], dP + i * out, w, out);
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

void scores(const float* A, const float* B, std::size_t n_b, std::size_t out, std::size_t r0,
            std::size_t r1, float inv_t, float* S) {
    for (std::size_t i = r0; i < r1; ++i)
        for (std::size_t j = 0; j < n_b; ++j)
            S[i * n_b + j] = dot16(A + i * out, B + j * out, out) * inv_t;
}

void tmul(const float* S, std::size_t n, std::size_t n_s, const float* A, std::size_t d,
          std::size_t r0, std::size_t r1, float alpha, float* out) {
    for (std::size_t j = r0; j < r1; ++j) {
        float* __restrict o = out + j * d;
        std::memset(o, 0, d * sizeof(float));
        for (std::size_t i = 0; i < n; ++i) axpy(S[i * n_s + j], A + i * d, o, d);
        simd::scale(alpha, o, d);
    }
}

void mul(const float* S, std::size_t n_s, const float* A, std::size_t d, std::size_t r0,
         std::size_t r1, float alpha, float* out) {
    for (std::size_t i = r0; i < r1; ++i) {
        float* __restrict o = out + i * d;
        std::memset(o, 0, d * sizeof(float));
        const float* s = S + i * n_s;
        for (std::size_t j = 0; j < n_s; ++j) axpy(s[j], A + j * d, o, d);
        simd::scale(alpha, o, d);
    }
}

void row_dots(const float* A, const float* B, std::size_t m, std::size_t d, float* c) {
    for (std::size_t i = 0; i < m; ++i) c[i] = dot16(A + i * d, B + i * d, d);
}

}  // namespace
}  // namespace msopt::enc::rules
