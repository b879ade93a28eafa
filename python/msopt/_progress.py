"""What every long training call reports between its native chunks: one :class:`Progress`
record, handed to the model's ``callbacks``, drawn as a progress bar when ``verbose`` (tqdm
when installed, else a line on stderr, rewritten in place on a terminal), and logged at INFO on the
``"msopt"`` logger (at most once a second, and at the end of every epoch)."""

from __future__ import annotations

import json
import logging
import math
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, fields
from types import TracebackType
from typing import Any

import numpy as np

__all__ = ["Progress", "Tracker", "check_callbacks", "check_verbose", "logger",
           "saved_params"]

logger = logging.getLogger("msopt")
LOG_SECONDS = 1.0  # at most one INFO line a second within an epoch


@dataclass(frozen=True)
class Progress:
    """One report of a training call in progress, passed to ``callbacks`` as
    ``callback(model, progress)``; a callback that returns True stops the training after
    the chunk just finished (the model keeps it).  The fields are attributes and also
    keys (``progress["loss"]``), as are the model's own extras.

    Parameters
    ----------
    model : str
        The model's class name.
    epoch : int
        The epoch the report falls in, from 1 (a report at an epoch's end carries that
        epoch).
    epochs : int
        Epochs of the call.
    seen, total : int
        Units (``unit``) walked so far in this call, and in the whole call.
    unit : str
        ``"words"``, ``"documents"``, ``"rows"``, ``"tokens"`` or ``"pairs"``.
    loss : float
        Mean training loss of the epoch so far (NaN when the model does not compute it).
    learning_rate : float
        The rate in use now.
    per_second : float
        ``seen`` per second since the call started.
    extra : mapping
        What a model adds (a validation score, ...).
    """

    model: str
    epoch: int
    epochs: int
    seen: int
    total: int
    unit: str
    loss: float
    learning_rate: float
    per_second: float
    extra: Mapping[str, Any] = field(default_factory=dict)

    def __getitem__(self, key: str) -> Any:
        if key in self.extra:
            return self.extra[key]
        if key in _FIELDS:
            return getattr(self, key)
        raise KeyError(key)

    def __contains__(self, key: object) -> bool:
        return key in self.extra or key in _FIELDS

    @property
    def fraction(self) -> float:
        """Share of the call done, in [0, 1]."""
        return min(1.0, self.seen / self.total) if self.total else 1.0

    def message(self) -> str:
        """The line that is logged and shown: gensim's way of reporting."""
        extra = "".join(f", {k} {_fmt(v)}" for k, v in self.extra.items())
        return (f"{self.model}: epoch {self.epoch}/{self.epochs}, {100 * self.fraction:.1f}% "
                f"of {self.total:,} {self.unit}, loss {_fmt(self.loss)}, lr "
                f"{_fmt(self.learning_rate)}, {self.per_second:,.0f} {self.unit}/s{extra}")


_FIELDS = frozenset(f.name for f in fields(Progress)) - {"extra"}


def _fmt(v: Any) -> str:
    return f"{v:.6g}" if isinstance(v, (float, np.floating)) else str(v)


def check_callbacks(callbacks: Any) -> list[Callable[..., Any]]:
    """``callbacks``: None or a list (tuple) of callables, refused with a TypeError that
    names it."""
    if callbacks is None:
        return []
    if isinstance(callbacks, (str, bytes)) or not isinstance(callbacks, Sequence):
        raise TypeError(f"callbacks: expected a list of callables, got "
                        f"{type(callbacks).__name__}")
    for i, cb in enumerate(callbacks):
        if not callable(cb):
            raise TypeError(f"callbacks[{i}]: expected a callable, got {type(cb).__name__}")
    return list(callbacks)


def check_verbose(verbose: Any) -> int:
    """``verbose``: a bool or an int >= 0."""
    if isinstance(verbose, (bool, np.bool_)):
        return int(verbose)
    if not isinstance(verbose, (int, np.integer)):
        raise TypeError(f"verbose: expected a bool or an int >= 0, got "
                        f"{type(verbose).__name__}")
    if not 0 <= verbose < 2**63:
        raise ValueError(f"verbose: expected a bool or an int >= 0, got {verbose}")
    return int(verbose)


def plain(value: Any) -> Any:
    """``value`` with NumPy scalars made Python ones (``np.float32(0.1)`` -> ``0.1``, through
    lists, tuples and dicts), for JSON; anything else as it is."""
    if isinstance(value, np.generic):
        return value.item()
    if type(value) in (list, tuple):
        return type(value)(plain(v) for v in value)
    if type(value) is dict:
        return {k: plain(v) for k, v in value.items()}
    return value


def saved_params(model: Any) -> dict[str, Any]:
    """The model's parameters as a file keeps them: as the model was fitted (a parameter
    ``set_params`` set aside for the next fit is in :func:`staged_member`), without
    callbacks (code, not settings), a NumPy scalar (a grid from ``np.arange``, say) as the
    Python number it holds."""
    return {k: plain(getattr(model, k)) for k in model._get_param_names() if k != "callbacks"}


def staged_member(model: Any) -> dict[str, np.ndarray]:
    """A model file's ``staged`` member: the parameters ``set_params`` set aside for the
    model's next fit, as JSON (as :func:`saved_params` keeps them); none when there are
    none."""
    staged = {k: plain(v) for k, v in model._staged_params().items()}
    return {"staged": np.array(json.dumps(staged))} if staged else {}


def set_staged(model: Any, arrays: Mapping[str, np.ndarray]) -> None:
    """Set aside again, on a model just loaded, the parameters of its file's ``staged``
    member (:func:`staged_member`), if it has one; ValueError or TypeError for a member that
    is not a JSON object of the model's parameter names."""
    if "staged" in arrays:
        staged = json.loads(str(arrays["staged"]))
        if not isinstance(staged, dict):
            raise ValueError("staged: expected a JSON object")
        model.set_params(**staged)


class Tracker:
    """The reporting of one training call: ``report`` after each native chunk (returns
    True when a callback asks to stop), ``close`` at the end (a context manager closes it).

    Parameters
    ----------
    model : object
        The model trained (its class name labels the reports; callbacks receive it).
    epochs, total : int
        Epochs and units of the whole call.
    unit : str
        What ``seen`` and ``total`` count.
    callbacks : list of callables, optional
    verbose : bool or int
        Draw a progress bar.
    """

    def __init__(self, model: Any, *, epochs: int, total: int, unit: str,
                 callbacks: Sequence[Callable[..., Any]] | None = None,
                 verbose: Any = False) -> None:
        self.model, self.name = model, type(model).__name__
        self.epochs, self.total, self.unit = int(epochs), int(total), unit
        self.callbacks = check_callbacks(callbacks)
        self.verbose = check_verbose(verbose)
        self.start = time.perf_counter()
        self._logged = -math.inf
        self._bar: Any = None
        self._shown = 0
        self._width = 0

    def __repr__(self) -> str:
        return f"Tracker({self.name}, epochs={self.epochs}, total={self.total:,} {self.unit})"

    def report(self, epoch: int, seen: int, loss: float, learning_rate: float, *,
               epoch_end: bool = False, **extra: Any) -> bool:
        """Make the record of the training so far; log it (always at an epoch's end,
        ``epoch_end``), show it and pass it to the callbacks.  Returns True when a callback
        returned a true value."""
        elapsed = max(time.perf_counter() - self.start, 1e-9)
        rec = Progress(self.name, int(epoch), self.epochs, int(seen), self.total, self.unit,
                       float(loss), float(learning_rate), seen / elapsed, extra)
        now = time.perf_counter()
        if (now - self._logged >= LOG_SECONDS or epoch_end) and logger.isEnabledFor(
                logging.INFO):
            logger.info(rec.message())
            self._logged = now
        if self.verbose:
            self._show(rec, epoch_end)
        stop = False
        for cb in self.callbacks:
            stop = bool(cb(self.model, rec)) or stop
        return stop

    def _show(self, rec: Progress, epoch_end: bool) -> None:
        if self._bar is None:
            try:
                from tqdm.auto import tqdm
            except ImportError:
                self._bar = False
            else:
                self._bar = tqdm(total=self.total, desc=self.name, unit=rec.unit,
                                 leave=False)
        if self._bar is False:
            # A terminal sees one line rewritten in place, an epoch's last one kept; a file
            # or a pipe gets the epochs' lines only.
            line = rec.message()
            if sys.stderr.isatty():
                sys.stderr.write("\r" + line.ljust(self._width) + ("\n" if epoch_end else ""))
                self._width = 0 if epoch_end else len(line)
            elif epoch_end:
                sys.stderr.write(line + "\n")
            sys.stderr.flush()
            return
        self._bar.update(rec.seen - self._shown)
        self._shown = rec.seen
        self._bar.set_postfix(epoch=f"{rec.epoch}/{rec.epochs}", loss=_fmt(rec.loss),
                              lr=_fmt(rec.learning_rate), refresh=False)

    def close(self) -> None:
        """End the bar (or the line)."""
        if self._bar is False and self._width:
            sys.stderr.write("\n")
            sys.stderr.flush()
        elif self._bar:
            self._bar.close()
        self._bar, self._width = None, 0

    def __enter__(self) -> Tracker:
        return self

    def __exit__(self, kind: type[BaseException] | None, value: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()


class ChunkSize:
    """Units of work per native call: ``fixed``, or (None) sized from the last call's time
    so that a call takes about ``seconds``, starting from ``first``.  A timed size changes
    which calls a run is cut into, never its result: the chunked runs repeat one call.

    Parameters
    ----------
    fixed : int or None
    first : int
    seconds : float
    """

    def __init__(self, fixed: int | None, first: int, seconds: float = 0.4) -> None:
        self.fixed, self.seconds = fixed, seconds
        self.size = int(fixed) if fixed is not None else int(first)
        self._start = time.perf_counter()

    def __repr__(self) -> str:
        return f"ChunkSize({self.size:,}{', fixed' if self.fixed is not None else ''})"

    def __int__(self) -> int:
        return self.size

    def start(self) -> None:
        """Mark the start of a call."""
        self._start = time.perf_counter()

    def done(self) -> None:
        """After a call: the next size, within 4 times this one either way."""
        if self.fixed is not None:
            return
        spent = max(time.perf_counter() - self._start, 1e-4)
        self.size = max(1 << 10, min(self.size * 4, 1 << 30, max(
            self.size // 4, int(self.size * self.seconds / spent))))
