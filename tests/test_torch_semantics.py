"""Trajectories against torch.optim itself, where torch is installed."""

from __future__ import annotations

import math

import numpy as np
import pytest
from conftest import CASE_IDS, CASES, DTYPES

import msopt

torch = pytest.importorskip("torch", reason="torch is not installed")

# torch's sparse optimizers build sparse tensors internally and warn about it.
pytestmark = pytest.mark.filterwarnings("ignore:Sparse invariant checks:UserWarning")

TORCH_CASES = [(n, o) for n, o in CASES if n != "Lion"]
TORCH_IDS = [i for (n, _), i in zip(CASES, CASE_IDS) if n != "Lion"]
# float32: rtol 1e-5, and an absolute floor of 1e-5 for elements near zero, where a
# one-ulp difference in a sum's order (torch coalesces sparse gradients in index order,
# msopt in position order) or in Adam's divisor is a large relative difference.
TOL = {np.float32: dict(rtol=1e-5, atol=1e-5), np.float64: dict(rtol=1e-11, atol=1e-12)}


def _torch_opt(name, params, opts):
    return getattr(torch.optim, name)(params, **opts)


def _no_cancellation(name, grads, params, opts, clip):
    """Move gradient elements whose effective gradient, ``(-g if maximize else g) * scale +
    weight_decay * p`` (scale: the clipping factor; decay coupled to the gradient, as all
    but AdamW's), nearly cancels: its float32 value then
    carries a large relative rounding error (torch rounds ``weight_decay * p`` to float32,
    msopt adds it with one rounding), and a normalizing optimizer's step divides it by a
    root of its own square plus eps, which turns that error into a visible difference
    (centered RMSprop's first step moved an element by lr * 2.605 here, torch's by 2.609,
    for an effective gradient of 1e-7 out of terms of 4e-2).  Such an element is moved to
    an effective gradient of magnitude at least 1e-3 (a change of 1e-2 in g)."""
    wd = opts.get("weight_decay", 0.0)
    if not wd or name == "AdamW":
        return grads
    norm = math.sqrt(sum(float(np.sum(g.astype(np.float64) ** 2)) for g in grads))
    scale = 1.0 if clip is None else min(1.0, clip / (norm + 1e-6))
    sign = -1.0 if opts.get("maximize") else 1.0
    out = []
    for g, p in zip(grads, params):
        terms = sign * g.astype(np.float64) * scale + wd * p.astype(np.float64)
        near = np.abs(terms) < 1e-3
        push = np.where(terms >= 0, 1.0, -1.0) * sign * 1e-2 / scale
        out.append(np.where(near, g + push, g).astype(g.dtype))
    return out


@pytest.mark.parametrize(("name", "opts"), TORCH_CASES, ids=TORCH_IDS)
@pytest.mark.parametrize("dtype", DTYPES, ids=["f32", "f64"])
@pytest.mark.parametrize("clip", [None, 3.0], ids=["noclip", "clip"])
def test_dense_trajectory_matches_torch(rng, name, opts, dtype, clip):
    shapes = [(17,), (1000,), (8, 9)]
    init = [rng.standard_normal(s).astype(dtype) for s in shapes]
    ours = [a.copy() for a in init]
    theirs = [torch.tensor(a.copy(), requires_grad=True) for a in init]
    opt = getattr(msopt, name)(ours, **opts, max_grad_norm=clip)
    topt = _torch_opt(name, theirs, opts)
    for _ in range(50):
        grads = [rng.standard_normal(s).astype(dtype) for s in shapes]
        grads = _no_cancellation(name, grads, ours, opts, clip)
        opt.step(grads)
        for t, g in zip(theirs, grads):
            t.grad = torch.from_numpy(g.copy())
        if clip is not None:
            # torch's norm must agree with ours; its scaled gradients are then replaced by
            # ours (msopt keeps the coefficient in float64, torch rounds it to the gradient's
            # dtype: a one-ulp difference that centered RMSprop's sqrt(sq - avg^2) can blow
            # up past rtol over 50 float32 steps).
            norm = float(torch.nn.utils.clip_grad_norm_(theirs, clip))
            assert norm == pytest.approx(opt.last_grad_norm, rel=1e-5)
            scale = min(1.0, clip / (opt.last_grad_norm + 1e-6))
            for t, g in zip(theirs, grads):
                t.grad = torch.from_numpy(g * scale)
        topt.step()
    for a, t in zip(ours, theirs):
        np.testing.assert_allclose(a, t.detach().numpy(), **TOL[dtype])


@pytest.mark.parametrize(
    ("ours", "theirs", "opts"),
    [("Adam", "SparseAdam", {"lr": 0.01, "eps": 1e-16}),
     ("Adagrad", "Adagrad", {"lr": 0.05}),
     ("SGD", "SGD", {"lr": 0.05})],
)
@pytest.mark.parametrize("dtype", DTYPES, ids=["f32", "f64"])
def test_row_sparse_matches_torch_sparse(rng, ours, theirs, opts, dtype):
    """msopt's lazy row update agrees with torch's sparse optimizers.  SparseAdam adds eps
    before the bias correction and msopt after; the two differ by about eps / sqrt(v)
    relative, so that case runs with a tiny eps to compare everything else."""
    rows, dim = 300, 7
    init = rng.standard_normal((rows, dim)).astype(dtype)
    table = init.copy()
    ttable = torch.tensor(init.copy(), requires_grad=True)
    opt = getattr(msopt, ours)([table], **opts)
    topt = getattr(torch.optim, theirs)([ttable], **opts)
    for _ in range(30):
        ids = rng.zipf(1.5, size=64) % rows
        vals = rng.standard_normal((64, dim)).astype(dtype)
        opt.step([msopt.RowGrad(ids, vals)])
        ttable.grad = torch.sparse_coo_tensor(torch.from_numpy(ids[None, :]),
                                              torch.from_numpy(vals), (rows, dim),
                                              check_invariants=True)
        topt.step()
    np.testing.assert_allclose(table, ttable.detach().numpy(), **TOL[dtype])


@pytest.mark.parametrize("sched", ["StepLR", "ExponentialLR"])
def test_schedules_match_torch(sched):
    kw = {"StepLR": dict(step_size=3, gamma=0.5), "ExponentialLR": dict(gamma=0.9)}[sched]
    opt = msopt.SGD([np.zeros(2)], lr=0.3)
    topt = torch.optim.SGD([torch.zeros(2, requires_grad=True)], lr=0.3)
    s = getattr(msopt.lr_scheduler, sched)(opt, **kw)
    ts = getattr(torch.optim.lr_scheduler, sched)(topt, **kw)
    for _ in range(12):
        assert s.get_last_lr() == pytest.approx(ts.get_last_lr(), rel=1e-12)
        topt.step()
        s.step()
        ts.step()


def test_reduce_on_plateau_matches_torch(rng):
    opt = msopt.SGD([np.zeros(2)], lr=1.0)
    topt = torch.optim.SGD([torch.zeros(2, requires_grad=True)], lr=1.0)
    kw = dict(factor=0.5, patience=2, cooldown=1, min_lr=0.01)
    s = msopt.lr_scheduler.ReduceLROnPlateau(opt, **kw)
    ts = torch.optim.lr_scheduler.ReduceLROnPlateau(topt, **kw)
    metric = 10.0
    for _ in range(40):
        metric = metric * 0.9 if rng.random() < 0.3 else metric
        topt.step()
        s.step(metric)
        ts.step(metric)
        assert opt.param_groups[0]["lr"] == pytest.approx(topt.param_groups[0]["lr"])
