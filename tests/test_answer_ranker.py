"""AnswerRanker and its lexical features: features against hand computations and a
brute-force BM25, fit/score/rank, files, pickling, bad input."""

from __future__ import annotations

import doctest
import importlib
import math
import os
import pickle
from collections import Counter

import numpy as np
import pytest

from msopt.exceptions import NotFittedError
from msopt.models.answer_ranker import AnswerRanker
from msopt.models.sentence_encoder import SentenceEncoder
from msopt.text import lexical
from msopt.text.lexical import (
    FEATURES,
    STOP_WORDS,
    DocumentFrequencies,
    bm25,
    content_words,
    is_date,
    is_number,
    pair_features,
    question_type,
    stem,
    tokenize,
)

COL = {name: j for j, name in enumerate(FEATURES)}

# -- lexical pieces ---------------------------------------------------------------------------


def test_tokens_stems_and_question_types():
    assert tokenize("Who wrote `` Hamlet '' in 1601 ? don_t") == ["who", "wrote", "hamlet",
                                                                 "in", "1601", "don", "t"]
    assert content_words(["the", "cat", "sat", "the", "cat", "on"]) == ["cat", "sat"]
    assert [stem(w) for w in ("discovered", "cats", "is", "boxes", "running", "sing")] == [
        "discover", "cat", "is", "box", "runn", "sing"]
    assert question_type(tokenize("Who is the author ?")) == "who"
    assert question_type(tokenize("In what year did it end ?")) == "when"
    assert question_type(tokenize("What is the capital of France ?")) == "what"
    assert question_type(tokenize("Which country makes it ?")) == "where"
    assert question_type(tokenize("What is the population of Paris ?")) == "quantity"
    assert question_type(tokenize("What color is it ?")) == "what"
    assert question_type(tokenize("Name the day")) == "when"
    assert question_type(tokenize("How many seats are there ?")) == "quantity"
    assert question_type(tokenize("How did it end ?")) == "other"
    assert question_type(tokenize("When was it ?")) == "when"
    assert question_type([]) == "other"


def test_numbers_and_dates():
    assert [is_number(w) for w in ("42", "1,000", "b52", "four", "million", "for", "")] == [
        True, True, True, True, True, False, False]
    assert [is_date(w) for w in ("1999", "1990s", "2026", "999", "2100", "10000", "july",
                                 "sept", "monday", "summer")] == [
        True, True, True, False, False, False, True, True, True, False]


def test_answer_near_reads_the_type_the_question_asks_for():
    q = "When did Smith join the firm ?"
    # tokens: 0 In, 1 May, 2 Jones, 3 said, 4 Smith, 5 would, 6 join, 7 in, 8 1990
    a = "In May Jones said Smith would join in 1990 ."
    row = pair_features([q], [a], np.zeros(1, np.int64),
                        DocumentFrequencies().fit([tokenize(a)]))[0]
    assert row[COL["new_date"]] == 2
    assert row[COL["new_date*when"]] == 2
    # dates May (1) and 1990 (8); matched smith (4), join (6): nearest 1990 - join = 2
    assert row[COL["answer_near"]] == 0.5
    # a "who" question reads names instead: Jones (2) is 2 from Smith (4); "In" is first
    who = pair_features(["Who did Smith join ?"], [a], np.zeros(1, np.int64),
                        DocumentFrequencies().fit([tokenize(a)]))[0]
    assert who[COL["answer_near"]] == 0.5
    # nothing of the type, or no matched word: 0
    none = pair_features([q, q], ["Smith would join .", "In May 1990 ."], np.zeros(2, np.int64),
                         DocumentFrequencies().fit([tokenize(a)]))
    assert none[:, COL["answer_near"]].tolist() == [0.0, 0.0]


def test_document_frequencies_and_idf():
    docs = [["a", "b", "a"], ["b", "c"], ["b"]]
    df = DocumentFrequencies().fit(iter(docs))
    assert df.n_docs == 3
    assert len(df) == 3
    np.testing.assert_array_equal(df.df(["a", "b", "c", "zz"]), [1, 3, 1, 0])
    want = [math.log(4 / 2) + 1, math.log(4 / 4) + 1, math.log(4 / 1) + 1]
    np.testing.assert_allclose(df.idf(["a", "b", "unseen"]), want)
    again = DocumentFrequencies(df.words, df.counts, df.n_docs)
    np.testing.assert_array_equal(again.idf(["a", "c", "q"]), df.idf(["a", "c", "q"]))
    with pytest.raises(ValueError, match="^counts"):
        DocumentFrequencies(["a"], [4], 3)
    with pytest.raises(ValueError, match="^counts"):
        DocumentFrequencies(["a", "b"], [1], 3)
    with pytest.raises(ValueError, match="^words"):
        DocumentFrequencies(["a", "a"], [1, 1], 3)


def _bm25_brute(query, docs, k1, b):
    """BM25 written from its definition, one document and one term at a time."""
    n = len(docs)
    avg = sum(len(d) for d in docs) / n if n else 0.0
    out = []
    for d in docs:
        s = 0.0
        for w in set(query):
            nw = sum(1 for e in docs if w in e)
            tf = d.count(w)
            if nw == 0 or tf == 0 or avg == 0:
                continue
            idf = math.log(1 + (n - nw + 0.5) / (nw + 0.5))
            s += idf * tf * (k1 + 1) / (tf + k1 * (1 - b + b * len(d) / avg))
        out.append(s)
    return out


@pytest.mark.parametrize("seed", range(6))
def test_bm25_matches_brute_force(seed):
    rng = np.random.default_rng(seed)
    vocab = [f"w{i}" for i in range(12)]
    n = int(rng.integers(0, 9))
    docs = [[vocab[j] for j in rng.integers(0, 12, rng.integers(0, 17))] for _ in range(n)]
    query = [vocab[j] for j in rng.integers(0, 14 if seed else 12, 5) if j < 12] + ["absent"]
    k1, b = float(rng.uniform(0.5, 2)), float(rng.uniform(0, 1))
    np.testing.assert_allclose(bm25(query, docs, k1, b), _bm25_brute(query, docs, k1, b),
                               rtol=1e-12, atol=0)


def test_bm25_of_empty_corpus_and_empty_documents():
    assert bm25(["a"], []).shape == (0,)
    np.testing.assert_array_equal(bm25(["a"], [[], []]), [0.0, 0.0])


def test_pair_features_by_hand():
    q = "Who discovered the Hale Bopp comet in 1995 ?"
    a = "Astronomer Alan Hale discovered comets near Bopp in 1995 , in July , with Thomas Bopp ."
    other = "The comet was bright ."
    df = DocumentFrequencies().fit([tokenize(a), tokenize(other), ["comet", "x"]])
    codes = np.array([0, 0], np.int64)
    X = pair_features([q, q], [a, other], codes, df, 1.2, 0.75)
    assert X.shape == (2, len(FEATURES))
    qw = content_words(tokenize(q))
    assert qw == ["discovered", "hale", "bopp", "comet", "1995"]
    idf = dict(zip(qw, df.idf(qw)))
    # answer a: discovered, hale, bopp, 1995 literally; "comet" only through its stem
    row = X[0]
    assert row[COL["word_count"]] == 4
    np.testing.assert_allclose(row[COL["idf_count"]],
                               idf["discovered"] + idf["hale"] + idf["bopp"] + idf["1995"])
    np.testing.assert_allclose(row[COL["idf_coverage"]],
                               row[COL["idf_count"]] / sum(idf.values()))
    np.testing.assert_allclose(row[COL["stem_idf_count"]], sum(idf.values()))
    q_bigrams = set(zip(tokenize(q), tokenize(q)[1:]))
    a_tokens = tokenize(a)
    shared = q_bigrams & set(zip(a_tokens, a_tokens[1:]))
    assert shared == {("in", "1995")}
    np.testing.assert_allclose(row[COL["bigram_overlap"]], 1 / len(q_bigrams))
    np.testing.assert_allclose(row[COL["log_length"]], math.log1p(len(a_tokens)))
    # shortest span holding discovered, hale, bopp, 1995: "hale discovered comets near bopp
    # in 1995" = 7 tokens
    np.testing.assert_allclose(row[COL["density"]], 4 / 7)
    # capitalized question words (not the first): hale, bopp
    np.testing.assert_allclose(row[COL["name_match"]], idf["hale"] + idf["bopp"])
    assert row[COL["new_number"]] == 0  # 1995 is in the question
    # capitalized new words: Alan, July, Thomas ("Astronomer" is the first token)
    assert row[COL["new_name"]] == 3
    assert row[COL["new_name*who"]] == 3
    assert row[COL["new_name*when"]] == 0
    assert row[COL["new_number*who"]] == 0
    assert row[COL["new_date"]] == row[COL["new_date*who"]] == 1  # July
    assert row[COL["answer_near"]] == 1.0  # Alan next to Hale
    want_bm25 = _bm25_brute(qw, [a_tokens, tokenize(other)], 1.2, 0.75)
    np.testing.assert_allclose(X[:, COL["bm25"]], want_bm25)
    row = X[1]
    assert row[COL["word_count"]] == 1
    assert row[COL["new_name"]] == 0
    np.testing.assert_allclose(row[COL["density"]], 1.0)


def test_pair_features_caps_and_types():
    q = "How many people live in Paris ?"
    a = "In 1999 , 2 , 3 or 4 million people : 5 6 Anna Bob Cy Di Ed Fay Gus lived in Paris ."
    df = DocumentFrequencies().fit([tokenize(a)])
    row = pair_features([q], [a], np.zeros(1, np.int64), df)[0]
    assert row[COL["new_number"]] == 3
    assert row[COL["new_name"]] == 5
    assert row[COL["new_number*quantity"]] == 3
    assert row[COL["new_date"]] == 1  # 1999
    assert row[COL["answer_near"]] == 1.0  # "million people"
    assert row[COL["new_name*quantity"]] == 5
    assert sum(row[COL[f"new_number*{t}"]] for t in lexical.QUESTION_TYPES) == 3


def test_features_of_an_empty_question_or_answer():
    df = DocumentFrequencies().fit([["a"]])
    X = pair_features(["", "the of ?", "what x"], ["x", "", ""], np.arange(3), df)
    assert np.isfinite(X).all()
    assert X[:, COL["word_count"]].tolist() == [0, 0, 0]
    assert pair_features([], [], np.zeros(0, np.int64), df).shape == (0, len(FEATURES))


def test_stop_words_are_lower_case_words():
    assert all(w == w.lower() and w.isalpha() for w in STOP_WORDS)
    assert {"the", "what", "who", "is"} <= STOP_WORDS


# -- the ranker ---------------------------------------------------------------------------

_TOPICS = ["comet", "river", "senate", "violin", "glacier", "bridge", "tariff", "opera",
           "volcano", "harbor", "vaccine", "satellite", "marathon", "cathedral"]
_FILLER = ["report", "officials", "said", "year", "people", "news", "city", "group", "plan",
           "week", "today", "market", "state", "number"]


def _data(seed: int, n_questions: int = 24, per: int = 6):
    """Questions about a topic and a detail; the correct candidates hold the detail word
    (and an answer word), the wrong ones only the topic and filler."""
    rng = np.random.default_rng(seed)
    qs, ans, ys, gs = [], [], [], []
    for k in range(n_questions):
        topic = _TOPICS[k % len(_TOPICS)]
        detail = f"detail{k}"
        q = f"Who built the {topic} {detail} ?"
        good = int(rng.integers(1, 3))
        for j in range(per):
            filler = " ".join(rng.choice(_FILLER, int(rng.integers(3, 9))))
            if j < good:
                text = f"The {topic} {detail} was built by Name{k}x{j} {filler} ."
            else:
                text = f"the {topic} {filler} ."
            qs.append(q)
            ans.append(text)
            ys.append(int(j < good))
            gs.append(k)
    return qs, ans, np.array(ys), gs


def _rank_metrics(ranker, qs, ans, ys):
    from msopt.evaluate import ranking

    return ranking(qs, ranker.score(qs, ans), ys)


def _state(r):
    return {k: (v.copy() if isinstance(v, np.ndarray) else v) for k, v in vars(r).items()}


def _same_state(a, b):
    assert a.keys() == b.keys()
    for k in a:
        if isinstance(a[k], np.ndarray):
            np.testing.assert_array_equal(a[k], b[k])
        else:
            assert a[k] is b[k] or a[k] == b[k], k


def test_fit_score_rank():
    qs, ans, ys, _ = _data(0)
    r = AnswerRanker(seed=3).fit(qs, ans, ys)
    assert r.feature_names_ == list(FEATURES)
    assert r.n_questions_ == 24
    assert r.coef_.shape == (len(FEATURES),)
    tq, ta, ty, _ = _data(1)
    m = _rank_metrics(r, tq, ta, ty)
    assert m.map > 0.95
    assert m.mrr > 0.95
    # the score is the regression's log-odds of the standardized features
    X = r.features(tq, ta)
    np.testing.assert_allclose(r.score(tq, ta), ((X - r.mean_) / r.scale_) @ r.coef_
                               + r.intercept_, rtol=1e-12)
    cands = ta[:6]
    order = r.rank(tq[0], cands)
    assert order.dtype == np.int64
    assert sorted(order.tolist()) == list(range(6))
    s = r.score([tq[0]] * 6, cands)
    assert (np.diff(s[order]) <= 0).all()
    assert set(order[: int(ty[:6].sum())].tolist()) == set(np.flatnonzero(ty[:6]).tolist())
    assert r.rank(tq[0], []).shape == (0,)
    assert r.score([], []).shape == (0,)


def _readme_ranker():
    """The README's example: two questions, three candidates each, repeated five times."""
    questions = ["who wrote hamlet"] * 3 + ["where is the louvre"] * 3
    answers = ["hamlet was written by shakespeare", "hamlet is a danish prince",
               "the play is long", "the louvre is in paris", "the louvre holds the mona lisa",
               "paris is large"]
    labels = [1, 0, 0, 1, 0, 0]
    return AnswerRanker().fit(questions * 5, answers * 5, labels * 5)


def test_identical_candidates_tie_exactly_and_rank_in_the_given_order():
    """Equal candidates get bit-equal scores at every batch size, so rank() keeps them in
    the order given (a BLAS matrix-vector product rounded them differently: [2 0 1])."""
    r = _readme_ranker()
    q, dup = "who wrote macbeth", "macbeth was written by shakespeare"
    others = ["macbeth is a scottish king", "the play is long", "shakespeare wrote plays",
              "a scottish castle"]
    for n in range(1, 51):
        s = r.score([q] * n, [dup] * n)
        assert (s == s[0]).all(), n
        np.testing.assert_array_equal(r.rank(q, [dup] * n), np.arange(n))
    # the duplicates among other candidates, at any positions: still tied, still in order
    rng = np.random.default_rng(0)
    for n in (2, 3, 7, 16, 33, 50):
        cands = [others[i] for i in rng.integers(0, len(others), n)]
        pos = np.sort(rng.choice(n, min(n, 5), replace=False))
        for i in pos:
            cands[i] = dup
        s = r.score([q] * n, cands)
        assert (s[pos] == s[pos[0]]).all(), n
        order = r.rank(q, cands).tolist()
        np.testing.assert_array_equal([i for i in order if i in set(pos.tolist())], pos)
        assert order == sorted(range(n), key=lambda i: -s[i])  # stable: ties by index


def test_score_of_a_row_depends_only_on_that_row():
    """A row's score is bit-equal whatever the batch around it: its size (1..50) and the
    row's position (features() replaced, so that only the score's arithmetic is tested;
    BM25 rightly depends on the other candidates of the question)."""
    r = _readme_ranker()
    rng = np.random.default_rng(1)
    rows = r.features(["who wrote macbeth"] * 3 + ["where is the louvre"] * 3,
                      ["macbeth was written by shakespeare", "macbeth is a scottish king",
                       "the play is long", "the louvre is in paris", "paris is large",
                       "the louvre holds the mona lisa"])
    rows = np.vstack([rows, rng.standard_normal((20, rows.shape[1])) * r.scale_ + r.mean_])

    def score_of(X):
        r.features = lambda questions, answers, groups=None: X
        try:
            return r.score([], [])
        finally:
            del r.features

    single = np.array([score_of(rows[i:i + 1])[0] for i in range(len(rows))])
    # as before, up to rounding: the regression's log-odds of the standardized features
    np.testing.assert_allclose(single, ((rows - r.mean_) / r.scale_) @ r.coef_
                               + r.intercept_, rtol=1e-12, atol=1e-12)
    for n in range(1, 51):
        for _ in range(3):
            idx = rng.integers(0, len(rows), n)
            X = rows[idx]
            np.testing.assert_array_equal(score_of(X), single[idx])
            # and in an array not aligned on 16 bytes
            buf = np.empty(X.size + 1)
            Xu = buf[1:].reshape(X.shape)
            Xu[:] = X
            np.testing.assert_array_equal(score_of(Xu), single[idx])


def test_pairwise_training_is_a_regression_on_within_question_differences(tmp_path):
    from msopt.linear_model.estimators import LogisticRegression

    qs, ans, ys, gs = _data(10, n_questions=8)
    ys = ys.copy()
    ys[gs.index(7):] = 0  # a question without a correct answer adds no pair
    r = AnswerRanker(C=0.5, pairwise=True).fit(qs, ans, ys)
    assert repr(r).startswith("AnswerRanker(C=0.5, pairwise=True, ")
    assert r.intercept_ == 0.0
    Z = (r.features(qs, ans) - r.mean_) / r.scale_
    codes = np.array(gs)
    diffs = [Z[i] - Z[j] for i in range(len(ys)) for j in range(len(ys))
             if codes[i] == codes[j] and ys[i] == 1 and ys[j] == 0]
    assert len(diffs) == sum(int(ys[codes == k].sum()) * int((1 - ys[codes == k]).sum())
                             for k in range(8))
    # the same logistic loss whichever way round a pair is written: every other one negated
    y = (np.arange(len(diffs)) % 2 == 0).astype(int)
    X = np.vstack([d if label else -d for d, label in zip(diffs, y)])
    clf = LogisticRegression(C=0.5, random_state=0, batch_size=None, learning_rate=0.1,
                             max_iter=2000, tol=1e-7, fit_intercept=False,
                             n_iter_no_change=20).fit(X, y)
    np.testing.assert_allclose(r.coef_, np.ravel(clf.coef_), rtol=1e-9, atol=1e-12)
    tq, ta, ty, _ = _data(11)
    assert _rank_metrics(r, tq, ta, ty).map > 0.95
    path = tmp_path / "pairwise.npz"
    r.save(path)
    back = AnswerRanker.load(path)
    assert back.pairwise is True
    assert back.intercept_ == 0.0
    np.testing.assert_array_equal(back.score(tq, ta), r.score(tq, ta))
    # pairwise=False: a regression on the pairs themselves, with an intercept
    p = AnswerRanker(C=0.5).fit(qs, ans, ys)
    assert p.pairwise is False
    clf = LogisticRegression(C=0.5, random_state=0, batch_size=None, learning_rate=0.1,
                             max_iter=2000, tol=1e-7).fit(Z, ys)
    np.testing.assert_allclose(p.coef_, np.ravel(clf.coef_), rtol=1e-9, atol=1e-12)
    assert p.intercept_ == pytest.approx(float(np.ravel(clf.intercept_)[0]), rel=1e-9)
    assert _rank_metrics(p, tq, ta, ty).map > 0.95
    # labels on which pointwise training works but no question has both kinds
    only = np.array([int(g % 2 == 0) for g in gs])
    assert AnswerRanker().fit(qs, ans, only).intercept_ != 0.0
    with pytest.raises(ValueError, match="^labels: no question has both"):
        AnswerRanker(pairwise=True).fit(qs, ans, only)


def test_fit_repeats_and_keeps_no_reference_to_inputs():
    qs, ans, ys, _ = _data(2)
    a = AnswerRanker(seed=5).fit(qs, ans, ys)
    b = AnswerRanker(seed=5).fit(list(qs), list(ans), ys.copy())
    np.testing.assert_array_equal(a.coef_, b.coef_)
    assert a.intercept_ == b.intercept_


def test_idf_comes_from_the_training_candidates():
    qs, ans, ys, _ = _data(3)
    r = AnswerRanker().fit(qs, ans, ys)
    distinct = list(dict.fromkeys(ans))
    assert r.df_.n_docs == len(distinct)
    want = Counter(w for a in distinct for w in set(tokenize(a)))
    assert dict(zip(r.df_.words, r.df_.counts.tolist())) == dict(want)
    # an unseen word gets the largest IDF
    assert r.df_.idf(["neverseen"])[0] == pytest.approx(math.log(len(distinct) + 1) + 1)


def test_groups_split_a_question_text():
    qs, ans, ys, gs = _data(4)
    r = AnswerRanker().fit(qs, ans, ys, groups=gs)
    q = ["Same question about the comet ?"] * 4
    a = ["comet one", "comet comet two", "a comet", "comets three"]
    together = r.features(q, a)
    apart = r.features(q, a, groups=[0, 0, 1, 1])
    col = r.feature_names_.index("bm25")
    qw = content_words(tokenize(q[0]))
    np.testing.assert_allclose(together[:, col], _bm25_brute(qw, [tokenize(t) for t in a],
                                                             1.2, 0.75))
    np.testing.assert_allclose(apart[:2, col], _bm25_brute(qw, [tokenize(t) for t in a[:2]],
                                                           1.2, 0.75))
    other = [c for c in range(len(FEATURES)) if c != col]
    np.testing.assert_array_equal(together[:, other], apart[:, other])


def test_not_fitted():
    r = AnswerRanker()
    for call in (lambda: r.score(["q"], ["a"]), lambda: r.rank("q", ["a"]),
                 lambda: r.features(["q"], ["a"]), lambda: r.save("x.npz")):
        with pytest.raises(NotFittedError, match="AnswerRanker"):
            call()
    assert repr(r) == "AnswerRanker()"
    assert repr(AnswerRanker(C=0.5, k1=2.0)) == "AnswerRanker(C=0.5, k1=2.0)"


def test_save_load_and_pickle(tmp_path):
    qs, ans, ys, _ = _data(5)
    r = AnswerRanker(C=0.5, seed=1).fit(qs, ans, ys)
    assert repr(r) == f"AnswerRanker(C=0.5, seed=1, features={len(FEATURES)}, questions=24, " \
                      "fitted)"
    tq, ta, _, _ = _data(6)
    path = tmp_path / "ranker.npz"
    r.save(path)
    back = AnswerRanker.load(path)
    np.testing.assert_array_equal(back.score(tq, ta), r.score(tq, ta))
    assert back.get_params() == r.get_params()
    assert repr(back) == repr(r)
    clone = pickle.loads(pickle.dumps(r))
    np.testing.assert_array_equal(clone.score(tq, ta), r.score(tq, ta))
    assert repr(pickle.loads(pickle.dumps(AnswerRanker(C=2.0)))) == "AnswerRanker(C=2.0)"
    with np.load(path, allow_pickle=False) as z:
        assert str(z["format"]) == "msopt-answerranker 1"


def test_load_of_a_file_without_pairwise(tmp_path):
    """Files written before the pairwise parameter hold no "pairwise" in their params: they
    were trained on the pairs themselves, as pairwise=False reads them."""
    qs, ans, ys, _ = _data(12)
    r = AnswerRanker(C=0.5).fit(qs, ans, ys)
    path = tmp_path / "r.npz"
    r.save(path)
    with np.load(path, allow_pickle=False) as z:
        members = {k: z[k] for k in z.files}
    assert '"pairwise": false' in str(members["params"])
    old = tmp_path / "old.npz"
    np.savez(old, **{**members, "params": np.array(
        '{"C": 0.5, "k1": 1.2, "b": 0.75, "folds": 3, "seed": 0}')})
    back = AnswerRanker.load(old)
    assert back.pairwise is False
    tq, ta, _, _ = _data(13)
    np.testing.assert_array_equal(back.score(tq, ta), r.score(tq, ta))


def test_load_refuses_other_and_damaged_files(tmp_path):
    qs, ans, ys, _ = _data(7)
    r = AnswerRanker().fit(qs, ans, ys)
    good = tmp_path / "r.npz"
    r.save(good)
    with np.load(good, allow_pickle=False) as z:
        members = {k: z[k] for k in z.files}
    for key, value in (("coef", members["coef"][:-1]), ("scale", -members["scale"]),
                       ("params", np.array('{"C": -1, "k1": 1.2, "b": 0.75, "folds": 3, '
                                           '"seed": 0}')),
                       ("df_counts", members["df_counts"] * 0),
                       ("features", members["features"][:-3])):
        bad = tmp_path / f"bad_{key}.npz"
        np.savez(bad, **{**members, key: value})
        with pytest.raises(ValueError, match=str(bad)):
            AnswerRanker.load(bad)
    # a file of an msopt version with other features: named as such
    older = [n for n in FEATURES if not n.startswith("new_date") and n != "answer_near"]
    keep = [list(FEATURES).index(n) for n in older]
    np.savez(tmp_path / "older.npz", **{
        **members, "features": np.frombuffer("\n".join(older).encode(), np.uint8),
        **{k: members[k][keep] for k in ("mean", "scale", "coef")}})
    with pytest.raises(ValueError, match="features are not the 31 this msopt version"):
        AnswerRanker.load(tmp_path / "older.npz")
    other = tmp_path / "other.npz"
    np.savez(other, format=np.array("something else"))
    with pytest.raises(ValueError, match="AnswerRanker"):
        AnswerRanker.load(other)
    with pytest.raises(FileNotFoundError):
        AnswerRanker.load(tmp_path / "missing.npz")


@pytest.mark.parametrize("case", ["answers", "labels", "groups", "label2", "label_half",
                                  "label_str", "no_positive", "all_positive", "empty",
                                  "not_str", "one_str", "C", "folds", "pairwise", "encoder",
                                  "doc2vec", "no_pair"])
def test_bad_fit_changes_nothing(case):
    qs, ans, ys, gs = _data(8)
    r = AnswerRanker().fit(qs, ans, ys)
    before = _state(r)
    args = [qs, ans, ys]
    kw: dict = {}
    error: type[Exception] = ValueError
    name = case
    if case == "answers":
        args[1] = ans[:-1]
    elif case == "labels":
        args[2] = ys[:-1]
    elif case == "groups":
        kw["groups"] = gs[:-1]
    elif case == "label2":
        args[2] = np.where(np.arange(len(ys)) == 3, 2, ys)
        name = "labels"
    elif case == "label_half":
        args[2] = ys * 0.5
        name = "labels"
    elif case == "label_str":
        args[2] = ["1"] * len(ys)
        error, name = TypeError, "labels"
    elif case == "no_positive":
        args[2] = np.zeros_like(ys)
        name = "labels"
    elif case == "all_positive":
        args[2] = np.ones_like(ys)
        name = "labels"
    elif case == "empty":
        args = [[], [], []]
        name = "questions"
    elif case == "not_str":
        args[0] = [1] * len(qs)
        error, name = TypeError, "questions"
    elif case == "one_str":
        args[1] = "an answer"
        error, name = TypeError, "answers"
    elif case in ("C", "folds"):
        r.set_params(**{case: 0})
        before = _state(r)
    elif case == "pairwise":
        r.set_params(pairwise=1)
        before = _state(r)
        error = TypeError
    elif case == "no_pair":
        r.set_params(pairwise=True)
        before = _state(r)
        args[2] = np.array([int(g % 2 == 0) for g in gs])
        name = "labels"
    elif case == "encoder":
        r.set_params(encoder=object())
        before = _state(r)
        error = TypeError
    elif case == "doc2vec":
        r.set_params(doc2vec="model")
        before = _state(r)
        error = TypeError
    with pytest.raises(error, match=f"^{name}"):
        r.fit(*args, **kw)
    _same_state(before, _state(r))


def test_bad_score_input():
    qs, ans, ys, _ = _data(9)
    r = AnswerRanker().fit(qs, ans, ys)
    with pytest.raises(ValueError, match="^answers"):
        r.score(qs, ans[:-1])
    with pytest.raises(TypeError, match="^questions"):
        r.score("q", "a")
    with pytest.raises(TypeError, match="^question"):
        r.rank(["q"], ["a"])
    with pytest.raises(TypeError, match=r"^candidates\[1\]"):
        r.rank("q", ["a", None])
    with pytest.raises(ValueError, match="^groups"):
        r.score(qs, ans, groups=[1])


def test_keyword_alias_and_unknown_keyword():
    assert AnswerRanker(random_state=4).seed == 4
    with pytest.raises(TypeError, match="did you mean 'seed'"):
        AnswerRanker(sed=1)


# -- encoder and doc2vec features -----------------------------------------------------------


class _HashedBag:
    """A stand-in Doc2Vec: a text's vector is its bag of hashed tokens; like msopt's
    Doc2Vec it refuses an empty document."""

    def __init__(self, dim: int = 16, vocab=None) -> None:
        self.dim = dim
        if vocab is not None:
            self.wv = set(vocab)

    def infer_vectors(self, docs):
        v = np.zeros((len(docs), self.dim), np.float32)
        for i, toks in enumerate(docs):
            if not toks:
                raise ValueError(f"documents[{i}]: empty")
            for t in toks:
                v[i, sum(map(ord, t)) % self.dim] += 1
        return v, {"epochs": np.zeros(len(docs))}


def test_doc2vec_cosine_feature(tmp_path):
    qs, ans, ys, _ = _data(10)
    d2v = _HashedBag()
    r = AnswerRanker(doc2vec=d2v).fit(qs, ans, ys)
    assert r.feature_names_[-1] == "doc2vec_cosine"
    X = r.features(qs[:6], ans[:6])
    vq, _ = d2v.infer_vectors([tokenize(t) for t in qs[:6]])
    va, _ = d2v.infer_vectors([tokenize(t) for t in ans[:6]])
    want = (vq * va).sum(1) / np.linalg.norm(vq, axis=1) / np.linalg.norm(va, axis=1)
    np.testing.assert_allclose(X[:, -1], want, rtol=1e-6)
    path = tmp_path / "r.npz"
    with pytest.raises(TypeError, match="^doc2vec"):
        r.save(path)
    assert not os.path.exists(path)
    np.testing.assert_array_equal(pickle.loads(pickle.dumps(r)).score(qs, ans),
                                  r.score(qs, ans))
    # the model fitted with is the one scored with, whatever set_params does afterwards
    want_scores = r.score(qs, ans)
    r.set_params(doc2vec=None)
    np.testing.assert_array_equal(r.score(qs, ans), want_scores)
    r.set_params(doc2vec=d2v)
    # a text without tokens, or without a known one, gets cosine 0
    known = _HashedBag(vocab=["the", "comet", "built"])
    r2 = AnswerRanker(doc2vec=known).fit(qs, ans, ys)
    got = r2.features(["", "Who built the comet ?", "unknown words"],
                      ["the comet", "comet", "the comet"])[:, -1]
    assert got[0] == 0
    assert got[2] == 0
    vq, _ = known.infer_vectors([["built", "the", "comet"]])
    va, _ = known.infer_vectors([["comet"]])
    np.testing.assert_allclose(got[1], (vq @ va.T).item() / np.linalg.norm(vq)
                               / np.linalg.norm(va), rtol=1e-6)


def _encoder(**kw):
    from msopt.models.sentence_encoder import SentenceEncoder

    return SentenceEncoder(dim=8, epochs=2, buckets=64, threads=1, seed=0, **kw)


def test_fitted_encoder_is_used_as_it_is(tmp_path):
    qs, ans, ys, _ = _data(11)
    enc = _encoder().fit(qs, ans)
    table = enc.params_[0].copy()
    r = AnswerRanker(encoder=enc).fit(qs, ans, ys)
    assert r.encoder_ is enc
    assert r.feature_names_[-1] == "encoder_cosine"
    np.testing.assert_array_equal(enc.params_[0], table)
    np.testing.assert_allclose(r.features(qs, ans)[:, -1], enc.similarity(qs, ans))
    path = tmp_path / "r.npz"
    r.save(path)
    back = AnswerRanker.load(path)
    assert type(back.encoder_) is type(enc)
    np.testing.assert_array_equal(back.score(qs, ans), r.score(qs, ans))
    np.testing.assert_array_equal(pickle.loads(pickle.dumps(r)).score(qs, ans),
                                  r.score(qs, ans))


def test_unfitted_encoder_is_trained_on_a_copy():
    qs, ans, ys, _ = _data(12)
    enc = _encoder()
    r = AnswerRanker(encoder=enc, folds=2).fit(qs, ans, ys)
    assert r.encoder_ is not enc
    assert not hasattr(enc, "params_")
    assert r.encoder_.loss_ == "contrastive"  # the encoder's default for 0/1 labels
    np.testing.assert_allclose(r.features(qs[:5], ans[:5])[:, -1],
                               r.encoder_.similarity(qs[:5], ans[:5]))
    assert _rank_metrics(r, *_data(13)[:3]).map > 0.9


@pytest.mark.parametrize("module", ["msopt.text.lexical", "msopt.models.answer_ranker"])
def test_docstring_examples_run(module):
    result = doctest.testmod(importlib.import_module(module))
    assert result.failed == 0
    assert result.attempted > 0


def test_callbacks_and_verbose_reach_the_models_fit_trains(tmp_path):
    seen = []

    def record(model, progress):
        seen.append((model, progress.unit))
        return False

    qs, ans, y, _ = _data(0)
    enc = SentenceEncoder(dim=8, epochs=2, seed=0)
    ranker = AnswerRanker(encoder=enc, callbacks=[record], folds=2).fit(qs, ans, y)
    assert {type(m).__name__ for m, _ in seen} == {"SentenceEncoder", "LogisticRegression"}
    assert ranker.loss_history_
    assert all(np.isfinite(ranker.loss_history_))
    path = tmp_path / "r.npz"
    ranker.save(path)
    back = AnswerRanker.load(path)
    assert back.callbacks is None  # code is not saved
    assert back.loss_history_ == ranker.loss_history_
    with pytest.raises(TypeError, match="callbacks"):
        AnswerRanker(callbacks=print).fit(qs, ans, y)
    with pytest.raises(TypeError, match="verbose"):
        AnswerRanker(verbose="yes").fit(qs, ans, y)
