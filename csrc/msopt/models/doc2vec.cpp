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

namespace {

// One document of an inference call, walked one example at a time: a thread keeps
// kSlots of them and, in PV-DBOW, takes an example of each together (W2vOps::pairs).  A
// document's examples depend on each other through its vector (each reads what the one
// before wrote), so one document alone runs as one long chain of latencies; different
// documents' chains are independent and overlap.  Each document's arithmetic, draws and
// order are those it has alone: its bits do not depend on its neighbours.
struct InferDoc {
    enum class Pass { First, Train, Measure };
    std::size_t s = 0, a = 0, b = 0;
    float* v = nullptr;
    SplitMix64 rng{0}, replay{0};  // the training stream; the measuring passes' stream
    std::uint64_t probe = 0;
    double first = 0, prev = 0;
    int epoch = 0;  // of the training pass under way, or the last one run
    // The pass under way: its kind, stream, rate and options, the words it keeps, its
    // examples [i0, i1) drawn (i the next), its summed loss.
    Pass pass = Pass::First;
    SplitMix64* r = nullptr;
    float alpha = 0;
    const w2v::Options* o = nullptr;
    std::vector<std::int32_t> sent;
    int m = 0, i0 = 0, i1 = 0, i = 0;
    double l = 0;
    std::vector<float*> rows, ctx;
    std::vector<int> n_rows, wins;
    std::vector<float> work, neu1;
};

constexpr int kSlots = w2v::kPairs;  // documents side by side per thread

}  // namespace

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
    const std::size_t stride = std::size_t(p.negative) + 1;
    const int nt = std::max(1, std::min<int>(p.threads, int(std::max<std::size_t>(1, n))));
    parallel_for(nt, [&](int t) {
        const w2v::W2vOps& k = w2v::kernels();
        const Share mine = share(n, t, nt);
        std::vector<InferDoc> slots(kSlots);
        std::vector<double> start(p.dim);
        for (InferDoc& x : slots) {  // allocated by the thread that uses them
            x.rows.resize(std::size_t(kDrawBlock) * stride);
            x.n_rows.resize(kDrawBlock);
            x.wins.resize(kDrawBlock);
            x.work.resize(p.dim);
            x.neu1.resize(p.dim);
        }
        // A pass over the document: with `measure` at rate 0 on the replayed stream (the
        // loss only, nothing moves), else training epoch x.epoch.  Its words are kept
        // here; its examples are drawn a block at a time by next_block.
        auto begin_pass = [&](InferDoc& x, InferDoc::Pass kind) {
            x.pass = kind;
            if (kind == InferDoc::Pass::Train) {
                // gensim's per-epoch rate: alpha first, min_alpha from epoch epochs - 1 on
                const double frac = p.epochs > 1
                                        ? std::min(1.0, double(x.epoch) / double(p.epochs - 1))
                                        : 0.0;
                x.alpha = float(p.alpha - (p.alpha - p.min_alpha) * frac);
                const bool last = p.tol <= 0 && x.epoch + 1 == p.max_epochs;
                x.o = last ? &with_loss : &no_loss;
                x.r = &x.rng;
            } else {
                x.replay = SplitMix64{x.probe};
                x.r = &x.replay;
                x.alpha = 0.0f;
                x.o = &with_loss;
            }
            subsample(d.ids, x.a, x.b, draws.keep, *x.r, x.sent);
            x.m = int(x.sent.size());
            x.i0 = x.i1 = x.i = 0;
            x.l = 0.0;
        };
        // The pass just finished: its mean loss per example (NaN without an example) goes
        // to the document's bookkeeping, which begins the next pass or ends the document
        // (returns false).
        auto end_pass = [&](InferDoc& x) {
            const double l = x.m ? x.l / double(x.m) : std::nan("");
            const std::size_t s = x.s;
            switch (x.pass) {
                case InferDoc::Pass::First:  // with tol: the loss before any epoch
                    x.first = x.prev = l;
                    break;
                case InferDoc::Pass::Train:
                    epochs_used[s] = x.epoch + 1;
                    if (p.tol > 0) {  // the loss on the fixed sample, measured next
                        begin_pass(x, InferDoc::Pass::Measure);
                        return true;
                    }
                    if (x.epoch + 1 == p.max_epochs) x.prev = l;  // the last epoch's, as trained
                    ++x.epoch;
                    break;
                case InferDoc::Pass::Measure: {
                    // The epoch's change against the decrease so far (the loss itself is
                    // mostly the constant of the negatives, so its own size says little).
                    const double cur = l;
                    const bool done = std::isfinite(cur) && x.first - cur > 0 &&
                                      std::abs(cur - x.prev) <= p.tol * (x.first - cur);
                    x.prev = cur;
                    if (done) {
                        converged[s] = 1;
                        loss[s] = x.prev;
                        return false;
                    }
                    ++x.epoch;
                    break;
                }
            }
            if (x.epoch < p.max_epochs) {
                begin_pass(x, InferDoc::Pass::Train);
                return true;
            }
            loss[s] = x.prev;
            return false;
        };
        // The next block of the pass under way, its draws taken in the order the loop
        // would take them (its window, then its targets), so the rows of an example kAhead
        // later can be fetched while one is computed; past the pass's end, the next pass.
        // Returns false when the document is done.
        auto next_block = [&](InferDoc& x) {
            while (x.i1 >= x.m)
                if (!end_pass(x)) return false;
            x.i0 = x.i = x.i1;
            x.i1 = std::min(x.m, x.i0 + kDrawBlock);
            for (int i = x.i0; i < x.i1; ++i) {
                const std::size_t q = std::size_t(i - x.i0);
                x.wins[q] = p.dm ? shrunk(*x.r, p.window) : 0;
                x.n_rows[q] = w2v::draw_targets(draws.negatives, *x.r, p.negative, wout,
                                                std::size_t(x.sent[std::size_t(i)]),
                                                x.rows.data() + q * stride);
            }
            return true;
        };
        // The rows of the example kAhead after x.i, fetched ahead.
        auto fetch_ahead = [&](const InferDoc& x) {
            const int q = x.i - x.i0 + kAhead;
            if (x.i + kAhead >= x.i1) return;
            float* const* ahead = x.rows.data() + std::size_t(q) * stride;
            for (int u = 0; u < x.n_rows[std::size_t(q)]; ++u) {
                const char* r = reinterpret_cast<const char*>(ahead[u]);
#pragma GCC unroll 8
                for (std::size_t c = 0; c < row_bytes; c += 64) __builtin_prefetch(r + c);
            }
        };
        // Example x.i of the block.
        auto example = [&](InferDoc& x) {
            fetch_ahead(x);
            const int i = x.i++;
            const std::size_t q = std::size_t(i - x.i0);
            float** tr = x.rows.data() + q * stride;
            const int nr = x.n_rows[q];
            if (p.dm) {
                const int w = x.wins[q];
                x.ctx.clear();
                x.ctx.push_back(x.v);
                for (int j = std::max(0, i - w); j <= std::min(x.m - 1, i + w); ++j)
                    if (j != i) x.ctx.push_back(win(std::size_t(x.sent[std::size_t(j)])));
                x.l += k.cbow(x.ctx.data(), int(x.ctx.size()), true, tr, nr, x.alpha,
                              x.neu1.data(), x.work.data(), p.dim, *x.o);
                // The words frozen: the kernel leaves the error in work; the vector takes
                // it (unscaled for the mean, word2vec's CBOW rule).
                if (x.alpha != 0.0f) simd::axpy(1.0f, x.work.data(), x.v, p.dim);
            } else {  // the vector is the input row: the kernel updates it
                x.l += k.pair(x.v, tr, nr, x.alpha, x.work.data(), p.dim,
                              x.alpha != 0.0f ? *x.o : measuring);
            }
        };
        // PV-DBOW: the next example of each live document, all together, as that many
        // example calls would.
        auto examples = [&](InferDoc* const* xs, int count) {
            w2v::PairCall c[w2v::kPairs];
            for (int j = 0; j < count; ++j) {
                InferDoc& z = *xs[j];
                fetch_ahead(z);
                const std::size_t q = std::size_t(z.i++ - z.i0);
                c[j] = w2v::PairCall{z.v, z.rows.data() + q * stride, z.n_rows[q], z.alpha,
                                     z.alpha != 0.0f ? z.o : &measuring};
            }
            double l[w2v::kPairs];
            k.pairs(c, count, p.dim, l);
            for (int j = 0; j < count; ++j) xs[j]->l += l[j];
        };
        // Starts the next documents of this thread's share in x until one has an example
        // to compute; false when the share is exhausted.
        std::size_t next_doc = mine.first;
        auto load = [&](InferDoc& x) {
            while (next_doc < mine.second) {
                const std::size_t s = next_doc++;
                x.s = s;
                x.a = std::size_t(d.offsets[s]);
                x.b = s + 1 < n ? std::size_t(d.offsets[s + 1]) : d.n_ids;
                x.v = out + s * p.dim;
                epochs_used[s] = 0;
                loss[s] = std::nan("");
                converged[s] = 0;
                if (x.a == x.b) {
                    std::fill(x.v, x.v + p.dim, 0.0f);
                    continue;
                }
                const std::uint64_t seed = words_stream(p.seed, d.ids + x.a, x.b - x.a);
                x.rng = SplitMix64{seed};
                // gensim's start: uniform, width 1 / dim (the draws in order, then the
                // divisions as one vector loop)
                for (std::size_t i = 0; i < p.dim; ++i) start[i] = x.rng.uniform() - 0.5;
                for (std::size_t i = 0; i < p.dim; ++i)
                    x.v[i] = float(start[i] / double(p.dim));
                // With tol, the loss watched and reported is the document's objective on one
                // fixed sample (its own stream, replayed), so it moves only when the vector
                // does; without, the last epoch's loss as trained (the only epoch that sums
                // it).
                x.probe = seed ^ 0x5EEDF1C5EEDF1C5Eull;
                x.epoch = 0;
                x.first = x.prev = std::nan("");
                begin_pass(x, p.tol > 0 ? InferDoc::Pass::First : InferDoc::Pass::Train);
                if (next_block(x)) return true;
            }
            return false;
        };
        // A document leaves its slot when done; the next one of the share takes it.
        auto done = [&](InferDoc& x) { return !(x.i < x.i1 || next_block(x) || load(x)); };
        const bool paired = !p.dm && p.negative + 1 <= w2v::kFrozenTargets;
        InferDoc* live[kSlots];
        int n_live = 0;
        for (InferDoc& x : slots)
            if (load(x)) live[n_live++] = &x;
        while (n_live > 0) {
            if (paired)
                examples(live, n_live);
            else
                for (int j = 0; j < n_live; ++j) example(*live[j]);
            for (int j = n_live - 1; j >= 0; --j)
                if (done(*live[j])) live[j] = live[--n_live];
        }
    });
}

}  // namespace msopt::d2v
