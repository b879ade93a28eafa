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
// The slot table's hash of a word: 8 bytes at a time, then the tail, each mixed in by a
// multiply and a shift; inline, since most words are a few bytes and a call would cost more
// than the hash.  Only the table's layout depends on it, never an id.
inline std::uint64_t word_hash(std::string_view w) {
    const char* p = w.data();
    std::size_t n = w.size();
    std::uint64_t h = 0x9e3779b97f4a7c15ULL ^ n;
    for (; n >= 8; p += 8, n -= 8) {
        std::uint64_t x;
        std::memcpy(&x, p, 8);
        h = (h ^ x) * 0xbf58476d1ce4e5b9ULL;
        h ^= h >> 31;
    }
    std::uint64_t x = 0;
    for (std::size_t i = 0; i < n; ++i)
        x |= std::uint64_t(static_cast<unsigned char>(p[i])) << (8 * i);
    h = (h ^ x) * 0x94d049bb133111ebULL;
    return h ^ (h >> 29);
}

// a == b for a word of the vocabulary and a token: short strings compared in line (a
// library call costs more than the bytes)
inline bool same(std::string_view a, std::string_view b) {
    if (a.size() != b.size()) return false;
    if (a.size() > 16) return std::memcmp(a.data(), b.data(), a.size()) == 0;
    unsigned char diff = 0;
    for (std::size_t i = 0; i < a.size(); ++i) diff |= static_cast<unsigned char>(a[i] ^ b[i]);
    return diff == 0;
}
}  // namespace

void Vocab::index_words() {
    if (words_.size() >= std::size_t(UINT32_MAX))
        throw std::length_error("vocabulary: at most 2^32 - 2 words");
    std::size_t n = 16;
    while (n < 2 * words_.size()) n *= 2;
    slots_.assign(n, Slot{});
    const std::size_t mask = n - 1;
    for (std::size_t i = 0; i < words_.size(); ++i) {
        const std::uint64_t h = word_hash(words_[i]);
        const auto tag = std::uint32_t(h >> 32);
        for (std::size_t k = std::size_t(h) & mask;; k = (k + 1) & mask) {
            const Slot s = slots_[k];
            if (!s.id1) {
                slots_[k] = Slot{std::uint32_t(i + 1), tag};
                break;
            }
            if (s.tag == tag && words_[s.id1 - 1] == words_[i]) break;  // a repeat: the first id
        }
    }
}

std::int64_t Vocab::id(std::string_view w) const {
    if (slots_.empty()) return -1;
    const std::uint64_t h = word_hash(w);
    const auto tag = std::uint32_t(h >> 32);
    const std::size_t mask = slots_.size() - 1;
    for (std::size_t k = std::size_t(h) & mask;; k = (k + 1) & mask) {
        const Slot s = slots_[k];
        if (!s.id1) return -1;
        if (s.tag == tag && same(words_[s.id1 - 1], w)) return s.id1 - 1;
    }
}

void Vocab::encode_line(std::string_view line, int ngrams, std::uint64_t buckets,
                        std::vector<std::int64_t>& ids) const {
    // fastText keeps the word hashes as int32 and widens them to uint64 with sign
    // extension; doing the same gives its bucket ids.
    thread_local std::vector<std::int32_t> hashes;
    hashes.clear();
    for_each_token(line, [&](std::string_view tok) {
        const std::int64_t i = id(tok);
        if (i >= 0) ids.push_back(i);
        if (ngrams > 1 && buckets) hashes.push_back(std::int32_t(fnv1a(tok)));
    });
    if (ngrams <= 1 || !buckets) return;
    const std::int64_t base = std::int64_t(words_.size());
    for (std::size_t i = 0; i < hashes.size(); ++i) {
        std::uint64_t h = std::uint64_t(std::int64_t(hashes[i]));
        for (std::size_t j = i + 1; j < hashes.size() && j < i + std::size_t(ngrams); ++j) {
            h = h * 116049371u + std::uint64_t(std::int64_t(hashes[j]));
            ids.push_back(base + std::int64_t(h % buckets));
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
