"""Independent references: a plain numpy objective (MATH.md) and an exact cvxpy solver."""

import warnings

import numpy as np


def numpy_objective(coef, intercept, X, y, C, loss="hinge", margin=1.0, mu=0.0,
                    sample_weight=None):
    """J(W, b) and its (sub)gradient, written directly from MATH.md with numpy."""
    X = np.asarray(X.toarray() if hasattr(X, "toarray") else X, dtype=np.float64)
    coef = np.asarray(coef, dtype=np.float64)
    n, k = X.shape[0], coef.shape[0]
    intercept = (np.zeros(k) if intercept is None
                 else np.asarray(intercept, dtype=np.float64))
    y = np.asarray(y)
    s = np.ones(n) if sample_weight is None else np.asarray(sample_weight, float)
    S = s.sum()
    scores = X @ coef.T + intercept
    margins = margin + scores - scores[np.arange(n), y][:, None]
    margins[np.arange(n), y] = -np.inf  # excludes j == y_i
    pos = np.maximum(margins, 0.0)
    if loss == "squared_hinge":
        values, derivs = pos ** 2, 2 * pos
    elif mu > 0:
        values = np.where(pos < mu, pos ** 2 / (2 * mu), pos - mu / 2)
        derivs = np.clip(pos / mu, 0, 1)
    else:
        values, derivs = pos, (margins > 0).astype(float)
    A = s[:, None] * derivs / S
    A[np.arange(n), y] = -A.sum(axis=1)
    value = (s * values.sum(axis=1)).sum() / S + 0.5 * C * np.sum(coef ** 2)
    return value, A.T @ X + C * coef, A.sum(axis=0)


def cvxpy_optimum(X, y, n_classes, C, *, loss="hinge", margin=1.0,
                  fit_intercept=True, sample_weight=None):
    """Exact minimizer (coef, intercept, value) of J by a conic solver."""
    import cvxpy as cp

    X = np.asarray(X.toarray() if hasattr(X, "toarray") else X, dtype=np.float64)
    y = np.asarray(y)
    n, d = X.shape
    s = np.ones(n) if sample_weight is None else np.asarray(sample_weight, float)
    W = cp.Variable((n_classes, d))
    b = cp.Variable(n_classes) if fit_intercept else np.zeros(n_classes)
    scores = X @ W.T + (cp.reshape(b, (1, n_classes), order="C") if fit_intercept else 0)
    onehot = np.eye(n_classes)[y]
    true_scores = cp.sum(cp.multiply(scores, onehot), axis=1)
    margins = margin + scores - cp.reshape(true_scores, (n, 1), order="C") @ np.ones((1, n_classes))
    pos = cp.multiply(cp.pos(margins), 1 - onehot)
    per_sample = cp.sum(cp.square(pos) if loss == "squared_hinge" else pos, axis=1)
    objective = s @ per_sample / s.sum() + 0.5 * C * cp.sum_squares(W)
    problem = cp.Problem(cp.Minimize(objective))
    with warnings.catch_warnings():
        # Clarabel often flags 1e-12 targets as "inaccurate" while being accurate
        # to ~1e-12; the status is checked instead.
        warnings.filterwarnings("ignore", message="Solution may be inaccurate")
        problem.solve(solver=cp.CLARABEL, tol_gap_abs=1e-12, tol_gap_rel=1e-12,
                      tol_feas=1e-12, max_iter=500)
    assert problem.status in ("optimal", "optimal_inaccurate"), problem.status
    intercept = b.value if fit_intercept else np.zeros(n_classes)
    value, _, _ = numpy_objective(W.value, intercept, X, y, C, loss, margin,
                                  sample_weight=sample_weight)
    return W.value, intercept, value


def reference_margins(coef, intercept, X, y, margin=1.0):
    """m_ij for j != y_i (the label entries are NaN), in float64."""
    X = np.asarray(X.toarray() if hasattr(X, "toarray") else X, dtype=np.float64)
    coef = np.asarray(coef, dtype=np.float64)
    k = coef.shape[0]
    intercept = np.zeros(k) if intercept is None else np.asarray(intercept, float)
    rows = np.arange(X.shape[0])
    scores = X @ coef.T + intercept
    margins = margin + scores - scores[rows, np.asarray(y)][:, None]
    margins[rows, y] = np.nan
    return margins


def binary_split(coef_, intercept_):
    """Full (2, d) / (2,) parameters (−v/2, v/2), (−c/2, c/2) of a binary model."""
    v = np.asarray(coef_, dtype=np.float64).reshape(-1)
    c = float(np.asarray(intercept_, dtype=np.float64).reshape(-1)[0])
    return np.vstack([-v / 2, v / 2]), np.array([-c / 2, c / 2])
