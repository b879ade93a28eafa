// word2vec's inner loops, compiled once per instruction set (core/isa_unit.hpp).
#include "../core/isa_unit.hpp"
#include "word2vec_rules.hpp"

namespace msopt::w2v {

MSOPT_ISA_TABLE(W2vOps, kernels) = {rules::w2v_pair, rules::w2v_cbow,
                                     rules::frozen_pairs, rules::frozen_scores};

}  // namespace msopt::w2v
