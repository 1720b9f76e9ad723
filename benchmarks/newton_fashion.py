"""Time to a certified gap on standardized Fashion-MNIST: solver="newton" (the
module function) against the estimator's dual_cd and lbfgs, measured in one run.

    python benchmarks/newton_fashion.py --n 10000 --loss hinge --intercept 1 \
        --tol 1e-3 --solvers newton,dual_cd --warm-tol 1e-2
"""

import argparse
import json
import os
import sys
import time

import numpy as np

sys.path.insert(0, os.path.dirname(__file__))
from datasets import load_fashion_mnist  # noqa: E402

from sksvm import LinearMulticlassSVM  # noqa: E402
from sksvm._estimator import _minimize_lbfgs_rescaled  # noqa: E402
from sksvm._objective import MulticlassSVMObjective  # noqa: E402
from sksvm._solvers.dual_cd import minimize_dual_cd  # noqa: E402
from sksvm._solvers.newton import solve_newton  # noqa: E402


def load_average():
    return os.getloadavg()[0]


def run_newton(X, y, args, tol, **options):
    """Newton from zero, or from a dual_cd (hinge) / lbfgs (squared hinge) point
    of relative gap ``--warm-tol``; the time includes the warm start."""
    objective = MulticlassSVMObjective(
        X, y, np.ones(X.shape[0]), 10, C=args.C, loss=args.loss, margin=1.0,
        fit_intercept=bool(args.intercept), n_threads=os.cpu_count())
    start = time.perf_counter()
    coef0 = intercept0 = None
    warm = {}
    if args.warm_tol > 0:
        if args.loss == "hinge":
            first = minimize_dual_cd(objective, tol=args.warm_tol, max_iter=100000,
                                     random_state=np.random.RandomState(0))
            options["dual0"] = first.alpha
        else:
            first = _minimize_lbfgs_rescaled(
                objective, np.zeros((10, X.shape[1])), np.zeros(10),
                tol=args.warm_tol, max_iter=100000)
        coef0, intercept0 = first.coef, first.intercept
        warm = dict(warm_time=time.perf_counter() - start, warm_gap=first.gap,
                    warm_iter=first.n_iter)
    result = solve_newton(objective, coef0, intercept0, tol=tol,
                          max_iter=args.max_iter, verbose=args.verbose, **options)
    elapsed = time.perf_counter() - start
    value = objective.value(result["coef"], result["intercept"])
    return dict(time=elapsed, objective=value, gap=result["gap"],
                n_iter=result["n_iter"], converged=result["converged"],
                history=result["history"], **warm)


def run_estimator(X, y, args, tol, solver):
    model = LinearMulticlassSVM(C=args.C, loss=args.loss, solver=solver, tol=tol,
                                fit_intercept=bool(args.intercept), random_state=0,
                                max_iter=100000)
    start = time.perf_counter()
    model.fit(X, y)
    elapsed = time.perf_counter() - start
    objective = MulticlassSVMObjective(
        X, y, np.ones(X.shape[0]), 10, C=args.C, loss=args.loss, margin=1.0,
        fit_intercept=bool(args.intercept), n_threads=os.cpu_count())
    value = objective.value(model.coef_, np.asarray(model.intercept_) if args.intercept
                            else np.zeros(10))
    return dict(time=elapsed, objective=value, gap=float(model.duality_gap_),
                n_iter=int(model.n_iter_))


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
    parser.add_argument("--quiet", type=int, default=0)
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
            history = row.pop("history", None)
            print(json.dumps(row), flush=True)
            if history is not None and args.verbose == 0 and not args.quiet:
                for rec in history:
                    print("   ", {k: (round(v, 6) if isinstance(v, float) else v)
                                  for k, v in rec.items()}, flush=True)
            row["history"] = history
            records.append(row)
    if args.json:
        with open(args.json, "w") as handle:
            json.dump(records, handle, indent=1, default=float)


if __name__ == "__main__":
    main()
