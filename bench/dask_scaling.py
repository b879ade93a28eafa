"""Local SGD on Dask: time to a training loss with 2 workers against 1, and a paper estimate
of larger clusters from what one run measures.

    python bench/dask_scaling.py [--rows 2000000] [--features 100] [--epochs 3]
                                 [--local-steps 64]

LogisticRegression (10 classes, Adam, batch 256) on rows drawn from a noisy linear teacher,
made on the workers and persisted there (float32; 2M x 100 is 800 MB).  Three fits from the
same seed, each on a fresh LocalCluster of processes with one thread per worker:

- "1 worker": the whole data on one worker (local SGD on one shard is the ordinary fit);
- "2 workers": half on each, rounds of ``--local-steps`` steps averaged between them;
- "1 process, 1 thread" and "2 threads": the estimator's own fit in this process, for
  scale (the first also gives the time of one step).

Each fit runs ``--epochs`` passes.  The target loss is the 1-worker fit's last round loss
times 1.01; a fit's time to it is the sum of its rounds' seconds up to the first round at or
below it.  Accuracy is measured on 100,000 held-out rows of the same teacher.

The estimate: a round of K steps on P workers costs K x (one step) + the round's fixed cost.
Measured here: the step (the in-process fit on one thread), the fixed cost of a round on 2
workers (round seconds - K x step) and the scheduler's cost per task (many empty tasks at
once).  Assumed: each worker beyond 2 adds two tasks' cost to a round (its step task, and
its model gathered by the average) and the bytes the average gathers and sends back, at
1 GB/s.  Printed for 8, 32 and 128
workers; rows per second relative to one worker is P x K x step / round.  It counts
throughput only: how many rows local SGD needs to reach a loss with P workers is not
modelled (with 2 workers the run above measures it).
"""

from __future__ import annotations

import argparse
import math
import statistics
import time
from typing import Any

import numpy as np

CLASSES, BATCH, SEED = 10, 256, 0


def teacher(features: int) -> np.ndarray:
    return np.random.default_rng(SEED).standard_normal((features, CLASSES)).astype(np.float32)


def rows(n: int, features: int, part: int) -> tuple[np.ndarray, np.ndarray]:
    """n rows of part ``part``: Gaussian features, labels the teacher's argmax under
    Gumbel noise (so the best accuracy is well below 100%)."""
    rng = np.random.default_rng(1 + part)
    X = rng.standard_normal((n, features), dtype=np.float32)
    logits = X @ teacher(features) / np.float32(np.sqrt(features) / 3)
    y = np.argmax(logits + rng.gumbel(size=logits.shape).astype(np.float32), axis=1)
    return X, y


def cluster_data(client: Any, n: int, features: int, workers: int) -> tuple[Any, Any]:
    """The rows as dask arrays of one block per worker, made and persisted on the workers."""
    import dask
    import dask.array as da

    sizes = [n // workers + (i < n % workers) for i in range(workers)]
    parts = [dask.delayed(rows)(s, features, i) for i, s in enumerate(sizes)]
    X = da.concatenate([da.from_delayed(p[0], (s, features), np.float32)
                        for p, s in zip(parts, sizes)])
    y = da.concatenate([da.from_delayed(p[1], (s,), np.int64) for p, s in zip(parts, sizes)])
    X, y = client.persist(X), client.persist(y)
    from distributed import wait
    wait([X, y])
    return X, y


def estimator() -> Any:
    import msopt
    return msopt.LogisticRegression(random_state=SEED, batch_size=BATCH, tol=None)


def dask_fit(n: int, features: int, workers: int, epochs: int, K: int
             ) -> tuple[Any, list[dict[str, Any]], float]:
    from distributed import Client, LocalCluster

    from msopt import dask as mdask

    with LocalCluster(n_workers=workers, threads_per_worker=1, processes=True,
                      dashboard_address=":0") as cluster, Client(cluster) as client:
        X, y = cluster_data(client, n, features, workers)
        latency = task_cost(client)
        model, history = mdask.fit(estimator(), X, y, client=client, local_steps=K,
                                   epochs=epochs)
    return model, history, latency


def task_cost(client: Any, count: int = 400) -> float:
    """Seconds of scheduling per task: ``count`` empty tasks submitted at once and gathered,
    over ``count`` (the scheduler's throughput, which a round of P tasks pays P times)."""
    client.gather(client.map(int, range(8), pure=False))
    t0 = time.perf_counter()
    client.gather(client.map(int, range(count), pure=False))
    return (time.perf_counter() - t0) / count


def time_to(history: list[dict[str, Any]], target: float) -> float | None:
    spent = 0.0
    for h in history:
        spent += h["seconds"]
        if h["loss"] <= target:
            return spent
    return None


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--rows", type=int, default=2_000_000)
    ap.add_argument("--features", type=int, default=100)
    ap.add_argument("--epochs", type=int, default=3)
    ap.add_argument("--local-steps", type=int, default=64)
    args = ap.parse_args(argv)
    import msopt

    n, d, K = args.rows, args.features, args.local_steps
    Xt, yt = rows(100_000, d, 99)
    runs: dict[str, dict[str, Any]] = {}
    for workers in (1, 2):
        model, history, latency = dask_fit(n, d, workers, args.epochs, K)
        runs[f"{workers} worker{'s' * (workers > 1)}"] = dict(
            history=history, seconds=sum(h["seconds"] for h in history),
            accuracy=model.score(Xt, yt), latency=latency)
    X, y = rows(n, d, 0)  # one process: the same teacher, the rows of one part
    for threads in (1, 2):
        msopt.set_num_threads(threads)
        est = estimator().set_params(max_iter=args.epochs)
        t0 = time.perf_counter()
        est.fit(X, y)
        runs[f"1 process, {threads} thread{'s' * (threads > 1)}"] = dict(
            history=None, seconds=time.perf_counter() - t0, accuracy=est.score(Xt, yt))
    del X, y

    one = runs["1 worker"]["history"]
    target = one[-1]["loss"] * 1.01
    print(f"LogisticRegression, {n:,} x {d} float32, {CLASSES} classes, batch {BATCH}, "
          f"K={K}, {args.epochs} epochs; target loss {target:.4f}\n")
    print("| run | rounds | seconds | time to target | final loss | held-out accuracy |")
    print("|---|---|---|---|---|---|")
    for name, r in runs.items():
        h = r["history"]
        tt = time_to(h, target) if h else None
        print(f"| {name} | {len(h) if h else ''} | {r['seconds']:.1f} | "
              f"{'' if tt is None else f'{tt:.1f} s'} | "
              f"{h[-1]['loss']:.4f} | {r['accuracy']:.4f} |" if h else
              f"| {name} | | {r['seconds']:.1f} | | | {r['accuracy']:.4f} |")

    # the paper estimate
    step = runs["1 process, 1 thread"]["seconds"] / (args.epochs * -(-n // BATCH))
    two = runs["2 workers"]
    round2 = statistics.median([h["seconds"] for h in two["history"][1:-1]]
                               or [h["seconds"] for h in two["history"]])
    fixed2 = max(round2 - K * step, 0.0)
    latency = two["latency"]
    model_bytes = 4 * (d * CLASSES + CLASSES) * 3  # W and b, with Adam's two moments
    print(f"\nmeasured: step {step * 1e3:.3f} ms, round on 2 workers {round2 * 1e3:.1f} ms "
          f"(fixed cost {fixed2 * 1e3:.1f} ms), {latency * 1e3:.2f} ms of scheduling per "
          f"task, model + state {model_bytes / 1e3:.1f} kB\n")
    print(f"| workers | bytes per round | fixed cost (est.) | round of K={K} (est.) | "
          f"rows/s vs 1 worker (est.) | K for a 10% fixed share |")
    print("|---|---|---|---|---|---|")
    for P in (2, 8, 32, 128):
        sent = 2 * P * model_bytes  # gathered from every worker, sent back to every worker
        fixed = fixed2 + 2 * (P - 2) * latency + sent / 1e9
        rnd = K * step + fixed
        print(f"| {P} | {sent / 1e6:.2f} MB | {fixed * 1e3:.1f} ms | {rnd * 1e3:.1f} ms | "
              f"{P * K * step / rnd:.1f}x | {math.ceil(9 * fixed / step):,} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
