"""Exact dual block coordinate ascent (``solver="dual_cd"``).

The dual of the Weston–Watkins problem (MATH.md) has one block of k−1 variables
α_ij ∈ [0, c_i], c_i = s_i/S, per sample. Each epoch visits the samples in a random
order (drawn from ``random_state``) and maximizes the dual exactly over one block
at a time (O(k log k) by sorting, :func:`sksvm._dual_kernels.solve_block`), keeping
W = W(α) up to date: a block update touches the k rows of W at the nonzeros of
x_i only, so an epoch costs O(nnz·k). The squared hinge is handled the same way: its
dual has no upper bound and a diagonal term Σ α_ij²/(4 c_i).

Stopping. Every ``check_interval`` data passes' worth of work (more in long runs:
up to ``CHECK_INTERVAL_MAX``, see ``CHECK_WORK_FRACTION``), a full pass computes
the primal J(W, b) at W = W(α); with the dual value D(α) this gives the relative
duality gap (J − D)/J, and the solver stops once it is ≤ ``tol``. Every J(W)
and every D(α) bounds min J, whichever pass they come from, so the solver keeps
the point of lowest J seen and the highest D: J fluctuates from pass to pass
while D rises. Without an intercept that gap certifies J(W) − min J ≤ tol·J(W)
(exactly, up to the floating-point drift of the incrementally updated W, ~1e-13
relative). A cold start skips the pass at W = 0.

Averaged primal point. Near the end the gap is mostly primal: J(W(α)) of the
last iterate sits 3–10 times further above min J than D(α) below it (the epochs'
random order leaves noise in W). Once the certified gap is within
``AVERAGE_BELOW`` times ``tol``, each check also computes J at the mean of the
primal points after each epoch since the previous check (after each epoch that
completes ``AVERAGE_SNAPSHOT_WORK`` · d entries of work, where epochs are short),
a valid candidate like any other (one more pass over X): on standardized
Fashion-MNIST without an intercept it is 1.6–1.9 times closer to min J than the
last iterate.

Shrinking (as liblinear does). A block whose variables all sit at a bound with
their dual gradient (the margins m_ij) beyond a threshold on the right side is
dropped from the following epochs. The threshold is the previous epoch's largest
KKT violation, as in liblinear, but at most ``SHRINK_THRESHOLD_MAX`` times the
margin δ: on dense data a few rows keep violations of several δ until late, and
that largest violation alone kept nearly every row active. Every check
pass re-tests all samples and brings back those that no longer satisfy the test,
and the stopping test is always the gap over all samples, so shrinking never
changes what convergence means.

Intercept, exactly. The unpenalized intercept adds the equality constraints
ρ(α) = Σ_i Σ_{j≠y_i} α_ij (e_{y_i} − e_j) = 0 to the dual, which couple all blocks.
They are handled by the method of multipliers (equivalently, the proximal point
method on b): the inner problem

    min_{W, b} J(W, b) + (1/(2λ)) ‖b − b_center‖²

is the "intercept as a constant feature" problem of liblinear (feature value σ,
λ = σ²/C) with its penalty centered at the anchor b_center instead of 0. Its dual
is box constrained, so block coordinate ascent applies unchanged, with b = b_center
+ λ ρ(α). Because (W, b) on X and (W, b + Wμ) on X − 1μᵀ give the same scores, the
inner problems are solved on the implicitly centered data (μ, ``center``, the
weighted mean of the rows; for CSR input the centering costs O(k) per sample through V μ and
ρ, see :mod:`sksvm._dual_kernels`), which conditions them far better. Once the
inner gap is small, a certified gap of the *unpenalized* problem is computed: α
is repaired into a point of the exact dual (ρ = 0, :mod:`sksvm._certificate`), and
J(W, b) − D(α_repaired) bounds J(W, b) − min J. If that meets ``tol`` the solver
stops; when the inner gap is below half of it, the anchor moves to the current
intercept (the multiplier update). λ is a
tenth of the mean ‖x_i − μ‖² over C (measured best of 0.01–10 on small and text
problems); the solution does not depend on it. Near the largest useful C, where W
is small, most pairs sit at their bound and the intercept does the fitting, that
λ moves b too slowly (thousands of epochs): λ grows tenfold at each multiplier
update that finds the certified gap above a fifth of its value at the previous
one, while more than half of the pairs are at their bound
(``benchmarks/results/dual_cd_notes.md``, "Proximal weight near C_max").

Float32 epochs. For the hinge on dense float64 X the epochs of a long fit, which
stream X and dominate it, read a float32 copy of X's first rows (as many as
``FLOAT32_EPOCHS_MEMORY`` allows) and hold W in float32 (their scores are float32
sums: 12 % less time for the default fit on Fashion-MNIST, the same epochs within
3 %); on dense float32 X they read X itself with float32 weights, with the same
rules for when the phase starts and ends. (Each of the two float32-weight
versions of the epoch kernel takes ~3 s to compile, once per installation, at
the first fit that reaches the phase.) The gap and the certificate are X's problem's:
the primal value is computed on X, and the dual bound from W(α) rebuilt on X
(without an intercept at every check; with one, for the repaired point). The
rounded problem's optimum is not X's, so the epochs read X alone again (from W(α)
rebuilt on X) once the certified gap is below
``FLOAT32_EPOCHS_UNTIL_GAP`` or stops improving (``FLOAT32_EPOCHS_STALL``), and
no copy is made of features whose offset dwarfs their spread
(``FLOAT32_MAX_OFFSET_RATIO``), whose rounding would be noise on that spread.

Exact finishing. While few dual variables are strictly inside their box, the
partition of the pairs read off α (at 0, free, at the bound) is handed to the
active-set finisher of :mod:`sksvm._certificate`, which gives the exact optimum
once the partition is right, with its own certificate. It is attempted at a check once the
epochs since the last attempt have cost about as much as the attempt would
(O(n_free² · nnz/n + n_free³)), and once at convergence, each time only for a
partition not tried before; it matters on small problems, where coordinate
ascent's tail is slow. Fits that need only the certified tol (the folds of a
cross-validated path) make only the attempt at convergence, and only while few
pairs are free (``INEXACT_FINISH_MAX_FREE``).
"""
import hashlib
from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp
from numba import njit

from .. import _certificate, _dual_kernels
from .._kernels import chunk_bounds
from .._losses import get_loss
from .._threads import chunk_count, run_chunks
from ._base import ProgressLog, SolverResult, announce_compile

REQUIRES = ("rows_in_memory",)

# Samples per chunk of the visiting order on CSR input (see shuffle).
SPARSE_CHUNK_SIZE = 64
# ... and on dense input whose rows are short (at most DENSE_CHUNK_MAX_ROW_BYTES)
# in an X much larger than the caches (at least DENSE_CHUNK_MIN_BYTES): there a
# uniform order waits on memory for every row. Blobs, C = 1e-3 and 1e-4,
# random_state 0–2, the same epochs within the seeds' spread:
# 1,000,000 × 100 5.1–5.4 s → 4.0–4.1 s (with an intercept 7.0–7.7 → 5.5–6.0 s),
# 200,000 × 50 (20 classes) 24.8–25.3 → 21.5–22.0 s, 100,000 × 100
# 9.0–9.7 → 7.7–8.1 s. Longer rows gain little (60,000 × 784 Fashion-MNIST: the
# same time per epoch), and on small problems, which fit in the caches, chunks
# only cost randomness (the small-problems suite: 11 % more epochs).
DENSE_CHUNK_SIZE = 8
DENSE_CHUNK_MAX_ROW_BYTES = 2048
DENSE_CHUNK_MIN_BYTES = 2 ** 26
# The exact finishing step makes up to FINISH_ROUNDS active-set corrections, and is
# tried once more at convergence when the gap is above FINISH_FROM.
FINISH_ROUNDS = 8
FINISH_FROM = 1e-12
# Fits that need only the certified tol (``Start.finish_exactly`` False: the folds
# of a cross-validated path) make that last attempt only while at most this many
# pairs are free. It gives small problems their exact optimum (the same fold
# solutions, hence the same chosen C, for weighted and repeated samples); on
# 20000 Fashion-MNIST rows 100–1750 pairs were free, and the attempts were 6.3 s
# of a 44 s path, most of them not reaching the optimum.
# They make no amortized attempts: warm-started, their tails are short. Paths
# (5 folds, 10 values of C, refit=False), runs alternated: digits 2.24, 2.11 s →
# 1.53, 1.49 s (878 iterations against 911); 20000 Fashion-MNIST rows 23.2 →
# 18.0 s; sparse text 14.2, 15.0 → 13.8, 13.6 s.
INEXACT_FINISH_MAX_FREE = 100
# The fixed cost of an attempt (Python and LAPACK calls), in multiply-adds, and
# the passes over X that each of its rounds makes (weights, objective value,
# certificate, margins).
FINISH_OVERHEAD = 1e5
FINISH_PASSES = 4
# After an amortized attempt that fails, the work due before the next grows by
# this factor (back to one after a success): on Fashion-MNIST's cross-validated
# path 3 of 113 attempts succeeded, and the failed ones cost about as much as the
# epochs between them.
FINISH_BACKOFF = 2.0
# A run with a hand-over gap (the Newton solver's start epochs) stops at a check
# whose certified gap is at most that gap unless the gap's rate of decrease since
# the previous check reaches tol within this fraction of the epochs run so far:
# where the epochs converge linearly (the 1,000,000 × 100 blobs: 3.4e-2 to 4.0e-3
# in two epochs) they finish the fit themselves; in a sublinear tail (Fashion-MNIST:
# 1.07e-2 to 9.5e-3 in eight epochs, after 137) the Newton steps take over.
HANDOVER_EPOCH_FRACTION = 0.5
# ... and above that gap, once the rate would not reach it within this many times
# the epochs left (of max_iter): on unscaled data (100000 × 60, one feature × 1e3)
# the gap fell from 0.998 to 0.932 in 1000 epochs (50 s), then the Newton steps
# certified 1e-3 in 2 s.
HANDOVER_STALL_FACTOR = 10.0
HANDOVER_STALL_MIN_EPOCHS = 20
# With an intercept, the certified gap is computed once the inner gap is below this.
CERTIFY_BELOW = 1e-2
# λ = LAMBDA_FACTOR · mean ‖x_i − μ‖² / C (measured best of 0.01–10).
LAMBDA_FACTOR = 0.1
# A gap pass is made once the epochs since the last one have read this many times
# the entries of X, or CHECK_WORK_FRACTION of what all epochs so far have read if
# that is more, up to CHECK_INTERVAL_MAX: short runs are checked as often as
# before, long ones spend less on checks (a pass costs about an epoch).
# Standardized Fashion-MNIST with an intercept, C = 1e-3 (536–903 epochs): a
# fixed interval of 2 took 49.7 and 53.5 s, of 8: 39.9 and 43.3 s
# (benchmarks/results/dual_cd_notes.md).
CHECK_INTERVAL = 2.0
CHECK_WORK_FRACTION = 1.0 / 16.0
CHECK_INTERVAL_MAX = 8.0
# ... and after CHECK_MAX_EPOCHS epochs, or an epoch whose largest KKT violation
# is below STALL_VIOLATION times the margin, whatever they read. When shrinking
# leaves a few rows active (or only CSR rows without entries), epochs read almost
# nothing: on 16000 documents of the sparse text set near the largest useful C,
# one check came at epoch 3 and the next at max_iter (10000 epochs in 0.4 s), the
# inner problem solved to 5e-14 all along and the anchor waiting for a check.
CHECK_MAX_EPOCHS = 100
STALL_VIOLATION = 1e-12
# The shrinking threshold is at most SHRINK_THRESHOLD_MAX times the margin. With
# the previous epoch's largest violation alone it stayed at 1.3–10 δ on
# standardized Fashion-MNIST (C = 1e-3) through 207 epochs, and 35000–60000 of the
# 60000 rows stayed active, where at the optimum 59 % of the rows have every
# pair's margin below −0.5 δ. Default fit (intercept): 23.6 s without the cap;
# caps of 1, 0.5, 0.3, 0.2, 0.1, 0: 19.0, 16.5, 15.4, 14.4, 13.2, 12.9 s, the
# same epochs (223–229). Blobs 1,000,000 × 100 (well separated): 11 epochs,
# 4.6 s without the cap; 0.3: 9, 3.2 s; 0.2: 12, 2.9 s; 0.1: 40, 4.0 s; 0: 104,
# 6.7 s (rows shrunk too early come back at every check).
SHRINK_THRESHOLD_MAX = 0.2
# λ grows by LAMBDA_GROWTH at a multiplier update that finds the certified gap
# above LAMBDA_GROWTH_PROGRESS times its value at the previous update.
LAMBDA_GROWTH = 10.0
LAMBDA_GROWTH_PROGRESS = 0.2
# ... and only while more than this fraction of the pairs is at the upper bound:
# the regime near the largest useful C, where W is small and the intercept does
# the fitting (at small C, larger steps on b made coordinate ascent stall).
LAMBDA_GROWTH_AT_BOUND = 0.5
# ... up to this many times its first value, so that growth, which makes the inner
# problems harder, cannot feed without end on the stalls it causes. (At C_max on a
# Fashion-MNIST fold a limit of 1e3 stopped at max_iter with gap 4e-3; 1e6
# converged in the same 6684 epochs as no limit.)
LAMBDA_MAX_GROWTH = 1e6
# Checks also evaluate the primal point averaged over the epochs since the last
# check once the certified gap is within this many times tol (module docstring).
AVERAGE_BELOW = 4.0
# ... taking a point into the mean (k·d additions) after an epoch only once the
# epochs since the last one have read AVERAGE_SNAPSHOT_WORK · d entries of X (k
# times as many multiply-adds), so that it costs at most a tenth of them. (Near the
# largest useful C on sparse text, 50000 features and 20 classes, most epochs
# touch a handful of rows: a point after each of them made the path 6.6 times
# slower at that C.)
AVERAGE_SNAPSHOT_WORK = 10.0
# The intercept's anchor moves once the inner gap is below this fraction of the
# certified gap and of the inner gap at the previous move (inexact method of
# multipliers: the inner problems' accuracy at the moves must keep improving, or
# moves at every check can keep the inner problem from ever being solved).
# Measured 0.1, 0.5 and 1 (all of Fashion-MNIST: 568, 434 and 399 epochs; 20000
# rows: 1487, 1144, 1042; the small-problems suite: epochs' geometric mean 1,
# 0.90, 0.97, with 2 and 5 problems 1.5 times slower than at 0.1).
ANCHOR_FRACTION = 0.5
# In long fits (from FLOAT32_EPOCHS_AFTER passes' worth of epochs on) the hinge's
# epochs on dense float64 X read a float32 copy of its first rows (at most
# FLOAT32_EPOCHS_MAX_BYTES, and FLOAT32_EPOCHS_MEMORY times the size of X less
# FLOAT32_EPOCHS_SOLVER_ARRAYS (n, k) arrays of the solver's, so that a fit's peak
# stays within 1.5 × X; none when that is under half the rows): half the memory
# traffic of the epochs, which stream X and dominate long fits. (From the start,
# the copy and the checks' rebuilds of W made a 1,000,000 × 100 fit of a few
# epochs 1.5 times slower.)
# Without an intercept the checks rebuild W(α) from X itself, so the certificate
# is that of the float64 problem; with one, the certified bound rebuilds the
# repaired point's W from X, and the epochs' W serves as the primal point (J is
# computed on X). (Rebuilding at every check as well cost 12 % of the default fit
# on Fashion-MNIST: 36.8 and 38.5 s against 32.4 and 32.9 s.)
# But the rounded problem's optimum is not X's: with float32 epochs throughout,
# the certified gap stalled at 7.8e-6 (intercept) and 8.9e-7 (none) on 3000
# standardized Fashion-MNIST rows, where float64 epochs reach 1e-9. So the epochs
# read X itself again once the certified gap is below
# FLOAT32_EPOCHS_UNTIL_GAP, or after FLOAT32_EPOCHS_STALL checks without a
# smaller one.
FLOAT32_EPOCHS_MAX_BYTES = 2 ** 31
FLOAT32_EPOCHS_MEMORY = 0.45
FLOAT32_EPOCHS_SOLVER_ARRAYS = 4
FLOAT32_EPOCHS_AFTER = 30.0
FLOAT32_EPOCHS_UNTIL_GAP = 1e-4
FLOAT32_EPOCHS_STALL = 10
# A value's rounding error is relative to the value, but what it perturbs is the
# feature's spread: no copy when a feature's largest |x| exceeds this many times
# its standard deviation (features offset by 1e4 with a spread of 2 stalled the
# fit, uncertified, at max_iter). Uncertified checks count as stalled, up to
# FLOAT32_EPOCHS_UNCERTIFIED times FLOAT32_EPOCHS_STALL.
FLOAT32_MAX_OFFSET_RATIO = 1e3
FLOAT32_EPOCHS_UNCERTIFIED = 5
# W is held in float32 only while no entry can exceed this: |W| ≤ (k − 1)·max|x|/C
# for the hinge (Σ_j α_ij ≤ (k − 1)·s_i/S), and float32 overflows at 3.4e38.
FLOAT32_WEIGHTS_MAX = 1e30

# Entries of X that a warm start's data fingerprint reads (data_fingerprint).
FINGERPRINT_ENTRIES = 65536

_TINY = np.finfo(float).tiny


@dataclass
class DualCDState:
    """Warm-start state: the dual point of a fit and the data it belongs to.

    Attributes
    ----------
    fingerprint : str
        :func:`data_fingerprint` of the fit's (X, y).
    alpha : ndarray of shape (n, k)
        The dual variables α_ij (zero on the label entries).
    prox_weight : float or None
        The intercept's proximal weight λ that the epochs had grown to by the end
        of the fit, when they ended near the largest useful C (more than
        ``LAMBDA_GROWTH_AT_BOUND`` of the pairs at their bound); None otherwise.
        A warm fit's epochs start from it where it exceeds their own first λ
        (:meth:`_Run.grown_prox_weight`).
    """

    fingerprint: str
    alpha: np.ndarray
    prox_weight: float | None = None


@njit(cache=True)
def _dense_sq_norms(X):
    n, d = X.shape
    out = np.empty(n)
    for i in range(n):
        acc = 0.0
        for f in range(d):
            v = float(X[i, f])
            acc += v * v
        out[i] = acc
    return out


@njit(cache=True)
def _csr_sq_norms(data, indptr):
    n = indptr.shape[0] - 1
    out = np.empty(n)
    for i in range(n):
        acc = 0.0
        for p in range(indptr[i], indptr[i + 1]):
            v = float(data[p])
            acc += v * v
        out[i] = acc
    return out


@njit(cache=True)
def _float32_copy(X, out):
    """``out`` = X rounded to float32; False when a value overflows float32 or
    underflows to zero (the copy would then not be X up to rounding)."""
    n, d = X.shape
    faithful = True
    for i in range(n):
        for f in range(d):
            value = X[i, f]
            rounded = np.float32(value)
            out[i, f] = rounded
            if np.isinf(rounded) or (rounded == 0.0 and value != 0.0):
                faithful = False
    return faithful


@njit(cache=True)
def _offsets_are_small(X, ratio):
    """Whether every feature's largest |x| is at most ``ratio`` times its standard
    deviation, constant features aside (their rounding is the same in every row;
    a computed deviation below 1e-12 of the largest |x| is rounding in the mean).
    Two passes over the rows, the deviations from the mean (no cancellation for
    large offsets)."""
    n, d = X.shape
    mean = np.zeros(d)
    largest = np.zeros(d)
    for i in range(n):
        for f in range(d):
            value = X[i, f]
            mean[f] += value
            largest[f] = max(largest[f], abs(value))
    mean /= n
    spread = np.zeros(d)
    for i in range(n):
        for f in range(d):
            spread[f] += (X[i, f] - mean[f]) ** 2
    for f in range(d):
        std = np.sqrt(spread[f] / n)
        if 1e-12 * largest[f] < std < largest[f] / ratio:
            return False
    return True


def data_fingerprint(X, y):
    """A hash of (X, y) identifying the data a dual point belongs to: of X's
    shape and type, all of y (and, for CSR X, of its row pointers), and of
    ``FINGERPRINT_ENTRIES`` entries of X spread evenly over it.

    A warm start only needs to recognize the data, not to prove it unchanged:
    any dual point of data with the same rows, labels and weights is feasible
    (its box depends on the weights alone, and the solvers clip and repair it),
    so data that differ outside the sampled entries would only start from a
    poorer point, never at a wrong one. Hashing all of X took 52 ms for a
    16000 × 784 fold, 2.8 s of a 50 s cross-validated path on Fashion-MNIST,
    which hashes its folds' data at every fit."""
    h = hashlib.sha1(usedforsecurity=False)
    h.update(repr((type(X).__name__, X.shape, str(X.dtype))).encode())
    if sp.issparse(X):
        spread = _spread_positions(X.nnz)
        arrays = (X.indptr, X.data[spread], X.indices[spread])
    else:
        spread = _spread_positions(X.size)
        arrays = (X[np.divmod(spread, max(X.shape[1], 1))],)
    for a in arrays + (np.asarray(y, dtype=np.int64),):
        h.update(memoryview(np.ascontiguousarray(a)).cast("B"))
    return h.hexdigest()


def _spread_positions(size):
    """At most ``FINGERPRINT_ENTRIES`` positions spread evenly over ``size``."""
    return np.linspace(0, size - 1, min(size, FINGERPRINT_ENTRIES)).astype(np.int64)


def _row_sq_norms(X):
    """‖x_i‖² of every row of dense or CSR X, in float64."""
    if sp.issparse(X):
        return _csr_sq_norms(X.data, X.indptr)
    return np.einsum("ij,ij->i", X, X) if X.dtype == np.float64 else _dense_sq_norms(X)


def _weighted_center(X, sample_weight):
    """The weighted mean row μ and X μ."""
    if sp.issparse(X):
        center = _dual_kernels.csr_weighted_mean(X.data, X.indices, X.indptr,
                                                 sample_weight, X.shape[1])
        return center, _dual_kernels.csr_row_dots(X.data, X.indices, X.indptr, center)
    return _dual_kernels.dense_center(X, sample_weight)


class _DualData:
    """The objective's data in kernel-ready form, fixed for the run.

    ``center`` is the weighted mean row μ the inner problems are centered on (zero
    without an intercept), ``row_dot_center`` = X μ, ``prox_weight`` the λ of the
    intercept's proximal term, and ``block_curvature`` the q_i = ‖x_i − μ‖²/C + λ of
    the block problems. Weights are kept in the solver's layout: (k, d) for dense X,
    (d, k) for CSR X.
    """

    def __init__(self, objective, float32_epochs=False):
        X = objective.X
        self.objective = objective
        self.sparse = sp.issparse(X)
        self.X = X
        self.rows = (X.data, X.indices, X.indptr) if self.sparse else (X,)
        self.y = objective.y
        self.sample_weight = objective.sample_weight
        self.weight_sum = objective.weight_sum
        self.bound = objective.sample_weight / self.weight_sum
        self.C = objective.C
        self.margin = objective.margin
        self.loss = get_loss(objective.loss)
        self.k = objective.n_classes
        self.d = objective.n_features
        self.n = X.shape[0]
        self.n_threads = objective.n_threads
        self.fit_intercept = objective.fit_intercept
        self.chunk_size = visiting_chunk_size(self.sparse, self.n,
                                              self.d * X.dtype.itemsize)
        self.nnz = max(int(X.nnz), 1) if self.sparse else max(self.n * self.d, 1)
        sq_norms = objective.derived("row_sq_norms", lambda: _row_sq_norms(X))
        if self.fit_intercept:
            # With an intercept, (W, b) on X and (W, b + W μ) on X − 1μᵀ score
            # alike: solve the better-conditioned centered problem implicitly.
            self.center, self.row_dot_center = objective.derived(
                "weighted_center", lambda: _weighted_center(X, self.sample_weight))
            self.center_sq = float(self.center @ self.center)
            centered = np.maximum(sq_norms - 2.0 * self.row_dot_center
                                  + self.center_sq, 0.0)
            positive = self.sample_weight > 0
            sigma2 = float(np.mean(centered[positive]))
            self.feature_curvature = centered / self.C
            self.first_prox_weight = (LAMBDA_FACTOR * (sigma2 if sigma2 > 0 else 1.0)
                                      / self.C)
        else:
            self.center = np.zeros(self.d)
            self.row_dot_center = np.zeros(self.n)
            self.center_sq = 0.0
            self.feature_curvature = sq_norms / self.C
            self.first_prox_weight = 0.0
        self.set_prox_weight(self.first_prox_weight)
        # The float32 copy of X's first rows that the dense epochs read instead
        # (none: zero rows; float32 X serves as its own), and how many rows a
        # copy may hold.
        self.drop_float32_epochs()
        self.rounded_rows_allowed = 0
        if float32_epochs and not self.sparse and self.loss.bounded:
            if X.dtype == np.float32:
                self.rounded_rows_allowed = self.n
            else:
                budget = min(FLOAT32_EPOCHS_MAX_BYTES,
                             FLOAT32_EPOCHS_MEMORY * X.nbytes
                             - FLOAT32_EPOCHS_SOLVER_ARRAYS * 8 * self.n * self.k)
                n_rows = min(self.n, int(budget // (4 * max(self.d, 1))))
                if n_rows >= self.n / 2:
                    self.rounded_rows_allowed = n_rows

    def set_prox_weight(self, prox_weight):
        """Set λ, and with it the block curvatures q_i = ‖x_i − μ‖²/C + λ."""
        self.prox_weight = prox_weight
        self.block_curvature = self.feature_curvature + prox_weight

    @property
    def largest_prox_weight(self):
        """The most λ may grow to (``LAMBDA_MAX_GROWTH`` times its first value)."""
        return LAMBDA_MAX_GROWTH * self.first_prox_weight

    def raise_prox_weight(self, prox_weight):
        """Set λ to ``prox_weight`` if that is larger, up to
        :attr:`largest_prox_weight`."""
        if self.prox_weight < prox_weight:
            self.set_prox_weight(min(prox_weight, self.largest_prox_weight))

    def new_weights(self):
        return np.zeros((self.d, self.k) if self.sparse else (self.k, self.d))

    @property
    def rounded_epochs(self):
        """Whether the epochs read float32 rows (a copy of rows of float64 X, or
        float32 X itself), with float32 weights unless they could overflow."""
        return self.rounded_rows.shape[0] > 0

    def start_float32_epochs(self):
        """Make the float32 copy of the first rows (once); float32 X is read as
        it is."""
        n_rows, self.rounded_rows_allowed = self.rounded_rows_allowed, 0
        if not n_rows or not _offsets_are_small(self.X, FLOAT32_MAX_OFFSET_RATIO):
            return
        if self.X.dtype == np.float32:
            self.rounded_rows = self.X
            return
        copy = np.empty((n_rows, self.d), dtype=np.float32)
        if _float32_copy(self.X[:n_rows], copy):
            self.rounded_rows = copy

    def float32_weights_fit(self):
        """Whether every entry of W(α) fits float32 far from overflow
        (``FLOAT32_WEIGHTS_MAX``)."""
        largest = self.objective.feature_statistics().max_abs
        return (self.k - 1) * largest / self.C <= FLOAT32_WEIGHTS_MAX

    def drop_float32_epochs(self):
        """Let the epochs read X itself from now on, and free the copy (an empty
        array, not an empty view that would keep it)."""
        self.rounded_rows = np.empty((0, self.d), dtype=np.float32)

    def epoch(self, state, order, n_active, shrink, eps):
        if self.sparse:
            run, rows = _dual_kernels.csr_epoch, self.rows
        else:
            run, rows = _dual_kernels.dense_epoch, (self.X, self.rounded_rows)
        return run(*rows, self.y, self.bound, self.block_curvature,
                   self.row_dot_center, self.center_sq, order, n_active,
                   state.weights, state.offsets, state.alpha, self.prox_weight, self.C,
                   self.margin, self.loss.code, shrink, eps)

    def gap_pass(self, alpha, eps, shrinkable, W, b):
        """(Σ s_i Σ ℓ, Σ α, conjugate sum) at the primal point (W, b) in the
        solver's layout, and the shrinking test into ``shrinkable``.

        The rows are split into chunks run on up to ``n_threads`` threads (the
        kernel releases the GIL, :func:`sksvm._threads.run_chunks`), and the chunk
        sums are added in order: deterministic for a fixed thread count.
        """
        rows = (_dual_kernels.csr_gap_rows if self.sparse
                else _dual_kernels.dense_gap_rows)
        head = (*self.rows, self.y, self.sample_weight, self.bound, alpha, W, b,
                self.margin, self.loss.code, eps)
        n_chunks = chunk_count(self.n_threads, self.nnz * self.k)
        bounds = chunk_bounds(self.n, n_chunks)
        parts = [None] * n_chunks

        def run(c):
            parts[c] = rows(*head, bounds[c], bounds[c + 1], shrinkable)

        run_chunks(run, n_chunks, self.n_threads)
        if n_chunks == 1:
            return parts[0]
        return tuple(float(sum(p[i] for p in parts)) for i in range(3))

    def rebuild(self, alpha, out):
        """The uncentered W(α) into ``out`` (solver layout)."""
        if self.sparse:
            _dual_kernels.csr_rebuild(*self.rows, self.y, alpha, self.C, out)
        else:
            _certificate.dense_dual_coef(self.X, self.y, alpha, self.C, out,
                                         self.n_threads)
        return out

    def dual_value(self, alpha_sum, conjugate, W):
        return self.loss.dual_value(
            self.margin * alpha_sum, 0.5 * self.C * float(np.vdot(W, W)) + conjugate)

    def to_coef(self, W):
        """(k, d) float64 copy of a solver-layout weight matrix."""
        return np.ascontiguousarray(W.T) if self.sparse else np.array(W)

    def from_coef(self, coef):
        """A (k, d) weight matrix in the solver's layout."""
        return np.ascontiguousarray(coef.T) if self.sparse else coef

    def class_flow_imbalance(self, alpha):
        """ρ(α) = Σ_i Σ_j α_ij (e_{y_i} − e_j): net outflow of the class flow."""
        flows = _certificate.class_flows(self.y, alpha, self.k)
        return flows.sum(axis=1) - flows.sum(axis=0)


class _DualState:
    """The iterate: ``alpha``, the raw weights V = W(α) (solver layout), and the
    ``offsets`` rows that give the centered problem's scores in O(k) (read by the
    kernels, see :func:`sksvm._dual_kernels._offsets`): the centered problem's
    intercept B̃ = anchor + λ ρ(α), V μ, and ρ(α). ``anchor`` is the center of the
    intercept's proximal term (the method of multipliers' current intercept)."""

    def __init__(self, data, alpha, anchor):
        self.data = data
        self.alpha = alpha
        self.anchor = anchor
        self.weights = data.new_weights()
        self.offsets = np.zeros((3, data.k))

    @property
    def centered_intercept(self):
        return self.offsets[0]

    @property
    def flow_imbalance(self):
        return self.offsets[2]

    def refresh(self):
        """Recompute the offsets from α (removes rounding drift)."""
        data = self.data
        rho = data.class_flow_imbalance(self.alpha)
        self.offsets[2] = rho
        self.offsets[1] = (data.center @ self.weights if data.sparse
                           else self.weights @ data.center)
        self.offsets[0] = self.anchor + data.prox_weight * rho

    def primal_point(self, weights=None, offsets=None):
        """(W, b) in the original coordinates, W in the solver's layout:
        W̃ = V − μ ρᵀ/C and b = B̃ − W̃ μ, for the state's raw weights V and offsets
        or the given ones (the map is affine: it commutes with averaging)."""
        data = self.data
        weights = self.weights if weights is None else weights
        if not data.fit_intercept:
            return weights, np.zeros(data.k)
        B, weights_dot_center, rho = self.offsets if offsets is None else offsets
        shift = rho / data.C
        if data.sparse:
            W = weights - np.outer(data.center, shift)
        else:
            W = weights - np.outer(shift, data.center)
        return W, B - weights_dot_center + shift * data.center_sq

    def set_point(self, intercept, coef=None):
        """Set the weights to W(α), given as ``coef`` ((k, d), built from X's
        rows) or rebuilt from α, and move the anchor so that the primal point's
        intercept is ``intercept``."""
        if coef is None:
            self.rebuild_weights()
        else:
            self.weights[:] = self.data.from_coef(coef)
        self.refresh()
        if self.data.fit_intercept:
            _, current = self.primal_point()
            self.anchor += intercept - current
            self.refresh()

    def rebuild_weights(self):
        """Set the raw weights to W(α) built from X; returns it in float64 (the
        raw weights may be held in float32, see :meth:`set_precision`)."""
        exact = self.data.rebuild(self.alpha, self.data.new_weights())
        self.weights[:] = exact
        return exact

    def set_precision(self, dtype):
        """Hold the raw weights in ``dtype`` from now on (float32 while the
        epochs read the float32 copy of X)."""
        if self.weights.dtype != dtype:
            self.weights = self.weights.astype(dtype)

    def fraction_at_bound(self):
        """The fraction of the pairs (i, j ≠ y_i) whose α_ij is at its upper bound."""
        data = self.data
        weighted = data.bound > 0
        at_bound = np.count_nonzero(self.alpha[weighted] >= data.bound[weighted, None])
        return at_bound / max(np.count_nonzero(weighted) * (data.k - 1), 1)

    def partition_key(self):
        """A hash of which dual variables are at 0, strictly inside, at the bound."""
        state = (self.alpha > 0).astype(np.int8)
        if self.data.loss.bounded:
            state += self.alpha >= self.data.bound[:, None]
        return hashlib.blake2b(state.tobytes(), digest_size=16).hexdigest()


def visiting_chunk_size(sparse, n_rows, row_bytes):
    """The ``chunk_size`` of :func:`shuffle` for X: ``SPARSE_CHUNK_SIZE`` for CSR,
    ``DENSE_CHUNK_SIZE`` for dense X of short rows much larger than the caches,
    else 1 (a uniform permutation)."""
    if sparse:
        return SPARSE_CHUNK_SIZE
    if (row_bytes <= DENSE_CHUNK_MAX_ROW_BYTES
            and n_rows * row_bytes >= DENSE_CHUNK_MIN_BYTES):
        return DENSE_CHUNK_SIZE
    return 1


def shuffle(order, n_active, random_state, chunk_size):
    """Reorder ``order[:n_active]`` at random, in chunks of nearby samples: runs of
    ``chunk_size`` consecutive indices (of the sorted active samples) in random
    order, each run shuffled; ``chunk_size=1`` is a uniform random permutation.

    On CSR input a uniform permutation makes every block step miss the cache on its
    short row of X and on its row of α; chunks keep those reads within a few pages
    (benchmarks/results/dual_cd_notes.md). Long dense rows keep the hardware
    prefetcher busy and take the uniform permutation; short ones in a large X
    get small chunks (:func:`visiting_chunk_size`).
    """
    if chunk_size <= 1:
        order[:n_active] = order[:n_active][random_state.permutation(n_active)]
        return
    active = np.sort(order[:n_active])
    n_chunks = -(-n_active // chunk_size)
    _dual_kernels.chunked_order(active, chunk_size, random_state.permutation(n_chunks),
                                random_state.random_sample(n_active), order)


def solve(objective, start, *, tol, max_iter, random_state, verbose=0, shrinking=True,
          check_interval=CHECK_INTERVAL):
    """Maximize the dual of ``objective`` by exact block coordinate ascent.

    Parameters
    ----------
    objective : MulticlassSVMObjective
    start : Start
        A :class:`DualCDState` in ``start.state`` from a fit on the same (X, y)
        gives the dual start point, with ``start.intercept`` as the start of the
        intercept; otherwise the run starts from α = 0 (its iterates are dual
        points, which a primal start point cannot supply).
    tol : float
        Target relative duality gap (J − D)/J.
    max_iter : int
        Maximum number of epochs.
    random_state : numpy.random.RandomState
        Draws the sample order of every epoch.
    verbose : int
    shrinking : bool
        Skip blocks that sit at their bounds (module docstring).
    check_interval : float
        A duality-gap pass is made once the epochs since the last one have read
        this many times the entries of X, or a sixteenth of what all epochs have
        read, up to ``max(check_interval, CHECK_INTERVAL_MAX)`` times (and after
        the last epoch).

    Returns
    -------
    SolverResult
        With a :class:`DualCDState` when ``start.keep_state``.
    """
    want_fingerprint = start.keep_state or isinstance(start.state, DualCDState)
    fingerprint = (data_fingerprint(objective.X, objective.y) if want_fingerprint
                   else None)
    warm = (isinstance(start.state, DualCDState)
            and start.state.fingerprint == fingerprint)
    result, alpha, prox_weight = ascend(
        objective, start.state.alpha if warm else None,
        start.intercept if warm else None, tol=tol, max_iter=max_iter,
        random_state=random_state, verbose=verbose, shrinking=shrinking,
        check_interval=check_interval, float32_epochs=True,
        finish_exactly=start.finish_exactly,
        prox_weight0=start.state.prox_weight if warm else None)
    if start.keep_state:
        result.state = DualCDState(fingerprint, alpha, prox_weight)
    return result


def ascend(objective, alpha0, intercept0, *, tol, max_iter, random_state, verbose=0,
           shrinking=True, check_interval=CHECK_INTERVAL, float32_epochs=False,
           average_primal=True, finish_exactly=True, handover_gap=None, max_work=None,
           prox_weight0=None):
    """:func:`solve` from the dual point ``alpha0`` (None: α = 0), without the
    warm-start bookkeeping.

    Parameters
    ----------
    objective : MulticlassSVMObjective
    alpha0 : ndarray of shape (n, k) or None
        Start multipliers of the same data (clipped into the box).
    intercept0 : ndarray of shape (k,) or None
        Start intercepts (with ``alpha0``).
    tol, max_iter, random_state, verbose, shrinking, check_interval
        As for :func:`solve`.
    float32_epochs : bool
        Let a long run's hinge epochs on dense float64 X read a float32 copy of
        its first rows (module docstring, "Float32 epochs"); :func:`solve` and
        the Newton solver's start epochs do (the copy is released before the
        Newton steps: on all of Fashion-MNIST their fits peaked at 1.41–1.42 × X
        against 1.39–1.40 without it, and took 20.5–23.2 s against 21.2–26.0 s).
    average_primal : bool
        Also evaluate the averaged primal point near ``tol`` (module docstring).
        The Newton solver's start epochs do not: its steps start from the
        returned weights and the final α, and from averaged weights they took
        65 s instead of 51.5 s on Fashion-MNIST.
    finish_exactly : bool
        Make the exact finishing step's attempt at convergence whatever the number
        of free pairs; otherwise only up to ``INEXACT_FINISH_MAX_FREE``
        (``Start.finish_exactly``).
    handover_gap : float or None
        Stop, unconverged, where another solver should take over (``_Run.hand_over``):
        at a check that certifies at most this gap unless the gap's rate of
        decrease since the previous check reaches ``tol`` within
        ``HANDOVER_EPOCH_FRACTION`` of the epochs run so far, or earlier where
        the gap stalls above it. None: run to ``tol`` or ``max_iter``.
    max_work : float or None
        Also stop, unconverged, at the check after the epochs have read this many
        entries of X in all (shrunk rows are not read). None: no such limit.
    prox_weight0 : float or None
        With an intercept, start λ there instead of at its first value when it
        is larger (up to the same limit): the λ a previous fit on the same data
        grew to (``DualCDState.prox_weight``, :meth:`_Run.grown_prox_weight`).

    Returns
    -------
    result : SolverResult
        Without a state.
    alpha : ndarray of shape (n, k)
        The final dual point.
    prox_weight : float or None
        :meth:`_Run.grown_prox_weight`, for the next warm start.
    """
    announce_compile("dual_cd", _dual_kernels.compiled_kernels(sp.issparse(objective.X)),
                     verbose)
    data = _DualData(objective, float32_epochs)
    if prox_weight0 is not None:
        data.raise_prox_weight(prox_weight0)
    warm = alpha0 is not None
    alpha = np.zeros((data.n, data.k))
    if warm:
        alpha[:] = np.maximum(alpha0, 0.0)
        if data.loss.bounded:
            np.minimum(alpha, data.bound[:, None], out=alpha)
        alpha[np.arange(data.n), data.y] = 0.0
        alpha[data.sample_weight == 0] = 0.0
    state = _DualState(data, alpha, np.zeros(data.k))
    state.set_point(np.asarray(intercept0, dtype=np.float64) if warm
                    else np.zeros(data.k))
    run = _Run(data, state, tol=tol, max_iter=max_iter, random_state=random_state,
               verbose=verbose, shrinking=shrinking, check_interval=check_interval,
               average_primal=average_primal, finish_exactly=finish_exactly,
               handover_gap=handover_gap, max_work=max_work)
    return run.run(cold=not warm), state.alpha, run.grown_prox_weight()


class _Run:
    """One run of epochs and checks; keeps the best certified point seen."""

    def __init__(self, data, state, *, tol, max_iter, random_state, verbose,
                 shrinking, check_interval, average_primal=True, finish_exactly=True,
                 handover_gap=None, max_work=None):
        self.data = data
        self.handover_gap = handover_gap
        self.max_work = np.inf if max_work is None else max_work
        # (epoch, progress measure) of each check of this run (see check).
        self.checks = []
        self.average_primal = average_primal
        self.finish_exactly = finish_exactly
        self.state = state
        self.tol = tol
        self.max_iter = max_iter
        self.random_state = random_state
        self.shrinking = shrinking
        self.check_interval = check_interval
        self.log = ProgressLog("dual_cd", verbose)
        self.all_active = np.flatnonzero(data.sample_weight > 0).astype(np.int64)
        self.order = self.all_active.copy()
        self.n_active = self.order.shape[0]
        self.shrinkable = np.zeros(data.n, dtype=np.bool_)
        self.eps = np.inf
        self.n_checks = 0
        self.work_since_finish = 0.0
        # Multiplies the work due before the next amortized finishing attempt:
        # FINISH_BACKOFF after each failed attempt, 1 after a successful one.
        self.finish_backoff = 1.0
        self.last_partition = None
        # The point of lowest J seen (coef, intercept, J) and the highest lower
        # bound on min J seen.
        self.best = None
        self.lower = -np.inf
        # The certified gap at the last multiplier update (intercept only).
        self.gap_at_last_update = np.inf
        self.inner_gap_at_last_update = np.inf
        # Checks in a row without a smaller certified gap (float32 epochs only).
        self.stalled_checks = 0
        # The entries of X (or its copy) the epochs have read.
        self.work_total = 0
        # Sums of the primal points (W, b) after each epoch since the last check,
        # and their count; kept only while ``averaging`` (AVERAGE_BELOW).
        self.averaging = False
        self.window = None
        self.window_size = 0
        self.work_since_snapshot = 0

    @property
    def best_gap(self):
        """The relative gap of the best point so far (inf before any)."""
        if self.best is None or not np.isfinite(self.lower):
            return np.inf
        return (self.best[2] - self.lower) / max(abs(self.best[2]), _TINY)

    def record_point(self, coef, intercept, primal, lower):
        """Record a primal point and a lower bound on min J; returns the point with
        the lowest J so far with its gap to the highest lower bound so far (both
        are bounds on min J, whichever iterates they come from):
        (coef, intercept, relative gap, J)."""
        self.lower = max(self.lower, lower)
        if self.best is None or primal < self.best[2]:
            self.best = (coef, intercept, primal)
        coef, intercept, primal = self.best
        return coef, intercept, self.best_gap, primal

    def add_to_window(self):
        """Add the current raw weights and offsets (which give the primal point)
        to the window's sums."""
        state = self.state
        if self.window_size == 0:
            self.window = (state.weights.astype(np.float64), state.offsets.copy())
        else:
            weights_sum, offsets_sum = self.window
            weights_sum += state.weights
            offsets_sum += state.offsets
        self.window_size += 1

    def averaged_point(self, point):
        """Record the window's mean primal point (when it holds two or more) and
        empty the window; returns :meth:`record_point`'s point, or ``point``."""
        size, self.window_size = self.window_size, 0
        if size < 2:
            return point
        data = self.data
        weights_sum, offsets_sum = self.window
        self.window = None
        weights_sum /= size
        offsets_sum /= size
        W, b = self.state.primal_point(weights_sum, offsets_sum)
        scratch = np.empty(data.n, dtype=np.bool_)
        loss_sum = data.gap_pass(self.state.alpha, np.inf, scratch, W, b)[0]
        # A primal candidate only: it brings no lower bound.
        primal = data.objective.value_from_loss_sum(loss_sum, W)
        return self.record_point(data.to_coef(W), b, primal, -np.inf)

    def try_finish(self, point, final):
        """The exact finishing step; returns the better of it and ``point``."""
        data, state = self.data, self.state
        if not final:
            # Amortized: attempt it once the epochs since the last attempt cost
            # about as much as one round of it would: the free pairs' system, and
            # the passes over X for its weights, margins and certificate.
            n_free = _certificate.count_free(data.objective, state.alpha)
            if n_free > _certificate.MAX_FREE_PAIRS:
                return point
            row_nnz = data.nnz / max(data.n, 1)
            cost = (n_free * n_free * row_nnz + n_free ** 3 / 3.0
                    + FINISH_PASSES * data.nnz * data.k + FINISH_OVERHEAD)
            if self.work_since_finish * data.k < cost * self.finish_backoff:
                return point
        self.work_since_finish = 0.0
        partition = state.partition_key()
        if partition == self.last_partition:
            return point  # same partition, same result as last time
        self.last_partition = partition
        candidate = _certificate.finish(
            data.objective, *_certificate.partition_from_alpha(data.objective,
                                                               state.alpha),
            max_rounds=FINISH_ROUNDS)
        # Adopt a better point; while the current point has no certified gap yet
        # (intercept, inner problem unsolved), only a converged one: moving the
        # anchor to a poor point would undo the inner iterations.
        if candidate is None or not candidate[3] < point[2] or (
                not np.isfinite(point[2]) and not candidate[3] <= self.tol):
            self.finish_backoff *= FINISH_BACKOFF
            return point
        self.finish_backoff = 1.0
        alpha, coef, intercept, gap, primal = candidate
        state.alpha[:] = alpha
        state.set_point(intercept, coef)
        return self.record_point(coef, intercept, primal,
                                 primal - gap * max(abs(primal), _TINY))

    def check(self, epoch):
        """Full pass: certified gap and shrinking set. Returns (point, done) with
        point = (coef, intercept, relative gap, J) from :meth:`record_point`."""
        data, state = self.data, self.state
        self.n_checks += 1
        rebuilt = None
        if data.rounded_epochs and not data.fit_intercept:
            # The epochs' W is built from the rounded rows (and held in float32),
            # and without an intercept the dual value below is D(α) through W:
            # W(α) from X itself. (With one, the certified bound rebuilds the
            # repaired α's W from X, and the epochs' W is as good a primal point
            # as any.)
            rebuilt = state.rebuild_weights()
        state.refresh()
        W, b = state.primal_point(rebuilt)
        loss_sum, alpha_sum, conjugate = data.gap_pass(
            state.alpha, self.eps if self.shrinking else np.inf, self.shrinkable, W, b)
        primal = data.objective.value_from_loss_sum(loss_sum, W)
        scale = max(abs(primal), _TINY)
        dual = data.dual_value(alpha_sum, conjugate, W)
        extra = ""
        inner_gap = 0.0
        if data.fit_intercept:
            # The dual of the centered problem at its fixed intercept B̃ is the
            # dual of the inner (proximal) problem: this is the inner gap.
            inner_gap = (primal - dual + float(np.dot(state.centered_intercept,
                                                      state.flow_imbalance))) / scale
            extra = f"inner gap {inner_gap:.2e}  "
            lower = -np.inf
            if inner_gap <= max(self.tol, CERTIFY_BELOW):
                # The raw weights are W(α) up to rounding drift (below 1e-12
                # relative) unless the epochs read rounded rows.
                exact = None if data.rounded_epochs else data.to_coef(state.weights)
                lower = _certificate.dual_lower_bound(data.objective, state.alpha,
                                                      exact)[0]
        else:
            lower = dual
        previous = self.best_gap
        point = self.record_point(data.to_coef(W), b.copy(), primal, lower)
        # How fast the epochs converge (:meth:`hand_over`): with an intercept the
        # inner gap, which every check computes (the certified gap only once the
        # inner gap is small).
        self.checks.append((epoch, inner_gap if data.fit_intercept else point[2]))
        if self.tol < point[2]:
            point = self.averaged_point(point)
        self.window_size = 0
        relative = point[2]
        self.averaging = (self.average_primal
                          and relative <= AVERAGE_BELOW * self.tol)
        if data.rounded_epochs:
            self.stalled_checks = (0 if relative < previous
                                   else self.stalled_checks + 1)
            limit = FLOAT32_EPOCHS_STALL * (1 if np.isfinite(relative)
                                            else FLOAT32_EPOCHS_UNCERTIFIED)
            if (relative <= FLOAT32_EPOCHS_UNTIL_GAP
                    or self.stalled_checks >= limit):
                data.drop_float32_epochs()
                # The epochs read X from now on, from its own W(α) in float64.
                state.set_precision(np.float64)
                state.rebuild_weights()
                state.refresh()
        elif (data.rounded_rows_allowed and relative > FLOAT32_EPOCHS_UNTIL_GAP
              and self.work_total >= FLOAT32_EPOCHS_AFTER * data.nnz):
            data.start_float32_epochs()
            if data.rounded_epochs and data.float32_weights_fit():
                state.set_precision(np.float32)
        if self.tol < relative and self.finish_exactly:
            point = self.try_finish(point, final=False)
        elif FINISH_FROM < relative <= self.tol and (
                self.finish_exactly or _certificate.count_free(
                    data.objective, state.alpha) <= INEXACT_FINISH_MAX_FREE):
            point = self.try_finish(point, final=True)
        done = point[2] <= self.tol
        if data.fit_intercept and not done and np.isfinite(point[2]) and (
                inner_gap <= self.tol
                or inner_gap <= ANCHOR_FRACTION * min(point[2],
                                                      self.inner_gap_at_last_update)):
            # Multiplier update: re-anchor at the current intercept of the centered
            # problem; every block may move again.
            state.anchor[:] = state.centered_intercept
            self.shrinkable[:] = False
            if (point[2] > LAMBDA_GROWTH_PROGRESS * self.gap_at_last_update
                    and data.prox_weight < data.largest_prox_weight
                    and state.fraction_at_bound() > LAMBDA_GROWTH_AT_BOUND):
                # The updates stall (near the largest useful C the intercept is
                # fitted to the class totals, far from the anchor): take larger
                # proximal steps on b.
                data.raise_prox_weight(LAMBDA_GROWTH * data.prox_weight)
                state.refresh()
            self.gap_at_last_update = point[2]
            self.inner_gap_at_last_update = inner_gap
        if self.shrinking and not done:
            self.order = self.all_active[~self.shrinkable[self.all_active]]
            self.n_active = self.order.shape[0]
        self.log.record(epoch, point[3], self.n_checks, point[2],
                        extra=f"{extra}active {self.n_active}/"
                              f"{self.all_active.shape[0]}  ")
        return point, done

    def grown_prox_weight(self):
        """The intercept's proximal weight λ, when the multiplier updates grew it
        and the run ended near the largest useful C (more than
        ``LAMBDA_GROWTH_AT_BOUND`` of the pairs at their bound); None otherwise.

        A warm fit on the same data at a nearby C (a path's next C) starts from
        it instead of growing λ again from its first value. Paths (10 values of
        C, 5 folds, ``refit=False``), runs alternated: 20000 Fashion-MNIST rows
        16.2, 18.2 s against 20.1, 19.7 s (3090 iterations against 5371; on one
        fold 3, 5 and 8 instead of 111, 78 and 314 at the second to fourth C);
        the sparse text 15.3, 17.2 s against 15.4, 17.7 s (825 epochs against
        997). Starting from the same growth factor instead (a λ 2.8 times larger
        at the next C) stalled the text's third and fourth C (31, 79 epochs
        against 5, 4). The Newton solver passes it to the start epochs that run
        a large problem's fit, not to the few before a small problem's steps
        (on the digits that was 2.00, 2.30 s against 1.81, 2.10 s).
        """
        data = self.data
        if (data.prox_weight > data.first_prox_weight
                and self.state.fraction_at_bound() > LAMBDA_GROWTH_AT_BOUND):
            return data.prox_weight
        return None

    def check_work(self, work_total, nnz):
        """The epochs' work (entries of X read) after which the next gap pass is
        due, given ``work_total`` read so far (``CHECK_WORK_FRACTION``)."""
        passes = min(max(self.check_interval, CHECK_WORK_FRACTION * work_total / nnz),
                     max(self.check_interval, CHECK_INTERVAL_MAX))
        return passes * nnz

    def rate_since(self, epoch):
        """The rate (per epoch) at which the progress measure fell from the last
        check at or before ``epoch`` to the latest check; None without a finite
        fall."""
        last_epoch, last = self.checks[-1]
        for start_epoch, start in reversed(self.checks[:-1]):
            if start_epoch <= epoch:
                if np.isfinite(start) and start > last > 0.0:
                    return np.log(start / last) / (last_epoch - start_epoch)
                return None
        return None

    def hand_over(self, gap, epoch):
        """Whether a run with a hand-over gap stops at this check (unconverged):
        its certified ``gap`` is at most the hand-over gap and the progress
        measure's rate since the previous check does not reach ``tol`` within
        ``HANDOVER_EPOCH_FRACTION`` × ``epoch`` more epochs (no rate: at once);
        or, after ``HANDOVER_STALL_MIN_EPOCHS``, its rate over the last half of
        the epochs would not reach the hand-over gap (or ``tol``, if larger)
        within ``HANDOVER_STALL_FACTOR`` times the epochs left."""
        if self.handover_gap is None:
            return False
        if gap <= self.handover_gap:
            rate = self.rate_since(epoch - 1)  # since the previous check
            return (rate is None
                    or np.log(gap / self.tol) / rate > HANDOVER_EPOCH_FRACTION * epoch)
        if epoch < HANDOVER_STALL_MIN_EPOCHS:
            return False
        rate = self.rate_since(epoch / 2)
        current = gap if np.isfinite(gap) else self.checks[-1][1]
        # The first gap at which the run would stop anyway (tol may be the larger).
        target = max(self.handover_gap, self.tol)
        return rate is not None and (np.log(current / target) / rate
                                     > HANDOVER_STALL_FACTOR * (self.max_iter - epoch))

    def run(self, cold):
        data = self.data
        epoch = 0
        if cold:
            # Cold start at W = 0: nothing to certify or shrink yet, skip the pass.
            point, converged = None, False
        else:
            point, converged = self.check(0)
        work_since_check = 0
        epochs_since_check = 0
        while (not converged and epoch < self.max_iter
               and self.work_total < self.max_work):
            epoch += 1
            if self.n_active > 1:
                shuffle(self.order, self.n_active, self.random_state, data.chunk_size)
            self.n_active, max_violation, work = data.epoch(
                self.state, self.order, self.n_active, self.shrinking, self.eps)
            self.eps = min(max_violation, SHRINK_THRESHOLD_MAX * data.margin)
            work_since_check += work
            self.work_total += work
            self.work_since_finish += work
            if self.averaging:
                self.work_since_snapshot += work
                if self.work_since_snapshot >= AVERAGE_SNAPSHOT_WORK * data.d:
                    self.work_since_snapshot = 0
                    self.add_to_window()
            epochs_since_check += 1
            if (work_since_check >= self.check_work(self.work_total, data.nnz)
                    or epochs_since_check >= CHECK_MAX_EPOCHS
                    or max_violation <= STALL_VIOLATION * data.margin
                    or self.n_active == 0 or epoch == self.max_iter
                    or self.work_total >= self.max_work):
                work_since_check = 0
                epochs_since_check = 0
                point, converged = self.check(epoch)
                if not converged and self.hand_over(point[2], epoch):
                    break
                if not converged and self.n_active == 0:
                    # Every block is at its bounds for the current W: bring all back.
                    self.order = self.all_active.copy()
                    self.n_active = self.order.shape[0]
                    self.eps = 0.0
        if not np.isfinite(point[2]):
            # Stopped (max_iter) before the inner problem was solved: certify anyway.
            point = self.record_point(
                *point[:2], point[3],
                _certificate.dual_lower_bound(data.objective, self.state.alpha)[0])
        coef, intercept, gap, _ = point
        # J − D ≥ 0 in exact arithmetic; at the optimum rounding can give −1e-16.
        gap = max(gap, 0.0)
        return SolverResult(coef=coef, intercept=intercept, n_iter=epoch,
                            converged=converged, criterion=gap, duality_gap=gap,
                            history=self.log.records)
