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

constexpr int kFused = w2v::kFrozenTargets;  // frozen outputs: the most targets frozen_pair takes

// The dot16 scores of h with rows[0, n), 1 <= n <= 4, as the lanes of a vector.
inline simd::F4 scores4(const float* h, float* const* rows, int n, std::size_t dim) {
    switch (n) {
        case 4: return simd::dot16_rows4<4>(h, rows, dim);
        case 3: return simd::dot16_rows4<3>(h, rows, dim);
        case 2: return simd::dot16_rows4<2>(h, rows, dim);
        default: return simd::dot16_rows4<1>(h, rows, dim);
    }
}

// The scores of frozen_pair's n <= kFused targets, lanes past n zero, stored at once (the
// gradient step reads them as a vector).
void frozen_scores(const float* l1, float* const* rows, int n, std::size_t dim, float* f) {
    static_assert(kFused == 2 * 4 && losses::kNsLanes == kFused);
    const simd::F4 lo = scores4(l1, rows, std::min(n, 4), dim);
    const simd::F4 hi = n > 4 ? scores4(l1, rows + 4, n - 4, dim) : simd::F4{};
    const simd::F8 all = __builtin_shufflevector(lo, hi, 0, 1, 2, 3, 4, 5, 6, 7);
    std::memcpy(f, &all, sizeof all);
}

// l1 += sum g[d] rows[d], d in [0, m), m <= kFused, in one pass (add_rows).
inline void gs_rows(float* l1, const float* const* rows, int m, const float* g,
                    std::size_t dim) {
    switch (m) {
        case 8: simd::add_rows<8>(g, rows, l1, dim); break;
        case 7: simd::add_rows<7>(g, rows, l1, dim); break;
        case 6: simd::add_rows<6>(g, rows, l1, dim); break;
        case 5: simd::add_rows<5>(g, rows, l1, dim); break;
        case 4: simd::add_rows<4>(g, rows, l1, dim); break;
        case 3: simd::add_rows<3>(g, rows, l1, dim); break;
        case 2: simd::add_rows<2>(g, rows, l1, dim); break;
        case 1: simd::add_rows<1>(g, rows, l1, dim); break;
        default: break;
    }
}

// l1 += sum g[d] rows[d] over the targets with g != 0 (a saturated sigmoid adds nothing,
// as in targets_step), in one pass.
inline void frozen_update(float* l1, float* const* rows, int n, const float* g,
                          std::size_t dim) {
    float gs[kFused];
    const float* rs[kFused];
    int m = 0;
    for (int d = 0; d < n; ++d)
        if (g[d] != 0.0f) {
            gs[m] = g[d];
            rs[m++] = rows[d];
        }
    gs_rows(l1, rs, m, gs, dim);
}

// Up to kPairs frozen_pair calls on different vectors (documents of an inference), stage
// by stage side by side.  A document's examples form one long chain of latencies (its
// vector is read by the scores and written by the update), which the core runs far below
// its throughput; issued together, the chains overlap.  Each call keeps the bits it has
// alone.
template <int N>
void frozen_pairs_n(const w2v::PairCall* c, std::size_t dim, double* loss) {
    LossSum l[N];
    alignas(32) float f[N][kFused];
    float g[N][kFused];
#pragma GCC unroll 4
    for (int j = 0; j < N; ++j) frozen_scores(c[j].l1, c[j].rows, c[j].n, dim, f[j]);
#pragma GCC unroll 4
    for (int j = 0; j < N; ++j)
        losses::ns_grads_lanes(f[j], c[j].n, true, c[j].alpha, c[j].o->table,
                               c[j].o->loss ? &l[j] : nullptr, g[j]);
#pragma GCC unroll 4
    for (int j = 0; j < N; ++j)
        if (!c[j].o->freeze_in) frozen_update(c[j].l1, c[j].rows, c[j].n, g[j], dim);
    for (int j = 0; j < N; ++j) loss[j] = c[j].o->loss ? l[j].value() : 0.0;
}

// Skip-gram with the output rows frozen (Doc2Vec's inference, a frozen syn1), n <= kFused:
// the scores of all targets (as one vector, in passes of up to 4 rows), then l1 += sum g
// row in one pass, without the work buffer; the bits of targets_step's frozen branch (its
// scores all come from the same l1, and work's sum runs in the same order).
double frozen_pair(float* l1, float* const* rows, int n, float alpha, std::size_t dim,
                   const w2v::Options& o) {
    const w2v::PairCall c{l1, rows, n, alpha, &o};
    double loss;
    frozen_pairs_n<1>(&c, dim, &loss);
    return loss;
}

void frozen_pairs(const w2v::PairCall* c, int count, std::size_t dim, double* loss) {
    static_assert(w2v::kPairs == 4);
    switch (count) {
        case 4: frozen_pairs_n<4>(c, dim, loss); break;
        case 3: frozen_pairs_n<3>(c, dim, loss); break;
        case 2: frozen_pairs_n<2>(c, dim, loss); break;
        default: frozen_pairs_n<1>(c, dim, loss);
    }
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
