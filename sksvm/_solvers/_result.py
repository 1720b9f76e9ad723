import time
from dataclasses import dataclass, field

import numpy as np


@dataclass
class SolverResult:
    """What a solver returns.

    Attributes
    ----------
    coef : ndarray of shape (k, d)
    intercept : ndarray of shape (k,)
    n_iter : int
        Solver iterations (L-BFGS iterations, or subgradient epochs).
    converged : bool
        Whether the stopping criterion was met before ``max_iter``.
    gap : float
        Relative duality gap (or relative objective change, for the subgradient
        solver) at the returned point.
    history : list of dict
        One record per iteration: ``n_evaluations``, ``time``, ``objective`` (true,
        unsmoothed), ``gap`` and ``mu``.
    """

    coef: np.ndarray
    intercept: np.ndarray
    n_iter: int
    converged: bool
    gap: float
    history: list = field(default_factory=list)


class ProgressLog:
    """Collects history records and prints them when ``verbose``."""

    def __init__(self, solver_name, verbose):
        self.solver_name = solver_name
        self.verbose = verbose
        self.start = time.perf_counter()
        self.records = []

    def record(self, iteration, objective, n_evaluations, gap, mu=0.0, extra=""):
        elapsed = time.perf_counter() - self.start
        self.records.append(dict(iteration=iteration, n_evaluations=n_evaluations,
                                 time=elapsed, objective=objective, gap=gap, mu=mu))
        if self.verbose:
            print(f"[{self.solver_name}] iter {iteration:5d}  objective {objective:.8e}"
                  f"  gap {gap:.3e}  {extra}time {elapsed:.3f}s", flush=True)
