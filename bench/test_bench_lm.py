"""pytest-benchmark: msopt.LanguageModel's native loops beside the same model in torch.

    python -m pytest bench/test_bench_lm.py
    MSOPT_BENCH_QUICK=1 python -m pytest bench/test_bench_lm.py    # fewer batches

The model (Bengio's MLP): the previous tokens embedded and concatenated, one tanh layer, a
linear output over the vocabulary (no direct connection here, so torch runs exactly the
same network: ``nn.Embedding``, ``nn.Linear``, ``tanh``, ``nn.Linear``, ``cross_entropy``,
``torch.optim.Adam``), fp32, the same batch size and thread count; both runners take the
same batches (random positions of the same stream) and are timed on training alone.

- char: tinyshakespeare, context 8, dim 24, hidden 256, batch 256 (the issue's torch MLP);
- word: the Austen novels, words seen 3 times (about 6,950 tokens), context 5, dim 64,
  hidden 256, batch 256, full softmax; and msopt's sampled softmax (512 classes a batch);
- generation: 200 tokens after a prompt, n = 1 and n = 64 rows, msopt's batched native
  sampling beside a torch loop (one forward and one ``torch.multinomial`` per token);
- dynamic evaluation beside static scoring of the same 20,000 characters (msopt only).

Speed is tokens per second.  The benches skip when the data is absent.  The quality
comparison (KN n-grams, torch, msopt, long fits) is ``bench/lm_quality.py``.
"""

from __future__ import annotations

import functools
import os
import re
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from msopt import _bench, _core
from msopt.models.language_model import LanguageModel
from msopt.optim.optimizers import Adam

QUICK = os.environ.get("MSOPT_BENCH_QUICK", "") not in ("", "0")
DATA = Path(os.environ.get("MSOPT_DATA", Path(__file__).resolve().parents[2] / "shared" / "data"))
SHAKES = DATA / "tinyshakespeare" / "input.txt"
AUSTEN = DATA / "gutenberg_austen"
WORD = re.compile(r"[^\W_]+(?:'[^\W_]+)*|[^\w\s]")
BATCHES = 20 if QUICK else 100

CHAR = dict(context=8, dim=24, hidden=256)
WORDM = dict(context=5, dim=64, hidden=256)


def gutenberg_body(text: str) -> str:
    """The book between Project Gutenberg's ``*** START OF`` and ``*** END OF`` lines."""
    start = text.find("\n", text.find("*** START OF")) + 1
    end = text.find("*** END OF")
    return text[start:end if end >= 0 else len(text)]


@functools.cache
def char_ids() -> tuple[np.ndarray, int]:
    if not SHAKES.exists():
        pytest.skip("the tinyshakespeare data (shared/data/tinyshakespeare) is absent")
    text = SHAKES.read_text(encoding="utf-8")
    chars = sorted(set(text))
    idx = {c: i + 3 for i, c in enumerate(chars)}
    return np.array([idx[c] for c in text], np.int32), len(chars) + 3


@functools.cache
def word_ids() -> tuple[np.ndarray, int]:
    if not AUSTEN.exists():
        pytest.skip("the Austen data (shared/data/gutenberg_austen) is absent")
    toks: list[str] = []
    for f in sorted(AUSTEN.glob("*.txt")):
        toks += WORD.findall(gutenberg_body(f.read_text(encoding="utf-8-sig")).lower())
    n = int(len(toks) * 0.9)
    counts: dict[str, int] = {}
    for t in toks[:n]:
        counts[t] = counts.get(t, 0) + 1
    vocab = {t: i + 3 for i, t in enumerate(sorted(t for t, c in counts.items() if c >= 3))}
    return np.array([vocab.get(t, 0) for t in toks], np.int32), len(vocab) + 3


def _params(V: int, context: int, dim: int, hidden: int, seed: int = 0) -> list[np.ndarray]:
    lm = LanguageModel(context=context, dim=dim, hidden=hidden, direct=False, seed=seed)
    return lm._init_params(V)


class Msopt:
    def __init__(self, ids: np.ndarray, V: int, threads: int, samples: int = 0, **m: Any):
        self.data = _core.LmData(ids, V, 1)
        self.shape = _core.LmShape(vocab=V, dim=m["dim"], context=m["context"],
                                   hidden1=m["hidden"])
        self.params = _params(V, **m)
        self.opt = Adam(self.params, lr=1e-3)
        self.threads, self.samples, self.b = threads, samples, 0
        self.weights = np.ones(V) if samples else None
        self.n_batches = len(ids) // 256

    def __call__(self) -> None:
        if self.b + BATCHES > self.n_batches:
            self.b = 0
        _core.lm_train(self.data, self.shape, self.opt.native_state(), batch_size=256, seed=0,
                       epoch=0, batch_begin=self.b, batch_end=self.b + BATCHES,
                       threads=self.threads, samples=self.samples,
                       sample_weights=self.weights)
        self.b += BATCHES


def torch_model(torch: Any, V: int, params: list[np.ndarray], context: int, dim: int,
                hidden: int) -> Any:
    nn = torch.nn

    class MLP(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.emb = nn.Embedding(V, dim)
            self.l1 = nn.Linear(context * dim, hidden)
            self.out = nn.Linear(hidden, V)
            with torch.no_grad():  # the same initial weights as msopt's
                self.emb.weight.copy_(torch.from_numpy(params[0]))
                self.l1.weight.copy_(torch.from_numpy(params[1].T.copy()))
                self.l1.bias.copy_(torch.from_numpy(params[2]))
                self.out.weight.copy_(torch.from_numpy(params[3]))
                self.out.bias.copy_(torch.from_numpy(params[4]))

        def forward(self, ctx: Any) -> Any:
            return self.out(torch.tanh(self.l1(self.emb(ctx).flatten(1))))

    return MLP()


class Torch:
    def __init__(self, ids: np.ndarray, V: int, threads: int, **m: Any):
        self.torch = torch = pytest.importorskip("torch", reason="torch is not installed")
        torch.set_num_threads(threads)
        self.model = torch_model(torch, V, _params(V, **m), **m)
        self.opt = torch.optim.Adam(self.model.parameters(), lr=1e-3)
        c = m["context"]
        perm = _core.epoch_permutation(0, 0, len(ids))
        pos = perm[: (len(ids) // 256) * 256]
        padded = np.concatenate([np.ones(c, np.int64), ids.astype(np.int64)])
        ctx = np.lib.stride_tricks.sliding_window_view(padded, c)[pos]
        self.ctx = torch.from_numpy(np.ascontiguousarray(ctx)).view(-1, 256, c)
        self.y = torch.from_numpy(ids[pos].astype(np.int64)).view(-1, 256)
        self.b = 0

    def __call__(self) -> None:
        torch = self.torch
        if self.b + BATCHES > len(self.y):
            self.b = 0
        for b in range(self.b, self.b + BATCHES):
            loss = torch.nn.functional.cross_entropy(self.model(self.ctx[b]), self.y[b])
            self.opt.zero_grad(set_to_none=True)
            loss.backward()
            self.opt.step()
        self.b += BATCHES


TRAIN_CASES = [(kind, t, r) for kind in ("char", "word", "word-sampled") for t in (1, 2)
               for r in ("msopt", "torch")]
TRAIN_CASES = [c for c in TRAIN_CASES if not (c[0] == "word-sampled" and c[2] == "torch")]


@pytest.mark.parametrize(("kind", "threads", "runner"), TRAIN_CASES,
                         ids=[f"{k}-t{t}-{r}" for k, t, r in TRAIN_CASES])
def test_train(benchmark, kind, threads, runner):
    _bench._set_threads(threads)
    ids, V = char_ids() if kind == "char" else word_ids()
    m = CHAR if kind == "char" else WORDM
    if runner == "msopt":
        fn = Msopt(ids, V, threads, samples=512 if kind == "word-sampled" else 0, **m)
        # the sampled loss sits in the word group beside the full softmax
        name = "msopt" if kind != "word-sampled" else "msopt sampled softmax (512)"
    else:
        fn = Torch(ids, V, threads, **m)
        name = "torch (same MLP, Adam)"
    group = "word" if kind.startswith("word") else kind
    benchmark.group = f"LanguageModel train {group} t={threads}"
    benchmark.extra_info.update(runner=name, size=f"V={V:,} {m} batch 256 x {BATCHES}",
                                params=256 * BATCHES, bytes_per_param=0, threads=threads,
                                unit="token")
    fn()
    benchmark.pedantic(fn, rounds=3 if QUICK else 5, warmup_rounds=0)
    benchmark.extra_info["tokens_per_sec"] = 256 * BATCHES / benchmark.stats.stats.median


GEN_CASES = [(n, r) for n in (1, 64) for r in ("msopt", "msopt + Kneser-Ney 7", "torch")]


@pytest.mark.parametrize(("n", "runner"), GEN_CASES, ids=[f"n{n}-{r}" for n, r in GEN_CASES])
def test_generate(benchmark, n, runner):
    _bench._set_threads(1)
    ids, V = char_ids()
    params = _params(V, **CHAR)
    c, tokens = CHAR["context"], 200
    shape = _core.LmShape(vocab=V, dim=CHAR["dim"], context=c, hidden1=CHAR["hidden"])
    ctx = np.repeat(ids[None, :c].astype(np.int64), n, axis=0)
    if runner.startswith("msopt"):
        # with the Kneser-Ney mixture (LanguageModel's default): its distribution over the
        # vocabulary mixed into every row's scores
        kn = (_core.KneserNey(*_core.KneserNey.count_grams(_core.LmData(ids, V, 1), 7), V)
              if "Kneser" in runner else None)

        def fn() -> None:
            _core.lm_generate(shape, params, ctx, max_tokens=tokens, seed=0, threads=1,
                              kneser_ney=kn)
        name = runner
    else:
        torch = pytest.importorskip("torch", reason="torch is not installed")
        torch.set_num_threads(1)
        model = torch_model(torch, V, params, **CHAR)
        gen = torch.Generator().manual_seed(0)

        def fn() -> None:
            x = torch.from_numpy(ctx)
            with torch.no_grad():
                for _ in range(tokens):
                    p = torch.softmax(model(x), -1)
                    nxt = torch.multinomial(p, 1, generator=gen)
                    x = torch.cat([x[:, 1:], nxt], 1)
        name = "torch loop"
    benchmark.group = f"LanguageModel generate n={n}"
    benchmark.extra_info.update(runner=name, size=f"{tokens} tokens x {n} rows, {CHAR}",
                                params=tokens * n, bytes_per_param=0, threads=1,
                                unit="token")
    benchmark.pedantic(fn, rounds=5, warmup_rounds=1)


DYNAMIC = {"msopt dynamic, all": 0b11111, "msopt dynamic, output+embeddings": 0b11001,
           "msopt dynamic, output": 0b11000}


@pytest.mark.parametrize("runner", ["msopt", *DYNAMIC])
def test_dynamic_vs_static(benchmark, runner):
    _bench._set_threads(2)
    ids, V = char_ids()
    params = _params(V, **CHAR)
    shape = _core.LmShape(vocab=V, dim=CHAR["dim"], context=CHAR["context"],
                          hidden1=CHAR["hidden"])
    data = _core.LmData(ids[:20_000], V, 1)
    if runner == "msopt":
        def fn() -> None:
            _core.lm_score(data, shape, params, 0, len(data), threads=2)
    else:
        from msopt.optim.optimizers import SGD

        # the adapt_params choices: every parameter; E's rows seen, O and bo (W1 fixed, so
        # the step's forward reads the first-layer table as scoring does); O and bo alone
        # (no backward below the output layer; plain SGD updates O in place)
        update = DYNAMIC[runner]

        def fn() -> None:
            copy = [p.copy() for p in params]
            _core.lm_dynamic(data, shape, SGD(copy, lr=0.5).native_state(), 0, len(data),
                             segment=100, steps=1, update=update, threads=2)
    benchmark.group = "LanguageModel evaluation, 20,000 chars"
    benchmark.extra_info.update(runner=runner, size="segment 100, 1 SGD step", params=20_000,
                                bytes_per_param=0, threads=2, unit="token")
    benchmark.pedantic(fn, rounds=5, warmup_rounds=1)
