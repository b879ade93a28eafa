"""A neural language model (Bengio et al. 2003) trained, scored, adapted (dynamic
evaluation, Krause et al. 2018) and sampled in native loops: the previous ``context``
tokens embedded and concatenated, one or two tanh/ReLU layers, a softmax (or sampled
softmax) over the vocabulary, an optional direct connection; every step a fused
forward/backward/update through msopt's optimizer engine."""

from __future__ import annotations

import json
import math
import os
import re
import time
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from typing import Any

import numpy as np

from msopt import _core
from msopt._api import (
    INT32_MAX,
    INT64_MAX,
    ParamsMixin,
    check_bool,
    check_choice,
    check_int,
    check_number,
    check_seed,
    keyword_aliases,
    not_fitted,
    refits,
    unexpected_keyword,
)
from msopt._io import atomic_write, check_path, read_npz
from msopt._progress import (
    Tracker,
    check_callbacks,
    check_verbose,
    saved_params,
    set_staged,
    staged_member,
)
from msopt.exceptions import DivergenceError
from msopt.linear_model.layer import run_schedule
from msopt.optim.optimizers import (
    OPTIMIZERS,
    Optimizer,
    flatten_state_dict,
    make_optimizer,
    unflatten_state_dict,
)
from msopt.text.vocabulary import check_errors, read_file_text

__all__ = ["LanguageModel"]

FORMAT = "msopt-languagemodel 1"
UNK, BOS, EOS = "<unk>", "<s>", "</s>"
SPECIALS = (UNK, BOS, EOS)  # ids 0, 1, 2
WORD_PATTERN = re.compile(r"[^\W_]+(?:'[^\W_]+)*|[^\w\s]")
LEVELS = ("char", "word")
LOSSES = ("softmax", "sampled")
ACTIVATIONS = {"tanh": _core.LmActivation.TANH, "relu": _core.LmActivation.RELU}
SCHEDULES = ("constant", "linear", "cosine")
ADAPT = ("all", "output+embeddings", "output")
# dynamic evaluation's options (perplexity's keywords; **adapt_options elsewhere)
ADAPT_DEFAULTS: dict[str, Any] = {"lr": None, "steps": 1, "segment": None,
                                  "adapt_params": "output", "adapt_optimizer": "sgd"}
ADAPT_OPTIONS = tuple(ADAPT_DEFAULTS)
_NO_SPACE_BEFORE = set(".,;:!?)]}'\"")
_CHUNK_SECONDS = 0.25  # a native training call returns to Python about this often


def read_text(text: Any, name: str = "text", errors: str = "strict") -> str:
    """The text of a str (the text itself: a str is never opened as a file), an
    os.PathLike (a UTF-8 file, a byte-order mark dropped, line ends read as ``\\n``,
    ``errors`` as ``open()``'s) or an iterable of str (lines; one trailing newline of each
    is dropped, then they are joined by newlines)."""
    check_errors(errors)
    if isinstance(text, str):
        return text
    if isinstance(text, os.PathLike):
        return read_file_text(text, errors)
    if isinstance(text, (bytes, bytearray)) or not isinstance(text, Iterable):
        raise TypeError(f"{name}: expected a str (the text), an os.PathLike (a file) or an "
                        f"iterable of str (lines), got {type(text).__name__}")
    lines = []
    for i, line in enumerate(text):
        if not isinstance(line, str):
            raise TypeError(f"{name}[{i}]: expected str, got {type(line).__name__}")
        lines.append(line[:-1] if line.endswith("\n") else line)
    return "\n".join(lines)


class LanguageModel(ParamsMixin):
    """A feed-forward neural language model (Bengio et al. 2003), with dynamic evaluation.

    The previous ``context`` tokens are embedded (width ``dim``) and concatenated into x;
    ``hidden`` tanh or ReLU units follow (and ``hidden2`` more, optionally); the output layer
    scores every token from the last hidden layer (and from x itself with ``direct=True``,
    Bengio's ``W x``).  Training minimizes the cross-entropy of the softmax over the
    vocabulary (or, with ``loss="sampled"``, of a sampled softmax with the log-Q
    correction; perplexities are always over the full softmax) by minibatch steps of any
    msopt optimizer (Adam by default): each step is one fused native
    forward/backward/update, the embedding rows updated as row-sparse gradients, and
    whole runs of batches go in one native call with the GIL released.

    Tokens: characters (``level="char"``) or words (``level="word"``: runs of letters and
    digits with inner apostrophes, and single punctuation marks, lower-cased by default).
    The vocabulary keeps tokens seen ``min_count`` times or more, plus ``<unk>`` (every
    other token), ``<s>`` (the context before a text's start) and ``</s>`` (its end, scored
    and predicted like any token).  A text is one str, a file (``os.PathLike``, UTF-8) or
    an iterable of lines (joined by newlines).

    Parameters
    ----------
    level : {"char", "word"}
        Tokens are characters or words.
    context : int, default 16
        Previous tokens the model sees (>= 1).
    dim : int, default 32
        Width of each token's embedding.
    hidden : int, default 512
        Units of the hidden layer.
    hidden2 : int, default 0
        Units of a second hidden layer (0: none).
    activation : {"tanh", "relu"}
        The hidden layers' activation.
    direct : bool, default True
        Connect the concatenated embeddings to the output too (Bengio's ``W x``).
    ngram : int, default 0
        Orders of a hashed n-gram part joined to the output (a maximum-entropy model as in
        Mikolov's RNNME): for each k in 1..ngram, the last k tokens hash to a start in a
        table of ``ngram_size`` weights, and each class reads the weight at start + class.
        It holds the sparse n-gram evidence that a Kneser-Ney model keeps; 0 turns it off.
        At most ``context``.  It costs ``ngram`` x vocabulary additions per token.
    ngram_size : int, default 4,194,304
        Weights in the n-gram table (memory: 4 bytes each in float32, three times that with
        Adam's state).  Larger tables collide less.
    kneser_ney : int, optional
        The order of an interpolated modified Kneser-Ney n-gram model (Chen & Goodman
        1998) counted from the training text and mixed with the network, as Bengio et al.
        (2003) mixed theirs with a trigram model:
        ``p = (1 - kneser_ney_weight) p_network + kneser_ney_weight p_kneser_ney``.
        Scoring, validation, generation and dynamic evaluation (which adapts the network)
        all use the mixture.  Default (None): 7 for characters and 5 for words, or
        ``context + 1`` if smaller; 0 turns it off (the network alone).  At most
        ``context + 1`` and 16.
    kneser_ney_weight : float, default 0.5
        The n-gram model's share of the mixture, in [0, 1]; it may be changed after fitting
        (the perplexity is flat around 0.5 on the texts measured).
    dropout : float, default 0.0
        In training, each unit of the last hidden layer is dropped with this probability
        (the kept ones scaled by ``1 / (1 - dropout)``), drawn per position from the seed.
        Scoring, generation and dynamic evaluation use every unit.
    loss : {"softmax", "sampled"}
        Full softmax, or sampled softmax with ``samples`` classes drawn per batch from the
        training unigram distribution raised to ``sample_power`` (the shared alias
        sampler), each logit corrected by ``-log(samples * q(class))``.
    samples : int, default 512
        Classes drawn per batch by the sampled loss.
    sample_power : float, default 0.75
        The sampled loss draws classes in proportion to ``(count + 1) ** sample_power``.
    optimizer : str, default "adam"
        Any of msopt's optimizers: "sgd", "adam", "adamw", "adagrad", "rmsprop", "lion".
    lr : float, default 2e-3
        The base learning rate (alias ``learning_rate``).
    optimizer_params : dict, optional
        Other hyperparameters of the optimizer (``betas``, ``weight_decay``, ...).
    max_grad_norm : float, optional
        Clip the global gradient norm of each step (the optimizer engine's clipping).
    schedule : {"constant", "linear", "cosine"}
        The learning rate over each :meth:`fit` (or :meth:`partial_fit` call), by steps:
        constant, linear decay to ``min_lr_factor`` of ``lr``, or linear warmup over
        ``warmup`` of the steps then a cosine to ``min_lr_factor``.
    warmup : float, default 0.02
        Share of the steps spent warming up (``"cosine"``).
    min_lr_factor : float, default 0.05
        The learning rate's floor, as a share of ``lr`` (``"linear"``, ``"cosine"``).
    batch_size : int, default 256
        Positions per step (alias ``batch``).
    epochs : int, default 5
        Passes over the text per :meth:`fit` or :meth:`partial_fit` call.
    min_count : int, default 1
        Tokens seen fewer times in the training text become ``<unk>``.
    lower : bool, optional
        Lower-case the text (default: True for words, False for characters).
    n_iter_no_change : int, default 2
        With a validation text, stop after this many epochs without a relative
        improvement of ``tol`` of its perplexity, and keep the best epoch's weights.
    tol : float, default 1e-3
        The relative improvement early stopping asks for.
    dtype : {"float32", "float64"}
        The parameters' type.
    threads : int, optional
        Threads of the native loops (default: msopt's thread count).  A fixed seed and
        thread count repeat a fit bit for bit.
    seed : int, default 0
        Seeds the initial weights, the order of the positions and the sampled classes
        (alias ``random_state``).
    verbose : bool or int, default 0
        Show the training's progress: a tqdm bar when installed, else a line on stderr
        (one kept per epoch: losses, validation perplexity, tokens/s).  The ``"msopt"``
        logger gets the same reports at INFO.
    callbacks : list of callables, optional
        ``f(model, progress) -> bool`` after each native chunk of batches (about a quarter
        second), given a :class:`msopt.Progress` record (epoch, tokens seen, loss, learning
        rate, tokens per second; at an epoch's end with ``val_loss`` and ``val_perplexity``
        when validating); True stops the training there (``stop_reason_ == "callback"``).

    Attributes
    ----------
    vocab_ : list of str
        The tokens by id: ``<unk>``, ``<s>``, ``</s>``, then by descending training count.
    counts_ : ndarray of int64
        Training count of each token.
    params_ : list of ndarray
        ``E`` (vocab x dim), ``W1``, ``b1``, [``W2``, ``b2``], ``O`` (vocab x (top + direct
        inputs)), ``bo``: the native order.
    optimizer_ : msopt.Optimizer
        The optimizer over ``params_``, with its state (training continues from it).
    history_ : list of dict
        One entry per epoch: ``epoch``, ``train_loss`` (mean nats per token over the
        epoch's steps, before each step), ``val_loss`` and ``val_perplexity`` (with a
        validation text), ``seconds``, ``tokens_per_sec``.
    stop_reason_ : str
        Why the last training call stopped: ``"epochs"``, ``"early_stopping"``,
        ``"callback"`` or ``"interrupted"`` (Ctrl-C: the model keeps every step completed, and the
        KeyboardInterrupt is raised again).
    epochs_ : int
        Epochs trained since :meth:`fit`.
    kneser_ney_ : msopt._core.KneserNey or None
        The n-gram model (None with ``kneser_ney=0``): its order-N ``grams`` and
        ``counts`` over every text trained on.

    Examples
    --------
    >>> from msopt import LanguageModel
    >>> text = "the cat sat on the mat. the dog sat on the log. " * 40
    >>> lm = LanguageModel(context=4, dim=8, hidden=32, epochs=8, lr=1e-2, threads=1)
    >>> lm = lm.fit(text)
    >>> lm.perplexity("the cat sat on the log. ") < 3
    True
    >>> lm.generate("the c", max_tokens=10, temperature=0)
    'at sat on '
    """

    vocab_: list[str]
    counts_: np.ndarray
    params_: list[np.ndarray]
    optimizer_: Optimizer
    history_: list[dict[str, Any]]
    stop_reason_: str
    epochs_: int

    _repr_always = ("level", "context", "dim", "hidden")
    # what the fitted weights, vocabulary, n-gram counts and optimizer state are made for
    _structural = ("level", "lower", "min_count", "context", "dim", "hidden", "hidden2",
                   "activation", "direct", "ngram", "ngram_size", "dtype", "kneser_ney",
                   "optimizer", "optimizer_params")

    def _fitted_marker(self) -> Any:
        return self.__dict__.get("params_")

    @keyword_aliases(learning_rate="lr", random_state="seed", batch="batch_size")
    def __init__(self, level: str = "char", context: int = 16, dim: int = 32,
                 hidden: int = 512, hidden2: int = 0, activation: str = "tanh",
                 direct: bool = True, ngram: int = 0, ngram_size: int = 1 << 22,
                 kneser_ney: int | None = None, kneser_ney_weight: float = 0.5,
                 dropout: float = 0.0, loss: str = "softmax",
                 samples: int = 512,
                 sample_power: float = 0.75, optimizer: str = "adam", lr: float = 2e-3,
                 optimizer_params: dict[str, Any] | None = None,
                 max_grad_norm: float | None = None, schedule: str = "cosine",
                 warmup: float = 0.02, min_lr_factor: float = 0.05, batch_size: int = 256,
                 epochs: int = 5, min_count: int = 1, lower: bool | None = None,
                 n_iter_no_change: int = 2, tol: float = 1e-3, dtype: str = "float32",
                 threads: int | None = None, seed: int = 0, verbose: bool | int = 0,
                 callbacks: Sequence[Callable[..., Any]] | None = None) -> None:
        self.level, self.context, self.dim, self.hidden = level, context, dim, hidden
        self.hidden2, self.activation, self.direct = hidden2, activation, direct
        self.ngram, self.ngram_size, self.dropout = ngram, ngram_size, dropout
        self.kneser_ney, self.kneser_ney_weight = kneser_ney, kneser_ney_weight
        self.loss, self.samples, self.sample_power = loss, samples, sample_power
        self.optimizer, self.lr, self.optimizer_params = optimizer, lr, optimizer_params
        self.max_grad_norm, self.schedule, self.warmup = max_grad_norm, schedule, warmup
        self.min_lr_factor, self.batch_size, self.epochs = min_lr_factor, batch_size, epochs
        self.min_count, self.lower = min_count, lower
        self.n_iter_no_change, self.tol, self.dtype = n_iter_no_change, tol, dtype
        self.threads, self.seed, self.verbose = threads, seed, verbose
        self.callbacks = callbacks
        self._check_params()

    # -- parameters -----------------------------------------------------------------------
    def _check_params(self) -> None:
        """TypeError for a wrong type, ValueError for a wrong value, naming the argument."""
        check_choice("level", self.level, LEVELS)
        check_choice("activation", self.activation, tuple(ACTIVATIONS))
        check_choice("loss", self.loss, LOSSES)
        check_choice("schedule", self.schedule, SCHEDULES)
        check_choice("dtype", self.dtype, ("float32", "float64"))
        if not isinstance(self.optimizer, str) or self.optimizer.lower() not in OPTIMIZERS:
            raise ValueError(f"optimizer: expected one of {tuple(OPTIMIZERS)}, got "
                             f"{self.optimizer!r}")
        for name, lo, hi in (("context", 1, 4096), ("dim", 1, 1 << 20), ("hidden", 1, 1 << 20),
                             ("hidden2", 0, 1 << 20), ("samples", 1, 1_000_000),
                             ("ngram", 0, 4096), ("ngram_size", 1, 1 << 40),
                             ("batch_size", 1, 1 << 24), ("epochs", 0, 1 << 30),
                             ("min_count", 1, 1 << 62), ("n_iter_no_change", 1, 1 << 30),
                             ("seed", 0, 2**64 - 1)):
            v = check_int(name, getattr(self, name), lo)
            if v > hi:
                raise ValueError(f"{name}: must be <= {hi:,}, got {v}")
        check_int("threads", self.threads, 1, none=True)
        if self.threads is not None and self.threads > 1024:
            raise ValueError(f"threads: must be <= 1024, got {self.threads}")
        check_verbose(self.verbose)
        check_callbacks(self.callbacks)
        check_bool("direct", self.direct)
        if self.ngram > self.context:
            raise ValueError(f"ngram: must be <= context ({self.context}), got {self.ngram}")
        if self.kneser_ney is not None:
            order = check_int("kneser_ney", self.kneser_ney, 0)
            if order > min(16, self.context + 1):
                raise ValueError(f"kneser_ney: must be <= context + 1 ({self.context + 1}) and "
                                 f"<= 16, got {order}")
        check_number("kneser_ney_weight", self.kneser_ney_weight, lo=0)
        if self.kneser_ney_weight > 1:
            raise ValueError(f"kneser_ney_weight: must be in [0, 1], got "
                             f"{self.kneser_ney_weight}")
        if self.lower is not None:
            check_bool("lower", self.lower)
        check_number("lr", self.lr, lo=0, strict=True)
        check_number("sample_power", self.sample_power, lo=0)
        check_number("warmup", self.warmup, lo=0)
        if self.warmup >= 1:
            raise ValueError(f"warmup: must be < 1 (a share of the steps), got {self.warmup}")
        check_number("min_lr_factor", self.min_lr_factor, lo=0)
        if self.min_lr_factor > 1:
            raise ValueError(f"min_lr_factor: must be <= 1, got {self.min_lr_factor}")
        check_number("tol", self.tol, lo=0)
        check_number("dropout", self.dropout, lo=0)
        if self.dropout >= 1:
            raise ValueError(f"dropout: must be < 1, got {self.dropout}")
        if self.max_grad_norm is not None:
            check_number("max_grad_norm", self.max_grad_norm, lo=0, strict=True)
        if self.optimizer_params is not None:
            if not isinstance(self.optimizer_params, dict):
                raise TypeError("optimizer_params: expected a dict or None, got "
                                f"{type(self.optimizer_params).__name__}")
            bad = {"lr", "params", "max_grad_norm"} & set(self.optimizer_params)
            if bad:
                raise ValueError(f"optimizer_params: {sorted(bad)} are set by the model's own "
                                 "arguments")

    def _threads(self) -> int:
        return int(self.threads or _core.get_num_threads())

    def _np_dtype(self) -> type:
        return np.float32 if self.dtype == "float32" else np.float64

    def _lower(self) -> bool:
        return self.level == "word" if self.lower is None else bool(self.lower)

    def _shape(self, vocab: int) -> Any:
        return _core.LmShape(vocab=vocab, dim=int(self.dim), context=int(self.context),
                             hidden1=int(self.hidden), hidden2=int(self.hidden2),
                             direct=bool(self.direct), act=ACTIVATIONS[self.activation],
                             ngram=int(self.ngram), ngram_size=int(self.ngram_size))

    def _repr_state(self) -> list[str]:
        if not hasattr(self, "params_"):
            return []
        return [f"vocab={len(self.vocab_):,}", f"epochs_={self.epochs_}"]

    # -- tokens ---------------------------------------------------------------------------
    def _tokens(self, text: str) -> list[str] | str:
        if self._lower():
            text = text.lower()
        return text if self.level == "char" else WORD_PATTERN.findall(text)

    def _ids(self, text: str, *, eos: bool = True, name: str = "text") -> np.ndarray:
        """The ids of a text's tokens (then ``</s>`` when eos)."""
        toks = self._tokens(text)
        lookup = self._index
        if self.level == "char":
            try:
                data = toks.encode("utf-32-le")  # type: ignore[union-attr]
            except UnicodeEncodeError as e:
                raise ValueError(f"{name}: holds {e.object[e.start:e.end]!r}, which is not valid "
                                 f"Unicode text ({e.reason})") from None
            cps = np.frombuffer(data, np.uint32)
            keys, vals = self._char_table
            pos = np.minimum(np.searchsorted(keys, cps), len(keys) - 1)
            ids = np.where(keys[pos] == cps, vals[pos], 0).astype(np.int32)
        else:
            ids = np.fromiter((lookup.get(t, 0) for t in toks), np.int32, len(toks))
        return np.append(ids, np.int32(2)) if eos else ids

    def _set_vocab(self, vocab: list[str], counts: np.ndarray) -> None:
        self.vocab_, self.counts_ = vocab, counts
        self._index = {t: i for i, t in enumerate(vocab)}
        if self.level == "char":
            pairs = sorted((ord(t), i) for i, t in enumerate(vocab) if len(t) == 1)
            self._char_table = (np.array([p[0] for p in pairs], np.uint32),
                                np.array([p[1] for p in pairs], np.int32))

    def _build_vocab(self, text: str) -> tuple[list[str], np.ndarray]:
        counts = Counter(self._tokens(text))
        for s in SPECIALS:
            counts.pop(s, None)
        kept = [(t, c) for t, c in counts.items() if c >= int(self.min_count)]
        kept.sort(key=lambda tc: -tc[1])  # stable: ties by first appearance
        if not kept:
            raise ValueError("text: no token is seen min_count times; the vocabulary would "
                             "hold no token")
        if len(kept) < 2:
            raise ValueError(f"text: the vocabulary has a single token ({kept[0][0]!r}); a "
                             "language model needs at least two")
        vocab = list(SPECIALS) + [t for t, _ in kept]
        total = sum(counts.values())
        unk = total - sum(c for _, c in kept)
        return vocab, np.array([unk, 0, 1] + [c for _, c in kept], np.int64)

    # -- training -------------------------------------------------------------------------
    @refits
    def fit(self, text: Any, validation: Any = None, *, errors: str = "strict"
            ) -> LanguageModel:
        """Train from scratch: a new vocabulary from ``text``, new weights, ``epochs``
        epochs (fewer with early stopping on ``validation``'s perplexity).  Returns self.

        Nothing changes unless the call succeeds (an interrupted call keeps every step
        completed).

        Parameters
        ----------
        text : str, os.PathLike or iterable of str
            The training text: a str (the text itself; a str is never opened as a file), a
            file (``pathlib.Path``, UTF-8) or an iterable of lines (joined by newlines),
            of at least ``context`` tokens.
        validation : str, os.PathLike or iterable of str, optional
            A text read the same way, whose perplexity is measured after each epoch (in
            ``history_``) for early stopping (``n_iter_no_change``, ``tol``).  Default: no
            validation and no early stopping.
        errors : {"strict", "replace", "ignore"}, default "strict"
            What bytes of a file that are not UTF-8 become (as ``open()``'s).

        Returns
        -------
        LanguageModel
            self, fitted."""
        self._check_params()
        t = read_text(text, "text", errors)
        val = None if validation is None else read_text(validation, "validation", errors)
        vocab, counts = self._build_vocab(t)
        saved = self.__dict__.copy()
        params: list[np.ndarray] = []
        try:
            self._set_vocab(vocab, counts)
            ids = self._ids(t)
            if len(ids) - 1 < int(self.context):
                raise ValueError(f"text: {len(ids) - 1} tokens, shorter than the context "
                                 f"({self.context})")
            params = self._init_params(len(vocab))
            opt = self._make_optimizer(params)
            self.history_, self.epochs_ = [], 0
            self.kneser_ney_ = self._count_grams(ids, None)
            self._train(ids, val, params, opt, first=True)
        except BaseException as e:
            kept = isinstance(e, KeyboardInterrupt) and self.__dict__.get("params_") is params
            if not kept:  # a rejected or failed call changes nothing
                self.__dict__.clear()
                self.__dict__.update(saved)
            raise
        return self

    def partial_fit(self, text: Any, validation: Any = None, *, errors: str = "strict"
                    ) -> LanguageModel:
        """Train ``epochs`` more epochs on ``text`` from the current weights and optimizer
        state (the vocabulary stays; unseen tokens read as ``<unk>``); texts and ``errors``
        as in :meth:`fit`.  A first call (unfitted model) is :meth:`fit`.

        Parameters
        ----------
        text : str, os.PathLike or iterable of str
            The text to train on, read as in :meth:`fit`, of at least ``context`` tokens.
            With ``kneser_ney``, its n-grams are added to the n-gram model's counts.
        validation : str, os.PathLike or iterable of str, optional
            A text whose perplexity is measured after each epoch for early stopping, as in
            :meth:`fit`.
        errors : {"strict", "replace", "ignore"}, default "strict"
            What bytes of a file that are not UTF-8 become (as ``open()``'s).

        Returns
        -------
        LanguageModel
            self."""
        if not hasattr(self, "params_"):
            return self.fit(text, validation, errors=errors)
        self._check_params()
        t = read_text(text, "text", errors)
        val = None if validation is None else read_text(validation, "validation", errors)
        ids = self._ids(t)
        if len(ids) - 1 < int(self.context):
            raise ValueError(f"text: {len(ids) - 1} tokens, shorter than the context "
                             f"({self.context})")
        before = self.kneser_ney_
        kn = self._count_grams(ids, before)
        params = [p.copy() for p in self.params_]
        opt = self._make_optimizer(params)
        opt.load_state_dict(self.optimizer_.state_dict())
        for group in opt.param_groups:  # the state continues, at the rate lr says now
            group["lr"] = float(self.lr)
        try:
            self.kneser_ney_ = kn  # validation reads the new counts too
            self._train(ids, val, params, opt, first=False)
        except KeyboardInterrupt:  # the steps taken are kept, and so are the counts
            raise
        except BaseException:
            self.kneser_ney_ = before
            raise
        return self

    def _count_grams(self, ids: np.ndarray, before: Any) -> Any:
        """The Kneser-Ney model of ``ids`` (the text's token stream), plus ``before``'s
        counts; None when ``kneser_ney`` is 0."""
        order = self._kneser_ney_order()
        if not order:
            return None
        if before is not None and before.order != order:
            raise ValueError(f"kneser_ney: the model was fitted with order {before.order}, "
                             f"now {order}; call fit() to change it")
        V = len(self.vocab_)
        grams, counts = _core.KneserNey.count_grams(_core.LmData(ids, V, 1), order)
        if before is not None:
            grams = np.concatenate([before.grams, grams])
            counts = np.concatenate([before.counts, counts])
        return _core.KneserNey(grams, counts, V)

    def _kneser_ney_order(self) -> int:
        if self.kneser_ney is not None:
            return int(self.kneser_ney)
        return min(int(self.context) + 1, 7 if self.level == "char" else 5)

    def _mixture(self) -> Any:
        """The Kneser-Ney model to mix with, or None."""
        kn = getattr(self, "kneser_ney_", None)
        return kn if kn is not None and float(self.kneser_ney_weight) > 0 else None

    def _mix(self, data: Any, begin: int, per: np.ndarray,
             lp: np.ndarray | None = None) -> np.ndarray:
        """The network's per-token losses ``per`` of positions [begin, len(data)) as the
        mixture's (``lp``: the n-gram model's log p of those positions, if known)."""
        kn = self._mixture()
        if kn is None:
            return per
        w = float(self.kneser_ney_weight)
        if lp is None:
            lp = kn.score(data, begin, len(data), threads=self._threads())
        if w >= 1:
            return -lp
        return -np.logaddexp(math.log1p(-w) - per, math.log(w) + lp)

    def _init_params(self, vocab: int) -> list[np.ndarray]:
        """torch's default initialization (nn.Embedding, nn.Linear) at ``seed``."""
        rng = np.random.default_rng(int(self.seed))
        dt = self._np_dtype()
        K, H, H2 = int(self.context) * int(self.dim), int(self.hidden), int(self.hidden2)
        U = (H2 or H) + (K if self.direct else 0)

        def lin(fan_in: int, shape: tuple[int, ...]) -> np.ndarray:
            b = 1.0 / math.sqrt(fan_in)
            return rng.uniform(-b, b, shape).astype(dt)

        out = [rng.standard_normal((vocab, int(self.dim))).astype(dt), lin(K, (K, H)),
               lin(K, (H,))]
        if H2:
            out += [lin(H, (H, H2)), lin(H, (H2,))]
        out += [lin(U, (vocab, U)), lin(U, (vocab,))]
        if self.ngram:
            out.append(np.zeros(int(self.ngram_size), dt))
        return out

    def _make_optimizer(self, params: list[np.ndarray]) -> Optimizer:
        return make_optimizer(self.optimizer, params, self.lr, self.max_grad_norm,
                              self.optimizer_params)

    def _schedule(self, total: int) -> Any:
        return run_schedule(self.schedule, total, int(self.warmup * total),
                            float(self.min_lr_factor))

    def _sample_weights(self) -> np.ndarray:
        w = (self.counts_.astype(np.float64) + 1.0) ** float(self.sample_power)
        return np.ascontiguousarray(w)

    def _train(self, ids: np.ndarray, val: str | None, params: list[np.ndarray],
               opt: Optimizer, *, first: bool) -> None:
        V = len(self.vocab_)
        shape = self._shape(V)
        data = _core.LmData(ids, V, 1)
        val_data = None
        if val is not None:
            vids = self._ids(val, name="validation")
            val_data = _core.LmData(vids, V, 1)
        # the n-gram model's log p of the validation tokens: fixed over the call, so once
        kn = self._mixture()
        val_kn = (kn.score(val_data, 0, len(val_data), threads=self._threads())
                  if kn is not None and val_data is not None else None)
        bs = int(self.batch_size)
        n_batches = -(-len(ids) // min(bs, len(ids)))
        epochs = int(self.epochs)
        sched = self._schedule(epochs * n_batches)
        origin = int(opt.native_state().steps[shape.hidden2 and 5 or 3])
        threads = self._threads()
        sampled = self.loss == "sampled"
        weights = self._sample_weights() if sampled else None
        history = list(self.history_) if not first else []
        epochs_done = 0 if first else self.epochs_
        seed = int(self.seed)
        best: tuple[float, list[np.ndarray], Any, int] | None = None
        stale, stop = 0, "epochs"
        chunk = 4

        def install() -> None:
            self.params_, self.optimizer_ = params, opt
            self.history_, self.epochs_, self.stop_reason_ = history, epochs_done, stop

        # progress in tokens: an epoch walks every position but the first
        track = Tracker(self, epochs=epochs, total=epochs * (len(ids) - 1), unit="tokens",
                        callbacks=self.callbacks, verbose=self.verbose)
        try:
            for _e in range(epochs):
                t0 = time.perf_counter()
                total, count, b = 0.0, 0, 0
                while b < n_batches and stop != "callback":
                    c0 = time.perf_counter()
                    loss, n, done, status = _core.lm_train(
                        data, shape, opt.native_state(), batch_size=bs, seed=seed,
                        epoch=epochs_done, batch_begin=b, batch_end=min(n_batches, b + chunk),
                        schedule=sched, schedule_origin=origin, threads=threads,
                        samples=int(self.samples) if sampled else 0, sample_weights=weights,
                        dropout=float(self.dropout))
                    if status:
                        what = "loss" if status == 1 else "gradient"
                        raise DivergenceError(
                            f"the training {what} became NaN or Inf in epoch "
                            f"{epochs_done + 1} (batch {b + done + 1}); the model was left as "
                            f"it was before this call.  Try a smaller lr (now {self.lr}) or "
                            "max_grad_norm.")
                    total, count, b = total + loss, count + n, b + done
                    spent = time.perf_counter() - c0
                    # at most an epoch: across many short epochs it would grow without end
                    chunk = max(1, min(chunk * 4, n_batches,
                                       int(chunk * _CHUNK_SECONDS / max(spent, 1e-4))))
                    if b < n_batches and track.report(
                            _e + 1, _e * (len(ids) - 1) + count, total / max(count, 1),
                            float(self.lr) * sched.at(float(_e * n_batches + b))):
                        stop = "callback"
                if stop == "callback":
                    break
                epochs_done += 1
                seconds = time.perf_counter() - t0
                entry: dict[str, Any] = {"epoch": epochs_done, "train_loss": total / max(count, 1),
                                         "seconds": seconds,
                                         "tokens_per_sec": count / max(seconds, 1e-9)}
                if val_data is not None:
                    vl = float(self._mix(val_data, 0, _core.lm_score(
                        val_data, shape, params, 0, len(val_data), threads=threads,
                        per_token=True), val_kn).mean())
                    entry["val_loss"] = vl
                    entry["val_perplexity"] = math.exp(min(vl, 700.0))
                history.append(entry)
                extra = {k: entry[k] for k in ("val_loss", "val_perplexity") if k in entry}
                if track.report(_e + 1, (_e + 1) * (len(ids) - 1), entry["train_loss"],
                                float(self.lr) * sched.at(float((_e + 1) * n_batches)),
                                epoch_end=True, **extra):
                    stop = "callback"
                if val_data is not None:
                    vl = entry["val_loss"]
                    if best is None or vl < best[0] - abs(best[0]) * float(self.tol):
                        best = (vl, [p.copy() for p in params], opt.state_dict(), epochs_done)
                        stale = 0
                    else:
                        stale += 1
                        if stale >= int(self.n_iter_no_change) and stop != "callback":
                            stop = "early_stopping"
                            break
                if stop == "callback":
                    break
            if stop == "early_stopping" and best is not None:
                for p, q in zip(params, best[1]):
                    p[...] = q
                opt.load_state_dict(best[2])
        except KeyboardInterrupt:
            stop = "interrupted"
            install()
            raise
        finally:
            track.close()
        install()

    @property
    def loss_history_(self) -> list[float]:
        """Mean training loss (nats per token) of each epoch since :meth:`fit`, over every
        :meth:`partial_fit` too (``history_``'s ``train_loss``)."""
        return [h["train_loss"] for h in self.history_]

    # -- prediction -----------------------------------------------------------------------
    def _check_fitted(self) -> None:
        if not hasattr(self, "params_"):
            raise not_fitted(self, "call fit() (or load())")

    def _stream(self, text: Any, prefix: Any) -> tuple[Any, int]:
        t = read_text(text, "text")
        ids = self._ids(t)
        start = 0
        if prefix is not None:
            pre = self._ids(read_text(prefix, "prefix"), eos=False, name="prefix")
            ids, start = np.concatenate([pre, ids]), len(pre)
        return _core.LmData(ids, len(self.vocab_), 1), start

    def token_losses(self, text: Any, *, prefix: Any = None, adapt: bool = False,
                     errors: str = "strict", **adapt_options: Any) -> np.ndarray:
        """-log p (nats) of each token of ``text`` (its final ``</s>`` included), float64;
        ``prefix`` is read as context but not scored.  ``adapt`` and its options, and
        ``errors``, as for :meth:`perplexity`.

        Parameters
        ----------
        text : str, os.PathLike or iterable of str
            The text to score, read as in :meth:`fit`.
        prefix : str, os.PathLike or iterable of str, optional
            Text read before ``text`` as its context, but not scored; with ``adapt=True``
            the model learns from it first.
        adapt : bool, default False
            Score by dynamic evaluation, on a copy of the model (see :meth:`perplexity`).
        errors : {"strict", "replace", "ignore"}, default "strict"
            What bytes of a file that are not UTF-8 become (as ``open()``'s).
        **adapt_options
            The options of dynamic evaluation, as the keywords of :meth:`perplexity`:
            ``lr``, ``steps``, ``segment``, ``adapt_params`` and ``adapt_optimizer``.  Any
            other name is refused (TypeError); the values are checked even with
            ``adapt=False``.

        Returns
        -------
        ndarray of float64, shape (n_tokens + 1,)
            One loss per token of ``text`` (``n_tokens`` of them), then the loss of its
            ``</s>``."""
        text, prefix = self._read(text, prefix, errors)
        self._check_fitted()
        check_bool("adapt", adapt)
        self._adapt_options("token_losses", adapt_options)
        data, start = self._stream(text, prefix)
        return self._token_losses(data, start, adapt, adapt_options)

    def _token_losses(self, data: Any, start: int, adapt: bool,
                      options: dict[str, Any]) -> np.ndarray:
        if adapt:
            per = self._dynamic(data, start, per_token=True, **options)[1]
            assert per is not None
        else:
            per = _core.lm_score(data, self._shape(len(self.vocab_)), self.params_, start,
                                 len(data), threads=self._threads(), per_token=True)
        return self._mix(data, start, per)

    def score(self, text: Any, *, prefix: Any = None, adapt: bool = False,
              errors: str = "strict", **adapt_options: Any) -> float:
        """Mean log-likelihood per token (nats; the text's final ``</s>`` included), the
        negative of the mean cross-entropy; options as for :meth:`perplexity`.

        Parameters
        ----------
        text : str, os.PathLike or iterable of str
            The text to score, read as in :meth:`fit`.
        prefix : str, os.PathLike or iterable of str, optional
            Text read before ``text`` as its context, but not scored.
        adapt : bool, default False
            Score by dynamic evaluation, on a copy of the model (see :meth:`perplexity`).
        errors : {"strict", "replace", "ignore"}, default "strict"
            What bytes of a file that are not UTF-8 become (as ``open()``'s).
        **adapt_options
            The options of dynamic evaluation, as the keywords of :meth:`perplexity`:
            ``lr``, ``steps``, ``segment``, ``adapt_params`` and ``adapt_optimizer``.  Any
            other name is refused (TypeError); the values are checked even with
            ``adapt=False``.

        Returns
        -------
        float
            The mean log-likelihood per token."""
        text, prefix = self._read(text, prefix, errors)
        self._check_fitted()
        self._adapt_options("score", adapt_options)
        return -self._mean_loss(text, prefix, adapt, adapt_options)

    @staticmethod
    def _read(text: Any, prefix: Any, errors: str) -> tuple[str, str | None]:
        """``text`` and ``prefix`` as str (files read with ``errors``)."""
        return (read_text(text, "text", errors),
                None if prefix is None else read_text(prefix, "prefix", errors))

    def perplexity(self, text: Any, adapt: bool = False, *, lr: float | None = None,
                   steps: int = 1, segment: int | None = None, adapt_params: str = "output",
                   adapt_optimizer: str = "sgd", prefix: Any = None,
                   errors: str = "strict") -> float:
        """Perplexity of ``text`` (exp of the mean cross-entropy per token, ``</s>``
        included), over the full softmax, batched and multi-threaded.

        With ``adapt=True`` this is dynamic evaluation (Krause et al. 2018): the text is
        read in segments of ``segment`` tokens; each is scored first, then the model takes
        ``steps`` gradient steps on it (``adapt_optimizer`` at rate ``lr``: default 0.1 for
        "sgd", 3e-4 for the others; segments of 100 tokens by default), so every token is
        scored before the model has seen it.  ``adapt_params`` says what adapts: "all"
        parameters; "output+embeddings": the output layer (with the n-gram table) and the
        embedding rows of the tokens seen; or "output" (the default): the output layer (with
        the n-gram table) alone, the cheapest, and within 0.2% of "all" on the text
        measured.  With the first layer fixed (both "output" choices), a step's forward
        reads the first-layer table as scoring does (small vocabularies), and "output" has
        no backward below the output layer.  Plain SGD (no momentum, weight decay or
        clipping) updates the output layer in place from the step's score gradients.  With
        ``kneser_ney``, the network adapts and the n-gram model stays as it is.  The
        adaptation works on a copy: the model is unchanged afterwards.  ``prefix`` is read
        as context (and, adapting, learned from) but not scored.  ``text`` and ``prefix``
        are read as in :meth:`fit` (a str is the text itself; a ``pathlib.Path`` a file,
        read with ``errors``).

        Parameters
        ----------
        text : str, os.PathLike or iterable of str
            The text to measure, read as in :meth:`fit`.
        adapt : bool, default False
            Dynamic evaluation (above), on a copy of the model.  Its options, ``lr``,
            ``steps``, ``segment``, ``adapt_params`` and ``adapt_optimizer``, are checked
            with or without it.
        lr : float, optional
            The adaptation's learning rate, > 0.  Default: 0.1 for "sgd", 3e-4 for the other
            optimizers.
        steps : int, default 1
            Gradient steps on each segment, after it is scored (>= 0).
        segment : int, optional
            Tokens per segment (>= 1); default 100.
        adapt_params : {"output", "output+embeddings", "all"}, default "output"
            The parameters that adapt.
        adapt_optimizer : str, default "sgd"
            Any of msopt's optimizers, in any case: "sgd", "adam", "adamw", "adagrad",
            "rmsprop", "lion".
        prefix : str, os.PathLike or iterable of str, optional
            Text read before ``text`` as its context, but not scored.
        errors : {"strict", "replace", "ignore"}, default "strict"
            What bytes of a file that are not UTF-8 become (as ``open()``'s).

        Returns
        -------
        float
            ``exp`` of the mean loss per token (capped at ``exp(700)``)."""
        text, prefix = self._read(text, prefix, errors)
        options = {"lr": lr, "steps": steps, "segment": segment, "adapt_params": adapt_params,
                   "adapt_optimizer": adapt_optimizer}
        return math.exp(min(self._mean_loss(text, prefix, adapt, options), 700.0))

    def _mean_loss(self, text: Any, prefix: Any, adapt: bool, options: dict[str, Any]) -> float:
        self._check_fitted()
        check_bool("adapt", adapt)
        self._adapt_defaults(**{**ADAPT_DEFAULTS, **options})  # checked, adapting or not
        data, start = self._stream(text, prefix)
        n = len(data) - start
        if self._mixture() is not None:
            return float(self._token_losses(data, start, adapt, options).mean())
        if adapt:
            loss, _ = self._dynamic(data, start, **options)
            return loss / n
        return _core.lm_score(data, self._shape(len(self.vocab_)), self.params_, start,
                              len(data), threads=self._threads()) / n

    def _adapt_options(self, method: str, options: dict[str, Any]) -> dict[str, Any]:
        """``options`` (the ``**adapt_options`` of ``method``), their names and values
        checked whether ``adapt`` is on or not: a misspelt option is refused, not ignored."""
        for key in options:
            if key not in ADAPT_OPTIONS:
                raise unexpected_keyword(f"LanguageModel.{method}", key,
                                         ["adapt", "prefix", "errors", *ADAPT_OPTIONS])
        self._adapt_defaults(**{**ADAPT_DEFAULTS, **options})
        return options

    def _adapt_defaults(self, lr: float | None, steps: int, segment: int | None,
                        adapt_params: str, adapt_optimizer: str
                        ) -> tuple[float, int, int, int, str]:
        check_int("steps", steps, 0)
        if segment is None:
            segment = 100
        check_int("segment", segment, 1)
        check_choice("adapt_params", adapt_params, ADAPT)
        if not isinstance(adapt_optimizer, str) or adapt_optimizer.lower() not in OPTIMIZERS:
            raise ValueError(f"adapt_optimizer: expected one of {tuple(OPTIMIZERS)}, got "
                             f"{adapt_optimizer!r}")
        if lr is None:
            # measured on tinyshakespeare (chars) and Austen (words) with segments of 100:
            # SGD 0.1 beat 0.03 on both (0.2-0.3 did a little better on Austen only);
            # Adam 3e-4 was the best of the rates tried (segments of 20 words)
            lr = 0.1 if adapt_optimizer.lower() == "sgd" else 3e-4
        lr = check_number("lr", lr, lo=0, strict=True)
        H2 = int(self.hidden2)
        io = 5 if H2 else 3
        n = (7 if H2 else 5) + (1 if self.ngram else 0)
        mask = (1 << io) | (1 << (io + 1)) | ((1 << (io + 2)) if self.ngram else 0)
        if adapt_params == "all":
            mask = (1 << n) - 1
        elif adapt_params == "output+embeddings":
            mask |= 1 << 0
        return lr, int(steps), int(segment), mask, adapt_optimizer.lower()

    def _dynamic(self, data: Any, start: int, *, lr: float | None = None, steps: int = 1,
                 segment: int | None = None, adapt_params: str = "output",
                 adapt_optimizer: str = "sgd", per_token: bool = False,
                 ) -> tuple[float, np.ndarray | None]:
        lr_, steps_, seg, mask, opt_name = self._adapt_defaults(lr, steps, segment,
                                                                adapt_params, adapt_optimizer)
        params = [p.copy() for p in self.params_]
        opt = _optimizer(opt_name, params, lr_)
        shape = self._shape(len(self.vocab_))
        threads = self._threads()
        if start:  # the prefix: learned from, not scored
            _core.lm_dynamic(data, shape, opt.native_state(), 0, start, segment=seg,
                             steps=steps_, update=mask, threads=threads)
        total, a = 0.0, start
        parts: list[np.ndarray] = []
        per = max(seg, (65536 // seg) * seg)  # positions per native call
        while a < len(data):
            b = min(len(data), a + per)
            loss, _n, _segs, status, tok = _core.lm_dynamic(
                data, shape, opt.native_state(), a, b, segment=seg, steps=steps_, update=mask,
                threads=threads, per_token=per_token)
            if status:
                raise DivergenceError("dynamic evaluation: the loss or a gradient became NaN "
                                      f"or Inf; try a smaller lr (now {lr_})")
            total += loss
            if per_token and tok is not None:
                parts.append(tok)
            a = b
        return total, (np.concatenate(parts) if per_token else None)

    def generate(self, prompt: str = "", max_tokens: int = 100, *, temperature: float = 1.0,
                 top_k: int = 0, top_p: float = 1.0, seed: int | None = None, n: int = 1,
                 stop: str | list[str] | None = None, adapt: bool = False,
                 **adapt_options: Any) -> str | list[str]:
        """Continue ``prompt`` by up to ``max_tokens`` tokens: a str for ``n=1``, a list of
        ``n`` str otherwise (the continuations, without the prompt).

        All ``n`` rows are sampled together in native calls (one per 256 tokens).  Each
        token is drawn from the softmax at ``temperature`` (0: the most likely token,
        greedy), restricted to the ``top_k`` most likely tokens (0: all) and to the
        smallest set of them with probability ``top_p`` or more.  A fixed ``seed`` repeats
        exactly (default: the model's ``seed``).  A row ends at ``</s>`` or where one of
        the ``stop`` strings appears (the stop string is cut off).  ``<s>`` and ``<unk>``
        are never drawn.  With ``adapt=True`` the model first adapts to the prompt by
        dynamic evaluation (options as for :meth:`perplexity`), on a copy.

        Parameters
        ----------
        prompt : str, default ""
            The text to continue (a str only; it is not read as a file).  A non-empty prompt
            must hold a token, and at least one that is in the vocabulary.  The first
            context is its last ``context`` tokens, ``<s>`` filling in before a shorter
            prompt.
        max_tokens : int, default 100
            The most tokens generated per row (>= 0).
        temperature : float, default 1.0
            The softmax's temperature (>= 0; 0 is greedy).
        top_k : int, default 0
            Draw among the ``top_k`` most likely tokens only (0: all).
        top_p : float, default 1.0
            Draw among the smallest set of most likely tokens whose probability reaches
            ``top_p``, in (0, 1] (1: all).
        seed : int, optional
            Seeds the draws, in [0, 2**64 - 1]; default the model's ``seed``.
        n : int, default 1
            The number of continuations (>= 1).
        stop : str or list of str, optional
            Non-empty strings that end a row where they appear; the text is cut where the
            first of them appears.
        adapt : bool, default False
            Adapt a copy of the model to the prompt by dynamic evaluation first (nothing is
            adapted for an empty prompt).
        **adapt_options
            The options of dynamic evaluation, as the keywords of :meth:`perplexity`:
            ``lr``, ``steps``, ``segment``, ``adapt_params`` and ``adapt_optimizer``.  Any
            other name is refused (TypeError); the values are checked even with
            ``adapt=False``.

        Returns
        -------
        str or list of str
            The continuation (for ``n=1``) or the ``n`` continuations, without the prompt."""
        self._check_fitted()
        if not isinstance(prompt, str):
            raise TypeError(f"prompt: expected a str, got {type(prompt).__name__}")
        max_tokens = check_int("max_tokens", max_tokens, 0, hi=INT64_MAX)
        temperature = check_number("temperature", temperature, lo=0)
        top_k = check_int("top_k", top_k, 0, hi=INT64_MAX)
        top_p = check_number("top_p", top_p, lo=0, strict=True)
        if top_p > 1:
            raise ValueError(f"top_p: must be in (0, 1], got {top_p}")
        n = check_int("n", n, 1, hi=INT32_MAX)
        seed = int(self.seed) if seed is None else check_seed("seed", seed)
        stops = [stop] if isinstance(stop, str) else list(stop or [])
        for s in stops:
            if not isinstance(s, str) or not s:
                raise ValueError("stop: expected non-empty strings")
        ids = self._ids(prompt, eos=False, name="prompt") if prompt else np.zeros(0, np.int32)
        if prompt and len(ids) and (ids == 0).all():
            raise ValueError(f"prompt: none of its tokens is in the vocabulary "
                             f"({len(ids)} token(s), each read as <unk>)")
        if prompt and not len(ids):
            raise ValueError("prompt: holds no token")
        check_bool("adapt", adapt)
        self._adapt_options("generate", adapt_options)
        params = self.params_
        if adapt and len(ids):
            data = _core.LmData(ids, len(self.vocab_), 1)
            lr, steps, seg, mask, opt_name = self._adapt_defaults(
                adapt_options.get("lr"), adapt_options.get("steps", 1),
                adapt_options.get("segment"), adapt_options.get("adapt_params", "output"),
                adapt_options.get("adapt_optimizer", "sgd"))
            params = [p.copy() for p in params]
            _core.lm_dynamic(data, self._shape(len(self.vocab_)),
                             _optimizer(opt_name, params, lr).native_state(), 0, len(ids),
                             segment=seg, steps=steps, update=mask, threads=self._threads())
        C = int(self.context)
        ctx = np.concatenate([np.full(C, 1, np.int64), ids.astype(np.int64)])[-C:]
        contexts = np.repeat(ctx[None, :], n, axis=0)
        shape = self._shape(len(self.vocab_))
        out = [[] for _ in range(n)]  # type: list[list[int]]
        alive = np.ones(n, bool)
        texts = [""] * n
        done_tokens, call = 0, 0
        while done_tokens < max_tokens and alive.any():
            k = min(256, max_tokens - done_tokens)
            rows = np.flatnonzero(alive)
            toks, lens = _core.lm_generate(
                shape, params, contexts[rows], max_tokens=k, temperature=temperature,
                top_k=top_k, top_p=top_p, seed=(seed * 1_000_003 + call) % 2**64, stop=2,
                banned=np.array([0, 1], np.int64), threads=self._threads(),
                kneser_ney=self._mixture(), kneser_ney_weight=float(self.kneser_ney_weight))
            call += 1
            for j, r in enumerate(rows):
                got = toks[j, :lens[j]].tolist()
                out[r].extend(got)
                if lens[j] < k:
                    alive[r] = False
                texts[r] = self._detok(out[r])
                if stops and any(s in texts[r] for s in stops):
                    alive[r] = False
                hist = np.concatenate([contexts[r], np.asarray(got, np.int64)])
                contexts[r] = hist[-C:]
            done_tokens += k
        if stops:
            for i, t in enumerate(texts):
                cut = min((t.find(s) for s in stops if s in t), default=-1)
                if cut >= 0:
                    texts[i] = t[:cut]
        return texts[0] if n == 1 else texts

    def _detok(self, ids: list[int]) -> str:
        toks = [self.vocab_[i] for i in ids]
        if self.level == "char":
            return "".join(toks)
        out = ""
        for t in toks:
            out += (t if not out or t[0] in _NO_SPACE_BEFORE or out.endswith(("(", "\n"))
                    else " " + t)
        return out

    # -- files and pickling ---------------------------------------------------------------
    def _arrays(self) -> dict[str, np.ndarray]:
        self._check_params()  # a file (or pickle) that load would refuse is not written
        state = {"history": self.history_, "stop_reason": self.stop_reason_,
                 "epochs": self.epochs_, "vocab": self.vocab_}
        arrays = {"format": np.array(FORMAT), "params": np.array(json.dumps(saved_params(self))),
                  "state": np.array(json.dumps(state)), "counts": self.counts_,
                  **staged_member(self)}
        for i, p in enumerate(self.params_):
            arrays[f"param/{i}"] = p
        for k, v in flatten_state_dict(self.optimizer_.state_dict()).items():
            arrays[f"optimizer/{k}"] = v
        kn = getattr(self, "kneser_ney_", None)
        if kn is not None:
            arrays["kneser_ney/grams"], arrays["kneser_ney/counts"] = kn.grams, kn.counts
        return arrays

    def save(self, path: str | os.PathLike[str]) -> None:
        """Write the model to ``path`` (exactly; no extension added): one ``.npz`` archive
        without pickled objects, replaced atomically (a temporary file in the same folder,
        flushed to disk, then renamed over ``path``).  Members: ``format``
        (``"msopt-languagemodel 1"``), ``params`` (the constructor's arguments, JSON),
        ``state`` (JSON: the vocabulary, history, stop reason, epochs), ``counts`` (int64),
        ``param/<i>`` (the weights, in the native order), ``optimizer/...`` (the
        optimizer's flattened state dict, so training continues exactly), with
        ``kneser_ney``, ``kneser_ney/grams`` (int32, n x order) and ``kneser_ney/counts``
        (int64): the n-gram counts the Kneser-Ney model is rebuilt from, and ``staged``
        (JSON) when :meth:`set_params` set parameters aside for the next fit.

        Parameters
        ----------
        path : str or os.PathLike
            The file to write (a path, not an open file)."""
        self._check_fitted()
        _write_npz(path, self._arrays())

    @classmethod
    def load(cls, path: str | os.PathLike[str]) -> LanguageModel:
        """Read a model written by :meth:`save`; training can continue from it.

        Parameters
        ----------
        path : str or os.PathLike
            The file to read.

        Returns
        -------
        LanguageModel
            The model as saved: weights, vocabulary, optimizer state, history and
            Kneser-Ney counts.

        Raises
        ------
        ValueError
            For anything but a file written by :meth:`save`, naming the file.
        FileNotFoundError
            For a missing file."""
        return cls._from_arrays(read_npz(path, FORMAT, "msopt LanguageModel"),
                                os.fspath(path))

    @classmethod
    def _from_arrays(cls, a: dict[str, np.ndarray], name: str) -> LanguageModel:
        def bad(msg: str) -> ValueError:
            return ValueError(f"{name}: {msg}")

        try:
            params = json.loads(str(a["params"]))
            state = json.loads(str(a["state"]))
            model = cls(**params)
            vocab = [str(t) for t in state["vocab"]]
            counts = np.ascontiguousarray(a["counts"], np.int64)
            if counts.shape != (len(vocab),) or vocab[:3] != list(SPECIALS):
                raise ValueError("the vocabulary and its counts disagree")
            model._set_vocab(vocab, counts)
            want = model._init_params(len(vocab))
            ps = []
            for i, w in enumerate(want):
                p = a[f"param/{i}"]
                if p.shape != w.shape or p.dtype != w.dtype:
                    raise ValueError(f"param/{i}: expected {w.dtype} {w.shape}, got "
                                     f"{p.dtype} {p.shape}")
                ps.append(np.array(p, order="C"))
            opt = model._make_optimizer(ps)
            flat = {k[len("optimizer/"):]: v for k, v in a.items()
                    if k.startswith("optimizer/")}
            opt.load_state_dict(unflatten_state_dict(flat))
            model.params_, model.optimizer_ = ps, opt
            model.history_ = list(state["history"])
            model.stop_reason_ = str(state["stop_reason"])
            model.epochs_ = int(state["epochs"])
            set_staged(model, a)
            # the counts as fitted (kneser_ney may have been set to another order since, as
            # any parameter); a file without counts (an earlier msopt) has none
            model.kneser_ney_ = None
            if "kneser_ney/grams" in a:
                model.kneser_ney_ = _core.KneserNey(np.asarray(a["kneser_ney/grams"]),
                                                    np.asarray(a["kneser_ney/counts"]),
                                                    len(vocab))
        except (KeyError, TypeError, ValueError, IndexError, json.JSONDecodeError) as e:
            raise bad(f"not a valid LanguageModel file ({e})") from None
        return model

    def __getstate__(self) -> dict[str, Any]:
        if not hasattr(self, "params_"):
            return {"init": self.get_params()}
        # callbacks are code, which a file does not keep, but a pickle does
        return {"arrays": self._arrays(), "callbacks": self.callbacks}

    def __setstate__(self, state: dict[str, Any]) -> None:
        if "init" in state:
            self.__init__(**state["init"])  # type: ignore[misc]
            return
        other = type(self)._from_arrays(state["arrays"], "pickle")
        self.__dict__.update(other.__dict__)
        self.callbacks = state.get("callbacks")


def _optimizer(name: str, params: list[np.ndarray], lr: float) -> Optimizer:
    return make_optimizer(name, params, lr)


def _write_npz(path: str | os.PathLike[str], arrays: dict[str, np.ndarray]) -> None:
    """np.savez through msopt's atomic writer: a crash leaves the old file or the new one,
    never part of one."""
    with atomic_write(check_path(path)) as f:
        np.savez(f, **arrays)  # type: ignore[arg-type]

