"""NumPy twins of the embedding-bag forward and backward passes."""

from __future__ import annotations

import numpy as np


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
