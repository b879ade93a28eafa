"""Word2Vec and TextClassifier train in native chunks that resume where the last one
stopped: with one thread the chunks give the same bits as one whole call (the rate's decay,
the random streams and the per-epoch loss sums carry over), and the resume state is
checked at the boundary."""

from __future__ import annotations

import numpy as np
import pytest

import msopt
from msopt import _core

WORDS = "the cat sat on a mat while dog ran to log and bird flew over tree".split()

def _same_runs(runs, *, whole_calls, min_calls, epochs):
    """Two runs, (tables..., loss history, native calls): one whole call and many chunks,
    the same bits."""
    (*t0, l0, n0), (*t1, l1, n1) = runs
    assert n0 == whole_calls
    assert n1 > min_calls
    for a, b in zip(t0, t1):
        np.testing.assert_array_equal(a, b)
    assert l0 == l1
    assert len(l0) == epochs


def _corpus(n: int = 300, seed: int = 0) -> list[str]:
    rng = np.random.default_rng(seed)
    return [" ".join(rng.choice(WORDS, size=int(rng.integers(3, 12)))) for _ in range(n)]


def _counting(monkeypatch, name):
    """Count the native calls of `name`."""
    calls = []
    real = getattr(_core, name)

    def counted(*args, **kw):
        calls.append(1)
        return real(*args, **kw)

    monkeypatch.setattr(_core, name, counted)
    return calls


@pytest.mark.parametrize("sg", [1, 0])
@pytest.mark.parametrize("sigmoid", ["exact", "table"])

def test_word2vec_chunks_repeat_one_call_bit_for_bit(monkeypatch, sg, sigmoid):
    corpus = _corpus()
    runs = []
    for chunk in (1 << 40, 37):
        calls = _counting(monkeypatch, "word2vec_train_chunk")
        m = msopt.Word2Vec(dim=12, min_count=1, epochs=3, threads=1, seed=3, sg=sg,
                           sigmoid=sigmoid, window=3)
        m._chunk_words = chunk
        m.build_vocab(corpus)
        m.train(corpus)
        runs.append((m.wv.vectors.copy(), m.syn1neg.copy(), list(m.loss_history_), len(calls)))
    _same_runs(runs, whole_calls=1, min_calls=20, epochs=3)


def test_word2vec_chunks_match_the_whole_call_binding():
    """The Python loop over chunks against word2vec_train, one native call."""
    corpus = _corpus(seed=1)
    m = msopt.Word2Vec(dim=8, min_count=1, epochs=2, threads=1, seed=5, window=2)
    m.build_vocab(corpus)
    syn0, syn1 = m.wv.vectors.copy(), m.syn1neg.copy()
    ids, offsets = m.vocab.encode(corpus)
    losses, _, _ = _core.word2vec_train(ids, offsets, m.vocab.counts, syn0, syn1, 2, 5, 1e-3,
                                        0.025, 1e-4, 2, 5, 1)
    m._chunk_words = 50
    m.train(corpus)
    np.testing.assert_array_equal(m.wv.vectors, syn0)
    np.testing.assert_array_equal(m.syn1neg, syn1)
    assert m.loss_history_ == list(losses)


def test_word2vec_deterministic_threads_repeat_with_fixed_chunks():
    corpus = _corpus(600, seed=2)
    out = []
    for _ in range(2):
        m = msopt.Word2Vec(dim=8, min_count=1, epochs=2, threads=2, seed=1, deterministic=True)
        m._chunk_words = 200
        m.build_vocab(corpus)
        m.train(corpus)
        out.append((m.wv.vectors.copy(), m.loss_history_))
    np.testing.assert_array_equal(out[0][0], out[1][0])
    assert out[0][1] == out[1][1]


def test_word2vec_lock_free_threads_train_every_epoch_in_chunks():
    corpus = _corpus(600, seed=3)
    m = msopt.Word2Vec(dim=8, min_count=1, epochs=3, threads=2, seed=1)
    m._chunk_words = 100
    seen = []
    m.callbacks = [lambda model, p: seen.append(p.seen)]
    m.build_vocab(corpus)
    m.train(corpus)
    assert len(m.loss_history_) == 3
    assert np.isfinite(m.loss_history_).all()
    assert seen == sorted(seen)
    assert seen[-1] == 3 * sum(len(s.split()) for s in corpus)


@pytest.mark.parametrize("loss", ["softmax", "ova", "ns"])
def test_text_classifier_chunks_repeat_one_call_bit_for_bit(monkeypatch, loss):
    texts = _corpus(200, seed=4)
    labels = [len(t.split()) % 3 for t in texts]
    runs = []
    for chunk in (1 << 40, 23):
        calls = _counting(monkeypatch, "fasttext_train_chunk")
        clf = msopt.TextClassifier(dim=8, buckets=50, epochs=4, lr=0.3, threads=1, seed=2,
                                   loss=loss)
        clf._chunk_rows = chunk
        clf.fit(texts, labels).partial_fit(texts, labels)
        runs.append((clf.input_.copy(), clf.output_.copy(), clf.loss_history_, len(calls)))
    _same_runs(runs, whole_calls=2, min_calls=40, epochs=8)


def test_resume_state_is_checked():
    rng = np.random.default_rng(0)
    ids = rng.integers(0, 5, 40).astype(np.int64)
    offsets = np.arange(0, 40, 8, dtype=np.int64)
    counts = np.bincount(ids, minlength=5).astype(np.int64) + 1
    corpus = _core.RaggedIds(ids, offsets, 5)
    assert len(corpus) == 5
    assert corpus.rows == 5
    syn0, syn1 = rng.random((5, 4), dtype=np.float32), np.zeros((5, 4), np.float32)
    args = (corpus, counts, syn0, syn1, 2, 2, 0.0, 0.1, 1e-4, 2, 1, 1)
    before = syn0.copy()
    with pytest.raises(ValueError, match="resume"):
        _core.word2vec_train_chunk(*args, np.zeros((1, 7), np.int64), 10)
    with pytest.raises(ValueError, match="resume"):
        _core.word2vec_train_chunk(*args, np.zeros((1, 8), np.int64)[:, ::2], 10)
    with pytest.raises(TypeError, match="resume"):
        _core.word2vec_train_chunk(*args, np.zeros((1, 8), np.float64), 10)
    with pytest.raises(ValueError, match="chunk"):
        _core.word2vec_train_chunk(*args, np.zeros((1, 8), np.int64), 0)
    with pytest.raises(ValueError, match="corpus"):
        _core.word2vec_train_chunk(_core.RaggedIds(ids, offsets, 6), *args[1:],
                                   np.zeros((1, 8), np.int64), 10)
    np.testing.assert_array_equal(syn0, before)  # a rejected call changes nothing
    with pytest.raises(IndexError, match="ids"):
        _core.RaggedIds(ids, offsets, 4)
    y = np.zeros(5, np.int32)
    with pytest.raises(ValueError, match="resume"):
        _core.fasttext_train_chunk(corpus, y, syn0, syn1[:2], "softmax", None, 1, 0.1, 2, 1, 1,
                                   False, np.zeros((2, 8), np.int64), 10)
