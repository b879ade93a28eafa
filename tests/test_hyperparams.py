"""Every hyperparameter of every optimizer is checked on every path: at construction, by
load_state_dict, and by the step after an edit of param_groups.  A bad value raises a
TypeError or ValueError naming the group and the key, and nothing changes (parameters,
state arrays, step counts and param groups byte for byte)."""

from __future__ import annotations

import math
import pickle

import numpy as np
import pytest

import msopt
from msopt import _api as api
from msopt.optim import OPTIMIZERS
from msopt.optim.optimizers import ParamGroup

# The keys each optimizer takes: the rule table must cover exactly these.
KEYS = {
    "SGD": {"lr", "momentum", "dampening", "weight_decay", "nesterov", "maximize"},
    "Adam": {"lr", "betas", "eps", "weight_decay", "amsgrad", "maximize"},
    "AdamW": {"lr", "betas", "eps", "weight_decay", "amsgrad", "maximize"},
    "Adagrad": {"lr", "lr_decay", "weight_decay", "initial_accumulator_value", "eps",
                "maximize"},
    "RMSprop": {"lr", "alpha", "eps", "weight_decay", "momentum", "centered", "maximize"},
    "Lion": {"lr", "betas", "weight_decay", "maximize"},
}
# Settings under which every state slot exists, so that every key can be exercised.
FULL = {"SGD": {"momentum": 0.5}, "Adam": {"amsgrad": True}, "AdamW": {"amsgrad": True},
        "Adagrad": {}, "RMSprop": {"momentum": 0.5, "centered": True}, "Lion": {}}
CLASSES = {cls.__name__: cls for cls in OPTIMIZERS.values()}


def _bad_values(rule) -> list[tuple[object, type[Exception]]]:
    """Values the rule must refuse (float32 parameters)."""
    if rule.kind == "bool":
        return [("yes", TypeError), ("x", TypeError), (1, TypeError), (0, TypeError),
                (None, TypeError), (np.float64(1.0), TypeError), (np.array(True), TypeError)]
    if rule.kind == "pair":
        out: list[tuple[object, type[Exception]]] = [
            (0.9, TypeError), ("ab", TypeError), (None, TypeError), ((0.9,), ValueError),
            ((0.9, 0.9, 0.9), ValueError), ((math.nan, 0.9), ValueError),
            ((0.9, math.inf), ValueError), ((-0.1, 0.9), ValueError),
            ((0.9, "0.9"), TypeError), ((True, 0.9), TypeError)]
        out.append(((1.0, 0.9), ValueError) if rule.hi_open else ((1.5, 0.9), ValueError))
        return out
    out = [(math.nan, ValueError), (math.inf, ValueError), (-math.inf, ValueError),
           (np.float32("nan"), ValueError), ("0.1", TypeError), (None, TypeError),
           (True, TypeError), (np.bool_(False), TypeError), ([0.1], TypeError),
           (np.array(0.1), TypeError), (2**1100, ValueError), (-(2**1100), ValueError),
           (1e39, ValueError)]  # finite as a float, but overflows float32
    if rule.lo > -math.inf:
        out.append((rule.lo - 1e-3, ValueError))
        out.append((-1, ValueError))
        if rule.lo_open:
            out += [(rule.lo, ValueError), (1e-46, ValueError)]  # 1e-46: 0 in float32
    else:
        out.append((-1e39, ValueError))
    if rule.hi < math.inf:
        out.append((rule.hi if rule.hi_open else rule.hi + 0.5, ValueError))
    return out


CASES = [pytest.param(name, key, bad, exc, id=f"{name}-{key}-{bad!r}")
         for name, cls in CLASSES.items() for key, rule in cls._rules.items()
         for bad, exc in _bad_values(rule)]


def _opt(name, rng, **kw):
    w = rng.standard_normal((6, 3)).astype(np.float32)
    b = rng.standard_normal(3).astype(np.float32)
    opt = CLASSES[name]([w, b], lr=1e-2, **{**FULL[name], **kw})
    for _ in range(2):
        opt.step([rng.standard_normal(w.shape).astype(np.float32),
                  rng.standard_normal(b.shape).astype(np.float32)])
    return opt


def _grads(opt):
    return [np.full(p.shape, 0.5, p.dtype) for p in opt._params]


def _snapshot(opt):
    state = opt.state
    return ([p.tobytes() for p in opt._params],
            {i: {k: (v.tobytes() if isinstance(v, np.ndarray) else v) for k, v in e.items()}
             for i, e in state.items()},
            opt._steps.tobytes(),
            [{k: v for k, v in g.items()} for g in opt.param_groups],
            opt.skipped_steps)


def _same_groups(a, b):
    assert len(a) == len(b)
    for x, y in zip(a, b):
        assert x.keys() == y.keys()
        for k in x:
            assert x[k] is y[k] or (type(x[k]) is type(y[k]) and x[k] == y[k]), k


def _assert_unchanged(opt, snap):
    params, state, steps, groups, skipped = snapshot = _snapshot(opt)
    assert params == snap[0]
    assert state == snap[1]
    assert steps == snap[2]
    _same_groups(groups, snap[3])
    assert skipped == snap[4]
    return snapshot


@pytest.mark.parametrize("name", CLASSES)
def test_rule_table_covers_every_key(name):
    cls = CLASSES[name]
    assert set(cls._rules) == KEYS[name]
    assert set(cls([np.zeros(2)]).defaults) == KEYS[name]


@pytest.mark.parametrize(("name", "key", "bad", "exc"), CASES)
def test_bad_value_refused_at_construction(name, key, bad, exc):
    w = np.ones(4, np.float32)
    if not (bad is None and key == "weight_decay" and name in ("Adam", "AdamW")):
        # (Adam's weight_decay=None keyword is its default; in a group, None is refused)
        with pytest.raises(exc, match=rf"^param_groups\[0\]\['{key}'\]"):
            CLASSES[name]([w], **{key: bad})
    with pytest.raises(exc, match=rf"^param_groups\[1\]\['{key}'\]"):
        CLASSES[name]([{"params": [w]}, {"params": [w.copy()], key: bad}])
    assert (w == 1).all()


@pytest.mark.parametrize(("name", "key", "bad", "exc"), CASES)
def test_bad_value_refused_by_load_state_dict(rng, name, key, bad, exc):
    opt = _opt(name, rng)
    snap = _snapshot(opt)
    sd = opt.state_dict()
    sd["param_groups"][0][key] = bad
    with pytest.raises(exc, match=rf"^state_dict\['param_groups'\]\[0\]\['{key}'\]"):
        opt.load_state_dict(sd)
    _assert_unchanged(opt, snap)
    opt.step(_grads(opt))  # still usable


@pytest.mark.parametrize(("name", "key", "bad", "exc"), CASES)
def test_bad_value_refused_by_step_after_edit(rng, name, key, bad, exc):
    opt = _opt(name, rng)
    good = opt.param_groups[0][key]
    snap = _snapshot(opt)
    opt.param_groups[0][key] = bad
    snap[3][0][key] = bad
    for _ in range(2):  # the second step refuses it too
        with pytest.raises(exc, match=rf"^param_groups\[0\]\['{key}'\]"):
            opt.step(_grads(opt))
        _assert_unchanged(opt, snap)
    with pytest.raises(exc, match=rf"^param_groups\[0\]\['{key}'\]"):
        opt.native_state()  # what native runners (LinearModel.run) read
    opt.param_groups[0][key] = good
    opt.step(_grads(opt))
    assert opt.state[0]["step"] == 3


# -- checks that tie keys together or depend on the parameters' dtype ---------------------
TIED = [
    ("SGD", {"nesterov": True, "momentum": 0.0}, ValueError, r"\['nesterov'\]"),
    ("SGD", {"nesterov": True, "momentum": 0.9, "dampening": 0.1}, ValueError,
     r"\['nesterov'\]"),
    ("Adam", {"lr": 1e38}, ValueError, r"\['lr'\]: the first step's size .* float32"),
    ("Adam", {"lr": 1e36, "betas": (0.999, 0.999)}, ValueError, r"\['lr'\]: the first"),
    ("AdamW", {"lr": 1e30, "weight_decay": 1e10}, ValueError,
     r"\['weight_decay'\]: the decay factor .* float32"),
    ("Lion", {"lr": 1e30, "weight_decay": 1e10}, ValueError, r"\['weight_decay'\]"),
    ("Adam", {"eps": 1e-46}, ValueError, r"\['eps'\]: 1e-46 rounds to 0 in float32"),
    ("Adagrad", {"initial_accumulator_value": 1e39}, ValueError,
     r"\['initial_accumulator_value'\]: 1e\+39 overflows float32"),
]


@pytest.mark.parametrize(("name", "kw", "exc", "match"), TIED)
def test_tied_checks_on_every_path(rng, name, kw, exc, match):
    with pytest.raises(exc, match=match):
        CLASSES[name]([np.ones(3, np.float32)], **kw)
    opt = _opt(name, rng)
    snap = _snapshot(opt)
    sd = opt.state_dict()
    sd["param_groups"][0].update(kw)
    with pytest.raises(exc, match=match):
        opt.load_state_dict(sd)
    _assert_unchanged(opt, snap)
    opt.param_groups[0].update(kw)
    snap[3][0].update(kw)
    with pytest.raises(exc, match=match):
        opt.step(_grads(opt))
    _assert_unchanged(opt, snap)


def test_float64_takes_values_float32_refuses():
    w = np.ones(3)
    msopt.Adam([w], lr=1e38, eps=1e-46).step([np.ones(3)])
    assert np.isfinite(w).all()
    with pytest.raises(ValueError, match=r"\['lr'\]: the first step's size .* float64"):
        msopt.Adam([np.ones(3)], lr=1e308)
    # A group mixing the dtypes is held to float32's range.
    with pytest.raises(ValueError, match="overflows float32"):
        msopt.SGD([np.ones(3), np.ones(3, np.float32)], lr=1e39)


def test_issue_cases_write_nothing(rng):
    """The cases of the issue: each used to write NaN or Inf into every parameter."""
    for name, key, bad in [("SGD", "lr", math.nan), ("Adam", "lr", math.nan),
                           ("SGD", "lr", -1), ("Adam", "eps", 0), ("SGD", "lr", math.inf),
                           ("Adagrad", "lr_decay", math.inf),
                           ("RMSprop", "weight_decay", math.inf), ("Adam", "lr", 1e308)]:
        opt = _opt(name, rng)
        before = [p.copy() for p in opt._params]
        opt.param_groups[0][key] = bad
        with pytest.raises(ValueError, match=rf"param_groups\[0\]\['{key}'\]: "):
            opt.step(_grads(opt))
        for p, q in zip(opt._params, before):
            assert p.tobytes() == q.tobytes()


# -- the state dict's other values ----------------------------------------------------------
@pytest.mark.parametrize(("step", "exc"), [(2**70, ValueError), (2**63 - 1, ValueError),
                                           (-1, ValueError), (1.0, TypeError),
                                           (True, TypeError), ("2", TypeError),
                                           (None, TypeError)])
def test_state_dict_step_counts_are_range_checked(rng, step, exc):
    opt = _opt("Adam", rng)
    snap = _snapshot(opt)
    sd = opt.state_dict()
    sd["state"][1]["step"] = step
    with pytest.raises(exc, match=r"state_dict\['state'\]\[1\]\['step'\]: expected an int"):
        opt.load_state_dict(sd)
    _assert_unchanged(opt, snap)
    sd["state"][1]["step"] = np.int64(2**63 - 2)  # the largest the native step can add to
    opt.load_state_dict(sd)


@pytest.mark.parametrize(("name", "slot", "value", "what"), [
    ("Adam", "exp_avg", np.nan, "NaN"), ("Adam", "exp_avg_sq", -1.0, "negative"),
    ("Adam", "max_exp_avg_sq", -np.inf, "negative"), ("Adagrad", "sum", -1e-3, "negative"),
    ("RMSprop", "square_avg", np.nan, "NaN"), ("SGD", "momentum_buffer", np.nan, "NaN"),
    ("Lion", "exp_avg", np.nan, "NaN"),
])
def test_state_arrays_that_would_write_nan_are_refused(rng, name, slot, value, what):
    opt = _opt(name, rng)
    snap = _snapshot(opt)
    sd = opt.state_dict()
    sd["state"][0][slot][1, 2] = value
    with pytest.raises(ValueError, match=rf"state_dict\['state'\]\[0\]\['{slot}'\]: .*{what}"):
        opt.load_state_dict(sd)
    _assert_unchanged(opt, snap)


@pytest.mark.parametrize(("sd", "exc", "match"), [
    ([], TypeError, r"state_dict: expected a dict"),
    ({"param_groups": "x"}, TypeError, r"\['param_groups'\]: expected a list"),
    ({"param_groups": [1]}, TypeError, r"\['param_groups'\]\[0\]: expected a dict"),
    ({"param_groups": [{"params": [0, 1]}], "state": []}, TypeError,
     r"\['state'\]: expected a dict"),
    ({"param_groups": [{"params": [0, 1]}], "state": {0: 1}}, TypeError,
     r"\['state'\]\[0\]: expected a dict"),
])
def test_malformed_state_dicts(rng, sd, exc, match):
    opt = _opt("SGD", rng)
    snap = _snapshot(opt)
    with pytest.raises(exc, match=match):
        opt.load_state_dict(sd)
    _assert_unchanged(opt, snap)


@pytest.mark.parametrize("name", CLASSES)
def test_round_trips_still_load(rng, name, tmp_path):
    opt = _opt(name, rng)
    path = tmp_path / "opt.npz"
    np.savez(path, **msopt.flatten_state_dict(opt.state_dict()))
    back = _opt(name, np.random.default_rng(1))
    back.load_state_dict(msopt.unflatten_state_dict(np.load(path, allow_pickle=False)))
    assert _snapshot(back)[1:3] == _snapshot(opt)[1:3]
    clone = pickle.loads(pickle.dumps(opt))
    g = _grads(opt)
    opt.step(g)
    clone.step(g)
    assert _snapshot(clone)[:3] == _snapshot(opt)[:3]


# -- settings of the optimizer itself --------------------------------------------------------
@pytest.mark.parametrize(("attr", "bad", "exc"), [
    ("max_grad_norm", math.nan, ValueError), ("max_grad_norm", 0.0, ValueError),
    ("max_grad_norm", -1.0, ValueError), ("max_grad_norm", "1", TypeError),
    ("max_grad_norm", True, TypeError), ("nonfinite", "warn", ValueError),
    ("nonfinite", None, ValueError), ("nonfinite", ["raise"], ValueError),
])
def test_optimizer_settings_checked_when_set(rng, attr, bad, exc):
    with pytest.raises(exc, match=attr):
        msopt.SGD([np.zeros(2)], **{attr: bad})
    opt = _opt("SGD", rng, max_grad_norm=1.0)
    before = getattr(opt, attr)
    with pytest.raises(exc, match=attr):
        setattr(opt, attr, bad)
    assert getattr(opt, attr) == before


# -- edits that are fine, and how they are seen ---------------------------------------------
def test_param_groups_are_dicts_that_see_every_edit(rng):
    opt = _opt("Adam", rng)
    g = opt.param_groups[0]
    assert isinstance(g, dict)
    assert type(g) is ParamGroup

    def ior():
        nonlocal g
        g |= {"eps": 0.0}

    edits = [lambda: g.__setitem__("eps", 0.0), lambda: g.update(eps=0.0),
             lambda: g.update({"eps": 0.0}), ior]
    for edit in edits:
        good = g["eps"]
        edit()
        with pytest.raises(ValueError, match=r"\['eps'\]: expected a finite number > 0"):
            opt.step(_grads(opt))
        g["eps"] = good
        opt.step(_grads(opt))
    for remove in (lambda: g.pop("eps"), lambda: g.__delitem__("eps")):
        remove()
        with pytest.raises(ValueError, match=r"param_groups\[0\]: the key 'eps' is missing"):
            opt.step(_grads(opt))
        g.setdefault("eps", 1e-8)
        opt.step(_grads(opt))
    g["betas"] = [0.8, 0.9]  # a list is kept as a tuple of floats, so it cannot change unseen
    opt.step(_grads(opt))
    assert g["betas"] == (0.8, 0.9)
    assert type(g["betas"]) is tuple


def test_a_group_replaced_by_a_plain_dict_is_checked_at_every_step(rng):
    opt = _opt("SGD", rng)
    plain = dict(opt.param_groups[0])
    opt.param_groups[0] = plain
    opt.step(_grads(opt))
    snap = _snapshot(opt)
    plain["lr"] = snap[3][0]["lr"] = math.nan
    with pytest.raises(ValueError, match=r"param_groups\[0\]\['lr'\]"):
        opt.step(_grads(opt))
    _assert_unchanged(opt, snap)
    opt.param_groups[0] = [1, 2]
    with pytest.raises(TypeError, match=r"param_groups\[0\]: expected a dict"):
        opt.step(_grads(opt))


def test_rate_edits_take_effect_and_match_a_fresh_optimizer(rng):
    """The fast path for a new lr (what a scheduler writes) gives the step a fresh optimizer
    with that lr would take."""
    for name in CLASSES:
        a = _opt(name, rng)
        b = pickle.loads(pickle.dumps(a))
        for lr in (0.5, 1e-3, 0.0, 3.0):
            a.param_groups[0]["lr"] = lr
            b.param_groups[0] = dict(b.param_groups[0], lr=lr)  # the slow path, every step
            g = _grads(a)
            a.step(g)
            b.step(g)
            assert _snapshot(a)[:3] == _snapshot(b)[:3], (name, lr)


def test_scheduler_that_overflows_the_rate_is_stopped_by_the_step():
    w = np.ones(3, np.float32)
    opt = msopt.SGD([w], lr=1.0)
    sched = msopt.lr_scheduler.ExponentialLR(opt, gamma=1e10)
    for _ in range(3):  # 1, 1e10, 1e20, 1e30: finite in float32
        opt.step([np.zeros(3, np.float32)])
        sched.step()
    opt.step([np.zeros(3, np.float32)])
    with pytest.raises(ValueError, match=r"ExponentialLR: the rate at epoch 4 .*gamma = "
                                         r"10000000000.0.*1e\+40 overflows float32"):
        sched.step()  # 1e40: refused by the scheduler, which changes nothing
    assert sched.last_epoch == 3
    assert opt.param_groups[0]["lr"] == 1e30
    opt.step([np.zeros(3, np.float32)])  # the optimizer still steps with 1e30
    assert (w == 1).all()
    # An edit that bypasses the scheduler is still stopped by the step.
    opt.param_groups[0]["lr"] = 1e40
    with pytest.raises(ValueError, match=r"param_groups\[0\]\['lr'\]: 1e\+40 overflows float32"):
        opt.step([np.zeros(3, np.float32)])
    assert (w == 1).all()


# -- schedulers -----------------------------------------------------------------------------
S = msopt.lr_scheduler


@pytest.mark.parametrize(("make", "exc", "match"), [
    (lambda o: S.StepLR(o, step_size=2**70), ValueError, "step_size: must be <= 2\\*\\*63"),
    (lambda o: S.StepLR(o, step_size=2.0), TypeError, "step_size: expected an int"),
    (lambda o: S.StepLR(o, step_size=0), ValueError, "step_size: must be >= 1"),
    (lambda o: S.StepLR(o, 2, gamma=math.nan), ValueError, "gamma"),
    (lambda o: S.ExponentialLR(o, gamma=math.inf), ValueError, "gamma"),
    (lambda o: S.ExponentialLR(o, 0.9, last_epoch=2**70), ValueError, "last_epoch"),
    (lambda o: S.WarmupCosineLR(o, 5, 2**64), ValueError, "total_steps"),
    (lambda o: S.WarmupCosineLR(o, 5, 5), ValueError, "total_steps: must be an int > "),
    (lambda o: S.WarmupCosineLR(o, -1, 5), ValueError, "warmup_steps"),
    (lambda o: S.WarmupCosineLR(o, 1, 5, min_lr=math.nan), ValueError, "min_lr"),
    (lambda o: S.LinearDecayLR(o, 10, min_factor=1.5), ValueError, "min_factor"),
    (lambda o: S.LinearDecayLR(o, 2**63), ValueError, "total_steps"),
    (lambda o: S.ReduceLROnPlateau(o, cooldown=-1), ValueError, "cooldown"),
    (lambda o: S.ReduceLROnPlateau(o, cooldown=2**70), ValueError, "cooldown"),
    (lambda o: S.ReduceLROnPlateau(o, patience=1.5), TypeError, "patience"),
    (lambda o: S.ReduceLROnPlateau(o, eps=math.nan), ValueError, "eps"),
    (lambda o: S.ReduceLROnPlateau(o, factor=1.0), ValueError, "factor"),
    (lambda o: S.ReduceLROnPlateau(o, mode=["min"]), ValueError, "mode"),
    (lambda o: S.ReduceLROnPlateau(o, threshold_mode=np.array(["rel", "abs"])), ValueError,
     "threshold_mode"),
    (lambda o: S.ReduceLROnPlateau("opt"), TypeError, "optimizer"),
])
def test_scheduler_arguments(make, exc, match):
    opt = msopt.SGD([np.zeros(2)], lr=0.1)
    with pytest.raises(exc, match=match):
        make(opt)
    assert opt.param_groups[0]["lr"] == 0.1


@pytest.mark.parametrize(("make", "key", "bad", "exc"), [
    (lambda o: S.StepLR(o, 2), "step_size", 2**70, ValueError),
    (lambda o: S.StepLR(o, 2), "gamma", math.nan, ValueError),
    (lambda o: S.StepLR(o, 2), "base_lrs", [math.nan], ValueError),
    (lambda o: S.StepLR(o, 2), "base_lrs", [0.1, 0.2], ValueError),
    (lambda o: S.StepLR(o, 2), "last_epoch", "3", TypeError),
    (lambda o: S.WarmupCosineLR(o, 5, 10), "warmup_steps", 10, ValueError),
    (lambda o: S.ReduceLROnPlateau(o), "best", math.nan, ValueError),
    (lambda o: S.ReduceLROnPlateau(o), "num_bad_epochs", -1, ValueError),
    (lambda o: S.ReduceLROnPlateau(o), "mode", "up", ValueError),
    (lambda o: S.ReduceLROnPlateau(o), "optimizer", None, ValueError),
    (lambda o: S.ReduceLROnPlateau(o), "unknown", 1, ValueError),
])
def test_scheduler_load_state_dict_checks(make, key, bad, exc):
    opt = msopt.SGD([np.zeros(2)], lr=0.1)
    sched = make(opt)
    before = dict(sched.__dict__)
    sd = sched.state_dict()
    sd[key] = bad
    with pytest.raises(exc, match=key):
        sched.load_state_dict(sd)
    assert sched.__dict__ == before
    sched.load_state_dict(sched.state_dict())


# -- integers too big for the native side, and other scalar checks (models and layers) -----
CORPUS = ["the cat sat on the mat", "the dog sat on the log"] * 10
TEXTS, LABELS = ["good film", "bad film", "great plot", "awful plot"] * 5, ["p", "n"] * 10


def _small(cls, base, kw):
    """Small settings, overridden by ``kw`` (by canonical name or alias)."""
    aliases = cls._aliases()
    for k in kw:
        base.pop(aliases.get(k, k), None)
    return {**base, **kw}


def _w2v(**kw):
    return msopt.Word2Vec(CORPUS, **_small(msopt.Word2Vec, {"dim": 4, "min_count": 1,
                                                            "epochs": 1, "threads": 1}, kw))


def _clf(**kw):
    return msopt.TextClassifier(**_small(msopt.TextClassifier, {"dim": 4, "buckets": 10,
                                                                "epochs": 1, "threads": 1}, kw))


@pytest.mark.parametrize(("kw", "exc", "match"), [
    ({"window": 2**40}, ValueError, r"window: must be <= 2\*\*31 - 1"),
    ({"window": 2**31}, ValueError, "window"),
    ({"epochs": 2**40}, ValueError, "epochs: must be <= 1000000"),
    ({"iter": 2**31}, ValueError, "epochs"),
    ({"threads": 2**40}, ValueError, "threads: must be <= 1024"),
    ({"workers": 2**40}, ValueError, "threads"),
    ({"seed": 2**70}, ValueError, r"seed: must be <= 2\*\*64 - 1"),
    ({"seed": 2**64}, ValueError, "seed"),
    ({"seed": -1}, ValueError, "seed: must be >= 0"),
    ({"seed": 1.0}, TypeError, "seed: expected an int"),
    ({"dim": 2**40}, ValueError, "dim"),
    ({"vector_size": 2**31}, ValueError, "dim"),
    ({"negative": 2**40}, ValueError, "negative"),
    ({"min_count": 2**70}, ValueError, r"min_count: must be <= 2\*\*63 - 1"),
    ({"max_vocab": 2**64}, ValueError, "max_vocab"),
    ({"lr": math.nan}, ValueError, "lr"), ({"min_lr": math.inf}, ValueError, "min_lr"),
    ({"sample": math.nan}, ValueError, "sample"),
    ({"sg": np.array([1, 0])}, ValueError, "sg"), ({"sg": "1"}, ValueError, "sg"),
    ({"cbow_mean": 2}, ValueError, "cbow_mean"),
    ({"sigmoid": ["exact"]}, ValueError, "sigmoid"),
    ({"deterministic": "yes"}, TypeError, "deterministic"),
])
def test_word2vec_arguments(kw, exc, match):
    with pytest.raises(exc, match=match):
        msopt.Word2Vec(**kw)
    model = _w2v()
    before = model.wv.vectors.copy()
    model.set_params(**kw)
    # what the tables are made for is set aside for build_vocab; the rest applies to train
    names = {msopt.Word2Vec._aliases().get(k, k) for k in kw}
    refit = bool(names & set(msopt.Word2Vec._structural))
    with pytest.raises(exc, match=match):
        (model.build_vocab if refit else model.train)(CORPUS)
    assert model.wv.vectors.tobytes() == before.tobytes()


def test_word2vec_extremes_that_fit_are_taken():
    _w2v(seed=2**64 - 1, window=2**31 - 1, max_vocab=2**63 - 1)
    with pytest.raises(ValueError, match="epochs: must be <= 1000000"):
        _w2v().train(CORPUS, epochs=2**40)


def test_word2vec_file_with_huge_values_is_refused(tmp_path):
    import json

    path = tmp_path / "w2v.npz"
    _w2v().save(path)
    with np.load(path) as f:
        members = dict(f)
    params = json.loads(str(members["params"]))
    params["window"] = 2**40
    members["params"] = np.array(json.dumps(params))
    np.savez(path, **members)
    with pytest.raises(ValueError, match="window: must be <="):
        msopt.Word2Vec.load(path)


@pytest.mark.parametrize(("kw", "exc", "match"), [
    ({"epochs": 2**40}, ValueError, "epochs: must be <= 1000000"),
    ({"epoch": 2**31}, ValueError, "epochs"),
    ({"threads": 2**40}, ValueError, "threads: must be <= 1024"),
    ({"thread": 2**40}, ValueError, "threads"),
    ({"seed": 2**70}, ValueError, r"seed: must be <= 2\*\*64 - 1"),
    ({"bucket": 2**40}, ValueError, "buckets"),
    ({"buckets": 2**31 - 3, "ngrams": 2}, ValueError, "buckets: .* words \\+ .* buckets exceed"),
    ({"wordNgrams": 2**40}, ValueError, "ngrams"),
    ({"neg": 2**40}, ValueError, "negative"),
    ({"dim": 2**40}, ValueError, "dim"),
    ({"minCount": 2**70}, ValueError, "min_count"),
    ({"lr": math.nan}, ValueError, "lr"), ({"lr": math.inf}, ValueError, "lr"),
    ({"loss": np.array(["softmax", "ova"])}, ValueError, "loss"),
    ({"loss": ["softmax"]}, ValueError, "loss"),
])
def test_text_classifier_arguments(kw, exc, match):
    clf = _clf(**kw)
    with pytest.raises(exc, match=match):
        clf.fit(TEXTS, LABELS)
    assert not hasattr(clf, "output_")
    fitted = _clf().fit(TEXTS, LABELS)
    before = fitted.input_.copy(), fitted.output_.copy(), fitted.calls_
    fitted.set_params(**kw)
    # what the tables are made for is set aside for fit; the rest applies to partial_fit
    names = {msopt.TextClassifier._aliases().get(k, k) for k in kw}
    refit = bool(names & set(msopt.TextClassifier._structural))
    with pytest.raises(exc, match=match):
        (fitted.fit if refit else fitted.partial_fit)(TEXTS, LABELS)
    assert fitted.input_.tobytes() == before[0].tobytes()
    assert fitted.output_.tobytes() == before[1].tobytes()
    assert fitted.calls_ == before[2]


@pytest.mark.parametrize("labels", [
    ["a\x00", "b"] * 10, ["a", "a\x00"] * 10, ["\x00", "b"] * 10, [1, "b\x00"] * 10,
])
def test_labels_ending_in_nul_are_refused_clearly(labels):
    """NumPy str arrays drop trailing NULs: "a\\x00" would become "a" (another label, or a
    lone class), so it is refused with a message that says why."""
    bad = next(i for i, x in enumerate(labels) if isinstance(x, str) and x.endswith("\x00"))
    with pytest.raises(ValueError, match=rf"labels\[{bad}\]: .* ends with a NUL character"):
        _clf().fit(TEXTS, labels)
    clf = _clf().fit(TEXTS, LABELS)
    with pytest.raises(ValueError, match="classes.* ends with a NUL"):
        _clf().partial_fit(TEXTS, LABELS, classes=["p", "n", "x\x00"])
    with pytest.raises(ValueError, match="ends with a NUL"):
        clf.score(TEXTS, labels)
    lines = [f"__label__{lab} {t}" for lab, t in zip(["a\x00", "b"] * 10, TEXTS)]
    with pytest.raises(ValueError, match=r"labels\[0\]: .* ends with a NUL"):
        _clf().fit(lines)
    _clf().fit(TEXTS, ["a\x00b", "b"] * 10)  # a NUL inside a label is kept


@pytest.mark.parametrize(("make", "exc", "match"), [
    (lambda: msopt.EmbeddingBag(4, 2, seed=2**70), ValueError, "seed"),
    (lambda: msopt.EmbeddingBag(4, 2, seed=-1), ValueError, "seed"),
    (lambda: msopt.EmbeddingBag(4, 2, seed="a"), TypeError, "seed"),
    (lambda: msopt.EmbeddingBag(4, 2, mode=["sum"]), ValueError, "mode"),
    (lambda: msopt.EmbeddingBag(4, 2, optimizer=["sgd"]), ValueError, "optimizer"),
    (lambda: msopt.EmbeddingBag(4, 2, optimizer_params=[1]), TypeError, "optimizer_params"),
    (lambda: msopt.EmbeddingBag(4, 2, dtype=np.int32), TypeError, "dtype"),
    (lambda: msopt.EmbeddingBag(4, 2, dtype="nonsense"), TypeError, "dtype"),
    (lambda: msopt.EmbeddingBag(4, 2, lr=math.nan), ValueError, r"\['lr'\]"),
    (lambda: msopt.EmbeddingBag(4, 2, optimizer_params={"betas": (1.5, 0.9)}), ValueError,
     "betas"),
    (lambda: msopt.LinearModel(3, huber_epsilon=math.nan), ValueError, "huber_epsilon"),
    (lambda: msopt.LinearModel(3, huber_epsilon=-1), ValueError, "huber_epsilon"),
    (lambda: msopt.LinearModel(3, loss=["squared"]), ValueError, "loss"),
    (lambda: msopt.LinearModel(3, optimizer_params="x"), TypeError, "optimizer_params"),
    (lambda: msopt.LinearModel(3, dtype="nonsense"), TypeError, "dtype"),
    (lambda: msopt.LinearModel(3, lr=math.inf), ValueError, r"\['lr'\]"),
    (lambda: msopt.LinearModel(3, max_grad_norm=math.nan), ValueError, "max_grad_norm"),
])
def test_layer_constructors(make, exc, match):
    with pytest.raises(exc, match=match):
        make()


@pytest.mark.parametrize(("kw", "exc", "match"), [
    ({"batch_size": 2**64}, ValueError, r"batch_size: must be <= 2\*\*64 - 1"),
    ({"batch_size": 0}, ValueError, "batch_size"),
    ({"batch_size": 2.5}, TypeError, "batch_size"),
    ({"epochs": 2**63}, ValueError, "epochs"), ({"epochs": -1}, ValueError, "epochs"),
    ({"seed": 2**70}, ValueError, "seed"), ({"seed": -1}, ValueError, "seed"),
    ({"seed": "a"}, TypeError, "seed"),
    ({"epoch0": 2**63}, ValueError, "epoch0"),
    ({"epoch0": 2**63 - 2, "epochs": 3}, ValueError, "epoch0"),
    ({"schedule": "linear", "schedule_steps": 2**1100}, ValueError, "schedule_steps"),
    ({"schedule": "cosine", "warmup_steps": -1}, ValueError, "warmup_steps"),
    ({"min_factor": math.nan}, ValueError, "min_factor"),
    ({"schedule_origin": 2**63}, ValueError, "schedule_origin"),
    ({"schedule": ["linear"]}, ValueError, "schedule"),
    ({"shuffle": "no"}, TypeError, "shuffle"),
])
def test_linear_run_arguments(rng, kw, exc, match):
    X = rng.standard_normal((20, 3))
    y = X @ [1.0, -1.0, 0.5]
    m = msopt.LinearModel(3, 1, "squared", optimizer="adam", lr=0.1)
    m.run(X, y, epochs=1, seed=0)
    before = m.W.copy(), m.b.copy(), _snapshot(m.optimizer)
    with pytest.raises(exc, match=match):
        m.run(X, y, **{"epochs": 1, **kw})
    assert m.W.tobytes() == before[0].tobytes()
    assert m.b.tobytes() == before[1].tobytes()
    _assert_unchanged(m.optimizer, before[2])
    m.run(X, y, epochs=1, seed=2**64 - 1, batch_size=2**64 - 1,
          schedule="linear", schedule_steps=2**70)  # the extremes that fit are taken


def test_linear_run_with_a_bad_optimizer_edit_changes_nothing(rng):
    X = rng.standard_normal((20, 3))
    y = X @ [1.0, -1.0, 0.5]
    m = msopt.LinearModel(3, 1, "squared", optimizer="adam", lr=0.1)
    m.run(X, y, epochs=1)
    W = m.W.copy()
    m.optimizer.param_groups[0]["lr"] = math.nan
    with pytest.raises(ValueError, match=r"param_groups\[0\]\['lr'\]"):
        m.run(X, y, epochs=1)
    assert m.W.tobytes() == W.tobytes()


@pytest.mark.parametrize(("call", "exc", "match"), [
    (lambda: api.check_int("n", 2**70, 0, hi=api.INT64_MAX), ValueError,
     r"n: must be <= 2\*\*63 - 1, got 1180591620717411303424"),
    (lambda: api.check_int("n", np.bool_(True), 0), TypeError, "n: expected an int"),
    (lambda: api.check_number("x", math.nan), ValueError, "x: must be finite"),
    (lambda: api.check_number("x", 2**1100), ValueError, "x: must be finite"),
    (lambda: api.check_number("x", 2.0, lo=0, hi=1), ValueError,
     r"x: must be finite and in \[0, 1\]"),
    (lambda: api.check_number("x", 1.0, lo=0, hi=1, hi_strict=True), ValueError, r"\[0, 1\)"),
    (lambda: api.check_choice("c", np.array(["a", "b"]), ("a",)), ValueError, "c: expected one"),
    (lambda: api.check_choice("c", {}, ("a",)), ValueError, "c: expected one"),
    (lambda: api.check_seed("s", 2**64), ValueError, r"s: must be <= 2\*\*64 - 1"),
])
def test_api_checks(call, exc, match):
    with pytest.raises(exc, match=match):
        call()


def test_api_checks_keep_their_old_calls():
    assert api.check_int("n", np.int64(3), 1) == 3
    assert api.check_int("n", None, 1, none=True) is None
    assert api.check_number("x", 3, lo=0, strict=True) == 3.0
    assert api.check_choice("c", np.str_("a"), ("a", "b")) == "a"
    assert api.check_seed("s", 2**64 - 1) == 2**64 - 1
    assert api.int_bound(2**31 - 1) == "2**31 - 1"
    assert api.int_bound(1000) == "1000"
