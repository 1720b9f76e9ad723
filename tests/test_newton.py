"""The semismooth Newton solver (sksvm/_solvers/newton.py): its core on tiny
problems, ``solver="newton"`` through the estimator, and the default fits that use
it.

Exact optima come from cvxpy (Clarabel), cached per case.
"""

import functools
import warnings

import numpy as np
import pytest
import scipy.sparse as sp
from numpy.testing import assert_allclose
from sklearn.exceptions import ConvergenceWarning

from sksvm import LinearMulticlassSVM
from sksvm._objective import MulticlassSVMObjective, largest_useful_C
from sksvm import _dual_kernels
import sksvm._solvers.newton as newton_module
import sksvm._solvers.lbfgs as lbfgs_module
from sksvm._solvers.newton import solve_newton

from _reference import cvxpy_optimum, numpy_objective
from _helpers import (make_rare_class_problem, make_stalling_problem, record_calls,
                      record_finish_attempts, small_hinge_objective)
from conftest import make_problem

CASES = [
    (30, 3, 3, 0, 1e-1),
    (60, 6, 5, 2, 1e-3),
    # The top of a regularization path (C_max = 43.6 here, classes 13/13/12/12):
    # W ≈ 0, the intercepts doing most of the work.
    (50, 4, 4, 3, 43.6),
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


@pytest.mark.parametrize("fit_intercept", [False, True], ids=["noint", "int"])
def test_sampled_hessian_preconditioner_reaches_the_exact_optimum(monkeypatch,
                                                                   fit_intercept):
    """With many curved rows the dense Hessian is estimated from a sample of them
    (thresholds lowered here so that a small problem takes that branch)."""
    monkeypatch.setattr(newton_module, "MIN_DENSE_HESSIAN_BUDGET", 0.0)
    monkeypatch.setattr(newton_module, "HESSIAN_SAMPLE_ROWS", 60)
    monkeypatch.setattr(newton_module, "HESSIAN_SAMPLE_PER_PARAMETER", 1)
    samples = []
    original = newton_module._Solver._hessian_sample

    def recording(self, h, rows, size):
        samples.append((rows.size, size))
        return original(self, h, rows, size)

    monkeypatch.setattr(newton_module._Solver, "_hessian_sample", recording)
    X, y = make_problem(n=400, d=12, k=5, seed=7, noise=2.0)
    sw = np.ones(400)
    C = 1e-3
    objective = _objective(X, y, sw, 5, C, "hinge", fit_intercept)
    result = solve_newton(objective, None, None, tol=1e-10, max_iter=500,
                          max_factor_pairs=0)
    assert result["converged"] and result["gap"] <= 1e-10
    assert samples and all(size < n_rows for n_rows, size in samples)
    _, _, best = cvxpy_optimum(X, y, 5, C, fit_intercept=fit_intercept)
    value, _, _ = numpy_objective(result["coef"], result["intercept"], X, y, C)
    assert best * (1 - 1e-8) <= value <= best * (1 + 1e-8)


@pytest.mark.parametrize("loss", LOSSES)
def test_hinge_keeps_its_whole_hessian_while_solves_are_short(monkeypatch, loss):
    """The hinge's dense Hessian factor serves later steps, whose curved sets
    differ, while CG with it stays short, and the fit still reaches the exact
    optimum; the squared hinge's is rebuilt whenever its curvatures change."""
    builds = []
    original = newton_module._DenseHessianPreconditioner.__init__

    def recording(self, solver, h, *args, **kwargs):
        builds.append(np.count_nonzero(h))
        original(self, solver, h, *args, **kwargs)

    monkeypatch.setattr(newton_module._DenseHessianPreconditioner, "__init__",
                        recording)
    case = CASES[1]
    X, y, sw, k, C = _data(case, False)
    objective = _objective(X, y, sw, k, C, loss, True)
    result = solve_newton(objective, None, None, tol=1e-10, max_iter=500,
                          max_factor_pairs=0)  # the dense Hessian at every step
    assert result["converged"] and result["gap"] <= 1e-10
    steps = [record for record in result["history"] if "cg_iter" in record]
    # At least this many steps had other curvatures than the step before.
    changes = 1 + sum(before["curved_pairs"] != after["curved_pairs"]
                      for before, after in zip(steps, steps[1:]))
    if loss == "hinge":
        assert len(builds) < changes
    else:
        assert len(builds) >= changes
    best = _optimum(case, loss, True, False)[2]
    value = objective.value(result["coef"], result["intercept"])
    assert best * (1 - 1e-8) <= value <= best * (1 + 1e-8)


def test_sampled_hessian_estimate_is_unbiased():
    """Rows drawn with probabilities p_i and weighted draws/(m·p_i): with many
    draws the estimate is the exact Hessian, C·I + A_Dᵀ diag(h) A_D."""
    X, y = make_problem(n=50, d=4, k=3, seed=2)
    objective = _objective(X, y, np.ones(50), 3, 1e-2, "hinge", True)
    solver = newton_module._Solver(objective, {})
    rng = np.random.default_rng(0)
    h = rng.uniform(0.5, 2.0, size=(50, 3)) * (rng.uniform(size=(50, 3)) < 0.6)
    h[np.arange(50), y] = 0.0
    rows = np.flatnonzero(h.any(axis=1))

    def matrix(preconditioner):
        L = np.tril(preconditioner.factor[0])
        return L @ L.T

    exact = matrix(newton_module._DenseHessianPreconditioner(solver, h))
    sample = solver._hessian_sample(h, rows, 200_000)
    estimate = matrix(newton_module._DenseHessianPreconditioner(solver, h, sample))
    assert np.linalg.norm(estimate - exact) <= 0.02 * np.linalg.norm(exact)
    # and the reference: C·I plus the pairs' outer products, one at a time
    design = np.hstack([X - solver.design.mu, np.full((50, 1), solver.design.r)])
    reference = 1e-2 * np.eye(3 * design.shape[1])
    for i, j in zip(*np.nonzero(h)):
        a = np.zeros((3, design.shape[1]))
        a[j] += design[i]
        a[y[i]] -= design[i]
        reference += h[i, j] * np.outer(a.ravel(), a.ravel())
    assert_allclose(exact, reference, rtol=1e-10, atol=1e-12)


def test_hessian_sample_of_zero_rows_is_uniform():
    """Without an intercept a zero row has no share of the Hessian's trace; when
    only such rows are curved, they are drawn uniformly (no division by zero)."""
    X, y = make_problem(n=30, d=3, k=3, seed=1)
    X[:10] = 0.0
    solver = newton_module._Solver(
        _objective(X, y, np.ones(30), 3, 1e-2, "hinge", False), {})
    h = np.zeros((30, 3))
    h[np.arange(10), (y[:10] + 1) % 3] = 1.0
    rows, weights = solver._hessian_sample(h, np.arange(10), 1000)
    assert np.all(np.isfinite(weights)) and set(rows) <= set(range(10))
    assert_allclose(weights.sum(), 10.0, rtol=0.05)  # Σ draws/(m/10) = 10


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


@pytest.fixture
def start_runs(monkeypatch):
    """Records the runs that start cold ``"newton"`` fits: coordinate ascent
    epochs (the hinge) or L-BFGS iterations (the squared hinge)."""
    heads = []
    original_epochs = newton_module.dual_cd.ascend
    original_lbfgs = lbfgs_module.solve

    def recording_epochs(*args, **kwargs):
        ran = original_epochs(*args, **kwargs)
        heads.append(ran[0])
        return ran

    def recording_lbfgs(*args, **kwargs):
        result = original_lbfgs(*args, **kwargs)
        heads.append(result)
        return result

    monkeypatch.setattr(newton_module.dual_cd, "ascend", recording_epochs)
    monkeypatch.setattr(lbfgs_module, "solve", recording_lbfgs)
    return heads


@pytest.fixture
def large_problem_rules(monkeypatch, start_runs):
    """Every problem counts as large (outside ``is_cheap``); records the start
    runs (:func:`start_runs`)."""
    monkeypatch.setattr(newton_module, "is_cheap", lambda *shape: False)
    return start_runs


@pytest.mark.parametrize("fit_intercept", [False, True], ids=["noint", "int"])
@pytest.mark.parametrize("loss", LOSSES)
def test_cold_large_problem_starts_with_epochs_and_reaches_the_optimum(
        large_problem_rules, loss, fit_intercept):
    case = CASES[1]
    X, y, sw, k, C = _data(case, True)
    model = LinearMulticlassSVM(C=C, loss=loss, fit_intercept=fit_intercept,
                                solver="newton", tol=1e-10, max_iter=500)
    with warnings.catch_warnings():
        warnings.simplefilter("error", ConvergenceWarning)
        model.fit(X, y, sample_weight=sw)
    [head] = large_problem_rules
    assert 1 <= head.n_iter <= (newton_module.START_EPOCHS if loss == "hinge"
                                else newton_module.START_ITERATIONS)
    # The epochs (or iterations) are counted and recorded before the Newton steps.
    assert model.n_iter_ >= head.n_iter
    assert model.duality_gap_ <= 1e-10
    _, _, best = _optimum(case, loss, fit_intercept, True)
    value, _, _ = numpy_objective(model.coef_, model.intercept_, X, y, C, loss,
                                  sample_weight=sw)
    assert best * (1 - 1e-8) <= value <= best * (1 + 1e-8)


def test_epochs_that_certify_end_the_fit(large_problem_rules):
    X, y, sw, k, C = _data(CASES[1], False)
    # A fixed order of the start epochs (from the global random state the test
    # depended on the tests run before it).
    model = LinearMulticlassSVM(C=C, solver="newton", tol=0.5,
                                random_state=0).fit(X, y)
    [head] = large_problem_rules
    assert head.duality_gap <= 0.5
    assert model.n_iter_ == head.n_iter and model.duality_gap_ <= 0.5
    _, _, best = _optimum(CASES[1], "hinge", True, False)
    value = model.objective(X, y)
    assert value - best <= model.duality_gap_ * value + 1e-10 * value


def test_cold_fit_near_the_largest_useful_C_skips_the_epochs(large_problem_rules):
    """There W = 0 is close to the optimum: the plain cold start is the faster."""
    X, y, sw, k, C = _data(CASES[2], False)
    assert C >= newton_module.START_BELOW * largest_useful_C(
        X, y, sw, k)
    model = LinearMulticlassSVM(C=C, solver="newton", tol=1e-8).fit(X, y)
    assert large_problem_rules == [] and model.duality_gap_ <= 1e-8


def test_squared_hinge_start_iterations_that_certify_end_the_fit(
        large_problem_rules):
    """On an easy problem the squared hinge's L-BFGS start certifies ``tol``
    itself: no Newton step is taken (nor any coordinate ascent epoch)."""
    X, y = make_problem(n=60, d=6, k=5, seed=2, shift=0.0)
    model = LinearMulticlassSVM(C=1e-3, loss="squared_hinge", solver="newton",
                                fit_intercept=False, tol=0.05).fit(X, y)
    [head] = large_problem_rules
    assert head.converged and head.duality_gap <= 0.05
    assert head.n_iter <= newton_module.START_ITERATIONS
    assert model.n_iter_ == head.n_iter and model.duality_gap_ <= 0.05
    _, _, best = cvxpy_optimum(X, y, 5, 1e-3, loss="squared_hinge",
                               fit_intercept=False)
    value = model.objective(X, y)
    assert value - best <= model.duality_gap_ * value + 1e-10 * value


@pytest.mark.parametrize("fit_intercept", [False, True], ids=["noint", "int"])
def test_small_cold_hinge_fit_starts_with_a_few_epochs(start_runs, fit_intercept):
    """Inside ``is_cheap`` a cold hinge fit begins with at most
    CHEAP_START_EPOCHS epochs (here they do not reach tol = 1e-10) and the
    Newton steps end at cvxpy's optimum."""
    case = CASES[1]
    X, y, sw, k, C = _data(case, True)
    assert newton_module.is_cheap(*X.shape, k)
    model = LinearMulticlassSVM(C=C, solver="newton", fit_intercept=fit_intercept,
                                tol=1e-10, random_state=0).fit(X, y, sample_weight=sw)
    [head] = start_runs
    assert head.n_iter == newton_module.CHEAP_START_EPOCHS and not head.converged
    assert model.n_iter_ > head.n_iter and model.duality_gap_ <= 1e-10
    _, _, best = _optimum(case, "hinge", fit_intercept, True)
    value, _, _ = numpy_objective(model.coef_, model.intercept_, X, y, C, "hinge",
                                  sample_weight=sw)
    assert best * (1 - 1e-8) <= value <= best * (1 + 1e-8)


def test_small_start_epochs_read_at_most_the_work_budget(start_runs, monkeypatch):
    """The epochs of a small cold fit make at most CHEAP_START_WORK
    multiply-adds (entries of X times classes) in all."""
    X, y, sw, k, C = _data(CASES[1], False)
    monkeypatch.setattr(newton_module, "CHEAP_START_WORK", 3.5 * X.size * k)
    model = LinearMulticlassSVM(C=C, solver="newton", random_state=0).fit(X, y)
    [head] = start_runs
    assert head.n_iter == 3 and model.duality_gap_ <= model.tol


def test_small_start_epochs_that_certify_end_the_fit(start_runs):
    """On an easy small problem the epochs reach tol themselves: no Newton
    step follows."""
    X, y = make_problem(n=500, d=5, k=3, seed=4)
    model = LinearMulticlassSVM(C=1.0, solver="newton", fit_intercept=False,
                                random_state=0).fit(X, y)
    [head] = start_runs
    assert head.converged and head.n_iter < newton_module.CHEAP_START_EPOCHS
    assert model.n_iter_ == head.n_iter and model.duality_gap_ <= model.tol
    _, _, best = cvxpy_optimum(X, y, 3, 1.0, fit_intercept=False)
    value = model.objective(X, y)
    assert value - best <= model.duality_gap_ * value + 1e-10 * value


def test_small_squared_hinge_fit_starts_with_newton_steps(start_runs):
    """The squared hinge's L-BFGS start is for large problems only."""
    X, y, sw, k, C = _data(CASES[1], False)
    model = LinearMulticlassSVM(C=C, loss="squared_hinge", solver="newton",
                                tol=1e-8).fit(X, y)
    assert start_runs == [] and model.duality_gap_ <= 1e-8


def test_float32_start_multipliers_give_the_float64_optimum():
    """A float32 dual point (as a path may store) starts the multipliers as a
    float64 copy: the same optimum as the float64 start."""
    X, y, sw, k, C = _data(CASES[1], False)
    objective = _objective(X, y, sw, k, C, "hinge", True)
    first = solve_newton(objective, None, None, tol=1e-10, max_iter=500)
    results = [solve_newton(objective, first["coef"], first["intercept"], tol=1e-10,
                            max_iter=500, dual0=first["dual"].astype(dtype))
               for dtype in (np.float64, np.float32)]
    for result in results:
        assert result["converged"] and result["dual"].dtype == np.float64
    assert_allclose(results[1]["coef"], results[0]["coef"], rtol=1e-6, atol=1e-8)


def test_start_epochs_through_solve_newton_without_a_random_state():
    X, y, sw, k, C = _data(CASES[1], False)
    objective = _objective(X, y, sw, k, C, "hinge", True)
    result = solve_newton(objective, None, None, tol=1e-8, max_iter=500,
                          start_epochs=3)
    assert result["converged"] and result["epochs"].n_iter <= 3


def test_start_epochs_finish_the_fits_they_converge_fast_on():
    """The start epochs hand over to Newton steps only in a slow tail: at tol=1e-3
    they certify it themselves (no step), at tol=1e-8 they stop at most at
    START_GAP and the steps reach cvxpy's optimum."""
    X, y = make_problem(3000, 30, 4, seed=2, shift=0.0, noise=1.5)
    objective = MulticlassSVMObjective(X, y, np.ones(len(y)), 4, C=1e-3, loss="hinge",
                                       margin=1.0, fit_intercept=False, n_threads=1)
    fast = solve_newton(objective, None, None, tol=1e-3, max_iter=100,
                        start_epochs=1000)
    assert fast["converged"] and fast["n_iter"] == 0 and fast["gap"] <= 1e-3
    slow = solve_newton(objective, None, None, tol=1e-8, max_iter=100,
                        start_epochs=1000)
    assert 1e-8 < slow["epochs"].duality_gap <= newton_module.START_GAP
    assert slow["converged"] and slow["n_iter"] > 0
    optimum = cvxpy_optimum(X, y, 4, 1e-3, fit_intercept=False)[2]
    value = numpy_objective(slow["coef"], slow["intercept"], X, y, 1e-3)[0]
    assert abs(value - optimum) <= 1e-8 * optimum


@pytest.mark.parametrize("fit_intercept", [False, True])
def test_stalled_start_epochs_hand_over_early(fit_intercept):
    """Unscaled data, where the start epochs' gap stalls near 1: they hand over to
    the Newton steps long before START_EPOCHS, and the steps reach cvxpy's
    optimum."""
    X, y = make_stalling_problem()
    objective = MulticlassSVMObjective(X, y, np.ones(len(y)), 4, C=1e-3, loss="hinge",
                                       margin=1.0, fit_intercept=fit_intercept,
                                       n_threads=1)
    result = solve_newton(objective, None, None, tol=1e-8, max_iter=500,
                          start_epochs=newton_module.START_EPOCHS)
    assert result["epochs"].n_iter <= 50 < newton_module.START_EPOCHS
    assert result["epochs"].duality_gap > 0.5 and result["converged"]
    optimum = cvxpy_optimum(X, y, 4, 1e-3, fit_intercept=fit_intercept)[2]
    value = numpy_objective(result["coef"], result["intercept"], X, y, 1e-3)[0]
    assert abs(value - optimum) <= 1e-7 * optimum


def test_start_epochs_read_at_most_the_entry_budget(large_problem_rules, monkeypatch):
    """Unscaled data, where the epochs' gap stalls above START_GAP: they stop at
    the epoch whose entries of X read (counted by the epochs themselves, shrunk
    rows unread) reach START_ENTRIES in all."""
    X, y, sw, k, C = _data(CASES[1], False)
    X = X * 1e4
    budget = 20 * X.size
    monkeypatch.setattr(newton_module, "START_ENTRIES", budget)
    epochs = record_calls(monkeypatch, _dual_kernels, "dense_epoch")
    # A fixed order of the start epochs: from the global random state the test
    # depended on the tests run before it (with 2 of 30 seeds, and 3 of 30 at
    # f86ce9b, the Newton steps end uncertified at max_iter: newton_notes.md).
    model = LinearMulticlassSVM(C=C, solver="newton", tol=1e-6,
                                random_state=0).fit(X, y)
    [head] = large_problem_rules
    work = [result[2] for _, result in epochs]  # entries of X each epoch read
    assert head.n_iter == len(work) and head.duality_gap > newton_module.START_GAP
    assert sum(work[:-1]) < budget <= sum(work)
    assert model.duality_gap_ <= 1e-6


def test_warm_fit_of_a_large_problem_at_a_small_tol_skips_the_epochs(
        large_problem_rules):
    X, y, sw, k, C = _data(CASES[1], False)
    model = LinearMulticlassSVM(C=C, solver="newton", warm_start=True,
                                tol=1e-4).fit(X, y)
    assert len(large_problem_rules) == 1
    model.set_params(C=C / 10).fit(X, y)
    assert len(large_problem_rules) == 1


@pytest.fixture
def epoch_starts(monkeypatch):
    """Records each start-epoch run's start multipliers (a copy, or None) and
    keyword arguments."""
    starts = []
    original = newton_module.dual_cd.ascend

    def recording(objective, alpha0, intercept0, **kwargs):
        starts.append((None if alpha0 is None else alpha0.copy(), kwargs))
        return original(objective, alpha0, intercept0, **kwargs)

    monkeypatch.setattr(newton_module.dual_cd, "ascend", recording)
    return starts


@pytest.mark.parametrize("finish_exactly", [True, False])
def test_start_epochs_that_end_the_fit_follow_finish_exactly(monkeypatch, epoch_starts,
                                                             finish_exactly):
    """Start epochs that converge end the fit, and their last finishing attempt
    follows ``Start.finish_exactly``: a fold of a path (False) attempts it only
    while at most INEXACT_FINISH_MAX_FREE pairs are free, as "dual_cd" does."""
    from sksvm._solvers import Start, dual_cd

    finals = record_finish_attempts(monkeypatch)
    monkeypatch.setattr(dual_cd, "INEXACT_FINISH_MAX_FREE", 0)
    steps = []
    solve_newton_steps = newton_module.solve_newton

    def counting_steps(*args, **kwargs):
        raw = solve_newton_steps(*args, **kwargs)
        steps.append(raw["n_iter"])
        return raw

    monkeypatch.setattr(newton_module, "solve_newton", counting_steps)
    objective = small_hinge_objective(C=10.0)
    start = Start.zeros(3, 4)
    start.finish_exactly = finish_exactly
    # (tol above the hand-over gap: the few epochs of a small problem's start
    # reach it)
    result = newton_module.solve(objective, start, tol=0.05, max_iter=100,
                                 random_state=np.random.RandomState(0))
    assert result.converged
    assert len(epoch_starts) == 1 and steps == [0]  # the epochs ended the fit
    assert epoch_starts[0][1]["finish_exactly"] is finish_exactly
    assert (True in finals) == finish_exactly


def test_warm_fit_of_a_large_problem_runs_its_epochs_from_the_multipliers(
        monkeypatch, epoch_starts):
    """At tol ≥ EPOCHS_TO_TOL_FROM a warm fit of a large problem (a path's next
    C) runs its start epochs from the previous fit's multipliers, handing over
    only where they stall; it ends at cvxpy's optimum within its certificate."""
    monkeypatch.setattr(newton_module, "is_cheap", lambda *shape: False)
    starts = epoch_starts
    X, y, sw, k, C = _data(CASES[1], False)
    model = LinearMulticlassSVM(C=C, solver="newton", warm_start=True,
                                random_state=0).fit(X, y)
    previous = model._solver_state[1].alpha.copy()
    model.set_params(C=C / 10).fit(X, y)
    assert [kwargs["handover_gap"] for _, kwargs in starts] == [model.tol, model.tol]
    assert starts[0][0] is None
    assert_allclose(starts[1][0], previous)
    _, _, best = cvxpy_optimum(X, y, k, C / 10)
    value = model.objective(X, y)
    assert value - best <= model.duality_gap_ * value + 1e-10 * value


def test_warm_fit_of_a_large_problem_starts_from_the_grown_prox_weight(
        monkeypatch, epoch_starts):
    """Near the largest useful C the start epochs of a large problem grow the
    intercept's proximal weight; the fit's state keeps it, and the next C's
    epochs start from it."""
    monkeypatch.setattr(newton_module, "is_cheap", lambda *shape: False)
    X, y = make_rare_class_problem()
    C_max = largest_useful_C(X, y, np.ones(len(y)), 3)
    model = LinearMulticlassSVM(C=C_max, solver="newton", warm_start=True,
                                random_state=0).fit(X, y)
    grown = model._solver_state[1].prox_weight
    assert grown is not None
    model.set_params(C=C_max / 2.78).fit(X, y)
    assert [kwargs["prox_weight0"] for _, kwargs in epoch_starts] == [None, grown]
    assert model.duality_gap_ <= model.tol


def test_warm_fit_of_a_small_problem_runs_a_few_epochs_from_the_multipliers(
        epoch_starts):
    """Inside ``is_cheap`` a warm fit with the previous fit's multipliers (a
    path's next C) runs at most CHEAP_START_EPOCHS epochs from them before the
    Newton steps, and ends at cvxpy's optimum."""
    starts = epoch_starts
    X, y, sw, k, C = _data(CASES[1], False)
    assert newton_module.is_cheap(*X.shape, k)
    model = LinearMulticlassSVM(C=C, solver="newton", warm_start=True, tol=1e-10,
                                random_state=0).fit(X, y)
    previous = model._solver_state[1].alpha.copy()
    model.set_params(C=C / 10).fit(X, y)
    assert len(starts) == 2 and starts[0][0] is None
    assert_allclose(starts[1][0], previous)
    assert starts[1][1]["max_iter"] == newton_module.CHEAP_START_EPOCHS
    _, _, best = cvxpy_optimum(X, y, k, C / 10)
    value = model.objective(X, y)
    assert model.duality_gap_ <= 1e-10
    assert abs(value - best) <= 1e-8 * best


# -- solver="newton" through the estimator, and the default that uses it -----------

def _no_convergence_warning_fit(X, y, **params):
    with warnings.catch_warnings():
        warnings.simplefilter("error", ConvergenceWarning)
        return LinearMulticlassSVM(**params).fit(X, y)


def test_default_converges_on_the_small_noisy_reproducer():
    """The reproducer of a default that ran 10000 epochs and warned."""
    rng = np.random.RandomState(0)
    X, y = rng.randn(60, 4), rng.randint(0, 3, 60)
    model = _no_convergence_warning_fit(X, y)
    assert model.solver_ == "newton"
    _, _, best = cvxpy_optimum(X, y, 3, model.C)
    value = model.objective(X, y)
    assert best * (1 - 1e-8) <= value <= best * (1 + model.tol)
    assert (value - best) / value <= model.duality_gap_ + 1e-9


def test_default_converges_on_unscaled_digits():
    """Pixels 0–16 at the default C: both first-order solvers used to stop at
    max_iter (gap 39 after 224 s for lbfgs)."""
    from sklearn.datasets import load_digits

    X, y = load_digits(return_X_y=True)
    model = _no_convergence_warning_fit(X, y)
    assert model.solver_ == "newton" and model.duality_gap_ <= model.tol


@pytest.mark.parametrize("loss", LOSSES)
def test_strong_regularization_reaches_the_optimum(loss):
    """C = 1e6: W ≈ 0 and the intercepts do all the work (dual_cd stopped at
    J = 2.0 against 1.95 here)."""
    X, y = make_problem(n=40, d=3, k=3, seed=0)
    for C in (1e2, 1e6):
        model = _no_convergence_warning_fit(X, y, C=C, loss=loss, solver="newton")
        _, _, best = cvxpy_optimum(X, y, 3, C, loss=loss)
        value = model.objective(X, y)
        assert value <= best * (1 + 1e-3) and value >= best * (1 - 1e-8)


@pytest.mark.parametrize("loss", LOSSES)
def test_estimator_dense_csr_float32_agree(loss):
    X, y, sw, k, C = _data(CASES[1], True)
    params = dict(C=C, loss=loss, solver="newton", tol=1e-8)
    reference = LinearMulticlassSVM(**params).fit(X, y, sample_weight=sw)
    best = reference.objective(X, y, sample_weight=sw)
    for data in (sp.csr_matrix(X), X.astype(np.float32)):
        model = LinearMulticlassSVM(**params).fit(data, y, sample_weight=sw)
        assert model.solver_ == "newton"
        assert model.objective(X, y, sample_weight=sw) <= best * (1 + 1e-5)


def test_weighted_equals_repeated():
    X, y, sw, k, C = _data(CASES[1], True)
    repeats = sw.astype(int)
    weighted = LinearMulticlassSVM(C=C, solver="newton").fit(X, y, sample_weight=sw)
    repeated = LinearMulticlassSVM(C=C, solver="newton").fit(
        np.repeat(X, repeats, axis=0), np.repeat(y, repeats))
    assert_allclose(weighted.decision_function(X), repeated.decision_function(X),
                    rtol=1e-7, atol=1e-9)


def test_warm_start_across_C_is_certified():
    """The dual box does not depend on C: the multipliers of one C start the next,
    and the result is certified against a cold fit's optimum."""
    X, y, sw, k, C = _data(CASES[1], False)
    model = LinearMulticlassSVM(solver="newton", warm_start=True, tol=1e-6)
    for C in (1e-1, 1e-2, 1e-4):
        model.set_params(C=C)
        with warnings.catch_warnings():
            warnings.simplefilter("error", ConvergenceWarning)
            model.fit(X, y)
        assert model.duality_gap_ <= 1e-6
        _, _, best = cvxpy_optimum(X, y, k, C)
        value = model.objective(X, y)
        assert best * (1 - 1e-8) <= value <= best * (1 + 1e-6)


def test_verbose_prints_one_line_per_step(capsys):
    X, y, sw, k, C = _data(CASES[0], False)
    model = LinearMulticlassSVM(C=C, solver="newton", verbose=1).fit(X, y)
    out = capsys.readouterr().out.splitlines()
    lines = [line for line in out if line.startswith("[newton] iter")]
    # The start epochs print at their checks, the last one at their last epoch;
    # n_iter_ counts them first.
    epochs = [int(line.split()[2]) for line in out if line.startswith("[dual_cd] iter")]
    assert epochs and len(lines) == model.n_iter_ - epochs[-1] + 1
    assert all("objective" in line and "gap" in line and "time" in line
               for line in lines)


@pytest.mark.slow
def test_small_problems_suite_converges_without_warnings():
    """The generated suite of benchmarks/small_problems.py (60 problems: 50–5000
    samples, 2–50 features, 2–10 classes, raw and standardized, C in [1e-6, 1]):
    the default fit converges on every one, for both losses, with its gap
    certified."""
    suite = _small_problems_suite()
    for loss in LOSSES:
        for name, X, y, C in suite:
            model = _no_convergence_warning_fit(X, y, C=C, loss=loss)
            assert model.duality_gap_ <= model.tol, name


def _small_problems_suite():
    import os
    import sys

    benchmarks = os.path.join(os.path.dirname(os.path.dirname(__file__)), "benchmarks")
    sys.path.insert(0, benchmarks)
    try:
        from small_problems import make_suite
    finally:
        sys.path.remove(benchmarks)
    return make_suite(60)


def test_unconverged_fit_returns_its_best_point():
    """Stopped by max_iter, the model is the best step's point: the exact finishing
    step may not swap in a worse point whose relative gap looks smaller."""
    from sklearn.datasets import load_digits
    from sklearn.preprocessing import StandardScaler

    X, y = load_digits(return_X_y=True)
    X, y = StandardScaler().fit_transform(X)[:800], y[:800]
    for max_iter in (1, 2, 3):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            model = LinearMulticlassSVM(C=1e-2, solver="newton",
                                        max_iter=max_iter).fit(X, y)
        best_seen = min(record["objective"] for record in model.history_)
        assert model.objective(X, y) <= best_seen * (1 + 1e-12)


def test_fit_that_needs_only_tol_skips_the_exact_finish():
    """``finish_exactly=False`` (the folds of a cross-validated path) keeps the
    converged Newton point; by default the finisher replaces it by the exact
    optimum (cvxpy's value), and both are certified within tol of it."""
    from sklearn.datasets import load_digits
    from sklearn.preprocessing import StandardScaler

    X, y = load_digits(return_X_y=True)
    X, y = StandardScaler().fit_transform(X)[:300], y[:300]
    optimum = cvxpy_optimum(X, y, 10, 0.1)[2]
    fits = {finish: LinearMulticlassSVM(C=0.1, solver="newton", tol=1e-3,
                                        random_state=0)._fit(
        X, y, None, finish_exactly=finish) for finish in (True, False)}
    assert fits[True].n_iter_ == fits[False].n_iter_
    assert fits[True].duality_gap_ <= 1e-12
    assert_allclose(fits[True].objective(X, y), optimum, rtol=1e-7)
    assert 1e-12 < fits[False].duality_gap_ <= 1e-3
    value = fits[False].objective(X, y)
    assert optimum <= value * (1 + 1e-9)
    assert value - optimum <= fits[False].duality_gap_ * value * (1 + 1e-9)


def test_an_old_factor_is_freed_before_the_next_is_built(monkeypatch):
    """A Woodbury factor holds up to MAX_FACTOR_PAIRS² entries: when a step builds
    a new one, nothing may still hold the previous one (it doubled the peak)."""
    import gc
    import weakref
    from sklearn.datasets import load_digits
    from sklearn.preprocessing import StandardScaler

    X, y = load_digits(return_X_y=True)
    X = StandardScaler().fit_transform(X)
    built = []
    alive_at_build = []
    original_init = newton_module._WoodburyPreconditioner.__init__

    def recording_init(self, *args, **kwargs):
        alive_at_build.append(sum(ref() is not None for ref in built))
        original_init(self, *args, **kwargs)
        built.append(weakref.ref(self))

    monkeypatch.setattr(newton_module._WoodburyPreconditioner, "__init__",
                        recording_init)
    gc.disable()  # only reference counts may free them
    try:
        LinearMulticlassSVM(C=0.01, solver="newton", tol=1e-6).fit(X, y)
    finally:
        gc.enable()
    assert len(built) >= 3
    assert alive_at_build == [0] * len(built)


def test_hard_margin_regime_warns_instead_of_failing():
    """Unscaled digits at C = 1e-14 (C / mean ‖x‖² ≈ 3e-18): C·I vanishes against
    the curvature in the Newton system, whose Cholesky factorization failed; the
    fit now ends with a ConvergenceWarning and finite weights."""
    from sklearn.datasets import load_digits

    X, y = load_digits(return_X_y=True)
    with pytest.warns(ConvergenceWarning):
        model = LinearMulticlassSVM(C=1e-14, solver="newton", max_iter=30).fit(X, y)
    assert np.all(np.isfinite(model.coef_)) and np.all(np.isfinite(model.intercept_))


@pytest.mark.parametrize("fraction, params, sparse", [
    (1.0, {}, False), (0.7, {}, False), (0.5, {}, False), (0.4, {}, False),
    (1.0, {"fit_intercept": False}, False),
    (1.0, {"solver_options": {"shrinking": False}}, True), (1.0, {}, True)])
def test_auto_under_strong_regularization(fraction, params, sparse):
    """Outside ``is_cheap`` (k·(d + 1) > 2500) "auto" gives the hinge "newton" on
    dense data (whose epochs run to tol, near the largest useful C too: there
    "newton"'s Newton steps used to run while "dual_cd" stalled) and "dual_cd" on
    sparse data; the fit certifies without a warning, and its objective matches
    the other solver's fit to the two certificates."""
    from sksvm._objective import largest_useful_C

    X, y = make_problem(n=90, d=300, k=10, seed=3)
    C = fraction * largest_useful_C(X, y, np.ones(90), 10)
    X = sp.csr_matrix(X) if sparse else X
    model = _no_convergence_warning_fit(X, y, C=C, **params)
    assert model.solver_ == ("dual_cd" if sparse else "newton")
    assert model.duality_gap_ <= model.tol
    params = {key: value for key, value in params.items() if key != "solver_options"}
    other = _no_convergence_warning_fit(X, y, C=C, solver="newton" if sparse
                                        else "dual_cd", **params)
    value, other_value = model.objective(X, y), other.objective(X, y)
    assert abs(value - other_value) <= (model.duality_gap_ * value
                                        + other.duality_gap_ * other_value
                                        + 1e-12 * value)   # rounding


def test_start_epochs_evaluate_no_averaged_point(monkeypatch):
    """The start epochs hand the Newton steps their iterates, not averaged
    weights: no averaged primal point is taken, even where dual_cd itself would
    take one at every check."""
    from sksvm._solvers import dual_cd

    monkeypatch.setattr(dual_cd, "AVERAGE_BELOW", np.inf)
    windows = []
    add = dual_cd._Run.add_to_window
    monkeypatch.setattr(dual_cd._Run, "add_to_window",
                        lambda run: windows.append(1) or add(run))
    X, y = make_problem(n=200, d=5, k=3, seed=4, noise=2.0)
    objective = _objective(X, y.astype(np.int64), np.ones(200), 3, 1e-2, "hinge", False)
    result = solve_newton(objective, None, None, tol=1e-8, max_iter=50, start_epochs=40)
    assert result["epochs"] is not None and result["epochs"].n_iter > 2
    assert windows == []
    dual_cd.ascend(objective, None, None, tol=1e-8, max_iter=40,
                   random_state=np.random.RandomState(0))
    assert windows  # the same epochs in dual_cd itself do average


@pytest.mark.parametrize("loss, shape, expected", [
    ("squared_hinge", (60000, 784, 10), "newton"),     # class blocks
    ("squared_hinge", (1_000_000, 100, 10), "newton"),  # the whole Hessian
    ("squared_hinge", (2000, 5000, 10), "lbfgs"),  # only the Kronecker product
    ("squared_hinge", (5000, 2000, 10), "lbfgs"),  # blocks: more entries than X
    ("hinge", (60000, 784, 10), "newton"),
])
def test_auto_rule_for_large_dense_problems(loss, shape, expected):
    """Beyond ``is_cheap``: the squared hinge goes to Newton steps where their
    preconditioner is exact or per class, the hinge to "newton" (its epochs
    first); sparse data to coordinate ascent."""
    from sksvm._solvers import auto_solver_in_memory

    assert not newton_module.is_cheap(*shape)
    assert auto_solver_in_memory(False, loss, *shape) == expected
    assert auto_solver_in_memory(True, loss, *shape) == "dual_cd"


def test_auto_squared_hinge_fit_takes_newton_steps_after_lbfgs(monkeypatch):
    """A dense squared hinge fit outside ``is_cheap`` whose class blocks fit: the
    default takes Newton steps on them after its L-BFGS start, and certifies."""
    updates = []
    original = newton_module._ClassBlockPreconditioner.update

    def recording(self, h):
        updates.append(np.count_nonzero(h))
        return original(self, h)

    monkeypatch.setattr(newton_module._ClassBlockPreconditioner, "update", recording)
    # correlated features (scales 1 to 0.01, rotated), noisy labels: many curved
    # pairs, and L-BFGS does not certify within its start
    rng = np.random.RandomState(0)
    Z = rng.randn(12200, 300) * np.logspace(0, -2, 300)
    rotation, _ = np.linalg.qr(rng.randn(300, 300))
    X = Z @ rotation.T
    X = (X - X.mean(axis=0)) / X.std(axis=0)
    y = np.argmax(3 * Z[:, :10] + rng.randn(12200, 10), axis=1)
    assert not newton_module.is_cheap(*X.shape, 10)
    model = _no_convergence_warning_fit(X, y, C=1e-4, loss="squared_hinge",
                                        fit_intercept=False)
    assert model.solver_ == "newton" and model.duality_gap_ <= model.tol
    assert updates
    assert model.n_iter_ > newton_module.START_ITERATIONS
    other = _no_convergence_warning_fit(X, y, C=1e-4, loss="squared_hinge",
                                        fit_intercept=False, solver="lbfgs",
                                        tol=1e-6)
    value, best = model.objective(X, y), other.objective(X, y)
    assert best * (1 - 1e-6) - 1e-12 <= value <= best * (1 + model.tol)
