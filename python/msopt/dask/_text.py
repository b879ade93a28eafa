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
rows as a future and write them into their replicas: the tables never travel whole, except
once to the client at the end.
"""

from __future__ import annotations

import math
import os
from collections import deque
from collections.abc import Iterable
from time import perf_counter
from typing import Any

import dask
import dask.bag as db
import numpy as np
from distributed import Future, wait

from msopt import _core
from msopt._api import MAX_EPOCHS, check_int, check_seed, not_fitted
from msopt.dask import _LOST, _alive, _client, _is_frame, _Part, _result, _WorkerLost
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
    ids = np.concatenate([s[0] for s in sent]).astype(np.int64)
    rows = np.concatenate([s[1] for s in sent])
    weights = np.concatenate([s[2] for s in sent]).astype(np.float64)
    order = np.argsort(ids, kind="stable")
    ids, rows, weights = ids[order], rows[order], weights[order]
    starts = np.flatnonzero(np.r_[True, ids[1:] != ids[:-1]])
    sums = np.add.reduceat(rows * weights[:, None], starts)
    out = (sums / np.add.reduceat(weights, starts)[:, None]).astype(np.float32)
    alone = np.diff(np.r_[starts, len(ids)]) == 1
    out[alone] = rows[starts[alone]]
    return ids[starts], out


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


class _Shard:
    """A worker's documents as the native trainer takes them, its replica of the tables and
    its walkers' place (``resume``); the rounds update it in place, in order."""

    tables: list[np.ndarray]
    sparse: list[bool]
    touch: list[np.ndarray | None]  # the rows a step can change (None: any)
    uses: list[np.ndarray]  # per row, how often the shard uses it (the averaging's counts)
    done_col: int  # the resume column counting the work done (documents or words)
    rows: int  # input rows an epoch reads, for the step size

    def __init__(self, threads: int | None, epochs: int) -> None:
        self.threads = int(threads or _core.get_num_threads())
        self.epochs = epochs
        self.resume = np.zeros((self.threads, 4 + 2 * epochs), np.int64)
        self.round = 0
        self.chunk = 1

    def set_steps(self, steps_per_epoch: int) -> None:
        """Chunks sized so that every shard finishes an epoch in the same number of steps."""
        self.chunk = max(1, -(-self.rows // (steps_per_epoch * self.threads)))

    def progress(self) -> tuple[int, np.ndarray, np.ndarray]:
        """(work done, per-epoch loss sums, per-epoch examples) over the walkers."""
        e = self.epochs
        sums = np.ascontiguousarray(self.resume[:, 4:4 + e]).view(np.float64).sum(0)
        return int(self.resume[:, self.done_col].sum()), sums, self.resume[:, 4 + e:].sum(0)

    def apply(self, update: list[Any] | None) -> None:
        for table, sparse, u in zip(self.tables, self.sparse, update or []):
            if u is None:
                continue
            if sparse:
                table[u[0]] = u[1]
            else:
                table[...] = u

    def step(self) -> None:
        raise NotImplementedError


def _round(shard: _Shard, update: list[Any] | None, r: int, steps: int
           ) -> tuple[list[Any], int, float, int]:
    """One worker's part of round ``r``: the last averaged rows written into its replica,
    ``steps`` native chunks, then what changed.  Returns the changed rows per table
    (``(row_ids, rows, counts)``; a dense table whole), the work done, the loss sum and
    the examples counted."""
    if shard.round != r:
        raise RuntimeError(f"msopt.dask: a shard at round {shard.round} was given round {r}")
    shard.apply(update)
    before = [t.copy() if touch is None else t[touch] for t, touch in zip(shard.tables,
                                                                          shard.touch)]
    done0, loss0, seen0 = shard.progress()
    for _ in range(steps):
        shard.step()
    sent: list[Any] = []
    for table, sparse, touch, old, uses in zip(shard.tables, shard.sparse, shard.touch, before,
                                               shard.uses):
        if not sparse:
            sent.append(table.copy())
            continue
        now = table if touch is None else table[touch]
        changed = np.flatnonzero((now != old).any(axis=1))
        ids = changed if touch is None else touch[changed]
        sent.append((ids, table[ids], np.maximum(uses[ids], 1)))
    shard.round = r + 1
    done, loss, seen = shard.progress()
    return sent, done - done0, float((loss - loss0).sum()), int((seen - seen0).sum())


def _average(*results: tuple[list[Any], int, float, int]) -> list[Any]:
    """The round's update: sparse tables' rows by :func:`average_rows`, dense ones by the
    work each worker did."""
    out: list[Any] = []
    for k, first in enumerate(results[0][0]):
        if isinstance(first, tuple):
            out.append(average_rows([r[0][k] for r in results]))
        else:
            out.append(_dense_mean([r[0][k] for r in results], [r[1] for r in results]))
    return out


def _stats(*results: tuple[list[Any], int, float, int]) -> tuple[float, int]:
    """The round's mean loss per example and the work done (documents or words)."""
    seen = sum(r[3] for r in results)
    return (sum(r[2] for r in results) / seen if seen else float("nan"),
            sum(r[1] for r in results))


def _final(shard: _Shard, update: list[Any] | None) -> tuple[list[np.ndarray], Any]:
    """The averaged tables (the replica with the last update written) and the progress."""
    shard.apply(update)
    return shard.tables, shard.progress()


def _progress_of(shard: _Shard) -> Any:
    return shard.progress()


def _rows_of(shard: _Shard) -> int:
    return shard.rows


def _set_steps(shard: _Shard, steps_per_epoch: int) -> None:
    shard.set_steps(steps_per_epoch)


class _ClassifierShard(_Shard):
    done_col = 2

    def __init__(self, est: _tc.TextClassifier, vocab: Vocabulary, classes: np.ndarray,
                 class_counts: np.ndarray, epochs: int, init_seed: int, seed: int,
                 *pieces: tuple[list[str], np.ndarray, np.ndarray | None]) -> None:
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
        # The single-process fit's first table: uniform in [-1/dim, 1/dim), float32.
        table = np.random.default_rng(init_seed).random((rows, dim), dtype=np.float32)
        table *= np.float32(2.0 / dim)
        table -= np.float32(1.0 / dim)
        self.tables = [table, np.zeros((len(classes), dim), np.float32)]
        self.sparse, self.touch = [True, False], [np.unique(ids), None]
        self.uses = [np.bincount(ids, minlength=rows), np.zeros(0, np.int64)]
        self.rows = len(ids) + len(offsets)
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

    def __init__(self, est: _w2v.Word2Vec, vocab: Vocabulary, epochs: int, init_seed: int,
                 seed: int, *pieces: tuple[list[str]]) -> None:
        super().__init__(est.threads, epochs)
        ids, offsets = vocab.encode([line for p in pieces for line in p[0]])
        offsets = _w2v._cut_long(offsets, len(ids))
        V, dim = len(vocab), int(est.dim)
        # The single-process build_vocab's vectors: uniform in [-1, 1) / dim, float32.
        syn0 = np.random.default_rng(init_seed).random((V, dim), dtype=np.float32)
        syn0 *= np.float32(2)
        syn0 -= np.float32(1)
        syn0 /= np.float32(dim)
        self.tables = [syn0, np.zeros((V, dim), np.float32)]
        self.sparse, self.touch = [True, True], [np.unique(ids), None]
        uses = np.bincount(ids, minlength=V)
        self.uses = [uses, uses]
        self.rows = len(ids)
        self.corpus = _core.RaggedIds(ids, offsets, V)
        self.counts, self.seed, self.est = vocab.counts, seed, est

    def step(self) -> None:
        est = self.est
        _core.word2vec_train_chunk(
            self.corpus, self.counts, self.tables[0], self.tables[1], int(est.window),
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
            ) -> list[tuple[str, Future]]:
    """The data's pieces, made on the workers by ``make`` from the collections'
    partitions (in data order) and held there as futures with their worker; Python lists
    are split in one piece per worker and scattered."""
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
                [raw] = client.scatter([tuple(v[a:b] for v in values)], workers=[w],
                                       hash=False)
                out.append((w, client.submit(_star, make, raw, workers=[w],
                                             allow_other_workers=False, pure=False)))
        return out
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
    return [(sorted(who[f.key])[0], f) for f in futures]


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


def _fit_args(local_steps: Any, epochs: Any, seed: Any, default_epochs: int,
              default_seed: int) -> tuple[int, int, int]:
    K = check_int("local_steps", local_steps, 1, hi=2**62)
    epochs = check_int("epochs", epochs, 1, none=True, hi=MAX_EPOCHS)
    seed = check_seed("seed", seed, none=True)
    return (K, int(default_epochs) if epochs is None else epochs,
            int(default_seed) if seed is None else seed)


def _train(client: Any, pieces: list[tuple[str, Future]], make: Any, args: tuple[Any, ...],
           seeds: list[int], K: int, epochs: int, unit: str
           ) -> tuple[list[np.ndarray], tuple[int, np.ndarray, np.ndarray],
                      list[dict[str, Any]]]:
    """Local SGD rounds on one shard per worker holding pieces (``make(*args, seed, *its
    pieces)`` builds it there).  Returns the averaged tables, the run's progress (work
    done, per-epoch loss sums and examples) over the shards, and the per-round history."""
    workers = list(dict.fromkeys(w for w, _ in pieces))
    parts = [_Part(w, [f for v, f in pieces if v == w], 0) for w in workers]

    def pinned(fn: Any, i: int, *a: Any) -> Any:
        return client.submit(fn, *a, workers=[parts[i].worker], allow_other_workers=False,
                             pure=False)

    shards = [pinned(make, i, *args, seeds[i], *p.futures) for i, p in enumerate(parts)]
    # The futures of the last rounds: every task that a cancel reaches (the dependents of
    # what it cancels) is one of them.  The shards are released, not cancelled.
    held: deque[list[Any]] = deque(maxlen=3)
    try:
        rows = _result(client, [pinned(_rows_of, i, s) for i, s in enumerate(shards)], parts)
        spe = max(1, max(-(-r // STEP_ROWS) for r in rows))
        _result(client, [pinned(_set_steps, i, s, spe) for i, s in enumerate(shards)], parts)
        total = epochs * spe
        history: list[dict[str, Any]] = []
        pending: list[tuple[int, Any]] = []
        update: Any = None
        clock = perf_counter()

        def record() -> None:
            nonlocal clock
            end, stats = pending.pop(0)
            [(loss, work)] = _result(client, [stats], parts)
            now = perf_counter()
            history.append({"round": len(history) + 1, "epoch": end / spe, "loss": loss,
                            unit: work, "seconds": now - clock})
            clock = now

        for r, start in enumerate(range(0, total, K)):
            steps = min(K, total - start)
            results = [pinned(_round, i, s, update, r, steps) for i, s in enumerate(shards)]
            update = client.submit(_average, *results, pure=False)
            pending.append((start + steps, client.submit(_stats, *results, pure=False)))
            held.append([*results, update, pending[-1][1]])
            if len(pending) > 1:
                record()
        while pending:
            record()
        final = [pinned(_final, 0, shards[0], update),
                 *(pinned(_progress_of, i, s) for i, s in enumerate(shards) if i)]
        held.append(final)
        out = _result(client, final, parts)
    except BaseException as e:
        client.cancel([f for r in held for f in r])
        if isinstance(e, (_WorkerLost, *_LOST)) or (
                isinstance(e, Exception) and not {p.worker for p in parts} <= _alive(client)):
            raise RuntimeError("msopt.dask: a worker left the cluster during the fit; the "
                               "text models do not run rounds again (fit again)") from e
        raise
    progress = [out[0][1], *out[1:]]
    done = sum(p[0] for p in progress)
    return (out[0][0], (done, sum(p[1] for p in progress), sum(p[2] for p in progress)),
            history)


def _epoch_losses(progress: tuple[int, np.ndarray, np.ndarray]) -> list[float]:
    """Each epoch's mean loss per example, as the native trainer reports it."""
    _, sums, seen = progress
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
    by ``fit``; ``callbacks`` and ``verbose`` are not used there).  :meth:`fit` takes Dask
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

    def fit(self, texts: Any, labels: Any = None, client: Any = None, local_steps: int = 16,
            epochs: int | None = None, seed: int | None = None) -> TextClassifier:
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
        local_steps : int, default 16
            Native chunks per worker and round.
        epochs : int, optional
            Passes over each worker's texts (default: the ``epochs`` parameter).
        seed : int, optional
            Seeds the first table and worker 0's run as ``seed`` does a single-process fit
            (default: the ``seed`` parameter); worker ``i`` runs with a seed drawn from it.

        Returns
        -------
        self
            With ``history_``: per round, its mean loss, the documents processed and its
            seconds.  The plain SGD of the trainer has no optimizer state: the walkers'
            places stay on their workers.  A worker that leaves the cluster during the fit
            raises RuntimeError; Ctrl-C cancels the rounds; both leave the estimator as it
            was.
        """
        self._check_params()
        if labels is None:
            raise TypeError("labels: msopt.dask.TextClassifier.fit needs the labels (a bag, "
                            "a Series or a list)")
        if self.pretrained_vectors is not None:
            raise ValueError("pretrained_vectors: not supported by msopt.dask")
        K, epochs, seed = _fit_args(local_steps, epochs, seed, self.epochs, self.seed)
        local = self._local_class(**{**self.get_params(), "callbacks": None,
                                     "verbose": False, "epochs": epochs, "seed": seed})
        with _client(client) as c:
            pieces = _pieces(c, _classifier_piece, [("texts", texts), ("labels", labels)])
            merged, (classes, class_counts) = _result(c, [c.submit(_reduce, *[
                c.submit(_piece_counts, f, bool(self.lower), pure=False) for _, f in pieces],
                pure=False)], [])[0]
            vocab = _vocabulary(merged, int(self.min_count), None, bool(self.lower))
            if len(classes) < 2:
                raise ValueError(f"labels: at least 2 classes are needed, got "
                                 f"{classes.tolist()}")
            rows = len(vocab) + local._buckets()
            if rows > _tc.MAX_ROWS:
                raise ValueError(f"buckets: {len(vocab):,} words + {local._buckets():,} "
                                 f"buckets exceed the {_tc.MAX_ROWS:,} input rows the "
                                 "trainer takes")
            vocab_f = c.scatter(vocab, broadcast=True, hash=False)
            first = int(np.random.SeedSequence([seed, 0]).generate_state(1, np.uint64)[0])
            seeds = [first] + [int(np.random.SeedSequence([seed, 0, i]).generate_state(
                1, np.uint64)[0]) for i in range(1, len(pieces))]
            t0 = perf_counter()
            tables, progress, history = _train(
                c, pieces, _ClassifierShard, (local, vocab_f, classes, class_counts, epochs,
                                              seed), seeds, K, epochs, "documents")
        seconds = perf_counter() - t0
        self.__dict__.pop("_eos", None)
        self.classes_, self.vocab_, self.input_, self.output_ = (classes, vocab, tables[0],
                                                                 tables[1])
        self.class_counts_, self.calls_ = class_counts, 1
        self.loss_history_ = _epoch_losses(progress)
        self.history_ = history
        self.train_seconds_ = seconds
        self.words_per_sec_ = progress[0] / max(seconds, 1e-9)
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
    constructor: it would train in this process; ``callbacks`` and ``verbose`` are not used
    by :meth:`fit`).  :meth:`fit` takes a Dask bag of token lists (or of str lines, or a
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

    def fit(self, sentences: Any, client: Any = None, local_steps: int = 16,
            epochs: int | None = None, seed: int | None = None) -> Word2Vec:
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
        local_steps : int, default 16
            Native chunks per worker and round.
        epochs : int, optional
            Passes over each worker's sentences (default: the ``epochs`` parameter).
        seed : int, optional
            Seeds the first vectors and worker 0's run as ``seed`` does in
            ``msopt.Word2Vec`` (default: the ``seed`` parameter).

        Returns
        -------
        self
            With ``history_``: per round, its mean loss, the words processed and its
            seconds.  A worker that leaves the cluster during the fit raises RuntimeError;
            Ctrl-C cancels the rounds; both leave the model as it was.
        """
        self._check_params()
        K, epochs, seed = _fit_args(local_steps, epochs, seed, self.epochs, self.seed)
        local = self._local_class(**{**self.get_params(), "callbacks": None,
                                     "verbose": False, "epochs": epochs, "seed": seed})
        with _client(client) as c:
            pieces = _pieces(c, _sentences_piece, [("sentences", sentences)])
            merged, _ = _result(c, [c.submit(_reduce, *[
                c.submit(_piece_counts, f, bool(self.lower), pure=False) for _, f in pieces],
                pure=False)], [])[0]
            max_vocab = None if self.max_vocab is None else int(self.max_vocab)
            vocab = _vocabulary(merged, int(self.min_count), max_vocab, bool(self.lower))
            vocab_f = c.scatter(vocab, broadcast=True, hash=False)
            seeds = [seed] + [int(np.random.SeedSequence([seed, i]).generate_state(
                1, np.uint64)[0]) for i in range(1, len(pieces))]
            t0 = perf_counter()
            tables, progress, history = _train(c, pieces, _Word2VecShard,
                                                  (local, vocab_f, epochs, seed),
                                                  seeds, K, epochs, "words")
        seconds = perf_counter() - t0
        self._vocab, self._syn1neg = vocab, tables[1]
        self._wv = _w2v.KeyedVectors(vocab.words, tables[0])
        self._trained = True
        self.loss_history_ = (_epoch_losses(progress) if self.compute_loss
                              else [math.nan] * epochs)
        self.history_ = history
        self.train_seconds_ = seconds
        self.words_per_sec_ = progress[0] / max(seconds, 1e-9)
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
