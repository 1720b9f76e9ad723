"""The sksvm benchmark suite (issue 7): sksvm against its peers, in one run.

Usage::

    python benchmarks/run.py                 # full run (~25 min on 2 cores)
    python benchmarks/run.py --quick         # small subsets and short caps (smoke test)
    python benchmarks/run.py --datasets fashion,sparse --repeats 3

Data sets (``--datasets``):

- ``fashion``: standardized Fashion-MNIST, 60k x 784, 10 classes, C = 1e-3 (from the
  Debian package ``dataset-fashion-mnist``; skipped when it is not installed).
  ``LinearSVC`` gets its fast setting, pixels / 255, as in the issue.
- ``sparse``: a synthetic TF-IDF text-like set (``sparse_text.make_sparse_text``),
  50k x 100k at 0.1 % density, 20 classes, C = 1e-4.
- ``dense``: Gaussian blobs, 1M x 100, 10 classes, C = 1e-3.

Models: ``LinearMulticlassSVM`` (the default fit, then every solver and loss without
an intercept, so that objectives compare), ``LinearSVC()`` one-vs-rest and
Crammer-Singer, ``SGDClassifier(loss="hinge", alpha=C)`` and mlpack's ``linear_svm``
(L-BFGS and parallel SGD, ``lambda_=C``, ``delta=margin``, no intercept) when
installed.

Every data set is loaded once into a worker process that fits all its models one
after the other, after compiling the numba kernels on a tiny slice (warm fits). A
fit that exceeds its time cap is abandoned by killing the worker; a fresh worker
(data reloaded from a temporary cache) takes the next model. Separately, the suite
measures the first fit in fresh processes (numba compilation, with an empty and
with a populated ``NUMBA_CACHE_DIR``), the kernel yardsticks of issue 7 section 1
and the peak memory of every fit (``VmHWM`` after resetting it through
``/proc/self/clear_refs``).

Writes ``results.md`` and ``objective_vs_time_<dataset>.png`` (plus raw JSON under
``raw/``) to ``benchmarks/results/`` (``benchmarks/results/quick/`` with ``--quick``).
"""

import argparse
import datetime
import gc
import json
import math
import multiprocessing as mp
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
import traceback
import warnings

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
if HERE not in sys.path:
    sys.path.insert(0, HERE)

MARGIN = 1.0

# Per data set: problem size, C, and the time caps (seconds) of each model family.
FULL = {
    "fashion": dict(C=1e-3, n_train=None, n_test=None),
    "sparse": dict(C=1e-4, n_train=50_000, n_test=10_000, n_terms=100_000,
                   n_classes=20, min_terms=80, max_terms=160),
    "dense": dict(C=1e-3, n_train=1_000_000, n_test=100_000, n_features=100,
                  n_classes=10),
}
QUICK = {
    "fashion": dict(C=1e-3, n_train=3_000, n_test=1_000),
    "sparse": dict(C=1e-4, n_train=3_000, n_test=1_000, n_terms=10_000,
                   n_classes=20, min_terms=80, max_terms=160),
    "dense": dict(C=1e-3, n_train=10_000, n_test=2_000, n_features=100,
                  n_classes=10),
}
# Time caps in seconds (full run); --quick divides them by 10, --cap-scale multiplies.
CAPS = {
    "fashion": {"default": 240, "lbfgs": 600, "subgradient": 150, "dual_cd": 120,
                "lbfgs_sq": 120, "subgradient_sq": 60, "dual_cd_sq": 60,
                "mlpack_lbfgs": 90, "sgd": 120, "linearsvc": 300,
                "crammer_singer": 60, "mlpack_psgd": 30},
    "sparse": {"default": 120, "lbfgs": 150, "subgradient": 60, "dual_cd": 90,
               "lbfgs_sq": 90, "subgradient_sq": 60, "dual_cd_sq": 60,
               "mlpack_lbfgs": 60, "sgd": 60, "linearsvc": 60,
               "crammer_singer": 60, "mlpack_psgd": 30},
    "dense": {"default": 150, "lbfgs": 150, "subgradient": 150, "dual_cd": 60,
              "lbfgs_sq": 60, "subgradient_sq": 60, "dual_cd_sq": 60,
              "mlpack_lbfgs": 60, "sgd": 90, "linearsvc": 120,
              "crammer_singer": 60, "mlpack_psgd": 20},
}
SUBGRADIENT_EPOCHS = 20


# ----------------------------------------------------------------------------------
# Small utilities
# ----------------------------------------------------------------------------------
def _proc_status(field):
    """A /proc/self/status field in bytes (VmRSS, VmHWM), or None off Linux."""
    try:
        with open("/proc/self/status") as handle:
            for line in handle:
                if line.startswith(field + ":"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return None


def _reset_peak_rss():
    """Reset the resident-set high-water mark to the current RSS (Linux >= 4.0)."""
    try:
        with open("/proc/self/clear_refs", "w") as handle:
            handle.write("5")
        return True
    except OSError:
        return False


class PeakMemory:
    """Context manager: RSS before the block and the peak RSS during it."""

    def __enter__(self):
        gc.collect()
        self.before = _proc_status("VmRSS")
        self.reset = _reset_peak_rss()
        return self

    def __exit__(self, *exc):
        self.peak = _proc_status("VmHWM") if self.reset else None
        return False


def _fmt_objective(value):
    """An objective value; absurdly large ones mark a diverged solver."""
    if value is None:
        return "-"
    if not math.isfinite(value) or abs(value) > 1e6:
        return f"diverged ({value:.1e})"
    return f"{value:.6f}"


def _median(values):
    return float(np.median(values)) if values else float("nan")


def _fmt(value, spec=".3g", missing="-"):
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return missing
    return format(value, spec)


def _environment():
    """Versions, threads and BLAS configuration, for the results header."""
    import numba
    import scipy
    import sklearn
    from threadpoolctl import threadpool_info

    info = dict(
        python=platform.python_version(), platform=platform.platform(),
        cpu_count=os.cpu_count(), numpy=np.__version__, scipy=scipy.__version__,
        sklearn=sklearn.__version__, numba=numba.__version__,
        numba_threads=numba.config.NUMBA_NUM_THREADS,
        numba_threading_layer_config=numba.config.THREADING_LAYER,
        env={k: v for k, v in os.environ.items()
             if k.startswith(("OPENBLAS", "OMP_", "MKL_", "NUMBA_"))},
        threadpools=[{k: v for k, v in pool.items() if k != "filepath"}
                     | {"library": os.path.basename(pool.get("filepath", ""))}
                     for pool in threadpool_info()],
    )
    try:
        import mlpack
        info["mlpack"] = getattr(mlpack, "__version__", "installed")
    except ImportError:
        info["mlpack"] = None
    try:
        import sksvm
        info["sksvm"] = sksvm.__version__
        head = subprocess.run(["git", "-C", os.path.dirname(HERE), "rev-parse",
                               "--short", "HEAD"], capture_output=True, text=True)
        dirty = subprocess.run(["git", "-C", os.path.dirname(HERE), "status",
                                "--porcelain", "sksvm"], capture_output=True, text=True)
        info["git"] = head.stdout.strip() + (" + uncommitted changes in sksvm/"
                                             if dirty.stdout.strip() else "")
    except Exception:  # noqa: BLE001 - informational only
        pass
    try:
        with open("/proc/cpuinfo") as handle:
            for line in handle:
                if line.startswith("model name"):
                    info["cpu"] = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    return info


# ----------------------------------------------------------------------------------
# Data sets (loaded inside the worker processes)
# ----------------------------------------------------------------------------------
def _cache_paths(cache_dir, name):
    return os.path.join(cache_dir, name + ".npz"), os.path.join(cache_dir, name + ".json")


def make_dataset(name, spec):
    """(arrays, meta) of one data set. Arrays: X, y, X_test, y_test (and, for
    Fashion-MNIST, X_raw / X_raw_test: pixels / 255 for LinearSVC)."""
    import scipy.sparse as sp

    start = time.perf_counter()
    if name == "fashion":
        from datasets import load_fashion_mnist
        X, y, Xt, yt = load_fashion_mnist(standardize=True)
        Xr, _, Xrt, _ = load_fashion_mnist(standardize=False)
        if spec["n_train"]:
            # A class-balanced prefix (the files are shuffled).
            X, y, Xr = X[: spec["n_train"]], y[: spec["n_train"]], Xr[: spec["n_train"]]
            Xt, yt, Xrt = Xt[: spec["n_test"]], yt[: spec["n_test"]], Xrt[: spec["n_test"]]
        arrays = dict(X=np.ascontiguousarray(X), y=y, X_test=np.ascontiguousarray(Xt),
                      y_test=yt, X_raw=np.ascontiguousarray(Xr),
                      X_raw_test=np.ascontiguousarray(Xrt))
        description = "standardized Fashion-MNIST (LinearSVC: pixels / 255)"
    elif name == "sparse":
        from sparse_text import make_sparse_text
        n = spec["n_train"] + spec["n_test"]
        X, y = make_sparse_text(n_docs=n, n_terms=spec["n_terms"],
                                n_classes=spec["n_classes"], min_terms=spec["min_terms"],
                                max_terms=spec["max_terms"], seed=0)
        arrays = dict(X=sp.csr_matrix(X[: spec["n_train"]]), y=y[: spec["n_train"]],
                      X_test=sp.csr_matrix(X[spec["n_train"]:]),
                      y_test=y[spec["n_train"]:])
        description = "synthetic TF-IDF text (sparse_text.make_sparse_text), CSR"
    elif name == "dense":
        from datasets import make_dense_blobs
        n = spec["n_train"] + spec["n_test"]
        X, y = make_dense_blobs(n_samples=n, n_features=spec["n_features"],
                                n_classes=spec["n_classes"], seed=0)
        arrays = dict(X=np.ascontiguousarray(X[: spec["n_train"]]),
                      y=y[: spec["n_train"]],
                      X_test=np.ascontiguousarray(X[spec["n_train"]:]),
                      y_test=y[spec["n_train"]:])
        del X
        description = "Gaussian blobs (datasets.make_dense_blobs), dense float64"
    else:
        raise ValueError(f"unknown data set {name!r}")
    X = arrays["X"]
    meta = dict(name=name, description=description, n_train=X.shape[0],
                n_test=arrays["X_test"].shape[0], n_features=X.shape[1],
                n_classes=int(len(np.unique(arrays["y"]))), C=spec["C"],
                sparse=sp.issparse(X), dtype=str(X.dtype),
                generate_seconds=time.perf_counter() - start)
    if sp.issparse(X):
        meta["density"] = X.nnz / (X.shape[0] * X.shape[1])
        meta["x_bytes"] = int(X.data.nbytes + X.indices.nbytes + X.indptr.nbytes)
    else:
        meta["x_bytes"] = int(X.nbytes)
    return arrays, meta


def load_dataset(name, spec, cache_dir):
    """Generate once, then reload from ``cache_dir`` (for restarted workers)."""
    import scipy.sparse as sp

    npz, meta_path = _cache_paths(cache_dir, name)
    if os.path.exists(meta_path):
        with open(meta_path) as handle:
            meta = json.load(handle)
        stored = np.load(npz, allow_pickle=False)
        arrays = {}
        for key in {k.split("__")[0] for k in stored.files}:
            if key + "__data" in stored.files:
                arrays[key] = sp.csr_matrix(
                    (stored[key + "__data"], stored[key + "__indices"],
                     stored[key + "__indptr"]), shape=tuple(stored[key + "__shape"]))
            else:
                arrays[key] = np.ascontiguousarray(stored[key])
        return arrays, meta
    arrays, meta = make_dataset(name, spec)
    flat = {}
    for key, value in arrays.items():
        if sp.issparse(value):
            flat.update({key + "__data": value.data, key + "__indices": value.indices,
                         key + "__indptr": value.indptr,
                         key + "__shape": np.array(value.shape)})
        else:
            flat[key] = value
    np.savez(npz, **flat)
    with open(meta_path, "w") as handle:
        json.dump(meta, handle)
    return arrays, meta


# ----------------------------------------------------------------------------------
# Models (run inside the worker)
# ----------------------------------------------------------------------------------
def model_list(name, quick):
    """(key, label, kind, params, problem) for one data set, in run order."""
    sub = dict(solver="subgradient", batch_size=1, max_iter=SUBGRADIENT_EPOCHS, tol=0.0,
               random_state=0, fit_intercept=False)
    models = [
        ("default", "sksvm default: LinearMulticlassSVM(C)", "sksvm", {},
         "WW, intercept"),
        ("lbfgs", "sksvm lbfgs hinge", "sksvm",
         dict(solver="lbfgs", fit_intercept=False), "WW"),
        ("subgradient", f"sksvm subgradient hinge (bs=1, {SUBGRADIENT_EPOCHS} ep.)",
         "sksvm", dict(sub), "WW"),
        ("dual_cd", "sksvm dual_cd hinge", "sksvm",
         dict(solver="dual_cd", fit_intercept=False, random_state=0), "WW"),
        ("lbfgs_sq", "sksvm lbfgs squared_hinge", "sksvm",
         dict(solver="lbfgs", fit_intercept=False, loss="squared_hinge"), "WW squared"),
        ("subgradient_sq", "sksvm subgradient squared_hinge", "sksvm",
         dict(sub, loss="squared_hinge"), "WW squared"),
        ("dual_cd_sq", "sksvm dual_cd squared_hinge", "sksvm",
         dict(solver="dual_cd", fit_intercept=False, random_state=0,
              loss="squared_hinge"), "WW squared"),
        ("mlpack_lbfgs", "mlpack linear_svm lbfgs", "mlpack",
         dict(optimizer="lbfgs"), "WW (mlpack)"),
        ("sgd", "SGDClassifier(hinge, alpha=C)", "sgd", {}, "OvR hinge"),
        ("linearsvc", "LinearSVC() ovr", "linearsvc", {}, "OvR sq. hinge"),
        ("crammer_singer", "LinearSVC(crammer_singer)", "linearsvc",
         dict(multi_class="crammer_singer"), "Crammer-Singer"),
        # Last: in this environment it has not finished within its cap (see the
        # report), and a time-out costs a worker restart.
        ("mlpack_psgd", "mlpack linear_svm psgd", "mlpack",
         dict(optimizer="psgd"), "WW (mlpack)"),
    ]
    return models


def _sksvm_estimator(C, params):
    from sksvm import LinearMulticlassSVM

    return LinearMulticlassSVM(C=C, **params)


def _timed_fit(fit):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with PeakMemory() as memory:
            start = time.perf_counter()
            result = fit()
            elapsed = time.perf_counter() - start
    return result, elapsed, memory


def _objective_values(arrays, C, coef, intercept, loss):
    """J (hinge) and, for the squared hinge, its own J, at (coef, intercept)."""
    from sksvm import loss_gradient

    b = None if intercept is None or not np.any(intercept) else intercept
    out = dict(J=float(loss_gradient(coef, b, arrays["X"], arrays["y"], C=C,
                                     margin=MARGIN)[0]))
    if loss == "squared_hinge":
        out["J_own"] = float(loss_gradient(coef, b, arrays["X"], arrays["y"], C=C,
                                           loss="squared_hinge", margin=MARGIN)[0])
    else:
        out["J_own"] = out["J"]
    return out


def run_model(arrays, meta, key, kind, params, evaluate):
    """Fit one model once; returns a dict of measurements."""
    C = meta["C"]
    X, y, Xt, yt = arrays["X"], arrays["y"], arrays["X_test"], arrays["y_test"]
    rec = dict(key=key)
    if kind == "sksvm":
        model = _sksvm_estimator(C, params)
        _, elapsed, memory = _timed_fit(lambda: model.fit(X, y))
        rec.update(time=elapsed)
        if evaluate:
            rec["accuracy"] = float(model.score(Xt, yt))
            rec["n_iter"] = int(model.n_iter_)
            rec["duality_gap"] = float(model.duality_gap_)
            history = list(getattr(model, "_solver_history", []) or [])
            rec["history"] = [{k: (float(v) if isinstance(v, (float, np.floating))
                                   else v) for k, v in h.items()} for h in history]
            if history and "n_evaluations" in history[-1]:
                rec["n_evaluations"] = int(history[-1]["n_evaluations"])
            intercept = model.intercept_ if model.fit_intercept else None
            rec.update(_objective_values(arrays, C, model.coef_, intercept,
                                         params.get("loss", "hinge")))
            if params.get("solver") == "subgradient":
                # Accuracy after 1 and 2 epochs: the same seed gives the same
                # first epochs as the 20-epoch run.
                for epochs in (1, 2):
                    early = _sksvm_estimator(C, dict(params, max_iter=epochs))
                    _, t_early, _ = _timed_fit(lambda: early.fit(X, y))
                    rec[f"accuracy_epoch{epochs}"] = float(early.score(Xt, yt))
                    rec[f"time_epoch{epochs}"] = t_early
                    if params.get("loss", "hinge") == "hinge":
                        rec[f"J_epoch{epochs}"] = _objective_values(
                            arrays, C, early.coef_, None, "hinge")["J"]
    elif kind == "mlpack":
        import mlpack

        def fit():
            return mlpack.linear_svm(training=X, labels=y, lambda_=C, delta=MARGIN,
                                     no_intercept=True, seed=1, **params)
        out, elapsed, memory = _timed_fit(fit)
        rec.update(time=elapsed)
        if evaluate:
            model = out["output_model"].get_cpp_params()["LinearSVMModel"]
            theta = np.asarray(model["svm"]["parameters"], dtype=np.float64)
            mapping = np.asarray(model["mappings"]).ravel()
            k = meta["n_classes"]
            # Rows of theta are mlpack's internal classes; mappings[i] is the label.
            coef = np.zeros((k, X.shape[1]))
            coef[mapping] = theta[:, : X.shape[1]]
            rec["accuracy"] = float(np.mean(np.argmax(Xt @ coef.T, axis=1) == yt))
            rec.update(_objective_values(arrays, C, coef, None, "hinge"))
    elif kind in ("linearsvc", "sgd"):
        from sklearn.linear_model import SGDClassifier
        from sklearn.svm import LinearSVC

        if kind == "sgd":
            model = SGDClassifier(loss="hinge", alpha=C, random_state=0)
            Xf, Xft = X, Xt
        else:
            if meta["name"] == "fashion":
                # Its fast setting (issue 7): pixels / 255 and the default C.
                model = LinearSVC(random_state=0, **params)
                Xf, Xft = arrays["X_raw"], arrays["X_raw_test"]
            else:
                # The same regularization scale as ours: C_svc = 1 / (n C).
                model = LinearSVC(C=1.0 / (X.shape[0] * C), random_state=0, **params)
                Xf, Xft = X, Xt
            rec["C_svc"] = float(model.C)
        _, elapsed, memory = _timed_fit(lambda: model.fit(Xf, y))
        rec.update(time=elapsed)
        if evaluate:
            rec["accuracy"] = float(model.score(Xft, yt))
            rec["n_iter"] = int(np.max(model.n_iter_))
    else:
        raise ValueError(kind)
    if memory.peak is not None:
        rec["rss_before"] = memory.before
        rec["rss_peak"] = memory.peak
    return rec


def _warm_up(arrays, meta):
    """Compile (or load from the numba cache) every kernel on a tiny slice."""
    X, y = arrays["X"][:400], arrays["y"][:400]
    start = time.perf_counter()
    for _, _, kind, params, _ in model_list(meta["name"], True):
        if kind == "sksvm":
            model = _sksvm_estimator(meta["C"], dict(params, max_iter=2))
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                model.fit(X, y)
                model.score(X, y)
    from sksvm import loss_gradient
    loss_gradient(np.zeros((meta["n_classes"], X.shape[1])), None, X, y, C=1.0)
    return time.perf_counter() - start


def worker_main(conn, name, spec, cache_dir):
    """Load one data set, then run the tasks sent by the parent until None."""
    try:
        arrays, meta = load_dataset(name, spec, cache_dir)
        meta["warm_up_seconds"] = _warm_up(arrays, meta)
        conn.send(("ready", meta))
    except Exception:  # noqa: BLE001
        conn.send(("error", traceback.format_exc()))
        return
    while True:
        task = conn.recv()
        if task is None:
            return
        try:
            conn.send(("ok", run_model(arrays, meta, **task)))
        except Exception:  # noqa: BLE001
            conn.send(("error", traceback.format_exc()))


class Worker:
    """A data set's worker process; restarted after a time-out."""

    def __init__(self, name, spec, cache_dir, log):
        self.name, self.spec, self.cache_dir, self.log = name, spec, cache_dir, log
        self.process = self.conn = None
        self.meta = None

    def _start(self):
        ctx = mp.get_context("spawn")
        parent, child = ctx.Pipe()
        self.process = ctx.Process(target=worker_main,
                                   args=(child, self.name, self.spec, self.cache_dir),
                                   daemon=True)
        self.process.start()
        self.conn = parent
        if not parent.poll(3600):
            self.stop()
            raise RuntimeError(f"worker for {self.name} did not start")
        status, payload = parent.recv()
        if status != "ready":
            self.stop()
            raise RuntimeError(payload)
        if self.meta is None:
            self.meta = payload
            self.log(f"  [{self.name}] data ready: {payload['n_train']} x "
                     f"{payload['n_features']}, warm-up {payload['warm_up_seconds']:.1f} s")

    def run(self, task, cap):
        if self.process is None or not self.process.is_alive():
            self._start()
        self.conn.send(task)
        if self.conn.poll(cap):
            try:
                return self.conn.recv()
            except EOFError:
                self.stop()
                return ("error", "worker died (out of memory?)")
        self.stop()
        return ("timeout", cap)

    def stop(self):
        if self.process is not None:
            if self.process.is_alive():
                self.process.kill()
            self.process.join()
        self.process = None

    def close(self):
        if self.process is not None and self.process.is_alive():
            try:
                self.conn.send(None)
                self.process.join(10)
            except (BrokenPipeError, OSError):
                pass
        self.stop()


def run_dataset(name, spec, caps, args, cache_dir, log):
    worker = Worker(name, spec, cache_dir, log)
    results = []
    try:
        worker._start()
        for key, label, kind, params, problem in model_list(name, args.quick):
            if args.only and not any(part in key for part in args.only.split(",")):
                continue
            if kind == "mlpack" and not _has_mlpack():
                continue
            if kind == "mlpack" and worker.meta["sparse"]:
                results.append(dict(key=key, label=label, kind=kind, problem=problem,
                                    params=dict(params), status="n/a", times=[],
                                    error="mlpack's Python binding takes dense "
                                          "matrices only"))
                continue
            cap = caps[key] * args.cap_scale
            rec = dict(key=key, label=label, kind=kind, problem=problem,
                       params={k: v for k, v in params.items()}, cap=cap, times=[])
            for repeat in range(args.repeats):
                status, payload = worker.run(
                    dict(key=key, kind=kind, params=params, evaluate=repeat == 0), cap)
                if status != "ok":
                    if repeat == 0:
                        rec["status"] = status
                        rec["error"] = payload if status == "error" else None
                    break
                rec["times"].append(payload.pop("time"))
                if repeat == 0:
                    rec.update(payload)
                    rec["status"] = "ok"
                if payload.get("time_epoch1") or rec["times"][0] > args.repeat_under:
                    break  # slow (or multi-fit) models: one run
            rec["time"] = _median(rec["times"])
            results.append(rec)
            if rec["status"] == "ok":
                log(f"  [{name}] {label}: {rec['time']:.2f} s (runs "
                    f"{', '.join(f'{t:.2f}' for t in rec['times'])})  acc "
                    f"{_fmt(rec.get('accuracy'), '.4f')}  J {_fmt_objective(rec.get('J'))}"
                    f"  gap {_fmt(rec.get('duality_gap'), '.2e')}")
            elif rec["status"] == "timeout":
                log(f"  [{name}] {label}: capped at {cap:.0f} s")
            else:
                log(f"  [{name}] {label}: ERROR\n{rec.get('error')}")
    finally:
        worker.close()
    return dict(meta=worker.meta, models=results)


def _has_mlpack():
    try:
        import importlib.util
        return importlib.util.find_spec("mlpack") is not None
    except ImportError:
        return False


# ----------------------------------------------------------------------------------
# Kernel yardsticks (issue 7, section 1), run in their own process
# ----------------------------------------------------------------------------------
def _row_sum_kernel():
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


def _best_of(fn, repeats):
    fn()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return dict(median=float(np.median(times)), min=float(np.min(times)))


def kernel_yardsticks(quick, repeats):
    """Timings of loss_gradient against numpy/scipy products and a row-sum pass."""
    import scipy.sparse as sp
    from threadpoolctl import threadpool_limits

    from sksvm import loss_gradient
    from sksvm._objective import MulticlassSVMObjective
    from sksvm._threads import effective_n_threads, numba_threads

    rng = np.random.default_rng(0)
    row_sums = _row_sum_kernel()
    out = dict(cases=[])
    n_dense, d_dense, k_dense = (6_000, 784, 10) if quick else (60_000, 784, 10)
    n_csr, d_csr, k_csr = (5_000, 100_000, 20) if quick else (50_000, 100_000, 20)
    C = 1e-3
    n_threads = effective_n_threads(None)

    def case(label, X, k):
        n, d = X.shape
        y = rng.integers(k, size=n)
        dtype = X.dtype
        # Scores of order 1, so that most margins are active (the costly case).
        nnz_per_row = X.nnz / n if sp.issparse(X) else d
        W = rng.normal(scale=1.0 / math.sqrt(nnz_per_row), size=(k, d))
        A = rng.normal(size=(n, k)).astype(dtype if not sp.issparse(X) else np.float64)
        objective = MulticlassSVMObjective(X, y.astype(np.int64), np.ones(n), k, C=C,
                                           loss="hinge", margin=1.0,
                                           fit_intercept=False, n_threads=n_threads)
        rec = dict(case=label, shape=list(X.shape), k=k, dtype=str(dtype),
                   n_threads=n_threads)
        with numba_threads(n_threads):
            rec["evaluate_hinge"] = _best_of(lambda: objective.evaluate(W, np.zeros(k)),
                                             repeats)
            rec["evaluate_smoothed"] = _best_of(
                lambda: objective.evaluate(W, np.zeros(k), 0.1), repeats)
        single = MulticlassSVMObjective(X, y.astype(np.int64), np.ones(n), k, C=C,
                                        loss="hinge", margin=1.0, fit_intercept=False,
                                        n_threads=1)
        with numba_threads(1):
            rec["evaluate_1thread"] = _best_of(lambda: single.evaluate(W, np.zeros(k)),
                                               repeats)
        with numba_threads(n_threads):
            with PeakMemory() as memory:
                objective.evaluate(W, np.zeros(k))
            if memory.peak is not None:
                rec["evaluate_extra_rss"] = memory.peak - memory.before
        rec["loss_gradient_public"] = _best_of(
            lambda: loss_gradient(W, None, X, y, C=C), repeats)
        if sp.issparse(X):
            def products():
                X @ W.T
                X.T @ A
            rec["peer_products"] = _best_of(products, repeats)
            rec["peer_label"] = "scipy X @ W.T + X.T @ A"
        else:
            Wd = W.astype(dtype)

            def products():
                X @ Wd.T
                A.T @ X
            rec["peer_products"] = _best_of(products, repeats)
            with threadpool_limits(limits=1, user_api="blas"):
                rec["peer_products_1thread"] = _best_of(products, repeats)
            rec["peer_label"] = "numpy X @ W.T + A.T @ X"
            rec["row_sum"] = _best_of(lambda: row_sums(X), repeats)
        rec["x_bytes"] = int(X.data.nbytes + X.indices.nbytes + X.indptr.nbytes
                             if sp.issparse(X) else X.nbytes)
        out["cases"].append(rec)

    X64 = rng.standard_normal((n_dense, d_dense))
    case("dense float64", X64, k_dense)
    case("dense float32", X64.astype(np.float32), k_dense)
    del X64
    # A Generator: the legacy RandomState draws the positions through a
    # permutation of all n·d cells (37 GiB at 50000 x 100000).
    Xs = sp.random(n_csr, d_csr, density=0.001, format="csr",
                   random_state=np.random.default_rng(0), dtype=np.float64)
    Xs.sort_indices()
    case("CSR float64 (0.1 %)", Xs, k_csr)
    return out


def _kernels_entry(conn, quick, repeats):
    try:
        conn.send(("ok", kernel_yardsticks(quick, repeats)))
    except Exception:  # noqa: BLE001
        conn.send(("error", traceback.format_exc()))


def run_in_process(target, args, cap):
    ctx = mp.get_context("spawn")
    parent, child = ctx.Pipe()
    process = ctx.Process(target=target, args=(child, *args), daemon=True)
    process.start()
    try:
        if parent.poll(cap):
            return parent.recv()
        return ("timeout", cap)
    finally:
        if process.is_alive():
            process.kill()
        process.join()


# ----------------------------------------------------------------------------------
# First fit in a fresh process (numba compilation)
# ----------------------------------------------------------------------------------
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


def cold_start_child():
    """Run in a fresh interpreter: time the import and the first fits; print JSON."""
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
    print("COLDSTART " + json.dumps(steps))


def cold_start(log):
    """First fits with an empty numba cache, then with the cache it filled."""
    cache = tempfile.mkdtemp(prefix="sksvm-numba-cache-")
    runs = {}
    try:
        for label in ("empty NUMBA_CACHE_DIR (compile)", "populated NUMBA_CACHE_DIR"):
            env = dict(os.environ, NUMBA_CACHE_DIR=cache)
            start = time.perf_counter()
            proc = subprocess.run([sys.executable, os.path.abspath(__file__),
                                   "--_cold-start-child"], env=env, capture_output=True,
                                  text=True, timeout=900)
            wall = time.perf_counter() - start
            line = [ln for ln in proc.stdout.splitlines() if ln.startswith("COLDSTART ")]
            if proc.returncode or not line:
                runs[label] = dict(error=proc.stderr[-2000:])
                continue
            runs[label] = dict(steps=json.loads(line[0][len("COLDSTART "):]),
                               process_wall=wall)
            log(f"  cold start, {label}: process {wall:.1f} s, first default fit "
                f"{runs[label]['steps'][2][1]:.2f} s")
    finally:
        shutil.rmtree(cache, ignore_errors=True)
    return runs


# ----------------------------------------------------------------------------------
# Report
# ----------------------------------------------------------------------------------
def _best_objective(models):
    """Best hinge J and best certified lower bound among no-intercept WW runs."""
    values, lower = [], []
    for m in models:
        if m.get("status") != "ok" or "J" not in m or m["key"] == "default" \
                or _fmt_objective(m["J"]).startswith("diverged"):
            continue
        values.append(m["J"])
        if m["kind"] == "sksvm" and m.get("params", {}).get("loss", "hinge") == "hinge" \
                and m.get("params", {}).get("solver") != "subgradient" \
                and math.isfinite(m.get("duality_gap", float("nan"))):
            lower.append(m["J"] * (1 - m["duality_gap"]))
    return (min(values) if values else None), (max(lower) if lower else None)


def _best_squared(models):
    values = [m["J_own"] for m in models if m.get("status") == "ok"
              and m.get("params", {}).get("loss") == "squared_hinge" and "J_own" in m
              and not _fmt_objective(m["J_own"]).startswith("diverged")]
    return min(values) if values else None


def _ratio_1thread(c):
    """evaluate with one numba thread / the peer products with one BLAS thread."""
    peer = c.get("peer_products_1thread", c["peer_products"])["min"]
    return c["evaluate_1thread"]["min"] / peer


def _model_row(m, best, best_sq, x_bytes):
    status = m.get("status")
    if status == "timeout":
        time_cell = f"> {m['cap']:.0f} (cap)"
    elif status == "error":
        time_cell = "error"
    elif status == "n/a":
        time_cell = "n/a (dense input only)"
    else:
        time_cell = f"{m['time']:.2f}"
    rel = "-"
    if status == "ok" and "J" in m and m["key"] != "default" and _fmt_objective(
            m["J_own"]).startswith("diverged"):
        rel = "diverged"
    elif status == "ok" and "J" in m and m["key"] != "default":
        if m.get("params", {}).get("loss") == "squared_hinge":
            if best_sq:
                rel = f"{m['J_own'] / best_sq - 1:+.2e} (sq.)"
        elif best:
            rel = f"{m['J'] / best - 1:+.2e}"
    memory = "-"
    if m.get("rss_peak") and x_bytes:
        memory = f"{1 + (m['rss_peak'] - m['rss_before']) / x_bytes:.2f}"
    iters = "-"
    if "n_evaluations" in m and m.get("params", {}).get("solver", "lbfgs") == "lbfgs":
        iters = f"{m.get('n_iter', '-')} it / {m['n_evaluations']} ev"
    elif "n_iter" in m:
        iters = str(m["n_iter"])
    J = _fmt_objective(m.get("J"))
    if m.get("params", {}).get("loss") == "squared_hinge" and "J_own" in m:
        J += f" (sq. {_fmt_objective(m['J_own'])})"
    return (f"| {m['label']} | {m['problem']} | {time_cell} | {len(m.get('times', []))} "
            f"| {_fmt(m.get('accuracy'), '.4f')} | {J} | {rel} "
            f"| {_fmt(m.get('duality_gap'), '.1e')} | {iters} | {memory} |")


def _find(models, key):
    for m in models:
        if m["key"] == key:
            return m
    return None


def targets(name, data):
    """Issue-7 target lines for one data set (Fashion-MNIST carries the targets)."""
    models = data["models"]
    best, lower = _best_objective(models)
    lines = []
    default, svc = _find(models, "default"), _find(models, "linearsvc")
    lbfgs, mlp = _find(models, "lbfgs"), _find(models, "mlpack_lbfgs")
    sub = _find(models, "subgradient")

    def ok(flag):
        return "**met**" if flag else "**missed**"

    if default and svc:
        if default["status"] == "ok" and svc["status"] == "ok":
            ratio = default["time"] / svc["time"]
            lines.append(f"- Default fit time / LinearSVC() time = {ratio:.3f} "
                         f"(target <= 0.1): {ok(ratio <= 0.1)}; accuracy "
                         f"{default['accuracy']:.4f} vs {svc['accuracy']:.4f}: "
                         f"{ok(default['accuracy'] >= svc['accuracy'])}.")
        elif default["status"] == "ok" and svc["status"] == "timeout":
            lines.append(f"- Default fit time / LinearSVC() time < "
                         f"{default['time'] / svc['cap']:.3f} (LinearSVC capped at "
                         f"{svc['cap']:.0f} s; target <= 0.1).")
        else:
            lines.append(f"- Default fit: {default['status']}, LinearSVC(): "
                         f"{svc['status']}; ratio not available.")
    if lbfgs and lbfgs["status"] == "ok" and best:
        rel = lbfgs["J"] / best - 1
        certified = lbfgs.get("duality_gap", float("nan"))
        lines.append(f"- lbfgs (fit_intercept=False): J {lbfgs['J']:.6f}, "
                     f"{rel:+.1e} relative to the best J of the run, certified gap "
                     f"{certified:.1e} (target 1e-3): {ok(certified <= 1e-3)}; "
                     f"{lbfgs.get('n_evaluations', '-')} evaluations (prototype: ~860).")
    if lbfgs and mlp and lbfgs["status"] == "ok" and mlp["status"] == "ok" and best:
        lines.append(f"- vs mlpack lbfgs: time {lbfgs['time']:.2f} s vs {mlp['time']:.2f} s "
                     f"(ratio {lbfgs['time'] / mlp['time']:.2f}, "
                     f"{ok(lbfgs['time'] < mlp['time'])}); J {lbfgs['J']:.6f} vs "
                     f"{mlp['J']:.6f} (mlpack {mlp['J'] / best - 1:+.1%} above best; "
                     f"{ok(lbfgs['J'] < mlp['J'])}).")
    if mlp and mlp["status"] == "ok" and "J" in mlp:
        # Time for our solvers' J to fall below mlpack's final J (their curves).
        for key in ("dual_cd", "lbfgs"):
            ours = _find(models, key)
            if not (ours and ours["status"] == "ok" and ours.get("history")):
                continue
            hit = next((h for h in ours["history"] if h["objective"] <= mlp["J"]), None)
            if hit:
                lines.append(
                    f"- {key} (fit_intercept=False) reaches mlpack lbfgs's final J "
                    f"({mlp['J']:.6f}) after {hit['time']:.2f} s, "
                    f"{hit['time'] / mlp['time']:.2f} x mlpack's {mlp['time']:.2f} s; "
                    f"it ends at J {ours['J']:.6f} after {ours['time']:.2f} s.")
    if sub and sub["status"] == "ok":
        acc = max(sub.get("accuracy_epoch1", 0), sub.get("accuracy_epoch2", 0))
        line = (f"- subgradient (bs=1): accuracy {sub.get('accuracy_epoch1', float('nan')):.4f}"
                f" after 1 epoch, {sub.get('accuracy_epoch2', float('nan')):.4f} after 2 "
                f"(target >= 0.84): {ok(acc >= 0.84)}")
        if best:
            ratio = sub["J"] / best
            line += (f"; J after {SUBGRADIENT_EPOCHS} epochs = {ratio:.4f} x best J "
                     f"(target <= 1.05): {ok(ratio <= 1.05)}")
        lines.append(line + ".")
    if best and lower:
        lines.append(f"- Optimum bracket (no intercept): best certified lower bound "
                     f"{lower:.6f} <= J* <= {best:.6f} (width {(best - lower) / best:.1e}"
                     f" relative).")
    return lines


def plot_dataset(name, data, out_dir):
    """Objective versus time / evaluations / epochs for our solvers."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    models = data["models"]
    best, _ = _best_objective(models)
    best_sq = _best_squared(models)
    if not best:
        return None
    fig, axes = plt.subplots(1, 3, figsize=(16, 4.8))
    colors = dict(lbfgs="C0", subgradient="C1", dual_cd="C2")
    floor = 1e-7
    for m in models:
        if m.get("status") != "ok" or not m.get("history") or m["key"] == "default":
            continue
        solver = m["params"].get("solver", "lbfgs")
        squared = m["params"].get("loss") == "squared_hinge"
        ref = best_sq if squared else best
        if not ref or _fmt_objective(m.get("J_own")).startswith("diverged"):
            continue
        hist = m["history"]
        t = np.array([h["time"] for h in hist])
        obj = np.array([h["objective"] for h in hist])
        rel = np.clip(obj / ref - 1, floor, 1e3)
        style = "--" if squared else "-"
        label = f"{solver} {'squared hinge' if squared else 'hinge'}"
        axes[0].loglog(np.maximum(t, 1e-3), rel, style, color=colors[solver],
                       label=label)
        if solver == "lbfgs" and not squared:
            ev = np.array([h["n_evaluations"] for h in hist])
            axes[1].semilogy(ev, rel, "-", color="C0", label="lbfgs: J/J_best - 1")
            gap = np.array([h.get("gap", np.nan) for h in hist], dtype=float)
            axes[1].semilogy(ev, np.clip(gap, floor, 1e3), ":", color="C0",
                             label="lbfgs: certified relative gap")
        if solver == "subgradient":
            axes[2].semilogy(np.arange(1, len(rel) + 1), rel, style, color="C1",
                             label=label)
    for m in models:
        if m["kind"] == "mlpack" and m.get("status") == "ok" and "J" in m:
            axes[0].plot(m["time"], max(m["J"] / best - 1, floor),
                         "s" if "lbfgs" in m["key"] else "^", color="C3",
                         label=m["label"] + " (final)")
    axes[0].set_xlabel("fit time (s)")
    axes[0].set_ylabel("J / J_best - 1 (relative suboptimality)")
    axes[0].set_title(f"{name}: objective vs time (no intercept)")
    axes[1].set_xlabel("loss_gradient evaluations")
    axes[1].axhline(1e-3, color="grey", lw=0.8)
    axes[1].set_title("lbfgs: objective and gap vs evaluations")
    axes[2].set_xlabel("epoch")
    axes[2].axhline(0.05, color="grey", lw=0.8)
    axes[2].set_title("subgradient (bs=1): averaged iterate vs epoch")
    for ax in axes:
        ax.grid(True, which="both", alpha=0.3)
        if ax.get_legend_handles_labels()[0]:
            ax.legend(fontsize=8)
    fig.tight_layout()
    path = os.path.join(out_dir, f"objective_vs_time_{name}.png")
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def write_report(results, out_dir, command):
    lines = []
    add = lines.append
    env = results["environment"]
    add("# sksvm benchmark results")
    add("")
    add(f"Command: `{command}` ({'quick' if results['quick'] else 'full'} run), "
        f"{results['started']} to {results['finished']} "
        f"({results['total_seconds'] / 60:.1f} min).")
    add("")
    add(f"Machine: {env.get('cpu', '?')}, {env['cpu_count']} cores, "
        f"{env['platform']}; load average at start {results['load_start']}, at end "
        f"{results['load_end']} (the machine is shared: times are indicative, ratios "
        "within one run are the meaningful numbers). "
        f"Python {env['python']}, numpy "
        f"{env['numpy']}, scipy {env['scipy']}, scikit-learn {env['sklearn']}, numba "
        f"{env['numba']} ({env['numba_threads']} threads), mlpack {env['mlpack']}, "
        f"sksvm {env.get('sksvm')} (git {env.get('git', '?')}).")
    add("")
    add("BLAS/OpenMP (threadpoolctl): " + "; ".join(
        f"{p.get('internal_api')} {p.get('version')} {p.get('architecture', '')} "
        f"{p.get('num_threads')} threads ({p['library']})" for p in env["threadpools"])
        + ". Environment: " + (", ".join(f"{k}={v}" for k, v in env["env"].items())
                               or "no OPENBLAS_*/OMP_*/NUMBA_* variables set") + ".")
    add("")
    add("OpenBLAS caveat: OpenBLAS picks its GEMM kernels and blocking from the "
        "detected core type and cache sizes; under a hypervisor the detection can be "
        "wrong, and `OPENBLAS_CORETYPE` / `OPENBLAS_L2_SIZE` change the numpy "
        "yardstick times. The values above are what this run used.")
    add("")

    for name, data in results["datasets"].items():
        meta = data.get("meta")
        if not meta:
            add(f"## {name}: not run ({data.get('error', 'no data')})")
            add("")
            continue
        best, lower = _best_objective(data["models"])
        best_sq = _best_squared(data["models"])
        add(f"## {name}: {meta['description']}")
        add("")
        extra = (f", density {meta['density']:.2%}" if meta.get("density") else "")
        add(f"{meta['n_train']} training / {meta['n_test']} test samples, "
            f"{meta['n_features']} features, {meta['n_classes']} classes{extra}, "
            f"{meta['x_bytes'] / 2**20:.0f} MiB; C = {meta['C']:g}, margin 1. "
            f"Warm fits: the worker compiled/loaded the kernels first "
            f"({meta['warm_up_seconds']:.1f} s).")
        add("")
        add("| model | problem | fit time (s) | runs | test acc. | J (hinge, no intercept) "
            "| J / J_best - 1 | certified gap | iterations | peak mem / X |")
        add("|---|---|---|---|---|---|---|---|---|---|")
        for m in data["models"]:
            add(_model_row(m, best, best_sq, meta["x_bytes"]))
        add("")
        add("Notes: *WW* = Weston-Watkins (our objective; sksvm's non-default rows and "
            "mlpack have no intercept). J is our hinge objective evaluated at the "
            "model's coefficients with `sksvm.loss_gradient`; for squared-hinge fits "
            "the squared-hinge objective is in brackets and the relative column "
            "compares it with the best squared-hinge J of the run. The default fit has "
            "an intercept, so its J is not comparable. LinearSVC and SGDClassifier "
            "solve other problems (no J). "
            + ("LinearSVC: pixels / 255 and C = 1 (its fast setting). "
               if name == "fashion" else
               f"LinearSVC: C_svc = 1 / (n C) = {1 / (meta['n_train'] * meta['C']):g}. ")
            + "SGDClassifier: alpha = C, standardized data, its default max_iter/tol. "
            "Peak mem / X = 1 + (peak RSS during the fit - RSS before it) / size of "
            "X. Iterations: L-BFGS iterations / loss_gradient evaluations, or epochs "
            "(liblinear/SGD: max over classes).")
        add("")
        lines.extend(targets(name, data))
        sub = _find(data["models"], "subgradient")
        if sub and sub.get("status") == "ok" and sub.get("history") and best:
            curve = ", ".join(f"{h['objective'] / best:.4f}" for h in sub["history"])
            add(f"- Subgradient curve, J(averaged iterate) / J_best per epoch: {curve}.")
        lb = _find(data["models"], "lbfgs")
        if lb and lb.get("status") == "ok" and lb.get("history") and best:
            marks = []
            for thr in (1e-1, 1e-2, 1e-3):
                hit = next((h for h in lb["history"] if h["objective"] / best - 1 <= thr),
                           None)
                if hit:
                    marks.append(f"within {thr:g} after {hit['n_evaluations']} "
                                 f"evaluations ({hit['time']:.1f} s)")
            if marks:
                add("- lbfgs J relative to J_best: " + "; ".join(marks) + ".")
        add("")
        if data.get("plot"):
            add(f"![objective vs time, {name}]({os.path.basename(data['plot'])})")
            add("")

    kern = results.get("kernels")
    if kern:
        add("## Kernel yardsticks (issue 7, section 1)")
        add("")
        if kern[0] != "ok":
            add(f"Not measured: {kern[0]} {kern[1]}")
        else:
            add("Times in ms: best of repeated calls after a warm-up (median in "
                "brackets; the machine is shared, so the best is the better estimate of "
                "the cost and the ratios use it). Random data; W gives scores of order "
                "1, so most margins are active (the costly case). `evaluate` = one "
                "objective + gradient evaluation as the solvers call it (kernel + "
                "finalization), with all numba threads and with one; `loss_gradient` "
                "= the public function (adds input validation and thread set-up). "
                "Peers: numpy/scipy products with OpenBLAS's default threads.")
            add("")
            add("| case | evaluate (hinge) | evaluate (smoothed) | evaluate, 1 thread "
                "| loss_gradient | peer products | peer, 1 BLAS thread | row-sum pass "
                "| evaluate / peer | same, 1 thread each | evaluate / row sum "
                "| extra RSS / X |")
            add("|---|---|---|---|---|---|---|---|---|---|---|---|")

            def ms(entry):
                if not entry:
                    return "-"
                return f"{1e3 * entry['min']:.1f} ({1e3 * entry['median']:.1f})"
            f64 = None
            for c in kern[1]["cases"]:
                ev = c["evaluate_hinge"]["min"]
                peer = c["peer_products"]["min"]
                row = c.get("row_sum", {}).get("min")
                extra = c.get("evaluate_extra_rss")
                add(f"| {c['case']} {c['shape'][0]} x {c['shape'][1]}, k={c['k']} "
                    f"| {ms(c['evaluate_hinge'])} | {ms(c['evaluate_smoothed'])} "
                    f"| {ms(c.get('evaluate_1thread'))} "
                    f"| {ms(c['loss_gradient_public'])} | {ms(c['peer_products'])} "
                    f"({c['peer_label']}) | {ms(c.get('peer_products_1thread'))} "
                    f"| {ms(c.get('row_sum'))} "
                    f"| {ev / peer:.2f} | {_ratio_1thread(c):.2f} "
                    f"| {_fmt(ev / row if row else None, '.1f')} "
                    f"| {_fmt(extra / c['x_bytes'] if extra is not None else None, '.2f')} |")
                if c["case"] == "dense float64":
                    f64 = ev
                    f64_1 = c["evaluate_1thread"]["min"]
            add("")
            for c in kern[1]["cases"]:
                ev = c["evaluate_hinge"]["min"]
                peer = c["peer_products"]["min"]
                pub = c["loss_gradient_public"]["min"]
                if c["case"] == "dense float64":
                    one = _ratio_1thread(c)
                    add(f"- Dense float64: evaluate / numpy = {ev / peer:.2f} with all "
                        f"threads, {one:.2f} with one thread each (target <= 0.6): "
                        f"{'**met**' if max(one, ev / peer) <= 0.6 else '**missed**' if min(one, ev / peer) > 0.6 else '**met with all threads only**' if ev / peer <= 0.6 else '**met with one thread only**'}; public "
                        f"loss_gradient / numpy = {pub / peer:.2f}; evaluate = "
                        f"{ev / c['row_sum']['min']:.1f} x one row-sum pass over X.")
                elif c["case"] == "dense float32" and f64:
                    f64_one = f64_1 / c["evaluate_1thread"]["min"]
                    add(f"- Dense float32: speed-up over float64 = {f64 / ev:.2f} x with "
                        f"all threads, {f64_one:.2f} x with one (target >= 1.5): "
                        f"{'**met**' if min(f64 / ev, f64_one) >= 1.5 else '**missed**' if max(f64 / ev, f64_one) < 1.5 else '**met in one setting only**'};"
                        f" evaluate / numpy (sgemm) = {ev / peer:.2f}; extra RSS during one "
                        f"evaluation = {c.get('evaluate_extra_rss', 0) / c['x_bytes']:.2f} "
                        f"x X (an upcast copy would add 2 x X).")
                elif c["case"].startswith("CSR"):
                    one = _ratio_1thread(c)
                    add(f"- CSR: evaluate / scipy = {ev / peer:.2f} with all threads, "
                        f"{one:.2f} with one (scipy is single-threaded; target <= 1.0): "
                        f"{'**met**' if min(one, ev / peer) <= 1.0 else '**missed**'}; public "
                        f"loss_gradient / scipy = {pub / peer:.2f}.")
        add("")

    cold = results.get("cold_start")
    if cold:
        add("## First fit in a fresh process (numba compilation)")
        add("")
        add("A fresh interpreter imports sksvm and fits a 300 x 20, 3-class problem with "
            "each configuration in turn (`n_threads=1`, so that the fits themselves "
            "take milliseconds and the times are compilation or cache loading; "
            "\"same fit again\" is the warm reference); times in seconds. First with "
            "an empty "
            "`NUMBA_CACHE_DIR` (everything compiles), then again with the cache that "
            "run filled. The warm fits in the tables above exclude all of this.")
        add("")
        labels = list(cold)
        add("| step | " + " | ".join(labels) + " |")
        add("|---|" + "---|" * len(labels))
        steps = None
        for label in labels:
            if "steps" in cold[label]:
                steps = [s[0] for s in cold[label]["steps"]]
                break
        for i, step in enumerate(steps or []):
            cells = []
            for label in labels:
                run = cold[label]
                cells.append(f"{run['steps'][i][1]:.2f}" if "steps" in run else "error")
            add(f"| {step} | " + " | ".join(cells) + " |")
        add("| whole process (wall) | " + " | ".join(
            f"{cold[label]['process_wall']:.1f}" if "process_wall" in cold[label] else "error"
            for label in labels) + " |")
        add("")

    mem_lines = []
    for name, data in results["datasets"].items():
        meta = data.get("meta")
        if not meta:
            continue
        for m in data["models"]:
            if m.get("rss_peak") and m["kind"] == "sksvm":
                extra = m["rss_peak"] - m["rss_before"]
                mem_lines.append(
                    f"| {name} | {m['label']} | {meta['x_bytes'] / 2**20:.0f} "
                    f"| {extra / 2**20:.0f} | {1 + extra / meta['x_bytes']:.2f} "
                    f"| {m['rss_peak'] / 2**20:.0f} |")
    if mem_lines:
        add("## Memory during fit (issue 7, section 4)")
        add("")
        add("Peak resident memory of the worker during each fit (`VmHWM` after "
            "resetting it with `/proc/self/clear_refs`), minus its resident memory "
            "just before the fit (X, the test set, the interpreter and the compiled "
            "kernels); 1 + that increase / size of X is the peak relative to X "
            "(target <= 1.5, i.e. at most 0.5 x X of working memory).")
        add("")
        add("| data set | model | X (MiB) | increase during fit (MiB) | peak / X "
            "| process peak (MiB) |")
        add("|---|---|---|---|---|---|")
        lines.extend(mem_lines)
        add("")
    path = os.path.join(out_dir, "results.md")
    with open(path, "w") as handle:
        handle.write("\n".join(lines) + "\n")
    return path


# ----------------------------------------------------------------------------------
# Main
# ----------------------------------------------------------------------------------
def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true",
                        help="small subsets and short caps (seconds to a few minutes)")
    parser.add_argument("--datasets", default="fashion,sparse,dense",
                        help="comma-separated subset of fashion,sparse,dense")
    parser.add_argument("--repeats", type=int, default=None,
                        help="fits per model, median reported (default 3, quick 1); "
                             "fits slower than --repeat-under run once")
    parser.add_argument("--repeat-under", type=float, default=30.0,
                        help="repeat only fits faster than this many seconds")
    parser.add_argument("--cap-scale", type=float, default=1.0,
                        help="multiply every time cap by this factor")
    parser.add_argument("--only", default="",
                        help="comma-separated model keys (substrings) to run")
    parser.add_argument("--skip", default="",
                        help="comma-separated parts to skip: kernels,coldstart,models")
    parser.add_argument("--out", default=None, help="output folder")
    parser.add_argument("--_cold-start-child", action="store_true",
                        help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args._cold_start_child:
        cold_start_child()
        return
    if args.repeats is None:
        args.repeats = 1 if args.quick else 3
    out_dir = args.out or os.path.join(HERE, "results", "quick" if args.quick else "")
    out_dir = os.path.normpath(out_dir)
    os.makedirs(os.path.join(out_dir, "raw"), exist_ok=True)
    skip = {s.strip() for s in args.skip.split(",") if s.strip()}
    specs = QUICK if args.quick else FULL
    caps = {name: {k: v / (10 if args.quick else 1) for k, v in c.items()}
            for name, c in CAPS.items()}
    command = "python benchmarks/run.py " + " ".join(argv if argv is not None
                                                     else sys.argv[1:])

    def log(message):
        print(message, flush=True)

    start = time.perf_counter()
    results = dict(quick=args.quick, started=datetime.datetime.now().isoformat(
        timespec="seconds"), load_start=[round(x, 2) for x in os.getloadavg()],
        environment=_environment(), datasets={})
    log(f"sksvm benchmarks -> {out_dir}; load average {results['load_start']}")

    if "coldstart" not in skip:
        log("first fit in a fresh process ...")
        results["cold_start"] = cold_start(log)
    if "kernels" not in skip:
        log("kernel yardsticks ...")
        results["kernels"] = run_in_process(
            _kernels_entry, (args.quick, 5 if args.quick else 9), 900)
        if results["kernels"][0] == "ok":
            for c in results["kernels"][1]["cases"]:
                log(f"  {c['case']}: evaluate {c['evaluate_hinge']['median']:.4f} s, "
                    f"{c['peer_label']} {c['peer_products']['median']:.4f} s, row sum "
                    f"{_fmt(c.get('row_sum', {}).get('median'), '.4f')} s")
        else:
            log(f"  kernels: {results['kernels'][0]} {results['kernels'][1]}")

    if "models" not in skip:
        from datasets import fashion_mnist_available
        cache_dir = tempfile.mkdtemp(prefix="sksvm-bench-data-")
        try:
            for name in [s.strip() for s in args.datasets.split(",") if s.strip()]:
                if name == "fashion" and not fashion_mnist_available():
                    results["datasets"][name] = dict(
                        error="Fashion-MNIST not installed (apt-get install "
                              "dataset-fashion-mnist)")
                    continue
                log(f"data set {name} ...")
                try:
                    data = run_dataset(name, specs[name], caps[name], args, cache_dir,
                                       log)
                except Exception:  # noqa: BLE001
                    data = dict(error=traceback.format_exc(), models=[])
                    log(data["error"])
                results["datasets"][name] = data
                if data.get("meta"):
                    data["plot"] = plot_dataset(name, data, out_dir)
                # Save as we go, so that an interrupted run keeps its results.
                with open(os.path.join(out_dir, "raw", "results.json"), "w") as handle:
                    json.dump(results, handle, default=str)
        finally:
            shutil.rmtree(cache_dir, ignore_errors=True)

    results["finished"] = datetime.datetime.now().isoformat(timespec="seconds")
    results["load_end"] = [round(x, 2) for x in os.getloadavg()]
    results["total_seconds"] = time.perf_counter() - start
    with open(os.path.join(out_dir, "raw", "results.json"), "w") as handle:
        json.dump(results, handle, default=str)
    path = write_report(results, out_dir, command)
    log(f"wrote {path} ({results['total_seconds'] / 60:.1f} min)")


if __name__ == "__main__":
    main()
