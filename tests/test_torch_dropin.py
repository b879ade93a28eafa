"""msopt.torch: the drop-in torch.optim optimizers, against torch.optim, msopt's NumPy API
and msopt.reference."""

from __future__ import annotations

import copy
import doctest
import io
import subprocess
import sys

import numpy as np
import pytest
from conftest import CASE_IDS, CASES, DTYPES
from test_torch_semantics import TOL, _no_cancellation

import msopt
from msopt import reference

torch = pytest.importorskip("torch", reason="torch is not installed")
mt = pytest.importorskip("msopt.torch")

# torch's sparse optimizers build sparse tensors internally and warn about it.
pytestmark = pytest.mark.filterwarnings("ignore:Sparse invariant checks:UserWarning")

SHAPES = [(17,), (300,), (8, 9)]
FUSED = ("SGD", "Adam", "AdamW", "Adagrad")  # torch's fused CPU kernels
TORCH_CASES = [(n, o, f) for n, o in CASES if n != "Lion"
               for f in ([None, True] if n in FUSED else [None])]
TORCH_IDS = [f"{i}{'-fused' if f else ''}" for (n, o), i in zip(CASES, CASE_IDS)
             if n != "Lion" for f in ([None, True] if n in FUSED else [None])]


def _tensors(init):
    return [torch.tensor(a.copy(), requires_grad=True) for a in init]


def _set_grads(params, grads):
    for t, g in zip(params, grads):
        t.grad = torch.from_numpy(g.copy())


@pytest.mark.parametrize(("name", "opts", "fused"), TORCH_CASES, ids=TORCH_IDS)
@pytest.mark.parametrize("dtype", DTYPES, ids=["f32", "f64"])
def test_trajectory_matches_torch_and_numpy_api(rng, name, opts, fused, dtype):
    """50 steps: torch.optim within the tolerance the NumPy API holds; msopt's NumPy API
    bit for bit (the adapter adds no arithmetic)."""
    kw = {} if fused is None else {"fused": True}
    init = [rng.standard_normal(s).astype(dtype) for s in SHAPES]
    ours, theirs = _tensors(init), _tensors(init)
    arrays = [a.copy() for a in init]
    opt = getattr(mt, name)(ours, **opts, **kw)
    topt = getattr(torch.optim, name)(theirs, **opts, **kw)
    nopt = getattr(msopt, name)(arrays, **opts)
    for _ in range(50):
        grads = [rng.standard_normal(s).astype(dtype) for s in SHAPES]
        grads = _no_cancellation(name, grads, arrays, opts, None)
        _set_grads(ours, grads)
        _set_grads(theirs, grads)
        opt.step()
        topt.step()
        nopt.step(grads)
    for t, u, a in zip(ours, theirs, arrays):
        assert t.dtype == u.dtype
        np.testing.assert_array_equal(t.detach().numpy(), a)
        np.testing.assert_allclose(t.detach().numpy(), u.detach().numpy(), **TOL[dtype])
    for t, u in zip(ours, theirs):
        mine, other = opt.state[t], topt.state[u]
        assert sorted(mine) == sorted(other)
        for k in other:
            if k == "step":
                assert mine[k].dtype == torch.float32
                assert mine[k].shape == ()
                assert float(mine[k]) == float(other[k]) == 50
            else:
                np.testing.assert_allclose(mine[k].numpy(), other[k].numpy(), **TOL[dtype])


@pytest.mark.parametrize("opts", [o for n, o in CASES if n == "Lion"])
@pytest.mark.parametrize("dtype", DTYPES, ids=["f32", "f64"])
def test_lion_matches_reference(rng, opts, dtype):
    init = [rng.standard_normal(s).astype(dtype) for s in SHAPES]
    ours = _tensors(init)
    ref = [a.copy() for a in init]
    opt = mt.Lion(ours, **opts)
    hyper = [{k: v for k, v in opt.param_groups[0].items() if k != "params"}] * len(ref)
    states = [reference.init_state("Lion", a) for a in ref]
    steps = [0] * len(ref)
    for _ in range(50):
        grads = [rng.standard_normal(s).astype(dtype) for s in SHAPES]
        _set_grads(ours, grads)
        opt.step()
        assert reference.step("Lion", ref, grads, states, steps, hyper)
    for t, a, s in zip(ours, ref, states):
        np.testing.assert_array_equal(t.detach().numpy(), a)
        np.testing.assert_array_equal(opt.state[t]["exp_avg"].numpy(), s["exp_avg"])
        assert float(opt.state[t]["step"]) == 50


def test_gradients_edited_in_place_are_read_anew(rng):
    """A gradient tensor kept across steps (zero_grad(set_to_none=False)) is read through
    its cached view: its new values each step."""
    init = [rng.standard_normal(s).astype(np.float32) for s in SHAPES]
    ours, arrays = _tensors(init), [a.copy() for a in init]
    opt, nopt = mt.Adam(ours, lr=0.01), msopt.Adam(arrays, lr=0.01)
    for _ in range(5):
        grads = [rng.standard_normal(s).astype(np.float32) for s in SHAPES]
        opt.zero_grad(set_to_none=False)
        for t, g in zip(ours, grads):
            if t.grad is None:
                t.grad = torch.zeros_like(t)
            t.grad += torch.from_numpy(g)
        opt.step()
        nopt.step(grads)
    for t, a in zip(ours, arrays):
        np.testing.assert_array_equal(t.detach().numpy(), a)


def _model(sparse, seed=0):
    torch.manual_seed(seed)
    return torch.nn.ModuleDict({
        "emb": torch.nn.Embedding(40, 8, sparse=sparse),
        "mlp": torch.nn.Sequential(torch.nn.Linear(8, 16), torch.nn.Tanh(),
                                   torch.nn.Linear(16, 1))}).double()


def _loss(model, ids, y):
    return (model["mlp"](model["emb"](ids).mean(1)).squeeze(1) - y).pow(2).mean()


def _train(model, opt, sched, data):
    losses = []
    for ids, y in data:
        def closure(ids=ids, y=y):
            opt.zero_grad()
            loss = _loss(model, ids, y)
            loss.backward()
            return loss
        losses.append(float(opt.step(closure).detach()))
        sched.step()
    return losses


@pytest.mark.parametrize(("name", "opts", "sparse"), [
    ("Adam", {"lr": 0.02, "weight_decay": 0.01}, False),
    ("AdamW", {"lr": 0.02, "amsgrad": True}, False),
    ("RMSprop", {"lr": 0.01, "momentum": 0.5, "centered": True}, False),
    ("SGD", {"lr": 0.1, "momentum": 0.9, "nesterov": True}, False),
    ("SGD", {"lr": 0.2}, True),
    ("Adagrad", {"lr": 0.1, "lr_decay": 0.01}, True),
])
def test_mlp_with_embedding_trains_as_torch(rng, name, opts, sparse):
    """An MLP over an embedding bag (dense, and sparse=True: RowGrad), trained with a
    cosine schedule and a closure: the same losses and weights as torch.optim."""
    table = rng.standard_normal(40)
    ids = [rng.integers(0, 40, (16, 5)) for _ in range(40)]
    data = [(torch.from_numpy(i), torch.from_numpy(table[i].mean(1))) for i in ids]
    ours, theirs = _model(sparse), _model(sparse)
    opt = getattr(mt, name)(ours.parameters(), **opts)
    topt = getattr(torch.optim, name)(theirs.parameters(), **opts)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=40)
    tsched = torch.optim.lr_scheduler.CosineAnnealingLR(topt, T_max=40)
    ids, y = torch.cat([i for i, _ in data]), torch.cat([y for _, y in data])
    with torch.no_grad():
        start = float(_loss(theirs, ids, y))
    mine, other = _train(ours, opt, sched, data), _train(theirs, topt, tsched, data)
    np.testing.assert_allclose(mine, other, rtol=1e-9)
    with torch.no_grad():
        assert float(_loss(ours, ids, y)) < start  # it learns
    assert not torch.equal(ours["emb"].weight, _model(sparse)["emb"].weight)
    assert opt.param_groups[0]["lr"] == topt.param_groups[0]["lr"]
    for p, q in zip(ours.parameters(), theirs.parameters()):
        np.testing.assert_allclose(p.detach().numpy(), q.detach().numpy(), rtol=1e-9,
                                   atol=1e-12)


ROUND_TRIPS = [
    ("SGD", {"lr": 0.05, "momentum": 0.9, "dampening": 0.2}),
    ("SGD", {"lr": 0.05}),
    ("Adam", {"lr": 0.01, "amsgrad": True, "weight_decay": 0.1}),
    ("AdamW", {"lr": 0.01}),
    ("Adagrad", {"lr": 0.05, "lr_decay": 0.01, "initial_accumulator_value": 0.1}),
    ("RMSprop", {"lr": 0.01, "centered": True, "momentum": 0.9}),
    ("Lion", {"lr": 0.01, "weight_decay": 0.1}),
]
ROUND_TRIP_CASES = [(n, o, f) for n, o in ROUND_TRIPS for f in ("torch", "msopt")
                    if f == "msopt" or n != "Lion"]  # torch has no Lion


def _continue(make, init, grads_seq, sd):
    params = _tensors(init)
    opt = make(params)
    opt.load_state_dict(sd)
    for grads in grads_seq:
        _set_grads(params, grads)
        opt.step()
    return params, opt


@pytest.mark.parametrize(("name", "opts", "first"), ROUND_TRIP_CASES,
                         ids=[f"{n}-from-{f}" for n, _, f in ROUND_TRIP_CASES])
def test_state_dict_round_trips(rng, name, opts, first):
    """Train 10 steps with one library (the last parameter never gets a gradient), save
    through torch.save, load into a fresh optimizer of each library, continue 10 steps:
    the same trajectory (float32 state) as not stopping."""
    libs = {"torch": torch.optim, "msopt": mt}
    init = [rng.standard_normal(s).astype(np.float32) for s in SHAPES]
    seq = [[rng.standard_normal(s).astype(np.float32) for s in SHAPES] for _ in range(20)]
    for grads in seq:
        grads[-1] = None
    params = _tensors(init)
    opt = getattr(libs[first], name)(params, **opts)

    def run(ps, o, grads_seq):
        for grads in grads_seq:
            for t, g in zip(ps, grads):
                t.grad = None if g is None else torch.from_numpy(g.copy())
            o.step()
    run(params, opt, seq[:10])
    buf = io.BytesIO()
    torch.save(opt.state_dict(), buf)
    now = [p.detach().numpy().copy() for p in params]
    run(params, opt, seq[10:])  # the uninterrupted run
    for lib in (lib for lib in libs.values() if hasattr(lib, name)):
        buf.seek(0)
        sd = torch.load(buf)
        ps = _tensors(now)
        o = getattr(lib, name)(ps, **opts)
        o.load_state_dict(sd)
        assert o.param_groups[0]["lr"] == opts["lr"]
        run(ps, o, seq[10:])
        for p, q in zip(ps, params):
            np.testing.assert_allclose(p.detach().numpy(), q.detach().numpy(), rtol=1e-5,
                                       atol=1e-6)
        assert len(o.state_dict()["state"]) == len(opt.state_dict()["state"])


def test_state_dict_has_torchs_keys_and_types():
    ps = _tensors([np.ones(3, np.float32), np.ones(2, np.float32)])
    opt, topt = mt.Adam(ps, lr=0.1), torch.optim.Adam(_tensors([np.ones(3), np.ones(2)]))
    assert opt.state_dict()["state"] == {}
    assert topt.state_dict()["state"] == {}
    ps[0].grad = torch.ones(3)
    opt.step()
    sd = opt.state_dict()
    assert sorted(sd["param_groups"][0]) == sorted(topt.state_dict()["param_groups"][0])
    assert list(sd["state"]) == [0]  # the parameter without a gradient has no state yet
    step = sd["state"][0]["step"]
    assert step.dtype == torch.float32
    assert float(step) == 1
    ps[0].grad = torch.ones(3)
    opt.step()
    assert float(step) == 1
    assert float(opt.state[ps[0]]["step"]) == 2
    exp_avg = opt.state[ps[0]]["exp_avg"]
    exp_avg.zero_()  # the live state: the next step starts from it
    opt.step()
    np.testing.assert_allclose(exp_avg.numpy(), 0.1)
    adagrad = mt.Adagrad(ps, initial_accumulator_value=0.5)  # torch's Adagrad: eager state
    assert set(adagrad.state_dict()["state"]) == {0, 1}
    assert float(adagrad.state[ps[1]]["sum"][0]) == 0.5


def test_scheduler_and_edits_reach_the_step():
    p = torch.zeros(4, requires_grad=True)
    q = np.zeros(4, np.float32)
    opt = mt.SGD([p], lr=1.0, momentum=0.5)
    nopt = msopt.SGD([q], lr=1.0, momentum=0.5)
    sched = torch.optim.lr_scheduler.StepLR(opt, step_size=2, gamma=0.5)
    for k in range(6):
        if k == 3:
            opt.param_groups[0]["momentum"] = 0.9
            nopt.param_groups[0]["momentum"] = 0.9
        p.grad = torch.ones(4)
        opt.step()
        nopt.step([np.ones(4, np.float32)])
        sched.step()
        nopt.param_groups[0]["lr"] = opt.param_groups[0]["lr"]
    assert opt.param_groups[0]["initial_lr"] == 1.0
    np.testing.assert_array_equal(p.detach().numpy(), q)


@pytest.mark.parametrize(("name", "opts"), [("SGD", {}), ("SGD", {"momentum": 0.9}),
                                            ("Adam", {}), ("AdamW", {"weight_decay": 0.1})],
                         ids=["SGD", "SGD-momentum", "Adam", "AdamW"])
def test_scheduler_filling_a_tensor_lr_follows_torch(rng, name, opts):
    """torch's schedulers write a tensor lr in place (fill_): each step takes the rate the
    group holds at that step, as torch.optim's does."""
    init = [rng.standard_normal(s).astype(np.float32) for s in SHAPES]
    ours, theirs = _tensors(init), _tensors(init)
    opt = getattr(mt, name)(ours, lr=torch.tensor(0.1), **opts)
    topt = getattr(torch.optim, name)(theirs, lr=torch.tensor(0.1), **opts)
    lr = opt.param_groups[0]["lr"]
    scheds = [torch.optim.lr_scheduler.StepLR(o, step_size=2, gamma=0.3) for o in (opt, topt)]
    for _ in range(8):
        grads = [rng.standard_normal(s).astype(np.float32) for s in SHAPES]
        _set_grads(ours, grads)
        _set_grads(theirs, grads)
        for o, sched in zip((opt, topt), scheds):
            o.step()
            sched.step()
    assert opt.param_groups[0]["lr"] is lr  # filled in place, never replaced
    assert float(lr) == pytest.approx(0.1 * 0.3 ** 4)
    for t, u in zip(ours, theirs):
        np.testing.assert_allclose(t.detach().numpy(), u.detach().numpy(), **TOL[np.float32])


def test_a_tensor_lr_filled_by_hand_reaches_the_next_step():
    """``param_groups[i]["lr"].fill_(...)`` between steps (on a tensor that add_param_group
    shares with the defaults, as torch's does): the next step takes the new rate, as
    torch.optim's; a bad rate is refused at each step, changing nothing, until a good one
    is filled in."""
    ps = [torch.zeros(3, requires_grad=True), torch.zeros(2, requires_grad=True)]
    ts = [torch.zeros(3, requires_grad=True), torch.zeros(2, requires_grad=True)]
    opt, topt = mt.SGD(ps[:1], lr=torch.tensor(1.0)), torch.optim.SGD(ts[:1], lr=torch.tensor(1.0))
    opt.add_param_group({"params": ps[1:]})
    topt.add_param_group({"params": ts[1:]})
    assert opt.param_groups[1]["lr"] is opt.param_groups[0]["lr"]
    for k, rate in enumerate([None, 0.25, 0.0, 0.5]):
        for o in (opt, topt):
            if rate is not None:
                o.param_groups[k % 2]["lr"].fill_(rate)
            for p in o.param_groups[0]["params"] + o.param_groups[1]["params"]:
                p.grad = torch.ones_like(p)
            o.step()
        for p, t in zip(ps, ts):
            np.testing.assert_array_equal(p.detach().numpy(), t.detach().numpy())
    np.testing.assert_array_equal(ps[0].detach().numpy(), -1.75)
    with torch.no_grad():  # through .data, which bumps no version counter, too
        opt.param_groups[0]["lr"].data.fill_(-1.0)
    for _ in range(2):
        with pytest.raises(ValueError, match=r"param_groups\[0\]\['lr'\]: .*got -1\.0"):
            opt.step()
    np.testing.assert_array_equal(ps[0].detach().numpy(), -1.75)
    opt.param_groups[1]["lr"].fill_(0.125)
    opt.step()
    np.testing.assert_array_equal(ps[0].detach().numpy(), -1.875)
    np.testing.assert_array_equal(ps[1].detach().numpy(), -1.875)


def test_other_hyperparameters_edited_in_place_follow_torch(rng):
    """The other hyperparameters torch.optim takes as tensors, Adam's betas and SGD's
    weight_decay, filled in place between steps; and a betas list edited in place."""
    init = [rng.standard_normal(s).astype(np.float32) for s in SHAPES]
    for make, edits in (
            (lambda m, ps: m.Adam(ps, lr=0.05, betas=(torch.tensor(0.9), torch.tensor(0.99))),
             [lambda g: g["betas"][0].fill_(0.5), lambda g: g["betas"][1].fill_(0.9)]),
            (lambda m, ps: m.SGD(ps, lr=0.05, momentum=0.5, weight_decay=torch.tensor(0.0)),
             [lambda g: g["weight_decay"].fill_(0.5), lambda g: g["weight_decay"].fill_(0.1)]),
            (lambda m, ps: m.Adam(ps, lr=0.05),
             [lambda g: g.__setitem__("betas", [0.9, 0.99]),
              lambda g: g["betas"].__setitem__(0, 0.5)])):
        ours, theirs = _tensors(init), _tensors(init)
        opt, topt = make(mt, ours), make(torch.optim, theirs)
        for k in range(6):
            if k in (2, 4):
                for o in (opt, topt):
                    edits[k // 2 - 1](o.param_groups[0])
            grads = [rng.standard_normal(s).astype(np.float32) for s in SHAPES]
            _set_grads(ours, grads)
            _set_grads(theirs, grads)
            opt.step()
            topt.step()
        for t, u in zip(ours, theirs):
            np.testing.assert_allclose(t.detach().numpy(), u.detach().numpy(),
                                       **TOL[np.float32])


def test_a_loaded_tensor_lr_is_a_copy():
    """load_state_dict copies the saved hyperparameters, as torch's does: the saving
    optimizer's scheduler does not drive the loading one, whose own edits reach its
    steps."""
    p, q = torch.zeros(3, requires_grad=True), torch.zeros(3, requires_grad=True)
    saver, opt = mt.SGD([p], lr=torch.tensor(1.0)), mt.SGD([q], lr=0.5)
    opt.load_state_dict(saver.state_dict())
    lr = opt.param_groups[0]["lr"]
    assert isinstance(lr, torch.Tensor)
    assert lr is not saver.param_groups[0]["lr"]
    saver.param_groups[0]["lr"].fill_(0.0)
    q.grad = torch.ones(3)
    opt.step()
    np.testing.assert_array_equal(q.detach().numpy(), -1.0)
    lr.fill_(0.25)
    opt.step()
    np.testing.assert_array_equal(q.detach().numpy(), -1.25)


@pytest.mark.parametrize("on", [0, 4])
def test_momentum_turned_on_later_follows_torch(rng, on):
    """SGD built without momentum, momentum set later (by hand, or by OneCycleLR, which
    cycles it from the first step): the buffer starts then, as torch.optim's does."""
    init = [rng.standard_normal(s).astype(np.float32) for s in SHAPES]
    ours, theirs = _tensors(init), _tensors(init)
    arrays = [a.copy() for a in init]
    opt, topt = mt.SGD(ours, lr=0.05), torch.optim.SGD(theirs, lr=0.05)
    nopt = msopt.SGD(arrays, lr=0.05)
    for k in range(12):
        if k == on:
            for o in (opt, topt, nopt):
                o.param_groups[0]["momentum"] = 0.9
        grads = [rng.standard_normal(s).astype(np.float32) for s in SHAPES]
        _set_grads(ours, grads)
        _set_grads(theirs, grads)
        opt.step()
        topt.step()
        nopt.step(grads)
    for t, u, a in zip(ours, theirs, arrays):
        np.testing.assert_array_equal(t.detach().numpy(), a)
        np.testing.assert_allclose(t.detach().numpy(), u.detach().numpy(), **TOL[np.float32])
        np.testing.assert_allclose(opt.state[t]["momentum_buffer"].numpy(),
                                   topt.state[u]["momentum_buffer"].numpy(),
                                   **TOL[np.float32])
    assert sorted(opt.state_dict()["state"][0]) == ["momentum_buffer"]
    # OneCycleLR sets momentum on an SGD built without it
    ours, theirs = _tensors(init), _tensors(init)
    opts = [mt.SGD(ours, lr=0.05), torch.optim.SGD(theirs, lr=0.05)]
    scheds = [torch.optim.lr_scheduler.OneCycleLR(o, max_lr=0.1, total_steps=10)
              for o in opts]
    for _ in range(8):
        grads = [rng.standard_normal(s).astype(np.float32) for s in SHAPES]
        _set_grads(ours, grads)
        _set_grads(theirs, grads)
        for o, sch in zip(opts, scheds):
            o.step()
            sch.step()
    for t, u in zip(ours, theirs):
        np.testing.assert_allclose(t.detach().numpy(), u.detach().numpy(), **TOL[np.float32])


def test_momentum_turned_on_later_by_a_refused_step_or_with_dampening():
    """A refused step adds no buffer; with dampening the late buffer's first step would
    differ from torch.optim's (its copy of the gradient), so that edit is refused."""
    q = np.ones(3, np.float32)
    nopt = msopt.SGD([q], lr=0.1)
    nopt.param_groups[0]["momentum"] = 0.9
    with pytest.raises(msopt.NonFiniteGradientError):
        nopt.step([np.full(3, np.nan, np.float32)])
    assert sorted(nopt.state[0]) == ["step"]
    np.testing.assert_array_equal(q, 1.0)
    nopt.step([np.ones(3, np.float32)])
    np.testing.assert_array_equal(nopt.state[0]["momentum_buffer"], 1.0)
    damp = msopt.SGD([np.ones(3, np.float32)], lr=0.1, dampening=0.5)
    damp.param_groups[0]["momentum"] = 0.9
    with pytest.raises(ValueError, match="asks for momentum != 0 but the optimizer was "
                                         "built without that state"):
        damp.step([np.ones(3, np.float32)])
    assert sorted(damp.state[0]) == ["step"]


def test_add_param_group_zero_grad_hooks_and_frozen_params():
    a = torch.ones(3, requires_grad=True)
    frozen = torch.ones(2)  # requires_grad=False: never has a gradient, skipped
    opt = mt.Adam([a, frozen], lr=0.5)
    opt.param_groups[0]["lr"] = 0.1  # an edit made before add_param_group still counts
    b = torch.ones(2, requires_grad=True)
    opt.add_param_group({"params": [b], "lr": 0.5})
    calls = []
    opt.register_step_pre_hook(lambda o, args, kw: calls.append("pre"))
    opt.register_step_post_hook(lambda o, args, kw: calls.append("post"))
    a.grad, b.grad = torch.ones(3), torch.ones(2)
    opt.step()
    assert calls == ["pre", "post"]
    with torch.autograd.profiler.profile() as prof:  # torch's label for the step
        opt.step()
    assert "Optimizer.step#Adam.step" in {e.name for e in prof.function_events}
    assert calls == ["pre", "post"] * 2
    np.testing.assert_allclose(a.detach().numpy(), 0.8, rtol=1e-6)  # two steps of lr
    np.testing.assert_allclose(b.detach().numpy(), 0.0, atol=1e-6)
    np.testing.assert_array_equal(frozen.numpy(), 1.0)
    assert frozen not in opt.state
    opt.zero_grad()
    assert a.grad is None
    assert b.grad is None
    opt.step()  # no gradients: nothing moves
    np.testing.assert_allclose(a.detach().numpy(), 0.8, rtol=1e-6)
    assert float(opt.state[a]["step"]) == 2


def test_closure_runs_with_grad_enabled():
    p = torch.ones(2, requires_grad=True)
    opt = mt.SGD([p], lr=0.5)

    def closure():
        opt.zero_grad()
        loss = (p * p).sum()
        loss.backward()
        return loss
    with torch.no_grad():
        loss = opt.step(closure)
    assert float(loss.detach()) == 2.0
    np.testing.assert_allclose(p.detach().numpy(), 0.0)


@pytest.mark.parametrize("lib", ["torch", "msopt"])
def test_autograd_sees_the_in_place_update(lib):
    """As with torch.optim, a graph that saved a parameter before the step refuses to
    backpropagate after it; a parameter the step left alone keeps its version."""
    p, frozen = torch.ones(2, requires_grad=True), torch.ones(2, requires_grad=True)
    opt = {"torch": torch.optim.SGD, "msopt": mt.SGD}[lib]([p, frozen], lr=0.1)
    loss = (p * p).sum() + (frozen * frozen).sum()
    version = frozen._version
    p.grad = torch.ones(2)
    opt.step()
    assert frozen._version == version
    with pytest.raises(RuntimeError, match="modified by an inplace operation"):
        loss.backward()


def test_extra_keywords_reach_msopt():
    init = [np.full(3, 4.0, np.float32)]
    ps, arrays = _tensors(init), [init[0].copy()]
    opt = mt.Adam(ps, lr=0.1, max_grad_norm=1.0, nonfinite="skip")
    nopt = msopt.Adam(arrays, lr=0.1, max_grad_norm=1.0)
    ps[0].grad = torch.full((3,), 5.0)
    opt.step()
    nopt.step([np.full(3, 5.0, np.float32)])
    np.testing.assert_array_equal(ps[0].detach().numpy(), arrays[0])
    assert opt._inner.last_grad_norm == pytest.approx(np.sqrt(75))
    ps[0].grad = torch.full((3,), np.nan)
    opt.step()  # skipped: nothing changes
    assert opt._inner.skipped_steps == 1
    np.testing.assert_array_equal(ps[0].detach().numpy(), arrays[0])
    assert repr(opt).startswith("Adam (\nmsopt options: max_grad_norm=1.0, nonfinite='skip'\n"
                                "Parameter Group 0\n")
    assert "    lr: 0.1\n" in repr(opt)
    with pytest.raises(TypeError, match="max_grad_nrom"):
        mt.Adam(ps, max_grad_nrom=1.0)


def test_import_msopt_does_not_import_torch():
    code = "import sys, msopt; msopt.Adam; print('torch' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True)
    assert out.stdout.strip() == "False"


def test_without_torch_the_module_names_the_extra():
    code = ("import sys; sys.modules['torch'] = None\n"
            "try:\n    import msopt.torch\nexcept ImportError as e:\n    print(e)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True)
    assert "pip install 'msopt[torch]'" in out.stdout


# -- refusals -----------------------------------------------------------------------------
@pytest.mark.parametrize(("params", "error", "match"), [
    (lambda: [torch.zeros(3, device="meta")], ValueError,
     r"param_groups\[0\]\['params'\]\[0\]: on device meta"),
    (lambda: [torch.zeros(3), torch.zeros(3, device="meta")], ValueError,
     r"\['params'\]\[1\]: on device meta"),
    (lambda: [torch.zeros(4, 3).t()], ValueError, r"\[0\]: not contiguous"),
    (lambda: [torch.zeros(3, dtype=torch.int64)], TypeError, "dtype torch.int64"),
    (lambda: [torch.zeros(3, dtype=torch.bfloat16)], TypeError, "with master_weights=True"),
    (lambda: [torch.zeros(3).to_sparse()], TypeError, "sparse_coo tensor"),
])
def test_bad_parameters_are_refused(params, error, match):
    with pytest.raises(error, match=match):
        mt.Adam(params())


@pytest.mark.parametrize(("cls", "kw", "match"), [
    ("Adam", {"capturable": True}, "capturable: True is not supported"),
    ("RMSprop", {"capturable": True}, "capturable: True"),
    ("SGD", {"differentiable": True}, "differentiable: True is not supported"),
    ("Adam", {"decoupled_weight_decay": True, "weight_decay": 0.1}, "use msopt.torch.AdamW"),
])
def test_options_that_change_the_math_are_refused(cls, kw, match):
    with pytest.raises(ValueError, match=match):
        getattr(mt, cls)([torch.zeros(2, requires_grad=True)], **kw)


def test_options_that_do_not_change_the_math_are_accepted():
    p = torch.zeros(2, requires_grad=True)
    mt.Adam([p], foreach=True, decoupled_weight_decay=True)  # no weight decay: same math
    mt.SGD([p], fused=False, foreach=False)


def test_a_refused_group_leaves_the_optimizer_as_it_was():
    a = torch.ones(3, requires_grad=True)
    opt = mt.Adam([a], lr=0.1)
    with pytest.raises(TypeError, match=r"param_groups\[1\]\['params'\]\[1\]: dtype"):
        opt.add_param_group({"params": [torch.ones(2), torch.ones(2, dtype=torch.int32)]})
    with pytest.raises(ValueError, match=r"param_groups\[1\]\['capturable'\]"):
        opt.add_param_group({"params": [torch.ones(2)], "capturable": True})
    with pytest.raises(ValueError, match="lr"):
        opt.add_param_group({"params": [torch.ones(2)], "lr": -1.0})
    assert len(opt.param_groups) == 1
    a.grad = torch.ones(3)
    opt.step()
    np.testing.assert_allclose(a.detach().numpy(), 0.9)


def _snapshot(opt, params):
    return ([p.detach().numpy().copy() for p in params],
            {k: (v.clone() if isinstance(v, torch.Tensor) else v)
             for e in opt.state.values() for k, v in e.items()})


def _assert_unchanged(before, after):
    for x, y in zip(before[0], after[0]):
        np.testing.assert_array_equal(x, y)
    assert before[1].keys() == after[1].keys()
    for k in before[1]:
        assert torch.equal(before[1][k], after[1][k])


@pytest.mark.parametrize("edit", ["lr", "fill", "capturable", "betas", "nan", "data",
                                  "groups"])
def test_a_rejected_step_changes_nothing(edit):
    ps = [torch.ones(3, requires_grad=True), torch.ones(2, requires_grad=True)]
    opt = mt.Adam(ps, lr=torch.tensor(0.1) if edit == "fill" else 0.1)
    for p in ps:
        p.grad = torch.ones_like(p)
    opt.step()
    before = _snapshot(opt, ps)
    error, match = ValueError, {"lr": r"param_groups\[0\]\['lr'\]",
                                "fill": r"param_groups\[0\]\['lr'\]",
                                "capturable": r"param_groups\[0\]\['capturable'\]",
                                "betas": r"param_groups\[0\]\['betas'\]",
                                "data": r"\['params'\]\[1\]: its memory was replaced",
                                "groups": "added or removed by hand"}.get(edit, "NaN")
    if edit == "lr":
        opt.param_groups[0]["lr"] = -0.5
    elif edit == "fill":  # a tensor lr edited in place
        opt.param_groups[0]["lr"].fill_(-0.5)
    elif edit == "capturable":
        opt.param_groups[0]["capturable"] = True
    elif edit == "betas":
        opt.param_groups[0]["betas"] = (0.9, 1.5)
    elif edit == "data":
        ps[1].data = torch.zeros(2)
        before[0][1][:] = 0.0
    elif edit == "groups":
        opt.param_groups.append({"params": [], **opt.defaults})
    else:
        ps[0].grad = torch.full((3,), np.nan)
        error = msopt.NonFiniteGradientError
    with pytest.raises(error, match=match):
        opt.step()
    _assert_unchanged(before, _snapshot(opt, ps))


def test_a_rejected_load_changes_nothing():
    ps = [torch.ones(3, requires_grad=True), torch.ones(2, requires_grad=True)]
    opt = mt.Adam(ps, lr=0.1)
    for p in ps:
        p.grad = torch.ones_like(p)
    opt.step()
    good = copy.deepcopy(opt.state_dict())
    before = _snapshot(opt, ps)
    bad = copy.deepcopy(good)
    bad["state"][1]["exp_avg"] = torch.ones(5)
    with pytest.raises(ValueError, match="shape"):
        opt.load_state_dict(bad)
    bad = copy.deepcopy(good)
    bad["param_groups"][0]["capturable"] = True
    with pytest.raises(ValueError, match=r"state_dict\['param_groups'\]\[0\]\['capturable'\]"):
        opt.load_state_dict(bad)
    bad = copy.deepcopy(good)
    bad["state"][0]["step"] = torch.tensor(1.5)
    with pytest.raises(ValueError, match="whole number"):
        opt.load_state_dict(bad)
    bad = copy.deepcopy(good)
    bad["param_groups"][0]["params"] = [0]
    with pytest.raises(ValueError, match="1 parameters"):
        opt.load_state_dict(bad)
    with pytest.raises(TypeError, match="state_dict"):
        opt.load_state_dict([1, 2])
    _assert_unchanged(before, _snapshot(opt, ps))
    assert opt.param_groups[0]["capturable"] is False


def test_optimizer_does_not_pickle():
    opt = mt.SGD([torch.zeros(2, requires_grad=True)])
    with pytest.raises(TypeError, match="state_dict"):
        copy.deepcopy(opt)


def test_named_parameters_tensor_lr_and_gradient_layouts(rng):
    """Named parameters, a tensor lr, and gradients that are not contiguous or require
    grad: the same steps as plain ones."""
    init = rng.standard_normal((4, 3)).astype(np.float32)
    p, q = torch.tensor(init, requires_grad=True), torch.tensor(init, requires_grad=True)
    opt = mt.Adam([("w", p)], lr=torch.tensor(0.01, dtype=torch.float64))
    ref = mt.Adam([q], lr=0.01)
    for _ in range(3):
        g = rng.standard_normal((3, 4)).astype(np.float32)
        p.grad = torch.from_numpy(g).t()
        q.grad = torch.from_numpy(g.T.copy())
        opt.step()
        ref.step()
    p.grad = q.grad.clone().requires_grad_()
    opt.step()
    ref.step()
    np.testing.assert_array_equal(p.detach().numpy(), q.detach().numpy())
    assert opt.state_dict()["param_groups"][0]["param_names"] == ["w"]


def test_sparse_gradients_must_be_row_sparse():
    p = torch.zeros(5, requires_grad=True)
    opt = mt.SGD([p], lr=0.1)
    p.grad = torch.sparse_coo_tensor([[1, 3]], [1.0, 2.0], (5,))
    with pytest.raises(ValueError, match=r"\['params'\]\[0\].grad: a sparse gradient"):
        opt.step()
    np.testing.assert_array_equal(p.detach().numpy(), 0.0)


def test_module_examples_run():
    result = doctest.testmod(mt)
    assert result.attempted > 0
    assert result.failed == 0
