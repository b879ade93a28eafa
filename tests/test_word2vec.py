"""Word2Vec (skip-gram, negative sampling): learning, determinism, API and bad input."""

from __future__ import annotations

import numpy as np
import pytest

import msopt
from msopt import _core


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
    assert set(x for x, _ in m.wv.most_similar("cat", 3)) <= set(animals)


def test_token_lists_and_files(tmp_path):
    path = tmp_path / "c.txt"
    lines, _, _ = _topic_corpus(3, 200)
    path.write_text("\n".join(lines), encoding="utf-8")
    a = msopt.Word2Vec(path, vector_size=4, min_count=1, epochs=1, workers=1)
    b = msopt.Word2Vec([s.split() for s in lines], vector_size=4, min_count=1, epochs=1,
                       workers=1)
    np.testing.assert_array_equal(a.wv.vectors, b.wv.vectors)


def test_bad_input():
    with pytest.raises(ValueError, match="holds no tokens"):
        msopt.Word2Vec(["", " "], min_count=1)
    with pytest.raises(ValueError, match="min_count: no word occurs"):
        msopt.Word2Vec(["a b c"], min_count=5)
    with pytest.raises(ValueError, match="sg: only skip-gram"):
        msopt.Word2Vec(sg=0)
    m = msopt.Word2Vec(["a b a b"], vector_size=4, min_count=1, epochs=1, workers=1)
    with pytest.raises(KeyError, match="'zzz' is not in the vocabulary"):
        m.wv["zzz"]
    with pytest.raises(KeyError, match="zzz"):
        m.wv.similarity("a", "zzz")
    syn = np.zeros((2, 4), np.float32)
    with pytest.raises(IndexError, match=r"ids\[0\] = 5 is out of range"):
        _core.word2vec_train(np.array([5], np.int32), np.array([0]), np.array([1, 1]), syn,
                             syn.copy(), 2, 1, 0.0, 0.025, 1e-4, 1, 1, 1)
    with pytest.raises(ValueError, match="window >= 1"):
        _core.word2vec_train(np.array([0], np.int32), np.array([0]), np.array([1, 1]), syn,
                             syn.copy(), 0, 1, 0.0, 0.025, 1e-4, 1, 1, 1)
