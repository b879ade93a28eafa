// The loss kernels on their own, compiled once per instruction set (core/isa_unit.hpp).
#include "../core/isa_unit.hpp"
#include "dense.hpp"
#include "ns.hpp"
#include "sampled.hpp"

namespace msopt::losses {

MSOPT_ISA_TABLE(Kernels, kernels) = {
    dense_loss_grad<float>,          dense_loss_grad<double>, ns_loss_grad,
    {sampled_loss_grad<float>},      {sampled_loss_grad<double>},
};

}  // namespace msopt::losses
