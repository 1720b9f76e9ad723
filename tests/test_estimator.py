"""LinearMulticlassSVM as a scikit-learn estimator."""

import re
import warnings

import numpy as np
import pytest
import scipy.sparse as sp
from numpy.testing import assert_allclose, assert_array_equal
from sklearn.exceptions import ConvergenceWarning
from sklearn.model_selection import GridSearchCV
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.utils.estimator_checks import parametrize_with_checks

from sksvm import LinearMulticlassSVM

from _helpers import fit, make_problem, quiet_fit, random_weights
from _reference import binary_split, numpy_objective

# -- scikit-learn's estimator checks ---------------------------------------------

STOCHASTIC = LinearMulticlassSVM(solver="subgradient", batch_size=4, random_state=0)


def _expected_failed_checks(estimator):
    if estimator.solver == "subgradient" and estimator.batch_size is not None:
        reason = ("mini-batch subgradient descent visits a different sequence of "
                  "batches when rows are repeated instead of weighted, so the two "
                  "fits agree only in expectation")
        return {"check_sample_weight_equivalence_on_dense_data": reason,
                "check_sample_weight_equivalence_on_sparse_data": reason}
    return {}


# The default ("auto": newton on these small dense sets) and every (solver, loss)
# combination
# (more "dual_cd" in tests/test_dual_cd.py). Only the mini-batch configuration lists
# expected failures.
@parametrize_with_checks(
    [
        LinearMulticlassSVM(),
        LinearMulticlassSVM(solver="lbfgs"),
        LinearMulticlassSVM(solver="lbfgs", loss="squared_hinge"),
        LinearMulticlassSVM(solver="newton"),
        LinearMulticlassSVM(solver="newton", loss="squared_hinge"),
        LinearMulticlassSVM(solver="subgradient"),
        LinearMulticlassSVM(solver="subgradient", loss="squared_hinge"),
        STOCHASTIC,
    ],
    expected_failed_checks=_expected_failed_checks,
)
def test_sklearn_compatible(estimator, check):
    check(estimator)


# -- pipeline / grid search ----------------------------------------------------------

def test_grid_search_pipeline_iris(iris_data):
    X, y = iris_data
    pipe = make_pipeline(StandardScaler(), LinearMulticlassSVM(n_threads=1))
    grid = GridSearchCV(pipe, {"linearmulticlasssvm__C": [1e-3, 1e-2, 1e-1, 1e2],
                               "linearmulticlasssvm__loss": ["hinge", "squared_hinge"]},
                        cv=3)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        grid.fit(X, y)
    assert grid.best_score_ > 0.9
    assert grid.score(X, y) > 0.9
    assert set(grid.cv_results_["params"][0]) == {"linearmulticlasssvm__C",
                                                  "linearmulticlasssvm__loss"}
    # A heavily regularized model (the largest C) is worse, for either loss: the C
    # grid is meaningful.
    results = grid.cv_results_
    assert len(results["params"]) == 8
    for loss in ("hinge", "squared_hinge"):
        scores = {params["linearmulticlasssvm__C"]: score
                  for params, score in zip(results["params"],
                                           results["mean_test_score"])
                  if params["linearmulticlasssvm__loss"] == loss}
        assert scores[1e2] < max(scores.values()) - 0.05, scores
    assert grid.best_params_["linearmulticlasssvm__C"] != 1e2


def test_digits_subset():
    from sklearn.datasets import load_digits
    X, y = load_digits(return_X_y=True)
    X, y = X[:400], y[:400]
    model = make_pipeline(StandardScaler(), LinearMulticlassSVM(C=1e-3, n_threads=1))
    model.fit(X[:300], y[:300])
    assert model.score(X[300:], y[300:]) > 0.9


# -- partial_fit -------------------------------------------------------------------

@pytest.mark.parametrize("fit_intercept", [True, False])
def test_partial_fit_approaches_fit(fit_intercept):
    """100 passes over two chunks, in mini-batches, get within a few percent of the
    optimum found by fit."""
    X, y = make_problem(n=60, d=4, k=3, seed=30, shift=0.0)
    C = 0.1
    reference = fit(X, y, C=C, fit_intercept=fit_intercept, tol=1e-8)
    target = reference.objective(X, y)
    est = LinearMulticlassSVM(C=C, fit_intercept=fit_intercept, batch_size=10,
                              random_state=0, n_threads=1)
    chunks = np.array_split(np.arange(60), 2)
    for epoch in range(100):
        for chunk in chunks:
            est.partial_fit(X[chunk], y[chunk], classes=[0, 1, 2])
    assert est.n_iter_ == 200
    assert est.objective(X, y) <= target * 1.05
    assert est.objective(X, y) >= target * (1 - 1e-8)
    assert est.score(X, y) >= reference.score(X, y) - 0.05


def test_partial_fit_is_one_epoch_of_subgradient():
    """Full-batch partial_fit calls are the epochs of the deterministic solver."""
    X, y = make_problem(n=30, d=3, k=3, seed=31)
    for n_calls in (1, 3):
        fitted = quiet_fit(X, y, C=1e-2, solver="subgradient", max_iter=n_calls,
                           tol=0.0, batch_size=None)
        est = LinearMulticlassSVM(C=1e-2, n_threads=1, batch_size=None)
        est.partial_fit(X, y, classes=np.unique(y))
        for _ in range(n_calls - 1):
            est.partial_fit(X, y)
        assert est.n_iter_ == n_calls
        assert_allclose(est.coef_, fitted.coef_, rtol=1e-12, atol=1e-14)
        assert_allclose(est.intercept_, fitted.intercept_, rtol=1e-12, atol=1e-14)


def test_partial_fit_classes_handling():
    X, y = make_problem(n=30, d=3, k=3, seed=32)
    est = LinearMulticlassSVM(n_threads=1)
    with pytest.raises(ValueError, match="classes must be passed"):
        est.partial_fit(X, y)
    assert not hasattr(est, "classes_")
    # A first chunk may lack classes, as long as `classes` lists them all.
    est.partial_fit(X[y != 2], y[y != 2], classes=[2, 0, 1])
    assert_array_equal(est.classes_, [0, 1, 2])
    assert est.coef_.shape == (3, 3)
    est.partial_fit(X, y, classes=[0, 1, 2])  # accepted again, same classes
    est.partial_fit(X, y, classes=np.array([1, 2, 0]))  # order does not matter
    est.partial_fit(X, y)
    with pytest.raises(ValueError, match="classes"):
        est.partial_fit(X, y, classes=[0, 1, 2, 3])
    with pytest.raises(ValueError, match="classes"):
        est.partial_fit(X, y, classes=[0, 1])
    with pytest.raises(ValueError, match=r"labels not in classes: \[7\]"):
        est.partial_fit(X, np.where(y == 2, 7, y))
    fresh = LinearMulticlassSVM(n_threads=1)
    with pytest.raises(ValueError, match=r"labels not in classes: \[2\]"):
        fresh.partial_fit(X, y, classes=[0, 1])
    assert not hasattr(fresh, "coef_")
    with pytest.raises(ValueError, match="features"):
        est.partial_fit(X[:, :2], y)


def test_partial_fit_balanced_class_weight_rejected():
    X, y = make_problem(n=20, d=3, k=3, seed=33)
    with pytest.raises(ValueError, match="balanced"):
        LinearMulticlassSVM(class_weight="balanced").partial_fit(X, y, classes=[0, 1, 2])


# -- shapes ------------------------------------------------------------------------

def test_binary_collapse(binary_data):
    X, y = binary_data
    est = fit(X, y, C=1e-2)
    assert est.coef_.shape == (1, X.shape[1])
    assert est.intercept_.shape == (1,)
    df = est.decision_function(X)
    assert df.shape == (len(y),)
    assert_allclose(df, X @ est.coef_[0] + est.intercept_[0], rtol=1e-12)
    assert_array_equal(est.predict(X), est.classes_[(df > 0).astype(int)])
    assert est.score(X, y) > 0.7


def test_multiclass_shapes(multiclass_data):
    X, y = multiclass_data
    est = fit(X, y, C=1e-2)
    assert est.coef_.shape == (4, X.shape[1])
    assert est.intercept_.shape == (4,)
    df = est.decision_function(X)
    assert df.shape == (len(y), 4)
    assert_allclose(df, X @ est.coef_.T + est.intercept_, rtol=1e-12)
    assert_array_equal(est.predict(X), est.classes_[df.argmax(axis=1)])


# -- objective ---------------------------------------------------------------------

@pytest.mark.parametrize("loss", ["hinge", "squared_hinge"])
@pytest.mark.parametrize("k", [2, 4])
def test_objective_matches_numpy(loss, k):
    X, y = make_problem(n=40, d=4, k=k, seed=35)
    sw = random_weights(len(y), seed=35)
    est = quiet_fit(X, y, sw, C=3e-2, loss=loss, margin=0.7, max_iter=15)
    if k == 2:
        coef, intercept = binary_split(est.coef_, est.intercept_)
    else:
        coef, intercept = est.coef_, est.intercept_
    for weights in (None, sw):
        expected = numpy_objective(coef, intercept, X, y, 3e-2, loss, 0.7,
                                   sample_weight=weights)[0]
        assert_allclose(est.objective(X, y, sample_weight=weights), expected,
                        rtol=1e-12)
    # A model fitted with class weights folds them into the objective, on any data.
    cw = {c: 1.0 + c for c in range(k)}
    est = quiet_fit(X, y, C=3e-2, loss=loss, margin=0.7, max_iter=15,
                    class_weight=cw)
    if k == 2:
        coef, intercept = binary_split(est.coef_, est.intercept_)
    else:
        coef, intercept = est.coef_, est.intercept_
    X2, y2 = make_problem(n=25, d=4, k=k, seed=36)
    expected = numpy_objective(coef, intercept, X2, y2, 3e-2, loss, 0.7,
                               sample_weight=np.array([cw[c] for c in y2]))[0]
    assert_allclose(est.objective(X2, y2), expected, rtol=1e-12)
    with pytest.raises(ValueError):
        est.objective(X2, y2[:-1])


# -- warm start --------------------------------------------------------------------

@pytest.mark.parametrize("loss", ["hinge", "squared_hinge"])
@pytest.mark.parametrize("fit_intercept", [True, False])
def test_warm_start_lbfgs(loss, fit_intercept, multiclass_data):
    X, y = multiclass_data
    est = fit(X, y, C=1e-2, loss=loss, fit_intercept=fit_intercept, solver="lbfgs")
    coef, value, n_cold = est.coef_.copy(), est.objective(X, y), est.n_iter_
    est.set_params(warm_start=True).fit(X, y)
    # Restarting at a solution that met tol needs (almost) no iterations.
    assert est.n_iter_ <= max(2, n_cold // 10)
    assert est.objective(X, y) <= value * (1 + 1e-12)
    assert_allclose(est.coef_, coef, atol=1e-3 * np.abs(coef).max())


@pytest.mark.parametrize("batch_size", [None, 8])
def test_warm_start_subgradient(batch_size, multiclass_data):
    X, y = multiclass_data
    est = quiet_fit(X, y, C=1e-2, solver="subgradient", batch_size=batch_size,
                    random_state=0)
    value, n_cold = est.objective(X, y), est.n_iter_
    steps = est._solver_state[1].n_steps
    est.set_params(warm_start=True).fit(X, y)
    assert est.n_iter_ <= max(5, n_cold // 10)
    # The step-size schedule continues instead of restarting.
    assert est._solver_state[1].n_steps > steps
    assert est.objective(X, y) <= value * (1 + 1e-2)


# -- convergence reporting ---------------------------------------------------------

@pytest.mark.parametrize("params", [
    dict(solver="lbfgs", loss="hinge"),
    dict(solver="lbfgs", loss="squared_hinge"),
    dict(solver="subgradient"),
    dict(solver="subgradient", batch_size=8, random_state=0),
    dict(solver="dual_cd", random_state=0),
], ids=["lbfgs-hinge", "lbfgs-squared", "subgradient", "subgradient-minibatch",
        "dual_cd"])
def test_convergence_warning_and_verbose(params, capsys):
    X, y = make_problem(n=60, d=5, k=4, seed=37)
    est = LinearMulticlassSVM(C=1e-3, max_iter=1, tol=1e-8, n_threads=1, **params)
    with pytest.warns(ConvergenceWarning, match="max_iter"):
        est.fit(X, y)
    assert est.n_iter_ == 1
    assert capsys.readouterr().out == ""
    est.set_params(verbose=1, max_iter=3)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        est.fit(X, y)
    out = capsys.readouterr().out
    lines = [line for line in out.splitlines()
             if re.match(r"\[\w+\] iter", line)]
    assert len(lines) >= est.n_iter_ >= 1
    assert "objective" in lines[0]


def test_no_convergence_warning_when_converged(multiclass_data):
    X, y = multiclass_data
    with warnings.catch_warnings():
        warnings.simplefilter("error", ConvergenceWarning)
        est = fit(X, y, C=1e-2, loss="squared_hinge")
    assert 1 <= est.n_iter_ < est.max_iter


# -- class weights -------------------------------------------------------------------

@pytest.mark.parametrize("solver", ["lbfgs", "subgradient", "dual_cd"])
def test_class_weight_equals_sample_weight(solver, multiclass_data):
    X, y = multiclass_data
    sw = random_weights(len(y), seed=38)
    params = dict(C=1e-2, solver=solver, max_iter=50, random_state=0)
    cw = {0: 0.5, 1: 2.0, 2: 1.0, 3: 3.0}
    by_dict = quiet_fit(X, y, sw, class_weight=cw, **params)
    explicit = quiet_fit(X, y, sw * np.array([cw[c] for c in y]), **params)
    assert_allclose(by_dict.coef_, explicit.coef_, rtol=1e-12, atol=1e-14)
    assert_allclose(by_dict.intercept_, explicit.intercept_, rtol=1e-12, atol=1e-14)

    y_unbalanced, X_unbalanced = y[3:], X[3:]
    counts = np.bincount(y_unbalanced)
    balanced = len(y_unbalanced) / (len(counts) * counts)
    by_balanced = quiet_fit(X_unbalanced, y_unbalanced, class_weight="balanced",
                            **params)
    explicit = quiet_fit(X_unbalanced, y_unbalanced, balanced[y_unbalanced],
                         **params)
    assert_allclose(by_balanced.coef_, explicit.coef_, rtol=1e-12, atol=1e-14)
    assert_allclose(by_balanced.intercept_, explicit.intercept_, rtol=1e-12,
                    atol=1e-14)


# -- threads and determinism ---------------------------------------------------------

@pytest.mark.parametrize("params", [
    # The default hinge fit starts with epochs in a random order: fixed here.
    dict(loss="hinge", tol=1e-10, random_state=0),
    dict(loss="hinge", tol=1e-10, fit_intercept=False, random_state=0),
    dict(loss="squared_hinge", tol=1e-10),
    dict(solver="subgradient", batch_size=None),
    dict(solver="subgradient", batch_size=8, random_state=0),
    dict(solver="subgradient", random_state=0),
    dict(solver="dual_cd", tol=1e-10, random_state=0),
], ids=["hinge", "hinge-nointercept", "squared", "subgradient-full", "subgradient-mb",
        "subgradient-auto", "dual_cd"])
def test_n_threads_agree(params, multiclass_data):
    X, y = multiclass_data
    one = quiet_fit(X, y, C=1e-2, n_threads=1, **params)
    two = quiet_fit(X, y, C=1e-2, n_threads=2, **params)
    scale = np.abs(one.coef_).max()
    assert_allclose(two.coef_, one.coef_, rtol=1e-10, atol=1e-10 * scale)
    assert_allclose(two.intercept_, one.intercept_, rtol=1e-10, atol=1e-10 * scale)


@pytest.mark.parametrize("loss", ["hinge", "squared_hinge"])
def test_n_threads_default_tol_same_quality(loss, multiclass_data):
    """At the default tol both thread counts must stop within tol of each other's
    objective (each claims a relative gap <= tol)."""
    X, y = multiclass_data
    one = fit(X, y, C=1e-2, loss=loss, n_threads=1)
    two = fit(X, y, C=1e-2, loss=loss, n_threads=2)
    j1, j2 = one.objective(X, y), two.objective(X, y)
    assert abs(j1 - j2) <= one.tol * max(j1, j2)


def test_random_state_matters_for_minibatches(multiclass_data):
    X, y = multiclass_data
    params = dict(C=1e-2, solver="subgradient", batch_size=8, max_iter=5)
    a = quiet_fit(X, y, random_state=0, **params)
    b = quiet_fit(X, y, random_state=1, **params)
    assert not np.array_equal(a.coef_, b.coef_)


# -- input validation ----------------------------------------------------------------

def _bad_inputs():
    X, y = make_problem(n=20, d=3, k=3, seed=39)
    X_nan = X.copy()
    X_nan[3, 1] = np.nan
    X_inf = X.copy()
    X_inf[0, 0] = np.inf
    return [
        ("nan", X_nan, y, None, ValueError, "NaN"),
        ("inf", X_inf, y, None, ValueError, "infinity"),
        ("complex", X + 1j, y, None, ValueError, "[Cc]omplex"),
        ("empty", np.empty((0, 3)), np.empty(0, dtype=int), None, ValueError,
         "0 sample"),
        ("3d", X.reshape(20, 3, 1), y, None, ValueError, "dim 3|3D|2D"),
        ("one_class", X, np.zeros(20, dtype=int), None, ValueError, "class"),
        ("continuous_y", X, np.linspace(0, 1, 20), None, ValueError,
         "Unknown label type|continuous"),
        ("sw_shape", X, y, np.ones(19), ValueError, "[Ss]ample.weight"),
        ("sw_2d", X, y, np.ones((20, 1)), ValueError, "[Ss]ample.weight"),
        ("sw_negative", X, y, np.r_[-1.0, np.ones(19)], ValueError, "[Nn]egative"),
        ("sw_zero", X, y, np.zeros(20), ValueError, "sum to zero|zero"),
        ("sw_nan", X, y, np.r_[np.nan, np.ones(19)], ValueError, "NaN"),
        ("sw_one_class", X, y, (y == 0).astype(float), ValueError, "class"),
        ("y_length", X, y[:-1], None, ValueError, "inconsistent numbers|samples"),
    ]


@pytest.mark.parametrize("name, X, y, sw, error, match", _bad_inputs(),
                         ids=[case[0] for case in _bad_inputs()])
@pytest.mark.parametrize("method", ["fit", "partial_fit"])
def test_bad_input(name, X, y, sw, error, match, method):
    if method == "partial_fit" and name in ("one_class", "sw_one_class"):
        pytest.skip("partial_fit chunks may hold a single class")
    est = LinearMulticlassSVM(n_threads=1)
    with pytest.raises(error, match=match):
        if method == "fit":
            est.fit(X, y, sample_weight=sw)
        else:
            est.partial_fit(X, y, classes=[0, 1, 2], sample_weight=sw)
    assert not hasattr(est, "coef_")


@pytest.mark.parametrize("params, match", [
    (dict(C=0.0), "'C' parameter"),
    (dict(C=-1.0), "'C' parameter"),
    (dict(margin=0.0), "'margin' parameter"),
    (dict(margin=-2.0), "'margin' parameter"),
    (dict(loss="log_loss"), "'loss' parameter"),
    (dict(solver="sag"), "'solver' parameter"),
    (dict(max_iter=0), "'max_iter' parameter"),
    (dict(tol=-1.0), "'tol' parameter"),
    (dict(batch_size=0), "'batch_size' parameter"),
    (dict(n_threads=0), "'n_threads' parameter"),
    (dict(class_weight="auto"), "'class_weight' parameter"),
])
@pytest.mark.parametrize("method", ["fit", "partial_fit"])
def test_bad_parameters(params, match, method):
    X, y = make_problem(n=20, d=3, k=3, seed=40)
    est = LinearMulticlassSVM(**params)
    with pytest.raises(ValueError, match=match):
        if method == "fit":
            est.fit(X, y)
        else:
            est.partial_fit(X, y, classes=[0, 1, 2])


def test_wrong_number_of_features_at_predict(multiclass_data):
    X, y = multiclass_data
    est = fit(X, y, C=1e-2)
    for method in (est.predict, est.decision_function):
        with pytest.raises(ValueError, match="features"):
            method(X[:, :3])
    with pytest.raises(ValueError, match="features"):
        est.objective(X[:, :3], y)
    with pytest.raises(ValueError, match="not in classes"):
        est.objective(X, np.where(y == 0, 9, y))


def test_unfitted():
    from sklearn.exceptions import NotFittedError
    X, y = make_problem(n=10, d=3, k=3, seed=41)
    for method in ("predict", "decision_function"):
        with pytest.raises(NotFittedError):
            getattr(LinearMulticlassSVM(), method)(X)
    with pytest.raises(NotFittedError):
        LinearMulticlassSVM().objective(X, y)


# -- dtypes and sparse input ---------------------------------------------------------

@pytest.mark.parametrize("solver", ["lbfgs", "dual_cd"])
@pytest.mark.parametrize("loss", ["hinge", "squared_hinge"])
@pytest.mark.parametrize("sparse", [False, True])
def test_float32_close_to_float64(loss, sparse, solver):
    X, y = make_problem(n=40, d=5, k=3, seed=44, sparsity=0.3 if sparse else 0.0)
    X32 = X.astype(np.float32)
    X64 = X32.astype(np.float64)  # the same values, so only arithmetic differs
    if sparse:
        X32, X64_in = sp.csr_matrix(X32), sp.csr_matrix(X64)
    else:
        X64_in = X64
    params = dict(C=1e-2, loss=loss, tol=1e-10, max_iter=5000, solver=solver,
                  random_state=0)
    est32 = fit(X32, y, **params)
    est64 = fit(X64_in, y, **params)
    assert est32.coef_.dtype == np.float64
    j32, j64 = est32.objective(X64, y), est64.objective(X64, y)
    assert abs(j32 - j64) <= 1e-5 * j64
    assert_allclose(est32.coef_, est64.coef_, atol=1e-4 * np.abs(est64.coef_).max())
    assert_array_equal(est32.predict(X32), est64.predict(X64_in))


@pytest.mark.parametrize("solver", ["lbfgs", "subgradient"])
def test_sparse_equals_dense(solver, sparse_multiclass_data):
    X_csr, X, y = sparse_multiclass_data
    params = dict(C=1e-2, solver=solver, max_iter=40, batch_size=8, random_state=0)
    dense = quiet_fit(X, y, **params)
    sparse = quiet_fit(X_csr, y, **params)
    assert_allclose(sparse.coef_, dense.coef_, rtol=1e-8,
                    atol=1e-8 * np.abs(dense.coef_).max())
    assert_allclose(sparse.objective(X_csr, y), dense.objective(X, y), rtol=1e-10)
    assert_array_equal(sparse.predict(X_csr), dense.predict(X))


@pytest.mark.parametrize("solver", ["lbfgs", "subgradient"])
def test_zero_weight_equals_removal(solver, multiclass_data):
    X, y = multiclass_data
    sw = np.ones(len(y))
    sw[::4] = 0.0
    # Full batches: the same steps with the zero-weight rows in or out.
    params = dict(C=1e-2, solver=solver, loss="squared_hinge", tol=1e-10,
                  max_iter=300, batch_size=None)
    weighted = quiet_fit(X, y, sw, **params)
    removed = quiet_fit(X[sw > 0], y[sw > 0], **params)
    assert_allclose(weighted.decision_function(X), removed.decision_function(X),
                    rtol=1e-6, atol=1e-6)


def test_lbfgs_memory_shrinks_only_for_wide_sparse_problems():
    """Full L-BFGS memory unless the problem has many parameters and reading the
    correction pairs would outweigh an evaluation."""
    from sksvm._objective import MulticlassSVMObjective
    from sksvm._solvers.lbfgs import MAX_MEMORY, MIN_MEMORY, default_memory

    def memory(X, k):
        y = np.arange(X.shape[0]) % k
        return default_memory(MulticlassSVMObjective(
            X, y.astype(np.int64), np.ones(X.shape[0]), k, C=1e-3, loss="hinge",
            margin=1.0, fit_intercept=False, n_threads=1))

    # Small dense, tiny: full memory.
    assert memory(np.ones((60, 6)), 5) == MAX_MEMORY
    # Many parameters and (almost) nothing stored: the least memory.
    assert memory(sp.csr_matrix((100, 20_000)), 10) == MIN_MEMORY
    def banded(n, d, per_row):
        """n × d CSR with per_row consecutive stored entries per row (only the
        number of stored entries matters to the rule)."""
        columns = (np.arange(n)[:, None] * per_row + np.arange(per_row)) % d
        return sp.csr_matrix((np.ones(n * per_row), columns.ravel(),
                              np.arange(n + 1) * per_row), shape=(n, d))

    # 5e6 stored entries · 20 / 4 over 2 · 2e6 parameters.
    assert memory(banded(50_000, 100_000, 100), 20) == 6
    # 40k parameters: below the threshold, whatever the data.
    assert memory(banded(50_000, 2_000, 1), 20) == MAX_MEMORY
