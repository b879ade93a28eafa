"""TextClassifier (fastText style): learning, TREC accuracy, API and bad input."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest

import msopt

# The shared data sets sit beside the repository (shared/data), or where MSOPT_DATA says.
DATA = Path(os.environ.get("MSOPT_DATA", Path(__file__).resolve().parents[2] / "shared" / "data"))
TREC = DATA / "trec"


def _toy(n=200):
    texts = ["good film", "great film", "bad film", "awful film"] * n
    labels = ["pos", "pos", "neg", "neg"] * n
    return texts, labels


def test_learns_and_predicts():
    texts, labels = _toy()
    clf = msopt.TextClassifier(dim=8, buckets=1000, epochs=10, lr=0.5, workers=1).fit(
        texts, labels)
    assert clf.score(texts, labels) == 1.0
    assert clf.loss_history_[-1] < clf.loss_history_[0]
    p = clf.predict_proba(["great film"])
    np.testing.assert_allclose(p.sum(1), 1.0, rtol=1e-6)
    assert clf.predict(["great film"], k=2) == [["pos", "neg"]]
    n, prec, rec = clf.test(texts, labels, k=1)
    assert (n, prec, rec) == (len(texts), 1.0, 1.0)
    assert clf.test(texts, labels, k=2)[1] == 0.5


def test_one_worker_repeats_bit_for_bit():
    texts, labels = _toy(50)
    a = msopt.TextClassifier(dim=8, buckets=100, epochs=3, workers=1, seed=1).fit(texts, labels)
    b = msopt.TextClassifier(dim=8, buckets=100, epochs=3, workers=1, seed=1).fit(texts, labels)
    np.testing.assert_array_equal(a.input_, b.input_)
    np.testing.assert_array_equal(a.output_, b.output_)


def test_fasttext_label_format(tmp_path):
    texts, labels = _toy(50)
    path = tmp_path / "train.txt"
    path.write_text("\n".join(f"__label__{y} {t}" for t, y in zip(texts, labels)),
                    encoding="utf-8")
    clf = msopt.TextClassifier(dim=8, buckets=100, epochs=5, lr=0.5, workers=1).fit(path)
    assert list(clf.classes_) == ["neg", "pos"]
    assert clf.test(path)[1] == 1.0


def test_bad_input():
    texts, labels = _toy(5)
    with pytest.raises(ValueError, match="differ in length"):
        msopt.TextClassifier().fit(texts, labels[:-1])
    with pytest.raises(ValueError, match="at least 2 classes"):
        msopt.TextClassifier(buckets=10).fit(texts, ["a"] * len(texts))
    clf = msopt.TextClassifier(dim=4, buckets=10, epochs=1, workers=1).fit(texts, labels)
    with pytest.raises(ValueError, match=r"\['meh'\] were never seen in training"):
        clf.test(["good film"], ["meh"])
    with pytest.raises(ValueError, match="loss: only 'softmax'"):
        msopt.TextClassifier(loss="ns")
    with pytest.raises(ValueError, match="call fit"):
        msopt.TextClassifier().predict(["x"])


@pytest.mark.skipif(not TREC.exists(), reason="the TREC data (shared/data/trec) is absent")
def test_trec_accuracy():
    def load(name):
        texts, labels = [], []
        with open(TREC / name, encoding="latin-1") as f:  # the README's encoding
            for line in f:
                label, _, question = line.partition(" ")
                labels.append(label.split(":")[0])
                texts.append(question.strip())
        return texts, labels

    train, test = load("train_5500.label"), load("TREC_10.label")
    clf = msopt.TextClassifier(dim=50, ngrams=2, buckets=200_000, lr=0.5, epochs=25,
                               workers=1, seed=0).fit(*train)
    assert clf.score(*test) >= 0.88
