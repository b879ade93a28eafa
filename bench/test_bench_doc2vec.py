"""pytest-benchmark: Doc2Vec inference and training beside gensim's, same model, same run.

    python -m pytest bench/test_bench_doc2vec.py

- inference: 10,000 SICK sentences (both columns, every split, in file order), PV-DBOW,
  dim 100, 10 epochs (the model's, gensim's default for ``infer_vector``); msopt's
  ``infer_vectors`` in one call at 1 and 2 threads, each group beside gensim's
  ``infer_vector`` called once per sentence (its only form, one thread).  Both models are
  trained on the SICK TRAIN sentences with the same hyperparameters first.
- training: the same model trained on the SICK TRAIN sentences for 10 epochs, msopt at 1
  and 2 threads beside gensim with as many workers.

Speed is documents per second (inference) and words per second (training).  gensim's rows
skip when it is not installed; everything skips when the SICK data is absent.  The quality
comparison is ``bench/doc2vec_quality.py``.
"""

from __future__ import annotations

import functools
import os
import re
from pathlib import Path
from typing import Any

import pytest

from msopt import _bench
from msopt.models.doc2vec import Doc2Vec

DATA = Path(os.environ.get("MSOPT_DATA", Path(__file__).resolve().parents[2] / "shared" / "data"))
TOKEN = re.compile(r"[^\W_]+")
PARAMS = dict(dim=100, dm=0, min_count=2, epochs=10, window=5, negative=5, sample=1e-3)
N_INFER = 10_000


@functools.cache
def sick() -> tuple[list[list[str]], list[list[str]]]:
    """(SICK TRAIN sentences, the first 10,000 sentences of the file)."""
    path = DATA / "sick" / "SICK.txt"
    if not path.exists():
        pytest.skip("the SICK data (shared/data/sick) is absent")
    lines = path.read_text().splitlines()
    col = {c: i for i, c in enumerate(lines[0].split("\t"))}
    train, every = [], []
    for line in lines[1:]:
        f = line.split("\t")
        pair = [TOKEN.findall(f[col[k]].lower()) for k in ("sentence_A", "sentence_B")]
        every += pair
        if f[col["SemEval_set"]] == "TRAIN":
            train += pair
    return train, every[:N_INFER]


@functools.cache
def msopt_model() -> Doc2Vec:
    return Doc2Vec(sick()[0], threads=1, seed=1, **PARAMS)


@functools.cache
def gensim_model() -> Any:
    gensim = pytest.importorskip("gensim", reason="gensim is not installed")
    from gensim.models.doc2vec import TaggedDocument

    return gensim.models.Doc2Vec(
        [TaggedDocument(d, [i]) for i, d in enumerate(sick()[0])], workers=1, seed=1,
        vector_size=PARAMS["dim"], **{k: v for k, v in PARAMS.items() if k != "dim"})


INFER_CASES = [(r, t) for t in (1, 2) for r in ("msopt", "gensim")]


@pytest.mark.parametrize(("runner", "threads"), INFER_CASES,
                         ids=[f"{r}-t{t}" for r, t in INFER_CASES])
def test_infer(benchmark, runner, threads):
    _bench._set_threads(threads)
    docs = sick()[1]
    if runner == "msopt":
        model = msopt_model()

        def fn() -> None:
            model.infer_vectors(docs, threads=threads)
        name = "msopt"
    else:
        g = gensim_model()

        def fn() -> None:
            for d in docs:
                g.infer_vector(d)
        name = "gensim infer_vector loop (one thread, its only form)"
    benchmark.group = f"Doc2Vec infer, {N_INFER:,} SICK sentences, 10 epochs t={threads}"
    benchmark.extra_info.update(runner=name, size=f"{N_INFER:,} documents", params=N_INFER,
                                bytes_per_param=0, threads=threads, unit="document")
    benchmark.pedantic(fn, rounds=5, warmup_rounds=1)
    benchmark.extra_info["documents_per_sec"] = N_INFER / benchmark.stats.stats.median


TRAIN_CASES = [(r, t) for t in (1, 2) for r in ("msopt", "gensim")]


@pytest.mark.parametrize(("runner", "threads"), TRAIN_CASES,
                         ids=[f"{r}-t{t}" for r, t in TRAIN_CASES])
def test_train(benchmark, runner, threads):
    _bench._set_threads(threads)
    train = sick()[0]
    words = sum(len(d) for d in train) * PARAMS["epochs"]
    if runner == "msopt":
        def fn() -> None:
            Doc2Vec(train, threads=threads, seed=1, **PARAMS)
        name = "msopt"
    else:
        gensim = pytest.importorskip("gensim", reason="gensim is not installed")
        from gensim.models.doc2vec import TaggedDocument

        tagged = [TaggedDocument(d, [i]) for i, d in enumerate(train)]

        def fn() -> None:
            gensim.models.Doc2Vec(tagged, workers=threads, seed=1, vector_size=PARAMS["dim"],
                                  **{k: v for k, v in PARAMS.items() if k != "dim"})
        name = "gensim Doc2Vec"
    benchmark.group = f"Doc2Vec train, SICK TRAIN sentences, 10 epochs t={threads}"
    benchmark.extra_info.update(runner=name, size=f"{words:,} words", params=words,
                                bytes_per_param=0, threads=threads, unit="word")
    benchmark.pedantic(fn, rounds=3, warmup_rounds=0)
    benchmark.extra_info["words_per_sec"] = words / benchmark.stats.stats.median
