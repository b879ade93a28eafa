// Sampled softmax with the log-Q correction (losses.hpp), the formulation of TensorFlow's
// sampled_softmax_loss: the logits of the true class and of the sampled classes, each
// corrected by -log Q(class) (its expected count under the sampler), go through a softmax
// cross-entropy whose target is the true class.  Optionally a sampled class equal to the
// true class (an accidental hit) leaves the softmax.  Arithmetic in double (the
// exponentials from libm, held in the scores' type until scaled).  Included by the ISA units that use it (unnamed namespace).
#pragma once

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstdint>

namespace msopt::losses {
namespace {

// One example: z (n scores, z[0] the true class's), ids (n class ids), log_q (n values).
// z becomes (softmax(l) - onehot(0)) * gs; returns logsumexp(l) - l_0.
template <class T>
inline double sampled_softmax_row(T* __restrict z, const std::int64_t* ids, const T* log_q,
                                  std::size_t n, bool remove_accidental_hits, double gs) {
    auto hit = [&](std::size_t j) { return remove_accidental_hits && j > 0 && ids[j] == ids[0]; };
    const double l0 = double(z[0]) - double(log_q[0]);
    double mx = l0;
    for (std::size_t j = 1; j < n; ++j)
        if (!hit(j)) mx = std::max(mx, double(z[j]) - double(log_q[j]));
    double sum = 0.0;
    for (std::size_t j = 0; j < n; ++j) {
        const double e = hit(j) ? 0.0 : std::exp(double(z[j]) - double(log_q[j]) - mx);
        z[j] = T(e);  // the exponential, held in T until the gradient below
        sum += e;
    }
    const double inv = gs / sum;
    for (std::size_t j = 0; j < n; ++j) z[j] = T(double(z[j]) * inv);
    z[0] = T(double(z[0]) - gs);
    return mx + std::log(sum) - l0;
}

}  // namespace
}  // namespace msopt::losses

namespace msopt::losses {
namespace {

template <class T>
double sampled_loss_grad(T* Z, std::size_t B, std::size_t n, const std::int64_t* ids,
                         const T* log_q, bool remove_accidental_hits, double scale) {
    double total = 0.0;
    for (std::size_t i = 0; i < B; ++i)
        total += sampled_softmax_row(Z + i * n, ids + i * n, log_q + i * n, n,
                                     remove_accidental_hits, scale);
    return total;
}

}  // namespace
}  // namespace msopt::losses
