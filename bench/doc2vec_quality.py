"""Doc2Vec quality beside gensim's: same text, same hyperparameters, same run.

Two tasks, both scored by the correlation of cosine similarities with human judgements:

- SICK relatedness: vectors trained on the SICK TRAIN sentences, then inferred for the
  TEST pairs; Pearson and Spearman against ``relatedness_score`` (4,906 pairs).
- Lee: vectors trained on ``lee_background.cor``, inferred for the 50 ``lee.cor``
  documents; Pearson and Spearman against the human ratings (1,225 pairs).

Tokens are ``[^\\W_]+``, lower-cased.  Run ``python bench/doc2vec_quality.py``; gensim's
rows appear when it is installed.  With ``tol``, msopt's rows also show the epochs each
document used on average.
"""

from __future__ import annotations

import argparse
import os
import re
import time
from pathlib import Path

import numpy as np

import msopt

DATA = Path(os.environ.get("MSOPT_DATA", Path(__file__).resolve().parents[2] / "shared" / "data"))
TOKEN = re.compile(r"[^\W_]+")


def tokens(text: str) -> list[str]:
    return TOKEN.findall(text.lower())


def sick() -> tuple[list[list[str]], list[list[str]], list[list[str]], np.ndarray]:
    """(train sentences, test A, test B, test scores)."""
    lines = (DATA / "sick" / "SICK.txt").read_text().splitlines()
    head = lines[0].split("\t")
    col = {c: i for i, c in enumerate(head)}
    train, a, b, gold = [], [], [], []
    for line in lines[1:]:
        f = line.split("\t")
        split = f[col["SemEval_set"]]
        if split == "TRAIN":
            train += [tokens(f[col["sentence_A"]]), tokens(f[col["sentence_B"]])]
        elif split == "TEST":
            a.append(tokens(f[col["sentence_A"]]))
            b.append(tokens(f[col["sentence_B"]]))
            gold.append(float(f[col["relatedness_score"]]))
    return train, a, b, np.array(gold)


def lee() -> tuple[list[list[str]], list[list[str]], np.ndarray]:
    """(background documents, the 50 test documents, their 1,225 human ratings)."""
    d = DATA / "lee_corpus"
    train = [tokens(x) for x in (d / "lee_background.cor").read_text().splitlines()]
    test = [tokens(x) for x in (d / "lee.cor").read_text(encoding="latin-1").splitlines()]
    sims = np.loadtxt(d / "similarities0-1.txt")
    iu = np.triu_indices(len(test), 1)
    return train, test, sims[iu]


def correlations(pred: np.ndarray, gold: np.ndarray) -> tuple[float, float]:
    try:
        from msopt.evaluate import sts
    except ImportError:
        from msopt.models.word2vec import _pearson, _rank

        return _pearson(pred, gold), _pearson(_rank(pred), _rank(gold))
    r = sts(pred, gold)
    return float(r[0]), float(r[1])


def cosines(u: np.ndarray, v: np.ndarray) -> np.ndarray:
    nu = np.linalg.norm(u, axis=1)
    nv = np.linalg.norm(v, axis=1)
    return (u * v).sum(1) / np.maximum(nu * nv, 1e-12)


def run(name, train, infer_a, infer_b, gold, params, tols, seeds):
    """Rows of (model, pearson, spearman, epochs used, seconds to infer)."""
    rows = []
    for seed in seeds:
        m = msopt.Doc2Vec(train, seed=seed, **params)
        for tol in tols:
            t0 = time.perf_counter()
            if tol is None:
                va, ia = m.infer_vectors(infer_a)
                vb, ib = m.infer_vectors(infer_b) if infer_b is not None else (None, None)
            else:
                va, ia = m.infer_vectors(infer_a, tol=tol, max_epochs=params["epochs"])
                vb, ib = (m.infer_vectors(infer_b, tol=tol, max_epochs=params["epochs"])
                          if infer_b is not None else (None, None))
            dt = time.perf_counter() - t0
            ep = ia.epochs.mean() if ib is None else (ia.epochs.mean() + ib.epochs.mean()) / 2
            pred = cosines(va, vb) if vb is not None else _pairs(va)
            rows.append((f"msopt tol={tol}", seed, *correlations(pred, gold), ep, dt))
        try:
            import gensim  # noqa: F401
        except ImportError:
            continue
        from gensim.models.doc2vec import Doc2Vec as G
        from gensim.models.doc2vec import TaggedDocument

        g = G([TaggedDocument(d, [i]) for i, d in enumerate(train)], vector_size=params["dim"],
              dm=params.get("dm", 0), min_count=params["min_count"], epochs=params["epochs"],
              workers=params.get("threads", 1), seed=seed, window=params.get("window", 5))
        t0 = time.perf_counter()
        ga = np.array([g.infer_vector(d) for d in infer_a])
        gb = np.array([g.infer_vector(d) for d in infer_b]) if infer_b is not None else None
        dt = time.perf_counter() - t0
        pred = cosines(ga, gb) if gb is not None else _pairs(ga)
        rows.append(("gensim", seed, *correlations(pred, gold), params["epochs"], dt))
    print(f"\n{name}")
    for r in rows:
        print(f"  {r[0]:18s} seed={r[1]}  pearson {r[2]:.3f}  spearman {r[3]:.3f}  "
              f"epochs {r[4]:5.1f}  infer {r[5]:.2f} s")
    return rows


def _pairs(v: np.ndarray) -> np.ndarray:
    u = v / np.maximum(np.linalg.norm(v, axis=1, keepdims=True), 1e-12)
    s = u @ u.T
    return s[np.triu_indices(len(v), 1)]


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--seeds", type=int, default=3)
    ap.add_argument("--dm", type=int, default=0)
    ap.add_argument("--epochs", type=int, default=20)
    ap.add_argument("--dim", type=int, default=100)
    args = ap.parse_args()
    seeds = list(range(1, args.seeds + 1))
    tols = [None, 3e-3, 1e-3]
    base = dict(dim=args.dim, dm=args.dm, min_count=2, epochs=args.epochs, threads=1)
    train, a, b, gold = sick()
    run("SICK test relatedness (train: SICK TRAIN sentences)", train, a, b, gold, base, tols,
        seeds)
    train, test, gold = lee()
    run("Lee documents (train: lee_background)", train, test, None, gold, base, tols, seeds)


if __name__ == "__main__":
    main()
