// The BLAS msopt links: scipy-openblas32 (the OpenBLAS that NumPy and SciPy wheels bundle,
// with symbols prefixed scipy_).  Row-major GEMM only.
#pragma once

#include <cstddef>

namespace msopt::blas {

// C (m x n) = alpha * op(A) op(B) + beta * C, row-major; op transposes when trans_*.
void gemm(bool trans_a, bool trans_b, std::size_t m, std::size_t n, std::size_t k, float alpha,
          const float* A, std::size_t lda, const float* B, std::size_t ldb, float beta, float* C,
          std::size_t ldc);
void gemm(bool trans_a, bool trans_b, std::size_t m, std::size_t n, std::size_t k,
          double alpha, const double* A, std::size_t lda, const double* B, std::size_t ldb,
          double beta, double* C, std::size_t ldc);

// The BLAS's own thread count (kept equal to msopt's, so the two never multiply).
void set_threads(int n);

// The BLAS's build ("OpenBLAS 0.3.x DYNAMIC_ARCH ...") and the kernels it chose at load.
const char* config();
const char* kernels();

// Every call above is counted while it is inside BLAS, and fork() waits until none is
// (OpenBLAS's own fork handler stops its workers under a running call): see blas.cpp.

}  // namespace msopt::blas
