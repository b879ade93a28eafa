"""Word2Vec quality beside gensim on the five Austen novels.

    python bench/word2vec_quality.py [DATA] [--seeds 3] [--workers 2]

DATA is the shared data folder (default: $MSOPT_DATA, else ../shared/data beside the
repository); it needs gutenberg_austen/, word_analogy/questions-words.txt and
word_similarity/wordsim353.tsv.  Both libraries train on the same token lists (lower-cased
words, apostrophes kept, punctuation dropped; one sentence per line of text) with the same
hyperparameters (dim 100, window 5, 5 negatives, min_count 5, sample 1e-3, 5 epochs), once
per seed; the table gives the mean and spread of the analogy accuracy (questions-words,
restricted to the vocabulary) and the WordSim-353 Spearman correlation.
"""

from __future__ import annotations

import argparse
import os
import re
import statistics
import time
from pathlib import Path
from typing import Any

import msopt

PARAMS = dict(vector_size=100, window=5, negative=5, min_count=5, sample=1e-3, epochs=5)
_TOKEN = re.compile(r"[a-z]+(?:'[a-z]+)?")


def austen_sentences(data: Path) -> list[list[str]]:
    files = sorted((data / "gutenberg_austen").glob("*.txt"))
    if not files:
        raise FileNotFoundError(f"{data / 'gutenberg_austen'}: no novels found")
    out = []
    for f in files:
        for line in f.read_text(encoding="utf-8").splitlines():
            toks = _TOKEN.findall(line.lower())
            if toks:
                out.append(toks)
    return out


def evaluate(wv: Any, data: Path) -> tuple[float, float]:
    """(analogy accuracy, WordSim-353 Spearman) of msopt or gensim KeyedVectors."""
    analogy = wv.evaluate_word_analogies(data / "word_analogy" / "questions-words.txt")[0]
    pairs = wv.evaluate_word_pairs(data / "word_similarity" / "wordsim353.tsv")
    spearman = pairs[1][0] if isinstance(pairs[1], tuple) else pairs[1]  # gensim: (r, p)
    return float(analogy), float(spearman)


def compare(data: Path, seeds: int = 3, workers: int = 2, sg: int = 1) -> dict[str, Any]:
    """Per library: lists of analogy accuracies, Spearman correlations and train seconds."""
    sentences = austen_sentences(data)
    out: dict[str, Any] = {"sentences": len(sentences),
                           "words": sum(map(len, sentences))}
    runners = {"msopt": lambda seed: msopt.Word2Vec(sentences, sg=sg, workers=workers,
                                                    seed=seed, **PARAMS)}
    try:
        from gensim.models import Word2Vec as GensimWord2Vec
        runners["gensim"] = lambda seed: GensimWord2Vec(sentences, sg=sg, workers=workers,
                                                        seed=seed, **PARAMS)
    except ImportError:
        pass
    for name, make in runners.items():
        rows = []
        for seed in range(1, seeds + 1):
            t0 = time.perf_counter()
            model = make(seed)
            seconds = time.perf_counter() - t0
            rows.append((*evaluate(model.wv, data), seconds))
        out[name] = {"analogy": [r[0] for r in rows], "spearman": [r[1] for r in rows],
                     "seconds": [r[2] for r in rows], "model": model}
    return out


def main() -> None:
    default = Path(os.environ.get("MSOPT_DATA",
                                  Path(__file__).resolve().parents[2] / "shared" / "data"))
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("data", nargs="?", type=Path, default=default)
    ap.add_argument("--seeds", type=int, default=3)
    ap.add_argument("--workers", type=int, default=2)
    args = ap.parse_args()
    for sg in (1, 0):
        res = compare(args.data, args.seeds, args.workers, sg)
        print(f"\n{'skip-gram' if sg else 'CBOW'}: {res['words']:,} words, "
              f"{res['sentences']:,} sentences, {args.seeds} seeds, {args.workers} workers")
        print("| library | analogy accuracy | WordSim-353 Spearman | train seconds |")
        print("|---|---|---|---|")
        for name in ("msopt", "gensim"):
            if name not in res:
                continue
            r = res[name]
            cells = [f"{statistics.mean(r[k]):.4f} (sd {statistics.pstdev(r[k]):.4f})"
                     for k in ("analogy", "spearman")]
            print(f"| {name} | {cells[0]} | {cells[1]} | {statistics.median(r['seconds']):.2f} |")
        for w in ("elizabeth", "letter", "happy"):
            print(f"  msopt most_similar({w!r}):",
                  ", ".join(x for x, _ in res["msopt"]["model"].wv.most_similar(w, 6)))


if __name__ == "__main__":
    main()
