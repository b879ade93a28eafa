// Negative sampling (losses.hpp): one positive target and k negatives, each scored by a
// sigmoid; word2vec's block form and the text classifier's one-target form.  Included by
// the ISA units that use them (unnamed namespace: every ISA keeps its own copy).
#pragma once

#include <algorithm>
#include <cmath>

#include "../simd/vec_math.hpp"

namespace msopt::losses {
namespace {

// The loss of a call's targets, -sum log sigmoid(z) with z = +-f, as
// log(prod(1 + exp(-|z|))) + sum max(-z, 0): one log per call, as each factor is in
// (1, 2] the product is folded into the sum only past 1e300.
struct LossSum {
    double prod = 1.0, linear = 0.0;
    double value() const { return std::log(prod) + linear; }
};

constexpr int kNsBlock = 32;  // the most targets ns_grads takes at once

constexpr int kNsLanes = 8;  // the scores' vector width in ns_grads_lanes
static_assert(kNsBlock % kNsLanes == 0);

// The gradient scales g[d] = (label - sigmoid(f[d])) * alpha of m <= kNsBlock targets
// (label 1 for d = 0 when first_positive, else 0), and their exact loss into *loss when
// not null.  sigmoid(f) is exp(-|f|) / (1 + exp(-|f|)) or its complement, the exponential
// from the vectorized vexp; with a table, word2vec's 1000 entries over [-6, 6), saturating
// outside.  alpha = -1 gives dLoss/df.
//
// This form takes f in whole blocks of kNsLanes, 32-byte aligned, the lanes past m zero:
// its loops have a fixed trip count and run as vectors, with no branch on a score's sign
// (a coin flip for the negatives); each element has the bits of the scalar loop.
inline void ns_grads_lanes(const float* f, int m, bool first_positive, float alpha,
                           const float* table, LossSum* loss, float* g) {
    alignas(32) float e[kNsBlock];
    const int padded = (m + kNsLanes - 1) / kNsLanes * kNsLanes;
    if (!table || loss)
        for (int d0 = 0; d0 < padded; d0 += kNsLanes)
            for (int d = d0; d < d0 + kNsLanes; ++d) e[d] = simd::vexp(-std::fabs(f[d]));
    if (table) {
        for (int d = 0; d < m; ++d)
            g[d] = ((d == 0 && first_positive ? 1.0f : 0.0f) -
                    simd::sigmoid_table(table, f[d])) * alpha;
    } else {
        alignas(32) float s[kNsBlock];
        for (int d0 = 0; d0 < padded; d0 += kNsLanes)
            for (int d = d0; d < d0 + kNsLanes; ++d) s[d] = simd::sigmoid_from_exp(f[d], e[d]);
        for (int d = 0; d < m; ++d)
            g[d] = ((d == 0 && first_positive ? 1.0f : 0.0f) - s[d]) * alpha;
    }
    if (!loss) return;
    for (int d = 0; d < m; ++d) {  // -log sigmoid(z), z = f for the word and -f otherwise
        const float z = d == 0 && first_positive ? f[d] : -f[d];
        loss->prod *= 1.0 + double(e[d]);
        loss->linear += double(std::max(-z, 0.0f));
    }
    if (loss->prod > 1e300) {  // only with hundreds of negatives
        loss->linear += std::log(loss->prod);
        loss->prod = 1.0;
    }
}

// ns_grads_lanes of any m <= kNsBlock scores (copied into padded blocks first).
inline void ns_grads(const float* f, int m, bool first_positive, float alpha,
                     const float* table, LossSum* loss, float* g) {
    alignas(32) float x[kNsBlock];
    const int padded = (m + kNsLanes - 1) / kNsLanes * kNsLanes;
    for (int d = 0; d < padded; ++d) x[d] = d < m ? f[d] : 0.0f;
    ns_grads_lanes(x, m, first_positive, alpha, table, loss, g);
}

// Negative sampling over a batch: Z (B x n), column 0 the positive; Z becomes dLoss/dZ.
inline double ns_loss_grad(float* Z, std::size_t B, std::size_t n, const float* table) {
    double total = 0.0;
    float g[kNsBlock];
    for (std::size_t i = 0; i < B; ++i) {
        LossSum loss;
        float* z = Z + i * n;
        for (std::size_t d0 = 0; d0 < n; d0 += kNsBlock) {
            const int m = int(std::min<std::size_t>(kNsBlock, n - d0));
            ns_grads(z + d0, m, d0 == 0, -1.0f, table, &loss, g);
            std::copy(g, g + m, z + d0);
        }
        total += loss.value();
    }
    return total;
}

// One logistic target of the text classifier (fastText's binaryLogistic): returns
// lr (label - sigmoid(s)) with the exact sigmoid in float, and its loss -log sigmoid(+-s)
// (in double) into *loss.
inline float logistic_target(float s, bool positive, float lr, double* loss) {
    *loss = -simd::log_sigmoid(positive ? double(s) : -double(s));
    return lr * ((positive ? 1.0f : 0.0f) - simd::sigmoid(s));
}

}  // namespace
}  // namespace msopt::losses
