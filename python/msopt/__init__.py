"""msopt: fused, multi-threaded first-order optimizers for NumPy arrays.

One ``step()`` updates every parameter array in one native call with the GIL released;
dense and row-sparse (embedding) gradients; torch.optim's update rules.

>>> import numpy as np, msopt
>>> w = np.zeros(3, np.float32)
>>> opt = msopt.Adam([w], lr=0.1)
>>> for _ in range(100):
...     opt.step([2 * (w - 1)])      # minimize |w - 1|^2
>>> bool(np.allclose(w, 1, atol=0.05))
True
"""

from __future__ import annotations

import scipy_openblas32 as _openblas  # noqa: F401  (loads the BLAS _core links)

from msopt import _core, lr_scheduler, reference
from msopt.optim import (
    SGD,
    Adagrad,
    Adam,
    AdamW,
    Lion,
    NonFiniteGradientError,
    Optimizer,
    RMSprop,
    RowGrad,
    flatten_state_dict,
    unflatten_state_dict,
)

__version__ = "0.1.0"

_LAZY = {"LinearModel": "linear_model", "LinearRegression": "linear_model",
         "LogisticRegression": "linear_model", "LinearSVC": "linear_model",
         "DivergenceError": "linear_model", "ConvergenceWarning": "linear_model",
         "NotFittedError": "linear_model", "linear_model": "linear_model",
         "EmbeddingBag": "embedding", "embedding": "embedding",
         "Word2Vec": "word2vec", "word2vec": "word2vec", "text": "text",
         "TextClassifier": "fasttext", "fasttext": "fasttext"}


def __getattr__(name: str):  # the estimators load scikit-learn (when installed) on first use
    if name in _LAZY:
        import importlib

        mod = importlib.import_module(f"msopt.{_LAZY[name]}")
        return mod if name == _LAZY[name] else getattr(mod, name)
    raise AttributeError(f"module 'msopt' has no attribute {name!r}")


def get_num_threads() -> int:
    """Threads the native kernels may use (from ``MSOPT_NUM_THREADS``, else the CPUs
    this process may run on)."""
    return _core.get_num_threads()


def set_num_threads(n: int) -> None:
    """Set the threads the native kernels may use (n >= 1).  Results are bit-identical
    for any thread count (element-wise updates; fixed-order reductions)."""
    if isinstance(n, bool) or int(n) != n:
        raise TypeError(f"n: expected an int, got {n!r}")
    _core.set_num_threads(int(n))


__all__ = [
    "SGD",
    "ConvergenceWarning",
    "DivergenceError",
    "EmbeddingBag",
    "TextClassifier",
    "Word2Vec",
    "LinearModel",
    "LinearRegression",
    "LinearSVC",
    "LogisticRegression",
    "NotFittedError",
    "Adagrad",
    "Adam",
    "AdamW",
    "Lion",
    "NonFiniteGradientError",
    "Optimizer",
    "RMSprop",
    "RowGrad",
    "flatten_state_dict",
    "get_num_threads",
    "lr_scheduler",
    "reference",
    "set_num_threads",
    "unflatten_state_dict",
]
