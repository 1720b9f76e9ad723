"""L-BFGS with smoothing continuation (``solver="lbfgs"``).

The squared hinge is smooth and is minimized directly. The hinge is not: L-BFGS on
it stalls in the line search, well above the optimum. We therefore minimize the
smoothed objectives J_μ (Nesterov/Moreau smoothing, MATH.md) for a geometrically
decreasing width μ (``smoothing``), each stage warm-started from the previous one.

Every evaluation also yields a dual point α (the loss derivatives, MATH.md "Dual
and duality gap") and so a duality gap J(W) − D(α), at no extra pass over X. Near the
optimum L-BFGS zigzags and W(α) = W − ∇J/C scatters around W by ‖∇J‖/C, which makes
single-point gaps very pessimistic when C is small. D is concave, so averages of
recent dual points (kept as exponential moving averages, O(k·d) per iteration)
certify far smaller gaps; the solver uses the best of these dual values.

- The run stops, converged, as soon as the relative gap (J − D)/J ≤ ``tol``. Without
  an intercept this certifies J(W) − min J ≤ tol · J(W). With one, the gap is
  confirmed with a repaired dual point (:mod:`sksvm._certificate`).
- A stage at width μ ends once its own gap J_μ − D_μ has fallen below a fraction of
  the smoothing bias J − J_μ at the current point: iterating further at this μ
  cannot lower J − D much, so μ is decreased.
- After each stage, and at the end, the exact finishing step
  (:func:`sksvm._certificate.finish`) is tried when the rows are in memory; it is
  kept when its certified gap is smaller.
- The true objective J can rise while the smoothed one falls, so the iterate with
  the lowest J is kept and returned when the run ends above it: more iterations
  never give a higher objective along the path.

Scale. L-BFGS is not invariant to the scale of the features: its first step has unit
length, and the intercepts move on the scale of the scores while the weights move on
that scale divided by |x|. Features far from unit magnitude are therefore brought to
[0.5, 1) by a power of two (exact: fitting X·s with C·s² gives the weights divided by
s), and the intercept is optimized as b/σ, σ the power of two nearest the root mean
square entry of X (the weight of a constant feature of that magnitude).
"""

import numpy as np
import scipy.sparse as sp
from scipy.optimize import minimize

from .. import _certificate, _kernels
from .._losses import get_loss
from . import newton
from ._base import ProgressLog, SolverResult, Start, announce_compile

REQUIRES = ()

STAGE_GAP_FRACTION = 0.5
# Newton steps allowed to the polish of a point where L-BFGS stalled.
POLISH_MAX_STEPS = 200
SMOOTHING_DECREASE = 0.3
# Below this width (relative to the margin) the smoothed hinge equals the hinge in
# floating point; the continuation stops there.
SMOOTHING_FLOOR = 1e-13
# The active-set finishing step is tried after stages with μ below this (relative
# to the margin); before that the partition of the pairs is too coarse.
FINISH_BELOW = 0.1
# ... and within stages, after this many iterations, then at doubling intervals.
FINISH_FIRST = 25
# Rounds of active-set corrections per finishing attempt.
FINISH_ROUNDS = 4
# Decays of the exponential moving averages of dual points.
DUAL_AVERAGE_DECAYS = (0.5, 0.8, 0.95)
# Widths tried at a warm start: the margin times WARM_START_DECREASE**j, j < ...
WARM_START_DECREASE = 0.1
WARM_START_WIDTHS = 9
# Pairs within this (relative to the margin) of margin 0 count as free when a warm
# start is first tried as an exact active-set solution.
WARM_START_FREE_WIDTH = 1e-8
# L-BFGS memory: MAX_MEMORY correction pairs, fewer for problems of at least
# MANY_PARAMETERS parameters when reading the pairs (2·m vectors of k(d + 1)
# parameters per iteration) would cost more than a quarter of one evaluation (k
# multiply-adds per stored entry of X), as with wide sparse data (measurements in
# benchmarks/results/architecture_notes.md).
MAX_MEMORY = 30
MIN_MEMORY = 5
MANY_PARAMETERS = 100_000
# Features of magnitude outside [2**-FEATURE_SCALE_EXPONENT, 2**FEATURE_SCALE_EXPONENT]
# are rescaled (module docstring).
FEATURE_SCALE_EXPONENT = 10

_TINY = np.finfo(float).tiny
_EPS = np.finfo(float).eps


def default_memory(objective):
    """The L-BFGS memory for ``objective`` (see MAX_MEMORY)."""
    n_params = objective.n_classes * (objective.n_features + 1)
    if not objective.rows_in_memory or n_params < MANY_PARAMETERS:
        return MAX_MEMORY
    X = objective.X
    stored = X.nnz if sp.issparse(X) else X.size
    budget = stored * objective.n_classes / 4
    return int(np.clip(budget // (2 * n_params), MIN_MEMORY, MAX_MEMORY))


def feature_scale(objective):
    """Power of two bringing the features to [0.5, 1) for L-BFGS, or 1."""
    max_abs = objective.feature_statistics().max_abs
    if max_abs == 0.0:
        return 1.0
    exponent = np.frexp(max_abs)[1]
    if abs(exponent) <= FEATURE_SCALE_EXPONENT:
        return 1.0
    # C·s² must stay finite (tiny features and a large C: the weights are ~0).
    exponent = max(exponent, -((np.finfo(np.float64).maxexp - 2
                                - np.frexp(objective.C)[1]) // 2))
    return float(np.ldexp(1.0, -exponent))


def intercept_scale(objective):
    """Power of two nearest the root mean square entry of X, or 1."""
    stats = objective.feature_statistics()
    mean_square = stats.sum_of_squares / max(stats.size, 1)
    if not 0.0 < mean_square < np.inf:
        return 1.0
    return float(np.ldexp(1.0, int(np.round(0.5 * np.log2(mean_square)))))


class FlatParameters:
    """Packing of (W, b) into the one vector L-BFGS-B sees: ``coef.ravel()`` (k·d
    entries, class-major) followed, with an intercept, by b / ``intercept_scale``."""

    def __init__(self, objective):
        self.objective = objective
        self.n_coef = objective.n_classes * objective.n_features
        self.intercept_scale = intercept_scale(objective) if objective.fit_intercept else 1.0

    def pack(self, coef, intercept):
        if self.objective.fit_intercept:
            return np.concatenate([coef.ravel(), intercept / self.intercept_scale])
        return coef.ravel().copy()

    def unpack(self, params):
        objective = self.objective
        coef = params[:self.n_coef].reshape(objective.n_classes, objective.n_features)
        if objective.fit_intercept:
            return coef, params[self.n_coef:] * self.intercept_scale
        return coef, np.zeros(objective.n_classes)

    def loss_gradient(self, params, smoothing):
        """(Evaluation, flat gradient) at the packed ``params``."""
        ev = self.objective.evaluate(*self.unpack(params), smoothing)
        if not self.objective.fit_intercept:
            return ev, ev.grad_coef.ravel()
        return ev, np.concatenate([ev.grad_coef.ravel(),
                                   ev.grad_intercept * self.intercept_scale])


class AveragedDual:
    """Moving averages of the dual points seen in one run.

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


def solve(objective, start, *, tol, max_iter, random_state=None, verbose=0,
          memory=None, smoothing_start=None, smoothing_decrease=SMOOTHING_DECREASE,
          stage_gap_fraction=STAGE_GAP_FRACTION):
    """Minimize ``objective`` from ``start`` by L-BFGS-B with smoothing continuation.

    Parameters
    ----------
    objective : ObjectiveBase
    start : Start
        Start point (no solver state is used).
    tol : float
        Target relative duality gap.
    max_iter : int
        Maximum number of L-BFGS iterations, summed over all smoothing stages.
    random_state : ignored
        The solver is deterministic.
    verbose : int
    memory : int or None
        Number of correction pairs kept by L-BFGS; :func:`default_memory` when None.
    smoothing_start : float or None
        Initial smoothing width; the margin by default (or, at a warm start, the
        width that certifies the start best).
    smoothing_decrease : float
        Factor applied to the smoothing width between stages.
    stage_gap_fraction : float
        A stage ends when its smoothed gap is below this fraction of the smoothing
        bias J − J_μ.

    Returns
    -------
    SolverResult
    """
    if objective.rows_in_memory:
        announce_compile("lbfgs", (_kernels.loss_grad_kernel(objective.is_sparse),),
                         verbose)
    original = objective
    scale = feature_scale(objective)
    if scale != 1.0:
        objective = objective.with_scaled_features(scale)
    run = _Run(objective, tol=tol, max_iter=max_iter, verbose=verbose,
               memory=default_memory(objective) if memory is None else memory,
               smoothing_decrease=smoothing_decrease,
               stage_gap_fraction=stage_gap_fraction)
    result = run.minimize(start.coef / scale, start.intercept, smoothing_start)
    result.coef = result.coef * scale
    if not result.converged and result.n_iter < max_iter:  # stalled, not stopped
        result = _polish_with_newton(original, result, tol, verbose)
    return result


def _polish_with_newton(objective, result, tol, verbose):
    """Newton steps from L-BFGS's point when it stopped short of ``tol``, if they
    are cheap for this objective (:func:`newton.is_cheap`); the better certified
    result of the two.

    L-BFGS stalls where its certificate cannot get tighter: on float32 data (its
    products are float32, the Newton solver's are float64) and from warm starts
    far from the new optimum. Newton steps from a nearly optimal point converge
    in a few steps, with a certificate of their own."""
    if not (objective.rows_in_memory and newton.is_cheap(
            objective.X.shape[0], objective.n_features, objective.n_classes)):
        return result
    polished = newton.solve(objective, Start(result.coef, result.intercept),
                            tol=tol, max_iter=POLISH_MAX_STEPS, random_state=None,
                            verbose=verbose)
    if not polished.duality_gap < result.duality_gap:
        return result
    offset = result.n_iter
    history = result.history + [dict(record, iteration=record["iteration"] + offset)
                                for record in polished.history]
    return SolverResult(polished.coef, polished.intercept, offset + polished.n_iter,
                        polished.converged, polished.criterion,
                        polished.duality_gap, history, result.state)


class _StopStage(Exception):
    """Ends the current L-BFGS-B call (raised from its callback)."""


class _Run:
    """One minimization: the iteration state shared by L-BFGS-B's callback, the
    certificate and the finishing step."""

    def __init__(self, objective, *, tol, max_iter, verbose, memory,
                 smoothing_decrease, stage_gap_fraction):
        self.objective = objective
        self.flat = FlatParameters(objective)
        self.tol = tol
        self.max_iter = max_iter
        self.memory = memory
        self.smoothing_decrease = smoothing_decrease
        self.stage_gap_fraction = stage_gap_fraction
        self.log = ProgressLog("lbfgs", verbose)
        self.smooth = not get_loss(objective.loss).differentiable
        self.smoothing = 0.0
        self.averages = AveragedDual(objective)
        # Without an intercept every dual value is a lower bound on min J, whatever
        # the point it came from: keep the best one.
        self.best_dual = -np.inf
        self.converged = False
        self.n_iter = 0
        self.gap = np.inf
        # With an intercept, a cheap gap that the repaired one did not confirm must
        # from then on fall below a halved threshold before the next confirmation.
        self.cheap_tol = tol
        self.next_finish = FINISH_FIRST
        self.finish_interval = FINISH_FIRST
        self.finished_point = None  # an adopted finishing-step solution, packed
        self.last_params = None
        self.last_evaluation = None
        self.lowest_value = np.inf  # the iterate with the lowest true J
        self.lowest_params = None

    # -- evaluations -------------------------------------------------------------
    def loss_gradient(self, params):
        ev, grad = self.flat.loss_gradient(params, self.smoothing)
        self.last_params, self.last_evaluation = params.copy(), ev
        return ev.value, grad

    def remember_if_lowest(self, value, params):
        if value < self.lowest_value:
            self.lowest_value, self.lowest_params = value, params.copy()

    def certify(self, params):
        """(evaluation, relative duality gap, smoothed gap) at ``params``."""
        if self.last_params is None or not np.array_equal(self.last_params, params):
            self.loss_gradient(params)
        ev = self.last_evaluation
        self.averages.update(ev)
        _, intercept = self.flat.unpack(params)
        dual, smoothed_dual = self.averages.best(intercept)
        dual = max(dual, ev.dual_value)
        if not self.objective.fit_intercept:
            self.best_dual = max(self.best_dual, dual)
            dual = self.best_dual
        smoothed_gap = ev.value - max(smoothed_dual, ev.smoothed_dual_value)
        self.gap = (ev.true_value - dual) / max(abs(ev.true_value), _TINY)
        return ev, self.gap, smoothed_gap

    def confirmed(self, params):
        """Without an intercept the gap is already rigorous. With one, confirm it
        with a repaired dual point; when that fails, halve the cheap threshold."""
        if not self.objective.fit_intercept:
            return True
        gap = self.objective.repaired_gap(*self.flat.unpack(params), self.smoothing)
        self.gap = gap  # the rigorous value, reported if the run ends here
        if gap <= self.tol:
            return True
        self.cheap_tol /= 2
        return False

    # -- the finishing step ------------------------------------------------------
    def try_finish(self, params, final=False, free_width=None):
        """Keep the active-set solution from ``params`` if it meets ``tol`` (or,
        when ``final``, if it certifies a smaller gap); returns whether it met tol.
        ``free_width`` (default: the current width) separates free pairs from
        bound ones."""
        objective = self.objective
        if not objective.rows_in_memory:
            return False
        coef, intercept = self.flat.unpack(params)
        width = self.smoothing if free_width is None else free_width
        finished = _certificate.finish(
            objective, *_certificate.partition_from_margins(objective, coef, intercept,
                                                            width),
            max_rounds=FINISH_ROUNDS)
        if finished is None:
            return False
        _, coef_f, intercept_f, gap_f, value_f = finished
        packed = self.flat.pack(coef_f, intercept_f)
        self.remember_if_lowest(value_f, packed)
        if not (gap_f <= self.tol or (
                final and gap_f < self.gap
                and value_f <= objective.value(coef, intercept))):
            return False
        self.finished_point = packed
        self.gap = gap_f
        self.converged = gap_f <= self.tol
        self.log.record(self.n_iter, value_f, objective.n_evaluations, gap_f,
                        self.smoothing, extra="active-set solve  ")
        return self.converged

    def take_finished(self, params):
        """The adopted finishing-step point if there is one, else ``params``."""
        finished, self.finished_point = self.finished_point, None
        return params if finished is None else finished

    # -- L-BFGS-B ----------------------------------------------------------------
    def callback(self, intermediate_result):
        params = intermediate_result.x
        self.n_iter += 1
        ev, gap, smoothed_gap = self.certify(params)
        self.remember_if_lowest(ev.true_value, params)
        self.log.record(self.n_iter, ev.true_value, self.objective.n_evaluations, gap,
                        self.smoothing, extra=f"smoothing {self.smoothing:.1e}  "
                                              f"|grad| {_grad_norm(ev):.3e}  ")
        if gap <= self.cheap_tol and self.confirmed(params):
            self.converged = True
            raise StopIteration
        if (self.n_iter >= self.next_finish
                and self.smoothing <= FINISH_BELOW * self.objective.margin):
            # Attempts back off geometrically, so that they cost O(log) solves.
            self.finish_interval *= 2
            self.next_finish = self.n_iter + self.finish_interval
            if self.try_finish(params):
                raise StopIteration
        if self.smooth and smoothed_gap <= self.stage_gap_fraction * (
                ev.true_value - ev.value):
            raise StopIteration
        if self.n_iter >= self.max_iter:
            raise StopIteration

    def minimize(self, coef0, intercept0, smoothing_start):
        objective = self.objective
        params = self.flat.pack(coef0, intercept0)
        warm = bool(np.any(params))
        if self.smooth:
            self.smoothing = (objective.margin if smoothing_start is None
                              else smoothing_start)
            if smoothing_start is None and warm:
                self.smoothing = self.warm_start_smoothing(params)
        # e.g. a warm start at the optimum; with an intercept, confirmed like any gap
        self.converged = self.certify(params)[1] <= self.tol and self.confirmed(params)
        if warm and not self.converged:
            # A previous solution is often the exact one of its active set, which
            # only the finishing step can certify (no loss derivative is its dual
            # point): its free pairs sit at margin 0 up to rounding.
            self.try_finish(params, free_width=WARM_START_FREE_WIDTH * objective.margin)
            params = self.take_finished(params)
        while not self.converged and self.n_iter < self.max_iter:
            result = minimize(
                self.loss_gradient, params, jac=True, method="L-BFGS-B",
                callback=self.callback,
                options=dict(maxiter=self.max_iter - self.n_iter, maxcor=self.memory,
                             maxls=50, gtol=0.0, ftol=64 * _EPS))
            params = self.take_finished(result.x)
            self.last_params = self.last_evaluation = None
            if self.converged or self.n_iter >= self.max_iter:
                break
            if not self.smooth:
                # L-BFGS stopped on its own: no further decrease is possible.
                self.converged = self.gap <= max(self.tol, 1e3 * _EPS)
                break
            if self.smoothing <= FINISH_BELOW * objective.margin:
                self.try_finish(params)
                params = self.take_finished(params)
                if self.converged:
                    break
            if self.smoothing <= SMOOTHING_FLOOR * objective.margin:
                break
            # The averaged dual points stay valid for the hinge dual; only the
            # stage-end heuristic, which uses their smoothed values, sees a mix of
            # widths.
            self.smoothing *= self.smoothing_decrease
        return self.result(params)

    def result(self, params):
        """The final point, its certificate and the SolverResult."""
        objective = self.objective
        stopped_by_max_iter = not self.converged and self.n_iter >= self.max_iter
        if not stopped_by_max_iter and (not self.converged or self.gap > 1e3 * _EPS):
            # Not where max_iter stops: that point depends on max_iter, and a
            # finishing step from it could end above a shorter run's result.
            self.try_finish(params, final=True)
            params = self.take_finished(params)
        value = objective.value(*self.flat.unpack(params))
        if self.lowest_value < value:
            # The dual value behind the gap bounds min J, so it certifies the lower
            # point with a smaller relative gap.
            dual = value - self.gap * abs(value)
            params = self.lowest_params
            self.gap = (self.lowest_value - dual) / max(abs(self.lowest_value), _TINY)
        if not self.converged and objective.fit_intercept:
            # Stopped (max_iter) with a cheap gap that may meet tol while the last
            # confirmation, at a halved threshold, was not attempted: confirm now.
            _, gap, _ = self.certify(params)
            self.converged = gap <= self.tol and self.confirmed(params)
        coef, intercept = self.flat.unpack(params)
        return SolverResult(coef=coef.copy(), intercept=intercept.copy(),
                            n_iter=self.n_iter, converged=self.converged,
                            criterion=self.gap,
                            duality_gap=self.final_gap(coef, intercept),
                            history=self.log.records)

    def final_gap(self, coef, intercept):
        """``duality_gap_``: the stopping gap, or where the run did not converge
        with an intercept (its gap then holds the intercept fixed), the best
        repaired gap at the returned point."""
        if not (self.objective.fit_intercept and not self.converged):
            return float(self.gap)
        gaps = [self.objective.repaired_gap(coef, intercept, width)
                for width in sorted({0.0, self.smoothing})]
        return float(min(gaps))

    def warm_start_smoothing(self, params):
        """The smoothing width, among a geometric grid below the margin, whose dual
        point at ``params`` has the highest dual value: a warm start near a previous
        solution need not retrace the continuation from the largest width."""
        coef, intercept = self.flat.unpack(params)
        best_width, best_dual = self.smoothing, -np.inf
        for j in range(WARM_START_WIDTHS):
            width = self.smoothing * WARM_START_DECREASE ** j
            if width < SMOOTHING_FLOOR * self.objective.margin:
                break
            dual = self.objective.evaluate(coef, intercept, width).dual_value
            if dual > best_dual:
                best_width, best_dual = width, dual
        return best_width


def _grad_norm(ev):
    return float(np.sqrt(np.vdot(ev.grad_coef, ev.grad_coef)
                         + np.vdot(ev.grad_intercept, ev.grad_intercept)))
