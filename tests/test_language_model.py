"""msopt.LanguageModel and its kernel (_core.lm_*) against the NumPy twin
(msopt.reference.language_model) and finite differences."""

from __future__ import annotations

import math
import os
import pickle
from pathlib import Path

import numpy as np
import pytest

import msopt
from msopt import _core
from msopt.reference import language_model as ref
from msopt.reference.optim import init_state

DATA = Path(os.environ.get("MSOPT_DATA", Path(__file__).resolve().parents[2] / "shared" / "data"))
TOL = {np.float32: dict(rtol=2e-4, atol=2e-6), np.float64: dict(rtol=1e-9, atol=1e-12)}

# (vocab, dim, context, hidden, hidden2, direct, act, n tokens)
SHAPES = [
    (2, 1, 1, 1, 0, False, "tanh", 1),      # the smallest model, one position
    (7, 3, 1, 5, 0, False, "tanh", 9),      # context 1
    (11, 4, 3, 8, 0, True, "tanh", 37),     # direct connection, odd count
    (13, 5, 4, 9, 6, False, "relu", 50),    # two hidden layers, ReLU
    (65, 8, 6, 33, 0, True, "relu", 130),   # wider than a 16-lane block
    (9, 3, 2, 4, 3, True, "tanh", 23),      # everything at once
]
ACT = {"tanh": _core.LmActivation.TANH, "relu": _core.LmActivation.RELU}


def make(case, dtype, seed=0):
    V, D, C, H, H2, direct, act, n = case
    rng = np.random.default_rng(seed)
    params = ref.init_params(rng, vocab=V, dim=D, context=C, hidden=H, hidden2=H2,
                             direct=direct, dtype=dtype)
    tokens = rng.integers(0, V, n)
    shape = _core.LmShape(vocab=V, dim=D, context=C, hidden1=H, hidden2=H2, direct=direct,
                          act=ACT[act])
    kw = dict(context=C, bos=V - 1, act=act, direct=direct)
    return params, tokens, shape, kw


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("case", SHAPES, ids=lambda c: "-".join(map(str, c)))
def test_score_matches_reference(case, dtype):
    params, tokens, shape, kw = make(case, dtype)
    data = _core.LmData(tokens, shape.vocab, kw["bos"])
    per = _core.lm_score(data, shape, params, 0, len(tokens), per_token=True, threads=2)
    want = ref.score(params, tokens, 0, len(tokens), **kw)
    np.testing.assert_allclose(per, want, **TOL[dtype])
    total = _core.lm_score(data, shape, params, 0, len(tokens), threads=1)
    assert total == pytest.approx(want.sum(), rel=TOL[dtype]["rtol"])


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("batch", [1, 4, 1000])
@pytest.mark.parametrize("case", SHAPES, ids=lambda c: "-".join(map(str, c)))
def test_one_sgd_step_matches_reference_gradient(case, dtype, batch):
    """A plain SGD step moves every parameter by -lr times the reference gradient of the
    first batch (batch 1 and 4: odd tails; 1000: the whole stream)."""
    params, tokens, shape, kw = make(case, dtype)
    before = [p.copy() for p in params]
    data = _core.LmData(tokens, shape.vocab, kw["bos"])
    lr = 0.5
    opt = msopt.SGD(params, lr=lr)
    loss, count, batches, status = _core.lm_train(
        data, shape, opt.native_state(), batch_size=batch, seed=3, epoch=0, batch_begin=0,
        batch_end=1, threads=2)
    assert status == 0
    assert batches == 1
    pos = _core.epoch_permutation(3, 0, len(tokens))[:min(batch, len(tokens))]
    want_loss, grads = ref.loss_grad(before, tokens, pos, **kw)
    assert loss == pytest.approx(want_loss, rel=TOL[dtype]["rtol"])
    assert count == len(pos)
    expect = [p.copy() for p in before]
    for p, g in zip(expect, grads):
        if isinstance(g, tuple):
            np.add.at(p, g[0], -lr * g[1])
        else:
            p -= dtype(lr) * g
    for name, got, want in zip("E W1 b1 * * O bo".split() if len(params) == 7 else
                               "E W1 b1 O bo".split(), params, expect):
        np.testing.assert_allclose(got, want, **TOL[dtype], err_msg=name)


@pytest.mark.parametrize("case", SHAPES[1:4], ids=lambda c: "-".join(map(str, c)))
def test_gradient_matches_finite_differences(case):
    params, tokens, shape, kw = make(case, np.float64, seed=5)
    pos = np.arange(len(tokens))
    _, grads = ref.loss_grad(params, tokens, pos, **kw)
    # the kernel's gradient, read from one SGD step with lr 1 on a copy
    moved = [p.copy() for p in params]
    data = _core.LmData(tokens, shape.vocab, kw["bos"])
    _core.lm_train(data, shape, msopt.SGD(moved, lr=1.0).native_state(),
                   batch_size=len(tokens), seed=0, epoch=0, batch_begin=0, batch_end=1)
    native = [p - m for p, m in zip(params, moved)]
    rng = np.random.default_rng(1)
    eps = 1e-6
    for i, p in enumerate(params):
        for _ in range(4):
            j = tuple(rng.integers(0, s) for s in p.shape)
            old = p[j]
            p[j] = old + eps
            up = ref.score(params, tokens, 0, len(tokens), **kw).mean()
            p[j] = old - eps
            down = ref.score(params, tokens, 0, len(tokens), **kw).mean()
            p[j] = old
            fd = (up - down) / (2 * eps)
            assert native[i][j] == pytest.approx(fd, rel=1e-5, abs=1e-8), (i, j)
    del grads


@pytest.mark.parametrize(("name", "opts"), [("Adam", {"lr": 0.01}), ("AdamW", {"lr": 0.01}),
                                       ("RMSprop", {"lr": 0.01}),
                                       ("SGD", {"lr": 0.1, "momentum": 0.9})])
def test_steps_through_the_optimizer_engine(name, opts):
    """Three steps with row-sparse E: the engine's rules (reference.optim) on the
    reference gradients, with clipping."""
    case = SHAPES[2]
    params, tokens, shape, kw = make(case, np.float64)
    mine = [p.copy() for p in params]
    opt = getattr(msopt, name)(mine, **opts, max_grad_norm=0.5)
    data = _core.LmData(tokens, shape.vocab, kw["bos"])
    hyper = [{k: v for k, v in g.items() if k not in ("params", "initial_lr")}
             for g in opt.param_groups for _ in g["params"]]
    states = [init_state(name, p, **h) for p, h in zip(params, hyper)]
    steps = [0] * len(params)
    bs = 8
    for b in range(3):
        pos = _core.epoch_permutation(0, 0, len(tokens))[b * bs:(b + 1) * bs]
        _, grads = ref.loss_grad(params, tokens, pos, **kw)
        assert ref.train_step(name, params, states, steps, hyper, grads, 0.5)
    _core.lm_train(data, shape, opt.native_state(), batch_size=bs, seed=0, epoch=0,
                   batch_begin=0, batch_end=3)
    for got, want in zip(mine, params):
        np.testing.assert_allclose(got, want, rtol=1e-8, atol=1e-11)
    assert list(opt.native_state().steps) == [3] * len(params)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("hidden2", [0, 4])
def test_first_layer_table_steps_match_reference(dtype, hidden2):
    """Batches with more rows than the vocabulary train through the first-layer table
    (E W1 per context position, its deltas summed per id): Adam's three steps equal the
    reference's, ids never seen (3 and 4) keep their rows and state, and one thread or two
    give the same bits."""
    V, C = 6, 3
    rng = np.random.default_rng(7)
    params = ref.init_params(rng, vocab=V, dim=3, context=C, hidden=7, hidden2=hidden2,
                             direct=False, dtype=dtype)
    tokens = rng.integers(0, 3, 131)  # ids 0..2; 5 is the boundary
    shape = _core.LmShape(vocab=V, dim=3, context=C, hidden1=7, hidden2=hidden2)
    kw = dict(context=C, bos=V - 1, act="tanh", direct=False)
    data = _core.LmData(tokens, V, V - 1)
    runs = []
    for threads in (1, 2):
        mine = [p.copy() for p in params]
        opt = msopt.Adam(mine, lr=0.01)
        _core.lm_train(data, shape, opt.native_state(), batch_size=40, seed=0, epoch=0,
                       batch_begin=0, batch_end=3, threads=threads)
        runs.append(mine)
    for a, b in zip(*runs):
        np.testing.assert_array_equal(a, b)
    opt = msopt.Adam([p.copy() for p in params], lr=0.01)
    hyper = [{k: v for k, v in g.items() if k not in ("params", "initial_lr")}
             for g in opt.param_groups for _ in g["params"]]
    want = [p.copy() for p in params]
    states = [init_state("Adam", p, **h) for p, h in zip(want, hyper)]
    steps = [0] * len(want)
    for b in range(3):
        pos = _core.epoch_permutation(0, 0, len(tokens))[b * 40:(b + 1) * 40]
        _, grads = ref.loss_grad(want, tokens, pos, **kw)
        assert ref.train_step("Adam", want, states, steps, hyper, grads)
    for got, w in zip(runs[0], want):
        np.testing.assert_allclose(got, w, **TOL[dtype])
    np.testing.assert_array_equal(runs[0][0][3:5], params[0][3:5])


@pytest.mark.parametrize("ngram", [0, 3])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_sampled_softmax_step_matches_reference(dtype, ngram):
    case = (23, 4, 3, 7, 0, True, "tanh", 40)
    if ngram:  # with the n-gram part (make_ngram, below): G read at the sampled columns
        params, tokens, shape, kw = make_ngram((*case, ngram, 29), dtype)
    else:
        params, tokens, shape, kw = make(case, dtype)
    before = [p.copy() for p in params]
    weights = np.random.default_rng(2).random(23) + 0.1
    S, seed = 6, 11
    data = _core.LmData(tokens, shape.vocab, kw["bos"])
    loss, *_ = _core.lm_train(data, shape, msopt.SGD(params, lr=1.0).native_state(),
                              batch_size=16, seed=seed, epoch=0, batch_begin=0, batch_end=1,
                              samples=S, sample_weights=weights, threads=2)
    pos = _core.epoch_permutation(seed, 0, len(tokens))[:16]
    draw_seed = (seed * 0x100000001B3 + 0) & (2**64 - 1)
    classes = ref.sampled_classes(weights, S, draw_seed)
    want_loss, grads = ref.sampled_loss_grad(before, tokens, pos, classes, weights, **kw)
    assert loss == pytest.approx(want_loss, rel=TOL[dtype]["rtol"])
    for p, g in zip(before, grads):
        view = p.reshape(-1, 1) if p.ndim == 1 and isinstance(g, tuple) else p
        if isinstance(g, tuple):
            np.add.at(view, g[0], -g[1])
        else:
            p -= g
    for got, want in zip(params, before):
        np.testing.assert_allclose(got, want, **TOL[dtype])


def test_dynamic_evaluation_matches_reference():
    case = SHAPES[2]
    params, tokens, shape, kw = make(case, np.float64)
    data = _core.LmData(tokens, shape.vocab, kw["bos"])
    mine = [p.copy() for p in params]
    loss, count, segs, status, per = _core.lm_dynamic(
        data, shape, msopt.SGD(mine, lr=0.3).native_state(), 0, len(tokens), segment=5,
        steps=2, per_token=True)
    want = ref.dynamic(params, tokens, 0, len(tokens), segment=5, steps=2, lr=0.3, **kw)
    np.testing.assert_allclose(per, want, rtol=1e-9)
    assert (count, segs, status) == (len(tokens), 8, 0)
    assert loss == pytest.approx(want.sum(), rel=1e-12)
    for got, w in zip(mine, params):
        np.testing.assert_allclose(got, w, rtol=1e-9, atol=1e-12)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("case", [(7, 3, 2, 5, 0, False, "tanh", 61),
                                  (13, 5, 4, 9, 6, False, "relu", 50)],
                         ids=["one-layer", "two-layers"])
@pytest.mark.parametrize("what", ["output+embeddings", "output"])
def test_dynamic_evaluation_with_the_first_layer_fixed_matches_reference(dtype, case, what):
    # W1 fixed: the forward reads the first-layer table built once, and the rows of the ids
    # whose embeddings a step updated are rebuilt after it
    params, tokens, shape, kw = make(case, dtype, seed=3)
    io = 5 if case[4] else 3
    update = (1 << io) | (1 << (io + 1)) | (1 if what == "output+embeddings" else 0)
    data = _core.LmData(tokens, shape.vocab, kw["bos"])
    want_params = [p.copy() for p in params]
    want = ref.dynamic(want_params, tokens, 0, len(tokens), segment=7, steps=2, lr=0.3,
                       update=update, **kw)
    runs = []
    for threads in (1, 2):
        mine = [p.copy() for p in params]
        loss, count, segs, status, per = _core.lm_dynamic(
            data, shape, msopt.SGD(mine, lr=0.3).native_state(), 0, len(tokens), segment=7,
            steps=2, update=update, threads=threads, per_token=True)
        assert status == 0
        np.testing.assert_allclose(per, want, **TOL[dtype])
        for got, w in zip(mine, want_params):
            np.testing.assert_allclose(got, w, **TOL[dtype])
        runs.append((per, mine))
    np.testing.assert_array_equal(runs[0][0], runs[1][0])
    for a, b in zip(runs[0][1], runs[1][1]):
        np.testing.assert_array_equal(a, b)


def test_training_repeats_at_a_fixed_seed_and_thread_count():
    case = (40, 8, 5, 64, 0, True, "tanh", 3000)
    runs = []
    for _ in range(2):
        params, tokens, shape, kw = make(case, np.float32)
        data = _core.LmData(tokens, shape.vocab, kw["bos"])
        opt = msopt.Adam(params, lr=1e-2)
        _core.lm_train(data, shape, opt.native_state(), batch_size=128, seed=4, epoch=0,
                       batch_begin=0, batch_end=100, threads=2)
        runs.append(params)
    for a, b in zip(*runs):
        np.testing.assert_array_equal(a, b)


def test_nonfinite_gradient_changes_nothing():
    params, tokens, shape, kw = make(SHAPES[2], np.float32)
    params[1][0, 0] = np.inf
    before = [p.copy() for p in params]
    data = _core.LmData(tokens, shape.vocab, kw["bos"])
    opt = msopt.Adam(params, lr=1e-2)
    loss, count, batches, status = _core.lm_train(data, shape, opt.native_state(),
                                                  batch_size=8, seed=0, epoch=0,
                                                  batch_begin=0, batch_end=5)
    assert status != 0
    assert batches == 0
    for a, b in zip(params, before):
        np.testing.assert_array_equal(a, b)
    assert list(opt.native_state().steps) == [0] * 5


def test_generate_kernel_greedy_and_seeded():
    params, tokens, shape, kw = make(SHAPES[4], np.float32)
    ctx = np.full((5, shape.context), kw["bos"])
    a, la = _core.lm_generate(shape, params, ctx, max_tokens=20, temperature=0.0)
    assert (a == a[0]).all()
    assert (la == 20).all()
    # greedy = the argmax of the reference scores, token after token
    c = list(ctx[0])
    for t in range(20):
        z = ref.forward(params, np.array([c[-shape.context:]]), act=kw["act"],
                        direct=kw["direct"])["z"][0]
        assert a[0, t] == int(np.argmax(z))
        c.append(a[0, t])
    b1, _ = _core.lm_generate(shape, params, ctx, max_tokens=20, seed=7, top_k=5, top_p=0.9)
    b2, _ = _core.lm_generate(shape, params, ctx, max_tokens=20, seed=7, top_k=5, top_p=0.9,
                              threads=2)
    np.testing.assert_array_equal(b1, b2)
    assert not (b1 == b1[0]).all()


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_generate_draws_follow_the_tempered_softmax(dtype):
    """The first token of 20,000 rows from one context: its frequencies match
    softmax(z / T) of the reference scores (chi-square), and a banned id never appears."""
    params, tokens, shape, kw = make(SHAPES[1], dtype)  # 7 classes
    params[3] *= dtype(3.0)  # O and bo: sharper scores than the untrained model's
    params[4] *= dtype(3.0)
    n, temp, banned = 20_000, 0.7, 2
    ctx = np.full((n, shape.context), 3)
    out, lengths = _core.lm_generate(shape, params, ctx, max_tokens=1, temperature=temp,
                                     seed=11, banned=np.array([banned]), threads=2)
    assert (lengths == 1).all()
    z = ref.forward(params, ctx[:1], act=kw["act"], direct=kw["direct"])["z"][0]
    z = z.astype(np.float64) / temp
    z[banned] = -np.inf
    p = np.exp(z - z.max())
    p /= p.sum()
    counts = np.bincount(out[:, 0], minlength=shape.vocab)
    assert counts[banned] == 0
    keep = p * n >= 5
    chi2 = (((counts - n * p) ** 2)[keep] / (n * p)[keep]).sum()
    assert chi2 < 30.0, (counts, n * p)  # 5 degrees of freedom: P(chi2 > 30) < 2e-5


# -- the model ---------------------------------------------------------------------------
TEXT = ("the cat sat on the mat. the dog sat on the log. a cat and a dog met on a mat.\n"
        * 30)


def small(**kw):
    opts = dict(context=4, dim=8, hidden=32, epochs=4, lr=1e-2, threads=1, seed=0)
    opts.update(kw)
    return msopt.LanguageModel(**opts)


@pytest.fixture(scope="module")
def fitted():
    return small().fit(TEXT)


def test_fit_learns_and_reports(fitted):
    assert fitted.stop_reason_ == "epochs"
    assert fitted.epochs_ == 4
    assert [h["epoch"] for h in fitted.history_] == [1, 2, 3, 4]
    assert fitted.history_[-1]["train_loss"] < fitted.history_[0]["train_loss"]
    assert fitted.perplexity("the cat sat on the log. ") < 4
    assert fitted.vocab_[:3] == ["<unk>", "<s>", "</s>"]
    assert fitted.score(TEXT) == pytest.approx(-math.log(fitted.perplexity(TEXT)))
    r = repr(fitted)
    assert r.startswith("LanguageModel(level='char', context=4")
    assert "epochs_=4" in r


def test_text_sources_agree(tmp_path, fitted):
    path = tmp_path / "t.txt"
    path.write_text(TEXT, encoding="utf-8")
    lines = TEXT.splitlines(keepends=True)
    a = fitted.perplexity(TEXT[:200])
    p = tmp_path / "v.txt"
    p.write_text(TEXT[:200], encoding="utf-8")
    assert fitted.perplexity(p) == a
    assert fitted.perplexity(TEXT[:200].splitlines()) == a
    b = small().fit(path)
    c = small().fit(TEXT)
    np.testing.assert_array_equal(b.params_[0], c.params_[0])
    d, e = small().fit(lines), small().fit(TEXT[:-1])  # lines: joined by newlines
    np.testing.assert_array_equal(d.params_[0], e.params_[0])


def test_fit_repeats_at_a_fixed_seed():
    a, b = small(threads=2).fit(TEXT), small(threads=2).fit(TEXT)
    for x, y in zip(a.params_, b.params_):
        np.testing.assert_array_equal(x, y)


def test_word_level_vocabulary_and_generation():
    lm = small(level="word", min_count=2, context=3).fit(TEXT + " zebra")
    assert "zebra" not in lm.vocab_
    assert "cat" in lm.vocab_
    assert "." in lm.vocab_
    assert lm.counts_[0] == 1  # zebra became <unk>
    out = lm.generate("the cat", max_tokens=8, temperature=0)
    assert isinstance(out, str)
    assert "<unk>" not in out
    with pytest.raises(ValueError, match="<unk>"):
        lm.generate("zebra giraffe", max_tokens=3)


def test_many_short_epochs():
    """Hundreds of one-batch epochs: the batches per native call stay bounded (they grew
    4x a call, until int * float overflowed after about 500 calls)."""
    lm = small(epochs=700, batch_size=4096, hidden=2, dim=2, schedule="constant")
    lm.fit("abcab" * 20)
    assert lm.epochs_ == 700
    assert len(lm.history_) == 700


def test_generate_options(fitted):
    g = fitted.generate("the ", max_tokens=30, n=4, seed=3, top_k=5, top_p=0.9)
    assert isinstance(g, list)
    assert len(g) == 4
    assert all(len(s) <= 30 for s in g)
    assert g == fitted.generate("the ", max_tokens=30, n=4, seed=3, top_k=5, top_p=0.9)
    greedy = fitted.generate("the c", max_tokens=20, temperature=0, n=3)
    assert greedy[0] == greedy[1] == greedy[2]
    assert fitted.generate("the c", max_tokens=20, temperature=0, stop=".").count(".") == 0
    assert fitted.generate("", max_tokens=5, temperature=0) != ""
    assert fitted.generate("the", max_tokens=0) == ""


@pytest.mark.parametrize(("kw", "match"), [
    (dict(temperature=-1), "temperature"), (dict(top_p=0), "top_p"),
    (dict(top_p=1.5), "top_p"), (dict(top_k=-1), "top_k"), (dict(n=0), "n"),
    (dict(max_tokens=-1), "max_tokens"),
])
def test_generate_rejects_bad_options(fitted, kw, match):
    with pytest.raises(ValueError, match=match):
        fitted.generate("the", **kw)


def test_prompt_of_unknown_tokens(fitted):
    with pytest.raises(ValueError, match="prompt: none of its tokens"):
        fitted.generate("ZQX", max_tokens=3)


@pytest.mark.parametrize(("kw", "err", "match"), [
    (dict(context=0), ValueError, "context"), (dict(level="byte"), ValueError, "level"),
    (dict(dim=1.5), TypeError, "dim"), (dict(lr=0), ValueError, "lr"),
    (dict(hidden=-1), ValueError, "hidden"), (dict(optimizer="adamax"), ValueError, "optimizer"),
    (dict(batch_size=True), TypeError, "batch_size"), (dict(loss="nce"), ValueError, "loss"),
    (dict(threads=0), ValueError, "threads"), (dict(warmup=1.0), ValueError, "warmup"),
])
def test_bad_hyperparameters_are_named(kw, err, match):
    with pytest.raises(err, match=match):
        msopt.LanguageModel(**kw)
    lm = msopt.LanguageModel()
    lm.set_params(**kw)
    with pytest.raises(err, match=match):
        lm.fit(TEXT)
    assert not hasattr(lm, "params_")


def test_unknown_keyword_suggests():
    with pytest.raises(TypeError, match="did you mean 'context'"):
        msopt.LanguageModel(contex=3)


def test_bad_texts_change_nothing(fitted):
    before = [p.copy() for p in fitted.params_]
    hist = list(fitted.history_)
    with pytest.raises(ValueError, match="shorter than the context"):
        fitted.fit("ab")
    with pytest.raises(ValueError, match="single token"):
        fitted.fit("aaaaaaaaaaaa")
    with pytest.raises(TypeError, match="text"):
        fitted.fit(b"bytes")
    with pytest.raises(ValueError, match="shorter than the context"):
        fitted.partial_fit("ab")
    for a, b in zip(fitted.params_, before):
        np.testing.assert_array_equal(a, b)
    assert fitted.history_ == hist


def test_not_fitted():
    lm = msopt.LanguageModel()
    for call in (lambda: lm.generate("a"), lambda: lm.perplexity("abc"),
                 lambda: lm.score("abc"), lambda: lm.save("x.npz")):
        with pytest.raises(msopt.NotFittedError):
            call()


def test_early_stopping_keeps_the_best_epoch():
    val = "zebras graze. " * 20  # unlike the training text: validation gets worse
    lm = small(epochs=30, lr=3e-2, n_iter_no_change=2).fit(TEXT, validation=val)
    assert lm.stop_reason_ == "early_stopping"
    assert lm.epochs_ < 30
    best = min(h["val_loss"] for h in lm.history_)
    assert math.log(lm.perplexity(val)) == pytest.approx(best, rel=1e-6)


def test_partial_fit_continues_like_more_epochs():
    a = small(epochs=2, schedule="constant").fit(TEXT)
    a.partial_fit(TEXT)
    assert a.epochs_ == 4
    assert len(a.history_) == 4
    b = small(epochs=2, schedule="constant").fit(TEXT)
    b.partial_fit(TEXT)
    for x, y in zip(a.params_, b.params_):
        np.testing.assert_array_equal(x, y)


def test_partial_fit_steps_at_the_lr_set_now():
    a = small(epochs=1, schedule="constant").fit(TEXT)
    a.set_params(lr=0.1)  # small()'s is 0.01
    a.partial_fit(TEXT)  # the optimizer's moments continue; its rate is the new lr
    assert a.optimizer_.param_groups[0]["lr"] == 0.1
    b = small(epochs=1, schedule="constant").fit(TEXT)
    b.partial_fit(TEXT)
    assert not np.array_equal(a.params_[0], b.params_[0])


def test_divergence_rolls_back(fitted):
    before = [p.copy() for p in fitted.params_]
    fitted.params_[3][0, 0] = np.nan  # O: every loss is NaN now
    try:
        with pytest.raises(msopt.DivergenceError, match="NaN or Inf"):
            fitted.partial_fit(TEXT)
        assert np.isnan(fitted.params_[3][0, 0])
        assert fitted.epochs_ == 4
    finally:
        fitted.params_[3][0, 0] = before[3][0, 0]


@pytest.mark.parametrize("what", ["all", "output+embeddings", "output"])
def test_dynamic_evaluation_leaves_the_model_unchanged(fitted, what):
    before = [p.copy() for p in fitted.params_]
    text = "a dog sat on a log. " * 20
    static = fitted.perplexity(text)
    dyn = fitted.perplexity(text, adapt=True, lr=0.5, segment=20, adapt_params=what)
    assert dyn < static
    for a, b in zip(fitted.params_, before):
        np.testing.assert_array_equal(a, b)
    assert fitted.perplexity(text) == static
    per = fitted.token_losses(text, adapt=True, lr=0.5, segment=20, adapt_params=what)
    assert math.exp(per.mean()) == pytest.approx(dyn, rel=1e-9)


def test_generate_adapts_on_a_copy(fitted):
    before = [p.copy() for p in fitted.params_]
    out = fitted.generate("a dog sat on a log. " * 5, max_tokens=20, adapt=True, lr=0.5,
                          temperature=0)
    assert isinstance(out, str)
    for a, b in zip(fitted.params_, before):
        np.testing.assert_array_equal(a, b)


def test_save_load_and_pickle(tmp_path, fitted):
    path = tmp_path / "lm.npz"
    fitted.save(path)
    with np.load(path, allow_pickle=False) as f:
        assert str(f["format"]) == "msopt-languagemodel 1"
    for other in (msopt.LanguageModel.load(path), pickle.loads(pickle.dumps(fitted))):
        assert other.vocab_ == fitted.vocab_
        assert other.history_ == fitted.history_
        assert other.perplexity(TEXT[:300]) == fitted.perplexity(TEXT[:300])
        assert other.generate("the", max_tokens=20, seed=1) == fitted.generate(
            "the", max_tokens=20, seed=1)
    # training continues exactly as from the saved model
    a, b = msopt.LanguageModel.load(path), pickle.loads(pickle.dumps(fitted))
    a.partial_fit(TEXT)
    b.partial_fit(TEXT)
    for x, y in zip(a.params_, b.params_):
        np.testing.assert_array_equal(x, y)
    unfitted = pickle.loads(pickle.dumps(msopt.LanguageModel(context=3)))
    assert unfitted.context == 3
    assert not hasattr(unfitted, "params_")
    bad = tmp_path / "bad.npz"
    bad.write_text("not a model")
    with pytest.raises(ValueError, match="bad.npz"):
        msopt.LanguageModel.load(bad)


def test_sampled_loss_trains(fitted):
    lm = small(level="word", loss="sampled", samples=5, epochs=8).fit(TEXT)
    assert lm.perplexity(TEXT) < 3


@pytest.mark.parametrize("options", [dict(hidden2=16, activation="relu", direct=False),
                                     dict(optimizer="sgd", lr=0.5, max_grad_norm=1.0,
                                          schedule="linear", dtype="float64")])
def test_other_architectures_and_optimizers(options):
    lm = small(**options).fit(TEXT)
    assert lm.perplexity(TEXT) < 6
    assert lm.params_[0].dtype == (np.float64 if "dtype" in options else np.float32)


def test_help_lists_parameters():
    doc = msopt.LanguageModel.__doc__
    for name in ("level", "context", "dim", "hidden", "direct", "loss", "optimizer", "lr",
                 "batch_size", "epochs", "seed", "threads"):
        assert f"\n    {name} :" in doc or f"\n    {name}," in doc, name
    assert "LanguageModel" in dir(msopt)


@pytest.mark.data
@pytest.mark.skipif(not (DATA / "tinyshakespeare").exists(),
                    reason="the tinyshakespeare data (shared/data/tinyshakespeare) is absent")
def test_tinyshakespeare_short_fit():
    text = (DATA / "tinyshakespeare" / "input.txt").read_text(encoding="utf-8")
    n = int(len(text) * 0.9)
    lm = msopt.LanguageModel(context=8, dim=16, hidden=128, epochs=1, batch_size=256,
                             seed=0).fit(text[:200_000], validation=text[n:n + 20_000])
    assert len(lm.vocab_) > 50
    assert lm.history_[-1]["val_loss"] < 2.6


def test_ctrl_c_returns_quickly_and_keeps_a_consistent_model():
    """Native calls return every ~0.25 s: a KeyboardInterrupt stops the fit within about
    a second, keeping every step completed."""
    import _thread
    import threading
    import time

    lm = small(context=8, hidden=256, epochs=10_000, threads=2)
    timer = threading.Timer(1.0, _thread.interrupt_main)
    t0 = time.perf_counter()
    timer.start()
    with pytest.raises(KeyboardInterrupt):
        lm.fit(TEXT * 20)
    elapsed = time.perf_counter() - t0
    timer.join()
    assert elapsed < 3.0
    assert lm.stop_reason_ == "interrupted"
    assert lm.epochs_ == len(lm.history_)
    assert np.isfinite(lm.perplexity(TEXT[:100]))


def test_dropout_trains_repeats_and_is_off_when_scoring():
    case = (13, 5, 4, 9, 6, False, "tanh", 60)
    runs = []
    for _ in range(2):
        params, tokens, shape, kw = make(case, np.float64)
        data = _core.LmData(tokens, shape.vocab, kw["bos"])
        _core.lm_train(data, shape, msopt.SGD(params, lr=0.1).native_state(), batch_size=16,
                       seed=1, epoch=0, batch_begin=0, batch_end=4, dropout=0.5, threads=2)
        runs.append(params)
    for a, b in zip(*runs):
        np.testing.assert_array_equal(a, b)
    plain, tokens, shape, kw = make(case, np.float64)
    data = _core.LmData(tokens, shape.vocab, kw["bos"])
    _core.lm_train(data, shape, msopt.SGD(plain, lr=0.1).native_state(), batch_size=16,
                   seed=1, epoch=0, batch_begin=0, batch_end=4, dropout=0.0)
    assert not np.array_equal(plain[3], runs[0][3])
    # a dropped unit takes no gradient: with every unit but none dropped... p -> 0 is plain
    tiny, *_ = make(case, np.float64)
    _core.lm_train(data, shape, msopt.SGD(tiny, lr=0.1).native_state(), batch_size=16,
                   seed=1, epoch=0, batch_begin=0, batch_end=4, dropout=1e-12)
    for a, b in zip(tiny, plain):
        np.testing.assert_allclose(a, b, rtol=1e-9, atol=1e-12)
    lm = small(dropout=0.3).fit(TEXT)
    assert lm.perplexity(TEXT) < 4
    with pytest.raises(ValueError, match="dropout"):
        msopt.LanguageModel(dropout=1.0)


def test_long_generation_spans_several_native_calls(fitted):
    a = fitted.generate("the ", max_tokens=600, n=2, seed=5)
    assert a == fitted.generate("the ", max_tokens=600, n=2, seed=5)
    assert all(len(s) <= 600 for s in a)
    assert max(len(s) for s in a) > 256 or any("</s>" not in s for s in a)


def test_fuzz_findings_are_named(fitted):
    """Found by tests/fuzz: a lone surrogate reached the codec's error, and a huge top_k
    reached pybind11's generic one."""
    with pytest.raises(ValueError, match="prompt"):
        fitted.generate("\ud800", max_tokens=2)
    with pytest.raises(ValueError, match="text"):
        fitted.perplexity("ab\ud800")
    with pytest.raises(ValueError, match="top_k"):
        fitted.generate("a", max_tokens=2, top_k=2**70)
    with pytest.raises(ValueError, match="seed"):
        fitted.generate("a", max_tokens=2, seed=2**64)


# -- the hashed n-gram part (ngram > 0) --------------------------------------------------
# (vocab, dim, context, hidden, hidden2, direct, act, n tokens, ngram, table size)
NGRAM = [
    (2, 1, 1, 1, 0, False, "tanh", 1, 1, 1),       # one entry: every class reads it
    (11, 4, 3, 8, 0, True, "tanh", 37, 3, 5),      # a table smaller than the vocabulary
    (13, 5, 4, 9, 6, False, "relu", 50, 2, 17),    # two layers, an odd table
    (65, 8, 6, 33, 0, True, "relu", 130, 6, 1000),  # orders up to the whole context
]


def make_ngram(case, dtype, seed=0):
    *arch, ngram, size = case
    params, tokens, _, kw = make(tuple(arch), dtype, seed)
    V, D, C, H, H2, direct, act, _n = arch
    params.append(np.random.default_rng(seed + 1).standard_normal(size).astype(dtype) * 0.5)
    shape = _core.LmShape(vocab=V, dim=D, context=C, hidden1=H, hidden2=H2, direct=direct,
                          act=ACT[act], ngram=ngram, ngram_size=size)
    return params, tokens, shape, dict(kw, ngram=ngram)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("what", ["all", "output"])
@pytest.mark.parametrize("engine", [False, True], ids=["fused", "engine"])
def test_dynamic_evaluation_with_the_ngram_part_matches_reference(dtype, what, engine):
    # plain SGD updates the output layer and G in place from the scores' gradient
    # (fused_sgd); with clipping (a bound never reached) it goes through the engine
    params, tokens, shape, kw = make_ngram((11, 4, 3, 8, 0, False, "tanh", 45, 2, 37), dtype,
                                           seed=5)
    update = ~0 & 0b111111 if what == "all" else 0b111000
    want_params = [p.copy() for p in params]
    want = ref.dynamic(want_params, tokens, 0, len(tokens), segment=6, steps=2, lr=0.2,
                       update=update, **kw)
    mine = [p.copy() for p in params]
    opt = msopt.SGD(mine, lr=0.2, max_grad_norm=1e30 if engine else None)
    loss, count, segs, status, per = _core.lm_dynamic(
        _core.LmData(tokens, shape.vocab, kw["bos"]), shape, opt.native_state(), 0,
        len(tokens), segment=6, steps=2, update=update, threads=2, per_token=True)
    assert status == 0
    np.testing.assert_allclose(per, want, **TOL[dtype])
    for got, w in zip(mine, want_params):
        np.testing.assert_allclose(got, w, **TOL[dtype])


def test_ngram_starts_fold_the_context_newest_first():
    ids = np.array([[3, 1, 4, 1], [0, 0, 0, 7]])
    st = ref.ngram_starts(ids, 4, 2**61 - 1)
    h = 0xCBF29CE484222325
    for k, t in enumerate([1, 4, 1, 3]):  # the first row, newest first
        h = ((h ^ (t + 1)) * 0x100000001B3) % 2**64
        assert st[0, k] == (h ^ (h >> 32)) % (2**61 - 1)
    assert st[1, 0] != st[0, 0]  # the newest id differs
    assert len(set(st[0])) == 4


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("case", NGRAM, ids=lambda c: "-".join(map(str, c)))
def test_ngram_score_and_step_match_reference(case, dtype):
    params, tokens, shape, kw = make_ngram(case, dtype)
    data = _core.LmData(tokens, shape.vocab, kw["bos"])
    per = _core.lm_score(data, shape, params, 0, len(tokens), per_token=True, threads=2)
    np.testing.assert_allclose(per, ref.score(params, tokens, 0, len(tokens), **kw),
                               **TOL[dtype])
    before = [p.copy() for p in params]
    loss, count, batches, status = _core.lm_train(
        data, shape, msopt.SGD(params, lr=0.5).native_state(), batch_size=16, seed=3,
        epoch=0, batch_begin=0, batch_end=1, threads=2)
    assert (batches, status) == (1, 0)
    pos = _core.epoch_permutation(3, 0, len(tokens))[:min(16, len(tokens))]
    want_loss, grads = ref.loss_grad(before, tokens, pos, **kw)
    assert loss == pytest.approx(want_loss, rel=TOL[dtype]["rtol"])
    for p, g in zip(before, grads):
        if isinstance(g, tuple):
            np.add.at(p.reshape(len(p), -1), g[0], -0.5 * g[1])
        else:
            p -= dtype(0.5) * g
    for i, (got, want) in enumerate(zip(params, before)):
        np.testing.assert_allclose(got, want, **TOL[dtype], err_msg=str(i))
    if case[-1] > 1:  # (one entry read by every class: the softmax's gradient sums to 0)
        assert not np.array_equal(params[-1], make_ngram(case, dtype)[0][-1])  # G trained


def test_ngram_gradient_matches_finite_differences():
    params, tokens, shape, kw = make_ngram(NGRAM[2], np.float64, seed=4)
    moved = [p.copy() for p in params]
    data = _core.LmData(tokens, shape.vocab, kw["bos"])
    _core.lm_train(data, shape, msopt.SGD(moved, lr=1.0).native_state(),
                   batch_size=len(tokens), seed=0, epoch=0, batch_begin=0, batch_end=1)
    native = params[-1] - moved[-1]
    G, eps = params[-1], 1e-6
    for j in range(len(G)):
        old = G[j]
        G[j] = old + eps
        up = ref.score(params, tokens, 0, len(tokens), **kw).mean()
        G[j] = old - eps
        down = ref.score(params, tokens, 0, len(tokens), **kw).mean()
        G[j] = old
        assert native[j] == pytest.approx((up - down) / (2 * eps), rel=1e-5, abs=1e-9), j


def test_ngram_dynamic_evaluation_and_greedy_generation_match_reference():
    params, tokens, shape, kw = make_ngram(NGRAM[1], np.float64)
    data = _core.LmData(tokens, shape.vocab, kw["bos"])
    mine = [p.copy() for p in params]
    *_, per = _core.lm_dynamic(data, shape, msopt.SGD(mine, lr=0.3).native_state(), 0,
                               len(tokens), segment=5, steps=2, per_token=True)
    want = ref.dynamic([p.copy() for p in params], tokens, 0, len(tokens), segment=5,
                       steps=2, lr=0.3, **kw)
    np.testing.assert_allclose(per, want, rtol=1e-9)
    ctx = np.full((3, shape.context), kw["bos"])
    out, _ = _core.lm_generate(shape, params, ctx, max_tokens=15, temperature=0.0)
    c = list(ctx[0])
    for t in range(15):
        z = ref.forward(params, np.array([c[-shape.context:]]), act=kw["act"],
                        direct=kw["direct"], ngram=kw["ngram"])["z"][0]
        assert out[0, t] == int(np.argmax(z))
        c.append(out[0, t])


def test_ngram_training_repeats_at_a_fixed_seed_and_thread_count():
    runs = []
    for _ in range(2):
        params, tokens, shape, kw = make_ngram((40, 8, 5, 64, 0, True, "tanh", 3000, 4, 4093),
                                               np.float32)
        data = _core.LmData(tokens, shape.vocab, kw["bos"])
        _core.lm_train(data, shape, msopt.Adam(params, lr=1e-2).native_state(),
                       batch_size=128, seed=4, epoch=0, batch_begin=0, batch_end=20, threads=2)
        runs.append(params)
    for a, b in zip(*runs):
        np.testing.assert_array_equal(a, b)


def test_ngram_model_fits_saves_and_adapts(tmp_path):
    lm = small(ngram=3, ngram_size=4099).fit(TEXT)
    base = small().fit(TEXT)
    assert len(lm.params_) == 6
    assert lm.params_[-1].shape == (4099,)
    assert lm.perplexity(TEXT) < base.perplexity(TEXT)
    path = tmp_path / "ng.npz"
    lm.save(path)
    for other in (msopt.LanguageModel.load(path), pickle.loads(pickle.dumps(lm))):
        assert (other.ngram, other.ngram_size) == (3, 4099)
        assert other.perplexity(TEXT[:200]) == lm.perplexity(TEXT[:200])
    G = lm.params_[-1].copy()
    for what in ("all", "output+embeddings", "output"):
        assert lm.perplexity(TEXT[:300], adapt=True, adapt_params=what) > 0
    np.testing.assert_array_equal(lm.params_[-1], G)
    assert isinstance(lm.generate("the", max_tokens=10, seed=0), str)
    with pytest.raises(ValueError, match="ngram: must be <= context"):
        msopt.LanguageModel(context=2, ngram=3)
    with pytest.raises(ValueError, match="ngram_size"):
        msopt.LanguageModel(ngram=2, ngram_size=0)
