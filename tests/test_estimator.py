"""predictor.estimator: scikit-learn's estimator contract without importing scikit-learn."""

from __future__ import annotations

import pytest
from sklearn.base import clone, is_regressor
from sklearn.exceptions import NotFittedError
from sklearn.utils import get_tags

from predictor.errors import NasgcnError
from predictor.estimator import BaseEstimator, RegressorMixin, check_is_fitted
from predictor.gcn import GCNPredictor


class Inner(BaseEstimator):
    def __init__(self, a: int = 1) -> None:
        self.a = a


class Outer(RegressorMixin, BaseEstimator):
    def __init__(self, inner: Inner | None = None, b: str = "x") -> None:
        self.inner = inner
        self.b = b

    def fit(self, X, y):  # noqa: N803 - scikit-learn's names
        self.fitted_ = True
        return self


def test_params_round_trip_and_nested():
    est = Outer(inner=Inner(2), b="y")
    assert est.get_params(deep=False) == {"inner": est.inner, "b": "y"}
    assert est.get_params()["inner__a"] == 2
    est.set_params(inner__a=5, b="z")
    assert est.inner.a == 5 and est.b == "z"
    with pytest.raises(ValueError, match="invalid parameter 'nope'"):
        est.set_params(nope=1)


def test_sklearn_clone_tags_and_repr():
    est = GCNPredictor(hidden=16, loss="rank", random_state=3)
    copy = clone(est)
    assert copy is not est and copy.get_params() == est.get_params()
    assert is_regressor(est) and get_tags(est).estimator_type == "regressor"
    assert repr(est) == "GCNPredictor(hidden=16, loss='rank', random_state=3)"
    nested = clone(Outer(inner=Inner(4)))
    assert nested.inner.a == 4 and nested.inner is not None


def test_not_fitted_is_nasgcn_and_sklearn_error():
    with pytest.raises(NotFittedError):  # scikit-learn is loaded here, so its type is honoured too
        check_is_fitted(Outer(), "fitted_")
    with pytest.raises(NasgcnError, match="not fitted yet"):
        check_is_fitted(Outer(), ("fitted_",))
    check_is_fitted(Outer().fit(None, None), "fitted_")


def test_var_positional_init_is_refused():
    class Bad(BaseEstimator):
        def __init__(self, *args):
            self.args = args

    with pytest.raises(TypeError, match="args"):
        Bad().get_params()
