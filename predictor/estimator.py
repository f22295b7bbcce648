"""scikit-learn's estimator contract without importing scikit-learn.

Why: ``from sklearn.base import BaseEstimator`` pulls in scipy.stats and pandas and took 1.2-2.1 s
of every ``nasgcn table`` (more than the prediction and the model load together). The contract the
package relies on is small: ``__init__`` stores its keyword arguments unchanged, ``get_params`` /
``set_params`` read and write them, and :func:`sklearn.base.clone` rebuilds an unfitted copy from
``get_params(deep=False)``. This module implements exactly that, so :func:`sklearn.base.clone`,
``GridSearchCV`` and ``sklearn.utils.get_tags`` still work on the estimators (tested), while
scikit-learn itself is imported only by the code paths that use it (and by scikit-learn's own
tools, which call :meth:`BaseEstimator.__sklearn_tags__`).
"""

from __future__ import annotations

import inspect
import sys
from typing import Any

from .errors import NasgcnError

__all__ = ["BaseEstimator", "NotFittedError", "RegressorMixin", "check_is_fitted"]


class BaseEstimator:
    """``get_params`` / ``set_params`` / ``repr`` from the ``__init__`` signature (scikit-learn's rules)."""

    @classmethod
    def _get_param_names(cls) -> list[str]:
        """Keyword parameters of ``__init__``, sorted (no ``*args``: scikit-learn forbids them too)."""
        init = cls.__init__
        if init is object.__init__:
            return []
        params = []
        for p in inspect.signature(init).parameters.values():
            if p.name == "self" or p.kind == p.VAR_KEYWORD:
                continue
            if p.kind == p.VAR_POSITIONAL:
                raise TypeError(f"{cls.__name__}.__init__ must not take *args (scikit-learn estimators can't)")
            params.append(p.name)
        return sorted(params)

    def get_params(self, deep: bool = True) -> dict[str, Any]:
        """The constructor parameters; with ``deep``, also ``name__sub`` of nested estimators."""
        out: dict[str, Any] = {}
        for name in self._get_param_names():
            value = getattr(self, name)
            if deep and hasattr(value, "get_params") and not isinstance(value, type):
                out.update((f"{name}__{k}", v) for k, v in value.get_params().items())
            out[name] = value
        return out

    def set_params(self, **params: Any) -> BaseEstimator:
        """Set constructor parameters (``name__sub`` reaches nested estimators); returns ``self``."""
        if not params:
            return self
        valid = self.get_params(deep=True)
        nested: dict[str, dict[str, Any]] = {}
        for key, value in params.items():
            name, sep, sub = key.partition("__")
            if name not in valid:
                raise ValueError(
                    f"invalid parameter {name!r} for estimator {type(self).__name__}; "
                    f"valid parameters are: {', '.join(self._get_param_names())}"
                )
            if sep:
                nested.setdefault(name, {})[sub] = value
            else:
                setattr(self, name, value)
                valid[name] = value
        for name, sub_params in nested.items():
            valid[name].set_params(**sub_params)
        return self

    def __repr__(self) -> str:
        """``Name(param=value, ...)`` listing only the parameters that differ from their defaults."""
        sig = inspect.signature(type(self).__init__).parameters
        changed = []
        for name, value in self.get_params(deep=False).items():
            default = sig[name].default if name in sig else inspect.Parameter.empty
            try:
                same = default is not inspect.Parameter.empty and bool(default == value)
            except Exception:  # noqa: BLE001 - arrays and odd types compare ambiguously: show them
                same = False
            if not same:
                changed.append(f"{name}={value!r}")
        return f"{type(self).__name__}({', '.join(changed)})"

    def __sklearn_tags__(self) -> Any:
        """scikit-learn's tags (only scikit-learn calls this, so importing it here costs nothing extra)."""
        from sklearn.utils import Tags, TargetTags

        return Tags(
            estimator_type=None,
            target_tags=TargetTags(required=False),
            transformer_tags=None,
            regressor_tags=None,
            classifier_tags=None,
        )


class RegressorMixin:
    """Marks a regressor for scikit-learn (``is_regressor``); the estimator defines its own ``score``."""

    _estimator_type = "regressor"

    def __sklearn_tags__(self) -> Any:
        from sklearn.utils import RegressorTags

        tags = super().__sklearn_tags__()  # type: ignore[misc]
        tags.estimator_type = "regressor"
        tags.regressor_tags = RegressorTags()
        tags.target_tags.required = True
        return tags


class NotFittedError(NasgcnError, AttributeError):
    """The estimator was used before ``fit`` (also scikit-learn's ``NotFittedError`` when it is loaded)."""


def _not_fitted_type() -> type[Exception]:
    """Our error, made an instance of scikit-learn's ``NotFittedError`` too when scikit-learn is imported.

    Code that catches scikit-learn's exception has imported scikit-learn, so looking in ``sys.modules``
    keeps that contract without importing it for everyone else.
    """
    mod = sys.modules.get("sklearn.exceptions")
    theirs = getattr(mod, "NotFittedError", None)
    if theirs is None:
        return NotFittedError
    return type("NotFittedError", (NotFittedError, theirs), {"__module__": __name__})


def check_is_fitted(estimator: Any, attributes: str | tuple[str, ...]) -> None:
    """Raise a clear error (not an ``AttributeError`` deep inside) when ``estimator`` was not fitted."""
    names = (attributes,) if isinstance(attributes, str) else tuple(attributes)
    if not all(hasattr(estimator, n) for n in names):
        raise _not_fitted_type()(
            f"this {type(estimator).__name__} is not fitted yet (call fit, or load a saved model, before using it)"
        )
