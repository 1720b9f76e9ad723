"""A rigorous duality gap when the intercept is fitted.

With an unpenalized intercept the dual has the extra constraint Aᵀ1 = 0: in every
class column c, the dual mass flowing in (α_ic from samples of other classes) equals
the mass flowing out (α_ij of the samples of class c). A dual point read off the loss
derivatives satisfies it only approximately, so its dual value is not a valid lower
bound. Here the point is repaired: the flows between each ordered pair of classes,
F[c', c] = Σ_{i: y_i = c'} α_ic, are scaled by factors φ[c', c] ∈ [0, 1] chosen by a
small linear program (keep as much flow as possible, subject to conservation at every
class). Scaling down keeps α in its box, so the repaired point is dual-feasible and
J(W, b) − D(α') bounds the suboptimality. It costs two products with X and an LP
with at most k(k−1) variables, so it is run only when the cheaper gap says "done".
"""

import numpy as np
from scipy.optimize import linprog

# Above this many classes the LP is not attempted.
MAX_CLASSES = 200


def repair_factors(flows):
    """Factors φ ∈ [0, 1] keeping the most flow subject to conservation at every
    class; None if the linear program fails.

    ``flows[c', c]`` = Σ_{i: y_i = c'} α_ic.
    """
    k = flows.shape[0]
    factors = np.zeros((k, k))
    source, target = np.nonzero(flows)
    values = flows[source, target]
    if not values.size:
        return factors
    # Conservation at class c: inflow − outflow = 0.
    balance = np.zeros((k, values.size))
    balance[target, np.arange(values.size)] += values
    balance[source, np.arange(values.size)] -= values
    result = linprog(-values, A_eq=balance[:-1], b_eq=np.zeros(k - 1),
                     bounds=(0.0, 1.0), method="highs")
    if result.status != 0:
        return None
    factors[source, target] = np.clip(result.x, 0.0, 1.0)
    return factors


def repair_dual_point(objective, alpha):
    """α (shape (n, k), zero on the label entries, inside its box) scaled so that
    Aᵀ1 = 0; None when the classes are too many or the LP fails."""
    k = objective.n_classes
    if k > MAX_CLASSES:
        return None
    flows = np.zeros((k, k))
    np.add.at(flows, objective.y, alpha)
    factors = repair_factors(flows)
    return None if factors is None else alpha * factors[objective.y]


def gap_at_dual_point(objective, coef, intercept, alpha):
    """Relative gap between J(coef, intercept) and the dual value of the feasible
    point α (shape (n, k), zero on the label entries).

    ``coef`` None means the primal image W(α) = −AᵀX/C. Returns ``(gap, W(α))``.
    """
    X, y = objective.X, objective.y
    rows = np.arange(X.shape[0])
    bound = objective.sample_weight / objective.weight_sum
    A = alpha.copy()
    A[rows, y] = -alpha.sum(axis=1)
    dual_coef = -np.asarray(A.T @ X) / objective.C
    conjugate = 0.0
    if objective.loss != "hinge":  # Σ (s_i/S) a²/4 with α = (s_i/S) a
        positive = bound > 0
        conjugate = float(np.sum(alpha[positive] ** 2 / (4 * bound[positive, None])))
    dual = objective.dual_value(objective.margin * alpha.sum(), A.sum(axis=0),
                                dual_coef, conjugate, intercept)
    primal = objective.value(dual_coef if coef is None else coef, intercept)
    with np.errstate(invalid="ignore", over="ignore"):
        gap = (primal - dual) / max(abs(primal), np.finfo(float).tiny)
    # Overflow at extreme scales (inf − inf) certifies nothing.
    return (gap if np.isfinite(gap) else np.inf), dual_coef


def repaired_gap(objective, coef, intercept, mu):
    """Relative duality gap at ``(coef, intercept)`` from a repaired dual point.

    Returns None when the LP is too large or fails.
    """
    # -- objectives whose rows are not in memory (sksvm._dask) compute it in passes --
    if hasattr(objective, "repaired_gap"):
        return objective.repaired_gap(coef, intercept, mu)
    # ---------------------------------------------------------------------------------
    if objective.n_classes > MAX_CLASSES:
        return None
    X, y = objective.X, objective.y
    rows = np.arange(X.shape[0])
    bound = objective.sample_weight / objective.weight_sum
    scores = np.asarray(X @ coef.T) + intercept
    margins = objective.margin + scores - scores[rows, y][:, None]
    margins[rows, y] = -np.inf
    if objective.loss == "hinge":
        derivative = (np.clip(margins / mu, 0.0, 1.0) if mu > 0
                      else (margins > 0).astype(float))
    else:
        derivative = 2.0 * np.maximum(margins, 0.0)
    alpha = repair_dual_point(objective, bound[:, None] * derivative)
    if alpha is None:
        return None
    return gap_at_dual_point(objective, coef, intercept, alpha)[0]
