"""Entry points of ``msopt._core``, each with a tiny valid call and its reference."""

from __future__ import annotations

import math
from typing import Any

import numpy as np

import msopt
from msopt import _core, reference

from .harness import Spec, assert_finite, nonfinite

F32, F64, I64 = np.float32, np.float64, np.int64


def _kw(fn: Any) -> Any:
    return lambda _t, kw: fn(**kw)


def _close(a: Any, b: Any, what: str) -> None:
    a, b = np.asarray(a), np.asarray(b)
    assert a.shape == b.shape, f"{what}: shape {a.shape}, reference {b.shape}"
    rtol = 1e-4 if a.dtype == F32 or b.dtype == F32 else 1e-7
    np.testing.assert_allclose(a, b, rtol=rtol, atol=rtol, err_msg=what)


def _same_arrays(kw: dict[str, Any], valid: dict[str, np.ndarray]) -> bool:
    """True when every array argument still has its valid dtype and shape (a reference
    comparison is meaningful)."""
    for k, v in valid.items():
        a = kw.get(k)
        if v is None:
            if a is not None:
                return False
            continue
        if not isinstance(a, np.ndarray) or a.dtype != v.dtype or a.shape != v.shape:
            return False
    return True


# -- threads and ISA ----------------------------------------------------------------------
def _set_threads(_t: Any, kw: dict[str, Any]) -> Any:
    old = _core.get_num_threads()
    try:
        _core.set_num_threads(**kw)
        return _core.get_num_threads()
    finally:
        _core.set_num_threads(old)


def _set_isa(_t: Any, kw: dict[str, Any]) -> Any:
    old = _core.isa()
    try:
        _core.set_isa(**kw)
        return _core.isa()
    finally:
        _core.set_isa(old)


# -- schedules ----------------------------------------------------------------------------
def _schedule_make(rng: np.random.Generator) -> tuple[Any, dict[str, Any]]:
    kind = _core.ScheduleKind(int(rng.integers(0, 5)))
    return None, dict(kind=kind, base=0.1, end=0.01, floor=0.001, total=10.0, warmup=2.0,
                      gamma=0.9, step_size=3)


def _schedule_call(_t: Any, kw: dict[str, Any]) -> Any:
    return _core.Schedule(**kw).rates(0, 20)


def _at_check(_s: Any, kw: dict[str, Any], result: Any, _v: Any) -> None:
    if math.isfinite(float(kw["k"])):  # a NaN step gives a NaN rate
        assert_finite(result)


def _rates_make(rng: np.random.Generator) -> tuple[Any, dict[str, Any]]:
    return _core.Schedule(_core.ScheduleKind.LINEAR, base=0.1, total=10.0), {
        "start": int(rng.integers(0, 5)), "stop": int(rng.integers(5, 30))}


# -- optimizer kernels --------------------------------------------------------------------
ALGOS = ["SGD", "Adam", "AdamW", "Adagrad", "RMSprop", "Lion"]


def _optimizer_step_make(rng: np.random.Generator) -> tuple[Any, dict[str, Any]]:
    name = ALGOS[int(rng.integers(0, len(ALGOS)))]
    dt = [F32, F64][int(rng.integers(0, 2))]
    params = [rng.standard_normal((3, 2)).astype(dt), rng.standard_normal(4).astype(dt)]
    opt = getattr(msopt, name)(params, lr=0.01)
    ns = opt.native_state()
    grads = [rng.standard_normal(p.shape).astype(p.dtype) for p in params]
    kw = dict(algo=ns.algo, params=ns.params, grads=grads, states=ns.states, steps=ns.steps,
              hypers=ns.hypers, group_sizes=ns.group_sizes, max_norm=0.0, check_finite=True)
    return None, kw


def _stream7_make(rng: np.random.Generator) -> tuple[Any, dict[str, Any]]:
    n = int(rng.integers(1, 40))
    kw = {k: rng.standard_normal(n).astype(F32) for k in "pg"}
    code = [F32, np.uint16, np.uint8][int(rng.integers(0, 3))]  # float32, bfloat16, int8 state
    kw.update({k: (rng.standard_normal(n) * 50).astype(code) for k in "mv"})
    return None, kw


# -- linear -------------------------------------------------------------------------------
def _linear_data(rng: np.random.Generator, sparse: bool) -> dict[str, Any]:
    n, d, c = int(rng.integers(1, 6)), int(rng.integers(1, 5)), int(rng.integers(1, 4))
    dt = [F32, F64][int(rng.integers(0, 2))]
    if sparse:
        mask = rng.random((n, d)) < 0.5
        indptr = np.concatenate([[0], np.cumsum(mask.sum(1))]).astype(I64)
        indices = np.nonzero(mask)[1].astype(I64)
        X = rng.standard_normal(int(mask.sum())).astype(dt)
    else:
        indptr = indices = None
        X = rng.standard_normal((n, d)).astype(dt)
    W = rng.standard_normal((d, c)).astype(dt)
    b = rng.standard_normal(c).astype(dt)
    return dict(X=X, indptr=indptr, indices=indices, W=W, b=b, n=n, d=d, c=c, dt=dt)


def _dense_X(kw: dict[str, Any], n: int, d: int) -> np.ndarray:
    if kw["indptr"] is None:
        return kw["X"]
    X = np.zeros((n, d), kw["X"].dtype)
    for r in range(n):
        lo, hi = kw["indptr"][r], kw["indptr"][r + 1]
        X[r, kw["indices"][lo:hi]] = kw["X"][lo:hi]
    return X


def _forward_make(rng: np.random.Generator) -> tuple[Any, dict[str, Any]]:
    data = _linear_data(rng, bool(rng.integers(0, 2)))
    kw = {k: data[k] for k in ("X", "indptr", "indices", "W", "b")}
    return data, kw


def _forward_check(data: Any, kw: dict[str, Any], result: Any, _v: Any) -> None:
    valid = {k: data[k] for k in ("X", "indptr", "indices", "W", "b")}
    finite = all(np.isfinite(kw[k]).all() for k in valid
                 if isinstance(kw[k], np.ndarray) and kw[k].dtype.kind == "f")
    if not finite:  # CSR's implicit zeros do not multiply NaN; the dense twin does
        return
    if _same_arrays(kw, valid):
        X = _dense_X(kw, data["n"], data["d"])
        _close(result, reference.linear_forward(X, kw["W"], kw["b"]), "linear_forward")
    else:
        assert_finite(result)


LOSSES = ["squared", "huber", "logistic", "softmax", "hinge"]


def _targets(rng: np.random.Generator, loss: str, n: int, c: int, dt: Any
             ) -> tuple[Any, Any]:
    if loss in ("squared", "huber"):
        return rng.standard_normal((n, c)).astype(dt), None
    classes = 2 if (loss == "logistic" or (loss == "hinge" and c == 1)) else c
    return None, rng.integers(0, classes, n).astype(I64)


def _loss_make(rng: np.random.Generator) -> tuple[Any, dict[str, Any]]:
    data = _linear_data(rng, bool(rng.integers(0, 2)))
    loss = LOSSES[int(rng.integers(0, 5))]
    if loss == "logistic":
        data["W"], data["b"] = data["W"][:, :1].copy(), data["b"][:1].copy()
        data["c"] = 1
    y, labels = _targets(rng, loss, data["n"], data["c"], data["dt"])
    sw = rng.random(data["n"]).astype(data["dt"]) if rng.integers(0, 2) else None
    kw = dict(X=data["X"], indptr=data["indptr"], indices=data["indices"], y=y,
              labels=labels, sample_weight=sw, W=data["W"], b=data["b"],
              loss=_core.Loss[loss.upper()], huber_eps=1.35)
    data["kw"] = {k: v for k, v in kw.items() if isinstance(v, np.ndarray) or v is None}
    data["loss"] = loss
    return data, kw


def _loss_check(data: Any, kw: dict[str, Any], result: Any, _v: Any) -> None:
    loss, dW, db = result
    assert dW.shape == kw["W"].shape
    assert dW.dtype == kw["W"].dtype
    # the dense twin multiplies NaN data by the implicit zeros of CSR input: compare
    # finite data only
    finite = all(np.isfinite(kw[k]).all() for k in data["kw"]
                 if isinstance(kw[k], np.ndarray) and kw[k].dtype.kind == "f")
    if not (_same_arrays(kw, data["kw"]) and kw["loss"] == _core.Loss[data["loss"].upper()]
            and kw["huber_eps"] == 1.35 and finite):
        if finite:
            assert_finite([loss, dW, db])
        return
    X = _dense_X(kw, data["n"], data["d"])
    Z = reference.linear_forward(X, kw["W"], kw["b"])
    target = kw["y"] if kw["y"] is not None else kw["labels"]
    total, G = reference.loss_grad(data["loss"], Z, target, kw["sample_weight"], 1.35)
    _close(dW, X.T.astype(F64) @ G.astype(F64), "linear_loss_grad dW")
    _close(db, G.astype(F64).sum(0), "linear_loss_grad db")


def _run_make(rng: np.random.Generator) -> tuple[Any, dict[str, Any]]:
    data, kw = _loss_make(rng)
    loss = kw.pop("loss")
    eps = kw.pop("huber_eps")
    params = [kw["W"], kw["b"]]
    opt = msopt.SGD([{"params": [kw["W"]]}, {"params": [kw["b"]]}], lr=0.01)
    del params
    kw["optimizer"] = opt.native_state()
    kw["options"] = _core.LinearRunOptions(loss=loss, huber_eps=eps, batch_size=2, epochs=1,
                                           seed=int(rng.integers(0, 100)))
    data["opt"] = opt
    return data, kw


def _options_make(rng: np.random.Generator) -> tuple[Any, dict[str, Any]]:
    return None, dict(loss=_core.Loss.SQUARED, huber_eps=1.35, batch_size=4, epochs=1,
                      epoch0=0, seed=int(rng.integers(0, 1000)), shuffle=True, l2=0.0, l1=0.0,
                      schedule=_core.Schedule(), schedule_origin=0)


def _options_call(_t: Any, kw: dict[str, Any]) -> Any:
    """Build the options and run one tiny epoch with them."""
    o = _core.LinearRunOptions(**kw)
    rng = np.random.default_rng(0)
    X = rng.standard_normal((5, 2))
    W, b = np.zeros((2, 1)), np.zeros(1)
    opt = msopt.SGD([{"params": [W]}, {"params": [b]}], lr=0.01)
    losses, finite, *_ = _core.linear_run(X, None, None, rng.standard_normal((5, 1)), None,
                                         None, W, b, opt.native_state(), o)
    return [losses, W, b]


def _perm_check(_t: Any, kw: dict[str, Any], result: Any, _v: Any) -> None:
    n = int(kw["n"])
    assert result.dtype == I64
    assert result.shape == (n,)
    assert np.array_equal(np.sort(result), np.arange(n)), "not a permutation"


# -- embedding bags -----------------------------------------------------------------------
def _bags(rng: np.random.Generator) -> dict[str, Any]:
    V, D = int(rng.integers(1, 8)), int(rng.integers(1, 5))
    dt = [F32, F64][int(rng.integers(0, 2))]
    n_bags = int(rng.integers(1, 5))
    sizes = rng.integers(0, 4, n_bags)
    ids = rng.integers(0, V, int(sizes.sum())).astype(I64)
    offsets = np.concatenate([[0], np.cumsum(sizes)[:-1]]).astype(I64)
    mode = int(rng.integers(0, 2))
    psw = rng.random(len(ids)).astype(dt) if (mode == 0 and rng.integers(0, 2)) else None
    return dict(V=V, D=D, dt=dt, n_bags=n_bags, ids=ids, offsets=offsets, mode=mode, psw=psw,
                table=rng.standard_normal((V, D)).astype(dt),
                grad_out=rng.standard_normal((n_bags, D)).astype(dt))


def _bag_fwd_make(rng: np.random.Generator) -> tuple[Any, dict[str, Any]]:
    b = _bags(rng)
    return b, dict(table=b["table"], ids=b["ids"], offsets=b["offsets"],
                   per_sample_weights=b["psw"], mode=b["mode"])


def _bag_fwd_check(b: Any, kw: dict[str, Any], result: Any, _v: Any) -> None:
    valid = dict(table=b["table"], ids=b["ids"], offsets=b["offsets"],
                 per_sample_weights=b["psw"])
    if _same_arrays(kw, valid) and kw["mode"] == b["mode"]:
        ref = reference.embedding_bag_forward(kw["table"], kw["ids"], kw["offsets"],
                                              kw["per_sample_weights"],
                                              "sum" if b["mode"] == 0 else "mean")
        _close(result, ref, "embedding_bag_forward")
    else:
        assert_finite(result)


def _bag_bwd_make(rng: np.random.Generator) -> tuple[Any, dict[str, Any]]:
    b = _bags(rng)
    return b, dict(grad_out=b["grad_out"], ids=b["ids"], offsets=b["offsets"],
                   per_sample_weights=b["psw"], mode=b["mode"], num_embeddings=b["V"])


def _bag_bwd_check(b: Any, kw: dict[str, Any], result: Any, _v: Any) -> None:
    valid = dict(grad_out=b["grad_out"], ids=b["ids"], offsets=b["offsets"],
                 per_sample_weights=b["psw"])
    if _same_arrays(kw, valid) and kw["mode"] == b["mode"]:
        ref = reference.embedding_bag_backward(kw["grad_out"], kw["ids"], kw["offsets"],
                                               kw["per_sample_weights"],
                                               "sum" if b["mode"] == 0 else "mean")
        if isinstance(result, tuple):  # merged: (unique ids, summed rows)
            uniq, vals = result
            r_ids, r_vals = reference.coalesce_rows(kw["ids"], ref)
            _close(uniq, r_ids, "embedding_bag_backward_merged ids")
            _close(vals, r_vals, "embedding_bag_backward_merged values")
        else:
            _close(result, ref, "embedding_bag_backward")
    else:
        assert_finite(result)


# -- text ---------------------------------------------------------------------------------
LINES = ["the cat sat on the mat", "a dog and the cat", "", "x y z the"]


def _vocab(built: bool) -> Any:
    v = _core.Vocab()
    v.count(list(LINES))
    if built:
        v.finalize(1, 0)
    return v


def _w2v_make(rng: np.random.Generator) -> tuple[Any, dict[str, Any]]:
    V, D = int(rng.integers(2, 6)), int(rng.integers(1, 5))
    ids = rng.integers(0, V, 12).astype(I64)
    offsets = np.array([0, 5, 9], I64)
    return None, dict(ids=ids, offsets=offsets, counts=rng.integers(1, 10, V).astype(I64),
                      syn0=(rng.random((V, D)).astype(F32) - 0.5) / D,
                      syn1=np.zeros((V, D), F32), window=2, negative=2, sample=0.0,
                      alpha=0.025, min_alpha=0.0001, epochs=1, seed=int(rng.integers(0, 99)),
                      threads=1, sg=bool(rng.integers(0, 2)), cbow_mean=True,
                      table_sigmoid=False, compute_loss=True, deterministic=False,
                      round_words=8192, freeze_input=False, freeze_output=False)


def _ft_make(rng: np.random.Generator) -> tuple[Any, dict[str, Any]]:
    V, D, C = int(rng.integers(2, 6)), int(rng.integers(1, 5)), int(rng.integers(2, 4))
    ids = rng.integers(0, V, 10).astype(I64)
    offsets = np.array([0, 3, 6, 8], I64)
    loss = ["softmax", "ova", "ns"][int(rng.integers(0, 3))]
    return None, dict(ids=ids, offsets=offsets, labels=rng.integers(0, C, 4).astype(np.int32),
                      input=(rng.random((V, D)).astype(F32) - 0.5), output=np.zeros((C, D), F32),
                      loss=loss, class_weights=np.ones(C), neg=1, lr=0.1, epochs=1,
                      seed=int(rng.integers(0, 99)), threads=1, deterministic=False)


def _ft_predict_make(rng: np.random.Generator) -> tuple[Any, dict[str, Any]]:
    _, kw = _ft_make(rng)
    kw["output"] = rng.standard_normal(kw["output"].shape).astype(F32)
    return None, {k: kw[k] for k in ("ids", "offsets", "input", "output", "loss")}


def _lossk_make(rng: np.random.Generator) -> tuple[Any, dict[str, Any]]:
    kinds = ["squared", "huber", "logistic", "softmax", "hinge", "ns", "sampled_softmax"]
    kind = kinds[int(rng.integers(0, len(kinds)))]
    B, C = int(rng.integers(1, 5)), int(rng.integers(1, 5))
    dt = [F32, F64][int(rng.integers(0, 2))]
    if kind == "logistic":
        C = 1
    if kind == "ns":
        dt = F32
    if kind == "sampled_softmax":
        C = max(C, 2)
    scores = rng.standard_normal((B, C)).astype(dt)
    log_q = None
    if kind in ("squared", "huber"):
        targets: Any = rng.standard_normal((B, C)).astype(dt)
    elif kind == "ns":
        targets = None
    elif kind == "sampled_softmax":
        targets = rng.integers(0, 3, (B, C)).astype(I64)
        log_q = rng.standard_normal((B, C)).astype(dt)
    else:
        targets = rng.integers(0, 2 if kind in ("logistic", "hinge") and C == 1 else C,
                               B).astype(I64)
    kw = dict(kind=kind, scores=scores, targets=targets, huber_eps=1.35, log_q=log_q,
              remove_accidental_hits=bool(rng.integers(0, 2)), table_sigmoid=False)
    return dict(kw), kw


def _lossk_check(valid: Any, kw: dict[str, Any], result: Any, _v: Any) -> None:
    loss, g = result
    assert g.shape == np.shape(kw["scores"])
    finite = all(np.isfinite(v).all() for v in kw.values()
                 if isinstance(v, np.ndarray) and v.dtype.kind == "f")
    if not finite:  # NaN/Inf scores: the sum is the data's, no reference needed
        return
    if all(_snap_eq(kw[k], valid[k]) for k in valid if k != "remove_accidental_hits"
           ) and kw["remove_accidental_hits"] in (True, False):
        ref_loss, ref_g = reference.losses.loss_grad(**kw)
        _close(loss, ref_loss, "loss_grad loss")
        _close(g, ref_g, "loss_grad grad")
    else:
        assert_finite([loss, g])


def _snap_eq(a: Any, b: Any) -> bool:
    if isinstance(b, np.ndarray):
        return (isinstance(a, np.ndarray) and a.dtype == b.dtype and a.shape == b.shape)
    return type(a) is type(b) and a == b


def _sample_check(_t: Any, kw: dict[str, Any], result: Any, _v: Any) -> None:
    n = int(kw["n"])
    assert result.shape == (n,)
    assert result.dtype == I64
    w = np.asarray(kw["weights"], dtype=F64)
    if n:
        assert ((result >= 0) & (result < len(w))).all()
        assert (w[result] > 0).all(), "drew a class of weight 0"
        if int(kw["exclude"]) >= 0 and np.count_nonzero(w) > 1:
            assert (result != int(kw["exclude"])).all()


def _vocab_method(method: str) -> Any:
    def call(v: Any, kw: dict[str, Any]) -> Any:
        return getattr(v, method)(**kw)
    return call


# pybind11 methods take positional names too
def _encode_call(v: Any, kw: dict[str, Any]) -> Any:
    return v.encode(kw["lines"], kw["ngrams"], kw["buckets"])



def _w2v_check(_t: Any, kw: dict[str, Any], result: Any, value: Any) -> None:
    # The loss is NaN by design when compute_loss is off (pybind11 takes None as False), and
    # a rate too large for the data makes the tables overflow: detecting that is the
    # caller's job (Word2Vec checks the tables after training and restores them).
    if kw.get("compute_loss") and not nonfinite(value) and abs(float(kw["alpha"])) < 1e3:
        assert_finite(result)

SPECS: list[Spec] = [
    Spec("_core.set_num_threads", lambda r: (None, {"n": int(r.integers(1, 3))}),
         _set_threads),
    Spec("_core.set_isa", lambda r: (None, {"name": _core.isa()}), _set_isa),
    Spec("_core.linear_tile_max", lambda r: (None, {"n": int(r.integers(1, 20))}),
         _kw(_core.linear_tile_max)),
    Spec("_core.fnv1a", lambda r: (None, {"s": "word"}), _kw(_core.fnv1a)),
    Spec("_core.Schedule", _schedule_make, _schedule_call),
    Spec("_core.Schedule.rates", _rates_make, lambda s, kw: s.rates(**kw),
         work=("start", "stop")),
    Spec("_core.Schedule.at", lambda r: (_core.Schedule(_core.ScheduleKind.WARMUP_COSINE,
                                                        base=0.1, total=10.0, warmup=2.0),
                                         {"k": float(r.integers(0, 12))}),
         lambda s, kw: s.at(**kw), check=_at_check),
    Spec("_core.optimizer_step", _optimizer_step_make, _kw(_core.optimizer_step),
         mutable=("params", "states", "steps")),
    Spec("_core.stream7", _stream7_make, _kw(_core.stream7), mutable=("p", "m", "v")),
    Spec("_core.LinearRunOptions", _options_make, _options_call, work=("epochs",)),
    Spec("_core.linear_forward", _forward_make, _kw(_core.linear_forward),
         check=_forward_check),
    Spec("_core.linear_loss_grad", _loss_make, _kw(_core.linear_loss_grad),
         check=_loss_check),
    Spec("_core.linear_run", _run_make, _kw(_core.linear_run), mutable=("W", "b", "optimizer"),
         check=lambda d, kw, res, v: None, work=("options",)),
    Spec("_core.epoch_permutation",
         lambda r: (None, dict(seed=int(r.integers(0, 99)), epoch=int(r.integers(0, 5)),
                               n=int(r.integers(0, 30)))),
         _kw(_core.epoch_permutation), check=_perm_check, work=("n",)),
    Spec("_core.embedding_bag_forward", _bag_fwd_make, _kw(_core.embedding_bag_forward),
         check=_bag_fwd_check),
    Spec("_core.embedding_bag_backward", _bag_bwd_make, _kw(_core.embedding_bag_backward),
         check=_bag_bwd_check),
    Spec("_core.embedding_bag_backward_merged", _bag_bwd_make,
         _kw(_core.embedding_bag_backward_merged), check=_bag_bwd_check),
    Spec("_core.Vocab.count", lambda r: (_core.Vocab(), {"lines": list(LINES)}),
         _vocab_method("count"), check=lambda *a: None),
    Spec("_core.Vocab.finalize", lambda r: (_vocab(False), {"min_count": 1, "max_vocab": 0}),
         _vocab_method("finalize"), check=lambda *a: None),
    Spec("_core.Vocab.encode", lambda r: (_vocab(True), {"lines": list(LINES), "ngrams": 2,
                                                          "buckets": 100}),
         _encode_call, check=lambda *a: None),
    Spec("_core.Vocab.id", lambda r: (_vocab(True), {"word": "cat"}), _vocab_method("id"),
         check=lambda *a: None),
    Spec("_core.Vocab.assign", lambda r: (_core.Vocab(), {"words": ["a", "b"],
                                                          "counts": [3, 2],
                                                          "total_tokens": 5}),
         _vocab_method("assign"), check=lambda *a: None),
    Spec("_core.word2vec_train", _w2v_make, _kw(_core.word2vec_train), check=_w2v_check,
         names={"threads": ("threads", "workers"), "alpha": ("alpha",),
                "min_alpha": ("min_alpha",)},
         mutable=("syn0", "syn1"), work=("epochs", "window", "negative", "threads",
                                         "round_words")),
    # A rate too large for the data makes the tables overflow: detecting that is the
    # caller's job (TextClassifier checks the tables after training and restores them).
    Spec("_core.fasttext_train", _ft_make, _kw(_core.fasttext_train),
         mutable=("input", "output"), work=("epochs", "neg", "threads"),
         check=lambda *a: None),
    Spec("_core.fasttext_predict_proba", _ft_predict_make, _kw(_core.fasttext_predict_proba)),
    Spec("_core.loss_grad", _lossk_make, _kw(_core.loss_grad), check=_lossk_check,
         names={"targets": ("targets", "ids")}),
    Spec("_core.sample_classes",
         lambda r: (None, dict(weights=r.random(5) + 0.1, n=int(r.integers(0, 20)),
                               seed=int(r.integers(0, 99)), exclude=int(r.integers(-1, 5)))),
         _kw(_core.sample_classes), check=_sample_check, work=("n",)),
]

_RELATED = {
    "_core.optimizer_step": ("params", "grads", "states", "steps", "hypers", "group_sizes"),
    "_core.stream7": ("p", "g", "m", "v"),
    "_core.linear_forward": ("X", "indptr", "indices", "W", "b"),
    "_core.linear_loss_grad": ("X", "indptr", "indices", "y", "labels", "sample_weight", "W",
                               "b"),
    "_core.linear_run": ("X", "indptr", "indices", "y", "labels", "sample_weight", "W", "b",
                         "optimizer"),
    "_core.embedding_bag_forward": ("table", "ids", "offsets", "per_sample_weights"),
    "_core.embedding_bag_backward": ("grad_out", "ids", "offsets", "per_sample_weights",
                                     "num_embeddings"),
    "_core.embedding_bag_backward_merged": ("grad_out", "ids", "offsets",
                                            "per_sample_weights", "num_embeddings"),
    "_core.Vocab.assign": ("words", "counts"),
    "_core.word2vec_train": ("ids", "offsets", "counts", "syn0", "syn1"),
    "_core.fasttext_train": ("ids", "offsets", "labels", "input", "output", "class_weights"),
    "_core.fasttext_predict_proba": ("ids", "offsets", "input", "output"),
    "_core.loss_grad": ("scores", "targets", "log_q"),
}
for _s in SPECS:  # private functions: pybind11's signature listing is an acceptable TypeError
    _s.generic_ok = True
    _s.related = _RELATED.get(_s.name, ())
