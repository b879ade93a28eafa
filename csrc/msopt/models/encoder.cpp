#include "encoder.hpp"

#include <algorithm>
#include <atomic>
#include <cmath>
#include <cstring>

#include "../core/blas.hpp"
#include "../core/dispatch.hpp"
#include "../core/threads.hpp"
#include "../embedding/embedding.hpp"
#include "../linear/linear.hpp"
#include "../optim/step.hpp"

namespace msopt::enc {

MSOPT_ISA_DISPATCH(EncOps, kernels)

const std::int64_t* Pairs::order(std::uint64_t seed, std::int64_t epoch) {
    std::lock_guard<std::mutex> lock(mu);
    if (perm_epoch != epoch || perm_seed != seed || perm.size() != size()) {
        perm.resize(size());
        linear::epoch_permutation(seed, epoch, perm.data(), perm.size());
        perm_seed = seed, perm_epoch = epoch;
    }
    return perm.data();
}

namespace {

// Rows are cut into blocks of a fixed size, whatever the thread count, and threads take
// whole blocks: every BLAS call sees the same shapes and data for any thread count, so the
// bits do not depend on it.
constexpr std::size_t kRowBlock = 32;
constexpr std::size_t kColBlock = 16;  // rows of W's gradient per block

std::size_t blocks(std::size_t n, std::size_t size) { return (n + size - 1) / size; }

// Threads worth waking for `work` multiply-adds over `nb` blocks.
int threads_for_work(int threads, std::size_t nb, std::size_t work) {
    const std::size_t most = std::max<std::size_t>(1, work / (std::size_t(1) << 18));
    return int(std::min<std::size_t>({std::size_t(std::max(1, threads)), most,
                                      std::max<std::size_t>(1, nb)}));
}

// Calls f(b0, b1) with each thread's share of nb blocks.
template <class F>
void over_blocks(int nt, std::size_t nb, F&& f) {
    if (nt <= 1) {
        f(std::size_t(0), nb);
        return;
    }
    parallel_for(nt, [&](int t) {
        const auto [b0, b1] = share(nb, t, nt);
        if (b1 > b0) f(b0, b1);
    });
}

// Rows [r0, r1) of the texts given by (ids, off): h, then P (projected) and U.
void forward_rows(const Shape& sh, const Params& P, const std::int64_t* ids,
                  const std::int64_t* off, std::size_t r0, std::size_t r1, float* h, float* p,
                  float* u, float* nrm) {
    const EncOps& k = kernels();
    const std::size_t m = r1 - r0, dim = sh.dim, w = sh.width();
    k.bag_mean(P.p[0], dim, ids, off + r0, m, h + r0 * dim);
    const float* src = h + r0 * dim;
    if (sh.project) {
        float* pr = p + r0 * w;
        for (std::size_t i = 0; i < m; ++i) std::memcpy(pr + i * w, P.p[2], w * sizeof(float));
        blas::gemm(false, false, m, w, dim, 1.0f, h + r0 * dim, dim, P.p[1], w, 1.0f, pr, w);
        src = pr;
    }
    k.normalize(src, m, w, u + r0 * w, nrm + r0);
}

// The forward pass of n texts in blocks of kRowBlock rows.
void forward_all(const Shape& sh, const Params& P, const std::int64_t* ids,
                 const std::int64_t* off, std::size_t n, int nt, float* h, float* p, float* u,
                 float* nrm) {
    over_blocks(nt, blocks(n, kRowBlock), [&](std::size_t b0, std::size_t b1) {
        for (std::size_t b = b0; b < b1; ++b)
            forward_rows(sh, P, ids, off, b * kRowBlock, std::min(n, (b + 1) * kRowBlock), h,
                         p, u, nrm);
    });
}

// The work of one text (multiply-adds), to decide how many threads a batch is worth.
std::size_t text_work(const Shape& sh, std::size_t ids_per_text) {
    return sh.dim * (ids_per_text + 2) + (sh.project ? 3 * sh.dim * sh.out : 0);
}

// The state of a run across batches: scratch and gradients.
struct Trainer {
    const Pairs& d;
    const Shape& sh;
    const Params& P;
    const TrainSpec& spec;
    int threads;
    std::vector<std::int64_t> ids, off, labels, uniq;
    std::vector<float> h, p, u, nrm, du, dh, S, c, y, gE, gW, gb;

    Trainer(const Pairs& d_, const Shape& sh_, const Params& P_, const TrainSpec& s)
        : d(d_), sh(sh_), P(P_), spec(s), threads(std::max(1, s.threads)) {
        if (sh.project) gW.resize(sh.dim * sh.out), gb.resize(sh.out);
    }

    // The loss (summed over the batch) and every gradient of the mean loss (left in gE
    // with uniq, gW, gb); a non-finite loss returns early.
    double compute(const std::int64_t* pos, std::size_t B) {
        const EncOps& k = kernels();
        const std::size_t n2 = 2 * B, dim = sh.dim, w = sh.width();
        // the batch's texts: the a sides, then the b sides
        ids.clear(), off.assign(1, 0);
        for (int side = 0; side < 2; ++side) {
            const Texts& t = side ? d.b : d.a;
            for (std::size_t i = 0; i < B; ++i) {
                const std::size_t q = std::size_t(pos[i]);
                const std::size_t lo = std::size_t(t.off[q]), hi = std::size_t(t.off[q + 1]);
                ids.insert(ids.end(), t.ids.begin() + std::ptrdiff_t(lo),
                           t.ids.begin() + std::ptrdiff_t(hi));
                off.push_back(std::int64_t(ids.size()));
            }
        }
        h.resize(n2 * dim), u.resize(n2 * w), nrm.resize(n2), du.resize(n2 * w);
        if (sh.project) p.resize(n2 * w);
        const std::size_t nb = blocks(n2, kRowBlock);
        const int nt = threads_for_work(threads, nb, n2 * text_work(sh, ids.size() / n2));
        forward_all(sh, P, ids.data(), off.data(), n2, nt, h.data(), p.data(), u.data(),
                    nrm.data());
        const float* Ua = u.data();
        const float* Ub = u.data() + B * w;
        float* dUa = du.data();
        float* dUb = du.data() + B * w;
        const double scale = 1.0 / double(B);
        const float inv_t = float(1.0 / spec.temperature);
        losses::DenseSpec ds;
        double loss = 0.0;
        if (spec.loss == Loss::InBatch) {
            S.resize(B * B);
            labels.resize(B);
            for (std::size_t i = 0; i < B; ++i) labels[i] = std::int64_t(i);
            const std::size_t bb = blocks(B, kRowBlock);
            const int ns = threads_for_work(threads, bb, 3 * B * B * w);
            over_blocks(ns, bb, [&](std::size_t b0, std::size_t b1) {
                for (std::size_t b = b0; b < b1; ++b) {
                    const std::size_t r0 = b * kRowBlock, m = std::min(B, r0 + kRowBlock) - r0;
                    blas::gemm(false, true, m, B, w, inv_t, Ua + r0 * w, w, Ub, w, 0.0f,
                               &S[r0 * B], B);
                }
            });
            ds.loss = losses::Dense::Softmax;
            loss = losses::kernels().dense_f32(ds, S.data(), B, B, nullptr, labels.data(),
                                               nullptr, nullptr, scale);
            if (!std::isfinite(loss)) return loss;
            over_blocks(ns, bb, [&](std::size_t b0, std::size_t b1) {
                for (std::size_t b = b0; b < b1; ++b) {
                    const std::size_t r0 = b * kRowBlock, m = std::min(B, r0 + kRowBlock) - r0;
                    // dUa = dS Ub / t, dUb = dS^T Ua / t
                    blas::gemm(false, false, m, w, B, inv_t, &S[r0 * B], B, Ub, w, 0.0f,
                               dUa + r0 * w, w);
                    blas::gemm(true, false, m, w, B, inv_t, &S[r0], B, Ua, w, 0.0f,
                               dUb + r0 * w, w);
                }
            });
        } else {
            c.resize(B);
            k.row_dots(Ua, Ub, B, w, c.data());
            if (spec.loss == Loss::Cosine) {
                y.resize(B);
                for (std::size_t i = 0; i < B; ++i) y[i] = float(d.target[std::size_t(pos[i])]);
                ds.loss = losses::Dense::Squared;
                loss = losses::kernels().dense_f32(ds, c.data(), B, 1, y.data(), nullptr,
                                                   nullptr, nullptr, scale);
            } else if (spec.loss == Loss::Logistic) {
                labels.resize(B);
                const float mg = float(spec.margin);
                for (std::size_t i = 0; i < B; ++i) {
                    labels[i] = d.target[std::size_t(pos[i])] != 0.0 ? 1 : 0;
                    c[i] = (c[i] - mg) * inv_t;
                }
                ds.loss = losses::Dense::Logistic;
                loss = losses::kernels().dense_f32(ds, c.data(), B, 1, nullptr, labels.data(),
                                                   nullptr, nullptr, scale);
                for (std::size_t i = 0; i < B; ++i) c[i] *= inv_t;
            } else {  // contrastive
                const float mg = float(spec.margin), gs = float(scale);
                for (std::size_t i = 0; i < B; ++i) {
                    const bool pos1 = d.target[std::size_t(pos[i])] != 0.0;
                    const float r = pos1 ? c[i] - 1.0f : std::max(c[i] - mg, 0.0f);
                    loss += 0.5 * double(r) * double(r);
                    c[i] = r * gs;
                }
            }
            if (!std::isfinite(loss)) return loss;
            for (std::size_t i = 0; i < B; ++i) {
                const float g = c[i];
                for (std::size_t j = 0; j < w; ++j) {
                    dUa[i * w + j] = g * Ub[i * w + j];
                    dUb[i * w + j] = g * Ua[i * w + j];
                }
            }
        }
        // Backward: through the normalization and the projection, by blocks of rows; then
        // W's gradient by blocks of its rows, b's by blocks of columns.
        if (sh.project) dh.resize(n2 * dim);
        over_blocks(nt, nb, [&](std::size_t b0, std::size_t b1) {
            for (std::size_t b = b0; b < b1; ++b) {
                const std::size_t r0 = b * kRowBlock, m = std::min(n2, r0 + kRowBlock) - r0;
                k.normalize_back(u.data() + r0 * w, nrm.data() + r0, m, w, du.data() + r0 * w);
                if (sh.project)
                    blas::gemm(false, true, m, dim, w, 1.0f, du.data() + r0 * w, w, P.p[1], w,
                               0.0f, dh.data() + r0 * dim, dim);
            }
        });
        if (sh.project) {
            const std::size_t kb = blocks(dim, kColBlock), cb = blocks(w, 64);
            over_blocks(nt, kb + cb, [&](std::size_t b0, std::size_t b1) {
                for (std::size_t b = b0; b < b1; ++b) {
                    if (b < kb) {
                        const std::size_t k0 = b * kColBlock, k1 = std::min(dim, k0 + kColBlock);
                        blas::gemm(true, false, k1 - k0, w, n2, 1.0f, h.data() + k0, dim,
                                   du.data(), w, 0.0f, gW.data() + k0 * w, w);
                    } else {
                        const std::size_t c0 = (b - kb) * 64;
                        k.colsum(du.data(), n2, w, c0, std::min(w, c0 + 64), gb.data());
                    }
                }
            });
        }
        const float* dtop = sh.project ? dh.data() : du.data();
        embedding::Bags bags{ids.data(), ids.size(), off.data(), n2};
        embedding::bag_backward_merged<float>(dtop, dim, bags, nullptr, embedding::Mode::Mean,
                                              uniq, gE);
        return loss;
    }
};

}  // namespace

double loss_grad(const Pairs& d, const Shape& sh, const Params& P, const TrainSpec& spec,
                 const std::int64_t* pos, std::size_t B, std::vector<std::int64_t>& uniq,
                 std::vector<float>& gE, std::vector<float>& gW, std::vector<float>& gb) {
    if (!B) return 0.0;
    blas::set_threads(1);
    Trainer tr(d, sh, P, spec);
    const double l = tr.compute(pos, B);
    uniq = tr.uniq, gE = tr.gE, gW = tr.gW, gb = tr.gb;
    return l;
}

Result train(Pairs& d, const Shape& sh, const Params& P, const Optim& opt,
             const TrainSpec& spec) {
    Result r;
    const std::size_t n = d.size();
    const std::size_t bs = std::min(spec.batch_size, n);
    if (!bs) return r;
    blas::set_threads(1);
    const std::int64_t* order = d.order(spec.seed, spec.epoch);
    Trainer tr(d, sh, P, spec);
    const std::size_t n_batches = (n + bs - 1) / bs;
    std::vector<ParamTask> tasks;
    for (std::size_t b = spec.batch_begin; b < std::min(spec.batch_end, n_batches); ++b) {
        const std::size_t lo = b * bs, B = std::min(bs, n - lo);
        const double l = tr.compute(order + lo, B);
        if (!std::isfinite(l)) {
            r.status = kLossNotFinite;
            return r;
        }
        const double f = spec.schedule.at(double(*opt.step[0] - spec.schedule_origin));
        tasks.clear();
        auto add = [&](int i, const float* g, std::size_t cnt, std::size_t dimr,
                       const std::int64_t* rows) {
            ParamTask pt;
            pt.dtype = DType::F32;
            pt.param = P.p[i];
            pt.grad = g;
            pt.n = cnt;
            pt.dim = dimr;
            pt.rows = rows;
            for (int q = 0; q < kMaxSlots; ++q) pt.state[q] = opt.state[i][q];
            double hy[8];
            std::memcpy(hy, opt.hyper[i], sizeof hy);
            hy[0] *= f;
            bool need[kMaxSlots];
            pt.coeffs = make_coeffs(opt.algo, hy, *opt.step[i] + 1, need);
            tasks.push_back(pt);
        };
        add(0, tr.gE.data(), tr.gE.size(), sh.dim, tr.uniq.data());
        if (sh.project) {
            add(1, tr.gW.data(), tr.gW.size(), 0, nullptr);
            add(2, tr.gb.data(), tr.gb.size(), 0, nullptr);
        }
        const StepStats st = run_step(tasks, opt.max_norm, true);
        if (!st.finite) {
            r.status = kGradNotFinite;
            return r;
        }
        for (int i = 0; i < sh.n_params(); ++i) ++*opt.step[i];
        r.loss += l;
        r.count += B;
        ++r.batches;
    }
    return r;
}

namespace {

// Texts [r0, r0 + m) of t copied into (ids, off), off rebased to 0 and closed by the
// count of ids; false if the copy fails its check.
bool copy_chunk(const Borrowed& t, std::size_t r0, std::size_t m, std::size_t rows,
                std::vector<std::int64_t>& ids, std::vector<std::int64_t>& off) {
    off.resize(m + 1);
    for (std::size_t i = 0; i <= m; ++i)
        off[i] = r0 + i < t.n ? t.off[r0 + i] : std::int64_t(t.n_ids);
    if (r0 == 0 && off[0] != 0) return false;
    const std::int64_t base = off[0];
    if (base < 0 || off[m] > std::int64_t(t.n_ids)) return false;
    for (std::size_t i = 0; i < m; ++i)
        if (off[i + 1] < off[i]) return false;
    ids.assign(t.ids + base, t.ids + off[m]);
    for (auto& o : off) o -= base;
    bool ok = true;
    for (const std::int64_t id : ids) ok &= std::uint64_t(id) < rows;
    return ok;
}

}  // namespace

bool encode_chunks(std::size_t n, std::size_t ids_per_text, const Shape& sh,
                   const Params& P, int threads, float* U, const MakeFill& make_fill) {
    blas::set_threads(1);
    const std::size_t dim = sh.dim, w = sh.width();
    // Chunks of rows of a fixed size (one BLAS call each for the projection), whatever the
    // thread count.
    constexpr std::size_t kChunk = 256;
    const std::size_t nb = blocks(n, kChunk);
    const int nt = threads_for_work(threads, nb, n * text_work(sh, ids_per_text));
    std::atomic<bool> ok{true};
    // (out of memory on a worker: parallel_for throws it on the calling thread)
    over_blocks(nt, nb, [&](std::size_t b0, std::size_t b1) {
        const FillChunk fill = make_fill();
        std::vector<float> h(kChunk * dim), p(sh.project ? kChunk * w : 0), nrm(kChunk);
        std::vector<std::int64_t> ids, off;
        for (std::size_t b = b0; b < b1 && ok.load(std::memory_order_relaxed); ++b) {
            const std::size_t r0 = b * kChunk, m = std::min(n, r0 + kChunk) - r0;
            if (!fill(r0, m, ids, off)) {
                ok.store(false, std::memory_order_relaxed);
                return;
            }
            forward_rows(sh, P, ids.data(), off.data(), 0, m, h.data(), p.data(),
                         U + r0 * w, nrm.data());
        }
    });
    return ok.load();
}

bool encode(const Borrowed& t, const Shape& sh, const Params& P, int threads, float* U) {
    if (!t.n) return t.n_ids == 0;
    return encode_chunks(t.n, t.n_ids / t.n, sh, P, threads, U, [&]() -> FillChunk {
        return [&](std::size_t r0, std::size_t m, std::vector<std::int64_t>& ids,
                   std::vector<std::int64_t>& off) {
            return copy_chunk(t, r0, m, sh.rows, ids, off);
        };
    });
}

double read_floor(const std::int64_t* ids, const std::int64_t* off, std::size_t n,
                  std::size_t n_ids, const float* E, std::size_t dim, int threads) {
    constexpr std::size_t kChunk = 256, kLine = 64;  // encode_chunks' blocks of texts
    const std::size_t nb = blocks(n, kChunk), bytes = dim * sizeof(float);
    const int nt = threads_for_work(threads, nb, n * text_work(Shape{0, dim, 0, false},
                                                               n ? n_ids / n : 0));
    std::vector<double> sums(std::size_t(nt), 0.0);
    const auto part = [&](int t) {
        const auto [b0, b1] = share(nb, t, nt);
        if (b1 <= b0 || dim == 0) return;
        const std::size_t first = std::size_t(off[b0 * kChunk]);
        const std::size_t last = b1 * kChunk < n ? std::size_t(off[b1 * kChunk]) : n_ids;
        // (E need not be 4-byte aligned: memcpy loads, each within the row's bytes)
        const auto load = [](std::uintptr_t at) {
            float x;
            std::memcpy(&x, reinterpret_cast<const void*>(at), sizeof x);
            return x;
        };
        float acc = 0.0f;
        for (std::size_t i = first; i < last; ++i) {
            const float* row = E + std::size_t(ids[i]) * dim;
            const std::uintptr_t a = reinterpret_cast<std::uintptr_t>(row);
            acc += load(a);  // the row's first line, then the start of each later one
            for (std::uintptr_t l = (a / kLine + 1) * kLine; l + sizeof(float) <= a + bytes;
                 l += kLine)
                acc += load(l);
        }
        sums[std::size_t(t)] = acc;
    };
    if (nt <= 1) part(0);
    else parallel_for(nt, part);
    double total = 0.0;
    for (double x : sums) total += x;
    return total;
}

}  // namespace msopt::enc
