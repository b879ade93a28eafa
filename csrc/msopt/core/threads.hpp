// A persistent pool of worker threads, shared by every kernel.  The calling thread takes
// part as thread 0, so a job over n threads wakes n - 1 workers.  Safe across fork(): the
// child drops the parent's pool and builds a new one on first use.
#pragma once

#include <cstddef>
#include <functional>

namespace msopt {

// Threads a parallel kernel may use (>= 1).  Initialized from MSOPT_NUM_THREADS, else
// from the CPUs this process may run on.
int num_threads() noexcept;
// 1 <= n <= kMaxThreads.  Takes effect at the next parallel call.
void set_num_threads(int n);
constexpr int kMaxThreads = 1024;

// Runs fn(tid) for tid = 0 .. nt-1, each on its own thread when the pool is free.  When
// another caller holds the pool, runs the same calls one after another on this thread:
// the partition of the work is the same either way, so the results are too.  Every tid runs
// even if another throws; the first exception from fn is thrown here once all have finished.
void parallel_for(int nt, const std::function<void(int)>& fn);

// Below this many elements of work a kernel stays on the calling thread: waking the pool
// costs about as much as streaming this many parameters.
constexpr std::size_t kParallelMinWork = std::size_t(1) << 16;

// Threads worth using for `work` elements.
int threads_for(std::size_t work) noexcept;

// Thread t's share [first, second) of n items split evenly over nt threads.
struct Share {
    std::size_t first, second;
};
inline Share share(std::size_t n, int t, int nt) noexcept {
    return {n * std::size_t(t) / std::size_t(nt), n * std::size_t(t + 1) / std::size_t(nt)};
}

}  // namespace msopt
