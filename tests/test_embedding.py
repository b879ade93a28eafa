"""EmbeddingBag: pooling and its backward against NumPy (and torch), row-sparse steps, and
bad bags."""

from __future__ import annotations

import numpy as np
import pytest
from conftest import DTYPES

import msopt
from msopt import _core, reference


def _bags(rng, rows, n_bags, max_len):
    lengths = rng.integers(0, max_len + 1, n_bags)  # some bags empty
    ids = (rng.zipf(1.3, int(lengths.sum())) - 1) % rows
    offsets = np.concatenate([[0], np.cumsum(lengths)[:-1]]).astype(np.int64)
    return ids.astype(np.int64), offsets


@pytest.mark.parametrize(("mode", "weighted"), [("sum", False), ("sum", True), ("mean", False)])
@pytest.mark.parametrize("dtype", DTYPES, ids=["f32", "f64"])
@pytest.mark.parametrize(("rows", "dim", "n_bags"), [(1, 1, 1), (50, 17, 30), (5000, 64, 700)])
def test_forward_and_backward_match_reference(rng, mode, dtype, rows, dim, n_bags, weighted):
    ids, offsets = _bags(rng, rows, n_bags, 9)
    w = rng.random(len(ids)).astype(dtype) if weighted else None
    bag = msopt.EmbeddingBag(rows, dim, mode, dtype=dtype, seed=1)
    out = bag.forward(ids, offsets, w)
    want = reference.embedding_bag_forward(bag.weight, ids, offsets, w, mode)
    tol = dict(rtol=1e-5, atol=1e-6) if dtype == np.float32 else dict(rtol=1e-12)
    np.testing.assert_allclose(out, want, **tol)
    g = rng.standard_normal(out.shape).astype(dtype)
    rg = bag.backward(g, merged=False)
    np.testing.assert_array_equal(rg.indices, ids)
    vals = reference.embedding_bag_backward(g, ids, offsets, w, mode)
    np.testing.assert_allclose(rg.values, vals, **tol)
    merged = bag.backward(g)  # one row per distinct id: exactly the optimizer's merge
    uniq, summed = reference.coalesce_rows(ids, rg.values)
    np.testing.assert_array_equal(merged.indices, uniq)
    np.testing.assert_array_equal(merged.values, summed)


def test_empty_bags_pool_to_zeros_and_take_no_gradient():
    bag = msopt.EmbeddingBag(5, 3, "mean", optimizer="sgd", lr=1.0, seed=0)
    out = bag.forward([1, 2], offsets=[0, 0, 2])  # bags: [], [1, 2], []
    np.testing.assert_array_equal(out[0], 0)
    np.testing.assert_array_equal(out[2], 0)
    before = bag.weight.copy()
    bag.step(np.ones_like(out))
    changed = np.flatnonzero((bag.weight != before).any(axis=1))
    assert changed.tolist() == [1, 2]
    np.testing.assert_allclose(bag.weight[1], before[1] - 0.5)  # mean over 2 ids


def test_step_is_the_row_sparse_update_of_the_merged_gradient(rng):
    ids, offsets = _bags(rng, 300, 64, 12)
    bag = msopt.EmbeddingBag(300, 8, "sum", optimizer="adam", lr=0.01, seed=3)
    table = bag.weight.copy()
    state = reference.init_state("Adam", table)
    steps = [0]
    for _ in range(3):
        out = bag.forward(ids, offsets)
        g = rng.standard_normal(out.shape).astype(np.float32)
        bag.step(g)
        vals = reference.embedding_bag_backward(g, ids, offsets, None, "sum")
        reference.step("Adam", [table], [(ids, vals)], [state], steps,
                       [{"lr": 0.01, "betas": (0.9, 0.999), "eps": 1e-8,
                         "weight_decay": 0.0, "amsgrad": False, "maximize": False}])
    np.testing.assert_array_equal(bag.weight, table)


@pytest.mark.parametrize("mode", ["sum", "mean"])
def test_matches_torch_embedding_bag(rng, mode):
    torch = pytest.importorskip("torch", reason="torch is not installed")
    ids, offsets = _bags(rng, 100, 40, 7)
    bag = msopt.EmbeddingBag(100, 6, mode, dtype=np.float64, seed=0)
    tw = torch.tensor(bag.weight.copy(), requires_grad=True)
    tout = torch.nn.functional.embedding_bag(torch.from_numpy(ids), tw,
                                             torch.from_numpy(offsets), mode=mode)
    out = bag.forward(ids, offsets)
    np.testing.assert_allclose(out, tout.detach().numpy(), rtol=1e-12)
    g = rng.standard_normal(out.shape)
    tout.backward(torch.from_numpy(g))
    dense = np.zeros_like(bag.weight)
    rg = bag.backward(g)
    np.add.at(dense, rg.indices, rg.values)
    np.testing.assert_allclose(dense, tw.grad.numpy(), rtol=1e-12, atol=1e-14)


@pytest.mark.parametrize(("ids", "offsets", "exc", "match"), [
    ([0, 10], [0], IndexError, r"ids\[1\] = 10 is out of range for a table of 10 rows"),
    ([0, -1], [0], IndexError, r"ids\[1\] = -1"),
    ([0, 1, 2], [0, 2, 1], ValueError, "offsets: must be non-decreasing"),
    ([0, 1], [0, 3], ValueError, "offsets: the last offset 3 runs past the 2 ids"),
    ([0, 1], [1], ValueError, "offsets: must start at 0"),
    ([0, 1], [], ValueError, "offsets: empty"),
    ([0.5], [0], TypeError, "ids: integer ids expected"),
    (np.array([1, 2**63], np.uint64), [0], IndexError,
     r"ids\[1\] = 9223372036854775808 is out of range"),  # not wrapped to a negative id
])
def test_bad_bags(ids, offsets, exc, match):
    bag = msopt.EmbeddingBag(10, 2, "sum", seed=0)
    before = bag.weight.copy()
    with pytest.raises(exc, match=match):
        bag.forward(ids, offsets)
    with pytest.raises(exc, match=match):
        bag.step(np.ones((max(len(offsets), 1), 2), np.float32), ids, offsets)
    np.testing.assert_array_equal(bag.weight, before)


def test_bad_weights_and_grads():
    bag = msopt.EmbeddingBag(10, 2, "mean", seed=0)
    with pytest.raises(ValueError, match="per_sample_weights: only with mode='sum'"):
        bag.forward([1, 2], [0], per_sample_weights=[1.0, 2.0])
    bag.forward([1, 2], [0, 1])
    with pytest.raises(TypeError, match="grad_out: dtype float64"):
        bag.backward(np.ones((2, 2)))
    with pytest.raises(ValueError,
                       match=r"grad_out: expected shape \(2, 2\) \(one row of dim values "
                             r"per bag\), got \(3, 2\)"):
        bag.backward(np.ones((3, 2), np.float32))
    with pytest.raises(ValueError, match="mode"):
        msopt.EmbeddingBag(10, 2, "max")


def test_core_checks_dtypes():
    with pytest.raises(TypeError, match="table: expected a 2-D C-contiguous float32 or "
                                        "float64 array, got a 2-D int32"):
        _core.embedding_bag_forward(np.zeros((3, 2), np.int32), np.zeros(1, np.int64),
                                    np.zeros(1, np.int64), None, 0)
