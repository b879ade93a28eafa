"""KeyedVectors: gensim's most used methods, with gensim's signatures and semantics
(checked against NumPy on hand-made vectors, and against gensim where it is installed),
and its own pickle-free file."""

from __future__ import annotations

import zipfile

import numpy as np
import pytest

import msopt
from msopt import KeyedVectors

WORDS = [f"w{i}" for i in range(40)]


def _vectors(seed=0, n=40, dim=6):
    rng = np.random.default_rng(seed)
    return rng.standard_normal((n, dim)).astype(np.float32)


@pytest.fixture
def kv():
    return KeyedVectors(WORDS, _vectors())


def _unit(v):
    return v / np.linalg.norm(v, axis=-1, keepdims=True)


def _brute(vectors, query, exclude, topn, n=None):
    """Cosine top-n of ``query`` over the first ``n`` rows, ``exclude`` left out."""
    sims = _unit(vectors[:n]) @ _unit(query)
    order = [i for i in np.argsort(-sims, kind="stable") if i not in exclude][:topn]
    return [WORDS[i] for i in order], sims


# -- lookups ----------------------------------------------------------------------------------
def test_lookups_and_attributes(kv):
    V = kv.vectors
    assert kv.index_to_key == WORDS
    assert kv.key_to_index["w3"] == 3
    assert len(kv) == 40
    assert "w3" in kv
    assert "nope" not in kv
    assert 3 not in kv
    assert kv.get_vector("w3") is not None
    np.testing.assert_array_equal(kv.get_vector("w3"), V[3])
    np.testing.assert_allclose(kv.get_vector("w3", norm=True), _unit(V[3]), rtol=1e-6)
    kv.get_vector("w3", norm=True)[:] = 0  # a copy: the cache is not changed
    np.testing.assert_allclose(kv.get_vector("w3", norm=True), _unit(V[3]), rtol=1e-6)
    assert kv.get_index("w5") == 5
    with pytest.raises(KeyError, match="'nope' is not in the vocabulary"):
        kv.get_vector("nope")
    with pytest.raises(TypeError, match="norm: expected a bool"):
        kv.get_vector("w3", norm=1)


def test_constructor_checks_its_arguments():
    with pytest.raises(ValueError, match="vectors: expected a 2-D array of 2 rows"):
        KeyedVectors(["a", "b"], np.zeros((3, 2), np.float32))
    with pytest.raises(ValueError, match="appears twice"):
        KeyedVectors(["a", "a"], np.zeros((2, 2), np.float32))
    with pytest.raises(TypeError, match="words: expected a list of str"):
        KeyedVectors("ab", np.zeros((2, 2), np.float32))
    with pytest.raises(TypeError, match="vectors: expected an ndarray, got list"):
        KeyedVectors(["a"], [[1.0, 2.0]])


# -- most_similar and friends against NumPy ------------------------------------------------
def test_most_similar_positive_negative_weights_and_vectors(kv):
    V = kv.vectors
    U = _unit(V)
    want, sims = _brute(V, U[1] + U[2] - U[3], {1, 2, 3}, 5)
    got = kv.most_similar(positive=["w1", "w2"], negative=["w3"], topn=5)
    assert [w for w, _ in got] == want
    np.testing.assert_allclose([s for _, s in got], [sims[WORDS.index(w)] for w in want],
                               rtol=1e-5, atol=1e-6)
    # a single key is a list of one; (key, weight) pairs; a raw vector is taken as it is
    assert kv.most_similar("w1", topn=3) == kv.most_similar(positive=["w1"], topn=3)
    assert [w for w, _ in kv.most_similar(positive=[("w1", 2.0)], negative=[("w3", -0.5)],
                                          topn=4)] == _brute(V, 2 * U[1] - 0.5 * U[3],
                                                             {1, 3}, 4)[0]
    q = V[7] * 3 + 1
    assert [w for w, _ in kv.most_similar(positive=[q], topn=4)] == _brute(V, q, set(), 4)[0]
    assert [w for w, _ in kv.similar_by_vector(q, topn=4)] == _brute(V, q, set(), 4)[0]
    assert kv.similar_by_word("w1", topn=3) == kv.most_similar("w1", topn=3)
    assert kv.similar_by_key("w1", topn=3) == kv.most_similar("w1", topn=3)


def test_topn_and_restrict_vocab(kv):
    V = kv.vectors
    assert kv.most_similar("w1", topn=0) == []
    all_sims = kv.most_similar("w1", topn=None)
    assert isinstance(all_sims, np.ndarray)
    assert all_sims.shape == (40,)
    np.testing.assert_allclose(all_sims, _unit(V) @ _unit(V[1]), rtol=1e-5, atol=1e-6)
    got = kv.most_similar("w1", topn=5, restrict_vocab=10)
    assert [w for w, _ in got] == _brute(V, V[1], {1}, 5, n=10)[0]
    assert kv.most_similar("w1", topn=None, restrict_vocab=10).shape == (10,)
    assert len(kv.most_similar("w1", topn=100)) == 39  # never the word itself
    with pytest.raises(ValueError, match="topn: must be >= 0"):
        kv.most_similar("w1", topn=-1)


def test_misused_arguments_are_named(kv):
    with pytest.raises(TypeError, match=r"negative: got the int 3.*pass topn=3"):
        kv.most_similar("w1", 3)  # msopt's former (word, topn), gensim's (positive, negative)
    with pytest.raises(ValueError, match="no key or vector given"):
        kv.most_similar()
    with pytest.raises(ValueError, match="positive: a vector must hold 6 finite values"):
        kv.most_similar(positive=[np.ones(5)])
    with pytest.raises(KeyError, match="nope"):
        kv.most_similar(positive=["w1"], negative=["nope"])
    assert kv._unit is None  # a refused call leaves the cache alone
    with pytest.raises(ValueError, match="positive: no key"):
        kv.most_similar_cosmul(negative=["w1"])


def test_most_similar_cosmul(kv):
    U = _unit(kv.vectors)
    pos = [(1 + U @ U[1]) / 2, (1 + U @ U[2]) / 2]
    neg = (1 + U @ U[3]) / 2
    scores = pos[0] * pos[1] / (neg + 1e-6)
    want = [WORDS[i] for i in np.argsort(-scores, kind="stable") if i not in (1, 2, 3)][:5]
    got = kv.most_similar_cosmul(positive=["w1", "w2"], negative=["w3"], topn=5)
    assert [w for w, _ in got] == want
    np.testing.assert_allclose([s for _, s in got], scores[[WORDS.index(w) for w in want]],
                               rtol=1e-5)
    np.testing.assert_allclose(kv.most_similar_cosmul("w1", "w3", topn=None),
                               pos[0] / (neg + 1e-6), rtol=1e-5)
    assert len(kv.most_similar_cosmul("w1", topn=None, restrict_vocab=7)) == 7


def test_new_vectors_are_seen_and_rows_edited_in_place_after_fill_norms():
    kv = KeyedVectors(["a", "b", "c"], np.eye(3, dtype=np.float32))
    assert kv.similarity("a", "b") == 0.0
    kv.vectors = np.array([[0, 1, 0], [0, 2, 0], [0, 0, 1]], np.float32)  # another array
    assert kv.similarity("a", "b") == pytest.approx(1.0)
    assert kv.most_similar("a", topn=1)[0][0] == "b"
    kv.vectors[0] = [0, 0, 3]  # in place: the cache stays, as gensim's norms do
    assert kv.similarity("a", "c") == 0.0
    kv.fill_norms(force=True)
    assert kv.similarity("a", "c") == pytest.approx(1.0)


def test_a_list_of_keys_gives_their_rows():
    kv = KeyedVectors(["a", "b", "c"], np.arange(6, dtype=np.float32).reshape(3, 2))
    np.testing.assert_array_equal(kv[["c", "a"]], [[4, 5], [0, 1]])
    assert kv[[]].shape == (0, 2)
    with pytest.raises(KeyError, match="'x' is not in the vocabulary"):
        kv[["a", "x"]]
    with pytest.raises(TypeError, match=r"^word\[1\]: expected a str"):
        kv[["a", 1]]
    docs = [(f"cat dog {w}".split(), [i]) for i, w in enumerate(["mat", "log", "hat"] * 4)]
    dv = msopt.Doc2Vec(docs, dim=4, min_count=1, epochs=1, threads=1).dv
    np.testing.assert_array_equal(dv[[3, 0]], np.stack([dv[3], dv[0]]))


def test_doesnt_match_and_n_similarity():
    V = np.array([[1, 0, 0], [0.9, 0.1, 0], [1, 0.2, 0], [0, 0, 1]], np.float32)
    kv = KeyedVectors(["a", "b", "c", "odd"], V)
    assert kv.doesnt_match(["a", "b", "c", "odd"]) == "odd"
    with pytest.warns(UserWarning, match=r"words: 'zzz' have no vector"):
        assert kv.doesnt_match(["a", "odd", "b", "zzz"]) == "odd"
    with pytest.raises(ValueError, match="words: none of them"):
        kv.doesnt_match([])
    m1, m2 = V[[0, 1]].mean(0), V[[2, 3]].mean(0)
    want = m1 @ m2 / np.linalg.norm(m1) / np.linalg.norm(m2)
    assert kv.n_similarity(["a", "b"], ["c", "odd"]) == pytest.approx(want, rel=1e-6)
    assert kv.n_similarity(["a"], ["a"]) == pytest.approx(1.0)
    with pytest.raises(ValueError, match="ws2: empty"):
        kv.n_similarity(["a"], [])
    with pytest.raises(KeyError, match="zzz"):
        kv.n_similarity(["a"], ["zzz"])


# -- save and load ----------------------------------------------------------------------------
def test_save_load_round_trip_without_pickle(kv, tmp_path):
    path = tmp_path / "wv.kv"
    kv.save(path)
    with zipfile.ZipFile(path) as z:
        assert sorted(z.namelist()) == ["format.npy", "vectors.npy", "words.npy"]
    for p in (path, str(path)):
        back = KeyedVectors.load(p)
        assert back.index_to_key == kv.index_to_key
        np.testing.assert_array_equal(back.vectors, kv.vectors)
        assert back.vectors.dtype == np.float32
        assert back.most_similar("w1", topn=5) == kv.most_similar("w1", topn=5)
    empty = KeyedVectors([], np.zeros((0, 3), np.float32))
    empty.save(tmp_path / "empty.kv")
    assert len(KeyedVectors.load(tmp_path / "empty.kv")) == 0


def test_load_refuses_other_files(kv, tmp_path):
    model = msopt.Word2Vec(["a b c a b"] * 20, dim=4, min_count=1, epochs=1, threads=1)
    model.save(tmp_path / "model.npz")
    with pytest.raises(ValueError, match="model.npz"):
        KeyedVectors.load(tmp_path / "model.npz")
    (tmp_path / "t.txt").write_text("hello", encoding="utf-8")
    with pytest.raises(ValueError, match="t.txt"):
        KeyedVectors.load(tmp_path / "t.txt")
    with pytest.raises(FileNotFoundError):
        KeyedVectors.load(tmp_path / "missing.kv")
    with pytest.raises(ValueError, match=r"words: 'a\\nb' cannot be saved"):
        KeyedVectors(["a\nb"], np.zeros((1, 2), np.float32)).save(tmp_path / "x.kv")
    assert not (tmp_path / "x.kv").exists()


def test_word2vec_wv_saves_and_loads(tmp_path):
    model = msopt.Word2Vec(["the cat sat on the mat", "the dog sat on the log"] * 30,
                           dim=8, min_count=1, epochs=2, threads=1)
    model.wv.save(tmp_path / "wv.kv")
    back = KeyedVectors.load(tmp_path / "wv.kv")
    assert back.most_similar("cat", topn=3) == model.wv.most_similar("cat", topn=3)


def test_doc2vec_tags_still_work():
    docs = [(f"cat dog {w}".split(), [i]) for i, w in enumerate(["mat", "log", "hat"] * 10)]
    model = msopt.Doc2Vec(docs, dim=4, min_count=1, epochs=1, threads=1)
    got = model.dv.most_similar(0, topn=3)
    assert len(got) == 3
    assert 0 not in [t for t, _ in got]
    assert model.dv.most_similar(model.dv[0], topn=1)[0][0] == 0
    # gensim's arguments: tags and vectors as positive / negative
    vector = model.infer_vector(["cat", "mat"])
    assert model.dv.most_similar(positive=[vector], topn=2) == model.dv.most_similar(vector,
                                                                                    topn=2)
    got = model.dv.most_similar(positive=[0], negative=[1], topn=3)
    assert len(got) == 3
    assert {0, 1}.isdisjoint(t for t, _ in got)


# -- the same answers as gensim -------------------------------------------------------------
def _analogy_file(path, words, rng, n=60):
    lines = [": first"]
    for k in range(n):
        if k == n // 2:
            lines.append(": second")
        lines.append(" ".join(rng.choice(words, 4, replace=False)))
    lines.append("w1 w2 w3 unknownword")
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")


@pytest.mark.filterwarnings("ignore::DeprecationWarning")  # gensim's own init_sims
def test_same_answers_as_gensim(tmp_path):
    gensim_kv = pytest.importorskip("gensim.models.keyedvectors")
    words = WORDS + ["W1", "Cat"]  # a second spelling of w1, for case_insensitive
    V = _vectors(seed=3, n=len(words), dim=8)
    ours = KeyedVectors(words, V.copy())
    theirs = gensim_kv.KeyedVectors(8)
    theirs.add_vectors(words, V.copy())

    def same(a, b):
        assert [w for w, _ in a] == [w for w, _ in b]
        np.testing.assert_allclose([s for _, s in a], [s for _, s in b], rtol=1e-5, atol=1e-6)

    same(ours.most_similar("w1"), theirs.most_similar("w1"))
    same(ours.most_similar(positive=["w1", "w2"], negative=["w3"], topn=7),
         theirs.most_similar(positive=["w1", "w2"], negative=["w3"], topn=7))
    same(ours.most_similar(positive=[("w1", 2.0), "w4"], negative=["w5"], topn=5),
         theirs.most_similar(positive=[("w1", 2.0), "w4"], negative=["w5"], topn=5))
    same(ours.most_similar("w1", topn=4, restrict_vocab=12),
         theirs.most_similar("w1", topn=4, restrict_vocab=12))
    np.testing.assert_allclose(ours.most_similar("w2", topn=None),
                               theirs.most_similar("w2", topn=None), rtol=1e-5, atol=1e-6)
    same(ours.most_similar_cosmul(positive=["w1", "w2"], negative=["w3"], topn=6),
         theirs.most_similar_cosmul(positive=["w1", "w2"], negative=["w3"], topn=6))
    same(ours.similar_by_vector(V[9] * 2, topn=5), theirs.similar_by_vector(V[9] * 2, topn=5))
    same(ours.similar_by_word("w6", topn=5), theirs.similar_by_word("w6", topn=5))
    group = ["w1", "w2", "w3", "w4", "w5"]
    assert ours.doesnt_match(group) == theirs.doesnt_match(group)
    assert ours.n_similarity(group[:2], group[2:]) == pytest.approx(
        float(theirs.n_similarity(group[:2], group[2:])), rel=1e-5)
    np.testing.assert_allclose(ours.get_vector("w3", norm=True),
                               theirs.get_vector("w3", norm=True), rtol=1e-6)
    assert ours.similarity("w1", "w2") == pytest.approx(float(theirs.similarity("w1", "w2")),
                                                        rel=1e-5)
    # analogies: same score and same sections, question by question
    path = tmp_path / "questions.txt"
    _analogy_file(path, words, np.random.default_rng(5))
    for kw in ({}, {"restrict_vocab": 20}, {"case_insensitive": False},
               {"dummy4unknown": True}):
        s1, sec1 = ours.evaluate_word_analogies(path, **kw)
        s2, sec2 = theirs.evaluate_word_analogies(path, **kw)
        assert s1 == pytest.approx(s2)
        assert sec1 == sec2
