// A fastText-style supervised text classifier, trained in one native call for all epochs:
// the mean of a document's input rows (words and hashed n-grams) is the hidden vector h,
// the class rows W of the output table give the scores s = W h, and plain SGD with a
// linearly decaying rate updates the output rows and then the document's input rows.
//
// Losses (fastText's, for a document of class y):
//   softmax  -log softmax(s)_y
//   ova      sum over every class k of -log sigmoid(+-s_k), + for k among the document's
//            classes (one-vs-all: a document may have several)
//   ns       -log sigmoid(s_y) - sum over `neg` drawn classes n of log sigmoid(-s_n), the
//            n drawn from the class weights (losses/alias.hpp) with y redrawn, as fastText
//            does
// A document with several classes: ova takes them all as positives; softmax and ns take one
// of them, drawn uniformly per document and epoch, as fastText does (a document with one
// class draws nothing, so single-label training is the same with or without label lists).
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

#include <cstddef>
#include <cstdint>
#include <limits>
#include <vector>

namespace msopt::ftx {

enum class Loss : int { softmax = 0, ova = 1, ns = 2 };

struct Docs {
    const std::int64_t* ids = nullptr;      // input rows of all documents, back to back
    std::size_t n_ids = 0;
    const std::int64_t* offsets = nullptr;  // document starts
    std::size_t n_docs = 0;
    const std::int32_t* labels = nullptr;   // classes of all documents, back to back
    std::size_t n_labels = 0;
    // Where each document's classes start (n_docs values, each document one class or more);
    // null: one class per document, labels[doc].
    const std::int64_t* label_offsets = nullptr;

    std::size_t begin(std::size_t doc) const { return std::size_t(offsets[doc]); }
    std::size_t end(std::size_t doc) const {
        return doc + 1 < n_docs ? std::size_t(offsets[doc + 1]) : n_ids;
    }
    std::size_t label_begin(std::size_t doc) const {
        return label_offsets ? std::size_t(label_offsets[doc]) : doc;
    }
    std::size_t label_end(std::size_t doc) const {
        if (!label_offsets) return doc + 1;
        return doc + 1 < n_docs ? std::size_t(label_offsets[doc + 1]) : n_labels;
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
    // A chunked run (resume.hpp): threads rows of resume_width(epochs) values, the walkers'
    // places, read and written back; each call reads about `chunk` input rows per thread.
    std::int64_t* resume = nullptr;
    std::size_t chunk = std::numeric_limits<std::size_t>::max();
};

// Where a chunked run stands after a call.
struct Progress {
    std::int64_t docs = 0;  // documents walked, all epochs
    int epochs_done = 0;    // epochs every thread has finished
};

// The per-document rules (fasttext_rules.hpp), compiled per ISA (fasttext_isa.cpp), on
// rows given by pointer.
struct DocOps {
    // h = mean of the n input rows; false (and h = 0) when n == 0.
    bool (*hidden)(float* const* in, std::size_t n, std::size_t dim, float* h);
    // Each of the n input rows += grad / n.
    void (*spread)(float* const* in, std::size_t n, std::size_t dim, const float* grad);
    // The losses: update the output rows, write lr times minus dLoss/dh to grad, return
    // the loss.  out: every class row (softmax, ova); rows: the class's row then the
    // negatives' (ns).
    double (*softmax)(float* const* out, std::size_t classes, std::size_t dim, const float* h,
                      std::size_t y, float lr, float* grad, float* scratch);
    // ova: the document's classes ys[0..ny) are the positives.
    double (*ova)(float* const* out, std::size_t classes, std::size_t dim, const float* h,
                  const std::int32_t* ys, std::size_t ny, float lr, float* grad);
    double (*ns)(float* const* rows, std::size_t n, std::size_t dim, const float* h, float lr,
                 float* grad);
    // One document's scores from the output table (classes x dim): softmax probabilities
    // or each class's sigmoid.
    void (*predict)(const float* out, std::size_t classes, std::size_t dim, const float* h,
                    bool softmax, float* p);
};

// The table of the instruction set in use.
const DocOps& kernels() noexcept;

// input (rows x dim) and output (classes x dim) are updated in place.  class_weights
// (classes values >= 0; the distribution ns draws negatives from) is read for ns only and
// may be null otherwise.  Returns the mean loss of each epoch over its non-empty documents
// (float64; 0 for an epoch with none).
std::vector<double> train(const Docs& docs, float* input, std::size_t rows, std::size_t dim,
                          float* output, std::size_t classes, const double* class_weights,
                          const Params& p, Progress* progress = nullptr);

// Scores of documents under the current tables (n_docs x classes): softmax probabilities
// for Loss::softmax, each class's sigmoid (not normalized) for ova and ns, as fastText
// predicts.  An empty document has h = 0.
void predict_proba(const Docs& docs, const float* input, std::size_t dim, const float* output,
                   std::size_t classes, Loss loss, float* proba);

}  // namespace msopt::ftx
