// The inner loops of word2vec (one skip-gram pair, one CBOW window), included by its ISA
// translation unit (word2vec_isa.cpp).  Rows arrive as pointers, so the same loops serve
// the lock-free tables and the deterministic mode's private row copies.  Dot products run
// in simd/vec_math.hpp's 16 fixed lanes and the loss is losses/ns.hpp's negative
// sampling, so every ISA gives the same bits.  A frozen table (Options::freeze_in,
// freeze_out) is read and never written.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstring>

#include "../losses/ns.hpp"
#include "../simd/vec_math.hpp"
#include "word2vec.hpp"

namespace msopt::rules {
namespace {

using losses::LossSum;
using simd::axpy;
using simd::dot16;

// work += g * row, then row += g * x, in one pass over row.
inline void update_target(float g, const float* __restrict x, float* __restrict row,
                          float* __restrict work, std::size_t n) {
    for (std::size_t i = 0; i < n; ++i) {
        const float r = row[i];
        work[i] += g * r;
        row[i] = r + g * x[i];
    }
}

constexpr int kBlock = losses::kNsBlock;  // targets scored together (see targets_step)

// The targets of one example: rows[0] (label 1) and the negatives rows[1..n) (label 0)
// against the hidden vector h.  In blocks of up to kBlock targets, every score h . row is
// taken first, then the rows are updated in order (work += g row; row += g h): the scores
// are independent, so they run side by side instead of one long chain.  (word2vec and
// gensim take each score after the previous row's update; the two differ only when a
// negative is drawn twice.)  A frozen output table takes only work += g row.
inline void targets_step(const float* h, float* const* rows, int n, float alpha, float* work,
                         std::size_t dim, const w2v::Options& o, LossSum* lp) {
    float f[kBlock], g[kBlock];
    for (int d0 = 0; d0 < n; d0 += kBlock) {
        const int m = std::min(kBlock, n - d0);
        for (int d = 0; d < m; ++d) f[d] = dot16(h, rows[d0 + d], dim);
        losses::ns_grads(f, m, d0 == 0, alpha, o.table, lp, g);
        for (int d = 0; d < m; ++d) {  // g = 0 (a saturated sigmoid) changes nothing
            if (g[d] == 0.0f) continue;
            if (o.freeze_out)
                axpy(g[d], rows[d0 + d], work, dim);
            else
                update_target(g[d], h, rows[d0 + d], work, dim);
        }
    }
}

constexpr int kFused = 8;  // frozen outputs: the most targets frozen_pair takes

// Skip-gram with the output rows frozen (Doc2Vec's inference, a frozen syn1), n <= kFused:
// the scores of all targets in passes of up to 4 rows, then l1 += sum g row in one pass,
// without the work buffer; the bits of targets_step's frozen branch (its scores all come
// from the same l1, and work's sum runs in the same order).
double frozen_pair(float* l1, float* const* rows, int n, float alpha, std::size_t dim,
                   const w2v::Options& o) {
    LossSum loss;
    float f[kFused], g[kFused], gs[kFused];
    const float* rs[kFused];
    for (int d0 = 0; d0 < n; d0 += 4) {
        switch (std::min(4, n - d0)) {
            case 4: simd::dot16_rows<4>(l1, rows + d0, dim, f + d0); break;
            case 3: simd::dot16_rows<3>(l1, rows + d0, dim, f + d0); break;
            case 2: simd::dot16_rows<2>(l1, rows + d0, dim, f + d0); break;
            default: simd::dot16_rows<1>(l1, rows + d0, dim, f + d0);
        }
    }
    losses::ns_grads(f, n, true, alpha, o.table, o.loss ? &loss : nullptr, g);
    if (!o.freeze_in) {
        int m = 0;  // g = 0 (a saturated sigmoid) adds nothing, as in targets_step
        for (int d = 0; d < n; ++d)
            if (g[d] != 0.0f) {
                gs[m] = g[d];
                rs[m++] = rows[d];
            }
        switch (m) {
            case 8: simd::add_rows<8>(gs, rs, l1, dim); break;
            case 7: simd::add_rows<7>(gs, rs, l1, dim); break;
            case 6: simd::add_rows<6>(gs, rs, l1, dim); break;
            case 5: simd::add_rows<5>(gs, rs, l1, dim); break;
            case 4: simd::add_rows<4>(gs, rs, l1, dim); break;
            case 3: simd::add_rows<3>(gs, rs, l1, dim); break;
            case 2: simd::add_rows<2>(gs, rs, l1, dim); break;
            case 1: simd::add_rows<1>(gs, rs, l1, dim); break;
            default: break;
        }
    }
    return o.loss ? loss.value() : 0.0;
}

// Skip-gram: the input row l1 predicts the word and not the negatives; l1 takes the
// summed gradient at the end.
double w2v_pair(float* l1, float* const* rows, int n, float alpha, float* work,
                std::size_t dim, const w2v::Options& o) {
    if (o.freeze_out && n <= kFused) return frozen_pair(l1, rows, n, alpha, dim, o);
    LossSum loss;
    std::fill(work, work + dim, 0.0f);
    targets_step(l1, rows, n, alpha, work, dim, o, o.loss ? &loss : nullptr);
    if (!o.freeze_in) axpy(1.0f, work, l1, dim);
    return o.loss ? loss.value() : 0.0;
}

// CBOW: the sum (or mean) of the context rows predicts the word; the hidden gradient goes
// to every context row (divided by the count for a sum, as gensim does).
double w2v_cbow(float* const* ctx, int n_ctx, bool mean, float* const* rows, int n,
                float alpha, float* neu1, float* work, std::size_t dim, const w2v::Options& o) {
    LossSum loss;
    std::fill(neu1, neu1 + dim, 0.0f);
    std::fill(work, work + dim, 0.0f);
    for (int c = 0; c < n_ctx; ++c) axpy(1.0f, ctx[c], neu1, dim);
    const float inv = 1.0f / float(n_ctx);
    if (mean) simd::scale(inv, neu1, dim);
    targets_step(neu1, rows, n, alpha, work, dim, o, o.loss ? &loss : nullptr);
    if (o.freeze_in) return o.loss ? loss.value() : 0.0;
    if (!mean) simd::scale(inv, work, dim);
    for (int c = 0; c < n_ctx; ++c) axpy(1.0f, work, ctx[c], dim);
    return o.loss ? loss.value() : 0.0;
}

}  // namespace
}  // namespace msopt::rules
