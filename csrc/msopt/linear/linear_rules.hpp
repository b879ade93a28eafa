// Loops of the linear layer, included by its ISA translation unit (linear_isa.cpp):
// register-tiled forward/backward for narrow outputs, CSR forward/backward, the L1 prox.
// The losses are losses/dense.hpp's; other dense products go to BLAS.
#pragma once

#include <cmath>
#include <cstdint>
#include <cstring>
#include <type_traits>

#include "linear.hpp"

namespace msopt::rules {
namespace {

// Narrow outputs (C <= 16): W and the scores padded to 16 columns, so one row of scores
// is held in registers as H 64-byte vectors (GCC vector types: one zmm on AVX-512, two ymm
// on AVX2, four xmm on SSE2; lane arithmetic is the same everywhere): H = 1 for float and
// 2 for double.  Four rows at a time.
constexpr std::size_t kTile = 16;

typedef float VecF __attribute__((vector_size(64)));
typedef double VecD __attribute__((vector_size(64)));
template <class T>
using Vec = std::conditional_t<sizeof(T) == 4, VecF, VecD>;

template <class T>
inline Vec<T> load_vec(const T* p) {
    Vec<T> v;
    std::memcpy(&v, p, sizeof v);
    return v;
}
template <class T>
inline void store_vec(T* p, const Vec<T>& v) {
    std::memcpy(p, &v, sizeof v);
}

template <class T>
void dense_forward16(const T* X, std::size_t ldx, const std::int64_t* rows, std::size_t B,
                     std::size_t d, const T* W16, const T* b16, T* Z16) {
    constexpr std::size_t L = kTile, N = 64 / sizeof(T), H = L / N;
    auto row = [&](std::size_t i) { return X + (rows ? std::size_t(rows[i]) : i) * ldx; };
    std::size_t i = 0;
    for (; i + 4 <= B; i += 4) {
        const T *x0 = row(i), *x1 = row(i + 1), *x2 = row(i + 2), *x3 = row(i + 3);
        for (std::size_t h = 0; h < H; ++h) {  // each half of the tile on its own
            Vec<T> a0 = load_vec(b16 + h * N), a1 = a0, a2 = a0, a3 = a0;
            for (std::size_t k = 0; k < d; ++k) {
                const Vec<T> w = load_vec(W16 + k * L + h * N);
                a0 += x0[k] * w;
                a1 += x1[k] * w;
                a2 += x2[k] * w;
                a3 += x3[k] * w;
            }
            store_vec(Z16 + i * L + h * N, a0);
            store_vec(Z16 + (i + 1) * L + h * N, a1);
            store_vec(Z16 + (i + 2) * L + h * N, a2);
            store_vec(Z16 + (i + 3) * L + h * N, a3);
        }
    }
    for (; i < B; ++i) {
        const T* x = row(i);
        for (std::size_t h = 0; h < H; ++h) {
            Vec<T> a = load_vec(b16 + h * N);
            for (std::size_t k = 0; k < d; ++k) a += x[k] * load_vec(W16 + k * L + h * N);
            store_vec(Z16 + i * L + h * N, a);
        }
    }
}

// dW16 (d x 16) = X[rows]^T dZ16, four rows of dW at a time, summed over the batch in
// registers.
template <class T>
void dense_backward16(const T* X, std::size_t ldx, const std::int64_t* rows, std::size_t B,
                      std::size_t d, const T* dZ16, T* dW16) {
    constexpr std::size_t L = kTile, N = 64 / sizeof(T), H = L / N;
    auto row = [&](std::size_t i) { return X + (rows ? std::size_t(rows[i]) : i) * ldx; };
    std::size_t k = 0;
    for (; k + 4 <= d; k += 4) {
        for (std::size_t h = 0; h < H; ++h) {
            Vec<T> a0 = {}, a1 = {}, a2 = {}, a3 = {};
            for (std::size_t i = 0; i < B; ++i) {
                const Vec<T> g = load_vec(dZ16 + i * L + h * N);
                const T* x = row(i) + k;
                a0 += x[0] * g;
                a1 += x[1] * g;
                a2 += x[2] * g;
                a3 += x[3] * g;
            }
            store_vec(dW16 + k * L + h * N, a0);
            store_vec(dW16 + (k + 1) * L + h * N, a1);
            store_vec(dW16 + (k + 2) * L + h * N, a2);
            store_vec(dW16 + (k + 3) * L + h * N, a3);
        }
    }
    for (; k < d; ++k)
        for (std::size_t h = 0; h < H; ++h) {
            Vec<T> a = {};
            for (std::size_t i = 0; i < B; ++i)
                a += row(i)[k] * load_vec(dZ16 + i * L + h * N);
            store_vec(dW16 + k * L + h * N, a);
        }
}

template <class T>
void csr_forward(const std::int64_t* indptr, const std::int64_t* indices, const T* vals,
                 const std::int64_t* rows, std::size_t B, const T* W, const T* b,
                 std::size_t C, T* Z) {
    for (std::size_t i = 0; i < B; ++i) {
        const std::size_t r = rows ? std::size_t(rows[i]) : i;
        T* __restrict z = Z + i * C;
        for (std::size_t c = 0; c < C; ++c) z[c] = b ? b[c] : T(0);
        for (std::int64_t j = indptr[r]; j < indptr[r + 1]; ++j) {
            const T xv = vals[j];
            const T* __restrict w = W + std::size_t(indices[j]) * C;
            for (std::size_t c = 0; c < C; ++c) z[c] += xv * w[c];
        }
    }
}

template <class T>
void csr_backward(const std::int64_t* indptr, const std::int64_t* indices, const T* vals,
                  const std::int64_t* rows, std::size_t B, const T* dZ, std::size_t C,
                  T* dW) {
    for (std::size_t i = 0; i < B; ++i) {
        const std::size_t r = rows ? std::size_t(rows[i]) : i;
        const T* __restrict g = dZ + i * C;
        for (std::int64_t j = indptr[r]; j < indptr[r + 1]; ++j) {
            const T xv = vals[j];
            T* __restrict w = dW + std::size_t(indices[j]) * C;
            for (std::size_t c = 0; c < C; ++c) w[c] += xv * g[c];
        }
    }
}

// Soft-thresholding: w = sign(w) * max(|w| - thr, 0).
template <class T>
void l1_prox(T* __restrict w, std::size_t n, T thr) {
    for (std::size_t i = 0; i < n; ++i) {
        const T a = std::fabs(w[i]) - thr;
        const T m = a > T(0) ? a : T(0);
        w[i] = w[i] < T(0) ? -m : (w[i] > T(0) ? m : T(0));
    }
}

}  // namespace
}  // namespace msopt::rules
