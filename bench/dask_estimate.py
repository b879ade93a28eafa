"""Local SGD on Dask, measured on this machine and extrapolated on paper: time to a training
loss with 2 workers against 1, what a round costs beside its steps, and an estimate of
rounds, bytes and speed-up at 8, 32 and 128 workers.

    python bench/dask_estimate.py [--rows 2000000] [--epochs 3] [--words 1000000]

**Measured.** LogisticRegression (10 classes, Adam, batch 256, ``tol=None``) on ``--rows``
x 100 float32 rows from a noisy linear teacher, made on the workers and persisted there;
fits from the same seed with the default ``local_steps`` on a LocalCluster of processes
with 1 and 2 workers (one thread each), and the estimator's own fit in this process at 1
and 2 threads.  The target loss is the 1-worker fit's last round loss times 1.01; a fit's
time to it is the sum of its rounds' seconds up to the first round at or below it.
Accuracy is on 100,000 held-out rows of the same teacher.  A step's time is that of a
2-worker round's steps on one worker's rows in this process, on one thread (the workers'
own, beside each other on a small machine, are slower); a round's fixed cost is its seconds
less its slowest worker's seconds of steps, timed on the worker (``step_seconds``; the first
and last rounds, which carry the setup and the end, are left out of the medians).
Then Word2Vec (skip-gram, dim 100, window 5, 5 negatives) on ``--words`` Zipf-distributed
words a worker (30,000 distinct), 3 epochs on 2 workers, default ``local_steps``, and its
steps on one worker's words in this process: its own fixed cost (moving and averaging the
changed rows, most of both tables).

**Estimated.** A job of 10 passes over P times one worker's data (rows or words), on P
workers.  A round is one layer of tasks: each worker's next round task fetches every other
worker's result and averages them itself, and the client reads every result once, while
the next round runs.  A round costs K steps plus a fixed cost: the model's measured 2-worker
one, plus, for every worker beyond 2, one task's scheduling (the scheduler's cost per task
is measured with many empty tasks at once) and one more result fetched by each worker, at
1 GB/s; and it lasts at least as long as the client takes to read all P results.  Bytes:
the linear model's W, b and Adam's two moments; Word2Vec's changed rows, at most both tables
(30,000 x 100 float32 each) from each worker, to each other worker and the client.
Speed-up is rows (or words) per second against one worker; it counts throughput only (how
many passes local SGD needs with P workers is measured above for 2).  Every worker fetching
every result moves P times the bytes of one averaging task: for Word2Vec past a few dozen
workers those bytes dominate, and a tree of averaging tasks would be the next step.
"""

from __future__ import annotations

import argparse
import math
import statistics
import time
from typing import Any

import numpy as np

CLASSES, FEATURES, BATCH, SEED = 10, 100, 256, 0
VOCAB, DIM, WINDOW, NEGATIVE = 30_000, 100, 5, 5


def teacher() -> np.ndarray:
    return np.random.default_rng(SEED).standard_normal((FEATURES, CLASSES)).astype(np.float32)


def rows(n: int, part: int) -> tuple[np.ndarray, np.ndarray]:
    """n rows of part ``part``: Gaussian features, labels the teacher's argmax under Gumbel
    noise (so the best accuracy is well below 100%)."""
    rng = np.random.default_rng(1 + part)
    X = rng.standard_normal((n, FEATURES), dtype=np.float32)
    logits = X @ teacher() / np.float32(math.sqrt(FEATURES) / 3)
    y = np.argmax(logits + rng.gumbel(size=logits.shape).astype(np.float32), axis=1)
    return X, y


def sentences(words: int, part: int) -> list[list[str]]:
    """A worker's sentences: 20 words each, Zipf-distributed over VOCAB words."""
    from msopt import _bench

    return _bench.zipf_sentences(words, part, VOCAB)


def cluster(workers: int) -> Any:
    from distributed import LocalCluster

    return LocalCluster(n_workers=workers, threads_per_worker=1, processes=True,
                        dashboard_address=":0")


def task_cost(client: Any, count: int = 400) -> float:
    """Seconds of scheduling per task: ``count`` empty tasks submitted at once, gathered."""
    client.gather(client.map(int, range(8), pure=False))
    t0 = time.perf_counter()
    client.gather(client.map(int, range(count), pure=False))
    return (time.perf_counter() - t0) / count


def linear_fit(n: int, workers: int, epochs: int) -> tuple[Any, list[dict[str, Any]], float]:
    import dask
    import dask.array as da
    from distributed import Client, wait

    from msopt import dask as mdask

    with cluster(workers) as cl, Client(cl) as client:
        sizes = [n // workers + (i < n % workers) for i in range(workers)]
        parts = [dask.delayed(rows)(s, i) for i, s in enumerate(sizes)]
        X = client.persist(da.concatenate([da.from_delayed(p[0], (s, FEATURES), np.float32)
                                           for p, s in zip(parts, sizes)]))
        y = client.persist(da.concatenate([da.from_delayed(p[1], (s,), np.int64)
                                           for p, s in zip(parts, sizes)]))
        wait([X, y])
        per_task = task_cost(client)
        est = mdask.LogisticRegression(random_state=SEED, batch_size=BATCH, tol=None)
        est.fit(X, y, client=client, epochs=epochs)
    return est, est.history_, per_task


W2V = dict(dim=DIM, window=WINDOW, negative=NEGATIVE, min_count=1, sg=1, threads=1, seed=1)


def word2vec_fit(words: int, epochs: int = 3) -> tuple[list[dict[str, Any]], float]:
    """A 2-worker fit's history, and the seconds of one step on one worker's words in this
    process (one thread)."""
    import dask
    import dask.bag as db
    from distributed import Client

    import msopt
    from msopt import dask as mdask

    with cluster(2) as cl, Client(cl) as client:
        bag = db.from_delayed([dask.delayed(sentences)(words, p) for p in range(2)])
        model = mdask.Word2Vec(epochs=epochs, **W2V).fit(bag, client=client)
    K = int(middle(model.history_, "steps"))
    shard = mdask._text._Word2VecShard(msopt.Word2Vec(**W2V), model.vocab, epochs, 1, 1,
                                       ([" ".join(t) for t in sentences(words, 0)],))
    shard.set_steps(-(-words // mdask._text.STEP_ROWS))
    t0 = time.perf_counter()
    for _ in range(K):
        shard.step()
    return model.history_, (time.perf_counter() - t0) / K


def steps_alone(est: Any, X: np.ndarray, y: np.ndarray, K: int) -> float:
    """Median seconds of K steps on one worker's rows (``X``, ``y``) in this process, on one
    thread: what a worker's round computes, without Dask."""
    import copy

    import msopt
    from msopt import dask as mdask

    shard = mdask._Shard(est, 0, BATCH, (X, y))
    msopt.set_num_threads(1)
    times = []
    for r in range(3):
        model = copy.deepcopy(est._model)
        t0 = time.perf_counter()
        shard.run(model, r * K, K, {})
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def time_to(history: list[dict[str, Any]], target: float) -> float | None:
    spent = 0.0
    for h in history:
        spent += h["seconds"]
        if h["loss"] <= target:
            return spent
    return None


def middle(history: list[dict[str, Any]], key: str) -> float:
    """The median of ``key`` over the rounds but the first and last (when there are more)."""
    inner = history[1:-1] or history
    return statistics.median(h[key] for h in inner)


def fixed(history: list[dict[str, Any]]) -> float:
    """A round's median seconds outside its slowest worker's steps."""
    return max(0.0, middle(history, "seconds") - middle(history, "step_seconds"))


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--rows", type=int, default=2_000_000)
    ap.add_argument("--epochs", type=int, default=3)
    ap.add_argument("--words", type=int, default=1_000_000)
    args = ap.parse_args(argv)
    import msopt

    n, epochs = args.rows, args.epochs
    Xt, yt = rows(100_000, 99)
    runs: dict[str, dict[str, Any]] = {}
    per_task = 0.0
    for workers in (1, 2):
        est, history, per_task = linear_fit(n, workers, epochs)
        runs[f"dask, {workers} worker{'s' * (workers > 1)}"] = dict(
            history=history, seconds=sum(h["seconds"] for h in history),
            accuracy=est.score(Xt, yt))
    X, y = rows(n // 2, 0)  # a worker's rows when there are two
    K2 = int(middle(runs["dask, 2 workers"]["history"], "steps"))
    step = steps_alone(est, X, y, K2) / K2
    X, y = rows(n, 0)
    for threads in (1, 2):
        msopt.set_num_threads(threads)
        est = msopt.LogisticRegression(random_state=SEED, batch_size=BATCH, tol=None,
                                       max_iter=epochs)
        t0 = time.perf_counter()
        est.fit(X, y)
        runs[f"in process, {threads} thread{'s' * (threads > 1)}"] = dict(
            history=None, seconds=time.perf_counter() - t0, accuracy=est.score(Xt, yt))
    del X, y

    target = runs["dask, 1 worker"]["history"][-1]["loss"] * 1.01
    print(f"LogisticRegression, {n:,} x {FEATURES} float32, {CLASSES} classes, batch {BATCH}, "
          f"{epochs} epochs, default local_steps; target loss {target:.4f}\n")
    print("| run | rounds | steps a round | seconds | time to target | fixed share of a "
          "round | held-out accuracy |")
    print("|---|---|---|---|---|---|---|")
    for name, r in runs.items():
        h = r["history"]
        if h is None:
            print(f"| {name} | | | {r['seconds']:.1f} | | | {r['accuracy']:.4f} |")
            continue
        tt = time_to(h, target)
        K, rnd = int(middle(h, "steps")), middle(h, "seconds")
        print(f"| {name} | {len(h)} | {K:,} | {r['seconds']:.1f} | "
              f"{'not reached' if tt is None else f'{tt:.1f} s'} | "
              f"{fixed(h) / rnd:.0%} | {r['accuracy']:.4f} |")

    round2 = middle(runs["dask, 2 workers"]["history"], "seconds")
    fixed2 = fixed(runs["dask, 2 workers"]["history"])
    w2v, step_w = word2vec_fit(args.words)
    Kw, roundw = int(middle(w2v, "steps")), middle(w2v, "seconds")
    fixed_w = fixed(w2v)
    print(f"\nmeasured: linear step {step * 1e3:.3f} ms, a 2-worker round's fixed cost "
          f"{fixed2 * 1e3:.1f} ms ({fixed2 / round2:.0%} of the round), "
          f"{per_task * 1e3:.2f} ms of scheduling per task; Word2Vec: a step "
          f"{step_w * 1e3:.1f} ms, a 2-worker round {roundw:.2f} s of {Kw} steps, fixed cost "
          f"{fixed_w:.2f} s ({fixed_w / roundw:.0%})\n")

    models = {  # step, steps an epoch, K, bytes from a worker, fixed cost on 2 workers
        "LogisticRegression": (step, -(-(n // 2) // BATCH), K2,
                               4 * 3 * (FEATURES * CLASSES + CLASSES), fixed2),
        "Word2Vec": (step_w, max(1, -(-args.words // 16_384)), Kw, 4 * 2 * VOCAB * DIM,
                     fixed_w),
    }
    print("| model | workers | rounds of 10 passes | bytes a round | round (est.) | "
          "speed-up over 1 worker (est.) |")
    print("|---|---|---|---|---|---|")
    for name, (st, spe, K, model_bytes, fixed_2) in models.items():
        for P in (8, 32, 128):
            sent = P * P * model_bytes  # every result to every other worker and the client
            extra = (P - 2) * (per_task + model_bytes / 1e9)
            rnd = max(K * st + fixed_2 + extra, P * model_bytes / 1e9)
            print(f"| {name} | {P} | {math.ceil(10 * spe / K):,} | {sent / 1e6:,.1f} MB | "
                  f"{rnd:.2f} s | {P * K * st / rnd:.1f}x |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
