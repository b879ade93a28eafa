"""Pure-NumPy twins of msopt's native kernels: the oracle the tests compare against.

Each function performs, on NumPy arrays and in the parameter's own dtype, exactly the
arithmetic of the matching C++ loop, in the same order: scalars are Python floats (which
NumPy rounds to the array's dtype, as the kernels do), so float32 and float64 results
agree with the native ones to the last bit.  The update rules follow torch.optim 2.x as
written out in the project's OPTIMIZERS notes, with two deliberate orderings:

* Adam divides by ``sqrt(v) * (1 / sqrt(1 - beta2**t)) + eps`` (torch divides by
  ``sqrt(1 - beta2**t)``); the difference is one rounding, well under 1e-6 relative.
* ``maximize`` and gradient clipping scale the gradient by one factor,
  ``(-1 if maximize else 1) * clip``, exactly as torch's two separate steps would.

Functions update ``p`` and the arrays in ``state`` in place.  ``t`` is the step count
after increment (1 on the first step).

Example
-------
>>> import numpy as np
>>> from msopt import reference
>>> p = np.ones(3, np.float32); g = np.full(3, 0.5, np.float32)
>>> state = reference.init_state("SGD", p, momentum=0.9)
>>> reference.sgd(p, g, state, t=1, lr=0.1, momentum=0.9)
>>> p
array([0.95, 0.95, 0.95], dtype=float32)
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from msopt import reference_losses as losses  # noqa: F401  (the loss kernels' twins)

__all__ = [
    "LOSS_NAMES",
    "SLOTS",
    "UPDATES",
    "adagrad",
    "adam",
    "adamw",
    "clip_scale",
    "coalesce_rows",
    "embedding_bag_backward",
    "embedding_bag_forward",
    "init_state",
    "l1_prox",
    "linear_forward",
    "linear_run",
    "lion",
    "loss_grad",
    "rmsprop",
    "sgd",
    "step",
    "text_classifier_doc",
    "word2vec_train",
]

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
    n, C = Z.shape
    w = np.ones(n) if sw is None else np.asarray(sw, dtype=np.float64)
    Zd = Z.astype(np.float64)
    if loss == "squared":
        r = Zd - target
        per, G = 0.5 * (r * r).sum(1), r
    elif loss == "huber":
        r = Zd - target
        a = np.abs(r)
        small = a <= huber_eps
        per = np.where(small, 0.5 * r * r, huber_eps * a - 0.5 * huber_eps**2).sum(1)
        G = np.where(small, r, huber_eps * np.sign(r))
    elif loss == "logistic":
        s = np.where(target == 1, 1.0, -1.0)
        m = s * Zd[:, 0]
        per = np.logaddexp(0.0, -m)
        G = (-s / (1.0 + np.exp(m)))[:, None]
    elif loss == "softmax":
        mx = Zd.max(1, keepdims=True)
        e = np.exp(Zd - mx)
        lse = mx[:, 0] + np.log(e.sum(1))
        per = lse - Zd[np.arange(n), target]
        G = e / e.sum(1, keepdims=True)
        G[np.arange(n), target] -= 1.0
    elif loss == "hinge":
        if C == 1:
            s = np.where(target == 1, 1.0, -1.0)[:, None]
        else:
            s = np.where(np.arange(C)[None, :] == target[:, None], 1.0, -1.0)
        margin = s * Zd
        per = np.maximum(0.0, 1.0 - margin).sum(1)
        G = np.where(margin < 1.0, -s, 0.0)
    else:
        raise ValueError(f"loss: unknown {loss!r}")
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


# -- embedding bags ---------------------------------------------------------------------------
def _bag_bounds(offsets: np.ndarray, n_ids: int) -> list[tuple[int, int]]:
    ends = list(offsets[1:]) + [n_ids]
    return [(int(a), int(b)) for a, b in zip(offsets, ends)]


def embedding_bag_forward(table: np.ndarray, ids: np.ndarray, offsets: np.ndarray,
                          weights: np.ndarray | None, mode: str) -> np.ndarray:
    """torch.nn.functional.embedding_bag in NumPy: empty bags give zeros."""
    out = np.zeros((len(offsets), table.shape[1]), table.dtype)
    for b, (lo, hi) in enumerate(_bag_bounds(offsets, len(ids))):
        rows = table[ids[lo:hi]]
        if weights is not None:
            rows = rows * weights[lo:hi, None]
        if hi > lo:
            out[b] = rows.sum(0) if mode == "sum" else rows.sum(0) / (hi - lo)
    return out


def embedding_bag_backward(grad_out: np.ndarray, ids: np.ndarray, offsets: np.ndarray,
                           weights: np.ndarray | None, mode: str) -> np.ndarray:
    """One gradient row per id occurrence."""
    values = np.zeros((len(ids), grad_out.shape[1]), grad_out.dtype)
    for b, (lo, hi) in enumerate(_bag_bounds(offsets, len(ids))):
        if hi == lo:
            continue
        scale = (weights[lo:hi, None] if weights is not None else 1.0) if mode == "sum" \
            else 1.0 / (hi - lo)
        values[lo:hi] = grad_out[b] * scale
    return values


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
                 table: bool, loss: list[float], work: np.ndarray) -> None:
    """One example's targets (rows[0] the word, the rest negatives), in blocks of 32: every
    score of a block first, then the updates in order."""
    for d0 in range(0, len(rows), 32):
        block = rows[d0:d0 + 32]
        scores = [_dot16(h, syn1[r]) for r in block]
        for d, (r, f) in enumerate(zip(block, scores)):
            g = _w2v_target(f, d0 + d == 0, alpha, table, loss)
            work += g * syn1[r]
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


def text_classifier_doc(input: np.ndarray, output: np.ndarray, ids: np.ndarray, y: int,
                        loss: str, rate: float, negatives: Sequence[int] = ()) -> float:
    """One document's step of the fastText-style classifier, in place on float64 tables:
    h = mean of the input rows ``ids``; the output rows updated as the loss says
    ("softmax", "ova", or "ns" with the given negative classes, each row's gradient taken
    before its own update); then every input row of the document moves by the hidden
    gradient / len(ids).  Returns the document's loss."""
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
        target = (np.arange(len(s)) == y).astype(np.float64)
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
