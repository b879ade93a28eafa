#include "fasttext.hpp"

#include <algorithm>
#include <cmath>

#include "threads.hpp"

namespace msopt::ftx {
namespace {

inline std::uint64_t mix(std::uint64_t& s) {
    std::uint64_t z = (s += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

// hidden = mean of the document's input rows; returns false for an empty document.
bool hidden_of(const Docs& d, std::size_t doc, const float* input, std::size_t dim,
               float* hidden) {
    const std::size_t lo = std::size_t(d.offsets[doc]);
    const std::size_t hi = doc + 1 < d.n_docs ? std::size_t(d.offsets[doc + 1]) : d.n_ids;
    std::fill(hidden, hidden + dim, 0.0f);
    if (hi == lo) return false;
    for (std::size_t j = lo; j < hi; ++j) {
        const float* __restrict row = input + std::size_t(d.ids[j]) * dim;
        for (std::size_t c = 0; c < dim; ++c) hidden[c] += row[c];
    }
    const float inv = 1.0f / float(hi - lo);
    for (std::size_t c = 0; c < dim; ++c) hidden[c] *= inv;
    return true;
}

// Softmax of output . hidden into p (classes).
void softmax(const float* output, std::size_t classes, std::size_t dim, const float* hidden,
             float* p) {
    float mx = -INFINITY;
    for (std::size_t k = 0; k < classes; ++k) {
        float s = 0.0f;
        const float* __restrict w = output + k * dim;
        for (std::size_t c = 0; c < dim; ++c) s += w[c] * hidden[c];
        p[k] = s;
        mx = std::max(mx, s);
    }
    float sum = 0.0f;
    for (std::size_t k = 0; k < classes; ++k) {
        p[k] = std::exp(p[k] - mx);
        sum += p[k];
    }
    for (std::size_t k = 0; k < classes; ++k) p[k] /= sum;
}

}  // namespace

std::vector<double> train(const Docs& d, float* input, std::size_t dim, float* output,
                          std::size_t classes, const Params& p) {
    const int nt = std::max(1, p.threads);
    std::vector<double> loss(std::size_t(nt) * std::size_t(p.epochs), 0.0);
    std::vector<std::int64_t> seen(std::size_t(nt) * std::size_t(p.epochs), 0);
    parallel_for(nt, [&](int t) {
        const std::size_t d0 = d.n_docs * std::size_t(t) / std::size_t(nt);
        const std::size_t d1 = d.n_docs * std::size_t(t + 1) / std::size_t(nt);
        const std::size_t n = d1 - d0;
        std::vector<float> hidden(dim), grad(dim), prob(classes);
        std::vector<std::size_t> order(n);
        const double total = double(n) * p.epochs;
        double done = 0.0;
        for (int e = 0; e < p.epochs; ++e) {
            // Each thread's documents in a seeded order, new every epoch.
            std::uint64_t s = p.seed * 0x100000001B3ull + std::uint64_t(t) * 7919u +
                              std::uint64_t(e) * 104729u;
            for (std::size_t i = 0; i < n; ++i) order[i] = d0 + i;
            for (std::size_t i = n; i > 1; --i) std::swap(order[i - 1], order[mix(s) % i]);
            double& eloss = loss[std::size_t(t) * std::size_t(p.epochs) + std::size_t(e)];
            std::int64_t& eseen = seen[std::size_t(t) * std::size_t(p.epochs) + std::size_t(e)];
            for (std::size_t i = 0; i < n; ++i, done += 1.0) {
                const std::size_t doc = order[i];
                if (!hidden_of(d, doc, input, dim, hidden.data())) continue;
                const float lr = float(p.lr * (1.0 - done / total));
                softmax(output, classes, dim, hidden.data(), prob.data());
                const std::size_t y = std::size_t(d.labels[doc]);
                eloss -= std::log(std::max(double(prob[y]), 1e-30));
                ++eseen;
                std::fill(grad.begin(), grad.end(), 0.0f);
                for (std::size_t k = 0; k < classes; ++k) {
                    const float alpha = lr * ((k == y ? 1.0f : 0.0f) - prob[k]);
                    float* __restrict w = output + k * dim;
                    for (std::size_t c = 0; c < dim; ++c) grad[c] += alpha * w[c];
                    for (std::size_t c = 0; c < dim; ++c) w[c] += alpha * hidden[c];
                }
                const std::size_t lo = std::size_t(d.offsets[doc]);
                const std::size_t hi =
                    doc + 1 < d.n_docs ? std::size_t(d.offsets[doc + 1]) : d.n_ids;
                const float inv = 1.0f / float(hi - lo);  // the mean's share of the gradient
                for (std::size_t j = lo; j < hi; ++j) {
                    float* __restrict row = input + std::size_t(d.ids[j]) * dim;
                    for (std::size_t c = 0; c < dim; ++c) row[c] += inv * grad[c];
                }
            }
        }
    });
    std::vector<double> out(std::size_t(p.epochs), 0.0);
    for (int e = 0; e < p.epochs; ++e) {
        double l = 0.0;
        std::int64_t n = 0;
        for (int t = 0; t < nt; ++t) {
            l += loss[std::size_t(t) * std::size_t(p.epochs) + std::size_t(e)];
            n += seen[std::size_t(t) * std::size_t(p.epochs) + std::size_t(e)];
        }
        out[std::size_t(e)] = n ? l / double(n) : 0.0;
    }
    return out;
}

void predict_proba(const Docs& d, const float* input, std::size_t dim, const float* output,
                   std::size_t classes, float* proba) {
    const int nt = threads_for(d.n_ids * dim + d.n_docs * classes * dim);
    parallel_for(nt, [&](int t) {
        std::vector<float> hidden(dim);
        const std::size_t d0 = d.n_docs * std::size_t(t) / std::size_t(nt);
        const std::size_t d1 = d.n_docs * std::size_t(t + 1) / std::size_t(nt);
        for (std::size_t doc = d0; doc < d1; ++doc) {
            hidden_of(d, doc, input, dim, hidden.data());
            softmax(output, classes, dim, hidden.data(), proba + doc * classes);
        }
    });
}

}  // namespace msopt::ftx
