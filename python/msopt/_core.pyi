# Typed stub for msopt's native module.  tests/test_package.py checks it names exactly
# what the module defines.
import enum
from typing import Any

import numpy as np
import numpy.typing as npt

MAX_STATE_SLOTS: int

def get_num_threads() -> int: ...
def set_num_threads(n: int) -> None: ...
def blas_kernels() -> str: ...
def blas_config() -> str: ...
def isa() -> str: ...
def available_isas() -> list[str]: ...
def set_isa(name: str) -> None: ...
def parallel_for_test(nt: int, raise_on: int = -1) -> list[int]: ...
class Algo(enum.IntEnum):
    SGD = 0
    ADAM = 1
    ADAMW = 2
    ADAGRAD = 3
    RMSPROP = 4
    LION = 5

class ScheduleKind(enum.IntEnum):
    CONSTANT = 0
    LINEAR = 1
    STEP = 2
    EXPONENTIAL = 3
    WARMUP_COSINE = 4

class Schedule:
    """The rate at step k (msopt/optim/schedule.hpp):
    CONSTANT base; LINEAR max(base - (base - end) * (k / total), floor);
    STEP base * gamma ** floor(k / step_size); EXPONENTIAL base * gamma ** k;
    WARMUP_COSINE base * k / warmup (k < warmup), floor (k >= total), else
    floor + (base - floor) * (1 + cos(pi * (k - warmup) / (total - warmup))) / 2."""

    def __init__(
        self,
        kind: ScheduleKind = ...,
        *,
        base: float = 1.0,
        end: float = 0.0,
        floor: float = 0.0,
        total: float = 1.0,
        warmup: float = 0.0,
        gamma: float = 1.0,
        step_size: int = 1,
    ) -> None: ...
    @property
    def kind(self) -> ScheduleKind: ...
    @property
    def base(self) -> float: ...
    @property
    def end(self) -> float: ...
    @property
    def floor(self) -> float: ...
    @property
    def total(self) -> float: ...
    @property
    def warmup(self) -> float: ...
    @property
    def gamma(self) -> float: ...
    @property
    def step_size(self) -> int: ...
    def at(self, k: float) -> float: ...
    def rates(self, start: int, stop: int) -> npt.NDArray[np.float64]: ...

def optimizer_step(
    algo: Algo,
    params: list[npt.NDArray[np.floating]],
    grads: list[object],
    states: list[npt.NDArray[Any] | None],
    steps: npt.NDArray[np.int64],
    hypers: list[tuple[float | bool, ...]],
    group_sizes: list[int],
    max_norm: float,
    check_finite: bool,
    compress: tuple[int, int, int, list[npt.NDArray[np.float32]]] | None = None,
) -> tuple[bool, float, float]: ...
def stream7(
    p: npt.NDArray[np.float32],
    g: npt.NDArray[np.float32],
    m: npt.NDArray[np.float32] | npt.NDArray[np.uint16] | npt.NDArray[np.uint8],
    v: npt.NDArray[np.float32] | npt.NDArray[np.uint16] | npt.NDArray[np.uint8],
) -> None: ...
class Loss(enum.IntEnum):
    SQUARED = 0
    HUBER = 1
    LOGISTIC = 2
    SOFTMAX = 3
    HINGE = 4

class LinearRunOptions:
    loss: Loss
    huber_eps: float
    batch_size: int
    epochs: int
    epoch0: int
    seed: int
    shuffle: bool
    l2: float
    l1: float
    schedule: Schedule
    schedule_origin: int
    first_batch: int
    max_batches: int
    carry: float
    def __init__(
        self,
        *,
        loss: Loss = ...,
        huber_eps: float = 1.35,
        batch_size: int = 32,
        epochs: int = 1,
        epoch0: int = 0,
        seed: int = 0,
        shuffle: bool = True,
        l2: float = 0.0,
        l1: float = 0.0,
        schedule: Schedule = ...,
        schedule_origin: int = 0,
    ) -> None: ...

def linear_run(
    X: npt.NDArray[np.floating],
    indptr: npt.NDArray[np.int64] | None,
    indices: npt.NDArray[np.int64] | None,
    y: npt.NDArray[np.floating] | None,
    labels: npt.NDArray[np.int64] | None,
    sample_weight: npt.NDArray[np.floating] | None,
    W: npt.NDArray[np.floating],
    b: npt.NDArray[np.floating] | None,
    optimizer: Any,
    options: LinearRunOptions,
) -> tuple[npt.NDArray[np.float64], bool, int, int, float]: ...
def linear_forward(
    X: npt.NDArray[np.floating],
    indptr: npt.NDArray[np.int64] | None,
    indices: npt.NDArray[np.int64] | None,
    W: npt.NDArray[np.floating],
    b: npt.NDArray[np.floating] | None,
) -> npt.NDArray[np.floating]: ...
def linear_loss_grad(
    X: npt.NDArray[np.floating],
    indptr: npt.NDArray[np.int64] | None,
    indices: npt.NDArray[np.int64] | None,
    y: npt.NDArray[np.floating] | None,
    labels: npt.NDArray[np.int64] | None,
    sample_weight: npt.NDArray[np.floating] | None,
    W: npt.NDArray[np.floating],
    b: npt.NDArray[np.floating] | None,
    loss: Loss,
    huber_eps: float,
) -> tuple[float, npt.NDArray[np.floating], npt.NDArray[np.floating]]: ...
def epoch_permutation(seed: int, epoch: int, n: int) -> npt.NDArray[np.int64]: ...
def linear_tile_max(n: int | None = None) -> int: ...
def embedding_bag_forward(
    table: npt.NDArray[np.floating],
    ids: npt.NDArray[np.int64],
    offsets: npt.NDArray[np.int64],
    per_sample_weights: npt.NDArray[np.floating] | None,
    mode: int,
) -> npt.NDArray[np.floating]: ...
def embedding_bag_backward(
    grad_out: npt.NDArray[np.floating],
    ids: npt.NDArray[np.int64],
    offsets: npt.NDArray[np.int64],
    per_sample_weights: npt.NDArray[np.floating] | None,
    mode: int,
    num_embeddings: int,
) -> npt.NDArray[np.floating]: ...
def embedding_bag_backward_merged(
    grad_out: npt.NDArray[np.floating],
    ids: npt.NDArray[np.int64],
    offsets: npt.NDArray[np.int64],
    per_sample_weights: npt.NDArray[np.floating] | None,
    mode: int,
    num_embeddings: int,
) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.floating]]: ...

class Vocab:
    def __init__(self) -> None: ...
    def count(self, lines: list[str]) -> None: ...
    def finalize(self, min_count: int, max_vocab: int) -> int: ...
    def encode(
        self, lines: list[str], ngrams: int = 1, buckets: int = 0, threads: int = 1
    ) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.int64]]: ...
    def encode_texts(
        self, texts: list[Any], lower: bool, ngrams: int = 1, buckets: int = 0,
        threads: int = 1
    ) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.int64]] | None: ...
    def encode_tokens(
        self, docs: list[Any]
    ) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.int64], int] | None: ...
    def id(self, word: str) -> int: ...
    def __len__(self) -> int: ...
    @property
    def words(self) -> list[str]: ...
    @property
    def counts(self) -> npt.NDArray[np.int64]: ...
    @property
    def total_tokens(self) -> int: ...
    @property
    def built(self) -> bool: ...
    def assign(self, words: list[str], counts: list[int], total_tokens: int) -> None: ...

def fnv1a(s: str) -> int: ...
class RaggedIds:
    """A private, checked copy of ids back to back (each below rows) and their starts:
    a corpus for the chunked training calls."""

    def __init__(self, ids: npt.NDArray[np.int64], offsets: npt.NDArray[np.int64],
                 rows: int) -> None: ...
    @property
    def rows(self) -> int: ...
    def __len__(self) -> int: ...

class Word2VecSampler:
    def __init__(self, counts: npt.NDArray[np.int64], sample: float) -> None: ...
    @property
    def size(self) -> int: ...
    @property
    def sample(self) -> float: ...

def word2vec_train_chunk(
    corpus: RaggedIds,
    counts: npt.NDArray[np.int64] | Word2VecSampler,
    syn0: npt.NDArray[np.float32],
    syn1: npt.NDArray[np.float32],
    window: int,
    negative: int,
    sample: float,
    alpha: float,
    min_alpha: float,
    epochs: int,
    seed: int,
    threads: int,
    resume: npt.NDArray[np.int64],
    chunk: int,
    sg: bool = True,
    cbow_mean: bool = True,
    table_sigmoid: bool = False,
    compute_loss: bool = True,
    deterministic: bool = False,
    round_words: int = 8192,
) -> tuple[npt.NDArray[np.float64], int, int, int, int]: ...
def fasttext_train_chunk(
    corpus: RaggedIds,
    labels: npt.NDArray[np.int32],
    input: npt.NDArray[np.float32],
    output: npt.NDArray[np.float32],
    loss: str,
    class_weights: npt.NDArray[np.float64] | None,
    neg: int,
    lr: float,
    epochs: int,
    seed: int,
    threads: int,
    deterministic: bool,
    resume: npt.NDArray[np.int64],
    chunk: int,
    label_offsets: npt.NDArray[np.int64] | None = None,
) -> tuple[npt.NDArray[np.float64], int, int]: ...
def frozen_scores(
    h: npt.NDArray[np.float32], rows: npt.NDArray[np.float32]
) -> npt.NDArray[np.float32]: ...
def word2vec_train(
    ids: npt.NDArray[np.int64],
    offsets: npt.NDArray[np.int64],
    counts: npt.NDArray[np.int64],
    syn0: npt.NDArray[np.float32],
    syn1: npt.NDArray[np.float32],
    window: int,
    negative: int,
    sample: float,
    alpha: float,
    min_alpha: float,
    epochs: int,
    seed: int,
    threads: int,
    sg: bool = True,
    cbow_mean: bool = True,
    table_sigmoid: bool = False,
    compute_loss: bool = True,
    deterministic: bool = False,
    round_words: int = 8192,
    freeze_input: bool = False,
    freeze_output: bool = False,
) -> tuple[npt.NDArray[np.float64], int, int]: ...
class Doc2VecSampler:
    def __init__(self, counts: npt.NDArray[np.int64], sample: float) -> None: ...
    @property
    def size(self) -> int: ...
    @property
    def sample(self) -> float: ...

def doc2vec_train(
    ids: npt.NDArray[np.int64],
    offsets: npt.NDArray[np.int64],
    tags: npt.NDArray[np.int64],
    tag_offsets: npt.NDArray[np.int64],
    counts: npt.NDArray[np.int64] | Doc2VecSampler,
    vectors: npt.NDArray[np.float32],
    syn1: npt.NDArray[np.float32],
    window: int,
    negative: int,
    sample: float,
    alpha: float,
    min_alpha: float,
    seed: int,
    threads: int,
    dm: bool,
    dbow_words: bool,
    epoch: int,
    epochs: int,
    first_doc: int,
    words_before: int,
    total_words: int,
    compute_loss: bool = True,
    deterministic: bool = False,
    round_words: int = 8192,
) -> tuple[float, int, int]: ...
def doc2vec_infer(
    ids: npt.NDArray[np.int64],
    offsets: npt.NDArray[np.int64],
    counts: npt.NDArray[np.int64] | Doc2VecSampler,
    words: npt.NDArray[np.float32],
    syn1: npt.NDArray[np.float32],
    window: int,
    negative: int,
    sample: float,
    alpha: float,
    min_alpha: float,
    seed: int,
    threads: int,
    dm: bool,
    epochs: int,
    max_epochs: int,
    tol: float = 0.0,
) -> tuple[
    npt.NDArray[np.float32], npt.NDArray[np.int32], npt.NDArray[np.float64],
    npt.NDArray[np.bool_],
]: ...
def fasttext_train(
    ids: npt.NDArray[np.int64],
    offsets: npt.NDArray[np.int64],
    labels: npt.NDArray[np.int32],
    input: npt.NDArray[np.float32],
    output: npt.NDArray[np.float32],
    loss: str,
    class_weights: npt.NDArray[np.float64] | None,
    neg: int,
    lr: float,
    epochs: int,
    seed: int,
    threads: int,
    deterministic: bool = False,
    label_offsets: npt.NDArray[np.int64] | None = None,
) -> npt.NDArray[np.float64]: ...
def fasttext_predict_proba(
    ids: npt.NDArray[np.int64],
    offsets: npt.NDArray[np.int64],
    input: npt.NDArray[np.float32],
    output: npt.NDArray[np.float32],
    loss: str,
) -> npt.NDArray[np.float32]: ...
def loss_grad(
    kind: str,
    scores: npt.NDArray[np.floating[Any]],
    targets: npt.NDArray[Any] | None = None,
    *,
    huber_eps: float = 1.35,
    log_q: npt.NDArray[np.floating[Any]] | None = None,
    remove_accidental_hits: bool = False,
    table_sigmoid: bool = False,
) -> tuple[float, npt.NDArray[np.floating[Any]]]: ...
def sample_classes(
    weights: npt.NDArray[np.float64], n: int, seed: int = 0, exclude: int = -1
) -> npt.NDArray[np.int64]: ...

# -- the language model (msopt/models/lm.hpp) -----------------------------------------------
class LmActivation(enum.IntEnum):
    TANH = 0
    RELU = 1

class LmShape:
    """A language model's architecture: parameters E (vocab, dim), W1 (context*dim,
    hidden1), b1, [W2 (hidden1, hidden2), b2], O (vocab, top + direct*context*dim), bo,
    [G (ngram_size,): the hashed n-gram part, when ngram > 0]."""

    def __init__(
        self,
        *,
        vocab: int,
        dim: int,
        context: int,
        hidden1: int,
        hidden2: int = 0,
        direct: bool = False,
        act: LmActivation = ...,
        ngram: int = 0,
        ngram_size: int = 0,
    ) -> None: ...
    @property
    def vocab(self) -> int: ...
    @property
    def dim(self) -> int: ...
    @property
    def context(self) -> int: ...
    @property
    def hidden1(self) -> int: ...
    @property
    def hidden2(self) -> int: ...
    @property
    def direct(self) -> bool: ...
    @property
    def act(self) -> LmActivation: ...
    @property
    def ngram(self) -> int: ...
    @property
    def ngram_size(self) -> int: ...

class LmData:
    """A private copy of a token stream (ids below vocab; bos pads the first contexts)."""

    def __init__(
        self, tokens: npt.NDArray[np.integer[Any]], vocab: int, bos: int
    ) -> None: ...
    def __len__(self) -> int: ...

def lm_train(
    data: LmData,
    shape: LmShape,
    optimizer: Any,
    *,
    batch_size: int,
    seed: int,
    epoch: int,
    batch_begin: int,
    batch_end: int,
    schedule: Schedule = ...,
    schedule_origin: int = 0,
    update: int = ...,
    threads: int = 1,
    samples: int = 0,
    sample_weights: npt.NDArray[np.float64] | None = None,
    dropout: float = 0.0,
) -> tuple[float, int, int, int]: ...
def lm_score(
    data: LmData,
    shape: LmShape,
    params: list[npt.NDArray[np.floating[Any]]],
    begin: int,
    end: int,
    *,
    threads: int = 1,
    per_token: bool = False,
) -> Any: ...
def lm_dynamic(
    data: LmData,
    shape: LmShape,
    optimizer: Any,
    begin: int,
    end: int,
    *,
    segment: int,
    steps: int,
    update: int = ...,
    threads: int = 1,
    per_token: bool = False,
) -> tuple[float, int, int, int, npt.NDArray[np.float64] | None]: ...
def lm_generate(
    shape: LmShape,
    params: list[npt.NDArray[np.floating[Any]]],
    contexts: npt.NDArray[np.integer[Any]],
    *,
    max_tokens: int,
    temperature: float = 1.0,
    top_k: int = 0,
    top_p: float = 1.0,
    seed: int = 0,
    stop: int = -1,
    banned: npt.NDArray[np.integer[Any]] | None = None,
    threads: int = 1,
    kneser_ney: KneserNey | None = None,
    kneser_ney_weight: float = 0.5,
) -> tuple[npt.NDArray[np.int32], npt.NDArray[np.int64]]: ...

class KneserNey:
    """An interpolated modified Kneser-Ney n-gram model, built from its order-N counts
    (repeated rows of grams are summed)."""

    def __init__(
        self, grams: npt.NDArray[np.integer[Any]], counts: npt.NDArray[np.int64], vocab: int
    ) -> None: ...
    @staticmethod
    def count_grams(
        data: LmData, order: int
    ) -> tuple[npt.NDArray[np.int32], npt.NDArray[np.int64]]: ...
    @property
    def order(self) -> int: ...
    @property
    def vocab(self) -> int: ...
    @property
    def grams(self) -> npt.NDArray[np.int32]: ...
    @property
    def counts(self) -> npt.NDArray[np.int64]: ...
    def score(
        self, data: LmData, begin: int, end: int, *, threads: int = 1
    ) -> npt.NDArray[np.float64]: ...
    def distribution(self, history: npt.NDArray[np.int64]) -> npt.NDArray[np.float64]: ...
class EncoderPairs:
    """Training pairs of texts as ids (private copies), their targets and the cached epoch
    order."""

    def __init__(
        self,
        a_ids: npt.NDArray[np.int64],
        a_offsets: npt.NDArray[np.int64],
        b_ids: npt.NDArray[np.int64],
        b_offsets: npt.NDArray[np.int64],
        rows: int,
        targets: npt.NDArray[np.float64] | None = None,
    ) -> None: ...
    def __len__(self) -> int: ...

def encoder_train(
    pairs: EncoderPairs,
    optimizer: Any,
    *,
    loss: int,
    temperature: float = 0.05,
    margin: float = 0.5,
    batch_size: int,
    seed: int,
    epoch: int,
    batch_begin: int,
    batch_end: int,
    schedule: Schedule = ...,
    schedule_origin: int = 0,
    threads: int = 1,
) -> tuple[float, int, int, int]: ...
def encoder_loss_grad(
    pairs: EncoderPairs,
    params: list[npt.NDArray[np.float32]],
    positions: npt.NDArray[np.int64],
    *,
    loss: int,
    temperature: float = 0.05,
    margin: float = 0.5,
    threads: int = 1,
) -> tuple[
    float,
    npt.NDArray[np.int64],
    npt.NDArray[np.float32],
    npt.NDArray[np.float32] | None,
    npt.NDArray[np.float32] | None,
]: ...
def encoder_encode(
    params: list[npt.NDArray[np.float32]],
    ids: npt.NDArray[np.int64],
    offsets: npt.NDArray[np.int64],
    *,
    threads: int = 1,
) -> npt.NDArray[np.float32]: ...
def encoder_encode_texts(
    params: list[npt.NDArray[np.float32]],
    vocab: Vocab,
    texts: list[Any],
    lower: bool,
    ngrams: int = 1,
    buckets: int = 0,
    *,
    threads: int = 1,
) -> npt.NDArray[np.float32] | None: ...
def encoder_read_floor(
    params: list[npt.NDArray[np.float32]],
    ids: npt.NDArray[np.int64],
    offsets: npt.NDArray[np.int64],
    *,
    threads: int = 1,
) -> float: ...
def search_merge_rows(
    X: npt.NDArray[np.floating[Any]],
    Q: npt.NDArray[np.floating[Any]],
    row0: int,
    row1: int,
    best_scores: npt.NDArray[np.floating[Any]],
    best_ids: npt.NDArray[np.int64],
    *,
    block: int,
    query_block: int,
    threads: int = 1,
) -> None: ...
