// The inner loops of word2vec (one skip-gram pair, one CBOW window), included by each ISA
// translation unit like update_rules.hpp.  Rows arrive as pointers, so the same loops
// serve the lock-free tables and the deterministic mode's private row copies.  Sums run
// in 16 fixed lanes, so every ISA gives the same bits.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstddef>

#include "word2vec.hpp"

namespace msopt::rules {
namespace {

inline float dot16(const float* __restrict a, const float* __restrict b, std::size_t n) {
    float acc[16] = {};
    std::size_t i = 0;
    for (; i + 16 <= n; i += 16)
        for (std::size_t j = 0; j < 16; ++j) acc[j] += a[i + j] * b[i + j];
    for (std::size_t j = 0; i < n; ++i, ++j) acc[j] += a[i] * b[i];
    for (std::size_t w = 8; w >= 1; w /= 2)
        for (std::size_t j = 0; j < w; ++j) acc[j] += acc[j + w];
    return acc[0];
}

inline void axpy(float a, const float* __restrict x, float* __restrict y, std::size_t n) {
    for (std::size_t i = 0; i < n; ++i) y[i] += a * x[i];
}

// The loss of a call's targets, -sum log sigmoid(z) with z = +-f, as
// log(prod(1 + exp(-|z|))) + sum max(-z, 0): one log per call, as each factor is in
// (1, 2] the product is folded into the sum only past 1e300.
struct LossSum {
    double prod = 1.0, linear = 0.0;
    double value() const { return std::log(prod) + linear; }
};

// The gradient scale (label - sigmoid(f)) * alpha of one target, and its exact loss
// (into *loss when loss is not null).  With a table, sigmoid(f) comes from word2vec's
// 1000-entry table over [-6, 6], saturating outside it.
inline float target_grad(float f, float label, float alpha, const w2v::Sigmoid& s,
                         LossSum* loss) {
    float sig, e = 0.0f;
    if (s.table) {
        if (f >= w2v::kMaxExp)
            sig = 1.0f;
        else if (f <= -w2v::kMaxExp)
            sig = 0.0f;
        else
            sig = s.table[int((f + w2v::kMaxExp) * (w2v::kTableSize / w2v::kMaxExp / 2))];
        if (loss) e = std::exp(-std::fabs(f));
    } else {
        const float ef = std::exp(-f);
        sig = 1.0f / (1.0f + ef);
        e = f >= 0 ? ef : 1.0f / ef;  // exp(-|f|)
    }
    if (loss) {
        const float z = label > 0 ? f : -f;
        loss->prod *= 1.0 + double(e);
        loss->linear += double(std::max(-z, 0.0f));
        if (loss->prod > 1e300) {  // only with hundreds of negatives
            loss->linear += std::log(loss->prod);
            loss->prod = 1.0;
        }
    }
    return (label - sig) * alpha;
}

// Skip-gram: the input row l1 against rows[0] (the word, label 1) and rows[1..n) (the
// negatives, label 0); the output rows are updated as they go, l1 at the end.
double w2v_pair(float* l1, float* const* rows, int n, float alpha, float* work,
                std::size_t dim, const w2v::Sigmoid& s) {
    LossSum loss;
    LossSum* lp = s.loss ? &loss : nullptr;
    std::fill(work, work + dim, 0.0f);
    for (int d = 0; d < n; ++d) {
        float* l2 = rows[d];
        const float g = target_grad(dot16(l1, l2, dim), d == 0 ? 1.0f : 0.0f, alpha, s, lp);
        axpy(g, l2, work, dim);
        axpy(g, l1, l2, dim);
    }
    axpy(1.0f, work, l1, dim);
    return s.loss ? loss.value() : 0.0;
}

// CBOW: the sum (or mean) of the context rows predicts rows[0] against the negatives; the
// hidden gradient goes to every context row (divided by the count for a sum, as gensim).
double w2v_cbow(float* const* ctx, int n_ctx, bool mean, float* const* rows, int n,
                float alpha, float* neu1, float* work, std::size_t dim,
                const w2v::Sigmoid& s) {
    LossSum loss;
    LossSum* lp = s.loss ? &loss : nullptr;
    std::fill(neu1, neu1 + dim, 0.0f);
    std::fill(work, work + dim, 0.0f);
    for (int c = 0; c < n_ctx; ++c) axpy(1.0f, ctx[c], neu1, dim);
    const float inv = 1.0f / float(n_ctx);
    if (mean)
        for (std::size_t i = 0; i < dim; ++i) neu1[i] *= inv;
    for (int d = 0; d < n; ++d) {
        float* l2 = rows[d];
        const float g = target_grad(dot16(neu1, l2, dim), d == 0 ? 1.0f : 0.0f, alpha, s, lp);
        axpy(g, l2, work, dim);
        axpy(g, neu1, l2, dim);
    }
    if (!mean)
        for (std::size_t i = 0; i < dim; ++i) work[i] *= inv;
    for (int c = 0; c < n_ctx; ++c) axpy(1.0f, work, ctx[c], dim);
    return s.loss ? loss.value() : 0.0;
}

}  // namespace
}  // namespace msopt::rules
