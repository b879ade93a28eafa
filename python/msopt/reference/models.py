"""NumPy twins of the word2vec and text-classifier loops, with the native loops' random
stream (splitmix64), dot-product order and alias sampler."""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence

import numpy as np

from msopt.reference.embedding import _bag_bounds


class _SplitMix64:
    """The native loops' random stream (splitmix64)."""

    def __init__(self, seed: int) -> None:
        self.s = seed & 0xFFFFFFFFFFFFFFFF

    def next(self) -> int:
        m = 0xFFFFFFFFFFFFFFFF
        self.s = (self.s + 0x9E3779B97F4A7C15) & m
        z = self.s
        z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & m
        z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & m
        return z ^ (z >> 31)

    def uniform(self) -> float:
        return (self.next() >> 11) * (1.0 / 9007199254740992.0)


def _dot16(a: np.ndarray, b: np.ndarray) -> np.float32:
    """A float32 dot product in the kernels' order: 16 fixed lanes over the whole
    16-blocks, a fixed tree over the lanes, then the tail summed in order."""
    n = len(a)
    full = n - n % 16
    acc = np.zeros(16, np.float32)
    for i in range(0, full, 16):
        acc += a[i:i + 16] * b[i:i + 16]
    tail = np.float32(0)
    for i in range(full, n):
        tail += a[i] * b[i]
    for w in (8, 4, 2, 1):
        acc[:w] += acc[w:2 * w]
    return acc[0] + tail


_W2V_TABLE = None


def _w2v_target(f: np.float32, label: float, alpha: np.float32, table: bool,
                loss: list[float]) -> np.float32:
    """(label - sigmoid(f)) * alpha, and the exact loss of one target added to loss[0]."""
    global _W2V_TABLE
    one = np.float32(1)
    if table:
        if _W2V_TABLE is None:
            x = np.exp((np.arange(1000) / 1000 * 2 - 1) * 6.0)
            _W2V_TABLE = (x / (x + 1)).astype(np.float32)
        if not f < 6:
            sig = one
        elif not f > -6:
            sig = np.float32(0)
        else:
            scale = np.float32(1000) / np.float32(6) / np.float32(2)
            sig = _W2V_TABLE[min(int((f + np.float32(6)) * scale), 999)]
    else:
        e = np.exp(-abs(f))
        sig = one / (one + e) if f >= 0 else e / (one + e)
    z = float(f) if label > 0 else -float(f)
    loss[0] += math.log1p(math.exp(-abs(z))) + max(-z, 0.0)
    return (np.float32(label) - sig) * alpha


def _w2v_targets(h: np.ndarray, rows: list[int], syn1: np.ndarray, alpha: np.float32,
                 table: bool, loss: list[float], work: np.ndarray, *,
                 frozen: bool = False) -> None:
    """One example's targets (rows[0] the word, the rest negatives), in blocks of 32: every
    score of a block first, then the updates in order (work += g row; row += g h, unless
    the output table is `frozen`)."""
    for d0 in range(0, len(rows), 32):
        block = rows[d0:d0 + 32]
        scores = [_dot16(h, syn1[r]) for r in block]
        for d, (r, f) in enumerate(zip(block, scores)):
            g = _w2v_target(f, d0 + d == 0, alpha, table, loss)
            work += g * syn1[r]
            if not frozen:
                syn1[r] += g * h


def _alias_table(weights: list[float]) -> Callable[[int], int]:
    """Walker's alias method as the native loop builds it (Vose's algorithm): returns
    draw(r), a column from the high half of the 64-bit r, kept or swapped for its alias by
    the low half."""
    n, total = len(weights), 0.0
    for w in weights:
        total += w
    scaled = [w * n / total for w in weights]
    small = [i for i in range(n) if scaled[i] < 1.0]
    large = [i for i in range(n) if scaled[i] >= 1.0]
    cut, alias = [2**32 - 1] * n, list(range(n))
    while small and large:
        s, g = small.pop(), large[-1]
        cut[s], alias[s] = int(min(scaled[s] * 4294967296.0, 4294967295.0)), g
        scaled[g] -= 1.0 - scaled[s]
        if scaled[g] < 1.0:
            small.append(large.pop())

    def draw(r: int) -> int:
        col = ((r >> 32) * n) >> 32
        return col if (r & 0xFFFFFFFF) < cut[col] else alias[col]

    return draw


def word2vec_train(ids: np.ndarray, offsets: np.ndarray, counts: np.ndarray,
                   syn0: np.ndarray, syn1: np.ndarray, *, window: int, negative: int,
                   sample: float, alpha: float, min_alpha: float, epochs: int, seed: int,
                   sg: bool = True, cbow_mean: bool = True, table_sigmoid: bool = False
                   ) -> list[float]:
    """The one-thread native word2vec loop (skip-gram or CBOW, negative sampling), step by
    step in NumPy float32; updates syn0 and syn1 in place and returns the mean loss per
    example of each epoch."""
    counts = np.asarray(counts, np.float64)
    draw_negative = _alias_table([float(c) ** 0.75 for c in counts])
    total = float(np.cumsum(counts)[-1])
    keep = np.ones(len(counts))
    if sample > 0:
        t = sample * total
        keep = np.minimum(1.0, (np.sqrt(counts / t) + 1.0) * t / counts)
    bounds = _bag_bounds(offsets, len(ids))
    share, done = float(len(ids)) * epochs, 0.0
    out = []
    for e in range(epochs):
        rng = _SplitMix64(seed * 0x100000001B3 + e)
        loss, examples = [0.0], 0
        for a, b in bounds:
            a_e = np.float32(alpha - (alpha - min_alpha) * (done / share if share else 1.0))
            done += b - a
            sent = [int(w) for w in ids[a:b] if rng.uniform() < keep[w]]  # one draw each
            for i, word in enumerate(sent):
                win = window - rng.next() % window
                ctx = [j for j in range(max(0, i - win), min(len(sent) - 1, i + win) + 1)
                       if j != i]

                def draw(word: int = word, rng: _SplitMix64 = rng) -> list[int]:
                    rows = [word]
                    for _ in range(negative):
                        t = draw_negative(rng.next())
                        if t != word:
                            rows.append(t)
                    return rows

                if sg:
                    for j in ctx:
                        l1, work = syn0[sent[j]], np.zeros(syn0.shape[1], np.float32)
                        _w2v_targets(l1, draw(), syn1, a_e, table_sigmoid, loss, work)
                        l1 += work
                        examples += 1
                elif ctx:
                    neu1 = np.zeros(syn0.shape[1], np.float32)
                    for j in ctx:
                        neu1 += syn0[sent[j]]
                    inv = np.float32(1) / np.float32(len(ctx))
                    if cbow_mean:
                        neu1 *= inv
                    work = np.zeros_like(neu1)
                    _w2v_targets(neu1, draw(), syn1, a_e, table_sigmoid, loss, work)
                    if not cbow_mean:
                        work *= inv
                    for j in ctx:
                        syn0[sent[j]] += work
                    examples += 1
        out.append(loss[0] / examples if examples else 0.0)
    return out


def text_classifier_doc(input: np.ndarray, output: np.ndarray, ids: np.ndarray,
                        y: int | Sequence[int], loss: str, rate: float,
                        negatives: Sequence[int] = ()) -> float:
    """One document's step of the fastText-style classifier, in place on float64 tables:
    h = mean of the input rows ``ids``; the output rows updated as the loss says
    ("softmax", "ova", or "ns" with the given negative classes, each row's gradient taken
    before its own update); then every input row of the document moves by the hidden
    gradient / len(ids).  ``y``: the document's class, or for "ova" its classes (a
    sequence: every one a positive).  Returns the document's loss."""
    h = input[ids].mean(0)
    s = output @ h
    if loss == "softmax":
        mx = s.max()
        lse = mx + np.log(np.exp(s - mx).sum())
        value = float(lse - s[y])
        alpha = rate * ((np.arange(len(s)) == y) - np.exp(s - lse))
        grad = alpha @ output
        output += np.outer(alpha, h)
    elif loss == "ova":
        target = np.isin(np.arange(len(s)), y).astype(np.float64)
        value = float(np.logaddexp(0.0, -np.where(target > 0, s, -s)).sum())
        alpha = rate * (target - 1 / (1 + np.exp(-s)))
        grad = alpha @ output
        output += np.outer(alpha, h)
    else:
        grad, value = np.zeros_like(h), 0.0
        for k, t in [(y, 1.0)] + [(int(n), 0.0) for n in negatives]:
            sk = output[k] @ h
            value += float(np.logaddexp(0.0, -sk if t else sk))
            a = rate * (t - 1 / (1 + np.exp(-sk)))
            grad += a * output[k]
            output[k] += a * h
    np.add.at(input, ids, grad / len(ids))
    return value
