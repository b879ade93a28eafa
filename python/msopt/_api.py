"""What every public msopt model shares: keyword aliases with a helpful error for a wrong
keyword, scikit-learn style ``get_params``/``set_params``, and a short ``repr``."""

from __future__ import annotations

import difflib
import functools
import inspect
import math
import os
from collections.abc import Callable, Mapping
from typing import Any, TypeVar

import numpy as np

__all__ = ["INT32_MAX", "INT64_MAX", "MAX_EPOCHS", "MAX_THREADS", "UINT64_MAX", "ParamsMixin",
           "check_bool", "check_choice", "check_int", "check_memory", "check_number",
           "check_seed", "int_bound", "keyword_aliases", "make_optimizer", "named_errors",
           "not_fitted",
           "readable_bytes", "real_array", "refits", "unexpected_keyword"]

F = TypeVar("F", bound=Callable[..., Any])


# Names other libraries (scikit-learn, torch, gensim, fastText) give one concept: a wrong
# keyword from a group is answered with the name of the group this class takes.
SYNONYMS = (
    ("lr", "learning_rate", "eta0", "eta", "step_size"),
    ("epochs", "max_iter", "n_epochs", "num_epochs", "epoch", "iter", "n_iter"),
    ("seed", "random_state", "random_seed"),
    ("threads", "workers", "thread", "n_jobs", "num_threads", "n_threads"),
    ("dim", "vector_size", "embedding_dim", "size", "hidden_size"),
    ("ngrams", "wordNgrams", "word_ngrams"),
    ("buckets", "bucket", "n_buckets"),
    ("negative", "neg", "n_negative"),
    ("min_count", "minCount"),
    ("batch_size", "batch", "minibatch_size"),
)


def unexpected_keyword(cls_name: str, key: str, valid: list[str]) -> TypeError:
    """``TypeError: Cls() got an unexpected keyword argument 'x'; did you mean 'y'?`` (the
    closest valid name, or this class's name for the same concept in ``SYNONYMS``)."""
    same = [v for v in valid if any(key in g and v in g for g in SYNONYMS)]
    close = same or difflib.get_close_matches(key, valid, n=1)
    hint = f"; did you mean {close[0]!r}?" if close else ""
    if not close and any(key in g for g in SYNONYMS[3:4]):
        hint = "; msopt's thread count is set with msopt.set_num_threads(n)"
    return TypeError(f"{cls_name}() got an unexpected keyword argument {key!r}{hint}")


def keyword_aliases(**aliases: str) -> Callable[[F], F]:
    """Decorate ``__init__``: accept each ``alias=value`` as its canonical name (``alias``
    -> canonical), refuse an alias given with its canonical name, and answer a keyword that
    is neither with a TypeError suggesting the closest valid name.  ``inspect.signature``
    (and so scikit-learn's ``get_params`` and ``help``) sees the canonical signature."""

    def decorate(init: F) -> F:
        names = [p.name for p in inspect.signature(init).parameters.values()
                 if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)][1:]

        @functools.wraps(init)
        def wrapper(self: Any, *args: Any, **kwargs: Any) -> None:
            cls_name = type(self).__name__
            for key in list(kwargs):
                if key in names:
                    continue
                canonical = aliases.get(key)
                if canonical is None:
                    raise unexpected_keyword(cls_name, key, names + list(aliases))
                given = canonical in kwargs or names.index(canonical) < len(args)
                if given:
                    raise TypeError(f"{cls_name}() got both {canonical!r} and its alias "
                                    f"{key!r}; pass only {canonical!r}")
                kwargs[canonical] = kwargs.pop(key)
            init(self, *args, **kwargs)

        wrapper.__aliases__ = dict(aliases)  # type: ignore[attr-defined]
        return wrapper  # type: ignore[return-value]

    return decorate


def not_fitted(obj: Any, how: str = "call fit()") -> Exception:
    from msopt.exceptions import NotFittedError

    return NotFittedError(f"This {type(obj).__name__} instance is not fitted yet; {how} "
                          "first.")


class ParamsMixin:
    """``get_params``/``set_params`` from the ``__init__`` signature (scikit-learn's
    protocol, so ``sklearn.base.clone`` works), and a ``repr`` of the class name with the
    key and non-default parameters plus a short state (``_repr_state``).

    The parameters a fitted model's arrays are made for (``_structural``: the table's width,
    the vocabulary's rules, ...) are kept as they were fitted until the next fit: on a fitted
    model (``_fitted_marker()`` not None) ``set_params`` sets them aside (``get_params``, and
    so ``clone``, shows them), and the method that fits anew (decorated with
    :func:`refits`) takes them.  Until then prediction, further training, ``save`` and pickle
    see the model as it was fitted."""

    _repr_always: tuple[str, ...] = ()
    _structural: tuple[str, ...] = ()

    def _fitted_marker(self) -> Any:
        """An object that a new fit replaces (the fitted weights), None before the first."""
        return None

    @classmethod
    def _get_param_names(cls) -> list[str]:
        sig = inspect.signature(cls.__init__)
        return sorted(p.name for p in sig.parameters.values()
                      if p.name != "self" and p.kind in (p.POSITIONAL_OR_KEYWORD,
                                                         p.KEYWORD_ONLY))

    @classmethod
    def _aliases(cls) -> dict[str, str]:
        return dict(getattr(cls.__init__, "__aliases__", {}))

    def get_params(self, deep: bool = True) -> dict[str, Any]:
        """The constructor's arguments (canonical names), as scikit-learn's ``get_params``.
        A parameter set for the next fit (see :meth:`set_params`) shows its new value.

        Parameters
        ----------
        deep : bool, default True
            Accepted for compatibility; the parameters are returned as they are.

        Returns
        -------
        dict
            Parameter name -> value."""
        staged = self.__dict__.get("_staged") or {}
        return {k: staged[k] if k in staged else getattr(self, k)
                for k in self._get_param_names()}

    def set_params(self, **params: Any) -> Any:
        """Set constructor arguments (canonical names or their aliases).  The values are
        checked when the model is next fitted; a name that is not a parameter raises
        TypeError and sets nothing.  On a fitted model, a parameter its arrays are made for
        (the width of a table, the rules of its vocabulary, ...) takes effect at the next
        ``fit``: until then the model predicts, trains further, saves and pickles as it was
        fitted, while ``get_params`` shows the new value.

        Parameters
        ----------
        **params
            Parameter name (or alias) -> new value.

        Returns
        -------
        self"""
        valid = self._get_param_names()
        aliases = self._aliases()
        names = {}
        for key in params:  # every name first: a refused call changes nothing
            name = aliases.get(key, key)
            if name not in valid:
                raise unexpected_keyword(f"{type(self).__name__}.set_params", key,
                                         valid + list(aliases))
            names[key] = name
        fitted = self._fitted_marker() is not None or id(self) in _FITTING
        staged = {k: v for k, v in (self.__dict__.get("_staged") or {}).items()
                  if not _equal(v, getattr(self, k))}
        for key, value in params.items():
            name = names[key]
            if fitted and name in self._structural:
                if _equal(value, getattr(self, name)):
                    staged.pop(name, None)  # set back to the fitted value
                else:
                    staged[name] = value
            else:
                setattr(self, name, value)
        if staged:
            self._staged = staged
        else:
            self.__dict__.pop("_staged", None)
        return self

    def _staged_params(self) -> dict[str, Any]:
        """The parameters set aside for the next fit (see :meth:`set_params`)."""
        return dict(self.__dict__.get("_staged") or {})

    def _repr_state(self) -> list[str]:
        return []

    def __repr__(self) -> str:
        sig = inspect.signature(type(self).__init__)
        parts = []
        for name, p in sig.parameters.items():
            if name == "self" or p.kind not in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY):
                continue
            if not hasattr(self, name):
                continue
            value = getattr(self, name)
            default = p.default
            same = default is not p.empty and _same(value, default)
            if name in self._repr_always or not same:
                parts.append(f"{name}={value!r}")
        staged = self.__dict__.get("_staged")
        if staged:
            parts.append(f"next_fit={staged!r}")
        return f"{type(self).__name__}({', '.join(parts + self._repr_state())})"


# id() of each model whose fit (a method decorated with refits) is running, and how many
# such calls are running on it: set_params sets structural values aside for them too.
_FITTING: dict[int, int] = {}


def refits(method: F) -> F:
    """Decorate the method that fits a model anew: it runs with the parameters that
    ``set_params`` set aside for the next fit, and while it runs ``set_params`` (from a
    callback, say) sets values aside as on a fitted model.  If it fails before fitting
    anything new (the model's ``_fitted_marker()`` is the same object), the model is as it
    was, with the values set aside again (and those set during the call: on a model still
    unfitted, they apply).  Once it has (an interrupted fit that keeps its finished steps),
    the values it took stay."""

    @functools.wraps(method)
    def wrapper(self: Any, *args: Any, **kwargs: Any) -> Any:
        staged = self.__dict__.pop("_staged", None) or {}
        old = {k: getattr(self, k) for k in staged}
        marker = self._fitted_marker()
        for k, v in staged.items():
            setattr(self, k, v)
        _FITTING[id(self)] = _FITTING.get(id(self), 0) + 1
        try:
            return method(self, *args, **kwargs)
        except BaseException:
            if self._fitted_marker() is marker:  # nothing new was fitted
                for k, v in old.items():
                    setattr(self, k, v)
                during = self.__dict__.pop("_staged", None) or {}
                if marker is None:  # still unfitted: what was set meanwhile applies
                    for k, v in during.items():
                        setattr(self, k, v)
                else:  # set aside again, but for what equals the fitted value
                    kept = {k: v for k, v in {**staged, **during}.items()
                            if not _equal(v, getattr(self, k))}
                    if kept:
                        self._staged = kept
            raise
        finally:
            left = _FITTING.pop(id(self)) - 1
            if left:
                _FITTING[id(self)] = left

    return wrapper  # type: ignore[return-value]


def _equal(a: Any, b: Any) -> bool:
    try:
        return bool(a == b) or a is b
    except Exception:  # arrays and the like
        return a is b


def _same(a: Any, b: Any) -> bool:
    try:
        return bool(type(a) is type(b) and a == b) or (a is b)
    except Exception:  # arrays and the like: not a default
        return False


# -- argument checks: TypeError for a wrong type, ValueError for a wrong value -------------
# The ranges of the native integer types an argument may end up in (see csrc/bindings).
INT32_MAX = 2**31 - 1
INT64_MAX = 2**63 - 1
UINT64_MAX = 2**64 - 1
MAX_THREADS = 1024  # msopt's thread pool (and the trainers' per-thread walkers) at most
# Epochs of one training call of the models: each keeps a loss (and a count) per epoch and
# thread, allocated up front, so 2**31 epochs would ask for tens of GB before training.
MAX_EPOCHS = 1_000_000


def int_bound(n: int) -> str:
    """``n`` written for a person: ``2**31 - 1`` rather than 2147483647."""
    for d in (0, 1, 2):
        m = n + d
        if m > 2**20 and m & (m - 1) == 0:
            return f"2**{m.bit_length() - 1}" + (f" - {d}" if d else "")
    return str(n)


def check_int(name: str, value: Any, lo: int, *, none: bool = False,
              hi: int | None = None) -> int:
    """An int in [lo, hi] (bool refused; ``hi=None``: no upper bound); with ``none``, None
    passes (and is returned as is).  Give ``hi`` whenever the value reaches native code, so
    that a value too large for its C++ type is refused here, with a message naming it."""
    if value is None and none:
        return None  # type: ignore[return-value]
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, np.integer)):
        raise TypeError(f"{name}: expected an int{' or None' if none else ''}, got "
                        f"{type(value).__name__}")
    v = int(value)
    if v < lo:
        raise ValueError(f"{name}: must be >= {lo}, got {v}")
    if hi is not None and v > hi:
        raise ValueError(f"{name}: must be <= {int_bound(hi)}, got {v}")
    return v


def check_seed(name: str, value: Any, *, none: bool = False) -> int:
    """A seed: an int in [0, 2**64 - 1] (the native side holds it in a uint64)."""
    return check_int(name, value, 0, none=none, hi=UINT64_MAX)


def check_number(name: str, value: Any, *, lo: float = -math.inf, strict: bool = False,
                 hi: float = math.inf, hi_strict: bool = False) -> float:
    """A finite real number >= lo (> lo when strict) and <= hi (< hi when hi_strict)."""
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, float, np.integer,
                                                                     np.floating)):
        raise TypeError(f"{name}: expected a number, got {type(value).__name__}")
    try:
        v = float(value)
    except OverflowError:  # an int beyond the float range
        v = math.inf if value > 0 else -math.inf
    low = v < lo or (strict and v == lo)
    high = v > hi or (hi_strict and v == hi)
    if not math.isfinite(v) or low or high:
        if hi == math.inf:
            want = f"{'>' if strict else '>='} {lo:g}"
        else:
            want = f"in {'(' if strict else '['}{lo:g}, {hi:g}{')' if hi_strict else ']'}"
        raise ValueError(f"{name}: must be finite and {want}, got {value!r}")
    return v


def check_bool(name: str, value: Any) -> bool:
    """True or False (a Python or NumPy bool; 0, 1 and strings are refused)."""
    if not isinstance(value, (bool, np.bool_)):
        raise TypeError(f"{name}: expected a bool, got {type(value).__name__}")
    return bool(value)


def check_choice(name: str, value: Any, choices: tuple[Any, ...]) -> Any:
    """One of ``choices``; anything else (an unhashable value or an array too) is a
    ValueError naming the argument."""
    try:
        ok = any(value is c or (isinstance(value, type(c)) and bool(value == c))
                 for c in choices)
    except (TypeError, ValueError):  # an array's ambiguous truth, say
        ok = False
    if not ok:
        raise ValueError(f"{name}: expected one of {choices}, got {value!r}")
    return value


# -- memory: refuse, before allocating, what cannot fit ------------------------------------
def _physical_memory() -> int | None:
    """The machine's physical memory in bytes, or None where the OS does not say."""
    try:
        return int(os.sysconf("SC_PHYS_PAGES")) * int(os.sysconf("SC_PAGE_SIZE"))
    except (AttributeError, ValueError, OSError):
        return None


def readable_bytes(n: float) -> str:
    """``n`` bytes for a person: ``22.4 GiB``."""
    for unit in ("bytes", "KiB", "MiB", "GiB", "TiB", "PiB"):
        if n < 1024 or unit == "PiB":
            return f"{n:.0f} {unit}" if unit == "bytes" else f"{n:.1f} {unit}"
        n /= 1024
    raise AssertionError  # pragma: no cover


def check_memory(who: str, shape_desc: str, per_array: int, arrays: int, *,
                 what: str = "", hint: str = "") -> int:
    """Refuse, before anything is allocated, ``arrays`` arrays of ``per_array`` bytes each
    that together exceed the machine's physical memory: MemoryError (NumPy's convention for
    an allocation that cannot succeed) stating the sizes.  ``shape_desc`` says what one
    array is (``"n_features=3,000,000,000 x n_outputs=1 float64 weights"``), ``what`` what
    the arrays are for, ``hint`` how to shrink them.  Returns the byte count (no check
    where the OS does not tell its memory)."""
    need = int(arrays) * int(per_array)
    have = _physical_memory()
    if have is not None and need > have:
        raise MemoryError(
            f"{who}: {shape_desc} take {readable_bytes(per_array)} per array, and "
            f"{what or 'the model needs'} {arrays} such arrays ({readable_bytes(need)}), "
            f"more than this machine's {readable_bytes(have)} of memory."
            + (f"  {hint}" if hint else ""))
    return need


# -- arrays and optimizers built from user input -------------------------------------------
def real_array(name: str, value: Any, dtype: Any) -> np.ndarray:
    """``value`` as a C-contiguous array of ``dtype`` (float32/float64), from real numbers
    only: TypeError naming ``name`` for what is not an array of real numbers (strings,
    complex, dates, objects that are not numbers; NumPy's own conversion errors too)."""
    try:
        a = np.asarray(value)
    except (TypeError, ValueError) as e:
        raise TypeError(f"{name}: expected an array of real numbers ({e})") from None
    if a.dtype.kind not in "biuf":
        if a.dtype.kind != "O":
            raise TypeError(f"{name}: expected an array of real numbers, got dtype {a.dtype}")
        if any(isinstance(v, (complex, np.complexfloating)) for v in a.reshape(-1).tolist()):
            raise TypeError(f"{name}: expected an array of real numbers, got complex values")
    try:
        return np.ascontiguousarray(a, dtype=dtype)
    except (TypeError, ValueError, OverflowError) as e:
        raise TypeError(f"{name}: expected an array of real numbers ({e})") from None


def make_optimizer(make: Callable[..., Any], params: Any, optimizer_params: Any,
                   **kw: Any) -> Any:
    """``make(params, **kw, **optimizer_params)``, with an error about a key of
    ``optimizer_params`` (an unknown one, or a bad value) named ``optimizer_params: ...``."""
    extra = dict(optimizer_params or {})
    for key in extra:
        if not isinstance(key, str):
            raise TypeError(f"optimizer_params: keys must be str, got {type(key).__name__}")
        if key in kw or key == "params":
            raise TypeError(f"optimizer_params: {key!r} is an argument of its own here, not "
                            "an optimizer setting")
    try:
        return make(params, **kw, **extra)
    except (TypeError, ValueError) as e:
        msg = str(e)
        if extra and any(repr(k) in msg for k in extra):
            raise type(e)(f"optimizer_params: {msg}") from None
        raise


def named_errors(name: str, call: Callable[[], Any]) -> Any:
    """``call()``, with its TypeError or ValueError re-raised naming the caller's argument
    ``name`` (for a vocabulary's error, which names its own argument ``source``)."""
    try:
        return call()
    except (TypeError, ValueError) as e:
        msg = str(e)
        if msg.startswith("source"):
            msg = name + msg[len("source"):]
        elif not msg.startswith(name):
            msg = f"{name}: {msg}"
        raise type(e)(msg) from None


def check_optimizer(name: str, optimizer: Any, optimizer_params: Any,
                    choices: Mapping[str, Any]) -> None:
    """An optimizer name among ``choices`` and its ``optimizer_params`` (a dict or None)."""
    check_choice(name, optimizer, tuple(sorted(choices)))
    if optimizer_params is not None and not isinstance(optimizer_params, Mapping):
        raise TypeError(f"optimizer_params: expected a dict or None, got "
                        f"{type(optimizer_params).__name__}")


def check_float_dtype(name: str, dtype: Any) -> np.dtype:
    """float32 or float64 (anything ``np.dtype`` reads as one of them)."""
    try:
        dt = np.dtype(dtype)
    except TypeError:
        dt = None
    if dt not in (np.float32, np.float64):
        raise TypeError(f"{name}: float32 or float64, got {dtype!r}")
    return dt
