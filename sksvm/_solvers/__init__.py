"""Solvers: each takes an objective and a start point and returns a SolverResult.

No scikit-learn code lives here; the estimator translates its parameters.
"""

from ._result import SolverResult
from .lbfgs import minimize_lbfgs
from .subgradient import SubgradientState, minimize_subgradient

__all__ = ["SolverResult", "SubgradientState", "minimize_lbfgs", "minimize_subgradient"]
