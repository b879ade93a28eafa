// An interpolated modified Kneser-Ney n-gram model (Chen & Goodman 1998) over the ids of a
// language model's token stream, for mixing with the network (LanguageModel(kneser_ney=N)).
//
// The model is kept as its order-N counts (Counts: what is saved, and what more text adds
// to); build() derives the rest.  Every k-gram of order k < N counts the distinct words
// seen before it (its continuation count); order N counts occurrences.  Discounts D1, D2,
// D3+ per order come from that order's counts of counts, and
//     p_k(w | h) = max(c(h w) - D(c), 0) / c(h) + gamma(h) p_{k-1}(w | h'),
//     gamma(h) = (D1 N1(h) + D2 N2(h) + D3+ N3+(h)) / c(h),
// with h' the context h without its oldest id, down to p_1(w), interpolated with the
// uniform distribution over the vocabulary.  A context never seen leaves p_{k-1} as it is.
// The context of position t is the stream's context (the ids before t, <s> before the
// start), as the network reads it.
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

namespace msopt::kn {

constexpr int kMaxOrder = 16;

// The order-N grams of a stream, sorted, each once, with its count.
struct Counts {
    int order = 0;
    std::vector<std::int32_t> grams;  // n x order ids, oldest first
    std::vector<std::int64_t> count;  // n
};

// The order-N grams of positions [0, n) of tok (ids before position 0 read as bos).
Counts count(const std::int32_t* tok, std::size_t n, std::int32_t bos, int order);

// a's counts plus b's (same order): sorted, each gram once.
Counts merge(const Counts& a, const Counts& b);

struct Model {
    int order = 0;
    std::size_t vocab = 0;
    // Per order k = 1..N (index k - 1): the k-grams seen (sorted, n_k x k) and p_k(w | h)
    // of each.  The k-grams of one context are consecutive and sorted by w.
    std::vector<std::vector<std::int32_t>> grams;
    std::vector<std::vector<double>> prob;
    // Per order k = 2..N (index k - 1; empty for k = 1): the contexts (the distinct
    // (k-1)-prefixes, sorted), gamma of each, and where each one's k-grams start in grams
    // (one more entry: the end).
    std::vector<std::vector<std::int32_t>> ctx;
    std::vector<std::vector<double>> gamma;
    std::vector<std::vector<std::uint32_t>> first;
    // Per order k = 2..N: an open-addressing index of the contexts (a power of two of
    // slots, each 0 or 1 + a context's index), so finding one costs about one cache miss.
    std::vector<std::vector<std::uint32_t>> slots;
    std::vector<double> unigram;  // p_1 of every id
    double discount[kMaxOrder][3] = {};
};

// The model of counts over ids [0, vocab).  Throws std::invalid_argument on an id outside.
Model build(const Counts& c, std::size_t vocab);

// A model with the counts it was built from (what saving keeps): _core.KneserNey.
struct Counted {
    Counts counts;
    Model model;
};

// p(w | hist): hist holds the order - 1 ids before w, oldest first.
double prob(const Model& m, const std::int32_t* hist, std::int32_t w);

// p(. | hist) over the whole vocabulary into out (vocab values).
void distribution(const Model& m, const std::int32_t* hist, double* out);

// log p of the stream's tokens at positions [begin, end) (ids before 0 read as bos) into
// logp (end - begin values); threads split the positions (the values do not depend on it).
void score(const Model& m, const std::int32_t* tok, std::int32_t bos, std::size_t begin,
           std::size_t end, double* logp, int threads);

}  // namespace msopt::kn
