// Small float loops shared by the embedding-model kernels (word2vec_rules.hpp,
// fasttext_rules.hpp): a dot product in 16 fixed lanes (one register with AVX-512, two with
// AVX2, four with SSE2: the same bits on every ISA) and axpy.  In an unnamed namespace, so
// each ISA unit keeps its own copy.
#pragma once

#include <cstddef>
#include <cstring>

namespace msopt::rules {
namespace {

typedef float F16 __attribute__((vector_size(64)));
typedef float F8 __attribute__((vector_size(32)));
typedef float F4 __attribute__((vector_size(16)));

// Lane j sums a[i] * b[i] for i = j (mod 16) over the whole 16-blocks, in order; the lanes
// are added in a fixed tree (j + 8, j + 4, j + 2, j + 1); the tail's products, summed in
// order, come last.  reference._dot16 does the same.  (Adding the tail into the lanes
// through memory would stall on store forwarding, at a third of the kernel's time.)
inline float dot16(const float* __restrict a, const float* __restrict b, std::size_t n) {
    F16 acc = {};
    std::size_t i = 0;
    for (; i + 16 <= n; i += 16) {
        F16 x, y;
        std::memcpy(&x, a + i, sizeof x);
        std::memcpy(&y, b + i, sizeof y);
        acc += x * y;
    }
    float tail = 0.0f;
    for (; i < n; ++i) tail += a[i] * b[i];
    const F8 t8 = __builtin_shufflevector(acc, acc, 0, 1, 2, 3, 4, 5, 6, 7) +
                     __builtin_shufflevector(acc, acc, 8, 9, 10, 11, 12, 13, 14, 15);
    const F4 t4 = __builtin_shufflevector(t8, t8, 0, 1, 2, 3) +
                     __builtin_shufflevector(t8, t8, 4, 5, 6, 7);
    return ((t4[0] + t4[2]) + (t4[1] + t4[3])) + tail;
}

inline void axpy(float a, const float* __restrict x, float* __restrict y, std::size_t n) {
    for (std::size_t i = 0; i < n; ++i) y[i] += a * x[i];
}

}  // namespace
}  // namespace msopt::rules
