"""Exact top-k search by inner product or cosine: ``Index(vectors).search(queries, k)``.

The scores are computed by BLAS, one block of index rows by one block of queries at a time,
and each block's scores go straight into a bounded heap per query (a native partial sort),
so memory stays at one score buffer per thread (``query_block x block_size``), never
``queries x rows``.  Threads split the blocks; Python gets control back every fraction of a
second (Ctrl-C works).

Results are exact: for each query, the k rows with the highest score, best first; equal
scores come in the order of their row ids (the lower first).  They are bit for bit the same
for any thread count at a fixed ``block_size`` (threads take whole blocks, so BLAS makes the
same calls); another block size, or a query searched alone rather than in a batch (BLAS then
takes a matrix-vector path), can change a score in its last bit, and so the order of two
scores that close.

As a retrieval step: ``SentenceEncoder.encode`` returns float32 rows of unit length, so the
inner product of two of them is their cosine and the default ``metric="dot"`` needs no
normalization pass::

    index = Index(encoder.encode(passages))
    scores, ids = index.search(encoder.encode(questions), k=20)   # candidates per question
    # then rerank ids[i] (e.g. with an AnswerRanker), or read passages[j] for j in ids[i]

Vectors from anywhere else that are not unit length (Word2Vec or Doc2Vec vectors, say)
take ``metric="cosine"``.

File format (``Index.save``): a NumPy ``.npz`` archive, no pickled objects:

    format   str               "msopt-index 1"
    params   str               {"metric": ...}, as JSON
    vectors  float32/float64   (n, dim), as the index holds them (unit rows for cosine)
"""

from __future__ import annotations

import json
import os
from typing import Any

import numpy as np

from msopt import _core
from msopt._api import MAX_THREADS, check_choice, check_int
from msopt._io import atomic_write, check_path, read_npz

__all__ = ["Index"]

_FORMAT = "msopt-index 1"
_METRICS = ("dot", "cosine")
# Rows per block of the index and queries per block of the score buffer: a float32 buffer
# of 256 x 1,024 is 1 MiB, one core's L2 here; a block of 1,024 rows of dim 128 (512 KiB)
# is read from memory once and reused from cache by every query block.
_BLOCK = 1024
_QUERY_BLOCK = 256
# Multiply-adds per native call (~0.1-0.3 s): Python checks for Ctrl-C between calls.
_CALL_WORK = 1 << 32
# Heap entries per call and thread (k per query): bounds the per-thread heaps' memory.
_CALL_HEAP = 1 << 21


def _as_matrix(name: str, value: Any, dtype: Any | None, *, allow_1d: bool, private: bool
               ) -> tuple[np.ndarray, bool]:
    """``value`` as a C-contiguous 2-D float array (``dtype``, or float32/float64 kept and
    any other real dtype made float32), and whether it was 1-D.  With ``private``, an array
    that shares no memory with ``value`` (copied first, then checked).  TypeError for what
    is not an array of real numbers, ValueError for a wrong ndim or a non-finite value."""
    try:
        a = np.asarray(value)
    except (TypeError, ValueError) as e:
        raise TypeError(f"{name}: expected an array of real numbers ({e})") from None
    if a.dtype.kind not in "biuf":
        raise TypeError(f"{name}: expected an array of real numbers, got dtype {a.dtype}")
    one = a.ndim == 1 and allow_1d
    if a.ndim != 2 and not one:
        want = "a 2-D array (or a 1-D one for a single query)" if allow_1d else "a 2-D array"
        raise ValueError(f"{name}: expected {want}, got shape {a.shape}")
    if dtype is None:
        dtype = a.dtype if a.dtype in (np.float32, np.float64) else np.float32
    out = np.ascontiguousarray(a.reshape(1, -1) if one else a, dtype=dtype)
    if private and np.may_share_memory(out, a):
        out = out.copy()
    if not np.isfinite(out).all():
        bad = np.argwhere(~np.isfinite(out))[0]
        what = "NaN" if np.isnan(out[tuple(bad)]) else "an infinite value"
        where = f"index {bad[1]}" if one else f"row {bad[0]}, column {bad[1]}"
        raise ValueError(f"{name}: contains {what} (at {where})")
    return out, one


def _unit_rows(a: np.ndarray) -> np.ndarray:
    """Rows scaled to unit L2 norm (the norm summed in float64); all-zero rows stay zero."""
    norms = np.sqrt(np.einsum("ij,ij->i", a, a, dtype=np.float64))
    return (a / np.where(norms > 0, norms, 1.0)[:, None]).astype(a.dtype)


class Index:
    """Exact nearest-neighbour search over a set of vectors, by inner product or cosine.

    Parameters
    ----------
    vectors : array_like, shape (n, dim)
        The vectors searched; row ``i`` has id ``i``.  float32 and float64 are kept (the
        search runs in that dtype); other real dtypes become float32.  NaN or infinite
        values are refused (ValueError).  ``n`` may be 0 (add vectors later).
    metric : {"dot", "cosine"}, default "dot"
        ``"dot"``: the score is the inner product.  ``"cosine"``: the rows are scaled to unit
        length once, here (and each query when searched), so the score is the cosine; an
        all-zero vector keeps norm 0 and scores 0 against everything.  The index then holds
        the unit rows (``Index.vectors``).
    copy : bool, default True
        With False, a C-contiguous float32/float64 array given for ``metric="dot"`` is used
        as it is, not copied (later changes to it show in searches, and a NaN written into
        it gives scores of -inf); otherwise the index holds its own read-only copy.

    Examples
    --------
    >>> import numpy as np
    >>> from msopt.search import Index
    >>> index = Index(np.array([[1.0, 0.0], [0.0, 1.0], [0.6, 0.8]], np.float32))
    >>> scores, ids = index.search(np.array([[0.0, 2.0]], np.float32), k=2)
    >>> ids
    array([[1, 2]])
    >>> scores
    array([[2. , 1.6]], dtype=float32)
    """

    def __init__(self, vectors: Any, metric: str = "dot", copy: bool = True) -> None:
        check_choice("metric", metric, _METRICS)
        if not isinstance(copy, (bool, np.bool_)):
            raise TypeError(f"copy: expected a bool, got {type(copy).__name__}")
        X, _ = _as_matrix("vectors", vectors, None, allow_1d=False,
                          private=bool(copy) or metric == "cosine")
        if X.shape[1] < 1:
            raise ValueError(f"vectors: expected at least one column, got shape {X.shape}")
        if metric == "cosine":
            X = _unit_rows(X)
        if X is not vectors:  # an array of the index's own (or its own view of the caller's)
            X.flags.writeable = False
        self.metric: str = metric
        self._X: np.ndarray = X

    # -- the vectors ------------------------------------------------------------------------
    @property
    def vectors(self) -> np.ndarray:
        """The (n, dim) vectors searched (unit rows for ``metric="cosine"``)."""
        return self._X

    @property
    def dim(self) -> int:
        return int(self._X.shape[1])

    @property
    def dtype(self) -> np.dtype:
        return self._X.dtype

    def __len__(self) -> int:
        return int(self._X.shape[0])

    def __repr__(self) -> str:
        return (f"Index({len(self):,} vectors, dim={self.dim}, {self.dtype}, "
                f"metric={self.metric!r})")

    def add(self, vectors: Any) -> None:
        """Append rows (ids ``len(self)``, ``len(self) + 1``, ...), converted to the index's
        dtype (and scaled to unit length for cosine).  A refused call changes nothing.

        The index then holds a new read-only array of all its rows: an array given with
        ``copy=False`` is no longer read.

        Parameters
        ----------
        vectors : array_like, shape (m, dim) or (dim,)
            The rows to add, of any real dtype; a 1-D array is one row.  NaN or infinite
            values are refused (ValueError), and so is a width other than the index's.
        """
        X, one = _as_matrix("vectors", vectors, self.dtype, allow_1d=True, private=False)
        if X.shape[1] != self.dim:
            raise ValueError(f"vectors: expected {self.dim} columns (the index's dim), got "
                             f"shape {np.shape(vectors)}")
        if self.metric == "cosine":
            X = _unit_rows(X)
        new = np.concatenate([self._X, X])
        new.flags.writeable = False
        self._X = new

    # -- search -----------------------------------------------------------------------------
    def search(self, queries: Any, k: int, block_size: int | None = None,
               threads: int | None = None) -> tuple[np.ndarray, np.ndarray]:
        """The ``k`` best rows for each query.

        Parameters
        ----------
        queries : array_like, shape (nq, dim) or (dim,)
            Converted to the index's dtype (a private copy); NaN or infinite values are
            refused.  A 1-D array is one query, and the results are then 1-D.
        k : int
            How many rows per query, 1 <= k <= len(self).
        block_size : int, optional
            Index rows per block (default 1,024): the score buffer of each thread holds
            ``min(nq, 256) x block_size`` scores.  Results are bit-identical for any
            ``threads`` at a fixed ``block_size``.
        threads : int, optional
            Threads to use (default: ``msopt.get_num_threads()``).

        Returns
        -------
        scores : ndarray, shape (nq, k), the index's dtype
            Best first.
        ids : ndarray of int64, shape (nq, k)
            Row ids; equal scores are ordered by id, the lower first.
        """
        k = check_int("k", k, 1)
        if k > len(self):
            raise ValueError(f"k: must be <= the number of vectors in the index "
                             f"({len(self):,}), got {k:,}")
        block = _BLOCK if block_size is None else check_int("block_size", block_size, 1,
                                                             hi=2**40)
        nt = (_core.get_num_threads() if threads is None
              else check_int("threads", threads, 1, hi=MAX_THREADS))
        Q, one = _as_matrix("queries", queries, self.dtype, allow_1d=True, private=True)
        if Q.shape[1] != self.dim:
            raise ValueError(f"queries: expected {self.dim} columns (the index's dim), got "
                             f"shape {np.shape(queries)}")
        if self.metric == "cosine":
            Q = _unit_rows(Q)
        nq, n, d = Q.shape[0], len(self), self.dim
        scores = np.full((nq, k), -np.inf, self.dtype)
        ids = np.full((nq, k), -1, np.int64)
        X = self._X
        # queries per call: their heaps (k entries each, per thread) stay near _CALL_HEAP
        qs = max(1, _CALL_HEAP // k)
        if qs >= _QUERY_BLOCK:
            qs -= qs % _QUERY_BLOCK
        for q0 in range(0, nq, qs):
            q1 = min(nq, q0 + qs)
            # rows per call: whole blocks, about _CALL_WORK multiply-adds
            per_call = max(1, _CALL_WORK // max(1, (q1 - q0) * d * block)) * block
            Qb, sb, ib = Q[q0:q1], scores[q0:q1], ids[q0:q1]
            for r0 in range(0, n, per_call):
                _core.search_merge_rows(  # type: ignore[attr-defined,unused-ignore]
                    X, Qb, r0, min(n, r0 + per_call), sb, ib, block=block,
                    query_block=_QUERY_BLOCK, threads=nt)
        if one:
            return scores[0], ids[0]
        return scores, ids

    # -- pickle, save, load -----------------------------------------------------------------
    def __getstate__(self) -> dict[str, Any]:
        return {"metric": self.metric, "vectors": self._X}

    def __setstate__(self, state: dict[str, Any]) -> None:
        X = np.array(state["vectors"])  # an own copy, read-only as in a fresh index
        X.flags.writeable = False
        self.metric, self._X = state["metric"], X

    def save(self, path: str | os.PathLike[str]) -> None:
        """Write the index to ``path`` (exactly; no extension is added), one ``.npz`` file in
        the format of the module docstring, replaced atomically (an interrupted save leaves
        the previous file as it was).

        Parameters
        ----------
        path : str or os.PathLike
            The file to write (a path, not an open file).
        """
        with atomic_write(check_path(path)) as f:
            np.savez(f, format=np.array(_FORMAT),
                     params=np.array(json.dumps({"metric": self.metric})), vectors=self._X)

    @classmethod
    def load(cls, path: str | os.PathLike[str]) -> Index:
        """Read an index written by :meth:`save`.

        Parameters
        ----------
        path : str or os.PathLike
            The file to read.

        Returns
        -------
        Index
            The index, its vectors read-only, in the file's dtype (float32 or float64).

        Raises
        ------
        ValueError
            For a file that is not one written by :meth:`save`, naming the file.
        FileNotFoundError
            For a missing file.
        """
        name = check_path(path)
        a = read_npz(name, _FORMAT, "msopt Index")

        def bad(msg: str) -> ValueError:
            return ValueError(f"{name}: not a valid msopt Index file ({msg})")

        missing = sorted({"params", "vectors"} - a.keys())
        if missing:
            raise bad(f"missing {missing}")
        p = a["params"]
        try:
            params = json.loads(str(p)) if p.dtype.kind == "U" and p.shape == () else None
        except ValueError:
            params = None
        if not isinstance(params, dict) or set(params) != {"metric"} \
                or params["metric"] not in _METRICS:
            raise bad("params: expected a JSON object {\"metric\": \"dot\" or \"cosine\"}")
        X = a["vectors"]
        if X.dtype not in (np.float32, np.float64) or X.ndim != 2 or X.shape[1] < 1:
            raise bad(f"vectors: expected a 2-D float32 or float64 array with at least one "
                      f"column, got {X.dtype} of shape {X.shape}")
        if not np.isfinite(X).all():
            raise bad("vectors: contains NaN or infinite values")
        index = cls.__new__(cls)
        X = np.ascontiguousarray(X)
        X.flags.writeable = False
        index.metric, index._X = params["metric"], X
        return index
