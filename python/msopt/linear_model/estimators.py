"""scikit-learn style estimators on the linear layer: :class:`LinearRegression`,
:class:`LogisticRegression` and :class:`LinearSVC` drive :class:`~msopt.LinearModel` and check
convergence between its native calls.  scikit-learn is optional: when scikit-learn >= 1.6 is
installed, the estimators are genuine ``BaseEstimator`` subclasses and validate input with its
helpers.
"""

from __future__ import annotations

import math
import re
import warnings
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np

from msopt._api import ParamsMixin, check_bool, check_int, check_number, keyword_aliases
from msopt._progress import Tracker, check_callbacks, check_verbose
from msopt.exceptions import ConvergenceWarning, DivergenceError, NotFittedError
from msopt.linear_model.layer import (
    SCHEDULES,
    LinearModel,
    _Data,
    _is_sparse,
    check_model_size,
    real_array,
    run_schedule,
)
from msopt.optim import OPTIMIZERS

try:  # optional: genuine scikit-learn estimators when it is installed
    from sklearn.base import BaseEstimator as _SkBase
    from sklearn.base import ClassifierMixin as _SkClassifier
    from sklearn.base import RegressorMixin as _SkRegressor
    from sklearn.exceptions import ConvergenceWarning as _SkConvergenceWarning
    from sklearn.exceptions import NotFittedError as _SkNotFitted
    from sklearn.utils.validation import validate_data  # scikit-learn >= 1.6

    _HAVE_SKLEARN = True
except ImportError:  # pragma: no cover - exercised where scikit-learn is absent
    _HAVE_SKLEARN = False

    class _SkBase(ParamsMixin):  # type: ignore[no-redef]
        """get_params / set_params from the __init__ signature, as scikit-learn does."""

    class _SkClassifier:  # type: ignore[no-redef]
        _estimator_type = "classifier"

        def score(self, X: Any, y: Any, sample_weight: Any = None) -> float:
            pred = self.predict(X)  # type: ignore[attr-defined]
            return float(np.average(pred == np.asarray(y), weights=sample_weight))

    class _SkRegressor:  # type: ignore[no-redef]
        _estimator_type = "regressor"

        def score(self, X: Any, y: Any, sample_weight: Any = None) -> float:
            y = np.asarray(y, dtype=float)
            pred = np.asarray(self.predict(X), dtype=float).reshape(y.shape)  # type: ignore
            w = None if sample_weight is None else np.asarray(sample_weight, float)
            ss_res = np.average((y - pred) ** 2, axis=0, weights=w)
            ss_tot = np.average((y - np.average(y, axis=0, weights=w)) ** 2, axis=0, weights=w)
            ok = ss_tot > 0
            r2 = np.where(ok, 1 - ss_res / np.where(ok, ss_tot, 1), 0.0)
            return float(np.mean(r2))


__all__ = [
    "ConvergenceWarning",
    "DivergenceError",
    "LinearRegression",
    "LinearSVC",
    "LogisticRegression",
    "NotFittedError",
]

# What the estimators raise and warn with: msopt's classes, and with scikit-learn installed
# also scikit-learn's (so that code catching either works).  They carry msopt's names, and
# pickle as msopt's classes (a worker process may not have loaded scikit-learn).
_NotFitted: type[Exception] = NotFittedError
_NotConverged: type[Warning] = ConvergenceWarning
if _HAVE_SKLEARN:
    def _as(base: type[Exception]) -> dict[str, Any]:
        return {"__module__": "msopt", "__doc__": base.__doc__,
                "__reduce__": lambda self: (base, self.args)}

    _NotFitted = type("NotFittedError", (NotFittedError, _SkNotFitted), _as(NotFittedError))
    _NotConverged = type("ConvergenceWarning", (ConvergenceWarning, _SkConvergenceWarning),
                         _as(ConvergenceWarning))


# -- estimators ---------------------------------------------------------------------------
def _validate(est: Any, X: Any, y: Any = None, *, reset: bool, regression: bool = False,
              multi_output: bool = False) -> Any:
    """Input checks with scikit-learn's helpers when installed (its messages, its dtype
    rules), and equivalent checks otherwise.  An error is re-raised with the name of the
    argument at fault (``X: ...`` or ``y: ...``) when its message does not say it."""
    try:
        return _validate_inner(est, X, y, reset=reset, regression=regression,
                               multi_output=multi_output)
    except (TypeError, ValueError) as e:
        culprit = "X"
        if y is not None and not _names(str(e), "X") and _x_is_valid(X):
            culprit = "y"
        if _names(str(e), culprit):
            raise
        raise type(e)(f"{culprit}: {e}") from None


def _x_is_valid(X: Any) -> bool:
    """Whether X alone passes the input checks (to tell whether X or y is at fault)."""
    class _Probe:
        pass

    try:
        if _HAVE_SKLEARN:
            from sklearn.utils import check_array

            check_array(X, accept_sparse="csr", dtype=[np.float64, np.float32])
        else:
            _validate_inner(_Probe(), X, None, reset=True)
    except (TypeError, ValueError):
        return False
    return True


def _names(msg: str, name: str) -> bool:
    """Whether an error message already names the argument ``name``."""
    return re.search(rf"(^|[^A-Za-z_]){name}([^A-Za-z_]|$)", msg) is not None


def _sample_weight(sample_weight: Any, n: int) -> np.ndarray:
    """``sample_weight`` as float64 of shape (n,), finite, >= 0 and not all zero; errors
    name it."""
    sw = real_array("sample_weight", sample_weight, np.float64)
    if sw.shape != (n,):
        raise ValueError(f"sample_weight: expected shape ({n},), got {sw.shape}")
    if not np.isfinite(sw).all() or (sw < 0).any():
        raise ValueError("sample_weight: must be finite and >= 0")
    if not sw.any():
        raise ValueError("sample_weight: Sample weights must contain at least one non-zero "
                         "number.")
    return sw


def _named_score(score: Callable[[], float], y: Any, sample_weight: Any, n: int) -> float:
    """scikit-learn's score, with ``sample_weight`` checked first and any other error of
    its metric (the predictions are valid by then) re-raised naming ``y``."""
    if sample_weight is not None:
        _sample_weight(sample_weight, n)
    try:
        return score()
    except (TypeError, ValueError) as e:
        if _names(str(e), "y"):
            raise
        raise type(e)(f"y: {e}") from None


def _validate_inner(est: Any, X: Any, y: Any = None, *, reset: bool, regression: bool = False,
                    multi_output: bool = False) -> Any:
    if _HAVE_SKLEARN:
        kw: dict[str, Any] = dict(accept_sparse="csr", dtype=[np.float64, np.float32],
                                  reset=reset)
        if y is None:
            return validate_data(est, X, **kw)
        return validate_data(est, X, y, y_numeric=regression, multi_output=multi_output, **kw)
    Xa = X.tocsr() if _is_sparse(X) else np.asarray(X)
    if not _is_sparse(Xa):
        if Xa.dtype.kind not in "fiub":
            raise ValueError(f"X: numeric data expected, got dtype {Xa.dtype}")
        if Xa.ndim != 2:
            raise ValueError(f"Expected 2D array, got {Xa.ndim}D array instead")
        Xa = Xa.astype(np.float64 if Xa.dtype != np.float32 else np.float32, copy=False)
        vals = Xa
    else:
        vals = Xa.data
    if vals.size and not np.isfinite(vals).all():
        raise ValueError("Input X contains NaN or infinity.")
    if Xa.shape[0] == 0:
        raise ValueError("Found array with 0 sample(s) while a minimum of 1 is required.")
    if reset:
        est.n_features_in_ = Xa.shape[1]
    elif Xa.shape[1] != est.n_features_in_:
        raise ValueError(f"X has {Xa.shape[1]} features, but {type(est).__name__} is "
                         f"expecting {est.n_features_in_} features as input.")
    if y is None:
        return Xa
    ya = np.asarray(y)
    if ya.shape[0] != Xa.shape[0]:
        raise ValueError(f"Found input variables with inconsistent numbers of samples: "
                         f"[{Xa.shape[0]}, {ya.shape[0]}]")
    if regression:
        ya = ya.astype(np.float64)
        if not np.isfinite(ya).all():
            raise ValueError("Input y contains NaN or infinity.")
    return Xa, ya


class _LinearEstimator(_SkBase):
    """Fit loop shared by the estimators: native epochs between Python convergence checks."""

    _model: LinearModel
    _key: tuple[Any, ...]
    _seed_: int
    _epochs_done: int
    _sched_origin: int
    _n_seen: int

    def _penalties(self, n: int) -> tuple[float, float]:
        raise NotImplementedError

    def _check_params(self) -> None:
        """Every parameter, checked before a fit touches anything (TypeError for a wrong
        type, ValueError for a wrong value, each naming the parameter)."""
        _check_choice("optimizer", self.optimizer, tuple(sorted(OPTIMIZERS)))
        _check_choice("penalty", self.penalty, ("l2", "l1", "elasticnet", None))
        if not 0 <= check_number("l1_ratio", self.l1_ratio) <= 1:
            raise ValueError(f"l1_ratio: must be in [0, 1], got {self.l1_ratio!r}")
        check_bool("fit_intercept", self.fit_intercept)
        check_number("learning_rate", self.learning_rate, lo=0, strict=True)
        if self.optimizer_params is not None and not isinstance(self.optimizer_params,
                                                                Mapping):
            raise TypeError(f"optimizer_params: expected a dict or None, got "
                            f"{type(self.optimizer_params).__name__}")
        for key in ("lr", "max_grad_norm", "params"):
            if key in (self.optimizer_params or {}):
                raise ValueError(f"optimizer_params: {key!r} is not an optimizer setting here"
                                 + (" (set learning_rate or max_grad_norm instead)"
                                    if key != "params" else ""))
        _check_choice("learning_rate_schedule", self.learning_rate_schedule,
                      tuple(SCHEDULES))
        check_number("warmup_epochs", self.warmup_epochs, lo=0)
        _check_count("batch_size", self.batch_size, 1, none=True)
        _check_count("max_iter", self.max_iter, 1)
        if self.tol is not None:
            check_number("tol", self.tol, lo=0)
        _check_count("n_iter_no_change", self.n_iter_no_change, 1)
        if self.gtol is not None:
            check_number("gtol", self.gtol, lo=0)
        check_bool("early_stopping", self.early_stopping)
        if not 0 < check_number("validation_fraction", self.validation_fraction) < 1:
            raise ValueError(f"validation_fraction: must be in (0, 1), got "
                             f"{self.validation_fraction!r}")
        check_bool("shuffle", self.shuffle)
        if self.max_grad_norm is not None:
            _check_positive("max_grad_norm", self.max_grad_norm)
        _check_count("check_every", self.check_every, 1)
        check_callbacks(self.callbacks)
        _check_random_state(self.random_state)
        check_bool("warm_start", self.warm_start)
        check_verbose(self.verbose)
        if self.penalty in ("l1", "elasticnet") and self.optimizer != "sgd":
            raise ValueError(f"penalty={self.penalty!r}: the L1 proximal step needs "
                             f"optimizer='sgd' (got {self.optimizer!r})")

    def _l2_l1(self, scale: float) -> tuple[float, float]:
        if self.penalty is None:
            return 0.0, 0.0
        if self.penalty == "l2":
            return scale, 0.0
        if self.penalty == "l1":
            return 0.0, scale
        return scale * (1 - self.l1_ratio), scale * self.l1_ratio

    def _new_model(self, n_features: int, n_outputs: int, loss: str, dtype: Any) -> LinearModel:
        return LinearModel(n_features, n_outputs, loss,
                           huber_epsilon=getattr(self, "epsilon", 1.35),
                           fit_intercept=self.fit_intercept, optimizer=self.optimizer,
                           lr=self.learning_rate, optimizer_params=self.optimizer_params,
                           max_grad_norm=self.max_grad_norm, dtype=dtype)

    def _seed(self) -> int:
        rs = self.random_state
        if rs is None:
            return int(np.random.SeedSequence().entropy) % 2**63  # type: ignore[arg-type]
        if isinstance(rs, np.random.RandomState):
            return int(rs.randint(0, 2**31 - 1))
        if isinstance(rs, np.random.Generator):
            return int(rs.integers(0, 2**63 - 1))
        return int(rs)

    # Subclasses turn (X, y) into the model's loss, output count and targets.
    def _classes_for(self, y: np.ndarray, first: bool, given: Any) -> Any:
        raise NotImplementedError

    def _prepare_targets(self, y: np.ndarray, classes: Any) -> tuple[str, int, np.ndarray]:
        raise NotImplementedError

    def _set_targets_meta(self, classes: Any, y: np.ndarray) -> None:
        raise NotImplementedError

    def _score_val(self, data: _Data, target: np.ndarray, sw: np.ndarray | None) -> float:
        raise NotImplementedError

    def _model_key(self, loss: str) -> tuple[Any, ...]:
        """What the model is built from: a change in any of these rebuilds it."""
        return (loss, self.fit_intercept, self.optimizer, repr(self.optimizer_params),
                self.max_grad_norm, getattr(self, "epsilon", None))

    def _fit(self, X: Any, y: Any, sample_weight: Any, *, partial: bool, max_epochs: int,
             classes: Any = None) -> _LinearEstimator:
        """A fit is all or nothing.  Every parameter is checked first; the model is then
        trained as a new object (for ``warm_start`` and ``partial_fit`` a copy of the fitted
        one), installed on the estimator while it trains (callbacks see it), and the
        estimator's attributes are put back as they were if anything fails: bad input,
        divergence, a callback's exception, an interrupt."""
        self._check_params()
        if y is None:
            raise ValueError(f"{type(self).__name__} requires y to be passed, but the target y "
                             "is None")
        saved = dict(self.__dict__)  # the fit replaces these, never edits them in place
        try:
            unconverged = self._fit_body(X, y, sample_weight, partial=partial,
                                         max_epochs=max_epochs, classes=classes)
        except BaseException:
            self.__dict__.clear()
            self.__dict__.update(saved)
            raise
        if unconverged:  # after the fit is installed: a warning turned error keeps the fit
            warnings.warn(unconverged, _NotConverged, stacklevel=3)
        return self

    def _fit_body(self, X: Any, y: Any, sample_weight: Any, *, partial: bool,
                  max_epochs: int, classes: Any) -> str | None:
        max_epochs = int(max_epochs)
        # 1. The input (sklearn's validate_data may set n_features_in_: _fit undoes it).
        old: LinearModel | None = getattr(self, "_model", None)
        first = old is None or not (partial or self.warm_start)
        X, y = _validate(self, X, y, reset=first, regression=self._is_regressor,
                         multi_output=self._is_regressor)
        y = np.asarray(y)
        classes = self._classes_for(y, first, classes)
        try:
            loss, n_out, target = self._prepare_targets(y, classes)
        except ValueError as e:
            if first:
                raise
            how = ("the classes of the first partial_fit" if partial else
                   "the fitted model's classes: warm_start=True continues that model; set "
                   "warm_start=False to fit from scratch")
            raise ValueError(f"{e} ({how})") from None
        if old is not None and not first and n_out != old.W.shape[1]:
            raise ValueError(f"y: {n_out} output column(s), but the fitted model has "
                             f"{old.W.shape[1]}; fit from scratch instead")
        if first or old is None:
            dtype = np.float32 if X.dtype == np.float32 else np.float64
        else:
            dtype = old.dtype
        n_features = X.shape[1]
        # The model's size, before anything of that size is allocated.
        check_model_size(type(self).__name__, n_features, n_out, dtype, self.optimizer,
                         self.optimizer_params, training=True)
        data = _Data(X, dtype)
        sw = None if sample_weight is None else _sample_weight(sample_weight, data.n)
        if self.early_stopping and not partial and data.n < 2:
            raise ValueError("validation_fraction: leaves no training data")
        seed = self._seed() if first else self._seed_

        # 2. The validation split (fixed by the seed) for early stopping.
        val = None
        if self.early_stopping and not partial:
            rng = np.random.default_rng(seed)
            order = rng.permutation(data.n)
            n_val = min(max(1, int(round(self.validation_fraction * data.n))), data.n - 1)
            vi, ti = np.sort(order[:n_val]), np.sort(order[n_val:])
            vw = None if sw is None or not sw[vi].any() else sw[vi]
            val = (data.rows(vi), target[vi], vw)
            data, target = data.rows(ti), target[ti]
            sw = None if sw is None else sw[ti]
        bs = data.n if self.batch_size is None else min(int(self.batch_size), data.n)
        steps_per_epoch = -(-data.n // bs)
        schedule_steps = int(self.max_iter) * steps_per_epoch
        warmup = float(self.warmup_epochs) * steps_per_epoch  # (inf for 1e308 epochs)
        epochs_done = 0 if first else self._epochs_done
        if schedule_steps > _I64:
            raise ValueError(f"max_iter: {self.max_iter} epochs of {steps_per_epoch} steps "
                             f"exceed the step counter's range (2**63 - 1)")
        if warmup > _I64:
            raise ValueError(f"warmup_epochs: {self.warmup_epochs} epochs of "
                             f"{steps_per_epoch} steps exceed the step counter's range "
                             "(2**63 - 1)")
        warmup_steps = int(warmup)
        if epochs_done + max_epochs > _I64:
            raise ValueError(f"max_iter: {epochs_done} epochs done plus {max_epochs} exceed "
                             "the epoch counter's range (2**63 - 1)")

        # 3. The model: new, or a copy of the fitted one to continue from.  The fitted model
        # is never written to, so restoring the attributes undoes everything.
        key = self._model_key(loss)
        model = self._new_model(n_features, n_out, loss, dtype)
        if old is not None and not first:
            _copy_model(old, model, with_optimizer=key == self._key)
        sched_origin = int(model.optimizer.native_state().steps[0])
        if partial and not first and key == self._key:
            sched_origin = self._sched_origin

        # 4. Install it, so that callbacks see the fit as it goes.
        self._model, self._key = model, key
        self._seed_ = seed
        self._epochs_done = epochs_done
        self.history_: list[dict[str, Any]] = [] if first else list(self.history_)
        self._sched_origin = sched_origin
        n_seen = data.n if val is not None else data.n + (
            self._n_seen if partial and not first else 0)
        self._n_seen = n_seen
        self._set_targets_meta(classes, y)
        l2, l1 = self._l2_l1(self._penalty_scale(n_seen))
        if not (math.isfinite(l2) and math.isfinite(l1)):
            name = "C" if self._is_classifier else "alpha"
            raise ValueError(f"{name}: {getattr(self, name)!r} gives a penalty strength that "
                             f"overflows ({l2 if not math.isfinite(l2) else l1}) with "
                             f"{n_seen} samples")
        model.l2, model.l1 = l2, l1

        # 5. Epochs between convergence checks.
        check_every = int(self.check_every)
        tol = self.tol
        best_obj, no_improve = math.inf, 0
        best_val, best_weights = -math.inf, None
        reason = "max_iter"
        swd = None if sw is None else sw.astype(dtype)
        track = Tracker(self, epochs=max_epochs, total=max_epochs * data.n, unit="rows",
                        callbacks=self.callbacks, verbose=self.verbose)
        rate = run_schedule(self.learning_rate_schedule, schedule_steps, warmup_steps, 0.0)
        epochs = 0
        try:
            while epochs < max_epochs:
                k = min(check_every, max_epochs - epochs)
                try:
                    losses = model.run(
                        data, target, swd, epochs=k, batch_size=bs,
                        shuffle=self.shuffle, seed=seed, epoch0=self._epochs_done,
                        schedule=self.learning_rate_schedule, schedule_steps=schedule_steps,
                        warmup_steps=warmup_steps, schedule_origin=sched_origin)
                except DivergenceError:
                    raise DivergenceError(
                        f"{type(self).__name__}: the loss became NaN or Inf during epoch "
                        f"{self._epochs_done + 1}; the estimator is left as it was before "
                        f"this call.  Try a smaller learning_rate (now "
                        f"{self.learning_rate}).") from None
                epochs += k
                self._epochs_done += k
                obj = float(losses[-1]) + model.penalty()
                if not math.isfinite(obj):
                    raise DivergenceError(
                        f"{type(self).__name__}: the objective is not finite after epoch "
                        f"{self._epochs_done}; the estimator is left as it was before this "
                        "call.  Try a smaller learning_rate.")
                entry: dict[str, Any] = {"epoch": self._epochs_done, "loss": obj}
                if val is not None:
                    score = self._score_val(*val)
                    entry["val_score"] = score
                self.history_.append(entry)
                steps = int(model.optimizer.native_state().steps[0]) - sched_origin
                if track.report(self._epochs_done, epochs * data.n, obj,
                                float(self.learning_rate) * rate.at(float(steps)),
                                epoch_end=True, **{k: v for k, v in entry.items()
                                                   if k not in ("epoch", "loss")}):
                    reason = "stopped by a callback"
                    break
                if val is not None:
                    if score > best_val + (tol or 0.0):
                        best_val, no_improve = score, 0
                        best_weights = (model.W.copy(),
                                        None if model.b is None else model.b.copy())
                    else:
                        no_improve += 1
                    if no_improve >= self.n_iter_no_change:
                        reason = (f"early stopping: validation score did not improve by "
                                  f"tol={tol} for {self.n_iter_no_change} checks")
                        break
                elif tol is not None:
                    if obj < best_obj - tol * max(abs(best_obj), 1e-12) or not math.isfinite(
                            best_obj):
                        no_improve = 0
                    else:
                        no_improve += 1
                    best_obj = min(best_obj, obj)
                    if no_improve >= self.n_iter_no_change:
                        reason = (f"converged: relative objective change below tol={tol} for "
                                  f"{self.n_iter_no_change} checks")
                        break
                if self.gtol is not None:
                    gnorm = self._grad_norm(data, target, swd)
                    entry["grad_norm"] = gnorm
                    if gnorm <= self.gtol:
                        reason = f"converged: gradient norm {gnorm:.3g} <= gtol={self.gtol}"
                        break
        finally:
            track.close()
        if val is not None and best_weights is not None:
            model.W[...] = best_weights[0]
            if model.b is not None:
                model.b[...] = best_weights[1]
        self.n_iter_ = self._epochs_done
        self.stop_reason_ = reason
        self.t_ = int(model.optimizer.native_state().steps[0])
        if reason == "max_iter" and not partial and (tol is not None or self.gtol is not None
                                                     or val is not None):
            return (f"{type(self).__name__}: max_iter={self.max_iter} reached before "
                    "convergence; raise max_iter or the learning rate.")
        return None

    def _penalty_scale(self, n: int) -> float:
        raise NotImplementedError

    def _grad_norm(self, data: _Data, target: np.ndarray, sw: np.ndarray | None) -> float:
        m = self._model
        _, dW, db = m.loss_and_grad(data, target, sw)
        dW = dW + m.l2 * m.W  # the L1 part is non-smooth: its prox handles it
        sq = float(np.vdot(dW, dW)) + (float(np.vdot(db, db)) if m.b is not None else 0.0)
        return math.sqrt(sq)

    # -- fitted model
    def _check_fitted(self) -> LinearModel:
        if not hasattr(self, "_model"):
            raise _NotFitted(f"This {type(self).__name__} instance is not fitted yet. "
                                 "Call 'fit' with appropriate arguments before using this "
                                 "estimator.")
        return self._model

    def _scores(self, X: Any) -> np.ndarray:
        m = self._check_fitted()
        X = _validate(self, X, reset=False)
        return m.forward(_Data(X, m.dtype))

    @property
    def coef_(self) -> np.ndarray:
        m = self._check_fitted()
        return self._coef_view(m.W)

    @property
    def intercept_(self) -> np.ndarray | float:
        m = self._check_fitted()
        if m.b is None:
            return np.zeros(m.W.shape[1]) if m.W.shape[1] > 1 or self._is_classifier else 0.0
        return m.b.copy()

    @property
    def loss_history_(self) -> list[float]:
        """The objective at each check since the first fit (warm-started and partial fits
        add theirs), as ``history_``'s ``loss``."""
        self._check_fitted()
        return [h["loss"] for h in self.history_]

    def _coef_view(self, W: np.ndarray) -> np.ndarray:
        return W.T.copy()

    _is_regressor = False
    _is_classifier = False

    def __sklearn_tags__(self) -> Any:
        tags = super().__sklearn_tags__()  # type: ignore[misc]
        tags.input_tags.sparse = True
        if self._is_regressor:
            tags.target_tags.multi_output = True
        return tags


class _Classifier(_SkClassifier, _LinearEstimator):
    _is_classifier = True
    _binary_loss = "logistic"
    _multi_loss = "softmax"

    def _classes_for(self, y: np.ndarray, first: bool, given: Any) -> np.ndarray:
        if _HAVE_SKLEARN:
            from sklearn.utils.multiclass import check_classification_targets

            check_classification_targets(y)
        if not first:
            return self.classes_
        classes = np.unique(y) if given is None else np.unique(given)
        if classes.size < 2:
            raise ValueError(f"{type(self).__name__} needs samples of at least 2 classes in "
                             f"the data, but the data contains only one class: "
                             f"{classes[0]!r}")
        return classes

    def _prepare_targets(self, y: np.ndarray, classes: Any) -> tuple[str, int, np.ndarray]:
        y = np.asarray(y)
        if y.ndim == 2 and y.shape[1] == 1:
            y = y.reshape(-1)
        ids = np.clip(np.searchsorted(classes, y), 0, classes.size - 1)
        if not np.array_equal(classes[ids], y):
            bad = np.setdiff1d(np.unique(y), classes)
            raise ValueError(f"y: labels {bad.tolist()} are not among classes "
                             f"{classes.tolist()}")
        K = classes.size
        if K == 2:
            return self._binary_loss, 1, ids.astype(np.int64)
        return self._multi_loss, K, ids.astype(np.int64)

    def _set_targets_meta(self, classes: Any, y: np.ndarray) -> None:
        self.classes_ = classes

    def _penalty_scale(self, n: int) -> float:
        return 1.0 / (self.C * n)

    def _score_val(self, data: _Data, target: np.ndarray, sw: np.ndarray | None) -> float:
        z = self._model.forward(data)
        pred = (z[:, 0] > 0).astype(np.int64) if z.shape[1] == 1 else z.argmax(1)
        return float(np.average(pred == target, weights=sw))

    def fit(self, X: Any, y: Any, sample_weight: Any = None) -> _Classifier:
        """Fit by minibatch epochs until a convergence criterion holds or ``max_iter``."""
        return self._fit(X, y, sample_weight, partial=False, max_epochs=self.max_iter)

    def partial_fit(self, X: Any, y: Any, classes: Any = None,
                    sample_weight: Any = None) -> _Classifier:
        """One epoch over (X, y).  ``classes`` is required on the first call."""
        if not hasattr(self, "_model"):
            if classes is None:
                raise ValueError("classes: must be passed on the first call to partial_fit")
        elif classes is not None and not np.array_equal(np.unique(classes), self.classes_):
            raise ValueError("classes: differs from the classes of the first partial_fit")
        return self._fit(X, y, sample_weight, partial=True, max_epochs=1, classes=classes)

    def score(self, X: Any, y: Any, sample_weight: Any = None) -> float:
        """Mean accuracy of ``predict(X)`` against ``y`` (weighted by ``sample_weight``)."""
        pred = self.predict(X)

        def metric() -> float:
            if _HAVE_SKLEARN:
                from sklearn.metrics import accuracy_score

                return float(accuracy_score(y, pred, sample_weight=sample_weight))
            return float(np.average(pred == np.asarray(y), weights=sample_weight))

        return _named_score(metric, y, sample_weight, len(pred))

    def decision_function(self, X: Any) -> np.ndarray:
        z = self._scores(X)
        return z[:, 0] if z.shape[1] == 1 else z

    def predict(self, X: Any) -> np.ndarray:
        z = self.decision_function(X)
        idx = (z > 0).astype(np.int64) if z.ndim == 1 else z.argmax(1)
        return self.classes_[idx]

    @keyword_aliases(lr="learning_rate", seed="random_state", epochs="max_iter")
    def __init__(self, *, penalty: str | None = "l2", C: float = 1.0, l1_ratio: float = 0.15,
                 fit_intercept: bool = True, optimizer: str = "adam",
                 learning_rate: float = 0.01, optimizer_params: dict[str, Any] | None = None,
                 learning_rate_schedule: str = "constant", warmup_epochs: float = 0.0,
                 batch_size: int | None = 32, max_iter: int = 200, tol: float | None = 1e-4,
                 n_iter_no_change: int = 5, gtol: float | None = None,
                 early_stopping: bool = False, validation_fraction: float = 0.1,
                 shuffle: bool = True, max_grad_norm: float | None = None,
                 check_every: int = 1, callbacks: Sequence[Callable[..., Any]] | None = None,
                 random_state: Any = None, warm_start: bool = False, verbose: int = 0) -> None:
        self.penalty = penalty
        self.C = C
        self.l1_ratio = l1_ratio
        self.fit_intercept = fit_intercept
        self.optimizer = optimizer
        self.learning_rate = learning_rate
        self.optimizer_params = optimizer_params
        self.learning_rate_schedule = learning_rate_schedule
        self.warmup_epochs = warmup_epochs
        self.batch_size = batch_size
        self.max_iter = max_iter
        self.tol = tol
        self.n_iter_no_change = n_iter_no_change
        self.gtol = gtol
        self.early_stopping = early_stopping
        self.validation_fraction = validation_fraction
        self.shuffle = shuffle
        self.max_grad_norm = max_grad_norm
        self.check_every = check_every
        self.callbacks = callbacks
        self.random_state = random_state
        self.warm_start = warm_start
        self.verbose = verbose

    def _check_params(self) -> None:
        super()._check_params()
        check_number("C", self.C, lo=0, strict=True)



class LogisticRegression(_Classifier):
    """Logistic regression (binary) and multinomial softmax regression, fitted by minibatch
    epochs of an msopt optimizer with the loss fused into the native loop.

    The objective is scikit-learn's, divided by ``C * n``: mean log-loss +
    ``penalty(w) / (C * n)``, with ``penalty`` "l2" (``0.5 |w|^2``), "l1" (``|w|_1``, by a
    proximal step: exact zeros), "elasticnet" or None.

    Parameters
    ----------
%(classifier)s
%(common)s

    Examples
    --------
    >>> import numpy as np
    >>> from msopt import LogisticRegression
    >>> rng = np.random.default_rng(0)
    >>> X = rng.standard_normal((400, 5)); y = (X[:, 0] - X[:, 1] > 0).astype(int)
    >>> clf = LogisticRegression(random_state=0).fit(X, y)
    >>> clf.score(X, y) > 0.95, clf.coef_.shape
    (True, (1, 5))
    >>> LogisticRegression(C=10.0, lr=0.05)     # lr: msopt's name for learning_rate
    LogisticRegression(C=10.0, learning_rate=0.05)
    """

    def predict_proba(self, X: Any) -> np.ndarray:
        z = self._scores(X)
        if z.shape[1] == 1:
            p1 = 1.0 / (1.0 + np.exp(-z[:, 0]))
            return np.column_stack([1.0 - p1, p1])
        z = z - z.max(axis=1, keepdims=True)
        e = np.exp(z)
        return e / e.sum(axis=1, keepdims=True)

    def predict_log_proba(self, X: Any) -> np.ndarray:
        with np.errstate(divide="ignore"):
            return np.log(self.predict_proba(X))


class LinearSVC(_Classifier):
    """Linear support vector classifier: hinge loss (one-vs-rest for more than two
    classes), ``penalty(w) / (C * n)`` as in :class:`LogisticRegression`.  Unlike
    scikit-learn's LinearSVC (liblinear, squared hinge by default) it minimizes the plain
    hinge by minibatch steps.

    Parameters
    ----------
%(classifier)s
%(common)s
    """

    _binary_loss = "hinge"
    _multi_loss = "hinge"



class LinearRegression(_SkRegressor, _LinearEstimator):
    """Least squares (or Huber) linear regression by minibatch epochs of an msopt optimizer.

    The objective is ``mean(0.5 * (y - Xw - b)^2) + alpha * penalty(w)`` (SGDRegressor's
    convention; ``alpha=0`` gives ordinary least squares), or the Huber loss with
    ``epsilon`` when ``loss="huber"``.  Multi-output ``y`` (n, k) fits k outputs at once.

    Parameters
    ----------
    loss : {"squared_error", "huber"}, default "squared_error"
    epsilon : float, default 1.35
        Where the Huber loss turns from quadratic to linear.
    penalty : {"l2", "l1", "elasticnet", None}, default "l2"
        "l1" and "elasticnet" need ``optimizer="sgd"`` (a proximal step).
    alpha : float, default 0.0
        Regularization strength: the objective adds ``alpha * penalty(w)``
        (SGDRegressor's convention; msopt's layer calls it ``l2``/``l1``).
%(common)s
    """

    _is_regressor = True

    @keyword_aliases(lr="learning_rate", seed="random_state", epochs="max_iter")
    def __init__(self, *, loss: str = "squared_error", epsilon: float = 1.35,
                 penalty: str | None = "l2", alpha: float = 0.0, l1_ratio: float = 0.15,
                 fit_intercept: bool = True, optimizer: str = "adam",
                 learning_rate: float = 0.01, optimizer_params: dict[str, Any] | None = None,
                 learning_rate_schedule: str = "constant", warmup_epochs: float = 0.0,
                 batch_size: int | None = 32, max_iter: int = 200, tol: float | None = 1e-4,
                 n_iter_no_change: int = 5, gtol: float | None = None,
                 early_stopping: bool = False, validation_fraction: float = 0.1,
                 shuffle: bool = True, max_grad_norm: float | None = None,
                 check_every: int = 1, callbacks: Sequence[Callable[..., Any]] | None = None,
                 random_state: Any = None, warm_start: bool = False, verbose: int = 0) -> None:
        self.loss = loss
        self.epsilon = epsilon
        self.penalty = penalty
        self.alpha = alpha
        self.l1_ratio = l1_ratio
        self.fit_intercept = fit_intercept
        self.optimizer = optimizer
        self.learning_rate = learning_rate
        self.optimizer_params = optimizer_params
        self.learning_rate_schedule = learning_rate_schedule
        self.warmup_epochs = warmup_epochs
        self.batch_size = batch_size
        self.max_iter = max_iter
        self.tol = tol
        self.n_iter_no_change = n_iter_no_change
        self.gtol = gtol
        self.early_stopping = early_stopping
        self.validation_fraction = validation_fraction
        self.shuffle = shuffle
        self.max_grad_norm = max_grad_norm
        self.check_every = check_every
        self.callbacks = callbacks
        self.random_state = random_state
        self.warm_start = warm_start
        self.verbose = verbose

    def _check_params(self) -> None:
        super()._check_params()
        _check_choice("loss", self.loss, ("squared_error", "huber"))
        check_number("alpha", self.alpha, lo=0)
        check_number("epsilon", self.epsilon, lo=0, strict=True)

    def _classes_for(self, y: np.ndarray, first: bool, given: Any) -> None:
        return None

    def _prepare_targets(self, y: np.ndarray, classes: Any) -> tuple[str, int, np.ndarray]:
        y = np.asarray(y, dtype=np.float64)
        k = 1 if y.ndim == 1 else y.shape[1]
        loss = "squared" if self.loss == "squared_error" else "huber"
        return loss, k, y.reshape(y.shape[0], k)

    def _set_targets_meta(self, classes: Any, y: np.ndarray) -> None:
        self._y_ndim = y.ndim

    def _penalty_scale(self, n: int) -> float:
        return float(self.alpha)

    def _score_val(self, data: _Data, target: np.ndarray, sw: np.ndarray | None) -> float:
        z = self._model.forward(data)
        res = np.average((target - z) ** 2, axis=0, weights=sw)
        tot = np.average((target - np.average(target, axis=0, weights=sw)) ** 2, axis=0,
                         weights=sw)
        return float(np.mean(1 - res / np.where(tot > 0, tot, 1)))

    def fit(self, X: Any, y: Any, sample_weight: Any = None) -> LinearRegression:
        """Fit by minibatch epochs until a convergence criterion holds or ``max_iter``."""
        return self._fit(X, y, sample_weight, partial=False, max_epochs=self.max_iter)

    def partial_fit(self, X: Any, y: Any, sample_weight: Any = None) -> LinearRegression:
        """One epoch over (X, y)."""
        return self._fit(X, y, sample_weight, partial=True, max_epochs=1)

    def predict(self, X: Any) -> np.ndarray:
        z = self._scores(X)
        return z[:, 0] if self._y_ndim == 1 else z

    def score(self, X: Any, y: Any, sample_weight: Any = None) -> float:
        """The coefficient of determination R^2 of ``predict(X)`` against ``y``."""
        pred = self.predict(X)

        def metric() -> float:
            if _HAVE_SKLEARN:
                from sklearn.metrics import r2_score

                return float(r2_score(y, pred, sample_weight=sample_weight))
            yy = np.asarray(y, dtype=float)
            p = np.asarray(pred, dtype=float).reshape(yy.shape)
            w = None if sample_weight is None else np.asarray(sample_weight, float)
            ss_res = np.average((yy - p) ** 2, axis=0, weights=w)
            ss_tot = np.average((yy - np.average(yy, axis=0, weights=w)) ** 2, axis=0,
                                weights=w)
            ok = ss_tot > 0
            return float(np.mean(np.where(ok, 1 - ss_res / np.where(ok, ss_tot, 1), 0.0)))

        return _named_score(metric, y, sample_weight, len(pred))

    def _coef_view(self, W: np.ndarray) -> np.ndarray:
        return W[:, 0].copy() if self._y_ndim == 1 else W.T.copy()

    @property
    def intercept_(self) -> np.ndarray | float:  # type: ignore[override]
        m = self._check_fitted()
        if m.b is None:
            return 0.0 if self._y_ndim == 1 else np.zeros(m.W.shape[1])
        return float(m.b[0]) if self._y_ndim == 1 else m.b.copy()


def _copy_model(src: LinearModel, dst: LinearModel, *, with_optimizer: bool) -> None:
    """Continue ``src`` in the new ``dst``: its weights, and with ``with_optimizer`` (same
    optimizer and settings) its optimizer's state arrays, step counts and counters."""
    dst.W[...] = src.W
    if dst.b is not None and src.b is not None:
        dst.b[...] = src.b
    if not with_optimizer:
        return
    s, d = src.optimizer.native_state(), dst.optimizer.native_state()
    for k, (a, b) in enumerate(zip(s.states, d.states)):
        if a is not None and b is not None:
            b[...] = a
        elif a is not None or b is not None:  # pragma: no cover - same settings, same slots
            raise AssertionError(f"optimizer state slot {k} differs between copies")
    d.steps[...] = s.steps
    dst.optimizer.skipped_steps = src.optimizer.skipped_steps
    dst.optimizer.last_grad_norm = src.optimizer.last_grad_norm


# -- parameter checks (msopt's own; scikit-learn's _parameter_constraints are not used) ---
_I64 = 2**63 - 1  # the native step, epoch and seed counters are 64-bit


def _check_choice(name: str, value: Any, choices: tuple[Any, ...]) -> None:
    if not (value is None or isinstance(value, str)) or value not in choices:
        raise ValueError(f"{name}: expected one of {list(choices)}, got {value!r}")


def _check_count(name: str, value: Any, lo: int, *, none: bool = False) -> None:
    """An int in [lo, 2**63 - 1] (or None with ``none``)."""
    v = check_int(name, value, lo, none=none)
    if v is not None and v > _I64:
        raise ValueError(f"{name}: must be <= 2**63 - 1, got {value}")


def _check_positive(name: str, value: Any) -> None:
    """A number > 0; +inf allowed (no limit), NaN refused."""
    if isinstance(value, bool) or not isinstance(value, (int, float, np.integer,
                                                         np.floating)):
        raise TypeError(f"{name}: expected a number or None, got {type(value).__name__}")
    try:
        v = float(value)
    except OverflowError:
        raise ValueError(f"{name}: {value!r} is too large for a float (float('inf') means "
                         "no limit)") from None
    if not v > 0:
        raise ValueError(f"{name}: must be > 0, got {value!r}")


def _check_random_state(value: Any) -> None:
    if value is None or isinstance(value, (np.random.RandomState, np.random.Generator)):
        return
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        raise TypeError(f"random_state: expected None, an int, a numpy Generator or "
                        f"RandomState, got {type(value).__name__}")
    if not 0 <= value <= _I64:
        raise ValueError(f"random_state: must be in [0, 2**63 - 1], got {value}")


_CLASSIFIER_PARAMS = """\
    penalty : {"l2", "l1", "elasticnet", None}, default "l2"
        "l1" and "elasticnet" need ``optimizer="sgd"`` (a proximal step).
    C : float, default 1.0
        Inverse regularization strength, as scikit-learn's: the objective adds
        ``penalty(w) / (C * n)``."""

_COMMON_PARAMS = """\
    l1_ratio : float, default 0.15
        The L1 share of "elasticnet".
    fit_intercept : bool, default True
    optimizer : {"sgd", "adam", "adamw", "adagrad", "rmsprop", "lion"}, default "adam"
    learning_rate : float, default 0.01
        The base learning rate (alias ``lr``, msopt's name).
    optimizer_params : dict, optional
        The optimizer's other hyperparameters (``betas``, ``momentum``, ...).
    learning_rate_schedule : {"constant", "linear", "cosine"}, default "constant"
        Over ``max_iter`` epochs.
    warmup_epochs : float, default 0.0
        Linear warmup of the "cosine" schedule.
    batch_size : int or None, default 32
        Rows per step (None: the whole set, full-batch gradient descent).
    max_iter : int, default 200
        Epochs at most (alias ``epochs``).
    tol : float or None, default 1e-4
        Stop when the objective has not improved by a relative ``tol`` for
        ``n_iter_no_change`` checks (None: never).
    n_iter_no_change : int, default 5
    gtol : float, optional
        Stop when the full-data gradient norm falls below it.
    early_stopping : bool, default False
        Hold out ``validation_fraction`` of the rows and stop on its score, restoring the
        best weights.
    validation_fraction : float, default 0.1
    shuffle : bool, default True
        Shuffle the rows each epoch.
    max_grad_norm : float, optional
        Clip the global gradient norm.
    check_every : int, default 1
        Epochs per native call between convergence checks.
    callbacks : list of callables, optional
        ``f(estimator, progress) -> bool`` after each check, given a
        :class:`msopt.Progress` record (``epoch`` since the first fit, rows seen in this
        call, ``loss``: the objective, learning rate, rows per second, and
        ``val_score`` when stopping early; ``progress["loss"]`` reads the same); True
        stops the fit.
    random_state : int, Generator, RandomState or None
        The seed (alias ``seed``, msopt's name).
    warm_start : bool, default False
        ``fit`` continues from the fitted weights and optimizer state.
    verbose : bool or int, default 0
        A progress bar (tqdm when installed) or a line on stderr, one kept per check; the
        ``"msopt"`` logger gets the same reports at INFO."""

for _cls in (LogisticRegression, LinearSVC, LinearRegression):
    _cls.__doc__ = (_cls.__doc__ or "") % {"classifier": _CLASSIFIER_PARAMS,
                                           "common": _COMMON_PARAMS}
