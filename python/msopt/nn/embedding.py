"""Embedding bags trained with row-sparse optimizer steps.

:class:`EmbeddingBag` pools rows of a table per bag (sum, or mean; per-id weights in sum
mode), and turns the gradient of its output into a :class:`~msopt.RowGrad`, so that a step
reads and writes only the rows in the batch (and their optimizer state), whatever the size
of the table.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from msopt import _core
from msopt._api import (
    check_choice,
    check_float_dtype,
    check_int,
    check_memory,
    check_optimizer,
    check_seed,
    keyword_aliases,
    make_optimizer,
    real_array,
)
from msopt.optim import OPTIMIZERS, Optimizer, RowGrad

__all__ = ["EmbeddingBag"]

_MODES = {"sum": 0, "mean": 1}


def _ids(a: Any, name: str) -> np.ndarray:
    arr = np.asarray(a)
    if arr.dtype.kind not in "iu" and arr.size:
        raise TypeError(f"{name}: integer ids expected, got dtype {arr.dtype}")
    if arr.ndim != 1:
        raise ValueError(f"{name}: expected a 1-D array, got shape {arr.shape}")
    if arr.dtype == np.uint64 and arr.size and arr.max() > np.iinfo(np.int64).max:
        j = int(np.argmax(arr > np.iinfo(np.int64).max))  # would wrap to a negative int64
        raise IndexError(f"{name}[{j}] = {int(arr[j])} is out of range (ids are below "
                         "2**63)")
    return np.ascontiguousarray(arr, dtype=np.int64)


def _state_arrays(make: Callable[..., Optimizer], optimizer_params: Any) -> int:
    """How many state arrays of the table's size the optimizer keeps with these settings
    (found on a one-element parameter); its slot count if the settings are invalid (the
    real construction then says why)."""
    try:
        opt = make([np.zeros(1)], **dict(optimizer_params or {}))
        return sum(a is not None for a in opt.native_state().states)
    except Exception:
        return len(getattr(make, "_slots", ()))


class EmbeddingBag:
    """A table of ``num_embeddings`` rows of ``dim`` values, pooled per bag.

    Bags are given as in ``torch.nn.EmbeddingBag``: flat ``ids`` and ``offsets``, bag ``b``
    holding ``ids[offsets[b]:offsets[b+1]]`` (the last bag runs to the end; ``offsets[0]``
    is 0).  An empty bag pools to zeros and takes no gradient.

    Parameters
    ----------
    num_embeddings : int
        Rows of the table.
    dim : int
        Width of a row (alias ``embedding_dim``, torch's name).
    mode : {"mean", "sum"}
    optimizer : {"sgd", "adam", "adamw", "adagrad", "rmsprop", "lion"}, default "adam"
        The optimizer over the table (row-sparse updates: see the README for each one's
        lazy rule).
    lr : float, default 1e-3
        Its learning rate (alias ``learning_rate``).
    optimizer_params : dict, optional
        Its other hyperparameters.
    dtype : float32 or float64
    seed : int, optional
        The table starts as N(0, 1) draws, as torch's does (alias ``random_state``).

    Examples
    --------
    >>> import numpy as np
    >>> from msopt import EmbeddingBag
    >>> bag = EmbeddingBag(10, 4, mode="sum", optimizer="sgd", lr=0.1, seed=0)
    >>> out = bag.forward([1, 2, 2, 7], offsets=[0, 3])
    >>> out.shape
    (2, 4)
    >>> before = bag.weight.copy()
    >>> bag.step(np.ones_like(out))            # only rows 1, 2 and 7 change
    >>> np.flatnonzero((bag.weight != before).any(axis=1)).tolist()
    [1, 2, 7]
    >>> bag
    EmbeddingBag(10, 4, mode='sum', optimizer='sgd', lr=0.1)
    """

    @keyword_aliases(embedding_dim="dim", learning_rate="lr", random_state="seed")
    def __init__(self, num_embeddings: int, dim: int, mode: str = "mean", *,
                 optimizer: str = "adam", lr: float = 1e-3,
                 optimizer_params: dict[str, Any] | None = None, dtype: Any = np.float32,
                 seed: int | None = None) -> None:
        check_choice("mode", mode, tuple(_MODES))
        num_embeddings, dim = check_int("num_embeddings", num_embeddings, 1), check_int(
            "dim", dim, 1)
        seed = check_seed("seed", seed, none=True)
        self._init = dict(num_embeddings=num_embeddings, dim=dim, mode=mode,
                          optimizer=optimizer, lr=lr, optimizer_params=optimizer_params,
                          dtype=dtype, seed=seed)
        check_optimizer("optimizer", optimizer, optimizer_params, OPTIMIZERS)
        dt = check_float_dtype("dtype", dtype)
        make: Callable[..., Optimizer] = OPTIMIZERS[optimizer]
        # The table's size, before anything of that size is allocated: the table (drawn in
        # float64 first), and the optimizer's state arrays.
        slots = _state_arrays(make, optimizer_params)
        check_memory("EmbeddingBag", f"num_embeddings={num_embeddings:,} x dim={dim:,} "
                     f"{dt.name} rows", num_embeddings * dim * dt.itemsize,
                     1 + slots + (8 // dt.itemsize),
                     what=f"with the {optimizer!r} optimizer the table and its state need",
                     hint="Reduce num_embeddings (e.g. hash ids into fewer rows) or dim.")
        self.mode = mode
        rng = np.random.default_rng(seed)
        self.weight = rng.standard_normal((int(num_embeddings), int(dim))).astype(dtype)
        self.optimizer = make_optimizer(make, [self.weight], optimizer_params, lr=lr)
        self._last: tuple[np.ndarray, np.ndarray, np.ndarray | None] | None = None

    def __repr__(self) -> str:
        n, d = self.weight.shape
        i = self._init
        args = [str(n), str(d), f"mode={self.mode!r}", f"optimizer={i['optimizer']!r}",
                f"lr={i['lr']!r}"]
        if i["optimizer_params"]:
            args.append(f"optimizer_params={i['optimizer_params']!r}")
        if self.weight.dtype != np.float32:
            args.append(f"dtype={self.weight.dtype.name}")
        return f"EmbeddingBag({', '.join(args)})"

    # Pickling rebuilds the optimizer and restores the table and the optimizer's state
    # through its public state_dict.
    def __getstate__(self) -> dict[str, Any]:
        opt = self.optimizer
        return {"init": self._init, "weight": self.weight, "last": self._last,
                "optimizer": opt.state_dict(),
                "counters": (opt.skipped_steps, opt.last_grad_norm)}

    def __setstate__(self, state: dict[str, Any]) -> None:
        init = state["init"]
        type(self).__init__(self, **{**init, "num_embeddings": 1})  # a 1-row stand-in
        self.weight = np.array(state["weight"], order="C", copy=True)
        make: Callable[..., Optimizer] = OPTIMIZERS[init["optimizer"]]
        self.optimizer = make([self.weight], lr=init["lr"], **(init["optimizer_params"] or {}))
        self.optimizer.load_state_dict(state["optimizer"])
        self.optimizer.skipped_steps, self.optimizer.last_grad_norm = state["counters"]
        self._init, self._last = init, state["last"]

    def _bags(self, ids: Any, offsets: Any, per_sample_weights: Any
              ) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
        i, o = _ids(ids, "ids"), _ids(offsets, "offsets")
        w = None
        if per_sample_weights is not None:
            w = real_array("per_sample_weights", per_sample_weights, self.weight.dtype)
        return i, o, w

    def forward(self, ids: Any, offsets: Any, per_sample_weights: Any = None) -> np.ndarray:
        """Pooled rows, shape (n_bags, dim).  The bags are kept for :meth:`backward`.

        Parameters
        ----------
        ids : array_like of int, shape (n_ids,)
            The rows of every bag, back to back, each in ``[0, num_embeddings)``.
        offsets : array_like of int, shape (n_bags,)
            Where each bag starts in ``ids``: bag ``b`` holds ``ids[offsets[b]:offsets[b+1]]``
            (the last bag runs to the end).  Non-decreasing, from 0.
        per_sample_weights : array_like of float, shape (n_ids,), optional
            A weight per id that multiplies its row; only with ``mode="sum"``.

        Returns
        -------
        ndarray, shape (n_bags, dim), the table's dtype
            Each bag's rows summed, or averaged (``mode="mean"``); zeros for an empty bag.
        """
        i, o, w = self._bags(ids, offsets, per_sample_weights)
        out = _core.embedding_bag_forward(self.weight, i, o, w, _MODES[self.mode])
        self._last = (i, o, w)
        return out

    def backward(self, grad_out: Any, ids: Any = None, offsets: Any = None,
                 per_sample_weights: Any = None, *, merged: bool = True) -> RowGrad:
        """The table's gradient as a :class:`RowGrad`, for the bags given or those of the
        last forward: one row per distinct id (``merged``, the default: summed natively in
        order of position, the same bits the optimizer's merge would give), or one row per
        id occurrence."""
        if ids is None:
            if self._last is None:
                raise ValueError("ids: no bags given and no forward() call to take them from")
            i, o, w = self._last
        else:
            i, o, w = self._bags(ids, offsets, per_sample_weights)
        g = np.ascontiguousarray(grad_out)
        if g.dtype != self.weight.dtype:
            raise TypeError(f"grad_out: dtype {g.dtype} does not match the table's "
                            f"{self.weight.dtype}")
        want = (len(o), self.weight.shape[1])
        if g.ndim != 2 or g.shape[1] != want[1] or (len(o) and g.shape[0] != want[0]):
            raise ValueError(f"grad_out: expected shape {want} (one row of dim values per "
                             f"bag), got {g.shape}")
        if merged:
            uniq, values = _core.embedding_bag_backward_merged(g, i, o, w, _MODES[self.mode],
                                                               self.weight.shape[0])
            return RowGrad(uniq, values)
        values = _core.embedding_bag_backward(g, i, o, w, _MODES[self.mode],
                                              self.weight.shape[0])
        return RowGrad(i, values)

    def step(self, grad_out: Any, ids: Any = None, offsets: Any = None,
             per_sample_weights: Any = None) -> None:
        """Backward and the row-sparse optimizer update of the rows in the bags.

        Parameters
        ----------
        grad_out : array_like, shape (n_bags, dim)
            The gradient of the loss with respect to the pooled rows, in the table's dtype.
        ids : array_like of int, optional
            The bags' rows, as :meth:`forward` takes them.  None (the default): the bags of
            the last :meth:`forward` call (``offsets`` and ``per_sample_weights`` are then
            not read).
        offsets : array_like of int, optional
            Where each bag starts in ``ids``, as in :meth:`forward`; needed with ``ids``.
        per_sample_weights : array_like of float, optional
            A weight per id, as in :meth:`forward`.
        """
        self.optimizer.step([self.backward(grad_out, ids, offsets, per_sample_weights)])
