"""Numba kernels of the Newton steps (``sksvm._solvers.newton``): one pass over
the (n, k) pair arrays where NumPy would make several, each with a temporary.

Notation of MATH.md ("Second-order methods"): the margins ``m`` (n, k) hold
m_ij = δ + z_ij − z_iy_i, with a very negative value on the label entries
(j = y_i), which therefore have zero loss, derivative and curvature. ``bound``
(n,) holds c_i = s_i/S. For the hinge the loss derivative is the augmented
Lagrangian's g = clip(σ·m + u, 0, c_i) (multipliers ``u``, penalty ``sigma``);
for the squared hinge g = 2·c_i·max(m, 0), and ``u`` and ``sigma`` are unused.
"""

import numpy as np
from numba import njit


@njit(cache=True, inline="always")
def _derivative(m, u, sigma, c, hinge):
    if hinge:
        g = sigma * m + u
        if g <= 0.0:
            return 0.0
        return c if g > c else g
    return 2.0 * c * m if m > 0.0 else 0.0


@njit(cache=True, nogil=True)
def pair_terms(m, u, sigma, bound, hinge, g):
    """The loss derivatives g(m) into ``g`` (zero label entries); returns the
    true loss Σ_i c_i Σ_j ℓ(m_ij)."""
    n, k = m.shape
    loss = 0.0
    for i in range(n):
        c = bound[i]
        row_loss = 0.0
        for j in range(k):
            mij = m[i, j]
            g[i, j] = _derivative(mij, u[i, j] if hinge else 0.0, sigma, c, hinge)
            if mij > 0.0:
                row_loss += mij if hinge else mij * mij
        loss += c * row_loss
    return loss


@njit(cache=True, nogil=True)
def pair_slope(m, dm, t, u, sigma, bound, hinge):
    """Σ_p g_p(m_p + t·dm_p)·dm_p: the loss part of the line search's slope."""
    n, k = m.shape
    total = 0.0
    for i in range(n):
        c = bound[i]
        row = 0.0
        for j in range(k):
            step = dm[i, j]
            if step != 0.0:
                row += _derivative(m[i, j] + t * step, u[i, j] if hinge else 0.0,
                                   sigma, c, hinge) * step
        total += row
    return total


@njit(cache=True, nogil=True)
def pair_curvatures(m, u, sigma, bound, hinge, out):
    """The curvatures h(m) into ``out``: σ where σ·m + u lies strictly inside
    (0, c_i) (hinge), 2·c_i where m > 0 (squared hinge), else 0; returns the
    number of curved pairs."""
    n, k = m.shape
    count = 0
    for i in range(n):
        c = bound[i]
        for j in range(k):
            if hinge:
                v = sigma * m[i, j] + u[i, j]
                h = sigma if 0.0 < v < c else 0.0
            else:
                h = 2.0 * c if m[i, j] > 0.0 else 0.0
            out[i, j] = h
            if h != 0.0:
                count += 1
    return count


@njit(cache=True, nogil=True)
def woodbury_system(gram, local, cols, labels, diagonal, out):
    """The Woodbury matrix K = (gram of the pairs' rows) ∘ P Pᵀ + diag(diagonal)
    into ``out`` (pairs × pairs), where pair p sits on row ``local[p]`` of
    ``gram``, has class ``cols[p]`` and label ``labels[p]``, and
    (P Pᵀ)[p, q] = (e_{cols[p]} − e_{labels[p]})·(e_{cols[q]} − e_{labels[q]}).
    One pass, no (pairs × pairs) temporaries."""
    n_pairs = local.size
    for p in range(n_pairs):
        row = gram[local[p]]
        col_p, label_p = cols[p], labels[p]
        for q in range(n_pairs):
            col_q, label_q = cols[q], labels[q]
            pattern = ((col_p == col_q) - (col_p == label_q) - (label_p == col_q)
                       + (label_p == label_q))
            out[p, q] = row[local[q]] * pattern if pattern != 0 else 0.0
        out[p, p] += diagonal[p]


@njit(cache=True, nogil=True)
def copy_shared_entries(source, source_index, target, target_index):
    """target[target_index[a], target_index[b]] = source[source_index[a],
    source_index[b]] for all a, b, without the |index|² temporary that NumPy's
    fancy indexing makes (a Gram of 5000 rows: 200 MB)."""
    size = source_index.shape[0]
    for a in range(size):
        source_row = source[source_index[a]]
        target_row = target[target_index[a]]
        for b in range(size):
            target_row[target_index[b]] = source_row[source_index[b]]


# Rows whose products are summed in X's precision before they are added to the
# float64 result (float32: a relative rounding of about 1e-6 at most).
_FLUSH_ROWS = 1024


@njit(cache=True, nogil=True, fastmath={"reassoc", "contract", "nsz", "arcp"})
def curved_rows_product(X, V, offsets, y, h, start, stop, out, column_sums):
    """out += Σ_i a_i x_iᵀ and column_sums += Σ_i a_i over the rows ``start`` to
    ``stop`` of ``X``, with a_i = Σ_j h_ij (s_ij − s_iy_i)(e_j − e_{y_i}) and
    scores s_ij = x_i·V_j + offsets_j: the loss part of one Hessian product,
    A_Dᵀ diag(h) A_D V, in one pass over each row (the offsets and the column
    sums carry an intercept's centering when X is not centered).

    Only the scores of a row's curved classes and of its label are computed, and
    only their rows of ``out`` are updated (with the squared hinge a row has one
    or two curved pairs near the optimum, not k); rows without curvature are
    skipped. ``X`` and ``V`` share a precision (float32 for speed), in which the
    products are summed (reassociated for vector instructions) over blocks of
    ``_FLUSH_ROWS`` rows before they are added to ``out`` (float64). Inputs are
    finite (fastmath)."""
    k, width = V.shape
    zero = V[0, 0] - V[0, 0]  # in V's precision
    s = np.empty(k)
    a = np.empty(k)
    coefficients = np.empty(k, dtype=V.dtype)  # a in V's precision
    block = np.zeros((k, width), dtype=V.dtype)
    for first in range(start, stop, _FLUSH_ROWS):
        for i in range(first, min(first + _FLUSH_ROWS, stop)):
            yi = y[i]
            curved = False
            for j in range(k):
                if h[i, j] != 0.0:
                    curved = True
                    break
            if not curved:
                continue
            x = X[i]
            for j in range(k):
                if h[i, j] != 0.0 or j == yi:
                    acc = zero
                    vj = V[j]
                    for f in range(width):
                        acc += vj[f] * x[f]
                    s[j] = acc + offsets[j]
            total = 0.0
            for j in range(k):
                a[j] = h[i, j] * (s[j] - s[yi]) if h[i, j] != 0.0 else 0.0
                total += a[j]
            a[yi] = -total
            for j in range(k):
                column_sums[j] += a[j]
            for j in range(k):
                coefficients[j] = a[j]
            for j in range(k):
                if a[j] != 0.0:
                    aj = coefficients[j]
                    bj = block[j]
                    for f in range(width):
                        bj[f] += aj * x[f]
        for j in range(k):
            for f in range(width):
                out[j, f] += block[j, f]
                block[j, f] = zero


@njit(cache=True, nogil=True, fastmath={"reassoc", "contract", "nsz", "arcp"})
def cholesky_solve(upper, rhs, out):
    """out = (Uᵀ U)⁻¹ rhs for the upper triangle U of ``upper`` (C-contiguous; the
    entries below its diagonal are not read), in float64 whatever U's precision.
    Both triangular solves run along U's contiguous rows, four rows at a time
    (each pass over ``out`` serves four rows: 0.32 ms against 0.48 ms a row at a
    time for a float32 U of width 785): Uᵀ y = rhs by rows of U as updates,
    U x = y by rows of U as dot products."""
    n = upper.shape[0]
    for i in range(n):
        out[i] = rhs[i]
    j = 0
    while j + 4 <= n:
        r0, r1, r2, r3 = upper[j], upper[j + 1], upper[j + 2], upper[j + 3]
        v0 = out[j] / r0[j]
        v1 = (out[j + 1] - v0 * r0[j + 1]) / r1[j + 1]
        v2 = (out[j + 2] - v0 * r0[j + 2] - v1 * r1[j + 2]) / r2[j + 2]
        v3 = (out[j + 3] - v0 * r0[j + 3] - v1 * r1[j + 3] - v2 * r2[j + 3]) / r3[j + 3]
        out[j], out[j + 1], out[j + 2], out[j + 3] = v0, v1, v2, v3
        for i in range(j + 4, n):
            out[i] -= v0 * r0[i] + v1 * r1[i] + v2 * r2[i] + v3 * r3[i]
        j += 4
    for j in range(j, n):
        row = upper[j]
        value = out[j] / row[j]
        out[j] = value
        for i in range(j + 1, n):
            out[i] -= value * row[i]
    # U x = y from the bottom: the last n % 4 rows one at a time, then four.
    i = n - 1
    while i >= 0 and (i + 1) % 4 != 0:
        row = upper[i]
        total = out[i]
        for j in range(i + 1, n):
            total -= row[j] * out[j]
        out[i] = total / row[i]
        i -= 1
    while i >= 3:
        r0, r1, r2, r3 = upper[i - 3], upper[i - 2], upper[i - 1], upper[i]
        t0 = t1 = t2 = t3 = 0.0
        for j in range(i + 1, n):
            x = out[j]
            t0 += r0[j] * x
            t1 += r1[j] * x
            t2 += r2[j] * x
            t3 += r3[j] * x
        x3 = (out[i] - t3) / r3[i]
        x2 = (out[i - 1] - t2 - r2[i] * x3) / r2[i - 1]
        x1 = (out[i - 2] - t1 - r1[i - 1] * x2 - r1[i] * x3) / r1[i - 2]
        x0 = (out[i - 3] - t0 - r0[i - 2] * x1 - r0[i - 1] * x2 - r0[i] * x3) / r0[i - 3]
        out[i - 3], out[i - 2], out[i - 1], out[i] = x0, x1, x2, x3
        i -= 4
