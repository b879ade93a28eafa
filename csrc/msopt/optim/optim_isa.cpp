// The optimizer's kernels, compiled once per instruction set (core/isa_unit.hpp); each
// copy exports one KernelTable.  The source is the same, so the results are too.
#include "../core/isa_unit.hpp"
#include "lowbit_rules.hpp"

namespace msopt {
namespace {

void update_f32(const Coeffs& c, float* p, const float* g, float* const* st, std::size_t n) {
    rules::update<float>(c, p, g, st, n);
}
void update_f64(const Coeffs& c, double* p, const double* g, double* const* st, std::size_t n) {
    rules::update<double>(c, p, g, st, n);
}
void stats_f32(const float* g, std::size_t n, bool want, double* sumsq, bool* finite) {
    rules::stats<float>(g, n, want, sumsq, finite);
}
void stats_f64(const double* g, std::size_t n, bool want, double* sumsq, bool* finite) {
    rules::stats<double>(g, n, want, sumsq, finite);
}

}  // namespace

MSOPT_ISA_TABLE(KernelTable, kernels) = {update_f32, update_f64, stats_f32, stats_f64,
                                         rules::stream7,
                                         rules::stream7_codes<std::uint16_t>,
                                         rules::stream7_codes<std::uint8_t>,
                                         rules::update_bf16, rules::update_q8};

}  // namespace msopt
