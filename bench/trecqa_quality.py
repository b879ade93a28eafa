"""AnswerRanker on TrecQA answer selection beside lexical baselines, computed in the same run.

    python bench/trecqa_quality.py [DATA] [--encoder] [--doc2vec] [--seeds N] [--cv R]

DATA is the shared data folder (default: $MSOPT_DATA, else ../shared/data beside the
repository); it needs trecqa/{train,dev,test}.txt (``question<TAB>candidate<TAB>label``).
The ranker trains on train.txt (all 4,718 pairs); it is scored on dev.txt and test.txt in
the "clean" setting (questions having both correct and wrong candidates: dev 65 questions /
1,117 pairs, test 68 / 1,442) and on the raw test set (questions without a correct answer
dropped, as msopt.evaluate.ranking does).  MAP and MRR come from msopt.evaluate.ranking,
which resolves tied scores by their exact expected AP and RR (the mean over every order of
the ties, i.e. random tie breaking averaged over all shuffles).

Baselines, tokens ``[^\\W_]+`` lower-cased (msopt.text.lexical), the question's content
words (stop words removed) as the query:

- word count: distinct question content words found in the candidate;
- IDF-weighted word count: their sum of ``ln((N + 1) / (df + 1)) + 1``, the document
  frequencies counted over the distinct candidates of the training set (as the ranker's),
  and, in a second row, over the distinct candidates of the set scored;
- BM25 (k1 1.2, b 0.75), the question's candidates as the corpus; with content words and,
  in a second row, with every question token;
- TF-IDF cosine: term frequency times IDF (training candidates) over every token.

The default ranker (its regression trained on the labelled pairs) is shown beside the same
features trained pairwise (``pairwise=True``: on within-question differences).  ``--encoder`` adds a
ranker with msopt's SentenceEncoder cosine as a feature, the encoder trained by the
ranker's fit on the labelled pairs (its weight learned on cross-fitted cosines).
``--doc2vec`` adds a ranker with the cosine of msopt Doc2Vec vectors inferred for the
question and the candidate, the Doc2Vec (PV-DBOW with skip-gram words, dim 64, 20 epochs,
min_count 2) trained on the distinct training questions and candidates.  Those two rows
are the mean over ``--seeds`` seeds (default 3: seeds 0, 1, 2 of the model and the
ranker's folds), their fit time the mean too.  ``--cv R`` adds the default ranker's
five-fold cross-validation over the questions of train.txt and dev.txt together (R
repetitions, folds drawn by seeds 0 .. R-1; the IDF counted on each training part), the
figure the ranker's features and defaults were chosen on, without the test set.
"""

from __future__ import annotations

import argparse
import math
import os
import time
from collections import Counter
from pathlib import Path

import numpy as np

from msopt.evaluate import ranking
from msopt.models.answer_ranker import AnswerRanker
from msopt.text.lexical import DocumentFrequencies, bm25, content_words, tokenize


def read(path: Path) -> tuple[list[str], list[str], np.ndarray]:
    qs, ans, ys = [], [], []
    with open(path, encoding="utf-8") as f:
        for line in f:
            q, a, y = line.rstrip("\n").split("\t")
            qs.append(q)
            ans.append(a)
            ys.append(int(y))
    return qs, ans, np.array(ys)


def clean(qs: list[str], ans: list[str], ys: np.ndarray
          ) -> tuple[list[str], list[str], np.ndarray]:
    """Keep the questions that have both a correct and a wrong candidate."""
    labels: dict[str, set[int]] = {}
    for q, y in zip(qs, ys):
        labels.setdefault(q, set()).add(int(y))
    keep = np.array([labels[q] == {0, 1} for q in qs])
    return ([q for q, k in zip(qs, keep) if k], [a for a, k in zip(ans, keep) if k], ys[keep])


def word_count(qs: list[str], ans: list[str], df: DocumentFrequencies | None) -> np.ndarray:
    out = np.zeros(len(qs))
    for i, (q, a) in enumerate(zip(qs, ans)):
        words = content_words(tokenize(q))
        aset = set(tokenize(a))
        hit = [w for w in words if w in aset]
        out[i] = len(hit) if df is None else float(df.idf(hit).sum())
    return out


def bm25_scores(qs: list[str], ans: list[str], content: bool) -> np.ndarray:
    out = np.zeros(len(qs))
    members: dict[str, list[int]] = {}
    for i, q in enumerate(qs):
        members.setdefault(q, []).append(i)
    for q, rows in members.items():
        query = content_words(tokenize(q)) if content else tokenize(q)
        out[rows] = bm25(query, [tokenize(ans[i]) for i in rows])
    return out


def tfidf_cosine(qs: list[str], ans: list[str], df: DocumentFrequencies) -> np.ndarray:
    out = np.zeros(len(qs))
    for i, (q, a) in enumerate(zip(qs, ans)):
        vq, va = Counter(tokenize(q)), Counter(tokenize(a))
        words = sorted(set(vq) | set(va))
        idf = dict(zip(words, df.idf(words)))
        dot = sum(vq[w] * va[w] * idf[w] ** 2 for w in vq if w in va)
        nq = math.sqrt(sum((c * idf[w]) ** 2 for w, c in vq.items()))
        na = math.sqrt(sum((c * idf[w]) ** 2 for w, c in va.items()))
        out[i] = dot / (nq * na) if nq > 0 and na > 0 else 0.0
    return out


def cross_validate(qs: list[str], ans: list[str], ys: np.ndarray, repetitions: int
                   ) -> tuple[float, float]:
    """Mean MAP and MRR of the default ranker over ``repetitions`` five-fold splits of the
    questions (every fold scored by a ranker fitted on the other four)."""
    ids = {q: i for i, q in enumerate(dict.fromkeys(qs))}
    codes = np.array([ids[q] for q in qs])
    maps, mrrs = [], []
    for rep in range(repetitions):
        fold = (np.random.default_rng(rep).permutation(len(ids)) % 5)[codes]
        for k in range(5):
            inside, out = np.flatnonzero(fold != k), np.flatnonzero(fold == k)
            ranker = AnswerRanker().fit([qs[i] for i in inside], [ans[i] for i in inside],
                                        ys[inside])
            q_out = [qs[i] for i in out]
            m = ranking(q_out, ranker.score(q_out, [ans[i] for i in out]), ys[out])
            maps.append(m.map)
            mrrs.append(m.mrr)
    return float(np.mean(maps)), float(np.mean(mrrs))


def main() -> None:
    default = Path(os.environ.get("MSOPT_DATA",
                                  Path(__file__).resolve().parents[2] / "shared" / "data"))
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("data", nargs="?", type=Path, default=default)
    ap.add_argument("--encoder", action="store_true",
                    help="also rank with a SentenceEncoder cosine as a feature")
    ap.add_argument("--doc2vec", action="store_true",
                    help="also rank with a Doc2Vec cosine as a feature")
    ap.add_argument("--seeds", type=int, default=3,
                    help="seeds averaged over for the encoder and Doc2Vec rows (default 3)")
    ap.add_argument("--cv", type=int, default=0, metavar="R",
                    help="also cross-validate the default ranker on train + dev, R repetitions")
    args = ap.parse_args()
    if args.seeds < 1:
        raise SystemExit("--seeds: expected at least 1")
    if args.cv < 0:
        raise SystemExit("--cv: expected at least 0")
    folder = args.data / "trecqa"
    if not (folder / "train.txt").exists():
        raise SystemExit(f"the TrecQA data ({folder}) is absent")
    train = read(folder / "train.txt")
    raw_test = read(folder / "test.txt")
    sets = {"dev clean": clean(*read(folder / "dev.txt")), "test clean": clean(*raw_test),
            "test raw": raw_test}
    print(f"train: {len(set(train[0]))} questions, {len(train[0]):,} pairs; "
          + "; ".join(f"{k}: {len(set(v[0]))} questions, {len(v[0]):,} pairs"
                      for k, v in sets.items()))

    def table_row(name: str, scorer, seconds: float | None = None) -> None:
        """One row; ``scorer`` is one function or a list of them (their mean MAP / MRR)."""
        scorers = scorer if isinstance(scorer, list) else [scorer]
        cells = []
        for qs, ans, ys in sets.values():
            ms = [ranking(qs, f(qs, ans), ys) for f in scorers]
            cells.append(f"{np.mean([m.map for m in ms]):.3f} / "
                         f"{np.mean([m.mrr for m in ms]):.3f}")
        extra = f" {seconds:.1f} s |" if seconds is not None else " |"
        print(f"| {name} | " + " | ".join(cells) + " |" + extra, flush=True)

    print("\n| system (MAP / MRR) | " + " | ".join(sets) + " | fit |")
    print("|---|" + "---|" * (len(sets) + 1))
    train_df = DocumentFrequencies().fit(tokenize(a) for a in dict.fromkeys(train[1]))
    table_row("word count (stop words removed)", lambda q, a: word_count(q, a, None))
    table_row("IDF-weighted word count (IDF: training candidates)",
              lambda q, a: word_count(q, a, train_df))
    table_row("IDF-weighted word count (IDF: the scored set's candidates)",
              lambda q, a: word_count(q, a, DocumentFrequencies().fit(
                  tokenize(x) for x in dict.fromkeys(a))))
    table_row("BM25, per-question corpus (content words)",
              lambda q, a: bm25_scores(q, a, True))
    table_row("BM25, per-question corpus (every question token)",
              lambda q, a: bm25_scores(q, a, False))
    table_row("TF-IDF cosine", lambda q, a: tfidf_cosine(q, a, train_df))

    seeds = range(args.seeds)
    rankers: list[tuple[str, list[AnswerRanker]]] = [
        ("AnswerRanker (lexical, default)", [AnswerRanker()]),
        ("AnswerRanker (lexical, pairwise=True)", [AnswerRanker(pairwise=True)])]
    if args.encoder:
        from msopt.models.sentence_encoder import SentenceEncoder

        rankers.append((f"AnswerRanker + encoder trained by fit on labelled pairs (mean of "
                        f"{args.seeds} seeds)",
                        [AnswerRanker(encoder=SentenceEncoder(dim=64, epochs=10, seed=s),
                                      seed=s) for s in seeds]))
    if args.doc2vec:
        from msopt.models.doc2vec import Doc2Vec

        t0 = time.perf_counter()
        docs = [tokenize(t) for t in dict.fromkeys(train[0] + train[1])]
        d2vs = [Doc2Vec(docs, dim=64, dm=0, dbow_words=1, epochs=20, min_count=2, seed=1 + s)
                for s in seeds]
        print(f"(Doc2Vec trained in {(time.perf_counter() - t0) / args.seeds:.1f} s a seed)")
        rankers.append((f"AnswerRanker + Doc2Vec cosine (mean of {args.seeds} seeds)",
                        [AnswerRanker(doc2vec=d, seed=s) for s, d in zip(seeds, d2vs)]))
    fitted = []
    for name, group in rankers:
        t0 = time.perf_counter()
        for ranker in group:
            ranker.fit(*train)
        table_row(name, [r.score for r in group], (time.perf_counter() - t0) / len(group))
        fitted.append((name + (" (seed 0)" if len(group) > 1 else ""), group[0]))
    if args.cv:
        dev = read(folder / "dev.txt")
        cv_map, cv_mrr = cross_validate(train[0] + dev[0], train[1] + dev[1],
                                        np.concatenate([train[2], dev[2]]), args.cv)
        print(f"\nAnswerRanker (lexical, default), 5-fold cross-validation over train + dev "
              f"questions ({args.cv} repetitions): MAP {cv_map:.3f} / MRR {cv_mrr:.3f}")
    for name, ranker in fitted:
        print(f"\nweights of {name} (standardized features; intercept "
              f"{ranker.intercept_:+.3f}):")
        for feature, w in zip(ranker.feature_names_, ranker.coef_):
            print(f"  {feature:<22} {w:+.3f}")


if __name__ == "__main__":
    main()
