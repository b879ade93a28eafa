"""The loss kernels (csrc/msopt/losses, _core.loss_grad) against their NumPy twins
(msopt.reference.losses), by finite differences, on every ISA path; and the one sampler."""

from __future__ import annotations

import numpy as np
import pytest

from msopt import _core
from msopt.reference import losses as reference_losses

DENSE = ["squared", "huber", "logistic", "softmax", "hinge"]
DTYPES = [np.float32, np.float64]
SIZES = [0, 1, 17]  # rows; columns below: 1, 3 and 17 (odd tails)


def _inputs(kind, B, C, dtype, rng):
    """Fresh random scores and targets (and kwargs) for one kind, away from the kinks
    (huber |r| = eps, hinge margin = 1) so that finite differences hold."""
    z = rng.normal(0.0, 2.0, (B, C)).astype(dtype)
    kw = {}
    if kind in ("squared", "huber"):
        y = rng.normal(0.0, 2.0, (B, C)).astype(dtype)
        if kind == "huber":
            kw["huber_eps"] = 1.0
            r = z.astype(np.float64) - y
            near = np.abs(np.abs(r) - 1.0) < 0.05
            z = np.where(near, z + np.sign(r).astype(dtype) * dtype(0.2), z).astype(dtype)
        return z, y, kw
    if kind == "logistic":
        return z, rng.integers(0, 2, B).astype(np.int64), kw
    if kind in ("softmax", "hinge"):
        y = rng.integers(0, 2 if (kind == "hinge" and C == 1) else C, B).astype(np.int64)
        if kind == "hinge":
            s = np.where(np.arange(C)[None, :] == y[:, None], 1.0, -1.0) if C > 1 else \
                np.where(y == 1, 1.0, -1.0)[:, None]
            near = np.abs(s * z - 1.0) < 0.05
            z = np.where(near, z + dtype(0.2) * s.astype(dtype), z).astype(dtype)
        return z, y, kw
    if kind == "ns":
        return z.astype(np.float32), None, kw
    if kind == "sampled_softmax":
        ids = rng.integers(0, 5, (B, C)).astype(np.int64)  # few classes: accidental hits
        kw["log_q"] = np.log(rng.uniform(0.01, 3.0, (B, C))).astype(dtype)
        return z, ids, kw
    raise AssertionError(kind)


def _cases():
    for kind in DENSE + ["ns", "sampled_softmax"]:
        for dtype in ([np.float32] if kind == "ns" else DTYPES):
            for C in ([1] if kind == "logistic" else [1, 3, 17]):
                yield kind, dtype, C


CASES = list(_cases())
IDS = [f"{k}-{np.dtype(d).name}-C{c}" for k, d, c in CASES]


@pytest.mark.parametrize(("kind", "dtype", "C"), CASES, ids=IDS)
@pytest.mark.parametrize("B", SIZES)
def test_kernel_matches_reference(kind, dtype, C, B):
    rng = np.random.default_rng([B, C, len(kind)])
    z, t, kw = _inputs(kind, B, C, dtype, rng)
    extra = [{}]
    if kind == "sampled_softmax":
        extra = [{"remove_accidental_hits": False}, {"remove_accidental_hits": True}]
    if kind == "ns":
        extra = [{}, {"table_sigmoid": True}]
    for more in extra:
        loss, g = _core.loss_grad(kind, z, t, **kw, **more)
        want_loss, want_g = reference_losses.loss_grad(kind, z, t, **kw, **more)
        assert g.dtype == z.dtype
        assert g.shape == z.shape
        tol = 2e-6 if dtype == np.float32 else 1e-12
        np.testing.assert_allclose(loss, want_loss, rtol=tol, atol=tol)
        np.testing.assert_allclose(g, want_g, rtol=4 * tol, atol=4 * tol)
        np.testing.assert_array_equal(z, _inputs(kind, B, C, dtype,
                                                 np.random.default_rng([B, C, len(kind)]))[0])


@pytest.mark.parametrize(("kind", "dtype", "C"),
                         [c for c in CASES if c[1] == np.float64 or c[0] == "ns"],
                         ids=[i for c, i in zip(CASES, IDS) if c[1] == np.float64 or c[0] == "ns"])
def test_gradient_matches_finite_differences(kind, dtype, C):
    rng = np.random.default_rng([7, C, len(kind)])
    z, t, kw = _inputs(kind, 3, C, dtype, rng)
    if kind == "sampled_softmax":
        kw["remove_accidental_hits"] = True
    _, g = _core.loss_grad(kind, z, t, **kw)
    h = 1e-6 if dtype == np.float64 else 1e-2
    fd = np.zeros(z.shape)
    for idx in np.ndindex(*z.shape):
        zp, zm = z.copy(), z.copy()
        zp[idx] += h
        zm[idx] -= h
        step = float(zp[idx]) - float(zm[idx])  # the step float32 could represent
        fd[idx] = (_core.loss_grad(kind, zp, t, **kw)[0] -
                   _core.loss_grad(kind, zm, t, **kw)[0]) / step
    tol = 1e-6 if dtype == np.float64 else 2e-3
    np.testing.assert_allclose(g, fd, rtol=tol, atol=tol)


def test_ns_table_sigmoid_saturates():
    z = np.array([[7.0, -7.0, 0.5, np.float32(5.999999)]], np.float32)
    _, g = _core.loss_grad("ns", z, table_sigmoid=True)
    assert g[0, 0] == 0.0  # sigmoid(7) = 1 for the positive
    assert g[0, 1] == 0.0  # and 0 for the negative at -7
    _, want = reference_losses.loss_grad("ns", z, table_sigmoid=True)
    np.testing.assert_array_equal(g, want)


def test_sampled_softmax_log_q_shifts_logits_and_hits_leave_the_softmax():
    z = np.array([[1.0, 2.0, 0.5]])
    ids = np.array([[4, 4, 1]], np.int64)  # column 1 is an accidental hit
    log_q = np.log(np.array([[1.0, 2.0, 0.5]]))
    loss, g = _core.loss_grad("sampled_softmax", z, ids, log_q=log_q,
                              remove_accidental_hits=True)
    l0, l2 = 1.0 - 0.0, 0.5 - np.log(0.5)
    assert loss == pytest.approx(np.logaddexp(l0, l2) - l0, rel=1e-14)
    assert g[0, 1] == 0.0
    assert g.sum() == pytest.approx(0.0, abs=1e-15)


def test_loss_grad_validates():
    z = np.zeros((2, 3))
    with pytest.raises(ValueError, match="kind: expected"):
        _core.loss_grad("nope", z, np.zeros(2, np.int64))
    with pytest.raises(IndexError):
        _core.loss_grad("softmax", z, np.array([0, 3], np.int64))
    with pytest.raises(TypeError, match="targets"):
        _core.loss_grad("squared", z, np.zeros((2, 3), np.float32))
    with pytest.raises(TypeError, match="float32"):
        _core.loss_grad("ns", z)
    with pytest.raises(TypeError, match="log_q"):
        _core.loss_grad("sampled_softmax", z, np.zeros((2, 3), np.int64))


# -- the sampler ------------------------------------------------------------------------
def _chi2_ok(draws, p, n):
    """Pearson's chi-square of the draws against p, within a generous bound: mean k - 1,
    sd sqrt(2 (k - 1)); 6 sd leaves a false failure next to impossible at a fixed seed."""
    k = int((p > 0).sum())
    counts = np.bincount(draws, minlength=len(p))
    assert counts[p == 0].sum() == 0
    e = n * p[p > 0]
    chi2 = (((counts[p > 0] - e) ** 2) / e).sum()
    assert chi2 < (k - 1) + 6 * np.sqrt(2 * (k - 1)), chi2


@pytest.mark.parametrize("seed", [0, 1])
def test_sampler_draws_follow_the_distribution(seed):
    rng = np.random.default_rng(seed)
    w = rng.pareto(1.0, 50) ** 2
    w[[3, 10]] = 0.0  # never drawn
    n = 200_000
    draws = _core.sample_classes(w, n, seed=seed)
    _chi2_ok(draws, w / w.sum(), n)


def test_sampler_with_an_excluded_class():
    w = np.array([1.0, 2.0, 3.0, 0.0, 4.0])
    n = 100_000
    draws = _core.sample_classes(w, n, seed=3, exclude=2)
    assert (draws != 2).all()
    p = w.copy()
    p[2] = 0.0
    _chi2_ok(draws, p / p.sum(), n)


def test_sampler_excluding_a_dominant_class_stays_exact():
    """The excluded class holds 99.99% of the weight: most draws go through the bounded
    redraw's fallback, and the others still come in proportion."""
    w = np.array([1e4, 1.0, 3.0, 0.0])
    n = 20_000
    draws = _core.sample_classes(w * 1e2, n, seed=5, exclude=0)
    p = np.array([0.0, 1.0, 3.0, 0.0]) / 4
    _chi2_ok(draws, p, n)


def test_sampler_with_only_the_excluded_class_weighted_gives_none():
    draws = _core.sample_classes(np.array([0.0, 2.0, 0.0]), 5, seed=1, exclude=1)
    np.testing.assert_array_equal(draws, -1)


def test_sampler_validates():
    with pytest.raises(ValueError, match="positive"):
        _core.sample_classes(np.zeros(3), 4)
    with pytest.raises(ValueError, match=">= 0"):
        _core.sample_classes(np.array([1.0, -1.0]), 4)
    with pytest.raises(IndexError):
        _core.sample_classes(np.ones(3), 4, exclude=3)


def test_sampled_softmax_with_the_sampler_approaches_the_full_softmax_gradient():
    """Classes drawn by the alias sampler from q, logits corrected by log(S q): summed per
    class, the sampled softmax's gradient tends to the full softmax's, softmax(z) - onehot(y),
    as the number of samples S grows (the point of the log-Q correction)."""
    rng = np.random.default_rng(11)
    K, S, y = 10, 40_000, 3
    z_full = rng.normal(0.0, 1.0, K)
    q = rng.uniform(0.2, 1.0, K)
    q /= q.sum()
    sampled = _core.sample_classes(q, S, seed=2)
    ids = np.concatenate([[y], sampled])[None, :].astype(np.int64)
    scores = z_full[ids]
    log_q = np.log(S * q[ids])  # the expected count of each class in S draws
    _, g = _core.loss_grad("sampled_softmax", scores, ids, log_q=log_q)
    per_class = np.zeros(K)
    np.add.at(per_class, ids[0], g[0])
    p = np.exp(z_full - z_full.max())
    p /= p.sum()
    want = p - np.eye(K)[y]
    np.testing.assert_allclose(per_class, want, atol=0.02)
