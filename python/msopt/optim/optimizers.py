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
from msopt.reference import lowbit

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


# -- hyperparameter rules ---------------------------------------------------------------
# One table per optimizer (``Optimizer._rules``) says what each param-group key may hold.
# The same table checks the constructor's values, every loaded state dict and, before each
# step, the groups edited since the last check; what reaches the native step is always the
# checked value (a Python float or bool), never the object in the dict.
_REAL = (int, float, np.integer, np.floating)
_NOT_REAL = (bool, np.bool_)
# Per dtype: the largest finite value, and the smallest that does not round to 0.
_LIMITS = {np.dtype(np.float32): (float(np.finfo(np.float32).max), 2.0**-149),
           np.dtype(np.float64): (float(np.finfo(np.float64).max), 5e-324)}
MAX_STEP = 2**63 - 2  # a parameter's step counter (int64, incremented by the native step)


def _g(x: float) -> str:
    return f"{x:g}"


class Rule(NamedTuple):
    """What one hyperparameter may hold.

    ``kind`` is "bool" (a Python or NumPy bool), "number" (a finite int or float in the
    range ``lo``..``hi``, an end excluded when ``lo_open``/``hi_open``) or "pair" (two such
    numbers, as ``betas``).  Numbers must also stay finite when rounded to the dtype of the
    group's parameters, and an excluded 0 bound (``eps > 0``) must survive that rounding.
    """

    kind: str
    lo: float = 0.0
    hi: float = math.inf
    lo_open: bool = False
    hi_open: bool = False

    def describe(self) -> str:
        if self.kind == "bool":
            return "a bool"
        if self.lo == -math.inf and self.hi == math.inf:
            rng = ""
        elif self.hi == math.inf:
            rng = f" {'>' if self.lo_open else '>='} {_g(self.lo)}"
        else:
            rng = (f" in {'(' if self.lo_open else '['}{_g(self.lo)}, {_g(self.hi)}"
                   f"{')' if self.hi_open else ']'}")
        what = "a pair (beta1, beta2) of finite numbers" if self.kind == "pair" else \
            "a finite number"
        return what + rng

    def check(self, where: str, key: str, value: Any) -> Any:
        """The checked value (float, bool, or a tuple of two floats); TypeError or
        ValueError naming ``where[key]`` otherwise."""
        if self.kind == "bool":
            if value is True or value is False:
                return value
            if isinstance(value, np.bool_):
                return bool(value)
            raise TypeError(f"{where}[{key!r}]: expected a bool, got {type(value).__name__} "
                            f"{value!r}")
        if self.kind == "number":
            v = self._number(value)
            if v is not None and self._inside(v):
                return v
            name = f"{where}[{key!r}]"
            if v is None:
                raise TypeError(f"{name}: expected {self.describe()}, got "
                                f"{type(value).__name__} {value!r}")
            raise ValueError(f"{name}: expected {self.describe()}, got {value!r}")
        name = f"{where}[{key!r}]"
        if isinstance(value, (str, bytes, Mapping)) or not isinstance(value, Iterable):
            raise TypeError(f"{name}: expected {self.describe()}, got "
                            f"{type(value).__name__} {value!r}")
        items = tuple(value)
        if len(items) != 2:
            raise ValueError(f"{name}: expected {self.describe()}, got {len(items)} values")
        out = []
        for k, x in enumerate(items):
            v = self._number(x)
            if v is None:
                raise TypeError(f"{name}: expected {self.describe()}; {key}[{k}] is "
                                f"{type(x).__name__} {x!r}")
            if not self._inside(v):
                raise ValueError(f"{name}: expected {self.describe()}; {key}[{k}] is {x!r}")
            out.append(v)
        return tuple(out)

    @staticmethod
    def _number(value: Any) -> float | None:
        if type(value) is float:
            return value
        if isinstance(value, _NOT_REAL) or not isinstance(value, _REAL):
            return None
        try:
            return float(value)
        except OverflowError:  # an int beyond the float range
            return math.inf if value > 0 else -math.inf

    def _inside(self, v: float) -> bool:
        return (math.isfinite(v) and (v > self.lo if self.lo_open else v >= self.lo)
                and (v < self.hi if self.hi_open else v <= self.hi))


_INITIAL_LR = Rule("number")  # set by the schedulers: the rate they scale
_STEP_RULE = "an int in [0, 2**63 - 2]"  # MAX_STEP


def _check_key(rule: Rule, where: str, key: str, value: Any, dtype: np.dtype[Any]) -> Any:
    """``rule.check``, then for a number: finite in the parameters' dtype, and an
    excluded 0 bound (``eps > 0``) not lost to rounding."""
    v = rule.check(where, key, value)
    if rule.kind == "number":
        big, tiny = _LIMITS[dtype]
        if -big <= v <= big and (v >= tiny or not rule.lo_open or rule.lo != 0):
            return v
        if abs(v) > big:
            raise ValueError(f"{where}[{key!r}]: {value!r} overflows {dtype}, the dtype of "
                             f"the group's parameters")
        if rule.lo_open and rule.lo == 0 and v < tiny:
            raise ValueError(f"{where}[{key!r}]: {value!r} rounds to 0 in {dtype}, the dtype "
                             f"of the group's parameters")
    return v


_set = dict.__setitem__
_FAST: dict[tuple[type, np.dtype[Any]], tuple[tuple[str, str, float, float], ...]] = {}


def _fast_rules(cls: type, dtype: np.dtype[Any]) -> tuple[tuple[str, str, float, float], ...]:
    """``cls._rules`` as (key, kind, lo, hi), [lo, hi] the closed interval of the floats
    that pass :func:`_check_key` for ``dtype`` (for a pair: each of its two floats)."""
    out = _FAST.get((cls, dtype))
    if out is None:
        big, tiny = _LIMITS[dtype]
        rows = []
        for key, r in cls._rules.items():  # type: ignore[attr-defined]
            lo, hi = max(r.lo, -big), min(r.hi, big)
            if r.lo_open:
                lo = tiny if r.lo == 0 else math.nextafter(r.lo, math.inf)
            if r.hi_open and r.hi <= big:
                hi = math.nextafter(r.hi, -math.inf)
            rows.append((key, r.kind, lo, hi))
        out = _FAST[(cls, dtype)] = tuple(rows)
    return out


class ParamGroup(dict):  # type: ignore[type-arg]
    """A param group: a dict that keeps the native tuple of its checked hyperparameters and
    notes when it is edited, so that ``step()`` checks it again only after an edit (a step
    costs a few microseconds; checking every key each time would add a sizeable share).

    Setting ``lr`` to a float in the range known to pass every check that involves it (what
    a scheduler does each step) updates the kept tuple at once; any other edit marks the
    group, and the next step checks all of it.  What reaches the native step is always a
    checked value, never the object in the dict.
    """

    _dirty = True  # the kept tuple is stale: check the group again
    _hyper: tuple[Any, ...] = ()  # the native tuple of the values last checked
    _rest: tuple[Any, ...] = ()  # _hyper but its first value, lr (which leads every tuple)
    _lr_max = -1.0  # every float lr in [0, _lr_max] passes the checks (with the rest kept)

    # Each mutator stores first, then marks the group: a check running in another thread
    # clears the mark before it reads, so an edit is never lost.
    def __setitem__(self, key: Any, value: Any) -> None:
        _set(self, key, value)
        if key == "lr" and type(value) is float and 0.0 <= value <= self._lr_max:
            self._hyper = (value, *self._rest)
        else:
            self._dirty = True

    def __delitem__(self, key: Any) -> None:
        dict.__delitem__(self, key)
        self._dirty = True

    def __ior__(self, other: Any) -> ParamGroup:  # type: ignore[override,misc]
        dict.update(self, other)
        self._dirty = True
        return self

    def update(self, *args: Any, **kwargs: Any) -> None:
        dict.update(self, *args, **kwargs)
        self._dirty = True

    def setdefault(self, key: Any, default: Any = None) -> Any:
        out = dict.setdefault(self, key, default)
        self._dirty = True
        return out

    def pop(self, *args: Any) -> Any:
        out = dict.pop(self, *args)
        self._dirty = True
        return out

    def popitem(self) -> Any:
        out = dict.popitem(self)
        self._dirty = True
        return out

    def clear(self) -> None:
        dict.clear(self)
        self._dirty = True


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


_FLOAT32, _BF16, _INT8 = 0, 1, 2
_STATE_DTYPES = {"float32": _FLOAT32, "bfloat16": _BF16, "int8": _INT8}
_SCALE_KEYS = ("exp_avg_scale", "exp_avg_sq_scale")


class _StateFormat:
    """How an optimizer stores its moments: ``state_dtype``, ``block_size``, ``seed``."""

    __slots__ = ("block", "dtype", "kind", "seed")

    def __init__(self, dtype: str, block: int, seed: int) -> None:
        self.dtype, self.kind, self.block, self.seed = dtype, _STATE_DTYPES[dtype], block, seed

    @classmethod
    def make(cls, opt: type, state_dtype: Any, block_size: Any, seed: Any) -> _StateFormat:
        if not (isinstance(state_dtype, str) and state_dtype in _STATE_DTYPES):
            raise ValueError(f"state_dtype: expected 'float32', 'bfloat16' or 'int8', "
                             f"got {state_dtype!r}")
        if state_dtype != "float32" and not getattr(opt, "_compressible", False):
            raise ValueError(f"state_dtype={state_dtype!r}: compressed state is available for "
                             f"Adam and AdamW; {opt.__name__} keeps its state in the "
                             "parameters' dtype")
        _check_int("block_size", block_size, (256, 2048), "256 or 2048")
        return cls(state_dtype, int(block_size), _check_int("seed", seed, None, _SEED_RULE))

    def check_params(self, ps: Sequence[np.ndarray], gi: int) -> None:
        for k, p in enumerate(ps):
            if p.dtype != np.float32:
                raise TypeError(f"param_groups[{gi}]['params'][{k}]: state_dtype="
                                f"{self.dtype!r} needs float32 parameters, got {p.dtype}")

    def check_hypers(self, c: dict[str, Any], where: str) -> None:
        """Refuse the options compressed state cannot keep (amsgrad's third moment)."""
        if self.kind and c.get("amsgrad"):
            raise ValueError(f"{where}['amsgrad']: not available with state_dtype="
                             f"{self.dtype!r}")

    def slot_dtype(self, p: np.ndarray, slot: int) -> np.dtype[Any]:
        if self.kind == _BF16:
            return np.dtype(np.uint16)
        if self.kind == _INT8:
            return np.dtype(np.uint8)
        return p.dtype

    def zeros(self, p: np.ndarray, slot: int) -> np.ndarray:
        return np.zeros(p.shape, self.slot_dtype(p, slot))

    def scale_shape(self, p: np.ndarray) -> tuple[int, int]:
        rows, _, blocks = lowbit.block_layout(p.shape, self.block)
        return rows, blocks

    def scale_zeros(self, p: np.ndarray) -> np.ndarray:
        return np.zeros(self.scale_shape(p), np.float32)

    def extra_keys(self) -> tuple[str, ...]:
        return _SCALE_KEYS if self.kind == _INT8 else ()

    def values(self, src: np.ndarray) -> np.ndarray:
        """The state's values as numbers (bfloat16 bits decoded), for the load checks."""
        return lowbit.bf16_decode(src) if self.kind == _BF16 else src

    def hint(self) -> str:
        return f" (state_dtype={self.dtype!r})" if self.kind else ""

    def native(self, scales: list[np.ndarray]) -> tuple[int, int, int, list[np.ndarray]] | None:
        return (self.kind, self.block, self.seed, scales) if self.kind else None

    def as_dict(self) -> dict[str, Any]:
        return {"state_dtype": self.dtype, "block_size": self.block, "seed": self.seed}

    def loaded(self, d: Any, where: str) -> _StateFormat:
        """The format a state dict's ``state_format`` entry names, which must be this one's
        (the seed is taken from it)."""
        if d is None:
            d = {}
        if not isinstance(d, Mapping):
            raise TypeError(f"{where}['state_format']: expected a dict, got "
                            f"{type(d).__name__}")
        w = f"{where}['state_format']"
        dtype = d.get("state_dtype", "float32")
        if dtype != self.dtype:
            raise ValueError(f"{w}: the state is stored as {dtype!r}; this optimizer keeps "
                             f"{self.dtype!r} state (its state_dtype)")
        block = d.get("block_size", self.block)
        if self.kind == _INT8 and block != self.block:
            raise ValueError(f"{w}: the state has blocks of {block}; this optimizer's "
                             f"block_size is {self.block}")
        seed = _check_int(f"{w}['seed']", d.get("seed", self.seed), None, _SEED_RULE)
        return _StateFormat(self.dtype, self.block, seed)


_SEED_RULE = "an int in [0, 2**64)"


def _check_int(name: str, v: Any, allowed: tuple[int, ...] | None, rule: str) -> int:
    if isinstance(v, bool) or not isinstance(v, (int, np.integer)):
        raise TypeError(f"{name}: expected {rule}, got {type(v).__name__} {v!r}")
    if (allowed is not None and v not in allowed) or not 0 <= v < 2**64:
        raise ValueError(f"{name}: expected {rule}, got {v!r}")
    return int(v)


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


_PARAMS = """params : list of arrays, or list of dicts
        Writable, C-contiguous float32/float64 arrays, updated in place; or param groups,
        ``{"params": [...], "lr": ...}``, each with its own hyperparameters."""

_OPTIONS = """max_grad_norm : float, optional
        Clip the global L2 norm of all gradients to this value (torch's
        ``clip_grad_norm_``), inside the same native call.  Gradients are not modified.
    nonfinite : {"raise", "skip", "ignore"}
        What a step with a NaN/Inf gradient does.  "raise" (default) raises
        :class:`NonFiniteGradientError`; "skip" counts it in ``skipped_steps``; either way
        no parameter, state or step count changes.  "ignore" skips the check (one read of
        every gradient) and lets NaN/Inf reach the parameters, as torch.optim does.
    state_dtype : {"float32", "bfloat16", "int8"}
        How Adam and AdamW store their two moments for float32 parameters (other
        optimizers keep their state in the parameters' dtype).  "bfloat16" halves the state
        (uint16 arrays of bfloat16 bits, rounded stochastically); "int8" keeps a quarter of
        it (a uint8 code per element and a float32 scale per block and moment).  The step reads
        and writes the compressed form once (int8: in two passes over each block, in
        cache).  :mod:`msopt.reference.lowbit` spells out both rules.  amsgrad is not
        available with compressed state.
    block_size : {256, 2048}
        The block of int8 state: the elements (along a row of the parameter, viewed as
        ``(rows, -1)``) that share one scale per moment.
    seed : int
        The seed of the random bits of bfloat16 state's stochastic rounding (the same seed
        repeats a run bit for bit, whatever the thread count)."""


def _documented(cls: type) -> type:
    """Fill the ``params`` and common options' entries into an optimizer's Parameters."""
    cls.__doc__ = (cls.__doc__ or "").replace("    {params}", "    " + _PARAMS).replace(
        "    {options}", "    " + _OPTIONS)
    return cls


@_documented
class Optimizer:
    """Base class: param groups, state, ``step``, ``state_dict``.

    Every optimizer takes, besides its own hyperparameters:

    {params}
    {options}

    The hyperparameters of each group (``param_groups[i][key]``) may be edited between
    steps, as in torch.  Each is checked against the optimizer's rules (``_rules``: a
    bool, or a finite number in a range that also stays finite in the parameters' dtype)
    when the optimizer is built, when a state dict is loaded, and by the next ``step()``
    after an edit; a bad value raises TypeError or ValueError naming the group and the
    key, before anything is written.

    Subclasses name their native algorithm, their hyperparameters with their rules, the
    order the kernel reads them in, and the state each parameter keeps.
    """

    _algo: ClassVar[_core.Algo]
    _slots: ClassVar[tuple[str, ...]]
    _rules: ClassVar[dict[str, Rule]]
    _nonnegative: ClassVar[tuple[str, ...]] = ()  # state slots that hold sums of squares
    _pairs: ClassVar[tuple[str, ...]] = ()  # the keys whose rule is a pair (betas)
    _compressible: ClassVar[bool] = False  # whether state_dtype may compress the state

    def __init__(self, params: Iterable[Any], defaults: dict[str, Any], *,
                 max_grad_norm: float | None = None, nonfinite: str = "raise",
                 state_dtype: str = "float32", block_size: int = 256, seed: int = 0) -> None:
        self.max_grad_norm = max_grad_norm
        self.nonfinite = nonfinite
        self._format = _StateFormat.make(type(self), state_dtype, block_size, seed)
        self._scales: list[np.ndarray] = []  # int8 state: two scale arrays a parameter
        self.defaults = defaults
        self.param_groups: list[dict[str, Any]] = []
        self.skipped_steps = 0
        self.last_grad_norm: float | None = None
        self._params: list[np.ndarray] = []
        self._states: list[np.ndarray | None] = []
        self._steps = np.zeros(0, dtype=np.int64)
        self._sizes: list[int] = []
        self._group_params: list[tuple[np.ndarray, ...]] = []
        self._group_dtypes: list[np.dtype[Any]] = []
        groups: list[Any] = _param_list(params, "params")
        if not groups:
            raise ValueError("params: empty parameter list")
        if not isinstance(groups[0], Mapping):
            groups = [{"params": groups}]
        for g in groups:
            self.add_param_group(g)

    # -- settings checked when set ---------------------------------------------------
    @property
    def max_grad_norm(self) -> float | None:
        """The global gradient-norm clip (None: no clipping); a number > 0 (inf allowed)."""
        return self._max_grad_norm

    @max_grad_norm.setter
    def max_grad_norm(self, value: float | None) -> None:
        if value is not None:
            v = Rule._number(value)
            if v is None:
                raise TypeError(f"max_grad_norm: expected None or a number > 0, got "
                                f"{type(value).__name__} {value!r}")
            if not v > 0:  # NaN too
                raise ValueError(f"max_grad_norm: expected None or a number > 0, got "
                                 f"{value!r}")
            value = v
        self._max_grad_norm = value

    @property
    def nonfinite(self) -> str:
        """What a step with a NaN/Inf gradient does: "raise", "skip" or "ignore"."""
        return self._nonfinite

    @nonfinite.setter
    def nonfinite(self, value: str) -> None:
        if not (isinstance(value, str) and value in ("raise", "skip", "ignore")):
            raise ValueError(f"nonfinite: expected 'raise', 'skip' or 'ignore', got {value!r}")
        self._nonfinite = value

    # -- subclass hooks ------------------------------------------------------------
    def _check_group(self, c: dict[str, Any], where: str, dtype: np.dtype[Any]) -> None:
        """Checks that tie keys together or depend on the parameters' dtype, on the
        checked values ``c``; raise ValueError naming ``where``."""

    def _lr_ok(self, lr: float, c: dict[str, Any], big: float) -> bool:
        """Whether the rate ``lr`` (a float in [0, big]) passes the checks of
        :meth:`_check_group` that involve it, with the other values ``c``.  When it holds
        for a rate it must hold for every smaller one (ParamGroup's fast path relies on
        it)."""
        return True

    def _lr_max(self, c: dict[str, Any], big: float) -> float:
        """About the largest rate that passes :meth:`_lr_ok` (checked, and lowered to one
        that does)."""
        return big

    def _hyper(self, c: dict[str, Any]) -> tuple[Any, ...]:
        """The native tuple of the checked values ``c`` (the order csrc/msopt/optim reads;
        ``lr`` first)."""
        raise NotImplementedError

    def _needs(self, c: dict[str, Any]) -> tuple[bool, ...]:
        return (True,) * len(self._slots)

    def _late(self, c: dict[str, Any]) -> tuple[bool, ...]:
        """Per slot: whether a group edited to need it after the start may get it then (as
        zeros, at its next step), with torch.optim's result.  None by default: the step
        refuses such an edit (torch.optim fails on it too)."""
        return (False,) * len(self._slots)

    def _fill(self, slot: str, c: dict[str, Any]) -> float:
        return 0.0

    def _add_late_states(self, gi: int, c: dict[str, Any]) -> None:
        """The state arrays group ``gi`` needs since an edit and may get late (``_late``),
        added as zeros; their places are noted so that a refused step removes them."""
        needs, late = self._needs(c), self._late(c)
        if not any(n and ok for n, ok in zip(needs, late)):
            return
        first = sum(len(ps) for ps in self._group_params[:gi])
        fmt, added = self._format, len(self._added)
        for k, p in enumerate(self._group_params[gi]):
            for s, (need, ok) in enumerate(zip(needs, late)):
                at = (first + k) * _SLOTS + s
                if need and ok and self._states[at] is None:
                    self._states[at] = (fmt.zeros(p, s) if fmt.kind else
                                        np.full_like(p, self._fill(self._slots[s], c)))
                    self._added.append(at)
        if len(self._added) > added:  # tells msopt.torch to link the new state
            self.__dict__["_late_count"] = self.__dict__.get("_late_count", 0) + 1

    # -- checking hyperparameters ------------------------------------------------------
    def _checked_values(self, group: Mapping[str, Any], where: str, dtype: np.dtype[Any]
                        ) -> dict[str, Any]:
        """The group's hyperparameters checked by the rules: {key: float, bool or pair}."""
        if not isinstance(group, dict) and not isinstance(group, Mapping):
            raise TypeError(f"{where}: expected a dict, got {type(group).__name__}")
        c: dict[str, Any] = {}
        for key, kind, lo, hi in _fast_rules(type(self), dtype):
            try:
                v = group[key]
            except KeyError:
                raise ValueError(f"{where}: the key {key!r} is missing") from None
            # The common cases decided inline (NaN fails every comparison); the rest, and
            # every error message, by the rule itself.
            if kind == "number":
                if type(v) is float and lo <= v <= hi:
                    c[key] = v
                    continue
            elif kind == "bool":
                if v is True or v is False:
                    c[key] = v
                    continue
            elif (type(v) is tuple and len(v) == 2 and type(v[0]) is float
                  and type(v[1]) is float and lo <= v[0] <= hi and lo <= v[1] <= hi):
                c[key] = v
                continue
            c[key] = _check_key(self._rules[key], where, key, v, dtype)
        if "initial_lr" in group:
            c["initial_lr"] = _INITIAL_LR.check(where, "initial_lr", group["initial_lr"])
        self._check_group(c, where, dtype)
        return c

    def _keep(self, g: ParamGroup, c: dict[str, Any], dtype: np.dtype[Any]) -> None:
        """Note in ``g`` the native tuple of its checked values ``c`` and the range of
        rates its fast path accepts; store its pairs as tuples of floats (a list edited in
        place would go unseen)."""
        for key in self._pairs:
            dict.__setitem__(g, key, c[key])
        big = _LIMITS[dtype][0]
        hi = min(self._lr_max(c, big), big)  # lr's own rule: finite in the dtype
        while hi > 0 and not self._lr_ok(hi, c, big):  # _lr_ok grows with lr: one hi is
            hi = math.nextafter(hi, 0.0)               # enough to vouch for [0, hi]
        g._lr_max = -1.0  # (a fast path running meanwhile in another thread fails)
        g._hyper = hyper = self._hyper(c)
        g._rest = hyper[1:]
        g._lr_max = hi

    def _recheck(self, gi: int, g: Any) -> tuple[Any, ...]:
        """Check group ``gi`` (edited since its last check); keep the result in it."""
        tracked = type(g) is ParamGroup
        if tracked:
            g._dirty = False  # before reading: an edit made meanwhile marks it again
        try:
            c = self._checked_values(g, f"param_groups[{gi}]", self._group_dtypes[gi])
        except BaseException:
            if tracked:
                g._dirty = True  # still to be checked: the next step raises again
            raise
        self._add_late_states(gi, c)
        if not tracked:  # a plain dict put in by hand: checked at every step
            return self._hyper(c)
        self._keep(g, c, self._group_dtypes[gi])
        return g._hyper

    def _rate_error(self, gi: int, lr: Any) -> str | None:
        """Why the next step would refuse ``lr`` as group ``gi``'s rate (the message), or
        None when it would take it; for schedulers, which check a rate before setting it.
        A group holding another bad edit is left to the step (None)."""
        g = self.param_groups[gi]
        if type(g) is ParamGroup and not g._dirty and type(lr) is float \
                and 0.0 <= lr <= g._lr_max:
            return None
        where, dtype = f"param_groups[{gi}]", self._group_dtypes[gi]
        try:
            self._checked_values({**g, "lr": lr}, where, dtype)
            return None
        except (TypeError, ValueError) as e:
            error = str(e)
        try:
            self._checked_values(g, where, dtype)
        except (TypeError, ValueError):
            return None  # the group is refused anyway: the step names its bad key
        return error

    def _native_hypers(self) -> list[tuple[Any, ...]]:
        """One checked hyperparameter tuple per group, for the native step: groups edited
        since their last check are checked again first (so a bad edit raises here)."""
        groups, mine = self.param_groups, self._group_params
        if len(groups) != len(mine):
            raise ValueError("param_groups: groups were added or removed by hand; use "
                             "add_param_group")
        out = []
        for gi, g in enumerate(groups):
            if type(g) is ParamGroup and not g._dirty:
                out.append(g._hyper)
            else:
                out.append(self._recheck(gi, g))
            if g["params"] is not mine[gi]:
                raise ValueError("param_groups: parameters were replaced, added or removed "
                                 "by hand; build a new optimizer or use add_param_group")
        return out

    # -- groups --------------------------------------------------------------------
    def add_param_group(self, param_group: Mapping[str, Any]) -> None:
        """Add a group of parameters with its own hyperparameters (missing ones default)."""
        if not isinstance(param_group, Mapping) or "params" not in param_group:
            raise TypeError("param_group: expected a dict with a 'params' list")
        gi = len(self.param_groups)
        ps = _param_list(param_group["params"], f"param_groups[{gi}]['params']")
        for k, p in enumerate(ps):
            _check_param(p, f"param_groups[{gi}]['params'][{k}]")
        unknown = set(param_group) - set(self.defaults) - {"params", "initial_lr"}
        if unknown:
            raise TypeError(f"param_group: unknown hyperparameter(s) {sorted(unknown)}")
        group = ParamGroup({**self.defaults,
                            **{k: v for k, v in param_group.items() if k != "params"}})
        dtype = np.dtype(np.float32 if any(p.dtype == np.float32 for p in ps) else np.float64)
        c = self._checked_values(group, f"param_groups[{gi}]", dtype)
        _check_disjoint(self._params + ps)
        group["params"] = tuple(ps)  # a tuple: replacing a parameter in place is refused
        needs = self._needs(c)
        fmt = self._format
        if fmt.kind:
            fmt.check_params(ps, gi)
            fmt.check_hypers(c, f"param_groups[{gi}]")
        for p in ps:
            for s, (slot, need) in enumerate(zip(self._slots, needs)):
                self._states.append(fmt.zeros(p, s) if fmt.kind and need else
                                    np.full_like(p, self._fill(slot, c)) if need else None)
            self._states.extend([None] * (_SLOTS - len(self._slots)))
            if fmt.kind == _INT8:
                self._scales += [fmt.scale_zeros(p), fmt.scale_zeros(p)]
        self._group_params.append(group["params"])
        self._group_dtypes.append(dtype)
        self._keep(group, c, dtype)
        group._dirty = False
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
        TypeError, ValueError
            A bad gradient, or a hyperparameter edited into a bad value (the message names
            ``param_groups[i][key]``).  Nothing was changed.
        """
        # A private list: other threads may edit the caller's.
        grads = list(grads) if type(grads) is list else _grad_list(grads)
        try:
            hypers = self._native_hypers()
            finite, norm, _ = _core.optimizer_step(
                self._algo, self._params, grads, self._states, self._steps, hypers,
                self._sizes, self._max_grad_norm or 0.0, self._nonfinite != "ignore",
                self._format.native(self._scales))
        except BaseException:
            self._drop_added()
            raise
        if not finite and self._nonfinite != "skip":
            self._drop_added()
        self._added.clear()
        if finite:
            self.last_grad_norm = None if self._max_grad_norm is None else norm
        elif self._nonfinite == "skip":  # a step taken (and counted) as skipped
            self.last_grad_norm = None if self._max_grad_norm is None else math.nan
        if not finite:
            if self._nonfinite == "ignore":
                # Clipping needs a finite norm, so with max_grad_norm set the check is made
                # even under "ignore": a NaN/Inf gradient (or an overflowing norm) refuses
                # the step instead of scaling every gradient by NaN.
                raise NonFiniteGradientError(
                    "grads: the global gradient norm is not finite, so it cannot clip; no "
                    "parameter or state was changed.")
            if self._nonfinite == "raise":
                raise NonFiniteGradientError(
                    "grads: a gradient holds NaN or Inf (or the global norm overflowed); "
                    "no parameter or state was changed.  Pass nonfinite='skip' to skip "
                    "such steps instead.")
            self.skipped_steps += 1

    @property
    def _added(self) -> list[int]:
        """Places of the state arrays added late by the step under way (kept in the
        instance dict on first use: optimizers pickled before it existed load too)."""
        added: list[int] = self.__dict__.setdefault("_added_states", [])
        return added

    def _drop_added(self) -> None:
        """A refused step changes nothing: the state arrays it added late go again (and
        the groups are checked again at the next step, which adds them anew)."""
        if not self._added:
            return
        for at in self._added:
            self._states[at] = None
        self._added.clear()
        for g in self.param_groups:
            if type(g) is ParamGroup:
                g._dirty = True

    # -- state ---------------------------------------------------------------------
    def native_state(self) -> NativeState:
        """The optimizer's algorithm, hyperparameters, state arrays and step counters, for
        native runners (see :class:`NativeState`).  The arrays are live, not copies: a
        runner updates them in place, as :meth:`step` does.  The hyperparameters are
        checked as :meth:`step` checks them (TypeError/ValueError for a bad edit).  The one
        way code outside this module reaches the optimizer's internals.

        Native runners step float state only: an optimizer with compressed state
        (``state_dtype`` other than "float32") raises ValueError here."""
        if self._format.kind:
            raise ValueError(f"state_dtype={self._format.dtype!r}: compressed optimizer state "
                             "is stepped by Optimizer.step only; this model's native training "
                             "loop needs state_dtype='float32'")
        hypers = self._native_hypers()
        self._added.clear()  # the runner steps them: they stay
        return NativeState(self._algo, hypers, list(self._sizes), self._params, self._states,
                           self._steps, self._max_grad_norm or 0.0)

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
            if self._format.kind == _INT8:
                entry["exp_avg_scale"], entry["exp_avg_sq_scale"] = self._scales[2 * i:2 * i + 2]
            out[i] = entry
        return out

    @property
    def steps(self) -> np.ndarray:
        """The step count of each parameter, in flat parameter order: the live int64 array
        that :meth:`step` advances (read it; do not write it)."""
        return self._steps

    @property
    def state_format(self) -> dict[str, Any]:
        """How the state is stored: ``{"state_dtype", "block_size", "seed"}``."""
        return self._format.as_dict()

    @property
    def state_dtype(self) -> str:
        """How the moments are stored: "float32" (the parameters' dtype), "bfloat16" or
        "int8" (see the class's ``state_dtype`` parameter)."""
        return self._format.dtype

    @property
    def state_nbytes(self) -> int:
        """The bytes of optimizer state held (every state array and scale)."""
        arrays = [a for a in self._states if a is not None] + self._scales
        return sum(a.nbytes for a in arrays)

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
        out = {"optimizer": type(self).__name__, "state": state, "param_groups": groups}
        if self._format.kind:
            out["state_format"] = self._format.as_dict()
        return out

    def load_state_dict(self, state_dict: Mapping[str, Any]) -> None:
        """Restore a snapshot from :meth:`state_dict`.  Everything is checked before
        anything is changed (the hyperparameters by the same rules as the constructor's,
        the step counts, the state arrays' shapes, dtypes and values); state arrays are
        copied into the existing buffers."""
        where = "state_dict"
        if not isinstance(state_dict, Mapping):
            raise TypeError(f"state_dict: expected a dict, got {type(state_dict).__name__}")
        name = state_dict.get("optimizer", type(self).__name__)
        if not isinstance(name, str):
            raise TypeError(f"{where}['optimizer']: expected the optimizer's name, a str, "
                            f"got {type(name).__name__}")
        if name != type(self).__name__:
            raise ValueError(f"state_dict: it is from a {name} optimizer, not "
                             f"{type(self).__name__}")
        groups = state_dict.get("param_groups")
        if isinstance(groups, (str, bytes, Mapping)) or not isinstance(groups, Sequence):
            raise TypeError(f"{where}['param_groups']: expected a list of dicts, got "
                            f"{type(groups).__name__}")
        if len(groups) != len(self.param_groups):
            raise ValueError("state_dict: the number of param groups differs")
        start = 0
        checked = []
        for gi, (g, mine) in enumerate(zip(groups, self.param_groups)):
            gw = f"{where}['param_groups'][{gi}]"
            if not isinstance(g, Mapping):
                raise TypeError(f"{gw}: expected a dict, got {type(g).__name__}")
            want = list(range(start, start + len(mine["params"])))
            try:
                same = list(g.get("params", [])) == want
            except TypeError:
                same = False
            if not same:
                raise ValueError(f"state_dict: param group {gi} holds different parameters")
            start += len(want)
            extra = set(g) - set(self.defaults) - {"params", "initial_lr"}
            if extra:
                raise ValueError(f"state_dict: param group {gi} has unknown keys "
                                 f"{sorted(extra)}")
            merged = {k: v for k, v in {**mine, **g}.items() if k != "params"}
            checked.append(self._checked_values(merged, gw, self._group_dtypes[gi]))
            self._format.check_hypers(checked[-1], gw)
        fmt = self._format.loaded(state_dict.get("state_format"), where)
        state = state_dict.get("state", {})
        if not isinstance(state, Mapping):
            raise TypeError(f"{where}['state']: expected a dict, got {type(state).__name__}")
        new_states = list(self._states)
        writes: list[tuple[int, np.ndarray]] = []
        scale_writes: list[tuple[int, np.ndarray]] = []
        steps = self._steps.copy()
        group_of = [gi for gi, g in enumerate(self.param_groups) for _ in g["params"]]
        extra_keys = fmt.extra_keys()
        for i, p in enumerate(self._params):
            entry = state.get(i, state.get(str(i)))
            if entry is None:
                raise ValueError(f"state_dict: no state for parameter {i}")
            if not isinstance(entry, Mapping):
                raise TypeError(f"{where}['state'][{i}]: expected a dict, got "
                                f"{type(entry).__name__}")
            have = {k for k in entry if k != "step"} - set(extra_keys)
            unknown = have - set(self._slots)
            if unknown:
                raise ValueError(f"state_dict: parameter {i} has state {sorted(unknown)}, "
                                 f"which {type(self).__name__} does not keep")
            needs = self._needs(checked[group_of[i]])
            missing = {n for n, need in zip(self._slots, needs) if need} - have
            missing |= {k for k in extra_keys if k not in entry}
            if missing:
                raise ValueError(f"state_dict: parameter {i} lacks state {sorted(missing)}")
            for s, n in enumerate(self._slots):
                if n not in have:
                    new_states[i * _SLOTS + s] = None
                    continue
                src = np.asarray(entry[n])
                dtype = fmt.slot_dtype(p, s)
                if src.shape != p.shape or src.dtype != dtype:
                    raise ValueError(f"state_dict: state[{i}][{n!r}] has shape {src.shape} "
                                     f"and dtype {src.dtype}; the parameter needs "
                                     f"{p.shape} {dtype}" + fmt.hint())
                values = fmt.values(src)
                if np.isnan(values).any() or (n in self._nonnegative and (values < 0).any()):
                    rule = "holds NaN" if np.isnan(values).any() else "holds negative values"
                    raise ValueError(f"{where}['state'][{i}][{n!r}]: {rule}; a step would "
                                     f"write NaN into the parameter")
                writes.append((i * _SLOTS + s, src))
            for s, n in enumerate(extra_keys):
                src = np.asarray(entry[n])
                shape = fmt.scale_shape(p)
                if src.shape != shape or src.dtype != np.float32:
                    raise ValueError(f"state_dict: state[{i}][{n!r}] has shape {src.shape} "
                                     f"and dtype {src.dtype}; expected {shape} float32")
                if not (np.isfinite(src).all() and (src >= 0).all()):
                    raise ValueError(f"{where}['state'][{i}][{n!r}]: scales must be finite "
                                     "and >= 0")
                scale_writes.append((2 * i + s, src))
            step = entry.get("step", 0)
            if isinstance(step, _NOT_REAL) or not isinstance(step, (int, np.integer)):
                raise TypeError(f"{where}['state'][{i}]['step']: expected {_STEP_RULE}, got "
                                f"{type(step).__name__} {step!r}")
            if not 0 <= step <= MAX_STEP:
                raise ValueError(f"{where}['state'][{i}]['step']: expected {_STEP_RULE}, got "
                                 f"{step!r}")
            steps[i] = int(step)
        for k, src in scale_writes:
            np.copyto(self._scales[k], src)
        self._format = fmt
        for k, src in writes:
            dst = new_states[k]
            if dst is None:
                dst = new_states[k] = np.empty(src.shape, src.dtype)
            np.copyto(dst, src)
        self._states = new_states
        self._added.clear()
        self._steps[:] = steps
        for gi, (g, mine, c) in enumerate(zip(groups, self.param_groups, checked)):
            mine.update({k: v for k, v in g.items() if k != "params"})
            if type(mine) is ParamGroup:
                self._keep(mine, c, self._group_dtypes[gi])
                mine._dirty = False

    def __repr__(self) -> str:
        lines = [f"{type(self).__name__} ("]
        for i, g in enumerate(self.param_groups):
            lines.append(f"Parameter Group {i}")
            lines += [f"    {k}: {v}" for k, v in sorted(g.items()) if k != "params"]
        fmt = self._format
        if fmt.kind:
            lines.append(f"state_dtype: {fmt.dtype}" + (f" (blocks of {fmt.block})"
                                                        if fmt.kind == _INT8 else ""))
        return "\n".join(lines + [")"])


def _param_list(ps: Any, where: str) -> list[Any]:
    """The parameters (or param groups) given as ``ps``: one array, or an iterable of
    them (a private list)."""
    if isinstance(ps, np.ndarray):
        return [ps]
    if isinstance(ps, (str, bytes, Mapping)) or not isinstance(ps, Iterable):
        raise TypeError(f"{where}: expected a list of arrays (or of param group dicts), got "
                        f"{type(ps).__name__}")
    try:
        return list(ps)
    except TypeError as e:  # an iterable whose iteration fails
        raise TypeError(f"{where}: could not iterate over it ({e})") from None


def _grad_list(grads: Any) -> list[Any]:
    """``step``'s gradients as a private list, when not given as a list."""
    what = type(grads).__name__
    if isinstance(grads, np.ndarray):
        raise TypeError("grads: expected a sequence with one gradient per parameter, "
                        "got a single array (wrap it in a list)")
    if isinstance(grads, RowGrad):
        raise TypeError("grads: expected a sequence with one gradient per parameter, "
                        "got a single RowGrad (wrap it in a list)")
    if isinstance(grads, (str, bytes, Mapping)) or not isinstance(grads, Iterable):
        raise TypeError(f"grads: expected a sequence with one gradient per parameter, got "
                        f"{what}")
    try:
        return list(grads)
    except TypeError as e:  # an iterable whose iteration fails
        raise TypeError(f"grads: could not iterate over the {what} ({e})") from None


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


_BOOL = Rule("bool")
_NONNEG = Rule("number")  # finite, >= 0
_POS = Rule("number", lo_open=True)  # finite, > 0 (eps)


def _check_decay(c: dict[str, Any], where: str, dtype: np.dtype[Any], decoupled: bool
                 ) -> None:
    """Decoupled weight decay multiplies by 1 - lr * weight_decay: that must be finite in
    the parameters' dtype."""
    if decoupled and not c["lr"] * c["weight_decay"] <= _LIMITS[dtype][0]:
        raise ValueError(f"{where}['weight_decay']: the decay factor 1 - lr * weight_decay "
                         f"overflows {dtype}, the dtype of the group's parameters (lr = "
                         f"{c['lr']:g}, weight_decay = {c['weight_decay']:g})")


@_documented
class SGD(Optimizer):
    """Stochastic gradient descent with optional momentum (torch.optim.SGD).

    Parameters
    ----------
    {params}
    lr : float, default 1e-3
        The learning rate.
    momentum : float, default 0
        The momentum factor; 0 keeps no buffer.
    dampening : float, default 0
        Dampening of the momentum: the buffer adds ``(1 - dampening) * grad``.
    weight_decay : float, default 0
        L2 penalty, added to the gradient as ``weight_decay * param``.
    nesterov : bool, default False
        Nesterov momentum (needs momentum > 0 and dampening == 0).
    maximize : bool, default False
        Step up the gradient instead of down.
    {options}

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

    _rules = {"lr": _NONNEG, "momentum": _NONNEG, "dampening": Rule("number", -math.inf),
              "weight_decay": _NONNEG, "nesterov": _BOOL, "maximize": _BOOL}

    def _check_group(self, c: dict[str, Any], where: str, dtype: np.dtype[Any]) -> None:
        if c["nesterov"] and (c["momentum"] <= 0 or c["dampening"] != 0):
            raise ValueError(f"{where}['nesterov']: nesterov requires momentum > 0 and "
                             "dampening == 0")

    def _hyper(self, c: dict[str, Any]) -> tuple[Any, ...]:
        return (c["lr"], c["momentum"], c["dampening"], c["weight_decay"], c["nesterov"],
                c["maximize"])

    def _needs(self, c: dict[str, Any]) -> tuple[bool, ...]:
        return (c["momentum"] != 0,)

    def _late(self, c: dict[str, Any]) -> tuple[bool, ...]:
        # Momentum turned on after the start (a scheduler cycling it, OneCycleLR say): the
        # buffer starts at zero, so its first step is momentum * 0 + g = g, torch.optim's
        # copy of the gradient.  With dampening that step would be (1 - dampening) g
        # instead, so such an edit is still refused.
        return (c["dampening"] == 0,)


@_documented
class Adam(Optimizer):
    """Adam with L2 (coupled) weight decay and optional AMSGrad (torch.optim.Adam).

    Parameters
    ----------
    {params}
    lr : float, default 1e-3
        The learning rate.
    betas : (float, float), default (0.9, 0.999)
        Decay rates of the first and second moment averages, each in [0, 1).
    eps : float, default 1e-8
        Added to the denominator's square root.
    weight_decay : float, default 0 (AdamW: 1e-2)
        Adam: L2 penalty added to the gradient.  AdamW: decoupled decay, the parameter
        shrinks by ``lr * weight_decay`` each step.
    amsgrad : bool, default False
        Divide by the running maximum of the second moment (one more state array).
    maximize : bool, default False
        Step up the gradient instead of down.
    {options}

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
    _compressible = True

    def __init__(self, params: Iterable[Any], lr: float = 1e-3,
                 betas: tuple[float, float] = (0.9, 0.999), eps: float = 1e-8,
                 weight_decay: float | None = None, amsgrad: bool = False, *,
                 maximize: bool = False, **kw: Any) -> None:
        wd = self._default_wd if weight_decay is None else weight_decay
        super().__init__(params, dict(lr=lr, betas=betas, eps=eps, weight_decay=wd,
                                      amsgrad=amsgrad, maximize=maximize), **kw)

    _rules = {"lr": _NONNEG, "betas": Rule("pair", 0.0, 1.0, hi_open=True), "eps": _POS,
              "weight_decay": _NONNEG, "amsgrad": _BOOL, "maximize": _BOOL}
    _nonnegative = ("exp_avg_sq", "max_exp_avg_sq")
    _pairs = ("betas",)

    def _check_group(self, c: dict[str, Any], where: str, dtype: np.dtype[Any]) -> None:
        # The first step moves by up to lr / (1 - beta1) (times |m / sqrt(v)| <= about 1):
        # that step size must be a finite number of the parameters' dtype.
        size = c["lr"] / (1.0 - c["betas"][0])
        if not size <= _LIMITS[dtype][0]:
            raise ValueError(f"{where}['lr']: the first step's size lr / (1 - betas[0]) = "
                             f"{size:g} overflows {dtype}, the dtype of the group's "
                             "parameters")
        _check_decay(c, where, dtype, self._algo == _core.Algo.ADAMW)

    def _lr_ok(self, lr: float, c: dict[str, Any], big: float) -> bool:
        return lr / (1.0 - c["betas"][0]) <= big and (
            self._algo != _core.Algo.ADAMW or lr * c["weight_decay"] <= big)

    def _lr_max(self, c: dict[str, Any], big: float) -> float:
        hi = big * (1.0 - c["betas"][0])
        if self._algo == _core.Algo.ADAMW and c["weight_decay"] > 0:
            hi = min(hi, big / c["weight_decay"])
        return hi

    def _hyper(self, c: dict[str, Any]) -> tuple[Any, ...]:
        b1, b2 = c["betas"]
        return (c["lr"], b1, b2, c["eps"], c["weight_decay"], c["amsgrad"], c["maximize"])

    def _needs(self, c: dict[str, Any]) -> tuple[bool, ...]:
        return (True, True, c["amsgrad"])


@_documented
class AdamW(Adam):
    """Adam with decoupled weight decay, ``p *= 1 - lr * weight_decay`` (torch.optim.AdamW).

    Parameters
    ----------
    params, lr, betas, eps, amsgrad, maximize
        As :class:`Adam`'s.
    weight_decay : float, default 1e-2
        Decoupled decay: each step multiplies the parameter by ``1 - lr * weight_decay``.
    {options}
    """

    _algo = _core.Algo.ADAMW
    _default_wd = 1e-2


@_documented
class Adagrad(Optimizer):
    """Adagrad (torch.optim.Adagrad).

    Parameters
    ----------
    {params}
    lr : float, default 1e-2
        The learning rate.
    lr_decay : float, default 0
        Step t uses ``lr / (1 + (t - 1) * lr_decay)``.
    weight_decay : float, default 0
        L2 penalty added to the gradient.
    initial_accumulator_value : float, default 0
        The starting value of the sum of squared gradients.
    eps : float, default 1e-10
        Added to the denominator's square root.
    maximize : bool, default False
        Step up the gradient instead of down.
    {options}

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

    _rules = {"lr": _NONNEG, "lr_decay": _NONNEG, "weight_decay": _NONNEG,
              "initial_accumulator_value": _NONNEG, "eps": _POS, "maximize": _BOOL}
    _nonnegative = ("sum",)

    def _hyper(self, c: dict[str, Any]) -> tuple[Any, ...]:
        return (c["lr"], c["lr_decay"], c["weight_decay"], c["eps"], c["maximize"])

    def _fill(self, slot: str, c: dict[str, Any]) -> float:
        return float(c["initial_accumulator_value"])


@_documented
class RMSprop(Optimizer):
    """RMSprop with optional momentum and centering (torch.optim.RMSprop).

    Parameters
    ----------
    {params}
    lr : float, default 1e-2
        The learning rate.
    alpha : float, default 0.99
        Decay rate of the average of squared gradients, in [0, 1].
    eps : float, default 1e-8
        Added to the denominator's square root.
    weight_decay : float, default 0
        L2 penalty added to the gradient.
    momentum : float, default 0
        Momentum of the scaled step; 0 keeps no buffer.
    centered : bool, default False
        Divide by the gradient's estimated variance (subtract the average gradient's
        square; one more state array).
    maximize : bool, default False
        Step up the gradient instead of down.
    {options}
    """

    _algo = _core.Algo.RMSPROP
    _slots = ("square_avg", "momentum_buffer", "grad_avg")

    def __init__(self, params: Iterable[Any], lr: float = 1e-2, alpha: float = 0.99,
                 eps: float = 1e-8, weight_decay: float = 0.0, momentum: float = 0.0,
                 centered: bool = False, *, maximize: bool = False, **kw: Any) -> None:
        super().__init__(params, dict(lr=lr, alpha=alpha, eps=eps, weight_decay=weight_decay,
                                      momentum=momentum, centered=centered,
                                      maximize=maximize), **kw)

    _rules = {"lr": _NONNEG, "alpha": Rule("number", 0.0, 1.0), "eps": _POS,
              "weight_decay": _NONNEG, "momentum": _NONNEG, "centered": _BOOL,
              "maximize": _BOOL}
    _nonnegative = ("square_avg",)

    def _hyper(self, c: dict[str, Any]) -> tuple[Any, ...]:
        return (c["lr"], c["alpha"], c["eps"], c["weight_decay"], c["momentum"],
                c["centered"], c["maximize"])

    def _needs(self, c: dict[str, Any]) -> tuple[bool, ...]:
        return (True, c["momentum"] != 0, c["centered"])


@_documented
class Lion(Optimizer):
    """Lion, the sign-momentum optimizer of Chen et al. (2023), with decoupled decay.

    Parameters
    ----------
    {params}
    lr : float, default 1e-4
        The learning rate (each step moves every element by lr times a sign).
    betas : (float, float), default (0.9, 0.99)
        The interpolation of the update's sign, and the decay of the momentum.
    weight_decay : float, default 0
        Decoupled decay: the parameter shrinks by ``lr * weight_decay`` each step.
    maximize : bool, default False
        Step up the gradient instead of down.
    {options}
    """

    _algo = _core.Algo.LION
    _slots = ("exp_avg",)

    def __init__(self, params: Iterable[Any], lr: float = 1e-4,
                 betas: tuple[float, float] = (0.9, 0.99), weight_decay: float = 0.0, *,
                 maximize: bool = False, **kw: Any) -> None:
        super().__init__(params, dict(lr=lr, betas=betas, weight_decay=weight_decay,
                                      maximize=maximize), **kw)

    _rules = {"lr": _NONNEG, "betas": Rule("pair", 0.0, 1.0), "weight_decay": _NONNEG,
              "maximize": _BOOL}
    _pairs = ("betas",)

    def _check_group(self, c: dict[str, Any], where: str, dtype: np.dtype[Any]) -> None:
        _check_decay(c, where, dtype, True)

    def _lr_ok(self, lr: float, c: dict[str, Any], big: float) -> bool:
        return lr * c["weight_decay"] <= big

    def _lr_max(self, c: dict[str, Any], big: float) -> float:
        return big / c["weight_decay"] if c["weight_decay"] > 0 else big

    def _hyper(self, c: dict[str, Any]) -> tuple[Any, ...]:
        b1, b2 = c["betas"]
        return (c["lr"], b1, b2, c["weight_decay"], c["maximize"])


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
    where = "state_dict"
    if not isinstance(state_dict, Mapping):
        raise TypeError(f"{where}: expected a dict, got {type(state_dict).__name__}")
    for key in ("optimizer", "state", "param_groups"):
        if key not in state_dict:
            raise ValueError(f"{where}: the key {key!r} is missing (not a state dict)")
    name, state, groups = (state_dict[k] for k in ("optimizer", "state", "param_groups"))
    if not isinstance(name, str):
        raise TypeError(f"{where}['optimizer']: expected a str, got {type(name).__name__}")
    if not isinstance(state, Mapping):
        raise TypeError(f"{where}['state']: expected a dict, got {type(state).__name__}")
    if isinstance(groups, (str, bytes, Mapping)) or not isinstance(groups, Sequence):
        raise TypeError(f"{where}['param_groups']: expected a list of dicts, got "
                        f"{type(groups).__name__}")
    flat: dict[str, np.ndarray] = {"optimizer": np.array(name)}
    for i, entry in state.items():
        if not isinstance(entry, Mapping):
            raise TypeError(f"{where}['state'][{i!r}]: expected a dict, got "
                            f"{type(entry).__name__}")
        for k, v in entry.items():
            flat[f"state/{i}/{k}"] = _flat_value(v, f"{where}['state'][{i!r}][{k!r}]")
    for gi, g in enumerate(groups):
        if not isinstance(g, Mapping):
            raise TypeError(f"{where}['param_groups'][{gi}]: expected a dict, got "
                            f"{type(g).__name__}")
        for k, v in g.items():
            flat[f"param_groups/{gi}/{k}"] = _flat_value(
                v, f"{where}['param_groups'][{gi}][{k!r}]")
    fmt = state_dict.get("state_format")
    if isinstance(fmt, Mapping):
        for k, v in fmt.items():
            flat[f"state_format/{k}"] = _flat_value(v, f"{where}['state_format'][{k!r}]")
    return flat


def _flat_value(v: Any, where: str) -> np.ndarray:
    """``v`` as a NumPy array that ``np.savez`` writes without pickling."""
    try:
        a = np.asarray(v)
    except (TypeError, ValueError) as e:  # a ragged list, say
        raise ValueError(f"{where}: cannot be stored as an array ({e})") from None
    if a.dtype.hasobject:
        raise TypeError(f"{where}: expected numbers or arrays, got {type(v).__name__}")
    return a


def _scalar(a: np.ndarray) -> Any:
    return a.item() if a.ndim == 0 else a


def unflatten_state_dict(flat: Mapping[str, np.ndarray]) -> dict[str, Any]:
    """Inverse of :func:`flatten_state_dict` (accepts the mapping ``np.load`` returns)."""
    if not isinstance(flat, Mapping):
        raise TypeError(f"flat: expected a mapping of arrays (what np.load returns), got "
                        f"{type(flat).__name__}")
    if "optimizer" not in flat:
        raise ValueError("flat: not a flattened state dict (no 'optimizer' key)")
    name = np.asarray(flat["optimizer"])
    if name.ndim != 0 or name.dtype.kind != "U":
        raise ValueError(f"flat['optimizer']: expected the optimizer's name, got {name!r}")
    out: dict[str, Any] = {"optimizer": str(name), "state": {}, "param_groups": []}
    groups: dict[int, dict[str, Any]] = {}
    for key in flat:
        if not isinstance(key, str):
            raise TypeError(f"flat: expected str keys, got {type(key).__name__} {key!r}")
        parts = key.split("/")
        if parts[0] == "state_format" and len(parts) == 2:
            out.setdefault("state_format", {})[parts[1]] = _scalar(np.asarray(flat[key]))
            continue
        if parts[0] not in ("state", "param_groups") or len(parts) != 3:
            continue  # the name, or an entry this version does not know
        try:
            a = np.asarray(flat[key])
            index = int(parts[1])
            if parts[0] == "state":
                entry = out["state"].setdefault(index, {})
                entry[parts[2]] = _int_item(a) if parts[2] == "step" else a
            else:
                g = groups.setdefault(index, {})
                if parts[2] == "params":
                    if a.ndim != 1 or (a.size and a.dtype.kind not in "iu"):
                        raise ValueError("expected a 1-D array of parameter indices")
                    g["params"] = [int(x) for x in a]
                else:
                    g[parts[2]] = tuple(a.tolist()) if a.ndim == 1 else _scalar(a)
        except (TypeError, ValueError, OverflowError) as e:
            raise ValueError(f"flat[{key!r}]: not a flattened state dict entry ({e})") from None
    out["param_groups"] = [groups[k] for k in sorted(groups)]
    return out


def _int_item(a: np.ndarray) -> int:
    if a.ndim != 0 or a.dtype.kind not in "iu":
        raise ValueError(f"expected an integer step count, got {a!r}")
    return int(a)


# The optimizers by the lower-case names the models take (``optimizer="adam"``).
OPTIMIZERS: dict[str, type[Optimizer]] = {
    "sgd": SGD, "adam": Adam, "adamw": AdamW, "adagrad": Adagrad, "rmsprop": RMSprop,
    "lion": Lion,
}


def make_optimizer(name: str, params: list[np.ndarray], lr: float,
                   max_grad_norm: float | None = None,
                   options: dict[str, Any] | None = None) -> Optimizer:
    """The optimizer a model names (a key of OPTIMIZERS, any case) over its parameters; a
    keyword its class refuses is a TypeError naming ``optimizer_params``."""
    cls: Any = OPTIMIZERS[name.lower()]
    try:
        return cls(params, lr=float(lr), max_grad_norm=max_grad_norm, **(options or {}))
    except TypeError as e:
        raise TypeError(f"optimizer_params: {e}") from None
