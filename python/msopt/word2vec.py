"""Word2Vec: skip-gram with negative sampling, trained by one native call per ``train``.

The native loop runs every epoch with the GIL released: linear learning-rate decay from
``alpha`` to ``min_alpha``, random window shrinking, frequent-word subsampling (``sample``),
negatives from the unigram^0.75 distribution, and the exact sigmoid.  Threads split the
sentences and update the shared tables without locks (Hogwild, as word2vec and gensim do);
with ``workers=1`` a fixed ``seed`` repeats bit for bit.
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterable
from typing import Any

import numpy as np

from msopt import _core
from msopt.text import Vocabulary

__all__ = ["KeyedVectors", "Word2Vec"]


class KeyedVectors:
    """Word vectors by word: ``wv[word]``, ``most_similar``, ``similarity``."""

    def __init__(self, words: list[str], vectors: np.ndarray) -> None:
        self.index_to_key = list(words)
        self.key_to_index = {w: i for i, w in enumerate(words)}
        self.vectors = vectors
        self._unit: np.ndarray | None = None

    def __contains__(self, word: str) -> bool:
        return word in self.key_to_index

    def __len__(self) -> int:
        return len(self.index_to_key)

    def __getitem__(self, word: str) -> np.ndarray:
        try:
            return self.vectors[self.key_to_index[word]]
        except KeyError:
            raise KeyError(f"word {word!r} is not in the vocabulary") from None

    def _normed(self) -> np.ndarray:
        if self._unit is None:
            n = np.linalg.norm(self.vectors, axis=1, keepdims=True)
            self._unit = self.vectors / np.where(n > 0, n, 1)
        return self._unit

    def similarity(self, a: str, b: str) -> float:
        """Cosine similarity of two words."""
        u = self._normed()
        for w in (a, b):
            if w not in self.key_to_index:
                raise KeyError(f"word {w!r} is not in the vocabulary")
        return float(u[self.key_to_index[a]] @ u[self.key_to_index[b]])

    def most_similar(self, word: str, topn: int = 10) -> list[tuple[str, float]]:
        """The ``topn`` words nearest to ``word`` by cosine similarity."""
        u = self._normed()
        i = self.key_to_index.get(word)
        if i is None:
            raise KeyError(f"word {word!r} is not in the vocabulary")
        sims = u @ u[i]
        sims[i] = -np.inf
        top = np.argsort(-sims)[:topn]
        return [(self.index_to_key[j], float(sims[j])) for j in top]


class Word2Vec:
    """Skip-gram word2vec with negative sampling (gensim's parameter names).

    Parameters
    ----------
    sentences : path, iterable of str, or iterable of token lists, optional
        Trained on at once when given.
    vector_size, window, negative, min_count, epochs, sample, alpha, min_alpha
        As in word2vec and gensim.
    sg : 1
        Skip-gram.  (CBOW, ``sg=0``, is not implemented yet.)
    workers : int, optional
        Threads (default: msopt's thread count).
    seed : int

    Examples
    --------
    >>> from msopt import Word2Vec
    >>> corpus = ["the cat sat on the mat", "the dog sat on the log"] * 200
    >>> model = Word2Vec(corpus, vector_size=16, min_count=1, epochs=3, workers=1, seed=1)
    >>> model.wv["cat"].shape
    (16,)
    """

    def __init__(self, sentences: Any = None, vector_size: int = 100, window: int = 5,
                 negative: int = 5, sg: int = 1, min_count: int = 5, epochs: int = 5,
                 workers: int | None = None, seed: int = 1, alpha: float = 0.025,
                 min_alpha: float = 1e-4, sample: float = 1e-3, max_vocab: int | None = None,
                 lower: bool = False) -> None:
        if sg != 1:
            raise ValueError("sg: only skip-gram (sg=1) is implemented")
        if int(vector_size) < 1:
            raise ValueError(f"vector_size: must be >= 1, got {vector_size!r}")
        self.vector_size, self.window, self.negative = int(vector_size), int(window), int(negative)
        self.min_count, self.epochs, self.seed = int(min_count), int(epochs), int(seed)
        self.workers = workers
        self.alpha, self.min_alpha, self.sample = float(alpha), float(min_alpha), float(sample)
        self.max_vocab, self.lower = max_vocab, lower
        self.vocab: Vocabulary | None = None
        self.wv: KeyedVectors | None = None
        self.loss_history_: list[float] = []
        if sentences is not None:
            self.train(sentences)

    @staticmethod
    def _lines(sentences: Any) -> Any:
        if isinstance(sentences, (str, os.PathLike)):
            return sentences
        return (s if isinstance(s, str) else " ".join(s) for s in sentences)

    def train(self, sentences: str | os.PathLike[str] | Iterable[Any]) -> Word2Vec:
        """Build the vocabulary and train every epoch in one native call."""
        if not isinstance(sentences, (str, os.PathLike)):
            sentences = list(self._lines(sentences))
        self.vocab = Vocabulary(self.min_count, self.max_vocab, lower=self.lower).fit(
            sentences)
        ids, offsets = self.vocab.encode(sentences)
        V, dim = len(self.vocab), self.vector_size
        rng = np.random.default_rng(self.seed)
        syn0 = ((rng.random((V, dim), dtype=np.float32) - 0.5) / dim).astype(np.float32)
        syn1 = np.zeros((V, dim), np.float32)
        threads = self.workers or _core.get_num_threads()
        t0 = time.perf_counter()
        losses, words, pairs = _core.word2vec_train(
            ids.astype(np.int32), offsets, self.vocab.counts, syn0, syn1, self.window,
            self.negative, self.sample, self.alpha, self.min_alpha, self.epochs, self.seed,
            int(threads))
        self.train_seconds_ = time.perf_counter() - t0
        self.words_per_sec_ = len(ids) * self.epochs / max(self.train_seconds_, 1e-9)
        self.loss_history_ = [float(x) for x in losses]
        self.syn1neg = syn1
        self.wv = KeyedVectors(self.vocab.words, syn0)
        return self
