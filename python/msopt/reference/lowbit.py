"""Adam and AdamW with compressed moments, in NumPy: the twin of
csrc/msopt/optim/lowbit_rules.hpp, bit for bit.

Two storage forms (``state_dtype`` of :class:`msopt.Adam` and :class:`msopt.AdamW`):

``"bfloat16"``
    ``exp_avg`` and ``exp_avg_sq`` hold the top 16 bits of the float32 moments (uint16
    arrays), rounded stochastically: 16 random bits are added below the kept ones before
    truncation, so a moment is rounded up with probability equal to the dropped fraction.
    Element ``i`` of a parameter draws 32 bits, ``dither32(uint32(i) ^ key)`` with ``key``
    from :func:`stream_key` (seed, parameter, step); the high half rounds m, the low half v.
    The draws do not depend on threads, ISA or which rows a step touches.

``"int8"``
    The parameter is viewed as ``(rows, cols)`` (``cols`` = its size past the first axis; a
    1-D array is one row) and each row is cut into blocks of ``block`` elements (the last one
    shorter).  Each block keeps the largest magnitude of each moment as its float32 scale
    (``exp_avg_scale``, ``exp_avg_sq_scale``, shape ``(rows, blocks)``) and one byte per
    element (uint8 codes): ``x = |value| / scale`` is coded by the float32 bits of
    ``y = x + 2**-k`` rounded (half up) to 3 mantissa bits, ``code = exponent * 8 +
    mantissa`` counted from ``2**-k``; decoding subtracts ``2**-k`` again.  So 0 is exact,
    the steps near 0 are ``2**-(k+3)``, and above ``2**-k`` the relative error is at most
    1/16.  ``exp_avg``: k = 15, 7 bits and the sign in bit 7; ``exp_avg_sq``: k = 31, all 8
    bits, so small second moments keep their relative precision (a non-linear code, as in
    Dettmers et al., 2022, computed without a table or a branch).  A step decodes a block,
    updates it in float32 (the parameter moves by the new float32 moments), takes the new
    scales and encodes it again.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

__all__ = [
    "adam_bf16",
    "adam_int8",
    "bf16_decode",
    "bf16_round",
    "block_layout",
    "dither32",
    "q8m_decode",
    "q8m_encode",
    "q8v_decode",
    "q8v_encode",
    "stream_key",
]

_M64 = (1 << 64) - 1
_U32 = np.uint32


def _mix64(x: int) -> int:
    x = (x + 0x9E3779B97F4A7C15) & _M64
    x = ((x ^ (x >> 30)) * 0xBF58476D1CE4E5B9) & _M64
    x = ((x ^ (x >> 27)) * 0x94D049BB133111EB) & _M64
    return x ^ (x >> 31)


def stream_key(seed: int, param: int, step: int) -> int:
    """The 32-bit key of parameter ``param`` (its index in the optimizer) at step ``step``
    (counted from 1)."""
    return _mix64(_mix64(_mix64(seed & _M64) ^ param) ^ (step & _M64)) & 0xFFFFFFFF


def dither32(x: np.ndarray) -> np.ndarray:
    """The 32 rounding bits of each element (uint32 in, uint32 out): an odd multiply, then
    the high half folded into the low one.  Both steps are bijections of uint32, so under a
    uniformly random key the two halves are uniform and independent."""
    x = x.astype(_U32) * _U32(0x9E3779B1)
    return x ^ (x >> _U32(16))


def bf16_decode(h: np.ndarray) -> np.ndarray:
    """bfloat16 bits (uint16) to float32."""
    return (h.astype(_U32) << _U32(16)).view(np.float32)


def bf16_round(x: np.ndarray, r: np.ndarray) -> np.ndarray:
    """float32 to bfloat16 bits, rounded up with the probability of the dropped fraction,
    given 16 random bits ``r`` per element (uint32 values below 2**16)."""
    b = np.ascontiguousarray(x, np.float32).view(_U32)
    return ((b + r.astype(_U32)) >> _U32(16)).astype(np.uint16)


def _bits(x: np.ndarray) -> np.ndarray:
    return np.ascontiguousarray(x, np.float32).view(_U32)


def _encode(x: np.ndarray, inv: Any, offset: float, bias: int, top: int) -> np.ndarray:
    y = (_bits(x) & _U32(0x7FFFFFFF)).view(np.float32) * np.float32(inv) + np.float32(offset)
    with np.errstate(over="ignore"):  # NaN/Inf clamp to the top code
        c = ((_bits(y) + _U32(0x80000)) >> _U32(20)) - _U32(bias)
    return np.minimum(c, _U32(top))


def _decode(c: np.ndarray, offset: float, bias: int) -> np.ndarray:
    return ((c.astype(_U32) + _U32(bias)) << _U32(20)).view(np.float32) - np.float32(offset)


def q8m_encode(m: np.ndarray, inv: Any) -> np.ndarray:
    """The code of m (uint8: the sign in bit 7), given ``inv`` = 1 / scale (0 for a zero
    scale)."""
    sign = (_bits(m) >> _U32(24)) & _U32(0x80)
    return (_encode(m, inv, 2.0**-15, 896, 127) | sign).astype(np.uint8)


def q8m_decode(q: np.ndarray, scale: Any) -> np.ndarray:
    mag = _decode(q & np.uint8(0x7F), 2.0**-15, 896)
    signed = mag.view(_U32) | ((q & np.uint8(0x80)).astype(_U32) << _U32(24))
    return signed.view(np.float32) * np.float32(scale)


def q8v_encode(v: np.ndarray, inv: Any) -> np.ndarray:
    """The code of v (uint8), given ``inv`` = 1 / scale (0 for a zero scale)."""
    return _encode(v, inv, 2.0**-31, 768, 255).astype(np.uint8)


def q8v_decode(q: np.ndarray, scale: Any) -> np.ndarray:
    return _decode(q, 2.0**-31, 768) * np.float32(scale)


def block_layout(shape: tuple[int, ...], block: int) -> tuple[int, int, int]:
    """(rows, cols, blocks per row) of a parameter of ``shape`` in int8 state."""
    rows = shape[0] if len(shape) >= 2 else 1
    cols = math.prod(shape[1:]) if len(shape) >= 2 else math.prod(shape)
    return rows, cols, -(-cols // block)


def _adam_moments(p: np.ndarray, g: np.ndarray, m: np.ndarray, v: np.ndarray, *, t: int,
                  lr: float, betas: tuple[float, float], eps: float, weight_decay: float,
                  maximize: bool, gscale: float, decoupled: bool) -> tuple[np.ndarray, ...]:
    """New m, v (float32) and the new parameter, from decoded moments."""
    beta1, beta2 = float(betas[0]), float(betas[1])
    g = g * np.float32((-1.0 if maximize else 1.0) * gscale)
    pi = p
    if decoupled:
        pi = p * np.float32(1.0 - lr * weight_decay)
    elif weight_decay != 0:
        g = g + np.float32(weight_decay) * p
    m = np.float32(beta1) * m + np.float32(1.0 - beta1) * g
    v = np.float32(beta2) * v + np.float32(1.0 - beta2) * g * g
    step_size = np.float32(lr / (1.0 - beta1**t))
    ibc2 = np.float32(1.0 / math.sqrt(1.0 - beta2**t))
    return m, v, pi - step_size * m / (np.sqrt(v) * ibc2 + np.float32(eps))


def _rows_of(p: np.ndarray, rows: np.ndarray | None) -> np.ndarray:
    """The rows a step updates: every row of p's layout, or the given ones."""
    return np.arange(block_layout(p.shape, 1)[0]) if rows is None else np.asarray(rows, np.int64)


def adam_bf16(p: np.ndarray, g: np.ndarray, state: dict[str, Any], *, t: int, seed: int,
              param_index: int, rows: np.ndarray | None = None, lr: float = 1e-3,
              betas: tuple[float, float] = (0.9, 0.999), eps: float = 1e-8,
              weight_decay: float = 0.0, maximize: bool = False, gscale: float = 1.0,
              decoupled: bool = False) -> None:
    """One Adam(W) step on float32 ``p`` with bfloat16 moments ``state["exp_avg"]``,
    ``state["exp_avg_sq"]`` (uint16, p's shape), in place.  ``rows``: the distinct rows a
    row-sparse gradient ``g`` (one row per id) updates; None for a dense ``g``."""
    flat = p.reshape(-1)
    cols = block_layout(p.shape, 1)[1]
    idx = (_rows_of(p, rows)[:, None] * cols + np.arange(cols)).reshape(-1)
    m16, v16 = state["exp_avg"].reshape(-1), state["exp_avg_sq"].reshape(-1)
    m, v, newp = _adam_moments(flat[idx], np.asarray(g, np.float32).reshape(-1),
                               bf16_decode(m16[idx]), bf16_decode(v16[idx]), t=t, lr=lr,
                               betas=betas, eps=eps, weight_decay=weight_decay,
                               maximize=maximize, gscale=gscale, decoupled=decoupled)
    r = dither32(idx.astype(np.uint64).astype(_U32) ^ _U32(stream_key(seed, param_index, t)))
    m16[idx] = bf16_round(m, r >> _U32(16))
    v16[idx] = bf16_round(v, r & _U32(0xFFFF))
    flat[idx] = newp


def _absmax(x: np.ndarray) -> np.float32:
    if x.size == 0:
        return np.float32(0.0)
    return (_bits(x) & _U32(0x7FFFFFFF)).max().view(np.float32)


def adam_int8(p: np.ndarray, g: np.ndarray, state: dict[str, Any], *, t: int, block: int,
              rows: np.ndarray | None = None, lr: float = 1e-3,
              betas: tuple[float, float] = (0.9, 0.999), eps: float = 1e-8,
              weight_decay: float = 0.0, maximize: bool = False, gscale: float = 1.0,
              decoupled: bool = False) -> None:
    """One Adam(W) step on float32 ``p`` with int8 moments: the codes ``state["exp_avg"]``,
    ``state["exp_avg_sq"]`` (uint8, p's shape), and their scales
    ``state["exp_avg_scale"]``, ``state["exp_avg_sq_scale"]`` (float32, (rows, blocks)),
    in place, block by block.  ``rows`` as in :func:`adam_bf16`."""
    _, cols, nb = block_layout(p.shape, block)
    flat = p.reshape(-1)
    qm, qv = state["exp_avg"].reshape(-1), state["exp_avg_sq"].reshape(-1)
    sm, sv = state["exp_avg_scale"], state["exp_avg_sq_scale"]
    gf = np.asarray(g, np.float32).reshape(-1)
    hyper: dict[str, Any] = dict(t=t, lr=lr, betas=betas, eps=eps, weight_decay=weight_decay,
                                 maximize=maximize, gscale=gscale, decoupled=decoupled)
    for k, r in enumerate(_rows_of(p, rows)):
        for b in range(nb):
            a, e = r * cols + b * block, r * cols + min((b + 1) * block, cols)
            gb = gf[k * cols + b * block:k * cols + min((b + 1) * block, cols)]
            m, v, newp = _adam_moments(flat[a:e], gb, q8m_decode(qm[a:e], sm[r, b]),
                                       q8v_decode(qv[a:e], sv[r, b]), **hyper)
            flat[a:e] = newp
            am, av = _absmax(m), _absmax(v)
            qm[a:e] = q8m_encode(m, np.float32(1.0) / am if am > 0 else np.float32(0.0))
            qv[a:e] = q8v_encode(v, np.float32(1.0) / av if av > 0 else np.float32(0.0))
            sm[r, b], sv[r, b] = am, av
