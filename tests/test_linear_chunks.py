"""The linear runner in chunks: ``LinearModel.run`` returns to Python every few batches (a
chunk can end inside an epoch), and the chunks repeat one whole native call bit for bit:
the order, the schedule and each epoch's loss sum go on where they stopped.  Ctrl-C
between chunks leaves the last finished chunk."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp

import msopt
from msopt import _core


def _calls(monkeypatch: pytest.MonkeyPatch, fail_at: int | None = None) -> list[int]:
    """Count linear_run's calls; raise KeyboardInterrupt before call `fail_at` (from 1)."""
    calls: list[int] = []
    real = _core.linear_run

    def counted(*args, **kw):
        calls.append(1)
        if fail_at is not None and len(calls) == fail_at:
            raise KeyboardInterrupt
        return real(*args, **kw)

    monkeypatch.setattr(_core, "linear_run", counted)
    return calls


def _data(n: int, dtype, sparse: bool, rng: np.random.Generator):
    X = rng.standard_normal((n, 5)).astype(dtype)
    if sparse:
        X[rng.random(X.shape) < 0.5] = 0
        X = sp.csr_matrix(X)
    return X, rng.integers(0, 3, n)


def _run(chunk: int | None, X, y, dtype, shuffle: bool, epochs: int):
    m = msopt.LinearModel(5, 3, "softmax", optimizer="adam", lr=0.05, dtype=dtype,
                          l2=1e-3)
    m._chunk_batches = chunk
    losses = m.run(X, y, epochs=epochs, batch_size=8, shuffle=shuffle, seed=7,
                   schedule="linear", min_factor=0.1)
    state = m.optimizer.native_state()
    return m, losses, [a.copy() for a in state.states if a is not None], state.steps.copy()


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("sparse", [False, True])
@pytest.mark.parametrize("shuffle", [True, False])
@pytest.mark.parametrize("n", [1, 17, 103])
def test_chunks_repeat_one_call(monkeypatch, dtype, sparse, shuffle, n):
    X, y = _data(n, dtype, sparse, np.random.default_rng(n))
    whole = _run(1 << 40, X, y, dtype, shuffle, 4)
    calls = _calls(monkeypatch)
    cut = _run(3, X, y, dtype, shuffle, 4)
    batches = 4 * -(-n // 8)
    assert len(calls) == -(-batches // 3)
    np.testing.assert_array_equal(cut[0].W, whole[0].W)
    np.testing.assert_array_equal(cut[0].b, whole[0].b)
    np.testing.assert_array_equal(cut[1], whole[1])  # each epoch's loss, the same sums
    assert len(cut[1]) == 4
    for a, b in zip(cut[2], whole[2]):
        np.testing.assert_array_equal(a, b)
    np.testing.assert_array_equal(cut[3], whole[3])


def test_ctrl_c_keeps_the_finished_chunks(monkeypatch):
    X, y = _data(103, np.float64, False, np.random.default_rng(0))
    _calls(monkeypatch, fail_at=3)
    m = msopt.LinearModel(5, 3, "softmax", optimizer="sgd", lr=0.1, dtype=np.float64)
    m._chunk_batches = 4
    W0 = m.W.copy()
    with pytest.raises(KeyboardInterrupt):
        m.run(X, y, epochs=2, batch_size=8)
    assert int(m.optimizer.native_state().steps[0]) == 8  # two chunks of 4 batches
    assert np.isfinite(m.W).all()
    assert not np.array_equal(m.W, W0)
    monkeypatch.undo()
    assert np.isfinite(m.forward(X)).all()  # usable, and it trains on
    m.run(X, y, epochs=1, batch_size=8)


def test_a_chunks_start_is_checked():
    X = np.ones((10, 2))
    m = msopt.LinearModel(2, 1, "squared", dtype=np.float64)
    state = m.optimizer.native_state()
    W0 = m.W.copy()
    for first, carry, match in ((2, 0.0, "past the epoch's last batch"),
                                (-1, 0.0, "first_batch"), (0, float("nan"), "carry")):
        options = _core.LinearRunOptions(batch_size=5)
        options.first_batch, options.carry = first, carry
        with pytest.raises(ValueError, match=match):
            _core.linear_run(X, None, None, np.ones((10, 1)), None, None, m.W, m.b, state,
                             options)
    np.testing.assert_array_equal(m.W, W0)
