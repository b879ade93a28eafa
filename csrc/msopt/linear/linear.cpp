#include "linear.hpp"

#include <atomic>
#include <cmath>
#include <cstring>

#include "../core/blas.hpp"
#include "../core/random.hpp"
#include "../optim/step.hpp"
#include "../core/threads.hpp"

namespace msopt::linear {

MSOPT_ISA_DISPATCH(Kernels, kernels)

namespace {

constexpr std::size_t kTile = 16;  // the width of the register tiles (linear_rules.hpp)
std::atomic<std::size_t> g_tile_max{kDefaultTileMaxWork};

// Dense products with 2..16 outputs and fewer than tile_max multiply-adds run in our
// register tiles; all others in BLAS (bench/crossover.py measured both).
inline bool use_tiles(std::size_t B, std::size_t d, std::size_t C) {
    return C >= 2 && C <= kTile && B * d * C < g_tile_max.load(std::memory_order_relaxed);
}

template <class T>
const LinearOps<T>& ops() {
    if constexpr (sizeof(T) == 4) return kernels().f32;
    else return kernels().f64;
}

// Scratch a run reuses across steps.
template <class T>
struct Work {
    std::vector<T> xb, z, dw, db;
    std::vector<T> w16, b16, z16, dz16, dw16;  // the padded narrow-output path
};


// How a call computes its products, decided once per call (the tile threshold may be
// changed by another thread meanwhile; forward and backward must agree).
enum class Path { Csr, Tiles, Blas };

template <class T>
Path choose_path(const Data<T>& D, std::size_t B, std::size_t C) {
    if (!D.x) return Path::Csr;
    return use_tiles(B, D.d, C) ? Path::Tiles : Path::Blas;
}

// Scores of rows[0..B) into Z (B x C).  With Path::Blas, *xb_out is the batch block the
// backward product reads (X itself, or the gathered rows).
template <class T>
void scores(Path path, const Data<T>& D, const std::int64_t* rows, std::size_t B, const T* W,
            const T* b, std::size_t C, T* Z, Work<T>& w, const T** xb_out) {
    const LinearOps<T>& k = ops<T>();
    *xb_out = nullptr;
    if (path == Path::Csr) {
        k.csr_forward(D.indptr, D.indices, D.vals, rows, B, W, b, C, Z);
        return;
    }
    if (path == Path::Tiles) {
        // Narrow outputs: pad W and b to 16 columns (small next to the product).
        // resize() zeroes new elements once; only the first C columns are written after.
        w.w16.resize(D.d * kTile);
        w.b16.resize(kTile);
        w.z16.resize(B * kTile);
        for (std::size_t r = 0; r < D.d; ++r)
            for (std::size_t c = 0; c < C; ++c) w.w16[r * kTile + c] = W[r * C + c];
        if (b)
            for (std::size_t c = 0; c < C; ++c) w.b16[c] = b[c];
        k.dense_forward16(D.x, D.ldx, rows, B, D.d, w.w16.data(), w.b16.data(), w.z16.data());
        for (std::size_t i = 0; i < B; ++i)
            for (std::size_t c = 0; c < C; ++c) Z[i * C + c] = w.z16[i * kTile + c];
        return;
    }
    for (std::size_t i = 0; i < B; ++i)
        for (std::size_t c = 0; c < C; ++c) Z[i * C + c] = b ? b[c] : T(0);
    if (D.d == 0 || C == 0 || B == 0) return;  // nothing to multiply (BLAS wants ld >= 1)
    const T* xb = D.x;
    if (rows) {  // gather the batch into one block for BLAS
        w.xb.resize(B * D.d);
        for (std::size_t i = 0; i < B; ++i)
            std::memcpy(w.xb.data() + i * D.d, D.x + std::size_t(rows[i]) * D.ldx,
                        D.d * sizeof(T));
        xb = w.xb.data();
    }
    blas::gemm(false, false, B, C, D.d, T(1), xb, rows ? D.d : D.ldx, W, C, T(1), Z, C);
    *xb_out = xb;
}

// dW = X[rows]^T dZ (overwritten), db = column sums of dZ.
template <class T>
void grads(Path path, const Data<T>& D, const std::int64_t* rows, std::size_t B, const T* dZ,
           std::size_t C, const T* xb, T* dW, T* db, Work<T>& w) {
    const LinearOps<T>& k = ops<T>();
    if (path == Path::Tiles) {
        w.dz16.resize(B * kTile);  // padding columns stay zero
        for (std::size_t i = 0; i < B; ++i)
            for (std::size_t c = 0; c < C; ++c) w.dz16[i * kTile + c] = dZ[i * C + c];
        w.dw16.resize(D.d * kTile);
        k.dense_backward16(D.x, D.ldx, rows, B, D.d, w.dz16.data(), w.dw16.data());
        for (std::size_t r = 0; r < D.d; ++r)
            for (std::size_t c = 0; c < C; ++c) dW[r * C + c] = w.dw16[r * kTile + c];
    } else if (path == Path::Blas) {
        if (D.d && C && B)
            blas::gemm(true, false, D.d, C, B, T(1), xb, rows ? D.d : D.ldx, dZ, C, T(0), dW,
                       C);
        else if (D.d * C != 0)
            std::memset(dW, 0, D.d * C * sizeof(T));
    } else {
        if (D.d * C != 0) std::memset(dW, 0, D.d * C * sizeof(T));
        k.csr_backward(D.indptr, D.indices, D.vals, rows, B, dZ, C, dW);
    }
    if (db) {
        for (std::size_t c = 0; c < C; ++c) db[c] = T(0);
        for (std::size_t i = 0; i < B; ++i)
            for (std::size_t c = 0; c < C; ++c) db[c] += dZ[i * C + c];
    }
}

// The fused loss over a batch, split by rows over threads when the batch is large; the
// per-thread sums are added in thread order.
template <class T>
double batch_loss_grad(const LossSpec& loss, T* Z, std::size_t B, std::size_t C,
                       const Data<T>& D, const std::int64_t* rows) {
    const LinearOps<T>& k = ops<T>();
    const double scale = 1.0 / double(B);
    const int nt = threads_for(B * C * 8);  // exp and divide: ~8 element-ops a score
    if (nt <= 1) return k.loss_grad(loss, Z, B, C, D.y, D.label, rows, D.sw, scale);
    std::vector<double> part(std::size_t(nt), 0.0);
    parallel_for(nt, [&](int t) {
        const auto [lo, hi] = share(B, t, nt);
        part[std::size_t(t)] = k.loss_grad(loss, Z + lo * C, hi - lo, C, D.y, D.label,
                                           rows + lo, D.sw, scale);
    });
    double total = 0.0;
    for (double p : part) total += p;
    return total;
}

}  // namespace

void set_tile_max_work(std::size_t n) { g_tile_max.store(n, std::memory_order_relaxed); }
std::size_t tile_max_work() { return g_tile_max.load(std::memory_order_relaxed); }

void epoch_permutation(std::uint64_t seed, std::int64_t epoch, std::int64_t* perm,
                       std::size_t n) {
    SplitMix64 rng{seed ^ (0xD1B54A32D192ED03ull * std::uint64_t(epoch + 1))};
    for (std::size_t i = 0; i < n; ++i) perm[i] = std::int64_t(i);
    for (std::size_t i = n; i > 1; --i) {
        // Lemire's nearly-divisionless bound is overkill here; the modulo bias of a 64-bit
        // draw over n < 2^40 is below 1e-7.
        const std::size_t j = std::size_t(rng.next() % i);
        std::swap(perm[i - 1], perm[j]);
    }
}

template <class T>
RunResult run(const Data<T>& D, T* W, T* b, std::size_t C, const LossSpec& loss,
              const OptimSpec& opt, const RunSpec& spec) {
    RunResult res;
    const LinearOps<T>& k = ops<T>();
    blas::set_threads(num_threads());
    Work<T> w;
    std::vector<std::int64_t> perm(D.n);
    const std::size_t bs = spec.batch_size < D.n ? spec.batch_size : D.n;
    w.z.resize(bs * C);
    w.dw.resize(D.d * C);
    w.db.resize(C);
    const DType dt = sizeof(T) == 4 ? DType::F32 : DType::F64;
    std::vector<ParamTask> tasks(b ? 2 : 1);
    const Path path = choose_path(D, bs, C);

    const auto limit = [&] { return spec.max_batches >= 0 && res.steps >= spec.max_batches; };
    for (std::int64_t e = 0; e < spec.epochs && !limit(); ++e) {
        if (spec.shuffle) epoch_permutation(spec.seed, spec.epoch0 + e, perm.data(), D.n);
        else
            for (std::size_t i = 0; i < D.n; ++i) perm[i] = std::int64_t(i);
        double epoch_total = e == 0 ? spec.carry : 0.0;
        const std::size_t first = e == 0 ? std::size_t(spec.first_batch) * bs : 0;
        bool cut = false;
        for (std::size_t start = first; start < D.n; start += bs) {
            if (limit()) {  // a chunk's end inside the epoch
                res.batch = std::int64_t(start / bs);
                res.carry = epoch_total;
                cut = true;
                break;
            }
            const std::size_t B = start + bs <= D.n ? bs : D.n - start;
            const std::int64_t* rows = perm.data() + start;
            // In order (no shuffle), a dense batch is a block of X already: no gather.
            Data<T> Dx = D;
            const std::int64_t* xrows = rows;
            if (!spec.shuffle && D.x) {
                Dx.x = D.x + start * D.ldx;
                xrows = nullptr;
            }
            const T* xb = nullptr;
            scores(path, Dx, xrows, B, W, b, C, w.z.data(), w, &xb);
            const double batch = batch_loss_grad(loss, w.z.data(), B, C, D, rows);
            if (!std::isfinite(batch)) {
                res.finite = false;
                return res;
            }
            epoch_total += batch;
            grads(path, Dx, xrows, B, w.z.data(), C, xb, w.dw.data(), b ? w.db.data() : nullptr,
                  w);
            if (spec.l2 != 0.0) {
                const T l2 = T(spec.l2);
                for (std::size_t i = 0; i < D.d * C; ++i) w.dw[i] += l2 * W[i];
            }

            // The update: W and b through the optimizer engine, at the scheduled rate.
            const double f = spec.schedule.at(double(*opt.step_w - spec.schedule_origin));
            bool need[kMaxSlots];
            double hw[8], hb[8];
            std::memcpy(hw, opt.hyper_w, sizeof hw);
            std::memcpy(hb, opt.hyper_b, sizeof hb);
            hw[0] *= f;
            hb[0] *= f;
            ParamTask& tw = tasks[0];
            tw.dtype = dt;
            tw.param = W;
            tw.grad = w.dw.data();
            tw.n = D.d * C;
            for (int s = 0; s < kMaxSlots; ++s) tw.state[s] = opt.state_w[s];
            tw.coeffs = make_coeffs(opt.algo, hw, *opt.step_w + 1, need);
            if (b) {
                ParamTask& tb = tasks[1];
                tb.dtype = dt;
                tb.param = b;
                tb.grad = w.db.data();
                tb.n = C;
                for (int s = 0; s < kMaxSlots; ++s) tb.state[s] = opt.state_b[s];
                tb.coeffs = make_coeffs(opt.algo, hb, *opt.step_b + 1, need);
            }
            run_step(tasks, opt.max_norm, false);
            ++*opt.step_w;
            if (b) ++*opt.step_b;
            if (spec.l1 != 0.0) k.l1_prox(W, D.d * C, T(hw[0] * spec.l1));
            ++res.steps;
        }
        if (cut) break;
        res.epoch_loss.push_back(epoch_total / double(D.n));
    }
    // A last update can overflow the weights after a finite loss.
    for (std::size_t i = 0; i < D.d * C; ++i)
        if (!std::isfinite(W[i])) {
            res.finite = false;
            break;
        }
    return res;
}

template <class T>
void forward(const Data<T>& D, const T* W, const T* b, std::size_t C, T* Z) {
    blas::set_threads(num_threads());
    Work<T> w;
    const T* xb = nullptr;
    const Path path = choose_path(D, D.n, C);
    if (D.x) {  // rows in place: no gather
        scores(path, D, nullptr, D.n, W, b, C, Z, w, &xb);
        return;
    }
    std::vector<std::int64_t> rows(D.n);
    for (std::size_t i = 0; i < D.n; ++i) rows[i] = std::int64_t(i);
    scores(path, D, rows.data(), D.n, W, b, C, Z, w, &xb);
}

template <class T>
double loss_and_grad(const Data<T>& D, const T* W, const T* b, std::size_t C,
                     const LossSpec& loss, T* dW, T* db) {
    blas::set_threads(num_threads());
    const Path path = choose_path(D, D.n, C);
    std::vector<T> Z(D.n * C);
    std::vector<std::int64_t> rows;
    if (!D.x) {
        rows.resize(D.n);
        for (std::size_t i = 0; i < D.n; ++i) rows[i] = std::int64_t(i);
    }
    Work<T> w;
    const T* xb = nullptr;
    scores(path, D, D.x ? nullptr : rows.data(), D.n, W, b, C, Z.data(), w, &xb);
    const double total = ops<T>().loss_grad(loss, Z.data(), D.n, C, D.y, D.label, nullptr,
                                            D.sw, 1.0 / double(D.n));
    grads<T>(path, D, D.x ? nullptr : rows.data(), D.n, Z.data(), C, xb, dW, db, w);
    return total / double(D.n);
}

#define MSOPT_INSTANTIATE(T)                                                                 \
    template RunResult run<T>(const Data<T>&, T*, T*, std::size_t, const LossSpec&,          \
                              const OptimSpec&, const RunSpec&);                             \
    template void forward<T>(const Data<T>&, const T*, const T*, std::size_t, T*);          \
    template double loss_and_grad<T>(const Data<T>&, const T*, const T*, std::size_t,       \
                                      const LossSpec&, T*, T*);
MSOPT_INSTANTIATE(float)
MSOPT_INSTANTIATE(double)
#undef MSOPT_INSTANTIATE

}  // namespace msopt::linear
