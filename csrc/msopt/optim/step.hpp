// One optimizer step over many parameter arrays, dense or row-sparse, in one parallel
// region per phase (not one per array):
//   1. stats:  finiteness of every gradient and, when clipping, its squared norm, summed
//              per fixed block of kBlock elements and then in block order, so the norm
//              is the same for every thread count and ISA;
//   2. update: the element loops over the concatenation of all arrays, cut into one
//              contiguous range per thread (row-sparse arrays are cut at row bounds).
// Nothing is written unless every gradient is finite.
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

#include "optim.hpp"

namespace msopt {

enum class DType : int { F32 = 0, F64 = 1 };

// How a task's moments are stored: as the parameter (Same), or compressed (Adam and AdamW on
// float32 parameters only; lowbit_rules.hpp): bfloat16 arrays, or int8 codes with per-block
// scales.
enum class StateKind : int { Same = 0, BF16 = 1, Int8 = 2 };

struct ParamTask {
    DType dtype = DType::F32;
    void* param = nullptr;            // dense: n elements; rows: the whole table
    const void* grad = nullptr;       // dense: n elements; rows: (rows.size(), dim) coalesced
    void* state[kMaxSlots] = {nullptr, nullptr, nullptr};
    std::size_t n = 0;                // elements of `grad`
    std::size_t dim = 0;              // rows: row length; 0 for a dense task
    const std::int64_t* rows = nullptr;  // rows: the distinct row ids, n / dim of them
    Coeffs coeffs;
    StateKind skind = StateKind::Same;
    // BF16: the random-stream key.  Int8: the block length, the row length of
    // the block layout (the parameter viewed as (rows, cols); blocks never cross a row) and
    // the scales of m and v, (rows, ceil(cols / block)) float32 each.
    std::uint32_t key = 0;
    std::size_t block = 0, cols = 0;
    float* scale[2] = {nullptr, nullptr};
};

struct StepStats {
    bool finite = true;
    double norm = 0.0;   // global L2 norm of all gradients (computed only when clipping)
    double scale = 1.0;  // clip coefficient applied
};

constexpr std::size_t kBlock = 4096;

// max_norm > 0 enables global-norm clipping: every gradient is scaled by
// min(1, max_norm / (norm + 1e-6)).  check_finite: refuse the step (change nothing) when
// a gradient holds NaN/Inf; this costs one extra read of every gradient, which clipping
// does anyway.  Returns the stats; when !finite nothing changed.
StepStats run_step(std::vector<ParamTask>& tasks, double max_norm, bool check_finite);

// The benchmark floors: KernelTable::stream7_* over n elements (moments of float32,
// bfloat16 bits or int8 codes), split over threads as run_step splits its update pass.
void stream7(float* p, const float* g, float* m, float* v, std::size_t n);
void stream7(float* p, const float* g, std::uint16_t* m, std::uint16_t* v, std::size_t n);
void stream7(float* p, const float* g, std::uint8_t* m, std::uint8_t* v, std::size_t n);

// Distinct ids in order of first appearance (uniq), and for each position the index of its
// id in uniq (which, n entries).  Open addressing over a table at most half full.
void first_appearance(const std::int64_t* ids, std::size_t n, std::vector<std::int64_t>& uniq,
                      std::vector<std::uint32_t>& which);

// Sums the value rows of repeated ids, in order of first appearance (so the sum order is
// fixed).  Fills `uniq` with the distinct ids and `out` with uniq.size() * dim values.
// Returns false (and leaves `out` unfilled) when no id repeats: the caller may then use
// `values` as they are, with uniq equal to ids.
template <class T>
bool coalesce_rows(const std::int64_t* ids, std::size_t n, const T* values, std::size_t dim,
                   std::vector<std::int64_t>& uniq, std::vector<T>& out);

}  // namespace msopt
