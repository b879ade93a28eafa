"""Every optimizer and option against the NumPy reference: bit-identical trajectories."""

from __future__ import annotations

import numpy as np
import pytest
from conftest import CASE_IDS, CASES, DTYPES, Pair, random_grads

import msopt
from msopt import reference

SIZES = [0, 1, 17, 100_003]


@pytest.mark.parametrize(("name", "opts"), CASES, ids=CASE_IDS)
@pytest.mark.parametrize("dtype", DTYPES, ids=["f32", "f64"])
@pytest.mark.parametrize("size", SIZES)
def test_dense_matches_reference(rng, name, opts, dtype, size):
    params = [rng.standard_normal(size).astype(dtype)]
    pair = Pair(name, opts, params)
    for _ in range(50):
        pair.step(random_grads(rng, params))
    pair.assert_equal()


@pytest.mark.parametrize(("name", "opts"), CASES, ids=CASE_IDS)
def test_many_arrays_mixed_dtypes_and_groups(rng, name, opts):
    shapes = [(3, 5), (17,), (0,), (1,), (40, 33), (2, 3, 4)]
    params = [rng.standard_normal(s).astype(DTYPES[i % 2]) for i, s in enumerate(shapes)]
    groups = [{"params": params[:3]}, {"params": params[3:], "lr": opts["lr"] / 2}]
    pair = Pair(name, opts, groups)
    for _ in range(20):
        grads = random_grads(rng, params)
        grads[2] = None if rng.random() < 0.5 else grads[2]
        grads[4] = None if rng.random() < 0.3 else grads[4]
        pair.step(grads)
    pair.assert_equal()


@pytest.mark.parametrize(("name", "opts"), CASES, ids=CASE_IDS)
@pytest.mark.parametrize("dtype", DTYPES, ids=["f32", "f64"])
@pytest.mark.parametrize(("rows", "dim", "k"), [(50, 17, 30), (3000, 33, 4000), (7, 1, 0)])
def test_row_sparse_matches_lazy_reference(rng, name, opts, dtype, rows, dim, k):
    table = rng.standard_normal((rows, dim)).astype(dtype)
    dense = rng.standard_normal(5).astype(dtype)
    pair = Pair(name, opts, [table, dense])
    for _ in range(10):
        ids = rng.zipf(1.3, size=k) % rows  # heavy duplicates
        g = msopt.RowGrad(ids, rng.standard_normal((k, dim)).astype(dtype))
        pair.step([g, rng.standard_normal(5).astype(dtype)])
    pair.assert_equal()


@pytest.mark.parametrize("dtype", DTYPES, ids=["f32", "f64"])
def test_row_sparse_sgd_equals_dense(rng, dtype):
    a = rng.standard_normal((200, 9)).astype(dtype)
    b = a.copy()
    opt_rows, opt_dense = msopt.SGD([a], lr=0.1), msopt.SGD([b], lr=0.1)
    for _ in range(10):
        ids = rng.integers(0, 200, size=300)
        vals = rng.standard_normal((300, 9)).astype(dtype)
        dense = np.zeros_like(b)
        np.add.at(dense, ids, vals)
        opt_rows.step([msopt.RowGrad(ids, vals)])
        opt_dense.step([dense])
    np.testing.assert_array_equal(a, b)


def test_row_sparse_leaves_untouched_rows(rng):
    table = rng.standard_normal((100, 4)).astype(np.float32)
    before = table.copy()
    opt = msopt.Adam([table], lr=0.1)
    ids = np.array([3, 7, 3])
    opt.step([msopt.RowGrad(ids, rng.standard_normal((3, 4)).astype(np.float32))])
    untouched = np.setdiff1d(np.arange(100), ids)
    np.testing.assert_array_equal(table[untouched], before[untouched])
    assert not np.any(opt.state[0]["exp_avg"][untouched])
    assert np.all(table[[3, 7]] != before[[3, 7]])


@pytest.mark.parametrize(("name", "opts"), CASES[::3], ids=CASE_IDS[::3])
@pytest.mark.parametrize("dtype", DTYPES, ids=["f32", "f64"])
def test_clipping_matches_reference(rng, name, opts, dtype):
    params = [rng.standard_normal(s).astype(dtype) for s in [(100_003,), (17,), (30, 8)]]
    pair = Pair(name, opts, params, max_grad_norm=5.0)
    for _ in range(20):
        grads = random_grads(rng, params)
        grads[2] = msopt.RowGrad(rng.integers(0, 30, 50),
                                 rng.standard_normal((50, 8)).astype(dtype))
        pair.step(grads)
        dense = [g[1] if isinstance(g, tuple) else g for g in grads]
        dense[2] = reference.coalesce_rows(*grads[2])[1]
        norm, scale = reference.clip_scale(dense, 5.0)
        assert pair.opt.last_grad_norm == norm  # same summation order, same bits
        assert scale < 1.0
    pair.assert_equal()


def test_clipping_below_threshold_is_exact(rng):
    p = rng.standard_normal(1000).astype(np.float32)
    pair = Pair("Adam", {"lr": 0.01}, [p], max_grad_norm=1e6)
    for _ in range(5):
        pair.step(random_grads(rng, [p]))
    pair.assert_equal()


@pytest.mark.parametrize("isa", msopt._core.available_isas())
@pytest.mark.parametrize(("name", "opts"), CASES, ids=CASE_IDS)
def test_every_isa_path_matches_reference(rng, isa, name, opts):
    saved = msopt._core.isa()
    msopt._core.set_isa(isa)
    try:
        assert msopt._core.isa() == isa
        params = [rng.standard_normal(n).astype(DTYPES[i % 2])
                  for i, n in enumerate([1, 17, 1031, 70_001])]
        pair = Pair(name, opts, params, max_grad_norm=30.0)
        pair.max_grad_norm = None  # compare updates exactly: keep the norm below the cap
        for _ in range(10):
            pair.step([0.01 * g for g in random_grads(rng, params)])
        pair.assert_equal()
    finally:
        msopt._core.set_isa(saved)


def test_isa_paths_agree_on_the_clip_norm(rng):
    params = [rng.standard_normal(n).astype(np.float32) for n in (5, 100_003, 4099)]
    grads = random_grads(rng, params)
    saved, norms = msopt._core.isa(), []
    try:
        for isa in msopt._core.available_isas():
            msopt._core.set_isa(isa)
            opt = msopt.SGD([p.copy() for p in params], lr=0.1, max_grad_norm=1.0)
            opt.step(grads)
            norms.append(opt.last_grad_norm)
    finally:
        msopt._core.set_isa(saved)
    assert len(set(norms)) == 1
