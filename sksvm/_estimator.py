"""LinearMulticlassSVM: the scikit-learn estimator.

``fit`` validates the data (:mod:`sksvm._validation`), builds the objective over it
(:mod:`sksvm._objective`, or :mod:`sksvm._dask` for Dask arrays), and hands it to a
solver (:mod:`sksvm._solvers`), whose result it stores.
"""

import sys
import warnings
from contextlib import contextmanager
from numbers import Integral, Real

import numpy as np
from sklearn.base import BaseEstimator, ClassifierMixin, _fit_context
from sklearn.exceptions import ConvergenceWarning
from sklearn.linear_model._base import LinearClassifierMixin
from sklearn.utils import check_random_state
from sklearn.utils._param_validation import Interval, StrOptions
from sklearn.utils.extmath import safe_sparse_dot
from sklearn.utils.validation import check_is_fitted, validate_data

from ._defaults import CLASS_WEIGHT_OPTIONS, DEFAULTS, LOSSES
from ._defaults import SOLVERS as SOLVER_NAMES
from ._objective import MulticlassSVMObjective
from ._solvers import Start, choose_solver, solve, state_for
from ._solvers.subgradient import partial_fit_epoch
from ._threads import effective_n_threads, kernel_threads
from ._validation import (check_classes, check_labels, checked_csr,
                          class_weight_factors, effective_weights)

_DTYPES = [np.float64, np.float32]
# A fit that ends at max_iter with its criterion above this many times tol gets
# advice beyond "increase max_iter" (_warn_if_not_converged).
FAR_FROM_TOL = 100.0


class LinearMulticlassSVM(LinearClassifierMixin, ClassifierMixin, BaseEstimator):
    r"""Linear multiclass SVM with the Weston-Watkins hinge loss.

    Minimizes, over weights ``W`` (one row per class) and intercepts ``b``,

    .. math::

        J(W, b) = \frac{1}{S} \sum_i s_i \sum_{j \ne y_i}
                  \ell(\delta + (w_j - w_{y_i})^\top x_i + b_j - b_{y_i})
                  + \frac{C}{2} \lVert W \rVert_F^2

    where :math:`s_i` are the sample weights, :math:`S = \sum_i s_i`, :math:`\delta`
    is the ``margin`` and :math:`\ell` the hinge or squared hinge. The intercept is
    not penalized. This is a single joint multiclass problem, not one-vs-rest.

    Parameters
    ----------
    C : float, default=1e-4
        Regularization **strength**: larger C gives a simpler model. This is the
        opposite of :class:`~sklearn.svm.LinearSVC`'s ``C`` and the same role as
        ``SGDClassifier(alpha=...)``. For ``n`` unit-weight samples, binary
        problems and ``fit_intercept=False``, ``LinearSVC(loss="hinge",
        C=2 / (n * C))`` minimizes the same objective.
    loss : {"hinge", "squared_hinge"}, default="hinge"
        The margin loss :math:`\ell(m) = \max(0, m)` or :math:`\max(0, m)^2`.
    margin : float, default=1.0
        The margin :math:`\delta > 0` required between the true class's score and
        every other class's score.
    solver : {"auto", "lbfgs", "subgradient", "dual_cd", "newton"}, default="auto"
        ``"auto"`` chooses the solver measured fastest and most reliable for the
        input: ``"newton"`` on dense input with ``n_classes * (n_features + 1)``
        at most 2500 and ``n_samples`` times that at most 5e7, ``"dual_cd"`` for
        sparse input and for the hinge on other dense input, ``"lbfgs"`` for the
        squared hinge on other dense input and
        for Dask arrays; ``solver_`` tells which ran. ``"newton"``: semismooth
        Newton steps (an augmented Lagrangian method for the hinge), stopped by
        a certified duality gap, with or without an intercept; a cold fit on
        data outside that size, at C below half the largest useful C, first runs
        ``"dual_cd"`` epochs (at most 1000, reading at most 1e10 entries of X),
        which end the fit where they converge fast and otherwise hand their
        point, at a certified gap of 1e-2, to the Newton steps.
        ``"lbfgs"``: L-BFGS on the squared hinge, or on a sequence of smoothed
        hinges with decreasing smoothing width (continuation), stopped by a
        duality-gap certificate. ``"subgradient"``: Pegasos-type (mini-batch)
        subgradient descent with iterate averaging. ``"dual_cd"``: exact block
        coordinate ascent on the dual, one sample per block in a random order
        each epoch, stopped by a certified duality gap (both losses; see Notes).
        It is the fastest choice for sparse, high-dimensional data such as text.
    fit_intercept : bool, default=True
        Whether to fit unpenalized intercepts.
    tol : float, default=1e-3
        Stopping tolerance. For ``"lbfgs"``, the relative duality gap
        :math:`(J - D) / J`, which bounds the relative suboptimality of the
        objective (exactly so when ``fit_intercept=False``). For ``"dual_cd"``
        and ``"newton"``, the same relative gap, which bounds the relative suboptimality exactly,
        with or without an intercept. For ``"subgradient"``, the relative change
        of the averaged objective since half of the steps so far had been taken
        (at its O(1/t) rate, an estimate of the remaining relative excess).
    max_iter : int, default=10000
        Maximum number of L-BFGS iterations (over all smoothing stages), of
        Newton steps (not counting ``"newton"``'s start epochs), or of epochs for
        ``"subgradient"`` and ``"dual_cd"``.
    batch_size : int, "auto" or None, default="auto"
        Mini-batch size for ``"subgradient"`` (and ``partial_fit``). ``"auto"``
        takes one step per sample, in a random order drawn from ``random_state``
        (the most progress per epoch in our measurements,
        benchmarks/results/subgradient_batch_size.md). None, or a size of at
        least ``n_samples``, means full batch, which is deterministic.
    class_weight : dict, "balanced" or None, default=None
        Weights multiplying the sample weights of each class; "balanced" uses
        ``n_samples / (n_classes * np.bincount(y))``.
    warm_start : bool, default=False
        Start from the previous solution (and, for ``"subgradient"``, continue
        its step-size schedule) when the classes are unchanged. ``"dual_cd"``
        starts from the previous dual variables when the previous fit was also a
        ``"dual_cd"`` fit with ``warm_start=True`` on the same ``X`` and ``y``
        (recognized by a hash of ``y`` and of entries spread over ``X``; ``C``,
        ``margin``, the weights and the loss may differ; any dual point of data
        of the same size is a valid, if poorer, start), and from scratch
        otherwise: its iterates are dual points, which
        a primal solution cannot supply. ``"newton"`` starts from the previous
        solution, and for the hinge also from the previous dual point on the
        same terms.
    random_state : int, RandomState instance or None, default=None
        Seeds the sample order of the stochastic subgradient solver and of
        ``"dual_cd"``'s (and ``"newton"``'s start) epochs.
    verbose : int, default=0
        Print one progress line per iteration or epoch when positive.
    n_threads : int or None, default=None
        Number of threads for the loss and gradient evaluations. None uses all the
        threads numba has (``NUMBA_NUM_THREADS``). Results are bit-identical for
        a fixed thread count. On Dask arrays it is the number of threads of each
        block task.
    solver_options : dict or None, default=None
        Options of the chosen solver, for tuning and benchmarks. ``"lbfgs"``:
        ``memory`` (correction pairs; by default 30, fewer on very wide sparse
        data), ``smoothing_start`` (first smoothing width; default ``margin``),
        ``smoothing_decrease`` (factor between stages, default 0.3),
        ``stage_gap_fraction`` (default 0.5). ``"dual_cd"``: ``shrinking``
        (default True), ``check_interval`` (passes over X between duality-gap
        checks, default 2.0, growing in long runs up to 8). ``"subgradient"`` has none (``batch_size`` is a
        parameter of its own). An option the solver does not have raises a
        ValueError.

    Attributes
    ----------
    coef_ : ndarray of shape (n_classes, n_features) or (1, n_features)
        Weights, one row per class. For binary problems, one row: the
        difference ``w_1 - w_0`` of the two class weight vectors, as in
        :class:`~sklearn.svm.LinearSVC`.
    intercept_ : ndarray of shape (1,) if n_classes == 2 else (n_classes,)
        Intercepts (zeros when ``fit_intercept=False``); ``b_1 - b_0`` for binary
        problems. Only their differences matter; multiclass intercepts are
        centred to sum to zero.
    classes_ : ndarray of shape (n_classes,)
        Class labels.
    n_iter_ : int
        Number of L-BFGS iterations, of subgradient or ``"dual_cd"`` epochs, or
        of Newton steps plus start epochs run.
    solver_ : str
        The solver that ran: ``solver``, or the one ``"auto"`` chose
        (``"subgradient"`` after :meth:`partial_fit`).
    duality_gap_ : float
        Relative duality gap :math:`(J - D) / J` at the returned solution, an
        upper bound on its relative suboptimality :math:`(J - J^*) / J`. For
        ``"dual_cd"`` and ``"lbfgs"`` it is the solver's stopping certificate
        (when ``"lbfgs"`` did not converge with ``fit_intercept=True``, it comes
        from a dual point repaired to satisfy the intercept's constraint). For ``"subgradient"`` it is computed
        once at the end from the dual point
        :math:`\alpha_{ij} = (s_i/S)\,\ell'(m_{ij})`, scaled by the best factor
        in [0, 1] (often loose for that solver); with ``fit_intercept=True`` it
        then bounds the suboptimality with the intercept held at its returned
        value. NaN after :meth:`partial_fit`.
    history_ : list of dict
        The solver's convergence record, one dict per iteration (``"lbfgs"``),
        epoch (``"subgradient"``) or duality-gap check (``"dual_cd"``), with keys
        ``iteration``, ``n_evaluations``, ``time`` (seconds since the solver
        started), ``objective`` (the true objective J), ``gap`` (the stopping
        criterion: the relative duality gap, or for ``"subgradient"`` the relative
        change of the averaged objective) and ``smoothing`` (the smoothing width
        of ``"lbfgs"``, 0 otherwise). Empty after :meth:`partial_fit`.
    n_features_in_ : int
        Number of features seen during fit.
    feature_names_in_ : ndarray of shape (`n_features_in_`,)
        Names of features seen during fit, when X has string feature names.

    See Also
    --------
    sklearn.svm.LinearSVC : One-vs-rest (or Crammer-Singer) linear SVM.
    sklearn.linear_model.SGDClassifier : Stochastic gradient descent classifiers.

    Notes
    -----
    The hinge loss is not differentiable. The ``"lbfgs"`` solver minimizes
    smoothed objectives :math:`J_\mu` (the hinge replaced by its Moreau envelope of
    width :math:`\mu`, which is within :math:`\mu/2` of it), decreasing
    :math:`\mu` by a factor 0.3 per stage from ``margin``, until the duality gap computed
    from the smoothed problem's dual point meets ``tol``.

    The ``"dual_cd"`` solver maximizes the dual (one variable
    :math:`0 \le \alpha_{ij} \le s_i/S` per sample and wrong class; for the
    squared hinge no upper bound and a quadratic term) one sample at a time, each
    (k−1)-variable block solved exactly in O(k log k) by sorting (Wang & Scott,
    2021), keeping :math:`W(\alpha)` up to date: an epoch costs O(nnz·k).
    Blocks sitting at their bounds are skipped (shrinking) and brought back by
    the duality-gap passes. The unpenalized intercept is handled exactly by the
    method of multipliers (a proximal-point method on the intercept), and the gap
    it reports is certified by repairing the dual point into the exact dual
    (no ``intercept_scaling`` is involved: the result does not depend on it).
    While few dual variables are strictly inside their bounds, an exact
    active-set solve finishes the job. ``"dual_cd"`` is slow on low-dimensional
    dense data with many margin support vectors, where ``"lbfgs"`` is faster.

    References
    ----------
    J. Weston and C. Watkins, "Support vector machines for multi-class pattern
    recognition", ESANN 1999.

    Examples
    --------
    >>> from sklearn.datasets import load_iris
    >>> from sklearn.pipeline import make_pipeline
    >>> from sklearn.preprocessing import StandardScaler
    >>> from sksvm import LinearMulticlassSVM
    >>> X, y = load_iris(return_X_y=True)
    >>> model = make_pipeline(StandardScaler(), LinearMulticlassSVM(C=1e-3))
    >>> model = model.fit(X, y)
    >>> model.score(X, y) > 0.9
    True
    """

    _parameter_constraints = {
        "C": [Interval(Real, 0, None, closed="neither")],
        "loss": [StrOptions(set(LOSSES))],
        "margin": [Interval(Real, 0, None, closed="neither")],
        "solver": [StrOptions(set(SOLVER_NAMES))],
        "fit_intercept": ["boolean"],
        "tol": [Interval(Real, 0, None, closed="left")],
        "max_iter": [Interval(Integral, 1, None, closed="left")],
        "batch_size": [Interval(Integral, 1, None, closed="left"),
                       StrOptions({"auto"}), None],
        "class_weight": [dict, StrOptions(set(CLASS_WEIGHT_OPTIONS)), None],
        "warm_start": ["boolean"],
        "random_state": ["random_state"],
        "verbose": ["verbose"],
        "n_threads": [Interval(Integral, 1, None, closed="left"), None],
        "solver_options": [dict, None],
    }

    def __init__(self, C=DEFAULTS["C"], *, loss=DEFAULTS["loss"],
                 margin=DEFAULTS["margin"], solver=DEFAULTS["solver"],
                 fit_intercept=DEFAULTS["fit_intercept"], tol=DEFAULTS["tol"],
                 max_iter=DEFAULTS["max_iter"], batch_size=DEFAULTS["batch_size"],
                 class_weight=DEFAULTS["class_weight"],
                 warm_start=DEFAULTS["warm_start"],
                 random_state=DEFAULTS["random_state"], verbose=DEFAULTS["verbose"],
                 n_threads=DEFAULTS["n_threads"],
                 solver_options=DEFAULTS["solver_options"]):
        self.C = C
        self.loss = loss
        self.margin = margin
        self.solver = solver
        self.fit_intercept = fit_intercept
        self.tol = tol
        self.max_iter = max_iter
        self.batch_size = batch_size
        self.class_weight = class_weight
        self.warm_start = warm_start
        self.random_state = random_state
        self.verbose = verbose
        self.n_threads = n_threads
        self.solver_options = solver_options

    # -- public API --------------------------------------------------------------
    @_fit_context(prefer_skip_nested_validation=True)
    def fit(self, X, y, sample_weight=None):
        """Fit the model to data.

        Parameters
        ----------
        X : {array-like, sparse matrix, dask array} of shape (n_samples, n_features)
            Training data. float32 input is used as is; sparse input is converted to
            CSR once. A Dask array is fitted where its blocks live
            (:doc:`/dask`).
        y : array-like of shape (n_samples,)
            Class labels.
        sample_weight : array-like of shape (n_samples,), default=None
            Non-negative sample weights; an integer weight acts as repeating the
            sample.

        Returns
        -------
        self : LinearMulticlassSVM
            The fitted estimator.
        """
        return self._fit(X, y, sample_weight)

    def _fit(self, X, y, sample_weight, finish_exactly=True):
        """:meth:`fit`; ``finish_exactly=False`` skips the Newton solver's exact
        finishing step once its gap is within ``tol`` (see :class:`Start`), for
        fits that only need the certified ``tol``."""
        return self._fit_with(lambda: self._fit_objective(X, y, sample_weight),
                              finish_exactly)

    def _fit_on(self, objective, classes, finish_exactly=True):
        """:meth:`_fit` on an objective that :meth:`_fit_objective` built for this
        estimator earlier (its other settings must be this estimator's), at this
        estimator's C: the data are not validated again, and what was derived
        from them alone is reused."""
        def at_this_C():
            objective_at_C = objective.with_C(self.C)
            objective_at_C.check_feature_scale()
            return objective_at_C, classes

        return self._fit_with(at_this_C, finish_exactly)

    def _fit_with(self, make_objective, finish_exactly):
        """Fit to ``make_objective()`` = (objective, classes), from the warm
        start's point if any, and set the fitted attributes."""
        # The whole fit runs under the BLAS limit: a fit that overlaps another
        # gets the same bits as one run alone.
        with (_restore_on_failure(self),
              kernel_threads(effective_n_threads(self.n_threads))):
            previous = self._fitted_point() if self.warm_start else None
            objective, classes = make_objective()
            solver = choose_solver(self.solver, objective)
            start = self._start(previous, classes, objective.n_features, solver)
            start.finish_exactly = finish_exactly
            result = solve(solver, objective, start, tol=self.tol,
                           max_iter=self.max_iter,
                           random_state=check_random_state(self.random_state),
                           verbose=self.verbose, options=self._solver_options(solver))
            _warn_if_not_converged(result, solver, self.tol, self.max_iter)
            self._set_solution(classes, result, solver, result.n_iter)
        return self

    def partial_fit(self, X, y, classes=None, sample_weight=None):
        """One pass of the subgradient solver over a chunk of data.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)
            One chunk of training data.
        y : array-like of shape (n_samples,)
            Class labels of the chunk.
        classes : array-like of shape (n_classes,), default=None
            All the classes, required on the first call. On later calls it may be
            passed again and must then equal ``classes_``.
        sample_weight : array-like of shape (n_samples,), default=None
            Non-negative sample weights.

        Returns
        -------
        self : LinearMulticlassSVM
            The updated estimator.

        Notes
        -----
        The chunk is traversed in mini-batches of ``batch_size`` (one sample per
        step for ``"auto"``, one batch for None), in a random order drawn from
        ``random_state``. ``solver`` is ignored: partial fitting is always
        subgradient descent.
        """
        self._validate_params()
        if self.class_weight == "balanced":
            raise ValueError("class_weight='balanced' is not supported by partial_fit: "
                             "the class frequencies of later chunks are unknown. "
                             "Pass a dict of class weights instead.")
        with (_restore_on_failure(self),
              kernel_threads(effective_n_threads(self.n_threads))):
            first_call = not hasattr(self, "classes_")
            all_classes = self._partial_fit_classes(classes, first_call)
            X, y = validate_data(self, X, y, accept_sparse="csr", dtype=_DTYPES,
                                 order="C", reset=first_call,
                                 accept_large_sparse=True)
            X = checked_csr(X)
            check_labels(y)
            y_encoded = _encode_labels(y, all_classes)
            if first_call:
                self._class_weight_factors = class_weight_factors(
                    self.class_weight, all_classes, np.ones(len(all_classes)))
            objective = self._in_memory_objective(X, y_encoded, all_classes,
                                                  sample_weight,
                                                  require_two_classes=False)
            objective.check_feature_scale()
            if first_call:
                start = Start.zeros(len(all_classes), X.shape[1])
            else:
                start = Start(*self._full_parameters(),
                              state=self._solver_state_of("subgradient"))
            result = partial_fit_epoch(
                objective, start, batch_size=self.batch_size,
                random_state=check_random_state(self.random_state))
            self._set_solution(all_classes, result, "subgradient",
                               1 if first_call else self.n_iter_ + 1)
        return self

    def objective(self, X, y, sample_weight=None):
        """The objective J at the fitted parameters on the given data.

        This is always the true (unsmoothed) objective, with the same ``C``,
        ``loss``, ``margin`` and class weights as the fit.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)
            The data on which to evaluate the objective.
        y : array-like of shape (n_samples,)
            Labels, all among ``classes_``.
        sample_weight : array-like of shape (n_samples,), default=None
            Sample weights, multiplied by the class weights of the fit; None
            gives every sample weight one.

        Returns
        -------
        value : float
            J(W, b).
        """
        check_is_fitted(self)
        X = checked_csr(validate_data(self, X, accept_sparse="csr", dtype=_DTYPES,
                                      order="C", reset=False,
                                      accept_large_sparse=True))
        y_encoded = _encode_labels(np.asarray(y), self.classes_)
        if y_encoded.shape[0] != X.shape[0]:
            raise ValueError(f"X has {X.shape[0]} samples but y has "
                             f"{y_encoded.shape[0]}.")
        objective = self._in_memory_objective(X, y_encoded, self.classes_,
                                              sample_weight, require_two_classes=False)
        with kernel_threads(objective.n_threads):
            return objective.value(*self._full_parameters())

    # -- Dask arrays: lazy results (sksvm/_dask.py, docs/dask.rst) ------------------
    def decision_function(self, X):
        """Confidence scores of the samples.

        Parameters
        ----------
        X : {array-like, sparse matrix, dask array} of shape (n_samples, n_features)
            The data. A Dask array gives a lazy Dask array, one task per row block.

        Returns
        -------
        scores : ndarray or dask array of shape (n_samples, n_classes) or (n_samples,)
            ``X @ coef_.T + intercept_``. For two classes, one score per sample,
            positive for ``classes_[1]``.
        """
        if _dask_input(X):
            from . import _dask
            return _dask.decision_function(self, X)
        check_is_fitted(self)
        X = checked_csr(validate_data(self, X, accept_sparse="csr", reset=False))
        scores = safe_sparse_dot(X, self.coef_.T, dense_output=True) + self.intercept_
        return scores.ravel() if scores.shape[1] == 1 else scores

    def predict(self, X):
        """Predict class labels.

        Parameters
        ----------
        X : {array-like, sparse matrix, dask array} of shape (n_samples, n_features)
            The data. A Dask array gives a lazy Dask array, one task per row block.

        Returns
        -------
        y_pred : ndarray or dask array of shape (n_samples,)
            The class of highest score for each sample.
        """
        if _dask_input(X):
            from . import _dask
            return _dask.predict(self, X)
        return super().predict(X)

    def score(self, X, y, sample_weight=None):
        """Mean accuracy on the given data and labels.

        Parameters
        ----------
        X : {array-like, sparse matrix, dask array} of shape (n_samples, n_features)
            Test samples. With a Dask array the result is a lazy 0-d Dask array.
        y : array-like or dask array of shape (n_samples,)
            True labels.
        sample_weight : array-like or dask array of shape (n_samples,), default=None
            Sample weights.

        Returns
        -------
        score : float or dask array
            Mean accuracy of ``self.predict(X)`` with respect to ``y``.
        """
        if _dask_input(X):
            from . import _dask
            return _dask.score(self, X, y, sample_weight)
        return super().score(X, y, sample_weight=sample_weight)

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.sparse = True
        return tags

    # -- helpers -----------------------------------------------------------------
    def _objective_settings(self):
        return dict(C=self.C, loss=self.loss, margin=self.margin,
                    fit_intercept=self.fit_intercept,
                    n_threads=effective_n_threads(self.n_threads))

    def _solver_options(self, solver):
        """``solver_options``, plus ``batch_size`` for the subgradient solver."""
        options = dict(self.solver_options or {})
        if solver == "subgradient":
            if "batch_size" in options:
                raise ValueError("Set batch_size as a parameter of its own, not in "
                                 "solver_options.")
            options["batch_size"] = self.batch_size
        return options

    def _fit_objective(self, X, y, sample_weight):
        """Validate the training data; returns the objective over it and the
        classes. Dask arrays get an objective whose rows stay in their blocks."""
        if _dask_input(X):
            from . import _dask
            objective, classes, self._class_weight_factors = _dask.make_objective(
                X, y, sample_weight, self.class_weight, **self._objective_settings())
            self.n_features_in_ = objective.n_features
            self.__dict__.pop("feature_names_in_", None)
        else:
            X, y = validate_data(self, X, y, accept_sparse="csr", dtype=_DTYPES,
                                 order="C", accept_large_sparse=True)
            X = checked_csr(X)
            check_labels(y)
            classes, y_encoded = np.unique(y, return_inverse=True)
            check_classes(classes)
            y_encoded = y_encoded.ravel()
            self._class_weight_factors = class_weight_factors(
                self.class_weight, classes, np.bincount(y_encoded,
                                                        minlength=len(classes)))
            objective = self._in_memory_objective(X, y_encoded, classes, sample_weight)
        objective.check_feature_scale()
        return objective, classes

    def _in_memory_objective(self, X, y_encoded, classes, sample_weight,
                             require_two_classes=True):
        """The objective over in-memory rows, with the class weights of the fit
        (``class_weight`` itself before the first fit)."""
        class_weight = getattr(self, "_class_weight_factors", self.class_weight)
        weights = effective_weights(X, y_encoded, classes, sample_weight,
                                    class_weight, require_two_classes)
        return MulticlassSVMObjective(X, y_encoded.astype(np.int64), weights,
                                      len(classes), **self._objective_settings())

    def _fitted_point(self):
        """(classes, coef, intercept, (solver, state)) that a warm start continues
        from: the point given to :meth:`_start_next_fit_from`, else the fitted
        model's, else None."""
        pending = self.__dict__.pop("_pending_start", None)
        if pending is not None:
            return pending
        if not hasattr(self, "coef_"):
            return None
        return (self.classes_, *self._full_parameters(),
                getattr(self, "_solver_state", None))

    def _start_next_fit_from(self, classes, coef, intercept, solver, state):
        """Make the next fit with ``warm_start=True`` start from the (k, d) weights
        ``coef``, the (k,) ``intercept`` and, if that fit uses ``solver``, its
        warm-start ``state`` (a point the caller built, e.g. the top of a
        regularization path)."""
        self._pending_start = (np.asarray(classes), np.asarray(coef, dtype=np.float64),
                               np.asarray(intercept, dtype=np.float64), (solver, state))

    def _solver_state_of(self, solver):
        """The warm-start state the last fit's solver left, if that was ``solver``."""
        name, state = getattr(self, "_solver_state", (None, None))
        return state if name == solver else None

    def _start(self, previous, classes, n_features, solver):
        """The solver's start: zeros, or with ``warm_start`` the previous solution
        and, from the same solver, its state."""
        start = Start.zeros(len(classes), n_features)
        start.keep_state = self.warm_start
        if previous is None:
            return start
        old_classes, coef, intercept, (old_solver, state) = previous
        if not np.array_equal(old_classes, classes):
            raise ValueError(
                "warm_start=True needs the same classes as the previous fit; got "
                f"{classes.tolist()!r}, previously {old_classes.tolist()!r}. Set "
                "warm_start=False to fit from scratch.")
        if coef.shape[1] != n_features:
            raise ValueError(
                f"warm_start=True needs the same number of features as the previous "
                f"fit ({coef.shape[1]}); X has {n_features}.")
        start.coef = coef
        start.intercept = intercept if self.fit_intercept else np.zeros_like(intercept)
        start.state = state_for(solver, old_solver, state)
        return start

    def _full_parameters(self):
        """The (k, d) weights and (k,) intercepts behind ``coef_``/``intercept_``.

        A binary model stores v = w_1 − w_0; at the optimum w_1 = −w_0, so the
        full parameters are (−v/2, v/2), and likewise for the intercept.
        """
        coef = np.asarray(self.coef_, dtype=np.float64)
        intercept = np.asarray(self.intercept_, dtype=np.float64)
        if len(self.classes_) == 2:
            return (np.vstack([-0.5 * coef[0], 0.5 * coef[0]]),
                    np.array([-0.5 * intercept[0], 0.5 * intercept[0]]))
        return coef.copy(), intercept.copy()

    def _partial_fit_classes(self, classes, first_call):
        if first_call:
            if classes is None:
                raise ValueError("classes must be passed on the first call to "
                                 "partial_fit.")
            all_classes = np.unique(classes)
            if len(all_classes) < 2:
                raise ValueError("partial_fit needs at least 2 classes in `classes`.")
            return all_classes
        if classes is not None and not np.array_equal(np.unique(classes),
                                                      self.classes_):
            raise ValueError(
                f"`classes`={np.unique(classes).tolist()!r} is not the same as on the "
                f"first call to partial_fit ({self.classes_.tolist()!r}).")
        return self.classes_

    def _set_solution(self, classes, result, solver, n_iter):
        self.classes_ = classes
        coef, intercept = result.coef, result.intercept
        if len(classes) == 2:
            self.coef_ = (coef[1] - coef[0])[np.newaxis, :]
            self.intercept_ = np.array([intercept[1] - intercept[0]])
        else:
            self.coef_ = np.array(coef, dtype=np.float64)
            # Only differences of intercepts matter; report the centred ones.
            self.intercept_ = np.array(intercept, dtype=np.float64) - np.mean(intercept)
        self.n_iter_ = int(n_iter)
        self.duality_gap_ = float(result.duality_gap)
        self.solver_ = solver
        self.history_ = result.history
        self._solver_state = (solver, result.state)


def _warn_if_not_converged(result, solver, tol, max_iter):
    """A ConvergenceWarning when the solver stopped above ``tol``."""
    if result.converged:
        return
    if result.uncertified_stop:
        warnings.warn(
            f"LinearMulticlassSVM (solver={solver!r}) stopped after {result.n_iter} "
            f"epochs on its estimate of the remaining excess ({result.criterion:.3g} "
            f"<= tol={tol:g}), which its certified duality gap "
            f"({result.duality_gap:.3g}) does not confirm: the result may be further "
            "from the optimum than tol. Subgradient iterates have loose duality "
            "gaps; use solver='newton', 'dual_cd' or 'lbfgs' for a certified fit.",
            ConvergenceWarning)
    elif result.n_iter < max_iter:
        warnings.warn(
            f"LinearMulticlassSVM (solver={solver!r}) did not converge: it stopped "
            f"after {result.n_iter} of max_iter={max_iter} iterations, unable to make "
            f"progress (last criterion {result.criterion:.3g} > tol={tol:g}). Scale "
            "the features, try another solver or increase tol.", ConvergenceWarning)
    else:
        advice = "Increase max_iter or tol."
        if result.criterion > FAR_FROM_TOL * tol and solver != "newton":
            # More of the same iterations rarely closes a gap this large: the
            # first-order solvers' slow cases are unscaled or uncentered features
            # and weak regularization, where Newton steps converge.
            advice = ("The gap is far above tol: standardize the features (or fit "
                      "an intercept to uncentered ones), or use solver='newton'.")
        warnings.warn(
            f"LinearMulticlassSVM (solver={solver!r}) did not converge within "
            f"max_iter={max_iter} iterations (last criterion {result.criterion:.3g} > "
            f"tol={tol:g}). {advice}", ConvergenceWarning)


def _encode_labels(y, classes):
    """Indices of ``y`` in the sorted ``classes``; unknown labels raise."""
    y = np.asarray(y).ravel()
    indices = np.searchsorted(classes, y)
    indices = np.clip(indices, 0, len(classes) - 1)
    unknown = classes[indices] != y
    if np.any(unknown):
        raise ValueError(f"y contains labels not in classes: "
                         f"{np.unique(y[unknown]).tolist()!r}; classes are "
                         f"{classes.tolist()!r}.")
    return indices.astype(np.int64)


def _dask_input(X):
    """Whether X is a Dask collection. Never imports dask: a Dask object exists only
    once dask has been imported."""
    dask = sys.modules.get("dask")
    return dask is not None and dask.is_dask_collection(X)


@contextmanager
def _restore_on_failure(estimator):
    """Leave ``estimator`` exactly as it was if the block raises."""
    saved = dict(estimator.__dict__)
    try:
        yield
    except BaseException:
        estimator.__dict__.clear()
        estimator.__dict__.update(saved)
        raise
