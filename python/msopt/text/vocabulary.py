"""Text to ids: streaming word counts, a vocabulary, and fastText-style hashed n-grams.

A corpus is an iterable of str lines, or a file named by an ``os.PathLike`` such as
``pathlib.Path`` (read as UTF-8, a byte-order mark dropped): a plain str is never opened as
a file.  Tokens are runs of non-whitespace characters (ASCII whitespace separates them, as in
word2vec and fastText); ``lower=True`` lower-cases each line first.  The counting and
encoding run in C++ on each line's UTF-8 bytes, without the GIL.

Vocabulary file format (``Vocabulary.save``), UTF-8 text:

    msopt-vocab 1
    words <K>  total_tokens <N>  min_count <m>  lower <0|1>
    <count>\\t<word>          (K lines, in id order)

Every line ends in ``\\n``; a file whose last line does not is read as truncated.

Examples
--------
>>> from msopt.text import Vocabulary
>>> vocab = Vocabulary(min_count=1).fit(["the cat sat", "the dog sat down"])
>>> vocab.words[:3], len(vocab)
(['the', 'sat', 'cat'], 5)
>>> ids, offsets = vocab.encode(["the dog", "a cat"])
>>> ids.tolist(), offsets.tolist()
([0, 3, 2], [0, 2])
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterable, Iterator
from typing import Any

import numpy as np

from msopt import _core
from msopt._api import ParamsMixin, check_bool, check_int, keyword_aliases, not_fitted, refits
from msopt._io import atomic_write, check_path

__all__ = ["Vocabulary", "check_errors", "iter_lines", "read_file_lines", "read_file_text",
           "read_labeled", "shown", "str_is_not_a_file"]

_HEADER = "msopt-vocab 1"
_INT64_MAX = 2**63 - 1


def _int64(name: str, value: Any, lo: int, *, none: bool = False) -> Any:
    """An int in [lo, 2**63) (the native counters are int64), named in the error."""
    v = check_int(name, value, lo, none=none)
    if v is not None and v > _INT64_MAX:
        raise ValueError(f"{name}: must be < 2**63, got {v}")
    return v


def _is_utf8(word: str) -> bool:
    try:
        word.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


@contextlib.contextmanager
def _utf8_errors() -> Iterator[None]:
    """A str line with a lone surrogate cannot be UTF-8 encoded for the native counter:
    a ValueError naming ``source`` instead of the codec's."""
    try:
        yield
    except UnicodeEncodeError as e:
        raise ValueError(f"source: a line holds {e.object[e.start:e.end]!r}, which is not "
                         f"valid Unicode text ({e.reason})") from None
    except ValueError as e:  # the native counter's "lines[i]: not valid Unicode text"
        if not str(e).startswith("lines["):
            raise
        raise ValueError(f"source: {str(e)[len('lines'):]}") from None


_ERRORS = ("strict", "replace", "ignore")


def check_errors(errors: Any) -> str:
    """``errors`` for reading a UTF-8 file, as ``open()`` takes it: "strict" (bytes that are
    not UTF-8 raise), "replace" (read as U+FFFD) or "ignore" (dropped)."""
    if not isinstance(errors, str):
        raise TypeError(f"errors: expected a str, got {type(errors).__name__}")
    if errors not in _ERRORS:
        raise ValueError(f"errors: expected 'strict', 'replace' or 'ignore', got "
                         f"{errors[:40]!r}")
    return errors


def shown(text: str, size: int = 40) -> str:
    """``text`` for an error message: its repr, cut to ``size`` characters with its
    length when it is longer."""
    if len(text) <= size:
        return repr(text)
    return f"{text[:size]!r}... ({len(text):,} characters)"


def str_is_not_a_file(name: str, text: str, *, keyword: str | None = None) -> TypeError:
    """The TypeError for a str given where a corpus is expected: msopt never opens a str
    as a file (a file is named by an ``os.PathLike``, or by a ``keyword`` such as gensim's
    ``corpus_file``), nor takes one str as a whole corpus."""
    also = f" or {keyword}=..." if keyword else ""
    return TypeError(
        f"{name}: got a str ({shown(text)}); a str is never opened as a file, nor read as "
        f"a whole corpus.  Pass a list of lines (str, e.g. text.splitlines(), or token "
        f"lists), or name a file with pathlib.Path(...){also}")


def read_file_lines(path: str | os.PathLike[str], errors: str = "strict") -> Iterator[str]:
    """The lines of a UTF-8 file, one at a time, each with its line end; a byte-order mark
    at the start of the file is dropped (``utf-8-sig``).  Bytes that are not UTF-8 raise a
    ValueError naming the file and line (``errors="strict"``), or are read as U+FFFD
    ("replace") or dropped ("ignore")."""
    check_errors(errors)
    with open(path, "rb") as f:
        for number, raw in enumerate(f, 1):
            try:
                yield raw.decode("utf-8-sig" if number == 1 else "utf-8", errors=errors)
            except UnicodeDecodeError as e:
                raise ValueError(f"{os.fspath(path)!s}: line {number} is not UTF-8 "
                                 f"({e.reason} at byte {e.start}); pass errors='replace' to "
                                 "read such bytes as U+FFFD, or errors='ignore' to drop "
                                 "them") from None


def read_file_text(path: str | os.PathLike[str], errors: str = "strict") -> str:
    """A whole UTF-8 file as one str, as :func:`read_file_lines` reads it, with ``\\r\\n``
    and ``\\r`` line ends read as ``\\n`` (as ``open()`` in text mode)."""
    text = "".join(read_file_lines(path, errors))
    return text.replace("\r\n", "\n").replace("\r", "\n")


def iter_lines(source: os.PathLike[str] | Iterable[str], *, errors: str = "strict"
               ) -> Iterator[str]:
    """Lines of a file (an ``os.PathLike`` such as ``pathlib.Path``, read as UTF-8 one line
    at a time, a byte-order mark dropped) or of an iterable of str.

    A plain str is never opened as a file (nor read as lines): TypeError.  ``errors``
    ("strict", "replace" or "ignore", as ``open()``) says what bytes that are not UTF-8
    become; "strict" raises a ValueError naming the file and line."""
    check_errors(errors)
    if isinstance(source, os.PathLike):
        yield from read_file_lines(source, errors)
        return
    if isinstance(source, str):
        raise str_is_not_a_file("source", source)
    if isinstance(source, (bytes, bytearray)):
        raise TypeError("source: an os.PathLike (a file) or an iterable of str, not bytes")
    if not isinstance(source, Iterable):
        raise TypeError(f"source: expected an os.PathLike (a file) or an iterable of str, got "
                        f"{type(source).__name__}")
    for line in source:
        if not isinstance(line, str):
            raise TypeError(f"source: lines must be str, got {type(line).__name__}")
        yield line


def _line_type_error(lines: list[Any]) -> None:
    """iter_lines' TypeError for the first line of ``lines`` that is not a str, if any."""
    for line in lines:
        if not isinstance(line, str):
            raise TypeError(f"source: lines must be str, got {type(line).__name__}") from None


def _list_chunks(lines: list[Any] | tuple[Any, ...], size: int, lower: bool
                 ) -> Iterator[list[str]]:
    """A list's or tuple's lines in chunks, sliced rather than walked through two
    generators; a line that is not a str raises iter_lines' TypeError before its chunk is
    counted, as there (found once the native counter or ``lower()`` has failed on it)."""
    for s in range(0, len(lines), size):
        part = lines[s:s + size]  # a list's slice is a new list already; a tuple's is not
        chunk = part if type(part) is list else list(part)
        if lower:
            try:
                chunk = [line.lower() for line in chunk]
            except (AttributeError, TypeError):
                _line_type_error(chunk)
                raise
        yield chunk


def _count(core: Any, chunk: list[str]) -> None:
    try:
        core.count(chunk)
    except (TypeError, ValueError):
        _line_type_error(chunk)  # a wrong type first, wherever it lies in the chunk
        with _utf8_errors():
            raise


def _chunks(lines: Iterable[str], size: int, lower: bool) -> Iterator[list[str]]:
    chunk: list[str] = []
    for line in lines:
        chunk.append(line.lower() if lower else line)
        if len(chunk) == size:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


def _checked(min_count: Any, max_vocab: Any, lower: Any, chunk_lines: Any
             ) -> tuple[int, int | None, bool, int]:
    """The constructor's arguments, checked (at construction and again by ``fit``)."""
    return (_int64("min_count", min_count, 1), _int64("max_vocab", max_vocab, 1, none=True),
            check_bool("lower", lower), _int64("chunk_lines", chunk_lines, 1))


class Vocabulary(ParamsMixin):
    """Words seen at least ``min_count`` times (the ``max_vocab`` most frequent), with ids
    by descending count, ties by first appearance.

    Parameters
    ----------
    min_count : int, default 5
        Words seen fewer times are left out.
    max_vocab : int, optional
        Keep at most this many words, the most frequent.
    lower : bool, default False
        Lower-case each line first.
    chunk_lines : int, default 8192
        Lines handed to the native counter per call.

    Examples
    --------
    >>> Vocabulary(min_count=1)
    Vocabulary(min_count=1, not fitted)
    >>> Vocabulary(min_count=1).fit(["a b a"])
    Vocabulary(min_count=1, 2 words)
    """

    @keyword_aliases()
    def __init__(self, min_count: int = 5, max_vocab: int | None = None, *,
                 lower: bool = False, chunk_lines: int = 8192) -> None:
        self.min_count, self.max_vocab, self.lower, self.chunk_lines = _checked(
            min_count, max_vocab, lower, chunk_lines)
        self._core = _core.Vocab()

    # what the built vocabulary is made with (encode lower-cases as it was built)
    _structural = ("min_count", "max_vocab", "lower")

    def _fitted_marker(self) -> Any:
        return self._core if self._core.built else None

    def _repr_state(self) -> list[str]:
        return [f"{len(self):,} words" if self._core.built else "not fitted"]

    # The native vocabulary is rebuilt from its words and counts (for pickle and copy).
    def __getstate__(self) -> dict[str, Any]:
        state = {k: v for k, v in self.__dict__.items() if k != "_core"}
        core = self._core
        state["_built"] = ((list(core.words), core.counts.tolist(), int(core.total_tokens))
                           if core.built else None)
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        state = dict(state)
        built = state.pop("_built")
        self.__dict__.update(state)
        self._core = _core.Vocab()
        if built is not None:
            self._core.assign(*built)

    @refits
    def fit(self, source: os.PathLike[str] | Iterable[str], *,
            errors: str = "strict") -> Vocabulary:
        """Count the tokens of ``source`` (streamed in chunks of lines) and build.

        Parameters
        ----------
        source : os.PathLike or iterable of str
            The lines: a file (``pathlib.Path``; a plain str is never opened as a file) or
            an iterable of str.
        errors : {"strict", "replace", "ignore"}
            What bytes of a file that are not UTF-8 become (as ``open()``)."""
        # checked again: set_params may have changed them since __init__
        min_count, max_vocab, lower, chunk_lines = _checked(
            self.min_count, self.max_vocab, self.lower, self.chunk_lines)
        core = _core.Vocab()
        if type(source) in (list, tuple):
            check_errors(errors)
            chunks = _list_chunks(source, chunk_lines, lower)  # type: ignore[arg-type]
        else:
            chunks = _chunks(iter_lines(source, errors=errors), chunk_lines, lower)
        for chunk in chunks:
            _count(core, chunk)
        if core.total_tokens == 0:
            raise ValueError("source: the corpus holds no tokens")
        size = core.finalize(min_count, max_vocab or 0)
        if size == 0:
            raise ValueError(f"min_count: no word occurs {min_count} times or more in "
                             f"the {core.total_tokens} tokens; the vocabulary would be empty")
        self._core = core
        return self

    @classmethod
    def from_counts(cls, words: list[str], counts: Any, total_tokens: int, *,
                    min_count: int = 1, max_vocab: int | None = None, lower: bool = False
                    ) -> Vocabulary:
        """A built vocabulary of these words, in id order, with their counts (as saved with
        a model)."""
        if isinstance(words, (str, bytes)) or not isinstance(words, Iterable):
            raise TypeError(f"words: expected a list of str, got {type(words).__name__}")
        words = list(words)
        for bad in words:
            if not isinstance(bad, str):
                raise TypeError(f"words: expected str items, got {type(bad).__name__}")
        # Check the counts' shape and type with NumPy before reading them one by one (a
        # huge or broadcast array must not be walked in Python).
        try:
            arr = np.asarray(counts)
        except (TypeError, ValueError, OverflowError):
            raise TypeError("counts: expected a 1-D sequence of ints") from None
        if arr.ndim != 1 or (arr.size and arr.dtype.kind not in "iuO"):
            raise TypeError(f"counts: expected a 1-D sequence of ints, got a {arr.ndim}-D "
                            f"{arr.dtype} array")
        if len(words) != len(arr) or not all(words) or len(set(words)) != len(words):
            raise ValueError(f"words, counts: {len(words)} words (distinct, non-empty) and "
                             f"{len(arr)} counts expected to agree")
        counts = [_int64("counts", c, 1) for c in arr.tolist()]
        total_tokens = _int64("total_tokens", total_tokens, 0)
        vocab = cls(min_count, max_vocab, lower=lower)
        vocab._core.assign(list(words), counts, int(total_tokens))
        return vocab

    def _built(self) -> Any:
        if not self._core.built:
            raise not_fitted(self, "call fit() (or load())")
        return self._core

    def __len__(self) -> int:
        return len(self._core) if self._core.built else 0

    @property
    def words(self) -> list[str]:
        return list(self._built().words)

    @property
    def counts(self) -> np.ndarray:
        return self._built().counts

    @property
    def total_tokens(self) -> int:
        return int(self._built().total_tokens)

    def __contains__(self, word: str) -> bool:
        core = self._built()
        return isinstance(word, str) and _is_utf8(word) and core.id(word) >= 0

    def __getitem__(self, word: str) -> int:
        core = self._built()
        if not isinstance(word, str):
            raise TypeError(f"word: expected a str, got {type(word).__name__}")
        if not _is_utf8(word):  # a lone surrogate: no token can hold it
            raise KeyError(word)
        i = core.id(word)
        if i < 0:
            raise KeyError(word)
        return int(i)

    def encode(self, source: os.PathLike[str] | Iterable[str], *, ngrams: int = 1,
               buckets: int = 0, errors: str = "strict") -> tuple[np.ndarray, np.ndarray]:
        """(ids, offsets) for ``EmbeddingBag``: each line's word ids (unknown words
        dropped), then, when ``ngrams > 1`` and ``buckets > 0``, one id per run of 2..ngrams
        consecutive tokens, hashed as fastText does into ``[len(self), len(self) +
        buckets)``.

        Parameters
        ----------
        source : os.PathLike or iterable of str
            The lines: a file (``pathlib.Path``; a plain str is never opened as a file) or
            an iterable of str; each line is lower-cased first when ``lower``.
        ngrams : int, default 1
            The longest run of tokens hashed (1: word ids only).
        buckets : int, default 0
            Ids for the hashed runs (0: none).
        errors : {"strict", "replace", "ignore"}, default "strict"
            What bytes of a file that are not UTF-8 become (as ``open()``).

        Returns
        -------
        ids : ndarray of int64
            Every line's ids, line after line.
        offsets : ndarray of int64, shape (number of lines,)
            Where each line's ids start: line ``i`` holds ``ids[offsets[i]:offsets[i+1]]``
            (the last line's run to the end).
        """
        core = self._built()
        ngrams, buckets = _int64("ngrams", ngrams, 1), _int64("buckets", buckets, 0)
        ids, offsets, base = [], [], 0
        for chunk in _chunks(iter_lines(source, errors=errors), self.chunk_lines, self.lower):
            with _utf8_errors():
                i, o = core.encode(chunk, int(ngrams), int(buckets))
            ids.append(i)
            offsets.append(o + base)
            base += len(i)
        if not ids:
            return np.zeros(0, np.int64), np.zeros(0, np.int64)
        return np.concatenate(ids), np.concatenate(offsets)

    def save(self, path: str | os.PathLike[str]) -> None:
        """Write the vocabulary to ``path`` as UTF-8 text (format in the module docstring).

        The file is replaced atomically (written to a temporary file in the same folder,
        synced, renamed over ``path``): an interrupted save leaves the previous file as it
        was.  It keeps the permissions of the file it replaces (a new one: 0o666 less the
        umask).  ``path`` is a path, not an open file."""
        core = self._built()
        with atomic_write(check_path(path), "w", encoding="utf-8", newline="\n") as f:
            f.write(f"{_HEADER}\n")
            f.write(f"words {len(core)}  total_tokens {core.total_tokens}  "
                    f"min_count {self.min_count}  lower {int(self.lower)}\n")
            for count, word in zip(core.counts.tolist(), core.words):
                f.write(f"{count}\t{word}\n")

    @classmethod
    def load(cls, path: str | os.PathLike[str]) -> Vocabulary:
        """Read a file written by :meth:`save`.  Anything else (another file, a truncated
        or malformed one, values out of range) raises ValueError naming the file; a
        missing file raises FileNotFoundError."""
        name = check_path(path)
        with open(name, "rb") as f:
            data = f.read()

        def bad(msg: str) -> ValueError:
            return ValueError(f"{name}: {msg}")

        try:
            text = data.decode("utf-8")
        except UnicodeDecodeError as e:
            raise bad(f"not a valid msopt vocabulary file (not UTF-8: {e})") from None
        lines = text.split("\n")
        if lines[0] != _HEADER:
            raise bad(f"not an msopt vocabulary file (first line {lines[0][:40]!r})")
        if lines[-1] != "":  # every line ends in a newline; a cut one does not
            raise bad("truncated: the last line has no newline")
        lines.pop()
        if len(lines) < 2:
            raise bad("truncated: no 'words ... total_tokens ...' line")
        fields = lines[1].split(" ")
        fields = [x for x in fields if x]
        meta = dict(zip(fields[::2], fields[1::2]))
        keys = ("words", "total_tokens", "min_count", "lower")
        if len(fields) != 2 * len(keys) or tuple(fields[::2]) != keys:
            raise bad(f"not a valid msopt vocabulary file (line 2: expected 'words <K>  "
                      f"total_tokens <N>  min_count <m>  lower <0|1>', got {lines[1][:80]!r})")

        def number(key: str, s: str, lo: int) -> int:
            if not (s.isascii() and s.isdigit()) or not lo <= int(s) < 2**63:
                raise bad(f"{key}: expected an integer in [{lo}, 2**63), got {s[:40]!r}")
            return int(s)

        n = number("words", meta["words"], 0)
        total = number("total_tokens", meta["total_tokens"], 0)
        min_count = number("min_count", meta["min_count"], 1)
        if meta["lower"] not in ("0", "1"):
            raise bad(f"lower: expected 0 or 1, got {meta['lower'][:40]!r}")
        words: list[str] = []
        counts: list[int] = []
        for number_, line in enumerate(lines[2:], 3):
            count, sep, word = line.partition("\t")
            if not sep or not word or any(c in word for c in " \t\r\x0b\x0c"):
                raise bad(f"malformed line {number_} (expected '<count>\\t<word>')")
            counts.append(number(f"line {number_}: count", count, 1))
            words.append(word)
        if len(words) != n:
            raise bad(f"truncated: {len(words)} of {n} words" if len(words) < n else
                      f"{len(words)} words, the header says {n}")
        try:
            return cls.from_counts(words, counts, total, min_count=min_count,
                                   lower=meta["lower"] == "1")
        except (TypeError, ValueError) as e:
            raise bad(f"not a valid msopt vocabulary file ({e})") from None


def read_labeled(source: os.PathLike[str] | Iterable[str], *, prefix: str = "__label__",
                 errors: str = "strict") -> tuple[list[str], list[list[str]]]:
    """fastText's supervised format: each line's tokens starting with ``prefix`` are its
    labels, the rest its text.

    Returns ``(texts, labels)``: ``texts[i]`` is line i's text (its other tokens joined by
    single spaces), ``labels[i]`` the list of its label names without the prefix (empty for
    a line without one), the shape :class:`~msopt.TextClassifier`'s ``fit``, ``score`` and
    ``test`` take, so that ``clf.fit(*read_labeled(path))`` trains on the names.

    Examples
    --------
    >>> read_labeled(["__label__sports __label__news the match", "__label__tech chips"])
    (['the match', 'chips'], [['sports', 'news'], ['tech']])
    """
    texts, labels = [], []
    for line in iter_lines(source, errors=errors):
        toks = line.split()
        labels.append([t[len(prefix):] for t in toks if t.startswith(prefix)])
        texts.append(" ".join(t for t in toks if not t.startswith(prefix)))
    return texts, labels
