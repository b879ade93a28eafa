"""Benchmark cases shared by ``python -m msopt bench`` and the pytest-benchmark suite.

Each case builds its arrays once and returns runners (label -> zero-argument callable) for
msopt and its peers: NumPy (with ``out=`` buffers, and written plainly), torch (when
installed), and the machine's bandwidth floor measured in the same run.
"""

from __future__ import annotations

import math
import re
import statistics
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
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
    params: int           # units of work per call: parameters updated, or steps run
    bytes_per_param: int  # nominal traffic of one unit (Adam fp32: 28); 0: no GB/s column
    threads: int
    runners: dict[str, Callable[[], Any]] = field(default_factory=dict)
    unit: str = "param"   # what `params` counts
    floor_scale: float = 0.0  # floor time x this = the floor for this case (0: bytes/28)
    state_share: float = 0.0  # optimizer-state bytes beside float32 state (0: not measured)


def measure(benchmark: Any, case: Case, runner: str, max_rounds: int = 200,
            seconds: float = 0.5) -> None:
    """Time ``case.runners[runner]`` with pytest-benchmark: as many rounds as fit in about
    ``seconds`` (5 to ``max_rounds``, one warm-up), in the case's group, with what the
    summary table needs in ``extra_info``."""
    fn = case.runners[runner]
    fn()
    t0 = time.perf_counter()
    fn()
    once = max(time.perf_counter() - t0, 1e-7)
    benchmark.group = case.group
    benchmark.extra_info.update(runner=runner, size=case.size, params=case.params,
                                bytes_per_param=case.bytes_per_param, threads=case.threads,
                                unit=case.unit, floor_scale=case.floor_scale)
    if case.state_share:
        benchmark.extra_info["state_share"] = round(case.state_share, 4)
    benchmark.pedantic(fn, rounds=int(min(max_rounds, max(5, seconds / once))),
                       warmup_rounds=1)


def _set_threads(n: int) -> None:
    """The same thread count for msopt, torch and NumPy's BLAS (when threadpoolctl is
    installed), so every runner of a case gets the same machine."""
    msopt.set_num_threads(n)
    torch = _torch()
    if torch is not None:
        torch.set_num_threads(n)
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:
        return
    threadpool_limits(limits=n, user_api="blas")


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


def zipf_sentences(words: int, part: int, vocab: int = 30_000) -> list[list[str]]:
    """Sentences of 20 words ("w1", "w2", ...) drawn from a Zipf law over ``vocab`` words,
    ``words // 20 * 20`` of them; ``part`` seeds the draw (the Dask benches' corpora)."""
    ids = np.minimum(np.random.default_rng(10 + part).zipf(1.2, words), vocab)
    return [[f"w{i}" for i in row] for row in ids[:words // 20 * 20].reshape(-1, 20)]


LOWBIT_BYTES = {"bfloat16": 20.0, "int8": 16.0 + 16.0 / 256}  # nominal traffic per param


def lowbit_runners(n: int, state_dtypes: Sequence[str] = ("float32", "bfloat16", "int8")
                   ) -> tuple[dict[str, Callable[[], Any]], dict[str, int]]:
    """Adam's step on one array of n fp32 parameters: "msopt <state_dtype>" for each of
    ``state_dtypes``, the 7-stream floor (an fp32 step's traffic), the floor of each
    compressed form's own traffic ("floor: <state_dtype> traffic", the same loop over uint16
    or uint8 moments) and torch's fused Adam (when installed); every optimizer skips the
    NaN/Inf pre-pass (nonfinite="ignore", as torch does).  Also the state bytes of each
    state_dtype."""
    rng = np.random.default_rng(0)
    p = rng.standard_normal(n, dtype=np.float32)
    g = rng.standard_normal(n, dtype=np.float32) * np.float32(1e-3)
    runners: dict[str, Callable[[], Any]] = {}
    sizes = {}
    for sd in state_dtypes:
        opt = msopt.Adam([p.copy()], state_dtype=sd, nonfinite="ignore")
        runners[f"msopt {sd}"] = partial(opt.step, [g])
        sizes[sd] = opt.state_nbytes
    fl = [np.zeros(n, np.float32) for _ in range(3)]
    runners["floor: 7-stream loop"] = lambda: _core.stream7(fl[0], g, fl[1], fl[2])
    codes: dict[str, Any] = {"bfloat16": np.uint16, "int8": np.uint8}
    for sd, code in codes.items():
        if sd in state_dtypes:
            runners[f"floor: {sd} traffic"] = partial(_core.stream7, fl[0], g, np.zeros(n, code),
                                                      np.zeros(n, code))
    torch = _torch()
    if torch is not None:
        tp = torch.from_numpy(p).requires_grad_()
        tp.grad = torch.from_numpy(g)
        runners["torch fused"] = torch.optim.Adam([tp], fused=True).step
    return runners, sizes


def lowbit_case(state_dtype: str, n: int, threads: int) -> Case:
    """Adam with compressed moments ("msopt") beside msopt's float32-state step, the floors
    and torch's fused Adam (:func:`lowbit_runners`); the share of floor is taken against
    the measured floor of the compressed form's own traffic."""
    _set_threads(threads)
    runners, sizes = lowbit_runners(n, ("float32", state_dtype))
    case = Case(f"Adam state={state_dtype} n={n:.0e} t={threads}", f"1 x {n:,}", n,
                int(round(LOWBIT_BYTES[state_dtype])), threads)
    case.runners["msopt"] = runners.pop(f"msopt {state_dtype}")
    case.runners["msopt float32 state"] = runners.pop("msopt float32")
    case.runners["floor: own traffic"] = runners.pop(f"floor: {state_dtype} traffic")
    case.runners.update(runners)
    case.floor_scale = 1.0
    case.state_share = sizes[state_dtype] / sizes["float32"]
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


# -- linear layers ----------------------------------------------------------------------
def _numpy_softmax_step(X, y, W, b, m, v, t, lr=1e-3, b1=0.9, b2=0.999, eps=1e-8):
    """One softmax-regression Adam step in plain NumPy (the way one writes it)."""
    Z = X @ W + b
    Z -= Z.max(axis=1, keepdims=True)
    P = np.exp(Z)
    P /= P.sum(axis=1, keepdims=True)
    P[np.arange(len(y)), y] -= 1.0
    P /= len(y)
    grads = (X.T @ P, P.sum(0))
    for p, g, mm, vv in zip((W, b), grads, m, v):
        mm *= b1
        mm += (1 - b1) * g
        vv *= b2
        vv += (1 - b2) * g * g
        p -= (lr / (1 - b1**t)) * mm / (np.sqrt(vv) / math.sqrt(1 - b2**t) + eps)


def linear_step_case(threads: int, B: int = 256, D: int = 1024, C: int = 1000) -> Case:
    """One fused step of softmax regression (forward, loss, backward, Adam) in float32."""
    _set_threads(threads)
    rng = np.random.default_rng(3)
    X = rng.standard_normal((B, D), dtype=np.float32)
    y = rng.integers(0, C, B)
    case = Case(f"Linear softmax step t={threads}", f"B={B} D={D} C={C} fp32", 1, 0,
                threads, unit="step", floor_scale=1.0)
    m = msopt.LinearModel(D, C, "softmax", optimizer="adam", lr=1e-3, dtype=np.float32)
    m.W[...] = rng.standard_normal((D, C), dtype=np.float32) * np.float32(0.01)
    case.runners["msopt"] = lambda: m.step(X, y)
    W = m.W.copy()
    Z, G = np.empty((B, C), np.float32), np.empty((D, C), np.float32)
    case.runners["floor: the two BLAS products"] = lambda: (np.matmul(X, W, out=Z),
                                                           np.matmul(X.T, Z, out=G))
    Wn, bn = W.copy(), np.zeros(C, np.float32)
    mom = [np.zeros_like(Wn), np.zeros_like(bn)]
    vel = [np.zeros_like(Wn), np.zeros_like(bn)]
    t = [0]

    def np_step() -> None:
        t[0] += 1
        _numpy_softmax_step(X, y, Wn, bn, mom, vel, t[0])
    case.runners["numpy step"] = np_step
    torch = _torch()
    if torch is not None:
        lin = torch.nn.Linear(D, C)
        with torch.no_grad():
            lin.weight.copy_(torch.from_numpy(W.T.copy()))
            lin.bias.zero_()
        topt = torch.optim.Adam(lin.parameters(), lr=1e-3, fused=True)
        tx, ty = torch.from_numpy(X), torch.from_numpy(y)

        def torch_step() -> None:
            topt.zero_grad(set_to_none=False)
            torch.nn.functional.cross_entropy(lin(tx), ty).backward()
            topt.step()
        case.runners["torch step"] = torch_step
    return case


def small_fit_case(threads: int = 1, D: int = 100, C: int = 10, B: int = 32,
                   steps: int = 10_000) -> Case:
    """A small softmax model fitted for `steps` minibatch steps in one call (float32)."""
    _set_threads(threads)
    rng = np.random.default_rng(4)
    n = B * 1000
    X = rng.standard_normal((n, D), dtype=np.float32)
    y = rng.integers(0, C, n)
    epochs = steps // 1000
    case = Case(f"Linear fit, small model t={threads}", f"D={D} C={C} B={B}, {steps:,} steps",
                steps, 0, threads, unit="step")
    m = msopt.LinearModel(D, C, "softmax", optimizer="adam", lr=1e-3, dtype=np.float32)
    case.runners["msopt"] = lambda: m.run(X, y, epochs=epochs, batch_size=B, seed=0)
    W, b = np.zeros((D, C), np.float32), np.zeros(C, np.float32)
    mom = [np.zeros_like(W), np.zeros_like(b)]
    vel = [np.zeros_like(W), np.zeros_like(b)]

    def np_fit() -> None:
        t = 0
        order = np.random.default_rng(0).permutation(n)
        for s in range(0, steps * B, B):
            rows = order[s % n:s % n + B]
            t += 1
            _numpy_softmax_step(X[rows], y[rows], W, b, mom, vel, t)
    case.runners["numpy step by step"] = np_fit
    torch = _torch()
    if torch is not None:
        lin = torch.nn.Linear(D, C)
        topt = torch.optim.Adam(lin.parameters(), lr=1e-3, fused=True)
        tX, ty = torch.from_numpy(X), torch.from_numpy(y)

        def torch_fit() -> None:
            order = torch.randperm(n)
            for s in range(0, steps * B, B):
                rows = order[s % n:s % n + B]
                topt.zero_grad(set_to_none=False)
                torch.nn.functional.cross_entropy(lin(tX[rows]), ty[rows]).backward()
                topt.step()
        case.runners["torch step by step"] = torch_fit
    return case


def time_to_accuracy(n_samples: int = 200_000, echo: Callable[[str], Any] = print
                     ) -> list[list[str]] | None:
    """Seconds to reach scikit-learn lbfgs's test accuracy (minus 0.5 points) on
    make_classification(n_samples, 100 features, 50 informative, 10 classes): msopt
    LogisticRegression, stopped by a callback once its test accuracy reaches the target (a
    time-to-target measurement), against SGDClassifier and lbfgs at their defaults."""
    try:
        from sklearn.datasets import make_classification
        from sklearn.linear_model import LogisticRegression as SkLR
        from sklearn.linear_model import SGDClassifier
        from sklearn.model_selection import train_test_split
    except ImportError:
        return None
    X, y = make_classification(n_samples=n_samples, n_features=100, n_informative=50,
                               n_classes=10, random_state=0)
    Xtr, Xte, ytr, yte = train_test_split(X, y, test_size=0.2, random_state=0)
    out = []

    def run(label: str, make: Callable[[], Any], target: float | None = None) -> float:
        t0 = time.perf_counter()
        est = make().fit(Xtr, ytr)
        dt = time.perf_counter() - t0
        acc = est.score(Xte, yte)
        out.append([label, f"{dt:.2f} s", f"{acc:.4f}",
                    "" if target is None else ("yes" if acc >= target else "no")])
        echo(f"  {label}: {dt:.2f} s, test accuracy {acc:.4f}")
        return acc

    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ref = run("scikit-learn LogisticRegression(lbfgs)", lambda: SkLR(max_iter=1000))
        target = ref - 0.005
        run("scikit-learn SGDClassifier(log_loss)",
            lambda: SGDClassifier(loss="log_loss", random_state=0), target)

        def stop_at_target(est: Any, info: dict[str, Any]) -> bool:
            return est.score(Xte, yte) >= target
        run("msopt LogisticRegression (Adam, batch 512, linear decay)",
            lambda: msopt.LogisticRegression(
                batch_size=512, learning_rate=0.003, learning_rate_schedule="linear",
                max_iter=30, tol=None, random_state=0, callbacks=[stop_at_target]), target)
    return out


def embedding_case(threads: int, rows: int = 1_000_000, dim: int = 128, n_bags: int = 4096,
                   bag_len: int = 20) -> Case:
    """One EmbeddingBag training step (mean pooling, forward, backward, row-sparse Adam) on
    Zipf-distributed ids, beside torch's EmbeddingBag(sparse=True) + SparseAdam.  The ids
    are the same for every table size (all below 100,000), so only the table grows."""
    _set_threads(threads)
    rng = np.random.default_rng(5)
    ids = (rng.zipf(1.1, n_bags * bag_len * 4) - 1)
    ids = ids[ids < min(rows, 100_000)][:n_bags * bag_len].astype(np.int64)
    offsets = np.arange(0, n_bags * bag_len, bag_len, dtype=np.int64)
    grad = rng.standard_normal((n_bags, dim), dtype=np.float32) * np.float32(1e-3)
    case = Case(f"EmbeddingBag step {rows:.0e} rows t={threads}",
                f"{rows:,} x {dim}, {n_bags} bags x {bag_len} ids", 1, 0, threads, unit="step")
    bag = msopt.EmbeddingBag(rows, dim, "mean", optimizer="adam", lr=1e-3, seed=0)

    def ours() -> None:
        bag.forward(ids, offsets)
        bag.step(grad)
    case.runners["msopt"] = ours
    torch = _torch()
    if torch is not None:
        emb = torch.nn.EmbeddingBag(rows, dim, mode="mean", sparse=True)
        topt = torch.optim.SparseAdam(emb.parameters(), lr=1e-3)
        ti, to, tg = torch.from_numpy(ids), torch.from_numpy(offsets), torch.from_numpy(grad)

        def theirs() -> None:
            topt.zero_grad()
            emb(ti, to).backward(tg)
            topt.step()
        case.runners["torch EmbeddingBag(sparse) + SparseAdam"] = theirs
    return case


def zipf_corpus(n_tokens: int, vocab: int = 30_000, seed: int = 0) -> list[list[str]]:
    """Sentences of 5 to 24 words drawn from a Zipf(1.1) law over ``vocab`` words."""
    rng = np.random.default_rng(seed)
    ids = rng.zipf(1.1, n_tokens * 2)
    ids = ids[ids <= vocab][:n_tokens] - 1
    words = np.array([f"w{i}" for i in range(vocab)])[ids].tolist()
    cuts = np.cumsum(rng.integers(5, 25, n_tokens // 5 + 1))
    cuts = cuts[cuts < len(words)].tolist()
    return [words[a:b] for a, b in zip([0, *cuts], [*cuts, len(words)]) if b > a]


def word2vec_case(threads: int, n_tokens: int = 1_000_000, sg: int = 1) -> Case:
    """One epoch of word2vec (dim 100, window 5, 5 negatives, sample 1e-3, min_count 5) on
    a Zipf corpus, vocabulary built beforehand, beside gensim's Word2Vec when installed.
    Both read the same token lists; the unit is a corpus word."""
    corpus = zipf_corpus(n_tokens)
    words = sum(map(len, corpus))
    kw = dict(vector_size=100, window=5, negative=5, sample=1e-3, min_count=5, sg=sg,
              seed=1)
    name = "skip-gram" if sg else "CBOW"
    case = Case(f"Word2Vec {name} t={threads}", f"{words:,} words, 1 epoch", words, 0,
                threads, unit="word")
    model = msopt.Word2Vec(workers=threads, epochs=1, **kw).build_vocab(corpus)
    case.runners["msopt"] = partial(model.train, corpus)
    try:
        from gensim.models import Word2Vec as GensimWord2Vec
    except ImportError:
        return case
    theirs = GensimWord2Vec(workers=threads, epochs=1, **kw)
    theirs.build_vocab(corpus)
    case.runners["gensim"] = partial(theirs.train, corpus, total_examples=len(corpus),
                                     epochs=1)
    return case


W2V_QUALITY_PARAMS = dict(vector_size=100, window=5, negative=5, min_count=5, sample=1e-3,
                          epochs=5)
_TOKEN = re.compile(r"[a-z]+(?:'[a-z]+)?")


def austen_sentences(data: Path) -> list[list[str]]:
    files = sorted((data / "gutenberg_austen").glob("*.txt"))
    if not files:
        raise FileNotFoundError(f"{data / 'gutenberg_austen'}: no novels found")
    out = []
    for f in files:
        for line in f.read_text(encoding="utf-8").splitlines():
            toks = _TOKEN.findall(line.lower())
            if toks:
                out.append(toks)
    return out


def evaluate_word_vectors(wv: Any, data: Path) -> tuple[float, float]:
    """(analogy accuracy, WordSim-353 Spearman) of msopt or gensim KeyedVectors."""
    analogy = wv.evaluate_word_analogies(data / "word_analogy" / "questions-words.txt")[0]
    pairs = wv.evaluate_word_pairs(data / "word_similarity" / "wordsim353.tsv")
    spearman = pairs[1][0] if isinstance(pairs[1], tuple) else pairs[1]  # gensim: (r, p)
    return float(analogy), float(spearman)


def word2vec_quality(data: Path, seeds: int = 3, workers: int = 2, sg: int = 1
                     ) -> dict[str, Any]:
    """msopt's and gensim's (when installed) Word2Vec on the Austen novels, trained on the
    same token lists with the same hyperparameters, once per seed: per library, lists of
    analogy accuracies, WordSim-353 Spearman correlations and train seconds, and the last
    model."""
    sentences = austen_sentences(data)
    out: dict[str, Any] = {"sentences": len(sentences),
                           "words": sum(map(len, sentences))}
    runners = {"msopt": lambda seed: msopt.Word2Vec(sentences, sg=sg, workers=workers,
                                                    seed=seed, **W2V_QUALITY_PARAMS)}
    try:
        from gensim.models import Word2Vec as GensimWord2Vec
        runners["gensim"] = lambda seed: GensimWord2Vec(sentences, sg=sg, workers=workers,
                                                        seed=seed, **W2V_QUALITY_PARAMS)
    except ImportError:
        pass
    for name, make in runners.items():
        rows = []
        for seed in range(1, seeds + 1):
            t0 = time.perf_counter()
            model = make(seed)
            seconds = time.perf_counter() - t0
            rows.append((*evaluate_word_vectors(model.wv, data), seconds))
        out[name] = {"analogy": [r[0] for r in rows], "spearman": [r[1] for r in rows],
                     "seconds": [r[2] for r in rows], "model": model}
    return out


def all_cases(quick: bool = False) -> list[Callable[[], Case]]:
    """Builders, in run order (each builds its arrays when called)."""
    n = 2_000_000 if quick else 10_000_000
    rows = 200_000 if quick else 1_000_000
    out: list[Callable[[], Case]] = []
    for name in DENSE:
        out += [partial(dense_case, name, n, t) for t in (1, 2)]
    out += [partial(many_arrays_case, t) for t in (1, 2)]
    out += [partial(rows_case, t, rows=rows) for t in (1, 2)]
    out += [partial(linear_step_case, t) for t in (1, 2)]
    out.append(partial(small_fit_case, 1, steps=2_000 if quick else 10_000))
    for r in (100_000, rows):
        out += [partial(embedding_case, t, rows=r) for t in (1, 2)]
    out += [partial(word2vec_case, t, 200_000 if quick else 1_000_000) for t in (1, 2)]
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


def _per_unit(t: float, case: Case) -> str:
    per = t / case.params
    if case.unit == "param":
        return f"{per * 1e9:.3f} ns/param"
    return f"{per * 1e6:.2f} us/{case.unit}" if per < 1e-3 else f"{per * 1e3:.2f} ms/{case.unit}"


def table_rows(case: Case, medians: dict[str, float]) -> list[list[str]]:
    """One row per runner: time, time per unit, GB/s (nominal bytes), msopt speed-up over
    it, and the share of the floor (floor time / runner time) where the case has one."""
    ours = medians["msopt"]
    floor = next((t for k, t in medians.items() if k.startswith("floor")), None)
    scale = case.floor_scale or case.bytes_per_param / 28
    rows = []
    for label, t in medians.items():
        gbs = (f"{case.params * case.bytes_per_param / t / 1e9:.1f}"
               if case.bytes_per_param else "")
        speedup = "" if label == "msopt" else f"{t / ours:.2f}x"
        share = ""
        if floor is not None and not label.startswith("floor"):
            share = f"{floor * scale / t:.0%}"
        rows.append([case.group, case.size, label, _fmt_time(t), _per_unit(t, case), gbs,
                     speedup, share])
    return rows


HEADER = ["case", "size", "runner", "median", "per unit", "GB/s", "msopt speed-up",
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
    table = format_table(rows)
    acc = time_to_accuracy(50_000 if quick else 200_000, echo=echo)
    if acc:
        head = ["estimator", "fit time", "test accuracy", "reaches lbfgs - 0.5 pt"]
        widths = [max(len(r[i]) for r in [head, *acc]) for i in range(4)]
        lines = ["| " + " | ".join(h.ljust(w) for h, w in zip(head, widths)) + " |",
                 "|" + "|".join("-" * (w + 2) for w in widths) + "|"]
        lines += ["| " + " | ".join(c.ljust(w) for c, w in zip(r, widths)) + " |" for r in acc]
        table += "\n\nTime to accuracy (make_classification, 100 features, 10 classes):\n"
        table += "\n".join(lines)
    return table
