// The inner loops of word2vec (one skip-gram pair, one CBOW window), included by each ISA
// translation unit like update_rules.hpp.  Rows arrive as pointers, so the same loops
// serve the lock-free tables and the deterministic mode's private row copies.  Sums run
// in 16 fixed lanes, so every ISA gives the same bits.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstring>

#include "linear_rules.hpp"  // vexp
#include "word2vec.hpp"

namespace msopt::rules {
namespace {

// 16 float lanes: one register with AVX-512, two with AVX2, four with SSE2.
typedef float W2vF16 __attribute__((vector_size(64)));
typedef float W2vF8 __attribute__((vector_size(32)));
typedef float W2vF4 __attribute__((vector_size(16)));

// Lane j sums a[i] * b[i] for i = j (mod 16) over the whole 16-blocks, in order; the lanes
// are added in a fixed tree (j + 8, j + 4, j + 2, j + 1); the tail's products, summed in
// order, come last.  reference._dot16 does the same.  (Adding the tail into the lanes
// through memory would stall on store forwarding, at a third of the kernel's time.)
inline float dot16(const float* __restrict a, const float* __restrict b, std::size_t n) {
    W2vF16 acc = {};
    std::size_t i = 0;
    for (; i + 16 <= n; i += 16) {
        W2vF16 x, y;
        std::memcpy(&x, a + i, sizeof x);
        std::memcpy(&y, b + i, sizeof y);
        acc += x * y;
    }
    float tail = 0.0f;
    for (; i < n; ++i) tail += a[i] * b[i];
    const W2vF8 t8 = __builtin_shufflevector(acc, acc, 0, 1, 2, 3, 4, 5, 6, 7) +
                     __builtin_shufflevector(acc, acc, 8, 9, 10, 11, 12, 13, 14, 15);
    const W2vF4 t4 = __builtin_shufflevector(t8, t8, 0, 1, 2, 3) +
                     __builtin_shufflevector(t8, t8, 4, 5, 6, 7);
    return ((t4[0] + t4[2]) + (t4[1] + t4[3])) + tail;
}

inline void axpy(float a, const float* __restrict x, float* __restrict y, std::size_t n) {
    for (std::size_t i = 0; i < n; ++i) y[i] += a * x[i];
}

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
