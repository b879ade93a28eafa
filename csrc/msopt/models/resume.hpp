// A chunked training run between its calls: each thread's walker keeps its place in one row
// of int64 words, 4 counters (the walker's own: where it is, the work done for the rate's
// decay, its random stream, ...) then, per epoch, the loss summed so far (float64 bits) and
// the examples counted.  A row of zeros is the start of the run; a call trains
// until each walker has used `chunk` units of work, and the next call goes on from the row,
// so a run cut into chunks repeats one whole call bit for bit (one thread; several threads
// in deterministic mode round by round).  No Python here.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <limits>
#include <vector>

namespace msopt {

constexpr std::size_t kResumeCounters = 4;

inline std::size_t resume_width(std::size_t epochs) { return kResumeCounters + 2 * epochs; }

struct ResumeRow {
    std::int64_t* row = nullptr;  // null: a whole run in one call
    std::size_t epochs = 0;

    explicit operator bool() const { return row != nullptr; }
    std::uint64_t get(std::size_t i) const { return std::uint64_t(row[i]); }
    void set(std::size_t i, std::uint64_t v) const { row[i] = std::int64_t(v); }
    // (With no epoch the vectors may hold no storage: memcpy is not given their null.)
    void load(std::vector<double>& loss, std::vector<std::int64_t>& n) const {
        if (epochs == 0) return;
        std::memcpy(loss.data(), row + kResumeCounters, 8 * epochs);
        std::memcpy(n.data(), row + kResumeCounters + epochs, 8 * epochs);
    }
    void store(const std::vector<double>& loss, const std::vector<std::int64_t>& n) const {
        if (epochs == 0) return;
        std::memcpy(row + kResumeCounters, loss.data(), 8 * epochs);
        std::memcpy(row + kResumeCounters + epochs, n.data(), 8 * epochs);
    }
};

// Where a call's chunk ends.  One thread or deterministic rounds: each walker does `chunk`
// units, so the chunks fall at the same places whatever the timing.  Lock-free threads: the
// call ends once all of them together have done threads x chunk units, so that no thread
// waits at the call's end for a slower one (a fixed share each cost two threads 2-4%).
class ChunkBudget {
  public:
    ChunkBudget(std::size_t chunk, int threads, bool deterministic)
        : per_walker_(chunk),
          total_(chunk > std::numeric_limits<std::size_t>::max() / std::size_t(threads)
                     ? std::numeric_limits<std::size_t>::max()
                     : chunk * std::size_t(threads)),
          pooled_(threads > 1 && !deterministic) {}
    // A walker's units so far in this call.
    bool left(std::size_t used) const {
        return pooled_ ? done_.load(std::memory_order_relaxed) < total_ : used < per_walker_;
    }
    void add(std::size_t& used, std::size_t n) {
        used += n;
        if (pooled_) done_.fetch_add(n, std::memory_order_relaxed);
    }

  private:
    std::size_t per_walker_, total_;
    bool pooled_;
    std::atomic<std::size_t> done_{0};
};

}  // namespace msopt
