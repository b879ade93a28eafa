"""Training curves of any fitted msopt model: the loss of each epoch (``loss_history_``) and,
where the model validated, its validation measures (``history_``'s ``val_*`` entries).
matplotlib is needed for :func:`history` only and imported when it is called.

Examples
--------
>>> import msopt
>>> from msopt import plot
>>> clf = msopt.TextClassifier(dim=8, buckets=100, epochs=5, lr=0.5, threads=1)
>>> clf = clf.fit(["good film", "bad film"] * 20, ["pos", "neg"] * 20)
>>> sorted(plot.curves(clf))
['loss']
>>> len(plot.curves(clf)["loss"])
5
"""

from __future__ import annotations

import os
from typing import Any

import numpy as np

from msopt._api import not_fitted
from msopt._io import atomic_write, check_path
from msopt.exceptions import NotFittedError

__all__ = ["curves", "history"]


def curves(model: Any) -> dict[str, np.ndarray]:
    """The model's curves, one value per epoch (or per check, for the linear estimators):
    ``"loss"`` (the training loss, NaN where it was not computed) and every validation
    measure its ``history_`` holds (``"val_loss"``, ``"val_perplexity"``, ``"val_score"``,
    ``"val_pearson"``), float64.

    Parameters
    ----------
    model : a fitted msopt model
        Anything with ``loss_history_``; :class:`msopt.NotFittedError` when it has none.
    """
    try:
        loss = model.loss_history_
    except NotFittedError:
        raise
    except AttributeError:
        raise TypeError(f"model: expected an msopt model with loss_history_, got "
                        f"{type(model).__name__}") from None
    if not len(loss):
        raise not_fitted(model, "train it")
    out = {"loss": np.asarray(loss, np.float64)}
    entries = getattr(model, "history_", None) or []
    keys = sorted({k for e in entries if isinstance(e, dict) for k in e if k.startswith("val_")})
    for k in keys:
        out[k] = np.array([e.get(k, np.nan) for e in entries], np.float64)
    return out


def history(model: Any, *, ax: Any = None, path: str | os.PathLike[str] | None = None,
            title: str | None = None) -> Any:
    """Draw the loss curve, and the validation curves on a second axis, of a fitted model.

    Parameters
    ----------
    model : a fitted msopt model
        See :func:`curves`.
    ax : matplotlib Axes, optional
        Where to draw (default: a new figure).
    path : path, optional
        Save the figure there too (the format from the extension, e.g. ``.png``), written
        atomically.
    title : str, optional
        Default: the model's class name.

    Returns
    -------
    matplotlib Axes
        The loss axis.
    """
    data = curves(model)
    target = None if path is None else check_path(path)
    try:
        from matplotlib.figure import Figure
    except ImportError:
        raise ImportError("msopt.plot.history needs matplotlib: pip install matplotlib"
                          ) from None
    if ax is None and target is not None:  # a file only: no pyplot, no display
        ax = Figure(figsize=(6, 4)).add_subplot()
    elif ax is None:
        import matplotlib.pyplot as plt

        ax = plt.figure(figsize=(6, 4)).add_subplot()
    fig = ax.figure
    x = np.arange(1, len(data["loss"]) + 1)
    ax.plot(x, data.pop("loss"), marker="o", label="training loss")
    ax.set_xlabel("epoch")
    ax.set_ylabel("loss")
    ax.set_title(title if title is not None else type(model).__name__)
    lines, labels = ax.get_legend_handles_labels()
    if data:
        other = ax.twinx()
        for i, (k, v) in enumerate(data.items()):
            other.plot(np.arange(1, len(v) + 1), v, marker="s", linestyle="--",
                       color=f"C{i + 1}", label=k.replace("_", " "))
        other.set_ylabel("validation")
        more = other.get_legend_handles_labels()
        lines, labels = lines + more[0], labels + more[1]
    ax.legend(lines, labels, loc="best")
    if target is not None:
        fmt = os.path.splitext(target)[1].lstrip(".") or "png"
        with atomic_write(target) as f:
            fig.savefig(f, format=fmt)
    return ax
