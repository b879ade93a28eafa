"""Adam's step with compressed state beside float32 state, interleaved: each round calls
every runner once, in turn, so a change of the machine's load hits all of them alike, and
the ratios come from the medians over the rounds.

    python bench/lowbit_speed.py [--sizes 1e7,1e8] [--threads 1,2] [--rounds 15] [--isa avx2]

Runners per size and thread count: msopt's Adam with state_dtype float32, bfloat16 and int8
(nonfinite="ignore", as torch), the 7-stream floor (an fp32 Adam's traffic), and torch's
fused Adam when torch is installed (followed by a pause, so that its threads, which spin
after a call, have stopped before the next runner starts).  Prints the medians, the ratio
of each to msopt's float32 step, and the state's size beside float32's.
(bench/test_bench_lowbit.py times the same runners with pytest-benchmark, one after the
other.)  ``--isa`` runs msopt's kernels of another instruction set (one of
``msopt._core.available_isas()``), to see what a machine without the best one gets.
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable
from typing import Any

import numpy as np

from msopt import _bench, _core

# After a call, torch's OpenMP threads keep spinning for a while (up to 200 ms), on the
# cores the next runner needs: the rounds pause this long after each torch runner.  A core
# that has slept is slow for a while after it wakes (on one thread at 1e7, the runner after
# the pause took 6.9-8.4 ms against 4.5 ms with no pause), so an untimed call of the first
# runner follows the pause before the timing goes on.
TORCH_SPIN = 0.25
# Untimed calls of each runner before the rounds: a fresh optimizer's first steps are slow
# while its new state's pages settle (at 1e8 on one thread the int8 step took 743 ms
# (allocation), then 56, 61, 51 and 38 ms, then 32-34 ms from the sixth on).
WARM = 5


def interleaved(fns: dict[str, Callable[[], Any]], rounds: int) -> dict[str, float]:
    times: dict[str, list[float]] = {k: [] for k in fns}
    for fn in fns.values():
        for _ in range(WARM):
            fn()
    first = next(iter(fns.values()))
    for _ in range(rounds):
        for k, fn in fns.items():
            t0 = time.perf_counter()
            fn()
            times[k].append(time.perf_counter() - t0)
            if k.startswith("torch"):
                time.sleep(TORCH_SPIN)
                first()
    return {k: float(np.median(v)) for k, v in times.items()}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--sizes", default="1e7,1e8")
    ap.add_argument("--threads", default="1,2")
    ap.add_argument("--rounds", type=int, default=15)
    ap.add_argument("--isa", default=None, choices=_core.available_isas())
    args = ap.parse_args(argv)
    if args.isa:
        _core.set_isa(args.isa)
    print(f"msopt's kernels: {_core.isa()}")
    print("| n | threads | runner | median | ns/param | / float32 step | state / float32 |")
    print("|---|---|---|---|---|---|---|")
    for n in (int(float(s)) for s in args.sizes.split(",")):
        for t in (int(s) for s in args.threads.split(",")):
            _bench._set_threads(t)
            fns, sizes = _bench.lowbit_runners(n)
            med = interleaved(fns, args.rounds)
            base = med["msopt float32"]
            for k, v in med.items():
                share = ""
                if k.startswith("msopt "):
                    share = f"{sizes[k.split()[1]] / sizes['float32']:.1%}"
                print(f"| {n:.0e} | {t} | {k} | {v * 1e3:.2f} ms | {v / n * 1e9:.3f} | "
                      f"{v / base:.2f}x | {share} |")
            del fns
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
