"""Threads, fork safety, determinism, and the package surface."""

from __future__ import annotations

import doctest
import multiprocessing as mp
import re
import threading
from pathlib import Path

import numpy as np
import pytest

import msopt


@pytest.fixture
def restore_threads():
    n = msopt.get_num_threads()
    yield
    msopt.set_num_threads(n)


def _trajectory(seed, threads, clip):
    msopt.set_num_threads(threads)
    rng = np.random.default_rng(seed)
    params = [rng.standard_normal(n).astype(np.float32) for n in (300_001, 17, 70_000)]
    table = rng.standard_normal((20_000, 16)).astype(np.float32)
    opt = msopt.Adam(params + [table], lr=1e-2, max_grad_norm=clip)
    for _ in range(5):
        grads = [rng.standard_normal(p.shape).astype(np.float32) for p in params]
        ids = rng.integers(0, 20_000, 8192)
        grads.append(msopt.RowGrad(ids, rng.standard_normal((8192, 16)).astype(np.float32)))
        opt.step(grads)
    return params + [table]


@pytest.mark.parametrize("clip", [None, 10.0])
def test_bit_identical_across_runs_and_thread_counts(restore_threads, clip):
    runs = [_trajectory(7, t, clip) for t in (1, 2, 2, 3)]
    for other in runs[1:]:
        for a, b in zip(runs[0], other):
            np.testing.assert_array_equal(a, b)


def test_set_num_threads_validation(restore_threads):
    msopt.set_num_threads(1)
    assert msopt.get_num_threads() == 1
    with pytest.raises(ValueError, match=r"n: must be in \[1, 1024\]"):
        msopt.set_num_threads(0)
    with pytest.raises(TypeError, match="n: expected an int"):
        msopt.set_num_threads(1.5)


def test_an_exception_on_a_pool_thread_reaches_the_caller(restore_threads):
    """parallel_for keeps the first exception of any thread and throws it on the calling
    thread once every thread has finished (on a worker it would end the process; on the
    calling thread it would leave while the workers still ran); the pool then runs the
    next job as usual."""
    from msopt import _core

    def on_the_pool():  # four tids on four OS threads: the pool ran them, not one thread
        ran = _core.parallel_for_test(4)
        return 0 not in ran and len(set(ran)) == 4

    msopt.set_num_threads(4)  # a pool of 4, whatever the cores
    assert on_the_pool()
    for t in (0, 1, 3, 0):
        with pytest.raises(RuntimeError, match=f"^parallel_for_test: thread {t} raised$"):
            _core.parallel_for_test(4, t)
        assert on_the_pool()
    with pytest.raises(ValueError, match="^nt: must be in"):
        _core.parallel_for_test(0)


def _child_step(q):
    w = np.zeros(200_000, np.float32)
    opt = msopt.Adam([w], lr=0.1)
    opt.step([np.ones_like(w)])
    q.put(float(w[0]))


def test_forked_child_can_step(restore_threads):
    msopt.set_num_threads(2)
    w = np.zeros(200_000, np.float32)
    msopt.Adam([w], lr=0.1).step([np.ones_like(w)])  # the parent's pool is running
    ctx = mp.get_context("fork")
    q = ctx.Queue()
    proc = ctx.Process(target=_child_step, args=(q,))
    proc.start()
    proc.join(60)
    assert proc.exitcode == 0
    assert q.get(timeout=5) == pytest.approx(-0.1)


def test_two_python_threads_step_at_once(restore_threads):
    msopt.set_num_threads(2)
    rng = np.random.default_rng(3)
    inits = [rng.standard_normal(150_000).astype(np.float32) for _ in range(2)]
    grads = [rng.standard_normal(150_000).astype(np.float32) for _ in range(2)]

    def serial(k):
        w = inits[k].copy()
        opt = msopt.Adam([w], lr=1e-3)
        for _ in range(30):
            opt.step([grads[k]])
        return w

    want = [serial(0), serial(1)]
    got: list[np.ndarray | None] = [None, None]

    def run(k):
        got[k] = serial(k)

    threads = [threading.Thread(target=run, args=(k,)) for k in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for k in range(2):
        np.testing.assert_array_equal(got[k], want[k])


def test_stub_names_match_core():
    stub = Path(msopt.__file__).with_name("_core.pyi").read_text()
    named = (set(re.findall(r"^def (\w+)", stub, re.M)) | set(re.findall(r"^(\w+):", stub, re.M))
             | set(re.findall(r"^class (\w+)", stub, re.M)))
    actual = {n for n in dir(msopt._core) if not n.startswith("__")}
    assert named == actual


def test_blas_names_its_kernels():
    from msopt.__main__ import machine_line

    kernels = msopt._core.blas_kernels()
    assert kernels
    assert kernels in msopt._core.blas_config()
    assert msopt._core.blas_config().startswith("OpenBLAS")
    assert f"BLAS: OpenBLAS {kernels}" in machine_line()


def test_public_api():
    for name in msopt.__all__:
        assert hasattr(msopt, name), name
    assert (Path(msopt.__file__).parent / "py.typed").exists()


@pytest.mark.parametrize("module", ["msopt", "msopt.optim.optimizers", "msopt.lr_scheduler",
                                    "msopt.reference", "msopt.reference.kneser_ney",
                                    "msopt.linear_model.layer",
                                    "msopt.linear_model.estimators", "msopt.nn.embedding",
                                    "msopt.text.vocabulary", "msopt.models.word2vec",
                                    "msopt.models.text_classifier", "msopt.exceptions"])
def test_docstring_examples_run(module):
    import importlib

    result = doctest.testmod(importlib.import_module(module))
    assert result.failed == 0
    assert result.attempted > 0


def test_dir_lists_the_lazy_names_and_each_resolves():
    import subprocess
    import sys

    # In a fresh interpreter, before any lazy name is touched: tab completion sees them all.
    code = ("import msopt, sys; names = dir(msopt); "
            "assert {'LinearModel', 'LogisticRegression', 'Word2Vec', 'TextClassifier', "
            "'EmbeddingBag', 'Vocabulary', 'NotFittedError', 'lr_scheduler'} <= set(names), names; "
            "assert 'msopt.models' not in sys.modules; "
            "assert set(msopt.__all__) <= set(names); "
            "[getattr(msopt, n) for n in names]")
    subprocess.run([sys.executable, "-c", code], check=True)
    assert not [n for n in dir(msopt) if n in ("sys", "importlib", "annotations", "Any")]
