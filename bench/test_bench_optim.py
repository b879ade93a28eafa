"""pytest-benchmark: msopt's optimizer steps, linear layers, embedding-bag steps and word2vec
beside NumPy, torch, gensim and the machine's floors (memory bandwidth; the BLAS products
alone).

    python -m pytest bench                    # full sizes (1e7 parameters, 1e6-row table)
    MSOPT_BENCH_QUICK=1 python -m pytest bench

Each problem is one benchmark group; the summary at the end prints msopt's speed-up over
every peer and each runner's share of the machine's bandwidth floor.
"""

from __future__ import annotations

import os

import pytest

from msopt import _bench

QUICK = os.environ.get("MSOPT_BENCH_QUICK", "") not in ("", "0")
N = 2_000_000 if QUICK else 10_000_000
ROWS = 200_000 if QUICK else 1_000_000
W2V_TOKENS = 200_000 if QUICK else 1_000_000

DENSE_RUNNERS = ["msopt", "msopt nonfinite=ignore", "floor: 7-stream loop", "numpy out=",
                 "numpy plain", "torch fused", "torch foreach"]
CASES = (
    [(("dense", name, t), r) for name in _bench.DENSE for t in (1, 2) for r in DENSE_RUNNERS]
    + [(("many", t), r) for t in (1, 2)
       for r in ["msopt", "numpy loop", "torch fused", "torch foreach"]]
    + [(("rows", t), r) for t in (1, 2) for r in ["msopt", "numpy", "torch SparseAdam"]]
    + [(("linear", t), r) for t in (1, 2)
       for r in ["msopt", "floor: the two BLAS products", "numpy step", "torch step"]]
    + [(("small", 1), r) for r in ["msopt", "numpy step by step", "torch step by step"]]
    + [(("embedding", rows, t), r) for rows in (100_000, ROWS) for t in (1, 2)
       for r in ["msopt", "torch EmbeddingBag(sparse) + SparseAdam"]]
    + [(("word2vec", t), r) for t in (1, 2) for r in ["msopt", "gensim"]]
)

_current: dict[tuple, _bench.Case] = {}


def _case(key: tuple) -> _bench.Case:
    """Build one problem at a time (the big ones take gigabytes); reuse it across runners."""
    if key not in _current:
        _current.clear()
        if key[0] == "dense":
            _current[key] = _bench.dense_case(key[1], N, key[2])
        elif key[0] == "many":
            _current[key] = _bench.many_arrays_case(key[1])
        elif key[0] == "linear":
            _current[key] = _bench.linear_step_case(key[1])
        elif key[0] == "small":
            _current[key] = _bench.small_fit_case(key[1], steps=2_000 if QUICK else 10_000)
        elif key[0] == "embedding":
            _current[key] = _bench.embedding_case(key[2], rows=key[1])
        elif key[0] == "word2vec":
            _current[key] = _bench.word2vec_case(key[1], W2V_TOKENS)
        else:
            _current[key] = _bench.rows_case(key[1], rows=ROWS)
    return _current[key]


@pytest.mark.parametrize(("key", "runner"), CASES,
                         ids=[f"{'-'.join(map(str, k))}-{r}" for k, r in CASES])
def test_step(benchmark, key, runner):
    case = _case(key)
    if runner not in case.runners:
        pytest.skip(f"{runner}: not a runner of this case here (peer not installed, or the "
                    "case uses another variant of it)")
    _bench.measure(benchmark, case, runner)


def test_time_to_accuracy(benchmark):
    """One timed fit each (not repeated): seconds for msopt, SGDClassifier and lbfgs to
    reach lbfgs's test accuracy minus 0.5 points."""
    pytest.importorskip("sklearn", reason="scikit-learn is not installed")
    rows = benchmark.pedantic(_bench.time_to_accuracy, args=(50_000 if QUICK else 200_000,),
                              rounds=1, iterations=1)
    benchmark.group = "time to accuracy"
    benchmark.extra_info["table"] = rows
