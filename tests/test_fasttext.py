"""TextClassifier (fastText style): the three losses against a NumPy twin, learning,
partial_fit, save/load, TREC accuracy (beside scikit-learn), awkward sizes and bad input."""

from __future__ import annotations

import json
import os
import re
import zipfile
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import msopt
from msopt import _core, reference

# The shared data sets sit beside the repository (shared/data), or where MSOPT_DATA says.
DATA = Path(os.environ.get("MSOPT_DATA", Path(__file__).resolve().parents[2] / "shared" / "data"))
TREC = DATA / "trec"
LOSSES = ["softmax", "ova", "ns"]
_trec_absent = pytest.mark.skipif(not TREC.exists(),
                                  reason="the TREC data (shared/data/trec) is absent")


def needs_trec(test):
    """Marks a test as needing the shared data (``-m data`` selects them) and skips it
    when TREC is absent."""
    return pytest.mark.data(_trec_absent(test))


def _toy(n=200):
    texts = ["good film", "great film", "bad film", "awful film"] * n
    labels = ["pos", "pos", "neg", "neg"] * n
    return texts, labels


def _keyword_corpus(n_classes, n_docs, seed):
    """Random documents of filler words; each holds one keyword of its class."""
    rng = np.random.default_rng(seed)
    filler = [f"w{i}" for i in range(50)]
    labels = rng.integers(0, n_classes, n_docs)
    texts = []
    for y in labels:
        words = list(rng.choice(filler, rng.integers(1, 8)))
        words.insert(int(rng.integers(0, len(words) + 1)), f"key{y}")
        texts.append(" ".join(words))
    return texts, [f"c{y}" for y in labels]


def _hidden(clf, texts):
    ids, offsets = clf.vocab_.encode(texts, ngrams=clf.ngrams, buckets=clf.buckets)
    ends = np.append(offsets[1:], len(ids))
    return np.array([clf.input_[ids[a:b]].astype(np.float64).mean(0) if b > a
                     else np.zeros(clf.dim) for a, b in zip(offsets, ends)])


# -- the native step against the NumPy reference ----------------------------------------
def _reference_doc_epochs(input, output, ids, y, loss, lr, epochs, neg):
    """One document trained for `epochs` epochs (so the rate is lr (1 - e / epochs)), in
    float64.  ns with two classes: the negatives are the other class, neg times."""
    input, output = input.astype(np.float64), output.astype(np.float64)
    negatives = [1 - y] * neg if loss == "ns" else []
    losses = [reference.text_classifier_doc(input, output, ids, y, loss, lr * (1 - e / epochs),
                                            negatives) for e in range(epochs)]
    return input, output, losses


@settings(max_examples=40, deadline=None)
@given(loss=st.sampled_from(LOSSES), dim=st.integers(1, 19), doc_len=st.integers(1, 9),
       classes=st.integers(2, 17), epochs=st.integers(1, 3), neg=st.integers(1, 6),
       seed=st.integers(0, 2**32 - 1))
def test_native_step_matches_numpy(loss, dim, doc_len, classes, epochs, neg, seed):
    if loss == "ns":
        classes = 2  # then every negative is the other class, as the twin assumes
    rng = np.random.default_rng(seed)
    rows = 12
    input = rng.uniform(-1, 1, (rows, dim)).astype(np.float32)
    output = rng.uniform(-1, 1, (classes, dim)).astype(np.float32)
    ids = rng.integers(0, rows, doc_len).astype(np.int64)  # repeats included
    y = int(rng.integers(0, classes))
    lr = float(rng.uniform(0.01, 1.0))
    want_in, want_out, want_loss = _reference_doc_epochs(input, output, ids, y, loss, lr,
                                                         epochs, neg)
    weights = rng.uniform(0.5, 3.0, classes)
    got = _core.fasttext_train(ids, np.zeros(1, np.int64), np.array([y], np.int32), input,
                               output, loss, weights, neg, lr, epochs, seed, 1)
    np.testing.assert_allclose(output, want_out, rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(input, want_in, rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(got, want_loss, rtol=1e-4, atol=1e-6)


@pytest.mark.parametrize("loss", LOSSES)
def test_predict_proba_is_softmax_or_sigmoids(loss):
    texts, labels = _keyword_corpus(17, 400, seed=1)
    clf = msopt.TextClassifier(dim=12, buckets=500, loss=loss, lr=0.5, epochs=10,
                               workers=1).fit(texts, labels)
    assert len(clf.classes_) == 17
    p = clf.predict_proba(texts[:50]).astype(np.float64)
    s = _hidden(clf, texts[:50]) @ clf.output_.T.astype(np.float64)
    if loss == "softmax":
        want = np.exp(s - s.max(1, keepdims=True))
        want /= want.sum(1, keepdims=True)
        np.testing.assert_allclose(p.sum(1), 1.0, rtol=1e-5)
    else:
        want = 1 / (1 + np.exp(-s))
        assert np.abs(p.sum(1) - 1).max() > 0.05  # sigmoids are not normalized
    np.testing.assert_allclose(p, want, rtol=1e-4, atol=1e-6)


def test_extreme_scores_give_finite_loss_and_probabilities():
    ids, offsets, y = np.array([0], np.int64), np.zeros(1, np.int64), np.array([0], np.int32)
    for loss in LOSSES:
        input = np.full((1, 4), 50.0, np.float32)
        output = np.array([[-50.0] * 4, [50.0] * 4], np.float32)  # scores -1e4 and 1e4
        p = _core.fasttext_predict_proba(ids, offsets, input, output, loss)
        assert np.isfinite(p).all()
        got = _core.fasttext_train(ids, offsets, y, input, output, loss, np.ones(2), 1, 1e-9,
                                   1, 0, 1)
        # softmax: log(e^1e4 + e^-1e4) + 1e4; ova, ns: -log sigmoid(-1e4) twice.
        np.testing.assert_allclose(got, [2e4], rtol=1e-12)


def test_ns_draws_classes_by_square_root_of_counts():
    """One ns step with many negatives at a tiny rate: each drawn class's row moves by
    about -lr sigmoid(s_k) h per draw, so the moves count the draws."""
    # Counts: a 0, b 1, c 9 (the first call), then one document of class a.
    clf = msopt.TextClassifier(dim=16, buckets=50, loss="ns", neg=4000, lr=1e-4, epochs=1,
                               workers=1, seed=4)
    clf.partial_fit(["x"] + ["z"] * 9, ["b"] + ["c"] * 9, classes=["a", "b", "c"])
    np.testing.assert_array_equal(clf.output_[0], 0.0)  # a had no weight: never drawn
    doc = ["x z"]
    h = _hidden(clf, doc)[0]
    sig = 1 / (1 + np.exp(-(clf.output_.astype(np.float64) @ h)))
    before = clf.output_.astype(np.float64)
    clf.partial_fit(doc, ["a"])
    moved = (clf.output_ - before) @ h / (h @ h) / clf.lr
    np.testing.assert_allclose(moved[0], 1 - sig[0], rtol=1e-2)  # one positive update of a
    draws = -moved[1:] / sig[1:]
    np.testing.assert_allclose(draws.sum(), 4000, rtol=1e-2)  # no draw was a
    assert 2.6 < draws[1] / draws[0] < 3.4  # sqrt(9) / sqrt(1) (counts alone would give 9)
    np.testing.assert_array_equal(clf.class_counts_, [1, 1, 9])


# -- learning ---------------------------------------------------------------------------
@pytest.mark.parametrize("loss", LOSSES)
def test_learns_and_predicts(loss):
    texts, labels = _toy()
    clf = msopt.TextClassifier(dim=8, buckets=1000, loss=loss, epochs=10, lr=0.5,
                               workers=1).fit(texts, labels)
    assert clf.score(texts, labels) == 1.0
    assert len(clf.loss_history_) == 10
    assert clf.loss_history_[-1] < clf.loss_history_[0] / 10
    assert clf.predict(["great film"], k=2) == [["pos", "neg"]]
    n, prec, rec = clf.test(texts, labels, k=1)
    assert (n, prec, rec) == (len(texts), 1.0, 1.0)
    assert clf.test(texts, labels, k=2)[1] == 0.5


@pytest.mark.parametrize("loss", LOSSES)
def test_seventeen_classes_and_two_workers(loss):
    texts, labels = _keyword_corpus(17, 2000, seed=2)
    for workers in (1, 2):
        clf = msopt.TextClassifier(dim=16, buckets=2000, loss=loss, lr=0.5, epochs=10,
                                   workers=workers, seed=3).fit(texts, labels)
        assert clf.score(texts, labels) == 1.0
        assert clf.predict_proba(texts).shape == (len(texts), 17)


@pytest.mark.parametrize("loss", LOSSES)
def test_one_worker_repeats_bit_for_bit(loss):
    texts, labels = _keyword_corpus(5, 300, seed=5)
    kw = dict(dim=8, buckets=100, loss=loss, epochs=3, workers=1, seed=1)
    a = msopt.TextClassifier(**kw).fit(texts, labels)
    b = msopt.TextClassifier(**kw).fit(texts, labels)
    c = msopt.TextClassifier(**{**kw, "seed": 2}).fit(texts, labels)
    np.testing.assert_array_equal(a.input_, b.input_)
    np.testing.assert_array_equal(a.output_, b.output_)
    assert a.loss_history_ == b.loss_history_
    assert not np.array_equal(a.output_, c.output_)


@pytest.mark.parametrize("loss", LOSSES)
def test_deterministic_mode_repeats_with_two_workers(loss):
    texts, labels = _keyword_corpus(7, 1500, seed=6)
    kw = dict(dim=8, buckets=300, loss=loss, lr=0.5, epochs=4, workers=2, seed=1,
              deterministic=True)
    a = msopt.TextClassifier(**kw).fit(texts, labels)
    b = msopt.TextClassifier(**kw).fit(texts, labels)
    np.testing.assert_array_equal(a.input_, b.input_)
    np.testing.assert_array_equal(a.output_, b.output_)
    assert a.loss_history_ == b.loss_history_
    assert a.score(texts, labels) == 1.0
    # One worker: the deterministic mode is the plain loop.
    one = {**kw, "workers": 1}
    c = msopt.TextClassifier(**one).fit(texts, labels)
    d = msopt.TextClassifier(**{**one, "deterministic": False}).fit(texts, labels)
    np.testing.assert_array_equal(c.input_, d.input_)
    with pytest.raises(TypeError, match="deterministic: expected a bool"):
        msopt.TextClassifier(deterministic=1).fit(texts, labels)


def test_fasttext_label_format(tmp_path):
    texts, labels = _toy(50)
    path = tmp_path / "train.txt"
    path.write_text("\n".join(f"__label__{y} {t}" for t, y in zip(texts, labels)),
                    encoding="utf-8")
    clf = msopt.TextClassifier(dim=8, buckets=100, epochs=5, lr=0.5, workers=1).fit(path)
    assert list(clf.classes_) == ["neg", "pos"]
    assert clf.test(path)[1] == 1.0


# -- awkward sizes ----------------------------------------------------------------------
def test_empty_documents():
    texts, labels = _toy(20)
    texts[3] = ""
    texts[7] = "   "
    for loss in LOSSES:
        clf = msopt.TextClassifier(dim=8, buckets=100, loss=loss, epochs=5, lr=0.5,
                                   workers=1).fit(texts, labels)
        p = clf.predict_proba(["", "unseen"])  # one unknown word: no id at all
        np.testing.assert_array_equal(p, 0.5 if loss != "softmax" else 1 / 2)
        assert np.isfinite(clf.loss_history_).all()
    assert clf.predict([]).shape == (0,)
    assert clf.predict_proba([]).shape == (0, 2)


def test_one_document_and_no_documents():
    clf = msopt.TextClassifier(dim=4, buckets=10, epochs=3, workers=1)
    with pytest.raises(ValueError, match="texts: no documents"):
        clf.fit([], [])
    with pytest.raises(ValueError, match="labels: at least 2 classes"):
        clf.fit(["good film"], ["pos"])
    clf.partial_fit(["good film"], ["pos"], classes=["neg", "pos"])
    assert clf.classes_.tolist() == ["neg", "pos"]
    assert len(clf.vocab_) == 2
    assert clf.class_counts_.tolist() == [0, 1]
    with pytest.raises(ValueError, match="texts: no documents"):
        clf.partial_fit([], [])
    with pytest.raises(ValueError, match="texts: no vocabulary can be built"):
        msopt.TextClassifier(buckets=10).fit(["", " "], ["a", "b"])
    with pytest.raises(ValueError, match="texts: no vocabulary can be built"):
        msopt.TextClassifier(buckets=10, min_count=3).fit(["a b", "c d"], ["a", "b"])


# -- partial_fit ------------------------------------------------------------------------
def _state(clf):
    return (clf.input_.copy(), clf.output_.copy(), clf.class_counts_.copy(),
            list(clf.loss_history_), clf.calls_, clf.vocab_.words)


def _assert_same_state(a, b):
    for x, y in zip(a, b):
        if isinstance(x, np.ndarray):
            np.testing.assert_array_equal(x, y)
        else:
            assert x == y


@pytest.mark.parametrize("loss", LOSSES)
def test_partial_fit_continues_the_same_tables(loss):
    texts, labels = _keyword_corpus(4, 400, seed=6)
    kw = dict(dim=8, buckets=300, loss=loss, epochs=5, lr=0.3, workers=1, seed=2)
    a = msopt.TextClassifier(**kw).partial_fit(texts[:200], labels[:200])
    b = msopt.TextClassifier(**kw).fit(texts[:200], labels[:200])
    _assert_same_state(_state(a), _state(b))  # the first call is a fit
    words = a.vocab_.words
    table = a.input_
    a.partial_fit(texts[200:] + ["brand new words"], labels[200:] + ["c0"])
    assert a.vocab_.words == words
    assert a.input_ is table
    assert a.calls_ == 2
    assert len(a.loss_history_) == 10
    assert a.class_counts_.sum() == 401
    assert not np.array_equal(a.output_, b.output_)
    assert a.score(texts, labels) > 0.9
    # fit starts again from scratch: the same as a new model.
    a.fit(texts[:200], labels[:200])
    _assert_same_state(_state(a), _state(b))


def test_partial_fit_drops_unknown_words_but_hashes_their_ngrams():
    clf = msopt.TextClassifier(dim=4, buckets=1000, ngrams=2, epochs=1, workers=1)
    clf.partial_fit(["good film", "bad film"], ["pos", "neg"])
    ids, _ = clf.vocab_.encode(["brand new"], ngrams=2, buckets=1000)
    assert len(ids) == 1
    assert ids[0] >= len(clf.vocab_)
    before = clf.input_.copy()
    clf.partial_fit(["brand new"], ["pos"])
    changed = np.flatnonzero((clf.input_ != before).any(1))
    assert changed.tolist() == ids.tolist()
    assert "brand" not in clf.vocab_


def test_rejected_partial_fit_changes_nothing():
    texts, labels = _toy(10)
    clf = msopt.TextClassifier(dim=4, buckets=20, loss="ns", epochs=1, workers=1)
    with pytest.raises(ValueError, match=r"labels: 1 label\(s\) not in classes_: 'meh'"):
        clf.partial_fit(texts + ["meh film"], labels + ["meh"], classes=["neg", "pos"])
    assert not hasattr(clf, "output_")
    clf.partial_fit(texts, labels)
    before = _state(clf)
    with pytest.raises(ValueError, match=r"not in classes_: 'meh'"):
        clf.partial_fit(["good film", "meh film"], ["pos", "meh"])
    with pytest.raises(ValueError, match="classes: the model's classes are"):
        clf.partial_fit(["good film"], ["pos"], classes=["neg", "pos", "meh"])
    with pytest.raises(TypeError, match=r"texts\[1\]: expected str"):
        clf.partial_fit(["good film", 3], ["pos", "neg"])
    _assert_same_state(_state(clf), before)


# -- save and load ----------------------------------------------------------------------
@pytest.mark.parametrize("loss", LOSSES)
def test_save_load_round_trip(tmp_path, loss):
    texts, labels = _keyword_corpus(17, 500, seed=7)
    texts[0] = "naïve café — ünïcode " + texts[0]
    texts[1] = "Naïve CAFÉ " + texts[1]
    clf = msopt.TextClassifier(dim=6, buckets=200, loss=loss, neg=3, epochs=3, lr=0.3,
                               min_count=2, lower=True, workers=1, seed=5).fit(texts, labels)
    path = tmp_path / "model.bin"
    clf.save(path)
    assert path.exists()
    assert not (tmp_path / "model.bin.npz").exists()
    with zipfile.ZipFile(path) as z:
        assert sorted(z.namelist()) == sorted(f"{m}.npy" for m in msopt.fasttext._MEMBERS)
    got = msopt.TextClassifier.load(path)
    assert got.get_params() == clf.get_params()
    assert got.vocab_.words == clf.vocab_.words
    np.testing.assert_array_equal(got.vocab_.counts, clf.vocab_.counts)
    assert got.vocab_.total_tokens == clf.vocab_.total_tokens
    assert got.classes_.tolist() == clf.classes_.tolist()
    probe = texts[:100] + ["NAÏVE café", "", "never seen"]
    np.testing.assert_array_equal(got.predict_proba(probe), clf.predict_proba(probe))
    assert got.loss_history_ == clf.loss_history_
    # Training continues exactly as it would have.
    clf.partial_fit(texts[:50], labels[:50])
    got.partial_fit(texts[:50], labels[:50])
    _assert_same_state(_state(got), _state(clf))


def _saved(tmp_path):
    texts, labels = _toy(10)
    clf = msopt.TextClassifier(dim=4, buckets=30, epochs=1, workers=1).fit(texts, labels)
    path = tmp_path / "model.npz"
    clf.save(path)
    with np.load(path) as z:
        return path, {k: z[k] for k in z.files}


def _rewrite(path, members):
    with open(path, "wb") as f:
        np.savez(f, **members)
    return path


def test_load_rejects_files_that_are_not_models(tmp_path):
    path, members = _saved(tmp_path)
    data = path.read_bytes()

    def rejects(p, match):
        with pytest.raises(ValueError, match=re.escape(str(p)) + ".*" + match):
            msopt.TextClassifier.load(p)

    text = tmp_path / "notes.txt"
    text.write_text("__label__pos good film\n", encoding="utf-8")
    rejects(text, "not a readable")
    empty = tmp_path / "empty"
    empty.write_bytes(b"")
    rejects(empty, "not a readable")
    for size in (len(data) // 2, 100, 10):
        cut = tmp_path / f"cut{size}.npz"
        cut.write_bytes(data[:size])
        rejects(cut, "not a readable")
    npy = tmp_path / "one.npy"
    np.save(npy, np.arange(3))
    rejects(npy, "not an .npz archive")
    rejects(_rewrite(tmp_path / "other.npz", {"a": np.arange(3)}), "not an msopt")
    rejects(_rewrite(tmp_path / "pickled.npz", {**members, "params": np.array([{}], object)}),
            "not a readable")
    rejects(_rewrite(tmp_path / "fmt.npz", {**members, "format": np.array("msopt-x 9")}),
            "not an msopt")
    missing = {k: v for k, v in members.items() if k != "class_counts"}
    rejects(_rewrite(tmp_path / "missing.npz", missing), "members")
    rejects(_rewrite(tmp_path / "extra.npz", {**members, "x": np.arange(2)}), "members")


@pytest.mark.parametrize(("member", "value", "match"), [
    ("input", lambda m: m["input"][:-1], r"input: shape \(\d+, 4\), expected"),
    ("input", lambda m: m["input"].astype(np.float64), "input: expected a 2-D float32"),
    ("output", lambda m: m["output"][:, :3], r"output: shape \(2, 3\), expected \(2, 4\)"),
    ("output", lambda m: m["output"][:1], r"output: shape \(1, 4\), .* \(2 classes, dim 4\)"),
    ("classes", lambda m: m["classes"][::-1], "classes: expected"),
    ("classes", lambda m: m["classes"].astype("S"), "classes: expected"),
    ("words", lambda m: np.append(m["words"], np.frombuffer(b"\nnew", np.uint8)),
     "words, counts"),
    ("words", lambda m: np.append(m["words"], np.uint8(0xFF)), "words: not UTF-8"),
    ("counts", lambda m: m["counts"].astype(np.int32), "counts: expected a 1-D int64"),
    ("counts", lambda m: -m["counts"], "counts: must be >= 1"),
    ("class_counts", lambda m: m["class_counts"][:1], "class_counts: expected 2"),
    ("params", lambda m: np.array("{"), "params: not JSON"),
    ("params", lambda m: np.array(json.dumps({**json.loads(str(m["params"])), "loss": "x"})),
     "params: loss: expected one of"),
    ("params", lambda m: np.array(json.dumps({**json.loads(str(m["params"])), "dim": 5})),
     r"input: shape .*dim 5"),
    ("params", lambda m: np.array(json.dumps({**json.loads(str(m["params"])), "zz": 1})),
     "params: .*unexpected keyword"),
    ("state", lambda m: np.array(json.dumps({"calls": 0})), "state: expected calls"),
])
def test_load_rejects_inconsistent_members(tmp_path, member, value, match):
    path, members = _saved(tmp_path)
    _rewrite(path, {**members, member: value(members)})
    with pytest.raises(ValueError, match=re.escape(str(path)) + ": " + match):
        msopt.TextClassifier.load(path)


def test_load_missing_file_and_save_unfitted(tmp_path):
    with pytest.raises(FileNotFoundError):
        msopt.TextClassifier.load(tmp_path / "nope.npz")
    with pytest.raises(ValueError, match="call fit"):
        msopt.TextClassifier().save(tmp_path / "m.npz")


# -- bad input --------------------------------------------------------------------------
def test_bad_input():
    texts, labels = _toy(5)
    with pytest.raises(ValueError, match="differ in length"):
        msopt.TextClassifier().fit(texts, labels[:-1])
    with pytest.raises(ValueError, match="at least 2 classes"):
        msopt.TextClassifier(buckets=10).fit(texts, ["a"] * len(texts))
    clf = msopt.TextClassifier(dim=4, buckets=10, epochs=1, workers=1).fit(texts, labels)
    with pytest.raises(ValueError, match=r"\['meh'\] were never seen in training"):
        clf.test(["good film"], ["meh"])
    with pytest.raises(ValueError, match="call fit"):
        msopt.TextClassifier().predict(["x"])
    with pytest.raises(ValueError, match="k: must be >= 1"):
        clf.predict(["x"], k=0)
    with pytest.raises(ValueError, match="line 1 has 0 __label__"):
        msopt.TextClassifier().fit(["good film"])


@pytest.mark.parametrize(("kwargs", "error", "match"), [
    ({"loss": "hinge"}, ValueError, "loss: expected one of"),
    ({"neg": 0}, ValueError, "negative: must be >= 1"),
    ({"negative": 0}, ValueError, "negative: must be >= 1"),
    ({"dim": 0}, ValueError, "dim: must be >= 1"),
    ({"dim": "10"}, TypeError, "dim: expected an int"),
    ({"buckets": 1.5}, TypeError, "buckets: expected an int"),
    ({"lr": 0.0}, ValueError, "lr: must be finite and > 0"),
    ({"lr": float("nan")}, ValueError, "lr: must be finite"),
    ({"lr": "0.1"}, TypeError, "lr: expected a number"),
    ({"workers": 0}, ValueError, "threads: must be >= 1"),
    ({"threads": 1.5}, TypeError, "threads: expected an int or None"),
    ({"lower": "yes"}, TypeError, "lower: expected a bool"),
    ({"seed": -1}, ValueError, "seed: must be >= 0"),
])
def test_bad_hyperparameters(kwargs, error, match):
    clf = msopt.TextClassifier(**kwargs)  # __init__ only stores; fit checks
    texts, labels = _toy(5)
    for train in (clf.fit, clf.partial_fit):
        with pytest.raises(error, match=match):
            train(texts, labels)
    assert not hasattr(clf, "classes_")


def test_wrong_types():
    clf = msopt.TextClassifier(dim=4, buckets=10, epochs=1, workers=1)
    with pytest.raises(TypeError, match="texts: a file path"):
        clf.fit("good film", ["pos"])
    with pytest.raises(TypeError, match=r"texts\[0\]: expected str, got int"):
        clf.fit([1, 2], ["a", "b"])
    with pytest.raises(TypeError, match="labels: expected an iterable"):
        clf.fit(["a", "b"], 3)
    with pytest.raises(TypeError, match="classes: expected an iterable"):
        clf.partial_fit(["a", "b"], ["a", "b"], classes="ab")
    with pytest.raises(TypeError, match="not bytes"):
        clf.fit(b"__label__a x")
    clf.fit(["good film", "bad film"], ["pos", "neg"])
    with pytest.raises(TypeError, match="texts: expected an iterable of str"):
        clf.predict("good film")
    with pytest.raises(TypeError, match="k: expected an int"):
        clf.predict(["good film"], k=1.0)


def test_native_entry_points_check_their_arguments():
    ids, off = np.array([0, 1], np.int64), np.zeros(1, np.int64)
    y = np.array([0], np.int32)
    inp, out = np.ones((2, 3), np.float32), np.ones((2, 3), np.float32)
    with pytest.raises(ValueError, match="loss: expected 'softmax', 'ova' or 'ns'"):
        _core.fasttext_train(ids, off, y, inp, out, "hinge", None, 5, 0.1, 1, 0, 1)
    with pytest.raises(TypeError, match="class_weights"):
        _core.fasttext_train(ids, off, y, inp, out, "ns", None, 5, 0.1, 1, 0, 1)
    with pytest.raises(ValueError, match=r"class_weights: expected shape \(2,\)"):
        _core.fasttext_train(ids, off, y, inp, out, "ns", np.ones(3), 5, 0.1, 1, 0, 1)
    with pytest.raises(ValueError, match=r"class_weights\[1\]: must be finite"):
        _core.fasttext_train(ids, off, y, inp, out, "ns", np.array([1.0, -1.0]), 5, 0.1, 1,
                             0, 1)
    with pytest.raises(IndexError, match=r"labels\[0\] is not a class id"):
        _core.fasttext_train(ids, off, np.array([2], np.int32), inp, out, "ova", None, 5, 0.1,
                             1, 0, 1)
    with pytest.raises(ValueError, match="rows of the same width"):
        _core.fasttext_predict_proba(ids, off, inp, np.ones((2, 4), np.float32), "softmax")
    with pytest.raises(TypeError, match="output: expected a 2-D C-contiguous writeable "
                                        "float32 array, got a 2-D float64"):
        _core.fasttext_train(ids, off, y, inp, out.astype(np.float64), "ova", None, 5, 0.1,
                             1, 0, 1)
    # ns with no other class of any weight: only the positive update, no hang.
    got = _core.fasttext_train(ids, off, y, inp, out, "ns", np.array([1.0, 0.0]), 5, 0.1, 1,
                               0, 1)
    assert np.isfinite(got).all()
    np.testing.assert_array_equal(out[1], 1.0)


# -- TREC -------------------------------------------------------------------------------
def _trec(name):
    texts, labels = [], []
    with open(TREC / name, encoding="latin-1") as f:  # the README's encoding
        for line in f:
            label, _, question = line.partition(" ")
            labels.append(label.split(":")[0])
            texts.append(question.strip())
    return texts, labels


TREC_PARAMS = dict(dim=50, ngrams=2, buckets=200_000, lr=0.5, epochs=25, workers=1, seed=0)


@needs_trec
@pytest.mark.parametrize("loss", LOSSES)
def test_trec_accuracy(loss):
    train, test = _trec("train_5500.label"), _trec("TREC_10.label")
    clf = msopt.TextClassifier(loss=loss, **TREC_PARAMS).fit(*train)
    acc = clf.score(*test)
    print(f"TREC test accuracy, {loss}: {acc:.3f}")
    assert acc >= 0.88


@needs_trec
@pytest.mark.slow
def test_trec_beside_scikit_learn_tfidf():
    pytest.importorskip("sklearn", reason="scikit-learn is not installed")
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.linear_model import LogisticRegression

    train, test = _trec("train_5500.label"), _trec("TREC_10.label")
    vec = TfidfVectorizer(ngram_range=(1, 2))
    lr = LogisticRegression(max_iter=1000).fit(vec.fit_transform(train[0]), train[1])
    theirs = lr.score(vec.transform(test[0]), test[1])
    ours = msopt.TextClassifier(**TREC_PARAMS).fit(*train).score(*test)
    print(f"TREC test accuracy: msopt {ours:.3f}, TfidfVectorizer(1, 2) + "
          f"LogisticRegression {theirs:.3f}")
    assert ours >= theirs - 0.03
