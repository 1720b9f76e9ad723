"""Numba kernels of the dual block coordinate ascent solver (``solver="dual_cd"``).

Notation as in MATH.md. The dual variables are stored as ``alpha`` of shape (n, k),
``alpha[i, j]`` = α_ij for j ≠ y_i and ``alpha[i, y_i] = 0``. The solver keeps

    W = W(α) = (1/C) Σ_i Σ_{j≠y_i} α_ij x_i (e_{y_i} − e_j)ᵀ

up to date after every block update, in the (k, d) layout for dense X and in the
transposed (d, k) layout for CSR X (so that the k weights of one feature are
contiguous). With an intercept (see :mod:`sksvm._solvers.dual_cd`) the epochs
work on the implicitly centered data x_i − μ and also keep ``offsets`` = (B, V μ, ρ(α)):
the intercept B = center + λ ρ(α) of the centered problem, and the two vectors
that give the centered scores from the raw V = W(α) in O(k) (:func:`_add_offsets`).
Without one, μ = 0, λ = 0 and B = 0.

The block problem of sample i (label t, bound c = s_i/S, q = ‖x_i − μ‖²/C + λ) in the
new values β_j = α_ij + Δ_j is

    maximize  Σ_j g_j β_j − (q/2) (Σ_j β_j)² − (1/2) Σ_j d β_j²
    subject to 0 ≤ β_j ≤ c                         (hinge: d = q)
               0 ≤ β_j                             (squared hinge: d = q + 1/(2c))

with g_j = δ + z_j − z_t + q (α_ij + Σ_l α_il) (z the current scores: g is the margin
with sample i's own contribution removed). Its KKT conditions give
β_j = clip((g_j − q s)/d, 0, c) with s = Σ_j β_j, a scalar equation whose left side
minus right side is increasing and piecewise linear in s. Only the g_j > 0 can be
nonzero; sorted in decreasing order, the sets {β_j = c} and {β_j > 0} are prefixes
of that order, so walking the breakpoints from the top finds s exactly in
O(k log k) (Wang & Scott, ICML 2021, derive the same sorting solution).

X may be float32 or float64 (it is read, never copied); everything computed is
float64.
"""

import numpy as np
from numba import njit

from ._losses import HINGE, SQUARED_HINGE

# Reassociation lets LLVM vectorize the dot products; NaN/inf semantics are kept
# (inputs are validated for finiteness beforehand).
_FASTMATH = {"reassoc", "contract", "nsz", "arcp"}

# Small blocks are sorted by insertion, larger ones by heapsort.
_INSERTION_SORT_MAX = 24


@njit(cache=True, inline="always")
def _sort_descending(buf, m):
    if m <= _INSERTION_SORT_MAX:
        for a in range(1, m):
            v = buf[a]
            b = a - 1
            while b >= 0 and buf[b] < v:
                buf[b + 1] = buf[b]
                b -= 1
            buf[b + 1] = v
        return
    # Heapsort in place with a min-heap: O(m log m), no allocation, and a small
    # fraction of np.sort's compile time.
    for start in range(m // 2 - 1, -1, -1):
        _sift_down_min(buf, start, m)
    for end in range(m - 1, 0, -1):
        v = buf[0]
        buf[0] = buf[end]
        buf[end] = v
        _sift_down_min(buf, 0, end)


@njit(cache=True, inline="always")
def _sift_down_min(buf, root, size):
    """Restore the min-heap property of buf[:size] below ``root``."""
    while True:
        child = 2 * root + 1
        if child >= size:
            return
        if child + 1 < size and buf[child + 1] < buf[child]:
            child += 1
        if buf[root] <= buf[child]:
            return
        v = buf[root]
        buf[root] = buf[child]
        buf[child] = v
        root = child


@njit(cache=True, inline="always")
def _try_structure(g, t, q, diagonal, c, bounded, hint, beta):
    """Solve the block assuming the sets {β_j = c} and {0 < β_j < c} of ``hint``
    (the current α_i); returns False, leaving ``beta`` undefined, when the
    resulting point violates the KKT conditions."""
    k = g.shape[0]
    n_upper = 0
    n_free = 0
    sum_free = 0.0
    for j in range(k):
        if j == t:
            continue
        h = hint[j]
        if h <= 0.0:
            continue
        if bounded and h >= c:
            n_upper += 1
        else:
            n_free += 1
            sum_free += g[j]
    upper_shift = c * diagonal if bounded else 0.0
    t_star = q * (sum_free + n_upper * upper_shift) / (diagonal + q * n_free)
    if t_star < 0.0:
        return False
    for j in range(k):
        if j == t:
            beta[j] = 0.0
            continue
        v = g[j] - t_star
        h = hint[j]
        if h <= 0.0:
            if v > 0.0:
                return False
            beta[j] = 0.0
        elif bounded and h >= c:
            if v < upper_shift:
                return False
            beta[j] = c
        else:
            if v < 0.0 or (bounded and v > upper_shift):
                return False
            x = v / diagonal
            beta[j] = min(x, c) if bounded else x
    return True


@njit(cache=True)
def solve_block(g, t, q, diagonal, c, bounded, sorted_g, beta, hint):
    """Exact solution ``beta`` of the block problem (module docstring).

    ``g`` (k,) linear terms (``g[t]`` ignored); ``q`` ≥ 0 coupling; ``diagonal`` ≥ 0
    diagonal; ``c`` upper bound (used when ``bounded``); ``sorted_g`` (k,) scratch;
    ``beta`` (k,) output, ``beta[t] = 0``; ``hint`` (k,) a guess of the solution
    (the current α_i): when its sets of variables at the bound and strictly
    inside give a point satisfying the KKT conditions, that point is the
    solution and no sorting is needed.
    """
    k = g.shape[0]
    if q > 0.0 and diagonal > 0.0 and _try_structure(g, t, q, diagonal, c, bounded, hint,
                                               beta):
        return
    m = 0
    for j in range(k):
        beta[j] = 0.0
        if j != t and g[j] > 0.0:
            sorted_g[m] = g[j]
            m += 1
    if m == 0:
        return
    if q == 0.0:
        # No coupling (x_i = 0 and no intercept): separable problems.
        for j in range(k):
            if j != t and g[j] > 0.0:
                if diagonal == 0.0:
                    beta[j] = c
                else:
                    v = g[j] / diagonal
                    beta[j] = min(v, c) if bounded else v
        return
    _sort_descending(sorted_g, m)
    upper_shift = c * diagonal if bounded else 0.0
    n_free_entered = 0   # indices [0, n_free_entered) have entered the free set
    n_upper = 0          # indices [0, n_upper) sit at the upper bound
    sum_free = 0.0       # Σ g over the free indices [n_upper, n_free_entered)
    while True:
        # Next breakpoint below (in t = q·s): a g entering the free set, or a free
        # g reaching its upper bound (at t = g − c·d).
        nxt = -np.inf
        entering = True
        if n_free_entered < m:
            nxt = sorted_g[n_free_entered]
        if bounded and n_upper < n_free_entered:
            u = sorted_g[n_upper] - upper_shift
            if u > nxt:
                nxt = u
                entering = False
        n_free = n_free_entered - n_upper
        numerator = q * (sum_free + n_upper * upper_shift)
        denominator = diagonal + q * n_free
        # The root lies in this interval when the linear piece's root is ≥ nxt.
        if nxt <= 0.0 or numerator >= nxt * denominator:
            break
        if entering:
            sum_free += sorted_g[n_free_entered]
            n_free_entered += 1
        else:
            sum_free -= sorted_g[n_upper]
            n_upper += 1
    t_star = numerator / denominator
    for j in range(k):
        if j != t:
            v = (g[j] - t_star) / diagonal
            if v > 0.0:
                beta[j] = min(v, c) if bounded else v


@njit(cache=True, inline="always")
def _block_kkt(alpha_i, z, t, c, bounded, inv2c, margin, eps):
    """Largest KKT violation of sample i's block at the current scores ``z`` (the
    dual gradient wrt α_ij is the margin m_ij, minus α_ij/(2c) for the squared
    hinge), whether the block can be shrunk (every variable at a bound with its
    gradient beyond ``eps`` on the right side), and Σ_j α_ij."""
    k = z.shape[0]
    zt = z[t]
    viol = 0.0
    shrinkable = True
    asum = 0.0
    for j in range(k):
        if j == t:
            continue
        a = alpha_i[j]
        asum += a
        G = margin + z[j] - zt - a * inv2c
        if a <= 0.0:
            if G > viol:
                viol = G
            if G >= -eps:
                shrinkable = False
        elif bounded and a >= c:
            if -G > viol:
                viol = -G
            if G <= eps:
                shrinkable = False
        else:
            if abs(G) > viol:
                viol = abs(G)
            shrinkable = False
    return viol, shrinkable, asum


@njit(cache=True, inline="always")
def _block_update(alpha_i, z, t, c, q, bounded, inv2c, margin, asum, g, sorted_g, beta,
                  delta):
    """Solve sample i's block, write the new α into ``alpha_i`` and the changes into
    ``delta`` (``delta[t]`` = their sum). Returns the number of changed entries."""
    k = z.shape[0]
    zt = z[t]
    for j in range(k):
        if j != t:
            g[j] = margin + z[j] - zt + q * (alpha_i[j] + asum)
    diagonal = q + inv2c if not bounded else q
    solve_block(g, t, q, diagonal, c, bounded, sorted_g, beta, alpha_i)
    total = 0.0
    changed = 0
    for j in range(k):
        if j == t:
            delta[j] = 0.0
            continue
        dj = beta[j] - alpha_i[j]
        delta[j] = dj
        if dj != 0.0:
            alpha_i[j] = beta[j]
            total += dj
            changed += 1
    delta[t] = total
    return changed


@njit(cache=True, inline="always")
def _add_offsets(z, offsets, C, row_dot_center_i, center_sq):
    """Add to the raw scores ``z`` (= V x_i) the intercept and centering terms.

    ``offsets`` rows: 0 = B, 1 = r = V μ, 2 = ρ(α). With μ the centering vector, the
    weights of the centered problem are W̃ = V − μ ρᵀ/C, so
    W̃ (x_i − μ) = V x_i − r − (ρ/C)(x_i·μ − ‖μ‖²).
    """
    k = z.shape[0]
    shift = (row_dot_center_i - center_sq) / C
    for j in range(k):
        z[j] += offsets[0, j] - offsets[1, j] - offsets[2, j] * shift


@njit(cache=True, inline="always")
def _update_offsets(delta, t, offsets, C, prox_weight, row_dot_center_i):
    """Update B, r and ρ for the block change ``delta`` (``delta[t]`` = Σ Δ)."""
    k = delta.shape[0]
    for j in range(k):
        dj = delta[j]
        if dj == 0.0:
            continue
        if j != t:
            dj = -dj
        offsets[0, j] += prox_weight * dj
        offsets[1, j] += dj / C * row_dot_center_i
        offsets[2, j] += dj


@njit(cache=True, fastmath=_FASTMATH, inline="always")
def _row_scores(W, xi, z):
    """z = W x_i (k scores)."""
    k, d = W.shape
    zero = W[0, 0] - W[0, 0]   # in W's precision (float32 weights: float32 sums)
    for j in range(k):
        acc = zero
        wj = W[j]
        for f in range(d):
            acc += wj[f] * xi[f]
        z[j] = acc


@njit(cache=True, fastmath=_FASTMATH, inline="always")
def _pair_scores(W, xa, xb, za, zb):
    """za = W x_a, zb = W x_b and the returned x_a·x_b, in passes that read each
    class's weights once for both rows (two classes per pass): the epoch's scores
    are bound by loads, and one pass over W serves two rows."""
    k, d = W.shape
    zero = W[0, 0] - W[0, 0]   # in W's precision (float32 weights: float32 sums)
    cross = 0.0
    j = 0
    while j + 2 <= k:
        w0 = W[j]
        w1 = W[j + 1]
        a0 = zero
        a1 = zero
        b0 = zero
        b1 = zero
        ab = zero   # x_a·x_b, kept from the first pass (no extra loads)
        for f in range(d):
            u = xa[f] + zero   # in W's precision, as the sums
            v = xb[f] + zero
            a0 += w0[f] * u
            a1 += w1[f] * u
            b0 += w0[f] * v
            b1 += w1[f] * v
            ab += u * v
        za[j] = a0
        za[j + 1] = a1
        zb[j] = b0
        zb[j + 1] = b1
        if j == 0:
            cross = ab
        j += 2
    if j < k:
        w0 = W[j]
        a0 = zero
        b0 = zero
        ab = zero
        for f in range(d):
            u = xa[f] + zero   # in W's precision, as the sums
            v = xb[f] + zero
            a0 += w0[f] * u
            b0 += w0[f] * v
            ab += u * v
        za[j] = a0
        zb[j] = b0
        if j == 0:
            cross = ab
    return cross


@njit(cache=True, fastmath=_FASTMATH, inline="always")
def _update_coefficients(delta, t, C, coef):
    """coef_j = (e_t − e_j)ᵀ Δ / C: the change of W's row j is coef_j x_i."""
    k = delta.shape[0]
    for j in range(k):
        coef[j] = delta[j] / C if j == t else -delta[j] / C


@njit(cache=True, fastmath=_FASTMATH, inline="always")
def _row_update(W, xi, coef):
    """W[j] += coef_j x_i over the nonzero coef_j; returns the entries of x_i read."""
    k, d = W.shape
    work = 0
    for j in range(k):
        a = coef[j]
        if a == 0.0:
            continue
        wj = W[j]
        for f in range(d):
            wj[f] += a * xi[f]
        work += d
    return work


@njit(cache=True, fastmath=_FASTMATH, inline="always")
def _pair_update(W, xa, coef_a, xb, coef_b):
    """W[j] += coef_a[j] x_a + coef_b[j] x_b, one pass over a class's weights for
    both rows; returns the entries of X read."""
    k, d = W.shape
    work = 0
    for j in range(k):
        a = coef_a[j]
        b = coef_b[j]
        wj = W[j]
        if a != 0.0 and b != 0.0:
            for f in range(d):
                wj[f] += a * xa[f] + b * xb[f]
            work += 2 * d
        elif a != 0.0:
            for f in range(d):
                wj[f] += a * xa[f]
            work += d
        elif b != 0.0:
            for f in range(d):
                wj[f] += b * xb[f]
            work += d
    return work


@njit(cache=True)
def _scores_of_rows(X, rounded, ia, ib, W, za, zb):
    """Raw scores of rows ``ia`` and ``ib`` (``ib`` < 0: ``ia`` alone) and their
    dot product. Both rows are read from the float32 copy ``rounded`` when it
    holds ``ia`` (and then ``ib``), from X otherwise."""
    if ia < rounded.shape[0]:
        if ib < 0:
            _row_scores(W, rounded[ia], za)
            return 0.0
        return _pair_scores(W, rounded[ia], rounded[ib], za, zb)
    if ib < 0:
        _row_scores(W, X[ia], za)
        return 0.0
    return _pair_scores(W, X[ia], X[ib], za, zb)


@njit(cache=True)
def _update_rows(X, rounded, ia, coef_a, ib, coef_b, W):
    """W += coef_a x_aᵀ (+ coef_b x_bᵀ when ``ib`` ≥ 0), rows read as in
    :func:`_scores_of_rows`; returns the entries read."""
    if ia < rounded.shape[0]:
        if ib < 0:
            return _row_update(W, rounded[ia], coef_a)
        return _pair_update(W, rounded[ia], coef_a, rounded[ib], coef_b)
    if ib < 0:
        return _row_update(W, X[ia], coef_a)
    return _pair_update(W, X[ia], coef_a, X[ib], coef_b)


@njit(cache=True, fastmath=_FASTMATH, inline="always")
def _visit_block(i, z, y, bound, curvature, row_dot_center, center_sq, offsets, alpha,
                 prox_weight, C, margin, bounded, shrink, eps, g, sorted_g, beta, delta):
    """Visit sample i's block at the raw scores ``z`` (= V x_i, completed here with
    the offsets): its KKT violation, and the block step, which updates α_i and the
    offsets and leaves the changes in ``delta``. Returns ``(status, violation)``,
    status −1 when the block is shrunk, 1 when α_i changed, 0 otherwise."""
    t = y[i]
    c = bound[i]
    inv2c = 0.0 if bounded else 0.5 / c
    _add_offsets(z, offsets, C, row_dot_center[i], center_sq)
    viol, shrinkable, asum = _block_kkt(alpha[i], z, t, c, bounded, inv2c, margin, eps)
    if shrink and shrinkable:
        return -1, viol
    if viol <= 0.0:
        return 0, viol
    if _block_update(alpha[i], z, t, c, curvature[i], bounded, inv2c, margin, asum, g,
                     sorted_g, beta, delta) == 0:
        return 0, viol
    _update_offsets(delta, t, offsets, C, prox_weight, row_dot_center[i])
    return 1, viol


@njit(cache=True, fastmath=_FASTMATH)
def dense_epoch(X, rounded, y, bound, curvature, row_dot_center, center_sq, order,
                n_active, W, offsets, alpha, prox_weight, C, margin, loss_code, shrink,
                eps):
    """One pass of block coordinate ascent over ``order[:n_active]`` (dense X).

    Rows i below ``rounded.shape[0]`` are read from ``rounded`` (a float32 copy of
    X's first rows, half the memory traffic), the others from X.

    The samples are visited two at a time (two rows read from the same array): one
    pass over W gives both rows' scores and x_a·x_b, the second row's scores are corrected for the first row's step
    (W changes by coef_a x_aᵀ, so W x_b by coef_a (x_a·x_b)), and both steps are
    added to W in one pass. The result is the sequential ascent's, in half the
    passes over W.

    ``W`` holds V = Σ α x_i (e_t − e_j)ᵀ / C (the raw, uncentered W(α)); ``offsets``
    holds (B, V μ, ρ(α)) (see :func:`_add_offsets`); ``row_dot_center`` = X μ. Without an
    intercept, μ = 0 and λ = 0. The blocks that satisfy the shrinking test
    (threshold ``eps``) are moved to the end of the active part of ``order`` when
    ``shrink``. Returns ``(n_active, max_violation, work)``, ``work`` counting the
    entries of X read.
    """
    k, d = W.shape
    n_rounded = rounded.shape[0]
    bounded = loss_code == HINGE
    za = np.empty(k)
    zb = np.empty(k)
    g = np.empty(k)
    sorted_g = np.empty(k)
    beta = np.empty(k)
    delta = np.empty(k)
    coef_a = np.empty(k, dtype=W.dtype)
    coef_b = np.empty(k, dtype=W.dtype)
    shrunk = np.empty(n_active if shrink else 0, dtype=np.int64)
    n_shrunk = 0
    n_kept = 0
    max_viol = 0.0
    work = 0
    r = 0
    while r < n_active:
        ia = order[r]
        ib = -1
        if r + 1 < n_active:
            ib = order[r + 1]
            if (ia < n_rounded) != (ib < n_rounded):
                ib = -1   # one from the copy, one from X: ia alone
        r += 1 if ib < 0 else 2
        cross = _scores_of_rows(X, rounded, ia, ib, W, za, zb)
        status_a = 0
        status_b = 0
        for slot in range(1 if ib < 0 else 2):
            if slot == 0:
                i, z, coef = ia, za, coef_a
            else:
                i, z, coef = ib, zb, coef_b
                if status_a > 0:
                    for j in range(k):
                        zb[j] += coef_a[j] * cross
            work += d
            status, viol = _visit_block(i, z, y, bound, curvature, row_dot_center,
                                        center_sq, offsets, alpha, prox_weight, C,
                                        margin, bounded, shrink, eps, g, sorted_g, beta,
                                        delta)
            if status < 0:
                shrunk[n_shrunk] = i
                n_shrunk += 1
                continue
            order[n_kept] = i
            n_kept += 1
            if viol > max_viol:
                max_viol = viol
            if status > 0:
                _update_coefficients(delta, y[i], C, coef)
            if slot == 0:
                status_a = status
            else:
                status_b = status
        if status_a > 0 or status_b > 0:
            if status_a <= 0:   # ib alone: into the first slot
                ia, ib = ib, -1
                coef_a, coef_b = coef_b, coef_a
            elif status_b <= 0:
                ib = -1
            work += _update_rows(X, rounded, ia, coef_a, ib, coef_b, W)
    for s in range(n_shrunk):
        order[n_kept + s] = shrunk[s]
    return n_kept, max_viol, work


@njit(cache=True, fastmath=_FASTMATH)
def csr_epoch(data, indices, indptr, y, bound, curvature, row_dot_center, center_sq,
              order, n_active, Wt, offsets, alpha, prox_weight, C, margin, loss_code,
              shrink, eps):
    """CSR counterpart of :func:`dense_epoch`; ``Wt`` is V transposed, (d, k)."""
    k = Wt.shape[1]
    bounded = loss_code == HINGE
    z = np.empty(k)
    g = np.empty(k)
    sorted_g = np.empty(k)
    beta = np.empty(k)
    delta = np.empty(k)
    coef = np.empty(k)
    changed_idx = np.empty(k, dtype=np.int64)
    max_viol = 0.0
    work = 0
    r = 0
    while r < n_active:
        i = order[r]
        t = y[i]
        c = bound[i]
        inv2c = 0.0 if bounded else 0.5 / c
        start = indptr[i]
        end = indptr[i + 1]
        for j in range(k):
            z[j] = 0.0
        for p in range(start, end):
            v = data[p]
            wf = Wt[indices[p]]
            for j in range(k):
                z[j] += v * wf[j]
        _add_offsets(z, offsets, C, row_dot_center[i], center_sq)
        work += end - start
        viol, shrinkable, asum = _block_kkt(alpha[i], z, t, c, bounded, inv2c,
                                            margin, eps)
        if shrink and shrinkable:
            n_active -= 1
            order[r] = order[n_active]
            order[n_active] = i
            continue
        r += 1
        if viol > max_viol:
            max_viol = viol
        if viol <= 0.0:
            continue
        if _block_update(alpha[i], z, t, c, curvature[i], bounded, inv2c, margin, asum, g,
                         sorted_g, beta, delta) == 0:
            continue
        n_changed = 0
        for j in range(k):
            dj = delta[j]
            if dj != 0.0:
                changed_idx[n_changed] = j
                coef[n_changed] = dj / C if j == t else -dj / C
                n_changed += 1
        for p in range(start, end):
            v = data[p]
            wf = Wt[indices[p]]
            for a in range(n_changed):
                wf[changed_idx[a]] += coef[a] * v
        work += end - start
        _update_offsets(delta, t, offsets, C, prox_weight, row_dot_center[i])
    return n_active, max_viol, work


@njit(cache=True)
def chunked_order(active, chunk_size, chunk_rank, uniform, out):
    """A visiting order of the sorted sample indices ``active`` that keeps memory
    access local: consecutive runs of ``chunk_size`` entries (chunks) are visited
    in the order of ``chunk_rank`` (a permutation of the chunks), each chunk
    shuffled (Fisher–Yates, with the uniform draws ``uniform``). Writes into
    ``out``."""
    m = active.shape[0]
    n_chunks = chunk_rank.shape[0]
    pos = 0
    for c in range(n_chunks):
        lo = chunk_rank[c] * chunk_size
        hi = min(lo + chunk_size, m)
        start = pos
        for r in range(lo, hi):
            out[pos] = active[r]
            pos += 1
        for r in range(pos - 1, start, -1):
            j = start + int(uniform[r] * (r - start + 1))
            if j > r:  # u < 1, but u·m can round up to m
                j = r
            tmp = out[r]
            out[r] = out[j]
            out[j] = tmp


@njit(cache=True)
def dense_row_dots(X, v):
    """X v for dense X of any float dtype (no copy of X), float64."""
    n, d = X.shape
    out = np.empty(n)
    for i in range(n):
        acc = 0.0
        for f in range(d):
            acc += X[i, f] * v[f]
        out[i] = acc
    return out


@njit(cache=True)
def csr_row_dots(data, indices, indptr, v):
    """X v for CSR X, float64."""
    n = indptr.shape[0] - 1
    out = np.empty(n)
    for i in range(n):
        acc = 0.0
        for p in range(indptr[i], indptr[i + 1]):
            acc += data[p] * v[indices[p]]
        out[i] = acc
    return out


@njit(cache=True)
def dense_weighted_mean(X, w):
    """Σ_i w_i x_i / Σ_i w_i, float64."""
    n, d = X.shape
    out = np.zeros(d)
    total = 0.0
    for i in range(n):
        wi = w[i]
        if wi == 0.0:
            continue
        total += wi
        for f in range(d):
            out[f] += wi * X[i, f]
    return out / total


@njit(cache=True)
def csr_weighted_mean(data, indices, indptr, w, d):
    """CSR counterpart of :func:`dense_weighted_mean`."""
    n = indptr.shape[0] - 1
    out = np.zeros(d)
    total = 0.0
    for i in range(n):
        wi = w[i]
        if wi == 0.0:
            continue
        total += wi
        for p in range(indptr[i], indptr[i + 1]):
            out[indices[p]] += wi * data[p]
    return out / total


@njit(cache=True, inline="always")
def _row_gap_terms(z, t, alpha_i, s, c, bounded, squared, margin, eps):
    """Loss (times s), Σα, conjugate term and shrinkability of one row."""
    k = z.shape[0]
    zt = z[t]
    loss = 0.0
    asum = 0.0
    conj = 0.0
    inv2c = 0.0 if bounded else 0.5 / c
    shrinkable = True
    for j in range(k):
        if j == t:
            continue
        m = margin + z[j] - zt
        if m > 0.0:
            loss += m * m if squared else m
        a = alpha_i[j]
        asum += a
        if squared:
            conj += a * a * inv2c * 0.5
        G = m - a * inv2c
        if a <= 0.0:
            if G >= -eps:
                shrinkable = False
        elif bounded and a >= c:
            if G <= eps:
                shrinkable = False
        else:
            shrinkable = False
    return s * loss, asum, conj, shrinkable


@njit(cache=True, nogil=True, fastmath=_FASTMATH)
def dense_gap_rows(X, y, sample_weight, bound, alpha, W, B, margin, loss_code, eps,
                   lo, hi, shrinkable):
    """Rows ``lo:hi`` of a full pass at the current (W, B): returns
    ``(Σ_i s_i Σ_j ℓ(m_ij), Σ α, Σ α²/(4c) (squared hinge))`` and fills
    ``shrinkable[lo:hi]`` with the shrinking test at threshold ``eps`` (True for
    zero-weight rows)."""
    k = W.shape[0]
    bounded = loss_code == HINGE
    squared = loss_code == SQUARED_HINGE
    z = np.empty(k)
    loss_sum = 0.0
    alpha_sum = 0.0
    conj_sum = 0.0
    for i in range(lo, hi):
        s = sample_weight[i]
        if s == 0.0:
            shrinkable[i] = True
            continue
        _row_scores(W, X[i], z)
        for j in range(k):
            z[j] += B[j]
        loss, asum, conj, shr = _row_gap_terms(z, y[i], alpha[i], s, bound[i],
                                               bounded, squared, margin, eps)
        loss_sum += loss
        alpha_sum += asum
        conj_sum += conj
        shrinkable[i] = shr
    return loss_sum, alpha_sum, conj_sum


@njit(cache=True, nogil=True, fastmath=_FASTMATH)
def csr_gap_rows(data, indices, indptr, y, sample_weight, bound, alpha, Wt, B, margin,
                 loss_code, eps, lo, hi, shrinkable):
    """CSR counterpart of :func:`dense_gap_rows` (``Wt`` is (d, k))."""
    k = Wt.shape[1]
    bounded = loss_code == HINGE
    squared = loss_code == SQUARED_HINGE
    z = np.empty(k)
    loss_sum = 0.0
    alpha_sum = 0.0
    conj_sum = 0.0
    for i in range(lo, hi):
        s = sample_weight[i]
        if s == 0.0:
            shrinkable[i] = True
            continue
        for j in range(k):
            z[j] = B[j]
        for p in range(indptr[i], indptr[i + 1]):
            v = data[p]
            wf = Wt[indices[p]]
            for j in range(k):
                z[j] += v * wf[j]
        loss, asum, conj, shr = _row_gap_terms(z, y[i], alpha[i], s, bound[i],
                                               bounded, squared, margin, eps)
        loss_sum += loss
        alpha_sum += asum
        conj_sum += conj
        shrinkable[i] = shr
    return loss_sum, alpha_sum, conj_sum


def dense_center(X, w):
    """The weighted mean μ = Σ_i w_i x_i / Σ_i w_i and X μ, float64: BLAS products
    for float64 X (nothing to compile), kernels for float32 X (no float64 copy)."""
    if X.dtype != np.float64:
        center = dense_weighted_mean(X, w)
        return center, dense_row_dots(X, center)
    center = (w @ X) / w.sum()
    return center, X @ center


@njit(cache=True, nogil=True)
def dense_rebuild(X, y, alpha, C, W):
    """W = W(α) from scratch, (k, d) layout, overwriting ``W``."""
    W[:] = 0.0
    dense_add_dual_coef(X, y, alpha, C, W)


@njit(cache=True, nogil=True)
def dense_add_dual_coef(X, y, alpha, C, W):
    """W += W(α), (k, d) layout. W(α) is linear in α: with α a change of the dual
    point (any signs) this updates the weights, reading only the rows where it is
    nonzero."""
    n = X.shape[0]
    k, d = W.shape
    for i in range(n):
        t = y[i]
        xi = X[i]
        total = 0.0
        for j in range(k):
            a = alpha[i, j]
            if j == t or a == 0.0:
                continue
            total += a
            wj = W[j]
            s = a / C
            for f in range(d):
                wj[f] -= s * xi[f]
        if total != 0.0:
            wt = W[t]
            s = total / C
            for f in range(d):
                wt[f] += s * xi[f]


@njit(cache=True)
def csr_rebuild(data, indices, indptr, y, alpha, C, Wt):
    """W = W(α) from scratch, transposed (d, k) layout, overwriting ``Wt``."""
    Wt[:] = 0.0
    csr_add_dual_coef(data, indices, indptr, y, alpha, C, Wt)


@njit(cache=True)
def csr_add_dual_coef(data, indices, indptr, y, alpha, C, Wt):
    """Wt += W(α)ᵀ, transposed (d, k) layout; the rows where α is zero are not
    read (:func:`dense_add_dual_coef`)."""
    n = indptr.shape[0] - 1
    k = Wt.shape[1]
    a_row = np.empty(k)
    for i in range(n):
        t = y[i]
        total = 0.0
        nonzero = False
        for j in range(k):
            a = alpha[i, j]
            if j == t:
                a_row[j] = 0.0
                continue
            a_row[j] = -a / C
            total += a
            if a != 0.0:
                nonzero = True
        if not nonzero:
            continue
        a_row[t] = total / C
        for p in range(indptr[i], indptr[i + 1]):
            v = data[p]
            wf = Wt[indices[p]]
            for j in range(k):
                wf[j] += a_row[j] * v


@njit(cache=True)
def path_flow(F, excess, tiny):
    """A flow P with 0 ≤ P ≤ F, made of paths from the nodes of positive ``excess``
    to those of negative ``excess``, whose net outflow Σ_j P_tj − Σ_j P_jt equals
    ``excess`` (up to ``tiny``).

    ``F`` (k, k) is the class-to-class flow of the dual variables,
    F_tj = Σ_{i: y_i = t} α_ij, and ``excess`` its net outflow ρ (which sums to
    0). By the flow decomposition theorem, F minus the paths of such a P is a
    circulation. Paths are found by breadth-first search (fewest edges first) in
    the residual F − P; each augmentation empties a node's excess or an edge.
    """
    k = F.shape[0]
    R = F.copy()
    e = excess.copy()
    P = np.zeros((k, k))
    parent = np.empty(k, dtype=np.int64)
    queue = np.empty(k, dtype=np.int64)
    for _ in range(k * k + 2 * k + 1):
        src = -1
        best = tiny
        for v in range(k):
            if e[v] > best:
                best = e[v]
                src = v
        if src < 0:
            break
        for v in range(k):
            parent[v] = -2
        parent[src] = -1
        head = 0
        tail = 1
        queue[0] = src
        sink = -1
        while head < tail and sink < 0:
            u = queue[head]
            head += 1
            for v in range(k):
                if parent[v] == -2 and R[u, v] > 0.0:
                    parent[v] = u
                    if e[v] < -tiny:
                        sink = v
                        break
                    queue[tail] = v
                    tail += 1
        if sink < 0:
            break  # only possible through rounding: the rest is below tiny
        amount = min(e[src], -e[sink])
        v = sink
        while parent[v] >= 0:
            u = parent[v]
            if R[u, v] < amount:
                amount = R[u, v]
            v = u
        v = sink
        while parent[v] >= 0:
            u = parent[v]
            R[u, v] -= amount
            P[u, v] += amount
            v = u
        e[src] -= amount
        e[sink] += amount
    return P


def compiled_kernels(sparse):
    """The kernels a dual_cd run calls on dense or CSR data (for the compile notice)."""
    if sparse:
        return (csr_epoch, csr_gap_rows, csr_rebuild, csr_row_dots, csr_weighted_mean,
                path_flow)
    return (dense_epoch, dense_gap_rows, path_flow)
