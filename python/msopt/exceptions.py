"""msopt's exceptions and warnings, in one place (none needs scikit-learn).

- :class:`NotFittedError`: a model, estimator or vocabulary is used before it was fitted
  (or built, or loaded).  A subclass of both ``ValueError`` and ``AttributeError``, as
  scikit-learn's.
- :class:`DivergenceError`: the training loss became NaN or Inf.
- :class:`ConvergenceWarning`: a fit reached its iteration limit before converging.
- :class:`NonFiniteGradientError`: an optimizer step met a NaN or Inf gradient.

Wrong types raise ``TypeError`` and wrong values ``ValueError`` everywhere; a wrong keyword
argument raises ``TypeError`` naming the closest valid one.
"""

from __future__ import annotations

from msopt.optim.optimizers import NonFiniteGradientError

__all__ = ["ConvergenceWarning", "DivergenceError", "NonFiniteGradientError",
           "NotFittedError"]


class NotFittedError(ValueError, AttributeError):
    """The model is used before ``fit`` (or ``build_vocab``/``train``, or ``load``).

    Examples
    --------
    >>> import msopt
    >>> try:
    ...     msopt.Vocabulary().encode(["a b"])
    ... except msopt.NotFittedError as e:
    ...     print(e)
    This Vocabulary instance is not fitted yet; call fit() (or load()) first.
    """


class DivergenceError(FloatingPointError):
    """The training loss became NaN or Inf; the last finite weights were restored."""


class ConvergenceWarning(UserWarning):
    """The fit reached ``max_iter`` before the convergence criterion held."""
