"""The text models on Dask: local SGD rounds of fastText's and word2vec's native chunks.

Every worker holding documents keeps a shard: its documents encoded with the vocabulary
shared by all (counted once over the whole data, partition by partition on the workers),
its replica of the model's tables, and its walker's place in the run.  A round is
``local_steps`` native chunk calls on each worker, then a Dask task averages what the
workers changed: each worker sends ``(row_ids, rows, counts)`` for the embedding rows that
differ from the round's start, and each row becomes its mean over the workers that sent it
(weighted by how often each one's shard uses it), so a rare row is never diluted by the
workers that did not touch it; dense tables (the classifier's output rows) are averaged
weighted by the documents each worker processed.  The next round's tasks take the averaged
rows as a future and write them into their replicas, and the client, one round behind,
writes them into its own copy of the first tables: the tables never travel whole.  That
copy, with each worker's walkers' place as of the same round, is the checkpoint a round
failed by a departed worker runs again from (the shards built again on the live workers,
the tables sent once), and the model a Ctrl-C leaves.
"""

from __future__ import annotations

import math
import os
import time
from collections import deque
from collections.abc import Iterable, Iterator
from time import perf_counter
from typing import Any

import dask
import dask.bag as db
import numpy as np
from distributed import Future, wait

from msopt import _core
from msopt._api import MAX_EPOCHS, check_int, check_seed, not_fitted, refits
from msopt._progress import Tracker
from msopt.dask import (
    _LOST,
    _alive,
    _client,
    _is_frame,
    _own_threads,
    _Part,
    _result,
    _WorkerLost,
    auto_local_steps,
)
from msopt.models import text_classifier as _tc
from msopt.models import word2vec as _w2v
from msopt.text import Vocabulary

__all__ = ["TextClassifier", "Word2Vec", "average_rows"]

STEP_ROWS = 1 << 14  # input rows of the largest shard one local step reads (ids + documents)


# -- the averaging ---------------------------------------------------------------------------
def average_rows(sent: list[tuple[np.ndarray, np.ndarray, np.ndarray]]
                 ) -> tuple[np.ndarray, np.ndarray]:
    """Embedding rows averaged over the workers that sent them.

    Parameters
    ----------
    sent : list of (row_ids, rows, counts)
        Each worker's changed rows: distinct int64 ids, the rows (float32, shape
        ``(len(row_ids), dim)``) and a weight for each (how often the worker's shard uses
        the row, at least 1).

    Returns
    -------
    row_ids : ndarray of int64
        Every id sent, sorted.
    rows : ndarray of float32
        Each row's mean over the workers that sent it, weighted by their counts: a row
        sent by one worker is that worker's row, bit for bit (the workers that did not
        touch it do not pull it back).

    Examples
    --------
    >>> import numpy as np
    >>> a = (np.array([0, 5]), np.array([[1.0], [2.0]], np.float32), np.array([1, 1]))
    >>> b = (np.array([0]), np.array([[3.0]], np.float32), np.array([3]))
    >>> ids, rows = average_rows([a, b])
    >>> ids.tolist(), rows.ravel().tolist()
    ([0, 5], [2.5, 2.0])
    """
    dim = sent[0][1].shape[1] if sent else 0
    sent = [s for s in sent if len(s[0])]
    if len(sent) <= 1:
        return ((np.asarray(sent[0][0], np.int64), sent[0][1]) if sent else
                (np.zeros(0, np.int64), np.zeros((0, dim), np.float32)))
    ids_in = [np.asarray(s[0], np.int64) for s in sent]
    senders = np.zeros(1 + max(int(i.max()) for i in ids_in), np.int32)
    for i in ids_in:
        senders[i] += 1                      # the ids one worker sends are distinct
    ids = np.flatnonzero(senders)
    at = np.empty(len(senders), np.intp)     # an id's row in the output
    at[ids] = np.arange(len(ids))
    total = np.zeros(len(senders))           # an id's weight over the workers
    for i, (_, _, counts) in zip(ids_in, sent):
        total[i] += counts
    out = np.zeros((len(ids), dim), np.float32)
    for i, (_, rows, counts) in zip(ids_in, sent):
        # each row times its share of the weight, added in the workers' order, in blocks
        # that keep the temporaries small; a row sent alone is copied (times 1, plus 0)
        share = np.where(senders[i] == 1, 1.0, counts / total[i]).astype(np.float32)
        for lo, n in _blocks(len(i), dim):
            out[at[i[lo:lo + n]]] += rows[lo:lo + n] * share[lo:lo + n, None]
    return ids, out


def _blocks(n: int, dim: int) -> Iterator[tuple[int, int]]:
    """``(start, rows)`` of blocks of about 64 KiB of float32 rows covering ``n`` rows (a
    Dask worker's allocator maps each block above 128 KiB afresh)."""
    step = max(16, (1 << 16) // (4 * max(dim, 1)))
    return ((lo, min(step, n - lo)) for lo in range(0, n, step))


def _rows(table: np.ndarray, touch: np.ndarray | None, lo: int, hi: int) -> np.ndarray:
    """Rows ``lo:hi`` of ``table`` (of ``table[touch]`` when given)."""
    return table[lo:hi] if touch is None else table[touch[lo:hi]]


def _dense_mean(tables: list[np.ndarray], weights: list[int]) -> np.ndarray | None:
    """The tables' mean weighted by the documents each worker processed (one worker's as
    it is); None when no worker processed any."""
    used = [(t, w) for t, w in zip(tables, weights) if w > 0]
    if len(used) <= 1:
        return used[0][0] if used else None
    total = sum(w for _, w in used)
    return sum((w / total) * t.astype(np.float64) for t, w in used).astype(  # type: ignore
        np.float32)


# -- on the workers --------------------------------------------------------------------------
def _count(lines: list[str], lower: bool) -> tuple[list[str], np.ndarray, int]:
    """A partition's words in the order they first appear, their counts and its tokens."""
    vocab = Vocabulary(1, lower=lower)
    try:
        vocab.fit(lines)
    except ValueError:  # no token
        return [], np.zeros(0, np.int64), 0
    ids, _ = vocab.encode(lines)
    first = np.unique(ids, return_index=True)[1]
    order = ids[np.sort(first)]
    words = vocab.words
    return [words[i] for i in order], vocab.counts[order], vocab.total_tokens


def _merge_counts(*parts: tuple[list[str], np.ndarray, int]) -> tuple[list[str], list[int],
                                                                       int]:
    """The partitions' counts added up, the words in the order they first appear in the
    whole data (the partitions' order)."""
    counts: dict[str, int] = {}
    for words, c, _ in parts:
        for w, n in zip(words, c.tolist()):
            counts[w] = counts.get(w, 0) + n
    return list(counts), list(counts.values()), sum(p[2] for p in parts)


def _vocabulary(merged: tuple[list[str], list[int], int], min_count: int,
                max_vocab: int | None, lower: bool) -> Vocabulary:
    """The vocabulary ``Vocabulary.fit`` builds on the whole data: words seen ``min_count``
    times or more, by descending count, ties by first appearance."""
    words, counts, total = merged
    if total == 0:
        raise ValueError("texts: no vocabulary can be built (the corpus holds no tokens)")
    order = sorted((i for i, n in enumerate(counts) if n >= min_count),
                   key=lambda i: -counts[i])[:max_vocab]
    if not order:
        raise ValueError(f"min_count: no word occurs {min_count} times or more in the "
                         f"{total} tokens; the vocabulary would be empty")
    return Vocabulary.from_counts([words[i] for i in order], [counts[i] for i in order], total,
                                  min_count=min_count, max_vocab=max_vocab, lower=lower)


def _classifier_piece(texts: Any, labels: Any) -> tuple[list[str], Any, Any]:
    """A partition of (texts, labels) checked as ``TextClassifier.fit`` checks them."""
    return _tc.TextClassifier._texts_labels(_listed(texts), _listed(labels))


def _sentences_piece(sentences: Any) -> tuple[list[str]]:
    """A partition of sentences (token lists or str lines) as lines."""
    return (list(_w2v._JoinedLines(_listed(sentences))),)


def _listed(part: Any) -> list[Any]:
    return part.tolist() if hasattr(part, "tolist") else list(part)


def _piece_counts(piece: tuple[Any, ...], lower: bool) -> tuple[Any, ...]:
    """A partition's word counts, and (texts with labels) its labels' values and counts."""
    words = _count(piece[0], lower)
    if len(piece) == 1:
        return (words,)
    return words, np.unique(piece[1], return_counts=True)


def _progress(resume: np.ndarray, epochs: int, done_col: int
              ) -> tuple[int, np.ndarray, np.ndarray]:
    """(work done, per-epoch loss sums, per-epoch examples) over a shard's walkers."""
    sums = np.ascontiguousarray(resume[:, 4:4 + epochs]).view(np.float64).sum(0)
    return int(resume[:, done_col].sum()), sums, resume[:, 4 + epochs:].sum(0)


def _apply(tables: list[np.ndarray], update: list[Any] | None) -> None:
    """A round's update written into ``tables``: a sparse table's ``(row_ids, rows)``, a
    dense table whole (None: unchanged)."""
    for table, u in zip(tables, update or []):
        if isinstance(u, tuple):
            table[u[0]] = u[1]
        elif u is not None:
            table[...] = u


class _Shard:
    """A worker's documents as the native trainer takes them, its replica of the tables and
    its walkers' place (``resume``); the rounds update it in place, in order."""

    tables: list[np.ndarray]
    sparse: list[bool]
    touch: list[np.ndarray | None]  # the rows a step can change (None: any)
    uses: list[np.ndarray]  # per row, how often the shard uses it (the averaging's counts)
    done_col: int  # the resume column counting the work done (documents or words)
    rows: int  # input rows an epoch reads, for the step size
    units: int  # documents or words of an epoch, for the progress reports
    work: float  # multiply-adds of an epoch, for the default local_steps

    def __init__(self, threads: int | None, epochs: int) -> None:
        self.threads = int(threads or _core.get_num_threads())
        self.epochs = epochs
        self.resume = np.zeros((self.threads, 4 + 2 * epochs), np.int64)
        self.round = 0
        self.chunk = 1
        self._before: list[np.ndarray] | None = None

    def set_steps(self, steps_per_epoch: int) -> None:
        """Chunks sized so that every shard finishes an epoch in the same number of steps."""
        self.chunk = max(1, -(-self.rows // (steps_per_epoch * self.threads)))

    def progress(self) -> tuple[int, np.ndarray, np.ndarray]:
        return _progress(self.resume, self.epochs, self.done_col)

    def apply(self, update: list[Any] | None) -> None:
        _apply(self.tables, update)

    def snapshot(self) -> list[np.ndarray]:
        """The rows a step can change, as they are now, in buffers kept from round to round
        (a Dask worker's allocator returns large blocks to the system at once, so that a
        fresh array each round would fault its pages in again)."""
        if self._before is None:
            self._before = [np.empty((len(t) if touch is None else len(touch), t.shape[1]),
                                     t.dtype) for t, touch in zip(self.tables, self.touch)]
        for t, touch, buf in zip(self.tables, self.touch, self._before):
            if touch is None:
                np.copyto(buf, t)
            else:
                np.take(t, touch, axis=0, out=buf)
        return self._before

    def step(self) -> None:
        raise NotImplementedError


_Result = tuple[list[Any], int, float, int, np.ndarray, float]


def _round(shard: _Shard, r: int, steps: int, *last: _Result) -> _Result:
    """One worker's part of round ``r``: every worker's results of the round before
    (``last``; none for a shard's first round) averaged (:func:`_average`, alike on every
    worker: a round is one layer of tasks) and written into its replica, ``steps`` native
    chunks, then what changed.  Returns the changed rows per table (``(row_ids, rows,
    counts)``; a dense table whole), the work done, the loss sum, the examples counted, the
    walkers' place at the end (``resume``) and the steps' seconds."""
    if shard.round != r:
        raise RuntimeError(f"msopt.dask: a shard at round {shard.round} was given round {r}")
    shard.apply(_average(*last) if last else None)
    before = shard.snapshot()
    done0, loss0, seen0 = shard.progress()
    t0 = time.perf_counter()  # (the module's perf_counter is the client's round clock)
    for _ in range(steps):
        shard.step()
    seconds = time.perf_counter() - t0
    sent: list[Any] = []
    for table, sparse, touch, old, uses in zip(shard.tables, shard.sparse, shard.touch, before,
                                               shard.uses):
        if not sparse:
            sent.append(table.copy())
            continue
        changed = np.concatenate([np.zeros(0, np.intp)] + [
            lo + np.flatnonzero((_rows(table, touch, lo, lo + n) != old[lo:lo + n]).any(axis=1))
            for lo, n in _blocks(len(old), table.shape[1])])
        ids = changed if touch is None else touch[changed]
        sent.append((ids, table[ids], np.maximum(uses[ids], 1)))
    shard.round = r + 1
    done, loss, seen = shard.progress()
    return (sent, done - done0, float((loss - loss0).sum()), int((seen - seen0).sum()),
            shard.resume.copy(), seconds)


def _average(*results: _Result) -> list[Any]:
    """The round's update: sparse tables' rows by :func:`average_rows`, dense ones by the
    work each worker did."""
    out: list[Any] = []
    for k, first in enumerate(results[0][0]):
        if isinstance(first, tuple):
            out.append(average_rows([r[0][k] for r in results]))
        else:
            out.append(_dense_mean([r[0][k] for r in results], [r[1] for r in results]))
    return out


def _stats(*results: _Result) -> tuple[float, int, list[np.ndarray], float]:
    """The round's mean loss per example, the work done (documents or words), each
    shard's walkers' place and the longest worker's seconds of steps."""
    seen = sum(r[3] for r in results)
    return (sum(r[2] for r in results) / seen if seen else float("nan"),
            sum(r[1] for r in results), [r[4] for r in results], max(r[5] for r in results))


def _size_of(shard: _Shard) -> tuple[int, float, int]:
    return shard.rows, shard.work, shard.units


def _placed(shard: _Shard, steps_per_epoch: int, resume: np.ndarray | None, r: int
            ) -> _Shard:
    """The shard set to its step size and, rebuilt from a checkpoint, to the walkers' place
    at the start of round ``r``."""
    if resume is not None:
        shard.threads, shard.resume = len(resume), np.array(resume)
    shard.round = r
    shard.set_steps(steps_per_epoch)
    return shard


def _tables(init: int | list[np.ndarray], first: Any, *shape: int) -> list[np.ndarray]:
    """A shard's replica: ``first(init, *shape)``, the fit's first tables, or a copy of the
    tables given (a checkpoint)."""
    return [np.array(t) for t in init] if isinstance(init, list) else first(init, *shape)


def _classifier_tables(seed: int, rows: int, dim: int, n_classes: int) -> list[np.ndarray]:
    """The single-process fit's first tables: its input table and zero output rows."""
    return [_tc._first_input(seed, rows, dim), np.zeros((n_classes, dim), np.float32)]


def _word2vec_tables(seed: int, V: int, dim: int) -> list[np.ndarray]:
    """The single-process build_vocab's vectors and zero output rows."""
    return [_w2v._first_vectors(seed, V, dim), np.zeros((V, dim), np.float32)]


class _ClassifierShard(_Shard):
    done_col = 2

    def __init__(self, est: _tc.TextClassifier, vocab: Vocabulary, classes: np.ndarray,
                 class_counts: np.ndarray, epochs: int, init: int | list[np.ndarray],
                 seed: int, *pieces: tuple[list[str], np.ndarray, np.ndarray | None]) -> None:
        super().__init__(est.threads, epochs)
        texts = [t for p in pieces for t in p[0]]
        y = np.concatenate([est._class_ids(p[1], classes) for p in pieces])
        starts = None
        if any(p[2] is not None for p in pieces):  # several labels per text somewhere
            parts, base = [], 0
            for p in pieces:
                s = np.arange(len(p[0])) if p[2] is None else p[2]
                parts.append(s + base)
                base += len(p[1])
            starts = np.concatenate(parts)
        ids, offsets = est._encode(texts, vocab)
        rows, dim = len(vocab) + est._buckets(), int(est.dim)
        self.tables = _tables(init, _classifier_tables, rows, dim, len(classes))
        out = int(est.negative) + 1 if est.loss == "ns" else len(classes)
        self.work = 3.0 * dim * (len(ids) + len(offsets) * out)
        self.sparse, self.touch = [True, False], [np.unique(ids), None]
        self.uses = [np.bincount(ids, minlength=rows), np.zeros(0, np.int64)]
        self.rows = len(ids) + len(offsets)
        self.units = len(offsets)
        self.corpus = _core.RaggedIds(ids, offsets, rows)
        self.y, self.starts, self.seed = y, starts, seed
        self.weights = np.sqrt(class_counts.astype(np.float64))
        self.est = est
        self.n_words = int(np.count_nonzero(ids < len(vocab)))

    def step(self) -> None:
        est = self.est
        _core.fasttext_train_chunk(
            self.corpus, self.y, self.tables[0], self.tables[1], est.loss, self.weights,
            int(est.negative), float(est.lr), self.epochs, self.seed, self.threads,
            bool(est.deterministic), self.resume, self.chunk, label_offsets=self.starts)


class _Word2VecShard(_Shard):
    done_col = 1

    def __init__(self, est: _w2v.Word2Vec, vocab: Vocabulary, epochs: int,
                 init: int | list[np.ndarray], seed: int, *pieces: tuple[list[str]]) -> None:
        super().__init__(est.threads, epochs)
        ids, offsets = vocab.encode([line for p in pieces for line in p[0]])
        offsets = _w2v._cut_long(offsets, len(ids))
        V, dim = len(vocab), int(est.dim)
        self.tables = _tables(init, _word2vec_tables, V, dim)
        self.work = 3.0 * dim * len(ids) * int(est.window) * (int(est.negative) + 1)
        self.sparse, self.touch = [True, True], [np.unique(ids), None]
        uses = np.bincount(ids, minlength=V)
        self.uses = [uses, uses]
        self.rows = self.units = len(ids)
        self.corpus = _core.RaggedIds(ids, offsets, V)
        self.counts, self.seed, self.est = vocab.counts, seed, est
        self._sampler: Any = None

    def __getstate__(self) -> dict[str, Any]:  # the native sampler is rebuilt, not pickled
        return {**self.__dict__, "_sampler": None}

    def step(self) -> None:
        est = self.est
        if self._sampler is None:  # built once per shard, not every round
            self._sampler = _core.Word2VecSampler(self.counts, float(est.sample))
        _core.word2vec_train_chunk(
            self.corpus, self._sampler, self.tables[0], self.tables[1], int(est.window),
            int(est.negative), float(est.sample), float(est.lr), float(est.min_lr),
            self.epochs, self.seed, self.threads, self.resume, self.chunk, sg=bool(est.sg),
            cbow_mean=bool(est.cbow_mean), table_sigmoid=est.sigmoid == "table",
            compute_loss=bool(est.compute_loss), deterministic=bool(est.deterministic))


# -- on the client ---------------------------------------------------------------------------
def _is_bag(value: Any) -> bool:
    return isinstance(value, db.Bag)


def _partitions_of(value: Any, name: str) -> list[Any] | None:
    """A bag's or Series' partitions as delayed objects; None for anything else."""
    if _is_bag(value):
        return list(value.to_delayed())
    if _is_frame(value):
        if value.ndim != 1:
            raise TypeError(f"{name}: expected a Dask Series or bag, got a DataFrame")
        return list(value.to_delayed())
    return None


def _pieces(client: Any, make: Any, columns: list[tuple[str, Any]]
            ) -> tuple[list[_Part], list[Future]]:
    """The data's pieces, made on the workers by ``make`` from the collections'
    partitions and held there as futures: grouped by worker, and in data order.  Python lists
    are split in one piece per worker and scattered; the client keeps each piece's lists
    (``source``: ``(make, values)``) to place it again if its worker leaves, while a
    collection's partitions are recomputed by the scheduler."""
    parts = [_partitions_of(v, name) for name, v in columns]
    if all(p is None for p in parts):
        workers = sorted(_alive(client))
        if not workers:
            raise ValueError("client: the cluster has no workers")
        values = [_as_list(name, v) for name, v in columns]
        n = len(values[0])
        if any(len(v) != n for v in values):
            raise ValueError(f"{', '.join(name for name, _ in columns)}: expected the same length, "
                             f"got {[len(v) for v in values]}")
        bounds = np.linspace(0, n, len(workers) + 1).astype(int)
        out = []
        for w, a, b in zip(workers, bounds[:-1], bounds[1:]):
            if b > a:
                part = _Part(w, [], 0, (make, tuple(v[a:b] for v in values)))
                _scatter(client, part)
                out.append(part)
        return out, [f for p in out for f in p.futures]
    if any(p is None for p in parts):
        kinds = ", ".join(name for name, _ in columns)
        raise TypeError(f"{kinds}: expected the same kind of collection (Dask bags or Series "
                        f"with the same partitions, or lists)")
    if len({len(p) for p in parts if p is not None}) != 1:
        raise ValueError(f"{', '.join(n for n, _ in columns)}: expected the same number of "
                         f"partitions, got {[len(p) for p in parts if p is not None]}")
    futures = client.compute([dask.delayed(make)(*group) for group in zip(*parts)])
    wait(futures)
    for f in futures:
        if f.status == "error":
            f.result()                      # raises the partition's error (bad labels, say)
    who = client.who_has(futures)
    held: dict[str, _Part] = {}
    for f in futures:
        w = sorted(who[f.key])[0]
        held.setdefault(w, _Part(w, [], 0)).futures.append(f)
    return list(held.values()), futures


def _scatter(client: Any, part: _Part) -> None:
    """A piece of lists sent to its worker and made there."""
    make, values = part.source  # type: ignore[misc]
    [raw] = client.scatter([values], workers=[part.worker], hash=False)
    part.futures = [client.submit(_star, make, raw, workers=[part.worker],
                                  allow_other_workers=False, pure=False)]


def _star(make: Any, raw: tuple[Any, ...]) -> Any:
    return make(*raw)


def _as_list(name: str, value: Any) -> list[Any]:
    if isinstance(value, (str, bytes, os.PathLike)) or not isinstance(value, Iterable):
        raise TypeError(f"{name}: expected a Dask bag or Series, or a list, got "
                        f"{type(value).__name__}")
    return list(value)


def _reduce(*counts: tuple[Any, ...]) -> tuple[Any, Any]:
    """The partitions' word counts merged; with labels, the classes and their counts."""
    merged = _merge_counts(*[c[0] for c in counts])
    if len(counts[0]) == 1:
        return merged, None
    classes = np.unique(np.concatenate([c[1][0] for c in counts]))
    totals = np.zeros(len(classes), np.int64)
    for _, (values, n) in counts:
        if len(values):
            np.add.at(totals, np.searchsorted(classes, values), n)
    return merged, (classes, totals)


def _fit_args(local_steps: Any, epochs: Any, seed: Any, max_retries: Any, default_epochs: int,
              default_seed: int) -> tuple[int | None, int, int, int]:
    K = check_int("local_steps", local_steps, 1, none=True, hi=2**62)
    epochs = check_int("epochs", epochs, 1, none=True, hi=MAX_EPOCHS)
    seed = check_seed("seed", seed, none=True)
    max_retries = check_int("max_retries", max_retries, 0, hi=2**62)
    return (K, int(default_epochs) if epochs is None else epochs,
            int(default_seed) if seed is None else seed, max_retries)


def _train(client: Any, parts: list[_Part], make: Any, args: tuple[Any, ...], init: int,
           seeds: list[int], K: int | None, epochs: int, unit: str, tables: list[np.ndarray],
           max_retries: int, install: Any, est: Any, rate: tuple[float, float]) -> None:
    """Local SGD rounds on one shard per part (``make(*args, init, seed, *its pieces)``
    builds it on the part's worker, ``args`` sent to the workers at each attempt; ``init``
    seeds the first tables, ``tables``, which the client holds too).

    The client reads each round's results one round behind (while the next one runs),
    averages them as the workers' next tasks do, applies that update to ``tables``, and
    keeps each shard's walkers' place as of that round: a round that fails because a worker
    left runs again from there, every shard built again on the live workers from
    ``tables`` (sent once), a departed worker's pieces going to the live worker holding the
    fewest input rows.  ``install(tables, progress, history, reason)`` puts the model on the
    estimator: at the end, or after a KeyboardInterrupt once a round has completed.  Each
    round read is reported to ``est``'s callbacks and progress display (the rate decaying
    linearly over the fit from ``rate[0]`` to ``rate[1]``); a callback that asks to stop
    ends the fit there, the round in flight cancelled."""

    def pinned(fn: Any, i: int, *a: Any) -> Any:
        return client.submit(fn, *a, workers=[parts[i].worker], allow_other_workers=False,
                             pure=False)

    spe = total = 0
    done = 0  # rounds in ``tables`` and ``resumes``: the checkpoint a failed round goes back to
    resumes: list[np.ndarray | None] = [None] * len(parts)
    history: list[dict[str, Any]] = []
    # The futures of the last rounds: every task that a cancel reaches (the dependents of
    # what it cancels) is one of them.  The shards are released, not cancelled.
    held: deque[list[Any]] = deque(maxlen=3)
    pending: deque[tuple[int, int, list[Any]]] = deque()  # a round's steps, end, results
    retried = retries = seen = 0
    reason = "epochs"
    clock = perf_counter()
    track: Tracker | None = None

    def record() -> bool:
        """Round ``pending[0]`` read and recorded; True when a callback asks to stop."""
        nonlocal clock, done, retried, seen
        steps, end, results = pending[0]
        got = _result(client, results, parts)
        loss, work, now_at, step_seconds = _stats(*got)
        averaged = _average(*got)
        now = perf_counter()
        pending.popleft()
        _apply(tables, averaged)
        resumes[:] = now_at
        history.append({"round": done + 1, "epoch": end / spe, "loss": loss,
                        unit: work, "steps": steps, "seconds": now - clock,
                        "step_seconds": step_seconds, "retried": retried})
        done += 1
        clock, retried, seen = now, 0, seen + work
        assert track is not None
        return track.report(min(epochs, end // spe + 1) if end % spe else end // spe, seen,
                            loss, rate[0] + (rate[1] - rate[0]) * end / total,
                            epoch_end=end % spe == 0, round=done)

    try:
        while True:
            try:
                workers = sorted({p.worker for p in parts})
                # Sent at each attempt: the scheduler's active memory manager keeps one copy
                # of scattered data (it drops a broadcast's other replicas), which its worker
                # takes with it when it leaves, and nothing can compute it again.
                shared = client.scatter(list(args), workers=workers, broadcast=True,
                                        hash=False)
                start = init if done == 0 else client.scatter(
                    [tables], workers=workers, broadcast=True, hash=False)[0]
                shards = [pinned(make, i, *shared, start, seeds[i], *p.futures)
                          for i, p in enumerate(parts)]
                held.append(shards)
                if not spe:
                    sizes = _result(client, [pinned(_size_of, i, s)
                                             for i, s in enumerate(shards)], parts)
                    spe = max(1, max(-(-rows // STEP_ROWS) for rows, _, _ in sizes))
                    for p, (rows, _, _) in zip(parts, sizes):
                        p.rows = rows
                    if K is None:
                        K = auto_local_steps(max(w for _, w, _ in sizes) / spe, spe)
                    total = epochs * spe
                    track = Tracker(est, epochs=epochs,
                                    total=epochs * sum(u for *_, u in sizes), unit=unit,
                                    callbacks=est.callbacks, verbose=est.verbose)
                assert K is not None
                shards = [pinned(_placed, i, s, spe, resumes[i], done)
                          for i, s in enumerate(shards)]
                held.append(shards)
                last: list[Any] = []
                for r in range(done, -(-total // K)):
                    steps = min(K, total - r * K)
                    last = [pinned(_round, i, s, r, steps, *last)
                            for i, s in enumerate(shards)]
                    pending.append((steps, r * K + steps, last))
                    held.append(last)
                    if len(pending) > 1 and record():
                        reason = "callback"
                        break
                while pending and reason == "epochs":
                    if record():
                        reason = "callback"
                if pending:                       # stopped: the round in flight is dropped
                    client.cancel([f for r in held for f in r])
                    pending.clear()
                break
            except BaseException as e:
                client.cancel([f for r in held for f in r])
                held.clear()
                pending.clear()
                lost = isinstance(e, (_WorkerLost, *_LOST)) or (
                    isinstance(e, Exception)
                    and not {p.worker for p in parts} <= _alive(client))
                if not lost or retries >= max_retries:
                    if isinstance(e, KeyboardInterrupt) and history:
                        install(tables, _progress_sum(resumes, epochs, make.done_col), history,
                                "interrupted")
                    if lost:
                        raise RuntimeError(f"msopt.dask: workers left the cluster in "
                                           f"{retries + 1} rounds of the fit "
                                           f"(max_retries={max_retries})") from e
                    raise
                retries += 1
                retried += 1
                _replace_lost(client, parts)
    finally:
        if track is not None:
            track.close()
    install(tables, _progress_sum(resumes, epochs, make.done_col), history, reason)


def _progress_sum(resumes: list[Any], epochs: int, done_col: int
                  ) -> tuple[int, np.ndarray, np.ndarray]:
    """The run's progress (work done, per-epoch loss sums and examples) over the shards."""
    each = [_progress(r, epochs, done_col) for r in resumes]
    return (sum(p[0] for p in each), sum(p[1] for p in each),  # type: ignore[return-value]
            sum(p[2] for p in each))


def _replace_lost(client: Any, parts: list[_Part]) -> None:
    """Each part of a departed worker goes to the live worker holding the fewest input
    rows (its lists sent again from the client; a collection's partitions are recomputed
    by the scheduler)."""
    alive = _alive(client)
    if not alive:
        raise RuntimeError("msopt.dask: no worker is left in the cluster")
    _own_threads(client)
    load = {w: sum(p.rows for p in parts if p.worker == w) for w in sorted(alive)}
    for part in parts:
        if part.worker not in alive:
            part.worker = min(load, key=load.__getitem__)
            load[part.worker] += part.rows
            if part.source is not None:
                _scatter(client, part)


def _counted(client: Any, futures: list[Future], lower: bool) -> Any:
    """The pieces' word counts merged (:func:`_reduce`) on the cluster, in data order."""
    return _result(client, [client.submit(_reduce, *[
        client.submit(_piece_counts, f, lower, pure=False) for f in futures],
        pure=False)], [])[0]


def _installed(est: Any, t0: float, losses: list[float], progress: Any,
               history: list[dict[str, Any]], reason: str) -> None:
    """How far the rounds went, on a text model whose tables are set."""
    seconds = perf_counter() - t0
    est.loss_history_ = losses
    est.history_ = history
    est.stop_reason_ = reason
    est.train_seconds_ = seconds
    est.words_per_sec_ = progress[0] / max(seconds, 1e-9)


def _epoch_losses(progress: tuple[int, np.ndarray, np.ndarray], reason: str) -> list[float]:
    """Each epoch's mean loss per example, as the native trainer reports it (an
    interrupted or stopped fit: the epochs begun)."""
    _, sums, seen = progress
    if reason in ("interrupted", "callback"):
        begun = np.flatnonzero(seen)
        sums, seen = sums[:begun[-1] + 1 if len(begun) else 0], seen[:len(sums)]
    return [float(s / n) if n else 0.0 for s, n in zip(sums, seen)]


def _blockwise(est: Any, texts: Any, method: str, *args: Any) -> Any:
    """``est.method`` on each partition of a bag (or a Series, as a bag): a bag of one item
    per text."""
    if _is_frame(texts):
        texts = texts.to_bag()
    return texts.map_partitions(_predict_part, est, method, *args)


def _predict_part(texts: Any, est: Any, method: str, *args: Any) -> list[Any]:
    out = getattr(est._local_class, method)(est, _listed(texts), *args)
    return list(out.tolist() if isinstance(out, np.ndarray) and out.ndim == 1 else out)


class TextClassifier(_tc.TextClassifier):
    """fastText's text classifier, fitted across the workers of a Dask cluster by local SGD.

    The parameters are :class:`msopt.TextClassifier`'s (``pretrained_vectors`` is refused
    by ``fit``; ``callbacks`` and ``verbose`` see each round as it is read, with the
    round's ``round`` number among the report's extras).  :meth:`fit` takes Dask
    bags or Series (or lists), ``predict`` and ``predict_proba`` run partition by
    partition on the workers, and :meth:`to_local` gives the ordinary
    :class:`msopt.TextClassifier`.

    Parameters
    ----------
    **params
        As :class:`msopt.TextClassifier`.

    Examples
    --------
    ``clf = msopt.dask.TextClassifier(dim=50, epochs=10).fit(texts, labels,
    client=client)`` with ``texts`` a bag of str and ``labels`` a bag of labels (the same
    partitions); ``clf.predict(texts)`` is then a bag of labels and ``clf.to_local()`` an
    ordinary :class:`msopt.TextClassifier`.
    """

    _local_class = _tc.TextClassifier
    history_: list[dict[str, Any]]

    @refits
    def fit(self, texts: Any, labels: Any = None, client: Any = None,
            local_steps: int | None = None, epochs: int | None = None, seed: int | None = None,
            max_retries: int = 3) -> TextClassifier:
        """Fit by local SGD rounds on a Dask cluster.

        The vocabulary (words, n-gram buckets) and the classes are counted once over the
        whole data, partition by partition on the workers, so that every worker shares
        the same ids.  Each round, every worker holding texts runs ``local_steps`` native
        chunks of its texts (a step reads about 16,384 input rows, ids and documents, of the
        largest shard, and as large a share of every other, so that all end an epoch
        together; the rate decays over each worker's whole run, as over a single-process
        fit), then the rows are averaged (:func:`msopt.dask.average_rows`; the output rows
        weighted by the documents each worker processed).  With one worker, ``threads=1``
        and the same seed the result is ``msopt.TextClassifier.fit``'s, bit for bit.

        Parameters
        ----------
        texts : dask.bag.Bag of str, Dask Series of str, or list of str
            Lists are split in one piece per worker and scattered.
        labels : dask.bag.Bag, Dask Series or list
            One label (or a list of labels) per text, partitioned as ``texts``.
        client : distributed.Client, optional
            Default: a LocalCluster of processes (one per core), closed at the end.
        local_steps : int, optional
            Native chunks per worker and round.  Default (None):
            :func:`msopt.dask.auto_local_steps` of a step's multiply-adds, ``3 * dim *
            (input rows + documents * outputs)`` of the rows a step reads (``outputs``: the
            classes, or ``negative + 1`` with ``loss="ns"``): enough steps for a round to
            carry about 2**35 multiply-adds, at most one epoch.
        epochs : int, optional
            Passes over each worker's texts (default: the ``epochs`` parameter).
        seed : int, optional
            Seeds the first table and worker 0's run as ``seed`` does a single-process fit
            (default: the ``seed`` parameter); worker ``i`` runs with a seed drawn from it.
        max_retries : int, default 3
            Rounds that may fail in one fit because a worker left the cluster, as in
            :func:`msopt.dask.fit`: the client keeps the last averaged tables (each round's
            update applied one round behind) and each worker's walkers' place; a failed
            round runs again from there, every shard built again on the live workers (the
            tables sent once from the client, a departed worker's texts going to the live
            worker holding the fewest).  One more failure raises RuntimeError and leaves
            the estimator as it was.

        Returns
        -------
        self
            With ``history_``: per round, its mean loss, the documents processed, each
            worker's ``steps``, its seconds, the slowest worker's seconds of steps
            (``step_seconds``: the rest of the round is scheduling, moving and averaging)
            and ``retried`` (how many times the round was started again after a worker
            left); ``stop_reason_`` is ``"epochs"``, or ``"callback"`` when a callback
            asked to stop (the model is the last round read; the one in flight is
            dropped).  The plain
            SGD of the trainer has no optimizer state.  Ctrl-C cancels the rounds in flight;
            once a round has completed, it leaves the last averaged model on the estimator
            (``history_`` up to that round, ``stop_reason_ = "interrupted"``) and is raised
            again, before that the estimator is left as it was.
        """
        self._check_params()
        if labels is None:
            raise TypeError("labels: msopt.dask.TextClassifier.fit needs the labels (a bag, "
                            "a Series or a list)")
        if self.pretrained_vectors is not None:
            raise ValueError("pretrained_vectors: not supported by msopt.dask")
        K, epochs, seed, max_retries = _fit_args(local_steps, epochs, seed, max_retries,
                                                 self.epochs, self.seed)
        local = self._local_class(**{**self.get_params(), "callbacks": None,
                                     "verbose": False, "epochs": epochs, "seed": seed})
        with _client(client) as c:
            parts, ordered = _pieces(c, _classifier_piece, [("texts", texts),
                                                           ("labels", labels)])
            merged, (classes, class_counts) = _counted(c, ordered, bool(self.lower))
            vocab = _vocabulary(merged, int(self.min_count), None, bool(self.lower))
            if len(classes) < 2:
                raise ValueError(f"labels: at least 2 classes are needed, got "
                                 f"{classes.tolist()}")
            rows = len(vocab) + local._buckets()
            if rows > _tc.MAX_ROWS:
                raise ValueError(f"buckets: {len(vocab):,} words + {local._buckets():,} "
                                 f"buckets exceed the {_tc.MAX_ROWS:,} input rows the "
                                 "trainer takes")
            first = int(np.random.SeedSequence([seed, 0]).generate_state(1, np.uint64)[0])
            seeds = [first] + [int(np.random.SeedSequence([seed, 0, i]).generate_state(
                1, np.uint64)[0]) for i in range(1, len(parts))]
            t0 = perf_counter()

            def install(tables: list[np.ndarray], progress: Any, history: list[Any],
                        reason: str) -> None:
                self.__dict__.pop("_eos", None)
                self.classes_, self.vocab_, self.input_, self.output_ = (
                    classes, vocab, tables[0], tables[1])
                self.class_counts_, self.calls_ = class_counts, 1
                _installed(self, t0, _epoch_losses(progress, reason), progress, history,
                           reason)

            _train(c, parts, _ClassifierShard, (local, vocab, classes, class_counts, epochs),
                   seed, seeds, K, epochs, "documents",
                   _classifier_tables(seed, rows, int(self.dim), len(classes)), max_retries,
                   install, self, (float(self.lr), 0.0))
        return self

    def predict(self, texts: Any, k: int = 1) -> Any:
        """The most likely label of each text (``k`` > 1: its k most likely, a list): a bag
        of one item per text for a Dask bag or Series (partition by partition on the
        workers, lazy), else as ``msopt.TextClassifier``.

        Parameters
        ----------
        texts : dask.bag.Bag, Dask Series or iterable of str
        k : int, default 1
        """
        if _is_bag(texts) or _is_frame(texts):
            self._check_fitted()
            return _blockwise(self, texts, "predict", check_int("k", k, 1))
        return super().predict(texts, k)

    def predict_proba(self, texts: Any) -> Any:
        """Class scores: a bag of one float32 row per text for a Dask bag or Series
        (partition by partition on the workers, lazy), else as ``msopt.TextClassifier``.

        Parameters
        ----------
        texts : dask.bag.Bag, Dask Series or iterable of str
        """
        if _is_bag(texts) or _is_frame(texts):
            self._check_fitted()
            return _blockwise(self, texts, "predict_proba")
        return super().predict_proba(texts)

    def transform(self, texts: Any) -> Any:
        """Each text's vector, the mean of its word and n-gram rows that the classifier
        scores (``get_sentence_vector``): a bag of one float32 row per text for a Dask bag
        or Series (partition by partition on the workers, lazy), else an array of shape
        ``(n_texts, dim)``.

        Parameters
        ----------
        texts : dask.bag.Bag, Dask Series or iterable of str
        """
        self._check_fitted()
        if _is_bag(texts) or _is_frame(texts):
            return _blockwise(self, texts, "get_sentence_vector")
        return self.get_sentence_vector(_as_list("texts", texts))

    def to_local(self) -> _tc.TextClassifier:
        """The ordinary :class:`msopt.TextClassifier`, fitted as this one (a copy)."""
        self._check_fitted()
        out = object.__new__(self._local_class)
        out.__dict__.update({k: (v.copy() if isinstance(v, np.ndarray) else v)
                             for k, v in self.__dict__.items() if k != "history_"})
        out.loss_history_ = list(self.loss_history_)
        return out


class Word2Vec(_w2v.Word2Vec):
    """word2vec, fitted across the workers of a Dask cluster by local SGD.

    The parameters are :class:`msopt.Word2Vec`'s (give no ``sentences`` to the
    constructor: it would train in this process; ``callbacks`` and ``verbose`` see each
    round as it is read, as :class:`msopt.dask.TextClassifier`'s do).  :meth:`fit` takes a
    Dask bag of token lists (or of str lines, or a
    list of them), and :meth:`to_local` gives the ordinary :class:`msopt.Word2Vec`.

    Parameters
    ----------
    **params
        As :class:`msopt.Word2Vec`.

    Examples
    --------
    ``model = msopt.dask.Word2Vec(dim=100, min_count=5).fit(sentences, client=client)``
    with ``sentences`` a bag of token lists; ``model.wv`` then holds the averaged vectors.
    """

    _local_class = _w2v.Word2Vec
    history_: list[dict[str, Any]]

    @refits
    def fit(self, sentences: Any, client: Any = None, local_steps: int | None = None,
            epochs: int | None = None, seed: int | None = None, max_retries: int = 3
            ) -> Word2Vec:
        """Build the vocabulary and train by local SGD rounds on a Dask cluster.

        The vocabulary is counted once over the whole corpus, partition by partition on
        the workers.  Each round, every worker holding sentences runs ``local_steps``
        native chunks of its words (a step reads about 16,384 words of the largest shard,
        and as large a share of every other; the rate decays from ``lr`` to ``min_lr``
        over each worker's whole run), then the input and output rows each worker changed
        are averaged over the workers that changed them (:func:`msopt.dask.average_rows`,
        weighted by how often each worker's sentences hold the word).  With one worker,
        ``threads=1`` and the same seed the vectors are ``msopt.Word2Vec``'s, bit for bit.

        Parameters
        ----------
        sentences : dask.bag.Bag or list
            Token lists (or str lines, split on whitespace); lists are split in one piece
            per worker and scattered.
        client : distributed.Client, optional
            Default: a LocalCluster of processes (one per core), closed at the end.
        local_steps : int, optional
            Native chunks per worker and round.  Default (None):
            :func:`msopt.dask.auto_local_steps` of a step's multiply-adds, ``3 * dim *
            words * window * (negative + 1)`` of the words a step reads: enough steps for a
            round to carry about 2**35 multiply-adds, at most one epoch.
        epochs : int, optional
            Passes over each worker's sentences (default: the ``epochs`` parameter).
        seed : int, optional
            Seeds the first vectors and worker 0's run as ``seed`` does in
            ``msopt.Word2Vec`` (default: the ``seed`` parameter).
        max_retries : int, default 3
            Rounds that may fail because a worker left the cluster, as in
            :meth:`msopt.dask.TextClassifier.fit`.

        Returns
        -------
        self
            With ``history_``: per round, its mean loss, the words processed, each
            worker's ``steps``, its seconds, ``step_seconds`` and ``retried``;
            ``stop_reason_`` is ``"epochs"`` or ``"callback"``.  Ctrl-C leaves the last
            averaged vectors, as :meth:`msopt.dask.TextClassifier.fit` does.
        """
        self._check_params()
        K, epochs, seed, max_retries = _fit_args(local_steps, epochs, seed, max_retries,
                                                 self.epochs, self.seed)
        local = self._local_class(**{**self.get_params(), "callbacks": None,
                                     "verbose": False, "epochs": epochs, "seed": seed})
        with _client(client) as c:
            parts, ordered = _pieces(c, _sentences_piece, [("sentences", sentences)])
            merged, _ = _counted(c, ordered, bool(self.lower))
            max_vocab = None if self.max_vocab is None else int(self.max_vocab)
            vocab = _vocabulary(merged, int(self.min_count), max_vocab, bool(self.lower))
            seeds = [seed] + [int(np.random.SeedSequence([seed, i]).generate_state(
                1, np.uint64)[0]) for i in range(1, len(parts))]
            t0 = perf_counter()

            def install(tables: list[np.ndarray], progress: Any, history: list[Any],
                        reason: str) -> None:
                self._vocab, self._syn1neg = vocab, tables[1]
                self._wv = _w2v.KeyedVectors(vocab.words, tables[0])
                self._trained = True
                losses = _epoch_losses(progress, reason)
                _installed(self, t0, losses if self.compute_loss else [math.nan] * len(losses),
                           progress, history, reason)

            _train(c, parts, _Word2VecShard, (local, vocab, epochs), seed, seeds, K, epochs,
                   "words", _word2vec_tables(seed, len(vocab), int(self.dim)), max_retries,
                   install, self, (float(self.lr), float(self.min_lr)))
        return self

    def to_local(self) -> _w2v.Word2Vec:
        """The ordinary :class:`msopt.Word2Vec`, trained as this one (a copy)."""
        if not self.__dict__.get("_trained"):
            raise not_fitted(self, "call fit()")
        out = object.__new__(self._local_class)
        out.__dict__.update({k: v for k, v in self.__dict__.items() if k != "history_"})
        out._wv = _w2v.KeyedVectors(self.wv.index_to_key, self.wv.vectors.copy())
        out._syn1neg = self.syn1neg.copy()
        out.loss_history_ = list(self.loss_history_)
        return out
