"""Plain-Python twin of the Kneser-Ney n-gram model (``csrc/msopt/models/kneser_ney.*``)
that :class:`msopt.LanguageModel` mixes with its network (``kneser_ney=N``).

Interpolated modified Kneser-Ney (Chen & Goodman 1998), straight from its definition, with
dictionaries: the n-gram of position ``t`` is the ``order - 1`` ids before it (``bos``
before the stream's start) and the id at ``t``.  Order N counts occurrences; a k-gram of a
lower order counts the distinct ids seen before it (its continuation count).  With
``D(c)`` the discount of count ``c`` (D1, D2, D3+ per order, from that order's counts of
counts ``n1..n4``: ``Y = n1 / (n1 + 2 n2)``, ``D_i = i - (i + 1) Y n_{i+1} / n_i``),

    p_k(w | h) = max(c(h w) - D(c(h w)), 0) / c(h) + gamma(h) p_{k-1}(w | h[1:]),
    gamma(h) = sum over w of D(c(h w)) / c(h),

a context ``h`` never seen leaves ``p_{k-1}`` as it is, and ``p_1`` is interpolated with
the uniform distribution over the vocabulary.

Example
-------
>>> from msopt.reference import kneser_ney as ref
>>> kn = ref.KneserNey([0, 1, 0, 1, 2], order=2, vocab=4, bos=3)
>>> round(sum(kn.prob((0,), w) for w in range(4)), 12)
1.0
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Sequence

FALLBACK = (0.5, 1.0, 1.5)  # discounts where a count of counts is missing (tiny texts)


def discounts(counts: Sequence[int]) -> tuple[float, float, float]:
    """D1, D2, D3+ from one order's counts, each clipped to [0, i]."""
    n = [sum(1 for c in counts if c == r) for r in (1, 2, 3, 4)]
    y = n[0] / (n[0] + 2 * n[1]) if n[0] + 2 * n[1] else 0.5
    out = []
    for i in range(3):
        d = (i + 1) - (i + 2) * y * n[i + 1] / n[i] if n[i] else FALLBACK[i]
        out.append(min(max(d, 0.0), i + 1.0))
    return out[0], out[1], out[2]


class KneserNey:
    """The model of ``tokens`` (ids in [0, vocab)) at ``order``."""

    def __init__(self, tokens: Sequence[int], *, order: int, vocab: int, bos: int) -> None:
        self.order, self.vocab = order, vocab
        toks = [int(t) for t in tokens]
        top: Counter[tuple[int, ...]] = Counter()
        for t in range(len(toks)):
            hist = tuple(toks[t - order + 1 + j] if t - order + 1 + j >= 0 else bos
                         for j in range(order - 1))
            top[hist + (toks[t],)] += 1
        # counts[k]: the k-grams' counts (continuation counts below the top order)
        self.counts: dict[int, Counter[tuple[int, ...]]] = {order: top}
        for k in range(order - 1, 0, -1):
            self.counts[k] = Counter(g[1:] for g in self.counts[k + 1])
        self.d = {k: discounts(list(self.counts[k].values())) for k in self.counts}
        self.followers: dict[int, dict[tuple[int, ...], dict[int, int]]] = {}
        for k, cnt in self.counts.items():
            f: dict[tuple[int, ...], dict[int, int]] = defaultdict(dict)
            for g, c in cnt.items():
                f[g[:-1]][g[-1]] = c
            self.followers[k] = f

    def _disc(self, k: int, c: int) -> float:
        return self.d[k][min(c, 3) - 1]

    def prob(self, hist: Sequence[int], w: int, k: int | None = None) -> float:
        """p_k(w | the last k - 1 ids of hist); k defaults to the order."""
        k = self.order if k is None else k
        h = tuple(int(x) for x in hist)[len(hist) - (k - 1):] if k > 1 else ()
        fol = self.followers[k].get(h)
        lower = 1.0 / self.vocab if k == 1 else self.prob(h, w, k - 1)
        if not fol:
            return lower
        total = sum(fol.values())
        gamma = sum(self._disc(k, c) for c in fol.values()) / total
        c = fol.get(int(w), 0)
        own = max(c - self._disc(k, c), 0.0) / total if c else 0.0
        return own + gamma * lower
