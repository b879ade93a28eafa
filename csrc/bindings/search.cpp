// The top-k search's native call (search/topk.hpp): shapes, dtypes and ranges are checked
// with the GIL held; the blocks run without it.  X and Q are read in place (large float
// operands only read: a race gives wrong scores, never a wrong address); the running best
// arrays are written in place, and their ids are only compared, never used as addresses.
#include "common.hpp"

#include <string>

#include "../msopt/core/threads.hpp"
#include "../msopt/search/topk.hpp"

namespace msopt {
namespace {

using bind::ArrayView;
using bind::Want;

void merge_rows(py::handle X, py::handle Q, std::int64_t row0, std::int64_t row1,
                py::handle best_scores, py::handle best_ids, std::int64_t block,
                std::int64_t query_block, int threads) {
    const ArrayView x = bind::array(X, "X", Want{bind::kFloat, 2});
    const ArrayView q = bind::array(Q, "Q", Want{bind::dtype_bit(x), 2});
    const std::size_t n = std::size_t(x.shape[0]), d = std::size_t(x.shape[1]);
    if (d < 1) throw std::invalid_argument("X: needs at least one column, got shape (" +
                                           std::to_string(n) + ", 0)");
    bind::shape(q, "Q", {-1, x.shape[1]}, " (one row per query, as many columns as X)");
    const ArrayView bs = bind::array(best_scores, "best_scores",
                                     Want{bind::dtype_bit(x), 2, true});
    bind::shape(bs, "best_scores", {q.shape[0], -1}, " (one row per query)");
    const ArrayView bi = bind::array(best_ids, "best_ids", Want{bind::kI64, 2, true});
    bind::shape_like(bi, "best_ids", bs, " (as best_scores)");
    if (row0 < 0 || row1 < row0 || std::size_t(row1) > n)
        throw std::invalid_argument("row0, row1: expected 0 <= row0 <= row1 <= " +
                                    std::to_string(n) + ", got " + std::to_string(row0) +
                                    ", " + std::to_string(row1));
    if (block < 1) throw std::invalid_argument("block: must be >= 1, got " + std::to_string(block));
    if (query_block < 1)
        throw std::invalid_argument("query_block: must be >= 1, got " +
                                    std::to_string(query_block));
    if (threads < 1 || threads > kMaxThreads)
        throw std::invalid_argument("threads: must be in [1, " + std::to_string(kMaxThreads) +
                                    "], got " + std::to_string(threads));
    if (bs.shape[1] < 1) throw std::invalid_argument("best_scores: needs at least one column");
    const std::size_t nq = std::size_t(q.shape[0]), k = std::size_t(bs.shape[1]);
    auto* ids = reinterpret_cast<std::int64_t*>(bi.data);
    py::gil_scoped_release nogil;
    if (x.is_f32())
        search::merge_rows(reinterpret_cast<const float*>(x.data), d, std::size_t(row0),
                           std::size_t(row1), reinterpret_cast<const float*>(q.data), nq, k,
                           reinterpret_cast<float*>(bs.data), ids, std::size_t(block),
                           std::size_t(query_block), threads);
    else
        search::merge_rows(reinterpret_cast<const double*>(x.data), d, std::size_t(row0),
                           std::size_t(row1), reinterpret_cast<const double*>(q.data), nq, k,
                           reinterpret_cast<double*>(bs.data), ids, std::size_t(block),
                           std::size_t(query_block), threads);
}

}  // namespace

void register_search(py::module_& m) {
    m.def("search_merge_rows", &merge_rows, py::arg("X"), py::arg("Q"), py::arg("row0"),
          py::arg("row1"), py::arg("best_scores"), py::arg("best_ids"), py::kw_only(),
          py::arg("block"), py::arg("query_block"), py::arg("threads") = 1,
          "Merge rows [row0, row1) of X into each query's running top k by inner product: "
          "best_scores / best_ids (len(Q) x k) hold the best so far, best first (higher "
          "score, then lower id), id -1 for an empty slot; updated in place.  Scores are "
          "computed by BLAS on blocks of `block` rows x `query_block` queries.");
}

}  // namespace msopt

MSOPT_REGISTER_BINDINGS("80 search", msopt::register_search)
