// The string-heavy part of the text pipeline: whitespace tokenizing of UTF-8 text, word
// counting, the vocabulary (ids by descending count), and encoding lines to ids with
// hashed word n-grams (fastText's scheme: FNV-1a word hashes, n-gram hash
// h = h * 116049371 + next, taken modulo the bucket count, after the word ids).
// No Python here.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

namespace msopt::text {

// fastText's 32-bit FNV-1a over the bytes of a token (each byte sign-extended, as fastText
// does with `char`).
std::uint32_t fnv1a(std::string_view s) noexcept;

// Calls f(token) for each run of non-whitespace bytes (ASCII space, \t \n \v \f \r).
template <class F>
void for_each_token(std::string_view line, F&& f) {
    std::size_t i = 0;
    const std::size_t n = line.size();
    auto space = [](char c) {
        return c == ' ' || c == '\t' || c == '\n' || c == '\v' || c == '\f' || c == '\r';
    };
    while (i < n) {
        while (i < n && space(line[i])) ++i;
        const std::size_t start = i;
        while (i < n && !space(line[i])) ++i;
        if (i > start) f(line.substr(start, i - start));
    }
}

class Vocab {
  public:
    // Adds the tokens of one line to the counts (before finalize).
    void count_line(std::string_view line);
    // Keeps words seen at least min_count times, the max_vocab most frequent (0: all),
    // ordered by count, then by first appearance.  Returns the vocabulary size.
    std::size_t finalize(std::int64_t min_count, std::size_t max_vocab);
    // Word ids of a line (unknown words dropped), then, for n = 2..ngrams, one id per n
    // consecutive tokens (unknown words included, as fastText does), in
    // [size(), size() + buckets).  Appends to ids.
    void encode_line(std::string_view line, int ngrams, std::uint64_t buckets,
                     std::vector<std::int64_t>& ids) const;

    std::size_t size() const { return words_.size(); }
    std::int64_t id(std::string_view w) const;
    const std::vector<std::string>& words() const { return words_; }
    const std::vector<std::int64_t>& counts() const { return counts_; }
    std::int64_t total_tokens() const { return total_; }
    // Replaces the vocabulary (from a saved file): words in id order with their counts.
    void assign(std::vector<std::string> words, std::vector<std::int64_t> counts,
                std::int64_t total);
    bool finalized() const { return finalized_; }

  private:
    struct Entry {
        std::int64_t count = 0;
        std::size_t first = 0;
    };
    std::unordered_map<std::string, Entry> seen_;
    // The ids by word: open addressing over a power-of-two table at most half full, each
    // slot the id + 1 (0: empty) and the top half of the word's hash (most misses and
    // collisions are told apart without reading the word).
    struct Slot {
        std::uint32_t id1 = 0, tag = 0;
    };
    std::vector<Slot> slots_;
    void index_words();
    std::vector<std::string> words_;
    std::vector<std::int64_t> counts_;
    std::int64_t total_ = 0;
    bool finalized_ = false;
};

}  // namespace msopt::text
