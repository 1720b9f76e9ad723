"""The solvers, registered by name, and the rule behind ``solver="auto"``.

Each solver module follows the protocol of :mod:`sksvm._solvers._base`. No
scikit-learn code lives here; the estimator translates its parameters.
"""

import inspect

from . import dual_cd, lbfgs, newton, subgradient
from ._base import ProgressLog, SolverResult, Start

SOLVERS = {
    "lbfgs": lbfgs,
    "dual_cd": dual_cd,
    "subgradient": subgradient,
    "newton": newton,
}

# The protocol's own keyword arguments; everything else a solve() takes is an option.
_PROTOCOL_ARGUMENTS = {"objective", "start", "tol", "max_iter", "random_state",
                       "verbose"}


def solver_options(name):
    """The names of the options that solver ``name`` accepts (None: any, for a
    ``solve`` that takes ``**options``)."""
    parameters = inspect.signature(SOLVERS[name].solve).parameters.values()
    if any(p.kind is inspect.Parameter.VAR_KEYWORD for p in parameters):
        return None
    return sorted({p.name for p in parameters} - _PROTOCOL_ARGUMENTS)


def choose_solver(solver, objective):
    """``solver``, or for ``"auto"`` the solver measured fastest and most reliable on
    such input (benchmarks/results/newton_notes.md, small_problems.md):

    - objectives whose rows are not in memory (Dask): L-BFGS;
    - sparse data: dual coordinate ascent;
    - dense data with few parameters and samples (``newton.is_cheap``:
      n_classes · (n_features + 1) ≤ 2500 and n_samples times that ≤ 5e7):
      semismooth Newton. It converges on all of the small-problems suite, scaled
      or not, where the first-order solvers stall at small C, and on hard medium
      problems (20000 × 100, 20 noisy classes: 2.8 s against 126 s for
      coordinate ascent);
    - other dense data, hinge: semismooth Newton too, whose start epochs of
      dual coordinate ascent run to ``tol`` there (``newton.EPOCHS_TO_TOL_FROM``)
      and hand over to Newton steps only where their gap stalls: the fit is
      coordinate ascent's where that converges (all of Fashion-MNIST with an
      intercept: 11.0–11.4 s against 11.1 s; 1,000,000 × 100 blobs: 2.66 s
      against 2.91 s), and certified where it stalls (100000 × 60 with one feature
      scaled by 1e3: 3.4–4.3 s, where coordinate ascent was at a gap of 0.9
      after 2000 epochs and 91–102 s);
    - other dense data, squared hinge: semismooth Newton where its
      preconditioner is exact or per class (``newton.is_well_preconditioned``),
      which starts with L-BFGS iterations and ends there on easy problems
      (Fashion-MNIST: 7.7 s against 18.2 s for L-BFGS without an intercept,
      8.3 s against 78.4 s with one; 1,000,000 × 100 blobs: 2.7 s against
      3.0 s); L-BFGS otherwise (coordinate ascent's many inner-margin samples
      make it slow here).
    """
    if solver != "auto":
        return solver
    if not objective.rows_in_memory:
        return "lbfgs"
    return auto_solver_in_memory(objective.is_sparse, objective.loss,
                                 objective.X.shape[0], objective.n_features,
                                 objective.n_classes)


def auto_solver_in_memory(is_sparse, loss, n_samples, n_features, n_classes):
    """The rule of :func:`choose_solver` for data in memory."""
    if is_sparse:
        return "dual_cd"
    if loss == "hinge" or newton.is_cheap(n_samples, n_features, n_classes):
        return "newton"
    if newton.is_well_preconditioned(n_samples, n_features, n_classes):
        return "newton"
    return "lbfgs"


def state_for(solver, previous_solver, state):
    """The warm-start ``state`` that ``previous_solver`` left, if ``solver`` can use
    it: its own, or a dual point (``"dual_cd"`` and ``"newton"`` both start from
    one and leave one); else None."""
    if previous_solver == solver or (isinstance(state, dual_cd.DualCDState)
                                     and solver in ("dual_cd", "newton")):
        return state
    return None


def solve(name, objective, start, *, tol, max_iter, random_state, verbose,
          options=None):
    """Run solver ``name`` on ``objective`` from ``start``.

    Checks first that the objective has the capabilities the solver requires and
    that ``options`` (a dict or None) names only options of that solver.

    Returns
    -------
    SolverResult
    """
    module = SOLVERS[name]
    for capability in module.REQUIRES:
        if not getattr(type(objective), capability):
            raise ValueError(
                f"solver={name!r} does not support {objective.input_kind}: it needs "
                f"{capability.replace('_', ' ')}. Use solver='lbfgs' (or 'auto').")
    options = dict(options or {})
    accepted = solver_options(name)
    unknown = [] if accepted is None else sorted(set(options) - set(accepted))
    if unknown:
        raise ValueError(
            f"Unknown solver_options {unknown} for solver={name!r}; it accepts "
            f"{accepted or 'none'}.")
    return module.solve(objective, start, tol=tol, max_iter=max_iter,
                        random_state=random_state, verbose=verbose, **options)


__all__ = ["SOLVERS", "ProgressLog", "SolverResult", "Start", "auto_solver_in_memory",
           "choose_solver", "solve", "solver_options", "state_for"]
