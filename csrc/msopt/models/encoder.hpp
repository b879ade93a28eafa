// A sentence encoder trained on pairs of texts in native loops.  No Python here.
//
// A text is a bag of rows of the table E (rows x dim): its known words and its hashed word
// n-grams (text/text.hpp's ids).  Then
//
//     h = mean of the text's rows of E           (0 for a text with no row)
//     p = h W + b                                (optional projection, W: dim x out)
//     u = p / |p|                                (0 when p = 0)
//
// and a pair (a, b) is scored by the cosine c = u_a . u_b.  The losses over a batch of B
// pairs, each the mean over the batch:
//
//   in-batch   (multiple negatives ranking) s_ij = u_a_i . u_b_j / temperature, and
//              loss_i = logsumexp_j(s_ij) - s_ii: the other pairs' b texts are the
//              negatives (losses/dense.hpp's softmax rule);
//   cosine     0.5 (c - y)^2, y the pair's target score (losses/dense.hpp's squared rule);
//   logistic   log(1 + exp(-s z)), z = (c - margin) / temperature, s = +1 for label 1 and
//              -1 for label 0 (losses/dense.hpp's logistic rule);
//   contrastive  label 1: 0.5 (1 - c)^2; label 0: 0.5 max(0, c - margin)^2.
//
// The element loops (the bag means, the normalization and its backward, the pair cosines)
// are encoder_rules.hpp's, compiled per ISA, each sum in a fixed order; the products (the
// projection and its gradients, the in-batch score matrix and its gradients) go to BLAS on
// blocks of rows of a fixed size, which threads take whole.  So a fixed seed gives the same
// bits for any thread count and ISA (with the same BLAS).  E's gradient is one row per
// distinct id of the batch, summed in order of position (embedding/embedding.hpp's merged
// backward); E (row-sparse), W and b are then updated by the optimizer engine
// (optim/step.hpp) in one call, with its clipping and non-finite check.
//
// Per batch of B pairs of texts of about L rows each: 2 B L rows of E read (dim floats
// each), and the distinct rows touched written by the update, with their optimizer state.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <mutex>
#include <vector>

#include "../losses/losses.hpp"
#include "../optim/optim.hpp"
#include "../optim/schedule.hpp"

namespace msopt::enc {

enum class Loss : int { InBatch = 0, Cosine = 1, Logistic = 2, Contrastive = 3 };

// The element loops (encoder_rules.hpp), compiled per ISA (encoder_isa.cpp).  Rows are
// row-major, contiguous.
struct EncOps {
    // h[i] = mean over j in [off[i], off[i + 1]) of E[ids[j]] (0 for an empty text), i < m.
    void (*bag_mean)(const float* E, std::size_t dim, const std::int64_t* ids,
                     const std::int64_t* off, std::size_t m, float* h);
    // U = P / |P| row by row, nrm[i] = |P_i| (U_i = 0 where |P_i| = 0; NaN where |P_i| is
    // NaN, so that a diverged row does not pass for an empty text).  U may be P.
    void (*normalize)(const float* P, std::size_t m, std::size_t out, float* U, float* nrm);
    // dU (m x out) becomes dP = (dU - U (U . dU)) / nrm (0 where nrm = 0).
    void (*normalize_back)(const float* U, const float* nrm, std::size_t m, std::size_t out,
                           float* dU);
    // db columns [c0, c1) = sum over i < m, in order, of dP[i][c].
    void (*colsum)(const float* dP, std::size_t m, std::size_t out, std::size_t c0,
                   std::size_t c1, float* db);
    // The cosine of each pair of rows i < m: c[i] = A_i . B_i.
    void (*row_dots)(const float* A, const float* B, std::size_t m, std::size_t d, float* c);
};

const EncOps& kernels() noexcept;

// The architecture.  Parameters in this order everywhere: E, then W and b when projected.
struct Shape {
    std::size_t rows = 0, dim = 0, out = 0;
    bool project = false;
    int n_params() const { return project ? 3 : 1; }
    std::size_t width() const { return project ? out : dim; }
};

struct Params {
    float* p[3] = {};
};

// Texts as bags: text i holds ids[off[i] : off[i + 1]] (off has n + 1 entries).
struct Texts {
    std::vector<std::int64_t> ids, off;
    std::size_t size() const { return off.empty() ? 0 : off.size() - 1; }
};

// The training pairs (private copies) and each epoch's order.
struct Pairs {
    Texts a, b;
    std::int64_t max_id = -1;    // the largest id of any text
    std::vector<double> target;  // per pair: the score (cosine) or the 0/1 label; empty: none
    std::mutex mu;
    std::uint64_t perm_seed = 0;
    std::int64_t perm_epoch = -1;
    std::vector<std::int64_t> perm;
    std::size_t size() const { return a.size(); }
    const std::int64_t* order(std::uint64_t seed, std::int64_t epoch);
};

constexpr int kMaxParams = 3;

// Optimizer.native_state(), as the language model reads it.
struct Optim {
    Algo algo = Algo::Adam;
    double hyper[kMaxParams][8] = {};
    void* state[kMaxParams][kMaxSlots] = {};
    std::int64_t* step[kMaxParams] = {};
    double max_norm = 0.0;
};

struct TrainSpec {
    Loss loss = Loss::InBatch;
    double temperature = 0.05;
    double margin = 0.5;
    std::size_t batch_size = 64;
    std::uint64_t seed = 0;
    std::int64_t epoch = 0;
    std::size_t batch_begin = 0, batch_end = 0;
    Schedule schedule;                 // factor of every lr at step k = E's count - origin
    std::int64_t schedule_origin = 0;
    int threads = 1;
};

enum Status : int { kOk = 0, kLossNotFinite = 1, kGradNotFinite = 2 };

struct Result {
    double loss = 0.0;        // summed over the pairs trained (each batch's before its step)
    std::size_t count = 0;    // pairs
    std::size_t batches = 0;  // updates made
    int status = kOk;         // not kOk: stopped before the failing batch (nothing written)
};

// Batches [batch_begin, batch_end) of one epoch.  Call without the GIL.
Result train(Pairs& d, const Shape& sh, const Params& P, const Optim& opt,
             const TrainSpec& spec);

// The loss and gradients of one batch (pairs `pos`), without a step: loss (mean), and
// gradients into gE (rows: uniq), gW, gb.  For tests and the reference comparison.
double loss_grad(const Pairs& d, const Shape& sh, const Params& P, const TrainSpec& spec,
                 const std::int64_t* pos, std::size_t B, std::vector<std::int64_t>& uniq,
                 std::vector<float>& gE, std::vector<float>& gW, std::vector<float>& gb);

// The ids and offsets of n texts as the caller passed them (n offsets, the last text ending
// at n_ids), read without the GIL while another thread may write them.
struct Borrowed {
    const std::int64_t* ids;
    std::size_t n_ids;
    const std::int64_t* off;
    std::size_t n;
};

// U (n x width) = the unit vectors of n texts.  Each chunk of texts copies its offsets and
// ids into the worker's own buffers, checks the copies (offsets from 0, non-decreasing,
// within the ids; ids within the table's rows) and reads only them.  False when a copy
// fails its check: U is then partly written, and the caller looks for the reason.
bool encode(const Borrowed& t, const Shape& sh, const Params& P, int threads, float* U);

// Makes the bags of texts [r0, r0 + m) into (ids, off): off gets m + 1 entries from 0,
// every id below the table's rows.  False: stop (the caller looks for the reason).
using FillChunk = std::function<bool(std::size_t r0, std::size_t m,
                                     std::vector<std::int64_t>& ids,
                                     std::vector<std::int64_t>& off)>;
// Makes one worker's FillChunk (which may own scratch for the call's length).
using MakeFill = std::function<FillChunk()>;

// U (n x width) = the unit vectors of n texts whose bags a FillChunk makes a chunk at a
// time, on the worker that encodes the chunk (into that worker's buffers, reused chunk after
// chunk), so no array of every text's ids is ever made.  The chunks are encode's: the same
// bits.  `ids_per_text` is an estimate, for the thread count only.  False when a fill
// returned false (U partly written).
bool encode_chunks(std::size_t n, std::size_t ids_per_text, const Shape& sh,
                   const Params& P, int threads, float* U, const MakeFill& make_fill);

// Benchmark floor of encode's bag: loads one float from each cache line of every row the
// n texts name (ids checked by the caller) and computes nothing else, over the same blocks
// of texts and threads as encode.  Returns the loads' sum, so that none is left out.
double read_floor(const std::int64_t* ids, const std::int64_t* off, std::size_t n,
                  std::size_t n_ids, const float* E, std::size_t dim, int threads);

}  // namespace msopt::enc
