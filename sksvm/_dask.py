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

Each evaluation is one pass over the data: over worker memory if X is persisted,
otherwise over X's source (its graph is recomputed, e.g. read from disk or
generated). The active-set finishing step of :mod:`sksvm._solvers.active_set`
needs the rows in memory, so :class:`DaskMulticlassSVMObjective` declares it
unavailable (``supports_active_set = False``, checked by ``minimize_lbfgs``) and
the solver ends with smoothing continuation alone, certified by the same duality
gap. The repaired-dual certificate used with an intercept
(:mod:`sksvm._solvers.certificate`) is computed here in two passes
(:meth:`DaskMulticlassSVMObjective.repaired_gap`).
"""

import sys
import warnings
from contextlib import contextmanager

import dask
import dask.array as da
import numba
import numpy as np
import scipy.sparse as sp
from dask import delayed
from sklearn.exceptions import ConvergenceWarning
from sklearn.utils import compute_class_weight
from sklearn.utils.multiclass import check_classification_targets
from sklearn.utils.validation import check_is_fitted
from threadpoolctl import ThreadpoolController

from ._objective import (MulticlassSVMObjective, block_loss_grad,
                         intercept_scale, sum_of_squares)
from ._solvers import certificate, minimize_lbfgs
from ._threads import effective_n_threads

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


def _block_weights(y_block, w_block, classes, class_weight):
    """Encoded labels and effective sample weights of one block."""
    y_block = np.asarray(y_block)
    y_encoded = np.searchsorted(classes, y_block).astype(np.int64)
    weights = (np.ones(y_block.shape[0]) if w_block is None
               else np.asarray(w_block, dtype=np.float64))
    if class_weight is not None:
        weights = weights * class_weight[y_encoded]
    return y_encoded, np.ascontiguousarray(weights)


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
    """(labels, counts, weight sums, smallest weight, weights all finite) of a block."""
    labels, inverse = np.unique(np.asarray(y_block), return_inverse=True)
    inverse = inverse.ravel()
    counts = np.bincount(inverse, minlength=len(labels))
    if w_block is None:
        return labels, counts, counts.astype(np.float64), 1.0, True
    w_block = np.asarray(w_block, dtype=np.float64)
    finite = bool(np.all(np.isfinite(w_block)))
    sums = np.bincount(inverse, weights=np.where(np.isfinite(w_block), w_block, 0.0),
                       minlength=len(labels))
    smallest = float(np.nanmin(w_block)) if w_block.size else np.inf
    return labels, counts, sums, smallest, finite


def _merge_summaries(*summaries):
    labels = np.concatenate([s[0] for s in summaries])
    merged, inverse = np.unique(labels, return_inverse=True)
    inverse = inverse.ravel()
    counts = np.bincount(inverse, weights=np.concatenate([s[1] for s in summaries]),
                         minlength=len(merged)).astype(np.int64)
    sums = np.bincount(inverse, weights=np.concatenate([s[2] for s in summaries]),
                       minlength=len(merged))
    return (merged, counts, sums, min(s[3] for s in summaries),
            all(s[4] for s in summaries))


def summarize_labels(y, sample_weight):
    """Classes, their counts and weight sums, in one pass over y (and the weights).

    This is ``da.unique(y, return_counts=True)`` with the per-class sums of the
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


# -- the objective ---------------------------------------------------------------------

_BLAS_CONTROLLER = []


@contextmanager
def _kernel_threads(n_threads):
    """:func:`sksvm._threads.numba_threads` for block tasks: the same limits (numba
    threads, one BLAS thread), with threadpoolctl's library scan done once per
    process instead of once per task (it costs milliseconds, per block)."""
    if not _BLAS_CONTROLLER:
        import scipy.linalg.cython_blas  # noqa: F401  (the BLAS numba calls)
        _BLAS_CONTROLLER.append(ThreadpoolController())
    n_threads = effective_n_threads(n_threads)
    previous = numba.get_num_threads()
    numba.set_num_threads(n_threads)
    try:
        with _BLAS_CONTROLLER[0].limit(limits=1, user_api="blas"):
            yield n_threads
    finally:
        numba.set_num_threads(previous)


def _block_sums(X_block, y_block, w_block, labels, params, loss_code, margin, mu,
                n_threads):
    """Unnormalized sums of one row block, flattened: [stats, grad, grad_intercept]."""
    classes, class_weight = labels
    coef, intercept = params
    X_block = _block_rows(X_block)
    y_encoded, weights = _block_weights(y_block, w_block, classes, class_weight)
    k, d = coef.shape
    if X_block.shape[0] == 0:
        return np.zeros(4 + k * d + k)
    with _kernel_threads(n_threads) as threads:
        stats, grad, grad_intercept = block_loss_grad(
            X_block, y_encoded, weights, coef, intercept, loss_code, margin, mu,
            threads)
    return np.concatenate([stats, grad.ravel(), grad_intercept])


def _block_margin_derivatives(X_block, y_block, w_block, labels, coef, intercept,
                              settings):
    """Encoded labels, bounds s_i/S, margins and α = bound·ℓ'(m) of one block,
    exactly as :func:`sksvm._solvers.certificate.repaired_gap` computes them."""
    loss, margin, mu, weight_sum = settings
    classes, class_weight = labels
    X_block = _block_rows(X_block)
    y_encoded, weights = _block_weights(y_block, w_block, classes, class_weight)
    rows = np.arange(X_block.shape[0])
    bound = weights / weight_sum
    scores = np.asarray(X_block @ coef.T) + intercept
    margins = margin + scores - scores[rows, y_encoded][:, None]
    margins[rows, y_encoded] = -np.inf
    if loss == "hinge":
        derivative = (np.clip(margins / mu, 0.0, 1.0) if mu > 0
                      else (margins > 0).astype(float))
    else:
        derivative = 2.0 * np.maximum(margins, 0.0)
    return X_block, y_encoded, bound, margins, bound[:, None] * derivative


def _block_flows(X_block, y_block, w_block, labels, shared):
    """Flows F[c', c] = Σ_{i: y_i = c'} α_ic of one block, flattened."""
    coef, intercept, settings = shared
    k = coef.shape[0]
    _, y_encoded, _, _, alpha = _block_margin_derivatives(
        X_block, y_block, w_block, labels, coef, intercept, settings)
    flows = np.zeros((k, k))
    np.add.at(flows, y_encoded, alpha)
    return flows.ravel()


def _block_repaired_dual(X_block, y_block, w_block, labels, shared):
    """[AᵀX, Aᵀ1, Σα, Σ α²/(4 bound), Σ s ℓ(m)] of one block for the repaired α."""
    coef, intercept, settings, factors = shared
    loss = settings[0]
    X_block, y_encoded, bound, margins, alpha = _block_margin_derivatives(
        X_block, y_block, w_block, labels, coef, intercept, settings)
    rows = np.arange(X_block.shape[0])
    alpha = alpha * factors[y_encoded]
    A = alpha.copy()
    A[rows, y_encoded] = -alpha.sum(axis=1)
    AtX = np.asarray(X_block.T @ A).T
    positive = bound > 0
    conjugate = (float(np.sum(alpha[positive] ** 2 / (4 * bound[positive, None])))
                 if loss != "hinge" else 0.0)
    positive_margins = np.maximum(margins, 0.0)
    per_row = (positive_margins if loss == "hinge"
               else positive_margins ** 2).sum(axis=1)
    loss_mean = float(np.dot(bound, per_row))  # Σ (s_i/S) Σ_j ℓ(m_ij)
    return np.concatenate([AtX.ravel(), A.sum(axis=0),
                           [alpha.sum(), conjugate, loss_mean]])


def _block_sum_of_squares(X_block):
    """Sum of the squared entries of one block, as a 1×1 array."""
    return np.array([[sum_of_squares(X_block)]])


class DaskMulticlassSVMObjective(MulticlassSVMObjective):
    """:class:`~sksvm._objective.MulticlassSVMObjective` over a Dask array.

    Only the evaluation differs: the block sums come from the workers and are
    normalized by the inherited :meth:`finalize`. Packing, the dual values and the
    flat interface used by :func:`~sksvm._solvers.minimize_lbfgs` are inherited.

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
    class_weight : ndarray of shape (k,) or None
        Factors multiplying the sample weights of each class.
    weight_sum : float
        S, the sum of the effective sample weights.
    n_threads : int
        Numba threads per block task (Dask runs the tasks in parallel).
    """

    #: The active-set finishing step needs the rows in memory; minimize_lbfgs
    #: skips it for this objective.
    supports_active_set = False

    def __init__(self, X, y, sample_weight, classes, class_weight, weight_sum, *, C,
                 loss, margin, fit_intercept, n_threads, split_every=SPLIT_EVERY):
        # The parent's __init__ would read X; set the same attributes here. X, y
        # and sample_weight get other names: code written for in-memory rows
        # (``objective.X``) fails loudly instead of pulling the data to the client.
        self.dask_X = X
        self.dask_y = y
        self.dask_sample_weight = sample_weight
        self.n_classes = len(classes)
        self.n_features = X.shape[1]
        self.C = float(C)
        self.loss = loss
        self.margin = float(margin)
        self.fit_intercept = fit_intercept
        self.n_threads = int(n_threads)
        self.weight_sum = float(weight_sum)
        self.n_evaluations = 0
        self.intercept_scale = 1.0
        self.split_every = split_every
        self._blocks = list(zip(
            X.to_delayed().ravel(), y.to_delayed().ravel(),
            [None] * X.numblocks[0] if sample_weight is None
            else sample_weight.to_delayed().ravel()))
        self._labels = (np.asarray(classes),
                        None if class_weight is None
                        else np.asarray(class_weight, dtype=np.float64))
        self._shared_labels = None

    def block_sums(self, coef, intercept, loss_code, mu):
        """(stats, grad_sum, grad_intercept_sum) over all blocks: one pass over X."""
        if self._shared_labels is None:
            self._shared_labels = _share(self._labels)
        params = _share((coef, intercept))
        parts = [delayed(_block_sums, pure=True)(
                     X_block, y_block, w_block, self._shared_labels, params,
                     loss_code, self.margin, mu, self.n_threads)
                 for X_block, y_block, w_block in self._blocks]
        total = dask.compute(_tree_sum(parts, self.split_every))[0]
        k, d = coef.shape
        stats = total[:4]
        grad_sum = total[4:4 + k * d].reshape(k, d)
        grad_intercept_sum = total[4 + k * d:]
        return stats, grad_sum, grad_intercept_sum

    def _run(self, function, *shared):
        """Sum of ``function(X_block, y_block, w_block, labels, *shared)`` over the
        blocks, as one flat float64 vector; ``shared`` is sent to the workers once."""
        if self._shared_labels is None:
            self._shared_labels = _share(self._labels)
        shared = _share(shared)
        parts = [delayed(function, pure=True)(X_block, y_block, w_block,
                                              self._shared_labels, shared)
                 for X_block, y_block, w_block in self._blocks]
        return dask.compute(_tree_sum(parts, self.split_every))[0]

    def repaired_gap(self, coef, intercept, mu):
        """Distributed :func:`sksvm._solvers.certificate.repaired_gap` (two passes).

        The first pass sums the k×k flows between classes, the client solves the
        small linear program for the repair factors, the second pass sums the
        repaired dual point's AᵀX, Aᵀ1, Σα, conjugate terms and the primal loss.
        Returns None when the LP is too large or fails, as in memory.
        """
        k = self.n_classes
        if k > certificate.MAX_CLASSES:
            return None
        coef = np.ascontiguousarray(coef, dtype=np.float64)
        intercept = np.ascontiguousarray(intercept, dtype=np.float64)
        settings = (self.loss, self.margin, mu, self.weight_sum)
        flows = self._run(_block_flows, coef, intercept, settings).reshape(k, k)
        factors = certificate.repair_factors(flows)
        if factors is None:
            return None
        total = self._run(_block_repaired_dual, coef, intercept, settings, factors)
        d = coef.shape[1]
        AtX = total[:k * d].reshape(k, d)
        A_sum = total[k * d:k * d + k]
        alpha_sum, conjugate, loss_mean = total[k * d + k:]
        dual = self.dual_value(self.margin * alpha_sum, A_sum, -AtX / self.C,
                               conjugate if self.loss != "hinge" else 0.0, intercept)
        primal = loss_mean + 0.5 * self.C * float(np.vdot(coef, coef))
        return (primal - dual) / max(abs(primal), np.finfo(float).tiny)

    def evaluate(self, coef, intercept, mu=0.0):
        """Objective, gradient and dual values at ``(coef, intercept)``."""
        coef = np.ascontiguousarray(coef, dtype=np.float64)
        intercept = np.ascontiguousarray(intercept, dtype=np.float64)
        loss_code = self._loss_code(mu)
        self.n_evaluations += 1
        stats, grad_sum, grad_intercept_sum = self.block_sums(coef, intercept,
                                                              loss_code, mu)
        if not (np.all(np.isfinite(stats)) and np.all(np.isfinite(grad_sum))):
            if np.all(np.isfinite(coef)) and np.all(np.isfinite(intercept)):
                raise ValueError("Input X contains NaN or infinity (in a row with "
                                 "positive sample weight).")
        return self.finalize(coef, intercept, stats, grad_sum, grad_intercept_sum, mu)


# -- the estimator's entry points ------------------------------------------------------

def fit(estimator, X, y, sample_weight=None):
    """``LinearMulticlassSVM.fit`` on a Dask array (called by the estimator)."""
    if estimator.solver not in ("auto", "lbfgs"):
        raise ValueError(
            f"solver={estimator.solver!r} does not support Dask arrays; use "
            "solver='lbfgs' (exact: one pass over the data per L-BFGS iteration), or "
            "partial_fit through dask_ml.wrappers.Incremental for stochastic "
            "subgradient passes over the blocks.")
    if y is None:
        raise ValueError("LinearMulticlassSVM requires y to be passed, but the target "
                         "y is None.")
    previous = estimator._warm_start_point()
    X = _check_X(X)
    y = _aligned(y, X, "y", persist=True)
    if sample_weight is not None:
        sample_weight = _aligned(sample_weight, X, "sample_weight", np.float64,
                                 persist=True)

    # One pass over y (and the weights): classes, counts, per-class weight sums.
    classes, counts, weight_sums, smallest, finite = summarize_labels(y, sample_weight)
    check_classification_targets(classes)
    if len(classes) < 2:
        raise ValueError(
            "LinearMulticlassSVM needs samples of at least 2 classes in the data; got "
            f"1 class: {classes[0]!r}.")
    if not finite:
        raise ValueError("sample_weight must be finite.")
    if smallest < 0:
        raise ValueError("Negative values in data passed to `sample_weight`")
    class_weight = None
    if estimator.class_weight is not None:
        # compute_class_weight needs only the label counts: rebuild a y with them.
        y_counts = np.repeat(classes, counts)
        class_weight = compute_class_weight(estimator.class_weight, classes=classes,
                                            y=y_counts)
        weight_sums = weight_sums * class_weight
    if weight_sums.sum() <= 0:
        raise ValueError("The sample weights (times class weights) sum to zero; at "
                         "least one sample needs a positive weight.")
    if np.count_nonzero(weight_sums > 0) < 2:
        raise ValueError("LinearMulticlassSVM needs samples of at least 2 classes "
                         "with positive weight; only 1 class has positive sample "
                         "weight.")

    n_threads = 1 if estimator.n_threads is None else estimator.n_threads
    objective = DaskMulticlassSVMObjective(
        X, y, sample_weight, classes, class_weight, float(weight_sums.sum()),
        C=estimator.C, loss=estimator.loss, margin=estimator.margin,
        fit_intercept=estimator.fit_intercept, n_threads=n_threads)
    if estimator.fit_intercept:  # one more pass over X, as in memory
        objective.intercept_scale = intercept_scale(
            float(X.map_blocks(_block_sum_of_squares, chunks=(1, 1), dtype=float)
                  .sum().compute()), X.shape[0] * X.shape[1])
    coef0, intercept0, _ = estimator._start_point(previous, classes, X.shape[1])
    result = minimize_lbfgs(objective, coef0, intercept0, tol=estimator.tol,
                            max_iter=estimator.max_iter, verbose=estimator.verbose)
    if not result.converged:
        warnings.warn(
            f"LinearMulticlassSVM (solver='lbfgs', Dask) did not converge within "
            f"max_iter={estimator.max_iter} iterations (last criterion "
            f"{result.gap:.3g} > tol={estimator.tol:g}). Increase max_iter or tol.",
            ConvergenceWarning)
    estimator._set_solution(classes, result.coef, result.intercept, result.n_iter)
    estimator.n_features_in_ = X.shape[1]
    if hasattr(estimator, "feature_names_in_"):
        del estimator.feature_names_in_
    estimator.duality_gap_ = float(result.gap)
    estimator._dual_cd_state = None
    estimator._subgradient_state = None
    estimator._solver_history = result.history
    estimator.solver_ = "lbfgs"
    return estimator


def _block_decision(X_block, coef, intercept):
    scores = np.asarray(_block_rows(X_block) @ coef.T) + intercept
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
