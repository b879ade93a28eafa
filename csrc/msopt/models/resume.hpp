// A chunked training run between its calls: each thread's walker keeps its place in one row
// of int64 words, 4 counters (the walker's own: where it is, the work done for the rate's
// decay, its random stream, ...) then, per epoch, the loss summed so far (float64 bits) and
// the examples counted.  A row of zeros is the start of the run; a call trains
// until each walker has used `chunk` units of work, and the next call goes on from the row,
// so a run cut into chunks repeats one whole call bit for bit (one thread; several threads
// in deterministic mode round by round).  No Python here.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstring>
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
    void load(std::vector<double>& loss, std::vector<std::int64_t>& n) const {
        std::memcpy(loss.data(), row + kResumeCounters, 8 * epochs);
        std::memcpy(n.data(), row + kResumeCounters + epochs, 8 * epochs);
    }
    void store(const std::vector<double>& loss, const std::vector<std::int64_t>& n) const {
        std::memcpy(row + kResumeCounters, loss.data(), 8 * epochs);
        std::memcpy(row + kResumeCounters + epochs, n.data(), 8 * epochs);
    }
};

}  // namespace msopt
