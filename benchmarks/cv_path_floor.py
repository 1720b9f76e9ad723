"""Where a cross-validated path's time could go: each fit of a fold's path timed
three ways, one after the other, at every value of C.

- **cold**: ``LinearMulticlassSVM(C=C).fit`` on the fold's training part, as a
  grid search fits it;
- **warm**: the path's fit, as ``LinearMulticlassSVMCV`` makes it (one objective
  for the fold, each fit warm-started from the previous C's, only ``tol``
  certified);
- **from the optimum**: the same fit started from that C's own solution to
  ``tol=1e-9`` (computed first, not timed): what a perfect warm start would
  leave, the certificate and the fit's fixed costs.

A path of warm fits can cost ``warm / cold`` of a grid search's fits at best
(a grid search also validates and copies each fold's data), and no warm start
does better than ``from the optimum / cold``. Reaching a ratio needs warm fits
close to the second.

The data sets and values of C are ``cv_path.py``'s (standardized digits, the
first 20000 rows of standardized Fashion-MNIST, the sparse text set; 10 values
from the largest useful C down four decades; ``StratifiedKFold(5, shuffle=True,
random_state=0)``), measured on the first ``--folds`` folds. Uses the CV
estimator's private hooks, to time its fits one by one.

Usage::

    python benchmarks/cv_path_floor.py --out benchmarks/results/cv_path_s15/floor.md
    python benchmarks/cv_path_floor.py --data digits --folds 5
"""

import argparse
import os
import time
import warnings

import numpy as np
from sklearn.exceptions import ConvergenceWarning
from sklearn.model_selection import StratifiedKFold

from cv_path import load
from datasets import fashion_mnist_available

from sksvm import LinearMulticlassSVM, LinearMulticlassSVMCV
from sksvm._cv import _keep_the_weights_at_the_next_C
from sksvm._objective import largest_useful_C


def timed(fit):
    start = time.perf_counter()
    fit()
    return time.perf_counter() - start


def measure_fold(X, y, train, Cs, settings):
    """Rows (C, cold s, warm s, from-optimum s, warm iterations) of one fold."""
    X_train, y_train = X[train], y[train]
    warm = LinearMulticlassSVM(warm_start=True, **settings)
    objective, classes = warm.set_params(C=Cs[0])._fit_objective(X_train, y_train, None)
    rows = []
    for C in Cs:
        cold_s = timed(lambda: LinearMulticlassSVM(C=C, **settings).fit(X_train, y_train))
        _keep_the_weights_at_the_next_C(warm, C)
        warm_s = timed(lambda: warm.set_params(C=C)._fit_on(objective, classes,
                                                           finish_exactly=False))
        optimal = LinearMulticlassSVM(C=C, warm_start=True,
                                      **dict(settings, tol=1e-9, max_iter=100_000))
        optimal.fit(X_train, y_train)
        optimal.set_params(tol=settings["tol"])
        from_optimum_s = timed(lambda: optimal._fit_on(objective.with_C(C), classes,
                                                       finish_exactly=False))
        rows.append((C, cold_s, warm_s, from_optimum_s, warm.n_iter_))
    return rows


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", action="append",
                        choices=["digits", "fashion", "text"],
                        help="repeatable; default: all three (Fashion-MNIST when "
                             "installed)")
    parser.add_argument("--folds", type=int, default=1,
                        help="how many of the 5 folds to measure")
    parser.add_argument("--fashion-rows", type=int, default=20000)
    parser.add_argument("--text-rows", type=int, default=20000)
    parser.add_argument("--text-terms", type=int, default=50000)
    parser.add_argument("--no-intercept", action="store_true")
    parser.add_argument("--out", default=None)
    args = parser.parse_args(argv)
    names = args.data or ["digits", "fashion", "text"]
    if "fashion" in names and not fashion_mnist_available():
        print("Fashion-MNIST was not found: skipped.")
        names = [name for name in names if name != "fashion"]
    settings = dict(tol=1e-3, random_state=0, fit_intercept=not args.no_intercept)
    lines = ["# Cross-validated path: warm fits against cold fits and their floor", "",
             f"tol=1e-3, intercept {settings['fit_intercept']}, the first "
             f"{args.folds} fold(s) of 5; seconds per fit, one run, measured one "
             "after the other.", ""]
    for name in names:
        X, y = load(name, args.fashion_rows, args.text_rows, args.text_terms)
        # Compile (or load) the kernels before timing anything.
        LinearMulticlassSVMCV(Cs=2, cv=2, **settings).fit(X[:200], y[:200])
        Cs = LinearMulticlassSVMCV(Cs=10, **settings)._path_Cs(
            _largest_useful_C(X, y, settings))
        splitter = StratifiedKFold(5, shuffle=True, random_state=0)
        rows = []
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            for train, _ in list(splitter.split(X, y))[:args.folds]:
                rows += measure_fold(X, y, train, Cs, settings)
        table = np.array([row[1:4] for row in rows])
        cold, warm, floor = table.sum(axis=0)
        lines += [f"## {name} ({X.shape[0]} x {X.shape[1]})", "",
                  "| C | cold (s) | warm (s) | from the optimum (s) | warm iterations |",
                  "|---|---|---|---|---|"]
        lines += [f"| {C:.3g} | {c:.3f} | {w:.3f} | {f:.3f} | {n} |"
                  for C, c, w, f, n in rows]
        lines += ["", f"Sums: cold {cold:.2f} s, warm {warm:.2f} s "
                      f"(**{warm / cold:.2f}** of cold), from the optimum "
                      f"{floor:.2f} s (**{floor / cold:.2f}** of cold); load "
                      f"{os.getloadavg()[0]:.1f}.", ""]
        print("\n".join(lines[-4:]), flush=True)
    if args.out:
        with open(args.out, "w") as handle:
            handle.write("\n".join(lines) + "\n")


def _largest_useful_C(X, y, settings):
    """The whole data's largest useful C, as the CV estimator computes it (unit
    sample weights, the default loss and margin)."""
    classes, y_encoded = np.unique(y, return_inverse=True)
    return largest_useful_C(X, y_encoded, np.ones(len(y)), len(classes))


if __name__ == "__main__":
    main()
