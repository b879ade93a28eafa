"""SentenceEncoder on SICK relatedness, beside a TF-IDF cosine baseline computed in the same
run.

    python bench/sick_quality.py [DATA] [--init none|word2vec] [--seeds 3] [--threads 2]

DATA is the shared data folder (default: $MSOPT_DATA, else ../shared/data beside the
repository); it needs sick/SICK.txt and, for ``--init word2vec``, lee_corpus/ and
gutenberg_austen/.  The pairs are split by the SemEval_set column: the encoder trains on
TRAIN with the cosine regression (relatedness 1..5 mapped onto [0, 1]); TRIAL is the
validation set (every choice of the defaults was made on it); TEST is reported.  Tokens are
``[^\\W_]+``, lower-cased, for every model.  The TF-IDF baseline weighs each word by
``log((1 + N) / (1 + df)) + 1`` over the TRAIN sentences (N of them), raw counts, L2-normed.
``--init word2vec`` starts the word rows from a Word2Vec (skip-gram, dim 100, 10 epochs,
min_count 2) trained on the unlabeled shared text: the Lee background corpus, the five
Austen novels and the TRAIN sentences.
"""

from __future__ import annotations

import argparse
import csv
import math
import os
import re
import statistics
import time
from collections import Counter
from pathlib import Path
from typing import Any

import numpy as np

TOKEN = re.compile(r"[^\W_]+")


def tokens(text: str) -> list[str]:
    return TOKEN.findall(text.lower())


def read_sick(path: Path) -> dict[str, tuple[list[str], list[str], np.ndarray]]:
    out: dict[str, tuple[list[str], list[str], list[float]]] = {}
    with open(path, encoding="utf-8", newline="") as f:
        for row in csv.DictReader(f, delimiter="\t"):
            a, b, s = out.setdefault(row["SemEval_set"].strip(), ([], [], []))
            a.append(row["sentence_A"])
            b.append(row["sentence_B"])
            s.append(float(row["relatedness_score"]))
    return {k: (a, b, np.array(s)) for k, (a, b, s) in out.items()}


def rank(x: np.ndarray) -> np.ndarray:
    order = np.argsort(x, kind="mergesort")
    r = np.empty(len(x))
    r[order] = np.arange(len(x))
    xs = x[order]
    i = 0
    while i < len(x):  # ties share their mean rank
        j = i
        while j + 1 < len(x) and xs[j + 1] == xs[i]:
            j += 1
        r[order[i:j + 1]] = (i + j) / 2
        i = j + 1
    return r


def pearson(x: np.ndarray, y: np.ndarray) -> float:
    return float(np.corrcoef(np.asarray(x, np.float64), np.asarray(y, np.float64))[0, 1])


def spearman(x: np.ndarray, y: np.ndarray) -> float:
    return pearson(rank(np.asarray(x, np.float64)), rank(np.asarray(y, np.float64)))


def tfidf_cosine(train: list[str], a: list[str], b: list[str]) -> np.ndarray:
    docs = [set(tokens(t)) for t in train]
    df = Counter(w for d in docs for w in d)
    n = len(docs)

    def vec(t: str) -> dict[str, float]:
        c = Counter(tokens(t))
        v = {w: k * (math.log((1 + n) / (1 + df.get(w, 0))) + 1) for w, k in c.items()}
        norm = math.sqrt(sum(x * x for x in v.values())) or 1.0
        return {w: x / norm for w, x in v.items()}

    out = []
    for x, y in zip(a, b):
        vx, vy = vec(x), vec(y)
        out.append(sum(val * vy.get(w, 0.0) for w, val in vx.items()))
    return np.array(out)


def word2vec(data: Path, extra: list[str], threads: int, seed: int) -> Any:
    from msopt import Word2Vec

    sents = []
    with open(data / "lee_corpus" / "lee_background.cor", encoding="utf-8") as f:
        sents += [tokens(line) for line in f]
    for p in sorted((data / "gutenberg_austen").glob("*.txt")):
        with open(p, encoding="utf-8") as f:
            sents += [tokens(line) for line in f]
    sents += [tokens(t) for t in extra]
    sents = [s for s in sents if s]
    return Word2Vec(sents, dim=100, window=5, min_count=2, epochs=10, threads=threads,
                    seed=seed)


def main() -> None:
    default = Path(os.environ.get("MSOPT_DATA",
                                  Path(__file__).resolve().parents[2] / "shared" / "data"))
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("data", nargs="?", type=Path, default=default)
    ap.add_argument("--init", choices=("none", "word2vec"), default="none")
    ap.add_argument("--seeds", type=int, default=3)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--set", action="append", default=[],
                    help="an encoder parameter, name=value (Python literal)")
    args = ap.parse_args()
    import ast

    from msopt.models.sentence_encoder import SentenceEncoder

    sick = read_sick(args.data / "sick" / "SICK.txt")
    tr, va, te = sick["TRAIN"], sick["TRIAL"], sick["TEST"]
    print(f"SICK: {len(tr[0]):,} TRAIN, {len(va[0]):,} TRIAL, {len(te[0]):,} TEST pairs")
    base = {name: tfidf_cosine(tr[0] + tr[1], d[0], d[1]) for name, d in
            (("TRIAL", va), ("TEST", te))}
    extra = {k: ast.literal_eval(v) for k, v in (s.split("=", 1) for s in args.set)}
    rows: dict[str, list[tuple[float, float, float, float, float]]] = {}
    for seed in range(args.seeds):
        wv = None
        if args.init == "word2vec":
            t0 = time.perf_counter()
            wv = word2vec(args.data, tr[0] + tr[1], args.threads, seed)
            print(f"  word2vec (seed {seed}): {len(wv.wv):,} words, "
                  f"{time.perf_counter() - t0:.1f} s")
        enc = SentenceEncoder(word_vectors=wv, threads=args.threads, seed=seed, **extra)
        t0 = time.perf_counter()
        enc.fit(tr[0], tr[1], scores=tr[2], validation=va)
        secs = time.perf_counter() - t0
        sv, st = enc.similarity(va[0], va[1]), enc.similarity(te[0], te[1])
        rows.setdefault("encoder", []).append(
            (pearson(sv, va[2]), spearman(sv, va[2]), pearson(st, te[2]), spearman(st, te[2]),
             secs))
        print(f"  seed {seed}: TRIAL Pearson by epoch "
              + " ".join(f"{h['val_pearson']:.3f}" for h in enc.history_))
    print(f"\nencoder: {enc!r}, init {args.init}, {args.seeds} seeds\n")
    print("| model | TRIAL Pearson | TRIAL Spearman | TEST Pearson | TEST Spearman | fit s |")
    print("|---|---|---|---|---|---|")
    v, t = base["TRIAL"], base["TEST"]
    print(f"| TF-IDF cosine | {pearson(v, va[2]):.4f} | {spearman(v, va[2]):.4f} | "
          f"{pearson(t, te[2]):.4f} | {spearman(t, te[2]):.4f} | |")
    for name, r in rows.items():
        cells = []
        for k in range(4):
            xs = [x[k] for x in r]
            cells.append(f"{statistics.mean(xs):.4f} (sd {statistics.pstdev(xs):.4f})")
        print(f"| {name} | " + " | ".join(cells)
              + f" | {statistics.median(x[4] for x in r):.2f} |")


if __name__ == "__main__":
    main()
