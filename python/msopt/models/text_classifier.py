"""A fastText-style text classifier: the mean of a document's word and hashed n-gram
vectors, a softmax, one-vs-all or negative-sampling loss over the classes, and plain SGD
with a linearly decaying rate, the epochs in native chunks that return to Python between
them (threads take disjoint documents, Hogwild)."""

from __future__ import annotations

import json
import os
import struct
import time
import warnings
from collections.abc import Callable, Iterable, Sequence
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
    check_choice,
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
    check_path,
    pack_words,
    params_from_file,
    read_npz,
    unpack_words,
)
from msopt._progress import ChunkSize, Tracker, saved_params, set_staged, staged_member
from msopt.exceptions import DivergenceError
from msopt.text import Vocabulary, read_labeled

__all__ = ["TextClassifier"]

FORMAT = "msopt-textclassifier 1"
_FASTTEXT_LOSSES = {2: "ns", 3: "softmax", 4: "ova"}  # fastText's loss_name values
EOS = "</s>"  # fastText's end of line, a word of its models
PREFIX = "__label__"  # fastText's label prefix, dropped from str labels
LOSSES = ("softmax", "ova", "ns")
_MEMBERS = {"format", "params", "state", "classes", "words", "counts", "class_counts",
            "input", "output"}


MAX_ROWS = INT32_MAX - 1  # rows of a table the native trainer takes (words + buckets)


def _strings(name: str, values: Any) -> list[str]:
    """A list of str from an iterable of str (one per document); TypeError otherwise."""
    if isinstance(values, (str, bytes, os.PathLike)) or not isinstance(values, Iterable):
        raise TypeError(f"{name}: expected an iterable of str (one per document), got "
                        f"{type(values).__name__}")
    out = list(values)
    for i, s in enumerate(out):
        if not isinstance(s, str):
            raise TypeError(f"{name}[{i}]: expected str, got {type(s).__name__}")
    return out


def _first_input(seed: int, rows: int, dim: int) -> np.ndarray:
    """The input table a fit starts from: uniform in [-1/dim, 1/dim), as fastText's; drawn in
    float32 to spare a float64 copy."""
    table = np.random.default_rng(seed).random((rows, dim), dtype=np.float32)
    table *= np.float32(2.0 / dim)
    table -= np.float32(1.0 / dim)
    return table


class TextClassifier(ParamsMixin):
    """Supervised text classification in fastText's manner.

    A scikit-learn style classifier (``get_params``/``set_params``, ``fit`` returns self,
    fitted attributes end in ``_``, ``score``): it works with ``sklearn.base.clone``,
    ``cross_val_score`` and ``GridSearchCV`` on a list of texts.  msopt's names are
    canonical; fastText's are accepted as aliases (``wordNgrams``, ``bucket``, ``neg``,
    ``epoch``, ``thread``, ``minCount``; and ``workers``).  The arguments are checked when
    the model is fitted.

    A document's hidden vector is the mean of the input rows of its words and of its
    hashed word n-grams; the scores are the output rows times it.  Training is plain SGD,
    one document at a time, with the rate decaying linearly from ``lr`` to 0 over the
    call's epochs; threads take disjoint documents and update the tables without locks.

    Labels: ``fit(texts, labels)`` takes one label per text (str, int, float or bool;
    ``predict`` gives them back of the same type, ``classes_`` is an array of them) or a
    list of labels per text (multi-label data, as :func:`msopt.text.read_labeled` returns:
    ``fit(*read_labeled(path))`` works, and so does ``fit(path)``).  fastText's
    ``__label__`` prefix is dropped from str labels wherever labels are given (``fit``,
    ``partial_fit``, ``score``, ``test``): ``"__label__sports"`` and ``"sports"`` are the
    same class, and predictions never carry the prefix.  With several labels per text,
    ``loss="ova"`` takes them all as positives (fastText's multi-label mode); softmax and ns
    train each epoch on one of them, drawn at random, as fastText does.

    Memory: the input table holds ``(words + n-gram buckets) * dim`` float32 values (4
    bytes each), the output table ``classes * dim``; :meth:`partial_fit` keeps a copy of
    both while it runs (to undo a failed call).  Buckets are allocated only when
    ``ngrams > 1``: at the defaults (dim 100, 2,000,000 buckets) bigrams cost 800 MB
    (763 MiB); without them the 9,447 words of TREC's training set take 3.8 MB.

    Parameters
    ----------
    dim : int, default 100
        Width of the word and n-gram vectors.  Memory grows linearly with it: ``4 * dim``
        bytes per word and per bucket.
    ngrams : int, default 1
        Word n-grams up to this length are hashed into ``buckets`` extra rows (alias
        ``wordNgrams``; fastText's default is 1 too).  ``ngrams=2`` often gains a point or
        two of accuracy, at the memory cost of the buckets.
    buckets : int, default 2,000,000
        Hash buckets for the n-grams, used (and allocated) only when ``ngrams > 1``:
        ``buckets * dim * 4`` bytes (800 MB at the defaults; 200,000 buckets are plenty for
        a corpus of thousands of documents; alias ``bucket``).
    loss : {"softmax", "ova", "ns"}
        ``"softmax"``: cross entropy of the softmax over the classes.  ``"ova"``:
        one-vs-all, an independent binary logistic loss per class (target 1 for the
        document's class, 0 for every other), summed over the classes.  ``"ns"``: negative
        sampling, the binary logistic loss of the document's class (target 1) and of
        ``negative`` classes (target 0) drawn per document, with replacement, in proportion
        to the square root of their training counts (fastText's ``counts ** 0.5``), the
        document's own class left out (what fastText's redrawing amounts to).  For ``"ova"``
        and ``"ns"``, :meth:`predict_proba` gives each class's sigmoid, not normalized, as
        fastText does.
    negative : int, default 5
        Negative classes per document for ``loss="ns"`` (alias ``neg``).
    lr : float, default 0.1
        The learning rate decays linearly from ``lr`` to 0 over each training call (alias
        ``learning_rate``).
    epochs : int, default 5
        Passes over the documents per training call (alias ``epoch``).
    min_count : int, default 1
        Words seen fewer times are left out of the vocabulary (alias ``minCount``).
    lower : bool, default False
        Lower-case the text first.
    threads : int, optional
        Threads (aliases ``thread``, ``workers``; default: msopt's thread count).  They
        take disjoint documents and update the tables without locks (Hogwild), as
        fastText does.  One thread and a fixed ``seed`` repeat bit for bit.
    deterministic : bool
        With several threads, repeat bit for bit too: each thread trains on private copies
        of the rows it touches, and every 16,384 input rows read their changes are
        added to the tables in thread order.
    seed : int, default 0
        Seeds the input table's initial values and the document order (and ns's draws;
        alias ``random_state``).
    callbacks : list of callables, optional
        ``f(model, progress) -> bool`` after each chunk of training (about 0.4 s of
        work), given a :class:`msopt.Progress` record (epoch, documents seen, loss,
        learning rate, documents per second); True stops the training there.  Ctrl-C
        raises KeyboardInterrupt at the end of a chunk and keeps the chunks done.
    verbose : bool or int
        Show a progress bar (tqdm when installed, else a line on stderr).  The same reports
        go to the ``"msopt"`` logger at INFO.
    pretrained_vectors : str or path, optional
        A ``.vec`` file (word2vec's text format, as fastText's ``-pretrainedVectors``
        reads it, and as ``clf.wv.save_word2vec_format`` writes it) whose vectors start the
        input rows of their words; its dim must equal ``dim``.  As in fastText its words
        join the vocabulary, so words never seen in training but in the file are known at
        prediction.  With ``lower``, the file's words are lower-cased as the texts are (of
        two that then coincide, "Good" and "good", the first in the file keeps its vector).
        Memory: the file is read whole (``4 * dim`` bytes per word, e.g. 2.4
        GB for a 2,000,000-word file at dim 300) and every word of it gets an input row.

    Attributes
    ----------
    classes_ : ndarray
        The class labels, sorted, of the labels' own type (ints stay ints, strings
        strings); columns of :meth:`predict_proba`.
    vocab_ : msopt.text.Vocabulary
        Built by the first training call, fixed after it.
    input_, output_ : ndarray of float32
        The tables: ``(len(vocab_) + buckets, dim)`` input rows (words, then n-gram
        buckets, none when ``ngrams == 1``) and ``(len(classes_), dim)`` output rows.
    class_counts_ : ndarray of int64
        Training documents of each class, over every call since :meth:`fit`.
    calls_ : int
        Training calls since :meth:`fit` (each call draws its own seed from ``seed`` and
        this number, so it does not repeat an earlier call's order).
    loss_history_ : list of float
        Mean loss per non-empty document of each epoch, over every call since :meth:`fit`,
        computed exactly (float64, stable log-sigmoid).
    train_seconds_, words_per_sec_ : float
        Time of the last call's native loop and its words (those in the vocabulary, all
        epochs) per second.

    Notes
    -----
    An empty document (no known word and no n-gram) is skipped in training and scored with
    a zero hidden vector.  Labels keep their type: an int label comes back from
    :meth:`predict` as the same int (a mix of str and numbers is read as ``str``).

    fastText's Python API: :meth:`predict_top` (fastText's ``predict``: labels with their
    scores, ``k``, ``threshold``), :meth:`get_word_vector`, :meth:`get_sentence_vector`,
    :meth:`get_nearest_neighbors`, :meth:`test` (``(n, P@k, R@k)``), :attr:`wv` (the
    words' vectors; ``clf.wv.save_word2vec_format(path)`` writes a ``.vec`` file),
    ``pretrained_vectors=`` and :meth:`load_fasttext` (fastText's own ``.bin``
    classifiers).  :meth:`predict` stays scikit-learn's.

    File format (:meth:`save`, :meth:`load`): one NumPy ``.npz`` archive written with
    ``numpy.savez`` (no pickled objects; read back with ``allow_pickle=False``) holding

    ============  =================================================================
    member        content
    ============  =================================================================
    format        0-d str array ``"msopt-textclassifier 1"``
    params        0-d str array: the constructor's arguments as a JSON object
    state         0-d str array, JSON: ``total_tokens`` (the vocabulary's), ``calls``
                  (training calls since fit), ``loss_history``
    classes       1-D array (str, int or float), sorted, unique
    words         1-D uint8: the vocabulary's words in id order, UTF-8, joined by ``\\n``
    counts        1-D int64: each word's count
    class_counts  1-D int64: training documents of each class
    input         float32 ``(len(words) + buckets, dim)`` (no buckets if ngrams is 1)
    output        float32 ``(len(classes), dim)``
    staged        (only when :meth:`set_params` set parameters aside for the next fit)
                  0-d str array, JSON: those parameters
    ============  =================================================================

    Examples
    --------
    >>> from msopt import TextClassifier
    >>> texts = ["good film", "great film", "bad film", "awful film"] * 50
    >>> labels = ["pos", "pos", "neg", "neg"] * 50
    >>> clf = TextClassifier(dim=10, epochs=20, lr=0.5, threads=1).fit(texts, labels)
    >>> clf.predict(["great movie", "awful movie"]).tolist()
    ['pos', 'neg']
    >>> clf  # doctest: +ELLIPSIS
    TextClassifier(dim=10, loss='softmax', ..., classes=2, vocab=5 words)
    >>> ova = TextClassifier(dim=10, loss="ova", epochs=20, lr=0.5, threads=1)
    >>> ova.fit(texts, labels).predict_proba(["great movie"]).round(1).tolist()
    [[0.0, 1.0]]
    >>> tags = [["film", "good"], ["film", "good"], ["film", "bad"], ["film", "bad"]] * 50
    >>> multi = TextClassifier(dim=10, loss="ova", epochs=20, lr=0.5, threads=1)
    >>> multi.fit(texts, tags).predict_top("great movie", k=-1, threshold=0.5)[0]
    ('good', 'film')
    """

    classes_: np.ndarray
    vocab_: Vocabulary
    input_: np.ndarray
    output_: np.ndarray
    class_counts_: np.ndarray
    calls_: int
    loss_history_: list[float]
    train_seconds_: float
    words_per_sec_: float

    _repr_always = ("dim", "loss")
    # what the fitted tables, their output layer and the vocabulary are made for
    _structural = ("dim", "ngrams", "buckets", "loss", "lower", "min_count")

    def _fitted_marker(self) -> Any:
        return self.__dict__.get("output_")
    _eos = False  # texts end in fastText's </s> (a model read by load_fasttext)
    _estimator_type = "classifier"  # scikit-learn < 1.6
    # Input rows read per native call and thread: None sizes them to about 0.4 s of
    # work, except with deterministic threads, whose bits depend on the chunks.
    _chunk_rows: int | None = None

    @keyword_aliases(wordNgrams="ngrams", bucket="buckets", neg="negative", epoch="epochs",
                     thread="threads", workers="threads", minCount="min_count",
                     learning_rate="lr", random_state="seed")
    def __init__(self, dim: int = 100, ngrams: int = 1, buckets: int = 2_000_000,
                 loss: str = "softmax", negative: int = 5, lr: float = 0.1, epochs: int = 5,
                 min_count: int = 1, lower: bool = False, threads: int | None = None,
                 seed: int = 0, deterministic: bool = False,
                 callbacks: Sequence[Callable[..., Any]] | None = None,
                 verbose: bool | int = False,
                 pretrained_vectors: str | os.PathLike[str] | None = None) -> None:
        self.dim, self.ngrams, self.buckets, self.loss = dim, ngrams, buckets, loss
        self.negative, self.lr, self.epochs = negative, lr, epochs
        self.min_count, self.lower, self.threads = min_count, lower, threads
        self.seed, self.deterministic = seed, deterministic
        self.callbacks, self.verbose = callbacks, verbose
        self.pretrained_vectors = pretrained_vectors

    def _check_params(self) -> None:
        """Check the constructor's arguments (TypeError for a wrong type, ValueError for a
        wrong value); called by every training call."""
        check_choice("loss", self.loss, LOSSES)
        # Upper bounds: the native types (int ngrams, negative <= 100000, epochs, threads;
        # uint64 seed; int64 counts; at most 2**31 - 2 table rows, words + buckets), and
        # what the trainer allocates per epoch and thread.
        for name, lo, hi in (("dim", 1, INT32_MAX), ("ngrams", 1, INT32_MAX),
                             ("buckets", 0, MAX_ROWS - 1), ("negative", 1, 100_000),
                             ("epochs", 0, MAX_EPOCHS), ("min_count", 1, INT64_MAX)):
            check_int(name, getattr(self, name), lo, hi=hi)
        check_seed("seed", self.seed)
        check_number("lr", self.lr, lo=0, strict=True)
        check_int("threads", self.threads, 1, none=True, hi=MAX_THREADS)
        check_bool("lower", self.lower)
        check_bool("deterministic", self.deterministic)
        if self.pretrained_vectors is not None and not isinstance(self.pretrained_vectors,
                                                                  (str, os.PathLike)):
            raise TypeError(f"pretrained_vectors: expected a path or None, got "
                            f"{type(self.pretrained_vectors).__name__}")

    def _repr_state(self) -> list[str]:
        if not hasattr(self, "output_"):
            return []
        return [f"classes={len(self.classes_)}", f"vocab={len(self.vocab_):,} words"]

    def __sklearn_is_fitted__(self) -> bool:
        return hasattr(self, "output_")

    def __sklearn_tags__(self) -> Any:  # called by scikit-learn only, which is then loaded
        from sklearn.utils import ClassifierTags, InputTags, Tags, TargetTags

        return Tags(estimator_type="classifier", target_tags=TargetTags(required=True),
                    classifier_tags=ClassifierTags(),
                    input_tags=InputTags(two_d_array=False, string=True))

    # fastText's and earlier msopt attribute names, read-only
    neg = property(lambda self: self.negative, doc="fastText's name for ``negative``.")
    workers = property(lambda self: self.threads, doc="The former name of ``threads``.")

    # -- input ----------------------------------------------------------------------------
    @staticmethod
    def _texts_labels(texts: Any, labels: Any
                      ) -> tuple[list[str], np.ndarray, np.ndarray | None]:
        """(texts, labels, starts) from two iterables (see :func:`_labels`), or from
        fastText's ``__label__X text`` lines (a path or an iterable of str) when labels is
        None."""
        if labels is None:
            if isinstance(texts, bytes):
                raise TypeError("texts: a path or an iterable of str, not bytes")
            t, per_line = named_errors("texts", lambda: read_labeled(texts))
            for i, x in enumerate(per_line):
                if not x:
                    raise ValueError(f"labels: line {i + 1} has 0 __label__ tokens; one or "
                                     "more are needed")
            ls, starts = _labels("labels", per_line)
            return t, ls, starts
        if isinstance(texts, (str, os.PathLike)):
            raise TypeError("texts: a file path is read in fastText's __label__ format and "
                            "takes labels=None")
        t = _strings("texts", texts)
        ls, starts = _labels("labels", labels)
        n = len(ls) if starts is None else len(starts)
        if len(t) != n:
            raise ValueError(f"texts and labels differ in length: {len(t)} and {n}")
        return t, ls, starts

    def _encode(self, texts: Sequence[str], vocab: Vocabulary | None = None
                ) -> tuple[np.ndarray, np.ndarray]:
        v = self.vocab_ if vocab is None else vocab
        buckets = (self.input_.shape[0] - len(v)) if vocab is None else self._buckets()
        if self._eos and vocab is None:  # a fastText model: each line ends in its word </s>
            texts = [f"{t} {EOS}" for t in texts]
        return named_errors("texts", lambda: v.encode(texts, ngrams=int(self.ngrams),
                                                      buckets=int(buckets)))

    def _buckets(self) -> int:
        """The n-gram rows a new table gets: ``buckets`` when ``ngrams > 1``, else none."""
        return int(self.buckets) if int(self.ngrams) > 1 else 0

    def _class_ids(self, labels: np.ndarray, classes: np.ndarray) -> np.ndarray:
        unknown = sorted(set(labels.tolist()) - set(classes.tolist()), key=repr)
        if unknown:
            shown = ", ".join(map(repr, unknown[:5])) + (", ..." if len(unknown) > 5 else "")
            raise ValueError(f"labels: {len(unknown)} label(s) not in classes_: {shown}")
        if len(labels) == 0:
            return np.zeros(0, np.int32)
        return np.searchsorted(classes, labels).astype(np.int32)

    def _gold(self, labels: np.ndarray, starts: np.ndarray | None
              ) -> tuple[np.ndarray, np.ndarray]:
        """(class id of each given label, -1 where it is not a class; the text of each) for
        score and test.  None of them a class raises ValueError (a different label format,
        say); some not among the classes warn: they count as misses."""
        cl = self.classes_
        n = len(labels) if starts is None else len(starts)
        doc = np.arange(n) if starts is None else np.repeat(
            np.arange(n), np.diff(np.append(starts, len(labels))))
        known = np.isin(labels, cl)
        if not known.any():
            raise ValueError(f"labels: {sorted(set(labels.tolist()), key=repr)[:5]} were never "
                             f"seen in training: no label is among classes_ "
                             f"{cl.tolist()[:10]}")
        if not known.all():
            bad = sorted(set(labels[~known].tolist()), key=repr)
            warnings.warn(f"labels: {len(bad)} label(s) never seen in training "
                          f"({', '.join(map(repr, bad[:5]))}{', ...' if len(bad) > 5 else ''})"
                          ": they can never be predicted and count as misses", UserWarning,
                          stacklevel=3)
        ids = np.full(len(labels), -1, np.int64)
        ids[known] = np.searchsorted(cl, labels[known])
        return ids, doc

    # -- training -------------------------------------------------------------------------
    @refits
    def fit(self, texts: str | os.PathLike[str] | Iterable[str],
            labels: Iterable[Any] | None = None) -> TextClassifier:
        """Train from scratch on texts and their labels (one label or a list of labels per
        text; see the class docstring), or on a fastText-format file (a ``pathlib.Path``, or
        an iterable of ``__label__X text`` lines) with ``labels=None``: a new vocabulary,
        new tables, then ``epochs`` epochs.

        Parameters
        ----------
        texts : iterable of str, or os.PathLike
            The documents, one str each.  With ``labels=None``: fastText's lines
            (``__label__X text``), a file (a ``pathlib.Path``) or an iterable of str.  A
            plain str is never opened as a file (TypeError).
        labels : iterable, optional
            One label (str, int, float or bool) or a list of labels per text; at least two
            classes in all.  fastText's ``__label__`` prefix is dropped from str labels.
            None (the default): the labels are read from ``texts``' lines.

        Returns
        -------
        TextClassifier
            self.
        """
        self._check_params()
        t, ls, starts = self._texts_labels(texts, labels)
        return self._first_call(t, ls, starts, None)

    def partial_fit(self, texts: str | os.PathLike[str] | Iterable[str],
                    labels: Iterable[Any] | None = None,
                    classes: Iterable[Any] | None = None) -> TextClassifier:
        """Train for ``epochs`` more epochs on these texts, continuing the same tables.

        The first call (or the first after :meth:`fit` was never called) builds the
        vocabulary from these texts and allocates the tables; ``classes`` (default: the
        labels seen here) fixes the class set.  The vocabulary is fixed after that, as in a
        fastText model: later calls drop words not in it (their n-grams are still hashed into
        the buckets).  Each call decays the rate from ``lr`` to 0 over its own epochs, and adds
        its documents to ``class_counts_`` (so ns draws negatives by the counts of every call
        so far; a class with no document yet is never drawn).  A label not in ``classes_``
        raises ValueError and leaves the model unchanged.

        Examples
        --------
        >>> from msopt import TextClassifier
        >>> clf = TextClassifier(dim=8, buckets=100, epochs=10, lr=0.5, threads=1)
        >>> clf = clf.partial_fit(["good film", "bad film"] * 20, ["pos", "neg"] * 20)
        >>> clf = clf.partial_fit(["good plot", "bad plot"] * 20, ["pos", "neg"] * 20)
        >>> clf.predict(["good plot"]).tolist(), len(clf.loss_history_)
        (['pos'], 20)
        """
        self._check_params()
        t, ls, starts = self._texts_labels(texts, labels)
        if not hasattr(self, "output_"):
            return self._first_call(t, ls, starts, classes)
        if classes is not None:
            wanted = _class_set(classes)
            if not np.array_equal(wanted, self.classes_):
                raise ValueError(f"classes: the model's classes are {self.classes_.tolist()}; "
                                 f"got {wanted.tolist()}")
        if not t:
            raise ValueError("texts: no documents")
        y = self._class_ids(ls, self.classes_)
        ids, offsets = self._encode(t)
        counts = self.class_counts_ + np.bincount(y, minlength=len(self.classes_))
        # The same tables continue in place; a copy puts them back if the call fails (a
        # divergence, an interrupt), so that a failed call leaves the model as it was.
        undo = (self.input_.copy(), self.output_.copy())
        history = len(self.loss_history_)
        try:
            self._train(len(self.vocab_), ids, offsets, y, self.input_, self.output_, counts,
                        self.calls_, starts)
        except BaseException as e:
            if not (isinstance(e, KeyboardInterrupt) and self._finite()):
                np.copyto(self.input_, undo[0])
                np.copyto(self.output_, undo[1])
                del self.loss_history_[history:]
                raise
            self.class_counts_, self.calls_ = counts, self.calls_ + 1  # the chunks done stay
            raise
        del undo
        self.class_counts_ = counts
        self.calls_ += 1
        return self

    def _first_call(self, t: list[str], ls: np.ndarray, starts: np.ndarray | None,
                    classes: Any) -> TextClassifier:
        if not t:
            raise ValueError("texts: no documents")
        if classes is None:
            cl = np.unique(ls)
        else:
            cl = _class_set(classes)
        if len(cl) < 2:
            raise ValueError(f"{'labels' if classes is None else 'classes'}: at least 2 "
                             f"classes are needed, got {cl.tolist()}")
        y = self._class_ids(ls, cl)
        try:
            vocab = Vocabulary(int(self.min_count), lower=bool(self.lower)).fit(t)
        except ValueError as e:
            raise ValueError(f"texts: no vocabulary can be built ({e})") from None
        pretrained = self._pretrained()
        if pretrained is not None:  # fastText's -pretrainedVectors: their words join too
            known = set(vocab.words)
            extra = [w for w in pretrained.index_to_key if w not in known]
            vocab = Vocabulary.from_counts(vocab.words + extra,
                                           vocab.counts.tolist() + [1] * len(extra),
                                           vocab.total_tokens, min_count=int(self.min_count),
                                           lower=bool(self.lower))
        buckets = self._buckets()
        if len(vocab) + buckets > MAX_ROWS:  # checked before the table is made
            raise ValueError(f"buckets: {len(vocab):,} words + {buckets:,} buckets "
                             f"exceed the {MAX_ROWS:,} input rows the trainer takes")
        ids, offsets = self._encode(t, vocab)
        dim = int(self.dim)
        # The tables' size, before they are allocated: the input table, and the copy that a
        # later partial_fit keeps to undo a failed call.
        rows = len(vocab) + buckets
        check_memory("TextClassifier", f"{rows:,} rows (words + buckets) x dim={dim:,} "
                     "float32", rows * dim * 4, 2, what="training needs",
                     hint="Reduce buckets or dim (buckets are used only with ngrams > 1).")
        table = _first_input(int(self.seed), rows, dim)
        if pretrained is not None:
            table[[vocab[w] for w in pretrained.index_to_key]] = pretrained.vectors
        output = np.zeros((len(cl), dim), np.float32)
        counts = np.bincount(y, minlength=len(cl)).astype(np.int64)
        # Installed before training, so that Ctrl-C leaves the chunks done; anything else
        # puts the model back as it was.
        saved = self.__dict__.copy()
        self.classes_, self.vocab_, self.input_, self.output_ = cl, vocab, table, output
        self.__dict__.pop("_eos", None)
        self.class_counts_, self.calls_, self.loss_history_ = counts, 1, []
        try:
            self._train(len(vocab), ids, offsets, y, table, output, counts, 0, starts)
        except BaseException as e:
            if not (isinstance(e, KeyboardInterrupt) and self._finite()):
                self.__dict__.clear()
                self.__dict__.update(saved)
            raise
        return self

    def _finite(self) -> bool:
        return bool(np.isfinite(self.input_).all() and np.isfinite(self.output_).all())

    def _pretrained(self) -> Any:
        """The ``pretrained_vectors`` file's vectors (KeyedVectors), or None.  With
        ``lower``, its words are lower-cased as the texts are (a word that then appears
        twice keeps its first vector in the file: "Good" after "good" adds nothing)."""
        if self.pretrained_vectors is None:
            return None
        from msopt.models.word2vec import KeyedVectors

        try:
            kv = KeyedVectors.load_word2vec_format(self.pretrained_vectors)
        except ValueError as e:
            raise ValueError(f"pretrained_vectors: {e}") from None
        if kv.vectors.shape[1] != int(self.dim):
            raise ValueError(f"pretrained_vectors: the vectors have dim "
                             f"{kv.vectors.shape[1]}, the model dim={self.dim}; pass "
                             f"dim={kv.vectors.shape[1]}")
        if self.lower:
            first: dict[str, int] = {}
            for i, w in enumerate(kv.index_to_key):
                first.setdefault(w.lower(), i)
            if len(first) != len(kv) or any(w != k for w, k in zip(first, kv.index_to_key)):
                rows = np.fromiter(first.values(), np.int64, len(first))
                kv = KeyedVectors(list(first), kv.vectors[rows])
        return kv

    def _train(self, n_vocab: int, ids: np.ndarray, offsets: np.ndarray, y: np.ndarray,
               input: np.ndarray, output: np.ndarray, class_counts: np.ndarray,
               call: int, starts: np.ndarray | None = None) -> None:
        """Train ``epochs`` epochs in native chunks, each epoch's mean loss appended to
        ``loss_history_`` as it ends; the chunks repeat one whole call bit for bit with one
        thread.  ``starts``: each document's first label, when documents have several."""
        # One seed per call, so later calls do not repeat the first one's order and draws.
        seed = int(np.random.SeedSequence([int(self.seed), call]).generate_state(1,
                                                                               np.uint64)[0])
        weights = np.sqrt(class_counts.astype(np.float64))
        threads, epochs = int(self.threads or _core.get_num_threads()), int(self.epochs)
        corpus = _core.RaggedIds(ids, offsets, len(input))
        train_chunk = _core.fasttext_train_chunk
        resume = np.zeros((threads, 4 + 2 * epochs), np.int64)
        fixed = self._chunk_rows
        if fixed is None and self.deterministic and threads > 1:
            fixed = 1 << 18
        chunk = ChunkSize(fixed, 1 << 16)
        history, lr, total = len(self.loss_history_), float(self.lr), len(offsets) * epochs
        t0 = time.perf_counter()
        with Tracker(self, epochs=epochs, total=total, unit="documents",
                     callbacks=self.callbacks, verbose=self.verbose) as track:
            while True:
                chunk.start()
                losses, seen, done = train_chunk(
                    corpus, y, input, output, self.loss, weights, int(self.negative), lr,
                    epochs, seed, threads, bool(self.deterministic), resume, int(chunk),
                    label_offsets=starts)
                chunk.done()
                finished = len(self.loss_history_) - history
                self.loss_history_ += [float(x) for x in losses[finished:done]]
                if done >= epochs or track.report(
                        min(done + 1, epochs), seen, losses[min(done, epochs - 1)],
                        lr * (1 - seen / max(total, 1)), epoch_end=done > finished):
                    break
            if done >= epochs and epochs:  # the last report, at the call's end
                track.report(epochs, seen, losses[-1], 0.0, epoch_end=True)
        if not self._finite():
            raise DivergenceError(
                f"TextClassifier: the tables became NaN or Inf (lr={self.lr!r} is too large "
                "for this data); the model is as it was before this call.  Try a smaller lr.")
        self.train_seconds_ = time.perf_counter() - t0
        n_words = int(np.count_nonzero(ids < n_vocab))  # the word ids; the rest are n-grams
        self.words_per_sec_ = n_words * epochs / max(self.train_seconds_, 1e-9)

    # -- prediction -----------------------------------------------------------------------
    def _check_fitted(self) -> None:
        if not hasattr(self, "output_"):
            raise not_fitted(self, "call fit() or partial_fit() (or load())")

    def predict_proba(self, texts: Iterable[str]) -> np.ndarray:
        """Class scores, ``(len(texts), len(classes_))`` float32: the softmax's
        probabilities, or for ``loss="ova"`` and ``"ns"`` each class's sigmoid (not
        normalized: a row need not sum to 1), as fastText predicts.

        Parameters
        ----------
        texts : iterable of str
            The documents, one str each (a single str is refused: pass a list of one).

        Returns
        -------
        ndarray of float32, shape (len(texts), len(classes_))
            One column per class, in the order of ``classes_``.
        """
        self._check_fitted()
        ids, offsets = self._encode(_strings("texts", texts))
        return _core.fasttext_predict_proba(ids, offsets, self.input_, self.output_,
                                            self.loss)

    def predict(self, texts: Iterable[str], k: int = 1) -> Any:
        """The most likely label of each text (k=1: an array of the labels' type, as
        scikit-learn's ``predict``), or its k most likely labels (a list of lists).  For
        labels with their scores, as fastText's ``predict``, see :meth:`predict_top`.

        Parameters
        ----------
        texts : iterable of str
            The documents, one str each (a single str is refused: pass a list of one).
        k : int, default 1
            How many labels per text, k >= 1.

        Returns
        -------
        ndarray or list of lists
            With k=1, an array of shape (len(texts),) and the dtype of ``classes_``.  With
            k > 1, a list per text of its k most likely labels (every class when k exceeds
            their number), best first, as Python values.
        """
        k = check_int("k", k, 1)
        p = self.predict_proba(texts)
        if k == 1:
            return self.classes_[p.argmax(1)]
        top = np.argsort(-p, axis=1, kind="stable")[:, :k]
        return [self.classes_[row].tolist() for row in top]

    def _top(self, p: np.ndarray, k: int, threshold: float) -> list[np.ndarray]:
        """Each row's class ids, best first: at most k (-1: every class) with a score >=
        threshold."""
        k = check_int("k", k, -1)
        if k == 0:
            raise ValueError("k: must be >= 1, or -1 for every class")
        check_number("threshold", threshold)
        order = np.argsort(-p, axis=1, kind="stable")
        if k > 0:
            order = order[:, :k]
        return [row[p[i, row] >= threshold] for i, row in enumerate(order)]

    def predict_top(self, texts: str | Iterable[str], k: int = 1, threshold: float = 0.0
                    ) -> tuple[Any, Any]:
        """fastText's ``predict``: the ``k`` most likely labels of each text (``k=-1``:
        every class) whose score is at least ``threshold``, best first, with their scores.

        The scores are :meth:`predict_proba`'s: softmax probabilities, or for ``"ova"`` and
        ``"ns"`` each class's sigmoid, so that with ``loss="ova"``, ``k=-1,
        threshold=0.5`` gives every label the model believes in (multi-label data).

        Returns
        -------
        labels, scores
            For one text (a str): a tuple of labels (of the training labels' type, without
            fastText's ``__label__`` prefix) and a float32 array of their scores.  For an
            iterable of texts: a list of such tuples and a list of such arrays.

        Examples
        --------
        >>> from msopt import TextClassifier
        >>> texts = ["good film", "great film", "bad film", "awful film"] * 50
        >>> clf = TextClassifier(dim=10, epochs=20, lr=0.5, threads=1)
        >>> clf = clf.fit(texts, ["pos", "pos", "neg", "neg"] * 50)
        >>> labels, scores = clf.predict_top("great film", k=2)
        >>> labels, bool(scores[0] > 0.9)
        (('pos', 'neg'), True)
        """
        one = isinstance(texts, str)
        p = self.predict_proba([texts] if one else texts)  # type: ignore[list-item]
        top = self._top(p, k, threshold)
        labels = [tuple(self.classes_[row].tolist()) for row in top]
        scores = [p[i, row] for i, row in enumerate(top)]
        return (labels[0], scores[0]) if one else (labels, scores)

    def score(self, texts: Iterable[str], labels: Iterable[Any]) -> float:
        """Accuracy: the share of texts whose predicted label is (among) its label(s), so
        precision at 1 for multi-label data.  ``labels`` takes the forms :meth:`fit` takes.
        A label never seen in training counts as a miss (with a UserWarning); if no label
        was seen, ValueError."""
        self._check_fitted()
        t, ls, starts = self._texts_labels(texts, labels)
        if not t:
            raise ValueError("texts: no documents")
        gold, doc = self._gold(ls, starts)
        pred = self.predict_proba(t).argmax(1)
        hit = np.zeros(len(t), bool)
        hit[doc[gold == pred[doc]]] = True
        return float(hit.mean())

    def test(self, texts: Any, labels: Any = None, k: int = 1, threshold: float = 0.0
             ) -> tuple[int, float, float]:
        """fastText's test: (number of texts, precision at k, recall at k).

        Each text's predictions are its ``k`` most likely labels (``k=-1``: every class)
        scored at least ``threshold``; precision is the share of all predictions that are
        among their text's labels, recall the share of all the texts' labels predicted (with
        one label per text and ``threshold=0``, recall at 1 = precision at 1 = accuracy).
        ``texts``, ``labels``: as :meth:`fit` takes them (a fastText file with
        ``labels=None``).  Labels never seen in training are counted as :meth:`score`
        counts them.  Precision is NaN when nothing is predicted."""
        self._check_fitted()
        t, ls, starts = self._texts_labels(texts, labels)
        if not t:
            raise ValueError("texts: no documents")
        gold, doc = self._gold(ls, starts)
        p = self.predict_proba(t)
        top = self._top(p, k, threshold)
        chosen = np.zeros(p.shape, bool)
        for i, row in enumerate(top):
            chosen[i, row] = True
        known = gold >= 0
        hits = int(chosen[doc[known], gold[known]].sum())
        predicted = int(chosen.sum())
        precision = hits / predicted if predicted else float("nan")
        return len(t), float(precision), float(hits / len(ls))

    # -- fastText's vectors -----------------------------------------------------------------
    @property
    def wv(self) -> Any:
        """The words' input vectors as :class:`~msopt.KeyedVectors` (rows of ``input_``,
        not copied): ``clf.wv.save_word2vec_format("model.vec")`` writes fastText's
        ``.vec`` file, which ``pretrained_vectors=`` reads back."""
        self._check_fitted()
        from msopt.models.word2vec import KeyedVectors

        return KeyedVectors(self.vocab_.words, self.input_[:len(self.vocab_)])

    def _token(self, word: Any) -> str:
        if not isinstance(word, str):
            raise TypeError(f"word: expected a str, got {type(word).__name__}")
        if not word or len(word.split()) != 1 or word.strip() != word:
            raise ValueError(f"word: expected one token (no whitespace), got {word!r}")
        return word.lower() if self.lower else word

    def get_word_vector(self, word: str) -> np.ndarray:
        """fastText's ``get_word_vector``: the word's input row (a float32 copy), zeros for
        a word not in the vocabulary (this model has no character n-grams, so an unknown
        word has no vector, as in a fastText model trained with ``maxn=0``)."""
        self._check_fitted()
        w = self._token(word)
        if w not in self.vocab_:
            return np.zeros(self.input_.shape[1], np.float32)
        return self.input_[self.vocab_[w]].copy()

    def get_sentence_vector(self, text: str | Iterable[str]) -> np.ndarray:
        """fastText's ``get_sentence_vector``: the mean of the text's word and n-gram input
        rows, the hidden vector the classifier scores (zeros when none is known); shape
        ``(dim,)`` for a str, ``(n, dim)`` for an iterable of texts."""
        self._check_fitted()
        one = isinstance(text, str)
        t = [text] if one else _strings("text", text)
        ids, offsets = self._encode(t)  # type: ignore[arg-type]
        lengths = np.diff(np.append(offsets, len(ids)))
        out = np.zeros((len(t), self.input_.shape[1]), np.float64)
        np.add.at(out, np.repeat(np.arange(len(t)), lengths), self.input_[ids])
        out /= np.maximum(lengths, 1)[:, None]
        out = out.astype(np.float32)
        return out[0] if one else out

    def get_nearest_neighbors(self, word: str, k: int = 10) -> list[tuple[float, str]]:
        """fastText's ``get_nearest_neighbors``: the ``k`` vocabulary words nearest to
        ``word`` by cosine similarity of their input vectors, as ``(similarity, word)``
        pairs, best first (fastText's order; :meth:`KeyedVectors.most_similar` gives
        ``(word, similarity)``).  A word not in the vocabulary raises KeyError."""
        self._check_fitted()
        check_int("k", k, 1)
        return [(sim, w) for w, sim in self.wv.most_similar(self._token(word), topn=k)]

    # -- files ----------------------------------------------------------------------------
    def save(self, path: str | os.PathLike[str]) -> None:
        """Write the model to ``path`` (exactly; no extension is added) in the ``.npz``
        format of the class docstring.

        The file is replaced atomically: the model is written to a temporary file in the
        same folder, synced to disk and renamed over ``path``, so an interrupted or failed
        save (an exception, Ctrl-C, a full disk) leaves the previous file as it was.  The
        file keeps the permissions of the file it replaces (a new one: 0o666 less the
        umask).  ``path`` is a path, not an open file.

        Examples
        --------
        >>> import os, tempfile
        >>> from msopt import TextClassifier
        >>> clf = TextClassifier(dim=4, buckets=10, epochs=1, threads=1)
        >>> clf = clf.fit(["good film", "bad film"], ["pos", "neg"])
        >>> path = os.path.join(tempfile.mkdtemp(), "model.npz")
        >>> clf.save(path)
        >>> TextClassifier.load(path).predict(["good film"]).tolist() == clf.predict(
        ...     ["good film"]).tolist()
        True
        """
        self._check_fitted()
        self._check_params()  # a file that load would refuse is not written
        words = self.vocab_.words
        state = {"total_tokens": self.vocab_.total_tokens, "calls": self.calls_,
                 "loss_history": self.loss_history_, **({"eos": True} if self._eos else {})}
        with atomic_write(check_path(path)) as f:
            params = {k: os.fspath(v) if isinstance(v, os.PathLike) else v
                      for k, v in saved_params(self).items()}
            np.savez(f, format=np.array(FORMAT), params=np.array(json.dumps(params)),
                     state=np.array(json.dumps(state)), classes=self.classes_,
                     words=pack_words(words),
                     counts=np.asarray(self.vocab_.counts, np.int64),
                     class_counts=self.class_counts_, input=self.input_, output=self.output_,
                     **staged_member(self))  # type: ignore[arg-type]

    @classmethod
    def load(cls, path: str | os.PathLike[str]) -> TextClassifier:
        """Read a model written by :meth:`save`.  Anything else (another file, an archive of
        other arrays, a truncated or inconsistent file, hyperparameters the constructor
        refuses) raises ValueError naming the file and the member or hyperparameter; a
        missing file raises FileNotFoundError."""
        name = check_path(path)
        arrays = read_npz(name, FORMAT, "msopt TextClassifier")
        return cls._from_arrays(arrays, name)

    @classmethod
    def load_fasttext(cls, path: str | os.PathLike[str]) -> TextClassifier:
        """Read a supervised model saved by fastText (``model.save_model("model.bin")``,
        ``fasttext supervised -output model``): its vocabulary, word n-gram buckets, labels
        (``__label__`` dropped) and tables, so that it predicts as fastText does.

        fastText reads the end of each line as one more word, ``</s>``, whose input row is
        part of every text's mean; a loaded model adds it to each text as well (and keeps
        doing so after :meth:`save` and :meth:`load`, and in :meth:`partial_fit`).  The
        hyperparameters come from the file, except ``lr`` (fastText does not save it: the
        default).  Softmax scores are fastText's to float precision (fastText's Python
        ``predict`` adds 1e-5 to each); ``ova`` and ``ns`` scores are exact sigmoids where
        fastText reads a 512-entry table, so they differ by up to about 0.01 and two close
        labels may swap.  Refused with a ValueError naming the file: models of word vectors
        (``skipgram``, ``cbow``: read their ``.vec`` with ``KeyedVectors``), the
        hierarchical softmax loss, character n-grams (``minn``/``maxn``), quantized
        (``.ftz``) and pruned models."""
        name = check_path(path)
        with open(name, "rb") as f:
            data = f.read()
        try:
            model = cls._from_fasttext(data)
        except (ValueError, struct.error) as e:
            raise ValueError(f"{name}: not a supported fastText model ({e})") from None
        return model

    @classmethod
    def _from_fasttext(cls, data: bytes) -> TextClassifier:
        pos = 0

        def take(fmt: str) -> tuple[Any, ...]:
            nonlocal pos
            out = struct.unpack_from(fmt, data, pos)
            pos += struct.calcsize(fmt)
            return out

        def matrix() -> np.ndarray:
            nonlocal pos
            (quantized,) = take("<?")
            if quantized:
                raise ValueError("a quantized (.ftz) model")
            m, n = take("<2q")
            if m < 0 or n < 1 or pos + 4 * m * n > len(data):
                raise ValueError(f"a {m} x {n} matrix that the file does not hold")
            a = np.frombuffer(data, "<f4", m * n, pos).reshape(m, n).astype(np.float32)
            pos += 4 * m * n
            return a

        magic, version = take("<2i")
        if magic != 793712314 or version not in (11, 12):
            raise ValueError("no fastText header (magic 793712314, version 11 or 12)")
        (dim, _ws, epoch, min_count, neg, word_ngrams, loss, kind, bucket, _minn, maxn, _lru,
         _t) = take("<12id")
        if kind != 3:
            raise ValueError("a model of word vectors, not a classifier: read its .vec file "
                             "with KeyedVectors.load_word2vec_format")
        if loss not in _FASTTEXT_LOSSES:
            raise ValueError("the hierarchical softmax loss, which msopt does not implement")
        if maxn > 0 and version == 12:
            raise ValueError(f"character n-grams (maxn={maxn}), which msopt does not hash")
        size, n_words, n_labels, n_tokens, pruned = take("<3i2q")
        if not 0 < n_words < size or n_labels != size - n_words:
            raise ValueError(f"a dictionary of {size} entries, {n_words} words, {n_labels} "
                             "labels")
        names, counts = [], []
        for _ in range(size):
            end = data.index(b"\0", pos)
            names.append(data[pos:end].decode("utf-8"))
            pos = end + 1
            counts.append(take("<qb")[0])
        if pruned > 0:
            raise ValueError("a pruned (quantized) dictionary")
        input, output = matrix(), matrix()
        if pos != len(data) or input.shape != (n_words + bucket, dim) or output.shape != (
                n_labels, dim):
            raise ValueError(f"tables of shapes {input.shape} and {output.shape} for "
                             f"{n_words} words, {bucket} buckets, {n_labels} labels, dim "
                             f"{dim}")
        labels = _typed([_one_label("labels", x) for x in names[n_words:]], "labels")
        order = np.argsort(labels, kind="stable")
        model = cls(dim=dim, ngrams=word_ngrams, buckets=bucket or 2_000_000,
                    loss=_FASTTEXT_LOSSES[loss], negative=neg, epochs=epoch,
                    min_count=min_count)
        model._check_params()
        model.vocab_ = Vocabulary.from_counts(names[:n_words], counts[:n_words], n_tokens,
                                              min_count=min_count)
        model.classes_ = labels[order]
        if len(set(model.classes_.tolist())) != n_labels or n_labels < 2:
            raise ValueError("labels that are not 2 or more distinct names")
        model.input_ = input[:n_words + model._buckets()].copy()
        model.output_ = np.ascontiguousarray(output[order])
        model.class_counts_ = np.asarray(counts[n_words:], np.int64)[order]
        model.calls_, model.loss_history_, model._eos = 1, [], True
        return model

    @classmethod
    def _from_arrays(cls, a: dict[str, np.ndarray], name: str) -> TextClassifier:
        def bad(msg: str) -> ValueError:
            return ValueError(f"{name}: {msg}")

        if not _MEMBERS <= a.keys() or a.keys() - _MEMBERS - {"staged"}:
            raise bad(f"members {sorted(a.keys())}, expected {sorted(_MEMBERS)} (and "
                      "'staged' for parameters set for the next fit)")

        def array(key: str, dtype: Any, ndim: int) -> np.ndarray:
            v = a[key]
            if v.dtype != dtype or v.ndim != ndim:
                raise bad(f"{key}: expected a {ndim}-D {np.dtype(dtype)} array, got "
                          f"{v.ndim}-D {v.dtype}")
            return np.ascontiguousarray(v)

        def json_member(key: str) -> dict[str, Any]:
            v = a[key]
            if v.dtype.kind != "U" or v.shape != ():
                raise bad(f"{key}: expected a JSON string")
            try:
                out = json.loads(str(v))
            except ValueError as e:
                raise bad(f"{key}: not JSON ({e})") from None
            if not isinstance(out, dict):
                raise bad(f"{key}: expected a JSON object")
            return out

        params = params_from_file(cls, _with_new_params(a["params"]), name)
        try:
            model = cls(**params)
            model._check_params()
        except (TypeError, ValueError) as e:
            raise bad(f"params: {e}") from None
        state = json_member("state")
        calls, total, history = (state.get("calls"), state.get("total_tokens"),
                                 state.get("loss_history"))

        def count(v: Any, lo: int) -> bool:
            return isinstance(v, int) and not isinstance(v, bool) and lo <= v < 2**63

        if (not count(calls, 1) or not count(total, 0) or not isinstance(history, list)
                or not all(isinstance(x, (int, float)) for x in history)):
            raise bad("state: expected calls (int >= 1), total_tokens (int >= 0), both "
                      "below 2**63, and loss_history (numbers)")
        calls, total = int(calls), int(total)  # type: ignore[arg-type]

        classes = a["classes"]
        if classes.dtype.kind not in "Uiufb" or classes.ndim != 1 or len(classes) < 2 or not np.all(
                classes[1:] > classes[:-1]):
            raise bad("classes: expected a 1-D array of 2 or more sorted, distinct labels")
        words = unpack_words(a["words"], name)
        counts = array("counts", np.int64, 1)
        try:
            vocab = Vocabulary.from_counts(words, counts, total, min_count=model.min_count,
                                           lower=model.lower)
        except (TypeError, ValueError) as e:
            raise bad(str(e)) from None
        class_counts = array("class_counts", np.int64, 1)
        if class_counts.shape != classes.shape or (class_counts < 0).any():
            raise bad(f"class_counts: expected {len(classes)} counts >= 0, got shape "
                      f"{class_counts.shape}")
        input, output = array("input", np.float32, 2), array("output", np.float32, 2)
        want_in = (len(words) + model._buckets(), model.dim)
        if model.ngrams == 1 and input.shape == (len(words) + model.buckets, model.dim):
            input = input[:len(words)].copy()  # a file of a version that kept unused buckets
        if input.shape != want_in:
            raise bad(f"input: shape {input.shape}, expected {want_in} ({len(words)} words + "
                      f"{model._buckets()} buckets, dim {model.dim})")
        if output.shape != (len(classes), model.dim):
            raise bad(f"output: shape {output.shape}, expected {(len(classes), model.dim)} "
                      f"({len(classes)} classes, dim {model.dim})")

        model.classes_, model.vocab_, model.input_, model.output_ = classes, vocab, input, output
        model.class_counts_, model.calls_ = class_counts, calls
        model.loss_history_ = [float(x) for x in history]
        model._eos = state.get("eos") is True
        try:
            set_staged(model, a)
        except (TypeError, ValueError) as e:
            raise bad(str(e)) from None
        return model


def _with_new_params(params: np.ndarray) -> np.ndarray:
    """A file's params with the parameters added since it was written (at their
    defaults); anything unreadable is left for ``params_from_file`` to refuse."""
    try:
        raw = json.loads(str(params))
    except ValueError:
        return params
    if not isinstance(raw, dict) or params.dtype.kind != "U" or "pretrained_vectors" in raw:
        return params
    return np.array(json.dumps({**raw, "pretrained_vectors": None}))


def _class_set(classes: Any) -> np.ndarray:
    """The distinct labels of ``classes`` (an iterable of labels), sorted."""
    if isinstance(classes, (str, bytes)) or not isinstance(classes, Iterable):
        raise TypeError(f"classes: expected an iterable of labels, got {type(classes).__name__}")
    try:
        items = list(classes)
    except TypeError as e:  # a 0-d array, say
        raise TypeError(f"classes: expected an iterable of labels ({e})") from None
    for i, x in enumerate(items):
        if _is_group(x):
            raise TypeError(f"classes[{i}]: expected a label (a str or a number), got "
                            f"{type(x).__name__}")
    return np.unique(_typed([_one_label(f"classes[{i}]", x) for i, x in enumerate(items)],
                            "classes"))


def _is_group(x: Any) -> bool:
    """Whether ``x`` is a text's list of labels (a list, tuple, set or 1-D array)."""
    return isinstance(x, (list, tuple, set, frozenset)) or (isinstance(x, np.ndarray)
                                                           and x.ndim > 0)


def _one_label(name: str, x: Any) -> Any:
    """One label: a str without fastText's leading ``__label__``, or a number or bool (a
    NumPy scalar as the Python one)."""
    if (isinstance(x, np.ndarray) and x.ndim == 0) or isinstance(x, np.generic):
        x = x.item()
    if isinstance(x, str):
        return x[len(PREFIX):] if x.startswith(PREFIX) else x
    if isinstance(x, (bool, int, float)):
        return x
    raise TypeError(f"{name}: expected a label (a str or a number), got {type(x).__name__}")


def _typed(flat: list[Any], name: str) -> np.ndarray:
    """Labels as a 1-D array of their own type: all str, or all numbers (bool, int or
    float, as NumPy combines them); a mix of str and numbers is read as str."""
    if not any(isinstance(x, str) for x in flat):
        try:
            a = np.asarray(flat)
            if a.dtype.kind in "biuf":
                return a
        except OverflowError:  # an int beyond int64
            pass
    strs = [x if isinstance(x, str) else str(x) for x in flat]
    a = np.asarray(strs, dtype=str)
    _refuse_trailing_nul(name, strs, a)
    return a


def _labels(name: str, labels: Any) -> tuple[np.ndarray, np.ndarray | None]:
    """(labels, starts) from one label per text, or a list of labels per text: ``labels``
    holds them all (each text's without repeats) and ``starts`` where each text's begin,
    None when every text has one.  A text with no label is refused."""
    if isinstance(labels, (str, bytes)) or not isinstance(labels, Iterable):
        raise TypeError(f"{name}: expected an iterable (one label, or a list of labels, per "
                        f"text), got {type(labels).__name__}")
    if isinstance(labels, np.ndarray) and labels.ndim == 1 and labels.dtype.kind in "biuf":
        return labels.copy(), None
    try:
        items = list(labels)
    except TypeError as e:  # a 0-d array, say
        raise TypeError(f"{name}: expected an iterable of labels ({e})") from None
    if not any(_is_group(x) for x in items):
        return _typed([_one_label(f"{name}[{i}]", x) for i, x in enumerate(items)], name), None
    flat: list[Any] = []
    starts = np.empty(len(items), np.int64)
    for i, x in enumerate(items):
        group = list(x) if _is_group(x) else [x]
        group = list(dict.fromkeys(_one_label(f"{name}[{i}]", v) for v in group))
        if not group:
            raise ValueError(f"{name}[{i}]: no label; every text needs one or more")
        starts[i] = len(flat)
        flat += group
    # One label per text after all: the plain form (the same training as a flat list).
    return _typed(flat, name), (None if len(flat) == len(items) else starts)


def _refuse_trailing_nul(name: str, items: list[Any], a: np.ndarray | None = None) -> None:
    """ValueError naming the first str of ``items`` that ends in NUL (``"\\x00"``)."""
    if a is not None:
        try:  # the quick test: NumPy's lengths are short of Python's only when a NUL went
            if int(np.char.str_len(a).sum()) == sum(map(len, items)):
                return
        except TypeError:  # a mix of str and other labels: look at each
            pass
    for i, x in enumerate(items):
        if isinstance(x, str) and x.endswith("\x00"):
            raise ValueError(f"{name}[{i}]: {x!r} ends with a NUL character, which a NumPy "
                             "str array (classes_, and the model file) cannot hold: it would "
                             "become another label; strip the NULs or map the labels to "
                             "ints")
