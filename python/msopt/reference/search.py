"""NumPy twin of the exact top-k search (msopt.search.Index): the full score matrix, then a
stable sort, so that equal scores keep the lower id first."""

from __future__ import annotations

import numpy as np


def normalize_rows(a: np.ndarray) -> np.ndarray:
    """Each row divided by its L2 norm (computed in float64); all-zero rows stay zero."""
    a = np.asarray(a)
    norms = np.sqrt(np.einsum("ij,ij->i", a, a, dtype=np.float64))
    return (a / np.where(norms > 0, norms, 1.0)[:, None]).astype(a.dtype)


def search(vectors: np.ndarray, queries: np.ndarray, k: int, metric: str = "dot"
           ) -> tuple[np.ndarray, np.ndarray]:
    """(scores, ids), each (len(queries), k): for each query the k rows of ``vectors`` with
    the highest inner product (``metric="cosine"``: of the rows and queries normalized to
    unit length), best first, equal scores by the lower id."""
    X, Q = np.asarray(vectors), np.asarray(queries)
    if metric == "cosine":
        X, Q = normalize_rows(X), normalize_rows(Q)
    S = Q @ X.T
    ids = np.argsort(-S, axis=1, kind="stable")[:, :k]
    return np.take_along_axis(S, ids, axis=1), ids.astype(np.int64)
