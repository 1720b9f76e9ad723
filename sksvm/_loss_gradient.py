"""``loss_gradient``: public access to the objective and its gradient."""

import numbers

import numpy as np
from sklearn.utils.validation import _check_sample_weight, check_array

from ._losses import get_loss
from ._objective import MulticlassSVMObjective
from ._threads import effective_n_threads, kernel_threads
from ._validation import checked_csr


def loss_gradient(coef, intercept, X, y, *, C, loss="hinge", margin=1.0,
                  smoothing=0.0, sample_weight=None, n_threads=None):
    r"""Compute the Weston-Watkins objective and its gradient at ``(coef, intercept)``.

    Evaluates

    .. math::

        J(W, b) = \frac{1}{S} \sum_i s_i \sum_{j \ne y_i}
                  \ell(\delta + (w_j - w_{y_i})^\top x_i + b_j - b_{y_i})
                  + \frac{C}{2} \lVert W \rVert_F^2

    with the same numba kernels the solvers use.

    Parameters
    ----------
    coef : array-like of shape (n_classes, n_features)
        Weights W, one row per class.
    intercept : array-like of shape (n_classes,) or None
        Intercepts b; None means zeros (and a zero intercept gradient).
    X : {array-like, sparse matrix} of shape (n_samples, n_features)
        Data; float32 and float64 are used as they are, sparse input as CSR.
    y : array-like of shape (n_samples,)
        Integer class indices in ``0..n_classes-1``.
    C : float
        Regularization strength (> 0) of the penalty (C/2)‖W‖².
    loss : {"hinge", "squared_hinge"}, default="hinge"
        The margin loss.
    margin : float, default=1.0
        The margin δ > 0.
    smoothing : float, default=0.0
        With ``loss="hinge"``, a width μ > 0 replaces the hinge by its smoothed
        (Moreau envelope) version, within μ/2 of it. 0 gives the hinge, whose
        gradient is then a subgradient (ℓ'(0) = 0).
    sample_weight : array-like of shape (n_samples,), default=None
        Non-negative sample weights; the loss is their weighted mean.
    n_threads : int or None, default=None
        Numba threads; None uses all.

    Returns
    -------
    value : float
        J(W, b).
    grad_coef : ndarray of shape (n_classes, n_features)
        Gradient with respect to W.
    grad_intercept : ndarray of shape (n_classes,)
        Gradient with respect to b (zeros when ``intercept`` is None).

    See Also
    --------
    LinearMulticlassSVM : The estimator that minimizes this objective.
    LinearMulticlassSVM.objective : The objective of a fitted model on given data.

    Examples
    --------
    >>> import numpy as np
    >>> from sksvm import loss_gradient
    >>> X = np.array([[1.0, 0.0], [0.0, 1.0]])
    >>> y = np.array([0, 1])
    >>> value, grad_coef, grad_intercept = loss_gradient(
    ...     np.zeros((2, 2)), np.zeros(2), X, y, C=1.0)
    >>> float(value)
    1.0
    >>> grad_coef
    array([[-0.5,  0.5],
           [ 0.5, -0.5]])
    """
    margin_loss = get_loss(loss)
    for name, value in (("C", C), ("margin", margin)):
        if not isinstance(value, numbers.Real) or not value > 0:
            raise ValueError(f"{name} must be a positive number; got {value!r}.")
    if not isinstance(smoothing, numbers.Real) or not 0 <= smoothing < np.inf:
        raise ValueError(f"smoothing must be a finite number >= 0; got "
                         f"{smoothing!r}.")
    margin_loss.kernel_code(smoothing)  # refuses smoothing of the squared hinge
    X = checked_csr(check_array(X, accept_sparse="csr", dtype=[np.float64, np.float32],
                                order="C", accept_large_sparse=True))
    coef = check_array(coef, dtype=np.float64, order="C", ensure_min_samples=1)
    n_classes, n_features = coef.shape
    if n_features != X.shape[1]:
        raise ValueError(f"coef has {n_features} features but X has {X.shape[1]}.")
    fit_intercept = intercept is not None
    intercept = (np.zeros(n_classes) if intercept is None
                 else np.asarray(intercept, dtype=np.float64).ravel())
    if intercept.shape != (n_classes,):
        raise ValueError(f"intercept must have shape ({n_classes},); got "
                         f"{intercept.shape}.")
    if not np.all(np.isfinite(intercept)):
        raise ValueError("intercept must be finite.")
    y = np.asarray(y)
    if y.shape != (X.shape[0],) or not np.issubdtype(y.dtype, np.integer):
        raise ValueError("y must be a 1-D integer array of class indices with one "
                         "entry per row of X.")
    if y.size and (y.min() < 0 or y.max() >= n_classes):
        raise ValueError(f"y must hold class indices in 0..{n_classes - 1}.")
    sample_weight = _check_sample_weight(sample_weight, X, dtype=np.float64,
                                         ensure_non_negative=True)
    objective = MulticlassSVMObjective(
        X, y.astype(np.int64), sample_weight, n_classes, C=C, loss=loss,
        margin=margin, fit_intercept=fit_intercept,
        n_threads=effective_n_threads(n_threads))
    with kernel_threads(objective.n_threads):
        evaluation = objective.evaluate(coef, intercept, smoothing)
    return evaluation.value, evaluation.grad_coef, evaluation.grad_intercept
