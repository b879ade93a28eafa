#include "fasttext.hpp"

#include <algorithm>
#include <cmath>

#include "../core/dispatch.hpp"
#include "../core/random.hpp"
#include "../optim/schedule.hpp"
#include "../embedding/row_access.hpp"
#include "../losses/alias.hpp"
#include "resume.hpp"

namespace msopt::ftx {

MSOPT_ISA_DISPATCH(DocOps, kernels)

namespace {

// One thread's documents, epoch after epoch, in a seeded order new every epoch; it can stop
// after a budget of input rows read and resume (deterministic rounds).  The walker gathers
// each document's rows through the row access and hands them to the per-ISA rules.
struct alignas(128) Walker {  // aligned: no cache line shared between threads
    const Docs* d = nullptr;
    const Params* p = nullptr;
    const losses::AliasTable* sampler = nullptr;  // ns: the class weights
    std::size_t dim = 0, classes = 0;
    std::size_t d0 = 0, n = 0, epochs = 0, e = 0, i = 0;
    double total = 0.0, done = 0.0;
    SplitMix64 rng{0};  // the epoch's stream: the order, then the ns draws
    int t = 0;
    std::vector<float> h, grad, scratch;
    std::vector<std::size_t> order;
    std::vector<float*> in_rows, out_rows;
    std::vector<double> loss;
    std::vector<std::int64_t> seen;
    std::size_t chunk_used = 0;  // this call's input rows
    ResumeRow resume;
    ChunkBudget* budget_ = nullptr;

    void init(const Docs& docs, const Params& params, const losses::AliasTable& smp,
              ChunkBudget& budget, std::size_t dim_, std::size_t classes_, int thread,
              int nt) {
        d = &docs, p = &params, sampler = &smp, dim = dim_, classes = classes_, t = thread;
        budget_ = &budget;
        const Share mine = share(d->n_docs, t, nt);
        d0 = mine.first, n = mine.second - mine.first;
        epochs = std::size_t(std::max(0, p->epochs));
        total = double(n) * double(epochs);
        h.resize(dim), grad.resize(dim), scratch.resize(classes), order.resize(n);
        out_rows.resize(std::max(classes, std::size_t(std::max(0, p->neg)) + 1));
        loss.assign(epochs, 0.0), seen.assign(epochs, 0);
        if (p->resume) {
            resume = {p->resume + std::size_t(t) * resume_width(epochs), epochs};
            e = resume.get(0), i = resume.get(1), done = double(resume.get(2));
            resume.load(loss, seen);
        }
        if (n == 0) e = epochs;
        if (e < epochs) shuffle();
        if (resume && i > 0) rng.s = resume.get(3);  // mid-epoch: the stream goes on
    }
    bool finished() const { return e >= epochs || !budget_->left(chunk_used); }
    void save() const {
        if (!resume) return;
        resume.set(0, e), resume.set(1, i), resume.set(2, std::uint64_t(done));
        resume.set(3, rng.s);
        resume.store(loss, seen);
    }

    template <class Rows>
    void run(Rows& input, Rows& output, std::size_t budget) {
        const DocOps& k = kernels();
        const Schedule decay = Schedule::linear_factor(total, 0.0);  // fastText's lr decay
        std::size_t used = 0;
        while (e < epochs && used < budget && budget_->left(chunk_used)) {
            const std::size_t doc = order[i];
            const float lr = float(p->lr * decay.at(done));  // 1 - done / total
            const std::size_t lo = d->begin(doc), m = d->end(doc) - lo;
            used += m + 1;
            budget_->add(chunk_used, m + 1);
            in_rows.resize(m);
            for (std::size_t j = 0; j < m; ++j) in_rows[j] = input(std::size_t(d->ids[lo + j]));
            if (k.hidden(in_rows.data(), m, dim, h.data())) {
                loss[e] += step(k, output, doc, lr);
                ++seen[e];
                k.spread(in_rows.data(), m, dim, grad.data());
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
    double step(const DocOps& k, Rows& output, std::size_t doc, float lr) {
        const std::size_t l0 = d->label_begin(doc), ny = d->label_end(doc) - l0;
        const std::int32_t* ys = d->labels + l0;
        // softmax and ns: one of the document's classes, drawn when it has several.
        const std::size_t y = std::size_t(ys[ny > 1 && p->loss != Loss::ova ? rng.next() % ny
                                                                             : 0]);
        switch (p->loss) {
            case Loss::softmax:
            case Loss::ova:
                for (std::size_t c = 0; c < classes; ++c) out_rows[c] = output(c);
                return p->loss == Loss::softmax
                           ? k.softmax(out_rows.data(), classes, dim, h.data(), y, lr,
                                       grad.data(), scratch.data())
                           : k.ova(out_rows.data(), classes, dim, h.data(), ys, ny, lr,
                                   grad.data());
            case Loss::ns: {
                out_rows[0] = output(y);
                std::size_t m = 1;
                for (int j = 0; j < p->neg; ++j) {
                    const std::size_t c = sampler->draw_except(y, [&] { return rng.next(); });
                    if (c >= classes) break;  // no class but y has weight
                    out_rows[m++] = output(c);
                }
                return k.ns(out_rows.data(), m, dim, h.data(), lr, grad.data());
            }
        }
        return 0.0;
    }
};

}  // namespace

std::vector<double> train(const Docs& d, float* input, std::size_t rows, std::size_t dim,
                          float* output, std::size_t classes, const double* class_weights,
                          const Params& p, Progress* progress) {
    const int nt = std::max(1, p.threads);
    const losses::AliasTable sampler = p.loss == Loss::ns
                                           ? losses::AliasTable(class_weights, classes)
                                           : losses::AliasTable();
    std::vector<Walker> walkers(static_cast<std::size_t>(nt));
    ChunkBudget budget(p.chunk, nt, p.deterministic);
    for (int t = 0; t < nt; ++t)
        walkers[std::size_t(t)].init(d, p, sampler, budget, dim, classes, t, nt);
    // Kept apart by lock-free threads: every class row (each document writes them) and the
    // first 1,024 input rows (the most frequent words); a TREC fit lasts milliseconds, so
    // copying more costs more than the contention it saves.
    run_walkers(walkers, p.deterministic, p.round_ids, input, rows, output, classes, dim,
                hot_rows(rows, dim, 1024), hot_rows(classes, dim, classes));
    const std::size_t epochs = std::size_t(std::max(0, p.epochs));
    std::size_t epochs_done = epochs;
    for (const auto& w : walkers) {
        w.save();
        if (progress) progress->docs += std::int64_t(w.done);
        if (w.n) epochs_done = std::min(epochs_done, w.e);
    }
    if (progress) progress->epochs_done = int(epochs_done);
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
    const DocOps& k = kernels();
    parallel_for(nt, [&](int t) {
        std::vector<float> h(dim);
        std::vector<float*> in;
        const auto [d0, d1] = share(d.n_docs, t, nt);
        for (std::size_t doc = d0; doc < d1; ++doc) {
            const std::size_t lo = d.begin(doc), m = d.end(doc) - lo;
            in.resize(m);
            for (std::size_t j = 0; j < m; ++j)  // the rules take writable rows; only read
                in[j] = const_cast<float*>(input) + std::size_t(d.ids[lo + j]) * dim;
            k.hidden(in.data(), m, dim, h.data());
            k.predict(output, classes, dim, h.data(), loss == Loss::softmax,
                      proba + doc * classes);
        }
    });
}

}  // namespace msopt::ftx
