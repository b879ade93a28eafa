"""Regression tests of the fuzz suite's findings on the models (F8-F18, F20, F21, F24 and the
next layer a larger budget found): each refused call names its argument and changes
nothing; a training that diverges raises DivergenceError and leaves the model as it was."""

from __future__ import annotations

import pickle

import numpy as np
import pytest

import msopt
from msopt import _api
from msopt.exceptions import DivergenceError

pytestmark = pytest.mark.filterwarnings("ignore::msopt.ConvergenceWarning")

T = ["good film", "bad film", "good plot", "bad plot"] * 3
L = ["pos", "neg", "pos", "neg"] * 3
S = ["a b c d e f", "b c d a e f"] * 10


def _tc():
    return msopt.TextClassifier(dim=4, buckets=10, epochs=1, threads=1, seed=0).fit(T, L)


def _w2v():
    return msopt.Word2Vec(S, dim=4, min_count=1, epochs=1, threads=1)


def _fitted(cls=msopt.LogisticRegression):
    rng = np.random.default_rng(0)
    X = rng.standard_normal((20, 3))
    y = (X[:, 0] > 0).astype(int) if cls is not msopt.LinearRegression else X[:, 0]
    return cls(max_iter=3, random_state=0).fit(X, y), X, y


# -- LinearModel (F8, F9, F10) ----------------------------------------------------------------
def test_layer_optimizer_params_and_dtype_are_named():
    with pytest.raises(TypeError, match="^optimizer_params: .*'a'"):
        msopt.LinearModel(3, optimizer_params={"a": 1})
    with pytest.raises(TypeError, match="^dtype: "):
        msopt.LinearModel(3, dtype="x")


@pytest.mark.parametrize("X", [{"a": 1}, np.ones((2, 3), complex), np.array([["a"] * 3] * 2),
                               [[1, 2, 1j]] * 2])
def test_layer_X_of_a_wrong_type_is_named(X):
    m = msopt.LinearModel(3, 1, "logistic")
    before = pickle.dumps(m)
    for call in (lambda: m.forward(X), lambda: m.run(X, [0, 1]),
                 lambda: m.loss_and_grad(X, [0, 1])):
        with pytest.raises(TypeError, match="^X: "):
            call()
    assert pickle.dumps(m) == before


def test_layer_y_errors_name_y_not_labels():
    m = msopt.LinearModel(3, 1, "logistic")
    before = pickle.dumps(m)
    with pytest.raises(IndexError, match=r"^y\[1\] = -2 is not a class id below 2"):
        m.loss_and_grad(np.ones((2, 3)), np.array([0, -2]))
    with pytest.raises(IndexError, match=r"^y\[0\] = 3 "):
        m.step(np.ones((2, 3)), np.array([3, 0], np.uint64))
    with pytest.raises(ValueError, match="^y: expected 2 class id"):
        m.step(np.ones((2, 3)), [0, 1, 1])
    with pytest.raises(TypeError, match="^y: "):
        msopt.LinearModel(3).run(np.ones((2, 3)), {"a": 1})
    with pytest.raises(TypeError, match="^sample_weight: "):
        m.run(np.ones((2, 3)), [0, 1], sample_weight=[1j, 1])
    assert pickle.dumps(m) == before


# -- estimators (F11, F12, and the next layer) ------------------------------------------------
@pytest.mark.parametrize("cb", [np.array(141), np.array([])])
def test_callbacks_that_are_arrays_are_named(cb):
    est, X, y = _fitted()
    before = pickle.dumps(est)
    with pytest.raises(TypeError, match="^callbacks: "):
        est.set_params(callbacks=cb).fit(X, y)
    est.set_params(callbacks=None)
    assert pickle.dumps(est) == before


def test_warm_start_with_new_classes_says_so():
    est, X, y = _fitted()
    with pytest.raises(ValueError, match="^y: labels .*warm_start"):
        est.set_params(warm_start=True).fit(X, np.arange(20) % 3)


@pytest.mark.parametrize("bad", [object(), 1 + 2j, Ellipsis, [1j] * 20])
def test_sample_weight_of_a_wrong_type_is_named(bad):
    est, X, y = _fitted()
    before = pickle.dumps(est)
    for call in (lambda: est.fit(X, y, sample_weight=bad),
                 lambda: est.partial_fit(X, y, sample_weight=bad),
                 lambda: est.score(X, y, sample_weight=bad)):
        with pytest.raises(TypeError, match="^sample_weight: "):
            call()
    assert pickle.dumps(est) == before


@pytest.mark.parametrize("cls", [msopt.LogisticRegression, msopt.LinearSVC,
                                 msopt.LinearRegression])
@pytest.mark.parametrize("X", [slice(1), 1 + 2j, np.ones((20, 3), complex)])
def test_X_of_a_wrong_type_is_named(cls, X):
    est, _, y = _fitted(cls)
    methods = [est.predict, est.decision_function if hasattr(est, "decision_function")
               else est.predict]
    for f in methods:
        with pytest.raises((TypeError, ValueError), match="^X: "):
            f(X)
    with pytest.raises((TypeError, ValueError), match="^X: "):
        est.score(X, y)


def test_y_errors_of_fit_and_score_are_named():
    est, X, y = _fitted(msopt.LinearSVC)
    before = pickle.dumps(est)
    with pytest.raises(ValueError, match="^y: "):
        est.fit(X, 1 + 2j)
    with pytest.raises(ValueError, match="^y: "):
        est.score(X, np.arange(20) + 0.5)
    assert pickle.dumps(est) == before


def test_overflowing_warmup_and_penalty_are_named():
    est, X, y = _fitted()
    before = pickle.dumps(est)
    with pytest.raises(ValueError, match="^warmup_epochs: "):
        est.set_params(warmup_epochs=1e308).fit(X, y)
    est.set_params(warmup_epochs=0.0)
    with pytest.raises(ValueError, match="^C: "):
        est.set_params(C=5e-324).fit(X, y)
    est.set_params(C=1.0)
    assert pickle.dumps(est) == before


# -- EmbeddingBag (F13, F18, size) ------------------------------------------------------------
def test_embedding_bag_arguments_are_named():
    with pytest.raises(TypeError, match="^seed: "):
        msopt.EmbeddingBag(5, 2, seed=slice(1))
    with pytest.raises(TypeError, match="^optimizer_params: "):
        msopt.EmbeddingBag(5, 2, optimizer_params={"a": 1})
    bag = msopt.EmbeddingBag(5, 2, mode="sum", seed=0)
    before = pickle.dumps(bag)
    for w in (1 + 0j, {"a": 1}, slice(1)):
        with pytest.raises(TypeError, match="^per_sample_weights: "):
            bag.forward([1, 2], [0], per_sample_weights=w)
        with pytest.raises(TypeError, match="^per_sample_weights: "):
            bag.step(np.ones((1, 2), np.float32), [1, 2], [0], per_sample_weights=w)
    with pytest.raises(ValueError, match="^grad_out: "):
        bag.step(np.ones((3, 0), np.float32), [1, 2], [0, 1])
    assert pickle.dumps(bag) == before


def test_embedding_table_too_large_is_refused_before_allocation(monkeypatch):
    monkeypatch.setattr(_api, "_physical_memory", lambda: 10 * 2**20)
    with pytest.raises(MemoryError, match=r"EmbeddingBag: num_embeddings=1,000,000 x dim=4 "
                                          r"float32 rows take 15.3 MiB"):
        msopt.EmbeddingBag(1_000_000, 4)
    msopt.EmbeddingBag(10_000, 4)


def test_model_tables_too_large_are_refused_before_allocation(monkeypatch):
    monkeypatch.setattr(_api, "_physical_memory", lambda: 2**20)
    with pytest.raises(MemoryError, match="TextClassifier: 100,00[0-9] rows"):
        msopt.TextClassifier(dim=8, ngrams=2, buckets=100_000, epochs=1, threads=1).fit(T, L)
    m = msopt.Word2Vec(dim=20_000, min_count=1, epochs=1, threads=1)
    with pytest.raises(MemoryError, match="Word2Vec: 6 words x dim=20,000"):
        m.build_vocab(S)
    with pytest.raises(msopt.NotFittedError):
        _ = m.vocab


# -- loaders (F14) --------------------------------------------------------------------------
@pytest.mark.parametrize("cls", [msopt.Vocabulary, msopt.Word2Vec, msopt.TextClassifier])
def test_load_names_a_bad_path(cls):
    with pytest.raises(TypeError, match="^path: "):
        cls.load([])
    with pytest.raises(ValueError, match="^path: .*NUL"):
        cls.load("model\x00.npz")
    with pytest.raises(ValueError, match="^path: "):
        cls.load("\ud800")


# -- Word2Vec and KeyedVectors (F15, F16, F21) ------------------------------------------------
def test_word2vec_errors_name_sentences():
    with pytest.raises(ValueError, match="^sentences: the corpus holds no tokens"):
        msopt.Word2Vec([], min_count=1)
    m = msopt.Word2Vec(min_count=1)
    with pytest.raises(ValueError, match="^sentences: "):
        m.build_vocab([])
    with pytest.raises(ValueError, match="^sentences: .*surrogate"):
        m.build_vocab(["a \ud800"])
    with pytest.raises(TypeError, match=r"^sentences\[1\]: "):
        m.build_vocab([["a"], 3])
    m = _w2v()
    before = pickle.dumps(m)
    with pytest.raises(TypeError, match=r"^sentences\[0\]: "):
        m.train([5])
    assert pickle.dumps(m) == before


def test_a_refused_lookup_leaves_the_cache_alone():
    wv = _w2v().wv
    assert wv._unit is None
    with pytest.raises(KeyError):
        wv.most_similar("")
    with pytest.raises(KeyError):
        wv.similarity("", "a")
    with pytest.raises(TypeError, match="^positive: "):
        wv.most_similar(slice(1))
    with pytest.raises(KeyError):
        wv.most_similar(["a", ""])
    assert wv._unit is None
    assert slice(1) not in wv


# -- TextClassifier (F17, F20, F21) -----------------------------------------------------------
def test_text_classifier_errors_are_named():
    clf = _tc()
    before = pickle.dumps(clf)
    with pytest.raises(TypeError, match="^k: "):
        clf.test(T, L, k=np.dtype("float32"))
    with pytest.raises(TypeError, match="^classes: "):
        clf.partial_fit(T, L, classes=np.array("pos"))
    with pytest.raises(ValueError, match="^labels: "):
        clf.score(T, ["nope"] * len(T))  # no label of the model: another format, say
    with pytest.raises(ValueError, match="^texts: .*surrogate"):
        clf.predict(["\ud800"])
    with pytest.raises(ValueError, match="^texts: .*surrogate"):
        clf.predict_proba(["\ud800"])
    assert pickle.dumps(clf) == before


# -- divergence (F24) ---------------------------------------------------------------------
def test_text_classifier_that_diverges_raises_and_changes_nothing():
    with pytest.raises(DivergenceError):
        msopt.TextClassifier(dim=4, buckets=10, epochs=1, threads=1, lr=1e308).fit(
            ["a b", "c d"], ["x", "y"])
    clf = _tc()
    table = clf.input_
    before = pickle.dumps(clf)
    with pytest.raises(DivergenceError, match="as it was"):
        clf.set_params(lr=1e30).partial_fit(T, L)
    clf.set_params(lr=0.1)
    assert pickle.dumps(clf) == before
    assert clf.input_ is table
    fresh = _tc()
    before = pickle.dumps(fresh)
    with pytest.raises(DivergenceError):
        fresh.set_params(lr=1e30).fit(T, L)
    fresh.set_params(lr=0.1)
    assert pickle.dumps(fresh) == before


def test_word2vec_that_diverges_raises_and_changes_nothing():
    with pytest.raises(DivergenceError):
        msopt.Word2Vec(S, dim=4, min_count=1, epochs=1, threads=1, lr=1e30)
    m = _w2v()
    m.wv.most_similar("a")  # fills the cache
    before = pickle.dumps(m)
    vectors = m.wv.vectors
    unit = m.wv._unit.copy()
    with pytest.raises(DivergenceError, match="as they were"):
        m.set_params(lr=1e30).train(S)
    m.set_params(lr=0.025)
    assert pickle.dumps(m) == before
    assert m.wv.vectors is vectors
    np.testing.assert_array_equal(m.wv._unit, unit)


def test_most_similar_never_returns_the_word_itself():
    wv = _w2v().wv
    out = wv.most_similar("a", topn=np.int64(2**53 + 1))
    assert len(out) == len(wv) - 1
    assert "a" not in [w for w, _ in out]
    assert all(np.isfinite(s) for _, s in out)
