"""pytest-benchmark: msopt.torch.Adam (the drop-in torch optimizer) beside torch.optim.Adam
(fused=True) and msopt.Adam (the NumPy API) on the same problem: what the adapter costs.

    python -m pytest bench/test_bench_torch_interop.py
    MSOPT_BENCH_QUICK=1 python -m pytest bench/test_bench_torch_interop.py

Two problems, each one benchmark group per thread count: 100 tensors of 1,000 elements
(the step's fixed costs) and one tensor of 1e7 (memory traffic).  The summary at the end
prints msopt.torch's speed-up over each runner.
"""

from __future__ import annotations

import os

import numpy as np
import pytest

import msopt
from msopt import _bench

torch = pytest.importorskip("torch", reason="torch is not installed")
mt = pytest.importorskip("msopt.torch")

QUICK = os.environ.get("MSOPT_BENCH_QUICK", "") not in ("", "0")
BIG = 2_000_000 if QUICK else 10_000_000
PROBLEMS = {"many": (100, 1_000), "one": (1, BIG)}
RUNNERS = ["msopt", "msopt.Adam (NumPy API)", "torch fused"]
CASES = [((problem, t), r) for problem in PROBLEMS for t in (1, 2) for r in RUNNERS]

_current: dict[tuple, _bench.Case] = {}


def _case(key: tuple) -> _bench.Case:
    """One problem at a time (1e7 parameters take a few hundred MB per runner)."""
    if key in _current:
        return _current[key]
    _current.clear()
    problem, threads = key
    count, n = PROBLEMS[problem]
    _bench._set_threads(threads)
    rng = np.random.default_rng(0)
    init = [rng.standard_normal(n, dtype=np.float32) for _ in range(count)]
    grads = [rng.standard_normal(n, dtype=np.float32) * np.float32(1e-3) for _ in range(count)]
    case = _bench.Case(f"torch interop Adam x{count} n={n:.0e} t={threads}", f"{count} x {n:,}",
                       count * n, 28, threads)

    def tensors() -> list:
        ts = [torch.from_numpy(a.copy()).requires_grad_() for a in init]
        for t, g in zip(ts, grads):
            t.grad = torch.from_numpy(g)
        return ts
    case.runners["msopt"] = mt.Adam(tensors()).step
    arrays = [a.copy() for a in init]
    inner = msopt.Adam(arrays)
    case.runners["msopt.Adam (NumPy API)"] = lambda: inner.step(grads)
    case.runners["torch fused"] = torch.optim.Adam(tensors(), fused=True).step
    _current[key] = case
    return case


@pytest.mark.parametrize(("key", "runner"), CASES,
                         ids=[f"{k[0]}-t{k[1]}-{r}" for k, r in CASES])
def test_adam_step(benchmark, key, runner):
    case = _case(key)
    _bench.measure(benchmark, case, runner, max_rounds=2_000)
