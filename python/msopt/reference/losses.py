"""NumPy twins of the loss kernels (``csrc/msopt/losses``, ``_core.loss_grad``).

Each ``loss_grad(kind, scores, targets, ...)`` returns ``(loss, dscores)``: the loss summed
over the rows of ``scores`` (a Python float, computed in float64) and its gradient in the
scores, in the scores' dtype.  The kernels compute the same functions; where they use the
vectorized exp (softmax, negative sampling) the two agree to a few ulp, not bit for bit.

Kinds (one row of scores ``z``):

* ``squared``   ``0.5 * sum((z - y)**2)``
* ``huber``     ``sum(0.5 r**2 if |r| <= eps else eps |r| - eps**2 / 2)``, ``r = z - y``
* ``logistic``  ``log(1 + exp(-s z))`` with ``s = +1`` for label 1, ``-1`` for label 0
* ``softmax``   ``logsumexp(z) - z[y]``
* ``hinge``     ``sum(max(0, 1 - s_c z_c))``, one-vs-rest (binary with one column)
* ``ns``        ``-log sigmoid(z[0]) - sum(log sigmoid(-z[1:]))`` (negative sampling)
* ``sampled_softmax``  softmax cross-entropy over ``l = z - log_q`` with target column 0
  (TensorFlow's ``sampled_softmax_loss``: ``log_q`` the log of each class's expected count);
  ``remove_accidental_hits`` drops the sampled columns whose id equals the true id.

Example
-------
>>> import numpy as np
>>> from msopt.reference import losses as reference_losses
>>> loss, g = reference_losses.loss_grad("softmax", np.array([[0.0, 0.0]]), np.array([1]))
>>> round(loss, 6), g.tolist()
(0.693147, [[0.5, -0.5]])
"""

from __future__ import annotations

from typing import Any

import numpy as np

__all__ = ["KINDS", "loss_grad", "sigmoid_table"]

KINDS = ("squared", "huber", "logistic", "softmax", "hinge", "ns", "sampled_softmax")


def sigmoid_table() -> np.ndarray:
    """word2vec.c's 1000-entry sigmoid table over [-6, 6) (float32)."""
    x = np.exp((np.arange(1000) / 1000 * 2 - 1) * 6.0)
    return (x / (x + 1)).astype(np.float32)


def _table_sigmoid(f: np.ndarray) -> np.ndarray:
    table = sigmoid_table()
    f32 = f.astype(np.float32)
    idx = ((f32 + np.float32(6)) * (np.float32(1000) / np.float32(6) / np.float32(2)))
    idx = np.clip(np.nan_to_num(idx, nan=0.0), 0, 999).astype(np.int64)
    sig = table[idx].astype(np.float64)
    sig = np.where(~(f32 > -6), 0.0, sig)
    return np.where(~(f32 < 6), 1.0, sig)


DENSE = ("squared", "huber", "logistic", "softmax", "hinge")


def dense_rows(kind: str, z: np.ndarray, targets: Any, huber_eps: float = 1.35
               ) -> tuple[np.ndarray, np.ndarray]:
    """(loss of each row, dLoss/dz) of a dense loss on float64 scores ``z`` (B x C)."""
    B, C = z.shape
    rows = np.arange(B)
    if kind in ("squared", "huber"):
        r = z - np.asarray(targets, dtype=np.float64)
        if kind == "squared":
            return 0.5 * (r * r).sum(1), r
        a = np.abs(r)
        small = a <= huber_eps
        per = np.where(small, 0.5 * r * r, huber_eps * a - 0.5 * huber_eps**2).sum(1)
        return per, np.where(small, r, huber_eps * np.sign(r))
    if kind == "logistic":
        s = np.where(np.asarray(targets) == 1, 1.0, -1.0)
        m = s * z[:, 0]
        return np.logaddexp(0.0, -m), (-s / (1.0 + np.exp(m)))[:, None]
    if kind == "softmax":
        y = np.asarray(targets)
        mx = z.max(1, keepdims=True) if C else np.zeros((B, 1))
        e = np.exp(z - mx)
        g = e / e.sum(1, keepdims=True)
        g[rows, y] -= 1.0
        return mx[:, 0] + np.log(e.sum(1)) - z[rows, y], g
    if kind == "hinge":
        y = np.asarray(targets)
        if C == 1:
            s = np.where(y == 1, 1.0, -1.0)[:, None]
        else:
            s = np.where(np.arange(C)[None, :] == y[:, None], 1.0, -1.0)
        margin = s * z
        return np.maximum(0.0, 1.0 - margin).sum(1), np.where(margin < 1.0, -s, 0.0)
    raise ValueError(f"kind: unknown {kind!r}")


def loss_grad(kind: str, scores: np.ndarray, targets: Any = None, *, huber_eps: float = 1.35,
              log_q: np.ndarray | None = None, remove_accidental_hits: bool = False,
              table_sigmoid: bool = False) -> tuple[float, np.ndarray]:
    """(summed loss, dLoss/dscores) of one loss kind; see the module docstring."""
    z = np.asarray(scores, dtype=np.float64)
    B, C = z.shape
    if kind in DENSE:
        per, g = dense_rows(kind, z, targets, huber_eps)
        loss = per.sum()
    elif kind == "ns":
        label = np.zeros((B, C))
        label[:, :1] = 1.0
        zz = np.where(label > 0, z, -z)  # -log sigmoid(zz) each
        loss = (np.log1p(np.exp(-np.abs(zz))) + np.maximum(-zz, 0.0)).sum()
        sig = _table_sigmoid(z) if table_sigmoid else 1.0 / (1.0 + np.exp(-z))
        g = sig - label
    elif kind == "sampled_softmax":
        ids = np.asarray(targets)
        l = z - np.asarray(log_q, dtype=np.float64)  # noqa: E741
        if remove_accidental_hits:
            hit = ids == ids[:, :1]
            hit[:, 0] = False
            l = np.where(hit, -np.inf, l)  # noqa: E741
        mx = l.max(1, keepdims=True) if C else np.zeros((B, 1))
        e = np.exp(l - mx)
        loss = (mx[:, 0] + np.log(e.sum(1)) - l[:, 0]).sum()
        g = e / e.sum(1, keepdims=True)
        g[:, 0] -= 1.0
    else:
        raise ValueError(f"kind: unknown {kind!r}")
    return float(loss), np.asarray(g).astype(scores.dtype)
