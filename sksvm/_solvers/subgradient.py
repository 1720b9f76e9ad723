"""Stochastic (mini-batch) or full-batch subgradient descent, Pegasos-type.

Step t uses η_t = 1/(C (t + t0)): the iterate is shrunk by (1 − η_t C) for the
penalty, then moved against the batch's loss subgradient, normalized by the batch's
total sample weight. The returned model is the running average of the iterates,
which gives the O(1/(C t)) rate. With ``batch_size`` None (or ≥ n) every step sees the
whole data set in a fixed order, so the solver is deterministic.

The offset t0 sets the first step to about ``margin / mean(‖x_i‖²)``: a step that
moves a typical score by about one margin, instead of Pegasos' 1/C, which
overshoots badly for small C.
"""

from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp
from numba import njit

from .._kernels import csr_rows_loss_grad, dense_rows_loss_grad
from ._result import ProgressLog, SolverResult


@dataclass
class SubgradientState:
    """Everything needed to continue the subgradient iteration (``partial_fit``).

    ``coef``/``intercept`` are the current iterate; ``coef_avg``/``intercept_avg``
    its running average, which is the model; ``n_steps`` counts the steps taken and
    ``t0`` is the step offset.
    """

    coef: np.ndarray
    intercept: np.ndarray
    coef_avg: np.ndarray
    intercept_avg: np.ndarray
    n_steps: int
    t0: float

    @classmethod
    def start(cls, coef, intercept, t0):
        return cls(coef.copy(), intercept.copy(), coef.copy(), intercept.copy(), 0, t0)


@njit(cache=True)
def _apply_step(coef, intercept, coef_avg, intercept_avg, grad, grad_intercept,
                eta, C, batch_weight, fit_intercept, n_avg):
    """One Pegasos step on ``coef`` (either layout) and the running average."""
    shrink = 1.0 - eta * C
    scale = eta / batch_weight
    flat = coef.reshape(-1)
    flat_grad = grad.reshape(-1)
    flat_avg = coef_avg.reshape(-1)
    avg_weight = 1.0 / n_avg
    for p in range(flat.shape[0]):
        flat[p] = shrink * flat[p] - scale * flat_grad[p]
        flat_avg[p] += avg_weight * (flat[p] - flat_avg[p])
    if fit_intercept:
        for j in range(intercept.shape[0]):
            intercept[j] -= scale * grad_intercept[j]
            intercept_avg[j] += avg_weight * (intercept[j] - intercept_avg[j])


@njit(cache=True)
def _batch_weight(sample_weight, order, lo, hi):
    total = 0.0
    for r in range(lo, hi):
        total += sample_weight[order[r]]
    return total


@njit(cache=True)
def _epoch_dense(X, y, sample_weight, order, batch_size, coef, intercept, coef_avg,
                 intercept_avg, n_steps, t0, C, loss_code, margin, fit_intercept):
    grad = np.zeros_like(coef)
    grad_intercept = np.zeros_like(intercept)
    stats = np.zeros(4)
    n = order.shape[0]
    for lo in range(0, n, batch_size):
        hi = min(lo + batch_size, n)
        batch_weight = _batch_weight(sample_weight, order, lo, hi)
        if batch_weight == 0.0:
            continue
        grad[:] = 0.0
        grad_intercept[:] = 0.0
        dense_rows_loss_grad(X, y, sample_weight, order, lo, hi, coef, intercept,
                             loss_code, margin, 0.0, grad, grad_intercept, stats)
        n_steps += 1
        _apply_step(coef, intercept, coef_avg, intercept_avg, grad, grad_intercept,
                    1.0 / (C * (n_steps + t0)), C, batch_weight, fit_intercept,
                    n_steps)
    return n_steps


@njit(cache=True)
def _epoch_csr(data, indices, indptr, y, sample_weight, order, batch_size, coef_t,
               intercept, coef_avg_t, intercept_avg, n_steps, t0, C, loss_code,
               margin, fit_intercept):
    grad_t = np.zeros_like(coef_t)
    grad_intercept = np.zeros_like(intercept)
    stats = np.zeros(4)
    n = order.shape[0]
    for lo in range(0, n, batch_size):
        hi = min(lo + batch_size, n)
        batch_weight = _batch_weight(sample_weight, order, lo, hi)
        if batch_weight == 0.0:
            continue
        grad_t[:] = 0.0
        grad_intercept[:] = 0.0
        csr_rows_loss_grad(data, indices, indptr, y, sample_weight, order, lo, hi,
                           coef_t, intercept, loss_code, margin, 0.0, grad_t,
                           grad_intercept, stats)
        n_steps += 1
        _apply_step(coef_t, intercept, coef_avg_t, intercept_avg, grad_t,
                    grad_intercept, 1.0 / (C * (n_steps + t0)), C, batch_weight,
                    fit_intercept, n_steps)
    return n_steps


def default_step_offset(X, sample_weight, C, margin):
    """t0 such that the first step η_0 = 1/(C t0) is margin / mean(‖x‖²)."""
    if sp.issparse(X):
        sq_norms = np.asarray(X.multiply(X).sum(axis=1)).ravel()
    else:
        sq_norms = np.einsum("ij,ij->i", X, X, dtype=np.float64)
    mean_sq_norm = float(np.average(sq_norms, weights=sample_weight)) + 1.0
    return max(1.0, mean_sq_norm / (C * margin))


def run_epoch(objective, state, order, batch_size):
    """One pass over ``objective``'s data in ``order``, updating ``state`` in place."""
    from .._objective import LOSS_CODES

    X = objective.X
    args = (objective.y, objective.sample_weight, order, batch_size)
    tail = (state.n_steps, state.t0, objective.C, LOSS_CODES[objective.loss],
            objective.margin, objective.fit_intercept)
    if sp.issparse(X):
        coef_t = np.ascontiguousarray(state.coef.T)
        coef_avg_t = np.ascontiguousarray(state.coef_avg.T)
        state.n_steps = _epoch_csr(X.data, X.indices, X.indptr, *args, coef_t,
                                   state.intercept, coef_avg_t, state.intercept_avg,
                                   *tail)
        state.coef = np.ascontiguousarray(coef_t.T)
        state.coef_avg = np.ascontiguousarray(coef_avg_t.T)
    else:
        state.n_steps = _epoch_dense(X, *args, state.coef, state.intercept,
                                     state.coef_avg, state.intercept_avg, *tail)


def minimize_subgradient(objective, state, *, tol, max_iter, batch_size,
                         random_state, verbose=0):
    """Run epochs until the averaged objective's relative change per epoch is ≤ tol.

    Parameters
    ----------
    objective : MulticlassSVMObjective
    state : SubgradientState
        Start point; updated in place.
    tol : float
    max_iter : int
        Maximum number of epochs.
    batch_size : int or None
        None (or ≥ n) means full batch, in a fixed order.
    random_state : numpy.random.RandomState
        Draws the sample order of each epoch when batches are smaller than n.
    verbose : int

    Returns
    -------
    SolverResult
    """
    log = ProgressLog("subgradient", verbose)
    n = objective.X.shape[0]
    full_batch = batch_size is None or batch_size >= n
    batch = n if full_batch else int(batch_size)
    previous = objective.value(state.coef_avg, state.intercept_avg)
    converged = False
    change = np.inf
    epoch = 0
    for epoch in range(1, max_iter + 1):
        order = objective.rows if full_batch else random_state.permutation(n)
        run_epoch(objective, state, order.astype(np.int64, copy=False), batch)
        current = objective.value(state.coef_avg, state.intercept_avg)
        change = abs(previous - current) / max(abs(current), np.finfo(float).tiny)
        log.record(epoch, current, objective.n_evaluations, change,
                   extra=f"steps {state.n_steps}  ")
        previous = current
        if change <= tol:
            converged = True
            break
    return SolverResult(coef=state.coef_avg.copy(), intercept=state.intercept_avg.copy(),
                        n_iter=epoch, converged=converged, gap=change,
                        history=log.records)
