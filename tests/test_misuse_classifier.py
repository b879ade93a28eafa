"""What new users ran into with TextClassifier and the linear models: one label shape for
read_labeled, fit, score, test and predict (multi-label included), defaults that fit in
memory, labels that keep their type, class ids of the layer, other libraries' keyword names,
and every estimator's parameters in its help()."""

from __future__ import annotations

import inspect
import os
import pickle
import re
from pathlib import Path

import numpy as np
import pytest

import msopt
from msopt import _api
from msopt.text import read_labeled

DATA = Path(os.environ.get("MSOPT_DATA", Path(__file__).resolve().parents[2] / "shared" / "data"))
TREC = DATA / "trec"

LINES = ["__label__ABBR what does nasa stand for", "__label__DESC how does a magnet work",
         "__label__ABBR what is the abbreviation of usa", "__label__DESC why is the sky blue"]


def _small(**kw):
    return msopt.TextClassifier(**{"dim": 8, "epochs": 20, "lr": 0.5, "threads": 1, **kw})


def _keyword_docs(n, seed):
    """Documents of filler words holding keyword ka (label a), kb (b), or both."""
    rng = np.random.default_rng(seed)
    texts, labels = [], []
    for _ in range(n):
        which = [["a"], ["b"], ["a", "b"]][int(rng.integers(0, 3))]
        words = [f"w{i}" for i in rng.integers(0, 30, 4)] + [f"k{x}" for x in which]
        rng.shuffle(words)
        texts.append(" ".join(words))
        labels.append(which)
    return texts, labels


# -- 1. one label shape ------------------------------------------------------------------
def test_read_labeled_then_fit_trains_on_the_label_names():
    texts, labels = read_labeled(LINES * 20)
    assert labels[:2] == [["ABBR"], ["DESC"]]
    clf = _small().fit(texts, labels)
    assert clf.classes_.tolist() == ["ABBR", "DESC"]
    assert _small().fit(LINES * 20).classes_.tolist() == ["ABBR", "DESC"]
    # The same classifier whichever form the labels come in.
    flat = [x[0] for x in labels]
    np.testing.assert_array_equal(_small().fit(texts, flat).input_, clf.input_)
    assert clf.predict(texts[:2]).tolist() == ["ABBR", "DESC"]


@pytest.mark.parametrize("form", ["lists", "names", "prefixed", "prefixed lists"])
def test_score_and_test_agree_on_every_label_form(form):
    texts, labels = read_labeled(LINES * 20)
    clf = _small().fit(texts, labels)
    given = {"lists": labels, "names": [x[0] for x in labels],
             "prefixed": [f"__label__{x[0]}" for x in labels],
             "prefixed lists": [[f"__label__{x[0]}"] for x in labels]}[form]
    acc = clf.score(texts, given)
    assert acc == 1.0
    assert clf.test(texts, given) == (len(texts), acc, acc)
    assert clf.test(LINES * 20) == (len(texts), acc, acc)


def test_labels_never_seen_are_refused_or_counted_alike_by_score_and_test():
    texts, labels = read_labeled(LINES * 5)
    clf = _small().fit(texts, labels)
    for call in (clf.score, clf.test):
        with pytest.raises(ValueError, match="labels: .* never seen in training"):
            call(texts, ["abbr"] * len(texts))  # another spelling: nothing matches
    some = [x[0] if i else "NEW" for i, x in enumerate(labels)]
    with pytest.warns(UserWarning, match="1 label.* never seen in training .*'NEW'.* misses"):
        acc = clf.score(texts, some)
    assert acc == pytest.approx((len(texts) - 1) / len(texts))
    with pytest.warns(UserWarning, match="never seen"):
        assert clf.test(texts, some)[1] == pytest.approx(acc)


def test_a_text_without_label_is_refused_everywhere():
    texts, labels = read_labeled(LINES * 5)
    clf = _small().fit(texts, labels)
    before = pickle.dumps(clf)
    bad = [[]] + labels[1:]
    with pytest.raises(ValueError, match=r"labels\[0\]: no label"):
        clf.score(texts, bad)
    with pytest.raises(ValueError, match=r"labels\[0\]: no label"):
        clf.test(texts, bad)
    with pytest.raises(ValueError, match=r"labels\[0\]: no label"):
        clf.partial_fit(texts, bad)
    with pytest.raises(ValueError, match="line 2 has 0 __label__"):
        clf.fit([LINES[0], "no label here"])
    assert pickle.dumps(clf) == before


def test_labels_of_the_wrong_type_are_named():
    with pytest.raises(TypeError, match=r"labels\[1\]: expected a label .* got dict"):
        _small().fit(["a b", "c d"], ["x", {"y": 1}])
    with pytest.raises(TypeError, match=r"labels\[0\]: expected a label .* got NoneType"):
        _small().fit(["a b", "c d"], [[None], ["x"]])


# -- multi-label ---------------------------------------------------------------------------
def test_ova_learns_several_labels_per_text():
    texts, labels = _keyword_docs(600, seed=0)
    clf = _small(loss="ova").fit(texts, labels)
    assert clf.classes_.tolist() == ["a", "b"]
    assert clf.class_counts_.tolist() == [sum("a" in x for x in labels),
                                          sum("b" in x for x in labels)]
    got, scores = clf.predict_top(["w1 ka w2 kb", "w1 ka w3", "kb w4"], k=-1, threshold=0.5)
    assert [sorted(x) for x in got] == [["a", "b"], ["a"], ["b"]]
    assert all((s >= 0.5).all() for s in scores)
    n, p, r = clf.test(texts, labels, k=-1, threshold=0.5)
    assert n == len(texts)
    assert p > 0.95
    assert r > 0.95


def test_softmax_with_several_labels_splits_the_probability():
    texts, labels = _keyword_docs(600, seed=1)
    clf = _small(loss="softmax").fit(texts, labels)
    p = clf.predict_proba(["ka kb"])[0]
    assert abs(p[0] - p[1]) < 0.3  # both classes are drawn for such texts
    assert clf.predict(["ka w1"]).tolist() == ["a"]


def test_multilabel_metrics_as_fasttext_defines_them():
    texts, labels = _keyword_docs(300, seed=2)
    clf = _small(loss="ova", epochs=2, lr=0.05).fit(texts, labels)  # not perfect
    proba = clf.predict_proba(texts)
    for k, threshold in [(1, 0.0), (2, 0.0), (2, 0.5), (-1, 0.4)]:
        hits = predicted = 0
        for row, gold in zip(proba, labels):
            order = np.argsort(-row, kind="stable")[: (k if k > 0 else None)]
            chosen = [clf.classes_[j] for j in order if row[j] >= threshold]
            predicted += len(chosen)
            hits += len(set(chosen) & set(gold))
        n, p, r = clf.test(texts, labels, k=k, threshold=threshold)
        gold_total = sum(map(len, labels))
        assert (n, r) == (len(texts), pytest.approx(hits / gold_total))
        assert p == pytest.approx(hits / predicted) if predicted else np.isnan(p)
    # score: the top label among the text's labels (precision at 1).
    top = clf.classes_[proba.argmax(1)]
    assert clf.score(texts, labels) == pytest.approx(np.mean([t in g for t, g in
                                                              zip(top, labels)]))


def test_a_multilabel_file_trains_like_the_lists(tmp_path):
    texts, labels = _keyword_docs(100, seed=3)
    path = tmp_path / "train.txt"
    path.write_text("".join(" ".join(f"__label__{x}" for x in g) + f" {t}\n"
                            for t, g in zip(texts, labels)), encoding="utf-8")
    a = _small(loss="ova").fit(path)
    b = _small(loss="ova").fit(*read_labeled(path))
    c = _small(loss="ova").fit(texts, labels)
    np.testing.assert_array_equal(a.output_, c.output_)
    np.testing.assert_array_equal(b.output_, c.output_)


# -- 2. defaults ---------------------------------------------------------------------------
def test_default_model_is_small_and_buckets_come_with_ngrams():
    texts, labels = read_labeled(LINES * 5)
    clf = msopt.TextClassifier(threads=1).fit(texts, labels)
    assert clf.ngrams == 1
    assert clf.input_.shape == (len(clf.vocab_), 100)
    big = msopt.TextClassifier(threads=1, ngrams=2, buckets=1000).fit(texts, labels)
    assert big.input_.shape == (len(big.vocab_) + 1000, 100)
    doc = msopt.TextClassifier.__doc__
    for option in ("dim :", "buckets :", "pretrained_vectors :"):
        section = doc[doc.index(option):][:700]
        assert re.search(r"bytes|MB|GB", section), option  # its memory cost is stated


def test_an_older_file_with_unused_buckets_loads(tmp_path):
    texts, labels = read_labeled(LINES * 5)
    clf = _small(buckets=50).fit(texts, labels)
    path = tmp_path / "m.npz"
    clf.save(path)
    with np.load(path) as f:
        arrays = dict(f)
    arrays["input"] = np.vstack([clf.input_, np.ones((50, 8), np.float32)])
    arrays["params"] = np.array(str(arrays["params"]).replace(
        ', "pretrained_vectors": null', ""))
    np.savez(tmp_path / "old.npz", **arrays)
    old = msopt.TextClassifier.load(tmp_path / "old.npz")
    np.testing.assert_array_equal(old.input_, clf.input_)
    assert old.pretrained_vectors is None
    np.testing.assert_array_equal(old.predict_proba(texts), clf.predict_proba(texts))


@pytest.mark.data
@pytest.mark.skipif(not TREC.exists(), reason="the TREC data (shared/data/trec) is absent")
def test_trec_with_the_defaults():
    def trec(name):
        texts, labels = [], []
        with open(TREC / name, encoding="latin-1") as f:
            for line in f:
                label, _, question = line.partition(" ")
                labels.append(label.split(":")[0])
                texts.append(question.strip())
        return texts, labels

    clf = msopt.TextClassifier(threads=1).fit(*trec("train_5500.label"))
    acc = clf.score(*trec("TREC_10.label"))
    print(f"TREC test accuracy at the defaults: {acc:.3f}, input table "
          f"{clf.input_.nbytes / 1e6:.1f} MB")
    assert acc >= 0.8
    assert clf.input_.nbytes < 10e6


# -- 3. labels keep their type -----------------------------------------------------------
@pytest.mark.parametrize("labels", [
    [0, 1] * 10, np.array([3, 7] * 10, np.int32), np.array([0, 1] * 10, dtype=object),
    [[0], [1]] * 10, [np.int64(0), np.int64(1)] * 10,
])
def test_integer_labels_come_back_as_integers(labels, tmp_path):
    texts = ["good film", "bad film"] * 10
    clf = _small().fit(texts, labels)
    assert clf.classes_.dtype.kind == "i"
    pred = clf.predict(texts[:2])
    assert pred.dtype.kind == "i"
    assert pred.tolist() == clf.classes_.tolist()
    top, _ = clf.predict_top(texts[0], k=2)
    assert all(type(x) is int for x in top)
    assert clf.predict(texts[:1], k=2)[0] == list(top)
    path = tmp_path / "m.npz"
    clf.save(path)
    assert msopt.TextClassifier.load(path).predict(texts[:2]).tolist() == pred.tolist()
    assert clf.score(texts, labels) == 1.0


def test_float_and_bool_labels_keep_their_type():
    texts = ["good film", "bad film"] * 10
    assert _small().fit(texts, [0.5, 1.5] * 10).predict(texts[:1]).dtype.kind == "f"
    assert _small().fit(texts, [True, False] * 10).predict(texts[:1]).dtype.kind == "b"
    mixed = _small().fit(texts, [1, "b"] * 10)  # a mix: read as str, as documented
    assert mixed.classes_.tolist() == ["1", "b"]


# -- 4. the layer's class ids --------------------------------------------------------------
@pytest.mark.parametrize("loss", ["logistic", "hinge"])
def test_layer_takes_plus_minus_one_and_whole_floats(loss):
    rng = np.random.default_rng(0)
    X = rng.standard_normal((16, 3))
    y01 = (X[:, 0] > 0).astype(int)
    runs = {}
    for name, y in [("ids", y01), ("pm1", 2 * y01 - 1), ("float", y01.astype(float)),
                    ("pm1 float", (2 * y01 - 1).astype(np.float32))]:
        m = msopt.LinearModel(3, 1, loss, optimizer="sgd", lr=0.1)
        runs[name] = (m.step(X, y), m.W.copy())
    for name, (loss_value, W) in runs.items():
        assert loss_value == runs["ids"][0], name
        np.testing.assert_array_equal(W, runs["ids"][1])


def test_layer_refuses_labels_it_cannot_read_and_says_how():
    X = np.ones((4, 3))
    m = msopt.LinearModel(3, 3, "softmax")
    before = pickle.dumps(m)
    with pytest.raises(IndexError, match=r"y\[0\] = -1 .* class ids 0 to 2, .*np.unique"):
        m.step(X, [-1, 0, 1, 2])
    with pytest.raises(TypeError, match="not whole numbers; real-valued targets take "
                                        "loss='squared'"):
        m.step(X, [0.5, 0.0, 1.0, 2.0])
    with pytest.raises(TypeError, match="got dtype <U1; map labels to ids with np.unique"):
        m.step(X, ["a", "b", "a", "b"])
    with pytest.raises(IndexError, match=r"y\[1\] = 2 .* 0 and 1 \(or -1 and \+1\)"):
        msopt.LinearModel(3, 1, "logistic").step(X, [1, 2, 0, 1])
    with pytest.raises(IndexError, match=r"y\[0\] = -1"):  # -1 with 0: not the +-1 form
        msopt.LinearModel(3, 1, "logistic").step(X, [-1, 0, 1, 1])
    assert pickle.dumps(m) == before
    m.step(X, np.array([0.0, 1.0, 2.0, 1.0]))  # whole floats: read as ids


# -- 6. scikit-learn habits -----------------------------------------------------------------
VALUES = {"lr": 0.1, "epochs": 3, "seed": 1, "threads": 2, "dim": 8, "batch_size": 4}


def _estimators():
    return [msopt.LogisticRegression, msopt.LinearSVC, msopt.LinearRegression,
            msopt.TextClassifier, msopt.Word2Vec, msopt.Doc2Vec, msopt.SentenceEncoder]


@pytest.mark.parametrize("cls", _estimators(), ids=lambda c: c.__name__)
def test_other_libraries_names_work_or_point_to_ours(cls):
    """For every concept the class has a parameter for, every other library's name for it
    is accepted (an alias) or answered with the real parameter's name; a thread count where
    the class has none points to msopt.set_num_threads."""
    names = cls._get_param_names()
    for group in _api.SYNONYMS:
        mine = [n for n in group if n in names]
        if group[0] not in VALUES or (not mine and group[0] != "threads"):
            continue
        for key in group:
            try:
                est = cls(**{key: VALUES[group[0]]})
            except TypeError as e:
                msg = str(e)
                if not mine:
                    assert "msopt.set_num_threads(n)" in msg, msg
                    continue
                assert re.search(rf"'{key}'; did you mean '({'|'.join(mine)})'\?", msg), msg
            else:
                assert VALUES[group[0]] in est.get_params().values(), (cls, key)


def test_the_hints_name_the_right_parameter():
    with pytest.raises(TypeError, match="'eta0'; did you mean 'learning_rate'"):
        msopt.LogisticRegression(eta0=0.1)
    with pytest.raises(TypeError, match="'max_iter'; did you mean 'epochs'"):
        msopt.TextClassifier(max_iter=3)
    with pytest.raises(TypeError, match="'n_jobs'; did you mean 'threads'"):
        msopt.TextClassifier(n_jobs=2)
    with pytest.raises(TypeError, match="'n_jobs'; msopt's thread count is set with "
                                        r"msopt.set_num_threads\(n\)"):
        msopt.LinearSVC(n_jobs=2)
    with pytest.raises(TypeError, match="'eta0'; did you mean 'lr'"):
        msopt.LinearModel(3, eta0=0.1)
    # Each takes the other's name as an alias.
    assert msopt.LogisticRegression(lr=0.5).learning_rate == 0.5
    assert msopt.TextClassifier(learning_rate=0.5).lr == 0.5
    assert repr(msopt.LinearModel(3, learning_rate=0.5)).endswith("lr=0.5)")


def _public_classes():
    out = []
    for name in sorted(msopt.__all__):
        obj = getattr(msopt, name)
        if (inspect.isclass(obj) and not issubclass(obj, BaseException)
                and not issubclass(obj, msopt.Optimizer)):
            out.append(obj)
    return out


def _documented(doc):
    """The names in a numpydoc Parameters section (``a, b : type`` lines)."""
    m = re.search(r"^Parameters\n-+\n(.*?)(?=^\w[\w ]*\n-+\n|\Z)", doc, re.S | re.M)
    assert m, "no Parameters section"
    names = set()
    for line in m.group(1).splitlines():
        head = re.match(r"^(\w+(?:\s*,\s*\w+)*)\s*(?::|$)", line)
        if head:
            names |= {x.strip() for x in head.group(1).split(",")}
    return names


@pytest.mark.parametrize("cls", _public_classes(), ids=lambda c: c.__name__)
def test_help_lists_every_parameter(cls):
    params = [p.name for p in inspect.signature(cls.__init__).parameters.values()
              if p.name != "self" and p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD)]
    missing = set(params) - _documented(inspect.getdoc(cls) or "")
    assert not missing, f"{cls.__name__}: {sorted(missing)} not under Parameters"


OPTIMIZER_CLASSES = [msopt.SGD, msopt.Adam, msopt.AdamW, msopt.Adagrad, msopt.RMSprop,
                     msopt.Lion]


@pytest.mark.parametrize("cls", OPTIMIZER_CLASSES, ids=lambda c: c.__name__)
def test_optimizer_help_lists_every_parameter_and_option(cls):
    params = [p.name for p in inspect.signature(cls.__init__).parameters.values()
              if p.name != "self" and p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD)]
    options = [p.name for p in inspect.signature(msopt.Optimizer.__init__).parameters.values()
               if p.kind == p.KEYWORD_ONLY]
    assert options == ["max_grad_norm", "nonfinite", "state_dtype", "block_size", "seed"]
    missing = set(params + options) - _documented(inspect.getdoc(cls) or "")
    assert not missing, f"{cls.__name__}: {sorted(missing)} not under Parameters"
    assert "{" + "options}" not in (cls.__doc__ or "")


def test_the_estimators_are_among_the_classes_checked():
    names = {c.__name__ for c in _public_classes()}
    assert {"LogisticRegression", "LinearSVC", "LinearRegression", "LinearModel",
            "TextClassifier"} <= names
