"""fastText's Python API on TextClassifier: predict_top (labels with scores, k, threshold),
get_word_vector, get_sentence_vector, get_nearest_neighbors, .vec output (wv) and
pretrained_vectors; and the native multi-label step against its NumPy twin."""

from __future__ import annotations

import struct

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import msopt
from msopt import _core, reference

TEXTS = ["good film", "great film", "bad film", "awful film", "a fine plot"] * 40
LABELS = ["pos", "pos", "neg", "neg", "pos"] * 40


def _fit(**kw):
    return msopt.TextClassifier(**{"dim": 12, "epochs": 20, "lr": 0.5, "threads": 1,
                                   **kw}).fit(TEXTS, LABELS)


# -- predict_top -------------------------------------------------------------------------
@pytest.mark.parametrize("loss", ["softmax", "ova", "ns"])
def test_predict_top_gives_labels_with_their_scores(loss):
    clf = _fit(loss=loss)
    texts = ["great film", "awful plot", "unknown words"]
    p = clf.predict_proba(texts)
    labels, scores = clf.predict_top(texts, k=2)
    assert labels == [tuple(clf.classes_[np.argsort(-row, kind="stable")].tolist())
                      for row in p]
    for row, s in zip(p, scores):
        assert s.dtype == np.float32
        np.testing.assert_array_equal(s, np.sort(row)[::-1])
    one_labels, one_scores = clf.predict_top("great film")
    assert one_labels == (clf.predict(["great film"])[0],)
    assert one_scores.shape == (1,)
    assert one_scores[0] == p[0].max()


def test_predict_top_k_and_threshold():
    clf = _fit(loss="ova")
    p = clf.predict_proba(["great film"])[0]
    every, _ = clf.predict_top("great film", k=-1)
    assert len(every) == 2
    cut = float(np.sort(p)[0]) + 1e-6  # keeps only the best
    kept, scores = clf.predict_top("great film", k=-1, threshold=cut)
    assert kept == every[:1]
    assert (scores >= cut).all()
    assert clf.predict_top("great film", k=5, threshold=1.5) == ((), pytest.approx([]))
    with pytest.raises(ValueError, match="k: must be >= 1, or -1"):
        clf.predict_top("x", k=0)
    with pytest.raises(ValueError, match="k: must be >= -1"):
        clf.predict_top("x", k=-2)
    with pytest.raises(TypeError, match="threshold: expected a number"):
        clf.predict_top("x", threshold="0.5")
    with pytest.raises(ValueError, match="call fit"):
        msopt.TextClassifier().predict_top("x")


# -- vectors ---------------------------------------------------------------------------------
def test_word_and_sentence_vectors_are_the_input_rows_and_their_mean():
    clf = _fit(ngrams=2, buckets=100)
    v = clf.get_word_vector("film")
    np.testing.assert_array_equal(v, clf.input_[clf.vocab_["film"]])
    v[:] = 0  # a copy
    assert clf.input_[clf.vocab_["film"]].any()
    np.testing.assert_array_equal(clf.get_word_vector("nowhere"), np.zeros(12, np.float32))
    ids, _ = clf.vocab_.encode(["great film"], ngrams=2, buckets=100)
    assert len(ids) == 3  # two words and their bigram
    h = clf.get_sentence_vector("great film")
    np.testing.assert_allclose(h, clf.input_[ids].mean(0), rtol=1e-6)
    # The hidden vector the classifier scores.
    s = clf.output_.astype(np.float64) @ h
    want = np.exp(s - s.max()) / np.exp(s - s.max()).sum()
    np.testing.assert_allclose(clf.predict_proba(["great film"])[0], want, rtol=1e-4)
    many = clf.get_sentence_vector(["great film", "zzz", "bad film"])
    assert many.shape == (3, 12)
    assert many.dtype == np.float32
    np.testing.assert_array_equal(many[0], h)
    np.testing.assert_array_equal(many[1], 0)


def test_word_vectors_follow_lower_and_refuse_several_tokens():
    clf = msopt.TextClassifier(dim=4, lower=True, threads=1).fit(["Good Film", "Bad Film"],
                                                                 ["p", "n"])
    np.testing.assert_array_equal(clf.get_word_vector("FILM"), clf.get_word_vector("film"))
    with pytest.raises(ValueError, match="word: expected one token"):
        clf.get_word_vector("good film")
    with pytest.raises(TypeError, match="word: expected a str"):
        clf.get_word_vector(3)


def test_nearest_neighbors_by_cosine_in_fasttexts_order():
    clf = _fit()
    got = clf.get_nearest_neighbors("good", k=3)
    words = clf.vocab_.words
    W = clf.input_[:len(words)].astype(np.float64)
    U = W / np.linalg.norm(W, axis=1, keepdims=True)
    sims = U @ U[words.index("good")]
    order = [j for j in np.argsort(-sims, kind="stable") if words[j] != "good"][:3]
    assert [w for _, w in got] == [words[j] for j in order]
    np.testing.assert_allclose([s for s, _ in got], sims[order], rtol=1e-5)
    with pytest.raises(KeyError, match="'nowhere' is not in the vocabulary"):
        clf.get_nearest_neighbors("nowhere")


# -- .vec files --------------------------------------------------------------------------------
def test_vec_output_and_pretrained_vectors_round_trip(tmp_path):
    clf = _fit()
    path = tmp_path / "model.vec"
    clf.wv.save_word2vec_format(path)
    kv = msopt.KeyedVectors.load_word2vec_format(path)
    assert kv.index_to_key == clf.vocab_.words
    np.testing.assert_array_equal(kv.vectors, clf.input_[:len(clf.vocab_)])
    # epochs=0: the input rows are the file's, exactly.
    start = msopt.TextClassifier(dim=12, epochs=0, threads=1, pretrained_vectors=path)
    start.fit(["good film", "a new word"], ["x", "y"])
    for w in ("good", "film", "plot"):  # "plot": only in the file, joins the vocabulary
        np.testing.assert_array_equal(start.get_word_vector(w), kv[w])
    assert "new" in start.vocab_
    assert "plot" in start.vocab_
    saved = tmp_path / "m.npz"
    start.save(saved)
    assert msopt.TextClassifier.load(saved).pretrained_vectors == str(path)


def test_pretrained_vectors_classify_words_never_seen_in_training(tmp_path):
    teacher = _fit()
    path = tmp_path / "t.vec"
    teacher.wv.save_word2vec_format(path)
    # A student that sees only "great" and "awful", then is asked about "good" and "bad":
    # words of the file, near those two in the teacher's space.
    kw = {"dim": 12, "epochs": 10, "lr": 0.1, "threads": 1}
    student = msopt.TextClassifier(pretrained_vectors=path, **kw).fit(["great", "awful"] * 5,
                                                                      ["pos", "neg"] * 5)
    assert student.predict(["good", "bad"]).tolist() == ["pos", "neg"]
    assert (student.predict_proba(["good", "bad"]).max(1) > 0.9).all()
    cold = msopt.TextClassifier(**kw).fit(["great", "awful"] * 5, ["pos", "neg"] * 5)
    np.testing.assert_array_equal(cold.predict_proba(["good", "bad"]), 0.5)  # unknown words


def test_pretrained_words_are_lower_cased_with_lower(tmp_path):
    path = tmp_path / "cased.vec"
    rows = {"Good": [1, 0], "good": [0, 1], "Plot": [1, 1], "film": [2, 2]}
    path.write_text("4 2\n" + "".join(f"{w} {a} {b}\n" for w, (a, b) in rows.items()),
                    encoding="utf-8")
    kw = {"dim": 2, "epochs": 0, "threads": 1, "pretrained_vectors": path}
    lowered = msopt.TextClassifier(lower=True, **kw).fit(["GOOD film", "a plot"], ["x", "y"])
    # the texts are lower-cased, so are the file's words; "Good" comes first and wins
    np.testing.assert_array_equal(lowered.get_word_vector("good"), [1, 0])
    np.testing.assert_array_equal(lowered.get_word_vector("plot"), [1, 1])
    assert "Good" not in lowered.vocab_.words
    assert "Plot" not in lowered.vocab_.words
    cased = msopt.TextClassifier(**kw).fit(["Good film", "a plot"], ["x", "y"])
    np.testing.assert_array_equal(cased.get_word_vector("Good"), [1, 0])
    np.testing.assert_array_equal(cased.get_word_vector("good"), [0, 1])


def test_pretrained_vectors_errors(tmp_path):
    path = tmp_path / "v.vec"
    _fit().wv.save_word2vec_format(path)
    with pytest.raises(ValueError, match="pretrained_vectors: the vectors have dim 12, the "
                                         "model dim=100; pass dim=12"):
        msopt.TextClassifier(pretrained_vectors=path).fit(TEXTS, LABELS)
    with pytest.raises(FileNotFoundError):
        msopt.TextClassifier(dim=12, pretrained_vectors=tmp_path / "none.vec").fit(TEXTS,
                                                                                   LABELS)
    bad = tmp_path / "bad.vec"
    bad.write_text("2 3\nx 1 2\n")
    with pytest.raises(ValueError, match="^pretrained_vectors: .*bad.vec"):
        msopt.TextClassifier(dim=3, pretrained_vectors=bad).fit(TEXTS, LABELS)
    clf = msopt.TextClassifier(pretrained_vectors=3)
    with pytest.raises(TypeError, match="pretrained_vectors: expected a path or None"):
        clf.fit(TEXTS, LABELS)
    assert not hasattr(clf, "input_")


# -- the native multi-label step ------------------------------------------------------------
@settings(max_examples=30, deadline=None)
@given(dim=st.integers(1, 17), doc_len=st.integers(1, 7), classes=st.integers(2, 9),
       n_pos=st.integers(1, 4), epochs=st.integers(1, 3), seed=st.integers(0, 2**32 - 1))
def test_native_ova_with_several_labels_matches_numpy(dim, doc_len, classes, n_pos, epochs,
                                                      seed):
    rng = np.random.default_rng(seed)
    input = rng.uniform(-1, 1, (10, dim)).astype(np.float32)
    output = rng.uniform(-1, 1, (classes, dim)).astype(np.float32)
    ids = rng.integers(0, 10, doc_len).astype(np.int64)
    ys = rng.choice(classes, min(n_pos, classes), replace=False).astype(np.int32)
    lr = float(rng.uniform(0.01, 1.0))
    want_in, want_out = input.astype(np.float64), output.astype(np.float64)
    want = [reference.text_classifier_doc(want_in, want_out, ids, ys.tolist(), "ova",
                                          lr * (1 - e / epochs)) for e in range(epochs)]
    got = _core.fasttext_train(ids, np.zeros(1, np.int64), ys, input, output, "ova", None, 5,
                               lr, epochs, seed, 1, label_offsets=np.zeros(1, np.int64))
    np.testing.assert_allclose(output, want_out, rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(input, want_in, rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-6)


@pytest.mark.parametrize("loss", ["softmax", "ova", "ns"])
def test_one_label_per_document_is_the_same_with_or_without_offsets(loss):
    rng = np.random.default_rng(0)
    ids = rng.integers(0, 20, 60).astype(np.int64)
    offsets = np.arange(0, 60, 6, dtype=np.int64)
    y = rng.integers(0, 4, 10).astype(np.int32)
    runs = []
    for starts in (None, np.arange(10, dtype=np.int64)):
        inp = np.random.default_rng(1).uniform(-1, 1, (20, 5)).astype(np.float32)
        out = np.zeros((4, 5), np.float32)
        losses = _core.fasttext_train(ids, offsets, y, inp, out, loss, np.ones(4), 2, 0.3, 3,
                                      7, 1, label_offsets=starts)
        runs.append((inp, out, losses))
    for a, b in zip(*runs):
        np.testing.assert_array_equal(a, b)


def test_native_label_offsets_are_checked():
    ids, off = np.array([0, 1, 1], np.int64), np.array([0, 2], np.int64)
    inp, out = np.ones((2, 3), np.float32), np.ones((3, 3), np.float32)
    y = np.array([0, 1, 2], np.int32)

    def train(labels, starts):
        return _core.fasttext_train(ids, off, labels, inp, out, "ova", None, 5, 0.1, 1, 0, 1,
                                    label_offsets=starts)

    for starts in ([1, 2], [0, 0], [0, 3], [0, 2, 2]):
        with pytest.raises(ValueError, match="label_offsets"):
            train(y, np.array(starts, np.int64))
    with pytest.raises(IndexError, match=r"labels\[2\] is not a class id"):
        train(np.array([0, 1, 3], np.int32), np.array([0, 1], np.int64))
    with pytest.raises(ValueError, match=r"labels: expected shape \(2,\)"):
        train(y, None)
    before = inp.copy(), out.copy()
    assert np.array_equal(inp, before[0])
    assert np.array_equal(out, before[1])
    train(y, np.array([0, 1], np.int64))  # doc 0: class 0; doc 1: classes 1 and 2
    assert not np.array_equal(out, before[1])


# -- fastText's .bin ------------------------------------------------------------------------
def _fasttext_bin(path, words, labels, input, output, *, word_ngrams=2, loss=3, kind=3,
                  maxn=0, quantized=False, magic=793712314):
    """A supervised model file as fastText 0.9 writes it (Args, Dictionary, two matrices)."""
    dim = input.shape[1]
    bucket = input.shape[0] - len(words)
    out = [struct.pack("<2i", magic, 12),
           struct.pack("<12id", dim, 5, 5, 1, 5, word_ngrams, loss, kind, bucket, 0, maxn,
                       100, 1e-4),
           struct.pack("<3i2q", len(words) + len(labels), len(words), len(labels), 1000, 0)]
    for i, w in enumerate(list(words) + list(labels)):
        out.append(w.encode() + b"\0" + struct.pack("<qb", 100 - i, int(i >= len(words))))
    for m in (input, output):
        out.append(struct.pack("<?2q", quantized, *m.shape) + m.astype("<f4").tobytes())
    path.write_bytes(b"".join(out))


def _fixture(tmp_path, **kw):
    rng = np.random.default_rng(0)
    words = ["</s>", "film", "good", "bad", "the"]
    labels = ["__label__pos", "__label__neg", "__label__meh"]
    bucket = 0 if kw.get("word_ngrams") == 1 else 7
    input = rng.standard_normal((len(words) + bucket, 6)).astype(np.float32)
    output = rng.standard_normal((len(labels), 6)).astype(np.float32)
    path = tmp_path / "model.bin"
    _fasttext_bin(path, words, labels, input, output, **kw)
    return path, words, input, output


@pytest.mark.parametrize(("word_ngrams", "loss", "name"), [(2, 3, "softmax"), (1, 4, "ova"),
                                                           (3, 2, "ns")])
def test_load_fasttext_predicts_as_fasttext(tmp_path, word_ngrams, loss, name):
    path, words, input, output = _fixture(tmp_path, word_ngrams=word_ngrams, loss=loss)
    clf = msopt.TextClassifier.load_fasttext(path)
    assert (clf.loss, clf.ngrams, clf.dim) == (name, word_ngrams, 6)
    assert clf.classes_.tolist() == ["meh", "neg", "pos"]  # sorted, without the prefix
    np.testing.assert_array_equal(clf.output_, output[[2, 1, 0]])
    assert clf.vocab_.words == words
    assert clf.input_.shape[0] == len(words) + (7 if word_ngrams > 1 else 0)
    texts = ["good film", "the bad unknown film", ""]
    for text, p in zip(texts, clf.predict_proba(texts)):
        # fastText's line: the words, its end of line </s>, and their hashed n-grams.
        ids, _ = clf.vocab_.encode([text + " </s>"], ngrams=word_ngrams, buckets=7)
        assert words.index("</s>") in ids.tolist()
        s = clf.output_.astype(np.float64) @ clf.input_[ids].astype(np.float64).mean(0)
        want = np.exp(s - s.max()) / np.exp(s - s.max()).sum() if name == "softmax" else (
            1 / (1 + np.exp(-s)))
        np.testing.assert_allclose(p, want, rtol=1e-5)


def test_a_loaded_fasttext_model_keeps_its_end_of_line_until_refitted(tmp_path):
    path, *_ = _fixture(tmp_path, word_ngrams=1)
    clf = msopt.TextClassifier.load_fasttext(path)
    p = clf.predict_proba(["good film"])
    clf.save(tmp_path / "m.npz")
    again = msopt.TextClassifier.load(tmp_path / "m.npz")
    np.testing.assert_array_equal(again.predict_proba(["good film"]), p)
    np.testing.assert_allclose(clf.get_sentence_vector("good film"),
                               clf.input_[[2, 1, 0]].mean(0), rtol=1e-6)  # good film </s>
    again.fit(["good film", "bad film"], ["pos", "neg"])  # a new model: no </s>
    ids, _ = again._encode(["good film"])
    assert len(ids) == 2


@pytest.mark.parametrize(("kw", "match"), [
    ({"magic": 1}, "no fastText header"),
    ({"kind": 2}, "word vectors, not a classifier"),
    ({"loss": 1}, "hierarchical softmax"),
    ({"maxn": 6}, r"character n-grams \(maxn=6\)"),
    ({"quantized": True}, "quantized"),
])
def test_load_fasttext_refuses_what_it_cannot_read(tmp_path, kw, match):
    path, *_ = _fixture(tmp_path, **kw)
    with pytest.raises(ValueError, match=f"model.bin: not a supported fastText model .*{match}"):
        msopt.TextClassifier.load_fasttext(path)


def test_load_fasttext_refuses_a_truncated_file(tmp_path):
    path, *_ = _fixture(tmp_path)
    data = path.read_bytes()
    for cut in (3, 60, 120, len(data) - 4):
        path.write_bytes(data[:cut])
        with pytest.raises(ValueError, match="model.bin: not a supported fastText model"):
            msopt.TextClassifier.load_fasttext(path)
    with pytest.raises(FileNotFoundError):
        msopt.TextClassifier.load_fasttext(tmp_path / "none.bin")


def test_load_fasttext_beside_fasttext(tmp_path):
    fasttext = pytest.importorskip("fasttext", reason="fastText is not installed")
    texts = ["good film", "great film", "bad film", "awful film"] * 50
    labels = ["pos", "pos", "neg", "neg"] * 50
    train = tmp_path / "train.txt"
    train.write_text("".join(f"__label__{y} {t}\n" for t, y in zip(texts, labels)))
    for _ in range(5):  # some builds of fastText 0.9 report NaN now and then: try again
        try:
            theirs = fasttext.train_supervised(str(train), dim=10, epoch=5, wordNgrams=2,
                                               bucket=1000, thread=1, verbose=0)
            break
        except RuntimeError as e:
            if "NaN" not in str(e):
                raise
    theirs.save_model(str(tmp_path / "m.bin"))
    ours = msopt.TextClassifier.load_fasttext(tmp_path / "m.bin")
    probe = ["great film", "awful plot", "film"]
    their_labels, their_p = theirs.predict(probe, k=2)
    our_labels, our_p = ours.predict_top(probe, k=2)
    assert [tuple(x[len("__label__"):] for x in row) for row in their_labels] == our_labels
    for a, b in zip(their_p, our_p):
        np.testing.assert_allclose(a, b, atol=2e-5)  # fastText adds 1e-5 to each
