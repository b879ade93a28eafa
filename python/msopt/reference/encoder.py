"""NumPy twin of the sentence encoder's native loops (csrc/msopt/models/encoder.*): the
forward pass, every loss with its gradients, and one training step through the reference
optimizer.  Written for clarity, in float64 unless the inputs are float32 (the tests
compare with a tolerance: the native sums run in another order)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

__all__ = ["LOSSES", "encode", "forward", "loss_grad", "train_step"]

LOSSES = ("in_batch", "cosine", "logistic", "contrastive")


def _bags(ids: np.ndarray, offsets: np.ndarray) -> list[np.ndarray]:
    """Each text's ids (offsets: each text's start)."""
    ends = list(offsets[1:]) + [len(ids)]
    return [np.asarray(ids[s:e], np.int64) for s, e in zip(offsets, ends)]


def forward(params: Sequence[np.ndarray], bags: list[np.ndarray]) -> dict[str, np.ndarray]:
    """h (mean of the rows; 0 for an empty bag), p (projected, or h), nrm = |p| and
    u = p / |p| (0 where |p| = 0)."""
    E = params[0]
    h = np.zeros((len(bags), E.shape[1]), E.dtype)
    for i, b in enumerate(bags):
        if len(b):
            h[i] = E[b].sum(0) / E.dtype.type(len(b))
    p = h @ params[1] + params[2] if len(params) == 3 else h
    nrm = np.sqrt((p * p).sum(1))
    safe = np.where(nrm > 0, nrm, 1)
    u = np.where(nrm[:, None] > 0, p / safe[:, None], 0).astype(E.dtype)
    return {"h": h, "p": p, "nrm": nrm, "u": u}


def encode(params: Sequence[np.ndarray], ids: np.ndarray, offsets: np.ndarray) -> np.ndarray:
    """The unit vectors of the texts given as (ids, offsets)."""
    return forward(params, _bags(np.asarray(ids), np.asarray(offsets)))["u"]


def _loss_du(loss: str, ua: np.ndarray, ub: np.ndarray, targets: np.ndarray | None,
             temperature: float, margin: float) -> tuple[float, np.ndarray, np.ndarray]:
    """The summed loss of B pairs and the gradients of the mean loss in ua and ub."""
    B = len(ua)
    if loss == "in_batch":
        S = (ua @ ub.T) / temperature
        mx = S.max(1, keepdims=True)
        e = np.exp(S - mx)
        lse = mx[:, 0] + np.log(e.sum(1))
        total = float((lse - np.diag(S)).sum())
        dS = e / e.sum(1, keepdims=True)
        dS[np.arange(B), np.arange(B)] -= 1
        dS /= B
        return total, dS @ ub / temperature, dS.T @ ua / temperature
    c = (ua * ub).sum(1)
    assert targets is not None
    if loss == "cosine":
        r = c - targets
        total = float(0.5 * (r.astype(np.float64) ** 2).sum())
        dc = r
    elif loss == "logistic":
        s = np.where(targets != 0, 1.0, -1.0)
        z = (c - margin) / temperature
        m = s * z.astype(np.float64)
        total = float(np.sum(np.logaddexp(0, -m)))
        dc = (-s / (1 + np.exp(m))) / temperature
    elif loss == "contrastive":
        r = np.where(targets != 0, c - 1, np.maximum(c - margin, 0))
        total = float(0.5 * (r.astype(np.float64) ** 2).sum())
        dc = r
    else:
        raise ValueError(f"loss: expected one of {LOSSES}, got {loss!r}")
    dc = (np.asarray(dc) / B).astype(ua.dtype)
    return total, dc[:, None] * ub, dc[:, None] * ua


def loss_grad(params: Sequence[np.ndarray], a: tuple[np.ndarray, np.ndarray],
              b: tuple[np.ndarray, np.ndarray], targets: np.ndarray | None,
              positions: np.ndarray, *, loss: str, temperature: float = 0.05,
              margin: float = 0.5) -> tuple[float, list[Any]]:
    """The summed loss of the pairs at ``positions`` (a, b: (ids, offsets) of every pair's
    texts) and the gradients of the mean loss: E's as ``(rows, values)`` (one row per id
    occurrence), then W's and b's when projected."""
    A, Bb = _bags(*a), _bags(*b)
    pos = np.asarray(positions, np.int64)
    bags = [A[i] for i in pos] + [Bb[i] for i in pos]
    f = forward(params, bags)
    B = len(pos)
    u = f["u"]
    t = None if targets is None else np.asarray(targets, np.float64)[pos].astype(u.dtype)
    total, dua, dub = _loss_du(loss, u[:B], u[B:], t, temperature, margin)
    du = np.concatenate([dua, dub]).astype(u.dtype)
    nrm = f["nrm"]
    proj = (du - u * (u * du).sum(1, keepdims=True)) / np.where(nrm > 0, nrm, 1)[:, None]
    dp = np.where(nrm[:, None] > 0, proj, 0).astype(u.dtype)
    grads: list[Any] = []
    if len(params) == 3:
        dh = dp @ params[1].T
        gW, gb = f["h"].T @ dp, dp.sum(0)
    else:
        dh = dp
    rows = np.concatenate([bg for bg in bags]) if bags else np.zeros(0, np.int64)
    vals = np.concatenate([np.repeat(dh[i:i + 1] / params[0].dtype.type(len(bg)), len(bg), 0)
                           for i, bg in enumerate(bags) if len(bg)]) if len(rows) else \
        np.zeros((0, params[0].shape[1]), params[0].dtype)
    grads.append((rows.astype(np.int64), vals.astype(params[0].dtype)))
    if len(params) == 3:
        grads += [gW.astype(params[1].dtype), gb.astype(params[2].dtype)]
    return total, grads


def train_step(name: str, params: list[np.ndarray], states: list[dict[str, Any]],
               steps: list[int], hypers: list[dict[str, Any]], grads: list[Any],
               max_grad_norm: float | None = None) -> bool:
    """One optimizer step (reference.optim.step) on the gradients of :func:`loss_grad`."""
    from msopt.reference.optim import step

    return step(name, params, grads, states, steps, hypers, max_grad_norm)
