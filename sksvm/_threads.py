"""Numba thread-count control."""

import sys
import threading
from contextlib import contextmanager

import numba
from threadpoolctl import ThreadpoolController, threadpool_limits


def effective_n_threads(n_threads):
    """Resolve the ``n_threads`` parameter: the number of numba threads to use.

    None means as many as allowed, and any request is clamped to
    ``[1, allowed_n_threads()]``, so that numba threads never oversubscribe the
    cores that joblib or threadpoolctl have shared out.
    """
    limit = allowed_n_threads()
    if n_threads is None:
        return limit
    return max(1, min(int(n_threads), limit))


def allowed_n_threads():
    """The number of numba threads this thread may use.

    The smallest of:

    - ``NUMBA_NUM_THREADS``, which joblib's process workers (loky) get set to their
      share of the cores, ``cpu_count() // n_jobs``, or to the
      ``inner_max_num_threads`` of :func:`joblib.parallel_config`;
    - the OpenMP thread limit, which ``OMP_NUM_THREADS`` and
      :func:`threadpoolctl.threadpool_limits` set;
    - 1 in a worker thread of joblib's threading backend, which limits nothing
      itself: its workers already occupy the cores.
    """
    limit = numba.config.NUMBA_NUM_THREADS
    openmp_limit = _openmp_thread_limit()
    if openmp_limit is not None:
        limit = min(limit, openmp_limit)
    if _in_joblib_worker_thread():
        limit = 1
    return max(1, limit)


_openmp_controller = None


def _openmp_thread_limit():
    """The smallest thread limit of the loaded OpenMP runtimes, or None."""
    global _openmp_controller
    if _openmp_controller is None or not _openmp_controller.lib_controllers:
        # Finding the loaded runtimes takes milliseconds, reading their limits
        # microseconds: look them up once (again while none is loaded). The
        # runtimes found suffice, as threadpool_limits sets every runtime alike.
        _openmp_controller = ThreadpoolController().select(user_api="openmp")
    limits = [lib.num_threads for lib in _openmp_controller.lib_controllers]
    return min(limits) if limits else None


def _in_joblib_worker_thread():
    """Whether this thread runs a task of joblib's threading backend."""
    joblib_parallel = sys.modules.get("joblib.parallel")
    if (joblib_parallel is None
            or threading.current_thread() is threading.main_thread()):
        return False
    backend, _ = joblib_parallel.get_active_backend()
    return getattr(backend, "nesting_level", 0) > 0


@contextmanager
def numba_threads(n_threads):
    """Run the block with ``n_threads`` numba threads, restoring the previous count.

    BLAS is limited to one thread meanwhile (:func:`single_threaded_blas`): the
    solvers' own BLAS calls are on small vectors, and OpenBLAS threads spinning
    next to numba's OpenMP threads slow every kernel call down by an order of
    magnitude.
    """
    previous = numba.get_num_threads()
    numba.set_num_threads(n_threads)
    try:
        with single_threaded_blas():
            yield n_threads
    finally:
        numba.set_num_threads(previous)


_blas_lock = threading.Lock()
_blas_users = 0
_blas_limits = None


@contextmanager
def single_threaded_blas():
    """Limit BLAS to one thread while any block of this kind runs in the process.

    The BLAS thread count is a process-wide setting: overlapping blocks (fits in
    several threads) share one limit, set by the first to enter and restored by
    the last to leave, so that the original count always comes back.
    """
    global _blas_users, _blas_limits
    with _blas_lock:
        if _blas_users == 0:
            _blas_limits = threadpool_limits(limits=1, user_api="blas")
        _blas_users += 1
    try:
        yield
    finally:
        with _blas_lock:
            _blas_users -= 1
            if _blas_users == 0:
                _blas_limits.restore_original_limits()
                _blas_limits = None
