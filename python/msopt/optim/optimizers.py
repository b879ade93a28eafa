"""Optimizers whose ``step()`` updates every parameter array in one native call.

The update rules are torch.optim's (see :mod:`msopt.reference` for the exact arithmetic).
Parameters are NumPy arrays updated in place; gradients are passed to ``step``.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from typing import Any, ClassVar, NamedTuple

import numpy as np

from msopt import _core

__all__ = [
    "SGD",
    "Adagrad",
    "Adam",
    "AdamW",
    "Lion",
    "NativeState",
    "NonFiniteGradientError",
    "OPTIMIZERS",
    "Optimizer",
    "RMSprop",
    "RowGrad",
    "flatten_state_dict",
    "unflatten_state_dict",
]

_SLOTS = _core.MAX_STATE_SLOTS


class NonFiniteGradientError(FloatingPointError):
    """A gradient (or the global gradient norm) holds NaN or Inf; nothing was updated."""


class RowGrad(tuple):
    """A row-sparse gradient of a 2-D parameter: ``values[k]`` is the gradient of row
    ``indices[k]``.  Repeated indices are summed.  Only the rows named (and their optimizer
    state rows) are read or written by the step.

    Parameters
    ----------
    indices : array_like of int, shape (k,)
        Row ids; converted once to int64.
    values : numpy.ndarray, shape (k, dim)
        Gradient rows, of the parameter's dtype.

    Examples
    --------
    >>> import numpy as np, msopt
    >>> table = np.zeros((5, 2), np.float32)
    >>> opt = msopt.SGD([table], lr=1.0)
    >>> opt.step([msopt.RowGrad([1, 1], np.ones((2, 2), np.float32))])
    >>> table[1]
    array([-2., -2.], dtype=float32)
    """

    __slots__ = ()

    def __new__(cls, indices: Any, values: Any) -> RowGrad:
        idx = np.asarray(indices)
        if idx.dtype.kind not in "iu" and idx.size:
            raise TypeError(f"indices: expected integer row ids, got dtype {idx.dtype}")
        if idx.ndim != 1:
            raise ValueError(f"indices: expected a 1-D array, got shape {idx.shape}")
        idx = np.ascontiguousarray(idx, dtype=np.int64)
        vals = values if isinstance(values, np.ndarray) else np.asarray(values)
        return super().__new__(cls, (idx, vals))

    @property
    def indices(self) -> np.ndarray:
        return self[0]

    @property
    def values(self) -> np.ndarray:
        return self[1]

    def __repr__(self) -> str:
        return f"RowGrad(indices={self[0]!r}, values={self[1]!r})"


def _check(name: str, value: Any, lo: float, hi: float = math.inf, *, lo_open: bool = False,
           hi_open: bool = False) -> float:
    try:
        v = float(value)
    except (TypeError, ValueError):
        raise TypeError(f"{name}: expected a number, got {value!r}") from None
    bad = (v <= lo if lo_open else v < lo) or (v >= hi if hi_open else v > hi) or math.isnan(v)
    if bad:
        lb = "(" if lo_open else "["
        hb = ")" if hi_open else "]"
        raise ValueError(f"{name}: must be in {lb}{lo}, {hi}{hb}, got {value!r}")
    return v


def _check_betas(betas: Any, hi_open: bool = True) -> tuple[float, float]:
    try:
        b1, b2 = betas
    except (TypeError, ValueError):
        raise ValueError(f"betas: expected a pair (beta1, beta2), got {betas!r}") from None
    return (_check("betas[0]", b1, 0.0, 1.0, hi_open=hi_open),
            _check("betas[1]", b2, 0.0, 1.0, hi_open=hi_open))


def _check_param(p: Any, where: str) -> np.ndarray:
    if not isinstance(p, np.ndarray):
        raise TypeError(f"{where}: expected a numpy.ndarray, got {type(p).__name__}")
    if p.dtype not in (np.float32, np.float64) or not p.dtype.isnative:
        raise TypeError(f"{where}: dtype must be float32 or float64, got {p.dtype}")
    if not p.flags.c_contiguous:
        raise ValueError(f"{where}: must be C-contiguous; the step updates it in place, "
                         "so a copy would lose the update")
    if not p.flags.writeable:
        raise ValueError(f"{where}: is read-only; the step updates it in place")
    return p


class NativeState(NamedTuple):
    """What a native runner needs of an optimizer: :meth:`Optimizer.native_state`.

    Runners (``LinearModel.run``, and anything that trains inside ``_core``) read the
    hyperparameters and update ``states`` and ``steps`` in place, exactly as
    :meth:`Optimizer.step` would; snapshots copy them and restore by writing into them.

    Attributes
    ----------
    algo : _core.Algo
        The update rule.
    hypers : list of tuple
        One tuple per param group: the group's hyperparameters in the order the native
        update reads them (the group's ``lr`` first), read when ``native_state()`` is called.
    group_sizes : list of int
        The number of parameters in each group.
    params : list of ndarray
        Every parameter, in order across groups (live arrays).
    states : list of ndarray or None
        ``_core.MAX_STATE_SLOTS`` entries per parameter, in parameter order: the state
        arrays (live, same shape and dtype as the parameter) or None for a slot the
        optimizer does not keep.  Parameter ``i``, slot ``s`` is ``states[i * MAX_STATE_SLOTS
        + s]``; the slot names are the optimizer's ``state`` keys.
    steps : ndarray of int64
        The live step counter of each parameter (updated in place).
    max_grad_norm : float
        The global gradient-norm clip, 0.0 when there is none.
    """

    algo: _core.Algo
    hypers: list[tuple[Any, ...]]
    group_sizes: list[int]
    params: list[np.ndarray]
    states: list[np.ndarray | None]
    steps: np.ndarray
    max_grad_norm: float


class Optimizer:
    """Base class: param groups, state, ``step``, ``state_dict``.

    Every optimizer takes, besides its own hyperparameters:

    params : list of arrays, or list of dicts
        Writable, C-contiguous float32/float64 arrays, updated in place; or param groups,
        ``{"params": [...], "lr": ...}``, each with its own hyperparameters.
    max_grad_norm : float, optional
        Clip the global L2 norm of all gradients to this value (torch's
        ``clip_grad_norm_``), inside the same native call.  Gradients are not modified.
    nonfinite : {"raise", "skip", "ignore"}
        What a step with a NaN/Inf gradient does.  "raise" (default) raises
        :class:`NonFiniteGradientError`; "skip" counts it in ``skipped_steps``; either way
        no parameter, state or step count changes.  "ignore" skips the check (one read of
        every gradient) and lets NaN/Inf reach the parameters, as torch.optim does.

    Subclasses name their native algorithm, their hyperparameters (in the order the
    kernel reads them) and the state each parameter keeps.
    """

    _algo: ClassVar[_core.Algo]
    _slots: ClassVar[tuple[str, ...]]

    def __init__(self, params: Iterable[Any], defaults: dict[str, Any], *,
                 max_grad_norm: float | None = None, nonfinite: str = "raise") -> None:
        if max_grad_norm is not None:
            max_grad_norm = _check("max_grad_norm", max_grad_norm, 0.0, lo_open=True)
        if nonfinite not in ("raise", "skip", "ignore"):
            raise ValueError(f"nonfinite: expected 'raise', 'skip' or 'ignore', "
                             f"got {nonfinite!r}")
        self.defaults = defaults
        self.max_grad_norm = max_grad_norm
        self.nonfinite = nonfinite
        self.param_groups: list[dict[str, Any]] = []
        self.skipped_steps = 0
        self.last_grad_norm: float | None = None
        self._params: list[np.ndarray] = []
        self._states: list[np.ndarray | None] = []
        self._steps = np.zeros(0, dtype=np.int64)
        self._sizes: list[int] = []
        self._group_params: list[tuple[np.ndarray, ...]] = []
        groups: list[Any] = list(params) if not isinstance(params, np.ndarray) else [params]
        if not groups:
            raise ValueError("params: empty parameter list")
        if not isinstance(groups[0], Mapping):
            groups = [{"params": groups}]
        for g in groups:
            self.add_param_group(g)

    # -- subclass hooks ------------------------------------------------------------
    def _validate(self, group: dict[str, Any]) -> None:
        raise NotImplementedError

    def _hyper(self, group: dict[str, Any]) -> tuple[Any, ...]:
        raise NotImplementedError

    def _needs(self, group: dict[str, Any]) -> tuple[bool, ...]:
        return (True,) * len(self._slots)

    def _fill(self, slot: str, group: dict[str, Any]) -> float:
        return 0.0

    # -- groups --------------------------------------------------------------------
    def add_param_group(self, param_group: Mapping[str, Any]) -> None:
        """Add a group of parameters with its own hyperparameters (missing ones default)."""
        if not isinstance(param_group, Mapping) or "params" not in param_group:
            raise TypeError("param_group: expected a dict with a 'params' list")
        ps = param_group["params"]
        ps = [ps] if isinstance(ps, np.ndarray) else list(ps)
        gi = len(self.param_groups)
        for k, p in enumerate(ps):
            _check_param(p, f"param_groups[{gi}]['params'][{k}]")
        unknown = set(param_group) - set(self.defaults) - {"params", "initial_lr"}
        if unknown:
            raise TypeError(f"param_group: unknown hyperparameter(s) {sorted(unknown)}")
        group = {**self.defaults, **{k: v for k, v in param_group.items() if k != "params"}}
        self._validate(group)
        _check_disjoint(self._params + ps)
        group["params"] = tuple(ps)  # a tuple: replacing a parameter in place is refused
        self._group_params.append(group["params"])
        needs = self._needs(group)
        for p in ps:
            for slot, need in zip(self._slots, needs):
                self._states.append(np.full_like(p, self._fill(slot, group)) if need else None)
            self._states.extend([None] * (_SLOTS - len(self._slots)))
        self.param_groups.append(group)
        self._params.extend(ps)
        self._steps = np.concatenate([self._steps, np.zeros(len(ps), np.int64)])
        self._sizes.append(len(ps))

    # -- stepping ------------------------------------------------------------------
    def step(self, grads: Sequence[Any]) -> None:
        """Update every parameter in place, in one native call with the GIL released.

        Parameters
        ----------
        grads : sequence
            One entry per parameter, in parameter order across groups: an array of the
            parameter's shape and dtype, a :class:`RowGrad` (2-D parameters), or None to
            leave that parameter (and its step count) alone.

        Raises
        ------
        NonFiniteGradientError
            A gradient holds NaN/Inf and ``nonfinite="raise"``.  Nothing was changed.
        """
        if isinstance(grads, np.ndarray):
            raise TypeError("grads: expected a sequence with one gradient per parameter, "
                            "got a single array (wrap it in a list)")
        grads = list(grads)  # a private list: other threads may edit the caller's
        groups = self.param_groups
        hypers = [self._hyper(g) for g in groups]
        if len(groups) != len(self._group_params) or any(
                g["params"] is not ps for g, ps in zip(groups, self._group_params)):
            raise ValueError("param_groups: parameters were replaced, added or removed by "
                             "hand; build a new optimizer or use add_param_group")
        finite, norm, _ = _core.optimizer_step(
            self._algo, self._params, grads, self._states, self._steps, hypers, self._sizes,
            self.max_grad_norm or 0.0, self.nonfinite != "ignore")
        self.last_grad_norm = None if self.max_grad_norm is None else (
            norm if finite else math.nan)
        if not finite:
            if self.nonfinite == "ignore":
                # Clipping needs a finite norm, so with max_grad_norm set the check is made
                # even under "ignore": a NaN/Inf gradient (or an overflowing norm) refuses
                # the step instead of scaling every gradient by NaN.
                raise NonFiniteGradientError(
                    "grads: the global gradient norm is not finite, so it cannot clip; no "
                    "parameter or state was changed.")
            if self.nonfinite == "raise":
                raise NonFiniteGradientError(
                    "grads: a gradient holds NaN or Inf (or the global norm overflowed); "
                    "no parameter or state was changed.  Pass nonfinite='skip' to skip "
                    "such steps instead.")
            self.skipped_steps += 1

    # -- state ---------------------------------------------------------------------
    def native_state(self) -> NativeState:
        """The optimizer's algorithm, hyperparameters, state arrays and step counters, for
        native runners (see :class:`NativeState`).  The arrays are live, not copies: a
        runner updates them in place, as :meth:`step` does.  The one way code outside this
        module reaches the optimizer's internals."""
        return NativeState(self._algo, [self._hyper(g) for g in self.param_groups],
                           list(self._sizes), self._params, self._states, self._steps,
                           self.max_grad_norm or 0.0)

    @property
    def state(self) -> dict[int, dict[str, Any]]:
        """Per-parameter state by flat parameter index: ``step`` and the state arrays
        (live arrays, not copies)."""
        out: dict[int, dict[str, Any]] = {}
        for i in range(len(self._params)):
            entry: dict[str, Any] = {"step": int(self._steps[i])}
            for s, name in enumerate(self._slots):
                a = self._states[i * _SLOTS + s]
                if a is not None:
                    entry[name] = a
            out[i] = entry
        return out

    def state_dict(self) -> dict[str, Any]:
        """A snapshot (copies) of the state and hyperparameters: plain NumPy arrays and
        Python scalars.  Parameters are referred to by their flat index."""
        state = {i: {k: (v.copy() if isinstance(v, np.ndarray) else v) for k, v in e.items()}
                 for i, e in self.state.items()}
        groups, start = [], 0
        for g in self.param_groups:
            d = {k: v for k, v in g.items() if k != "params"}
            d["params"] = list(range(start, start + len(g["params"])))
            start += len(g["params"])
            groups.append(d)
        return {"optimizer": type(self).__name__, "state": state, "param_groups": groups}

    def load_state_dict(self, state_dict: Mapping[str, Any]) -> None:
        """Restore a snapshot from :meth:`state_dict`.  Everything is checked before
        anything is changed; state arrays are copied into the existing buffers."""
        name = state_dict.get("optimizer", type(self).__name__)
        if name != type(self).__name__:
            raise ValueError(f"state_dict: it is from a {name} optimizer, not "
                             f"{type(self).__name__}")
        groups = state_dict.get("param_groups")
        if groups is None or len(groups) != len(self.param_groups):
            raise ValueError("state_dict: the number of param groups differs")
        start = 0
        for gi, (g, mine) in enumerate(zip(groups, self.param_groups)):
            want = list(range(start, start + len(mine["params"])))
            if list(g.get("params", [])) != want:
                raise ValueError(f"state_dict: param group {gi} holds different parameters")
            start += len(want)
            extra = set(g) - set(self.defaults) - {"params", "initial_lr"}
            if extra:
                raise ValueError(f"state_dict: param group {gi} has unknown keys "
                                 f"{sorted(extra)}")
            self._validate({**mine, **g})
        state = state_dict.get("state", {})
        new_states = list(self._states)
        writes: list[tuple[int, np.ndarray]] = []
        steps = self._steps.copy()
        group_of = [gi for gi, g in enumerate(self.param_groups) for _ in g["params"]]
        for i, p in enumerate(self._params):
            entry = state.get(i, state.get(str(i)))
            if entry is None:
                raise ValueError(f"state_dict: no state for parameter {i}")
            have = {k for k in entry if k != "step"}
            unknown = have - set(self._slots)
            if unknown:
                raise ValueError(f"state_dict: parameter {i} has state {sorted(unknown)}, "
                                 f"which {type(self).__name__} does not keep")
            needs = self._needs({**self.param_groups[group_of[i]], **groups[group_of[i]]})
            missing = {n for n, need in zip(self._slots, needs) if need} - have
            if missing:
                raise ValueError(f"state_dict: parameter {i} lacks state {sorted(missing)}")
            for s, n in enumerate(self._slots):
                if n not in have:
                    new_states[i * _SLOTS + s] = None
                    continue
                src = np.asarray(entry[n])
                if src.shape != p.shape or src.dtype != p.dtype:
                    raise ValueError(f"state_dict: state[{i}][{n!r}] has shape {src.shape} "
                                     f"and dtype {src.dtype}; the parameter needs "
                                     f"{p.shape} {p.dtype}")
                writes.append((i * _SLOTS + s, src))
            step = entry.get("step", 0)
            if int(step) != step or step < 0:
                raise ValueError(f"state_dict: state[{i}]['step'] must be an int >= 0")
            steps[i] = int(step)
        for k, src in writes:
            dst = new_states[k]
            if dst is None:
                dst = new_states[k] = np.empty_like(self._params[k // _SLOTS])
            np.copyto(dst, src)
        self._states = new_states
        self._steps[:] = steps
        for g, mine in zip(groups, self.param_groups):
            mine.update({k: v for k, v in g.items() if k != "params"})

    def __repr__(self) -> str:
        lines = [f"{type(self).__name__} ("]
        for i, g in enumerate(self.param_groups):
            lines.append(f"Parameter Group {i}")
            lines += [f"    {k}: {v}" for k, v in sorted(g.items()) if k != "params"]
        return "\n".join(lines + [")"])


def _check_disjoint(params: Sequence[np.ndarray]) -> None:
    spans = []
    for i, p in enumerate(params):
        if p.nbytes:
            start = p.__array_interface__["data"][0]
            spans.append((start, start + p.nbytes, i))
    spans.sort()
    for (_s0, e0, i0), (s1, _, i1) in zip(spans, spans[1:]):
        if s1 < e0:
            a, b = sorted((i0, i1))
            raise ValueError(f"params: parameters {a} and {b} share memory (a parameter "
                             "listed twice, or overlapping views); each must be distinct")


class SGD(Optimizer):
    """Stochastic gradient descent with optional momentum (torch.optim.SGD).

    Examples
    --------
    >>> import numpy as np, msopt
    >>> w = np.array([1.0, -2.0])
    >>> opt = msopt.SGD([w], lr=0.1, momentum=0.9)
    >>> opt.step([2 * w])          # gradient of sum(w**2)
    >>> w
    array([ 0.8, -1.6])
    """

    _algo = _core.Algo.SGD
    _slots = ("momentum_buffer",)

    def __init__(self, params: Iterable[Any], lr: float = 1e-3, momentum: float = 0.0,
                 dampening: float = 0.0, weight_decay: float = 0.0, nesterov: bool = False,
                 *, maximize: bool = False, **kw: Any) -> None:
        super().__init__(params, dict(lr=lr, momentum=momentum, dampening=dampening,
                                      weight_decay=weight_decay, nesterov=nesterov,
                                      maximize=maximize), **kw)

    def _validate(self, g: dict[str, Any]) -> None:
        _check("lr", g["lr"], 0.0)
        _check("momentum", g["momentum"], 0.0)
        _check("dampening", g["dampening"], -math.inf)
        _check("weight_decay", g["weight_decay"], 0.0)
        if g["nesterov"] and (g["momentum"] <= 0 or g["dampening"] != 0):
            raise ValueError("nesterov: requires momentum > 0 and dampening == 0")

    def _hyper(self, g: dict[str, Any]) -> tuple[Any, ...]:
        return (g["lr"], g["momentum"], g["dampening"], g["weight_decay"], g["nesterov"],
                g["maximize"])

    def _needs(self, g: dict[str, Any]) -> tuple[bool, ...]:
        return (g["momentum"] != 0,)


class Adam(Optimizer):
    """Adam with L2 (coupled) weight decay and optional AMSGrad (torch.optim.Adam).

    Examples
    --------
    >>> import numpy as np, msopt
    >>> w = np.ones(4, np.float32)
    >>> opt = msopt.Adam([w], lr=0.1)
    >>> opt.step([w.copy()])
    >>> w
    array([0.9, 0.9, 0.9, 0.9], dtype=float32)
    """

    _algo = _core.Algo.ADAM
    _slots = ("exp_avg", "exp_avg_sq", "max_exp_avg_sq")
    _default_wd = 0.0

    def __init__(self, params: Iterable[Any], lr: float = 1e-3,
                 betas: tuple[float, float] = (0.9, 0.999), eps: float = 1e-8,
                 weight_decay: float | None = None, amsgrad: bool = False, *,
                 maximize: bool = False, **kw: Any) -> None:
        wd = self._default_wd if weight_decay is None else weight_decay
        super().__init__(params, dict(lr=lr, betas=betas, eps=eps, weight_decay=wd,
                                      amsgrad=amsgrad, maximize=maximize), **kw)

    def _validate(self, g: dict[str, Any]) -> None:
        _check("lr", g["lr"], 0.0)
        g["betas"] = _check_betas(g["betas"])
        _check("eps", g["eps"], 0.0, lo_open=True)
        _check("weight_decay", g["weight_decay"], 0.0)

    def _hyper(self, g: dict[str, Any]) -> tuple[Any, ...]:
        b1, b2 = g["betas"]
        return (g["lr"], b1, b2, g["eps"], g["weight_decay"], g["amsgrad"], g["maximize"])

    def _needs(self, g: dict[str, Any]) -> tuple[bool, ...]:
        return (True, True, bool(g["amsgrad"]))


class AdamW(Adam):
    """Adam with decoupled weight decay, ``p *= 1 - lr * weight_decay`` (torch.optim.AdamW)."""

    _algo = _core.Algo.ADAMW
    _default_wd = 1e-2


class Adagrad(Optimizer):
    """Adagrad (torch.optim.Adagrad).

    Examples
    --------
    >>> import numpy as np, msopt
    >>> w = np.ones(2)
    >>> msopt.Adagrad([w], lr=0.5).step([np.array([3.0, -4.0])])
    >>> w
    array([0.5, 1.5])
    """

    _algo = _core.Algo.ADAGRAD
    _slots = ("sum",)

    def __init__(self, params: Iterable[Any], lr: float = 1e-2, lr_decay: float = 0.0,
                 weight_decay: float = 0.0, initial_accumulator_value: float = 0.0,
                 eps: float = 1e-10, *, maximize: bool = False, **kw: Any) -> None:
        super().__init__(params, dict(lr=lr, lr_decay=lr_decay, weight_decay=weight_decay,
                                      initial_accumulator_value=initial_accumulator_value,
                                      eps=eps, maximize=maximize), **kw)

    def _validate(self, g: dict[str, Any]) -> None:
        _check("lr", g["lr"], 0.0)
        _check("lr_decay", g["lr_decay"], 0.0)
        _check("weight_decay", g["weight_decay"], 0.0)
        _check("initial_accumulator_value", g["initial_accumulator_value"], 0.0)
        _check("eps", g["eps"], 0.0, lo_open=True)

    def _hyper(self, g: dict[str, Any]) -> tuple[Any, ...]:
        return (g["lr"], g["lr_decay"], g["weight_decay"], g["eps"], g["maximize"])

    def _fill(self, slot: str, g: dict[str, Any]) -> float:
        return float(g["initial_accumulator_value"])


class RMSprop(Optimizer):
    """RMSprop with optional momentum and centering (torch.optim.RMSprop)."""

    _algo = _core.Algo.RMSPROP
    _slots = ("square_avg", "momentum_buffer", "grad_avg")

    def __init__(self, params: Iterable[Any], lr: float = 1e-2, alpha: float = 0.99,
                 eps: float = 1e-8, weight_decay: float = 0.0, momentum: float = 0.0,
                 centered: bool = False, *, maximize: bool = False, **kw: Any) -> None:
        super().__init__(params, dict(lr=lr, alpha=alpha, eps=eps, weight_decay=weight_decay,
                                      momentum=momentum, centered=centered,
                                      maximize=maximize), **kw)

    def _validate(self, g: dict[str, Any]) -> None:
        _check("lr", g["lr"], 0.0)
        _check("alpha", g["alpha"], 0.0, 1.0)
        _check("eps", g["eps"], 0.0, lo_open=True)
        _check("weight_decay", g["weight_decay"], 0.0)
        _check("momentum", g["momentum"], 0.0)

    def _hyper(self, g: dict[str, Any]) -> tuple[Any, ...]:
        return (g["lr"], g["alpha"], g["eps"], g["weight_decay"], g["momentum"],
                g["centered"], g["maximize"])

    def _needs(self, g: dict[str, Any]) -> tuple[bool, ...]:
        return (True, g["momentum"] != 0, bool(g["centered"]))


class Lion(Optimizer):
    """Lion, the sign-momentum optimizer of Chen et al. (2023), with decoupled decay."""

    _algo = _core.Algo.LION
    _slots = ("exp_avg",)

    def __init__(self, params: Iterable[Any], lr: float = 1e-4,
                 betas: tuple[float, float] = (0.9, 0.99), weight_decay: float = 0.0, *,
                 maximize: bool = False, **kw: Any) -> None:
        super().__init__(params, dict(lr=lr, betas=betas, weight_decay=weight_decay,
                                      maximize=maximize), **kw)

    def _validate(self, g: dict[str, Any]) -> None:
        _check("lr", g["lr"], 0.0)
        g["betas"] = _check_betas(g["betas"], hi_open=False)
        _check("weight_decay", g["weight_decay"], 0.0)

    def _hyper(self, g: dict[str, Any]) -> tuple[Any, ...]:
        b1, b2 = g["betas"]
        return (g["lr"], b1, b2, g["weight_decay"], g["maximize"])


# -- saving ---------------------------------------------------------------------------
def flatten_state_dict(state_dict: Mapping[str, Any]) -> dict[str, np.ndarray]:
    """Flatten a state dict to ``{"a/b/c": array}`` for ``np.savez`` (no pickling).

    Examples
    --------
    >>> import io, numpy as np, msopt
    >>> w = np.ones(3); opt = msopt.Adam([w]); opt.step([w.copy()])
    >>> buf = io.BytesIO(); np.savez(buf, **msopt.flatten_state_dict(opt.state_dict()))
    >>> _ = buf.seek(0)
    >>> opt.load_state_dict(msopt.unflatten_state_dict(np.load(buf)))
    """
    flat: dict[str, np.ndarray] = {"optimizer": np.array(state_dict["optimizer"])}
    for i, entry in state_dict["state"].items():
        for k, v in entry.items():
            flat[f"state/{i}/{k}"] = np.asarray(v)
    for gi, g in enumerate(state_dict["param_groups"]):
        for k, v in g.items():
            flat[f"param_groups/{gi}/{k}"] = np.asarray(v)
    return flat


def _scalar(a: np.ndarray) -> Any:
    return a.item() if a.ndim == 0 else a


def unflatten_state_dict(flat: Mapping[str, np.ndarray]) -> dict[str, Any]:
    """Inverse of :func:`flatten_state_dict` (accepts the mapping ``np.load`` returns)."""
    out: dict[str, Any] = {"optimizer": str(flat["optimizer"]), "state": {},
                           "param_groups": []}
    groups: dict[int, dict[str, Any]] = {}
    for key in flat:
        parts = key.split("/")
        a = np.asarray(flat[key])
        if parts[0] == "state" and len(parts) == 3:
            entry = out["state"].setdefault(int(parts[1]), {})
            entry[parts[2]] = int(a) if parts[2] == "step" else a
        elif parts[0] == "param_groups" and len(parts) == 3:
            g = groups.setdefault(int(parts[1]), {})
            if parts[2] == "params":
                g["params"] = [int(x) for x in a]
            else:
                g[parts[2]] = tuple(a.tolist()) if a.ndim == 1 else _scalar(a)
    out["param_groups"] = [groups[k] for k in sorted(groups)]
    return out


# The optimizers by the lower-case names the models take (``optimizer="adam"``).
OPTIMIZERS: dict[str, type[Optimizer]] = {
    "sgd": SGD, "adam": Adam, "adamw": AdamW, "adagrad": Adagrad, "rmsprop": RMSprop,
    "lion": Lion,
}
