"""Drop-in ``torch.optim`` optimizers whose step is msopt's native one.

``msopt.torch.SGD``, ``Adam``, ``AdamW``, ``Adagrad``, ``RMSprop`` and ``Lion`` are
``torch.optim.Optimizer`` subclasses with torch's signatures: ``step(closure)``,
``zero_grad``, ``param_groups`` (edited by hand or by ``torch.optim.lr_scheduler``; a
tensor hyperparameter, ``lr`` say, is read at each step, so an in-place ``fill_`` counts),
``add_param_group``, hooks, and ``state_dict``/``load_state_dict`` in torch's format (a
state saved by ``torch.optim.Adam`` loads into ``msopt.torch.Adam`` and the reverse).

Each wraps the msopt optimizer of the same name (:mod:`msopt.optim`), built on zero-copy
NumPy views of the parameters, so one ``step()`` updates every parameter in one native call
with the GIL released.  ``opt.state[p]`` holds live tensors that share memory with that
optimizer's state (edit them in place).  Keywords that msopt's optimizer takes beyond
torch's (``max_grad_norm``, ``nonfinite``, ...) are passed to it as they are; note that
``nonfinite="raise"`` (its default) refuses a step with a NaN/Inf gradient, where
torch.optim writes NaN into the parameters (``nonfinite="ignore"`` does as torch).

Parameters must be contiguous float32 or float64 CPU tensors, or bfloat16 ones with
``master_weights=True``: the optimizer then keeps a float32 copy of each (in
``state[p]["master_weight"]``), steps the copy with the gradient converted to float32, and
writes it back into the parameter rounded to nearest, so updates smaller than bfloat16's
spacing are not lost.  ``Adam`` and ``AdamW`` take ``state_dtype="bfloat16"`` or ``"int8"``
(and ``block_size``, ``seed``) for compressed moments, as :class:`msopt.Adam` does; their
state tensors are then bfloat16, or uint8 codes with float32 scales, and ``state_dict``
carries them as they are, with a ``state_format`` entry.  A sparse gradient (an
``nn.Embedding(sparse=True)``) updates only the rows it names, for every optimizer.  A dense
gradient is read through a NumPy view kept while the same tensor stays in ``p.grad``
(``opt.zero_grad()`` lets go of them; after ``model.zero_grad()`` the last gradients' memory
is freed at the next step).

Examples
--------
>>> import torch, msopt.torch
>>> model = torch.nn.Linear(3, 1)
>>> opt = msopt.torch.Adam(model.parameters(), lr=0.1)
>>> sched = torch.optim.lr_scheduler.StepLR(opt, step_size=10)
>>> loss = model(torch.ones(2, 3)).pow(2).mean()
>>> loss.backward()
>>> opt.step(); sched.step(); opt.zero_grad()
>>> sorted(opt.state[model.weight])
['exp_avg', 'exp_avg_sq', 'step']
"""

from __future__ import annotations

import copy
import importlib
from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping
from typing import Any, ClassVar

import numpy as np

try:
    import torch
except ImportError as e:
    raise ImportError("msopt.torch needs PyTorch: pip install 'msopt[torch]' (or torch)"
                      ) from e

from torch.autograd.graph import increment_version

from msopt import optim, reference

__all__ = ["SGD", "Adagrad", "Adam", "AdamW", "Lion", "RMSprop"]

# The parameter dtypes the native step updates.  bfloat16 parameters are planned (the inner
# optimizer keeping float32 master weights): lifting the refusal is adding them here.
_DTYPES = (torch.float32, torch.float64)

_optimizer_mod = importlib.import_module("torch.optim.optimizer")
_GLOBAL_HOOKS = (getattr(_optimizer_mod, "_global_optimizer_pre_hooks", None),
                 getattr(_optimizer_mod, "_global_optimizer_post_hooks", None))
_profiling = getattr(torch.autograd, "_profiler_enabled", lambda: True)


def _where(where: str, key: str) -> str:
    return f"{where}[{key!r}]" if where else key


def _plain(v: Any) -> Any:
    """A hyperparameter as msopt's optimizer takes it: a one-element tensor as its number,
    a list (betas) as a tuple."""
    if isinstance(v, torch.Tensor) and v.numel() == 1:
        return v.item()
    if isinstance(v, (list, tuple)):
        return tuple(_plain(x) for x in v)
    return v


def _mutable(v: Any) -> bool:
    """Whether a hyperparameter can change value without being replaced in its group: a
    tensor (a scheduler's ``fill_``), a list, or a tuple holding one (betas)."""
    if isinstance(v, (torch.Tensor, list)):
        return True
    return isinstance(v, tuple) and any(_mutable(x) for x in v)


def _differs(a: Any, b: Any) -> bool:
    """Whether two hyperparameter values as :func:`_plain` gives them differ (NaN differs
    from itself; a tensor of other than one element, which the step refuses, from all)."""
    try:
        return bool(a != b)
    except (RuntimeError, TypeError, ValueError):
        return True


def _array(p: torch.Tensor, where: str, master: bool = False) -> np.ndarray:
    """The NumPy view of parameter ``p`` that the native step updates in place; for a
    bfloat16 ``p`` with ``master`` (master_weights=True), a float32 copy of it instead."""
    if p.layout != torch.strided:
        raise TypeError(f"{where}: a {p.layout} tensor; msopt.torch steps dense tensors")
    if p.device.type != "cpu":
        raise ValueError(f"{where}: on device {p.device}; msopt.torch steps CPU tensors in "
                         "place (use torch.optim for other devices)")
    bf16 = p.dtype == torch.bfloat16
    if p.dtype not in _DTYPES and not (bf16 and master):
        extra = (" (bfloat16 ones with master_weights=True: the step updates a float32 copy "
                 "and rounds it into the parameter)") if bf16 else ""
        raise TypeError(f"{where}: dtype {p.dtype}; msopt.torch steps float32 and float64 "
                        f"parameters{extra}")
    if not p.is_contiguous():
        raise ValueError(f"{where}: not contiguous; the step updates a parameter in place "
                         "through one view of its memory (make it contiguous first)")
    return p.detach().float().numpy() if bf16 else p.detach().numpy()


def _tensor(a: np.ndarray) -> torch.Tensor:
    """A state array as a tensor sharing its memory (bfloat16 state: its uint16 bits viewed
    as torch.bfloat16)."""
    t = torch.from_numpy(a)
    return t.view(torch.bfloat16) if a.dtype == np.uint16 else t


def _master_value(v: Any, like: np.ndarray, where: str) -> np.ndarray:
    """A saved master copy, checked: floating, of the parameter's shape, finite."""
    t = v if isinstance(v, torch.Tensor) else torch.as_tensor(np.asarray(v))
    if tuple(t.shape) != like.shape or not t.is_floating_point():
        raise ValueError(f"{where}: expected floating values of shape {like.shape}, got "
                         f"{t.dtype} of shape {tuple(t.shape)}")
    a = t.detach().to("cpu", torch.float32).numpy()
    if not np.isfinite(a).all():
        raise ValueError(f"{where}: holds NaN or Inf")
    return a


class _Optimizer(torch.optim.Optimizer):
    """The adapter: torch's bookkeeping outside, one msopt optimizer inside."""

    _inner_cls: ClassVar[type[optim.Optimizer]]
    _torch_step: ClassVar[bool] = True  # state["step"] is kept (torch's SGD keeps none)
    _eager: ClassVar[bool] = False  # state exists before the first step (torch's Adagrad)

    def __init__(self, params: Any, hypers: dict[str, Any], torch_opts: dict[str, Any],
                 kwargs: dict[str, Any]) -> None:
        self._check_torch_opts({**hypers, **torch_opts}, "")
        self._inner: optim.Optimizer | None = None
        master = kwargs.pop("master_weights", False)
        if not isinstance(master, bool):
            raise TypeError(f"master_weights: expected True or False, got "
                            f"{type(master).__name__} {master!r}")
        self._master_weights = master
        # bfloat16 parameters (master_weights=True): index -> the float32 master copy the
        # inner optimizer steps, and a float32 buffer for the gradient
        self._masters: dict[int, torch.Tensor] = {}
        self._grad_buf: dict[int, torch.Tensor] = {}
        # the parameter's autograd version when its master was last in step with it: a
        # write from outside (load_state_dict, an in-place edit) makes the next step take
        # the master afresh from the parameter
        self._master_version: dict[int, int] = {}
        self._inner_kwargs = kwargs
        self._keys = tuple(hypers)  # the inner optimizer's hyperparameters
        self._tracked = (*hypers, *torch_opts)  # the keys a step looks at for edits
        self._tensors: list[torch.Tensor] = []
        self._ptrs: list[int] = []
        self._seen: list[dict[str, Any]] = []  # per group: the values the inner one holds
        # per group: the values handed to the inner one of those that can change in place
        # (tensors, lists), as _plain gave them: a step compares them with the group's own
        self._live: list[dict[str, Any]] = []
        super().__init__(params, {**hypers, **torch_opts})

    # -- torch-only options ------------------------------------------------------------
    def _check_torch_opts(self, group: Mapping[str, Any], where: str) -> None:
        """Refuse the torch-only options that would change the math; the rest (foreach,
        fused) only choose torch's implementation and are ignored."""
        for key, why in (("capturable", "is for CUDA graphs"),
                         ("differentiable", "would need autograd through the step")):
            if group.get(key, False):
                raise ValueError(f"{_where(where, key)}: True is not supported: it {why}, and "
                                 "msopt's native step updates CPU tensors outside autograd")
        decoupled = self._inner_cls is optim.AdamW
        if "decoupled_weight_decay" in group and \
                bool(group["decoupled_weight_decay"]) != decoupled and group["weight_decay"]:
            other = "AdamW" if not decoupled else "Adam"
            raise ValueError(f"{_where(where, 'decoupled_weight_decay')}: "
                             f"{not decoupled} changes {type(self).__name__}'s weight decay; "
                             f"use msopt.torch.{other}")

    # -- groups ---------------------------------------------------------------------
    def add_param_group(self, param_group: dict[str, Any]) -> None:
        """Add a param group, as torch's ``add_param_group``.

        Parameters
        ----------
        param_group : dict
            ``"params"`` (tensors, checked before anything is added) and any
            hyperparameters; the missing ones take the optimizer's defaults.
        """
        n = len(self.param_groups)
        super().add_param_group(param_group)  # torch's checks and defaults
        try:
            group = self.param_groups[-1]
            where = f"param_groups[{n}]"
            self._check_torch_opts(group, where)
            arrays = [_array(p, f"{where}['params'][{k}]", self._master_weights)
                      for k, p in enumerate(group["params"])]
            plain = {k: _plain(group[k]) for k in self._tracked}
            inner = {"params": arrays, **{k: plain[k] for k in self._keys}}
            if self._inner is None:
                self._inner = self._inner_cls(
                    [inner], **{k: _plain(self.defaults[k]) for k in self._keys},
                    **self._inner_kwargs)
            else:
                self._inner.add_param_group(inner)
        except BaseException:
            del self.param_groups[n:]
            raise
        for k, p in enumerate(group["params"]):
            if p.dtype == torch.bfloat16:
                self._masters[len(self._tensors) + k] = torch.from_numpy(arrays[k])
                self._master_version[len(self._tensors) + k] = p._version
        self._tensors.extend(group["params"])
        self._ptrs.extend(p.data_ptr() for p in group["params"])
        self._seen.append({k: group[k] for k in self._tracked})
        self._live.append({k: plain[k] for k in self._tracked if _mutable(group[k])})
        self._relink()

    def _relink(self) -> None:
        """(Re)build the links to the inner optimizer: its live step counters, the float32
        copy that ``state[p]["step"]`` shows, the state tensors and the gradient cache."""
        assert self._inner is not None
        self._steps = self._inner.steps
        self._stepf = self._steps.astype(np.float32)
        self._stepf_t = torch.from_numpy(self._stepf)
        self._state_of = self._inner.state
        count = len(self._tensors)
        self._grad_t: list[Any] = [None] * count
        self._grad_a: list[Any] = [None] * count
        self.state = defaultdict(dict)
        self._pending = np.arange(count)
        self._link_state()

    def _link_state(self) -> None:
        """Give ``state[p]`` its live tensors once ``p`` has state in torch's sense: after
        its first step (from the start for Adagrad)."""
        pending = self._pending
        ready = pending if self._eager else pending[self._steps[pending] > 0]
        if not ready.size:
            return
        for i in ready.tolist():
            entry = {k: _tensor(a) for k, a in self._state_of[i].items() if k != "step"}
            if i in self._masters:
                entry["master_weight"] = self._masters[i]
            if entry:
                if self._torch_step:
                    entry["step"] = self._stepf_t[i]
                self.state[self._tensors[i]] = entry
        self._pending = np.setdiff1d(pending, ready, assume_unique=True)

    def _sync(self) -> None:
        """Hand the hyperparameters edited in ``param_groups`` since the last step to the
        inner groups (a scheduler's new ``lr``, say); the inner step checks them.  An edit
        is a value replaced (seen by identity, which costs next to nothing for floats) or,
        for a tensor or list, a value changed in place (``fill_``: seen by comparing its
        value with the one handed over)."""
        assert self._inner is not None
        groups, inner = self.param_groups, self._inner.param_groups
        if len(groups) != len(inner):
            raise ValueError("param_groups: groups were added or removed by hand; use "
                             "add_param_group")
        for gi, (g, seen, live) in enumerate(zip(groups, self._seen, self._live)):
            try:
                changed = [k for k in self._tracked if g[k] is not seen[k]]
            except KeyError as e:
                raise ValueError(f"param_groups[{gi}]: the key {e.args[0]!r} is missing"
                                 ) from None
            if live:
                changed += [k for k, v in live.items()
                            if g[k] is seen[k] and _differs(_plain(g[k]), v)]
            if changed:
                if changed != ["lr"]:
                    self._check_torch_opts(g, f"param_groups[{gi}]")
                for k in changed:
                    value = g[k]
                    plain = _plain(value)
                    if k in self._keys:
                        inner[gi][k] = plain
                    seen[k] = value
                    if _mutable(value):
                        live[k] = plain
                    else:
                        live.pop(k, None)

    # -- stepping -------------------------------------------------------------------
    def _grads(self) -> list[Any]:
        """One gradient per parameter for the native step: a cached NumPy view of a dense
        gradient seen before, a new one, a RowGrad for a sparse one, or None."""
        out: list[Any] = []
        cache_t, cache_a = self._grad_t, self._grad_a
        for i, p in enumerate(self._tensors):
            g = p.grad
            if i in self._masters and g is not None:
                out.append(self._master_grad(i, g))
                continue
            if g is None or g is cache_t[i]:
                out.append(None if g is None else cache_a[i])
                continue
            if g.layout == torch.sparse_coo:
                out.append(self._row_grad(i, g))
                continue
            if g.layout != torch.strided:
                raise TypeError(f"{self._name(i)}.grad: a {g.layout} gradient; expected a dense or "
                                "sparse COO tensor")
            a = g.detach().numpy() if g.requires_grad else g.numpy()
            if a.flags.c_contiguous:
                cache_t[i], cache_a[i] = g, a
            else:
                a = np.ascontiguousarray(a)  # read once; a copy is not kept
            out.append(a)
        return out

    def _row_grad(self, i: int, g: torch.Tensor, dtype: Any = None) -> optim.RowGrad:
        """A sparse COO gradient as a RowGrad (its values converted to ``dtype`` if given)."""
        if g.sparse_dim() != 1 or g.dim() != 2:
            raise ValueError(f"{self._name(i)}.grad: a sparse gradient must be row-sparse "
                             f"(of a 2-D parameter), got sparse_dim {g.sparse_dim()} "
                             f"of shape {tuple(g.shape)}")
        values = g._values().detach()
        return optim.RowGrad(g._indices()[0].numpy(),
                             (values if dtype is None else values.to(dtype)).numpy())

    def _master_grad(self, i: int, g: torch.Tensor) -> Any:
        """The float32 gradient of bfloat16 parameter i (converted exactly)."""
        if g.dtype != torch.bfloat16:
            raise TypeError(f"{self._name(i)}.grad: dtype {g.dtype}; the parameter's is "
                            "torch.bfloat16")
        if g.layout == torch.sparse_coo:
            return self._row_grad(i, g, torch.float32)
        if g.layout != torch.strided:
            raise TypeError(f"{self._name(i)}.grad: a {g.layout} gradient; expected a dense or "
                            "sparse COO tensor")
        master = self._masters[i]
        if g.shape != master.shape:
            raise ValueError(f"{self._name(i)}.grad: shape {tuple(g.shape)}, expected "
                             f"{tuple(master.shape)}")
        buf = self._grad_buf.get(i)
        if buf is None:
            buf = self._grad_buf[i] = torch.empty(master.shape, dtype=torch.float32)
        buf.copy_(g.detach())
        return buf.numpy()

    def _refresh_masters(self) -> None:
        """Take the master copy afresh from a bfloat16 parameter written from outside since
        the last step (a loaded checkpoint, an in-place edit)."""
        with torch.no_grad():
            for i, master in self._masters.items():
                p = self._tensors[i]
                if p._version != self._master_version[i]:
                    master.copy_(p)
                    self._master_version[i] = p._version

    def _name(self, i: int) -> str:
        k = i
        for gi, g in enumerate(self.param_groups):
            if k < len(g["params"]):
                return f"param_groups[{gi}]['params'][{k}]"
            k -= len(g["params"])
        return f"params[{i}]"  # pragma: no cover

    def _step(self, closure: Callable[[], Any] | None = None) -> Any:
        loss = None
        if closure is not None:
            with torch.enable_grad():
                loss = closure()
        assert self._inner is not None
        if [p.data_ptr() for p in self._tensors] != self._ptrs:
            i = next(i for i, p in enumerate(self._tensors) if p.data_ptr() != self._ptrs[i])
            raise ValueError(f"{self._name(i)}: its memory was replaced after the optimizer "
                             "was built (p.data = ..., .to(), share_memory_()); build the "
                             "optimizer after moving or converting the model")
        self._sync()
        if self._masters:
            self._refresh_masters()
        grads = self._grads()
        self._inner.step(grads)
        # Tell autograd the stepped parameters changed in place (as torch.optim's in-place
        # ops do), so a graph that saved one refuses to backpropagate through stale values.
        increment_version([p for p, g in zip(self._tensors, grads) if g is not None])
        if self._masters:  # bfloat16 parameters: their master copies rounded to nearest
            with torch.no_grad():
                for i, master in self._masters.items():
                    if grads[i] is not None:
                        self._tensors[i].copy_(master)
                    self._master_version[i] = self._tensors[i]._version
        np.copyto(self._stepf, self._steps, casting="unsafe")
        late = self._inner.__dict__.get("_late_count", 0)
        if late != self.__dict__.get("_late_seen", 0):  # a state array added late (SGD's
            self._late_seen = late                      # momentum turned on): link anew
            self._state_of = self._inner.state
            self._pending = np.arange(len(self._tensors))
        if self._pending.size:
            self._link_state()
        return loss

    def step(self, closure: Callable[[], Any] | None = None) -> Any:  # type: ignore[override]
        """One native step over every parameter that has a gradient.

        Parameters
        ----------
        closure : callable, optional
            Re-evaluates the model and returns the loss; run under ``torch.enable_grad()``
            before the step, as torch does.

        Returns
        -------
        The closure's loss, or None.
        """
        pre, post = _GLOBAL_HOOKS
        if pre is None or post is None or pre or post or self._optimizer_step_pre_hooks \
                or self._optimizer_step_post_hooks or _profiling():
            return _hooked_step(self, closure)
        return self._step(closure)

    step.hooked = True  # type: ignore[attr-defined]  # torch wraps it no further

    def zero_grad(self, set_to_none: bool = True) -> None:
        """Reset the gradients, as torch's ``zero_grad``.

        Parameters
        ----------
        set_to_none : bool
            Set them to None (the default; their memory is let go), or fill them with 0.
        """
        super().zero_grad(set_to_none)
        if set_to_none:  # let go of the old gradients' memory now
            self._grad_t = [None] * len(self._tensors)
            self._grad_a = [None] * len(self._tensors)

    # -- state --------------------------------------------------------------------------
    def state_dict(self) -> dict[str, Any]:
        """torch's state dict: ``{"state": {index: {...}}, "param_groups": [...]}``.  As
        torch's, the state tensors are the live ones (``copy.deepcopy`` it for a snapshot);
        ``step`` is a new tensor."""
        sd = super().state_dict()
        assert self._inner is not None
        if self._inner.state_dtype != "float32":
            sd["state_format"] = self._inner.state_format
        sd["state"] = {i: {k: (v.clone() if k == "step" else v) for k, v in e.items()}
                       for i, e in sd["state"].items()}
        return sd

    def load_state_dict(self, state_dict: Mapping[str, Any]) -> None:
        """Load a state dict, as torch's ``load_state_dict``.

        Parameters
        ----------
        state_dict : dict
            From :meth:`state_dict`, or from the torch.optim optimizer of the same name.
            Everything is checked before anything changes; floating state is cast to the
            parameter's dtype, as torch does; a parameter without saved state starts afresh.
        """
        if not isinstance(state_dict, Mapping):
            raise TypeError(f"state_dict: expected a dict, got {type(state_dict).__name__}")
        state_dict = dict(state_dict)
        for hook in self._optimizer_load_state_dict_pre_hooks.values():
            out = hook(self, state_dict)
            state_dict = state_dict if out is None else out
        for key in ("state", "param_groups"):
            if key not in state_dict:
                raise ValueError(f"state_dict: the key {key!r} is missing (not a state dict)")
        saved, state = state_dict["param_groups"], state_dict["state"]
        if not isinstance(state, Mapping):
            raise TypeError(f"state_dict['state']: expected a dict, got {type(state).__name__}")
        if not isinstance(saved, (list, tuple)) or \
                not all(isinstance(g, Mapping) and "params" in g for g in saved):
            raise TypeError("state_dict['param_groups']: expected a list of dicts with "
                            "'params'")
        if len(saved) != len(self.param_groups):
            raise ValueError(f"state_dict: {len(saved)} param groups; the optimizer has "
                             f"{len(self.param_groups)}")
        assert self._inner is not None
        groups, inner_groups, inner_state, start = [], [], {}, 0
        for gi, (s, mine) in enumerate(zip(saved, self.param_groups)):
            where = f"state_dict['param_groups'][{gi}]"
            ids = list(s["params"])
            if len(ids) != len(mine["params"]):
                raise ValueError(f"{where}: {len(ids)} parameters; the optimizer's group has "
                                 f"{len(mine['params'])}")
            # a copy, as torch's: a tensor lr stays the saving optimizer's own
            group = {**mine, **copy.deepcopy({k: v for k, v in s.items() if k != "params"}),
                     "params": mine["params"]}
            self._check_torch_opts(group, where)
            hyper = {k: _plain(group[k]) for k in self._keys}
            inner_groups.append({**hyper, "params": list(range(start, start + len(ids)))})
            for k, sid in enumerate(ids):
                entry = state.get(sid)
                inner_state[start + k] = self._entry(
                    start + k, entry, hyper, f"state_dict['state'][{sid!r}]")
            groups.append(group)
            start += len(ids)
        inner = {"optimizer": self._inner_cls.__name__, "state": inner_state,
                 "param_groups": inner_groups}
        if "state_format" in state_dict:
            inner["state_format"] = state_dict["state_format"]
        if "state_format" not in inner and self._inner.state_dtype == "bfloat16" and any(
                isinstance(e.get("exp_avg"), np.ndarray) and e["exp_avg"].dtype == np.uint16
                for e in inner_state.values()):
            inner["state_format"] = {"state_dtype": "bfloat16"}  # torch.optim's bf16 state
        masters = {i: e.pop("master_weight", None) for i, e in inner_state.items()
                   if i in self._masters}
        self._inner.load_state_dict(inner)
        with torch.no_grad():
            for i, m in masters.items():
                p = self._tensors[i]
                if m is None:  # no saved master copy: the parameter's value is the master
                    self._masters[i].copy_(p)
                else:
                    np.copyto(self._masters[i].numpy(), m)
                self._master_version[i] = p._version
        self.param_groups[:] = groups
        self._seen = [{k: g[k] for k in self._tracked} for g in groups]
        self._live = [{k: _plain(g[k]) for k in self._tracked if _mutable(g[k])}
                      for g in groups]
        self._relink()
        for post in self._optimizer_load_state_dict_post_hooks.values():
            post(self)

    def _entry(self, i: int, entry: Any, hyper: dict[str, Any], where: str) -> dict[str, Any]:
        """A saved state entry in msopt's form (NumPy arrays of the dtypes the inner
        optimizer keeps, an int step); fresh state where there is none."""
        assert self._inner is not None
        arr = self._masters[i].numpy() if i in self._masters else self._tensors[i].detach().numpy()
        compressed = self._inner.state_dtype != "float32"
        if entry is None:
            if compressed:
                fresh = {k: np.zeros_like(a) for k, a in self._inner.state[i].items()
                         if k != "step"}
            else:
                fresh = reference.init_state(self._inner_cls.__name__, arr, **hyper)
            return {"step": 0, **{k: a for k, a in fresh.items() if a is not None}}
        if not isinstance(entry, Mapping):
            raise TypeError(f"{where}: expected a dict, got {type(entry).__name__}")
        out: dict[str, Any] = {}
        for k, v in entry.items():
            if k == "step" or v is None:
                continue
            if k == "master_weight":
                if i not in self._masters:
                    continue  # a float parameter is its own master: the model's state has it
                v = _master_value(v, arr, f"{where}['master_weight']")
            elif isinstance(v, torch.Tensor):
                if v.dtype == torch.bfloat16 and self._inner.state_dtype == "bfloat16":
                    v = v.detach().cpu().contiguous().view(torch.int16).numpy().view(np.uint16)
                elif v.is_floating_point():
                    v = v.detach().to("cpu", torch.from_numpy(arr).dtype).numpy()
                else:
                    v = v.detach().cpu().numpy()
            elif isinstance(v, np.ndarray) and v.dtype.kind == "f":
                v = v.astype(arr.dtype, copy=False)
            out[k] = v
        step = entry.get("step")
        if step is None:  # torch's SGD keeps no count: a buffer means a step was taken
            out["step"] = 1 if out else 0
            return out
        value = _plain(step)
        if isinstance(value, bool) or not isinstance(value, (int, float, np.number)) \
                or value != int(value):
            raise ValueError(f"{where}['step']: expected a whole number of steps, got {step!r}")
        out["step"] = int(value)
        return out

    def __repr__(self) -> str:
        head, rest = super().__repr__().split("\n", 1)
        opts = {**self._inner_kwargs, **({"master_weights": True} if self._master_weights else {})}
        extra = ", ".join(f"{k}={v!r}" for k, v in opts.items())
        return f"{head}\nmsopt options: {extra}\n{rest}" if extra else f"{head}\n{rest}"

    def __getstate__(self) -> dict[str, Any]:
        raise TypeError(f"{type(self).__name__}: msopt.torch optimizers do not pickle or "
                        "deepcopy; save state_dict() and load it into a new optimizer")


# torch's step wrapper (step hooks, the profiler's label), taken only when it has work to do.
_hooked_step = torch.optim.Optimizer.profile_hook_step(_Optimizer._step)


class SGD(_Optimizer):
    """``torch.optim.SGD``, stepped natively (momentum, dampening, nesterov, weight decay,
    maximize).

    Parameters
    ----------
    params : iterable
        Contiguous float32/float64 CPU tensors (bfloat16 with ``master_weights=True``), or
        named ones, or param group dicts.
    lr, momentum, dampening, weight_decay, nesterov, maximize
        As torch's.
    foreach, differentiable, fused
        torch's; foreach and fused are ignored, ``differentiable=True`` is refused.
    master_weights : bool
        Keep a float32 master copy of each bfloat16 parameter (see the module's notes).
    **kwargs
        Passed to :class:`msopt.SGD` (``max_grad_norm``, ``nonfinite``, ...).
    """

    _inner_cls = optim.SGD
    _torch_step = False

    def __init__(self, params: Iterable[Any], lr: float = 1e-3, momentum: float = 0.0,
                 dampening: float = 0.0, weight_decay: float = 0.0, nesterov: bool = False, *,
                 maximize: bool = False, foreach: bool | None = None,
                 differentiable: bool = False, fused: bool | None = None,
                 **kwargs: Any) -> None:
        super().__init__(params, dict(lr=lr, momentum=momentum, dampening=dampening,
                                      weight_decay=weight_decay, nesterov=nesterov,
                                      maximize=maximize),
                         dict(foreach=foreach, differentiable=differentiable, fused=fused),
                         kwargs)


class Adam(_Optimizer):
    """``torch.optim.Adam``, stepped natively (amsgrad, weight decay, maximize).

    Parameters
    ----------
    params : iterable
        Contiguous float32/float64 CPU tensors (bfloat16 with ``master_weights=True``), or
        named ones, or param group dicts.
    lr, betas, eps, weight_decay, amsgrad, maximize
        As torch's.
    foreach, capturable, differentiable, fused, decoupled_weight_decay
        torch's; foreach and fused are ignored, ``capturable=True`` and
        ``differentiable=True`` are refused, and ``decoupled_weight_decay=True`` with a
        weight decay is refused (that is :class:`AdamW`).
    master_weights : bool
        Keep a float32 master copy of each bfloat16 parameter (see the module's notes).
    **kwargs
        Passed to :class:`msopt.Adam`: ``max_grad_norm``, ``nonfinite``, and
        ``state_dtype`` ("float32", "bfloat16", "int8"), ``block_size``, ``seed``.
    """

    _inner_cls: ClassVar[type[optim.Optimizer]] = optim.Adam

    def __init__(self, params: Iterable[Any], lr: float = 1e-3,
                 betas: tuple[float, float] = (0.9, 0.999), eps: float = 1e-8,
                 weight_decay: float = 0.0, amsgrad: bool = False, *,
                 foreach: bool | None = None, maximize: bool = False, capturable: bool = False,
                 differentiable: bool = False, fused: bool | None = None,
                 decoupled_weight_decay: bool = False, **kwargs: Any) -> None:
        super().__init__(params, dict(lr=lr, betas=betas, eps=eps, weight_decay=weight_decay,
                                      amsgrad=amsgrad, maximize=maximize),
                         dict(foreach=foreach, capturable=capturable,
                              differentiable=differentiable, fused=fused,
                              decoupled_weight_decay=decoupled_weight_decay), kwargs)


class AdamW(Adam):
    """``torch.optim.AdamW``, stepped natively: Adam with decoupled weight decay.

    Parameters
    ----------
    params : iterable
        Contiguous float32/float64 CPU tensors (bfloat16 with ``master_weights=True``), or
        named ones, or param group dicts.
    lr, betas, eps, weight_decay, amsgrad, maximize
        As torch's (``weight_decay`` defaults to 1e-2).
    foreach, capturable, differentiable, fused
        torch's; foreach and fused are ignored, ``capturable=True`` and
        ``differentiable=True`` are refused.
    master_weights : bool
        Keep a float32 master copy of each bfloat16 parameter (see the module's notes).
    **kwargs
        Passed to :class:`msopt.AdamW`: ``max_grad_norm``, ``nonfinite``, and
        ``state_dtype`` ("float32", "bfloat16", "int8"), ``block_size``, ``seed``.
    """

    _inner_cls = optim.AdamW

    def __init__(self, params: Iterable[Any], lr: float = 1e-3,
                 betas: tuple[float, float] = (0.9, 0.999), eps: float = 1e-8,
                 weight_decay: float = 1e-2, amsgrad: bool = False, *, maximize: bool = False,
                 foreach: bool | None = None, capturable: bool = False,
                 differentiable: bool = False, fused: bool | None = None,
                 **kwargs: Any) -> None:
        super().__init__(params, lr, betas, eps, weight_decay, amsgrad, foreach=foreach,
                         maximize=maximize, capturable=capturable,
                         differentiable=differentiable, fused=fused,
                         decoupled_weight_decay=True, **kwargs)


class Adagrad(_Optimizer):
    """``torch.optim.Adagrad``, stepped natively (lr decay, weight decay, initial
    accumulator, maximize).

    Parameters
    ----------
    params : iterable
        Contiguous float32/float64 CPU tensors (bfloat16 with ``master_weights=True``), or
        named ones, or param group dicts.
    lr, lr_decay, weight_decay, initial_accumulator_value, eps, maximize
        As torch's.
    foreach, differentiable, fused
        torch's; foreach and fused are ignored, ``differentiable=True`` is refused.
    master_weights : bool
        Keep a float32 master copy of each bfloat16 parameter (see the module's notes).
    **kwargs
        Passed to :class:`msopt.Adagrad` (``max_grad_norm``, ``nonfinite``, ...).
    """

    _inner_cls = optim.Adagrad
    _eager = True

    def __init__(self, params: Iterable[Any], lr: float = 1e-2, lr_decay: float = 0.0,
                 weight_decay: float = 0.0, initial_accumulator_value: float = 0.0,
                 eps: float = 1e-10, foreach: bool | None = None, *, maximize: bool = False,
                 differentiable: bool = False, fused: bool | None = None,
                 **kwargs: Any) -> None:
        super().__init__(params, dict(lr=lr, lr_decay=lr_decay, weight_decay=weight_decay,
                                      initial_accumulator_value=initial_accumulator_value,
                                      eps=eps, maximize=maximize),
                         dict(foreach=foreach, differentiable=differentiable, fused=fused),
                         kwargs)


class RMSprop(_Optimizer):
    """``torch.optim.RMSprop``, stepped natively (momentum, centered, weight decay,
    maximize).

    Parameters
    ----------
    params : iterable
        Contiguous float32/float64 CPU tensors (bfloat16 with ``master_weights=True``), or
        named ones, or param group dicts.
    lr, alpha, eps, weight_decay, momentum, centered, maximize
        As torch's.
    capturable, foreach, differentiable
        torch's; foreach is ignored, ``capturable=True`` and ``differentiable=True`` are
        refused.
    master_weights : bool
        Keep a float32 master copy of each bfloat16 parameter (see the module's notes).
    **kwargs
        Passed to :class:`msopt.RMSprop` (``max_grad_norm``, ``nonfinite``, ...).
    """

    _inner_cls = optim.RMSprop

    def __init__(self, params: Iterable[Any], lr: float = 1e-2, alpha: float = 0.99,
                 eps: float = 1e-8, weight_decay: float = 0.0, momentum: float = 0.0,
                 centered: bool = False, capturable: bool = False,
                 foreach: bool | None = None, maximize: bool = False,
                 differentiable: bool = False, **kwargs: Any) -> None:
        super().__init__(params, dict(lr=lr, alpha=alpha, eps=eps, weight_decay=weight_decay,
                                      momentum=momentum, centered=centered,
                                      maximize=maximize),
                         dict(capturable=capturable, foreach=foreach,
                              differentiable=differentiable), kwargs)


class Lion(_Optimizer):
    """Lion (Chen et al., 2023), stepped natively, as a torch optimizer (torch has none).

    Parameters
    ----------
    params : iterable
        Contiguous float32/float64 CPU tensors (bfloat16 with ``master_weights=True``), or
        named ones, or param group dicts.
    lr, betas, weight_decay, maximize
        As :class:`msopt.Lion`'s.
    master_weights : bool
        Keep a float32 master copy of each bfloat16 parameter (see the module's notes).
    **kwargs
        Passed to :class:`msopt.Lion` (``max_grad_norm``, ``nonfinite``, ...).
    """

    _inner_cls = optim.Lion

    def __init__(self, params: Iterable[Any], lr: float = 1e-4,
                 betas: tuple[float, float] = (0.9, 0.99), weight_decay: float = 0.0, *,
                 maximize: bool = False, **kwargs: Any) -> None:
        super().__init__(params, dict(lr=lr, betas=betas, weight_decay=weight_decay,
                                      maximize=maximize), {}, kwargs)
