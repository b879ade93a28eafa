// A fastText-style supervised text classifier, trained in one native call for all epochs:
// the mean of a document's input rows (words and hashed n-grams) is the hidden vector h,
// the class rows W of the output table give the scores s = W h, and plain SGD with a
// linearly decaying rate updates the output rows and then the document's input rows.
//
// Losses (fastText's, for a document of class y):
//   softmax  -log softmax(s)_y
//   ova      sum over every class k of -log sigmoid(+-s_k), + for k = y (one-vs-all)
//   ns       -log sigmoid(s_y) - sum over `neg` drawn classes n of log sigmoid(-s_n), the
//            n drawn from the class weights with y left out (what fastText's redraw of y
//            amounts to)
// sigmoid(x) = 1 / (1 + exp(-x)) exactly; the loss is summed in float64 through a stable
// log-sigmoid.  Threads take disjoint documents and update the shared tables without locks
// (Hogwild), or, in deterministic mode, train in rounds on private copies of the rows they
// touch, merged in thread order (row_access.hpp): a fixed seed and thread count repeat bit
// for bit.  One thread repeats bit for bit either way.  No Python here.
//
// Per document: the document's input rows are read twice and written once, and the output
// rows the loss touches (softmax, ova: all classes; ns: 1 + neg) read twice and written once,
// float32 rows of dim values each.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <vector>

namespace msopt::ftx {

enum class Loss : int { softmax = 0, ova = 1, ns = 2 };

struct Docs {
    const std::int64_t* ids = nullptr;      // input rows of all documents, back to back
    std::size_t n_ids = 0;
    const std::int64_t* offsets = nullptr;  // document starts
    std::size_t n_docs = 0;
    const std::int32_t* labels = nullptr;   // class of each document

    std::size_t begin(std::size_t doc) const { return std::size_t(offsets[doc]); }
    std::size_t end(std::size_t doc) const {
        return doc + 1 < n_docs ? std::size_t(offsets[doc + 1]) : n_ids;
    }
};

struct Params {
    Loss loss = Loss::softmax;
    int neg = 5;  // ns: negative classes drawn per document
    double lr = 0.1;
    int epochs = 5;
    std::uint64_t seed = 0;
    int threads = 1;
    bool deterministic = false;
    std::size_t round_ids = 16384;  // deterministic mode: input rows read per thread per round
};

// input (rows x dim) and output (classes x dim) are updated in place.  class_weights
// (classes values >= 0; the distribution ns draws negatives from) is read for ns only and
// may be null otherwise.  Returns the mean loss of each epoch over its non-empty documents
// (float64; 0 for an epoch with none).
std::vector<double> train(const Docs& docs, float* input, std::size_t dim, float* output,
                          std::size_t classes, const double* class_weights, const Params& p);

// Scores of documents under the current tables (n_docs x classes): softmax probabilities
// for Loss::softmax, each class's sigmoid (not normalized) for ova and ns, as fastText
// predicts.  An empty document has h = 0.
void predict_proba(const Docs& docs, const float* input, std::size_t dim, const float* output,
                   std::size_t classes, Loss loss, float* proba);

// -- Per-document rules ------------------------------------------------------------------
// Inline so that a unit compiled for another instruction set can make its own copy.  Each
// update_<loss> takes the hidden vector h and the rate lr, updates the output rows the loss
// touches, writes to grad (dim values) lr times minus the loss's gradient in h (each term
// taken with its output row before that row's update, as fastText does), and returns the
// document's loss.  The caller then adds grad / n_ids to each of the document's input rows.
namespace rules {

// The class rows, through a row access of row_access.hpp (SharedRows or PrivateRows).
template <class Rows>
struct Output {
    Rows& rows;  // classes x dim
    std::size_t classes;
    std::size_t dim;
    float* row(std::size_t k) const { return rows(k); }
};

inline float dot(const float* __restrict a, const float* __restrict b, std::size_t n) {
    float acc[8] = {0, 0, 0, 0, 0, 0, 0, 0};  // fixed lanes: the same sum on every path
    std::size_t i = 0;
    for (; i + 8 <= n; i += 8)
        for (std::size_t j = 0; j < 8; ++j) acc[j] += a[i + j] * b[i + j];
    for (std::size_t j = 0; i < n; ++i, ++j) acc[j] += a[i] * b[i];
    return ((acc[0] + acc[1]) + (acc[2] + acc[3])) + ((acc[4] + acc[5]) + (acc[6] + acc[7]));
}

inline void axpy(float a, const float* __restrict x, float* __restrict y, std::size_t n) {
    for (std::size_t i = 0; i < n; ++i) y[i] += a * x[i];
}

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
        p[k] = dot(o.row(k), h, o.dim);
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
    const float s = dot(w, h, o.dim);
    const float alpha = lr * ((positive ? 1.0f : 0.0f) - sigmoid(s));
    axpy(alpha, w, grad, o.dim);
    axpy(alpha, h, w, o.dim);
    return -log_sigmoid(positive ? double(s) : -double(s));
}

template <class Rows>
inline double update_softmax(const Output<Rows>& o, const float* h, std::size_t y, float lr,
                             float* grad, float* scratch /* classes values */) {
    const double lse = softmax(o, h, scratch);
    const double loss = lse - double(dot(o.row(y), h, o.dim));
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

}  // namespace rules
}  // namespace msopt::ftx
