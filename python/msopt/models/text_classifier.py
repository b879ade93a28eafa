"""A fastText-style text classifier: the mean of a document's word and hashed n-gram
vectors, a softmax, one-vs-all or negative-sampling loss over the classes, and plain SGD
with a linearly decaying rate, the epochs in native chunks that return to Python between
them (threads take disjoint documents, Hogwild)."""

from __future__ import annotations

import json
import os
import time
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
)
from msopt._io import (
    atomic_write,
    check_path,
    pack_words,
    params_from_file,
    read_npz,
    unpack_words,
)
from msopt._progress import ChunkSize, Tracker, saved_params
from msopt.exceptions import DivergenceError
from msopt.text import Vocabulary, read_labeled

__all__ = ["TextClassifier"]

FORMAT = "msopt-textclassifier 1"
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

    Parameters
    ----------
    dim : int, default 100
        Width of the word and n-gram vectors.
    ngrams : int, default 2
        Word n-grams up to this length are hashed into ``buckets`` extra rows (alias
        ``wordNgrams``).
    buckets : int, default 2,000,000
        Hash buckets for the n-grams (``buckets * dim`` float32 values of memory; alias
        ``bucket``).
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

    Attributes
    ----------
    classes_ : ndarray
        The class labels, sorted, of the labels' own type (ints stay ints, strings
        strings); columns of :meth:`predict_proba`.
    vocab_ : msopt.text.Vocabulary
        Built by the first training call, fixed after it.
    input_, output_ : ndarray of float32
        The tables: ``(len(vocab_) + buckets, dim)`` input rows (words, then n-gram buckets)
        and ``(len(classes_), dim)`` output rows.
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
    :meth:`predict` as the same int (a mix of types is read as ``str``).

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
    input         float32 ``(len(words) + buckets, dim)``
    output        float32 ``(len(classes), dim)``
    ============  =================================================================

    Examples
    --------
    >>> from msopt import TextClassifier
    >>> texts = ["good film", "great film", "bad film", "awful film"] * 50
    >>> labels = ["pos", "pos", "neg", "neg"] * 50
    >>> clf = TextClassifier(dim=10, buckets=1000, epochs=20, lr=0.5, threads=1).fit(texts, labels)
    >>> clf.predict(["great movie", "awful movie"]).tolist()
    ['pos', 'neg']
    >>> clf  # doctest: +ELLIPSIS
    TextClassifier(dim=10, buckets=1000, loss='softmax', ..., classes=2, vocab=5 words)
    >>> ova = TextClassifier(dim=10, buckets=1000, loss="ova", epochs=20, lr=0.5, threads=1)
    >>> ova.fit(texts, labels).predict_proba(["great movie"]).round(1).tolist()
    [[0.0, 1.0]]
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
    _estimator_type = "classifier"  # scikit-learn < 1.6
    # Input rows read per native call and thread: None sizes them to about 0.4 s of
    # work, except with deterministic threads, whose bits depend on the chunks.
    _chunk_rows: int | None = None

    @keyword_aliases(wordNgrams="ngrams", bucket="buckets", neg="negative", epoch="epochs",
                     thread="threads", workers="threads", minCount="min_count",
                     learning_rate="lr", random_state="seed")
    def __init__(self, dim: int = 100, ngrams: int = 2, buckets: int = 2_000_000,
                 loss: str = "softmax", negative: int = 5, lr: float = 0.1, epochs: int = 5,
                 min_count: int = 1, lower: bool = False, threads: int | None = None,
                 seed: int = 0, deterministic: bool = False,
                 callbacks: Sequence[Callable[..., Any]] | None = None,
                 verbose: bool | int = False) -> None:
        self.dim, self.ngrams, self.buckets, self.loss = dim, ngrams, buckets, loss
        self.negative, self.lr, self.epochs = negative, lr, epochs
        self.min_count, self.lower, self.threads = min_count, lower, threads
        self.seed, self.deterministic = seed, deterministic
        self.callbacks, self.verbose = callbacks, verbose

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
    def _texts_labels(texts: Any, labels: Any) -> tuple[list[str], np.ndarray]:
        """(texts, labels as an array of their own type) from two iterables, or from
        fastText's ``__label__X text`` lines (a path or an iterable of str) when labels is
        None."""
        if labels is None:
            if isinstance(texts, bytes):
                raise TypeError("texts: a path or an iterable of str, not bytes")
            t, per_line = read_labeled(texts)
            for i, x in enumerate(per_line):
                if len(x) != 1:
                    raise ValueError(f"labels: line {i + 1} has {len(x)} __label__ tokens; "
                                     "exactly one is needed")
            found = [x[0] for x in per_line]
            _refuse_trailing_nul("labels", found)
            return t, np.asarray(found, dtype=str)
        if isinstance(texts, (str, os.PathLike)):
            raise TypeError("texts: a file path is read in fastText's __label__ format and "
                            "takes labels=None")
        t = _strings("texts", texts)
        if isinstance(labels, (str, bytes)) or not isinstance(labels, Iterable):
            raise TypeError(f"labels: expected an iterable (one label per text), got "
                            f"{type(labels).__name__}")
        ls = _label_array("labels", labels)
        if len(t) != len(ls):
            raise ValueError(f"texts and labels differ in length: {len(t)} and {len(ls)}")
        return t, ls

    def _encode(self, texts: Sequence[str], vocab: Vocabulary | None = None
                ) -> tuple[np.ndarray, np.ndarray]:
        v = self.vocab_ if vocab is None else vocab
        return named_errors("texts", lambda: v.encode(texts, ngrams=int(self.ngrams),
                                                      buckets=int(self.buckets)))

    def _class_ids(self, labels: np.ndarray, classes: np.ndarray) -> np.ndarray:
        unknown = sorted(set(labels.tolist()) - set(classes.tolist()), key=repr)
        if unknown:
            shown = ", ".join(map(repr, unknown[:5])) + (", ..." if len(unknown) > 5 else "")
            raise ValueError(f"labels: {len(unknown)} label(s) not in classes_: {shown}")
        if len(labels) == 0:
            return np.zeros(0, np.int32)
        return np.searchsorted(classes, labels).astype(np.int32)

    # -- training -------------------------------------------------------------------------
    def fit(self, texts: str | os.PathLike[str] | Iterable[str],
            labels: Iterable[Any] | None = None) -> TextClassifier:
        """Train from scratch on texts and their labels (or on a fastText-format file,
        ``labels=None``): a new vocabulary, new tables, then ``epochs`` epochs.  Returns
        self."""
        self._check_params()
        t, ls = self._texts_labels(texts, labels)
        return self._first_call(t, ls, None)

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
        t, ls = self._texts_labels(texts, labels)
        if not hasattr(self, "output_"):
            return self._first_call(t, ls, classes)
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
                        self.calls_)
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

    def _first_call(self, t: list[str], ls: np.ndarray, classes: Any) -> TextClassifier:
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
        if len(vocab) + int(self.buckets) > MAX_ROWS:  # checked before the table is made
            raise ValueError(f"buckets: {len(vocab):,} words + {self.buckets:,} buckets "
                             f"exceed the {MAX_ROWS:,} input rows the trainer takes")
        ids, offsets = self._encode(t, vocab)
        rng = np.random.default_rng(int(self.seed))
        dim = int(self.dim)
        # The tables' size, before they are allocated: the input table, and the copy that a
        # later partial_fit keeps to undo a failed call.
        rows = len(vocab) + int(self.buckets)
        check_memory("TextClassifier", f"{rows:,} rows (words + buckets) x dim={dim:,} "
                     "float32", rows * dim * 4, 2, what="training needs",
                     hint="Reduce buckets or dim.")
        # Uniform in [-1/dim, 1/dim), as fastText; drawn in float32 to spare a float64 copy.
        table = rng.random((len(vocab) + int(self.buckets), dim), dtype=np.float32)
        table *= np.float32(2.0 / dim)
        table -= np.float32(1.0 / dim)
        output = np.zeros((len(cl), dim), np.float32)
        counts = np.bincount(y, minlength=len(cl)).astype(np.int64)
        # Installed before training, so that Ctrl-C leaves the chunks done; anything else
        # puts the model back as it was.
        saved = self.__dict__.copy()
        self.classes_, self.vocab_, self.input_, self.output_ = cl, vocab, table, output
        self.class_counts_, self.calls_, self.loss_history_ = counts, 1, []
        try:
            self._train(len(vocab), ids, offsets, y, table, output, counts, 0)
        except BaseException as e:
            if not (isinstance(e, KeyboardInterrupt) and self._finite()):
                self.__dict__.clear()
                self.__dict__.update(saved)
            raise
        return self

    def _finite(self) -> bool:
        return bool(np.isfinite(self.input_).all() and np.isfinite(self.output_).all())

    def _train(self, n_vocab: int, ids: np.ndarray, offsets: np.ndarray, y: np.ndarray,
               input: np.ndarray, output: np.ndarray, class_counts: np.ndarray,
               call: int) -> None:
        """Train ``epochs`` epochs in native chunks, each epoch's mean loss appended to
        ``loss_history_`` as it ends; the chunks repeat one whole call bit for bit with one
        thread."""
        # One seed per call, so later calls do not repeat the first one's order and draws.
        seed = int(np.random.SeedSequence([int(self.seed), call]).generate_state(1,
                                                                               np.uint64)[0])
        weights = np.sqrt(class_counts.astype(np.float64))
        threads, epochs = int(self.threads or _core.get_num_threads()), int(self.epochs)
        corpus = _core.RaggedIds(ids, offsets, len(input))  # type: ignore[attr-defined]
        train_chunk = _core.fasttext_train_chunk  # type: ignore[attr-defined]
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
                    epochs, seed, threads, bool(self.deterministic), resume, int(chunk))
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
        normalized: a row need not sum to 1), as fastText predicts."""
        self._check_fitted()
        ids, offsets = self._encode(_strings("texts", texts))
        return _core.fasttext_predict_proba(ids, offsets, self.input_, self.output_,
                                            self.loss)

    def predict(self, texts: Iterable[str], k: int = 1) -> Any:
        """The most likely label of each text (k=1, an array), or its k most likely labels
        (a list of lists), of the type of the training labels."""
        k = check_int("k", k, 1)
        p = self.predict_proba(texts)
        if k == 1:
            return self.classes_[p.argmax(1)]
        top = np.argsort(-p, axis=1, kind="stable")[:, :k]
        return [self.classes_[row].tolist() for row in top]

    def score(self, texts: Iterable[str], labels: Iterable[Any]) -> float:
        """Accuracy (precision at 1)."""
        t, ls = self._texts_labels(texts, labels)
        if not t:
            raise ValueError("texts: no documents")
        return float(np.mean(self.predict(t) == ls))

    def test(self, texts: Any, labels: Any = None, k: int = 1) -> tuple[int, float, float]:
        """(n, precision at k, recall at k), one true label per text, as fastText's test."""
        k = check_int("k", k, 1)
        self._check_fitted()
        t, ls = self._texts_labels(texts, labels)
        if not t:
            raise ValueError("texts: no documents")
        unknown = sorted(set(ls.tolist()) - set(self.classes_.tolist()), key=repr)
        if unknown:
            raise ValueError(f"labels: {unknown} were never seen in training")
        top = self.predict(t, k=k) if k > 1 else [[p] for p in self.predict(t).tolist()]
        hits = sum(y in row for y, row in zip(ls.tolist(), top))
        return len(t), hits / (k * len(t)), hits / len(t)

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
        words = self.vocab_.words
        state = {"total_tokens": self.vocab_.total_tokens, "calls": self.calls_,
                 "loss_history": self.loss_history_}
        with atomic_write(check_path(path)) as f:
            np.savez(f, format=np.array(FORMAT), params=np.array(json.dumps(saved_params(self))),
                     state=np.array(json.dumps(state)), classes=self.classes_,
                     words=pack_words(words),
                     counts=np.asarray(self.vocab_.counts, np.int64),
                     class_counts=self.class_counts_, input=self.input_, output=self.output_)

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
    def _from_arrays(cls, a: dict[str, np.ndarray], name: str) -> TextClassifier:
        def bad(msg: str) -> ValueError:
            return ValueError(f"{name}: {msg}")

        if a.keys() != _MEMBERS:
            raise bad(f"members {sorted(a.keys())}, expected {sorted(_MEMBERS)}")

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

        params = params_from_file(cls, a["params"], name)
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
        want_in = (len(words) + model.buckets, model.dim)
        if input.shape != want_in:
            raise bad(f"input: shape {input.shape}, expected {want_in} ({len(words)} words + "
                      f"{model.buckets} buckets, dim {model.dim})")
        if output.shape != (len(classes), model.dim):
            raise bad(f"output: shape {output.shape}, expected {(len(classes), model.dim)} "
                      f"({len(classes)} classes, dim {model.dim})")

        model.classes_, model.vocab_, model.input_, model.output_ = classes, vocab, input, output
        model.class_counts_, model.calls_ = class_counts, calls
        model.loss_history_ = [float(x) for x in history]
        return model


def _class_set(classes: Any) -> np.ndarray:
    """The distinct labels of ``classes`` (an iterable of labels), sorted."""
    if isinstance(classes, (str, bytes)) or not isinstance(classes, Iterable):
        raise TypeError(f"classes: expected an iterable of labels, got {type(classes).__name__}")
    try:
        items = list(classes)
    except TypeError as e:  # a 0-d array, say
        raise TypeError(f"classes: expected an iterable of labels ({e})") from None
    return np.unique(_label_array("classes", items))


def _label_array(name: str, labels: Any) -> np.ndarray:
    """Labels as a 1-D array of their own type: str, int, float or bool labels keep it; a
    mix of types (an object array) is read as str.  A str label ending in NUL is refused
    (ValueError): a NumPy str array, and so ``classes_`` and the model file, would drop
    its trailing NULs and so merge it with another label."""
    try:
        items = list(labels)
    except TypeError as e:  # a 0-d array, say
        raise TypeError(f"{name}: expected an iterable of labels ({e})") from None
    try:
        a = np.asarray(items)
    except (TypeError, ValueError) as e:  # ragged: a label that is a sequence
        raise ValueError(f"{name}: expected one label (a str or a number) per text ({e})"
                         ) from None
    if a.ndim != 1:
        raise ValueError(f"{name}: expected one label per text, got shape {a.shape}")
    if a.dtype.kind not in "Uiufb":
        items = [str(x) for x in a.tolist()]
        a = np.asarray(items, dtype=str)
    if a.dtype.kind == "U":
        _refuse_trailing_nul(name, items, a)
    return a


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
