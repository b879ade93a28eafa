"""The linear layer's native loops against the NumPy reference: losses, gradients, the
multi-step runner (with shuffling, penalties, clipping, schedules), dense and CSR."""

from __future__ import annotations

import numpy as np
import pytest

import msopt
from msopt import _core, reference

sp = pytest.importorskip("scipy.sparse", reason="scipy builds the CSR test inputs")

LOSSES = ["squared", "huber", "logistic", "softmax", "hinge"]
TOL = {np.float32: dict(rtol=2e-4, atol=2e-5), np.float64: dict(rtol=1e-9, atol=1e-11)}


def _problem(rng, loss, n, d, C, dtype, sparse=False):
    X = rng.standard_normal((n, d))
    if sparse:
        X[rng.random((n, d)) < 0.7] = 0.0
        X = sp.csr_matrix(X.astype(dtype))
    else:
        X = X.astype(dtype)
    if loss in ("squared", "huber"):
        target = (rng.standard_normal((n, C)) * 2).astype(dtype)
    else:
        target = rng.integers(0, 2 if C == 1 and loss != "softmax" else C, n).astype(np.int64)
    return X, target


def _outputs(loss, C):
    return 1 if loss == "logistic" else C


@pytest.mark.parametrize("loss", LOSSES)
@pytest.mark.parametrize("dtype", [np.float32, np.float64], ids=["f32", "f64"])
@pytest.mark.parametrize("sparse", [False, True], ids=["dense", "csr"])
@pytest.mark.parametrize(("n", "d", "C"), [(1, 1, 3), (17, 5, 4), (300, 40, 1), (64, 600, 7)])
def test_loss_and_grad_match_reference(rng, loss, dtype, sparse, n, d, C):
    C = _outputs(loss, C)
    X, target = _problem(rng, loss, n, d, C, dtype, sparse)
    sw = rng.random(n).astype(dtype) + 0.5
    m = msopt.LinearModel(d, C, loss, dtype=dtype)
    m.W[...] = rng.standard_normal(m.W.shape)
    m.b[...] = rng.standard_normal(C)
    val, dW, db = m.loss_and_grad(X, target if loss in ("squared", "huber") else target, sw)
    Z = reference.linear_forward(X, m.W.astype(np.float64), m.b.astype(np.float64))
    ref_val, G = reference.loss_grad(loss, Z, target, sw)
    np.testing.assert_allclose(val, ref_val / n, **TOL[dtype])
    absX, absG = abs(X), np.abs(G)
    _assert_close_to_sum(dW, np.asarray(X.T @ G), np.asarray(absX.T @ absG), n, dtype)
    _assert_close_to_sum(db, G.sum(0), absG.sum(0), n, dtype)
    scale = np.asarray(absX @ np.abs(m.W.astype(np.float64))) + np.abs(m.b)
    _assert_close_to_sum(m.forward(X), Z, scale, d, dtype)


def _assert_close_to_sum(actual, desired, scale, terms, dtype):
    """``actual`` is a sum of ``terms`` products computed in ``dtype``; ``scale`` is the sum
    of their magnitudes.  A result that cancels to near zero keeps the rounding error of
    its large terms, so the allowed error grows with ``scale`` (about sqrt(terms) roundings
    of it), on top of the plain relative tolerance."""
    eps = np.finfo(dtype).eps
    allowed = TOL[dtype]["rtol"] * np.abs(desired) + TOL[dtype]["atol"]
    allowed = allowed + 2 * eps * np.sqrt(max(terms, 1)) * scale
    err = np.abs(np.asarray(actual, np.float64) - desired)
    worst = np.unravel_index(np.argmax(err - allowed), err.shape) if err.size else ()
    assert (err <= allowed).all(), (
        f"at {worst}: {actual[worst]!r} vs {desired[worst]!r}, error {err[worst]:.3g} > "
        f"allowed {allowed[worst]:.3g}")


@pytest.mark.parametrize("loss", LOSSES)
def test_gradient_matches_finite_differences(rng, loss):
    C = _outputs(loss, 3)
    X, target = _problem(rng, loss, 20, 4, C, np.float64)
    m = msopt.LinearModel(4, C, loss)
    m.W[...] = rng.standard_normal(m.W.shape) * 0.3
    _, dW, _ = m.loss_and_grad(X, target)
    num = np.zeros_like(dW)
    for idx in np.ndindex(*m.W.shape):
        old = m.W[idx]
        m.W[idx] = old + 1e-6
        up = m.loss_and_grad(X, target)[0]
        m.W[idx] = old - 1e-6
        down = m.loss_and_grad(X, target)[0]
        m.W[idx] = old
        num[idx] = (up - down) / 2e-6
    np.testing.assert_allclose(dW, num, rtol=1e-5, atol=1e-7)


def test_softmax_is_stable_for_huge_scores():
    m = msopt.LinearModel(1, 3, "softmax")
    m.W[...] = [[1e4, -1e4, 0.0]]
    val, dW, _ = m.loss_and_grad(np.ones((2, 1)), np.array([0, 1]))
    assert np.isfinite(val)
    assert np.isfinite(dW).all()
    assert val == pytest.approx(1e4, rel=1e-12)


@pytest.mark.parametrize(("loss", "opt", "opts"), [
    ("squared", "sgd", {"momentum": 0.9}),
    ("huber", "adam", {}),
    ("logistic", "adagrad", {}),
    ("softmax", "adamw", {"weight_decay": 0.01}),
    ("hinge", "rmsprop", {"centered": True}),
    ("softmax", "lion", {}),
])
@pytest.mark.parametrize("dtype", [np.float32, np.float64], ids=["f32", "f64"])
@pytest.mark.parametrize("sparse", [False, True], ids=["dense", "csr"])
@pytest.mark.parametrize("shape", [(203, 7, 3), (96, 700, 200)], ids=["small", "blas"])
def test_runner_matches_reference(rng, loss, opt, opts, dtype, sparse, shape):
    n, d, C = shape
    C = _outputs(loss, C)
    X, target = _problem(rng, loss, n, d, C, dtype, sparse)
    sw = rng.random(n).astype(dtype) + 0.5
    l1 = 0.001 if opt == "sgd" else 0.0  # the L1 prox is for plain SGD steps
    # Sign-like steps: Lion moves every element by +-lr (the sign of a momentum-gradient
    # mix), Adam's first steps by about +-lr (g / (|g| + eps)).  Where that sign is within
    # rounding of zero (float32 summation orders differ between BLAS and NumPy) the two runs
    # step apart by up to 2 lr, which changes every later gradient by O(lr) and so flips
    # other near-ties: the count of differing elements grows faster than lr (AdamW: 233,
    # 13, 1 of 140000 at lr = 0.05, 0.02, 0.01; Lion: 803 at 0.05, 20 at 1e-3, for the
    # same seed).  At the rates below a tie stays local.  (Lion's usual rates are 3-10x
    # below Adam's.)
    lr = {"lion": 5e-4, "adam": 0.01, "adamw": 0.01}.get(opt, 0.05)
    m = msopt.LinearModel(d, C, loss, optimizer=opt, lr=lr, optimizer_params=opts,
                          l2=0.01, l1=l1, max_grad_norm=5.0, dtype=dtype)
    W0 = (rng.standard_normal((d, C)) * 0.1).astype(dtype)
    m.W[...] = W0
    W, b = W0.copy(), np.zeros(C, dtype)
    name = {"sgd": "SGD", "adam": "Adam", "adamw": "AdamW", "adagrad": "Adagrad",
            "rmsprop": "RMSprop", "lion": "Lion"}[opt]
    hyper = {k: v for k, v in m.optimizer.param_groups[0].items() if k != "params"}
    states = [reference.init_state(name, p, **hyper) for p in (W, b)]
    hyper_b = {**hyper, "weight_decay": 0.0}  # the intercept is never decayed
    steps = [0, 0]
    epochs, bs, seed = 3, 32, 1234
    total = epochs * -(-n // bs)
    got = m.run(X, target, sw, epochs=epochs, batch_size=bs, seed=seed,
                schedule="linear", schedule_steps=total)
    orders = [_core.epoch_permutation(seed, e, n) for e in range(epochs)]
    want = reference.linear_run(X, target, sw, W, b, loss, name, hyper, states, steps,
                                batch_size=bs, orders=orders, l2=0.01, l1=l1, hyper_b=hyper_b,
                                max_grad_norm=5.0,
                                lr_factor=lambda k: max(1 - k / total, 1e-4))
    if dtype == np.float64:
        np.testing.assert_allclose(got, want, **TOL[dtype])
        np.testing.assert_allclose(m.W, W, **TOL[dtype])
        np.testing.assert_allclose(m.b, b, **TOL[dtype])
    else:
        # float32: BLAS and NumPy sum products in different orders, and sign-driven updates
        # (Adam's first steps, Lion) turn a rounding difference on a near-zero gradient into
        # a visible one.  Nearly every element agrees tightly; none strays beyond a few lr.
        np.testing.assert_allclose(got, want, rtol=2e-3, atol=2e-4)
        for a, r in ((m.W, W), (m.b, b)):
            off = ~np.isclose(a, r, rtol=2e-3, atol=2e-4)
            assert off.sum() <= max(2, 5e-4 * off.size), f"{off.sum()} of {off.size} differ"
            assert np.max(np.abs(a - r)) <= 4 * lr
    assert list(m.optimizer.native_state().steps) == steps


def test_epoch_permutation_is_a_seeded_permutation():
    a = _core.epoch_permutation(7, 0, 1000)
    assert sorted(a.tolist()) == list(range(1000))
    np.testing.assert_array_equal(a, _core.epoch_permutation(7, 0, 1000))
    assert not np.array_equal(a, _core.epoch_permutation(7, 1, 1000))
    assert not np.array_equal(a, _core.epoch_permutation(8, 0, 1000))


def test_step_is_one_full_batch_update(rng):
    X = rng.standard_normal((50, 3))
    y = X @ [1.0, 2.0, 3.0]
    m = msopt.LinearModel(3, 1, "squared", optimizer="sgd", lr=0.1)
    W, b = m.W.copy(), m.b.copy()
    loss = m.step(X, y)
    Z = X @ W + b
    assert loss == pytest.approx(0.5 * np.mean((Z[:, 0] - y) ** 2))
    G = (Z - y[:, None]) / 50
    np.testing.assert_allclose(m.W, W - 0.1 * X.T @ G, rtol=1e-12)
    np.testing.assert_allclose(m.b, b - 0.1 * G.sum(0), rtol=1e-12)


def test_l1_reaches_exact_zeros(rng):
    X = rng.standard_normal((400, 30))
    y = X[:, :3] @ [2.0, -1.0, 0.5] + 0.01 * rng.standard_normal(400)
    m = msopt.LinearModel(30, 1, "squared", optimizer="sgd", lr=0.1, l1=0.2)
    m.run(X, y, epochs=300, batch_size=400, shuffle=False)
    assert np.count_nonzero(m.W[3:]) == 0
    assert np.all(m.W[:3] != 0)


def test_divergence_raises_and_keeps_the_last_finite_weights(rng):
    X = rng.standard_normal((64, 5)) * 1e3
    y = rng.standard_normal(64) * 1e3
    m = msopt.LinearModel(5, 1, "squared", optimizer="sgd", lr=10.0)
    with pytest.raises(msopt.DivergenceError, match="smaller learning rate"):
        m.run(X, y, epochs=50, batch_size=8)
    assert np.isfinite(m.W).all()
    assert np.isfinite(m.b).all()


@pytest.mark.parametrize(("kw", "exc", "match"), [
    (dict(indices=np.array([0, 9])), IndexError, r"indices\[1\] = 9 is out of range"),
    (dict(indices=np.array([0, -1])), IndexError, r"indices\[1\] = -1"),
    (dict(indptr=np.array([0, 2, 1, 2])), ValueError, "indptr: must be non-decreasing"),
    (dict(indptr=np.array([0, 1, 1, 3])), ValueError, "indptr: must start at 0 and end"),
])
def test_bad_csr_is_refused(kw, exc, match):
    parts = dict(data=np.array([1.0, 2.0]), indices=np.array([0, 1]),
                 indptr=np.array([0, 1, 1, 2]))
    parts.update(kw)
    m = msopt.LinearModel(3, 1, "squared")
    W0 = m.W.copy()
    with pytest.raises(exc, match=match):
        _core.linear_run(parts["data"], parts["indptr"].astype(np.int64),
                         parts["indices"].astype(np.int64), np.zeros((3, 1)), None, None, m.W,
                         m.b, m.optimizer.native_state(),
                         _core.LinearRunOptions(batch_size=2, seed=0))
    np.testing.assert_array_equal(m.W, W0)
    assert list(m.optimizer.native_state().steps) == [0, 0]


@pytest.mark.parametrize("C", [2, 10, 16])
@pytest.mark.parametrize("dtype", [np.float32, np.float64], ids=["f32", "f64"])
def test_register_tiles_and_blas_agree(rng, C, dtype):
    """Narrow dense products run in msopt's register tiles or in BLAS by size; force each
    and compare a few epochs."""
    X = rng.standard_normal((203, 37)).astype(dtype)
    y = rng.integers(0, C, 203)
    saved = _core.linear_tile_max()
    runs = []
    try:
        for tile_max in (2**62, 0):
            _core.linear_tile_max(tile_max)
            m = msopt.LinearModel(37, C, "softmax", optimizer="sgd", lr=0.1, dtype=dtype)
            losses = m.run(X, y, epochs=3, batch_size=16, seed=1)
            runs.append((losses, m.W.copy(), m.forward(X)))
    finally:
        _core.linear_tile_max(saved)
    tol = dict(rtol=1e-4, atol=1e-5) if dtype == np.float32 else dict(rtol=1e-10, atol=1e-12)
    for a, b in zip(*runs):
        np.testing.assert_allclose(a, b, **tol)


def test_no_features_or_odd_shapes_do_not_crash(rng):
    for C in (1, 3, 20):
        loss = "squared"
        m = msopt.LinearModel(0, C, loss)
        losses = m.run(np.zeros((5, 0)), np.ones((5, C)), epochs=2, batch_size=2)
        assert np.isfinite(losses).all()
        assert np.all(m.b != 0)
    m = msopt.LinearModel(3, 1, "squared")
    with pytest.raises(ValueError, match="X: no samples"):
        m.run(np.zeros((0, 3)), np.zeros(0))
    m.run(np.ones((3, 3)), np.ones(3), batch_size=1000)  # batch larger than the data


def test_non_native_state_is_refused():
    m = msopt.LinearModel(2, 1, "squared", optimizer="sgd", optimizer_params={"momentum": 0.9})
    st = m.optimizer.native_state()
    states = list(st.states)
    states[0] = states[0].astype(">f8")
    with pytest.raises(TypeError, match=r"states\[0\]: expected a 2-D C-contiguous writeable "
                                        r"float64 array, got a 2-D >f8 array of shape \(2, 1\)"):
        _core.linear_run(np.ones((2, 2)), None, None, np.ones((2, 1)), None, None, m.W, m.b,
                         st._replace(states=states), _core.LinearRunOptions(batch_size=2))


def test_intercept_is_not_decayed_by_adamw():
    X, y = np.zeros((10, 3)), np.full(10, 300.0)
    m = msopt.LinearModel(3, 1, "squared", optimizer="adamw", lr=1.0,
                          optimizer_params={"weight_decay": 0.01})
    assert [g["weight_decay"] for g in m.optimizer.param_groups] == [0.01, 0.0]
    m.run(X, y, epochs=3000, batch_size=10, shuffle=False, schedule="linear")
    assert m.b[0] == pytest.approx(300.0, rel=1e-6)  # decayed, it would sit near 1/wd = 100


def test_l1_needs_sgd():
    with pytest.raises(ValueError, match="needs optimizer='sgd'"):
        msopt.LinearModel(3, 1, "squared", optimizer="adam", l1=0.1)


def test_schedule_spans_the_call_by_default(rng):
    X = rng.standard_normal((256, 3))
    y = X @ [1.0, -2.0, 0.5]
    m = msopt.LinearModel(3, 1, "squared", optimizer="sgd", lr=0.1)
    m.run(X, y, epochs=50, batch_size=32, seed=0, schedule="linear")
    np.testing.assert_allclose(m.W[:, 0], [1.0, -2.0, 0.5], atol=1e-3)
