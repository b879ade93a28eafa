// Exact top-k search by inner product: scores = Q X^T computed block by block by BLAS, each
// block's scores scanned at once into a bounded heap per query.  No Python here.
//
// Order: a candidate is better when its score is higher, or equal with a lower row id, so
// the top k of any set is unique and does not depend on how the rows were split (over
// blocks, calls or threads).  A NaN score (only from an overflow: the inputs are finite)
// counts as -inf, and is reported as -inf.
//
// Memory: per thread, one score buffer of qblock x block and one heap of k entries per
// query; nothing of size queries x rows.  Bytes moved: X once per call (the query blocks
// of one index block reuse it from cache), the score buffer written by BLAS and read once.
#pragma once

#include <cstddef>
#include <cstdint>

namespace msopt::search {

// The scan of one row of scores into a full heap (topk_rules.hpp), compiled per ISA
// (topk_isa.cpp).
template <class T>
struct TopkOps {
    // Offers s[0..n) (the scores of rows id0, id0 + 1, ...) to the heap hs/hi of k
    // entries (full; root hs[0] the worst; every id in it is below id0).
    void (*scan)(const T* s, std::size_t n, std::int64_t id0, T* hs, std::int64_t* hi,
                 std::size_t k);
};

struct Kernels {
    TopkOps<float> f32;
    TopkOps<double> f64;
};

// The table of the instruction set in use.
const Kernels& kernels() noexcept;

// Merges rows [row0, row1) of X (row-major, d columns) into the running top k of each of
// the nq queries Q (nq x d): best_s / best_i (nq x k, row-major) hold each query's best
// entries sorted best first, id -1 marking an empty slot (empty slots come last); they are
// updated in place.  The rows are cut into blocks of `block` starting at row0, the queries
// into blocks of `qblock`; threads take whole blocks, so results are bit-identical for any
// thread count (the same BLAS calls on the same blocks).
template <class T>
void merge_rows(const T* X, std::size_t d, std::size_t row0, std::size_t row1, const T* Q,
                std::size_t nq, std::size_t k, T* best_s, std::int64_t* best_i,
                std::size_t block, std::size_t qblock, int threads);

}  // namespace msopt::search
