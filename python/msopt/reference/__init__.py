"""Pure-NumPy twins of msopt's native kernels: the oracle the tests compare against.

One module per area (``optim``, ``linear``, ``losses``, ``embedding``, ``models``); every name is
re-exported here.  The language model's twin is its own module,
``msopt.reference.language_model``.

Each function performs, on NumPy arrays and in the parameter's own dtype, exactly the
arithmetic of the matching C++ loop, in the same order: scalars are Python floats (which
NumPy rounds to the array's dtype, as the kernels do), so float32 and float64 results
agree with the native ones to the last bit.  The update rules follow torch.optim 2.x as
written out in the project's OPTIMIZERS notes, with two deliberate orderings:

* Adam divides by ``sqrt(v) * (1 / sqrt(1 - beta2**t)) + eps`` (torch divides by
  ``sqrt(1 - beta2**t)``); the difference is one rounding, well under 1e-6 relative.
* ``maximize`` and gradient clipping scale the gradient by one factor,
  ``(-1 if maximize else 1) * clip``, exactly as torch's two separate steps would.

Functions update ``p`` and the arrays in ``state`` in place.  ``t`` is the step count
after increment (1 on the first step).

Example
-------
>>> import numpy as np
>>> from msopt import reference
>>> p = np.ones(3, np.float32); g = np.full(3, 0.5, np.float32)
>>> state = reference.init_state("SGD", p, momentum=0.9)
>>> reference.sgd(p, g, state, t=1, lr=0.1, momentum=0.9)
>>> p
array([0.95, 0.95, 0.95], dtype=float32)
"""

from __future__ import annotations

from msopt.reference import losses
from msopt.reference.embedding import embedding_bag_backward, embedding_bag_forward
from msopt.reference.linear import LOSS_NAMES, l1_prox, linear_forward, linear_run, loss_grad
from msopt.reference.models import text_classifier_doc, word2vec_train
from msopt.reference.optim import (
    SLOTS,
    UPDATES,
    adagrad,
    adam,
    adamw,
    clip_scale,
    coalesce_rows,
    init_state,
    lion,
    rmsprop,
    sgd,
    step,
)

__all__ = [
    "LOSS_NAMES",
    "SLOTS",
    "UPDATES",
    "adagrad",
    "adam",
    "adamw",
    "clip_scale",
    "coalesce_rows",
    "embedding_bag_backward",
    "embedding_bag_forward",
    "init_state",
    "l1_prox",
    "linear_forward",
    "linear_run",
    "losses",
    "lion",
    "loss_grad",
    "rmsprop",
    "sgd",
    "step",
    "text_classifier_doc",
    "word2vec_train",
]
