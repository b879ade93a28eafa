#include "encoder.hpp"

#include <algorithm>
#include <cmath>
#include <cstring>

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

// Threads for m rows of about `per_row` multiply-adds each: one per 32k of work at least.
int threads_for_rows(int threads, std::size_t m, std::size_t per_row) {
    const std::size_t work = m * std::max<std::size_t>(per_row, 1);
    const std::size_t most = std::max<std::size_t>(1, work / (std::size_t(1) << 15));
    return int(std::min<std::size_t>({std::size_t(std::max(1, threads)), most,
                                      std::max<std::size_t>(1, m)}));
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
        k.project(h + r0 * dim, m, dim, P.p[1], P.p[2], w, p + r0 * w);
        src = p + r0 * w;
    }
    k.normalize(src, m, w, u + r0 * w, nrm + r0);
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
    std::vector<double> part;

    Trainer(const Pairs& d_, const Shape& sh_, const Params& P_, const TrainSpec& s)
        : d(d_), sh(sh_), P(P_), spec(s), threads(std::max(1, s.threads)) {
        if (sh.project) gW.resize(sh.dim * sh.out), gb.resize(sh.out);
        part.resize(std::size_t(threads));
    }

    // The loss (summed over the batch) and every gradient of the mean loss; false for a
    // non-finite loss.
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
        const std::size_t per_row = dim * (2 + (sh.project ? 3 * w : 0)) +
                                    (ids.size() / std::max<std::size_t>(n2, 1)) * dim * 2;
        const int nt = threads_for_rows(threads, n2, per_row);
        parallel_for(nt, [&](int t) {
            const auto [r0, r1] = share(n2, t, nt);
            if (r1 > r0)
                forward_rows(sh, P, ids.data(), off.data(), r0, r1, h.data(), p.data(),
                             u.data(), nrm.data());
        });
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
            const int ns = threads_for_rows(threads, B, B * w);
            parallel_for(ns, [&](int t) {
                const auto [r0, r1] = share(B, t, ns);
                k.scores(Ua, Ub, B, w, r0, r1, inv_t, S.data());
            });
            ds.loss = losses::Dense::Softmax;
            loss = losses::kernels().dense_f32(ds, S.data(), B, B, nullptr, labels.data(),
                                               nullptr, nullptr, scale);
            if (!std::isfinite(loss)) return loss;
            parallel_for(ns, [&](int t) {
                const auto [r0, r1] = share(B, t, ns);
                k.mul(S.data(), B, Ub, w, r0, r1, inv_t, dUa);       // dUa = dS Ub / t
                k.tmul(S.data(), B, B, Ua, w, r0, r1, inv_t, dUb);   // dUb = dS^T Ua / t
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
        // Backward: through the normalization, the projection, the mean.
        parallel_for(nt, [&](int t) {
            const auto [r0, r1] = share(n2, t, nt);
            if (r1 > r0) k.normalize_back(u.data() + r0 * w, nrm.data() + r0, r1 - r0, w,
                                          du.data() + r0 * w);
        });
        const float* dtop = du.data();
        if (sh.project) {
            dh.resize(n2 * dim);
            parallel_for(nt, [&](int t) {
                const auto [r0, r1] = share(n2, t, nt);
                if (r1 > r0)
                    k.project_back(du.data() + r0 * w, r1 - r0, w, P.p[1], dim,
                                   dh.data() + r0 * dim);
                const auto [k0, k1] = share(dim, t, nt);
                k.weight_grad(h.data(), du.data(), n2, dim, w, k0, k1, gW.data());
                const auto [c0, c1] = share(w, t, nt);
                k.colsum(du.data(), n2, w, c0, c1, gb.data());
            });
            dtop = dh.data();
        }
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

void encode(const Texts& t, const Shape& sh, const Params& P, int threads, float* U) {
    const std::size_t n = t.size(), dim = sh.dim, w = sh.width();
    if (!n) return;
    const std::size_t per_row = dim * (1 + (sh.project ? w : 0)) +
                                (t.ids.size() / n) * dim;
    const int nt = threads_for_rows(threads, n, per_row);
    constexpr std::size_t kBlock = 256;
    parallel_for(nt, [&](int th) {
        const auto [a, b] = share(n, th, nt);
        std::vector<float> h(std::min(kBlock, b - a + 1) * dim), p, nrm(kBlock);
        if (sh.project) p.resize(std::min(kBlock, b - a + 1) * w);
        for (std::size_t r0 = a; r0 < b; r0 += kBlock) {
            const std::size_t m = std::min(kBlock, b - r0);
            const EncOps& k = kernels();
            k.bag_mean(P.p[0], dim, t.ids.data(), t.off.data() + r0, m, h.data());
            const float* src = h.data();
            if (sh.project) {
                k.project(h.data(), m, dim, P.p[1], P.p[2], w, p.data());
                src = p.data();
            }
            k.normalize(src, m, w, U + r0 * w, nrm.data());
        }
    });
}

}  // namespace msopt::enc
