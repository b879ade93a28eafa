// The sentence encoder's element loops, compiled once per instruction set
// (core/isa_unit.hpp).
#include "../core/isa_unit.hpp"
#include "encoder_rules.hpp"

namespace msopt::enc {

MSOPT_ISA_TABLE(EncOps, kernels) = {
    rules::bag_mean, rules::normalize, rules::normalize_back, rules::colsum, rules::row_dots};

}  // namespace msopt::enc
