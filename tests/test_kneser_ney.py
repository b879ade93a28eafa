"""The Kneser-Ney n-gram model (_core.KneserNey) against its plain-Python twin, and
LanguageModel's mixture of it with the network."""

from __future__ import annotations

import math
import pickle

import numpy as np
import pytest

import msopt
from msopt import _core
from msopt.reference import kneser_ney as ref


def native(tokens, order, vocab, bos):
    data = _core.LmData(np.asarray(tokens, np.int64), vocab, bos)
    grams, counts = _core.KneserNey.count_grams(data, order)
    return _core.KneserNey(grams, counts, vocab), data


@pytest.mark.parametrize("order", [1, 2, 3, 4])
@pytest.mark.parametrize(("n", "vocab"), [(0, 2), (1, 3), (17, 7), (300, 7), (2000, 29)])
def test_distribution_matches_reference(order, n, vocab):
    rng = np.random.default_rng(order * 1000 + n)
    # a skewed stream, so that counts of 1, 2, 3 and more all occur
    tokens = rng.zipf(1.6, n) % (vocab - 1)
    bos = vocab - 1
    kn, _ = native(tokens, order, vocab, bos)
    twin = ref.KneserNey(tokens, order=order, vocab=vocab, bos=bos)
    hists = [rng.integers(0, vocab, order - 1) for _ in range(5)]
    hists += [np.array([bos] * (order - 1))]
    for t in rng.integers(0, max(n, 1), 10):  # contexts of the stream itself
        hists.append(np.array([tokens[t - order + 1 + j] if t - order + 1 + j >= 0 else bos
                               for j in range(order - 1)], np.int64) if n else hists[0])
    for h in hists:
        h = np.asarray(h, np.int64)
        got = kn.distribution(h)
        want = np.array([twin.prob(h.tolist(), w) for w in range(vocab)])
        np.testing.assert_allclose(got, want, rtol=1e-12, atol=0)
        assert got.sum() == pytest.approx(1.0, abs=1e-12)
        assert (got > 0).all()


def test_score_is_the_log_probability_of_each_token():
    rng = np.random.default_rng(1)
    tokens = rng.zipf(1.5, 500) % 11
    kn, data = native(tokens, 3, 12, 11)
    lp = kn.score(data, 17, 500, threads=2)
    assert lp.shape == (483,)
    assert lp.dtype == np.float64
    for i in (0, 1, 100, 482):
        t = 17 + i
        h = np.array([tokens[t - 2], tokens[t - 1]], np.int64)
        assert lp[i] == pytest.approx(math.log(kn.distribution(h)[tokens[t]]), rel=1e-14)
    np.testing.assert_array_equal(kn.score(data, 17, 500, threads=1), lp)
    assert kn.score(data, 5, 5).shape == (0,)


def test_counts_and_their_sums():
    tokens = np.array([0, 1, 0, 1, 0, 2], np.int64)
    grams, counts = _core.KneserNey.count_grams(_core.LmData(tokens, 4, 3), 2)
    assert grams.dtype == np.int32
    assert counts.dtype == np.int64
    assert [tuple(g) for g in grams] == [(0, 1), (0, 2), (1, 0), (3, 0)]
    assert counts.tolist() == [2, 1, 2, 1]
    kn = _core.KneserNey(np.vstack([grams, grams[::-1]]), np.concatenate([counts, counts[::-1]]),
                         4)
    assert (kn.order, kn.vocab) == (2, 4)
    np.testing.assert_array_equal(kn.grams, grams)
    np.testing.assert_array_equal(kn.counts, 2 * counts)


@pytest.mark.parametrize(("args", "err", "match"), [
    ((np.array([[0, 5]]), np.array([1]), 4), IndexError, "grams: id 5"),
    ((np.array([[0, -1]]), np.array([1]), 4), IndexError, "grams: id -1"),
    ((np.array([[0, 1]]), np.array([0]), 4), ValueError, "counts: expected counts >= 1"),
    ((np.array([[0, 1]]), np.array([1, 1]), 4), ValueError, "counts: expected 1 values"),
    ((np.zeros((1, 17), np.int64), np.array([1]), 4), ValueError, "grams: expected 1 to 16"),
    ((np.array([[0.0, 1.0]]), np.array([1]), 4), TypeError, "grams"),
    ((np.array([0, 1]), np.array([1]), 4), (TypeError, ValueError), "grams"),
    ((np.array([[0, 1]]), np.array([1.0]), 4), TypeError, "counts"),
])
def test_bad_input_is_named(args, err, match):
    with pytest.raises(err, match=match):
        _core.KneserNey(*args)


def test_bad_history_and_range():
    kn, data = native([0, 1, 2, 1, 0], 3, 4, 3)
    with pytest.raises(ValueError, match="history"):
        kn.distribution(np.array([0], np.int64))
    with pytest.raises(IndexError, match="history"):
        kn.distribution(np.array([0, 4], np.int64))
    with pytest.raises(ValueError, match="begin, end"):
        kn.score(data, 3, 9)
    with pytest.raises(ValueError, match="order"):
        _core.KneserNey.count_grams(data, 0)


# -- LanguageModel(kneser_ney=N) ----------------------------------------------------------

TEXT = ("the cat sat on the mat. the dog sat on the log. a cat and a dog met on a mat. "
        "the log was on the mat and the cat sat on the log. ") * 6


def small(**kw):
    base = dict(level="word", context=3, dim=8, hidden=16, epochs=2, lr=1e-2, threads=1,
                kneser_ney=3)
    return msopt.LanguageModel(**dict(base, **kw))


@pytest.fixture(scope="module")
def mixed():
    return small().fit(TEXT)


def test_the_mixture_is_the_network_and_the_twin_mixed(mixed):
    text = "the dog sat on a mat. the cat met a log."
    ids = mixed._ids(TEXT)
    twin = ref.KneserNey(ids, order=3, vocab=len(mixed.vocab_), bos=1)
    q = mixed._ids(text)
    kn_lp = np.array([math.log(twin.prob([q[t - 2] if t >= 2 else 1, q[t - 1] if t >= 1 else 1],
                                         q[t])) for t in range(len(q))])
    mixed.set_params(kneser_ney_weight=0.0)
    try:
        net = mixed.token_losses(text)
    finally:
        mixed.set_params(kneser_ney_weight=0.5)
    got = mixed.token_losses(text)
    want = -np.log(0.5 * np.exp(-net) + 0.5 * np.exp(kn_lp))
    np.testing.assert_allclose(got, want, rtol=1e-9)
    assert mixed.perplexity(text) == pytest.approx(math.exp(want.mean()), rel=1e-9)
    assert mixed.score(text) == pytest.approx(-want.mean(), rel=1e-9)


def test_validation_reports_the_mixture():
    lm = small(epochs=1).fit(TEXT, validation=TEXT[:200])
    assert lm.history_[-1]["val_perplexity"] == pytest.approx(lm.perplexity(TEXT[:200]),
                                                              rel=1e-6)


def test_dynamic_evaluation_mixes_the_adapted_network(mixed):
    text = "the dog sat on a mat. " * 8
    mixed.set_params(kneser_ney_weight=0.0)
    try:
        net = mixed.token_losses(text, adapt=True, lr=0.1, adapt_params="output")
    finally:
        mixed.set_params(kneser_ney_weight=0.5)
    kn = mixed.kneser_ney_.score(mixed._stream(text, None)[0], 0, len(net))
    got = mixed.token_losses(text, adapt=True, lr=0.1, adapt_params="output")
    np.testing.assert_allclose(got, -np.log(0.5 * np.exp(-net) + 0.5 * np.exp(kn)), rtol=1e-9)


def test_greedy_generation_follows_the_mixture(mixed):
    mixed.set_params(kneser_ney_weight=1.0)  # the n-gram model alone
    try:
        out = mixed.generate("the cat", max_tokens=12, temperature=0)
    finally:
        mixed.set_params(kneser_ney_weight=0.5)
    ids = list(mixed._ids("the cat", eos=False)) + list(mixed._ids(out, eos=False))
    for t in range(2, len(ids)):
        p = mixed.kneser_ney_.distribution(np.array(ids[t - 2:t], np.int64))
        p[:2] = 0  # <unk> and <s> are never drawn
        assert p[ids[t]] == p.max()
    a = mixed.generate("the", max_tokens=20, seed=3, n=4)
    assert a == mixed.generate("the", max_tokens=20, seed=3, n=4)


def test_saved_pickled_and_continued(mixed, tmp_path):
    text = "the cat sat on the log."
    p = mixed.perplexity(text)
    path = tmp_path / "kn.npz"
    mixed.save(path)
    for other in (msopt.LanguageModel.load(path), pickle.loads(pickle.dumps(mixed))):
        assert other.perplexity(text) == p
        np.testing.assert_array_equal(other.kneser_ney_.counts, mixed.kneser_ney_.counts)
    lm = pickle.loads(pickle.dumps(mixed))
    before = int(lm.kneser_ney_.counts.sum())
    lm.partial_fit(TEXT[:120])
    assert int(lm.kneser_ney_.counts.sum()) == before + len(lm._ids(TEXT[:120]))
    assert "kneser_ney=3" in repr(lm)


def test_a_changed_order_saves_the_counts_as_fitted(mixed, tmp_path):
    lm = pickle.loads(pickle.dumps(mixed))
    p = lm.perplexity(TEXT[:100])
    lm.set_params(kneser_ney=2)  # takes effect at the next fit
    assert lm.perplexity(TEXT[:100]) == p
    lm.save(tmp_path / "m.npz")
    other = msopt.LanguageModel.load(tmp_path / "m.npz")
    assert (other.get_params()["kneser_ney"], other.kneser_ney_.order) == (2, 3)
    assert other.perplexity(TEXT[:100]) == p
    assert other.fit(TEXT).kneser_ney_.order == 2


def test_a_rejected_partial_fit_keeps_the_counts(mixed):
    lm = pickle.loads(pickle.dumps(mixed))
    counts = lm.kneser_ney_.counts.copy()
    lm.params_[3][0, 0] = np.nan  # every loss is NaN now
    with pytest.raises(msopt.DivergenceError):
        lm.partial_fit(TEXT)
    np.testing.assert_array_equal(lm.kneser_ney_.counts, counts)
    lm.set_params(kneser_ney=2)  # set aside for the next fit: partial_fit keeps order 3
    with pytest.raises(msopt.DivergenceError):
        lm.partial_fit(TEXT)
    np.testing.assert_array_equal(lm.kneser_ney_.counts, counts)
    assert (lm.kneser_ney_.order, lm.get_params()["kneser_ney"]) == (3, 2)


def test_default_order_and_off():
    text = "abcab cabca bcabc " * 10
    for kw, order in ((dict(level="char", context=8), 7), (dict(level="word", context=8), 5),
                      (dict(level="char", context=2), 3)):
        lm = msopt.LanguageModel(dim=4, hidden=8, epochs=1, threads=1, **kw).fit(text)
        assert lm.kneser_ney is None
        assert lm.kneser_ney_.order == order
    off = msopt.LanguageModel(context=3, dim=4, hidden=8, epochs=1, threads=1,
                              kneser_ney=0).fit(text)
    assert off.kneser_ney_ is None
    on = msopt.LanguageModel(context=3, dim=4, hidden=8, epochs=1, threads=1).fit(text)
    on.set_params(kneser_ney_weight=0.0)  # the same network, weighed alone
    assert off.perplexity(text[:40]) == on.perplexity(text[:40])


@pytest.mark.parametrize(("kw", "err", "match"), [
    (dict(kneser_ney=5), ValueError, r"kneser_ney: must be <= context \+ 1 \(4\)"),
    (dict(kneser_ney=-1), ValueError, "kneser_ney"),
    (dict(kneser_ney=2.5), TypeError, "kneser_ney"),
    (dict(kneser_ney_weight=1.5), ValueError, "kneser_ney_weight"),
    (dict(kneser_ney_weight=-0.1), ValueError, "kneser_ney_weight"),
])
def test_bad_hyperparameters_are_named(kw, err, match):
    with pytest.raises(err, match=match):
        small(**kw)
