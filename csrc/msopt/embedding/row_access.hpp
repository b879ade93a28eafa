// Row access for the Hogwild loops (word2vec, the text classifier): threads either write
// the shared tables directly (lock-free), or, in deterministic mode, work in rounds on
// private copies of the rows they touch, whose changes are then added to the tables in
// thread order.  The loops are written once, against either kind of row access.
#pragma once

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <limits>
#include <memory>
#include <vector>

#include "../core/threads.hpp"

namespace msopt {

// Rows read and written in the shared table itself.
struct SharedRows {
    float* table;
    std::size_t dim;
    float* operator()(std::size_t r) { return table + r * dim; }
};

// Lock-free rows with the hottest ones kept apart: rows [0, hot) (the most frequent words:
// the tables are ordered by count) live in a private copy; sync() adds the copy's changes
// since the last sync to the table and starts again from the table's current values.  Two
// threads then no longer fight over the cache lines of the rows every example writes,
// which on two cores made two lock-free threads slower than one.  The other rows are
// written in place.
class HotRows {
  public:
    HotRows(float* table, std::size_t hot, std::size_t dim)
        : table_(table), hot_(hot), dim_(dim), copy_(table, table + hot * dim),
          orig_(copy_) {}
    float* operator()(std::size_t r) {
        return r < hot_ ? copy_.data() + r * dim_ : table_ + r * dim_;
    }
    void sync() {
        for (std::size_t i = 0; i < hot_ * dim_; ++i) {
            const float t = table_[i] + (copy_[i] - orig_[i]);
            table_[i] = t;
            copy_[i] = orig_[i] = t;
        }
    }

  private:
    float* table_;
    std::size_t hot_, dim_;
    std::vector<float> copy_, orig_;
};

// Private copies of the rows one thread touches during a round, with the values they
// started from.  Rows live in fixed pages, so a pointer stays valid all round.
class PrivateRows {
  public:
    PrivateRows(float* table, std::size_t rows, std::size_t dim)
        : table_(table), dim_(dim), slot_(rows, -1) {}

    float* operator()(std::size_t r) {
        std::int32_t s = slot_[r];
        if (s < 0) {
            s = std::int32_t(touched_.size());
            if (std::size_t(s) == pages_.size() * kPageRows)
                pages_.emplace_back(new float[2 * kPageRows * dim_]);
            slot_[r] = s;
            touched_.push_back(std::int32_t(r));
            std::copy_n(table_ + r * dim_, dim_, copy(s));
            std::copy_n(table_ + r * dim_, dim_, orig(s));
        }
        return copy(s);
    }
    // Adds each touched row's change to the table, for the rows r % parts == part.
    void commit(int part, int parts) const {
        for (std::size_t s = 0; s < touched_.size(); ++s) {
            const std::size_t r = std::size_t(touched_[s]);
            if (int(r % std::size_t(parts)) != part) continue;
            float* __restrict t = table_ + r * dim_;
            const float* c = copy(std::int32_t(s));
            const float* o = orig(std::int32_t(s));
            for (std::size_t i = 0; i < dim_; ++i) t[i] += c[i] - o[i];
        }
    }
    void clear() {
        for (auto r : touched_) slot_[std::size_t(r)] = -1;
        touched_.clear();
    }

  private:
    static constexpr std::size_t kPageRows = 256;
    float* copy(std::int32_t s) const {
        return pages_[std::size_t(s) / kPageRows].get() + (std::size_t(s) % kPageRows) * dim_;
    }
    float* orig(std::int32_t s) const { return copy(s) + kPageRows * dim_; }

    float* table_;
    std::size_t dim_;
    std::vector<std::int32_t> slot_, touched_;
    std::vector<std::unique_ptr<float[]>> pages_;
};

// Two tables (in: n_in x dim, out: n_out x dim) trained by one walker per thread, the first
// hot_in and hot_out rows of each kept apart by lock-free threads; a Walker has
// finished() and run(in_rows, out_rows, budget), which trains until `budget` units of
// work are done or its share ends.  One thread: the walker runs to its end on the tables.
// Lock-free: each walker runs to its end, its hot rows synced every so often (HotRows).
// Deterministic (and more than one thread): rounds of `budget` per walker on private rows,
// each round's changes added to the tables in thread order, so a fixed seed and thread
// count repeat bit for bit.  (tables < 2^31 rows.)
// Per thread, the private copies of the hot rows of both tables (with their starting
// values) take at most this many bytes (10,000 rows each at dim 100), synced every
// kHotSyncWork units of work (words), or every `budget` if larger.  Measured on two cores:
// cross-core cache traffic on shared rows was the limit, a few hundred hot rows were not
// enough when the two cores sit far apart, and fewer syncs cost less than they stale.
constexpr std::size_t kHotBytes = std::size_t(16) << 20;
constexpr std::size_t kHotSyncWork = std::size_t(1) << 15;

// The hot rows of a table for HotRows: the first rows, up to half of kHotBytes' worth of
// copies (with their starting values), at most `cap`.
inline std::size_t hot_rows(std::size_t rows, std::size_t dim, std::size_t cap) {
    return std::min({rows, cap, std::max<std::size_t>(16, kHotBytes / (4 * 4 * dim))});
}

// Frozen tables (frozen_in, frozen_out: the prediction-time walks, e.g. Doc2Vec inference,
// or training one table against a fixed other) are read and never written: the walker's
// kernels are told not to write them, and here they get no hot copies (read in place) and
// no merges, so a frozen table keeps its bits in every mode.
template <class Walker>
void run_walkers(std::vector<Walker>& walkers, bool deterministic, std::size_t budget,
                 float* in, std::size_t n_in, float* out, std::size_t n_out, std::size_t dim,
                 std::size_t hot_in, std::size_t hot_out, bool frozen_in = false,
                 bool frozen_out = false) {
    if (frozen_in) hot_in = 0;
    if (frozen_out) hot_out = 0;
    const int nt = int(walkers.size());
    if (nt == 1) {
        SharedRows a{in, dim}, b{out, dim};
        walkers[0].run(a, b, std::numeric_limits<std::size_t>::max());
        return;
    }
    budget = std::max<std::size_t>(1, budget);
    if (!deterministic) {  // lock-free, the hottest rows synced every `budget`
        const std::size_t every = std::max(budget, kHotSyncWork);
        parallel_for(nt, [&](int t) {
            HotRows a(in, std::min(hot_in, n_in), dim), b(out, std::min(hot_out, n_out), dim);
            auto& w = walkers[std::size_t(t)];
            while (!w.finished()) {
                w.run(a, b, every);
                a.sync();
                b.sync();
            }
        });
        return;
    }
    std::vector<PrivateRows> ins, outs;
    for (int t = 0; t < nt; ++t) {
        ins.emplace_back(in, n_in, dim);
        outs.emplace_back(out, n_out, dim);
    }
    for (;;) {
        bool more = false;
        for (const auto& w : walkers) more = more || !w.finished();
        if (!more) return;
        parallel_for(nt, [&](int t) {
            const std::size_t i = std::size_t(t);
            ins[i].clear();
            outs[i].clear();
            walkers[i].run(ins[i], outs[i], budget);
        });
        parallel_for(nt, [&](int part) {  // each row's changes in thread order
            for (std::size_t t = 0; t < std::size_t(nt); ++t) {
                if (!frozen_in) ins[t].commit(part, nt);
                if (!frozen_out) outs[t].commit(part, nt);
            }
        });
    }
}

}  // namespace msopt
