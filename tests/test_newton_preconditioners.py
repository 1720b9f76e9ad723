"""The Newton solver's class-block preconditioner, its float32 Hessian products
over kept rows, and the squared hinge's scaled dual value, against references
built from the definitions (numpy) and the exact optimum (cvxpy)."""

import numpy as np
import pytest
from numpy.testing import assert_allclose

import sksvm._solvers.newton as newton_module
from sksvm import _certificate
from sksvm._losses import get_loss
from sksvm._objective import MulticlassSVMObjective
from sksvm._solvers.newton import solve_newton

from _reference import cvxpy_optimum, numpy_objective
from conftest import make_problem


def _objective(X, y, sw, k, C, loss, fit_intercept, n_threads=1):
    return MulticlassSVMObjective(X, y, sw, k, C=C, loss=loss, margin=1.0,
                                  fit_intercept=fit_intercept, n_threads=n_threads)


def _random_curvatures(rng, y, k, density=0.6):
    n = y.size
    h = rng.uniform(0.5, 2.0, size=(n, k)) * (rng.uniform(size=(n, k)) < density)
    h[np.arange(n), y] = 0.0
    return h


def _augmented_rows(X, solver):
    """x̂_i = (x_i − μ, r) with an intercept, x_i without (module docstring)."""
    if not solver.fit_intercept:
        return X
    return np.hstack([X - solver.design.mu, np.full((X.shape[0], 1), solver.design.r)])


def _reference_hessian(X_hat, y, h, C, k):
    """C·I plus h_ij a_ij a_ijᵀ for every pair, one pair at a time."""
    width = X_hat.shape[1]
    H = C * np.eye(k * width)
    for i, j in zip(*np.nonzero(h)):
        a = np.zeros((k, width))
        a[j] += X_hat[i]
        a[y[i]] -= X_hat[i]
        H += h[i, j] * np.outer(a.ravel(), a.ravel())
    return H


def _diagonal_blocks(H, k, width):
    """The k diagonal (width × width) blocks of H."""
    return [H[s * width:(s + 1) * width, s * width:(s + 1) * width] for s in range(k)]


def _block_solution(diagonal, centered):
    """What the class-block preconditioner gives for class-sum-zero ``centered``:
    each row solved with its diagonal block, then re-centered."""
    solved = np.stack([np.linalg.solve(block, row) for block, row in zip(diagonal,
                                                                          centered)])
    return solved - solved.mean(axis=0)


@pytest.mark.parametrize("n_threads", [1, 2])
@pytest.mark.parametrize("fit_intercept", [False, True], ids=["noint", "int"])
def test_class_blocks_are_the_hessians_diagonal_blocks(fit_intercept, n_threads,
                                                       monkeypatch):
    """The blocks, and their action, built and solved on one thread or a class
    per task on two (forced for these small blocks)."""
    monkeypatch.setattr(newton_module, "chunk_count",
                        lambda threads, work: 1 if threads == 1 else 4 * threads)
    k, C = 4, 1e-2
    X, y = make_problem(n=80, d=5, k=k, seed=3)
    objective = _objective(X, y, np.ones(80), k, C, "hinge", fit_intercept, n_threads)
    solver = newton_module._Solver(objective, {})
    assert newton_module._ClassBlockPreconditioner(solver).solve_threads == n_threads
    h = _random_curvatures(np.random.default_rng(0), y, k)
    blocks = newton_module._ClassBlockPreconditioner(solver).update(h)
    X_hat = _augmented_rows(X, solver)
    width = X_hat.shape[1]
    H = _reference_hessian(X_hat, y, h, C, k)
    diagonal = _diagonal_blocks(H, k, width)
    for s in range(k):  # float32 products: rounding of a few 1e-7
        assert_allclose(blocks.blocks[s] + C * np.eye(width), diagonal[s],
                        rtol=1e-5, atol=1e-5 * np.abs(diagonal[s]).max())

    # Its action: the blocks' inverse on class-sum-zero directions, and the
    # Hessian's own inverse, 1/C, on class-constant ones (which move no margin).
    rng = np.random.default_rng(1)
    V = rng.normal(size=(k, width))
    constant = np.tile(rng.normal(size=width), (k, 1))
    # (up to the rounding of the product's sums: terms up to |H|·|v|, cancelling)
    rounding = 1e-14 * np.abs(H).sum(axis=1).max() * np.abs(constant).max()
    assert_allclose((H @ constant.ravel()).reshape(k, width), C * constant,
                    rtol=1e-10, atol=rounding)
    assert_allclose(blocks(C * constant), constant, rtol=1e-8)
    centered = V - V.mean(axis=0)
    expected = _block_solution(diagonal, centered)
    assert_allclose(blocks(centered), expected, rtol=1e-4,
                    atol=1e-4 * np.abs(expected).max())
    # and it is symmetric positive definite: a valid CG preconditioner
    P = np.stack([blocks(e.reshape(k, width)).ravel() for e in np.eye(k * width)])
    assert_allclose(P, P.T, rtol=1e-6, atol=1e-6 * np.abs(P).max())
    assert np.linalg.eigvalsh((P + P.T) / 2).min() > 0


def test_class_block_factors_fall_back_to_double_precision():
    """The blocks' factors are float32 while float32 keeps C·I + block positive
    definite; a block that is singular beside a C lost in float32 rounding gets
    a float64 factor, and the preconditioner still solves it to double
    precision (against numpy's solve of the same matrix)."""
    k, C = 3, 1e-9
    # 6 rows, width 8: every class block is singular, C is its only curvature
    # in the missing directions (about 1e-10 of the largest entries). Small
    # integers and unit curvatures: the float32 sums are exact, so the blocks
    # are exactly positive semidefinite.
    rng = np.random.default_rng(7)
    X = rng.integers(-2, 3, size=(6, 8)).astype(np.float64)
    y = np.array([0, 1, 2, 0, 1, 2])
    objective = _objective(X, y, np.ones(6), k, C, "hinge", False)
    solver = newton_module._Solver(objective, {})
    h = np.ones((6, k))
    h[np.arange(6), y] = 0.0
    blocks = newton_module._ClassBlockPreconditioner(solver).update(h)
    assert [factor.dtype for factor in blocks.factors] == [np.float64] * k
    width = X.shape[1]
    V = np.random.default_rng(5).normal(size=(k, width))
    centered = V - V.mean(axis=0)
    expected = _block_solution(
        _diagonal_blocks(_reference_hessian(X, y, h, C, k), k, width), centered)
    # (condition numbers about 1e10: both solves keep about 6 digits)
    assert_allclose(blocks(centered), expected, rtol=1e-5,
                    atol=1e-5 * np.abs(expected).max())

    # Well conditioned (C = 1, many rows): float32 factors.
    X, y = make_problem(n=200, d=8, k=k, seed=7)
    objective = _objective(X, y, np.ones(200), k, 1.0, "hinge", False)
    solver = newton_module._Solver(objective, {})
    h = _random_curvatures(np.random.default_rng(3), y, k)
    blocks = newton_module._ClassBlockPreconditioner(solver).update(h)
    assert [factor.dtype for factor in blocks.factors] == [np.float32] * k


def test_class_block_updates_equal_a_fresh_build():
    """Updated by the changed rows only (few changed), or rebuilt (many): the
    same blocks as a build from scratch."""
    k, C = 3, 1e-3
    X, y = make_problem(n=120, d=6, k=k, seed=5)
    objective = _objective(X, y, np.ones(120), k, C, "squared_hinge", True)
    solver = newton_module._Solver(objective, {})
    rng = np.random.default_rng(2)
    h = _random_curvatures(rng, y, k)
    kept = newton_module._ClassBlockPreconditioner(solver).update(h)
    changed = h.copy()
    rows = rng.choice(120, size=10, replace=False)
    changed[rows] = _random_curvatures(rng, y[rows], k, density=0.5)
    scaled = _random_curvatures(rng, y, k, density=0.9)  # nearly every row changes
    for target in (changed, scaled, h):
        kept.update(target)
        fresh = newton_module._ClassBlockPreconditioner(solver).update(target)
        assert_allclose(kept.blocks, fresh.blocks, rtol=1e-5,
                        atol=1e-6 * np.abs(fresh.blocks).max())
    assert np.array_equal(kept.weights[:, 0] > 0, fresh.weights[:, 0] > 0)


@pytest.mark.parametrize("fit_intercept", [False, True], ids=["noint", "int"])
def test_gathered_rows_cover_the_curved_rows(fit_intercept):
    X, y = make_problem(n=200, d=4, k=3, seed=1)
    objective = _objective(X, y, np.ones(200), 3, 1e-2, "hinge", fit_intercept)
    solver = newton_module._Solver(objective, {})
    X_hat = _augmented_rows(X, solver)
    gathered = newton_module._GatheredRows(200)
    rng = np.random.default_rng(4)
    rows = np.sort(rng.choice(200, size=80, replace=False))
    copies = []
    for step in range(12):
        X32, kept = gathered.cover(solver.design, rows)
        copies.append(X32.base if X32.base is not None else X32)
        assert X32.dtype == np.float32 and X32.shape == (kept.size, X_hat.shape[1])
        assert np.array_equal(gathered.position[kept], np.arange(kept.size))
        assert set(rows) <= set(kept)
        assert kept.size <= newton_module.GATHER_SLACK * rows.size + 1
        assert_allclose(X32[gathered.position[rows]], X_hat[rows], rtol=1e-6,
                        atol=1e-6)
        # a few rows leave and join, and at step 6 most of them change
        size = 60 if step == 6 else 5
        leaving = rng.choice(rows, size=size, replace=False)
        joining = rng.choice(np.setdiff1d(np.arange(200), rows), size=size,
                             replace=False)
        rows = np.sort(np.concatenate([np.setdiff1d(rows, leaving), joining]))
    # the copy was kept over some steps and made again over others
    distinct = len({id(copy) for copy in copies})
    assert 1 < distinct < len(copies)


@pytest.mark.parametrize("weighted", [False, True], ids=["unit", "weighted"])
@pytest.mark.parametrize("fit_intercept", [False, True], ids=["noint", "int"])
@pytest.mark.parametrize("loss", ["hinge", "squared_hinge"])
@pytest.mark.parametrize("gathered, dtype", [(True, np.float64),
                                              (False, np.float64),
                                              (False, np.float32)],
                         ids=["copy", "onX", "onX32"])
def test_class_blocks_and_row_products_reach_the_exact_optimum(
        monkeypatch, gathered, dtype, loss, fit_intercept, weighted):
    """With the exact factors ruled out (thresholds at 0), every step runs on the
    class-block preconditioner and the one-pass Hessian products, over a kept
    float32 copy of the curved rows or over X itself (raw rows, centered through
    offsets); the fit still certifies 1e-10 at cvxpy's optimum."""
    monkeypatch.setattr(newton_module, "MAX_DENSE_HESSIAN", 0)
    monkeypatch.setattr(newton_module, "SINGLE_PRODUCTS_MIN_ENTRIES", 0)
    monkeypatch.setattr(newton_module, "SINGLE_GATHER_FRACTION",
                        1.0 if gathered else 0.0)
    updates, operators = [], []
    original_update = newton_module._ClassBlockPreconditioner.update
    original_operator = newton_module._Solver._rows_operator

    def recording_update(self, h):
        updates.append(np.count_nonzero(h))
        return original_update(self, h)

    def recording_operator(self, X, h, mu, y=None):
        operators.append(mu is None)
        assert X.dtype == (np.float32 if mu is None else dtype)
        return original_operator(self, X, h, mu, y)

    monkeypatch.setattr(newton_module._ClassBlockPreconditioner, "update",
                        recording_update)
    monkeypatch.setattr(newton_module._Solver, "_rows_operator", recording_operator)
    k, C = 4, 1e-3
    X, y = make_problem(n=150, d=6, k=k, seed=11, noise=2.0)
    # float32 X: the optimum of its own values
    X = np.ascontiguousarray(X.astype(dtype), dtype=np.float64)
    sw = (np.random.RandomState(0).randint(1, 4, size=150).astype(float)
          if weighted else np.ones(150))
    objective = _objective(X.astype(dtype), y, sw, k, C, loss, fit_intercept)
    result = solve_newton(objective, None, None, tol=1e-10, max_iter=500,
                          max_factor_pairs=0)
    assert result["converged"] and result["gap"] <= 1e-10
    steps = [record for record in result["history"] if "cg_iter" in record]
    assert len(updates) == len(operators) == len(steps) > 0
    assert all(operators) if gathered else not any(operators)
    if loss == "hinge":  # truncated solves (large σ late in the fit)
        cap = newton_module._ClassBlockPreconditioner.hinge_cg_max_iter
        assert max(step["cg_iter"] for step in steps) <= cap
    _, _, best = cvxpy_optimum(X, y, k, C, loss=loss, fit_intercept=fit_intercept,
                               sample_weight=sw)
    value, _, _ = numpy_objective(result["coef"], result["intercept"], X, y, C, loss,
                                  sample_weight=sw)
    assert best * (1 - 1e-8) <= value <= best * (1 + 1e-8)


def test_squared_hinge_dual_value_is_the_best_multiple():
    squared, hinge = get_loss("squared_hinge"), get_loss("hinge")
    t = np.linspace(0.0, 50.0, 500_001)
    for linear, quadratic in [(1.0, 0.2), (0.3, 2.0), (2.0, 1.0), (-1.0, 3.0)]:
        best = max(np.max(t * linear - t * t * quadratic), linear - quadratic)
        assert squared.dual_value(linear, quadratic) == pytest.approx(best, rel=1e-8,
                                                                      abs=1e-12)
        assert squared.dual_value(linear, quadratic) >= linear - quadratic
        # the hinge's box may not allow t > 1
        assert hinge.dual_value(linear, quadratic) == linear - quadratic


@pytest.mark.parametrize("fit_intercept", [False, True], ids=["noint", "int"])
def test_scaled_squared_hinge_bound_holds_away_from_the_optimum(fit_intercept):
    """At points far from the optimum the dual point c·ℓ'(m) has the wrong scale;
    its best multiple is a much higher lower bound, and still a lower bound."""
    k, C = 3, 1e-2
    X, y = make_problem(n=60, d=5, k=k, seed=2)
    sw = np.random.RandomState(1).randint(1, 4, size=60).astype(float)
    objective = _objective(X, y, sw, k, C, "squared_hinge", fit_intercept)
    coef_opt, intercept_opt, best = cvxpy_optimum(
        X, y, k, C, loss="squared_hinge", fit_intercept=fit_intercept,
        sample_weight=sw)
    bound = sw / sw.sum()
    raised = 0
    for factor in (0.0, 0.3, 3.0):
        coef, intercept = factor * coef_opt, factor * intercept_opt
        _, alpha = _certificate.dual_point(X, y, bound, coef, intercept, 1.0,
                                           "squared_hinge")
        value, _ = _certificate.dual_lower_bound(objective, alpha)
        assert value <= best * (1 + 1e-9)
        # unscaled, from the definitions: repaired α for the intercept, then
        # δ Σα − (C/2)‖W(α)‖² − Σ α²/(4c)
        if fit_intercept:
            alpha = alpha * _certificate.repair_factors(
                _certificate.class_flows(y, alpha, k))[y]
        A = alpha.copy()
        A[np.arange(60), y] = -alpha.sum(axis=1)
        W = -(A.T @ X) / C
        plain = alpha.sum() - 0.5 * C * np.sum(W * W) - np.sum(
            alpha ** 2 / (4 * bound[:, None]))
        assert value >= plain - 1e-12 * abs(plain)
        raised += value > plain + 1e-3 * abs(best)
    assert raised >= 2


@pytest.mark.parametrize("preconditioner", ["class_blocks", "exact"])
@pytest.mark.parametrize("start", ["cold", "dual_point"])
def test_hinge_penalty_schedule_follows_the_preconditioner(monkeypatch, preconditioner,
                                                           start):
    """The hinge's σ starts at mean(c)/START_SIGMA_WIDTH0 from start multipliers
    (mean(c)/SIGMA_WIDTH0 otherwise), doubles at outer steps that follow a step on
    the class blocks (truncated solves) and grows by SIGMA_GROWTH after exact
    ones; either way the fit reaches cvxpy's optimum."""
    if preconditioner == "class_blocks":
        monkeypatch.setattr(newton_module, "MAX_DENSE_HESSIAN", 0)
    k, C, n = 4, 1e-3, 150
    X, y = make_problem(n=n, d=6, k=k, seed=11, noise=2.0)
    objective = _objective(X, y, np.ones(n), k, C, "hinge", False)
    options = dict(max_factor_pairs=0) if preconditioner == "class_blocks" else {}
    if start == "dual_point":
        from sksvm._solvers import dual_cd
        options["dual0"] = dual_cd.ascend(objective, None, None, tol=1e-12,
                                          max_iter=3,
                                          random_state=np.random.RandomState(0))[1]
    result = solve_newton(objective, None, None, tol=1e-10, max_iter=500, **options)
    assert result["converged"]
    history = result["history"]
    width0 = (newton_module.START_SIGMA_WIDTH0 if start == "dual_point"
              else newton_module.SIGMA_WIDTH0)
    assert history[0]["sigma"] == pytest.approx(1.0 / n / width0, rel=1e-12)
    growth = 2.0 if preconditioner == "class_blocks" else newton_module.SIGMA_GROWTH
    outer = [i for i, record in enumerate(history[:-1]) if "outer" in record]
    assert outer
    for i in outer:
        assert history[i + 1]["sigma"] == pytest.approx(growth * history[i]["sigma"],
                                                        rel=1e-12)
    _, _, best = cvxpy_optimum(X, y, k, C, fit_intercept=False)
    value = numpy_objective(result["coef"], result["intercept"], X, y, C)[0]
    assert best * (1 - 1e-8) <= value <= best * (1 + 1e-8)
