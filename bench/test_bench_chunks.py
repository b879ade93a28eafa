"""pytest-benchmark: what returning to Python between native chunks costs.

    python -m pytest bench/test_bench_chunks.py

Word2Vec (skip-gram, dim 100, window 5, 5 negatives, min_count 5, 3 epochs) on a Zipf
corpus of 1.5M tokens (``_bench.zipf_corpus``, no data needed), trained as every model
trains (native chunks of about 0.4 s, a report between them) beside the same training in
one native call (the chunk set beyond the run's size), at 1 and 2 threads.  The vocabulary
is built once; each round trains the same model again from its starting vectors.  The
table's "speed-up" of msopt over "one native call" is the chunks' cost: 1.00 is none.
"""

from __future__ import annotations

import functools
from typing import Any

import pytest

import msopt
from msopt import _bench

TOKENS = 1_500_000
EPOCHS = 3


@functools.cache
def corpus() -> list[list[str]]:
    return _bench.zipf_corpus(TOKENS)


CASES = [(r, t) for t in (1, 2) for r in ("msopt", "one")]


@pytest.mark.parametrize(("runner", "threads"), CASES, ids=[f"{r}-t{t}" for r, t in CASES])
def test_word2vec_chunks(benchmark: Any, runner: str, threads: int) -> None:
    _bench._set_threads(threads)
    sentences = corpus()
    model = msopt.Word2Vec(dim=100, window=5, negative=5, min_count=5, epochs=EPOCHS,
                           threads=threads, seed=1).build_vocab(sentences)
    if runner == "one":
        model._chunk_words = 1 << 40
    start = (model.wv.vectors.copy(), model.syn1neg.copy())

    def fn() -> None:
        model.wv.vectors[...] = start[0]
        model.syn1neg[...] = start[1]
        model.train(sentences)

    words = sum(map(len, sentences)) * EPOCHS
    benchmark.group = f"Word2Vec skip-gram, chunks against one call t={threads}"
    benchmark.extra_info.update(
        runner="msopt" if runner == "msopt" else "one native call",
        size=f"{words:,} words ({EPOCHS} epochs)", params=words, bytes_per_param=0,
        threads=threads, unit="word")
    benchmark.pedantic(fn, rounds=5, warmup_rounds=1)
