"""Optimizers (one native ``step()`` over every parameter array) and learning-rate
schedules (:mod:`msopt.optim.lr_scheduler`, also importable as ``msopt.lr_scheduler``)."""

from __future__ import annotations

from msopt.optim import lr_scheduler, optimizers
from msopt.optim.optimizers import *  # noqa: F403  (the names in optimizers.__all__)

__all__ = [*optimizers.__all__, "lr_scheduler"]
