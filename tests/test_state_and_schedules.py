"""state_dict round trips, schedules, and hypothesis properties against the reference."""

from __future__ import annotations

import io
import math

import numpy as np
import pytest
from conftest import CASE_IDS, CASES, Pair, random_grads
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import msopt


@pytest.mark.parametrize(("name", "opts"), CASES, ids=CASE_IDS)
def test_savez_round_trip_continues_bit_identically(rng, name, opts):
    shapes = [(13, 3), (17,)]
    init = [rng.standard_normal(s).astype(np.float32) for s in shapes]
    a = [x.copy() for x in init]
    opt_a = getattr(msopt, name)(a, **opts)
    grads = [random_grads(rng, a) for _ in range(10)]
    for g in grads[:5]:
        opt_a.step(g)
    buf = io.BytesIO()
    np.savez(buf, **msopt.flatten_state_dict(opt_a.state_dict()))
    buf.seek(0)
    b = [x.copy() for x in a]
    opt_b = getattr(msopt, name)(b, lr=123.0)  # hyperparameters come from the file
    opt_b.load_state_dict(msopt.unflatten_state_dict(np.load(buf, allow_pickle=False)))
    assert opt_b.param_groups[0]["lr"] == opts["lr"]
    for g in grads[5:]:
        opt_a.step(g)
        opt_b.step(g)
    for x, y in zip(a, b):
        np.testing.assert_array_equal(x, y)


def test_state_dict_is_a_snapshot(rng):
    w = rng.standard_normal(5)
    opt = msopt.Adam([w])
    opt.step([np.ones(5)])
    sd = opt.state_dict()
    opt.step([np.ones(5)])
    assert sd["state"][0]["step"] == 1
    assert not np.array_equal(sd["state"][0]["exp_avg"], opt.state[0]["exp_avg"])


def test_load_rejects_other_optimizer_and_shapes(rng):
    w = rng.standard_normal(5).astype(np.float32)
    adam = msopt.Adam([w])
    adam.step([np.ones(5, np.float32)])
    before = adam.state_dict()
    with pytest.raises(ValueError, match="from a SGD optimizer, not Adam"):
        adam.load_state_dict(msopt.SGD([np.zeros(5)]).state_dict())
    other = msopt.Adam([np.zeros(6, np.float32)]).state_dict()
    with pytest.raises(ValueError, match=r"state\[0\]\['exp_avg'\] has shape \(6,\)"):
        adam.load_state_dict(other)
    f64 = msopt.Adam([np.zeros(5)]).state_dict()
    with pytest.raises(ValueError, match="dtype float64"):
        adam.load_state_dict(f64)
    ams = msopt.Adam([np.zeros(5, np.float32)], amsgrad=True).state_dict()
    del ams["state"][0]["max_exp_avg_sq"]
    with pytest.raises(ValueError, match=r"lacks state \['max_exp_avg_sq'\]"):
        adam.load_state_dict(ams)
    two = msopt.Adam([{"params": [np.zeros(5, np.float32)]},
                      {"params": [np.zeros(2, np.float32)]}]).state_dict()
    with pytest.raises(ValueError, match="number of param groups"):
        adam.load_state_dict(two)
    sgd_like = adam.state_dict()
    sgd_like["state"][0]["momentum_buffer"] = np.zeros(5, np.float32)
    with pytest.raises(ValueError, match="does not keep"):
        adam.load_state_dict(sgd_like)
    bad = adam.state_dict()
    bad["param_groups"][0]["betas"] = (1.5, 0.9)
    with pytest.raises(ValueError, match=r"betas\[0\]"):
        adam.load_state_dict(bad)
    after = adam.state_dict()
    np.testing.assert_array_equal(before["state"][0]["exp_avg"], after["state"][0]["exp_avg"])
    assert before["param_groups"] == after["param_groups"]


def test_schedules_closed_form():
    opt = msopt.SGD([np.zeros(1)], lr=2.0)
    s = msopt.lr_scheduler.WarmupCosineLR(opt, warmup_steps=4, total_steps=12, min_lr=0.1)
    got = []
    for _ in range(14):
        got.append(opt.param_groups[0]["lr"])
        s.step()
    want = [2.0 * k / 4 if k < 4 else
            0.1 + 1.9 * (1 + math.cos(math.pi * (k - 4) / 8)) / 2 if k < 12 else 0.1
            for k in range(14)]
    assert got == pytest.approx(want)

    opt = msopt.SGD([np.zeros(1)], lr=1.0)
    s = msopt.lr_scheduler.LinearDecayLR(opt, total_steps=10)
    got = []
    for _ in range(12):
        got.append(opt.param_groups[0]["lr"])
        s.step()
    assert got == pytest.approx([max(1 - k / 10, 1e-4) for k in range(12)])


def test_schedule_drives_the_native_step():
    w = np.zeros(1)
    opt = msopt.SGD([w], lr=1.0)
    s = msopt.lr_scheduler.ExponentialLR(opt, gamma=0.5)
    for _ in range(3):
        opt.step([np.ones(1)])
        s.step()
    assert w[0] == -(1 + 0.5 + 0.25)


@settings(max_examples=60, deadline=None)
@given(
    case=st.sampled_from(CASES),
    p=hnp.arrays(st.sampled_from([np.float32, np.float64]),
                 hnp.array_shapes(min_dims=1, max_dims=3, max_side=9),
                 elements=st.floats(-1e3, 1e3, width=32)),
    seed=st.integers(0, 2**32 - 1),
    steps=st.integers(1, 6),
)
def test_property_matches_reference(case, p, seed, steps):
    name, opts = case
    rng = np.random.default_rng(seed)
    pair = Pair(name, opts, [p.copy()])
    for _ in range(steps):
        pair.step([(rng.standard_normal(p.shape) * 10).astype(p.dtype)])
    pair.assert_equal()


@settings(max_examples=40, deadline=None)
@given(
    rows=st.integers(1, 40), dim=st.integers(0, 9), k=st.integers(0, 60),
    seed=st.integers(0, 2**32 - 1), case=st.sampled_from(CASES),
)
def test_property_row_sparse_matches_reference(rows, dim, k, seed, case):
    name, opts = case
    rng = np.random.default_rng(seed)
    table = rng.standard_normal((rows, dim)).astype(np.float32)
    pair = Pair(name, opts, [table])
    for _ in range(3):
        ids = rng.integers(0, rows, k)
        pair.step([msopt.RowGrad(ids, rng.standard_normal((k, dim)).astype(np.float32))])
    pair.assert_equal()


def test_second_schedule_keeps_the_base_rate():
    opt = msopt.SGD([np.zeros(1)], lr=1.0)
    msopt.lr_scheduler.WarmupCosineLR(opt, warmup_steps=5, total_steps=10)
    assert opt.param_groups[0]["lr"] == 0.0  # warmup starts at 0
    s = msopt.lr_scheduler.StepLR(opt, step_size=1, gamma=0.5)
    assert s.base_lrs == [1.0]
