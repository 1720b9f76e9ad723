"""Numba thread-count control."""

from contextlib import contextmanager

import numba
from threadpoolctl import threadpool_limits


def effective_n_threads(n_threads):
    """Resolve the ``n_threads`` parameter: None means every numba thread; the
    result is clamped to ``[1, NUMBA_NUM_THREADS]``."""
    limit = numba.config.NUMBA_NUM_THREADS
    if n_threads is None:
        return limit
    return max(1, min(int(n_threads), limit))


@contextmanager
def numba_threads(n_threads):
    """Run the block with ``n_threads`` numba threads, restoring the previous count.

    BLAS is limited to one thread meanwhile: the solvers' own BLAS calls are on
    small vectors, and OpenBLAS threads spinning next to numba's OpenMP threads
    slow every kernel call down by an order of magnitude.
    """
    previous = numba.get_num_threads()
    numba.set_num_threads(n_threads)
    try:
        with threadpool_limits(limits=1, user_api="blas"):
            yield n_threads
    finally:
        numba.set_num_threads(previous)
