"""Lexical evidence that a candidate sentence answers a question: word overlap, IDF-weighted
overlap, BM25 over the question's candidates, and a few shape features, in NumPy and plain
Python (the work per pair is a few set lookups).

Tokens are runs of letters and digits (``[^\\W_]+``), lower-cased, as msopt's sentence
encoder reads a str.  *Content words* are the tokens that are not in :data:`STOP_WORDS`
(English function words).  :func:`stem` strips one common English suffix so that "discover"
matches "discovered".

Every feature of :func:`pair_features` is defined in :data:`FEATURES`; each is a function
of the question, the candidate, document frequencies fitted beforehand
(:class:`DocumentFrequencies`), and, for BM25, the other candidates of the same question.

Examples
--------
>>> from msopt.text.lexical import DocumentFrequencies, bm25, tokenize
>>> tokenize("Who wrote `` Hamlet '' ?")
['who', 'wrote', 'hamlet']
>>> df = DocumentFrequencies().fit([["a", "cat"], ["a", "dog"]])
>>> round(df.idf(["cat", "a", "never-seen"]).tolist()[0], 3)
1.405
>>> docs = [["the", "cat", "sat"], ["a", "dog"]]
>>> [round(x, 3) for x in bm25(["cat"], docs).tolist()]
[0.641, 0.0]
"""

from __future__ import annotations

import math
import re
from collections import Counter
from collections.abc import Sequence
from typing import Any

import numpy as np

__all__ = ["DATE_WORDS", "FEATURES", "NUMBER_WORDS", "QUESTION_TYPES", "STOP_WORDS",
           "DocumentFrequencies", "bm25", "content_words", "is_date", "is_number",
           "pair_features", "question_type", "stem", "tokenize"]

TOKEN = re.compile(r"[^\W_]+")

# English function words (pronouns, determiners, auxiliaries, prepositions, conjunctions,
# question words): they carry little evidence that a sentence answers a question.
STOP_WORDS = frozenset("""
a about above after again against all am an and any are as at be because been before being
below between both but by can could did do does doing down during each few for from further
had has have having he her here hers herself him himself his how i if in into is it its
itself just me more most my myself no nor not now of off on once only or other our ours
ourselves out over own same she should so some such than that the their theirs them
themselves then there these they this those through to too under until up very was we were
what when where which while who whom whose why will with would you your yours yourself
yourselves s t d ll m re ve
""".split())

# The question types the answer-type features distinguish (see question_type).
QUESTION_TYPES = ("who", "when", "where", "quantity", "what", "other")
_QUANTITY_AFTER_HOW = frozenset("""many much long old far big large tall often fast high
deep wide heavy hot cold""".split())
# The nouns after "what" or "which" that ask for a time, a place or an amount.
_WHEN_NOUNS = frozenset("year years date day month century decade time era".split())
_WHERE_NOUNS = frozenset("""country countries city cities state states place continent
province county town region island river mountain nation location""".split())
_QUANTITY_NOUNS = frozenset("""number percentage percent population amount size height length
age distance cost price""".split())
# Numbers written as words; months and weekdays (their abbreviations too) name dates.
NUMBER_WORDS = frozenset("""one two three four five six seven eight nine ten eleven twelve
thirteen fourteen fifteen sixteen seventeen eighteen nineteen twenty thirty forty fifty sixty
seventy eighty ninety hundred hundreds thousand thousands million millions billion billions
trillion dozen dozens half""".split())
DATE_WORDS = frozenset("""january february march april may june july august september october
november december jan feb mar apr jun jul aug sep sept oct nov dec monday tuesday wednesday
thursday friday saturday sunday""".split())

# The features of pair_features, in column order, each with what it measures.
FEATURES: dict[str, str] = {
    "word_count": "distinct question content words found in the candidate",
    "idf_count": "their IDF sum",
    "bm25": "BM25 of the question's content words, the question's candidates as corpus",
    "idf_coverage": "idf_count over the IDF sum of all the question's content words",
    "stem_idf_count": "IDF sum of the question content words whose stem the candidate has",
    "bigram_overlap": "share of the question's bigrams (all tokens) found in the candidate",
    "log_length": "log(1 + candidate tokens)",
    "density": "matched distinct words over the shortest candidate span holding them all",
    "name_match": "IDF sum of the question's capitalized words found in the candidate",
    "new_number": "candidate numbers (a token with a digit, or a number word) that the "
                  "question lacks (at most 3)",
    "new_date": "candidate years (1000-2099, with or without an s) and month or weekday "
                "names that the question lacks (at most 2)",
    "new_name": "capitalized candidate content words that the question lacks (at most 5)",
    "answer_near": "1 / the distance in tokens from a matched question content word to the "
                   "nearest new token of the type the question asks for (0: none)",
    **{f"{f}*{t}": f"{f} if the question is a '{t}' question, else 0"
       for f in ("new_number", "new_date", "new_name") for t in QUESTION_TYPES},
}
_MAX_NEW = {"new_number": 3, "new_date": 2, "new_name": 5}
_YEAR = re.compile(r"1\d{3}s?|20\d{2}s?")


def tokenize(text: str) -> list[str]:
    """Runs of letters and digits (``[^\\W_]+``), lower-cased."""
    return TOKEN.findall(text.lower())


def content_words(tokens: Sequence[str]) -> list[str]:
    """The distinct tokens that are not stop words, in first-seen order."""
    return [w for w in dict.fromkeys(tokens) if w not in STOP_WORDS]


def stem(word: str) -> str:
    """``word`` less one suffix among "ing", "ed", "es", "s" when at least three letters
    remain ("discovered" -> "discover", "cats" -> "cat", "is" -> "is")."""
    for suffix in ("ing", "ed", "es", "s"):
        if len(word) >= len(suffix) + 3 and word.endswith(suffix):
            return word[:-len(suffix)]
    return word


def question_type(tokens: Sequence[str]) -> str:
    """The type of answer a question asks for, from its first question word among its first
    four tokens: "who" (who, whom, whose), "when" (also "what year", "which day", ...),
    "where" (also "what country", "which city", ...), "quantity" (how many, how much, how
    long, how old, ..., "what percentage", "what is the population", ...), "what" (what,
    which, name) or "other".  After "what" or "which", the noun read is the next token, or
    the one after a following "is", "was", "are", "were" and "the"."""
    for i, w in enumerate(tokens[:4]):
        nxt = tokens[i + 1] if i + 1 < len(tokens) else ""
        if w in ("who", "whom", "whose"):
            return "who"
        if w in ("when", "where"):
            return w
        if w == "how" and nxt in _QUANTITY_AFTER_HOW:
            return "quantity"
        if w in ("what", "which", "name"):
            rest = [t for t in tokens[i + 1:i + 4] if t not in ("is", "was", "are", "were",
                                                                   "the")]
            noun = rest[0] if rest else ""
            if noun in _WHEN_NOUNS:
                return "when"
            if noun in _WHERE_NOUNS:
                return "where"
            if noun in _QUANTITY_NOUNS:
                return "quantity"
            return "what"
    return "other"


def is_number(token: str) -> bool:
    """Whether a (lower-cased) token is a number: it has a digit or is a number word."""
    return token in NUMBER_WORDS or any(c.isdigit() for c in token)


def is_date(token: str) -> bool:
    """Whether a (lower-cased) token names a date: a year 1000-2099 (or its decade, "1990s")
    or a month or weekday name."""
    return token in DATE_WORDS or _YEAR.fullmatch(token) is not None


class DocumentFrequencies:
    """Document frequencies of words over a fixed corpus, and their smoothed IDF
    ``ln((N + 1) / (df + 1)) + 1`` (N documents; a word never seen has df 0, so the
    largest IDF, ``ln(N + 1) + 1``).

    Parameters
    ----------
    words : list of str, optional
        The words counted (with ``counts`` and ``n_docs``: as saved by a model).
    counts : array of int, optional
        Their document frequencies.
    n_docs : int, default 0
        The documents counted.
    """

    def __init__(self, words: Sequence[str] = (), counts: Any = None, n_docs: int = 0) -> None:
        counts = np.zeros(0, np.int64) if counts is None else np.asarray(counts, np.int64)
        if counts.shape != (len(words),):
            raise ValueError(f"counts: expected {len(words)} counts (one per word), got shape "
                             f"{counts.shape}")
        if len(counts) and (counts.min() < 1 or counts.max() > n_docs):
            raise ValueError(f"counts: expected document frequencies in [1, {n_docs}]")
        self.words = list(words)
        self.counts = counts
        self.n_docs = int(n_docs)
        self._index = {w: i for i, w in enumerate(self.words)}
        if len(self._index) != len(self.words):
            raise ValueError("words: a word is listed twice")

    def fit(self, documents: Any) -> DocumentFrequencies:
        """Count, for each word, the documents (token lists) holding it; returns self."""
        df: Counter[str] = Counter()
        n = 0
        for doc in documents:
            df.update(set(doc))
            n += 1
        words = sorted(df, key=lambda w: (-df[w], w))
        self.__init__(words, np.array([df[w] for w in words], np.int64), n)  # type: ignore[misc]
        return self

    def df(self, words: Sequence[str]) -> np.ndarray:
        """The document frequency of each word (0 for a word never seen), int64."""
        out = np.zeros(len(words), np.int64)
        for j, w in enumerate(words):
            i = self._index.get(w)
            if i is not None:
                out[j] = self.counts[i]
        return out

    def idf(self, words: Sequence[str]) -> np.ndarray:
        """``ln((N + 1) / (df + 1)) + 1`` for each word, float64."""
        return np.log((self.n_docs + 1.0) / (self.df(words) + 1.0)) + 1.0

    def __len__(self) -> int:
        return len(self.words)

    def __repr__(self) -> str:
        return f"DocumentFrequencies({len(self.words):,} words, {self.n_docs:,} documents)"


def bm25(query: Sequence[str], documents: Sequence[Sequence[str]], k1: float = 1.2,
         b: float = 0.75) -> np.ndarray:
    """Okapi BM25 of each document for the distinct words of ``query``, the documents
    themselves as the corpus (N of them, average length L):
    ``sum_w idf(w) * tf * (k1 + 1) / (tf + k1 * (1 - b + b * len / L))`` with
    ``idf(w) = ln(1 + (N - n_w + 0.5) / (n_w + 0.5))`` (n_w documents hold w; always > 0).
    An empty corpus, or one of empty documents, scores 0."""
    n = len(documents)
    out = np.zeros(n)
    if n == 0:
        return out
    lengths = np.array([len(d) for d in documents], np.float64)
    avg = float(lengths.mean())
    if avg == 0:
        return out
    terms = list(dict.fromkeys(query))
    tfs = [Counter(d) for d in documents]
    norm = k1 * (1 - b + b * lengths / avg)
    for w in terms:
        tf = np.array([c.get(w, 0) for c in tfs], np.float64)
        nw = int(np.count_nonzero(tf))
        if nw == 0:
            continue
        idf = math.log(1 + (n - nw + 0.5) / (nw + 0.5))
        out += idf * tf * (k1 + 1) / (tf + norm)
    return out


def _shortest_span(tokens: Sequence[str], wanted: set[str]) -> int:
    """The length of the shortest run of ``tokens`` holding every word of ``wanted`` (all
    of which occur in ``tokens``)."""
    positions = [i for i, w in enumerate(tokens) if w in wanted]
    seen: Counter[str] = Counter()
    have, lo, best = 0, 0, len(tokens)
    for hi in positions:
        seen[tokens[hi]] += 1
        have += seen[tokens[hi]] == 1
        while have == len(wanted):
            start = positions[lo]
            best = min(best, hi - start + 1)
            seen[tokens[start]] -= 1
            have -= seen[tokens[start]] == 0
            lo += 1
    return best


def _capitalized(raw: Sequence[str]) -> list[str]:
    """The lower-cased tokens of ``raw`` (a text's tokens as written) that start with a
    capital, the first token excepted (a sentence's first word is capitalized whatever it
    is)."""
    return [w.lower() for w in raw[1:] if w[0].isupper()]


def _answer_near(raw: Sequence[str], matched: set[str], question: set[str], qtype: str
                 ) -> float:
    """1 / the distance from a token of ``matched`` to the nearest token of the answer
    (``raw``: its tokens as written) that the question lacks and that has the type
    ``qtype`` asks for: a date for "when", a number for "quantity", a capitalized word (not
    the first) for "who" and "where", either of those for "what" and "other"; 0 when there
    is none."""
    low = [w.lower() for w in raw]
    hits = [i for i, w in enumerate(low) if w in matched]
    wanted = []
    for i, (r, w) in enumerate(zip(raw, low)):
        if w in question or w in STOP_WORDS and not is_number(w):
            continue
        name = i > 0 and r[0].isupper()
        if (is_date(w) if qtype == "when" else is_number(w) if qtype == "quantity"
                else name if qtype in ("who", "where") else name or is_number(w)):
            wanted.append(i)
    if not hits or not wanted:
        return 0.0
    return 1.0 / min(abs(i - j) for i in hits for j in wanted)


def pair_features(questions: Sequence[str], answers: Sequence[str], groups: np.ndarray,
                  df: DocumentFrequencies, k1: float = 1.2, b: float = 0.75) -> np.ndarray:
    """The :data:`FEATURES` of each pair ``(questions[i], answers[i])``, float64, one row
    per pair.  ``groups`` (int codes, one per pair) says which pairs are candidates of the
    same question: BM25 takes them as its corpus."""
    n = len(questions)
    out = np.zeros((n, len(FEATURES)))
    col = {name: j for j, name in enumerate(FEATURES)}
    a_tokens = [tokenize(a) for a in answers]
    q_cache: dict[str, tuple[list[str], list[float], set[tuple[str, str]], list[str],
                             set[str], set[str], str]] = {}
    c_count, c_idf, c_cover, c_stem = (col[k] for k in ("word_count", "idf_count",
                                                         "idf_coverage", "stem_idf_count"))
    c_bigram, c_len, c_density, c_name = (col[k] for k in ("bigram_overlap", "log_length",
                                                           "density", "name_match"))
    c_near = col["answer_near"]
    for i in range(n):
        q = questions[i]
        if q not in q_cache:
            qt = tokenize(q)
            qw = content_words(qt)
            caps = {w for w in _capitalized(TOKEN.findall(q)) if w not in STOP_WORDS}
            q_cache[q] = (qw, df.idf(qw).tolist(), set(zip(qt, qt[1:])), [stem(w) for w in qw],
                          caps, set(qt), question_type(qt))
        qw, idf, bigrams, stems, caps, qset, qtype = q_cache[q]
        at = a_tokens[i]
        aset = set(at)
        matched = {w for w in qw if w in aset}
        row = out[i]
        row[c_count] = len(matched)
        row[c_idf] = idf_sum = sum(v for w, v in zip(qw, idf) if w in aset)
        total = sum(idf)
        row[c_cover] = idf_sum / total if total > 0 else 0.0
        astems = {stem(w) for w in aset}
        row[c_stem] = sum(v for s, v in zip(stems, idf) if s in astems)
        if bigrams:
            row[c_bigram] = len(bigrams & set(zip(at, at[1:]))) / len(bigrams)
        row[c_len] = math.log1p(len(at))
        if matched:
            row[c_density] = len(matched) / _shortest_span(at, matched)
        row[c_name] = sum(v for w, v in zip(qw, idf) if w in caps and w in aset)
        raw = TOKEN.findall(answers[i])  # as written: read for capitals, once
        new = {"new_number": sum(1 for w in at if w not in qset and is_number(w)),
               "new_date": sum(1 for w in at if w not in qset and is_date(w)),
               "new_name": sum(1 for w in _capitalized(raw)
                               if w not in qset and w not in STOP_WORDS)}
        for name, count in new.items():
            row[col[name]] = row[col[f"{name}*{qtype}"]] = min(count, _MAX_NEW[name])
        if matched:
            row[c_near] = _answer_near(raw, matched, qset, qtype)
    # BM25 per question: its candidates are the corpus
    order = np.argsort(groups, kind="stable")
    bounds = np.flatnonzero(np.diff(groups[order])) + 1
    for members in np.split(order, bounds) if n else []:
        query = content_words(tokenize(questions[members[0]]))
        out[members, col["bm25"]] = bm25(query, [a_tokens[j] for j in members], k1, b)
    return out
