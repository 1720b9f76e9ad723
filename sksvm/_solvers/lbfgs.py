"""L-BFGS with smoothing continuation.

The squared hinge is smooth and is minimized directly. The hinge is not: L-BFGS on
it stalls in the line search, well above the optimum. We therefore minimize the
smoothed objectives J_μ (Nesterov/Moreau smoothing, MATH.md) for a geometrically
decreasing μ, each stage warm-started from the previous one.

Every evaluation also yields a dual point α (the loss derivatives, MATH.md "Dual
and duality gap") and so a duality gap J(W) − D(α), at no extra pass over X. Near the
optimum L-BFGS zigzags and W(α) = W − ∇J/C scatters around W by ‖∇J‖/C, which makes
single-point gaps very pessimistic when C is small. D is concave, so averages of
recent dual points (kept as exponential moving averages, O(k·d) per iteration)
certify far smaller gaps; the solver uses the best of these dual values.

- The run stops, converged, as soon as the relative gap (J − D)/J ≤ ``tol``. Without
  an intercept this certifies J(W) − min J ≤ tol · J(W).
- A stage at width μ ends once its own gap J_μ − D_μ has fallen below a fraction of
  the smoothing bias J − J_μ at the current point: iterating further at this μ
  cannot lower J − D much, so μ is decreased.
- After each stage, and at the end, the exact finishing step of
  :mod:`.active_set` is tried; it is kept when its certified gap is smaller.
- The true objective J can rise while the smoothed one falls, so the iterate with
  the lowest J is kept and returned when the run ends above it: more iterations
  never give a higher objective along the path.
"""

import numpy as np
import scipy.sparse as sp
from scipy.optimize import minimize

from ._result import ProgressLog, SolverResult
from .active_set import polish
from .certificate import repaired_gap

STAGE_GAP_FRACTION = 0.5
MU_DECREASE = 0.3
# Below this width (relative to the margin) the smoothed hinge equals the hinge in
# floating point; the continuation stops there.
MU_FLOOR = 1e-13
# The active-set finishing step is tried after stages with μ below this (relative
# to the margin); before that the partition of the pairs is too coarse.
POLISH_BELOW = 0.1
# ... and within stages, after this many iterations, then at doubling intervals.
POLISH_FIRST = 25


# Decays of the exponential moving averages of dual points.
DUAL_AVERAGE_DECAYS = (0.5, 0.8, 0.95)


class _AveragedDual:
    """Moving averages of the dual points seen in one smoothing stage.

    The conjugate terms are convex in α, so averaging them (instead of evaluating
    them at the averaged α) keeps every value a valid lower bound.
    """

    def __init__(self, objective):
        self.objective = objective
        self.averages = [None] * len(DUAL_AVERAGE_DECAYS)

    def update(self, ev):
        fields = (ev.dual_margin_term, ev.grad_intercept, ev.dual_coef,
                  ev.dual_conjugate, ev.smoothing_conjugate)
        for index, decay in enumerate(DUAL_AVERAGE_DECAYS):
            average = self.averages[index]
            if average is None:
                self.averages[index] = [np.copy(f) for f in fields]
            else:
                self.averages[index] = [decay * a + (1 - decay) * f
                                        for a, f in zip(average, fields)]

    def best(self, intercept):
        """Best (true dual, smoothed dual) values among the averages at ``intercept``."""
        best_dual = best_smoothed = -np.inf
        for margin_term, residual, dual_coef, conjugate, smoothing in self.averages:
            dual = self.objective.dual_value(margin_term, residual, dual_coef,
                                             conjugate, intercept)
            best_dual = max(best_dual, dual)
            best_smoothed = max(best_smoothed, dual - smoothing)
        return best_dual, best_smoothed


# L-BFGS memory: MAX_MEMORY correction pairs, fewer for problems of at least
# MANY_PARAMETERS parameters when reading the pairs (2·m vectors of k(d + 1)
# parameters per iteration) would cost more than a quarter of one evaluation (k
# multiply-adds per stored entry of X), as with wide sparse data. Sparse text,
# k = 20, no intercept: 50k × 100k (2M parameters), L-BFGS-B's own work at m = 30
# was 60 % of the fit time, and m = 5 took 31.7 s against 52.1 s (164 iterations
# against 162); 50k × 50k, 9.7 s against 21.8 s (119 against 152). Small problems
# keep the full memory: it costs nothing there and tight tolerances need it.
MAX_MEMORY = 30
MIN_MEMORY = 5
MANY_PARAMETERS = 100_000


def default_memory(objective):
    """The L-BFGS memory for ``objective`` (see MAX_MEMORY)."""
    X = getattr(objective, "X", None)
    n_params = objective.n_classes * (objective.n_features + 1)
    if X is None or n_params < MANY_PARAMETERS:
        return MAX_MEMORY
    stored = X.nnz if sp.issparse(X) else X.size
    budget = stored * objective.n_classes / 4
    return int(np.clip(budget // (2 * n_params), MIN_MEMORY, MAX_MEMORY))


def minimize_lbfgs(objective, coef0, intercept0, *, tol, max_iter, verbose=0,
                   memory=None, mu_start=None, mu_decrease=MU_DECREASE,
                   stage_gap_fraction=STAGE_GAP_FRACTION):
    """Minimize ``objective`` from ``(coef0, intercept0)``.

    Parameters
    ----------
    objective : MulticlassSVMObjective
    coef0 : ndarray of shape (k, d)
    intercept0 : ndarray of shape (k,)
    tol : float
        Target relative duality gap.
    max_iter : int
        Maximum number of L-BFGS iterations, summed over all smoothing stages.
    verbose : int
    memory : int or None
        Number of correction pairs kept by L-BFGS; :func:`default_memory` when
        None.
    mu_start : float or None
        Initial smoothing width; defaults to the margin.
    mu_decrease : float
        Factor applied to the smoothing width between stages.
    stage_gap_fraction : float
        A stage ends when its smoothed gap is below this fraction of the smoothing
        bias J − J_μ.

    Returns
    -------
    SolverResult
    """
    log = ProgressLog("lbfgs", verbose)
    if memory is None:
        memory = default_memory(objective)
    params = objective.pack(coef0, intercept0)
    smooth = objective.loss == "hinge"
    mu = (objective.margin if mu_start is None else mu_start) if smooth else 0.0
    # Without an intercept every dual value is a lower bound on min J, whatever
    # the point it came from: keep the best one.
    best_dual = -np.inf
    track_best_dual = not objective.fit_intercept
    state = dict(converged=False, n_iter=0, gap=np.inf, next_polish=POLISH_FIRST,
                 polish_interval=POLISH_FIRST)
    last = {}
    lowest = dict(value=np.inf, x=None)  # the iterate with the lowest true J

    def fun(x):
        ev, grad = objective.flat_loss_gradient(x, mu)
        last["x"], last["ev"] = x.copy(), ev
        return ev.value, grad

    def remember_if_lowest(value, x):
        if value < lowest["value"]:
            lowest["value"], lowest["x"] = value, x.copy()

    def certify(x):
        """Relative duality gap and smoothed gap at x (evaluated last, normally)."""
        nonlocal best_dual
        if "x" not in last or not np.array_equal(last["x"], x):
            fun(x)
        ev = last["ev"]
        averages.update(ev)
        _, intercept = objective.unpack(x)
        dual, smoothed_dual = averages.best(intercept)
        dual = max(dual, ev.dual_value)
        if track_best_dual:
            best_dual = max(best_dual, dual)
            dual = best_dual
        smoothed_gap = ev.value - max(smoothed_dual, ev.smoothed_dual_value)
        gap = (ev.true_value - dual) / max(abs(ev.true_value), np.finfo(float).tiny)
        state["gap"] = gap
        return ev, gap, smoothed_gap

    def callback(intermediate_result):
        state["n_iter"] += 1
        ev, gap, smoothed_gap = certify(intermediate_result.x)
        remember_if_lowest(ev.true_value, intermediate_result.x)
        log.record(state["n_iter"], ev.true_value, objective.n_evaluations, gap, mu,
                   extra=f"mu {mu:.1e}  |grad| {_grad_norm(ev):.3e}  ")
        if gap <= state.get("cheap_tol", tol) and certified(intermediate_result.x):
            state["converged"] = True
            raise StopIteration
        if state["n_iter"] >= state["next_polish"] and mu <= POLISH_BELOW * objective.margin:
            # Attempts back off geometrically, so that they cost O(log) solves.
            state["polish_interval"] *= 2
            state["next_polish"] = state["n_iter"] + state["polish_interval"]
            if try_polish(intermediate_result.x):
                raise StopIteration
        if smooth and smoothed_gap <= stage_gap_fraction * (ev.true_value - ev.value):
            raise StopIteration
        if state["n_iter"] >= max_iter:
            raise StopIteration

    def certified(x):
        """Without an intercept the gap is already rigorous. With one, confirm it
        with a repaired dual point (see certificate.py); when that fails, the
        cheap gap must from then on fall below a halved threshold first."""
        if not objective.fit_intercept:
            return True
        coef, intercept = objective.unpack(x)
        gap = repaired_gap(objective, coef, intercept, mu)
        if gap is None:
            return True  # too many classes for the LP: the cheap gap is used
        state["gap"] = gap  # the rigorous value, reported if the run ends here
        if gap <= tol:
            return True
        state["cheap_tol"] = state.get("cheap_tol", tol) / 2
        return False

    def try_polish(x, final=False, width=None):
        """Keep the active-set solution from x if it meets ``tol`` (or, when
        ``final``, if it certifies a smaller gap); returns whether it met tol.
        ``width`` (default: the current μ) separates free pairs from bound ones."""
        # -- objectives without in-memory rows (sksvm._dask) skip this step ------
        if not getattr(objective, "supports_active_set", True):
            return False
        # ------------------------------------------------------------------------
        coef, intercept = objective.unpack(x)
        polished = polish(objective, coef, intercept, mu if width is None else width)
        if polished is None:
            return False
        coef_p, intercept_p, gap_p = polished
        value_p = objective.value(coef_p, intercept_p)
        packed_p = objective.pack(coef_p, intercept_p)
        remember_if_lowest(value_p, packed_p)
        if not (gap_p <= tol or (
                final and gap_p < state["gap"]
                and value_p <= objective.value(coef, intercept))):
            return False
        state["polished"] = packed_p
        state["gap"] = gap_p
        state["converged"] = gap_p <= tol
        log.record(state["n_iter"], value_p, objective.n_evaluations, gap_p, mu,
                   extra="active-set solve  ")
        return state["converged"]

    averages = _AveragedDual(objective)
    warm = bool(np.any(params))
    if smooth and mu_start is None and warm:
        mu = _warm_start_width(objective, params, mu)
    # e.g. a warm start at the optimum; with an intercept, confirmed like any gap
    state["converged"] = certify(params)[1] <= tol and certified(params)
    if warm and not state["converged"]:
        # A previous solution is often the exact one of its active set, which only
        # the finishing step can certify (no loss derivative is its dual point):
        # its free pairs sit at margin 0 up to rounding.
        try_polish(params, width=WARM_START_FREE_WIDTH * objective.margin)
        params = state.pop("polished", params)
    while not state["converged"] and state["n_iter"] < max_iter:
        result = minimize(
            fun, params, jac=True, method="L-BFGS-B", callback=callback,
            options=dict(maxiter=max_iter - state["n_iter"], maxcor=memory, maxls=50,
                         gtol=0.0, ftol=64 * np.finfo(float).eps))
        params = state.pop("polished", result.x)
        last.clear()
        if state["converged"] or state["n_iter"] >= max_iter:
            break
        if not smooth:
            # L-BFGS stopped on its own: no further decrease is possible.
            state["converged"] = state["gap"] <= max(tol, 1e3 * np.finfo(float).eps)
            break
        if mu <= POLISH_BELOW * objective.margin:
            try_polish(params)
            params = state.pop("polished", params)
            if state["converged"]:
                break
        if mu <= MU_FLOOR * objective.margin:
            break
        # The averaged dual points stay valid for the hinge dual; only the
        # stage-end heuristic, which uses their smoothed values, sees a mix of widths.
        mu *= mu_decrease

    stopped_by_max_iter = not state["converged"] and state["n_iter"] >= max_iter
    if not stopped_by_max_iter and (not state["converged"]
                                    or state["gap"] > 1e3 * np.finfo(float).eps):
        # Not where max_iter stops: that point depends on max_iter, and a
        # finishing step from it could end above a shorter run's result.
        try_polish(params, final=True)
        params = state.pop("polished", params)
    value = objective.value(*objective.unpack(params))
    if lowest["value"] < value:
        # The dual value behind the gap bounds min J, so it certifies the lower
        # point with a smaller relative gap.
        dual = value - state["gap"] * abs(value)
        params = lowest["x"]
        state["gap"] = (lowest["value"] - dual) / max(abs(lowest["value"]),
                                                       np.finfo(float).tiny)
    if not state["converged"] and objective.fit_intercept:
        # Stopped (max_iter) with a cheap gap that may meet tol while the last
        # confirmation, at a halved threshold, was not attempted: confirm now.
        ev, gap, _ = certify(params)
        state["converged"] = gap <= tol and certified(params)
    coef, intercept = objective.unpack(params)
    return SolverResult(coef=coef.copy(), intercept=intercept.copy(),
                        n_iter=state["n_iter"], converged=state["converged"],
                        gap=state["gap"], history=log.records)


# Widths tried at a warm start: the margin times WARM_START_DECREASE**j, j < ...
WARM_START_DECREASE = 0.1
WARM_START_WIDTHS = 9
# Pairs within this (relative to the margin) of margin 0 count as free when a warm
# start is first tried as an exact active-set solution.
WARM_START_FREE_WIDTH = 1e-8


def _warm_start_width(objective, params, mu_max):
    """The smoothing width, among a geometric grid below ``mu_max``, whose dual
    point at ``params`` has the highest dual value.

    A warm start near a previous solution need not retrace the continuation from
    the largest width: the width that certifies the point best is where it stands.
    """
    coef, intercept = objective.unpack(params)
    best_mu, best_dual = mu_max, -np.inf
    for j in range(WARM_START_WIDTHS):
        mu = mu_max * WARM_START_DECREASE ** j
        if mu < MU_FLOOR * objective.margin:
            break
        dual = objective.evaluate(coef, intercept, mu).dual_value
        if dual > best_dual:
            best_mu, best_dual = mu, dual
    return best_mu


def _grad_norm(ev):
    return float(np.sqrt(np.vdot(ev.grad_coef, ev.grad_coef)
                         + np.vdot(ev.grad_intercept, ev.grad_intercept)))
