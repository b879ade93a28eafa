"""msopt.torch with compressed optimizer state (state_dtype="bfloat16" / "int8") and with
bfloat16 parameters over float32 master weights: bit for bit against msopt's NumPy API,
state_dict round trips that resume bit for bit, and the refusals."""

from __future__ import annotations

import copy
import io

import numpy as np
import pytest

import msopt

torch = pytest.importorskip("torch", reason="torch is not installed")
mt = pytest.importorskip("msopt.torch")


def _model(dtype=torch.float32, sparse=False, seed=0):
    torch.manual_seed(seed)
    return torch.nn.Sequential(torch.nn.Embedding(50, 8, sparse=sparse), torch.nn.Flatten(),
                               torch.nn.Linear(8 * 3, 16), torch.nn.Tanh(),
                               torch.nn.Linear(16, 1)).to(dtype)


def _batches(n, seed=1):
    g = torch.Generator().manual_seed(seed)
    return [(torch.randint(0, 50, (32, 3), generator=g), torch.randn(32, 1, generator=g))
            for _ in range(n)]


def _backward(model, x, y):
    out = model(x).float()
    loss = torch.nn.functional.mse_loss(out, y)
    loss.backward()
    return float(loss.detach())


@pytest.mark.parametrize("state_dtype", ["bfloat16", "int8"])
def test_compressed_state_steps_as_the_numpy_api(state_dtype):
    model = _model()
    arrays = [p.detach().numpy().copy() for p in model.parameters()]
    opt = mt.AdamW(model.parameters(), lr=1e-2, state_dtype=state_dtype, seed=3)
    twin = msopt.AdamW(arrays, lr=1e-2, state_dtype=state_dtype, seed=3)
    for x, y in _batches(6):
        opt.zero_grad()
        _backward(model, x, y)
        twin.step([p.grad.numpy().copy() for p in model.parameters()])
        opt.step()
        for p, a in zip(model.parameters(), arrays):
            np.testing.assert_array_equal(p.detach().numpy(), a)
    st = opt.state[model[0].weight]
    if state_dtype == "bfloat16":
        assert st["exp_avg"].dtype == torch.bfloat16
        # a live view: the torch tensor and the NumPy state are one memory
        np.testing.assert_array_equal(st["exp_avg"].float().numpy(),
                                      msopt.reference.lowbit.bf16_decode(twin.state[0]["exp_avg"]))
    else:
        assert st["exp_avg"].dtype == torch.uint8
        assert sorted(st) == ["exp_avg", "exp_avg_scale", "exp_avg_sq", "exp_avg_sq_scale",
                              "step"]


@pytest.mark.parametrize("state_dtype", ["bfloat16", "int8"])
@pytest.mark.parametrize("bf16_params", [False, True])
def test_state_dict_resumes_bit_for_bit(state_dtype, bf16_params):
    dtype = torch.bfloat16 if bf16_params else torch.float32
    extra = {"master_weights": True} if bf16_params else {}
    batches = _batches(8)

    def opt_for(model):
        return mt.AdamW(model.parameters(), lr=1e-2, state_dtype=state_dtype, seed=5, **extra)

    whole = _model(dtype)
    opt = opt_for(whole)
    for x, y in batches:
        opt.zero_grad()
        _backward(whole, x, y)
        opt.step()
    half = _model(dtype)
    opt = opt_for(half)
    for x, y in batches[:4]:
        opt.zero_grad()
        _backward(half, x, y)
        opt.step()
    buf = io.BytesIO()
    torch.save({"model": half.state_dict(), "opt": opt.state_dict()}, buf)
    buf.seek(0)
    saved = torch.load(buf)
    resumed = _model(dtype, seed=9)
    resumed.load_state_dict(saved["model"])
    opt = opt_for(resumed)
    opt.load_state_dict(saved["opt"])
    for x, y in batches[4:]:
        opt.zero_grad()
        _backward(resumed, x, y)
        opt.step()
    for a, b in zip(whole.parameters(), resumed.parameters()):
        assert torch.equal(a, b)


@pytest.mark.parametrize("state_dtype", ["float32", "int8"])
@pytest.mark.parametrize("sparse", [False, True])
def test_bfloat16_parameters_step_their_master_copies(state_dtype, sparse):
    model = _model(torch.bfloat16, sparse=sparse)
    masters = [p.detach().float().numpy().copy() for p in model.parameters()]
    opt = mt.AdamW(model.parameters(), lr=1e-2, master_weights=True, state_dtype=state_dtype)
    twin = msopt.AdamW(masters, lr=1e-2, state_dtype=state_dtype)
    for x, y in _batches(5):
        opt.zero_grad()
        _backward(model, x, y)
        grads = []
        for p in model.parameters():
            g = p.grad
            grads.append(msopt.RowGrad(g._indices()[0].numpy(), g._values().float().numpy())
                         if g.is_sparse else g.float().numpy())
        twin.step(grads)
        opt.step()
        for p, m in zip(model.parameters(), masters):
            assert p.dtype == torch.bfloat16
            # the parameter is its master copy rounded to nearest (torch's conversion)
            assert torch.equal(p.detach(), torch.from_numpy(m).to(torch.bfloat16))
            np.testing.assert_array_equal(opt.state[p]["master_weight"].numpy(), m)


def test_master_weights_train_where_plain_bfloat16_stalls():
    # a rate small beside bfloat16's spacing: rounding each step to bf16 would lose it
    w = torch.nn.Parameter(torch.full((1000,), 1.0, dtype=torch.bfloat16))
    opt = mt.SGD([w], lr=1e-4, master_weights=True)
    for _ in range(100):
        w.grad = torch.ones_like(w)
        opt.step()
    assert float(w.detach().float().mean()) == pytest.approx(0.99, abs=4e-3)
    assert float(opt.state[w]["master_weight"].mean()) == pytest.approx(0.99, rel=1e-5)
    plain = torch.nn.Parameter(torch.full((1000,), 1.0, dtype=torch.bfloat16))
    topt = torch.optim.SGD([plain], lr=1e-4)
    for _ in range(100):
        plain.grad = torch.ones_like(plain)
        topt.step()
    assert float(plain.detach().float().mean()) == 1.0  # each update rounded away


def test_refusals():
    model = _model(torch.bfloat16)
    with pytest.raises(TypeError, match=r"bfloat16 ones with master_weights=True"):
        mt.Adam(model.parameters())
    with pytest.raises(TypeError, match="master_weights: expected True or False"):
        mt.Adam(_model().parameters(), master_weights=1)
    with pytest.raises(ValueError, match="compressed state is available for Adam and AdamW"):
        mt.SGD(_model().parameters(), state_dtype="int8")
    full = torch.optim.Adam(_model().parameters())
    m = _model()
    for x, y in _batches(1):
        _backward(m, x, y)
    opt = mt.Adam(m.parameters(), state_dtype="int8")
    opt.step()
    before = copy.deepcopy(opt.state_dict())
    full_model = _model()
    full = torch.optim.Adam(full_model.parameters())
    for x, y in _batches(1):
        _backward(full_model, x, y)
    full.step()
    with pytest.raises(ValueError, match="stored as 'float32'; this optimizer keeps 'int8'"):
        opt.load_state_dict(full.state_dict())
    after = opt.state_dict()
    for i, e in before["state"].items():
        for k, v in e.items():
            assert torch.equal(after["state"][i][k], v)
    bm = _model(torch.bfloat16)
    bopt = mt.Adam(bm.parameters(), master_weights=True)
    for x, y in _batches(1):
        _backward(bm, x, y)
    bopt.step()
    sd = copy.deepcopy(bopt.state_dict())
    sd["state"][0]["master_weight"] = torch.zeros(3)
    with pytest.raises(ValueError, match=r"\['master_weight'\]: expected floating values"):
        bopt.load_state_dict(sd)
    assert "master_weights=True" in repr(bopt)


def test_a_parameter_written_from_outside_renews_its_master_copy():
    model = torch.nn.Linear(4, 4).to(torch.bfloat16)
    opt = mt.SGD(model.parameters(), lr=1e-3, master_weights=True)
    ckpt = {k: torch.full_like(v, 5.0) for k, v in model.state_dict().items()}
    model.load_state_dict(ckpt)  # after the optimizer was built: the usual resume order
    model(torch.ones(2, 4, dtype=torch.bfloat16)).float().sum().backward()
    opt.step()
    assert torch.allclose(model.weight.detach().float(), torch.full((4, 4), 5.0), atol=0.05)
    assert torch.allclose(opt.state[model.weight]["master_weight"], torch.full((4, 4), 5.0),
                          atol=0.01)


def test_state_dicts_cross_between_bfloat16_and_float32_models():
    bm = _model(torch.bfloat16)
    bopt = mt.Adam(bm.parameters(), master_weights=True)
    for x, y in _batches(2):
        bopt.zero_grad()
        _backward(bm, x, y)
        bopt.step()
    fm = _model()
    fopt = mt.Adam(fm.parameters())
    fopt.load_state_dict(bopt.state_dict())  # the master copies are the model's business
    assert "master_weight" not in fopt.state[fm[0].weight]
    # torch.optim keeps bfloat16 moments for bfloat16 parameters: state_dtype="bfloat16"
    tm = _model(torch.bfloat16)
    topt = torch.optim.Adam(tm.parameters())
    for x, y in _batches(2):
        topt.zero_grad()
        _backward(tm, x, y)
        topt.step()
    mm = _model(torch.bfloat16)
    mopt = mt.Adam(mm.parameters(), master_weights=True, state_dtype="bfloat16")
    mopt.load_state_dict(topt.state_dict())
    assert torch.equal(mopt.state[mm[0].weight]["exp_avg"], topt.state[tm[0].weight]["exp_avg"])


def test_gradients_of_another_dtype_are_refused_for_bfloat16_parameters():
    w = torch.nn.Parameter(torch.zeros(3, dtype=torch.bfloat16))
    opt = mt.SGD([w], lr=1.0, master_weights=True)
    w.grad = torch.ones(3, dtype=torch.bfloat16)
    w.grad.data = torch.ones(3, dtype=torch.float64)
    with pytest.raises(TypeError, match=r"\.grad: dtype torch.float64"):
        opt.step()
    assert not w.detach().any()


def test_numpy_load_refuses_amsgrad_with_compressed_state():
    w = np.zeros((3, 5), np.float32)
    opt = msopt.Adam([w], state_dtype="int8")
    sd = opt.state_dict()
    sd["param_groups"][0]["amsgrad"] = True
    sd["state"][0]["max_exp_avg_sq"] = np.zeros((3, 5), np.uint8)
    with pytest.raises(ValueError, match=r"\['amsgrad'\]: not available"):
        opt.load_state_dict(sd)
    assert opt.param_groups[0]["amsgrad"] is False
