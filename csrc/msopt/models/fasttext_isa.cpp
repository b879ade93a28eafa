// The text classifier's per-document rules, compiled once per instruction set
// (core/isa_unit.hpp).
#include "../core/isa_unit.hpp"
#include "fasttext_rules.hpp"

namespace msopt::ftx {

MSOPT_ISA_TABLE(DocOps, kernels) = {rules::hidden,     rules::spread,    rules::update_softmax,
                                    rules::update_ova, rules::update_ns, rules::predict};

}  // namespace msopt::ftx
