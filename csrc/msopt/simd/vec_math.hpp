// The vector math every model is built from, included by the ISA translation units (and
// by plain units that want the same arithmetic): the 16-lane dot product, axpy, scale,
// the vectorizable exp, and the sigmoid and log-sigmoid variants the models use.  In an
// unnamed namespace, so each ISA unit keeps its own copy (core/dispatch.hpp).
//
// Every function here gives the same bits on every ISA: the builds use -ffp-contract=off
// and no fast-math, and the one reduction (dot16) adds in 16 fixed lanes.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <type_traits>
#include <vector>

namespace msopt::simd {

// word2vec's sigmoid table: kTableSize entries over [-kMaxExp, kMaxExp).
constexpr int kTableSize = 1000;
constexpr float kMaxExp = 6.0f;

namespace {

typedef float F8 __attribute__((vector_size(32)));
typedef float F4 __attribute__((vector_size(16)));
#if defined(__AVX512F__)
typedef float F16 __attribute__((vector_size(64)));
typedef F16 FW;  // the widest float vector of the unit
#else
typedef F8 FW;
#endif

// The sum of a[j] * b[j] for j in [i, n), in order from 0: the tail of dot16 (its products
// four at a time, the sum still one element after another).
inline float tail_dot(const float* __restrict a, const float* __restrict b, std::size_t i,
                      std::size_t n) {
    float tail = 0.0f;
    for (; i + 4 <= n; i += 4) {
        F4 x, y;
        std::memcpy(&x, a + i, sizeof x);
        std::memcpy(&y, b + i, sizeof y);
        const F4 p = x * y;
        tail = (((tail + p[0]) + p[1]) + p[2]) + p[3];
    }
    for (; i < n; ++i) tail += a[i] * b[i];
    return tail;
}

// dot16's 16 lanes: one 16-float register on AVX-512, else two 8-float halves (a 64-byte
// vector type is no register on AVX2, where GCC kept it on the stack and every block waited
// on store forwarding).  Lane j adds x[j] * y[j] either way, so the bits are the same.
struct Lanes16 {
#if defined(__AVX512F__)
    F16 v = {};
    static Lanes16 load(const float* p) {
        Lanes16 r;
        std::memcpy(&r.v, p, sizeof r.v);
        return r;
    }
    void add_product(const Lanes16& x, const Lanes16& y) { v += x.v * y.v; }
    F8 halves() const {  // lane j + lane j + 8
        return __builtin_shufflevector(v, v, 0, 1, 2, 3, 4, 5, 6, 7) +
               __builtin_shufflevector(v, v, 8, 9, 10, 11, 12, 13, 14, 15);
    }
#else
    F8 lo = {}, hi = {};
    static Lanes16 load(const float* p) {
        Lanes16 r;
        std::memcpy(&r.lo, p, sizeof r.lo);
        std::memcpy(&r.hi, p + 8, sizeof r.hi);
        return r;
    }
    void add_product(const Lanes16& x, const Lanes16& y) {
        lo += x.lo * y.lo;
        hi += x.hi * y.hi;
    }
    F8 halves() const { return lo + hi; }
#endif
    // The lanes added in dot16's fixed tree (j + 8, j + 4, j + 2, j + 1), then `tail`.
    float sum(float tail) const {
        const F8 t8 = halves();
        const F4 t4 = __builtin_shufflevector(t8, t8, 0, 1, 2, 3) +
                      __builtin_shufflevector(t8, t8, 4, 5, 6, 7);
        return ((t4[0] + t4[2]) + (t4[1] + t4[3])) + tail;
    }
};

// Lane j sums a[i] * b[i] for i = j (mod 16) over the whole 16-blocks, in order; the lanes
// are added in a fixed tree (j + 8, j + 4, j + 2, j + 1); the tail's products, summed in
// order, come last.  reference._dot16 does the same.  (Adding the tail into the lanes
// through memory would stall on store forwarding, at a third of the kernel's time.)
inline float dot16(const float* __restrict a, const float* __restrict b, std::size_t n) {
    Lanes16 s;
    std::size_t i = 0;
    for (; i + 16 <= n; i += 16) s.add_product(Lanes16::load(a + i), Lanes16::load(b + i));
    return s.sum(tail_dot(a, b, i, n));
}

// The dot16 of h with each of M <= 4 rows as the lanes of one vector (the lanes past M
// zero), each lane with dot16's bits: its 16 lanes and tail added in the same order, the
// rows' reductions side by side through transposes instead of one chain of shuffles and
// scalar adds per row, and the scores left in a register (stored one by one, they would
// be read back as a vector only after the stores drained).
template <int M>
inline F4 dot16_rows4(const float* __restrict h, const float* const* rows, std::size_t n) {
    static_assert(M >= 1 && M <= 4);
    Lanes16 s[M];
    std::size_t i = 0;
    for (; i + 16 <= n; i += 16) {
        const Lanes16 x = Lanes16::load(h + i);
#pragma GCC unroll 4
        for (int d = 0; d < M; ++d) s[d].add_product(x, Lanes16::load(rows[d] + i));
    }
    F8 t[4] = {};
#pragma GCC unroll 4
    for (int d = 0; d < M; ++d) t[d] = s[d].halves();  // lane j + lane j + 8
    // lane j + lane j + 4: rows 0 and 1 in u01, rows 2 and 3 in u23
    const F8 u01 = __builtin_shufflevector(t[0], t[1], 0, 1, 2, 3, 8, 9, 10, 11) +
                   __builtin_shufflevector(t[0], t[1], 4, 5, 6, 7, 12, 13, 14, 15);
    const F8 u23 = __builtin_shufflevector(t[2], t[3], 0, 1, 2, 3, 8, 9, 10, 11) +
                   __builtin_shufflevector(t[2], t[3], 4, 5, 6, 7, 12, 13, 14, 15);
    // (lane 0 + lane 2) + (lane 1 + lane 3), row d in lane d
    const F4 ac = __builtin_shufflevector(u01, u23, 0, 4, 8, 12) +
                  __builtin_shufflevector(u01, u23, 2, 6, 10, 14);
    const F4 bd = __builtin_shufflevector(u01, u23, 1, 5, 9, 13) +
                  __builtin_shufflevector(u01, u23, 3, 7, 11, 15);
    // The tail as tail_dot: products four at a time, each row's added in order.
    F4 tail = {};
    for (; i + 4 <= n; i += 4) {
        F4 x, p[4] = {};
        std::memcpy(&x, h + i, sizeof x);
#pragma GCC unroll 4
        for (int d = 0; d < M; ++d) {
            F4 y;
            std::memcpy(&y, rows[d] + i, sizeof y);
            p[d] = x * y;
        }
        const F4 t0 = __builtin_shufflevector(p[0], p[1], 0, 4, 1, 5);
        const F4 t1 = __builtin_shufflevector(p[0], p[1], 2, 6, 3, 7);
        const F4 t2 = __builtin_shufflevector(p[2], p[3], 0, 4, 1, 5);
        const F4 t3 = __builtin_shufflevector(p[2], p[3], 2, 6, 3, 7);
        tail = (((tail + __builtin_shufflevector(t0, t2, 0, 1, 4, 5)) +
                 __builtin_shufflevector(t0, t2, 2, 3, 6, 7)) +
                __builtin_shufflevector(t1, t3, 0, 1, 4, 5)) +
               __builtin_shufflevector(t1, t3, 2, 3, 6, 7);
    }
    for (; i < n; ++i) {
        F4 y = {};
        for (int d = 0; d < M; ++d) y[d] = h[i] * rows[d][i];
        tail += y;
    }
    return (ac + bd) + tail;
}

// Elements [i, i + width of V) of add_rows.  V: FW, F8, F4 or float.
template <class V, int M>
inline void add_rows_at(const float* g, const float* const* rows, float* __restrict y,
                        std::size_t i) {
    V acc{};
#pragma GCC unroll 8
    for (int d = 0; d < M; ++d) {
        V r;
        std::memcpy(&r, rows[d] + i, sizeof r);
        acc += g[d] * r;
    }
    V yv;
    std::memcpy(&yv, y + i, sizeof yv);
    yv += acc;
    std::memcpy(y + i, &yv, sizeof yv);
}

// y += (g[0] x_0 + g[1] x_1 + ... + g[M-1] x_{M-1}), the sum taken element by element from 0
// in d order: the bits of M axpys into a zeroed buffer and one axpy (a = 1) of it into y,
// without the buffer's loads and stores.
template <int M>
inline void add_rows(const float* g, const float* const* rows, float* __restrict y,
                     std::size_t n) {
    constexpr std::size_t kW = sizeof(FW) / sizeof(float);
    std::size_t i = 0;
    for (; i + kW <= n; i += kW) add_rows_at<FW, M>(g, rows, y, i);
    for (; i + 8 <= n; i += 8) add_rows_at<F8, M>(g, rows, y, i);
    for (; i + 4 <= n; i += 4) add_rows_at<F4, M>(g, rows, y, i);
    for (; i < n; ++i) add_rows_at<float, M>(g, rows, y, i);
}

// y += a x
template <class T>
inline void axpy(T a, const T* __restrict x, T* __restrict y, std::size_t n) {
    for (std::size_t i = 0; i < n; ++i) y[i] += a * x[i];
}

// x *= a
template <class T>
inline void scale(T a, T* __restrict x, std::size_t n) {
    for (std::size_t i = 0; i < n; ++i) x[i] *= a;
}

// exp(x) to ~2 ulp with a loop the compiler vectorizes: x = n ln2 + r, |r| <= ln2/2,
// exp(r) by a polynomial, 2^n through the exponent bits.  NaN stays NaN; inputs below the
// normal range give 0 and those near the top of it +Inf (a little early: the softmax only
// passes x <= 0).
template <class T>
inline T vexp(T x) {
    using I = std::conditional_t<sizeof(T) == 4, std::int32_t, std::int64_t>;
    constexpr bool F = sizeof(T) == 4;
    constexpr T hi = F ? T(88.72) : T(709.78);
    constexpr T lo = F ? T(-87.3) : T(-708.39);
    const bool over = x > hi;
    T xc = x < lo ? lo : (over ? hi : x);
    const T n = std::floor(xc * T(1.4426950408889634) + T(0.5));
    T r = xc - n * T(0.693145751953125);
    r = r - n * T(1.42860682030941723212e-6);
    T p;
    if constexpr (F) {
        p = T(1.9875691500e-4);
        p = p * r + T(1.3981999507e-3);
        p = p * r + T(8.3334519073e-3);
        p = p * r + T(4.1665795894e-2);
        p = p * r + T(1.6666665459e-1);
        p = p * r + T(5.0000001201e-1);
        p = p * r * r + r + T(1);
    } else {
        p = T(1.0 / 39916800);
        p = p * r + T(1.0 / 3628800);
        p = p * r + T(1.0 / 362880);
        p = p * r + T(1.0 / 40320);
        p = p * r + T(1.0 / 5040);
        p = p * r + T(1.0 / 720);
        p = p * r + T(1.0 / 120);
        p = p * r + T(1.0 / 24);
        p = p * r + T(1.0 / 6);
        p = p * r + T(0.5);
        p = p * r * r + r + T(1);
    }
    const I bits = (I(n) + I(F ? 127 : 1023)) << (F ? 23 : 52);
    T scale;
    std::memcpy(&scale, &bits, sizeof(T));
    T out = p * scale;
    if (x < lo) out = T(0);
    if (over) out = T(INFINITY);
    return x != x ? x : out;
}

// sigmoid(x) = 1 / (1 + exp(-x)) with the libm exp, as written (the text classifier's;
// overflow of exp(-x) gives 0, as it should).
inline float sigmoid(float x) { return 1.0f / (1.0f + std::exp(-x)); }

// sigmoid(f) from e = exp(-|f|) (computed beforehand, e.g. by vexp over a block):
// 1 / (1 + e) for f >= 0, e / (1 + e) below, no overflow and no cancellation.
inline float sigmoid_from_exp(float f, float e) {
    // One division with the numerator chosen: no branch on the sign, which is a coin flip
    // for the negatives of word2vec.
    return (f >= 0 ? 1.0f : e) / (1.0f + e);
}

// word2vec.c's table sigmoid: kTableSize entries over [-6, 6), saturating outside.
inline float sigmoid_table(const float* table, float f) {
    if (!(f < kMaxExp)) return 1.0f;  // NaN saturates too: no index from it
    if (!(f > -kMaxExp)) return 0.0f;
    // f just below 6 rounds to index kTableSize: the last entry stands for it
    return table[std::min(int((f + kMaxExp) * (kTableSize / kMaxExp / 2)), kTableSize - 1)];
}

// word2vec.c's expTable (built in double, rounded to float).
inline std::vector<float> make_sigmoid_table() {
    std::vector<float> t(kTableSize);
    for (int i = 0; i < kTableSize; ++i) {
        const double x = std::exp((double(i) / kTableSize * 2 - 1) * kMaxExp);
        t[std::size_t(i)] = float(x / (x + 1));
    }
    return t;
}

// log(sigmoid(x)) without overflow or cancellation for any finite x (in double).
inline double log_sigmoid(double x) {
    return x >= 0 ? -std::log1p(std::exp(-x)) : x - std::log1p(std::exp(x));
}

}  // namespace
}  // namespace msopt::simd
