"""msopt.search.Index (exact top-k by BLAS blocks and a native partial sort) against its
NumPy twin (msopt.reference.search: the full product and a stable sort)."""

from __future__ import annotations

import pickle

import numpy as np
import pytest

from msopt import _core
from msopt.reference import search as ref
from msopt.search import Index


def small_ints(rng, shape, dtype):
    """Values in -3..3: every inner product of up to 128 of them is exact in float32, so the
    native and reference scores are equal bit for bit, and so are their ties."""
    return rng.integers(-3, 4, shape).astype(dtype)


def check_valid_topk(X, Q, k, scores, ids, metric, dtype):
    """scores/ids are a top k of Q against X up to the scores' rounding: sorted best first,
    each score is its id's score, and the k-th score is the reference's k-th score."""
    tol = 1e-4 if dtype == np.float32 else 1e-10
    want_s, _ = ref.search(X.astype(np.float64), Q.astype(np.float64), k, metric)
    assert scores.dtype == dtype
    assert ids.dtype == np.int64
    assert scores.shape == ids.shape == (len(Q), k)
    for q in range(len(Q)):
        assert len(set(ids[q].tolist())) == k  # distinct rows
    assert np.all(np.diff(scores.astype(np.float64), axis=1) <= 0)
    Xn = ref.normalize_rows(X.astype(np.float64)) if metric == "cosine" else X.astype(np.float64)
    Qn = ref.normalize_rows(Q.astype(np.float64)) if metric == "cosine" else Q.astype(np.float64)
    true = np.einsum("qd,qkd->qk", Qn, Xn[ids]) if len(Q) else np.zeros((0, k))
    scale = 1 + np.abs(want_s).max() if want_s.size else 1
    np.testing.assert_allclose(scores, true, atol=tol * scale, rtol=0)
    np.testing.assert_allclose(scores, want_s, atol=tol * scale, rtol=0)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize(("n", "d"), [(1, 1), (17, 1), (17, 17), (300, 17), (1000, 128),
                                      (2500, 5)])
@pytest.mark.parametrize("threads", [1, 2])
def test_exact_ties_match_reference(dtype, n, d, threads):
    rng = np.random.default_rng(n * 131 + d)
    X = small_ints(rng, (n, d), dtype)
    X[n // 2:n // 2 + 3] = X[:3][: max(0, min(3, n - n // 2))]  # duplicate rows: exact ties
    Q = small_ints(rng, (33, d), dtype)
    index = Index(X)
    for k in sorted({1, min(n, 5), min(n, 17), n}):
        for block in (None, 7, 64) if n > 300 else (None, 1, 7, 64):
            s, i = index.search(Q, k, block_size=block, threads=threads)
            rs, ri = ref.search(X, Q, k)
            np.testing.assert_array_equal(i, ri)
            np.testing.assert_array_equal(s, rs)
            assert s.dtype == dtype
            assert i.dtype == np.int64


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("metric", ["dot", "cosine"])
@pytest.mark.parametrize(("n", "d", "nq"), [(17, 17, 5), (1000, 128, 17), (777, 1, 3),
                                            (2049, 33, 20)])
def test_random_floats_match_reference(dtype, metric, n, d, nq):
    rng = np.random.default_rng(n + d + nq)
    X = rng.standard_normal((n, d)).astype(dtype)
    Q = rng.standard_normal((nq, d)).astype(dtype)
    index = Index(X, metric=metric)
    for k in (1, 10, n):
        for block in (None, 13):
            s, i = index.search(Q, k, block_size=block, threads=2)
            check_valid_topk(X, Q, k, s, i, metric, dtype)
            _, ri = ref.search(X, Q, k, metric)
            # ids agree except where two scores are within rounding of each other
            assert np.mean(i == ri) > 0.95


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize(("n", "d", "nq", "block"), [
    (5000, 64, 20, 1000),   # threads split the row blocks (5 blocks, the last one short)
    (1000, 64, 600, 1024),  # one row block: threads split the query blocks
    (2049, 17, 300, 100),
])
def test_one_and_two_threads_bit_identical(dtype, n, d, nq, block):
    rng = np.random.default_rng(7)
    X = rng.standard_normal((n, d)).astype(dtype)
    Q = rng.standard_normal((nq, d)).astype(dtype)
    index = Index(X)
    s1, i1 = index.search(Q, 10, block_size=block, threads=1)
    s2, i2 = index.search(Q, 10, block_size=block, threads=2)
    np.testing.assert_array_equal(i1, i2)
    assert s1.tobytes() == s2.tobytes()
    s3, i3 = index.search(Q, 10, block_size=block, threads=1)  # repeats
    assert s3.tobytes() == s1.tobytes()
    np.testing.assert_array_equal(i3, i1)
    check_valid_topk(X, Q, 10, s1, i1, "dot", dtype)


def test_every_isa_path_gives_the_same_bits():
    # the scan of each block's scores is compiled once per instruction set
    rng = np.random.default_rng(8)
    X = rng.standard_normal((3000, 40)).astype(np.float32)
    X[1500:1510] = X[:10]  # ties that enter the heaps mid-scan
    Q = rng.standard_normal((30, 40)).astype(np.float32)
    index = Index(X)
    saved, results = _core.isa(), []
    try:
        for isa in _core.available_isas():
            _core.set_isa(isa)
            results.append(index.search(Q, 25, block_size=500, threads=2))
    finally:
        _core.set_isa(saved)
    for s, i in results[1:]:
        np.testing.assert_array_equal(i, results[0][1])
        assert s.tobytes() == results[0][0].tobytes()
    check_valid_topk(X, Q, 25, *results[0], "dot", np.float32)


def test_many_native_calls_give_the_same_bits(monkeypatch):
    # a search split into many calls (few queries, few rows each) merges into the same result
    import msopt.search as ms

    rng = np.random.default_rng(9)
    X = rng.standard_normal((3001, 24)).astype(np.float32)
    Q = rng.standard_normal((700, 24)).astype(np.float32)
    index = Index(X)
    want = index.search(Q, 7, block_size=100, threads=2)
    monkeypatch.setattr(ms, "_CALL_WORK", 100 * 24 * 50)  # about 2 blocks of 50 queries
    monkeypatch.setattr(ms, "_CALL_HEAP", 7 * 300)  # 300 queries per call
    got = index.search(Q, 7, block_size=100, threads=2)
    np.testing.assert_array_equal(got[1], want[1])
    assert got[0].tobytes() == want[0].tobytes()
    monkeypatch.setattr(ms, "_CALL_HEAP", 1)  # one query per call
    got = index.search(Q[:20], 7, block_size=100, threads=1)
    np.testing.assert_array_equal(got[1], want[1][:20])
    # BLAS computes a single query's scores as a matrix-vector product: the same values up
    # to the last bit
    np.testing.assert_allclose(got[0], want[0][:20], rtol=1e-5)
    check_valid_topk(X, Q, 7, *want, "dot", np.float32)


def test_no_queries_and_one_query():
    rng = np.random.default_rng(0)
    X = rng.standard_normal((17, 4)).astype(np.float32)
    index = Index(X)
    s, i = index.search(np.empty((0, 4), np.float32), 3)
    assert s.shape == i.shape == (0, 3)
    assert s.dtype == np.float32
    assert i.dtype == np.int64
    q = rng.standard_normal(4).astype(np.float32)
    s1, i1 = index.search(q, 3)
    assert s1.shape == i1.shape == (3,)
    s2, i2 = index.search(q[None], 3)
    np.testing.assert_array_equal(i1, i2[0])
    np.testing.assert_array_equal(s1, s2[0])


def test_dtypes_and_lists_are_converted():
    X = [[1, 0], [0, 1], [1, 1]]  # ints: a float32 index
    index = Index(X)
    assert index.dtype == np.float32
    s, i = index.search([[2, 1]], 2)  # a list of ints, converted to float32
    np.testing.assert_array_equal(i, [[2, 0]])
    np.testing.assert_array_equal(s, np.array([[3, 2]], np.float32))
    index64 = Index(np.asarray(X, np.float64))
    assert index64.dtype == np.float64
    assert index64.search(np.array([2, 1], np.float32), 1)[0].dtype == np.float64


def test_cosine_normalizes_once_and_zero_rows_score_zero():
    X = np.array([[3.0, 4.0], [0.0, 0.0], [0.0, -2.0]], np.float32)
    index = Index(X, metric="cosine")
    np.testing.assert_allclose(np.linalg.norm(index.vectors, axis=1), [1, 0, 1], atol=1e-7)
    s, i = index.search(np.array([[30.0, 40.0]], np.float32), 3)
    np.testing.assert_array_equal(i, [[0, 1, 2]])
    np.testing.assert_allclose(s, [[1.0, 0.0, -0.8]], atol=1e-6)
    s0, i0 = index.search(np.zeros((1, 2), np.float32), 3)  # a zero query: all tie at 0
    np.testing.assert_array_equal(i0, [[0, 1, 2]])
    np.testing.assert_array_equal(s0, [[0, 0, 0]])


def test_copy_flag():
    X = np.random.default_rng(1).standard_normal((10, 3)).astype(np.float32)
    own = Index(X)
    assert not np.shares_memory(own.vectors, X)
    assert not own.vectors.flags.writeable
    X0 = X.copy()
    shared = Index(X, copy=False)
    assert shared.vectors is X
    assert X.flags.writeable  # the caller's array is left as it was
    X[0] = 100.0  # a later change shows in the shared index only
    assert shared.search(np.ones((1, 3), np.float32), 1)[1][0, 0] == 0
    np.testing.assert_array_equal(own.vectors, X0)
    assert not np.shares_memory(Index(X, metric="cosine", copy=False).vectors, X)


def test_add_matches_one_index():
    rng = np.random.default_rng(2)
    A = small_ints(rng, (40, 6), np.float32)
    B = small_ints(rng, (25, 6), np.float32)
    Q = small_ints(rng, (9, 6), np.float32)
    index = Index(np.empty((0, 6), np.float32))
    assert len(index) == 0
    index.add(A)
    index.add(B[0])  # one row
    index.add(B[1:])
    assert len(index) == 65
    whole = Index(np.concatenate([A, B]))
    for k in (1, 7, 65):
        s1, i1 = index.search(Q, k)
        s2, i2 = whole.search(Q, k)
        np.testing.assert_array_equal(i1, i2)
        np.testing.assert_array_equal(s1, s2)


def test_repr_pickle_save_load(tmp_path):
    rng = np.random.default_rng(3)
    X = rng.standard_normal((1234, 8))
    Q = rng.standard_normal((5, 8))
    for metric in ("dot", "cosine"):
        index = Index(X, metric=metric)
        assert repr(index) == f"Index(1,234 vectors, dim=8, float64, metric={metric!r})"
        want = index.search(Q, 4)
        back = pickle.loads(pickle.dumps(index))
        path = tmp_path / f"index-{metric}.npz"
        index.save(path)
        loaded = Index.load(path)
        for other in (back, loaded):
            assert other.metric == metric
            assert other.vectors.dtype == np.float64
            assert not other.vectors.flags.writeable
            np.testing.assert_array_equal(other.vectors, index.vectors)
            got = other.search(Q, 4)
            np.testing.assert_array_equal(got[0], want[0])
            np.testing.assert_array_equal(got[1], want[1])


def test_load_refuses_other_files(tmp_path):
    bad = tmp_path / "bad.npz"
    np.savez(bad, format=np.array("msopt-index 1"), params=np.array('{"metric": "l2"}'),
             vectors=np.zeros((2, 2), np.float32))
    with pytest.raises(ValueError, match="metric"):
        Index.load(bad)
    np.savez(bad, format=np.array("msopt-index 1"), params=np.array('{"metric": "dot"}'),
             vectors=np.array([[np.nan, 1.0]], np.float32))
    with pytest.raises(ValueError, match="NaN"):
        Index.load(bad)
    np.savez(bad, format=np.array("something else"), vectors=np.zeros((2, 2)))
    with pytest.raises(ValueError, match="not an msopt Index file"):
        Index.load(bad)
    with pytest.raises(FileNotFoundError):
        Index.load(tmp_path / "missing.npz")


@pytest.mark.parametrize(("kwargs", "err", "name"), [
    ({"k": 18}, ValueError, "k"),
    ({"k": 0}, ValueError, "k"),
    ({"k": -1}, ValueError, "k"),
    ({"k": 1.0}, TypeError, "k"),
    ({"k": True}, TypeError, "k"),
    ({"k": "3"}, TypeError, "k"),
    ({"k": 3, "queries": np.ones((2, 5), np.float32)}, ValueError, "queries"),
    ({"k": 3, "queries": np.ones(5, np.float32)}, ValueError, "queries"),
    ({"k": 3, "queries": np.ones((2, 4, 1), np.float32)}, ValueError, "queries"),
    ({"k": 3, "queries": np.array([["a", "b", "c", "d"]])}, TypeError, "queries"),
    ({"k": 3, "queries": np.ones((2, 4), np.complex64)}, TypeError, "queries"),
    ({"k": 3, "queries": np.array([[1.0, np.nan, 0, 0]])}, ValueError, "queries"),
    ({"k": 3, "queries": np.array([[1.0, np.inf, 0, 0]])}, ValueError, "queries"),
    ({"k": 3, "queries": None}, TypeError, "queries"),
    ({"k": 3, "block_size": 0}, ValueError, "block_size"),
    ({"k": 3, "block_size": 2.5}, TypeError, "block_size"),
    ({"k": 3, "threads": 0}, ValueError, "threads"),
    ({"k": 3, "threads": 5000}, ValueError, "threads"),
])
def test_search_bad_input(kwargs, err, name):
    rng = np.random.default_rng(4)
    X = rng.standard_normal((17, 4)).astype(np.float32)
    index = Index(X)
    kwargs.setdefault("queries", rng.standard_normal((3, 4)).astype(np.float32))
    q_before = np.array(kwargs["queries"], copy=True) if kwargs["queries"] is not None else None
    with pytest.raises(err, match=f"^{name}"):
        index.search(**kwargs)
    np.testing.assert_array_equal(index.vectors, X)  # nothing changed
    if q_before is not None:
        np.testing.assert_array_equal(kwargs["queries"], q_before)


@pytest.mark.parametrize(("args", "kwargs", "err", "name"), [
    ((np.ones(4, np.float32),), {}, ValueError, "vectors"),
    ((np.ones((2, 0), np.float32),), {}, ValueError, "vectors"),
    ((np.array([[1.0, np.nan]]),), {}, ValueError, "vectors"),
    ((np.array([["a"]]),), {}, TypeError, "vectors"),
    ((np.ones((2, 2)),), {"metric": "l2"}, ValueError, "metric"),
    ((np.ones((2, 2)),), {"copy": "no"}, TypeError, "copy"),
])
def test_constructor_bad_input(args, kwargs, err, name):
    with pytest.raises(err, match=f"^{name}"):
        Index(*args, **kwargs)


def test_add_bad_input_changes_nothing():
    X = np.random.default_rng(5).standard_normal((6, 3)).astype(np.float32)
    index = Index(X)
    before = index.vectors
    for bad, err in [(np.ones((2, 4)), ValueError), (np.array([[np.nan, 0, 0]]), ValueError),
                     (np.array([["a", "b", "c"]]), TypeError), (np.ones((1, 1, 3)), ValueError)]:
        with pytest.raises(err, match="^vectors"):
            index.add(bad)
        assert index.vectors is before
        assert len(index) == 6


def test_native_call_refuses_bad_arrays():
    X = np.ones((5, 3), np.float32)
    Q = np.ones((2, 3), np.float32)
    bs = np.full((2, 2), -np.inf, np.float32)
    bi = np.full((2, 2), -1, np.int64)
    with pytest.raises(TypeError, match="^Q"):
        _core.search_merge_rows(X, Q.astype(np.float64), 0, 5, bs, bi, block=2, query_block=2)
    with pytest.raises(ValueError, match="^row0, row1"):
        _core.search_merge_rows(X, Q, 0, 6, bs, bi, block=2, query_block=2)
    with pytest.raises(ValueError, match="^best_ids"):
        _core.search_merge_rows(X, Q, 0, 5, bs, bi[:1], block=2, query_block=2)
    bs.flags.writeable = False
    with pytest.raises(ValueError, match="^best_scores"):
        _core.search_merge_rows(X, Q, 0, 5, bs, bi, block=2, query_block=2)
    np.testing.assert_array_equal(bi, -1)  # nothing written


def test_docstring_examples_run():
    import doctest

    import msopt.search

    result = doctest.testmod(msopt.search)
    assert result.attempted > 0
    assert result.failed == 0


def test_unit_rows_as_from_an_encoder_dot_equals_cosine():
    # encoder outputs are unit rows: "dot" and "cosine" rank them alike
    rng = np.random.default_rng(10)
    docs = ref.normalize_rows(rng.standard_normal((500, 32)).astype(np.float32))
    questions = ref.normalize_rows(rng.standard_normal((40, 32)).astype(np.float32))
    s1, i1 = Index(docs).search(questions, 20)
    s2, i2 = Index(docs, metric="cosine").search(questions, 20)
    assert np.mean(i1 == i2) > 0.99
    np.testing.assert_allclose(s1, s2, atol=1e-6)
    assert np.all(s1 <= 1 + 1e-6)


def test_native_call_refuses_zero_columns():
    X = np.ones((5, 0), np.float32)
    with pytest.raises(ValueError, match="^X"):
        _core.search_merge_rows(X, np.ones((2, 0), np.float32), 0, 5,
                                np.full((2, 2), -np.inf, np.float32), np.full((2, 2), -1),
                                block=2, query_block=2)
