"""The Weston-Watkins objective: normalization, penalty, dual values and capabilities.

An objective owns one validated data set with its weights and evaluates

    J(W, b) = (1/S) Σ_i s_i Σ_{j≠y_i} ℓ(δ + (w_j − w_{y_i})·x_i + b_j − b_{y_i})
              + (C/2) ‖W‖_F²

with the intercept b unpenalized (MATH.md): ``coef`` W has shape (k, d), one row per
class, and ``intercept`` b shape (k,). The kernels return unnormalized sums over rows
(:mod:`sksvm._kernels`); :meth:`ObjectiveBase.finalize` normalizes them by S, adds
the penalty and reads off the dual point of the loss derivatives.

:class:`MulticlassSVMObjective` holds its rows in memory. Other storage (Dask arrays,
:mod:`sksvm._dask`) subclasses :class:`ObjectiveBase` and declares what it can do in
the capability attributes, which solvers check before they start:

- ``rows_in_memory``: ``X``, ``y`` and ``sample_weight`` are arrays in this process
  (coordinate ascent, the subgradient epochs and the active-set finisher need them).
"""

import copy
from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp

from . import _certificate, _kernels
from ._losses import get_loss
from ._threads import chunk_count
from ._validation import scale_sample_weight

# Largest ‖x‖²/C (squared row norm over C) accepted. It is the scale of the scores
# W·x, of the dual's quadratic terms and of the solvers' linear systems, which must
# stay well inside the float64 range.
MAX_SQUARED_NORM_OVER_C = 1e300


@dataclass
class Evaluation:
    """One evaluation of the objective at ``(coef, intercept)``.

    ``value`` is the objective being minimized (smoothed when ``smoothing > 0``);
    ``true_value`` is always the unsmoothed objective; ``dual_value`` is the dual
    objective at the dual point induced by the loss derivatives, so that
    ``true_value - dual_value`` bounds the suboptimality (exactly so when there is no
    intercept; with an intercept it is the bound for the current ``b``).
    ``dual_coef`` is that point's W(α), ``dual_margin_term`` its δ Σ α,
    ``dual_conjugate`` its conjugate term and ``smoothing_conjugate`` the term the
    smoothed problem's dual adds.
    """

    value: float
    grad_coef: np.ndarray
    grad_intercept: np.ndarray
    true_value: float
    dual_value: float
    smoothed_dual_value: float
    dual_coef: np.ndarray = None
    dual_margin_term: float = 0.0
    dual_conjugate: float = 0.0
    smoothing_conjugate: float = 0.0


@dataclass(frozen=True)
class FeatureStatistics:
    """What the solvers need to know of the scale of X.

    ``max_abs`` is the largest |x_ij|, ``max_row_size`` the largest number of stored
    entries in a row, ``sum_of_squares`` Σ x_ij² and ``size`` n·d.
    """

    max_abs: float
    max_row_size: int
    sum_of_squares: float
    size: int


class ObjectiveBase:
    """What every objective shares: settings, normalization, penalty, dual values.

    Subclasses provide :meth:`block_sums` (the kernels' unnormalized sums over all
    rows), :meth:`feature_statistics`, :meth:`with_scaled_features` and
    :meth:`repaired_gap`, and set the capability attributes.

    Parameters
    ----------
    n_classes, n_features : int
    weight_sum : float
        S, the sum of the (scaled) sample weights.
    C : float
        Regularization strength of the (C/2)‖W‖² penalty.
    loss : {"hinge", "squared_hinge"}
    margin : float
    fit_intercept : bool
    n_threads : int
        Threads of the kernels (a kernel call too small to gain from threads runs
        on one).
    """

    #: Whether X, y and sample_weight are arrays in this process.
    rows_in_memory = True
    #: Whether X is a sparse matrix.
    is_sparse = False
    #: What the data are, for messages.
    input_kind = "in-memory data"

    def __init__(self, n_classes, n_features, weight_sum, *, C, loss, margin,
                 fit_intercept, n_threads):
        self.n_classes = int(n_classes)
        self.n_features = int(n_features)
        self.weight_sum = float(weight_sum)
        self.C = float(C)
        self.loss = get_loss(loss).name
        self.margin = float(margin)
        self.fit_intercept = bool(fit_intercept)
        self.n_threads = int(n_threads)
        self.n_evaluations = 0
        self._derived = {}

    def with_C(self, C):
        """This objective at another C: the same data, and the values
        :meth:`derived` from them shared rather than recomputed (the fits of a
        regularization path on one fold)."""
        other = copy.copy(self)
        other.C = float(C)
        other.n_evaluations = 0
        return other

    def derived(self, name, compute):
        """``compute()``, a value that depends on the data alone (not on C),
        computed once for this objective and those :meth:`with_C` makes."""
        if name not in self._derived:
            self._derived[name] = compute()
        return self._derived[name]

    def settings(self):
        """The keyword arguments that rebuild an objective like this one."""
        return dict(C=self.C, loss=self.loss, margin=self.margin,
                    fit_intercept=self.fit_intercept, n_threads=self.n_threads)

    def evaluate(self, coef, intercept, smoothing=0.0):
        """Objective, gradient and dual values at ``(coef, intercept)``.

        ``smoothing > 0`` selects the hinge smoothed with that width.
        """
        coef = np.ascontiguousarray(coef, dtype=np.float64)
        intercept = np.ascontiguousarray(intercept, dtype=np.float64)
        loss_code = get_loss(self.loss).kernel_code(smoothing)
        self.n_evaluations += 1
        stats, grad_sum, grad_intercept_sum = self.block_sums(coef, intercept,
                                                              loss_code, smoothing)
        return self.finalize(coef, intercept, stats, grad_sum, grad_intercept_sum,
                             smoothing)

    def value(self, coef, intercept):
        """The true (unsmoothed) objective J(coef, intercept)."""
        return self.evaluate(coef, intercept).true_value

    def finalize(self, coef, intercept, stats, grad_sum, grad_intercept_sum, smoothing):
        """Turn the unnormalized block sums into an :class:`Evaluation`."""
        S, C = self.weight_sum, self.C
        loss_sum, hinge_sum, deriv_sum, deriv_sq_sum = stats
        penalty = 0.5 * C * float(np.vdot(coef, coef))
        grad_coef = grad_sum / S
        grad_intercept = (grad_intercept_sum / S if self.fit_intercept
                          else np.zeros_like(grad_intercept_sum))
        # Dual point α_ij = (s_i/S) ℓ'(m_ij); its primal image is
        # W(α) = −Aᵀ X / C = coef − (∇_W J − C·coef)/C = −grad_coef / C.
        dual_coef = grad_coef / (-C)
        margin_term = self.margin * deriv_sum / S
        # Conjugate terms: ℓ*(a) = a²/4 for the squared hinge (part of the true
        # dual), μa²/2 for the smoothed hinge (part of the smoothed dual only), 0 on
        # [0, 1] for the hinge.
        conjugate = 0.0 if get_loss(self.loss).bounded else 0.25 * deriv_sq_sum / S
        dual = self.dual_value(margin_term, grad_intercept, dual_coef, conjugate,
                               intercept)
        smoothing_conjugate = 0.5 * smoothing * deriv_sq_sum / S
        return Evaluation(
            value=loss_sum / S + penalty,
            grad_coef=grad_coef + C * coef,
            grad_intercept=grad_intercept,
            true_value=hinge_sum / S + penalty,
            dual_value=dual,
            smoothed_dual_value=dual - smoothing_conjugate,
            dual_coef=dual_coef,
            dual_margin_term=margin_term,
            dual_conjugate=conjugate,
            smoothing_conjugate=smoothing_conjugate,
        )

    def dual_value(self, margin_term, intercept_residual, dual_coef, conjugate,
                   intercept):
        """D_b(α) = Σ α_ij (δ + b_j − b_{y_i}) − (C/2)‖W(α)‖² − Σ (s_i/S) ℓ*(a_ij)
        (for the squared hinge at the best multiple of α, :meth:`Loss.dual_value`).

        ``margin_term`` is δ Σ α_ij, ``intercept_residual`` is Aᵀ1 (so that
        Σ α_ij (b_j − b_{y_i}) = b·Aᵀ1), ``dual_coef`` is W(α) = −AᵀX/C. Without an
        intercept this is the dual objective, a lower bound on min J; with one, it
        bounds min_W J(W, b) at the given b.
        """
        return get_loss(self.loss).dual_value(
            margin_term + float(np.dot(intercept, intercept_residual)),
            0.5 * self.C * float(np.vdot(dual_coef, dual_coef)) + conjugate)

    def check_feature_scale(self):
        """Refuse data and C for which ‖x‖²/C overflows the solvers' arithmetic."""
        stats = self.feature_statistics()
        if not np.isfinite(stats.max_abs):
            raise ValueError("Input X contains NaN or infinity.")
        with np.errstate(over="ignore"):
            bound = stats.max_row_size * np.float64(stats.max_abs) ** 2 / self.C
        if not bound <= MAX_SQUARED_NORM_OVER_C:
            raise ValueError(
                f"The features are too large for C={self.C:g}: X has entries up to "
                f"{stats.max_abs:.3g} in rows of up to {stats.max_row_size} stored "
                f"values, so the squared row norm over C reaches {bound:.3g}, beyond "
                f"the {MAX_SQUARED_NORM_OVER_C:g} that float64 arithmetic supports. "
                "Scale the features (e.g. with StandardScaler) or increase C.")


# Rows per block of :meth:`MulticlassSVMObjective.value`: its scratch scores stay
# a few megabytes whatever the number of rows.
VALUE_CHUNK_ROWS = 16384


class MulticlassSVMObjective(ObjectiveBase):
    """The objective over rows held in memory.

    Parameters
    ----------
    X : ndarray of shape (n, d), C-contiguous float32/float64, or CSR matrix
    y : ndarray of shape (n,), int64 class indices in ``0..n_classes-1``
    sample_weight : ndarray of shape (n,), float64, non-negative, positive sum
        The effective weights (class weights included). They are scaled by a power
        of two when far from 1 (:func:`scale_sample_weight`); only their ratios
        enter J.
    n_classes : int
    C, loss, margin, fit_intercept, n_threads
        As in :class:`ObjectiveBase`.
    """

    rows_in_memory = True

    def __init__(self, X, y, sample_weight, n_classes, *, C, loss, margin,
                 fit_intercept, n_threads):
        sample_weight = scale_sample_weight(sample_weight)
        super().__init__(n_classes, X.shape[1], sample_weight.sum(), C=C, loss=loss,
                         margin=margin, fit_intercept=fit_intercept,
                         n_threads=n_threads)
        self.X = X
        self.y = y
        self.sample_weight = sample_weight
        self.is_sparse = sp.issparse(X)

    def block_sums(self, coef, intercept, loss_code, smoothing):
        """Unnormalized sums over all rows (:mod:`sksvm._kernels`), (k, d) layout."""
        return block_loss_grad(self.X, self.y, self.sample_weight, coef, intercept,
                               loss_code, self.margin, smoothing, self.n_threads)

    def value(self, coef, intercept):
        """The true (unsmoothed) objective J(coef, intercept). On float64 dense rows
        and on CSR rows it is one (BLAS or sparse) product for the scores and NumPy
        for the losses: the kernels compute a gradient that is not needed here
        (on sparse text, 20 classes × 50000 terms, it made a value cost 10× the
        product), and a fit that needs no other kernel of theirs then compiles
        none."""
        if not self.is_sparse and self.X.dtype != np.float64:
            return super().value(coef, intercept)
        self.n_evaluations += 1
        coef = np.asarray(coef, dtype=np.float64)
        loss_sum = 0.0
        for lo in range(0, self.X.shape[0], VALUE_CHUNK_ROWS):
            rows = slice(lo, lo + VALUE_CHUNK_ROWS)
            margins = _certificate.pair_margins(self.X[rows], self.y[rows], coef,
                                                intercept, self.margin)
            loss_sum += self._loss_sum(margins, rows)
        return self.value_from_loss_sum(loss_sum, coef)

    def value_from_margins(self, margins, coef):
        """J from the pair margins of all rows (:func:`_certificate.pair_margins`
        at ``coef`` and its intercept), without another product with X."""
        self.n_evaluations += 1
        return self.value_from_loss_sum(self._loss_sum(margins, slice(None)), coef)

    def value_from_loss_sum(self, loss_sum, coef):
        """J from the weighted loss sum Σ s_i Σ_j ℓ(m_ij) at ``coef`` (either
        layout: only its norm enters)."""
        return loss_sum / self.weight_sum + 0.5 * self.C * float(np.vdot(coef, coef))

    def _loss_sum(self, margins, rows):
        """Σ s_i Σ_j ℓ(m_ij) over ``rows`` given their margins."""
        loss = get_loss(self.loss)
        return float(self.sample_weight[rows] @ loss.value(margins).sum(axis=1))

    def feature_statistics(self):
        """:class:`FeatureStatistics` of X (computed once, without a copy of X)."""
        return self.derived("feature_statistics", lambda: feature_statistics(self.X))

    def with_scaled_features(self, factor):
        """The objective of X·factor with C·factor², whose minimizer has the weights
        divided by ``factor`` (and the same intercepts and J)."""
        return MulticlassSVMObjective(self.X * factor, self.y, self.sample_weight,
                                      self.n_classes,
                                      **dict(self.settings(), C=self.C * factor * factor))

    def repaired_gap(self, coef, intercept, smoothing=0.0):
        """Certified relative gap at ``(coef, intercept)`` (:mod:`sksvm._certificate`)."""
        return _certificate.repaired_gap(self, coef, intercept, smoothing)


def feature_statistics(X):
    """:class:`FeatureStatistics` of a dense or CSR X, without a copy of X (the
    largest |x_ij| is NaN when X holds NaN)."""
    values = X.data if sp.issparse(X) else X.reshape(-1)
    if values.size == 0:
        max_abs, row_size = 0.0, 0
    else:
        max_abs = float(np.maximum(values.max(), -values.min()))  # NaN stays NaN
        row_size = int(np.diff(X.indptr).max()) if sp.issparse(X) else X.shape[1]
    return FeatureStatistics(max_abs, row_size,
                             float(np.einsum("i,i->", values, values,
                                             dtype=np.float64)),
                             X.shape[0] * X.shape[1])


def block_loss_grad(X, y, sample_weight, coef, intercept, loss_code, margin,
                    smoothing, n_threads):
    """Unnormalized sums over the rows of X, dense or CSR, in the (k, d) layout, on
    up to ``n_threads`` threads (:func:`sksvm._threads.chunk_count` chunks).

    Returns ``(stats, grad_coef, grad_intercept)`` with ``stats`` the four sums
    documented in :mod:`sksvm._kernels`.
    """
    k = coef.shape[0]
    if sp.issparse(X):
        n_chunks = chunk_count(n_threads, X.nnz * k)
        stats, grad_t, grad_intercept = _kernels.csr_loss_grad(
            X.data, X.indices, X.indptr, y, sample_weight,
            np.ascontiguousarray(coef.T), intercept, loss_code, margin, smoothing,
            n_chunks, _kernels.csr_block_rows(X.data, X.indices, k, n_chunks),
            n_threads)
        return stats, np.ascontiguousarray(grad_t.T), grad_intercept
    return _kernels.dense_loss_grad(X, y, sample_weight, coef, intercept, loss_code,
                                    margin, smoothing, chunk_count(n_threads, X.size * k),
                                    n_threads)


# The largest useful C when the data give no positive value (e.g. X = 0, where
# every C > 0 gives the same model).
_FALLBACK_C_MAX = 1.0
# largest_useful_C reads X in blocks of this many rows (float64 copies of float32).
_C_MAX_BLOCK_ROWS = 8192


def largest_useful_C(X, y_encoded, sample_weight, n_classes, loss="hinge",
                     margin=1.0, stop_above=None):
    r"""The top of the regularization path: the C above which nothing changes.

    With every dual variable at its upper bound, :math:`\bar\alpha_{ij} = s_i/S`,
    the weights are :math:`W = G/C`, row c of G being

    .. math::

        G_c = \frac{1}{S}\Big(k \sum_{i: y_i = c} s_i x_i - \sum_i s_i x_i\Big).

    For the hinge, :math:`(G/C, b = 0)` satisfies the optimality conditions exactly
    when every margin :math:`\delta + (G_j - G_{y_i})^\top x_i / C` is
    non-negative, that is for all

    .. math::

        C \ge C_{\max} = \max_{i: s_i > 0,\ j \ne y_i} (G_{y_i} - G_j)^\top x_i / \delta

    when there is no intercept, or when the effective class totals are balanced
    (:math:`k S_c = S`, the intercept's optimality condition at
    :math:`\bar\alpha`). Above it the predictions, ``argmax G x``, do not
    change with C. With an intercept and unbalanced classes no such regime exists
    (the dual optimum keeps some variables inside the box), and :math:`C_{\max}`
    is the same data-based scale.

    The squared hinge has no box: for large C, :math:`W \approx 2\delta G / C`
    (one gradient step from 0, where every margin is :math:`\delta`), which keeps
    every margin positive for
    :math:`C \ge 2 \max_{i, j \ne y_i} (G_{y_i} - G_j)^\top x_i`. That is the
    returned value; above it the model is a vanishing perturbation of that
    direction.

    Parameters
    ----------
    X : ndarray or sparse matrix of shape (n_samples, n_features)
        Training data.
    y_encoded : ndarray of shape (n_samples,)
        Class indices in ``[0, n_classes)``.
    sample_weight : ndarray of shape (n_samples,)
        Effective (non-negative) sample weights, class weights included.
    n_classes : int
        Number of classes k.
    loss : {"hinge", "squared_hinge"}, default="hinge"
        The margin loss.
    margin : float, default=1.0
        The margin :math:`\delta`.
    stop_above : float or None, default=None
        When given, stop at the first block of rows whose largest value exceeds
        it, and return that value: a lower bound on :math:`C_{\max}`, enough to
        tell that :math:`C_{\max}` exceeds ``stop_above`` (the common case of a
        small C, decided after the first block instead of a second pass over X).

    Returns
    -------
    C_max : float
        The largest useful C (1.0 when the data give no positive value), or with
        ``stop_above`` possibly a lower bound on it that exceeds ``stop_above``.
    """
    sample_weight = np.asarray(sample_weight, dtype=np.float64)
    y_encoded = np.asarray(y_encoded)
    starts = range(0, X.shape[0], _C_MAX_BLOCK_ROWS)

    def rows_from(start):
        """(float64 rows, their labels, their weights) of the block at ``start``:
        float32 X is converted a block at a time, not copied whole."""
        stop = start + _C_MAX_BLOCK_ROWS
        block = X[start:stop]
        block = (block.astype(np.float64, copy=False) if sp.issparse(block)
                 else np.asarray(block, dtype=np.float64))
        return block, y_encoded[start:stop], sample_weight[start:stop]

    class_sums = np.zeros((n_classes, X.shape[1]))
    for start in starts:
        block, labels, weights = rows_from(start)
        weighted_labels = sp.csr_matrix(
            (weights, (labels, np.arange(labels.size))), shape=(n_classes, labels.size))
        sums = weighted_labels @ block
        class_sums += sums.toarray() if sp.issparse(sums) else sums
    G = (n_classes * class_sums - class_sums.sum(axis=0)) / sample_weight.sum()
    largest_gap = 0.0
    for start in starts:
        block, labels, weights = rows_from(start)
        scores = np.asarray(block @ G.T)
        rows = np.arange(labels.size)
        score_gaps = scores[rows, labels][:, np.newaxis] - scores
        score_gaps[rows, labels] = -np.inf
        score_gaps = score_gaps[weights > 0]
        if score_gaps.size:
            largest_gap = max(largest_gap, float(score_gaps.max()))
        if stop_above is not None and _C_from_gap(largest_gap, loss, margin) > stop_above:
            break
    C_max = _C_from_gap(largest_gap, loss, margin)
    if not (np.isfinite(C_max) and C_max > 0):
        return _FALLBACK_C_MAX
    return C_max


def _C_from_gap(largest_gap, loss, margin):
    """C_max from the largest score gap (G_{y_i} − G_j)ᵀx_i (see largest_useful_C)."""
    return largest_gap / margin if loss == "hinge" else 2.0 * largest_gap
