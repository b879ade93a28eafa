// Adam / AdamW with compressed moments, included by each ISA translation unit next to
// update_rules.hpp.  The formulas and codes are written out in msopt/reference/lowbit.py,
// which the kernels match bit for bit (integer operations and IEEE float operations only).
//
//   bfloat16: m and v are stored as the top 16 bits of their float32 value, rounded
//             stochastically: add 16 random bits below the kept ones, then truncate.  The
//             32 random bits of element i are dither32(uint32(i) ^ key), with one key per
//             (seed, parameter, step): the high half rounds m, the low half v.  They do not
//             depend on threads or ISA.
//   int8:     each block of at most B elements of a row keeps one float32 scale per moment
//             (the block's largest magnitude) and one byte per element: m in a sign and 7
//             bits of 8-bit float code (4 exponent, 3 mantissa bits, relative to the scale,
//             steps of 2**-18 near 0), v in 8 bits (5 exponent, 3 mantissa; 2**-34 near 0).
//             A step decodes a block, updates it in float32 (the parameter update uses the
//             new float32 moments), finds the new scales and encodes the block again.
//
// The loops below are the definition; the AVX-512 and AVX2 units run intrinsics forms of
// them for whole int8 blocks and for bfloat16 runs of 32 (16) elements, the same operations
// in the same order, which the NumPy twin's tests check on every ISA.  Where two NaNs meet
// (nonfinite="ignore"), which one comes out is not IEEE's to say: the vector kernels keep the
// left operand's, as GCC's bfloat16 loops do on every path; for int8, the scales' NaN
// payloads and Adam's L2-decay add may carry another NaN on the baseline path than on the
// vector ones, and NumPy's twin may pick either.
#pragma once

#include <cstdint>
#include <cstring>

#if defined(__AVX512BW__) && defined(__AVX512DQ__) && defined(__AVX512VL__)
#include <immintrin.h>
#define MSOPT_Q8_AVX512 1
#elif defined(__AVX2__)
#include <immintrin.h>
#define MSOPT_Q8_AVX2 1
#endif

#include "update_rules.hpp"

namespace msopt::rules {
namespace {

inline std::uint32_t bits_of(float x) {
    std::uint32_t b;
    std::memcpy(&b, &x, 4);
    return b;
}
inline float float_of(std::uint32_t b) {
    float x;
    std::memcpy(&x, &b, 4);
    return x;
}

// The rounding bits of one element: a bijection of uint32 (an odd multiply, then the high
// half folded into the low one), so under a uniformly random key both halves are uniform and
// independent, which is all stochastic rounding needs (each moment is rounded up with
// exactly its dropped fraction, in expectation).  One multiply: the step stays memory-bound.
inline std::uint32_t dither32(std::uint32_t x) {
    x *= 0x9e3779b1U;
    return x ^ (x >> 16);
}

inline float bf16_decode(std::uint16_t h) { return float_of(std::uint32_t(h) << 16); }
// x rounded up with probability (dropped bits) / 2**16, given 16 random bits r.
inline std::uint16_t bf16_round(float x, std::uint32_t r) {
    return std::uint16_t((bits_of(x) + r) >> 16);
}

// The 8-bit codes, relative to the block's scale: x = |value| / scale in [0, 1] is coded by
// y = x + 2**-k, whose float32 bits rounded (half up) to 3 mantissa bits give
// code = exponent * 8 + mantissa (relative to 2**-k); decoding subtracts 2**-k again, so 0 is
// exact, the steps near 0 are 2**-(k+3) and above 2**-k the relative error is at most 1/16.
// m: k = 15, 7 bits of code and the sign in bit 7; v: k = 31, 8 bits.  Branch-free.  The
// rounding add and the exponent offset are one subtraction (a multiple of 2**20 less 2**19):
// equal to adding, shifting and subtracting for every uint32, wrap-arounds included, which the
// min then clamps alike.
inline std::uint8_t q8m_encode(float m, float inv) {
    const float y = float_of(bits_of(m) & 0x7fffffffU) * inv + 0x1p-15f;
    std::uint32_t c = (bits_of(y) - 0x37f80000U) >> 20;  // ((bits + 2**19) >> 20) - 896
    c = c < 127U ? c : 127U;
    return std::uint8_t(c | ((bits_of(m) >> 24) & 0x80U));
}
inline float q8m_decode(std::uint8_t q, float scale) {
    const float mag = float_of((std::uint32_t(q & 0x7fU) + 896U) << 20) - 0x1p-15f;
    return float_of(bits_of(mag) | (std::uint32_t(q & 0x80U) << 24)) * scale;
}
inline std::uint8_t q8v_encode(float v, float inv) {
    const float y = float_of(bits_of(v) & 0x7fffffffU) * inv + 0x1p-31f;
    std::uint32_t c = (bits_of(y) - 0x2ff80000U) >> 20;  // ((bits + 2**19) >> 20) - 768
    c = c < 255U ? c : 255U;
    return std::uint8_t(c);
}
inline float q8v_decode(std::uint8_t q, float scale) {
    return (float_of((std::uint32_t(q) + 768U) << 20) - 0x1p-31f) * scale;
}

// The factor that maps a block's largest magnitude to 1 (0 for an all-zero block).
inline float inverse(float a) { return a > 0.0f ? 1.0f / a : 0.0f; }

template <bool WD, bool DECOUPLED>
void adam_bf16(const Scalars<float>& s, float* __restrict p, const float* __restrict g,
               std::uint16_t* __restrict m, std::uint16_t* __restrict v, std::size_t n,
               std::uint64_t first, std::uint32_t key) {
    const std::uint32_t i0 = std::uint32_t(first);
    for (std::size_t i = 0; i < n; ++i) {
        float pi = p[i];
        float gi = g[i] * s.gs;
        if constexpr (WD) gi = gi + s.wd * pi;
        if constexpr (DECOUPLED) pi = pi * s.decay;
        const float mi = s.b1 * bf16_decode(m[i]) + s.omb1 * gi;
        const float vi = s.b2 * bf16_decode(v[i]) + s.omb2 * gi * gi;
        const std::uint32_t r = dither32((i0 + std::uint32_t(i)) ^ key);
        m[i] = bf16_round(mi, r >> 16);
        v[i] = bf16_round(vi, r & 0xffffU);
        p[i] = pi - s.step * mi / (std::sqrt(vi) * s.ibc2 + s.eps);
    }
}

// One block of n <= kMaxQ8Block elements (N: n known at compile time, 0: any n), in two
// passes.  The first reads the block and the old codes, updates the moments into float32
// buffers and finds their new scales; the second updates the parameters and writes the new
// codes.  The divide and square root sit in the second pass, so the first, which loads from
// memory, runs ahead without waiting on them; the arithmetic is the same as in one pass.
template <bool WD, bool DECOUPLED, std::size_t N>
void adam_q8(const Scalars<float>& s, float* __restrict p, const float* __restrict g,
             std::uint8_t* __restrict qm, std::uint8_t* __restrict qv, float* scale_m,
             float* scale_v, std::size_t count) {
    const std::size_t n = N != 0 ? N : count;
    alignas(64) float bm[kMaxQ8Block];
    alignas(64) float bv[kMaxQ8Block];
    const float am = *scale_m, av = *scale_v;
    std::uint32_t mx_m = 0, mx_v = 0;  // the new scales' bits (integer max: order-free)
    for (std::size_t i = 0; i < n; ++i) {
        float gi = g[i] * s.gs;
        if constexpr (WD) gi = gi + s.wd * p[i];
        const float mi = s.b1 * q8m_decode(qm[i], am) + s.omb1 * gi;
        const float vi = s.b2 * q8v_decode(qv[i], av) + s.omb2 * gi * gi;
        bm[i] = mi;
        bv[i] = vi;
        const std::uint32_t bits_m = bits_of(mi) & 0x7fffffffU, bits_v = bits_of(vi) & 0x7fffffffU;
        mx_m = mx_m < bits_m ? bits_m : mx_m;
        mx_v = mx_v < bits_v ? bits_v : mx_v;
    }
    const float nm = float_of(mx_m), nv = float_of(mx_v);
    const float im = inverse(nm), iv = inverse(nv);
    for (std::size_t i = 0; i < n; ++i) {
        float pi = p[i];
        if constexpr (DECOUPLED) pi = pi * s.decay;
        const float mi = bm[i], vi = bv[i];
        p[i] = pi - s.step * mi / (std::sqrt(vi) * s.ibc2 + s.eps);
        qm[i] = q8m_encode(mi, im);
        qv[i] = q8v_encode(vi, iv);
    }
    *scale_m = nm;
    *scale_v = nv;
}

#ifdef MSOPT_Q8_AVX512
// a + b, a's NaN when both are NaN (x86 returns the first source's), as the loops above
// give: GCC takes a vector + as commutative and may swap the operands of _mm512_add_ps.
inline __m512 add_first(__m512 a, __m512 b) {
    __m512 r;
    asm("vaddps %2, %1, %0" : "=v"(r) : "v"(a), "v"(b));
    return r;
}

inline __m512i widen16(const std::uint8_t* q) {  // 16 codes as 16 uint32
    return _mm512_cvtepu8_epi32(_mm_loadu_si128(reinterpret_cast<const __m128i*>(q)));
}

// adam_q8 for a whole block of N elements (a multiple of 16) written with AVX-512 intrinsics:
// the same operations on the same values in the same order, so the same bits.  What GCC made
// of the loops above widened the codes byte -> word -> dword and narrowed them back through
// word permutes; here each 16 codes are widened once (vpmovzxbd), the sign of m is a mask
// (a masked xor on decoding, a masked byte add on encoding), and vpmovusdb's unsigned
// saturation is v's clamp to 255.  One thread, 1e6 parameters (in cache): 0.32 -> 0.28 ns a
// parameter; 1e8: 37 -> 34 ms a step.
template <bool WD, bool DECOUPLED, std::size_t N>
void adam_q8_avx512(const Scalars<float>& s, float* __restrict p, const float* __restrict g,
                    std::uint8_t* __restrict qm, std::uint8_t* __restrict qv, float* scale_m,
                    float* scale_v) {
    static_assert(N % 16 == 0 && N <= kMaxQ8Block);
    alignas(64) float bm[N];
    alignas(64) float bv[N];
    const __m512 gs = _mm512_set1_ps(s.gs), wd = _mm512_set1_ps(s.wd);
    const __m512 b1 = _mm512_set1_ps(s.b1), omb1 = _mm512_set1_ps(s.omb1);
    const __m512 b2 = _mm512_set1_ps(s.b2), omb2 = _mm512_set1_ps(s.omb2);
    const __m512 am = _mm512_set1_ps(*scale_m), av = _mm512_set1_ps(*scale_v);
    const __m512 off_m = _mm512_set1_ps(0x1p-15f), off_v = _mm512_set1_ps(0x1p-31f);
    const __m512i abs_mask = _mm512_set1_epi32(0x7fffffff);
    const __m512i sign = _mm512_set1_epi32(std::int32_t(0x80000000U));
    const __m512i mant_m = _mm512_set1_epi32(0x07f00000), exp_m = _mm512_set1_epi32(896 << 20);
    const __m512i exp_v = _mm512_set1_epi32(768 << 20), bit7 = _mm512_set1_epi32(0x80);
    __m512i mx_m = _mm512_setzero_si512(), mx_v = _mm512_setzero_si512();
#pragma GCC unroll 2
    for (std::size_t i = 0; i < N; i += 16) {
        __m512 gi = _mm512_mul_ps(_mm512_loadu_ps(g + i), gs);
        if constexpr (WD) gi = add_first(gi, _mm512_mul_ps(wd, _mm512_loadu_ps(p + i)));
        // m: ((q & 0x7f) + 896) << 20 is (q << 20 & 0x07f00000) | 896 << 20 (disjoint bits)
        const __m512i cm = widen16(qm + i);
        const __m512i tm = _mm512_ternarylogic_epi32(_mm512_slli_epi32(cm, 20), mant_m, exp_m,
                                                     0xEA);  // (a & b) | c
        __m512i mag = _mm512_castps_si512(_mm512_sub_ps(_mm512_castsi512_ps(tm), off_m));
        mag = _mm512_mask_xor_epi32(mag, _mm512_test_epi32_mask(cm, bit7), mag, sign);
        const __m512 dm = _mm512_mul_ps(_mm512_castsi512_ps(mag), am);
        const __m512 mi = add_first(_mm512_mul_ps(b1, dm), _mm512_mul_ps(omb1, gi));
        // v: (q + 768) << 20 is q << 20 | 768 << 20
        const __m512i cv = widen16(qv + i);
        const __m512i tv = _mm512_or_si512(_mm512_slli_epi32(cv, 20), exp_v);
        const __m512 dv = _mm512_mul_ps(_mm512_sub_ps(_mm512_castsi512_ps(tv), off_v), av);
        const __m512 vi = add_first(_mm512_mul_ps(b2, dv),
                                        _mm512_mul_ps(_mm512_mul_ps(omb2, gi), gi));
        _mm512_store_ps(bm + i, mi);
        _mm512_store_ps(bv + i, vi);
        mx_m = _mm512_max_epu32(mx_m, _mm512_and_si512(_mm512_castps_si512(mi), abs_mask));
        mx_v = _mm512_max_epu32(mx_v, _mm512_and_si512(_mm512_castps_si512(vi), abs_mask));
    }
    const float nm = float_of(_mm512_reduce_max_epu32(mx_m));
    const float nv = float_of(_mm512_reduce_max_epu32(mx_v));
    const __m512 im = _mm512_set1_ps(inverse(nm)), iv = _mm512_set1_ps(inverse(nv));
    const __m512 decay = _mm512_set1_ps(s.decay), step = _mm512_set1_ps(s.step);
    const __m512 ibc2 = _mm512_set1_ps(s.ibc2), eps = _mm512_set1_ps(s.eps);
    const __m512i enc_m = _mm512_set1_epi32(0x37f80000), enc_v = _mm512_set1_epi32(0x2ff80000);
    const __m512i top_m = _mm512_set1_epi32(127);
    const __m128i sign8 = _mm_set1_epi8(std::int8_t(0x80));
#pragma GCC unroll 2
    for (std::size_t i = 0; i < N; i += 16) {
        __m512 pi = _mm512_loadu_ps(p + i);
        if constexpr (DECOUPLED) pi = _mm512_mul_ps(pi, decay);
        const __m512 mi = _mm512_load_ps(bm + i), vi = _mm512_load_ps(bv + i);
        const __m512 den = _mm512_add_ps(_mm512_mul_ps(_mm512_sqrt_ps(vi), ibc2), eps);
        _mm512_storeu_ps(p + i, _mm512_sub_ps(pi, _mm512_div_ps(_mm512_mul_ps(step, mi), den)));
        const __m512i bits_m = _mm512_castps_si512(mi);
        const __m512 ym = _mm512_add_ps(
            _mm512_mul_ps(_mm512_castsi512_ps(_mm512_and_si512(bits_m, abs_mask)), im), off_m);
        __m512i c = _mm512_srli_epi32(_mm512_sub_epi32(_mm512_castps_si512(ym), enc_m), 20);
        __m128i b = _mm512_cvtepi32_epi8(_mm512_min_epu32(c, top_m));
        b = _mm_mask_add_epi8(b, _mm512_movepi32_mask(bits_m), b, sign8);
        _mm_storeu_si128(reinterpret_cast<__m128i*>(qm + i), b);
        const __m512 yv = _mm512_add_ps(
            _mm512_mul_ps(_mm512_castsi512_ps(_mm512_and_si512(_mm512_castps_si512(vi), abs_mask)),
                          iv),
            off_v);
        c = _mm512_srli_epi32(_mm512_sub_epi32(_mm512_castps_si512(yv), enc_v), 20);
        _mm_storeu_si128(reinterpret_cast<__m128i*>(qv + i), _mm512_cvtusepi32_epi8(c));
    }
    *scale_m = nm;
    *scale_v = nv;
}
#endif

#ifdef MSOPT_Q8_AVX512
// adam_bf16 for the first n - n % 32 elements in AVX-512 intrinsics, the same operations in
// the same order (so the same bits); the rest is left to adam_bf16.  A moment's 16-bit
// code goes to the top half of its float with one zero-masked word permute, and the two
// rounded sums' top halves of 32 elements go out through one two-source word permute,
// where GCC's loops widened, shifted and narrowed.  One thread, 2e5 parameters (in cache):
// 0.21-0.26 -> 0.17-0.21 ns a parameter.  Returns the elements done.
template <bool WD, bool DECOUPLED>
std::size_t adam_bf16_avx512(const Scalars<float>& s, float* __restrict p,
                             const float* __restrict g, std::uint16_t* __restrict m,
                             std::uint16_t* __restrict v, std::size_t n, std::uint64_t first,
                             std::uint32_t key) {
    const __m512 gs = _mm512_set1_ps(s.gs), wd = _mm512_set1_ps(s.wd);
    const __m512 decay = _mm512_set1_ps(s.decay), step = _mm512_set1_ps(s.step);
    const __m512 b1 = _mm512_set1_ps(s.b1), omb1 = _mm512_set1_ps(s.omb1);
    const __m512 b2 = _mm512_set1_ps(s.b2), omb2 = _mm512_set1_ps(s.omb2);
    const __m512 ibc2 = _mm512_set1_ps(s.ibc2), eps = _mm512_set1_ps(s.eps);
    const __m512i keys = _mm512_set1_epi32(std::int32_t(key));
    const __m512i golden = _mm512_set1_epi32(std::int32_t(0x9e3779b1U));
    const __m512i low16 = _mm512_set1_epi32(0xffff);
    const __m512i sixteen = _mm512_set1_epi32(16);
    // word 2j + 1 of the result <- word j (+ 16 for the upper half); even words zeroed
    const __m512i lo_words = _mm512_set_epi16(15, 0, 14, 0, 13, 0, 12, 0, 11, 0, 10, 0, 9, 0,
                                              8, 0, 7, 0, 6, 0, 5, 0, 4, 0, 3, 0, 2, 0, 1, 0,
                                              0, 0);
    const __m512i hi_words = _mm512_add_epi16(lo_words, _mm512_set1_epi16(16));
    const __mmask32 odd = 0xAAAAAAAAU;
    // the odd (top) words of two vectors of 16 uint32: word 2j + 1 of a, then of b
    const __m512i tops = _mm512_set_epi16(63, 61, 59, 57, 55, 53, 51, 49, 47, 45, 43, 41, 39,
                                          37, 35, 33, 31, 29, 27, 25, 23, 21, 19, 17, 15, 13,
                                          11, 9, 7, 5, 3, 1);
    __m512i idx = _mm512_add_epi32(
        _mm512_set1_epi32(std::int32_t(std::uint32_t(first))),
        _mm512_set_epi32(15, 14, 13, 12, 11, 10, 9, 8, 7, 6, 5, 4, 3, 2, 1, 0));
    const std::size_t n32 = n - n % 32;
    for (std::size_t i = 0; i < n32; i += 32) {
        const __m512i mw = _mm512_loadu_si512(m + i), vw = _mm512_loadu_si512(v + i);
        __m512i sm[2], sv[2];
        for (int h = 0; h < 2; ++h) {
            const std::size_t j = i + 16 * std::size_t(h);
            const __m512i sel = h ? hi_words : lo_words;
            __m512 pi = _mm512_loadu_ps(p + j);
            __m512 gi = _mm512_mul_ps(_mm512_loadu_ps(g + j), gs);
            if constexpr (WD) gi = add_first(gi, _mm512_mul_ps(wd, pi));
            if constexpr (DECOUPLED) pi = _mm512_mul_ps(pi, decay);
            const __m512 dm = _mm512_castsi512_ps(_mm512_maskz_permutexvar_epi16(odd, sel, mw));
            const __m512 dv = _mm512_castsi512_ps(_mm512_maskz_permutexvar_epi16(odd, sel, vw));
            const __m512 mi = add_first(_mm512_mul_ps(b1, dm), _mm512_mul_ps(omb1, gi));
            const __m512 vi = add_first(_mm512_mul_ps(b2, dv),
                                            _mm512_mul_ps(_mm512_mul_ps(omb2, gi), gi));
            __m512i r = _mm512_mullo_epi32(_mm512_xor_si512(idx, keys), golden);
            r = _mm512_xor_si512(r, _mm512_srli_epi32(r, 16));
            idx = _mm512_add_epi32(idx, sixteen);
            sm[h] = _mm512_add_epi32(_mm512_castps_si512(mi), _mm512_srli_epi32(r, 16));
            sv[h] = _mm512_add_epi32(_mm512_castps_si512(vi), _mm512_and_si512(r, low16));
            const __m512 den = _mm512_add_ps(_mm512_mul_ps(_mm512_sqrt_ps(vi), ibc2), eps);
            _mm512_storeu_ps(p + j,
                             _mm512_sub_ps(pi, _mm512_div_ps(_mm512_mul_ps(step, mi), den)));
        }
        _mm512_storeu_si512(m + i, _mm512_permutex2var_epi16(sm[0], tops, sm[1]));
        _mm512_storeu_si512(v + i, _mm512_permutex2var_epi16(sv[0], tops, sv[1]));
    }
    return n32;
}
#endif

#ifdef MSOPT_Q8_AVX2
// The AVX2 forms of adam_q8_avx512 and adam_bf16_avx512 (8 lanes; the same operations in
// the same order, so the same bits).  Without masks or narrowing moves, the sign of m is
// its bit moved to bit 31 and xor-ed in, and codes are narrowed by saturating packs (whose
// saturation to 255 is v's clamp) and one lane-order permute.  One thread, 5e4 parameters
// (in cache), AVX2 kernels: int8 0.66 -> 0.55, bfloat16 0.48 -> 0.37 ns a parameter.
inline __m256 add_first(__m256 a, __m256 b) {  // adam_q8_avx512's add_first
    __m256 r;
    asm("vaddps %2, %1, %0" : "=x"(r) : "x"(a), "x"(b));
    return r;
}
inline __m256i widen8(const std::uint8_t* q) {  // 8 codes as 8 uint32
    return _mm256_cvtepu8_epi32(_mm_loadl_epi64(reinterpret_cast<const __m128i*>(q)));
}
inline std::uint32_t max8(__m256i x) {  // the largest of 8 uint32
    __m128i m = _mm_max_epu32(_mm256_castsi256_si128(x), _mm256_extracti128_si256(x, 1));
    m = _mm_max_epu32(m, _mm_shuffle_epi32(m, 0x4E));
    m = _mm_max_epu32(m, _mm_shuffle_epi32(m, 0xB1));
    return std::uint32_t(_mm_cvtsi128_si32(m));
}

template <bool WD, bool DECOUPLED, std::size_t N>
void adam_q8_avx2(const Scalars<float>& s, float* __restrict p, const float* __restrict g,
                  std::uint8_t* __restrict qm, std::uint8_t* __restrict qv, float* scale_m,
                  float* scale_v) {
    static_assert(N % 32 == 0 && N <= kMaxQ8Block);
    alignas(32) float bm[N];
    alignas(32) float bv[N];
    const __m256 gs = _mm256_set1_ps(s.gs), wd = _mm256_set1_ps(s.wd);
    const __m256 b1 = _mm256_set1_ps(s.b1), omb1 = _mm256_set1_ps(s.omb1);
    const __m256 b2 = _mm256_set1_ps(s.b2), omb2 = _mm256_set1_ps(s.omb2);
    const __m256 am = _mm256_set1_ps(*scale_m), av = _mm256_set1_ps(*scale_v);
    const __m256 off_m = _mm256_set1_ps(0x1p-15f), off_v = _mm256_set1_ps(0x1p-31f);
    const __m256i abs_mask = _mm256_set1_epi32(0x7fffffff);
    const __m256i sign = _mm256_set1_epi32(std::int32_t(0x80000000U));
    const __m256i mant_m = _mm256_set1_epi32(0x07f00000), exp_m = _mm256_set1_epi32(896 << 20);
    const __m256i exp_v = _mm256_set1_epi32(768 << 20);
    __m256i mx_m = _mm256_setzero_si256(), mx_v = _mm256_setzero_si256();
#pragma GCC unroll 2
    for (std::size_t i = 0; i < N; i += 8) {
        __m256 gi = _mm256_mul_ps(_mm256_loadu_ps(g + i), gs);
        if constexpr (WD) gi = add_first(gi, _mm256_mul_ps(wd, _mm256_loadu_ps(p + i)));
        const __m256i cm = widen8(qm + i);
        const __m256i tm = _mm256_or_si256(
            _mm256_and_si256(_mm256_slli_epi32(cm, 20), mant_m), exp_m);
        const __m256i mag = _mm256_castps_si256(_mm256_sub_ps(_mm256_castsi256_ps(tm), off_m));
        const __m256i sgn = _mm256_and_si256(_mm256_slli_epi32(cm, 24), sign);
        const __m256 dm = _mm256_mul_ps(_mm256_castsi256_ps(_mm256_xor_si256(mag, sgn)), am);
        const __m256 mi = add_first(_mm256_mul_ps(b1, dm), _mm256_mul_ps(omb1, gi));
        const __m256i tv = _mm256_or_si256(_mm256_slli_epi32(widen8(qv + i), 20), exp_v);
        const __m256 dv = _mm256_mul_ps(_mm256_sub_ps(_mm256_castsi256_ps(tv), off_v), av);
        const __m256 vi = add_first(_mm256_mul_ps(b2, dv),
                                        _mm256_mul_ps(_mm256_mul_ps(omb2, gi), gi));
        _mm256_store_ps(bm + i, mi);
        _mm256_store_ps(bv + i, vi);
        mx_m = _mm256_max_epu32(mx_m, _mm256_and_si256(_mm256_castps_si256(mi), abs_mask));
        mx_v = _mm256_max_epu32(mx_v, _mm256_and_si256(_mm256_castps_si256(vi), abs_mask));
    }
    const float nm = float_of(max8(mx_m)), nv = float_of(max8(mx_v));
    const __m256 im = _mm256_set1_ps(inverse(nm)), iv = _mm256_set1_ps(inverse(nv));
    const __m256 decay = _mm256_set1_ps(s.decay), step = _mm256_set1_ps(s.step);
    const __m256 ibc2 = _mm256_set1_ps(s.ibc2), eps = _mm256_set1_ps(s.eps);
    const __m256i enc_m = _mm256_set1_epi32(0x37f80000), enc_v = _mm256_set1_epi32(0x2ff80000);
    const __m256i top_m = _mm256_set1_epi32(127), bit7 = _mm256_set1_epi32(0x80);
    const __m256i order = _mm256_setr_epi32(0, 4, 1, 5, 2, 6, 3, 7);
    for (std::size_t i = 0; i < N; i += 32) {
        __m256i cm[4], cv[4];
        for (int k = 0; k < 4; ++k) {
            const std::size_t j = i + 8 * std::size_t(k);
            __m256 pi = _mm256_loadu_ps(p + j);
            if constexpr (DECOUPLED) pi = _mm256_mul_ps(pi, decay);
            const __m256 mi = _mm256_load_ps(bm + j), vi = _mm256_load_ps(bv + j);
            const __m256 den = _mm256_add_ps(_mm256_mul_ps(_mm256_sqrt_ps(vi), ibc2), eps);
            _mm256_storeu_ps(p + j,
                             _mm256_sub_ps(pi, _mm256_div_ps(_mm256_mul_ps(step, mi), den)));
            const __m256i bits_m = _mm256_castps_si256(mi);
            const __m256 ym = _mm256_add_ps(
                _mm256_mul_ps(_mm256_castsi256_ps(_mm256_and_si256(bits_m, abs_mask)), im),
                off_m);
            const __m256i c = _mm256_srli_epi32(
                _mm256_sub_epi32(_mm256_castps_si256(ym), enc_m), 20);
            cm[k] = _mm256_or_si256(_mm256_min_epu32(c, top_m),
                                    _mm256_and_si256(_mm256_srli_epi32(bits_m, 24), bit7));
            const __m256 yv = _mm256_add_ps(
                _mm256_mul_ps(
                    _mm256_castsi256_ps(_mm256_and_si256(_mm256_castps_si256(vi), abs_mask)),
                    iv),
                off_v);
            cv[k] = _mm256_srli_epi32(_mm256_sub_epi32(_mm256_castps_si256(yv), enc_v), 20);
        }
        // dwords (at most 4095) -> words -> bytes, saturating: v's codes above 255 become 255
        const auto pack = [&](const __m256i* c) {
            const __m256i b = _mm256_packus_epi16(_mm256_packus_epi32(c[0], c[1]),
                                                  _mm256_packus_epi32(c[2], c[3]));
            return _mm256_permutevar8x32_epi32(b, order);
        };
        _mm256_storeu_si256(reinterpret_cast<__m256i*>(qm + i), pack(cm));
        _mm256_storeu_si256(reinterpret_cast<__m256i*>(qv + i), pack(cv));
    }
    *scale_m = nm;
    *scale_v = nv;
}

template <bool WD, bool DECOUPLED>
std::size_t adam_bf16_avx2(const Scalars<float>& s, float* __restrict p,
                           const float* __restrict g, std::uint16_t* __restrict m,
                           std::uint16_t* __restrict v, std::size_t n, std::uint64_t first,
                           std::uint32_t key) {
    const __m256 gs = _mm256_set1_ps(s.gs), wd = _mm256_set1_ps(s.wd);
    const __m256 decay = _mm256_set1_ps(s.decay), step = _mm256_set1_ps(s.step);
    const __m256 b1 = _mm256_set1_ps(s.b1), omb1 = _mm256_set1_ps(s.omb1);
    const __m256 b2 = _mm256_set1_ps(s.b2), omb2 = _mm256_set1_ps(s.omb2);
    const __m256 ibc2 = _mm256_set1_ps(s.ibc2), eps = _mm256_set1_ps(s.eps);
    const __m256i keys = _mm256_set1_epi32(std::int32_t(key));
    const __m256i golden = _mm256_set1_epi32(std::int32_t(0x9e3779b1U));
    const __m256i low16 = _mm256_set1_epi32(0xffff), eight = _mm256_set1_epi32(8);
    __m256i idx = _mm256_add_epi32(_mm256_set1_epi32(std::int32_t(std::uint32_t(first))),
                                   _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
    const std::size_t n16 = n - n % 16;
    for (std::size_t i = 0; i < n16; i += 16) {
        __m256i sm[2], sv[2];
        for (int h = 0; h < 2; ++h) {
            const std::size_t j = i + 8 * std::size_t(h);
            __m256 pi = _mm256_loadu_ps(p + j);
            __m256 gi = _mm256_mul_ps(_mm256_loadu_ps(g + j), gs);
            if constexpr (WD) gi = add_first(gi, _mm256_mul_ps(wd, pi));
            if constexpr (DECOUPLED) pi = _mm256_mul_ps(pi, decay);
            const auto widen = [](const std::uint16_t* q) {  // 8 codes to their floats
                return _mm256_castsi256_ps(_mm256_slli_epi32(
                    _mm256_cvtepu16_epi32(_mm_loadu_si128(reinterpret_cast<const __m128i*>(q))),
                    16));
            };
            const __m256 mi = add_first(_mm256_mul_ps(b1, widen(m + j)),
                                            _mm256_mul_ps(omb1, gi));
            const __m256 vi = add_first(_mm256_mul_ps(b2, widen(v + j)),
                                            _mm256_mul_ps(_mm256_mul_ps(omb2, gi), gi));
            __m256i r = _mm256_mullo_epi32(_mm256_xor_si256(idx, keys), golden);
            r = _mm256_xor_si256(r, _mm256_srli_epi32(r, 16));
            idx = _mm256_add_epi32(idx, eight);
            sm[h] = _mm256_srli_epi32(
                _mm256_add_epi32(_mm256_castps_si256(mi), _mm256_srli_epi32(r, 16)), 16);
            sv[h] = _mm256_srli_epi32(
                _mm256_add_epi32(_mm256_castps_si256(vi), _mm256_and_si256(r, low16)), 16);
            const __m256 den = _mm256_add_ps(_mm256_mul_ps(_mm256_sqrt_ps(vi), ibc2), eps);
            _mm256_storeu_ps(p + j,
                             _mm256_sub_ps(pi, _mm256_div_ps(_mm256_mul_ps(step, mi), den)));
        }
        // 16 codes (each below 2**16, so the pack is exact), lanes back in order
        const auto pack = [](const __m256i* c) {
            return _mm256_permute4x64_epi64(_mm256_packus_epi32(c[0], c[1]), 0xD8);
        };
        _mm256_storeu_si256(reinterpret_cast<__m256i*>(m + i), pack(sm));
        _mm256_storeu_si256(reinterpret_cast<__m256i*>(v + i), pack(sv));
    }
    return n16;
}
#endif

template <bool WD, bool DECOUPLED>
void bf16_steps(const Scalars<float>& s, float* p, const float* g, std::uint16_t* m,
                std::uint16_t* v, std::size_t n, std::uint64_t first, std::uint32_t key) {
    std::size_t done = 0;
#if defined(MSOPT_Q8_AVX512)
    done = adam_bf16_avx512<WD, DECOUPLED>(s, p, g, m, v, n, first, key);
#elif defined(MSOPT_Q8_AVX2)
    done = adam_bf16_avx2<WD, DECOUPLED>(s, p, g, m, v, n, first, key);
#endif
    adam_bf16<WD, DECOUPLED>(s, p + done, g + done, m + done, v + done, n - done, first + done,
                             key);
}

// Dispatch on the options (Adam's L2 decay, AdamW's decoupled decay).
inline void update_bf16(const Coeffs& c, float* p, const float* g, std::uint16_t* m,
                        std::uint16_t* v, std::size_t n, std::uint64_t first,
                        std::uint32_t key) {
    const Scalars<float> s(c);
    if (c.algo == Algo::AdamW) bf16_steps<false, true>(s, p, g, m, v, n, first, key);
    else if (c.weight_decay != 0.0) bf16_steps<true, false>(s, p, g, m, v, n, first, key);
    else bf16_steps<false, false>(s, p, g, m, v, n, first, key);
}

// Whole blocks of the two sizes take the copy whose length is a constant (no remainder
// loops); a shorter last block takes the general one.  (No software prefetch: asking for the
// lines of a block 2,048 elements ahead made the step 1.2-1.3x slower on an idle machine,
// where the hardware's prefetcher keeps up by itself.)
template <bool WD, bool DECOUPLED, std::size_t B>
std::size_t adam_q8_whole(const Scalars<float>& s, float* p, const float* g, std::uint8_t* qm,
                          std::uint8_t* qv, float* scale_m, float* scale_v, std::size_t n) {
    std::size_t a = 0, b = 0;
    for (; a + B <= n; a += B, ++b) {
#if defined(MSOPT_Q8_AVX512)
        adam_q8_avx512<WD, DECOUPLED, B>(s, p + a, g + a, qm + a, qv + a, scale_m + b,
                                         scale_v + b);
#elif defined(MSOPT_Q8_AVX2)
        adam_q8_avx2<WD, DECOUPLED, B>(s, p + a, g + a, qm + a, qv + a, scale_m + b,
                                       scale_v + b);
#else
        adam_q8<WD, DECOUPLED, B>(s, p + a, g + a, qm + a, qv + a, scale_m + b, scale_v + b, B);
#endif
    }
    return b;
}

template <bool WD, bool DECOUPLED>
void adam_q8_blocks(const Scalars<float>& s, float* p, const float* g, std::uint8_t* qm,
                    std::uint8_t* qv, float* scale_m, float* scale_v, std::size_t n,
                    std::size_t block) {
    std::size_t b = 0;
    if (block == 256)
        b = adam_q8_whole<WD, DECOUPLED, 256>(s, p, g, qm, qv, scale_m, scale_v, n);
    else if (block == kMaxQ8Block)
        b = adam_q8_whole<WD, DECOUPLED, kMaxQ8Block>(s, p, g, qm, qv, scale_m, scale_v, n);
    for (std::size_t a = b * block; a < n; a += block, ++b)
        adam_q8<WD, DECOUPLED, 0>(s, p + a, g + a, qm + a, qv + a, scale_m + b, scale_v + b,
                                  n - a < block ? n - a : block);
}

// n elements in consecutive blocks of `block` (the last one shorter), with their scales.
inline void update_q8(const Coeffs& c, float* p, const float* g, std::uint8_t* qm,
                      std::uint8_t* qv, float* scale_m, float* scale_v, std::size_t n,
                      std::size_t block) {
    const Scalars<float> s(c);
    if (c.algo == Algo::AdamW)
        adam_q8_blocks<false, true>(s, p, g, qm, qv, scale_m, scale_v, n, block);
    else if (c.weight_decay != 0.0)
        adam_q8_blocks<true, false>(s, p, g, qm, qv, scale_m, scale_v, n, block);
    else
        adam_q8_blocks<false, false>(s, p, g, qm, qv, scale_m, scale_v, n, block);
}

}  // namespace
}  // namespace msopt::rules
