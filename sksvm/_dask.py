"""Exact distributed fitting on Dask arrays (the optional ``dask`` extra).

The L-BFGS solver needs the objective's value and gradient, and the kernels of
:mod:`sksvm._kernels` return them as unnormalized sums over a block of rows, which
add across blocks (MATH.md). A Dask fit therefore reaches the same optimum as an
in-memory one: only where the rows live changes.

One evaluation of the objective at (W, b):

1. the client sends (W, b) to the workers once (``Client.scatter(...,
   broadcast=True)``; with the local schedulers, one graph key that every block
   task depends on);
2. one task per row block of X (with the aligned blocks of y and sample_weight)
   computes the block's sums with the numba kernel and returns them as one flat
   vector ``[stats (4), grad (k·d), grad_intercept (k)]``;
3. the vectors are added in a tree (``split_every`` at a time) on the workers, and
   only the total, O(k·d) floats, reaches the client;
4. the client turns the total into an :class:`~sksvm._objective.Evaluation` with the
   same ``finalize`` as in memory (normalization by S, penalty, dual values), and
   L-BFGS takes its step there.

:func:`make_objective` is all the estimator calls: it validates the labels and
weights with the same functions as the in-memory path (:mod:`sksvm._validation`),
in one pass over y and the weights, and returns the objective.

Each evaluation is one pass over the data: over worker memory if X is persisted,
otherwise over X's source (its graph is recomputed, e.g. read from disk or
generated). The active-set finishing step of :mod:`sksvm._certificate` needs the
rows in memory, so :class:`DaskMulticlassSVMObjective` declares
``rows_in_memory = False`` and L-BFGS ends with smoothing continuation alone,
certified by the same duality gap. The repaired-dual certificate used with an
intercept is computed here in two passes
(:meth:`DaskMulticlassSVMObjective.repaired_gap`).
"""

import sys

import dask
import dask.array as da
import numpy as np
import scipy.sparse as sp
from dask import delayed
from sklearn.utils.validation import check_is_fitted

from . import _certificate
from ._losses import get_loss
from ._objective import (FeatureStatistics, ObjectiveBase, block_loss_grad,
                         feature_statistics)
from ._threads import effective_n_threads, kernel_threads
from ._validation import (check_class_totals, check_classes, check_weight_values,
                          class_weight_factors, weight_scale)

# Number of partial results added by one task of the tree reductions.
SPLIT_EVERY = 8


# -- input handling -------------------------------------------------------------------

def _check_X(X, n_features=None):
    """A 2-D dask array with known row chunks and a single column chunk."""
    if not isinstance(X, da.Array):
        raise TypeError(
            f"LinearMulticlassSVM accepts Dask arrays, not {type(X).__name__}; "
            "convert a Dask DataFrame with X.to_dask_array(lengths=True).")
    if X.ndim != 2:
        raise ValueError(f"Expected a 2-D dask array for X; got {X.ndim} dimensions.")
    if any(np.isnan(size) for size in X.chunks[0]):
        raise ValueError("X has unknown chunk sizes; call X.compute_chunk_sizes() "
                         "first (e.g. after boolean indexing).")
    if n_features is not None and X.shape[1] != n_features:
        raise ValueError(f"X has {X.shape[1]} features, but LinearMulticlassSVM is "
                         f"expecting {n_features} features as input.")
    if len(X.chunks[1]) > 1:
        # Every task needs whole rows.
        X = X.rechunk({1: -1})
    if not (np.issubdtype(X.dtype, np.floating) or np.issubdtype(X.dtype, np.integer)
            or X.dtype == bool):
        raise ValueError(f"X must be numeric; got dtype {X.dtype}.")
    return X


def _aligned(v, X, name, dtype=None, persist=False):
    """``v`` (dask or array-like, shape (n,)) as a dask array chunked like X's rows.

    An in-memory ``v`` is wrapped with ``da.from_array``; with ``persist`` it is
    then sent to the cluster once, instead of with the graph of every pass.
    """
    if isinstance(v, da.Array):
        if v.ndim == 2 and v.shape[1] == 1:
            v = v[:, 0]
        if v.ndim != 1:
            raise ValueError(f"{name} must be 1-D; got shape {v.shape}.")
        if any(np.isnan(size) for size in v.chunks[0]):
            raise ValueError(f"{name} has unknown chunk sizes; call "
                             f"{name}.compute_chunk_sizes() first.")
    else:
        v = np.asarray(v)
        if v.ndim == 2 and v.shape[1] == 1:
            v = v[:, 0]
        if v.ndim != 1:
            raise ValueError(f"{name} must be 1-D; got shape {v.shape}.")
    if v.shape[0] != X.shape[0]:
        raise ValueError(f"X has {X.shape[0]} samples but {name} has {v.shape[0]}.")
    if dtype is not None:
        v = v.astype(dtype)
    if isinstance(v, da.Array):
        return v.rechunk((X.chunks[0],)) if v.chunks[0] != X.chunks[0] else v
    v = da.from_array(v, chunks=(X.chunks[0],))
    return v.persist() if persist else v


def _block_rows(X_block):
    """A block of X as the kernels take it: C-contiguous float32/float64 or CSR."""
    if sp.issparse(X_block):
        X_block = sp.csr_matrix(X_block)
        if X_block.dtype not in (np.float32, np.float64):
            X_block = X_block.astype(np.float64)
        return X_block
    if hasattr(X_block, "to_scipy_sparse"):  # pydata/sparse arrays
        return _block_rows(X_block.to_scipy_sparse())
    X_block = np.asarray(X_block)
    dtype = X_block.dtype if X_block.dtype in (np.float32, np.float64) else np.float64
    return np.ascontiguousarray(X_block, dtype=dtype)


def _block_weights(y_block, w_block, classes, class_factors):
    """Encoded labels and effective sample weights of one block."""
    y_block = np.asarray(y_block)
    y_encoded = np.searchsorted(classes, y_block).astype(np.int64)
    weights = (np.ones(y_block.shape[0]) if w_block is None
               else np.asarray(w_block, dtype=np.float64))
    return y_encoded, np.ascontiguousarray(weights * class_factors[y_encoded])


def _distributed_client():
    """The distributed Client that ``dask.compute`` would use now, or None."""
    distributed = sys.modules.get("distributed")
    if distributed is None:
        return None
    scheduler = dask.base.get_scheduler()
    client = getattr(scheduler, "__self__", None)
    return client if isinstance(client, distributed.Client) else None


def _share(value):
    """``value`` as one graph dependency that every block task reads.

    With a distributed client it is broadcast to every worker once; otherwise it is
    a single key of the graph (never copied into each task).
    """
    client = _distributed_client()
    if client is not None:
        return client.scatter([value], broadcast=True, hash=False)[0]
    return delayed(value, traverse=False)


def _tree_sum(parts, split_every=SPLIT_EVERY):
    while len(parts) > 1:
        parts = [delayed(_add, pure=True)(*parts[i:i + split_every])
                 for i in range(0, len(parts), split_every)]
    return parts[0]


def _add(*arrays):
    total = np.array(arrays[0], dtype=np.float64, copy=True)
    for array in arrays[1:]:
        total += array
    return total


# -- one pass for the classes and the weights ------------------------------------------

def _label_summary(y_block, w_block):
    """(labels, counts, weight sums, largest weights, smallest weight, weights all
    finite) of a block; the sums and largest weights are per label."""
    labels, inverse = np.unique(np.asarray(y_block), return_inverse=True)
    inverse = inverse.ravel()
    counts = np.bincount(inverse, minlength=len(labels))
    if w_block is None:
        return labels, counts, counts.astype(np.float64), np.ones(len(labels)), 1.0, True
    w_block = np.asarray(w_block, dtype=np.float64)
    finite = bool(np.all(np.isfinite(w_block)))
    clean = np.where(np.isfinite(w_block), w_block, 0.0)
    sums = np.bincount(inverse, weights=clean, minlength=len(labels))
    largest = np.zeros(len(labels))
    np.maximum.at(largest, inverse, clean)
    smallest = float(np.nanmin(w_block)) if w_block.size else np.inf
    return labels, counts, sums, largest, smallest, finite


def _merge_summaries(*summaries):
    labels = np.concatenate([s[0] for s in summaries])
    merged, inverse = np.unique(labels, return_inverse=True)
    inverse = inverse.ravel()
    counts = np.bincount(inverse, weights=np.concatenate([s[1] for s in summaries]),
                         minlength=len(merged)).astype(np.int64)
    sums = np.bincount(inverse, weights=np.concatenate([s[2] for s in summaries]),
                       minlength=len(merged))
    largest = np.zeros(len(merged))
    np.maximum.at(largest, inverse, np.concatenate([s[3] for s in summaries]))
    return (merged, counts, sums, largest, min(s[4] for s in summaries),
            all(s[5] for s in summaries))


def summarize_labels(y, sample_weight):
    """Classes, their counts, weight sums and largest weights, the smallest weight
    and whether all weights are finite, in one pass over y (and the weights).

    This is ``da.unique(y, return_counts=True)`` with per-class statistics of the
    sample weights computed in the same pass, so that class weights, the total
    weight S and the checks on the weights cost no further pass.
    """
    y_blocks = y.to_delayed().ravel()
    w_blocks = ([None] * len(y_blocks) if sample_weight is None
                else sample_weight.to_delayed().ravel())
    parts = [delayed(_label_summary, pure=True)(yb, wb)
             for yb, wb in zip(y_blocks, w_blocks)]
    while len(parts) > 1:
        parts = [delayed(_merge_summaries, pure=True)(*parts[i:i + SPLIT_EVERY])
                 for i in range(0, len(parts), SPLIT_EVERY)]
    return dask.compute(parts[0])[0]


# -- block tasks ------------------------------------------------------------------------

def _block_sums(X_block, y_block, w_block, labels, params, loss_code, margin,
                smoothing, n_threads):
    """Unnormalized sums of one row block, flattened: [stats, grad, grad_intercept]."""
    classes, class_factors = labels
    coef, intercept = params
    X_block = _block_rows(X_block)
    y_encoded, weights = _block_weights(y_block, w_block, classes, class_factors)
    k, d = coef.shape
    if X_block.shape[0] == 0:
        return np.zeros(4 + k * d + k)
    with kernel_threads(effective_n_threads(n_threads)) as threads:
        stats, grad, grad_intercept = block_loss_grad(
            X_block, y_encoded, weights, coef, intercept, loss_code, margin, smoothing,
            threads)
    return np.concatenate([stats, grad.ravel(), grad_intercept])


def _block_dual_point(X_block, y_block, w_block, labels, coef, intercept, settings):
    """The block's rows, encoded labels, bounds s_i/S, margins and dual point
    (:func:`sksvm._certificate.dual_point`)."""
    loss, margin, smoothing, weight_sum = settings
    classes, class_factors = labels
    X_block = _block_rows(X_block)
    y_encoded, weights = _block_weights(y_block, w_block, classes, class_factors)
    bound = weights / weight_sum
    margins, alpha = _certificate.dual_point(X_block, y_encoded, bound, coef,
                                             intercept, margin, loss, smoothing)
    return X_block, y_encoded, bound, margins, alpha


def _block_flows(X_block, y_block, w_block, labels, shared):
    """Flows F[c', c] = Σ_{i: y_i = c'} α_ic of one block, flattened."""
    coef, intercept, settings = shared
    _, y_encoded, _, _, alpha = _block_dual_point(X_block, y_block, w_block, labels,
                                                  coef, intercept, settings)
    return _certificate.class_flows(y_encoded, alpha, coef.shape[0]).ravel()


def _block_repaired_dual(X_block, y_block, w_block, labels, shared):
    """[AᵀX, Σα, conjugate sum, Σ (s/S) ℓ(m)] of one block for the repaired α."""
    coef, intercept, settings, factors = shared
    loss = get_loss(settings[0])
    X_block, y_encoded, bound, margins, alpha = _block_dual_point(
        X_block, y_block, w_block, labels, coef, intercept, settings)
    alpha = alpha * factors[y_encoded]
    A = _certificate.pair_coefficients(alpha, y_encoded)
    AtX = np.asarray(X_block.T @ A).T
    loss_mean = float(np.dot(bound, loss.value(margins).sum(axis=1)))
    return np.concatenate([AtX.ravel(), [alpha.sum(), loss.conjugate_sum(alpha, bound),
                                         loss_mean]])


def _block_feature_statistics(X_block):
    """:func:`sksvm._objective.feature_statistics` of one block, as a 1×4 array."""
    stats = feature_statistics(_block_rows(X_block))
    return np.array([[stats.max_abs, stats.max_row_size, stats.sum_of_squares,
                      stats.size]], dtype=np.float64)


# -- the objective ---------------------------------------------------------------------

class DaskMulticlassSVMObjective(ObjectiveBase):
    """The objective over a Dask array: the block sums come from the workers and are
    normalized by the inherited :meth:`~sksvm._objective.ObjectiveBase.finalize`.

    Parameters
    ----------
    X : dask array of shape (n, d)
        Rows chunked, one column chunk; numpy or scipy.sparse blocks.
    y : dask array of shape (n,)
        Labels (not encoded), chunked like X's rows.
    sample_weight : dask array of shape (n,) or None
        Chunked like X's rows.
    classes : ndarray of shape (k,)
        Sorted labels; label ``classes[j]`` is class index j.
    class_factors : ndarray of shape (k,)
        Factors multiplying the sample weights of each class (the class weights,
        times the power of two that keeps the weights near 1).
    weight_sum : float
        S, the sum of the effective sample weights.
    C, loss, margin, fit_intercept, n_threads
        As in :class:`~sksvm._objective.ObjectiveBase`; ``n_threads`` is per block
        task (Dask runs the tasks in parallel).
    """

    #: The rows stay in their blocks: X, y and sample_weight are not arrays here.
    rows_in_memory = False
    input_kind = "Dask arrays"

    def __init__(self, X, y, sample_weight, classes, class_factors, weight_sum, *, C,
                 loss, margin, fit_intercept, n_threads, split_every=SPLIT_EVERY):
        super().__init__(len(classes), X.shape[1], weight_sum, C=C, loss=loss,
                         margin=margin, fit_intercept=fit_intercept,
                         n_threads=n_threads)
        self.dask_X = X
        self.dask_y = y
        self.dask_sample_weight = sample_weight
        self.classes = np.asarray(classes)
        self.class_factors = np.asarray(class_factors, dtype=np.float64)
        self.split_every = split_every
        self._blocks = list(zip(
            X.to_delayed().ravel(), y.to_delayed().ravel(),
            [None] * X.numblocks[0] if sample_weight is None
            else sample_weight.to_delayed().ravel()))
        self._shared_labels = None

    def _run(self, function, *shared):
        """Sum of ``function(X_block, y_block, w_block, labels, *shared)`` over the
        blocks, as one flat float64 vector; ``shared`` is sent to the workers once."""
        if self._shared_labels is None:
            self._shared_labels = _share((self.classes, self.class_factors))
        parts = [delayed(function, pure=True)(X_block, y_block, w_block,
                                              self._shared_labels, *shared)
                 for X_block, y_block, w_block in self._blocks]
        return dask.compute(_tree_sum(parts, self.split_every))[0]

    def block_sums(self, coef, intercept, loss_code, smoothing):
        """(stats, grad_sum, grad_intercept_sum) over all blocks: one pass over X."""
        total = self._run(_block_sums, _share((coef, intercept)), loss_code,
                          self.margin, smoothing, self.n_threads)
        k, d = coef.shape
        stats = total[:4]
        if not (np.all(np.isfinite(stats)) and np.all(np.isfinite(total))):
            if np.all(np.isfinite(coef)) and np.all(np.isfinite(intercept)):
                raise ValueError("Input X contains NaN or infinity (in a row with "
                                 "positive sample weight).")
        return stats, total[4:4 + k * d].reshape(k, d), total[4 + k * d:]

    def feature_statistics(self):
        """:class:`~sksvm._objective.FeatureStatistics` of X (one pass, once)."""
        def compute():
            parts = self.dask_X.map_blocks(_block_feature_statistics, chunks=(1, 4),
                                           dtype=np.float64).compute()
            return FeatureStatistics(
                float(parts[:, 0].max(initial=0.0)), int(parts[:, 1].max(initial=0)),
                float(parts[:, 2].sum()), int(parts[:, 3].sum()))

        return self.derived("feature_statistics", compute)

    def with_scaled_features(self, factor):
        """The objective of X·factor with C·factor² (lazily scaled blocks)."""
        return DaskMulticlassSVMObjective(
            self.dask_X * factor, self.dask_y, self.dask_sample_weight, self.classes,
            self.class_factors, self.weight_sum,
            **dict(self.settings(), C=self.C * factor * factor),
            split_every=self.split_every)

    def repaired_gap(self, coef, intercept, smoothing=0.0):
        """Distributed :func:`sksvm._certificate.repaired_gap` (two passes).

        The first pass sums the k×k flows between classes, the client computes the
        repair factors, the second pass sums the repaired dual point's AᵀX, Σα,
        conjugate terms and the primal loss.
        """
        k, d = coef.shape
        coef = np.ascontiguousarray(coef, dtype=np.float64)
        intercept = np.ascontiguousarray(intercept, dtype=np.float64)
        settings = (self.loss, self.margin, smoothing, self.weight_sum)
        flows = self._run(_block_flows, _share((coef, intercept, settings)))
        factors = _certificate.repair_factors(flows.reshape(k, k))
        total = self._run(_block_repaired_dual,
                          _share((coef, intercept, settings, factors)))
        dual_coef = -total[:k * d].reshape(k, d) / self.C
        alpha_sum, conjugate, loss_mean = total[k * d:]
        dual = (self.margin * alpha_sum - 0.5 * self.C * float(np.vdot(dual_coef,
                                                                      dual_coef))
                - conjugate)
        primal = loss_mean + 0.5 * self.C * float(np.vdot(coef, coef))
        return _certificate.relative_gap(primal, dual)


def make_objective(X, y, sample_weight, class_weight, *, C, loss, margin,
                   fit_intercept, n_threads):
    """Validate a Dask fit's inputs; returns ``(objective, classes, factors)``,
    ``factors`` the class-weight factors (None without class weights).

    The labels and weights are checked in one pass over y (and the weights) with
    the same functions and messages as in memory.
    """
    if y is None:
        raise ValueError("LinearMulticlassSVM requires y to be passed, but the target "
                         "y is None.")
    X = _check_X(X)
    y = _aligned(y, X, "y", persist=True)
    if sample_weight is not None:
        sample_weight = _aligned(sample_weight, X, "sample_weight", np.float64,
                                 persist=True)
    classes, counts, weight_sums, largest, smallest, finite = summarize_labels(
        y, sample_weight)
    check_classes(classes)
    check_weight_values(smallest, finite)
    class_factors = class_weight_factors(class_weight, classes, counts)
    factors = np.ones(len(classes)) if class_factors is None else class_factors
    # The power of two that keeps the effective weights near 1, as in memory.
    with np.errstate(over="ignore"):
        factors = factors * weight_scale(float(np.max(largest * factors, initial=0.0)))
        class_totals = weight_sums * factors
    check_class_totals(class_totals)
    objective = DaskMulticlassSVMObjective(
        X, y, sample_weight, classes, factors, float(class_totals.sum()), C=C,
        loss=loss, margin=margin, fit_intercept=fit_intercept, n_threads=n_threads)
    return objective, classes, class_factors


# -- lazy predictions ------------------------------------------------------------------

def _block_decision(X_block, coef, intercept):
    X_block = _block_rows(X_block)
    values = X_block.data if sp.issparse(X_block) else X_block
    if not np.all(np.isfinite(values)):
        raise ValueError("Input X contains NaN or infinity.")
    scores = np.asarray(X_block @ coef.T) + intercept
    return scores[:, 0] if scores.shape[1] == 1 else scores


def _block_predict(X_block, coef, intercept, classes):
    scores = _block_decision(X_block, coef, intercept)
    if scores.ndim == 1:
        return classes[(scores > 0).astype(np.intp)]
    return classes[np.argmax(scores, axis=1)]


def decision_function(estimator, X):
    """Lazy decision function: one ``map_blocks`` task per row block."""
    check_is_fitted(estimator)
    X = _check_X(X, estimator.n_features_in_)
    coef, intercept = estimator.coef_, estimator.intercept_
    if coef.shape[0] == 1:
        return X.map_blocks(_block_decision, coef, intercept, drop_axis=1,
                            dtype=np.float64, meta=np.empty((0,), np.float64))
    return X.map_blocks(_block_decision, coef, intercept,
                        chunks=(X.chunks[0], (coef.shape[0],)), dtype=np.float64,
                        meta=np.empty((0, 0), np.float64))


def predict(estimator, X):
    """Lazy class predictions: one ``map_blocks`` task per row block."""
    check_is_fitted(estimator)
    X = _check_X(X, estimator.n_features_in_)
    classes = estimator.classes_
    return X.map_blocks(_block_predict, estimator.coef_, estimator.intercept_, classes,
                        drop_axis=1, dtype=classes.dtype,
                        meta=np.empty((0,), classes.dtype))


def score(estimator, X, y, sample_weight=None):
    """Lazy (weighted) accuracy, a 0-d dask array."""
    predictions = predict(estimator, X)
    X = _check_X(X)
    y = _aligned(y, X, "y")
    correct = (predictions == y).astype(np.float64)
    if sample_weight is None:
        return correct.mean()
    sample_weight = _aligned(sample_weight, X, "sample_weight", np.float64)
    return (correct * sample_weight).sum() / sample_weight.sum()
