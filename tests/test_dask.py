"""Fitting on Dask arrays (sksvm._dask), on a LocalCluster with 2 worker processes.

Skipped when dask or distributed is not installed (the ``dask`` extra). The
equality with the in-memory fit is checked at two levels:

- the solver path: with the active-set finishing step disabled in memory (the
  Dask objective cannot take it: it needs the rows in memory) and the Dask blocks
  at the row boundaries of the in-memory kernel's chunks, every evaluation adds the
  same numbers in the same order, so the two runs take the same L-BFGS path;
- the estimator: ``fit`` on a Dask array against ``fit`` on the numpy array, where
  the in-memory fit may finish with the active-set step. Both are certified to
  ``tol``; with a tight ``tol`` their objectives agree to 1e-8 relative.
"""

import logging
import pickle
import sys
import warnings

import numpy as np
import pytest
import scipy.sparse as sp
from numpy.testing import assert_allclose, assert_array_equal
from sklearn.exceptions import ConvergenceWarning

from sksvm import LinearMulticlassSVM
from sksvm import _kernels
from sksvm._objective import MulticlassSVMObjective
from sksvm._solvers import Start, lbfgs
from sksvm._threads import kernel_threads

from _helpers import make_problem, quiet_fit, random_weights

dask = pytest.importorskip("dask")
da = pytest.importorskip("dask.array")
distributed = pytest.importorskip("distributed")

from sksvm._dask import DaskMulticlassSVMObjective  # noqa: E402  (needs dask)


@pytest.fixture(scope="module")
def client():
    """2 worker processes, 1 thread each, small memory."""
    # Compile the kernels here first: the workers then load them from numba's cache.
    X, y = make_problem(n=40, d=5, k=3)
    LinearMulticlassSVM(n_threads=1, max_iter=2).fit(X, y)
    LinearMulticlassSVM(n_threads=1, max_iter=2).fit(sp.csr_matrix(X), y)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        cluster = distributed.LocalCluster(
            n_workers=2, threads_per_worker=1, processes=True, memory_limit="1GiB",
            dashboard_address=None, silence_logs=logging.ERROR)
    with cluster, distributed.Client(cluster) as client:
        yield client


@pytest.fixture
def synchronous():
    """Dask's in-process synchronous scheduler, even while a client exists."""
    with dask.config.set(scheduler="synchronous"):
        yield


def _chunked(X, y, n_blocks, sample_weight=None):
    """Dask arrays whose row blocks start where the in-memory kernel's
    ``n_blocks`` chunks start (rows c·n // n_blocks)."""
    n = X.shape[0]
    bounds = [c * n // n_blocks for c in range(n_blocks + 1)]
    rows = tuple(np.diff(bounds))
    Xd = da.from_array(X, chunks=(rows, X.shape[1]))
    if sp.issparse(X):
        Xd = da.concatenate([da.from_array(X[lo:hi], chunks=X[lo:hi].shape,
                                           asarray=False)
                             for lo, hi in zip(bounds[:-1], bounds[1:])])
    out = [Xd, da.from_array(y, chunks=(rows,))]
    if sample_weight is not None:
        out.append(da.from_array(sample_weight, chunks=(rows,)))
    return out


class _InMemoryWithoutActiveSet(MulticlassSVMObjective):
    """In-memory rows, declared as not in memory: L-BFGS then takes the Dask path
    (no active-set finishing step). Its sums are those of ``n_chunks`` row chunks
    added in order, like the sums of as many Dask blocks."""

    rows_in_memory = False
    n_chunks = 3

    def block_sums(self, coef, intercept, loss_code, smoothing):
        X, k = self.X, coef.shape[0]
        if sp.issparse(X):
            stats, grad_t, grad_intercept = _kernels.csr_loss_grad(
                X.data, X.indices, X.indptr, self.y, self.sample_weight,
                np.ascontiguousarray(coef.T), intercept, loss_code, self.margin,
                smoothing, self.n_chunks,
                _kernels.csr_block_rows(X.data, X.indices, k, self.n_chunks), 1)
            return stats, np.ascontiguousarray(grad_t.T), grad_intercept
        return _kernels.dense_loss_grad(X, self.y, self.sample_weight, coef,
                                        intercept, loss_code, self.margin, smoothing,
                                        self.n_chunks, 1)


# -- the solver path ------------------------------------------------------------------

# Each evaluation on the cluster is a round trip to the workers: the cases that
# only vary the arithmetic run on the in-process scheduler (the numbers do not
# depend on the scheduler), to keep the file well under a minute.
@pytest.mark.parametrize("loss, fit_intercept, weighted, sparse, on_cluster", [
    ("hinge", False, False, False, True),
    ("hinge", True, True, False, False),
    ("squared_hinge", True, False, False, False),
    ("hinge", False, True, True, False),
])
def test_same_path_as_in_memory(request, loss, fit_intercept, weighted, sparse,
                                on_cluster):
    if on_cluster:
        request.getfixturevalue("client")
    else:
        request.getfixturevalue("synchronous")
    X, y = make_problem(n=300, d=5, k=3, seed=3, sparsity=0.3 if sparse else 0.0)
    if sparse:
        X = sp.csr_matrix(X)
    n, d = X.shape
    w = random_weights(n) if weighted else np.ones(n)
    settings = dict(C=10.0, loss=loss, margin=1.0, fit_intercept=fit_intercept)
    n_blocks = 3
    memory = _InMemoryWithoutActiveSet(X, y.astype(np.int64), w, 3, n_threads=1,
                                       **settings)
    memory.n_chunks = n_blocks
    with kernel_threads(1):
        expected = lbfgs.solve(memory, Start.zeros(3, d), tol=1e-3, max_iter=500)
    Xd, yd, wd = _chunked(X, y, n_blocks, w)
    objective = DaskMulticlassSVMObjective(
        Xd, yd, wd, np.arange(3), np.ones(3), w.sum(), n_threads=1, **settings)
    result = lbfgs.solve(objective, Start.zeros(3, d), tol=1e-3, max_iter=500)
    assert expected.converged and result.converged
    # The same path. (The evaluation counts may differ: with an intercept, the
    # in-memory certificate evaluates J separately, the Dask one in its own pass.)
    assert result.n_iter == expected.n_iter
    J_memory = memory.value(expected.coef, expected.intercept)
    J_dask = memory.value(result.coef, result.intercept)
    assert abs(J_dask - J_memory) <= 1e-8 * J_memory
    assert_allclose(result.coef, expected.coef, rtol=1e-10, atol=1e-12)
    assert_allclose(result.intercept, expected.intercept, rtol=1e-10, atol=1e-12)


def test_evaluation_matches_in_memory(synchronous):
    """One evaluation: the same value, gradient and dual values (uneven blocks,
    float32 rows, sample weights)."""
    X, y = make_problem(n=200, d=4, k=4, seed=5)
    w = random_weights(200)
    rng = np.random.RandomState(0)
    coef, intercept = 0.1 * rng.randn(4, 4), 0.1 * rng.randn(4)
    for dtype in (np.float64, np.float32):
        Xt = X.astype(dtype)
        memory = MulticlassSVMObjective(Xt, y.astype(np.int64), w, 4, C=0.1,
                                        loss="hinge", margin=1.0, fit_intercept=True,
                                        n_threads=1)
        objective = DaskMulticlassSVMObjective(
            da.from_array(Xt, chunks=((50, 7, 93, 50), 4)),
            da.from_array(y, chunks=((50, 7, 93, 50),)),
            da.from_array(w, chunks=((50, 7, 93, 50),)), np.arange(4), np.ones(4), w.sum(),
            C=0.1, loss="hinge", margin=1.0, fit_intercept=True, n_threads=1)
        # Other block boundaries: other rounding (float32 products stay float32).
        rtol = 1e-10 if dtype == np.float64 else 1e-5
        for mu in (0.0, 0.25):
            a = memory.evaluate(coef, intercept, mu)
            b = objective.evaluate(coef, intercept, mu)
            for field in ("value", "true_value", "dual_value", "smoothed_dual_value"):
                assert_allclose(getattr(b, field), getattr(a, field), rtol=rtol)
            assert_allclose(b.grad_coef, a.grad_coef, rtol=rtol, atol=rtol * 1e-2)
            assert_allclose(b.grad_intercept, a.grad_intercept, rtol=rtol,
                            atol=rtol * 1e-2)


# -- the estimator ---------------------------------------------------------------------

@pytest.mark.parametrize("k, on_cluster", [(4, True), (2, False)])
def test_fit_matches_in_memory(request, k, on_cluster):
    """Squared hinge, tight tol: the objectives agree to 1e-8 relative."""
    request.getfixturevalue("client" if on_cluster else "synchronous")
    X, y = make_problem(n=240, d=5, k=k, seed=k)
    labels = np.array(["ant", "bee", "cat", "dog"])[y]
    params = dict(C=1.0, loss="squared_hinge", tol=1e-10)
    expected = quiet_fit(X, labels, **params)
    model = LinearMulticlassSVM(**params).fit(
        da.from_array(X, chunks=((100, 77, 63), 5)), labels)  # y in memory
    assert_array_equal(model.classes_, expected.classes_)
    assert model.coef_.shape == expected.coef_.shape
    assert model.n_features_in_ == 5
    J, J_expected = model.objective(X, labels), expected.objective(X, labels)
    assert abs(J - J_expected) <= 1e-8 * J_expected
    assert model.duality_gap_ <= 1e-10


def test_hinge_fit_certified(synchronous):
    """Hinge: the in-memory fit may end with the exact active-set step, which the
    Dask fit cannot take; both are certified, so they agree to within tol."""
    X, y = make_problem(n=300, d=5, k=3, seed=3)
    params = dict(C=1.0, fit_intercept=False, tol=1e-4)
    expected = quiet_fit(X, y, **params)
    model = LinearMulticlassSVM(**params).fit(*_chunked(X, y, 2))
    J, J_expected = model.objective(X, y), expected.objective(X, y)
    assert model.duality_gap_ <= 1e-4
    assert -1e-4 * J <= J - J_expected <= 1e-4 * J_expected


def test_weights_match_in_memory(synchronous):
    X, y = make_problem(n=240, d=4, k=3, seed=7)
    w = random_weights(240)
    params = dict(C=0.1, loss="squared_hinge", tol=1e-10, class_weight="balanced")
    expected = LinearMulticlassSVM(n_threads=1, **params).fit(X, y, sample_weight=w)
    Xd, yd, wd = _chunked(X, y, 4, w)
    model = LinearMulticlassSVM(**params).fit(Xd, yd, sample_weight=wd)
    J = model.objective(X, y, sample_weight=w)
    J_expected = expected.objective(X, y, sample_weight=w)
    assert abs(J - J_expected) <= 1e-8 * J_expected


def test_default_scheduler_without_client():
    """Without a distributed client (threads, or synchronous): the same result."""
    X, y = make_problem(n=200, d=4, k=3, seed=8)
    Xd, yd = _chunked(X, y, 3)
    params = dict(C=1.0, loss="squared_hinge", tol=1e-8)
    models = []
    for scheduler in ("threads", "synchronous"):
        with dask.config.set(scheduler=scheduler):
            models.append(LinearMulticlassSVM(**params).fit(Xd, yd))
    assert_array_equal(models[0].coef_, models[1].coef_)
    expected = quiet_fit(X, y, **params)
    J, J_expected = models[0].objective(X, y), expected.objective(X, y)
    assert abs(J - J_expected) <= 1e-8 * J_expected


def test_sparse_chunks(synchronous):
    X, y = make_problem(n=200, d=6, k=3, seed=2, sparsity=0.5)
    params = dict(C=1.0, loss="squared_hinge", tol=1e-10)
    expected = quiet_fit(sp.csr_matrix(X), y, **params)
    Xd, yd = _chunked(sp.csr_matrix(X), y, 2)
    model = LinearMulticlassSVM(**params).fit(Xd, yd)
    J, J_expected = model.objective(X, y), expected.objective(X, y)
    assert abs(J - J_expected) <= 1e-8 * J_expected
    assert_array_equal(model.predict(Xd).compute(), expected.predict(X))


def test_warm_start(synchronous):
    X, y = make_problem(n=200, d=4, k=3, seed=9)
    Xd, yd = _chunked(X, y, 2)
    model = LinearMulticlassSVM(C=0.1, loss="squared_hinge", tol=1e-8,
                                warm_start=True).fit(Xd, yd)
    first = model.n_iter_
    model.fit(Xd, yd)
    assert model.n_iter_ < first


# -- lazy predictions ------------------------------------------------------------------

@pytest.mark.parametrize("k", [2, 3])
def test_lazy_predictions(client, k):
    X, y = make_problem(n=150, d=4, k=k, seed=10)
    model = quiet_fit(X, y, C=0.1)
    Xd, yd = _chunked(X, y, 3)
    w = random_weights(150)
    scores = model.decision_function(Xd)
    predictions = model.predict(Xd)
    accuracy = model.score(Xd, yd)
    weighted = model.score(Xd, yd, sample_weight=da.from_array(w, chunks=50))
    for result in (scores, predictions, accuracy, weighted):
        assert isinstance(result, da.Array)
    assert scores.shape == ((150,) if k == 2 else (150, k))
    assert_allclose(scores.compute(), model.decision_function(X), rtol=1e-12)
    assert_array_equal(predictions.compute(), model.predict(X))
    assert_allclose(accuracy.compute(), model.score(X, y), rtol=1e-12)
    assert_allclose(weighted.compute(), model.score(X, y, sample_weight=w), rtol=1e-12)


# -- errors ----------------------------------------------------------------------------

def test_errors():
    X, y = make_problem(n=60, d=3, k=3, seed=11)
    Xd, yd = _chunked(X, y, 2)
    cheap = dict(C=1.0, loss="squared_hinge", max_iter=5)
    with dask.config.set(scheduler="synchronous"):
        for solver in ("subgradient", "dual_cd"):
            with pytest.raises(ValueError, match="does not support Dask arrays"):
                LinearMulticlassSVM(solver=solver, max_iter=5).fit(Xd, yd)
        with pytest.raises(ValueError, match="unknown chunk sizes"):
            LinearMulticlassSVM(**cheap).fit(Xd[Xd[:, 0] > 0], yd[Xd[:, 0] > 0])
        with pytest.raises(ValueError, match="samples"):
            LinearMulticlassSVM(**cheap).fit(Xd, y[:-1])
        with pytest.raises(ValueError, match="at least 2 classes"):
            LinearMulticlassSVM(**cheap).fit(Xd, np.zeros(60))
        with pytest.raises(ValueError, match="Negative values"):
            LinearMulticlassSVM(**cheap).fit(Xd, yd, sample_weight=-np.ones(60))
        X_nan = X.copy()
        X_nan[7, 1] = np.nan
        with pytest.raises(ValueError, match="NaN or infinity"):
            LinearMulticlassSVM(**cheap).fit(da.from_array(X_nan, chunks=(20, 3)), y)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            model = LinearMulticlassSVM(**cheap).fit(Xd, yd)
        before = model.coef_.copy()
        with pytest.raises(ValueError, match="does not support Dask arrays"):
            model.set_params(solver="subgradient").fit(Xd, yd)
        assert_array_equal(model.coef_, before)  # a failed fit changes nothing
        with pytest.raises(ValueError, match="features"):
            model.predict(da.from_array(X[:, :2], chunks=(20, 2)))


def test_dask_dataframe_refused():
    dd = pytest.importorskip("dask.dataframe")
    pd = pytest.importorskip("pandas")
    X, y = make_problem(n=60, d=3, k=3, seed=11)
    frame = dd.from_pandas(pd.DataFrame(X), npartitions=2)
    with pytest.raises(TypeError, match="to_dask_array"):
        LinearMulticlassSVM().fit(frame, y)


def test_numpy_input_does_not_import_dask(monkeypatch):
    """With numpy input, the estimator never imports dask (were it to, "dask"
    would be back in sys.modules)."""
    monkeypatch.delitem(sys.modules, "dask")
    X, y = make_problem(n=30, d=3, k=3, seed=13)
    model = quiet_fit(X, y, max_iter=5)
    model.predict(X), model.decision_function(X), model.score(X, y)
    assert "dask" not in sys.modules


# -- partial_fit through dask-ml -------------------------------------------------------

def test_incremental_partial_fit(client):
    """dask_ml.wrappers.Incremental calls partial_fit(X, y, classes=...) on every
    block in order: the same model as calling it on the numpy blocks."""
    wrappers = pytest.importorskip("dask_ml.wrappers")
    X, y = make_problem(n=300, d=4, k=3, seed=12)
    Xd, yd = _chunked(X, y, 3)
    classes = np.unique(y)
    params = dict(C=0.01, batch_size=25, random_state=0, n_threads=1)
    incremental = wrappers.Incremental(LinearMulticlassSVM(**params),
                                       shuffle_blocks=False)
    incremental.fit(Xd, yd, classes=classes)
    expected = LinearMulticlassSVM(**params)
    for lo, hi in ((0, 100), (100, 200), (200, 300)):
        expected.partial_fit(X[lo:hi], y[lo:hi], classes=classes)
    fitted = incremental.estimator_
    assert_allclose(fitted.coef_, expected.coef_, rtol=1e-12)
    assert_allclose(fitted.intercept_, expected.intercept_, rtol=1e-12)
    predictions = incremental.predict(Xd)
    assert isinstance(predictions, da.Array)
    assert_array_equal(predictions.compute(), expected.predict(X))
    # Only numpy arrays (and the solver's numpy state): cheap to ship to workers.
    assert len(pickle.dumps(fitted)) < 20_000


def test_same_safeguards_as_in_memory(synchronous):
    """Validation, the feature-scale check, the weight scaling and L-BFGS's feature
    rescaling are the in-memory ones: the same errors, the same fit."""
    X, y = make_problem(n=60, d=3, k=3, seed=12)
    w = random_weights(60)
    for bad, match in [(dict(X=X * 1e160), "features are too large"),
                       (dict(class_weight={0: -1.0, 1: 1.0, 2: 1.0}), "non-negative")]:
        Xb = bad.get("X", X)
        model = LinearMulticlassSVM(class_weight=bad.get("class_weight"), n_threads=1)
        with pytest.raises(ValueError, match=match):
            model.fit(Xb, y)
        with pytest.raises(ValueError, match=match):
            model.fit(*_chunked(Xb, y, 2))
    # Tiny features and weights far from 1 are rescaled alike on both paths: the
    # Dask fit converges (no warning) to the in-memory optimum, within tol.
    scale = 2.0 ** -30
    params = dict(C=1e-2 * scale ** 2, solver="lbfgs", fit_intercept=False,
                  tol=1e-6, n_threads=1)
    memory = LinearMulticlassSVM(**params).fit(X * scale, y, sample_weight=w * 1e30)
    with warnings.catch_warnings():
        warnings.simplefilter("error", ConvergenceWarning)
        dask_fit = LinearMulticlassSVM(**params).fit(*_chunked(X * scale, y, 2,
                                                               w * 1e30))
    optimum = memory.objective(X * scale, y, sample_weight=w)
    assert abs(dask_fit.objective(X * scale, y, sample_weight=w) - optimum) <= (
        2e-6 * optimum)


def test_predictions_refuse_non_finite_input(synchronous):
    """Dask predict, decision_function and score returned labels for NaN and inf
    rows, where the in-memory path raises."""
    X, y = make_problem(n=40, d=3, k=3, seed=13)
    model = LinearMulticlassSVM(C=1e-2, n_threads=1).fit(X, y)
    for value in (np.nan, np.inf):
        X_bad = X.copy()
        X_bad[5, 1] = value
        Xd = da.from_array(X_bad, chunks=(20, 3))
        with pytest.raises(ValueError, match="NaN|infinity"):
            model.predict(X_bad)
        for method in ("predict", "decision_function"):
            with pytest.raises(ValueError, match="NaN or infinity"):
                getattr(model, method)(Xd).compute()
        with pytest.raises(ValueError, match="NaN or infinity"):
            model.score(Xd, y).compute()
