#include "text.hpp"

#include <algorithm>
#include <numeric>
#include <stdexcept>
#include <functional>
#include <cstdint>
#include <cstring>

namespace msopt::text {

std::uint32_t fnv1a(std::string_view s) noexcept {
    std::uint32_t h = 2166136261u;
    for (char c : s) {
        h = h ^ std::uint32_t(std::int8_t(c));
        h = h * 16777619u;
    }
    return h;
}

namespace {
// The bytes p[0, n) for n < 8 as a little-endian integer, zero above them: two overlapping
// loads of 4 bytes, or three single bytes, instead of a loop of n steps.
inline std::uint64_t tail8(const char* p, std::size_t n) {
    if (n >= 4) {
        std::uint32_t lo, hi;
        std::memcpy(&lo, p, 4);
        std::memcpy(&hi, p + n - 4, 4);
        return lo | (std::uint64_t(hi) << (8 * (n - 4)));
    }
    if (n == 0) return 0;
    const auto byte = [p](std::size_t i) {
        return std::uint64_t(static_cast<unsigned char>(p[i])) << (8 * i);
    };
    return byte(0) | byte(n >> 1) | byte(n - 1);
}

// The slot table's hash of a word (8 bytes at a time, then the tail, each mixed in by a
// multiply and a shift), and its head: the first min(8, size) bytes as a little-endian
// integer, zero above them, which with the size is all of a short word and the start of a
// longer one.  Inline, since most words are a few bytes and a call would cost more than the
// hash.  Only the table's layout depends on the hash, never an id.  Padded: the 8 bytes
// from w's start may be read, and a short word's are read in one load, the bytes past its
// end masked off (the same head).
template <bool Padded = false>
inline std::uint64_t word_hash(std::string_view w, std::uint64_t& head) {
    const char* p = w.data();
    std::size_t n = w.size();
    std::uint64_t h = 0x9e3779b97f4a7c15ULL ^ n;
    if (n < 8) {
        if constexpr (Padded) {
            // the load's low bytes are the word's first bytes only on a little-endian machine
            static_assert(__BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__, "tail8's byte order");
            std::uint64_t x;
            std::memcpy(&x, p, 8);
            head = n ? x & (~std::uint64_t(0) >> (64 - 8 * n)) : 0;
        } else {
            head = tail8(p, n);
        }
        h = (h ^ head) * 0x94d049bb133111ebULL;
        return h ^ (h >> 29);
    }
    std::memcpy(&head, p, 8);
    for (; n >= 8; p += 8, n -= 8) {
        std::uint64_t x;
        std::memcpy(&x, p, 8);
        h = (h ^ x) * 0xbf58476d1ce4e5b9ULL;
        h ^= h >> 31;
    }
    h = (h ^ tail8(p, n)) * 0x94d049bb133111ebULL;
    return h ^ (h >> 29);
}

// line, copied into `copy` with Vocab::kPad bytes after it (a view of the copy's line).
std::string_view padded_copy(std::string_view line, std::string& copy) {
    copy.resize(line.size() + Vocab::kPad);
    if (!line.empty()) std::memcpy(copy.data(), line.data(), line.size());
    return {copy.data(), line.size()};
}

// A slot's size field: the size, saturated (a word of 4 GiB or more compares whole).
inline std::uint32_t size32(std::string_view w) {
    return std::uint32_t(std::min<std::size_t>(w.size(), UINT32_MAX));
}
}  // namespace

// (Inlined into its callers: id() is the hot one, once a token.)
[[gnu::always_inline]] inline std::size_t Vocab::probe(const std::vector<Slot>& slots,
                                                      const std::vector<std::string>& words,
                                                      std::string_view w, std::uint64_t h,
                                                      std::uint64_t head) {
    const std::size_t mask = slots.size() - 1;
    const std::uint32_t size = size32(w);
    for (std::size_t k = std::size_t(h) & mask;; k = (k + 1) & mask) {
        const Slot s = slots[k];
        if (!s.id1) return k;
        // a word of at most 8 bytes is equal once its size and head are; a longer one
        // compares the rest
        if (s.size == size && s.head == head) {
            if (w.size() <= 8) return k;
            const std::string& x = words[s.id1 - 1];
            if (x.size() == w.size() && std::memcmp(x.data() + 8, w.data() + 8, w.size() - 8) == 0)
                return k;
        }
    }
}

void Vocab::index(std::vector<Slot>& slots, const std::vector<std::string>& words) {
    if (words.size() >= std::size_t(UINT32_MAX))
        throw std::length_error("vocabulary: at most 2^32 - 2 words");
    std::size_t n = 16;
    while (n < 2 * words.size()) n *= 2;
    slots.assign(n, Slot{});
    for (std::size_t i = 0; i < words.size(); ++i) {
        std::uint64_t head;
        const std::uint64_t h = word_hash(words[i], head);
        Slot& s = slots[probe(slots, words, words[i], h, head)];
        if (!s.id1) s = Slot{std::uint32_t(i + 1), size32(words[i]), head};
    }
}

void Vocab::index_words() {
    index(slots_, words_);
    fnv_.resize(words_.size());
    for (std::size_t i = 0; i < words_.size(); ++i) fnv_[i] = fnv1a(words_[i]);
}

template <bool Padded>
[[gnu::always_inline]] inline std::int64_t Vocab::lookup(std::string_view w) const {
    if (slots_.empty()) return -1;
    std::uint64_t head;
    const std::uint64_t h = word_hash<Padded>(w, head);
    const Slot s = slots_[probe(slots_, words_, w, h, head)];
    return std::int64_t(s.id1) - 1;
}

std::int64_t Vocab::id(std::string_view w) const { return lookup<false>(w); }

void Vocab::count_line(std::string_view line) {
    if (seen_slots_.empty()) seen_slots_.assign(1024, Slot{});
    for_each_token(padded_copy(line, count_scratch_), [&](std::string_view tok) {
        std::uint64_t head;
        const std::uint64_t h = word_hash<true>(tok, head);
        Slot& s = seen_slots_[probe(seen_slots_, seen_, tok, h, head)];
        ++total_;
        if (s.id1) {
            ++seen_counts_[s.id1 - 1];
            return;
        }
        seen_.emplace_back(tok);
        seen_counts_.push_back(1);
        s = Slot{std::uint32_t(seen_.size()), size32(tok), head};
        if (2 * seen_.size() > seen_slots_.size()) index(seen_slots_, seen_);
    });
}

std::size_t Vocab::finalize(std::int64_t min_count, std::size_t max_vocab) {
    std::vector<std::size_t> keep;  // by count, then by first appearance
    keep.reserve(seen_.size());
    for (std::size_t i = 0; i < seen_.size(); ++i)
        if (seen_counts_[i] >= min_count) keep.push_back(i);
    std::stable_sort(keep.begin(), keep.end(), [this](std::size_t a, std::size_t b) {
        return seen_counts_[a] > seen_counts_[b];
    });
    if (max_vocab && keep.size() > max_vocab) keep.resize(max_vocab);
    words_.clear();
    counts_.clear();
    words_.reserve(keep.size());
    counts_.reserve(keep.size());
    for (const std::size_t i : keep) {
        words_.push_back(std::move(seen_[i]));
        counts_.push_back(seen_counts_[i]);
    }
    index_words();
    seen_ = {};
    seen_counts_ = {};
    seen_slots_ = {};
    count_scratch_ = {};
    finalized_ = true;
    return words_.size();
}

void Vocab::encode_line(std::string_view line, int ngrams, std::uint64_t buckets,
                        std::vector<std::int64_t>& ids) const {
    thread_local LineScratch scratch;
    encode_line(line, ngrams, buckets, ids, scratch);
}

void Vocab::encode_line(std::string_view line, int ngrams, std::uint64_t buckets,
                        std::vector<std::int64_t>& ids, LineScratch& scratch,
                        bool padded) const {
    if (padded) encode_tokens<true>(line, ngrams, buckets, ids, scratch);
    else if (line.size() < kCopyFrom) encode_tokens<false>(line, ngrams, buckets, ids, scratch);
    else encode_tokens<true>(padded_copy(line, scratch.line), ngrams, buckets, ids, scratch);
}

template <bool Padded>
void Vocab::encode_tokens(std::string_view line, int ngrams, std::uint64_t buckets,
                          std::vector<std::int64_t>& ids, LineScratch& scratch) const {
    // fastText keeps the word hashes as int32 and widens them to uint64 with sign
    // extension; doing the same gives its bucket ids.  A word of the vocabulary has its
    // hash at hand; only unknown tokens are hashed here.
    const bool grams = ngrams > 1 && buckets;
    std::vector<std::int32_t>& hashes = scratch.hashes;
    hashes.clear();
    for_each_token(line, [&](std::string_view tok) {
        const std::int64_t i = lookup<Padded>(tok);
        if (i >= 0) ids.push_back(i);
        if (grams)
            hashes.push_back(std::int32_t(i >= 0 ? fnv_[std::size_t(i)] : fnv1a(tok)));
    });
    if (!grams) return;
    const std::int64_t base = std::int64_t(words_.size());
    if (scratch.mod.divisor() != buckets) scratch.mod = Mod64(buckets);
    const Mod64 mod = scratch.mod;
    for (std::size_t i = 0; i < hashes.size(); ++i) {
        std::uint64_t h = std::uint64_t(std::int64_t(hashes[i]));
        for (std::size_t j = i + 1; j < hashes.size() && j < i + std::size_t(ngrams); ++j) {
            h = h * 116049371u + std::uint64_t(std::int64_t(hashes[j]));
            ids.push_back(base + std::int64_t(mod(h)));
        }
    }
}

void Vocab::assign(std::vector<std::string> words, std::vector<std::int64_t> counts,
                   std::int64_t total) {
    words_ = std::move(words);
    counts_ = std::move(counts);
    total_ = total;
    index_words();
    seen_ = {};
    seen_counts_ = {};
    seen_slots_ = {};
    count_scratch_ = {};
    finalized_ = true;
}

}  // namespace msopt::text
