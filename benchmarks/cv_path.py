"""Choosing C: LinearMulticlassSVMCV's warm path against GridSearchCV's cold fits.

For each data set, both search the same grid (the CV estimator's ``Cs_``: ``--n-Cs``
values from the largest useful C down four decades) with the same folds
(``StratifiedKFold(--folds, shuffle=True, random_state=0)``), the same ``n_jobs``
and the same estimator settings (``tol=1e-3``, default solver), and both refit at
the chosen C. Reported: each one's wall time, their ratio, the chosen C of each,
and the CV estimator's largest certified duality gap over the path; a figure
beside the report (``.png``) shows each data set's validation curve from both
searches and their times.

Data sets: standardized digits; a row subset of standardized Fashion-MNIST (skipped
when absent); the sparse text-like set of ``benchmarks/sparse_text.py``.

Usage::

    python benchmarks/cv_path.py                       # full sizes
    python benchmarks/cv_path.py --fashion-rows 5000 --text-rows 5000 --text-terms 10000
"""

import argparse
import os
import time
import warnings

import numpy as np
from sklearn.datasets import load_digits
from sklearn.exceptions import ConvergenceWarning
from sklearn.model_selection import GridSearchCV, StratifiedKFold
from sklearn.preprocessing import StandardScaler

from datasets import fashion_mnist_available, load_fashion_mnist
from sparse_text import make_sparse_text

from sksvm import LinearMulticlassSVM, LinearMulticlassSVMCV

RESULTS = os.path.join(os.path.dirname(os.path.abspath(__file__)), "results",
                       "cv_path.md")


def load(name, fashion_rows=20000, text_rows=20000, text_terms=50000):
    """(X, y) of a data set: "digits" (standardized), "fashion" (the first
    ``fashion_rows`` rows of standardized Fashion-MNIST) or "text" (the sparse
    text set, ``text_rows`` × ``text_terms``)."""
    if name == "digits":
        X, y = load_digits(return_X_y=True)
        return StandardScaler().fit_transform(X), y
    if name == "fashion":
        X, y, _, _ = load_fashion_mnist()
        return X[:fashion_rows], y[:fashion_rows]
    return make_sparse_text(n_docs=text_rows, n_terms=text_terms)


def compare(name, X, y, n_Cs, n_folds, n_jobs, fit_intercept):
    """Time both searches on (X, y); one row of the results table."""
    splitter = StratifiedKFold(n_folds, shuffle=True, random_state=0)
    settings = dict(tol=1e-3, random_state=0, fit_intercept=fit_intercept)
    # Compile (or load) the kernels for this kind of input before timing anything,
    # in every worker process of joblib's pool when n_jobs > 1 (the pool is kept
    # for both searches; otherwise the first search timed pays for starting it).
    LinearMulticlassSVMCV(Cs=2, cv=max(2, n_jobs), n_jobs=n_jobs,
                          **settings).fit(X[:200], y[:200])
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", ConvergenceWarning)
        start = time.perf_counter()
        path = LinearMulticlassSVMCV(Cs=n_Cs, cv=splitter, n_jobs=n_jobs,
                                     **settings).fit(X, y)
        path_seconds = time.perf_counter() - start
        path_warnings = len(caught)
        start = time.perf_counter()
        search = GridSearchCV(LinearMulticlassSVM(**settings),
                              {"C": list(path.Cs_)}, cv=splitter,
                              n_jobs=n_jobs).fit(X, y)
        grid_seconds = time.perf_counter() - start
        grid_warnings = len(caught) - path_warnings
    row = dict(data=name, shape=f"{X.shape[0]} x {X.shape[1]}",
               intercept=fit_intercept, path_s=path_seconds, grid_s=grid_seconds,
               ratio=path_seconds / grid_seconds, C_path=path.C_,
               C_grid=search.best_params_["C"],
               same_C=path.C_ == search.best_params_["C"],
               score_path=path.scores_.mean(axis=0).max(),
               score_grid=search.best_score_, max_gap=path.duality_gaps_.max(),
               warnings=f"{path_warnings}/{grid_warnings}",
               load=os.getloadavg()[0],
               curves=dict(Cs=path.Cs_, path=path.scores_.mean(axis=0),
                           path_std=path.scores_.std(axis=0),
                           grid=search.cv_results_["mean_test_score"]))
    print(row, flush=True)
    return row


def plot(rows, out):
    """The path figure: each data set's validation curve, path and grid search
    (the same folds and values of C), and the two searches' times."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(len(rows), 2, figsize=(9, 3.2 * len(rows)),
                             gridspec_kw={"width_ratios": [3, 1]},
                             layout="constrained", squeeze=False)
    for (curve, times), r in zip(axes, rows):
        c = r["curves"]
        curve.plot(c["Cs"], c["path"], marker="o", label="LinearMulticlassSVMCV")
        curve.fill_between(c["Cs"], c["path"] - c["path_std"],
                           c["path"] + c["path_std"], alpha=0.2)
        curve.plot(c["Cs"], c["grid"], linestyle="--", marker="x",
                   label="GridSearchCV")
        curve.axvline(r["C_path"], color="gray", linewidth=0.8)
        curve.set(xscale="log", xlabel="C (larger: simpler model)",
                  ylabel="cross-validated accuracy",
                  title=f"{r['data']} ({r['shape']})")
        curve.legend(loc="lower left")
        times.bar(["path", "grid"], [r["path_s"], r["grid_s"]], color=["C0", "C1"])
        times.set(ylabel="seconds (fit and refit)",
                  title=f"path/grid {r['ratio']:.2f}")
    fig.savefig(out, dpi=90)
    plt.close(fig)


def write(rows, notes, out):
    header = ("| data | n x d | intercept | path (s) | grid (s) | path/grid | C_ path "
              "| C grid | same C | best CV score path / grid | max gap | "
              "non-converged fits path/grid | load (1 min) |")
    lines = ["# LinearMulticlassSVMCV against GridSearchCV", "",
             *[f"- {note}" for note in notes], "", header,
             "|" + "---|" * 13]
    for r in rows:
        lines.append(
            f"| {r['data']} | {r['shape']} | {r['intercept']} | {r['path_s']:.1f} | "
            f"{r['grid_s']:.1f} | {r['ratio']:.2f} | {r['C_path']:.3g} | "
            f"{r['C_grid']:.3g} | {r['same_C']} | {r['score_path']:.4f} / "
            f"{r['score_grid']:.4f} | {r['max_gap']:.1e} | {r['warnings']} | "
            f"{r['load']:.1f} |")
    figure = os.path.splitext(out)[0] + ".png"
    plot(rows, figure)
    lines += ["", f"![Validation curves and times]({os.path.basename(figure)})"]
    with open(out, "w") as handle:
        handle.write("\n".join(lines) + "\n")


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n-Cs", type=int, default=10)
    parser.add_argument("--folds", type=int, default=5)
    parser.add_argument("--n-jobs", type=int, default=1)
    parser.add_argument("--fashion-rows", type=int, default=20000,
                        help="0 skips Fashion-MNIST")
    parser.add_argument("--text-rows", type=int, default=20000, help="0 skips")
    parser.add_argument("--text-terms", type=int, default=50000)
    parser.add_argument("--no-intercept", action="store_true")
    parser.add_argument("--note", action="append", default=[],
                        help="a line for the results file (repeatable)")
    parser.add_argument("--out", default=RESULTS)
    args = parser.parse_args(argv)
    fit_intercept = not args.no_intercept
    common = dict(n_Cs=args.n_Cs, n_folds=args.folds, n_jobs=args.n_jobs,
                  fit_intercept=fit_intercept)
    notes = [f"{args.n_Cs} values of C (from C_max down four decades), "
             f"{args.folds} stratified folds, n_jobs={args.n_jobs}, tol=1e-3, "
             "default solver, both refit at their chosen C. Times are wall "
             "seconds of one run each (after a small fit that compiles the "
             "kernels), measured one after the other on a shared machine: compare "
             "the ratio, with the load average beside it.",
             *args.note]
    sizes = dict(fashion_rows=args.fashion_rows, text_rows=args.text_rows,
                 text_terms=args.text_terms)
    rows = [compare("digits", *load("digits"), **common)]
    write(rows, notes, args.out)
    if args.fashion_rows:
        if fashion_mnist_available():
            rows.append(compare("Fashion-MNIST", *load("fashion", **sizes), **common))
        else:
            notes.append("Fashion-MNIST was not found: skipped.")
        write(rows, notes, args.out)
    if args.text_rows:
        rows.append(compare("sparse text", *load("text", **sizes), **common))
        write(rows, notes, args.out)


if __name__ == "__main__":
    main()
