"""The solver protocol: what a solver is given and what it returns.

Every solver module defines

    solve(objective, start, *, tol, max_iter, random_state, verbose, **options)
        -> SolverResult

and the capabilities it needs of the objective (``REQUIRES``, names of the
objective's capability attributes). A solver owns its warm-start state (handed back
in ``SolverResult.state`` and received again in ``Start.state``), any rescaling of
the problem it works on, and the certificate of the point it returns.
"""

import os
import time
from dataclasses import dataclass, field

import numpy as np


@dataclass
class Start:
    """Where a solver starts.

    Attributes
    ----------
    coef : ndarray of shape (k, d)
    intercept : ndarray of shape (k,)
    state : object or None
        The ``state`` of a previous result of the same solver (warm start), which
        the solver uses when it applies to the objective; None otherwise.
    keep_state : bool
        Whether the result should carry a state for a later warm start (some
        solvers' states cost a pass over the data).
    finish_exactly : bool
        Whether ``"newton"``, once its steps have certified ``tol``, tries the
        exact finishing step (the active-set finisher of :mod:`sksvm._certificate`)
        to return the exact optimum when few pairs are free. Fits that only need
        the certified ``tol`` (the folds of a cross-validated path) skip it; a fit
        that stops above ``tol`` still tries. ``"dual_cd"`` makes its attempts
        during the run, where they shorten a slow tail; without
        ``finish_exactly`` only its last one, at convergence, while few pairs are
        free (``dual_cd.INEXACT_FINISH_MAX_FREE``), and so do ``"newton"``'s start
        epochs when they end the fit.
    """

    coef: np.ndarray
    intercept: np.ndarray
    state: object = None
    keep_state: bool = False
    finish_exactly: bool = True

    @classmethod
    def zeros(cls, n_classes, n_features):
        return cls(np.zeros((n_classes, n_features)), np.zeros(n_classes))


@dataclass
class SolverResult:
    """What a solver returns.

    Attributes
    ----------
    coef : ndarray of shape (k, d)
    intercept : ndarray of shape (k,)
    n_iter : int
        Solver iterations (L-BFGS iterations, or epochs).
    converged : bool
        Whether the stopping criterion was met.
    criterion : float
        The last value of the stopping criterion (the relative duality gap, or for
        the subgradient solver the relative change of the averaged objective).
    duality_gap : float
        Certified relative duality gap (J − D)/J at the returned point.
    history : list of dict
        One record per iteration or check: ``iteration``, ``n_evaluations``,
        ``time`` (seconds since the start), ``objective`` (true, unsmoothed J),
        ``gap`` (the stopping criterion) and ``smoothing`` (L-BFGS's smoothing
        width, 0 for the others).
    state : object or None
        Warm-start state for the next fit (see :class:`Start`).
    uncertified_stop : bool
        The solver stopped on an estimate of its accuracy (criterion ≤ tol) that
        its duality gap does not confirm (the subgradient solver); ``converged`` is
        then False.
    """

    coef: np.ndarray
    intercept: np.ndarray
    n_iter: int
    converged: bool
    criterion: float
    duality_gap: float
    history: list = field(default_factory=list)
    state: object = None
    uncertified_stop: bool = False


class ProgressLog:
    """Collects history records and prints them when ``verbose``."""

    def __init__(self, solver_name, verbose):
        self.solver_name = solver_name
        self.verbose = verbose
        self.start = time.perf_counter()
        self.records = []

    def record(self, iteration, objective, n_evaluations, gap, smoothing=0.0, extra=""):
        elapsed = time.perf_counter() - self.start
        self.records.append(dict(iteration=iteration, n_evaluations=n_evaluations,
                                 time=elapsed, objective=objective, gap=gap,
                                 smoothing=smoothing))
        if self.verbose:
            print(f"[{self.solver_name}] iter {iteration:5d}  objective {objective:.8e}"
                  f"  gap {gap:.3e}  {extra}time {elapsed:.3f}s", flush=True)


def announce_compile(solver_name, kernels, verbose):
    """With ``verbose``, print one line before the first call of ``kernels`` (numba
    dispatchers) when one of them is neither compiled in this process nor in the
    on-disk cache: compiling takes seconds (the user guide's "first call" section).
    """
    if not verbose:
        return
    missing = [kernel for kernel in kernels if not _compiled_or_cached(kernel)]
    if missing:
        print(f"[{solver_name}] compiling {len(missing)} numba kernel(s) on first use "
              "(a few seconds; cached on disk for later processes) ...", flush=True)


def _compiled_or_cached(dispatcher):
    if dispatcher.signatures:
        return True
    try:  # numba's cache index of the function, written after its first compile
        return os.path.exists(dispatcher._cache._cache_file._index_path)
    except AttributeError:  # no cache, or another numba layout: assume cached
        return True
