"""Learning-rate schedules with torch.optim.lr_scheduler's conventions.

A scheduler sets ``group["lr"]`` on every param group of an optimizer.  Call ``step()``
after ``optimizer.step()``; construction already applies the schedule's value for epoch 0.
``get_last_lr()`` returns the rates in force.

The closed-form schedules evaluate msopt's one schedule definition, ``_core.Schedule``
(``csrc/msopt/optim/schedule.hpp``), the same arithmetic the native runners use: each
scheduler's ``schedule(base_lr)`` is that definition, and ``lr_at`` its value.

Examples
--------
>>> import numpy as np, msopt
>>> opt = msopt.SGD([np.zeros(3)], lr=1.0)
>>> sched = msopt.lr_scheduler.StepLR(opt, step_size=2, gamma=0.5)
>>> rates = []
>>> for _ in range(5):
...     rates.append(opt.param_groups[0]["lr"]); sched.step()
>>> rates
[1.0, 1.0, 0.5, 0.5, 0.25]
"""

from __future__ import annotations

import math
from functools import lru_cache
from typing import Any

from msopt import _core
from msopt.optim.optimizers import Optimizer, _check

__all__ = ["ExponentialLR", "LRScheduler", "LinearDecayLR", "ReduceLROnPlateau", "StepLR",
           "WarmupCosineLR"]


class _Schedule:
    """What every schedule shares: the rates in force, and its state as a plain dict."""

    _last_lr: list[float]

    def get_last_lr(self) -> list[float]:
        return list(self._last_lr)

    def state_dict(self) -> dict[str, Any]:
        return {k: v for k, v in self.__dict__.items() if k != "optimizer"}

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        self.__dict__.update(state_dict)


class LRScheduler(_Schedule):
    """Base class: a closed-form rate per epoch, ``lr = f(base_lr, last_epoch)``."""

    def __init__(self, optimizer: Optimizer, last_epoch: int = -1) -> None:
        if not isinstance(optimizer, Optimizer):
            raise TypeError(f"optimizer: expected an msopt optimizer, got "
                            f"{type(optimizer).__name__}")
        self.optimizer = optimizer
        for g in optimizer.param_groups:
            if last_epoch == -1:
                g.setdefault("initial_lr", g["lr"])  # as torch: a second schedule keeps it
            elif "initial_lr" not in g:
                raise KeyError("initial_lr: not set in a param group; resume with "
                               "last_epoch=-1 or load the scheduler's state_dict")
        self.base_lrs = [g["initial_lr"] for g in optimizer.param_groups]
        self.last_epoch = last_epoch
        self.step()

    def lr_at(self, base_lr: float, epoch: int) -> float:
        return self.schedule(base_lr).at(epoch)

    def schedule(self, base_lr: float) -> _core.Schedule:
        """The native schedule whose rate at step ``epoch`` is ``lr_at(base_lr, epoch)``."""
        raise NotImplementedError

    def step(self) -> None:
        self.last_epoch += 1
        for g, base in zip(self.optimizer.param_groups, self.base_lrs):
            g["lr"] = self.lr_at(base, self.last_epoch)
        self._last_lr = [g["lr"] for g in self.optimizer.param_groups]

@lru_cache(maxsize=256)
def _schedule(kind: _core.ScheduleKind, **params: Any) -> _core.Schedule:
    """One immutable native schedule per distinct parameter set, built once."""
    return _core.Schedule(kind, **params)


class StepLR(LRScheduler):
    """``lr = base * gamma ** (epoch // step_size)``."""

    def __init__(self, optimizer: Optimizer, step_size: int, gamma: float = 0.1,
                 last_epoch: int = -1) -> None:
        if int(step_size) != step_size or step_size < 1:
            raise ValueError(f"step_size: must be an int >= 1, got {step_size!r}")
        self.step_size = int(step_size)
        self.gamma = _check("gamma", gamma, 0.0)
        super().__init__(optimizer, last_epoch)

    def schedule(self, base_lr: float) -> _core.Schedule:
        return _schedule(_core.ScheduleKind.STEP, base=base_lr, gamma=self.gamma,
                         step_size=self.step_size)


class ExponentialLR(LRScheduler):
    """``lr = base * gamma ** epoch``."""

    def __init__(self, optimizer: Optimizer, gamma: float, last_epoch: int = -1) -> None:
        self.gamma = _check("gamma", gamma, 0.0)
        super().__init__(optimizer, last_epoch)

    def schedule(self, base_lr: float) -> _core.Schedule:
        return _schedule(_core.ScheduleKind.EXPONENTIAL, base=base_lr, gamma=self.gamma)


class WarmupCosineLR(LRScheduler):
    """Linear warmup, then cosine decay to ``min_lr``:
    ``base * k / warmup`` for ``k < warmup``, then
    ``min_lr + (base - min_lr) * (1 + cos(pi * (k - warmup) / (total - warmup))) / 2``,
    and ``min_lr`` from ``total`` on."""

    def __init__(self, optimizer: Optimizer, warmup_steps: int, total_steps: int,
                 min_lr: float = 0.0, last_epoch: int = -1) -> None:
        if int(warmup_steps) != warmup_steps or warmup_steps < 0:
            raise ValueError(f"warmup_steps: must be an int >= 0, got {warmup_steps!r}")
        if int(total_steps) != total_steps or total_steps <= warmup_steps:
            raise ValueError(f"total_steps: must be an int > warmup_steps, got {total_steps!r}")
        self.warmup_steps, self.total_steps = int(warmup_steps), int(total_steps)
        self.min_lr = _check("min_lr", min_lr, 0.0)
        super().__init__(optimizer, last_epoch)

    def schedule(self, base_lr: float) -> _core.Schedule:
        return _schedule(_core.ScheduleKind.WARMUP_COSINE, base=base_lr, floor=self.min_lr,
                         total=self.total_steps, warmup=self.warmup_steps)


class LinearDecayLR(LRScheduler):
    """word2vec / fastText decay: ``lr = base * max(1 - epoch / total_steps, min_factor)``."""

    def __init__(self, optimizer: Optimizer, total_steps: int, min_factor: float = 1e-4,
                 last_epoch: int = -1) -> None:
        if int(total_steps) != total_steps or total_steps < 1:
            raise ValueError(f"total_steps: must be an int >= 1, got {total_steps!r}")
        self.total_steps = int(total_steps)
        self.min_factor = _check("min_factor", min_factor, 0.0, 1.0)
        super().__init__(optimizer, last_epoch)

    def schedule(self, base_lr: float) -> _core.Schedule:
        """The factor (base 1) that multiplies ``base_lr``: ``lr_at`` is
        ``base_lr * schedule(base_lr).at(epoch)``, the linear runner's "linear" schedule."""
        return _schedule(_core.ScheduleKind.LINEAR, floor=self.min_factor,
                         total=self.total_steps)

    def lr_at(self, base_lr: float, epoch: int) -> float:
        return base_lr * self.schedule(base_lr).at(epoch)


class ReduceLROnPlateau(_Schedule):
    """Multiply the rate by ``factor`` after ``patience`` checks without improvement
    (torch's rule: ``threshold_mode`` 'rel' or 'abs', then ``cooldown`` checks of rest;
    the rate never goes below ``min_lr``, and changes smaller than ``eps`` are skipped).

    Call ``step(metric)`` once per check.
    """

    def __init__(self, optimizer: Optimizer, mode: str = "min", factor: float = 0.1,
                 patience: int = 10, threshold: float = 1e-4, threshold_mode: str = "rel",
                 cooldown: int = 0, min_lr: float = 0.0, eps: float = 1e-8) -> None:
        if mode not in ("min", "max"):
            raise ValueError(f"mode: expected 'min' or 'max', got {mode!r}")
        if threshold_mode not in ("rel", "abs"):
            raise ValueError(f"threshold_mode: expected 'rel' or 'abs', got {threshold_mode!r}")
        self.factor = _check("factor", factor, 0.0, 1.0, hi_open=True)
        if int(patience) != patience or patience < 0:
            raise ValueError(f"patience: must be an int >= 0, got {patience!r}")
        self.optimizer = optimizer
        self.mode, self.threshold_mode = mode, threshold_mode
        self.patience, self.cooldown = int(patience), int(cooldown)
        self.threshold = _check("threshold", threshold, 0.0)
        self.min_lr, self.eps = _check("min_lr", min_lr, 0.0), float(eps)
        self.best = math.inf if mode == "min" else -math.inf
        self.num_bad_epochs = 0
        self.cooldown_counter = 0
        self.last_epoch = 0
        self._last_lr = [g["lr"] for g in optimizer.param_groups]

    def _better(self, a: float, best: float) -> bool:
        rel = self.threshold_mode == "rel"
        if self.mode == "min":
            return a < (best * (1 - self.threshold) if rel else best - self.threshold)
        return a > (best * (1 + self.threshold) if rel else best + self.threshold)

    def step(self, metric: float) -> None:
        current = float(metric)
        self.last_epoch += 1
        if self._better(current, self.best):
            self.best, self.num_bad_epochs = current, 0
        else:
            self.num_bad_epochs += 1
        if self.cooldown_counter > 0:
            self.cooldown_counter -= 1
            self.num_bad_epochs = 0
        if self.num_bad_epochs > self.patience:
            for g in self.optimizer.param_groups:
                new = max(g["lr"] * self.factor, self.min_lr)
                if g["lr"] - new > self.eps:
                    g["lr"] = new
            self.cooldown_counter = self.cooldown
            self.num_bad_epochs = 0
        self._last_lr = [g["lr"] for g in self.optimizer.param_groups]

