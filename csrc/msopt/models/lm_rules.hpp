// The language model's element loops, included by its ISA translation unit (lm_isa.cpp;
// unnamed namespace: every ISA keeps its own copy).  The products are BLAS's; the losses
// are losses/'s rules.
#pragma once

#include <cmath>
#include <cstddef>
#include <cstdint>

#include "../losses/dense.hpp"
#include "../losses/sampled.hpp"
#include "../simd/vec_math.hpp"
#include "lm.hpp"

namespace msopt::lm::rules {
namespace {

// tanh(a) in a loop the compiler vectorizes.  double: sign(a) (1 - e) / (1 + e) with
// e = exp(-2 |a|) (simd::vexp), and below |a| = 1/16, where 1 - e would cancel, its
// Taylor series to a^13 (the first term left out is below 1e-20 relative there).
// float: a x P(a^2) / Q(a^2), degree 4 in a^2 both, fitted to tanh on [0, 9] by least
// squares on the relative error reweighted toward minimax (at most 3e-7 in float
// arithmetic, under 3 ulp), with a clamped to [-9, 9] (beyond, tanh rounds to +-1 within
// an ulp); NaN passes through.  One division and ten multiply-adds: about twice as fast.
inline float tanh_rational(float a) {
    const float x = a > 9.0f ? 9.0f : (a < -9.0f ? -9.0f : a);
    const float x2 = x * x;
    float p = 1.33496404e-08f;
    p = p * x2 + 2.06053750e-05f;
    p = p * x2 + 3.49536138e-03f;
    p = p * x2 + 1.33808346e-01f;
    p = p * x2 + 9.99999979e-01f;
    float q = 7.77447432e-07f;
    q = q * x2 + 3.28526467e-04f;
    q = q * x2 + 2.58761192e-02f;
    q = q * x2 + 4.67141502e-01f;
    q = q * x2 + 1.0f;
    return x * p / q;
}

template <class T>
inline T tanh_v(T a) {
    if constexpr (sizeof(T) == 4) return tanh_rational(a);
    const T x = a < T(0) ? -a : a;
    const T e = simd::vexp<T>(T(-2) * x);
    const T big = (T(1) - e) / (T(1) + e);
    const T x2 = a * a;
    T p = T(21844.0 / 6081075.0);
    p = p * x2 + T(-1382.0 / 155925.0);
    p = p * x2 + T(62.0 / 2835.0);
    p = p * x2 + T(-17.0 / 315.0);
    p = p * x2 + T(2.0 / 15.0);
    p = p * x2 + T(-1.0 / 3.0);
    const T small = a + a * x2 * p;
    const T r = a < T(0) ? -big : big;
    return x < T(0.0625) ? small : r;
}

template <class T>
void activate(Act act, const T* __restrict a, std::size_t rows, std::size_t cols,
              T* __restrict h, std::size_t ldh) {
    for (std::size_t i = 0; i < rows; ++i) {
        const T* ar = a + i * cols;
        T* hr = h + i * ldh;
        if (act == Act::Tanh)
            for (std::size_t j = 0; j < cols; ++j) hr[j] = tanh_v(ar[j]);
        else
            for (std::size_t j = 0; j < cols; ++j) hr[j] = ar[j] > T(0) ? ar[j] : T(0);
    }
}

template <class T>
void act_grad(Act act, const T* __restrict h, std::size_t ldh, std::size_t rows,
              std::size_t cols, T* __restrict d, std::size_t ldd) {
    for (std::size_t i = 0; i < rows; ++i) {
        const T* hr = h + i * ldh;
        T* dr = d + i * ldd;
        if (act == Act::Tanh)
            for (std::size_t j = 0; j < cols; ++j) dr[j] = dr[j] * (T(1) - hr[j] * hr[j]);
        else
            for (std::size_t j = 0; j < cols; ++j) dr[j] = hr[j] > T(0) ? dr[j] : T(0);
    }
}

template <class T>
double softmax(T* Z, std::size_t B, std::size_t C, const std::int64_t* labels, double scale) {
    const losses::DenseSpec spec{losses::Dense::Softmax, 1.35};
    return losses::dense_loss_grad<T>(spec, Z, B, C, nullptr, labels, nullptr, nullptr, scale);
}

template <class T>
double sampled(T* Z, std::size_t B, std::size_t n, const std::int64_t* ids, const T* log_q,
               double scale) {
    return losses::sampled_loss_grad<T>(Z, B, n, ids, log_q, true, scale);
}

template <class T>
void table_rows(const T* table, std::size_t V, std::size_t H, const std::int64_t* ids,
                std::size_t c, std::size_t rows, const T* base, T* out, std::size_t ldo) {
    for (std::size_t i = 0; i < rows; ++i) {
        const std::int64_t* id = ids + i * c;
        T* o = out + i * ldo;
        for (std::size_t q = 0; q < H; ++q) o[q] = base[q];
        for (std::size_t j = 0; j < c; ++j)
            simd::axpy(T(1), table + (j * V + std::size_t(id[j])) * H, o, H);  // 1 x: exact
    }
}

template <class T>
void add_to(T* dst, const T* src, std::size_t n) {
    simd::axpy(T(1), src, dst, n);
}

template <class T>
double exp_weights(T* __restrict z, std::size_t V, T mx, T inv_t) {
    for (std::size_t v = 0; v < V; ++v) z[v] = simd::vexp<T>((z[v] - mx) * inv_t);
    double sum = 0.0;
    for (std::size_t v = 0; v < V; ++v) sum += double(z[v]);
    return sum;
}

}  // namespace
}  // namespace msopt::lm::rules
