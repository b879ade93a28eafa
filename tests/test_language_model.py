"""msopt.LanguageModel and its kernel (_core.lm_*) against the NumPy twin
(msopt.reference.language_model) and finite differences."""

from __future__ import annotations

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
    assert status == 0 and batches == 1
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


@pytest.mark.parametrize("name,opts", [("Adam", {"lr": 0.01}), ("AdamW", {"lr": 0.01}),
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
def test_sampled_softmax_step_matches_reference(dtype):
    case = (23, 4, 3, 7, 0, True, "tanh", 40)
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
    assert status != 0 and batches == 0
    for a, b in zip(params, before):
        np.testing.assert_array_equal(a, b)
    assert list(opt.native_state().steps) == [0] * 5


def test_generate_kernel_greedy_and_seeded():
    params, tokens, shape, kw = make(SHAPES[4], np.float32)
    ctx = np.full((5, shape.context), kw["bos"])
    a, la = _core.lm_generate(shape, params, ctx, max_tokens=20, temperature=0.0)
    assert (a == a[0]).all() and (la == 20).all()
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
