"""sksvm.loss_gradient and the numba block kernels against plain numpy (MATH.md)."""

import numpy as np
import pytest
import scipy.sparse as sp
from numpy.testing import assert_allclose, assert_array_equal
from scipy.optimize import check_grad

from sksvm import loss_gradient
from sksvm import _kernels
from sksvm._losses import HINGE, SMOOTHED_HINGE, SQUARED_HINGE

from _reference import numpy_objective, reference_margins
from _helpers import make_problem, random_weights

# (loss, smoothing) triples exercised everywhere.
LOSSES = [("hinge", 0.0), ("squared_hinge", 0.0), ("hinge", 0.4)]
LOSS_IDS = ["hinge", "squared_hinge", "smoothed_hinge"]

# float64 evaluations of the same sums in a different order: rounding only.
RTOL64 = 1e-11
# float32 inputs: the reference is computed from the same float32 values upcast, so
# only accumulation differences remain; allow float32-level relative error.
RTOL32 = 1e-5


def _point(k, d, seed, scale=0.3):
    """A generic random (coef, intercept): no margin is exactly at a kink."""
    rng = np.random.RandomState(seed + 7)
    return scale * rng.randn(k, d), rng.randn(k)


def _data(container, seed=0, n=30, d=5, k=4):
    X, y = make_problem(n=n, d=d, k=k, seed=seed, sparsity=0.3)
    if container == "dense64":
        return X, X, y
    if container == "dense32":
        X32 = X.astype(np.float32)
        return X32, X32.astype(np.float64), y
    if container == "csr64":
        return sp.csr_matrix(X), X, y
    if container == "csr32":
        X32 = sp.csr_matrix(X.astype(np.float32))
        return X32, X32.toarray().astype(np.float64), y
    raise AssertionError(container)


def _assert_generic(coef, intercept, X, y, margin, mu):
    """Guard: keep the comparison away from kinks (m = 0, and m = mu if smoothed)."""
    m = reference_margins(coef, intercept, X, y, margin)
    m = m[~np.isnan(m)]
    assert np.min(np.abs(m)) > 1e-6
    if mu > 0:
        assert np.min(np.abs(m - mu)) > 1e-6


@pytest.mark.parametrize("container", ["dense64", "dense32", "csr64", "csr32"])
@pytest.mark.parametrize("weighted", [False, True])
@pytest.mark.parametrize("loss, mu", LOSSES, ids=LOSS_IDS)
def test_loss_gradient_matches_numpy(container, weighted, loss, mu):
    X, X64, y = _data(container)
    k, d = 4, X.shape[1]
    coef, intercept = _point(k, d, seed=1)
    sw = random_weights(len(y), seed=3) if weighted else None
    C, margin = 0.7, 1.3
    _assert_generic(coef, intercept, X64, y, margin, mu)
    value, g_coef, g_int = loss_gradient(coef, intercept, X, y, C=C, loss=loss,
                                         margin=margin, smoothing=mu,
                                         sample_weight=sw)
    ref_value, ref_coef, ref_int = numpy_objective(coef, intercept, X64, y, C, loss,
                                                   margin, mu, sample_weight=sw)
    rtol = RTOL32 if container.endswith("32") else RTOL64
    scale = np.abs(ref_coef).max()
    assert g_coef.shape == (k, d) and g_int.shape == (k,)
    assert_allclose(value, ref_value, rtol=rtol)
    assert_allclose(g_coef, ref_coef, rtol=rtol, atol=rtol * scale)
    assert_allclose(g_int, ref_int, rtol=rtol, atol=rtol * scale)
    # The loss terms are active: the test is not trivially about the penalty.
    assert ref_value - 0.5 * C * np.sum(coef ** 2) > 0.1
    assert np.abs(ref_int).max() > 1e-3


@pytest.mark.parametrize("loss, mu", LOSSES, ids=LOSS_IDS)
@pytest.mark.parametrize("weighted", [False, True])
def test_dense_equals_csr(loss, mu, weighted):
    X, y = make_problem(n=30, d=6, k=3, seed=4, sparsity=0.5)
    coef, intercept = _point(3, 6, seed=2)
    sw = random_weights(len(y), seed=4) if weighted else None
    kw = dict(C=0.2, loss=loss, smoothing=mu, sample_weight=sw)
    dense = loss_gradient(coef, intercept, X, y, **kw)
    csr = loss_gradient(coef, intercept, sp.csr_matrix(X), y, **kw)
    for a, b in zip(dense, csr):
        assert_allclose(a, b, rtol=RTOL64, atol=1e-13)


def test_zero_point_hand_computed():
    """At W = 0, b = 0 every margin equals δ: J = δ (k − 1), A_ij = 1/n."""
    X, y = make_problem(n=12, d=3, k=3, seed=5)
    delta = 0.8
    value, g_coef, g_int = loss_gradient(np.zeros((3, 3)), np.zeros(3), X, y,
                                         C=5.0, margin=delta)
    assert_allclose(value, delta * 2, rtol=1e-14)
    n = len(y)
    onehot = np.eye(3)[y]
    expected = ((1 - onehot) - 2 * onehot).T @ X / n
    assert_allclose(g_coef, expected, rtol=1e-12)
    assert_allclose(g_int, ((1 - onehot) - 2 * onehot).sum(axis=0) / n, atol=1e-15)


@pytest.mark.parametrize("seed", [0, 1, 2])
@pytest.mark.parametrize("weighted", [False, True])
def test_hinge_subgradient_generic_points(seed, weighted):
    """Away from kinks the hinge is differentiable: the kernel's subgradient is
    the numpy gradient."""
    X, y = make_problem(n=35, d=4, k=5, seed=10 + seed)
    coef, intercept = _point(5, 4, seed=seed, scale=0.5)
    sw = random_weights(len(y), seed=seed) if weighted else None
    _assert_generic(coef, intercept, X, y, 1.0, 0.0)
    value, g_coef, g_int = loss_gradient(coef, intercept, X, y, C=0.05,
                                         sample_weight=sw)
    ref = numpy_objective(coef, intercept, X, y, 0.05, sample_weight=sw)
    assert_allclose(value, ref[0], rtol=RTOL64)
    assert_allclose(g_coef, ref[1], rtol=RTOL64, atol=1e-13)
    assert_allclose(g_int, ref[2], rtol=RTOL64, atol=1e-13)
    # ... and is a true gradient there: central differences agree.
    eps = 1e-7
    rng = np.random.RandomState(seed)
    direction = rng.randn(*coef.shape)
    plus = loss_gradient(coef + eps * direction, intercept, X, y, C=0.05,
                         sample_weight=sw)[0]
    minus = loss_gradient(coef - eps * direction, intercept, X, y, C=0.05,
                          sample_weight=sw)[0]
    assert_allclose((plus - minus) / (2 * eps), np.vdot(g_coef, direction),
                    rtol=1e-5)


@pytest.mark.parametrize("loss, mu", [("squared_hinge", 0.0), ("hinge", 0.5)],
                         ids=["squared_hinge", "smoothed_hinge"])
@pytest.mark.parametrize("fit_intercept", [False, True])
@pytest.mark.parametrize("weighted", [False, True])
def test_check_grad(loss, mu, fit_intercept, weighted):
    X, y = make_problem(n=30, d=4, k=3, seed=6)
    k, d = 3, 4
    sw = random_weights(len(y), seed=6) if weighted else None
    kw = dict(C=0.3, loss=loss, smoothing=mu, sample_weight=sw, margin=1.1)

    def split(p):
        coef = p[:k * d].reshape(k, d)
        return coef, (p[k * d:] if fit_intercept else None)

    def f(p):
        return loss_gradient(*split(p), X, y, **kw)[0]

    def g(p):
        _, gc, gi = loss_gradient(*split(p), X, y, **kw)
        return np.concatenate([gc.ravel(), gi]) if fit_intercept else gc.ravel()

    rng = np.random.RandomState(1)
    p = 0.3 * rng.randn(k * d + (k if fit_intercept else 0))
    err = check_grad(f, g, p, epsilon=1e-6)
    assert err <= 1e-5 * np.linalg.norm(g(p)), err


@pytest.mark.parametrize("loss, mu", LOSSES, ids=LOSS_IDS)
@pytest.mark.parametrize("sparse", [False, True])
def test_intercept_is_a_column_of_ones(loss, mu, sparse):
    """Intercept b on X equals coef [W | b] on [X | 1] without intercept, apart from
    the penalty (C/2)‖b‖² that the augmented coef pays."""
    X, y = make_problem(n=30, d=4, k=4, seed=7, sparsity=0.3)
    coef, intercept = _point(4, 4, seed=3)
    C = 0.6
    sw = random_weights(len(y), seed=7)
    X_aug = np.hstack([X, np.ones((len(y), 1))])
    if sparse:
        X, X_aug = sp.csr_matrix(X), sp.csr_matrix(X_aug)
    kw = dict(C=C, loss=loss, smoothing=mu, sample_weight=sw)
    value, g_coef, g_int = loss_gradient(coef, intercept, X, y, **kw)
    v_aug, g_aug, g_int_aug = loss_gradient(np.column_stack([coef, intercept]), None,
                                            X_aug, y, **kw)
    assert_allclose(v_aug - 0.5 * C * np.sum(intercept ** 2), value, rtol=RTOL64)
    assert_allclose(g_aug[:, :-1], g_coef, rtol=RTOL64, atol=1e-13)
    assert_allclose(g_aug[:, -1] - C * intercept, g_int, rtol=RTOL64, atol=1e-13)
    # intercept=None means no intercept: zero intercept gradient.
    assert np.all(g_int_aug == 0)
    v0, g0, _ = loss_gradient(coef, None, X, y, **kw)
    v0z, g0z, _ = loss_gradient(coef, np.zeros(4), X, y, **kw)
    assert_allclose(v0, v0z, rtol=RTOL64)
    assert_allclose(g0, g0z, rtol=RTOL64, atol=1e-13)


@pytest.mark.parametrize("mu", [1e-3, 0.1, 0.5, 2.0])
@pytest.mark.parametrize("scale", [0.0, 0.1, 1.0])
def test_smoothing_bounds(mu, scale):
    """J_μ ≤ J ≤ J_μ + (μ/2)(k − 1) (MATH.md)."""
    k = 4
    X, y = make_problem(n=30, d=5, k=k, seed=8)
    coef, intercept = _point(k, 5, seed=4, scale=scale)
    sw = random_weights(len(y), seed=8)
    hinge = loss_gradient(coef, intercept, X, y, C=0.1, sample_weight=sw)[0]
    smooth = loss_gradient(coef, intercept, X, y, C=0.1, smoothing=mu,
                           sample_weight=sw)[0]
    assert smooth <= hinge + 1e-14
    assert hinge <= smooth + 0.5 * mu * (k - 1) + 1e-14
    # Independent check of the smoothed value itself.
    assert_allclose(smooth, numpy_objective(coef, intercept, X, y, 0.1, mu=mu,
                                            sample_weight=sw)[0], rtol=RTOL64)


def test_smoothing_tends_to_hinge():
    X, y = make_problem(n=30, d=5, k=4, seed=9)
    coef, intercept = _point(4, 5, seed=5)
    hinge = loss_gradient(coef, intercept, X, y, C=0.1)[0]
    gaps = [hinge - loss_gradient(coef, intercept, X, y, C=0.1, smoothing=mu)[0]
            for mu in (1.0, 1e-2, 1e-4, 1e-6)]
    assert all(g >= -1e-14 for g in gaps)
    assert gaps[-1] <= 1.5 * 1e-6  # at most μ/2 · (k−1)
    assert gaps == sorted(gaps, reverse=True)


def test_zero_weight_rows_are_ignored():
    X, y = make_problem(n=30, d=4, k=3, seed=11)
    coef, intercept = _point(3, 4, seed=6)
    sw = random_weights(len(y), seed=11)
    sw[::3] = 0.0
    keep = sw > 0
    full = loss_gradient(coef, intercept, X, y, C=0.3, sample_weight=sw)
    subset = loss_gradient(coef, intercept, X[keep], y[keep], C=0.3,
                           sample_weight=sw[keep])
    for a, b in zip(full, subset):
        assert_allclose(a, b, rtol=RTOL64, atol=1e-13)


def test_n_threads_agree():
    X, y = make_problem(n=41, d=5, k=4, seed=12)
    coef, intercept = _point(4, 5, seed=7)
    one = loss_gradient(coef, intercept, X, y, C=0.3, n_threads=1)
    two = loss_gradient(coef, intercept, X, y, C=0.3, n_threads=2)
    for a, b in zip(one, two):
        assert_allclose(a, b, rtol=1e-12, atol=1e-14)


@pytest.mark.parametrize("kwargs, match", [
    (dict(C=0.0), "C must be"),
    (dict(C=-1.0), "C must be"),
    (dict(C=1.0, margin=0.0), "margin must be"),
    (dict(C=1.0, loss="log"), "loss must be"),
    (dict(C=1.0, smoothing=-0.1), "smoothing must be"),
    (dict(C=1.0, loss="squared_hinge", smoothing=0.1), "smoothing applies"),
])
def test_loss_gradient_bad_arguments(kwargs, match):
    X, y = make_problem(n=10, d=3, k=3, seed=0)
    with pytest.raises(ValueError, match=match):
        loss_gradient(np.zeros((3, 3)), np.zeros(3), X, y, **kwargs)


def test_loss_gradient_bad_shapes():
    X, y = make_problem(n=10, d=3, k=3, seed=0)
    with pytest.raises(ValueError, match="features"):
        loss_gradient(np.zeros((3, 4)), np.zeros(3), X, y, C=1.0)
    with pytest.raises(ValueError, match="intercept"):
        loss_gradient(np.zeros((3, 3)), np.zeros(2), X, y, C=1.0)
    with pytest.raises(ValueError, match="class indices"):
        loss_gradient(np.zeros((3, 3)), np.zeros(3), X, y + 1, C=1.0)
    with pytest.raises(ValueError, match="integer"):
        loss_gradient(np.zeros((3, 3)), np.zeros(3), X, y.astype(float), C=1.0)


# -- the unnormalized block kernels --------------------------------------------------

LOSS_CODES = {"hinge": HINGE, "squared_hinge": SQUARED_HINGE,
              "smoothed_hinge": SMOOTHED_HINGE}


def _block(X, y, sw, coef, intercept, code, margin, mu, n_chunks, block_rows=None):
    """Full-data parallel kernel, dense or CSR: (stats, grad (k, d), grad_intercept).
    ``block_rows``: rows per block of the CSR kernel's two passes (its default rule
    when None)."""
    if sp.issparse(X):
        if block_rows is None:
            block_rows = _kernels.csr_block_rows(X.data, X.indices, coef.shape[0],
                                                 n_chunks)
        stats, g_t, g_i = _kernels.csr_loss_grad(
            X.data, X.indices, X.indptr, y, sw, np.ascontiguousarray(coef.T),
            intercept, code, margin, mu, n_chunks, block_rows)
        return stats, g_t.T, g_i
    return _kernels.dense_loss_grad(X, y, sw, coef, intercept, code, margin, mu,
                                    n_chunks)


def _reference_stats(coef, intercept, X, y, sw, margin, loss, mu):
    """Σ s ℓ, Σ s ℓ_true, Σ s ℓ', Σ s ℓ'² computed directly with numpy."""
    m = reference_margins(coef, intercept, X, y, margin)
    m = np.where(np.isnan(m), -np.inf, m)
    pos = np.maximum(m, 0.0)
    if loss == "squared_hinge":
        val, true, der = pos ** 2, pos ** 2, 2 * pos
    elif loss == "smoothed_hinge":
        val = np.where(pos < mu, pos ** 2 / (2 * mu), pos - mu / 2)
        true, der = pos, np.clip(pos / mu, 0, 1)
    else:
        val, true, der = pos, pos, (m > 0).astype(float)
    return np.array([sw @ val.sum(1), sw @ true.sum(1), sw @ der.sum(1),
                     sw @ (der ** 2).sum(1)])


@pytest.mark.parametrize("loss", ["hinge", "squared_hinge", "smoothed_hinge"])
@pytest.mark.parametrize("container", ["dense64", "dense32", "csr64", "csr32"])
def test_block_kernels_add_up(loss, container):
    """Unnormalized sums: two row blocks add up to the whole, in any chunking."""
    X, X64, y = _data(container, seed=13, n=150, d=5, k=4)  # > 2 dense BLAS blocks
    y = y.astype(np.int64)
    coef, intercept = _point(4, 5, seed=8)
    sw = random_weights(len(y), seed=13)
    code, mu, margin = LOSS_CODES[loss], (0.3 if loss == "smoothed_hinge" else 0.0), 1.2
    args = (coef, intercept, code, margin, mu)
    whole = _block(X, y, sw, *args, 1)
    m = 67
    first = _block(X[:m], y[:m], sw[:m], *args, 1)
    second = _block(X[m:], y[m:], sw[m:], *args, 1)
    chunked = _block(X, y, sw, *args, 2)
    many = _block(X, y, sw, *args, 7)
    # CSR: many blocks per chunk, the last one short (150 / 2 chunks, 16 rows each).
    small_blocks = _block(X, y, sw, *args, 2, block_rows=16)
    rtol = RTOL32 if container.endswith("32") else 1e-12
    for part_whole, p1, p2, p_chunk, p_many, p_small in zip(
            whole, first, second, chunked, many, small_blocks):
        atol = rtol * np.abs(part_whole).max()
        assert_allclose(p1 + p2, part_whole, rtol=rtol, atol=atol)
        assert_allclose(p_chunk, part_whole, rtol=rtol, atol=atol)
        assert_allclose(p_many, part_whole, rtol=rtol, atol=atol)
        # The two passes sum in the order of one: identical to whole chunks.
        assert_array_equal(p_small, p_chunk)
    # The sums are Σ s ℓ etc. and Σ_i A_ij x_i with A_ij = s_i ℓ'(m_ij).
    stats, g_coef, g_int = whole
    rtol = RTOL32 if container.endswith("32") else 1e-11
    assert_allclose(stats, _reference_stats(coef, intercept, X64, y, sw, margin, loss,
                                            mu), rtol=rtol)
    S = sw.sum()
    ref_mu = mu if loss == "smoothed_hinge" else 0.0
    ref_loss = "squared_hinge" if loss == "squared_hinge" else "hinge"
    _, ref_coef, ref_int = numpy_objective(coef, intercept, X64, y, 0.0, ref_loss,
                                           margin, ref_mu, sample_weight=sw)
    assert_allclose(g_coef / S, ref_coef, rtol=rtol,
                    atol=rtol * np.abs(ref_coef).max())
    assert_allclose(g_int / S, ref_int, rtol=rtol, atol=rtol * np.abs(ref_int).max())


@pytest.mark.parametrize("loss, mu", LOSSES, ids=LOSS_IDS)
@pytest.mark.parametrize("container", ["dense64", "csr64"])
def test_row_ranges_add_up(loss, mu, container):
    """Rows in a shuffled order, taken by ranges: each range's objective and
    gradient are numpy's on exactly those rows, whatever their order, and two
    ranges that split the data add up (loss terms weighted by their weight sums)
    to the whole data's."""
    X, X64, y = _data(container, seed=14, n=37, d=5, k=4)
    coef, intercept = _point(4, 5, seed=9)
    sw = random_weights(len(y), seed=14)
    C, margin = 0.3, 0.9
    kw = dict(C=C, loss=loss, margin=margin, smoothing=mu)
    rows = np.random.RandomState(0).permutation(len(y))

    def on_rows(picked):
        return loss_gradient(coef, intercept, X[picked], y[picked],
                             sample_weight=sw[picked], **kw)

    for lo, hi in [(0, 15), (15, 37), (5, 20)]:
        picked = rows[lo:hi]
        got = on_rows(picked)
        ref = numpy_objective(coef, intercept, X64[picked], y[picked], C, loss,
                              margin, mu, sample_weight=sw[picked])
        for a, b in zip(got, ref):
            assert_allclose(a, b, rtol=RTOL64, atol=RTOL64 * np.abs(b).max())
        for a, b in zip(got, on_rows(np.sort(picked))):
            assert_allclose(a, b, rtol=1e-12, atol=1e-12 * np.abs(b).max())
    penalty, penalty_grad = 0.5 * C * np.sum(coef ** 2), C * coef
    value, grad, grad_intercept = 0.0, 0.0, 0.0
    for picked in (rows[:15], rows[15:]):
        part_value, part_grad, part_intercept = on_rows(picked)
        share = sw[picked].sum() / sw.sum()
        value = value + share * (part_value - penalty)
        grad = grad + share * (part_grad - penalty_grad)
        grad_intercept = grad_intercept + share * part_intercept
    whole = loss_gradient(coef, intercept, X, y, sample_weight=sw, **kw)
    for a, b in zip((value + penalty, grad + penalty_grad, grad_intercept), whole):
        assert_allclose(a, b, rtol=1e-12, atol=1e-12 * np.abs(b).max())


def test_block_kernels_tiny_and_more_chunks_than_rows():
    X, y = make_problem(n=5, d=3, k=3, seed=14)
    y = y.astype(np.int64)
    coef, intercept = _point(3, 3, seed=9)
    sw = np.ones(5)
    for X_in in (X, sp.csr_matrix(X)):
        ref = _block(X_in, y, sw, coef, intercept, HINGE, 1.0, 0.0, 1)
        for n_chunks in (7, 16):
            got = _block(X_in, y, sw, coef, intercept, HINGE, 1.0, 0.0,
                         n_chunks)
            for a, b in zip(got, ref):
                assert_allclose(a, b, rtol=1e-13, atol=1e-14)
        # All weights zero: every sum is zero.
        empty = _block(X_in, y, np.zeros(5), coef, intercept, HINGE, 1.0,
                       0.0, 2)
        assert all(np.all(part == 0) for part in empty)


@pytest.mark.parametrize("m", [0, 1, 2, 24, 25, 33, 100, 1000])
def test_block_sort_is_descending_and_in_place(m):
    """dual_cd's block sort (insertion up to 24 values, heapsort above) against
    numpy's sort, with ties, leaving the buffer's tail alone."""
    from sksvm._dual_kernels import _sort_descending

    rng = np.random.default_rng(m)
    buffer = rng.normal(size=m + 3)
    buffer[:m][rng.random(m) < 0.2] = 0.5
    expected, tail = np.sort(buffer[:m])[::-1], buffer[m:].copy()
    _sort_descending(buffer, m)
    assert np.array_equal(buffer[:m], expected)
    assert np.array_equal(buffer[m:], tail)
