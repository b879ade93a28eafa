"""pytest-benchmark: exact top-k search, msopt.search.Index beside the BLAS product alone.

    python -m pytest bench/test_bench_search.py
    MSOPT_BENCH_QUICK=1 python -m pytest bench/test_bench_search.py    # 200,000 vectors

1,000 queries against 1,000,000 float32 vectors of dim 128 (random normal), top 10, at 1
and 2 threads.  In each group:

- ``floor: BLAS product alone``: ``np.matmul(queries, vectors.T, out=buffer)`` into a
  preallocated 1,000 x 1,000,000 buffer (4 GB): the product every exact search must do,
  with no selection at all;
- ``msopt``: ``Index(vectors).search(queries, 10)`` (the product on blocks, each block's
  scores scanned into a heap per query; memory: one score buffer per thread);
- ``numpy argpartition``: the usual NumPy search, in blocks of 64 queries (a full score
  row per query; ``argpartition``, then a sort of the k best);
- ``faiss IndexFlatIP``: when faiss is installed.

The table after the run gives each runner's median and msopt's speed-up over it; the
"share of floor" column is the product's time over the runner's: msopt's target is within
1.5x of the product alone (a share of 67% or more).

pytest-benchmark times one runner after the other; on a shared machine the load can change
between them.  ``test_alternating`` runs the product, msopt and faiss in turn, round after
round, and prints their medians and msopt's ratio to the product (shown with ``-s``).
"""

from __future__ import annotations

import os
import time

import numpy as np
import pytest

from msopt import _bench
from msopt.search import Index

QUICK = os.environ.get("MSOPT_BENCH_QUICK", "") not in ("", "0")
N = 200_000 if QUICK else 1_000_000
DIM, NQ, K = 128, 1000, 10
NP_BLOCK = 64  # queries per block of the NumPy search


@pytest.fixture(scope="module")
def data():
    rng = np.random.default_rng(0)
    X = rng.standard_normal((N, DIM), dtype=np.float32)
    Q = rng.standard_normal((NQ, DIM), dtype=np.float32)
    return X, Q


def numpy_search(X: np.ndarray, Q: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    out_s = np.empty((len(Q), k), X.dtype)
    out_i = np.empty((len(Q), k), np.int64)
    for q0 in range(0, len(Q), NP_BLOCK):
        S = Q[q0:q0 + NP_BLOCK] @ X.T
        part = np.argpartition(-S, k - 1, axis=1)[:, :k]
        ps = np.take_along_axis(S, part, 1)
        order = np.argsort(-ps, axis=1, kind="stable")
        out_s[q0:q0 + NP_BLOCK] = np.take_along_axis(ps, order, 1)
        out_i[q0:q0 + NP_BLOCK] = np.take_along_axis(part, order, 1)
    return out_s, out_i


RUNNERS = ["floor: BLAS product alone (NumPy matmul, out=)", "msopt", "numpy argpartition",
           "faiss IndexFlatIP"]
CASES = [(t, r) for t in (1, 2) for r in RUNNERS]


@pytest.mark.parametrize(("threads", "runner"), CASES,
                         ids=[f"t{t}-{r.split()[0].rstrip(':')}" for t, r in CASES])
def test_search(benchmark, data, threads, runner):
    X, Q = data
    _bench._set_threads(threads)
    if runner.startswith("floor"):
        buf = np.empty((NQ, N), np.float32)
        buf.fill(0)  # the pages exist before the timing

        def fn():
            np.matmul(Q, X.T, out=buf)
    elif runner == "msopt":
        index = Index(X, copy=False)

        def fn():
            return index.search(Q, K, threads=threads)
    elif runner == "numpy argpartition":
        def fn():
            return numpy_search(X, Q, K)
    else:
        faiss = pytest.importorskip("faiss")
        faiss.omp_set_num_threads(threads)
        findex = faiss.IndexFlatIP(DIM)
        findex.add(X)

        def fn():
            return findex.search(Q, K)
    benchmark.group = f"search {N:,} x {DIM}, {NQ:,} queries, top {K}, t={threads}"
    benchmark.extra_info.update(runner=runner, size=f"{N:,} x {DIM} float32", params=NQ,
                                bytes_per_param=0, threads=threads, unit="query",
                                floor_scale=1.0)
    benchmark.pedantic(fn, rounds=3 if QUICK else 5, warmup_rounds=1)


def test_msopt_agrees_with_numpy(data):
    """Not a timing: the runners of the groups above give the same top 10 (up to rounding
    ties)."""
    X, Q = data
    s, i = Index(X, copy=False).search(Q[:50], K)
    ns, ni = numpy_search(X, Q[:50], K)
    np.testing.assert_allclose(s, ns, rtol=0, atol=1e-4 * np.abs(ns).max())
    assert np.mean(i == ni) > 0.99


@pytest.mark.parametrize("threads", [1, 2])
def test_alternating(data, threads, capsys):
    """Medians of the product alone, msopt and faiss (when installed), taken in turn."""
    X, Q = data
    _bench._set_threads(threads)
    buf = np.empty((NQ, N), np.float32)
    buf.fill(0)
    index = Index(X, copy=False)
    runners = {"product": lambda: np.matmul(Q, X.T, out=buf),
               "msopt": lambda: index.search(Q, K, threads=threads)}
    try:
        import faiss
    except ImportError:
        pass
    else:
        faiss.omp_set_num_threads(threads)
        findex = faiss.IndexFlatIP(DIM)
        findex.add(X)
        runners["faiss IndexFlatIP"] = lambda: findex.search(Q, K)
    times: dict[str, list[float]] = {name: [] for name in runners}
    for _ in range(3 if QUICK else 5):
        for name, fn in runners.items():
            t0 = time.perf_counter()
            fn()
            times[name].append(time.perf_counter() - t0)
    med = {name: float(np.median(ts)) for name, ts in times.items()}
    with capsys.disabled():
        print(f"\nalternating, {N:,} x {DIM}, {NQ:,} queries, top {K}, t={threads}: "
              + ", ".join(f"{name} {t:.3f} s" for name, t in med.items())
              + f"; msopt / product = {med['msopt'] / med['product']:.2f}")
