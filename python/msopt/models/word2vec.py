"""Word2Vec: skip-gram or CBOW with negative sampling, trained in native chunks.

The native loop runs with the GIL released, a chunk of about 0.4 s per call, each going on
where the last one stopped (one thread: the same bits as one call): linear learning-rate
decay from ``alpha`` to ``min_alpha``, random window shrinking, frequent-word subsampling
(``sample``), negatives from the unigram^0.75 distribution, and the exact sigmoid (or
word2vec's 1000-entry table, ``sigmoid="table"``).  Threads split the sentences.  By
default they update the shared tables without locks (Hogwild, as word2vec and gensim do);
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
    staged        str    (only if set_params set some aside for the next build_vocab) JSON
"""

from __future__ import annotations

import json
import os
import time
import warnings
from collections.abc import Callable, Iterable, Iterator, Sequence
from pathlib import Path
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
    refits,
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
from msopt._progress import (
    ChunkSize,
    Tracker,
    check_callbacks,
    check_verbose,
    saved_params,
    set_staged,
    staged_member,
)
from msopt.exceptions import DivergenceError
from msopt.text import Vocabulary
from msopt.text.vocabulary import check_errors, read_file_lines, shown, str_is_not_a_file

__all__ = ["KeyedVectors", "Word2Vec"]

_READING = ("sentences", "corpus_file", "errors")  # arguments of reading, not of the model
_HOW = "call build_vocab() and train() (or pass sentences to the constructor, or load())"

_FORMAT = "msopt-word2vec 1"
_KV_FORMAT = "msopt-keyedvectors 1"
_KEY_TYPES = (str, int, np.integer)  # what may name a row (Doc2Vec's tags are ints too)
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
    """Word vectors by word, with gensim's names and semantics: ``wv[word]``,
    ``get_vector``, ``index_to_key``, ``key_to_index``, ``vectors``, ``in``, ``len``;
    ``most_similar`` (positive, negative, topn, restrict_vocab), ``most_similar_cosmul``,
    ``similar_by_word``, ``similar_by_vector``, ``similarity``, ``n_similarity``,
    ``doesnt_match``; the two standard evaluations; ``save``/``load`` (msopt's ``.npz``,
    no pickle) and word2vec's text and binary formats.

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
    >>> kv.most_similar(positive=["a"], negative=["c"])
    [('b', 0.0)]
    >>> kv.doesnt_match(["a", "b", "c"]), kv.get_vector("b", norm=True).tolist()
    ('a', [0.0, 1.0, 0.0])
    """

    def __init__(self, words: list[str], vectors: np.ndarray) -> None:
        if isinstance(words, (str, bytes)) or not isinstance(words, Iterable):
            raise TypeError(f"words: expected a list of str, got {type(words).__name__}")
        words = list(words)
        if not isinstance(vectors, np.ndarray):
            raise TypeError(f"vectors: expected an ndarray, got {type(vectors).__name__}")
        if vectors.ndim != 2 or len(vectors) != len(words):
            raise ValueError(f"vectors: expected a 2-D array of {len(words)} rows (one per "
                             f"word), got {getattr(vectors, 'shape', type(vectors).__name__)}")
        if len(set(words)) != len(words):
            raise ValueError("words: a word appears twice")
        self.index_to_key = words
        self.key_to_index = {w: i for i, w in enumerate(words)}
        self.vectors = vectors
        self._unit: np.ndarray | None = None

    def __contains__(self, word: Any) -> bool:
        return isinstance(word, str) and word in self.key_to_index

    def __len__(self) -> int:
        return len(self.index_to_key)

    def __getitem__(self, word: str | list[str]) -> np.ndarray:
        """A key's vector (a view of its row), or for a list of keys their rows as a 2-D
        array (a copy), as gensim's ``wv[["a", "b"]]``."""
        if isinstance(word, list):
            return self.vectors[[self._index(w, f"word[{i}]") for i, w in enumerate(word)]]
        return self.vectors[self._index(word)]

    def __repr__(self) -> str:
        n, d = self.vectors.shape
        return f"KeyedVectors({n:,} words, dim={d})"

    def __getstate__(self) -> dict[str, Any]:
        state = self.__dict__.copy()
        state["_unit"] = None  # a cache: rebuilt on first use
        state.pop("_unit_of", None)
        return state

    def _index(self, word: str, name: str = "word") -> int:
        if not isinstance(word, str):
            raise TypeError(f"{name}: expected a str, got {type(word).__name__}")
        try:
            return self.key_to_index[word]
        except KeyError:
            raise KeyError(f"word {shown(word)} is not in the vocabulary") from None

    def _normed(self) -> np.ndarray:
        """Unit vectors, cached until the vectors are trained again or ``vectors`` is
        given another array (rows edited in place: call :meth:`fill_norms` with
        ``force=True``, as in gensim)."""
        if self._unit is None or self.__dict__.get("_unit_of") is not self.vectors:
            n = np.linalg.norm(self.vectors, axis=1, keepdims=True)
            self._unit = self.vectors / np.where(n > 0, n, 1)
            self._unit_of = self.vectors
        return self._unit

    def fill_norms(self, force: bool = False) -> None:
        """Compute the unit vectors that the similarity queries use (gensim's name).  They
        are cached, and made again when the vectors are trained or ``vectors`` is assigned
        another array; after editing rows of ``vectors`` in place, call this with
        ``force=True``.

        Parameters
        ----------
        force : bool, default False
            Make them again even if they are cached."""
        if force:
            self._unit = None
        self._normed()

    def similarity(self, a: str, b: str) -> float:
        """Cosine similarity of two words.

        Parameters
        ----------
        a, b : str
            Two keys with a vector (for Doc2Vec's ``dv``, document tags: ints or strs).

        Returns
        -------
        float
            The cosine of their vectors (0 when either vector is zero)."""
        i, j = self._index(a, "a"), self._index(b, "b")  # a refused word leaves the cache alone
        u = self._normed()
        return float(u[i] @ u[j])

    def get_index(self, key: Any) -> int:
        """The row of ``key``.

        Parameters
        ----------
        key : str
            A key (for Doc2Vec's ``dv``, a document tag: an int or a str).

        Returns
        -------
        int
            Its row in ``vectors`` (its position in ``index_to_key``).

        Raises
        ------
        KeyError
            When ``key`` has no row."""
        return self._index(key, "key")

    def get_vector(self, key: Any, norm: bool = False) -> np.ndarray:
        """The vector of ``key`` (the stored row), or with ``norm=True`` a copy scaled to
        unit length (gensim's ``get_vector``).

        Parameters
        ----------
        key : str
            A key (for Doc2Vec's ``dv``, a document tag: an int or a str).
        norm : bool, default False
            Return a copy scaled to unit length (a zero vector stays zero) instead of the
            row itself.

        Returns
        -------
        ndarray, shape (dim,)
            Of the vectors' dtype: a view of the row of ``vectors`` (writing to it changes
            the row), or with ``norm=True`` a new array."""
        i = self._index(key, "key")
        if check_bool("norm", norm):
            return self._normed()[i].copy()
        return self.vectors[i]

    def _key_list(self, name: str, value: Any) -> list[Any]:
        """gensim's argument forms: None, one key, one 1-D vector, or a list of them."""
        if value is None:
            return []
        if isinstance(value, _KEY_TYPES) or (isinstance(value, np.ndarray) and value.ndim == 1):
            return [value]
        if isinstance(value, (bytes, bytearray, np.ndarray)) or not isinstance(value, Iterable):
            raise TypeError(f"{name}: expected a key, a vector or a list of them, got "
                            f"{type(value).__name__}")
        return list(value)

    def _terms(self, name: str, value: Any, weight: float | None
               ) -> list[tuple[Any, float]]:
        """``(row or vector, weight)`` of each item of ``value``, all checked before any is
        used (a refused call leaves the unit-vector cache alone).  With a default
        ``weight``, an item may be a ``(key or vector, weight)`` pair, as in gensim."""
        out: list[tuple[Any, float]] = []
        for item in self._key_list(name, value):
            w = weight
            if w is not None and isinstance(item, tuple) and len(item) == 2:
                item, w = item[0], check_number(f"{name}: weight", item[1])
            term = (self._query_vector(name, item) if isinstance(item, np.ndarray)
                    else self._index(item, name))
            out.append((term, 1.0 if w is None else w))
        return out

    def _query_vector(self, name: str, item: Any) -> np.ndarray:
        """A vector given as such (kept as it is, as gensim does), checked."""
        v = np.asarray(item, np.float32)
        if v.shape != (self.vectors.shape[1],) or not np.isfinite(v).all():
            raise ValueError(f"{name}: a vector must hold {self.vectors.shape[1]} finite "
                             f"values, got shape {v.shape}")
        return v

    def _not_a_count(self, negative: Any) -> None:
        """``most_similar("cat", 3)``: an int where a word is expected is a count meant as
        ``topn`` (gensim's second parameter is ``negative``)."""
        if isinstance(negative, (int, np.integer)) and negative not in self:
            raise TypeError(f"negative: got the int {negative}, which is not a key; the "
                            "signature is most_similar(positive, negative, topn): to ask for "
                            f"{negative} results pass topn={negative}")

    def _scope(self, topn: Any, restrict_vocab: Any) -> tuple[int | None, int]:
        """``topn`` (None: every similarity, as an array) and the rows searched."""
        topn = check_int("topn", topn, 0, none=True)
        n = check_int("restrict_vocab", restrict_vocab, 0, none=True)
        return topn, min(n or len(self), len(self))  # 0 or None: every row, as gensim

    def _top(self, sims: np.ndarray, topn: int, exclude: set[int]) -> list[tuple[Any, float]]:
        """The ``topn`` best rows of ``sims``, best first (ties by row), ``exclude`` left
        out."""
        k = min(len(sims), topn + len(exclude))
        best = np.argpartition(-sims, k - 1)[:k] if 0 < k < len(sims) else np.arange(len(sims))
        best = best[np.lexsort((best, -sims[best]))]
        return [(self.index_to_key[j], float(sims[j])) for j in best
                if j not in exclude][:topn]

    def most_similar(self, positive: Any = None, negative: Any = None, topn: int | None = 10,
                     restrict_vocab: int | None = None) -> Any:
        """The ``topn`` keys nearest by cosine to the mean of ``positive`` minus
        ``negative`` (gensim's 3CosAdd), the given keys themselves left out.

        Parameters
        ----------
        positive, negative : key, vector, or list of keys, vectors or (key, weight) pairs
            Keys (unit vectors), vectors (taken as they are) and their weights (1 for
            positive, -1 for negative, unless given); the weighted mean is scaled to unit
            length.  ``most_similar("king")`` is ``most_similar(positive=["king"])``.
        topn : int or None, default 10
            How many keys; None returns the similarity of every key, as an array.
        restrict_vocab : int, optional
            Search only the first (most frequent) ``restrict_vocab`` keys.

        Returns
        -------
        list of (key, similarity), best first; or an ndarray when ``topn`` is None."""
        self._not_a_count(negative)
        topn, n = self._scope(topn, restrict_vocab)
        if topn == 0:
            return []
        terms = self._terms("positive", positive, 1.0) + self._terms("negative", negative, -1.0)
        if not terms:
            raise ValueError("positive, negative: no key or vector given")
        mean = np.zeros(self.vectors.shape[1], np.float32)
        for term, weight in terms:
            mean += np.float32(weight) * (term if isinstance(term, np.ndarray)
                                          else self._normed()[term])
        total = sum(abs(w) for _, w in terms)
        if total > 0:
            mean /= np.float32(total)
        exclude = {t for t, _ in terms if not isinstance(t, np.ndarray)}
        norm = np.linalg.norm(mean)
        mean = mean / norm if norm > 0 else mean
        sims = self._normed()[:n] @ mean
        return sims if topn is None else self._top(sims, topn, exclude)

    def most_similar_cosmul(self, positive: Any = None, negative: Any = None,
                            topn: int | None = 10, restrict_vocab: int | None = None) -> Any:
        """The ``topn`` keys that best solve an analogy by 3CosMul (Levy and Goldberg
        2014): the product of the positive keys' cosines over the product of the negative
        keys' (each cosine mapped to [0, 1]), as gensim's ``most_similar_cosmul``.

        Parameters
        ----------
        positive, negative : key, vector, or list of keys or vectors
            Keys stand for their unit vectors; vectors are taken as they are.
        topn : int or None, default 10
            How many keys; None returns the score of every key, as an array.
        restrict_vocab : int, optional
            Search only the first (most frequent) ``restrict_vocab`` keys."""
        self._not_a_count(negative)
        topn, n = self._scope(topn, restrict_vocab)
        if topn == 0:
            return []
        pos = self._terms("positive", positive, None)
        neg = self._terms("negative", negative, None)
        if not pos:
            raise ValueError("positive: no key or vector given")
        unit = self._normed()
        exclude = {t for t, _ in pos + neg if not isinstance(t, np.ndarray)}

        def cosines(terms: list[tuple[Any, float]]) -> Any:  # each mapped to [0, 1]
            return np.prod([(1 + unit[:n] @ (t if isinstance(t, np.ndarray) else unit[t])) / 2
                            for t, _ in terms], axis=0)

        scores = cosines(pos) / (cosines(neg) + 1e-6)
        return scores if topn is None else self._top(scores, topn, exclude)

    def similar_by_vector(self, vector: np.ndarray, topn: int | None = 10,
                          restrict_vocab: int | None = None) -> Any:
        """The ``topn`` keys nearest by cosine to ``vector`` (:meth:`most_similar`).

        Parameters
        ----------
        vector : ndarray, shape (dim,)
            The query: ``dim`` finite values (an inferred document vector, say).  No key
            is left out of the results.
        topn : int or None, default 10
            How many keys; None returns the similarity of every key, as an array.
        restrict_vocab : int, optional
            Search only the first (most frequent) ``restrict_vocab`` keys.

        Returns
        -------
        list of (key, similarity), best first; or an ndarray when ``topn`` is None."""
        if not isinstance(vector, np.ndarray):
            raise TypeError(f"vector: expected an ndarray, got {type(vector).__name__}")
        return self.most_similar([vector], topn=topn, restrict_vocab=restrict_vocab)

    def similar_by_key(self, key: Any, topn: int | None = 10,
                       restrict_vocab: int | None = None) -> Any:
        """The ``topn`` keys nearest by cosine to ``key`` (:meth:`most_similar`).

        Parameters
        ----------
        key : str
            A key with a vector (for Doc2Vec's ``dv``, a document tag: an int or a str);
            it is left out of the results.
        topn : int or None, default 10
            How many keys; None returns the similarity of every key, as an array.
        restrict_vocab : int, optional
            Search only the first (most frequent) ``restrict_vocab`` keys.

        Returns
        -------
        list of (key, similarity), best first; or an ndarray when ``topn`` is None."""
        self._index(key, "key")
        return self.most_similar([key], topn=topn, restrict_vocab=restrict_vocab)

    similar_by_word = similar_by_key

    def doesnt_match(self, words: Iterable[Any]) -> Any:
        """The word of ``words`` farthest from their mean (the unit vectors' mean), as
        gensim's ``doesnt_match``; words without a vector are left out with a warning.

        Parameters
        ----------
        words : iterable of str
            The keys to compare (one key alone is read as a list of one); at least one
            must have a vector.

        Returns
        -------
        key
            The key of ``words`` whose unit vector has the lowest cosine with the mean."""
        words = self._key_list("words", words)
        used = [w for w in words if w in self]
        if len(used) != len(words):
            missing = [w for w in words if w not in self]
            listed = ", ".join(shown(str(w)) for w in missing[:5])
            warnings.warn(f"words: {listed}{', ...' if len(missing) > 5 else ''} have no "
                          "vector and are left out", UserWarning, stacklevel=2)
        if not used:
            raise ValueError("words: none of them has a vector")
        unit = self._normed()[[self._index(w) for w in used]]
        mean = unit.mean(axis=0)
        mean /= max(np.linalg.norm(mean), np.finfo(np.float32).tiny)
        return min(zip((unit @ mean).tolist(), used))[1]

    def n_similarity(self, ws1: Iterable[Any], ws2: Iterable[Any]) -> float:
        """Cosine similarity of the means of two lists of keys' vectors (gensim's
        ``n_similarity``; a key without a vector raises KeyError, where gensim leaves it
        out).

        Parameters
        ----------
        ws1, ws2 : iterable of str
            Two non-empty lists of keys (one key alone is read as a list of one); the
            stored vectors, not unit ones, are averaged.

        Returns
        -------
        float
            The cosine of the two means (0 when either mean is zero).

        Raises
        ------
        KeyError
            When a key has no vector."""
        means = []
        for name, ws in (("ws1", ws1), ("ws2", ws2)):
            keys = self._key_list(name, ws)
            if not keys:
                raise ValueError(f"{name}: empty; at least one key is needed")
            m = self.vectors[[self._index(k, name) for k in keys]].mean(axis=0)
            norm = np.linalg.norm(m)
            means.append(m / norm if norm > 0 else m)
        return float(means[0] @ means[1])

    def save_word2vec_format(self, path: str | os.PathLike[str], binary: bool = False,
                             write_header: bool = True) -> None:
        """Write the vectors in word2vec's format, which gensim, fastText (``.vec``) and
        word2vec.c read: a header line ``count dim``, then one line per word, best first.

        Text (``binary=False``): ``word v1 v2 ...``, each value the shortest text that reads
        back as the same float32.  Binary: ``word `` (UTF-8), ``dim`` little-endian
        float32 values, then a newline, as word2vec.c writes.  The file is replaced atomically.
        Words must hold no whitespace (the format's separator); keys are written as text
        (Doc2Vec's int tags too).

        Parameters
        ----------
        path : str or os.PathLike
            The file to write (a path, not an open file).
        binary : bool, default False
            Write the binary format rather than text.
        write_header : bool, default True
            Write the ``count dim`` line first (False: the vector lines only)."""
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
        what its header says raises ValueError naming the file and the line or word.

        Parameters
        ----------
        path : str or os.PathLike
            The file to read.
        binary : bool, default False
            Read the binary format rather than text.
        limit : int, optional
            Read only the first ``limit`` words (>= 0); default all of them.
        encoding : str, default "utf-8"
            The encoding of the words (and, in the text format, of the lines).
        unicode_errors : str, default "strict"
            What bytes that are not valid in ``encoding`` become, as ``bytes.decode``'s
            ``errors`` ("strict" raises, "replace", "ignore", ...).

        Returns
        -------
        KeyedVectors
            The words in file order, with float32 vectors.

        Raises
        ------
        ValueError
            When the file does not hold what its header says, or holds a word twice."""
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

    def save(self, path: str | os.PathLike[str]) -> None:
        """Write the words and vectors to ``path`` (exactly; no extension is added), one
        ``.npz`` archive without pickled objects: ``format`` ("msopt-keyedvectors 1"),
        ``words`` (their UTF-8 text joined by newlines, as uint8) and ``vectors`` (as they
        are stored).  The file is replaced atomically, as :meth:`Word2Vec.save`.  Read it
        back with :meth:`KeyedVectors.load`.

        Parameters
        ----------
        path : str or os.PathLike
            The file to write (a path, not an open file).  Every key must be a non-empty
            str without a newline (Doc2Vec's document vectors are saved with the model,
            :meth:`Doc2Vec.save`)."""
        bad = next((w for w in self.index_to_key if not isinstance(w, str) or "\n" in w
                    or not w), None)
        if bad is not None:
            raise ValueError(f"words: {bad!r} cannot be saved (keys must be non-empty str "
                             "without newlines; Doc2Vec's tags are saved with the model)")
        with atomic_write(check_path(path)) as f:
            np.savez(f, format=np.array(_KV_FORMAT), words=pack_words(self.index_to_key),
                     vectors=np.ascontiguousarray(self.vectors))

    @classmethod
    def load(cls, path: str | os.PathLike[str]) -> KeyedVectors:
        """Read a file written by :meth:`save`.  Anything else (another file, a truncated or
        corrupt one, members of the wrong type or shape) raises ValueError naming the file;
        a missing file raises FileNotFoundError.

        Parameters
        ----------
        path : str or os.PathLike
            The file to read.

        Returns
        -------
        KeyedVectors
            The words and their vectors, of the dtype they were saved with.

        Raises
        ------
        ValueError
            For anything but a file written by :meth:`save`, naming the file.
        FileNotFoundError
            For a missing file."""
        name = check_path(path)
        a = read_npz(name, _KV_FORMAT, "msopt KeyedVectors")
        if {"words", "vectors"} - a.keys():
            raise ValueError(f"{name}: not a valid msopt KeyedVectors file (missing "
                             f"{sorted({'words', 'vectors'} - a.keys())})")
        vectors = a["vectors"]
        words = unpack_words(a["words"], name) if len(vectors) else []
        if vectors.ndim != 2 or vectors.dtype.kind != "f" or len(vectors) != len(words) \
                or len(set(words)) != len(words) or not all(words):
            raise ValueError(f"{name}: not a valid msopt KeyedVectors file (vectors: a 2-D "
                             f"float array of one row per distinct word)")
        return cls(words, vectors)

    def _folded(self, restrict_vocab: int, case_insensitive: bool) -> dict[str, int]:
        """Word (upper-cased if case_insensitive, as gensim does) -> id among the first
        restrict_vocab words (the most frequent); the most frequent spelling wins."""
        out: dict[str, int] = {}
        for i, w in enumerate(self.index_to_key[:restrict_vocab]):
            out.setdefault(w.upper() if case_insensitive else w, i)
        return out

    def evaluate_word_analogies(self, analogies: str | os.PathLike[str],
                                restrict_vocab: int = 300_000, case_insensitive: bool = True,
                                dummy4unknown: bool = False
                                ) -> tuple[float, list[dict[str, Any]]]:
        """Accuracy on analogy questions in the ``questions-words.txt`` format, as gensim's
        ``evaluate_word_analogies``.

        Lines ``: section`` start a section; the others hold ``a b c d``, asking for the
        word ``x`` closest to ``b - a + c`` by cosine (3CosAdd), ``a``, ``b`` and ``c``
        excluded, among the ``restrict_vocab`` most frequent words.  Questions with a word
        outside them are skipped (or, with ``dummy4unknown``, counted as incorrect).  Words
        are compared upper-cased when ``case_insensitive`` (as gensim does), the most
        frequent spelling standing for each.

        Parameters
        ----------
        analogies : str or os.PathLike
            The file (UTF-8; a byte-order mark is dropped).
        restrict_vocab : int, default 300,000
            Questions and answers among the first (most frequent) words only.
        case_insensitive : bool, default True
            Compare words upper-cased.
        dummy4unknown : bool, default False
            Count a question with an unknown word as incorrect rather than skip it.

        Returns
        -------
        (accuracy, sections): accuracy is correct / (correct + incorrect) over every
        section (0.0 when no question was answered); each section is a dict of
        ``section`` (its name), ``correct`` and ``incorrect`` (lists of the questions'
        ``(a, b, c, d)`` tuples, upper-cased when ``case_insensitive``), the last one
        ``"Total accuracy"`` over them all."""
        check_bool("case_insensitive", case_insensitive)
        check_bool("dummy4unknown", dummy4unknown)
        n = min(check_int("restrict_vocab", restrict_vocab, 1), len(self))
        vocab = self._folded(n, case_insensitive)
        unit = self._normed()[:n]
        spelled: dict[str, list[int]] = {}  # every spelling of each folded word
        for i, w in enumerate(self.index_to_key[:n]):
            spelled.setdefault(w.upper() if case_insensitive else w, []).append(i)
        name = check_path(analogies, "analogies")
        sections: list[dict[str, Any]] = []
        questions: list[list[tuple[str, ...]]] = []
        for number, line in enumerate(read_file_lines(name), 1):
            if line.startswith(":"):
                sections.append({"section": line.lstrip(": ").strip(), "correct": [],
                                 "incorrect": []})
                questions.append([])
                continue
            words = line.split()
            if not words:
                continue
            if len(words) != 4:
                raise ValueError(f"{name}: line {number} does not hold 4 words")
            if not sections:
                raise ValueError(f"{name}: line {number} comes before any ': section' line")
            q = tuple(w.upper() if case_insensitive else w for w in words)
            if all(w in vocab for w in q) or dummy4unknown:
                questions[-1].append(q)
        for sec, qs in zip(sections, questions):  # in file order, as gensim lists them
            known = [q for q in qs if all(w in vocab for w in q)]
            hits = set()
            ids = np.array([[vocab[w] for w in q] for q in known], np.int64).reshape(-1, 4)
            target = unit[ids[:, 1]] - unit[ids[:, 0]] + unit[ids[:, 2]]
            for start in range(0, len(known), 1024):  # bounded memory: 1024 x n scores
                sims = target[start:start + 1024] @ unit.T
                for row, q in enumerate(known[start:start + 1024]):
                    for w in q[:3]:
                        sims[row, spelled[w]] = -np.inf
                for row, b in enumerate(sims.argmax(axis=1)):
                    w = self.index_to_key[int(b)]
                    if (w.upper() if case_insensitive else w) == known[start + row][3]:
                        hits.add(start + row)
            rows = iter(range(len(known)))
            for q in qs:  # an unknown word's question (dummy4unknown) is incorrect
                hit = all(w in vocab for w in q) and next(rows) in hits
                sec["correct" if hit else "incorrect"].append(q)
        total = {"section": "Total accuracy",
                 **{k: [q for s in sections for q in s[k]] for k in ("correct", "incorrect")}}
        sections.append(total)
        answered = len(total["correct"]) + len(total["incorrect"])
        return (len(total["correct"]) / answered if answered else 0.0), sections

    def evaluate_word_pairs(self, path: str | os.PathLike[str], delimiter: str = "\t",
                            restrict_vocab: int = 300_000, case_insensitive: bool = True
                            ) -> tuple[float, float, float]:
        """Agreement with human similarity judgements in the WordSim-353 format: lines
        ``word1<delimiter>word2<delimiter>score``, ``#`` lines are comments.

        Returns ``(pearson, spearman, oov_percent)``: the correlations between the cosine
        similarities and the scores over the pairs whose words are among the
        ``restrict_vocab`` most frequent, and the percentage of pairs skipped.

        Parameters
        ----------
        path : str or os.PathLike
            The file (UTF-8; a byte-order mark is dropped).  Blank lines are skipped too;
            fields after the third are ignored.
        delimiter : str, default "\\t"
            What separates the fields of a line.
        restrict_vocab : int, default 300,000
            Pairs among the first (most frequent) words only; the others are skipped.
        case_insensitive : bool, default True
            Compare words upper-cased (as gensim does), the most frequent spelling standing
            for each.

        Returns
        -------
        (pearson, spearman, oov_percent) : tuple of float
            Pearson's and Spearman's correlation (NaN when undefined, as for constant
            scores) and the percentage of pairs skipped, in [0, 100]."""
        vocab = self._folded(int(restrict_vocab), case_insensitive)
        unit = self._normed()
        model, human, skipped = [], [], 0
        for number, line in enumerate(read_file_lines(check_path(path)), 1):
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


def _check_pairs(ids: np.ndarray, offsets: np.ndarray) -> None:
    """Refuse a corpus in which no sentence holds two known words: skip-gram and CBOW learn
    from words that share a sentence, so its vectors would stay random (loss 0)."""
    lengths = np.diff(np.r_[offsets, len(ids)])
    if not len(lengths):
        raise ValueError("sentences: no sentences to train on (an iterator read to its end "
                         "already, by build_vocab say?); nothing was trained")
    if lengths.max() < 2:
        raise ValueError(
            f"sentences: none of the {len(lengths):,} sentences holds two known words, so "
            "there is nothing to learn from.  A flat list of tokens (text.split()) is a list "
            "of one-word sentences: pass a list of sentences instead, e.g. [text.split()] "
            "for one sentence, or [line.split() for line in text.splitlines()]")


def _zero_or_one(v: Any) -> bool:
    """0 or 1 (an int or a bool, NumPy's too)."""
    return isinstance(v, (int, np.integer, np.bool_)) and v in (0, 1)


class _JoinedLines:
    """Sentences as lines of text, token lists joined by spaces as each pass reads them."""

    def __init__(self, sentences: Iterable[Any]) -> None:
        self.sentences = sentences

    def __iter__(self) -> Iterator[str]:
        return (s if isinstance(s, str) else _joined(i, s) for i, s in enumerate(self.sentences))


def _joined(i: int, tokens: Any, name: str = "sentences") -> str:
    """A token list joined by spaces; TypeError naming ``sentences[i]`` otherwise, and
    ValueError for a token holding whitespace that the native tokenizer splits at (ASCII
    space, \t \n \v \f \r), which the line would read as two words.  Empty tokens are
    dropped, as the line's split drops them."""
    try:
        if not isinstance(tokens, (list, tuple)):
            tokens = list(tokens)
        line = " ".join(tokens)
    except TypeError:
        if isinstance(tokens, (list, tuple)):
            bad = next(t for t in tokens if not isinstance(t, str))
            raise TypeError(f"{name}[{i}]: tokens must be str, got {type(bad).__name__} "
                            f"({bad!r})") from None
        raise TypeError(f"{name}[{i}]: expected a str or a list of str tokens, got "
                        f"{type(tokens).__name__}") from None
    if tokens and (line.count(" ") >= len(tokens) or "\t" in line or "\n" in line
                   or "\r" in line or "\v" in line or "\f" in line):  # (faster than a regex)
        bad = next((t for t in tokens if t.split() != [t] and t), line)
        raise ValueError(f"{name}[{i}]: the token {bad!r} holds whitespace; a token is one "
                         "word (pass 'new_york', or the words as tokens of their own)")
    return line


class GensimNames:
    """gensim's attribute names, read-only, for the models that take them as aliases."""

    vector_size = property(lambda self: self.dim, doc="gensim's name for ``dim``.")
    workers = property(lambda self: self.threads, doc="gensim's name for ``threads``.")
    alpha = property(lambda self: self.lr, doc="gensim's name for ``lr``.")
    min_alpha = property(lambda self: self.min_lr, doc="gensim's name for ``min_lr``.")


def _first_vectors(seed: int, V: int, dim: int) -> np.ndarray:
    """The word vectors build_vocab starts from: uniform in [-1, 1) / dim, float32, as
    gensim 4's (word2vec.c: half that)."""
    syn0 = np.random.default_rng(seed).random((V, dim), dtype=np.float32)
    syn0 *= np.float32(2)
    syn0 -= np.float32(1)
    syn0 /= np.float32(dim)
    return syn0


class Word2Vec(GensimNames, ParamsMixin):
    """word2vec with negative sampling, skip-gram (``sg=1``) or CBOW (``sg=0``).

    msopt's names are canonical (``dim``, ``threads``, ``lr``, ...); gensim's names are
    accepted as aliases (``vector_size``, ``workers``, ``alpha``, ``min_alpha``,
    ``max_final_vocab``, ``iter``) and gensim's attribute names read the same values.

    Parameters
    ----------
    sentences : iterable of str, iterable of token lists, or os.PathLike, optional
        When given, the vocabulary is built from them and they are trained on at once.
        Each item is one sentence: a str line (split on whitespace) or a list of str
        tokens; a file (``pathlib.Path``) holds one sentence per line, read as UTF-8 (a
        byte-order mark dropped).  A plain str is never opened as a file: it is refused
        (TypeError), as is a corpus in which no sentence holds two known words (a flat
        list of tokens such as ``text.split()``: ValueError).  A sentence (a line) of more
        than 10,000 known words is cut into pieces of 10,000.
    dim : int, default 100
        Width of the word vectors (alias ``vector_size``).
    window : int, default 5
        Largest distance between a word and a context word (shrunk at random per word).
    negative : int, default 5
        Negative samples per example, 1 to 1000 (msopt trains with negative sampling only:
        it has no hierarchical softmax, so 0 is refused).
    sg : {1, 0}
        Skip-gram (1) or CBOW (0).
    min_count : int, default 5
        Words seen fewer times are dropped.
    epochs : int, default 5
        Passes over the corpus per ``train`` call, at least 1 (alias ``iter``).
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
    corpus_file : str or os.PathLike, optional
        A file to train on instead of ``sentences`` (gensim's name): one sentence per line.
    errors : {"strict", "replace", "ignore"}
        What bytes of a file that are not UTF-8 become (as ``open()``): "strict" raises a
        ValueError naming the file and line.  ``corpus_file`` and ``errors`` are arguments
        of this first training, not hyperparameters (not in ``get_params``).

    Attributes
    ----------
    wv : KeyedVectors
        The word vectors.
    vocab : msopt.text.Vocabulary
    syn1neg : ndarray of float32
        The output vectors.  These three raise :class:`msopt.NotFittedError` before
        ``build_vocab``; ``loss_history_`` and the other fitted attributes before ``train``.
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
    # what the fitted vocabulary and tables are made for (build_vocab takes new values)
    _structural = ("dim", "min_count", "max_vocab", "lower")

    def _fitted_marker(self) -> Any:
        return self.__dict__.get("_wv")
    # Words per native call and thread: None sizes them to about 0.4 s of work,
    # except with deterministic threads, whose bits depend on the chunks: then 2**18.
    _chunk_words: int | None = None

    @classmethod
    def _get_param_names(cls) -> list[str]:
        # the corpus and how to read it are arguments of the constructor's training, not
        # hyperparameters
        return [n for n in super()._get_param_names() if n not in _READING]

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
                 verbose: bool | int = False, *,
                 corpus_file: str | os.PathLike[str] | None = None,
                 errors: str = "strict") -> None:
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
        self._vocab: Vocabulary | None = None
        self._wv: KeyedVectors | None = None
        self._syn1neg: np.ndarray | None = None
        self._trained = False
        if sentences is not None or corpus_file is not None:
            lines = self._lines(sentences, corpus_file, errors)  # a one-shot iterator read once
            self.build_vocab(lines, errors=errors)
            self.train(lines, errors=errors)

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
                                ("epochs", 1, MAX_EPOCHS), ("min_count", 1, INT64_MAX)):
            check_int(name, getattr(self, name), low, hi=high)
        check_int("negative", self.negative, -INT64_MAX)
        if not 1 <= self.negative <= 1000:  # without negatives, no output vector learns
            raise ValueError(f"negative: 1 <= negative <= 1000 is required, got "
                             f"{self.negative} (msopt's Word2Vec trains with negative "
                             "sampling only; it has no hierarchical softmax, gensim's hs=1)")
        check_seed("seed", self.seed)
        check_int("threads", self.threads, 1, none=True, hi=MAX_THREADS)
        check_int("max_vocab", self.max_vocab, 1, none=True, hi=INT64_MAX)
        check_number("lr", self.lr, lo=0, strict=True)
        check_number("min_lr", self.min_lr, lo=0)
        check_number("sample", self.sample, lo=0)
        for name in ("lower", "deterministic", "compute_loss"):
            check_bool(name, getattr(self, name))

    def __setstate__(self, state: dict[str, Any]) -> None:
        state = dict(state)
        for name in ("vocab", "syn1neg"):  # pickles of versions that stored them public
            if name in state:
                state[f"_{name}"] = state.pop(name)
        self.__dict__.update(state)

    def _built(self, value: Any) -> Any:
        """``value``, a table build_vocab makes; NotFittedError while it is None."""
        if value is None:
            raise not_fitted(self, _HOW)
        return value

    @property
    def wv(self) -> KeyedVectors:
        """The word vectors; :class:`msopt.NotFittedError` before :meth:`build_vocab`."""
        return self._built(self._wv)  # type: ignore[no-any-return]

    @property
    def vocab(self) -> Vocabulary:
        """The vocabulary; :class:`msopt.NotFittedError` before :meth:`build_vocab`."""
        return self._built(self._vocab)  # type: ignore[no-any-return]

    @property
    def syn1neg(self) -> np.ndarray:
        """The output vectors; :class:`msopt.NotFittedError` before :meth:`build_vocab`."""
        return self._built(self._syn1neg)  # type: ignore[no-any-return]

    def __getattr__(self, name: str) -> Any:
        # Fitted attributes (``loss_history_``, ``train_seconds_``, ...) exist after train;
        # a property's NotFittedError (an AttributeError too) also ends here.
        if name in ("vocab", "syn1neg", "wv"):
            raise not_fitted(self, _HOW)
        if name.endswith("_") and not name.startswith("__"):
            raise not_fitted(self, f"{name} is set by train(); call build_vocab() and "
                                   "train() (or pass sentences to the constructor)")
        raise AttributeError(f"{type(self).__name__!r} object has no attribute {name!r}")

    def _repr_state(self) -> list[str]:
        if self._vocab is None:
            return []
        return [f"vocab={len(self._vocab):,} words",
                "trained" if self._trained else "not trained"]

    @staticmethod
    def _lines(sentences: Any, corpus_file: Any = None, errors: str = "strict") -> Any:
        """What each pass reads: a file (an os.PathLike, or ``corpus_file``) as it is
        (streamed from disk), a re-iterable collection as lines joined on the fly (the
        corpus is not held twice), a one-shot iterator as a list of its lines (read once).
        A plain str is refused: it is never opened as a file."""
        check_errors(errors)
        if corpus_file is not None:
            if sentences is not None:
                raise TypeError("sentences, corpus_file: pass one of them, not both")
            return Path(check_path(corpus_file, "corpus_file"))
        if sentences is None:
            raise TypeError("sentences: expected sentences (or corpus_file=...), got None")
        if isinstance(sentences, str):
            raise str_is_not_a_file("sentences", sentences, keyword="corpus_file")
        if isinstance(sentences, (bytes, bytearray)):
            raise TypeError("sentences: expected an iterable of sentences or an os.PathLike "
                            "(a file), got bytes")
        if isinstance(sentences, (os.PathLike, _JoinedLines)):
            return sentences  # a file, or lines already joined
        if not isinstance(sentences, Iterable):
            raise TypeError(f"sentences: expected an iterable of sentences or an os.PathLike "
                            f"(a file), got {type(sentences).__name__}")
        if iter(sentences) is sentences:
            return list(_JoinedLines(sentences))
        return _JoinedLines(sentences)

    @refits
    def build_vocab(self, sentences: os.PathLike[str] | Iterable[Any] | None = None, *,
                    corpus_file: str | os.PathLike[str] | None = None,
                    errors: str = "strict") -> Word2Vec:
        """Count the words and start new vectors (gensim's initialization: inputs uniform
        in [-1, 1) / dim, outputs zero; word2vec.c draws from half that range,
        which measured 0.6 points lower on Austen's analogies with CBOW).

        Parameters
        ----------
        sentences : os.PathLike or iterable of str or of token lists
            The corpus (see the class's ``sentences``); a plain str is refused.
        corpus_file : str or os.PathLike, optional
            A UTF-8 file of one sentence per line, instead of ``sentences`` (gensim's name).
        errors : {"strict", "replace", "ignore"}
            What bytes of a file that are not UTF-8 become (as ``open()``)."""
        self._check_params()
        lines = self._lines(sentences, corpus_file, errors)
        vocab = named_errors("sentences", lambda: Vocabulary(
            self.min_count, self.max_vocab, lower=self.lower).fit(lines, errors=errors))
        V, dim = len(vocab), int(self.dim)
        # The tables' size, before they are allocated: syn0 and syn1neg, and their copies
        # that train keeps to undo a diverged call.
        check_memory("Word2Vec", f"{V:,} words x dim={dim:,} float32 vectors", V * dim * 4, 4,
                     what="building and training need",
                     hint="Reduce dim, or the vocabulary (min_count, max_vocab).")
        syn0 = _first_vectors(self.seed, V, dim)
        syn1neg = np.zeros((V, dim), np.float32)
        # installed only now that nothing can fail
        self._vocab, self._syn1neg, self._wv = vocab, syn1neg, KeyedVectors(vocab.words, syn0)
        self._trained = False
        self.__dict__.pop("loss_history_", None)  # the history restarts with the vectors
        return self

    def train(self, sentences: os.PathLike[str] | Iterable[Any] | None = None,
              epochs: int | None = None, *, corpus_file: str | os.PathLike[str] | None = None,
              errors: str = "strict") -> Word2Vec:
        """Train the current vectors on ``sentences`` (or ``corpus_file``, read with
        ``errors`` as in :meth:`build_vocab`) for ``epochs`` (default ``self.epochs``); the
        rate decays from ``alpha`` to ``min_alpha`` over the call.  Words outside the
        vocabulary are dropped.  A corpus in which no sentence holds two known words (a flat
        list of tokens, say) is refused: there is nothing to learn.  Native chunks of the
        call report to ``callbacks`` and ``verbose``; Ctrl-C keeps the chunks done.

        Parameters
        ----------
        sentences : os.PathLike or iterable of str or of token lists, optional
            The corpus (see the class's ``sentences``); a plain str is refused.  Pass it or
            ``corpus_file``, not both.
        epochs : int, optional
            Passes over the corpus in this call, 1 to 1,000,000; default ``self.epochs``
            (which stays as it is).
        corpus_file : str or os.PathLike, optional
            A UTF-8 file of one sentence per line, instead of ``sentences`` (gensim's name).
        errors : {"strict", "replace", "ignore"}, default "strict"
            What bytes of a file that are not UTF-8 become (as ``open()``).

        Returns
        -------
        Word2Vec
            self, its vectors trained in place; each finished epoch's mean loss is
            appended to ``loss_history_``."""
        if self._vocab is None or self._wv is None or self._syn1neg is None:
            raise not_fitted(self, "call build_vocab() (or pass sentences to the "
                                   "constructor)")
        self._check_params()
        epochs = check_int("epochs", self.epochs if epochs is None else epochs, 1,
                           hi=MAX_EPOCHS)
        vocab = self._vocab
        lines = self._lines(sentences, corpus_file, errors)
        ids, offsets = named_errors("sentences", lambda: vocab.encode(lines, errors=errors))
        _check_pairs(ids, offsets)
        offsets = _cut_long(offsets, len(ids))
        threads = int(self.threads or _core.get_num_threads())
        # The tables are trained in place; a copy puts them back if the training diverges
        # (a rate too large for the data writes Inf, then NaN).
        vectors, syn1neg = self.wv.vectors, self.syn1neg
        undo = (vectors.copy(), syn1neg.copy())
        had_history = "loss_history_" in self.__dict__
        self.loss_history_: list[float] = self.__dict__.get("loss_history_", [])
        history = len(self.loss_history_)

        def forget() -> None:  # this call's epochs leave the history
            del self.loss_history_[history:]
            if not had_history:
                del self.loss_history_

        # One native call per chunk of words, resumed from where the last one stopped: the
        # same bits as one whole call with one thread.
        fixed = self._chunk_words
        if fixed is None and self.deterministic and threads > 1:
            fixed = 1 << 18
        chunk = ChunkSize(fixed, 1 << 16)
        resume = np.zeros((threads, 4 + 2 * epochs), np.int64)
        corpus = _core.RaggedIds(ids, offsets, len(vocab))
        # Built once here, not by every chunk (a pow per word: 50 ms at a million words).
        sampler = _core.Word2VecSampler(vocab.counts, float(self.sample))
        train_chunk = _core.word2vec_train_chunk
        total, lr, min_lr = len(ids) * epochs, float(self.lr), float(self.min_lr)
        t0 = time.perf_counter()
        try:
            with Tracker(self, epochs=epochs, total=total, unit="words",
                         callbacks=self.callbacks, verbose=self.verbose) as track:
                done = 0
                while True:
                    chunk.start()
                    losses, words, examples, seen, done = train_chunk(
                        corpus, sampler, vectors, syn1neg,
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
                forget()
            else:
                self._trained = True
            self.wv._unit = None
            raise
        except BaseException:  # a failed call changes nothing
            np.copyto(vectors, undo[0])
            np.copyto(syn1neg, undo[1])
            forget()
            raise
        if not finite:
            np.copyto(vectors, undo[0])
            np.copyto(syn1neg, undo[1])
            forget()
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
        umask).  ``path`` is a path, not an open file.

        Parameters
        ----------
        path : str or os.PathLike
            The file to write."""
        if self._vocab is None or self._wv is None or self._syn1neg is None:
            raise not_fitted(self, "nothing to save; call build_vocab() and train()")
        self._check_params()  # a file that load would refuse is not written
        with atomic_write(check_path(path)) as f:
            np.savez(f, format=np.array(_FORMAT), params=np.array(json.dumps(self._params())),
                     words=pack_words(self.vocab.words), counts=self.vocab.counts,
                     total_tokens=np.array(self.vocab.total_tokens, np.int64),
                     syn0=self.wv.vectors, syn1neg=self.syn1neg,
                     loss_history=np.array(self.__dict__.get("loss_history_", []), np.float64),
                     **staged_member(self))  # type: ignore[arg-type]

    @classmethod
    def load(cls, path: str | os.PathLike[str]) -> Word2Vec:
        """Read a model written by :meth:`save`; training can continue from it.

        A file that is not one (another file, a truncated or corrupt one, members of the
        wrong type or shape, hyperparameters the constructor refuses) raises ValueError
        naming the file and the member or hyperparameter; a missing file raises
        FileNotFoundError.

        Parameters
        ----------
        path : str or os.PathLike
            The file to read.

        Returns
        -------
        Word2Vec
            The model as saved: hyperparameters, vocabulary, vectors and loss history.

        Raises
        ------
        ValueError
            For anything but a file written by :meth:`save`, naming the file and the member
            or hyperparameter.
        FileNotFoundError
            For a missing file."""
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
        model._vocab = vocab
        model._wv = KeyedVectors(words, np.ascontiguousarray(syn0))
        model._syn1neg = np.ascontiguousarray(syn1)
        model.loss_history_ = [float(x) for x in history]
        model._trained = len(history) > 0
        try:
            set_staged(model, a)
        except (TypeError, ValueError) as e:
            raise bad(str(e)) from None
        return model
