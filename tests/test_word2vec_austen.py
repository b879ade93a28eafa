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
pytestmark = pytest.mark.skipif(
    not all(p.exists() for p in NEEDED),
    reason="the Austen novels, questions-words and WordSim-353 (shared/data) are absent")

HEROINES = {"elinor", "marianne", "anne", "emma", "fanny", "catherine", "jane", "harriet"}


def test_skipgram_on_austen_makes_sense():
    sentences = _bench.austen_sentences(DATA)
    model = msopt.Word2Vec(sentences, sg=1, workers=2, seed=1, **_bench.W2V_QUALITY_PARAMS)
    assert model.loss_history_[-1] < model.loss_history_[0]
    analogy, spearman = _bench.evaluate_word_vectors(model.wv, DATA)
    assert analogy > 0.045  # gensim: 0.065 on average over 5 seeds (msopt: 0.063)
    assert spearman > 0.0
    near = {w for w, _ in model.wv.most_similar("elizabeth", 6)}
    assert len(near & HEROINES) >= 2, near


@pytest.mark.slow
@pytest.mark.parametrize("sg", [1, 0])
def test_quality_beside_gensim(sg):
    """Analogy accuracy and WordSim-353 Spearman, each a mean over 5 seeds, within 2 points
    of gensim's (or within twice the standard error of the difference, the seeds' spread
    being about 2 points on WordSim's 75 answerable pairs)."""
    pytest.importorskip("gensim", reason="gensim is not installed")
    res = _bench.word2vec_quality(DATA, seeds=5, workers=2, sg=sg)
    for metric in ("analogy", "spearman"):
        ours, theirs = res["msopt"][metric], res["gensim"][metric]
        se = math.sqrt((statistics.variance(ours) + statistics.variance(theirs)) / 5)
        gap = statistics.mean(theirs) - statistics.mean(ours)
        assert gap <= max(0.02, 2 * se), (metric, ours, theirs)
