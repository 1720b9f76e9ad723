"""The package's main job (``sksvm bench``): fit two problems with
LinearMulticlassSVM and with LinearSVC at matched regularization, and report."""

import time
import warnings

import numpy as np

# The generated problem: large enough for the difference in fit time to show,
# small enough for the whole job to take well under a minute (2 cores).
BLOBS_TRAIN = 40_000
BLOBS_TEST = 20_000
BLOBS_FEATURES = 100
BLOBS_CLASSES = 10


def make_dense_blobs(n_samples=1_000_000, n_features=100, n_classes=10, seed=0,
                     dtype=np.float64):
    """Gaussian classes with overlapping means: a large dense synthetic problem.

    Parameters
    ----------
    n_samples, n_features, n_classes : int
    seed : int
        Seed of the generator.
    dtype : numpy dtype, default=np.float64

    Returns
    -------
    X : ndarray of shape (n_samples, n_features)
    y : ndarray of shape (n_samples,)
        Labels in ``0 .. n_classes - 1``.
    """
    rng = np.random.default_rng(seed)
    centers = rng.normal(scale=0.3, size=(n_classes, n_features))
    y = rng.integers(n_classes, size=n_samples)
    X = rng.standard_normal((n_samples, n_features), dtype=np.float64)
    X += centers[y]
    return X.astype(dtype, copy=False), y


def matched_linearsvc_C(C, n_samples):
    """LinearSVC's C with the same ratio of penalty to mean loss as our C.

    Ours is (C/2)‖W‖² + (1/n) Σ loss; LinearSVC's is (1/2)‖w‖² + C_svc Σ loss, so
    C_svc = 1 / (n C). (For binary problems without intercept and with the hinge,
    the exact equivalence is 2 / (n C): the binary model stores w_1 − w_0.)
    """
    return 1.0 / (n_samples * C)


def _problems(random_state):
    """(name, X_train, X_test, y_train, y_test, standardize) of each problem."""
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    X, y = load_digits(return_X_y=True)
    digits = ("digits", *train_test_split(X, y, test_size=0.25, stratify=y,
                                          random_state=random_state), True)
    X, y = make_dense_blobs(BLOBS_TRAIN + BLOBS_TEST, BLOBS_FEATURES, BLOBS_CLASSES,
                            seed=random_state)
    blobs = ("generated Gaussian blobs", X[:BLOBS_TRAIN], X[BLOBS_TRAIN:],
             y[:BLOBS_TRAIN], y[BLOBS_TRAIN:], False)
    return [digits, blobs]


def compare(C=1e-3, random_state=0, repeats=3, print_fn=print):
    """Fit LinearMulticlassSVM and LinearSVC on digits and on generated blobs.

    LinearSVC gets the regularization matched to ``C``
    (:func:`matched_linearsvc_C`). Fit times are medians over ``repeats`` fits on
    digits and single fits on the blobs.

    Parameters
    ----------
    C : float, default=1e-3
        Regularization strength of LinearMulticlassSVM.
    random_state : int, default=0
        Seed of the digits split and of the generated problem.
    repeats : int, default=3
        Fits per model on digits.
    print_fn : callable, default=print
        Where the report lines go.

    Returns
    -------
    results : list of dict
        One record per (problem, model): ``problem``, ``model``, ``accuracy``,
        ``fit_time``, ``duality_gap`` (None for LinearSVC) and ``solver``.
    """
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler
    from sklearn.svm import LinearSVC

    from ._estimator import LinearMulticlassSVM
    from ._solvers import auto_solver_in_memory

    problems = _problems(random_state)
    # The first fit of each solver that the default picks for these problems
    # compiles its numba kernels (or loads them from the cache): done here, on a
    # tiny problem, so that the fit times below do not include it.
    solvers = sorted({auto_solver_in_memory(False, "hinge", *X_train.shape,
                                            len(np.unique(y_train)))
                      for _, X_train, _, y_train, _, _ in problems})
    start = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # two iterations do not converge
        for solver in solvers:
            LinearMulticlassSVM(C=C, solver=solver, max_iter=2).fit(
                np.eye(6, 3), np.arange(6) % 3)
    print_fn(f"first-call compile/cache load ({', '.join(solvers)}): "
             f"{time.perf_counter() - start:.2f} s")
    results = []
    for name, X_train, X_test, y_train, y_test, standardize in problems:
        n, d = X_train.shape
        svc_C = matched_linearsvc_C(C, n)
        print_fn("")
        print_fn(f"{name}: {n} train / {X_test.shape[0]} test samples, {d} features, "
                 f"{len(np.unique(y_train))} classes"
                 + (", standardized" if standardize else ""))
        print_fn(f"{'model':<36} {'accuracy':>9} {'fit time':>9} {'certified gap':>14}")
        models = {f"LinearMulticlassSVM(C={C:g})": LinearMulticlassSVM(
                      C=C, random_state=random_state),
                  f"LinearSVC(C={svc_C:.3g})": LinearSVC(C=svc_C)}
        for label, model in models.items():
            estimator = make_pipeline(StandardScaler(), model) if standardize else model
            times = []
            for _ in range(repeats if n < 10_000 else 1):
                start = time.perf_counter()
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore")  # reported below, not warned
                    estimator.fit(X_train, y_train)
                times.append(time.perf_counter() - start)
            gap = getattr(model, "duality_gap_", None)
            record = dict(problem=name, model=label,
                          accuracy=float(estimator.score(X_test, y_test)),
                          fit_time=float(np.median(times)), duality_gap=gap,
                          solver=getattr(model, "solver_", "liblinear"))
            results.append(record)
            gap_text = "-" if gap is None else f"{gap:.1e}"
            print_fn(f"{label:<36} {record['accuracy']:>9.4f} "
                     f"{record['fit_time']:>8.2f}s {gap_text:>14}")
        ours, theirs = results[-2], results[-1]
        print_fn(f"fit time ratio {ours['fit_time'] / theirs['fit_time']:.2f} "
                 f"(solver {ours['solver']!r}); LinearSVC's C = 1 / (n C) matches "
                 "the regularization")
    return results
