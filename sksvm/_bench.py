"""The package's main job: fit digits and compare with LinearSVC."""

import time
import warnings

import numpy as np


def compare_on_digits(C=1e-3, random_state=0, print_fn=print):
    """Fit LinearMulticlassSVM and LinearSVC on sklearn's digits and report.

    Parameters
    ----------
    C : float, default=1e-3
        Regularization strength of LinearMulticlassSVM; LinearSVC gets its default.
    random_state : int, default=0
        Seed of the train/test split.
    print_fn : callable, default=print
        Where the report lines go.

    Returns
    -------
    results : list of dict
        One record per model: ``model``, ``accuracy``, ``fit_time``.
    """
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler
    from sklearn.svm import LinearSVC

    from ._estimator import LinearMulticlassSVM

    X, y = load_digits(return_X_y=True)
    X_train, X_test, y_train, y_test = train_test_split(
        X, y, test_size=0.25, random_state=random_state, stratify=y)
    # The first fit compiles the numba kernels (or loads them from the cache).
    start = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # two iterations do not converge
        LinearMulticlassSVM(C=C, max_iter=2).fit(X_train[:50], y_train[:50])
    compile_time = time.perf_counter() - start
    models = {
        f"LinearMulticlassSVM(C={C:g})": make_pipeline(StandardScaler(),
                                                       LinearMulticlassSVM(C=C)),
        "LinearSVC()": make_pipeline(StandardScaler(), LinearSVC()),
    }
    results = []
    print_fn(f"digits: {X_train.shape[0]} train / {X_test.shape[0]} test samples, "
             f"{X.shape[1]} features, {len(np.unique(y))} classes")
    print_fn(f"first-call compile/cache load: {compile_time:.2f} s")
    print_fn(f"{'model':<32} {'accuracy':>9} {'fit time':>10}")
    for name, model in models.items():
        times = []
        for _ in range(3):
            start = time.perf_counter()
            model.fit(X_train, y_train)
            times.append(time.perf_counter() - start)
        accuracy = model.score(X_test, y_test)
        fit_time = float(np.median(times))
        results.append(dict(model=name, accuracy=accuracy, fit_time=fit_time))
        print_fn(f"{name:<32} {accuracy:>9.4f} {fit_time:>9.3f}s")
    return results
