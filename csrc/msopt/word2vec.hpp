// Skip-gram with negative sampling (word2vec), as one multi-epoch native loop: linear
// learning-rate decay, random window shrinking, frequent-word subsampling, negatives
// drawn from the unigram^0.75 distribution, the exact sigmoid, and the exact training loss
// accumulated in float64.  Threads split the sentences and update the shared tables
// without locks (Hogwild); with one thread a fixed seed repeats bit for bit.  No Python.
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

namespace msopt::w2v {

struct Corpus {
    const std::int32_t* ids = nullptr;      // word ids, all sentences back to back
    std::size_t n_ids = 0;
    const std::int64_t* offsets = nullptr;  // sentence starts
    std::size_t n_sentences = 0;
};

struct Params {
    std::size_t dim = 100;
    int window = 5;
    int negative = 5;
    double sample = 1e-3;
    double alpha = 0.025, min_alpha = 1e-4;
    int epochs = 5;
    std::uint64_t seed = 1;
    int threads = 1;
};

struct Result {
    std::vector<double> epoch_loss;   // mean loss per (word, context) pair, per epoch
    std::int64_t words = 0;           // words trained on (after subsampling), all epochs
    std::int64_t pairs = 0;
};

// syn0 (V x dim) input vectors, syn1 (V x dim) output vectors, both updated in place;
// counts (V) the word frequencies (for subsampling and the negative distribution).
Result train_skipgram(const Corpus& corpus, const std::int64_t* counts, std::size_t vocab,
                      float* syn0, float* syn1, const Params& p);

}  // namespace msopt::w2v
