#include "topk.hpp"

#include <algorithm>
#include <limits>
#include <numeric>
#include <vector>

#include "../core/blas.hpp"
#include "../core/dispatch.hpp"
#include "../core/threads.hpp"
#include "topk_rules.hpp"

namespace msopt::search {

MSOPT_ISA_DISPATCH(Kernels, kernels)

namespace {

template <class T>
const TopkOps<T>& ops() {
    if constexpr (sizeof(T) == 4) return kernels().f32;
    else return kernels().f64;
}

// Below this many multiply-adds a call stays on one thread (waking the pool, ~14 us, and a
// second heap per query cost more than they save).
constexpr std::size_t kParallelMinMacs = std::size_t(1) << 22;

// One thread's share: queries [q0, q1) against the rows of blocks [b0, b1), a heap of k
// entries per query; `filled` entries are valid in each (the same for every query: all
// see the same rows).
template <class T>
struct Part {
    std::size_t q0 = 0, q1 = 0, b0 = 0, b1 = 0;
    std::vector<T> s;
    std::vector<std::int64_t> id;
    std::size_t filled = 0;
};

template <class T>
void scan_blocks(const T* X, std::size_t d, std::size_t row0, std::size_t row1, const T* Q,
                 std::size_t k, std::size_t block, std::size_t qblock, Part<T>& part) {
    const TopkOps<T>& op = ops<T>();
    const std::size_t nq = part.q1 - part.q0;
    part.s.assign(nq * k, T(0));
    part.id.assign(nq * k, -1);
    part.filled = 0;
    if (nq == 0 || part.b1 <= part.b0) return;
    std::vector<T> S(std::min(qblock, nq) * std::min(block, row1 - row0));
    constexpr T kNegInf = -std::numeric_limits<T>::infinity();
    for (std::size_t b = part.b0; b < part.b1; ++b) {
        const std::size_t r = row0 + b * block, m = std::min(block, row1 - r);
        const std::size_t fill = std::min(k - part.filled, m);  // rows that fill the heaps
        // query blocks start at multiples of qblock (part.q0 is one), whatever the threads
        for (std::size_t qa = part.q0; qa < part.q1; qa += qblock) {
            const std::size_t mq = std::min(qblock, part.q1 - qa);
            blas::gemm(false, true, mq, m, d, T(1), Q + qa * d, d, X + r * d, d, T(0), S.data(),
                       m);
            for (std::size_t i = 0; i < mq; ++i) {
                const T* row = S.data() + i * m;
                T* hs = part.s.data() + (qa - part.q0 + i) * k;
                std::int64_t* hi = part.id.data() + (qa - part.q0 + i) * k;
                for (std::size_t j = 0; j < fill; ++j) {
                    const T v = row[j] != row[j] ? kNegInf : row[j];
                    heap_push(hs, hi, part.filled + j, v, std::int64_t(r + j));
                }
                if (fill < m) op.scan(row + fill, m - fill, std::int64_t(r + fill), hs, hi, k);
            }
        }
        part.filled += fill;
    }
}

// best (sorted, -1 ids last) and the heaps of every part holding query q, merged into the
// best k, sorted.
template <class T>
void merge_query(std::size_t q, std::size_t k, T* best_s, std::int64_t* best_i,
                 const std::vector<Part<T>>& parts, std::vector<T>& cs,
                 std::vector<std::int64_t>& ci, std::vector<std::size_t>& order) {
    cs.clear(), ci.clear();
    T* bs = best_s + q * k;
    std::int64_t* bi = best_i + q * k;
    for (std::size_t j = 0; j < k && bi[j] >= 0; ++j) cs.push_back(bs[j]), ci.push_back(bi[j]);
    for (const Part<T>& p : parts) {
        if (q < p.q0 || q >= p.q1) continue;
        const std::size_t o = (q - p.q0) * k;
        for (std::size_t j = 0; j < p.filled; ++j)
            cs.push_back(p.s[o + j]), ci.push_back(p.id[o + j]);
    }
    order.resize(cs.size());
    std::iota(order.begin(), order.end(), std::size_t(0));
    const std::size_t keep = std::min(k, cs.size());
    const auto better = [&](std::size_t a, std::size_t b) {
        return worse(cs[b], ci[b], cs[a], ci[a]);
    };
    std::partial_sort(order.begin(), order.begin() + std::ptrdiff_t(keep), order.end(), better);
    for (std::size_t j = 0; j < keep; ++j) bs[j] = cs[order[j]], bi[j] = ci[order[j]];
    for (std::size_t j = keep; j < k; ++j)
        bs[j] = -std::numeric_limits<T>::infinity(), bi[j] = -1;
}

}  // namespace

template <class T>
void merge_rows(const T* X, std::size_t d, std::size_t row0, std::size_t row1, const T* Q,
                std::size_t nq, std::size_t k, T* best_s, std::int64_t* best_i,
                std::size_t block, std::size_t qblock, int threads) {
    if (row1 <= row0 || nq == 0 || k == 0) return;
    block = std::max<std::size_t>(block, 1), qblock = std::max<std::size_t>(qblock, 1);
    // Our threads each call BLAS on blocks of their own, so BLAS runs on one thread.
    blas::set_threads(1);
    const std::size_t rows = row1 - row0, nb = (rows + block - 1) / block;
    int nt = std::max(1, std::min(threads, kMaxThreads));
    if (double(nq) * double(rows) * double(d) < double(kParallelMinMacs)) nt = 1;
    // Threads split the row blocks when there are enough of them, else the query blocks.
    const std::size_t nqb = (nq + qblock - 1) / qblock;
    const bool by_rows = nb >= std::size_t(nt) || nb >= nqb;
    nt = int(std::min<std::size_t>(std::size_t(nt), by_rows ? nb : nqb));
    std::vector<Part<T>> parts(static_cast<std::size_t>(nt));
    for (int t = 0; t < nt; ++t) {
        Part<T>& p = parts[std::size_t(t)];
        if (by_rows) {
            const Share s = share(nb, t, nt);
            p.b0 = s.first, p.b1 = s.second;
            p.q0 = 0, p.q1 = nq;
        } else {
            const Share s = share(nqb, t, nt);
            p.b0 = 0, p.b1 = nb;
            p.q0 = s.first * qblock, p.q1 = std::min(nq, s.second * qblock);
        }
    }
    parallel_for(nt, [&](int t) {
        scan_blocks(X, d, row0, row1, Q, k, block, qblock, parts[std::size_t(t)]);
    });
    const int mt = nq * k * std::size_t(nt) < kParallelMinWork ? 1 : nt;
    parallel_for(mt, [&](int t) {
        const auto [q0, q1] = share(nq, t, mt);
        std::vector<T> cs;
        std::vector<std::int64_t> ci;
        std::vector<std::size_t> order;
        for (std::size_t q = q0; q < q1; ++q)
            merge_query(q, k, best_s, best_i, parts, cs, ci, order);
    });
}

template void merge_rows<float>(const float*, std::size_t, std::size_t, std::size_t,
                                const float*, std::size_t, std::size_t, float*, std::int64_t*,
                                std::size_t, std::size_t, int);
template void merge_rows<double>(const double*, std::size_t, std::size_t, std::size_t,
                                 const double*, std::size_t, std::size_t, double*,
                                 std::int64_t*, std::size_t, std::size_t, int);

}  // namespace msopt::search
