r"""LinearMulticlassSVMCV: the regularization strength chosen by cross-validation.

Each fold fits a warm-started *path*: from the largest useful C down, every fit
starting from the previous one (:func:`~sksvm._objective.largest_useful_C` gives the top of the
path). The dual box :math:`0 \le \alpha_{ij} \le s_i/S` does not depend on C, so
``"dual_cd"``'s dual point for one C is feasible for the next; the primal solvers
start from the previous W.
"""

from numbers import Integral, Real

import numpy as np
import scipy.sparse as sp
from joblib import Parallel, delayed, effective_n_jobs
from sklearn.base import BaseEstimator, ClassifierMixin, _fit_context, clone
from sklearn.metrics import get_scorer
from sklearn.model_selection import check_cv
from sklearn.utils import Bunch
from sklearn.utils._param_validation import Interval
from sklearn.utils.metadata_routing import (MetadataRouter, MethodMapping,
                                            _raise_for_params, _routing_enabled,
                                            process_routing)
from sklearn.utils.validation import (_check_method_params, check_is_fitted,
                                      validate_data)

from . import _certificate
from ._defaults import DEFAULTS
from ._estimator import _DTYPES, LinearMulticlassSVM
from ._objective import largest_useful_C
from ._solvers.dual_cd import DualCDState, data_fingerprint
from ._threads import effective_n_threads
from ._validation import (check_classes, check_labels, checked_csr,
                          effective_weights)

# The parameters of LinearMulticlassSVM that the path sets itself.
_PATH_PARAMETERS = ("C", "warm_start")
_ESTIMATOR_PARAMETERS = [name for name in LinearMulticlassSVM._parameter_constraints
                         if name not in _PATH_PARAMETERS]

# The refit starts from the folds' dual points at C_ (float32 copies kept for
# every C of the path) when a fold's points have at most this many entries in
# all (n_train × k × len(Cs): 200 MB per fold).
MAX_STORED_DUAL_ENTRIES = 50_000_000

class LinearMulticlassSVMCV(ClassifierMixin, BaseEstimator):
    r"""Linear multiclass SVM with C chosen by cross-validation along a warm path.

    Every fold fits :class:`LinearMulticlassSVM` for each C from the largest
    down, each fit warm-started from the previous one, and scores it on the
    held-out part; the C of best mean score, ``C_``, is then refitted on all the
    data, starting from the folds' solutions at ``C_``. It chooses the C that
    a grid search over the same values and folds chooses (each of its grid
    points a fit from scratch) in 0.5–0.9 of its time in the benchmarks of the
    user guide, with ``n_jobs=1``.

    Parameters
    ----------
    Cs : int or array-like of float, default=10
        The regularization strengths (C is a *strength*: larger, simpler). An
        int gives that many values log-spaced from ``C_max`` (the largest
        useful C, computed from the data: see Notes) down to
        ``C_max * C_ratio``. An array is used as given (sorted decreasingly).
    C_ratio : float, default=1e-4
        The smallest C of an integer ``Cs`` over the largest, in (0, 1]: the
        default spans four decades.
    cv : int, cross-validation generator or iterable, default=None
        The folds, as in :func:`~sklearn.model_selection.check_cv`: None gives
        5-fold stratified splits.
    scoring : str or callable, default=None
        The score to maximize (see :func:`~sklearn.metrics.get_scorer`); None
        gives the accuracy.
    n_jobs : int, default=None
        Number of folds fitted in parallel (joblib). Each fold then uses
        ``max(1, n_threads // n_jobs)`` numba threads, so that the total does
        not oversubscribe the cores. When the folds do not fill the last round
        of workers, the paths of the folds left over are cut into segments
        (each started from scratch) that share the idle workers. None means 1.
    refit : bool, default=True
        Whether to refit the model at ``C_`` on all the data. Without it,
        ``predict`` and the other methods are unavailable.
    loss : {"hinge", "squared_hinge"}, default="hinge"
        As in :class:`LinearMulticlassSVM`.
    margin : float, default=1.0
        As in :class:`LinearMulticlassSVM`.
    solver : {"auto", "lbfgs", "subgradient", "dual_cd", "newton"}, default="auto"
        As in :class:`LinearMulticlassSVM`.
    fit_intercept : bool, default=True
        As in :class:`LinearMulticlassSVM`.
    tol : float, default=1e-3
        As in :class:`LinearMulticlassSVM`: every point of the path is solved to
        this relative duality gap.
    max_iter : int, default=10000
        As in :class:`LinearMulticlassSVM`, per fit.
    batch_size : int, "auto" or None, default="auto"
        As in :class:`LinearMulticlassSVM`.
    class_weight : dict, "balanced" or None, default=None
        As in :class:`LinearMulticlassSVM`; "balanced" is computed on each
        fold's training part, as a grid search would.
    random_state : int, RandomState instance or None, default=None
        As in :class:`LinearMulticlassSVM`, for every fit.
    verbose : int, default=0
        As in :class:`LinearMulticlassSVM`.
    n_threads : int or None, default=None
        The numba threads for all the folds together (None: all that numba
        has); see ``n_jobs``.
    solver_options : dict or None, default=None
        As in :class:`LinearMulticlassSVM`.

    Attributes
    ----------
    C_ : float
        The chosen C: the largest of those with the best mean score.
    Cs_ : ndarray of shape (n_Cs,)
        The path's values of C, in decreasing order (the order of the columns
        below).
    C_max_ : float
        The largest useful C of the whole training data (see Notes).
    scores_ : ndarray of shape (n_folds, n_Cs)
        The held-out score of each fold at each C.
    n_iter_ : ndarray of shape (n_folds, n_Cs)
        The solver's iterations (or epochs) of each fit of the path.
    duality_gaps_ : ndarray of shape (n_folds, n_Cs)
        The certified relative duality gap of each fit of the path.
    objectives_ : ndarray of shape (n_folds, n_Cs)
        The objective J of each fit of the path on its fold's training part.
    best_estimator_ : LinearMulticlassSVM
        The model refitted at ``C_`` on all the data (with ``refit=True``).
    coef_ : ndarray of shape (n_classes, n_features) or (1, n_features)
        The refitted model's weights.
    intercept_ : ndarray of shape (n_classes,) or (1,)
        The refitted model's intercepts.
    classes_ : ndarray of shape (n_classes,)
        Class labels.
    duality_gap_ : float
        The refitted model's certified relative duality gap.
    solver_ : str
        The solver of the refitted model.
    n_features_in_ : int
        Number of features seen during fit.
    feature_names_in_ : ndarray of shape (`n_features_in_`,)
        Names of features seen during fit, when X has string feature names.

    See Also
    --------
    LinearMulticlassSVM : The estimator at one C.
    sklearn.linear_model.LogisticRegressionCV : The same idea for logistic
        regression.

    Notes
    -----
    The largest useful C (:func:`sksvm._objective.largest_useful_C`): with every dual
    variable at its upper bound :math:`s_i/S`, the weights are
    :math:`W = G/C` for a matrix G computed in one pass over the data. For the
    hinge without an intercept (or with balanced class totals) this is the exact
    solution for all :math:`C \ge C_{\max}`, the C at which the smallest
    margin it gives reaches zero, and the predictions no longer change above it.
    For the squared hinge, ``C_max`` is where the large-C approximation
    :math:`W \approx 2\delta G/C` keeps every margin positive.

    Examples
    --------
    >>> from sklearn.datasets import load_iris
    >>> from sklearn.preprocessing import StandardScaler
    >>> from sksvm import LinearMulticlassSVMCV
    >>> X, y = load_iris(return_X_y=True)
    >>> X = StandardScaler().fit_transform(X)
    >>> model = LinearMulticlassSVMCV(Cs=5, cv=3).fit(X, y)
    >>> model.scores_.shape
    (3, 5)
    >>> model.score(X, y) > 0.9
    True
    """

    _parameter_constraints = {
        "Cs": [Interval(Integral, 1, None, closed="left"), "array-like"],
        "C_ratio": [Interval(Real, 0, 1, closed="right")],
        "cv": ["cv_object"],
        "scoring": [str, callable, None],
        "n_jobs": [Integral, None],
        "refit": ["boolean"],
        **{name: LinearMulticlassSVM._parameter_constraints[name]
           for name in _ESTIMATOR_PARAMETERS},
    }

    def __init__(self, Cs=10, *, C_ratio=1e-4, cv=None, scoring=None, n_jobs=None,
                 refit=True, loss=DEFAULTS["loss"], margin=DEFAULTS["margin"],
                 solver=DEFAULTS["solver"], fit_intercept=DEFAULTS["fit_intercept"],
                 tol=DEFAULTS["tol"], max_iter=DEFAULTS["max_iter"],
                 batch_size=DEFAULTS["batch_size"],
                 class_weight=DEFAULTS["class_weight"],
                 random_state=DEFAULTS["random_state"], verbose=DEFAULTS["verbose"],
                 n_threads=DEFAULTS["n_threads"],
                 solver_options=DEFAULTS["solver_options"]):
        self.Cs = Cs
        self.C_ratio = C_ratio
        self.cv = cv
        self.scoring = scoring
        self.n_jobs = n_jobs
        self.refit = refit
        self.loss = loss
        self.margin = margin
        self.solver = solver
        self.fit_intercept = fit_intercept
        self.tol = tol
        self.max_iter = max_iter
        self.batch_size = batch_size
        self.class_weight = class_weight
        self.random_state = random_state
        self.verbose = verbose
        self.n_threads = n_threads
        self.solver_options = solver_options

    @_fit_context(prefer_skip_nested_validation=True)
    def fit(self, X, y, sample_weight=None, **params):
        """Choose C by cross-validation, then refit at it.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)
            Training data.
        y : array-like of shape (n_samples,)
            Class labels.
        sample_weight : array-like of shape (n_samples,), default=None
            Non-negative sample weights, used by every fit (and, when routing
            requests it, by the scorer).
        **params : dict
            Metadata for the splitter and the scorer, with metadata routing
            enabled (``sklearn.set_config(enable_metadata_routing=True)``).

        Returns
        -------
        self : LinearMulticlassSVMCV
            The fitted estimator.
        """
        _raise_for_params(params, self, "fit")
        X, y = validate_data(self, X, y, accept_sparse="csr", dtype=_DTYPES,
                             order="C", accept_large_sparse=True)
        X = checked_csr(X)
        check_labels(y)
        classes, y_encoded = np.unique(y, return_inverse=True)
        check_classes(classes)
        y_encoded = y_encoded.ravel()
        weights = effective_weights(X, y_encoded, classes, sample_weight,
                                    self.class_weight)
        if sample_weight is not None:
            sample_weight = np.asarray(sample_weight, dtype=np.float64)
        self.classes_ = classes
        self.C_max_ = largest_useful_C(X, y_encoded, weights, len(classes),
                                       self.loss, self.margin)
        self.Cs_ = self._path_Cs(self.C_max_)

        routed_params = self._routed_params(sample_weight, params)
        folds = list(check_cv(self.cv, y, classifier=True)
                     .split(X, y, **routed_params.splitter.split))
        n_jobs = min(effective_n_jobs(self.n_jobs), len(folds))
        fold_estimator = self._path_estimator(
            max(1, effective_n_threads(self.n_threads) // n_jobs))
        scorer = self._get_scorer()
        # What the refit starts from (_start_from_the_folds): the folds' dual
        # points where it can, and otherwise their weights.
        folds_per_sample = self._folds_per_sample(folds, len(y))
        keep_duals = self.refit and folds_per_sample > 0 and (
            max(len(train) for train, _ in folds) * len(classes) * len(self.Cs_)
            <= MAX_STORED_DUAL_ENTRIES)
        segments = _path_segments(len(folds), len(self.Cs_), n_jobs)
        parts = Parallel(n_jobs=n_jobs)(
            delayed(_fold_path)(clone(fold_estimator), X, y, sample_weight,
                                *folds[fold], self.Cs_[start:stop], scorer,
                                routed_params.scorer.score, keep_duals,
                                keep_coefs=self.refit)
            for fold, start, stop in segments)
        paths = _joined_segments(segments, parts, len(folds))
        for name in ("scores", "n_iter", "duality_gaps", "objectives"):
            setattr(self, f"{name}_", np.array([path[name] for path in paths]))

        best = int(np.argmax(self.scores_.mean(axis=0)))
        self.C_ = float(self.Cs_[best])
        if self.refit:
            refit_estimator = self._path_estimator(effective_n_threads(self.n_threads))
            refit_estimator.set_params(C=self.C_)
            objective, refit_classes = refit_estimator._fit_objective(X, y,
                                                                      sample_weight)
            self._start_from_the_folds(refit_estimator, objective, paths, folds, best,
                                       folds_per_sample)
            refit_estimator._fit_on(objective, refit_classes)
            self.best_estimator_ = refit_estimator.set_params(warm_start=False)
            for name in ("coef_", "intercept_", "duality_gap_", "solver_"):
                setattr(self, name, getattr(refit_estimator, name))
        return self

    def decision_function(self, X):
        """Confidence scores of the refitted model.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)
            The data.

        Returns
        -------
        scores : ndarray of shape (n_samples, n_classes) or (n_samples,)
            ``X @ coef_.T + intercept_``; one score per sample for two classes.
        """
        return self._refitted().decision_function(self._checked_input(X))

    def predict(self, X):
        """Predict class labels with the refitted model.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)
            The data.

        Returns
        -------
        y_pred : ndarray of shape (n_samples,)
            The class of highest score for each sample.
        """
        return self._refitted().predict(self._checked_input(X))

    def score(self, X, y, sample_weight=None, **score_params):
        """The score of the refitted model, with ``scoring``.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Test samples.
        y : array-like of shape (n_samples,)
            True labels.
        sample_weight : array-like of shape (n_samples,), default=None
            Sample weights.
        **score_params : dict
            Further metadata for the scorer, with metadata routing enabled.

        Returns
        -------
        score : float
            The ``scoring`` score (by default the accuracy) of the refitted model.
        """
        _raise_for_params(score_params, self, "score")
        self._refitted()
        if sample_weight is not None:
            score_params["sample_weight"] = sample_weight
        if _routing_enabled():
            score_params = process_routing(self, "score", **score_params).scorer.score
        else:
            score_params = ({} if sample_weight is None
                            else {"sample_weight": sample_weight})
        return self._get_scorer()(self, X, y, **score_params)

    def get_metadata_routing(self):
        """Get the metadata routing of this object.

        Returns
        -------
        routing : MetadataRouter
            Where ``fit`` and ``score`` send metadata: the splitter's ``split``
            and the scorer.
        """
        return (
            MetadataRouter(owner=self)
            .add_self_request(self)
            .add(splitter=check_cv(self.cv),
                 method_mapping=MethodMapping().add(caller="fit", callee="split"))
            .add(scorer=self._get_scorer(),
                 method_mapping=MethodMapping()
                 .add(caller="score", callee="score")
                 .add(caller="fit", callee="score"))
        )

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.sparse = True
        return tags

    # -- helpers -------------------------------------------------------------------
    def _path_Cs(self, C_max):
        """The path's values of C, decreasing."""
        if isinstance(self.Cs, Integral):
            return C_max * np.logspace(0, np.log10(self.C_ratio), int(self.Cs))
        Cs = np.asarray(self.Cs, dtype=np.float64).ravel()
        if Cs.size == 0 or not np.all(np.isfinite(Cs)) or np.any(Cs <= 0):
            raise ValueError(f"Cs must be a positive int or a non-empty array of "
                             f"positive finite values; got {self.Cs!r}.")
        return np.sort(Cs)[::-1]

    def _path_estimator(self, n_threads):
        """A warm-starting LinearMulticlassSVM with this estimator's settings."""
        settings = {name: getattr(self, name) for name in _ESTIMATOR_PARAMETERS}
        settings["n_threads"] = n_threads
        return LinearMulticlassSVM(**settings, warm_start=True)

    def _folds_per_sample(self, folds, n_samples):
        """For a refit that can start from the folds' dual points, the number of
        folds whose training part holds each sample; 0 where it cannot: the
        samples are not all in the same number of them, or the folds' weights
        are not the whole data's (``class_weight="balanced"``)."""
        in_training = np.zeros(n_samples, dtype=np.int64)
        for train, _ in folds:
            in_training[train] += 1
        if self.class_weight == "balanced" or in_training.min() != in_training.max():
            return 0
        return int(in_training[0])

    def _start_from_the_folds(self, estimator, objective, paths, folds, best,
                              folds_per_sample):
        """Make ``estimator``'s next fit, the refit at ``C_`` on ``objective`` (the
        whole data's), start from the folds' solutions there: their mean
        intercepts and, for the hinge's dual solvers, their mean dual point on
        the whole data and its weights W(α); otherwise their mean weights.
        ``folds_per_sample`` is :meth:`_folds_per_sample`'s.

        When every sample sits in the training part of the same number ``m`` of
        folds (``m`` = the number of folds minus one for a partition), α = Σ_f
        (S_f/S) α_f / m, each fold's point mapped from its box 0 ≤ α ≤ s_i/S_f to
        the whole data's s_i/S, is in the box (the solvers repair the
        intercept's balance constraints of any start, as they do the folds'
        own). With ``class_weight="balanced"`` the folds' weights are not the
        whole data's and only the mean weights are used; with folds that miss a
        class, nothing.
        Measured on the digits (the refit at ``C_`` = 0.022): 0.16 s from the
        folds' point, 0.20 s from scratch, 1.12 s along the path from ``C_max``.
        """
        classes = np.arange(len(self.classes_))
        if any(not np.array_equal(path["classes"], classes) for path in paths):
            return
        intercept = np.mean([path["intercepts"][best] for path in paths], axis=0)
        duals = [path["duals"][best] for path in paths]
        state = None
        if folds_per_sample and all(dual is not None for dual in duals):
            weights = objective.sample_weight
            alpha = np.zeros((len(objective.y), len(classes)))
            for (train, _), dual in zip(folds, duals):
                alpha[train] += dual * (weights[train].sum() / weights.sum())
            alpha /= folds_per_sample
            state = DualCDState(data_fingerprint(objective.X, objective.y), alpha)
            coef = _certificate.dual_coef(objective, alpha)
        else:
            coefs = [path["coefs"][best] for path in paths
                     if path["coefs"][best] is not None]
            if not coefs:
                return
            coef = np.mean(coefs, axis=0)
        estimator._start_next_fit_from(self.classes_, coef, intercept, estimator.solver,
                                       state)

    def _get_scorer(self):
        return get_scorer(self.scoring if self.scoring is not None else "accuracy")

    def _routed_params(self, sample_weight, params):
        """The metadata of the splitter and the scorer, as LogisticRegressionCV
        routes them."""
        if _routing_enabled():
            return process_routing(self, "fit", sample_weight=sample_weight,
                                   **params)
        score_params = dict(params)
        if sample_weight is not None:
            score_params["sample_weight"] = sample_weight
        return Bunch(splitter=Bunch(split={}), scorer=Bunch(score=score_params))

    def _checked_input(self, X):
        """X validated against the training data (features and their names)."""
        return validate_data(self, X, accept_sparse="csr", dtype=_DTYPES, order="C",
                             reset=False, accept_large_sparse=True)

    def _refitted(self):
        check_is_fitted(self, "best_estimator_",
                        msg="This LinearMulticlassSVMCV has no refitted model: fit "
                            "it first, with refit=True.")
        return self.best_estimator_


def _path_segments(n_folds, n_Cs, n_jobs):
    """The tasks of the folds' paths, as (fold, start, stop): the path of ``fold``
    over ``Cs_[start:stop]``, its first C fitted from scratch.

    Each fold is one task, except that when the folds do not fill the workers'
    last round (``n_folds % n_jobs`` folds left over), the left-over folds'
    paths are cut into consecutive segments that share the idle workers. A
    segment's cold first fit costs more than a warm one, but it runs beside the
    rest of its path instead of after it: 5 folds on 2 workers take two rounds
    and a half-length one instead of three.
    """
    n_left = n_folds % n_jobs
    pieces = np.ones(n_folds, dtype=np.int64)
    if n_left:
        pieces[n_folds - n_left:] = min(n_jobs // n_left, n_Cs)
    return [(fold, int(part[0]), int(part[-1]) + 1)
            for fold in range(n_folds)
            for part in np.array_split(np.arange(n_Cs), pieces[fold])]


def _joined_segments(segments, parts, n_folds):
    """Each fold's path from the :func:`_fold_path` results of its segments, which
    ``segments`` lists in order."""
    paths = []
    for fold in range(n_folds):
        pieces = [part for (owner, _, _), part in zip(segments, parts)
                  if owner == fold]
        path = dict(pieces[0])
        for name in ("scores", "n_iter", "duality_gaps", "objectives"):
            path[name] = np.concatenate([piece[name] for piece in pieces])
        for name in ("coefs", "intercepts", "duals"):
            path[name] = [entry for piece in pieces for entry in piece[name]]
        paths.append(path)
    return paths


def _fold_path(estimator, X, y, sample_weight, train, test, Cs, scorer,
               score_params, keep_duals, keep_coefs):
    """Fit ``estimator`` (warm-starting) on one fold's training part for each C of
    ``Cs`` in turn; the held-out scores, iterations, gaps, objectives and
    intercepts and, for the refit's start, each fit's float32 dual point (with
    ``keep_duals``, for the hinge's dual solvers; None otherwise) and, where it
    has no dual point (with ``keep_coefs``), its weights (None otherwise: a
    path's weights on wide data are the largest part of what it returns)."""
    X_train, y_train = X[train], y[train]
    weight_train = None if sample_weight is None else sample_weight[train]
    test_params = _check_method_params(X, params=score_params, indices=test)
    path = {name: np.empty(len(Cs)) for name in
            ("scores", "n_iter", "duality_gaps", "objectives")}
    classes = np.unique(y)
    path.update(classes=np.searchsorted(classes, np.unique(y_train)),
                coefs=[], intercepts=[], duals=[])
    # One objective for the fold: its data are validated, and the values derived
    # from them alone computed, once for all the values of C.
    objective, fold_classes = estimator.set_params(C=Cs[0])._fit_objective(
        X_train, y_train, weight_train)
    for index, C in enumerate(Cs):
        _keep_the_weights_at_the_next_C(estimator, C)
        # The folds need the certified tol only, not the exact optimum.
        estimator.set_params(C=C)._fit_on(objective, fold_classes, finish_exactly=False)
        path["scores"][index] = scorer(estimator, X[test], y[test], **test_params)
        path["n_iter"][index] = estimator.n_iter_
        path["duality_gaps"][index] = estimator.duality_gap_
        coef, intercept = estimator._full_parameters()
        path["objectives"][index] = objective.with_C(C).value(coef, intercept)
        state = estimator._solver_state[1]
        dual = (state.alpha.astype(np.float32)
                if keep_duals and isinstance(state, DualCDState) else None)
        path["duals"].append(dual)
        path["coefs"].append(coef if keep_coefs and dual is None else None)
        path["intercepts"].append(intercept)
    path["n_iter"] = path["n_iter"].astype(np.int64)
    return path


def _keep_the_weights_at_the_next_C(estimator, C):
    """Scale the dual point that ``estimator``'s warm start will reuse by
    ``C / estimator.C``, so that the next fit, at ``C``, starts from the same
    weights W(α) = G(α)/C instead of weights multiplied by ``estimator.C / C``.

    The scaled point stays feasible: going down the path the factor is below 1,
    so the box 0 ≤ α ≤ s/S holds, and the intercept's (linear, homogeneous)
    balance constraints are kept. Measured on the digits and on sparse text, it needs
    fewer epochs than reusing α unchanged, most at the small values of C.
    """
    solver_state = getattr(estimator, "_solver_state", None)
    if solver_state is None or not isinstance(solver_state[1], DualCDState):
        return
    solver_state[1].alpha = solver_state[1].alpha * min(1.0, C / estimator.C)
