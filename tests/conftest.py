"""Small shared data sets (fixtures). All tiny: numba compilation dominates."""

import pytest
import scipy.sparse as sp

# The data builders live in _helpers; they are importable from here too.
from _helpers import make_problem, random_weights  # noqa: F401


@pytest.fixture
def multiclass_data():
    """n=40, d=5, k=4, uncentred."""
    return make_problem(n=40, d=5, k=4, seed=0)


@pytest.fixture
def binary_data():
    """n=40, d=4, k=2, uncentred."""
    return make_problem(n=40, d=4, k=2, seed=1)


@pytest.fixture
def sparse_multiclass_data():
    """CSR version (about half zeros) of a k=3 problem, and its dense twin."""
    X, y = make_problem(n=40, d=6, k=3, seed=2, sparsity=0.5)
    return sp.csr_matrix(X), X, y


@pytest.fixture(scope="session")
def iris_data():
    from sklearn.datasets import load_iris
    return load_iris(return_X_y=True)


# Known shortfalls, measured and tracked; each stays visible as an xfail (not strict,
# so a fix shows up as XPASS) until the solver improves.
KNOWN_SHORTFALLS = {}


def pytest_collection_modifyitems(config, items):
    import pytest

    for item in items:
        for prefix, reason in KNOWN_SHORTFALLS.items():
            if item.name.startswith(prefix):
                item.add_marker(pytest.mark.xfail(reason=reason, strict=False))
