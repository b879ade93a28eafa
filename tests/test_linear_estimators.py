"""The scikit-learn style estimators: quality against scikit-learn and closed forms,
convergence checks, the API, and bad input."""

from __future__ import annotations

import pickle
import warnings

import numpy as np
import pytest

import msopt

sklearn = pytest.importorskip("sklearn", reason="scikit-learn provides the data sets and peers")
sp = pytest.importorskip("scipy.sparse")
from sklearn import datasets  # noqa: E402
from sklearn.model_selection import train_test_split  # noqa: E402
from sklearn.preprocessing import StandardScaler  # noqa: E402


def _split(loader):
    X, y = loader(return_X_y=True)
    Xtr, Xte, ytr, yte = train_test_split(X, y, test_size=0.25, random_state=0, stratify=y)
    sc = StandardScaler().fit(Xtr)
    return sc.transform(Xtr), sc.transform(Xte), ytr, yte


@pytest.mark.parametrize("loader", [datasets.load_breast_cancer, datasets.load_digits],
                         ids=["breast_cancer", "digits"])
def test_accuracy_within_half_a_point_of_lbfgs(loader):
    from sklearn.linear_model import LogisticRegression as SkLR

    Xtr, Xte, ytr, yte = _split(loader)
    ref = SkLR(C=1.0, max_iter=10_000).fit(Xtr, ytr).score(Xte, yte)
    clf = msopt.LogisticRegression(C=1.0, max_iter=300, tol=None,
                                   learning_rate_schedule="linear", random_state=0)
    got = clf.fit(Xtr, ytr).score(Xte, yte)
    assert got >= ref - 0.005, (got, ref)


def test_diabetes_matches_least_squares():
    X, y = datasets.load_diabetes(return_X_y=True)
    X = StandardScaler().fit_transform(X)
    sol = np.linalg.lstsq(np.column_stack([X, np.ones(len(X))]), y, rcond=None)[0]
    reg = msopt.LinearRegression(optimizer="sgd", learning_rate=0.1, batch_size=None,
                                 optimizer_params={"momentum": 0.9}, max_iter=3000, tol=None,
                                 random_state=0).fit(X, y)
    np.testing.assert_allclose(reg.coef_, sol[:-1], rtol=1e-4)
    assert reg.intercept_ == pytest.approx(sol[-1], rel=1e-4)


def test_l1_penalty_gives_exact_zeros():
    """Full-batch proximal gradient (ISTA) reaches the lasso-logistic solution's sparsity:
    liblinear zeroes 36 of these 40 weights at C=0.05."""
    X, y = datasets.make_classification(400, 40, n_informative=4, n_redundant=0,
                                        random_state=0)
    clf = msopt.LogisticRegression(penalty="l1", C=0.05, optimizer="sgd", learning_rate=0.5,
                                   batch_size=None, max_iter=500, tol=None,
                                   random_state=0).fit(X, y)
    zeros = int(np.sum(clf.coef_ == 0.0))
    assert 33 <= zeros <= 39, zeros
    assert clf.score(X, y) > 0.7


@pytest.mark.parametrize("cls", [msopt.LogisticRegression, msopt.LinearSVC])
def test_multiclass_and_binary_shapes(cls):
    X, y = datasets.load_iris(return_X_y=True)
    X = StandardScaler().fit_transform(X)
    clf = cls(random_state=0, max_iter=50, tol=None).fit(X, y)
    assert clf.coef_.shape == (3, 4)
    assert clf.intercept_.shape == (3,)
    assert clf.decision_function(X).shape == (150, 3)
    assert clf.score(X, y) > 0.85
    names = np.array(["no", "yes"])[(y > 0).astype(int)]
    clf = cls(random_state=0, max_iter=50, tol=None).fit(X, names)
    assert clf.coef_.shape == (1, 4)
    assert set(clf.predict(X)) <= {"no", "yes"}
    assert clf.decision_function(X).shape == (150,)


def test_predict_proba():
    X, y = datasets.load_iris(return_X_y=True)
    clf = msopt.LogisticRegression(random_state=0, max_iter=50, tol=None).fit(X, y)
    p = clf.predict_proba(X)
    np.testing.assert_allclose(p.sum(1), 1.0)
    np.testing.assert_array_equal(clf.classes_[p.argmax(1)], clf.predict(X))
    assert not hasattr(msopt.LinearSVC(), "predict_proba")


def test_csr_gives_the_dense_result():
    X, y = datasets.make_classification(300, 20, random_state=1)
    X[np.abs(X) < 0.8] = 0.0
    a = msopt.LogisticRegression(random_state=3, max_iter=20, tol=None).fit(X, y)
    b = msopt.LogisticRegression(random_state=3, max_iter=20, tol=None).fit(
        sp.csr_matrix(X), y)
    np.testing.assert_allclose(a.coef_, b.coef_, rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(a.predict_proba(X), b.predict_proba(sp.csr_matrix(X)))


def test_float32_input_trains_in_float32():
    X, y = datasets.make_regression(200, 5, noise=0.1, random_state=0)
    reg = msopt.LinearRegression(optimizer="sgd", learning_rate=0.05, random_state=0,
                                 max_iter=50, tol=None).fit(X.astype(np.float32), y)
    assert reg._model.dtype == np.float32
    assert reg.score(X, y) > 0.99


def test_fixed_seed_repeats_exactly():
    X, y = datasets.make_classification(500, 10, random_state=0)
    a = msopt.LogisticRegression(random_state=5, max_iter=10, tol=None).fit(X, y).coef_
    b = msopt.LogisticRegression(random_state=5, max_iter=10, tol=None).fit(X, y).coef_
    c = msopt.LogisticRegression(random_state=6, max_iter=10, tol=None).fit(X, y).coef_
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, c)


def test_tol_stops_with_a_reason_and_history():
    X, y = datasets.make_classification(500, 10, random_state=0)
    clf = msopt.LogisticRegression(random_state=0, tol=1e-3, n_iter_no_change=3,
                                   max_iter=500).fit(X, y)
    assert clf.stop_reason_.startswith("converged: relative objective change")
    assert clf.n_iter_ < 500
    assert len(clf.history_) == clf.n_iter_
    assert all(np.isfinite(h["loss"]) for h in clf.history_)


def test_max_iter_warns_and_can_be_silenced():
    X, y = datasets.make_classification(200, 10, random_state=0)
    with pytest.warns(msopt.ConvergenceWarning, match="max_iter=2 reached"):
        clf = msopt.LogisticRegression(max_iter=2, tol=1e-12, random_state=0).fit(X, y)
    assert clf.stop_reason_ == "max_iter"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", msopt.ConvergenceWarning)
        msopt.LogisticRegression(max_iter=2, tol=1e-12, random_state=0).fit(X, y)


def test_early_stopping_restores_the_best_weights():
    X, y = datasets.make_classification(600, 20, flip_y=0.2, random_state=0)
    clf = msopt.LogisticRegression(early_stopping=True, n_iter_no_change=3, max_iter=200,
                                   learning_rate=0.05, random_state=0).fit(X, y)
    assert clf.stop_reason_.startswith("early stopping")
    scores = [h["val_score"] for h in clf.history_]
    assert clf.n_iter_ < 200
    assert max(scores) >= scores[-1]


def test_gradient_tolerance():
    X, y = datasets.make_regression(300, 5, noise=1.0, random_state=0)
    reg = msopt.LinearRegression(optimizer="sgd", learning_rate=0.1, batch_size=None, tol=None,
                                 gtol=1e-6, max_iter=5000, random_state=0).fit(X, y)
    assert reg.stop_reason_.startswith("converged: gradient norm")
    assert reg.history_[-1]["grad_norm"] <= 1e-6


def test_divergence_leaves_the_estimator_as_before_and_names_the_epoch():
    X, y = datasets.make_regression(200, 5, noise=1.0, random_state=0)
    reg = msopt.LinearRegression(optimizer="sgd", learning_rate=50.0, tol=None, max_iter=50,
                                 random_state=0)
    with pytest.raises(msopt.DivergenceError, match=r"epoch \d+.*as it was before.*"
                       r"smaller learning_rate"):
        reg.fit(X * 100, y)
    assert not hasattr(reg, "n_features_in_")  # a first fit that diverged: still unfitted
    with pytest.raises(msopt.NotFittedError):
        reg.predict(X)


def test_partial_fit_and_warm_start():
    X, y = datasets.make_classification(400, 8, random_state=0)
    clf = msopt.LogisticRegression(random_state=0)
    for _ in range(5):
        clf.partial_fit(X, y, classes=[0, 1])
    assert clf.n_iter_ == 5
    assert clf.score(X, y) > 0.8
    with pytest.raises(ValueError, match=r"labels \[7\] are not among classes"):
        clf.partial_fit(X[:3], [0, 7, 1])
    w = msopt.LogisticRegression(random_state=0, max_iter=3, tol=None, warm_start=True)
    w.fit(X, y)
    first = w.coef_.copy()
    w.fit(X, y)
    assert w.n_iter_ == 6
    assert not np.array_equal(first, w.coef_)


def test_callbacks_can_stop_the_fit():
    X, y = datasets.make_classification(200, 5, random_state=0)
    seen = []
    clf = msopt.LogisticRegression(random_state=0, tol=None, max_iter=100,
                                   callbacks=[lambda est, info: seen.append(info) or
                                              info["epoch"] >= 4]).fit(X, y)
    assert clf.n_iter_ == 4
    assert clf.stop_reason_ == "stopped by a callback"
    assert len(seen) == 4


@pytest.mark.parametrize("opt", ["sgd", "adam", "adamw", "adagrad", "rmsprop", "lion"])
def test_every_optimizer_fits(opt):
    X, y = datasets.make_classification(400, 10, random_state=0)
    lr = {"sgd": 0.1, "lion": 0.003}.get(opt, 0.01)
    clf = msopt.LogisticRegression(optimizer=opt, learning_rate=lr, random_state=0,
                                   max_iter=30, tol=None).fit(X, y)
    assert clf.score(X, y) > 0.85


def test_huber_resists_outliers():
    rng = np.random.default_rng(0)
    X = rng.standard_normal((300, 2))
    y = X @ [3.0, -1.0]
    y[:15] += 1000.0
    sq = msopt.LinearRegression(random_state=0, max_iter=100, tol=None).fit(X, y)
    hu = msopt.LinearRegression(loss="huber", random_state=0, max_iter=100, tol=None,
                                learning_rate=0.05).fit(X, y)
    assert np.abs(hu.coef_ - [3.0, -1.0]).max() < np.abs(sq.coef_ - [3.0, -1.0]).max()
    assert np.abs(hu.coef_ - [3.0, -1.0]).max() < 0.2


def test_get_set_params_and_pickle():
    clf = msopt.LogisticRegression(C=0.5)
    assert clf.get_params()["C"] == 0.5
    assert clf.set_params(C=2.0).C == 2.0
    X, y = datasets.make_classification(100, 4, random_state=0)
    clf.fit(X, y)
    again = pickle.loads(pickle.dumps(clf))
    np.testing.assert_array_equal(again.predict(X), clf.predict(X))


# -- bad input ----------------------------------------------------------------------------
def test_lengths_differ():
    with pytest.raises(ValueError, match="inconsistent numbers of samples"):
        msopt.LogisticRegression().fit(np.zeros((5, 2)), [0, 1, 0])


@pytest.mark.parametrize("bad", [np.nan, np.inf])
def test_nan_or_inf_in_X_or_y(bad):
    X = np.ones((4, 2))
    X[1, 1] = bad
    with pytest.raises(ValueError, match="X contains"):
        msopt.LogisticRegression().fit(X, [0, 1, 0, 1])
    with pytest.raises(ValueError, match="y contains"):
        msopt.LinearRegression().fit(np.ones((4, 2)), [0.0, bad, 1.0, 2.0])


def test_single_class():
    with pytest.raises(ValueError, match="at least 2 classes"):
        msopt.LogisticRegression().fit(np.ones((4, 2)), [1, 1, 1, 1])


def test_partial_fit_needs_classes_first():
    with pytest.raises(ValueError, match="classes: must be passed"):
        msopt.LogisticRegression().partial_fit(np.ones((4, 2)), [0, 1, 0, 1])


def test_csr_with_bad_columns_or_indptr():
    X, y = np.ones((3, 3)), [0, 1, 0]
    good = sp.csr_matrix(X)
    bad_col = sp.csr_matrix((good.data, good.indices.copy(), good.indptr), shape=(3, 3))
    bad_col.indices[2] = 7
    with pytest.raises((IndexError, ValueError), match="7"):
        msopt.LogisticRegression().fit(bad_col, y)
    bad_ptr = sp.csr_matrix((good.data, good.indices, good.indptr.copy()), shape=(3, 3))
    bad_ptr.indptr[1] = 8
    with pytest.raises(ValueError, match="indptr|index pointer"):
        msopt.LogisticRegression().fit(bad_ptr, y)


def test_predict_before_fit():
    with pytest.raises(msopt.NotFittedError, match="not fitted yet"):
        msopt.LogisticRegression().predict(np.ones((2, 2)))
    from sklearn.exceptions import NotFittedError

    with pytest.raises(NotFittedError):
        msopt.LinearRegression().predict(np.ones((2, 2)))


def test_feature_count_differs_at_predict():
    clf = msopt.LinearSVC(max_iter=3, tol=None).fit(np.random.default_rng(0).random((10, 4)),
                                          [0, 1] * 5)
    with pytest.raises(ValueError, match="X has 3 features, but LinearSVC is expecting 4"):
        clf.predict(np.ones((2, 3)))


@pytest.mark.parametrize(("kw", "match"), [
    (dict(optimizer="newton"), "optimizer"), (dict(C=0), "C: must be finite and > 0"),
    (dict(penalty="l3"), "penalty"), (dict(max_iter=0), "max_iter"),
    (dict(batch_size=0), "batch_size"), (dict(l1_ratio=2), "l1_ratio"),
])
def test_bad_parameters(kw, match):
    with pytest.raises(ValueError, match=match):
        msopt.LogisticRegression(**kw).fit(np.ones((4, 2)), [0, 1, 0, 1])


# -- from review: warm starts, rejected fits, divergence, streaming -----------------------
def test_warm_start_applies_changed_hyperparameters():
    X, y = datasets.make_regression(200, 4, noise=1.0, random_state=0)
    reg = msopt.LinearRegression(optimizer="sgd", learning_rate=0.05, max_iter=5, tol=None,
                                 warm_start=True, random_state=0).fit(X, y)
    reg.set_params(learning_rate=0.01)
    reg.fit(X, y)
    assert reg._model.optimizer.param_groups[0]["lr"] == 0.01
    before = reg.coef_.copy()
    reg.set_params(loss="huber")
    reg.fit(X, y)
    assert reg._model.loss == "huber"
    assert np.abs(reg.coef_ - before).max() < np.abs(before).max()  # started from the fit


def test_partial_fit_keeps_the_model_across_dtypes_and_refuses_new_outputs():
    X, y = datasets.make_classification(300, 5, random_state=0)
    clf = msopt.LogisticRegression(random_state=0)
    for _ in range(5):
        clf.partial_fit(X, y, classes=[0, 1])
    acc = clf.score(X, y)
    clf.partial_fit(X.astype(np.float32), y)
    assert clf.n_iter_ == 6
    assert clf.score(X, y) >= acc - 0.05
    reg = msopt.LinearRegression(random_state=0)
    reg.partial_fit(X, y.astype(float))
    with pytest.raises(ValueError, match="output column"):
        reg.partial_fit(X, np.column_stack([y, y]).astype(float))
    assert reg.predict(X).shape == (300,)


def test_rejected_fit_leaves_the_fitted_estimator_alone():
    X, y = datasets.make_classification(300, 5, random_state=0)
    clf = msopt.LogisticRegression(random_state=0, max_iter=20, tol=None).fit(X, y)
    coef, acc = clf.coef_.copy(), clf.score(X, y)
    with pytest.raises(ValueError, match="sample_weight"):
        clf.fit(X, y, sample_weight=-np.ones(300))
    with pytest.raises(ValueError, match="features"):
        clf.partial_fit(X[:, :3], y)
    np.testing.assert_array_equal(clf.coef_, coef)
    assert clf.score(X, y) == acc
    assert clf.n_features_in_ == 5


def test_divergence_restores_optimizer_state_too():
    X, y = datasets.make_regression(100, 3, noise=1.0, random_state=0)
    reg = msopt.LinearRegression(optimizer="sgd", optimizer_params={"momentum": 0.9},
                                 learning_rate=1e-3, batch_size=1, random_state=0, tol=None)
    reg.partial_fit(X, y)
    st = reg._model.optimizer.native_state()
    steps, buf = st.steps.copy(), st.states[0].copy()
    reg.set_params(learning_rate=100.0)
    with pytest.raises(msopt.DivergenceError):
        reg.partial_fit(X * 1e3, y)
    st = reg._model.optimizer.native_state()
    np.testing.assert_array_equal(st.steps, steps)
    np.testing.assert_array_equal(st.states[0], buf)


def test_streaming_penalty_matches_one_fit():
    X, y = datasets.make_classification(2000, 3, n_informative=3, n_redundant=0,
                                        random_state=0)
    full = msopt.LogisticRegression(C=0.01, random_state=0, max_iter=30, tol=None).fit(X, y)
    part = msopt.LogisticRegression(C=0.01, random_state=0)
    for _ in range(30):
        for s in range(0, 2000, 200):
            part.partial_fit(X[s:s + 200], y[s:s + 200], classes=[0, 1])
    np.testing.assert_allclose(part.coef_, full.coef_, rtol=0.3)


@pytest.mark.parametrize(("kw", "match"), [
    (dict(n_iter_no_change=0), "n_iter_no_change"), (dict(check_every=0), "check_every"),
    (dict(warmup_epochs=-1), "warmup_epochs"),
    (dict(penalty="l1"), "needs optimizer='sgd'"),
])
def test_more_bad_parameters(kw, match):
    with pytest.raises(ValueError, match=match):
        msopt.LogisticRegression(**kw).fit(np.ones((4, 2)), [0, 1, 0, 1])
