"""Frozen rows (embedding/row_access.hpp): a training walk that reads a table and never
writes it, as prediction-time optimization needs (Doc2Vec inference).  word2vec's native
train freezes its input (syn0) or output (syn1) table on request, like gensim's
vectors_lockf = 0."""

from __future__ import annotations

import numpy as np
import pytest

from msopt import _core

V, DIM = 60, 23


def _corpus(seed=0):
    rng = np.random.default_rng(seed)
    ids = (rng.zipf(1.4, 6000) % V).astype(np.int64)
    offsets = np.arange(0, len(ids), 17, dtype=np.int64)
    counts = np.bincount(ids, minlength=V).astype(np.int64) + 1
    syn0 = rng.uniform(-0.5, 0.5, (V, DIM)).astype(np.float32)
    syn1 = rng.uniform(-0.5, 0.5, (V, DIM)).astype(np.float32)
    return ids, offsets, counts, syn0, syn1


def _train(syn0, syn1, threads, deterministic, sg, **kw):
    ids, offsets, counts, _, _ = _corpus()
    return _core.word2vec_train(ids, offsets, counts, syn0, syn1, 4, 5, 1e-2, 0.05, 1e-4, 2,
                                3, threads, sg=sg, deterministic=deterministic,
                                round_words=500, **kw)


MODES = [(1, False), (2, False), (2, True)]


@pytest.mark.parametrize(("threads", "deterministic"), MODES)
@pytest.mark.parametrize("sg", [True, False])
@pytest.mark.parametrize("frozen", ["input", "output"])
def test_a_frozen_table_keeps_its_bits_while_the_other_trains(threads, deterministic, sg,
                                                               frozen):
    _, _, _, syn0, syn1 = _corpus()
    a, b = syn0.copy(), syn1.copy()
    losses, words, pairs = _train(a, b, threads, deterministic, sg,
                                  **{f"freeze_{frozen}": True})
    kept, trained = (a, b) if frozen == "input" else (b, a)
    kept0, trained0 = (syn0, syn1) if frozen == "input" else (syn1, syn0)
    np.testing.assert_array_equal(kept, kept0)
    assert (trained != trained0).any(axis=1).mean() > 0.5  # most rows moved
    assert np.isfinite(losses).all()
    assert pairs > 0


@pytest.mark.parametrize(("threads", "deterministic"), [(1, False), (2, True)])
def test_frozen_runs_repeat_and_the_defaults_change_nothing(threads, deterministic):
    _, _, _, syn0, syn1 = _corpus()
    runs = []
    for kw in ({"freeze_output": True}, {"freeze_output": True}, {},
               {"freeze_input": False, "freeze_output": False}):
        a, b = syn0.copy(), syn1.copy()
        losses, _, _ = _train(a, b, threads, deterministic, True, **kw)
        runs.append((a, b, losses))
    for x, y in zip(runs[0], runs[1]):  # the same seed repeats bit for bit
        np.testing.assert_array_equal(x, y)
    for x, y in zip(runs[2], runs[3]):  # explicit defaults = no options
        np.testing.assert_array_equal(x, y)
    assert not np.array_equal(runs[0][0], runs[2][0])  # a frozen syn1 trains syn0 otherwise


def test_freezing_both_tables_changes_neither_and_still_reports_the_loss():
    _, _, _, syn0, syn1 = _corpus()
    a, b = syn0.copy(), syn1.copy()
    losses, _, _ = _train(a, b, 2, False, False, freeze_input=True, freeze_output=True)
    np.testing.assert_array_equal(a, syn0)
    np.testing.assert_array_equal(b, syn1)
    assert losses[0] == pytest.approx(losses[1], rel=0.05)  # nothing learned: same loss
