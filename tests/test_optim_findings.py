"""Regression tests of the fuzz suite's optimizer findings (F3-F7) and of issue defect 7's
``set_num_threads``: each refused call names its argument and changes nothing."""

from __future__ import annotations

import copy
import math

import numpy as np
import pytest

import msopt
from msopt import lr_scheduler as S


def _state(opt):
    """Everything a refused call must leave as it was."""
    return (copy.deepcopy(opt.state_dict()), [p.copy() for g in opt.param_groups
                                              for p in g["params"]],
            opt.last_grad_norm, opt.skipped_steps)


def _same(a, b):
    sa, pa, na, ka = a
    sb, pb, nb, kb = b
    assert repr(sa) == repr(sb)
    for x, y in zip(pa, pb):
        assert x.tobytes() == y.tobytes()
    assert (na == nb) or (na != na and nb != nb)  # NaN == NaN here
    assert ka == kb


# -- F3: a refused step leaves last_grad_norm as it was ------------------------------------
@pytest.mark.parametrize("grad", ["dense", "rows"])
def test_refused_step_keeps_last_grad_norm(grad):
    p = [np.ones((4, 3), np.float32)]
    opt = msopt.SGD(p, lr=0.1, max_grad_norm=1.0)
    opt.step([np.ones((4, 3), np.float32)])
    norm = opt.last_grad_norm
    assert norm == pytest.approx(math.sqrt(12))
    bad = (np.full((4, 3), np.nan, np.float32) if grad == "dense"
           else msopt.RowGrad(np.array([0]), np.full((1, 3), np.nan, np.float32)))
    before = _state(opt)
    with pytest.raises(msopt.NonFiniteGradientError):
        opt.step([bad])
    _same(before, _state(opt))
    assert opt.last_grad_norm == norm


def test_refused_step_under_ignore_with_clipping_keeps_last_grad_norm():
    opt = msopt.Adam([np.ones(3)], lr=0.1, max_grad_norm=1.0, nonfinite="ignore")
    opt.step([np.ones(3)])
    before = _state(opt)
    with pytest.raises(msopt.NonFiniteGradientError, match="cannot clip"):
        opt.step([np.array([np.inf, 0.0, 0.0])])
    _same(before, _state(opt))


def test_skipped_step_still_reports_nan():  # "skip" takes the step (counted): not refused
    opt = msopt.SGD([np.zeros(2)], lr=0.1, max_grad_norm=1.0, nonfinite="skip")
    opt.step([np.array([np.nan, 0.0])])
    assert math.isnan(opt.last_grad_norm)
    assert opt.skipped_steps == 1


# -- F4: step(grads) with a non-sequence ---------------------------------------------------
@pytest.mark.parametrize("grads", [object(), slice(1), 3, None, "ab", b"ab",
                                   {0: np.ones(3)}, np.dtype("float32"),
                                   msopt.RowGrad([0], np.ones((1, 3)))])
def test_step_with_grads_not_a_sequence_names_grads(grads):
    opt = msopt.SGD([np.ones((2, 3))], lr=0.1, momentum=0.9)
    opt.step([np.ones((2, 3))])
    before = _state(opt)
    with pytest.raises(TypeError, match=r"^grads: expected a sequence"):
        opt.step(grads)
    _same(before, _state(opt))


def test_step_takes_tuples_and_iterators():
    for wrap in (tuple, iter, list):
        w = np.ones(3)
        msopt.SGD([w], lr=1.0).step(wrap([np.ones(3)]))
        assert (w == 0).all()


# -- F5: state dicts of the wrong shape ----------------------------------------------------
def _adam():
    opt = msopt.Adam([np.ones((2, 3)), np.ones(3)], lr=0.1)
    opt.step([np.ones((2, 3)), np.ones(3)])
    return opt


@pytest.mark.parametrize(("sd", "exc", "match"), [
    ("x", TypeError, r"state_dict: expected a dict"),
    ([1], TypeError, r"state_dict: expected a dict"),
    ({"optimizer": np.array("Adam"), "state": {}, "param_groups": []}, TypeError,
     r"state_dict\['optimizer'\]"),
    ({"optimizer": "Adam", "state": {0: ..., 1: {}}, "param_groups": None}, TypeError,
     r"state_dict\['param_groups'\]"),
])
def test_load_state_dict_of_a_wrong_shape(sd, exc, match):
    opt = _adam()
    before = _state(opt)
    with pytest.raises(exc, match=match):
        opt.load_state_dict(sd)
    _same(before, _state(opt))


def test_load_state_dict_entry_not_a_dict():
    opt = _adam()
    sd = opt.state_dict()
    sd["state"][0] = Ellipsis
    before = _state(opt)
    with pytest.raises(TypeError, match=r"state_dict\['state'\]\[0\]: expected a dict"):
        opt.load_state_dict(sd)
    _same(before, _state(opt))


@pytest.mark.parametrize(("flat", "exc", "match"), [
    ({}, ValueError, r"flat: not a flattened state dict \(no 'optimizer' key\)"),
    ("x", TypeError, r"flat: expected a mapping"),
    (None, TypeError, r"flat: expected a mapping"),
    ({"optimizer": np.array(["Adam", "x"])}, ValueError, r"flat\['optimizer'\]"),
    ({"optimizer": np.array("Adam"), "state/x/step": np.array(1)}, ValueError,
     r"flat\['state/x/step'\]"),
    ({"optimizer": np.array("Adam"), "state/0/step": np.array([1, 2])}, ValueError,
     r"flat\['state/0/step'\]"),
    ({"optimizer": np.array("Adam"), "param_groups/0/params": np.array(0)}, ValueError,
     r"flat\['param_groups/0/params'\]"),
    ({"optimizer": np.array("Adam"), 3: np.array(0)}, TypeError, r"flat: expected str keys"),
])
def test_unflatten_names_what_is_wrong(flat, exc, match):
    with pytest.raises(exc, match=match):
        msopt.unflatten_state_dict(flat)


@pytest.mark.parametrize(("sd", "exc", "match"), [
    ("x", TypeError, r"state_dict: expected a dict"),
    ({}, ValueError, r"state_dict: the key 'optimizer' is missing"),
    ({"optimizer": 1, "state": {}, "param_groups": []}, TypeError,
     r"state_dict\['optimizer'\]"),
    ({"optimizer": "Adam", "state": [], "param_groups": []}, TypeError,
     r"state_dict\['state'\]"),
    ({"optimizer": "Adam", "state": {0: 1}, "param_groups": []}, TypeError,
     r"state_dict\['state'\]\[0\]"),
    ({"optimizer": "Adam", "state": {}, "param_groups": 1}, TypeError,
     r"state_dict\['param_groups'\]"),
    ({"optimizer": "Adam", "state": {}, "param_groups": [1]}, TypeError,
     r"state_dict\['param_groups'\]\[0\]"),
    ({"optimizer": "Adam", "state": {0: {"exp_avg": object()}}, "param_groups": []},
     TypeError, r"state_dict\['state'\]\[0\]\['exp_avg'\]"),
])
def test_flatten_names_what_is_wrong(sd, exc, match):
    with pytest.raises(exc, match=match):
        msopt.flatten_state_dict(sd)


def test_flat_round_trip_still_works(tmp_path):
    opt = _adam()
    np.savez(tmp_path / "s.npz", **msopt.flatten_state_dict(opt.state_dict()))
    other = msopt.Adam([np.ones((2, 3)), np.ones(3)], lr=0.1)
    other.load_state_dict(msopt.unflatten_state_dict(np.load(tmp_path / "s.npz")))
    assert repr(other.state_dict()) == repr(opt.state_dict())


# -- F6: params / add_param_group of a wrong type ------------------------------------------
@pytest.mark.parametrize("params", [None, 3, np.dtype("float32"), "w", {"a": 1}])
def test_add_param_group_params_of_a_wrong_type(params):
    opt = _adam()
    before = _state(opt)
    with pytest.raises(TypeError, match=r"^param_groups\[1\]\['params'\]: expected a list"):
        opt.add_param_group({"params": params})
    _same(before, _state(opt))
    assert len(opt.param_groups) == 1


@pytest.mark.parametrize("params", [None, 3, np.dtype("float32"), "w"])
def test_constructor_params_of_a_wrong_type(params):
    with pytest.raises(TypeError, match=r"^params: expected a list"):
        msopt.AdamW(params)


# -- F7: schedulers ------------------------------------------------------------------------
def _sgd():
    return msopt.SGD([np.ones(3, np.float32)], lr=0.1, momentum=0.5)


@pytest.mark.parametrize("last_epoch", [0, np.int64(3)])
def test_resume_without_initial_lr_names_last_epoch(last_epoch):
    opt = _sgd()
    before = _state(opt)
    # A KeyError as in torch, and a ValueError naming the argument as in msopt.
    for exc in (KeyError, ValueError):
        with pytest.raises(exc, match=r"last_epoch: .* resumes a schedule.*'initial_lr'"):
            S.StepLR(opt, 2, last_epoch=last_epoch)
    _same(before, _state(opt))


@pytest.mark.parametrize(("make", "exc", "match"), [
    (lambda o: S.StepLR(o, 2, last_epoch="x"), TypeError, "last_epoch: expected an int"),
    (lambda o: S.StepLR(o, 2, last_epoch=-2), ValueError, "last_epoch: must be >= -1"),
    (lambda o: S.StepLR(o, 2, last_epoch=2**70), ValueError, "last_epoch: must be <="),
    (lambda o: S.ExponentialLR(o, gamma=[1]), TypeError, "gamma: expected a number"),
    (lambda o: S.ReduceLROnPlateau(o, patience=[1]), TypeError, "patience: expected an int"),
    (lambda o: S.ReduceLROnPlateau(o, patience=1.0), TypeError, "patience: expected an int"),
    (lambda o: S.ReduceLROnPlateau(o, cooldown=2**64), ValueError, "cooldown: must be <="),
    (lambda o: S.ReduceLROnPlateau(o, factor="0.5"), TypeError, "factor: expected a number"),
    (lambda o: S.ReduceLROnPlateau(o, eps=math.nan), ValueError, "eps: must be finite"),
])
def test_scheduler_arguments_are_named(make, exc, match):
    opt = _sgd()
    before = _state(opt)
    with pytest.raises(exc, match=match):
        make(opt)
    _same(before, _state(opt))


@pytest.mark.parametrize(("metric", "exc", "match"), [
    ([1], TypeError, "metric: expected a number, got list"),
    ("1", TypeError, "metric: expected a number, got str"),
    (None, TypeError, "metric: expected a number"),
    (np.ones(2), TypeError, "metric: expected a number"),
    (math.nan, ValueError, "metric: expected a number, not NaN"),
    (10**400, ValueError, "metric: .* is beyond the float range"),
])
def test_plateau_step_metric_is_checked(metric, exc, match):
    opt = _sgd()
    sched = S.ReduceLROnPlateau(opt, patience=0)
    sched.step(1.0)
    before, state = _state(opt), repr(sched.state_dict())
    with pytest.raises(exc, match=match):
        sched.step(metric)
    _same(before, _state(opt))
    assert repr(sched.state_dict()) == state


def test_plateau_step_takes_numbers_and_0d_arrays():
    opt = _sgd()
    sched = S.ReduceLROnPlateau(opt, patience=0, factor=0.5)
    for m in (1.0, np.float32(2.0), np.array(3.0), 4, math.inf):
        sched.step(m)
    assert opt.param_groups[0]["lr"] == pytest.approx(0.1 * 0.5**4)


def test_scheduler_step_refuses_a_rate_the_optimizer_would_refuse():
    opt = _sgd()
    sched = S.StepLR(opt, 2, gamma=1e308)
    opt.step([np.ones(3, np.float32)])
    sched.step()  # epoch 1: 0.1
    before, state = _state(opt), repr(sched.state_dict())
    with pytest.raises(ValueError, match=r"StepLR: the rate at epoch 2 .*gamma = 1e\+308.*"
                                         r"overflows float32"):
        sched.step()
    _same(before, _state(opt))
    assert repr(sched.state_dict()) == state


# -- issue defect 7: set_num_threads -------------------------------------------------------
@pytest.fixture
def _threads():
    old = msopt.get_num_threads()
    yield
    msopt.set_num_threads(old)


@pytest.mark.usefixtures("_threads")
@pytest.mark.parametrize(("n", "exc"), [
    (np.uint64(2**64 - 1), ValueError), (2**31, ValueError), (2**70, ValueError),
    (-(2**70), ValueError), (0, ValueError), (1025, ValueError), (None, TypeError),
    ("2", TypeError), (True, TypeError), (np.bool_(True), TypeError), (1.5, TypeError),
    (math.nan, TypeError),
])
def test_set_num_threads_range_checked_in_python(n, exc):
    msopt.set_num_threads(2)
    with pytest.raises(exc, match=r"^n: ") as e:
        msopt.set_num_threads(n)
    assert "incompatible function arguments" not in str(e.value)
    assert msopt.get_num_threads() == 2


@pytest.mark.usefixtures("_threads")
def test_set_num_threads_takes_ints():
    for n in (1, np.int64(3), np.uint8(2), 2.0, 1024):
        msopt.set_num_threads(n)
        assert msopt.get_num_threads() == int(n)
