"""NumPy twin of the language model's native loops (``csrc/msopt/models/lm.*``).

The model (Bengio et al. 2003): for the token at position ``t`` of a stream, the previous
``context`` ids (``bos`` before the stream's start) are embedded (``E``, vocab x dim) and
concatenated into ``x``; ``a1 = x W1 + b1``, ``h1 = act(a1)`` (and optionally
``a2 = h1 W2 + b2``, ``h2 = act(a2)``); ``u = [h_top, x]`` (``x`` only with the direct
connection); ``z = u O^T + bo``; the loss is the softmax cross-entropy of ``z`` (or the
sampled softmax with the log-Q correction over the target and ``S`` drawn classes).

With ``ngram`` > 0, a hashed n-gram part is added to the scores: for each order k, the
last k context ids hash to a start ``s_k`` in the 1-d table ``G`` (:func:`ngram_starts`) and
``z[:, c] += G[(s_k + c) % len(G)]``.

Parameters are a list in the native order: ``E, W1, b1, [W2, b2], O, bo, [G]``.  The batch loss
is the mean over its positions.  The arithmetic is NumPy's (``np.tanh``, float64 losses),
so results agree with the kernels to rounding, not bit for bit: the tests use rtol 2e-4
(float32) and 1e-9 (float64).

Example
-------
>>> import numpy as np
>>> from msopt.reference import language_model as ref
>>> rng = np.random.default_rng(0)
>>> params = ref.init_params(rng, vocab=5, dim=2, context=2, hidden=3)
>>> tokens = np.array([0, 1, 2, 3, 1, 2])
>>> loss, grads = ref.loss_grad(params, tokens, np.arange(6), context=2, bos=4)
>>> round(loss, 3) > 0, grads[0][1].shape
(True, (12, 2))
"""

from __future__ import annotations

# ruff: noqa: E741  (O is the output layer, as the kernel names it)
from collections.abc import Sequence
from typing import Any

import numpy as np

from msopt.reference.losses import loss_grad as _loss_grad
from msopt.reference.models import _alias_table, _SplitMix64

__all__ = ["contexts", "dynamic", "forward", "init_params", "loss_grad", "ngram_starts",
           "sampled_classes", "score", "train_step"]


def init_params(rng: np.random.Generator, *, vocab: int, dim: int, context: int, hidden: int,
                hidden2: int = 0, direct: bool = False, dtype: Any = np.float32
                ) -> list[np.ndarray]:
    """torch's default initialization: E ~ N(0, 1); each linear layer's weights and bias
    uniform in +-1/sqrt(fan_in)."""
    K = context * dim
    top = hidden2 or hidden
    U = top + (K if direct else 0)

    def lin(fan_in: int, shape: tuple[int, ...]) -> np.ndarray:
        b = 1.0 / np.sqrt(fan_in)
        return rng.uniform(-b, b, shape).astype(dtype)

    out = [rng.standard_normal((vocab, dim)).astype(dtype), lin(K, (K, hidden)),
           lin(K, (hidden,))]
    if hidden2:
        out += [lin(hidden, (hidden, hidden2)), lin(hidden, (hidden2,))]
    out += [lin(U, (vocab, U)), lin(U, (vocab,))]
    return out


def contexts(tokens: np.ndarray, positions: np.ndarray, context: int, bos: int) -> np.ndarray:
    """The context ids of each position (n x context, oldest first)."""
    pos = np.asarray(positions, np.int64)[:, None] - context + np.arange(context)[None, :]
    padded = np.where(pos >= 0, np.asarray(tokens)[np.maximum(pos, 0)], bos)
    return padded.astype(np.int64)


def _act(a: np.ndarray, act: str) -> np.ndarray:
    return np.tanh(a) if act == "tanh" else np.maximum(a, 0)


def _act_grad(h: np.ndarray, d: np.ndarray, act: str) -> np.ndarray:
    return d * (1 - h * h) if act == "tanh" else np.where(h > 0, d, 0)


def ngram_starts(ids: np.ndarray, n: int, size: int) -> np.ndarray:
    """Each row's start in the n-gram table for orders 1..n (rows x n): FNV-1a (64-bit)
    over the context ids plus one, newest first, folded as ``(h ^ (h >> 32)) % size``."""
    ids = np.asarray(ids, np.int64)
    h = np.full(len(ids), 0xCBF29CE484222325, np.uint64)
    out = np.empty((len(ids), n), np.int64)
    with np.errstate(over="ignore"):
        for k in range(n):
            h = (h ^ (ids[:, -1 - k] + 1).astype(np.uint64)) * np.uint64(0x100000001B3)
            out[:, k] = ((h ^ (h >> np.uint64(32))) % np.uint64(size)).astype(np.int64)
    return out


def _ngram_index(ids: np.ndarray, cols: np.ndarray, n: int, size: int) -> np.ndarray:
    """Entries of G read by each row's columns ``cols`` (rows x C): rows x n x C."""
    st = ngram_starts(ids, n, size)
    return (st[:, :, None] + np.asarray(cols, np.int64)[:, None, :]) % size


def _split(params: Sequence[np.ndarray], ngram: int = 0) -> tuple[Any, ...]:
    G = params[-1] if ngram else None
    ps = list(params[:-1] if ngram else params)
    if len(ps) == 7:
        return (*ps, G)
    E, W1, b1, O, bo = ps
    return E, W1, b1, None, None, O, bo, G


def forward(params: Sequence[np.ndarray], ids: np.ndarray, *, act: str = "tanh",
            direct: bool = False, ngram: int = 0) -> dict[str, np.ndarray]:
    """Intermediates of the forward pass for context ids (n x context): x, h1, [h2], u,
    and the full scores z."""
    E, W1, b1, W2, b2, O, bo, G = _split(params, ngram)
    x = E[ids].reshape(len(ids), -1)
    h1 = _act(x @ W1 + b1, act)
    top = h1 if W2 is None else _act(h1 @ W2 + b2, act)
    u = np.concatenate([top, x], 1) if direct else top
    z = u @ O.T + bo
    if ngram:
        cols = np.broadcast_to(np.arange(len(bo)), (len(ids), len(bo)))
        z = z + G[_ngram_index(ids, cols, ngram, len(G))].sum(1)
    return {"x": x, "h1": h1, "top": top, "u": u, "z": z}


def _ngram_grad(ids: np.ndarray, cols: np.ndarray, dz: np.ndarray, ngram: int,
                size: int) -> tuple[np.ndarray, np.ndarray]:
    """G's row-sparse gradient ``(entries, values)`` (repeats not summed) from dz over
    the columns ``cols``."""
    idx = _ngram_index(ids, cols, ngram, size)
    vals = np.broadcast_to(dz[:, None, :], idx.shape)
    return idx.reshape(-1), vals.reshape(-1, 1)


def _backward(params: Sequence[np.ndarray], f: dict[str, np.ndarray], ids: np.ndarray,
              du: np.ndarray, *, act: str, direct: bool) -> tuple[list[Any], np.ndarray]:
    """Gradients of W1, b1, [W2, b2] and E (as (ids, rows)) from dLoss/du."""
    E, W1, b1 = params[:3]
    W2, b2 = params[3:5] if len(params) >= 7 else (None, None)  # 7 or 8 with two layers
    top_w = f["top"].shape[1]
    dtop = du[:, :top_w]
    if W2 is not None:
        da2 = _act_grad(f["top"], dtop, act)
        gW2, gb2 = f["h1"].T @ da2, da2.sum(0)
        da1 = _act_grad(f["h1"], da2 @ W2.T, act)
    else:
        da1 = _act_grad(f["h1"], dtop, act)
    gW1, gb1 = f["x"].T @ da1, da1.sum(0)
    dx = da1 @ W1.T
    if direct:
        dx = dx + du[:, top_w:]
    gE = (ids.reshape(-1), dx.reshape(-1, E.shape[1]))
    mid = [gW1, gb1] + ([gW2, gb2] if W2 is not None else [])
    return [gE, *mid], dx


def loss_grad(params: Sequence[np.ndarray], tokens: np.ndarray, positions: np.ndarray, *,
              context: int, bos: int, act: str = "tanh", direct: bool = False, ngram: int = 0
              ) -> tuple[float, list[Any]]:
    """(summed loss, gradients of the mean loss) of the positions, full softmax.  The
    gradient of E is row-sparse: ``(ids, rows)`` (repeated ids not yet summed); the others
    dense."""
    ids = contexts(tokens, positions, context, bos)
    f = forward(params, ids, act=act, direct=direct, ngram=ngram)
    y = np.asarray(tokens)[np.asarray(positions)]
    loss, dz = _loss_grad("softmax", f["z"], y)
    dz = dz / len(y)
    O = _split(params, ngram)[5]
    grads, _ = _backward(params, f, ids, dz @ O, act=act, direct=direct)
    out = [*grads, dz.T @ f["u"], dz.sum(0)]
    if ngram:
        cols = np.broadcast_to(np.arange(O.shape[0]), dz.shape)
        out.append(_ngram_grad(ids, cols, dz, ngram, len(params[-1])))
    return loss, out


def sampled_classes(weights: np.ndarray, samples: int, seed: int) -> np.ndarray:
    """The S classes one batch draws (the native sampler and random stream)."""
    draw = _alias_table([float(w) for w in weights])
    rng = _SplitMix64(seed)
    return np.array([draw(rng.next()) for _ in range(samples)], np.int64)


def sampled_loss_grad(params: Sequence[np.ndarray], tokens: np.ndarray,
                      positions: np.ndarray, classes: np.ndarray, weights: np.ndarray, *,
                      context: int, bos: int, act: str = "tanh", direct: bool = False,
                      ngram: int = 0) -> tuple[float, list[Any]]:
    """As :func:`loss_grad` with the sampled softmax over each target and ``classes``
    (shared by the batch), logits corrected by ``log(S q)``; accidental hits removed.  O and
    bo get row-sparse gradients ``(ids, rows)``."""
    ids = contexts(tokens, positions, context, bos)
    O, bo, G = _split(params, ngram)[5:]
    f = forward(params[:-1] if ngram else params, ids, act=act, direct=direct)
    y = np.asarray(tokens)[np.asarray(positions)]
    S = len(classes)
    log_q = np.log(S * np.asarray(weights, np.float64) / np.sum(weights))
    cols = np.concatenate([y[:, None], np.broadcast_to(classes, (len(y), S))], 1)
    z = np.einsum("bu,bku->bk", f["u"], O[cols]) + bo[cols]
    if ngram:
        z = z + G[_ngram_index(ids, cols, ngram, len(G))].sum(1)
    loss, dz = _loss_grad("sampled_softmax", z, cols, log_q=log_q[cols],
                          remove_accidental_hits=True)
    dz = dz / len(y)
    du = np.einsum("bk,bku->bu", dz, O[cols])
    grads, _ = _backward(params, f, ids, du, act=act, direct=direct)
    rows = cols.reshape(-1)
    gO = (rows, (dz[:, :, None] * f["u"][:, None, :]).reshape(-1, O.shape[1]))
    gbo = (rows, dz.reshape(-1, 1))
    out = [*grads, gO, gbo]
    if ngram:
        out.append(_ngram_grad(ids, cols, dz, ngram, len(G)))
    return loss, out


def train_step(name: str, params: list[np.ndarray], states: list[dict[str, Any]],
               steps: list[int], hypers: list[dict[str, Any]], grads: list[Any],
               max_grad_norm: float | None = None) -> bool:
    """One optimizer step (reference.optim.step) on the gradients of :func:`loss_grad`;
    a bias's row-sparse gradient (sampled loss) is applied to it as a (V, 1) table."""
    from msopt.reference.optim import step

    views = [p.reshape(-1, 1) if p.ndim == 1 and isinstance(g, tuple) else p
             for p, g in zip(params, grads)]
    sts = [{k: (None if a is None else a.reshape(v.shape)) for k, a in s.items()}
           for s, v in zip(states, views)]
    ok = step(name, views, grads, sts, steps, hypers, max_grad_norm)
    for s, st in zip(states, sts):
        for k, a in st.items():
            if a is not None and s[k] is not None and s[k].ndim == 1:
                s[k][...] = a.reshape(-1)
    return ok


def score(params: Sequence[np.ndarray], tokens: np.ndarray, begin: int, end: int, *,
          context: int, bos: int, act: str = "tanh", direct: bool = False,
          ngram: int = 0) -> np.ndarray:
    """-log p of each token at positions [begin, end) (float64)."""
    pos = np.arange(begin, end)
    ids = contexts(tokens, pos, context, bos)
    z = forward(params, ids, act=act, direct=direct, ngram=ngram)["z"].astype(np.float64)
    y = np.asarray(tokens)[pos]
    mx = z.max(1, keepdims=True)
    lse = mx[:, 0] + np.log(np.exp(z - mx).sum(1))
    return lse - z[np.arange(len(pos)), y]


def dynamic(params: list[np.ndarray], tokens: np.ndarray, begin: int, end: int, *,
            segment: int, steps: int, lr: float, context: int, bos: int, act: str = "tanh",
            direct: bool = False, ngram: int = 0, update: int = ~0) -> np.ndarray:
    """Dynamic evaluation with plain SGD: each segment scored, then ``steps`` steps on it
    (of the parameters whose bit is set in ``update``: bit i for params[i]).  Updates
    ``params`` in place; returns each token's -log p."""
    out = []
    for a in range(begin, end, segment):
        b = min(end, a + segment)
        out.append(score(params, tokens, a, b, context=context, bos=bos, act=act,
                         direct=direct, ngram=ngram))
        for _ in range(steps):
            _, grads = loss_grad(params, tokens, np.arange(a, b), context=context, bos=bos,
                                 act=act, direct=direct, ngram=ngram)
            for i, (p, g) in enumerate(zip(params, grads)):
                if not (update >> i) & 1:
                    continue
                if isinstance(g, tuple):
                    np.add.at(p.reshape(len(p), -1), g[0], -lr * g[1])
                else:
                    p -= p.dtype.type(lr) * g
    return np.concatenate(out)
