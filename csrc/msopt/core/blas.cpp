#include "blas.hpp"

#include <cblas.h>

namespace msopt::blas {

namespace {
inline CBLAS_TRANSPOSE tr(bool t) { return t ? CblasTrans : CblasNoTrans; }
}  // namespace

void gemm(bool ta, bool tb, std::size_t m, std::size_t n, std::size_t k, float alpha,
          const float* A, std::size_t lda, const float* B, std::size_t ldb, float beta, float* C,
          std::size_t ldc) {
    scipy_cblas_sgemm(CblasRowMajor, tr(ta), tr(tb), blasint(m), blasint(n), blasint(k), alpha,
                      A, blasint(lda), B, blasint(ldb), beta, C, blasint(ldc));
}

void gemm(bool ta, bool tb, std::size_t m, std::size_t n, std::size_t k, double alpha,
          const double* A, std::size_t lda, const double* B, std::size_t ldb, double beta,
          double* C, std::size_t ldc) {
    scipy_cblas_dgemm(CblasRowMajor, tr(ta), tr(tb), blasint(m), blasint(n), blasint(k), alpha,
                      A, blasint(lda), B, blasint(ldb), beta, C, blasint(ldc));
}

void set_threads(int n) {
    // Ask rather than cache: threadpoolctl and others may change it behind our back, and
    // setting it (even to the same number) costs more than reading it.
    if (scipy_openblas_get_num_threads() != n) scipy_openblas_set_num_threads(n);
}

}  // namespace msopt::blas
