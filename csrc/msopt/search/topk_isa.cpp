// The top-k search's scan, compiled once per instruction set (core/isa_unit.hpp).
#include "../core/isa_unit.hpp"
#include "topk.hpp"
#include "topk_rules.hpp"

namespace msopt::search {

MSOPT_ISA_TABLE(Kernels, kernels) = {{scan<float>}, {scan<double>}};

}  // namespace msopt::search
