"""Compressed optimizer state (``state_dtype="bfloat16"`` and ``"int8"`` of Adam and AdamW):
the native step against its NumPy twin (msopt.reference.lowbit) bit for bit, on every
kernel path and thread count; resume from a state dict bit for bit; the memory it saves;
and the refusals."""

from __future__ import annotations

import copy
import io

import numpy as np
import pytest

import msopt
from msopt import _core
from msopt.reference import lowbit
from msopt.reference import optim as ref

SHAPES = [(0,), (1,), (17,), (4100,), (5, 300), (2, 4100), (3, 4, 5), (2, 0)]


def _grad(rng, shape):
    # magnitudes over five decades, so the codes' small end is exercised
    g = rng.standard_normal(shape) * 10.0 ** rng.uniform(-4, 1, shape)
    return g.astype(np.float32)


def _twin_state(opt, i):
    return {k: (v.copy() if isinstance(v, np.ndarray) else v) for k, v in opt.state[i].items()}


def _twin_step(opt, state_dtype, block, p, g, st, i, t, rows=None, gscale=1.0, **hyper):
    if state_dtype == "bfloat16":
        lowbit.adam_bf16(p, g, st, t=t, seed=opt._format.seed, param_index=i, rows=rows,
                         gscale=gscale, **hyper)
    else:
        lowbit.adam_int8(p, g, st, t=t, block=block, rows=rows, gscale=gscale, **hyper)


def _assert_same(opt, twins, params, refs):
    for i, (p, q) in enumerate(zip(params, refs)):
        np.testing.assert_array_equal(p.view(np.uint32), q.view(np.uint32), err_msg=f"p{i}")
        for k, v in opt.state[i].items():
            if k != "step":
                np.testing.assert_array_equal(v, twins[i][k], err_msg=f"state[{i}][{k}]")


@pytest.fixture(params=_core.available_isas())
def isa(request):
    saved = _core.isa()
    _core.set_isa(request.param)
    yield request.param
    _core.set_isa(saved)


@pytest.mark.parametrize(("state_dtype", "block"),
                         [("bfloat16", 256), ("int8", 256), ("int8", 2048)])
@pytest.mark.parametrize("cls", [msopt.Adam, msopt.AdamW])
@pytest.mark.parametrize("shape", SHAPES)
def test_native_step_matches_the_numpy_twin(state_dtype, block, cls, shape, isa):
    # (4100,) and (2, 4100) have whole blocks of both sizes and a short last one
    rng = np.random.default_rng(abs(hash((state_dtype, block, cls.__name__, shape))) % 2**32)
    p = rng.standard_normal(shape).astype(np.float32)
    q = p.copy()
    wd = 0.05
    opt = cls([p], lr=3e-3, betas=(0.8, 0.95), weight_decay=wd, state_dtype=state_dtype,
              block_size=block, seed=11)
    twin = [_twin_state(opt, 0)]
    for t in range(1, 6):
        g = _grad(rng, shape)
        opt.step([g])
        _twin_step(opt, state_dtype, block, q, g, twin[0], 0, t, lr=3e-3, betas=(0.8, 0.95),
                   weight_decay=wd, decoupled=cls is msopt.AdamW)
        _assert_same(opt, twin, [p], [q])


@pytest.mark.parametrize(("state_dtype", "block"),
                         [("bfloat16", 256), ("int8", 256), ("int8", 2048)])
@pytest.mark.parametrize("cls", [msopt.Adam, msopt.AdamW])
def test_nonfinite_gradients_match_the_twin(state_dtype, block, cls, isa):
    # nonfinite="ignore" lets NaN, +-inf and huge values into the moments and the codes'
    # clamps; the kernels still match the twin bit for bit
    rng = np.random.default_rng(block)
    shape = (2, 4100)
    p = rng.standard_normal(shape).astype(np.float32)
    q = p.copy()
    opt = cls([p], lr=3e-3, weight_decay=0.05, state_dtype=state_dtype, block_size=block,
              nonfinite="ignore", seed=3)
    twin = [_twin_state(opt, 0)]
    with np.errstate(all="ignore"):
        for t in range(1, 4):
            g = _grad(rng, shape)
            g.reshape(-1)[rng.choice(g.size, 6, replace=False)] = [
                np.nan, np.inf, -np.inf, np.nan, 3e38, -3e38]
            opt.step([g])
            _twin_step(opt, state_dtype, block, q, g, twin[0], 0, t, lr=3e-3,
                       weight_decay=0.05, decoupled=cls is msopt.AdamW)
            _assert_same(opt, twin, [p], [q])


@pytest.mark.parametrize(("cls", "wd"), [(msopt.Adam, 0.0), (msopt.Adam, 0.05),
                                       (msopt.AdamW, 0.05)])
def test_nan_meeting_nan_gives_the_same_bits_on_every_path_bfloat16(cls, wd):
    """Where two NaNs meet (a NaN gradient, a moment or parameter that is -NaN with another
    payload), every kernel path gives the same bits: the vector kernels pin the order of the
    adds whose operands may both be NaN, as the plain loops compute them.  (Which NaN comes
    out is not IEEE's to say, and NumPy's loops may pick the other: against the twin only
    the elements it leaves finite are compared.)"""
    n = 100  # three runs of 32 and a tail of 4
    rng = np.random.default_rng(7)
    p0 = rng.standard_normal(n).astype(np.float32)
    p0.view(np.uint32)[::5] = 0xFFC12345  # -NaN parameters with a payload
    g = rng.standard_normal(n).astype(np.float32)
    g[::3] = np.nan                        # +NaN gradients
    got = {}
    before = _core.isa()
    try:
        for isa in _core.available_isas():
            _core.set_isa(isa)
            p = p0.copy()
            opt = cls([p], lr=1e-3, weight_decay=wd, state_dtype="bfloat16",
                      nonfinite="ignore", seed=3)
            with np.errstate(all="ignore"):
                opt.step([np.zeros(n, np.float32)])
                p[...] = p0
                st = opt.state[0]
                st["exp_avg"][::2] = 0xFFC0        # -NaN first moments
                st["exp_avg_sq"][1::3] = 0xFFA1    # -NaN second moments, another payload
                q, twin = p.copy(), _twin_state(opt, 0)
                opt.step([g])
                _twin_step(opt, "bfloat16", 256, q, g, twin, 0, 2, lr=1e-3, weight_decay=wd,
                           decoupled=cls is msopt.AdamW)
            got[isa] = (p.view(np.uint32).copy(), st["exp_avg"].copy(), st["exp_avg_sq"].copy())
            finite = np.isfinite(q)
            assert finite.sum() > 10
            assert (~finite).sum() > 10
            np.testing.assert_array_equal(p.view(np.uint32)[finite], q.view(np.uint32)[finite])
    finally:
        _core.set_isa(before)
    first = next(iter(got.values()))
    for isa, arrays in got.items():
        for name, x, y in zip(("p", "exp_avg", "exp_avg_sq"), arrays, first):
            np.testing.assert_array_equal(x, y, err_msg=f"{isa}: {name}")


@pytest.mark.parametrize("state_dtype", ["bfloat16", "int8"])
@pytest.mark.parametrize("block", [256, 2048])
def test_row_sparse_clipped_maximized_steps_match_the_twin(state_dtype, block):
    rng = np.random.default_rng(5)
    table = rng.standard_normal((40, 2100)).astype(np.float32)
    bias = rng.standard_normal(33).astype(np.float32)
    tq, bq = table.copy(), bias.copy()
    opt = msopt.Adam([table, bias], lr=1e-2, maximize=True, max_grad_norm=5.0,
                     state_dtype=state_dtype, block_size=block, seed=2**63 + 5)
    twins = [_twin_state(opt, 0), _twin_state(opt, 1)]
    for t in range(1, 5):
        ids = rng.integers(0, 40, 9)
        values = _grad(rng, (9, 2100))
        gb = _grad(rng, (33,))
        opt.step([msopt.RowGrad(ids, values), gb])
        rows, summed = ref.coalesce_rows(ids, values)
        _, scale = ref.clip_scale([summed, gb], 5.0)
        hyper = dict(lr=1e-2, maximize=True, gscale=scale)
        _twin_step(opt, state_dtype, block, tq, summed, twins[0], 0, t, rows=rows, **hyper)
        _twin_step(opt, state_dtype, block, bq, gb, twins[1], 1, t, **hyper)
        _assert_same(opt, twins, [table, bias], [tq, bq])


def _run(state_dtype, threads, isa=None, steps=3):
    rng = np.random.default_rng(0)
    p = rng.standard_normal((300, 1000)).astype(np.float32)  # above the parallel threshold
    saved_threads, saved_isa = msopt.get_num_threads(), _core.isa()
    try:
        msopt.set_num_threads(threads)
        if isa:
            _core.set_isa(isa)
        opt = msopt.AdamW([p], lr=1e-2, state_dtype=state_dtype, seed=9)
        for _ in range(steps):
            opt.step([_grad(rng, p.shape)])
    finally:
        msopt.set_num_threads(saved_threads)
        _core.set_isa(saved_isa)
    return [p] + [v for k, v in opt.state[0].items() if k != "step"]


@pytest.mark.parametrize("state_dtype", ["bfloat16", "int8"])
def test_same_bits_on_every_path_and_thread_count(state_dtype):
    runs = [_run(state_dtype, threads, isa) for threads in (1, 2)
            for isa in _core.available_isas()]
    for other in runs[1:]:
        for a, b in zip(runs[0], other):
            np.testing.assert_array_equal(a, b)


def test_the_twin_on_a_parallel_step():
    rng = np.random.default_rng(3)
    p = rng.standard_normal((70, 1000)).astype(np.float32)
    q = p.copy()
    saved = msopt.get_num_threads()
    msopt.set_num_threads(2)
    try:
        opt = msopt.Adam([p], lr=1e-2, state_dtype="int8", block_size=2048)
        twin = [_twin_state(opt, 0)]
        g = _grad(rng, p.shape)
        opt.step([g])
    finally:
        msopt.set_num_threads(saved)
    lowbit.adam_int8(q, g, twin[0], t=1, block=2048, lr=1e-2)
    _assert_same(opt, twin, [p], [q])


@pytest.mark.parametrize("state_dtype", ["bfloat16", "int8"])
def test_resume_from_a_state_dict_is_bit_for_bit(state_dtype):
    rng = np.random.default_rng(4)
    grads = [_grad(rng, (20, 300)) for _ in range(8)]
    w0 = rng.standard_normal((20, 300)).astype(np.float32)

    def opt_for(w):
        return msopt.AdamW([w], lr=1e-2, state_dtype=state_dtype, seed=21)

    w = w0.copy()
    whole = opt_for(w)
    for g in grads:
        whole.step([g])
    w2 = w0.copy()
    first = opt_for(w2)
    for g in grads[:4]:
        first.step([g])
    buf = io.BytesIO()
    np.savez(buf, **msopt.flatten_state_dict(first.state_dict()))
    buf.seek(0)
    w3 = w2.copy()
    second = msopt.AdamW([w3], lr=1e-2, state_dtype=state_dtype, seed=0)  # seed comes back
    second.load_state_dict(msopt.unflatten_state_dict(np.load(buf)))
    for g in grads[4:]:
        second.step([g])
    np.testing.assert_array_equal(w3, w)
    assert second.state_dict()["state_format"]["seed"] == 21


def test_bfloat16_rounding_is_seeded():
    def run(seed):
        w = np.linspace(-1, 1, 5000, dtype=np.float32)
        opt = msopt.Adam([w], lr=1e-3, state_dtype="bfloat16", seed=seed)
        g = np.linspace(0.1, 3, 5000, dtype=np.float32)
        for _ in range(3):
            opt.step([g])
        return opt.state[0]["exp_avg"].copy()

    np.testing.assert_array_equal(run(1), run(1))
    assert not np.array_equal(run(1), run(2))


def test_stochastic_rounding_is_unbiased():
    x = np.full(200_000, 1.0 + 2.0**-9, np.float32)  # a quarter of the way to the next bf16
    r = lowbit.dither32(np.arange(x.size, dtype=np.uint32) ^ np.uint32(12345))
    for half in (r >> np.uint32(16), r & np.uint32(0xFFFF)):
        up = lowbit.bf16_decode(lowbit.bf16_round(x, half)) > 1.0
        assert abs(up.mean() - 0.25) < 0.005
    # One element over many steps: each half rounds up a quarter of the time, and m's and
    # v's roundings are independent of each other.
    keys = np.array([lowbit.stream_key(0, 0, t) for t in range(1, 40_001)], np.uint32)
    r = lowbit.dither32(np.uint32(7) ^ keys)
    up_m, up_v = (lowbit.bf16_decode(lowbit.bf16_round(x[:keys.size], half)) > 1.0
                  for half in (r >> np.uint32(16), r & np.uint32(0xFFFF)))
    assert abs(up_m.mean() - 0.25) < 0.01
    assert abs(up_v.mean() - 0.25) < 0.01
    assert abs((up_m & up_v).mean() - 0.0625) < 0.006


def test_codes_keep_small_values_relative():
    one = np.float32(1.0)
    for enc, dec, k in ((lowbit.q8m_encode, lowbit.q8m_decode, 15),
                        (lowbit.q8v_encode, lowbit.q8v_decode, 31)):
        assert dec(enc(np.zeros(1, np.float32), one), one)[0] == 0.0
        assert dec(enc(np.ones(1, np.float32), one), one)[0] == np.float32(1 - 2.0**-k)
        y = (2.0 ** np.random.default_rng(k).uniform(-k, 0, 20_000)).astype(np.float32)
        err = np.abs(dec(enc(y, one), one) - y)
        assert (err <= (y + 2.0**-k) / 16 * (1 + 1e-6)).all()  # half a 3-bit step of y
        assert (err[y > 2.0**-k] / y[y > 2.0**-k]).max() <= 1 / 8
    y = np.random.default_rng(0).uniform(-1, 1, 1000).astype(np.float32)
    back = lowbit.q8m_decode(lowbit.q8m_encode(y, one), one)
    np.testing.assert_array_equal(np.sign(back[back != 0]), np.sign(y[back != 0]))
    np.testing.assert_array_equal(lowbit.q8m_decode(lowbit.q8m_encode(-y, one), one), -back)


@pytest.mark.parametrize(("state_dtype", "most"), [("bfloat16", 0.50), ("int8", 0.27)])
def test_state_memory(state_dtype, most):
    params = [np.zeros(1_000_000, np.float32), np.zeros((1000, 512), np.float32)]
    full = msopt.Adam([p.copy() for p in params]).state_nbytes
    small = msopt.Adam([p.copy() for p in params], state_dtype=state_dtype).state_nbytes
    assert small <= most * full
    assert full == 8 * sum(p.size for p in params)


@pytest.mark.parametrize("state_dtype", ["bfloat16", "int8"])
def test_compressed_adam_trains_like_float32(state_dtype):
    rng = np.random.default_rng(0)
    X = rng.standard_normal((512, 64)).astype(np.float32)
    y = X @ rng.standard_normal(64).astype(np.float32) + 0.1 * rng.standard_normal(512)

    def fit(sd):
        w = np.zeros(64, np.float32)
        opt = msopt.Adam([w], lr=3e-2, state_dtype=sd)
        for _ in range(300):
            r = X @ w - y
            opt.step([(X.T @ r / len(y)).astype(np.float32)])
        return float(np.mean((X @ w - y) ** 2))

    full, small = fit("float32"), fit(state_dtype)
    assert small <= full * 1.05 + 1e-4


def test_refusals_name_the_argument():
    w = np.zeros((4, 3), np.float32)
    with pytest.raises(ValueError, match="state_dtype: expected"):
        msopt.Adam([w], state_dtype="fp8")
    with pytest.raises(ValueError, match="available for Adam and AdamW; SGD"):
        msopt.SGD([w], state_dtype="bfloat16")
    with pytest.raises(ValueError, match="block_size: expected 256 or 2048"):
        msopt.Adam([w], state_dtype="int8", block_size=512)
    with pytest.raises(TypeError, match="seed: expected"):
        msopt.Adam([w], state_dtype="bfloat16", seed=1.5)
    with pytest.raises(TypeError, match="needs float32 parameters, got float64"):
        msopt.Adam([w.astype(np.float64)], state_dtype="int8")
    with pytest.raises(ValueError, match=r"\['amsgrad'\]: not available"):
        msopt.Adam([w], amsgrad=True, state_dtype="bfloat16")
    opt = msopt.Adam([w], state_dtype="int8")
    with pytest.raises(ValueError, match="native training loop needs state_dtype='float32'"):
        opt.native_state()
    assert "state_dtype: int8" in repr(opt)


@pytest.mark.parametrize("state_dtype", ["bfloat16", "int8"])
def test_a_rejected_step_changes_nothing(state_dtype):
    rng = np.random.default_rng(8)
    w = rng.standard_normal((6, 300)).astype(np.float32)
    opt = msopt.Adam([w], lr=1e-2, state_dtype=state_dtype)
    opt.step([_grad(rng, w.shape)])
    before = (w.copy(), copy.deepcopy(opt.state_dict()))
    bad = _grad(rng, w.shape)
    bad[3, 7] = np.nan
    with pytest.raises(msopt.NonFiniteGradientError):
        opt.step([bad])
    opt.param_groups[0]["amsgrad"] = True
    with pytest.raises(ValueError, match="amsgrad"):
        opt.step([_grad(rng, w.shape)])
    opt.param_groups[0]["amsgrad"] = False
    np.testing.assert_array_equal(w, before[0])
    after = opt.state_dict()
    for k, v in before[1]["state"][0].items():
        np.testing.assert_array_equal(after["state"][0][k], v)


def test_state_dicts_of_another_form_are_refused_before_any_write():
    w = np.ones((4, 300), np.float32)
    full = msopt.Adam([w.copy()])
    full.step([np.ones_like(w)])
    q = msopt.Adam([w.copy()], state_dtype="int8")
    with pytest.raises(ValueError, match="stored as 'float32'; this optimizer keeps 'int8'"):
        q.load_state_dict(full.state_dict())
    with pytest.raises(ValueError, match="stored as 'int8'"):
        full.load_state_dict(q.state_dict())
    q2 = msopt.Adam([w.copy()], state_dtype="int8", block_size=2048)
    with pytest.raises(ValueError, match="blocks of 256"):
        q2.load_state_dict(q.state_dict())
    q.step([np.ones_like(w)])
    sd = q.state_dict()
    sd["state"][0]["exp_avg_sq_scale"][0, 0] = np.nan
    fresh = msopt.Adam([w.copy()], state_dtype="int8")
    with pytest.raises(ValueError, match="scales must be finite"):
        fresh.load_state_dict(sd)
    assert fresh.state[0]["step"] == 0
    assert not fresh.state[0]["exp_avg"].any()
    b = msopt.Adam([w.copy()], state_dtype="bfloat16")
    sd = b.state_dict()
    sd["state"][0]["exp_avg_sq"][0, 0] = 0xBF80  # -1.0 in bfloat16
    with pytest.raises(ValueError, match="negative values"):
        b.load_state_dict(sd)


@pytest.mark.parametrize("code", [np.uint16, np.uint8])
def test_floor_loop_moves_compressed_traffic(code: type) -> None:
    """The benchmark floor of compressed state reads and writes what the step does."""
    rng = np.random.default_rng(3)
    p, g = (rng.standard_normal(37).astype(np.float32) for _ in range(2))
    m, v = (rng.integers(0, np.iinfo(code).max, 37, endpoint=True).astype(code)
            for _ in range(2))
    want = (p + g, (m + 1).astype(code), (v + 3).astype(code))
    _core.stream7(p, g, m, v)
    for got, expected in zip((p, m, v), want):
        np.testing.assert_array_equal(got, expected)
    with pytest.raises(TypeError, match="v"):
        _core.stream7(p, g, m, v.astype(np.float32))
