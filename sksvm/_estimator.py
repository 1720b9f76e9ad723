"""LinearMulticlassSVM: the scikit-learn estimator."""

import copy
import warnings
from contextlib import contextmanager
from numbers import Integral, Real

import numpy as np
import scipy.sparse as sp
from sklearn.base import BaseEstimator, ClassifierMixin, _fit_context
from sklearn.exceptions import ConvergenceWarning
from sklearn.linear_model._base import LinearClassifierMixin
from sklearn.utils import check_random_state, compute_class_weight
from sklearn.utils._param_validation import Interval, StrOptions
from sklearn.utils.multiclass import check_classification_targets
from sklearn.utils.validation import (_check_sample_weight, check_is_fitted,
                                      validate_data)

from ._loss import scale_sample_weight
from ._objective import MulticlassSVMObjective, intercept_scale, sum_of_squares
from ._solvers import (SubgradientState, minimize_lbfgs, minimize_subgradient)
from ._solvers.certificate import repaired_gap
from ._solvers.dual_cd import data_fingerprint, minimize_dual_cd
from ._solvers.subgradient import run_epoch
from ._threads import effective_n_threads, numba_threads

_DTYPES = [np.float64, np.float32]


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
    solver : {"auto", "lbfgs", "subgradient", "dual_cd"}, default="auto"
        ``"auto"`` chooses the solver measured fastest for the input:
        ``"dual_cd"`` for the hinge and for sparse input, ``"lbfgs"`` for the
        squared hinge on dense input and for Dask arrays; ``solver_`` tells which
        ran. ``"lbfgs"``: L-BFGS on the squared hinge, or on a sequence of smoothed
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
        objective (exactly so when ``fit_intercept=False``). For ``"dual_cd"``,
        the same relative gap, which bounds the relative suboptimality exactly,
        with or without an intercept. For ``"subgradient"``, the relative change
        of the averaged objective since half of the steps so far had been taken
        (at its O(1/t) rate, an estimate of the remaining relative excess).
    max_iter : int, default=10000
        Maximum number of L-BFGS iterations (over all smoothing stages), or of
        epochs for ``"subgradient"`` and ``"dual_cd"``.
    batch_size : int or None, default=None
        Mini-batch size for ``"subgradient"`` (and ``partial_fit``). None, or a
        size of at least ``n_samples``, means full batch, which is deterministic.
    class_weight : dict, "balanced" or None, default=None
        Weights multiplying the sample weights of each class; "balanced" uses
        ``n_samples / (n_classes * np.bincount(y))``.
    warm_start : bool, default=False
        Start from the previous solution (and, for ``"subgradient"``, continue
        its step-size schedule) when the classes are unchanged. ``"dual_cd"``
        starts from the previous dual variables when the previous fit was also a
        ``"dual_cd"`` fit with ``warm_start=True`` on identical ``X`` and ``y``
        (checked by a hash; ``C``, ``margin``, the weights and the loss may
        differ), and from scratch otherwise: its iterates are dual points, which
        a primal solution cannot supply.
    random_state : int, RandomState instance or None, default=None
        Seeds the sample order of the stochastic subgradient solver and of
        ``"dual_cd"``'s epochs.
    verbose : int, default=0
        Print one progress line per iteration or epoch when positive.
    n_threads : int or None, default=None
        Number of threads for the loss and gradient evaluations. None uses all the
        threads numba has (``NUMBA_NUM_THREADS``). Results are bit-identical for
        a fixed thread count.

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
        Number of L-BFGS iterations, or of subgradient or ``"dual_cd"`` epochs
        run.
    solver_ : str
        The solver that ran: ``solver``, or the one ``"auto"`` chose
        (``"subgradient"`` after :meth:`partial_fit`).
    duality_gap_ : float
        Relative duality gap :math:`(J - D) / J` at the returned solution, an
        upper bound on its relative suboptimality :math:`(J - J^*) / J`. For
        ``"dual_cd"`` and ``"lbfgs"`` it is the solver's stopping certificate
        (when ``"lbfgs"`` did not converge with ``fit_intercept=True``, it comes
        from a dual point repaired to satisfy the intercept's constraint, and is
        NaN with more than 200 classes). For ``"subgradient"`` it is computed
        once at the end from the dual point
        :math:`\alpha_{ij} = (s_i/S)\,\ell'(m_{ij})`, scaled by the best factor
        in [0, 1] (often loose for that solver); with ``fit_intercept=True`` it
        then bounds the suboptimality with the intercept held at its returned
        value. NaN after :meth:`partial_fit`.
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
        "loss": [StrOptions({"hinge", "squared_hinge"})],
        "margin": [Interval(Real, 0, None, closed="neither")],
        "solver": [StrOptions({"auto", "lbfgs", "subgradient", "dual_cd"})],
        "fit_intercept": ["boolean"],
        "tol": [Interval(Real, 0, None, closed="left")],
        "max_iter": [Interval(Integral, 1, None, closed="left")],
        "batch_size": [Interval(Integral, 1, None, closed="left"), None],
        "class_weight": [dict, StrOptions({"balanced"}), None],
        "warm_start": ["boolean"],
        "random_state": ["random_state"],
        "verbose": ["verbose"],
        "n_threads": [Interval(Integral, 1, None, closed="left"), None],
    }

    def __init__(self, C=1e-4, *, loss="hinge", margin=1.0, solver="auto",
                 fit_intercept=True, tol=1e-3, max_iter=10000, batch_size=None,
                 class_weight=None, warm_start=False, random_state=None, verbose=0,
                 n_threads=None):
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

    # -- public API --------------------------------------------------------------
    @_fit_context(prefer_skip_nested_validation=True)
    def fit(self, X, y, sample_weight=None):
        """Fit the model to data.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)
            Training data. float32 input is used as is; sparse input is converted to
            CSR once.
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
        # -- Dask arrays: distributed L-BFGS (sksvm/_dask.py, docs/dask.rst) -------
        if _dask_input(X):
            from . import _dask
            with _restore_on_failure(self):
                return _dask.fit(self, X, y, sample_weight)
        # --------------------------------------------------------------------------
        with _restore_on_failure(self):
            previous = self._warm_start_point()
            X, y = validate_data(self, X, y, accept_sparse="csr", dtype=_DTYPES,
                                 order="C", accept_large_sparse=True)
            check_classification_targets(y)
            classes, y_encoded = np.unique(y, return_inverse=True)
            if len(classes) < 2:
                raise ValueError(
                    "LinearMulticlassSVM needs samples of at least 2 classes in the "
                    f"data; got 1 class: {classes[0]!r}.")
            sample_weight = self._weights(X, y, classes, y_encoded, sample_weight)
            _check_feature_scale(X, self.C)
            objective = self._objective(X, y_encoded, sample_weight, len(classes))
            solver = self._chosen_solver(X)
            coef0, intercept0, state = self._start_point(previous, classes, X.shape[1],
                                                         solver)
            with numba_threads(objective.n_threads):
                if solver == "lbfgs":
                    result = _minimize_lbfgs_rescaled(
                        objective, coef0, intercept0, tol=self.tol,
                        max_iter=self.max_iter, verbose=self.verbose)
                    state = None
                elif solver == "dual_cd":
                    fingerprint = (data_fingerprint(X, y_encoded)
                                   if self.warm_start else None)
                    alpha0, center0 = self._dual_cd_start(fingerprint, intercept0)
                    result = minimize_dual_cd(
                        objective, tol=self.tol, max_iter=self.max_iter,
                        random_state=check_random_state(self.random_state),
                        alpha0=alpha0, center0=center0, verbose=self.verbose)
                    state = None
                else:
                    if state is None:
                        state = SubgradientState.start(
                            coef0, intercept0, X, sample_weight, self.C, self.margin,
                            self.fit_intercept)
                    result = minimize_subgradient(
                        objective, state, tol=self.tol, max_iter=self.max_iter,
                        batch_size=self.batch_size,
                        random_state=check_random_state(self.random_state),
                        verbose=self.verbose)
                duality_gap = self._duality_gap(objective, result, solver)
            if not result.converged and result.n_iter < self.max_iter:
                warnings.warn(
                    f"LinearMulticlassSVM (solver={solver!r}) did not converge: "
                    f"it stopped after {result.n_iter} of max_iter={self.max_iter} "
                    f"iterations, unable to make progress (last criterion "
                    f"{result.gap:.3g} > tol={self.tol:g}). Scale the features, "
                    "try another solver or increase tol.", ConvergenceWarning)
            elif not result.converged:
                warnings.warn(
                    f"LinearMulticlassSVM (solver={solver!r}) did not converge "
                    f"within max_iter={self.max_iter} iterations (last criterion "
                    f"{result.gap:.3g} > tol={self.tol:g}). Increase max_iter or tol.",
                    ConvergenceWarning)
            self._set_solution(classes, result.coef, result.intercept, result.n_iter)
            self.duality_gap_ = duality_gap
            self._dual_cd_state = (
                (fingerprint, result.alpha)
                if solver == "dual_cd" and self.warm_start else None)
            self.solver_ = solver
            self._subgradient_state = state
            self._solver_history = result.history
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
        The chunk is traversed in mini-batches of ``batch_size`` (one batch when
        None), in a random order drawn from ``random_state``. ``solver`` is
        ignored: partial fitting is always subgradient descent.
        """
        if not hasattr(self, "classes_"):
            self._validate_params()
        if self.class_weight == "balanced":
            raise ValueError("class_weight='balanced' is not supported by partial_fit: "
                             "the class frequencies of later chunks are unknown. "
                             "Pass a dict of class weights instead.")
        with _restore_on_failure(self):
            first_call = not hasattr(self, "classes_")
            all_classes = self._partial_fit_classes(classes, first_call)
            X, y = validate_data(self, X, y, accept_sparse="csr", dtype=_DTYPES,
                                 order="C", reset=first_call,
                                 accept_large_sparse=True)
            check_classification_targets(y)
            y_encoded = _encode_labels(y, all_classes)
            sample_weight = self._weights(X, y, all_classes, y_encoded, sample_weight,
                                          require_two_classes=False)
            _check_feature_scale(X, self.C)
            objective = self._objective(X, y_encoded, sample_weight, len(all_classes))
            state = None if first_call else getattr(self, "_subgradient_state", None)
            if state is None:
                coef0, intercept0, _ = self._start_point(
                    None if first_call else self._full_parameters(), all_classes,
                    X.shape[1])
                state = SubgradientState.start(
                    coef0, intercept0, X, sample_weight, self.C, self.margin,
                    self.fit_intercept)
            else:
                state = copy.deepcopy(state)
            n = X.shape[0]
            batch = n if self.batch_size is None else min(self.batch_size, n)
            random_state = check_random_state(self.random_state)
            order = (objective.rows if batch >= n
                     else random_state.permutation(n).astype(np.int64))
            with numba_threads(objective.n_threads):
                run_epoch(objective, state, order, batch)
            self._set_solution(all_classes, state.coef_avg, state.intercept_avg,
                               getattr(self, "n_iter_", 0) + 1 if not first_call else 1)
            self._subgradient_state = state
            self.duality_gap_ = np.nan
            self._dual_cd_state = None
            self.solver_ = "subgradient"
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
        X = validate_data(self, X, accept_sparse="csr", dtype=_DTYPES, order="C",
                          reset=False, accept_large_sparse=True)
        y_encoded = _encode_labels(np.asarray(y), self.classes_)
        if y_encoded.shape[0] != X.shape[0]:
            raise ValueError(f"X has {X.shape[0]} samples but y has "
                             f"{y_encoded.shape[0]}.")
        sample_weight = self._weights(X, y, self.classes_, y_encoded, sample_weight,
                                      require_two_classes=False)
        objective = self._objective(X, y_encoded, sample_weight, len(self.classes_))
        coef, intercept = self._full_parameters()
        with numba_threads(objective.n_threads):
            return objective.value(coef, intercept)

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
        return super().decision_function(X)

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
    # ------------------------------------------------------------------------------

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.sparse = True
        return tags

    # -- helpers -----------------------------------------------------------------
    def _weights(self, X, y, classes, y_encoded, sample_weight,
                 require_two_classes=True):
        sample_weight = _check_sample_weight(sample_weight, X, dtype=np.float64,
                                             ensure_non_negative=True, copy=True)
        if self.class_weight is not None:
            class_weight = compute_class_weight(self.class_weight, classes=classes,
                                                y=y)
            sample_weight *= class_weight[y_encoded]
        if not np.all(np.isfinite(sample_weight)):
            raise ValueError("sample_weight must be finite.")
        if sample_weight.sum() <= 0:
            raise ValueError("The sample weights (times class weights) sum to zero; "
                             "at least one sample needs a positive weight.")
        if require_two_classes:
            weighted_classes = np.unique(y_encoded[sample_weight > 0])
            if len(weighted_classes) < 2:
                raise ValueError(
                    "LinearMulticlassSVM needs samples of at least 2 classes with "
                    "positive weight; only 1 class has positive sample weight.")
        return scale_sample_weight(sample_weight)

    def _objective(self, X, y_encoded, sample_weight, n_classes):
        return MulticlassSVMObjective(
            X, y_encoded.astype(np.int64), sample_weight, n_classes, C=self.C,
            loss=self.loss, margin=self.margin, fit_intercept=self.fit_intercept,
            n_threads=effective_n_threads(self.n_threads))

    def _warm_start_point(self):
        """Fitted (classes, coef, intercept, state) to start from, if warm starting."""
        if not (self.warm_start and hasattr(self, "coef_")):
            return None
        return (self.classes_, *self._full_parameters(),
                getattr(self, "_subgradient_state", None))

    def _chosen_solver(self, X):
        """``solver``, or for ``"auto"`` the solver measured fastest on such input
        (benchmarks/results/core_measurements.md): dual coordinate ascent for the
        hinge, and for the squared hinge on sparse data; L-BFGS for the squared
        hinge on dense data, where dual_cd's many inner-margin samples make it
        slow."""
        if self.solver != "auto":
            return self.solver
        if self.loss == "hinge" or sp.issparse(X):
            return "dual_cd"
        return "lbfgs"

    def _start_point(self, previous, classes, n_features, solver=None):
        k = len(classes)
        if previous is None:
            return np.zeros((k, n_features)), np.zeros(k), None
        if len(previous) == 2:  # parameters of this same model (partial_fit)
            return previous[0], previous[1], None
        old_classes, coef, intercept, state = previous
        if not np.array_equal(old_classes, classes):
            raise ValueError(
                "warm_start=True needs the same classes as the previous fit; got "
                f"{classes.tolist()!r}, previously {old_classes.tolist()!r}. Set "
                "warm_start=False to fit from scratch.")
        if coef.shape[1] != n_features:
            raise ValueError(
                f"warm_start=True needs the same number of features as the previous "
                f"fit ({coef.shape[1]}); X has {n_features}.")
        if not self.fit_intercept:
            intercept = np.zeros_like(intercept)
        if state is not None and solver == "subgradient":
            state = copy.deepcopy(state)
        else:
            state = None
        return coef, intercept, state

    def _dual_cd_start(self, fingerprint, intercept0):
        """(alpha0, center0) for ``"dual_cd"``: the previous dual point when warm
        starting on identical data, else (None, None)."""
        saved = getattr(self, "_dual_cd_state", None)
        if fingerprint is None or saved is None or saved[0] != fingerprint:
            return None, None
        return saved[1], intercept0

    def _duality_gap(self, objective, result, solver):
        """Relative duality gap at the solver's solution (``duality_gap_``)."""
        if solver == "lbfgs" and objective.fit_intercept and not result.converged:
            # Where L-BFGS did not stop, its gap holds the intercept fixed: certify
            # the point with a repaired dual point, as it does where it stops.
            widths = {0.0, result.history[-1]["mu"] if result.history else 0.0}
            gaps = [repaired_gap(objective, result.coef, result.intercept, mu)
                    for mu in sorted(widths)]
            gaps = [gap for gap in gaps if gap is not None]
            return float(min(gaps)) if gaps else np.nan
        if solver != "subgradient":
            return float(result.gap)
        # Dual point α = (s/S)·ℓ'(m) at the final point, scaled by the best θ in
        # [0, 1] (θα stays feasible; D(θα) = θL − θ²Q is maximized in closed form).
        ev = objective.evaluate(result.coef, result.intercept)
        linear = ev.dual_margin_term + float(np.dot(result.intercept,
                                                    ev.grad_intercept))
        quadratic = (0.5 * objective.C * float(np.vdot(ev.dual_coef, ev.dual_coef))
                     + ev.dual_conjugate)
        theta = min(1.0, max(0.0, linear / (2 * quadratic))) if quadratic > 0 else 1.0
        dual = max(ev.dual_value, theta * linear - theta ** 2 * quadratic)
        return float((ev.true_value - dual) / max(abs(ev.true_value),
                                                   np.finfo(float).tiny))

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

    def _set_solution(self, classes, coef, intercept, n_iter):
        self.classes_ = classes
        if len(classes) == 2:
            self.coef_ = (coef[1] - coef[0])[np.newaxis, :]
            self.intercept_ = np.array([intercept[1] - intercept[0]])
        else:
            self.coef_ = np.array(coef, dtype=np.float64)
            # Only differences of intercepts matter; report the centred ones.
            self.intercept_ = np.array(intercept, dtype=np.float64) - np.mean(intercept)
        self.n_iter_ = int(n_iter)


# L-BFGS is not invariant to the scale of the features: its first step has unit
# length, and the intercepts move on the scale of the scores while the weights move
# on that scale divided by |x|. Features of magnitude outside
# [2**-LBFGS_SCALE_EXPONENT, 2**LBFGS_SCALE_EXPONENT] are therefore brought to
# [0.5, 1) by a power of two for it, which is exact: fitting X·s with C·s² gives
# the weights divided by s.
LBFGS_SCALE_EXPONENT = 10
# Largest ‖x‖²/C (squared row norm over C) accepted. It is the scale of the
# scores W·x, of the dual's quadratic terms and of the solvers' linear systems,
# which must stay well inside the float64 range.
MAX_SQUARED_NORM_OVER_C = 1e300


def _feature_magnitude(X):
    """The largest |x_ij| of X and the largest number of stored entries in a row."""
    values = X.data if sp.issparse(X) else X
    if values.size == 0:
        return 0.0, 0
    row_size = int(np.diff(X.indptr).max()) if sp.issparse(X) else X.shape[1]
    return float(max(values.max(), -values.min())), row_size


def _check_feature_scale(X, C):
    """Refuse data and C for which ‖x‖²/C overflows the solvers' arithmetic."""
    max_abs, row_size = _feature_magnitude(X)
    with np.errstate(over="ignore"):
        bound = row_size * np.float64(max_abs) ** 2 / C
    if not bound <= MAX_SQUARED_NORM_OVER_C:
        raise ValueError(
            f"The features are too large for C={C:g}: X has entries up to "
            f"{max_abs:.3g} in rows of up to {row_size} stored values, so the squared "
            f"row norm over C reaches {bound:.3g}, beyond the "
            f"{MAX_SQUARED_NORM_OVER_C:g} that float64 arithmetic supports. Scale the "
            "features (e.g. with StandardScaler) or increase C.")


def _minimize_lbfgs_rescaled(objective, coef0, intercept0, **options):
    """:func:`minimize_lbfgs` with the features brought to unit magnitude by a power
    of two when they are far from it (see ``LBFGS_SCALE_EXPONENT``); the result is
    in the original scale."""
    scale = _lbfgs_feature_scale(objective.X, objective.C)
    if scale != 1.0:
        objective = MulticlassSVMObjective(
            objective.X * scale, objective.y, objective.sample_weight,
            objective.n_classes, C=objective.C * scale ** 2, loss=objective.loss,
            margin=objective.margin, fit_intercept=objective.fit_intercept,
            n_threads=objective.n_threads)
    n, d = objective.X.shape
    objective.intercept_scale = intercept_scale(sum_of_squares(objective.X), n * d)
    result = minimize_lbfgs(objective, coef0 / scale, intercept0, **options)
    result.coef = result.coef * scale
    return result


def _lbfgs_feature_scale(X, C):
    """Power of two bringing the features of X to [0.5, 1) for L-BFGS, or 1."""
    max_abs, _ = _feature_magnitude(X)
    if max_abs == 0.0:
        return 1.0
    exponent = np.frexp(max_abs)[1]
    if abs(exponent) <= LBFGS_SCALE_EXPONENT:
        return 1.0
    # C·s² must stay finite (tiny features and a large C: the weights are ~0).
    exponent = max(exponent, -((np.finfo(np.float64).maxexp - 2
                                - np.frexp(C)[1]) // 2))
    return float(np.ldexp(1.0, -exponent))


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


# -- Dask arrays (sksvm/_dask.py) -----------------------------------------------------
def _dask_input(X):
    """Whether X is a Dask collection. Never imports dask: a Dask object exists only
    once dask has been imported."""
    import sys

    dask = sys.modules.get("dask")
    return dask is not None and dask.is_dask_collection(X)
# -------------------------------------------------------------------------------------


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
