"""The small-and-medium dense problems suite: does each solver converge without a
ConvergenceWarning, and in how much time?

Generates problems with 50–5000 samples, 2–50 features and 2–10 classes, raw
(features on scales from 1 to 100, shifted) and standardized, with C log-uniform
on [1e-6, 1], and fits each with the default estimator and with each solver.
Writes ``benchmarks/results/small_problems.md`` (or ``--out``).

Usage::

    python benchmarks/small_problems.py --n-problems 60
    python benchmarks/small_problems.py --loss squared_hinge --solvers default,newton,lbfgs
"""

import argparse
import json
import os
import subprocess
import time
import warnings

import numpy as np
from sklearn.exceptions import ConvergenceWarning
from sklearn.preprocessing import StandardScaler

from sksvm import LinearMulticlassSVM

HERE = os.path.dirname(os.path.abspath(__file__))


def make_suite(n_problems, seed=0):
    """A list of ``(name, X, y, C)``: the generated problems (module docstring)."""
    rng = np.random.default_rng(seed)
    problems = []
    for index in range(n_problems):
        n = int(np.exp(rng.uniform(np.log(50), np.log(5000))))
        d = int(rng.integers(2, 51))
        k = int(rng.integers(2, 11))
        noise = rng.uniform(0.5, 2.0)
        centers = rng.normal(size=(k, d))
        y = rng.integers(k, size=n)
        y[:k] = np.arange(k)  # every class present
        X = centers[y] + noise * rng.normal(size=(n, d))
        standardized = index % 2 == 0
        if standardized:
            X = StandardScaler().fit_transform(X)
        else:
            X = X * rng.uniform(1, 100, size=d) + rng.uniform(-50, 50, size=d)
        C = float(10 ** rng.uniform(-6, 0))
        kind = "std" if standardized else "raw"
        problems.append((f"p{index:02d}-n{n}-d{d}-k{k}-{kind}-C{C:.0e}", X, y, C))
    return problems


def fit(X, y, C, **params):
    """(seconds, warned, n_iter, duality gap) of one fit."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", ConvergenceWarning)
        start = time.perf_counter()
        model = LinearMulticlassSVM(C=C, **params).fit(X, y)
        seconds = time.perf_counter() - start
    warned = any(issubclass(w.category, ConvergenceWarning) for w in caught)
    return seconds, warned, int(model.n_iter_), float(model.duality_gap_), model.solver_


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n-problems", type=int, default=60)
    parser.add_argument("--solvers", default="default,newton,lbfgs,dual_cd")
    parser.add_argument("--loss", default="hinge", choices=["hinge", "squared_hinge"])
    parser.add_argument("--out", default=os.path.join(HERE, "results"))
    args = parser.parse_args(argv)
    suite = make_suite(args.n_problems)
    LinearMulticlassSVM(max_iter=2).fit(suite[0][1][:50], suite[0][2][:50])  # compile
    rows = []
    totals = {}
    for name, X, y, C in suite:
        row = dict(problem=name)
        for solver in args.solvers.split(","):
            params = dict(loss=args.loss)
            if solver != "default":
                params["solver"] = solver
            seconds, warned, n_iter, gap, chosen = fit(X, y, C, **params)
            row[solver] = dict(seconds=seconds, warned=warned, n_iter=n_iter, gap=gap,
                               solver=chosen)
            total = totals.setdefault(solver, dict(seconds=0.0, warned=0))
            total["seconds"] += seconds
            total["warned"] += int(warned)
        rows.append(row)
        print(name, {s: (round(v["seconds"], 3), v["warned"], v["n_iter"])
                     for s, v in row.items() if s != "problem"}, flush=True)
    load = os.getloadavg()[0]
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=HERE,
                            capture_output=True, text=True).stdout.strip()
    suffix = "" if args.loss == "hinge" else f"_{args.loss}"
    os.makedirs(os.path.join(args.out, "raw"), exist_ok=True)
    with open(os.path.join(args.out, "raw", f"small_problems{suffix}.json"), "w") as handle:
        json.dump(dict(rows=rows, totals=totals, loss=args.loss, commit=commit),
                  handle, indent=1)
    default_solvers = sorted({row["default"]["solver"] for row in rows if "default" in row})
    lines = [f"# Small and medium dense problems ({args.loss})", "",
             f"{len(suite)} generated problems (benchmarks/small_problems.py): 50–5000 "
             "samples, 2–50 features, 2–10 classes, raw and standardized, C "
             f"log-uniform on [1e-6, 1]; `loss={args.loss!r}`, default `tol=1e-3`, "
             "`max_iter=10000`.", "",
             "| solver | total time (s) | fits with a ConvergenceWarning |",
             "|---|---|---|"]
    for solver, total in totals.items():
        lines.append(f"| {solver} | {total['seconds']:.1f} | {total['warned']} of "
                     f"{len(suite)} |")
    lines += ["", f"One run at git {commit}; load average {load:.1f} at the end of the "
              "run (2 cores). The default (`solver=\"auto\"`) chose "
              f"{', '.join(default_solvers) or '-'} on these problems. Per-problem "
              f"records: `benchmarks/results/raw/small_problems{suffix}.json`."]
    with open(os.path.join(args.out, f"small_problems{suffix}.md"), "w") as handle:
        handle.write("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
