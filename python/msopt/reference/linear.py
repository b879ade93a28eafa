"""NumPy twin of the linear layer: forward, the fused losses, the L1 prox, and whole
epochs of minibatch steps through the optimizer rules."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from msopt.reference.losses import dense_rows
from msopt.reference.optim import UPDATES, clip_scale

# -- linear layer ---------------------------------------------------------------------------
LOSS_NAMES = ("squared", "huber", "logistic", "softmax", "hinge")


def linear_forward(X: Any, W: np.ndarray, b: np.ndarray | None) -> np.ndarray:
    """``X W + b`` for dense or scipy-sparse X."""
    Z = np.asarray(X @ W)
    return Z + b if b is not None else Z


def loss_grad(loss: str, Z: np.ndarray, target: np.ndarray, sw: np.ndarray | None,
              huber_eps: float = 1.35) -> tuple[float, np.ndarray]:
    """(sum of weighted per-sample losses, dL/dZ of the mean weighted loss).

    ``target`` is (n, C) floats for "squared"/"huber" and (n,) class ids otherwise (0/1 for
    "logistic" and binary "hinge" with one output column)."""
    n = Z.shape[0]
    w = np.ones(n) if sw is None else np.asarray(sw, dtype=np.float64)
    try:
        per, G = dense_rows(loss, Z.astype(np.float64), target, huber_eps)
    except ValueError:
        raise ValueError(f"loss: unknown {loss!r}") from None
    return float((w * per).sum()), (G * (w / n)[:, None]).astype(Z.dtype)


def l1_prox(W: np.ndarray, thr: float) -> None:
    """Soft-thresholding in place: ``W = sign(W) * max(|W| - thr, 0)``."""
    W[...] = np.sign(W) * np.maximum(np.abs(W) - thr, 0.0)


def linear_run(X: Any, target: np.ndarray, sw: np.ndarray | None, W: np.ndarray,
               b: np.ndarray | None, loss: str, opt_name: str, hyper: dict[str, Any],
               states: list[dict[str, np.ndarray | None]], steps: list[int], *,
               batch_size: int, orders: Sequence[np.ndarray], l2: float = 0.0,
               l1: float = 0.0, huber_eps: float = 1.35, max_grad_norm: float | None = None,
               lr_factor: Callable[[int], float] = lambda k: 1.0,
               hyper_b: dict[str, Any] | None = None) -> list[float]:
    """The multi-step runner in NumPy: for each epoch's row order, minibatches of
    ``batch_size``: forward, loss, gradient (+ ``l2 * W``), the optimizer's update of W
    and b at the scheduled rate (b with ``hyper_b``, by default ``hyper``), then the L1
    prox.  Returns the mean loss per epoch."""
    update = UPDATES[opt_name]
    params = [W] if b is None else [W, b]
    out = []
    n = target.shape[0]
    for order in orders:
        total = 0.0
        for s in range(0, n, batch_size):
            rows = order[s:s + batch_size]
            Xb = X[rows]
            Z = linear_forward(Xb, W, b)
            tb = target[rows]
            val, G = loss_grad(loss, Z, tb, None if sw is None else sw[rows], huber_eps)
            total += val
            dW = np.asarray(Xb.T @ G).astype(W.dtype)
            if l2:
                dW = dW + l2 * W
            grads = [dW] if b is None else [dW, G.sum(0).astype(W.dtype)]
            f = lr_factor(steps[0])
            _, scale = clip_scale(grads, max_grad_norm)
            for i, (p, g) in enumerate(zip(params, grads)):
                h = dict(hyper if i == 0 or hyper_b is None else hyper_b)
                h["lr"] = h["lr"] * f
                steps[i] += 1
                update(p, g, states[i], t=steps[i], gscale=scale,
                       **{k: v for k, v in h.items() if k != "initial_accumulator_value"})
            if l1:
                l1_prox(W, hyper["lr"] * f * l1)
        out.append(total / n)
    return out
