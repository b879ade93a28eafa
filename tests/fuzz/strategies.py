"""Hypothesis strategies for hostile arguments.

The most useful input is an *almost valid* call: start from a valid argument set and change
one argument.  :func:`perturb` draws such a change for any value, chosen by the value's
kind: an array gets another dtype, shape, layout, flag or content; an int gets an extreme
int or another type; a container gets one element perturbed, dropped or added; and every
value may be replaced by a value of the wrong type.
"""

from __future__ import annotations

import math
import warnings
from typing import Any

import numpy as np
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

# -- scalars ------------------------------------------------------------------------------
EXTREME_INTS = [0, -1, 1, 2**31 - 1, 2**31, -(2**31) - 1, 2**32, 2**53 + 1, 2**63 - 1,
                -(2**63), 2**63, 2**64, 2**70, -(2**70), 10**12]
EXTREME_FLOATS = [math.nan, math.inf, -math.inf, -1.0, 0.0, -0.0, 1e308, -1e308, 5e-324,
                  1e-320, 3.5e38, 1e30, 0.5, 2.0]


class _Opaque:
    """An object no API should accept."""

    def __repr__(self) -> str:
        return "<opaque>"


def wrong_types() -> st.SearchStrategy[Any]:
    """Values of a type no numeric, array or text argument should accept."""
    return st.sampled_from([None, "x", "1", "", b"1", [], [1], {}, {"a": 1}, (), _Opaque(),
                            1 + 2j, object, set(), slice(1), Ellipsis, np.dtype("float32")])


def extreme_ints() -> st.SearchStrategy[Any]:
    base = st.sampled_from(EXTREME_INTS)
    return st.one_of(
        base,
        base.filter(lambda v: -(2**63) <= v < 2**63).map(np.int64),
        st.sampled_from([np.uint64(2**64 - 1), np.int32(-1), np.int8(-128)]),
        st.sampled_from([True, False, 1.0, 1.5, math.nan, math.inf, "3", np.float64(2.0)]),
    )


def _f32(v: float) -> np.float32:
    with np.errstate(over="ignore"):
        return np.float32(v)


def extreme_floats() -> st.SearchStrategy[Any]:
    base = st.sampled_from(EXTREME_FLOATS)
    return st.one_of(base, base.map(_f32), base.map(np.float64),
                     st.sampled_from([True, 2**64, 10**400, "0.1",
                                      1 + 0j, np.float16(np.inf)]))


def hostile_strings() -> st.SearchStrategy[Any]:
    return st.one_of(
        st.sampled_from(["", " ", "\x00", "a\x00", "\ud800", "\t\n", "X" * 10_000,
                         "SUM", "Mean ", "é", "\U0001f600", "None", "nan"]),
        st.text(max_size=8),
    )


def scalar_bool() -> st.SearchStrategy[Any]:
    return st.sampled_from(["yes", "x", "", 2, -1, 0.5, math.nan, None, np.int64(1),
                            np.bool_(True), [True], 1j])


# -- arrays -------------------------------------------------------------------------------
ALL_DTYPES = ["float16", "float32", "float64", "longdouble", "int8", "int16", "int32", "int64",
              "uint8", "uint16", "uint32", "uint64", "bool", "complex64", "complex128", "object",
              "<U3", "S3", "datetime64[s]", "timedelta64[s]", "V8", ">f8", ">i8"]


def _astype(a: np.ndarray, dt: str) -> np.ndarray:
    try:
        with np.errstate(all="ignore"), warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return a.astype(dt)
    except (TypeError, ValueError):
        return np.zeros(a.shape, dt)


def _negative_strides(a: np.ndarray) -> np.ndarray:
    """Same values, every axis stored backwards (negative strides)."""
    if a.ndim == 0:
        return a
    out = np.empty_like(a)[(slice(None, None, -1),) * a.ndim]
    out[...] = a
    return out


def _strided(a: np.ndarray) -> np.ndarray:
    """Same values, every other element of a larger buffer (non-contiguous)."""
    if a.ndim == 0:
        return a
    big = np.zeros(a.shape[:-1] + (2 * a.shape[-1],), a.dtype)
    out = big[..., ::2]
    out[...] = a
    return out


def _readonly(a: np.ndarray) -> np.ndarray:
    out = a.copy()
    out.flags.writeable = False
    return out


def _huge_virtual(a: np.ndarray) -> np.ndarray:
    """A read-only view with a gigantic first axis and zero stride: no memory behind it."""
    if a.ndim == 0 or a.size == 0:
        return np.broadcast_to(a, (2**40,) + a.shape)
    return np.broadcast_to(a[:1], (2**40,) + a.shape[1:])


def _huge_columns(a: np.ndarray) -> np.ndarray:
    if a.ndim < 2 or a.size == 0:
        return _huge_virtual(a)
    return np.lib.stride_tricks.as_strided(a, shape=a.shape[:-1] + (2**33,),
                                           strides=a.strides[:-1] + (0,), writeable=False)


def _self_overlap(a: np.ndarray) -> np.ndarray:
    """A writable view whose rows all alias the same memory (zero stride on axis 0)."""
    if a.ndim == 0 or a.size == 0:
        return a
    base = a.copy()
    return np.lib.stride_tricks.as_strided(base, shape=a.shape,
                                           strides=(0,) + base.strides[1:])


def _with_value(a: np.ndarray, value: Any, index: int) -> np.ndarray:
    out = a.copy()
    if out.size:
        try:
            with np.errstate(all="ignore"):
                out.flat[index % out.size] = value
        except (OverflowError, ValueError, TypeError):
            out = out.astype(np.float64 if isinstance(value, float) else object)
            out.flat[index % out.size] = value
    return out


def array_perturbations(a: np.ndarray) -> st.SearchStrategy[Any]:
    """One change to a valid array: dtype, shape, layout, flags or contents."""
    changes: list[st.SearchStrategy[Any]] = [
        st.sampled_from(ALL_DTYPES).map(lambda dt: _astype(a, dt)),
        st.just(a.reshape(-1) if a.ndim != 1 else a.reshape(1, -1)),  # wrong ndim
        st.just(a[None]),  # one more axis
        st.just(a[..., :0] if a.ndim else a.reshape(-1)[:0]),  # 0-size
        st.just(a[:0] if a.ndim else a.reshape(-1)[:0]),
        st.just(np.concatenate([a, a[-1:]]) if a.ndim and a.size else a[None, None]),
        st.just(a[:-1] if a.ndim and len(a) else a),
        st.just(_strided(a)),
        st.just(_negative_strides(a)),
        st.just(np.asfortranarray(a)),
        st.just(_readonly(a)),
        st.just(_self_overlap(a)),
        st.just(_huge_virtual(a)),
        st.just(_huge_columns(a)),
        st.just(a.tolist()),  # a list of the same values
        st.just(np.asarray(a, dtype=object)),
        st.just(np.zeros(a.shape, dtype=a.dtype)),
        st.just(np.asarray(a.reshape(-1)[0]) if a.size else np.asarray(0, a.dtype)),  # 0-d
        wrong_types(),
    ]
    if a.dtype.kind == "f":
        changes.append(st.tuples(st.sampled_from([math.nan, math.inf, -math.inf, 1e300,
                                                  -1e300]), st.integers(0, 1000))
                       .map(lambda t: _with_value(a, *t)))
        changes.append(st.just(np.full(a.shape, np.nan, a.dtype)))
    if a.dtype.kind in "iu":
        changes.append(st.tuples(st.sampled_from([-1, -2, 2**31, 2**31 - 1, 2**32, 2**62,
                                                  2**63 - 1, -(2**63), 10**12]),
                                 st.integers(0, 1000)).map(lambda t: _with_value(a, *t)))
        changes.append(st.just(a.astype(np.int32)))
        changes.append(st.just(a.astype(np.uint64)))
        changes.append(st.just(a.astype(np.float64)))
        if a.ndim:
            changes.append(st.just(a[::-1].copy()))  # same ids, other order (offsets: decreasing)
    if a.dtype.kind in "iuf" and a.size:
        changes.append(hnp.arrays(a.dtype, a.shape,
                                  elements=hnp.from_dtype(a.dtype, allow_nan=True,
                                                          allow_infinity=True)))
    return st.one_of(changes)


def any_array() -> st.SearchStrategy[np.ndarray]:
    """Arrays of every dtype and of small shapes (0-size ones included)."""
    return hnp.arrays(st.sampled_from(["float16", "float32", "float64", "int64", "int32",
                                       "uint8", "bool", "complex128"]).map(np.dtype),
                      hnp.array_shapes(min_dims=0, max_dims=3, min_side=0, max_side=4))


# -- containers and the dispatcher --------------------------------------------------------
def _list_perturbations(v: list | tuple) -> st.SearchStrategy[Any]:
    t = type(v)
    out: list[st.SearchStrategy[Any]] = [
        st.just(t()),
        st.just(t(list(v) + [v[-1]])) if v else st.just(t([None])),
        st.just(t(list(v)[:-1])),
        st.just(t(list(v) + [None])),
        st.just(tuple(v) if t is list else list(v)),
        st.builds(lambda: iter(list(v))),  # a one-shot iterator (a fresh one each time)
        wrong_types(),
    ]
    if v:
        def one(i: int) -> st.SearchStrategy[Any]:
            return perturb(v[i]).map(lambda x: t(list(v[:i]) + [x] + list(v[i + 1:])))
        out.append(st.integers(0, len(v) - 1).flatmap(one))
    return st.one_of(out)


def _dict_perturbations(v: dict) -> st.SearchStrategy[Any]:
    out: list[st.SearchStrategy[Any]] = [
        st.just({}),
        st.just({**v, "unknown_key_zz": 1}),
        wrong_types(),
    ]
    if v:
        keys = sorted(v, key=repr)
        out.append(st.sampled_from(keys).map(lambda k: {kk: vv for kk, vv in v.items()
                                                        if kk != k}))
        out.append(st.sampled_from(keys).flatmap(
            lambda k: perturb(v[k]).map(lambda x: {**v, k: x})))
    return st.one_of(out)


def perturb(v: Any) -> st.SearchStrategy[Any]:
    """One hostile change to ``v``, a valid argument value."""
    if isinstance(v, np.ndarray):
        return array_perturbations(v)
    if isinstance(v, (bool, np.bool_)):
        return st.one_of(scalar_bool(), wrong_types())
    if isinstance(v, (int, np.integer)):
        return st.one_of(extreme_ints(), wrong_types())
    if isinstance(v, (float, np.floating)):
        return st.one_of(extreme_floats(), wrong_types())
    if isinstance(v, str):
        return st.one_of(hostile_strings(), wrong_types())
    if isinstance(v, dict):
        return _dict_perturbations(v)
    if isinstance(v, (list, tuple)) and type(v) in (list, tuple):
        return _list_perturbations(v)
    if v is None:
        return st.one_of(wrong_types(), extreme_ints(), extreme_floats(), any_array())
    return wrong_types()


def describe(v: Any) -> str:
    """A short description of a value for failure messages (arrays by dtype, shape, flags)."""
    if isinstance(v, np.ndarray):
        return (f"ndarray(dtype={v.dtype}, shape={v.shape}, strides={v.strides}, "
                f"C={v.flags.c_contiguous}, writeable={v.flags.writeable})")
    r = repr(v)
    return r if len(r) < 200 else r[:200] + "..."
