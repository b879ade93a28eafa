#include "word2vec.hpp"

#include <algorithm>
#include <cmath>

#include "threads.hpp"

namespace msopt::w2v {
namespace {

struct Rng {  // splitmix64: small, fast, and a fixed stream per (seed, thread, epoch)
    std::uint64_t s;
    std::uint64_t next() {
        std::uint64_t z = (s += 0x9E3779B97F4A7C15ull);
        z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
        z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
        return z ^ (z >> 31);
    }
    double uniform() { return double(next() >> 11) * (1.0 / 9007199254740992.0); }
};

inline float dot(const float* __restrict a, const float* __restrict b, std::size_t n) {
    float acc[8] = {0, 0, 0, 0, 0, 0, 0, 0};
    std::size_t i = 0;
    for (; i + 8 <= n; i += 8)
        for (std::size_t j = 0; j < 8; ++j) acc[j] += a[i + j] * b[i + j];
    for (std::size_t j = 0; i < n; ++i, ++j) acc[j] += a[i] * b[i];
    return ((acc[0] + acc[1]) + (acc[2] + acc[3])) + ((acc[4] + acc[5]) + (acc[6] + acc[7]));
}

inline void axpy(float a, const float* __restrict x, float* __restrict y, std::size_t n) {
    for (std::size_t i = 0; i < n; ++i) y[i] += a * x[i];
}

inline double log_sigmoid(double x) { return x >= 0 ? -std::log1p(std::exp(-x)) : x - std::log1p(std::exp(x)); }

}  // namespace

Result train_skipgram(const Corpus& c, const std::int64_t* counts, std::size_t V, float* syn0,
                      float* syn1, const Params& p) {
    Result res;
    const std::size_t dim = p.dim;
    // Negatives: cumulative count^0.75, searched by binary search (gensim's cum_table).
    std::vector<double> cum(V);
    double total_pow = 0.0, total = 0.0;
    for (std::size_t w = 0; w < V; ++w) {
        total_pow += std::pow(double(counts[w]), 0.75);
        cum[w] = total_pow;
        total += double(counts[w]);
    }
    // Subsampling: keep a word with probability (sqrt(f / (s T)) + 1) (s T) / f.
    std::vector<double> keep(V, 1.0);
    if (p.sample > 0)
        for (std::size_t w = 0; w < V; ++w) {
            const double f = double(counts[w]), t = p.sample * total;
            keep[w] = std::min(1.0, (std::sqrt(f / t) + 1.0) * t / f);
        }
    const int nt = std::max(1, p.threads);
    std::vector<double> loss(std::size_t(nt) * p.epochs, 0.0);
    std::vector<std::int64_t> pairs(std::size_t(nt) * p.epochs, 0), words(std::size_t(nt), 0);

    parallel_for(nt, [&](int t) {
        const std::size_t s0 = c.n_sentences * std::size_t(t) / std::size_t(nt);
        const std::size_t s1 = c.n_sentences * std::size_t(t + 1) / std::size_t(nt);
        std::vector<float> neu1e(dim);
        std::vector<std::int32_t> sent;
        const std::size_t lo = s0 < c.n_sentences ? std::size_t(c.offsets[s0]) : c.n_ids;
        const std::size_t hi = s1 < c.n_sentences ? std::size_t(c.offsets[s1]) : c.n_ids;
        const double share = double(hi - lo) * p.epochs;  // this thread's words, all epochs
        double done = 0.0;
        for (int e = 0; e < p.epochs; ++e) {
            Rng rng{p.seed * 0x100000001B3ull + std::uint64_t(t) * 7919u + std::uint64_t(e)};
            double& eloss = loss[std::size_t(t) * p.epochs + e];
            std::int64_t& epairs = pairs[std::size_t(t) * p.epochs + e];
            for (std::size_t s = s0; s < s1; ++s) {
                const std::size_t a = std::size_t(c.offsets[s]);
                const std::size_t b = s + 1 < c.n_sentences ? std::size_t(c.offsets[s + 1]) : c.n_ids;
                // Each thread's rate follows its own progress, so it decays to min_alpha
                // exactly at its last word, and runs repeat for a fixed thread count.
                const double progress = share > 0 ? done / share : 1.0;
                const float alpha = float(p.alpha - (p.alpha - p.min_alpha) * progress);
                done += double(b - a);
                sent.clear();
                for (std::size_t i = a; i < b; ++i) {
                    const std::int32_t w = c.ids[i];
                    if (keep[std::size_t(w)] >= 1.0 || rng.uniform() < keep[std::size_t(w)])
                        sent.push_back(w);
                }
                words[std::size_t(t)] += std::int64_t(sent.size());
                const int n = int(sent.size());
                for (int i = 0; i < n; ++i) {
                    const int reduced = int(rng.next() % std::uint64_t(p.window));  // shrink
                    const int win = p.window - reduced;
                    const std::size_t word = std::size_t(sent[std::size_t(i)]);
                    for (int j = std::max(0, i - win); j <= std::min(n - 1, i + win); ++j) {
                        if (j == i) continue;
                        float* l1 = syn0 + std::size_t(sent[std::size_t(j)]) * dim;
                        std::fill(neu1e.begin(), neu1e.end(), 0.0f);
                        for (int d = 0; d <= p.negative; ++d) {
                            std::size_t target;
                            float label;
                            if (d == 0) {
                                target = word;
                                label = 1.0f;
                            } else {
                                const double r = rng.uniform() * total_pow;
                                target = std::size_t(std::upper_bound(cum.begin(), cum.end(), r) -
                                                     cum.begin());
                                if (target >= V) target = V - 1;
                                if (target == word) continue;
                                label = 0.0f;
                            }
                            float* l2 = syn1 + target * dim;
                            const float f = dot(l1, l2, dim);
                            const float sig = 1.0f / (1.0f + std::exp(-f));
                            eloss -= label > 0 ? log_sigmoid(double(f)) : log_sigmoid(-double(f));
                            const float g = (label - sig) * alpha;
                            axpy(g, l2, neu1e.data(), dim);
                            axpy(g, l1, l2, dim);
                        }
                        axpy(1.0f, neu1e.data(), l1, dim);
                        ++epairs;
                    }
                }
            }
        }
    });
    for (int e = 0; e < p.epochs; ++e) {
        double l = 0.0;
        std::int64_t pr = 0;
        for (int t = 0; t < nt; ++t) {
            l += loss[std::size_t(t) * p.epochs + e];
            pr += pairs[std::size_t(t) * p.epochs + e];
        }
        res.epoch_loss.push_back(pr ? l / double(pr) : 0.0);
        res.pairs += pr;
    }
    for (auto w : words) res.words += w;
    return res;
}

}  // namespace msopt::w2v
