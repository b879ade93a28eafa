#include "blas.hpp"

#include <cblas.h>
#include <pthread.h>

#include <atomic>
#include <chrono>
#include <thread>

namespace msopt::blas {

namespace {
inline CBLAS_TRANSPOSE tr(bool t) { return t ? CblasTrans : CblasNoTrans; }

// -- fork safety -------------------------------------------------------------------------
// OpenBLAS's own fork handler (a pthread_atfork prepare handler that OpenBLAS registers
// when the library is loaded) shuts its worker pool down.  A call that another thread has
// inside BLAS at that moment then waits forever for workers that are gone.  So msopt keeps
// a count of its calls inside BLAS, and its own prepare handler (a) makes new calls wait
// and (b) waits until the count is zero; OpenBLAS's handler then runs with no msopt call
// inside it.  The parent and child handlers let calls in again.
//
// Order: prepare handlers run in the reverse order of registration, so ours must be
// registered after OpenBLAS's for it to run first.  It is registered when this library is
// loaded (a static initializer below), and the dynamic loader runs the initializers of
// libscipy_openblas.so (a dependency: DT_NEEDED, and preloaded by scipy_openblas32 too)
// before ours.  Registered the other way round, the fork would wait forever instead.
//
// What remains: BLAS calls that do not go through msopt (NumPy's matmul in another thread:
// NumPy's own OpenBLAS, with its own handler; or anything else calling this OpenBLAS)
// are not counted, and a fork while one of them runs can still hang that thread.
std::atomic<int> g_inside{0};   // msopt calls inside BLAS
std::atomic<int> g_forking{0};  // forks in their prepare..parent window

void wait_a_little(int& spins) {
    if (++spins < 64) std::this_thread::yield();
    else std::this_thread::sleep_for(std::chrono::microseconds(50));
}

void atfork_prepare() {
    g_forking.fetch_add(1);
    int spins = 0;
    while (g_inside.load() != 0) wait_a_little(spins);
}
void atfork_parent() { g_forking.fetch_sub(1); }
void atfork_child() {  // the other threads, and their calls, do not exist here
    g_inside.store(0);
    g_forking.store(0);
}

[[maybe_unused]] const int g_registered =
    pthread_atfork(atfork_prepare, atfork_parent, atfork_child);

// Marks one call inside BLAS.  With sequentially consistent atomics, either the fork's
// handler sees the count raised and waits, or this sees the fork and steps back.
class Inside {
  public:
    Inside() {
        for (;;) {
            g_inside.fetch_add(1);
            if (g_forking.load() == 0) return;
            g_inside.fetch_sub(1);
            int spins = 0;
            while (g_forking.load() != 0) wait_a_little(spins);
        }
    }
    ~Inside() { g_inside.fetch_sub(1); }
    Inside(const Inside&) = delete;
    Inside& operator=(const Inside&) = delete;
};
}  // namespace

void gemm(bool ta, bool tb, std::size_t m, std::size_t n, std::size_t k, float alpha,
          const float* A, std::size_t lda, const float* B, std::size_t ldb, float beta, float* C,
          std::size_t ldc) {
    Inside inside;
    scipy_cblas_sgemm(CblasRowMajor, tr(ta), tr(tb), blasint(m), blasint(n), blasint(k), alpha,
                      A, blasint(lda), B, blasint(ldb), beta, C, blasint(ldc));
}

void gemm(bool ta, bool tb, std::size_t m, std::size_t n, std::size_t k, double alpha,
          const double* A, std::size_t lda, const double* B, std::size_t ldb, double beta,
          double* C, std::size_t ldc) {
    Inside inside;
    scipy_cblas_dgemm(CblasRowMajor, tr(ta), tr(tb), blasint(m), blasint(n), blasint(k), alpha,
                      A, blasint(lda), B, blasint(ldb), beta, C, blasint(ldc));
}

void set_threads(int n) {
    // Ask rather than cache: threadpoolctl and others may change it behind our back, and
    // setting it (even to the same number) costs more than reading it.  Setting it may
    // start OpenBLAS's workers: counted as a call inside BLAS too.
    if (scipy_openblas_get_num_threads() != n) {
        Inside inside;
        scipy_openblas_set_num_threads(n);
    }
}

const char* config() { return scipy_openblas_get_config(); }
const char* kernels() { return scipy_openblas_get_corename(); }

}  // namespace msopt::blas
