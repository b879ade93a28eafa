"""Training quality with compressed optimizer state: the same character model in torch,
trained on the same batches by AdamW with its state in float32, bfloat16 or int8.

    python bench/lowbit_quality.py [--steps 10000 | --seconds S] [--threads 2]
        [--configs torch,fp32,bf16,int8] [--seed 0] [--json PATH] [--plot PATH]

The model: an ``nn.Embedding`` of the previous 8 characters, concatenated, two ReLU layers
of 512 units and a softmax over tinyshakespeare's 65 characters; the first 90% of the text
trains, the last 10% validates (every validation character scored with the preceding text
as context; nats per character).  AdamW with a linear warm-up then a cosine decay of the
rate; the model's initial weights and the batches come from ``--seed``, so every
configuration starts from the same model and sees the same batches.  Every configuration
runs the same number of steps: 10,000 by default (about 60 s each on two idle cores), or
as many as ``--seconds`` allows, from a few steps of torch's AdamW timed first (on a
busy machine, fewer).

Configurations (``make_optimizer``): ``torch`` is ``torch.optim.AdamW(fused=True)``;
``fp32``, ``bf16`` and ``int8`` are ``msopt.torch.AdamW`` with ``state_dtype`` float32,
bfloat16 and int8, left out with a note where this msopt lacks them.

Prints one row per configuration: the final validation loss, its ratio to fp32's (torch's
when fp32 did not run), the optimizer state's size and its ratio, the seconds of training,
and the acceptance check: bf16 within 1% of fp32's validation loss, int8 within 2%.  The
exit status is 1 when a check fails.  ``--json`` writes the table and the training-loss
curves (the mean of every ``--every`` steps); ``--plot`` draws the curves (matplotlib).
"""

from __future__ import annotations

import argparse
import json
import math
import os
import sys
import time
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from msopt._io import atomic_write

DATA = Path(os.environ.get("MSOPT_DATA", Path(__file__).resolve().parents[2] / "shared" / "data"))
CONFIGS = ("torch", "fp32", "bf16", "int8")
STATE_DTYPES = {"fp32": "float32", "bf16": "bfloat16", "int8": "int8"}
TOLERANCES = {"bf16": 0.01, "int8": 0.02}  # allowed relative rise of the validation loss
MODEL = dict(context=8, dim=32, hidden=512, layers=2)
HYPER = dict(lr=3e-3, betas=(0.9, 0.99), weight_decay=0.1)
BATCH, WARMUP, MIN_FACTOR, STEPS = 256, 0.03, 0.05, 10_000


class Unavailable(RuntimeError):
    """A configuration this installation cannot run (msopt.torch or its option missing)."""


def make_optimizer(name: str, params: Iterable[Any], **hyper: Any) -> torch.optim.Optimizer:
    """The AdamW of configuration ``name``.

    Parameters
    ----------
    name : {"torch", "fp32", "bf16", "int8"}
        ``"torch"``: ``torch.optim.AdamW(fused=True)``; the others: ``msopt.torch.AdamW``
        with ``state_dtype`` ``"float32"``, ``"bfloat16"`` or ``"int8"``.
    params : iterable of tensors or parameter groups
        As for any ``torch.optim`` optimizer.
    **hyper
        AdamW's hyperparameters (``lr``, ``betas``, ``weight_decay``, ...).

    Raises
    ------
    Unavailable
        When ``msopt.torch`` or its ``state_dtype`` option (or this value of it) is missing.
    """
    if name not in CONFIGS:
        raise ValueError(f"name: expected one of {', '.join(CONFIGS)}, got {name!r}")
    params = list(params)
    if name == "torch":
        return torch.optim.AdamW(params, fused=True, **hyper)
    try:
        from msopt.torch import AdamW
    except ImportError as e:
        raise Unavailable(f"msopt.torch is not available ({e})") from None
    try:
        return AdamW(params, state_dtype=STATE_DTYPES[name], **hyper)
    except (TypeError, ValueError, NotImplementedError) as e:
        if "state_dtype" not in str(e):
            raise
        raise Unavailable(f"msopt.torch.AdamW does not take state_dtype="
                          f"{STATE_DTYPES[name]!r} ({e})") from None


def state_bytes(opt: torch.optim.Optimizer) -> int:
    """Bytes of the tensors and NumPy arrays in ``opt.state`` (moments, steps, scales),
    memory two of them share (a tensor viewing an array) counted once."""
    spans: list[tuple[int, int]] = []

    def walk(v: Any) -> None:
        if isinstance(v, torch.Tensor):
            spans.append((v.data_ptr(), v.data_ptr() + v.nbytes))
        elif isinstance(v, np.ndarray):
            start = v.__array_interface__["data"][0]
            spans.append((start, start + v.nbytes))
        elif isinstance(v, dict):
            for x in v.values():
                walk(x)
        elif isinstance(v, (list, tuple)):
            for x in v:
                walk(x)

    walk(list(opt.state.values()))
    total, end = 0, 0
    for a, b in sorted(spans):  # the length of the union of the spans
        total += max(0, b - max(a, end))
        end = max(end, b)
    return total


def load_text(data: Path | None = None) -> tuple[torch.Tensor, int, list[str]]:
    """(every character's id as int64, the first validation position, the characters) of
    tinyshakespeare in ``data`` (default: ``DATA``)."""
    text = ((data or DATA) / "tinyshakespeare" / "input.txt").read_text(encoding="utf-8")
    chars = sorted(set(text))
    lut = np.zeros(max(map(ord, chars)) + 1, np.int64)
    lut[[ord(c) for c in chars]] = np.arange(len(chars))
    ids = lut[np.frombuffer(text.encode("utf-32-le"), np.uint32)]
    return torch.from_numpy(ids), int(len(text) * 0.9), chars


class CharMLP(nn.Module):
    """Embeddings of the previous ``context`` characters, concatenated, ``layers`` ReLU
    layers of ``hidden`` units, then logits over ``vocab`` characters."""

    def __init__(self, vocab: int, context: int = 8, dim: int = 32, hidden: int = 512,
                 layers: int = 2) -> None:
        super().__init__()
        self.context = context
        self.emb = nn.Embedding(vocab, dim)
        sizes = [context * dim] + [hidden] * layers
        self.body = nn.Sequential(*[m for a, b in zip(sizes, sizes[1:])
                                    for m in (nn.Linear(a, b), nn.ReLU())])
        self.out = nn.Linear(sizes[-1], vocab)

    def forward(self, ctx: torch.Tensor) -> torch.Tensor:
        return self.out(self.body(self.emb(ctx).flatten(1)))


def windows(ids: torch.Tensor, targets: torch.Tensor, context: int) -> torch.Tensor:
    """The ``context`` ids before each target position, one row per target."""
    return ids[targets[:, None] + torch.arange(-context, 0)]


@torch.no_grad()
def evaluate(model: CharMLP, ids: torch.Tensor, start: int, chunk: int = 8192) -> float:
    """Mean cross-entropy (nats) of the characters from ``start`` on."""
    model.eval()
    total = 0.0
    for a in range(start, len(ids), chunk):
        t = torch.arange(a, min(a + chunk, len(ids)))
        total += nn.functional.cross_entropy(model(windows(ids, t, model.context)), ids[t],
                                             reduction="sum").item()
    model.train()
    return total / (len(ids) - start)


def warmup_cosine(steps: int):
    """The rate's factor at step k: linear warm-up, then a cosine down to MIN_FACTOR."""
    warm = max(1, int(WARMUP * steps))

    def factor(k: int) -> float:
        if k < warm:
            return (k + 1) / warm
        f = min(1.0, (k - warm) / max(1, steps - warm))
        return MIN_FACTOR + (1 - MIN_FACTOR) * (1 + math.cos(math.pi * f)) / 2

    return factor


def train(name: str, ids: torch.Tensor, split: int, steps: int, *, seed: int = 0,
          every: int = 50, batch_size: int = BATCH, model: dict | None = None,
          hyper: dict | None = None) -> dict[str, Any]:
    """Train a fresh :class:`CharMLP` for ``steps`` steps with configuration ``name``.

    Parameters
    ----------
    name : str
        A configuration of :func:`make_optimizer` (:class:`Unavailable` propagates).
    ids, split : torch.Tensor, int
        The text's character ids and its first validation position (:func:`load_text`).
    steps : int
        Training steps, the schedule's length.
    seed : int
        Seeds the initial weights and the batches.
    every : int
        The curve holds the mean training loss of every ``every`` steps.
    batch_size : int
        Characters per step.
    model, hyper : dict, optional
        :class:`CharMLP`'s options (default ``MODEL``) and AdamW's (default ``HYPER``).

    Returns
    -------
    dict
        ``config``, ``steps``, ``curve`` (list of [step, loss]), ``val_loss``, ``seconds``
        (training only), ``state_bytes``.
    """
    if steps < 1 or every < 1:
        raise ValueError(f"steps, every: expected positive integers, got {steps}, {every}")
    torch.manual_seed(seed)
    net = CharMLP(int(ids.max()) + 1, **(model or MODEL))
    opt = make_optimizer(name, net.parameters(), **(hyper or HYPER))
    sched = torch.optim.lr_scheduler.LambdaLR(opt, warmup_cosine(steps))
    gen = torch.Generator().manual_seed(seed)
    losses = torch.empty(steps)
    t0 = time.perf_counter()
    for k in range(steps):
        t = torch.randint(net.context, split, (batch_size,), generator=gen)
        loss = nn.functional.cross_entropy(net(windows(ids, t, net.context)), ids[t])
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        sched.step()
        losses[k] = loss.detach()
    seconds = time.perf_counter() - t0
    n = steps // every * every
    means = losses[:n].view(-1, every).mean(1).tolist() if n else []
    curve = [[(i + 1) * every, v] for i, v in enumerate(means)]
    if n < steps:  # the last, shorter block
        curve.append([steps, losses[n:].mean().item()])
    return dict(config=name, steps=steps, curve=curve, val_loss=evaluate(net, ids, split),
                seconds=seconds, state_bytes=state_bytes(opt))


def calibrate(ids: torch.Tensor, split: int, seconds: float, seed: int = 0,
              probe: int = 50) -> int:
    """The number of torch AdamW steps that fit in ``seconds``, from ``probe`` timed steps."""
    r = train("torch", ids, split, probe, seed=seed, every=probe)
    return max(1, int(seconds * probe / r["seconds"]))


def report(runs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The table's rows: each run's figures, its ratios to the baseline (fp32, else torch)
    and, for bf16 and int8, whether its validation loss is within tolerance of fp32's."""
    by = {r["config"]: r for r in runs}
    base = by.get("fp32") or by.get("torch")
    rows = []
    for r in runs:
        row = dict(config=r["config"], val_loss=r["val_loss"], state_mb=r["state_bytes"] / 1e6,
                   seconds=r["seconds"], steps=r["steps"], baseline=base and base["config"],
                   loss_ratio=base and r["val_loss"] / base["val_loss"],
                   state_ratio=base and r["state_bytes"] / base["state_bytes"], passed=None)
        tol = TOLERANCES.get(r["config"])
        if tol is not None and "fp32" in by:
            row["passed"] = bool(r["val_loss"] <= by["fp32"]["val_loss"] * (1 + tol))
        rows.append(row)
    return rows


def format_table(rows: list[dict[str, Any]]) -> str:
    base = rows[0]["baseline"] if rows else "fp32"
    lines = [f"{'config':<7} {'val nats/char':>13} {'/ ' + str(base):>8} {'state MB':>9} "
             f"{'/ ' + str(base):>8} {'seconds':>8}  check"]
    for r in rows:
        tol = TOLERANCES.get(r["config"])
        check = ("-" if tol is None else "skipped (no fp32 run)" if r["passed"] is None
                 else f"{'pass' if r['passed'] else 'FAIL'} (within {tol:.0%} of fp32)")
        lines.append(f"{r['config']:<7} {r['val_loss']:>13.4f} {r['loss_ratio']:>8.4f} "
                     f"{r['state_mb']:>9.3f} {r['state_ratio']:>8.3f} {r['seconds']:>8.1f}  "
                     f"{check}")
    return "\n".join(lines)


def write_json(path: str, runs: list[dict[str, Any]], rows: list[dict[str, Any]],
               settings: dict[str, Any]) -> None:
    with atomic_write(path, "w", encoding="utf-8") as f:
        json.dump(dict(settings=settings, table=rows,
                       curves={r["config"]: r["curve"] for r in runs}), f, indent=1)


def plot(path: str, runs: list[dict[str, Any]], baseline: str | None = None) -> None:
    """The training-loss curves, one line per configuration, and below them each curve
    minus the baseline's (where its run is among ``runs``), saved atomically."""
    try:
        from matplotlib.figure import Figure
    except ImportError:
        raise ImportError("--plot needs matplotlib: pip install matplotlib") from None
    fig = Figure(figsize=(7, 6))
    top, bottom = fig.subplots(2, 1, sharex=True, height_ratios=[2, 1])
    base = next((np.array(r["curve"])[:, 1] for r in runs if r["config"] == baseline), None)
    for r in runs:
        steps, losses = np.array(r["curve"]).T
        top.plot(steps, losses, label=f"{r['config']} (val {r['val_loss']:.4f})")
        if base is not None:
            bottom.plot(steps, losses - base)
    top.set_ylabel("training loss (nats/char)")
    top.set_title("char MLP on tinyshakespeare, AdamW state precision")
    top.legend(loc="best")
    bottom.set_ylabel(f"minus {baseline}'s")
    bottom.set_xlabel("step")
    fmt = os.path.splitext(path)[1].lstrip(".") or "png"
    with atomic_write(path) as f:
        fig.savefig(f, format=fmt)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    length = ap.add_mutually_exclusive_group()
    length.add_argument("--steps", type=int, default=STEPS,
                        help="training steps per configuration")
    length.add_argument("--seconds", type=float,
                        help="training time per configuration, as steps of torch's AdamW")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--configs", default=",".join(CONFIGS))
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--every", type=int, default=50, help="steps per point of the curves")
    ap.add_argument("--json", metavar="PATH")
    ap.add_argument("--plot", metavar="PATH")
    a = ap.parse_args(argv)
    names = [c.strip() for c in a.configs.split(",") if c.strip()]
    unknown = [c for c in names if c not in CONFIGS]
    if unknown or not names:
        ap.error(f"--configs: expected some of {','.join(CONFIGS)}, got {a.configs!r}")
    if a.steps < 1 or (a.seconds is not None and a.seconds <= 0) or a.threads < 1 or a.every < 1:
        ap.error("--steps, --seconds, --threads and --every must be positive")
    torch.set_num_threads(a.threads)
    import msopt

    msopt.set_num_threads(a.threads)
    ids, split, chars = load_text()
    print(f"tinyshakespeare: {split:,} / {len(ids) - split:,} characters, {len(chars)} "
          f"symbols; model {MODEL}, AdamW {HYPER}, batch {BATCH}, {a.threads} threads")
    steps = a.steps if a.seconds is None else calibrate(ids, split, a.seconds, a.seed)
    print(f"{steps:,} steps per configuration"
          + ("" if a.seconds is None else f" (~{a.seconds:g} s)"), flush=True)
    runs = []
    for name in names:
        try:
            r = train(name, ids, split, steps, seed=a.seed, every=a.every)
        except Unavailable as e:
            print(f"{name}: skipped: {e}", flush=True)
            continue
        print(f"{name}: val {r['val_loss']:.4f} nats/char, train {r['curve'][-1][1]:.4f}, "
              f"{r['seconds']:.1f} s", flush=True)
        runs.append(r)
    rows = report(runs)
    print(format_table(rows))
    settings = dict(model=MODEL, hyper=HYPER, batch_size=BATCH, steps=steps, seed=a.seed,
                    threads=a.threads, every=a.every)
    if a.json:
        write_json(a.json, runs, rows, settings)
    if a.plot and runs:
        plot(a.plot, runs, rows[0]["baseline"])
    return 1 if any(r["passed"] is False for r in rows) else 0


if __name__ == "__main__":
    sys.exit(main())
