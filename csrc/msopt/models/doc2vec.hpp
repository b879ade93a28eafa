// Doc2Vec (Le & Mikolov 2014): paragraph vectors trained with negative sampling on
// word2vec's primitives (word2vec.hpp: the sampling, the targets, the pair and window
// loops), and inferred for new documents with the word and output tables frozen.  No
// Python here.
//
// PV-DBOW: each tag vector of a document predicts each of its words, as a skip-gram input
// row would; with dbow_words, skip-gram pairs over the document's words are interleaved
// (word i's window, then the tags predicting word i).  PV-DM: the mean of the tag vectors
// and the window's word vectors predicts the word in the middle; the error goes unscaled to
// every row of the mean (word2vec's CBOW rule).
//
// Training reads one input table of V word rows followed by T tag rows, so the row access
// of word2vec (row_access.hpp: lock-free, hot rows kept apart, or deterministic rounds)
// serves it unchanged.  A call trains a chunk of documents of one epoch: the caller walks
// the corpus in chunks and gets control back between them.  Each document has its own
// random stream (seed, epoch, document) and its learning rate is the linear decay at the
// share of the corpus before it, alpha - (alpha - min_alpha) (epoch N + start) / (epochs N),
// so neither depends on how the documents are chunked or split among threads.
//
// Inference optimizes one new vector per document, every other row read only: the
// documents are independent, so threads split them with no shared writes, and the result
// does not depend on the thread count.  A document's stream is seeded by (seed, its word
// ids), so the same words give the same vector wherever they sit in a batch.  The rate
// decays per epoch from alpha (the first) to min_alpha (epoch `epochs` and after), as
// gensim's infer_vector.  With tol > 0, each document's loss is measured after every epoch
// on one fixed sample of its own (subsampling, windows and negatives drawn from a replayed
// stream, nothing updated), so it changes only when the vector does, and the document
// stops after the first epoch that lowers it by at most tol times its decrease since the
// start (at most max_epochs epochs).  (Training on a fixed sample instead would fit those
// few negatives: on short documents the vector then runs off towards separating them.)
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>

#include "word2vec.hpp"

namespace msopt::d2v {

// What the walks draw from: subsampling's keep chances and the negatives' alias table, built
// from a vocabulary's counts and a subsampling threshold (O(V), a pow per word).  Built once
// and shared, read only, by every call with the same vocabulary and threshold.
class Sampler {
  public:
    Sampler(const std::int64_t* counts, std::size_t V, double sample);
    ~Sampler();
    Sampler(const Sampler&) = delete;
    Sampler& operator=(const Sampler&) = delete;
    std::size_t size() const { return V_; }
    double sample() const { return sample_; }
    struct Draws;  // word2vec.hpp's Sampling (doc2vec.cpp)
    const Draws& draws() const { return *draws_; }

  private:
    std::size_t V_;
    double sample_;
    std::unique_ptr<Draws> draws_;
};

struct Docs {
    const std::int64_t* ids = nullptr;  // word ids, the documents back to back
    std::size_t n_ids = 0;
    const std::int64_t* offsets = nullptr;  // document starts (n_docs)
    std::size_t n_docs = 0;
    const std::int64_t* tags = nullptr;  // tag ids, each document's back to back
    std::size_t n_tags = 0;
    const std::int64_t* tag_offsets = nullptr;  // each document's first tag (n_docs)
};

// What training and inference walk the documents with.
struct Walk {
    std::size_t dim = 100;
    int window = 5;
    int negative = 5;
    double alpha = 0.025, min_alpha = 1e-4;
    std::uint64_t seed = 1;
    int threads = 1;
    bool dm = false;  // PV-DM; false: PV-DBOW
};

struct Params : Walk {
    bool dbow_words = false;  // PV-DBOW: also train the words, skip-gram
    bool compute_loss = true;
    bool deterministic = false;
    std::size_t round_words = 8192;
    // This call: the documents of `Docs`, a chunk of the corpus, in epoch `epoch` out of
    // `epochs`; the chunk starts at document `first_doc` and word `words_before` of a corpus
    // of `total_words` words (the streams and the rate's decay read the corpus positions).
    int epoch = 0, epochs = 1;
    std::size_t first_doc = 0, words_before = 0, total_words = 0;
};

struct Result {
    double loss = 0.0;          // summed over the examples
    std::int64_t examples = 0;  // (tag or word, word) pairs, or windows (PV-DM)
    std::int64_t words = 0;     // words trained on (after subsampling)
};

// in: (V + T) x dim, the word rows then the tag rows; syn1: V x dim; both updated in place.
// The vocabulary is the sampler's (V words).
Result train(const Docs& docs, const Sampler& sampler, std::size_t T, float* in, float* syn1,
             const Params& p);

struct InferParams : Walk {
    int epochs = 10;      // the rate's decay spans these
    int max_epochs = 10;  // at most these (>= 1)
    double tol = 0.0;     // > 0: stop a document at a relative change of its loss <= tol
};

// Documents [0, n_docs) of `docs` (tags unused); words (V x dim) and syn1 (V x dim) are
// read only.  out (n_docs x dim) receives the vectors, epochs_used (n_docs) the epochs
// each ran, loss (n_docs) each one's mean loss per example: with tol the measured one,
// without it the last epoch's as trained (NaN without an example); converged (n_docs) 1
// where tol stopped the document.  A document without words gets zeros (0 epochs, NaN
// loss).
void infer(const Docs& docs, const Sampler& sampler, const float* words, const float* syn1,
           const InferParams& p, float* out, std::int32_t* epochs_used, double* loss,
           std::uint8_t* converged);

}  // namespace msopt::d2v
