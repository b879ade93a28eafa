"""Public entry points of msopt, each with a tiny valid call (models: a few rows, one
epoch, one thread)."""

from __future__ import annotations

import math
import tempfile
from pathlib import Path
from typing import Any

import numpy as np

import msopt
from msopt import lr_scheduler, reference
from msopt.exceptions import DivergenceError, NonFiniteGradientError

from .harness import Spec, assert_finite

F32, F64, I64 = np.float32, np.float64, np.int64
_TMP = Path(tempfile.mkdtemp(prefix="msopt-fuzz-"))

# -- optimizers ---------------------------------------------------------------------------
OPTS: dict[str, dict[str, Any]] = {
    "SGD": dict(lr=0.05, momentum=0.9, dampening=0.1, weight_decay=0.01, nesterov=False,
                maximize=False),
    "Adam": dict(lr=0.01, betas=(0.8, 0.99), eps=1e-6, weight_decay=0.01, amsgrad=True,
                 maximize=False),
    "AdamW": dict(lr=0.01, betas=(0.8, 0.99), eps=1e-6, weight_decay=0.01, amsgrad=False,
                  maximize=True),
    "Adagrad": dict(lr=0.05, lr_decay=0.01, weight_decay=0.01, initial_accumulator_value=0.1,
                    eps=1e-8, maximize=False),
    "RMSprop": dict(lr=0.01, alpha=0.9, eps=1e-6, weight_decay=0.01, momentum=0.5,
                    centered=True, maximize=False),
    "Lion": dict(lr=0.001, betas=(0.9, 0.99), weight_decay=0.01, maximize=False),
}
HYPER_NAMES = ("lr", "momentum", "dampening", "weight_decay", "nesterov", "maximize", "betas",
               "eps", "amsgrad", "lr_decay", "initial_accumulator_value", "alpha", "centered",
               "param_groups", "max_grad_norm", "nonfinite")
STATE_NAMES = ("state_dict", "state", "step", "params", "exp_avg", "exp_avg_sq",
               "max_exp_avg_sq", "momentum_buffer", "sum", "square_avg", "grad_avg",
               "optimizer", "flat") + HYPER_NAMES


def _params(rng: np.random.Generator) -> list[np.ndarray]:
    dt = [F32, F64][int(rng.integers(0, 2))]
    return [rng.standard_normal((4, 3)).astype(dt), rng.standard_normal(3).astype(dt)]


def _all_params(opt: Any) -> list[np.ndarray]:
    return [p for g in opt.param_groups for p in g["params"]]


def _grads(opt: Any, scale: float = 0.5) -> list[np.ndarray]:
    return [np.linspace(-scale, scale, p.size).reshape(p.shape).astype(p.dtype)
            for p in _all_params(opt)]


def _ctor_spec(name: str) -> Spec:
    def make(rng: np.random.Generator) -> tuple[Any, dict[str, Any]]:
        return None, dict(params=_params(rng), **OPTS[name], max_grad_norm=10.0,
                          nonfinite="raise")

    def call(_t: Any, kw: dict[str, Any]) -> Any:
        opt = getattr(msopt, name)(**kw)
        opt.step(_grads(opt))
        opt.step(_grads(opt, 0.25))
        return _all_params(opt)

    return Spec(f"{name}()", make, call, mutable=("params",),
                names={"params": ("params", "param_groups")})


class _Ctx(dict):
    """A spec's target: the object under test and what its property needs."""


def _fitted_opt(name: str, rng: np.random.Generator, steps: int = 1) -> Any:
    opt = getattr(msopt, name)(_params(rng), **OPTS[name], max_grad_norm=10.0)
    for k in range(steps):
        opt.step(_grads(opt, 0.5 / (k + 1)))
    return opt


def _step_spec(name: str) -> Spec:
    def make(rng: np.random.Generator) -> tuple[Any, dict[str, Any]]:
        opt = _fitted_opt(name, rng)
        ps = _all_params(opt)
        hyper = [{k: v for k, v in g.items() if k not in ("params", "initial_lr")}
                 for g in opt.param_groups for _ in g["params"]]
        ctx = _Ctx(opt=opt, ref_params=[p.copy() for p in ps],
                   ref_states=[{k: (v.copy() if isinstance(v, np.ndarray) else v)
                                for k, v in opt.state[i].items() if k != "step"}
                               for i in range(len(ps))],
                   ref_steps=[opt.state[i]["step"] for i in range(len(ps))], hyper=hyper)
        ids = rng.integers(0, 4, 5).astype(I64)
        grads = [msopt.RowGrad(ids, rng.standard_normal((5, 3)).astype(ps[0].dtype)),
                 rng.standard_normal(3).astype(ps[1].dtype)]
        return ctx, {"grads": grads}

    def call(ctx: Any, kw: dict[str, Any]) -> Any:
        ctx["opt"].step(**kw)
        return _all_params(ctx["opt"])

    def check(ctx: Any, kw: dict[str, Any], result: Any, _v: Any) -> None:
        grads = kw["grads"]
        if not isinstance(grads, (list, tuple)):  # an iterator the step has consumed
            return
        try:
            grads = [g if g is None or isinstance(g, tuple) else np.asarray(g) for g in grads]
            ok = reference.step(name, ctx["ref_params"], grads, ctx["ref_states"],
                                ctx["ref_steps"], ctx["hyper"], 10.0)
        except Exception:  # the reference cannot judge this input
            return
        if ok:
            for i, (p, r) in enumerate(zip(result, ctx["ref_params"])):
                np.testing.assert_allclose(p, r, rtol=1e-5, atol=1e-6, err_msg=f"param {i}")

    return Spec(f"{name}.step", make, call, check=check, accept=(NonFiniteGradientError,),
                names={"grads": ("grads", "indices", "values")})


def _rowgrad_spec(name: str) -> Spec:
    def make(rng: np.random.Generator) -> tuple[Any, dict[str, Any]]:
        opt = _fitted_opt(name, rng)
        dt = _all_params(opt)[0].dtype
        return opt, dict(indices=rng.integers(0, 4, 5).astype(I64),
                         values=rng.standard_normal((5, 3)).astype(dt))

    def call(opt: Any, kw: dict[str, Any]) -> Any:
        opt.step([msopt.RowGrad(**kw), None])
        return _all_params(opt)

    return Spec(f"{name}.step(RowGrad)", make, call, accept=(NonFiniteGradientError,),
                names={"indices": ("indices", "ids", "grads"),
                       "values": ("values", "grads")},
                related=("indices", "values"))


def _load_spec(name: str, flat: bool = False) -> Spec:
    def make(rng: np.random.Generator) -> tuple[Any, dict[str, Any]]:
        opt = _fitted_opt(name, rng)
        other = getattr(msopt, name)([p.copy() for p in _all_params(opt)], **OPTS[name],
                                     max_grad_norm=10.0)
        for k in range(2):
            other.step(_grads(other, 0.3 / (k + 1)))
        sd = other.state_dict()
        return opt, ({"flat": msopt.flatten_state_dict(sd)} if flat else {"state_dict": sd})

    def call(opt: Any, kw: dict[str, Any]) -> Any:
        sd = msopt.unflatten_state_dict(kw["flat"]) if flat else kw["state_dict"]
        opt.load_state_dict(sd)
        opt.step(_grads(opt))
        return _all_params(opt)

    key = "flat" if flat else "state_dict"
    return Spec(f"{name}.load_state_dict" + ("(unflatten)" if flat else ""), make, call,
                names={key: STATE_NAMES})


def _edit_spec(name: str) -> Spec:
    """The README invites editing ``param_groups``: the next step checks the values."""
    def make(rng: np.random.Generator) -> tuple[Any, dict[str, Any]]:
        opt = _fitted_opt(name, rng)
        return opt, {k: v for k, v in opt.param_groups[0].items()
                     if k not in ("params", "initial_lr")}

    def call(opt: Any, kw: dict[str, Any]) -> Any:
        g = opt.param_groups[0]
        saved = dict(g)
        g.update(kw)
        try:
            opt.step(_grads(opt))
        except BaseException:
            g.clear()
            g.update(saved)  # the user's edit undone: nothing else may have changed
            raise
        return _all_params(opt)

    return Spec(f"{name}.param_groups-edit+step", make, call,
                names={k: (k, "param_groups") for k in HYPER_NAMES})


def _add_group_spec(name: str) -> Spec:
    def make(rng: np.random.Generator) -> tuple[Any, dict[str, Any]]:
        opt = _fitted_opt(name, rng)
        dt = _all_params(opt)[0].dtype
        group = {"params": [rng.standard_normal((2, 2)).astype(dt)], "lr": 0.02}
        return opt, {"param_group": group}

    def call(opt: Any, kw: dict[str, Any]) -> Any:
        opt.add_param_group(**kw)
        opt.step(_grads(opt))
        return _all_params(opt)

    return Spec(f"{name}.add_param_group", make, call, mutable=("param_group",),
                names={"param_group": ("param_group", "params", "param_groups")
                       + HYPER_NAMES})


# -- schedulers ---------------------------------------------------------------------------
SCHEDULERS: dict[str, dict[str, Any]] = {
    "StepLR": dict(step_size=2, gamma=0.5, last_epoch=-1),
    "ExponentialLR": dict(gamma=0.9, last_epoch=-1),
    "WarmupCosineLR": dict(warmup_steps=2, total_steps=10, min_lr=1e-4, last_epoch=-1),
    "LinearDecayLR": dict(total_steps=10, min_factor=1e-4, last_epoch=-1),
    "ReduceLROnPlateau": dict(mode="min", factor=0.5, patience=1, threshold=1e-4,
                              threshold_mode="rel", cooldown=0, min_lr=0.0, eps=1e-8),
}


def _sched_spec(name: str) -> Spec:
    def make(rng: np.random.Generator) -> tuple[Any, dict[str, Any]]:
        opt = msopt.SGD(_params(rng), lr=0.1, momentum=0.5)
        return opt, dict(SCHEDULERS[name])

    def call(opt: Any, kw: dict[str, Any]) -> Any:
        sched = getattr(lr_scheduler, name)(opt, **kw)
        for _ in range(4):
            opt.step(_grads(opt))
            if name == "ReduceLROnPlateau":
                sched.step(1.0)
            else:
                sched.step()
        return [np.array([g["lr"] for g in opt.param_groups])] + _all_params(opt)

    return Spec(f"lr_scheduler.{name}", make, call)


def _sched_step_spec() -> Spec:
    def make(rng: np.random.Generator) -> tuple[Any, dict[str, Any]]:
        opt = msopt.SGD(_params(rng), lr=0.1)
        return lr_scheduler.ReduceLROnPlateau(opt, patience=0), {"metric": 1.0}

    def call(s: Any, kw: dict[str, Any]) -> Any:
        s.step(**kw)
        s.step(**kw)
        return np.array(s.get_last_lr())

    return Spec("ReduceLROnPlateau.step", make, call)


# -- linear models ------------------------------------------------------------------------
LOSSES = ["squared", "huber", "logistic", "softmax", "hinge"]


def _xy(rng: np.random.Generator, loss: str, n: int, d: int, c: int, dt: Any = F64
        ) -> tuple[np.ndarray, np.ndarray]:
    X = rng.standard_normal((n, d)).astype(dt)
    if loss in ("squared", "huber"):
        y = rng.standard_normal((n, c) if c > 1 else n)
    else:
        y = rng.integers(0, 2 if c == 1 else c, n)
    return X, y


def _layer_kw(rng: np.random.Generator) -> dict[str, Any]:
    loss = LOSSES[int(rng.integers(0, 5))]
    c = 1 if loss == "logistic" else int(rng.integers(1, 3)) if loss != "softmax" else 3
    return dict(n_features=3, n_outputs=c, loss=loss, huber_epsilon=1.35, fit_intercept=True,
                optimizer=["sgd", "adam"][int(rng.integers(0, 2))], lr=0.01,
                optimizer_params=None, max_grad_norm=None, l2=0.01, l1=0.0,
                dtype=[F32, F64][int(rng.integers(0, 2))])


def _layer_ctor_call(_t: Any, kw: dict[str, Any]) -> Any:
    m = msopt.LinearModel(**kw)
    rng = np.random.default_rng(0)
    X, y = _xy(rng, m.loss, 6, m.W.shape[0], m.W.shape[1], m.dtype)
    losses = m.run(X, y, epochs=1, batch_size=2)
    return [losses, m.W, m.b if m.b is not None else np.zeros(1)]


def _layer(rng: np.random.Generator) -> tuple[Any, np.ndarray, np.ndarray]:
    m = msopt.LinearModel(**_layer_kw(rng))
    X, y = _xy(rng, m.loss, 7, 3, m.W.shape[1], m.dtype)
    m.run(X, y, epochs=1, batch_size=3)
    return m, X, y


def _run_make(rng: np.random.Generator) -> tuple[Any, dict[str, Any]]:
    m, X, y = _layer(rng)
    return m, dict(X=X, y=y, sample_weight=rng.random(len(X)) if rng.integers(0, 2) else None,
                   epochs=1, batch_size=2, shuffle=True, seed=3, epoch0=0, schedule="linear",
                   schedule_steps=None, warmup_steps=0, min_factor=1e-4, schedule_origin=0)


def _layer_method(method: str, keys: tuple[str, ...]) -> Any:
    def make(rng: np.random.Generator) -> tuple[Any, dict[str, Any]]:
        m, X, y = _layer(rng)
        full = dict(X=X, y=y, sample_weight=rng.random(len(X)))
        return m, {k: full[k] for k in keys}

    return make


def _forward_check(m: Any, kw: dict[str, Any], result: Any, _v: Any) -> None:
    X = kw["X"]
    if isinstance(X, np.ndarray) and X.dtype == m.dtype and X.ndim == 2:
        np.testing.assert_allclose(result, reference.linear_forward(X, m.W, m.b), rtol=1e-5,
                                   atol=1e-6)
    else:
        assert_finite(result)


# -- estimators ---------------------------------------------------------------------------
def _est_params(cls: type) -> dict[str, Any]:
    common = dict(penalty="l2", l1_ratio=0.15, fit_intercept=True, optimizer="adam",
                  learning_rate=0.01, optimizer_params=None, learning_rate_schedule="constant",
                  warmup_epochs=0.0, batch_size=8, max_iter=3, tol=1e-4, n_iter_no_change=2,
                  gtol=None, early_stopping=False, validation_fraction=0.2, shuffle=True,
                  max_grad_norm=None, check_every=1, callbacks=None, random_state=0,
                  warm_start=False, verbose=0)
    if cls is msopt.LinearRegression:
        return dict(loss="squared_error", epsilon=1.35, alpha=0.001, **common)
    return dict(C=1.0, **common)


def _est_data(cls: type, rng: np.random.Generator, d: int = 3) -> tuple[Any, Any]:
    X = rng.standard_normal((20, d))
    if cls is msopt.LinearRegression:
        return X, X @ np.arange(1.0, d + 1) + 0.1 * rng.standard_normal(20)
    k = int(rng.integers(2, 4))
    return X, (np.arange(20) % k)[rng.permutation(20)]


def _fitted(cls: type, rng: np.random.Generator) -> tuple[Any, Any, Any]:
    X, y = _est_data(cls, rng)
    est = cls(**_est_params(cls)).fit(X, y)
    return est, X, y


EST_WORK = ("max_iter", "n_iter_no_change", "check_every", "verbose")
DATA = ("X", "y", "sample_weight")
# With scikit-learn installed the estimators validate X, y and sample_weight with its
# helpers (documented in the README), whose messages do not start with the argument's name;
# these phrases of theirs count as naming it.
SK_PHRASES = ("Expected 2D array", "inconsistent numbers of samples", "Sample weights",
              "sample_weight", "Found array with", "Input X", "Input y", "Input contains",
              "features, but", "Unknown label type", "y should be", "could not convert",
              "complex data not supported", "dtype='numeric' is not compatible",
              "Expected array-like", "setting an array element with a sequence",
              "Found input variables", "Got multiple", "The number of classes",
              "at least one non-zero")
SK_NAMES = {k: (k,) + SK_PHRASES for k in ("X", "y", "sample_weight", "classes")}
EST_ALIASES = {"learning_rate": ("learning_rate", "lr"), "random_state": ("random_state", "seed"),
               "max_iter": ("max_iter", "epochs")}


def _est_specs(cls: type) -> list[Spec]:
    n = cls.__name__

    def ctor_make(rng: np.random.Generator) -> tuple[Any, dict[str, Any]]:
        return None, _est_params(cls)

    def ctor_call(_t: Any, kw: dict[str, Any]) -> Any:
        rng = np.random.default_rng(1)
        X, y = _est_data(cls, rng)
        est = cls(**kw).fit(X, y)
        return [np.asarray(est.coef_, dtype=F64), est.decision_function(X)
                if hasattr(est, "decision_function") else est.predict(X)]

    def refit_make(rng: np.random.Generator) -> tuple[Any, dict[str, Any]]:
        est, X, y = _fitted(cls, rng)
        return est, _est_params(cls)

    def refit_call(est: Any, kw: dict[str, Any]) -> Any:
        saved = est.get_params()
        X, y = _est_data(cls, np.random.default_rng(2))
        try:
            est.set_params(**kw).fit(X, y)
        except BaseException:
            est.set_params(**saved)  # the user's edit undone: the fitted model must be intact
            raise
        return [np.asarray(est.coef_, dtype=F64)]

    def fit_make(rng: np.random.Generator) -> tuple[Any, dict[str, Any]]:
        est, X, y = _fitted(cls, rng)
        return est, dict(X=X, y=y, sample_weight=rng.random(len(X)))

    def fit_call(est: Any, kw: dict[str, Any]) -> Any:
        est.fit(**kw)
        return [np.asarray(est.coef_, dtype=F64)]

    def pfit_make(rng: np.random.Generator) -> tuple[Any, dict[str, Any]]:
        est, X, y = _fitted(cls, rng)
        kw = dict(X=X, y=y)
        if cls is not msopt.LinearRegression:
            kw["classes"] = est.classes_
        kw["sample_weight"] = rng.random(len(X))
        return est, kw

    def pfit_call(est: Any, kw: dict[str, Any]) -> Any:
        est.partial_fit(**kw)
        return [np.asarray(est.coef_, dtype=F64)]

    def pred_make(rng: np.random.Generator) -> tuple[Any, dict[str, Any]]:
        est, X, y = _fitted(cls, rng)
        return est, {"X": X}

    def score_make(rng: np.random.Generator) -> tuple[Any, dict[str, Any]]:
        est, X, y = _fitted(cls, rng)
        return est, {"X": X, "y": y, "sample_weight": None}

    xy = ("X", "y", "sample_weight", "classes")
    specs = [
        Spec(f"{n}(...).fit", ctor_make, ctor_call, work=EST_WORK, names=EST_ALIASES,
             accept=(DivergenceError,)),
        Spec(f"{n}.set_params+fit (fitted)", refit_make, refit_call, work=EST_WORK,
             names=EST_ALIASES, accept=(DivergenceError,)),
        Spec(f"{n}.fit (fitted)", fit_make, fit_call, related=xy, names=SK_NAMES,
             accept=(DivergenceError,), work=DATA),
        Spec(f"{n}.partial_fit (fitted)", pfit_make, pfit_call, related=xy, names=SK_NAMES,
             accept=(DivergenceError,), work=DATA),
        Spec(f"{n}.predict", pred_make, lambda e, kw: e.predict(**kw), names=SK_NAMES,
             check=lambda e, kw, r, v: None, work=DATA),
        Spec(f"{n}.score", score_make, lambda e, kw: e.score(**kw), related=xy, names=SK_NAMES,
             check=lambda e, kw, r, v: None, work=DATA),
    ]
    if cls is msopt.LogisticRegression:
        specs.append(Spec(f"{n}.predict_proba", pred_make,
                          lambda e, kw: e.predict_proba(**kw), names=SK_NAMES, work=DATA))
    if cls is not msopt.LinearRegression:
        specs.append(Spec(f"{n}.decision_function", pred_make,
                          lambda e, kw: e.decision_function(**kw), work=DATA,
                          names=SK_NAMES))
    return specs


# -- embedding bags -----------------------------------------------------------------------
def _bag_kw(rng: np.random.Generator) -> dict[str, Any]:
    return dict(num_embeddings=6, dim=3, mode=["mean", "sum"][int(rng.integers(0, 2))],
                optimizer=["sgd", "adam"][int(rng.integers(0, 2))], lr=0.01,
                optimizer_params=None, dtype=[F32, F64][int(rng.integers(0, 2))], seed=0)


def _bag_batch(rng: np.random.Generator, V: int, mode: str, dt: Any) -> dict[str, Any]:
    sizes = rng.integers(0, 4, 3)
    ids = rng.integers(0, V, int(sizes.sum())).astype(I64)
    offsets = np.concatenate([[0], np.cumsum(sizes)[:-1]]).astype(I64)
    psw = rng.random(len(ids)).astype(dt) if mode == "sum" else None
    return dict(ids=ids, offsets=offsets, per_sample_weights=psw)


def _bag_ctor_call(_t: Any, kw: dict[str, Any]) -> Any:
    bag = msopt.EmbeddingBag(**kw)
    rng = np.random.default_rng(0)
    b = _bag_batch(rng, bag.weight.shape[0], bag.mode, bag.weight.dtype)
    out = bag.forward(**b)
    bag.step(np.ones_like(out))
    return [out, bag.weight]


def _bag(rng: np.random.Generator) -> tuple[Any, dict[str, Any]]:
    bag = msopt.EmbeddingBag(**_bag_kw(rng))
    b = _bag_batch(rng, 6, bag.mode, bag.weight.dtype)
    out = bag.forward(**b)
    bag.step(np.ones_like(out))
    return bag, b


def _bag_fwd_check(bag: Any, kw: dict[str, Any], result: Any, _v: Any) -> None:
    ids, offsets, w = kw["ids"], kw["offsets"], kw["per_sample_weights"]
    try:
        ref = reference.embedding_bag_forward(bag.weight, np.asarray(ids, I64),
                                              np.asarray(offsets, I64),
                                              None if w is None else np.asarray(w), bag.mode)
    except Exception:
        assert_finite(result)
        return
    np.testing.assert_allclose(result, ref, rtol=1e-5, atol=1e-6)


def _bag_bwd_make(rng: np.random.Generator) -> tuple[Any, dict[str, Any]]:
    bag, b = _bag(rng)
    g = rng.standard_normal((len(b["offsets"]), 3)).astype(bag.weight.dtype)
    return bag, dict(grad_out=g, **b)


def _bag_bwd_call(bag: Any, kw: dict[str, Any]) -> Any:
    rg = bag.backward(**kw)
    return [rg.indices, rg.values]


# -- text ---------------------------------------------------------------------------------
LINES = ["the cat sat on the mat", "a dog and the cat", "", "x y z the", "the dog"]
SENTS = [s.split() for s in LINES] * 3
TEXTS = ["good fun film", "bad dull film", "fun good", "dull bad boring", "good", "bad film"]
LABELS = ["pos", "neg", "pos", "neg", "pos", "neg"]


def _vocab() -> Any:
    return msopt.Vocabulary(min_count=1).fit(LINES)


def _vocab_saved() -> str:
    path = _TMP / "vocab.txt"
    if not path.exists():
        _vocab().save(path)
    return str(path)


W2V_ALIASES = {"dim": ("dim", "vector_size"), "threads": ("threads", "workers"),
               "lr": ("lr", "alpha"), "min_lr": ("min_lr", "min_alpha"),
               "epochs": ("epochs", "iter"), "max_vocab": ("max_vocab", "max_final_vocab"),
               "seed": ("seed", "random_state")}


def _w2v_kw(rng: np.random.Generator) -> dict[str, Any]:
    return dict(sentences=SENTS, dim=4, window=2, negative=2, sg=int(rng.integers(0, 2)),
                min_count=1, epochs=1, threads=1, seed=1, lr=0.025, min_lr=1e-4, sample=0.0,
                max_vocab=None, lower=False, cbow_mean=1, deterministic=False, sigmoid="exact",
                compute_loss=True)


def _scores(result):
    """most_similar's scores: a list of (key, score), or every score as an array
    (topn=None, as gensim)."""
    return [result] if isinstance(result, np.ndarray) else [s for _, s in result]


def _w2v(rng: np.random.Generator) -> Any:
    return msopt.Word2Vec(**_w2v_kw(rng))


def _w2v_saved() -> str:
    path = _TMP / "w2v.npz"
    if not path.exists():
        _w2v(np.random.default_rng(0)).save(path)
    return str(path)


TC_ALIASES = {"ngrams": ("ngrams", "wordNgrams"), "buckets": ("buckets", "bucket"),
              "negative": ("negative", "neg"), "epochs": ("epochs", "epoch"),
              "threads": ("threads", "thread", "workers"),
              "min_count": ("min_count", "minCount"), "lr": ("lr", "learning_rate"),
              "seed": ("seed", "random_state")}


def _tc_kw(rng: np.random.Generator) -> dict[str, Any]:
    loss = ["softmax", "ova", "ns"][int(rng.integers(0, 3))]
    return dict(dim=4, ngrams=2, buckets=50, loss=loss,
                negative=1, lr=0.1, epochs=1, min_count=1, lower=False, threads=1, seed=0,
                deterministic=False)


def _tc(rng: np.random.Generator) -> Any:
    return msopt.TextClassifier(**_tc_kw(rng)).fit(TEXTS, LABELS)


def _tc_saved() -> str:
    path = _TMP / "tc.npz"
    if not path.exists():
        _tc(np.random.default_rng(0)).save(path)
    return str(path)


LM_TEXT = "the cat sat on the mat. the dog sat on the log. a cat and a dog.\n" * 3
LM_ALIASES = {"lr": ("lr", "learning_rate"), "seed": ("seed", "random_state"),
              "threads": ("threads", "workers")}


def _lm_kw(rng: np.random.Generator) -> dict[str, Any]:
    level = ["char", "word"][int(rng.integers(0, 2))]
    return dict(level=level, context=3, dim=4, hidden=8, epochs=1, batch_size=16,
                threads=1, seed=0, ngram=int(rng.integers(0, 4)),
                ngram_size=int(rng.integers(1, 5000)))


def _lm(rng: np.random.Generator) -> Any:
    return msopt.LanguageModel(**_lm_kw(rng)).fit(LM_TEXT)


def _texts(rng: np.random.Generator) -> list[str]:
    return list(TEXTS)


def _set_threads(_t: Any, kw: dict[str, Any]) -> Any:
    old = msopt.get_num_threads()
    try:
        msopt.set_num_threads(**kw)
        return msopt.get_num_threads()
    finally:
        msopt.set_num_threads(old)


def _not_nan_metric(s: Any, kw: dict[str, Any], r: Any, v: Any) -> None:
    if isinstance(kw["metric"], (int, float)) and math.isfinite(kw["metric"]):
        assert_finite(r)


SPECS: list[Spec] = []
for _n in OPTS:
    SPECS += [_ctor_spec(_n), _step_spec(_n), _rowgrad_spec(_n), _load_spec(_n),
              _edit_spec(_n), _add_group_spec(_n)]
SPECS.append(_load_spec("Adam", flat=True))
SPECS += [_sched_spec(_n) for _n in SCHEDULERS]
SPECS.append(_sched_step_spec())
SPECS[-1].check = _not_nan_metric
SPECS += [
    Spec("set_num_threads", lambda r: (None, {"n": 2}), _set_threads),
    Spec("LinearModel()", lambda r: (None, _layer_kw(r)), _layer_ctor_call,
         names={"lr": ("lr", "learning_rate")}, work=("n_features", "n_outputs"),
         accept=(DivergenceError,)),
    Spec("LinearModel.run", _run_make, lambda m, kw: m.run(**kw), work=("epochs",) + DATA,
         related=("X", "y", "sample_weight"), accept=(DivergenceError,)),
    Spec("LinearModel.step", _layer_method("step", ("X", "y", "sample_weight")),
         lambda m, kw: m.step(**kw), related=("X", "y", "sample_weight"),
         accept=(DivergenceError,), work=DATA),
    Spec("LinearModel.forward", _layer_method("forward", ("X",)),
         lambda m, kw: m.forward(**kw), check=_forward_check, work=DATA),
    Spec("LinearModel.loss_and_grad", _layer_method("lg", ("X", "y", "sample_weight")),
         lambda m, kw: m.loss_and_grad(**kw), related=("X", "y", "sample_weight"), work=DATA),
]
for _c in (msopt.LogisticRegression, msopt.LinearSVC, msopt.LinearRegression):
    SPECS += _est_specs(_c)
SPECS += [
    Spec("EmbeddingBag()", lambda r: (None, _bag_kw(r)), _bag_ctor_call,
         names={"dim": ("dim", "embedding_dim"), "lr": ("lr", "learning_rate"),
                "seed": ("seed", "random_state")}, work=("num_embeddings", "dim")),
    Spec("EmbeddingBag.forward", _bag, lambda b, kw: b.forward(**kw), check=_bag_fwd_check,
         related=("ids", "offsets", "per_sample_weights")),
    Spec("EmbeddingBag.backward", _bag_bwd_make, _bag_bwd_call,
         related=("grad_out", "ids", "offsets", "per_sample_weights")),
    Spec("EmbeddingBag.step", _bag_bwd_make, lambda b, kw: b.step(**kw),
         related=("grad_out", "ids", "offsets", "per_sample_weights"),
         accept=(NonFiniteGradientError,), check=lambda *a: None),
    Spec("Vocabulary().fit",
         lambda r: (None, dict(min_count=1, max_vocab=None, lower=False, chunk_lines=2)),
         lambda _t, kw: msopt.Vocabulary(**kw).fit(LINES).encode(LINES, ngrams=2,
                                                                  buckets=10),
         work=("chunk_lines",)),
    Spec("Vocabulary.fit", lambda r: (_vocab(), {"source": list(LINES), "errors": "strict"}),
         lambda v, kw: v.fit(**kw).encode(LINES), accept=(OSError,)),
    Spec("Vocabulary.encode", lambda r: (_vocab(), {"source": list(LINES), "ngrams": 2,
                                                     "buckets": 100, "errors": "strict"}),
         lambda v, kw: v.encode(**kw), accept=(OSError,), work=("ngrams",)),
    Spec("Vocabulary.from_counts",
         lambda r: (None, dict(words=["a", "b", "c"], counts=np.array([5, 3, 1]),
                               total_tokens=9, min_count=1, max_vocab=None, lower=False)),
         lambda _t, kw: msopt.Vocabulary.from_counts(**kw).encode(["a b c d"]),
         related=("words", "counts", "total_tokens")),
    Spec("Vocabulary[word]", lambda r: (_vocab(), {"word": "cat"}), lambda v, kw: v[kw["word"]],
         accept=(KeyError,)),
    Spec("Vocabulary.load", lambda r: (None, {"path": _vocab_saved()}),
         lambda _t, kw: msopt.Vocabulary.load(**kw).encode(LINES), accept=(OSError,)),
    Spec("Word2Vec()", lambda r: (None, _w2v_kw(r)),
         lambda _t, kw: [msopt.Word2Vec(**kw).wv.vectors], names=W2V_ALIASES,
         accept=(OSError, DivergenceError),
         work=("dim", "window", "negative", "epochs", "threads")),
    Spec("Word2Vec.build_vocab", lambda r: (_w2v(r), {"sentences": SENTS}),
         lambda m, kw: [m.build_vocab(**kw).wv.vectors], accept=(OSError,)),
    Spec("Word2Vec.train", lambda r: (_w2v(r), {"sentences": SENTS, "epochs": 1}),
         lambda m, kw: [m.train(**kw).wv.vectors, m.syn1neg],
         accept=(OSError, DivergenceError),
         work=("epochs",)),
    Spec("KeyedVectors.most_similar", lambda r: (_w2v(r).wv, {"positive": "cat", "topn": 3}),
         lambda wv, kw: _scores(wv.most_similar(**kw)), accept=(KeyError,)),
    Spec("KeyedVectors.similarity", lambda r: (_w2v(r).wv, {"a": "cat", "b": "dog"}),
         lambda wv, kw: wv.similarity(**kw), accept=(KeyError,)),
    Spec("Word2Vec.load", lambda r: (None, {"path": _w2v_saved()}),
         lambda _t, kw: [msopt.Word2Vec.load(**kw).wv.vectors], accept=(OSError,)),
    Spec("TextClassifier().fit", lambda r: (None, _tc_kw(r)),
         lambda _t, kw: msopt.TextClassifier(**kw).fit(TEXTS, LABELS).predict_proba(TEXTS),
         names=TC_ALIASES, accept=(DivergenceError,),
         work=("dim", "ngrams", "buckets", "negative", "epochs", "threads")),
    Spec("TextClassifier.fit (fitted)", lambda r: (_tc(r), {"texts": TEXTS, "labels": LABELS}),
         lambda m, kw: m.fit(**kw).predict_proba(TEXTS), related=("texts", "labels"),
         accept=(OSError, DivergenceError)),
    Spec("TextClassifier.partial_fit", lambda r: (_tc(r), {"texts": TEXTS, "labels": LABELS,
                                                            "classes": None}),
         lambda m, kw: m.partial_fit(**kw).predict_proba(TEXTS),
         related=("texts", "labels", "classes"), accept=(OSError, DivergenceError)),
    Spec("TextClassifier.predict", lambda r: (_tc(r), {"texts": TEXTS, "k": 1}),
         lambda m, kw: m.predict(**kw), check=lambda *a: None),
    Spec("TextClassifier.predict_proba", lambda r: (_tc(r), {"texts": TEXTS}),
         lambda m, kw: m.predict_proba(**kw)),
    Spec("TextClassifier.score", lambda r: (_tc(r), {"texts": TEXTS, "labels": LABELS}),
         lambda m, kw: m.score(**kw), related=("texts", "labels")),
    Spec("TextClassifier.test", lambda r: (_tc(r), {"texts": TEXTS, "labels": LABELS, "k": 1}),
         lambda m, kw: list(m.test(**kw)), related=("texts", "labels"), accept=(OSError,)),
    Spec("LanguageModel().fit", lambda r: (None, _lm_kw(r)),
         lambda _t, kw: msopt.LanguageModel(**kw).fit(LM_TEXT).perplexity(LM_TEXT),
         names=LM_ALIASES, accept=(DivergenceError,),
         work=("context", "dim", "hidden", "epochs", "batch_size", "threads")),
    Spec("LanguageModel.fit (fitted)", lambda r: (_lm(r), {"text": LM_TEXT}),
         lambda m, kw: m.fit(**kw).perplexity(LM_TEXT), accept=(OSError, DivergenceError),
         work=("text",)),
    Spec("LanguageModel.perplexity", lambda r: (_lm(r), {"text": LM_TEXT, "adapt": False}),
         lambda m, kw: m.perplexity(**kw), accept=(OSError,), work=("text",)),
    Spec("LanguageModel.generate",
         lambda r: (_lm(r), {"prompt": "the ", "max_tokens": 5, "temperature": 1.0,
                             "top_k": 0, "top_p": 1.0, "seed": 0, "n": 2}),
         lambda m, kw: m.generate(**kw), check=lambda *a: None, work=("max_tokens", "n")),
    Spec("TextClassifier.load", lambda r: (None, {"path": _tc_saved()}),
         lambda _t, kw: msopt.TextClassifier.load(**kw).predict_proba(TEXTS),
         accept=(OSError,)),
]
