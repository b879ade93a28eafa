"""bench/lowbit_quality.py: its helpers on small inputs, and a short run on tinyshakespeare."""

from __future__ import annotations

import importlib.util
import json
import math
import os
import sys
import types
from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch", reason="torch is not installed")

SCRIPT = Path(__file__).resolve().parents[1] / "bench" / "lowbit_quality.py"
# The shared data sets sit beside the repository (shared/data), or where MSOPT_DATA says.
DATA = Path(os.environ.get("MSOPT_DATA", Path(__file__).resolve().parents[2] / "shared" / "data"))


@pytest.fixture(scope="module")
def q():
    spec = importlib.util.spec_from_file_location("lowbit_quality", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture
def threads_kept():
    """main() sets torch's and msopt's thread counts: put them back afterwards."""
    import msopt

    saved = torch.get_num_threads(), msopt.get_num_threads()
    yield
    torch.set_num_threads(saved[0])
    msopt.set_num_threads(saved[1])


def available(q) -> list[str]:
    """The configurations this installation runs."""
    names = []
    for name in q.CONFIGS:
        try:
            q.make_optimizer(name, [torch.nn.Parameter(torch.ones(3))], lr=1e-3)
        except q.Unavailable:
            continue
        names.append(name)
    return names


def test_torch_config_is_fused_adamw(q):
    p = torch.nn.Parameter(torch.ones(4))
    opt = q.make_optimizer("torch", iter([p]), lr=0.1, weight_decay=0.5)
    assert type(opt) is torch.optim.AdamW
    assert opt.param_groups[0]["fused"]
    assert opt.param_groups[0]["weight_decay"] == 0.5
    with pytest.raises(ValueError, match="name: expected one of torch, fp32"):
        q.make_optimizer("fp16", [p])


def test_msopt_configs_unavailable_without_msopt_torch(q, monkeypatch):
    p = torch.nn.Parameter(torch.ones(4))
    monkeypatch.setitem(sys.modules, "msopt.torch", None)  # import fails
    with pytest.raises(q.Unavailable, match="msopt.torch is not available"):
        q.make_optimizer("bf16", [p])

    class AdamW(torch.optim.AdamW):  # an msopt.torch without the option
        def __init__(self, params, **kw):
            if "state_dtype" in kw:
                raise TypeError("AdamW() got an unexpected keyword argument 'state_dtype'")
            super().__init__(params, **kw)

    monkeypatch.setitem(sys.modules, "msopt.torch", types.SimpleNamespace(AdamW=AdamW))
    with pytest.raises(q.Unavailable, match="does not take state_dtype='int8'"):
        q.make_optimizer("int8", [p])

    class Broken(torch.optim.AdamW):  # other errors are not hidden
        def __init__(self, params, **kw):
            raise ValueError("lr: expected a positive number")

    monkeypatch.setitem(sys.modules, "msopt.torch", types.SimpleNamespace(AdamW=Broken))
    with pytest.raises(ValueError, match="lr: expected"):
        q.make_optimizer("fp32", [p])


def test_state_bytes_counts_shared_memory_once(q):
    p = torch.nn.Parameter(torch.randn(10, 10))
    opt = torch.optim.AdamW([p])
    assert q.state_bytes(opt) == 0
    p.grad = torch.randn(10, 10)
    opt.step()
    assert q.state_bytes(opt) == 2 * 400 + 4  # exp_avg, exp_avg_sq, step (float32)

    codes = np.zeros((10, 10), np.int8)
    scales = np.ones(10, np.float32)
    fake = types.SimpleNamespace(state={
        "a": {"exp_avg": torch.from_numpy(codes), "codes": codes, "scales": [scales],
              "row": torch.from_numpy(scales)[2:5], "step": 3},
        "b": {"exp_avg_sq": torch.zeros(7, dtype=torch.bfloat16)}})
    assert q.state_bytes(fake) == 100 + 40 + 14


def run(q, name, loss, state):
    return dict(config=name, steps=10, curve=[[10, loss]], val_loss=loss, seconds=1.0,
                state_bytes=state)


def test_report_checks_each_low_precision_config_against_fp32(q):
    runs = [run(q, "torch", 1.70, 800), run(q, "fp32", 1.69, 800), run(q, "bf16", 1.705, 400),
            run(q, "int8", 1.73, 200)]
    rows = q.report(runs)
    assert [r["passed"] for r in rows] == [None, None, True, False]  # 0.9% up, 2.4% up
    assert rows[3]["state_ratio"] == 0.25
    assert rows[2]["loss_ratio"] == pytest.approx(1.705 / 1.69)
    table = q.format_table(rows)
    assert "/ fp32" in table.splitlines()[0]
    assert "pass (within 1% of fp32)" in table
    assert "FAIL (within 2% of fp32)" in table

    rows = q.report([run(q, "torch", 1.70, 800), run(q, "int8", 1.70, 200)])
    assert rows[1]["passed"] is None
    assert rows[1]["baseline"] == "torch"
    assert "skipped (no fp32 run)" in q.format_table(rows)


def test_warmup_cosine_schedule(q):
    f = q.warmup_cosine(100)
    assert f(0) == pytest.approx(1 / 3)
    assert f(2) == 1.0
    assert f(99) == pytest.approx(q.MIN_FACTOR, abs=1e-3)
    assert all(f(k) >= f(k + 1) for k in range(2, 100))


needs_data = pytest.mark.skipif(not (DATA / "tinyshakespeare" / "input.txt").exists(),
                                reason="the tinyshakespeare data (shared/data) is absent")


@pytest.mark.data
@pytest.mark.slow
@needs_data
def test_same_seed_same_batches_same_curve(q):
    ids, split, chars = q.load_text(DATA)
    assert len(chars) == 65
    assert split == int(len(ids) * 0.9)
    a, b = (q.train("torch", ids, split, 40, every=10, seed=3) for _ in range(2))
    assert a["curve"] == b["curve"]
    assert a["val_loss"] == b["val_loss"]
    c = q.train("torch", ids, split, 40, every=10, seed=4)
    assert c["curve"] != a["curve"]
    assert [s for s, _ in a["curve"]] == [10, 20, 30, 40]


@pytest.mark.data
@pytest.mark.slow  # 150 steps, a few seconds, per configuration
@needs_data
def test_short_run_prints_table_and_writes_outputs(q, tmp_path, capsys, threads_kept):
    # A count of steps, not of seconds: on a loaded machine a time budget ran too few
    # steps for the curve this test reads.
    configs = available(q)
    js, png = tmp_path / "run.json", tmp_path / "curves.png"
    code = q.main(["--steps", "150", "--configs", ",".join(configs), "--every", "25",
                   "--json", str(js), "--plot", str(png)])
    out = capsys.readouterr().out
    result = json.loads(js.read_text())
    assert [r["config"] for r in result["table"]] == configs
    for name in configs:
        losses = [v for _, v in result["curves"][name]]
        assert len(losses) >= 4
        assert all(math.isfinite(v) for v in losses)
        assert losses[-1] < losses[0] - 0.5, losses  # from about ln(65) = 4.17
        assert np.mean(losses[len(losses) // 2:]) < np.mean(losses[:len(losses) // 2])
    for row in result["table"]:
        assert 1.0 < row["val_loss"] < 3.0
        assert row["state_mb"] > 0
        if row["config"] in q.TOLERANCES and "fp32" in configs:
            assert ("pass" if row["passed"] else "FAIL") in out
    assert code == (1 if any(r["passed"] is False for r in result["table"]) else 0)
    assert "val nats/char" in out
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert not [f for f in os.listdir(tmp_path) if f.endswith(".tmp")]


def test_main_skips_what_is_missing_with_a_note(q, tmp_path, monkeypatch, capsys,
                                                threads_kept):
    rng = np.random.default_rng(0)
    (tmp_path / "tinyshakespeare").mkdir()
    words = ["the ", "king ", "queen ", "and ", "of ", "ROMEO:\n", "thou ", "art "]
    text = "".join(rng.choice(words, 4000))
    (tmp_path / "tinyshakespeare" / "input.txt").write_text(text, encoding="utf-8")
    monkeypatch.setattr(q, "DATA", tmp_path)
    monkeypatch.setitem(sys.modules, "msopt.torch", None)
    code = q.main(["--steps", "30", "--every", "10", "--configs", "torch,int8",
                   "--threads", "1", "--json", str(tmp_path / "r.json")])
    out = capsys.readouterr().out
    assert code == 0
    assert "30 steps per configuration" in out
    assert "int8: skipped: msopt.torch is not available" in out
    result = json.loads((tmp_path / "r.json").read_text())
    assert [r["config"] for r in result["table"]] == ["torch"]
    assert result["settings"]["steps"] == 30
    assert [s for s, _ in result["curves"]["torch"]] == [10, 20, 30]
    with pytest.raises(SystemExit):
        q.main(["--configs", "torch,fp16"])
    assert "--configs: expected some of torch,fp32,bf16,int8" in capsys.readouterr().err
