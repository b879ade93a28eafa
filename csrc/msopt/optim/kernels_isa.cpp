// Compiled once per instruction set (CMake passes MSOPT_ISA and the -m flags); each copy
// exports one KernelTable.  The source is the same, so the results are too.
#include "../linear/linear_rules.hpp"
#include "update_rules.hpp"
#include "../models/word2vec_rules.hpp"

#ifndef MSOPT_ISA
#error "MSOPT_ISA must name the instruction set this unit is compiled for"
#endif

#define MSOPT_CAT2(a, b) a##b
#define MSOPT_CAT(a, b) MSOPT_CAT2(a, b)
#define MSOPT_STR2(a) #a
#define MSOPT_STR(a) MSOPT_STR2(a)

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

template <class T>
constexpr LinearOps<T> linear_ops() {
    return {rules::dense_forward16<T>, rules::dense_backward16<T>, rules::csr_forward<T>,
            rules::csr_backward<T>,     rules::loss_grad<T>,         rules::l1_prox<T>};
}

}  // namespace

extern const KernelTable MSOPT_CAT(kernels_, MSOPT_ISA);
const KernelTable MSOPT_CAT(kernels_, MSOPT_ISA) = {
    MSOPT_STR(MSOPT_ISA), update_f32,           update_f64,           stats_f32,
    stats_f64,            rules::stream7,       linear_ops<float>(), linear_ops<double>(),
    {rules::w2v_pair, rules::w2v_cbow},
};

}  // namespace msopt
