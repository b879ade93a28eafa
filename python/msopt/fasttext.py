"""A fastText-style text classifier: the mean of a document's word and hashed n-gram
vectors, a softmax over the classes, and plain SGD with a linearly decaying rate, all
epochs in one native call (threads take disjoint documents, Hogwild)."""

from __future__ import annotations

import os
import time
from collections.abc import Iterable, Sequence
from typing import Any

import numpy as np

from msopt import _core
from msopt.text import Vocabulary, read_labeled

__all__ = ["TextClassifier"]


class TextClassifier:
    """Supervised text classification in fastText's manner.

    Parameters
    ----------
    dim : int
        Width of the word and n-gram vectors.
    ngrams : int
        Word n-grams up to this length are hashed into ``buckets`` extra rows.
    buckets : int
        Hash buckets for the n-grams (``buckets * dim`` float32 values of memory).
    loss : "softmax"
        Only the full softmax is implemented so far.
    lr, epochs, min_count, lower, workers, seed
        As in fastText (``workers``: threads; default msopt's thread count; one worker and
        a fixed seed repeat bit for bit).

    Examples
    --------
    >>> from msopt import TextClassifier
    >>> texts = ["good film", "great film", "bad film", "awful film"] * 50
    >>> labels = ["pos", "pos", "neg", "neg"] * 50
    >>> clf = TextClassifier(dim=10, buckets=1000, epochs=20, lr=0.5, workers=1).fit(texts, labels)
    >>> clf.predict(["great movie", "awful movie"]).tolist()
    ['pos', 'neg']
    """

    def __init__(self, dim: int = 100, ngrams: int = 2, buckets: int = 2_000_000,
                 loss: str = "softmax", lr: float = 0.1, epochs: int = 5, min_count: int = 1,
                 lower: bool = False, workers: int | None = None, seed: int = 0) -> None:
        if loss != "softmax":
            raise ValueError(f"loss: only 'softmax' is implemented, got {loss!r}")
        if int(dim) < 1 or int(ngrams) < 1 or int(buckets) < 0 or int(epochs) < 0:
            raise ValueError("dim >= 1, ngrams >= 1, buckets >= 0 and epochs >= 0 required")
        if not lr > 0:
            raise ValueError(f"lr: must be > 0, got {lr!r}")
        self.dim, self.ngrams, self.buckets = int(dim), int(ngrams), int(buckets)
        self.loss, self.lr, self.epochs = loss, float(lr), int(epochs)
        self.min_count, self.lower, self.workers, self.seed = min_count, lower, workers, seed

    @staticmethod
    def _texts_labels(texts: Any, labels: Any) -> tuple[list[str], list[Any]]:
        if labels is None:  # a path or lines in fastText's "__label__X text" format
            t, ls = read_labeled(texts)
            if any(len(x) != 1 for x in ls):
                raise ValueError("labels: each line needs exactly one __label__")
            return t, [x[0] for x in ls]
        t = list(texts)
        ls = list(labels)
        if len(t) != len(ls):
            raise ValueError(f"texts and labels differ in length: {len(t)} and {len(ls)}")
        return t, ls

    def _encode(self, texts: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
        return self.vocab_.encode(texts, ngrams=self.ngrams, buckets=self.buckets)

    def fit(self, texts: str | os.PathLike[str] | Iterable[str],
            labels: Iterable[Any] | None = None) -> TextClassifier:
        """Train on texts and their labels (or on a fastText-format file, labels=None)."""
        t, ls = self._texts_labels(texts, labels)
        self.classes_ = np.unique(np.asarray(ls, dtype=object).astype(str))
        if len(self.classes_) < 2:
            raise ValueError("labels: at least 2 classes are needed")
        y = np.searchsorted(self.classes_, np.asarray(ls, dtype=str)).astype(np.int32)
        self.vocab_ = Vocabulary(self.min_count, lower=self.lower).fit(t)
        ids, offsets = self._encode(t)
        rows = len(self.vocab_) + self.buckets
        rng = np.random.default_rng(self.seed)
        self.input_ = rng.uniform(-1.0 / self.dim, 1.0 / self.dim,
                                  (rows, self.dim)).astype(np.float32)
        self.output_ = np.zeros((len(self.classes_), self.dim), np.float32)
        t0 = time.perf_counter()
        self.loss_history_ = _core.fasttext_train(
            ids, offsets, y, self.input_, self.output_, self.lr, self.epochs, int(self.seed),
            int(self.workers or _core.get_num_threads())).tolist()
        self.train_seconds_ = time.perf_counter() - t0
        n_words = sum(len(s.split()) for s in t)
        self.words_per_sec_ = n_words * self.epochs / max(self.train_seconds_, 1e-9)
        return self

    def predict_proba(self, texts: Iterable[str]) -> np.ndarray:
        if not hasattr(self, "output_"):
            raise ValueError("TextClassifier: call fit() first")
        ids, offsets = self._encode(list(texts))
        return _core.fasttext_predict_proba(ids, offsets, self.input_, self.output_)

    def predict(self, texts: Iterable[str], k: int = 1) -> Any:
        """The most likely label of each text (k=1), or its k most likely labels."""
        p = self.predict_proba(texts)
        if k == 1:
            return self.classes_[p.argmax(1)]
        top = np.argsort(-p, axis=1)[:, :k]
        return [list(self.classes_[row]) for row in top]

    def score(self, texts: Iterable[str], labels: Iterable[Any]) -> float:
        """Accuracy (precision at 1)."""
        t, ls = self._texts_labels(texts, labels)
        return float(np.mean(self.predict(t) == np.asarray(ls, dtype=str)))

    def test(self, texts: Any, labels: Any = None, k: int = 1) -> tuple[int, float, float]:
        """(n, precision at k, recall at k), one true label per text, as fastText's test."""
        t, ls = self._texts_labels(texts, labels)
        unknown = sorted(set(map(str, ls)) - set(self.classes_))
        if unknown:
            raise ValueError(f"labels: {unknown} were never seen in training")
        top = self.predict(t, k=k) if k > 1 else [[p] for p in self.predict(t)]
        hits = sum(str(y) in row for y, row in zip(ls, top))
        return len(t), hits / (k * len(t)), hits / len(t)
