// The loss kernels' table of the instruction set in use.
#include "losses.hpp"

namespace msopt::losses {

MSOPT_ISA_DISPATCH(Kernels, kernels)

}  // namespace msopt::losses
