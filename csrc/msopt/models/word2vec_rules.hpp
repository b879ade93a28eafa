// The inner loops of word2vec (one skip-gram pair, one CBOW window), included by each ISA
// translation unit like update_rules.hpp.  Rows arrive as pointers, so the same loops
// serve the lock-free tables and the deterministic mode's private row copies.  Dot
// products run in vec_rules.hpp's 16 fixed lanes, so every ISA gives the same bits.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstring>

#include "../linear/linear_rules.hpp"  // vexp
#include "../simd/vec_rules.hpp"     // dot16, axpy
#include "word2vec.hpp"

namespace msopt::rules {
namespace {

// work += g * row, then row += g * x, in one pass over row.
inline void update_target(float g, const float* __restrict x, float* __restrict row,
                          float* __restrict work, std::size_t n) {
    for (std::size_t i = 0; i < n; ++i) {
        const float r = row[i];
        work[i] += g * r;
        row[i] = r + g * x[i];
    }
}

// The loss of a call's targets, -sum log sigmoid(z) with z = +-f, as
// log(prod(1 + exp(-|z|))) + sum max(-z, 0): one log per call, as each factor is in
// (1, 2] the product is folded into the sum only past 1e300.
struct LossSum {
    double prod = 1.0, linear = 0.0;
    double value() const { return std::log(prod) + linear; }
};

constexpr int kBlock = 32;  // targets scored together (see targets_step)

// The gradient scales g[d] = (label - sigmoid(f[d])) * alpha of m targets (label 1 for
// d = 0 when first_positive, else 0), and their exact loss into *loss when not null.
// sigmoid(f) is exp(-|f|) / (1 + exp(-|f|)) or its complement, the exponential from the
// vectorized vexp; with a table, word2vec's 1000 entries over [-6, 6], saturating outside.
inline void target_grads(const float* f, int m, bool first_positive, float alpha,
                         const w2v::Sigmoid& s, LossSum* loss, float* g) {
    float e[kBlock];
    if (!s.table || loss)
        for (int d = 0; d < m; ++d) e[d] = vexp(-std::fabs(f[d]));
    for (int d = 0; d < m; ++d) {
        float sig;
        if (!s.table)
            sig = f[d] >= 0 ? 1.0f / (1.0f + e[d]) : e[d] / (1.0f + e[d]);
        else if (!(f[d] < w2v::kMaxExp))  // NaN saturates too: no index from it
            sig = 1.0f;
        else if (!(f[d] > -w2v::kMaxExp))
            sig = 0.0f;
        else  // f just below 6 rounds to index kTableSize: the last entry stands for it
            sig = s.table[std::min(
                int((f[d] + w2v::kMaxExp) * (w2v::kTableSize / w2v::kMaxExp / 2)),
                w2v::kTableSize - 1)];
        g[d] = ((d == 0 && first_positive ? 1.0f : 0.0f) - sig) * alpha;
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

// The targets of one example: rows[0] (label 1) and the negatives rows[1..n) (label 0)
// against the hidden vector h.  In blocks of up to kBlock targets, every score h . row is
// taken first, then the rows are updated in order (work += g row; row += g h): the scores
// are independent, so they run side by side instead of one long chain.  (word2vec and
// gensim take each score after the previous row's update; the two differ only when a
// negative is drawn twice.)
inline void targets_step(const float* h, float* const* rows, int n, float alpha, float* work,
                         std::size_t dim, const w2v::Sigmoid& s, LossSum* lp) {
    float f[kBlock], g[kBlock];
    for (int d0 = 0; d0 < n; d0 += kBlock) {
        const int m = std::min(kBlock, n - d0);
        for (int d = 0; d < m; ++d) f[d] = dot16(h, rows[d0 + d], dim);
        target_grads(f, m, d0 == 0, alpha, s, lp, g);
        for (int d = 0; d < m; ++d)  // g = 0 (a saturated sigmoid) changes nothing
            if (g[d] != 0.0f) update_target(g[d], h, rows[d0 + d], work, dim);
    }
}

// Skip-gram: the input row l1 predicts the word and not the negatives; l1 takes the
// summed gradient at the end.
double w2v_pair(float* l1, float* const* rows, int n, float alpha, float* work,
                std::size_t dim, const w2v::Sigmoid& s) {
    LossSum loss;
    std::fill(work, work + dim, 0.0f);
    targets_step(l1, rows, n, alpha, work, dim, s, s.loss ? &loss : nullptr);
    axpy(1.0f, work, l1, dim);
    return s.loss ? loss.value() : 0.0;
}

// CBOW: the sum (or mean) of the context rows predicts the word; the hidden gradient goes
// to every context row (divided by the count for a sum, as gensim does).
double w2v_cbow(float* const* ctx, int n_ctx, bool mean, float* const* rows, int n,
                float alpha, float* neu1, float* work, std::size_t dim,
                const w2v::Sigmoid& s) {
    LossSum loss;
    std::fill(neu1, neu1 + dim, 0.0f);
    std::fill(work, work + dim, 0.0f);
    for (int c = 0; c < n_ctx; ++c) axpy(1.0f, ctx[c], neu1, dim);
    const float inv = 1.0f / float(n_ctx);
    if (mean)
        for (std::size_t i = 0; i < dim; ++i) neu1[i] *= inv;
    targets_step(neu1, rows, n, alpha, work, dim, s, s.loss ? &loss : nullptr);
    if (!mean)
        for (std::size_t i = 0; i < dim; ++i) work[i] *= inv;
    for (int c = 0; c < n_ctx; ++c) axpy(1.0f, work, ctx[c], dim);
    return s.loss ? loss.value() : 0.0;
}

}  // namespace
}  // namespace msopt::rules
