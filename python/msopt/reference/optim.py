"""NumPy twins of the optimizer update rules, clipping and the row-sparse merge."""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

# State arrays each optimizer keeps, by torch.optim's names.
SLOTS: dict[str, tuple[str, ...]] = {
    "SGD": ("momentum_buffer",),
    "Adam": ("exp_avg", "exp_avg_sq", "max_exp_avg_sq"),
    "AdamW": ("exp_avg", "exp_avg_sq", "max_exp_avg_sq"),
    "Adagrad": ("sum",),
    "RMSprop": ("square_avg", "momentum_buffer", "grad_avg"),
    "Lion": ("exp_avg",),
}


def init_state(name: str, p: np.ndarray, **hyper: Any) -> dict[str, np.ndarray | None]:
    """Fresh state for optimizer ``name`` and parameter ``p``: zeros (Adagrad's sum starts
    at ``initial_accumulator_value``), or None for a slot the options do not use."""
    need = {
        "momentum_buffer": hyper.get("momentum", 0) != 0,
        "max_exp_avg_sq": bool(hyper.get("amsgrad", False)),
        "grad_avg": bool(hyper.get("centered", False)),
    }
    state: dict[str, np.ndarray | None] = {}
    for slot in SLOTS[name]:
        if not need.get(slot, True):
            state[slot] = None
        elif slot == "sum":
            state[slot] = np.full_like(p, hyper.get("initial_accumulator_value", 0.0))
        else:
            state[slot] = np.zeros_like(p)
    return state


def _grad(g: np.ndarray, gscale: float) -> np.ndarray:
    return g * gscale


def sgd(p, g, state, *, t, lr, momentum=0.0, dampening=0.0, weight_decay=0.0,
        nesterov=False, maximize=False, gscale=1.0) -> None:
    g = _grad(g, (-1.0 if maximize else 1.0) * gscale)
    if weight_decay != 0:
        g = g + weight_decay * p
    if momentum != 0:
        buf = state["momentum_buffer"]
        b = g.copy() if t == 1 else momentum * buf + (1.0 - dampening) * g
        buf[...] = b
        g = g + momentum * b if nesterov else b
    p[...] = p - lr * g


def adam(p, g, state, *, t, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.0,
         amsgrad=False, maximize=False, gscale=1.0, decoupled=False) -> None:
    beta1, beta2 = float(betas[0]), float(betas[1])
    g = _grad(g, (-1.0 if maximize else 1.0) * gscale)
    pi = p
    if decoupled:
        pi = p * (1.0 - lr * weight_decay)
    elif weight_decay != 0:
        g = g + weight_decay * p
    m, v = state["exp_avg"], state["exp_avg_sq"]
    m[...] = beta1 * m + (1.0 - beta1) * g
    v[...] = beta2 * v + (1.0 - beta2) * g * g
    step_size = lr / (1.0 - beta1**t)
    inv_bc2_sqrt = 1.0 / math.sqrt(1.0 - beta2**t)
    if amsgrad:
        vmax = state["max_exp_avg_sq"]
        np.maximum(vmax, v, out=vmax)
        denom = np.sqrt(vmax) * inv_bc2_sqrt + eps
    else:
        denom = np.sqrt(v) * inv_bc2_sqrt + eps
    p[...] = pi - step_size * m / denom


def adamw(p, g, state, *, weight_decay=1e-2, **kw) -> None:
    adam(p, g, state, weight_decay=weight_decay, decoupled=True, **kw)


def adagrad(p, g, state, *, t, lr=1e-2, lr_decay=0.0, weight_decay=0.0, eps=1e-10,
            maximize=False, gscale=1.0, initial_accumulator_value=0.0) -> None:
    g = _grad(g, (-1.0 if maximize else 1.0) * gscale)
    if weight_decay != 0:
        g = g + weight_decay * p
    clr = lr / (1.0 + (t - 1) * lr_decay)
    s = state["sum"]
    s[...] = s + g * g
    p[...] = p - clr * g / (np.sqrt(s) + eps)


def rmsprop(p, g, state, *, t, lr=1e-2, alpha=0.99, eps=1e-8, weight_decay=0.0,
            momentum=0.0, centered=False, maximize=False, gscale=1.0) -> None:
    g = _grad(g, (-1.0 if maximize else 1.0) * gscale)
    if weight_decay != 0:
        g = g + weight_decay * p
    sq = state["square_avg"]
    sq[...] = alpha * sq + (1.0 - alpha) * g * g
    if centered:
        ga = state["grad_avg"]
        ga[...] = alpha * ga + (1.0 - alpha) * g
        avg = np.sqrt(sq - ga * ga) + eps
    else:
        avg = np.sqrt(sq) + eps
    if momentum != 0:
        buf = state["momentum_buffer"]
        buf[...] = momentum * buf + g / avg
        p[...] = p - lr * buf
    else:
        p[...] = p - lr * g / avg


def lion(p, g, state, *, t, lr=1e-4, betas=(0.9, 0.99), weight_decay=0.0, maximize=False,
         gscale=1.0) -> None:
    beta1, beta2 = float(betas[0]), float(betas[1])
    g = _grad(g, (-1.0 if maximize else 1.0) * gscale)
    m = state["exp_avg"]
    c = beta1 * m + (1.0 - beta1) * g
    p[...] = p * (1.0 - lr * weight_decay) - lr * np.sign(c)
    m[...] = beta2 * m + (1.0 - beta2) * g


UPDATES: dict[str, Callable[..., None]] = {
    "SGD": sgd,
    "Adam": adam,
    "AdamW": adamw,
    "Adagrad": adagrad,
    "RMSprop": rmsprop,
    "Lion": lion,
}


def coalesce_rows(indices: np.ndarray, values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Distinct ids in order of first appearance, and their summed value rows (summed in
    order of position)."""
    indices = np.asarray(indices, dtype=np.int64)
    uniq, first, inverse = np.unique(indices, return_index=True, return_inverse=True)
    order = np.argsort(first, kind="stable")  # distinct ids by first appearance
    rank = np.empty_like(order)
    rank[order] = np.arange(order.size)
    summed = np.zeros((uniq.size,) + values.shape[1:], dtype=values.dtype)
    np.add.at(summed, rank[inverse.reshape(-1)], values)
    return uniq[order], summed


def _sum_squares(g: np.ndarray) -> list[float]:
    """Squared sums of fixed 4096-element blocks, each summed as the kernel does: 8 lanes
    accumulated in order (lane j takes elements j, j+8, ...; the tail goes to lanes 0..),
    then ((l0+l1)+(l2+l3))+((l4+l5)+(l6+l7))."""
    x = np.ravel(g).astype(np.float64)
    out = []
    for s in range(0, x.size, 4096):
        sq = x[s:s + 4096] ** 2
        full = sq.size // 8 * 8
        lanes = np.zeros(8)
        if full:
            lanes = np.cumsum(sq[:full].reshape(-1, 8), axis=0)[-1]
        for j, v in enumerate(sq[full:]):
            lanes[j] += v
        a = ((lanes[0] + lanes[1]) + (lanes[2] + lanes[3])) + (
            (lanes[4] + lanes[5]) + (lanes[6] + lanes[7]))
        out.append(float(a))
    return out


def clip_scale(grads: Sequence[np.ndarray], max_norm: float | None) -> tuple[float, float]:
    """(global L2 norm, the factor min(1, max_norm / (norm + 1e-6))), with the norm summed
    in the kernel's fixed order (blocks of 4096, 8 lanes), so it matches to the last bit."""
    total = 0.0
    for g in grads:
        for part in _sum_squares(g):
            total += part
    norm = math.sqrt(total)
    if max_norm is None:
        return norm, 1.0
    return norm, min(1.0, max_norm / (norm + 1e-6))


def step(name: str, params: Sequence[np.ndarray], grads: Sequence[Any],
         states: Sequence[dict[str, np.ndarray | None]], steps: list[int],
         hypers: Sequence[dict[str, Any]], max_grad_norm: float | None = None) -> bool:
    """One msopt step in NumPy: gradients None are skipped, ``(indices, values)`` pairs
    are row-sparse (coalesced, then only those rows of the parameter and of its state
    are updated: the lazy rule), a non-finite gradient or norm leaves everything as it
    was and returns False."""
    update = UPDATES[name]
    dense: list[tuple[int, Any, Any]] = []  # (index, grad, rows or None)
    for i, g in enumerate(grads):
        if g is None:
            continue
        if isinstance(g, tuple):
            rows, vals = coalesce_rows(g[0], g[1])
            dense.append((i, vals, rows))
        else:
            dense.append((i, np.asarray(g), None))
    if not all(np.isfinite(g).all() for _, g, _ in dense):
        return False
    norm, scale = clip_scale([g for _, g, _ in dense], max_grad_norm)
    if not math.isfinite(norm) and max_grad_norm is not None:
        return False
    for i, g, rows in dense:
        t = steps[i] + 1
        hyper = {k: v for k, v in hypers[i].items() if k != "initial_accumulator_value"}
        if rows is None:
            update(params[i], g, states[i], t=t, gscale=scale, **hyper)
        else:
            p_rows = params[i][rows]
            s_rows = {k: (None if a is None else a[rows]) for k, a in states[i].items()}
            update(p_rows, g, s_rows, t=t, gscale=scale, **hyper)
            params[i][rows] = p_rows
            for k, a in states[i].items():
                if a is not None:
                    a[rows] = s_rows[k]
        steps[i] = t
    return True
