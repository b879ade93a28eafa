// The element loops, included by each ISA translation unit.  Each loop reads every input
// once and writes every output once (Adam on fp32: 28 bytes per parameter).  Branches on
// options are hoisted into template parameters so that the loop bodies vectorize.
#pragma once

#include <cmath>
#include <cstdint>
#include <cstring>

#include "optim.hpp"

// An unnamed namespace gives every ISA's copy of these templates internal linkage: with
// ordinary (vague) linkage the linker would keep one copy for all ISAs.
namespace msopt::rules {
namespace {

template <class T>
struct Scalars {  // Coeffs rounded once to T, as NumPy rounds a Python float operand
    T gs, lr, wd, decay, b1, omb1, b2, omb2, eps, mom, omd, step, ibc2;
    explicit Scalars(const Coeffs& c)
        : gs(T(c.gscale)), lr(T(c.lr)), wd(T(c.weight_decay)), decay(T(c.decay)),
          b1(T(c.beta1)), omb1(T(1.0 - c.beta1)), b2(T(c.beta2)), omb2(T(1.0 - c.beta2)),
          eps(T(c.eps)), mom(T(c.momentum)), omd(T(1.0 - c.dampening)), step(T(c.step_size)),
          ibc2(T(c.inv_bc2_sqrt)) {}
};

// SGD: buf = g (first step) or momentum*buf + (1-dampening)*g; g = g + momentum*buf
// (nesterov) or buf; p = p - lr*g.
template <class T, bool WD, bool MOM, bool FIRST, bool NEST>
void sgd(const Scalars<T>& s, T* __restrict p, const T* __restrict g, T* __restrict buf,
         std::size_t n) {
    for (std::size_t i = 0; i < n; ++i) {
        T gi = g[i] * s.gs;
        if constexpr (WD) gi = gi + s.wd * p[i];
        if constexpr (MOM) {
            T b;
            if constexpr (FIRST) b = gi;
            else b = s.mom * buf[i] + s.omd * gi;
            buf[i] = b;
            if constexpr (NEST) gi = gi + s.mom * b;
            else gi = b;
        }
        p[i] = p[i] - s.lr * gi;
    }
}

// Adam / AdamW: m = b1*m + (1-b1)*g; v = b2*v + (1-b2)*g*g;
// p = p*decay - step * m / (sqrt(v or vmax) * ibc2 + eps).
template <class T, bool WD, bool AMS, bool DECOUPLED>
void adam(const Scalars<T>& s, T* __restrict p, const T* __restrict g, T* __restrict m,
          T* __restrict v, T* __restrict vmax, std::size_t n) {
    for (std::size_t i = 0; i < n; ++i) {
        T pi = p[i];
        T gi = g[i] * s.gs;
        if constexpr (WD) gi = gi + s.wd * pi;
        if constexpr (DECOUPLED) pi = pi * s.decay;
        const T mi = s.b1 * m[i] + s.omb1 * gi;
        const T vi = s.b2 * v[i] + s.omb2 * gi * gi;
        m[i] = mi;
        v[i] = vi;
        T denom;
        if constexpr (AMS) {
            const T old = vmax[i];
            const T mx = old < vi ? vi : old;
            vmax[i] = mx;
            denom = std::sqrt(mx) * s.ibc2 + s.eps;
        } else {
            denom = std::sqrt(vi) * s.ibc2 + s.eps;
        }
        p[i] = pi - s.step * mi / denom;
    }
}

// Adagrad: sum = sum + g*g; p = p - clr * g / (sqrt(sum) + eps).
template <class T, bool WD>
void adagrad(const Scalars<T>& s, T* __restrict p, const T* __restrict g, T* __restrict acc,
             std::size_t n) {
    for (std::size_t i = 0; i < n; ++i) {
        T gi = g[i] * s.gs;
        if constexpr (WD) gi = gi + s.wd * p[i];
        const T a = acc[i] + gi * gi;
        acc[i] = a;
        p[i] = p[i] - s.lr * gi / (std::sqrt(a) + s.eps);
    }
}

// RMSprop: sq = alpha*sq + (1-alpha)*g*g; ga = alpha*ga + (1-alpha)*g (centered);
// avg = sqrt(sq - ga*ga or sq) + eps; buf = mom*buf + g/avg, p = p - lr*buf (momentum)
// or p = p - lr*g/avg.
template <class T, bool WD, bool CENT, bool MOM>
void rmsprop(const Scalars<T>& s, T* __restrict p, const T* __restrict g, T* __restrict sq,
             T* __restrict buf, T* __restrict ga, std::size_t n) {
    for (std::size_t i = 0; i < n; ++i) {
        T gi = g[i] * s.gs;
        if constexpr (WD) gi = gi + s.wd * p[i];
        const T q = s.b2 * sq[i] + s.omb2 * gi * gi;
        sq[i] = q;
        T avg;
        if constexpr (CENT) {
            const T a = s.b2 * ga[i] + s.omb2 * gi;
            ga[i] = a;
            avg = std::sqrt(q - a * a) + s.eps;
        } else {
            avg = std::sqrt(q) + s.eps;
        }
        if constexpr (MOM) {
            const T b = s.mom * buf[i] + gi / avg;
            buf[i] = b;
            p[i] = p[i] - s.lr * b;
        } else {
            p[i] = p[i] - s.lr * gi / avg;
        }
    }
}

// Lion: c = b1*m + (1-b1)*g; p = p*decay - lr*sign(c); m = b2*m + (1-b2)*g.
template <class T>
void lion(const Scalars<T>& s, T* __restrict p, const T* __restrict g, T* __restrict m,
          std::size_t n) {
    for (std::size_t i = 0; i < n; ++i) {
        const T gi = g[i] * s.gs;
        const T mi = m[i];
        const T c = s.b1 * mi + s.omb1 * gi;
        const T sign = T(c > T(0)) - T(c < T(0));
        p[i] = p[i] * s.decay - s.lr * sign;
        m[i] = s.b2 * mi + s.omb2 * gi;
    }
}

template <class T>
void update(const Coeffs& c, T* p, const T* g, T* const* st, std::size_t n) {
    const Scalars<T> s(c);
    const bool wd = c.weight_decay != 0.0;
    switch (c.algo) {
        case Algo::SGD: {
            const bool mom = c.momentum != 0.0;
            if (!mom) {
                if (wd) sgd<T, true, false, false, false>(s, p, g, nullptr, n);
                else sgd<T, false, false, false, false>(s, p, g, nullptr, n);
            } else if (c.first_step) {
                if (c.nesterov) {
                    if (wd) sgd<T, true, true, true, true>(s, p, g, st[0], n);
                    else sgd<T, false, true, true, true>(s, p, g, st[0], n);
                } else {
                    if (wd) sgd<T, true, true, true, false>(s, p, g, st[0], n);
                    else sgd<T, false, true, true, false>(s, p, g, st[0], n);
                }
            } else {
                if (c.nesterov) {
                    if (wd) sgd<T, true, true, false, true>(s, p, g, st[0], n);
                    else sgd<T, false, true, false, true>(s, p, g, st[0], n);
                } else {
                    if (wd) sgd<T, true, true, false, false>(s, p, g, st[0], n);
                    else sgd<T, false, true, false, false>(s, p, g, st[0], n);
                }
            }
            break;
        }
        case Algo::Adam:
        case Algo::AdamW: {
            // AdamW carries its decay in `decay`; its weight_decay (the L2 term) is zero.
            const bool dec = c.algo == Algo::AdamW;
            if (c.amsgrad) {
                if (dec) adam<T, false, true, true>(s, p, g, st[0], st[1], st[2], n);
                else if (wd) adam<T, true, true, false>(s, p, g, st[0], st[1], st[2], n);
                else adam<T, false, true, false>(s, p, g, st[0], st[1], st[2], n);
            } else {
                if (dec) adam<T, false, false, true>(s, p, g, st[0], st[1], nullptr, n);
                else if (wd) adam<T, true, false, false>(s, p, g, st[0], st[1], nullptr, n);
                else adam<T, false, false, false>(s, p, g, st[0], st[1], nullptr, n);
            }
            break;
        }
        case Algo::Adagrad:
            if (wd) adagrad<T, true>(s, p, g, st[0], n);
            else adagrad<T, false>(s, p, g, st[0], n);
            break;
        case Algo::RMSprop: {
            const bool mom = c.momentum != 0.0;
#define MSOPT_RMS(W, C, M) rmsprop<T, W, C, M>(s, p, g, st[0], st[1], st[2], n)
            if (wd) {
                if (c.centered) { if (mom) MSOPT_RMS(true, true, true); else MSOPT_RMS(true, true, false); }
                else { if (mom) MSOPT_RMS(true, false, true); else MSOPT_RMS(true, false, false); }
            } else {
                if (c.centered) { if (mom) MSOPT_RMS(false, true, true); else MSOPT_RMS(false, true, false); }
                else { if (mom) MSOPT_RMS(false, false, true); else MSOPT_RMS(false, false, false); }
            }
#undef MSOPT_RMS
            break;
        }
        case Algo::Lion:
            lion<T>(s, p, g, st[0], n);
            break;
    }
}

// Finiteness by the exponent bits (an integer max reduction, which vectorizes with no
// reassociation question) and the sum of squares in double over 8 fixed lanes, so the
// result is the same whatever the vector width.
template <class T>
void stats(const T* __restrict g, std::size_t n, bool want_sumsq, double* sumsq, bool* finite) {
    using U = std::conditional_t<sizeof(T) == 4, std::uint32_t, std::uint64_t>;
    constexpr U kAbs = sizeof(T) == 4 ? U(0x7fffffffu) : U(0x7fffffffffffffffull);
    constexpr U kInf = sizeof(T) == 4 ? U(0x7f800000u) : U(0x7ff0000000000000ull);
    U worst = 0;
    for (std::size_t i = 0; i < n; ++i) {
        U bits;
        std::memcpy(&bits, g + i, sizeof(T));
        bits &= kAbs;
        worst = worst < bits ? bits : worst;
    }
    *finite = worst < kInf;
    if (!want_sumsq) return;
    constexpr std::size_t L = 8;
    double acc[L] = {0, 0, 0, 0, 0, 0, 0, 0};
    std::size_t i = 0;
    for (; i + L <= n; i += L)
        for (std::size_t j = 0; j < L; ++j) {
            const double x = double(g[i + j]);
            acc[j] += x * x;
        }
    for (std::size_t j = 0; i < n; ++i, ++j) {
        const double x = double(g[i]);
        acc[j] += x * x;
    }
    *sumsq = ((acc[0] + acc[1]) + (acc[2] + acc[3])) + ((acc[4] + acc[5]) + (acc[6] + acc[7]));
}

inline void stream7(float* __restrict p, const float* __restrict g, float* __restrict m,
                    float* __restrict v, std::size_t n) {
    for (std::size_t i = 0; i < n; ++i) {
        const float gi = g[i];
        const float mi = m[i] + gi;
        const float vi = v[i] + gi;
        m[i] = mi;
        v[i] = vi;
        p[i] = p[i] + mi;
    }
}

// The same traffic with compressed moments (uint16: bfloat16, uint8: int8 codes): read p, g,
// m, v and write p, m, v, with next to no arithmetic.
template <class S>
void stream7_codes(float* __restrict p, const float* __restrict g, S* __restrict m,
                   S* __restrict v, std::size_t n) {
    for (std::size_t i = 0; i < n; ++i) {
        m[i] = S(m[i] + 1U);
        v[i] = S(v[i] + 3U);
        p[i] = p[i] + g[i];
    }
}

}  // namespace
}  // namespace msopt::rules
