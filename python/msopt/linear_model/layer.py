"""The linear layer: ``Z = X W + b`` with a fused loss, trained by msopt's native loops.

:class:`LinearModel`'s ``step`` does forward, loss, backward and the optimizer update in one
native call; ``run`` executes whole epochs (seeded shuffling, batching, schedule) in one call
with the GIL released.  It needs only NumPy.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from msopt import _core
from msopt._api import (
    INT64_MAX,
    UINT64_MAX,
    check_bool,
    check_choice,
    check_float_dtype,
    check_int,
    check_memory,
    check_number,
    check_optimizer,
    check_seed,
    keyword_aliases,
    make_optimizer,
    real_array,
)
from msopt._progress import ChunkSize
from msopt.exceptions import DivergenceError
from msopt.optim import OPTIMIZERS

__all__ = ["DivergenceError", "LinearModel"]

LOSSES = {"squared": _core.Loss.SQUARED, "huber": _core.Loss.HUBER,
          "logistic": _core.Loss.LOGISTIC, "softmax": _core.Loss.SOFTMAX,
          "hinge": _core.Loss.HINGE}
SCHEDULES = {"constant": _core.ScheduleKind.CONSTANT, "linear": _core.ScheduleKind.LINEAR,
             "cosine": _core.ScheduleKind.WARMUP_COSINE}


def run_schedule(schedule: str, total: int, warmup: int, min_factor: float) -> _core.Schedule:
    """The learning-rate factor (base 1) of ``LinearModel.run``'s ``schedule`` names:
    "constant"; "linear", ``max(1 - k / total, min_factor)``; "cosine", linear warmup then
    cosine from 1 to ``min_factor`` (see ``_core.Schedule`` for the formulas)."""
    kind = SCHEDULES[schedule]
    if kind == _core.ScheduleKind.CONSTANT:
        return _core.Schedule()
    return _core.Schedule(kind, total=max(int(total), 1), warmup=int(warmup),
                          floor=float(min_factor))


# -- model size ---------------------------------------------------------------------------
def _state_arrays(optimizer: str, optimizer_params: Any) -> int:
    """How many state arrays of the parameter's size ``optimizer`` keeps with these
    settings (found on a one-element parameter); at most its slot count if the settings
    are invalid (the real construction then says why)."""
    cls = OPTIMIZERS.get(optimizer) if isinstance(optimizer, str) else None
    if cls is None:
        return 0
    try:
        opt = cls([np.zeros(1)], **dict(optimizer_params or {}))
        return sum(a is not None for a in opt.native_state().states)
    except Exception:
        return len(cls._slots)


def check_model_size(who: str, n_features: int, n_outputs: int, dtype: Any,
                     optimizer: str, optimizer_params: Any = None, *,
                     training: bool = False) -> int:
    """Refuse, before anything is allocated, a ``n_features x n_outputs`` model whose arrays
    would not fit in the machine's physical memory: W and the state arrays of
    ``optimizer``; with ``training`` also the dense gradient of the native runner and the
    copy of W and the state that ``run`` keeps to undo a diverged call.  Returns the byte
    count; raises MemoryError stating it."""
    slots = _state_arrays(optimizer, optimizer_params)
    arrays = (1 + slots) * (2 if training else 1) + (1 if training else 0)
    per_array = n_features * n_outputs * np.dtype(dtype).itemsize
    what = ("training needs" if training else "the weights and the optimizer's state need")
    return check_memory(
        who, f"n_features={n_features:,} x n_outputs={n_outputs:,} {np.dtype(dtype).name} "
        "weights", per_array, arrays, what=f"with the {optimizer!r} optimizer {what}",
        hint="Reduce the number of features (e.g. hash them into fewer columns).")


MAX_DOUBLE_INT = 2**1023  # ints this large still convert to a double


# -- data ---------------------------------------------------------------------------------
def _is_sparse(X: Any) -> bool:
    return hasattr(X, "tocsr") and hasattr(X, "format")


class _Data:
    """X converted once for the native loops: dense C-contiguous, or CSR with int64 ids."""

    def __init__(self, X: Any, dtype: Any) -> None:
        if _is_sparse(X):
            X = X.tocsr()
            self.values = real_array("X", X.data, dtype)
            self.indptr: np.ndarray | None = np.ascontiguousarray(X.indptr, dtype=np.int64)
            self.indices: np.ndarray | None = np.ascontiguousarray(X.indices, dtype=np.int64)
            self.n, self.d = X.shape
            self._csr = X
        else:
            self.values = real_array("X", X, dtype)
            if self.values.ndim != 2:
                raise ValueError(f"X: expected a 2-D array, got {self.values.ndim}-D")
            self.indptr = self.indices = None
            self.n, self.d = self.values.shape
            self._csr = None

    def rows(self, idx: np.ndarray) -> _Data:
        out = object.__new__(_Data)
        if self._csr is not None:
            sub = self._csr[idx]
            out.__init__(sub, self.values.dtype)  # type: ignore[misc]
        else:
            out.values = np.ascontiguousarray(self.values[idx])
            out.indptr = out.indices = None
            out.n, out.d = out.values.shape
            out._csr = None
        return out

    @property
    def args(self) -> tuple[Any, Any, Any]:
        return self.values, self.indptr, self.indices


# -- divergence: refuse what is invalid, undo what overflowed ------------------------------
def _check_run_values(model: LinearModel, min_factor: Any) -> None:
    """The layer's editable attributes and ``min_factor``, checked before a native run:
    NaN, Inf or a negative value here would write NaN into the weights."""
    for name in ("l2", "l1"):
        check_number(name, getattr(model, name), lo=0)
    if model.loss == "huber":
        check_number("huber_epsilon", model.huber_epsilon, lo=0, strict=True)
    check_number("min_factor", min_factor, lo=0)


class _RunUndo:
    """A copy of W, b and the optimizer's state arrays and step counts, taken before a
    native run and written back if it diverges.  Costs one copy of the model and its
    state (measured: small beside an epoch; see ``restore``)."""

    def __init__(self, W: np.ndarray, b: np.ndarray | None, state: Any) -> None:
        self._live = [W] + ([] if b is None else [b]) + [a for a in state.states
                                                         if a is not None] + [state.steps]
        self._copies = [a.copy() for a in self._live]

    def restore(self) -> None:
        for dst, src in zip(self._live, self._copies):
            np.copyto(dst, src)


# -- the layer ----------------------------------------------------------------------------
class LinearModel:
    """A linear layer ``Z = X W + b`` with a fused loss, trained by an msopt optimizer.

    Parameters
    ----------
    n_features, n_outputs : int
        ``W`` has shape (n_features, n_outputs).  The logistic loss and binary hinge take
        one output; softmax and one-vs-rest hinge one per class.
    loss : {"squared", "huber", "logistic", "softmax", "hinge"}
        The classification losses (logistic, softmax, hinge) take ``y`` as class ids:
        integers 0 to n_classes - 1 (float labels that are whole numbers, such as 0.0 and
        1.0, are read as those ints; with one output, -1 and +1 are read as 0 and 1).
        Anything else raises with the fix in the message.
    huber_epsilon : float, default 1.35
        Where the Huber loss turns from quadratic to linear.
    fit_intercept : bool, default True
        Hold an intercept ``b`` (never penalized or decayed).
    optimizer : {"sgd", "adam", "adamw", "adagrad", "rmsprop", "lion"}
    lr : float, default 0.01
        Base learning rate (``schedule`` scales it; alias ``learning_rate``).
    optimizer_params : dict, optional
        Other hyperparameters of the optimizer (``betas``, ``momentum``, ...).
    max_grad_norm : float, optional
        Clip the global gradient norm to this value.
    l2, l1 : float
        Regularization strength: the penalty ``0.5 * l2 * |W|^2 + l1 * |W|_1`` (the
        intercept is not penalized).  L1 is applied as a proximal step after each update,
        so weights reach exact zeros.
    dtype : float32 or float64

    Examples
    --------
    >>> import numpy as np
    >>> from msopt import LinearModel
    >>> rng = np.random.default_rng(0)
    >>> X = rng.standard_normal((256, 3)); y = X @ [1.0, -2.0, 0.5] + 0.3
    >>> m = LinearModel(3, 1, "squared", optimizer="sgd", lr=0.1)
    >>> losses = m.run(X, y, epochs=50, batch_size=32, seed=0)
    >>> bool(np.allclose(m.W[:, 0], [1.0, -2.0, 0.5], atol=1e-3)), round(float(m.b[0]), 3)
    (True, 0.3)
    >>> m
    LinearModel(3, 1, 'squared', optimizer='sgd', lr=0.1)
    """

    # Batches per native call of ``run``: None sizes them to about 0.4 s each (the result
    # does not depend on it).
    _chunk_batches: int | None = None

    @keyword_aliases(learning_rate="lr")
    def __init__(self, n_features: int, n_outputs: int = 1, loss: str = "squared", *,
                 huber_epsilon: float = 1.35, fit_intercept: bool = True,
                 optimizer: str = "adam", lr: float = 1e-2,
                 optimizer_params: dict[str, Any] | None = None,
                 max_grad_norm: float | None = None, l2: float = 0.0, l1: float = 0.0,
                 dtype: Any = np.float64) -> None:
        n_features, n_outputs = check_int("n_features", n_features, 0), check_int(
            "n_outputs", n_outputs, 1)
        l2, l1 = check_number("l2", l2, lo=0), check_number("l1", l1, lo=0)
        fit_intercept = check_bool("fit_intercept", fit_intercept)
        huber_epsilon = check_number("huber_epsilon", huber_epsilon, lo=0, strict=True)
        check_choice("loss", loss, tuple(sorted(LOSSES)))
        check_optimizer("optimizer", optimizer, optimizer_params, OPTIMIZERS)
        check_float_dtype("dtype", dtype)
        self._init = dict(n_features=n_features, n_outputs=n_outputs, loss=loss,
                          huber_epsilon=huber_epsilon, fit_intercept=fit_intercept,
                          optimizer=optimizer, lr=lr, optimizer_params=optimizer_params,
                          max_grad_norm=max_grad_norm, l2=l2, l1=l1, dtype=dtype)
        if loss == "logistic" and n_outputs != 1:
            raise ValueError("n_outputs: the logistic loss takes one output")
        if l1 and optimizer != "sgd":
            raise ValueError(f"l1: the L1 proximal step needs optimizer='sgd' (with "
                             f"{optimizer!r} each coordinate moves by its own step size, which "
                             "the prox would ignore)")
        self.loss, self.huber_epsilon = loss, float(huber_epsilon)
        self.optimizer_name = optimizer
        self.l2, self.l1 = float(l2), float(l1)
        self.dtype = np.dtype(dtype)
        if self.dtype not in (np.float32, np.float64):
            raise TypeError(f"dtype: float32 or float64, got {self.dtype}")
        check_model_size("LinearModel", n_features, n_outputs, self.dtype, optimizer,
                         optimizer_params)
        self.W = np.zeros((n_features, n_outputs), self.dtype)
        self.b = np.zeros(n_outputs, self.dtype) if fit_intercept else None
        # The intercept gets its own group with no weight decay: it is never penalized.
        groups: list[dict[str, Any]] = [{"params": [self.W]}]
        if self.b is not None:
            groups.append({"params": [self.b], "weight_decay": 0.0})
        self.optimizer = make_optimizer(OPTIMIZERS[optimizer], groups, optimizer_params,
                                        lr=lr, max_grad_norm=max_grad_norm)

    def __repr__(self) -> str:
        n, k = self.W.shape
        args = [str(n), str(k), repr(self.loss), f"optimizer={self.optimizer_name!r}",
                f"lr={self._init['lr']!r}"]
        defaults = {"huber_epsilon": 1.35, "fit_intercept": True, "optimizer_params": None,
                    "max_grad_norm": None}
        args += [f"{k}={self._init[k]!r}" for k, v in defaults.items() if self._init[k] != v]
        args += [f"{k}={getattr(self, k)!r}" for k in ("l2", "l1") if getattr(self, k)]
        if self.dtype != np.float64:
            args.append(f"dtype={self.dtype.name}")
        return f"LinearModel({', '.join(args)})"

    # Pickling rebuilds the layer and its optimizer from the constructor's arguments, then
    # restores the weights and the optimizer's state through its public state_dict.
    def __getstate__(self) -> dict[str, Any]:
        extra = {k: v for k, v in self.__dict__.items()
                 if k not in ("W", "b", "optimizer", "_init")}
        opt = self.optimizer
        return {"init": self._init, "W": self.W, "b": self.b, "extra": extra,
                "optimizer": opt.state_dict(),
                "counters": (opt.skipped_steps, opt.last_grad_norm)}

    def __setstate__(self, state: dict[str, Any]) -> None:
        type(self).__init__(self, **state["init"])
        self.W[...] = state["W"]
        if self.b is not None:
            self.b[...] = state["b"]
        self.__dict__.update(state["extra"])
        self.optimizer.load_state_dict(state["optimizer"])
        self.optimizer.skipped_steps, self.optimizer.last_grad_norm = state["counters"]

    # -- targets
    def _targets(self, y: Any, n: int) -> tuple[np.ndarray | None, np.ndarray | None]:
        C = self.W.shape[1]
        if self.loss in ("squared", "huber"):
            yy = real_array("y", y, self.dtype)
            if yy.size != n * C or (yy.ndim > 1 and yy.shape[0] != n):
                raise ValueError(f"y: expected {n} target(s) of {C} output(s), got shape "
                                 f"{yy.shape}")
            return np.ascontiguousarray(yy.reshape(n, C)), None
        try:
            lab = np.asarray(y)
        except (TypeError, ValueError) as e:
            raise TypeError(f"y: class ids (integers) expected ({e})") from None
        if lab.size != n or (lab.ndim > 1 and lab.shape[0] != n):
            raise ValueError(f"y: expected {n} class id(s), got shape {lab.shape}")
        lab = lab.reshape(n)
        if (lab.dtype.kind == "f" and np.isfinite(lab).all() and (lab == np.round(lab)).all()
                and (np.abs(lab) < 2**31).all()):
            lab = lab.astype(np.int64)  # float labels that are whole numbers: 0.0, 1.0, ...
        if lab.dtype.kind not in "iub":
            raise TypeError(
                f"y: class ids (integers) expected for the {self.loss} loss, got dtype "
                f"{lab.dtype}" + (" with values that are not whole numbers; real-valued "
                                  "targets take loss='squared' or 'huber'"
                                  if lab.dtype.kind == "f" else
                                  "; map labels to ids with "
                                  "np.unique(y, return_inverse=True)[1]"))
        k = max(C, 2)
        if C == 1 and n and int(lab.min()) == -1 and np.isin(lab, (-1, 1)).all():
            lab = (lab > 0).astype(np.int64)  # -1/+1: the binary losses' other convention
        if n and (int(lab.min()) < 0 or int(lab.max()) >= k):
            i = int(np.flatnonzero((lab < 0) | (lab >= k))[0])
            how = ("0 and 1 (or -1 and +1)" if C == 1 else
                   f"0 to {k - 1}, one per output (n_outputs={C})")
            raise IndexError(f"y[{i}] = {int(lab[i])} is not a class id below {k}: the "
                             f"{self.loss} loss takes class ids {how}; map labels to ids with "
                             "np.unique(y, return_inverse=True)[1]")
        return None, np.ascontiguousarray(lab, dtype=np.int64)

    def _sw(self, sample_weight: Any, n: int) -> np.ndarray | None:
        if sample_weight is None:
            return None
        sw = real_array("sample_weight", sample_weight, self.dtype)
        if sw.shape != (n,):
            raise ValueError(f"sample_weight: expected shape ({n},), got {sw.shape}")
        return sw

    def _data(self, X: Any) -> _Data:
        return X if isinstance(X, _Data) else _Data(X, self.dtype)

    # -- the native calls
    def run(self, X: Any, y: Any, sample_weight: Any = None, *, epochs: int = 1,
            batch_size: int = 32, shuffle: bool = True, seed: int = 0, epoch0: int = 0,
            schedule: str = "constant", schedule_steps: int | None = None,
            warmup_steps: int = 0, min_factor: float = 1e-4,
            schedule_origin: int = 0) -> np.ndarray:
        """Run ``epochs`` epochs of minibatch steps, natively (GIL released), in chunks of
        about 0.4 s of work: Python regains control between them, so Ctrl-C raises
        KeyboardInterrupt within a chunk's time, W, b and the optimizer state then holding
        the last finished chunk.  The chunks change nothing: the order, the schedule (by
        the optimizer's step count) and each epoch's loss sum go on where they stopped, so
        the result is the bits of one whole call.

        Each epoch visits the rows in the order ``epoch_permutation(seed, epoch0 + e)``
        (or in order when ``shuffle`` is False).  ``schedule`` scales the learning rate by
        the optimizer's step count: "constant", "linear" (to ``min_factor`` over
        ``schedule_steps``, by default the steps of this call) or "cosine" (linear warmup,
        then cosine to ``min_factor``), counted from the step ``schedule_origin``.
        Returns the mean loss of each epoch.  Raises :class:`DivergenceError` when a batch
        loss is not finite or the weights overflowed; W, b and the optimizer's state and
        step counts are then restored to what they were before the call (``run`` copies
        them before the native call for this).  Non-finite or negative ``l2``, ``l1``,
        ``huber_epsilon`` and ``min_factor`` are refused before anything runs.
        """
        # The native types: size_t batch_size, int64 epochs, epoch0 (epoch0 + epochs too),
        # schedule_origin and step counts, uint64 seed.
        batch_size = check_int("batch_size", batch_size, 1, hi=UINT64_MAX)
        epochs = check_int("epochs", epochs, 0, hi=INT64_MAX)
        epoch0 = check_int("epoch0", epoch0, 0, hi=INT64_MAX - epochs)
        seed = check_seed("seed", seed)
        shuffle = check_bool("shuffle", shuffle)
        check_choice("schedule", schedule, tuple(sorted(SCHEDULES)))
        # (the schedule's lengths are doubles on the native side)
        check_int("schedule_steps", schedule_steps, 0, none=True, hi=MAX_DOUBLE_INT)
        check_int("warmup_steps", warmup_steps, 0, hi=MAX_DOUBLE_INT)
        check_number("min_factor", min_factor, lo=0, hi=1)
        check_int("schedule_origin", schedule_origin, 0, hi=INT64_MAX)
        data = self._data(X)
        if data.n == 0:
            raise ValueError("X: no samples")
        yy, lab = self._targets(y, data.n)
        if schedule_steps is None:
            schedule_steps = epochs * -(-data.n // min(batch_size, data.n))
        options = _core.LinearRunOptions(
            loss=LOSSES[self.loss], huber_eps=self.huber_epsilon, batch_size=batch_size,
            epochs=epochs, epoch0=epoch0, seed=seed, shuffle=shuffle, l2=self.l2, l1=self.l1,
            schedule=run_schedule(schedule, schedule_steps, warmup_steps, min_factor),
            schedule_origin=int(schedule_origin))
        _check_run_values(self, min_factor)
        sw = self._sw(sample_weight, data.n)
        state = self.optimizer.native_state()
        undo = _RunUndo(self.W, self.b, state)
        # The first chunk: about 2^26 multiply-adds (a few ms), then sized from its time.
        work = min(batch_size, data.n) * max(self.W.shape[0], 1) * max(self.W.shape[1], 1)
        chunk = ChunkSize(self._chunk_batches, max(1, min(1 << 20, (1 << 26) // work)))
        losses: list[float] = []
        while len(losses) < epochs:
            options.epochs, options.epoch0 = epochs - len(losses), epoch0 + len(losses)
            options.max_batches = int(chunk)
            chunk.start()
            done, finite, _, options.first_batch, options.carry = _core.linear_run(
                *data.args, yy, lab, sw, self.W, self.b, state, options)
            chunk.done()
            losses += done.tolist()
            if not finite:
                undo.restore()
                raise DivergenceError(
                    f"the training loss or the weights became NaN or Inf in epoch "
                    f"{epoch0 + len(losses) + 1}; W, b and the optimizer state are as they "
                    "were before this call.  Try a smaller learning rate.")
        return np.asarray(losses, np.float64)

    def step(self, X: Any, y: Any, sample_weight: Any = None) -> float:
        """One step on this batch (forward, loss, backward, update) in one native call.
        Returns the batch's mean loss (before the update)."""
        data = self._data(X)
        return float(self.run(data, y, sample_weight, epochs=1, batch_size=max(data.n, 1),
                              shuffle=False)[0])

    def forward(self, X: Any) -> np.ndarray:
        """Scores ``X W + b``, shape (n, n_outputs)."""
        data = self._data(X)
        return _core.linear_forward(*data.args, self.W, self.b)

    def loss_and_grad(self, X: Any, y: Any, sample_weight: Any = None
                      ) -> tuple[float, np.ndarray, np.ndarray]:
        """Mean loss over all of X (no penalty) and its gradient (dW, db)."""
        data = self._data(X)
        if data.n == 0:
            raise ValueError("X: no samples")
        yy, lab = self._targets(y, data.n)
        return _core.linear_loss_grad(*data.args, yy, lab, self._sw(sample_weight, data.n),
                                      self.W, self.b, LOSSES[self.loss], self.huber_epsilon)

    def penalty(self) -> float:
        W = self.W
        return float(0.5 * self.l2 * np.vdot(W, W) + self.l1 * np.abs(W).sum())
