// Optimizer update rules: the per-element arithmetic of every optimizer msopt offers,
// in a form the ISA-specific translation units compile once per instruction set.
// No Python here.  The formulas are written out in reference.py (the NumPy oracle).
#pragma once

#include <cstddef>
#include <cstdint>

namespace msopt {

namespace linear {
struct LossSpec;
}
namespace w2v {
struct Sigmoid;
}

enum class Algo : int { SGD = 0, Adam = 1, AdamW = 2, Adagrad = 3, RMSprop = 4, Lion = 5 };

// Number of state arrays an algorithm may keep per parameter (unused slots are null).
//   SGD:     momentum_buffer
//   Adam(W): exp_avg, exp_avg_sq, max_exp_avg_sq
//   Adagrad: sum
//   RMSprop: square_avg, momentum_buffer, grad_avg
//   Lion:    exp_avg
constexpr int kMaxSlots = 3;

// Everything one parameter's update needs, already reduced to per-step scalars (in double;
// kernels round each to the parameter's type once, as NumPy does with a Python float).
struct Coeffs {
    Algo algo = Algo::SGD;
    double gscale = 1.0;       // clip coefficient, negated under `maximize`
    double lr = 0.0;           // SGD, RMSprop, Lion; Adagrad's decayed lr
    double weight_decay = 0.0; // coupled (L2) for SGD/Adam/Adagrad/RMSprop
    double decay = 1.0;        // decoupled factor 1 - lr * wd (AdamW, Lion)
    double beta1 = 0.0, beta2 = 0.0;  // Adam/Lion betas, RMSprop alpha in beta2
    double eps = 0.0;
    double momentum = 0.0, dampening = 0.0;
    double step_size = 0.0;    // Adam: lr / (1 - beta1^t)
    double inv_bc2_sqrt = 1.0; // Adam: 1 / sqrt(1 - beta2^t)
    bool nesterov = false, amsgrad = false, centered = false;
    bool first_step = false;   // SGD: the momentum buffer is initialized to the gradient
};

// Values per hyperparameter tuple of each algorithm (the layout the Python optimizers
// send, one tuple per param group):
//   SGD:     lr, momentum, dampening, weight_decay, nesterov, maximize
//   Adam(W): lr, beta1, beta2, eps, weight_decay, amsgrad, maximize
//   Adagrad: lr, lr_decay, weight_decay, eps, maximize
//   RMSprop: lr, alpha, eps, weight_decay, momentum, centered, maximize
//   Lion:    lr, beta1, beta2, weight_decay, maximize
int hyper_len(Algo a) noexcept;
// The coefficients of step t (after increment) from a hyperparameter tuple, and which
// state slots the options need.
Coeffs make_coeffs(Algo a, const double* hyper, std::int64_t t, bool need[kMaxSlots]) noexcept;
// What each state slot is for, to name it in errors.
const char* slot_option(Algo a, int slot) noexcept;

// Loops of the linear layer (linear_rules.hpp), one set per dtype.
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
    double (*loss_grad)(const linear::LossSpec& spec, T* Z, std::size_t B, std::size_t C,
                        const T* y, const std::int64_t* label, const std::int64_t* rows,
                        const T* sw, double scale);
    void (*l1_prox)(T* w, std::size_t n, T thr);
};

// word2vec's inner loops (word2vec_rules.hpp) on rows given by pointer; each returns the
// loss of its targets.
struct W2vOps {
    double (*pair)(float* l1, float* const* rows, int n, float alpha, float* work,
                   std::size_t dim, const w2v::Sigmoid& s);
    double (*cbow)(float* const* ctx, int n_ctx, bool mean, float* const* rows, int n,
                   float alpha, float* neu1, float* work, std::size_t dim,
                   const w2v::Sigmoid& s);
};

// Per-ISA kernel table.  Every entry computes bit-identical results on every ISA: the
// builds use -ffp-contract=off, and reductions accumulate in fixed lanes.
struct KernelTable {
    const char* name;
    void (*update_f32)(const Coeffs&, float*, const float*, float* const*, std::size_t);
    void (*update_f64)(const Coeffs&, double*, const double*, double* const*, std::size_t);
    // Sum of squares in double (fixed 8-lane order) and a finiteness flag over one block.
    void (*stats_f32)(const float*, std::size_t, bool want_sumsq, double* sumsq, bool* finite);
    void (*stats_f64)(const double*, std::size_t, bool want_sumsq, double* sumsq, bool* finite);
    // The bandwidth floor for benchmarks: the memory traffic of an Adam step (read p, g,
    // m, v; write p, m, v) with next to no arithmetic.
    void (*stream7_f32)(float*, const float*, float*, float*, std::size_t);
    LinearOps<float> lin_f32;
    LinearOps<double> lin_f64;
    W2vOps w2v;
};

// The table in use.  Chosen once (the best ISA the CPU runs); tests may force another.
const KernelTable& kernels() noexcept;
// Names of the tables this build holds that this CPU can run, best first.
const char* const* available_isas(int* count) noexcept;
// Select by name; returns false if unknown or not runnable here.
bool set_isa(const char* name) noexcept;

}  // namespace msopt
