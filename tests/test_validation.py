"""Bad input: a clear exception naming the argument, and nothing changed."""

from __future__ import annotations

import numpy as np
import pytest

import msopt


def _snapshot(opt):
    params = [p.copy() for p in opt._params]
    state = {i: {k: (v.copy() if isinstance(v, np.ndarray) else v) for k, v in e.items()}
             for i, e in opt.state.items()}
    return params, state


def _assert_unchanged(opt, snap):
    params, state = snap
    for p, q in zip(opt._params, params):
        np.testing.assert_array_equal(p, q)
    now = opt.state
    for i, e in state.items():
        for k, v in e.items():
            np.testing.assert_array_equal(now[i][k], v)


@pytest.fixture
def opt(rng):
    w = rng.standard_normal((10, 4)).astype(np.float32)
    b = rng.standard_normal(4).astype(np.float32)
    o = msopt.Adam([w, b], lr=0.1, amsgrad=True)
    o.step([rng.standard_normal((10, 4)).astype(np.float32),
            rng.standard_normal(4).astype(np.float32)])
    return o


def _good(rng):
    return [rng.standard_normal((10, 4)).astype(np.float32),
            rng.standard_normal(4).astype(np.float32)]


@pytest.mark.parametrize(
    ("mutate", "exc", "match"),
    [
        (lambda g: [g[0].astype(np.float64), g[1]], TypeError,
         r"grads\[0\]: expected a float32 array, got a 2-D float64 array"),
        (lambda g: [g[0], g[1].astype(np.float16)], TypeError,
         r"grads\[1\]: expected a float32 array, got a 1-D float16"),
        (lambda g: [g[0].astype(np.int32), g[1]], TypeError,
         r"grads\[0\]: expected a float32 array, got a 2-D int32"),
        (lambda g: [g[0], g[1].astype(">f4")], TypeError, r"grads\[1\]"),
        (lambda g: [g[0].T.copy(), g[1]], ValueError,
         r"grads\[0\]: expected shape \(10, 4\) .*, got \(4, 10\)"),
        (lambda g: [g[0], g[1][:3]], ValueError,
         r"grads\[1\]: expected shape \(4,\) .*, got \(3,\)"),
        (lambda g: [g[0]], ValueError, r"grads: expected 2 gradients"),
        (lambda g: g + [g[1]], ValueError, r"grads: expected 2 gradients"),
        (lambda g: [g[0].tolist(), g[1]], TypeError, r"grads\[0\]: expected a numpy.ndarray"),
        (lambda g: [msopt.RowGrad([1, 10], np.ones((2, 4), np.float32)), g[1]], IndexError,
         r"grads\[0\].indices\[1\] = 10 is out of range for a table of 10 rows"),
        (lambda g: [msopt.RowGrad([-1], np.ones((1, 4), np.float32)), g[1]], IndexError,
         r"grads\[0\].indices\[0\] = -1"),
        (lambda g: [msopt.RowGrad([1, 2], np.ones((2, 3), np.float32)), g[1]], ValueError,
         r"grads\[0\].values: expected shape \(2, 4\) .*, got \(2, 3\)"),
        (lambda g: [msopt.RowGrad([1, 2], np.ones((3, 4), np.float32)), g[1]], ValueError,
         r"grads\[0\].values: expected shape \(2, 4\) .*, got \(3, 4\)"),
        (lambda g: [msopt.RowGrad([1, 2], np.ones((2, 4))), g[1]], TypeError,
         r"grads\[0\].values: expected a 2-D float32 array, got a 2-D float64"),
        (lambda g: [g[0], msopt.RowGrad([0], np.ones((1, 4), np.float32))], ValueError,
         r"grads\[1\]: a RowGrad needs a 2-D parameter"),
        (lambda g: [g[0], g[1] * np.nan], msopt.NonFiniteGradientError, "NaN or Inf"),
        (lambda g: [g[0] * np.inf, g[1]], msopt.NonFiniteGradientError, "NaN or Inf"),
        (lambda g: [msopt.RowGrad([1], np.full((1, 4), np.nan, np.float32)), g[1]],
         msopt.NonFiniteGradientError, "NaN or Inf"),
        (lambda g: [msopt.RowGrad([1, 1], np.full((2, 4), 3e38, np.float32)), g[1]],
         msopt.NonFiniteGradientError, "NaN or Inf"),  # finite rows whose sum overflows
    ],
    ids=lambda x: x if isinstance(x, str) else "",
)
def test_bad_step_raises_and_changes_nothing(rng, opt, mutate, exc, match):
    snap = _snapshot(opt)
    with pytest.raises(exc, match=match):
        opt.step(mutate(_good(rng)))
    _assert_unchanged(opt, snap)
    assert opt.state[0]["step"] == 1


def test_rowgrad_rejects_float_and_2d_indices():
    with pytest.raises(TypeError, match="indices: expected integer"):
        msopt.RowGrad(np.array([1.0]), np.ones((1, 2)))
    with pytest.raises(ValueError, match="indices: expected a 1-D"):
        msopt.RowGrad(np.array([[1]]), np.ones((1, 2)))


def test_skip_policy_counts_and_changes_nothing(rng):
    w = rng.standard_normal(100)
    opt = msopt.SGD([w], lr=0.1, momentum=0.9, nonfinite="skip")
    opt.step([rng.standard_normal(100)])
    snap = _snapshot(opt)
    opt.step([np.full(100, np.nan)])
    _assert_unchanged(opt, snap)
    assert opt.skipped_steps == 1
    assert opt.state[0]["step"] == 1


def test_clip_norm_overflow_is_non_finite(rng):
    w = np.zeros(4)
    opt = msopt.SGD([w], lr=0.1, max_grad_norm=1.0)
    with pytest.raises(msopt.NonFiniteGradientError):
        opt.step([np.full(4, 1e200)])
    assert not w.any()


def test_non_contiguous_grad_is_read_as_is(rng):
    w = rng.standard_normal((4, 5))
    w2 = w.copy()
    g = rng.standard_normal((5, 4)).T  # Fortran-ordered: read-only input, copied once
    msopt.SGD([w], lr=0.1).step([g])
    msopt.SGD([w2], lr=0.1).step([np.ascontiguousarray(g)])
    np.testing.assert_array_equal(w, w2)


@pytest.mark.parametrize(
    ("params", "exc", "match"),
    [
        ([np.zeros(3, np.int64)], TypeError, r"dtype must be float32 or float64, got int64"),
        ([np.zeros(3, np.float16)], TypeError, r"got float16"),
        ([np.zeros((3, 4))[:, ::2]], ValueError, r"must be C-contiguous"),
        ([np.zeros((3, 4)).T], ValueError, r"must be C-contiguous"),
        ([[1.0, 2.0]], TypeError, r"expected a numpy.ndarray, got list"),
        ([], ValueError, r"params: empty"),
    ],
    ids=["int", "f16", "strided", "transposed", "list", "empty"],
)
def test_bad_params_at_construction(params, exc, match):
    with pytest.raises(exc, match=match):
        msopt.Adam(params)


def test_read_only_param_refused():
    w = np.zeros(3)
    w.flags.writeable = False
    with pytest.raises(ValueError, match="read-only"):
        msopt.SGD([w])


def test_param_made_read_only_later_refused_at_step():
    w = np.zeros(3)
    opt = msopt.SGD([w], lr=1.0)
    w.flags.writeable = False
    with pytest.raises(ValueError,
                       match=r"params\[0\]: expected a C-contiguous writeable .*, got a read-only"):
        opt.step([np.ones(3)])
    assert not w.any()


def test_param_listed_twice_or_overlapping():
    w = np.zeros(10)
    with pytest.raises(ValueError, match="parameters 0 and 1 share memory"):
        msopt.SGD([w, w])
    with pytest.raises(ValueError, match="share memory"):
        msopt.SGD([w[:6], w[4:]])
    opt = msopt.SGD([w])
    with pytest.raises(ValueError, match="share memory"):
        opt.add_param_group({"params": [w[2:5]]})
    msopt.SGD([w[:5], w[5:]])  # adjacent views are fine


@pytest.mark.parametrize(
    ("cls", "kw", "match"),
    [
        (msopt.SGD, dict(lr=-0.1),
         r"param_groups\[0\]\['lr'\]: expected a finite number >= 0, got -0.1"),
        (msopt.SGD, dict(momentum=-1), "momentum"),
        (msopt.SGD, dict(nesterov=True), "nesterov requires momentum"),
        (msopt.SGD, dict(nesterov=True, momentum=0.9, dampening=0.1), "nesterov"),
        (msopt.Adam, dict(betas=(1.0, 0.9)), r"betas\[0\]"),
        (msopt.Adam, dict(betas=(0.9, -0.1)), r"betas\[1\]"),
        (msopt.Adam, dict(betas=(0.9,)), r"\['betas'\]: expected a pair"),
        (msopt.Adam, dict(eps=0.0), "eps"),
        (msopt.AdamW, dict(eps=-1e-8), "eps"),
        (msopt.AdamW, dict(weight_decay=-1), "weight_decay"),
        (msopt.Adagrad, dict(lr_decay=-1), "lr_decay"),
        (msopt.Adagrad, dict(initial_accumulator_value=-1), "initial_accumulator_value"),
        (msopt.RMSprop, dict(alpha=1.5), "alpha"),
        (msopt.RMSprop, dict(eps=0), "eps"),
        (msopt.Lion, dict(betas=(0.9, 1.5)), r"betas\[1\]"),
        (msopt.Lion, dict(lr=float("nan")), "lr"),
        (msopt.Adam, dict(max_grad_norm=0), "max_grad_norm"),
        (msopt.Adam, dict(nonfinite="warn"), "nonfinite"),
    ],
)
def test_bad_hyperparameters(cls, kw, match):
    with pytest.raises(ValueError, match=match):
        cls([np.zeros(3)], **kw)


def test_betas_not_a_pair_is_a_type_error():
    with pytest.raises(TypeError, match=r"\['betas'\]: expected a pair"):
        msopt.Adam([np.zeros(3)], betas=0.9)


def test_unknown_group_key():
    with pytest.raises(TypeError, match=r"unknown hyperparameter\(s\) \['betaz'\]"):
        msopt.Adam([{"params": [np.zeros(2)], "betaz": (0.9, 0.9)}])


def test_option_needing_state_turned_on_later(rng):
    """SGD's momentum buffer may start late (torch's rule); state that torch.optim also
    needs from the start (AMSGrad's maximum) is refused, and nothing changes."""
    w = np.zeros(3)
    opt = msopt.SGD([w], lr=0.1)
    opt.param_groups[0]["momentum"] = 0.9
    opt.step([np.ones(3)])
    np.testing.assert_array_equal(opt.state[0]["momentum_buffer"], 1.0)
    np.testing.assert_allclose(w, -0.1)
    v = np.zeros(3)
    adam = msopt.Adam([v], lr=0.1)
    adam.step([np.ones(3)])
    before = (v.copy(), {k: np.copy(a) for k, a in adam.state[0].items()})
    adam.param_groups[0]["amsgrad"] = True
    with pytest.raises(ValueError, match=r"params\[0\]: its group asks for amsgrad"):
        adam.step([np.ones(3)])
    np.testing.assert_array_equal(v, before[0])
    assert sorted(adam.state[0]) == sorted(before[1])


def test_grads_as_single_array_refused():
    opt = msopt.SGD([np.zeros(3)])
    with pytest.raises(TypeError, match="wrap it in a list"):
        opt.step(np.ones(3))


def test_tuple_of_grads_accepted():
    w = np.zeros(3)
    msopt.SGD([w], lr=1.0).step((np.ones(3),))
    np.testing.assert_array_equal(w, -1.0)


def test_ignore_policy_lets_nan_through_like_torch():
    w = np.zeros(4)
    opt = msopt.SGD([w], lr=0.1, nonfinite="ignore")
    opt.step([np.array([1.0, np.nan, 1.0, 1.0])])
    assert np.isnan(w[1])
    assert w[0] == -0.1
    opt = msopt.SGD([np.zeros(2)], lr=0.1, nonfinite="ignore", max_grad_norm=1.0)
    with pytest.raises(msopt.NonFiniteGradientError, match="cannot clip"):
        opt.step([np.array([np.inf, 0.0])])


def test_replacing_a_parameter_by_hand_is_refused():
    a, b = np.zeros(3), np.zeros(3)
    opt = msopt.SGD([a], lr=1.0)
    with pytest.raises(TypeError):
        opt.param_groups[0]["params"][0] = b  # a tuple: no item assignment
    opt.param_groups[0]["params"] = (b,)
    with pytest.raises(ValueError, match="param_groups: parameters were replaced"):
        opt.step([np.ones(3)])
    assert not a.any()
    assert not b.any()


def test_norm_of_a_refused_step_is_nan():
    opt = msopt.SGD([np.zeros(2)], lr=0.1, max_grad_norm=1.0, nonfinite="skip")
    opt.step([np.array([3.0, 4.0])])
    assert opt.last_grad_norm == 5.0
    opt.step([np.array([np.nan, 0.0])])
    assert np.isnan(opt.last_grad_norm)
    assert opt.skipped_steps == 1


def test_raise_policy_does_not_count_skips():
    opt = msopt.SGD([np.zeros(2)], lr=0.1)
    with pytest.raises(msopt.NonFiniteGradientError):
        opt.step([np.array([np.nan, 0.0])])
    assert opt.skipped_steps == 0


def test_rowgrad_ids_are_read_once():
    """The range check and the update use one private copy of the ids."""
    table = np.zeros((4, 2), np.float32)
    ids = np.array([1, 2], np.int64)
    g = msopt.RowGrad(ids, np.ones((2, 2), np.float32))
    msopt.SGD([table], lr=1.0).step([g])
    assert g.indices is ids  # not copied at construction: int64 and contiguous
    np.testing.assert_array_equal(table[[1, 2]], -1.0)
