#include "doc2vec.hpp"

#include <algorithm>
#include <cmath>
#include <limits>
#include <vector>

#include "../core/threads.hpp"
#include "../embedding/row_access.hpp"
#include "../optim/schedule.hpp"
#include "../simd/vec_math.hpp"

namespace msopt::d2v {

struct Sampler::Draws {
    w2v::Sampling s;
};

Sampler::Sampler(const std::int64_t* counts, std::size_t V, double sample)
    : V_(V), sample_(sample), draws_(new Draws{w2v::make_sampling(counts, V, sample)}) {}

Sampler::~Sampler() = default;

namespace {

// Per-document streams: one per (seed, epoch, document) in training; one per (seed, word
// ids) in inference (FNV-1a over the ids), so equal documents get equal streams.
std::uint64_t doc_stream(std::uint64_t seed, std::uint64_t epoch, std::uint64_t doc) {
    SplitMix64 s{seed ^ 0xD0C2'7EC0'0000'0000ull};
    s.s += epoch * 0x9E3779B97F4A7C15ull;
    s.next();
    s.s ^= doc;
    return s.next();
}

std::uint64_t words_stream(std::uint64_t seed, const std::int64_t* ids, std::size_t n) {
    std::uint64_t h = 0xcbf29ce484222325ull;
    for (std::size_t i = 0; i < n; ++i) h = (h ^ std::uint64_t(ids[i] + 1)) * 0x100000001b3ull;
    return doc_stream(seed, ~std::uint64_t(0), h);
}

// The words of ids[a, b) that subsampling keeps, one uniform per word.
void subsample(const std::int64_t* ids, std::size_t a, std::size_t b,
               const std::vector<double>& keep, SplitMix64& rng, std::vector<std::int32_t>& out) {
    out.resize(b - a);
    std::size_t kept = 0;
    for (std::size_t i = a; i < b; ++i) {
        const auto w = std::int32_t(ids[i]);  // < 2^31 words: checked
        out[kept] = w;
        kept += std::size_t(rng.uniform() < keep[std::size_t(w)]);
    }
    out.resize(kept);
}

constexpr int kDrawBlock = 256;  // inference: examples whose draws are taken together
constexpr int kAhead = 2;        // inference: the rows of the example this far ahead are fetched

// Window shrinking, as word2vec: a width drawn in [1, window].
inline int shrunk(SplitMix64& rng, int window) {
    return window - int(rng.next() % std::uint64_t(window));
}

struct Shared {
    const Docs& d;
    const Params& p;
    std::size_t V;
    const w2v::Sampling& draws;
    w2v::Options opt;
    std::size_t doc_end(std::size_t s) const {
        return s + 1 < d.n_docs ? std::size_t(d.offsets[s + 1]) : d.n_ids;
    }
    std::size_t tag_end(std::size_t s) const {
        return s + 1 < d.n_docs ? std::size_t(d.tag_offsets[s + 1]) : d.n_tags;
    }
};

// One thread's share of the call's documents (the walker of row_access.hpp's run_walkers).
struct alignas(128) Walker {
    std::size_t pos = 0, end = 0;
    std::vector<float> work, neu1;
    std::vector<std::int32_t> sent;
    std::vector<float*> rows, ctx;
    double loss = 0.0;
    std::int64_t examples = 0, words = 0;

    void init(const Shared& sh, int t, int nt) {
        sh_ = &sh;
        const Share mine = share(sh.d.n_docs, t, nt);
        pos = mine.first;
        end = mine.second;
    }
    bool finished() const { return pos >= end; }

    template <class Rows>
    void run(Rows& in, Rows& out, std::size_t budget) {
        const Shared& sh = *sh_;
        const Params& p = sh.p;
        if (work.empty()) {  // allocated by the thread that uses them
            work.resize(p.dim);
            neu1.resize(p.dim);
            rows.resize(std::size_t(p.negative) + 1);
        }
        Schedule decay;
        decay.kind = ScheduleKind::Linear;
        decay.base = p.alpha;
        decay.end = p.min_alpha;
        decay.floor = -HUGE_VAL;
        decay.total = double(p.total_words) * p.epochs;
        std::size_t used = 0;
        while (pos < end && used < budget) {
            const std::size_t s = pos++;
            const std::size_t a = std::size_t(sh.d.offsets[s]), b = sh.doc_end(s);
            SplitMix64 rng{doc_stream(p.seed, std::uint64_t(p.epoch), p.first_doc + s)};
            const double done =
                double(p.total_words) * p.epoch + double(p.words_before) + double(a);
            const float alpha = float(decay.total > 0 ? decay.at(done) : p.alpha);
            used += b - a;
            subsample(sh.d.ids, a, b, sh.draws.keep, rng, sent);
            words += std::int64_t(sent.size());
            document(sh, in, out, alpha, s, rng);
        }
    }

  private:
    const Shared* sh_ = nullptr;

    template <class Rows>
    void document(const Shared& sh, Rows& in, Rows& out, float alpha, std::size_t s,
                  SplitMix64& rng) {
        const Params& p = sh.p;
        const w2v::W2vOps& k = w2v::kernels();
        const std::size_t t0 = std::size_t(sh.d.tag_offsets[s]), t1 = sh.tag_end(s);
        const int n = int(sent.size());
        double l = 0.0;
        std::int64_t m = 0;
        for (int i = 0; i < n; ++i) {
            const std::size_t word = std::size_t(sent[std::size_t(i)]);
            const int win = p.dm || p.dbow_words ? shrunk(rng, p.window) : 0;
            const int j0 = std::max(0, i - win), j1 = std::min(n - 1, i + win);
            if (p.dm) {
                ctx.clear();
                for (std::size_t t = t0; t < t1; ++t)
                    ctx.push_back(in(sh.V + std::size_t(sh.d.tags[t])));
                for (int j = j0; j <= j1; ++j)
                    if (j != i) ctx.push_back(in(std::size_t(sent[std::size_t(j)])));
                if (ctx.empty()) continue;  // no tag and a one-word document: nothing to mean
                const int nr = w2v::draw_targets(sh.draws.negatives, rng, p.negative, out, word,
                                                 rows.data());
                l += k.cbow(ctx.data(), int(ctx.size()), true, rows.data(), nr, alpha,
                            neu1.data(), work.data(), p.dim, sh.opt);
                ++m;
                continue;
            }
            if (p.dbow_words)
                for (int j = j0; j <= j1; ++j) {
                    if (j == i) continue;
                    const int nr = w2v::draw_targets(sh.draws.negatives, rng, p.negative, out,
                                                     word, rows.data());
                    l += k.pair(in(std::size_t(sent[std::size_t(j)])), rows.data(), nr, alpha,
                                work.data(), p.dim, sh.opt);
                    ++m;
                }
            for (std::size_t t = t0; t < t1; ++t) {
                const int nr = w2v::draw_targets(sh.draws.negatives, rng, p.negative, out, word,
                                                 rows.data());
                l += k.pair(in(sh.V + std::size_t(sh.d.tags[t])), rows.data(), nr, alpha,
                            work.data(), p.dim, sh.opt);
                ++m;
            }
        }
        loss += l;
        examples += m;
    }
};

w2v::Options options(bool compute_loss) {
    w2v::Options o;  // the exact sigmoid
    o.loss = compute_loss;
    return o;
}

}  // namespace

Result train(const Docs& d, const Sampler& sampler, std::size_t T, float* in, float* syn1,
             const Params& p) {
    const std::size_t V = sampler.size();
    Shared sh{d, p, V, sampler.draws().s, options(p.compute_loss)};
    const int nt =
        std::max(1, std::min<int>(p.threads, int(std::max<std::size_t>(1, d.n_docs))));
    std::vector<Walker> walkers(static_cast<std::size_t>(nt));
    for (int t = 0; t < nt; ++t) walkers[std::size_t(t)].init(sh, t, nt);
    // The most frequent words' rows kept apart: the outputs always, the inputs only when
    // word rows are written (PV-DM, dbow_words); tag rows never (each is one document's).
    const std::size_t hot = hot_rows(V, p.dim, V);
    run_walkers(walkers, p.deterministic, p.round_words, in, V + T, syn1, V, p.dim,
                p.dm || p.dbow_words ? hot : 0, hot);
    Result r;
    for (const auto& w : walkers) {
        r.loss += w.loss;
        r.examples += w.examples;
        r.words += w.words;
    }
    if (!p.compute_loss) r.loss = std::nan("");
    return r;
}

void infer(const Docs& d, const Sampler& sampler, const float* words, const float* syn1,
           const InferParams& p, float* out, std::int32_t* epochs_used, double* loss,
           std::uint8_t* converged) {
    const w2v::Sampling& draws = sampler.draws().s;
    // The output rows are always frozen, the word rows too for PV-DM (its input rows mix
    // them with the vector); a PV-DBOW step writes only its input row, the vector.
    w2v::Options with_loss = options(true), no_loss = options(false), measuring = options(true);
    with_loss.freeze_out = no_loss.freeze_out = measuring.freeze_out = true;
    with_loss.freeze_in = no_loss.freeze_in = p.dm;
    measuring.freeze_in = true;
    // The kernels take writable row pointers; with both tables frozen they write neither.
    float* in_rows = const_cast<float*>(words);
    float* out_rows = const_cast<float*>(syn1);
    SharedRows win{in_rows, p.dim}, wout{out_rows, p.dim};
    const std::size_t n = d.n_docs;
    const std::size_t row_bytes = p.dim * sizeof(float);
    const int nt = std::max(1, std::min<int>(p.threads, int(std::max<std::size_t>(1, n))));
    parallel_checked(nt, [&](int t) {
        const w2v::W2vOps& k = w2v::kernels();
        const Share mine = share(n, t, nt);
        std::vector<float> work(p.dim), neu1(p.dim);
        std::vector<float*> rows(std::size_t(kDrawBlock) * (std::size_t(p.negative) + 1)), ctx;
        std::vector<std::int32_t> sent;
        std::vector<int> n_rows(kDrawBlock), wins(kDrawBlock);
        for (std::size_t s = mine.first; s < mine.second; ++s) {
            const std::size_t a = std::size_t(d.offsets[s]);
            const std::size_t b = s + 1 < n ? std::size_t(d.offsets[s + 1]) : d.n_ids;
            float* v = out + s * p.dim;
            epochs_used[s] = 0;
            loss[s] = std::nan("");
            converged[s] = 0;
            if (a == b) {
                std::fill(v, v + p.dim, 0.0f);
                continue;
            }
            const std::uint64_t seed = words_stream(p.seed, d.ids + a, b - a);
            SplitMix64 rng{seed};
            for (std::size_t i = 0; i < p.dim; ++i)  // gensim's start: uniform, width 1 / dim
                v[i] = float((rng.uniform() - 0.5) / double(p.dim));
            // One pass over the document at rate alpha (0: the loss only, nothing moves);
            // returns its mean loss per example (NaN without an example).
            auto pass = [&](SplitMix64& r, float alpha, const w2v::Options& o) {
                subsample(d.ids, a, b, draws.keep, r, sent);
                const int m = int(sent.size());
                const std::size_t stride = std::size_t(p.negative) + 1;
                double l = 0.0;
                // In blocks of examples: the block's draws first, in the order the loop
                // would take them (its window, then its targets), so the rows of an example
                // kAhead later can be fetched while this one is computed.
                for (int i0 = 0; i0 < m; i0 += kDrawBlock) {
                    const int i1 = std::min(m, i0 + kDrawBlock);
                    for (int i = i0; i < i1; ++i) {
                        const std::size_t q = std::size_t(i - i0);
                        wins[q] = p.dm ? shrunk(r, p.window) : 0;
                        n_rows[q] = w2v::draw_targets(draws.negatives, r, p.negative, wout,
                                                      std::size_t(sent[std::size_t(i)]),
                                                      rows.data() + q * stride);
                    }
                    for (int i = i0; i < i1; ++i) {
                        const std::size_t q = std::size_t(i - i0);
                        if (i + kAhead < i1) {
                            float* const* ahead = rows.data() + (q + kAhead) * stride;
                            for (int t = 0; t < n_rows[q + kAhead]; ++t) {
                                const char* r = reinterpret_cast<const char*>(ahead[t]);
#pragma GCC unroll 8
                                for (std::size_t c = 0; c < row_bytes; c += 64)
                                    __builtin_prefetch(r + c);
                            }
                        }
                        float** tr = rows.data() + q * stride;
                        const int nr = n_rows[q];
                        if (p.dm) {
                            const int w = wins[q];
                            ctx.clear();
                            ctx.push_back(v);
                            for (int j = std::max(0, i - w); j <= std::min(m - 1, i + w); ++j)
                                if (j != i) ctx.push_back(win(std::size_t(sent[std::size_t(j)])));
                            l += k.cbow(ctx.data(), int(ctx.size()), true, tr, nr, alpha,
                                        neu1.data(), work.data(), p.dim, o);
                            // The words frozen: the kernel leaves the error in work; the
                            // vector takes it (unscaled for the mean, word2vec's CBOW rule).
                            if (alpha != 0.0f) simd::axpy(1.0f, work.data(), v, p.dim);
                        } else {  // the vector is the input row: the kernel updates it
                            l += k.pair(v, tr, nr, alpha, work.data(), p.dim,
                                        alpha != 0.0f ? o : measuring);
                        }
                    }
                }
                return m ? l / double(m) : std::nan("");
            };
            // With tol, the loss watched and reported is the document's objective on one
            // fixed sample (its own stream, replayed), so it moves only when the vector
            // does; without, the last epoch's loss as trained (the only epoch that sums it).
            const std::uint64_t probe = seed ^ 0x5EEDF1C5EEDF1C5Eull;
            auto measure = [&] {
                SplitMix64 r{probe};
                return pass(r, 0.0f, with_loss);
            };
            const double first = p.tol > 0 ? measure() : std::nan("");
            double prev = first;
            for (int e = 0; e < p.max_epochs; ++e) {
                // gensim's per-epoch rate: alpha first, min_alpha from epoch epochs - 1 on
                const double frac =
                    p.epochs > 1 ? std::min(1.0, double(e) / double(p.epochs - 1)) : 0.0;
                const float alpha = float(p.alpha - (p.alpha - p.min_alpha) * frac);
                const bool last = p.tol <= 0 && e + 1 == p.max_epochs;
                const double l = pass(rng, alpha, last ? with_loss : no_loss);
                epochs_used[s] = e + 1;
                if (last) prev = l;
                if (p.tol > 0) {
                    // The epoch's change against the decrease so far (the loss itself is
                    // mostly the constant of the negatives, so its own size says little).
                    const double cur = measure();
                    const bool done = std::isfinite(cur) && first - cur > 0 &&
                                      std::abs(cur - prev) <= p.tol * (first - cur);
                    prev = cur;
                    if (done) {
                        converged[s] = 1;
                        break;
                    }
                }
            }
            loss[s] = prev;
        }
    });
}

}  // namespace msopt::d2v
