"""Concurrency: inputs changed by another thread during a native call, two threads using one
model, and fork() while other threads are inside msopt.

Every case runs in a subprocess with a timeout, so a crash (exit 139) or a hang fails the
test instead of killing pytest.  A case passes when the process finishes: a call that sees
an input mid-change may return wrong numbers or raise the error a bad input gets
(IndexError, ValueError), but it must not crash, hang or read out of bounds.  The default
run spends a fraction of a second on each case; ``-m slow`` runs the same cases for longer.
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

import msopt

FAST, LONG = 0.25, 4.0  # seconds each case hammers its call

# Shared by every script: `race` flips one element of an input between values (at least
# one of them invalid) in a second thread while the main thread repeats the call.
PRELUDE = """
import os, sys, threading, time
import numpy as np
import msopt
from msopt import _core
SECONDS = float(os.environ["MSOPT_RACE_SECONDS"])
sys.setswitchinterval(1e-5)

def race(name, arr, idx, values, call, errors=(IndexError, ValueError)):
    print("case", name, flush=True)
    stop = threading.Event()
    def flip():
        while not stop.is_set():
            for v in values:
                arr[idx] = v
    t = threading.Thread(target=flip, daemon=True)
    t.start()
    n, end = 0, time.perf_counter() + SECONDS
    try:
        while n < 3 or time.perf_counter() < end:
            try:
                call()
            except errors:
                pass
            n += 1
    finally:
        stop.set()
        t.join()

def together(name, *fns):
    # Runs each fn in its own thread for SECONDS, all at once; re-raises the first error.
    print("case", name, flush=True)
    errors = []
    end = time.perf_counter() + SECONDS
    def loop(fn):
        try:
            n = 0
            while n < 2 or time.perf_counter() < end:
                fn()
                n += 1
        except BaseException as e:  # reported by the main thread
            errors.append(e)
    ts = [threading.Thread(target=loop, args=(fn,)) for fn in fns]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    if errors:
        raise errors[0]
"""


def _run(body: str, seconds: float, timeout: float) -> None:
    env = dict(os.environ, MSOPT_RACE_SECONDS=str(seconds), MSOPT_NUM_THREADS="2")
    root = str(Path(msopt.__file__).resolve().parent.parent)  # the msopt under test
    env["PYTHONPATH"] = os.pathsep.join([root, env.get("PYTHONPATH", "")])
    code = PRELUDE + textwrap.dedent(body) + "\nprint('OK', flush=True)\n"
    try:
        r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                           timeout=timeout, env=env)
    except subprocess.TimeoutExpired as e:
        out = e.stdout.decode() if isinstance(e.stdout, bytes) else (e.stdout or "")
        pytest.fail(f"hung (killed after {timeout} s); last output:\n{out[-2000:]}")
    report = (f"exit code {r.returncode}\nstdout (last case started is the culprit):\n"
              f"{r.stdout[-2000:]}\nstderr:\n{r.stderr[-3000:]}")
    assert r.returncode == 0, report
    assert r.stdout.rstrip().endswith("OK"), report


SPEEDS = [pytest.param(FAST, id="fast"), pytest.param(LONG, id="long", marks=pytest.mark.slow)]


def _timeout(seconds: float, cases: int) -> float:
    return 90 + 3 * seconds * cases


# -- inputs mutated by another thread during each native call -------------------------------
MUTATED_EMBEDDING = """
rng = np.random.default_rng(0)
bag = msopt.EmbeddingBag(50, 32, mode="sum", optimizer="adam", seed=0)
ids = rng.integers(0, 50, 100_000)
offsets = np.arange(0, 100_000, 50, dtype=np.int64)
psw = rng.random(100_000).astype(np.float32)
g = np.ones((len(offsets), 32), np.float32)
race("forward ids", ids, -1, (10**12, 3, -(10**12), 7), lambda: bag.forward(ids, offsets))
race("forward offsets", offsets, 1, (-(10**12), 10**12, 50),
     lambda: bag.forward(ids, offsets))
race("forward per_sample_weights", psw, 5, (np.nan, 1.0),
     lambda: bag.forward(ids, offsets, psw))
race("backward ids, merged", ids, -1, (10**12, 3),
     lambda: bag.backward(g, ids, offsets, merged=True))
race("backward ids", ids, -1, (10**12, 3), lambda: bag.backward(g, ids, offsets, merged=False))
race("backward offsets", offsets, 1, (-(10**12), 50), lambda: bag.backward(g, ids, offsets))
race("step ids", ids, -1, (10**12, 3), lambda: bag.step(g, ids, offsets))
w = bag.weight
race("_core forward ids", ids, 0, (10**12, 1),
     lambda: _core.embedding_bag_forward(w, ids, offsets, None, 1))
race("_core backward_merged ids", ids, 0, (10**12, 1),
     lambda: _core.embedding_bag_backward_merged(g, ids, offsets, psw, 0, 50))
"""

MUTATED_LINEAR = """
rng = np.random.default_rng(0)
n, d = 20_000, 8
X = rng.standard_normal((n, d))
labels = rng.integers(0, 3, n)
y = rng.standard_normal(n)
sw = rng.random(n)
m = msopt.LinearModel(d, 3, "softmax", lr=1e-3)
race("run labels", labels, -1, (10**12, 1, -(10**12), 2),
     lambda: m.run(X, labels, epochs=1, batch_size=n, shuffle=False))
race("run labels, shuffled", labels, n // 2, (10**12, 1),
     lambda: m.run(X, labels, epochs=1, batch_size=512))
race("loss_and_grad labels", labels, -1, (10**12, 1), lambda: m.loss_and_grad(X, labels))
r = msopt.LinearModel(d, 1, "squared", lr=1e-3)
race("run sample_weight", sw, 3, (np.nan, np.inf, 0.5),
     lambda: r.run(X, y, sw, epochs=1, batch_size=n, shuffle=False),
     errors=(msopt.DivergenceError,))
# CSR X through _core: indices and indptr are what an attacker edits.
indptr = np.arange(0, 2 * n + 1, 2, dtype=np.int64)
indices = rng.integers(0, d, 2 * n)
vals = rng.standard_normal(2 * n)
W, b = np.zeros((d, 3)), np.zeros(3)
race("forward csr indices", indices, -1, (10**12, 1, -(10**12), 0),
     lambda: _core.linear_forward(vals, indptr, indices, W, b))
race("forward csr indptr", indptr, 1, (10**12, -(10**12), 2),
     lambda: _core.linear_forward(vals, indptr, indices, W, b))
race("loss_grad csr labels", labels, -1, (10**12, 1),
     lambda: _core.linear_loss_grad(vals, indptr, indices, None, labels, None, W, b,
                                    _core.Loss.SOFTMAX, 1.35))
"""

MUTATED_OPTIM_LOSSES = """
rng = np.random.default_rng(0)
table = rng.standard_normal((100, 16)).astype(np.float32)
opt = msopt.Adam([table], lr=1e-3)
ids = rng.integers(0, 100, 50_000)
vals = rng.standard_normal((50_000, 16)).astype(np.float32)
race("RowGrad indices", ids, -1, (10**12, 5), lambda: opt.step([msopt.RowGrad(ids, vals)]))
scores = rng.standard_normal((50_000, 10))
tgt = rng.integers(0, 10, 50_000)
race("loss_grad softmax targets", tgt, -1, (10**12, 2, -5),
     lambda: _core.loss_grad("softmax", scores, tgt))
race("loss_grad hinge targets", tgt, 7, (10**12, 2), lambda: _core.loss_grad("hinge", scores, tgt))
st = rng.integers(0, 1000, scores.shape)
lq = np.zeros_like(scores)
race("loss_grad sampled targets", st, (0, 0), (10**12, 4),
     lambda: _core.loss_grad("sampled_softmax", scores, st, log_q=lq,
                             remove_accidental_hits=True))
w = rng.random(5000)
race("sample_classes weights", w, 0, (np.nan, -1.0, 1e308, 0.5),
     lambda: _core.sample_classes(w, 20_000, 1, 3))
"""

MUTATED_MODELS = """
rng = np.random.default_rng(0)
V, dim = 200, 16
ids = rng.integers(0, V, 40_000)
offsets = np.arange(0, 40_000, 20, dtype=np.int64)
counts = rng.integers(1, 100, V)
syn0 = (rng.random((V, dim), dtype=np.float32) - 0.5) / dim
syn1 = np.zeros((V, dim), np.float32)
def w2v():
    _core.word2vec_train(ids, offsets, counts, syn0, syn1, 3, 3, 1e-3, 0.025, 1e-4, 1, 1, 2)
race("word2vec ids", ids, -1, (10**12, 5, -(10**12)), w2v)
race("word2vec offsets", offsets, 1, (-(10**12), 10**12, 20), w2v)
race("word2vec counts", counts, 3, (0, -(10**12), 10**12, 7), w2v)
C = 5
labels = rng.integers(0, C, len(offsets)).astype(np.int32)
inp = (rng.random((V, dim), dtype=np.float32) - 0.5) / dim
out = np.zeros((C, dim), np.float32)
cw = np.ones(C)
def ftx(loss="softmax"):
    _core.fasttext_train(ids, offsets, labels, inp, out, loss, cw, 2, 0.1, 1, 0, 2)
race("fasttext ids", ids, -1, (10**12, 5), ftx)
race("fasttext labels", labels, -1, (2**31 - 1, 1, -7), ftx)
race("fasttext class_weights", cw, 0, (np.nan, -1.0, 1.0), lambda: ftx("ns"))
race("fasttext predict ids", ids, -1, (10**12, 5),
     lambda: _core.fasttext_predict_proba(ids, offsets, inp, out, "softmax"))
# A list of lines edited while a Vocab counts and encodes it.
lines = ["the quick brown fox", "jumps over the lazy dog"] * 2000
def edit_lines():
    lines.append("a new line of words")
    lines.pop()
voc = _core.Vocab()
race("Vocab.count lines", lines, 0, ("x y z", "the quick brown fox"), lambda: voc.count(lines))
voc.finalize(1, 0)
race("Vocab.encode lines", lines, 0, ("x y z", "jumps"), lambda: voc.encode(lines, 2, 100))
"""


@pytest.mark.parametrize("seconds", SPEEDS)
@pytest.mark.parametrize("body", [MUTATED_EMBEDDING, MUTATED_LINEAR, MUTATED_OPTIM_LOSSES,
                                  MUTATED_MODELS], ids=["embedding", "linear", "optim-losses",
                                                        "word2vec-fasttext-text"])
def test_inputs_mutated_during_native_calls(body, seconds):
    _run(body, seconds, _timeout(seconds, 12))


# -- two threads using one model -----------------------------------------------------------
# What is promised: no crash, no hang, and finite numbers; not which thread's update lands
# first (updates of shared weights race as Hogwild's do).
TWO_THREADS = """
rng = np.random.default_rng(0)
n, d = 4000, 16
X = rng.standard_normal((n, d))
y = X @ rng.standard_normal(d)
m = msopt.LinearModel(d, 1, "squared", optimizer="adam", lr=1e-3)
run = lambda: m.run(X, y, epochs=1, batch_size=256)
together("one LinearModel, two runs", run, run, lambda: m.forward(X))
assert np.isfinite(m.W).all()

bag = msopt.EmbeddingBag(1000, 16, mode="mean", optimizer="adagrad", lr=0.1, seed=0)
ids = rng.integers(0, 1000, 20_000)
offsets = np.arange(0, 20_000, 10, dtype=np.int64)
g = np.ones((2000, 16), np.float32)
def fwd_step():
    bag.forward(ids, offsets)
    bag.step(g, ids, offsets)
together("one EmbeddingBag, two steppers", fwd_step, fwd_step)
assert np.isfinite(bag.weight).all()

params = [rng.standard_normal(200_000).astype(np.float32)]
opt = msopt.Adam(params, lr=1e-4)
grad = [rng.standard_normal(200_000).astype(np.float32)]
together("one optimizer, two steppers", lambda: opt.step(grad), lambda: opt.step(grad))
assert np.isfinite(params[0]).all()

# Counting new words grows the hash maps: two counts at once must take turns.
import itertools
blocks = [[" ".join(f"x{k}_{j}" for j in range(10)) for k in range(b * 400, (b + 1) * 400)]
          for b in range(60)]
nxt, counted = itertools.count(), []
def count_block():
    voc.count(blocks[next(nxt) % len(blocks)])
    counted.append(1)
voc = _core.Vocab()
together("one Vocab, two counters", count_block, count_block,
         lambda: (len(voc), voc.id("x1_1"), voc.total_tokens))
assert voc.total_tokens == 4000 * len(counted), (voc.total_tokens, len(counted))
voc.finalize(1, 0)
lines = blocks[0]
words, counts = voc.words, list(voc.counts)
together("one Vocab, encoders, readers and assign", lambda: voc.encode(lines, 2, 1000),
         lambda: voc.encode(lines, 1, 0), lambda: (voc.words, voc.counts, voc.id("x3_3")),
         lambda: voc.assign(words, counts, 100))
assert voc.words == words

words = [f"w{i}" for i in range(300)]
lines = [" ".join(rng.choice(words, 12)) for _ in range(3000)]

sentences = [line.split() for line in lines[:1500]]
w2v = msopt.Word2Vec(sentences, dim=16, min_count=1, epochs=1, threads=1, seed=0)
together("one Word2Vec, two trainers", lambda: w2v.train(sentences),
         lambda: w2v.train(sentences), lambda: w2v.wv.most_similar("w1"))
assert np.isfinite(w2v.wv.vectors).all()

clf = msopt.TextClassifier(dim=8, buckets=1000, epochs=1, threads=1)
labels = ["a", "b", "c"] * 500
clf.partial_fit(lines[:1500], labels, classes=["a", "b", "c"])
together("one TextClassifier, fit and predict", lambda: clf.partial_fit(lines[:1500], labels),
         lambda: clf.predict(lines[:500]), lambda: clf.predict_proba(lines[:500]))
"""


@pytest.mark.parametrize("seconds", SPEEDS)
def test_two_threads_use_one_model(seconds):
    _run(TWO_THREADS, seconds, _timeout(seconds, 8))


# -- fork while other threads are inside msopt ---------------------------------------------
# A thread keeps calling msopt (BLAS, the thread pool, the word2vec walkers) while the main
# thread forks; each child runs a small msopt call of the same kind and exits.  Nothing may
# hang: not the parent's thread (OpenBLAS stops its workers in its own fork handler), not
# the fork, not the child.
FORK = """
msopt.set_num_threads(2)
rng = np.random.default_rng(0)
X = rng.standard_normal((2048, 128))
Y = rng.standard_normal((2048, 32))
def blas_run():  # dense products wide enough for BLAS, on 2 threads
    m = msopt.LinearModel(128, 32, "squared", optimizer="sgd", lr=1e-4)
    m.run(X, Y, epochs=1, batch_size=1024)
big = [rng.standard_normal(400_000).astype(np.float32)]
opt = msopt.Adam(big, lr=1e-4)
def pool_step():
    opt.step([big[0]])
words = [f"w{i}" for i in range(100)]
sentences = [list(rng.choice(words, 10)) for _ in range(2000)]
w2v = msopt.Word2Vec(sentences, dim=16, min_count=1, epochs=1, threads=2, seed=0)
def w2v_train():
    w2v.train(sentences)

import faulthandler
def forks_while(name, busy, child_call):
    print("case", name, flush=True)
    # Once first in this thread: a fork while another thread is inside an import leaves the
    # child waiting forever for that module's import lock (a hazard of Python itself).
    busy()
    stop = threading.Event()
    errors = []
    def loop():
        try:
            while not stop.is_set():
                busy()
        except BaseException as e:
            errors.append(e)
    t = threading.Thread(target=loop)
    t.start()
    end, forks = time.perf_counter() + SECONDS, 0
    try:
        while forks < 4 or time.perf_counter() < end:
            pid = os.fork()
            if pid == 0:
                faulthandler.dump_traceback_later(60, exit=True)  # a hung child reports
                try:
                    child_call()
                    code = 0
                except BaseException:
                    code = 3
                os._exit(code)
            _, status = os.waitpid(pid, 0)
            assert os.waitstatus_to_exitcode(status) == 0, status
            forks += 1
    finally:
        stop.set()
        t.join()
    if errors:
        raise errors[0]

forks_while("fork during BLAS", blas_run, blas_run)
forks_while("fork during pool steps", pool_step, pool_step)
forks_while("fork during word2vec", w2v_train, w2v_train)
"""


@pytest.mark.parametrize("seconds", SPEEDS)
def test_fork_while_threads_are_inside_msopt(seconds):
    _run(FORK, seconds, _timeout(seconds, 3))
