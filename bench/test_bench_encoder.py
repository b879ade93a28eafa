"""pytest-benchmark: the SentenceEncoder's native training and encoding beside the same
model in torch.

    python -m pytest bench/test_bench_encoder.py
    MSOPT_BENCH_QUICK=1 python -m pytest bench/test_bench_encoder.py    # fewer rounds

The model: the mean of a text's rows (words and hashed word bigrams, 200,000 buckets) of a
table of dim 100, L2-normalized (and, in the projected case, a 100 x 100 linear layer
with bias before the normalization).  torch runs exactly that: ``nn.EmbeddingBag(mode=
"mean", sparse=True)``, ``nn.Linear``, ``F.normalize``, the loss, ``torch.optim.SparseAdam``
for the table and ``torch.optim.Adam`` for the linear layer; msopt's Adam updates the
table's rows in the batch (row-sparse) and the linear layer.  Both start from the same
weights and take the same batches (64 pairs) of the SICK TRAIN pairs, tokenized once by
the encoder's pipeline, fp32, the same thread count.

- train: pairs per second of the training loop alone (the ids prepared beforehand), with
  the cosine regression on the relatedness scores and with the in-batch softmax;
- encode: sentences per second for the 8,878 TRAIN sentences (x 2: 17,756), from ids (the
  model alone) and from texts (msopt's ``encode``; torch's side runs the same tokenizer and
  vocabulary lookup, then its forward), for the default model (the mean, no projection)
  and the projected one.  The mean from ids also has a floor: one float loaded from each
  cache line of every row the texts name (``_core.encoder_read_floor``), which no bag of
  those rows can beat on this machine.

The benches skip when the data or torch is absent.  Quality: ``bench/sick_quality.py``.
"""

from __future__ import annotations

import functools
import os
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from msopt import _bench, _core
from msopt.models.sentence_encoder import SentenceEncoder
from msopt.optim.optimizers import Adam

QUICK = os.environ.get("MSOPT_BENCH_QUICK", "") not in ("", "0")
DATA = Path(os.environ.get("MSOPT_DATA", Path(__file__).resolve().parents[2] / "shared" / "data"))
SICK = DATA / "sick" / "SICK.txt"
BATCH = 64
LOSSES = {"cosine": 1, "in_batch": 0}


@functools.cache
def sick() -> tuple[list[str], list[str], np.ndarray]:
    if not SICK.exists():
        pytest.skip("the SICK data (shared/data/sick) is absent")
    sys.path.insert(0, str(Path(__file__).parent))
    from sick_quality import read_sick

    return read_sick(SICK)["TRAIN"]


@functools.cache
def setup(project: bool) -> dict[str, Any]:
    """A model fitted for 0 epochs (its vocabulary, its starting weights) and the ids."""
    a, b, s = sick()
    enc = SentenceEncoder(dim=100, projection=100 if project else None, epochs=0,
                          threads=1).fit(a, b, scores=s)
    ai, ao = enc._ids(enc.vocab_, enc._lines(a, "a"))
    bi, bo = enc._ids(enc.vocab_, enc._lines(b, "b"))
    return {"enc": enc, "a": (ai, ao), "b": (bi, bo), "y": (s - s.min()) / np.ptp(s)}


class Msopt:
    def __init__(self, loss: str, project: bool, threads: int) -> None:
        d = setup(project)
        self.params = [p.copy() for p in d["enc"].params_]
        self.opt = Adam(self.params, lr=1e-2)
        self.pairs = _core.EncoderPairs(*d["a"], *d["b"], self.params[0].shape[0], d["y"])
        self.loss, self.threads = LOSSES[loss], threads
        self.n_batches = len(self.pairs) // BATCH
        self.epoch = 0

    def __call__(self) -> None:
        _core.encoder_train(self.pairs, self.opt.native_state(), loss=self.loss,
                            batch_size=BATCH, seed=0, epoch=self.epoch, batch_begin=0,
                            batch_end=self.n_batches, threads=self.threads)
        self.epoch += 1


def _bags(torch: Any, ids: np.ndarray, offsets: np.ndarray, rows: np.ndarray) -> Any:
    """The ids and offsets of the texts `rows`, as torch tensors."""
    ends = np.append(offsets[1:], len(ids))
    parts = [ids[offsets[r]:ends[r]] for r in rows]
    lens = np.array([len(p) for p in parts])
    flat = np.concatenate(parts) if parts else np.zeros(0, np.int64)
    off = np.concatenate([[0], np.cumsum(lens)[:-1]]).astype(np.int64)
    return torch.from_numpy(flat.astype(np.int64)), torch.from_numpy(off)


def torch_model(torch: Any, params: list[np.ndarray]) -> Any:
    nn = torch.nn

    class Encoder(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            E = torch.from_numpy(params[0].copy())
            self.bag = nn.EmbeddingBag(E.shape[0], E.shape[1], mode="mean", sparse=True)
            self.lin = nn.Linear(E.shape[1], params[1].shape[1]) if len(params) == 3 else None
            with torch.no_grad():  # the same initial weights as msopt's
                self.bag.weight.copy_(E)
                if self.lin is not None:
                    self.lin.weight.copy_(torch.from_numpy(params[1].T.copy()))
                    self.lin.bias.copy_(torch.from_numpy(params[2]))

        def forward(self, ids: Any, offsets: Any) -> Any:
            h = self.bag(ids, offsets)
            if self.lin is not None:
                h = self.lin(h)
            return torch.nn.functional.normalize(h, dim=1)

    return Encoder()


class Torch:
    def __init__(self, loss: str, project: bool, threads: int) -> None:
        self.torch = torch = pytest.importorskip("torch", reason="torch is not installed")
        torch.set_num_threads(threads)
        d = setup(project)
        self.model = torch_model(torch, d["enc"].params_)
        self.sparse = torch.optim.SparseAdam(list(self.model.bag.parameters()), lr=1e-2)
        self.dense = (torch.optim.Adam(list(self.model.lin.parameters()), lr=1e-2)
                      if project else None)
        n = len(d["y"])
        perm = _core.epoch_permutation(0, 0, n)
        self.batches = []
        for k in range(n // BATCH):
            rows = perm[k * BATCH:(k + 1) * BATCH]
            self.batches.append((*_bags(torch, *d["a"], rows), *_bags(torch, *d["b"], rows),
                                 torch.from_numpy(d["y"][rows].astype(np.float32))))
        self.loss = loss

    def __call__(self) -> None:
        torch = self.torch
        F = torch.nn.functional
        labels = torch.arange(BATCH)
        for ai, ao, bi, bo, y in self.batches:
            ua, ub = self.model(ai, ao), self.model(bi, bo)
            if self.loss == "cosine":
                loss = 0.5 * ((ua * ub).sum(1) - y).pow(2).mean()
            else:
                loss = F.cross_entropy(ua @ ub.T / 0.05, labels)
            self.sparse.zero_grad(set_to_none=True)
            if self.dense is not None:
                self.dense.zero_grad(set_to_none=True)
            loss.backward()
            self.sparse.step()
            if self.dense is not None:
                self.dense.step()


TRAIN_CASES = [(loss, p, t, r) for loss in LOSSES for p in (False, True) for t in (1, 2)
               for r in ("msopt", "torch")]


@pytest.mark.parametrize(("loss", "project", "threads", "runner"), TRAIN_CASES,
                         ids=[f"{lo}-{'proj' if p else 'mean'}-t{t}-{r}"
                              for lo, p, t, r in TRAIN_CASES])
def test_train(benchmark, loss, project, threads, runner):
    _bench._set_threads(threads)
    fn = (Msopt if runner == "msopt" else Torch)(loss, project, threads)
    n = (len(sick()[2]) // BATCH) * BATCH
    benchmark.group = (f"SentenceEncoder train {loss}{' + projection' if project else ''} "
                       f"t={threads}")
    benchmark.extra_info.update(
        runner="msopt" if runner == "msopt" else "torch (EmbeddingBag, SparseAdam/Adam)",
        size=f"SICK TRAIN {n:,} pairs, dim 100, batch {BATCH}", params=n, bytes_per_param=0,
        threads=threads, unit="pair")
    fn()
    benchmark.pedantic(fn, rounds=3 if QUICK else 5, warmup_rounds=0)
    benchmark.extra_info["pairs_per_sec"] = n / benchmark.stats.stats.median


ENCODE_CASES = [(src, p, t, r) for src in ("ids", "texts") for p in (False, True)
                for t in (1, 2) for r in ("msopt", "torch")]
# The floor of the mean from ids: the same rows' cache lines loaded, nothing computed.
ENCODE_CASES += [("ids", False, t, "floor") for t in (1, 2)]


@pytest.mark.parametrize(("source", "project", "threads", "runner"), ENCODE_CASES,
                         ids=[f"{s}-{'proj' if p else 'mean'}-t{t}-{r}"
                              for s, p, t, r in ENCODE_CASES])
def test_encode(benchmark, source, project, threads, runner):
    _bench._set_threads(threads)
    a, b, _ = sick()
    d = setup(project)
    enc = d["enc"]
    enc.set_params(threads=threads)
    texts = (a + b) * 2
    ids, offsets = enc._ids(enc.vocab_, enc._lines(texts, "texts"))
    if runner == "msopt":
        if source == "ids":
            def fn() -> Any:
                return _core.encoder_encode(enc.params_, ids, offsets, threads=threads)
        else:
            def fn() -> Any:
                return enc.encode(texts)
        name = "msopt"
    elif runner == "floor":
        def fn() -> Any:
            return _core.encoder_read_floor(enc.params_, ids, offsets, threads=threads)
        name = "floor: the rows' cache lines read, nothing computed"
    else:
        torch = pytest.importorskip("torch", reason="torch is not installed")
        torch.set_num_threads(threads)
        model = torch_model(torch, enc.params_)
        ti, to = torch.from_numpy(ids), torch.from_numpy(offsets)
        if source == "ids":
            def fn() -> Any:
                with torch.no_grad():
                    return model(ti, to)
        else:
            def fn() -> Any:
                i, o = enc._ids(enc.vocab_, enc._lines(texts, "texts"))
                with torch.no_grad():
                    return model(torch.from_numpy(i), torch.from_numpy(o))
        name = f"torch (EmbeddingBag{' + Linear' if project else ''} + normalize)"
    benchmark.group = (f"SentenceEncoder encode{' + projection' if project else ''} from "
                       f"{source} t={threads}")
    benchmark.extra_info.update(runner=name, size=f"{len(texts):,} SICK sentences, dim 100"
                                + (", projection 100" if project else ""),
                                params=len(texts), bytes_per_param=0, threads=threads,
                                unit="sentence",
                                floor_scale=1.0 if source == "ids" and not project else 0.0)
    benchmark.pedantic(fn, rounds=3 if QUICK else 9, warmup_rounds=1)
    benchmark.extra_info["sentences_per_sec"] = len(texts) / benchmark.stats.stats.median
