"""The solver protocol as users and contributors meet it: solver options, the
convergence record, certificates at many classes, and the one-way imports."""

import ast
import pathlib
import warnings

import numpy as np
import pytest
from sklearn.exceptions import ConvergenceWarning

import sksvm
from sksvm import LinearMulticlassSVM
from sksvm._solvers import SOLVERS, solver_options

from conftest import make_problem

# Lower layers first; a module may import private names only from its own layer
# or those before it.
LAYERS = [
    {"_losses", "_validation", "_threads", "_defaults"},
    {"_kernels", "_dual_kernels", "_newton_kernels"},
    {"_certificate"},
    {"_objective"},
    {"_solvers"},
    {"_dask", "_estimator", "_loss_gradient"},
    {"_cv"},
    {"_io", "_bench", "cli", "__main__", "__init__"},
]


ROOT = pathlib.Path(sksvm.__file__).parent


def _layer(module):
    top = module.split(".")[0]
    if not ((ROOT / f"{top}.py").exists() or (ROOT / top).is_dir()):
        top = "__init__"  # a name the package itself exports, e.g. __version__
    for index, names in enumerate(LAYERS):
        if top in names:
            return index
    raise AssertionError(f"module {module!r} is in no layer")


def _package_modules():
    for path in sorted(ROOT.rglob("*.py")):
        relative = path.relative_to(ROOT).with_suffix("")
        parts = relative.parts
        yield ".".join(parts), path


def test_imports_go_down_only():
    """No module imports from a module above it (estimator → objective → solver →
    kernels)."""
    violations = []
    for module, path in _package_modules():
        importer = _layer(module)
        package_parts = module.split(".")[:-1]
        for node in ast.walk(ast.parse(path.read_text())):
            if not isinstance(node, ast.ImportFrom) or node.level == 0:
                continue
            base = package_parts[:len(package_parts) - (node.level - 1)]
            targets = ([".".join(base + [node.module])] if node.module
                       else [".".join(base + [alias.name]) for alias in node.names])
            for target in targets:
                if not target or target.startswith("_solvers") and module.startswith(
                        "_solvers"):
                    continue
                if _layer(target) > importer:
                    violations.append(f"{module} imports {target}")
    assert violations == []


def test_every_solver_follows_the_protocol():
    import inspect

    for name, module in SOLVERS.items():
        parameters = inspect.signature(module.solve).parameters
        assert list(parameters)[:2] == ["objective", "start"], name
        for keyword in ("tol", "max_iter", "random_state", "verbose"):
            assert parameters[keyword].kind is inspect.Parameter.KEYWORD_ONLY, name
        assert isinstance(module.REQUIRES, tuple), name


def test_solver_options_reach_the_solver():
    X, y = make_problem(n=60, d=4, k=3, seed=4)
    default = LinearMulticlassSVM(C=1e-2, solver="lbfgs", n_threads=1).fit(X, y)
    short = LinearMulticlassSVM(C=1e-2, solver="lbfgs", n_threads=1,
                                solver_options={"memory": 1}).fit(X, y)
    # One correction pair instead of 30: another path to the same optimum.
    assert short.n_iter_ != default.n_iter_
    assert abs(short.objective(X, y) - default.objective(X, y)) <= (
        2e-3 * default.objective(X, y))
    unshrunk = LinearMulticlassSVM(C=1e-2, solver="dual_cd", tol=1e-8, n_threads=1,
                                   random_state=0, solver_options={"shrinking": False})
    shrunk = LinearMulticlassSVM(C=1e-2, solver="dual_cd", tol=1e-8, n_threads=1,
                                 random_state=0)
    np.testing.assert_allclose(unshrunk.fit(X, y).coef_, shrunk.fit(X, y).coef_,
                               rtol=1e-5, atol=1e-7)


@pytest.mark.parametrize("solver, options", [
    ("lbfgs", {"shrinking": False}),
    ("dual_cd", {"memory": 5}),
    ("subgradient", {"batch_size": 4}),
    ("auto", {"no_such_option": 1}),
])
def test_unknown_solver_option_is_refused(solver, options):
    X, y = make_problem(n=30, d=3, k=3, seed=5)
    with pytest.raises(ValueError, match="solver_options|batch_size"):
        LinearMulticlassSVM(solver=solver, solver_options=options,
                            n_threads=1).fit(X, y)


def test_documented_solver_options_exist():
    documented = LinearMulticlassSVM.__doc__
    for name in SOLVERS:
        for option in solver_options(name):
            if option != "batch_size":
                assert f"``{option}``" in documented, (name, option)


@pytest.mark.parametrize("solver", ["lbfgs", "dual_cd", "subgradient"])
def test_history_is_the_convergence_record(solver):
    X, y = make_problem(n=60, d=4, k=3, seed=6)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        est = LinearMulticlassSVM(C=1e-2, solver=solver, max_iter=200,
                                  random_state=0, n_threads=1).fit(X, y)
    history = est.history_
    assert len(history) >= 1
    assert set(history[0]) == {"iteration", "n_evaluations", "time", "objective",
                               "gap", "smoothing"}
    times = [record["time"] for record in history]
    assert times == sorted(times)
    # The recorded objectives are objectives of points the solver visited: none is
    # below the optimum that the certified gap brackets.
    final = est.objective(X, y)
    lower = final * (1 - est.duality_gap_)
    assert min(record["objective"] for record in history) >= lower * (1 - 1e-9)
    assert est.n_iter_ == (history[-1]["iteration"] if solver != "lbfgs"
                           else est.n_iter_)


def test_certificate_with_300_classes_and_an_intercept():
    """The intercept's dual repair has no class limit: a finite certificate that
    holds against another solver's objective."""
    rng = np.random.RandomState(0)
    k, n, d = 300, 1500, 12
    y = np.arange(n) % k
    X = rng.randn(k, d)[y] + 0.5 * rng.randn(n, d)
    est = LinearMulticlassSVM(C=1e-1, solver="lbfgs", max_iter=30, n_threads=1)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        est.fit(X, y)
    assert np.isfinite(est.duality_gap_) and est.duality_gap_ >= 0
    value = est.objective(X, y)
    lower_bound = value * (1 - est.duality_gap_)
    better = LinearMulticlassSVM(C=1e-1, solver="dual_cd", tol=1e-4, n_threads=1,
                                 random_state=0).fit(X, y)
    assert lower_bound <= better.objective(X, y) * (1 + 1e-12)


def test_import_loads_neither_numba_nor_sklearn():
    """``import sksvm`` is cheap: the estimator (and with it numba and
    scikit-learn) loads on first use of a public name."""
    import subprocess
    import sys

    code = ("import sys, sksvm; "
            "print(sorted({m.split('.')[0] for m in sys.modules} & "
            "{'numba', 'sklearn', 'scipy'}))")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True,
                            text=True, timeout=120, check=True)
    assert result.stdout.strip() == "[]"
    code = "import sys, sksvm; sksvm.LinearMulticlassSVM; print('numba' in sys.modules)"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True,
                            text=True, timeout=120, check=True)
    assert result.stdout.strip() == "True"
