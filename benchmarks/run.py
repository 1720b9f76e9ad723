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

Modules: ``config`` (data set sizes, models, caps, targets), ``benchmark_data``
(generation and cache), ``adapters`` (one per library), ``worker`` (processes, caps),
``memory`` (``/proc``), ``kernels``, ``cold_start``, ``environment``, ``report`` and
``plots``; this file is the command line.
"""

import argparse
import datetime
import json
import os
import shutil
import sys
import tempfile
import time
import traceback

HERE = os.path.dirname(os.path.abspath(__file__))
if HERE not in sys.path:
    sys.path.insert(0, HERE)

from cold_start import cold_start  # noqa: E402
from config import DATASET_SPECS, caps_for  # noqa: E402
from environment import describe_environment  # noqa: E402
from kernels import kernels_entry  # noqa: E402
from plots import plot_dataset  # noqa: E402
from report import format_number, write_report  # noqa: E402
from worker import run_dataset, run_in_process  # noqa: E402

#: Seconds the kernel yardsticks may take.
KERNELS_CAP = 900


def parse_args(argv):
    """The command-line options (see the module docstring)."""
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
    args = parser.parse_args(argv)
    if args.repeats is None:
        args.repeats = 1 if args.quick else 3
    return args


def log(message):
    """Print a progress line at once."""
    print(message, flush=True)


def _load_average():
    return [round(x, 2) for x in os.getloadavg()]


def _save_raw(results, out_dir):
    with open(os.path.join(out_dir, "raw", "results.json"), "w") as handle:
        json.dump(results, handle, default=str)


def _run_kernels(args):
    kernels = run_in_process(kernels_entry, (args.quick, 5 if args.quick else 9),
                             KERNELS_CAP)
    if kernels[0] != "ok":
        log(f"  kernels: {kernels[0]} {kernels[1]}")
        return kernels
    for case in kernels[1]["cases"]:
        log(f"  {case['case']}: loss_gradient {case['loss_gradient']['median']:.4f} s, "
            f"{case['peer_label']} {case['peer_products']['median']:.4f} s, row sum "
            f"{format_number(case.get('row_sum', {}).get('median'), '.4f')} s")
    return kernels


def _run_models(args, results, out_dir):
    from datasets import fashion_mnist_available

    specs = DATASET_SPECS["quick" if args.quick else "full"]
    caps = caps_for(args.quick, args.cap_scale)
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
                data = run_dataset(name, specs[name], caps[name], args, cache_dir, log)
            except Exception:  # noqa: BLE001
                data = dict(error=traceback.format_exc(), models=[])
                log(data["error"])
            results["datasets"][name] = data
            if data.get("meta"):
                data["plot"] = plot_dataset(name, data, out_dir)
            _save_raw(results, out_dir)  # an interrupted run keeps its results
    finally:
        shutil.rmtree(cache_dir, ignore_errors=True)


def main(argv=None):
    """Run the suite and write the report (see the module docstring)."""
    args = parse_args(argv)
    out_dir = os.path.normpath(
        args.out or os.path.join(HERE, "results", "quick" if args.quick else ""))
    os.makedirs(os.path.join(out_dir, "raw"), exist_ok=True)
    skip = {s.strip() for s in args.skip.split(",") if s.strip()}
    command = "python benchmarks/run.py " + " ".join(
        argv if argv is not None else sys.argv[1:])

    start = time.perf_counter()
    results = dict(quick=args.quick,
                   started=datetime.datetime.now().isoformat(timespec="seconds"),
                   load_start=_load_average(), environment=describe_environment(),
                   datasets={})
    log(f"sksvm benchmarks -> {out_dir}; load average {results['load_start']}")
    if "coldstart" not in skip:
        log("first fit in a fresh process ...")
        results["cold_start"] = cold_start(log)
    if "kernels" not in skip:
        log("kernel yardsticks ...")
        results["kernels"] = _run_kernels(args)
    if "models" not in skip:
        _run_models(args, results, out_dir)
    results.update(finished=datetime.datetime.now().isoformat(timespec="seconds"),
                   load_end=_load_average(), total_seconds=time.perf_counter() - start)
    _save_raw(results, out_dir)
    path = write_report(results, out_dir, command)
    log(f"wrote {path} ({results['total_seconds'] / 60:.1f} min)")


if __name__ == "__main__":
    main()
