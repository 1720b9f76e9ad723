"""The software and machine a benchmark run used, for the report header."""

import os
import platform
import subprocess

import numpy as np

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _git_revision():
    """Short HEAD hash, flagged when ``sksvm/`` has uncommitted changes."""
    head = subprocess.run(["git", "-C", REPO, "rev-parse", "--short", "HEAD"],
                          capture_output=True, text=True)
    dirty = subprocess.run(["git", "-C", REPO, "status", "--porcelain", "sksvm"],
                           capture_output=True, text=True)
    return head.stdout.strip() + (" + uncommitted changes in sksvm/"
                                  if dirty.stdout.strip() else "")


def _cpu_model():
    try:
        with open("/proc/cpuinfo") as handle:
            for line in handle:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return None


def describe_environment():
    """Versions, thread counts and BLAS configuration.

    Returns
    -------
    dict
        JSON-serializable; ``mlpack`` is None when it is not installed.
    """
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
        from sksvm import __version__ as sksvm_version
        info["sksvm"] = sksvm_version
        info["git"] = _git_revision()
    except Exception:  # noqa: BLE001 - informational only
        pass
    cpu = _cpu_model()
    if cpu:
        info["cpu"] = cpu
    return info
