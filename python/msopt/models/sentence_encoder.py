"""A sentence encoder trained on pairs of texts: the mean of a text's word and hashed word
n-gram vectors, an optional linear projection, L2-normalized; trained by minibatch steps
of any msopt optimizer in fused native loops (row-sparse updates of the table)."""

from __future__ import annotations

import json
import math
import os
import re
import time
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from msopt import _core
from msopt._api import (
    INT64_MAX,
    MAX_EPOCHS,
    MAX_THREADS,
    ParamsMixin,
    check_bool,
    check_choice,
    check_int,
    check_memory,
    check_number,
    check_seed,
    keyword_aliases,
    not_fitted,
    refits,
)
from msopt._io import atomic_write, check_path, pack_words, read_npz, unpack_words
from msopt._progress import (
    Tracker,
    check_callbacks,
    check_verbose,
    saved_params,
    set_staged,
    staged_member,
)
from msopt.exceptions import DivergenceError
from msopt.linear_model.layer import run_schedule
from msopt.optim.optimizers import OPTIMIZERS, Optimizer, make_optimizer
from msopt.text import Vocabulary

__all__ = ["SentenceEncoder", "tokenize"]

FORMAT = "msopt-sentenceencoder 1"
LOSSES = ("auto", "in_batch", "cosine", "logistic", "contrastive")
_LOSS_CODE = {"in_batch": 0, "cosine": 1, "logistic": 2, "contrastive": 3}
SCHEDULES = ("constant", "linear", "cosine")
TOKEN = re.compile(r"[^\W_]+")
# Everything that is not a token character, except the separator of joined texts.
_NOT_TOKEN = re.compile(r"(?:[^\w\x00]|_)+")
# ASCII bytes that are not token characters (every one but letters, digits and the
# separator \x00) become spaces.
_ASCII_SPACES = bytes(b if (chr(b).isalnum() or b == 0) else 32 for b in range(128)) + \
    b" " * 128
_CHUNK_SECONDS = 0.25  # a native training call returns to Python about this often
_ENCODE_CHUNK = 1 << 16  # texts per native encode call


def tokenize(text: str, lower: bool = True) -> list[str]:
    """The encoder's tokens of a str: runs of letters and digits (``[^\\W_]+``),
    lower-cased unless ``lower=False``."""
    return TOKEN.findall(text.lower() if lower else text)


def _texts(texts: Any, name: str, lower: bool) -> list[str]:
    """Each text as one line of its tokens joined by single spaces (the form msopt.text's
    vocabulary reads).  A text is a str (tokenized by :func:`tokenize`) or a sequence of
    str tokens (taken as they are, lower-cased when ``lower``)."""
    if isinstance(texts, (str, bytes)) or not isinstance(texts, (Sequence, np.ndarray)):
        raise TypeError(f"{name}: expected a list of texts (str or token lists), got "
                        f"{type(texts).__name__}")
    items = list(texts)
    if all(type(t) is str for t in items):
        big = "\x00".join(items)
        if big.count("\x00") == max(len(items) - 1, 0):  # no text holds the separator
            if big.isascii():  # the same tokens, by byte translation (no regex matches)
                data = big.encode("ascii")
                if lower:
                    data = data.lower()
                lines = data.translate(_ASCII_SPACES).decode("ascii").split("\x00")
            else:
                lines = _NOT_TOKEN.sub(" ", big.lower() if lower else big).split("\x00")
            if len(lines) == len(items):
                return lines
    out = []
    for i, t in enumerate(items):
        if isinstance(t, str):
            out.append(" ".join(tokenize(t, lower)))
            continue
        if isinstance(t, (bytes, bytearray)) or not isinstance(t, (Sequence, np.ndarray)):
            raise TypeError(f"{name}[{i}]: expected a str or a list of str tokens, got "
                            f"{type(t).__name__}")
        toks = list(t)
        for tok in toks:
            if not isinstance(tok, str):
                raise TypeError(f"{name}[{i}]: tokens must be str, got {type(tok).__name__}")
        line = " ".join(toks)
        if lower:
            line = line.lower()
        if line.split() != [x.lower() if lower else x for x in toks] or "\x00" in line:
            raise ValueError(f"{name}[{i}]: tokens must be non-empty and hold no whitespace")
        out.append(line)
    return out


def _one_per_pair(a: list[Any], b: list[Any]) -> None:
    if len(a) != len(b):
        raise ValueError(f"b_texts: expected {len(a)} texts (one per a text), got {len(b)}")


def _vectors_of(source: Any) -> tuple[list[str], np.ndarray]:
    """(words, vectors) of a Word2Vec / Doc2Vec (its ``wv``) or of KeyedVectors
    (``index_to_key`` and ``vectors``: msopt's or gensim's)."""
    from msopt.exceptions import NotFittedError

    try:  # (getattr with a default would take NotFittedError, an AttributeError, as "none")
        kv = source.wv if hasattr(type(source), "wv") else getattr(source, "wv", source)
    except NotFittedError:  # an msopt Word2Vec or Doc2Vec not yet built (a clone, say)
        raise ValueError(f"word_vectors: the {type(source).__name__} is not fitted; train "
                         "it first (scikit-learn's clone makes unfitted copies of the models "
                         "given as parameters)") from None
    words = getattr(kv, "index_to_key", None)
    vectors = getattr(kv, "vectors", None)
    if words is None or vectors is None:
        raise TypeError("word_vectors: expected a Word2Vec or Doc2Vec (with .wv) or "
                        f"KeyedVectors (index_to_key, vectors), got {type(source).__name__}")
    vectors = np.asarray(vectors)
    if vectors.ndim != 2 or len(words) != vectors.shape[0] or vectors.dtype.kind != "f":
        raise ValueError("word_vectors: expected one float row of vectors per word, got "
                         f"{len(words)} words and an array of shape {vectors.shape}")
    if not np.isfinite(vectors).all():
        raise ValueError("word_vectors: the vectors hold NaN or Inf")
    return [str(w) for w in words], vectors


class SentenceEncoder(ParamsMixin):
    """Sentence vectors trained on pairs of texts.

    A text's known words and its hashed word n-grams (fastText's hashing, msopt.text) index
    rows of a table; their mean, through an optional linear projection, and L2-normalized,
    is the text's vector, and the cosine of two vectors scores a pair.  ``fit`` trains on
    pairs ``(a_texts[i], b_texts[i])`` with one of three objectives, chosen by what it is
    given (``loss="auto"``):

    * neither ``scores`` nor ``labels``: a softmax over the batch, each a text against its
      own b text and every other b text of the batch as negatives (the multiple negatives
      ranking loss), the cosines divided by ``temperature``;
    * ``scores`` (relatedness, STS/SICK style): cosine regression, ``0.5 (cos - t)^2``, the
      scores mapped linearly onto targets t in [0, 1] (``score_range``, default the lowest
      and highest training score, goes to [0, 1]);
    * ``labels`` (0/1): the contrastive loss, ``0.5 (1 - cos)^2`` for label 1 and
      ``0.5 max(0, cos - margin)^2`` for label 0 (``loss="contrastive"``), or, with
      ``loss="logistic"``, the logistic loss of ``(cos - margin) / temperature`` (label 1
      the positive class).  On TrecQA's development questions the contrastive loss ranked
      answers a little better (MAP 0.554 against 0.539, two seeds), hence the default.

    Every step is one fused native forward/backward/update through msopt's optimizer engine
    (the table's rows in the batch updated row-sparse), and runs of batches go in one
    native call without the GIL.

    Tokens: a text given as a str is split into runs of letters and digits (``[^\\W_]+``),
    lower-cased (``lower=True``); a text given as a list of str tokens is used as it is
    (lower-cased when ``lower``).  The vocabulary holds the training words seen
    ``min_count`` times or more, plus every word of ``word_vectors``.  At encode time an
    unknown word adds no word row, but the n-grams it is part of are still hashed; a text
    with no known word and no n-gram (empty, or one unknown word) gets the zero vector,
    whose cosine with anything is 0.

    Parameters
    ----------
    dim : int, optional
        Width of the table's rows (default 100, or the width of ``word_vectors``).
    projection : int, optional
        Width of a linear projection (with bias) after the mean; None: no projection, the
        vectors are ``dim`` wide.  It starts as the identity when as wide as ``dim``.
    ngrams : int, default 2
        Word n-grams of 2..ngrams tokens are hashed into ``buckets`` rows (1: words only).
    buckets : int, default 200,000
        Rows for the hashed n-grams.
    min_count : int, default 1
        Training words seen fewer times are left out of the vocabulary.
    word_vectors : Word2Vec, Doc2Vec or KeyedVectors, optional
        Start the word rows from these vectors (their ``wv``: ``index_to_key`` and
        ``vectors``; gensim's work too), rescaled by one factor so that their entries'
        root mean square is ``init_scale``.  Words of the training texts that it lacks
        start at random.  Not saved with the model (the trained table is).
    init_scale : float, default 0.1
        The root mean square of the table's starting entries (words: normal draws; n-gram
        rows start at 0).
    loss : {"auto", "in_batch", "cosine", "logistic", "contrastive"}
        The objective; "auto" picks it from ``fit``'s arguments (see above).
    temperature : float, default 0.05
        Divides the cosines of the in-batch softmax and of the logistic loss.
    margin : float, default 0.5
        The logistic loss's threshold on the cosine, and the contrastive loss's margin.
    score_range : (float, float), optional
        The scores mapped to targets 0 and 1 by the cosine regression (default: the lowest
        and highest training score).
    optimizer : str, default "adam"
        Any of msopt's optimizers: "sgd", "adam", "adamw", "adagrad", "rmsprop", "lion".
    lr : float, default 3e-3
        The base learning rate (alias ``learning_rate``).
    optimizer_params : dict, optional
        Other hyperparameters of the optimizer.
    max_grad_norm : float, optional
        Clip the global gradient norm of each step.
    schedule : {"constant", "linear", "cosine"}, default "linear"
        The learning rate over a :meth:`fit`: constant, linear decay to ``min_lr_factor``
        of ``lr``, or a 2% warmup then a cosine decay.
    min_lr_factor : float, default 0.05
        The learning rate's floor as a share of ``lr``.
    batch_size : int, default 64
        Pairs per step (alias ``batch``); the in-batch loss's negatives are the batch's.
    epochs : int, default 10
        Passes over the pairs.
    lower : bool, default True
        Lower-case the texts.
    threads : int, optional
        Threads of the native loops (default: msopt's thread count).  A fixed seed repeats
        a fit bit for bit, for any thread count.
    seed : int, default 0
        Seeds the initial table and the order of the pairs (alias ``random_state``).
    verbose : bool or int, default 0
        Show the training's progress: a tqdm bar when installed, else a line on stderr
        (one kept per epoch).  The ``"msopt"`` logger gets the same reports at INFO.
    callbacks : list of callables, optional
        ``f(model, progress) -> bool`` after each native chunk of batches, given a
        :class:`msopt.Progress` record (epoch, pairs seen, loss, learning rate, pairs per
        second; at an epoch's end with ``val_pearson`` when validating); True stops the
        training there (``stop_reason_ == "callback"``).

    Attributes
    ----------
    vocab_ : msopt.text.Vocabulary
        The words (table rows 0..len-1); rows after them are the n-gram buckets.
    params_ : list of ndarray
        ``E`` (words + buckets, dim), then ``W`` (dim, projection) and ``b`` when
        projected.
    optimizer_ : msopt.Optimizer
        The optimizer over ``params_``, with its state after the fit (not saved: a loaded
        or unpickled model has a new one).
    loss_ : str
        The objective of the last fit.
    score_range_ : (float, float) or None
        The scores mapped to 0 and 1 (cosine regression).
    history_ : list of dict
        One entry per epoch: ``epoch``, ``train_loss`` (mean per pair, before each step),
        ``seconds``, ``pairs_per_sec`` and, with ``validation``, ``val_pearson``.
    stop_reason_ : str
        ``"epochs"``, ``"callback"`` or ``"interrupted"`` (Ctrl-C: the steps completed are
        kept and the KeyboardInterrupt is raised again).

    Examples
    --------
    >>> from msopt.models.sentence_encoder import SentenceEncoder
    >>> a = ["a cat sat on the mat", "dogs bark at night", "the sun is hot"] * 20
    >>> b = ["a cat is on a mat", "a dog barks at night", "the sun is warm"] * 20
    >>> enc = SentenceEncoder(dim=16, epochs=5, threads=1).fit(a, b)
    >>> enc.encode(["a cat on a mat"]).shape
    (1, 16)
    >>> sims = enc.similarity(["a cat sat"], ["a cat sat"])
    >>> round(float(sims[0]), 4)
    1.0
    """

    vocab_: Vocabulary
    params_: list[np.ndarray]
    optimizer_: Optimizer
    loss_: str
    score_range_: tuple[float, float] | None
    history_: list[dict[str, Any]]
    stop_reason_: str

    _repr_always = ("dim",)
    # what the fitted table, projection and vocabulary are made for
    _structural = ("dim", "projection", "ngrams", "buckets", "lower", "min_count")

    def _fitted_marker(self) -> Any:
        return self.__dict__.get("params_")

    @keyword_aliases(learning_rate="lr", random_state="seed", batch="batch_size",
                     vector_size="dim", workers="threads")
    def __init__(self, dim: int | None = None, projection: int | None = None, ngrams: int = 2,
                 buckets: int = 200_000, min_count: int = 1, word_vectors: Any = None,
                 init_scale: float = 0.1, loss: str = "auto", temperature: float = 0.05,
                 margin: float = 0.5, score_range: tuple[float, float] | None = None,
                 optimizer: str = "adam", lr: float = 3e-3,
                 optimizer_params: dict[str, Any] | None = None,
                 max_grad_norm: float | None = None, schedule: str = "linear",
                 min_lr_factor: float = 0.05, batch_size: int = 64, epochs: int = 10,
                 lower: bool = True, threads: int | None = None, seed: int = 0,
                 verbose: bool | int = 0,
                 callbacks: Sequence[Callable[..., Any]] | None = None) -> None:
        self.dim, self.projection, self.ngrams, self.buckets = dim, projection, ngrams, buckets
        self.min_count, self.word_vectors, self.init_scale = min_count, word_vectors, init_scale
        self.loss, self.temperature, self.margin = loss, temperature, margin
        self.score_range, self.optimizer, self.lr = score_range, optimizer, lr
        self.optimizer_params, self.max_grad_norm = optimizer_params, max_grad_norm
        self.schedule, self.min_lr_factor = schedule, min_lr_factor
        self.batch_size, self.epochs, self.lower = batch_size, epochs, lower
        self.threads, self.seed, self.verbose = threads, seed, verbose
        self.callbacks = callbacks
        self._check_params()

    # -- parameters -----------------------------------------------------------------------
    def _check_params(self) -> None:
        check_int("dim", self.dim, 1, none=True, hi=1 << 20)
        check_int("projection", self.projection, 1, none=True, hi=1 << 20)
        check_int("ngrams", self.ngrams, 1, hi=64)
        check_int("buckets", self.buckets, 0, hi=1 << 40)
        check_int("min_count", self.min_count, 1, hi=INT64_MAX)
        check_number("init_scale", self.init_scale, lo=0, strict=True)
        check_choice("loss", self.loss, LOSSES)
        check_number("temperature", self.temperature, lo=0, strict=True)
        check_number("margin", self.margin, lo=-1, hi=1)
        if self.score_range is not None:
            sr = self.score_range
            if not isinstance(sr, (tuple, list)) or len(sr) != 2:
                raise TypeError("score_range: expected a pair (low, high) or None, got "
                                f"{sr!r}")
            lo = check_number("score_range[0]", sr[0])
            hi = check_number("score_range[1]", sr[1])
            if not hi > lo:
                raise ValueError(f"score_range: expected low < high, got {tuple(sr)!r}")
        if not isinstance(self.optimizer, str) or self.optimizer.lower() not in OPTIMIZERS:
            raise ValueError(f"optimizer: expected one of {tuple(OPTIMIZERS)}, got "
                             f"{self.optimizer!r}")
        check_number("lr", self.lr, lo=0, strict=True)
        if self.optimizer_params is not None:
            if not isinstance(self.optimizer_params, dict):
                raise TypeError("optimizer_params: expected a dict or None, got "
                                f"{type(self.optimizer_params).__name__}")
            bad = {"lr", "params", "max_grad_norm"} & set(self.optimizer_params)
            if bad:
                raise ValueError(f"optimizer_params: {sorted(bad)} are set by the model's own "
                                 "arguments")
        if self.max_grad_norm is not None:
            check_number("max_grad_norm", self.max_grad_norm, lo=0, strict=True)
        check_choice("schedule", self.schedule, SCHEDULES)
        check_number("min_lr_factor", self.min_lr_factor, lo=0, hi=1)
        check_int("batch_size", self.batch_size, 1, hi=1 << 20)
        check_int("epochs", self.epochs, 0, hi=MAX_EPOCHS)
        check_bool("lower", self.lower)
        check_int("threads", self.threads, 1, none=True, hi=MAX_THREADS)
        check_seed("seed", self.seed)
        check_verbose(self.verbose)
        check_callbacks(self.callbacks)

    def _threads(self) -> int:
        return int(self.threads or _core.get_num_threads())

    def _repr_state(self) -> list[str]:
        if not hasattr(self, "params_"):
            return ["not fitted"]
        return [f"vocab={len(self.vocab_):,}", f"loss_={self.loss_!r}"]

    def _resolve_loss(self, scores: Any, labels: Any) -> str:
        loss = self.loss
        if loss == "auto":
            return "cosine" if scores is not None else "contrastive" if labels is not None \
                else "in_batch"
        need = {"in_batch": "neither scores nor labels", "cosine": "scores",
                "logistic": "labels", "contrastive": "labels"}[loss]
        given = "scores" if scores is not None else "labels" if labels is not None else None
        ok = (given is None and loss == "in_batch") or (given == "scores" and loss == "cosine") \
            or (given == "labels" and loss in ("logistic", "contrastive"))
        if not ok:
            raise ValueError(f"loss: {loss!r} trains on pairs with {need}, but fit() was given "
                             f"{given or 'neither'}")
        return loss

    # -- tokens and ids -------------------------------------------------------------------
    def _lines(self, texts: Any, name: str) -> list[str]:
        return _texts(texts, name, bool(self.lower))

    def _ids(self, vocab: Vocabulary, lines: list[str]) -> tuple[np.ndarray, np.ndarray]:
        """(ids, offsets) of the lines: the vocabulary's encoding (msopt.text), called on
        its native core directly (the lines are already one str each, lower-cased as
        needed), in parallel slices of 4,096 lines or more when threads allow."""
        if not lines:
            return np.zeros(0, np.int64), np.zeros(0, np.int64)
        n = int(self.ngrams)
        buckets = int(self.buckets) if n > 1 else 0
        # the native encoder splits the lines over msopt's threads, without the GIL
        return vocab._core.encode(lines, n, buckets,  # type: ignore[no-any-return]
                                  self._threads())

    def _build_vocab(self, lines: list[str], pre: list[str]) -> Vocabulary:
        words: list[str] = []
        counts: list[int] = []
        total = 0
        if any(line.strip() for line in lines):
            try:
                v = Vocabulary(min_count=int(self.min_count)).fit(lines)
                words, counts, total = v.words, v.counts.tolist(), v.total_tokens
            except ValueError:  # no word seen min_count times
                pass
        seen = set(words)
        for w in pre:
            if w not in seen:
                seen.add(w)
                words.append(w)
                counts.append(1)
        if not words:
            raise ValueError("a_texts, b_texts: no word is seen min_count times in the pairs "
                             "and no word_vectors were given; the vocabulary would be empty")
        return Vocabulary.from_counts(words, counts, total)

    def _pretrained(self) -> tuple[list[str], np.ndarray | None]:
        if self.word_vectors is None:
            return [], None
        words, vectors = _vectors_of(self.word_vectors)
        keep: dict[str, int] = {}
        for i, w in enumerate(words):
            t = w.lower() if self.lower else w
            if t and t not in keep and t.split() == [t] and "\x00" not in t:
                keep[t] = i
        return list(keep), vectors[list(keep.values())] if keep else vectors[:0]

    def _width(self, vectors: np.ndarray | None) -> int:
        if vectors is not None:
            d = vectors.shape[1]
            if self.dim is not None and int(self.dim) != d:
                raise ValueError(f"dim: {self.dim} differs from the width of word_vectors "
                                 f"({d}); leave dim unset or equal to it")
            return int(d)
        return 100 if self.dim is None else int(self.dim)

    def _init_params(self, vocab_size: int, dim: int, pre_words: list[str],
                     pre_vectors: np.ndarray | None, vocab: Vocabulary) -> list[np.ndarray]:
        rng = np.random.default_rng(int(self.seed))
        s = float(self.init_scale)
        rows = vocab_size + (int(self.buckets) if int(self.ngrams) > 1 else 0)
        # the table, its optimizer state (up to three arrays) and a float64 draw of the words
        check_memory("SentenceEncoder", f"{rows:,} rows (words + buckets) x dim={dim:,} "
                     "float32", rows * dim * 4, 4 + 2 * vocab_size // max(rows, 1),
                     what="the table and its optimizer state need",
                     hint="Reduce buckets or dim.")
        E = np.zeros((rows, dim), np.float32)
        E[:vocab_size] = rng.standard_normal((vocab_size, dim), np.float32) * np.float32(s)
        if pre_vectors is not None and len(pre_words):
            v = pre_vectors.astype(np.float64)
            rms = math.sqrt(float(np.mean(v * v))) or 1.0
            idx = np.array([vocab[w] for w in pre_words], np.int64)
            E[idx] = (v * (s / rms)).astype(np.float32)
        out: list[np.ndarray] = [E]
        if self.projection is not None:
            p = int(self.projection)
            if p == dim:
                W = np.eye(dim, dtype=np.float32)
            else:
                q, _ = np.linalg.qr(rng.standard_normal((max(dim, p), min(dim, p))))
                W = (q if dim >= p else q.T).astype(np.float32)
                W = np.ascontiguousarray(W[:dim, :p])
            out += [W, np.zeros(p, np.float32)]
        return out

    def _make_optimizer(self, params: list[np.ndarray]) -> Optimizer:
        return make_optimizer(self.optimizer, params, self.lr, self.max_grad_norm,
                              self.optimizer_params)

    def _schedule(self, total: int) -> Any:
        return run_schedule(self.schedule, total, int(0.02 * total), float(self.min_lr_factor))

    # -- training -------------------------------------------------------------------------
    def _targets(self, n: int, scores: Any, labels: Any, loss: str
                 ) -> tuple[np.ndarray | None, tuple[float, float] | None]:
        if scores is not None and labels is not None:
            raise ValueError("scores, labels: give one of them (scores for regression, labels "
                             "for 0/1 pairs), not both")
        if scores is not None:
            try:
                s = np.asarray(scores, dtype=np.float64)
            except (TypeError, ValueError):
                raise TypeError("scores: expected a 1-D array of real numbers") from None
            if s.ndim != 1 or len(s) != n:
                raise ValueError(f"scores: expected {n} scores (one per pair), got shape "
                                 f"{s.shape}")
            if not np.isfinite(s).all():
                raise ValueError("scores: must be finite")
            if self.score_range is not None:
                lo, hi = float(self.score_range[0]), float(self.score_range[1])
            else:
                lo, hi = float(s.min()), float(s.max())
                if not hi > lo:
                    raise ValueError(f"scores: all equal ({lo}); give score_range to map them "
                                     "onto [0, 1]")
            return np.ascontiguousarray((s - lo) / (hi - lo)), (lo, hi)
        if labels is not None:
            lab = np.asarray(labels)
            if lab.ndim != 1 or len(lab) != n:
                raise ValueError(f"labels: expected {n} labels (one per pair), got shape "
                                 f"{lab.shape}")
            if lab.dtype.kind not in "biuf" or not np.isin(lab, (0, 1)).all():
                raise ValueError("labels: expected 0/1 labels (or bools)")
            return np.ascontiguousarray(lab.astype(np.float64)), None
        return None, None

    @refits
    def fit(self, a_texts: Any, b_texts: Any, scores: Any = None, labels: Any = None, *,
            validation: Any = None) -> SentenceEncoder:
        """Train from scratch on the pairs ``(a_texts[i], b_texts[i])``: with ``scores``,
        cosine regression; with ``labels`` (0/1), the contrastive (or logistic) loss;
        with neither, the in-batch softmax.  The vocabulary (the pairs' words seen
        ``min_count`` times or more, and the words of ``word_vectors``) and the table are
        made anew.

        Parameters
        ----------
        a_texts : sequence of str or of token lists
            The first text of each pair: a str (split into runs of letters and digits) or a
            list of str tokens (non-empty, without whitespace, used as they are); lower-cased
            when ``lower``.
        b_texts : sequence of str or of token lists
            The second text of each pair, as ``a_texts``, one per ``a_texts`` entry.
        scores : array_like of float, optional
            One finite relatedness score per pair, for the cosine regression; mapped
            linearly onto targets in [0, 1] by ``score_range`` (default: the lowest and
            highest of them, which must differ).
        labels : array_like of 0/1, optional
            One label per pair (ints, bools or floats equal to 0 or 1; 1: a related pair),
            for the contrastive loss (or the logistic loss with ``loss="logistic"``).  Give
            ``scores`` or ``labels``, not both; a ``loss`` other than "auto" must be one that
            trains on what is given.
        validation : (a_texts, b_texts, scores), optional
            Held-out pairs and one score per pair: each epoch's Pearson correlation of their
            cosines and scores is added to ``history_`` (``val_pearson``).

        Returns
        -------
        SentenceEncoder
            self.  A rejected call changes nothing; an interrupted one keeps the steps
            completed.
        """
        self._check_params()
        loss = self._resolve_loss(scores, labels)
        a_lines = self._lines(a_texts, "a_texts")
        b_lines = self._lines(b_texts, "b_texts")
        n = len(a_lines)
        if len(b_lines) != n:
            raise ValueError(f"b_texts: expected {n} texts (one per a text), got "
                             f"{len(b_lines)}")
        if n == 0:
            raise ValueError("a_texts: no pairs to train on")
        targets, srange = self._targets(n, scores, labels, loss)
        val = None
        if validation is not None:
            if not isinstance(validation, (tuple, list)) or len(validation) != 3:
                raise TypeError("validation: expected (a_texts, b_texts, scores)")
            va, vb = (self._lines(validation[0], "validation[0]"),
                      self._lines(validation[1], "validation[1]"))
            try:
                vs = np.asarray(validation[2], np.float64)
            except (TypeError, ValueError):
                raise TypeError("validation[2]: expected a 1-D array of real numbers") from None
            if len(va) != len(vb) or vs.shape != (len(va),):
                raise ValueError("validation: a_texts, b_texts and scores must have one entry "
                                 "per pair")
            if not np.isfinite(vs).all():
                raise ValueError("validation[2]: the scores must be finite")
            if len(vs) < 2 or not vs.max() > vs.min():
                raise ValueError("validation[2]: at least two different scores are needed "
                                 "for a Pearson correlation")
            val = (va, vb, vs)
        pre_words, pre_vectors = self._pretrained()
        dim = self._width(pre_vectors)
        vocab = self._build_vocab(a_lines + b_lines, pre_words)
        params = self._init_params(len(vocab), dim, pre_words, pre_vectors, vocab)
        rows = params[0].shape[0]
        ai, ao = self._ids(vocab, a_lines)
        bi, bo = self._ids(vocab, b_lines)
        pairs = _core.EncoderPairs(ai, ao, bi, bo, rows, targets)  # type: ignore[attr-defined]
        opt = self._make_optimizer(params)
        saved = self.__dict__.copy()
        try:
            self._train(pairs, params, opt, vocab, loss, srange, val)
        except BaseException as e:
            kept = isinstance(e, KeyboardInterrupt) and self.__dict__.get("params_") is params
            if not kept:
                self.__dict__.clear()
                self.__dict__.update(saved)
            raise
        return self

    def _train(self, pairs: Any, params: list[np.ndarray], opt: Optimizer, vocab: Vocabulary,
               loss: str, srange: tuple[float, float] | None, val: Any) -> None:
        n = len(pairs)
        bs = min(int(self.batch_size), n)
        n_batches = -(-n // bs)
        epochs = int(self.epochs)
        sched = self._schedule(epochs * n_batches)
        threads = self._threads()
        seed = int(self.seed)
        history: list[dict[str, Any]] = []
        stop = "epochs"
        chunk = 4
        code = _LOSS_CODE[loss]

        def install() -> None:
            self.vocab_, self.params_, self.optimizer_ = vocab, params, opt
            self.loss_, self.score_range_ = loss, srange
            self.history_, self.stop_reason_ = history, stop

        track = Tracker(self, epochs=epochs, total=epochs * n, unit="pairs",
                        callbacks=self.callbacks, verbose=self.verbose)
        try:
            for e in range(epochs):
                t0 = time.perf_counter()
                total, count, b = 0.0, 0, 0
                while b < n_batches and stop != "callback":
                    c0 = time.perf_counter()
                    lsum, cnt, done, status = _core.encoder_train(  # type: ignore[attr-defined]
                        pairs, opt.native_state(), loss=code,
                        temperature=float(self.temperature), margin=float(self.margin),
                        batch_size=bs, seed=seed, epoch=e, batch_begin=b,
                        batch_end=min(n_batches, b + chunk), schedule=sched,
                        schedule_origin=0, threads=threads)
                    if status:
                        what = "loss" if status == 1 else "gradient"
                        raise DivergenceError(
                            f"the training {what} became NaN or Inf in epoch {e + 1} (batch "
                            f"{b + done + 1}); the model was left as it was before this "
                            f"call.  Try a smaller lr (now {self.lr}) or max_grad_norm.")
                    total, count, b = total + lsum, count + cnt, b + done
                    spent = time.perf_counter() - c0
                    chunk = max(1, min(chunk * 4, n_batches,
                                       int(chunk * _CHUNK_SECONDS / max(spent, 1e-4))))
                    if b < n_batches and track.report(
                            e + 1, e * n + min(b * bs, n), total / max(count, 1),
                            float(self.lr) * sched.at(float(e * n_batches + b))):
                        stop = "callback"
                if stop == "callback":
                    break
                seconds = time.perf_counter() - t0
                entry: dict[str, Any] = {"epoch": e + 1, "train_loss": total / max(count, 1),
                                         "seconds": seconds,
                                         "pairs_per_sec": count / max(seconds, 1e-9)}
                if val is not None:
                    install()
                    entry["val_pearson"] = _pearson(
                        self._similarity_lines(val[0], val[1]), val[2])
                history.append(entry)
                extra = {"val_pearson": entry["val_pearson"]} if val is not None else {}
                if track.report(e + 1, (e + 1) * n, entry["train_loss"],
                                float(self.lr) * sched.at(float((e + 1) * n_batches)),
                                epoch_end=True, **extra):
                    stop = "callback"
                    break
        except KeyboardInterrupt:
            stop = "interrupted"
            install()
            raise
        finally:
            track.close()
        install()

    @property
    def loss_history_(self) -> list[float]:
        """Mean training loss of each epoch of the last :meth:`fit` (``history_``'s
        ``train_loss``)."""
        return [h["train_loss"] for h in self.history_]

    # -- prediction -----------------------------------------------------------------------
    def _check_fitted(self) -> None:
        if not hasattr(self, "params_"):
            raise not_fitted(self, "call fit() (or load())")

    def _encode_lines(self, lines: list[str]) -> np.ndarray:
        width = self.params_[1].shape[1] if len(self.params_) == 3 else self.params_[0].shape[1]
        if not lines:
            return np.zeros((0, width), np.float32)
        parts = []
        for s in range(0, len(lines), _ENCODE_CHUNK):
            ids, offsets = self._ids(self.vocab_, lines[s:s + _ENCODE_CHUNK])
            parts.append(_core.encoder_encode(  # type: ignore[attr-defined]
                self.params_, ids, offsets, threads=self._threads()))
        return parts[0] if len(parts) == 1 else np.concatenate(parts)

    def _encode_texts(self, texts: Any, name: str) -> np.ndarray:
        """encode's work.  A list of ASCII str goes to one native call a chunk at a time:
        the vocabulary's tokenizer and lookup (the same ids as :func:`_texts`' lines) and
        the forward pass, a few hundred texts at a time on each thread, with no array of
        the ids in between; anything else, or a chunk holding another character, goes
        through ``_lines``."""
        if type(texts) is list and texts:
            n = int(self.ngrams)
            buckets = int(self.buckets) if n > 1 else 0
            parts = []
            for s in range(0, len(texts), _ENCODE_CHUNK):
                got = _core.encoder_encode_texts(  # type: ignore[attr-defined]
                    self.params_, self.vocab_._core, texts[s:s + _ENCODE_CHUNK],
                    bool(self.lower), n, buckets, threads=self._threads())
                if got is None:
                    break
                parts.append(got)
            else:
                return parts[0] if len(parts) == 1 else np.concatenate(parts)
        return self._encode_lines(self._lines(texts, name))

    def encode(self, texts: Any) -> np.ndarray:
        """The unit vectors of ``texts``: float32, one row per text (a text with no known
        word and no n-gram gets zeros).

        Parameters
        ----------
        texts : sequence of str or of token lists
            Each text a str (split into runs of letters and digits) or a list of str tokens
            (non-empty, without whitespace, used as they are); lower-cased when ``lower``.
            A single str is not a sequence of texts (TypeError): pass a list of one.

        Returns
        -------
        ndarray of float32, shape (len(texts), width)
            ``width`` is ``projection`` when the model has one, else the table's width
            (``dim``).
        """
        self._check_fitted()
        return self._encode_texts(texts, "texts")

    def _similarity_lines(self, a: list[str], b: list[str]) -> np.ndarray:
        _one_per_pair(a, b)
        ua, ub = self._encode_lines(a), self._encode_lines(b)
        return np.einsum("ij,ij->i", ua, ub)

    def similarity(self, a_texts: Any, b_texts: Any) -> np.ndarray:
        """The cosine of each pair ``(a_texts[i], b_texts[i])``: float32, one per pair.

        Parameters
        ----------
        a_texts : sequence of str or of token lists
            The first text of each pair, as :meth:`encode` takes them.
        b_texts : sequence of str or of token lists
            The second text of each pair, one per ``a_texts`` entry (ValueError otherwise).

        Returns
        -------
        ndarray of float32, shape (len(a_texts),)
            The inner products of the pairs' unit vectors; 0 where a text has the zero
            vector.
        """
        self._check_fitted()
        if type(a_texts) is list and type(b_texts) is list:
            _one_per_pair(a_texts, b_texts)
            ua = self._encode_texts(a_texts, "a_texts")
            ub = self._encode_texts(b_texts, "b_texts")
            return np.einsum("ij,ij->i", ua, ub)
        return self._similarity_lines(self._lines(a_texts, "a_texts"),
                                      self._lines(b_texts, "b_texts"))

    # -- files and pickling ---------------------------------------------------------------
    def _file_params(self) -> dict[str, Any]:
        p = saved_params(self)
        p["word_vectors"] = None
        if p["score_range"] is not None:
            p["score_range"] = [float(x) for x in p["score_range"]]
        return p

    def _arrays(self) -> dict[str, np.ndarray]:
        self._check_params()  # a file (or pickle) that load would refuse is not written
        state = {"history": self.history_, "stop_reason": self.stop_reason_,
                 "loss": self.loss_, "score_range": self.score_range_,
                 "words": len(self.vocab_), "total_tokens": self.vocab_.total_tokens}
        arrays = {"format": np.array(FORMAT),
                  "params": np.array(json.dumps(self._file_params())),
                  "state": np.array(json.dumps(state)),
                  "words": pack_words(self.vocab_.words), "counts": self.vocab_.counts}
        for i, p in enumerate(self.params_):
            arrays[f"param/{i}"] = p
        return arrays | staged_member(self)

    def save(self, path: str | os.PathLike[str]) -> None:
        """Write the model to ``path`` (exactly; no extension added): one ``.npz`` archive
        without pickled objects, replaced atomically.

        Members: ``format`` (``"msopt-sentenceencoder 1"``), ``params`` (the constructor's
        arguments as JSON, ``word_vectors`` as null), ``state`` (JSON: history, stop reason,
        loss, score range, word count, total tokens), ``words`` (UTF-8, joined by
        newlines), ``counts`` (int64), ``param/<i>`` (E, then W and b when projected) and
        ``staged`` (JSON) when :meth:`set_params` set parameters aside for the next fit.
        The optimizer's state is not kept (``fit`` starts afresh; a loaded model's
        ``optimizer_`` is new).

        Parameters
        ----------
        path : str or os.PathLike
            The file to write (a path, not an open file).
        """
        self._check_fitted()
        arrays = self._arrays()
        with atomic_write(check_path(path)) as f:
            np.savez(f, **arrays)  # type: ignore[arg-type]

    @classmethod
    def load(cls, path: str | os.PathLike[str]) -> SentenceEncoder:
        """Read a model written by :meth:`save`.

        Parameters
        ----------
        path : str or os.PathLike
            The file to read.

        Returns
        -------
        SentenceEncoder
            The fitted model, with ``word_vectors`` None and a new ``optimizer_``.

        Raises
        ------
        ValueError
            For anything but a file written by :meth:`save`, naming the file.
        FileNotFoundError
            For a missing file.
        """
        return cls._from_arrays(read_npz(path, FORMAT, "msopt SentenceEncoder"),
                                os.fspath(path))

    @classmethod
    def _from_arrays(cls, a: dict[str, np.ndarray], name: str) -> SentenceEncoder:
        try:
            params = json.loads(str(a["params"]))
            if params.get("score_range") is not None:
                params["score_range"] = tuple(params["score_range"])
            state = json.loads(str(a["state"]))
            model = cls(**params)
            nw = int(state["words"])
            words = unpack_words(a["words"], name) if nw else []
            counts = np.asarray(a["counts"])
            if len(words) != nw or counts.shape != (nw,):
                raise ValueError("the words and their counts disagree")
            vocab = Vocabulary.from_counts(words, counts, int(state["total_tokens"]))
            ps = []
            n_params = 3 if params.get("projection") is not None else 1
            for i in range(n_params):
                p = a[f"param/{i}"]
                if p.dtype != np.float32 or p.ndim != (1 if i == 2 else 2):
                    raise ValueError(f"param/{i}: expected a float32 array, got {p.dtype} "
                                     f"{p.shape}")
                ps.append(np.array(p, order="C"))
            rows = nw + (int(params["buckets"]) if int(params["ngrams"]) > 1 else 0)
            if ps[0].shape[0] != rows:
                raise ValueError(f"param/0: expected {rows} rows, got {ps[0].shape[0]}")
            if n_params == 3 and (ps[1].shape != (ps[0].shape[1], int(params["projection"]))
                                  or ps[2].shape != (int(params["projection"]),)):
                raise ValueError("param/1, param/2: shapes do not match the projection")
            opt = model._make_optimizer(ps)
            model.vocab_, model.params_, model.optimizer_ = vocab, ps, opt
            model.loss_ = str(state["loss"])
            sr = state["score_range"]
            model.score_range_ = None if sr is None else (float(sr[0]), float(sr[1]))
            model.history_ = list(state["history"])
            model.stop_reason_ = str(state["stop_reason"])
            set_staged(model, a)
        except (KeyError, TypeError, ValueError, IndexError, json.JSONDecodeError) as e:
            raise ValueError(f"{name}: not a valid SentenceEncoder file ({e})") from None
        return model

    def __getstate__(self) -> dict[str, Any]:
        if not hasattr(self, "params_"):
            return {"init": self._file_params() | {"word_vectors": self.word_vectors}}
        # the starting vectors and the callbacks stay with a pickle (a file keeps neither
        # a model of another class nor code)
        return {"arrays": self._arrays(), "word_vectors": self.word_vectors,
                "callbacks": self.callbacks}

    def __setstate__(self, state: dict[str, Any]) -> None:
        if "init" in state:
            init = dict(state["init"])
            if init.get("score_range") is not None:
                init["score_range"] = tuple(init["score_range"])
            self.__init__(**init)  # type: ignore[misc]
            return
        other = type(self)._from_arrays(state["arrays"], "pickle")
        self.__dict__.update(other.__dict__)
        self.word_vectors = state.get("word_vectors")
        self.callbacks = state.get("callbacks")


def _pearson(x: np.ndarray, y: np.ndarray) -> float:
    x = np.asarray(x, np.float64) - np.mean(x)
    y = np.asarray(y, np.float64) - np.mean(y)
    d = math.sqrt(float(x @ x) * float(y @ y))
    return float(x @ y) / d if d > 0 else 0.0
