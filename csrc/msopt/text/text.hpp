// The string-heavy part of the text pipeline: whitespace tokenizing of UTF-8 text, word
// counting, the vocabulary (ids by descending count), and encoding lines to ids with
// hashed word n-grams (fastText's scheme: FNV-1a word hashes, n-gram hash
// h = h * 116049371 + next, taken modulo the bucket count, after the word ids).
// No Python here.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <string>
#include <string_view>
#include <vector>

#if defined(__SSE2__)
#include <emmintrin.h>
#endif

namespace msopt::text {

// fastText's 32-bit FNV-1a over the bytes of a token (each byte sign-extended, as fastText
// does with `char`).
std::uint32_t fnv1a(std::string_view s) noexcept;

// n % d for a fixed d >= 1, by a multiply and shifts instead of a divide (Granlund and
// Montgomery, "Division by invariant integers using multiplication", 1994, figure 4.1:
// exact for every 64-bit n).  A line's n-gram ids take one remainder each, and a hardware
// divide costs more than the rest of an id.
class Mod64 {
  public:
    explicit Mod64(std::uint64_t d = 1) : d_(d) {
        if (d <= 1) return;
        int l = 0;  // ceil(log2(d))
        while (l < 64 && (std::uint64_t(1) << l) < d) ++l;
        // m = floor(2**64 * (2**l - d) / d) + 1, which fits in 64 bits
        const unsigned __int128 two_l = l == 64 ? (unsigned __int128)1 << 64
                                                : (unsigned __int128)(std::uint64_t(1) << l);
        m_ = std::uint64_t((((unsigned __int128)1 << 64) * (two_l - d)) / d) + 1;
        s_ = l - 1;
    }
    std::uint64_t divisor() const { return d_; }
    std::uint64_t operator()(std::uint64_t n) const {
        if (d_ <= 1) return 0;
        const std::uint64_t t = std::uint64_t(((unsigned __int128)m_ * n) >> 64);
        const std::uint64_t q = (t + ((n - t) >> 1)) >> s_;
        return n - q * d_;
    }

  private:
    std::uint64_t d_, m_ = 0;
    int s_ = 0;
};

#if defined(__SSE2__)
// Each byte of x - lo below n (as unsigned bytes): x in [lo, lo + n), all ones or zero.
inline __m128i bytes_in(__m128i x, char lo, char n) {
    const __m128i t = _mm_sub_epi8(x, _mm_set1_epi8(lo));
    return _mm_cmpeq_epi8(_mm_min_epu8(t, _mm_set1_epi8(char(n - 1))), t);
}
#endif

// A bit per byte of p[0, 64), set where the byte is whitespace (ASCII space, \t \n \v \f
// \r).
inline std::uint64_t space_bits(const char* p) {
#if defined(__SSE2__)
    std::uint64_t m = 0;
    for (int k = 0; k < 4; ++k) {
        const __m128i x = _mm_loadu_si128(reinterpret_cast<const __m128i*>(p + 16 * k));
        const __m128i ws = _mm_or_si128(_mm_cmpeq_epi8(x, _mm_set1_epi8(' ')),
                                        bytes_in(x, '\t', 5));  // \t \n \v \f \r
        m |= std::uint64_t(std::uint32_t(_mm_movemask_epi8(ws))) << (16 * k);
    }
    return m;
#else
    std::uint64_t m = 0;
    for (int i = 0; i < 64; ++i) {
        const auto c = static_cast<unsigned char>(p[i]);
        m |= std::uint64_t(c == ' ' || unsigned(c - 9) < 5U) << i;
    }
    return m;
#endif
}

// ASCII bytes in[0, n) to out: letters and digits kept (letters lower-cased when `lower`),
// every other byte a space, 16 bytes at a time.  What [^\W_]+ matches in ASCII text
// becomes the whitespace-separated tokens of out.
inline void map_word_bytes(const char* in, std::size_t n, char* out, bool lower) {
#if defined(__SSE2__)
    const __m128i to_lower = _mm_set1_epi8(lower ? 32 : 0), space = _mm_set1_epi8(' ');
    const auto map16 = [&](const char* a, char* b) {
        const __m128i c = _mm_loadu_si128(reinterpret_cast<const __m128i*>(a));
        const __m128i digit = bytes_in(c, '0', 10);
        const __m128i upper = bytes_in(c, 'A', 26);
        const __m128i small = bytes_in(c, 'a', 26);
        const __m128i keep = _mm_or_si128(_mm_or_si128(digit, upper), small);
        const __m128i v = _mm_add_epi8(c, _mm_and_si128(upper, to_lower));
        _mm_storeu_si128(reinterpret_cast<__m128i*>(b),
                         _mm_or_si128(_mm_and_si128(keep, v), _mm_andnot_si128(keep, space)));
    };
    std::size_t i = 0;
    for (; i + 16 <= n; i += 16) map16(in + i, out + i);
    if (i < n) {  // the tail through a buffer (never read or written past the text)
        char a[16] = {}, b[16];
        std::memcpy(a, in + i, n - i);
        map16(a, b);
        std::memcpy(out + i, b, n - i);
    }
#else
    for (std::size_t i = 0; i < n; ++i) {
        const auto c = static_cast<unsigned char>(in[i]);
        const bool digit = unsigned(c - '0') < 10U, upper = unsigned(c - 'A') < 26U;
        const bool small = unsigned(c - 'a') < 26U;
        out[i] = digit || small ? char(c) : upper ? char(lower ? c + 32 : c) : ' ';
    }
#endif
}

// Calls f(token) for each run of non-whitespace bytes (ASCII space, \t \n \v \f \r).
// The line is read 64 bytes at a time into a bit mask, and the tokens are the runs between
// its changes: a branch per token edge that is taken in turn, not one per byte whose outcome
// changes at every token's end.
template <class F>
void for_each_token(std::string_view line, F&& f) {
    const char* p = line.data();
    const std::size_t n = line.size();
    std::size_t start = 0;
    bool in_token = false;
    for (std::size_t b = 0; b < n; b += 64) {
        std::uint64_t ws;
        if (n - b >= 64) {
            ws = space_bits(p + b);
        } else {  // the tail, padded with spaces (never read past the line)
            char tail[64];
            std::memset(tail, ' ', 64);
            std::memcpy(tail, p + b, n - b);
            ws = space_bits(tail);
        }
        // bit i: byte b + i is of another kind than the byte before it
        std::uint64_t edges = ws ^ ((ws << 1) | std::uint64_t(!in_token));
        while (edges) {
            const std::size_t i = b + std::size_t(__builtin_ctzll(edges));
            edges &= edges - 1;
            if (in_token) f(line.substr(start, i - start));
            else start = i;
            in_token = !in_token;
        }
    }
    if (in_token) f(line.substr(start, n - start));
}

// What encode_line keeps between the lines of a loop: the token hashes' buffer, the
// remainder by the bucket count and the padded copy of a line.
struct LineScratch {
    std::vector<std::int32_t> hashes;
    Mod64 mod;
    std::string line;  // a copy of a line that is not padded
};

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
    // The same, with the caller's scratch for the token hashes (a loop over many lines).
    // Words are looked up in a padded line, which may be read kPad bytes past its end, so
    // that a word of under 8 bytes is read in one load, not in pieces chosen by its size
    // (branches that mispredict on English words: 18% of the loop).  `padded`: the caller's
    // buffer holds those bytes; otherwise a line of kCopyFrom bytes or more is copied into
    // scratch first, and a shorter one (a word or two, where the copy costs more than it
    // saves) is read where it lies, in pieces.
    void encode_line(std::string_view line, int ngrams, std::uint64_t buckets,
                     std::vector<std::int64_t>& ids, LineScratch& scratch,
                     bool padded = false) const;
    static constexpr std::size_t kPad = 8, kCopyFrom = 16;

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
    // A word's index by word: open addressing over a power-of-two table at most half full,
    // each slot the index + 1 (0: empty), the word's size and its first 8 bytes, so a lookup
    // of a word of up to 8 bytes reads one slot and nothing else, and most misses and
    // collisions are told apart without reading a word.  One table maps the vocabulary's
    // words to their ids; another, while counting, the words seen to their counts.
    struct Slot {
        std::uint32_t id1 = 0, size = 0;
        std::uint64_t head = 0;
    };
    // The slot of w (hash h, head `head`) in slots: the one holding w, or the empty one
    // where w would go.  words: the words by index.
    static std::size_t probe(const std::vector<Slot>& slots,
                             const std::vector<std::string>& words, std::string_view w,
                             std::uint64_t h, std::uint64_t head);
    // Fills slots (twice the words' count, at least 16) for words[0, n), the first of
    // repeated words kept.
    static void index(std::vector<Slot>& slots, const std::vector<std::string>& words);
    template <bool Padded>
    std::int64_t lookup(std::string_view w) const;
    template <bool Padded>
    void encode_tokens(std::string_view line, int ngrams, std::uint64_t buckets,
                       std::vector<std::int64_t>& ids, LineScratch& scratch) const;
    // The words seen by count_line, in order of first appearance, their counts and table.
    std::vector<std::string> seen_;
    std::vector<std::int64_t> seen_counts_;
    std::vector<Slot> seen_slots_;
    std::string count_scratch_;  // count_line's padded copy of its line
    std::vector<Slot> slots_;
    std::vector<std::uint32_t> fnv_;  // fnv1a of each word, by id
    void index_words();
    std::vector<std::string> words_;
    std::vector<std::int64_t> counts_;
    std::int64_t total_ = 0;
    bool finalized_ = false;
};

}  // namespace msopt::text
