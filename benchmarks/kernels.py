"""Kernel yardsticks (issue 7, section 1): one loss + gradient evaluation against
numpy/scipy products of the same size and a row-sum pass over X.

The evaluation is timed through the public ``sksvm.loss_gradient``, with all numba
threads and with one.
"""

import math
import time
import traceback

import numpy as np
import scipy.sparse as sp

from benchmark_data import matrix_bytes
from memory import PeakMemory

#: Regularization of the yardstick problems.
C = 1e-3
#: (n_samples, n_features, n_classes) of the dense and CSR cases.
SHAPES = {
    "full": dict(dense=(60_000, 784, 10), csr=(50_000, 100_000, 20)),
    "quick": dict(dense=(6_000, 784, 10), csr=(5_000, 100_000, 20)),
}
CSR_DENSITY = 0.001


def _row_sum_kernel():
    """A parallel numba pass over a dense X: the floor of any kernel reading X."""
    from numba import njit, prange

    @njit(parallel=True)
    def row_sums(X):
        n, d = X.shape
        out = np.empty(n)
        for i in prange(n):
            s = 0.0
            for j in range(d):
                s += X[i, j]
            out[i] = s
        return out
    return row_sums


def best_of(function, repeats):
    """Time ``function()`` ``repeats`` times after one warm-up call.

    Returns
    -------
    dict
        ``median`` and ``min`` in seconds.
    """
    function()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        function()
        times.append(time.perf_counter() - start)
    return dict(median=float(np.median(times)), min=float(np.min(times)))


def _measure_case(label, X, k, rng, repeats, row_sums):
    """All timings of one (X, k) case."""
    import numba
    from threadpoolctl import threadpool_limits

    from sksvm import loss_gradient

    n, d = X.shape
    y = rng.integers(k, size=n)
    sparse = sp.issparse(X)
    # Scores of order 1, so that most margins are active (the costly case).
    nnz_per_row = X.nnz / n if sparse else d
    W = rng.normal(scale=1.0 / math.sqrt(nnz_per_row), size=(k, d))
    A = rng.normal(size=(n, k)).astype(np.float64 if sparse else X.dtype)
    n_threads = numba.config.NUMBA_NUM_THREADS

    def evaluate(smoothing=0.0, threads=n_threads):
        return lambda: loss_gradient(W, None, X, y, C=C, smoothing=smoothing,
                                     n_threads=threads)

    record = dict(case=label, shape=list(X.shape), k=k, dtype=str(X.dtype),
                  n_threads=n_threads, x_bytes=matrix_bytes(X))
    record["loss_gradient"] = best_of(evaluate(), repeats)
    record["loss_gradient_smoothed"] = best_of(evaluate(smoothing=0.1), repeats)
    record["loss_gradient_1thread"] = best_of(evaluate(threads=1), repeats)
    with PeakMemory() as memory:
        evaluate()()
    if memory.peak is not None:
        record["loss_gradient_extra_rss"] = memory.peak - memory.before
    if sparse:
        def products():
            X @ W.T
            X.T @ A
        record["peer_label"] = "scipy X @ W.T + X.T @ A"
        record["peer_products"] = best_of(products, repeats)
    else:
        W_typed = W.astype(X.dtype)

        def products():
            X @ W_typed.T
            A.T @ X
        record["peer_label"] = "numpy X @ W.T + A.T @ X"
        record["peer_products"] = best_of(products, repeats)
        with threadpool_limits(limits=1, user_api="blas"):
            record["peer_products_1thread"] = best_of(products, repeats)
        record["row_sum"] = best_of(lambda: row_sums(X), repeats)
    return record


def kernel_yardsticks(quick, repeats):
    """Measure the dense float64, dense float32 and CSR cases.

    Parameters
    ----------
    quick : bool
        Smaller dense and CSR problems.
    repeats : int
        Timed calls per measurement.

    Returns
    -------
    dict
        ``cases``: one record per case.
    """
    rng = np.random.default_rng(0)
    row_sums = _row_sum_kernel()
    shapes = SHAPES["quick" if quick else "full"]
    n, d, k = shapes["dense"]
    X64 = rng.standard_normal((n, d))
    cases = [_measure_case("dense float64", X64, k, rng, repeats, row_sums),
             _measure_case("dense float32", X64.astype(np.float32), k, rng, repeats,
                           row_sums)]
    del X64
    n, d, k = shapes["csr"]
    # A Generator: the legacy RandomState draws the positions through a
    # permutation of all n·d cells (37 GiB at 50000 x 100000).
    X_csr = sp.random(n, d, density=CSR_DENSITY, format="csr",
                      random_state=np.random.default_rng(0), dtype=np.float64)
    X_csr.sort_indices()
    cases.append(_measure_case(f"CSR float64 ({CSR_DENSITY:.1%})", X_csr, k, rng,
                               repeats, row_sums))
    return dict(cases=cases)


def kernels_entry(conn, quick, repeats):
    """Process entry point (``worker.run_in_process``): sends the yardsticks."""
    try:
        conn.send(("ok", kernel_yardsticks(quick, repeats)))
    except Exception:  # noqa: BLE001
        conn.send(("error", traceback.format_exc()))
