#include "step.hpp"

#include <algorithm>
#include <cmath>
#include <cstring>

#include "../core/threads.hpp"

namespace msopt {
namespace {

inline std::size_t elem_size(DType d) { return d == DType::F32 ? 4 : 8; }

void stats_block(const KernelTable& k, const ParamTask& t, std::size_t lo, std::size_t hi,
                 bool want, double* sumsq, bool* finite) {
    if (t.dtype == DType::F32)
        k.stats_f32(static_cast<const float*>(t.grad) + lo, hi - lo, want, sumsq, finite);
    else
        k.stats_f64(static_cast<const double*>(t.grad) + lo, hi - lo, want, sumsq, finite);
}

// Int8 state: the blocks of row `row` (element offset `off` in the parameter) whose first
// element lies in [lo, hi) of the row; g is the row's gradient.
void update_q8_row(const KernelTable& k, const ParamTask& t, std::size_t row, const float* g,
                   std::size_t lo, std::size_t hi) {
    const std::size_t nb = (t.cols + t.block - 1) / t.block, off = row * t.cols;
    auto* p = static_cast<float*>(t.param) + off;
    auto* qm = static_cast<std::uint8_t*>(t.state[0]) + off;
    auto* qv = static_cast<std::uint8_t*>(t.state[1]) + off;
    const std::size_t b0 = (lo + t.block - 1) / t.block;
    const std::size_t b1 = std::min(nb, (hi + t.block - 1) / t.block);  // blocks starting < hi
    if (b0 >= b1) return;
    const std::size_t a = b0 * t.block, e = std::min(b1 * t.block, t.cols);
    k.update_q8(t.coeffs, p + a, g + a, qm + a, qv + a, t.scale[0] + row * nb + b0,
                t.scale[1] + row * nb + b0, e - a, t.block);
}

// Dense elements [lo, hi) of task t (an int8 task: the blocks that start there).
void update_range(const KernelTable& k, const ParamTask& t, std::size_t lo, std::size_t hi) {
    if (t.skind == StateKind::BF16) {
        k.update_bf16(t.coeffs, static_cast<float*>(t.param) + lo,
                      static_cast<const float*>(t.grad) + lo,
                      static_cast<std::uint16_t*>(t.state[0]) + lo,
                      static_cast<std::uint16_t*>(t.state[1]) + lo, hi - lo, lo, t.key);
    } else if (t.skind == StateKind::Int8) {
        if (t.cols == 0) return;
        for (std::size_t r = lo / t.cols; r * t.cols < hi; ++r) {
            const std::size_t a = r * t.cols;
            update_q8_row(k, t, r, static_cast<const float*>(t.grad) + a, lo > a ? lo - a : 0,
                          hi - a);
        }
    } else if (t.dtype == DType::F32) {
        float* st[kMaxSlots];
        for (int s = 0; s < kMaxSlots; ++s)
            st[s] = t.state[s] ? static_cast<float*>(t.state[s]) + lo : nullptr;
        k.update_f32(t.coeffs, static_cast<float*>(t.param) + lo,
                     static_cast<const float*>(t.grad) + lo, st, hi - lo);
    } else {
        double* st[kMaxSlots];
        for (int s = 0; s < kMaxSlots; ++s)
            st[s] = t.state[s] ? static_cast<double*>(t.state[s]) + lo : nullptr;
        k.update_f64(t.coeffs, static_cast<double*>(t.param) + lo,
                     static_cast<const double*>(t.grad) + lo, st, hi - lo);
    }
}

// Rows [r0, r1) of the coalesced gradient of a row-sparse task.
template <class T>
void update_rows(const KernelTable& k, const ParamTask& t, std::size_t r0, std::size_t r1) {
    const std::size_t d = t.dim;
    for (std::size_t r = r0; r < r1; ++r) {
        const std::size_t off = std::size_t(t.rows[r]) * d;
        const T* g = static_cast<const T*>(t.grad) + r * d;
        if constexpr (sizeof(T) == 4) {
            if (t.skind == StateKind::Int8) {
                update_q8_row(k, t, std::size_t(t.rows[r]), g, 0, d);
                continue;
            }
            if (t.skind == StateKind::BF16) {
                k.update_bf16(t.coeffs, static_cast<float*>(t.param) + off, g,
                              static_cast<std::uint16_t*>(t.state[0]) + off,
                              static_cast<std::uint16_t*>(t.state[1]) + off, d, off, t.key);
                continue;
            }
        }
        T* st[kMaxSlots];
        for (int s = 0; s < kMaxSlots; ++s)
            st[s] = t.state[s] ? static_cast<T*>(t.state[s]) + off : nullptr;
        if constexpr (sizeof(T) == 4)
            k.update_f32(t.coeffs, static_cast<float*>(t.param) + off, g, st, d);
        else
            k.update_f64(t.coeffs, static_cast<double*>(t.param) + off, g, st, d);
    }
}

void stats_pass(const KernelTable& k, std::vector<ParamTask>& tasks, std::size_t work,
                bool clip, double max_norm, StepStats& out) {
    // Phase 1: finiteness and squared norm per fixed block.
    std::vector<std::size_t> first_block(tasks.size() + 1, 0);
    std::size_t total = 0;
    for (std::size_t i = 0; i < tasks.size(); ++i) {
        first_block[i] = total;
        total += (tasks[i].n + kBlock - 1) / kBlock;
    }
    first_block[tasks.size()] = total;
    std::vector<double> partial(total, 0.0);
    std::vector<char> ok(total, 1);
    const int nt1 = threads_for(work);
    parallel_for(nt1, [&](int tid) {
        const std::size_t b0 = total * std::size_t(tid) / std::size_t(nt1);
        const std::size_t b1 = total * std::size_t(tid + 1) / std::size_t(nt1);
        std::size_t ti = 0;
        for (std::size_t b = b0; b < b1; ++b) {
            while (first_block[ti + 1] <= b) ++ti;
            const ParamTask& t = tasks[ti];
            const std::size_t lo = (b - first_block[ti]) * kBlock;
            const std::size_t hi = lo + kBlock < t.n ? lo + kBlock : t.n;
            bool fin = true;
            stats_block(k, t, lo, hi, clip, &partial[b], &fin);
            ok[b] = fin;
        }
    });
    for (std::size_t b = 0; b < total; ++b)
        if (!ok[b]) {
            out.finite = false;
            return;
        }
    if (clip) {
        double sumsq = 0.0;
        for (std::size_t b = 0; b < total; ++b) sumsq += partial[b];
        out.norm = std::sqrt(sumsq);
        if (!std::isfinite(out.norm)) {
            out.finite = false;
            return;
        }
        const double coef = max_norm / (out.norm + 1e-6);
        if (coef < 1.0) {
            out.scale = coef;
            for (auto& t : tasks) t.coeffs.gscale *= coef;
        }
    }
}

// Phase 2: updates over the concatenated element space, one contiguous range a thread.
void update_pass(const KernelTable& k, const std::vector<ParamTask>& tasks, std::size_t work) {
    const int nt2 = threads_for(work);
    parallel_for(nt2, [&](int tid) {
        // Cut points on 16-element bounds keep threads off each other's cache lines.
        auto cut = [&](int t) {
            const std::size_t c = work * std::size_t(t) / std::size_t(nt2);
            return t == nt2 ? work : (c & ~std::size_t(15));
        };
        const std::size_t lo = cut(tid), hi = cut(tid + 1);
        std::size_t base = 0;
        for (const ParamTask& t : tasks) {
            const std::size_t a = base, b = base + t.n;
            base = b;
            if (b <= lo || t.n == 0) continue;
            if (a >= hi) break;
            if (t.dim == 0) {
                const std::size_t s = lo > a ? lo - a : 0;
                const std::size_t e = (hi < b ? hi : b) - a;
                update_range(k, t, s, e);
            } else {
                // A row belongs to the thread whose range holds its first element.
                const std::size_t d = t.dim;
                const std::size_t s = lo > a ? (lo - a + d - 1) / d : 0;
                const std::size_t e = hi < b ? (hi - a + d - 1) / d : t.n / d;
                if (t.dtype == DType::F32) update_rows<float>(k, t, s, e);
                else update_rows<double>(k, t, s, e);
            }
        }
    });
}

}  // namespace

MSOPT_ISA_DISPATCH(KernelTable, kernels)

StepStats run_step(std::vector<ParamTask>& tasks, double max_norm, bool check_finite) {
    const KernelTable& k = kernels();
    const bool clip = max_norm > 0.0;
    StepStats out;
    std::size_t work = 0;
    for (const auto& t : tasks) work += t.n;
    if (clip || check_finite) stats_pass(k, tasks, work, clip, max_norm, out);
    if (!out.finite) return out;
    update_pass(k, tasks, work);
    return out;
}

namespace {
template <class S>
void stream7_split(void (*kernel)(float*, const float*, S*, S*, std::size_t), float* p,
                   const float* g, S* m, S* v, std::size_t n) {
    const int nt = threads_for(n);
    parallel_for(nt, [&](int tid) {
        const std::size_t lo = (n * std::size_t(tid) / std::size_t(nt)) & ~std::size_t(15);
        const std::size_t hi =
            tid + 1 == nt ? n : (n * std::size_t(tid + 1) / std::size_t(nt)) & ~std::size_t(15);
        kernel(p + lo, g + lo, m + lo, v + lo, hi - lo);
    });
}
}  // namespace

void stream7(float* p, const float* g, float* m, float* v, std::size_t n) {
    stream7_split(kernels().stream7_f32, p, g, m, v, n);
}
void stream7(float* p, const float* g, std::uint16_t* m, std::uint16_t* v, std::size_t n) {
    stream7_split(kernels().stream7_u16, p, g, m, v, n);
}
void stream7(float* p, const float* g, std::uint8_t* m, std::uint8_t* v, std::size_t n) {
    stream7_split(kernels().stream7_u8, p, g, m, v, n);
}

void first_appearance(const std::int64_t* ids, std::size_t n, std::vector<std::int64_t>& uniq,
                      std::vector<std::uint32_t>& which) {
    std::size_t cap = 16;
    while (cap < 2 * n) cap <<= 1;
    thread_local std::vector<std::int64_t> keys;
    thread_local std::vector<std::uint32_t> slot_of;  // distinct index of a key
    keys.assign(cap, -1);
    slot_of.resize(cap);
    which.resize(n);
    uniq.clear();
    const std::size_t mask = cap - 1;
    for (std::size_t i = 0; i < n; ++i) {
        const std::int64_t id = ids[i];
        std::size_t h = (std::uint64_t(id) * 0x9E3779B97F4A7C15ull) >> 20;
        for (;; ++h) {
            h &= mask;
            if (keys[h] == id) break;
            if (keys[h] == -1) {
                keys[h] = id;
                slot_of[h] = std::uint32_t(uniq.size());
                uniq.push_back(id);
                break;
            }
        }
        which[i] = slot_of[h];
    }
}

template <class T>
bool coalesce_rows(const std::int64_t* ids, std::size_t n, const T* values, std::size_t dim,
                   std::vector<std::int64_t>& uniq, std::vector<T>& out) {
    thread_local std::vector<std::uint32_t> which;
    first_appearance(ids, n, uniq, which);
    if (uniq.size() == n) return false;
    out.assign(uniq.size() * dim, T(0));
    for (std::size_t i = 0; i < n; ++i) {
        T* __restrict dst = out.data() + std::size_t(which[i]) * dim;
        const T* __restrict src = values + i * dim;
        for (std::size_t j = 0; j < dim; ++j) dst[j] += src[j];
    }
    return true;
}

template bool coalesce_rows<float>(const std::int64_t*, std::size_t, const float*, std::size_t,
                                   std::vector<std::int64_t>&, std::vector<float>&);
template bool coalesce_rows<double>(const std::int64_t*, std::size_t, const double*,
                                    std::size_t, std::vector<std::int64_t>&,
                                    std::vector<double>&);

}  // namespace msopt
