// The sentence encoder's element loops, compiled once per instruction set
// (core/isa_unit.hpp).
#include "../core/isa_unit.hpp"
#include "encoder_rules.hpp"

namespace msopt::enc {

MSOPT_ISA_TABLE(EncOps, kernels) = {
    rules::bag_mean,    rules::project, rules::normalize, rules::normalize_back,
    rules::project_back, rules::weight_grad, rules::colsum, rules::scores,
    rules::tmul,        rules::mul,     rules::row_dots};

}  // namespace msopt::enc
