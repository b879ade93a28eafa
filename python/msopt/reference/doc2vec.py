"""NumPy twins of Doc2Vec's native loops (models/doc2vec.cpp): one call of training (a
range of documents of one epoch, one thread) and inference, step by step in float32 with
the native streams, draw order and alias sampler."""

from __future__ import annotations

import math

import numpy as np

from msopt.reference.embedding import _bag_bounds
from msopt.reference.models import _alias_table, _SplitMix64, _w2v_targets

_M = 0xFFFFFFFFFFFFFFFF


def doc_stream(seed: int, epoch: int, doc: int) -> int:
    """The seed of one document's stream in one epoch of training."""
    s = _SplitMix64((seed ^ 0xD0C27EC000000000) & _M)
    s.s = (s.s + epoch * 0x9E3779B97F4A7C15) & _M
    s.next()
    s.s ^= doc & _M
    return s.next()


def words_stream(seed: int, ids: np.ndarray) -> int:
    """The seed of a document's stream in inference: FNV-1a over its ids."""
    h = 0xCBF29CE484222325
    for w in ids:
        h = ((h ^ (int(w) + 1)) * 0x100000001B3) & _M
    return doc_stream(seed, _M, h)


def _sampling(counts: np.ndarray, sample: float):
    counts = np.asarray(counts, np.float64)
    draw = _alias_table([float(c) ** 0.75 for c in counts])
    keep = np.ones(len(counts))
    if sample > 0:
        t = sample * float(np.cumsum(counts)[-1])
        keep = np.minimum(1.0, (np.sqrt(counts / t) + 1.0) * t / counts)
    return draw, keep


def _targets(draw, rng: _SplitMix64, negative: int, word: int) -> list[int]:
    rows = [word]
    for _ in range(negative):
        t = draw(rng.next())
        if t != word:
            rows.append(t)
    return rows


def _mean(rows: list[np.ndarray]) -> np.ndarray:
    neu1 = np.zeros(len(rows[0]), np.float32)
    for r in rows:
        neu1 += r
    return neu1 * (np.float32(1) / np.float32(len(rows)))


def doc2vec_train(ids, offsets, tags, tag_offsets, counts, vectors, syn1, *, window: int,
                  negative: int, sample: float, alpha: float, min_alpha: float, seed: int,
                  dm: bool, dbow_words: bool, epoch: int, epochs: int, first_doc: int,
                  words_before: int, total_words: int) -> tuple[float, int, int]:
    """A chunk of documents in one epoch, as the native call with one thread: the chunk
    starts at document ``first_doc`` and word ``words_before`` of a corpus of
    ``total_words`` words.  Updates ``vectors`` (words, then tags) and ``syn1`` in place;
    returns (summed loss, examples, words)."""
    V = len(counts)
    draw, keep = _sampling(counts, sample)
    bounds = _bag_bounds(offsets, len(ids))
    tag_bounds = _bag_bounds(tag_offsets, len(tags))
    total = float(total_words) * epochs
    loss, examples, words = [0.0], 0, 0
    for s in range(len(bounds)):
        a, b = bounds[s]
        rng = _SplitMix64(doc_stream(seed, epoch, first_doc + s))
        done = float(total_words) * epoch + words_before + a
        a_e = np.float32(alpha - (alpha - min_alpha) * (done / total) if total else alpha)
        sent = [int(w) for w in ids[a:b] if rng.uniform() < keep[w]]
        words += len(sent)
        doc_tags = [V + int(t) for t in tags[tag_bounds[s][0]:tag_bounds[s][1]]]
        for i, word in enumerate(sent):
            win = window - rng.next() % window if dm or dbow_words else 0
            ctx = [j for j in range(max(0, i - win), min(len(sent) - 1, i + win) + 1) if j != i]
            if dm:
                rows = doc_tags + [sent[j] for j in ctx]
                if not rows:
                    continue
                neu1 = _mean([vectors[r] for r in rows])
                work = np.zeros_like(neu1)
                _w2v_targets(neu1, _targets(draw, rng, negative, word), syn1, a_e, False, loss,
                             work)
                for r in rows:
                    vectors[r] += work
                examples += 1
                continue
            inputs = ([sent[j] for j in ctx] if dbow_words else []) + doc_tags
            for r in inputs:
                work = np.zeros(vectors.shape[1], np.float32)
                _w2v_targets(vectors[r], _targets(draw, rng, negative, word), syn1, a_e, False,
                             loss, work)
                vectors[r] += work
                examples += 1
    return loss[0], examples, words


def doc2vec_infer(ids, offsets, counts, words, syn1, *, window: int, negative: int,
                  sample: float, alpha: float, min_alpha: float, seed: int, dm: bool,
                  epochs: int, max_epochs: int, tol: float = 0.0
                  ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Inference as the native call: (vectors, epochs run, loss: with tol the measured
    loss, without it the last epoch's as trained, converged)."""
    draw, keep = _sampling(counts, sample)
    dim = words.shape[1]
    bounds = _bag_bounds(offsets, len(ids))
    n = len(bounds)
    out = np.zeros((n, dim), np.float32)
    used = np.zeros(n, np.int32)
    losses = np.full(n, np.nan)
    converged = np.zeros(n, bool)
    for s, (a, b) in enumerate(bounds):
        if a == b:
            continue
        doc = ids[a:b]
        seed_s = words_stream(seed, doc)
        rng = _SplitMix64(seed_s)
        v = out[s]
        for i in range(dim):
            v[i] = np.float32((rng.uniform() - 0.5) / dim)
        ctx = (draw, keep, words, syn1, window, negative, dm)
        first = _infer_pass(v, doc, _SplitMix64(seed_s ^ _PROBE), np.float32(0), ctx) \
            if tol > 0 else math.nan
        prev = first
        for e in range(max_epochs):
            frac = min(1.0, e / (epochs - 1)) if epochs > 1 else 0.0
            trained = _infer_pass(v, doc, rng, np.float32(alpha - (alpha - min_alpha) * frac),
                                  ctx)
            used[s] = e + 1
            if tol <= 0 and e + 1 == max_epochs:
                prev = trained
            if tol > 0:
                cur = _infer_pass(v, doc, _SplitMix64(seed_s ^ _PROBE), np.float32(0), ctx)
                stop = math.isfinite(cur) and first - cur > 0 and abs(cur - prev) <= tol * (
                    first - cur)
                prev = cur
                if stop:
                    converged[s] = True
                    break
        losses[s] = prev
    return out, used, losses, converged


_PROBE = 0x5EEDF1C5EEDF1C5E  # the measuring stream: the document's own, xor this


def _infer_pass(v: np.ndarray, doc: np.ndarray, r: _SplitMix64, rate: np.float32,
                ctx: tuple) -> float:
    """One pass of inference over a document at ``rate`` (0: the loss only); returns the
    mean loss per example (NaN without one)."""
    draw, keep, words, syn1, window, negative, dm = ctx
    sent = [int(w) for w in doc if r.uniform() < keep[w]]
    loss = [0.0]
    for i, word in enumerate(sent):
        win = window - r.next() % window if dm else 0
        rows = _targets(draw, r, negative, word)
        work = np.zeros(len(v), np.float32)
        if dm:
            near = range(max(0, i - win), min(len(sent) - 1, i + win) + 1)
            h = _mean([v] + [words[sent[j]] for j in near if j != i])
            _w2v_targets(h, rows, syn1, rate, False, loss, work, frozen=True)
        else:
            _w2v_targets(v, rows, syn1, rate, False, loss, work, frozen=True)
        if rate != 0:
            v += work
    return loss[0] / len(sent) if sent else math.nan
