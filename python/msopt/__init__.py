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

import importlib
import sys
from typing import Any

import numpy as _np
import scipy_openblas32 as _openblas  # noqa: F401  (loads the BLAS _core links)

from msopt import _core
from msopt._api import MAX_THREADS
from msopt.exceptions import (
    ConvergenceWarning,
    DivergenceError,
    NonFiniteGradientError,
    NotFittedError,
)
from msopt.optim import (
    SGD,
    Adagrad,
    Adam,
    AdamW,
    Lion,
    Optimizer,
    RMSprop,
    RowGrad,
    flatten_state_dict,
    lr_scheduler,
    unflatten_state_dict,
)

__version__ = "0.1.0"

# ``import msopt.lr_scheduler`` keeps working: the module lives in msopt.optim.
sys.modules[__name__ + ".lr_scheduler"] = lr_scheduler

# Names loaded on first use (the estimators load scikit-learn, when installed, on first use;
# the models and the reference are not needed to step an optimizer): name -> (module, attr),
# attr None for the module itself.
_LAZY: dict[str, tuple[str, str | None]] = {
    **{n: ("msopt.linear_model", n) for n in (
        "LinearModel", "LinearRegression", "LogisticRegression", "LinearSVC")},
    "EmbeddingBag": ("msopt.nn", "EmbeddingBag"),
    "Word2Vec": ("msopt.models", "Word2Vec"),
    "KeyedVectors": ("msopt.models", "KeyedVectors"),
    "TextClassifier": ("msopt.models", "TextClassifier"),
    "LanguageModel": ("msopt.models.language_model", "LanguageModel"),
    "Doc2Vec": ("msopt.models.doc2vec", "Doc2Vec"),
    "SentenceEncoder": ("msopt.models.sentence_encoder", "SentenceEncoder"),
    "AnswerRanker": ("msopt.models.answer_ranker", "AnswerRanker"),
    "Index": ("msopt.search", "Index"),
    "Vocabulary": ("msopt.text", "Vocabulary"),
    "Progress": ("msopt._progress", "Progress"),
    **{m: (f"msopt.{m}", None) for m in ("linear_model", "nn", "models", "text", "reference",
                                         "evaluate", "search", "plot")},
    # the modules' earlier homes, kept as attributes
    "embedding": ("msopt.nn.embedding", None),
    "word2vec": ("msopt.models.word2vec", None),
    "fasttext": ("msopt.models.text_classifier", None),
}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        module, attr = _LAZY[name]
        mod = importlib.import_module(module)
        value = mod if attr is None else getattr(mod, attr)
        globals()[name] = value  # later lookups skip this function
        return value
    raise AttributeError(f"module 'msopt' has no attribute {name!r}")


def __dir__() -> list[str]:  # what tab completion offers: the public names, lazy ones too
    return sorted(set(__all__) | set(_LAZY) | {"optim", "__version__"})


def get_num_threads() -> int:
    """Threads the native kernels may use (from ``MSOPT_NUM_THREADS``, else the CPUs
    this process may run on)."""
    return _core.get_num_threads()


def set_num_threads(n: int) -> None:
    """Set the threads the native kernels may use, an int in [1, 1024].  Results are
    bit-identical for any thread count (element-wise updates; fixed-order reductions)."""
    if isinstance(n, float) and float(n).is_integer():  # 2.0: taken, as before
        n = int(n)
    if isinstance(n, (bool, _np.bool_)) or not isinstance(n, (int, _np.integer)):
        raise TypeError(f"n: expected an int, got {type(n).__name__}")
    if not 1 <= n <= MAX_THREADS:  # checked here: an int beyond C's int reaches no binding
        raise ValueError(f"n: must be in [1, {MAX_THREADS}], got {n}")
    _core.set_num_threads(int(n))


__all__ = [
    "SGD",
    "ConvergenceWarning",
    "DivergenceError",
    "EmbeddingBag",
    "KeyedVectors",
    "TextClassifier",
    "Word2Vec",
    "Doc2Vec",
    "LanguageModel",
    "SentenceEncoder",
    "AnswerRanker",
    "Index",
    "Progress",
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
    "Vocabulary",
]
