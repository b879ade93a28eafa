"""Every instruction-set path gives the same bits, area by area: each area (optimizer,
linear layer, losses, word2vec, doc2vec, sentence encoder, text classifier) compiles its
kernels once per ISA, and _core.set_isa switches them all at once.  (test_optim_reference
and test_word2vec also compare each path with the NumPy twins.)"""

from __future__ import annotations

import warnings

import numpy as np
import pytest

import msopt
from msopt import _core

ISAS = _core.available_isas()
pytestmark = pytest.mark.skipif(
    len(ISAS) < 2, reason=f"this CPU runs only one kernel path ({', '.join(ISAS)})")


def _on_every_isa(fn):
    """fn() on each path, the default path restored afterwards."""
    saved, out = _core.isa(), []
    try:
        for isa in ISAS:
            _core.set_isa(isa)
            assert _core.isa() == isa
            out.append((isa, fn()))
    finally:
        _core.set_isa(saved)
    return out


def _assert_same(results):
    first_isa, first = results[0]
    for isa, r in results[1:]:
        for a, b in zip(first, r):
            np.testing.assert_array_equal(np.asarray(b), np.asarray(a),
                                          err_msg=f"{isa} vs {first_isa}")


def test_set_isa_switches_every_area():
    for isa in ISAS:
        _core.set_isa(isa)
        assert _core.isa() == isa
    _core.set_isa(ISAS[0])
    with pytest.raises(ValueError, match="no kernel path"):
        _core.set_isa("mmx")


@pytest.mark.parametrize("name", ["SGD", "Adam", "RMSprop"])
def test_optimizer(name):
    rng = np.random.default_rng(0)
    p0 = [rng.normal(size=n).astype(dt) for n, dt in ((1001, np.float32), (77, np.float64))]
    g = [rng.normal(size=p.shape).astype(p.dtype) for p in p0]

    def run():
        ps = [p.copy() for p in p0]
        opt = getattr(msopt, name)(ps, lr=0.01)
        for _ in range(3):
            opt.step(g)
        return ps

    _assert_same(_on_every_isa(run))


@pytest.mark.parametrize("loss", ["squared", "huber", "logistic", "softmax", "hinge"])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("sparse", [False, True])
def test_linear(loss, dtype, sparse):
    rng = np.random.default_rng(1)
    n, d = 203, 13
    X = rng.normal(size=(n, d)).astype(dtype)
    if sparse:
        scipy_sparse = pytest.importorskip("scipy.sparse")
        X = scipy_sparse.csr_matrix(np.where(rng.uniform(size=X.shape) < 0.3, X, 0))
    C = 1 if loss == "logistic" else 5
    if loss in ("squared", "huber"):
        y = rng.normal(size=(n, C)).astype(dtype)
    else:
        y = rng.integers(0, 2 if C == 1 else C, n).astype(np.int64)

    def run():
        m = msopt.LinearModel(d, C, loss, lr=0.05, dtype=dtype)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            trace = m.run(X, y, epochs=2, batch_size=16)
        return [m.W, m.b, np.asarray(trace)]

    _assert_same(_on_every_isa(run))


@pytest.mark.parametrize("kind", ["squared", "huber", "logistic", "softmax", "hinge", "ns",
                                  "sampled_softmax"])
def test_losses(kind):
    rng = np.random.default_rng(2)
    B, C = 37, 1 if kind == "logistic" else 19
    z = rng.normal(0, 3, (B, C)).astype(np.float32)
    kw = {}
    t = None
    if kind in ("squared", "huber"):
        t = rng.normal(0, 3, (B, C)).astype(np.float32)
    elif kind in ("logistic", "softmax", "hinge"):
        t = rng.integers(0, 2 if C == 1 else C, B).astype(np.int64)
    elif kind == "sampled_softmax":
        t = rng.integers(0, 6, (B, C)).astype(np.int64)
        kw = {"log_q": rng.normal(size=(B, C)).astype(np.float32),
              "remove_accidental_hits": True}
    _assert_same(_on_every_isa(lambda: _core.loss_grad(kind, z, t, **kw)))
    if kind == "ns":
        _assert_same(_on_every_isa(lambda: _core.loss_grad(kind, z, table_sigmoid=True)))


@pytest.mark.parametrize("loss", ["softmax", "ova", "ns"])
@pytest.mark.parametrize(("workers", "deterministic"), [(1, False), (2, True)])
def test_text_classifier(loss, workers, deterministic):
    rng = np.random.default_rng(3)
    words = [f"w{i}" for i in range(40)]
    texts = [" ".join(rng.choice(words, rng.integers(1, 12))) for _ in range(300)]
    labels = [f"c{int(rng.integers(0, 5))}" for _ in texts]

    def run():
        clf = msopt.TextClassifier(dim=19, buckets=500, loss=loss, epochs=3, lr=0.3, seed=5,
                                   workers=workers, deterministic=deterministic)
        clf.fit(texts, labels)
        return [clf.input_, clf.output_, np.asarray(clf.loss_history_),
                clf.predict_proba(texts[:20])]

    _assert_same(_on_every_isa(run))


def _w2v_corpus(rng, V, dim, n, length):
    """Zipf-distributed word ids in sentences of `length`, their counts, two tables."""
    ids = (rng.zipf(1.5, n) % V).astype(np.int64)
    offsets = np.arange(0, len(ids), length, dtype=np.int64)
    counts = np.bincount(ids, minlength=V).astype(np.int64) + 1
    tables = [rng.uniform(-0.5, 0.5, (V, dim)).astype(np.float32) for _ in range(2)]
    return ids, offsets, counts, *tables


@pytest.mark.parametrize("sg", [True, False])
@pytest.mark.parametrize("freeze", ["freeze_input", "freeze_output"])
def test_word2vec_with_a_frozen_table(sg, freeze):
    """word2vec's ISA paths with a frozen table (test_word2vec checks the plain run)."""
    ids, offsets, counts, syn0, syn1 = _w2v_corpus(np.random.default_rng(4), 50, 21, 3000, 15)

    def run():
        a, b = syn0.copy(), syn1.copy()
        losses, _, _ = _core.word2vec_train(ids, offsets, counts, a, b, 3, 5, 0.0, 0.025,
                                            1e-4, 1, 7, 1, sg=sg, **{freeze: True})
        return [a, b, losses]

    _assert_same(_on_every_isa(run))


@pytest.mark.parametrize("dim", [1, 3, 16, 21, 100])
@pytest.mark.parametrize("negative", [1, 5, 9])
def test_doc2vec_inference(dim, negative):
    """Doc2Vec's inference (frozen outputs: the fused scores and update up to 8 targets, the
    general loop past them) on every path."""
    ids, offsets, counts, words, syn1 = _w2v_corpus(np.random.default_rng(dim + negative), 60,
                                                    dim, 400, 9)

    def run():
        return _core.doc2vec_infer(ids, offsets, counts, words, syn1, 3, negative, 0.0, 0.05,
                                   1e-4, 7, 1, False, 5, 5)

    _assert_same(_on_every_isa(run))


@pytest.mark.parametrize("dim", [1, 17, 100])
@pytest.mark.parametrize("project", [False, True])
def test_sentence_encoder_encode(dim, project):
    """The encoder's bag mean (in column blocks of 32, 8, 4 and single columns), projection
    and normalization on every path."""
    rng = np.random.default_rng(dim)
    rows, n = 40, 30
    params = [rng.standard_normal((rows, dim)).astype(np.float32)]
    if project:
        params += [rng.standard_normal((dim, 7)).astype(np.float32),
                   rng.standard_normal(7).astype(np.float32)]
    lens = rng.integers(0, 6, n)
    ids = rng.integers(0, rows, lens.sum()).astype(np.int64)
    offsets = np.r_[0, np.cumsum(lens)[:-1]].astype(np.int64)
    _assert_same(_on_every_isa(lambda: [_core.encoder_encode(params, ids, offsets)]))


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("act", ["tanh", "relu"])
def test_language_model(dtype, act):
    """Training through the first-layer table (batch 64 over 9 ids) and without it (the
    direct connection), scoring and sampling."""
    from msopt.reference import language_model as ref

    rng = np.random.default_rng(2)
    tokens = rng.integers(0, 8, 300)
    acts = {"tanh": _core.LmActivation.TANH, "relu": _core.LmActivation.RELU}

    def run():
        out = []
        for direct in (False, True):
            params = ref.init_params(np.random.default_rng(3), vocab=9, dim=4, context=3,
                                     hidden=37, hidden2=0, direct=direct, dtype=dtype)
            shape = _core.LmShape(vocab=9, dim=4, context=3, hidden1=37, direct=direct,
                                  act=acts[act])
            data = _core.LmData(tokens, 9, 8)
            _core.lm_train(data, shape, msopt.Adam(params, lr=0.01).native_state(),
                           batch_size=64, seed=0, epoch=0, batch_begin=0, batch_end=4)
            out += params
            out.append(_core.lm_score(data, shape, params, 0, 300, per_token=True))
            out.append(_core.lm_generate(shape, params, np.full((4, 3), 8), max_tokens=30,
                                         seed=1)[0])
        return out

    _assert_same(_on_every_isa(run))
