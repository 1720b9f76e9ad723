"""
======================================================
Fitting data larger than memory on a Dask cluster
======================================================

:class:`~sksvm.LinearMulticlassSVM` fits a Dask array with the same L-BFGS solver as
an in-memory array, and reaches the same optimum: every iteration sends the
weights to the workers, each worker computes the loss and gradient sums of its row
blocks with the numba kernel, and only the sums, a few kilobytes, come back. This
is one pass over the data per iteration, so the data never has to fit in one
process: here it is not even stored, but generated again, block by block, at every
pass.

The example measures three things:

1. the large fit: time, passes over the data and the peak memory of the workers;
2. scaling: the same fit with 1 and with 2 worker processes;
3. overhead: the time per L-BFGS iteration on Dask (data persisted in the workers'
   memory) against the in-memory fit of the same array.

By default it uses 40,000 rows so that it runs in about a minute (at that size
the timings measure Dask's per-task overhead more than anything else). The figures of
the documentation (:doc:`/dask`) come from running it with 20 million rows, 16 GB
of float64::

    SKSVM_DASK_ROWS=20000000 SKSVM_DASK_COMPARE_ROWS=1000000 \\
        python examples/plot_dask_large.py

``LocalCluster`` starts its workers as new processes, which import the script
again: the code that starts clusters is under ``if __name__ == "__main__"``.
"""

# %%
# Settings and a lazily generated data set
# ----------------------------------------
# Ten classes in 100 dimensions: class centres plus uniform noise. Each block
# of rows is generated from its own seed, so a block comes out identical every
# time it is computed: the data set is a fixed array that is never stored. The
# labels come from the same seed without generating the features, so the pass
# that finds the classes is cheap.
import os
import threading
import time

import dask
import dask.array as da
import matplotlib.pyplot as plt
import numpy as np
import psutil
from dask.utils import key_split
from distributed import Client, LocalCluster, get_task_stream

from sksvm import LinearMulticlassSVM

N_ROWS = int(os.environ.get("SKSVM_DASK_ROWS", 40_000))
COMPARE_ROWS = int(os.environ.get("SKSVM_DASK_COMPARE_ROWS", min(N_ROWS, 40_000)))
N_FEATURES, N_CLASSES = 100, 10
CHUNK_ROWS = 100_000 if N_ROWS >= 1_000_000 else 10_000
PARAMS = dict(C=1e-3, solver="lbfgs", fit_intercept=False, tol=1e-3)
WORKER_MEMORY = "4GiB"

CENTERS = 0.3 * np.random.default_rng(0).standard_normal((N_CLASSES, N_FEATURES))


def _block_labels(n_rows, seed):
    return np.random.default_rng(seed).integers(N_CLASSES, size=n_rows)


def _block_features(n_rows, seed):
    # Uniform noise of unit variance: several times cheaper to draw than Gaussian
    # noise, so that a pass costs mostly the fit's own work.
    rng = np.random.default_rng(seed)
    y = rng.integers(N_CLASSES, size=n_rows)
    X = rng.random((n_rows, N_FEATURES))
    X -= 0.5
    X *= np.sqrt(12.0)
    X += CENTERS[y]
    return X


def lazy_data(n_rows, seed=1):
    """(X, y) as Dask arrays whose blocks are generated when computed."""
    sizes = [min(CHUNK_ROWS, n_rows - start) for start in range(0, n_rows, CHUNK_ROWS)]
    X_blocks, y_blocks = [], []
    for index, size in enumerate(sizes):
        block_seed = (seed, index)
        X_blocks.append(da.from_delayed(
            dask.delayed(_block_features)(size, block_seed),
            shape=(size, N_FEATURES), dtype=np.float64))
        y_blocks.append(da.from_delayed(
            dask.delayed(_block_labels)(size, block_seed), shape=(size,),
            dtype=np.int64))
    return da.concatenate(X_blocks), da.concatenate(y_blocks)


# %%
# Measuring passes and worker memory
# ----------------------------------
# A pass is one task per row block of the function that reads the block: the
# kernel's ``_block_sums`` for an L-BFGS evaluation, ``_label_summary`` for the
# pass that finds the classes, and the two passes of the duality-gap certificate
# when an intercept is fitted. Dask's task stream records every task. The peak
# memory is the largest resident set size of any worker process, sampled every
# 0.2 seconds.

PASS_TASKS = ("_block_sums", "_label_summary", "_block_flows", "_block_repaired_dual")


def count_passes(tasks, n_blocks):
    names = [task["key"][0] if isinstance(task["key"], tuple) else task["key"]
             for task in tasks]
    reads = sum(name.startswith(PASS_TASKS) for name in names)
    return reads / n_blocks


class PeakMemory:
    """Largest RSS of any worker process while the block runs."""

    def __init__(self, client, interval=0.2):
        self.client, self.interval, self.peak = client, interval, 0
        self._stop = threading.Event()

    def _poll(self):
        while not self._stop.is_set():
            rss = self.client.run(lambda: psutil.Process().memory_info().rss)
            self.peak = max(self.peak, *rss.values())
            self._stop.wait(self.interval)

    def __enter__(self):
        self._thread = threading.Thread(target=self._poll, daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join()


TASK_NAMES = {"_block_features": "generate X blocks",
              "_block_labels": "generate y blocks",
              "_block_sums": "loss and gradient kernel",
              "_add": "add the block sums"}


def worker_seconds(tasks):
    """Compute time of the workers by kind of task, from Dask's task stream."""
    seconds = {}
    for task in tasks:
        name = TASK_NAMES.get(key_split(task["key"]), "other")
        seconds[name] = seconds.get(name, 0.0) + sum(
            part["stop"] - part["start"] for part in task["startstops"]
            if part["action"] == "compute")
    return seconds


def timed_fit(X, y):
    start = time.perf_counter()
    model = LinearMulticlassSVM(**PARAMS).fit(X, y)
    return model, time.perf_counter() - start


def cluster(n_workers):
    return LocalCluster(n_workers=n_workers, threads_per_worker=1, processes=True,
                        memory_limit=WORKER_MEMORY, dashboard_address=None)


# %%
# The large fit, scaling and overhead
# -----------------------------------
# The clusters use one thread per worker process: Dask runs one block per process
# at a time, and the numba kernel runs on one thread. The in-memory comparison
# uses two numba threads, the same two cores.

if __name__ == "__main__":
    X, y = lazy_data(N_ROWS)
    n_blocks = X.numblocks[0]
    print(f"X: {N_ROWS:,} x {N_FEATURES} float64 = {X.nbytes / 1e9:.1f} GB in "
          f"{n_blocks} blocks, generated at every pass (never stored)")
    results = {}
    with cluster(2) as local_cluster, Client(local_cluster) as client:
        with PeakMemory(client) as memory, get_task_stream() as stream:
            model, large_seconds = timed_fit(X, y)
        passes = count_passes(stream.data, n_blocks)
        X_test, y_test = lazy_data(min(N_ROWS, 100_000), seed=2)
        accuracy = float(model.score(X_test, y_test).compute())
        print(f"large fit: {large_seconds:.1f} s, {model.n_iter_} L-BFGS "
              f"iterations, "
              f"{passes:.0f} passes over the data, duality gap "
              f"{model.duality_gap_:.1e}, peak worker memory "
              f"{memory.peak / 2**20:.0f} MiB, test accuracy {accuracy:.3f}")
        busy = worker_seconds(stream.data)

        # Scaling: the same lazily generated data, 2 workers and then 1.
        X_small, y_small = lazy_data(COMPARE_ROWS, seed=3)
        model_2, results["2 workers"] = timed_fit(X_small, y_small)
    with cluster(1) as local_cluster, Client(local_cluster) as client:
        model_1, results["1 worker"] = timed_fit(X_small, y_small)
    print(f"scaling ({COMPARE_ROWS:,} rows, generated): 1 worker "
          f"{results['1 worker']:.1f} s, 2 workers {results['2 workers']:.1f} s "
          f"({model_1.n_iter_} and {model_2.n_iter_} iterations), speed-up "
          f"{results['1 worker'] / results['2 workers']:.2f}")

    # Overhead: data that fits, in memory against persisted on 2 workers.
    X_memory, y_memory = dask.compute(X_small, y_small)
    memory_model = LinearMulticlassSVM(n_threads=2, **PARAMS)
    start = time.perf_counter()
    memory_model.fit(X_memory, y_memory)
    per_iteration = {"in memory": (time.perf_counter() - start) / memory_model.n_iter_}
    with cluster(2) as local_cluster, Client(local_cluster) as client:
        X_persisted, y_persisted = dask.persist(X_small, y_small)
        dask_model, seconds = timed_fit(X_persisted, y_persisted)
        per_iteration["Dask, persisted"] = seconds / dask_model.n_iter_
    ratio = per_iteration["Dask, persisted"] / per_iteration["in memory"]
    J_memory = memory_model.objective(X_memory, y_memory)
    J_dask = dask_model.objective(X_memory, y_memory)
    print(f"overhead ({COMPARE_ROWS:,} rows): {per_iteration['in memory'] * 1e3:.0f} "
          f"ms per iteration in memory ({memory_model.n_iter_} iterations), "
          f"{per_iteration['Dask, persisted'] * 1e3:.0f} ms on Dask "
          f"({dask_model.n_iter_} iterations): ratio {ratio:.2f}; objectives "
          f"{J_memory:.8f} and {J_dask:.8f}")

    # The figure: where the workers' time went during the large fit, and the time
    # per iteration of the comparison.
    fig, (left, right) = plt.subplots(1, 2, figsize=(11, 3.8),
                                      gridspec_kw=dict(width_ratios=[1.6, 1]))
    names = sorted(busy, key=busy.get)
    left.barh(names, [busy[name] for name in names], color="C0")
    left.set_xlabel("worker seconds (both workers, all passes)")
    left.set_title(f"Large fit: {N_ROWS:,} rows, {passes:.0f} passes, "
                   f"{large_seconds:.0f} s")
    labels = list(per_iteration)
    right.bar(labels, [1e3 * per_iteration[label] for label in labels],
              color=["C7", "C0"])
    right.set_ylabel("ms per L-BFGS iteration")
    right.set_title(f"{COMPARE_ROWS:,} rows: ratio {ratio:.2f}")
    fig.tight_layout()
    if os.environ.get("SKSVM_DASK_FIGURE"):
        fig.savefig(os.environ["SKSVM_DASK_FIGURE"], dpi=100)
    plt.show()
