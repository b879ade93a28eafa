"""The public API's common behaviour: one name per concept (and the familiar aliases), one
error vocabulary, pickling, repr, help, label types, scikit-learn compatibility, and a
light ``import msopt``."""

from __future__ import annotations

import ast
import inspect
import pickle
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import msopt
from msopt.text import Vocabulary

PACKAGE = Path(msopt.__file__).parent


def _texts(n=40, seed=0):
    rng = np.random.default_rng(seed)
    words = {0: ["good", "great", "fine"], 1: ["bad", "awful", "poor"], 2: ["meh", "so", "ok"]}
    labels = rng.integers(0, 3, n)
    texts = [" ".join(rng.choice(words[int(y)], 3)) + " film" for y in labels]
    return texts, labels


def _fitted_classifier(labels=None, **kw):
    texts, y = _texts()
    params = dict(dim=8, buckets=200, epochs=10, lr=0.5, threads=1, seed=3)
    return msopt.TextClassifier(**{**params, **kw}).fit(texts, y if labels is None else
                                                         labels), texts


CORPUS = ["the cat sat on the mat", "the dog sat on the log", "a cat and a dog"] * 30


# -- import ------------------------------------------------------------------------------
def test_import_does_not_load_peers():
    code = """
import sys, msopt
for name in ("Word2Vec", "KeyedVectors", "TextClassifier", "Vocabulary", "EmbeddingBag",
             "LinearModel", "NotFittedError", "DivergenceError", "ConvergenceWarning",
             "reference", "lr_scheduler"):
    getattr(msopt, name)
msopt.Word2Vec(["a b a b"], dim=4, min_count=1, epochs=1, threads=1)
heavy = [m for m in ("msopt._bench", "torch", "gensim", "sklearn", "scipy") if m in sys.modules]
assert not heavy, heavy
msopt.LogisticRegression   # an estimator may load scikit-learn
"""
    subprocess.run([sys.executable, "-c", code], check=True)


# -- names and aliases -------------------------------------------------------------------
# (maker, [(alias, canonical name, value), ...])
ALIASES = [
    (msopt.Word2Vec, [
        ("vector_size", "dim", 16), ("workers", "threads", 1), ("alpha", "lr", 0.05),
        ("min_alpha", "min_lr", 0.001), ("max_final_vocab", "max_vocab", 10),
        ("iter", "epochs", 2)]),
    (msopt.TextClassifier, [
        ("wordNgrams", "ngrams", 3), ("bucket", "buckets", 10), ("neg", "negative", 3),
        ("epoch", "epochs", 2), ("thread", "threads", 1), ("workers", "threads", 1),
        ("minCount", "min_count", 2)]),
    (lambda **kw: msopt.EmbeddingBag(5, **kw), [
        ("embedding_dim", "dim", 3)]),
    (lambda **kw: msopt.EmbeddingBag(5, 3, **kw), [
        ("learning_rate", "lr", 0.5)]),
    (lambda **kw: msopt.LinearModel(3, **kw), [
        ("learning_rate", "lr", 0.5)]),
]


@pytest.mark.parametrize(("make", "alias", "canonical", "value"),
                         [(make, *row) for make, rows in ALIASES for row in rows])
def test_alias_sets_the_canonical_name(make, alias, canonical, value):
    obj = make(**{alias: value})
    if isinstance(obj, (msopt.EmbeddingBag, msopt.LinearModel)):
        assert obj._init[canonical] == value
    else:
        assert getattr(obj, canonical) == value
        assert obj.get_params()[canonical] == value
        assert alias not in obj.get_params()
    with pytest.raises(TypeError, match=f"both '{canonical}' and its alias '{alias}'"):
        make(**{alias: value, canonical: value})


def test_gensim_and_fasttext_attribute_names_read_the_canonical_values():
    w = msopt.Word2Vec(dim=16, threads=2, lr=0.05, min_lr=0.001)
    assert (w.vector_size, w.workers, w.alpha, w.min_alpha) == (16, 2, 0.05, 0.001)
    c = msopt.TextClassifier(negative=3, threads=1)
    assert (c.neg, c.workers) == (3, 1)


@pytest.mark.parametrize("make", [
    lambda: msopt.LogisticRegression(lr=0.5, seed=3, epochs=7),
    lambda: msopt.LinearSVC(lr=0.5, seed=3, epochs=7),
    lambda: msopt.LinearRegression(lr=0.5, seed=3, epochs=7),
])
def test_estimators_keep_sklearn_names_and_take_msopt_aliases(make):
    est = make()
    params = est.get_params()
    assert (params["learning_rate"], params["random_state"], params["max_iter"]) == (0.5, 3, 7)
    assert "lr" not in params
    assert "seed" not in params


@pytest.mark.parametrize(("make", "wrong", "suggestion"), [
    (msopt.Word2Vec, "vectorsize", "vector_size"),
    (msopt.Word2Vec, "worker", "workers"),
    (msopt.Word2Vec, "negatives", "negative"),
    (msopt.TextClassifier, "wordngrams", "wordNgrams"),
    (msopt.TextClassifier, "learning_rat", "learning_rate"),
    (msopt.TextClassifier, "epohcs", "epochs"),
    (Vocabulary, "mincount", "min_count"),
    (lambda **kw: msopt.EmbeddingBag(5, 3, **kw), "optimiser", "optimizer"),
    (lambda **kw: msopt.LinearModel(3, **kw), "fit_intercep", "fit_intercept"),
    (msopt.LogisticRegression, "random_stat", "random_state"),
])
def test_wrong_keyword_suggests_the_right_one(make, wrong, suggestion):
    with pytest.raises(TypeError, match=re.escape(
            f"got an unexpected keyword argument {wrong!r}; did you mean {suggestion!r}?")):
        make(**{wrong: 1})


def test_wrong_keyword_message_in_full():
    with pytest.raises(TypeError) as info:
        msopt.Word2Vec(vectorsize=50)
    assert str(info.value) == ("Word2Vec() got an unexpected keyword argument 'vectorsize'; "
                               "did you mean 'vector_size'?")
    with pytest.raises(TypeError, match="no_such_thing'$"):
        msopt.Word2Vec(no_such_thing=1)


# -- errors ------------------------------------------------------------------------------
def test_one_not_fitted_error():
    assert issubclass(msopt.NotFittedError, ValueError)
    assert issubclass(msopt.NotFittedError, AttributeError)
    for where in (msopt.linear_model, msopt.exceptions):
        assert where.NotFittedError is msopt.NotFittedError
    from msopt.linear_model import estimators, layer
    from msopt.optim import NonFiniteGradientError

    assert estimators.NotFittedError is msopt.NotFittedError
    assert layer.DivergenceError is msopt.DivergenceError is msopt.exceptions.DivergenceError
    assert NonFiniteGradientError is msopt.NonFiniteGradientError


@pytest.mark.parametrize("use", [
    lambda: msopt.Word2Vec().wv,
    lambda: msopt.Word2Vec().train(["a b"]),
    lambda: msopt.Word2Vec().save("never-written.npz"),
    lambda: msopt.TextClassifier().predict(["x"]),
    lambda: msopt.TextClassifier().predict_proba(["x"]),
    lambda: msopt.TextClassifier().score(["x"], ["a"]),
    lambda: msopt.TextClassifier().test(["x"], ["a"]),
    lambda: msopt.TextClassifier().save("never-written.npz"),
    lambda: Vocabulary().encode(["a"]),
    lambda: Vocabulary().words,
    lambda: msopt.LogisticRegression().predict(np.ones((2, 2))),
    lambda: msopt.LinearRegression().coef_,
])
def test_not_fitted(use):
    with pytest.raises(msopt.NotFittedError, match="not fitted yet"):
        use()


def test_not_fitted_reads_as_a_missing_attribute():
    assert not hasattr(msopt.Word2Vec(), "wv")


def _raise_messages():
    """The string parts of every ``raise X(...)`` and ``warnings.warn(...)`` message."""
    for path in PACKAGE.rglob("*.py"):
        if path.name == "_bench.py":
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            call = None
            if isinstance(node, ast.Raise) and isinstance(node.exc, ast.Call):
                call = node.exc
            elif (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)
                  and node.func.attr == "warn"):
                call = node
            if call is None:
                continue
            for arg in call.args:
                for sub in ast.walk(arg):
                    if isinstance(sub, ast.Constant) and isinstance(sub.value, str):
                        yield path.name, node.lineno, sub.value


def test_no_message_names_a_private_name():
    private = re.compile(r"(?<![\w.])_[A-Za-z]\w*[.(]|\b_core\b|_Sk|_Data|_LinearEstimator")
    bad = [m for m in _raise_messages() if private.search(m[2])]
    assert not bad


# -- pickling ----------------------------------------------------------------------------
def _roundtrip(obj):
    return pickle.loads(pickle.dumps(obj))


def _same_arrays(a, b):
    assert type(a) is type(b)
    assert a.dtype == b.dtype
    assert a.shape == b.shape
    np.testing.assert_array_equal(a, b)


def test_pickle_word2vec():
    fresh = msopt.Word2Vec(dim=8, min_count=1, threads=1)
    back = _roundtrip(fresh)
    assert back.get_params() == fresh.get_params()
    with pytest.raises(msopt.NotFittedError):
        _ = back.wv
    with pytest.raises(msopt.NotFittedError):
        _ = back.vocab
    m = msopt.Word2Vec(CORPUS, dim=8, min_count=1, epochs=2, threads=1)
    n = _roundtrip(m)
    assert n.get_params() == m.get_params()
    assert n.loss_history_ == m.loss_history_
    assert n.vocab.words == m.vocab.words
    _same_arrays(n.wv.vectors, m.wv.vectors)
    _same_arrays(n.syn1neg, m.syn1neg)
    assert n.wv.most_similar("cat", topn=3) == m.wv.most_similar("cat", topn=3)
    # Training goes on identically from the copy.
    m.train(CORPUS, epochs=1)
    n.train(CORPUS, epochs=1)
    _same_arrays(n.wv.vectors, m.wv.vectors)


def test_pickle_keyed_vectors_and_vocabulary():
    kv = msopt.Word2Vec(CORPUS, dim=8, min_count=1, epochs=1, threads=1).wv
    kv.most_similar("cat")  # fills the cache, which is not pickled
    back = _roundtrip(kv)
    assert back.index_to_key == kv.index_to_key
    assert back._unit is None
    _same_arrays(back.vectors, kv.vectors)
    assert back.most_similar("cat") == kv.most_similar("cat")
    v = Vocabulary(min_count=2, lower=True)
    assert repr(_roundtrip(v)) == repr(v)
    with pytest.raises(msopt.NotFittedError):
        _roundtrip(v).encode(["a"])
    v.fit(CORPUS)
    w = _roundtrip(v)
    assert w.get_params() == v.get_params()
    assert (w.words, w.total_tokens) == (v.words, v.total_tokens)
    _same_arrays(w.counts, v.counts)
    for a, b in zip(w.encode(CORPUS[:5], ngrams=2, buckets=50),
                    v.encode(CORPUS[:5], ngrams=2, buckets=50)):
        _same_arrays(a, b)


@pytest.mark.parametrize("labels", ["int", "str"])
def test_pickle_text_classifier(labels):
    fresh = msopt.TextClassifier(dim=4, negative=2, threads=1)
    assert _roundtrip(fresh).get_params() == fresh.get_params()
    texts, y = _texts()
    y = y if labels == "int" else np.array(["neg", "pos", "so-so"])[y]
    clf = msopt.TextClassifier(dim=8, buckets=200, epochs=5, lr=0.5, threads=1).fit(texts, y)
    back = _roundtrip(clf)
    assert back.get_params() == clf.get_params()
    for name in ("classes_", "input_", "output_", "class_counts_"):
        _same_arrays(getattr(back, name), getattr(clf, name))
    _same_arrays(back.predict(texts), clf.predict(texts))
    _same_arrays(back.predict_proba(texts), clf.predict_proba(texts))
    clf.partial_fit(texts, y)
    back.partial_fit(texts, y)
    _same_arrays(back.input_, clf.input_)


def test_pickle_embedding_bag():
    bag = msopt.EmbeddingBag(20, 4, optimizer="adam", lr=0.1, seed=0)
    ids, offsets = [1, 2, 3, 3, 7], [0, 2]
    bag.step(np.ones((2, 4), np.float32), ids, offsets)
    back = _roundtrip(bag)
    assert repr(back) == repr(bag)
    _same_arrays(back.weight, bag.weight)
    _same_arrays(back.forward(ids, offsets), bag.forward(ids, offsets))
    for b in (bag, back):
        b.step(np.ones((2, 4), np.float32), ids, offsets)
    _same_arrays(back.weight, bag.weight)  # the Adam moments came along
    assert back.optimizer.param_groups[0]["params"][0] is back.weight


@pytest.mark.parametrize("fit_intercept", [True, False])
def test_pickle_linear_model(rng, fit_intercept):
    X = rng.standard_normal((64, 3))
    y = X @ [1.0, -2.0, 0.5]
    m = msopt.LinearModel(3, 1, "squared", optimizer="adam", lr=0.05, l2=0.01,
                          fit_intercept=fit_intercept, max_grad_norm=5.0)
    assert repr(_roundtrip(m)) == repr(m)
    m.run(X, y, epochs=2, batch_size=16, seed=1)
    back = _roundtrip(m)
    _same_arrays(back.W, m.W)
    _same_arrays(back.forward(X), m.forward(X))
    m.run(X, y, epochs=2, batch_size=16, seed=2, epoch0=2)
    back.run(X, y, epochs=2, batch_size=16, seed=2, epoch0=2)
    _same_arrays(back.W, m.W)
    assert back.optimizer.param_groups[0]["params"][0] is back.W


@pytest.mark.parametrize("Est", [msopt.LogisticRegression, msopt.LinearSVC,
                                 msopt.LinearRegression])
def test_pickle_estimators(rng, Est):
    X = rng.standard_normal((80, 4))
    y = (X[:, 0] > 0).astype(int) + (X[:, 1] > 1)
    est = Est(max_iter=5, random_state=0, tol=None)
    assert repr(_roundtrip(est)) == repr(est)
    est.fit(X, y)
    back = _roundtrip(est)
    _same_arrays(back.predict(X), est.predict(X))
    _same_arrays(np.asarray(back.coef_), np.asarray(est.coef_))


# -- labels keep their type --------------------------------------------------------------
@pytest.mark.parametrize("kind", ["int", "str", "bool"])
def test_text_classifier_labels_keep_their_type(tmp_path, kind):
    texts, y = _texts()
    labels = {"int": y * 10 - 5, "str": np.array(["a", "b", "c"])[y], "bool": y > 0}[kind]
    clf = msopt.TextClassifier(dim=8, buckets=200, epochs=10, lr=0.5, threads=1).fit(
        texts, labels.tolist())
    pred = clf.predict(texts)
    assert pred.dtype.kind == labels.dtype.kind
    assert clf.classes_.dtype.kind == pred.dtype.kind
    assert type(pred.tolist()[0]) is type(labels.tolist()[0])
    assert set(pred.tolist()) <= set(labels.tolist())
    assert type(clf.predict(texts[:1], k=2)[0][0]) is type(labels.tolist()[0])
    assert clf.score(texts, labels) > 0.8
    assert clf.test(texts, labels)[0] == len(texts)
    clf.save(tmp_path / "m.npz")
    for other in (msopt.TextClassifier.load(tmp_path / "m.npz"), _roundtrip(clf)):
        _same_arrays(other.predict(texts), pred)


@pytest.mark.parametrize("Est", [msopt.LogisticRegression, msopt.LinearSVC])
def test_estimator_labels_keep_their_type(rng, Est):
    X = rng.standard_normal((60, 3))
    for y in ((X[:, 0] > 0) * 7 - 3, np.where(X[:, 0] > 0, "yes", "no")):
        pred = Est(max_iter=20, random_state=0, tol=None).fit(X, y).predict(X)
        assert pred.dtype.kind == y.dtype.kind
        assert set(pred.tolist()) <= set(y.tolist())


# -- repr --------------------------------------------------------------------------------
def test_reprs():
    assert repr(msopt.Word2Vec()) == "Word2Vec(dim=100, window=5, sg=1)"
    assert repr(msopt.Word2Vec(sg=0, vector_size=50)) == "Word2Vec(dim=50, window=5, sg=0)"
    m = msopt.Word2Vec(CORPUS, dim=8, min_count=1, epochs=1, threads=1)
    assert repr(m) == ("Word2Vec(dim=8, window=5, sg=1, min_count=1, epochs=1, threads=1, "
                       "vocab=9 words, trained)")
    assert repr(m.wv) == "KeyedVectors(9 words, dim=8)"
    assert repr(msopt.TextClassifier(neg=3)) == ("TextClassifier(dim=100, loss='softmax', "
                                                 "negative=3)")
    clf, _ = _fitted_classifier()
    assert repr(clf).endswith("classes=3, vocab=10 words)")
    assert repr(Vocabulary()) == "Vocabulary(not fitted)"
    assert repr(msopt.EmbeddingBag(10, 4)) == ("EmbeddingBag(10, 4, mode='mean', "
                                               "optimizer='adam', lr=0.001)")
    assert repr(msopt.LinearModel(5, 2, "softmax", l2=0.1, dtype=np.float32)) == (
        "LinearModel(5, 2, 'softmax', optimizer='adam', lr=0.01, l2=0.1, dtype=float32)")
    assert repr(msopt.LogisticRegression(C=2.0)) == "LogisticRegression(C=2.0)"
    assert repr(msopt.LinearRegression()) == "LinearRegression()"


# -- help --------------------------------------------------------------------------------
PUBLIC_CLASSES = [msopt.Word2Vec, msopt.KeyedVectors, msopt.TextClassifier, Vocabulary,
                  msopt.EmbeddingBag, msopt.LinearModel, msopt.LinearRegression,
                  msopt.LogisticRegression, msopt.LinearSVC]


def _parameters_section(doc):
    m = re.search(r"\n\s*Parameters\n\s*-{10,}\n(.*?)(?:\n\s*\n\s*[A-Z][a-z]+\n\s*-{5,}\n|$)",
                  doc, re.S)
    assert m, "no numpydoc Parameters section"
    return m.group(1)


@pytest.mark.parametrize("cls", PUBLIC_CLASSES, ids=lambda c: c.__name__)
def test_help_lists_every_parameter_and_alias(cls):
    section = _parameters_section(inspect.getdoc(cls))
    names = [n for n, p in inspect.signature(cls.__init__).parameters.items()
             if n != "self" and p.kind not in (p.VAR_KEYWORD, p.VAR_POSITIONAL)]
    aliases = list(getattr(cls.__init__, "__aliases__", {}))
    missing = [n for n in names + aliases if not re.search(rf"\b{n}\b", section)]
    assert not missing
    import pydoc

    assert "Parameters" in pydoc.render_doc(cls, renderer=pydoc.plaintext)


# -- scikit-learn ------------------------------------------------------------------------
def test_text_classifier_with_sklearn():
    pytest.importorskip("sklearn")
    from sklearn.base import clone, is_classifier
    from sklearn.exceptions import NotFittedError
    from sklearn.model_selection import GridSearchCV, cross_val_score
    from sklearn.utils.validation import check_is_fitted

    texts, y = _texts(90)
    clf = msopt.TextClassifier(dim=8, buckets=200, epochs=10, lr=0.5, threads=1, seed=1)
    assert is_classifier(clf)
    twin = clone(clf)
    assert twin is not clf
    assert twin.get_params() == clf.get_params()
    assert clf.get_params(deep=False) == clf.get_params(deep=True)
    with pytest.raises(NotFittedError):
        check_is_fitted(clf)
    assert clf.fit(texts, y) is clf
    check_is_fitted(clf)
    assert not hasattr(twin, "classes_")  # clone does not copy the fit
    scores = cross_val_score(clf, texts, y, cv=3)
    assert scores.shape == (3,)
    assert scores.min() > 0.8
    search = GridSearchCV(clf, {"dim": [4, 8], "neg": [2, 3]},
                          cv=3).fit(texts, y)
    assert search.best_params_["dim"] in (4, 8)
    assert search.best_estimator_.predict(texts[:3]).dtype.kind == "i"
    assert clf.set_params(epoch=3, dim=6) is clf
    assert (clf.get_params()["epochs"], clf.get_params()["dim"]) == (3, 6)
    assert (clf.epochs, clf.dim) == (3, 8)  # the fitted table's width until the next fit
    with pytest.raises(TypeError, match="did you mean 'dim'"):
        clf.set_params(dimm=3)


def test_text_classifier_init_only_stores_arguments():
    clf = msopt.TextClassifier(dim=0, lr="fast")  # checked by fit, as scikit-learn asks
    assert (clf.dim, clf.lr) == (0, "fast")
    texts, y = _texts()
    with pytest.raises(ValueError, match="dim: must be >= 1"):
        clf.fit(texts, y)


@pytest.mark.parametrize(("make", "error", "match"), [
    (lambda: msopt.Word2Vec(dim="10"), TypeError, "dim: expected an int"),
    (lambda: msopt.Word2Vec(dim=0), ValueError, "dim: must be >= 1"),
    (lambda: msopt.Word2Vec(lr=float("nan")), ValueError, "lr: must be finite"),
    (lambda: msopt.Word2Vec(lr="0.1"), TypeError, "lr: expected a number"),
    (lambda: msopt.Word2Vec(lower="yes"), TypeError, "lower: expected a bool"),
    (lambda: Vocabulary(min_count=1.5), TypeError, "min_count: expected an int"),
    (lambda: Vocabulary(min_count=0), ValueError, "min_count: must be >= 1"),
    (lambda: msopt.EmbeddingBag(10, "4"), TypeError, "dim: expected an int"),
    (lambda: msopt.LinearModel(3, l2="big"), TypeError, "l2: expected a number"),
    (lambda: msopt.LinearModel(3, l2=-1.0), ValueError, "l2: must be finite and >= 0"),
    (lambda: msopt.LogisticRegression(C="1").fit(np.eye(2), [0, 1]), TypeError,
     "C: expected a number"),
    (lambda: msopt.LogisticRegression(max_iter=0).fit(np.eye(2), [0, 1]), ValueError,
     "max_iter: must be >= 1"),
    (lambda: msopt.LinearRegression(alpha=-1.0).fit(np.eye(2), [0, 1]), ValueError,
     "alpha: must be finite and >= 0"),
])
def test_type_error_for_types_value_error_for_values(make, error, match):
    with pytest.raises(error, match=match):
        make()


def test_estimator_errors_are_msopt_and_sklearn_classes_and_pickle():
    with pytest.raises(msopt.NotFittedError) as info:
        msopt.LinearSVC().decision_function(np.eye(2))
    err = info.value
    assert type(err).__name__ == "NotFittedError"
    back = pickle.loads(pickle.dumps(err))
    assert type(back) is msopt.NotFittedError
    assert back.args == err.args
    sklearn = pytest.importorskip("sklearn")
    assert isinstance(err, sklearn.exceptions.NotFittedError)


def _with_old_names(path, renames):
    """Rewrite a saved model's params as a file of the earlier API would hold them."""
    import json

    with np.load(path, allow_pickle=False) as f:
        members = dict(f)
    params = json.loads(str(members["params"]))
    members["params"] = np.array(json.dumps({renames.get(k, k): v for k, v in params.items()}))
    with open(path, "wb") as f:
        np.savez(f, **members)


def test_files_with_the_earlier_names_still_load(tmp_path):
    m = msopt.Word2Vec(CORPUS, dim=8, min_count=1, epochs=1, threads=1, lr=0.03)
    m.save(tmp_path / "w.npz")
    _with_old_names(tmp_path / "w.npz", {"dim": "vector_size", "threads": "workers",
                                         "lr": "alpha", "min_lr": "min_alpha"})
    n = msopt.Word2Vec.load(tmp_path / "w.npz")
    assert n.get_params() == m.get_params()
    _same_arrays(n.wv.vectors, m.wv.vectors)
    clf, texts = _fitted_classifier(negative=3)
    clf.save(tmp_path / "c.npz")
    _with_old_names(tmp_path / "c.npz", {"negative": "neg", "threads": "workers"})
    back = msopt.TextClassifier.load(tmp_path / "c.npz")
    assert back.get_params() == clf.get_params()
    _same_arrays(back.predict(texts), clf.predict(texts))


PAIRS_A = ["a cat sat on the mat", "the dog ran", "a man plays a guitar", "two kids play"] * 3
PAIRS_B = ["the cat is on a mat", "a dog runs", "someone plays music", "children play"] * 3
# Each model fitted with some parameters given as NumPy scalars (a grid from np.arange).
NUMPY_PARAMS = [
    ("LanguageModel", lambda: msopt.LanguageModel(
        context=np.int64(3), dim=np.int64(8), hidden=16, epochs=np.int64(1), lr=np.float32(3e-3),
        threads=1).fit("the cat sat on the mat. " * 30)),
    ("Word2Vec", lambda: msopt.Word2Vec([s.split() for s in CORPUS], dim=np.int64(8),
                                        epochs=1, alpha=np.float32(0.025), min_count=1,
                                        threads=1)),
    ("Doc2Vec", lambda: msopt.Doc2Vec([s.split() for s in CORPUS], dim=np.int64(8), epochs=1,
                                      min_count=np.int64(1), threads=1)),
    ("TextClassifier", lambda: _fitted_classifier(lr=np.float32(0.5), dim=np.int64(8))[0]),
    ("SentenceEncoder", lambda: msopt.SentenceEncoder(
        dim=np.int64(8), epochs=1, lr=np.float32(3e-3), threads=1).fit(PAIRS_A, PAIRS_B)),
    ("AnswerRanker", lambda: msopt.AnswerRanker(C=np.float32(1.0)).fit(
        ["who wrote it", "who wrote it", "where is it", "where is it"] * 2,
        ["he wrote it", "it is blue", "it is in paris", "he ran"] * 2, [1, 0, 1, 0] * 2)),
]


@pytest.mark.parametrize("make", [m for _, m in NUMPY_PARAMS],
                         ids=[n for n, _ in NUMPY_PARAMS])
def test_numpy_scalar_parameters_save_load_and_pickle(make, tmp_path):
    model = make()
    path = tmp_path / "model.npz"
    model.save(path)
    loaded = type(model).load(path)
    copied = pickle.loads(pickle.dumps(model))
    for other in (loaded, copied):
        for k, v in model.get_params().items():
            if k in ("callbacks", "encoder", "doc2vec", "word_vectors"):
                continue
            got = other.get_params()[k]
            assert got == v, k
            # the file keeps the number a NumPy scalar holds, as a Python number
            assert other is copied or not isinstance(got, np.generic), k


# -- set_params on a fitted model ---------------------------------------------------------
LM_TEXT = "the cat sat on the mat. the dog sat on the log. " * 20
W2V_CORPUS = [s.split() for s in CORPUS]
TC_TEXTS, TC_LABELS = _texts()
# model, a structural change (its arrays are made for it), what the model predicts, the call
# that fits anew, one that fails before fitting, and a shape the structural change changes
STAGED = {
    "LanguageModel": (
        lambda: msopt.LanguageModel(context=4, dim=8, hidden=16, epochs=1,
                                    threads=1).fit(LM_TEXT),
        {"dim": 12, "context": 6},
        lambda m: m.perplexity("the cat sat on the log"),
        lambda m: m.fit(LM_TEXT), lambda m: m.fit("ab"),
        lambda m: m.params_[0].shape),
    "Word2Vec": (
        lambda: msopt.Word2Vec(W2V_CORPUS, dim=8, min_count=1, epochs=1, threads=1),
        {"dim": 12, "min_count": 2},
        lambda m: m.wv.vectors.copy(),
        lambda m: m.build_vocab(W2V_CORPUS), lambda m: m.build_vocab([]),
        lambda m: m.wv.vectors.shape),
    "Doc2Vec": (
        lambda: msopt.Doc2Vec(W2V_CORPUS, dim=8, min_count=1, epochs=1, threads=1),
        {"dim": 12, "dm": 1},
        lambda m: m.infer_vectors([["the", "cat", "sat"]], seed=1)[0],
        lambda m: m.build_vocab(W2V_CORPUS), lambda m: m.build_vocab([]),
        lambda m: m.vectors.shape),
    "TextClassifier": (
        lambda: _fitted_classifier()[0],
        {"dim": 12, "ngrams": 2, "loss": "ova"},
        lambda m: m.predict_proba(TC_TEXTS),
        lambda m: m.fit(TC_TEXTS, TC_LABELS), lambda m: m.fit([], []),
        lambda m: m.input_.shape),
    "SentenceEncoder": (
        lambda: msopt.SentenceEncoder(dim=8, buckets=50, epochs=1, threads=1).fit(
            PAIRS_A, PAIRS_B),
        {"dim": 12, "buckets": 70},
        lambda m: m.encode(PAIRS_A),
        lambda m: m.fit(PAIRS_A, PAIRS_B), lambda m: m.fit([], []),
        lambda m: m.params_[0].shape),
}
QUESTIONS = ["who wrote it", "who wrote it", "where is it", "where is it"] * 2
ANSWERS = ["he wrote it", "it is blue", "it is in paris", "he ran"] * 2


@pytest.mark.parametrize("name", list(STAGED))
def test_set_params_of_a_fitted_model_waits_for_the_next_fit(name, tmp_path):
    from sklearn.base import clone

    make, change, predict, refit, bad_refit, shape = STAGED[name]
    model = make()
    before, before_shape = predict(model), shape(model)
    fitted = {k: getattr(model, k) for k in change}
    model.set_params(**change, threads=2)
    want = {**model.get_params(), **change, "threads": 2}
    assert model.get_params() == want
    assert model.threads == 2
    assert {k: getattr(model, k) for k in change} == fitted
    assert "next_fit=" in repr(model)
    # the model predicts, saves and pickles as fitted, and keeps the change for later
    np.testing.assert_array_equal(predict(model), before)
    model.save(tmp_path / "m.npz")
    for other in (type(model).load(tmp_path / "m.npz"), pickle.loads(pickle.dumps(model))):
        assert other.get_params() == {k: v for k, v in want.items() if k != "callbacks"} | {
            "callbacks": other.get_params()["callbacks"]}
        np.testing.assert_array_equal(predict(other), before)
    assert clone(model).get_params()["dim"] == 12  # a clone is made with the new values
    # a fit that fails before fitting anything keeps the model and the change as they were
    with pytest.raises((ValueError, TypeError)):
        bad_refit(model)
    assert model.get_params() == want
    assert shape(model) == before_shape
    np.testing.assert_array_equal(predict(model), before)
    # setting a value back to the fitted one drops it from the change
    model.set_params(dim=fitted["dim"])
    assert model.get_params()["dim"] == fitted["dim"]
    model.set_params(dim=12)
    refit(model)
    assert shape(model)[-1] == 12
    assert "next_fit=" not in repr(model)
    assert {k: getattr(model, k) for k in change} == change


def test_set_params_with_one_unknown_name_changes_nothing():
    model = msopt.Word2Vec(dim=8, window=5)
    with pytest.raises(TypeError, match="unexpected keyword argument 'windw'"):
        model.set_params(window=3, windw=2)
    assert model.window == 5


def _no_stop(*args, **kwargs):
    return False


def test_pickle_keeps_callbacks_and_starting_vectors():
    lm = msopt.LanguageModel(context=3, dim=8, hidden=16, epochs=1, threads=1,
                             callbacks=[_no_stop]).fit(LM_TEXT)
    assert pickle.loads(pickle.dumps(lm)).callbacks == [_no_stop]
    w2v = msopt.Word2Vec(W2V_CORPUS, dim=8, min_count=1, epochs=1, threads=1)
    enc = msopt.SentenceEncoder(dim=8, epochs=1, threads=1, callbacks=[_no_stop],
                                word_vectors=w2v).fit(PAIRS_A, PAIRS_B)
    copy = pickle.loads(pickle.dumps(enc))
    assert copy.callbacks == [_no_stop]
    np.testing.assert_array_equal(copy.word_vectors.wv.vectors, w2v.wv.vectors)


@pytest.mark.parametrize("call", [
    lambda lm: lm.generate("the", adapt=True, lrr=5),
    lambda lm: lm.score("the cat", adapt=True, stepz=1),
    lambda lm: lm.token_losses("the cat", segmnt=3)])
def test_a_misspelt_adaptation_option_is_refused(call):
    lm = msopt.LanguageModel(context=3, dim=8, hidden=16, epochs=1, threads=1).fit(LM_TEXT)
    with pytest.raises(TypeError, match="unexpected keyword argument .*; did you mean"):
        call(lm)


@pytest.mark.parametrize("call", [
    lambda lm: lm.generate("the", lr=-5), lambda lm: lm.score("the cat", steps=-1),
    lambda lm: lm.perplexity("the cat", lr=-1)])
def test_adaptation_options_are_checked_without_adapt_too(call):
    lm = msopt.LanguageModel(context=3, dim=8, hidden=16, epochs=1, threads=1).fit(LM_TEXT)
    with pytest.raises(ValueError, match="^(lr|steps): must be"):
        call(lm)


def test_answer_ranker_scores_with_the_bm25_it_was_fitted_with(tmp_path):
    ranker = msopt.AnswerRanker().fit(QUESTIONS, ANSWERS, [1, 0, 1, 0] * 2)
    before = ranker.score(QUESTIONS, ANSWERS)
    ranker.set_params(k1=5.0, b=0.0, C=2.0)
    assert ranker.C == 2.0
    assert (ranker.k1, ranker.b) == (1.2, 0.75)
    np.testing.assert_array_equal(ranker.score(QUESTIONS, ANSWERS), before)
    ranker.save(tmp_path / "r.npz")
    loaded = msopt.AnswerRanker.load(tmp_path / "r.npz")
    assert (loaded.get_params()["k1"], loaded.k1) == (5.0, 1.2)
    np.testing.assert_array_equal(loaded.score(QUESTIONS, ANSWERS), before)
    ranker.fit(QUESTIONS, ANSWERS, [1, 0, 1, 0] * 2)
    assert (ranker.k1, ranker.b) == (5.0, 0.0)


def test_a_vocabulary_encodes_as_it_was_built():
    vocab = Vocabulary(min_count=1).fit(["a b b Dog"])
    ids = vocab.encode(["Dog a"])[0].tolist()
    vocab.set_params(lower=True)
    assert vocab.encode(["Dog a"])[0].tolist() == ids
    assert vocab.get_params()["lower"] is True
    assert vocab.fit(["A b"]).words == ["a", "b"]


def test_set_params_during_a_first_fit_waits_for_the_next(tmp_path):
    def shrink(model, progress):
        model.set_params(context=2, lr=0.01)
        return False

    lm = msopt.LanguageModel(context=4, dim=8, hidden=16, epochs=2, threads=1,
                             callbacks=[shrink]).fit(LM_TEXT)
    assert lm.context == 4
    assert lm.lr == 0.01
    assert lm.get_params()["context"] == 2
    p = lm.perplexity("the cat sat")
    lm.save(tmp_path / "m.npz")
    assert msopt.LanguageModel.load(tmp_path / "m.npz").perplexity("the cat sat") == p


def test_save_refuses_a_value_load_would_refuse(tmp_path):
    lm = msopt.LanguageModel(context=3, dim=8, hidden=16, epochs=1, threads=1).fit(LM_TEXT)
    lm.set_params(kneser_ney_weight=2.0)
    with pytest.raises(ValueError, match="kneser_ney_weight"):
        lm.save(tmp_path / "m.npz")
    assert not (tmp_path / "m.npz").exists()
    w2v = msopt.Word2Vec(W2V_CORPUS, dim=8, min_count=1, epochs=1, threads=1)
    w2v.set_params(window=0)
    with pytest.raises(ValueError, match="window"):
        w2v.save(tmp_path / "w.npz")


def test_tags_past_the_first_are_given_by_keyword():
    d2v = msopt.Doc2Vec(W2V_CORPUS, dim=8, min_count=1, epochs=1, threads=1)
    with pytest.raises(TypeError, match="by keyword"):
        d2v.dv.most_similar(0, 5)
    assert len(d2v.dv.most_similar(0, topn=5)) == 5
