#include "embedding.hpp"

#include <cstring>

#include "../optim/step.hpp"
#include "../core/threads.hpp"

namespace msopt::embedding {
namespace {

// Bags [b0, b1) of a thread: split by bag count (the work per bag is its ids x dim).
template <class F>
void over_bags(const Bags& bags, std::size_t dim, F&& body) {
    const int nt = threads_for(bags.n_ids * dim);
    parallel_for(nt, [&](int t) {
        const auto [b0, b1] = share(bags.n_bags, t, nt);
        for (std::size_t b = b0; b < b1; ++b) {
            const std::size_t lo = std::size_t(bags.offsets[b]);
            const std::size_t hi =
                b + 1 < bags.n_bags ? std::size_t(bags.offsets[b + 1]) : bags.n_ids;
            body(b, lo, hi);
        }
    });
}

}  // namespace

template <class T>
void bag_forward(const T* table, std::size_t dim, const Bags& bags, const T* weights, Mode mode,
                 T* out) {
    over_bags(bags, dim, [&](std::size_t b, std::size_t lo, std::size_t hi) {
        T* __restrict o = out + b * dim;
        for (std::size_t c = 0; c < dim; ++c) o[c] = T(0);
        for (std::size_t j = lo; j < hi; ++j) {
            const T* __restrict row = table + std::size_t(bags.ids[j]) * dim;
            const T w = weights ? weights[j] : T(1);
            for (std::size_t c = 0; c < dim; ++c) o[c] += w * row[c];
        }
        if (mode == Mode::Mean && hi > lo) {
            const T inv = T(1) / T(hi - lo);
            for (std::size_t c = 0; c < dim; ++c) o[c] *= inv;
        }
    });
}

template <class T>
void bag_backward(const T* grad_out, std::size_t dim, const Bags& bags, const T* weights,
                  Mode mode, T* values) {
    over_bags(bags, dim, [&](std::size_t b, std::size_t lo, std::size_t hi) {
        const T* __restrict g = grad_out + b * dim;
        const T mean = hi > lo ? T(1) / T(hi - lo) : T(0);
        for (std::size_t j = lo; j < hi; ++j) {
            const T s = mode == Mode::Mean ? mean : (weights ? weights[j] : T(1));
            T* __restrict v = values + j * dim;
            for (std::size_t c = 0; c < dim; ++c) v[c] = s * g[c];
        }
    });
}

template <class T>
void bag_backward_merged(const T* grad_out, std::size_t dim, const Bags& bags,
                         const T* weights, Mode mode, std::vector<std::int64_t>& uniq,
                         std::vector<T>& merged) {
    const std::size_t n = bags.n_ids;
    thread_local std::vector<std::uint32_t> which;
    first_appearance(bags.ids, n, uniq, which);
    merged.assign(uniq.size() * dim, T(0));
    for (std::size_t b = 0; b < bags.n_bags; ++b) {
        const std::size_t lo = std::size_t(bags.offsets[b]);
        const std::size_t hi = b + 1 < bags.n_bags ? std::size_t(bags.offsets[b + 1]) : n;
        const T* __restrict g = grad_out + b * dim;
        const T mean = hi > lo ? T(1) / T(hi - lo) : T(0);
        for (std::size_t j = lo; j < hi; ++j) {
            const T s = mode == Mode::Mean ? mean : (weights ? weights[j] : T(1));
            T* __restrict m = merged.data() + std::size_t(which[j]) * dim;
            for (std::size_t c = 0; c < dim; ++c) m[c] += s * g[c];
        }
    }
}

template void bag_backward_merged<float>(const float*, std::size_t, const Bags&, const float*,
                                         Mode, std::vector<std::int64_t>&, std::vector<float>&);
template void bag_backward_merged<double>(const double*, std::size_t, const Bags&,
                                          const double*, Mode, std::vector<std::int64_t>&,
                                          std::vector<double>&);
template void bag_forward<float>(const float*, std::size_t, const Bags&, const float*, Mode,
                                 float*);
template void bag_forward<double>(const double*, std::size_t, const Bags&, const double*, Mode,
                                  double*);
template void bag_backward<float>(const float*, std::size_t, const Bags&, const float*, Mode,
                                  float*);
template void bag_backward<double>(const double*, std::size_t, const Bags&, const double*,
                                   Mode, double*);

}  // namespace msopt::embedding
