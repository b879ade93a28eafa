"""Interpolated modified Kneser-Ney n-gram model (Chen & Goodman 1998), in NumPy and
Python, the baseline the language-model bench computes on the same split as msopt.

    p(w | h) = max(c(h w) - D(c(h w)), 0) / c(h) + gamma(h) p(w | h')
    gamma(h) = (D1 N1(h .) + D2 N2(h .) + D3 N3+(h .)) / c(h)

with raw counts at the highest order, continuation counts N1+(. h w) below it, three
discounts per order from its count-of-counts (D1 = 1 - 2Y n2/n1, D2 = 2 - 3Y n3/n2,
D3 = 3 - 4Y n4/n3, Y = n1 / (n1 + 2 n2)), and the unigrams interpolated with the uniform
distribution over the vocabulary.  A history never seen backs off entirely.  The stream
is padded on the left with n - 1 boundary ids.

    python bench/kneser_ney.py      # the tinyshakespeare figures, 5- and 7-gram
"""

from __future__ import annotations

import math
import sys

import numpy as np


def _grams(ids: np.ndarray, k: int) -> np.ndarray:
    return np.lib.stride_tricks.sliding_window_view(ids, k)


def _unique_rows(a: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    u, c = np.unique(np.ascontiguousarray(a), axis=0, return_counts=True)
    return u, c


class KneserNey:
    """Fit on a stream of int ids (vocabulary size ``vocab``, boundary id ``bos``)."""

    def __init__(self, order: int, vocab: int, bos: int) -> None:
        self.n, self.V, self.bos = order, vocab, bos

    def fit(self, ids: np.ndarray) -> KneserNey:
        n = self.n
        s = np.concatenate([np.full(n - 1, self.bos, ids.dtype), ids])
        # counts per order: raw at n, continuation below
        grams, counts = _unique_rows(_grams(s, n)[: len(ids)])
        self.tables: list[dict[tuple[int, ...], int]] = [{} for _ in range(n + 1)]
        self.hist: list[dict[tuple[int, ...], tuple[float, int, int, int]]] = [
            {} for _ in range(n + 1)]
        self.D: list[tuple[float, float, float]] = [(0.0, 0.0, 0.0)] * (n + 1)
        level_grams, level_counts = grams, counts
        for k in range(n, 0, -1):
            if k < n:  # continuation counts: distinct left extensions of each k-gram
                level_grams, level_counts = _unique_rows(level_grams[:, 1:])
            self._set_order(k, level_grams, level_counts)
        return self

    def _set_order(self, k: int, grams: np.ndarray, counts: np.ndarray) -> None:
        nc = np.bincount(np.minimum(counts, 5), minlength=6)
        n1, n2, n3, n4 = (max(int(x), 1) for x in nc[1:5])
        Y = n1 / (n1 + 2 * n2)
        D = (1 - 2 * Y * n2 / n1, 2 - 3 * Y * n3 / n2, 3 - 4 * Y * n4 / n3)
        self.D[k] = tuple(max(d, 0.0) for d in D)  # type: ignore[assignment]
        keys = [tuple(r) for r in grams.tolist()]
        self.tables[k] = dict(zip(keys, counts.tolist()))
        hist: dict[tuple[int, ...], list[float]] = {}
        d1, d2, d3 = self.D[k]
        for key, c in zip(keys, counts.tolist()):
            h = key[:-1]
            e = hist.get(h)
            if e is None:
                e = hist[h] = [0.0, 0.0]
            e[0] += c
            e[1] += d1 if c == 1 else (d2 if c == 2 else d3)
        self.hist[k] = {h: (v[0], v[1]) for h, v in hist.items()}  # type: ignore[misc]

    def _prob(self, h: tuple[int, ...], w: int) -> float:
        p = 1.0 / self.V
        for k in range(1, self.n + 1):
            hk = h[len(h) - (k - 1):] if k > 1 else ()
            e = self.hist[k].get(hk)
            if e is None:
                continue  # an unseen history: all its mass goes to the lower order
            total, mass = e
            c = self.tables[k].get(hk + (w,), 0)
            d1, d2, d3 = self.D[k]
            d = 0.0 if c == 0 else (d1 if c == 1 else (d2 if c == 2 else d3))
            p = max(c - d, 0.0) / total + mass / total * p
        return p

    def token_losses(self, ids: np.ndarray, begin: int) -> np.ndarray:
        """-log p of ids[begin:], each given the ids before it (and the padding)."""
        n = self.n
        s = [self.bos] * (n - 1) + [int(x) for x in ids]
        out = np.empty(len(ids) - begin)
        for i in range(begin, len(ids)):
            j = i + n - 1
            out[i - begin] = -math.log(self._prob(tuple(s[j - n + 1:j]), s[j]))
        return out


def shakespeare(path: str) -> None:
    text = open(path, encoding="utf-8").read()
    chars = sorted(set(text))
    idx = {c: i for i, c in enumerate(chars)}
    ids = np.array([idx[c] for c in text], np.int32)
    n = int(len(ids) * 0.9)
    for order in (5, 7):
        kn = KneserNey(order, len(chars) + 1, len(chars)).fit(ids[:n])
        print(order, kn.token_losses(ids, n).mean())


if __name__ == "__main__":
    shakespeare(sys.argv[1] if len(sys.argv) > 1 else
                "../shared/data/tinyshakespeare/input.txt")
