#include "kneser_ney.hpp"

#include <algorithm>
#include <cmath>
#include <numeric>
#include <stdexcept>
#include <string>

#include "../core/threads.hpp"

namespace msopt::kn {

namespace {

// The distinct rows of rows (n x k), sorted, each with its summed weight (1 a row when
// weight is null).
Counts unique_rows(const std::int32_t* rows, std::size_t n, int k, const std::int64_t* weight) {
    const std::size_t K = std::size_t(k);
    std::vector<std::size_t> idx(n);
    std::iota(idx.begin(), idx.end(), std::size_t(0));
    std::sort(idx.begin(), idx.end(), [&](std::size_t a, std::size_t b) {
        return std::lexicographical_compare(rows + a * K, rows + a * K + K, rows + b * K,
                                            rows + b * K + K);
    });
    Counts r;
    r.order = k;
    for (std::size_t i : idx) {
        const std::int32_t* g = rows + i * K;
        const std::int64_t w = weight ? weight[i] : 1;
        if (!r.count.empty() && std::equal(g, g + K, r.grams.end() - std::ptrdiff_t(K))) {
            r.count.back() += w;
        } else {
            r.grams.insert(r.grams.end(), g, g + K);
            r.count.push_back(w);
        }
    }
    return r;
}

// D1, D2, D3+ from the counts of counts n[0..3] (counts 1..4), Chen & Goodman's estimate;
// where a count of counts is missing (tiny texts) 0.5, 1, 1.5.  Each D_i lies in [0, i].
void discounts(const double n[4], double* D) {
    const double Y = n[0] + 2.0 * n[1] > 0.0 ? n[0] / (n[0] + 2.0 * n[1]) : 0.5;
    const double fallback[3] = {0.5, 1.0, 1.5};
    for (int i = 0; i < 3; ++i) {
        double d = n[i] > 0.0 ? (i + 1.0) - (i + 2.0) * Y * n[i + 1] / n[i] : fallback[i];
        if (!std::isfinite(d)) d = fallback[i];
        D[i] = std::clamp(d, 0.0, i + 1.0);
    }
}

double discount_of(const double* D, std::int64_t c) { return D[std::min<std::int64_t>(c, 3) - 1]; }

std::uint64_t hash_ids(const std::int32_t* h, std::size_t K) {
    std::uint64_t x = 0xCBF29CE484222325ull;
    for (std::size_t j = 0; j < K; ++j)
        x = (x ^ std::uint64_t(std::uint32_t(h[j]))) * 0x100000001B3ull;
    return x ^ (x >> 29);
}

// Order k's context index (Model::slots), over its n contexts.
void index_contexts(Model& m, std::size_t k) {
    const std::vector<std::int32_t>& cx = m.ctx[k - 1];
    const std::size_t K = k - 1, n = cx.size() / K;
    std::size_t size = 2;
    while (size < 2 * n) size *= 2;
    std::vector<std::uint32_t>& sl = m.slots[k - 1];
    sl.assign(size, 0);
    for (std::size_t j = 0; j < n; ++j) {
        std::size_t i = hash_ids(&cx[j * K], K) & (size - 1);
        while (sl[i]) i = (i + 1) & (size - 1);
        sl[i] = std::uint32_t(j + 1);
    }
}

// The index of context h (k - 1 ids) among order k's contexts, or -1.
std::ptrdiff_t find_context(const Model& m, int k, const std::int32_t* h) {
    const std::vector<std::int32_t>& cx = m.ctx[std::size_t(k - 1)];
    const std::vector<std::uint32_t>& sl = m.slots[std::size_t(k - 1)];
    const std::size_t K = std::size_t(k - 1), mask = sl.size() - 1;
    for (std::size_t i = hash_ids(h, K) & mask;; i = (i + 1) & mask) {
        const std::uint32_t e = sl[i];
        if (!e) return -1;
        if (std::equal(h, h + K, &cx[std::size_t(e - 1) * K])) return std::ptrdiff_t(e - 1);
    }
}

// p_upto(w | hist), hist the upto - 1 ids before w (more are allowed: the last ones count).
double prob_upto(const Model& m, const std::int32_t* hist, std::size_t len, std::int32_t w,
                 int upto) {
    double p = m.unigram[std::size_t(w)];
    for (int k = 2; k <= upto; ++k) {
        const std::ptrdiff_t j = find_context(m, k, hist + len - std::size_t(k - 1));
        if (j < 0) break;  // then no longer context was seen either
        const auto& g = m.grams[std::size_t(k - 1)];
        const auto& f = m.first[std::size_t(k - 1)];
        std::size_t lo = f[std::size_t(j)], hi = f[std::size_t(j) + 1];
        while (lo < hi) {  // the context's k-grams, sorted by their last id
            const std::size_t mid = lo + (hi - lo) / 2;
            if (g[mid * std::size_t(k) + std::size_t(k - 1)] < w) lo = mid + 1;
            else hi = mid;
        }
        if (lo < f[std::size_t(j) + 1] && g[lo * std::size_t(k) + std::size_t(k - 1)] == w)
            p = m.prob[std::size_t(k - 1)][lo];
        else
            p *= m.gamma[std::size_t(k - 1)][std::size_t(j)];
    }
    return p;
}

void history(const std::int32_t* tok, std::int32_t bos, std::size_t t, std::size_t len,
             std::int32_t* out) {
    for (std::size_t j = 0; j < len; ++j) {
        const std::ptrdiff_t i = std::ptrdiff_t(t) - std::ptrdiff_t(len) + std::ptrdiff_t(j);
        out[j] = i >= 0 ? tok[std::size_t(i)] : bos;
    }
}

}  // namespace

Counts count(const std::int32_t* tok, std::size_t n, std::int32_t bos, int order) {
    if (order < 1 || order > kMaxOrder)
        throw std::invalid_argument("order: expected 1 to " + std::to_string(kMaxOrder));
    const std::size_t N = std::size_t(order);
    std::vector<std::int32_t> rows(n * N);
    for (std::size_t t = 0; t < n; ++t) {
        history(tok, bos, t, N - 1, &rows[t * N]);
        rows[t * N + N - 1] = tok[t];
    }
    return unique_rows(rows.data(), n, order, nullptr);
}

Counts merge(const Counts& a, const Counts& b) {
    if (a.order != b.order) throw std::invalid_argument("merge: the orders differ");
    std::vector<std::int32_t> rows(a.grams);
    rows.insert(rows.end(), b.grams.begin(), b.grams.end());
    std::vector<std::int64_t> w(a.count);
    w.insert(w.end(), b.count.begin(), b.count.end());
    return unique_rows(rows.data(), w.size(), a.order, w.data());
}

Model build(const Counts& c, std::size_t vocab) {
    const int N = c.order;
    if (N < 1 || N > kMaxOrder)
        throw std::invalid_argument("order: expected 1 to " + std::to_string(kMaxOrder));
    if (!vocab) throw std::invalid_argument("vocab: expected at least 1 id");
    if (c.count.size() >= std::size_t(UINT32_MAX) / 2)  // the indexes are 32-bit
        throw std::invalid_argument("grams: too many distinct n-grams for one model");
    for (std::int32_t id : c.grams)
        if (id < 0 || std::size_t(id) >= vocab)
            throw std::invalid_argument("grams: id " + std::to_string(id) + " outside [0, " +
                                        std::to_string(vocab) + ")");
    Model m;
    m.order = N, m.vocab = vocab;
    const std::size_t NN = std::size_t(N);
    m.grams.resize(NN), m.prob.resize(NN), m.ctx.resize(NN), m.gamma.resize(NN),
        m.first.resize(NN), m.slots.resize(NN);
    std::vector<std::vector<std::int64_t>> cnt(NN);
    m.grams[NN - 1] = c.grams;
    cnt[NN - 1] = c.count;
    // lower orders: each (k+1)-gram's suffix once, so a k-gram counts its distinct
    // predecessors
    for (std::size_t k = NN - 1; k >= 1; --k) {
        const auto& up = m.grams[k];
        const std::size_t n = cnt[k].size();
        std::vector<std::int32_t> suf(n * k);
        for (std::size_t i = 0; i < n; ++i)
            std::copy(&up[i * (k + 1) + 1], &up[i * (k + 1) + 1] + k, &suf[i * k]);
        Counts low = unique_rows(suf.data(), n, int(k), nullptr);
        m.grams[k - 1] = std::move(low.grams);
        cnt[k - 1] = std::move(low.count);
    }
    for (std::size_t k = 0; k < NN; ++k) {
        double nc[4] = {0, 0, 0, 0};
        for (std::int64_t x : cnt[k])
            if (x >= 1 && x <= 4) nc[x - 1] += 1.0;
        discounts(nc, m.discount[k]);
    }
    // order 1: interpolated with the uniform distribution
    {
        const double* D = m.discount[0];
        double total = 0.0, mass = 0.0;
        for (std::int64_t x : cnt[0]) total += double(x), mass += discount_of(D, x);
        const double g = total > 0.0 ? mass / total : 1.0;
        m.unigram.assign(vocab, g / double(vocab));
        m.prob[0].resize(cnt[0].size());
        for (std::size_t i = 0; i < cnt[0].size(); ++i) {
            const std::size_t w = std::size_t(m.grams[0][i]);
            const double x = double(cnt[0][i]);
            m.unigram[w] += std::max(x - discount_of(D, cnt[0][i]), 0.0) / total;
            m.prob[0][i] = m.unigram[w];
        }
    }
    for (std::size_t k = 2; k <= NN; ++k) {
        const auto& g = m.grams[k - 1];
        const auto& x = cnt[k - 1];
        const double* D = m.discount[k - 1];
        const std::size_t n = x.size(), H = k - 1;
        auto& cx = m.ctx[k - 1];
        auto& gm = m.gamma[k - 1];
        auto& f = m.first[k - 1];
        for (std::size_t a = 0; a < n;) {  // a run: one context's k-grams
            std::size_t b = a + 1;
            while (b < n && std::equal(&g[a * k], &g[a * k] + H, &g[b * k])) ++b;
            double total = 0.0, mass = 0.0;
            for (std::size_t i = a; i < b; ++i) total += double(x[i]), mass += discount_of(D, x[i]);
            cx.insert(cx.end(), &g[a * k], &g[a * k] + H);
            gm.push_back(mass / total);
            f.push_back(std::uint32_t(a));
            a = b;
        }
        f.push_back(std::uint32_t(n));
        index_contexts(m, k);
        auto& p = m.prob[k - 1];
        p.resize(n);
        for (std::size_t j = 0; j + 1 < f.size(); ++j) {
            double total = 0.0;
            for (std::size_t i = f[j]; i < f[j + 1]; ++i) total += double(x[i]);
            for (std::size_t i = f[j]; i < f[j + 1]; ++i) {
                const double lower = prob_upto(m, &g[i * k], H, g[i * k + H], int(k) - 1);
                p[i] = std::max(double(x[i]) - discount_of(D, x[i]), 0.0) / total +
                       gm[j] * lower;
            }
        }
    }
    return m;
}

double prob(const Model& m, const std::int32_t* hist, std::int32_t w) {
    return prob_upto(m, hist, std::size_t(m.order - 1), w, m.order);
}

void distribution(const Model& m, const std::int32_t* hist, double* out) {
    std::copy(m.unigram.begin(), m.unigram.end(), out);
    const std::size_t len = std::size_t(m.order - 1);
    for (int k = 2; k <= m.order; ++k) {
        const std::ptrdiff_t j = find_context(m, k, hist + len - std::size_t(k - 1));
        if (j < 0) break;
        const double gm = m.gamma[std::size_t(k - 1)][std::size_t(j)];
        for (std::size_t v = 0; v < m.vocab; ++v) out[v] *= gm;
        const auto& g = m.grams[std::size_t(k - 1)];
        const auto& p = m.prob[std::size_t(k - 1)];
        const auto& f = m.first[std::size_t(k - 1)];
        for (std::size_t i = f[std::size_t(j)]; i < f[std::size_t(j) + 1]; ++i)
            out[std::size_t(g[i * std::size_t(k) + std::size_t(k - 1)])] = p[i];
    }
}

void score(const Model& m, const std::int32_t* tok, std::int32_t bos, std::size_t begin,
           std::size_t end, double* logp, int threads) {
    if (end <= begin) return;
    const std::size_t len = std::size_t(m.order - 1);
    const int nt = int(std::min<std::size_t>(std::size_t(std::max(1, threads)),
                                             std::max<std::size_t>(1, (end - begin) / 4096)));
    parallel_for(nt, [&](int t) {
        const auto [a, b] = share(end - begin, t, nt);
        std::vector<std::int32_t> h(len + 1);
        for (std::size_t i = a; i < b; ++i) {
            const std::size_t pos = begin + i;
            history(tok, bos, pos, len, h.data());
            logp[i] = std::log(prob(m, h.data(), tok[pos]));
        }
    });
}

}  // namespace msopt::kn
