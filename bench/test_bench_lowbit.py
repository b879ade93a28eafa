"""pytest-benchmark: Adam with compressed moments (state_dtype "bfloat16" and "int8") beside
msopt's float32-state step, the bandwidth floors (the 7-stream loop of an fp32 step's traffic,
and the same loop over the compressed form's own traffic) and torch's fused Adam, at 1e7 and
1e8 parameters on 1 and 2 threads.

    python -m pytest bench/test_bench_lowbit.py
    MSOPT_BENCH_QUICK=1 python -m pytest bench/test_bench_lowbit.py   # 1e6 and 1e7

"msopt speed-up" of the "msopt float32 state" row is the float32 step's time over the
compressed one's; "share of floor" is the own-traffic floor's time over each runner's.  The
state's size beside float32's is printed per case.
"""

from __future__ import annotations

import os

import pytest

from msopt import _bench

QUICK = os.environ.get("MSOPT_BENCH_QUICK", "") not in ("", "0")
SIZES = (1_000_000, 10_000_000) if QUICK else (10_000_000, 100_000_000)
RUNNERS = ["msopt", "msopt float32 state", "floor: own traffic", "floor: 7-stream loop",
           "torch fused"]
CASES = [((sd, n, t), r) for sd in ("bfloat16", "int8") for n in SIZES for t in (1, 2)
         for r in RUNNERS]
_current: dict[tuple, _bench.Case] = {}


def _case(key: tuple) -> _bench.Case:
    if key not in _current:
        _current.clear()  # one problem at a time: 1e8 parameters take gigabytes
        _current[key] = _bench.lowbit_case(*key)
    return _current[key]


@pytest.mark.parametrize(("key", "runner"), CASES,
                         ids=[f"{k[0]}-{k[1]:.0e}-t{k[2]}-{r}" for k, r in CASES])
def test_lowbit_step(benchmark, key, runner):
    case = _case(key)
    if runner not in case.runners:
        pytest.skip(f"{runner}: not installed here")
    _bench.measure(benchmark, case, runner, max_rounds=25, seconds=1.0)
