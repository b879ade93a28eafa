// The language model's element loops, compiled once per instruction set
// (core/isa_unit.hpp).
#include "../core/isa_unit.hpp"
#include "lm_rules.hpp"

namespace msopt::lm {
namespace {

template <class T>
constexpr LmOps<T> lm_ops() {
    return {rules::activate<T>,  rules::act_grad<T>, rules::softmax<T>,    rules::sampled<T>,
            rules::table_rows<T>, rules::add_to<T>,   rules::exp_weights<T>};
}

}  // namespace

MSOPT_ISA_TABLE(Kernels, kernels) = {lm_ops<float>(), lm_ops<double>()};

}  // namespace msopt::lm
