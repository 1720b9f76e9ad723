"""Validation of labels and weights, shared by the in-memory and the Dask paths, so
that both give the same messages and apply the same safeguards.

The effective weight of sample i is s_i = sample_weight_i × class_weight[y_i]; the
checks here are on those, and on per-class summaries of them (which Dask computes
in one pass over the blocks).
"""

import warnings

import numpy as np
import scipy.sparse as sp
from sklearn.utils import compute_class_weight
from sklearn.utils.multiclass import check_classification_targets
from sklearn.utils.validation import _check_sample_weight

# Weights whose largest entry has a binary exponent beyond this are rescaled.
WEIGHT_SCALE_EXPONENT = 16


def checked_csr(X):
    """X (any array) with a sound CSR structure: X itself, or a copy with summed
    duplicates and sorted indices when it has those; ValueError when malformed.

    SciPy accepts column indices outside [0, n_features) and inconsistent row
    pointers, which the kernels would read out of bounds. Costs O(nnz).
    """
    if not sp.issparse(X) or X.format != "csr":
        return X
    n_rows, n_features = X.shape
    indptr, indices = X.indptr, X.indices
    problem = None
    if indptr.shape[0] != n_rows + 1 or indptr[0] != 0:
        problem = "its row pointers (indptr) do not match its shape"
    elif indptr[-1] != indices.shape[0] or indices.shape[0] != X.data.shape[0]:
        problem = "its row pointers (indptr) do not match its stored entries"
    elif np.any(np.diff(indptr) < 0):
        problem = "its row pointers (indptr) decrease"
    elif indices.size and (indices.min() < 0 or indices.max() >= n_features):
        problem = (f"it has column indices outside [0, {n_features}) (from "
                   f"{indices.min()} to {indices.max()})")
    if problem is not None:
        raise ValueError(f"X is a malformed sparse matrix: {problem}.")
    if not X.has_canonical_format:
        X = X.copy()
        X.sum_duplicates()  # the caller's matrix is left as it is
    return X


def check_labels(y):
    """scikit-learn's check that ``y`` holds class labels, with the offending
    values named when float labels are not exact integers (e.g. 1e30, whose cast
    to an integer overflows, or 0.5)."""
    y = np.asarray(y)
    with warnings.catch_warnings():
        # The integer cast behind the check warns on floats beyond int64's range.
        warnings.filterwarnings("ignore", message="invalid value encountered in cast",
                                category=RuntimeWarning)
        try:
            check_classification_targets(y)
        except ValueError as exc:
            if y.dtype.kind != "f":
                raise
            values = np.unique(y[np.isfinite(y)])
            limit = float(np.iinfo(np.int64).max)
            odd = values[(values != np.round(values)) | (np.abs(values) > limit)]
            if odd.size == 0:
                raise
            raise ValueError(
                f"{exc} y holds float labels that are not integers in int64's range, "
                f"e.g. {odd[:3].tolist()!r}: encode the classes as integers or "
                "strings.") from exc


def check_classes(classes):
    """Refuse labels that are not classes (e.g. continuous values), and fewer than
    2 classes. ``classes`` are the distinct labels."""
    with warnings.catch_warnings():
        # Distinct labels are all unique: the "more than 50 % unique" warning of
        # check_classification_targets is about y, not about them.
        warnings.filterwarnings("ignore", message="The number of unique classes",
                                category=UserWarning)
        check_classification_targets(classes)
    if len(classes) < 2:
        raise ValueError(
            "LinearMulticlassSVM needs samples of at least 2 classes in the data; "
            f"got 1 class: {classes[0]!r}.")


def class_weight_factors(class_weight, classes, counts):
    """The factor of each class (array of shape (k,)), or None for no class weights.

    Parameters
    ----------
    class_weight : dict, "balanced", ndarray of shape (k,) or None
        An array is taken as the factors themselves (those of a fit).
    classes : ndarray of shape (k,)
        The sorted labels.
    counts : ndarray of shape (k,)
        The number of samples of each class (for "balanced").
    """
    if class_weight is None:
        return None
    if isinstance(class_weight, np.ndarray):
        return class_weight
    # "balanced" needs the class counts only: they enter as the weights of the
    # distinct labels.
    factors = compute_class_weight(class_weight, classes=classes, y=classes,
                                   sample_weight=np.asarray(counts, dtype=np.float64))
    if not np.all(np.isfinite(factors)) or np.any(factors < 0):
        raise ValueError(f"class_weight must be finite and non-negative; got "
                         f"{class_weight!r}.")
    return np.asarray(factors, dtype=np.float64)


def check_weight_values(smallest, all_finite):
    """Refuse negative or non-finite sample weights (given their smallest value and
    whether all are finite)."""
    if not all_finite:
        raise ValueError("sample_weight must be finite.")
    if smallest < 0:
        raise ValueError("Negative values in data passed to `sample_weight`")


def check_class_totals(class_totals, require_two_classes=True):
    """Refuse effective weights (``class_totals``: their sum per class, after
    :func:`scale_sample_weight`) that are not finite, sum to zero or, with
    ``require_two_classes``, leave fewer than 2 classes weighted."""
    if not np.all(np.isfinite(class_totals)):
        raise ValueError("sample_weight must be finite: the sample weights (times "
                         "class weights) overflow.")
    if not class_totals.sum() > 0:
        raise ValueError("The sample weights (times class weights) sum to zero; at "
                         "least one sample needs a positive weight.")
    if require_two_classes and np.count_nonzero(class_totals > 0) < 2:
        raise ValueError("LinearMulticlassSVM needs samples of at least 2 classes "
                         "with positive weight; only 1 class has positive sample "
                         "weight.")


def effective_weights(X, y_encoded, classes, sample_weight, class_weight,
                      require_two_classes=True):
    """Checked effective sample weights (float64, a new array) of in-memory data.

    Parameters
    ----------
    X : array or sparse matrix of shape (n, d)
    y_encoded : ndarray of shape (n,)
        Class indices into ``classes``.
    classes : ndarray of shape (k,)
    sample_weight : array-like of shape (n,) or None
    class_weight : dict, "balanced" or None
    require_two_classes : bool
    """
    k = len(classes)
    weights = _check_sample_weight(sample_weight, X, dtype=np.float64, copy=True)
    check_weight_values(float(np.min(weights, initial=0.0)),
                        bool(np.all(np.isfinite(weights))))
    counts = np.bincount(y_encoded, minlength=k)
    factors = class_weight_factors(class_weight, classes, counts)
    if factors is not None:
        with np.errstate(over="ignore"):
            weights *= factors[y_encoded]
    with np.errstate(over="ignore"):
        check_class_totals(np.bincount(y_encoded, weights=scale_sample_weight(weights),
                                       minlength=k), require_two_classes)
    return weights


def weight_scale(largest):
    """The power of two bringing the largest weight ``largest`` to [0.5, 1) when it
    is far from 1, else 1.

    Only the ratios s_i/S enter the objective, but the kernels form the products
    s_i·ℓ'(m_ij) in the precision of X, where weights far from 1 underflow or
    overflow (float32 from 1e-38 and 3e38 on). Scaling by a power of two is exact.
    """
    if largest == 0.0 or not np.isfinite(largest):
        return 1.0
    exponent = np.frexp(largest)[1]
    if abs(exponent) <= WEIGHT_SCALE_EXPONENT:
        return 1.0
    return float(np.ldexp(1.0, -exponent))


def scale_sample_weight(sample_weight):
    """``sample_weight`` times :func:`weight_scale` of its largest entry."""
    scale = weight_scale(float(np.max(sample_weight, initial=0.0)))
    return sample_weight if scale == 1.0 else sample_weight * scale
