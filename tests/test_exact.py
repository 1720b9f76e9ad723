"""Solutions against exact optima (cvxpy/Clarabel) and against sklearn's LinearSVC.

The heavy fits use ``n_threads=1``: thread counts are covered in test_estimator.py,
and a single thread keeps these many-iteration runs fast on a loaded machine.
"""

import warnings

import numpy as np
import pytest
from numpy.testing import assert_allclose
from sklearn.exceptions import ConvergenceWarning
from sklearn.svm import LinearSVC

from sksvm import LinearMulticlassSVM

from _helpers import (CASE_IDS, CASES, case_data, case_optimum, make_problem,
                      relative_excess)
from _reference import binary_split, cvxpy_optimum, numpy_objective

SOLVERS = ["lbfgs", "dual_cd", "newton"]


@pytest.mark.parametrize("weighted", [False, True], ids=["unweighted", "intweights"])
@pytest.mark.parametrize("fit_intercept", [True, False], ids=["intercept", "nointercept"])
@pytest.mark.parametrize("case", CASES, ids=CASE_IDS)
@pytest.mark.parametrize("solver", SOLVERS)
def test_hinge_default_tol(solver, case, fit_intercept, weighted):
    """tol (default 1e-3) is documented as a bound on the relative suboptimality."""
    X, y, sw, k, C = case_data(case, weighted)
    est = LinearMulticlassSVM(C=C, solver=solver, fit_intercept=fit_intercept,
                              random_state=0, n_threads=1)
    est.fit(X, y, sample_weight=sw)
    _, _, value = case_optimum(case, weighted, fit_intercept, "hinge")
    excess = relative_excess(est, X, y, sw, value)
    assert excess <= 1e-3
    assert excess >= -1e-8  # below the exact optimum: impossible
    _check_certificate(est, X, y, sw, value)


def _check_certificate(est, X, y, sw, optimum_value):
    """duality_gap_ bounds (J − J*)/J: always without intercept, and with one for
    dual_cd and newton (documented as exact in both cases)."""
    gap = est.duality_gap_
    J = est.objective(X, y, sample_weight=sw)
    if not est.fit_intercept or est.solver in ("dual_cd", "newton"):
        assert (J - optimum_value) / J <= gap + 1e-9
    assert gap >= -1e-12


@pytest.mark.parametrize("weighted", [False, True], ids=["unweighted", "intweights"])
@pytest.mark.parametrize("fit_intercept", [True, False], ids=["intercept", "nointercept"])
@pytest.mark.parametrize("case", CASES, ids=CASE_IDS)
@pytest.mark.parametrize("solver", SOLVERS)
def test_hinge_tight_tol(solver, case, fit_intercept, weighted):
    """tol=1e-10 asks for a certified 1e-10 relative gap; the cvxpy optimum itself
    is only accurate to ~1e-8, hence 1e-7 here. ``"dual_cd"`` reaches it through
    its exact finishing step once the epochs' partition is right: on n45 (C = 1e-2,
    weighted, no intercept) after about 2300 epochs for most visiting orders and
    about 5500 for 3 to 4 in 20, hence max_iter=20000."""
    X, y, sw, k, C = case_data(case, weighted)
    est = LinearMulticlassSVM(C=C, solver=solver, fit_intercept=fit_intercept,
                              tol=1e-10, max_iter=20000, random_state=0, n_threads=1)
    est.fit(X, y, sample_weight=sw)
    coef, intercept, value = case_optimum(case, weighted, fit_intercept, "hinge")
    excess = relative_excess(est, X, y, sw, value)
    assert -1e-8 <= excess <= 1e-7
    # J is C-strongly convex in W: ‖W − W*‖² ≤ 2 (J(W) − J*) / C.
    bound = np.sqrt(2 * max(excess, 1e-10) * value / C) + 1e-6
    assert np.linalg.norm(est.coef_ - coef) <= bound


@pytest.mark.parametrize("weighted", [False, True], ids=["unweighted", "intweights"])
@pytest.mark.parametrize("fit_intercept", [True, False], ids=["intercept", "nointercept"])
@pytest.mark.parametrize("case", CASES, ids=CASE_IDS)
@pytest.mark.parametrize("solver", SOLVERS)
def test_squared_hinge_tight_tol(solver, case, fit_intercept, weighted):
    X, y, sw, k, C = case_data(case, weighted)
    est = LinearMulticlassSVM(C=C, solver=solver, loss="squared_hinge",
                              fit_intercept=fit_intercept, tol=1e-10, max_iter=5000,
                              random_state=0, n_threads=1)
    est.fit(X, y, sample_weight=sw)
    coef, intercept, value = case_optimum(case, weighted, fit_intercept,
                                          "squared_hinge")
    excess = relative_excess(est, X, y, sw, value)
    assert -1e-8 <= excess <= 1e-6
    assert_allclose(est.coef_, coef, atol=1e-3 * np.abs(coef).max())


# Epochs and batch size the subgradient solver gets per case: C = 1e-3 on a nearly
# separable problem needs millions of single-sample steps (its O(1/(C t)) rate), 5 s
# a fit at 6e6, so those runs are slow tests, and one runs by default at 3.6e6.
SUBGRADIENT_BUDGET = {1e-1: (3000, 8), 1e-2: (3000, 8), 1e-3: (100_000, 1)}


def _subgradient_cases():
    for case, case_id in zip(CASES, CASE_IDS):
        for loss in ["hinge", "squared_hinge"]:
            for fit_intercept in [True, False]:
                for weighted in [False, True]:
                    id_ = (f"{case_id}-{'intercept' if fit_intercept else 'nointercept'}"
                           f"-{'intweights' if weighted else 'unweighted'}-{loss}")
                    params = (case, fit_intercept, weighted, loss,
                              SUBGRADIENT_BUDGET[case[4]])
                    slow = case[4] < 1e-2
                    marks = [pytest.mark.slow] if slow else []
                    yield pytest.param(*params, id=id_, marks=marks)
    yield pytest.param(CASES[2], True, False, "hinge", (60_000, 1),
                       id=f"{CASE_IDS[2]}-intercept-unweighted-hinge-60000epochs")


@pytest.mark.parametrize("case, fit_intercept, weighted, loss, budget",
                         list(_subgradient_cases()))
def test_subgradient(case, fit_intercept, weighted, loss, budget):
    """Pegasos with averaging, given enough epochs, within 2 % of the optimum for
    C >= 1e-3 (the cases' range: SUBGRADIENT_BUDGET has a budget for each), with
    and without intercept and weights, on uncentred data."""
    X, y, sw, k, C = case_data(case, weighted)
    epochs, batch_size = budget
    est = LinearMulticlassSVM(C=C, loss=loss, solver="subgradient",
                              fit_intercept=fit_intercept, tol=1e-9, max_iter=epochs,
                              batch_size=batch_size, random_state=0, n_threads=1)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", ConvergenceWarning)
        est.fit(X, y, sample_weight=sw)
    warned = any(issubclass(w.category, ConvergenceWarning) for w in caught)
    # The warning tells exactly the fits that used up their budget of epochs or
    # stopped on an estimate their certificate does not confirm.
    uncertified = not est.duality_gap_ <= 1e-9
    assert warned == (est.n_iter_ == epochs or uncertified), (warned, est.n_iter_)
    _, _, value = case_optimum(case, weighted, fit_intercept, loss)
    _check_certificate(est, X, y, sw, value)
    excess = relative_excess(est, X, y, sw, value)
    assert -1e-8 <= excess <= 2e-2


@pytest.mark.parametrize("loss", ["hinge", "squared_hinge"])
def test_subgradient_full_batch(loss):
    """The deterministic full-batch variant, on the best-conditioned case."""
    case = CASES[0]
    X, y, sw, k, C = case_data(case, False)
    est = LinearMulticlassSVM(C=C, loss=loss, solver="subgradient", tol=1e-12,
                              max_iter=3000, fit_intercept=False, n_threads=1)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        est.fit(X, y)
    assert est.n_iter_ == 3000
    _, _, value = case_optimum(case, False, False, loss)
    excess = relative_excess(est, X, y, sw, value)
    assert -1e-8 <= excess <= 2e-2


# -- binary problems -------------------------------------------------------------

BINARY_CASES = [(40, 4, 11, 1e-1), (50, 3, 12, 1e-2), (60, 5, 13, 3e-3)]


@pytest.mark.parametrize("weighted", [False, True], ids=["unweighted", "intweights"])
@pytest.mark.parametrize("n, d, seed, C", BINARY_CASES)
def test_binary_against_exact_and_linearsvc(n, d, seed, C, weighted):
    X, y = make_problem(n=n, d=d, k=2, seed=seed)
    sw = (np.random.RandomState(seed).randint(1, 4, size=n).astype(float)
          if weighted else None)
    S = n if sw is None else sw.sum()
    est = LinearMulticlassSVM(C=C, fit_intercept=False, tol=1e-10, max_iter=5000,
                              n_threads=1).fit(X, y, sample_weight=sw)
    assert est.coef_.shape == (1, d)
    W, _, value = cvxpy_optimum(X, y, 2, C, fit_intercept=False, sample_weight=sw)
    v = W[1] - W[0]
    assert np.linalg.norm(est.coef_[0] - v) <= 1e-3 * np.linalg.norm(v)
    ours = est.objective(X, y, sample_weight=sw)
    assert -1e-8 <= (ours - value) / value <= 1e-7

    # MATH.md: C_svc = 2 / (S · C) gives the same v (S = n for unit weights).
    svc = LinearSVC(loss="hinge", dual=True, C=2.0 / (S * C), fit_intercept=False,
                    tol=1e-10, max_iter=1_000_000)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        svc.fit(X, y, sample_weight=sw)
    full_coef, full_intercept = binary_split(svc.coef_, [0.0])
    svc_value = numpy_objective(full_coef, full_intercept, X, y, C,
                                sample_weight=sw)[0]
    assert ours <= svc_value * (1 + 1e-9)
    # The two solutions agree (the optimum is unique: J is strongly convex).
    assert np.linalg.norm(svc.coef_[0] - v) <= 1e-3 * np.linalg.norm(v)
    # Same objective through the estimator: load LinearSVC's v into a copy.
    probe = LinearMulticlassSVM(C=C, fit_intercept=False).fit(X, y, sample_weight=sw)
    probe.coef_ = svc.coef_.copy()
    probe.intercept_ = np.zeros(1)
    assert_allclose(probe.objective(X, y, sample_weight=sw), svc_value, rtol=1e-12)


# -- sample weights ----------------------------------------------------------------

@pytest.mark.parametrize("loss", ["hinge", "squared_hinge"])
@pytest.mark.parametrize("fit_intercept", [True, False])
def test_integer_weights_equal_repeated_rows(loss, fit_intercept):
    X, y = make_problem(n=36, d=4, k=3, seed=21)
    sw = np.random.RandomState(21).randint(0, 4, size=len(y))
    params = dict(C=1e-2, loss=loss, fit_intercept=fit_intercept, tol=1e-10,
                  max_iter=5000, n_threads=1)
    weighted = LinearMulticlassSVM(**params).fit(X, y, sample_weight=sw)
    repeated = LinearMulticlassSVM(**params).fit(np.repeat(X, sw, axis=0),
                                                 np.repeat(y, sw))
    df_w, df_r = weighted.decision_function(X), repeated.decision_function(X)
    assert_allclose(df_w, df_r, atol=1e-6 * np.abs(df_r).max())
    assert_allclose(weighted.objective(X, y, sample_weight=sw),
                    repeated.objective(np.repeat(X, sw, axis=0), np.repeat(y, sw)),
                    rtol=1e-9)
