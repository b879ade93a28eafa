// A linear layer with a fused loss, trained by the optimizer engine: Z = X W + b, the
// loss and dL/dZ in one pass, dW = X^T dZ, db = sum(dZ), the update, and an L1 prox.
// X is dense (row-major) or CSR.  Large dense products go to BLAS; small shapes and CSR
// to the loops in linear_rules.hpp.  No Python here.
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

#include "../losses/losses.hpp"
#include "../optim/optim.hpp"
#include "../optim/schedule.hpp"

namespace msopt::linear {

// The losses are the dense loss kernels of losses/ (losses.hpp).
using Loss = losses::Dense;
using LossSpec = losses::DenseSpec;

// The linear layer's loops (linear_rules.hpp), one set per dtype, compiled per ISA
// (linear_isa.cpp).
template <class T>
struct LinearOps {
    // Dense products with at most 16 outputs, on W, b, Z and dW padded to 16 columns.
    void (*dense_forward16)(const T* X, std::size_t ldx, const std::int64_t* rows,
                            std::size_t B, std::size_t d, const T* W16, const T* b16, T* Z16);
    void (*dense_backward16)(const T* X, std::size_t ldx, const std::int64_t* rows,
                             std::size_t B, std::size_t d, const T* dZ16, T* dW16);
    void (*csr_forward)(const std::int64_t* indptr, const std::int64_t* indices, const T* vals,
                        const std::int64_t* rows, std::size_t B, const T* W, const T* b,
                        std::size_t C, T* Z);
    void (*csr_backward)(const std::int64_t* indptr, const std::int64_t* indices,
                         const T* vals, const std::int64_t* rows, std::size_t B, const T* dZ,
                         std::size_t C, T* dW);
    double (*loss_grad)(const LossSpec& spec, T* Z, std::size_t B, std::size_t C,
                        const T* y, const std::int64_t* label, const std::int64_t* rows,
                        const T* sw, double scale);
    void (*l1_prox)(T* w, std::size_t n, T thr);
};

struct Kernels {
    LinearOps<float> f32;
    LinearOps<double> f64;
};

// The table of the instruction set in use.
const Kernels& kernels() noexcept;

// Training data.  Targets are `y` (n x C, regression losses) or `label` (class ids:
// Logistic and binary Hinge take 0/1 with C == 1; Softmax and one-vs-rest Hinge 0..C-1).
template <class T>
struct Data {
    const T* x = nullptr;  // dense: n x ldx row-major, or null for CSR
    std::size_t ldx = 0;
    const std::int64_t* indptr = nullptr;  // CSR
    const std::int64_t* indices = nullptr;
    const T* vals = nullptr;
    std::size_t n = 0, d = 0;
    const T* y = nullptr;
    const std::int64_t* label = nullptr;
    const T* sw = nullptr;  // per-sample weights, or null
};

// The optimizer that updates W (d x C) and b (C): its algorithm, per-array hyperparameters
// (the engine's tuple layout), state slots and step counters.
struct OptimSpec {
    Algo algo = Algo::SGD;
    double hyper_w[8] = {0}, hyper_b[8] = {0};
    void* state_w[kMaxSlots] = {nullptr, nullptr, nullptr};
    void* state_b[kMaxSlots] = {nullptr, nullptr, nullptr};
    std::int64_t* step_w = nullptr;
    std::int64_t* step_b = nullptr;
    double max_norm = 0.0;
};

struct RunSpec {
    std::size_t batch_size = 32;
    std::int64_t epochs = 1;
    std::int64_t epoch0 = 0;  // epochs already run: seeds each epoch's shuffle
    std::uint64_t seed = 0;
    bool shuffle = true;
    double l2 = 0.0, l1 = 0.0;  // penalty 0.5*l2*|W|^2 + l1*|W|_1 (b is not penalized)
    Schedule schedule;             // the learning-rate factor (base 1) at step k, where k is
    std::int64_t schedule_origin = 0;  // the optimizer's step count on W minus this origin
    // A chunk of a longer run: the first epoch starts at its batch `first_batch`, its loss
    // sum so far `carry` (what RunResult::carry gave back), and the call stops after
    // `max_batches` batches (< 0: none), so chunks repeat one whole call bit for bit.
    std::int64_t first_batch = 0;
    std::int64_t max_batches = -1;
    double carry = 0.0;
};

struct RunResult {
    std::vector<double> epoch_loss;  // mean weighted loss of each epoch completed
    bool finite = true;              // false: a batch loss was NaN/Inf (W, b hold the
                                     // weights from before that batch), or the last update
                                     // overflowed W
    std::int64_t steps = 0;
    // Where a call cut short by max_batches stopped: batch `batch` of the epoch after the
    // completed ones, its loss sum so far `carry` (0 and 0 at an epoch's end).
    std::int64_t batch = 0;
    double carry = 0.0;
};

// Runs `spec.epochs` epochs of minibatch steps.  Releases nothing itself: call it without
// the GIL.
template <class T>
RunResult run(const Data<T>& data, T* W, T* b, std::size_t C, const LossSpec& loss,
              const OptimSpec& opt, const RunSpec& spec);

// Z (n x C) = X W + b.
template <class T>
void forward(const Data<T>& data, const T* W, const T* b, std::size_t C, T* Z);

// Mean weighted loss of the whole data set, and its gradient (dW, db; db may be null).
template <class T>
double loss_and_grad(const Data<T>& data, const T* W, const T* b, std::size_t C,
                     const LossSpec& loss, T* dW, T* db);

// A dense product of B x d x C multiply-adds with 2 <= C <= 16 runs in our register tiles
// below tile_max, and in BLAS otherwise.  bench/crossover.py measured the default on the
// project's machine (2 threads): the tiles win up to a few 100k multiply-adds (C = 10:
// 32 x 100 x 10 takes 5.4 us a training step against 5.8 in BLAS; 64 x 256 x 10, 11.7
// against 13.6), BLAS from ~0.6M on, and BLAS for C = 1 at every size.  Tests move it to
// check both paths against each other.
constexpr std::size_t kDefaultTileMaxWork = std::size_t(1) << 19;
void set_tile_max_work(std::size_t n);
std::size_t tile_max_work();

// The permutation of epoch `epoch` for `seed` (Fisher-Yates on a splitmix64 stream).
void epoch_permutation(std::uint64_t seed, std::int64_t epoch, std::int64_t* perm,
                       std::size_t n);

}  // namespace msopt::linear
