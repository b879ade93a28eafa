"""LanguageModel quality on real text beside the baselines, computed here on the same
split: interpolated modified Kneser-Ney n-grams (bench/kneser_ney.py) and, with --torch,
the same MLP in torch trained for the same epochs.

    python bench/lm_quality.py shakespeare [--torch] [--epochs N]
    python bench/lm_quality.py austen [--loss softmax] [--epochs N]

- shakespeare: tinyshakespeare, characters, first 90% train / last 10% validation; every
  validation character scored with the preceding text as context; nats per character.
- austen: the five novels (between the Gutenberg header and footer) in sorted file-name
  order, lower-cased tokens
  ``[^\\W_]+(?:'[^\\W_]+)*|[^\\w\\s]``, the last 10% of tokens held out, words seen 3 times
  in training; perplexity.

msopt's scores leave out the final ``</s>`` the model appends to a text, so every system
scores exactly the same tokens.  Prints one line per system and samples at a fixed seed.
"""

from __future__ import annotations

import argparse
import math
import re
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from kneser_ney import KneserNey  # noqa: E402

from msopt.models.language_model import LanguageModel  # noqa: E402

DATA = Path(__file__).resolve().parents[2] / "shared" / "data"
WORD = re.compile(r"[^\W_]+(?:'[^\W_]+)*|[^\w\s]")

SHAKESPEARE = dict(level="char", context=12, dim=32, hidden=512, direct=True, ngram=7,
                   ngram_size=2**24, kneser_ney=7, dropout=0.1, epochs=4, batch_size=256,
                   lr=2e-3)
AUSTEN = dict(level="word", context=6, dim=64, hidden=512, direct=False, ngram=3,
              ngram_size=2**26, kneser_ney=5, dropout=0.3, loss="sampled", samples=512, epochs=3,
              batch_size=256, lr=2e-3, min_count=3, optimizer="adamw",
              optimizer_params={"weight_decay": 0.1})


def gutenberg_body(text: str) -> str:
    """The book between Project Gutenberg's ``*** START OF`` and ``*** END OF`` lines."""
    start = text.find("\n", text.find("*** START OF")) + 1
    end = text.find("*** END OF")
    return text[start:end if end >= 0 else len(text)]


def row(name: str, value: float, unit: str, seconds: float | None = None) -> None:
    extra = f"  ({seconds:,.1f} s)" if seconds is not None else ""
    print(f"{name:<48} {value:8.4f} {unit}{extra}", flush=True)


def shakespeare(args: argparse.Namespace) -> None:
    text = (DATA / "tinyshakespeare" / "input.txt").read_text(encoding="utf-8")
    n = int(len(text) * 0.9)
    train, val = text[:n], text[n:]
    print(f"tinyshakespeare: {len(train):,} / {len(val):,} characters")
    chars = sorted(set(text))
    idx = {c: i for i, c in enumerate(chars)}
    ids = np.array([idx[c] for c in text], np.int32)
    for order in (5, 7):
        t0 = time.time()
        kn = KneserNey(order, len(chars) + 1, len(chars)).fit(ids[:n])
        row(f"KN {order}-gram", kn.token_losses(ids, n).mean(), "nats/char", time.time() - t0)
    cfg = dict(SHAKESPEARE, epochs=args.epochs or SHAKESPEARE["epochs"])
    t0 = time.time()
    lm = LanguageModel(verbose=1, seed=0, **cfg).fit(train, validation=val)
    print(f"fit: {time.time() - t0:,.0f} s")
    both(lm, cfg, val, train[-5000:], args, lambda per: per.mean(), "nats/char")
    for t in (0.8,):
        print(f"sample (seed 0, temperature {t}):\n"
              + lm.generate("ROMEO:\n", max_tokens=300, temperature=t, seed=0))
    if args.torch:
        torch_same(train, val, cfg)


def austen(args: argparse.Namespace) -> None:
    full = "\n".join(gutenberg_body(f.read_text(encoding="utf-8-sig"))
                     for f in sorted((DATA / "gutenberg_austen").glob("*.txt")))
    lowered = full.lower()
    starts = [m.start() for m in WORD.finditer(lowered)]
    toks = WORD.findall(lowered)
    n = int(len(toks) * 0.9)
    train_text, val_text = lowered[:starts[n]], lowered[starts[n]:]
    counts: dict[str, int] = {}
    for t in toks[:n]:
        counts[t] = counts.get(t, 0) + 1
    vocab = {t: i + 2 for i, t in enumerate(sorted(t for t, c in counts.items() if c >= 3))}
    print(f"Austen: {n:,} / {len(toks) - n:,} tokens, vocabulary {len(vocab) + 1:,} "
          "(with <unk>)")
    ids = np.array([vocab.get(t, 0) for t in toks], np.int32)
    for order in (3, 5):
        t0 = time.time()
        kn = KneserNey(order, len(vocab) + 2, 1).fit(ids[:n])
        row(f"KN {order}-gram", math.exp(kn.token_losses(ids, n).mean()), "perplexity",
            time.time() - t0)
    cfg = dict(AUSTEN, epochs=args.epochs or AUSTEN["epochs"], loss=args.loss or AUSTEN["loss"])
    t0 = time.time()
    lm = LanguageModel(verbose=1, seed=0, **cfg).fit(train_text, validation=val_text)
    print(f"fit: {time.time() - t0:,.0f} s")
    both(lm, cfg, val_text, train_text[-2000:], args, lambda per: math.exp(per.mean()),
         "perplexity")
    print("sample (seed 0, temperature 0.8):\nit is a truth universally acknowledged "
          + lm.generate("it is a truth universally acknowledged", max_tokens=80,
                        temperature=0.8, seed=0))


def both(lm: LanguageModel, cfg: dict, val: str, prefix: str, args: argparse.Namespace,
         value, unit: str) -> None:
    """Static and dynamic scores of the network alone, then of its mixture with the
    Kneser-Ney model (kneser_ney), with the seconds each took."""
    weight = lm.kneser_ney_weight
    for w in ((0.0, weight) if lm.kneser_ney else (weight,)):
        lm.set_params(kneser_ney_weight=w)
        alone = " (the network alone)" if lm.kneser_ney and not w else ""
        t0 = time.time()
        per = lm.token_losses(val, prefix=prefix)[:-1]
        row(f"msopt {cfg}{alone}", value(per), unit, time.time() - t0)
        t0 = time.time()
        dyn = lm.token_losses(val, prefix=prefix, adapt=True, lr=args.lr,
                              adapt_params=args.adapt)[:-1]
        row(f"msopt dynamic evaluation{alone} (SGD lr {args.lr}, {args.adapt}, segment 100)",
            value(dyn), unit, time.time() - t0)


def torch_same(train: str, val: str, cfg: dict) -> None:
    """The same model in torch: embedding, concatenation, tanh layer (dropout on it), output
    with the direct connection, and the same hashed n-gram part (``ngram``: the entries
    msopt.reference.language_model.ngram_starts names, as a sparse embedding of width 1).
    Adam (SparseAdam for the n-gram table, whose lazy moments match msopt's row-sparse
    Adam) with the same warmup-cosine schedule, batches and epochs."""
    import torch
    import torch.nn as nn

    from msopt.reference.language_model import ngram_starts

    torch.manual_seed(0)
    chars = sorted(set(train + val))
    idx = {c: i + 1 for i, c in enumerate(chars)}
    V = len(chars) + 1
    C, D, H = cfg["context"], cfg["dim"], cfg["hidden"]
    N, M = cfg.get("ngram", 0), cfg.get("ngram_size", 1)
    ids = np.array([0] * C + [idx[c] for c in train + val], np.int64)
    windows = np.lib.stride_tricks.sliding_window_view(ids[:-1], C)
    ctx = torch.from_numpy(windows.copy())
    starts = torch.from_numpy(ngram_starts(windows, N, M)) if N else None
    cols = torch.arange(V)
    y = torch.from_numpy(ids[C:].copy())
    n = len(train)

    class MLP(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.emb, self.l1 = nn.Embedding(V, D), nn.Linear(C * D, H)
            self.drop = nn.Dropout(cfg.get("dropout", 0.0))
            self.out = nn.Linear(H + C * D, V)
            self.G = nn.Embedding(M, 1, sparse=True) if N else None
            if N:
                nn.init.zeros_(self.G.weight)

        def forward(self, c: torch.Tensor, st: torch.Tensor | None) -> torch.Tensor:
            x = self.emb(c).flatten(1)
            z = self.out(torch.cat([self.drop(torch.tanh(self.l1(x))), x], 1))
            if N:
                e = (st[:, :, None] + cols[None, None, :]) % M
                z = z + self.G(e).squeeze(-1).sum(1)
            return z

    m = MLP()
    dense = [p for name, p in m.named_parameters() if not name.startswith("G.")]
    opts = [torch.optim.Adam(dense, lr=cfg["lr"])]
    if N:
        opts.append(torch.optim.SparseAdam(list(m.G.parameters()), lr=cfg["lr"]))
    steps = cfg["epochs"] * -(-n // cfg["batch_size"])
    warm = max(1, int(cfg.get("warmup", 0.02) * steps))
    lo = cfg.get("min_lr_factor", 0.05)

    def factor(k: int) -> float:
        if k < warm:
            return (k + 1) / warm
        f = min(1.0, (k - warm) / max(1, steps - warm))
        return lo + (1 - lo) * (1 + math.cos(math.pi * f)) / 2

    scheds = [torch.optim.lr_scheduler.LambdaLR(o, factor) for o in opts]
    t0 = time.time()
    for _e in range(cfg["epochs"]):
        m.train()
        perm = torch.randperm(n)
        for b in range(0, n, cfg["batch_size"]):
            p = perm[b:b + cfg["batch_size"]]
            loss = nn.functional.cross_entropy(m(ctx[p], starts[p] if N else None), y[p])
            for o in opts:
                o.zero_grad()
            loss.backward()
            for o in opts:
                o.step()
            for sc in scheds:
                sc.step()
    m.eval()
    with torch.no_grad():
        losses = [nn.functional.cross_entropy(
            m(ctx[a:a + 4096], starts[a:a + 4096] if N else None), y[a:a + 4096],
            reduction="sum").item() for a in range(n, len(y), 4096)]
    row(f"torch, the same model, {cfg['epochs']} epochs", sum(losses) / (len(y) - n),
        "nats/char", time.time() - t0)


if __name__ == "__main__":
    ap = argparse.ArgumentParser()
    ap.add_argument("corpus", choices=["shakespeare", "austen"])
    ap.add_argument("--torch", action="store_true")
    ap.add_argument("--epochs", type=int, default=0)
    ap.add_argument("--loss", choices=["softmax", "sampled"], default=None,
                    help="austen: the word model's loss (sampled by default)")
    ap.add_argument("--lr", type=float, default=0.1, help="dynamic evaluation's SGD rate")
    ap.add_argument("--adapt", default="output", help="dynamic evaluation's adapt_params")
    ap.add_argument("--threads", type=int, default=0)
    a = ap.parse_args()
    if a.threads:
        import msopt
        msopt.set_num_threads(a.threads)
    shakespeare(a) if a.corpus == "shakespeare" else austen(a)
