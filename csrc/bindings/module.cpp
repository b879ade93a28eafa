#include "common.hpp"

PYBIND11_MODULE(_core, m) {
    m.doc() = "msopt's native core: fused optimizer kernels, linear layers, thread pool, ISA dispatch.";
    msopt::register_runtime(m);
    msopt::register_optim(m);
    msopt::register_linear(m);
    msopt::register_embedding(m);
    msopt::register_text(m);
    msopt::register_word2vec(m);
    msopt::register_fasttext(m);
}
