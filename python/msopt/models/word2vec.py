"""Word2Vec: skip-gram or CBOW with negative sampling, one native call per ``train``.

The native loop runs every epoch with the GIL released: linear learning-rate decay from
``alpha`` to ``min_alpha``, random window shrinking, frequent-word subsampling (``sample``),
negatives from the unigram^0.75 distribution, and the exact sigmoid (or word2vec's
1000-entry table, ``sigmoid="table"``).  Threads split the sentences.  By default they
update the shared tables without locks (Hogwild, as word2vec and gensim do);
``deterministic=True`` trains each thread on private copies of the rows it touches and
adds their changes in thread order every few thousand words, so a fixed ``seed`` and
``workers`` repeat bit for bit.  ``workers=1`` repeats bit for bit either way.

Model file format (``Word2Vec.save``): a NumPy ``.npz`` archive, no pickled objects:

    format        str    "msopt-word2vec 1"
    params        str    the hyperparameters, as JSON
    words         uint8  the vocabulary's UTF-8 words, joined by "\\n", in id order
    counts        int64  (V,) word counts
    syn0, syn1neg float32 (V, dim) input and output vectors
    loss_history  float64 mean loss per example of each epoch trained since build_vocab
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from typing import Any

import numpy as np

from msopt import _core
from msopt._api import (
    INT32_MAX,
    INT64_MAX,
    MAX_EPOCHS,
    MAX_THREADS,
    ParamsMixin,
    check_bool,
    check_int,
    check_memory,
    check_number,
    check_seed,
    keyword_aliases,
    named_errors,
    not_fitted,
)
from msopt._io import (
    atomic_write,
    check_count,
    check_path,
    pack_words,
    params_from_file,
    read_npz,
    unpack_words,
)
from msopt._progress import ChunkSize, Tracker, check_callbacks, check_verbose, saved_params
from msopt.exceptions import DivergenceError
from msopt.text import Vocabulary

__all__ = ["KeyedVectors", "Word2Vec"]

_FORMAT = "msopt-word2vec 1"
MAX_SENTENCE = 10_000  # words; longer sentences are cut into pieces of this length


def _cut_long(offsets: np.ndarray, n_ids: int, size: int = MAX_SENTENCE) -> np.ndarray:
    """Sentence starts with every sentence longer than ``size`` ids cut into pieces of
    ``size`` (the learning rate is set per sentence, and threads split by sentences)."""
    lengths = np.diff(np.r_[offsets, n_ids])
    if len(lengths) == 0 or lengths.max() <= size:
        return offsets
    pieces = np.maximum(1, -(-lengths // size))
    first = np.cumsum(pieces) - pieces
    within = np.arange(int(pieces.sum())) - np.repeat(first, pieces)
    return (np.repeat(offsets, pieces) + within * size).astype(np.int64)
_MEMBERS = {"params", "words", "counts", "total_tokens", "syn0", "syn1neg", "loss_history"}


def _rank(x: np.ndarray) -> np.ndarray:
    """Ranks from 1, ties sharing their mean rank (as scipy.stats.rankdata)."""
    order = np.argsort(x, kind="stable")
    xs = x[order]
    first = np.r_[True, xs[1:] != xs[:-1]]
    group = np.cumsum(first) - 1
    starts = np.flatnonzero(first)
    ends = np.r_[starts[1:], len(x)]
    ranks = np.empty(len(x))
    ranks[order] = ((starts + ends + 1) / 2.0)[group]
    return ranks


def _pearson(a: np.ndarray, b: np.ndarray) -> float:
    a, b = a - a.mean(), b - b.mean()
    den = np.sqrt((a @ a) * (b @ b))
    return float(a @ b / den) if den > 0 else float("nan")


class KeyedVectors:
    """Word vectors by word: ``wv[word]``, ``most_similar``, ``similarity`` and the two
    standard evaluations (gensim's names).

    Parameters
    ----------
    words : list of str
        The words, in row order.
    vectors : ndarray, shape (len(words), dim)
        One row per word (kept, not copied).

    Examples
    --------
    >>> import numpy as np
    >>> from msopt import KeyedVectors
    >>> kv = KeyedVectors(["a", "b", "c"], np.eye(3, dtype=np.float32))
    >>> kv, kv.most_similar("a", topn=1)[0][1]
    (KeyedVectors(3 words, dim=3), 0.0)
    """

    def __init__(self, words: list[str], vectors: np.ndarray) -> None:
        self.index_to_key = list(words)
        self.key_to_index = {w: i for i, w in enumerate(words)}
        self.vectors = vectors
        self._unit: np.ndarray | None = None

    def __contains__(self, word: str) -> bool:
        return isinstance(word, str) and word in self.key_to_index

    def __len__(self) -> int:
        return len(self.index_to_key)

    def __getitem__(self, word: str) -> np.ndarray:
        return self.vectors[self._index(word)]

    def __repr__(self) -> str:
        n, d = self.vectors.shape
        return f"KeyedVectors({n:,} words, dim={d})"

    def __getstate__(self) -> dict[str, Any]:
        state = self.__dict__.copy()
        state["_unit"] = None  # a cache: rebuilt on first use
        return state

    def _index(self, word: str, name: str = "word") -> int:
        if not isinstance(word, str):
            raise TypeError(f"{name}: expected a str, got {type(word).__name__}")
        try:
            return self.key_to_index[word]
        except KeyError:
            raise KeyError(f"word {word!r} is not in the vocabulary") from None

    def _normed(self) -> np.ndarray:
        """Unit vectors, cached until the vectors are trained again."""
        if self._unit is None:
            n = np.linalg.norm(self.vectors, axis=1, keepdims=True)
            self._unit = self.vectors / np.where(n > 0, n, 1)
        return self._unit

    def similarity(self, a: str, b: str) -> float:
        """Cosine similarity of two words."""
        i, j = self._index(a, "a"), self._index(b, "b")  # a refused word leaves the cache alone
        u = self._normed()
        return float(u[i] @ u[j])

    def most_similar(self, word: str, topn: int = 10) -> list[tuple[str, float]]:
        """The ``topn`` words nearest to ``word`` by cosine similarity."""
        i = self._index(word)  # a refused word leaves the cache alone
        check_int("topn", topn, 0, none=True)
        u = self._normed()
        sims = u @ u[i]
        sims[i] = -np.inf
        order = np.argsort(-sims, kind="stable")
        top = order[order != i][:topn]  # never the word itself, whatever topn
        return [(self.index_to_key[j], float(sims[j])) for j in top]

    def save_word2vec_format(self, path: str | os.PathLike[str], binary: bool = False,
                             write_header: bool = True) -> None:
        """Write the vectors in word2vec's format, which gensim, fastText (``.vec``) and
        word2vec.c read: a header line ``count dim``, then one line per word, best first.

        Text (``binary=False``): ``word v1 v2 ...``, each value the shortest text that reads
        back as the same float32.  Binary: ``word `` (UTF-8), ``dim`` little-endian
        float32 values, then a newline, as word2vec.c writes.  The file is replaced atomically.
        Words must hold no whitespace (the format's separator)."""
        keys = [str(w) for w in self.index_to_key]  # Doc2Vec's int tags as text, as gensim
        bad = next((w for w in keys if not w or any(c.isspace() for c in w)), None)
        if bad is not None:
            raise ValueError(f"words: {bad!r} is empty or holds whitespace, which the word2vec "
                             "format cannot store")
        check_bool("binary", binary)
        check_bool("write_header", write_header)
        vectors = np.ascontiguousarray(self.vectors, np.float32)
        with atomic_write(check_path(path)) as f:
            if write_header:
                f.write(f"{len(keys)} {vectors.shape[1]}\n".encode())
            little = vectors.astype("<f4", copy=False)
            for word, row, lrow in zip(keys, vectors, little):
                if binary:
                    f.write(word.encode("utf-8") + b" " + lrow.tobytes() + b"\n")
                else:
                    f.write((word + " " + " ".join(map(str, row)) + "\n").encode("utf-8"))

    @classmethod
    def load_word2vec_format(cls, path: str | os.PathLike[str], binary: bool = False,
                             limit: int | None = None, encoding: str = "utf-8",
                             unicode_errors: str = "strict") -> KeyedVectors:
        """Read vectors in word2vec's format (text or binary, as :meth:`save_word2vec_format`,
        gensim, fastText's ``.vec`` and word2vec.c write them; a binary vector may end with a
        newline or not).  ``limit`` reads only the first words.  A file that does not hold
        what its header says raises ValueError naming the file and the line or word."""
        name = check_path(path)
        check_bool("binary", binary)
        limit = check_int("limit", limit, 0, none=True)

        def bad(msg: str) -> ValueError:
            return ValueError(f"{name}: not a word2vec-format file ({msg})")

        with open(name, "rb") as f:
            header = f.readline().decode(encoding, unicode_errors).split()
            try:
                count, dim = int(header[0]), int(header[1])
            except (IndexError, ValueError):
                raise bad("line 1: expected 'count dim'") from None
            if count < 0 or dim < 1 or len(header) != 2:
                raise bad(f"line 1: expected 'count dim', got {' '.join(header)!r}")
            n = count if limit is None else min(count, limit)
            words: list[str] = []
            vectors = np.empty((n, dim), np.float32)
            for i in range(n):
                if binary:
                    word_bytes = bytearray()
                    while True:
                        c = f.read(1)
                        if not c:
                            raise bad(f"word {i + 1}: the file ends before it")
                        if c == b" ":
                            break
                        if c != b"\n" or word_bytes:  # a newline before a word: the last
                            word_bytes += c            # vector's, when the writer added one
                    data = f.read(4 * dim)
                    if len(data) != 4 * dim:
                        raise bad(f"word {i + 1}: the file ends inside its vector")
                    words.append(word_bytes.decode(encoding, unicode_errors))
                    vectors[i] = np.frombuffer(data, "<f4")
                else:
                    line = f.readline()
                    parts = line.decode(encoding, unicode_errors).rstrip("\r\n ").split(" ")
                    if len(parts) != dim + 1:
                        raise bad(f"line {i + 2}: expected a word and {dim} values, got "
                                  f"{len(parts) - 1} values" if line else
                                  f"line {i + 2}: the file ends before word {i + 1}")
                    words.append(parts[0])
                    try:
                        vectors[i] = np.array(parts[1:], np.float32)
                    except ValueError:
                        raise bad(f"line {i + 2}: a value is not a number") from None
        if len(set(words)) != len(words):
            raise bad("a word appears twice")
        return cls(words, vectors)

    def _folded(self, restrict_vocab: int, case_insensitive: bool) -> dict[str, int]:
        """Word (upper-cased if case_insensitive, as gensim does) -> id among the first
        restrict_vocab words (the most frequent); the most frequent spelling wins."""
        out: dict[str, int] = {}
        for i, w in enumerate(self.index_to_key[:restrict_vocab]):
            out.setdefault(w.upper() if case_insensitive else w, i)
        return out

    def evaluate_word_analogies(self, path: str | os.PathLike[str],
                                restrict_vocab: int = 300_000, case_insensitive: bool = True
                                ) -> tuple[float, list[dict[str, Any]]]:
        """Accuracy on analogy questions in the ``questions-words.txt`` format.

        Lines ``: section`` start a section; the others hold ``a b c d``, asking for the
        word ``x`` closest to ``b - a + c`` by cosine (3CosAdd), ``a``, ``b`` and ``c``
        excluded, among the ``restrict_vocab`` most frequent words.  Questions with a word
        outside them are skipped and counted.  Returns ``(accuracy, sections)``, each
        section a dict of ``section``, ``correct``, ``incorrect``, ``skipped``, the last
        one the total.  Words are compared upper-cased when ``case_insensitive`` (as gensim
        does), the most frequent spelling standing for each."""
        vocab = self._folded(int(restrict_vocab), case_insensitive)
        n = min(int(restrict_vocab), len(self))
        unit = self._normed()[:n]
        spelled: dict[str, list[int]] = {}  # every spelling of each folded word
        for i, w in enumerate(self.index_to_key[:n]):
            spelled.setdefault(w.upper() if case_insensitive else w, []).append(i)
        sections: list[dict[str, Any]] = []
        questions: list[list[tuple[str, ...]]] = []
        for number, line in enumerate(_read_lines(path), 1):
            if line.startswith(":"):
                sections.append({"section": line.lstrip(": ").strip(), "correct": 0,
                                 "incorrect": 0, "skipped": 0})
                questions.append([])
                continue
            words = line.split()
            if not words:
                continue
            if len(words) != 4:
                raise ValueError(f"{path}: line {number} does not hold 4 words")
            if not sections:
                raise ValueError(f"{path}: line {number} comes before any ': section' line")
            q = tuple(w.upper() if case_insensitive else w for w in words)
            if all(w in vocab for w in q):
                questions[-1].append(q)
            else:
                sections[-1]["skipped"] += 1
        for sec, qs in zip(sections, questions):
            if not qs:
                continue
            ids = np.array([[vocab[w] for w in q] for q in qs])
            target = unit[ids[:, 1]] - unit[ids[:, 0]] + unit[ids[:, 2]]
            for start in range(0, len(qs), 1024):  # bounded memory: 1024 x n scores
                sims = target[start:start + 1024] @ unit.T
                for row, q in enumerate(qs[start:start + 1024]):
                    for w in q[:3]:
                        sims[row, spelled[w]] = -np.inf
                best = sims.argmax(axis=1)
                for b, q in zip(best, qs[start:start + 1024]):
                    w = self.index_to_key[int(b)]
                    hit = (w.upper() if case_insensitive else w) == q[3]
                    sec["correct" if hit else "incorrect"] += 1
        total = {"section": "Total accuracy",
                 **{k: sum(s[k] for s in sections) for k in ("correct", "incorrect", "skipped")}}
        sections.append(total)
        answered = total["correct"] + total["incorrect"]
        return (total["correct"] / answered if answered else 0.0), sections

    def evaluate_word_pairs(self, path: str | os.PathLike[str], delimiter: str = "\t",
                            restrict_vocab: int = 300_000, case_insensitive: bool = True
                            ) -> tuple[float, float, float]:
        """Agreement with human similarity judgements in the WordSim-353 format: lines
        ``word1<delimiter>word2<delimiter>score``, ``#`` lines are comments.

        Returns ``(pearson, spearman, oov_percent)``: the correlations between the cosine
        similarities and the scores over the pairs whose words are among the
        ``restrict_vocab`` most frequent, and the percentage of pairs skipped."""
        vocab = self._folded(int(restrict_vocab), case_insensitive)
        unit = self._normed()
        model, human, skipped = [], [], 0
        for number, line in enumerate(_read_lines(path), 1):
            if line.startswith("#") or not line.strip():
                continue
            parts = line.rstrip("\n").split(delimiter)
            try:
                a, b, score = parts[0], parts[1], float(parts[2])
            except (IndexError, ValueError):
                raise ValueError(f"{path}: line {number} is not 'word1{delimiter!r}word2"
                                 f"{delimiter!r}score'") from None
            if case_insensitive:
                a, b = a.upper(), b.upper()
            if a not in vocab or b not in vocab:
                skipped += 1
                continue
            model.append(float(unit[vocab[a]] @ unit[vocab[b]]))
            human.append(score)
        total = len(model) + skipped
        if not model:
            raise ValueError(f"{path}: no pair has both words in the vocabulary")
        m, h = np.asarray(model), np.asarray(human)
        return _pearson(m, h), _pearson(_rank(m), _rank(h)), 100.0 * skipped / total


def _read_lines(path: str | os.PathLike[str]) -> Iterable[str]:
    with open(path, encoding="utf-8") as f:
        yield from f


def _zero_or_one(v: Any) -> bool:
    """0 or 1 (an int or a bool, NumPy's too)."""
    return isinstance(v, (int, np.integer, np.bool_)) and v in (0, 1)


class _JoinedLines:
    """Sentences as lines of text, token lists joined by spaces as each pass reads them."""

    def __init__(self, sentences: Iterable[Any]) -> None:
        self.sentences = sentences

    def __iter__(self) -> Iterator[str]:
        return (s if isinstance(s, str) else _joined(i, s) for i, s in enumerate(self.sentences))


def _joined(i: int, tokens: Any) -> str:
    """A token list joined by spaces; TypeError naming ``sentences[i]`` otherwise."""
    try:
        return " ".join(tokens)
    except TypeError:
        raise TypeError(f"sentences[{i}]: expected a str or a list of str tokens, got "
                        f"{type(tokens).__name__}") from None


class GensimNames:
    """gensim's attribute names, read-only, for the models that take them as aliases."""

    vector_size = property(lambda self: self.dim, doc="gensim's name for ``dim``.")
    workers = property(lambda self: self.threads, doc="gensim's name for ``threads``.")
    alpha = property(lambda self: self.lr, doc="gensim's name for ``lr``.")
    min_alpha = property(lambda self: self.min_lr, doc="gensim's name for ``min_lr``.")


class Word2Vec(GensimNames, ParamsMixin):
    """word2vec with negative sampling, skip-gram (``sg=1``) or CBOW (``sg=0``).

    msopt's names are canonical (``dim``, ``threads``, ``lr``, ...); gensim's names are
    accepted as aliases (``vector_size``, ``workers``, ``alpha``, ``min_alpha``,
    ``max_final_vocab``, ``iter``) and gensim's attribute names read the same values.

    Parameters
    ----------
    sentences : path, iterable of str, or iterable of token lists, optional
        When given, the vocabulary is built from them and they are trained on at once.
        A sentence (a line) of more than 10,000 known words is cut into pieces of 10,000.
    dim : int, default 100
        Width of the word vectors (alias ``vector_size``).
    window : int, default 5
        Largest distance between a word and a context word (shrunk at random per word).
    negative : int, default 5
        Negative samples per example.
    sg : {1, 0}
        Skip-gram (1) or CBOW (0).
    min_count : int, default 5
        Words seen fewer times are dropped.
    epochs : int, default 5
        Passes over the corpus per ``train`` call (alias ``iter``).
    threads : int, optional
        Threads (alias ``workers``; default: msopt's thread count).
    seed : int, default 1
        Seeds the initial vectors and the random stream of training (alias
        ``random_state``).
    lr, min_lr : float, default 0.025 and 1e-4
        The learning rate decays linearly from ``lr`` to ``min_lr`` over a ``train`` call
        (aliases ``alpha`` or ``learning_rate``, and ``min_alpha``).
    sample : float, default 1e-3
        Frequent-word subsampling threshold (0: off).
    max_vocab : int, optional
        Keep at most this many words, the most frequent (alias ``max_final_vocab``).
    lower : bool
        Lower-case the text first.
    cbow_mean : {1, 0}
        CBOW averages (1) or sums (0) the context vectors.
    deterministic : bool
        Repeat bit for bit with several threads (see the module docstring); the default
        lock-free updates are faster.
    sigmoid : "exact" or "table"
        ``1 / (1 + exp(-x))``, or word2vec's table over [-6, 6] (saturating outside).
    compute_loss : bool
        Accumulate the exact loss per epoch into ``loss_history_`` (NaN when off).
    callbacks : list of callables, optional
        ``f(model, progress) -> bool`` after each chunk of training (about 0.4 s of
        work), given a :class:`msopt.Progress` record (epoch, words seen, loss, learning
        rate, words per second); True stops the training there.
    verbose : bool or int
        Show a progress bar (tqdm when installed, else a line on stderr).  The same reports
        go to the ``"msopt"`` logger at INFO.

    Attributes
    ----------
    wv : KeyedVectors
        The word vectors (raises :class:`msopt.NotFittedError` before ``build_vocab``).
    vocab : msopt.text.Vocabulary or None
    syn1neg : ndarray of float32 or None
        The output vectors.
    loss_history_ : list of float
        Mean loss per example of each epoch, over every ``train`` call since
        ``build_vocab``.

    Notes
    -----
    ``train`` runs in native chunks and returns to Python between them: Ctrl-C raises
    KeyboardInterrupt within a chunk's time and leaves the vectors as the finished chunks
    made them (the learning rate decays across chunks exactly as in one call).

    Examples
    --------
    >>> from msopt import Word2Vec
    >>> corpus = ["the cat sat on the mat", "the dog sat on the log"] * 200
    >>> model = Word2Vec(corpus, dim=16, min_count=1, epochs=3, threads=1, seed=1)
    >>> model.wv["cat"].shape
    (16,)
    >>> model
    Word2Vec(dim=16, window=5, sg=1, min_count=1, epochs=3, threads=1, vocab=7 words, trained)
    >>> Word2Vec(vector_size=16).dim    # gensim's name, as an alias
    16
    """

    _repr_always = ("dim", "window", "sg")
    # Words per native call and thread: None sizes them to about 0.4 s of work,
    # except with deterministic threads, whose bits depend on the chunks: then 2**18.
    _chunk_words: int | None = None

    @classmethod
    def _get_param_names(cls) -> list[str]:
        # the corpus is an argument of the constructor's training, not a hyperparameter
        return [n for n in super()._get_param_names() if n != "sentences"]

    @keyword_aliases(vector_size="dim", workers="threads", alpha="lr", min_alpha="min_lr",
                     max_final_vocab="max_vocab", iter="epochs", learning_rate="lr",
                     random_state="seed")
    def __init__(self, sentences: Any = None, dim: int = 100, window: int = 5,
                 negative: int = 5, sg: int = 1, min_count: int = 5, epochs: int = 5,
                 threads: int | None = None, seed: int = 1, lr: float = 0.025,
                 min_lr: float = 1e-4, sample: float = 1e-3, max_vocab: int | None = None,
                 lower: bool = False, cbow_mean: int = 1, deterministic: bool = False,
                 sigmoid: str = "exact", compute_loss: bool = True,
                 callbacks: Sequence[Callable[..., Any]] | None = None,
                 verbose: bool | int = False) -> None:
        self.dim, self.window, self.negative = dim, window, negative
        self.sg, self.cbow_mean = sg, cbow_mean
        self.min_count, self.epochs, self.seed = min_count, epochs, seed
        self.threads = threads
        self.lr, self.min_lr, self.sample = lr, min_lr, sample
        self.max_vocab, self.lower = max_vocab, lower
        self.deterministic, self.sigmoid = deterministic, sigmoid
        self.compute_loss = compute_loss
        self.callbacks, self.verbose = callbacks, verbose
        self._check_params()
        check_callbacks(callbacks)
        check_verbose(verbose)
        self.vocab: Vocabulary | None = None
        self._wv: KeyedVectors | None = None
        self.syn1neg: np.ndarray | None = None
        self.loss_history_: list[float] = []
        self._trained = False
        if sentences is not None:
            lines = named_errors("sentences", lambda: self._lines(sentences))  # read once
            self.build_vocab(lines)
            self.train(lines)

    def _check_params(self) -> None:
        """Check the hyperparameters (at construction, and again before each build or
        train, as set_params may have changed them)."""
        if not _zero_or_one(self.sg):
            raise ValueError(f"sg: 1 (skip-gram) or 0 (CBOW), got {self.sg!r}")
        if not _zero_or_one(self.cbow_mean):
            raise ValueError(f"cbow_mean: 1 (mean) or 0 (sum), got {self.cbow_mean!r}")
        if not (isinstance(self.sigmoid, str) and self.sigmoid in ("exact", "table")):
            raise ValueError(f"sigmoid: 'exact' or 'table', got {self.sigmoid!r}")
        # Upper bounds: the native types (int window, negative <= 1000, epochs, threads;
        # uint64 seed; int64 counts), and what the trainer allocates per epoch and thread.
        for name, low, high in (("dim", 1, INT32_MAX), ("window", 1, INT32_MAX),
                                ("epochs", 0, MAX_EPOCHS), ("min_count", 1, INT64_MAX)):
            check_int(name, getattr(self, name), low, hi=high)
        if check_int("negative", self.negative, 0) > 1000:
            raise ValueError(f"negative: 0 <= negative <= 1000 is required, got "
                             f"{self.negative}")
        check_seed("seed", self.seed)
        check_int("threads", self.threads, 1, none=True, hi=MAX_THREADS)
        check_int("max_vocab", self.max_vocab, 1, none=True, hi=INT64_MAX)
        check_number("lr", self.lr, lo=0, strict=True)
        check_number("min_lr", self.min_lr, lo=0)
        check_number("sample", self.sample, lo=0)
        for name in ("lower", "deterministic", "compute_loss"):
            check_bool(name, getattr(self, name))

    @property
    def wv(self) -> KeyedVectors:
        """The word vectors; :class:`msopt.NotFittedError` before :meth:`build_vocab`."""
        if self._wv is None:
            raise not_fitted(self, "call build_vocab() and train() (or pass sentences to "
                                   "the constructor, or load())")
        return self._wv

    def _repr_state(self) -> list[str]:
        if self.vocab is None:
            return []
        return [f"vocab={len(self.vocab):,} words",
                "trained" if self._trained else "not trained"]

    @staticmethod
    def _lines(sentences: Any) -> Any:
        """What each pass reads: a path as it is (streamed from disk), a re-iterable
        collection as lines joined on the fly (the corpus is not held twice), a one-shot
        iterator as a list of its lines (read once)."""
        if isinstance(sentences, (str, os.PathLike)):
            return sentences
        if iter(sentences) is sentences:
            return list(_JoinedLines(sentences))
        return _JoinedLines(sentences)

    def build_vocab(self, sentences: str | os.PathLike[str] | Iterable[Any]) -> Word2Vec:
        """Count the words and start new vectors (gensim's initialization: inputs uniform
        in [-1, 1) / dim, outputs zero; word2vec.c draws from half that range,
        which measured 0.6 points lower on Austen's analogies with CBOW)."""
        self._check_params()
        vocab = named_errors("sentences", lambda: Vocabulary(
            self.min_count, self.max_vocab, lower=self.lower).fit(self._lines(sentences)))
        V, dim = len(vocab), int(self.dim)
        # The tables' size, before they are allocated: syn0 and syn1neg, and their copies
        # that train keeps to undo a diverged call.
        check_memory("Word2Vec", f"{V:,} words x dim={dim:,} float32 vectors", V * dim * 4, 4,
                     what="building and training need",
                     hint="Reduce dim, or the vocabulary (min_count, max_vocab).")
        rng = np.random.default_rng(self.seed)
        syn0 = rng.random((V, dim), dtype=np.float32)
        syn0 *= np.float32(2)  # uniform in [-1, 1) / dim, as gensim 4 (word2vec.c: half that)
        syn0 -= np.float32(1)
        syn0 /= np.float32(dim)
        syn1neg = np.zeros((V, dim), np.float32)
        # installed only now that nothing can fail
        self.vocab, self.syn1neg, self._wv = vocab, syn1neg, KeyedVectors(vocab.words, syn0)
        self._trained = False
        self.loss_history_ = []
        return self

    def train(self, sentences: str | os.PathLike[str] | Iterable[Any],
              epochs: int | None = None) -> Word2Vec:
        """Train the current vectors on ``sentences`` for ``epochs`` (default
        ``self.epochs``); the rate decays from ``alpha`` to ``min_alpha`` over the call.
        Words outside the vocabulary are dropped.  Native chunks of the call report to
        ``callbacks`` and ``verbose``; Ctrl-C keeps the chunks done."""
        if self.vocab is None or self._wv is None or self.syn1neg is None:
            raise not_fitted(self, "call build_vocab() (or pass sentences to the "
                                   "constructor)")
        self._check_params()
        epochs = check_int("epochs", self.epochs if epochs is None else epochs, 0,
                           hi=MAX_EPOCHS)
        vocab = self.vocab
        ids, offsets = named_errors("sentences", lambda: vocab.encode(self._lines(sentences)))
        offsets = _cut_long(offsets, len(ids))
        threads = int(self.threads or _core.get_num_threads())
        # The tables are trained in place; a copy puts them back if the training diverges
        # (a rate too large for the data writes Inf, then NaN).
        vectors, syn1neg = self.wv.vectors, self.syn1neg
        undo = (vectors.copy(), syn1neg.copy())
        history = len(self.loss_history_)
        # One native call per chunk of words, resumed from where the last one stopped: the
        # same bits as one whole call with one thread.
        fixed = self._chunk_words
        if fixed is None and self.deterministic and threads > 1:
            fixed = 1 << 18
        chunk = ChunkSize(fixed, 1 << 16)
        resume = np.zeros((threads, 4 + 2 * epochs), np.int64)
        corpus = _core.RaggedIds(ids, offsets, len(vocab))  # type: ignore[attr-defined]
        train_chunk = _core.word2vec_train_chunk  # type: ignore[attr-defined]
        total, lr, min_lr = len(ids) * epochs, float(self.lr), float(self.min_lr)
        t0 = time.perf_counter()
        try:
            with Tracker(self, epochs=epochs, total=total, unit="words",
                         callbacks=self.callbacks, verbose=self.verbose) as track:
                done = 0
                while True:
                    chunk.start()
                    losses, words, examples, seen, done = train_chunk(
                        corpus, vocab.counts, vectors, syn1neg,
                        int(self.window), int(self.negative), float(self.sample), lr, min_lr,
                        int(epochs), int(self.seed), threads, resume, int(chunk),
                        sg=bool(self.sg), cbow_mean=bool(self.cbow_mean),
                        table_sigmoid=self.sigmoid == "table",
                        compute_loss=bool(self.compute_loss),
                        deterministic=bool(self.deterministic))
                    chunk.done()
                    finished = len(self.loss_history_) - history
                    self.loss_history_ += [float(x) for x in losses[finished:done]]
                    if done >= epochs or track.report(
                            min(done + 1, epochs), seen, losses[min(done, epochs - 1)],
                            lr - (lr - min_lr) * seen / max(total, 1),
                            epoch_end=done > finished):
                        break
                if done >= epochs and epochs:  # the last report, at the call's end
                    track.report(epochs, seen, losses[-1], min_lr, epoch_end=True)
            finite = bool(np.isfinite(vectors).all() and np.isfinite(syn1neg).all())
        except KeyboardInterrupt:  # the chunks done stay, unless they diverged
            if not (np.isfinite(vectors).all() and np.isfinite(syn1neg).all()):
                np.copyto(vectors, undo[0])
                np.copyto(syn1neg, undo[1])
                del self.loss_history_[history:]
            else:
                self._trained = True
            self.wv._unit = None
            raise
        except BaseException:  # a failed call changes nothing
            np.copyto(vectors, undo[0])
            np.copyto(syn1neg, undo[1])
            del self.loss_history_[history:]
            raise
        if not finite:
            np.copyto(vectors, undo[0])
            np.copyto(syn1neg, undo[1])
            del self.loss_history_[history:]
            raise DivergenceError(
                f"Word2Vec.train: the vectors became NaN or Inf (lr={self.lr!r} is too large "
                "for this corpus); they are as they were before this call.  Try a smaller "
                "lr.")
        del undo
        self.wv._unit = None
        self.train_seconds_ = time.perf_counter() - t0
        self.words_per_sec_ = len(ids) * epochs / max(self.train_seconds_, 1e-9)
        self._trained = True
        return self

    def _params(self) -> dict[str, Any]:
        return saved_params(self)

    def save(self, path: str | os.PathLike[str]) -> None:
        """Write the model to ``path`` (exactly; no extension is added), one ``.npz`` file
        in the format of the module docstring.

        The file is replaced atomically: the model is written to a temporary file in the
        same folder, synced to disk and renamed over ``path``, so an interrupted or failed
        save (an exception, Ctrl-C, a full disk) leaves the previous file as it was.  The
        file keeps the permissions of the file it replaces (a new one: 0o666 less the
        umask).  ``path`` is a path, not an open file."""
        if self.vocab is None or self._wv is None or self.syn1neg is None:
            raise not_fitted(self, "nothing to save; call build_vocab() and train()")
        with atomic_write(check_path(path)) as f:
            np.savez(f, format=np.array(_FORMAT), params=np.array(json.dumps(self._params())),
                     words=pack_words(self.vocab.words), counts=self.vocab.counts,
                     total_tokens=np.array(self.vocab.total_tokens, np.int64),
                     syn0=self.wv.vectors, syn1neg=self.syn1neg,
                     loss_history=np.array(self.loss_history_, np.float64))

    @classmethod
    def load(cls, path: str | os.PathLike[str]) -> Word2Vec:
        """Read a model written by :meth:`save`; training can continue from it.

        A file that is not one (another file, a truncated or corrupt one, members of the
        wrong type or shape, hyperparameters the constructor refuses) raises ValueError
        naming the file and the member or hyperparameter; a missing file raises
        FileNotFoundError."""
        name = check_path(path)
        a = read_npz(name, _FORMAT, "msopt Word2Vec")

        def bad(msg: str) -> ValueError:
            return ValueError(f"{name}: not a valid msopt Word2Vec file ({msg})")

        missing = sorted(_MEMBERS - a.keys())
        if missing:
            raise bad(f"missing {missing}")
        try:
            params = params_from_file(cls, a["params"], name)
        except ValueError as e:
            raise bad(str(e).removeprefix(f"{name}: ")) from None
        try:
            model = cls(**params)
            model._check_params()
        except (TypeError, ValueError) as e:
            raise bad(f"params: {e}") from None
        total, history = a["total_tokens"], a["loss_history"]
        if (total.shape != () or total.dtype.kind not in "iu" or history.ndim != 1
                or history.dtype.kind != "f"):
            raise bad("total_tokens: a 0-d integer; loss_history: a 1-D float array")
        try:
            n_tokens = check_count("total_tokens", total[()], name)
        except ValueError as e:
            raise bad(str(e).removeprefix(f"{name}: ")) from None
        words = unpack_words(a["words"], name)
        counts, syn0, syn1 = a["counts"], a["syn0"], a["syn1neg"]
        V = len(words)
        ok = (counts.dtype == np.int64 and counts.shape == (V,) and syn0.dtype == np.float32
              and syn0.ndim == 2 and syn0.shape[0] == V and syn1.dtype == np.float32
              and syn1.shape == syn0.shape and syn0.shape[1] == model.dim)
        if not ok:
            raise bad("the arrays' shapes or types disagree with its vocabulary")
        try:
            vocab = Vocabulary.from_counts(words, counts, n_tokens, min_count=model.min_count,
                                           lower=model.lower)
        except (TypeError, ValueError) as e:
            raise bad(str(e)) from None
        model.vocab = vocab
        model._wv = KeyedVectors(words, np.ascontiguousarray(syn0))
        model.syn1neg = np.ascontiguousarray(syn1)
        model.loss_history_ = [float(x) for x in history]
        model._trained = len(history) > 0
        return model
