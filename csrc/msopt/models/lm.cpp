#include "lm.hpp"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <numeric>

#include "../core/blas.hpp"
#include "../core/dispatch.hpp"
#include "../core/random.hpp"
#include "../core/threads.hpp"
#include "../linear/linear.hpp"
#include "../losses/alias.hpp"
#include "../optim/step.hpp"

namespace msopt::lm {

MSOPT_ISA_DISPATCH(Kernels, kernels)

const std::int64_t* Stream::order(std::uint64_t seed, std::int64_t epoch) {
    std::lock_guard<std::mutex> lock(mu);
    if (perm_epoch != epoch || perm_seed != seed || perm.size() != tok.size()) {
        perm.resize(tok.size());
        linear::epoch_permutation(seed, epoch, perm.data(), perm.size());
        perm_seed = seed, perm_epoch = epoch;
    }
    return perm.data();
}

namespace {

template <class T>
const LmOps<T>& ops() {
    if constexpr (sizeof(T) == 4) return kernels().f32;
    else return kernels().f64;
}

// Rows per thread below which a batch stays on fewer threads.
constexpr std::size_t kMinRowsPerThread = 32;

int threads_for_rows(int threads, std::size_t rows) {
    const std::size_t most = std::max<std::size_t>(1, rows / kMinRowsPerThread);
    return int(std::min<std::size_t>(std::size_t(std::max(1, threads)), most));
}

// Scratch of a batch of up to B rows.
template <class T>
struct Work {
    std::size_t cap = 0;
    std::vector<std::int64_t> ids, labels;  // B x context, B
    std::vector<T> x, a1, h1, a2, u, z, du, dh1, dx;
    std::vector<T> mask;  // dropout: 0 or 1 / (1 - p) per top unit (B x top)
    std::vector<std::int64_t> gs;  // the n-gram part: B x ngram starts in G
    // the sampled loss
    std::vector<std::int64_t> zids;         // B x (1 + S)
    std::vector<T> logq;                    // B x (1 + S)
    void reserve(const Shape& sh, std::size_t B, std::size_t zcols) {
        cap = B;
        ids.resize(B * sh.context), labels.resize(B);
        x.resize(B * sh.K()), a1.resize(B * sh.hidden1), u.resize(B * sh.U());
        if (sh.hidden2) h1.resize(B * sh.hidden1), a2.resize(B * sh.hidden2);
        z.resize(B * zcols), du.resize(B * sh.U()), dx.resize(B * sh.K());
        if (sh.hidden2) dh1.resize(B * sh.hidden1);
        gs.resize(B * sh.ngram);
    }
};

// The ids of the context of position t, oldest first.
inline void context_ids(const Stream& s, std::size_t c, std::size_t t, std::int64_t* out) {
    for (std::size_t j = 0; j < c; ++j) {
        const std::ptrdiff_t k = std::ptrdiff_t(t) - std::ptrdiff_t(c) + std::ptrdiff_t(j);
        out[j] = k >= 0 ? s.tok[std::size_t(k)] : s.bos;
    }
}

// The first-layer table of a small vocabulary: the first layer's product of every token at
// every context position, PW[j] = E W1[j dim : (j + 1) dim] (context x vocab x hidden1), so
// a1 = b1 + sum_j PW[j][id_j] costs context * hidden1 additions instead of context * dim *
// hidden1 multiply-adds.  Built once for prediction (fixed weights), and at every step in
// training (Trainer::step).  This fills positions [j0, j1).
template <class T>
void first_layer_products(const Shape& sh, const Params<T>& P, std::size_t j0, std::size_t j1,
                          T* pw) {
    const std::size_t V = sh.vocab, H1 = sh.hidden1, dim = sh.dim;
    for (std::size_t j = j0; j < j1; ++j)
        blas::gemm(false, false, V, H1, dim, T(1), P.p[0], dim, P.p[1] + j * dim * H1, H1,
                   T(0), pw + j * V * H1, H1);
}

// Whether rows of a batch or a text are worth the table: it costs a vocabulary's worth of
// rows (per step in training, where E and W1 change), and must stay small.
inline bool table_fits(const Shape& sh) {
    return sh.context * sh.vocab * sh.hidden1 <= (std::size_t(1) << 22);
}

inline bool table_pays(const Shape& sh, std::size_t rows, std::size_t per_vocab) {
    return rows >= per_vocab * sh.vocab && table_fits(sh);
}

template <class T>
std::vector<T> first_layer_table(const Shape& sh, const Params<T>& P, std::size_t rows) {
    if (!table_pays(sh, rows, 2)) return {};
    std::vector<T> pw(sh.context * sh.vocab * sh.hidden1);
    first_layer_products(sh, P, 0, sh.context, pw.data());
    return pw;
}

// Rows [r0, r1) of w: x from w.ids, then the hidden layers into u (h_top, then x when
// direct).  BLAS on this thread only.  pw: first_layer_table's, or null.
template <class T>
void hidden_rows(const Shape& sh, const Params<T>& P, Work<T>& w, std::size_t r0,
                 std::size_t r1, const T* pw = nullptr) {
    const LmOps<T>& k = ops<T>();
    const std::size_t m = r1 - r0, K = sh.K(), H1 = sh.hidden1, H2 = sh.hidden2, U = sh.U();
    const std::size_t c = sh.context, dim = sh.dim, V = sh.vocab;
    const T* E = P.p[0];
    if (!pw || sh.direct)
        for (std::size_t i = r0; i < r1; ++i)
            for (std::size_t j = 0; j < c; ++j)
                std::memcpy(&w.x[i * K + j * dim], E + std::size_t(w.ids[i * c + j]) * dim,
                            dim * sizeof(T));
    T* a1 = &w.a1[r0 * H1];
    if (pw) {
        k.table_rows(pw, V, H1, &w.ids[r0 * c], c, m, P.p[2], a1, H1);
    } else {
        for (std::size_t i = 0; i < m; ++i) std::memcpy(a1 + i * H1, P.p[2], H1 * sizeof(T));
        blas::gemm(false, false, m, H1, K, T(1), &w.x[r0 * K], K, P.p[1], H1, T(1), a1, H1);
    }
    T* u = &w.u[r0 * U];
    if (H2) {
        T* h1 = &w.h1[r0 * H1];
        k.activate(sh.act, a1, m, H1, h1, H1);
        T* a2 = &w.a2[r0 * H2];
        for (std::size_t i = 0; i < m; ++i) std::memcpy(a2 + i * H2, P.p[4], H2 * sizeof(T));
        blas::gemm(false, false, m, H2, H1, T(1), h1, H1, P.p[3], H2, T(1), a2, H2);
        k.activate(sh.act, a2, m, H2, u, U);
    } else {
        k.activate(sh.act, a1, m, H1, u, U);
    }
    if (sh.direct)
        for (std::size_t i = 0; i < m; ++i)
            std::memcpy(u + i * U + sh.top(), &w.x[(r0 + i) * K], K * sizeof(T));
}

// The n-gram part of rows [r0, r1): w.gs from w.ids, then z[i, c] += sum_k G[(start_k + c)
// mod M] for every class c (ldz = V; z points at row r0).
template <class T>
void ngram_add(const Shape& sh, const Params<T>& P, Work<T>& w, std::size_t r0,
               std::size_t r1, T* z, std::size_t ldz) {
    const std::size_t c = sh.context, n = sh.ngram, M = sh.ngram_size, V = sh.vocab;
    const T* G = P.p[sh.index_G()];
    for (std::size_t i = r0; i < r1; ++i) {
        ngram_starts(&w.ids[i * c], c, n, M, &w.gs[i * n]);
        T* __restrict zi = z + (i - r0) * ldz;
        for (std::size_t k = 0; k < n; ++k) {
            const std::size_t a = std::size_t(w.gs[i * n + k]);
            const std::size_t first = std::min(V, M - a);  // the run before the wrap
            const T* __restrict g = G + a;
            for (std::size_t q = 0; q < first; ++q) zi[q] += g[q];
            for (std::size_t q = first; q < V; ++q) zi[q] += G[(a + q) % M];
        }
    }
}

// Full-softmax scores of rows [r0, r1): z = u O^T + bo (+ the n-gram part).
template <class T>
void scores_rows(const Shape& sh, const Params<T>& P, Work<T>& w, std::size_t r0,
                 std::size_t r1) {
    const std::size_t m = r1 - r0, V = sh.vocab, U = sh.U();
    const int io = sh.index_O();
    T* z = &w.z[r0 * V];
    for (std::size_t i = 0; i < m; ++i) std::memcpy(z + i * V, P.p[io + 1], V * sizeof(T));
    blas::gemm(false, true, m, V, U, T(1), &w.u[r0 * U], U, P.p[io], U, T(1), z, V);
    if (sh.ngram) ngram_add(sh, P, w, r0, r1, z, V);
}

// From du (rows [r0, r1), scale * dLoss/du) down to dx: the hidden layers' deltas are left
// in du[:, :top] (a2's or a1's) and dh1 (a1's, two layers).
// With dropout, the top layer's outputs before the mask are in a2 (two layers) or a1 (one),
// and du[:, :top] is first multiplied by the mask.  need_dx false: stop at a1's delta (the
// first-layer table's backward, Trainer::table_deltas, takes it from there).
template <class T>
void backward_rows(const Shape& sh, const Params<T>& P, Work<T>& w, std::size_t r0,
                   std::size_t r1, bool dropped, bool need_dx = true) {
    const LmOps<T>& k = ops<T>();
    const std::size_t m = r1 - r0, K = sh.K(), H1 = sh.hidden1, H2 = sh.hidden2, U = sh.U();
    T* du = &w.du[r0 * U];
    const T* u = &w.u[r0 * U];
    std::size_t ldh = U;
    const std::size_t top = sh.top();
    if (dropped) {
        for (std::size_t i = 0; i < m; ++i) {
            const T* mk = &w.mask[(r0 + i) * top];
            T* d = du + i * U;
            for (std::size_t j = 0; j < top; ++j) d[j] *= mk[j];
        }
        u = H2 ? &w.a2[r0 * H2] : &w.a1[r0 * H1];
        ldh = top;
    }
    const T* da1;
    std::size_t ld1;
    if (H2) {
        k.act_grad(sh.act, u, ldh, m, H2, du, U);  // da2
        T* dh1 = &w.dh1[r0 * H1];
        blas::gemm(false, true, m, H1, H2, T(1), du, U, P.p[3], H2, T(0), dh1, H1);
        k.act_grad(sh.act, &w.h1[r0 * H1], H1, m, H1, dh1, H1);
        da1 = dh1, ld1 = H1;
    } else {
        k.act_grad(sh.act, u, ldh, m, H1, du, U);
        da1 = du, ld1 = U;
    }
    if (!need_dx) return;
    T* dx = &w.dx[r0 * K];
    blas::gemm(false, true, m, K, H1, T(1), da1, ld1, P.p[1], H1, T(0), dx, K);
    if (sh.direct)
        for (std::size_t i = 0; i < m; ++i) {
            T* d = dx + i * K;
            const T* s = du + i * U + sh.top();
            for (std::size_t j = 0; j < K; ++j) d[j] += s[j];
        }
}

// out[c] = sum over rows of M[:, c], for c in [c0, c1), rows in order.
template <class T>
void colsum(const T* M, std::size_t ld, std::size_t rows, std::size_t c0, std::size_t c1,
            T* out) {
    for (std::size_t c = c0; c < c1; ++c) out[c] = T(0);
    for (std::size_t i = 0; i < rows; ++i) {
        const T* r = M + i * ld;
        for (std::size_t c = c0; c < c1; ++c) out[c] += r[c];
    }
}

// Dense scratch for the n-gram table's gradient: M values and a mark per entry, all zero
// between steps (each step zeroes what it touched).  Kept per calling thread, so the many
// short native calls of a fit do not clear a table-sized buffer each time; a call with
// another table size replaces it.
template <class T>
struct NgramScratch {
    std::vector<T> g;
    std::vector<unsigned char> mark;
};

template <class T>
NgramScratch<T>& ngram_scratch(std::size_t M) {
    thread_local NgramScratch<T> s;
    if (s.g.size() != M) {
        s.g.assign(M, T(0));
        s.mark.assign(M, 0);
    }
    return s;
}

// A training (or adaptation) step: the state a run keeps across batches.
template <class T>
struct Trainer {
    const Stream& s;
    const Shape& sh;
    const Params<T>& P;
    const Optim& opt;
    unsigned update;
    int threads;
    std::size_t S = 0;  // sampled: classes drawn per batch
    double dropout = 0.0;
    const losses::AliasTable* sampler = nullptr;
    std::vector<T> logq_all;  // log(S q(c)) of every class
    Work<T> w;
    std::vector<T> gW1, gb1, gW2, gb2, gO, gbo, gE, gOr, gbor;
    std::vector<std::int64_t> uE, uO, sidx;
    std::vector<T> Os, bs;  // sampled: the drawn classes' rows of O and bo
    // The first-layer table in training (small vocabularies, no direct connection): pw =
    // first_layer_products of this step's E and W1, and D[j] (vocab x hidden1) the sum of
    // a1's deltas over the rows whose context position j holds each id.  Then
    // gW1[j dim : (j + 1) dim] = E^T D[j] and E's gradient is sum_j D[j] W1[j]^T: three
    // products of vocab rows in place of three of batch rows.
    std::vector<T> pw, D, gEall;
    std::vector<std::uint32_t> which;  // first_appearance's index of each id (unused here)
    // The kept table (dynamic evaluation with W1 fixed: keep_table set and update without
    // W1): first_layer_products built at the first step and kept across steps, its rows of
    // the ids whose E rows a step updates rebuilt after it (refresh_kept).  The forward
    // then costs what scoring costs; the backward is the ordinary one.
    bool keep_table = false;
    std::vector<T> kept, kept_x, kept_y;
    // The n-gram table's gradient: the calling thread's dense scratch (ngram_scratch), and
    // the entries touched in order of first touch with their values.
    NgramScratch<T>* scratch = nullptr;
    std::vector<T> gGv;
    std::vector<std::int64_t> uG;
    std::vector<double> part;
    std::vector<ParamTask> tasks;

    Trainer(const Stream& s_, const Shape& sh_, const Params<T>& P_, const Optim& o,
            unsigned upd, int nt, std::size_t batch, std::size_t samples,
            const double* weights)
        : s(s_), sh(sh_), P(P_), opt(o), update(upd), threads(nt) {
        const std::size_t K = sh.K(), H1 = sh.hidden1, H2 = sh.hidden2, U = sh.U(),
                          V = sh.vocab;
        if (samples && weights) {
            S = samples;
            sampler_own = losses::AliasTable(weights, V);
            sampler = &sampler_own;
            double total = 0.0;
            for (std::size_t c = 0; c < V; ++c) total += weights[c];
            logq_all.resize(V);
            for (std::size_t c = 0; c < V; ++c)
                logq_all[c] = T(std::log(double(S) * weights[c] / total));
        }
        w.reserve(sh, batch, S ? 1 + S : V);
        w.mask.resize(batch * sh.top());
        if (S) w.zids.resize(batch * (1 + S)), w.logq.resize(batch * (1 + S));
        if (on(1)) gW1.resize(K * H1);
        if (on(2)) gb1.resize(H1);
        if (H2 && on(3)) gW2.resize(H1 * H2);
        if (H2 && on(4)) gb2.resize(H2);
        if (!S) {
            if (on(sh.index_O())) gO.resize(V * U);
            if (on(sh.index_O() + 1)) gbo.resize(V);
        } else {
            Os.resize(S * U), bs.resize(S), sidx.resize(S);
        }
        part.resize(std::size_t(std::max(1, nt)));
        if (sh.ngram && on(sh.index_G())) scratch = &ngram_scratch<T>(sh.ngram_size);
    }
    bool on(int i) const { return (update >> i) & 1u; }

    // One step on the positions pos[0..B): returns the batch's summed loss (before the
    // step) and sets status.
    // per_row (full softmax only): each position's loss, -log p before the step.
    double step(const std::int64_t* pos, std::size_t B, std::uint64_t draw_seed, int* status,
                double* per_row = nullptr) {
        const std::size_t c = sh.context, K = sh.K(), H1 = sh.hidden1, H2 = sh.hidden2,
                          U = sh.U(), V = sh.vocab, dim = sh.dim;
        const int io = sh.index_O();
        const LmOps<T>& k = ops<T>();
        for (std::size_t i = 0; i < B; ++i) {
            context_ids(s, c, std::size_t(pos[i]), &w.ids[i * c]);
            w.labels[i] = s.tok[std::size_t(pos[i])];
        }
        if (S) {  // the batch's shared classes, their rows and log Q
            SplitMix64 rng{draw_seed};
            for (std::size_t j = 0; j < S; ++j) {
                const std::size_t cl = sampler->draw(rng.next());
                sidx[j] = std::int64_t(cl);
                std::memcpy(&Os[j * U], P.p[io] + cl * U, U * sizeof(T));
                bs[j] = P.p[io + 1][cl];
            }
        }
        const int nt = threads_for_rows(threads, B);
        const double scale = 1.0 / double(B);
        const std::size_t zc = S ? 1 + S : V;
        const bool dropped = dropout > 0.0;
        const bool table = !sh.direct && table_pays(sh, B, 2);
        const bool keep = !table && keeps_table();
        if (table) kept.clear();  // this step may change E: built again when next kept
        if (table || (keep && kept.empty())) {
            std::vector<T>& dst = table ? pw : kept;
            dst.resize(c * V * H1);
            parallel_for(nt, [&](int t) {
                const auto [j0, j1] = share(c, t, nt);
                first_layer_products(sh, P, j0, j1, dst.data());
            });
        }
        const T* fwd_table = table ? pw.data() : keep ? kept.data() : nullptr;
        // whether anything below the output layer learns (else the backward stops at z)
        const bool below = (update & ((1u << io) - 1u)) != 0;
        // Plain SGD on the full softmax's output layer and n-gram table: updated in place
        // from z and u (fused_sgd), with no gradient kept.
        const bool fuse_O = !S && on(io) && plain_sgd(io);
        const bool fuse_bo = !S && on(io + 1) && plain_sgd(io + 1);
        const bool fuse_G = !S && sh.ngram && on(sh.index_G()) && plain_sgd(sh.index_G());
        // Rows: forward, loss, backward to dx (to a1's delta with the table).
        parallel_for(nt, [&](int t) {
            const auto [r0, r1] = share(B, t, nt);
            const std::size_t m = r1 - r0;
            part[std::size_t(t)] = 0.0;
            if (!m) return;
            hidden_rows(sh, P, w, r0, r1, fwd_table);
            if (dropped) drop_rows(r0, r1, draw_seed);
            T* z = &w.z[r0 * zc];
            T* du = &w.du[r0 * U];
            const T* u = &w.u[r0 * U];
            if (!S) {
                scores_rows(sh, P, w, r0, r1);
                if (per_row) {
                    double sum = 0.0;
                    for (std::size_t i = 0; i < m; ++i) {
                        const double l = k.softmax(z + i * V, 1, V, &w.labels[r0 + i], scale);
                        per_row[r0 + i] = l;
                        sum += l;
                    }
                    part[std::size_t(t)] = sum;
                } else {
                    part[std::size_t(t)] = k.softmax(z, m, V, &w.labels[r0], scale);
                }
                if (below)
                    blas::gemm(false, false, m, U, V, T(1), z, V, P.p[io], U, T(0), du, U);
            } else {
                for (std::size_t i = 0; i < m; ++i) {
                    const std::size_t y = std::size_t(w.labels[r0 + i]);
                    const T* oy = P.p[io] + y * U;
                    T acc = P.p[io + 1][y];
                    T d = T(0);
                    for (std::size_t j = 0; j < U; ++j) d += u[i * U + j] * oy[j];
                    z[i * zc] = acc + d;
                    std::int64_t* ids = &w.zids[(r0 + i) * zc];
                    T* lq = &w.logq[(r0 + i) * zc];
                    ids[0] = std::int64_t(y), lq[0] = logq_all[y];
                    for (std::size_t j = 0; j < S; ++j) {
                        ids[1 + j] = sidx[j], lq[1 + j] = logq_all[std::size_t(sidx[j])];
                        z[i * zc + 1 + j] = bs[j];
                    }
                    if (sh.ngram) ngram_add_columns(r0 + i, ids, zc, z + i * zc);
                }
                blas::gemm(false, true, m, S, U, T(1), u, U, Os.data(), U, T(1), z + 1, zc);
                part[std::size_t(t)] =
                    k.sampled(z, m, zc, &w.zids[r0 * zc], &w.logq[r0 * zc], scale);
                if (below) {
                    blas::gemm(false, false, m, U, S, T(1), z + 1, zc, Os.data(), U, T(0), du,
                               U);
                    for (std::size_t i = 0; i < m; ++i) {
                        const T a = z[i * zc];
                        const T* oy = P.p[io] + std::size_t(w.labels[r0 + i]) * U;
                        for (std::size_t j = 0; j < U; ++j) du[i * U + j] += a * oy[j];
                    }
                }
            }
            if (below) backward_rows(sh, P, w, r0, r1, dropped, !table && on(0));
        });
        double loss = 0.0;
        for (int t = 0; t < nt; ++t) loss += part[std::size_t(t)];
        if (!std::isfinite(loss)) {
            *status = kLossNotFinite;
            return loss;
        }
        // Weight gradients, each cut by its output rows over the threads.
        const T* da1 = H2 ? w.dh1.data() : w.du.data();
        const std::size_t ld1 = H2 ? H1 : U;
        const T* h1in = H2 ? w.h1.data() : nullptr;
        if (S) {
            gOr.resize((S + B) * U), gbor.resize(S + B);
        }
        if (table && (on(0) || on(1))) table_deltas(B, da1, ld1, nt);
        parallel_for(nt, [&](int t) {
            if (table) {
                if (on(1)) {
                    const auto [j0, j1] = share(c, t, nt);
                    for (std::size_t j = j0; j < j1; ++j)
                        blas::gemm(true, false, dim, H1, V, T(1), P.p[0], dim, &D[j * V * H1],
                                   H1, T(0), &gW1[j * dim * H1], H1);
                }
                if (on(0)) {
                    const auto [a, b] = share(V, t, nt);
                    for (std::size_t j = 0; j < c && b > a; ++j)
                        blas::gemm(false, true, b - a, dim, H1, T(1), &D[(j * V + a) * H1], H1,
                                   P.p[1] + j * dim * H1, H1, T(j ? 1 : 0), &gEall[a * dim],
                                   dim);
                }
            } else if (on(1)) {
                const auto [a, b] = share(K, t, nt);
                if (b > a)
                    blas::gemm(true, false, b - a, H1, B, T(1), w.x.data() + a, K, da1, ld1,
                               T(0), &gW1[a * H1], H1);
            }
            if (on(2)) {
                const auto [a, b] = share(H1, t, nt);
                colsum(da1, ld1, B, a, b, gb1.data());
            }
            if (H2 && on(3)) {
                const auto [a, b] = share(H1, t, nt);
                if (b > a)
                    blas::gemm(true, false, b - a, H2, B, T(1), h1in + a, H1, w.du.data(), U,
                               T(0), &gW2[a * H2], H2);
            }
            if (H2 && on(4)) {
                const auto [a, b] = share(H2, t, nt);
                colsum(w.du.data(), U, B, a, b, gb2.data());
            }
            if (!S) {
                if (on(io) && !fuse_O) {
                    const auto [a, b] = share(V, t, nt);
                    if (b > a)
                        blas::gemm(true, false, b - a, U, B, T(1), w.z.data() + a, V,
                                   w.u.data(), U, T(0), &gO[a * U], U);
                }
                if (on(io + 1)) {
                    const auto [a, b] = share(V, t, nt);
                    colsum(w.z.data(), V, B, a, b, gbo.data());
                }
            } else {
                // rows [0, S): the drawn classes' gradients; [S, S + B): each target's
                if (on(io)) {
                    const auto [a, b] = share(S, t, nt);
                    if (b > a)
                        blas::gemm(true, false, b - a, U, B, T(1), w.z.data() + 1 + a, zc,
                                   w.u.data(), U, T(0), &gOr[a * U], U);
                    const auto [i0, i1] = share(B, t, nt);
                    for (std::size_t i = i0; i < i1; ++i) {
                        const T g0 = w.z[i * zc];
                        T* dst = &gOr[(S + i) * U];
                        const T* src = &w.u[i * U];
                        for (std::size_t j = 0; j < U; ++j) dst[j] = g0 * src[j];
                    }
                }
                if (on(io + 1)) {
                    const auto [a, b] = share(S, t, nt);
                    for (std::size_t j = a; j < b; ++j) {
                        T acc = T(0);
                        for (std::size_t i = 0; i < B; ++i) acc += w.z[i * zc + 1 + j];
                        gbor[j] = acc;
                    }
                    const auto [i0, i1] = share(B, t, nt);
                    for (std::size_t i = i0; i < i1; ++i) gbor[S + i] = w.z[i * zc];
                }
            }
        });
        // The optimizer engine: one call for every parameter updated.
        tasks.clear();
        const double f = opt_factor();
        const DType dt = sizeof(T) == 4 ? DType::F32 : DType::F64;
        auto add = [&](int i, const T* g, std::size_t n, std::size_t d,
                       const std::int64_t* rows) {
            ParamTask pt;
            pt.dtype = dt;
            pt.param = P.p[i];
            pt.grad = g;
            pt.n = n;
            pt.dim = d;
            pt.rows = rows;
            for (int q = 0; q < kMaxSlots; ++q) pt.state[q] = opt.state[i][q];
            double h[8];
            std::memcpy(h, opt.hyper[i], sizeof h);
            h[0] *= f;
            bool need[kMaxSlots];
            pt.coeffs = make_coeffs(opt.algo, h, *opt.step[i] + 1, need);
            tasks.push_back(pt);
        };
        if (on(0) && table) {  // the rows of the ids seen, in order of first appearance
            first_appearance(w.ids.data(), B * c, uE, which);
            gE.resize(uE.size() * dim);
            for (std::size_t r = 0; r < uE.size(); ++r)
                std::memcpy(&gE[r * dim], &gEall[std::size_t(uE[r]) * dim], dim * sizeof(T));
            add(0, gE.data(), uE.size() * dim, dim, uE.data());
        } else if (on(0)) {
            const std::size_t n = B * c;
            const T* vals = w.dx.data();
            if (coalesce_rows<T>(w.ids.data(), n, w.dx.data(), dim, uE, gE)) vals = gE.data();
            // no repeat: uE holds the ids, the values are dx as it is
            add(0, vals, uE.size() * dim, dim, uE.data());
        }
        if (on(1)) add(1, gW1.data(), K * H1, 0, nullptr);
        if (on(2)) add(2, gb1.data(), H1, 0, nullptr);
        if (H2 && on(3)) add(3, gW2.data(), H1 * H2, 0, nullptr);
        if (H2 && on(4)) add(4, gb2.data(), H2, 0, nullptr);
        std::vector<T> bo_rows;
        std::vector<std::int64_t> uB;
        if (!S) {
            if (on(io) && !fuse_O) add(io, gO.data(), V * U, 0, nullptr);
            if (on(io + 1) && !fuse_bo) add(io + 1, gbo.data(), V, 0, nullptr);
        } else {
            std::vector<std::int64_t> ids(S + B);
            for (std::size_t j = 0; j < S; ++j) ids[j] = sidx[j];
            for (std::size_t i = 0; i < B; ++i) ids[S + i] = w.labels[i];
            if (on(io)) {
                const T* vals = gOr.data();
                if (coalesce_rows<T>(ids.data(), S + B, gOr.data(), U, uO, gO)) vals = gO.data();
                add(io, vals, uO.size() * U, U, uO.data());
            }
            if (on(io + 1)) {
                const T* vals = gbor.data();
                if (coalesce_rows<T>(ids.data(), S + B, gbor.data(), 1, uB, bo_rows))
                    vals = bo_rows.data();
                add(io + 1, vals, uB.size(), 1, uB.data());
            }
        }
        if (sh.ngram && on(sh.index_G()) && !fuse_G) {
            ngram_grad(B, zc);
            add(sh.index_G(), gGv.data(), uG.size(), 1, uG.data());
        }
        const StepStats st = run_step(tasks, opt.max_norm, true);
        if (!st.finite) {
            *status = kGradNotFinite;
            return loss;
        }
        // z and u are finite here (the loss is), so these gradients are too
        if (fuse_O || fuse_bo || fuse_G) fused_sgd(B, nt, f, fuse_O, fuse_bo, fuse_G);
        for (int i = 0; i < sh.n_params(); ++i)
            if (on(i)) ++*opt.step[i];
        if (keep && on(0)) refresh_kept(nt);
        return loss;
    }

    // Parameter i steps by plain SGD: no momentum, weight decay or clipping.
    bool plain_sgd(int i) const {
        return opt.algo == Algo::SGD && opt.hyper[i][1] == 0.0 && opt.hyper[i][3] == 0.0 &&
               !(opt.max_norm > 0.0);
    }

    // Plain SGD on the full softmax's output layer, straight from the step's z (the score
    // gradients, B x V) and u: O += -lr z^T u as one product into O (cut by rows over the
    // threads), bo += -lr gbo, and G's entries += -lr z in row order on this thread
    // (so no bits depend on the thread count).  One pass over O instead of a gradient
    // written, checked and read back by the engine.
    void fused_sgd(std::size_t B, int nt, double f, bool fO, bool fbo, bool fG) {
        const std::size_t V = sh.vocab, U = sh.U();
        const int io = sh.index_O();
        auto rate = [&](int i) {  // -lr, or +lr when maximizing
            return T(-opt.hyper[i][0] * f * (opt.hyper[i][5] != 0.0 ? -1.0 : 1.0));
        };
        parallel_for(nt, [&](int t) {
            const auto [a, b] = share(V, t, nt);
            if (b <= a) return;
            if (fO)
                blas::gemm(true, false, b - a, U, B, rate(io), w.z.data() + a, V, w.u.data(),
                           U, T(1), P.p[io] + a * U, U);
            if (fbo) {  // gbo: colsum(z), from the gradient pass
                const T r = rate(io + 1);
                for (std::size_t c = a; c < b; ++c) P.p[io + 1][c] += r * gbo[c];
            }
        });
        if (fG) {
            const std::size_t N = sh.ngram, M = sh.ngram_size;
            const T r = rate(sh.index_G());
            T* G = P.p[sh.index_G()];
            for (std::size_t i = 0; i < B; ++i) {
                const T* dz = &w.z[i * V];
                for (std::size_t k = 0; k < N; ++k) {
                    const std::size_t a = std::size_t(w.gs[i * N + k]);
                    const std::size_t first = std::min(V, M - a);  // the run before the wrap
                    T* __restrict g = G + a;
                    for (std::size_t q = 0; q < first; ++q) g[q] += r * dz[q];
                    for (std::size_t q = first; q < V; ++q) G[(a + q) % M] += r * dz[q];
                }
            }
        }
    }

    bool keeps_table() const {
        return keep_table && !sh.direct && !on(1) && table_fits(sh);
    }

    // The kept table's rows of the ids in uE (the E rows this step updated): PW[j][id] =
    // E[id] W1[j] again, the ids gathered into one product per position.
    void refresh_kept(int nt) {
        const std::size_t c = sh.context, V = sh.vocab, H1 = sh.hidden1, dim = sh.dim,
                          n = uE.size();
        if (!n) return;
        kept_x.resize(n * dim);
        kept_y.resize(c * n * H1);
        for (std::size_t r = 0; r < n; ++r)
            std::memcpy(&kept_x[r * dim], P.p[0] + std::size_t(uE[r]) * dim, dim * sizeof(T));
        const int nt2 = threads_for_rows(nt, c * n);
        parallel_for(nt2, [&](int t) {
            const auto [j0, j1] = share(c, t, nt2);
            for (std::size_t j = j0; j < j1; ++j) {
                blas::gemm(false, false, n, H1, dim, T(1), kept_x.data(), dim,
                           P.p[1] + j * dim * H1, H1, T(0), &kept_y[j * n * H1], H1);
                for (std::size_t r = 0; r < n; ++r)
                    std::memcpy(&kept[(j * V + std::size_t(uE[r])) * H1],
                                &kept_y[(j * n + r) * H1], H1 * sizeof(T));
            }
        });
    }

    // D[j][id] = sum of da1's rows (B rows, stride ld1) whose context position j holds id,
    // summed in row order; each thread owns a band of hidden1's columns, so the bits do not
    // depend on the thread count.
    void table_deltas(std::size_t B, const T* da1, std::size_t ld1, int nt) {
        const std::size_t c = sh.context, V = sh.vocab, H1 = sh.hidden1;
        D.resize(c * V * H1);
        if (on(0)) gEall.resize(V * sh.dim);
        parallel_for(nt, [&](int t) {
            const auto [a, b] = share(H1, t, nt);
            if (b <= a) return;
            for (std::size_t r = 0; r < c * V; ++r)
                std::fill(&D[r * H1 + a], &D[r * H1 + b], T(0));
            const LmOps<T>& k = ops<T>();
            for (std::size_t i = 0; i < B; ++i)
                for (std::size_t j = 0; j < c; ++j)
                    k.add_to(&D[(j * V + std::size_t(w.ids[i * c + j])) * H1 + a],
                             da1 + i * ld1 + a, b - a);
        });
    }

    // The n-gram part of sampled row i: w.gs[i], then z[j] += sum_k G[(start_k + ids[j]) mod
    // M] for its n columns.
    void ngram_add_columns(std::size_t i, const std::int64_t* ids, std::size_t n, T* z) {
        const std::size_t c = sh.context, N = sh.ngram, M = sh.ngram_size;
        const T* G = P.p[sh.index_G()];
        std::int64_t* st = &w.gs[i * N];
        ngram_starts(&w.ids[i * c], c, N, M, st);
        for (std::size_t k = 0; k < N; ++k)
            for (std::size_t j = 0; j < n; ++j) {
                std::size_t e = std::size_t(st[k]) + std::size_t(ids[j]);
                while (e >= M) e -= M;
                z[j] += G[e];
            }
    }

    // G's gradient from the score gradients in w.z (B rows of zc columns: every class, or
    // the sampled ones named by w.zids): summed per entry on this thread, in row order, so
    // the bits do not depend on the thread count.  Leaves uG (entries, by first touch) and
    // gGv (their values), and the scratch zeroed again.
    void ngram_grad(std::size_t B, std::size_t zc) {
        const std::size_t N = sh.ngram, M = sh.ngram_size;
        T* gG = scratch->g.data();
        unsigned char* gmark = scratch->mark.data();
        uG.clear();
        for (std::size_t i = 0; i < B; ++i) {
            const T* dz = &w.z[i * zc];
            const std::int64_t* cls = S ? &w.zids[i * zc] : nullptr;
            for (std::size_t k = 0; k < N; ++k) {
                const std::size_t a = std::size_t(w.gs[i * N + k]);
                for (std::size_t q = 0; q < zc; ++q) {
                    std::size_t e = a + (cls ? std::size_t(cls[q]) : q);
                    while (e >= M) e -= M;
                    if (!gmark[e]) gmark[e] = 1, uG.push_back(std::int64_t(e));
                    gG[e] += dz[q];
                }
            }
        }
        gGv.resize(uG.size());
        for (std::size_t j = 0; j < uG.size(); ++j) {
            const std::size_t e = std::size_t(uG[j]);
            gGv[j] = gG[e], gG[e] = T(0), gmark[e] = 0;
        }
    }

    // Dropout on rows [r0, r1): keep the top layer's outputs (in a2 or a1, free after the
    // activation), then mask them in u.  Each row's draws come from (seed, row).
    void drop_rows(std::size_t r0, std::size_t r1, std::uint64_t seed) {
        const std::size_t top = sh.top(), U = sh.U(), H2 = sh.hidden2;
        const T keep = T(1.0 / (1.0 - dropout));
        T* saved = H2 ? w.a2.data() : w.a1.data();
        for (std::size_t i = r0; i < r1; ++i) {
            SplitMix64 rng{stream_seed(seed ^ 0xD1B54A32D192ED03ull, 1, i)};
            T* u = &w.u[i * U];
            T* mk = &w.mask[i * top];
            T* h = saved + i * top;
            for (std::size_t j = 0; j < top; ++j) {
                h[j] = u[j];
                mk[j] = rng.uniform() >= dropout ? keep : T(0);
                u[j] *= mk[j];
            }
        }
    }

    Schedule schedule;
    std::int64_t origin = 0;
    double opt_factor() const {
        return schedule.at(double(*opt.step[sh.index_O()] - origin));
    }

  private:
    losses::AliasTable sampler_own;
};

}  // namespace

template <class T>
Result train(Stream& s, const Shape& sh, const Params<T>& P, const Optim& opt,
             const TrainSpec& spec) {
    blas::set_threads(1);
    Result r;
    const std::size_t n = s.tok.size();
    const std::size_t bs = std::min(spec.batch_size, n);
    if (!bs) return r;
    const std::int64_t* order = s.order(spec.seed, spec.epoch);
    Trainer<T> tr(s, sh, P, opt, spec.update, spec.threads, bs, spec.samples,
                  spec.sample_weights);
    tr.schedule = spec.schedule;
    tr.origin = spec.schedule_origin;
    tr.dropout = spec.dropout;
    const std::size_t n_batches = (n + bs - 1) / bs;
    for (std::size_t b = spec.batch_begin; b < std::min(spec.batch_end, n_batches); ++b) {
        const std::size_t lo = b * bs, B = std::min(bs, n - lo);
        const std::uint64_t ds = stream_seed(spec.seed, 0, std::uint64_t(spec.epoch) * 1000003u + b);
        const double l = tr.step(order + lo, B, ds, &r.status);
        if (r.status != kOk) return r;
        r.loss += l;
        r.count += B;
        ++r.batches;
    }
    return r;
}

namespace {

// Scores of positions [lo, hi) on this thread, in blocks of `blk` rows.
template <class T>
double score_range(const Stream& s, const Shape& sh, const Params<T>& P, Work<T>& w,
                   std::size_t lo, std::size_t hi, std::size_t blk, double* per_token,
                   const T* pw) {
    const LmOps<T>& k = ops<T>();
    const std::size_t c = sh.context, V = sh.vocab;
    double total = 0.0;
    for (std::size_t a = lo; a < hi; a += blk) {
        const std::size_t m = std::min(blk, hi - a);
        for (std::size_t i = 0; i < m; ++i) {
            context_ids(s, c, a + i, &w.ids[i * c]);
            w.labels[i] = s.tok[a + i];
        }
        hidden_rows(sh, P, w, 0, m, pw);
        scores_rows(sh, P, w, 0, m);
        if (per_token) {
            for (std::size_t i = 0; i < m; ++i) {
                const double l = k.softmax(&w.z[i * V], 1, V, &w.labels[i], 1.0);
                per_token[a + i] = l;
                total += l;
            }
        } else {
            total += k.softmax(w.z.data(), m, V, w.labels.data(), 1.0);
        }
    }
    return total;
}

constexpr std::size_t kScoreBlock = 256;

}  // namespace

template <class T>
double score(const Stream& s, const Shape& sh, const Params<T>& P, std::size_t begin,
             std::size_t end, int threads, double* per_token) {
    blas::set_threads(1);
    if (end <= begin) return 0.0;
    const std::size_t n = end - begin;
    const std::vector<T> pw = first_layer_table(sh, P, n);
    const int nt = threads_for_rows(threads, n / 4);
    std::vector<double> part(std::size_t(nt), 0.0);
    parallel_for(nt, [&](int t) {
        const auto [a, b] = share(n, t, nt);
        if (b <= a) return;
        Work<T> w;
        w.reserve(sh, std::min(kScoreBlock, b - a), sh.vocab);
        part[std::size_t(t)] = score_range(s, sh, P, w, begin + a, begin + b, kScoreBlock,
                                           per_token ? per_token - begin : nullptr,
                                           pw.empty() ? nullptr : pw.data());
    });
    double total = 0.0;
    for (double p : part) total += p;
    return total;
}

template <class T>
Result dynamic(Stream& s, const Shape& sh, const Params<T>& P, const Optim& opt,
               std::size_t begin, std::size_t end, std::size_t segment, int steps,
               unsigned update, int threads, double* per_token) {
    blas::set_threads(1);
    Result r;
    if (end <= begin || !segment) return r;
    Trainer<T> tr(s, sh, P, opt, update, threads, std::min(segment, end - begin), 0, nullptr);
    tr.keep_table = table_pays(sh, end - begin, 1);
    std::vector<std::int64_t> pos;
    std::vector<double> seg_loss;
    for (std::size_t a = begin; a < end; a += segment) {
        const std::size_t b = std::min(end, a + segment);
        // Score first (the segment's tokens unseen), then learn from them: the first step's
        // loss, taken before its update, is the segment's score.
        pos.resize(b - a);
        std::iota(pos.begin(), pos.end(), std::int64_t(a));
        double* pt = per_token ? per_token + (a - begin) : nullptr;
        if (steps == 0) {
            r.loss += score(s, sh, P, a, b, threads, pt);
        } else {
            seg_loss.resize(b - a);
            const double l = tr.step(pos.data(), pos.size(), 0, &r.status, seg_loss.data());
            if (pt) std::copy(seg_loss.begin(), seg_loss.end(), pt);
            r.loss += l;
        }
        r.count += b - a;
        if (!std::isfinite(r.loss)) {
            r.status = kLossNotFinite;
            return r;
        }
        if (r.status != kOk) return r;
        for (int k = 1; k < steps; ++k) {
            tr.step(pos.data(), pos.size(), 0, &r.status);
            if (r.status != kOk) return r;
        }
        ++r.batches;
    }
    return r;
}

namespace {

struct MixScratch {
    std::vector<std::int32_t> hist;
    std::vector<double> p;
};

// The network's scores z (V values) replaced by the mixture's log-probabilities,
// log(weight softmax(z) + (1 - weight) p_ngram(. | the end of ctx)).
template <class T>
void mix_scores(const Mix& mix, const std::int64_t* ctx, std::size_t c, T* z, std::size_t V,
                MixScratch& s) {
    const std::size_t len = std::size_t(mix.ngram->order - 1);
    s.hist.resize(len + 1);
    for (std::size_t j = 0; j < len; ++j) s.hist[j] = std::int32_t(ctx[c - len + j]);
    s.p.resize(V);
    kn::distribution(*mix.ngram, s.hist.data(), s.p.data());
    double mx = -INFINITY, sum = 0.0;
    for (std::size_t v = 0; v < V; ++v) mx = std::max(mx, double(z[v]));
    for (std::size_t v = 0; v < V; ++v) sum += std::exp(double(z[v]) - mx);
    const double a = mix.weight / sum, b = 1.0 - mix.weight;
    for (std::size_t v = 0; v < V; ++v)
        z[v] = T(std::log(a * std::exp(double(z[v]) - mx) + b * s.p[v]));
}

// Draws one class from the scores z (V values, overwritten) by the sampling rules.
template <class T>
std::int32_t draw(T* z, std::size_t V, const Sampling& smp, SplitMix64& rng,
                  std::vector<std::pair<double, std::int32_t>>& tmp) {
    for (std::int32_t b : smp.banned)
        if (b >= 0 && std::size_t(b) < V) z[b] = T(-INFINITY);
    // greedy at 0, and where 1 / temperature overflows T (the limit of sharper sampling)
    if (smp.temperature == 0.0 || !(std::abs(T(1.0 / smp.temperature)) < T(INFINITY))) {
        std::size_t best = 0;
        for (std::size_t v = 1; v < V; ++v)
            if (z[v] > z[best]) best = v;
        return std::int32_t(best);
    }
    double mx = -INFINITY;
    for (std::size_t v = 0; v < V; ++v) mx = std::max(mx, double(z[v]));
    if (smp.top_k == 0 && smp.top_p >= 1.0) {  // the whole softmax: one pass, no sort
        const double sum = ops<T>().exp_weights(z, V, T(mx), T(1.0 / smp.temperature));
        double r = rng.uniform() * sum;
        std::size_t last = 0;
        for (std::size_t v = 0; v < V; ++v) {
            if (!(z[v] > T(0))) continue;
            if (r < double(z[v])) return std::int32_t(v);
            r -= double(z[v]);
            last = v;
        }
        return std::int32_t(last);
    }
    tmp.clear();
    double sum = 0.0;
    for (std::size_t v = 0; v < V; ++v) {
        const double p = std::exp((double(z[v]) - mx) / smp.temperature);
        if (p > 0.0) tmp.emplace_back(p, std::int32_t(v)), sum += p;
    }
    std::size_t keep = tmp.size();
    const bool topk = smp.top_k > 0 && smp.top_k < keep;
    if (topk || smp.top_p < 1.0) {
        // by probability, descending; ties by id
        auto cmp = [](const auto& a, const auto& b) {
            return a.first > b.first || (a.first == b.first && a.second < b.second);
        };
        if (topk) {
            std::partial_sort(tmp.begin(), tmp.begin() + std::ptrdiff_t(smp.top_k), tmp.end(),
                              cmp);
            keep = smp.top_k;
        } else {
            std::sort(tmp.begin(), tmp.end(), cmp);
        }
        sum = 0.0;
        for (std::size_t j = 0; j < keep; ++j) sum += tmp[j].first;
        if (smp.top_p < 1.0) {
            double acc = 0.0;
            std::size_t j = 0;
            for (; j < keep; ++j) {
                acc += tmp[j].first;
                if (acc >= smp.top_p * sum) break;
            }
            keep = std::min(keep, j + 1);
            sum = 0.0;
            for (std::size_t q = 0; q < keep; ++q) sum += tmp[q].first;
        }
    }
    double r = rng.uniform() * sum;
    for (std::size_t j = 0; j < keep; ++j) {
        if (r < tmp[j].first) return tmp[j].second;
        r -= tmp[j].first;
    }
    return tmp[keep - 1].second;
}

}  // namespace

template <class T>
void generate(const Shape& sh, const Params<T>& P, const std::int32_t* contexts, std::size_t n,
              std::size_t max_tokens, const Sampling& smp, int threads, std::int32_t* out,
              std::int64_t* lengths, const Mix* mix) {
    blas::set_threads(1);
    const std::size_t c = sh.context, V = sh.vocab;
    const int nt = int(std::min<std::size_t>(std::size_t(std::max(1, threads)),
                                             std::max<std::size_t>(1, n / 8)));
    const std::vector<T> table = first_layer_table(sh, P, n * max_tokens);
    const T* pw = table.empty() ? nullptr : table.data();
    parallel_for(nt, [&](int t) {
        const auto [r0, r1] = share(n, t, nt);
        if (r1 <= r0) return;
        const std::size_t m = r1 - r0;
        Work<T> w;
        w.reserve(sh, m, V);
        std::vector<std::int64_t> ctx(m * c);
        for (std::size_t i = 0; i < m * c; ++i) ctx[i] = contexts[r0 * c + i];
        std::vector<SplitMix64> rng;
        for (std::size_t i = r0; i < r1; ++i)
            rng.push_back(SplitMix64{stream_seed(smp.seed, 0, i * 0x9E3779B97F4A7C15ull)});
        std::vector<char> done(m, 0);
        std::vector<std::size_t> active(m);
        std::vector<std::pair<double, std::int32_t>> tmp;
        MixScratch mixw;
        for (std::size_t i = 0; i < m; ++i) lengths[r0 + i] = 0;
        for (std::size_t step = 0; step < max_tokens; ++step) {
            std::size_t na = 0;
            for (std::size_t i = 0; i < m; ++i)
                if (!done[i]) {
                    std::memcpy(&w.ids[na * c], &ctx[i * c], c * sizeof(std::int64_t));
                    active[na++] = i;
                }
            if (!na) break;
            hidden_rows(sh, P, w, 0, na, pw);
            scores_rows(sh, P, w, 0, na);
            for (std::size_t q = 0; q < na; ++q) {
                const std::size_t i = active[q];
                if (mix && mix->ngram) mix_scores(*mix, &ctx[i * c], c, &w.z[q * V], V, mixw);
                const std::int32_t tok = draw(&w.z[q * V], V, smp, rng[i], tmp);
                if (tok == smp.stop) {
                    done[i] = 1;
                    continue;
                }
                out[(r0 + i) * max_tokens + step] = tok;
                lengths[r0 + i] = std::int64_t(step + 1);
                std::int64_t* cx = &ctx[i * c];
                std::memmove(cx, cx + 1, (c - 1) * sizeof(std::int64_t));
                cx[c - 1] = tok;
            }
        }
    });
}

#define MSOPT_INSTANTIATE(T)                                                                  \
    template Result train<T>(Stream&, const Shape&, const Params<T>&, const Optim&,           \
                             const TrainSpec&);                                               \
    template double score<T>(const Stream&, const Shape&, const Params<T>&, std::size_t,      \
                             std::size_t, int, double*);                                      \
    template Result dynamic<T>(Stream&, const Shape&, const Params<T>&, const Optim&,         \
                               std::size_t, std::size_t, std::size_t, int, unsigned, int,     \
                               double*);                                                      \
    template void generate<T>(const Shape&, const Params<T>&, const std::int32_t*,            \
                              std::size_t, std::size_t, const Sampling&, int, std::int32_t*,  \
                              std::int64_t*, const Mix*);
MSOPT_INSTANTIATE(float)
MSOPT_INSTANTIATE(double)
#undef MSOPT_INSTANTIATE

}  // namespace msopt::lm
