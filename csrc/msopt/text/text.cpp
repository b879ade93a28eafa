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

void Vocab::count_line(std::string_view line) {
    for_each_token(line, [&](std::string_view tok) {
        auto it = seen_.find(std::string(tok));
        if (it == seen_.end()) it = seen_.emplace(std::string(tok), Entry{0, seen_.size()}).first;
        ++it->second.count;
        ++total_;
    });
}

std::size_t Vocab::finalize(std::int64_t min_count, std::size_t max_vocab) {
    std::vector<const std::pair<const std::string, Entry>*> keep;
    keep.reserve(seen_.size());
    for (const auto& kv : seen_)
        if (kv.second.count >= min_count) keep.push_back(&kv);
    std::sort(keep.begin(), keep.end(), [](const auto* a, const auto* b) {
        if (a->second.count != b->second.count) return a->second.count > b->second.count;
        return a->second.first < b->second.first;
    });
    if (max_vocab && keep.size() > max_vocab) keep.resize(max_vocab);
    words_.clear();
    counts_.clear();
    for (const auto* kv : keep) {
        words_.push_back(kv->first);
        counts_.push_back(kv->second.count);
    }
    index_words();
    seen_.clear();
    finalized_ = true;
    return words_.size();
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
// hash.  Only the table's layout depends on the hash, never an id.
inline std::uint64_t word_hash(std::string_view w, std::uint64_t& head) {
    const char* p = w.data();
    std::size_t n = w.size();
    std::uint64_t h = 0x9e3779b97f4a7c15ULL ^ n;
    if (n < 8) {
        head = tail8(p, n);
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
}  // namespace

void Vocab::index_words() {
    if (words_.size() >= std::size_t(UINT32_MAX))
        throw std::length_error("vocabulary: at most 2^32 - 2 words");
    std::size_t n = 16;
    while (n < 2 * words_.size()) n *= 2;
    slots_.assign(n, Slot{});
    fnv_.resize(words_.size());
    const std::size_t mask = n - 1;
    for (std::size_t i = 0; i < words_.size(); ++i) {
        const std::string& w = words_[i];
        fnv_[i] = fnv1a(w);
        std::uint64_t head;
        const std::uint64_t h = word_hash(w, head);
        const Slot mine{std::uint32_t(i + 1),
                        std::uint32_t(std::min<std::size_t>(w.size(), UINT32_MAX)), head};
        for (std::size_t k = std::size_t(h) & mask;; k = (k + 1) & mask) {
            const Slot s = slots_[k];
            if (!s.id1) {
                slots_[k] = mine;
                break;
            }
            if (s.size == mine.size && s.head == mine.head && words_[s.id1 - 1] == w)
                break;  // a repeat: the first id
        }
    }
}

std::int64_t Vocab::id(std::string_view w) const {
    if (slots_.empty() || w.size() >= UINT32_MAX) return -1;  // (no word is 4 GiB long)
    const std::size_t mask = slots_.size() - 1;
    std::uint64_t head;
    const std::uint64_t h = word_hash(w, head);
    const auto size = std::uint32_t(w.size());
    for (std::size_t k = std::size_t(h) & mask;; k = (k + 1) & mask) {
        const Slot s = slots_[k];
        if (!s.id1) return -1;
        // a word of at most 8 bytes is equal once its size and head are; a longer one
        // compares the rest
        if (s.size == size && s.head == head &&
            (size <= 8 ||
             std::memcmp(words_[s.id1 - 1].data() + 8, w.data() + 8, size - 8) == 0))
            return s.id1 - 1;
    }
}

void Vocab::encode_line(std::string_view line, int ngrams, std::uint64_t buckets,
                        std::vector<std::int64_t>& ids) const {
    thread_local LineScratch scratch;
    encode_line(line, ngrams, buckets, ids, scratch);
}

void Vocab::encode_line(std::string_view line, int ngrams, std::uint64_t buckets,
                        std::vector<std::int64_t>& ids, LineScratch& scratch) const {
    // fastText keeps the word hashes as int32 and widens them to uint64 with sign
    // extension; doing the same gives its bucket ids.  A word of the vocabulary has its
    // hash at hand; only unknown tokens are hashed here.
    const bool grams = ngrams > 1 && buckets;
    std::vector<std::int32_t>& hashes = scratch.hashes;
    hashes.clear();
    for_each_token(line, [&](std::string_view tok) {
        const std::int64_t i = id(tok);
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
    seen_.clear();
    finalized_ = true;
}

}  // namespace msopt::text
