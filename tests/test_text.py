"""msopt.text: counting, the vocabulary, n-gram hashing against fastText's rule, files."""

from __future__ import annotations

import re
from collections import Counter

import numpy as np
import pytest

from msopt import _core
from msopt.text import Vocabulary, iter_lines, read_labeled

CORPUS = ["the cat sat on the mat", "the dog sat", "  a\tcat  ran\n", "", "dog dog the end"]


def _fnv1a(tok: str) -> int:  # fastText's Dictionary::hash, in Python
    h = 2166136261
    for byte in tok.encode("utf-8"):
        h ^= (byte - 256 if byte > 127 else byte) & 0xFFFFFFFF
        h = (h * 16777619) & 0xFFFFFFFF
    return h


def _ref_encode(words: list[str], line: str, n: int, buckets: int) -> list[int]:
    index = {w: i for i, w in enumerate(words)}
    toks = [t for t in re.split("[ \t\n\v\f\r]+", line) if t]  # ASCII whitespace only
    out = [index[t] for t in toks if t in index]
    hashes = [_fnv1a(t) for t in toks]
    signed = [h - 2**32 if h >= 2**31 else h for h in hashes]  # int32, as fastText keeps them
    for i in range(len(toks)):
        h = signed[i] % 2**64
        for j in range(i + 1, min(len(toks), i + n)):
            h = (h * 116049371 + signed[j]) % 2**64
            out.append(len(words) + h % buckets)
    return out


def test_counts_and_order_match_a_counter():
    vocab = Vocabulary(min_count=2).fit(CORPUS)
    counts = Counter(t for line in CORPUS for t in line.split())
    first = {}
    for line in CORPUS:
        for t in line.split():
            first.setdefault(t, len(first))
    want = sorted((w for w, c in counts.items() if c >= 2), key=lambda w: (-counts[w], first[w]))
    assert vocab.words == want
    assert vocab.counts.tolist() == [counts[w] for w in want]
    assert vocab.total_tokens == sum(counts.values())
    assert vocab["the"] == 0
    assert "mat" not in vocab


def test_counts_of_many_words_match_a_counter():
    """The counter's own open-addressing table, grown from 1,024 slots through four
    doublings: about 6,000 distinct words of 1 to 30 bytes (ASCII and not, many sharing
    their first 8 bytes), Zipf-like repeats, against a Counter and the order of first
    appearance."""
    rng = np.random.default_rng(11)
    letters = np.array(list("abcdefghé日"))
    stems = ["".join(rng.choice(letters, rng.integers(1, 9))) for _ in range(3_000)]
    # the same 8-byte head with different tails, and words that are prefixes of others
    pool = stems + [s + "zzzzzzzz"[: int(k)] + t for s in stems[:2_000]
                    for k, t in ((8 - len(s.encode()), "q"), (9, "r"), (14, "s"))]
    pool = list(dict.fromkeys(w for w in pool if w))
    draws = (rng.zipf(1.3, 120_000) - 1) % len(pool)
    tokens = [pool[i] for i in draws]
    lines = [" ".join(tokens[i:i + 37]) for i in range(0, len(tokens), 37)]
    counts = Counter(tokens)
    first: dict[str, int] = {}
    for t in tokens:
        first.setdefault(t, len(first))
    for min_count in (1, 3):
        vocab = Vocabulary(min_count=min_count).fit(lines)
        want = sorted((w for w, c in counts.items() if c >= min_count),
                      key=lambda w: (-counts[w], first[w]))
        assert len(want) > 1_000
        assert vocab.words == want
        assert vocab.counts.tolist() == [counts[w] for w in want]
        assert vocab.total_tokens == len(tokens)


def test_max_vocab_and_lower():
    vocab = Vocabulary(min_count=1, max_vocab=2, lower=True).fit(["B b A", "a b"])
    assert vocab.words == ["b", "a"]


@pytest.mark.parametrize("word", ["cat", "über", "日本語", "a" * 100, "é"])
def test_hash_is_fasttexts(word):
    assert _core.fnv1a(word) == _fnv1a(word)


@pytest.mark.parametrize(("n", "buckets"), [(1, 0), (2, 1000), (3, 2_000_000), (2, 0)])
def test_encode_with_ngrams_matches_fasttexts_rule(n, buckets):
    vocab = Vocabulary(min_count=1).fit(CORPUS)
    lines = ["the cat sat on the mat", "unknown dog über", "", "x"]
    ids, offsets = vocab.encode(lines, ngrams=n, buckets=buckets)
    ends = list(offsets[1:]) + [len(ids)]
    for line, lo, hi in zip(lines, offsets, ends):
        want = _ref_encode(vocab.words, line, n if buckets else 1, buckets or 1)
        assert ids[lo:hi].tolist() == want


@pytest.mark.parametrize("buckets", [1, 2, 3, 7, 1024, 1_000_003, 2**31 - 1, 2**32, 2**32 + 1,
                                     2**40 - 1, 2**61 - 1])
def test_ngram_ids_for_bucket_counts_of_every_size(buckets):
    """The bucket of an n-gram is its 64-bit hash modulo the bucket count (computed by a
    multiply and shifts): long lines and n up to 5 spread the hashes over all 64 bits."""
    rng = np.random.default_rng(buckets % 1000)
    words = [f"w{i}" for i in range(50)]
    vocab = Vocabulary(min_count=1).fit([" ".join(words)])
    lines = [" ".join(rng.choice(words + ["unknown", "é"], int(k)))
             for k in rng.integers(0, 40, 60)]
    for n in (2, 5):
        ids, offsets = vocab.encode(lines, ngrams=n, buckets=buckets)
        ends = list(offsets[1:]) + [len(ids)]
        for line, lo, hi in zip(lines, offsets, ends):
            assert ids[lo:hi].tolist() == _ref_encode(vocab.words, line, n, buckets)


def test_tokens_across_the_64_byte_blocks_of_a_line():
    """Lines are split 64 bytes at a time: tokens of 1 to 150 bytes and runs of each kind of
    ASCII whitespace of 1 to 69 bytes, across block edges, at a line's start and end, and
    lines of 63, 64, 65 and 128 bytes, of whitespace only, or starting with it, give the
    tokens of a split on that whitespace (other bytes, control characters and non-ASCII
    ones included, belong to tokens).  Lines of long tokens return arrays copied to their
    size, lines of short ones the encoder's own buffers: both int64, writeable, in order."""
    rng = np.random.default_rng(7)
    inner = list("abcxyz019") + ["\x00", "\x08", "\x0e", "\x1c", "\x7f", "\xa0", "é", "日"]
    spaces = list(" \t\n\v\f\r")
    lines = []
    for _ in range(400):
        parts = []
        for _ in range(int(rng.integers(0, 8))):
            k = int(rng.choice([1, 2, 5, 8, 9, 63, 64, 65, 150]))
            parts.append("".join(rng.choice(inner, k)))
            parts.append("".join(rng.choice(spaces, int(rng.integers(1, 70)))))
        line = "".join(parts)
        lines.append(line if rng.random() < 0.5 else line.rstrip(" \t\n\v\f\r"))
    lines += ["a" * 63, "a" * 64, "a" * 65, "b" * 128, " " * 64 + "c", "d" + " " * 127,
              ("e" * 31 + " ") * 4, "", " \t" * 40, " " * 64, "\r" * 128, "\n f\v"]
    vocab = Vocabulary(min_count=1).fit(lines)
    for n, buckets in ((1, 0), (3, 5000)):
        ids, offsets = vocab.encode(lines, ngrams=n, buckets=buckets)
        for a in (ids, offsets):
            assert a.dtype == np.int64
            assert a.flags.writeable
            assert a.flags.c_contiguous
        ends = list(offsets[1:]) + [len(ids)]
        for line, lo, hi in zip(lines, offsets, ends):
            assert ids[lo:hi].tolist() == _ref_encode(vocab.words, line, n, buckets or 1)


def test_encode_returns_arrays_of_its_own():
    """Lines of short tokens: the encoder's buffers become the arrays (one worker); they are
    int64, writeable, independent of each other and of later calls."""
    vocab = Vocabulary(min_count=1).fit(["a b c d"])
    lines = ["a b c d"] * 5000
    ids, offsets = vocab._core.encode(lines, 2, 100, 1)
    again, _ = vocab._core.encode(lines, 2, 100, 1)
    want = _ref_encode(vocab.words, "a b c d", 2, 100)
    assert ids.dtype == offsets.dtype == np.int64
    assert ids.flags.writeable
    assert ids.tolist() == want * 5000
    assert offsets.tolist() == list(range(0, 35000, 7))
    ids[:] = -1
    assert again.tolist() == want * 5000


def test_streams_a_file_and_reports_bad_utf8(tmp_path):
    path = tmp_path / "corpus.txt"
    path.write_text("\n".join(CORPUS * 1000), encoding="utf-8")
    a = Vocabulary(min_count=1, chunk_lines=7).fit(path)
    b = Vocabulary(min_count=1).fit(CORPUS * 1000)
    assert a.words == b.words
    assert a.counts.tolist() == b.counts.tolist()
    bad = tmp_path / "bad.txt"
    bad.write_bytes(b"good line\nbad \xff byte\n")
    with pytest.raises(ValueError, match=r"bad.txt: line 2 is not UTF-8"):
        Vocabulary(min_count=1).fit(bad)
    v = Vocabulary(min_count=1).fit(bad, errors="replace")
    assert "\ufffd" in v


def test_empty_corpus_and_min_count_that_empties_it():
    with pytest.raises(ValueError, match="holds no tokens"):
        Vocabulary().fit(["", "   "])
    with pytest.raises(ValueError, match="min_count: no word occurs 50 times"):
        Vocabulary(min_count=50).fit(CORPUS)
    with pytest.raises(ValueError, match="call fit"):
        Vocabulary().encode(["a"])



@pytest.mark.parametrize(("key", "value", "error", "match"), [
    ("min_count", -3, ValueError, "^min_count: must be >= 1"),
    ("min_count", 1.5, TypeError, "^min_count: expected an int"),
    ("max_vocab", 0, ValueError, "^max_vocab: must be >= 1"),
    ("lower", "yes", TypeError, "^lower: expected a bool"),
    ("chunk_lines", 0, ValueError, "^chunk_lines: must be >= 1"),
])
def test_fit_checks_what_set_params_changed(key, value, error, match):
    vocab = Vocabulary(min_count=1).fit(["a b a"])
    words = vocab.words
    with pytest.raises(error, match=match):
        vocab.set_params(**{key: value}).fit(["c d c"])
    assert vocab.words == words  # the refused fit kept the vocabulary

def test_save_load_round_trip_and_bad_files(tmp_path):
    vocab = Vocabulary(min_count=1, lower=True).fit(CORPUS)
    path = tmp_path / "v.txt"
    vocab.save(path)
    again = Vocabulary.load(path)
    assert again.words == vocab.words
    assert again.counts.tolist() == vocab.counts.tolist()
    assert again.lower
    assert again.total_tokens == vocab.total_tokens
    np.testing.assert_array_equal(again.encode(CORPUS)[0], vocab.encode(CORPUS)[0])
    text = path.read_text(encoding="utf-8").splitlines()
    (tmp_path / "short.txt").write_text("\n".join(text[:-2]) + "\n", encoding="utf-8")
    with pytest.raises(ValueError, match="truncated"):
        Vocabulary.load(tmp_path / "short.txt")
    (tmp_path / "other.txt").write_text("hello\n", encoding="utf-8")
    with pytest.raises(ValueError, match="not an msopt vocabulary file"):
        Vocabulary.load(tmp_path / "other.txt")
    (tmp_path / "bin").write_bytes(b"\x00\xff\xfe")
    with pytest.raises(ValueError, match="not"):
        Vocabulary.load(tmp_path / "bin")


def test_labeled_format():
    texts, labels = read_labeled(["__label__DESC how do you do ?", "__label__A __label__B x"])
    assert texts == ["how do you do ?", "x"]
    assert labels == [["DESC"], ["A", "B"]]


def test_bad_lines_are_refused():
    with pytest.raises(TypeError, match="lines must be str"):
        Vocabulary(min_count=1).fit([b"bytes"])
    with pytest.raises(TypeError, match=r"lines\[0\]: expected str"):
        _core.Vocab().count([1])
    with pytest.raises(TypeError, match="not bytes"):
        list(iter_lines(b"abc"))


class _Shouting(str):
    def lower(self) -> str:
        return "shout"


@pytest.mark.parametrize(("lines", "lower"), [
    (["a b", None, "c"], False), (["a b", None], True), (["x\ud800y", 5], False),
    (["x\udfff", b"zz"], True), (("a", 3), False), ([_Shouting("A B")], True),
    (["a \ud800"], False), (["A b", "a"] * 5, True), (("a b",) * 3, False)])
@pytest.mark.parametrize("chunk_lines", [1, 2, 8192])
def test_a_list_and_an_iterator_of_the_same_lines_fit_alike(lines, lower, chunk_lines):
    """fit takes a list or tuple by slices and any other iterable line by line: the same
    vocabulary, or the same error (a line of a wrong type named before a lone surrogate in
    its chunk, a str subclass's own lower())."""
    def fit(source):
        try:
            v = Vocabulary(min_count=1, lower=lower, chunk_lines=chunk_lines).fit(source)
            return v.words, v.counts.tolist()
        except (TypeError, ValueError) as e:
            return type(e).__name__, str(e)

    assert fit(lines) == fit(iter(lines))


def test_ids_of_a_large_vocabulary_and_of_words_it_lacks():
    """The vocabulary's word index (open addressing): every word finds its own id among
    tens of thousands, and near misses (prefixes, extensions, a character changed) find
    none."""
    rng = np.random.default_rng(3)
    letters = np.array(list("abcdefghijklmnopqrstuvwxyzé日"))
    words = sorted({"".join(rng.choice(letters, rng.integers(1, 20))) for _ in range(30_000)})
    vocab = Vocabulary.from_counts(words, np.ones(len(words), np.int64), len(words))
    ids, offsets = vocab.encode(words)
    np.testing.assert_array_equal(ids, np.arange(len(words)))
    known = set(words)
    misses = [w + "x" for w in words[:2000]] + [w[:-1] for w in words[:2000]] + ["", " "]
    # the same length, one character changed (first or last)
    misses += [w[:-1] + ("b" if w[-1] == "a" else "a") for w in words[:2000]]
    misses += [("b" if w[0] == "a" else "a") + w[1:] for w in words[:2000]]
    # a word is told apart by its size and first 8 bytes, then the rest: ASCII words of 10 to
    # 19 bytes with one byte changed on either side of the 8th (byte 6, 7, 8 or 9)
    long = [w for w in words if w.isascii() and len(w) >= 10][:500]
    for i in (6, 7, 8, 9):
        misses += [w[:i] + ("b" if w[i] == "a" else "a") + w[i + 1:] for w in long]
    for w in misses:
        assert vocab._core.id(w) == (words.index(w) if w in known else -1)


@pytest.mark.parametrize("n_lines", [0, 1, 4095, 8192, 12289])
def test_encode_on_threads_gives_the_ids_of_one_pass(n_lines):
    """Slices of 4,096 lines or more on threads of their own: the same ids and offsets as
    one pass, whatever the thread count (and the pool's size)."""
    rng = np.random.default_rng(n_lines)
    words = [f"w{i}" for i in range(300)]
    vocab = Vocabulary(min_count=1).fit([" ".join(words)])
    lines = [" ".join(rng.choice(words + ["unknown"], int(k)))
             for k in rng.integers(0, 9, n_lines)]
    want = vocab._core.encode(lines, 2, 1000)
    saved = _core.get_num_threads()
    try:
        for pool in (1, 2):
            _core.set_num_threads(pool)
            for threads in (2, 3, 7):
                got = vocab._core.encode(lines, 2, 1000, threads)
                np.testing.assert_array_equal(got[0], want[0])
                np.testing.assert_array_equal(got[1], want[1])
    finally:
        _core.set_num_threads(saved)
    for bad in (0, 1025):
        with pytest.raises(ValueError, match="^threads: "):
            vocab._core.encode(lines, 2, 1000, bad)


def _docs_and_lines(rng):
    """Token lists of every shape encode_tokens takes, with the lines they join to."""
    pool = ["the", "cat", "sat", "zzz", "a b", " dog ", "é", "\u00a0", "\x1c", "", "the\tend"]
    docs: list = []
    for i in range(200):
        toks = [pool[j] for j in rng.integers(0, len(pool), rng.integers(0, 6))]
        kind = i % 3
        docs.append(toks if kind == 0 else tuple(toks) if kind == 1 else " ".join(toks))
    return docs, [d if isinstance(d, str) else " ".join(d) for d in docs]


def test_encode_tokens_equals_encoding_the_joined_lines():
    vocab = Vocabulary(min_count=1).fit(CORPUS + ["a b é \u00a0 \x1c"])
    docs, lines = _docs_and_lines(np.random.default_rng(0))
    empty = next((i for i, line in enumerate(lines) if not line or line.isspace()), -1)
    assert empty >= 0  # some document has no text (str.isspace's whitespace included)
    ids, offsets, first = vocab._core.encode_tokens(docs)
    assert first == empty
    assert len(ids) == len(offsets) == 0
    keep = [i for i, line in enumerate(lines) if line and not line.isspace()]
    ids, offsets, first = vocab._core.encode_tokens([docs[i] for i in keep])
    want_ids, want_offsets = vocab.encode([lines[i] for i in keep])
    assert first == -1
    np.testing.assert_array_equal(ids, want_ids)
    np.testing.assert_array_equal(offsets, want_offsets)
    ids, offsets, first = vocab._core.encode_tokens([])
    assert len(ids) == len(offsets) == 0
    assert first == -1


def test_lines_either_side_of_the_padded_copy_count_and_encode_alike():
    """Short words are read in one 8-byte load from a padded copy of their line: the counter
    copies every line, the encoder lines of 16 bytes or more (a shorter one is read where it
    lies, in pieces), and encode_tokens each token alike.  Lines of every size from 1 to 24
    bytes, cut anywhere (a word of 1 to 9 bytes at the end), and tokens of 1 to 20 bytes:
    counts against a Counter, ids against the Python reference."""
    rng = np.random.default_rng(5)
    words = list(dict.fromkeys("".join(rng.choice(list("abcxyz"), int(k)))
                               for k in rng.integers(1, 10, 400)))
    lines = [" " * int(rng.integers(0, 2)) + " ".join(rng.choice(words, 8))[:size]
             for size in range(1, 25) for _ in range(30)]
    vocab = Vocabulary(min_count=1).fit(lines)
    counts = Counter(t for line in lines for t in line.split())
    assert dict(zip(vocab.words, vocab.counts.tolist())) == counts
    assert {len(line) for line in lines} >= set(range(14, 19))
    ids, offsets = vocab.encode(lines, ngrams=2, buckets=101)
    want = [_ref_encode(vocab.words, line, 2, 101) for line in lines]
    np.testing.assert_array_equal(ids, np.concatenate([np.asarray(w, np.int64) for w in want]))
    np.testing.assert_array_equal(offsets, np.cumsum([0] + [len(w) for w in want[:-1]]))
    long_words = ["".join(rng.choice(list("abcxyz"), int(k))) for k in rng.integers(1, 21, 500)]
    vocab = Vocabulary(min_count=1).fit(long_words[:250])
    docs = [list(long_words[i:i + 3]) for i in range(0, 500, 3)]
    ids, offsets, first = vocab._core.encode_tokens(docs)
    want_ids, want_offsets = vocab.encode([" ".join(d) for d in docs])
    assert first == -1
    assert max(len(w) for w in long_words) >= 16
    np.testing.assert_array_equal(ids, want_ids)
    np.testing.assert_array_equal(offsets, want_offsets)


@pytest.mark.parametrize("docs", [[["a", 1]], [["a"], 3], [b"a"], [["a", b"b"]],
                                  [["\ud800"]], (["a"],), [iter(["a"])]])
def test_encode_tokens_declines_what_it_does_not_read(docs):
    """Anything but a list of strs and lists or tuples of str (or a str that is not valid
    Unicode) gives None: the caller's slower path names the problem."""
    vocab = Vocabulary(min_count=1).fit(CORPUS)
    assert vocab._core.encode_tokens(docs) is None
