// Loops of the linear layer, included by each ISA translation unit (like update_rules.hpp):
// register-tiled forward/backward for narrow outputs, CSR forward/backward, the fused
// losses, the L1 prox.  Other dense products go to BLAS.
#pragma once

#include <cmath>
#include <cstdint>
#include <cstring>
#include <type_traits>

#include "linear.hpp"

namespace msopt::rules {
namespace {

// exp(x) to ~2 ulp with a loop the compiler vectorizes: x = n ln2 + r, |r| <= ln2/2,
// exp(r) by a polynomial, 2^n through the exponent bits.  NaN stays NaN; inputs below the
// normal range give 0 and those near the top of it +Inf (a little early: the softmax only
// passes x <= 0).
template <class T>
inline T vexp(T x) {
    using I = std::conditional_t<sizeof(T) == 4, std::int32_t, std::int64_t>;
    constexpr bool F = sizeof(T) == 4;
    constexpr T hi = F ? T(88.72) : T(709.78);
    constexpr T lo = F ? T(-87.3) : T(-708.39);
    const bool over = x > hi;
    T xc = x < lo ? lo : (over ? hi : x);
    const T n = std::floor(xc * T(1.4426950408889634) + T(0.5));
    T r = xc - n * T(0.693145751953125);
    r = r - n * T(1.42860682030941723212e-6);
    T p;
    if constexpr (F) {
        p = T(1.9875691500e-4);
        p = p * r + T(1.3981999507e-3);
        p = p * r + T(8.3334519073e-3);
        p = p * r + T(4.1665795894e-2);
        p = p * r + T(1.6666665459e-1);
        p = p * r + T(5.0000001201e-1);
        p = p * r * r + r + T(1);
    } else {
        p = T(1.0 / 39916800);
        p = p * r + T(1.0 / 3628800);
        p = p * r + T(1.0 / 362880);
        p = p * r + T(1.0 / 40320);
        p = p * r + T(1.0 / 5040);
        p = p * r + T(1.0 / 720);
        p = p * r + T(1.0 / 120);
        p = p * r + T(1.0 / 24);
        p = p * r + T(1.0 / 6);
        p = p * r + T(0.5);
        p = p * r * r + r + T(1);
    }
    const I bits = (I(n) + I(F ? 127 : 1023)) << (F ? 23 : 52);
    T scale;
    std::memcpy(&scale, &bits, sizeof(T));
    T out = p * scale;
    if (x < lo) out = T(0);
    if (over) out = T(INFINITY);
    return x != x ? x : out;
}

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

// Replaces the scores Z (B x C) by dLoss/dZ of the mean weighted loss (scaled by `scale`,
// 1/B), and returns the weighted loss summed over the batch (double).
template <class T>
double loss_grad(const linear::LossSpec& spec, T* Z, std::size_t B, std::size_t C,
                 const T* y, const std::int64_t* label, const std::int64_t* rows, const T* sw,
                 double scale) {
    double total = 0.0;
    const T eps = T(spec.huber_eps);
    // Softmax without weights: log(sum of exps) of 16 rows at once, as the log of their
    // product (each sum is in [1, C], so 16 of them stay far from overflow): one log call
    // per 16 rows instead of one per row.
    double prod = 1.0;
    int pending = 0;
    for (std::size_t i = 0; i < B; ++i) {
        const std::size_t r = rows ? std::size_t(rows[i]) : i;
        const T w = sw ? sw[r] : T(1);
        const T gs = T(double(w) * scale);
        T* __restrict z = Z + i * C;
        double li = 0.0;
        switch (spec.loss) {
            case linear::Loss::Squared: {
                const T* yr = y + r * C;
                for (std::size_t c = 0; c < C; ++c) {
                    const T res = z[c] - yr[c];
                    li += 0.5 * double(res) * double(res);
                    z[c] = res * gs;
                }
                break;
            }
            case linear::Loss::Huber: {
                const T* yr = y + r * C;
                for (std::size_t c = 0; c < C; ++c) {
                    const T res = z[c] - yr[c];
                    const T a = std::fabs(res);
                    if (a <= eps) {
                        li += 0.5 * double(res) * double(res);
                        z[c] = res * gs;
                    } else {
                        li += double(eps) * double(a) - 0.5 * double(eps) * double(eps);
                        z[c] = (res > 0 ? eps : -eps) * gs;
                    }
                }
                break;
            }
            case linear::Loss::Logistic: {  // C == 1, label in {0, 1}
                const T s = label[r] ? T(1) : T(-1);
                const double m = double(s) * double(z[0]);
                li = m > 0 ? std::log1p(std::exp(-m)) : -m + std::log1p(std::exp(m));
                z[0] = T(-double(s) / (1.0 + std::exp(m))) * gs;
                break;
            }
            case linear::Loss::Softmax: {
                const std::size_t yc = std::size_t(label[r]);
                const double zy = double(z[yc]);
                T mx = z[0];
                for (std::size_t c = 1; c < C; ++c) mx = z[c] > mx ? z[c] : mx;
                T sum = T(0);
                for (std::size_t c = 0; c < C; ++c) {
                    const T e = vexp<T>(z[c] - mx);
                    z[c] = e;
                    sum += e;
                }
                const T inv = gs / sum;
                for (std::size_t c = 0; c < C; ++c) z[c] = z[c] * inv;
                z[yc] -= gs;
                if (sw) {
                    li = double(mx) + double(std::log(sum)) - zy;
                } else {
                    li = double(mx) - zy;
                    prod *= double(sum);
                    if (++pending == 16) {
                        total += std::log(prod);
                        prod = 1.0;
                        pending = 0;
                    }
                }
                break;
            }
            case linear::Loss::Hinge: {  // one-vs-rest; C == 1 is binary with label 0/1
                const std::size_t yc = std::size_t(label[r]);
                for (std::size_t c = 0; c < C; ++c) {
                    const bool pos = C == 1 ? yc == 1 : c == yc;
                    const T s = pos ? T(1) : T(-1);
                    const T margin = s * z[c];
                    if (margin < T(1)) {
                        li += double(T(1) - margin);
                        z[c] = -s * gs;
                    } else {
                        z[c] = T(0);
                    }
                }
                break;
            }
        }
        total += double(w) * li;
    }
    if (pending) total += std::log(prod);
    return total;
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
