"""pytest-benchmark: TextClassifier's training loop on TREC beside the same model in torch.

    python -m pytest bench/test_bench_text.py
    MSOPT_BENCH_QUICK=1 python -m pytest bench/test_bench_text.py   # 200,000 buckets

The model: dim 50, words and bigrams hashed into 2,000,000 buckets (fastText's default),
the mean of a question's rows, a softmax over the 6 coarse classes, 5 epochs over the 5,452
training questions.  Both runners get the same ids and offsets (``Vocabulary.encode``) and
the same thread count, and are timed on their training loop alone (no table allocation, no
text encoding); each call continues training the same tables.

- msopt: one native call for all epochs, SGD one question at a time (fastText's rule, lr
  0.5 decaying to 0), Hogwild threads.
- torch: ``nn.EmbeddingBag(mode="mean", sparse=True)`` + ``nn.Linear(50, 6, bias=False)``,
  cross entropy, ``SparseAdam`` for the embedding and ``Adam`` for the output (lr 0.01 both),
  mini-batches of 32 questions, prebuilt as tensors for each epoch (batch size 1 would only
  measure torch's per-call overhead; 32 is the usual choice and reaches the same accuracy).

Speed is words (whitespace tokens) x epochs per second; the requirement is >= 1M words/s per
thread for msopt.  A last benchmark fits each runner once from scratch and reports its TREC
test accuracy beside the speeds.  The TREC benches skip when the data is absent.
"""

from __future__ import annotations

import functools
import os
import time
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from msopt import _bench, _core
from msopt.text import Vocabulary

QUICK = os.environ.get("MSOPT_BENCH_QUICK", "") not in ("", "0")
DATA = Path(os.environ.get("MSOPT_DATA", Path(__file__).resolve().parents[2] / "shared" / "data"))
TREC = DATA / "trec"
BUCKETS = 200_000 if QUICK else 2_000_000
DIM, EPOCHS, LR = 50, 5, 0.5
TORCH_BATCH, TORCH_LR = 32, 0.01
TORCH = "torch (batch 32, SparseAdam + Adam)"
RUNNERS = ["msopt", TORCH]
CASES = [(t, r) for t in (1, 2) for r in RUNNERS]

pytestmark = pytest.mark.skipif(not TREC.exists(),
                                reason="the TREC data (shared/data/trec) is absent")

# words/s per thread of each (runner, threads), for the accuracy table at the end.
_SPEED: dict[tuple[str, int], float] = {}


def _read(name: str) -> tuple[list[str], list[str]]:
    texts, labels = [], []
    with open(TREC / name, encoding="latin-1") as f:  # the data's README: ISO-8859-1
        for line in f:
            label, _, question = line.partition(" ")
            labels.append(label.split(":")[0])
            texts.append(question.strip())
    return texts, labels


@functools.cache
def _trec() -> dict[str, Any]:
    train, test = _read("train_5500.label"), _read("TREC_10.label")
    vocab = Vocabulary(min_count=1).fit(train[0])
    classes = np.unique(train[1])
    d: dict[str, Any] = {"train": train, "test": test, "vocab": vocab, "classes": classes}
    d["ids"], d["offsets"] = vocab.encode(train[0], ngrams=2, buckets=BUCKETS)
    d["test_ids"], d["test_offsets"] = vocab.encode(test[0], ngrams=2, buckets=BUCKETS)
    d["y"] = np.searchsorted(classes, train[1]).astype(np.int32)
    d["test_y"] = np.searchsorted(classes, test[1])
    d["words"] = sum(len(s.split()) for s in train[0])
    return d


def _initial_input(rows: int) -> np.ndarray:
    table = np.random.default_rng(0).random((rows, DIM), dtype=np.float32)
    table *= np.float32(2.0 / DIM)
    table -= np.float32(1.0 / DIM)
    return table


class MsoptRun:
    """EPOCHS epochs of the native loop on one pair of tables."""

    def __init__(self, threads: int) -> None:
        d = _trec()
        self.d, self.threads = d, threads
        self.input = _initial_input(len(d["vocab"]) + BUCKETS)
        self.output = np.zeros((len(d["classes"]), DIM), np.float32)
        self.calls = 0

    def __call__(self) -> None:
        d = self.d
        _core.fasttext_train(d["ids"], d["offsets"], d["y"], self.input, self.output,
                             "softmax", None, 5, LR, EPOCHS, self.calls, self.threads)
        self.calls += 1

    def accuracy(self) -> float:
        d = self.d
        p = _core.fasttext_predict_proba(d["test_ids"], d["test_offsets"], self.input,
                                         self.output, "softmax")
        return float((p.argmax(1) == d["test_y"]).mean())


class TorchRun:
    """The same model in torch; EPOCHS epochs of mini-batches built beforehand."""

    def __init__(self, torch: Any) -> None:
        d = _trec()
        self.torch, self.d = torch, d
        torch.manual_seed(0)
        self.emb = torch.nn.EmbeddingBag(len(d["vocab"]) + BUCKETS, DIM, mode="mean",
                                         sparse=True)
        with torch.no_grad():
            self.emb.weight.copy_(torch.from_numpy(_initial_input(self.emb.num_embeddings)))
        self.out = torch.nn.Linear(DIM, len(d["classes"]), bias=False)
        with torch.no_grad():
            self.out.weight.zero_()
        self.opts = [torch.optim.SparseAdam(self.emb.parameters(), lr=TORCH_LR),
                     torch.optim.Adam(self.out.parameters(), lr=TORCH_LR)]
        self.loss = torch.nn.CrossEntropyLoss()
        rng = np.random.default_rng(0)
        ends = np.append(d["offsets"][1:], len(d["ids"]))
        self.epochs = []
        for _ in range(EPOCHS):
            order = rng.permutation(len(d["y"]))
            batches = []
            for i in range(0, len(order), TORCH_BATCH):
                docs = order[i:i + TORCH_BATCH]
                parts = [d["ids"][d["offsets"][j]:ends[j]] for j in docs]
                starts = np.cumsum([0] + [len(p) for p in parts[:-1]])
                batches.append((torch.from_numpy(np.concatenate(parts)),
                                torch.from_numpy(starts.astype(np.int64)),
                                torch.from_numpy(d["y"][docs].astype(np.int64))))
            self.epochs.append(batches)

    def __call__(self) -> None:
        for batches in self.epochs:
            for ids, offsets, y in batches:
                for opt in self.opts:
                    opt.zero_grad()
                self.loss(self.out(self.emb(ids, offsets)), y).backward()
                for opt in self.opts:
                    opt.step()

    def accuracy(self) -> float:
        torch, d = self.torch, self.d
        with torch.no_grad():
            scores = self.out(self.emb(torch.from_numpy(d["test_ids"]),
                                       torch.from_numpy(d["test_offsets"])))
        return float((scores.argmax(1).numpy() == d["test_y"]).mean())


def _runner(name: str, threads: int) -> Any:
    if name == "msopt":
        return MsoptRun(threads)
    torch = pytest.importorskip("torch", reason="torch is not installed")
    return TorchRun(torch)


_current: dict[tuple[str, int], Any] = {}


def _cached(name: str, threads: int) -> Any:
    """One runner at a time: each holds a 2,000,000-row table (torch: and its Adam state)."""
    key = (name, threads)
    if key not in _current:
        _current.clear()
        _current[key] = _runner(name, threads)
    return _current[key]


@pytest.mark.parametrize(("threads", "runner"), CASES, ids=[f"t{t}-{r}" for t, r in CASES])
def test_train(benchmark, threads, runner):
    _bench._set_threads(threads)
    fn = _cached(runner, threads)
    d = _trec()
    words = d["words"] * EPOCHS
    benchmark.group = f"TextClassifier TREC t={threads}"
    benchmark.extra_info.update(
        runner=runner, size=f"{len(d['y']):,} docs x {EPOCHS} epochs, dim {DIM}, "
                            f"{BUCKETS:,} buckets", params=words, bytes_per_param=0,
        threads=threads, unit="word")
    fn()
    t0 = time.perf_counter()
    fn()
    once = time.perf_counter() - t0
    benchmark.pedantic(fn, rounds=int(min(50, max(3, 3.0 / once))), warmup_rounds=0)
    per_thread = words / benchmark.stats.stats.median / threads
    benchmark.extra_info["words_per_sec_per_thread"] = per_thread
    _SPEED[(runner, threads)] = per_thread
    if runner == "msopt":
        assert per_thread >= 1e6, f"{per_thread:,.0f} words/s per thread"


def test_accuracy(benchmark):
    """One fit of each runner from scratch (EPOCHS epochs, one thread), its TREC test
    accuracy, and the speeds measured above."""
    _current.clear()
    _bench._set_threads(1)

    def fits() -> list[list[str]]:
        rows = [["runner", "train seconds", "TREC test accuracy",
                 "words/s/thread t=1", "words/s/thread t=2"]]
        for name in RUNNERS:
            try:
                run = _runner(name, 1)
            except pytest.skip.Exception:
                continue
            t0 = time.perf_counter()
            run()
            seconds = time.perf_counter() - t0
            speeds = [f"{_SPEED[(name, t)]:,.0f}" if (name, t) in _SPEED else "-"
                      for t in (1, 2)]
            rows.append([name, f"{seconds:.3f}", f"{run.accuracy():.3f}", *speeds])
            del run
        widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
        return [[c.ljust(w) for c, w in zip(r, widths)] for r in rows]

    rows = benchmark.pedantic(fits, rounds=1, iterations=1)
    benchmark.group = "TextClassifier TREC accuracy"
    benchmark.extra_info["table"] = rows
    assert float(rows[1][2]) >= 0.88  # msopt's

