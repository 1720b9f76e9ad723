"""Semismooth Newton methods (``solver="newton"``).

Notation of MATH.md ("Second-order methods"): pairs p = (i, j ≠ y_i) with bound
c_p = s_i/S and margin m_p = δ + a_p(θ).

Parametrization. With an intercept the solver works on the implicitly centered,
augmented rows x̂_i = (x_i − μ, r) (μ the weighted mean row, r the root mean square
norm of the centered rows), with θ = [W, β] and scores x̂_i·θ_j, so that
b = r·β − W μ. The unpenalized β gets a proximal term (C/2)‖β − β_c‖²: in these
coordinates every column of θ is regularized alike, C·I, which is what makes one
preconditioner fit W and β together. Without an intercept x̂_i = x_i and θ = W.

Losses.

- Squared hinge: Newton on J itself (plus the proximal term on β, recentered at
  every step, a Levenberg–Marquardt damping of the intercept). Generalized Hessian
  C·I + Σ_p 2 c_p [m_p > 0] a_p a_pᵀ.
- Hinge: the augmented Lagrangian of the split z = m. For multipliers u in the dual
  box and penalty σ, the inner problem φ(θ) = (C/2)‖θ − center‖² + Σ_p ψ_p(m_p) is
  smooth, with ψ_p'(m) = g_p = clip(σ m + u_p, 0, c_p) and curvature σ on the pairs
  with 0 < σ m_p + u_p < c_p. The outer step sets u ← g(θ) and grows σ.

Both are minimized by Newton steps: the direction from preconditioned conjugate
gradients on C·I + Σ_p h_p a_p a_pᵀ (matrix-free, over the rows with curvature),
then a line search on the derivative of φ along the direction (φ' is monotone and
piecewise linear in the step, so the search needs no function differences, which
lose all precision near the optimum).

Preconditioner. With D the curved pairs (h_p > 0), the system matrix is
C·I + A_Dᵀ diag(h_D) A_D. While |D| ≤ ``MAX_FACTOR_PAIRS`` (or
``MAX_FACTOR_PAIRS_WITH_BLOCKS`` where the class blocks below apply) it is
inverted exactly in Woodbury form, through the Cholesky factor (``factor_dtype``, double precision by
default) of the |D| × |D| matrix
C·diag(1/h_D) + A_D A_Dᵀ (the Gram of the curved rows times the class pattern of
the pairs); the factor is kept as the preconditioner of the following steps, whose
curved sets differ from it by a few pairs, until a solve needs more than
``REFACTOR_CG_ITER`` iterations; when it costs less than forming the whole
Hessian (few curved pairs), it is rebuilt whenever the curvatures change instead.
Above that size, with at most ``MAX_DENSE_HESSIAN`` parameters, the whole Hessian
is formed (over a sample of the curved rows when they are many). Otherwise, with
A_Dᵀ diag(h_D) A_D = Σ_i M_i ⊗ x̂_i x̂_iᵀ (per-row k × k matrices
M_i = Σ_j h_ij (e_j − e_{y_i})(e_j − e_{y_i})ᵀ), the preconditioner is its
class-diagonal blocks Σ_i (M_i)_ss x̂_i x̂_iᵀ, one Cholesky factor per class, on
the class-sum-zero directions (the Hessian is C·I on the class-constant ones),
kept across steps and updated by the rows whose curvatures changed. Where those
blocks would be too large (many features), one Kronecker product M̄ ⊗ Ḡ stands
in (M̄ the ‖x̂_i‖²-weighted sum of the M_i, Ḡ the tr(M_i)-weighted mean of
x̂_i x̂_iᵀ over a sample of rows, or its diagonal), inverted through the
eigendecompositions of M̄ (k × k) and Ḡ (d × d): a weak preconditioner
(benchmarks/results/newton_notes.md), so the solver is meant to start where few
pairs are curved there, e.g. from a dual coordinate ascent point (``dual0``).

Hessian products over many curved rows run in float32 on a kept float32 copy of
those rows, one pass per row reading only its curved classes
(:func:`sksvm._newton_kernels.curved_rows_product`).

Certificate. Every iterate gives a dual point α = g(θ) (the loss derivatives
times c_p; for the hinge inside the box by construction). Without an intercept it
is feasible and J(W) − D(α) bounds the suboptimality. With one, α must satisfy
Aᵀ1 = 0: the class-to-class flows F[t, j] = Σ_{y_i = t} α_ij are scaled by factors
in [0, 1] that remove the source-to-sink paths of a flow decomposition (what
remains is conserved at every class), which keeps α in its box; W(α̃) follows
from the per-class-pair sums Σ_{y_i = t} α_ij x_i, one extra pass, made only once
the gap at the fixed intercept is within ``tol``. The solver keeps the lowest J and the
highest certified lower bound seen, and stops once (J − D)/J ≤ tol.
"""

import time

import numpy as np
import scipy.linalg
import scipy.sparse as sp

from .. import _certificate, _dual_kernels, _kernels, _newton_kernels
from .._objective import largest_useful_C
from .._threads import chunk_count, run_chunks
from .._losses import get_loss
from ._base import SolverResult, Start, announce_compile
from . import dual_cd
from .dual_cd import DualCDState, data_fingerprint

REQUIRES = ("rows_in_memory",)

# Rows per block when X is processed in pieces (float32 or CSR input).
CHUNK_ROWS = 8192
# The rows with curvature are copied out for the Hessian products when they are
# at most this fraction of all rows; otherwise the products run over all of X.
GATHER_FRACTION = 0.25
# Hessian products over at least this many entries of curved rows run in one
# numba pass per row (:func:`sksvm._newton_kernels.curved_rows_product`): on a
# float32 copy of those rows while they are at most SINGLE_GATHER_FRACTION of all
# rows (the hinge's kink zone), on X itself otherwise (the squared hinge's curved
# half of the rows: no copy, peak memory), in X's precision. A CG solve to a
# relative residual of 0.01 or so does not need float64 products.
SINGLE_PRODUCTS_MIN_ENTRIES = 1e6
SINGLE_GATHER_FRACTION = 0.3
# Rows gathered at a time into a copy (the temporary in X's own precision).
GATHER_CHUNK_ROWS = 1024
# The float32 copy has room for this many times the curved rows it was made for.
GATHER_SLACK = 1.25
# Rows sampled to estimate the d × d factor of the preconditioner.
GRAM_SAMPLE_ROWS = 4000
# Above this many columns the d × d factor is replaced by its diagonal.
DENSE_GRAM_MAX_WIDTH = 3000
# The d × d factor is re-estimated once the number of rows with curvature has
# changed by this factor since the last estimate.
GRAM_REFRESH_RATIO = 1.5
CG_MAX_ITER = 250
# Relative residual of a CG solve, at most (and at most √gap); with the class
# blocks (``_ClassBlockPreconditioner.cg_rtol``) tighter, as their solves are
# cheap and a sharper direction saves Newton steps.
CG_RTOL = 0.1
# With an intercept the augmented rows end in r ≥ this × √C (see _Solver).
INTERCEPT_SCALE_PER_ROOT_C = 10.0
# Up to this many curved pairs the preconditioner is the exact Hessian of the step
# where it was built (Woodbury form, a Cholesky factorization of a pairs × pairs
# matrix); it is rebuilt once a solve with it needs more than REFACTOR_CG_ITER
# iterations. Where the class blocks (below) are the alternative, at most
# MAX_FACTOR_PAIRS_WITH_BLOCKS: measured on all of Fashion-MNIST (hinge, no
# intercept), 2000 pairs 32.6 s, peak 1.44 × X; 6000 pairs 42.6 s, 2.67 × X (the
# factor and its Gram cache; benchmarks/results/newton_notes.md).
MAX_FACTOR_PAIRS = 6000
MAX_FACTOR_PAIRS_WITH_BLOCKS = 2000
REFACTOR_CG_ITER = 20
# The hinge's whole Hessian (curvature σ on every curved pair) also serves the
# next steps, whose curved sets differ, while a solve with it needs at most this
# many CG iterations. Measured, the same Newton steps in less time: the
# small-problems suite 5.5–5.6 s against 7.3–7.5 s, the digits' path 3.2–3.6 s
# against 3.9–4.2 s. Not for the squared hinge (7.9–9.3 s against 7.5 s, a fit
# at max_iter with a threshold of 5; 12.9 s with 20).
STALE_HESSIAN_CG_ITER = 5
# Newton is cheap, and solver="auto" picks it for dense data, up to this many
# parameters k·(d+1) and this many samples times parameters (measured:
# benchmarks/results/newton_notes.md).
CHEAP_MAX_PARAMETERS = 2500
CHEAP_MAX_WORK = 5e7
# Active-set corrections of the exact finishing step (sksvm._certificate.finish).
# On the digits' cross-validated path (51 fits) every success came within two
# rounds; later rounds never succeeded and cost 2 s of the path's 6.5 s (least
# squares on singular partitions).
FINISH_ROUNDS = 2
# The whole Hessian, (k·width)², is formed and factored instead when that costs
# fewer multiply-adds than the Woodbury factor (or than some 25 conjugate gradient
# products, when the curved set is too large to factor), or at most the budget,
# and k·width is at most MAX_DENSE_HESSIAN.
MAX_DENSE_HESSIAN = 2000
MIN_DENSE_HESSIAN_BUDGET = 5e8
# Within that budget, the Woodbury factor is formed exactly at every step instead
# when its cost estimate is the smaller one, unless the curvature is so large
# against C that its subtraction would lose more than this factor of precision
# (hard-margin regime; measured: unscaled features at C = 1e-12 left CG at its cap).
MAX_WOODBURY_CURVATURE_RATIO = 1e8
# Where it is not, and the Woodbury factor is not either, but k·width is at most
# MAX_DENSE_HESSIAN, it is formed over at most max(HESSIAN_SAMPLE_ROWS,
# HESSIAN_SAMPLE_PER_PARAMETER · k·width) rows drawn from the curved ones, and
# kept over several steps.
HESSIAN_SAMPLE_ROWS = 4000
HESSIAN_SAMPLE_PER_PARAMETER = 8
# Above MAX_FACTOR_PAIRS_WITH_BLOCKS curved pairs (and above MAX_DENSE_HESSIAN
# parameters) the preconditioner is the class-diagonal blocks of the Hessian when
# they hold at most this fraction of X's entries; above MAX_FACTOR_PAIRS the
# Kronecker product otherwise. Measured on all of
# Fashion-MNIST (squared hinge, 58,000 curved pairs): 4–16 CG iterations a step
# against 29–230 (benchmarks/results/newton_notes.md).
CLASS_BLOCKS_MAX_FRACTION = 0.25
# Rows per block when they are added to the class blocks (a float32 copy of them
# and of each class's share: a few megabytes).
CLASS_BLOCK_CHUNK_ROWS = 2048
# Stands for the margin of the label entries (j = y_i), which are not pairs.
LABEL_MARGIN = -1e30
# Hinge ALM defaults: initial kink width in margin units (σ = mean c_p / width),
# growth of σ per outer step, and the relative inner tolerance
# ‖∇φ‖ ≤ INNER_KAPPA · ‖Aᵀ(g − u)‖.
SIGMA_WIDTH0 = 1.0
# ... and from start multipliers (a dual point: the start epochs', or a previous
# fit's): all of Fashion-MNIST, hinge, from the start epochs' point (gap 9.5e-3),
# tol=1e-3 7.0–8.0 s against 9.9–10.3 s with width 1 (both with σ doubling), and
# 7.9 s against 7.4 s (width 2) with an intercept; tol=1e-6 22.1–22.8 s against
# 24.7–25.0 s. The digits' path, warm from each previous C: 2.7 s either way.
START_SIGMA_WIDTH0 = 3.0
SIGMA_GROWTH = 5.0
SIGMA_MAX_WIDTH = 1e-8
# When no pair is in its kink zone (a cold start: at W = 0 every margin is δ, the
# zone's edge), the zone is widened to this many times the median violated
# margin, so that the first step is a least-squares step over the violated pairs.
# Measured (newton_notes.md, "Cold start"): 2 instead of 1 cut the default fit on
# 40000 × 100 blobs from 1.23 s to 0.88 s and on 20000 × 100 blobs with 20
# classes from 7.8 s to 2.1 s; tiny unscaled problems at C ≤ 1e-4 take more steps.
COLD_START_WIDTH = 2.0
# 0.5 rather than 0.2: the inner problems' last steps, with truncated CG
# directions, alternate full and short steps while the gap barely moves. All of
# Fashion-MNIST, tol=1e-6, from the start epochs' point: 49 steps against 58
# (18.1, 19.9 s against 19.6, 22.1 s; with an intercept 20.1 s against 22.2 s);
# the 60 small problems 3.4 s against 3.9 s. Near 1 the outer step comes after
# every inner step (the ratio starts near 1) and σ outgrows the multipliers: at
# 1.0 the gap stalled at 2.2e-3 for 90 steps.
INNER_KAPPA = 0.5
# The inner problem also counts as solved once its gradient is this small relative
# to the first one (when the multipliers already equal g, the test above cannot pass).
INNER_SOLVED = 1e-12
# Line search: accept a step once |φ'(t)| ≤ LINE_TOL · |φ'(0)|.
LINE_TOL = 0.1
LINE_MAX_STEPS = 30
# Above this many classes the intercept's certificate rebuilds W from the repaired
# multipliers instead of from the (k, k, d) class-pair sums Σ_{y_i = t} α_ij x_i.
MAX_REPAIR_CLASSES = 100
# A cold start outside ``is_cheap`` begins with epochs of dual coordinate ascent,
# handed over to the Newton steps at a certified gap of START_GAP or below unless
# they converge fast enough to reach tol themselves (dual_cd.HANDOVER_EPOCH_FRACTION:
# the 1,000,000 × 100 blobs, 11 epochs to tol, 4.0–4.9 s, against 4 epochs and 3
# Newton steps, 6.2–6.6 s), and at once where their gap stalls
# (dual_cd.HANDOVER_STALL_FACTOR); at most START_EPOCHS, and at most
# START_ENTRIES entries of X read in all (where the gap stalls, e.g. on
# unscaled data, 1000 epochs over a million rows would take minutes). The
# budget counts the entries the epochs read: since shrinking drops most rows
# from the late epochs (dual_cd.SHRINK_THRESHOLD_MAX), all of Fashion-MNIST
# certifies 1e-3 in 431 epochs that read 1.16e10 entries (356 and 1.01e10
# without an intercept), where a budget of 1e10 entries counted as whole passes
# (212 epochs) handed a slow tail to Newton steps: 14.4 s against 11.0 s.
START_EPOCHS = 1000
START_ENTRIES = 3e10
START_GAP = 1e-2
# Inside ``is_cheap`` a cold hinge fit begins with epochs too, at most
# CHEAP_START_EPOCHS and at most as many as make CHEAP_START_WORK multiply-adds
# (entries of X times classes) in all. On easy problems they reach tol
# themselves for a fraction of a Newton step's cost each; on unscaled ones
# their point starts the steps far better than W = 0. Measured
# (benchmarks/results/newton_notes.md, "Start epochs on small problems"): 600
# fits of the small-problems suite (5 seeds, both intercept settings) 28.3 s
# against 66.7 s and no fit at max_iter (3 before); the digits at 10 values of
# C, 0.47 s against 0.81 s; the 40000 × 100 and 20000 × 100 × 20 blobs (2
# epochs) unchanged. With a cap of 10 epochs, or of 5, some unscaled problems
# at C ≤ 1e-5 ended at max_iter.
CHEAP_START_EPOCHS = 20
CHEAP_START_WORK = 1e8
# Outside ``is_cheap``, at tol of at least EPOCHS_TO_TOL_FROM, the start epochs
# run to tol and hand over only where their gap stalls (``handover_gap`` = tol),
# so that the fit is ``"dual_cd"``'s wherever its epochs converge, and warm starts
# (a path's next value of C) run them from the start multipliers too. There the
# epochs' tail costs about what Newton steps from a gap of START_GAP do, and far
# less on medium problems: all of Fashion-MNIST with an intercept 23.0 s against
# 23.0–23.8 s; 16000 of its rows at C = 1, 1e-2, 1e-3: 0.59, 2.32, 15.2 s
# against 1.07, 3.55, 15.05 s (``"dual_cd"``: 0.57, 2.52, 13.8 s); the
# cross-validated path over 20000 rows 29.5 s against 114 s. Below it the epochs
# hand over at START_GAP: all of Fashion-MNIST to tol = 1e-6 in 28.5 s (handing
# over at 3e-3 or 1e-3 instead: 28.8–32.7 s; newton_notes.md).
EPOCHS_TO_TOL_FROM = 1e-3
# The squared hinge starts with at most this many L-BFGS iterations instead (a
# pass over X each; their certificate is too loose to stop them earlier).
# Measured (benchmarks/results/newton_notes.md): all of Fashion-MNIST, 60
# iterations and 7 Newton steps, 7.7 s against 18.2 s for L-BFGS alone (551
# iterations); 1,000,000 × 100 blobs, L-BFGS certifies in 13 iterations, 2.7 s
# against 5.2 s for cold Newton steps.
START_ITERATIONS = 60
# ... when C is below this fraction of the largest useful C: above, W = 0 is close
# to the optimum and the plain cold start is faster (16000 standardized
# Fashion-MNIST rows: 7 steps, 1.1–1.2 s, against 1.9–4.3 s with the epochs).
START_BELOW = 0.5


class _Design:
    """Products with X̂ (rows x̂_i = (x_i − μ, r) with an intercept, x_i without).

    ``X`` is dense (C-contiguous) or CSR, float32 or float64; pieces of float32
    or CSR input are converted to float64 one block of rows at a time.
    """

    def __init__(self, X, mu, r, fit_intercept, n_threads=1):
        self.X = X
        self.sparse = sp.issparse(X)
        self.n, self.d = X.shape
        self.mu = mu
        self.r = r
        self.fit_intercept = fit_intercept
        self.width = self.d + (1 if fit_intercept else 0)
        self.whole = (not self.sparse) and X.dtype == np.float64
        self.n_threads = n_threads

    def blocks(self, chunked=False, start=0, stop=None):
        """(start, stop, float64 block) over the rows ``start:stop`` (default
        all): one block for float64 dense X unless ``chunked``."""
        stop = self.n if stop is None else stop
        if self.whole and not chunked:
            yield start, stop, self.X[start:stop]
            return
        for lo in range(start, stop, CHUNK_ROWS):
            hi = min(lo + CHUNK_ROWS, stop)
            yield lo, hi, self.X[lo:hi].astype(np.float64, copy=False)

    def _row_ranges(self, n_columns):
        """Contiguous ranges of rows for a product with ``n_columns`` columns, one
        per chunk of up to ``n_threads`` threads (one range on one thread). The
        products are single-threaded BLAS calls (the fit limits BLAS to one
        thread): split over two threads, X θᵀ on all of Fashion-MNIST took 56 ms
        against 82 ms, Gᵀ X 28 ms against 56 ms."""
        entries = self.X.nnz if self.sparse else self.n * self.d
        n_chunks = min(chunk_count(self.n_threads, entries * n_columns),
                       max(1, self.n // CHUNK_ROWS))
        return _kernels.chunk_bounds(self.n, n_chunks)

    def times(self, theta):
        """X̂ θᵀ, shape (n, k)."""
        W = np.ascontiguousarray(theta[:, : self.d])
        out = np.empty((self.n, theta.shape[0]))
        bounds = self._row_ranges(theta.shape[0])

        def run(c):
            for start, stop, block in self.blocks(start=bounds[c], stop=bounds[c + 1]):
                if self.sparse:
                    out[start:stop] = block @ W.T
                else:  # straight into out: no (n, k) temporary
                    np.matmul(block, W.T, out=out[start:stop])

        run_chunks(run, len(bounds) - 1, self.n_threads)
        if self.fit_intercept:
            out += self.r * theta[:, self.d] - W @ self.mu
        return out

    def _accumulate(self, G, labels=None):
        """(Gᵀ X, the column sums of G) over the blocks of rows, X uncentered and
        without the constant column; with ``labels``, of the matrix A of the pair
        values G (zero label entries): A_ij = G_ij, A_{i,labels_i} = −Σ_j G_ij,
        built one block of rows at a time, never whole. The sums only with an
        intercept or ``labels`` (else None). Each range of rows has its own
        sums, added in order: the result depends on the number of ranges only."""
        k = G.shape[1]
        bounds = self._row_ranges(k)
        n_chunks = len(bounds) - 1
        acc = np.zeros((n_chunks, k, self.d))
        summed = self.fit_intercept or labels is not None
        column_sums = np.zeros((n_chunks, k))

        def run(c):
            for start, stop, block in self.blocks(chunked=labels is not None,
                                                  start=bounds[c], stop=bounds[c + 1]):
                part = G[start:stop]
                if labels is not None:
                    part = _certificate.pair_coefficients(part, labels[start:stop])
                acc[c] += (block.T @ part).T if self.sparse else part.T @ block
                if summed:
                    column_sums[c] += part.sum(axis=0)

        run_chunks(run, n_chunks, self.n_threads)
        return acc.sum(axis=0), column_sums.sum(axis=0) if summed else None

    def _centered(self, acc, column_sums):
        """Gᵀ X̂ from :meth:`_accumulate`'s parts."""
        if not self.fit_intercept:
            return acc
        out = np.empty((acc.shape[0], self.width))
        out[:, : self.d] = acc - np.outer(column_sums, self.mu)
        out[:, self.d] = self.r * column_sums
        return out

    def transpose_times(self, G):
        """Gᵀ X̂, shape (k, width)."""
        return self._centered(*self._accumulate(G))

    def pair_transpose_times(self, values, labels):
        """AᵀX̂ (k, width) and the column sums of A (k,) for the matrix A of the
        pair ``values`` (zero label entries; MATH.md): A_ij = values_ij,
        A_{i,labels_i} = −Σ_j values_ij, never formed whole."""
        acc, column_sums = self._accumulate(values, labels)
        return self._centered(acc, column_sums), column_sums

    def raw_transpose_times(self, G):
        """Gᵀ X (uncentered, without the constant column), shape (k, d)."""
        return self._accumulate(G)[0]

    def subset(self, rows):
        """The same operator over ``rows`` only (a float64 copy of those rows)."""
        X = self.X[rows]
        X = X.astype(np.float64) if self.sparse else np.ascontiguousarray(
            X, dtype=np.float64)
        return _Design(X, self.mu, self.r, self.fit_intercept, self.n_threads)

    def dense_rows(self, rows, dtype=np.float64, out=None):
        """The rows x̂_i of ``rows`` as a dense (len(rows), width) array (written
        into ``out`` when given), gathered a block of rows at a time: no copy of
        them all in X's own precision."""
        if out is None:
            out = np.empty((rows.size, self.width), dtype=dtype)
        for start in range(0, rows.size, GATHER_CHUNK_ROWS):
            stop = min(start + GATHER_CHUNK_ROWS, rows.size)
            X = self.X[rows[start:stop]]
            X = X.toarray() if sp.issparse(X) else X
            if self.fit_intercept:
                np.subtract(X, self.mu, out=out[start:stop, : self.d],
                            casting="unsafe")
                out[start:stop, self.d] = self.r
            else:
                out[start:stop] = X
        return out

    def squared_norms(self):
        """‖x̂_i‖², shape (n,)."""
        out = np.empty(self.n)
        for start, stop, block in self.blocks():
            if self.sparse:
                sq = np.asarray(block.multiply(block).sum(axis=1)).ravel()
                dots = block @ self.mu if self.fit_intercept else 0.0
            else:
                sq = np.einsum("ij,ij->i", block, block)
                dots = block @ self.mu if self.fit_intercept else 0.0
            out[start:stop] = sq
            if self.fit_intercept:
                out[start:stop] += -2.0 * dots + self.mu @ self.mu + self.r ** 2
        return out

    def gram(self, rows, weights, dense):
        """Σ w_i x̂_i x̂_iᵀ / Σ w_i over ``rows`` (its diagonal when not ``dense``)."""
        weights = weights / weights.sum()
        if not dense:
            X = self.X[rows]
            X = X.astype(np.float64) if self.sparse else np.asarray(X, dtype=np.float64)
            if self.sparse:
                sq = np.asarray(X.multiply(X).T @ weights).ravel()
                first = np.asarray(X.T @ weights).ravel()
            else:
                sq = weights @ (X * X)
                first = weights @ X
            if not self.fit_intercept:
                return sq
            diag = sq - 2.0 * self.mu * first + self.mu ** 2
            return np.append(diag, self.r ** 2)
        scaled = self.dense_rows(rows) * np.sqrt(weights)[:, None]
        return scaled.T @ scaled


class _PairFunction:
    """ψ_p, its derivative g_p and curvature h_p as functions of the margins,
    each in one pass of :mod:`sksvm._newton_kernels`."""

    def __init__(self, loss, bound):
        self.loss = get_loss(loss)
        self.hinge = loss == "hinge"
        self.bound = bound
        self.u = None
        self.sigma = 0.0

    def _multipliers(self, m):
        # The squared hinge has none; the kernels then never read this argument.
        return self.u if self.hinge else m

    def terms(self, m):
        """g(m) and the true loss Σ_p c_p ℓ(m_p), in one pass."""
        g = np.empty_like(m)
        loss = _newton_kernels.pair_terms(m, self._multipliers(m), self.sigma,
                                          self.bound, self.hinge, g)
        return g, loss

    def slope(self, m, dm, t):
        """Σ_p g_p(m_p + t·dm_p)·dm_p."""
        return _newton_kernels.pair_slope(m, dm, t, self._multipliers(m), self.sigma,
                                          self.bound, self.hinge)

    def curvature(self, m, out=None):
        """h(m) (into ``out`` when given) and the number of curved pairs."""
        if out is None:
            out = np.empty_like(m)
        count = _newton_kernels.pair_curvatures(m, self._multipliers(m), self.sigma,
                                                self.bound, self.hinge, out)
        return out, count

    def conjugate(self, alpha):
        """Σ_p c_p ℓ*(α_p / c_p) (zero for the hinge inside its box)."""
        return self.loss.conjugate_sum(alpha, self.bound)


def _pair_differences_in_place(Z, y, rows):
    """z_ij − z_iy_i from the scores ``Z`` (rows ``rows``, labels ``y``),
    overwriting them; zero on the label entries."""
    Z -= Z[rows, y][:, None]
    Z[rows, y] = 0.0
    return Z


def _margins_in_place(Z, y, rows, margin):
    """The pair margins δ + z_ij − z_iy_i from the scores ``Z``, overwriting them
    (the label entries become ``LABEL_MARGIN``: never curved, zero loss)."""
    m = _pair_differences_in_place(Z, y, rows)
    m += margin
    m[rows, y] = LABEL_MARGIN
    return m


class _KroneckerPreconditioner:
    """(C·I + M̄ ⊗ Ḡ)⁻¹ through the eigendecompositions of M̄ and Ḡ."""

    def __init__(self, C, class_matrix, gram_eig):
        self.C = C
        lam, self.Q = np.linalg.eigh(class_matrix)
        gamma, self.U = gram_eig
        self.denominator = C + np.outer(np.maximum(lam, 0.0), np.maximum(gamma, 0.0))

    def __call__(self, V):
        if self.U is None:
            return self.Q @ ((self.Q.T @ V) / self.denominator)
        return self.Q @ (((self.Q.T @ V) @ self.U) / self.denominator) @ self.U.T


class _ClassBlockPreconditioner:
    """(C·I + B)⁻¹ for B the class-diagonal blocks of A_Dᵀ diag(h_D) A_D: block s
    is Σ_i w_is x̂_i x̂_iᵀ with w_is = h_is for s ≠ y_i and Σ_j h_ij for s = y_i (the
    pair (i, j) adds h_ij x̂_i x̂_iᵀ to blocks j and y_i, and −h_ij to the two
    off-diagonal blocks, which this preconditioner leaves out).

    Unlike the Kronecker product it keeps each class's own Gram of its curved
    rows. It is kept by the solver across steps and updated by the rows whose
    weights changed (:meth:`update`): between Newton steps near the optimum a few
    thousand rows change, so an update costs a fraction of a build. The products
    and sums run in float32 (a preconditioner), and so do the factors where
    float32 keeps the shifted blocks positive definite; the solves read them in a
    numba kernel with float64 sums. Measured on all of Fashion-MNIST (scripts, runs
    alternated, the same steps and gaps), float32 factors against float64 (both
    solved by ``cho_solve`` then): squared hinge 8.56, 8.30 s against 10.14, 8.90
    s (with an intercept 7.87, 7.41 s against 9.00, 8.14 s); hinge at tol=1e-4
    18.66, 18.81 s against 20.04, 19.64 s; at tol=1e-6 27.5, 28.6 s against 30.4,
    31.1 s. The kernel and the threads: the tol=1e-6 fit's 58 Newton steps in 13.1
    s against 21.6 s (newton_notes.md, "The tail's steps on two threads")."""

    # Measured on all of Fashion-MNIST (squared hinge, no intercept): 7 Newton
    # steps of 11–22 CG iterations at 0.01, against 10 of 3–14 at 0.1, 1.3 s less.
    cg_rtol = 0.01
    # Late in a hinge fit to a small tol (σ large, C·I negligible beside the
    # low-rank σ·A_Dᵀ A_D, which the blocks approximate badly) the solves ran to
    # CG_MAX_ITER; a truncated direction serves as well. All of Fashion-MNIST,
    # hinge, no intercept, tol=1e-6: 60.2 s at 20 (30: 66.0 s; 60: 85.1 s)
    # against 131.9 s at 250, tol=1e-3 unchanged (29.0–30.4 s). (The squared
    # hinge's solves take at most about 22 iterations: not truncated.)
    hinge_cg_max_iter = 20
    # With these truncated solves a larger σ costs more inexact steps than the
    # stage it saves: σ doubles at each outer step that follows a step on the
    # blocks (SIGMA_GROWTH elsewhere). All of Fashion-MNIST, hinge, from the
    # start epochs' point: tol=1e-3 in 19 steps, 7.0–8.0 s, against 38, 14.3 s
    # at × 5; tol=1e-6 22.1–22.8 s against 57.7 s (× 3: 29.7 s; × 1.5: 28.1 s).
    sigma_growth = 2.0

    def __init__(self, solver):
        k, width = solver.k, solver.design.width
        self.C = solver.C
        self.design = solver.design
        self.y = solver.y
        self.rows = solver.rows
        # float32 sums: a preconditioner, and the factors are made from a
        # shifted copy (_factor); rebuilt whenever more rows change than are curved
        self.blocks = np.zeros((k, width, width), dtype=np.float32)
        self.weights = np.zeros((solver.n, k))
        self.factors = None
        # The classes' blocks are independent: updated, factored and solved a
        # class per task, on up to n_threads threads where the work is large
        # enough (chunk_count gives 1 below its minimum).
        self.factor_threads = min(solver.n_threads,
                                  chunk_count(solver.n_threads, k * width ** 3))
        self.solve_threads = min(solver.n_threads,
                                 chunk_count(solver.n_threads, k * width ** 2))

    def update(self, h):
        """Blocks for the curvatures ``h``: only the changed rows are read, or all
        curved rows when more have changed than are curved."""
        weights = h.copy()
        weights[self.rows, self.y] = h.sum(axis=1)
        change = weights - self.weights
        changed = np.flatnonzero(change.any(axis=1))
        curved = np.flatnonzero(weights.any(axis=1))
        if changed.size > curved.size:  # start again: cheaper, and no drift
            self.blocks[:] = 0.0
            change, changed = weights, curved
        self.weights = weights
        k = self.blocks.shape[0]
        for start in range(0, changed.size, CLASS_BLOCK_CHUNK_ROWS):
            chunk = changed[start:start + CLASS_BLOCK_CHUNK_ROWS]
            X = self.design.dense_rows(chunk, np.float32)
            chunk_change = change[chunk]

            def add_rows(s):
                in_block = np.flatnonzero(chunk_change[:, s])
                if in_block.size:
                    part = X[in_block]
                    scaled = part * chunk_change[in_block, s, None].astype(np.float32)
                    self.blocks[s] += scaled.T @ part

            run_chunks(add_rows, k, self.factor_threads)
        self.factors = [None] * k  # their memory is needed for the new ones

        def factor(s):
            self.factors[s] = self._factor(self.blocks[s])

        run_chunks(factor, k, self.factor_threads)
        return self

    def _factor(self, block):
        """The Cholesky factor of C·I + ``block`` as an upper triangle Uᵀ U (the
        layout of :func:`sksvm._newton_kernels.cholesky_solve`), made in place of
        one shifted copy: in float32, or in float64 where float32 rounding leaves
        the shifted block not positive definite (C lost beside a singular block)."""
        def shifted(dtype):
            # The block is symmetric, so its transpose is the same matrix in
            # Fortran order: LAPACK factors the copy in place, without a copy of
            # its own, and the copy reads the block contiguously.
            out = block.T.astype(dtype)
            out[np.diag_indices_from(out)] += self.C
            return out

        try:
            lower, _ = scipy.linalg.cho_factor(shifted(np.float32), lower=True,
                                               overwrite_a=True, check_finite=False)
        except np.linalg.LinAlgError:  # float64, shifted further only if need be
            lower, _ = _cholesky_with_jitter(shifted(np.float64))
        return np.ascontiguousarray(lower.T)

    def __call__(self, V):
        # The Hessian is C·I on the class-constant directions (the same row added
        # to every class moves no margin) and maps the class-sum-zero directions
        # onto themselves: the blocks are used on the latter only.
        mean = V.mean(axis=0)
        centered = V - mean
        out = np.empty_like(V)

        def solve(s):
            _newton_kernels.cholesky_solve(self.factors[s], centered[s], out[s])

        run_chunks(solve, len(self.factors), self.solve_threads)
        out += mean / self.C - out.mean(axis=0)
        return out


class _GatheredRows:
    """A float32 copy of some rows of X̂, kept across Newton steps: rows that join
    the curved set are appended (the copy has room for ``GATHER_SLACK`` times the
    rows it was made for), rows that leave stay, with zero curvature, until the
    copy is made again (when it is full, or when more than that factor of its rows
    are no longer curved). Between steps a few hundred rows join, so a step
    copies those instead of all curved rows."""

    def __init__(self, n):
        self.position = np.full(n, -1, dtype=np.intp)
        self.rows = np.zeros(0, dtype=np.intp)
        self.X = None

    def cover(self, design, rows):
        """(X̂ of the kept rows, float32, and the kept rows, a superset of
        ``rows``); ``position`` maps a row to its index in them."""
        joining = rows[self.position[rows] < 0]
        count = self.rows.size + joining.size
        if (self.X is None or count > self.X.shape[0]
                or count > GATHER_SLACK * rows.size):
            self.position[self.rows] = -1
            self.X = None  # its memory is needed for the new copy
            self.X = np.empty((int(GATHER_SLACK * rows.size) + 1, design.width),
                              dtype=np.float32)
            self.rows = np.zeros(0, dtype=np.intp)
            joining, count = rows, rows.size
        design.dense_rows(joining, np.float32, out=self.X[self.rows.size:count])
        self.position[joining] = np.arange(self.rows.size, count)
        self.rows = np.concatenate([self.rows, joining])
        return self.X[:count], self.rows


class _Curvatures:
    """The curved pairs of ``h`` and their values, to tell whether a later step
    has the same curvatures without keeping a copy of the whole (n, k) array."""

    def __init__(self, h):
        self.pairs = np.nonzero(h)
        self.values = h[self.pairs]

    def match(self, h, n_pairs):
        """Whether ``h``, with ``n_pairs`` nonzero entries, equals the recorded one
        (the recorded values are nonzero, so equal values at the recorded pairs
        and an equal count leave no other curved pair)."""
        return (n_pairs == self.values.size
                and np.array_equal(h[self.pairs], self.values))


class _WoodburyPreconditioner:
    """(C·I + A_Dᵀ diag(h_D) A_D)⁻¹ for the curved pairs D of one step:
    (1/C)[I − A_Dᵀ K⁻¹ A_D] with K = C·diag(1/h_D) + A_D A_Dᵀ, where
    (A_D A_Dᵀ)[p, q] = (x̂_{i_p}·x̂_{i_q}) (e_{j_p} − e_{y_p})·(e_{j_q} − e_{y_q})."""

    def __init__(self, solver, h, factor_dtype=np.float64, exact=False):
        # The curvatures it is exact for, when it is rebuilt for every change.
        self.exact_for = _Curvatures(h) if exact else None
        pair_rows, pair_cols = np.nonzero(h)
        self.C = solver.C
        self.n_pairs = pair_rows.size
        if self.n_pairs == 0:
            return
        rows, local = np.unique(pair_rows, return_inverse=True)
        self.design = solver.design.subset(rows)
        gram = _row_gram(self.design, rows, solver.row_gram_cache)
        solver.row_gram_cache = (rows, gram)
        labels = solver.y[rows][local]
        self.local, self.cols, self.labels = local, pair_cols, labels
        self.factor = None
        diagonal = self.C / h[pair_rows, pair_cols]

        def system(dtype):
            """K = (Gram of the pairs' rows) ∘ P Pᵀ + C·diag(1/h)."""
            K = np.empty((self.n_pairs, self.n_pairs), dtype=dtype)
            _newton_kernels.woodbury_system(gram, local, pair_cols, labels, diagonal, K)
            return K

        for dtype in dict.fromkeys((np.dtype(factor_dtype), np.dtype(np.float64))):
            try:
                # K is symmetric: its transpose is the same matrix in Fortran
                # order, which LAPACK factors in place.
                self.factor = scipy.linalg.cho_factor(system(dtype).T, lower=True,
                                                      overwrite_a=True,
                                                      check_finite=False)
                break
            except np.linalg.LinAlgError:
                continue  # not positive definite in that precision: use double
        if self.factor is None:
            # C·diag(1/h) lost in rounding (hard-margin regime): shifted.
            self.factor = _cholesky_with_jitter(system(np.float64))
        self.dtype = self.factor[0].dtype
        self.n_rows = rows.size
        self.k = h.shape[1]

    def __call__(self, V):
        if self.n_pairs == 0:
            return V / self.C
        s = self.design.times(V)
        a = s[self.local, self.cols] - s[self.local, self.labels]
        w = scipy.linalg.cho_solve(self.factor, a.astype(self.dtype),
                                   check_finite=False).astype(np.float64)
        G = np.zeros((self.n_rows, self.k))
        np.add.at(G, (self.local, self.cols), w)
        np.add.at(G, (self.local, self.labels), -w)
        return (V - self.design.transpose_times(G)) / self.C


class _DenseHessianPreconditioner:
    """(C·I + A_Dᵀ diag(h_D) A_D)⁻¹ through the Cholesky factor of the whole
    (k·width) × (k·width) matrix, for problems with few features and classes;
    with ``sample`` = (rows, weights), of its unbiased estimate over those rows
    of D (each row's terms times its weight), for many curved rows. ``kept``
    marks one that serves the following steps too (whose curvatures differ);
    ``n_rows`` is then the number of curved rows it was built for.

    With G[t, s] = Σ_{y_i = t} h_is x̂_i x̂_iᵀ (one product per class t over its
    curved rows, n·k·width² multiply-adds in all), block (s, s) is
    Σ_t (G[t, s] + G[s, t]) and block (s, t ≠ s) is −(G[t, s] + G[s, t]): the pair
    (i, j) adds h_ij (e_j − e_{y_i})(e_j − e_{y_i})ᵀ ⊗ x̂_i x̂_iᵀ."""

    def __init__(self, solver, h, sample=None, kept=False, n_rows=None):
        # The curvatures it is exact for (compared at the next step), unless kept.
        self.exact_for = None if kept else _Curvatures(h)
        self.n_rows = n_rows
        k, width = h.shape[1], solver.design.width
        self.shape = (k, width)
        if sample is None:
            sample_rows, sample_weights = np.flatnonzero(h.any(axis=1)), None
        else:
            sample_rows, sample_weights = sample
        sample_labels = solver.y[sample_rows]
        G = np.zeros((k, k, width, width))
        for t in range(k):
            in_class = sample_labels == t
            rows = sample_rows[in_class]
            if rows.size == 0:
                continue
            X = solver.design.dense_rows(rows)
            h_rows = (h[rows] if sample_weights is None
                      else h[rows] * sample_weights[in_class][:, None])
            weighted = (h_rows[:, :, None] * X[:, None, :]).reshape(rows.size, -1)
            G[t] = (X.T @ weighted).reshape(width, k, width).transpose(1, 0, 2)
        pair_sums = G + G.transpose(1, 0, 2, 3)  # [s, t] = G[s, t] + G[t, s]
        H = -pair_sums.transpose(0, 2, 1, 3).reshape(k * width, k * width)
        for s in range(k):
            block = slice(s * width, (s + 1) * width)
            H[block, block] = pair_sums[s].sum(axis=0) - pair_sums[s, s]
        H[np.diag_indices_from(H)] += solver.C
        self.factor = _cholesky_with_jitter(H)

    def __call__(self, V):
        return scipy.linalg.cho_solve(self.factor, V.ravel(),
                                      check_finite=False).reshape(self.shape)


def woodbury_cost(n_pairs, width):
    """Multiply-adds to form and factor the Woodbury matrix of ``n_pairs`` pairs."""
    return n_pairs ** 2 * width + n_pairs ** 3 / 3


def _cholesky_with_jitter(H):
    """Cholesky factor of the symmetric matrix H (lower), adding a growing multiple
    of its largest diagonal entry while it is not numerically positive definite:
    when C is tiny against the curvature (hard-margin regime) C·I is lost in
    rounding. The result is a preconditioner, so the shift only slows CG."""
    scale = float(np.max(np.diag(H)))
    for jitter in (0.0, 1e-14, 1e-12, 1e-10, 1e-8, 1e-6, 1e-4):
        shifted = H.copy() if jitter else H
        if jitter:
            shifted[np.diag_indices_from(shifted)] += jitter * scale
        try:
            return scipy.linalg.cho_factor(shifted, lower=True, check_finite=False)
        except np.linalg.LinAlgError:
            continue
    raise np.linalg.LinAlgError("the Newton system could not be factored")


def _row_gram(design, rows, cache):
    """X̂_R X̂_Rᵀ over the sorted ``rows``, reusing the entries of ``cache``
    = (previous rows, their Gram) for the rows both sets share."""
    X = design.X
    n_rows = rows.size
    gram = np.empty((n_rows, n_rows))
    if cache is not None:
        old_rows, old_gram = cache
        _, here, there = np.intersect1d(rows, old_rows, assume_unique=True,
                                        return_indices=True)
    else:
        here = there = np.zeros(0, dtype=np.int64)
    fresh = np.setdiff1d(np.arange(n_rows), here, assume_unique=True)
    if here.size:
        _newton_kernels.copy_shared_entries(old_gram, there, gram, here)
    if fresh.size:
        block = X[fresh] @ X.T
        if sp.issparse(block):
            block = block.toarray()
        if design.fit_intercept:
            dots = X @ design.mu
            block += (design.mu @ design.mu + design.r ** 2
                      - dots[fresh, None] - dots[None, :])
        gram[fresh] = block
        gram[:, fresh] = block.T
    return gram


def _class_matrix(h, y, row_weights):
    """Σ_i w_i M_i with M_i = Σ_j h_ij (e_j − e_{y_i})(e_j − e_{y_i})ᵀ, (k, k)."""
    k = h.shape[1]
    weighted = h * row_weights[:, None]
    onehot_sums = np.zeros((k, k))  # [t, j] = Σ_{y_i = t} w_i h_ij
    np.add.at(onehot_sums, y, weighted)
    M = -onehot_sums - onehot_sums.T
    M[np.diag_indices(k)] += onehot_sums.sum(axis=0) + onehot_sums.sum(axis=1)
    # The label entries of h are zero, so onehot_sums has a zero diagonal and the
    # diagonal terms above count each pair once at j and once at y_i.
    return M


def _conjugate_gradient(matvec, rhs, precondition, rtol, max_iter):
    """Preconditioned CG on (k, width) arrays; returns (solution, iterations)."""
    x = np.zeros_like(rhs)
    r = rhs.copy()
    z = precondition(r)
    p = z.copy()
    rz = float(np.vdot(r, z))
    target = rtol * np.linalg.norm(rhs)
    for it in range(1, max_iter + 1):
        Ap = matvec(p)
        curvature = float(np.vdot(p, Ap))
        if not curvature > 0.0:  # under- or overflow at extreme feature scales
            return x, it - 1
        step = rz / curvature
        x += step * p
        r -= step * Ap
        if np.linalg.norm(r) <= target:
            return x, it
        z = precondition(r)
        rz_new = float(np.vdot(r, z))
        p = z + (rz_new / rz) * p
        rz = rz_new
    return x, max_iter


class _Solver:
    """The data in the solver's coordinates, the certificate, and the pieces of a
    Newton step (preconditioner, Hessian products) with their caches."""

    def __init__(self, objective, options):
        X = objective.X
        self.objective = objective
        self.X = X
        self.y = objective.y
        self.n, self.d = X.shape
        self.k = objective.n_classes
        self.C = objective.C
        self.margin = objective.margin
        self.S = objective.weight_sum
        self.bound = objective.sample_weight / self.S
        self.fit_intercept = objective.fit_intercept
        self.rows = np.arange(self.n)
        self.pairs = _PairFunction(objective.loss, self.bound)
        self.hinge = self.pairs.hinge
        self.options = options
        mu = np.zeros(self.d)
        r = 0.0
        if self.fit_intercept:
            plain = _Design(X, mu, 0.0, False)
            mu = (plain.raw_transpose_times(self.bound[:, None])[0]
                  / max(self.bound.sum(), 1e-300))
            plain = _Design(X, mu, 0.0, True)
            r = float(np.sqrt(max(np.dot(self.bound, plain.squared_norms())
                                  / max(self.bound.sum(), 1e-300), 1e-300)))
            # The proximal weight on b is C/r²: r at least 10·√C keeps it
            # ≤ 0.01, well below the scale of the loss's slope in b (≤ 1), so
            # that a strongly regularized problem (W ≈ 0, the intercepts doing
            # all the work) moves b freely at each outer step. With ≤ 1 (r ≥ √C)
            # the digits' path top, C_max = 80.6, took 40–48 steps whose gap fell
            # linearly; now 5–8 (benchmarks/results/newton_notes.md).
            r = max(r, 1.0, INTERCEPT_SCALE_PER_ROOT_C * float(np.sqrt(self.C)))
        self.design = _Design(X, mu, r, self.fit_intercept, objective.n_threads)
        self.row_sq_norms = self.design.squared_norms()
        self.gram_cache = None
        self.factored = None
        # CG iterations of the last Newton direction (set by solve_newton).
        self.last_cg_iter = 0
        self.row_gram_cache = None
        self.gathered = None  # a _GatheredRows, once Hessian products use one
        self.n_threads = objective.n_threads
        self.class_rows = [np.flatnonzero(self.y == t) for t in range(self.k)]

    # -- coordinates ---------------------------------------------------------------
    def to_theta(self, coef, intercept):
        theta = np.zeros((self.k, self.design.width))
        theta[:, : self.d] = coef
        if self.fit_intercept:
            theta[:, self.d] = (intercept + coef @ self.design.mu) / self.design.r
        return theta

    def to_model(self, theta):
        coef = np.array(theta[:, : self.d])
        if not self.fit_intercept:
            return coef, np.zeros(self.k)
        return coef, self.design.r * theta[:, self.d] - coef @ self.design.mu

    # -- certificate ---------------------------------------------------------------
    def lower_bound(self, alpha, AX_raw, column_sums, intercept, primal, tol):
        """A certified lower bound on min J from the dual point α (or −inf when
        the intercept's repair is not worth it yet)."""
        C = self.C
        dual_coef = -AX_raw / C
        conj = self.pairs.conjugate(alpha)
        fixed_b = self.pairs.loss.dual_value(
            self.margin * float(alpha.sum()) + float(intercept @ column_sums),
            0.5 * C * float(np.vdot(dual_coef, dual_coef)) + conj)
        if not self.fit_intercept:
            return fixed_b, fixed_b
        if self.k > MAX_REPAIR_CLASSES:
            # The per-class-pair sums below take k²·d memory: rebuild W from
            # the repaired multipliers instead (one product with X).
            return fixed_b, _certificate.dual_lower_bound(self.objective, alpha)[0]
        if primal - fixed_b > tol * abs(primal):
            return fixed_b, -np.inf
        flows = _certificate.class_flows(self.y, alpha, self.k)
        factors = _certificate.repair_factors(flows)
        pair_sums = self.class_pair_sums(alpha)  # [t, j] = Σ_{y_i=t} α_ij x_i
        scaled = pair_sums * factors[:, :, None]
        AX = scaled.sum(axis=0) - scaled.sum(axis=1)
        W = -AX / C
        if self.hinge:  # Σ of the repaired α from the class flows: no (n, k) array
            repaired_sum, repaired_conjugate = float(np.sum(factors * flows)), 0.0
        else:
            repaired = alpha * factors[self.y]
            repaired_sum = float(repaired.sum())
            repaired_conjugate = self.pairs.conjugate(repaired)
        value = self.pairs.loss.dual_value(
            self.margin * repaired_sum,
            0.5 * C * float(np.vdot(W, W)) + repaired_conjugate)
        return fixed_b, value

    def class_pair_sums(self, alpha):
        """Σ_{y_i = t} α_ij x_i for every class pair, shape (k, k, d)."""
        out = np.empty((self.k, self.k, self.d))
        for t, rows in enumerate(self.class_rows):
            out[t] = 0.0
            # blocks of rows, not a copy of a class's rows (peak memory)
            for start in range(0, rows.size, GATHER_CHUNK_ROWS):
                chunk = rows[start:start + GATHER_CHUNK_ROWS]
                block = self.X[chunk]
                block = (block.astype(np.float64) if sp.issparse(block)
                         else np.asarray(block, dtype=np.float64))
                part = alpha[chunk]
                out[t] += (block.T @ part).T if sp.issparse(block) else part.T @ block
        return out

    # -- Newton direction ------------------------------------------------------------
    def preconditioner(self, h):
        """The preconditioner for curvatures ``h`` (module docstring) and the rows
        that have a curved pair."""
        rows = np.flatnonzero(h.any(axis=1))
        n_pairs = int(np.count_nonzero(h))
        size = self.k * self.design.width
        dense_cost = rows.size * size * size + size ** 3 / 3
        woodbury_fits = n_pairs <= self.options.get(
            "max_factor_pairs", MAX_FACTOR_PAIRS_WITH_BLOCKS
            if self.class_blocks_fit() else MAX_FACTOR_PAIRS)
        if woodbury_fits:
            alternative = woodbury_cost(n_pairs, self.design.width)
        else:  # CG with the Kronecker preconditioner, some 25 products
            alternative = 50.0 * rows.size * size
        # Against the Woodbury factor, the dense Hessian's product part counts
        # half: it runs at GEMM speed, about twice a factorization's (measured on
        # the digits: the Woodbury factor was the slower one from ~700 curved
        # pairs, 9.0 ms against 6.0 ms at 844, where the unweighted costs chose it).
        if (woodbury_fits and alternative <= MIN_DENSE_HESSIAN_BUDGET
                and alternative <= dense_cost - rows.size * size * size / 2
                and self.curvature_ratio(h, rows) <= MAX_WOODBURY_CURVATURE_RATIO):
            # Few curved pairs: their factor is the cheaper exact inverse, rebuilt
            # whenever the curvatures change.
            return self._reused_or_built(
                _WoodburyPreconditioner,
                lambda f: f.exact_for is not None and f.exact_for.match(h, n_pairs),
                lambda: _WoodburyPreconditioner(self, h, exact=True)), rows
        if size <= MAX_DENSE_HESSIAN and dense_cost <= max(alternative,
                                                           MIN_DENSE_HESSIAN_BUDGET):
            # Exact where it was built (it costs at most about what the
            # alternatives would); for the hinge also kept while the last solve
            # with it was short (STALE_HESSIAN_CG_ITER).
            return self._reused_or_built(
                _DenseHessianPreconditioner,
                lambda f: f.exact_for is not None and (
                    f.exact_for.match(h, n_pairs)
                    or (self.hinge and self.last_cg_iter <= STALE_HESSIAN_CG_ITER)),
                lambda: _DenseHessianPreconditioner(self, h)), rows
        if woodbury_fits:
            dtype = np.dtype(self.options.get("factor_dtype", "float64"))
            return self._reused_or_built(
                _WoodburyPreconditioner, lambda f: not self.refactor,
                lambda: _WoodburyPreconditioner(self, h, dtype)), rows
        if size <= MAX_DENSE_HESSIAN:
            # Too many curved rows to form it at every step: formed over at
            # most a sample of them, and kept while CG converges fast and the
            # curved set keeps its size.
            sample_size = max(HESSIAN_SAMPLE_ROWS, HESSIAN_SAMPLE_PER_PARAMETER * size)
            return self._reused_or_built(
                _DenseHessianPreconditioner,
                lambda f: (f.exact_for is None and not self.refactor
                           and f.n_rows / GRAM_REFRESH_RATIO <= rows.size
                           <= f.n_rows * GRAM_REFRESH_RATIO),
                lambda: _DenseHessianPreconditioner(
                    self, h, (self._hessian_sample(h, rows, sample_size)
                              if rows.size > sample_size else None),
                    kept=True, n_rows=rows.size)), rows
        if self.class_blocks_fit():
            if not isinstance(self.factored, _ClassBlockPreconditioner):
                self.factored = None
                self.factored = _ClassBlockPreconditioner(self)
            return self.factored.update(h), rows
        self.factored = None
        n_rows = rows.size
        trace_weights = 2.0 * h[rows].sum(axis=1)
        dense = self.design.width <= DENSE_GRAM_MAX_WIDTH
        cache = self.gram_cache
        if (cache is None or n_rows > GRAM_REFRESH_RATIO * cache[0]
                or n_rows * GRAM_REFRESH_RATIO < cache[0]):
            if n_rows == 0:
                gram = np.full(self.design.width, 1.0)
                eig = (gram, None)
            else:
                if dense and n_rows > GRAM_SAMPLE_ROWS:
                    rng = np.random.default_rng(n_rows)
                    sample = rng.choice(rows, size=GRAM_SAMPLE_ROWS, replace=True,
                                        p=trace_weights / trace_weights.sum())
                    gram = self.design.gram(np.sort(sample),
                                            np.ones(GRAM_SAMPLE_ROWS), True)
                else:
                    gram = self.design.gram(rows, trace_weights, dense)
                eig = np.linalg.eigh(gram) if dense else (gram, None)
            self.gram_cache = (max(n_rows, 1), eig)
        gamma, U = self.gram_cache[1]
        gram_trace = float(np.sum(gamma))
        class_matrix = _class_matrix(h, self.y, self.row_sq_norms) / max(
            gram_trace, 1e-300)
        return _KroneckerPreconditioner(self.C, class_matrix, (gamma, U)), rows

    def class_blocks_fit(self):
        """:func:`class_blocks_fit` for this problem."""
        return class_blocks_fit(self.n, self.design.width, self.k, self.d)

    def _reused_or_built(self, kind, reusable, build):
        """The current factor when it is a ``kind`` and ``reusable(factor)``; else a
        new one from ``build()`` (the old one dropped first: its memory is needed)."""
        if isinstance(self.factored, kind) and reusable(self.factored):
            return self.factored
        self.factored = None
        self.factored = build()
        return self.factored

    @property
    def refactor(self):
        """Whether the last solve needed more than REFACTOR_CG_ITER iterations: a
        kept factor is rebuilt."""
        return self.last_cg_iter > REFACTOR_CG_ITER

    def curvature_ratio(self, h, rows):
        """The largest h_p·‖a_p‖² / C over the curved pairs: the Woodbury form
        (1/C)[I − A_Dᵀ K⁻¹ A_D] loses about this factor of precision."""
        if rows.size == 0:
            return 0.0
        largest = h[rows].max(axis=1) * self.row_sq_norms[rows]
        return 2.0 * float(largest.max()) / self.C

    def _hessian_sample(self, h, rows, size):
        """``size`` draws from the curved ``rows``, each with probability p_i
        proportional to its share of the Hessian's trace, 2·Σ_j h_ij·‖x̂_i‖²; the
        distinct rows drawn and their weights (draws / (size·p_i))."""
        trace_shares = 2.0 * h[rows].sum(axis=1) * self.row_sq_norms[rows]
        total = trace_shares.sum()
        p = (trace_shares / total if total > 0.0  # else only zero rows are curved
             else np.full(rows.size, 1.0 / rows.size))
        rng = np.random.default_rng(rows.size)
        drawn, counts = np.unique(rng.choice(rows.size, size=size, p=p),
                                  return_counts=True)
        return rows[drawn], counts / (size * p[drawn])

    def hessian_operator(self, h, rows):
        """V ↦ C·V + A_Dᵀ diag(h) A_D V over the curved ``rows`` only: on dense X
        with many curved entries by the one-pass kernel (over a float32 copy of
        few curved rows, or over X itself), otherwise by BLAS products over a
        float64 copy of the curved rows or over all of X."""
        if (rows.size * self.design.width >= SINGLE_PRODUCTS_MIN_ENTRIES
                and not self.design.sparse):
            if rows.size <= SINGLE_GATHER_FRACTION * self.n:
                return self._single_precision_operator(h, rows)
            self.gathered = None  # not needed now: its memory is freed
            return self._rows_operator(self.design.X, h, self.design.mu)
        if rows.size <= GATHER_FRACTION * self.n:
            design = self.design.subset(rows)
            h_rows = h[rows]
            y_rows = self.y[rows]
        else:
            design, h_rows, y_rows = self.design, h, self.y
        index = np.arange(h_rows.shape[0])
        C = self.C

        def matvec(V):
            a = _pair_differences_in_place(design.times(V), y_rows, index)
            a *= h_rows
            a[index, y_rows] = -a.sum(axis=1)
            return C * V + design.transpose_times(a)

        return matvec

    def _single_precision_operator(self, h, rows):
        """:meth:`hessian_operator` with the products in float32 over a float32
        copy of the curved rows (half the memory of a float64 copy), kept across
        steps (:class:`_GatheredRows`), by one pass over each row that reads only
        its curved classes (:func:`sksvm._newton_kernels.curved_rows_product`), in
        up to ``n_threads`` threads. Measured on Fashion-MNIST's curved rows at the
        squared hinge's optimum (31,000 rows, two curved pairs each): 17 ms on one
        thread against 21–22 ms for two float32 BLAS products."""
        if self.gathered is None:
            self.gathered = _GatheredRows(self.n)
        X, kept = self.gathered.cover(self.design, rows)
        h_rows = np.zeros((kept.size, self.k))
        h_rows[self.gathered.position[rows]] = h[rows]
        return self._rows_operator(X, h_rows, None, self.y[kept])

    def _rows_operator(self, X, h, mu, y=None):
        """V ↦ C·V + A_Dᵀ diag(h) A_D V by :func:`curved_rows_product` over the rows
        of ``X`` (labels ``y``, by default the problem's), in X's precision, in
        chunks over ``n_threads``: ``X`` holds the rows x̂_i themselves (``mu``
        None) or, with ``mu``, the raw rows x_i, centered through the scores'
        offsets and the column sums (the constant column r included)."""
        y = self.y if y is None else y
        C, k, d, width = self.C, self.k, self.d, self.design.width
        n_rows = X.shape[0]
        n_chunks = chunk_count(self.n_threads, n_rows * width * 4)
        bounds = _kernels.chunk_bounds(n_rows, n_chunks)
        parts = np.empty((n_chunks, k, X.shape[1]))
        column_sums = np.empty((n_chunks, k))
        raw = mu is not None

        def matvec(V):
            W = np.ascontiguousarray(V[:, :d] if raw else V, dtype=X.dtype)
            offsets = np.zeros(k)
            if raw and self.fit_intercept:
                offsets = self.design.r * V[:, d] - V[:, :d] @ mu
            parts[:] = 0.0
            column_sums[:] = 0.0

            def run(c):
                _newton_kernels.curved_rows_product(X, W, offsets, y, h, bounds[c],
                                                    bounds[c + 1], parts[c],
                                                    column_sums[c])

            run_chunks(run, n_chunks, self.n_threads)
            product = parts.sum(axis=0)
            if raw and self.fit_intercept:
                sums = column_sums.sum(axis=0)
                product = self.design._centered(product, sums)
            return C * V + product

        return matvec


def solve_newton(objective, coef0, intercept0, *, tol, max_iter, verbose=0,
                 **options):
    """Minimize ``objective`` by semismooth Newton steps to a certified gap.

    Parameters
    ----------
    objective : MulticlassSVMObjective
        The problem (dense C-contiguous or CSR ``X``, float32 or float64).
    coef0 : ndarray of shape (k, d)
        Start weights.
    intercept0 : ndarray of shape (k,)
        Start intercepts (ignored without ``fit_intercept``).
    tol : float
        Target certified relative duality gap (J − D)/J.
    max_iter : int
        Maximum number of Newton steps.
    verbose : int
        Print one line per Newton step when positive.
    **options
        ``dual0`` (ndarray (n, k)): start multipliers for the hinge (e.g. a dual
        coordinate ascent point; clipped into the box, never written to);
        ``start_epochs`` (int) and ``random_state`` (a RandomState; seed 0
        when not given): first run that many
        epochs of dual coordinate ascent at most (from ``dual0`` when given;
        ``start_work``: and at most that many entries of X read in all),
        until ``tol`` (which ends the
        run there) or, in a slow tail, a certified gap of ``start_handover_gap``
        (``dual_cd.ascend``'s ``handover_gap``; ``START_GAP`` when not given), and
        start from their weights and (hinge) dual point; ``start_finish_exactly``
        (default True): ``dual_cd.ascend``'s ``finish_exactly``, for epochs that
        end the run; ``start_prox_weight``: their ``prox_weight0``;
        ``sigma_width0``,
        ``sigma_growth``, ``inner_kappa``: the hinge's penalty schedule and inner
        tolerance (by default the module constants, ``START_SIGMA_WIDTH0`` from
        start multipliers, and the growth of the last step's preconditioner); ``sigma_stall_ratio``: when
        given, σ grows only at outer steps where the split residual ‖g − u‖/σ
        fell by less than this factor (by default at every outer step);
        ``cg_rtol``: relative residual of
        the conjugate gradient solves (default: min(0.1, √gap));
        ``max_factor_pairs``: the largest curved set factored exactly;
        ``factor_dtype``: precision of that factor ("float64").

    Returns
    -------
    dict
        ``coef`` (k, d), ``intercept`` (k,), ``n_iter``, ``converged``, ``gap``
        (certified relative duality gap at the returned point) and ``history``
        (one dict per Newton step: ``iteration``, ``time``, ``objective``,
        ``gap``, plus the step's diagnostics), ``dual`` (the multipliers,
        hinge), ``final_dual`` (the last dual point α = g, None when the epochs
        ended the run), ``epochs`` (the start epochs' SolverResult, or
        None) and ``prox_weight`` (their ``dual_cd.ascend`` λ for the next warm
        start, or None).
    """
    start_time = time.perf_counter()
    dual0 = options.get("dual0")
    epochs = prox_weight = None
    if options.get("start_epochs") or options.get("start_iterations"):
        alpha = None
        if options.get("start_epochs"):
            # Run here, not by the caller, so that nothing else holds the epochs'
            # dual point once the multipliers have moved on.
            handover_gap = options.get("start_handover_gap", START_GAP)
            start_intercept = None
            if dual0 is not None:
                start_intercept = (np.zeros(objective.n_classes) if intercept0 is None
                                   else np.asarray(intercept0, dtype=np.float64))
            epochs, alpha, prox_weight = dual_cd.ascend(
                objective, dual0, start_intercept, tol=tol, handover_gap=handover_gap,
                max_iter=options["start_epochs"], max_work=options.get("start_work"),
                random_state=options.get("random_state") or np.random.RandomState(0),
                # The averaged primal point helps epochs that run to tol certify
                # it; the Newton steps start better from the last iterate.
                verbose=verbose, average_primal=handover_gap <= tol,
                float32_epochs=True,
                finish_exactly=options.get("start_finish_exactly", True),
                prox_weight0=options.get("start_prox_weight"))
            if objective.loss != "hinge":
                alpha = None
        else:
            from . import lbfgs  # it polishes with Newton steps: imported here

            epochs = lbfgs.solve(objective, Start.zeros(objective.n_classes,
                                                        objective.n_features),
                                 tol=tol, max_iter=options["start_iterations"],
                                 verbose=verbose)
        if epochs.duality_gap <= tol:
            return dict(coef=epochs.coef, intercept=epochs.intercept, n_iter=0,
                        converged=True, gap=epochs.duality_gap, history=[],
                        dual=alpha, final_dual=None, epochs=epochs,
                        prox_weight=prox_weight)
        coef0, intercept0, dual0 = epochs.coef, epochs.intercept, alpha
        del alpha
        start_time = time.perf_counter()
    # Announced here, where the steps start: a fit that its start epochs end
    # never calls these kernels.
    announce_compile("newton", (_kernels.loss_grad_kernel(objective.is_sparse),
                                _dual_kernels.path_flow, _newton_kernels.pair_terms,
                                _newton_kernels.pair_slope,
                                _newton_kernels.pair_curvatures,
                                _newton_kernels.woodbury_system,
                                _newton_kernels.curved_rows_product,
                                _newton_kernels.copy_shared_entries), verbose)
    sv = _Solver(objective, options)
    n, k, C, y, rows = sv.n, sv.k, sv.C, sv.y, sv.rows
    pairs = sv.pairs
    width0 = options.get("sigma_width0", SIGMA_WIDTH0 if dual0 is None
                         else START_SIGMA_WIDTH0)
    growth = options.get("sigma_growth")
    step_growth = SIGMA_GROWTH  # that of the last step's preconditioner
    kappa = options.get("inner_kappa", INNER_KAPPA)
    cg_rtol = options.get("cg_rtol")
    stall_ratio = options.get("sigma_stall_ratio")
    last_residual = np.inf

    coef0 = np.zeros((k, sv.d)) if coef0 is None else np.asarray(coef0, float)
    intercept0 = (np.zeros(k) if intercept0 is None or not sv.fit_intercept
                  else np.asarray(intercept0, float))
    theta = sv.to_theta(coef0, intercept0)
    center = np.zeros_like(theta)
    if sv.fit_intercept:
        center[:, sv.d] = theta[:, sv.d]
    m = _margins_in_place(sv.design.times(theta), y, rows, sv.margin)

    positive_bounds = sv.bound[sv.bound > 0]
    mean_bound = float(positive_bounds.mean()) if positive_bounds.size else 1.0
    UX = None
    if sv.hinge:
        pairs.sigma = mean_bound / width0
        if dual0 is None:
            pairs.u = np.zeros((n, k))
        elif (dual0.dtype == np.float64 and np.all(dual0 >= 0.0)
              and np.all(dual0 <= sv.bound[:, None])
              and not np.any(dual0[rows, y])):
            pairs.u = dual0  # already a dual point; never written in place
        # (else a clipped float64 copy: the pair kernels are compiled for float64)
        else:
            pairs.u = np.clip(dual0, 0.0, sv.bound[:, None])
            pairs.u[rows, y] = 0.0
    dual0 = None

    best_primal, best_theta, best_lower = np.inf, theta.copy(), -np.inf
    history = []
    gap = np.inf
    converged = False
    n_outer = 0
    iteration = 0
    refresh_gradient = True
    first_grad_norm = None
    stalled = False  # the last line search found no decrease: the inner problem is solved

    def loss_terms():
        """g (the loss derivatives at the current margins), the column sums of A,
        AᵀX̂ and the true loss Σ_p c_p ℓ(m_p)."""
        g, loss = pairs.terms(m)
        AX, column_sums = sv.design.pair_transpose_times(g, y)
        return g, column_sums, AX, loss

    while True:
        if refresh_gradient:
            g, column_sums, AX, loss = loss_terms()
            if sv.hinge and UX is None:
                UX, u_sums = sv.design.pair_transpose_times(pairs.u, y)
                if np.any(pairs.u):
                    # The start multipliers are a dual point too.
                    u_raw = UX[:, : sv.d] + (np.outer(u_sums, sv.design.mu)
                                             if sv.fit_intercept else 0.0)
                    coef, intercept = sv.to_model(theta)
                    primal = loss + 0.5 * C * float(np.vdot(coef, coef))
                    best_lower = max(best_lower, sv.lower_bound(
                        pairs.u, u_raw, u_sums, intercept, primal, tol)[1])
        grad = C * (theta - center) + AX
        # Certificate at the current point and dual point α = g.
        coef, intercept = sv.to_model(theta)
        primal = loss + 0.5 * C * float(np.vdot(coef, coef))
        AX_raw = AX[:, : sv.d] + (np.outer(column_sums, sv.design.mu)
                                  if sv.fit_intercept else 0.0)
        fixed_b, lower = sv.lower_bound(g, AX_raw, column_sums, intercept, primal, tol)
        if primal < best_primal:
            best_primal, best_theta = primal, theta.copy()
        best_lower = max(best_lower, lower)
        gap = (best_primal - best_lower) / max(abs(best_primal), np.finfo(float).tiny)
        grad_norm = float(np.linalg.norm(grad))
        if first_grad_norm is None:
            first_grad_norm = max(grad_norm, np.finfo(float).tiny)
        record = dict(iteration=iteration, time=time.perf_counter() - start_time,
                      objective=best_primal, gap=gap, grad_norm=grad_norm,
                      fixed_intercept_gap=(primal - fixed_b) / abs(primal))
        if sv.hinge:
            record["sigma"] = pairs.sigma
        if gap <= tol:
            converged = True
        if converged or iteration >= max_iter:
            history.append(record)
            if verbose:
                _print_record(record)
            break

        if sv.hinge:
            step_size = float(np.linalg.norm(AX - UX))
            inner_solved = (grad_norm <= kappa * step_size or stalled
                            or grad_norm <= INNER_SOLVED * first_grad_norm)
            if inner_solved:
                # Outer step: multipliers u ← g(θ), larger σ, recentered β.
                # (An (n, k) temporary: only for the optional stall rule.)
                residual = (float(np.linalg.norm(g - pairs.u)) / pairs.sigma
                            if stall_ratio is not None else np.inf)
                pairs.u = g
                UX = AX
                n_outer += 1
                if stall_ratio is None or residual > stall_ratio * last_residual:
                    pairs.sigma = min(
                        pairs.sigma * (step_growth if growth is None else growth),
                        mean_bound / SIGMA_MAX_WIDTH)
                last_residual = residual
                center[:, sv.d:] = theta[:, sv.d:]
                g, column_sums, AX, _ = loss_terms()
                grad = C * (theta - center) + AX
                record["outer"] = n_outer
        else:
            center[:, sv.d:] = theta[:, sv.d:]
            grad = C * (theta - center) + AX

        # g and h are recomputed before their next use: dropped early, as at 100
        # features each (n, k) array is a tenth of X.
        g = None
        h, n_curved_pairs = pairs.curvature(m)
        if sv.hinge and not n_curved_pairs:
            # No pair in its kink zone: the step would be a gradient step of
            # length 1/C. Widen the zone to COLD_START_WIDTH times the median
            # violated margin (σ may change between steps; the multipliers stay
            # in the box).
            violated = m[m > 0.0]
            width = COLD_START_WIDTH * float(np.median(violated)) if violated.size else 0.0
            if violated.size and mean_bound / width < pairs.sigma:
                pairs.sigma = mean_bound / width
                _, column_sums, AX, _ = loss_terms()
                grad = C * (theta - center) + AX
                h, n_curved_pairs = pairs.curvature(m, out=h)
        precondition, curved_rows = sv.preconditioner(h)
        matvec = sv.hessian_operator(h, curved_rows)
        h = None  # the operator keeps what it needs
        rtol = cg_rtol if cg_rtol is not None else min(
            getattr(precondition, "cg_rtol", CG_RTOL), np.sqrt(max(gap, 1e-12)))
        direction, cg_iter = _conjugate_gradient(
            matvec, -grad, precondition, rtol,
            getattr(precondition, "hinge_cg_max_iter", CG_MAX_ITER) if sv.hinge
            else CG_MAX_ITER)
        sv.last_cg_iter = cg_iter
        step_growth = getattr(precondition, "sigma_growth", SIGMA_GROWTH)
        matvec = None  # it holds a copy of the curved rows of X
        # The solver keeps the factor it may reuse; this reference would keep an
        # old one (up to MAX_FACTOR_PAIRS² entries) alive while the next is built.
        precondition = None
        dm = _pair_differences_in_place(sv.design.times(direction), y, rows)
        step = _line_search(pairs, m, dm, theta - center, direction, C)
        stalled = step == 0.0
        theta += step * direction
        # Margins are affine in θ: updated along dm (label entries: dm = 0).
        dm *= step
        m += dm
        del dm
        iteration += 1
        refresh_gradient = True
        record.update(cg_iter=cg_iter, step=step, curved_rows=int(curved_rows.size),
                      curved_pairs=n_curved_pairs)
        history.append(record)
        if verbose:
            _print_record(record)

    coef, intercept = sv.to_model(best_theta)
    return dict(coef=coef, intercept=intercept, n_iter=iteration,
                converged=converged, gap=max(gap, 0.0), history=history,
                dual=pairs.u if sv.hinge else None, final_dual=g, epochs=epochs,
                prox_weight=prox_weight)


def class_blocks_fit(n_samples, width, n_classes, n_features):
    """Whether the class-diagonal blocks of the Hessian (k·width² entries, width =
    n_features plus one with an intercept) are dense enough and small enough, at
    most ``CLASS_BLOCKS_MAX_FRACTION`` of X's entries."""
    return (width <= DENSE_GRAM_MAX_WIDTH
            and n_classes * width * width
            <= CLASS_BLOCKS_MAX_FRACTION * n_samples * n_features)


def is_well_preconditioned(n_samples, n_features, n_classes):
    """Whether a problem of this size gets an exact or class-block preconditioner
    whatever its curved set (the whole Hessian or the class blocks), not only the
    Kronecker product."""
    width = n_features + 1
    return (n_classes * width <= MAX_DENSE_HESSIAN
            or class_blocks_fit(n_samples, width, n_classes, n_features))


def is_cheap(n_samples, n_features, n_classes):
    """Whether Newton steps are cheap on data of this size (module constants)."""
    n_parameters = n_classes * (n_features + 1)
    return (n_parameters <= CHEAP_MAX_PARAMETERS
            and n_samples * n_parameters <= CHEAP_MAX_WORK)


def solve(objective, start, *, tol, max_iter, random_state, verbose=0):
    """Minimize ``objective`` by semismooth Newton steps to a certified gap.

    Parameters
    ----------
    objective : MulticlassSVMObjective
    start : Start
        The start point. For the hinge, a dual point of the same data (the
        ``state`` of a previous ``"newton"`` or ``"dual_cd"`` fit) also gives the
        start multipliers; the dual box does not depend on C, so it applies to a
        new C as well. Otherwise a cold start at C below ``START_BELOW`` times
        the largest useful C begins elsewhere. The
        hinge first runs dual coordinate ascent epochs (at most
        ``START_EPOCHS`` and ``START_ENTRIES`` entries of X read; inside
        :func:`is_cheap` at most ``CHEAP_START_EPOCHS`` and
        ``CHEAP_START_WORK`` entries times classes), until ``tol``,
        which ends the fit, or in a slow tail a certified gap of ``START_GAP``),
        whose dual point starts the
        multipliers and whose weights start θ. Outside :func:`is_cheap` at
        ``tol`` ≥ ``EPOCHS_TO_TOL_FROM`` the epochs start every cold fit (at any
        C) and every warm fit with start multipliers (from them), and run to
        ``tol`` unless they stall. Outside :func:`is_cheap` the
        squared hinge first runs
        ``START_ITERATIONS`` L-BFGS iterations, whose weights start θ (and which
        end the fit when they certify ``tol``: on easy problems the steps are
        then never paid for).
    tol : float
        Target certified relative duality gap (J − D)/J.
    max_iter : int
        Maximum number of Newton steps (the start's epochs or iterations are
        not counted).
    random_state : numpy.random.RandomState
        The sample order of the start epochs.
    verbose : int
        Print one line per Newton step when positive.

    Returns
    -------
    SolverResult
        With a :class:`~sksvm._solvers.dual_cd.DualCDState` (the multipliers) when
        ``start.keep_state`` and the loss is the hinge. Unless
        ``start.finish_exactly`` is False and the steps converged, the exact
        finishing step is tried on the final partition (:func:`_finish_exactly`).
    """
    options = {}
    fingerprint = None
    if start.keep_state or isinstance(start.state, DualCDState):
        fingerprint = data_fingerprint(objective.X, objective.y)
    if (objective.loss == "hinge" and isinstance(start.state, DualCDState)
            and start.state.fingerprint == fingerprint):
        options["dual0"] = start.state.alpha
    cheap = is_cheap(*objective.X.shape, objective.n_classes)
    hinge = objective.loss == "hinge"
    cold = not options and not np.any(start.coef)
    warm_dual = "dual0" in options
    if hinge and not cheap and tol >= EPOCHS_TO_TOL_FROM and (cold or warm_dual):
        # Epochs first, cold or from the start multipliers (a path's next C), to
        # tol unless they stall: the fit is "dual_cd"'s wherever its epochs
        # converge, near the largest useful C too.
        options.update(_start_epochs(objective, cheap, start, random_state),
                       start_handover_gap=tol)
        if warm_dual:
            # The epochs run the fit: they start from the intercept's proximal
            # weight the previous fit grew (dual_cd._Run.grown_prox_weight).
            options["start_prox_weight"] = start.state.prox_weight
    elif cheap and warm_dual:  # (start multipliers come with the hinge only)
        # A path's next C on a small problem: the cold fits' few epochs, from the
        # start multipliers, before the Newton steps. Digits path (10 values of
        # C, 5 folds): 2.38–2.60 s against 2.87–3.29 s with the steps alone.
        options.update(_start_epochs(objective, cheap, start, random_state))
    elif (cold and (hinge or not cheap)
            and objective.C < START_BELOW * largest_useful_C(
                objective.X, objective.y, objective.sample_weight,
                objective.n_classes, objective.loss, objective.margin,
                stop_above=objective.C / START_BELOW)):
        # A cold start: at W = 0 (nearly) every pair is curved and, on a large
        # problem, each Newton step costs many passes over X. For the hinge,
        # epochs of coordinate ascent settle most pairs at their bounds for about
        # a pass each (on small problems a few, which often reach tol
        # themselves); for the squared hinge, whose epochs are slow, L-BFGS
        # iterations (two products with X each) bring the curved set near its
        # final one (not on small problems, where cold Newton steps are cheap).
        if objective.loss == "hinge":
            options.update(_start_epochs(objective, cheap, start, random_state))
        else:
            options.update(start_iterations=START_ITERATIONS)
    raw = solve_newton(objective, start.coef, start.intercept, tol=tol,
                       max_iter=max_iter, verbose=verbose, **options)
    if raw["final_dual"] is not None and (start.finish_exactly or not raw["converged"]):
        _finish_exactly(objective, raw, tol)
    history = [dict(iteration=record["iteration"], n_evaluations=record["iteration"] + 1,
                    time=record["time"], objective=record["objective"],
                    gap=record["gap"], smoothing=0.0)
               for record in raw["history"]]
    n_iter = raw["n_iter"]
    epochs = raw["epochs"]
    if epochs is not None:
        # The epochs come first in the history and the count.
        for record in history:
            record["iteration"] += epochs.n_iter
            record["n_evaluations"] += epochs.n_iter
            record["time"] += epochs.history[-1]["time"] if epochs.history else 0.0
        history = epochs.history + history
        n_iter += epochs.n_iter
    state = None
    if start.keep_state and raw["dual"] is not None:
        state = DualCDState(fingerprint, raw["dual"], raw["prox_weight"])
    return SolverResult(raw["coef"], raw["intercept"], n_iter, raw["converged"],
                        raw["gap"], raw["gap"], history, state)


def _start_epochs(objective, cheap, start, random_state):
    """The start epochs of a hinge fit, as options of :func:`solve_newton`: their
    budget (module constants: the most epochs, and outside ``is_cheap`` the most
    entries of X they read in all), their order, and whether, when they end the
    fit, they make the last finishing attempt (``start.finish_exactly``: the
    folds of a path need only the certified tol)."""
    options = dict(random_state=random_state,
                   start_finish_exactly=start.finish_exactly)
    if not cheap:
        return dict(options, start_epochs=START_EPOCHS, start_work=START_ENTRIES)
    entries = max(objective.X.nnz if objective.is_sparse else objective.X.size, 1)
    epochs = min(CHEAP_START_EPOCHS, CHEAP_START_WORK // (entries * objective.n_classes))
    return dict(options, start_epochs=int(max(1, epochs)))


def _finish_exactly(objective, raw, tol):
    """Replace the point in ``raw`` by the exact optimum when the active-set
    finisher (:func:`sksvm._certificate.finish`) certifies a smaller gap from the
    partition of the final dual point (few free pairs only)."""
    dual = raw["final_dual"]
    free, upper = _certificate.partition_from_alpha(objective, dual)
    if np.count_nonzero(free) > _certificate.MAX_FREE_PAIRS:
        return
    finished = _certificate.finish(objective, free, upper, max_rounds=FINISH_ROUNDS)
    # Relative gaps at different objective values do not compare: the finished
    # point must also be no worse.
    if (finished is None or not finished[3] < raw["gap"]
            or not finished[4] <= raw["history"][-1]["objective"]):
        return
    alpha, raw["coef"], raw["intercept"], gap, _ = finished
    raw["gap"] = max(gap, 0.0)  # an exact point may show a rounding-level negative gap
    raw["converged"] = raw["converged"] or raw["gap"] <= tol
    if raw["dual"] is not None:
        raw["dual"] = alpha


def _print_record(record):
    """One progress line, in the format of the other solvers' lines."""
    details = "".join(f"  {label} {record[key]}" for key, label in (
        ("curved_pairs", "curved pairs"), ("cg_iter", "cg steps"), ("outer", "outer"))
        if key in record)
    print(f"[newton] iter {record['iteration']:5d}  objective {record['objective']:.8e}"
          f"  gap {record['gap']:.3e}{details}  time {record['time']:.3f}s", flush=True)


def _line_search(pairs, m, dm, offset, direction, C):
    """A step t > 0 with |φ'(t)| ≤ LINE_TOL·|φ'(0)|, by the Illinois variant of
    regula falsi on the monotone derivative
    φ'(t) = C⟨offset + tΔ, Δ⟩ + Σ_p g_p(m + t dm) dm_p."""
    quad = C * float(np.vdot(direction, direction))
    lin = C * float(np.vdot(offset, direction))

    def slope(t):
        return lin + t * quad + pairs.slope(m, dm, t)

    s0 = slope(0.0)
    if s0 >= 0.0:
        return 0.0
    lo, s_lo = 0.0, s0
    t = 1.0
    s = slope(t)
    while s < 0.0 and abs(s) > LINE_TOL * abs(s0):
        lo, s_lo = t, s
        t *= 2.0
        s = slope(t)
    hi, s_hi = t, s
    side = 0
    for _ in range(LINE_MAX_STEPS):
        if abs(s) <= LINE_TOL * abs(s0):
            return t
        t = lo - s_lo * (hi - lo) / (s_hi - s_lo)
        s = slope(t)
        if s < 0.0:
            lo, s_lo = t, s
            if side == -1:
                s_hi *= 0.5
            side = -1
        else:
            hi, s_hi = t, s
            if side == 1:
                s_lo *= 0.5
            side = 1
    return t if s <= 0.0 else lo
