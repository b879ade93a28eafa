// A fastText-style supervised text classifier, trained in one native call per fit: the
// mean of a document's input rows (words and hashed n-grams) is the hidden vector, a
// softmax over the class rows of the output table gives the loss, and plain SGD with a
// linearly decaying rate updates the output rows and the document's input rows.  Threads
// take disjoint documents and update the shared tables without locks (Hogwild); one thread
// with a fixed seed repeats bit for bit.  No Python here.
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

namespace msopt::ftx {

struct Docs {
    const std::int64_t* ids = nullptr;      // input rows of all documents, back to back
    std::size_t n_ids = 0;
    const std::int64_t* offsets = nullptr;  // document starts
    std::size_t n_docs = 0;
    const std::int32_t* labels = nullptr;   // class of each document
};

struct Params {
    double lr = 0.1;
    int epochs = 5;
    std::uint64_t seed = 0;
    int threads = 1;
};

// input (rows x dim) and output (classes x dim) are updated in place.  Returns the mean
// loss of each epoch (float64).
std::vector<double> train(const Docs& docs, float* input, std::size_t dim, float* output,
                          std::size_t classes, const Params& p);

// Class probabilities (n_docs x classes) of documents under the current tables.
void predict_proba(const Docs& docs, const float* input, std::size_t dim, const float* output,
                   std::size_t classes, float* proba);

}  // namespace msopt::ftx
