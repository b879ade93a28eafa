"""msopt.evaluate: STS correlations and answer-ranking MAP / MRR, against hand-computed
values, a brute-force enumeration of every order of tied candidates, and scipy.stats."""

from __future__ import annotations

import itertools
from fractions import Fraction

import numpy as np
import pytest

from msopt.evaluate import RankingResult, STSResult, ranking, sts


# -- brute force: AP and RR averaged over every order of the tied candidates -----------------
def ap_rr(labels_in_order):
    hits, precisions, rr = 0, [], Fraction(0)
    for pos, lab in enumerate(labels_in_order, 1):
        if lab:
            hits += 1
            precisions.append(Fraction(hits, pos))
            if hits == 1:
                rr = Fraction(1, pos)
    return sum(precisions) / len(precisions), rr


def brute_force(qids, scores, labels):
    """Exact MAP and MRR (as Fractions) averaged over all orders of each tie group."""
    aps, rrs = [], []
    for q in dict.fromkeys(qids):
        idx = [i for i, x in enumerate(qids) if x == q]
        if not any(labels[i] for i in idx):
            continue
        groups = {}
        for i in idx:
            groups.setdefault(scores[i], []).append(labels[i])
        ordered = [groups[s] for s in sorted(groups, reverse=True)]
        total_ap = total_rr = Fraction(0)
        count = 0
        # every order of a group's candidates: each distinct 0/1 arrangement is equally
        # likely, so enumerating the distinct ones weights them correctly
        for perms in itertools.product(*(set(itertools.permutations(g)) for g in ordered)):
            a, r = ap_rr([x for p in perms for x in p])
            total_ap += a
            total_rr += r
            count += 1
        aps.append(total_ap / count)
        rrs.append(total_rr / count)
    return sum(aps) / len(aps), sum(rrs) / len(rrs)


def test_hand_computed_no_ties():
    # q1: wrong, right, wrong -> AP 1/2, RR 1/2
    # q2: right, wrong, right -> AP (1 + 2/3)/2 = 5/6, RR 1
    # q3: no correct answer -> dropped
    q = ["q1"] * 3 + ["q2"] * 3 + ["q3"] * 2
    s = [0.9, 0.5, 0.1, 0.8, 0.7, 0.6, 0.3, 0.2]
    y = [0, 1, 0, 1, 0, 1, 0, 0]
    r = ranking(q, s, y)
    assert isinstance(r, RankingResult)
    m, rr = r  # unpacks as a pair
    assert m == pytest.approx((1 / 2 + 5 / 6) / 2, abs=1e-15)
    assert rr == pytest.approx((1 / 2 + 1) / 2, abs=1e-15)


def test_hand_computed_ties():
    # one question, scores [2, 1, 1, 1], labels [0, 1, 0, 1]: ranks 2-4 are tied, holding
    # 2 correct of 3.  RR: first correct at rank 2 with p 2/3, at rank 3 with p 1/3 -> 4/9.
    # AP: orders of (1,0,1) in ranks 2-4: 101 -> (1/2+2/4)/2 = 1/2; 110 -> (1/2+2/3)/2 = 7/12;
    # 011 -> (1/3+2/4)/2 = 5/12; mean 1/2.
    r = ranking([0, 0, 0, 0], [2.0, 1.0, 1.0, 1.0], [0, 1, 0, 1])
    assert r.mrr == pytest.approx(4 / 9, abs=1e-15)
    assert r.map == pytest.approx(1 / 2, abs=1e-15)


def test_all_correct_question_kept_and_all_tied():
    r = ranking([1, 1, 1, 2, 2], [0.1, 0.2, 0.3, 5.0, 5.0], [1, 1, 1, 0, 1])
    # q1 all correct -> 1, 1; q2 tie of 2 with one correct -> RR 3/4, AP 3/4
    assert r.map == pytest.approx((1 + 3 / 4) / 2)
    assert r.mrr == pytest.approx((1 + 3 / 4) / 2)


@pytest.mark.parametrize("seed", range(40))
def test_against_brute_force_enumeration(seed):
    rng = np.random.default_rng(seed)
    nq = int(rng.integers(1, 4))
    qids, scores, labels = [], [], []
    for q in range(nq):
        m = int(rng.integers(1, 7))
        qids += [f"q{q}"] * m
        scores += rng.integers(0, 3, m).astype(float).tolist()  # many ties
        labels += rng.integers(0, 2, m).tolist()
    if not any(labels):
        labels[0] = 1
    perm = rng.permutation(len(qids))  # candidates need not be contiguous
    qids = [qids[i] for i in perm]
    scores = [scores[i] for i in perm]
    labels = [labels[i] for i in perm]
    want_map, want_mrr = brute_force(qids, scores, labels)
    got = ranking(qids, scores, labels)
    assert got.map == pytest.approx(float(want_map), rel=1e-12, abs=1e-14)
    assert got.mrr == pytest.approx(float(want_mrr), rel=1e-12, abs=1e-14)
    # the same through NumPy arrays of ints, bool labels, float32 scores
    codes = np.array([int(x[1:]) for x in qids])
    got2 = ranking(codes, np.array(scores, np.float32), np.array(labels, bool))
    assert got2 == got


def test_large_random_no_ties_matches_plain_definition():
    rng = np.random.default_rng(5)
    n = 5000
    q = rng.integers(0, 300, n)
    s = rng.standard_normal(n)
    y = (rng.random(n) < 0.2).astype(int)
    aps, rrs = [], []
    for qq in np.unique(q):
        lab = y[q == qq][np.argsort(-s[q == qq])]
        if lab.any():
            pos = np.flatnonzero(lab) + 1
            aps.append(np.mean(np.arange(1, len(pos) + 1) / pos))
            rrs.append(1 / pos[0])
    r = ranking(q, s, y)
    assert r.map == pytest.approx(np.mean(aps), rel=1e-12)
    assert r.mrr == pytest.approx(np.mean(rrs), rel=1e-12)


def test_large_ties_expected_value_matches_shuffles():
    # a large tied group: the exact expectation agrees with the mean over many shuffles
    rng = np.random.default_rng(3)
    s = np.r_[np.full(40, 1.0), rng.standard_normal(10) + 5]
    y = np.r_[(rng.random(40) < 0.1).astype(int), np.zeros(10, int)]
    y[3] = 1
    r = ranking(np.zeros(50, int), s, y)
    order_fixed = np.argsort(-s, kind="stable")
    aps, rrs = [], []
    for _ in range(20000):
        tied = rng.permutation(40)
        lab = np.r_[y[order_fixed[:10]], y[tied]]
        a, rr = ap_rr(lab.tolist())
        aps.append(float(a))
        rrs.append(float(rr))
    assert r.map == pytest.approx(np.mean(aps), abs=4 * np.std(aps) / np.sqrt(len(aps)))
    assert r.mrr == pytest.approx(np.mean(rrs), abs=4 * np.std(rrs) / np.sqrt(len(rrs)))


def test_hashable_ids_of_any_kind():
    q = [("a", 1), ("a", 1), 7, 7, "x"]
    r = ranking(q, [1, 2, 3, 4, 5], [1, 0, 0, 1, 1])
    assert r.map == pytest.approx((1 / 2 + 1 + 1) / 3)
    assert r.mrr == pytest.approx((1 / 2 + 1 + 1) / 3)


def test_infinite_scores_are_ordinary():
    r = ranking([0, 0, 0], [np.inf, 1.0, -np.inf], [0, 0, 1])
    assert r.map == pytest.approx(1 / 3)
    assert r.mrr == pytest.approx(1 / 3)


@pytest.mark.parametrize(("args", "err", "name"), [
    (([0, 0], [1.0, 2.0], [0, 1, 1]), ValueError, "labels"),
    (([0, 0], [1.0], [0, 1]), ValueError, "scores"),
    (([0, 0, 0], [1.0, 2.0], [0, 1]), ValueError, "scores"),
    (([0, 0], [1.0, np.nan], [0, 1]), ValueError, "scores"),
    (([0, 0], [1.0, 2.0], [0, 2]), ValueError, "labels"),
    (([0, 0], [1.0, 2.0], [0, 0.5]), ValueError, "labels"),
    (([0, 0], [1.0, 2.0], [-1, 1]), ValueError, "labels"),
    (([0, 1], [1.0, 2.0], [0, 0]), ValueError, "labels"),  # no positive for any question
    (([], [], []), ValueError, "question_ids"),
    (([0, 0], ["a", "b"], [0, 1]), TypeError, "scores"),
    (([0, 0], [[1.0, 2.0]], [0, 1]), ValueError, "scores"),
    (([0, 0], [1.0, 2.0], ["0", "1"]), TypeError, "labels"),
    (([[1], [2]], [1.0, 2.0], [0, 1]), TypeError, "question_ids"),  # lists are unhashable
    ((np.zeros((2, 1)), [1.0, 2.0], [0, 1]), ValueError, "question_ids"),
    (([0.0, float("nan")], [1.0, 2.0], [0, 1]), ValueError, "question_ids"),
    ((np.array([0.0, np.nan]), [1.0, 2.0], [0, 1]), ValueError, "question_ids"),
    ((5, [1.0], [1]), TypeError, "question_ids"),
    (("ab", [1.0, 2.0], [0, 1]), TypeError, "question_ids"),
])
def test_ranking_bad_input(args, err, name):
    snap = repr(args)
    with pytest.raises(err, match=f"^{name}"):
        ranking(*args)
    assert repr(args) == snap  # the inputs are left as they were


# -- sts ------------------------------------------------------------------------------------
def test_sts_hand_computed():
    r = sts([1, 2, 3, 4], [1, 3, 2, 4])
    assert isinstance(r, STSResult)
    p, s = r
    assert p == pytest.approx(0.8, abs=1e-15)
    assert s == pytest.approx(0.8, abs=1e-15)
    # ties take the mean rank: pred ranks (1, 2.5, 2.5, 4), gold ranks (1, 2, 3, 4)
    r = sts([0.0, 1.0, 1.0, 2.0], [0.0, 1.0, 2.0, 3.0])
    x = np.array([1, 2.5, 2.5, 4]) - 2.5
    g = np.array([1, 2, 3, 4]) - 2.5
    assert r.spearman == pytest.approx(x @ g / np.sqrt((x @ x) * (g @ g)), abs=1e-15)
    assert sts([3, 2, 1], [1, 2, 3]) == (-1.0, -1.0)


@pytest.mark.parametrize("n", [2, 3, 17, 500])
@pytest.mark.parametrize("ties", [False, True])
def test_sts_against_scipy(n, ties):
    stats = pytest.importorskip("scipy.stats")
    rng = np.random.default_rng(n + ties)
    pred = rng.standard_normal(n).astype(np.float32)
    gold = pred + rng.standard_normal(n).astype(np.float32)
    if ties:
        pred = np.round(pred)
        gold = np.round(gold * 2)
    if pred.min() == pred.max() or gold.min() == gold.max():
        pred[0], gold[0] = pred[0] - 1, gold[0] - 1
    r = sts(pred, gold)
    assert r.pearson == pytest.approx(stats.pearsonr(pred.astype(float), gold.astype(float))[0],
                                      abs=1e-12)
    assert r.spearman == pytest.approx(stats.spearmanr(pred, gold)[0], abs=1e-12)


def test_sts_against_numpy_definition_without_scipy():
    rng = np.random.default_rng(1)
    pred, gold = rng.standard_normal(100), rng.standard_normal(100)
    r = sts(pred, gold)
    assert r.pearson == pytest.approx(np.corrcoef(pred, gold)[0, 1], abs=1e-12)
    rp = np.argsort(np.argsort(pred))
    rg = np.argsort(np.argsort(gold))
    assert r.spearman == pytest.approx(np.corrcoef(rp, rg)[0, 1], abs=1e-12)


@pytest.mark.parametrize("scale", [1e-170, 1.0, 1e150, 1e300])
@pytest.mark.parametrize("n", [2, 5, 200])
def test_sts_at_extreme_magnitudes_matches_scipy(scale, n):
    """Random data scaled far from 1 (pred alone, and pred and gold both) gives scipy's
    Pearson and Spearman, with no overflow, underflow or invalid-value warning."""
    import warnings

    stats = pytest.importorskip("scipy.stats")
    rng = np.random.default_rng(int(n + np.log10(scale) + 400))
    x = rng.standard_normal(n)
    y = 0.5 * x + rng.standard_normal(n)
    for pred, gold in ((x * scale, y), (x * scale, y * scale), (x, y * scale)):
        with warnings.catch_warnings(), np.errstate(all="raise"):
            warnings.simplefilter("error")
            r = sts(pred, gold)
        assert r.pearson == pytest.approx(stats.pearsonr(pred, gold)[0], abs=1e-12)
        assert r.spearman == pytest.approx(stats.spearmanr(pred, gold)[0], abs=1e-12)
        assert -1.0 <= r.pearson <= 1.0


@pytest.mark.parametrize(("pred", "gold", "want"), [
    ([1e300, 2e300, 3e300], [1e300, 2e300, 3e300], 1.0),  # was -1.0 (overflow to NaN)
    ([1e200, 2e200, 3e200], [1, 2, 3], 1.0),  # was 0.0
    ([1e-170, 2e-170, 3e-170], [1, 2, 3], 1.0),  # was ZeroDivisionError (underflow)
    ([-1.7e308, 0.0, 1.7e308], [1, 2, 3], 1.0),  # the sum of the values overflows
    ([1.7e308, 1.7e308, -1.7e308, -1.7e308], [4, 3, 2, 1], np.sqrt(0.8)),
    ([5e-324, 1e-323, 1.5e-323], [3, 2, 1], -1.0),  # subnormals
    ([1e300, 1e-300, -1e300], [-1, 0, 1], -1.0),  # 1e-300 is negligible: it underflows
])
def test_sts_extreme_values(pred, gold, want):
    import warnings

    with warnings.catch_warnings(), np.errstate(all="raise"):
        warnings.simplefilter("error")
        r = sts(pred, gold)
        back = sts(gold, pred)
    assert r.pearson == pytest.approx(want, abs=1e-15)
    assert back.pearson == r.pearson
    assert r.spearman == pytest.approx(want, abs=1e-15)  # the ranks give the same here


def test_sts_is_exactly_invariant_under_power_of_two_scaling():
    """The scaling inside is by powers of two, so it is exact: multiplying the data by
    2**k anywhere in float64's normal range changes no bit of the result."""
    rng = np.random.default_rng(7)
    x, y = rng.standard_normal(50), rng.standard_normal(50)
    want = sts(x, y)
    for k in (-1000, -560, -1, 0, 1, 560, 1000):
        assert sts(np.ldexp(x, k), y) == want
        assert sts(np.ldexp(x, k), np.ldexp(y, -k)) == want


@pytest.mark.parametrize(("args", "err", "name"), [
    (([1, 2, 3], [1, 2]), ValueError, "gold"),
    (([1], [1]), ValueError, "pred"),
    (([1, np.nan, 3], [1, 2, 3]), ValueError, "pred"),
    (([1, 2, 3], [1, np.inf, 3]), ValueError, "gold"),
    (([1, 1, 1], [1, 2, 3]), ValueError, "pred"),
    (([1, 2, 3], [2, 2, 2]), ValueError, "gold"),
    ((["a", "b"], [1, 2]), TypeError, "pred"),
    (([[1, 2], [3, 4]], [1, 2]), ValueError, "pred"),
    (([1, 2], None), TypeError, "gold"),
])
def test_sts_bad_input(args, err, name):
    with pytest.raises(err, match=f"^{name}"):
        sts(*args)


def test_docstring_examples_run():
    import doctest

    import msopt.evaluate

    result = doctest.testmod(msopt.evaluate)
    assert result.attempted > 0
    assert result.failed == 0
