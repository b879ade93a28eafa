// The text classifier's per-document rules, included by its ISA translation unit
// (fasttext_isa.cpp; unnamed namespace: every ISA keeps its own copy).  Rows arrive as
// pointers (gathered by the walker in fasttext.cpp through a row access of
// embedding/row_access.hpp), so the same loops serve the lock-free tables and the
// deterministic mode's private copies.  The losses are losses/'s kernels; the dot
// products simd/'s 16 fixed lanes: every ISA gives the same bits.
//
// Each update_<loss> takes the hidden vector h and the rate lr, updates the output rows the
// loss touches, writes to grad (dim values) lr times minus the loss's gradient in h (each
// term taken with its output row before that row's update, as fastText does), and returns
// the document's loss.  The caller then adds grad / n_ids to each of the document's input
// rows (spread).
#pragma once

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstdint>

#include "../losses/dense.hpp"
#include "../losses/ns.hpp"
#include "../simd/vec_math.hpp"
#include "fasttext.hpp"

namespace msopt::ftx::rules {
namespace {

using simd::axpy;
using simd::dot16;

// h = mean of the document's n input rows; false (and h = 0) for an empty document.
inline bool hidden(float* const* in, std::size_t n, std::size_t dim, float* __restrict h) {
    std::fill(h, h + dim, 0.0f);
    if (n == 0) return false;
    for (std::size_t j = 0; j < n; ++j) axpy(1.0f, in[j], h, dim);
    simd::scale(1.0f / float(n), h, dim);
    return true;
}

// The document's input rows += grad / n (the mean's share of the step).
inline void spread(float* const* in, std::size_t n, std::size_t dim, const float* grad) {
    const float inv = 1.0f / float(n);
    for (std::size_t j = 0; j < n; ++j) axpy(inv, grad, in[j], dim);
}

// Softmax of the scores W h into p (classes); returns the log of its normalizer,
// log sum_k exp(s_k), in float64 for the loss.
inline double softmax(const float* const* out, std::size_t classes, std::size_t dim,
                      const float* h, float* p) {
    for (std::size_t k = 0; k < classes; ++k) p[k] = dot16(out[k], h, dim);
    return losses::softmax_probs(p, classes);
}

// fastText's binaryLogistic: one class row w, target 1 (positive) or 0.
inline double binary_logistic(float* w, const float* h, std::size_t dim, bool positive,
                              float lr, float* grad) {
    double loss;
    const float alpha = losses::logistic_target(dot16(w, h, dim), positive, lr, &loss);
    axpy(alpha, w, grad, dim);
    axpy(alpha, h, w, dim);
    return loss;
}

double update_softmax(float* const* out, std::size_t classes, std::size_t dim, const float* h,
                      std::size_t y, float lr, float* grad, float* scratch /* classes */) {
    const double lse = softmax(out, classes, dim, h, scratch);
    const double loss = lse - double(dot16(out[y], h, dim));
    std::fill(grad, grad + dim, 0.0f);
    for (std::size_t k = 0; k < classes; ++k) {
        const float alpha = lr * ((k == y ? 1.0f : 0.0f) - scratch[k]);
        axpy(alpha, out[k], grad, dim);
        axpy(alpha, h, out[k], dim);
    }
    return loss;
}

// ys[0..ny): the document's classes, the positives (a few: a scan is cheaper than a mask).
double update_ova(float* const* out, std::size_t classes, std::size_t dim, const float* h,
                  const std::int32_t* ys, std::size_t ny, float lr, float* grad) {
    std::fill(grad, grad + dim, 0.0f);
    double loss = 0.0;
    for (std::size_t k = 0; k < classes; ++k) {
        const bool positive = std::find(ys, ys + ny, std::int32_t(k)) != ys + ny;
        loss += binary_logistic(out[k], h, dim, positive, lr, grad);
    }
    return loss;
}

// rows[0]: the class's row; rows[1..n): the rows of the negatives drawn for the document.
double update_ns(float* const* rows, std::size_t n, std::size_t dim, const float* h, float lr,
                 float* grad) {
    std::fill(grad, grad + dim, 0.0f);
    double loss = binary_logistic(rows[0], h, dim, true, lr, grad);
    for (std::size_t i = 1; i < n; ++i) loss += binary_logistic(rows[i], h, dim, false, lr, grad);
    return loss;
}

// Scores of one document: softmax probabilities, or each class's sigmoid.
void predict(const float* out, std::size_t classes, std::size_t dim, const float* h,
             bool softmax_probs, float* p) {
    if (softmax_probs) {
        for (std::size_t k = 0; k < classes; ++k) p[k] = dot16(out + k * dim, h, dim);
        losses::softmax_probs(p, classes);
    } else {
        for (std::size_t k = 0; k < classes; ++k) p[k] = simd::sigmoid(dot16(out + k * dim, h, dim));
    }
}

}  // namespace
}  // namespace msopt::ftx::rules
