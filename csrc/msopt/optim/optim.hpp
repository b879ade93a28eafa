// Optimizer update rules: the per-element arithmetic of every optimizer msopt offers,
// in a form the ISA-specific translation units compile once per instruction set.
// No Python here.  The formulas are written out in reference.py (the NumPy oracle).
#pragma once

#include <cstddef>
#include <cstdint>

#include "../core/dispatch.hpp"

namespace msopt {

enum class Algo : int { SGD = 0, Adam = 1, AdamW = 2, Adagrad = 3, RMSprop = 4, Lion = 5 };

// Number of state arrays an algorithm may keep per parameter (unused slots are null).
//   SGD:     momentum_buffer
//   Adam(W): exp_avg, exp_avg_sq, max_exp_avg_sq
//   Adagrad: sum
//   RMSprop: square_avg, momentum_buffer, grad_avg
//   Lion:    exp_avg
constexpr int kMaxSlots = 3;

// The longest block of int8 optimizer state (one scale per block and moment).
constexpr std::size_t kMaxQ8Block = 2048;

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

// The optimizer's per-ISA kernel table (optim_isa.cpp, dispatched by core/dispatch.hpp).
// Every entry computes bit-identical results on every ISA: the builds use
// -ffp-contract=off, and reductions accumulate in fixed lanes.
struct KernelTable {
    void (*update_f32)(const Coeffs&, float*, const float*, float* const*, std::size_t);
    void (*update_f64)(const Coeffs&, double*, const double*, double* const*, std::size_t);
    // Sum of squares in double (fixed 8-lane order) and a finiteness flag over one block.
    void (*stats_f32)(const float*, std::size_t, bool want_sumsq, double* sumsq, bool* finite);
    void (*stats_f64)(const double*, std::size_t, bool want_sumsq, double* sumsq, bool* finite);
    // The bandwidth floor for benchmarks: the memory traffic of an Adam step (read p, g,
    // m, v; write p, m, v) with next to no arithmetic.
    void (*stream7_f32)(float*, const float*, float*, float*, std::size_t);
    // The same traffic with bfloat16 (uint16) and int8 (uint8) moments.
    void (*stream7_u16)(float*, const float*, std::uint16_t*, std::uint16_t*, std::size_t);
    void (*stream7_u8)(float*, const float*, std::uint8_t*, std::uint8_t*, std::size_t);
    // Adam / AdamW on float32 parameters with compressed moments (lowbit_rules.hpp):
    // bfloat16 moments over n elements whose first is element `first` of its parameter;
    // int8 moments over n elements in consecutive blocks of `block` <= kMaxQ8Block (the
    // last one shorter), with their consecutive scales.
    void (*update_bf16)(const Coeffs&, float*, const float*, std::uint16_t*, std::uint16_t*,
                        std::size_t n, std::uint64_t first, std::uint32_t key);
    void (*update_q8)(const Coeffs&, float*, const float*, std::uint8_t*, std::uint8_t*,
                      float* scale_m, float* scale_v, std::size_t n, std::size_t block);
};

// The table of the instruction set in use (set_isa switches every area at once).
const KernelTable& kernels() noexcept;

}  // namespace msopt
