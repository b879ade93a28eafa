"""Benchmark cases shared by ``python -m msopt bench`` and the pytest-benchmark suite.

Each case builds its arrays once and returns runners (label -> zero-argument callable) for
msopt and its peers: NumPy (with ``out=`` buffers, and written plainly), torch (when
installed), and the machine's bandwidth floor measured in the same run.
"""

from __future__ import annotations

import math
import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

import msopt
from msopt import _core, reference


def _torch() -> Any:
    try:
        import torch
    except ImportError:
        return None
    return torch


@dataclass
class Case:
    group: str            # benchmark group: msopt and its peers on one problem
    size: str             # human-readable problem size
    params: int           # parameters updated per step (for ns/param and GB/s)
    bytes_per_param: int  # nominal traffic of one update (Adam fp32: 28)
    threads: int
    runners: dict[str, Callable[[], Any]] = field(default_factory=dict)


def _set_threads(n: int) -> None:
    msopt.set_num_threads(n)
    torch = _torch()
    if torch is not None:
        torch.set_num_threads(n)


# -- NumPy peers ------------------------------------------------------------------------
def _numpy_adam_out(p, g, m, v, buf, t, lr=1e-3, b1=0.9, b2=0.999, eps=1e-8):
    """Adam in NumPy with every temporary in a preallocated buffer."""
    np.multiply(m, b1, out=m)
    np.multiply(g, 1 - b1, out=buf)
    np.add(m, buf, out=m)
    np.multiply(v, b2, out=v)
    np.multiply(g, g, out=buf)
    np.multiply(buf, 1 - b2, out=buf)
    np.add(v, buf, out=v)
    np.sqrt(v, out=buf)
    np.multiply(buf, 1 / math.sqrt(1 - b2**t), out=buf)
    np.add(buf, eps, out=buf)
    np.divide(m, buf, out=buf)
    np.multiply(buf, lr / (1 - b1**t), out=buf)
    np.subtract(p, buf, out=p)


def _numpy_sgd_out(p, g, buf, tmp, lr=1e-3, momentum=0.9):
    np.multiply(buf, momentum, out=buf)
    np.add(buf, g, out=buf)
    np.multiply(buf, lr, out=tmp)
    np.subtract(p, tmp, out=p)


def _numpy_adagrad_out(p, g, s, tmp, lr=1e-2, eps=1e-10):
    np.multiply(g, g, out=tmp)
    np.add(s, tmp, out=s)
    np.sqrt(s, out=tmp)
    np.add(tmp, eps, out=tmp)
    np.divide(g, tmp, out=tmp)
    np.multiply(tmp, lr, out=tmp)
    np.subtract(p, tmp, out=p)


# -- cases ------------------------------------------------------------------------------
DENSE = {  # name: (msopt class, options, nominal bytes/param, torch class)
    "Adam": (msopt.Adam, {}, 28, "Adam"),
    "AdamW": (msopt.AdamW, {}, 28, "AdamW"),
    "SGD-momentum": (msopt.SGD, {"momentum": 0.9}, 20, "SGD"),
    "Adagrad": (msopt.Adagrad, {}, 20, "Adagrad"),
}


def dense_case(name: str, n: int, threads: int, peers: bool = True) -> Case:
    """One array of n fp32 parameters: msopt (default checked step, and nonfinite='ignore'
    which skips the NaN/Inf pre-pass as torch does), NumPy, torch fused, and the floor."""
    _set_threads(threads)
    cls, opts, bpp, tname = DENSE[name]
    rng = np.random.default_rng(0)
    p = rng.standard_normal(n, dtype=np.float32)
    g = rng.standard_normal(n, dtype=np.float32) * np.float32(1e-3)
    case = Case(f"{name} x1 n={n:.0e} t={threads}", f"1 x {n:,}", n, bpp, threads)
    opt = cls([p], **opts)
    case.runners["msopt"] = lambda: opt.step([g])
    opt_nc = cls([p.copy()], **opts, nonfinite="ignore")
    case.runners["msopt nonfinite=ignore"] = lambda: opt_nc.step([g])
    fl = [np.zeros(n, np.float32) for _ in range(3)]
    case.runners["floor: 7-stream loop"] = lambda: _core.stream7(fl[0], g, fl[1], fl[2])
    if not peers:
        return case
    q, buf, buf2 = p.copy(), np.zeros_like(p), np.zeros_like(p)
    if name.startswith("Adam"):
        m, v, t = np.zeros_like(p), np.zeros_like(p), [0]

        def np_out() -> None:
            t[0] += 1
            _numpy_adam_out(q, g, m, v, buf, t[0])
        ref_state = reference.init_state(name, q)
        tp = [0]

        def np_plain() -> None:
            tp[0] += 1
            reference.UPDATES[name](q, g, ref_state, t=tp[0])
    elif name == "SGD-momentum":
        def np_out() -> None:
            _numpy_sgd_out(q, g, buf, buf2)
        ref_state = reference.init_state("SGD", q, momentum=0.9)

        def np_plain() -> None:
            reference.sgd(q, g, ref_state, t=2, lr=1e-3, momentum=0.9)
    else:
        def np_out() -> None:
            _numpy_adagrad_out(q, g, buf, buf2)
        ref_state = reference.init_state("Adagrad", q)

        def np_plain() -> None:
            reference.adagrad(q, g, ref_state, t=1)
    case.runners["numpy out="] = np_out
    case.runners["numpy plain"] = np_plain
    torch = _torch()
    if torch is not None:
        tp_ = torch.from_numpy(p.copy()).requires_grad_()
        tp_.grad = torch.from_numpy(g.copy())
        tcls = getattr(torch.optim, tname)
        try:
            topt = tcls([tp_], **opts, fused=True)
            topt.step()
            label = "torch fused"
        except (RuntimeError, TypeError, ValueError):
            topt = tcls([tp_], **opts, foreach=True)
            label = "torch foreach"
        case.runners[label] = topt.step
    return case


def many_arrays_case(threads: int, count: int = 100, n: int = 1000) -> Case:
    """Adam over many small arrays: the cost of a step is mostly per-call overhead."""
    _set_threads(threads)
    rng = np.random.default_rng(1)
    ps = [rng.standard_normal(n, dtype=np.float32) for _ in range(count)]
    gs = [rng.standard_normal(n, dtype=np.float32) * np.float32(1e-3) for _ in range(count)]
    case = Case(f"Adam x{count} n={n} t={threads}", f"{count} x {n:,}", count * n, 28, threads)
    opt = msopt.Adam(ps)
    case.runners["msopt"] = lambda: opt.step(gs)
    qs = [p.copy() for p in ps]
    states = [reference.init_state("Adam", q) for q in qs]
    t = [0]

    def np_loop() -> None:
        t[0] += 1
        for q, g, s in zip(qs, gs, states):
            reference.adam(q, g, s, t=t[0])
    case.runners["numpy loop"] = np_loop
    torch = _torch()
    if torch is not None:
        tps = [torch.from_numpy(p.copy()).requires_grad_() for p in ps]
        for tp, g in zip(tps, gs):
            tp.grad = torch.from_numpy(g.copy())
        case.runners["torch fused"] = torch.optim.Adam(tps, fused=True).step
        tps2 = [torch.from_numpy(p.copy()).requires_grad_() for p in ps]
        for tp, g in zip(tps2, gs):
            tp.grad = torch.from_numpy(g.copy())
        case.runners["torch foreach"] = torch.optim.Adam(tps2, foreach=True).step
    return case


def rows_case(threads: int, rows: int = 1_000_000, dim: int = 128, k: int = 4096,
              peers: bool = True) -> Case:
    """Row-sparse Adam on an embedding table: k Zipf-distributed ids a step."""
    _set_threads(threads)
    rng = np.random.default_rng(2)
    table = rng.standard_normal((rows, dim), dtype=np.float32)
    ids = (rng.zipf(1.1, size=8 * k) - 1)
    ids = ids[ids < rows][:k]
    vals = rng.standard_normal((k, dim), dtype=np.float32) * np.float32(1e-3)
    uniq = len(np.unique(ids))
    case = Case(f"RowAdam {rows:.0e}x{dim} ids={k} t={threads}",
                f"{rows:,} x {dim}, {k} ids ({uniq} distinct)", uniq * dim, 28, threads)
    opt = msopt.Adam([table])
    grad = msopt.RowGrad(ids, vals)
    case.runners["msopt"] = lambda: opt.step([grad])
    if not peers:
        return case
    q = table.copy()
    state = reference.init_state("Adam", q)
    steps = [0]
    hyper = [{"lr": 1e-3}]
    case.runners["numpy"] = lambda: reference.step("Adam", [q], [(ids, vals)], [state],
                                                   steps, hyper)
    torch = _torch()
    if torch is not None:
        tt = torch.from_numpy(table.copy()).requires_grad_()
        topt = torch.optim.SparseAdam([tt])
        tg = torch.sparse_coo_tensor(torch.from_numpy(ids[None, :]), torch.from_numpy(vals),
                                     (rows, dim), check_invariants=False)

        def torch_step() -> None:
            tt.grad = tg
            topt.step()
        case.runners["torch SparseAdam"] = torch_step
    return case


def all_cases(quick: bool = False) -> list[Callable[[], Case]]:
    """Builders, in run order (each builds its arrays when called)."""
    n = 2_000_000 if quick else 10_000_000
    out: list[Callable[[], Case]] = []
    for name in DENSE:
        for t in (1, 2):
            out.append(lambda name=name, t=t: dense_case(name, n, t))
    for t in (1, 2):
        out.append(lambda t=t: many_arrays_case(t))
    for t in (1, 2):
        out.append(lambda t=t: rows_case(t, rows=200_000 if quick else 1_000_000))
    return out


# -- timing and the table ----------------------------------------------------------------
def time_median(fn: Callable[[], Any], min_time: float = 0.4, max_reps: int = 200,
                min_reps: int = 5) -> float:
    fn()  # warm up (first touch of buffers, pool start)
    times: list[float] = []
    start = time.perf_counter()
    while len(times) < min_reps or (time.perf_counter() - start < min_time
                                    and len(times) < max_reps):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def _fmt_time(s: float) -> str:
    return f"{s * 1e6:,.1f} us" if s < 1e-3 else f"{s * 1e3:,.2f} ms"


def table_rows(case: Case, medians: dict[str, float]) -> list[list[str]]:
    """One row per runner: time, ns/param, GB/s (nominal bytes), msopt speed-up over it,
    and the share of the floor (floor time / runner time) where the case has one."""
    ours = medians["msopt"]
    floor = next((t for k, t in medians.items() if k.startswith("floor")), None)
    rows = []
    for label, t in medians.items():
        gbs = case.params * case.bytes_per_param / t / 1e9
        speedup = "" if label == "msopt" else f"{t / ours:.2f}x"
        share = ""
        if floor is not None and not label.startswith("floor"):
            # The floor moves 28 B/param; scale to this case's nominal traffic.
            share = f"{floor * case.bytes_per_param / 28 / t:.0%}"
        rows.append([case.group, case.size, label, _fmt_time(t),
                     f"{t * 1e9 / case.params:.3f}", f"{gbs:.1f}", speedup, share])
    return rows


HEADER = ["case", "size", "runner", "median", "ns/param", "GB/s", "msopt speed-up",
          "share of floor"]


def format_table(rows: list[list[str]]) -> str:
    widths = [max(len(r[i]) for r in [HEADER, *rows]) for i in range(len(HEADER))]
    line = "| " + " | ".join(h.ljust(w) for h, w in zip(HEADER, widths)) + " |"
    sep = "|" + "|".join("-" * (w + 2) for w in widths) + "|"
    body = ["| " + " | ".join(c.ljust(w) for c, w in zip(r, widths)) + " |" for r in rows]
    return "\n".join([line, sep, *body])


def run(quick: bool = False, echo: Callable[[str], Any] = print) -> str:
    rows: list[list[str]] = []
    for build in all_cases(quick):
        case = build()
        medians = {label: time_median(fn) for label, fn in case.runners.items()}
        new = table_rows(case, medians)
        rows += new
        for r in new:
            echo("  ".join(r))
        del case
    return format_table(rows)
