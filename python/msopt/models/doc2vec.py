"""Doc2Vec: paragraph vectors (PV-DBOW, PV-DM) trained and inferred in native loops.

Training walks the corpus in chunks of documents, one native call per chunk with the GIL
released (word2vec's primitives: negative sampling, subsampling, window shrinking, the
exact sigmoid); Python gets control back between chunks, so Ctrl-C stops a long training
within a fraction of a second and leaves the model as of the last finished chunk.  Each
document's random stream and learning rate depend only on the seed, the epoch and its
position in the corpus, so with ``threads=1`` (or ``deterministic=True`` and a fixed
thread count) a fixed ``seed`` repeats bit for bit.

Inference (:meth:`Doc2Vec.infer_vectors`) optimizes a new vector per document with every
trained table frozen: many documents per native call, split among threads, each stopping
on its own when its loss stops changing (``tol``).  A document's vector depends only on its
words, the seed and the settings, never on the thread count or on the other documents of
the call.

Model file format (``Doc2Vec.save``): a NumPy ``.npz`` archive, no pickled objects:

    format        str    "msopt-doc2vec 1"
    params        str    the hyperparameters, as JSON
    words         uint8  the vocabulary's UTF-8 words, joined by "\\n", in id order
    counts        int64  (V,) word counts
    total_tokens  int64  tokens counted when the vocabulary was built
    tags          str    the document tags in row order, as a JSON list (ints and strs)
    vectors       float32 (V + T, dim) the word vectors, then the tag vectors
    syn1neg       float32 (V, dim) output vectors
    loss_history  float64 mean loss per example of each epoch trained
    staged        str    (only if set_params set some aside for the next build_vocab) JSON
"""

from __future__ import annotations

import json
import os
import time
import warnings
from collections.abc import Callable, Hashable, Iterable, Sequence
from dataclasses import dataclass
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
    Tracker,
    check_callbacks,
    check_verbose,
    saved_params,
    set_staged,
    staged_member,
)
from msopt.exceptions import DivergenceError
from msopt.models.word2vec import (
    GensimNames,
    KeyedVectors,
    _first_vectors,
    _joined,
    _zero_or_one,
)
from msopt.text import Vocabulary
from msopt.text.vocabulary import check_errors, read_file_lines, str_is_not_a_file

__all__ = ["Doc2Vec", "InferInfo", "TaggedVectors"]

_FORMAT = "msopt-doc2vec 1"
_MEMBERS = {"params", "words", "counts", "total_tokens", "tags", "vectors", "syn1neg",
            "loss_history"}
CHUNK_WORDS = 1 << 18  # words per training call and thread (about 0.1 to 0.3 s of work)
CHUNK_WORK = 1 << 22   # words x epochs per inference call and thread


class TaggedVectors(KeyedVectors):
    """Document vectors by tag (an int or a str): ``dv[tag]``, ``most_similar`` (gensim's
    arguments: ``positive``, ``negative``, ``topn``, ``restrict_vocab``; tags or vectors,
    an inferred one say), ``similarity`` (gensim's ``model.dv``).

    Parameters
    ----------
    tags : list of int or str
        The tags, in row order.
    vectors : ndarray, shape (len(tags), dim)
        One row per tag (kept, not copied).
    """

    def __contains__(self, tag: Any) -> bool:  # type: ignore[override]
        return _is_tag(tag) and tag in self.key_to_index

    def __getitem__(self, tag: Any) -> np.ndarray:  # type: ignore[override]
        """A tag's vector (a view of its row), or for a list of tags their rows as a 2-D
        array (a copy), as gensim's ``dv[[0, 1]]``."""
        if isinstance(tag, list):
            return self.vectors[[self._index(t, f"tag[{i}]") for i, t in enumerate(tag)]]
        return self.vectors[self._index(tag)]

    def __repr__(self) -> str:
        n, d = self.vectors.shape
        return f"TaggedVectors({n:,} tags, dim={d})"

    def _index(self, tag: Any, name: str = "tag") -> int:
        if not _is_tag(tag):
            raise TypeError(f"{name}: expected an int or a str tag, got {type(tag).__name__}")
        try:
            return self.key_to_index[tag]
        except KeyError:
            raise KeyError(f"tag {tag!r} is not a document tag") from None

    def most_similar(self, positive: Any = None, *args: Any, negative: Any = None,  # type: ignore[override]
                     topn: int | None = 10, restrict_vocab: int | None = None) -> Any:
        """:meth:`KeyedVectors.most_similar` for tags, with ``negative``, ``topn`` and
        ``restrict_vocab`` by keyword only: tags are often ints, so ``most_similar(0, 5)``
        could mean ``negative=5`` (gensim's order) or ``topn=5``, and is refused.

        Parameters
        ----------
        positive : tag, vector, or list of tags, vectors or (tag, weight) pairs, optional
        negative : the same, optional
        topn : int or None, default 10
        restrict_vocab : int, optional
            As for :meth:`KeyedVectors.most_similar`.

        Returns
        -------
        list of (tag, similarity), best first; or an ndarray when ``topn`` is None."""
        if args:
            raise TypeError("most_similar: pass negative=, topn= and restrict_vocab= by "
                            "keyword (tags may be ints: most_similar(0, 5) could mean "
                            "negative=5 or topn=5)")
        return super().most_similar(positive, negative, topn, restrict_vocab)

    def evaluate_word_analogies(self, *args: Any, **kwargs: Any) -> Any:
        """Not available for document vectors: analogies are a word-vector evaluation (use
        ``model.wv.evaluate_word_analogies``).  Every call raises TypeError.

        Parameters
        ----------
        *args, **kwargs
            Any arguments; none is read."""
        raise TypeError("TaggedVectors: analogies are a word-vector evaluation; use "
                        "model.wv.evaluate_word_analogies")

    def evaluate_word_pairs(self, *args: Any, **kwargs: Any) -> Any:
        """Not available for document vectors: word pairs are a word-vector evaluation (use
        ``model.wv.evaluate_word_pairs``).  Every call raises TypeError.

        Parameters
        ----------
        *args, **kwargs
            Any arguments; none is read."""
        raise TypeError("TaggedVectors: word pairs are a word-vector evaluation; use "
                        "model.wv.evaluate_word_pairs")


def _is_tag(tag: Any) -> bool:
    return isinstance(tag, (str, int, np.integer)) and not isinstance(tag, (bool, np.bool_))


@dataclass(frozen=True)
class InferInfo:
    """Per document, what :meth:`Doc2Vec.infer_vectors` did.

    Attributes
    ----------
    epochs : ndarray of int32
        Epochs run (0 for a document without a known word).
    loss : ndarray of float64
        Mean loss per example: with ``tol`` the measured loss at the end (see
        :meth:`Doc2Vec.infer_vectors`), without it the last epoch's as trained (NaN when
        it had no example).
    converged : ndarray of bool
        The relative change of the loss fell to ``tol`` or below (always False without
        ``tol``).
    """

    epochs: np.ndarray
    loss: np.ndarray
    converged: np.ndarray


def _split_document(i: int, doc: Any) -> tuple[list[str], list[Hashable] | None]:
    """(tokens, tags or None) of one document: a token list, a str (split on whitespace),
    or a (tokens, tags) pair such as gensim's TaggedDocument."""
    if isinstance(doc, str):
        return doc.split(), None
    words = getattr(doc, "words", None)
    tags = getattr(doc, "tags", None)
    if words is None and isinstance(doc, (tuple, list)) and len(doc) == 2 \
            and not isinstance(doc[0], str) and isinstance(doc[0], Iterable):
        words, tags = doc
    if words is None:
        words, tags = doc, None
    if isinstance(words, str):
        words = words.split()
    try:
        tokens = list(words)
    except TypeError:
        raise TypeError(f"documents[{i}]: expected a list of str tokens or a (tokens, tags) "
                        f"pair, got {type(doc).__name__}") from None
    bad = next((t for t in tokens if not isinstance(t, str)), None)
    if bad is not None:
        raise TypeError(f"documents[{i}]: tokens must be str, got {type(bad).__name__}")
    _joined(i, tokens, "documents")  # a token holding whitespace is refused, not split
    if tags is None:
        return tokens, None
    if _is_tag(tags):
        tags = [tags]
    tag_list = list(tags) if isinstance(tags, Iterable) else None
    if not tag_list or not all(_is_tag(t) for t in tag_list):
        raise TypeError(f"documents[{i}]: tags must be a non-empty list of ints or strs, got "
                        f"{tags!r}")
    return tokens, [int(t) if isinstance(t, np.integer) else t for t in tag_list]


def _read_documents(documents: Any, name: str = "documents", corpus_file: Any = None,
                    errors: str = "strict") -> tuple[list[list[str]], list[list[Hashable]]]:
    """Tokens and tags of every document (tags default to the document's position).  A
    file (an os.PathLike, or ``corpus_file``) holds one document per line, tagged by its
    line number from 0 (gensim's ``TaggedLineDocument``); a plain str is never a file."""
    check_errors(errors)
    if corpus_file is not None:
        if documents is not None:
            raise TypeError(f"{name}, corpus_file: pass one of them, not both")
        documents = Path(check_path(corpus_file, "corpus_file"))
    if isinstance(documents, os.PathLike):
        documents = [line.split() for line in read_file_lines(documents, errors)]
    if isinstance(documents, str):
        raise str_is_not_a_file(name, documents, keyword="corpus_file")
    if isinstance(documents, (bytes, bytearray)):
        raise TypeError(f"{name}: expected an iterable of token lists or (tokens, tags) "
                        "pairs, or an os.PathLike (a file), got bytes")
    if not isinstance(documents, Iterable):
        raise TypeError(f"{name}: expected an iterable of documents, got "
                        f"{type(documents).__name__}")
    tokens: list[list[str]] = []
    tags: list[list[Hashable]] = []
    for i, doc in enumerate(documents):
        t, g = _split_document(i, doc)
        tokens.append(t)
        tags.append([i] if g is None else g)
    return tokens, tags


def _encode(vocab: Vocabulary, docs: list[list[str]]) -> tuple[np.ndarray, np.ndarray]:
    """Word ids (unknown words dropped) and document starts."""
    ids, offsets = vocab.encode([" ".join(d) for d in docs])
    return ids, offsets


def _doc_list(documents: Any) -> list[Any]:
    """``documents`` as a list (TypeError for a str, bytes or a non-iterable)."""
    if isinstance(documents, (str, bytes)) or not isinstance(documents, Iterable):
        raise TypeError(f"documents: expected a list of token lists, got "
                        f"{type(documents).__name__}")
    return documents if isinstance(documents, list) else list(documents)


def _lines(documents: Any) -> list[str]:
    """Each document's tokens joined by spaces (what the vocabulary encodes): a fast pass
    for token lists and strs; anything else, or a bad token, goes through
    _split_document, which names the document it refuses."""
    docs = _doc_list(documents)
    try:
        return [d if isinstance(d, str) else " ".join(d) for d in docs]
    except TypeError:
        return [" ".join(_split_document(i, d)[0]) for i, d in enumerate(docs)]


class Doc2Vec(GensimNames, ParamsMixin):
    """Paragraph vectors: PV-DBOW (``dm=0``, the default) or PV-DM (``dm=1``, the mean of
    the tag and context vectors), with negative sampling.

    msopt's names are canonical (``dim``, ``threads``, ``lr``, ...); gensim's are accepted
    as aliases (``vector_size``, ``workers``, ``alpha``, ``min_alpha``, ``iter``).  Unlike
    gensim's, the default is PV-DBOW: on the Lee documents it measured far better than
    PV-DM (Pearson 0.34 against 0.22), on SICK's short sentences somewhat worse (0.36
    against 0.41); see the README.

    Parameters
    ----------
    documents : iterable or os.PathLike, optional
        Token lists (each document tagged with its position), or ``(tokens, tags)`` pairs
        (gensim's ``TaggedDocument`` works), tags being ints or strs.  A str document is
        split on whitespace.  A file (``pathlib.Path``, UTF-8, a byte-order mark dropped)
        holds one document per line, tagged by its line number from 0 (gensim's
        ``TaggedLineDocument``); a plain str is never opened as a file (TypeError).  When
        given, the vocabulary is built and the model trained.
    dim : int, default 100
        Width of the vectors (alias ``vector_size``).
    corpus_file : str or os.PathLike, optional
        A file to train on instead of ``documents`` (gensim's name), read as above.
    errors : {"strict", "replace", "ignore"}
        What bytes of a file that are not UTF-8 become (as ``open()``).  ``corpus_file``
        and ``errors`` are arguments of this first training, not hyperparameters.
    dm : {0, 1}, default 0
        PV-DM (1) or PV-DBOW (0).
    dbow_words : {0, 1}, default 0
        PV-DBOW: also train word vectors by skip-gram, interleaved (slower, and the words
        then share the document space).
    window : int, default 5
        Largest distance between a word and a context word (PV-DM, ``dbow_words``).
    negative : int, default 5
        Negative samples per example (1 to 1000).
    min_count : int, default 5
        Words seen fewer times are dropped.
    epochs : int, default 10
        Passes over the documents (alias ``iter``); also inference's default.
    threads : int, optional
        Threads (alias ``workers``; default: msopt's thread count).
    seed : int, default 1
        Seeds the initial vectors and every random stream (alias ``random_state``).
    lr, min_lr : float, default 0.025 and 1e-4
        The rate decays linearly from ``lr`` to ``min_lr`` over a ``train`` call (aliases
        ``alpha`` and ``min_alpha``).
    sample : float, default 1e-3
        Frequent-word subsampling threshold (0: off).
    max_vocab : int, optional
        Keep at most this many words, the most frequent.
    lower : bool, default False
        Lower-case the text first.
    deterministic : bool, default False
        Repeat bit for bit with several threads (rounds of private row copies merged in
        thread order, as Word2Vec); one thread repeats either way.
    callbacks : list of callables, optional
        ``f(model, progress) -> bool`` after each chunk of documents, given a
        :class:`msopt.Progress` record (epoch, words seen, loss, learning rate, words per
        second); True stops the training there, the chunks done kept.
    verbose : bool or int
        Show a progress bar (tqdm when installed, else a line on stderr); the ``"msopt"``
        logger gets the same reports at INFO.

    Attributes
    ----------
    wv : KeyedVectors
        Word vectors.
    dv : TaggedVectors
        Document vectors by tag.
    loss_history_ : list of float
        Mean loss per example of each epoch trained since the vocabulary was built.

    Examples
    --------
    >>> from msopt import Doc2Vec
    >>> docs = [["the", "cat", "sat"], ["the", "dog", "ran"]] * 50
    >>> model = Doc2Vec(docs, dim=8, min_count=1, epochs=2, threads=1)
    >>> model.dv[0].shape
    (8,)
    >>> vectors, info = model.infer_vectors([["the", "cat"]], tol=1e-3, max_epochs=50)
    >>> vectors.shape, bool(info.epochs[0] <= 50)
    ((1, 8), True)
    """

    _repr_always = ("dim", "dm")
    # what the fitted vocabulary and tables are made for (build_vocab takes new values)
    _structural = ("dim", "dm", "min_count", "max_vocab", "lower")

    def _fitted_marker(self) -> Any:
        return self.__dict__.get("vectors")

    @classmethod
    def _get_param_names(cls) -> list[str]:
        return [n for n in super()._get_param_names()
                if n not in ("documents", "corpus_file", "errors")]

    @keyword_aliases(vector_size="dim", workers="threads", alpha="lr", min_alpha="min_lr",
                     iter="epochs", random_state="seed", max_final_vocab="max_vocab")
    def __init__(self, documents: Any = None, dim: int = 100, dm: int = 0,
                 dbow_words: int = 0, window: int = 5, negative: int = 5, min_count: int = 5,
                 epochs: int = 10, threads: int | None = None, seed: int = 1,
                 lr: float = 0.025, min_lr: float = 1e-4, sample: float = 1e-3,
                 max_vocab: int | None = None, lower: bool = False,
                 deterministic: bool = False,
                 callbacks: Sequence[Callable[..., Any]] | None = None,
                 verbose: bool | int = False, *,
                 corpus_file: str | os.PathLike[str] | None = None,
                 errors: str = "strict") -> None:
        self.dim, self.dm, self.dbow_words = dim, dm, dbow_words
        self.window, self.negative, self.min_count = window, negative, min_count
        self.epochs, self.threads, self.seed = epochs, threads, seed
        self.lr, self.min_lr, self.sample = lr, min_lr, sample
        self.max_vocab, self.lower, self.deterministic = max_vocab, lower, deterministic
        self.callbacks, self.verbose = callbacks, verbose
        self._check_params()
        check_callbacks(callbacks)
        check_verbose(verbose)
        self.vocab: Vocabulary | None = None
        self.vectors: np.ndarray | None = None  # words then tags
        self.syn1neg: np.ndarray | None = None
        self._tags: list[Hashable] = []
        self._wv: KeyedVectors | None = None
        self._dv: TaggedVectors | None = None
        self.loss_history_: list[float] = []
        if documents is not None or corpus_file is not None:
            tokens, tags = _read_documents(documents, corpus_file=corpus_file, errors=errors)
            self._build(tokens, tags)
            self._train(tokens, tags, None)

    def _check_params(self) -> None:
        for name in ("dm", "dbow_words"):
            if not _zero_or_one(getattr(self, name)):
                raise ValueError(f"{name}: 1 or 0, got {getattr(self, name)!r}")
        for name, low, high in (("dim", 1, INT32_MAX), ("window", 1, 1 << 20),
                                ("epochs", 1, MAX_EPOCHS), ("min_count", 1, INT64_MAX)):
            check_int(name, getattr(self, name), low, hi=high)
        check_int("negative", self.negative, 1, hi=1000)
        check_seed("seed", self.seed)
        check_int("threads", self.threads, 1, none=True, hi=MAX_THREADS)
        check_int("max_vocab", self.max_vocab, 1, none=True, hi=INT64_MAX)
        check_number("lr", self.lr, lo=0, strict=True)
        check_number("min_lr", self.min_lr, lo=0)
        check_number("sample", self.sample, lo=0)
        for name in ("lower", "deterministic"):
            check_bool(name, getattr(self, name))

    @property
    def wv(self) -> KeyedVectors:
        """The word vectors; :class:`msopt.NotFittedError` before the model is built."""
        if self._wv is None:
            raise not_fitted(self, "pass documents to the constructor, call build_vocab() "
                                   "and train(), or load()")
        return self._wv

    @property
    def dv(self) -> TaggedVectors:
        """The document vectors by tag; :class:`msopt.NotFittedError` before the model is
        built."""
        if self._dv is None:
            raise not_fitted(self, "pass documents to the constructor, call build_vocab() "
                                   "and train(), or load()")
        return self._dv

    def _repr_state(self) -> list[str]:
        if self.vocab is None:
            return []
        return [f"vocab={len(self.vocab):,} words", f"{len(self._tags):,} tags",
                "trained" if self.loss_history_ else "not trained"]

    # The views wv and dv share one table; pickle keeps the table and rebuilds the views
    # (and the native sampler, when next needed).
    def __getstate__(self) -> dict[str, Any]:
        state = self.__dict__.copy()
        state["_wv"] = state["_dv"] = None
        state.pop("_sampler", None)
        return state

    def _draws(self) -> Any:
        """The native sampler of the vocabulary and ``sample`` (subsampling's keep chances,
        the negatives' table): built once, again only when either changes."""
        assert self.vocab is not None
        key = (self.vocab, float(self.sample))
        cached = self.__dict__.get("_sampler")
        if cached is None or cached[0] is not key[0] or cached[1] != key[1]:
            cached = (*key, _core.Doc2VecSampler(self.vocab.counts, key[1]))
            self.__dict__["_sampler"] = cached
        return cached[2]

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)
        self._views()

    def _views(self) -> None:
        if self.vocab is None or self.vectors is None:
            self._wv = self._dv = None
            return
        V = len(self.vocab)
        self._wv = KeyedVectors(self.vocab.words, self.vectors[:V])
        self._dv = TaggedVectors(self._tags, self.vectors[V:])  # type: ignore[arg-type]

    # -- building and training ----------------------------------------------------------
    @refits
    def build_vocab(self, documents: Any = None, *,
                    corpus_file: str | os.PathLike[str] | None = None,
                    errors: str = "strict") -> Doc2Vec:
        """Count the words and tags of ``documents`` (or of ``corpus_file``, read with
        ``errors``, as the constructor's) and start new vectors (uniform in [-1, 1) / dim
        for words and tags, zero outputs, as gensim).

        Parameters
        ----------
        documents : iterable or os.PathLike, optional
            At least one document, in the forms of the class's ``documents``: token lists
            (tagged by position), ``(tokens, tags)`` pairs, str documents (split on
            whitespace), or a file of one document per line; a plain str is refused.  Pass
            it or ``corpus_file``, not both.
        corpus_file : str or os.PathLike, optional
            A UTF-8 file of one document per line, each tagged by its line number from 0,
            instead of ``documents`` (gensim's name).
        errors : {"strict", "replace", "ignore"}, default "strict"
            What bytes of a file that are not UTF-8 become (as ``open()``).

        Returns
        -------
        Doc2Vec
            self, with a new vocabulary, one vector per distinct tag (in order of first
            appearance) and an empty ``loss_history_``."""
        tokens, tags = _read_documents(documents, corpus_file=corpus_file, errors=errors)
        self._build(tokens, tags)
        return self

    def _build(self, tokens: list[list[str]], tags: list[list[Hashable]]) -> None:
        self._check_params()
        if not tokens:
            raise ValueError("documents: empty; at least one document is needed")
        vocab = Vocabulary(self.min_count, self.max_vocab, lower=self.lower)
        vocab.fit([" ".join(d) for d in tokens])
        index: dict[Hashable, int] = {}
        for g in tags:
            for t in g:
                index.setdefault(t, len(index))
        V, T, dim = len(vocab), len(index), int(self.dim)
        check_memory("Doc2Vec", f"({V:,} words + {T:,} tags) x dim={dim:,} float32 vectors",
                     (V + T) * dim * 4, 3, what="building and training need",
                     hint="Reduce dim, or the vocabulary (min_count, max_vocab).")
        vectors = _first_vectors(self.seed, V + T, dim)  # words, then tags
        self.vocab, self.vectors = vocab, vectors
        self.syn1neg = np.zeros((V, dim), np.float32)
        self._tags = list(index)
        self.loss_history_ = []
        self._views()

    def train(self, documents: Any = None, epochs: int | None = None, *,
              corpus_file: str | os.PathLike[str] | None = None,
              errors: str = "strict") -> Doc2Vec:
        """Train on ``documents`` (or ``corpus_file``, read with ``errors``, as the
        constructor's) for ``epochs`` (default ``self.epochs``); the rate decays
        from ``lr`` to ``min_lr`` over the call.  Their tags must have been seen by
        :meth:`build_vocab`; unknown words are dropped.  Ctrl-C stops at the end of the
        current chunk of documents and leaves the model as trained so far; a divergence
        (NaN or Inf) puts the vectors back as they were before the call and raises
        :class:`msopt.DivergenceError`.

        Parameters
        ----------
        documents : iterable or os.PathLike, optional
            At least one document, in the forms :meth:`build_vocab` takes.  Pass it or
            ``corpus_file``, not both.
        epochs : int, optional
            Passes over the documents in this call, 1 to 1,000,000; default
            ``self.epochs`` (which stays as it is).
        corpus_file : str or os.PathLike, optional
            A UTF-8 file of one document per line, each tagged by its line number from 0,
            instead of ``documents`` (gensim's name).
        errors : {"strict", "replace", "ignore"}, default "strict"
            What bytes of a file that are not UTF-8 become (as ``open()``).

        Returns
        -------
        Doc2Vec
            self, its vectors trained in place; each finished epoch's mean loss is
            appended to ``loss_history_``.

        Raises
        ------
        msopt.DivergenceError
            When the vectors become NaN or Inf; they are put back as they were before the
            call."""
        if self.vocab is None:
            raise not_fitted(self, "call build_vocab()")
        tokens, tags = _read_documents(documents, corpus_file=corpus_file, errors=errors)
        self._train(tokens, tags, epochs)
        return self

    def _train(self, tokens: list[list[str]], tags: list[list[Hashable]],
               epochs: int | None) -> None:
        assert self.vocab is not None
        assert self.vectors is not None
        assert self.syn1neg is not None
        self._check_params()
        epochs = check_int("epochs", self.epochs if epochs is None else epochs, 1,
                           hi=MAX_EPOCHS)
        if not tokens:
            raise ValueError("documents: no documents to train on (an iterator read to its "
                             "end already, by build_vocab say?); nothing was trained")
        index = {t: i for i, t in enumerate(self._tags)}
        tag_ids: list[int] = []
        tag_offsets: list[int] = []
        for i, g in enumerate(tags):
            tag_offsets.append(len(tag_ids))
            for t in g:
                if t not in index:
                    raise KeyError(f"documents[{i}]: tag {t!r} was not seen by build_vocab")
                tag_ids.append(index[t])
        ids, offsets = _encode(self.vocab, tokens)
        tag_arr = np.asarray(tag_ids, np.int64)
        tag_off = np.asarray(tag_offsets, np.int64)
        threads = int(self.threads or _core.get_num_threads())
        draws = self._draws()
        # Chunks of documents of about CHUNK_WORDS words per thread.
        starts = np.r_[offsets, len(ids)]
        bounds = [0]
        step = CHUNK_WORDS * threads
        while bounds[-1] < len(offsets):
            b = bounds[-1]
            nxt = int(np.searchsorted(starts, starts[b] + step, side="left"))
            bounds.append(min(len(offsets), max(b + 1, nxt)))
        tag_starts = np.r_[tag_off, len(tag_arr)]
        undo = (self.vectors.copy(), self.syn1neg.copy())
        history = len(self.loss_history_)
        t0 = time.perf_counter()
        words = 0
        assert self._wv is not None
        assert self._dv is not None
        lr, min_lr, total = float(self.lr), float(self.min_lr), len(ids) * epochs
        try:
            with Tracker(self, epochs=epochs, total=total, unit="words",
                         callbacks=self.callbacks, verbose=self.verbose) as track:
                stop = False
                for e in range(epochs):
                    loss, examples = 0.0, 0
                    for b0, b1 in zip(bounds[:-1], bounds[1:]):
                        # the chunk's own slices: no call reads (or copies) the whole corpus
                        w0, t0_ = int(starts[b0]), int(tag_starts[b0])
                        summed, m, w = _core.doc2vec_train(
                            ids[w0:starts[b1]], offsets[b0:b1] - w0,
                            tag_arr[t0_:tag_starts[b1]], tag_off[b0:b1] - t0_, draws,
                            self.vectors, self.syn1neg, int(self.window),
                            int(self.negative), float(self.sample), lr, min_lr,
                            int(self.seed), threads, bool(self.dm), bool(self.dbow_words), e,
                            epochs, b0, w0, len(ids), deterministic=bool(self.deterministic))
                        loss, examples, words = loss + summed, examples + m, words + w
                        seen = e * len(ids) + int(starts[b1])
                        if b1 < bounds[-1] and track.report(
                                e + 1, seen, loss / examples if examples else float("nan"),
                                lr - (lr - min_lr) * seen / max(total, 1)):
                            stop = True
                            break
                    if stop:
                        break
                    if not (np.isfinite(self.vectors).all() and np.isfinite(self.syn1neg).all()):
                        np.copyto(self.vectors, undo[0])
                        np.copyto(self.syn1neg, undo[1])
                        del self.loss_history_[history:]
                        raise DivergenceError(
                            f"Doc2Vec.train: the vectors became NaN or Inf in epoch {e} (lr="
                            f"{self.lr!r} is too large for these documents); they are as they "
                            "were before this call.  Try a smaller lr.")
                    self.loss_history_.append(loss / examples if examples else float("nan"))
                    if track.report(e + 1, (e + 1) * len(ids), self.loss_history_[-1],
                                    lr - (lr - min_lr) * (e + 1) / epochs, epoch_end=True):
                        break
        finally:  # an interrupt leaves the finished chunks: the cached unit vectors go
            self._wv._unit = self._dv._unit = None
        self.train_seconds_ = time.perf_counter() - t0
        self.words_per_sec_ = len(ids) * epochs / max(self.train_seconds_, 1e-9)

    # -- inference ----------------------------------------------------------------------
    def infer_vectors(self, documents: Sequence[Any], epochs: int | None = None,
                      tol: float | None = None, max_epochs: int | None = None,
                      lr: float | None = None, min_lr: float | None = None,
                      seed: int | None = None, threads: int | None = None
                      ) -> tuple[np.ndarray, InferInfo]:
        """New vectors for ``documents`` (token lists, or str split on whitespace), the
        trained tables frozen; returns ``(vectors, info)``.

        Parameters
        ----------
        documents : sequence of token lists
            Words outside the vocabulary are dropped.  A document with no token raises
            ValueError; one with no known word gets the zero vector (``info.epochs`` 0,
            ``info.loss`` NaN) and a warning.
        epochs : int, optional
            The rate decays linearly from ``lr`` (first epoch) to ``min_lr`` (epoch
            ``epochs``), as gensim's ``infer_vector``; default ``self.epochs``.
        tol : float, optional
            Stop each document after the first epoch that lowers its loss by at most
            ``tol`` times the decrease since the start (at most ``max_epochs`` epochs).
            The loss watched is the document's objective on one fixed sample of its own
            (subsampling, windows and negatives drawn once and replayed, nothing updated),
            so it changes only when the vector does; measuring it costs a forward pass
            per epoch.  Default: no test, every document runs ``epochs`` (gensim's
            ``infer_vector``).
        max_epochs : int, optional
            With ``tol``, at most this many epochs (default ``epochs``); epochs past
            ``epochs`` run at ``min_lr``.
        lr, min_lr, seed, threads : optional
            Default to the model's.

        Returns
        -------
        vectors : ndarray of float32, shape (len(documents), dim)
        info : InferInfo
            Per document: epochs run, final loss, converged.
        """
        if self.vocab is None or self.vectors is None or self.syn1neg is None:
            raise not_fitted(self, "train the model (or load one)")
        self._check_params()
        epochs = check_int("epochs", self.epochs if epochs is None else epochs, 1,
                           hi=MAX_EPOCHS)
        if tol is not None:
            tol = check_number("tol", tol, lo=0, strict=True)
        max_epochs = check_int("max_epochs", epochs if max_epochs is None else max_epochs,
                               1, hi=MAX_EPOCHS)
        if tol is None and max_epochs != epochs:
            raise ValueError("max_epochs: only used with tol (without it every document "
                             "runs epochs)")
        lr = check_number("lr", self.lr if lr is None else lr, lo=0, strict=True)
        min_lr = check_number("min_lr", self.min_lr if min_lr is None else min_lr, lo=0)
        seed = check_seed("seed", self.seed if seed is None else seed)
        threads = check_int("threads", self.threads if threads is None else threads, 1,
                            none=True, hi=MAX_THREADS) or _core.get_num_threads()
        n, ids, offsets = self._encode(documents)
        dim = self.vectors.shape[1]
        V = len(self.vocab)
        words, syn1 = self.vectors[:V], self.syn1neg
        # Chunks of documents, about CHUNK_WORK words x epochs per thread each.
        starts = np.r_[offsets, len(ids)]
        draws = self._draws()
        parts = []
        b = 0
        step = max(1, CHUNK_WORK * threads // max_epochs)
        while b < n:
            e = min(n, max(b + 1, int(np.searchsorted(starts, starts[b] + step, side="left"))))
            sub_ids = ids[starts[b]:starts[e]]
            parts.append(_core.doc2vec_infer(
                sub_ids, offsets[b:e] - starts[b], draws, words, syn1,
                int(self.window), int(self.negative), float(self.sample), float(lr),
                float(min_lr), int(seed), int(threads), bool(self.dm), int(epochs),
                int(max_epochs), tol=float(tol or 0.0)))
            b = e
        if len(parts) == 1:  # the usual case: the call's own arrays, no copy
            out, used, loss, converged = parts[0]
        elif parts:
            out, used, loss, converged = (np.concatenate(x) for x in zip(*parts))
        else:
            out, used = np.zeros((0, dim), np.float32), np.zeros(0, np.int32)
            loss, converged = np.zeros(0), np.zeros(0, bool)
        lost = np.flatnonzero(np.diff(starts) == 0)
        if len(lost):
            warnings.warn(f"documents[{lost[0]}]" + (f" and {len(lost) - 1} others"
                          if len(lost) > 1 else "") + " have no word in the vocabulary: "
                          "their vectors are zero", UserWarning, stacklevel=2)
        return out, InferInfo(used, loss, converged)

    def _encode(self, documents: Any) -> tuple[int, np.ndarray, np.ndarray]:
        """(n, ids, offsets) of the documents to infer; ValueError names an empty one."""
        assert self.vocab is not None
        docs = _doc_list(documents)
        # Token lists and strs straight to the native vocabulary (no joined lines); other
        # documents, and a lower-casing vocabulary, through the lines.
        got = None if self.vocab.lower else self.vocab._built().encode_tokens(docs)
        if got is None:
            lines = _lines(docs)
            empty = next((i for i, line in enumerate(lines)
                          if not line or line.isspace()), -1)
            ids, offsets = (self.vocab.encode(lines) if lines and empty < 0
                            else (np.zeros(0, np.int64), np.zeros(0, np.int64)))
        else:
            ids, offsets, empty = got
        if empty >= 0:
            raise ValueError(f"documents[{empty}]: empty; a document needs at least one token")
        return len(docs), ids, offsets

    def infer_vector(self, doc_words: Any, alpha: float | None = None,
                     min_alpha: float | None = None, epochs: int | None = None
                     ) -> np.ndarray:
        """One document's vector, as gensim's ``infer_vector`` (the same arguments, in the
        same order): ``epochs`` epochs at a rate decaying from ``alpha`` to ``min_alpha``.

        Parameters
        ----------
        doc_words : list of str
            The document's tokens; words outside the vocabulary are dropped.
        alpha, min_alpha : float, optional
            The first and last epochs' rate; default the model's ``lr`` and ``min_lr``.
        epochs : int, optional
            Default ``self.epochs``.

        Returns
        -------
        ndarray, shape (dim,)
            float32; the row :meth:`infer_vectors` gives for this document."""
        if isinstance(doc_words, str) or not isinstance(doc_words, Iterable):
            raise TypeError(f"doc_words: expected a list of str tokens, got "
                            f"{type(doc_words).__name__}")
        if alpha is not None:
            check_number("alpha", alpha, lo=0, strict=True)
        if min_alpha is not None:
            check_number("min_alpha", min_alpha, lo=0)
        vectors, _ = self.infer_vectors([list(doc_words)], epochs=epochs, lr=alpha,
                                        min_lr=min_alpha)
        return vectors[0]

    # -- files --------------------------------------------------------------------------
    def save(self, path: str | os.PathLike[str]) -> None:
        """Write the model to ``path`` (exactly; no extension added) as one ``.npz`` file in
        the format of the module docstring, replaced atomically (temporary file, fsync,
        rename), as :meth:`Word2Vec.save`.

        Parameters
        ----------
        path : str or os.PathLike
            The file to write (a path, not an open file)."""
        if self.vocab is None or self.vectors is None or self.syn1neg is None:
            raise not_fitted(self, "nothing to save; train the model")
        self._check_params()  # a file that load would refuse is not written
        with atomic_write(check_path(path)) as f:
            np.savez(f, format=np.array(_FORMAT),
                     params=np.array(json.dumps(saved_params(self))),
                     words=pack_words(self.vocab.words), counts=self.vocab.counts,
                     total_tokens=np.array(self.vocab.total_tokens, np.int64),
                     tags=np.array(json.dumps(self._tags)), vectors=self.vectors,
                     syn1neg=self.syn1neg, loss_history=np.array(self.loss_history_, np.float64),
                     **staged_member(self))  # type: ignore[arg-type]

    @classmethod
    def load(cls, path: str | os.PathLike[str]) -> Doc2Vec:
        """Read a model written by :meth:`save`.  A file that is not one raises ValueError
        naming the file and the member; a missing file raises FileNotFoundError.

        Parameters
        ----------
        path : str or os.PathLike
            The file to read.

        Returns
        -------
        Doc2Vec
            The model as saved: hyperparameters, vocabulary, tags, word and document
            vectors, and loss history.

        Raises
        ------
        ValueError
            For anything but a file written by :meth:`save`, naming the file and the
            member.
        FileNotFoundError
            For a missing file."""
        name = check_path(path)
        a = read_npz(name, _FORMAT, "msopt Doc2Vec")

        def bad(msg: str) -> ValueError:
            return ValueError(f"{name}: not a valid msopt Doc2Vec file ({msg})")

        missing = sorted(_MEMBERS - a.keys())
        if missing:
            raise bad(f"missing {missing}")
        try:
            model = cls(**params_from_file(cls, a["params"], name))
        except (TypeError, ValueError) as e:
            raise bad(f"params: {e}") from None
        try:
            tags = json.loads(str(a["tags"][()]))
            n_tokens = check_count("total_tokens", a["total_tokens"][()], name)
        except (ValueError, TypeError, IndexError) as e:
            raise bad(f"tags or total_tokens: {e}") from None
        if not isinstance(tags, list) or not all(_is_tag(t) for t in tags) \
                or len(set(tags)) != len(tags):
            raise bad("tags: a JSON list of distinct ints or strs expected")
        words = unpack_words(a["words"], name)
        counts, vectors, syn1 = a["counts"], a["vectors"], a["syn1neg"]
        V, T = len(words), len(tags)
        history = a["loss_history"]
        ok = (counts.dtype == np.int64 and counts.shape == (V,) and vectors.dtype == np.float32
              and vectors.shape == (V + T, model.dim) and syn1.dtype == np.float32
              and syn1.shape == (V, model.dim) and history.ndim == 1
              and history.dtype.kind == "f")
        if not ok:
            raise bad("the arrays' shapes or types disagree with its vocabulary and tags")
        try:
            vocab = Vocabulary.from_counts(words, counts, n_tokens, min_count=model.min_count,
                                           lower=model.lower)
        except (TypeError, ValueError) as e:
            raise bad(str(e)) from None
        model.vocab, model._tags = vocab, tags
        model.vectors = np.ascontiguousarray(vectors)
        model.syn1neg = np.ascontiguousarray(syn1)
        model.loss_history_ = [float(x) for x in history]
        model._views()
        try:
            set_staged(model, a)
        except (TypeError, ValueError) as e:
            raise bad(str(e)) from None
        return model
