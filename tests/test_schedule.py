"""One schedule definition (_core.Schedule, csrc/msopt/optim/schedule.hpp): the Python
schedulers, the linear runner and the documented formulas agree, kind by kind."""

from __future__ import annotations

import math

import numpy as np
import pytest

import msopt
from msopt import _core
from msopt.optim import lr_scheduler as lrs

K = _core.ScheduleKind


# The documented formulas, written out in Python in the order schedule.hpp evaluates them.
def formula(kind: K, k: float, *, base: float = 1.0, end: float = 0.0, floor: float = 0.0,
            total: float = 1.0, warmup: float = 0.0, gamma: float = 1.0,
            step_size: int = 1) -> float:
    if kind == K.LINEAR:
        return max(base - (base - end) * (k / total), floor)
    if kind == K.STEP:
        return base * gamma ** math.floor(k / step_size)
    if kind == K.EXPONENTIAL:
        return base * gamma**k
    if kind == K.WARMUP_COSINE:
        if k < warmup:
            return base * k / warmup
        if k >= total:
            return floor
        return floor + (base - floor) * (1 + math.cos(math.pi * (k - warmup)
                                                      / (total - warmup))) / 2
    return base


def scheduler_rates(make, base_lr: float, n: int) -> list[float]:
    opt = msopt.SGD([np.zeros(2)], lr=base_lr)
    sched = make(opt)
    rates = []
    for _ in range(n):
        rates.append(opt.param_groups[0]["lr"])
        sched.step()
    return rates


CASES = [
    # (kind, native parameters, scheduler factory given the base rate, lr = base * factor?)
    (K.STEP, dict(gamma=0.5, step_size=2), lambda o: lrs.StepLR(o, 2, 0.5), False),
    (K.STEP, dict(gamma=0.9, step_size=7), lambda o: lrs.StepLR(o, 7, 0.9), False),
    (K.STEP, dict(gamma=1.5, step_size=1), lambda o: lrs.StepLR(o, 1, 1.5), False),
    (K.EXPONENTIAL, dict(gamma=0.95), lambda o: lrs.ExponentialLR(o, 0.95), False),
    (K.EXPONENTIAL, dict(gamma=0.3), lambda o: lrs.ExponentialLR(o, 0.3), False),
    (K.WARMUP_COSINE, dict(warmup=5, total=30, floor=1e-3),
     lambda o: lrs.WarmupCosineLR(o, 5, 30, min_lr=1e-3), False),
    (K.WARMUP_COSINE, dict(warmup=0, total=17, floor=0.0),
     lambda o: lrs.WarmupCosineLR(o, 0, 17), False),
    (K.WARMUP_COSINE, dict(warmup=9, total=10, floor=0.05),
     lambda o: lrs.WarmupCosineLR(o, 9, 10, min_lr=0.05), False),
    (K.LINEAR, dict(total=20, floor=1e-4), lambda o: lrs.LinearDecayLR(o, 20), True),
    (K.LINEAR, dict(total=7, floor=0.25), lambda o: lrs.LinearDecayLR(o, 7, 0.25), True),
    (K.LINEAR, dict(total=1, floor=0.0), lambda o: lrs.LinearDecayLR(o, 1, 0.0), True),
]


@pytest.mark.parametrize(("kind", "params", "make", "factor"), CASES)
@pytest.mark.parametrize("base_lr", [1.0, 0.037, 3e-4])
def test_python_schedulers_are_the_native_formula(kind, params, make, factor, base_lr):
    n = 40
    got = scheduler_rates(make, base_lr, n)
    if factor:  # LinearDecayLR: base_lr times the factor schedule (base 1)
        sched = _core.Schedule(kind, **params)
        native = [base_lr * r for r in sched.rates(0, n)]
        want = [base_lr * formula(kind, k, **params) for k in range(n)]
    else:
        sched = _core.Schedule(kind, base=base_lr, **params)
        native = list(sched.rates(0, n))
        want = [formula(kind, k, base=base_lr, **params) for k in range(n)]
    assert got == want  # bit for bit
    assert native == want
    assert [sched.at(k) for k in range(n)] == list(sched.rates(0, n))


def test_constant_and_repr():
    s = _core.Schedule()
    assert s.kind == K.CONSTANT
    assert s.at(123) == 1.0
    assert "LINEAR" in repr(_core.Schedule(K.LINEAR, total=3))
    with pytest.raises(ValueError, match="step_size"):
        _core.Schedule(K.STEP, step_size=0)
    with pytest.raises(ValueError, match="total"):
        _core.Schedule(K.LINEAR, total=0)


@pytest.mark.parametrize("seed", range(3))
def test_word2vec_and_classifier_decays_are_the_linear_kind(seed):
    """word2vec: alpha - (alpha - min_alpha) * done / share; the text classifier:
    lr * (1 - done / total).  Both are LINEAR evaluations, bit for bit."""
    rng = np.random.default_rng(seed)
    for _ in range(200):
        alpha, min_alpha = rng.uniform(1e-3, 0.1), rng.uniform(0, 1e-3)
        share = float(rng.integers(1, 10**7))
        done = float(rng.integers(0, int(share) + 1))
        s = _core.Schedule(K.LINEAR, base=alpha, end=min_alpha, floor=-math.inf, total=share)
        assert s.at(done) == alpha - (alpha - min_alpha) * (done / share)
        lr = rng.uniform(0.01, 1.0)
        f = _core.Schedule(K.LINEAR, total=share)
        assert lr * f.at(done) == lr * (1.0 - done / share)


RUNNER = [
    ("constant", dict(), K.CONSTANT, dict()),
    ("linear", dict(schedule_steps=12, min_factor=1e-4), K.LINEAR, dict(total=12, floor=1e-4)),
    ("linear", dict(schedule_steps=5, min_factor=0.3), K.LINEAR, dict(total=5, floor=0.3)),
    ("cosine", dict(schedule_steps=14, warmup_steps=3, min_factor=0.01), K.WARMUP_COSINE,
     dict(total=14, warmup=3, floor=0.01)),
    ("cosine", dict(schedule_steps=9, warmup_steps=0, min_factor=0.0), K.WARMUP_COSINE,
     dict(total=9, warmup=0, floor=0.0)),
]


@pytest.mark.parametrize(("name", "kw", "kind", "params"), RUNNER)
def test_runner_rates_are_the_formula(name, kw, kind, params):
    """The linear runner's rate at each step, read back from plain SGD on the intercept of
    a squared loss (dL/db = c * (b - y) with X = 0), against the formula."""
    n, lr = 4, 0.01
    X, y = np.zeros((n, 1)), np.ones(n)

    def increments(schedule, **opts):
        m = msopt.LinearModel(1, 1, "squared", optimizer="sgd", lr=lr)
        out = []
        for _ in range(16):
            b0 = float(m.b[0])
            m.run(X, y, epochs=1, batch_size=n, shuffle=False, schedule=schedule, **opts)
            out.append((float(m.b[0]) - b0) / (lr * (1.0 - b0)))
        return np.array(out)

    c = increments("constant")[0]  # the loss's gradient scale
    got = increments(name, **kw) / c
    want = [formula(kind, k, **params) for k in range(16)]
    np.testing.assert_allclose(got, want, rtol=1e-9, atol=1e-12)
    # and the runner's schedule object is that same native definition
    from msopt.linear_model.layer import run_schedule
    s = run_schedule(name, kw.get("schedule_steps", 1), kw.get("warmup_steps", 0),
                     kw.get("min_factor", 1e-4))
    assert list(s.rates(0, 16)) == want


# -- the typed boundary -------------------------------------------------------------------
def test_enums_and_native_state():
    w = np.zeros(3)
    opt = msopt.Adam([w], lr=0.1, max_grad_norm=2.0)
    st = opt.native_state()
    assert st.algo is _core.Algo.ADAM
    assert st.hypers[0][0] == 0.1
    assert st.group_sizes == [1]
    assert st.params[0] is w
    assert len(st.states) == _core.MAX_STATE_SLOTS
    assert st.max_grad_norm == 2.0
    opt.step([np.ones(3)])
    assert st.steps[0] == 1  # live
    with pytest.raises(TypeError, match="algo: expected msopt._core.Algo, got int"):
        _core.optimizer_step(1, [w], [np.ones(3)], st.states, st.steps, st.hypers, [1], 0.0,
                             True)
    assert _core.LinearRunOptions().loss is _core.Loss.SQUARED
    o = _core.LinearRunOptions(loss=_core.Loss.HINGE, batch_size=5)
    assert (o.loss, o.batch_size, o.schedule.kind) == (_core.Loss.HINGE, 5, K.CONSTANT)


def test_array_checker_wording():
    W = np.zeros((3, 1))
    with pytest.raises(ValueError, match=r"^X: expected a 2-D C-contiguous float64 array, "
                                         r"got a 1-D float64 array of shape \(3,\)$"):
        _core.linear_forward(np.ones(3), None, None, W, None)
    with pytest.raises(TypeError, match=r"^X: expected a 2-D C-contiguous float64 array, "
                                        r"got list$"):
        _core.linear_forward([[1.0, 2.0, 3.0]], None, None, W, None)
    with pytest.raises(ValueError, match=r"^X: expected a 2-D C-contiguous float64 array, "
                                         r"got a non-contiguous 2-D float64"):
        _core.linear_forward(np.ones((3, 6))[:, ::2], None, None, W, None)
    with pytest.raises(ValueError, match=r"^X: expected shape \(\*, 3\), got \(2, 2\)$"):
        _core.linear_forward(np.ones((2, 2)), None, None, W, None)
