// The text classifier's per-document rules, included by fasttext.cpp.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstddef>

#include "fasttext.hpp"
#include "../simd/vec_rules.hpp"

namespace msopt::ftx {

// The text classifier's per-document rules (fasttext.cpp's loop; written like the ISA rule
// headers, in an unnamed namespace, so an ISA unit could keep its own copy).  Each
// update_<loss> takes the hidden vector h and the rate lr, updates the output rows the loss
// touches, writes to grad (dim values) lr times minus the loss's gradient in h (each term
// taken with its output row before that row's update, as fastText does), and returns the
// document's loss.  The caller then adds grad / n_ids to each of the document's input rows.
namespace rules {
namespace {

using msopt::rules::axpy;
using msopt::rules::dot16;

// The class rows, through a row access of row_access.hpp (SharedRows or PrivateRows).
template <class Rows>
struct Output {
    Rows& rows;  // classes x dim
    std::size_t classes;
    std::size_t dim;
    float* row(std::size_t k) const { return rows(k); }
};

inline float sigmoid(float x) { return 1.0f / (1.0f + std::exp(-x)); }

// log(sigmoid(x)) without overflow or cancellation for any finite x.
inline double log_sigmoid(double x) {
    return x >= 0 ? -std::log1p(std::exp(-x)) : x - std::log1p(std::exp(x));
}

// h = mean of the document's input rows; false (and h = 0) for an empty document.
template <class Rows>
inline bool hidden(const Docs& d, std::size_t doc, Rows& input, std::size_t dim,
                   float* __restrict h) {
    const std::size_t lo = d.begin(doc), hi = d.end(doc);
    std::fill(h, h + dim, 0.0f);
    if (hi == lo) return false;
    for (std::size_t j = lo; j < hi; ++j) axpy(1.0f, input(std::size_t(d.ids[j])), h, dim);
    const float inv = 1.0f / float(hi - lo);
    for (std::size_t c = 0; c < dim; ++c) h[c] *= inv;
    return true;
}

// The document's input rows += grad / n_ids (the mean's share of the step).
template <class Rows>
inline void spread(const Docs& d, std::size_t doc, Rows& input, std::size_t dim,
                   const float* grad) {
    const std::size_t lo = d.begin(doc), hi = d.end(doc);
    const float inv = 1.0f / float(hi - lo);
    for (std::size_t j = lo; j < hi; ++j) axpy(inv, grad, input(std::size_t(d.ids[j])), dim);
}

// Softmax of the scores W h into p (classes); returns the log of its normalizer,
// log sum_k exp(s_k), in float64 for the loss.
template <class Rows>
inline double softmax(const Output<Rows>& o, const float* h, float* p) {
    float mx = -INFINITY;
    for (std::size_t k = 0; k < o.classes; ++k) {
        p[k] = dot16(o.row(k), h, o.dim);
        mx = std::max(mx, p[k]);
    }
    double sum = 0.0;
    for (std::size_t k = 0; k < o.classes; ++k) {
        p[k] = std::exp(p[k] - mx);
        sum += double(p[k]);
    }
    for (std::size_t k = 0; k < o.classes; ++k) p[k] = float(double(p[k]) / sum);
    return std::log(sum) + double(mx);
}

// fastText's binaryLogistic: one class row, target 1 (positive) or 0.
template <class Rows>
inline double binary_logistic(const Output<Rows>& o, const float* h, std::size_t k, bool positive,
                              float lr, float* grad) {
    float* w = o.row(k);
    const float s = dot16(w, h, o.dim);
    const float alpha = lr * ((positive ? 1.0f : 0.0f) - sigmoid(s));
    axpy(alpha, w, grad, o.dim);
    axpy(alpha, h, w, o.dim);
    return -log_sigmoid(positive ? double(s) : -double(s));
}

template <class Rows>
inline double update_softmax(const Output<Rows>& o, const float* h, std::size_t y, float lr,
                             float* grad, float* scratch /* classes values */) {
    const double lse = softmax(o, h, scratch);
    const double loss = lse - double(dot16(o.row(y), h, o.dim));
    std::fill(grad, grad + o.dim, 0.0f);
    for (std::size_t k = 0; k < o.classes; ++k) {
        const float alpha = lr * ((k == y ? 1.0f : 0.0f) - scratch[k]);
        float* w = o.row(k);
        axpy(alpha, w, grad, o.dim);
        axpy(alpha, h, w, o.dim);
    }
    return loss;
}

template <class Rows>
inline double update_ova(const Output<Rows>& o, const float* h, std::size_t y, float lr,
                         float* grad) {
    std::fill(grad, grad + o.dim, 0.0f);
    double loss = 0.0;
    for (std::size_t k = 0; k < o.classes; ++k) loss += binary_logistic(o, h, k, k == y, lr, grad);
    return loss;
}

// negatives: the n_neg classes drawn for this document (none equal to y).
template <class Rows>
inline double update_ns(const Output<Rows>& o, const float* h, std::size_t y, const std::size_t* negatives,
                        std::size_t n_neg, float lr, float* grad) {
    std::fill(grad, grad + o.dim, 0.0f);
    double loss = binary_logistic(o, h, y, true, lr, grad);
    for (std::size_t i = 0; i < n_neg; ++i)
        loss += binary_logistic(o, h, negatives[i], false, lr, grad);
    return loss;
}

}  // namespace
}  // namespace rules
}  // namespace msopt::ftx
