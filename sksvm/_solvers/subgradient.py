"""Stochastic (mini-batch) or full-batch subgradient descent, Pegasos-type.

Step t uses η_t = 1/(C (t + t0)): the iterate is shrunk by (1 − η_t C) for the
penalty, then moved against the batch's loss subgradient, normalized by the batch's
expected share of the total sample weight (an unbiased estimate of the gradient).
The returned model is the running average of the iterates, which gives the
O(1/(C t)) rate. With ``batch_size`` None (or ≥ n) every step sees the whole data
set in a fixed order, so the solver is deterministic.

The offset t0 sets the first step to a fraction of ``margin / mean(‖x_i − μ‖²)`` (a
step that would move a typical score by one margin), instead of Pegasos' 1/C, which
overshoots badly for small C. Iterates are averaged with weights growing like t².
With an intercept the steps are taken on rows centred on their weighted mean μ
(implicitly for sparse X): the intercept is unpenalized, and on uncentred data it
is otherwise strongly coupled to the weights.
"""

import bisect
import copy
from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp
from numba import njit

from .._kernels import _margin_derivatives
from .._losses import SQUARED_HINGE, get_loss
from ._base import ProgressLog, SolverResult, announce_compile

REQUIRES = ("rows_in_memory",)


@dataclass
class SubgradientState:
    """Everything needed to continue the subgradient iteration (``partial_fit``).

    ``coef``/``intercept`` are the current iterate; ``coef_avg``/``intercept_avg``
    its weighted running average, which is the model; ``average_weight`` is the sum
    of the averaging weights so far; ``n_steps`` counts the steps taken and ``t0`` is
    the step offset. ``center`` is the point μ the iteration centres the rows on
    (the weighted mean of the first data seen, or zero without an intercept): the
    steps act on the parameters (W, b + Wμ) of the centred problem, which has the
    same solutions but decouples the intercept from the weights on uncentred data.
    The intercept moves ``intercept_step_scale`` (the mean ‖x − μ‖²) times faster
    than the weights, as the weight of a constant feature of that squared norm
    would: the steps are then invariant to the scale of the features.
    ``fit_intercept`` is the setting the state was built for: a state is continued
    only by fits with the same setting.
    """

    coef: np.ndarray
    intercept: np.ndarray
    coef_avg: np.ndarray
    intercept_avg: np.ndarray
    n_steps: int
    t0: float
    center: np.ndarray
    intercept_step_scale: float
    fit_intercept: bool
    average_weight: float = 0.0

    @classmethod
    def start(cls, objective, coef, intercept):
        """A fresh state at ``(coef, intercept)`` with step sizes set from the data."""
        X, sample_weight = objective.X, objective.sample_weight
        C, margin = objective.C, objective.margin
        center = (_weighted_mean_row(X, sample_weight) if objective.fit_intercept
                  else np.zeros(X.shape[1]))
        mean_sq_norm = _mean_squared_norm(X, sample_weight, center)
        t0 = max(1.0, T0_FACTOR * mean_sq_norm / (C * margin))
        # = mean_sq_norm unless that is tiny: the first intercept step is then
        # still a quarter margin per unit of loss derivative.
        intercept_step_scale = C * margin * t0 / T0_FACTOR
        return cls(coef.copy(), intercept.copy(), coef.copy(), intercept.copy(), 0, t0,
                   center, intercept_step_scale, objective.fit_intercept)

    @classmethod
    def continue_or_start(cls, objective, start):
        """A copy of ``start.state`` when it continues this problem's iteration (same
        ``fit_intercept``), else a fresh state at the start point."""
        state = start.state
        if isinstance(state, cls) and state.fit_intercept == objective.fit_intercept:
            return copy.deepcopy(state)
        return cls.start(objective, start.coef, start.intercept)


# Lazy representation used inside an epoch (Xu 2011-style averaged SGD):
#   W = scale · V                      (the shrink (1 − ηC) only touches ``scale``)
#   Σ_{τ≤t} W_τ = U + a · V            (the running sum behind the average)
# A step that changes V by a sparse ΔV updates U by −a·ΔV and then a by the new
# scale, so one step costs O(k · nnz(x)) for every batch row instead of O(k · d).
# When ``scale`` gets tiny, V is rescaled (O(k · d), rarely).
_MIN_SCALE = 1e-9
# Step t enters the average with weight t**AVERAGE_POWER, so that the early, poor
# iterates fade (weights ∝ t already give the O(1/(C t)) rate without a log
# factor); measured best (benchmarks/results/architecture_notes.md).
AVERAGE_POWER = 2.0
# The first step is margin / (T0_FACTOR · mean ‖x‖²); measured best, as above.
T0_FACTOR = 4.0


@njit(cache=True)
def _step_curvature(row_coeffs, label, weight, row_sq_norm):
    """Bound on how fast a squared-hinge step moves this row's own margins.

    A step of size η on row i changes its margins m_ij by at most
    η·2·s_i·(1 + v_i)·‖x_i − μ‖²·max_j m_ij, with v_i its violated classes (the
    derivatives 2m grow with the margins; the hinge's are bounded and need no cap).
    """
    violated = 0
    for j in range(row_coeffs.shape[0]):
        if j != label and row_coeffs[j] != 0.0:
            violated += 1
    return 2.0 * weight * (1 + violated) * row_sq_norm


@njit(cache=True)
def _capped_step(n_steps, t0, C, curvature, batch_mass):
    """η_t = 1/(C (t + t0)), at most the step at which some row's own term
    would overshoot its squared-hinge margins (batch_mass / curvature, with the
    batch's largest curvature): without the cap, single-sample steps on rows of
    norm far above the mean diverge."""
    eta = 1.0 / (C * (n_steps + t0))
    if curvature > 0.0:
        eta = min(eta, batch_mass / curvature)
    return eta


@njit(cache=True)
def _epoch_dense(X, y, sample_weight, order, batch_size, V, intercept, U,
                 intercept_sum, center, n_steps, t0, C, loss_code, margin,
                 fit_intercept, intercept_step_scale, average_power, mean_weight):
    """One pass over ``order`` on dense X with V, U in the (k, d) layout.

    Rows enter as x − ``center``; ``intercept`` is the centred problem's.
    Returns ``(n_steps, scale, a, weight_sum)``; on return W = scale·V and the sum
    of all iterates is U + a·V.
    """
    k, d = V.shape
    n = order.shape[0]
    coeffs = np.zeros((batch_size, k))
    z = np.empty(k)
    row_coeffs = np.empty(k)
    stats = np.zeros(4)
    scale = 1.0
    a = 0.0
    weight_sum = 0.0
    for lo in range(0, n, batch_size):
        hi = min(lo + batch_size, n)
        any_nonzero = False
        curvature = 0.0
        for r in range(lo, hi):  # every score of the batch at the current iterate
            i = order[r]
            coeffs[r - lo, :] = 0.0
            s = sample_weight[i]
            if s == 0.0:
                continue
            for j in range(k):
                acc = 0.0
                for f in range(d):
                    acc += (X[i, f] - center[f]) * V[j, f]
                z[j] = scale * acc + intercept[j]
            if _margin_derivatives(z, y[i], s, loss_code, margin, 0.0, row_coeffs,
                                   stats):
                any_nonzero = True
                coeffs[r - lo, :] = row_coeffs
                if loss_code == SQUARED_HINGE:
                    sq_norm = 0.0
                    for f in range(d):
                        sq_norm += (X[i, f] - center[f]) ** 2
                    curvature = max(curvature, _step_curvature(row_coeffs, y[i], s,
                                                               sq_norm))
        n_steps += 1
        eta = _capped_step(n_steps, t0, C, curvature, (hi - lo) * mean_weight)
        scale *= 1.0 - eta * C
        # The batch's share of the total weight S is (hi − lo)·S/n on average: this
        # normalization keeps the step an unbiased estimate of the full gradient
        # (dividing by the batch's own weight would cancel the weights of a
        # single-sample batch).
        step = eta / ((hi - lo) * mean_weight)
        if any_nonzero:
            factor = step / scale
            for r in range(lo, hi):
                i = order[r]
                for j in range(k):
                    c = coeffs[r - lo, j]
                    if c != 0.0:
                        for f in range(d):
                            delta = -factor * c * (X[i, f] - center[f])
                            V[j, f] += delta
                            U[j, f] -= a * delta
                        if fit_intercept:
                            intercept[j] -= step * intercept_step_scale * c
        weight = float(n_steps) ** average_power
        a += weight * scale
        intercept_sum += weight * intercept
        weight_sum += weight
        if scale < _MIN_SCALE:
            V *= scale
            a /= scale
            scale = 1.0
    return n_steps, scale, a, weight_sum


@njit(cache=True)
def _epoch_csr(data, indices, indptr, y, sample_weight, order, batch_size, V_t,
               intercept, U_t, intercept_sum, center, row_dot_center, n_steps, t0, C,
               loss_code, margin, fit_intercept, intercept_step_scale, average_power,
               mean_weight):
    """CSR counterpart of :func:`_epoch_dense`, with V, U in the (d, k) layout.

    Centring must not densify the rows, so it is lazy as well: the centred
    iterate is scale·(V − center ⊗ g) and the sum of iterates U − center ⊗ h + a·(V −
    center ⊗ g), with the k-vectors g, h taking the steps' ``center`` parts.
    ``row_dot_center`` holds x_i·center. Returns ``(n_steps, scale, a, weight_sum,
    g, h)``.
    """
    d, k = V_t.shape
    n = order.shape[0]
    coeffs = np.zeros((batch_size, k))
    z = np.empty(k)
    row_coeffs = np.empty(k)
    stats = np.zeros(4)
    g = np.zeros(k)
    h = np.zeros(k)
    center_sq = 0.0
    for f in range(d):
        center_sq += center[f] * center[f]
    V_dot_center = np.zeros(k)  # V_j · center, kept up to date
    if fit_intercept:
        for f in range(d):
            for j in range(k):
                V_dot_center[j] += V_t[f, j] * center[f]
    scale = 1.0
    a = 0.0
    weight_sum = 0.0
    for lo in range(0, n, batch_size):
        hi = min(lo + batch_size, n)
        any_nonzero = False
        curvature = 0.0
        for r in range(lo, hi):
            i = order[r]
            coeffs[r - lo, :] = 0.0
            s = sample_weight[i]
            if s == 0.0:
                continue
            z[:] = 0.0
            for p in range(indptr[i], indptr[i + 1]):
                f = indices[p]
                v = data[p]
                for j in range(k):
                    z[j] += v * V_t[f, j]
            for j in range(k):
                # (V_j − g_j·center)·(x_i − center)
                centred = (z[j] - g[j] * row_dot_center[i]
                           - V_dot_center[j] + g[j] * center_sq)
                z[j] = scale * centred + intercept[j]
            if _margin_derivatives(z, y[i], s, loss_code, margin, 0.0, row_coeffs,
                                   stats):
                any_nonzero = True
                coeffs[r - lo, :] = row_coeffs
                if loss_code == SQUARED_HINGE:
                    sq_norm = center_sq - 2.0 * row_dot_center[i]
                    for p in range(indptr[i], indptr[i + 1]):
                        sq_norm += data[p] * data[p]
                    curvature = max(curvature, _step_curvature(row_coeffs, y[i], s,
                                                               max(sq_norm, 0.0)))
        n_steps += 1
        eta = _capped_step(n_steps, t0, C, curvature, (hi - lo) * mean_weight)
        scale *= 1.0 - eta * C
        step = eta / ((hi - lo) * mean_weight)  # as in _epoch_dense
        if any_nonzero:
            factor = step / scale
            for r in range(lo, hi):
                i = order[r]
                for p in range(indptr[i], indptr[i + 1]):
                    f = indices[p]
                    v = data[p]
                    for j in range(k):
                        c = coeffs[r - lo, j]
                        if c != 0.0:
                            delta = -factor * c * v
                            V_t[f, j] += delta
                            U_t[f, j] -= a * delta
                if fit_intercept:
                    for j in range(k):
                        c = coeffs[r - lo, j]
                        intercept[j] -= step * intercept_step_scale * c
                        V_dot_center[j] -= factor * c * row_dot_center[i]
                        g[j] -= factor * c
                        h[j] += a * factor * c
        weight = float(n_steps) ** average_power
        a += weight * scale
        intercept_sum += weight * intercept
        weight_sum += weight
        if scale < _MIN_SCALE:
            V_t *= scale
            g *= scale
            V_dot_center *= scale
            a /= scale
            scale = 1.0
    return n_steps, scale, a, weight_sum, g, h


def _weighted_mean_row(X, sample_weight):
    return np.asarray(X.T @ sample_weight, dtype=np.float64).ravel() / sample_weight.sum()


def _mean_squared_norm(X, sample_weight, center):
    """Weighted mean of ‖x_i − center‖², without forming X − center."""
    if sp.issparse(X):
        sq_norms = np.asarray(X.multiply(X).sum(axis=1), dtype=np.float64).ravel()
    else:
        sq_norms = np.einsum("ij,ij->i", X, X, dtype=np.float64)
    sq_norms += float(center @ center) - 2.0 * np.asarray(X @ center, dtype=np.float64)
    return float(np.average(np.maximum(sq_norms, 0.0), weights=sample_weight))


def run_epoch(objective, state, order, batch_size):
    """One pass over ``objective``'s data in ``order``, updating ``state`` in place."""
    X = objective.X
    sparse = sp.issparse(X)
    center = state.center
    # Lazy form for the epoch: V = W (scale 1), U = weighted sum of past iterates;
    # the intercept is the centred problem's, b + W·center.
    past_weight = state.average_weight
    V = np.array(state.coef.T if sparse else state.coef, order="C")
    U = np.array((state.coef_avg * past_weight).T if sparse
                 else state.coef_avg * past_weight, order="C")
    intercept = state.intercept + state.coef @ center
    intercept_sum = (state.intercept_avg + state.coef_avg @ center) * past_weight
    args = (objective.y, objective.sample_weight, order, batch_size)
    tail = (state.n_steps, state.t0, objective.C, get_loss(objective.loss).code,
            objective.margin, objective.fit_intercept, state.intercept_step_scale,
            AVERAGE_POWER, objective.weight_sum / X.shape[0])
    if sparse:
        row_dot_center = (np.asarray(X @ center, dtype=np.float64)
                          if objective.fit_intercept else np.zeros(X.shape[0]))
        n_steps, scale, a, weight_sum, g, h = _epoch_csr(
            X.data, X.indices, X.indptr, *args, V, intercept, U, intercept_sum,
            center, row_dot_center, *tail)
        V = (V - np.outer(center, g)).T
        U = (U - np.outer(center, h)).T
    else:
        n_steps, scale, a, weight_sum = _epoch_dense(
            X, *args, V, intercept, U, intercept_sum, center, *tail)
    if n_steps == state.n_steps:
        return
    state.n_steps = n_steps
    state.average_weight = past_weight + weight_sum
    state.coef = np.ascontiguousarray(scale * V)
    state.coef_avg = np.ascontiguousarray((U + a * V) / state.average_weight)
    state.intercept = intercept - state.coef @ center
    state.intercept_avg = (intercept_sum / state.average_weight
                           - state.coef_avg @ center)


def solve(objective, start, *, tol, max_iter, random_state, verbose=0,
          batch_size=None):
    """Run epochs until the averaged objective's relative change is ≤ tol.

    The change is measured since the epoch at which half of the steps so far had
    been taken: were the rate exactly O(1/t), the decrease over the last doubling
    of t would estimate the excess J − J* that remains (a change per epoch would
    not: on small data an epoch is a few steps). The rate does not always hold
    (on separable data the averaged objective stalls, and even rises, for long
    stretches), so the fit counts as converged only when the certified duality gap
    confirms the estimate; otherwise the result says ``uncertified_stop``.

    Parameters
    ----------
    objective : MulticlassSVMObjective
    start : Start
        Start point; a :class:`SubgradientState` in ``start.state`` (from a fit
        with the same ``fit_intercept``) continues that iteration and its step
        sizes.
    tol : float
    max_iter : int
        Maximum number of epochs.
    random_state : numpy.random.RandomState
        Draws the sample order of each epoch when batches are smaller than n.
    verbose : int
    batch_size : int, "auto" or None
        See :func:`resolved_batch_size`; a full batch is taken in a fixed order.

    Returns
    -------
    SolverResult
        With the :class:`SubgradientState` reached, for warm starts and
        ``partial_fit``.
    """
    announce_compile("subgradient", (_epoch_csr if sp.issparse(objective.X)
                                     else _epoch_dense,), verbose)
    state = SubgradientState.continue_or_start(objective, start)
    log = ProgressLog("subgradient", verbose)
    n = objective.X.shape[0]
    batch = resolved_batch_size(batch_size, n)
    full_batch = batch >= n
    steps_seen = [state.n_steps]
    values_seen = [objective.value(state.coef_avg, state.intercept_avg)]
    estimate_met = False
    change = np.inf
    epoch = 0
    rows = np.arange(n, dtype=np.int64)
    for epoch in range(1, max_iter + 1):
        order = rows if full_batch else random_state.permutation(n).astype(np.int64)
        run_epoch(objective, state, order, batch)
        current = objective.value(state.coef_avg, state.intercept_avg)
        # The last epoch that ended with at most half of the steps taken so far.
        half = bisect.bisect_right(steps_seen, state.n_steps // 2) - 1
        reference = values_seen[max(half, 0)]
        change = abs(reference - current) / max(abs(current), np.finfo(float).tiny)
        log.record(epoch, current, objective.n_evaluations, change,
                   extra=f"steps {state.n_steps}  ")
        steps_seen.append(state.n_steps)
        values_seen.append(current)
        if change <= tol:
            estimate_met = True
            break
    gap = scaled_dual_gap(objective, state.coef_avg, state.intercept_avg)
    return SolverResult(coef=state.coef_avg.copy(), intercept=state.intercept_avg.copy(),
                        n_iter=epoch, converged=estimate_met and gap <= tol,
                        criterion=change, duality_gap=gap, history=log.records,
                        state=state, uncertified_stop=estimate_met and not gap <= tol)


# Rows per step of batch_size="auto": one step per sample made the most progress
# per epoch (benchmarks/results/subgradient_batch_size.md).
AUTO_BATCH_SIZE = 1


def resolved_batch_size(batch_size, n_samples):
    """The rows per step: ``"auto"`` is ``AUTO_BATCH_SIZE``, None the full batch,
    and no step takes more than ``n_samples`` rows."""
    if batch_size is None:
        return n_samples
    if batch_size == "auto":
        batch_size = AUTO_BATCH_SIZE
    return min(int(batch_size), n_samples)


def partial_fit_epoch(objective, start, *, batch_size, random_state):
    """One epoch over ``objective``'s data from ``start`` (``partial_fit``).

    Returns
    -------
    SolverResult
        ``duality_gap`` is NaN: one pass over a chunk certifies nothing.
    """
    state = SubgradientState.continue_or_start(objective, start)
    n = objective.X.shape[0]
    batch = resolved_batch_size(batch_size, n)
    order = (np.arange(n, dtype=np.int64) if batch >= n
             else random_state.permutation(n).astype(np.int64))
    run_epoch(objective, state, order, batch)
    return SolverResult(coef=state.coef_avg.copy(), intercept=state.intercept_avg.copy(),
                        n_iter=1, converged=False, criterion=np.nan,
                        duality_gap=np.nan, state=state)


def scaled_dual_gap(objective, coef, intercept):
    """Relative duality gap at ``(coef, intercept)`` from the dual point
    α = (s/S)·ℓ'(m), scaled by the best θ in [0, 1] (θα stays feasible, and
    D(θα) = θL − θ²Q is maximized in closed form). With an intercept it bounds the
    suboptimality with the intercept held at its value."""
    ev = objective.evaluate(coef, intercept)
    linear = ev.dual_margin_term + float(np.dot(intercept, ev.grad_intercept))
    quadratic = (0.5 * objective.C * float(np.vdot(ev.dual_coef, ev.dual_coef))
                 + ev.dual_conjugate)
    theta = min(1.0, max(0.0, linear / (2 * quadratic))) if quadratic > 0 else 1.0
    dual = max(ev.dual_value, theta * linear - theta ** 2 * quadratic)
    return float((ev.true_value - dual) / max(abs(ev.true_value), np.finfo(float).tiny))
