#include "fasttext.hpp"
#include "fasttext_rules.hpp"

#include <algorithm>
#include <cmath>

#include "../core/random.hpp"
#include "../optim/schedule.hpp"
#include "../embedding/row_access.hpp"

namespace msopt::ftx {
namespace {

// Negative classes for ns: a class drawn in proportion to its weight, class y left out.
// Drawing r from the other classes' total and stepping over y's interval is the same
// distribution as redrawing until the class differs from y (fastText's rule), in one draw.
struct Sampler {
    std::vector<double> cum;  // cum[k] = weights[0] + ... + weights[k]
    const double* w = nullptr;

    Sampler(const double* weights, std::size_t classes) : cum(classes), w(weights) {
        double acc = 0.0;
        for (std::size_t k = 0; k < classes; ++k) cum[k] = acc += weights[k];
    }

    // A class other than y, or cum.size() when no other class has weight.
    std::size_t draw_except(std::size_t y, double u) const {
        const std::size_t n = cum.size();
        const double before = y ? cum[y - 1] : 0.0;
        const double rest = cum[n - 1] - w[y];
        if (!(rest > 0.0)) return n;
        double r = u * rest;
        // Rounding is monotone, so r + w[y] >= before + w[y] rounds to >= cum[y]: past y.
        if (r >= before) r += w[y];
        std::size_t k = std::size_t(std::upper_bound(cum.begin(), cum.end(), r) - cum.begin());
        if (k >= n) {  // r rounded up to the total: the last class with weight, other than y
            k = n - 1;
            while (k == y || !(w[k] > 0.0)) --k;
        }
        return k;
    }
};

// One thread's documents, epoch after epoch, in a seeded order new every epoch; it can stop
// after a budget of input rows read and resume (deterministic rounds).
struct alignas(128) Walker {  // aligned: no cache line shared between threads
    const Docs* d = nullptr;
    const Params* p = nullptr;
    const Sampler* sampler = nullptr;
    std::size_t dim = 0, classes = 0;
    std::size_t d0 = 0, n = 0, epochs = 0, e = 0, i = 0;
    double total = 0.0, done = 0.0;
    SplitMix64 rng{0};  // the epoch's stream: the order, then the ns draws
    int t = 0;
    std::vector<float> h, grad, scratch;
    std::vector<std::size_t> order, negatives;
    std::vector<double> loss;
    std::vector<std::int64_t> seen;

    void init(const Docs& docs, const Params& params, const Sampler& smp, std::size_t dim_,
              std::size_t classes_, int thread, int nt) {
        d = &docs, p = &params, sampler = &smp, dim = dim_, classes = classes_, t = thread;
        const Share mine = share(d->n_docs, t, nt);
        d0 = mine.first, n = mine.second - mine.first;
        epochs = std::size_t(std::max(0, p->epochs));
        total = double(n) * double(epochs);
        h.resize(dim), grad.resize(dim), scratch.resize(classes), order.resize(n);
        negatives.resize(std::size_t(std::max(0, p->neg)));
        loss.assign(epochs, 0.0), seen.assign(epochs, 0);
        if (n == 0) e = epochs;
        if (e < epochs) shuffle();
    }
    bool finished() const { return e >= epochs; }

    template <class Rows>
    void run(Rows& input, Rows& output_rows, std::size_t budget) {
        const rules::Output<Rows> out{output_rows, classes, dim};
        std::size_t used = 0;
        while (e < epochs && used < budget) {
            const std::size_t doc = order[i];
            const float lr = float(p->lr * Schedule::linear_factor(total, 0.0).at(done));  // 1 - done/total
            used += d->end(doc) - d->begin(doc) + 1;
            if (rules::hidden(*d, doc, input, dim, h.data())) {
                loss[e] += step(out, doc, lr);
                ++seen[e];
                rules::spread(*d, doc, input, dim, grad.data());
            }
            done += 1.0;
            if (++i == n) {
                i = 0;
                if (++e < epochs) shuffle();
            }
        }
    }

  private:
    void shuffle() {
        rng = SplitMix64{stream_seed(p->seed, t, std::uint64_t(e) * 104729u)};
        for (std::size_t k = 0; k < n; ++k) order[k] = d0 + k;
        for (std::size_t k = n; k > 1; --k) std::swap(order[k - 1], order[rng.next() % k]);
    }

    template <class Rows>
    double step(const rules::Output<Rows>& out, std::size_t doc, float lr) {
        const std::size_t y = std::size_t(d->labels[doc]);
        switch (p->loss) {
            case Loss::softmax:
                return rules::update_softmax(out, h.data(), y, lr, grad.data(), scratch.data());
            case Loss::ova:
                return rules::update_ova(out, h.data(), y, lr, grad.data());
            case Loss::ns: {
                std::size_t m = 0;
                for (; m < negatives.size(); ++m) {
                    const std::size_t k = sampler->draw_except(y, rng.uniform());
                    if (k >= classes) break;  // no class but y has weight
                    negatives[m] = k;
                }
                return rules::update_ns(out, h.data(), y, negatives.data(), m, lr,
                                        grad.data());
            }
        }
        return 0.0;
    }
};

}  // namespace

std::vector<double> train(const Docs& d, float* input, std::size_t rows, std::size_t dim,
                          float* output, std::size_t classes, const double* class_weights,
                          const Params& p) {
    const int nt = std::max(1, p.threads);
    const Sampler sampler =
        p.loss == Loss::ns ? Sampler(class_weights, classes) : Sampler(nullptr, 0);
    std::vector<Walker> walkers(static_cast<std::size_t>(nt));
    for (int t = 0; t < nt; ++t)
        walkers[std::size_t(t)].init(d, p, sampler, dim, classes, t, nt);
    // Kept apart by lock-free threads: every class row (each document writes them) and the
    // first 1,024 input rows (the most frequent words); a TREC fit lasts milliseconds, so
    // copying more costs more than the contention it saves.
    run_walkers(walkers, p.deterministic, p.round_ids, input, rows, output, classes, dim,
                hot_rows(rows, dim, 1024), hot_rows(classes, dim, classes));
    const std::size_t epochs = std::size_t(std::max(0, p.epochs));
    std::vector<double> res(epochs, 0.0);
    for (std::size_t e = 0; e < epochs; ++e) {
        double l = 0.0;
        std::int64_t m = 0;
        for (const auto& w : walkers) {
            l += w.loss[e];
            m += w.seen[e];
        }
        res[e] = m ? l / double(m) : 0.0;
    }
    return res;
}

void predict_proba(const Docs& d, const float* input, std::size_t dim, const float* output,
                   std::size_t classes, Loss loss, float* proba) {
    const int nt = threads_for(d.n_ids * dim + d.n_docs * classes * dim);
    // The rules take writable rows; prediction only reads them.
    SharedRows out_rows{const_cast<float*>(output), dim};
    const SharedRows in_rows{const_cast<float*>(input), dim};
    const rules::Output<SharedRows> out{out_rows, classes, dim};
    parallel_for(nt, [&](int t) {
        std::vector<float> h(dim);
        SharedRows in = in_rows;
        const auto [d0, d1] = share(d.n_docs, t, nt);
        for (std::size_t doc = d0; doc < d1; ++doc) {
            rules::hidden(d, doc, in, dim, h.data());
            float* p = proba + doc * classes;
            if (loss == Loss::softmax) {
                rules::softmax(out, h.data(), p);
            } else {
                for (std::size_t k = 0; k < classes; ++k)
                    p[k] = rules::sigmoid(rules::dot16(out.row(k), h.data(), dim));
            }
        }
    });
}

}  // namespace msopt::ftx
