"""Exact dual block coordinate ascent (``solver="dual_cd"``).

The dual of the Weston–Watkins problem (MATH.md) has one block of k−1 variables
α_ij ∈ [0, c_i], c_i = s_i/S, per sample. Each epoch visits the samples in a random
order (drawn from ``random_state``) and maximizes the dual exactly over one block
at a time (O(k log k) by sorting, :func:`sksvm._dual_kernels.solve_block`), keeping
W = W(α) up to date: a block update touches the k rows of W at the nonzeros of
x_i only, so an epoch costs O(nnz·k). The squared hinge is handled the same way: its
dual has no upper bound and a diagonal term Σ α_ij²/(4 c_i).

Stopping. Every ``check_interval`` data passes' worth of work, a full pass computes
the primal J(W, b) at W = W(α); with the dual value D(α) this gives the relative
duality gap (J − D)/J, and the solver stops once it is ≤ ``tol``. Without an
intercept that gap certifies J(W) − min J ≤ tol·J(W) (exactly, up to the
floating-point drift of the incrementally updated W, ~1e-13 relative).

Shrinking (as liblinear does). A block whose variables all sit at a bound with
their dual gradient (the margins m_ij) beyond the previous epoch's largest KKT
violation on the right side is dropped from the following epochs. Every check
pass re-tests all samples and brings back those that no longer satisfy the test,
and the stopping test is always the gap over all samples, so shrinking never
changes what convergence means.

Intercept, exactly. The unpenalized intercept adds the equality constraints
ρ(α) = Σ_i Σ_{j≠y_i} α_ij (e_{y_i} − e_j) = 0 to the dual, which couple all blocks.
They are handled by the method of multipliers (equivalently, the proximal point
method on b): the inner problem

    min_{W, b} J(W, b) + (1/(2λ)) ‖b − b_center‖²

is the "intercept as a constant feature" problem of liblinear (feature value σ,
λ = σ²/C) with its penalty centered at b_center instead of 0. Its dual is box
constrained, so block coordinate ascent applies unchanged, with b = b_center +
λ ρ(α). When its gap is below ``tol``, a certified gap of the *unpenalized* problem
is computed: α is repaired into a point of the exact dual (ρ = 0) by removing the
source-to-sink paths of the class-to-class flow F_tj = Σ_{y_i=t} α_ij (flow
decomposition; each α_ij is scaled down by the same factor within its (y_i, j)
pair, so the box is kept), and J(W, b) − D(α_repaired) bounds J(W, b) − min J. If
that meets ``tol`` the solver stops, else the center moves to the current b (the
multiplier update) and the epochs go on. σ² is the mean ‖x_i‖², which makes the
intercept's column as large as a typical sample; the result does not depend on it.
"""

import numpy as np
import scipy.sparse as sp
from dataclasses import dataclass
from numba import njit

from .. import _dual_kernels as K
from ._result import ProgressLog, SolverResult


@dataclass
class DualCDResult(SolverResult):
    """:class:`SolverResult` plus the dual point, for warm starts.

    Attributes
    ----------
    alpha : ndarray of shape (n, k)
        The dual variables α_ij (zero on the label entries).
    center : ndarray of shape (k,)
        The last intercept center of the method of multipliers (zeros without an
        intercept).
    """

    alpha: np.ndarray = None
    center: np.ndarray = None


@njit(cache=True)
def _dense_sq_norms(X):
    n, d = X.shape
    out = np.empty(n)
    for i in range(n):
        acc = 0.0
        for f in range(d):
            v = float(X[i, f])
            acc += v * v
        out[i] = acc
    return out


@njit(cache=True)
def _csr_sq_norms(data, indptr):
    n = indptr.shape[0] - 1
    out = np.empty(n)
    for i in range(n):
        acc = 0.0
        for p in range(indptr[i], indptr[i + 1]):
            v = float(data[p])
            acc += v * v
        out[i] = acc
    return out


class _Problem:
    """The data and the solver's state in kernel-ready form."""

    def __init__(self, objective):
        X = objective.X
        self.sparse = sp.issparse(X)
        self.X = X
        self.y = objective.y
        self.sample_weight = objective.sample_weight
        self.S = objective.weight_sum
        self.bound = objective.sample_weight / self.S
        self.C = objective.C
        self.margin = objective.margin
        self.k = objective.n_classes
        self.d = objective.n_features
        self.n = X.shape[0]
        self.bounded = objective.loss == "hinge"
        self.n_threads = objective.n_threads
        self.fit_intercept = objective.fit_intercept
        if self.sparse:
            self.sq_norms = _csr_sq_norms(X.data, X.indptr)
            self.nnz = max(int(X.nnz), 1)
        else:
            self.sq_norms = _dense_sq_norms(X)
            self.nnz = max(self.n * self.d, 1)
        if self.fit_intercept:
            positive = self.sample_weight > 0
            sigma2 = float(np.mean(self.sq_norms[positive]))
            self.lam = (sigma2 if sigma2 > 0 else 1.0) / self.C
        else:
            self.lam = 0.0
        self.qv = self.sq_norms / self.C + self.lam
        shape = (self.d, self.k) if self.sparse else (self.k, self.d)
        self.W = np.zeros(shape)
        self.B = np.zeros(self.k)

    # -- kernels -----------------------------------------------------------------
    def epoch(self, order, n_active, alpha, shrink, eps):
        args = (self.y, self.bound, self.qv, order, n_active, self.W, self.B, alpha,
                self.lam, self.C, self.margin, self.bounded, shrink, eps)
        if self.sparse:
            X = self.X
            return K.csr_epoch(X.data, X.indices, X.indptr, *args)
        return K.dense_epoch(self.X, *args)

    def gap_pass(self, alpha, eps, shrinkable):
        """(Σ s_i Σ ℓ, Σ α, conjugate sum) at the current (W, B)."""
        tail = (self.y, self.sample_weight, self.bound, alpha, self.W, self.B,
                self.margin, self.bounded, not self.bounded, eps, self.n_threads,
                shrinkable)
        if self.sparse:
            X = self.X
            return K.csr_gap_pass(X.data, X.indices, X.indptr, *tail)
        return K.dense_gap_pass(self.X, *tail)

    def rebuild(self, alpha, out):
        if self.sparse:
            X = self.X
            K.csr_rebuild(X.data, X.indices, X.indptr, self.y, alpha, self.C, out)
        else:
            K.dense_rebuild(self.X, self.y, alpha, self.C, out)
        return out

    # -- dual pieces -------------------------------------------------------------
    def class_flow(self, alpha):
        """F_tj = Σ_{i: y_i = t} α_ij, (k, k)."""
        F = np.zeros((self.k, self.k))
        for t in range(self.k):
            rows = self.y == t
            if np.any(rows):
                F[t] = alpha[rows].sum(axis=0)
        return F

    def rho(self, alpha):
        """ρ(α) = Σ_i Σ_j α_ij (e_{y_i} − e_j): net outflow of the class flow."""
        F = self.class_flow(alpha)
        return F.sum(axis=1) - F.sum(axis=0)

    def conjugate(self, alpha):
        if self.bounded:
            return 0.0
        positive = self.bound > 0
        a = alpha[positive]
        return float(np.sum(a * a / (4.0 * self.bound[positive, None])))

    def dual_value(self, alpha_sum, conjugate, W):
        return (self.margin * alpha_sum - 0.5 * self.C * float(np.vdot(W, W))
                - conjugate)

    def certified_intercept_dual(self, alpha):
        """D(α̃) for the repaired α̃ with ρ(α̃) = 0: a lower bound on min J with an
        unpenalized intercept."""
        F = self.class_flow(alpha)
        excess = F.sum(axis=1) - F.sum(axis=0)
        P = K.path_flow(F, excess, 1e-15 * max(float(F.sum()), 1e-300))
        with np.errstate(divide="ignore", invalid="ignore"):
            keep = np.where(F > 0, 1.0 - np.clip(P / F, 0.0, 1.0), 1.0)
        repaired = alpha * keep[self.y]
        W = self.rebuild(repaired, np.empty_like(self.W))
        return self.dual_value(float(repaired.sum()), self.conjugate(repaired), W)

    def coef(self):
        return np.ascontiguousarray(self.W.T) if self.sparse else self.W.copy()


def minimize_dual_cd(objective, *, tol, max_iter, random_state, alpha0=None,
                     center0=None, shrinking=True, check_interval=1.0, verbose=0):
    """Maximize the dual of ``objective`` by exact block coordinate ascent.

    Parameters
    ----------
    objective : MulticlassSVMObjective
    tol : float
        Target relative duality gap (J − D)/J.
    max_iter : int
        Maximum number of epochs.
    random_state : numpy.random.RandomState
        Draws the sample order of every epoch.
    alpha0 : ndarray of shape (n, k) or None
        Dual start point (clipped into the box); zeros when None.
    center0 : ndarray of shape (k,) or None
        Start center of the intercept's method of multipliers (e.g. the previous
        intercept); zeros when None. Ignored without an intercept.
    shrinking : bool
        Skip blocks that sit at their bounds (module docstring).
    check_interval : float
        A duality-gap pass is made once the epochs since the last one have read
        this many times the nonzeros of X (and after the last epoch).
    verbose : int

    Returns
    -------
    DualCDResult
    """
    log = ProgressLog("dual_cd", verbose)
    pb = _Problem(objective)
    n, k = pb.n, pb.k
    rows = np.arange(n)
    alpha = np.zeros((n, k))
    if alpha0 is not None:
        alpha[:] = np.maximum(alpha0, 0.0)
        if pb.bounded:
            np.minimum(alpha, pb.bound[:, None], out=alpha)
        alpha[rows, pb.y] = 0.0
        alpha[pb.sample_weight == 0] = 0.0
    center = np.zeros(k)
    if pb.fit_intercept and center0 is not None:
        center[:] = center0
    if np.any(alpha):
        pb.rebuild(alpha, pb.W)
    if pb.fit_intercept:
        pb.B[:] = center + pb.lam * pb.rho(alpha)

    all_active = np.flatnonzero(objective.sample_weight > 0).astype(np.int64)
    order = all_active.copy()
    n_active = order.shape[0]
    shrinkable = np.zeros(n, dtype=np.bool_)
    eps = np.inf
    work_since_check = 0
    n_checks = 0
    converged = False
    gap = np.inf
    epoch = 0
    tiny = np.finfo(float).tiny

    def check(epoch):
        """Gap pass; updates the active set. Returns (relative gap, converged)."""
        nonlocal order, n_active, n_checks
        n_checks += 1
        if pb.fit_intercept:  # refresh b from α (removes rounding drift)
            pb.B[:] = center + pb.lam * pb.rho(alpha)
        loss_sum, alpha_sum, conj = pb.gap_pass(alpha, eps if shrinking else np.inf,
                                                shrinkable)
        primal = loss_sum / pb.S + 0.5 * pb.C * float(np.vdot(pb.W, pb.W))
        scale = max(abs(primal), tiny)
        dual = pb.dual_value(alpha_sum, conj, pb.W)
        extra = ""
        if pb.fit_intercept:
            # Dual of the problem at fixed b = B: equals the inner problem's gap.
            dual -= float(np.dot(pb.B, pb.rho(alpha)))
            inner_gap = (primal - dual) / scale
            relative = inner_gap
            if inner_gap <= tol:
                relative = (primal - pb.certified_intercept_dual(alpha)) / scale
                extra = f"inner gap {inner_gap:.2e}  "
                if relative > tol:
                    # Multiplier update: recenter at the current intercept.
                    center[:] = pb.B
                    pb.B[:] = center + pb.lam * pb.rho(alpha)
                    shrinkable[:] = False
        else:
            relative = (primal - dual) / scale
        done = relative <= tol
        if shrinking and not done:
            order = np.flatnonzero(~shrinkable).astype(np.int64)
            n_active = order.shape[0]
        log.record(epoch, primal, n_checks, relative,
                   extra=f"{extra}active {n_active}/{all_active.shape[0]}  ")
        return relative, done

    gap, converged = check(0)
    while not converged and epoch < max_iter:
        epoch += 1
        if n_active > 1:
            order[:n_active] = order[:n_active][random_state.permutation(n_active)]
        n_active, max_viol, work = pb.epoch(order, n_active, alpha, shrinking, eps)
        eps = max_viol
        work_since_check += work
        if (work_since_check >= check_interval * pb.nnz or n_active == 0
                or epoch == max_iter):
            work_since_check = 0
            gap, converged = check(epoch)
            if not converged and n_active == 0:
                # Every block is at its bounds for the current W: bring all back.
                order = all_active.copy()
                n_active = order.shape[0]
                eps = 0.0

    intercept = pb.B.copy() if pb.fit_intercept else np.zeros(k)
    return DualCDResult(coef=pb.coef(), intercept=intercept, n_iter=epoch,
                        converged=converged, gap=gap, history=log.records,
                        alpha=alpha, center=center.copy())
