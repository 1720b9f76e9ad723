"""Threads: how many the kernels may use, and the pool that runs their chunks.

The kernels release the GIL (``nogil``) and work on contiguous chunks of rows; a
persistent pool of ordinary threads runs the chunks, each thread taking the next
chunk when it is done with one. Idle threads block instead of spinning, so a fit
beside another busy process slows down gracefully, and a thread that gets less of
a core simply takes fewer chunks. Sums are reduced in chunk order, so results are
bit-identical for a fixed thread count.
"""

import ctypes
import itertools
import os
import sys
import threading
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager

import numba
from threadpoolctl import ThreadpoolController


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
def kernel_threads(n_threads):
    """Run the block, whose kernels use ``n_threads`` threads, with BLAS limited to
    one thread: the kernels' own BLAS calls are on small blocks, and OpenBLAS
    threads spinning next to the kernel threads slow every kernel call down by an
    order of magnitude. Yields ``n_threads``.

    BLAS thread counts are process-wide, so the limit is shared: the first of any
    overlapping fits (threads of a grid search, tasks of a dask graph) sets it, and
    the last to finish restores the counts found before the first began, whatever
    order they finish in.
    """
    global _blas_users, _blas_saved
    with _blas_lock:
        if _blas_users == 0:
            _blas_saved = [(setter, library.get_num_threads())
                           for setter, library in _blas_setters()]
            for setter, _ in _blas_saved:
                setter(1)
        _blas_users += 1
    try:
        yield n_threads
    finally:
        with _blas_lock:
            _blas_users -= 1
            if _blas_users == 0:
                for setter, count in _blas_saved:
                    setter(count)
                _blas_saved = []


_blas_lock = threading.Lock()
_blas_users = 0
_blas_saved = []
_blas_libraries = []


def _blas_setters():
    """(set the thread count, threadpoolctl's controller) of each loaded BLAS,
    found once per process: the scan costs milliseconds, and the libraries that
    numpy and scipy (whose BLAS numba calls) load are all loaded by then.

    OpenBLAS (0.3.30) ignores ``openblas_set_num_threads`` called from any thread
    but the main one once the main thread has called it, so a fit in a worker
    thread could not limit it; ``openblas_set_num_threads_local`` (OpenBLAS ≥
    0.3.27) takes effect from any thread and is used where the library has it.
    """
    if not _blas_libraries:
        import scipy.linalg.cython_blas  # noqa: F401
        for library in ThreadpoolController().select(user_api="blas").lib_controllers:
            _blas_libraries.append((_thread_count_setter(library), library))
    return _blas_libraries


def _thread_count_setter(library):
    if library.internal_api == "openblas":
        try:
            setter = ctypes.CDLL(library.filepath).openblas_set_num_threads_local
        except (AttributeError, OSError):
            pass
        else:
            setter.argtypes, setter.restype = [ctypes.c_int], ctypes.c_int
            return setter
    return library.set_num_threads


# Below this many multiply-adds a kernel call runs on the calling thread alone: the
# hand-over to the pool costs tens of microseconds.
PARALLEL_MIN_WORK = 2_000_000
# Chunks per thread: enough for a thread that shares its core with another process
# to take fewer chunks than the others.
CHUNKS_PER_THREAD = 4

_executor = None
_executor_lock = threading.Lock()


def chunk_count(n_threads, work):
    """The number of chunks for a kernel call of ``work`` multiply-adds."""
    if n_threads <= 1 or work < PARALLEL_MIN_WORK:
        return 1
    return n_threads * CHUNKS_PER_THREAD


def _shared_executor():
    global _executor
    with _executor_lock:
        if _executor is None:
            _executor = ThreadPoolExecutor(max_workers=max(os.cpu_count() or 1, 2),
                                           thread_name_prefix="sksvm")
        return _executor


def run_chunks(task, n_chunks, n_threads=None):
    """Call ``task(c)`` for every chunk ``c`` in ``range(n_chunks)``, on the calling
    thread and up to ``n_threads - 1`` pool threads (default: one per chunk).

    Each thread takes the next chunk not yet taken. ``task`` must release the GIL
    to run in parallel (the numba kernels do). Exceptions propagate.
    """
    n_workers = min(n_chunks, n_chunks if n_threads is None else n_threads)
    if n_workers <= 1:
        for c in range(n_chunks):
            task(c)
        return
    counter = itertools.count()

    def drain():
        for c in iter(counter.__next__, None):
            if c >= n_chunks:
                return
            task(c)

    helpers = [_shared_executor().submit(drain) for _ in range(n_workers - 1)]
    try:
        drain()
    finally:
        # Helpers still queued behind other fits' work are not waited for: the
        # calling thread has taken every chunk they would have taken.
        for helper in helpers:
            helper.cancel()
        for helper in helpers:
            if not helper.cancelled():
                helper.result()
