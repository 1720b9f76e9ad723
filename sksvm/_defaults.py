"""The constructor defaults and option lists of :class:`~sksvm.LinearMulticlassSVM`.

One home for them, in pure Python (no imports), so that the command line can show
them in ``--help`` without importing numba or scikit-learn.

Examples
--------
>>> from sksvm._defaults import DEFAULTS, LOSSES, SOLVERS
>>> DEFAULTS["C"], DEFAULTS["loss"] in LOSSES, DEFAULTS["solver"] in SOLVERS
(0.0001, True, True)
"""

#: The margin losses, ``loss``'s options.
LOSSES = ("hinge", "squared_hinge")

#: The optimization algorithms, ``solver``'s options.
SOLVERS = ("auto", "lbfgs", "subgradient", "dual_cd", "newton")

#: The string option of ``class_weight`` (besides a dict or None).
CLASS_WEIGHT_OPTIONS = ("balanced",)

#: The constructor's default parameters, by name.
DEFAULTS = {
    "C": 1e-4,
    "loss": "hinge",
    "margin": 1.0,
    "solver": "auto",
    "fit_intercept": True,
    "tol": 1e-3,
    "max_iter": 10000,
    "batch_size": "auto",
    "class_weight": None,
    "warm_start": False,
    "random_state": None,
    "verbose": 0,
    "n_threads": None,
    "solver_options": None,
}
