"""pytest-benchmark: what a round of local SGD on Dask costs beside the steps it carries.

    python -m pytest bench/test_bench_dask.py

LogisticRegression (Adam, batch 256, 10 classes) on 200,000 x 100 float32 rows of
``make_classification``-style data, split over a 2-worker LocalCluster (processes, one
thread each).  Each benchmark round is a ``msopt.dask.fit`` of 1,024 steps per worker in
rounds of K in {16, 64, 256} steps.  ``extra_info`` holds the median seconds of a round (from
the fit's history), of its K steps alone (the same steps in this process, no Dask), and the
overhead share ``1 - steps / round``: scheduling, moving the model, averaging.
"""

from __future__ import annotations

import copy
import statistics
import time
from typing import Any

import numpy as np
import pytest

pytest.importorskip("distributed")

import dask  # noqa: E402
import dask.array as da  # noqa: E402
from distributed import Client, LocalCluster  # noqa: E402

import msopt  # noqa: E402
from msopt import _core  # noqa: E402
from msopt import dask as mdask  # noqa: E402
from msopt.linear_model import LogisticRegression  # noqa: E402

ROWS, FEATURES, CLASSES, BATCH, STEPS = 200_000, 100, 10, 256, 1024


def half(part: int) -> tuple[np.ndarray, np.ndarray]:
    """Rows of one half: Gaussian clusters around 10 fixed centers."""
    centers = np.random.default_rng(0).standard_normal((CLASSES, FEATURES)).astype(np.float32)
    rng = np.random.default_rng(1 + part)
    y = rng.integers(0, CLASSES, ROWS // 2)
    return rng.standard_normal((ROWS // 2, FEATURES), dtype=np.float32) + centers[y], y


@pytest.fixture(scope="module")
def client() -> Any:
    with LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                      dashboard_address=":0") as cluster, Client(cluster) as c:
        yield c


@pytest.fixture(scope="module")
def data(client: Any) -> tuple[Any, Any]:
    """The rows, made on the workers (one half each) and persisted there."""
    parts = [dask.delayed(half)(p) for p in range(2)]
    X = da.concatenate([da.from_delayed(p[0], (ROWS // 2, FEATURES), np.float32)
                        for p in parts])
    y = da.concatenate([da.from_delayed(p[1], (ROWS // 2,), np.int64) for p in parts])
    return client.persist(X), client.persist(y)


def _steps_alone(est: LogisticRegression, K: int) -> float:
    """Median seconds of K steps of one worker's shard, in this process, on one thread (a
    worker's share of the machine here)."""
    shard = mdask._Shard(est, 0, BATCH, half(0))
    model = est._model
    times = []
    threads = _core.get_num_threads()
    msopt.set_num_threads(1)
    try:
        for r in range(5):
            m = copy.deepcopy(model)
            t0 = time.perf_counter()
            shard.run(m, r * K, K, {})
            times.append(time.perf_counter() - t0)
    finally:
        msopt.set_num_threads(threads)
    return statistics.median(times)


@pytest.mark.parametrize("K", [16, 64, 256])
def test_round_overhead(benchmark: Any, client: Any, data: tuple[Any, Any], K: int) -> None:
    Xd, yd = data
    per_epoch = -(-(ROWS // 2) // BATCH)
    epochs = max(1, STEPS // per_epoch)
    rounds: list[float] = []

    def fn() -> None:
        est, history = mdask.fit(LogisticRegression(random_state=0, batch_size=BATCH), Xd, yd,
                                 client=client, local_steps=K, epochs=epochs)
        rounds.extend(h["seconds"] for h in history[:-1] or history)
        fn.est = est  # type: ignore[attr-defined]

    benchmark.group = "msopt.dask: a local SGD round against its steps"
    benchmark.pedantic(fn, rounds=3, warmup_rounds=1)
    round_s = statistics.median(rounds)
    steps_s = _steps_alone(fn.est, K)  # type: ignore[attr-defined]
    benchmark.extra_info.update(
        K=K, workers=2, size=f"{ROWS:,} x {FEATURES} float32, batch {BATCH}",
        round_seconds=round_s, steps_seconds=steps_s,
        overhead_share=max(0.0, 1 - steps_s / round_s))
