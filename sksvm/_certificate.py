"""Certificates of optimality: dual points, the intercept's dual repair, and the exact
active-set finisher. Every solver's ``duality_gap_`` comes from here.

Dual points. Any α with α_ij ∈ [0, c_i] (hinge; [0, ∞) for the squared hinge),
c_i = s_i/S, zero on the label entries, gives the dual value (MATH.md)

    D(α) = δ Σ α_ij − (C/2) ‖W(α)‖² − Σ_i c_i Σ_j ℓ*(α_ij / c_i),

a lower bound on min J when there is no intercept. The loss derivatives at a point,
α = c·ℓ'(m), are such a point (:func:`dual_point`).

The intercept's repair. With an unpenalized intercept the dual has the extra
constraint Aᵀ1 = 0: in every class c the dual mass flowing in (α_ic of samples of
other classes) equals the mass flowing out (α_ij of the samples of class c). A dual
point read off derivatives satisfies it only approximately. :func:`repair_factors`
removes the imbalance from the class-to-class flows F[c', c] = Σ_{i: y_i = c'} α_ic
by a flow decomposition (paths from the classes with excess outflow to those with
excess inflow), which scales each F[c', c] by a factor in [0, 1]. Scaling keeps α in
its box, so the repaired point is dual-feasible and J(W, b) − D(α') bounds the
suboptimality. Its cost is O(k²) per path, with no limit on the number of classes
(a linear program with the same goal was as tight and 50–400× slower; see
benchmarks/results/architecture_notes.md).

Exact finishing. Near the optimum every pair is at zero (α = 0), at the bound
(α = c_i, hinge only) or "free" in between, where its margin is 0 (hinge) or
α/(2c_i) (squared hinge). Given that partition the optimality conditions, with
Aᵀ1 = 0 when there is an intercept, are a linear system in (α_free, b). :func:`finish`
solves it, corrects the partition from the solution (a primal-dual active-set
method) and certifies each candidate; it is attempted only while at most
``MAX_FREE_PAIRS`` pairs are free.
"""

import numpy as np
import scipy.linalg
import scipy.sparse as sp
from scipy.sparse.csgraph import connected_components

from . import _dual_kernels
from ._kernels import chunk_bounds
from ._threads import chunk_count, run_chunks
from ._losses import get_loss

# Largest free set for which the dense (|F| + k)² solve of the finisher is attempted.
MAX_FREE_PAIRS = 1000
# A change of the dual point touching at most this fraction of its entries updates
# W(α) from the rows it touches; a larger one rebuilds W(α) by one product. Measured
# on 16000 × 784 float64 rows: the update takes 1.4 ms at 2 %, 6.5 ms at 10 % and
# 9.3 ms at 20 % of the entries, the product 9.4 ms.
SPARSE_UPDATE_FRACTION = 0.15
# Margins above −ZERO_MARGIN·δ count as free, not as zero, when a partition is read
# off a primal point (an exact solution's free pairs sit at margin 0 up to rounding).
ZERO_MARGIN = 1e-9


# -- margins and dual points ---------------------------------------------------------

def pair_margins(X, y, coef, intercept, margin):
    """m_ij = δ + s_ij − s_{i,y_i} for the scores s = X coefᵀ + intercept, shape
    (n, k); −inf on the label entries, so that every loss is 0 there."""
    scores = np.asarray(X @ coef.T) + intercept
    rows = np.arange(scores.shape[0])
    margins = margin + scores - scores[rows, y][:, None]
    margins[rows, y] = -np.inf
    return margins


def dual_point(X, y, bound, coef, intercept, margin, loss, smoothing=0.0):
    """Margins and the dual point α = c·ℓ'(m) at ``(coef, intercept)``.

    Parameters
    ----------
    X : ndarray or CSR matrix of shape (n, d)
    y : ndarray of shape (n,), class indices
    bound : ndarray of shape (n,)
        c_i = s_i / S.
    coef, intercept : ndarray of shapes (k, d) and (k,)
    margin : float
    loss : str
    smoothing : float
        Width of the smoothed hinge whose derivatives are used (0: the loss's own).

    Returns
    -------
    margins, alpha : ndarray of shape (n, k)
    """
    margins = pair_margins(X, y, coef, intercept, margin)
    alpha = bound[:, None] * get_loss(loss).derivative(margins, smoothing)
    return margins, alpha


def pair_coefficients(alpha, y):
    """The matrix A of MATH.md from pair values ``alpha`` (n, k) whose label
    entries are zero: A_ij = α_ij, A_{i,y_i} = −Σ_j α_ij, so that W(α) = −AᵀX/C."""
    A = alpha.copy()
    A[np.arange(A.shape[0]), y] = -alpha.sum(axis=1)
    return A


def pair_patterns(classes, labels, n_classes):
    """Row p is e_{classes[p]} − e_{labels[p]}: the class pattern of pair p, the
    direction its score difference takes in class space; shape (n_pairs, k)."""
    patterns = np.zeros((classes.size, n_classes))
    pairs = np.arange(classes.size)
    patterns[pairs, classes] = 1.0
    patterns[pairs, labels] = -1.0
    return patterns


def class_flows(y, alpha, n_classes):
    """F[c', c] = Σ_{i: y_i = c'} α_ic, shape (k, k); one bincount per column (it
    runs at every duality-gap check of dual_cd, where np.add.at is ~10× slower)."""
    return np.column_stack([np.bincount(y, weights=alpha[:, c], minlength=n_classes)
                            for c in range(n_classes)])


def repair_factors(flows):
    """Factors φ[c', c] ∈ [0, 1] such that the flows φ·F are conserved at every
    class (inflow = outflow), removing as little flow as a flow decomposition does."""
    excess = flows.sum(axis=1) - flows.sum(axis=0)
    removed = _dual_kernels.path_flow(flows, excess,
                                      1e-15 * max(float(flows.sum()), 1e-300))
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(flows > 0, 1.0 - np.clip(removed / flows, 0.0, 1.0), 1.0)


def dual_coef(objective, alpha):
    """W(α) = −AᵀX/C, shape (k, d), from the rows of X (float32 or float64) with no
    copy of X."""
    X = objective.X
    if sp.issparse(X):
        out = np.zeros((objective.n_features, objective.n_classes))
        _dual_kernels.csr_rebuild(X.data, X.indices, X.indptr, objective.y, alpha,
                                  objective.C, out)
        return np.ascontiguousarray(out.T)
    out = np.zeros((objective.n_classes, objective.n_features))
    dense_dual_coef(X, objective.y, alpha, objective.C, out, objective.n_threads)
    return out


def updated_dual_coef(objective, coef, alpha, change):
    """W(α) given ``coef`` = W(α − change), updated from the rows the change
    touches when it touches few entries (``SPARSE_UPDATE_FRACTION``), otherwise
    rebuilt; ``coef`` is not modified."""
    if np.count_nonzero(change) > SPARSE_UPDATE_FRACTION * change.size:
        return dual_coef(objective, alpha)
    X = objective.X
    if sp.issparse(X):
        out = np.array(coef.T, order="C")
        _dual_kernels.csr_add_dual_coef(X.data, X.indices, X.indptr, objective.y,
                                        change, objective.C, out)
        return np.ascontiguousarray(out.T)
    out = np.array(coef, order="C")
    _dual_kernels.dense_add_dual_coef(X, objective.y, change, objective.C, out)
    return out


def dense_dual_coef(X, y, alpha, C, W, n_threads=1):
    """W(α) from scratch for dense X, (k, d) layout, overwriting ``W``: one BLAS
    product for float64 X (nothing to compile), the kernel for float32 X (no
    float64 copy of X), over ranges of rows on up to ``n_threads`` threads (the
    fits limit BLAS to one thread: on all of Fashion-MNIST 28 ms against 56 ms
    on two), their sums added in order."""
    n_chunks = chunk_count(n_threads, X.size * W.shape[0])
    bounds = chunk_bounds(X.shape[0], n_chunks)
    parts = W[None] if n_chunks == 1 else np.empty((n_chunks,) + W.shape)

    def run(c):
        rows = slice(bounds[c], bounds[c + 1])
        if X.dtype != np.float64:
            _dual_kernels.dense_rebuild(X[rows], y[rows], alpha[rows], C, parts[c])
        else:
            np.matmul(pair_coefficients(alpha[rows], y[rows]).T, X[rows], out=parts[c])
            parts[c] /= -C

    run_chunks(run, n_chunks, n_threads)
    if n_chunks > 1:
        parts.sum(axis=0, out=W)


def dual_lower_bound(objective, alpha, coef=None):
    """A lower bound on min J from the dual point α (repaired first when the
    intercept is fitted), and W(α') of the point used. ``coef``, when given, is
    W(α) (exact: built from X's own rows), updated for the repair's change."""
    if objective.fit_intercept:
        factors = repair_factors(class_flows(objective.y, alpha, objective.n_classes))
        if not np.all(factors == 1.0):
            repaired = alpha * factors[objective.y]
            if coef is not None:
                coef = updated_dual_coef(objective, coef, repaired, repaired - alpha)
            alpha = repaired
    if coef is None:
        coef = dual_coef(objective, alpha)
    bound = objective.sample_weight / objective.weight_sum
    loss = get_loss(objective.loss)
    value = loss.dual_value(objective.margin * float(alpha.sum()),
                            0.5 * objective.C * float(np.vdot(coef, coef))
                            + loss.conjugate_sum(alpha, bound))
    return value, coef


def relative_gap(primal, dual):
    """(J − D)/|J|; an overflow at extreme scales (inf − inf) certifies nothing."""
    with np.errstate(invalid="ignore", over="ignore"):
        gap = (primal - dual) / max(abs(primal), np.finfo(float).tiny)
    return gap if np.isfinite(gap) else np.inf


def repaired_gap(objective, coef, intercept, smoothing=0.0):
    """Certified relative gap at ``(coef, intercept)`` from the dual point of its
    (smoothed) loss derivatives, repaired for the intercept; in-memory rows."""
    bound = objective.sample_weight / objective.weight_sum
    _, alpha = dual_point(objective.X, objective.y, bound, coef, intercept,
                          objective.margin, objective.loss, smoothing)
    alpha[bound == 0] = 0.0
    dual, _ = dual_lower_bound(objective, alpha)
    return relative_gap(objective.value(coef, intercept), dual)


# -- the exact active-set finisher ---------------------------------------------------

def partition_from_margins(objective, coef, intercept, free_width):
    """(free, upper) masks read off a primal point: margins in (−0, ``free_width``)
    are free, those at or above it (hinge only) at the bound."""
    margins = pair_margins(objective.X, objective.y, coef, intercept, objective.margin)
    margins[objective.sample_weight == 0] = -np.inf
    at_zero = -ZERO_MARGIN * objective.margin
    if get_loss(objective.loss).bounded:
        upper = margins >= free_width
        return (margins > at_zero) & ~upper, upper
    return margins > at_zero, np.zeros_like(margins, dtype=bool)


def partition_from_alpha(objective, alpha):
    """(free, upper) masks read off a dual point: strictly inside the box, at the
    upper bound."""
    offlabel = _offlabel(objective)
    if get_loss(objective.loss).bounded:
        bound = (objective.sample_weight / objective.weight_sum)[:, None]
        upper = offlabel & (alpha >= bound)
    else:
        upper = np.zeros_like(offlabel)
    return offlabel & (alpha > 0) & ~upper, upper


def count_free(objective, alpha):
    """Number of dual variables strictly inside their box."""
    return int(np.count_nonzero(partition_from_alpha(objective, alpha)[0]))


def finish(objective, free, upper, max_rounds):
    """Exact solutions on the partition (free, upper), corrected for up to
    ``max_rounds`` linear solves while each improves the certified gap.

    Returns
    -------
    (alpha, coef, intercept, relative_gap, objective_value) or None
        The candidate with the smallest certified gap, or None when the free set
        has more than ``MAX_FREE_PAIRS`` pairs or (with an intercept) does not
        determine the intercept (:func:`free_pairs_determine_intercept`).
    """
    bounded = get_loss(objective.loss).bounded
    offlabel = _offlabel(objective)
    cap = (objective.sample_weight / objective.weight_sum)[:, None]
    best = None
    fixed = None
    for _ in range(max_rounds):
        if np.count_nonzero(free) > MAX_FREE_PAIRS or (
                objective.fit_intercept
                and not free_pairs_determine_intercept(objective, free)):
            break
        candidate, fixed = _solve_partition(objective, free, upper, fixed)
        free_i, free_j = np.nonzero(free)
        values = candidate[free_i, free_j]
        low = values < 0
        high = values > cap[free_i, 0] if bounded else np.zeros_like(low)
        new_free = free.copy()
        new_upper = upper.copy()
        new_free[free_i[low | high], free_j[low | high]] = False
        new_upper[free_i[high], free_j[high]] = True
        np.maximum(candidate, 0.0, out=candidate)
        if bounded:
            np.minimum(candidate, cap, out=candidate)
        coef = updated_dual_coef(objective, fixed[1], candidate, candidate - fixed[0])
        intercept = np.zeros(objective.n_classes)
        if objective.fit_intercept:
            intercept = _intercept_from_free(objective, candidate, free & new_free, coef)
        margins = pair_margins(objective.X, objective.y, coef, intercept,
                               objective.margin)
        primal = objective.value_from_margins(margins, coef)
        gap = relative_gap(primal, dual_lower_bound(objective, candidate, coef)[0])
        if best is not None and not gap < best[3]:
            # The corrections stopped helping: on degenerate partitions they
            # cycle (8 rounds at 1.5e-2 on a Fashion-MNIST fold near C_max).
            break
        best = (candidate, coef, intercept, gap, primal)
        # Fixed pairs whose margin has the wrong sign become free.
        new_free |= offlabel & ~free & ~upper & (margins > 0)
        if bounded:
            leave = upper & (margins < 0)
            new_free |= leave
            new_upper &= ~leave
        if np.array_equal(new_free, free) and np.array_equal(new_upper, upper):
            break
        free, upper = new_free, new_upper
    return best


def free_pairs_determine_intercept(objective, free):
    """Whether the free pairs tie every class to every other, so that their
    margin equations determine the intercept up to its constant.

    A free pair (i, j) fixes b_j − b_{y_i}. When the graph on the classes with
    these edges falls apart, the intercept differences between its parts are
    set by inequalities (pairs at their bounds with margin 0), which the
    finisher's linear system cannot express: its system is then singular or
    inconsistent, and its candidate far from the optimum. Measured at the
    largest useful C of a 16000-row Fashion-MNIST fold: the exact solution's
    11 free pairs join the 10 classes in 5 parts, and even that exact partition
    gave a candidate with gap 8.9e-4.
    """
    free_i, free_j = np.nonzero(free)
    k = objective.n_classes
    if free_i.size < k - 1:
        return False
    edges = sp.coo_matrix((np.ones(free_i.size), (objective.y[free_i], free_j)),
                          shape=(k, k))
    return connected_components(edges, directed=False)[0] == 1


def _offlabel(objective):
    """(n, k) mask of the dual variables: j ≠ y_i and s_i > 0."""
    n = objective.y.shape[0]
    mask = np.ones((n, objective.n_classes), dtype=bool)
    mask[np.arange(n), objective.y] = False
    mask[objective.sample_weight == 0] = False
    return mask


def _solve_partition(objective, free, upper, previous=None):
    """α with the fixed pairs at their bounds and the free pairs solving the
    optimality system (module docstring).

    Returns
    -------
    alpha : ndarray of shape (n, k)
    fixed : tuple
        The fixed pairs' part of α (free pairs at 0) and its W; pass it back as
        ``previous`` for the next partition, whose W is then updated from the
        pairs that changed.
    """
    X, y, C, k = objective.X, objective.y, objective.C, objective.n_classes
    bound = objective.sample_weight / objective.weight_sum
    alpha_fixed = np.where(upper, bound[:, None], 0.0)
    if previous is None:
        coef_fixed = dual_coef(objective, alpha_fixed)
    else:
        coef_fixed = updated_dual_coef(objective, previous[1], alpha_fixed,
                                       alpha_fixed - previous[0])
    fixed = (alpha_fixed, coef_fixed)
    alpha = alpha_fixed.copy()
    free_i, free_j = np.nonzero(free)
    n_free = free_i.size
    if n_free == 0:
        return alpha, fixed
    free_t = y[free_i]
    X_free = X[free_i].astype(np.float64)  # stays sparse for CSR X
    scores = np.asarray(X_free @ coef_fixed.T)
    pair = np.arange(n_free)
    rhs = -(objective.margin + scores[pair, free_j] - scores[pair, free_t])
    # m_p changes by −(x_p·x_q / C)·(P Pᵀ)_pq per unit of α_q.
    E = pair_patterns(free_j, free_t, k)
    gram = X_free @ X_free.T
    system = (gram.toarray() if sp.issparse(gram) else gram) * (E @ E.T)
    system *= -1.0 / C
    if not get_loss(objective.loss).bounded:
        system[pair, pair] -= 0.5 / bound[free_i]
    if objective.fit_intercept:
        # b = Z β with Σ b = 0: b_l = β_l (l < k−1), b_{k−1} = −Σ β.
        E_reduced = E[:, :-1] - E[:, -1:]
        flows = class_flows(y, alpha, k)
        imbalance = flows.sum(axis=1) - flows.sum(axis=0)
        system = np.block([[system, E_reduced],
                           [E_reduced.T, np.zeros((k - 1, k - 1))]])
        rhs = np.concatenate([rhs, imbalance[:-1] - imbalance[-1]])
    solution = _solve_symmetric(system, rhs)
    if solution is None:
        # Singular, e.g. duplicated samples: least squares, QR with pivoting.
        solution = scipy.linalg.lstsq(system, rhs, lapack_driver="gelsy")[0]
    alpha[free_i, free_j] = solution[:n_free]
    return alpha, fixed


def _solve_symmetric(system, rhs):
    """The solution of the symmetric (indefinite) ``system``, or None when its
    reciprocal condition number is below the machine epsilon.

    LAPACK's Bunch–Kaufman factorization and condition estimate, as
    ``scipy.linalg.solve(assume_a="sym")`` runs them, but returning None where
    that warns: turning its warning into an error would take a process-wide
    warnings filter, which other threads see."""
    system = np.asarray(system, dtype=np.float64)
    factor, solve, condition, norm = scipy.linalg.get_lapack_funcs(
        ("sytrf", "sytrs", "sycon", "lange"), (system,))
    ldu, pivots, info = factor(system)
    if info != 0:
        return None
    rcond, info = condition(ldu, pivots, norm("1", system))
    if info != 0 or not rcond >= np.finfo(np.float64).eps:
        return None
    solution, info = solve(ldu, pivots, rhs)
    return solution if info == 0 and np.all(np.isfinite(solution)) else None


def _intercept_from_free(objective, alpha, free, coef):
    """Intercepts (Σ b = 0) making the free pairs' margins as close as possible to
    their optimal values, by least squares; zeros when nothing is free."""
    k = objective.n_classes
    free_i, free_j = np.nonzero(free)
    if free_i.size == 0:
        return np.zeros(k)
    free_t = objective.y[free_i]
    scores = np.asarray(objective.X[free_i] @ coef.T)
    pair = np.arange(free_i.size)
    target = 0.0
    if not get_loss(objective.loss).bounded:
        bound = objective.sample_weight[free_i] / objective.weight_sum
        target = alpha[free_i, free_j] * 0.5 / bound
    rhs = target - (objective.margin + scores[pair, free_j] - scores[pair, free_t])
    E = np.vstack([pair_patterns(free_j, free_t, k), np.ones(k)])
    return scipy.linalg.lstsq(E, np.append(rhs, 0.0), lapack_driver="gelsy")[0]
