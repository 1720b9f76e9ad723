"""The Newton steps' one-pass kernels against plain NumPy expressions of MATH.md."""

import numpy as np
import pytest
import scipy.sparse as sp
from numpy.testing import assert_allclose

from sksvm import _certificate, _newton_kernels
from sksvm._solvers.newton import LABEL_MARGIN, _Design

LOSSES = ["hinge", "squared_hinge"]


def _pairs(seed=0, n=40, k=5):
    rng = np.random.default_rng(seed)
    y = rng.integers(0, k, n)
    m = rng.normal(0.0, 1.5, (n, k))
    m[np.arange(n), y] = LABEL_MARGIN
    bound = rng.uniform(0.0, 0.05, n)
    bound[::7] = 0.0  # zero-weight rows
    u = rng.uniform(0.0, 1.0, (n, k)) * bound[:, None]
    u[np.arange(n), y] = 0.0
    dm = rng.normal(size=(n, k))
    dm[np.arange(n), y] = 0.0
    return m, u, bound, y, dm, 3.7


def _reference_derivative(m, u, sigma, bound, loss):
    if loss == "hinge":
        return np.clip(sigma * m + u, 0.0, bound[:, None])
    return 2.0 * bound[:, None] * np.maximum(m, 0.0)


@pytest.mark.parametrize("loss", LOSSES)
def test_pair_terms(loss):
    m, u, bound, y, _, sigma = _pairs()
    hinge = loss == "hinge"
    g = np.full_like(m, np.nan)
    value = _newton_kernels.pair_terms(m, u if hinge else m, sigma, bound, hinge, g)
    expected_g = _reference_derivative(m, u, sigma, bound, loss)
    assert_allclose(g, expected_g, rtol=1e-15, atol=0)
    assert np.all(g[np.arange(y.size), y] == 0.0)
    positive = np.maximum(m, 0.0)
    expected_loss = bound @ (positive if hinge else positive ** 2).sum(axis=1)
    assert value == pytest.approx(expected_loss, rel=1e-13)


@pytest.mark.parametrize("loss", LOSSES)
def test_pair_slope(loss):
    m, u, bound, y, dm, sigma = _pairs(1)
    hinge = loss == "hinge"
    for t in (0.0, 0.3, 2.0):
        expected = np.vdot(_reference_derivative(m + t * dm, u, sigma, bound, loss), dm)
        got = _newton_kernels.pair_slope(m, dm, t, u if hinge else m, sigma, bound, hinge)
        assert got == pytest.approx(expected, rel=1e-12, abs=1e-15)


@pytest.mark.parametrize("loss", LOSSES)
def test_pair_curvatures(loss):
    m, u, bound, y, _, sigma = _pairs(2)
    hinge = loss == "hinge"
    out = np.full_like(m, np.nan)
    count = _newton_kernels.pair_curvatures(m, u if hinge else m, sigma, bound, hinge, out)
    if hinge:
        v = sigma * m + u
        expected = np.where((v > 0.0) & (v < bound[:, None]), sigma, 0.0)
    else:
        expected = np.where(m > 0.0, 2.0 * bound[:, None], 0.0)
    assert_allclose(out, expected, rtol=0, atol=0)
    assert count == np.count_nonzero(expected)


@pytest.mark.parametrize("n_threads", [1, 2])
@pytest.mark.parametrize("fit_intercept", [False, True])
@pytest.mark.parametrize("kind", ["dense64", "dense32", "csr"])
def test_pair_transpose_times_in_blocks(kind, fit_intercept, n_threads, monkeypatch):
    """AᵀX̂ and A's column sums from the pair values, A built a block at a time,
    equal those of the whole matrix A (several blocks: a small CHUNK_ROWS), and
    the products with X̂ equal NumPy's, on one thread or over ranges of rows on
    two (ranges made for these few rows)."""
    import sksvm._solvers.newton as newton_module
    monkeypatch.setattr(newton_module, "CHUNK_ROWS", 7)
    monkeypatch.setattr(newton_module, "chunk_count",
                        lambda threads, work: 1 if threads == 1 else 4 * threads)
    _, u, _, y, _, _ = _pairs(4)
    rng = np.random.default_rng(5)
    X = rng.normal(size=(y.size, 6))
    X[X < 0.3] = 0.0
    X = {"dense64": X, "dense32": X.astype(np.float32), "csr": sp.csr_matrix(X)}[kind]
    mu = rng.normal(size=6) if fit_intercept else np.zeros(6)
    design = _Design(X, mu, 1.3 if fit_intercept else 0.0, fit_intercept, n_threads)
    if n_threads > 1:
        assert len(design._row_ranges(u.shape[1])) - 1 > 1
    A = _certificate.pair_coefficients(u, y)
    AX, column_sums = design.pair_transpose_times(u, y)
    assert_allclose(AX, design.transpose_times(A), rtol=1e-12, atol=1e-12)
    assert_allclose(column_sums, A.sum(axis=0), rtol=1e-13, atol=1e-15)
    # and the plain products against NumPy's
    X_hat = X.toarray() if sp.issparse(X) else np.asarray(X, dtype=np.float64)
    if fit_intercept:
        X_hat = np.hstack([X_hat - mu, np.full((y.size, 1), 1.3)])
    assert_allclose(design.transpose_times(A), A.T @ X_hat, rtol=1e-12, atol=1e-12)
    theta = rng.normal(size=(u.shape[1], X_hat.shape[1]))
    assert_allclose(design.times(theta), X_hat @ theta.T, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("width", [1, 3, 4, 8, 9, 14])
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_cholesky_solve(dtype, width):
    """(UᵀU)⁻¹ b from the upper triangle U alone (garbage below it), against
    NumPy's solve with the same U (widths with every remainder of four rows)."""
    rng = np.random.default_rng(11)
    B = rng.normal(size=(30, width))
    matrix = B.T @ B + 0.1 * np.eye(width)
    upper = np.linalg.cholesky(matrix).T.astype(dtype)
    stored = upper + np.tril(rng.normal(size=(width, width)), -1).astype(dtype)
    rhs = rng.normal(size=width)
    out = np.full(width, np.nan)
    _newton_kernels.cholesky_solve(stored, rhs, out)
    exact = np.linalg.solve(upper.astype(np.float64).T @ upper.astype(np.float64), rhs)
    assert_allclose(out, exact, rtol=1e-10, atol=1e-10 * np.abs(exact).max())


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_woodbury_system(dtype):
    """K = (Gram of the pairs' rows) ∘ P Pᵀ + diag, against the dense product of
    the pair patterns, with several pairs on one row and pairs sharing classes."""
    rng = np.random.default_rng(4)
    n_rows, k, n_pairs = 9, 4, 17
    X = rng.normal(size=(n_rows, 6))
    gram = X @ X.T
    local = rng.integers(0, n_rows, n_pairs)
    labels = rng.integers(0, k, n_rows)[local]
    cols = (labels + rng.integers(1, k, n_pairs)) % k  # never the label
    diagonal = rng.uniform(0.5, 2.0, n_pairs)
    P = _certificate.pair_patterns(cols, labels, k)
    expected = gram[np.ix_(local, local)] * (P @ P.T) + np.diag(diagonal)
    K = np.full((n_pairs, n_pairs), np.nan, dtype=dtype)
    _newton_kernels.woodbury_system(gram, local, cols, labels, diagonal, K)
    assert_allclose(K, expected, rtol=1e-6 if dtype == np.float32 else 1e-14,
                    atol=1e-6 if dtype == np.float32 else 1e-14)


def test_row_gram_reuses_the_shared_rows_entries():
    """The curved rows' Gram built from a cache of another row set equals the
    Gram computed from scratch (NumPy), with and without an intercept; the
    shared entries come from the cache (a marked cache shows through)."""
    from sksvm._solvers.newton import _Design, _row_gram

    rng = np.random.default_rng(5)
    X = rng.normal(size=(30, 7))
    for fit_intercept in (False, True):
        mu = X.mean(axis=0) if fit_intercept else np.zeros(7)
        design = _Design(X, mu, 2.0 if fit_intercept else 0.0, fit_intercept)
        X_hat = np.hstack([X - mu, np.full((30, 1), 2.0)]) if fit_intercept else X
        old_rows = np.array([1, 4, 5, 9, 12, 20, 28])
        rows = np.array([0, 4, 9, 10, 12, 28, 29])
        old_design = design.subset(old_rows)
        old_gram = _row_gram(old_design, old_rows, None)
        assert_allclose(old_gram, X_hat[old_rows] @ X_hat[old_rows].T, rtol=1e-12,
                        atol=1e-12)
        gram = _row_gram(design.subset(rows), rows, (old_rows, old_gram))
        assert_allclose(gram, X_hat[rows] @ X_hat[rows].T, rtol=1e-12, atol=1e-12)
        marked = old_gram + 1000.0
        gram = _row_gram(design.subset(rows), rows, (old_rows, marked))
        shared = np.isin(rows, old_rows)
        assert np.all(gram[np.ix_(shared, shared)] > 500.0)
        assert np.all(gram[np.ix_(~shared, ~shared)] < 500.0)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_curved_rows_product(dtype):
    """One pass per row, reading only its curved classes and its label, against
    the pairs' outer products summed one pair at a time (MATH.md: the Hessian's
    loss part A_Dᵀ diag(h) A_D), over a row range that spans several of the
    kernel's float32 flush blocks."""
    rng = np.random.default_rng(3)
    n, d, k = 2600, 7, 4
    X = rng.normal(size=(n, d)).astype(dtype)
    y = rng.integers(0, k, n)
    h = rng.uniform(0.5, 2.0, (n, k)) * (rng.uniform(size=(n, k)) < 0.3)
    h[np.arange(n), y] = 0.0
    h[5:40] = 0.0  # rows without curvature
    V = rng.normal(size=(k, d))
    # offsets: the scores of rows x̂_i = (x_i − μ, r) from raw rows x_i
    mu, r, beta = rng.normal(size=d), 1.7, rng.normal(size=k)
    offsets = r * beta - V.astype(dtype) @ mu
    start, stop = 3, 2590
    out = np.full((k, d), 0.25)
    column_sums = np.full(k, 0.5)
    _newton_kernels.curved_rows_product(X, V.astype(dtype), offsets, y, h, start,
                                        stop, out, column_sums)
    X_hat = np.hstack([X.astype(np.float64) - mu, np.full((n, 1), r)])
    V_hat = np.hstack([V.astype(dtype).astype(np.float64), beta[:, None]])
    expected = np.zeros((k, d + 1))
    for i, j in zip(*np.nonzero(h[start:stop])):
        i += start
        a = np.zeros((k, d + 1))
        a[j] += X_hat[i]
        a[y[i]] -= X_hat[i]
        expected += h[i, j] * np.vdot(a, V_hat) * a
    # Σ a_i x̂_iᵀ = [Σ a_i x_iᵀ − (Σ a_i) μᵀ, r Σ a_i]
    sums = column_sums - 0.5
    got = np.hstack([out - 0.25 - np.outer(sums, mu), (r * sums)[:, None]])
    rtol = 1e-5 if dtype == np.float32 else 1e-12
    assert_allclose(got, expected, rtol=rtol, atol=rtol * np.abs(expected).max())
