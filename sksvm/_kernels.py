"""Numba kernels: Weston-Watkins loss and gradient over blocks of rows.

Every kernel works on plain arrays and returns *unnormalized* sums over the rows it
is given, so that blocks can be added in any order (threads, out-of-core chunks, Dask
partitions). Normalization by the total sample weight and the penalty are applied
once, by the caller (see ``sksvm._objective``).

Conventions
-----------
- ``y`` holds class indices ``0..k-1`` (int64); ``sample_weight`` is float64.
- The kernels visit every row; a row with weight 0 is skipped.
- Dense kernels take ``coef`` of shape (k, d) and accumulate the gradient in the same
  layout. CSR kernels take the transpose ``coef_t`` of shape (d, k) so that the k
  weights of one feature are contiguous, and accumulate in that layout.
- ``loss_code``: ``HINGE``, ``SQUARED_HINGE`` or ``SMOOTHED_HINGE`` (width ``mu``),
  defined in :mod:`sksvm._losses`.

Each kernel returns the four sums the objective needs (see MATH.md):

    loss_sum   Σ_i s_i Σ_{j≠y_i} ℓ(m_ij)          the selected loss
    hinge_sum  Σ_i s_i Σ_{j≠y_i} ℓ_true(m_ij)     hinge for the hinge family, else = loss_sum
    a_sum      Σ_i s_i Σ_{j≠y_i} ℓ'(m_ij)         feeds the dual value
    a2_sum     Σ_i s_i Σ_{j≠y_i} ℓ'(m_ij)²        the dual's quadratic term
"""

import numpy as np
from numba import njit

from ._threads import run_chunks

from ._losses import HINGE, SQUARED_HINGE

N_STATS = 4

# Reassociation lets LLVM vectorize the dot products; NaN/inf semantics are kept
# ("nnan"/"ninf" are not set), and inputs are validated for finiteness beforehand.
_FASTMATH = {"reassoc", "contract", "nsz", "arcp"}


@njit(cache=True, inline="always")
def _margin_derivatives(z, t, s, loss_code, margin, mu, a, stats):
    """Fill ``a`` (length k) with s·ℓ'(m_j) (and the label entry with minus their
    sum) for one row with scores ``z`` and label ``t``; add the row's sums to
    ``stats``. Returns True when any entry of ``a`` is nonzero."""
    k = z.shape[0]
    zt = z[t]
    loss = 0.0
    hinge = 0.0
    dsum = 0.0
    d2sum = 0.0
    for j in range(k):
        if j == t:
            a[j] = 0.0
            continue
        m = margin + z[j] - zt
        if m <= 0.0:
            a[j] = 0.0
            continue
        if loss_code == HINGE:
            loss += m
            hinge += m
            dl = 1.0
        elif loss_code == SQUARED_HINGE:
            loss += m * m
            hinge += m * m
            dl = 2.0 * m
        else:
            hinge += m
            if m < mu:
                loss += 0.5 * m * m / mu
                dl = m / mu
            else:
                loss += m - 0.5 * mu
                dl = 1.0
        dsum += dl
        d2sum += dl * dl
        a[j] = s * dl
    a[t] = -s * dsum
    stats[0] += s * loss
    stats[1] += s * hinge
    stats[2] += s * dsum
    stats[3] += s * d2sum
    return dsum != 0.0


@njit(cache=True, inline="always")
def _csr_row_scores(data, indices, indptr, i, coef_t, intercept, z):
    """Scores z = coef x_i + intercept of CSR row i (``coef_t`` is (d, k))."""
    k = coef_t.shape[1]
    for j in range(k):
        z[j] = intercept[j]
    for p in range(indptr[i], indptr[i + 1]):
        f = indices[p]
        v = data[p]
        for j in range(k):
            z[j] += v * coef_t[f, j]


@njit(cache=True, inline="always")
def _csr_row_scatter(data, indices, indptr, i, a, grad_coef_t, grad_intercept):
    """Add a x_iᵀ (transposed, (d, k)) and a to the gradient sums."""
    k = a.shape[0]
    for p in range(indptr[i], indptr[i + 1]):
        f = indices[p]
        v = data[p]
        for j in range(k):
            grad_coef_t[f, j] += a[j] * v
    for j in range(k):
        grad_intercept[j] += a[j]


@njit(cache=True, fastmath=_FASTMATH)
def _csr_block_coefficients(data, indices, indptr, y, sample_weight, lo, hi, coef_t,
                            intercept, loss_code, margin, mu, coeffs, active, stats):
    """First pass over rows lo:hi: the loss derivatives of row lo + r into
    ``coeffs[r]``, and whether any is nonzero into ``active[r]``."""
    k = coef_t.shape[1]
    z = np.empty(k)
    for i in range(lo, hi):
        r = i - lo
        s = sample_weight[i]
        active[r] = False
        if s == 0.0:
            continue
        _csr_row_scores(data, indices, indptr, i, coef_t, intercept, z)
        active[r] = _margin_derivatives(z, y[i], s, loss_code, margin, mu,
                                        coeffs[r], stats)


@njit(cache=True, fastmath=_FASTMATH)
def _csr_block_scatter(data, indices, indptr, lo, hi, coeffs, active, grad_coef_t,
                       grad_intercept):
    """Second pass over rows lo:hi: their gradient contributions."""
    for i in range(lo, hi):
        r = i - lo
        if active[r]:
            _csr_row_scatter(data, indices, indptr, i, coeffs[r], grad_coef_t,
                             grad_intercept)


# Rows per BLAS block: small enough that a block of X stays in cache between the
# two products that read it (X_blk @ Wᵀ, then A_blkᵀ @ X_blk).
DENSE_BLOCK_ROWS = 64


@njit(cache=True, nogil=True)
def dense_chunk_loss_grad(X, y, sample_weight, coef_t, intercept, loss_code, margin,
                          mu, lo, hi, stats, grad, grad_intercept):
    """Add the sums of rows ``lo:hi`` of dense ``X`` to ``stats`` (4,), ``grad``
    (k, d) and ``grad_intercept`` (k,), blocked.

    Each block of ``DENSE_BLOCK_ROWS`` rows is read from memory once: its scores
    come from one BLAS product, its gradient contribution from a second one while
    the block is still in cache (skipped when all its loss derivatives vanish).
    Products run in the dtype of X (float32 X is never upcast); sums accumulate in
    float64. ``coef_t`` is coefᵀ (d, k) in the dtype of X. Releases the GIL.
    """
    d, k = coef_t.shape
    block = DENSE_BLOCK_ROWS
    scores = np.empty((block, k), dtype=X.dtype)
    coeffs = np.zeros((block, k), dtype=X.dtype)
    grad_block = np.empty((k, d), dtype=X.dtype)
    z = np.empty(k)
    a = np.empty(k)
    for start in range(lo, hi, block):
        stop = min(start + block, hi)
        m = stop - start
        X_block = X[start:stop]
        block_scores = scores[:m]
        np.dot(X_block, coef_t, block_scores)
        any_nonzero = False
        for r in range(m):
            i = start + r
            coeffs[r, :] = 0.0
            s = sample_weight[i]
            if s == 0.0:
                continue
            for j in range(k):
                z[j] = block_scores[r, j] + intercept[j]
            if _margin_derivatives(z, y[i], s, loss_code, margin, mu, a, stats):
                any_nonzero = True
                for j in range(k):
                    coeffs[r, j] = a[j]
                    grad_intercept[j] += a[j]
        if any_nonzero:
            np.dot(coeffs[:m].T, X_block, grad_block)
            grad += grad_block


def dense_loss_grad(X, y, sample_weight, coef, intercept, loss_code, margin, mu,
                    n_chunks, n_threads=None):
    """Sums over all rows of dense ``X``: ``(stats, grad_coef, grad_intercept)``.

    The rows are split into ``n_chunks`` contiguous chunks, each with its own
    accumulators, run on up to ``n_threads`` threads (default ``n_chunks``) and
    reduced in chunk order: results are bit-identical for a fixed ``n_chunks``.
    """
    k, d = coef.shape
    coef_t = np.ascontiguousarray(coef.T, dtype=X.dtype)
    parts = [(np.zeros(N_STATS), np.zeros((k, d)), np.zeros(k))
             for _ in range(n_chunks)]
    bounds = chunk_bounds(X.shape[0], n_chunks)

    def run(c):
        dense_chunk_loss_grad(X, y, sample_weight, coef_t, intercept, loss_code,
                              margin, mu, bounds[c], bounds[c + 1], *parts[c])

    run_chunks(run, n_chunks, n_threads)
    return reduce_parts(parts)


# The CSR kernel's two passes work on blocks of rows whose coefficient buffers take
# at most this fraction of the bytes of X (and at least CSR_MIN_BLOCK_ROWS rows).
CSR_BUFFER_FRACTION = 0.25
CSR_MIN_BLOCK_ROWS = 4096


def csr_block_rows(data, indices, n_classes, n_chunks):
    """Rows per block of :func:`csr_loss_grad` for a CSR matrix with these arrays."""
    x_bytes = data.nbytes + indices.nbytes
    return max(CSR_MIN_BLOCK_ROWS,
               int(CSR_BUFFER_FRACTION * x_bytes) // (8 * n_classes * n_chunks))


@njit(cache=True, nogil=True)
def csr_chunk_loss_grad(data, indices, indptr, y, sample_weight, coef_t, intercept,
                        loss_code, margin, mu, lo, hi, block, stats, grad_t,
                        grad_intercept):
    """CSR counterpart of :func:`dense_chunk_loss_grad`; ``grad_t`` is (d, k).

    Each block of ``block`` rows (see :func:`csr_block_rows`) is read twice: once
    to gather its scores and store its loss derivatives, once to scatter them into
    the gradient. Reading X twice is cheap next to the random reads of coef
    (gather) and writes of the gradient (scatter), and separate passes keep only
    one of those two (d, k) arrays in cache at a time (measurements in
    benchmarks/results/architecture_notes.md). The summation order, and so the
    result, is that of a single pass. Releases the GIL.
    """
    k = coef_t.shape[1]
    rows = max(min(block, hi - lo), 0)
    coeffs = np.empty((rows, k))
    active = np.empty(rows, dtype=np.bool_)
    for start in range(lo, hi, block):
        stop = min(start + block, hi)
        _csr_block_coefficients(data, indices, indptr, y, sample_weight, start, stop,
                                coef_t, intercept, loss_code, margin, mu, coeffs,
                                active, stats)
        _csr_block_scatter(data, indices, indptr, start, stop, coeffs, active,
                           grad_t, grad_intercept)


def csr_loss_grad(data, indices, indptr, y, sample_weight, coef_t, intercept,
                  loss_code, margin, mu, n_chunks, block, n_threads=None):
    """CSR counterpart of :func:`dense_loss_grad`, with ``coef_t`` (d, k); the
    gradient sum is (d, k)."""
    d, k = coef_t.shape
    parts = [(np.zeros(N_STATS), np.zeros((d, k)), np.zeros(k))
             for _ in range(n_chunks)]
    bounds = chunk_bounds(indptr.shape[0] - 1, n_chunks)

    def run(c):
        csr_chunk_loss_grad(data, indices, indptr, y, sample_weight, coef_t,
                            intercept, loss_code, margin, mu, bounds[c],
                            bounds[c + 1], block, *parts[c])

    run_chunks(run, n_chunks, n_threads)
    return reduce_parts(parts)


def chunk_bounds(n, n_chunks):
    """Row bounds of ``n_chunks`` contiguous chunks of ``n`` rows."""
    return [c * n // n_chunks for c in range(n_chunks + 1)]


def reduce_parts(parts):
    """The sums of per-chunk ``(stats, grad, grad_intercept)``, in chunk order."""
    stats, grad, grad_intercept = (np.array(part, copy=True) for part in parts[0])
    for part_stats, part_grad, part_intercept in parts[1:]:
        stats += part_stats
        grad += part_grad
        grad_intercept += part_intercept
    return stats, grad, grad_intercept


def loss_grad_kernel(sparse):
    """The chunk kernel of one loss-and-gradient evaluation on CSR or dense data
    (for the first-compile notice)."""
    return csr_chunk_loss_grad if sparse else dense_chunk_loss_grad
