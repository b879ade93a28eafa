"""The one property every entry point must keep under a perturbed call.

A call made with one argument perturbed must either

* raise ``TypeError``, ``ValueError``, ``IndexError`` or ``NotFittedError`` (or an error a
  spec documents, e.g. ``NonFiniteGradientError``) whose message names the perturbed
  argument (or a documented alias), with every array argument and every attribute of the
  object unchanged byte for byte; or
* succeed with a result that equals the NumPy reference where there is one, and otherwise is
  finite and of the expected shape and dtype, leaving the arguments it only reads unchanged.

Anything else (another exception type, a message that does not name the argument, a
rejected call that changed something, a non-finite result) fails.  A crash of the process
also fails the run: the fuzz tests run in the pytest process.
"""

from __future__ import annotations

import math
import struct
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from hypothesis import note
from hypothesis import strategies as st

from msopt.exceptions import NotFittedError

from .strategies import describe, perturb

REFUSALS = (TypeError, ValueError, IndexError, NotFittedError)
# Refusals that need not name an argument: an allocation the machine cannot make (a huge
# but virtual input, or a size the caller asked for) must fail cleanly and change nothing.
SIZE_REFUSALS = (MemoryError,)
# pybind11's own messages: they name no argument (a range or cast the binding left to it).
GENERIC = ("incompatible function arguments", "Unable to cast Python instance")


# -- snapshots ----------------------------------------------------------------------------
def snapshot(x: Any, _memo: dict[int, Any] | None = None, _depth: int = 0) -> Any:
    """A comparable deep copy: arrays by dtype, shape, strides, flags and bytes; floats by
    their bits (so NaN equals NaN); objects by their ``__dict__``; native objects by their
    public properties.  Equal snapshots mean byte-for-byte identical state."""
    # id -> (order, the object): the object is kept so that its id is not handed to another
    # one while the snapshot runs (an object's __dict__ or slots are copied into a temporary
    # dict; freed, its id went to the next such dict, which then read as "seen")
    memo = {} if _memo is None else _memo
    if id(x) in memo:
        return ("seen", memo[id(x)][0])
    if _depth > 40:
        return ("deep",)
    if x is None or isinstance(x, (bool, int, str, bytes)):
        return (type(x).__name__, x)
    if isinstance(x, float):
        return ("float", struct.pack("<d", x))
    if isinstance(x, complex):
        return ("complex", struct.pack("<dd", x.real, x.imag))
    memo[id(x)] = (len(memo), x)
    d = _depth + 1
    if isinstance(x, np.ndarray):
        if x.nbytes > 1 << 26:  # a huge virtual view: its memory is its base's
            base = x
            while isinstance(base.base, np.ndarray) and base.nbytes > 1 << 26:
                base = base.base
            inner = snapshot(base, memo, d) if base is not x else ("unsnapshotable",)
            return ("view", x.dtype.str, x.shape, x.strides, x.flags.writeable, inner)
        if x.dtype.hasobject:
            data: Any = tuple(snapshot(v, memo, d) for v in x.reshape(-1).tolist())
        else:
            data = np.ascontiguousarray(x).tobytes()
        return ("ndarray", x.dtype.str, x.shape, x.flags.writeable, data)
    if isinstance(x, np.generic):
        return ("npscalar", x.dtype.str, np.asarray(x).tobytes() if not x.dtype.hasobject
                else repr(x))
    if isinstance(x, dict):
        return ("dict", tuple((repr(k), snapshot(v, memo, d)) for k, v in x.items()))
    if isinstance(x, (list, tuple, set, frozenset)):
        items = sorted(x, key=repr) if isinstance(x, (set, frozenset)) else x
        return (type(x).__name__, tuple(snapshot(v, memo, d) for v in items))
    if callable(x) and not hasattr(x, "__dict__"):
        return ("callable", repr(x))
    mod = type(x).__module__ or ""
    if mod.startswith("msopt._core") or (not hasattr(x, "__dict__") and
                                         not hasattr(x, "__slots__")):
        props = []
        for name in dir(x):
            if name.startswith("_"):
                continue
            try:
                v = getattr(x, name)
            except Exception as e:  # an unbuilt native object may refuse
                props.append((name, ("raises", type(e).__name__)))
                continue
            if callable(v):
                continue
            props.append((name, snapshot(v, memo, d)))
        return ("native", type(x).__qualname__, tuple(props))
    state = dict(getattr(x, "__dict__", {}))
    for s in getattr(type(x), "__slots__", ()):
        if hasattr(x, s):
            state[s] = getattr(x, s)
    return ("object", type(x).__qualname__, snapshot(state, memo, d))


def first_difference(a: Any, b: Any, path: str = "") -> str | None:
    """Where two snapshots first differ (for the failure message), or None."""
    if a == b:
        return None
    if isinstance(a, tuple) and isinstance(b, tuple) and a[:1] == b[:1]:
        if a[:1] == ("dict",) and len(a) == len(b) == 2:
            ka, kb = dict(a[1]), dict(b[1])
            for k in ka.keys() | kb.keys():
                if ka.get(k) != kb.get(k):
                    return first_difference(ka.get(k), kb.get(k), f"{path}[{k}]")
        if len(a) == len(b):
            for i, (x, y) in enumerate(zip(a, b)):
                if x != y:
                    label = f".{x}" if isinstance(x, str) else f"/{i}"
                    return first_difference(x, y, path + label)
    return path or "/"


# -- entry points -------------------------------------------------------------------------
@dataclass
class Spec:
    """One entry point.

    make(rng) -> (target, kwargs): a fresh target object (or None) and a valid argument set
        built from the generator (tiny data).
    call(target, kwargs) -> result: the call under test.
    names: argument -> the names its error message may use (default: the argument's own).
    mutable: arguments the call updates in place by design (parameters, tables).
    check(target, kwargs, result, perturbed): the success property; raise AssertionError.
    accept: further exception types that are documented refusals (they must still leave
        everything unchanged, but need not name the argument).
    fixed: arguments never perturbed.
    work: arguments that set an amount of work (epochs, sizes, data read whole): perturbed,
        but never to a valid huge value (1000 < v < 2**64, or a virtual array of more than
        2**24 elements) that would only make the call run for hours.
    related: arguments whose shapes are checked against each other: an array of the wrong
        size may be reported under any of them (``b: expected shape (0,)`` for a bad W).
    generic_ok: pybind11's "incompatible function arguments" TypeError (which lists the
        whole signature) counts as naming the argument (private ``_core`` functions only).
    xfail: the reason the entry point is expected to fail for now (tracked, not strict).
    """

    name: str
    make: Callable[[np.random.Generator], tuple[Any, dict[str, Any]]]
    call: Callable[[Any, dict[str, Any]], Any]
    names: dict[str, tuple[str, ...]] = field(default_factory=dict)
    mutable: tuple[str, ...] = ()
    check: Callable[[Any, dict[str, Any], Any, Any], None] | None = None
    accept: tuple[type[BaseException], ...] = ()
    fixed: tuple[str, ...] = ()
    work: tuple[str, ...] = ()
    related: tuple[str, ...] = ()
    generic_ok: bool = False
    xfail: str | None = None

    def __str__(self) -> str:
        return self.name


def _arraylike(v: Any) -> bool:
    return isinstance(v, (np.ndarray, list, tuple))


def _huge_work(v: Any) -> bool:
    if isinstance(v, (bool, np.bool_)):
        return False
    # either sign: a range from -2e9 to 0 is as much work as one from 0 to 2e9 (a
    # Schedule.rates(start=-2e9, stop=0) case once asked for 16 GB)
    if isinstance(v, (int, np.integer)):
        return 1000 < abs(int(v)) < 2**64
    if isinstance(v, (float, np.floating)):
        return 1000 < abs(float(v)) < 2.0**64
    if isinstance(v, np.ndarray):  # data the call must read whole: huge is slow, not wrong
        return v.size > 1 << 24
    return False


def nonfinite(v: Any) -> bool:
    """True when the data ``v`` holds a NaN or Inf (or an over-large number): then a
    non-finite result is the data's, not the library's.  Scalars (hyperparameters) are not
    exempt: an accepted ``lr=nan`` must not produce NaN."""
    if isinstance(v, np.ndarray) and v.dtype.kind in "fc":
        try:
            return not bool(np.isfinite(v).all()) or bool((np.abs(v) > 1e30).any())
        except Exception:
            return True
    if isinstance(v, np.ndarray) and v.dtype.hasobject:
        return any(nonfinite(x) for x in v.reshape(-1).tolist()[:100])
    if isinstance(v, (list, tuple)):
        return any(nonfinite(x) for x in v if isinstance(x, (np.ndarray, list, tuple, dict)))
    if isinstance(v, dict):
        return any(nonfinite(x) for x in v.values()
                   if isinstance(x, (np.ndarray, list, tuple, dict)))
    return False


def assert_finite(result: Any, where: str = "result") -> None:
    if isinstance(result, np.ndarray) and result.dtype.kind in "fc":
        assert np.isfinite(result).all(), f"{where}: non-finite values after an accepted call"
    elif isinstance(result, (float, np.floating)):
        assert math.isfinite(float(result)), f"{where}: {result!r} after an accepted call"
    elif isinstance(result, (list, tuple)):
        for i, r in enumerate(result):
            assert_finite(r, f"{where}[{i}]")


def _check_refusal(spec: Spec, key: str, e: BaseException, target: Any,
                   kwargs: dict[str, Any], before_target: Any, before_args: dict[str, Any]
                   ) -> None:
    """A refused call names the argument (or is a documented refusal) and changed nothing."""
    msg = str(e)
    names = spec.names.get(key, (key,))
    if key in spec.related:
        names = names + tuple(k for k in spec.related if k != key)
    generic = any(g in msg for g in GENERIC)
    assert not generic or (spec.generic_ok and isinstance(e, TypeError)), (
        f"{spec.name}: pybind11's generic {type(e).__name__} instead of a message naming "
        f"{key!r}: {msg[:300]!r}")
    if not isinstance(e, spec.accept + SIZE_REFUSALS) and not generic:
        assert any(n in msg for n in names), (
            f"{spec.name}: {type(e).__name__} does not name {key!r} (nor {names[1:]}): "
            f"{msg!r}")
    diff = first_difference(before_target, snapshot(target))
    assert diff is None, (f"{spec.name}: a rejected call ({type(e).__name__}: {msg}) "
                          f"changed the object at {diff}")
    for k, v in kwargs.items():
        diff = first_difference(before_args[k], snapshot(v))
        assert diff is None, (f"{spec.name}: a rejected call ({type(e).__name__}: {msg}) "
                              f"changed argument {k!r} at {diff}")


def check_call(spec: Spec, data: st.DataObject) -> None:
    """Draw a valid call, perturb one argument, call, and assert the property."""
    seed = data.draw(st.integers(0, 2**32 - 1), label="seed")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        target, kwargs = spec.make(np.random.default_rng(seed))
    keys = [k for k in kwargs if k not in spec.fixed]
    key = data.draw(st.sampled_from(keys), label="argument")
    strategy = perturb(kwargs[key])
    if key in spec.work:
        strategy = strategy.filter(lambda v: not _huge_work(v))
    value = data.draw(strategy, label=f"{key}")
    kwargs = {**kwargs, key: value}
    note(f"{spec.name}: {key} = {describe(value)}")
    before_target = snapshot(target)
    before_args = {k: snapshot(v) for k, v in kwargs.items()}
    error: BaseException | None = None
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # the property is about results, not warnings
            result = spec.call(target, kwargs)
    except spec.accept + SIZE_REFUSALS + REFUSALS as e:
        error = e
    if error is not None:
        _check_refusal(spec, key, error, target, kwargs, before_target, before_args)
        return
    # accepted: the arguments only read are unchanged, and the result is sound
    for k, v in kwargs.items():
        if k in spec.mutable:
            continue
        diff = first_difference(before_args[k], snapshot(v))
        assert diff is None, f"{spec.name}: argument {k!r} changed at {diff}"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the references' own overflow warnings
        if spec.check is not None:
            spec.check(target, kwargs, result, value)
        elif not nonfinite(value):
            assert_finite(result)


def check_valid(spec: Spec, seed: int) -> None:
    """The unperturbed call succeeds, passes the success property and changes no argument
    it only reads (a check of the spec itself)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # ConvergenceWarning of 3-epoch fits
        target, kwargs = spec.make(np.random.default_rng(seed))
        before_args = {k: snapshot(v) for k, v in kwargs.items()}
        result = spec.call(target, kwargs)
    for k, v in kwargs.items():
        if k not in spec.mutable:
            diff = first_difference(before_args[k], snapshot(v))
            assert diff is None, f"{spec.name}: argument {k!r} changed at {diff}"
    if spec.check is not None:
        spec.check(target, kwargs, result, None)
    else:
        assert_finite(result)
