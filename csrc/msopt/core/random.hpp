// The one random stream of the native loops: splitmix64, small and fast, seeded per
// (seed, thread, epoch) so a fixed seed repeats.  No Python here.
#pragma once

#include <cstdint>

namespace msopt {

struct SplitMix64 {
    std::uint64_t s;
    std::uint64_t next() {
        std::uint64_t z = (s += 0x9E3779B97F4A7C15ull);
        z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
        z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
        return z ^ (z >> 31);
    }
    // Uniform in [0, 1) from the top 53 bits.
    double uniform() { return double(next() >> 11) * 0x1.0p-53; }
};

// The stream of thread t in epoch e of a run seeded with `seed` (word2vec and the text
// classifier).
inline std::uint64_t stream_seed(std::uint64_t seed, int t, std::uint64_t e_term) {
    return seed * 0x100000001B3ull + std::uint64_t(t) * 7919u + e_term;
}

}  // namespace msopt
