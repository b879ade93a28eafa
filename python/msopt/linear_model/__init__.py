"""Linear models trained by msopt's fused native loops: the layer (:class:`LinearModel`,
NumPy only) and the scikit-learn style estimators on top of it (which load scikit-learn,
when it is installed, on first use)."""

from __future__ import annotations

import importlib
from typing import Any

from msopt.exceptions import ConvergenceWarning, DivergenceError, NotFittedError
from msopt.linear_model.layer import LinearModel

_ESTIMATORS = ("LinearRegression", "LinearSVC", "LogisticRegression")

__all__ = ["ConvergenceWarning", "DivergenceError", "LinearModel", "NotFittedError",
           *_ESTIMATORS]


def __getattr__(name: str) -> Any:
    if name in _ESTIMATORS:
        return getattr(importlib.import_module("msopt.linear_model.estimators"), name)
    raise AttributeError(f"module 'msopt.linear_model' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
