"""Exact finishing step: solve the optimality conditions on an identified active set.

Near the optimum of the hinge (or squared hinge) problem, every margin pair (i, j≠y_i)
falls into one of three sets: margin below zero (dual variable α_ij = 0), above zero
(α_ij at its bound c_i = s_i/S, hinge only), or in between, "free". Given that
partition the optimality conditions are linear in (α_free, b):

    W = −AᵀX/C                         (A built from α, MATH.md)
    m_ij(W, b) = κ_ij α_ij             for free pairs
    Aᵀ1 = 0                            (only with an intercept)

with κ = 0 for the hinge (free pairs sit exactly at the kink) and κ = 1/(2 c_i) for the
squared hinge (α = c_i · 2m). Solving this linear system turns a solution that is
accurate to the smoothing width into the exact one, and the result carries its own
certificate: W = W(α) exactly, so J(W, b) − D(α) is computed at no approximation.
The step is attempted only while the free set is small enough for a dense solve.
"""

import warnings

import numpy as np
import scipy.linalg
import scipy.sparse as sp
from scipy.linalg import LinAlgWarning

from .certificate import gap_at_dual_point, repair_dual_point

# Largest free set for which the dense (|F| + k)² solve is attempted.
MAX_FREE_PAIRS = 1000
# Margins above −ZERO_MARGIN·δ count as free, not as zero.
ZERO_MARGIN = 1e-9


def _gram(rows):
    G = rows @ rows.T
    return G.toarray() if sp.issparse(G) else np.asarray(G)


def polish(objective, coef, intercept, mu, max_rounds=4):
    """Exact solution on the active set read off ``(coef, intercept)``.

    The partition is read off the given point, the linear system solved, and the
    partition corrected from the solution's margins and dual variables (a
    primal-dual active-set iteration), for up to ``max_rounds`` rounds.

    Parameters
    ----------
    objective : MulticlassSVMObjective
    coef, intercept : ndarray
        A near-optimal point, e.g. the minimizer of the hinge smoothed with width
        ``mu`` (pairs with 0 < m < mu are taken as free).
    mu : float
        Smoothing width of that point (0 for the squared hinge).
    max_rounds : int
        Maximum number of linear solves.

    Returns
    -------
    (coef, intercept, relative_gap) or None
        The point with the smallest certified gap found, or None when the free set
        is too large or no solve gave a feasible dual point.
    """
    hinge = objective.loss == "hinge"
    y = objective.y
    rows = np.arange(objective.X.shape[0])
    bound = objective.sample_weight / objective.weight_sum
    margins = _margins(objective, coef, intercept)
    # Margins at 0 up to rounding (an exact solution's free pairs) count as free.
    at_zero = -ZERO_MARGIN * objective.margin
    if hinge:
        upper = margins >= mu
        free = (margins > at_zero) & ~upper
    else:
        upper = np.zeros_like(margins, dtype=bool)
        free = margins > at_zero
    best = None
    for _ in range(max_rounds):
        if np.count_nonzero(free) > MAX_FREE_PAIRS:
            break
        alpha, new_intercept = _solve_partition(objective, free, upper, bound)
        free_i, free_j = np.nonzero(free)
        upper_limit = bound[free_i] if hinge else np.inf
        new_free = free.copy()
        new_upper = upper.copy()
        below = alpha < 0
        above = alpha > upper_limit
        new_free[free_i[below | above], free_j[below | above]] = False
        new_upper[free_i[above], free_j[above]] = True
        dual_point = np.where(upper, bound[:, None], 0.0)
        dual_point[free_i, free_j] = np.clip(alpha, 0.0, upper_limit)
        dual_point[rows, y] = 0.0
        candidate = _certify(objective, dual_point, new_intercept)
        if candidate is None:
            break
        if best is None or candidate[2] < best[2]:
            best = candidate
        # Pairs whose margin crossed zero change sides.
        margins = _margins(objective, candidate[0], candidate[1])
        zero_set = ~free & ~upper
        new_free |= zero_set & (margins > 0)
        if hinge:
            leave_upper = upper & (margins < 0)
            new_free |= leave_upper
            new_upper &= ~leave_upper
        if np.array_equal(new_free, free) and np.array_equal(new_upper, upper):
            break
        free, upper = new_free, new_upper
    return best


def _margins(objective, coef, intercept):
    """m_ij for j ≠ y_i; −inf on the label entries and on zero-weight rows."""
    X, y = objective.X, objective.y
    rows = np.arange(X.shape[0])
    scores = np.asarray(X @ coef.T) + intercept
    margins = objective.margin + scores - scores[rows, y][:, None]
    margins[rows, y] = -np.inf
    margins[objective.sample_weight == 0] = -np.inf
    return margins


def _solve_partition(objective, free, upper, bound):
    """Solve the optimality system for the given partition; returns (α_free, b)."""
    X, y, C = objective.X, objective.y, objective.C
    k = objective.n_classes
    rows = np.arange(X.shape[0])
    A_fixed = np.where(upper, bound[:, None], 0.0)
    A_fixed[rows, y] = -A_fixed.sum(axis=1)
    coef_fixed = -np.asarray(A_fixed.T @ X) / C
    residual_fixed = A_fixed.sum(axis=0)  # Aᵀ1 of the fixed part

    free_i, free_j = np.nonzero(free)
    n_free = free_i.size
    free_y = y[free_i]
    X_free = X[free_i]
    fixed_scores = np.asarray(X_free @ coef_fixed.T)
    pair = np.arange(n_free)
    rhs_margin = -(objective.margin + fixed_scores[pair, free_j]
                   - fixed_scores[pair, free_y])
    # m_p changes by (x_p·x_q / C)·L_pq per unit of α_q.
    label = ((free_j[:, None] == free_y[None, :]).astype(float)
             - (free_j[:, None] == free_j[None, :])
             - (free_y[:, None] == free_y[None, :])
             + (free_y[:, None] == free_j[None, :]))
    M = _gram(X_free) * label / C
    if objective.loss != "hinge":
        M[pair, pair] -= 1.0 / (2.0 * bound[free_i])
    if objective.fit_intercept:
        # Only differences of intercepts matter: fix b_{k-1} = 0 and drop the
        # last constraint, which the others imply (the columns of A sum to 0).
        B = (np.eye(k)[free_j] - np.eye(k)[free_y])[:, :-1]
        system = np.block([[M, B], [B.T, np.zeros((k - 1, k - 1))]])
        rhs = np.concatenate([rhs_margin, -residual_fixed[:-1]])
    else:
        system, rhs = M, rhs_margin
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", LinAlgWarning)
            solution = scipy.linalg.solve(system, rhs, assume_a="sym")
    except (np.linalg.LinAlgError, LinAlgWarning):
        # Singular, e.g. duplicated samples: least squares, QR with pivoting.
        solution = scipy.linalg.lstsq(system, rhs, lapack_driver="gelsy")[0]
    intercept = (np.append(solution[n_free:], 0.0) if objective.fit_intercept
                 else np.zeros(k))
    return solution[:n_free], intercept


def _certify(objective, alpha, intercept):
    """(coef, intercept, relative gap) at W(α), or None.

    Clipping α into its box breaks the intercept's constraint Aᵀ1 = 0, without
    which the dual value bounds J only at this intercept: with an intercept, α is
    first repaired (sksvm._solvers.certificate).
    """
    if objective.fit_intercept:
        alpha = repair_dual_point(objective, alpha)
        if alpha is None:
            return None
    gap, coef = gap_at_dual_point(objective, None, intercept, alpha)
    return coef, intercept, gap
