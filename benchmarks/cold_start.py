"""First fits in a fresh process: numba compilation, or loading numba's cache.

Run as a script, it times the imports and one small fit per configuration and
prints them as JSON; :func:`cold_start` runs it twice, with an empty and then with
the populated ``NUMBA_CACHE_DIR``.
"""

import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
import warnings

import numpy as np

#: (label, estimator parameters, input) of each timed fit, in order.
COLD_START_STEPS = [
    ("default fit, dense float64", dict(), "dense64"),
    ("same fit again (warm)", dict(), "dense64"),
    ("lbfgs, hinge", dict(solver="lbfgs"), "dense64"),
    ("squared_hinge (lbfgs)", dict(loss="squared_hinge"), "dense64"),
    ("subgradient", dict(solver="subgradient", batch_size=16, max_iter=3), "dense64"),
    ("dual_cd", dict(solver="dual_cd", random_state=0), "dense64"),
    ("default fit, float32", dict(), "dense32"),
    ("default fit, CSR", dict(), "csr"),
    ("subgradient, CSR", dict(solver="subgradient", batch_size=16, max_iter=3), "csr"),
    ("dual_cd, CSR", dict(solver="dual_cd", random_state=0), "csr"),
]
RUNS = ("empty NUMBA_CACHE_DIR (compile)", "populated NUMBA_CACHE_DIR")
MARKER = "COLDSTART "


def time_first_fits():
    """Time the imports and each step of ``COLD_START_STEPS`` in this process.

    Returns
    -------
    list of (str, float)
        Step label and seconds.
    """
    t0 = time.perf_counter()
    import scipy.sparse as sp
    from sklearn.datasets import make_blobs
    t1 = time.perf_counter()
    from sksvm import LinearMulticlassSVM
    t2 = time.perf_counter()
    X, y = make_blobs(n_samples=300, n_features=20, centers=3, random_state=0)
    X = np.ascontiguousarray(X)
    data = dict(dense64=X, dense32=X.astype(np.float32), csr=sp.csr_matrix(X))
    steps = [("import numpy/scipy/sklearn", t1 - t0), ("import sksvm", t2 - t1)]
    for label, params, which in COLD_START_STEPS:
        start = time.perf_counter()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            LinearMulticlassSVM(C=1e-2, n_threads=1, **params).fit(data[which], y)
        steps.append((label, time.perf_counter() - start))
    return steps


def cold_start(log):
    """Run :func:`time_first_fits` in fresh interpreters sharing a new numba cache.

    Parameters
    ----------
    log : callable
        Progress messages.

    Returns
    -------
    dict
        Per run label: ``steps`` and ``process_wall`` seconds, or ``error``.
    """
    cache = tempfile.mkdtemp(prefix="sksvm-numba-cache-")
    runs = {}
    try:
        for label in RUNS:
            env = dict(os.environ, NUMBA_CACHE_DIR=cache)
            start = time.perf_counter()
            proc = subprocess.run([sys.executable, os.path.abspath(__file__)], env=env,
                                  capture_output=True, text=True, timeout=900)
            wall = time.perf_counter() - start
            lines = [ln for ln in proc.stdout.splitlines() if ln.startswith(MARKER)]
            if proc.returncode or not lines:
                runs[label] = dict(error=proc.stderr[-2000:])
                continue
            runs[label] = dict(steps=json.loads(lines[0][len(MARKER):]),
                               process_wall=wall)
            log(f"  cold start, {label}: process {wall:.1f} s, first default fit "
                f"{runs[label]['steps'][2][1]:.2f} s")
    finally:
        shutil.rmtree(cache, ignore_errors=True)
    return runs


if __name__ == "__main__":
    print(MARKER + json.dumps(time_first_fits()))
