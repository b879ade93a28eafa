// The one sampler of the library: draws from any given discrete distribution in O(1)
// (Walker's alias method, built by Vose's algorithm).  word2vec's negatives (unigram^0.75),
// the text classifier's ns negatives (class weights, the true class redrawn) and sampled
// softmax draw from it.  In an unnamed namespace: every unit that includes it keeps its
// own copy (it may be compiled under an ISA's flags).  NumPy twin: reference._alias_table.
#pragma once

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <vector>

namespace msopt::losses {
namespace {

class AliasTable {
  public:
    AliasTable() = default;
    // weights >= 0 with a positive, finite sum.
    explicit AliasTable(const std::vector<double>& weights) : AliasTable(weights.data(), weights.size()) {}
    AliasTable(const double* weights, std::size_t n) {
        double sum = 0.0;
        for (std::size_t i = 0; i < n; ++i) sum += weights[i];
        w_.assign(weights, weights + n);
        total_ = sum;
        std::vector<double> scaled(n);
        std::vector<std::uint32_t> small, large;
        for (std::size_t i = 0; i < n; ++i) {
            scaled[i] = weights[i] * double(n) / sum;
            (scaled[i] < 1.0 ? small : large).push_back(std::uint32_t(i));
        }
        cut_.assign(n, ~std::uint32_t(0));  // keep the column: always
        alias_.resize(n);
        for (std::size_t i = 0; i < n; ++i) alias_[i] = std::uint32_t(i);
        while (!small.empty() && !large.empty()) {
            const std::uint32_t s = small.back(), l = large.back();
            small.pop_back();
            cut_[s] = std::uint32_t(std::min(scaled[s] * 4294967296.0, 4294967295.0));
            alias_[s] = l;
            scaled[l] -= 1.0 - scaled[s];
            if (scaled[l] < 1.0) {
                large.pop_back();
                small.push_back(l);
            }
        }
    }
    std::size_t size() const { return cut_.size(); }
    // One draw from a 64-bit random number: the high half picks a column, the low half
    // chooses between the column and its alias.  Branch-free: the coin is unpredictable.
    std::size_t draw(std::uint64_t r) const {
        const std::size_t col = std::size_t(((r >> 32) * std::uint64_t(cut_.size())) >> 32);
        const std::size_t alt = alias_[col];
        const std::size_t keep = std::size_t(std::uint32_t(r) < cut_[col]);
        return keep * col + (1 - keep) * alt;
    }
    // A draw other than `excluded`, from the distribution conditioned on not drawing it:
    // redrawn until it differs, and after kMaxRedraws tries (a class holding most of the
    // weight) one exact draw from the other classes' weights by a linear scan.  size()
    // when no other class has weight.  `next` gives the 64-bit random numbers.
    static constexpr int kMaxRedraws = 64;
    template <class Next>
    std::size_t draw_except(std::size_t excluded, Next&& next) const {
        const double rest = total_ - w_[excluded];
        if (!(rest > 0.0)) return size();
        for (int i = 0; i < kMaxRedraws; ++i) {
            const std::size_t k = draw(next());
            if (k != excluded) return k;
        }
        double r = double(next() >> 11) * 0x1.0p-53 * rest;
        std::size_t last = size();
        for (std::size_t k = 0; k < size(); ++k) {
            if (k == excluded || !(w_[k] > 0.0)) continue;
            if (r < w_[k]) return k;
            r -= w_[k];
            last = k;
        }
        return last;  // r rounded past the end: the last class with weight
    }

  private:
    std::vector<std::uint32_t> cut_, alias_;
    std::vector<double> w_;
    double total_ = 0.0;
};

}  // namespace
}  // namespace msopt::losses
