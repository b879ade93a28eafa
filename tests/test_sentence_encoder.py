"""The sentence encoder: native loops against the NumPy twin (msopt.reference.encoder),
the model's API, bad input, files."""

from __future__ import annotations

import pickle

import numpy as np
import pytest

from msopt import _core
from msopt.exceptions import NotFittedError
from msopt.models.sentence_encoder import SentenceEncoder, tokenize
from msopt.optim import SGD, Adam
from msopt.reference import encoder as ref
from msopt.reference.optim import init_state

LOSS_CODES = {"in_batch": 0, "cosine": 1, "logistic": 2, "contrastive": 3}


def _ragged(rng: np.random.Generator, n: int, rows: int, empty: float = 0.15
            ) -> tuple[np.ndarray, np.ndarray]:
    lens = rng.integers(1, 9, n)
    lens[rng.random(n) < empty] = 0
    offsets = np.concatenate([[0], np.cumsum(lens)[:-1]]).astype(np.int64)
    ids = rng.integers(0, rows, int(lens.sum())).astype(np.int64)
    return ids, offsets


def _case(seed: int, n: int, rows: int = 40, dim: int = 19, out: int | None = 13,
          loss: str = "in_batch"):
    rng = np.random.default_rng(seed)
    a, b = _ragged(rng, n, rows), _ragged(rng, n, rows)
    targets = None
    if loss == "cosine":
        targets = rng.random(n)
    elif loss in ("logistic", "contrastive"):
        targets = rng.integers(0, 2, n).astype(np.float64)
    params = [rng.standard_normal((rows, dim)).astype(np.float32)]
    if out is not None:
        params += [(rng.standard_normal((dim, out)) * 0.3).astype(np.float32),
                   (rng.standard_normal(out) * 0.1).astype(np.float32)]
    return a, b, targets, params


def _coalesced(rows: np.ndarray, vals: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    from msopt.reference.optim import coalesce_rows

    return coalesce_rows(rows, vals)


@pytest.mark.parametrize("loss", list(LOSS_CODES))
@pytest.mark.parametrize("B", [1, 2, 17])
@pytest.mark.parametrize("out", [None, 13])
def test_loss_and_gradients_match_reference(loss, B, out):
    a, b, targets, params = _case(B * 7 + len(loss), 23, out=out, loss=loss)
    pairs = _core.EncoderPairs(*a, *b, params[0].shape[0], targets)
    pos = np.random.default_rng(B).permutation(23)[:B].astype(np.int64)
    kw = {"temperature": 0.3, "margin": 0.2}
    got = _core.encoder_loss_grad(pairs, params, pos, loss=LOSS_CODES[loss], **kw)
    want, grads = ref.loss_grad(params, a, b, targets, pos, loss=loss, **kw)
    assert got[0] == pytest.approx(want, rel=2e-5, abs=1e-6)
    rows, vals = _coalesced(*grads[0])
    np.testing.assert_array_equal(got[1], rows)
    np.testing.assert_allclose(got[2], vals, rtol=1e-4, atol=2e-6)
    if out is None:
        assert got[3] is None
        assert got[4] is None
    else:
        np.testing.assert_allclose(got[3], grads[1], rtol=1e-4, atol=2e-6)
        np.testing.assert_allclose(got[4], grads[2], rtol=1e-4, atol=2e-6)


@pytest.mark.parametrize("out", [None, 5])
def test_encode_matches_reference(out):
    rng = np.random.default_rng(3)
    ids, offsets = _ragged(rng, 37, 30, empty=0.3)
    params = [rng.standard_normal((30, 11)).astype(np.float32)]
    if out:
        params += [rng.standard_normal((11, out)).astype(np.float32),
                   np.zeros(out, np.float32)]
    got = _core.encoder_encode(params, ids, offsets, threads=1)
    np.testing.assert_allclose(got, ref.encode(params, ids, offsets), rtol=1e-5, atol=1e-6)
    assert got.dtype == np.float32
    empty = np.diff(np.append(offsets, len(ids))) == 0
    assert (got[empty] == 0).all()
    np.testing.assert_allclose((got[~empty] ** 2).sum(1), 1, atol=1e-5)
    np.testing.assert_array_equal(got, _core.encoder_encode(params, ids, offsets, threads=2))
    none = _core.encoder_encode(params, np.zeros(0, np.int64), np.zeros(0, np.int64))
    assert none.shape == (0, out or 11)


@pytest.mark.parametrize("threads", [1, 2])
def test_encode_checks_each_chunk_it_reads(threads):
    # 2,000 texts of dim 64 (work enough for two workers): chunks of 256 texts, each copied
    # and checked by its worker; a refusal, wherever the bad value lies (in a middle or the
    # last chunk, at a chunk's first offset), names it as a check of the whole arrays does.
    rng = np.random.default_rng(8)
    ids, offsets = _ragged(rng, 2000, 30, empty=0.1)
    params = [rng.standard_normal((30, 64)).astype(np.float32)]
    want = ref.encode(params, ids, offsets)
    got = _core.encoder_encode(params, ids, offsets, threads=threads)
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6)
    np.testing.assert_array_equal(got, _core.encoder_encode(params, ids, offsets, threads=1))
    ids_before, offsets_before = ids.copy(), offsets.copy()
    for j in (int(offsets[300]), len(ids) - 3):
        for bad in (30, -1):
            b = ids.copy()
            b[j] = bad
            with pytest.raises(IndexError, match=rf"ids\[{j}\] = {bad} is out of range for "
                                                 "the encoder's table"):
                _core.encoder_encode(params, b, offsets, threads=threads)
    cases = [(600, "decrease", r"offsets: must be non-decreasing \(offsets\[600\]"),
             (256, -1, r"offsets: must be non-decreasing \(offsets\[256\] = -1"),
             (256, len(ids) + 5, "runs past the"),
             (100, np.iinfo(np.int64).max, r"offsets: must be non-decreasing \(offsets\[101\]"),
             (len(offsets) - 1, len(ids) + 1, "runs past the"),
             (0, 1, "offsets: must start at 0, got 1")]
    for at, value, match in cases:
        o = offsets.copy()
        if value == "decrease":
            o[at] = o[at - 1] - 1
        elif at in (256,) and value == len(ids) + 5:
            o[at:] = value
        else:
            o[at] = value
        with pytest.raises(ValueError, match=match):
            _core.encoder_encode(params, ids, o, threads=threads)
    with pytest.raises(ValueError, match="offsets: empty, but there are"):
        _core.encoder_encode(params, ids, np.zeros(0, np.int64), threads=threads)
    with pytest.raises(TypeError, match="ids"):
        _core.encoder_encode(params, ids.astype(np.int32), offsets, threads=threads)
    np.testing.assert_array_equal(ids, ids_before)  # read, never written
    np.testing.assert_array_equal(offsets, offsets_before)


@pytest.mark.parametrize("dim", [1, 3, 4, 7, 12, 15, 16, 17, 27, 31, 63, 64, 65, 76, 100, 127,
                                 128, 129, 140, 255, 256, 257, 300])
@pytest.mark.parametrize("isa", _core.available_isas())
def test_bag_mean_and_normalize_bits(dim, isa):
    """encode without projection, bit for bit against the kernels' order written out: each
    column summed row after row from 0, times 1 / count, then divided by the dot16 norm.
    The dims straddle the column blocks (8 wide vectors: 128 columns on AVX-512, 64 on
    AVX2 and the baseline), the number of wide vectors in the last block, and its tail of
    8, 4 and single columns; the table's last row is read too."""
    from msopt.reference.models import _dot16

    rng = np.random.default_rng(dim)
    rows = int(rng.integers(1, 4))
    E = rng.standard_normal((rows, dim)).astype(np.float32)
    ids, offsets = _ragged(rng, 23, rows, empty=0.2)
    ids[-3:] = rows - 1
    want = np.zeros((len(offsets), dim), np.float32)
    for i, (lo, hi) in enumerate(zip(offsets, np.append(offsets[1:], len(ids)))):
        if hi == lo:
            continue
        h = np.zeros(dim, np.float32)
        for j in ids[lo:hi]:
            h = h + E[j]
        h = h * (np.float32(1) / np.float32(hi - lo))
        n = np.sqrt(_dot16(h, h))
        want[i] = h * (np.float32(1) / n) if n > 0 else 0
    before = _core.isa()
    try:
        _core.set_isa(isa)
        got = _core.encoder_encode([E], ids, offsets, threads=1)
    finally:
        _core.set_isa(before)
    np.testing.assert_array_equal(got, want)


@pytest.mark.parametrize("lower", [True, False])
@pytest.mark.parametrize("ngrams", [1, 2])
def test_ascii_texts_take_the_native_tokenizer_with_the_same_ids(lower, ngrams, monkeypatch):
    """A list of ASCII str is tokenized natively ([A-Za-z0-9] runs): the same ids and
    vectors as the lines msopt tokenizes in Python, chunk by chunk; a chunk with another
    character, and every other input, takes the Python path."""
    from msopt.models import sentence_encoder as se

    rng = np.random.default_rng(ngrams)
    pieces = ["The", "cat", "SAT", "on", "a", "mat", "42", "x9", "don't", "e-mail", "_u_",
              "", " ", "\t", "\x00", "!?", "A.B", "\x7f", "zebra"]
    texts = ["".join(rng.choice(pieces, int(k)) + " " * int(rng.integers(0, 2)))
             for k in rng.integers(0, 12, 400)]
    enc = SentenceEncoder(dim=8, epochs=1, threads=1, lower=lower, ngrams=ngrams,
                          buckets=97, min_count=1).fit(texts[:200], texts[200:])
    lines = enc._lines(texts, "texts")
    want_ids = enc._ids(enc.vocab_, lines)
    got_ids = enc.vocab_._core.encode_texts(texts, lower, ngrams, 97 if ngrams > 1 else 0, 2)
    np.testing.assert_array_equal(got_ids[0], want_ids[0])
    np.testing.assert_array_equal(got_ids[1], want_ids[1])
    want = enc._encode_lines(lines)
    monkeypatch.setattr(se, "_ENCODE_CHUNK", 64)
    np.testing.assert_array_equal(enc.encode(texts), want)
    # a non-ASCII text in the last chunk: every chunk through the Python path, same result
    mixed = texts[:-1] + ["caf\u00e9 " + texts[-1]]
    np.testing.assert_array_equal(enc.encode(mixed), enc._encode_lines(enc._lines(mixed, "t")))
    assert enc.vocab_._core.encode_texts(mixed, lower, 1, 0, 1) is None
    assert enc.vocab_._core.encode_texts(tuple(texts), lower, 1, 0, 1) is None
    assert enc.vocab_._core.encode_texts(texts[:3] + [["a"]], lower, 1, 0, 1) is None
    # 9,400 texts: slices of 4,096 or more on two threads, merged in order
    many = texts * 23 + texts[:-200]
    want_ids = enc._ids(enc.vocab_, enc._lines(many, "texts"))
    for threads in (1, 2):
        got_ids = enc.vocab_._core.encode_texts(many, lower, ngrams, 97 if ngrams > 1 else 0,
                                                threads)
        np.testing.assert_array_equal(got_ids[0], want_ids[0])
        np.testing.assert_array_equal(got_ids[1], want_ids[1])
    np.testing.assert_array_equal(enc.similarity(texts[:50], texts[50:100]),
                                  np.einsum("ij,ij->i", want[:50], want[50:100]))
    with pytest.raises(ValueError, match="^b_texts: expected 2 texts"):
        enc.similarity(texts[:2], texts[:3])
    with pytest.raises(TypeError, match=r"^texts\[1\]: "):
        enc.encode(["a", 3])


@pytest.mark.parametrize("lower", [True, False])
def test_native_tokenizer_on_every_ascii_byte(lower):
    """Every ASCII byte, those beside the ranges 0-9, A-Z and a-z included ('/', ':', '@',
    '[', '`', '{'), in texts of 0 to 70 bytes (whole blocks of 16 bytes and tails): the
    native tokens are the Python tokenizer's."""
    rng = np.random.default_rng(int(lower))
    chars = [chr(c) for c in range(128)]
    edges = list("/09:@AZ[`az{")
    texts = ["".join(rng.choice(chars + edges * 8, int(k))) for k in rng.integers(0, 71, 600)]
    enc = SentenceEncoder(dim=4, epochs=1, threads=1, lower=lower, ngrams=2, buckets=31,
                          min_count=1).fit(texts[:300], texts[300:])
    want = enc._ids(enc.vocab_, enc._lines(texts, "texts"))
    got = enc.vocab_._core.encode_texts(texts, lower, 2, 31, 1)
    assert len(want[0]) > 1000
    np.testing.assert_array_equal(got[0], want[0])
    np.testing.assert_array_equal(got[1], want[1])


@pytest.mark.parametrize("project", [False, True])
@pytest.mark.parametrize("ngrams", [1, 2])
def test_encode_from_texts_in_one_pass_gives_the_bits_of_the_two_calls(project, ngrams):
    """_core.encoder_encode_texts is the vocabulary's encode_texts then encoder_encode, made
    a chunk of 256 texts at a time on each worker: the same bits for 0, 1, 17 and 2,900
    texts (chunks and a tail, on one and two threads), lower-cased or not; None for what
    encode_texts refuses."""
    rng = np.random.default_rng(10 + ngrams)
    pieces = ["The", "cat", "SAT", "on", "a", "mat", "42", "x9", "don't", "e-mail", "_u_",
              "", " ", "\t", "!?", "A.B", "zebra", "Hippopotamuses", "ab" * 20]
    texts = ["".join(rng.choice(pieces, int(k))) for k in rng.integers(0, 14, 2900)]
    buckets = 97 if ngrams > 1 else 0
    enc = SentenceEncoder(dim=33, projection=7 if project else None, epochs=1, threads=1,
                          ngrams=ngrams, buckets=97, min_count=1).fit(texts[:200],
                                                                      texts[200:400])
    vocab = enc.vocab_._core
    for n in (0, 1, 17, 2900):
        for lower in (True, False):
            ids, offsets = vocab.encode_texts(texts[:n], lower, ngrams, buckets, 1)
            want = _core.encoder_encode(enc.params_, ids, offsets, threads=1)
            for threads in (1, 2):
                got = _core.encoder_encode_texts(enc.params_, vocab, texts[:n], lower, ngrams,
                                                 buckets, threads=threads)
                assert got.dtype == np.float32
                assert got.shape == (n, 7 if project else 33)
                np.testing.assert_array_equal(got, want)
    assert _core.encoder_encode_texts(enc.params_, vocab, texts[:3] + ["caf\u00e9"], True,
                                      ngrams, buckets) is None
    assert _core.encoder_encode_texts(enc.params_, vocab, tuple(texts[:3]), True, ngrams,
                                      buckets) is None
    assert _core.encoder_encode_texts(enc.params_, vocab, texts[:3] + [["a"]], True, ngrams,
                                      buckets) is None


def test_encode_from_texts_in_one_pass_refuses_bad_input():
    texts = ["the cat sat", "on the mat", "a dog"] * 4
    enc = SentenceEncoder(dim=8, epochs=1, threads=1, ngrams=2, buckets=11,
                          min_count=1).fit(texts[:6], texts[6:])
    vocab, params = enc.vocab_._core, enc.params_
    before = [p.copy() for p in params]
    rows = len(vocab) + 11
    with pytest.raises(ValueError, match="^threads: must be in"):
        _core.encoder_encode_texts(params, vocab, texts, True, 2, 11, threads=0)
    with pytest.raises(ValueError, match="^ngrams: must be >= 1"):
        _core.encoder_encode_texts(params, vocab, texts, True, 0, 11)
    with pytest.raises(ValueError, match=rf"^params: E has {rows - 1} rows, but the "
                                         rf"vocabulary's ids \({len(vocab)} words and 11 "
                                         rf"buckets\) reach {rows}"):
        _core.encoder_encode_texts([params[0][:-1]], vocab, texts, True, 2, 11)
    with pytest.raises(ValueError, match=rf"\({len(vocab)} words and 12 buckets\)"):
        _core.encoder_encode_texts(params, vocab, texts, True, 2, 12)
    # a bucket count whose sum with the words' wraps around 2**64 is refused, not read
    with pytest.raises(ValueError,
                       match=rf"and {2**64 - 4} buckets\) reach {2**64 - 4 + len(vocab)}$"):
        _core.encoder_encode_texts(params, vocab, texts, True, 2, 2**64 - 4)
    # ngrams 1 makes word ids only: the table's n-gram rows may be left off
    got = _core.encoder_encode_texts([params[0][:len(vocab)]], vocab, texts, True, 1, 11)
    ids, offsets = vocab.encode_texts(texts, True, 1, 0)
    np.testing.assert_array_equal(got, _core.encoder_encode([params[0]], ids, offsets))
    with pytest.raises(ValueError, match="^vocab: build the vocabulary first"):
        _core.encoder_encode_texts(params, _core.Vocab(), texts, True, 2, 11)
    with pytest.raises(TypeError):
        _core.encoder_encode_texts(params, "not a vocabulary", texts, True, 2, 11)
    with pytest.raises(TypeError, match="^E: expected a 2-D C-contiguous float32 array"):
        _core.encoder_encode_texts([params[0].astype(np.float64)], vocab, texts, True, 2, 11)
    for p, b in zip(params, before):
        np.testing.assert_array_equal(p, b)


def _line_starts(E: np.ndarray, row: int) -> list[int]:
    """The flat indices of the floats read_floor loads from a row: its first, then the first
    of each later 64-byte line it reaches into."""
    base, dim = E.ctypes.data, E.shape[1]
    a = base + 4 * row * dim
    return [(s - base) // 4 for s in [a, *range((a // 64 + 1) * 64, a + 4 * dim, 64)]]


@pytest.mark.parametrize("threads", [1, 2])
@pytest.mark.parametrize("dim", [1, 16, 17, 100])
def test_the_bag_read_floor_loads_one_float_of_each_line_of_every_row(threads, dim):
    rng = np.random.default_rng(dim)
    E = rng.integers(-8, 9, (300, dim)).astype(np.float32)  # small integers: exact sums
    ids, offsets = _ragged(rng, 3000, 300)
    flat = E.reshape(-1)
    want = sum(float(flat[k]) for r in ids for k in _line_starts(E, int(r)))
    assert _core.encoder_read_floor([E], ids, offsets, threads=threads) == want
    assert _core.encoder_read_floor([E], ids[:0], offsets[:0]) == 0.0


@pytest.mark.parametrize("shift", [1, 2, 3])
def test_the_bag_read_floor_reads_only_the_rows_of_an_unaligned_table(shift):
    # a float32 table that starts `shift` bytes past a 64-byte line, its bytes all 0, and
    # 0x7f bytes (a huge float) right after it: no load may reach them
    rows, dim = 5, 16
    raw = np.zeros(rows * dim * 4 + 192, np.uint8)
    start = (-raw.ctypes.data) % 64 + 64 + shift
    raw[start + rows * dim * 4:] = 0x7F
    E = np.frombuffer(raw, np.float32, count=rows * dim, offset=start).reshape(rows, dim)
    assert not E.flags.aligned
    ids, offsets = np.arange(rows, dtype=np.int64), np.array([0, 2], np.int64)
    assert _core.encoder_read_floor([E], ids, offsets) == 0.0


def test_the_bag_read_floor_refuses_bad_input():
    rng = np.random.default_rng(3)
    E = rng.standard_normal((10, 4)).astype(np.float32)
    ids, offsets = _ragged(rng, 20, 10)
    with pytest.raises(IndexError, match=r"is out of range for the encoder's table \(a table "
                                         r"of 5 rows\)"):
        _core.encoder_read_floor([E[:5]], ids, offsets)
    with pytest.raises(ValueError, match="^offsets: must start at 0"):
        _core.encoder_read_floor([E], ids, offsets + 1)
    with pytest.raises(ValueError, match="^threads: must be in"):
        _core.encoder_read_floor([E], ids, offsets, threads=0)
    with pytest.raises(TypeError, match="^E: expected a 2-D C-contiguous float32 array"):
        _core.encoder_read_floor([E.astype(np.float64)], ids, offsets)


def _ref_steps(name, hyper, params, a, b, targets, loss, order, bs, steps, kw):
    ps = [p.copy() for p in params]
    states = [init_state(name, p, **{k: v for k, v in hyper.items() if k != "lr"})
              for p in ps]
    counts = [0] * len(ps)
    hypers = [hyper] * len(ps)
    for s in range(steps):
        pos = order[s * bs:(s + 1) * bs]
        _, grads = ref.loss_grad(ps, a, b, targets, pos, loss=loss, **kw)
        assert ref.train_step(name, ps, states, counts, hypers, grads)
    return ps


@pytest.mark.parametrize(("opt", "name", "hyper"), [
    (SGD, "SGD", {"lr": 0.5, "momentum": 0.9}),
    (Adam, "Adam", {"lr": 0.01}),
])
@pytest.mark.parametrize("loss", ["in_batch", "cosine", "logistic"])
def test_steps_through_the_optimizer_engine_match_reference(opt, name, hyper, loss):
    a, b, targets, params = _case(11, 40, loss=loss)
    kw = {"temperature": 0.5, "margin": 0.1}
    n = 40
    bs = 17
    native = [p.copy() for p in params]
    o = opt(native, **hyper)
    pairs = _core.EncoderPairs(*a, *b, params[0].shape[0], targets)
    res = _core.encoder_train(pairs, o.native_state(), loss=LOSS_CODES[loss], batch_size=bs,
                              seed=5, epoch=0, batch_begin=0, batch_end=3, threads=2, **kw)
    assert res[1:] == (n, 3, 0)
    order = np.empty(n, np.int64)
    # the epoch's order is the linear runner's permutation
    order[:] = _order(5, 0, n)
    want = _ref_steps(name, hyper, params, a, b, targets, loss, order, bs, 3, kw)
    for g, w in zip(native, want):
        np.testing.assert_allclose(g, w, rtol=2e-4, atol=2e-5)


def _order(seed: int, epoch: int, n: int) -> np.ndarray:
    """The pairs' order in an epoch: read back through a one-pair batch per step of SGD
    with lr 0 (nothing changes), comparing each step's loss with the per-pair losses."""
    rng = np.random.default_rng(0)
    a, b = _ragged(rng, n, 50, empty=0.0), _ragged(rng, n, 50, empty=0.0)
    targets = rng.random(n) * 100  # distinct losses per pair
    params = [rng.standard_normal((50, 8)).astype(np.float32)]
    pairs = _core.EncoderPairs(*a, *b, 50, targets)
    per = np.array([_core.encoder_loss_grad(pairs, params, np.array([i]), loss=1)[0]
                    for i in range(n)])
    out = []
    for k in range(n):
        o = SGD([params[0]], lr=1e-30)
        loss = _core.encoder_train(pairs, o.native_state(), loss=1, batch_size=1, seed=seed,
                                   epoch=epoch, batch_begin=k, batch_end=k + 1)[0]
        out.append(int(np.argmin(np.abs(per - loss))))
    assert sorted(out) == list(range(n))
    return np.array(out, np.int64)


@pytest.mark.parametrize("loss", ["in_batch", "cosine", "contrastive"])
def test_one_and_two_threads_give_the_same_bits(loss):
    a, b, targets, params = _case(21, 301, rows=500, dim=64, out=48, loss=loss)
    outs = []
    for threads in (1, 2):
        ps = [p.copy() for p in params]
        o = Adam(ps, lr=0.01)
        pairs = _core.EncoderPairs(*a, *b, 500, targets)
        r = _core.encoder_train(pairs, o.native_state(), loss=LOSS_CODES[loss], batch_size=128,
                                seed=1, epoch=0, batch_begin=0, batch_end=3, threads=threads)
        outs.append((r, ps))
    assert outs[0][0] == outs[1][0]
    for p, q in zip(outs[0][1], outs[1][1]):
        np.testing.assert_array_equal(p, q)


# -- the model -----------------------------------------------------------------------------
A = ["a cat sat on the mat", "dogs bark at night", "the sun is hot", "I like green tea",
     "rain falls in spring", "he plays the guitar"] * 8
B = ["a cat is on a mat", "a dog barks at night", "the sun is warm", "she likes tea",
     "spring brings rain", "she plays a piano"] * 8


def test_fit_encode_similarity_in_batch():
    enc = SentenceEncoder(dim=16, epochs=30, batch_size=6, threads=1, ngrams=1)
    enc.fit(A, B)
    assert enc.loss_ == "in_batch"
    assert len(enc.history_) == 30
    assert enc.history_[-1]["train_loss"] < enc.history_[0]["train_loss"]
    U = enc.encode(A[:6])
    assert U.dtype == np.float32
    assert U.shape == (6, 16)
    np.testing.assert_allclose((U * U).sum(1), 1, atol=1e-5)
    S = enc.encode(A[:6]) @ enc.encode(B[:6]).T
    assert (S.argmax(1) == np.arange(6)).all()
    sims = enc.similarity(A[:6], B[:6])
    np.testing.assert_allclose(sims, np.diag(S), rtol=1e-5)


def test_texts_as_str_or_tokens_agree():
    enc = SentenceEncoder(dim=8, epochs=2, threads=1).fit(A, B)
    toks = [tokenize(t) for t in A]
    np.testing.assert_array_equal(enc.encode(A), enc.encode(toks))
    assert tokenize("It's a_b, C-3PO!") == ["it", "s", "a", "b", "c", "3po"]
    # texts that are not all ASCII take the regular expression's path: the same tokens
    mixed = ["Ünïcode CAT_sat, on\tthe mat!", "the   cat", "x\x00y"]
    np.testing.assert_array_equal(enc.encode(mixed), enc.encode([tokenize(t) for t in mixed]))
    ascii_ = ["A cat_SAT, on\tthe mat!", "the   cat"]
    np.testing.assert_array_equal(enc.encode(ascii_), enc.encode([tokenize(t) for t in ascii_]))
    # an unknown word adds no row; a text of nothing known gets zeros
    U = enc.encode(["zzzz", "", "cat zzzz"])
    assert (U[:2] == 0).all()
    assert np.abs(U[2]).sum() > 0


def test_scores_and_labels():
    rng = np.random.default_rng(0)
    scores = rng.random(len(A)) * 4 + 1
    enc = SentenceEncoder(dim=8, epochs=3, threads=1).fit(A, B, scores=scores)
    assert enc.loss_ == "cosine"
    assert enc.score_range_ == (scores.min(), scores.max())
    labels = rng.integers(0, 2, len(A))
    enc2 = SentenceEncoder(dim=8, epochs=3, threads=1, projection=4).fit(A, B, labels=labels)
    assert enc2.loss_ == "contrastive"
    assert enc2.encode(A).shape == (len(A), 4)
    enc3 = SentenceEncoder(dim=8, epochs=3, threads=1, loss="logistic").fit(
        A, B, labels=labels.astype(bool))
    assert enc3.loss_ == "logistic"


def test_fit_repeats_at_a_fixed_seed_any_thread_count():
    fits = [SentenceEncoder(dim=12, projection=10, epochs=3, batch_size=7, threads=t,
                            seed=3).fit(A, B) for t in (1, 2, 2)]
    for f in fits[1:]:
        for p, q in zip(fits[0].params_, f.params_):
            np.testing.assert_array_equal(p, q)


def test_starts_from_word_vectors():
    from msopt import Word2Vec

    w2v = Word2Vec([t.split() for t in A + B], dim=12, min_count=1, epochs=1, threads=1,
                   seed=0)
    enc = SentenceEncoder(word_vectors=w2v, epochs=0).fit(A[:3], B[:3])
    assert enc.params_[0].shape[1] == 12
    i, j = enc.vocab_["cat"], enc.vocab_["dogs"]
    v = w2v.wv.vectors
    E = enc.params_[0]
    # one factor rescales every pretrained row
    np.testing.assert_allclose(E[i] / v[w2v.wv.key_to_index["cat"]],
                               E[j] / v[w2v.wv.key_to_index["dogs"]], rtol=1e-4)
    with pytest.raises(ValueError, match="^dim: "):
        SentenceEncoder(word_vectors=w2v, dim=7).fit(A, B)
    with pytest.raises(TypeError, match="^word_vectors: "):
        SentenceEncoder(word_vectors=object()).fit(A, B)
    from sklearn.base import clone

    # clone copies the models given as parameters unfitted: say so, not "expected a Word2Vec"
    with pytest.raises(ValueError, match="^word_vectors: the Word2Vec is not fitted"):
        clone(SentenceEncoder(word_vectors=w2v)).fit(A, B)


@pytest.mark.parametrize(("args", "kw", "err", "match"), [
    ((A, B[:-1]), {}, ValueError, "^b_texts: "),
    ((A, B), {"scores": np.ones(3)}, ValueError, "^scores: "),
    ((A, B), {"scores": np.full(len(A), 2.0)}, ValueError, "^scores: all equal"),
    ((A, B), {"scores": [np.nan] * len(A)}, ValueError, "^scores: "),
    ((A, B), {"labels": [2] * len(A)}, ValueError, "^labels: "),
    ((A, B), {"labels": [1] * 3}, ValueError, "^labels: "),
    ((A, B), {"labels": [1] * len(A), "scores": [1.0] * len(A)}, ValueError, "^scores, labels"),
    (([], []), {}, ValueError, "^a_texts: "),
    (("a text", "b text"), {}, TypeError, "^a_texts: "),
    ((A, [1] * len(A)), {}, TypeError, r"^b_texts\[0\]: "),
    ((A, [["a b"]] * len(A)), {}, ValueError, r"^b_texts\[0\]: "),
])
def test_bad_input_raises_and_changes_nothing(args, kw, err, match):
    enc = SentenceEncoder(dim=8, epochs=1, threads=1).fit(A, B)
    before = [p.copy() for p in enc.params_]
    with pytest.raises(err, match=match):
        enc.fit(*args, **kw)
    for p, q in zip(before, enc.params_):
        np.testing.assert_array_equal(p, q)
    assert enc.loss_ == "in_batch"


@pytest.mark.parametrize(("kw", "err", "match"), [
    ({"dim": 0}, ValueError, "^dim: "),
    ({"dim": 2.5}, TypeError, "^dim: "),
    ({"loss": "hinge"}, ValueError, "^loss: "),
    ({"temperature": 0}, ValueError, "^temperature: "),
    ({"lr": -1}, ValueError, "^lr: "),
    ({"optimizer": "newton"}, ValueError, "^optimizer: "),
    ({"score_range": (3, 1)}, ValueError, "^score_range: "),
    ({"batch_size": 0}, ValueError, "^batch_size: "),
    ({"threads": 0}, ValueError, "^threads: "),
])
def test_bad_params_are_named(kw, err, match):
    with pytest.raises(err, match=match):
        SentenceEncoder(**kw)


def test_loss_must_fit_the_arguments():
    with pytest.raises(ValueError, match="^loss: "):
        SentenceEncoder(loss="cosine").fit(A, B)
    with pytest.raises(ValueError, match="^loss: "):
        SentenceEncoder(loss="in_batch").fit(A, B, labels=[0, 1] * (len(A) // 2))


def test_not_fitted():
    enc = SentenceEncoder()
    for call in (lambda: enc.encode(A), lambda: enc.similarity(A, B),
                 lambda: enc.save("x.npz")):
        with pytest.raises(NotFittedError):
            call()


def test_similarity_needs_pairs():
    enc = SentenceEncoder(dim=8, epochs=1, threads=1).fit(A, B)
    with pytest.raises(ValueError, match="^b_texts: "):
        enc.similarity(A, B[:2])
    assert enc.similarity([], []).shape == (0,)


def test_save_load_pickle_and_repr(tmp_path):
    enc = SentenceEncoder(dim=8, projection=6, epochs=2, threads=1).fit(
        A, B, scores=np.arange(len(A)) % 5)
    path = tmp_path / "enc.npz"
    enc.save(path)
    for other in (SentenceEncoder.load(path), pickle.loads(pickle.dumps(enc))):
        np.testing.assert_array_equal(other.encode(A), enc.encode(A))
        assert other.score_range_ == enc.score_range_
        assert other.history_ == enc.history_
        assert repr(other) == repr(enc)
    assert repr(enc).startswith("SentenceEncoder(dim=8, projection=6, epochs=2")
    assert "loss_='cosine'" in repr(enc)
    assert repr(SentenceEncoder()) == "SentenceEncoder(dim=None, not fitted)"
    fresh = pickle.loads(pickle.dumps(SentenceEncoder(dim=5)))
    assert fresh.dim == 5
    assert not hasattr(fresh, "params_")
    (tmp_path / "bad.npz").write_bytes(b"nope")
    with pytest.raises(ValueError, match="bad.npz"):
        SentenceEncoder.load(tmp_path / "bad.npz")


def test_nonfinite_loss_stops_before_the_batch_and_changes_nothing():
    a, b, targets, params = _case(5, 30, loss="cosine", out=None)
    params[0][a[0][0]] = np.nan  # a row of the first pair's text
    before = params[0].copy()
    o = Adam(params, lr=0.01)
    pairs = _core.EncoderPairs(*a, *b, params[0].shape[0], targets)
    pos0 = _order(0, 0, 30)  # the first batch holds every pair: the NaN row is read
    assert len(pos0) == 30
    loss, count, batches, status = _core.encoder_train(
        pairs, o.native_state(), loss=1, batch_size=30, seed=0, epoch=0, batch_begin=0,
        batch_end=1)
    assert (count, batches, status) == (0, 0, 1)
    np.testing.assert_array_equal(params[0], before)
    assert o.native_state().steps.tolist() == [0]


@pytest.mark.parametrize("batch_size", [1, 17])
def test_awkward_batch_sizes_fit_and_repeat(batch_size):
    texts = A[:17] + ["", "zz"]  # an empty text and a one-word text among the pairs
    other = B[:17] + ["a cat", ""]
    fits = [SentenceEncoder(dim=9, projection=5, epochs=2, batch_size=batch_size, threads=t,
                            seed=1).fit(texts, other) for t in (1, 2)]
    for p, q in zip(fits[0].params_, fits[1].params_):
        np.testing.assert_array_equal(p, q)
    assert all(np.isfinite(h["train_loss"]) for h in fits[0].history_)


def test_validation_history():
    scores = np.arange(len(A)) % 5
    enc = SentenceEncoder(dim=8, epochs=2, threads=1).fit(A, B, scores=scores,
                                                          validation=(A, B, scores))
    assert [set(h) for h in enc.history_] == [
        {"epoch", "train_loss", "seconds", "pairs_per_sec", "val_pearson"}] * 2
    assert -1 <= enc.history_[-1]["val_pearson"] <= 1
    with pytest.raises(TypeError, match="^validation: "):
        SentenceEncoder().fit(A, B, validation=(A, B))
    with pytest.raises(ValueError, match="^validation: "):
        SentenceEncoder().fit(A, B, validation=(A, B[:3], scores))
    nan = scores.astype(float)
    nan[1] = np.nan
    with pytest.raises(ValueError, match=r"^validation\[2\]: the scores must be finite"):
        SentenceEncoder().fit(A, B, validation=(A, B, nan))
    with pytest.raises(ValueError, match=r"^validation\[2\]: at least two different"):
        SentenceEncoder().fit(A, B, validation=(A, B, np.ones(len(A))))
    with pytest.raises(TypeError, match=r"^validation\[2\]: expected a 1-D array"):
        SentenceEncoder().fit(A, B, validation=(A, B, ["x"] * len(A)))


def test_ctrl_c_returns_quickly_and_keeps_a_consistent_model():
    """Native calls return every ~0.25 s: a KeyboardInterrupt stops the fit within about
    a second, keeping every step completed."""
    import _thread
    import threading
    import time

    rng = np.random.default_rng(0)
    words = [f"w{i}" for i in range(3000)]
    texts = [" ".join(rng.choice(words, 12)) for _ in range(4000)]
    enc = SentenceEncoder(dim=64, projection=64, epochs=100_000, threads=2)
    timer = threading.Timer(0.5, _thread.interrupt_main)
    t0 = time.perf_counter()
    timer.start()
    with pytest.raises(KeyboardInterrupt):
        enc.fit(texts, texts[::-1])
    elapsed = time.perf_counter() - t0
    timer.join()
    assert elapsed < 2.5
    assert enc.stop_reason_ == "interrupted"
    assert np.isfinite(enc.encode(texts[:5])).all()


@pytest.mark.skipif(len(_core.available_isas()) < 2, reason="this CPU runs one kernel path")
@pytest.mark.parametrize("loss", list(LOSS_CODES))
def test_every_instruction_set_gives_the_same_bits(loss):
    a, b, targets, params = _case(8, 70, rows=90, dim=37, out=21, loss=loss)
    saved, results = _core.isa(), []
    try:
        for isa in _core.available_isas():
            _core.set_isa(isa)
            ps = [p.copy() for p in params]
            pairs = _core.EncoderPairs(*a, *b, 90, targets)
            r = _core.encoder_train(pairs, Adam(ps, lr=0.01).native_state(),
                                    loss=LOSS_CODES[loss], batch_size=33, seed=2, epoch=0,
                                    batch_begin=0, batch_end=3, threads=2)
            results.append((r, ps, _core.encoder_encode(ps, *a, threads=2)))
    finally:
        _core.set_isa(saved)
    for r, ps, u in results[1:]:
        assert r == results[0][0]
        for p, q in zip(ps + [u], results[0][1] + [results[0][2]]):
            np.testing.assert_array_equal(p, q)


def test_load_checks_the_members(tmp_path):
    enc = SentenceEncoder(dim=6, epochs=1, threads=1).fit(A, B)
    path = tmp_path / "enc.npz"
    enc.save(path)
    with np.load(path) as f:
        members = dict(f)
    members["param/0"] = members["param/0"][:-1]
    bad = tmp_path / "short.npz"
    np.savez(bad, **members)
    with pytest.raises(ValueError, match="short.npz: .*param/0"):
        SentenceEncoder.load(bad)
    with pytest.raises(FileNotFoundError):
        SentenceEncoder.load(tmp_path / "missing.npz")


def test_docstring_example_runs():
    import doctest

    from msopt.models import sentence_encoder

    assert doctest.testmod(sentence_encoder).failed == 0


def test_a_table_larger_than_memory_is_refused_before_allocation():
    enc = SentenceEncoder(dim=1 << 20, buckets=1 << 40)
    with pytest.raises(MemoryError, match="^SentenceEncoder: .*buckets or dim"):
        enc.fit(["a b"], ["b c"])
    assert not hasattr(enc, "params_")
