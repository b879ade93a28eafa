// Losses as standalone kernels: given scores and targets, the loss and its gradient in the
// scores, written over the scores in place (dscores).  The linear layer, the text
// classifier and word2vec call the rules of dense.hpp, ns.hpp and sampled.hpp inline from
// their own ISA units; this table (losses_isa.cpp) serves the loss kernels on their own
// (the `_core.loss_grad` binding).  NumPy twins: reference_losses.py.  No Python here.
//
//   squared   0.5 sum_c (z_c - y_c)^2                         dz = z - y
//   huber     sum_c 0.5 r^2 (|r| <= eps) or eps |r| - eps^2/2  dz = r or eps sign(r)
//   logistic  log(1 + exp(-s z)), s = +-1 from a 0/1 label     dz = -s / (1 + exp(s z))
//   softmax   logsumexp(z) - z_y                               dz = softmax(z) - onehot(y)
//   hinge     sum_c max(0, 1 - s_c z_c), one-vs-rest           dz = -s_c where the margin < 1
//   ns        -log sigmoid(z_0) - sum_{j>0} log sigmoid(-z_j)  dz = sigmoid(z) - [j == 0]
//   sampled   softmax cross-entropy over [z_0, z_1..z_S], each logit corrected by
//             -log Q (its expected count): l_j = z_j - log_q_j, loss = logsumexp(l) - l_0,
//             dz_j = softmax(l)_j - [j == 0]; with accidental hits removed, a sampled j
//             whose id equals the true id (ids[0]) leaves the softmax (dz_j = 0).
#pragma once

#include <cstddef>
#include <cstdint>

#include "../core/dispatch.hpp"

namespace msopt::losses {

enum class Dense : int { Squared = 0, Huber = 1, Logistic = 2, Softmax = 3, Hinge = 4 };

struct DenseSpec {
    Dense loss = Dense::Squared;
    double huber_eps = 1.35;
};

template <class T>
struct SampledOps {
    // Z (B x n): column 0 the true class's score, columns 1..n-1 the sampled classes';
    // ids (B x n) their class ids; log_q (B x n) the log of their expected counts.  Z
    // becomes scale * dLoss/dZ; returns the summed loss.
    double (*loss_grad)(T* Z, std::size_t B, std::size_t n, const std::int64_t* ids,
                        const T* log_q, bool remove_accidental_hits, double scale);
};

struct Kernels {
    // Replaces Z (B x C) by dLoss/dZ of the weighted loss, times `scale`; returns the
    // weighted loss summed over the batch.  y (B x C) for squared and huber, label (B)
    // otherwise; rows (B, or null) picks the rows of y, label and sw (or null) for Z's.
    double (*dense_f32)(const DenseSpec&, float* Z, std::size_t B, std::size_t C,
                        const float* y, const std::int64_t* label, const std::int64_t* rows,
                        const float* sw, double scale);
    double (*dense_f64)(const DenseSpec&, double* Z, std::size_t B, std::size_t C,
                        const double* y, const std::int64_t* label, const std::int64_t* rows,
                        const double* sw, double scale);
    // Negative sampling on Z (B x n, float32): column 0 the positive, the others negatives;
    // Z becomes dLoss/dZ.  table: word2vec's sigmoid table, or null for the exact sigmoid
    // (the loss is exact either way).  Returns the summed loss.
    double (*ns)(float* Z, std::size_t B, std::size_t n, const float* table);
    SampledOps<float> sampled_f32;
    SampledOps<double> sampled_f64;
};

// The table of the instruction set in use.
const Kernels& kernels() noexcept;

}  // namespace msopt::losses
