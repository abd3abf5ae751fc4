"""structural_covariance: the implied matrix equals the covariance of a large simulated sample."""

import numpy as np
import pytest

from belonging_lib import DataError
from belonging_lib.models.implied import structural_covariance


def test_implied_matches_simulation():
    rng = np.random.default_rng(7)
    r = np.array([[1.0, 0.6, 0.3], [0.6, 1.0, 0.4], [0.3, 0.4, 1.0]])
    coef = {"a": 0.3, "b": -0.2, "c": 0.25}
    x = rng.standard_normal((400_000, 3)) @ np.linalg.cholesky(r).T
    y = x @ np.array([0.3, -0.2, 0.25]) + 0.8 * rng.standard_normal(len(x))
    implied = structural_covariance(r, coef, names=["a", "b", "c"], keep=["a", "b"],
                                    outcome_variance=float(np.array([0.3, -0.2, 0.25]) @ r
                                                           @ np.array([0.3, -0.2, 0.25]) + 0.64))
    sample = np.cov(np.column_stack([x[:, :2], y]), rowvar=False)
    assert np.allclose(implied.to_numpy(), sample, atol=0.01)
    assert list(implied.matrix.index) == ["a", "b", "y"]


def test_errors_are_clear():
    with pytest.raises(DataError, match="coef has no value"):
        structural_covariance(np.eye(2), {"a": 1}, names=["a", "b"])
    with pytest.raises(DataError, match="smaller than"):
        structural_covariance(np.eye(2), {"a": 1, "b": 1}, names=["a", "b"], outcome_variance=1.0)


def test_the_result_holds_the_matrix_and_a_tidy_table_of_pairs():
    m = structural_covariance([[1, 0.5], [0.5, 1]], {"a": 0.3, "b": 0.2}, names=["a", "b"], outcome_variance=1.0)
    assert list(m.matrix.index) == ["a", "b", "y"] and m.outcome == "y"
    frame = m.to_frame()
    # each pair once, variances included: 3 + 2 + 1 rows
    assert list(frame["term"]) == ["a ~~ a", "a ~~ b", "a ~~ y", "b ~~ b", "b ~~ y", "y ~~ y"]
    assert frame.set_index("term").loc["a ~~ y", "estimate"] == m.matrix.loc["a", "y"]
    np.testing.assert_array_equal(m.to_numpy(), m.matrix.to_numpy())
