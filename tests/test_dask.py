"""msopt.dask: local SGD rounds of the linear estimators on a Dask LocalCluster."""

from __future__ import annotations

import doctest
import importlib
import os
import pickle
import signal
import sys

import numpy as np
import pytest

pytest.importorskip("distributed")

import dask.array as da  # noqa: E402
from distributed import Client, LocalCluster  # noqa: E402

from msopt import dask as mdask  # noqa: E402
from msopt.linear_model import (  # noqa: E402
    LinearModel,
    LinearRegression,
    LinearSVC,
    LogisticRegression,
)


def _serve(n: int):
    with LocalCluster(n_workers=n, threads_per_worker=1, processes=True,
                      dashboard_address=":0") as cluster, Client(cluster) as c:
        yield c


@pytest.fixture(scope="module")
def client():
    yield from _serve(2)


@pytest.fixture(scope="module")
def client1():
    yield from _serve(1)


def _blobs(n=300, d=6, k=3, seed=0):
    rng = np.random.default_rng(seed)
    y = rng.integers(0, k, n)
    X = rng.standard_normal((n, d)) + 3.0 * np.eye(k, d)[y]
    return X, y


# -- one worker: the single-process fit, bit for bit ----------------------------------------
@pytest.mark.parametrize("state", ["local", "average"])
def test_one_worker_is_the_single_process_fit(client1, state):
    X, y = _blobs()
    ref = LogisticRegression(random_state=3, tol=None, max_iter=4, batch_size=16).fit(X, y)
    est, history = mdask.fit(LogisticRegression(random_state=3, batch_size=16), X, y,
                             client=client1, local_steps=7, epochs=4, state=state)
    assert np.array_equal(est.coef_, ref.coef_)
    assert np.array_equal(est.intercept_, ref.intercept_)
    assert est.n_iter_ == 4
    assert est.t_ == ref.t_ == 4 * 19
    assert len(history) == -(-4 * 19 // 7)
    assert sum(h["rows"] for h in history) == 4 * 300


def test_reset_state_starts_each_round_fresh(client1):
    """state="reset", one step a round: momentum SGD's buffer starts afresh at each step,
    and a first momentum step is a plain SGD step: the plain SGD fit, bit for bit."""
    X, y = _blobs(100, 4, 2, seed=11)
    kw = dict(random_state=0, optimizer="sgd", learning_rate=0.05, batch_size=10)
    ref = LogisticRegression(tol=None, max_iter=2, **kw).fit(X, y)
    est, _ = mdask.fit(LogisticRegression(optimizer_params={"momentum": 0.9}, **kw), X, y,
                       client=client1, local_steps=1, epochs=2, state="reset")
    assert np.array_equal(est.coef_, ref.coef_)
    avg, _ = mdask.fit(LogisticRegression(optimizer_params={"momentum": 0.9}, **kw), X, y,
                       client=client1, local_steps=1, epochs=2)
    assert not np.array_equal(avg.coef_, ref.coef_)


def test_one_worker_dask_blocks_regression_and_svc(client1):
    rng = np.random.default_rng(1)
    X = rng.standard_normal((250, 4)).astype(np.float32)
    y = X @ np.array([1.0, -2.0, 0.5, 0.0], np.float32) + 0.3
    Xd, yd = da.from_array(X, chunks=(60, 2)), da.from_array(y, chunks=100)
    kw = dict(random_state=0, learning_rate_schedule="cosine", warmup_epochs=1.0, max_iter=3)
    ref = LinearRegression(tol=None, **kw).fit(X, y)
    est, _ = mdask.fit(LinearRegression(**kw), Xd, yd, client=client1, local_steps=5)
    assert est.coef_.dtype == ref.coef_.dtype == np.float32
    assert np.array_equal(est.coef_, ref.coef_)
    assert est.intercept_ == ref.intercept_
    Xc, yc = _blobs(120, 5, 4)
    ref = LinearSVC(random_state=1, tol=None, max_iter=2, shuffle=False).fit(Xc, yc)
    est, _ = mdask.fit(LinearSVC(random_state=1, shuffle=False), Xc, yc, client=client1,
                       local_steps=3, epochs=2)
    assert np.array_equal(est.coef_, ref.coef_)


def test_sparse_rows(client1, client):
    sparse = pytest.importorskip("scipy.sparse")
    X, y = _blobs(200, 8, 3, seed=10)
    X[np.abs(X) < 1.0] = 0.0
    Xs = sparse.csr_matrix(X)
    ref = LogisticRegression(random_state=1, tol=None, max_iter=2).fit(Xs, y)
    est, _ = mdask.fit(LogisticRegression(random_state=1), Xs.tocoo(), y, client=client1,
                       epochs=2, local_steps=3)
    assert np.array_equal(est.coef_, ref.coef_)
    est, _ = mdask.fit(LogisticRegression(random_state=1), Xs, y, client=client, epochs=30)
    assert est.score(Xs, y) > 0.85


# -- K=1, equal shards: synchronous minibatch SGD ---------------------------------------------
@pytest.mark.parametrize(("params", "state"), [(None, "local"), ({"momentum": 0.9}, "average")])
def test_one_step_rounds_are_synchronous_sgd(client, params, state):
    """The reference: msopt's own LinearModel.step on the two workers' batches put together
    (each worker's batch b is rows b*8..b*8+7 of its half: shuffle=False)."""
    X, y = _blobs(160, 5, 2, seed=4)
    kw = dict(optimizer="sgd", learning_rate=0.1, optimizer_params=params, shuffle=False,
              batch_size=8, C=2.0, tol=None)
    est, history = mdask.fit(LogisticRegression(**kw), X, y, client=client, local_steps=1,
                             epochs=2, state=state)
    ref = LinearModel(5, 1, "logistic", optimizer="sgd", lr=0.1, optimizer_params=params,
                      l2=1 / (2.0 * 160))
    halves = [(X[:80], y[:80]), (X[80:], y[80:])]
    for step in range(2 * 10):
        b = slice(step % 10 * 8, step % 10 * 8 + 8)
        ref.step(np.concatenate([h[0][b] for h in halves]),
                 np.concatenate([h[1][b] for h in halves]))
    assert len(history) == 20
    assert all(h["rows"] == 16 for h in history)
    np.testing.assert_allclose(est.coef_[0], ref.W[:, 0], rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(est.intercept_, ref.b, rtol=1e-12, atol=1e-14)
    assert not np.array_equal(ref.W, 0)


# -- two workers: the single-process accuracy ---------------------------------------------------
@pytest.mark.parametrize("name", ["digits", "breast_cancer"])
def test_two_workers_reach_the_single_process_accuracy(client, name):
    sklearn = pytest.importorskip("sklearn")
    from sklearn.model_selection import train_test_split
    from sklearn.preprocessing import StandardScaler

    X, y = getattr(sklearn.datasets, f"load_{name}")(return_X_y=True)
    Xtr, Xte, ytr, yte = train_test_split(X, y, test_size=0.25, random_state=0, stratify=y)
    scaler = StandardScaler().fit(Xtr)
    Xtr, Xte = scaler.transform(Xtr), scaler.transform(Xte)
    ref = LogisticRegression(random_state=0).fit(Xtr, ytr)
    # Each worker passes over half the rows: twice the passes make the same number of
    # averaged steps as the single process's epochs.
    Xd = da.from_array(Xtr, chunks=(200, -1))
    est, history = mdask.fit(LogisticRegression(random_state=0), Xd, ytr, client=client,
                             epochs=2 * ref.n_iter_)
    # Dask places the array's blocks (so each worker's rows, and the averaged model) as its
    # scheduler sees fit, which varies with the machine's load: within 1.5 points (7 of the
    # 450 digits) of the single process, whatever the placement (a loaded run lost 3)
    assert est.score(Xte, yte) >= ref.score(Xte, yte) - 0.015
    assert history[-1]["loss"] < history[0]["loss"]
    assert all(h["seconds"] > 0 for h in history)
    assert all(h["step_seconds"] > 0 for h in history)
    assert sum(h["step_seconds"] for h in history) < sum(h["seconds"] for h in history)
    assert est.loss_history_ == [h["loss"] for h in history]


def test_default_local_steps_carry_a_rounds_work(client):
    rng = np.random.default_rng(0)
    X = rng.standard_normal((2_000, 5))
    y = (X[:, 0] > 0).astype(int)
    est, history = mdask.fit(LogisticRegression(random_state=0, batch_size=100, tol=None), X,
                             y, client=client, epochs=3)
    # a small model: a round is one pass over a worker's 1,000 rows
    assert [h["steps"] for h in history] == [10, 10, 10]
    assert mdask.auto_local_steps(3 * 100 * 5, 10) == 10
    assert mdask.auto_local_steps(2.0**34, 10) == 2  # big steps: 2**35 multiply-adds a round
    assert mdask.auto_local_steps(2.0**40, 10) == 1


# -- convergence checks between rounds ------------------------------------------------------
def _stops_at(losses, tol, patience):
    """The round at which the estimator's rule (relative improvement on the best below tol
    for ``patience`` rounds in a row) stops, or None."""
    best, stale = np.inf, 0
    for i, loss in enumerate(losses):
        stale = 0 if best == np.inf or loss < best - tol * max(abs(best), 1e-12) else stale + 1
        best = min(best, loss)
        if stale >= patience:
            return i + 1
    return None


def test_tol_stops_on_the_round_loss(client):
    """tol and n_iter_no_change, the estimator's own, checked on each round's loss: the fit
    stops at the round the rule names, with that round's model (the round in flight is
    dropped), and says why; tol=None runs every epoch."""
    X, y = _blobs(400, 5, 2, seed=15)
    kw = dict(random_state=0, batch_size=20, n_iter_no_change=3)
    est, history = mdask.fit(LogisticRegression(tol=1e-2, **kw), X, y, client=client,
                             epochs=100, local_steps=5)
    losses = [h["loss"] for h in history]
    assert 3 < len(history) == _stops_at(losses, 1e-2, 3) < 100 * 2
    assert est.stop_reason_ == ("converged: relative round loss change below tol=0.01 for 3 "
                                "rounds")
    assert est.t_ == 5 * len(history)               # the last recorded round's model
    assert est.n_iter_ == int(history[-1]["epoch"])
    assert est.score(X, y) > 0.9
    full, full_history = mdask.fit(LogisticRegression(tol=None, **kw), X, y, client=client,
                                   epochs=6, local_steps=5)
    assert full.stop_reason_ == "max_iter"
    assert len(full_history) == 6 * 2
    assert full.t_ == 6 * 10
    n = min(len(history), len(full_history))       # the same rounds, until the stop
    assert [h["loss"] for h in full_history[:n]] == losses[:n]
    clf = mdask.LogisticRegression(tol=1e-2, **kw).fit(X, y, client=client, epochs=100,
                                                       local_steps=5)
    assert clf.stop_reason_.startswith("converged")
    assert len(clf.history_) == len(history)


# -- Dask DataFrames -------------------------------------------------------------------------
def test_dask_dataframes(client1, client):
    """A Dask DataFrame as X, a Series or a one-column frame as y: the partitions' lengths
    are counted, and with one worker the fit is the single-process one, bit for bit."""
    dd = pytest.importorskip("dask.dataframe")
    import pandas as pd

    X, y = _blobs(240, 5, 3, seed=13)
    labels = np.array(["x", "y", "z"])[y]
    frame = pd.DataFrame(X, columns=[f"f{i}" for i in range(5)]).assign(label=labels)
    ddf = dd.from_pandas(frame, npartitions=4)
    Xf = ddf[[f"f{i}" for i in range(5)]]
    ref = LogisticRegression(random_state=1, tol=None, max_iter=3).fit(X, labels)
    est, _ = mdask.fit(LogisticRegression(random_state=1), Xf, ddf["label"], client=client1,
                       epochs=3, local_steps=5)
    assert list(est.classes_) == ["x", "y", "z"]
    assert np.array_equal(est.coef_, ref.coef_)
    reg, history = mdask.fit(LinearRegression(random_state=0), Xf, ddf[["f0"]] * 2.0 + 1.0,
                             client=client, epochs=100)
    assert reg.coef_.shape == (5,)
    assert reg.score(X, 2.0 * X[:, 0] + 1.0) > 0.95
    assert sum(h["rows"] for h in history[:1]) > 0
    pred = mdask.predict(est, Xf)
    assert isinstance(pred, da.Array)
    assert np.array_equal(pred.compute(), ref.predict(X))
    np.testing.assert_array_equal(mdask.predict_proba(est, Xf).compute(), ref.predict_proba(X))
    with pytest.raises(TypeError, match="X"):
        mdask.fit(LogisticRegression(), ddf, ddf["label"], client=client)
    with pytest.raises(ValueError, match="X: expected a 2-D"):
        mdask.fit(LogisticRegression(), ddf["f0"], ddf["label"], client=client)


# -- shards: empty partitions, missing classes ---------------------------------------------------
def test_empty_partitions(client):
    X, y = _blobs(200, 4, 2, seed=2)
    Xd = da.from_array(X, chunks=((0, 120, 0, 80), (4,)))
    yd = da.from_array(y, chunks=((0, 120, 0, 80),))
    est, history = mdask.fit(LogisticRegression(random_state=0), Xd, yd, client=client,
                             epochs=10, local_steps=4)
    assert est.score(X, y) > 0.85
    assert sum(h["rows"] for h in history) > 0
    pred = mdask.predict(est, Xd)
    assert isinstance(pred, da.Array)
    assert np.array_equal(pred.compute(), est.predict(X))
    proba = mdask.predict_proba(est, Xd).compute()
    np.testing.assert_array_equal(proba, est.predict_proba(X))


def test_a_worker_with_no_partition(client):
    """All rows in one block: one worker trains, the other has nothing, and the result is
    the single-process fit."""
    X, y = _blobs(90, 4, 3, seed=8)
    ref = LogisticRegression(random_state=2, tol=None, max_iter=3).fit(X, y)
    est, history = mdask.fit(LogisticRegression(random_state=2), da.from_array(X),
                             da.from_array(y), client=client, epochs=3, local_steps=2)
    assert np.array_equal(est.coef_, ref.coef_)
    assert all(h["rows"] <= 64 for h in history)


def test_class_absent_from_a_shard(client):
    X, y = _blobs(240, 6, 3, seed=5)
    order = np.argsort(y, kind="stable")      # worker 0: classes 0 and 1, worker 1: 1 and 2
    X, y = X[order], np.array(["a", "b", "c"])[y[order]]
    # (With state="local" each worker's Adam moments follow its own classes: 0.93-0.96.)
    est, _ = mdask.fit(LogisticRegression(random_state=0), X, y, client=client, epochs=100,
                       local_steps=16, state="average")
    assert list(est.classes_) == ["a", "b", "c"]
    assert est.coef_.shape == (3, 6)
    ref = LogisticRegression(random_state=0).fit(X, y)
    assert set(est.predict(X)) == {"a", "b", "c"}
    assert est.score(X, y) >= ref.score(X, y) - 0.02 > 0.85
    assert mdask.predict(est, da.from_array(X, chunks=50)).compute().dtype == y.dtype


def test_workers_use_their_own_threads(client, monkeypatch):
    """A fit sets the native threads of each worker process to the worker's (one here),
    not one per core of the machine; the client's own process (a cluster of threads) and
    a user's MSOPT_NUM_THREADS are left alone."""
    import msopt

    client.run(msopt.set_num_threads, 2)
    X, y = _blobs(200, 4, 2)
    mdask.fit(LogisticRegression(random_state=0), X, y, client=client, epochs=1)
    assert set(client.run(msopt.get_num_threads).values()) == {1}
    mine = msopt.get_num_threads()
    try:
        msopt.set_num_threads(2)
        assert mdask._worker_threads(mdask._process()) == 2        # the client's process
        monkeypatch.setenv("MSOPT_NUM_THREADS", "2")
        assert mdask._worker_threads(("elsewhere", -1)) == 2
    finally:
        msopt.set_num_threads(mine)


def test_result_is_an_ordinary_estimator(client):
    X, y = _blobs(150, 4, 2, seed=6)
    est, _ = mdask.fit(LinearSVC(random_state=0), X, y, client=client, epochs=3,
                       state="reset")
    again = pickle.loads(pickle.dumps(est))
    assert np.array_equal(again.decision_function(X), est.decision_function(X))
    Yd = da.from_array(np.column_stack([X[:, 0], -X[:, 1]]), chunks=(40, 2))
    reg, _ = mdask.fit(LinearRegression(random_state=0), da.from_array(X, chunks=40), Yd,
                       client=client, epochs=30)
    assert reg.coef_.shape == (2, 4)
    assert reg.score(X, Yd.compute()) > 0.9
    np.testing.assert_allclose(mdask.predict(reg, da.from_array(X, chunks=60)).compute(),
                               reg.predict(X))


def test_without_a_client_a_local_cluster_is_made():
    """The module's example: fit without ``client=`` on a LocalCluster of its own."""
    result = doctest.testmod(mdask)
    assert result.attempted > 0
    assert result.failed == 0


def _hook_after(n, action):
    """A ``perf_counter`` for msopt.dask that runs ``action`` at its ``n``-th call: the
    client reads it once at the start and once per round it records."""
    calls = iter(range(10**6))
    clock = mdask.perf_counter

    def hooked() -> float:
        if next(calls) == n:
            action()
        return clock()

    return hooked


def _interrupt():
    raise KeyboardInterrupt


def _holders(client, prefix):
    """The workers holding a key named ``prefix-...``, by address."""
    return sorted(w for w, keys in client.has_what().items()
                  if any(str(k).startswith(prefix + "-") for k in keys))


def _shard_holder(i):
    """The ``i``-th of the workers holding the fit's shards (the last if fewer): picked at
    the kill, since a collection's blocks go where the scheduler puts them, at times all on
    one worker, and killing a worker without a shard would cost the fit nothing."""

    def pick(client):
        holders = _holders(client, "_Shard") or _holders(client, "_placed")
        return holders[min(i, len(holders) - 1)]

    return pick


def _kill_later(client, monkeypatch, module, n, pick):
    """At ``module``'s ``n``-th clock reading (msopt.dask's linear fit reads it once before
    the rounds and once per round it records; the text models' once more at the rounds'
    start), the process of the worker ``pick(client)`` names then is killed.  Returns a
    list that then holds that worker."""
    pids = client.run(os.getpid)
    killed = []

    def kill():
        killed.append(pick(client))
        os.kill(pids[killed[-1]], signal.SIGKILL)

    monkeypatch.setattr(module, "perf_counter", _hook_after(n, kill))
    return killed


def test_interrupt_cancels_and_leaves_the_last_averaged_model(client, monkeypatch):
    """Ctrl-C while waiting for round 3: its tasks are cancelled, the estimator holds the
    averaged model of round 2 (the rounds' own, bit for bit) and says how far it got."""
    X, y = _blobs(200, 4, 2, seed=9)         # 100 rows a worker: 4 steps an epoch
    kw = dict(random_state=0, learning_rate_schedule="constant", batch_size=25)
    _, full = mdask.fit(LogisticRegression(**kw), X, y, client=client, epochs=4,
                        local_steps=2)
    ref, _ = mdask.fit(LogisticRegression(**kw), X, y, client=client, epochs=1,
                       local_steps=2)                     # the first 2 rounds
    monkeypatch.setattr(mdask, "perf_counter", _hook_after(3, _interrupt))
    est = LogisticRegression(**kw)
    with pytest.raises(KeyboardInterrupt):
        mdask.fit(est, X, y, client=client, epochs=4, local_steps=2)
    # (a finished future of this or an earlier fit may still be listed while the client
    # lets it go: only one still pending would be a round left in flight)
    left = [k for k, st in client.futures.items()
            if str(k).startswith(("_round", "_average", "_stats", "_summary"))
            and st.status not in ("cancelled", "finished")]
    assert left == []                               # the rounds in flight were cancelled
    assert est.stop_reason_ == "interrupted"
    assert est.history_ == [{"epoch": h["epoch"], "loss": h["loss"]} for h in full[:2]]
    assert est.n_iter_ == 1
    assert est.t_ == ref.t_ == 4
    assert list(est.classes_) == [0, 1]
    assert np.array_equal(est.coef_, ref.coef_)
    assert not np.array_equal(est.coef_, 0)


def test_interrupt_before_a_round_completes_restores(client, monkeypatch):
    """Ctrl-C before the first round is read: the estimator is as it was, and the cluster
    fits again."""
    X, y = _blobs(200, 4, 2, seed=9)
    monkeypatch.setattr(mdask, "perf_counter", _hook_after(0, _interrupt))
    est = LogisticRegression(random_state=0)
    with pytest.raises(KeyboardInterrupt):
        mdask.fit(est, X, y, client=client, epochs=50, local_steps=2)
    assert not hasattr(est, "classes_")
    monkeypatch.undo()
    est, history = mdask.fit(est, X, y, client=client, epochs=2)
    assert est.score(X, y) > 0.8
    assert history


@pytest.mark.parametrize("dask_rows", [False, True])
def test_a_killed_worker_costs_a_retried_round(monkeypatch, dask_rows):
    """A worker process killed after round 2 (its nanny starts a new one): the rounds from
    the last averaged model run again with its rows placed on a live worker (NumPy rows
    scattered again from the client, a dask array's blocks recomputed), and the fit is the
    undisturbed one."""
    X, y = _blobs(400, 6, 3, seed=12)
    if dask_rows:
        X, y = da.from_array(X, chunks=100), da.from_array(y, chunks=100)
    kw = dict(epochs=6, local_steps=2, state="average")
    est_kw = dict(random_state=0, batch_size=16, tol=None)
    with LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                      dashboard_address=":0") as cluster, Client(cluster) as c:
        ref, ref_history = mdask.fit(LogisticRegression(**est_kw), X, y, client=c, **kw)
        killed = _kill_later(c, monkeypatch, mdask, 3, _shard_holder(1))
        est, history = mdask.fit(LogisticRegression(**est_kw), X, y, client=c, **kw)
        assert len(killed) == 1
        assert killed[0] not in c.nthreads()
        if not dask_rows:                   # no retry allowed: an error, nothing changed
            c.wait_for_workers(2, timeout=60)
            _kill_later(c, monkeypatch, mdask, 2, _shard_holder(0))
            coef = est.coef_.copy()
            with pytest.raises(RuntimeError, match="max_retries=0"):
                mdask.fit(est, X, y, client=c, max_retries=0, **kw)
            assert np.array_equal(est.coef_, coef)
            assert est.stop_reason_ == "max_iter"
    assert sum(h["retried"] for h in history) >= 1
    assert sum(h["retried"] for h in ref_history) == 0
    assert history[-1]["epoch"] == ref_history[-1]["epoch"] == 6
    Xn, yn = (X.compute(), y.compute()) if dask_rows else (X, y)
    assert est.score(Xn, yn) >= ref.score(Xn, yn) - 0.01 > 0.9
    # NumPy rows are split the same way each time; a dask array's blocks go where the
    # scheduler puts them, so only the NumPy fit repeats bit for bit.
    if not dask_rows:
        assert np.array_equal(est.coef_, ref.coef_)
        assert [h["loss"] for h in history] == [h["loss"] for h in ref_history]


# -- estimator classes ---------------------------------------------------------------------
def test_estimator_classes(client1, client, monkeypatch):
    X, y = _blobs(200, 5, 3, seed=14)
    Xd, yd = da.from_array(X, chunks=70), da.from_array(y, chunks=70)
    ref = LogisticRegression(random_state=2, C=3.0, tol=None, max_iter=3).fit(X, y)
    est = mdask.LogisticRegression(random_state=2, C=3.0)
    assert est.get_params() == LogisticRegression(random_state=2, C=3.0).get_params()
    with pytest.raises(ValueError, match="not fitted"):
        est.to_local()
    assert est.fit(Xd, yd, client=client1, local_steps=4, epochs=3) is est
    assert np.array_equal(est.coef_, ref.coef_)
    assert len(est.history_) == -(-3 * 7 // 4)
    assert {"round", "rows", "seconds", "retried"} <= set(est.history_[0])
    pred, proba = est.predict(Xd), est.predict_proba(Xd)
    assert isinstance(pred, da.Array)
    assert isinstance(proba, da.Array)
    assert np.array_equal(pred.compute(), ref.predict(X))
    assert np.array_equal(proba.compute(), ref.predict_proba(X))
    assert np.array_equal(est.predict(X), ref.predict(X))      # NumPy in, NumPy out
    local = est.to_local()
    assert type(local) is LogisticRegression
    assert local.get_params() == est.get_params()
    assert np.array_equal(local.predict_proba(X), ref.predict_proba(X))
    assert local.history_ == [{"epoch": h["epoch"], "loss": h["loss"]} for h in est.history_]
    local._model.W[...] = 0.0                       # a copy: the two are independent
    assert np.array_equal(est.coef_, ref.coef_)
    for obj in (est, local, mdask.LogisticRegression(C=0.5)):
        again = pickle.loads(pickle.dumps(obj))
        assert type(again) is type(obj)
        assert again.get_params() == obj.get_params()
    again = pickle.loads(pickle.dumps(est))
    assert np.array_equal(again.predict(Xd).compute(), ref.predict(X))
    assert again.history_ == est.history_
    svc = mdask.LinearSVC(random_state=0).fit(Xd, yd, client=client, epochs=10)
    assert type(svc.to_local()) is LinearSVC
    assert svc.score(X, y) > 0.85
    target = X @ np.arange(5.0) + 1.0
    reg = mdask.LinearRegression(random_state=0).fit(Xd, da.from_array(target, chunks=70),
                                                     client=client, epochs=60)
    assert type(reg.to_local()) is LinearRegression
    assert reg.predict(Xd).shape == (200,)
    single = LinearRegression(random_state=0, tol=None, max_iter=30).fit(X, target)
    assert reg.score(X, target) >= single.score(X, target) - 0.02 > 0.5
    with pytest.raises(TypeError, match="local_steps"):
        mdask.LinearRegression().fit(Xd, yd, client=client, local_steps=1.5)
    monkeypatch.setattr(mdask, "perf_counter", _hook_after(2, _interrupt))
    with pytest.raises(KeyboardInterrupt):                # after one round: its history
        est.fit(Xd, yd, client=client1, local_steps=4, epochs=3)
    assert est.stop_reason_ == "interrupted"
    assert [h["rows"] for h in est.history_] == [4 * 32]     # batch_size 32


# -- errors ---------------------------------------------------------------------------------
def test_import_error_names_the_extra(monkeypatch):
    monkeypatch.setitem(sys.modules, "distributed", None)
    monkeypatch.delitem(sys.modules, "msopt.dask")
    with pytest.raises(ImportError, match=r'pip install "msopt\[dask\]"'):
        importlib.import_module("msopt.dask")


@pytest.mark.parametrize(("kw", "error", "match"), [
    (dict(local_steps=0), ValueError, "local_steps"),
    (dict(local_steps=2.0), TypeError, "local_steps"),
    (dict(state="global"), ValueError, "state"),
    (dict(epochs=0), ValueError, "epochs"),
    (dict(seed=-1), ValueError, "seed"),
    (dict(max_retries=-1), ValueError, "max_retries"),
    (dict(client="tcp://x"), TypeError, "client"),
])
def test_bad_arguments(client, kw, error, match):
    X, y = _blobs(50, 3, 2)
    est = LogisticRegression()
    kw.setdefault("client", client)
    with pytest.raises(error, match=match):
        mdask.fit(est, X, y, **kw)
    assert not hasattr(est, "coef_")
    assert not hasattr(est, "classes_")


def test_bad_models_and_data(client):
    X, y = _blobs(50, 3, 2)
    with pytest.raises(TypeError, match="model"):
        mdask.fit(LinearModel(3), X, y, client=client)
    with pytest.raises(ValueError, match="early_stopping"):
        mdask.fit(LogisticRegression(early_stopping=True), X, y, client=client)
    with pytest.raises(ValueError, match="state='reset'"):
        mdask.fit(LogisticRegression(learning_rate_schedule="cosine"), X, y, client=client,
                  state="reset")
    with pytest.raises(ValueError, match="y"):
        mdask.fit(LogisticRegression(), X, y[:10], client=client)
    with pytest.raises(ValueError, match="C"):
        mdask.fit(LogisticRegression(C=-1.0), X, y, client=client)
    with pytest.raises(ValueError, match="only one class"):
        mdask.fit(LogisticRegression(), X, np.zeros(50), client=client)
    bad = X.copy()
    bad[45, 1] = np.nan                       # found by the worker that holds row 45
    est, _ = mdask.fit(LogisticRegression(), X, y, client=client, epochs=1)
    coef = est.coef_
    with pytest.raises(ValueError, match="NaN"):
        mdask.fit(est, bad, y + 5, client=client, epochs=1)
    assert np.array_equal(est.coef_, coef)               # a rejected fit changes nothing
    assert list(est.classes_) == [0, 1]
    with pytest.raises(ValueError, match="not fitted"):
        mdask.predict(LogisticRegression(), da.from_array(X))
    with pytest.raises(TypeError, match="model"):
        mdask.predict_proba(LinearSVC(), da.from_array(X))
