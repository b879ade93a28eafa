"""C++ or Cython for the text pipeline?  Times msopt's C++ ``_core.Vocab`` beside a Cython
twin (``_vocab_cy.pyx``, compiled here into a temporary directory) on the same lines.

Both count whitespace tokens of each line's UTF-8, build the vocabulary (descending count,
ties by first appearance) and encode lines to word ids plus fastText's hashed bigram ids.
The script first checks that both give the same vocabulary and the same (ids, offsets),
then prints, per step, the median time of several repeats, the throughput, and the
Cython / C++ time ratio (above 1: C++ is faster).

    pip install cython setuptools
    python bench/text_cython/compare.py [DATA]    # DATA: a folder holding gutenberg_austen
    python bench/text_cython/compare.py --zipf 2000000   # synthetic corpus, no data needed

DATA defaults to $MSOPT_DATA, else shared/data beside the repository.
"""

from __future__ import annotations

import argparse
import gc
import importlib.util
import os
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

# Everything timed here is single-threaded; idle OpenBLAS threads would only add noise.
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

import numpy as np  # noqa: E402

from msopt import _core  # noqa: E402

HERE = Path(__file__).resolve().parent
DEFAULT_DATA = Path(os.environ.get("MSOPT_DATA", HERE.parents[2] / "shared" / "data"))
NGRAMS, BUCKETS = 2, 2_000_000


def build_cython(tmp: Path):
    """Cythonize and compile _vocab_cy.pyx in tmp (C++, -O3 as the C++ core), import it."""
    from Cython.Build import cythonize
    from setuptools import Distribution, Extension

    pyx = shutil.copy(HERE / "_vocab_cy.pyx", tmp)
    ext = Extension("_vocab_cy", [pyx], language="c++", extra_compile_args=["-O3", "-std=c++17"])
    dist = Distribution({"ext_modules": cythonize([ext], quiet=True)})
    cmd = dist.get_command_obj("build_ext")
    cmd.build_lib, cmd.build_temp = str(tmp), str(tmp / "build")
    dist.run_command("build_ext")
    spec = importlib.util.spec_from_file_location("_vocab_cy", cmd.get_ext_fullpath("_vocab_cy"))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def austen_lines(folder: Path) -> list[str]:
    """The novels' lines, without the Project Gutenberg header and licence (as the data
    set's README asks)."""
    files = sorted(folder.glob("*.txt"))
    if not files:
        sys.exit(f"no *.txt in {folder}; pass the data folder, or --zipf N")
    lines = []
    for f in files:
        text = f.read_text(encoding="utf-8-sig")  # BOM dropped; CRLF read as \n
        start = text.find("*** START OF TH")
        end = text.find("*** END OF TH")
        if start >= 0 and end > start:
            text = text[text.index("\n", start) + 1:end]
        lines += text.splitlines()
    return lines


def zipf_lines(tokens: int, vocab: int = 100_000, per_line: int = 12, seed: int = 0
               ) -> list[str]:
    """Lines of words drawn with p(rank r) ~ 1/r (some with non-ASCII letters)."""
    rng = np.random.default_rng(seed)
    letters = np.array(list("abcdefghijklmnopqrstuvwxyzéüçø"))
    lengths = rng.integers(1, 12, vocab)
    chars = letters[rng.integers(0, 26, lengths.sum()) + 4 * (rng.random(lengths.sum()) < 0.01)]
    cuts = np.cumsum(lengths)[:-1]
    words = np.array(["".join(w) for w in np.split(chars, cuts)], dtype=object)
    p = 1.0 / np.arange(1, vocab + 1)
    ids = rng.choice(vocab, size=tokens, p=p / p.sum())
    return [" ".join(words[ids[i:i + per_line]]) for i in range(0, tokens, per_line)]


def check_same(cy, lines: list[str], min_count: int) -> None:
    """Exit unless both give the same counts, vocabulary and (ids, offsets)."""
    a, b = _core.Vocab(), cy.Vocab()
    a.count(lines)
    b.count(lines)
    same = [("total tokens", a.total_tokens == b.total_tokens),
            ("vocabulary size", a.finalize(min_count, 0) == b.finalize(min_count, 0)),
            ("words", a.words == b.words),
            ("counts", np.array_equal(a.counts, b.counts))]
    for ngrams in (1, NGRAMS, 3):
        (ia, oa), (ib, ob) = a.encode(lines, ngrams, BUCKETS), b.encode(lines, ngrams, BUCKETS)
        same.append((f"ids and offsets, ngrams={ngrams}",
                     np.array_equal(ia, ib) and np.array_equal(oa, ob)))
    differ = [what for what, ok in same if not ok]
    if differ:
        sys.exit("C++ and Cython differ in: " + ", ".join(differ))


def time_both(impls: dict, lines: list[str], min_count: int, repeats: int) -> dict:
    """Median seconds per (implementation, step); the implementations take turns."""
    times = {(name, step): [] for name in impls for step in ("count", "finalize", "encode")}
    gc.disable()
    try:
        for r in range(repeats):
            for name in (list(impls) if r % 2 == 0 else list(impls)[::-1]):
                v = impls[name]()
                t0 = time.perf_counter()
                v.count(lines)
                t1 = time.perf_counter()
                v.finalize(min_count, 0)
                t2 = time.perf_counter()
                v.encode(lines, NGRAMS, BUCKETS)
                t3 = time.perf_counter()
                times[name, "count"].append(t1 - t0)
                times[name, "finalize"].append(t2 - t1)
                times[name, "encode"].append(t3 - t2)
                del v
                gc.collect()
    finally:
        gc.enable()
    return {k: statistics.median(t) for k, t in times.items()}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("data", nargs="?", type=Path, default=DEFAULT_DATA,
                    help="folder holding gutenberg_austen/ (or that folder itself)")
    ap.add_argument("--zipf", type=int, metavar="TOKENS",
                    help="use a synthetic Zipf corpus of this many tokens instead")
    ap.add_argument("--repeats", type=int, default=9)
    ap.add_argument("--min-count", type=int, default=5)
    args = ap.parse_args()

    if args.zipf:
        lines, corpus = zipf_lines(args.zipf), f"synthetic Zipf, {args.zipf:,} tokens"
    else:
        folder = args.data
        if folder.name != "gutenberg_austen":
            folder = folder / "gutenberg_austen"
        lines, corpus = austen_lines(folder), "the five Austen novels"

    with tempfile.TemporaryDirectory() as tmp:
        cy = build_cython(Path(tmp))
    check_same(cy, lines, args.min_count)
    probe = _core.Vocab()
    probe.count(lines)
    tokens, distinct = probe.total_tokens, probe.finalize(1, 0)
    size = _core.Vocab()
    size.count(lines)
    vocab = size.finalize(args.min_count, 0)
    print(f"corpus: {corpus}: {len(lines):,} lines, {tokens:,} tokens, {distinct:,} distinct, "
          f"vocabulary {vocab:,} (min_count {args.min_count}); identical results: yes")

    med = time_both({"C++": _core.Vocab, "Cython": cy.Vocab}, lines, args.min_count,
                    args.repeats)
    steps = {"count": (tokens, "tokens"), "finalize": (distinct, "words"),
             "encode": (tokens, "tokens")}
    print(f"median of {args.repeats}; encode with ngrams={NGRAMS}, buckets={BUCKETS:,}")
    print(f"{'step':<9}{'C++ ms':>9}{'Cython ms':>11}{'C++ M/s':>10}{'Cython M/s':>12}"
          f"{'Cython/C++ time':>17}")
    for step, (n, unit) in steps.items():
        a, b = med["C++", step], med["Cython", step]
        print(f"{step:<9}{a * 1e3:9.2f}{b * 1e3:11.2f}{n / a / 1e6:10.2f}{n / b / 1e6:12.2f}"
              f"{b / a:17.2f}   ({unit}/s)")
    a = sum(med["C++", s] for s in steps)
    b = sum(med["Cython", s] for s in steps)
    print(f"{'all':<9}{a * 1e3:9.2f}{b * 1e3:11.2f}{tokens / a / 1e6:10.2f}"
          f"{tokens / b / 1e6:12.2f}{b / a:17.2f}   (tokens/s)")


if __name__ == "__main__":
    main()
