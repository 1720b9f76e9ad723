"""Time to a certified gap on standardized Fashion-MNIST: solver="newton" (from a
warm start, see ``--warm-tol``) against the estimator's other solvers, measured in
one run (``--verbose 1`` prints Newton's steps).

    python benchmarks/newton_fashion.py --n 10000 --loss hinge --intercept 1 \
        --tol 1e-3 --solvers newton,dual_cd --warm-tol 1e-2
"""

import argparse
import json
import os
import sys
import time
import warnings

import numpy as np
from sklearn.exceptions import ConvergenceWarning

sys.path.insert(0, os.path.dirname(__file__))
from datasets import load_fashion_mnist  # noqa: E402

from sksvm import LinearMulticlassSVM  # noqa: E402
from sksvm._objective import MulticlassSVMObjective  # noqa: E402
from sksvm._solvers.newton import solve_newton  # noqa: E402


def load_average():
    return os.getloadavg()[0]


def run_newton(X, y, args, tol, **options):
    """``solver="newton"`` from zero or, with ``--warm-tol``, continuing (warm
    start) a ``"dual_cd"`` (hinge; its dual point becomes the multipliers) or
    ``"lbfgs"`` (squared hinge) fit to that relative gap; the time includes the
    warm start."""
    model = LinearMulticlassSVM(C=args.C, loss=args.loss,
                                fit_intercept=bool(args.intercept), random_state=0,
                                verbose=args.verbose, warm_start=True)
    start = time.perf_counter()
    warm = {}
    if args.warm_tol > 0:
        model.set_params(solver="dual_cd" if args.loss == "hinge" else "lbfgs",
                         tol=args.warm_tol, max_iter=100000)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            model.fit(X, y)
        warm = dict(warm_time=time.perf_counter() - start,
                    warm_gap=float(model.duality_gap_), warm_iter=int(model.n_iter_))
    if not options:
        model.set_params(solver="newton", tol=tol, max_iter=args.max_iter)
        model.fit(X, y)
        return dict(time=time.perf_counter() - start, objective=model.objective(X, y),
                    gap=float(model.duality_gap_), n_iter=int(model.n_iter_), **warm)
    # The solver's tuning options (module constants' overrides) reach only the
    # module function.
    objective = MulticlassSVMObjective(
        X, y, np.ones(X.shape[0]), 10, C=args.C, loss=args.loss, margin=1.0,
        fit_intercept=bool(args.intercept), n_threads=os.cpu_count())
    coef0 = intercept0 = None
    if args.warm_tol > 0:
        coef0, intercept0 = model._full_parameters()
        if args.loss == "hinge":
            options["dual0"] = model._solver_state[1].alpha
    result = solve_newton(objective, coef0, intercept0, tol=tol,
                          max_iter=args.max_iter, verbose=args.verbose, **options)
    return dict(time=time.perf_counter() - start,
                objective=objective.value(result["coef"], result["intercept"]),
                gap=result["gap"], n_iter=result["n_iter"], **warm)


def run_estimator(X, y, args, tol, solver):
    model = LinearMulticlassSVM(C=args.C, loss=args.loss, solver=solver, tol=tol,
                                fit_intercept=bool(args.intercept), random_state=0,
                                max_iter=100000)
    start = time.perf_counter()
    model.fit(X, y)
    elapsed = time.perf_counter() - start
    return dict(time=elapsed, objective=model.objective(X, y),
                gap=float(model.duality_gap_), n_iter=int(model.n_iter_))


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--n", type=int, default=60000)
    parser.add_argument("--C", type=float, default=1e-3)
    parser.add_argument("--loss", default="hinge")
    parser.add_argument("--intercept", type=int, default=1)
    parser.add_argument("--tol", default="1e-3")
    parser.add_argument("--solvers", default="newton,dual_cd")
    parser.add_argument("--max-iter", type=int, default=300)
    parser.add_argument("--verbose", type=int, default=0)
    parser.add_argument("--options", default="{}")
    parser.add_argument("--dtype", default="float64")
    parser.add_argument("--json", default=None)
    parser.add_argument("--warm-tol", type=float, default=0.0)
    args = parser.parse_args()
    X, y, _, _ = load_fashion_mnist(dtype=np.dtype(args.dtype))
    X, y = np.ascontiguousarray(X[: args.n]), y[: args.n]
    options = json.loads(args.options)
    records = []
    for tol in [float(t) for t in args.tol.split(",")]:
        for solver in args.solvers.split(","):
            before = load_average()
            if solver == "newton":
                row = run_newton(X, y, args, tol, **options)
            else:
                row = run_estimator(X, y, args, tol, solver)
            row.update(solver=solver, tol=tol, n=args.n, loss=args.loss,
                       intercept=args.intercept, load_before=before,
                       load_after=load_average())
            print(json.dumps(row), flush=True)
            records.append(row)
    if args.json:
        with open(args.json, "w") as handle:
            json.dump(records, handle, indent=1, default=float)


if __name__ == "__main__":
    main()
