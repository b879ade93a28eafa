"""Word2Vec (skip-gram and CBOW, negative sampling): the native loop against the NumPy
reference, learning, determinism, save/load, the evaluators, and bad input."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

import msopt
from msopt import _core, reference


def _topic_corpus(seed=0, n=3000):
    """Two topics whose words only ever share sentences with their own topic."""
    rng = np.random.default_rng(seed)
    animals = ["cat", "dog", "horse", "cow", "sheep", "goat"]
    tools = ["hammer", "saw", "drill", "wrench", "nail", "screw"]
    lines = []
    for _ in range(n):
        topic = animals if rng.random() < 0.5 else tools
        lines.append(" ".join(rng.choice(topic, 8)))
    return lines, animals, tools


def test_learns_the_topics_and_the_loss_falls():
    lines, animals, tools = _topic_corpus()
    m = msopt.Word2Vec(lines, vector_size=20, window=3, min_count=1, epochs=5, workers=1,
                       sample=0, seed=3)
    assert m.loss_history_[-1] < m.loss_history_[0]
    for w in animals:
        near = [x for x, _ in m.wv.most_similar(w, topn=5)]
        assert set(near) <= set(animals), (w, near)
    assert m.wv.similarity("cat", "dog") > m.wv.similarity("cat", "hammer")


def test_one_thread_repeats_bit_for_bit():
    lines, _, _ = _topic_corpus(1, 500)
    a = msopt.Word2Vec(lines, vector_size=8, min_count=1, epochs=2, workers=1, seed=5)
    b = msopt.Word2Vec(lines, vector_size=8, min_count=1, epochs=2, workers=1, seed=5)
    c = msopt.Word2Vec(lines, vector_size=8, min_count=1, epochs=2, workers=1, seed=6)
    np.testing.assert_array_equal(a.wv.vectors, b.wv.vectors)
    assert not np.array_equal(a.wv.vectors, c.wv.vectors)


def test_two_threads_train_too():
    lines, animals, _ = _topic_corpus(2)
    m = msopt.Word2Vec(lines, vector_size=16, min_count=1, epochs=3, workers=2, sample=0)
    assert set(x for x, _ in m.wv.most_similar("cat", topn=3)) <= set(animals)


def test_token_lists_and_files(tmp_path):
    path = tmp_path / "c.txt"
    lines, _, _ = _topic_corpus(3, 200)
    path.write_text("\n".join(lines), encoding="utf-8")
    a = msopt.Word2Vec(path, vector_size=4, min_count=1, epochs=1, workers=1)
    b = msopt.Word2Vec([s.split() for s in lines], vector_size=4, min_count=1, epochs=1,
                       workers=1)
    np.testing.assert_array_equal(a.wv.vectors, b.wv.vectors)


def test_a_generator_is_read_once():
    lines, _, _ = _topic_corpus(9, 300)
    a = msopt.Word2Vec((s for s in lines), vector_size=4, min_count=1, epochs=1, workers=1)
    b = msopt.Word2Vec(lines, vector_size=4, min_count=1, epochs=1, workers=1)
    np.testing.assert_array_equal(a.wv.vectors, b.wv.vectors)
    assert a.loss_history_ == b.loss_history_


def test_long_sentences_are_cut():
    from msopt.models.word2vec import _cut_long
    offsets = np.array([0, 3, 3, 25_003], np.int64)  # lengths 3, 0, 25,000, 1
    cut = _cut_long(offsets, 25_004)
    assert cut.tolist() == [0, 3, 3, 10_003, 20_003, 25_003]
    np.testing.assert_array_equal(_cut_long(offsets[:2], 10), offsets[:2])


def test_table_sigmoid_near_six_and_bad_rates():
    # 5.9999995f maps to index 1000 of the 1000-entry table: the last entry stands for it.
    loss = [0.0]
    g = reference.models._w2v_target(np.float32(5.9999995), 1.0, np.float32(0.1), True, loss)
    assert np.isfinite(g)
    syn = np.zeros((2, 4), np.float32)
    for alpha in (float("inf"), float("nan")):
        with pytest.raises(ValueError, match="finite alpha > 0"):
            _core.word2vec_train(np.array([0, 1], np.int64), np.array([0]),
                                 np.array([1, 1]), syn, syn.copy(), 2, 1, 0.0, alpha, 1e-4, 1,
                                 1, 1, table_sigmoid=True)
    with pytest.raises(ValueError, match="negative <= 1000"):
        msopt.Word2Vec(["a b a b"], min_count=1, negative=10**6)
    empty = np.zeros((2, 0), np.float32)
    with pytest.raises(ValueError, match="vector_size must be >= 1"):
        _core.word2vec_train(np.array([0, 1], np.int64), np.array([0]), np.array([1, 1]),
                             empty, empty.copy(), 2, 1, 0.0, 0.025, 1e-4, 1, 1, 2)


def test_bad_input():
    with pytest.raises(ValueError, match="holds no tokens"):
        msopt.Word2Vec(["", " "], min_count=1)
    with pytest.raises(ValueError, match="min_count: no word occurs"):
        msopt.Word2Vec(["a b c"], min_count=5)
    with pytest.raises(ValueError, match="sg: 1 .skip-gram. or 0"):
        msopt.Word2Vec(sg=2)
    with pytest.raises(ValueError, match="sigmoid: 'exact' or 'table'"):
        msopt.Word2Vec(sigmoid="fast")
    with pytest.raises(ValueError, match="threads: must be >= 1"):
        msopt.Word2Vec(workers=0)
    with pytest.raises(TypeError, match="dim: expected an int"):
        msopt.Word2Vec(dim="10")
    with pytest.raises(ValueError, match="call build_vocab"):
        msopt.Word2Vec().train(["a b"])
    m = msopt.Word2Vec(["a b a b"], vector_size=4, min_count=1, epochs=1, workers=1)
    with pytest.raises(KeyError, match="'zzz' is not in the vocabulary"):
        m.wv["zzz"]
    with pytest.raises(KeyError, match="zzz"):
        m.wv.similarity("a", "zzz")
    syn = np.zeros((2, 4), np.float32)
    with pytest.raises(IndexError, match=r"ids\[0\] = 5 is out of range"):
        _core.word2vec_train(np.array([5], np.int64), np.array([0]), np.array([1, 1]), syn,
                             syn.copy(), 2, 1, 0.0, 0.025, 1e-4, 1, 1, 1)
    with pytest.raises(ValueError, match="window >= 1"):
        _core.word2vec_train(np.array([0], np.int64), np.array([0]), np.array([1, 1]), syn,
                             syn.copy(), 0, 1, 0.0, 0.025, 1e-4, 1, 1, 1)


def _tiny(seed, n_words=40, V=7):
    rng = np.random.default_rng(seed)
    ids = rng.zipf(1.5, n_words).clip(1, V).astype(np.int64) - 1
    cuts = np.sort(rng.choice(np.arange(1, n_words), 5, replace=False))
    offsets = np.r_[0, cuts, cuts[-1]].astype(np.int64)  # one empty sentence at the end
    counts = np.bincount(ids, minlength=V).astype(np.int64) + 1
    return ids, offsets, counts


@pytest.mark.parametrize("dim", [1, 8, 17, 40])
@pytest.mark.parametrize("mode", ["sg", "sg-table", "cbow-mean", "cbow-sum", "cbow-table"])
def test_native_loop_matches_the_reference(dim, mode):
    ids, offsets, counts = _tiny(dim)
    V = len(counts)
    rng = np.random.default_rng(dim + 1)
    syn0 = ((rng.random((V, dim)) - 0.5) / dim).astype(np.float32)
    syn1 = (rng.standard_normal((V, dim)) * 0.1).astype(np.float32)
    kw = dict(window=3, negative=4, sample=0.2, alpha=0.5, min_alpha=0.01, epochs=2,
              seed=11, sg=mode.startswith("sg"), cbow_mean=mode != "cbow-sum",
              table_sigmoid=mode.endswith("table"))
    a0, a1 = syn0.copy(), syn1.copy()
    want = reference.word2vec_train(ids, offsets, counts, a0, a1, **kw)
    b0, b1 = syn0.copy(), syn1.copy()
    got, words, examples = _core.word2vec_train(
        ids, offsets, counts, b0, b1, kw.pop("window"), kw.pop("negative"), kw.pop("sample"),
        kw.pop("alpha"), kw.pop("min_alpha"), kw.pop("epochs"), kw.pop("seed"), 1, **kw)
    assert examples > 0
    assert 0 < words <= 2 * len(ids)
    np.testing.assert_allclose(b0, a0, rtol=1e-4, atol=1e-6)
    np.testing.assert_allclose(b1, a1, rtol=1e-4, atol=1e-6)
    np.testing.assert_allclose(got, want, rtol=1e-5)


def test_every_isa_gives_the_same_bits():
    lines, _, _ = _topic_corpus(4, 300)
    results = []
    for isa in _core.available_isas():
        _core.set_isa(isa)
        try:
            for sg in (1, 0):
                m = msopt.Word2Vec(lines, vector_size=19, min_count=1, epochs=1, workers=1,
                                   sg=sg)
                results.append((isa, sg, m.wv.vectors.copy(), m.loss_history_))
        finally:
            _core.set_isa(_core.available_isas()[0])
    for sg in (1, 0):
        ours = [r for r in results if r[1] == sg]
        for r in ours[1:]:
            np.testing.assert_array_equal(r[2], ours[0][2], err_msg=r[0])
            assert r[3] == ours[0][3]


@pytest.mark.parametrize("dim", [1, 3, 4, 5, 15, 16, 17, 20, 21, 33, 100])
def test_frozen_scores_are_dot16_on_every_isa(dim):
    """The frozen-target kernels (Doc2Vec's inference) score up to 8 rows at once, their
    reductions side by side: each score has the bits of the one-row dot product, which
    the NumPy twin spells out, on every instruction-set path."""
    from msopt.reference.models import _dot16

    rng = np.random.default_rng(dim)
    h = rng.standard_normal(dim).astype(np.float32)
    saved = _core.isa()
    try:
        for n in range(1, 9):
            rows = (rng.standard_normal((n, dim)) * 10.0 ** rng.integers(-3, 4, (n, 1))
                    ).astype(np.float32)
            want = np.array([_dot16(h, r) for r in rows], np.float32)
            for isa in _core.available_isas():
                _core.set_isa(isa)
                np.testing.assert_array_equal(_core.frozen_scores(h, rows), want,
                                              err_msg=f"{isa}, {n} rows")
    finally:
        _core.set_isa(saved)
    with pytest.raises(ValueError, match="rows: 1 to 8 rows"):
        _core.frozen_scores(h, np.zeros((9, dim), np.float32))
    with pytest.raises(ValueError, match="rows"):
        _core.frozen_scores(h, np.zeros((2, dim + 1), np.float32))


def test_a_sampler_stands_for_the_counts():
    """A Word2VecSampler built once gives the bits of the counts chunk after chunk, and
    refuses a call with another sample or a bad construction."""
    lines, _, _ = _topic_corpus(3, 200)
    vocab = msopt.text.Vocabulary(min_count=1).fit(lines)
    ids, offsets = vocab.encode(lines)
    counts = vocab.counts
    V, dim = len(counts), 7
    rng = np.random.default_rng(0)
    syn0 = rng.uniform(-0.1, 0.1, (V, dim)).astype(np.float32)
    sampler = _core.Word2VecSampler(counts, 1e-2)
    assert (sampler.size, sampler.sample) == (V, 0.01)
    assert repr(sampler) == f"Word2VecSampler({V} words, sample=0.01)"
    out = []
    for c in (counts, sampler):
        a, b = syn0.copy(), np.zeros_like(syn0)
        corpus = _core.RaggedIds(ids, offsets, V)
        resume = np.zeros((1, 4 + 2 * 2), np.int64)
        done = 0
        while done < 2:  # chunks of 500 words
            losses, _, _, _, done = _core.word2vec_train_chunk(
                corpus, c, a, b, 3, 4, 1e-2, 0.05, 1e-3, 2, 5, 1, resume, 500)
        out.append((a, b, losses))
    np.testing.assert_array_equal(out[0][0], out[1][0])
    np.testing.assert_array_equal(out[0][1], out[1][1])
    np.testing.assert_array_equal(out[0][2], out[1][2])
    corpus = _core.RaggedIds(ids, offsets, V)
    resume = np.zeros((1, 4 + 2 * 2), np.int64)
    with pytest.raises(ValueError, match="sample: the Word2VecSampler was built with "
                                         "sample=0.01, the call has 0.001"):
        _core.word2vec_train_chunk(corpus, sampler, syn0.copy(), syn0.copy(), 3, 4, 1e-3,
                                   0.05, 1e-3, 2, 5, 1, resume, 500)
    with pytest.raises(ValueError, match="sample"):
        _core.Word2VecSampler(counts, -1.0)
    with pytest.raises(ValueError, match="counts"):
        _core.Word2VecSampler(np.zeros(3, np.int64), 0.0)


def test_cbow_learns_the_topics():
    lines, animals, tools = _topic_corpus()
    for mean in (1, 0):
        m = msopt.Word2Vec(lines, vector_size=20, window=3, min_count=1, epochs=5, sg=0,
                           cbow_mean=mean, workers=1, sample=0, seed=3, alpha=0.05)
        assert m.loss_history_[-1] < m.loss_history_[0]
        assert set(x for x, _ in m.wv.most_similar("cat", topn=3)) <= set(animals)
    # With the mean, the topics separate clearly (gensim's CBOW gives 0.98 and 0.15 here;
    # with the sum, 0.99 and 0.98 as for msopt).
    assert m_mean_gap(lines) > 0.5


def m_mean_gap(lines):
    m = msopt.Word2Vec(lines, vector_size=20, window=3, min_count=1, epochs=5, sg=0,
                       workers=1, sample=0, seed=3, alpha=0.05)
    return m.wv.similarity("cat", "dog") - m.wv.similarity("cat", "hammer")


@pytest.mark.parametrize("sg", [1, 0])
def test_deterministic_mode_repeats_with_two_workers(sg):
    lines, animals, _ = _topic_corpus(5, 2000)
    kw = dict(vector_size=16, min_count=1, epochs=3, workers=2, sg=sg, deterministic=True,
              seed=9, sample=0)
    a, b = msopt.Word2Vec(lines, **kw), msopt.Word2Vec(lines, **kw)
    np.testing.assert_array_equal(a.wv.vectors, b.wv.vectors)
    np.testing.assert_array_equal(a.syn1neg, b.syn1neg)
    assert a.loss_history_ == b.loss_history_
    assert set(x for x, _ in a.wv.most_similar("cat", topn=3)) <= set(animals)
    # One worker is deterministic either way: the two modes are the same loop.
    one = dict(kw, workers=1)
    c = msopt.Word2Vec(lines, **one)
    d = msopt.Word2Vec(lines, **dict(one, deterministic=False))
    np.testing.assert_array_equal(c.wv.vectors, d.wv.vectors)


def test_compute_loss_off_and_table_sigmoid():
    lines, _, _ = _topic_corpus(6, 300)
    kw = dict(vector_size=8, min_count=1, epochs=2, workers=1, seed=2)
    on = msopt.Word2Vec(lines, **kw)
    off = msopt.Word2Vec(lines, compute_loss=False, **kw)
    np.testing.assert_array_equal(on.wv.vectors, off.wv.vectors)  # the loss changes nothing
    assert all(np.isnan(off.loss_history_))
    table = msopt.Word2Vec(lines, sigmoid="table", **kw)
    assert not np.array_equal(on.wv.vectors, table.wv.vectors)
    np.testing.assert_allclose(table.loss_history_, on.loss_history_, rtol=0.05)


def test_save_load_round_trip_and_continued_training(tmp_path):
    lines, _, _ = _topic_corpus(7, 400)
    kw = dict(vector_size=12, min_count=2, epochs=1, workers=1, seed=4, sg=0)
    m = msopt.Word2Vec(lines, **kw)
    path = tmp_path / "model.npz"
    m.save(path)
    n = msopt.Word2Vec.load(path)
    assert n.wv.index_to_key == m.wv.index_to_key
    np.testing.assert_array_equal(n.wv.vectors, m.wv.vectors)
    np.testing.assert_array_equal(n.syn1neg, m.syn1neg)
    np.testing.assert_array_equal(n.vocab.counts, m.vocab.counts)
    assert (n.sg, n.vector_size, n.min_count, n.loss_history_) == (0, 12, 2, m.loss_history_)
    assert n.wv.most_similar("cat", topn=4) == m.wv.most_similar("cat", topn=4)
    m.train(lines[:100], epochs=2)
    n.train(lines[:100], epochs=2)
    np.testing.assert_array_equal(n.wv.vectors, m.wv.vectors)


def test_load_refuses_what_is_not_a_model(tmp_path):
    lines, _, _ = _topic_corpus(8, 200)
    good = tmp_path / "good.npz"
    msopt.Word2Vec(lines, vector_size=8, min_count=1, epochs=1, workers=1).save(good)
    data = good.read_bytes()
    cases = {"text.txt": b"just some words\n", "empty.npz": b"",
             "half.npz": data[: len(data) // 2], "head.npz": data[:100]}
    for name, content in cases.items():
        (tmp_path / name).write_bytes(content)
    np.save(tmp_path / "array.npy", np.arange(3))
    np.savez(tmp_path / "other.npz", a=np.arange(3))
    with np.load(good) as z:
        parts = {k: z[k] for k in z.files}
    np.savez(tmp_path / "wrong_tag.npz", **dict(parts, format=np.array("msopt-vocab 1")))
    np.savez(tmp_path / "bad_shape.npz", **dict(parts, syn0=parts["syn0"][:-1]))
    np.savez(tmp_path / "no_syn1.npz", **{k: v for k, v in parts.items() if k != "syn1neg"})
    np.savez(tmp_path / "params_list.npz", **dict(parts, params=np.array("[1, 2]")))
    np.savez(tmp_path / "params_sentences.npz", **dict(
        parts, params=np.array('{"sentences": "x", "vector_size": 8}')))
    np.savez(tmp_path / "total_2d.npz", **dict(parts, total_tokens=np.arange(2)))
    np.savez(tmp_path / "history_0d.npz", **dict(parts, loss_history=np.array(1.0)))
    for name in [*cases, "array.npy", "other.npz", "wrong_tag.npz", "bad_shape.npz",
                 "no_syn1.npz", "params_list.npz", "params_sentences.npz", "total_2d.npz",
                 "history_0d.npz"]:
        with pytest.raises(ValueError, match=r"not (a readable|an|a valid) msopt Word2Vec"):
            msopt.Word2Vec.load(tmp_path / name)
    with pytest.raises(FileNotFoundError):
        msopt.Word2Vec.load(tmp_path / "missing.npz")


def _analogy_vectors():
    words = ["man", "woman", "king", "queen", "Paris", "France", "Rome", "Italy", "apple",
             "paris"]
    V = np.zeros((len(words), 4), np.float32)
    V[0], V[1] = [1, 0, 0, 0], [1, 1, 0, 0]             # man, woman: gender on axis 1
    V[2], V[3] = [1, 0, 1, 0], [1, 1, 1, 0.1]           # king, queen: royalty on axis 2
    V[4], V[5] = [0, 0, 0, 1], [0, 0.2, 0.8, 1]         # capital -> country on axis 2
    V[6], V[7] = [0.1, 0, 0, 1], [0.1, 0.2, 0.8, 1]
    V[8] = [-1, -1, -1, -1]
    V[9] = V[4] * 0.9                                   # a rarer spelling of Paris
    return msopt.word2vec.KeyedVectors(words, V)


def test_analogy_evaluator(tmp_path):
    kv = _analogy_vectors()
    path = tmp_path / "q.txt"
    path.write_text(": family\nman woman king queen\nMAN KING woman queen\nman woman dog cat\n"
                    ": capitals\nParis France Rome Italy\nparis france rome apple\n",
                    encoding="utf-8")
    score, sections = kv.evaluate_word_analogies(path)
    by = {s["section"]: s for s in sections}
    assert by["family"] == {"section": "family",
                            "correct": [("MAN", "WOMAN", "KING", "QUEEN"),
                                        ("MAN", "KING", "WOMAN", "QUEEN")], "incorrect": []}
    assert by["capitals"]["correct"] == [("PARIS", "FRANCE", "ROME", "ITALY")]
    assert by["capitals"]["incorrect"] == [("PARIS", "FRANCE", "ROME", "APPLE")]
    assert by["Total accuracy"] == {
        "section": "Total accuracy",
        "correct": by["family"]["correct"] + by["capitals"]["correct"],
        "incorrect": by["capitals"]["incorrect"]}
    assert score == 0.75
    # "man woman dog cat" has unknown words: skipped, or incorrect with dummy4unknown.
    score, sections = kv.evaluate_word_analogies(path, dummy4unknown=True)
    assert sections[0]["incorrect"] == [("MAN", "WOMAN", "DOG", "CAT")]
    assert score == 0.6
    # Case-sensitive, "MAN KING ..." and the lower-case capitals are out of the vocabulary.
    score, sections = kv.evaluate_word_analogies(path, case_insensitive=False)
    assert len(sections[-1]["correct"]) == 2
    assert not sections[-1]["incorrect"]
    assert score == 1.0
    score, sections = kv.evaluate_word_analogies(path, restrict_vocab=4)
    assert len(sections[-1]["correct"]) + len(sections[-1]["incorrect"]) == 2
    (tmp_path / "bad.txt").write_text("man woman king queen\n", encoding="utf-8")
    with pytest.raises(ValueError, match="before any ': section'"):
        kv.evaluate_word_analogies(tmp_path / "bad.txt")


def test_word_pairs_evaluator(tmp_path):
    rng = np.random.default_rng(0)
    words = [f"w{i}" for i in range(30)]
    kv = msopt.word2vec.KeyedVectors(words, rng.standard_normal((30, 5)).astype(np.float32))
    pairs = [(a, b) for a, b in itertools.combinations(words[:12], 2)][:40]
    human = np.round(rng.random(len(pairs)) * 10, 1)
    human[:5] = human[5]  # ties
    lines = ["# comment", "# word1\tword2\tscore"]
    lines += [f"{a.upper()}\t{b}\t{h}" for (a, b), h in zip(pairs, human)]
    lines += ["w1\tunknown\t3.0"]
    path = tmp_path / "ws.tsv"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    pearson, spearman, oov = kv.evaluate_word_pairs(path)
    cos = np.array([kv.similarity(a, b) for a, b in pairs])
    scipy_stats = pytest.importorskip("scipy.stats")
    assert spearman == pytest.approx(scipy_stats.spearmanr(cos, human)[0], abs=1e-9)
    assert pearson == pytest.approx(scipy_stats.pearsonr(cos, human)[0], abs=1e-9)
    assert oov == pytest.approx(100 / 41)
    (tmp_path / "bad.tsv").write_text("a b 3\n", encoding="utf-8")
    with pytest.raises(ValueError, match="line 1 is not"):
        kv.evaluate_word_pairs(tmp_path / "bad.tsv")
