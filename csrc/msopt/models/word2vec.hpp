// word2vec (skip-gram or CBOW with negative sampling) as one multi-epoch native loop:
// linear learning-rate decay, random window shrinking, frequent-word subsampling,
// negatives drawn from the unigram^0.75 distribution (losses/alias.hpp), the exact
// sigmoid (or word2vec's table), and the exact training loss accumulated in float64.
//
// Threads split the sentences.  By default they update the shared tables without locks
// (Hogwild).  In deterministic mode each thread trains on private copies of the rows it
// touches for a round of about `round_words` words; at the end of the round the copies'
// changes are added to the tables in thread order, so a fixed seed and thread count
// repeat bit for bit.  One thread is deterministic either way.  No Python here.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <limits>
#include <memory>
#include <vector>

#include "../core/random.hpp"
#include "../losses/alias.hpp"

namespace msopt::w2v {

// How the inner loops run (word2vec_rules.hpp).
struct Options {
    const float* table = nullptr;  // word2vec's sigmoid table (simd/), null: the exact sigmoid
    bool loss = true;              // accumulate the exact loss
    bool freeze_in = false;        // read the input rows, never write them
    bool freeze_out = false;       // read the output rows, never write them
};

// One skip-gram example with frozen outputs, for W2vOps::pairs: the input row, its n <=
// kFrozenTargets target rows, the rate and the options (o->freeze_out set).
struct PairCall {
    float* l1;
    float* const* rows;
    int n;
    float alpha;
    const Options* o;
};
constexpr int kFrozenTargets = 8;
constexpr int kPairs = 4;  // the most examples W2vOps::pairs takes at once

// word2vec's inner loops (word2vec_rules.hpp, compiled per ISA in word2vec_isa.cpp) on
// rows given by pointer; each returns the loss of its targets.
struct W2vOps {
    double (*pair)(float* l1, float* const* rows, int n, float alpha, float* work,
                   std::size_t dim, const Options& o);
    double (*cbow)(float* const* ctx, int n_ctx, bool mean, float* const* rows, int n,
                   float alpha, float* neu1, float* work, std::size_t dim, const Options& o);
    // 1 <= count <= kPairs such examples on different input rows, side by side (Doc2Vec's
    // inference of several documents); their losses into loss[0, count).  The bits of
    // count pair calls.
    void (*pairs)(const PairCall* calls, int count, std::size_t dim, double* loss);
    // The scores h . rows[d] of n <= kFrozenTargets rows in dot16's order (what pair and
    // pairs score frozen targets with) into f[0, kFrozenTargets), 32-byte aligned, the
    // lanes past n zero.
    void (*scores)(const float* h, float* const* rows, int n, std::size_t dim, float* f);
};

// The table of the instruction set in use.
const W2vOps& kernels() noexcept;

namespace {  // AliasTable lives in an unnamed namespace: so do these (one copy per unit)

// What the walks of word2vec and doc2vec draw from, given the word counts: the chance of
// keeping each word under frequent-word subsampling (threshold `sample`, 0: keep all),
// and the negatives' distribution, count^0.75.
struct Sampling {
    std::vector<double> keep;
    losses::AliasTable negatives;
};

inline Sampling make_sampling(const std::int64_t* counts, std::size_t V, double sample) {
    std::vector<double> unigram(V);
    double total = 0.0;
    for (std::size_t w = 0; w < V; ++w) {
        unigram[w] = std::pow(double(counts[w]), 0.75);
        total += double(counts[w]);
    }
    Sampling s{std::vector<double>(V, 1.0), losses::AliasTable(unigram)};
    // Keep a word with probability (sqrt(f / (s T)) + 1) (s T) / f.
    if (sample > 0)
        for (std::size_t w = 0; w < V; ++w) {
            const double f = double(counts[w]), t = sample * total;
            s.keep[w] = std::min(1.0, (std::sqrt(f / t) + 1.0) * t / f);
        }
    return s;
}

// The output rows of one example: the word's, then those of `negative` draws, a draw of the
// word itself dropped.  Returns the count (at most negative + 1).
template <class Rows>
int draw_targets(const losses::AliasTable& negatives, SplitMix64& rng, int negative, Rows& out,
                 std::size_t word, float** rows) {
    rows[0] = out(word);
    int k = 1;
    SplitMix64 r = rng;  // in a register: the stores to rows cannot reach it
    for (int d = 0; d < negative; ++d) {
        const std::size_t t = negatives.draw(r.next());
        if (t == word) continue;
        rows[k++] = out(t);
    }
    rng = r;
    return k;
}

}  // namespace

struct Corpus {
    const std::int64_t* ids = nullptr;      // word ids, all sentences back to back
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
    bool sg = true;                // skip-gram; false: CBOW
    bool cbow_mean = true;         // CBOW: mean of the context rows (false: their sum)
    bool table_sigmoid = false;
    bool compute_loss = true;
    bool deterministic = false;
    std::size_t round_words = 8192;  // deterministic mode: words per thread per round
    // Frozen tables are read but never written (gensim's vectors_lockf = 0 for all words):
    // syn0 (freeze_input) or syn1 (freeze_output) keeps its bits while the other trains.
    bool freeze_input = false;
    bool freeze_output = false;
    // A chunked run (resume.hpp): threads rows of resume_width(epochs) values, the walkers'
    // places, read and written back; each call trains about `chunk` words per thread.
    std::int64_t* resume = nullptr;
    std::size_t chunk = std::numeric_limits<std::size_t>::max();
};

struct Result {
    std::vector<double> epoch_loss;   // mean loss per example (pair or window), per epoch
    std::int64_t words = 0;           // words trained on (after subsampling), all epochs
    std::int64_t pairs = 0;
    std::int64_t done = 0;            // words walked (before subsampling), all epochs
    int epochs_done = 0;              // epochs every thread has finished
};

// What the walks draw from: subsampling's keep chances and the negatives' alias table of
// a vocabulary's counts and a subsampling threshold (O(V), a pow per word: about 50 ms at
// a million words).  Built once per fit and shared, read only, by its chunks.  (Doc2Vec
// keeps its own, d2v::Sampler: each unit has its own copy of the tables' type.)
class Sampler {
  public:
    Sampler(const std::int64_t* counts, std::size_t V, double sample);
    ~Sampler();
    Sampler(const Sampler&) = delete;
    Sampler& operator=(const Sampler&) = delete;
    std::size_t size() const { return V_; }
    double sample() const { return sample_; }
    struct Draws;  // Sampling (word2vec.cpp)
    const Draws& draws() const { return *draws_; }

  private:
    std::size_t V_;
    double sample_;
    std::unique_ptr<Draws> draws_;
};

// syn0 (V x dim) input vectors, syn1 (V x dim) output vectors, both updated in place;
// the sampler built from the word frequencies (V = its size) with p.sample.
Result train(const Corpus& corpus, const Sampler& sampler, float* syn0, float* syn1,
             const Params& p);

}  // namespace msopt::w2v
