"""pytest-benchmark: building a vocabulary (counting the words of a corpus, then keeping those
seen ``min_count`` times, by count) beside gensim's and plain Python's.

    python -m pytest bench/test_bench_vocab.py

The corpus: the five Austen novels of the shared data, read as lines (about 0.65M whitespace
tokens, twice over), or a Zipf corpus of 1.5M tokens (``_bench.zipf_corpus``) when the data
is absent.  Runners, all on one thread:

- msopt: ``Vocabulary(min_count=5).fit(lines)``, tokenizing the lines itself (the native
  counter);
- gensim: ``Word2Vec(min_count=5).build_vocab(token_lists)`` on lines split beforehand (its
  tokenizing not timed), when gensim is installed;
- Python: ``collections.Counter`` over ``line.split()``, then the words kept and sorted.

The unit is the token: the table's speed-up is tokens per second against each peer.
"""

from __future__ import annotations

import functools
import os
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from msopt import _bench
from msopt.text import Vocabulary

DATA = Path(os.environ.get("MSOPT_DATA", Path(__file__).resolve().parents[2] / "shared" / "data"))
AUSTEN = DATA / "gutenberg_austen"
MIN_COUNT = 5


@functools.cache
def corpus() -> tuple[str, list[str]]:
    files = sorted(AUSTEN.glob("*.txt")) if AUSTEN.is_dir() else []
    if files:
        lines = [line for f in files
                 for line in f.read_text(encoding="utf-8", errors="replace").splitlines()]
        return "Austen (x 2)", lines * 2
    return "Zipf", [" ".join(s) for s in _bench.zipf_corpus(1_500_000)]


def python_vocab(lines: list[str]) -> list[str]:
    counts = Counter(t for line in lines for t in line.split())
    first = {w: i for i, w in enumerate(counts)}  # a Counter keeps first appearance
    return sorted((w for w, c in counts.items() if c >= MIN_COUNT),
                  key=lambda w: (-counts[w], first[w]))


@pytest.mark.parametrize("runner", ["msopt", "gensim", "python"])
def test_build_vocab(benchmark: Any, runner: str) -> None:
    _bench._set_threads(1)
    name, lines = corpus()
    if runner == "msopt":
        def fn() -> Any:
            return Vocabulary(min_count=MIN_COUNT).fit(lines)
        label = "msopt"
    elif runner == "gensim":
        gensim = pytest.importorskip("gensim", reason="gensim is not installed")
        tokens = [line.split() for line in lines]

        def fn() -> Any:
            model = gensim.models.Word2Vec(min_count=MIN_COUNT, workers=1)
            model.build_vocab(tokens)
            return model
        label = "gensim Word2Vec.build_vocab (lines split beforehand)"
    else:
        def fn() -> Any:
            return python_vocab(lines)
        label = "Python Counter"
    n = sum(len(line.split()) for line in lines)
    benchmark.group = "build a vocabulary (min_count 5) t=1"
    benchmark.extra_info.update(runner=label, size=f"{name}: {n:,} tokens", params=n,
                                bytes_per_param=0, threads=1, unit="token")
    benchmark.pedantic(fn, rounds=7, warmup_rounds=1)


def test_the_same_vocabulary() -> None:
    """The runners build the same words in the same order (not timed)."""
    _, lines = corpus()
    assert Vocabulary(min_count=MIN_COUNT).fit(lines).words == python_vocab(lines)
