"""Fits beside a busy process: each solver at one thread and at all threads, on an
otherwise idle machine and beside one CPU-bound process.

The data are standardized Fashion-MNIST (``--rows`` training rows; a generated
dense set of the same shape when the Debian package ``dataset-fashion-mnist`` is
absent), C = 1e-3. Each fit runs ``--repeats`` times; medians are reported, with the
ratio of the all-threads time to the one-thread time measured in the same
condition. Writes ``busy_machine.md`` to ``--out`` (default
``benchmarks/results/``).

Usage::

    python benchmarks/busy_machine.py --rows 20000 --repeats 3
"""

import argparse
import multiprocessing as mp
import os
import time
import warnings

import numpy as np

from datasets import fashion_mnist_available, load_fashion_mnist, make_dense_blobs
from sksvm import LinearMulticlassSVM

HERE = os.path.dirname(os.path.abspath(__file__))

FITS = {
    "default (auto)": dict(random_state=0),
    "lbfgs, no intercept": dict(solver="lbfgs", fit_intercept=False, max_iter=200),
    "lbfgs, squared hinge": dict(solver="lbfgs", loss="squared_hinge", max_iter=200),
    "dual_cd": dict(solver="dual_cd", max_iter=30, random_state=0),
    "subgradient": dict(solver="subgradient", batch_size=1, max_iter=5, tol=0.0,
                        random_state=0),
}


def _spin(stop):
    """A CPU-bound process: arithmetic until ``stop`` is set."""
    x = 0
    while not stop.is_set():
        for i in range(100_000):
            x += i * i
    return x


def load_data(rows):
    """(X, y, description) of the benchmark set."""
    if fashion_mnist_available():
        X, y, _, _ = load_fashion_mnist()
        return X[:rows], y[:rows], f"standardized Fashion-MNIST, first {rows} rows"
    X, y = make_dense_blobs(rows, 784, 10)
    return X, y, f"generated dense blobs, {rows} x 784, 10 classes"


def time_fit(X, y, repeats, **params):
    """Median fit time over ``repeats`` fits."""
    times = []
    for _ in range(repeats):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            start = time.perf_counter()
            LinearMulticlassSVM(C=1e-3, **params).fit(X, y)
            times.append(time.perf_counter() - start)
    return float(np.median(times))


def measure(X, y, repeats):
    """{fit: {threads: seconds}} with threads 1 and all (None)."""
    results = {}
    for name, params in FITS.items():
        results[name] = {threads: time_fit(X, y, repeats, n_threads=threads, **params)
                         for threads in (1, None)}
        print(name, results[name], flush=True)
    return results


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=20000)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--out", default=os.path.join(HERE, "results"))
    args = parser.parse_args(argv)
    X, y, description = load_data(args.rows)
    LinearMulticlassSVM(max_iter=2).fit(X[:200], y[:200])  # compile outside the timing
    conditions = {}
    print("idle:", flush=True)
    load_before = os.getloadavg()[0]
    conditions["idle"] = (measure(X, y, args.repeats), load_before)
    stop = mp.Event()
    spinner = mp.Process(target=_spin, args=(stop,), daemon=True)
    spinner.start()
    try:
        print("beside one CPU-bound process:", flush=True)
        conditions["busy"] = (measure(X, y, args.repeats), os.getloadavg()[0])
    finally:
        stop.set()
        spinner.join()
    lines = ["# Fits beside a busy process", "",
             f"{description}, C = 1e-3, {os.cpu_count()} cores; median of "
             f"{args.repeats} fits (benchmarks/busy_machine.py). \"busy\": beside one "
             "CPU-bound process started by the benchmark. Load averages at the start "
             "of each condition: " + ", ".join(
                 f"{name} {load:.1f}" for name, (_, load) in conditions.items()) + ".",
             "", "| fit | condition | 1 thread (s) | all threads (s) | ratio |",
             "|---|---|---|---|---|"]
    for name in FITS:
        for condition, (results, _) in conditions.items():
            one, all_threads = results[name][1], results[name][None]
            lines.append(f"| {name} | {condition} | {one:.2f} | {all_threads:.2f} | "
                         f"{all_threads / one:.2f} |")
    os.makedirs(args.out, exist_ok=True)
    with open(os.path.join(args.out, "busy_machine.md"), "w") as handle:
        handle.write("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
