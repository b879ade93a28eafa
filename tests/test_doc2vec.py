"""Doc2Vec: the native training and inference against their NumPy twins, what the model
learns, inference at prediction time (many documents, a tolerance, repeatable), tags,
files, pickling and refused input."""

from __future__ import annotations

import pickle
import warnings

import numpy as np
import pytest

import msopt
from msopt import _core
from msopt.models.doc2vec import Doc2Vec, TaggedVectors
from msopt.reference import doc2vec as ref

ANIMALS = "cat dog horse cow sheep goat pig".split()
TOOLS = "hammer saw drill wrench chisel pliers file".split()
SHARED = "the a and with of".split()


def _topics(seed=0, n=120, length=12):
    """Documents drawn from one of two topics (plus shared words); their topic labels."""
    rng = np.random.default_rng(seed)
    docs, labels = [], []
    for i in range(n):
        topic = ANIMALS if i % 2 == 0 else TOOLS
        words = [topic[k] if rng.random() < 0.7 else SHARED[k % 5]
                 for k in rng.integers(0, 7, length)]
        docs.append(words)
        labels.append(i % 2)
    return docs, np.array(labels)


def _tiny(seed, V=9, n_docs=6, n_tags=4):
    rng = np.random.default_rng(seed)
    lengths = rng.integers(0, 9, n_docs)
    lengths[1] = 0  # an empty document
    ids = (rng.zipf(1.5, lengths.sum()).clip(1, V) - 1).astype(np.int64)
    offsets = np.r_[0, np.cumsum(lengths)[:-1]].astype(np.int64)
    tags = rng.integers(0, n_tags, n_docs + 3).astype(np.int64)  # 3 documents with 2 tags
    tag_offsets = np.r_[0, np.sort(rng.choice(np.arange(1, n_docs + 3), n_docs - 1,
                                              replace=False))].astype(np.int64)
    counts = np.bincount(ids, minlength=V).astype(np.int64) + 1
    return ids, offsets, tags, tag_offsets, counts


def _nearest_agree(unit, labels):
    """The share of documents whose nearest other document has their topic."""
    sims = unit @ unit.T
    np.fill_diagonal(sims, -np.inf)
    return (labels[sims.argmax(1)] == labels).mean()


@pytest.mark.parametrize("dim", [1, 17, 40])
@pytest.mark.parametrize("mode", ["dbow", "dbow-words", "dm"])
def test_training_matches_the_reference(dim, mode):
    ids, offsets, tags, tag_offsets, counts = _tiny(dim)
    V, T = len(counts), int(tags.max()) + 1
    rng = np.random.default_rng(dim)
    vectors = ((rng.random((V + T, dim)) - 0.5) / dim).astype(np.float32)
    syn1 = (rng.standard_normal((V, dim)) * 0.1).astype(np.float32)
    kw = dict(window=3, negative=4, sample=0.2, alpha=0.5, min_alpha=0.01, seed=7,
              dm=mode == "dm", dbow_words=mode == "dbow-words")
    a, b = vectors.copy(), syn1.copy()
    c, d = vectors.copy(), syn1.copy()
    starts = np.r_[offsets, len(ids)]
    tag_starts = np.r_[tag_offsets, len(tags)]
    for epoch in range(2):
        for b0, b1 in ((0, 2), (2, 6)):  # chunks, as the model calls
            chunk = (ids[starts[b0]:starts[b1]], offsets[b0:b1] - starts[b0],
                     tags[tag_starts[b0]:tag_starts[b1]], tag_offsets[b0:b1] - tag_starts[b0])
            where = dict(epoch=epoch, epochs=2, first_doc=b0, words_before=int(starts[b0]),
                         total_words=len(ids))
            want = ref.doc2vec_train(*chunk, counts, a, b, **where, **kw)
            got = _core.doc2vec_train(*chunk, counts, c, d, kw["window"], kw["negative"],
                                      kw["sample"], kw["alpha"], kw["min_alpha"], kw["seed"],
                                      1, kw["dm"], kw["dbow_words"], *where.values())
            assert got[1:] == want[1:]  # examples, words
            np.testing.assert_allclose(got[0], want[0], rtol=1e-5)
    assert (c != vectors).any()
    np.testing.assert_allclose(c, a, rtol=1e-4, atol=1e-6)
    np.testing.assert_allclose(d, b, rtol=1e-4, atol=1e-6)


@pytest.mark.parametrize("dim", [1, 17])
@pytest.mark.parametrize("dm", [False, True])
@pytest.mark.parametrize("tol", [0.0, 0.05])
def test_inference_matches_the_reference(dim, dm, tol):
    ids, offsets, _, _, counts = _tiny(dim + 3)
    V = len(counts)
    rng = np.random.default_rng(dim)
    words = (rng.standard_normal((V, dim)) * 0.3).astype(np.float32)
    syn1 = (rng.standard_normal((V, dim)) * 0.3).astype(np.float32)
    kw = dict(window=2, negative=3, sample=0.3, alpha=0.2, min_alpha=0.001, seed=5, dm=dm,
              epochs=6, max_epochs=9, tol=tol)
    want = ref.doc2vec_infer(ids, offsets, counts, words, syn1, **kw)
    w0, s0 = words.copy(), syn1.copy()
    got = _core.doc2vec_infer(ids, offsets, counts, words, syn1, kw["window"], kw["negative"],
                              kw["sample"], kw["alpha"], kw["min_alpha"], kw["seed"], 2, dm,
                              kw["epochs"], kw["max_epochs"], tol=tol)
    np.testing.assert_array_equal(words, w0)  # frozen
    np.testing.assert_array_equal(syn1, s0)
    np.testing.assert_array_equal(got[1], want[1])
    np.testing.assert_array_equal(got[3], want[3])
    np.testing.assert_allclose(got[0], want[0], rtol=1e-4, atol=1e-6)
    np.testing.assert_allclose(got[2], want[2], rtol=1e-5)
    assert got[1][1] == 0
    assert not got[0][1].any()
    if tol == 0:
        assert set(got[1][np.diff(np.r_[offsets, len(ids)]) > 0]) == {9}


def test_a_sampler_stands_for_the_counts():
    """A Doc2VecSampler built once gives the bits of the counts, in training and inference,
    and refuses a call with another sample."""
    ids, offsets, tags, tag_offsets, counts = _tiny(3)
    V, dim = len(counts), 5
    rng = np.random.default_rng(0)
    words = rng.standard_normal((V, dim)).astype(np.float32)
    syn1 = rng.standard_normal((V, dim)).astype(np.float32)
    sampler = _core.Doc2VecSampler(counts, 0.2)
    assert (sampler.size, sampler.sample) == (V, 0.2)
    assert repr(sampler) == f"Doc2VecSampler({V} words, sample=0.2)"
    args = (words, syn1, 2, 3, 0.2, 0.1, 0.001, 5, 1, False, 4, 4)
    a = _core.doc2vec_infer(ids, offsets, counts, *args)
    b = _core.doc2vec_infer(ids, offsets, sampler, *args)
    for x, y in zip(a, b):
        np.testing.assert_array_equal(x, y)
    tables = []
    for c in (counts, sampler):
        vecs = np.vstack([words, np.zeros((4, dim), np.float32)])
        s1 = syn1.copy()
        out = _core.doc2vec_train(ids, offsets, tags, tag_offsets, c, vecs, s1, 2, 3, 0.2, 0.1,
                                  0.001, 5, 1, False, False, 0, 1, 0, 0, len(ids))
        tables.append((vecs, s1, out))
    np.testing.assert_array_equal(tables[0][0], tables[1][0])
    np.testing.assert_array_equal(tables[0][1], tables[1][1])
    assert tables[0][2] == tables[1][2]
    with pytest.raises(ValueError, match="sample: the Doc2VecSampler was built with sample=0.2"):
        _core.doc2vec_infer(ids, offsets, sampler, words, syn1, 2, 3, 0.1, 0.1, 0.001, 5, 1,
                            False, 4, 4)
    with pytest.raises(ValueError, match="sample"):
        _core.Doc2VecSampler(counts, -1.0)
    with pytest.raises(ValueError, match="counts"):
        _core.Doc2VecSampler(np.zeros(3, np.int64), 0.0)


def test_the_model_builds_its_sampler_once():
    docs, _ = _topics(n=10)
    model = Doc2Vec(docs, dim=8, min_count=1, epochs=2, threads=1, seed=3)
    first = model._draws()
    model.infer_vectors(docs[:2])
    assert model._draws() is first
    model.sample = 0.0
    again = model._draws()
    assert again is not first
    assert again.sample == 0.0
    clone = pickle.loads(pickle.dumps(model))
    np.testing.assert_array_equal(clone.infer_vectors(docs[:2])[0],
                                  model.infer_vectors(docs[:2])[0])


def test_learns_the_topics_and_infers_new_documents():
    docs, labels = _topics()
    # sample=0: on 19 words every word is frequent, and subsampling would drop most
    model = Doc2Vec(docs, dim=16, min_count=1, epochs=30, threads=1, seed=3, sample=0)
    assert model.loss_history_[-1] < model.loss_history_[0]
    unit = model.dv._normed()
    assert _nearest_agree(unit, labels) >= 0.9
    new, _ = _topics(seed=9, n=20)
    vectors, info = model.infer_vectors(new, epochs=50)
    centroid = np.stack([unit[labels == k].mean(0) for k in (0, 1)])
    guess = (vectors @ centroid.T).argmax(1)
    assert (guess == np.arange(20) % 2).mean() >= 0.9
    assert (info.epochs == 50).all()
    assert not info.converged.any()
    assert np.isfinite(info.loss).all()


@pytest.mark.parametrize("dm", [0, 1])
def test_inference_repeats_and_ignores_threads_and_batch(dm):
    docs, _ = _topics()
    model = Doc2Vec(docs, dim=12, dm=dm, min_count=1, epochs=3, threads=1, seed=1)
    new, _ = _topics(seed=5, n=30)
    v1, i1 = model.infer_vectors(new, threads=1)
    v2, i2 = model.infer_vectors(new, threads=2)
    np.testing.assert_array_equal(v1, v2)
    np.testing.assert_array_equal(i1.loss, i2.loss)
    # a document's vector does not depend on the others in the call
    v3, _ = model.infer_vectors(new[7:9], threads=2)
    np.testing.assert_array_equal(v3, v1[7:9])
    np.testing.assert_array_equal(model.infer_vector(new[7]), v1[7])
    # another seed: another vector
    v4, _ = model.infer_vectors(new[:3], seed=2)
    assert not np.array_equal(v4, v1[:3])


def test_tolerance_stops_documents_on_their_own():
    docs, _ = _topics()
    model = Doc2Vec(docs, dim=16, min_count=1, epochs=20, threads=1, seed=3)
    new, _ = _topics(seed=5, n=40)
    full, info_full = model.infer_vectors(new, epochs=60)
    tol, info = model.infer_vectors(new, epochs=60, tol=0.02)
    assert info.epochs.min() >= 1
    assert info.epochs.max() <= 60
    assert info.epochs.mean() < 60  # epochs saved
    np.testing.assert_array_equal(info.converged[info.epochs < 60], True)
    cos = (full * tol).sum(1) / np.linalg.norm(full, axis=1) / np.linalg.norm(tol, axis=1)
    assert np.median(cos) > 0.8  # close to the full run's vectors
    # a tighter tol runs longer
    _, tight = model.infer_vectors(new, epochs=60, tol=0.001)
    assert tight.epochs.mean() > info.epochs.mean()


@pytest.mark.parametrize("threads", [1, 2])
def test_training_repeats_and_chunks_change_nothing(monkeypatch, threads):
    docs, _ = _topics()
    kw = dict(dim=10, min_count=1, epochs=2, threads=threads, seed=4,
              deterministic=threads > 1)
    a = Doc2Vec(docs, **kw)
    b = Doc2Vec(docs, **kw)
    np.testing.assert_array_equal(a.vectors, b.vectors)
    np.testing.assert_array_equal(a.syn1neg, b.syn1neg)
    if threads == 1:  # one thread: the chunking does not matter
        monkeypatch.setattr("msopt.models.doc2vec.CHUNK_WORDS", 50)
        c = Doc2Vec(docs, **kw)
        np.testing.assert_array_equal(a.vectors, c.vectors)
        assert a.loss_history_ == pytest.approx(c.loss_history_, rel=1e-12)


def test_lock_free_threads_train_too():
    docs, labels = _topics()
    model = Doc2Vec(docs, dim=16, min_count=1, epochs=30, threads=2, seed=3, sample=0)
    assert _nearest_agree(model.dv._normed(), labels) >= 0.9


def test_tags_ints_strings_and_several_per_document():
    docs = [(["cat", "dog", "cow"], ["animals", 7]), (["saw", "drill"], ["tools"]),
            (["cat", "cow"], "animals"), (["drill", "saw", "file"], [7, "tools"])]
    model = Doc2Vec(docs * 30, dim=8, min_count=1, epochs=2, threads=1)
    assert model.dv.index_to_key == ["animals", 7, "tools"]
    assert model.dv["animals"].shape == (8,)
    assert model.dv[7].shape == (8,)
    assert 7 in model.dv
    assert "7" not in model.dv
    assert 3.5 not in model.dv
    assert -1 <= model.dv.similarity("animals", "tools") <= 1
    assert [t for t, _ in model.dv.most_similar("animals", topn=5)] != []
    assert model.dv.most_similar(model.dv["tools"], topn=1)[0][0] == "tools"
    with pytest.raises(KeyError, match="'dogs' is not a document tag"):
        model.dv["dogs"]
    with pytest.raises(TypeError, match="tag: expected an int or a str"):
        model.dv[1.5]
    # token lists are tagged by position; gensim's TaggedDocument works too
    plain = Doc2Vec([["a", "b"], ["b", "c"]], dim=4, min_count=1, epochs=1)
    assert plain.dv.index_to_key == [0, 1]
    assert repr(plain.dv) == "TaggedVectors(2 tags, dim=4)"


def test_unknown_and_empty_documents():
    docs, _ = _topics()
    model = Doc2Vec(docs, dim=8, min_count=1, epochs=1, threads=1)
    with pytest.warns(UserWarning, match=r"documents\[1\] have no word in the vocabulary"):
        v, info = model.infer_vectors([["cat"], ["zebra", "xylophone"]])
    assert not v[1].any()
    assert info.epochs[1] == 0
    assert np.isnan(info.loss[1])
    assert v[0].any()
    assert info.epochs[0] == 1
    before = model.vectors.copy()
    with pytest.raises(ValueError, match=r"documents\[1\]: empty"):
        model.infer_vectors([["cat"], []])
    with pytest.raises(ValueError, match="tol"):
        model.infer_vectors([["cat"]], tol=0)
    with pytest.raises(ValueError, match="tol"):
        model.infer_vectors([["cat"]], tol=-1e-3)
    with pytest.raises(ValueError, match="max_epochs: only used with tol"):
        model.infer_vectors([["cat"]], max_epochs=5)
    with pytest.raises(TypeError, match="documents"):
        model.infer_vectors("cat dog")
    with pytest.raises(TypeError, match=r"documents\[0\]: tokens must be str"):
        model.infer_vectors([[1, 2]])
    with pytest.raises(ValueError, match="epochs"):
        model.infer_vectors([["cat"]], epochs=0)
    np.testing.assert_array_equal(model.vectors, before)
    v, info = model.infer_vectors([])
    assert v.shape == (0, 8)
    assert info.epochs.shape == (0,)


@pytest.mark.parametrize("dm", [0, 1])
def test_every_form_of_document_infers_the_same(dm):
    """Token lists and tuples and strs go to the native vocabulary directly; (tokens, tags)
    pairs, other iterables and a lower-casing model go through joined lines: the same
    vectors either way, and the same refusals."""
    docs, _ = _topics()
    model = Doc2Vec(docs, dim=8, dm=dm, min_count=1, epochs=2, threads=1, seed=4)
    new, _ = _topics(seed=6, n=25)
    want, info = model.infer_vectors(new)
    forms = [[tuple(d) for d in new], [" ".join(d) for d in new], [(d, [i]) for i, d in
             enumerate(new)], (list(d) for d in new), [iter(d) for d in new]]
    for form in forms:
        got, got_info = model.infer_vectors(form)
        np.testing.assert_array_equal(got, want)
        np.testing.assert_array_equal(got_info.loss, info.loss)
    lowered = Doc2Vec(docs, dim=8, dm=dm, min_count=1, epochs=2, threads=1, seed=4,
                      lower=True)
    np.testing.assert_array_equal(lowered.infer_vectors([[w.upper() for w in d]
                                                         for d in new])[0], want)
    for bad in (["cat", "\u00a0 \x1c"], ["cat", ()], ["cat", ""]):
        with pytest.raises(ValueError, match=r"documents\[1\]: empty"):
            model.infer_vectors(bad)
        with pytest.raises(ValueError, match=r"documents\[1\]: empty"):
            lowered.infer_vectors(bad)


def test_refused_training_changes_nothing():
    docs, _ = _topics()
    model = Doc2Vec(docs, dim=8, min_count=1, epochs=1, threads=1)
    before = (model.vectors.copy(), model.syn1neg.copy(), list(model.loss_history_))
    with pytest.raises(KeyError, match=r"documents\[0\]: tag 'new'"):
        model.train([(["cat"], ["new"])])
    with pytest.raises(TypeError, match="documents: got a str .*never opened as a file"):
        model.train("corpus.txt")
    with pytest.raises(ValueError, match="epochs"):
        model.train(docs, epochs=0)
    with pytest.raises(ValueError, match="documents: empty"):
        Doc2Vec([], min_count=1)
    with pytest.raises(ValueError, match=r"^documents\[1\]: the token 'new york' holds "):
        model.train([docs[0], (["in", "new york"], [0])])
    exhausted = iter(docs)
    list(exhausted)
    for nothing in ([], exhausted):  # an iterator read to its end trains nothing: refused
        with pytest.raises(ValueError, match="^documents: no documents to train on"):
            model.train(nothing)
    with pytest.raises(msopt.DivergenceError, match="as they were before"):
        model.set_params(lr=1e30).train(docs, epochs=2)
    model.set_params(lr=0.025)
    np.testing.assert_array_equal(model.vectors, before[0])
    np.testing.assert_array_equal(model.syn1neg, before[1])
    assert model.loss_history_ == before[2]


@pytest.mark.parametrize(("kw", "match"), [
    ({"dm": 2}, "dm: 1 or 0"), ({"dbow_words": -1}, "dbow_words"), ({"dim": 0}, "dim"),
    ({"negative": 0}, "negative"), ({"epochs": 0}, "epochs"), ({"lr": 0}, "lr"),
    ({"window": 0}, "window"), ({"threads": 0}, "threads"), ({"sample": -1}, "sample")])
def test_bad_parameters(kw, match):
    with pytest.raises((TypeError, ValueError), match=match):
        Doc2Vec(**kw)


def test_not_fitted_names_and_repr():
    model = Doc2Vec(vector_size=12, workers=1, alpha=0.05)
    assert (model.dim, model.threads, model.lr) == (12, 1, 0.05)
    assert model.vector_size == 12
    assert model.alpha == 0.05
    for what in (lambda: model.wv, lambda: model.dv, lambda: model.infer_vectors([["a"]]),
                 lambda: model.save("x.npz"), lambda: model.train([["a"]])):
        with pytest.raises(msopt.NotFittedError):
            what()
    assert repr(model) == "Doc2Vec(dim=12, dm=0, threads=1, lr=0.05)"
    with pytest.raises(TypeError, match="did you mean 'vector_size'"):
        Doc2Vec(vectorsize=3)
    docs, _ = _topics(n=10)
    model = Doc2Vec(docs, dim=4, min_count=1, epochs=1)
    assert repr(model) == "Doc2Vec(dim=4, dm=0, min_count=1, epochs=1, vocab=19 words, 10 " \
                          "tags, trained)"
    assert "Parameters\n    ----------" in Doc2Vec.__doc__


def test_save_load_pickle(tmp_path):
    docs = [(d, [f"d{i}", i % 3]) for i, d in enumerate(_topics(n=20)[0])]
    model = Doc2Vec(docs, dim=6, min_count=1, epochs=2, threads=1, seed=2)
    new = [["cat", "dog"], ["saw", "the"]]
    want, _ = model.infer_vectors(new)
    path = tmp_path / "m.d2v"
    model.save(path)
    for other in (Doc2Vec.load(path), pickle.loads(pickle.dumps(model))):
        assert other.dv.index_to_key == model.dv.index_to_key
        np.testing.assert_array_equal(other.vectors, model.vectors)
        np.testing.assert_array_equal(other.infer_vectors(new)[0], want)
        assert other.loss_history_ == model.loss_history_
        # the views share the one table: training moves what dv and wv show
        other.train(docs, epochs=1)
        np.testing.assert_array_equal(other.dv["d0"], other.vectors[len(other.vocab)])
        assert not np.array_equal(other.dv["d0"], model.dv["d0"])
    assert isinstance(pickle.loads(pickle.dumps(model)).dv, TaggedVectors)
    (tmp_path / "bad.npz").write_bytes(b"not a zip")
    with pytest.raises(ValueError, match="bad.npz"):
        Doc2Vec.load(tmp_path / "bad.npz")
    with pytest.raises(FileNotFoundError):
        Doc2Vec.load(tmp_path / "missing.npz")
    unfitted = pickle.loads(pickle.dumps(Doc2Vec(dim=3)))
    assert unfitted.dim == 3


def test_native_calls_refuse_bad_arrays():
    ids, offsets, tags, tag_offsets, counts = _tiny(1)
    V, T = len(counts), int(tags.max()) + 1
    vectors = np.zeros((V + T, 4), np.float32)
    syn1 = np.zeros((V, 4), np.float32)
    rest = (3, 3, 0.0, 0.1, 0.0, 1, 1, False, False, 0, 1)
    where = (0, 0, len(ids))
    with pytest.raises(IndexError, match=r"tags\[\d+\] = 4 is out of range for 4 tag rows"):
        _core.doc2vec_train(ids, offsets, np.where(tags == tags.max(), T, tags), tag_offsets,
                            counts, vectors, syn1, *rest, *where)
    with pytest.raises(ValueError, match="tag_offsets: one per document"):
        _core.doc2vec_train(ids, offsets, tags, tag_offsets[:-1], counts, vectors, syn1,
                            *rest, *where)
    with pytest.raises(ValueError, match="tag_offsets: must start at 0"):
        _core.doc2vec_train(ids, offsets, tags, tag_offsets + 1, counts, vectors, syn1, *rest,
                            *where)
    with pytest.raises(ValueError, match="first_doc, words_before, total_words"):
        _core.doc2vec_train(ids, offsets, tags, tag_offsets, counts, vectors, syn1, *rest, 0,
                            1, len(ids))
    with pytest.raises(ValueError, match="window: 1 <= window"):
        _core.doc2vec_train(ids, offsets, tags, tag_offsets, counts, vectors, syn1, 0,
                            *rest[1:], *where)
    with pytest.raises(TypeError, match="syn1"):
        _core.doc2vec_train(ids, offsets, tags, tag_offsets, counts, vectors,
                            syn1.astype(np.float64), *rest, *where)
    with pytest.raises(ValueError, match="tol"):
        _core.doc2vec_infer(ids, offsets, counts, syn1, syn1, 3, 3, 0.0, 0.1, 0.0, 1, 1, False,
                            5, 5, tol=float("nan"))
    with pytest.raises(IndexError, match="ids"):
        _core.doc2vec_infer(ids + V, offsets, counts, syn1, syn1, 3, 3, 0.0, 0.1, 0.0, 1, 1,
                            False, 5, 5)
    assert not vectors.any()
    assert not syn1.any()


def test_pv_dm_skips_a_window_with_nothing_to_average():
    """A document without tags and with one word: PV-DM has no input row to average."""
    ids = np.array([0, 1, 2], np.int64)
    offsets = np.array([0, 1], np.int64)
    tags = np.array([0], np.int64)
    tag_offsets = np.array([0, 0], np.int64)  # the first document has no tag
    counts = np.ones(3, np.int64)
    vectors = np.full((4, 3), 0.1, np.float32)
    syn1 = np.full((3, 3), 0.1, np.float32)
    _core.doc2vec_train(ids[:1], offsets[:1], tags[:0], tag_offsets[:1], counts, vectors,
                        syn1, 2, 2, 0.0, 0.1, 0.0, 1, 1, True, False, 0, 1, 0, 0, 3)
    assert np.isfinite(syn1).all()
    _core.doc2vec_train(ids, offsets, tags, tag_offsets, counts, vectors, syn1, 2, 2, 0.0, 0.1,
                        0.0, 1, 1, True, False, 0, 1, 0, 0, 3)
    assert np.isfinite(vectors).all()
    assert np.isfinite(syn1).all()


def test_every_isa_gives_the_same_bits():
    docs, _ = _topics(n=30)
    results = []
    for isa in _core.available_isas():
        _core.set_isa(isa)
        try:
            for dm in (0, 1):
                m = Doc2Vec(docs, dim=19, dm=dm, min_count=1, epochs=1, threads=1)
                v, _ = m.infer_vectors(docs[:5], tol=0.01, max_epochs=10)
                results.append((isa, dm, m.vectors.copy(), v))
        finally:
            _core.set_isa(_core.available_isas()[0])
    for dm in (0, 1):
        ours = [r for r in results if r[1] == dm]
        for r in ours[1:]:
            np.testing.assert_array_equal(r[2], ours[0][2], err_msg=r[0])
            np.testing.assert_array_equal(r[3], ours[0][3], err_msg=r[0])


def test_gensim_default_warning_free_and_one_document_api():
    docs, _ = _topics(n=10)
    model = Doc2Vec(docs, dim=4, min_count=1, epochs=2)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        v = model.infer_vector(["cat", "dog"], epochs=3, alpha=0.05, min_alpha=0.001)
    assert v.shape == (4,)
    assert v.dtype == np.float32
    with pytest.raises(TypeError, match="doc_words"):
        model.infer_vector("cat dog")
    with pytest.raises(ValueError, match="alpha"):
        model.infer_vector(["cat"], alpha=0)
    with pytest.raises(TypeError, match="model.wv.evaluate_word_pairs"):
        model.dv.evaluate_word_pairs("pairs.txt")


def test_an_interrupt_leaves_the_chunks_done(monkeypatch):
    """Ctrl-C between two native calls: the model keeps every finished chunk and trains on."""
    docs, _ = _topics()
    model = Doc2Vec(docs, dim=8, min_count=1, epochs=1, threads=1, seed=2)
    monkeypatch.setattr("msopt.models.doc2vec.CHUNK_WORDS", 100)  # several chunks an epoch
    calls = []
    real = _core.doc2vec_train

    def interrupted(*args, **kw):
        calls.append(1)
        if len(calls) == 3:
            raise KeyboardInterrupt
        return real(*args, **kw)

    monkeypatch.setattr(_core, "doc2vec_train", interrupted)
    before = model.vectors.copy()
    with pytest.raises(KeyboardInterrupt):
        model.train(docs, epochs=2)
    assert np.isfinite(model.vectors).all()
    assert (model.vectors != before).any()  # the first two chunks stay
    assert len(model.loss_history_) == 1  # no epoch finished in that call
    monkeypatch.setattr(_core, "doc2vec_train", real)
    model.train(docs, epochs=1)
    assert len(model.loss_history_) == 2


def test_not_fitted_messages_read_once():
    model = Doc2Vec(dim=8, min_count=1, threads=1)
    for call in (lambda: model.train([["a", "b"]]), lambda: model.infer_vectors([["a"]]),
                 lambda: model.save("never.npz")):
        with pytest.raises(msopt.NotFittedError, match=r"not fitted yet; .* first\.$") as e:
            call()
        assert "first first" not in str(e.value)


def test_infer_vector_takes_gensims_positional_order():
    docs, _ = _topics()
    model = Doc2Vec(docs, dim=8, min_count=1, epochs=2, threads=1, seed=3)
    # gensim: infer_vector(doc_words, alpha=None, min_alpha=None, epochs=None)
    np.testing.assert_array_equal(model.infer_vector(["cat", "dog"], 0.05, 0.001, 3),
                                  model.infer_vector(["cat", "dog"], epochs=3, alpha=0.05,
                                                     min_alpha=0.001))
