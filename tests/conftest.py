from __future__ import annotations

import os
import signal
import threading

import numpy as np
import pytest

import msopt
from msopt import reference

pytest_plugins = ["pytester"]  # tests/test_conftest.py runs pytest on small files

# (optimizer name, options): every option the engine implements, each at least once.
CASES = [
    ("SGD", {"lr": 0.05}),
    ("SGD", {"lr": 0.05, "momentum": 0.9}),
    ("SGD", {"lr": 0.05, "momentum": 0.9, "dampening": 0.2}),
    ("SGD", {"lr": 0.05, "momentum": 0.9, "nesterov": True}),
    ("SGD", {"lr": 0.05, "momentum": 0.5, "weight_decay": 0.1, "maximize": True}),
    ("Adam", {"lr": 0.01}),
    ("Adam", {"lr": 0.01, "amsgrad": True}),
    ("Adam", {"lr": 0.01, "weight_decay": 0.1, "betas": (0.8, 0.99), "eps": 1e-6}),
    ("Adam", {"lr": 0.01, "maximize": True, "amsgrad": True}),
    ("AdamW", {"lr": 0.01}),
    ("AdamW", {"lr": 0.01, "amsgrad": True, "weight_decay": 0.3}),
    ("Adagrad", {"lr": 0.05}),
    ("Adagrad", {"lr": 0.05, "lr_decay": 0.01, "initial_accumulator_value": 0.1,
                 "weight_decay": 0.05, "eps": 1e-6}),
    ("RMSprop", {"lr": 0.01}),
    ("RMSprop", {"lr": 0.01, "centered": True}),
    ("RMSprop", {"lr": 0.01, "momentum": 0.9}),
    ("RMSprop", {"lr": 0.01, "centered": True, "momentum": 0.9, "weight_decay": 0.1,
                 "alpha": 0.9, "maximize": True}),
    ("Lion", {"lr": 0.001}),
    ("Lion", {"lr": 0.001, "weight_decay": 0.1, "betas": (0.95, 0.98), "maximize": True}),
]
CASE_IDS = [f"{n}-{'-'.join(f'{k}={v}' for k, v in o.items())}" for n, o in CASES]

DTYPES = [np.float32, np.float64]


class Pair:
    """An msopt optimizer and the NumPy reference, driven with the same gradients."""

    def __init__(self, name, opts, params, **kw):
        self.name = name
        self.opt = getattr(msopt, name)(params, **opts, **kw)
        self.params = [p for g in self.opt.param_groups for p in g["params"]]
        self.ref_params = [p.copy() for p in self.params]
        self.hyper = [{k: v for k, v in g.items() if k not in ("params", "initial_lr")}
                      for g in self.opt.param_groups for _ in g["params"]]
        self.ref_states = [reference.init_state(name, p, **h)
                           for p, h in zip(self.ref_params, self.hyper)]
        self.ref_steps = [0] * len(self.params)
        self.max_grad_norm = kw.get("max_grad_norm")

    def step(self, grads):
        self.opt.step(grads)
        ok = reference.step(self.name, self.ref_params, grads, self.ref_states,
                            self.ref_steps, self.hyper, self.max_grad_norm)
        assert ok

    def assert_equal(self, rtol=0.0):
        check = (np.testing.assert_array_equal if rtol == 0 else
                 lambda a, b, err_msg: np.testing.assert_allclose(a, b, rtol=rtol, atol=rtol,
                                                                   err_msg=err_msg))
        for i, (p, r) in enumerate(zip(self.params, self.ref_params)):
            check(p, r, err_msg=f"param {i}")
        state = self.opt.state
        for i, rs in enumerate(self.ref_states):
            assert state[i]["step"] == self.ref_steps[i]
            for k, a in rs.items():
                if a is not None:
                    check(state[i][k], a, err_msg=f"state[{i}][{k}]")


def random_grads(rng, params, dtype=None):
    return [rng.standard_normal(p.shape).astype(dtype or p.dtype) for p in params]


@pytest.fixture
def rng(request):
    """A generator with a fresh seed per test (or MSOPT_TEST_SEED's, to replay one).  A
    failing test's report carries a "random seed" section naming it."""
    fixed = os.environ.get("MSOPT_TEST_SEED")
    seed = int(fixed) if fixed else np.random.SeedSequence().entropy % (2**32)
    request.node.user_properties.append(("seed", seed))
    return np.random.default_rng(seed)


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item, call):
    report = yield
    if report.failed:
        for name, seed in item.user_properties:
            if name == "seed":
                report.sections.append(("random seed", f"rng seed {seed}: replay with "
                                        f"MSOPT_TEST_SEED={seed} pytest '{item.nodeid}'"))
    return report


@pytest.fixture(autouse=True)
def _python_handles_sigint():
    """Python's own SIGINT handler during every test.  A process started with SIGINT
    ignored (a background job of a non-interactive shell, some CI launchers) keeps it
    ignored, and then a simulated Ctrl-C (``_thread.interrupt_main``, ``os.kill(SIGINT)``)
    would do nothing: the tests of Ctrl-C would wait for a fit that never stops."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    old = signal.getsignal(signal.SIGINT)
    signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, old)
