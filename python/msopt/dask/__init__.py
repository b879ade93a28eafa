"""Training across machines on Dask.distributed: local SGD rounds of native steps.

Each round, every worker runs ``local_steps`` minibatch steps of :class:`~msopt.LinearModel`
(the native runner, GIL released) on the rows it holds, starting from the current model;
then a Dask task averages ``W`` and ``b``, weighted by the rows each worker processed.  The
rows stay on the workers (one pinned task per worker per round) and the model travels as a
future between tasks, never through the client until the end.

Needs ``dask[distributed]`` (``pip install "msopt[dask]"``); ``import msopt.dask`` without it
raises ImportError.  The linear estimators are trained this way (:func:`fit`).
:class:`TextClassifier` and :class:`Word2Vec` run rounds of their native chunks on bags of
texts and token lists, and average each embedding row over the workers that touched it
(:func:`average_rows`).  For all of them, a worker that leaves the cluster during the fit
costs a round run again on the workers that remain, and Ctrl-C leaves the last averaged
model on the estimator.

Examples
--------
>>> import numpy as np
>>> import msopt
>>> from msopt import dask as mdask
>>> rng = np.random.default_rng(0)
>>> X = rng.standard_normal((2_000, 10)); y = (X[:, 0] > X[:, 1]).astype(int)
>>> clf, history = mdask.fit(msopt.LogisticRegression(random_state=0), X, y, epochs=5)
>>> clf.score(X, y) > 0.9, len(history) > 0, type(clf).__name__
(True, True, 'LogisticRegression')
"""

from __future__ import annotations

import copy
import math
import os
import socket
import time
from collections import deque
from collections.abc import Iterator
from concurrent.futures import CancelledError
from contextlib import contextmanager
from dataclasses import dataclass
from time import perf_counter
from typing import Any, cast

import numpy as np

try:
    import dask
    import dask.array as da
    from distributed import Client, Future, KilledWorker, LocalCluster, wait
except ImportError as e:  # pragma: no cover - exercised with the module hidden
    raise ImportError('msopt.dask needs Dask.distributed: pip install "msopt[dask]" '
                      f"(or dask[distributed]); {e}") from e

from msopt import _core
from msopt._api import check_choice, check_int, check_seed
from msopt.linear_model import estimators as _local
from msopt.linear_model.estimators import _copy_model, _LinearEstimator, _validate
from msopt.linear_model.layer import LinearModel, _Data, _is_sparse

__all__ = ["LinearRegression", "LinearSVC", "LogisticRegression", "TextClassifier", "Word2Vec",
           "auto_local_steps", "average_rows", "fit", "predict", "predict_proba"]

STATES = ("local", "average", "reset")
ESTIMATORS = (_local.LogisticRegression, _local.LinearRegression, _local.LinearSVC)
_SEED_STRIDE = 0x9E3779B97F4A7C15  # worker w > 0 shuffles with seed + w * this (mod 2**63)
ROUND_WORK = 2.0**35  # multiply-adds a worker's round carries under the default local_steps


def auto_local_steps(step_work: float, steps_per_epoch: int) -> int:
    """The default ``local_steps``: enough steps that a worker's round carries about
    :data:`ROUND_WORK` multiply-adds (seconds of one core, against a round's fixed cost of
    scheduling, moving the model or the changed rows and averaging: tens of milliseconds
    for a linear model, a few tenths of a second for Word2Vec's tables), but no more than
    one pass over the largest shard, so that data too small to need it is still averaged
    every epoch (a choice for accuracy: there a round's fixed cost may be a larger share).

    Parameters
    ----------
    step_work : float
        Multiply-adds of one step on one worker (forward, gradient and update).
    steps_per_epoch : int
        Steps of one pass over the largest shard.

    Examples
    --------
    >>> auto_local_steps(256 * 100 * 10 * 3, 3_907)  # batch 256, 100 features, 10 classes
    3907
    >>> auto_local_steps(256 * 1_000 * 10 * 3, 100_000)
    4474
    """
    return max(1, min(int(steps_per_epoch), math.ceil(ROUND_WORK / max(step_work, 1.0))))


# -- on the workers -----------------------------------------------------------------------
class _Shard:
    """A worker's rows, converted once for the native loop, and where its steps are."""

    def __init__(self, est: _LinearEstimator, seed: int, batch_size: int,
                 *blocks: tuple[Any, Any]) -> None:
        if _is_sparse(blocks[0][0]):
            import scipy.sparse

            X = scipy.sparse.vstack([b[0] for b in blocks], format="csr")
        else:
            X = np.concatenate([b[0] for b in blocks])
        y = np.concatenate([b[1] for b in blocks])
        X, y = _validate(est, X, y, reset=False, regression=est._is_regressor,
                         multi_output=est._is_regressor)
        _, _, self.target = est._prepare_targets(np.asarray(y), getattr(est, "classes_", None))
        self.data = _Data(X, est._model.dtype)
        self.n = self.data.n
        self.batch_size = min(batch_size, self.n)
        self.steps_per_epoch = -(-self.n // self.batch_size)
        self.seed, self.shuffle = seed, bool(est.shuffle)
        self._perm: tuple[int, np.ndarray] | None = None

    def order(self, epoch: int) -> np.ndarray:
        """The rows of ``epoch`` in their visiting order, as ``LinearModel.run`` visits them
        (the last epoch's is kept: a round's steps mostly fall in one epoch)."""
        if not self.shuffle:
            return np.arange(self.n)
        if self._perm is None or self._perm[0] != epoch:
            self._perm = (epoch, _core.epoch_permutation(self.seed, epoch, self.n))
        return self._perm[1]

    def run(self, model: LinearModel, start: int, steps: int, opts: dict[str, Any]
            ) -> tuple[int, float]:
        """``steps`` minibatch steps from the shard's step ``start`` (crossing epochs as
        needed): the batches ``run`` would take, each segment of an epoch in one native call.
        Returns the rows processed and the sum of their losses."""
        rows = 0
        loss_sum = 0.0
        bs = self.batch_size
        while steps > 0:
            epoch, j = divmod(start, self.steps_per_epoch)
            m = min(steps, self.steps_per_epoch - j)
            idx = self.order(epoch)[j * bs:(j + m) * bs]
            loss = model.run(self.data.rows(idx), self.target[idx], epochs=1, batch_size=bs,
                             shuffle=False, **opts)
            rows += idx.size
            loss_sum += float(loss[0]) * idx.size
            start, steps = start + m, steps - m
        return rows, loss_sum


def _fresh(model: LinearModel) -> LinearModel:
    """``model``'s weights and penalty with a new optimizer state (as at construction)."""
    out = LinearModel(**model._init)
    _copy_model(model, out, with_optimizer=False)
    out.l2, out.l1 = model.l2, model.l1
    return out


_Result = tuple[LinearModel, int, float, float]  # the model, rows, loss sum, steps' seconds


def _round(shard: _Shard, prev: _Result | None, start: int, steps: int, state: str,
           opts: dict[str, Any], *last: LinearModel | _Result) -> _Result:
    """One worker's part of a round: a copy of the averaged model (with the worker's own
    optimizer state when ``prev``, its last result, is given) takes ``steps`` steps.
    ``last`` is the model to start from, or every worker's result of the round before,
    averaged here (each worker averages them alike: a round is one layer of tasks)."""
    model = last[0] if isinstance(last[0], LinearModel) else _average(
        state, *cast(tuple[_Result, ...], last))
    if prev is None:
        local = _fresh(model) if state == "reset" else copy.deepcopy(model)
    else:
        local = copy.deepcopy(prev[0])
        local.W[...] = model.W
        if local.b is not None:
            local.b[...] = model.b
    t0 = time.perf_counter()  # (the module's perf_counter is the client's round clock)
    rows, loss_sum = shard.run(local, start, steps, opts)
    return local, rows, loss_sum, time.perf_counter() - t0


def _average(state: str, *results: _Result) -> LinearModel:
    """W and b (and with ``state="average"`` the optimizer's state) averaged, weighted by
    the rows each worker processed.  One result is returned as it is, bit for bit."""
    if len(results) == 1:
        return results[0][0]
    total = sum(r[1] for r in results)
    out = copy.deepcopy(results[0][0])
    weights = [r[1] / total for r in results]

    def mean(arrays: list[Any]) -> np.ndarray:
        return sum(w * a for w, a in zip(weights, arrays))  # type: ignore[return-value]

    out.W[...] = mean([r[0].W for r in results])
    if out.b is not None:
        out.b[...] = mean([r[0].b for r in results])
    if state == "average":
        states = [r[0].optimizer.native_state() for r in results]
        dst = out.optimizer.native_state()
        for k, a in enumerate(dst.states):
            if a is not None:
                a[...] = mean([s.states[k] for s in states])
        dst.steps[...] = np.max([s.steps for s in states], axis=0)
    return out


def _summary(state: str, *results: _Result) -> tuple[LinearModel, float, int, float]:
    """What the client keeps of a round: the averaged model, the round's mean loss (plus
    that model's penalty), the rows processed and the slowest worker's seconds of steps."""
    model = _average(state, *results)
    rows = sum(r[1] for r in results)
    return (model, sum(r[2] for r in results) / rows + model.penalty(), rows,
            max(r[3] for r in results))


def _predict_block(X: np.ndarray, est: Any, method: str, width: int | None) -> np.ndarray:
    if X.shape[0] == 0:
        return np.zeros((0,) if width is None else (0, width),
                        est.classes_.dtype if method == "predict" and hasattr(est, "classes_")
                        else np.float64)
    return getattr(est, method)(X)


def _process() -> tuple[str, int]:
    return socket.gethostname(), os.getpid()


def _worker_threads(client_process: tuple[str, int], dask_worker: Any = None) -> int:
    """In a worker's own process, the native kernels' threads are set to the worker's
    (``nthreads``, as Dask sets OpenMP's and BLAS's): otherwise every worker of a machine
    starts a thread per core, and their threads fight for the cores.  Nothing changes in
    the client's own process (a cluster of threads) or under the user's
    ``MSOPT_NUM_THREADS``.  Returns the threads in use."""
    if _process() != tuple(client_process) and "MSOPT_NUM_THREADS" not in os.environ:
        _core.set_num_threads(max(1, int(dask_worker.state.nthreads)))
    return _core.get_num_threads()


# -- on the client ------------------------------------------------------------------------
def _own_threads(client: Any) -> None:
    """:func:`_worker_threads` on every worker (again after one has joined; ``client.run``
    passes the worker as ``dask_worker``); a worker that fails it (leaving, say) is left
    as it is."""
    client.run(_worker_threads, _process(), on_error="return")


@contextmanager
def _client(client: Any) -> Iterator[Any]:
    """The given client, or a LocalCluster of processes (one per core), closed at the end;
    each worker's native kernels use its own threads (:func:`_worker_threads`)."""
    if client is not None:
        if not isinstance(client, Client):
            raise TypeError(f"client: expected a distributed.Client or None, got "
                            f"{type(client).__name__}")
        _own_threads(client)
        yield client
        return
    with LocalCluster(n_workers=max(os.cpu_count() or 1, 1), threads_per_worker=1,
                      processes=True, dashboard_address=":0") as cluster, \
            Client(cluster) as new:
        _own_threads(new)
        yield new


def _is_frame(value: Any) -> bool:
    """A Dask DataFrame or Series (without importing dask.dataframe, which needs pandas)."""
    return (type(value).__module__.startswith(("dask.dataframe", "dask_expr"))
            and hasattr(value, "to_dask_array"))


def _as_array(value: Any) -> Any:
    if _is_sparse(value):
        return value.tocsr()
    if _is_frame(value) or isinstance(value, da.Array):
        return value
    return np.asarray(value)


def _from_frame(client: Any, value: Any, name: str) -> Any:
    """A Dask DataFrame or Series as a dask array with known chunk lengths (the partitions'
    lengths counted on the cluster); a one-column ``y`` as 1-D.  Anything else as it is."""
    if not _is_frame(value):
        return value
    lengths = [int(n) for n in client.compute(value.map_partitions(len)).result()]
    meta = value._meta.to_numpy()   # an empty partition as NumPy: the dtype and the width
    out = da.concatenate([da.from_delayed(dask.delayed(_to_numpy)(part), (n, *meta.shape[1:]),
                                          meta.dtype)
                          for part, n in zip(value.to_delayed(), lengths)])
    return out[:, 0] if name == "y" and out.ndim == 2 and out.shape[1] == 1 else out


def _to_numpy(part: Any) -> np.ndarray:
    """A pandas partition as NumPy (extension dtypes such as strings as objects)."""
    return part.to_numpy()


def _check_data(X: Any, y: Any) -> None:
    if X.ndim != 2:
        raise ValueError(f"X: expected a 2-D array, got {X.ndim}-D")
    if y.ndim not in (1, 2) or y.shape[0] != X.shape[0]:
        raise ValueError(f"y: expected {X.shape[0]} rows (1-D or 2-D), got shape {y.shape}")
    if X.shape[0] == 0:
        raise ValueError("X: no samples")


@dataclass
class _Part:
    """Rows of one worker: the futures of its (X, y) blocks in row order, and what the
    client keeps to place them again if the worker leaves: the scattered rows themselves
    (``source``), or nothing for a dask array's blocks, which the scheduler recomputes."""

    worker: str
    futures: list[Future]
    rows: int
    source: tuple[Any, Any] | None = None


def _alive(client: Any) -> set[str]:
    """The scheduler's workers (``scheduler_info()`` would return the client's cached copy,
    which its periodic refresh may have replaced meanwhile with one listing none)."""
    return set(client.nthreads())


def _partitions(client: Any, X: Any, y: Any) -> list[_Part]:
    """The rows of each worker holding some, the worker of the first rows first.  NumPy
    input is split in one contiguous piece per worker and scattered; a Dask array's blocks
    are persisted as (X, y) pairs."""
    workers = sorted(_alive(client))
    if not workers:
        raise ValueError("client: the cluster has no workers")
    if not isinstance(X, da.Array) and not isinstance(y, da.Array):
        bounds = np.linspace(0, X.shape[0], len(workers) + 1).astype(int)
        out = []
        for w, a, b in zip(workers, bounds[:-1], bounds[1:]):
            if b > a:
                source = (X[a:b], y[a:b])
                [fut] = client.scatter([source], workers=[w], hash=False)
                out.append(_Part(w, [fut], int(b - a), source))
        return out
    X = da.asarray(X)
    if any(math.isnan(c) for c in X.chunks[0]):
        X = X.compute_chunk_sizes()
    X = X.rechunk({1: -1})
    y = da.asarray(y).rechunk({0: X.chunks[0]} | ({1: -1} if y.ndim == 2 else {}))
    pairs = [dask.delayed(tuple)([a, b]) for a, b in zip(X.to_delayed().ravel(),
                                                         y.to_delayed().ravel())]
    futures = client.compute(pairs)
    wait(futures)
    who = client.who_has(futures)
    held: dict[str, _Part] = {}
    for fut, rows in zip(futures, X.chunks[0]):
        w = sorted(who[fut.key])[0]
        part = held.setdefault(w, _Part(w, [], 0))
        part.futures.append(fut)
        part.rows += int(rows)
    return [p for p in held.values() if p.rows > 0]


def _setup(client: Any, est: _LinearEstimator, X: Any, y: Any) -> None:
    """Fit ``est`` to nothing through its own machinery (parameter checks, classes from the
    whole ``y``, targets, the model's loss, size and dtype): a fresh, zero model."""
    if np.dtype(X.dtype).kind not in "fiub":
        raise TypeError(f"X: numeric data expected, got dtype {X.dtype}")
    dtype = np.float32 if X.dtype == np.float32 else np.float64
    d = X.shape[1]
    classes = None
    if est._is_classifier:
        classes = (client.compute(da.unique(y.ravel())).result() if isinstance(y, da.Array)
                   else np.unique(y))
        X0, y0 = np.zeros((len(classes), d), dtype), classes
    else:
        X0, y0 = np.zeros((1, d), dtype), np.zeros((1, *y.shape[1:]))
    est.__dict__.pop("_model", None)
    est._fit(X0, y0, None, partial=True, max_epochs=0, classes=classes)


def fit(model: Any, X: Any, y: Any = None, *, client: Any = None,
        local_steps: int | None = None,
        epochs: int | None = None, state: str = "average", seed: int | None = None,
        max_retries: int = 3) -> tuple[Any, list[dict[str, Any]]]:
    """Fit a linear estimator on a Dask cluster by local SGD.

    Each round, every worker holding rows takes ``local_steps`` minibatch steps (the
    estimator's ``batch_size``, optimizer, learning rate and schedule) from the current
    model on its own rows, then ``W`` and ``b`` are averaged, weighted by the rows each
    worker processed.  With one worker (or all rows on one) and ``tol=None`` the result is,
    bit for bit, the estimator's own ``fit`` with ``tol=None`` and ``max_iter=epochs``; with
    ``local_steps=1`` and equal shards it is synchronous minibatch SGD on the workers'
    batches put together.

    The estimator's ``tol`` and ``n_iter_no_change`` are checked on each round's loss, as
    its own fit checks them on each epoch's: when the round loss has not fallen below the
    best so far by a relative ``tol`` for ``n_iter_no_change`` rounds in a row, the fit
    stops with that round's model (the round in flight is dropped) and ``stop_reason_``
    says so; otherwise it runs ``epochs`` and ``stop_reason_`` is ``"max_iter"`` (no
    warning: ``epochs`` is the budget asked for).  A round carries fewer rows than an
    epoch and its loss is noisier, so a round fit may stop sooner: ``tol=None`` runs every
    epoch.

    Parameters
    ----------
    model : LogisticRegression, LinearRegression or LinearSVC
        The estimator, fitted in place from scratch and returned (its parameters apply,
        ``tol`` and ``n_iter_no_change`` to the rounds; ``gtol`` and its callbacks are not
        used, and ``early_stopping`` and ``warm_start`` are refused).
    X : dask array, Dask DataFrame, NumPy array or SciPy sparse matrix
        Shape (n_samples, n_features).  A NumPy array or sparse matrix (trained as CSR) is
        split in one contiguous piece per worker and scattered.  A Dask DataFrame (numeric
        columns; needs ``dask[dataframe]``) is trained as a dask array of its partitions,
        whose lengths are counted on the cluster first.
    y : dask array, Dask Series or DataFrame, or NumPy array
        Shape (n_samples,) or (n_samples, n_outputs); a one-column DataFrame is taken as
        a Series.  Labels (classifiers: the classes are taken from the whole of ``y``
        first, so a worker may lack some) or targets.
    client : distributed.Client, optional
        Without one, a LocalCluster of processes (one worker per core) is started and
        closed at the end.
    local_steps : int, optional
        Steps each worker takes per round (K).  K=1 is synchronous SGD; a larger K
        spreads the round's fixed cost (scheduling, moving the model, averaging: tens of
        milliseconds) over more work.  Default (None): :func:`auto_local_steps` of a
        step's multiply-adds (``3 * batch_size * n_features * n_outputs``; a sparse X
        counts its mean stored values per row), that is enough steps for a round to carry
        about 2**35 multiply-adds, at most one pass over the largest shard.  The history
        gives each round's steps.
    epochs : int, optional
        Passes over the largest worker's rows (default: the estimator's ``max_iter``).
        Every worker takes the same number of steps, so a smaller shard is passed over
        more often.
    state : {"average", "local", "reset"}, default "average"
        The optimizer's state (moments, step counts) between rounds.  "average": averaged
        like the weights, so that every worker starts each round from the same model and
        state; with ``local_steps=1`` and SGD (with or without momentum) this is exactly
        synchronous SGD, and when the shards differ (a class missing from one) it keeps
        the single-process accuracy where "local" loses a few points.  The default: a
        linear model's state is as small as its weights (Adam's is twice W), so sending it
        costs little.  "local": each worker keeps its own (nothing extra sent).  "reset":
        started afresh each round (only with a constant ``learning_rate_schedule``).  With
        one worker "average" and "local" are both the single-process fit.  The returned
        estimator holds the averaged state, or the first worker's.
    seed : int, optional
        Shuffling seed of the first worker (the others derive theirs from it); default:
        the estimator's ``random_state``.
    max_retries : int, default 3
        Rounds that may fail in one fit because a worker left the cluster (its process
        died, its connection closed).  The client keeps the last averaged model (read one
        round behind, while the next round runs) and what it needs to place each worker's
        rows again: NumPy and SciPy rows themselves, or nothing for a dask array's blocks,
        which the scheduler recomputes.  A failed round is run again from that model, the
        departed worker's rows going to the live worker holding the fewest.  With
        ``state="local"`` the workers then start again from the averaged model's state.
        One more failure raises RuntimeError and leaves the estimator as it was.

    Returns
    -------
    model : the fitted estimator
    history : list of dict
        One per round: ``round``, ``epoch`` (passes over the largest shard so far),
        ``loss`` (the round's mean training loss plus the penalty), ``rows``, ``steps``
        (each worker's), ``seconds``, ``step_seconds`` (the slowest worker's time in its
        steps, timed on the worker: the rest of ``seconds`` is scheduling, moving the
        results and averaging) and ``retried`` (how many times the round was started again
        after a worker left).

    Notes
    -----
    A fit is all or nothing, as the estimator's own, with one exception: a
    KeyboardInterrupt once a round has completed cancels the rounds in flight, leaves the
    last averaged model on the estimator (``history_`` up to that round, ``n_iter_`` the
    whole passes made, ``stop_reason_ = "interrupted"``) and is raised again.
    """
    if not isinstance(model, ESTIMATORS):
        raise TypeError(f"model: expected LogisticRegression, LinearRegression or LinearSVC, "
                        f"got {type(model).__name__}")
    K = check_int("local_steps", local_steps, 1, none=True, hi=2**62)
    epochs = check_int("epochs", epochs, 1, none=True, hi=2**62)
    check_choice("state", state, STATES)
    seed = check_seed("seed", seed, none=True)
    max_retries = check_int("max_retries", max_retries, 0, hi=2**62)
    model._check_params()
    if model.early_stopping:
        raise ValueError("early_stopping: not supported by msopt.dask.fit")
    if model.warm_start:
        raise ValueError("warm_start: not supported by msopt.dask.fit (it fits from scratch)")
    if state == "reset" and model.learning_rate_schedule != "constant":
        raise ValueError(f"state='reset' restarts the step count each round: it needs "
                         f"learning_rate_schedule='constant' (got "
                         f"{model.learning_rate_schedule!r})")
    if y is None:
        raise ValueError(f"y: {type(model).__name__} requires y")
    X, y = _as_array(X), _as_array(y)
    if not (_is_frame(X) or _is_frame(y)):
        _check_data(X, y)
    epochs = int(model.max_iter) if epochs is None else epochs
    saved = dict(model.__dict__)
    installed: list[bool] = []  # set when an interrupt leaves the last averaged model
    try:
        with _client(client) as c:
            X, y = _from_frame(c, X, "X"), _from_frame(c, y, "y")
            _check_data(X, y)
            _setup(c, model, X, y)
            history = _train(c, model, X, y, K, epochs, state, seed, max_retries, installed)
    except BaseException:
        if not installed:
            model.__dict__.clear()
            model.__dict__.update(saved)
        raise
    return model, history


_POLL = 0.5  # seconds between checks, while a round runs, that its workers are still there
_LOST = (KilledWorker, CancelledError, OSError, TimeoutError)  # what a departed worker raises


class _WorkerLost(Exception):
    """A worker holding rows left the cluster while a round ran."""


def _result(client: Any, futures: list[Any], parts: list[_Part]) -> list[Any]:
    """The futures' results; :class:`_WorkerLost` as soon as a worker of ``parts`` is gone
    (a task pinned to it would otherwise wait for it forever).  A result held by a worker
    that leaves while it is fetched is lost, and fetching it would wait for it forever
    too: the fetch is bounded as well, by a time that doubles while every worker stays."""
    patience = _POLL
    while True:
        try:
            wait(futures, timeout=_POLL)
            return [f.result(timeout=patience) for f in futures]
        except TimeoutError:
            if not {p.worker for p in parts} <= _alive(client):
                raise _WorkerLost from None
            patience = min(2 * patience, 64.0)


def _train(client: Any, est: _LinearEstimator, X: Any, y: Any, K: int | None, epochs: int,
           state: str, seed: int | None, max_retries: int, installed: list[bool]
           ) -> list[dict[str, Any]]:
    parts = _partitions(client, X, y)
    n = sum(p.rows for p in parts)
    model = est._model
    l2, l1 = est._l2_l1(est._penalty_scale(n))
    if not (math.isfinite(l2) and math.isfinite(l1)):
        name = "C" if est._is_classifier else "alpha"
        raise ValueError(f"{name}: {getattr(est, name)!r} gives a penalty strength that "
                         f"overflows with {n} samples")
    model.l2, model.l1 = l2, l1
    base = est._seed() if seed is None else seed
    seeds = [base if i == 0 else (base + i * _SEED_STRIDE) % 2**63 for i in range(len(parts))]
    bs = max(p.rows for p in parts) if est.batch_size is None else int(est.batch_size)

    def place(i: int) -> Any:
        part = parts[i]
        return client.submit(_Shard, est, seeds[i], bs, *part.futures, workers=[part.worker],
                             allow_other_workers=False, pure=False)

    shards = [place(i) for i in range(len(parts))]
    spe = max(-(-p.rows // min(bs, p.rows)) for p in parts)
    total = epochs * spe
    if K is None:
        per_row = X.nnz / max(X.shape[0], 1) if _is_sparse(X) else X.shape[1]
        outputs = model.W.shape[1] if model.W.ndim == 2 else 1
        K = auto_local_steps(3.0 * min(bs, max(p.rows for p in parts)) * per_row * outputs,
                             spe)
    warmup = int(float(est.warmup_epochs) * spe)
    opts = dict(schedule=est.learning_rate_schedule, schedule_steps=total,
                warmup_steps=warmup, schedule_origin=0)
    # The last averaged model the client holds (read one round behind, while the next one
    # runs) and the step it was reached at: a failed round starts again from there.
    checkpoint: tuple[int, LinearModel] = (0, model)
    history: list[dict[str, Any]] = []
    pending: deque[tuple[int, list[Any]]] = deque()  # (end step, the round's results)
    retried = retries = 0
    clock = perf_counter()
    # The estimator's convergence check, on each round's loss: the best so far and the
    # rounds since it improved by a relative tol.
    best, stale, reason = math.inf, 0, "max_iter"

    def record() -> bool:
        """Round ``pending[0]`` read and recorded; True when it converged."""
        nonlocal clock, checkpoint, retried, best, stale, reason
        end, results = pending[0]
        averaged, loss, rows, step_seconds = _summary(state, *_result(client, results, parts))
        now = perf_counter()
        pending.popleft()
        history.append({"round": len(history) + 1, "epoch": end / spe, "loss": loss,
                        "rows": rows, "steps": end - checkpoint[0], "seconds": now - clock,
                        "step_seconds": step_seconds, "retried": retried})
        checkpoint = (end, averaged)
        clock, retried = now, 0
        if est.tol is None:
            return False
        stale = 0 if loss < best - est.tol * max(abs(best), 1e-12) or best == math.inf else (
            stale + 1)
        best = min(best, loss)
        if stale < est.n_iter_no_change:
            return False
        reason = (f"converged: relative round loss change below tol={est.tol} for "
                  f"{est.n_iter_no_change} rounds")
        return True

    def replace_lost() -> None:
        """Each shard of a departed worker goes to the live worker holding the fewest."""
        alive = _alive(client)
        if not alive:
            raise RuntimeError("msopt.dask.fit: no worker is left in the cluster")
        _own_threads(client)
        load = {w: sum(p.worker == w for p in parts) for w in sorted(alive)}
        for i, part in enumerate(parts):
            if part.worker not in alive:
                part.worker = min(load, key=load.__getitem__)
                load[part.worker] += 1
                if part.source is not None:
                    part.futures = client.scatter([part.source], workers=[part.worker],
                                                  hash=False)
                shards[i] = place(i)

    while True:
        start, averaged = checkpoint
        last: list[Any] = []
        prev: list[Any] = [None] * len(parts)
        try:
            last = [client.scatter(averaged, broadcast=True, hash=False)]
            while start < total:
                steps = min(K, total - start)
                results = [client.submit(_round, sh, prev[i] if state == "local" else None,
                                         start, steps, state, opts, *last,
                                         workers=[part.worker], allow_other_workers=False,
                                         pure=False)
                           for i, (sh, part) in enumerate(zip(shards, parts))]
                last = prev = results
                start += steps
                pending.append((start, results))
                if len(pending) > 1 and record():
                    break
            while pending and reason == "max_iter":
                record()
            if pending:                       # converged: the round in flight is dropped
                client.cancel([f for p in pending for f in p[1]])
                pending.clear()
            break
        except BaseException as e:
            client.cancel([f for f in [*last, *prev, *(f for p in pending for f in p[1])]
                           if isinstance(f, Future)])
            pending.clear()
            lost = isinstance(e, (_WorkerLost, *_LOST)) or (
                isinstance(e, Exception) and not {p.worker for p in parts} <= _alive(client))
            if not lost or retries >= max_retries:
                client.cancel(shards)
                if isinstance(e, KeyboardInterrupt) and history:
                    _install(est, checkpoint[1], n, history, "interrupted")
                    installed.append(True)
                if lost:
                    raise RuntimeError(f"msopt.dask.fit: workers left the cluster in "
                                       f"{retries + 1} rounds (max_retries={max_retries})"
                                       ) from e
                raise
            retries += 1
            retried += 1
            replace_lost()
    _install(est, checkpoint[1], n, history, reason)
    return history


def _install(est: _LinearEstimator, model: LinearModel, n: int,
             history: list[dict[str, Any]], reason: str) -> None:
    """The averaged model and how far the rounds went, on the estimator."""
    est._model = model
    est._n_seen = n
    est._epochs_done = est.n_iter_ = int(history[-1]["epoch"])
    est.history_ = (list(history) if isinstance(est, _DaskEstimator) else
                    [{"epoch": h["epoch"], "loss": h["loss"]} for h in history])
    est.stop_reason_ = reason
    est.t_ = int(model.optimizer.native_state().steps[0])


def _blockwise(est: Any, X: Any, method: str) -> Any:
    if not isinstance(est, ESTIMATORS):
        raise TypeError(f"model: expected LogisticRegression, LinearRegression or LinearSVC, "
                        f"got {type(est).__name__}")
    est._check_fitted()
    if _is_frame(X):
        X = X.to_dask_array()           # lazy: the blocks' lengths are not needed
    if not isinstance(X, da.Array):
        return getattr(est, method)(X)
    if X.ndim != 2:
        raise ValueError(f"X: expected a 2-D array, got {X.ndim}-D")
    X = X.rechunk({1: -1})
    if method == "predict_proba":
        k = len(est.classes_)
        return X.map_blocks(_predict_block, est, method, width=k, dtype=np.float64,
                            chunks=(X.chunks[0], (k,)), meta=np.zeros((0, k)))
    width = est._model.W.shape[1] if getattr(est, "_y_ndim", 1) == 2 else None
    dtype = est.classes_.dtype if est._is_classifier else np.float64
    if width is None:
        return X.map_blocks(_predict_block, est, method, width=None, dtype=dtype,
                            drop_axis=1, meta=np.zeros((0,), dtype))
    return X.map_blocks(_predict_block, est, method, width=width, dtype=dtype,
                        chunks=(X.chunks[0], (width,)), meta=np.zeros((0, width), dtype))


def predict(model: Any, X: Any) -> Any:
    """``model.predict`` on a dask array, block by block on the workers (lazy: a dask array;
    a NumPy array gives ``model.predict(X)``).

    Parameters
    ----------
    model : a fitted LogisticRegression, LinearRegression or LinearSVC
    X : dask array, Dask DataFrame or NumPy array, shape (n_samples, n_features)
    """
    return _blockwise(model, X, "predict")


def predict_proba(model: Any, X: Any) -> Any:
    """``model.predict_proba`` on a dask array, block by block on the workers (lazy).

    Parameters
    ----------
    model : a fitted LogisticRegression
    X : dask array, Dask DataFrame or NumPy array, shape (n_samples, n_features)
    """
    if not isinstance(model, _local.LogisticRegression):
        raise TypeError(f"model: predict_proba needs a LogisticRegression, got "
                        f"{type(model).__name__}")
    return _blockwise(model, X, "predict_proba")


# -- estimators ----------------------------------------------------------------------------
def _is_collection(X: Any) -> bool:
    return isinstance(X, da.Array) or _is_frame(X)


class _DaskEstimator:
    """``fit`` by :func:`fit` and ``predict`` block by block on Dask collections; the rest
    is the local estimator's (``_local_class``), which :meth:`to_local` returns."""

    _local_class: type[Any]
    history_: list[dict[str, Any]]

    def fit(self, X: Any, y: Any, client: Any = None, local_steps: int | None = None,
            epochs: int | None = None, state: str = "average", seed: int | None = None,
            max_retries: int = 3) -> Any:
        """Fit by local SGD on a Dask cluster (see :func:`msopt.dask.fit`, whose arguments
        these are); ``history_`` is then its per-round history.

        Parameters
        ----------
        X : dask array, Dask DataFrame, NumPy array or SciPy sparse matrix
        y : dask array, Dask Series or one-column DataFrame, or NumPy array
        client : distributed.Client, optional
        local_steps : int, optional
        epochs : int, optional
        state : {"average", "local", "reset"}, default "average"
        seed : int, optional
        max_retries : int, default 3

        Returns
        -------
        self
        """
        fit(self, X, y, client=client, local_steps=local_steps, epochs=epochs, state=state,
            seed=seed, max_retries=max_retries)
        return self

    def predict(self, X: Any) -> Any:
        """Predictions: a lazy dask array for a dask array or DataFrame (block by block on
        the workers), a NumPy array otherwise.

        Parameters
        ----------
        X : dask array, Dask DataFrame, NumPy array or SciPy sparse matrix
        """
        return self._apply(X, "predict")

    def _apply(self, X: Any, method: str) -> Any:
        if _is_collection(X):
            return _blockwise(self, X, method)
        return getattr(self._local_class, method)(self, X)

    def to_local(self) -> Any:
        """The ordinary msopt estimator, fitted as this one (a copy)."""
        self._local_class._check_fitted(self)
        out = object.__new__(self._local_class)
        out.__dict__.update(copy.deepcopy(self.__dict__))
        out.history_ = [{"epoch": h["epoch"], "loss": h["loss"]} for h in self.history_]
        return out


_DOC = """{what}, fitted across the workers of a Dask cluster by local SGD.

    The parameters are :class:`msopt.{name}`'s; ``fit`` takes Dask collections (and the
    options of :func:`msopt.dask.fit`), ``predict``{proba} run block by block on the
    workers, and :meth:`to_local` gives the ordinary :class:`msopt.{name}`.

    Parameters
    ----------
    **params
        As :class:`msopt.{name}` (``early_stopping`` and ``warm_start`` are refused by
        ``fit``; ``tol`` and ``n_iter_no_change`` are checked on the rounds' loss; ``gtol``
        is not used).

    Examples
    --------
    ``est = msopt.dask.{name}(random_state=0).fit(X, y, client=client)``, with ``X`` and
    ``y`` dask arrays or a Dask DataFrame and Series; ``est.predict(X)`` is then a lazy
    dask array and ``est.to_local()`` an ordinary :class:`msopt.{name}`.
    """


class LogisticRegression(_DaskEstimator, _local.LogisticRegression):
    __doc__ = _DOC.format(what="Logistic regression", name="LogisticRegression",
                          proba=" and ``predict_proba``")
    _local_class = _local.LogisticRegression

    def predict_proba(self, X: Any) -> Any:
        """Class probabilities: a lazy dask array for a dask array or DataFrame (block by
        block on the workers), a NumPy array otherwise.

        Parameters
        ----------
        X : dask array, Dask DataFrame, NumPy array or SciPy sparse matrix
        """
        return self._apply(X, "predict_proba")


class LinearSVC(_DaskEstimator, _local.LinearSVC):
    __doc__ = _DOC.format(what="A linear support vector classifier", name="LinearSVC",
                          proba="")
    _local_class = _local.LinearSVC


class LinearRegression(_DaskEstimator, _local.LinearRegression):
    __doc__ = _DOC.format(what="Linear regression", name="LinearRegression", proba="")
    _local_class = _local.LinearRegression


from msopt.dask._text import TextClassifier, Word2Vec, average_rows  # noqa: E402
