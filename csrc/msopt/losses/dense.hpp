// The dense losses (losses.hpp), one row at a time and over a batch, and the text
// classifier's softmax.  Included by the ISA units that use them (in an unnamed namespace:
// every ISA keeps its own copy).  The operation order is the one the NumPy references and
// the earlier copies in linear_rules.hpp and fasttext_rules.hpp used: the same bits.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstdint>

#include "../simd/vec_math.hpp"
#include "losses.hpp"

namespace msopt::losses {
namespace {

// Each *_row replaces the scores z of one example by their gradient times gs and returns
// the example's loss (double).

template <class T>
inline double squared_row(T* __restrict z, const T* yr, std::size_t C, T gs) {
    double li = 0.0;
    for (std::size_t c = 0; c < C; ++c) {
        const T res = z[c] - yr[c];
        li += 0.5 * double(res) * double(res);
        z[c] = res * gs;
    }
    return li;
}

template <class T>
inline double huber_row(T* __restrict z, const T* yr, std::size_t C, T eps, T gs) {
    double li = 0.0;
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
    return li;
}

// One score, label 0/1: -log sigmoid(s z) with s = +-1, in double.
template <class T>
inline double logistic_row(T* z, bool positive, T gs) {
    const T s = positive ? T(1) : T(-1);
    const double m = double(s) * double(z[0]);
    const double li = -simd::log_sigmoid(m);
    z[0] = T(-double(s) / (1.0 + std::exp(m))) * gs;
    return li;
}

// Softmax cross-entropy without its log: z becomes (softmax(z) - onehot(yc)) gs, with the
// exponentials from the vectorized vexp; the loss is mx + log(sum) - zy, left to the
// caller (the batch takes the logs of 16 rows at once).
template <class T>
struct SoftmaxRow {
    T mx, sum;
    double zy;
};
template <class T>
inline SoftmaxRow<T> softmax_row(T* __restrict z, std::size_t C, std::size_t yc, T gs) {
    const double zy = double(z[yc]);
    T mx = z[0];
    for (std::size_t c = 1; c < C; ++c) mx = z[c] > mx ? z[c] : mx;
    T sum = T(0);
    for (std::size_t c = 0; c < C; ++c) {
        const T e = simd::vexp<T>(z[c] - mx);
        z[c] = e;
        sum += e;
    }
    const T inv = gs / sum;
    for (std::size_t c = 0; c < C; ++c) z[c] = z[c] * inv;
    z[yc] -= gs;
    return {mx, sum, zy};
}

// One-vs-rest hinge; C == 1 is binary with label 0/1.
template <class T>
inline double hinge_row(T* __restrict z, std::size_t C, std::size_t yc, T gs) {
    double li = 0.0;
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
    return li;
}

// Replaces the scores Z (B x C) by dLoss/dZ of the weighted loss (scaled by `scale`, 1/B
// for the linear layer's mean), and returns the weighted loss summed over the batch.
template <class T>
double dense_loss_grad(const DenseSpec& spec, T* Z, std::size_t B, std::size_t C, const T* y,
                       const std::int64_t* label, const std::int64_t* rows, const T* sw,
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
        T* z = Z + i * C;
        double li = 0.0;
        switch (spec.loss) {
            case Dense::Squared:
                li = squared_row(z, y + r * C, C, gs);
                break;
            case Dense::Huber:
                li = huber_row(z, y + r * C, C, eps, gs);
                break;
            case Dense::Logistic:  // C == 1, label in {0, 1}
                li = logistic_row(z, label[r] != 0, gs);
                break;
            case Dense::Softmax: {
                const SoftmaxRow<T> s = softmax_row(z, C, std::size_t(label[r]), gs);
                if (sw) {
                    li = double(s.mx) + double(std::log(s.sum)) - s.zy;
                } else {
                    li = double(s.mx) - s.zy;
                    prod *= double(s.sum);
                    if (++pending == 16) {
                        total += std::log(prod);
                        prod = 1.0;
                        pending = 0;
                    }
                }
                break;
            }
            case Dense::Hinge:
                li = hinge_row(z, C, std::size_t(label[r]), gs);
                break;
        }
        total += double(w) * li;
    }
    if (pending) total += std::log(prod);
    return total;
}

// The text classifier's softmax: p (n scores) becomes softmax(p), the exponentials from
// libm's exp in float and their sum in double; returns log sum_k exp(p_k) (double).
inline double softmax_probs(float* __restrict p, std::size_t n) {
    float mx = -INFINITY;
    for (std::size_t k = 0; k < n; ++k) mx = std::max(mx, p[k]);
    double sum = 0.0;
    for (std::size_t k = 0; k < n; ++k) {
        p[k] = std::exp(p[k] - mx);
        sum += double(p[k]);
    }
    for (std::size_t k = 0; k < n; ++k) p[k] = float(double(p[k]) / sum);
    return std::log(sum) + double(mx);
}

}  // namespace
}  // namespace msopt::losses
