"""The semismooth Newton core (sksvm/_solvers/newton.py) on tiny problems.

Exact optima come from cvxpy (Clarabel), cached per case.
"""

import functools

import numpy as np
import pytest
import scipy.sparse as sp

from sksvm._objective import MulticlassSVMObjective
from sksvm._solvers.newton import solve_newton

from _reference import cvxpy_optimum, numpy_objective
from conftest import make_problem

CASES = [
    (30, 3, 3, 0, 1e-1),
    (60, 6, 5, 2, 1e-3),
]
CASE_IDS = [f"n{n}-d{d}-k{k}-C{C:g}" for n, d, k, _, C in CASES]
LOSSES = ["hinge", "squared_hinge"]


def _data(case, weighted):
    n, d, k, seed, C = case
    X, y = make_problem(n=n, d=d, k=k, seed=seed)
    sw = (np.random.RandomState(seed).randint(1, 4, size=n).astype(float)
          if weighted else np.ones(n))
    return X, y.astype(np.int64), sw, k, C


@functools.lru_cache(maxsize=None)
def _optimum(case, loss, fit_intercept, weighted):
    X, y, sw, k, C = _data(case, weighted)
    return cvxpy_optimum(X, y, k, C, loss=loss, fit_intercept=fit_intercept,
                         sample_weight=sw)


def _objective(X, y, sw, k, C, loss, fit_intercept):
    return MulticlassSVMObjective(X, y, sw, k, C=C, loss=loss, margin=1.0,
                                  fit_intercept=fit_intercept, n_threads=1)


@pytest.mark.parametrize("weighted", [False, True], ids=["unit", "weighted"])
@pytest.mark.parametrize("fit_intercept", [False, True], ids=["noint", "int"])
@pytest.mark.parametrize("loss", LOSSES)
@pytest.mark.parametrize("case", CASES, ids=CASE_IDS)
def test_matches_exact_optimum(case, loss, fit_intercept, weighted):
    X, y, sw, k, C = _data(case, weighted)
    objective = _objective(X, y, sw, k, C, loss, fit_intercept)
    result = solve_newton(objective, None, None, tol=1e-10, max_iter=500)
    assert result["converged"]
    assert result["gap"] <= 1e-10
    _, _, best = _optimum(case, loss, fit_intercept, weighted)
    value, _, _ = numpy_objective(result["coef"], result["intercept"], X, y, C, loss,
                                  sample_weight=sw)
    assert value <= best * (1 + 1e-8)
    # The certificate is a bound: the optimum lies within it.
    assert value - best <= result["gap"] * value + 1e-10 * abs(value)
    if not fit_intercept:
        assert np.all(result["intercept"] == 0)


@pytest.mark.parametrize("fit_intercept", [False, True], ids=["noint", "int"])
@pytest.mark.parametrize("loss", LOSSES)
def test_gap_bounds_suboptimality_at_every_tolerance(loss, fit_intercept):
    case = CASES[1]
    X, y, sw, k, C = _data(case, True)
    objective = _objective(X, y, sw, k, C, loss, fit_intercept)
    _, _, best = _optimum(case, loss, fit_intercept, True)
    for tol in (1e-1, 1e-3, 1e-6):
        result = solve_newton(objective, None, None, tol=tol, max_iter=500)
        assert result["converged"] and result["gap"] <= tol
        value = objective.value(result["coef"], result["intercept"])
        assert value - best <= result["gap"] * value + 1e-10 * value
        for record in result["history"]:
            assert record["objective"] - best >= -1e-9 * best
            assert record["objective"] - best <= record["gap"] * record["objective"] \
                + 1e-10 * best


@pytest.mark.parametrize("loss", LOSSES)
def test_float32_and_csr_match_dense(loss):
    X, y, sw, k, C = _data(CASES[1], True)
    reference = solve_newton(_objective(X, y, sw, k, C, loss, True), None, None,
                             tol=1e-9, max_iter=500)
    for data in (sp.csr_matrix(X), np.ascontiguousarray(X, dtype=np.float32)):
        objective = _objective(data, y, sw, k, C, loss, True)
        result = solve_newton(objective, None, None, tol=1e-6, max_iter=500)
        assert result["converged"]
        value = objective.value(result["coef"], result["intercept"])
        best = objective.value(reference["coef"], reference["intercept"])
        assert value <= best * (1 + 1e-5)


def test_warm_start_from_the_optimum_stops_at_once():
    X, y, sw, k, C = _data(CASES[0], False)
    objective = _objective(X, y, sw, k, C, "squared_hinge", False)
    first = solve_newton(objective, None, None, tol=1e-10, max_iter=500)
    again = solve_newton(objective, first["coef"], first["intercept"], tol=1e-8,
                         max_iter=500)
    assert again["converged"] and again["n_iter"] == 0


def test_max_iter_stops_unconverged():
    X, y, sw, k, C = _data(CASES[1], False)
    objective = _objective(X, y, sw, k, C, "hinge", True)
    result = solve_newton(objective, None, None, tol=1e-12, max_iter=2)
    assert not result["converged"] and result["n_iter"] == 2
    assert len(result["history"]) == 3
