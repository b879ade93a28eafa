// The inner loops of word2vec (one skip-gram pair, one CBOW window), included by each ISA
// translation unit like update_rules.hpp.  Rows arrive as pointers, so the same loops
// serve the lock-free tables and the deterministic mode's private row copies.  Sums run
// in 16 fixed lanes, so every ISA gives the same bits.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstring>

#include "word2vec.hpp"

namespace msopt::rules {
namespace {

// 16 float lanes: one register with AVX-512, two with AVX2, four with SSE2.
typedef float W2vF16 __attribute__((vector_size(64)));
typedef float W2vF8 __attribute__((vector_size(32)));
typedef float W2vF4 __attribute__((vector_size(16)));

// Lane j sums a[i] * b[i] for i = j (mod 16) in order; the lanes are then added in a
// fixed tree (j + 8, j + 4, j + 2, j + 1): reference._dot16 does the same.
inline float dot16(const float* __restrict a, const float* __restrict b, std::size_t n) {
    W2vF16 acc = {};
    std::size_t i = 0;
    for (; i + 16 <= n; i += 16) {
        W2vF16 x, y;
        std::memcpy(&x, a + i, sizeof x);
        std::memcpy(&y, b + i, sizeof y);
        acc += x * y;
    }
    if (i < n) {  // the tail, zero-padded
        W2vF16 x = {}, y = {};
        std::memcpy(&x, a + i, (n - i) * sizeof(float));
        std::memcpy(&y, b + i, (n - i) * sizeof(float));
        acc += x * y;
    }
    const W2vF8 s8 = __builtin_shufflevector(acc, acc, 0, 1, 2, 3, 4, 5, 6, 7) +
                     __builtin_shufflevector(acc, acc, 8, 9, 10, 11, 12, 13, 14, 15);
    const W2vF4 s4 = __builtin_shufflevector(s8, s8, 0, 1, 2, 3) +
                     __builtin_shufflevector(s8, s8, 4, 5, 6, 7);
    const float s2a = s4[0] + s4[2], s2b = s4[1] + s4[3];
    return s2a + s2b;
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

// Asks for a row's cache lines ahead of its use (the rows are scattered over the table).
inline void prefetch_row(const float* row, std::size_t dim) {
    for (std::size_t i = 0; i < dim; i += 16) __builtin_prefetch(row + i, 1);
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
        if (d + 1 < n) prefetch_row(rows[d + 1], dim);
        const float g = target_grad(dot16(l1, l2, dim), d == 0 ? 1.0f : 0.0f, alpha, s, lp);
        update_target(g, l1, l2, work, dim);
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
        if (d + 1 < n) prefetch_row(rows[d + 1], dim);
        const float g = target_grad(dot16(neu1, l2, dim), d == 0 ? 1.0f : 0.0f, alpha, s, lp);
        update_target(g, neu1, l2, work, dim);
    }
    if (!mean)
        for (std::size_t i = 0; i < dim; ++i) work[i] *= inv;
    for (int c = 0; c < n_ctx; ++c) axpy(1.0f, work, ctx[c], dim);
    return s.loss ? loss.value() : 0.0;
}

}  // namespace
}  // namespace msopt::rules
