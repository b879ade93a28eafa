"""Word2Vec on real text: the five Austen novels (shared/data), alone and beside gensim."""

from __future__ import annotations

import math
import os
import statistics
from pathlib import Path

import pytest

import msopt
from msopt import _bench

# The shared data sets sit beside the repository (shared/data), or where MSOPT_DATA says.
DATA = Path(os.environ.get("MSOPT_DATA", Path(__file__).resolve().parents[2] / "shared" / "data"))
NEEDED = [DATA / "gutenberg_austen", DATA / "word_analogy" / "questions-words.txt",
          DATA / "word_similarity" / "wordsim353.tsv"]
pytestmark = [pytest.mark.data, pytest.mark.skipif(
    not all(p.exists() for p in NEEDED),
    reason="the Austen novels, questions-words and WordSim-353 (shared/data) are absent")]

HEROINES = {"elinor", "marianne", "anne", "emma", "fanny", "catherine", "jane", "harriet"}


@pytest.mark.slow  # about 30 s on a busy 2-core machine: the longest of the default run
def test_skipgram_on_austen_makes_sense():
    sentences = _bench.austen_sentences(DATA)
    model = msopt.Word2Vec(sentences, sg=1, workers=2, seed=1, **_bench.W2V_QUALITY_PARAMS)
    assert model.loss_history_[-1] < model.loss_history_[0]
    analogy, spearman = _bench.evaluate_word_vectors(model.wv, DATA)
    assert analogy > 0.045  # gensim: 0.065 on average over 5 seeds (msopt: 0.063)
    assert spearman > 0.0
    near = {w for w, _ in model.wv.most_similar("elizabeth", topn=6)}
    assert len(near & HEROINES) >= 2, near


@pytest.mark.slow
@pytest.mark.parametrize("sg", [1, 0])
def test_quality_beside_gensim(sg):
    """Means over 8 seeds: analogy accuracy within 2 points of gensim's; WordSim-353
    Spearman within 2 points, or within 3 standard errors of the difference (WordSim has
    only 75 answerable pairs here, and one seed's value moves by about 3 points)."""
    pytest.importorskip("gensim", reason="gensim is not installed")
    seeds = 8
    res = _bench.word2vec_quality(DATA, seeds=seeds, workers=2, sg=sg)
    for metric, k in (("analogy", 0.0), ("spearman", 3.0)):
        ours, theirs = res["msopt"][metric], res["gensim"][metric]
        se = math.sqrt((statistics.variance(ours) + statistics.variance(theirs)) / seeds)
        gap = statistics.mean(theirs) - statistics.mean(ours)
        assert gap <= max(0.02, k * se), (metric, ours, theirs)
