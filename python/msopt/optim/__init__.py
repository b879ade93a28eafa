"""Optimizers (one native ``step()`` over every parameter array) and learning-rate
schedules (:mod:`msopt.optim.lr_scheduler`, also importable as ``msopt.lr_scheduler``)."""

from __future__ import annotations

from msopt.optim import lr_scheduler
from msopt.optim.optimizers import (
    OPTIMIZERS,
    SGD,
    Adagrad,
    Adam,
    AdamW,
    Lion,
    NativeState,
    NonFiniteGradientError,
    Optimizer,
    RMSprop,
    RowGrad,
    flatten_state_dict,
    unflatten_state_dict,
)

__all__ = [
    "SGD",
    "Adagrad",
    "Adam",
    "AdamW",
    "Lion",
    "OPTIMIZERS",
    "NativeState",
    "NonFiniteGradientError",
    "Optimizer",
    "RMSprop",
    "RowGrad",
    "flatten_state_dict",
    "lr_scheduler",
    "unflatten_state_dict",
]
