// A neural language model in the manner of Bengio et al. (2003), trained, scored, adapted
// (dynamic evaluation) and sampled in native loops.  No Python here.
//
// For the token at position t of a stream, the previous `context` tokens (the boundary id
// `bos` before the stream's start) are looked up in the embedding table E (vocab x dim)
// and concatenated into x (K = context * dim values); then
//
//     a1 = x W1 + b1,  h1 = act(a1)                     W1: K x H1
//     a2 = h1 W2 + b2, h2 = act(a2)   (optional)        W2: H1 x H2
//     u  = [h_top, x]  (x only with the direct connection, Bengio's W x)
//     z  = u O^T + bo                                   O: vocab x U, U = H_top (+ K)
//     z += sum_k G[(start_k + class) mod M]             (optional n-gram part, below)
//     loss = logsumexp(z) - z_target                    (losses/dense.hpp's softmax rule)
//
// The optional n-gram part is a hashed maximum-entropy model joined to the output, as in
// Mikolov's RNNME: for each order k = 1..ngram, the last k context ids hash to a start
// position start_k in a table G of M values, and class c reads G[(start_k + c) mod M].  It
// learns sharp, sparse n-gram evidence (what a Kneser-Ney model keeps) that the dense
// layers do not hold well, at the cost of ngram x classes additions per position; G takes
// row-sparse updates of width 1 (the entries the batch touched) through the engine.
//
// act is tanh (sign(a) (1 - e) / (1 + e), e = exp(-2 |a|) through the vectorized exp, a
// short series near 0) or ReLU; with dropout, the last hidden layer's units are dropped in
// training.  With the sampled loss, z covers the target and S classes drawn once per batch
// from the sampler (losses/alias.hpp), each corrected by -log(S q(class)), through
// losses/sampled.hpp's rule; O and bo then take row-sparse gradients.
//
// Every product goes to BLAS.  A batch is cut into one block of rows per thread for the
// forward pass and the backward pass down to x (row-local work), then the weight gradients
// are cut by their output rows (each thread owns whole rows of dW: no reduction), so a fixed
// thread count gives the same bits every run.  E's gradient is the rows of dx, summed per
// distinct id in order of first appearance; every parameter is then updated by the
// optimizer engine (optim/step.hpp) in one call: dense tasks, and E (and O, bo with the
// sampled loss) as row-sparse tasks, with the engine's clipping and non-finite check.
#pragma once

#include <cstddef>
#include <cstdint>
#include <mutex>
#include <vector>

#include "../optim/optim.hpp"
#include "kneser_ney.hpp"
#include "../optim/schedule.hpp"

namespace msopt::lm {

enum class Act : int { Tanh = 0, Relu = 1 };

constexpr int kMaxParams = 8;

// The start in the n-gram table of each order k = 1..n (out[k - 1]) for a context of c ids
// (oldest first): FNV-1a over the ids (plus one) from the newest back, so order k extends
// order k - 1's hash, folded to [0, M).
inline void ngram_starts(const std::int64_t* ids, std::size_t c, std::size_t n, std::size_t M,
                         std::int64_t* out) {
    std::uint64_t h = 0xcbf29ce484222325ull;
    for (std::size_t k = 0; k < n; ++k) {
        h = (h ^ std::uint64_t(ids[c - 1 - k] + 1)) * 0x100000001b3ull;
        out[k] = std::int64_t((h ^ (h >> 32)) % M);
    }
}

// The element rules (lm_rules.hpp), one set per dtype, compiled per ISA (lm_isa.cpp).
template <class T>
struct LmOps {
    // h (rows x cols, row stride ldh) = act(a) (rows x cols, contiguous).
    void (*activate)(Act act, const T* a, std::size_t rows, std::size_t cols, T* h,
                     std::size_t ldh);
    // d (rows x cols, row stride ldd) *= act'(a), written through h = act(a) (stride ldh).
    void (*act_grad)(Act act, const T* h, std::size_t ldh, std::size_t rows, std::size_t cols,
                     T* d, std::size_t ldd);
    // Softmax cross-entropy (losses/dense.hpp): Z (B x C) becomes scale * dLoss/dZ;
    // returns the summed loss.
    double (*softmax)(T* Z, std::size_t B, std::size_t C, const std::int64_t* labels,
                      double scale);
    // Sampled softmax with log-Q (losses/sampled.hpp), rows of n scores.
    double (*sampled)(T* Z, std::size_t B, std::size_t n, const std::int64_t* ids,
                      const T* log_q, double scale);
    // The first-layer table's forward: out (rows x H, row stride ldo) = base + sum over j <
    // c of table[(j V + ids[i c + j]) H : ... + H] for each row i.
    void (*table_rows)(const T* table, std::size_t V, std::size_t H, const std::int64_t* ids,
                       std::size_t c, std::size_t rows, const T* base, T* out,
                       std::size_t ldo);
    // dst[0..n) += src[0..n).
    void (*add_to)(T* dst, const T* src, std::size_t n);
    // Sampling weights: z[v] = exp((z[v] - mx) * inv_t) for v < V (exp(-inf) = 0); returns
    // their sum.
    double (*exp_weights)(T* z, std::size_t V, T mx, T inv_t);
};

struct Kernels {
    LmOps<float> f32;
    LmOps<double> f64;
};

// The table of the instruction set in use.
const Kernels& kernels() noexcept;

// The architecture.  Parameters, in this order everywhere (the optimizer's order too):
// E, W1, b1, [W2, b2], O, bo, [G].
struct Shape {
    std::size_t vocab = 0, dim = 0, context = 0, hidden1 = 0, hidden2 = 0;  // hidden2 0: one layer
    std::size_t ngram = 0, ngram_size = 0;  // n-gram orders (<= context; 0: none) and M
    bool direct = false;
    Act act = Act::Tanh;
    std::size_t K() const { return context * dim; }
    std::size_t top() const { return hidden2 ? hidden2 : hidden1; }
    std::size_t U() const { return top() + (direct ? K() : 0); }
    int n_params() const { return (hidden2 ? 7 : 5) + (ngram ? 1 : 0); }
    int index_O() const { return hidden2 ? 5 : 3; }
    int index_G() const { return hidden2 ? 7 : 5; }  // the n-gram table, when ngram > 0
};

template <class T>
struct Params {
    T* p[kMaxParams] = {};  // by index
};

// The token stream (a copy owned by the caller's LmData), and each epoch's order.
struct Stream {
    std::vector<std::int32_t> tok;
    std::int32_t bos = 0;
    // Cached order of the positions for one (seed, epoch).
    std::mutex mu;
    std::uint64_t perm_seed = 0;
    std::int64_t perm_epoch = -1;
    std::vector<std::int64_t> perm;
    const std::int64_t* order(std::uint64_t seed, std::int64_t epoch);
};

// The optimizer, as Optimizer.native_state() gives it: per parameter, its group's
// hyperparameters (the engine's tuple), its state slots and its step counter.
struct Optim {
    Algo algo = Algo::Adam;
    double hyper[kMaxParams][8] = {};
    void* state[kMaxParams][kMaxSlots] = {};
    std::int64_t* step[kMaxParams] = {};
    double max_norm = 0.0;
};

struct TrainSpec {
    std::size_t batch_size = 256;
    std::uint64_t seed = 0;
    std::int64_t epoch = 0;               // the epoch's order: Stream::order(seed, epoch)
    std::size_t batch_begin = 0, batch_end = 0;  // batches of that epoch to run
    Schedule schedule;                    // factor (base 1) of every lr at step k, where k is
    std::int64_t schedule_origin = 0;     // the optimizer's count on E minus this origin
    unsigned update = ~0u;                // bit i: parameter i is updated (else frozen)
    int threads = 1;
    // The sampled loss: S classes drawn per batch from `sample_weights` (vocab values).
    std::size_t samples = 0;
    const double* sample_weights = nullptr;
    // Dropout on the last hidden layer's units (inverted: kept units scaled by
    // 1 / (1 - dropout)), drawn per position from (seed, epoch, batch, row).
    double dropout = 0.0;
};

enum Status : int { kOk = 0, kLossNotFinite = 1, kGradNotFinite = 2 };

struct Result {
    double loss = 0.0;       // summed over the positions trained (each batch's, before its step)
    std::size_t count = 0;   // positions
    std::size_t batches = 0; // batches completed (updates made)
    int status = kOk;        // not kOk: stopped before the batch that failed (nothing of it written)
};

// Batches [batch_begin, batch_end) of one epoch.  Call without the GIL.
template <class T>
Result train(Stream& s, const Shape& sh, const Params<T>& P, const Optim& opt,
             const TrainSpec& spec);

// Summed -log p(token) over positions [begin, end) under the full softmax (float64); with
// `per_token`, each position's -log p into it (end - begin values).
template <class T>
double score(const Stream& s, const Shape& sh, const Params<T>& P, std::size_t begin,
             std::size_t end, int threads, double* per_token);

// Dynamic evaluation over [begin, end): each segment of `segment` positions is scored (its
// losses summed), then `steps` updates are taken on that segment (one batch) through the
// optimizer (parameters updated per spec.update).  Stops at a non-finite gradient or loss
// (status).  `per_token` as for score.
template <class T>
Result dynamic(Stream& s, const Shape& sh, const Params<T>& P, const Optim& opt,
               std::size_t begin, std::size_t end, std::size_t segment, int steps,
               unsigned update, int threads, double* per_token);

struct Sampling {
    double temperature = 1.0;  // 0: greedy
    std::size_t top_k = 0;     // 0: all
    double top_p = 1.0;        // nucleus: the smallest set of classes with mass >= top_p
    std::uint64_t seed = 0;
    std::int32_t stop = -1;    // a row ends after drawing this id (not kept); -1: none
    std::vector<std::int32_t> banned;  // never drawn (e.g. the boundary id)
};

// An n-gram model mixed with the network: p = weight p_network + (1 - weight) p_ngram.
// Its order is at most context + 1 (its history is the end of the network's context).
struct Mix {
    const kn::Model* ngram = nullptr;
    double weight = 1.0;
};

// n rows: each starts from its `context` ids (n x context, oldest first) and draws up to
// max_tokens ids into out (n x max_tokens); lengths[i] the ids drawn before the stop.
// Each row has its own random stream (seed, row).  With mix, the sampling rules apply to
// the mixture's log-probabilities.
template <class T>
void generate(const Shape& sh, const Params<T>& P, const std::int32_t* contexts, std::size_t n,
              std::size_t max_tokens, const Sampling& smp, int threads, std::int32_t* out,
              std::int64_t* lengths, const Mix* mix = nullptr);

}  // namespace msopt::lm
