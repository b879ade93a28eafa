#include "threads.hpp"

#include <pthread.h>
#include <sched.h>

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <cstdlib>
#include <exception>
#include <memory>
#include <mutex>
#include <thread>
#include <vector>

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#define MSOPT_PAUSE() _mm_pause()
#else
#define MSOPT_PAUSE() std::this_thread::yield()
#endif

namespace msopt {
namespace {

// Workers spin this many pauses for the next job before they sleep; back-to-back steps
// then skip the futex wake-up (~10 us), and an idle pool costs nothing.
constexpr int kSpinPauses = 1000;

class Pool {
  public:
    explicit Pool(int n) {
        try {
            for (int t = 1; t < n; ++t) workers_.emplace_back([this, t] { loop(t); });
        } catch (...) {  // out of threads: stop the ones started, then report
            shutdown();
            throw;
        }
    }
    ~Pool() { shutdown(); }
    int size() const { return int(workers_.size()) + 1; }
    bool try_acquire() { return busy_.try_lock(); }
    void release() { busy_.unlock(); }

    // Caller must hold the pool (try_acquire).
    void run(int nt, const std::function<void(int)>& fn) {
        job_ = &fn;
        job_nt_ = nt;
        pending_.store(int(workers_.size()), std::memory_order_relaxed);
        {
            std::lock_guard<std::mutex> lk(m_);
            gen_.fetch_add(1, std::memory_order_release);
        }
        cv_.notify_all();
        fn(0);
        int spins = 0;
        while (pending_.load(std::memory_order_acquire) != 0) {
            if (++spins < kSpinPauses) MSOPT_PAUSE();
            else std::this_thread::yield();
        }
    }

  private:
    void shutdown() {
        {
            std::lock_guard<std::mutex> lk(m_);
            stop_ = true;
            gen_.fetch_add(1, std::memory_order_release);
        }
        cv_.notify_all();
        for (auto& w : workers_) w.join();
        workers_.clear();
    }

    void loop(int tid) {
        std::uint64_t seen = 0;  // gen_ at construction: a job posted before this thread ran is still seen
        for (;;) {
            std::uint64_t g = gen_.load(std::memory_order_acquire);
            for (int s = 0; g == seen && s < kSpinPauses; ++s) {
                MSOPT_PAUSE();
                g = gen_.load(std::memory_order_acquire);
            }
            if (g == seen) {
                std::unique_lock<std::mutex> lk(m_);
                cv_.wait(lk, [&] { return gen_.load(std::memory_order_acquire) != seen; });
                g = gen_.load(std::memory_order_acquire);
            }
            if (stop_) return;
            seen = g;
            if (tid < job_nt_) (*job_)(tid);
            pending_.fetch_sub(1, std::memory_order_release);
        }
    }

    std::vector<std::thread> workers_;
    std::mutex m_;
    std::condition_variable cv_;
    std::atomic<std::uint64_t> gen_{0};
    std::atomic<int> pending_{0};
    const std::function<void(int)>* job_ = nullptr;
    int job_nt_ = 0;
    bool stop_ = false;
    std::mutex busy_;
};

int default_threads() {
    if (const char* env = std::getenv("MSOPT_NUM_THREADS")) {
        const int n = std::atoi(env);
        if (n >= 1) return n < kMaxThreads ? n : kMaxThreads;
    }
    cpu_set_t set;
    if (sched_getaffinity(0, sizeof(set), &set) == 0) {
        const int n = CPU_COUNT(&set);
        if (n >= 1) return n;
    }
    const unsigned hc = std::thread::hardware_concurrency();
    return hc ? int(hc) : 1;
}

// Never destroyed: joining workers during interpreter shutdown is not worth the risk.
std::mutex& pool_mutex() {
    static auto* m = new std::mutex;
    return *m;
}
std::shared_ptr<Pool>& pool_slot() {
    static auto* p = new std::shared_ptr<Pool>;
    return *p;
}
std::atomic<int> g_threads{0};

void atfork_prepare() { pool_mutex().lock(); }
void atfork_parent() { pool_mutex().unlock(); }
void atfork_child() {
    pool_mutex().unlock();
    // The parent's workers do not exist here; leak the pool rather than join them.
    new std::shared_ptr<Pool>(std::move(pool_slot()));
}

std::shared_ptr<Pool> get_pool(int want) {
    static const bool registered = [] {
        pthread_atfork(atfork_prepare, atfork_parent, atfork_child);
        return true;
    }();
    (void)registered;
    std::lock_guard<std::mutex> lk(pool_mutex());
    auto& slot = pool_slot();
    if (!slot || slot->size() != want) slot = std::make_shared<Pool>(want);
    return slot;
}

}  // namespace

int num_threads() noexcept {
    int n = g_threads.load(std::memory_order_relaxed);
    if (n == 0) {
        n = default_threads();
        g_threads.store(n, std::memory_order_relaxed);
    }
    return n;
}

void set_num_threads(int n) {
    g_threads.store(n < 1 ? 1 : (n > kMaxThreads ? kMaxThreads : n), std::memory_order_relaxed);
}

int threads_for(std::size_t work) noexcept {
    const int n = num_threads();
    if (n <= 1 || work < kParallelMinWork) return 1;
    const std::size_t by_work = work / (kParallelMinWork / 2);
    return by_work < std::size_t(n) ? int(by_work) : n;
}

void parallel_for(int nt, const std::function<void(int)>& fn) {
    // Every tid runs; an exception from any (out of memory) is kept, and the first one is
    // thrown here once all have finished: left to itself it would end the process on a
    // worker, and on this thread leave while the workers still ran a job whose frame is
    // gone.  (The state is reached through one pointer, which std::function holds without
    // allocating.)
    struct Guard {
        const std::function<void(int)>& fn;
        std::mutex mu;
        std::exception_ptr failed;
        void operator()(int t) {
            try {
                fn(t);
            } catch (...) {
                std::lock_guard<std::mutex> lk(mu);
                if (!failed) failed = std::current_exception();
            }
        }
    } guard{fn, {}, {}};
    bool ran = false;
    if (nt > 1) {
        std::shared_ptr<Pool> pool;
        try {
            pool = get_pool(num_threads());
        } catch (const std::exception&) {  // no threads to be had: run on this one
            pool.reset();
        }
        if (pool && nt <= pool->size() && pool->try_acquire()) {
            pool->run(nt, [g = &guard](int t) { (*g)(t); });
            pool->release();
            ran = true;
        }
    }
    if (!ran)
        for (int t = 0; t < nt; ++t) guard(t);
    if (guard.failed) std::rethrow_exception(guard.failed);
}

}  // namespace msopt
