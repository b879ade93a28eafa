"""Evaluation helpers for semantic matching and answer ranking, in NumPy.

``sts(pred, gold)`` scores predicted similarities against gold ones (Pearson and Spearman
correlation, as STS and SICK relatedness report them); ``ranking(question_ids, scores,
labels)`` scores a ranking of candidate answers per question (mean average precision and
mean reciprocal rank, as TrecQA / WikiQA answer selection reports them).

>>> from msopt.evaluate import ranking, sts
>>> r = sts([0.1, 0.4, 0.3, 0.9], [1.0, 3.0, 2.5, 4.5])
>>> round(r.pearson, 3), r.spearman
(0.967, 1.0)
>>> ranking(["q1", "q1", "q1", "q2", "q2"], [0.9, 0.5, 0.1, 0.2, 0.7], [0, 1, 0, 1, 0])
RankingResult(map=0.5, mrr=0.5)
"""

from __future__ import annotations

import math
from typing import Any, NamedTuple

import numpy as np

__all__ = ["RankingResult", "STSResult", "ranking", "sts"]


class STSResult(NamedTuple):
    """Pearson and Spearman correlation; unpacks as ``pearson, spearman``."""

    pearson: float
    spearman: float


class RankingResult(NamedTuple):
    """Mean average precision and mean reciprocal rank; unpacks as ``map, mrr``."""

    map: float
    mrr: float


# -- input checks ---------------------------------------------------------------------------
def _real_1d(name: str, value: Any, *, finite: bool) -> np.ndarray:
    """``value`` as a 1-D float64 array of real numbers (bools are taken as 0/1)."""
    try:
        a = np.asarray(value)
    except (TypeError, ValueError) as e:
        raise TypeError(f"{name}: expected a 1-D array of real numbers ({e})") from None
    if a.dtype.kind not in "biuf":
        raise TypeError(f"{name}: expected a 1-D array of real numbers, got dtype {a.dtype}")
    if a.ndim != 1:
        raise ValueError(f"{name}: expected a 1-D array, got shape {a.shape}")
    a = a.astype(np.float64)
    if np.isnan(a).any():
        raise ValueError(f"{name}: contains NaN (at index {int(np.flatnonzero(np.isnan(a))[0])})")
    if finite and not np.isfinite(a).all():
        raise ValueError(f"{name}: contains an infinite value (at index "
                         f"{int(np.flatnonzero(~np.isfinite(a))[0])})")
    return a


def _same_length(names: tuple[str, str], a: np.ndarray | int, b: np.ndarray | int) -> None:
    na = a if isinstance(a, int) else len(a)
    nb = b if isinstance(b, int) else len(b)
    if na != nb:
        raise ValueError(f"{names[1]}: length {nb} does not match {names[0]}'s length {na}")


def _group_codes(question_ids: Any) -> np.ndarray:
    """One int code per candidate; equal question ids get equal codes.  Any hashable ids
    work (ints, strings, tuples, mixed); NumPy arrays of numbers or strings are grouped
    without a Python loop."""
    if isinstance(question_ids, np.ndarray) and question_ids.dtype.kind in "biufUS":
        if question_ids.ndim != 1:
            raise ValueError(f"question_ids: expected a 1-D array, got shape "
                             f"{question_ids.shape}")
        if question_ids.dtype.kind == "f" and np.isnan(question_ids).any():
            raise ValueError("question_ids: contains NaN")
        return np.unique(question_ids, return_inverse=True)[1].reshape(-1)
    if isinstance(question_ids, (str, bytes)) or not hasattr(question_ids, "__iter__"):
        raise TypeError(f"question_ids: expected a sequence of question ids, got "
                        f"{type(question_ids).__name__}")
    if isinstance(question_ids, np.ndarray) and question_ids.ndim != 1:
        raise ValueError(f"question_ids: expected a 1-D array, got shape {question_ids.shape}")
    codes: dict[Any, int] = {}
    out = []
    for i, q in enumerate(question_ids):
        if isinstance(q, float) and q != q:
            raise ValueError(f"question_ids: contains NaN (at index {i})")
        try:
            out.append(codes.setdefault(q, len(codes)))
        except TypeError:
            raise TypeError(f"question_ids: ids must be hashable, got "
                            f"{type(q).__name__} at index {i}") from None
    return np.asarray(out, dtype=np.int64)


# -- correlations ---------------------------------------------------------------------------
def _scaled(a: np.ndarray) -> np.ndarray:
    """``a`` times the power of two that brings its largest magnitude into [0.5, 1): exact,
    except for values below about 2**-1074 of the largest, which underflow (and whose share
    of any sum is below float64's precision anyway).  ``a`` must be finite and not all 0."""
    _, e = np.frexp(np.abs(a).max())
    return np.ldexp(a, -int(e))


def _pearson(x: np.ndarray, y: np.ndarray) -> float:
    """Pearson correlation of two finite, non-constant float64 vectors, at any magnitude:
    each is scaled into [-1, 1) before its mean is taken (so the sum cannot overflow),
    then centred and scaled again so that its largest deviation is in [0.5, 1) (so the sums of
    products neither overflow nor underflow); both scalings are by powers of two, exact."""
    with np.errstate(under="ignore"):  # only negligible values underflow
        dx = _scaled(x)
        dy = _scaled(y)
        dx = _scaled(dx - dx.mean())  # not all 0: only values equal to the mean give 0
        dy = _scaled(dy - dy.mean())
        # dx @ dx and dy @ dy lie in [0.25, n]: their product cannot overflow or underflow
        r = float(dx @ dy) / math.sqrt(float(dx @ dx) * float(dy @ dy))
    if not math.isfinite(r):  # cannot happen for finite non-constant inputs; never hide it
        raise FloatingPointError(f"the correlation is not finite ({r})")
    return min(1.0, max(-1.0, r))


def _mean_ranks(a: np.ndarray) -> np.ndarray:
    """Ranks 1..n; equal values share the mean of the ranks they span."""
    n = len(a)
    order = np.argsort(a, kind="stable")
    s = a[order]
    start = np.flatnonzero(np.r_[True, s[1:] != s[:-1]])
    end = np.r_[start[1:], n]  # one past each run of equal values
    mean_rank = (start + end + 1) / 2.0  # mean of start+1 .. end
    ranks = np.empty(n)
    ranks[order] = np.repeat(mean_rank, end - start)
    return ranks


def sts(pred: Any, gold: Any) -> STSResult:
    """Pearson and Spearman correlation of predicted and gold similarity scores.

    Parameters
    ----------
    pred, gold : array_like of real numbers, 1-D, the same length (at least 2)
        Predicted and gold scores, one per pair.

    Returns
    -------
    STSResult
        A named tuple ``(pearson, spearman)`` of floats.  Spearman is the Pearson
        correlation of the ranks, tied values sharing the mean of their ranks (as
        ``scipy.stats.spearmanr``).  Both are computed in float64, for finite inputs of
        any magnitude (from subnormal to near the float64 maximum) without overflow or
        underflow.

    Raises
    ------
    TypeError
        ``pred`` or ``gold`` is not an array of real numbers.
    ValueError
        Not 1-D, lengths differ, fewer than 2 values, a NaN or infinite value, or a
        constant array (the correlation is undefined: 0 / 0), naming the argument.

    Examples
    --------
    >>> sts([1, 2, 3, 4], [1, 3, 2, 4])
    STSResult(pearson=0.8, spearman=0.8)
    """
    p = _real_1d("pred", pred, finite=True)
    g = _real_1d("gold", gold, finite=True)
    _same_length(("pred", "gold"), p, g)
    if len(p) < 2:
        raise ValueError(f"pred: needs at least 2 values for a correlation, got {len(p)}")
    for name, a in (("pred", p), ("gold", g)):
        if a.min() == a.max():
            raise ValueError(f"{name}: all values are equal, so the correlation is undefined")
    return STSResult(_pearson(p, g), _pearson(_mean_ranks(p), _mean_ranks(g)))


# -- ranking --------------------------------------------------------------------------------
def _expected_rr(b: int, m: int, r: int) -> float:
    """E[1 / rank of the first correct answer] when it lies in a group of ``m`` tied
    candidates holding ``r`` >= 1 correct ones, after ``b`` candidates ranked above, the
    group in uniformly random order: sum over j of P(first correct at j) / (b + j), with
    P(first at j) = (r / (m - j + 1)) * prod_{i < j} (m - r - i + 1) / (m - i + 1)."""
    total = 0.0
    none_yet = 1.0  # P(positions 1..j-1 of the group are all incorrect)
    for j in range(1, m - r + 2):
        total += none_yet * r / (m - j + 1) / (b + j)
        none_yet *= (m - r - j + 1) / (m - j + 1)
    return total


def ranking(question_ids: Any, scores: Any, labels: Any) -> RankingResult:
    """Mean average precision (MAP) and mean reciprocal rank (MRR) of scored candidates.

    Each question's candidates are ranked by ``scores``, highest first.  Questions with no
    correct answer are dropped (the standard filtered setting); questions whose candidates
    are all correct are kept (their AP and RR are 1).

    Ties are resolved exactly, with no randomness: a question's AP and RR are their
    *expected* values when every group of equal scores is put in a uniformly random order
    (the limit of averaging over many random shuffles).  Expected AP has a closed form per
    position (McSherry and Najork, ECIR 2008): a group of ``m`` tied candidates holding
    ``r`` correct ones, after ``b`` candidates of which ``c`` are correct, adds
    ``sum_j (r/m) (c + 1 + (j-1)(r-1)/(m-1)) / (b + j)`` to the sum of precisions; expected
    RR sums, over the positions j of the first group holding a correct answer, the
    probability that the first correct answer is at j times ``1 / (b + j)``.  Without ties,
    both are the usual AP and RR.

    Parameters
    ----------
    question_ids : sequence of hashable, length n
        The question each candidate belongs to: any hashable values (ints, strings,
        tuples), or a 1-D NumPy array.  A question's candidates need not be contiguous.
    scores : array_like of real numbers, 1-D, length n
        Higher ranks first.  NaN is refused; +-inf are ordinary (tied with each other).
    labels : array_like, 1-D, length n
        1 (or True) for a correct answer, 0 (or False) for a wrong one.

    Returns
    -------
    RankingResult
        A named tuple ``(map, mrr)`` of floats, each a mean over the questions that have at
        least one correct answer.

    Raises
    ------
    TypeError
        A wrong type (scores or labels not real numbers, an unhashable question id).
    ValueError
        Lengths differ, no candidates, NaN scores, labels other than 0/1, or no question
        with a correct answer; the message names the argument.

    Examples
    --------
    >>> r = ranking([7, 7, 7, 7], [0.3, 0.3, 0.9, 0.1], [1, 0, 0, 0])  # a tie for rank 2
    >>> round(r.map, 6), round(r.mrr, 6)  # (1/2 + 1/3) / 2 = 5/12
    (0.416667, 0.416667)
    """
    s = _real_1d("scores", scores, finite=False)
    y = _real_1d("labels", labels, finite=True)
    codes = _group_codes(question_ids)
    _same_length(("question_ids", "scores"), len(codes), s)
    _same_length(("question_ids", "labels"), len(codes), y)
    if len(s) == 0:
        raise ValueError("question_ids: no candidates, so MAP and MRR are undefined")
    bad = (y != 0) & (y != 1)
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        raise ValueError(f"labels: must be 0 or 1, got {y[i]:g} at index {i}")
    if not y.any():
        raise ValueError("labels: no question has a correct answer (label 1), so MAP and MRR "
                         "are undefined")

    order = np.lexsort((-s, codes))  # by question, then score descending
    q, s, y = codes[order], s[order], y[order]
    n = len(s)
    new_q = np.r_[True, q[1:] != q[:-1]]
    new_g = new_q | np.r_[True, s[1:] != s[:-1]]
    q_start = np.flatnonzero(new_q)
    g_start = np.flatnonzero(new_g)
    q_of = np.cumsum(new_q) - 1  # question index of each candidate
    g_of = np.cumsum(new_g) - 1  # tie-group index of each candidate
    m_g = np.diff(np.r_[g_start, n])  # group sizes
    r_g = np.add.reduceat(y, g_start)  # correct answers per group
    R_q = np.add.reduceat(y, q_start)  # correct answers per question
    g_q = q_of[g_start]  # question of each group
    # positives ranked above each group, within its question
    c_g = np.cumsum(r_g) - r_g
    c_g -= (np.cumsum(r_g) - r_g)[g_start.searchsorted(q_start)][g_q]
    b_g = g_start - q_start[g_q]  # candidates ranked above each group

    # expected AP: every position j of a group adds (r/m)(c + 1 + (j-1)(r-1)/(m-1)) / (b + j)
    j = np.arange(n) - g_start[g_of] + 1
    m, r = m_g[g_of], r_g[g_of]
    others = np.where(m > 1, (j - 1) * (r - 1) / np.maximum(m - 1, 1), 0.0)
    term = (r / m) * (c_g[g_of] + 1 + others) / (b_g[g_of] + j)
    ap = np.add.reduceat(term, q_start)

    # expected RR: the first group with a correct answer, per question
    first = np.flatnonzero((r_g > 0) & (c_g == 0))
    rr = np.zeros(len(q_start))
    rr[g_q[first]] = 1.0 / (b_g[first] + 1)  # exact where the group is one candidate
    for gi in first[m_g[first] > 1]:  # a tie: the few groups left, one by one
        rr[g_q[gi]] = _expected_rr(int(b_g[gi]), int(m_g[gi]), int(r_g[gi]))

    keep = R_q > 0
    k = int(keep.sum())
    # fsum: exactly rounded, so the result does not depend on the order of the questions
    return RankingResult(math.fsum(ap[keep] / R_q[keep]) / k, math.fsum(rr[keep]) / k)
