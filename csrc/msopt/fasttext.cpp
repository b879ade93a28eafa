#include "fasttext.hpp"

#include <algorithm>
#include <cmath>

#include "threads.hpp"

namespace msopt::ftx {
namespace {

inline std::uint64_t mix(std::uint64_t& s) {  // splitmix64
    std::uint64_t z = (s += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

inline double uniform(std::uint64_t& s) { return double(mix(s) >> 11) * 0x1.0p-53; }

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

}  // namespace

std::vector<double> train(const Docs& d, float* input, std::size_t dim, float* output,
                          std::size_t classes, const double* class_weights, const Params& p) {
    const int nt = std::max(1, p.threads);
    const std::size_t epochs = std::size_t(std::max(0, p.epochs));
    std::vector<double> loss(std::size_t(nt) * epochs, 0.0);
    std::vector<std::int64_t> seen(std::size_t(nt) * epochs, 0);
    const rules::Output out{output, classes, dim};
    const Sampler sampler =
        p.loss == Loss::ns ? Sampler(class_weights, classes) : Sampler(nullptr, 0);
    parallel_for(nt, [&](int t) {
        const std::size_t d0 = d.n_docs * std::size_t(t) / std::size_t(nt);
        const std::size_t d1 = d.n_docs * std::size_t(t + 1) / std::size_t(nt);
        const std::size_t n = d1 - d0;
        std::vector<float> h(dim), grad(dim), scratch(classes);
        std::vector<std::size_t> order(n), negatives(std::size_t(std::max(0, p.neg)));
        const double total = double(n) * double(epochs);
        double done = 0.0;
        for (std::size_t e = 0; e < epochs; ++e) {
            // Each thread's documents in a seeded order, new every epoch; the ns draws
            // continue the same stream.
            std::uint64_t s = p.seed * 0x100000001B3ull + std::uint64_t(t) * 7919u +
                              std::uint64_t(e) * 104729u;
            for (std::size_t i = 0; i < n; ++i) order[i] = d0 + i;
            for (std::size_t i = n; i > 1; --i) std::swap(order[i - 1], order[mix(s) % i]);
            double& eloss = loss[std::size_t(t) * epochs + e];
            std::int64_t& eseen = seen[std::size_t(t) * epochs + e];
            for (std::size_t i = 0; i < n; ++i, done += 1.0) {
                const std::size_t doc = order[i];
                if (!rules::hidden(d, doc, input, dim, h.data())) continue;
                const float lr = float(p.lr * (1.0 - done / total));
                const std::size_t y = std::size_t(d.labels[doc]);
                switch (p.loss) {
                    case Loss::softmax:
                        eloss += rules::update_softmax(out, h.data(), y, lr, grad.data(),
                                                       scratch.data());
                        break;
                    case Loss::ova:
                        eloss += rules::update_ova(out, h.data(), y, lr, grad.data());
                        break;
                    case Loss::ns: {
                        std::size_t m = 0;
                        for (; m < negatives.size(); ++m) {
                            const std::size_t k = sampler.draw_except(y, uniform(s));
                            if (k >= classes) break;  // no class but y has weight
                            negatives[m] = k;
                        }
                        eloss += rules::update_ns(out, h.data(), y, negatives.data(), m, lr,
                                                  grad.data());
                        break;
                    }
                }
                ++eseen;
                rules::spread(d, doc, input, dim, grad.data());
            }
        }
    });
    std::vector<double> res(epochs, 0.0);
    for (std::size_t e = 0; e < epochs; ++e) {
        double l = 0.0;
        std::int64_t m = 0;
        for (int t = 0; t < nt; ++t) {
            l += loss[std::size_t(t) * epochs + e];
            m += seen[std::size_t(t) * epochs + e];
        }
        res[e] = m ? l / double(m) : 0.0;
    }
    return res;
}

void predict_proba(const Docs& d, const float* input, std::size_t dim, const float* output,
                   std::size_t classes, Loss loss, float* proba) {
    const int nt = threads_for(d.n_ids * dim + d.n_docs * classes * dim);
    // The rules take a writable table; prediction only reads it.
    const rules::Output out{const_cast<float*>(output), classes, dim};
    parallel_for(nt, [&](int t) {
        std::vector<float> h(dim);
        const std::size_t d0 = d.n_docs * std::size_t(t) / std::size_t(nt);
        const std::size_t d1 = d.n_docs * std::size_t(t + 1) / std::size_t(nt);
        for (std::size_t doc = d0; doc < d1; ++doc) {
            rules::hidden(d, doc, input, dim, h.data());
            float* p = proba + doc * classes;
            if (loss == Loss::softmax) {
                rules::softmax(out, h.data(), p);
            } else {
                for (std::size_t k = 0; k < classes; ++k)
                    p[k] = rules::sigmoid(rules::dot(out.row(k), h.data(), dim));
            }
        }
    });
}

}  // namespace msopt::ftx
