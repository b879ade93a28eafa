// The linear layer's loops, compiled once per instruction set (core/isa_unit.hpp).
#include "../core/isa_unit.hpp"
#include "../losses/dense.hpp"
#include "linear_rules.hpp"

namespace msopt::linear {
namespace {

template <class T>
constexpr LinearOps<T> linear_ops() {
    return {rules::dense_forward16<T>, rules::dense_backward16<T>,  rules::csr_forward<T>,
            rules::csr_backward<T>,     losses::dense_loss_grad<T>, rules::l1_prox<T>};
}

}  // namespace

MSOPT_ISA_TABLE(Kernels, kernels) = {linear_ops<float>(), linear_ops<double>()};

}  // namespace msopt::linear
