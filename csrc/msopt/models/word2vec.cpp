#include "word2vec.hpp"

#include <algorithm>
#include <cmath>

#include "../core/dispatch.hpp"
#include "../optim/schedule.hpp"
#include "../core/random.hpp"
#include "../embedding/row_access.hpp"
#include "../losses/alias.hpp"
#include "../simd/vec_math.hpp"
#include "resume.hpp"

namespace msopt::w2v {

MSOPT_ISA_DISPATCH(W2vOps, kernels)

namespace {

// What every thread reads: subsampling, the negative table, the sigmoid.
struct Shared {
    const Corpus& c;
    const Params& p;
    const Sampling& draws;
    Options opt;
    std::size_t sentence_end(std::size_t s) const {
        return s + 1 < c.n_sentences ? std::size_t(c.offsets[s + 1]) : c.n_ids;
    }
};

// One thread's walk over its sentences, epoch after epoch; it can stop after a budget of
// words and resume (deterministic rounds).
struct alignas(128) Walker {  // aligned: no cache line shared between threads
    std::size_t s0 = 0, s1 = 0;    // this thread's sentences
    std::size_t pos = 0, end = 0;  // position in epochs x sentences
    double share = 0.0, done = 0.0;
    SplitMix64 rng{0};
    std::vector<float> work, neu1;
    std::vector<std::int32_t> sent;
    std::vector<float*> rows, ctx;
    std::vector<double> loss;            // per epoch
    std::vector<std::int64_t> examples;  // per epoch
    std::int64_t words = 0;
    std::size_t chunk_used = 0;  // this call's words
    ResumeRow resume;

    void init(const Shared& shared, ChunkBudget& budget, int t, int nt) {
        sh_ = &shared;
        budget_ = &budget;
        const Shared& sh = shared;
        const std::size_t n = sh.c.n_sentences;
        const Share mine = msopt::share(n, t, nt);
        s0 = mine.first, s1 = mine.second;
        end = (s1 - s0) * std::size_t(sh.p.epochs);
        const std::size_t lo = s0 < n ? std::size_t(sh.c.offsets[s0]) : sh.c.n_ids;
        const std::size_t hi = s1 < n ? std::size_t(sh.c.offsets[s1]) : sh.c.n_ids;
        share = double(hi - lo) * sh.p.epochs;
        t_ = t;
        if (sh.p.resume) {
            resume = {sh.p.resume + std::size_t(t) * resume_width(std::size_t(sh.p.epochs)),
                      std::size_t(sh.p.epochs)};
            pos = resume.get(0), done = double(resume.get(1));
            rng.s = resume.get(2), words = std::int64_t(resume.get(3));
        }
    }
    bool finished() const { return pos >= end || !budget_->left(chunk_used); }
    std::size_t epochs_done() const { return s1 > s0 ? pos / (s1 - s0) : SIZE_MAX; }
    // The per-epoch sums, from the resume row when this call did not run the walker.
    void sums(std::size_t epochs) {
        if (!loss.empty()) return;
        loss.assign(epochs, 0.0);
        examples.assign(epochs, 0);
        if (resume) resume.load(loss, examples);
    }
    void save() const {
        if (!resume) return;
        resume.set(0, pos), resume.set(1, std::uint64_t(done));
        resume.set(2, rng.s), resume.set(3, std::uint64_t(words));
        resume.store(loss, examples);
    }

    // Trains sentences until `budget` words are consumed or the walk ends.
    template <class Rows>
    void run(Rows& in, Rows& out, std::size_t budget) {
        const Shared& sh = *sh_;
        const Params& p = sh.p;
        if (loss.empty()) {  // allocated by the thread that writes them: no shared lines
            work.resize(p.dim);
            neu1.resize(p.dim);
            rows.resize(std::size_t(p.negative) + 1);
            sums(std::size_t(p.epochs));
        }
        const std::size_t per_epoch = s1 - s0;
        // Each thread's rate follows its own progress, so it decays to min_alpha exactly at
        // its last word: alpha - (alpha - min_alpha) * progress, msopt's Linear schedule,
        // unfloored.
        Schedule decay;
        decay.kind = ScheduleKind::Linear;
        decay.base = p.alpha;
        decay.end = p.min_alpha;
        decay.floor = -HUGE_VAL;
        decay.total = share > 0 ? double(share) : 1.0;
        std::size_t used = 0;
        while (pos < end && used < budget && budget_->left(chunk_used)) {
            const std::size_t e = pos / per_epoch, s = s0 + pos % per_epoch;
            if (s == s0)  // a fixed stream per (seed, thread, epoch)
                rng = SplitMix64{stream_seed(p.seed, t_, e)};
            const std::size_t a = std::size_t(sh.c.offsets[s]), b = sh.sentence_end(s);
            const float alpha = float(decay.at(share > 0 ? double(done) : 1.0));
            done += double(b - a);
            used += b - a;
            budget_->add(chunk_used, b - a);
            ++pos;
            // Subsampling, branch-free: one uniform per word (keep >= 1 always passes).
            sent.resize(b - a);
            std::size_t kept = 0;
            for (std::size_t i = a; i < b; ++i) {
                const auto w = std::int32_t(sh.c.ids[i]);  // < 2^31 words: checked
                sent[kept] = w;
                kept += std::size_t(rng.uniform() < sh.draws.keep[std::size_t(w)]);
            }
            sent.resize(kept);
            words += std::int64_t(kept);
            sentence(sh, in, out, alpha, e);
        }
    }

  private:
    int t_ = 0;
    const Shared* sh_ = nullptr;
    ChunkBudget* budget_ = nullptr;

    template <class Rows>
    int targets(const Shared& sh, Rows& out, std::size_t word) {
        return draw_targets(sh.draws.negatives, rng, sh.p.negative, out, word, rows.data());
    }

    template <class Rows>
    void sentence(const Shared& sh, Rows& in, Rows& out, float alpha, std::size_t e) {
        const Params& p = sh.p;
        const W2vOps& k = kernels();
        const int n = int(sent.size());
        double l = 0.0;
        std::int64_t m = 0;
        for (int i = 0; i < n; ++i) {
            const int win = p.window - int(rng.next() % std::uint64_t(p.window));  // shrink
            const std::size_t word = std::size_t(sent[std::size_t(i)]);
            // i + win in 64 bits: a window up to 2^31 - 1 is taken
            const int j0 = std::max(0, i - win);
            const int j1 = int(std::min<std::int64_t>(n - 1, std::int64_t(i) + win));
            if (p.sg) {
                for (int j = j0; j <= j1; ++j) {
                    if (j == i) continue;
                    const int nr = targets(sh, out, word);
                    l += k.pair(in(std::size_t(sent[std::size_t(j)])), rows.data(), nr, alpha,
                                work.data(), p.dim, sh.opt);
                    ++m;
                }
            } else {
                ctx.clear();
                for (int j = j0; j <= j1; ++j)
                    if (j != i) ctx.push_back(in(std::size_t(sent[std::size_t(j)])));
                if (ctx.empty()) continue;
                const int nr = targets(sh, out, word);
                l += k.cbow(ctx.data(), int(ctx.size()), p.cbow_mean, rows.data(), nr, alpha,
                            neu1.data(), work.data(), p.dim, sh.opt);
                ++m;
            }
        }
        loss[e] += l;
        examples[e] += m;
    }
};

}  // namespace

struct Sampler::Draws {
    Sampling s;
};

Sampler::Sampler(const std::int64_t* counts, std::size_t V, double sample)
    : V_(V), sample_(sample), draws_(new Draws{make_sampling(counts, V, sample)}) {}

Sampler::~Sampler() = default;

Result train(const Corpus& c, const Sampler& sampler, float* syn0, float* syn1,
             const Params& p) {
    const std::size_t V = sampler.size();
    Shared sh{c, p, sampler.draws().s, {}};
    static const std::vector<float> table = simd::make_sigmoid_table();
    sh.opt.table = p.table_sigmoid ? table.data() : nullptr;
    sh.opt.loss = p.compute_loss;
    sh.opt.freeze_in = p.freeze_input;
    sh.opt.freeze_out = p.freeze_output;

    const int nt = std::max(1, p.threads);
    std::vector<Walker> walkers(static_cast<std::size_t>(nt));
    ChunkBudget budget(p.chunk, nt, p.deterministic);
    for (int t = 0; t < nt; ++t) walkers[std::size_t(t)].init(sh, budget, t, nt);
    const std::size_t hot = hot_rows(V, p.dim, V);  // the most frequent words, both tables
    run_walkers(walkers, p.deterministic, p.round_words, syn0, V, syn1, V, p.dim, hot, hot,
                p.freeze_input, p.freeze_output);
    Result res;
    std::size_t epochs_done = std::size_t(p.epochs);
    for (auto& w : walkers) {
        w.sums(std::size_t(p.epochs));
        w.save();
        res.done += std::int64_t(w.done);
        epochs_done = std::min(epochs_done, w.epochs_done());
    }
    res.epochs_done = int(epochs_done);
    for (int e = 0; e < p.epochs; ++e) {
        double l = 0.0;
        std::int64_t m = 0;
        for (const auto& w : walkers) {
            l += w.loss[std::size_t(e)];
            m += w.examples[std::size_t(e)];
        }
        res.epoch_loss.push_back(!p.compute_loss ? std::nan("") : m ? l / double(m) : 0.0);
        res.pairs += m;
    }
    for (const auto& w : walkers) res.words += w.words;
    return res;
}

}  // namespace msopt::w2v
