"""Helpers shared by the test files: data builders, the cached exact optima of the
standard cases, fitting shortcuts and small checks. Each is defined here only.

The references themselves (numpy objective, conic solver) are in ``_reference``.
"""

import functools
import warnings

import numpy as np
from sklearn.exceptions import ConvergenceWarning

from _reference import binary_split, cvxpy_optimum

# -- data ------------------------------------------------------------------------------


def make_problem(n=40, d=5, k=4, seed=0, shift=3.0, sparsity=0.0, noise=1.0):
    """Overlapping Gaussian classes, uncentred by ``shift``; every class present.

    ``sparsity`` is the fraction of entries set to zero (for CSR tests).
    """
    rng = np.random.RandomState(seed)
    centers = 1.5 * rng.randn(k, d)
    y = np.arange(n) % k
    rng.shuffle(y)
    X = centers[y] + noise * rng.randn(n, d) + shift
    if sparsity > 0:
        X[rng.rand(n, d) < sparsity] = 0.0
    return X, y


def make_stalling_problem():
    """Unscaled data (one feature × 1e3) on which dual coordinate ascent's gap
    stalls near 1 (it falls by about 1e-5 an epoch)."""
    X, y = make_problem(2000, 10, 4, seed=5, shift=1.0, noise=2.0)
    X[:, -1] *= 1e3
    return X, y


def random_weights(n, seed=0, integer=False):
    rng = np.random.RandomState(seed + 1000)
    if integer:
        return rng.randint(1, 4, size=n).astype(np.float64)
    return rng.uniform(0.1, 3.0, size=n)


# (n, d, k, seed, C): uncentred data (shift 3), overlapping classes; the cases checked
# against exact optima (test_exact.py, test_dual_cd.py).
CASES = [
    (30, 3, 3, 0, 1e-1),
    (45, 4, 4, 1, 1e-2),
    (60, 6, 5, 2, 1e-3),
]
CASE_IDS = [f"n{n}-d{d}-k{k}-C{C:g}" for n, d, k, _, C in CASES]


def case_data(case, weighted):
    """(X, y, sample_weight or None, k, C) of one of ``CASES``; integer weights."""
    n, d, k, seed, C = case
    X, y = make_problem(n=n, d=d, k=k, seed=seed)
    sw = (np.random.RandomState(seed).randint(1, 4, size=n).astype(float)
          if weighted else None)
    return X, y, sw, k, C


@functools.lru_cache(maxsize=None)
def case_optimum(case, weighted, fit_intercept, loss):
    """The exact (coef, intercept, value) of a case, solved once per session."""
    X, y, sw, k, C = case_data(case, weighted)
    return cvxpy_optimum(X, y, k, C, loss=loss, fit_intercept=fit_intercept,
                         sample_weight=sw)


# -- fitting ---------------------------------------------------------------------------


def fit(X, y, sample_weight=None, **params):
    """Fit a LinearMulticlassSVM (one numba thread unless ``n_threads`` is given)."""
    from sksvm import LinearMulticlassSVM  # (conftest imports this module early)

    params.setdefault("n_threads", 1)
    return LinearMulticlassSVM(**params).fit(X, y, sample_weight=sample_weight)


def quiet_fit(X, y, sample_weight=None, **params):
    """:func:`fit`, ignoring ConvergenceWarning (short runs on purpose)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        return fit(X, y, sample_weight, **params)


def full_coef(model):
    """The (k, d) weights W behind ``coef_`` (binary models store w_1 − w_0)."""
    if len(model.classes_) == 2:
        return binary_split(model.coef_, model.intercept_)[0]
    return model.coef_


# -- checks ----------------------------------------------------------------------------


def frozen(array):
    """A read-only copy of ``array``: any write to it by the code under test raises."""
    array = np.array(array, copy=True)
    array.flags.writeable = False
    return array


def assert_finite(model):
    assert np.all(np.isfinite(model.coef_)) and np.all(np.isfinite(model.intercept_))


def relative_excess(model, X, y, sample_weight, optimum_value):
    """(J − J*) / J* of a fitted model, J* from the exact solver."""
    value = model.objective(X, y, sample_weight=sample_weight)
    return (value - optimum_value) / optimum_value


# -- instrumentation ---------------------------------------------------------------------


def record_calls(monkeypatch, owner, name):
    """Wrap ``owner.name`` so that every call appends ``(args, result)`` to the
    returned list (positional arguments only)."""
    calls = []
    original = getattr(owner, name)

    def recording(*args):
        result = original(*args)
        calls.append((args, result))
        return result

    monkeypatch.setattr(owner, name, recording)
    return calls


def count_calls(monkeypatch, owner, name):
    """Wrap ``owner.name`` so that every call appends its arguments to the returned
    list (and still runs)."""
    calls = []
    original = getattr(owner, name)

    def counting(*args, **kwargs):
        calls.append(args)
        return original(*args, **kwargs)

    monkeypatch.setattr(owner, name, counting)
    return calls


def make_rare_class_problem():
    """A 3-class problem (6 features, noise 2) whose first class is rare: 60 of
    326 samples; labels int64."""
    X, y = make_problem(n=400, d=6, k=3, seed=0, noise=2.0)
    keep = np.r_[np.flatnonzero(y != 0), np.flatnonzero(y == 0)[:60]]
    return X[keep], y[keep].astype(np.int64)


def record_finish_attempts(monkeypatch):
    """Wrap ``"dual_cd"``'s exact finishing attempts: each one appends its
    ``final`` flag (True for the attempt at convergence) to the returned list."""
    from sksvm._solvers import dual_cd

    finals = []
    original = dual_cd._Run.try_finish

    def recording(self, point, final):
        finals.append(final)
        return original(self, point, final)

    monkeypatch.setattr(dual_cd._Run, "try_finish", recording)
    return finals


def small_hinge_objective(C, fit_intercept=True):
    """The hinge objective of a 60 × 4 problem with 3 classes (``make_problem``
    seed 2, noise 1), unit weights, one thread."""
    from sksvm._objective import MulticlassSVMObjective

    X, y = make_problem(n=60, d=4, k=3, seed=2, noise=1.0)
    return MulticlassSVMObjective(X, y.astype(np.int64), np.ones(60), 3, C=C,
                                  loss="hinge", margin=1.0,
                                  fit_intercept=fit_intercept, n_threads=1)
