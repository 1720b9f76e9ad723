"""What the benchmark suite runs: data set sizes, models, time caps and targets.

Everything here is data; the worker, the adapters and the report read it.
"""

from collections import namedtuple

#: The margin of every Weston-Watkins fit and objective evaluation.
MARGIN = 1.0

#: Epochs of the subgradient runs (their accuracy is also reported after 1 and 2).
SUBGRADIENT_EPOCHS = 20

#: Problem size and C of each data set, for the full run and for ``--quick``.
DATASET_SPECS = {
    "full": {
        "fashion": dict(C=1e-3, n_train=None, n_test=None),
        "sparse": dict(C=1e-4, n_train=50_000, n_test=10_000, n_terms=100_000,
                       n_classes=20, min_terms=80, max_terms=160),
        "dense": dict(C=1e-3, n_train=1_000_000, n_test=100_000, n_features=100,
                      n_classes=10),
    },
    "quick": {
        "fashion": dict(C=1e-3, n_train=3_000, n_test=1_000),
        "sparse": dict(C=1e-4, n_train=3_000, n_test=1_000, n_terms=10_000,
                       n_classes=20, min_terms=80, max_terms=160),
        "dense": dict(C=1e-3, n_train=10_000, n_test=2_000, n_features=100,
                      n_classes=10),
    },
}

#: Time caps in seconds of the full run, per data set and model key.
CAPS = {
    "fashion": {"default": 240, "lbfgs": 600, "subgradient": 150, "dual_cd": 120,
                "newton": 240, "newton_tight": 240, "newton_sq": 180, "lbfgs_sq": 120,
                "subgradient_sq": 60, "dual_cd_sq": 60,
                "mlpack_lbfgs": 90, "sgd": 120, "linearsvc": 300,
                "crammer_singer": 60, "mlpack_psgd": 30},
    "sparse": {"default": 120, "lbfgs": 150, "subgradient": 60, "dual_cd": 90,
               "newton": 120, "newton_tight": 120, "newton_sq": 90, "lbfgs_sq": 90,
               "subgradient_sq": 60, "dual_cd_sq": 60,
               "mlpack_lbfgs": 60, "sgd": 60, "linearsvc": 60,
               "crammer_singer": 60, "mlpack_psgd": 30},
    "dense": {"default": 150, "lbfgs": 150, "subgradient": 150, "dual_cd": 60,
              "newton": 90, "newton_tight": 90, "newton_sq": 60, "lbfgs_sq": 60,
              "subgradient_sq": 60, "dual_cd_sq": 60,
              "mlpack_lbfgs": 60, "sgd": 90, "linearsvc": 120,
              "crammer_singer": 60, "mlpack_psgd": 20},
}

#: ``--quick`` divides every cap by this factor.
QUICK_CAP_DIVISOR = 10


def caps_for(quick, cap_scale=1.0):
    """Time caps (seconds) per data set and model key for one run.

    Parameters
    ----------
    quick : bool
        Whether this is a ``--quick`` run.
    cap_scale : float, default=1.0
        Factor applied to every cap (``--cap-scale``).

    Returns
    -------
    dict of dict of float
    """
    factor = cap_scale / (QUICK_CAP_DIVISOR if quick else 1)
    return {name: {key: cap * factor for key, cap in caps.items()}
            for name, caps in CAPS.items()}


ModelSpec = namedtuple("ModelSpec", "key label library params problem")
ModelSpec.__doc__ = """One benchmarked model.

Parameters
----------
key : str
    Short name, used in ``--only``, ``CAPS`` and the targets.
label : str
    Its row label in the report.
library : str
    Name of the adapter that fits it (see ``adapters.ADAPTERS``).
params : dict
    Keyword arguments of that adapter's estimator.
problem : str
    The problem it solves, for the report.
"""

_SUBGRADIENT = dict(solver="subgradient", batch_size=1, max_iter=SUBGRADIENT_EPOCHS,
                    tol=0.0, random_state=0, fit_intercept=False)

#: The models, in run order (the same on every data set).
MODELS = [
    ModelSpec("default", "sksvm default: LinearMulticlassSVM(C)", "sksvm", {},
              "WW, intercept"),
    ModelSpec("lbfgs", "sksvm lbfgs hinge", "sksvm",
              dict(solver="lbfgs", fit_intercept=False), "WW"),
    ModelSpec("subgradient", f"sksvm subgradient hinge (bs=1, {SUBGRADIENT_EPOCHS} ep.)",
              "sksvm", dict(_SUBGRADIENT), "WW"),
    ModelSpec("dual_cd", "sksvm dual_cd hinge", "sksvm",
              dict(solver="dual_cd", fit_intercept=False, random_state=0), "WW"),
    ModelSpec("newton", "sksvm newton hinge", "sksvm",
              dict(solver="newton", fit_intercept=False), "WW"),
    # The same fit to tol=1e-6: its time against the row above is the Newton
    # solver's tail (its target: at most twice the time).
    ModelSpec("newton_tight", "sksvm newton hinge, tol=1e-6", "sksvm",
              dict(solver="newton", fit_intercept=False, tol=1e-6), "WW"),
    ModelSpec("lbfgs_sq", "sksvm lbfgs squared_hinge", "sksvm",
              dict(solver="lbfgs", fit_intercept=False, loss="squared_hinge"),
              "WW squared"),
    ModelSpec("subgradient_sq", "sksvm subgradient squared_hinge", "sksvm",
              dict(_SUBGRADIENT, loss="squared_hinge"), "WW squared"),
    ModelSpec("dual_cd_sq", "sksvm dual_cd squared_hinge", "sksvm",
              dict(solver="dual_cd", fit_intercept=False, random_state=0,
                   loss="squared_hinge"), "WW squared"),
    ModelSpec("newton_sq", "sksvm newton squared_hinge", "sksvm",
              dict(solver="newton", fit_intercept=False, loss="squared_hinge"),
              "WW squared"),
    ModelSpec("mlpack_lbfgs", "mlpack linear_svm lbfgs", "mlpack",
              dict(optimizer="lbfgs"), "WW (mlpack)"),
    ModelSpec("sgd", "SGDClassifier(hinge, alpha=C)", "sgd", {}, "OvR hinge"),
    ModelSpec("linearsvc", "LinearSVC() ovr", "linearsvc", {}, "OvR sq. hinge"),
    ModelSpec("crammer_singer", "LinearSVC(crammer_singer)", "linearsvc",
              dict(multi_class="crammer_singer"), "Crammer-Singer"),
    # Last: it has not finished within its cap here, and a time-out costs a
    # worker restart.
    ModelSpec("mlpack_psgd", "mlpack linear_svm psgd", "mlpack",
              dict(optimizer="psgd"), "WW (mlpack)"),
]

#: The targets the report checks (issue 7).
TARGETS = dict(
    # Default fit time / LinearSVC() time, at least its accuracy.
    default_time_vs_linearsvc=0.1,
    # Certified relative duality gap of lbfgs (fit_intercept=False).
    lbfgs_gap=1e-3,
    # Loss-gradient evaluations of the prototype's lbfgs, for comparison.
    prototype_lbfgs_evaluations=860,
    # Subgradient (bs=1): test accuracy after 1 or 2 epochs.
    subgradient_accuracy=0.84,
    # Subgradient: J after SUBGRADIENT_EPOCHS epochs / best J.
    subgradient_objective_ratio=1.05,
    # Kernel: dense float64 loss_gradient time / numpy products time.
    dense_kernel_vs_numpy=0.6,
    # Kernel: float64 time / float32 time.
    float32_speedup=1.5,
    # Kernel: CSR loss_gradient time / scipy products time.
    csr_kernel_vs_scipy=1.0,
    # Peak resident memory during a fit / size of X.
    peak_memory_over_x=1.5,
)

#: Thresholds of relative suboptimality at which the report marks lbfgs's curve.
LBFGS_CURVE_MARKS = (1e-1, 1e-2, 1e-3)
