"""Word2Vec quality beside gensim on the five Austen novels.

    python bench/word2vec_quality.py [DATA] [--seeds 5] [--workers 2]

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
import statistics
from pathlib import Path

from msopt._bench import word2vec_quality


def main() -> None:
    default = Path(os.environ.get("MSOPT_DATA",
                                  Path(__file__).resolve().parents[2] / "shared" / "data"))
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("data", nargs="?", type=Path, default=default)
    ap.add_argument("--seeds", type=int, default=5)
    ap.add_argument("--workers", type=int, default=2)
    args = ap.parse_args()
    for sg in (1, 0):
        res = word2vec_quality(args.data, args.seeds, args.workers, sg)
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
                  ", ".join(x for x, _ in res["msopt"]["model"].wv.most_similar(w, topn=6)))


if __name__ == "__main__":
    main()
