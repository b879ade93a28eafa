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
from collections.abc import Callable, Mapping, Sequence
from functools import lru_cache
from typing import Any, ClassVar

import numpy as np

from msopt import _core
from msopt._api import INT64_MAX, check_choice, check_int, check_number
from msopt.optim.optimizers import Optimizer

__all__ = ["ExponentialLR", "LRScheduler", "LinearDecayLR", "ReduceLROnPlateau", "ResumeError",
           "StepLR", "WarmupCosineLR"]

Check = Callable[[str, Any], Any]
_REAL = (int, float, np.integer, np.floating)


def _int(lo: int) -> Check:
    """An int in [lo, 2**63 - 1] (the native schedules count steps in int64)."""
    return lambda name, v: check_int(name, v, lo, hi=INT64_MAX)


def _num(lo: float = 0.0, hi: float = math.inf, *, hi_strict: bool = False) -> Check:
    return lambda name, v: check_number(name, v, lo=lo, hi=hi, hi_strict=hi_strict)


def _rates(name: str, v: Any) -> list[float]:
    """A list of rates (numbers; the ones in force may have overflowed to inf)."""
    if isinstance(v, (str, bytes, Mapping)) or not isinstance(v, Sequence):
        raise TypeError(f"{name}: expected a list of numbers, got {type(v).__name__}")
    out = []
    for k, x in enumerate(v):
        if isinstance(x, (bool, np.bool_)) or not isinstance(x, _REAL):
            raise TypeError(f"{name}[{k}]: expected a number, got {type(x).__name__}")
        out.append(float(x))
    return out


def _base_rates(name: str, v: Any) -> list[float]:
    """A list of base rates: finite numbers >= 0."""
    return [check_number(f"{name}[{k}]", x, lo=0) for k, x in enumerate(_rates(name, v))]


class ResumeError(KeyError, ValueError):
    """``last_epoch`` resumes a schedule, but a param group has no ``initial_lr``.  A
    KeyError, as torch raises here, and a ValueError, as msopt raises for a bad argument."""

    def __str__(self) -> str:  # the message, not KeyError's repr of it
        return str(self.args[0]) if self.args else ""


def _metric(name: str, v: Any) -> float:
    """A metric: a real number (or a 0-d array of one), not NaN; ±inf is ordered."""
    if isinstance(v, np.ndarray) and v.ndim == 0 and v.dtype.kind in "iuf":
        v = v[()]
    return _best(name, v)


class _Schedule:
    """What every schedule shares: the rates in force, and its state as a plain dict.

    ``_fields`` maps each attribute of the state (the constructor's arguments and the
    counters) to its check; the constructor and :meth:`load_state_dict` use the same ones.
    """

    _last_lr: list[float]
    _fields: ClassVar[dict[str, Check]] = {}

    def get_last_lr(self) -> list[float]:
        return list(self._last_lr)

    def state_dict(self) -> dict[str, Any]:
        return {k: v for k, v in self.__dict__.items() if k != "optimizer"}

    def _check_state(self, state: dict[str, Any]) -> None:
        """Checks that tie fields together (raise ValueError)."""

    def load_state_dict(self, state_dict: Mapping[str, Any]) -> None:
        """Restore a snapshot from :meth:`state_dict`; every value is checked (as the
        constructor checks it) before anything is changed."""
        if not isinstance(state_dict, Mapping):
            raise TypeError(f"state_dict: expected a dict, got {type(state_dict).__name__}")
        unknown = set(state_dict) - set(self._fields)
        if unknown:
            raise ValueError(f"state_dict: unknown keys {sorted(map(str, unknown))} for "
                             f"{type(self).__name__}")
        checked = {k: self._fields[k](f"state_dict[{k!r}]", v) for k, v in state_dict.items()}
        merged = {**self.__dict__, **checked}
        groups = len(self.optimizer.param_groups)  # type: ignore[attr-defined]
        for key in ("base_lrs", "_last_lr"):
            if key in merged and len(merged[key]) != groups:
                raise ValueError(f"state_dict[{key!r}]: expected one rate per param group "
                                 f"({groups}), got {len(merged[key])}")
        self._check_state(merged)
        self.__dict__.update(checked)


class LRScheduler(_Schedule):
    """Base class: a closed-form rate per epoch, ``lr = f(base_lr, last_epoch)``."""

    _fields: ClassVar[dict[str, Check]] = {"base_lrs": _base_rates, "_last_lr": _rates,
                                           "last_epoch": _int(-1)}

    def __init__(self, optimizer: Optimizer, last_epoch: int = -1) -> None:
        if not isinstance(optimizer, Optimizer):
            raise TypeError(f"optimizer: expected an msopt optimizer, got "
                            f"{type(optimizer).__name__}")
        last_epoch = check_int("last_epoch", last_epoch, -1, hi=INT64_MAX - 1)
        initial = []
        for gi, g in enumerate(optimizer.param_groups):
            if last_epoch == -1:
                lr = g.get("initial_lr", g["lr"])  # as torch: a second schedule keeps it
            elif "initial_lr" not in g:
                raise ResumeError(f"last_epoch: {last_epoch} resumes a schedule, but param "
                                  f"group {gi} has no 'initial_lr' (set by a scheduler); "
                                  "start with last_epoch=-1 or load the scheduler's "
                                  "state_dict")
            else:
                lr = g["initial_lr"]
            initial.append(check_number(f"param_groups[{gi}]['initial_lr']", lr, lo=0))
        for g, lr in zip(optimizer.param_groups, initial):
            g.setdefault("initial_lr", lr)
        self.optimizer = optimizer
        self.base_lrs = [g["initial_lr"] for g in optimizer.param_groups]
        self.last_epoch = last_epoch
        self.step()

    def lr_at(self, base_lr: float, epoch: int) -> float:
        return self.schedule(base_lr).at(epoch)

    def schedule(self, base_lr: float) -> _core.Schedule:
        """The native schedule whose rate at step ``epoch`` is ``lr_at(base_lr, epoch)``."""
        raise NotImplementedError

    def step(self) -> None:
        """Set each group's rate for the next epoch.  A rate that is not a finite number
        (say, ``gamma ** epoch`` overflowed) is refused by the optimizer's next step."""
        epoch = self.last_epoch + 1
        rates = [self.lr_at(base, epoch) for base in self.base_lrs]
        for gi, (base, lr) in enumerate(zip(self.base_lrs, rates)):
            error = self.optimizer._rate_error(gi, lr)
            if error is not None:
                raise ValueError(f"{type(self).__name__}: the rate at epoch {epoch} of param "
                                 f"group {gi} would be {lr!r} (base_lr = {base!r}, "
                                 f"{self._describe()}), which the optimizer refuses; "
                                 f"nothing was changed: {error}")
        self.last_epoch = epoch
        for g, lr in zip(self.optimizer.param_groups, rates):
            g["lr"] = lr
        self._last_lr = [g["lr"] for g in self.optimizer.param_groups]

    def _describe(self) -> str:
        """The schedule's own arguments, as ``name = value``."""
        return ", ".join(f"{k} = {getattr(self, k)!r}" for k in self._fields
                         if not k.startswith("_") and k not in ("base_lrs", "last_epoch"))


@lru_cache(maxsize=256)
def _schedule(kind: _core.ScheduleKind, **params: Any) -> _core.Schedule:
    """One immutable native schedule per distinct parameter set, built once."""
    return _core.Schedule(kind, **params)


class StepLR(LRScheduler):
    """``lr = base * gamma ** (epoch // step_size)``."""

    _fields = {**LRScheduler._fields, "step_size": _int(1), "gamma": _num()}

    def __init__(self, optimizer: Optimizer, step_size: int, gamma: float = 0.1,
                 last_epoch: int = -1) -> None:
        self.step_size = self._fields["step_size"]("step_size", step_size)
        self.gamma = self._fields["gamma"]("gamma", gamma)
        super().__init__(optimizer, last_epoch)

    def schedule(self, base_lr: float) -> _core.Schedule:
        return _schedule(_core.ScheduleKind.STEP, base=base_lr, gamma=self.gamma,
                         step_size=self.step_size)


class ExponentialLR(LRScheduler):
    """``lr = base * gamma ** epoch``."""

    _fields = {**LRScheduler._fields, "gamma": _num()}

    def __init__(self, optimizer: Optimizer, gamma: float, last_epoch: int = -1) -> None:
        self.gamma = self._fields["gamma"]("gamma", gamma)
        super().__init__(optimizer, last_epoch)

    def schedule(self, base_lr: float) -> _core.Schedule:
        return _schedule(_core.ScheduleKind.EXPONENTIAL, base=base_lr, gamma=self.gamma)


class WarmupCosineLR(LRScheduler):
    """Linear warmup, then cosine decay to ``min_lr``:
    ``base * k / warmup`` for ``k < warmup``, then
    ``min_lr + (base - min_lr) * (1 + cos(pi * (k - warmup) / (total - warmup))) / 2``,
    and ``min_lr`` from ``total`` on."""

    _fields = {**LRScheduler._fields, "warmup_steps": _int(0), "total_steps": _int(1),
               "min_lr": _num()}

    def __init__(self, optimizer: Optimizer, warmup_steps: int, total_steps: int,
                 min_lr: float = 0.0, last_epoch: int = -1) -> None:
        f = self._fields
        self.warmup_steps = f["warmup_steps"]("warmup_steps", warmup_steps)
        self.total_steps = f["total_steps"]("total_steps", total_steps)
        self.min_lr = f["min_lr"]("min_lr", min_lr)
        self._check_state(self.__dict__)
        super().__init__(optimizer, last_epoch)

    def _check_state(self, state: dict[str, Any]) -> None:
        if state["total_steps"] <= state["warmup_steps"]:
            raise ValueError(f"total_steps: must be an int > warmup_steps "
                             f"({state['warmup_steps']}), got {state['total_steps']!r}")

    def schedule(self, base_lr: float) -> _core.Schedule:
        return _schedule(_core.ScheduleKind.WARMUP_COSINE, base=base_lr, floor=self.min_lr,
                         total=self.total_steps, warmup=self.warmup_steps)


class LinearDecayLR(LRScheduler):
    """word2vec / fastText decay: ``lr = base * max(1 - epoch / total_steps, min_factor)``."""

    _fields = {**LRScheduler._fields, "total_steps": _int(1), "min_factor": _num(0.0, 1.0)}

    def __init__(self, optimizer: Optimizer, total_steps: int, min_factor: float = 1e-4,
                 last_epoch: int = -1) -> None:
        self.total_steps = self._fields["total_steps"]("total_steps", total_steps)
        self.min_factor = self._fields["min_factor"]("min_factor", min_factor)
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

    _fields: ClassVar[dict[str, Check]] = {
        "mode": lambda name, v: check_choice(name, v, ("min", "max")),
        "threshold_mode": lambda name, v: check_choice(name, v, ("rel", "abs")),
        "factor": _num(0.0, 1.0, hi_strict=True), "patience": _int(0), "cooldown": _int(0),
        "threshold": _num(), "min_lr": _num(), "eps": _num(),
        "best": lambda name, v: _best(name, v), "num_bad_epochs": _int(0),
        "cooldown_counter": _int(0), "last_epoch": _int(0), "_last_lr": _rates,
    }

    def __init__(self, optimizer: Optimizer, mode: str = "min", factor: float = 0.1,
                 patience: int = 10, threshold: float = 1e-4, threshold_mode: str = "rel",
                 cooldown: int = 0, min_lr: float = 0.0, eps: float = 1e-8) -> None:
        if not isinstance(optimizer, Optimizer):
            raise TypeError(f"optimizer: expected an msopt optimizer, got "
                            f"{type(optimizer).__name__}")
        f = self._fields
        mode = f["mode"]("mode", mode)
        threshold_mode = f["threshold_mode"]("threshold_mode", threshold_mode)
        self.factor = f["factor"]("factor", factor)
        self.optimizer = optimizer
        self.mode, self.threshold_mode = mode, threshold_mode
        self.patience, self.cooldown = f["patience"]("patience", patience), f["cooldown"](
            "cooldown", cooldown)
        self.threshold = f["threshold"]("threshold", threshold)
        self.min_lr, self.eps = f["min_lr"]("min_lr", min_lr), f["eps"]("eps", eps)
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
        """Record one check of ``metric`` (a number; NaN is refused: it compares as neither
        better nor worse)."""
        current = _metric("metric", metric)
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


def _best(name: str, v: Any) -> float:
    """The best metric so far: a number (inf before the first check), not NaN."""
    if isinstance(v, (bool, np.bool_)) or not isinstance(v, _REAL):
        raise TypeError(f"{name}: expected a number, got {type(v).__name__}")
    try:
        x = float(v)
    except OverflowError:  # an int beyond the float range
        raise ValueError(f"{name}: {v!r} is beyond the float range") from None
    if math.isnan(x):
        raise ValueError(f"{name}: expected a number, not NaN")
    return x
